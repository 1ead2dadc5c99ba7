//! Builds one call log from one call's spans: recognise the dialect, find the root and the
//! turns, apply the timing model, collect tools, interruptions, events, metrics and log lines.
//!
//! Pure: the spans and log records in, a [`CallLog`] out. Arrival order does not matter: every
//! decision is made on the whole set, sorted by time and linked by span ids.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::receiver::calllog::{
    CallEvent, CallLog, CallMetrics, CallStatus, Dialect, Interruption, Links, LogLine, Stage,
    StageError, StageProvider, TimingSource, ToolExecution, Turn,
};
use crate::receiver::span::{AttrValue, Attributes, LogRecord, SpanId, SpanRecord, SpanStatus};
use crate::semconv::{self, genai, livekit, pipecat};
use crate::trace_id::to_hex;

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

/// Span names that are a call's root whether or not they have a (remote) parent.
const NAMED_ROOTS: &[&str] = &[semconv::SPAN_CONVERSATION, livekit::SPAN_JOB_ENTRYPOINT];

/// Whether the arrival of this span means the call's root has ended (the grace starts).
pub fn is_root_span(span: &SpanRecord) -> bool {
    NAMED_ROOTS.contains(&span.name.as_str()) || span.parent_span_id.is_none()
}

/// How a call is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The root ended and the grace passed.
    RootEnded,
    /// Closed by the idle timeout or eviction with no root span.
    NoRoot,
}

/// What a stage span is, by dialect.
fn stage_of(span: &SpanRecord, dialect: Dialect) -> Option<Stage> {
    let name = span.name.as_str();
    if dialect == Dialect::Livekit {
        return match name {
            livekit::SPAN_LLM_NODE => Some(Stage::Llm),
            livekit::SPAN_TTS_NODE => Some(Stage::Tts),
            livekit::SPAN_FUNCTION_TOOL => Some(Stage::Tool),
            _ => None,
        };
    }
    match name {
        semconv::SPAN_STT => return Some(Stage::Stt),
        semconv::SPAN_LLM => return Some(Stage::Llm),
        semconv::SPAN_TTS => return Some(Stage::Tts),
        semconv::SPAN_TOOL_CALL | pipecat::SPAN_LLM_TOOL_CALL => return Some(Stage::Tool),
        semconv::SPAN_S2S => return Some(Stage::S2s),
        _ => {}
    }
    let op = span.attributes.str(semconv::GEN_AI_OPERATION_NAME)?;
    if genai::OPS_STT.contains(&op) {
        Some(Stage::Stt)
    } else if genai::OPS_LLM.contains(&op) {
        Some(Stage::Llm)
    } else if genai::OPS_TTS.contains(&op) {
        Some(Stage::Tts)
    } else if genai::OPS_TOOL.contains(&op) {
        Some(Stage::Tool)
    } else if op == semconv::OP_S2S {
        Some(Stage::S2s)
    } else {
        None
    }
}

fn detect_dialect(spans: &[&SpanRecord]) -> Dialect {
    let has = |name: &str| spans.iter().any(|s| s.name == name);
    if has(livekit::SPAN_AGENT_TURN)
        || has(livekit::SPAN_AGENT_SESSION)
        || has(livekit::SPAN_JOB_ENTRYPOINT)
    {
        Dialect::Livekit
    } else if spans
        .iter()
        .any(|s| s.name == semconv::SPAN_TURN && s.attributes.get(pipecat::TURN_NUMBER).is_some())
    {
        Dialect::Pipecat
    } else if has(semconv::SPAN_CONVERSATION) || has(semconv::SPAN_TURN) {
        Dialect::Voicetrace
    } else {
        Dialect::Genai
    }
}

/// The call's root: the named root first (earliest), else LiveKit's session, else the earliest
/// span whose parent is not among the call's spans.
fn find_root<'a>(spans: &[&'a SpanRecord], ids: &HashMap<SpanId, usize>) -> Option<&'a SpanRecord> {
    let earliest = |pred: &dyn Fn(&SpanRecord) -> bool| {
        spans
            .iter()
            .copied()
            .filter(|s| pred(s))
            .min_by_key(|s| s.start_unix_nano)
    };
    NAMED_ROOTS
        .iter()
        .find_map(|n| earliest(&|s| s.name == *n))
        .or_else(|| earliest(&|s| s.name == livekit::SPAN_AGENT_SESSION))
        .or_else(|| earliest(&|s| s.parent_span_id.is_none_or(|p| !ids.contains_key(&p))))
}

