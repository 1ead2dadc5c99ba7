//! One turn's timing figures (CONVENTIONS.md section 4) and where each came from: the stage
//! figures from the first stage span that did not fail before its first output (a failure's
//! first-byte attribute is its time to failure, not a latency), a speech-to-speech turn's model
//! figure in place of the three stages, and the voice-to-voice latency measured, else the gap
//! between the speech spans, else estimated.

use std::collections::BTreeMap;

use crate::receiver::calllog::{Stage, TimingSource};
use crate::receiver::span::{SpanRecord, SpanStatus};

use super::attrs::text;
use super::dialect::{Fallback, FigureRule, Reach, Rules};
use super::group::TurnParts;
use super::index::SpanIndex;
use super::timing::{first_secs, nanos_to_ms, stage_figure};

/// Names of the figures in a turn's `timingSource`.
pub const STT_MS: &str = "sttMs";
/// See [`STT_MS`].
pub const LLM_MS: &str = "llmMs";
/// See [`STT_MS`].
pub const TTS_MS: &str = "ttsMs";
/// See [`STT_MS`].
pub const S2S_MS: &str = "s2sMs";
/// See [`STT_MS`].
pub const LATENCY_MS: &str = "latencyMs";
/// See [`STT_MS`].
pub const ENDPOINTING_MS: &str = "endpointingMs";

/// A turn's timing figures and where each came from.
#[derive(Debug, PartialEq, Default)]
pub struct Timing {
    /// `sttMs`: 0 when the turn has no STT (a greeting), none on a speech-to-speech turn.
    pub stt_ms: Option<i64>,
    /// `llmMs`.
    pub llm_ms: Option<i64>,
    /// `ttsMs`.
    pub tts_ms: Option<i64>,
    /// `s2sMs`.
    pub s2s_ms: Option<i64>,
    /// `latencyMs` as measured by the framework (the speech gap and the estimate come later).
    pub measured_latency_ms: Option<i64>,
    /// `endpointingMs`.
    pub endpointing_ms: Option<i64>,
    /// The turn has a user part (else the agent spoke first: a greeting).
    pub user_spoke: bool,
    /// Where each figure came from.
    pub sources: BTreeMap<String, TimingSource>,
}

/// The figures each by its rule. A speech-to-speech turn (one with an s2s span) has no stt,
/// llm or tts stage: those are none, not 0.
pub fn timing(index: &SpanIndex, rules: &Rules, parts: &TurnParts) -> Timing {
    let mut sources = BTreeMap::new();
    let mut read = |name: &str, rule: &FigureRule| {
        read_figure(index, rules, parts, rule).map(|(ms, source)| {
            sources.insert(name.to_string(), source);
            ms
        })
    };
    let figures = rules.figures;
    let s2s_turn = parts.first(Stage::S2s).is_some();
    let s2s_ms = read(S2S_MS, &figures.s2s);
    let (stt, llm_ms, tts_ms) = if s2s_turn {
        (None, None, None)
    } else {
        (
            read(STT_MS, &figures.stt),
            read(LLM_MS, &figures.llm),
            read(TTS_MS, &figures.tts),
        )
    };
    let measured_latency_ms = read(LATENCY_MS, &figures.latency);
    let endpointing_ms = read(ENDPOINTING_MS, &figures.endpointing);
    let user_spoke = stt.is_some()
        || parts.user_turn.is_some()
        || !parts.user_speech.is_empty()
        || has_any(parts, rules.user_spoke);
    Timing {
        stt_ms: if s2s_turn {
            None
        } else {
            Some(stt.unwrap_or(0))
        },
        llm_ms,
        tts_ms,
        s2s_ms,
        measured_latency_ms,
        endpointing_ms,
        user_spoke,
        sources,
    }
}

