//! # voicetrace
//!
//! OpenTelemetry observability for voice agents. A voice agent chains speech-to-text, a language
//! model and text-to-speech; when a caller waits, voicetrace shows which stage was slow, on which
//! turn of which call, and links to that call's trace.
//!
//! The crate has two faces, each behind a cargo feature (both on by default):
//!
//! - **`instrument`**, the agent side ([`instrument`]): [`init`] sets up the OTLP pipeline
//!   (`tracing-opentelemetry` + `opentelemetry-otlp`); typed helpers ([`Call`], [`TurnSpan`],
//!   [`StageSpan`]) and plain `tracing` macros emit the spans of [`semconv`], every span of a call
//!   carrying the call's trace id ([`trace_id`]).
//! - **`receiver`**, the server side ([`receiver`]): `voicetrace serve` accepts OTLP, assembles
//!   each call's spans into a call log with per-turn `sttMs`/`llmMs`/`ttsMs` and voice-to-voice
//!   latency, analyses it, and forwards it to sinks.
//!
//! Shared by both: [`semconv`] (every span and attribute name, the contract between the two
//! sides) and [`trace_id`] (the call id → trace id derivation).

#![warn(missing_docs)]
// The OpenAPI document is written with `serde_json::json!`, whose expansion of the call log
// schema goes deeper than the default limit of 128.
#![recursion_limit = "256"]

pub mod semconv;
pub mod trace_id;

#[cfg(feature = "instrument")]
pub mod instrument;
#[cfg(feature = "instrument")]
pub use instrument::{init, Call, CallBuilder, StageKind, StageSpan, TurnSpan, VoicetraceGuard};

#[cfg(feature = "receiver")]
pub mod receiver;
