//! Forward: the outbox's delivery loop and the sinks that receive call logs.
//!
//! ```text
//! record(update) ──► store: call log + one outbox entry per (sink, event), ONE transaction
//!                    │ then wake the sinks' loops
//!                    ▼
//!       ┌── delivery loop (one per sink, this module) ─────────────────────────────────┐
//!       │ claim due entries (oldest first; one call's entries strictly in order)        │
//!       │ → up to `concurrency` attempts at once, each of up to `max_batch` entries     │
//!       │   → sink: encode, request (jsonl: one write + fsync per batch), classify      │
//!       │ → settle every attempt that ended, in ONE transaction:                        │
//!       │   delivered: leaves the outbox │ retry: backoff + jitter, Retry-After honoured │
//!       │   │ rejected (4xx but 408/429), too many attempts, too old: dead letter        │
//!       └───────────────────────────────────────────────────────────────────────────────┘
//! ```
//!
//! Delivery is at least once: an entry leaves the outbox only after its sink took it, and
//! every request carries an idempotency key (`{call_id}:{trace_id}:{revision}`, plus `:{event}` for
//! webhooks) in the `Idempotency-Key` header and, where the format allows, in the body. A
//! restarted receiver resumes from what the outbox holds; what was in flight when it stopped is
//! sent again.
//!
//! Each kind of sink ([`sinks`]) is one module that knows everything about the kind (its
//! settings, the updates it wants, what it sends); [`SinkConfig`] configures them from
//! `--sink KIND:TARGET` or from the config file's `[[sinks]]` tables, one struct per kind.

pub mod config;
pub mod outcome;
pub mod sinks;
mod stats;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{watch, Notify};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

pub use config::{
    ConfigError, KindConfig, NoSecret, RetryPolicy, SecretConfig, SharedConfig, SinkConfig,
    SinkKind,
};
pub use outcome::Outcome;
pub use sinks::cekura::{CekuraConfig, CekuraKeys};
pub use sinks::http::HttpConfig;
pub use sinks::jsonl::JsonlConfig;
pub use sinks::webhook::{WebhookConfig, WebhookKeys};
pub use stats::format_sink_stats;

use crate::receiver::calllog::CallUpdate;
use crate::receiver::recordings::link::Links;
use crate::receiver::redact::Redactor;
use crate::receiver::secret::SecretError;
use crate::receiver::store::recorder::Deliveries;
pub use crate::receiver::store::Settle;
use crate::receiver::store::{now_ms, Enqueue, OutboxEntry, Store, StoreError};
use sinks::{idempotency_key, Sink};

/// A loop with nothing due looks at the outbox again after this long, so dead letters
/// re-queued by another process (`voicetrace sinks retry-dead`) go out within a second.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// After a store error the loop waits this long before trying again (the store is local: an
/// error is a full disk or a lock held too long, not worth hammering).
const STORE_RETRY: Duration = Duration::from_secs(1);
/// At shutdown, what is due is still attempted for this long; attempts still running then are
/// abandoned and stay in the outbox for the next start.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Why the forwarder could not start.
#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    /// A sink's configuration is invalid.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Two sinks have the same name.
    #[error("two sinks are named {0:?}: give one a `name` (or --sink NAME=KIND:TARGET)")]
    DuplicateName(String),
    /// A sink's secret could not be read.
    #[error("sink {sink}: {source}")]
    Secret {
        /// The sink.
        sink: String,
        /// Why.
        source: SecretError,
    },
    /// A sink's HTTP client could not be built.
    #[error("sink {sink}: cannot build the HTTP client: {why}")]
    Client {
        /// The sink.
        sink: String,
        /// Why.
        why: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// `start` was called outside a tokio runtime.
    #[error("the forwarder must be started inside a tokio runtime")]
    NoRuntime,
    /// A sink is marked `redact = true` but redaction is off.
    #[error(
        "sink {0}: `redact = true` needs redaction on ([redaction] mode = \"sinks\" or \"store\")"
    )]
    RedactionOff(String),
}

/// One sink as the forwarder runs it.
struct SinkHandle {
    name: String,
    sink: Arc<Sink>,
    wake: Arc<Notify>,
}

struct Inner {
    store: Store,
    sinks: Vec<SinkHandle>,
    stop: watch::Sender<bool>,
    loops: Mutex<Vec<JoinHandle<()>>>,
}

