//! Ingest: the OTLP endpoints. Decodes requests into plain records, answers the exporter as the
//! OTLP specification says, and hands the records to assembly through a bounded channel.
//!
//! - [`decode`]: OTLP messages → [`SpanRecord`](crate::receiver::span::SpanRecord)s and
//!   [`LogRecord`](crate::receiver::span::LogRecord)s, rejecting unusable spans.
//! - [`grpc`]: `TraceService` and `LogsService` for tonic (gzip accepted).
//! - [`http`]: `POST /v1/traces` and `/v1/logs` (protobuf or JSON, gzip), plus LiveKit's upload
//!   paths `/observability/{traces,logs}/otlp/v0`.
//!
//! A request is answered "accepted" only once its records are in the journal
//! ([`crate::receiver::journal`]) and on their way to assembly. Back-pressure: when the queue to
//! the journal is full, or assembly holds more spans than its memory bound, or the journal
//! cannot be written, or the outbox holds more undelivered entries than its bound (a sink is
//! down), or a batch would open more calls than assembly may hold open ([`HeldCalls`]), ingest
//! answers "retry later" (gRPC `UNAVAILABLE`, HTTP 503/429 with
//! `Retry-After`) instead of queueing without bound, so exporters and collectors retry and
//! nothing is lost.

pub mod decode;
pub mod grpc;
pub mod http;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::{mpsc, oneshot};

use crate::receiver::journal::Submission;
use crate::receiver::span::{LogRecord, SpanRecord, TraceId};

/// Largest request body accepted, compressed or not (OTLP exporters batch 512 spans by
/// default, well under 1 MiB; collectors send larger batches, rarely over a few MiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Seconds an exporter is asked to wait before retrying when the receiver is full: long enough
/// for assembly to drain a burst, short enough that a batch processor's queue does not fill.
pub const RETRY_AFTER_SECS: u64 = 1;

/// What ingest hands to assembly.
#[derive(Debug)]
pub enum Batch {
    /// The usable spans of one request.
    Spans(Vec<SpanRecord>),
    /// The call log records of one request.
    Logs(Vec<LogRecord>),
}

/// Why a batch was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The channel to assembly is full: retry shortly.
    Busy,
    /// Assembly holds as many spans as its memory bound allows: retry later.
    Full,
    /// The receiver is shutting down.
    Closed,
    /// The journal could not be written (disk full, I/O error): retry later.
    Storage,
    /// The outbox holds as many undelivered entries as it may (a sink is down or slow): retry
    /// later, once the sinks have caught up.
    Backlog,
    /// The batch would open more calls than assembly may hold open at once.
    Calls,
}

impl Refusal {
    /// The message sent to the exporter.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Busy => "voicetrace is busy: too many requests in flight, retry later",
            Refusal::Full => {
                "voicetrace holds as many spans as its memory bound allows, retry later"
            }
            Refusal::Closed => "voicetrace is shutting down, retry later",
            Refusal::Storage => "voicetrace cannot write its span journal, retry later",
            Refusal::Backlog => "voicetrace's outbox is full (a sink is down or slow), retry later",
            Refusal::Calls => {
                "voicetrace holds as many open calls as it may (max_calls), retry later"
            }
        }
    }
}

/// Counters of ingest (read into `/metrics` by the server; spans accepted are counted by
/// assembly, which is where they are kept).
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Spans rejected as unusable (partial success).
    pub spans_rejected: AtomicU64,
    /// Spans refused by back-pressure (the exporter retries them).
    pub spans_refused: AtomicU64,
}

/// What ingest knows of the calls assembly holds: their trace ids, and how many are still open
/// (waiting for their root or their grace). Assembly updates it after each batch; ingest reads
/// it to refuse, with "retry later", a batch that would open more than `max_calls` calls, where
/// assembly would otherwise have to close the oldest open call early, incomplete. Finished calls
/// kept for revisions do not count: assembly lets them go to make room.
#[derive(Debug, Default)]
pub struct HeldCalls {
    state: RwLock<Held>,
}

#[derive(Debug, Default)]
struct Held {
    traces: HashSet<TraceId>,
    open: usize,
}

impl HeldCalls {
    /// After a batch: the calls it touched are held, `released` are not any more, `open` are
    /// still open.
    pub fn update(&self, touched: &[TraceId], released: &[TraceId], open: usize) {
        if let Ok(mut held) = self.state.write() {
            held.traces.extend(touched.iter().copied());
            for trace_id in released {
                held.traces.remove(trace_id);
            }
            held.open = open;
        }
    }

