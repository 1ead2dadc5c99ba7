//! Admission: whether ingest may take a batch now, or must tell the exporter to retry later.
//!
//! One object owns every bound that protects the receiver from more than it can hold:
//!
//! | bound | what it protects | who says how full it is |
//! |---|---|---|
//! | `max_spans_buffered` | memory: spans assembly holds (about 1 KiB each) | assembly, after each batch ([`Admission::assembly_holds`]) |
//! | `max_calls` | open calls: past it assembly would have to close the oldest early, incomplete | assembly, after each batch |
//! | `max_outbox` | disk: undelivered outbox entries while a sink is down | the store's watcher ([`Admission::outbox_holds`]) |
//!
//! [`Admission::check`] answers from what it was last told: it never reads the store or waits.
//! A bound can be overshot by what passes between two reports (a batch or two); assembly's own
//! eviction and the per-call span bound stay as the last line. The refusals of the journal and
//! of the queue to it ([`Refusal::QueueFull`], [`Refusal::JournalFailed`],
//! [`Refusal::ShuttingDown`]) come from [`super::Ingest`] sending the batch, not from here.

use foldhash::HashSet;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};

use crate::receiver::span::{Batch, SpanRecord, TraceId};

/// Why a batch was not taken. Every variant means "retry later": the exporter keeps the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The queue to the journal is full: too many requests in flight.
    QueueFull,
    /// Assembly holds as many spans as the memory bound allows.
    MemoryFull,
    /// The outbox holds as many undelivered entries as it may (a sink is down or slow).
    OutboxFull,
    /// The batch would open more calls than assembly may hold open at once.
    TooManyCalls,
    /// The journal could not be written (disk full, I/O error).
    JournalFailed,
    /// The receiver is shutting down.
    ShuttingDown,
}

impl Refusal {
    /// The message sent to the exporter.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::QueueFull => "voicetrace is busy: too many requests in flight, retry later",
            Refusal::MemoryFull => {
                "voicetrace holds as many spans as its memory bound allows, retry later"
            }
            Refusal::OutboxFull => {
                "voicetrace's outbox is full (a sink is down or slow), retry later"
            }
            Refusal::TooManyCalls => {
                "voicetrace holds as many open calls as it may (max_calls), retry later"
            }
            Refusal::JournalFailed => "voicetrace cannot write its span journal, retry later",
            Refusal::ShuttingDown => "voicetrace is shutting down, retry later",
        }
    }

    /// Whether the refusal is about the receiver's memory (HTTP 429 / `RESOURCE_EXHAUSTED`)
    /// rather than its availability (503 / `UNAVAILABLE`).
    pub fn is_exhaustion(self) -> bool {
        self == Refusal::MemoryFull
    }
}

/// The bounds admission enforces; `usize::MAX` / 0 outbox: unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Spans assembly may hold.
    pub max_spans_buffered: usize,
    /// Calls assembly may hold open (waiting for their root or their grace).
    pub max_calls: usize,
    /// Undelivered outbox entries; 0: no bound.
    pub max_outbox: u64,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            max_spans_buffered: usize::MAX,
            max_calls: usize::MAX,
            max_outbox: 0,
        }
    }
}

/// What assembly holds after a batch, as it reports it to [`Admission::assembly_holds`].
#[derive(Debug, Clone, Copy)]
pub struct AssemblyHolds<'a> {
    /// Spans held in memory.
    pub spans: usize,
    /// Calls still open.
    pub open_calls: usize,
    /// Calls the batch touched (held now).
    pub touched: &'a [TraceId],
    /// Calls let go since the last report.
    pub released: &'a [TraceId],
}

/// The calls assembly holds, for the open-calls bound: ingest looks a batch's trace ids up only
/// near the bound.
#[derive(Debug, Default)]
struct HeldCalls {
    traces: HashSet<TraceId>,
    open: usize,
}

#[derive(Debug, Default)]
struct State {
    bounds: Bounds,
    spans: AtomicUsize,
    outbox: AtomicU64,
    calls: RwLock<HeldCalls>,
}

/// The admission decision and what it is based on. Cheap to clone: clones share the state.
#[derive(Debug, Clone, Default)]
pub struct Admission {
    state: Arc<State>,
}

impl Admission {
    /// Admission with these bounds, everything empty.
    pub fn new(bounds: Bounds) -> Self {
        Admission {
            state: Arc::new(State {
                bounds,
                ..State::default()
            }),
        }
    }

    /// The bounds it enforces.
    pub fn bounds(&self) -> Bounds {
        self.state.bounds
    }