/// Stores updates with their outbox entries and runs one delivery loop per sink. Clones share
/// the loops.
#[derive(Clone)]
pub struct Forwarder {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Forwarder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.inner.sinks.iter().map(|s| s.name.as_str()).collect();
        f.debug_struct("Forwarder").field("sinks", &names).finish()
    }
}

impl Forwarder {
    /// Builds every sink (checking names, targets and secrets), registers them with the store,
    /// and spawns one delivery loop per sink on the current tokio runtime. Each loop starts with
    /// what the outbox already holds.
    pub fn start(store: Store, sinks: Vec<SinkConfig>) -> Result<Forwarder, ForwardError> {
        Forwarder::start_with(store, sinks, Extras::default())
    }

    /// [`Forwarder::start`], with the links sinks send to recordings the receiver keeps and
    /// the redaction of the sinks marked `redact = true`.
    pub fn start_with(
        store: Store,
        sinks: Vec<SinkConfig>,
        extras: Extras,
    ) -> Result<Forwarder, ForwardError> {
        let Extras { links, redactor } = extras;
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| ForwardError::NoRuntime)?;
        let mut names = HashSet::new();
        for config in &sinks {
            if !names.insert(config.name().to_string()) {
                return Err(ForwardError::DuplicateName(config.name().to_string()));
            }
        }
        let built = sinks
            .iter()
            .map(|c| build(c, links.as_ref(), redactor.as_ref()).map(|s| (c, Arc::new(s))))
            .collect::<Result<Vec<_>, _>>()?;
        let names: Vec<(&str, &str)> = sinks
            .iter()
            .map(|c| (c.name(), c.kind().as_str()))
            .collect();
        store.register_sinks(&names)?;
        let (stop, stop_rx) = watch::channel(false);
        let mut handles = Vec::new();
        let mut loops = Vec::new();
        for (config, sink) in built {
            let wake = Arc::new(Notify::new());
            let ctx = Arc::new(LoopCtx {
                name: config.name().to_string(),
                store: store.clone(),
                concurrency: sink.concurrency(config.shared().concurrency),
                max_batch: sink.max_batch(),
                sink: sink.clone(),
                retry: config.shared().retry.clone(),
                wake: wake.clone(),
            });
            tracing::info!(
                sink = config.name(),
                kind = config.kind().as_str(),
                concurrency = ctx.concurrency,
                "sink started"
            );
            loops.push(runtime.spawn(delivery_loop(ctx, stop_rx.clone())));
            handles.push(SinkHandle {
                name: config.name().to_string(),
                sink,
                wake,
            });
        }
        Ok(Forwarder {
            inner: Arc::new(Inner {
                store,
                sinks: handles,
                stop,
                loops: Mutex::new(loops),
            }),
        })
    }

    /// Whether any sink wants live updates (`Started`, `TurnCompleted`), not only finished
    /// call logs: assembly only produces them when some sink does.
    pub fn wants_live_updates(&self) -> bool {
        self.inner
            .sinks
            .iter()
            .any(|handle| handle.sink.wants_live_updates())
    }

    /// Re-queues a sink's dead letters and wakes its loop. Returns how many. Blocks.
    pub fn retry_dead(&self, sink: &str) -> Result<usize, StoreError> {
        let n = self.inner.store.retry_dead(sink)?;
        if let Some(handle) = self.inner.sinks.iter().find(|h| h.name == sink) {
            handle.wake.notify_one();
        }
        Ok(n)
    }

    /// The store the forwarder records into.
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// Stops the loops: what is due now is still attempted for a short grace, then attempts
    /// still running are abandoned. Nothing leaves the outbox undelivered; the next start
    /// resumes from it.
    pub async fn shutdown(self) {
        let _ = self.inner.stop.send(true);
        let loops = match self.inner.loops.lock() {
            Ok(mut loops) => std::mem::take(&mut *loops),
            Err(_) => Vec::new(),
        };
        for handle in loops {
            let _ = handle.await;
        }
    }
}

/// What the forwarder's sinks may need beyond their configuration.
#[derive(Debug, Default, Clone)]
pub struct Extras {
    /// Signs the links to recordings the cekura and webhook sinks send (none without a public
    /// URL).
    pub links: Option<Links>,
    /// Redacts what the sinks marked `redact = true` receive (none: redaction is off).
    pub redactor: Option<Arc<Redactor>>,
}