    /// Whether `spans` would take the open calls past `max_calls`.
    fn too_many(&self, spans: &[SpanRecord], max_calls: usize) -> bool {
        let Ok(held) = self.state.read() else {
            return false;
        };
        if held.open + spans.len() <= max_calls {
            // Even if every span opened a call of its own (the common case: no lookups).
            return false;
        }
        let new: HashSet<&TraceId> = spans
            .iter()
            .map(|s| &s.trace_id)
            .filter(|t| !held.traces.contains(*t))
            .collect();
        !new.is_empty() && held.open + new.len() > max_calls
    }
}

/// The handle both endpoints share: the queue to the journal and the bounds.
#[derive(Debug, Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Submission>,
    /// Spans assembly holds now (assembly keeps it current).
    spans_buffered: Arc<AtomicUsize>,
    max_spans_buffered: usize,
    counters: Arc<IngestCounters>,
    /// Undelivered outbox entries (kept current by the server) and their bound; 0: none.
    outbox_depth: Arc<AtomicU64>,
    max_outbox: u64,
    held: Arc<HeldCalls>,
    max_calls: usize,
}

impl Ingest {
    /// A handle over the queue to the journal. `spans_buffered` is kept current by assembly.
    pub fn new(
        tx: mpsc::Sender<Submission>,
        spans_buffered: Arc<AtomicUsize>,
        max_spans_buffered: usize,
        counters: Arc<IngestCounters>,
    ) -> Self {
        Ingest {
            tx,
            spans_buffered,
            max_spans_buffered,
            counters,
            outbox_depth: Arc::new(AtomicU64::new(0)),
            max_outbox: 0,
            held: Arc::default(),
            max_calls: usize::MAX,
        }
    }

    /// Refuses batches that would open more than `max_calls` calls, as `held` says.
    pub fn with_calls_bound(mut self, held: Arc<HeldCalls>, max_calls: usize) -> Self {
        self.held = held;
        self.max_calls = max_calls;
        self
    }

    /// Refuses requests while `depth` (undelivered outbox entries, kept current by the caller)
    /// is at `max` or over; `max` 0 sets no bound.
    pub fn with_outbox_bound(mut self, depth: Arc<AtomicU64>, max: u64) -> Self {
        self.outbox_depth = depth;
        self.max_outbox = max;
        self
    }

    fn backlogged(&self) -> bool {
        self.max_outbox > 0 && self.outbox_depth.load(Ordering::Relaxed) >= self.max_outbox
    }

    /// The counters.
    pub fn counters(&self) -> &IngestCounters {
        &self.counters
    }

    /// Hands spans to the journal and waits until they are durable, or says why not (the
    /// caller answers "retry later").
    pub async fn submit_spans(&self, spans: Vec<SpanRecord>, rejected: i64) -> Result<(), Refusal> {
        self.counters
            .spans_rejected
            .fetch_add(rejected.max(0) as u64, Ordering::Relaxed);
        if spans.is_empty() {
            return Ok(());
        }
        let n = spans.len() as u64;
        if self.spans_buffered.load(Ordering::Relaxed) + spans.len() > self.max_spans_buffered {
            self.counters.spans_refused.fetch_add(n, Ordering::Relaxed);
            return Err(Refusal::Full);
        }
        if self.backlogged() {
            self.counters.spans_refused.fetch_add(n, Ordering::Relaxed);
            return Err(Refusal::Backlog);
        }
        if self.held.too_many(&spans, self.max_calls) {
            self.counters.spans_refused.fetch_add(n, Ordering::Relaxed);
            return Err(Refusal::Calls);
        }
        if let Err(refusal) = self.send(Batch::Spans(spans)).await {
            self.counters.spans_refused.fetch_add(n, Ordering::Relaxed);
            return Err(refusal);
        }
        Ok(())
    }

    /// Hands log records to the journal and waits until they are durable.
    pub async fn submit_logs(&self, logs: Vec<LogRecord>) -> Result<(), Refusal> {
        if logs.is_empty() {
            return Ok(());
        }
        if self.backlogged() {
            return Err(Refusal::Backlog);
        }
        self.send(Batch::Logs(logs)).await
    }

    async fn send(&self, batch: Batch) -> Result<(), Refusal> {
        let (ack, answer) = oneshot::channel();
        self.tx
            .try_send(Submission { batch, ack })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Refusal::Busy,
                mpsc::error::TrySendError::Closed(_) => Refusal::Closed,
            })?;
        answer.await.unwrap_or(Err(Refusal::Closed))
    }
}