    /// Whether the batch may be taken now.
    pub fn check(&self, batch: &Batch) -> Result<(), Refusal> {
        let spans = match batch {
            Batch::Spans(spans) => spans,
            Batch::Logs(_) | Batch::Points(_) if self.outbox_full() => {
                return Err(Refusal::OutboxFull)
            }
            Batch::Logs(_) | Batch::Points(_) => return Ok(()),
        };
        let held = self.state.spans.load(Ordering::Relaxed);
        if held.saturating_add(spans.len()) > self.state.bounds.max_spans_buffered {
            return Err(Refusal::MemoryFull);
        }
        if self.outbox_full() {
            return Err(Refusal::OutboxFull);
        }
        if self.opens_too_many(spans) {
            return Err(Refusal::TooManyCalls);
        }
        Ok(())
    }

    /// Assembly reports what it holds after a batch (or a tick).
    pub fn assembly_holds(&self, holds: AssemblyHolds<'_>) {
        self.state.spans.store(holds.spans, Ordering::Relaxed);
        if let Ok(mut calls) = self.state.calls.write() {
            calls.traces.extend(holds.touched.iter().copied());
            for trace_id in holds.released {
                calls.traces.remove(trace_id);
            }
            calls.open = holds.open_calls;
        }
    }

    /// The store's watcher reports how many outbox entries are undelivered.
    pub fn outbox_holds(&self, undelivered: u64) {
        self.state.outbox.store(undelivered, Ordering::Relaxed);
    }

    fn outbox_full(&self) -> bool {
        let max = self.state.bounds.max_outbox;
        max > 0 && self.state.outbox.load(Ordering::Relaxed) >= max
    }

    /// Whether `spans` would take the open calls past `max_calls`.
    fn opens_too_many(&self, spans: &[SpanRecord]) -> bool {
        let max_calls = self.state.bounds.max_calls;
        let Ok(held) = self.state.calls.read() else {
            return false;
        };
        if held.open.saturating_add(spans.len()) <= max_calls {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::span::{Attributes, SpanStatus};

    fn span(trace: u8) -> SpanRecord {
        SpanRecord {
            trace_id: [trace; 16],
            span_id: [1; 8],
            parent_span_id: None,
            name: "turn".into(),
            start_unix_nano: 1,
            end_unix_nano: 2,
            status: SpanStatus::Unset,
            attributes: Attributes::default(),
            events: Vec::new(),
            resource: None,
        }
    }

    fn spans(traces: &[u8]) -> Batch {
        Batch::Spans(traces.iter().map(|&t| span(t)).collect())
    }

    fn holds(admission: &Admission, spans: usize, open: usize, touched: &[TraceId]) {
        admission.assembly_holds(AssemblyHolds {
            spans,
            open_calls: open,
            touched,
            released: &[],
        });
    }

    #[test]
    fn spans_past_the_memory_bound_are_refused() {
        let admission = Admission::new(Bounds {
            max_spans_buffered: 3,
            ..Bounds::default()
        });
        assert_eq!(admission.check(&spans(&[1, 1, 1])), Ok(()));
        holds(&admission, 2, 1, &[[1; 16]]);
        assert_eq!(admission.check(&spans(&[1, 1])), Err(Refusal::MemoryFull));
        assert_eq!(admission.check(&spans(&[1])), Ok(()));
    }

    #[test]
    fn new_calls_past_max_calls_are_refused_spans_of_held_calls_are_not() {
        let admission = Admission::new(Bounds {
            max_calls: 1,
            ..Bounds::default()
        });
        holds(&admission, 1, 1, &[[1; 16]]);
        assert_eq!(admission.check(&spans(&[1, 1])), Ok(()));
        assert_eq!(admission.check(&spans(&[2])), Err(Refusal::TooManyCalls));
        admission.assembly_holds(AssemblyHolds {
            spans: 0,
            open_calls: 0,
            touched: &[],
            released: &[[1; 16]],
        });
        assert_eq!(admission.check(&spans(&[2])), Ok(()));
    }

    #[test]
    fn a_full_outbox_refuses_spans_and_logs_until_it_drains() {
        let admission = Admission::new(Bounds {
            max_outbox: 10,
            ..Bounds::default()
        });
        admission.outbox_holds(10);
        assert_eq!(admission.check(&spans(&[1])), Err(Refusal::OutboxFull));
        assert_eq!(
            admission.check(&Batch::Logs(Vec::new())),
            Err(Refusal::OutboxFull)
        );
        admission.outbox_holds(9);
        assert_eq!(admission.check(&spans(&[1])), Ok(()));
    }

    #[test]
    fn no_outbox_bound_by_default() {
        let admission = Admission::new(Bounds::default());
        admission.outbox_holds(u64::MAX);
        assert_eq!(admission.check(&spans(&[1])), Ok(()));
    }
}