/// One sink from its configuration, redacting when it is marked.
fn build(
    config: &SinkConfig,
    links: Option<&Links>,
    redactor: Option<&Arc<Redactor>>,
) -> Result<Sink, ForwardError> {
    let sink = Sink::build(config, links)?;
    if !config.shared().redact {
        return Ok(sink);
    }
    match redactor {
        Some(redactor) => Ok(sink.redacting(redactor.clone())),
        None => Err(ForwardError::RedactionOff(config.name().to_string())),
    }
}

impl Deliveries for Forwarder {
    fn entries_for(&self, update: &CallUpdate) -> Vec<Enqueue> {
        self.inner
            .sinks
            .iter()
            .flat_map(|handle| {
                handle
                    .sink
                    .events_for(update)
                    .into_iter()
                    .map(|event| Enqueue {
                        sink: handle.name.clone(),
                        event,
                    })
            })
            .collect()
    }

    fn stored(&self, entries: &[Enqueue]) {
        for handle in &self.inner.sinks {
            if entries.iter().any(|e| e.sink == handle.name) {
                handle.wake.notify_one();
            }
        }
    }
}

/// What one sink's delivery loop works with.
struct LoopCtx {
    name: String,
    store: Store,
    sink: Arc<Sink>,
    retry: RetryPolicy,
    concurrency: usize,
    max_batch: usize,
    wake: Arc<Notify>,
}

/// Runs a store call on the blocking pool.
async fn blocking<T: Send + 'static>(
    store: &Store,
    f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .unwrap_or(Err(StoreError::Poisoned))
}

/// The outcomes of one attempt: (entry id, what becomes of it).
type Settled = Vec<(i64, Settle)>;

/// One sink's loop: claim what is due, keep up to `concurrency` attempts running, settle the
/// attempts that ended (all at once), sleep until the next entry falls due, a new entry is
/// recorded, an attempt ends, or the poll interval.
async fn delivery_loop(ctx: Arc<LoopCtx>, mut stop: watch::Receiver<bool>) {
    let name = ctx.name.clone();
    match blocking(&ctx.store, move |s| s.release_in_flight(&name, now_ms())).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::info!(sink = %ctx.name, entries = n, "resuming entries that were in flight at the last stop")
        }
        Err(e) => tracing::error!(sink = %ctx.name, error = %e, "cannot resume in-flight entries"),
    }
    let mut attempts: JoinSet<Settled> = JoinSet::new();
    let mut in_flight: HashMap<tokio::task::Id, Vec<i64>> = HashMap::new();
    let mut drain_until: Option<Instant> = None;
    loop {
        // A forwarder dropped without `shutdown` closes the channel: stop the same way.
        let stopping = drain_until.is_some() || *stop.borrow() || stop.has_changed().is_err();
        if stopping && drain_until.is_none() {
            drain_until = Some(Instant::now() + SHUTDOWN_GRACE);
        }
        let mut store_trouble = false;
        let mut claimed = 0;
        let free = ctx.concurrency.saturating_sub(attempts.len());
        if free > 0 {
            let name = ctx.name.clone();
            let limit = free * ctx.max_batch;
            match blocking(&ctx.store, move |s| s.claim_due(&name, now_ms(), limit)).await {
                Ok(entries) => {
                    claimed = entries.len();
                    // Spread what was claimed over the free attempt slots, in order.
                    let per_attempt = claimed.div_ceil(free).max(1);
                    let mut entries = entries.into_iter().peekable();
                    while entries.peek().is_some() {
                        let batch: Vec<OutboxEntry> = entries.by_ref().take(per_attempt).collect();
                        let ids = batch.iter().map(|e| e.id).collect();
                        let handle = attempts.spawn(attempt(ctx.clone(), batch));
                        in_flight.insert(handle.id(), ids);
                    }
                }
                Err(e) => {
                    tracing::error!(sink = %ctx.name, error = %e, "cannot claim outbox entries");
                    store_trouble = true;
                }
            }
        }
        let mut wait = IDLE_POLL;
        if store_trouble {
            wait = STORE_RETRY;
        } else if attempts.len() < ctx.concurrency {
            let name = ctx.name.clone();
            if let Ok(Some(due)) = blocking(&ctx.store, move |s| s.next_due_ms(&name)).await {
                let ms = (due - now_ms()).max(0) as u64;
                wait = wait.min(Duration::from_millis(ms));
            }
        }
        if stopping && attempts.is_empty() && claimed == 0 && !wait.is_zero() {
            // Shutdown: nothing running and nothing due now; later retries wait for the next
            // start.
            break;
        }
        let drain_deadline = drain_until.unwrap_or_else(Instant::now);
        tokio::select! {
            Some(done) = attempts.join_next_with_id(), if !attempts.is_empty() => {
                // Settle this attempt and every other one that has ended meanwhile together.
                let mut ended = vec![done];
                while let Some(more) = attempts.try_join_next_with_id() {
                    ended.push(more);
                }
                settle_ended(&ctx, ended, &mut in_flight).await;
            }
            _ = ctx.wake.notified() => {}
            _ = stop.changed(), if !stopping => {}
            _ = tokio::time::sleep_until(drain_deadline), if stopping => {
                abandon(&ctx, &mut attempts, &mut in_flight).await;
                break;
            }
            _ = tokio::time::sleep(wait), if !wait.is_zero() => {}
            _ = std::future::ready(()), if wait.is_zero() => {}
        }
    }
    tracing::info!(sink = %ctx.name, "sink stopped");
}

