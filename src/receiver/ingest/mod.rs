//! Ingest: the OTLP endpoints. Decodes requests into plain records, answers the exporter as the
//! OTLP specification says, and hands the records to assembly through a bounded channel.
//!
//! - [`decode`]: OTLP messages → [`SpanRecord`](crate::receiver::span::SpanRecord)s and
//!   [`LogRecord`](crate::receiver::span::LogRecord)s, rejecting unusable spans.
//! - [`grpc`]: `TraceService` and `LogsService` for tonic (gzip accepted).
//! - [`http`]: `POST /v1/traces` and `/v1/logs` (protobuf or JSON, gzip), plus LiveKit's upload
//!   paths `/observability/{traces,logs}/otlp/v0`.
//!
//! Back-pressure: when the channel to assembly is full, or assembly holds more spans than its
//! memory bound, ingest answers "retry later" (gRPC `UNAVAILABLE`, HTTP 503/429 with
//! `Retry-After`) instead of queueing without bound, so exporters and collectors retry and
//! nothing is lost.

pub mod decode;
pub mod grpc;
pub mod http;

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

use crate::receiver::span::{LogRecord, SpanRecord};

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
        }
    }
}

/// Counters of ingest (read by `/metrics`).
#[derive(Debug, Default)]
pub struct IngestCounters {
    /// Spans accepted.
    pub spans_accepted: AtomicU64,
    /// Spans rejected as unusable (partial success).
    pub spans_rejected: AtomicU64,
    /// Spans refused by back-pressure (the exporter retries them).
    pub spans_refused: AtomicU64,
    /// Requests that could not be decoded.
    pub requests_invalid: AtomicU64,
}

/// The handle both endpoints share: the channel to assembly and the bounds.
#[derive(Debug, Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Batch>,
    /// Spans assembly holds now (assembly keeps it current).
    spans_buffered: Arc<AtomicUsize>,
    max_spans_buffered: usize,
    counters: Arc<IngestCounters>,
}

impl Ingest {
    /// A handle over the channel to assembly. `spans_buffered` is kept current by assembly.
    pub fn new(
        tx: mpsc::Sender<Batch>,
        spans_buffered: Arc<AtomicUsize>,
        max_spans_buffered: usize,
        counters: Arc<IngestCounters>,
    ) -> Self {
        Ingest {
            tx,
            spans_buffered,
            max_spans_buffered,
            counters,
        }
    }

    /// The counters.
    pub fn counters(&self) -> &IngestCounters {
        &self.counters
    }

    /// Hands spans to assembly, or says why not (the caller answers "retry later").
    pub fn submit_spans(&self, spans: Vec<SpanRecord>, rejected: i64) -> Result<(), Refusal> {
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
        self.send(Batch::Spans(spans)).inspect_err(|_| {
            self.counters.spans_refused.fetch_add(n, Ordering::Relaxed);
        })?;
        self.counters.spans_accepted.fetch_add(n, Ordering::Relaxed);
        Ok(())
    }

    /// Hands log records to assembly.
    pub fn submit_logs(&self, logs: Vec<LogRecord>) -> Result<(), Refusal> {
        if logs.is_empty() {
            return Ok(());
        }
        self.send(Batch::Logs(logs))
    }

    fn send(&self, batch: Batch) -> Result<(), Refusal> {
        self.tx.try_send(batch).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Refusal::Busy,
            mpsc::error::TrySendError::Closed(_) => Refusal::Closed,
        })
    }
}
