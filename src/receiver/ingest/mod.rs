//! Ingest: the OTLP endpoints. Decodes requests into plain records, answers the exporter as the
//! OTLP specification says, and hands the records to assembly through a bounded channel.
//!
//! - [`decode`]: OTLP messages → [`SpanRecord`](crate::receiver::span::SpanRecord)s,
//!   [`LogRecord`](crate::receiver::span::LogRecord)s and the usage
//!   [`MetricPoint`](crate::receiver::span::MetricPoint)s that name a call, rejecting unusable
//!   spans.
//! - [`grpc`]: `TraceService`, `LogsService` and `MetricsService` for tonic (gzip accepted).
//! - [`http`]: `POST /v1/traces`, `/v1/logs` and `/v1/metrics` (protobuf or JSON, gzip), plus
//!   LiveKit's upload paths `/observability/{traces,logs,metrics}/otlp/v0`.
//! - [`upload`]: recordings, `PUT /v1/recordings/{callId}` and LiveKit's
//!   `/observability/recordings/v0`, streamed to disk.
//!
//! - [`admission`]: the bounds (memory, open calls, outbox) and the [`Refusal`]s they give.
//!
//! Attributes the configuration drops (`[redaction] drop_attributes`: `lk.pii.*`, ...) are
//! taken off the records here, before the journal: they never reach the disk, nor assembly.
//!
//! A request is answered "accepted" only once its records are in the journal
//! ([`crate::receiver::journal`]) and on their way to assembly. Back-pressure: when
//! [`Admission`] says a bound is reached, or the queue to the journal is full, or the journal
//! cannot be written, ingest answers "retry later" (gRPC `UNAVAILABLE`, HTTP 503/429 with
//! `Retry-After`) instead of queueing without bound, so exporters and collectors retry and
//! nothing is lost.

pub mod admission;
pub mod decode;
pub mod grpc;
pub mod http;
pub mod upload;

use tokio::sync::{mpsc, oneshot};

pub use admission::{Admission, AssemblyHolds, Bounds, Refusal};

use crate::receiver::journal::{NotJournaled, Submission};
use crate::receiver::metrics::ReceiverMetrics;
use crate::receiver::redact::DroppedAttributes;
use crate::receiver::span::{Batch, LogRecord, MetricPoint, SpanRecord};

/// Largest request body accepted, compressed or not (OTLP exporters batch 512 spans by
/// default, well under 1 MiB; collectors send larger batches, rarely over a few MiB).
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// Seconds an exporter is asked to wait before retrying when the receiver is full: long enough
/// for assembly to drain a burst, short enough that a batch processor's queue does not fill.
pub const RETRY_AFTER_SECS: u64 = 1;

/// The handle both endpoints share: admission, the queue to the journal, and the counters of
/// what was rejected or refused (spans accepted are counted by assembly, which keeps them).
#[derive(Debug, Clone)]
pub struct Ingest {
    tx: mpsc::Sender<Submission>,
    admission: Admission,
    metrics: ReceiverMetrics,
    dropped: Option<std::sync::Arc<DroppedAttributes>>,
}

impl Ingest {
    /// A handle over the queue to the journal, admitting what `admission` allows.
    pub fn new(
        tx: mpsc::Sender<Submission>,
        admission: Admission,
        metrics: ReceiverMetrics,
    ) -> Self {
        Ingest {
            tx,
            admission,
            metrics,
            dropped: None,
        }
    }

    /// The handle, taking `dropped` attribute keys off every record before the journal.
    pub fn dropping(self, dropped: DroppedAttributes) -> Self {
        Ingest {
            dropped: (!dropped.is_empty()).then(|| std::sync::Arc::new(dropped)),
            ..self
        }
    }

    /// Hands spans to the journal and waits until they are durable, or says why not (the
    /// caller answers "retry later"). `rejected` spans of the request were unusable.
    pub async fn submit_spans(
        &self,
        mut spans: Vec<SpanRecord>,
        rejected: i64,
    ) -> Result<(), Refusal> {
        self.metrics.spans_rejected(rejected.max(0) as u64);
        if spans.is_empty() {
            return Ok(());
        }
        if let Some(dropped) = &self.dropped {
            spans.iter_mut().for_each(|s| dropped.apply_to_span(s));
        }
        let n = spans.len() as u64;
        let answer = self.submit(Batch::Spans(spans)).await;
        if answer.is_err() {
            self.metrics.spans_refused(n);
        }
        answer
    }

    /// Hands log records to the journal and waits until they are durable.
    pub async fn submit_logs(&self, mut logs: Vec<LogRecord>) -> Result<(), Refusal> {
        if logs.is_empty() {
            return Ok(());
        }
        if let Some(dropped) = &self.dropped {
            logs.iter_mut().for_each(|l| dropped.apply_to_log(l));
        }
        self.submit(Batch::Logs(logs)).await
    }

    /// Counts the data points of a metrics request, and hands the usage points that name a call
    /// to the journal, waiting until they are durable.
    pub async fn submit_points(
        &self,
        points: Vec<MetricPoint>,
        received: u64,
    ) -> Result<(), Refusal> {
        self.metrics.metric_points(received);
        if points.is_empty() {
            return Ok(());
        }
        self.submit(Batch::Points(points)).await
    }

    async fn submit(&self, batch: Batch) -> Result<(), Refusal> {
        self.admission.check(&batch)?;
        let (ack, answer) = oneshot::channel();
        self.tx
            .try_send(Submission { batch, ack })
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => Refusal::QueueFull,
                mpsc::error::TrySendError::Closed(_) => Refusal::ShuttingDown,
            })?;
        match answer.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(NotJournaled::WriteFailed)) => Err(Refusal::JournalFailed),
            Ok(Err(NotJournaled::AssemblyStopped)) | Err(_) => Err(Refusal::ShuttingDown),
        }
    }
}