/// Records the outcomes of ended attempts in one transaction. An attempt that panicked leaves
/// its entries in flight: the next start sends them again.
async fn settle_ended(
    ctx: &LoopCtx,
    ended: Vec<Result<(tokio::task::Id, Settled), tokio::task::JoinError>>,
    in_flight: &mut HashMap<tokio::task::Id, Vec<i64>>,
) {
    let mut outcomes = Vec::new();
    for done in ended {
        match done {
            Ok((id, settled)) => {
                in_flight.remove(&id);
                outcomes.extend(settled);
            }
            Err(e) => {
                in_flight.remove(&e.id());
                tracing::error!(sink = %ctx.name, error = %e, "a delivery attempt failed");
            }
        }
    }
    let n = outcomes.len();
    if let Err(e) = blocking(&ctx.store, move |s| s.settle_all(&outcomes)).await {
        // The entries stay in flight in the store; the next start sends them again.
        tracing::error!(sink = %ctx.name, entries = n, error = %e, "cannot record delivery outcomes");
    }
}

/// Stops the attempts still running at the end of the shutdown grace and puts their entries
/// back, due at once for the next start. Attempts that ended meanwhile are settled.
async fn abandon(
    ctx: &LoopCtx,
    attempts: &mut JoinSet<Settled>,
    in_flight: &mut HashMap<tokio::task::Id, Vec<i64>>,
) {
    attempts.abort_all();
    let mut ended = Vec::new();
    while let Some(done) = attempts.join_next_with_id().await {
        if done.is_ok() {
            // Finished on its own before the abort took.
            ended.push(done);
        }
    }
    settle_ended(ctx, ended, in_flight).await;
    let ids: Vec<i64> = in_flight.drain().flat_map(|(_, ids)| ids).collect();
    if ids.is_empty() {
        return;
    }
    tracing::warn!(sink = %ctx.name, entries = ids.len(), "abandoning attempts at shutdown; they stay in the outbox");
    if let Err(e) = blocking(&ctx.store, move |s| s.release(&ids, now_ms())).await {
        tracing::error!(sink = %ctx.name, error = %e, "cannot put abandoned entries back");
    }
}

/// The retry policy applied to an outcome (pure): when to try again, or that it is time to
/// give up. `random` in 0..1 draws the jitter; Retry-After, when longer than the backoff, wins.
pub fn settle(
    policy: &RetryPolicy,
    entry_attempts: u32,
    enqueued_ms: i64,
    now_ms: i64,
    outcome: Outcome,
    random: f64,
) -> Settle {
    match outcome {
        Outcome::Delivered { .. } => Settle::Delivered,
        Outcome::Rejected { status, reason } => Settle::Dead { status, reason },
        Outcome::Retry {
            status,
            reason,
            retry_after,
        } => {
            let failures = entry_attempts.saturating_add(1);
            if policy.max_attempts > 0 && failures >= policy.max_attempts {
                return Settle::Dead {
                    status,
                    reason: format!("gave up after {failures} attempts; last: {reason}"),
                };
            }
            let mut wait = policy.backoff(failures, random);
            if let Some(after) = retry_after {
                wait = wait.max(after);
            }
            let at_ms = now_ms.saturating_add(wait.as_millis().min(i64::MAX as u128) as i64);
            let age_limit = policy.max_age_ms as i64;
            if policy.max_age_ms > 0 && at_ms.saturating_sub(enqueued_ms) > age_limit {
                return Settle::Dead {
                    status,
                    reason: format!(
                        "gave up after {failures} attempts over {} s (max age); last: {reason}",
                        (now_ms - enqueued_ms).max(0) / 1000
                    ),
                };
            }
            Settle::Retry {
                at_ms,
                status,
                reason,
            }
        }
    }
}

