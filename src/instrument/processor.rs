//! Puts the call id on every span of a call: `conversation.id`, and `session.id` (the name
//! OpenInference and Langfuse group a session's traces by).
//!
//! CONVENTIONS.md asks for `conversation.id` on every span, including spans an agent writes
//! with plain `tracing` macros that know nothing of the call. [`Call`](super::Call) parents its
//! root span on an OpenTelemetry [`Context`] that carries the call id as a context value
//! ([`CallIdValue`]). `tracing-opentelemetry` derives every child's parent context from its
//! parent's, so the value travels down the whole tree, across spawned tasks and plain `tracing`
//! spans alike. [`CallIdProcessor`] runs first in the SDK's processor chain and stamps the id
//! from the parent context onto each span as it starts.
//!
//! There is no registry and no lock: a span that closes after its call has ended (a stage that
//! outlived the call in a spawned task) is still stamped.

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::Span as _;
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{Span, SpanData, SpanProcessor};

use crate::semconv;

/// The call id, as an OpenTelemetry context value carried by every span context of a call.
#[derive(Debug, Clone)]
pub struct CallIdValue(pub Arc<str>);

/// Stamps `conversation.id` and `session.id` on every span whose parent context carries a
/// [`CallIdValue`].
///
/// [`init`](super::init) installs it; an application that builds its own `SdkTracerProvider`
/// adds it first, `.with_span_processor(CallIdProcessor)`, beside
/// `.with_id_generator(CallIdGenerator::default())` (see [`CallIdGenerator`](super::CallIdGenerator)).
#[derive(Debug, Clone, Copy, Default)]
pub struct CallIdProcessor;

impl SpanProcessor for CallIdProcessor {
    fn on_start(&self, span: &mut Span, cx: &Context) {
        if let Some(CallIdValue(call_id)) = cx.get::<CallIdValue>() {
            span.set_attribute(KeyValue::new(
                semconv::CONVERSATION_ID,
                Value::from(call_id.clone()),
            ));
            span.set_attribute(KeyValue::new(
                semconv::genai::SESSION_ID,
                Value::from(call_id.clone()),
            ));
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
