//! One turn of the call log from its spans ([`TurnParts`]): the timing model's figures and where
//! each came from (CONVENTIONS.md section 4), the turn's extent and stage durations, the user's
//! and the agent's texts, interruption, providers, tokens and characters, errors and tools.
//!
//! Every key is read through the call's [`Rules`]; nothing here knows a dialect by name.

use std::collections::BTreeMap;

use crate::receiver::calllog::{
    Interruption, Speaker, Stage, StageError, StageExtent, StageProvider, TimingSource,
    ToolExecution, Turn,
};
use crate::receiver::span::{Attributes, SpanRecord, SpanStatus};
use crate::semconv;

use super::attrs::{flag, int, joined, sum, text};
use super::dialect::{
    FigureRule, InterruptionKeys, ProviderRule, ProviderSpan, Rules, TextSource, ToolKeys, Usage,
};
use super::group::TurnParts;
use super::index::SpanIndex;
use super::timing::{first_secs, nanos_to_ms, offset_ms, stage_figure};

/// Names of the figures in a turn's `timingSource`.
const STT_MS: &str = "sttMs";
const LLM_MS: &str = "llmMs";
const TTS_MS: &str = "ttsMs";
const LATENCY_MS: &str = "latencyMs";
const ENDPOINTING_MS: &str = "endpointingMs";

/// Message of a failed span that says nothing about why.
const UNKNOWN_ERROR: &str = "error";
/// Message of a tool that reported its own failure without one.
const TOOL_ERROR: &str = "tool returned an error";

/// The turn at `position` in the call, from its spans; times relative to `origin` (Unix ns).
pub fn build_turn<'a>(
    index: &SpanIndex<'a>,
    rules: &Rules,
    parts: &TurnParts<'a>,
    position: u32,
    origin: u64,
) -> Turn {
    let timing = timing(rules, parts);
    let (start, end) = extent(parts, origin);
    let usage = usage(index, rules.usage, parts);
    Turn {
        index: position,
        speaker: if timing.user_spoke {
            Speaker::User
        } else {
            Speaker::Agent
        },
        text: read_text(parts, rules.agent_text),
        user_text: read_text(parts, rules.user_text),
        start_ms: offset_ms(start, origin),
        end_ms: offset_ms(end, origin),
        stt_ms: Some(timing.stt_ms),
        llm_ms: timing.llm_ms,
        tts_ms: timing.tts_ms,
        latency_ms: timing.latency_ms,
        endpointing_ms: timing.endpointing_ms,
        stt_duration_ms: total_ms(parts.of(Stage::Stt)),
        llm_duration_ms: total_ms(parts.of(Stage::Llm)),
        tts_duration_ms: total_ms(parts.of(Stage::Tts)),
        tool_ms: total_ms(parts.of(Stage::Tool)),
        interrupted: interrupted(parts, rules.interrupted),
        interruption: interruption(parts, rules.interruption),
        tools: parts
            .of(Stage::Tool)
            .map(|s| tool_execution(s, rules.tools, rules.failed, origin))
            .collect(),
        timing_source: timing.sources,
        providers: providers(parts, rules.providers),
        llm_input_tokens: usage.input_tokens,
        llm_output_tokens: usage.output_tokens,
        tts_characters: usage.characters,
        errors: errors(parts, rules.failed),
        stage_spans: parts
            .stages
            .iter()
            .map(|(stage, span)| StageExtent {
                stage: *stage,
                start_ms: offset_ms(span.start_unix_nano, origin),
                duration_ms: nanos_to_ms(span.duration_nanos()),
            })
            .collect(),
    }
}

/// A turn's timing figures and where each came from.
#[derive(Debug, PartialEq)]
struct Timing {
    /// `sttMs`: 0 when the turn has no STT (a greeting).
    stt_ms: i64,
    llm_ms: Option<i64>,
    tts_ms: Option<i64>,
    latency_ms: Option<i64>,
    endpointing_ms: Option<i64>,
    /// The turn has a user part (else the agent spoke first: a greeting).
    user_spoke: bool,
    sources: BTreeMap<String, TimingSource>,
}

