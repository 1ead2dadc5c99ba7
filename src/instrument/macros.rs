//! Span macros for agents that prefer plain `tracing`: each expands to `tracing::info_span!`
//! with the stage's name, its `gen_ai.operation.name` and `openinference.span.kind`, and the
//! fields voicetrace reads declared as `Empty` so they can be recorded later. Extra fields pass
//! through.
//!
//! ```
//! use std::time::Duration;
//! let span = voicetrace::llm_span!(gen_ai.request.model = "gpt-4o-mini");
//! let _entered = span.enter();
//! // ... request the model; when the first token arrives:
//! voicetrace::instrument::record_ttfb(&span, Duration::from_millis(420));
//! ```
//!
//! `#[tracing::instrument(name = "llm", fields(gen_ai.operation.name = "chat", metrics.ttfb = tracing::field::Empty))]`
//! gives the same span; record the ttfb with `tracing::Span::current().record("metrics.ttfb", secs)`.

/// An `stt` span (speech-to-text). `voicetrace::stt_span!()` or `stt_span!(parent: &turn, ...)`.
#[macro_export]
macro_rules! stt_span {
    (parent: $parent:expr $(, $($field:tt)*)?) => {
        ::tracing::info_span!(parent: $parent, "stt", gen_ai.operation.name = "stt",
            openinference.span.kind = $crate::semconv::openinference::KIND_LLM,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty $(, $($field)*)?)
    };
    ($($field:tt)*) => {
        ::tracing::info_span!("stt", gen_ai.operation.name = "stt",
            openinference.span.kind = $crate::semconv::openinference::KIND_LLM,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty, $($field)*)
    };
}

/// An `llm` span (one model request).
#[macro_export]
macro_rules! llm_span {
    (parent: $parent:expr $(, $($field:tt)*)?) => {
        ::tracing::info_span!(parent: $parent, "llm", gen_ai.operation.name = "chat",
            openinference.span.kind = $crate::semconv::openinference::KIND_LLM,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty $(, $($field)*)?)
    };
    ($($field:tt)*) => {
        ::tracing::info_span!("llm", gen_ai.operation.name = "chat",
            openinference.span.kind = $crate::semconv::openinference::KIND_LLM,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty, $($field)*)
    };
}

/// A `tts` span (text-to-speech).
#[macro_export]
macro_rules! tts_span {
    (parent: $parent:expr $(, $($field:tt)*)?) => {
        ::tracing::info_span!(parent: $parent, "tts", gen_ai.operation.name = "tts",
            openinference.span.kind = $crate::semconv::openinference::KIND_LLM,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty $(, $($field)*)?)
    };
    ($($field:tt)*) => {
        ::tracing::info_span!("tts", gen_ai.operation.name = "tts",
            openinference.span.kind = $crate::semconv::openinference::KIND_LLM,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty, $($field)*)
    };
}

/// A `tool_call` span (one tool execution); name it with `gen_ai.tool.name = "..."`.
#[macro_export]
macro_rules! tool_span {
    (parent: $parent:expr $(, $($field:tt)*)?) => {
        ::tracing::info_span!(parent: $parent, "tool_call", gen_ai.operation.name = "execute_tool",
            openinference.span.kind = $crate::semconv::openinference::KIND_TOOL,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty $(, $($field)*)?)
    };
    ($($field:tt)*) => {
        ::tracing::info_span!("tool_call", gen_ai.operation.name = "execute_tool",
            openinference.span.kind = $crate::semconv::openinference::KIND_TOOL,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty, $($field)*)
    };
}

/// An `s2s` span (speech-to-speech exchange).
#[macro_export]
macro_rules! s2s_span {
    (parent: $parent:expr $(, $($field:tt)*)?) => {
        ::tracing::info_span!(parent: $parent, "s2s", gen_ai.operation.name = "s2s",
            openinference.span.kind = $crate::semconv::openinference::KIND_LLM,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty $(, $($field)*)?)
    };
    ($($field:tt)*) => {
        ::tracing::info_span!("s2s", gen_ai.operation.name = "s2s",
            openinference.span.kind = $crate::semconv::openinference::KIND_LLM,
            gen_ai.provider.name = ::tracing::field::Empty, gen_ai.request.model = ::tracing::field::Empty,
            metrics.ttfb = ::tracing::field::Empty, $($field)*)
    };
}