/// One attempt of a batch of entries: delivered by the sink, each outcome turned into what
/// becomes of its entry (the loop records them).
async fn attempt(ctx: Arc<LoopCtx>, entries: Vec<OutboxEntry>) -> Settled {
    let outcomes = ctx.sink.deliver_all(&entries).await;
    let now = now_ms();
    entries
        .iter()
        .zip(outcomes)
        .map(|(entry, outcome)| {
            let plan = settle(
                &ctx.retry,
                entry.attempts,
                entry.enqueued_ms,
                now,
                outcome,
                fastrand::f64(),
            );
            log_settle(&ctx.name, entry, &plan, now);
            (entry.id, plan)
        })
        .collect()
}

/// One structured event per settled entry.
fn log_settle(sink: &str, entry: &OutboxEntry, plan: &Settle, now: i64) {
    let attempt_no = entry.attempts + 1;
    match plan {
        Settle::Delivered => tracing::debug!(
            sink, call_id = %entry.call_id, revision = entry.revision,
            event = %entry.event, attempt = attempt_no, "delivered"
        ),
        Settle::Retry {
            at_ms,
            status,
            reason,
        } => tracing::warn!(
            sink, call_id = %entry.call_id, revision = entry.revision,
            event = %entry.event, attempt = attempt_no, status = ?status,
            retry_in_ms = at_ms - now, %reason, "delivery failed, will retry"
        ),
        Settle::Dead { status, reason } => tracing::error!(
            sink, call_id = %entry.call_id, revision = entry.revision,
            event = %entry.event, attempt = attempt_no, status = ?status, %reason,
            idempotency_key = %idempotency_key(entry), "delivery rejected, parked as a dead letter"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy {
            initial_backoff_ms: 100,
            max_backoff_ms: 10_000,
            multiplier: 2.0,
            jitter: 0.0,
            max_attempts: 5,
            max_age_ms: 60_000,
        }
    }

    fn retry(after: Option<u64>) -> Outcome {
        Outcome::Retry {
            status: Some(503),
            reason: "HTTP 503".into(),
            retry_after: after.map(Duration::from_secs),
        }
    }

    #[test]
    fn retries_back_off_and_honour_retry_after() {
        let p = policy();
        assert_eq!(
            settle(&p, 0, 0, 1000, retry(None), 0.5),
            Settle::Retry {
                at_ms: 1100,
                status: Some(503),
                reason: "HTTP 503".into()
            }
        );
        assert!(matches!(
            settle(&p, 2, 0, 1000, retry(None), 0.0),
            Settle::Retry { at_ms: 1400, .. }
        ));
        assert!(matches!(
            settle(&p, 0, 0, 1000, retry(Some(3)), 0.0),
            Settle::Retry { at_ms: 4000, .. }
        ));
    }

    #[test]
    fn attempts_and_age_park_entries() {
        let p = policy();
        match settle(&p, 4, 0, 1000, retry(None), 0.0) {
            Settle::Dead { status, reason } => {
                assert_eq!(status, Some(503));
                assert!(reason.contains("gave up after 5 attempts"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            settle(&p, 1, 0, 59_950, retry(None), 0.0),
            Settle::Dead { .. }
        ));
        let rejected = Outcome::Rejected {
            status: Some(400),
            reason: "bad".into(),
        };
        assert_eq!(
            settle(&p, 0, 0, 0, rejected, 0.0),
            Settle::Dead {
                status: Some(400),
                reason: "bad".into()
            }
        );
        assert_eq!(
            settle(&p, 0, 0, 0, Outcome::Delivered { status: Some(201) }, 0.0),
            Settle::Delivered
        );
    }
}