/// The timing model: each figure by its rule; `latencyMs` measured, else estimated on a turn
/// with a user part (never the sum in place of a measurement).
fn timing(rules: &Rules, parts: &TurnParts) -> Timing {
    let mut sources = BTreeMap::new();
    let mut read = |name: &str, rule: &FigureRule| {
        read_figure(parts, rule).map(|(ms, source)| {
            sources.insert(name.to_string(), source);
            ms
        })
    };
    let figures = rules.figures;
    let stt = read(STT_MS, &figures.stt);
    let llm_ms = read(LLM_MS, &figures.llm);
    let tts_ms = read(TTS_MS, &figures.tts);
    let measured = read(LATENCY_MS, &figures.latency);
    let endpointing_ms = read(ENDPOINTING_MS, &figures.endpointing);
    let user_spoke = stt.is_some() || parts.user_turn.is_some() || has_any(parts, rules.user_spoke);
    let stt_ms = stt.unwrap_or(0);
    let latency_ms = match measured {
        Some(ms) => Some(ms),
        None if user_spoke => {
            sources.insert(LATENCY_MS.to_string(), TimingSource::Estimated);
            Some(estimated_latency(stt_ms, llm_ms, tts_ms))
        }
        None => None,
    };
    Timing {
        stt_ms,
        llm_ms,
        tts_ms,
        latency_ms,
        endpointing_ms,
        user_spoke,
        sources,
    }
}

/// One figure by its rule: the first span of its stages (first-byte key, else duration), else
/// seconds on the turn span, else on the user's turn span.
fn read_figure(parts: &TurnParts, rule: &FigureRule) -> Option<(i64, TimingSource)> {
    if let Some(span) = rule.stages.iter().find_map(|s| parts.first(*s)) {
        return Some(stage_figure(span, rule.span_keys));
    }
    let on = |span: Option<&SpanRecord>, keys: &[&str]| {
        span.and_then(|s| first_secs(&s.attributes, keys))
    };
    on(parts.turn, rule.turn_keys)
        .or_else(|| on(parts.user_turn, rule.user_turn_keys))
        .map(|ms| (ms, TimingSource::Ttfb))
}

/// Whether the turn span holds a string under any of `keys`.
fn has_any(parts: &TurnParts, keys: &[&str]) -> bool {
    parts
        .turn
        .is_some_and(|t| keys.iter().any(|k| t.attributes.str(k).is_some()))
}

/// `latencyMs` where nothing measured it: `sttMs + llmMs + ttsMs` (saturating).
fn estimated_latency(stt_ms: i64, llm_ms: Option<i64>, tts_ms: Option<i64>) -> i64 {
    stt_ms
        .saturating_add(llm_ms.unwrap_or(0))
        .saturating_add(tts_ms.unwrap_or(0))
}

/// The turn's extent (Unix ns): its span (and the user's turn span), else its stages; `origin`
/// when it has neither.
fn extent(parts: &TurnParts, origin: u64) -> (u64, u64) {
    let spans: Vec<&SpanRecord> = match parts.turn {
        Some(_) => parts.own().collect(),
        None => parts.stages.iter().map(|(_, s)| *s).collect(),
    };
    let start = spans.iter().map(|s| s.start_unix_nano).min();
    let end = spans.iter().map(|s| s.end_unix_nano).max();
    (start.unwrap_or(origin), end.unwrap_or(origin))
}

/// Total wall time of `spans` in ms (saturating); none when there are none.
fn total_ms<'a>(spans: impl Iterator<Item = &'a SpanRecord>) -> Option<i64> {
    spans
        .map(|s| nanos_to_ms(s.duration_nanos()))
        .fold(None, |acc, ms| Some(acc.unwrap_or(0i64).saturating_add(ms)))
}

/// The first text `sources` give.
fn read_text(parts: &TurnParts, sources: &[TextSource]) -> Option<String> {
    sources.iter().find_map(|source| match *source {
        TextSource::Turn(keys) => parts.turn.and_then(|t| text(&t.attributes, keys)),
        TextSource::UserTurn(keys) => parts.user_turn.and_then(|t| text(&t.attributes, keys)),
        TextSource::Stages(stage, keys) => joined(parts.of(stage), keys),
        TextSource::LastUserMessage(stage, key) => parts
            .first(stage)
            .and_then(|s| last_user_message(&s.attributes, key)),
        TextSource::LastValue(stage, key) => parts
            .last(stage)
            .and_then(|s| s.attributes.str(key))
            .map(str::to_string),
    })
}

/// The last user message of the JSON messages under `key` (an array of `{role, parts|content}`,
/// as `gen_ai.input.messages`).
fn last_user_message(attrs: &Attributes, key: &str) -> Option<String> {
    let messages: Vec<serde_json::Value> = serde_json::from_str(attrs.str(key)?).ok()?;
    let last = messages.iter().rev().find(|m| m["role"] == "user")?;
    if let Some(content) = last["content"].as_str() {
        return Some(content.to_string());
    }
    let texts: Vec<&str> = last["parts"]
        .as_array()?
        .iter()
        .filter_map(|p| p["content"].as_str())
        .collect();
    (!texts.is_empty()).then(|| texts.join(" "))
}

