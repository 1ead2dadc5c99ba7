//! The recorder task: stores what assembly hands over, numbers revisions, and lets the journal
//! drop what is stored.
//!
//! Each group of updates waiting is stored in ONE transaction with its outbox entries (which sink
//! wants which update is for the [`Deliveries`] to say: the forwarder, whose loops are woken once
//! the group is stored), then the finished call logs are announced to subscribers (the demo,
//! `WatchCalls`), then the calls assembly released once everything before their release is
//! stored go to the journal to be forgotten (on a task of its own: the recorder does not wait
//! for the journal's lock). (On a
//! store shared by a fleet, the call logs other receivers stored reach the same subscribers
//! through [`super::relay`]; the recorder announces this receiver's own.) A store
//! failure is retried with backoff: an update is never dropped.
//!
//! **Revisions are numbered here, and only here**, per call (call id and trace id: a revision
//! is only ever a later view of the same trace), from what the store holds: a call log that
//! says nothing new against the latest stored revision (the same call built again from the
//! journal after a restart, or from spans an exporter sent twice) is dropped, so sinks never get
//! a revision that repeats the last one; any other continues from the latest stored revision, so
//! revisions have no gaps. Live events (call started, turn completed) of a call whose call log is
//! stored already are dropped for the same reason.
//!
//! **Recordings are attached here too**, for the same reason: every call log stored carries
//! its call's recording (`recording`), from the recordings' rows; an upload waiting for its call
//! is attached when the call's log is stored, and an upload whose call is stored already (the
//! recordings announce each one kept) makes a new revision of the call's log with its
//! `recording`, which the sinks receive like any revision.

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use super::{now_ms, CallNames, Enqueue, Store, StoreError};
use crate::receiver::calllog::{CallLog, CallUpdate};
use crate::receiver::journal::{Position, Segments};
use crate::receiver::metrics::ReceiverMetrics;
use crate::receiver::recordings;
use crate::receiver::span::TraceId;

/// Updates stored in one transaction at most: one commit per burst, with a bound on how long
/// the first update of a burst waits for the commit.
const RECORD_GROUP: usize = 256;
/// First wait after a failed transaction; doubles up to [`MAX_RETRY_WAIT`].
const FIRST_RETRY_WAIT: Duration = Duration::from_millis(100);
/// Releases waiting for the journal to forget them, at most (each a group's): past it the
/// recorder waits, so a journal that cannot keep up slows storing rather than growing a queue.
const FORGET_QUEUE: usize = 64;
/// Longest wait between attempts to store a group: the store is local, an error is a full disk
/// or a lock held too long, not worth hammering.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(5);

/// What assembly hands to the recorder, in order.
#[derive(Debug)]
// Updates are the bulk of what goes through: boxing them would cost an allocation each to make
// the rare `Release` smaller.
#[allow(clippy::large_enum_variant)]
pub enum Record {
    /// A call update to store (and forward).
    Update(CallUpdate),
    /// Calls assembly let go: once everything before this is stored, the journal forgets their
    /// entries up to the position given (entries after it hold spans assembly had not seen yet).
    Release(Vec<(TraceId, Position)>),
}

/// Who delivers what the store holds: the outbox entries an update needs, and a wake-up once
/// they are stored. The forwarder implements it; the store knows sinks only through it.
pub trait Deliveries: Send + Sync + 'static {
    /// The outbox entries of an update: one per (sink, event) that wants it; none when no sink
    /// does.
    fn entries_for(&self, update: &CallUpdate) -> Vec<Enqueue>;
    /// These entries are stored: the sinks they name have work.
    fn stored(&self, entries: &[Enqueue]);
}

