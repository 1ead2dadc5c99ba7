//! Builds one call log from one call's spans: recognise the dialect, find the root and the
//! turns, apply the timing model, collect tools, interruptions, events, metrics and log lines.
//!
//! Pure: the spans and log records in, a [`CallLog`] out. Arrival order does not matter: every
//! decision is made on the whole set, sorted by time and linked by span ids.

use std::collections::{BTreeMap, HashMap};

use crate::receiver::calllog::{
    CallEvent, CallLog, CallMetrics, CallStatus, Dialect, Interruption, Links, LogLine, Stage,
    StageError, StageProvider, TimingSource, ToolExecution, Turn,
};
use crate::receiver::span::{AttrValue, Attributes, LogRecord, SpanId, SpanRecord, SpanStatus};
use crate::semconv::{self, genai, livekit, pipecat};
use crate::trace_id::to_hex;

use super::dialect::{self, Rules};
use super::group::{self, TurnParts};
use super::index::SpanIndex;
use super::timing::{first_secs, nanos_to_ms, offset_ms, stage_figure};

/// Attribute keys that name the call, in order of preference, on the root then on any span.
const CALL_ID_KEYS: &[&str] = &[
    semconv::CONVERSATION_ID,
    semconv::GEN_AI_CONVERSATION_ID,
    livekit::ROOM_ID,
    livekit::ROOM_SID,
    genai::SESSION_ID,
];

/// Where each stage's first-byte figure is read, first that exists (CONVENTIONS.md section 4).
const STT_KEYS: &[&str] = &[semconv::METRICS_TTFB, livekit::TRANSCRIPTION_DELAY];
const LLM_KEYS: &[&str] = &[
    semconv::METRICS_TTFB,
    semconv::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    livekit::RESPONSE_TTFT,
];
const TTS_KEYS: &[&str] = &[semconv::METRICS_TTFB, livekit::RESPONSE_TTFB];

/// How a call is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The root ended and the grace passed.
    RootEnded,
    /// Closed by the idle timeout or eviction with no root span.
    NoRoot,
}