/// One figure by its rule: the first usable span of its stages, else seconds on the turn
/// span, else on the user's turn span.
fn read_figure(
    index: &SpanIndex,
    rules: &Rules,
    parts: &TurnParts,
    rule: &FigureRule,
) -> Option<(i64, TimingSource)> {
    let usable = |s: &&SpanRecord| !failed_before_output(s, rules.failed, rule.output);
    if let Some(span) = rule
        .stages
        .iter()
        .find_map(|stage| parts.of(*stage).find(usable))
    {
        return span_figure(index, span, rule);
    }
    let on = |span: Option<&SpanRecord>, keys: &[&str]| {
        span.and_then(|s| first_secs(&s.attributes, keys))
    };
    on(parts.turn, rule.turn_keys)
        .or_else(|| on(parts.user_turn, rule.user_turn_keys))
        .map(|ms| (ms, TimingSource::Ttfb))
}

/// A stage span's figure: its first-byte key (or its descendants', where the rule reaches
/// them), else what the rule falls back to.
fn span_figure(
    index: &SpanIndex,
    span: &SpanRecord,
    rule: &FigureRule,
) -> Option<(i64, TimingSource)> {
    let below = match rule.reach {
        Reach::Span => Vec::new(),
        Reach::Subtree => {
            let mut below = index.descendants(span);
            below.sort_by_key(|s| s.start_unix_nano);
            below
        }
    };
    let keyed = std::iter::once(span)
        .chain(below)
        .find_map(|s| first_secs(&s.attributes, rule.span_keys));
    match (keyed, rule.fallback) {
        (Some(ms), _) => Some((ms, TimingSource::Ttfb)),
        (None, Fallback::Duration) => Some(stage_figure(span, rule.span_keys)),
        (None, Fallback::Nothing) => None,
    }
}

/// Whether a span failed (ERROR status, or a `failed` flag) before it produced any output (no
/// key of `output` holds text): its first-byte attribute is then the time until it failed.
pub fn failed_before_output(span: &SpanRecord, failed: &[&str], output: &[&str]) -> bool {
    let failed = matches!(span.status, SpanStatus::Error(_))
        || failed.iter().any(|k| span.attributes.bool(k) == Some(true));
    failed && text(&span.attributes, output).is_none()
}

/// Whether the turn span holds any of `keys`.
fn has_any(parts: &TurnParts, keys: &[&str]) -> bool {
    parts
        .turn
        .is_some_and(|t| keys.iter().any(|k| t.attributes.get(k).is_some()))
}

/// `latencyMs`: measured, else the gap between the caller's last word and the agent's first
/// audio when spans are both (source `spans`), else on a turn with a user part the model's
/// time to first audio (speech-to-speech) or `sttMs + llmMs + ttsMs` (source `estimated`);
/// none on a greeting.
pub fn latency(
    timing: &mut Timing,
    user_end: Option<(u64, TimingSource)>,
    agent_start: Option<(u64, TimingSource)>,
) -> Option<i64> {
    if timing.measured_latency_ms.is_some() {
        return timing.measured_latency_ms;
    }
    if !timing.user_spoke {
        return None;
    }
    let (source, ms) = match (user_end, agent_start) {
        (Some((end, TimingSource::Spans)), Some((start, TimingSource::Spans))) if start >= end => {
            (TimingSource::Spans, nanos_to_ms(start - end))
        }
        _ => (
            TimingSource::Estimated,
            timing.s2s_ms.unwrap_or_else(|| {
                estimated_latency(timing.stt_ms.unwrap_or(0), timing.llm_ms, timing.tts_ms)
            }),
        ),
    };
    timing.sources.insert(LATENCY_MS.to_string(), source);
    Some(ms)
}

