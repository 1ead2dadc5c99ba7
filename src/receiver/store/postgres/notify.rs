//! Live updates across the fleet: every transaction that stores a call log revision also sends
//! a `NOTIFY` on [`CHANNEL`] (delivered by PostgreSQL at commit, never for a transaction rolled
//! back), and each receiver's listener ([`Listener`]) hears them on a connection of its own (not
//! from the pool: a `LISTEN` belongs to its session) and hands the revisions OTHER receivers
//! stored to its subscribers (`Store::subscribe_stored`, read by the relay onto the receiver's
//! live broadcast).
//!
//! The payload names the revision and the receiver that stored it ([`payload`]), never the
//! body: PostgreSQL refuses payloads of 8000 bytes or more, and a call id long enough to pass
//! that is left out (the listener then finds the call by trace id and revision).
//!
//! A dropped connection (the database restarted, the network failed, the session was
//! terminated; a heartbeat finds a silent one) is made again with backoff, and what was
//! committed while no one listened is caught up: the revisions stored since the connection was
//! last known alive, less a margin ([`CATCH_UP_MARGIN_MS`]), read from `call_logs`. What the
//! listener has handed out, and what this receiver stored itself, is remembered for a while
//! ([`Known`]), so a catch-up overlapping the notifications repeats none of them.
//!
//! The notifications wake no sink: the receiver that stored a revision wakes its own delivery
//! loops and claims the new entries at once, so another receiver woken for them would only race
//! it for rows it cannot have (`SKIP LOCKED`), one wasted claim per sink and receiver. Another
//! receiver's work begins when an entry falls due again (a retry) or a dead claimant's lease
//! ends, times `next_due_ms` already reads from the shared outbox.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use deadpool_postgres::Transaction;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{broadcast, mpsc};
use tokio_postgres::{AsyncMessage, Client, Connection, NoTls, Notification};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::receiver::calllog::{CallLog, CallUpdate};
use crate::receiver::store::relay::StoredCall;
use crate::receiver::store::{now_ms, StoreError};

/// The channel call log revisions are announced on.
pub(super) const CHANNEL: &str = "voicetrace_calls";

/// The `application_name` of the listener's connection (how an operator, or a test, tells it
/// from the pool's connections in `pg_stat_activity`).
pub const LISTENER_NAME: &str = "voicetrace-listener";

/// The longest payload PostgreSQL accepts: "shorter than 8000 bytes".
const MAX_PAYLOAD: usize = 7999;

/// How often the listener asks its connection whether it is alive: a connection that died
/// without closing (a network failure) is noticed within two of these.
const HEARTBEAT: Duration = Duration::from_secs(10);

/// The first wait between reconnection attempts (the first is made at once); doubles up to
/// [`MAX_RECONNECT_WAIT`].
const FIRST_RECONNECT_WAIT: Duration = Duration::from_millis(100);

/// The longest wait between reconnection attempts: a restarted database is heard again within
/// this long of its return.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(5);

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How far before the connection was last known alive a catch-up reads: `stored_at_ms` is the
/// storing receiver's clock, taken before its transaction, so the margin covers clocks apart
/// and transactions that took long to commit.
const CATCH_UP_MARGIN_MS: i64 = 30_000;

/// The most revisions a catch-up hands out (the latest ones): a live view wants what is recent;
/// the lists show everything.
const CATCH_UP_LIMIT: i64 = 10_000;

/// How long a revision handed out or stored here is remembered: longer than a catch-up's reach
/// back ([`CATCH_UP_MARGIN_MS`] and a heartbeat) with room for clocks minutes apart.
const KNOWN_FOR_MS: i64 = 300_000;

/// The most revisions remembered (a bound on memory through a long outage, when nothing is
/// forgotten): past it the oldest go, and a catch-up could hand one of them out again.
const MAX_KNOWN: usize = 100_000;

/// Revisions held for a subscriber that falls behind.
pub(super) const STORED_CAPACITY: usize = 1024;

/// A notification's payload (short keys: it travels with every stored revision).
#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Payload {
    /// The receiver that stored the revision (its claimant name).
    #[serde(rename = "r")]
    receiver: String,
    /// The call id; left out when it would make the payload too long.
    #[serde(rename = "c", default, skip_serializing_if = "Option::is_none")]
    call_id: Option<String>,
    /// The trace id.
    #[serde(rename = "t")]
    trace_id: String,
    /// The revision.
    #[serde(rename = "v")]
    revision: u32,
}