/// What the recorder works with.
pub struct Recorder {
    /// Where call logs and outbox entries are stored.
    pub store: Store,
    /// Which sinks want what (and waking them).
    pub deliveries: Arc<dyn Deliveries>,
    /// The journal whose entries released calls own; `None` without a journal.
    pub journal: Option<Segments>,
    /// Finished call logs, once stored.
    pub finished: broadcast::Sender<Arc<CallLog>>,
    /// The receiver's metrics.
    pub metrics: ReceiverMetrics,
    /// Notified when a stored call log carries a recording (the recordings' bounds are applied
    /// again: a newer recording may replace an older).
    pub recordings_attached: Arc<tokio::sync::Notify>,
}

/// Runs until assembly's side of `records` closes. `kept` names the recordings kept since
/// (their ids); the ones kept before the start are looked at first.
pub async fn run(
    mut records: mpsc::Receiver<Record>,
    mut kept: mpsc::Receiver<String>,
    recorder: Recorder,
) {
    // Without a journal there is nothing to forget (and assembly releases nothing).
    let (forget, forgetter) = match recorder.journal.clone() {
        Some(journal) => {
            let (forget, releases) = mpsc::channel(FORGET_QUEUE);
            let forgetter = tokio::spawn(forget_released(journal, releases));
            (Some(forget), Some(forgetter))
        }
        None => (None, None),
    };
    if recorder.attach(None).await {
        record(&mut records, &mut kept, &recorder, &forget).await;
    }
    drop(forget);
    if let Some(forgetter) = forgetter {
        let _ = forgetter.await;
    }
}

/// The recorder's loop, until assembly's side closes (or the blocking pool is gone).
async fn record(
    records: &mut mpsc::Receiver<Record>,
    kept: &mut mpsc::Receiver<String>,
    recorder: &Recorder,
    forget: &Option<mpsc::Sender<Vec<(TraceId, Position)>>>,
) {
    loop {
        tokio::select! {
            biased;
            first = records.recv() => {
                let Some(first) = first else { return };
                let (group, released) = take_group(first, records);
                let Some(group) = recorder.store(group).await else {
                    return;
                };
                recorder.announce(group);
                if let (Some(forget), false) = (forget, released.is_empty()) {
                    if forget.send(released).await.is_err() {
                        return;
                    }
                }
            }
            Some(id) = kept.recv() => {
                if !recorder.attach(Some(id)).await {
                    return;
                }
            }
        }
    }
}

/// Lets the journal forget the entries of released calls (their updates are stored), and
/// delete the segments left with none; releases waiting meanwhile are forgotten together.
///
/// On a task of its own: forgetting takes the journal's lock, which the journal's writer
/// holds while it syncs a group (milliseconds to tens of them), and the recorder's next group
/// (the next call logs' latency) would wait behind every sync.
async fn forget_released(
    journal: Segments,
    mut releases: mpsc::Receiver<Vec<(TraceId, Position)>>,
) {
    while let Some(mut released) = releases.recv().await {
        while let Ok(more) = releases.try_recv() {
            released.extend(more);
        }
        let journal = journal.clone();
        let trimmed = tokio::task::spawn_blocking(move || journal.forget_upto(&released)).await;
        // A failure only leaves a segment behind: a replay would build those calls again and
        // find their call logs stored already.
        if let Ok(Err(e)) = trimmed {
            tracing::warn!(error = %e, "cannot trim the span journal");
        }
    }
}

/// Everything waiting (up to [`RECORD_GROUP`] updates), split into updates and releases.
/// Releases wait until the updates received before them are stored.
fn take_group(
    first: Record,
    records: &mut mpsc::Receiver<Record>,
) -> (Vec<CallUpdate>, Vec<(TraceId, Position)>) {
    let mut group = Vec::new();
    let mut released = Vec::new();
    let mut next = Some(first);
    while let Some(record) = next.take() {
        match record {
            Record::Update(update) => group.push(update),
            Record::Release(calls) => released.extend(calls),
        }
        if group.len() < RECORD_GROUP {
            next = records.try_recv().ok();
        }
    }
    (group, released)
}