fn text(attrs: &Attributes, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| attrs.str(k))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn joined(spans: &[&SpanRecord], keys: &[&str]) -> Option<String> {
    let parts: Vec<String> = spans
        .iter()
        .filter_map(|s| text(&s.attributes, keys))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The message of a failed span: its exception event, else its status message.
fn failure(span: &SpanRecord) -> Option<String> {
    let exception = span
        .events
        .iter()
        .find(|e| e.name == semconv::EVENT_EXCEPTION)
        .and_then(|e| e.attributes.str(semconv::EXCEPTION_MESSAGE))
        .map(str::to_string);
    match &span.status {
        SpanStatus::Error(message) => Some(exception.unwrap_or_else(|| {
            if message.is_empty() {
                "error".to_string()
            } else {
                message.clone()
            }
        })),
        _ if span.attributes.bool(livekit::FUNCTION_TOOL_IS_ERROR) == Some(true) => {
            Some(exception.unwrap_or_else(|| "tool returned an error".to_string()))
        }
        _ => None,
    }
}

fn interruption_of(spans: &[&SpanRecord]) -> Option<Interruption> {
    let event = spans
        .iter()
        .flat_map(|s| s.events.iter())
        .find(|e| e.name == semconv::EVENT_INTERRUPTION)?;
    let a = &event.attributes;
    Some(Interruption {
        detection_latency_ms: first_secs(a, &[semconv::INTERRUPTION_DETECTION_LATENCY_SECONDS]),
        stop_latency_ms: first_secs(a, &[semconv::INTERRUPTION_STOP_LATENCY_SECONDS]),
        bleed_through_words: a.i64(semconv::INTERRUPTION_BLEED_THROUGH_WORDS),
    })
}

fn sum_attr(spans: &[&SpanRecord], key: &str) -> Option<i64> {
    spans
        .iter()
        .filter_map(|s| s.attributes.i64(key))
        .fold(None, |acc, v| Some(acc.unwrap_or(0i64).saturating_add(v)))
}

fn build_turn<'a>(
    call: &SpanIndex<'a>,
    rules: &Rules,
    parts: &TurnParts<'a>,
    index: u32,
    origin: u64,
) -> Turn {
    let livekit_dialect = rules.dialect == Dialect::Livekit;
    let of = |stage: Stage| -> Vec<&SpanRecord> {
        parts
            .stages
            .iter()
            .filter(|(s, _)| *s == stage)
            .map(|(_, s)| *s)
            .collect()
    };
    let (stt, llm, tts, tools, s2s) = (
        of(Stage::Stt),
        of(Stage::Llm),
        of(Stage::Tts),
        of(Stage::Tool),
        of(Stage::S2s),
    );
    let turn_attrs = parts.turn.map(|t| &t.attributes);
    let user_attrs = parts.user_turn.map(|t| &t.attributes);
    let on_turn = |keys: &[&str]| turn_attrs.and_then(|a| first_secs(a, keys));
    let on_user = |keys: &[&str]| user_attrs.and_then(|a| first_secs(a, keys));
    let mut timing = BTreeMap::new();

    // sttMs: the first stt span; LiveKit's transcription delay; 0 when the turn has no STT.
    let stt_figure = stt
        .first()
        .or(s2s.first())
        .map(|s| stage_figure(s, STT_KEYS))
        .or_else(|| {
            on_turn(&[livekit::TRANSCRIPTION_DELAY])
                .or_else(|| on_user(&[livekit::TRANSCRIPTION_DELAY]))
                .map(|ms| (ms, TimingSource::Ttfb))
        });
    let has_user_part = stt_figure.is_some()
        || parts.user_turn.is_some()
        || turn_attrs.is_some_and(|a| a.str(semconv::TURN_USER_TEXT).is_some());
    let stt_ms = match stt_figure {
        Some((ms, source)) => {
            timing.insert("sttMs".to_string(), source);
            ms
        }
        None => 0,
    };
    let mut figure = |name: &str, spans: &[&SpanRecord], keys: &[&str]| {
        spans.first().map(|s| {
            let (ms, source) = stage_figure(s, keys);
            timing.insert(name.to_string(), source);
            ms
        })
    };
    let llm_ms = figure("llmMs", &llm, LLM_KEYS);
    let tts_ms = figure("ttsMs", &tts, TTS_KEYS);

    // latencyMs: measured (turn.user_bot_latency_seconds, lk.e2e_latency), else the estimate on
    // a turn with a user part; never the sum in place of a measurement.
    let measured = on_turn(&[semconv::TURN_USER_BOT_LATENCY_SECONDS, livekit::E2E_LATENCY]);
    let latency_ms = match measured {
        Some(ms) => {
            timing.insert("latencyMs".to_string(), TimingSource::Ttfb);
            Some(ms)
        }
        None if has_user_part => {
            timing.insert("latencyMs".to_string(), TimingSource::Estimated);
            Some(
                stt_ms
                    .saturating_add(llm_ms.unwrap_or(0))
                    .saturating_add(tts_ms.unwrap_or(0)),
            )
        }
        None => None,
    };
    let endpointing_ms =
        on_turn(&[livekit::END_OF_TURN_DELAY]).or_else(|| on_user(&[livekit::END_OF_TURN_DELAY]));
    if endpointing_ms.is_some() {
        timing.insert("endpointingMs".to_string(), TimingSource::Ttfb);
    }

    let total = |spans: &[&SpanRecord]| {
        (!spans.is_empty()).then(|| {
            spans
                .iter()
                .map(|s| nanos_to_ms(s.duration_nanos()))
                .fold(0i64, i64::saturating_add)
        })
    };

    // The turn's extent: its span (and LiveKit's user_turn), else its stages.
    let extent: Vec<&SpanRecord> = match (parts.turn, parts.user_turn) {
        (Some(t), Some(u)) => vec![t, u],
        (Some(t), None) => vec![t],
        _ => parts.stages.iter().map(|(_, s)| *s).collect(),
    };
    let start = extent
        .iter()
        .map(|s| s.start_unix_nano)
        .min()
        .unwrap_or(origin);
    let end = extent
        .iter()
        .map(|s| s.end_unix_nano)
        .max()
        .unwrap_or(origin);

    let user_text = if livekit_dialect {
        turn_attrs
            .and_then(|a| text(a, &[livekit::PII_USER_INPUT]))
            .or_else(|| user_attrs.and_then(|a| text(a, &[livekit::PII_USER_TRANSCRIPT])))
    } else {
        turn_attrs
            .and_then(|a| text(a, &[semconv::TURN_USER_TEXT]))
            .or_else(|| joined(&stt, &[semconv::STT_TRANSCRIPT, pipecat::TRANSCRIPT]))
            .or_else(|| joined(&s2s, &[semconv::STT_TRANSCRIPT]))
            .or_else(|| llm.first().and_then(|s| last_user_message(&s.attributes)))
    };
    let agent_text = turn_attrs
        .and_then(|a| text(a, &[semconv::TURN_AGENT_TEXT, livekit::PII_RESPONSE_TEXT]))
        .or_else(|| joined(&tts, &[semconv::TEXT]))
        .or_else(|| joined(&llm, &[pipecat::OUTPUT, livekit::PII_RESPONSE_TEXT]))
        .or_else(|| {
            llm.last()
                .and_then(|s| s.attributes.str(genai::OUTPUT_MESSAGES))
                .map(str::to_string)
        });

    let interrupted = turn_attrs
        .and_then(|a| {
            a.bool(semconv::TURN_WAS_INTERRUPTED)
                .or_else(|| a.bool(livekit::INTERRUPTED))
        })
        .unwrap_or(false);
    let mut with_events: Vec<&SpanRecord> = parts.turn.into_iter().collect();
    with_events.extend(parts.stages.iter().map(|(_, s)| *s));

    // Tokens and characters may sit below the stage span (LiveKit's llm_request).
    let llm_tree = call.subtree([llm.as_slice(), s2s.as_slice()].concat());
    let tts_tree = call.subtree(tts.iter().copied());

    let mut providers = BTreeMap::new();
    for (stage, spans, fallback) in [
        (Stage::Stt, &stt, Some(semconv::STT_PROVIDER)),
        (Stage::Llm, &llm, None),
        (Stage::Tts, &tts, Some(semconv::TTS_PROVIDER)),
        (Stage::S2s, &s2s, None),
    ] {
        let mut source: Vec<&SpanRecord> = spans.to_vec();
        if stage == Stage::Stt && source.is_empty() {
            source.extend(parts.user_turn);
        }
        let Some(first) = source.first() else {
            continue;
        };
        let mut keys = vec![semconv::GEN_AI_PROVIDER_NAME];
        keys.extend(fallback);
        let provider = StageProvider {
            provider: text(&first.attributes, &keys),
            model: text(&first.attributes, &[semconv::GEN_AI_REQUEST_MODEL]),
        };
        if provider.provider.is_some() || provider.model.is_some() {
            providers.insert(stage, provider);
        }
    }

    let errors = parts
        .stages
        .iter()
        .filter_map(|(stage, s)| {
            failure(s).map(|message| StageError {
                stage: *stage,
                message,
            })
        })
        .collect();

    Turn {
        index,
        speaker: if has_user_part { "user" } else { "agent" }.to_string(),
        text: agent_text,
        user_text,
        start_ms: offset_ms(start, origin),
        end_ms: offset_ms(end, origin),
        stt_ms: Some(stt_ms),
        llm_ms,
        tts_ms,
        latency_ms,
        endpointing_ms,
        stt_duration_ms: total(&stt),
        llm_duration_ms: total(&llm),
        tts_duration_ms: total(&tts),
        tool_ms: total(&tools),
        interrupted,
        interruption: interruption_of(&with_events),
        tools: tools.iter().map(|s| tool_execution(s, origin)).collect(),
        timing_source: timing,
        providers,
        llm_input_tokens: sum_attr(&llm_tree, semconv::GEN_AI_USAGE_INPUT_TOKENS),
        llm_output_tokens: sum_attr(&llm_tree, semconv::GEN_AI_USAGE_OUTPUT_TOKENS),
        tts_characters: sum_attr(&tts_tree, semconv::TTS_CHARACTERS)
            .or_else(|| sum_attr(&tts_tree, pipecat::CHARACTER_COUNT)),
        errors,
    }
}

