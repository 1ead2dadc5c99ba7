//! One turn of the call log from its spans ([`TurnParts`]): the timing model's figures and where
//! each came from (CONVENTIONS.md section 4), the turn's extent and stage durations, the user's
//! and the agent's texts, interruption, providers, tokens and characters, errors and tools.
//!
//! Every key is read through the call's [`Rules`]; nothing here knows a dialect by name.

use std::collections::BTreeMap;

use crate::receiver::calllog::{
    Interruption, Speaker, SpeechSegment, Stage, StageError, StageProvider, ToolExecution, Turn,
};
use crate::receiver::span::{Attributes, SpanRecord, SpanStatus};
use crate::semconv;

use super::attrs::{flag, int, joined, sum, text};
use super::dialect::{
    InterruptionKeys, ProviderRule, ProviderSpan, Rules, TextSource, ToolKeys, Usage,
};
use super::figures::{latency, timing};
use super::group::TurnParts;
use super::index::SpanIndex;
use super::speech::{agent_segments, user_edge, At, Edge, Known};
use super::timing::{first_secs, nanos_to_ms, offset_ms};

/// Names of the speech edges in a turn's `timingSource`.
const USER_START_MS: &str = "userStartMs";
const USER_END_MS: &str = "userEndMs";
const AGENT_START_MS: &str = "agentStartMs";
const AGENT_END_MS: &str = "agentEndMs";

/// How far below its stage span a failed attempt is looked for (LiveKit's is two levels down:
/// `llm_node` → `llm_request` → `llm_request_run`; 64 leaves room and bounds bad input).
const MAX_DEPTH: usize = 64;

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
    let mut timing = timing(index, rules, parts);
    let agent = agent_segments(parts, rules.speech);
    let mut known = Known {
        user_spoke: timing.user_spoke,
        agent_start: agent.start().map(|(t, _)| t),
        latency_ms: timing.measured_latency_ms,
    };
    let user_start = user_edge(parts, rules.speech.user_start, Edge::Start, known);
    let mut user_end = user_edge(parts, rules.speech.user_end, Edge::End, known);
    let latency_ms = latency(&mut timing, user_end, agent.start());
    if user_end.is_none() && timing.user_spoke {
        known.latency_ms = latency_ms;
        user_end = user_edge(parts, rules.speech.user_end, Edge::End, known);
    }
    let (user_start, user_end) = ordered(user_start, user_end);
    let mut sources = timing.sources;
    let mut edge = |name: &str, at: Option<At>| {
        at.map(|(t, source)| {
            sources.insert(name.to_string(), source);
            offset_ms(t, origin)
        })
    };
    let user_start_ms = edge(USER_START_MS, user_start);
    let user_end_ms = edge(USER_END_MS, user_end);
    let agent_start_ms = edge(AGENT_START_MS, agent.start());
    let agent_end_ms = edge(AGENT_END_MS, agent.end());
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
        stt_ms: timing.stt_ms,
        llm_ms: timing.llm_ms,
        tts_ms: timing.tts_ms,
        latency_ms,
        endpointing_ms: timing.endpointing_ms,
        s2s_ms: timing.s2s_ms,
        user_start_ms,
        user_end_ms,
        agent_start_ms,
        agent_end_ms,
        agent_speech: agent
            .segments
            .iter()
            .map(|(from, until)| SpeechSegment {
                start_ms: offset_ms(*from, origin),
                end_ms: offset_ms(*until, origin),
            })
            .collect(),
        stt_duration_ms: total_ms(parts.of(Stage::Stt)),
        llm_duration_ms: total_ms(parts.of(Stage::Llm)),
        tts_duration_ms: total_ms(parts.of(Stage::Tts)),
        tool_ms: total_ms(parts.of(Stage::Tool)),
        interrupted: interrupted(parts, rules.interrupted),
        ended_by_call: interrupted(parts, rules.ended_by_call),
        discarded_generations: parts.discarded,
        interruption: interruption(parts, rules.interruption),
        tools: parts
            .of(Stage::Tool)
            .map(|s| tool_execution(s, rules.tools, rules.failed, origin))
            .collect(),
        timing_source: sources,
        providers: providers(parts, rules.providers),
        llm_input_tokens: usage.input_tokens,
        llm_output_tokens: usage.output_tokens,
        llm_cached_input_tokens: usage.cached_input_tokens,
        llm_reasoning_tokens: usage.reasoning_tokens,
        audio_input_tokens: usage.audio_input_tokens,
        audio_output_tokens: usage.audio_output_tokens,
        tts_characters: usage.characters,
        stt_audio_ms: usage.stt_audio_ms,
        errors: errors(index, parts, rules.failed),
    }
}