/// One turn's spans before figures are computed.
struct TurnParts<'a> {
    /// The turn span (`turn`, `agent_turn`), if the dialect has one.
    turn: Option<&'a SpanRecord>,
    /// LiveKit's joined `user_turn`.
    user_turn: Option<&'a SpanRecord>,
    /// Stage spans with their stage, in start order.
    stages: Vec<(Stage, &'a SpanRecord)>,
}

/// Everything about one call's spans that the turn builders need.
struct CallSpans<'a> {
    spans: Vec<&'a SpanRecord>,
    ids: HashMap<SpanId, usize>,
    children: HashMap<SpanId, Vec<usize>>,
    dialect: Dialect,
}

impl<'a> CallSpans<'a> {
    fn new(spans: &'a [SpanRecord]) -> Self {
        // One span per span id: the last to arrive wins (a span re-sent by a retrying exporter,
        // or a sender that reuses ids: either way one span, never two turns from one id).
        let mut last: HashMap<SpanId, &SpanRecord> = HashMap::with_capacity(spans.len());
        for s in spans {
            last.insert(s.span_id, s);
        }
        let mut sorted: Vec<&SpanRecord> = last.into_values().collect();
        sorted.sort_by_key(|s| (s.start_unix_nano, s.end_unix_nano, s.span_id));
        let ids: HashMap<SpanId, usize> = sorted
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id, i))
            .collect();
        let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
        for (i, s) in sorted.iter().enumerate() {
            if let Some(p) = s.parent_span_id {
                children.entry(p).or_default().push(i);
            }
        }
        let dialect = detect_dialect(&sorted);
        CallSpans {
            spans: sorted,
            ids,
            children,
            dialect,
        }
    }

    fn children_of(&self, span: &SpanRecord) -> impl Iterator<Item = &'a SpanRecord> + '_ {
        self.children
            .get(&span.span_id)
            .into_iter()
            .flatten()
            .map(|&i| self.spans[i])
    }

    fn parent_of(&self, span: &SpanRecord) -> Option<&'a SpanRecord> {
        span.parent_span_id
            .and_then(|p| self.ids.get(&p))
            .map(|&i| self.spans[i])
    }

    /// All descendants of `span` (depth first), each once: a parent cycle in bad input (a span
    /// that is its own ancestor) ends the walk instead of looping.
    fn descendants(&self, span: &SpanRecord) -> Vec<&'a SpanRecord> {
        let mut out = Vec::new();
        let mut seen: HashSet<SpanId> = HashSet::from([span.span_id]);
        let mut stack: Vec<&SpanRecord> = self.children_of(span).collect();
        while let Some(s) = stack.pop() {
            if !seen.insert(s.span_id) {
                continue;
            }
            out.push(s);
            stack.extend(self.children_of(s));
        }
        out
    }

    /// The nearest ancestor named `name`.
    fn ancestor_named(&self, span: &SpanRecord, name: &str) -> Option<&'a SpanRecord> {
        let mut current = self.parent_of(span);
        let mut hops = 0;
        while let Some(s) = current {
            if s.name == name {
                return Some(s);
            }
            hops += 1;
            if hops > 64 {
                return None; // a parent cycle in bad input
            }
            current = self.parent_of(s);
        }
        None
    }

    fn turns(&self) -> Vec<TurnParts<'a>> {
        match self.dialect {
            Dialect::Voicetrace | Dialect::Pipecat => self.turns_by_turn_span(),
            Dialect::Livekit => self.turns_livekit(),
            Dialect::Genai => self.turns_genai(),
        }
    }

    /// voicetrace / Pipecat: `turn` spans, ordered by index (or number), else start time; a
    /// stage belongs to its nearest `turn` ancestor. An `s2s` span outside any turn is a turn.
    fn turns_by_turn_span(&self) -> Vec<TurnParts<'a>> {
        let order = |s: &SpanRecord| {
            s.attributes.i64(semconv::TURN_INDEX).or_else(|| {
                s.attributes
                    .i64(pipecat::TURN_NUMBER)
                    .map(|n| n.saturating_sub(1))
            })
        };
        let mut turn_spans: Vec<&SpanRecord> = self
            .spans
            .iter()
            .copied()
            .filter(|s| s.name == semconv::SPAN_TURN)
            .collect();
        turn_spans.sort_by_key(|s| (order(s).unwrap_or(i64::MAX), s.start_unix_nano));
        let mut turns: Vec<TurnParts> = turn_spans
            .iter()
            .map(|t| TurnParts {
                turn: Some(t),
                user_turn: None,
                stages: Vec::new(),
            })
            .collect();
        let position: HashMap<SpanId, usize> = turn_spans
            .iter()
            .enumerate()
            .map(|(i, t)| (t.span_id, i))
            .collect();
        let mut loose_s2s = Vec::new();
        for s in &self.spans {
            let Some(stage) = stage_of(s, self.dialect) else {
                continue;
            };
            match self.ancestor_named(s, semconv::SPAN_TURN) {
                Some(t) => turns[position[&t.span_id]].stages.push((stage, s)),
                None if stage == Stage::S2s => loose_s2s.push(*s),
                None => {}
            }
        }
        for s in loose_s2s {
            turns.push(TurnParts {
                turn: None,
                user_turn: None,
                stages: vec![(Stage::S2s, s)],
            });
        }
        if turns.iter().any(|t| t.turn.is_none()) {
            // A turn's start: its span, else its first stage (`unwrap_or` would index a turn
            // span without stages: found by fuzzing).
            turns.sort_by_key(|t| {
                t.turn
                    .or_else(|| t.stages.first().map(|(_, s)| *s))
                    .map_or(0, |s| s.start_unix_nano)
            });
        }
        turns
    }

    /// LiveKit: `agent_turn` spans in start order, each joined with the latest sibling
    /// `user_turn` that started before it and after the previous `agent_turn` started; stages
    /// are its direct children.
    fn turns_livekit(&self) -> Vec<TurnParts<'a>> {
        let agent_turns: Vec<&SpanRecord> = self
            .spans
            .iter()
            .copied()
            .filter(|s| s.name == livekit::SPAN_AGENT_TURN)
            .collect();
        let mut previous_start = 0u64;
        agent_turns
            .iter()
            .map(|turn| {
                let user_turn = self
                    .spans
                    .iter()
                    .copied()
                    .filter(|u| {
                        u.name == livekit::SPAN_USER_TURN
                            && u.parent_span_id == turn.parent_span_id
                            && u.start_unix_nano <= turn.start_unix_nano
                            && u.start_unix_nano >= previous_start
                    })
                    .max_by_key(|u| u.start_unix_nano);
                previous_start = turn.start_unix_nano;
                let stages = self
                    .children_of(turn)
                    .filter_map(|s| stage_of(s, self.dialect).map(|st| (st, s)))
                    .collect::<Vec<_>>();
                TurnParts {
                    turn: Some(turn),
                    user_turn,
                    stages: sorted_stages(stages),
                }
            })
            .collect()
    }

    /// Any GenAI agent: one turn per model request; stt before it and tts/tools after it (up to
    /// the next request) belong to it.
    fn turns_genai(&self) -> Vec<TurnParts<'a>> {
        let staged: Vec<(Stage, &SpanRecord)> = self
            .spans
            .iter()
            .filter_map(|s| stage_of(s, self.dialect).map(|st| (st, *s)))
            .collect();
        let mut turns: Vec<TurnParts> = Vec::new();
        let mut pending_stt = Vec::new();
        for (stage, span) in staged {
            match stage {
                Stage::Llm | Stage::S2s => {
                    let mut stages = std::mem::take(&mut pending_stt);
                    stages.push((stage, span));
                    turns.push(TurnParts {
                        turn: None,
                        user_turn: None,
                        stages,
                    });
                }
                Stage::Stt => pending_stt.push((stage, span)),
                _ => match turns.last_mut() {
                    Some(t) => t.stages.push((stage, span)),
                    None => pending_stt.push((stage, span)),
                },
            }
        }
        turns
    }
}

