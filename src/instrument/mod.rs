//! The agent side: instrument a voice agent's STT, LLM, TTS and tool stages.
//!
//! - [`pipeline`]: [`init`] / [`Config`] set up `tracing-opentelemetry` and the OTLP exporter
//!   from the standard environment variables; the [`VoicetraceGuard`] flushes on drop.
//! - [`call`]: typed helpers ([`Call`], [`TurnSpan`], [`StageSpan`]) that emit the spans and
//!   attributes of [`semconv`](crate::semconv), with the call's trace id derived from its id.
//! - [`ids`]: [`CallIdGenerator`], which gives a call's root span (a real root, with no parent)
//!   the trace id derived from the call id.
//! - [`processor`]: stamps `conversation.id` and `session.id` on every span of an open call,
//!   including plain `tracing` spans.
//! - [`content`]: whether text is copied into the GenAI and OpenInference content attributes
//!   (`OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT`, off by default), and their JSON.
//! - the span macros ([`stt_span!`](crate::stt_span), [`llm_span!`](crate::llm_span), ...) for
//!   agents that prefer plain `tracing`.
//!
//! - [`simulate`]: a simulated voice agent (fake STT, LLM, TTS) that `voicetrace demo` and the
//!   receiver's end-to-end tests run in-process.
//!
//! ## Plain `tracing` gets the same spans
//!
//! The helpers are thin wrappers over `tracing` spans, so an agent may write its stages with
//! plain `tracing` instead and export exactly the same spans (the tests compare the two). Three
//! rules:
//!
//! 1. **Open the call with [`Call`]**: its root span is a real root whose trace id is derived
//!    from the call id ([`CallIdGenerator`]), and [`CallIdProcessor`] stamps `conversation.id`
//!    and `session.id` on every span below it, plain ones included. (A root span of your own
//!    given a parent context carrying a [`CallIdValue`] gets the stamps, but a random trace
//!    id.)
//! 2. **Name spans and fields as [`semconv`](crate::semconv) does**, and declare the fields
//!    recorded later as `tracing::field::Empty` (`tracing` drops records of undeclared fields):
//!    `#[tracing::instrument(name = "llm", skip_all, fields(gen_ai.operation.name = "chat",
//!    openinference.span.kind = "LLM", metrics.ttfb = tracing::field::Empty))]`, or
//!    `info_span!("tts", gen_ai.operation.name = "tts", openinference.span.kind = "LLM",
//!    metrics.ttfb = Empty)` (`turn` spans are `"CHAIN"`, `tool_call` spans `"TOOL"`: without a
//!    kind Phoenix shows a span as UNKNOWN). The macros [`stt_span!`](crate::stt_span),
//!    [`llm_span!`](crate::llm_span), [`tts_span!`](crate::tts_span),
//!    [`tool_span!`](crate::tool_span) and [`s2s_span!`](crate::s2s_span) write those
//!    declarations for you. Durations are seconds as `f64`:
//!    `span.record("metrics.ttfb", ttfb.as_secs_f64())` or [`record_ttfb`].
//! 3. **Keep the parent**: a span's parent is the current span, which a spawned task does not
//!    inherit. Use `.instrument(span)` on the task's future, or `parent: &span` in the macro.
//!
//! `info!` / `warn!` lines written while a span of the call is current become events of that
//! span (the call's log lines).
//!
//! ```no_run
//! use std::time::Duration;
//! use voicetrace::instrument::{Call, EndReason};
//!
//! let _guard = voicetrace::init()?;
//! let call = Call::builder("call_123").agent_id("support-bot").start();
//! let turn = call.turn();
//! turn.user_text("Where is my order?");
//! let stt = turn.stt();
//! stt.provider("deepgram").first_byte();
//! stt.end();
//! let llm = turn.llm();
//! llm.model("gpt-4o-mini").ttfb(Duration::from_millis(420)).usage(812, 40);
//! llm.end();
//! drop(turn);
//! call.end(EndReason::ClientHangup);
//! # Ok::<(), voicetrace::instrument::InitError>(())
//! ```

pub mod call;
pub mod content;
pub mod ids;
mod macros;
pub mod pipeline;
pub mod processor;
pub mod simulate;

pub use call::{
    log_event, log_event_on, log_metric, log_metric_on, record_ttfb, BargeIn, Call, CallBuilder,
    Direction, EndReason, MetricValue, SpeechMark, StageKind, StageSpan, TurnSpan,
};
pub use ids::CallIdGenerator;
pub use pipeline::{init, otel_layer, Config, InitError, Protocol, VoicetraceGuard};
pub use processor::{CallIdProcessor, CallIdValue};