/// The caller's speech edges, the end dropped when it would come before the start (a derived
/// end from a latency longer than the turn: nothing to show rather than a negative utterance).
fn ordered(start: Option<At>, end: Option<At>) -> (Option<At>, Option<At>) {
    match (start, end) {
        (Some(s), Some(e)) if e.0 < s.0 => (Some(s), None),
        other => other,
    }
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

/// The figures of the first interruption event on the turn span or its stage spans (the
/// figures derived from the speech intervals are the call's: see `barge_in`).
fn interruption(parts: &TurnParts, keys: &InterruptionKeys) -> Option<Interruption> {
    let stages = parts.stages.iter().map(|(_, s)| *s);
    let event = parts
        .turn
        .into_iter()
        .chain(stages)
        .flat_map(|s| s.events.iter())
        .find(|e| e.name == keys.event);
    let Some(event) = event else {
        // A framework that decides interruptions itself may say how long it took.
        let decision = parts
            .turn
            .and_then(|t| first_secs(&t.attributes, keys.decision))?;
        return Some(Interruption {
            detection_latency_ms: Some(decision),
            stop_latency_ms: None,
            bleed_through_words: None,
        });
    };
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
    cached_input_tokens: Option<i64>,
    reasoning_tokens: Option<i64>,
    audio_input_tokens: Option<i64>,
    audio_output_tokens: Option<i64>,
    characters: Option<i64>,
    stt_audio_ms: Option<i64>,
}

/// Tokens over the model stages' spans and their descendants, characters over the speech
/// stages' (they may sit below the stage span: LiveKit's `llm_request`).
fn usage<'a>(index: &SpanIndex<'a>, keys: &Usage, parts: &TurnParts<'a>) -> Counts {
    // Discarded generations' tokens were spent too.
    let of = |stages: &[Stage]| {
        let spans = parts.stages.iter().chain(&parts.discarded_stages);
        index.subtree(
            spans
                .filter(|(s, _)| stages.contains(s))
                .map(|(_, span)| *span),
        )
    };
    let models = of(keys.model_stages);
    let speech = of(keys.speech_stages);
    Counts {
        input_tokens: sum(&models, keys.input_tokens),
        output_tokens: sum(&models, keys.output_tokens),
        cached_input_tokens: sum(&models, keys.cached_input_tokens),
        reasoning_tokens: sum(&models, keys.reasoning_tokens),
        audio_input_tokens: sum(&models, keys.audio_input_tokens),
        audio_output_tokens: sum(&models, keys.audio_output_tokens),
        characters: sum(&speech, keys.characters),
        stt_audio_ms: parts
            .of(Stage::Stt)
            .filter_map(|s| first_secs(&s.attributes, keys.stt_audio_seconds))
            .fold(None, |acc, ms| Some(acc.unwrap_or(0i64).saturating_add(ms))),
    }
}

/// The turn's failures, in start order: each failed stage span, and below a stage span that
/// did not fail each failed attempt it retried (the topmost failed span of a failed subtree,
/// so one failure counts once).
fn errors(index: &SpanIndex, parts: &TurnParts, failed: &[&str]) -> Vec<StageError> {
    let mut out = Vec::new();
    for (stage, span) in &parts.stages {
        let error = |message| StageError {
            stage: *stage,
            message,
        };
        if let Some(message) = failure(span, failed) {
            out.push(error(message));
            continue;
        }
        for below in index.descendants(span) {
            if let Some(message) = failure(below, failed) {
                if !failed_between(index, below, span, failed) {
                    out.push(error(message));
                }
            }
        }
    }
    out
}

/// Whether a span between `below` and its ancestor `top` failed.
fn failed_between(
    index: &SpanIndex,
    below: &SpanRecord,
    top: &SpanRecord,
    failed: &[&str],
) -> bool {
    let mut at = index.parent_of(below);
    // Bounded: a parent cycle in bad input must not loop.
    for _ in 0..MAX_DEPTH {
        let Some(span) = at.filter(|s| s.span_id != top.span_id) else {
            return false;
        };
        if failure(span, failed).is_some() {
            return true;
        }
        at = index.parent_of(span);
    }
    false
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
        duration_ms: Some(nanos_to_ms(span.duration_nanos())),
        error: failure(span, failed),
    }
}

#[cfg(test)]
mod tests;