fn sorted_stages(mut stages: Vec<(Stage, &SpanRecord)>) -> Vec<(Stage, &SpanRecord)> {
    stages.sort_by_key(|(_, s)| s.start_unix_nano);
    stages
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

/// The spans and all their descendants.
fn subtree<'a>(call: &CallSpans<'a>, spans: &[&'a SpanRecord]) -> Vec<&'a SpanRecord> {
    let mut all: Vec<&SpanRecord> = spans.to_vec();
    for s in spans {
        all.extend(call.descendants(s));
    }
    all
}

fn sum_attr(spans: &[&SpanRecord], key: &str) -> Option<i64> {
    spans
        .iter()
        .filter_map(|s| s.attributes.i64(key))
        .fold(None, |acc, v| Some(acc.unwrap_or(0i64).saturating_add(v)))
}

fn build_turn<'a>(call: &CallSpans<'a>, parts: &TurnParts<'a>, index: u32, origin: u64) -> Turn {
    let livekit_dialect = call.dialect == Dialect::Livekit;
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
        .or_else(|| {
            joined(
                &llm,
                &[
                    semconv::LLM_RESPONSE_TEXT,
                    pipecat::OUTPUT,
                    livekit::PII_RESPONSE_TEXT,
                ],
            )
        })
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
    let llm_tree = subtree(call, &[llm.as_slice(), s2s.as_slice()].concat());
    let tts_tree = subtree(call, &tts);

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

/// Attributes `tracing-opentelemetry` puts on the span event of a `tracing` log line.
const TRACING_LEVEL: &str = "level";
const TRACING_TARGET: &str = "target";

/// Builds the call log of one call. `spans` are all spans of one trace (any order, duplicates
/// allowed); `logs` the OTLP log records of that trace.
pub fn build_call_log(
    trace_id: &[u8; 16],
    spans: &[SpanRecord],
    logs: &[LogRecord],
    closing: Closing,
    revision: u32,
) -> CallLog {
    let call = CallSpans::new(spans);
    let root = find_root(&call.spans, &call.ids);
    let dialect = call.dialect;
    let trace_hex = to_hex(trace_id);

    // The call's extent is read on one clock, the root's process: spans another process
    // (another resource's `service.name`) sent may carry a skewed clock and do not stretch the
    // call (CONVENTIONS.md section 4). Without a root every span counts.
    let on_root_clock = |s: &&&SpanRecord| root.is_none_or(|r| r.service_name == s.service_name);
    let first_start = call
        .spans
        .iter()
        .filter(on_root_clock)
        .map(|s| s.start_unix_nano)
        .min()
        .unwrap_or(0);
    let last_end = call
        .spans
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
            .chain(call.spans.iter().copied())
            .find_map(|s| text(&s.attributes, keys))
    };
    let id = lookup(CALL_ID_KEYS).unwrap_or_else(|| trace_hex.clone());
    let agent_name = lookup(&[semconv::GEN_AI_AGENT_NAME]);
    let service_name = root
        .into_iter()
        .chain(call.spans.iter().copied())
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

    let turn_parts = call.turns();
    let turns: Vec<Turn> = turn_parts
        .iter()
        .enumerate()
        .map(|(i, parts)| build_turn(&call, parts, i as u32, origin))
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
    for span in &call.spans {
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
            } else if a.get(TRACING_LEVEL).is_some() && a.get(semconv::LOG_MESSAGE).is_none() {
                log_lines.push(LogLine {
                    at_ms,
                    level: a
                        .get(TRACING_LEVEL)
                        .map(AttrValue::to_text)
                        .unwrap_or_default(),
                    message: event.name.clone(),
                    turn,
                    fields: attrs_json(a, &[TRACING_LEVEL, TRACING_TARGET]),
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
                .spans
                .iter()
                .filter(|s| matches!(s.status, SpanStatus::Error(_)))
                .count() as u32,
            tool_executions: call
                .spans
                .iter()
                .filter(|s| stage_of(s, dialect) == Some(Stage::Tool))
                .count() as u32,
            ..CallMetrics::default()
        },
        issues: Vec::new(),
        events,
        logs: log_lines,
        custom_metrics,
        links: Links::default(),
        span_count: call.spans.len(),
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