/// The payload announcing `call` stored by `receiver`; without the call id when that would
/// pass PostgreSQL's limit; `None` when even that would (nothing is announced then).
fn payload(receiver: &str, call: &StoredCall) -> Option<String> {
    let full = Payload {
        receiver: receiver.to_string(),
        call_id: Some(call.call_id.clone()),
        trace_id: call.trace_id.clone(),
        revision: call.revision,
    };
    let fits = |p: &Payload| {
        serde_json::to_string(p)
            .ok()
            .filter(|text| text.len() <= MAX_PAYLOAD)
    };
    fits(&full).or_else(|| {
        fits(&Payload {
            call_id: None,
            ..full
        })
    })
}

/// Announces `log`, stored by `receiver` in `tx`: delivered to every listener at commit.
pub(super) async fn announce(
    tx: &Transaction<'_>,
    receiver: &str,
    log: &CallLog,
) -> Result<(), StoreError> {
    let Some(payload) = payload(receiver, &stored_call(log)) else {
        tracing::debug!(call_id = %log.id, "call log not announced: its names are too long");
        return Ok(());
    };
    let notify = tx.prepare_cached("SELECT pg_notify($1, $2)").await?;
    tx.execute(&notify, &[&CHANNEL, &payload]).await?;
    Ok(())
}

/// Revisions recently handed out or stored here, oldest first, remembered for a while.
pub(super) struct Known {
    keys: HashSet<StoredCall>,
    order: VecDeque<(i64, StoredCall)>,
    cap: usize,
}

impl Default for Known {
    fn default() -> Known {
        Known::with_cap(MAX_KNOWN)
    }
}

impl Known {
    fn with_cap(cap: usize) -> Known {
        Known {
            keys: HashSet::new(),
            order: VecDeque::new(),
            cap: cap.max(1),
        }
    }

    /// Remembers `call` as of `at_ms`; `true` when it was not known.
    fn note(&mut self, call: StoredCall, at_ms: i64) -> bool {
        if self.keys.contains(&call) {
            return false;
        }
        if self.order.len() >= self.cap {
            if let Some((_, oldest)) = self.order.pop_front() {
                self.keys.remove(&oldest);
            }
        }
        self.keys.insert(call.clone());
        self.order.push_back((at_ms, call));
        true
    }

    /// Forgets what was remembered before `horizon_ms`.
    fn forget_before(&mut self, horizon_ms: i64) {
        while self.order.front().is_some_and(|(at, _)| *at < horizon_ms) {
            if let Some((_, old)) = self.order.pop_front() {
                self.keys.remove(&old);
            }
        }
    }

    fn len(&self) -> usize {
        self.order.len()
    }
}

/// [`Known`], shared by the listener and the store's writes.
pub(super) type SharedKnown = Arc<Mutex<Known>>;

fn lock(known: &SharedKnown) -> MutexGuard<'_, Known> {
    // What is remembered stays usable after a panic elsewhere: at worst one repeat.
    known
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Remembers the call logs among `updates`, stored by this receiver at `at_ms` (before their
/// transaction commits, so that no catch-up takes them for another receiver's).
pub(super) fn note_stored<'a>(
    known: &SharedKnown,
    updates: impl IntoIterator<Item = &'a CallUpdate>,
    at_ms: i64,
) {
    let mut known = lock(known);
    for update in updates {
        if let CallUpdate::Finished(log) = update {
            known.note(stored_call(log), at_ms);
        }
    }
}

fn stored_call(log: &CallLog) -> StoredCall {
    StoredCall {
        call_id: log.id.clone(),
        trace_id: log.trace_id.clone(),
        revision: log.revision,
    }
}

/// Where a catch-up starts reading, for a connection last known alive at `alive_ms`.
fn catch_up_from(alive_ms: i64) -> i64 {
    alive_ms - CATCH_UP_MARGIN_MS
}

/// Drives a connection on the runtime, handing its notifications out in order; an error, or
/// the end, when the connection is gone.
fn drive<S, T>(
    mut connection: Connection<S, T>,
) -> mpsc::UnboundedReceiver<Result<Notification, tokio_postgres::Error>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (tx, messages) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let sent = match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(AsyncMessage::Notification(n))) => tx.send(Ok(n)),
                // A notice: nothing for the listener.
                Some(Ok(_)) => Ok(()),
                Some(Err(e)) => {
                    let _ = tx.send(Err(e));
                    return;
                }
                None => return,
            };
            if sent.is_err() {
                return;
            }
        }
    });
    messages
}

/// The listener: this receiver's name (its own notifications are skipped), how to connect,
/// what it remembers, and where it hands revisions out.
pub(super) struct Listener {
    /// The store's connection settings, named [`LISTENER_NAME`].
    config: tokio_postgres::Config,
    /// TLS to the database, as the pool's connections (`None`: plain text).
    tls: Option<MakeRustlsConnect>,
    receiver: String,
    known: SharedKnown,
    stored: broadcast::Sender<StoredCall>,
}

