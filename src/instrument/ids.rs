//! The call's trace id, chosen the way the SDK supports: an [`IdGenerator`].
//!
//! A call's root span must be a real root (no parent), or trace backends do not list it: Phoenix
//! filters its traces on `parent_id is None`, Jaeger and Tempo flag a missing parent. Yet its
//! trace id must be the one derived from the call id (CONVENTIONS.md section 2). The SDK asks
//! its id generator for a trace id exactly when it starts a span without a valid parent, and
//! asks it on the thread that starts the span. So [`Call`](super::Call) puts the derived id in
//! a thread-local slot, starts its root span at once, and empties the slot; [`CallIdGenerator`]
//! hands out the id in the slot if there is one, and a random id otherwise. Every other span
//! (children, unrelated roots, spans on other threads) gets what the default generator gives.
//!
//! Nothing is shared between threads, so many calls opening at once on a multi-thread runtime
//! cannot swap ids: the slot is filled and emptied within one synchronous call on one thread.

use std::cell::Cell;

use opentelemetry::trace::{SpanId, TraceId};
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator};

thread_local! {
    /// The trace id the next root span started on this thread takes.
    static NEXT_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// Gives a call's root span the trace id derived from its call id, and random ids to
/// everything else.
///
/// [`init`](super::init) installs it; an application that builds its own `SdkTracerProvider`
/// adds it with `.with_id_generator(CallIdGenerator::default())` (and
/// [`CallIdProcessor`](super::CallIdProcessor) as its first span processor). Without it a call's
/// trace id is random: [`Call::trace_id`](super::Call::trace_id) then reports the random id,
/// and the crate warns once.
#[derive(Debug, Clone, Default)]
pub struct CallIdGenerator {
    random: RandomIdGenerator,
}

impl IdGenerator for CallIdGenerator {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE_ID
            .with(Cell::take)
            .unwrap_or_else(|| self.random.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.random.new_span_id()
    }
}

/// Runs `start` (which must start one root span, synchronously, on this thread) with
/// `trace_id` waiting in the slot, and empties the slot afterwards whether or not a span took
/// it (no OpenTelemetry layer, a filtered-out span, a panic).
pub(crate) fn with_next_trace_id<R>(trace_id: TraceId, start: impl FnOnce() -> R) -> R {
    struct Empty;
    impl Drop for Empty {
        fn drop(&mut self) {
            NEXT_TRACE_ID.with(|slot| slot.set(None));
        }
    }
    NEXT_TRACE_ID.with(|slot| slot.set(Some(trace_id)));
    let _empty = Empty;
    start()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slot_serves_one_trace_id_then_random_ones() {
        let generator = CallIdGenerator::default();
        let wanted = TraceId::from_bytes([7; 16]);
        let (first, second) = with_next_trace_id(wanted, || {
            (generator.new_trace_id(), generator.new_trace_id())
        });
        assert_eq!(first, wanted);
        assert_ne!(second, wanted, "the slot is taken once");
        assert_ne!(generator.new_trace_id(), wanted);
    }

    #[test]
    fn an_unused_slot_is_emptied() {
        let generator = CallIdGenerator::default();
        let wanted = TraceId::from_bytes([9; 16]);
        with_next_trace_id(wanted, || ());
        assert_ne!(generator.new_trace_id(), wanted);
    }

    #[test]
    fn other_threads_never_see_the_slot() {
        let generator = CallIdGenerator::default();
        let wanted = TraceId::from_bytes([3; 16]);
        let elsewhere = with_next_trace_id(wanted, || {
            let g = generator.clone();
            std::thread::spawn(move || g.new_trace_id()).join().unwrap()
        });
        assert_ne!(elsewhere, wanted);
    }
}