impl Recorder {
    /// Stores a group, retrying until it is stored; `None` if the blocking pool is gone.
    async fn store(&self, mut group: Vec<CallUpdate>) -> Option<Vec<CallUpdate>> {
        let mut wait = FIRST_RETRY_WAIT;
        loop {
            let (store, deliveries) = (self.store.clone(), self.deliveries.clone());
            let stored = tokio::task::spawn_blocking(move || {
                let result = record_group(&store, &*deliveries, &mut group);
                (group, result)
            })
            .await;
            match stored {
                Ok((done, Ok(()))) => return Some(done),
                Ok((again, Err(e))) => {
                    tracing::error!(error = %e, updates = again.len(), "cannot store call updates, retrying");
                    group = again;
                }
                Err(e) => {
                    tracing::error!(error = %e, "store task failed");
                    return None;
                }
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(MAX_RETRY_WAIT);
        }
    }

    /// Attaches a kept recording (`None`: every pending one) to its call if that call is
    /// stored, and stores the call's log again with it (a new revision). `false` if the
    /// blocking pool is gone.
    async fn attach(&self, id: Option<String>) -> bool {
        let store = self.store.clone();
        let revised =
            tokio::task::spawn_blocking(move || revisions_for(&store, id.as_deref())).await;
        let group = match revised {
            Ok(Ok(group)) => group,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "cannot attach a recording to its call");
                return true;
            }
            Err(_) => return false,
        };
        if group.is_empty() {
            return true;
        }
        let Some(group) = self.store(group).await else {
            return false;
        };
        self.announce(group);
        true
    }

    /// Counts and broadcasts the finished call logs of a stored group.
    fn announce(&self, group: Vec<CallUpdate>) {
        for update in group {
            if let CallUpdate::Finished(log) = update {
                if log.recording.is_some() {
                    self.recordings_attached.notify_one();
                }
                self.metrics.call_finished(&log);
                tracing::debug!(
                    call_id = %log.id, trace_id = %log.trace_id, revision = log.revision,
                    status = log.status.as_str(), turns = log.turns.len(), "call log stored"
                );
                let _ = self.finished.send(Arc::from(log));
            }
        }
    }
}

/// What names a call: its call id and its trace id (two traces sharing a call id are two calls,
/// each with its own revisions).
type CallKey = (String, String);

fn key(update: &CallUpdate) -> CallKey {
    (update.call_id().to_string(), update.trace_id().to_string())
}

/// The latest revision of a call as of the group being stored.
enum Latest {
    /// Stored, with its JSON.
    Stored(u32, String),
    /// An earlier update of this group (its index; serialised only if the call comes again in
    /// the group, which is rare: most call logs are a call's first and need no comparison).
    InGroup(u32, usize),
}

/// The call logs to store again because a recording was attached to their (stored) call: of
/// recording `id`, or of every pending one.
fn revisions_for(store: &Store, id: Option<&str>) -> Result<Vec<CallUpdate>, StoreError> {
    let rows = match id {
        Some(id) => store.recording(id)?.into_iter().collect(),
        None => store.pending_recordings()?,
    };
    let mut group: Vec<CallUpdate> = Vec::new();
    for row in rows.iter().filter(|r| r.call_id.is_none()) {
        let Some((call_id, trace_id)) = store.call_for_recording(row)? else {
            continue;
        };
        if !store.attach_recording(&row.id, &call_id, &trace_id, now_ms())? {
            continue;
        }
        let already = group
            .iter()
            .any(|u| u.call_id() == call_id && u.trace_id() == trace_id);
        if let (false, Some(log)) = (already, store.latest_call(&call_id, Some(&trace_id))?) {
            group.push(CallUpdate::Finished(Box::new(log)));
        }
    }
    Ok(group)
}