/// A connection listening on [`CHANNEL`]: its client and what its driver task hears.
pub(super) struct Listening {
    client: Client,
    /// Notifications in order; an error, or the end, when the connection is gone. Unbounded:
    /// the driver must never wait on the listener, which waits on the driver for its queries.
    messages: mpsc::UnboundedReceiver<Result<Notification, tokio_postgres::Error>>,
}

impl Listener {
    pub(super) fn new(
        mut config: tokio_postgres::Config,
        tls: Option<MakeRustlsConnect>,
        receiver: String,
        known: SharedKnown,
        stored: broadcast::Sender<StoredCall>,
    ) -> Listener {
        config
            .application_name(LISTENER_NAME)
            .connect_timeout(CONNECT_TIMEOUT);
        Listener {
            config,
            tls,
            receiver,
            known,
            stored,
        }
    }

    /// Connects and listens (runs inside the backend's runtime: the connection's driver is
    /// spawned there).
    pub(super) async fn listen(&self) -> Result<Listening, StoreError> {
        let (client, messages) = match &self.tls {
            Some(tls) => {
                let (client, connection) = self.config.connect(tls.clone()).await?;
                (client, drive(connection))
            }
            None => {
                let (client, connection) = self.config.connect(NoTls).await?;
                (client, drive(connection))
            }
        };
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await?;
        Ok(Listening { client, messages })
    }

    /// Hands out what others store, for as long as the backend's runtime runs: follows the
    /// connection until it drops, then listens again and catches up, and so on.
    pub(super) async fn run(&self, mut listening: Listening) {
        let mut alive_ms = now_ms();
        loop {
            let why = self.follow(&mut listening, &mut alive_ms).await;
            tracing::warn!(
                reason = %why,
                "lost the store's notification connection (live updates from other receivers); \
                 reconnecting"
            );
            (listening, alive_ms) = self.reconnect(alive_ms).await;
        }
    }

    /// Hands out each notification of another receiver and beats the heart, until the
    /// connection fails; says why. `alive_ms` follows the last time it was known alive.
    async fn follow(&self, listening: &mut Listening, alive_ms: &mut i64) -> String {
        let mut heartbeat = tokio::time::interval(HEARTBEAT);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        loop {
            tokio::select! {
                message = listening.messages.recv() => match message {
                    Some(Ok(notification)) => {
                        *alive_ms = now_ms();
                        if let Err(e) = self.hand_out(&listening.client, &notification).await {
                            return e.to_string();
                        }
                    }
                    Some(Err(e)) => return e.to_string(),
                    None => return "the connection closed".into(),
                },
                _ = heartbeat.tick() => {
                    let beat = now_ms();
                    let answer =
                        tokio::time::timeout(HEARTBEAT, listening.client.simple_query("SELECT 1"));
                    match answer.await {
                        Ok(Ok(_)) => *alive_ms = beat,
                        Ok(Err(e)) => return e.to_string(),
                        Err(_) => return format!("no answer to a heartbeat within {HEARTBEAT:?}"),
                    }
                    lock(&self.known).forget_before(now_ms() - KNOWN_FOR_MS);
                }
            }
        }
    }

