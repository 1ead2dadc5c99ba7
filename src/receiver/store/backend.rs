//! The store's interface, [`Backend`]: every read and write the receiver makes of its store,
//! in plain types (no SQL, no driver type crosses it). Two backends implement it: SQLite
//! (`sqlite`, embedded, the default) and PostgreSQL (`postgres`, shared by a fleet of
//! receivers). [`super::Store`] is the handle the rest of the receiver holds; its methods are
//! these, forwarded to whichever backend it opened.
//!
//! The methods are listed once, in [`for_each_method!`]: that list declares the trait, the
//! `Store` methods, and each backend's implementation (which forwards to the backend's own
//! methods of the same name, kept beside their SQL by role: calls, outbox, console,
//! recordings). Every method blocks (async callers run them on the blocking pool) but
//! `subscribe_stored`, which only hands out a subscription.

use super::recordings::{CallNames, RecordingRow};
use super::relay::StoredCall;
use super::{DeadLetter, Enqueue, OutboxEntry, Settle, SinkStats, StoreError};
use crate::receiver::calllog::{CallLog, CallPage, CallQuery, CallUpdate, LiveKitJob, SameIdCall};
use crate::receiver::query::{CallRowPage, Delivery, DeploymentRow, Fleet, FleetQuery};

/// Calls `$then!` with the list of the store's methods (doc, name, arguments, result).
macro_rules! for_each_method {
    ($then:ident $(, $extra:tt)*) => {
        $then! { [$($extra)*]
            /// The schema version (the number of migrations applied).
            fn schema_version(&self) -> Result<i64, StoreError>;

            /// Records updates and enqueues each for its sinks, in ONE transaction, in order.
            /// A `Finished` update stores its call log by (call id, trace id, revision); its
            /// entries point at it. Storing the very same revision again is a no-op (nothing is
            /// enqueued twice). Live updates are kept in their outbox entries only. Returns the
            /// entries enqueued.
            fn store_updates(&self, updates: &[(&CallUpdate, &[Enqueue])], now_ms: i64) -> Result<usize, StoreError>;
            /// Makes the sinks known (name, kind), so `sink_stats` lists them before their first
            /// delivery.
            fn register_sinks(&self, sinks: &[(&str, &str)]) -> Result<(), StoreError>;
            /// Makes the entries this receiver had claimed before it stopped due again (at the
            /// forwarder's start: what was in flight is sent again, at least once).
            fn release_in_flight(&self, sink: &str, now_ms: i64) -> Result<usize, StoreError>;
            /// Puts claimed entries back, due at `now_ms` (abandoned at shutdown). Entries
            /// already settled are left alone.
            fn release(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError>;
            /// Claims up to `limit` entries of `sink` due at `now_ms` and not held back by an
            /// earlier entry of the same call, oldest first; they are in flight until settled.
            fn claim_due(&self, sink: &str, now_ms: i64, limit: usize) -> Result<Vec<OutboxEntry>, StoreError>;
            /// When the next entry of `sink` that is neither in flight nor held back falls due
            /// (Unix ms), if any.
            fn next_due_ms(&self, sink: &str) -> Result<Option<i64>, StoreError>;
            /// Records the outcomes of many attempts in ONE transaction: delivered entries leave
            /// the outbox (their sinks' `delivered` counts grow, the call's delivery state
            /// records the revision), retried ones are due again at their time, dead ones are
            /// parked.
            fn settle_all(&self, outcomes: &[(i64, Settle)]) -> Result<(), StoreError>;
            /// A sink's dead letters, oldest first.
            fn dead_letters(&self, sink: &str) -> Result<Vec<DeadLetter>, StoreError>;
            /// Every known sink's delivery counts, by name.
            fn sink_stats(&self) -> Result<Vec<SinkStats>, StoreError>;
            /// Makes a sink's dead letters due again now; returns how many.
            fn retry_dead(&self, sink: &str) -> Result<usize, StoreError>;
            /// Entries neither delivered nor dead, over all sinks.
            fn outbox_depth(&self) -> Result<u64, StoreError>;

            /// The latest revision of a call's log: of the call of `trace_id` when given, else
            /// of the most recent call with this id (by start time).
            fn latest_call(&self, call_id: &str, trace_id: Option<&str>) -> Result<Option<CallLog>, StoreError>;
            /// Every call stored under this call id (two traces may share one), newest first.
            fn same_id_calls(&self, call_id: &str) -> Result<Vec<SameIdCall>, StoreError>;
            /// The latest revision of a call and its stored JSON, as stored.
            fn latest_call_body(&self, call_id: &str, trace_id: &str) -> Result<Option<(u32, String)>, StoreError>;
            /// The latest revision number of a call.
            fn latest_revision(&self, call_id: &str, trace_id: &str) -> Result<Option<u32>, StoreError>;
            /// One revision of a call's log.
            fn call_revision(&self, call_id: &str, trace_id: &str, revision: u32) -> Result<Option<CallLog>, StoreError>;
            /// The revision numbers stored under a call id, in order.
            fn revisions(&self, call_id: &str) -> Result<Vec<u32>, StoreError>;
            /// A page of calls, newest first (by start time, then call id), latest revision of
            /// each, filtered as `q` says. `q.limit` 0 means 20; at most 1000.
            fn list_calls(&self, q: &CallQuery) -> Result<CallPage, StoreError>;

            /// A page of the console's list rows, filtered and paged like `list_calls`.
            fn call_rows(&self, q: &CallQuery) -> Result<CallRowPage, StoreError>;
            /// A call's delivery state with every known sink, by sink name.
            fn deliveries(&self, call_id: &str, trace_id: &str) -> Result<Vec<Delivery>, StoreError>;
            /// The fleet's aggregates over a window.
            fn fleet(&self, q: &FleetQuery) -> Result<Fleet, StoreError>;
            /// The deployments seen, most recently active first (at most `limit`).
            fn deployments(&self, limit: usize) -> Result<Vec<DeploymentRow>, StoreError>;
            /// The agents seen, by name.
            fn agents(&self) -> Result<Vec<String>, StoreError>;

            /// Records an upload's row (and its LiveKit chat history, if any).
            fn insert_recording(&self, row: &RecordingRow, chat_history: Option<&str>) -> Result<(), StoreError>;
            /// One recording's row.
            fn recording(&self, id: &str) -> Result<Option<RecordingRow>, StoreError>;
            /// A call's recording: its latest attached upload with audio.
            fn call_recording(&self, call_id: &str, trace_id: &str) -> Result<Option<RecordingRow>, StoreError>;
            /// A call's LiveKit chat history, from its latest upload that had one.
            fn chat_history(&self, call_id: &str, trace_id: &str) -> Result<Option<String>, StoreError>;
            /// Uploads waiting for their call, oldest first.
            fn pending_recordings(&self) -> Result<Vec<RecordingRow>, StoreError>;
            /// Uploads waiting for this call.
            fn pending_for_call(&self, call: CallNames<'_>) -> Result<Vec<RecordingRow>, StoreError>;
            /// The stored call an upload names, if it is stored: (call id, trace id).
            fn call_for_recording(&self, recording: &RecordingRow) -> Result<Option<(String, String)>, StoreError>;
            /// Attaches a pending upload to a call; false when it was attached or gone already.
            fn attach_recording(&self, id: &str, call_id: &str, trace_id: &str, now_ms: i64) -> Result<bool, StoreError>;
            /// Remembers a stored call's LiveKit room and job (what LiveKit uploads name).
            fn note_livekit_call(&self, call_id: &str, trace_id: &str, livekit: &LiveKitJob) -> Result<(), StoreError>;
            /// The bytes of every kept recording's audio.
            fn recordings_bytes(&self) -> Result<u64, StoreError>;
            /// Uploads still pending that were received before `before_ms`.
            fn orphaned_recordings(&self, before_ms: i64) -> Result<Vec<RecordingRow>, StoreError>;
            /// Recordings with audio received before `before_ms`, oldest first.
            fn kept_recordings_before(&self, before_ms: i64) -> Result<Vec<RecordingRow>, StoreError>;
            /// Attached recordings with audio that a newer upload of their call replaced.
            fn replaced_recordings(&self) -> Result<Vec<RecordingRow>, StoreError>;
            /// Records that a recording's audio is gone, and why; false when it was gone already
            /// (another receiver of a fleet removed it first).
            fn remove_recording_audio(&self, id: &str, reason: &str) -> Result<bool, StoreError>;
            /// Deletes a pending upload's row; false when it was not pending.
            fn delete_pending_recording(&self, id: &str) -> Result<bool, StoreError>;
            /// The ids of every recording whose audio is kept.
            fn kept_recording_ids(&self) -> Result<Vec<String>, StoreError>;

            /// The call log revisions OTHER receivers store from now on, each once, in the order
            /// they were committed (a subscriber that falls behind skips some, and is told how
            /// many); `None` when the store is this receiver's alone (SQLite). Does not block.
            fn subscribe_stored(&self) -> Option<tokio::sync::broadcast::Receiver<StoredCall>>;
        }
    };
}

/// Declares the trait from the list.
macro_rules! declare_trait {
    ([] $( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        /// What a store backend does (see the module's doc). Object-safe: the store holds one
        /// as `dyn Backend`.
        pub trait Backend: Send + Sync + 'static {
            $( $(#[$doc])* fn $name(&self $(, $arg: $ty)*) -> $ret; )*
        }
    };
}
for_each_method!(declare_trait);

/// Implements [`Backend`] for a backend type by forwarding each method to the type's own
/// method of that name.
macro_rules! forward_to_inherent {
    ([$backend:ty] $( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl Backend for $backend {
            $( fn $name(&self $(, $arg: $ty)*) -> $ret { <$backend>::$name(self $(, $arg)*) } )*
        }
    };
}
pub(super) use forward_to_inherent;

/// The [`super::Store`] methods, each forwarded to the backend the store opened.
macro_rules! store_methods {
    ([] $( $(#[$doc:meta])* fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty; )*) => {
        impl super::Store {
            $( $(#[$doc])* pub fn $name(&self $(, $arg: $ty)*) -> $ret { self.backend.$name($($arg),*) } )*
        }
    };
}
for_each_method!(store_methods);
pub(super) use for_each_method;