/// The last user message of `gen_ai.input.messages` (a JSON array of `{role, parts|content}`).
fn last_user_message(attrs: &Attributes) -> Option<String> {
    let raw = attrs.str(genai::INPUT_MESSAGES)?;
    let messages: Vec<serde_json::Value> = serde_json::from_str(raw).ok()?;
    let last = messages.iter().rev().find(|m| m["role"] == "user")?;
    if let Some(content) = last["content"].as_str() {
        return Some(content.to_string());
    }
    let parts: Vec<&str> = last["parts"]
        .as_array()?
        .iter()
        .filter_map(|p| p["content"].as_str())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

fn tool_execution(span: &SpanRecord, origin: u64) -> ToolExecution {
    let a = &span.attributes;
    ToolExecution {
        name: text(
            a,
            &[
                semconv::FUNCTION_NAME,
                livekit::FUNCTION_TOOL_NAME,
                pipecat::TOOL_FUNCTION_NAME,
                semconv::GEN_AI_TOOL_NAME,
            ],
        )
        .unwrap_or_else(|| span.name.to_string()),
        input: text(
            a,
            &[
                semconv::FUNCTION_INPUT,
                livekit::PII_FUNCTION_TOOL_ARGUMENTS,
                genai::TOOL_CALL_ARGUMENTS,
            ],
        ),
        output: text(
            a,
            &[
                semconv::FUNCTION_OUTPUT,
                livekit::PII_FUNCTION_TOOL_OUTPUT,
                genai::TOOL_CALL_RESULT,
            ],
        ),
        start_ms: offset_ms(span.start_unix_nano, origin),
        duration_ms: nanos_to_ms(span.duration_nanos()),
        error: failure(span),
    }
}

fn attrs_json(attrs: &Attributes, skip: &[&str]) -> BTreeMap<String, serde_json::Value> {
    attrs
        .0
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.to_string(), v.to_json()))
        .collect()
}