/// Gives a call log its call's recording, attaching the uploads that wait for this call first.
fn fill_recording(store: &Store, log: &mut CallLog) -> Result<(), StoreError> {
    if let Some(livekit) = &log.livekit {
        store.note_livekit_call(&log.id, &log.trace_id, livekit)?;
    }
    let names = CallNames {
        call_id: &log.id,
        trace_id: &log.trace_id,
        livekit: log.livekit.as_ref(),
    };
    for pending in store.pending_for_call(names)? {
        store.attach_recording(&pending.id, &log.id, &log.trace_id, now_ms())?;
    }
    log.recording = store
        .call_recording(&log.id, &log.trace_id)?
        .and_then(|row| recordings::describe(&row, log));
    Ok(())
}

/// Numbers the group's call logs, drops what repeats the store, and stores the rest with their
/// outbox entries in one transaction (blocking); then wakes the sinks.
fn record_group(
    store: &Store,
    deliveries: &dyn Deliveries,
    group: &mut Vec<CallUpdate>,
) -> Result<(), StoreError> {
    let mut latest: HashMap<CallKey, Latest> = HashMap::new();
    let mut entries: Vec<Vec<Enqueue>> = Vec::with_capacity(group.len());
    let mut keep = vec![true; group.len()];
    for i in 0..group.len() {
        if let CallUpdate::Finished(log) = &mut group[i] {
            fill_recording(store, log)?;
        }
        entries.push(deliveries.entries_for(&group[i]));
        keep[i] = match &group[i] {
            CallUpdate::Finished(_) => !number(store, group, i, &mut latest)?,
            live => !entries[i].is_empty() && !live_is_stale(store, live, &latest)?,
        };
    }
    let kept: Vec<(&CallUpdate, &[Enqueue])> = group
        .iter()
        .zip(&entries)
        .zip(&keep)
        .filter(|(_, keep)| **keep)
        .map(|((update, entries), _)| (update, entries.as_slice()))
        .collect();
    if !kept.is_empty() {
        store.store_updates(&kept, now_ms())?;
    }
    let woken: Vec<Enqueue> = kept.iter().flat_map(|(_, e)| e.iter().cloned()).collect();
    deliveries.stored(&woken);
    let mut keep = keep.into_iter();
    group.retain(|_| keep.next().unwrap_or(false));
    Ok(())
}

/// A live event (call started, turn completed) of a call whose call log is out already comes
/// from that call being held again after a restart: not news.
fn live_is_stale(
    store: &Store,
    update: &CallUpdate,
    latest: &HashMap<CallKey, Latest>,
) -> Result<bool, StoreError> {
    Ok(latest.contains_key(&key(update))
        || store
            .latest_revision(update.call_id(), update.trace_id())?
            .is_some())
}

/// Gives the call log at `i` its revision; `true` when it repeats the latest one (dropped).
fn number(
    store: &Store,
    group: &mut [CallUpdate],
    i: usize,
    latest: &mut HashMap<CallKey, Latest>,
) -> Result<bool, StoreError> {
    if !matches!(group[i], CallUpdate::Finished(_)) {
        return Ok(false);
    }
    let id = key(&group[i]);
    let previous = match latest.remove(&id) {
        Some(Latest::InGroup(revision, j)) => match &group[j] {
            CallUpdate::Finished(earlier) => Some((revision, serde_json::to_string(earlier)?)),
            _ => None,
        },
        Some(Latest::Stored(revision, body)) => Some((revision, body)),
        None => store.latest_call_body(&id.0, &id.1)?,
    };
    let CallUpdate::Finished(log) = &mut group[i] else {
        return Ok(false);
    };
    let Some((revision, stored)) = previous else {
        log.revision = 1;
        latest.insert(id, Latest::InGroup(1, i));
        return Ok(false);
    };
    log.revision = revision;
    if serde_json::to_string(log)? == stored {
        latest.insert(id, Latest::Stored(revision, stored));
        return Ok(true);
    }
    log.revision = revision + 1;
    latest.insert(id, Latest::InGroup(revision + 1, i));
    Ok(false)
}