/// Whether the turn span says the agent was interrupted.
fn interrupted(parts: &TurnParts, keys: &[&str]) -> bool {
    parts
        .turn
        .and_then(|t| flag(&t.attributes, keys))
        .unwrap_or(false)
}

/// The figures of the first interruption event on the turn span or its stage spans.
fn interruption(parts: &TurnParts, keys: &InterruptionKeys) -> Option<Interruption> {
    let stages = parts.stages.iter().map(|(_, s)| *s);
    let event = parts
        .turn
        .into_iter()
        .chain(stages)
        .flat_map(|s| s.events.iter())
        .find(|e| e.name == keys.event)?;
    let a = &event.attributes;
    Some(Interruption {
        detection_latency_ms: first_secs(a, keys.detection),
        stop_latency_ms: first_secs(a, keys.stop),
        bleed_through_words: int(a, keys.bleed_through),
    })
}

/// Provider and model of each stage that names either.
fn providers(parts: &TurnParts, rules: &[ProviderRule]) -> BTreeMap<Stage, StageProvider> {
    rules
        .iter()
        .filter_map(|rule| {
            let span = match rule.span {
                ProviderSpan::FirstOfStage => parts.first(rule.stage),
                ProviderSpan::FirstOfStageOrUserTurn => parts.first(rule.stage).or(parts.user_turn),
            }?;
            let provider = StageProvider {
                provider: text(&span.attributes, rule.provider),
                model: text(&span.attributes, rule.model),
            };
            (provider.provider.is_some() || provider.model.is_some())
                .then_some((rule.stage, provider))
        })
        .collect()
}

/// A turn's tokens and characters.
struct Counts {
    input_tokens: Option<i64>,
    output_tokens: Option<i64>,
    characters: Option<i64>,
}

/// Tokens over the model stages' spans and their descendants, characters over the speech
/// stages' (they may sit below the stage span: LiveKit's `llm_request`).
fn usage<'a>(index: &SpanIndex<'a>, keys: &Usage, parts: &TurnParts<'a>) -> Counts {
    let of = |stages: &[Stage]| index.subtree(stages.iter().flat_map(|s| parts.of(*s)));
    let models = of(keys.model_stages);
    let speech = of(keys.speech_stages);
    Counts {
        input_tokens: sum(&models, keys.input_tokens),
        output_tokens: sum(&models, keys.output_tokens),
        characters: sum(&speech, keys.characters),
    }
}

/// The turn's failed stage spans, in start order.
fn errors(parts: &TurnParts, failed: &[&str]) -> Vec<StageError> {
    parts
        .stages
        .iter()
        .filter_map(|(stage, s)| {
            failure(s, failed).map(|message| StageError {
                stage: *stage,
                message,
            })
        })
        .collect()
}

/// The message of a failed span (ERROR status, or a `failed` flag set): its first exception
/// event's message, else its status message.
fn failure(span: &SpanRecord, failed: &[&str]) -> Option<String> {
    let exception = span
        .events
        .iter()
        .find(|e| e.name == semconv::EVENT_EXCEPTION)
        .and_then(|e| e.attributes.str(semconv::EXCEPTION_MESSAGE))
        .map(str::to_string);
    match &span.status {
        SpanStatus::Error(message) => Some(exception.unwrap_or_else(|| {
            if message.is_empty() {
                UNKNOWN_ERROR.to_string()
            } else {
                message.clone()
            }
        })),
        _ if failed.iter().any(|k| span.attributes.bool(k) == Some(true)) => {
            Some(exception.unwrap_or_else(|| TOOL_ERROR.to_string()))
        }
        _ => None,
    }
}

/// One tool execution: name (else the span's name), arguments, result, timing, failure.
fn tool_execution(
    span: &SpanRecord,
    keys: &ToolKeys,
    failed: &[&str],
    origin: u64,
) -> ToolExecution {
    let a = &span.attributes;
    ToolExecution {
        name: text(a, keys.name).unwrap_or_else(|| span.name.to_string()),
        input: text(a, keys.input),
        output: text(a, keys.output),
        start_ms: offset_ms(span.start_unix_nano, origin),
        duration_ms: nanos_to_ms(span.duration_nanos()),
        error: failure(span, failed),
    }
}

#[cfg(test)]
mod tests;
