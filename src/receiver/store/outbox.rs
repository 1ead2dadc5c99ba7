//! The outbox's plain types, shared by every backend: what an update enqueues ([`Enqueue`]),
//! what a claimed entry delivers ([`OutboxEntry`], [`Payload`]), how an attempt ended
//! ([`Settle`]), and what the API shows of it ([`DeadLetter`], [`SinkStats`]).
//!
//! An entry is one request to one sink (one call log revision, or one webhook event). Its life:
//! enqueued with its call log ([`Store::store_update`]) → claimed by a delivery loop
//! ([`Store::claim_due`]) → settled ([`Store::settle_all`], many attempts in one transaction):
//! delivered (the row leaves the outbox and the sink's `delivered` count grows), or scheduled
//! again, or parked as a dead letter with the status and reason until [`Store::retry_dead`].
//!
//! Order: an entry is due only when no earlier live (not dead) entry of the same call and sink
//! remains, so the revisions and events of one call reach a sink in the order they were stored.

use std::borrow::Cow;
use std::sync::Arc;

#[cfg(doc)]
use super::Store;
use crate::receiver::calllog::{CallLog, CallUpdate};

/// The revision recorded for live events (`Started`, `TurnCompleted`): they come before the
/// first call log of their call.
pub const LIVE_REVISION: u32 = 0;

/// Dead-letter reasons and response texts are cut at this many bytes: enough for any error
/// message an API sends, small enough that a misbehaving endpoint cannot bloat the store.
pub(super) const MAX_REASON_BYTES: usize = 2048;

/// One outbox entry to create with an update: for this sink, this event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueue {
    /// The sink's name.
    pub sink: String,
    /// What the sink will send, in the sink's own words (`call_log`, `call_completed`, ...).
    pub event: String,
}

/// What an outbox entry delivers.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// A live event (`Started`, `TurnCompleted`; boxed: a turn is large).
    Live(Box<CallUpdate>),
    /// A call log revision as stored: its canonical JSON, encoded once when it was stored and
    /// read back as is (the bytes the API serves). Sinks that send it verbatim (jsonl, http)
    /// never decode it; the others decode it ([`Payload::update`]) and encode their own body.
    CallLog(Arc<str>),
}

impl Payload {
    /// The stored call log JSON, for a call log entry.
    pub fn call_log_json(&self) -> Option<&str> {
        match self {
            Payload::CallLog(json) => Some(json),
            Payload::Live(_) => None,
        }
    }

    /// The update, typed: a call log entry is decoded from its stored JSON.
    pub fn update(&self) -> Result<Cow<'_, CallUpdate>, serde_json::Error> {
        match self {
            Payload::Live(update) => Ok(Cow::Borrowed(update.as_ref())),
            Payload::CallLog(json) => serde_json::from_str::<CallLog>(json)
                .map(|log| Cow::Owned(CallUpdate::Finished(Box::new(log)))),
        }
    }
}

/// A claimed outbox entry, with what it delivers.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Its row id (increasing in enqueue order).
    pub id: i64,
    /// The sink it is for.
    pub sink: String,
    /// The call.
    pub call_id: String,
    /// The call's trace id (hex).
    pub trace_id: String,
    /// The call log revision; [`LIVE_REVISION`] for live events.
    pub revision: u32,
    /// The event, as given at enqueue.
    pub event: String,
    /// What to deliver (a call log is its stored JSON, read back from the store).
    pub payload: Payload,
    /// Failed attempts so far.
    pub attempts: u32,
    /// When it was first enqueued, Unix ms (stable across retries: event timestamps use it).
    pub created_ms: i64,
    /// When it was (re-)queued, Unix ms: the maximum age counts from here.
    pub enqueued_ms: i64,
}

/// A parked entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Its row id.
    pub id: i64,
    /// The sink.
    pub sink: String,
    /// The call.
    pub call_id: String,
    /// The call log revision ([`LIVE_REVISION`] for live events).
    pub revision: u32,
    /// The event.
    pub event: String,
    /// Attempts made.
    pub attempts: u32,
    /// The last HTTP status, if the endpoint answered.
    pub status: Option<u16>,
    /// Why it was parked (the response text, or what went wrong).
    pub reason: String,
}

/// Delivery counts of one sink.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SinkStats {
    /// The sink's name.
    pub name: String,
    /// Its kind (`cekura`, `webhook`, `http`, `jsonl`).
    pub kind: String,
    /// Entries delivered since the store was created.
    pub delivered: u64,
    /// Entries waiting for their first attempt.
    pub pending: u64,
    /// Entries that failed at least once and will be tried again.
    pub retrying: u64,
    /// Entries parked as dead letters.
    pub dead: u64,
}

/// What becomes of a claimed entry after an attempt (see [`Store::settle_all`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// It was delivered: it leaves the outbox.
    Delivered,
    /// Try again at this Unix ms.
    Retry {
        /// When.
        at_ms: i64,
        /// The HTTP status, if any.
        status: Option<u16>,
        /// Why it failed.
        reason: String,
    },
    /// Park it as a dead letter.
    Dead {
        /// The HTTP status, if any.
        status: Option<u16>,
        /// Why.
        reason: String,
    },
}

pub(super) fn cut(text: &str) -> String {
    if text.len() <= MAX_REASON_BYTES {
        return text.to_string();
    }
    let mut end = MAX_REASON_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}
