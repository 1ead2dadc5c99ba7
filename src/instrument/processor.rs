//! Puts the call id on every span of a call.
//!
//! CONVENTIONS.md asks for `conversation.id` on every span, including spans an agent writes
//! with plain `tracing` macros that know nothing of the call. [`Call`](super::Call) registers
//! its trace id → call id here while it is open; [`CallIdProcessor`] runs first in the SDK's
//! processor chain and stamps the id onto each span of a registered trace as it starts.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use opentelemetry::trace::{Span as _, TraceId};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::semconv;

/// Open calls: trace id → (call id, number of open `Call` handles with that trace id).
type Registry = RwLock<HashMap<TraceId, (Arc<str>, usize)>>;

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(Default::default)
}

/// Keeps a call registered while it lives.
#[derive(Debug)]
pub(crate) struct Registration {
    trace_id: TraceId,
}

impl Registration {
    pub(crate) fn new(trace_id: TraceId, call_id: Arc<str>) -> Self {
        if let Ok(mut map) = registry().write() {
            map.entry(trace_id).or_insert((call_id, 0)).1 += 1;
        }
        Registration { trace_id }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if let Ok(mut map) = registry().write() {
            if let Some(entry) = map.get_mut(&self.trace_id) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    map.remove(&self.trace_id);
                }
            }
        }
    }
}

/// The call id registered for a trace, if a call with that trace is open.
pub(crate) fn call_id_for(trace_id: TraceId) -> Option<Arc<str>> {
    registry().read().ok()?.get(&trace_id).map(|(id, _)| id.clone())
}

/// Stamps `conversation.id` on every span of an open call.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallIdProcessor;

impl SpanProcessor for CallIdProcessor {
    fn on_start(&self, span: &mut Span, _cx: &Context) {
        let trace_id = span.span_context().trace_id();
        if let Some(call_id) = call_id_for(trace_id) {
            span.set_attribute(KeyValue::new(semconv::CONVERSATION_ID, call_id.to_string()));
        }
    }

    fn on_end(&self, _span: SpanData) {}

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}