/// Builds the call log of one call. `spans` are all spans of one trace (any order, duplicates
/// allowed); `logs` the OTLP log records of that trace.
pub fn build_call_log(
    trace_id: &[u8; 16],
    spans: &[SpanRecord],
    logs: &[LogRecord],
    closing: Closing,
    revision: u32,
) -> CallLog {
    let call = SpanIndex::new(spans);
    let root = call.root();
    let rules = dialect::detect(call.spans());
    let dialect = rules.dialect;
    let trace_hex = to_hex(trace_id);

    // The call's extent is read on one clock, the root's process: spans another process
    // (another resource's `service.name`) sent may carry a skewed clock and do not stretch the
    // call (CONVENTIONS.md section 4). Without a root every span counts.
    let on_root_clock = |s: &&&SpanRecord| root.is_none_or(|r| r.service_name == s.service_name);
    let first_start = call
        .spans()
        .iter()
        .filter(on_root_clock)
        .map(|s| s.start_unix_nano)
        .min()
        .unwrap_or(0);
    let last_end = call
        .spans()
        .iter()
        .filter(on_root_clock)
        .map(|s| s.end_unix_nano)
        .max()
        .unwrap_or(0);
    let origin = root
        .map(|r| r.start_unix_nano.min(first_start))
        .unwrap_or(first_start);
    let (started, ended) = match (root, closing) {
        (Some(r), Closing::RootEnded) => (origin, r.end_unix_nano.max(last_end)),
        _ => (origin, last_end),
    };

    // Attribute lookups: the root first, then any span (in time order).
    let lookup = |keys: &[&str]| -> Option<String> {
        root.into_iter()
            .chain(call.spans().iter().copied())
            .find_map(|s| text(&s.attributes, keys))
    };
    let id = lookup(CALL_ID_KEYS).unwrap_or_else(|| trace_hex.clone());
    let agent_name = lookup(&[semconv::GEN_AI_AGENT_NAME]);
    let service_name = root
        .into_iter()
        .chain(call.spans().iter().copied())
        .find_map(|s| s.service_name.as_deref().map(str::to_string));
    let agent_id = lookup(&[semconv::GEN_AI_AGENT_ID])
        .or_else(|| agent_name.clone())
        .or_else(|| service_name.clone());
    let end_reason = lookup(&[semconv::CALL_END_REASON, livekit::CLOSE_REASON]);

    let root_failed = root.is_some_and(|r| matches!(r.status, SpanStatus::Error(_)));
    let status = match closing {
        Closing::NoRoot => CallStatus::Incomplete,
        Closing::RootEnded
            if root_failed || end_reason.as_deref() == Some(semconv::END_REASON_ERROR) =>
        {
            CallStatus::Failed
        }
        Closing::RootEnded => CallStatus::Completed,
    };

    let turn_parts = group::turns(&call, rules);
    let turns: Vec<Turn> = turn_parts
        .iter()
        .enumerate()
        .map(|(i, parts)| build_turn(&call, rules, parts, i as u32, origin))
        .collect();

    // Which turn a span belongs to, for events and log lines.
    let mut turn_of: HashMap<SpanId, u32> = HashMap::new();
    for (i, parts) in turn_parts.iter().enumerate() {
        for s in parts.turn.iter().chain(parts.user_turn.iter()) {
            turn_of.insert(s.span_id, i as u32);
            for d in call.descendants(s) {
                turn_of.insert(d.span_id, i as u32);
            }
        }
        for (_, s) in &parts.stages {
            turn_of.insert(s.span_id, i as u32);
            for d in call.descendants(s) {
                turn_of.insert(d.span_id, i as u32);
            }
        }
    }

    let mut events = Vec::new();
    let mut log_lines = Vec::new();
    let mut custom_metrics = BTreeMap::new();
    for span in call.spans() {
        let turn = turn_of.get(&span.span_id).copied();
        for event in &span.events {
            let at_ms = offset_ms(event.time_unix_nano, origin);
            let a = &event.attributes;
            if event.name == semconv::EVENT_LOG_METRIC {
                if let (Some(name), Some(value)) =
                    (a.str(semconv::METRIC_NAME), a.get(semconv::METRIC_VALUE))
                {
                    custom_metrics.insert(name.to_string(), value.to_json());
                }
            } else if a.get(semconv::TRACING_LEVEL).is_some()
                && a.get(semconv::LOG_MESSAGE).is_none()
            {
                log_lines.push(LogLine {
                    at_ms,
                    level: a
                        .get(semconv::TRACING_LEVEL)
                        .map(AttrValue::to_text)
                        .unwrap_or_default(),
                    message: event.name.clone(),
                    turn,
                    fields: attrs_json(a, &[semconv::TRACING_LEVEL, semconv::TRACING_TARGET]),
                });
            } else {
                events.push(CallEvent {
                    name: event.name.clone(),
                    at_ms,
                    span: span.name.to_string(),
                    turn,
                    attributes: attrs_json(a, &[]),
                });
            }
        }
    }
    for record in logs {
        log_lines.push(LogLine {
            at_ms: offset_ms(record.time_unix_nano, origin),
            level: record.level.clone(),
            message: record.message.clone(),
            turn: record.span_id.and_then(|s| turn_of.get(&s).copied()),
            fields: attrs_json(&record.attributes, &[]),
        });
    }
    events.sort_by_key(|e| e.at_ms);
    log_lines.sort_by_key(|l| l.at_ms);

    let metadata = root
        .map(|r| {
            r.attributes
                .with_prefix(semconv::CALL_METADATA_PREFIX)
                .map(|(k, v)| (k.to_string(), v.to_json()))
                .collect()
        })
        .unwrap_or_default();
    let root_text = |key: &str| root.and_then(|r| text(&r.attributes, &[key]));

    CallLog {
        id,
        trace_id: trace_hex,
        revision,
        dialect,
        agent_id,
        agent_name,
        service_name,
        status,
        end_reason,
        started_at: rfc3339_ms(started),
        ended_at: rfc3339_ms(ended),
        direction: root_text(semconv::CALL_DIRECTION),
        from: root_text(semconv::CALL_FROM),
        to: root_text(semconv::CALL_TO),
        recording_url: root_text(semconv::CALL_RECORDING_URL),
        metadata,
        turns,
        metrics: CallMetrics {
            total_duration_ms: nanos_to_ms(ended.saturating_sub(started)),
            errors: call
                .spans()
                .iter()
                .filter(|s| matches!(s.status, SpanStatus::Error(_)))
                .count() as u32,
            tool_executions: call
                .spans()
                .iter()
                .filter(|s| rules.stage_of(s) == Some(Stage::Tool))
                .count() as u32,
            ..CallMetrics::default()
        },
        issues: Vec::new(),
        events,
        logs: log_lines,
        custom_metrics,
        links: Links::default(),
        span_count: call.spans().len(),
    }
}

/// Unix ns → RFC 3339 UTC with milliseconds (`2026-03-21T10:00:00.000Z`).
pub fn rfc3339_ms(unix_nanos: u64) -> String {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(unix_nanos as i128)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    at.format(&format).unwrap_or_default()
}
