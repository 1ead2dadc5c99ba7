//! The agent side: instrument a voice agent's STT, LLM, TTS and tool stages.
//!
//! - [`pipeline`]: [`init`] / [`Config`] set up `tracing-opentelemetry` and the OTLP exporter
//!   from the standard environment variables; the [`VoicetraceGuard`] flushes on drop.
//! - [`call`]: typed helpers ([`Call`], [`TurnSpan`], [`Stage`]) that emit the spans and
//!   attributes of [`semconv`](crate::semconv), with the call's trace id derived from its id.
//! - [`processor`]: stamps `conversation.id` on every span of an open call, including plain
//!   `tracing` spans.
//! - the span macros ([`stt_span!`](crate::stt_span), [`llm_span!`](crate::llm_span), ...) for
//!   agents that prefer plain `tracing`.
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
mod macros;
pub mod pipeline;
pub mod processor;
pub mod simulate;

pub use call::{
    log_event, log_event_on, log_metric, log_metric_on, record_ttfb, Call, CallBuilder, Direction,
    EndReason, Interruption, MetricValue, Stage, StageKind, TurnSpan,
};
pub use pipeline::{init, otel_layer, Config, InitError, Protocol, VoicetraceGuard};
pub use processor::{CallIdProcessor, CallIdValue};