/// `latencyMs` where nothing measured it: `sttMs + llmMs + ttsMs` (saturating).
pub fn estimated_latency(stt_ms: i64, llm_ms: Option<i64>, tts_ms: Option<i64>) -> i64 {
    stt_ms
        .saturating_add(llm_ms.unwrap_or(0))
        .saturating_add(tts_ms.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::super::dialect::{LIVEKIT, PIPECAT};
    use super::super::group::turns;
    use super::super::test_support::{span, MS, T0};
    use super::*;
    use crate::semconv::{self, livekit};

    fn timing_of(spans: &[SpanRecord], rules: &Rules) -> Timing {
        let index = SpanIndex::new(spans);
        let parts = turns(&index, rules);
        timing(&index, rules, &parts[0])
    }

    #[test]
    fn a_request_that_failed_before_its_first_token_is_not_the_figure() {
        let spans = [
            span(1, semconv::SPAN_TURN)
                .at(0, 5000)
                .attr(semconv::TURN_USER_TEXT, "hi")
                .build(),
            span(2, semconv::SPAN_LLM)
                .parent(1)
                .at(100, 1500)
                .attr(semconv::METRICS_TTFB, 1.4)
                .error("Error during completion")
                .build(),
            span(3, semconv::SPAN_LLM)
                .parent(1)
                .at(1600, 2000)
                .attr(semconv::METRICS_TTFB, 0.25)
                .attr("output", "Hello!")
                .build(),
        ];
        let t = timing_of(&spans, &PIPECAT);
        assert_eq!(t.llm_ms, Some(250), "the answer the caller heard");
        let cut = [
            spans[0].clone(),
            span(2, semconv::SPAN_LLM)
                .parent(1)
                .at(100, 1500)
                .attr(semconv::METRICS_TTFB, 0.3)
                .attr("output", "Hel")
                .error("stream cut")
                .build(),
        ];
        assert_eq!(
            timing_of(&cut, &PIPECAT).llm_ms,
            Some(300),
            "failed after its first token"
        );
        let only_failed = [spans[0].clone(), spans[1].clone()];
        assert_eq!(timing_of(&only_failed, &PIPECAT).llm_ms, None);
    }

    #[test]
    fn a_speech_to_speech_turn_has_its_model_figure_and_no_stages() {
        let spans = [
            span(1, livekit::SPAN_AGENT_TURN).at(0, 3000).build(),
            span(2, livekit::SPAN_REALTIME_INFERENCE)
                .parent(1)
                .at(0, 3000)
                .build(),
            span(3, "realtime_metrics")
                .parent(2)
                .at(3100, 3100)
                .attr(semconv::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK, 0.42)
                .build(),
        ];
        let t = timing_of(&spans, &LIVEKIT);
        assert_eq!(
            (t.s2s_ms, t.stt_ms, t.llm_ms, t.tts_ms),
            (Some(420), None, None, None)
        );
        assert_eq!(t.sources[S2S_MS], TimingSource::Ttfb);
        let bare = [spans[0].clone(), spans[1].clone()];
        assert_eq!(
            timing_of(&bare, &LIVEKIT).s2s_ms,
            None,
            "its duration is the whole reply"
        );
    }

    #[test]
    fn latency_is_measured_else_the_speech_gap_else_estimated() {
        let mut t = Timing {
            user_spoke: true,
            stt_ms: Some(200),
            llm_ms: Some(300),
            ..Timing::default()
        };
        let spans = |at: u64| Some((T0 + at * MS, TimingSource::Spans));
        assert_eq!(latency(&mut t, spans(1000), spans(1420)), Some(420));
        assert_eq!(t.sources[LATENCY_MS], TimingSource::Spans);
        let derived = Some((T0 + 1420 * MS, TimingSource::Derived));
        assert_eq!(latency(&mut t, spans(1000), derived), Some(500));
        assert_eq!(t.sources[LATENCY_MS], TimingSource::Estimated);
        t.s2s_ms = Some(350);
        assert_eq!(latency(&mut t, None, None), Some(350));
        t.measured_latency_ms = Some(900);
        assert_eq!(latency(&mut t, spans(1000), spans(1420)), Some(900));
        let mut greeting = Timing::default();
        assert_eq!(latency(&mut greeting, None, spans(100)), None);
    }
}