    /// Listens again (at once, then with backoff) and catches up from a connection last known
    /// alive at `alive_ms`; returns the new connection and when it started listening.
    async fn reconnect(&self, alive_ms: i64) -> (Listening, i64) {
        let mut wait = Duration::ZERO;
        loop {
            tokio::time::sleep(wait).await;
            wait = (wait * 2).clamp(FIRST_RECONNECT_WAIT, MAX_RECONNECT_WAIT);
            let listening_from = now_ms();
            let listening = match self.listen().await {
                Ok(listening) => listening,
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot listen to the store");
                    continue;
                }
            };
            match self
                .catch_up(&listening.client, catch_up_from(alive_ms))
                .await
            {
                Ok(handed_out) => {
                    tracing::info!(
                        caught_up = handed_out,
                        "listening to the store again (live updates from other receivers)"
                    );
                    return (listening, listening_from);
                }
                Err(e) => {
                    tracing::warn!(error = %e, retry_in = ?wait, "cannot catch up with the store")
                }
            }
        }
    }

    /// Hands out the revision a notification names, unless this receiver stored it or it was
    /// handed out already.
    async fn hand_out(
        &self,
        client: &Client,
        notification: &Notification,
    ) -> Result<(), StoreError> {
        let Some(p) = serde_json::from_str::<Payload>(notification.payload()).ok() else {
            tracing::debug!(
                payload = notification.payload(),
                "ignoring a notification voicetrace did not send"
            );
            return Ok(());
        };
        if p.receiver == self.receiver {
            return Ok(());
        }
        let calls = match p.call_id {
            Some(call_id) => vec![StoredCall {
                call_id,
                trace_id: p.trace_id,
                revision: p.revision,
            }],
            None => client
                .query(
                    "SELECT call_id FROM call_logs WHERE trace_id = $1 AND revision = $2",
                    &[&p.trace_id, &(p.revision as i32)],
                )
                .await?
                .iter()
                .map(|row| StoredCall {
                    call_id: row.get(0),
                    trace_id: p.trace_id.clone(),
                    revision: p.revision,
                })
                .collect(),
        };
        self.send_new(calls);
        Ok(())
    }

    /// Hands out the revisions stored since `since_ms` (the latest [`CATCH_UP_LIMIT`], oldest
    /// first) that are not known; returns how many.
    async fn catch_up(&self, client: &Client, since_ms: i64) -> Result<usize, StoreError> {
        let rows = client
            .query(
                "SELECT call_id, trace_id, revision FROM call_logs WHERE stored_at_ms >= $1
                 ORDER BY stored_at_ms DESC, revision DESC LIMIT $2",
                &[&since_ms, &CATCH_UP_LIMIT],
            )
            .await?;
        let calls = rows.iter().rev().map(|row| StoredCall {
            call_id: row.get(0),
            trace_id: row.get(1),
            revision: row.get::<_, i32>(2) as u32,
        });
        Ok(self.send_new(calls))
    }

    /// Hands out the calls not known yet, remembering them; returns how many.
    fn send_new(&self, calls: impl IntoIterator<Item = StoredCall>) -> usize {
        let now = now_ms();
        let mut known = lock(&self.known);
        let mut sent = 0;
        for call in calls {
            if known.note(call.clone(), now) {
                // No subscriber yet (or none left): nothing to hand it to.
                let _ = self.stored.send(call);
                sent += 1;
            }
        }
        tracing::trace!(sent, known = known.len(), "revisions from other receivers");
        sent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

    fn call(id: &str, revision: u32) -> StoredCall {
        StoredCall {
            call_id: id.into(),
            trace_id: TRACE.into(),
            revision,
        }
    }

    #[test]
    fn a_payload_names_the_revision_and_its_receiver_and_reads_back() {
        let text = payload("r1", &call("call-1", 3)).unwrap();
        let back: Payload = serde_json::from_str(&text).unwrap();
        assert_eq!(
            back,
            Payload {
                receiver: "r1".into(),
                call_id: Some("call-1".into()),
                trace_id: TRACE.into(),
                revision: 3,
            }
        );
        assert!(text.len() < 100, "small: {text}");
    }

    #[test]
    fn a_call_id_too_long_for_a_notification_is_left_out() {
        let long = "x".repeat(MAX_PAYLOAD);
        let text = payload("r1", &call(&long, 1)).unwrap();
        assert!(text.len() <= MAX_PAYLOAD);
        let back: Payload = serde_json::from_str(&text).unwrap();
        assert_eq!(back.call_id, None);
        assert_eq!(back.revision, 1);
        let just_fits = "x".repeat(MAX_PAYLOAD - text.len() - r#","c":"""#.len());
        let text = payload("r1", &call(&just_fits, 1)).unwrap();
        assert_eq!(text.len(), MAX_PAYLOAD);
        assert!(text.contains(&just_fits));
        let unsendable = StoredCall {
            trace_id: long,
            ..call("c", 1)
        };
        assert_eq!(payload("r1", &unsendable), None);
    }

    #[test]
    fn what_is_known_is_handed_out_once_until_forgotten() {
        let mut known = Known::default();
        assert!(known.note(call("a", 1), 1_000));
        assert!(!known.note(call("a", 1), 2_000), "once");
        assert!(known.note(call("a", 2), 2_000), "another revision is news");
        known.forget_before(1_500);
        assert_eq!(known.len(), 1);
        assert!(known.note(call("a", 1), 3_000), "forgotten, news again");
        assert!(!known.note(call("a", 2), 3_000));
    }

    #[test]
    fn what_is_known_is_bounded_oldest_first() {
        let mut known = Known::with_cap(2);
        assert!(known.note(call("a", 1), 1));
        assert!(known.note(call("b", 1), 2));
        assert!(known.note(call("c", 1), 3));
        assert_eq!(known.len(), 2);
        assert!(!known.note(call("c", 1), 4));
        assert!(!known.note(call("b", 1), 4));
        assert!(known.note(call("a", 1), 4), "the oldest went first");
    }

    #[test]
    fn a_catch_up_reaches_back_past_the_last_sign_of_life_and_within_memory() {
        assert_eq!(catch_up_from(100_000), 100_000 - CATCH_UP_MARGIN_MS);
        // Forgetting runs a heartbeat apart: what a catch-up can read back to is still known.
        let reach = CATCH_UP_MARGIN_MS + 2 * HEARTBEAT.as_millis() as i64;
        assert!(KNOWN_FOR_MS > reach, "{KNOWN_FOR_MS} ms against {reach} ms");
    }
}
