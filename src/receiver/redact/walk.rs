//! The walk over every text a call log holds: the one place that says which of its strings
//! are what people said or wrote (visited) and which are names, ids, times and codes (not).
//!
//! Every struct that holds a string is taken apart with an exhaustive pattern (no `..`): a
//! field added to one does not compile here until it is named, visited or not, so a new text
//! cannot escape redaction unseen. `every_string_is_visited_or_named` fills every field of a
//! call log (a struct of figures only included: a string added there is caught) and checks
//! each string is visited, or is one of the names listed there (and in the README).

use serde_json::Value;

use crate::receiver::calllog::{
    CallCost, CallEvent, CallLog, CallStarted, CallUpdate, CostLine, Deployment, Issue, Links,
    LiveKitJob, LogLine, Recording, ReportedUsage, StageError, StageProvider, ToolExecution, Turn,
    TurnCompleted, Unpriced,
};

/// What the walk hands each text to.
pub trait Visit {
    /// A text someone said or wrote, or that quotes them (a transcript, a tool's arguments,
    /// a log line, an error message).
    fn text(&mut self, text: &mut String);
    /// A number inside a JSON value (metadata, attributes, custom metrics): a card or phone
    /// number can arrive as an integer.
    fn number(&mut self, value: &mut Value);
    /// The call's `from` or `to`.
    fn caller_number(&mut self, number: &mut String);
}

/// Visits every text of a call update.
pub fn update(update: &mut CallUpdate, v: &mut impl Visit) {
    match update {
        CallUpdate::Started(CallStarted {
            call_id: _,
            trace_id: _,
            agent_id: _,
            started_at: _,
        }) => {}
        CallUpdate::TurnCompleted(TurnCompleted {
            call_id: _,
            trace_id: _,
            agent_id: _,
            turn: t,
        }) => turn(t, v),
        CallUpdate::Finished(log) => call_log(log, v),
    }
}

/// Visits every text of a call log.
pub fn call_log(log: &mut CallLog, v: &mut impl Visit) {
    let CallLog {
        id: _,
        trace_id: _,
        revision: _,
        dialect: _,
        agent_id: _,
        agent_name: _,
        service_name: _,
        status: _,
        end_reason,
        started_at: _,
        ended_at: _,
        direction: _,
        from,
        to,
        recording_url: _,
        metadata,
        turns,
        metrics: _,
        issues,
        events,
        logs,
        custom_metrics,
        links: Links { trace: _ },
        span_count: _,
        livekit,
        deployment,
        recording,
        redactions: _,
        reported_usage,
        cost,
    } = log;
    optional(end_reason, v);
    for number in [from, to].into_iter().flatten() {
        v.caller_number(number);
    }
    metadata.values_mut().for_each(|value| json(value, v));
    turns.iter_mut().for_each(|t| turn(t, v));
    issues.iter_mut().for_each(|i| issue(i, v));
    events.iter_mut().for_each(|e| event(e, v));
    logs.iter_mut().for_each(|l| log_line(l, v));
    custom_metrics.values_mut().for_each(|value| json(value, v));
    if let Some(LiveKitJob {
        room_id: _,
        job_id: _,
    }) = livekit
    {}
    if let Some(Deployment {
        id: _,
        version: _,
        environment: _,
    }) = deployment
    {}
    if let Some(Recording {
        url: _,
        media_type: _,
        duration_ms: _,
        start_offset_ms: _,
    }) = recording
    {}
    reported_usage.iter().for_each(usage);
    if let Some(cost) = cost {
        call_cost(cost);
    }
}

/// Usage the agent's metrics reported: figures, and the names of a stage, provider and model.
fn usage(usage: &ReportedUsage) {
    let ReportedUsage {
        stage: _,
        provider: _,
        model: _,
        llm_input_tokens: _,
        llm_cached_input_tokens: _,
        llm_output_tokens: _,
        audio_input_tokens: _,
        audio_output_tokens: _,
        llm_session_ms: _,
        stt_audio_ms: _,
        tts_characters: _,
        tts_audio_ms: _,
    } = usage;
}

/// A call's cost: amounts, and the names of what was priced (providers, models, price-table
/// entries, the table's version, why something had no price).
fn call_cost(cost: &CallCost) {
    let CallCost {
        total_usd: _,
        prices_version: _,
        stages: _,
        models,
        turns: _,
        unpriced,
        estimated: _,
    } = cost;
    for CostLine {
        stage: _,
        provider: _,
        model: _,
        priced_as: _,
        usd: _,
        input_tokens: _,
        cached_input_tokens: _,
        output_tokens: _,
        audio_input_tokens: _,
        audio_output_tokens: _,
        audio_ms: _,
        characters: _,
        audio_basis: _,
    } in models
    {}
    for Unpriced {
        stage: _,
        provider: _,
        model: _,
        reason: _,
        turns: _,
    } in unpriced
    {}
}

/// Visits every text of a turn.
pub fn turn(turn: &mut Turn, v: &mut impl Visit) {
    let Turn {
        index: _,
        speaker: _,
        text,
        user_text,
        start_ms: _,
        end_ms: _,
        stt_ms: _,
        llm_ms: _,
        tts_ms: _,
        latency_ms: _,
        endpointing_ms: _,
        s2s_ms: _,
        user_start_ms: _,
        user_end_ms: _,
        agent_start_ms: _,
        agent_end_ms: _,
        agent_speech: _,
        stt_duration_ms: _,
        llm_duration_ms: _,
        tts_duration_ms: _,
        tool_ms: _,
        interrupted: _,
        ended_by_call: _,
        discarded_generations: _,
        interruption: _,
        tools,
        timing_source: _,
        providers,
        llm_input_tokens: _,
        llm_output_tokens: _,
        llm_cached_input_tokens: _,
        llm_reasoning_tokens: _,
        audio_input_tokens: _,
        audio_output_tokens: _,
        tts_characters: _,
        stt_audio_ms: _,
        errors,
        stage_spans: _,
    } = turn;
    optional(text, v);
    optional(user_text, v);
    for ToolExecution {
        name: _,
        input,
        output,
        start_ms: _,
        duration_ms: _,
        error,
    } in tools
    {
        optional(input, v);
        optional(output, v);
        optional(error, v);
    }
    // Names only (`stage_provider_names`); not walked: iterating each turn's map cost a tenth
    // of redaction.
    let _ = providers;
    for StageError { stage: _, message } in errors {
        v.text(message);
    }
}

/// What a [`StageProvider`] holds: names only. Never called: its pattern stops compiling when
/// the struct gains a field.
#[allow(dead_code)]
fn stage_provider_names(
    StageProvider {
        provider: _,
        model: _,
    }: &StageProvider,
) {
}

fn issue(issue: &mut Issue, v: &mut impl Visit) {
    let Issue {
        kind: _,
        turn: _,
        stage: _,
        value_ms: _,
        target_ms: _,
        description,
        recommendation,
    } = issue;
    // Analysis quotes stage errors in its descriptions.
    v.text(description);
    v.text(recommendation);
}

fn event(event: &mut CallEvent, v: &mut impl Visit) {
    let CallEvent {
        name,
        at_ms: _,
        span: _,
        turn: _,
        attributes,
    } = event;
    // A custom event's name is the app's text (Cartesia's `LogMessage`).
    v.text(name);
    attributes.values_mut().for_each(|value| json(value, v));
}

fn log_line(line: &mut LogLine, v: &mut impl Visit) {
    let LogLine {
        at_ms: _,
        level: _,
        message,
        turn: _,
        fields,
    } = line;
    v.text(message);
    fields.values_mut().for_each(|value| json(value, v));
}

fn optional(text: &mut Option<String>, v: &mut impl Visit) {
    if let Some(text) = text {
        v.text(text);
    }
}

/// Visits every string and number of a JSON value (object keys are names, not visited).
pub fn json(value: &mut Value, v: &mut impl Visit) {
    match value {
        Value::String(text) => v.text(text),
        Value::Number(_) => v.number(value),
        Value::Array(items) => items.iter_mut().for_each(|item| json(item, v)),
        Value::Object(fields) => fields.values_mut().for_each(|item| json(item, v)),
        Value::Null | Value::Bool(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde_json::json;

    use super::*;
    use crate::receiver::calllog::{
        AudioBasis, CallMetrics, CallStatus, Dialect, Interruption, Redactions, Speaker,
        SpeechSegment, Stage, StageExtent, TimingSource, TurnCost,
    };

    /// The strings of a call log that are not texts anyone said: ids, names, times, codes and
    /// links, by JSON path (`[]` for any array index). The README's "not redacted" list.
    const NOT_TEXT: &[&str] = &[
        "$.id",
        "$.traceId",
        "$.dialect",
        "$.agentId",
        "$.agentName",
        "$.serviceName",
        "$.status",
        "$.startedAt",
        "$.endedAt",
        "$.direction",
        "$.recordingUrl",
        "$.turns[].speaker",
        "$.turns[].timingSource.sttMs",
        "$.turns[].providers.llm.provider",
        "$.turns[].providers.llm.model",
        "$.turns[].tools[].name",
        "$.turns[].errors[].stage",
        "$.issues[].type",
        "$.issues[].stage",
        "$.events[].span",
        "$.logs[].level",
        "$.links.trace",
        "$.livekit.roomId",
        "$.livekit.jobId",
        "$.deployment.id",
        "$.deployment.version",
        "$.deployment.environment",
        "$.turns[].stageSpans[].stage",
        "$.recording.url",
        "$.recording.mediaType",
        "$.reportedUsage[].stage",
        "$.reportedUsage[].provider",
        "$.reportedUsage[].model",
        "$.cost.pricesVersion",
        "$.cost.models[].stage",
        "$.cost.models[].provider",
        "$.cost.models[].model",
        "$.cost.models[].pricedAs",
        "$.cost.models[].audioBasis",
        "$.cost.unpriced[].stage",
        "$.cost.unpriced[].provider",
        "$.cost.unpriced[].model",
        "$.cost.unpriced[].reason",
    ];

    const VISITED: &str = "VISITED";

    /// Marks every text it is handed.
    struct Marker;

    impl Visit for Marker {
        fn text(&mut self, text: &mut String) {
            *text = VISITED.into();
        }
        fn number(&mut self, value: &mut Value) {
            *value = Value::String(VISITED.into());
        }
        fn caller_number(&mut self, number: &mut String) {
            *number = VISITED.into();
        }
    }

    fn s(what: &str) -> String {
        format!("{what} jane.doe@example.com")
    }

    fn full_turn() -> Turn {
        Turn {
            index: 0,
            speaker: Speaker::User,
            text: Some(s("text")),
            user_text: Some(s("user text")),
            start_ms: 1,
            end_ms: 2,
            stt_ms: Some(1),
            llm_ms: Some(1),
            tts_ms: Some(1),
            latency_ms: Some(1),
            endpointing_ms: Some(1),
            s2s_ms: Some(1),
            user_start_ms: Some(1),
            user_end_ms: Some(1),
            agent_start_ms: Some(1),
            agent_end_ms: Some(1),
            agent_speech: vec![SpeechSegment {
                start_ms: 1,
                end_ms: 2,
            }],
            stt_duration_ms: Some(1),
            llm_duration_ms: Some(1),
            tts_duration_ms: Some(1),
            tool_ms: Some(1),
            interrupted: true,
            ended_by_call: true,
            discarded_generations: 1,
            interruption: Some(Interruption {
                detection_latency_ms: Some(1),
                stop_latency_ms: Some(1),
                bleed_through_words: Some(1),
            }),
            tools: vec![ToolExecution {
                name: s("tool"),
                input: Some(s("input")),
                output: Some(s("output")),
                start_ms: 1,
                duration_ms: Some(1),
                error: Some(s("tool error")),
            }],
            timing_source: BTreeMap::from([("sttMs".to_string(), TimingSource::Ttfb)]),
            providers: BTreeMap::from([(
                Stage::Llm,
                StageProvider {
                    provider: Some(s("provider")),
                    model: Some(s("model")),
                },
            )]),
            llm_input_tokens: Some(1),
            llm_output_tokens: Some(1),
            llm_cached_input_tokens: Some(1),
            llm_reasoning_tokens: Some(1),
            audio_input_tokens: Some(1),
            audio_output_tokens: Some(1),
            tts_characters: Some(1),
            stt_audio_ms: Some(1),
            errors: vec![StageError {
                stage: Stage::Stt,
                message: s("stage error"),
            }],
            stage_spans: vec![StageExtent {
                stage: Stage::Stt,
                start_ms: 0,
                duration_ms: 1,
            }],
        }
    }

    /// A call log with every optional field set, every collection non-empty and every string
    /// an email (JSON values hold strings, numbers, arrays and objects).
    fn full_call_log() -> CallLog {
        let value = || json!({"nested": [s("nested"), 4111111111111111u64]});
        CallLog {
            id: s("id"),
            trace_id: s("trace"),
            revision: 1,
            dialect: Dialect::Genai,
            agent_id: Some(s("agent")),
            agent_name: Some(s("agent name")),
            service_name: Some(s("service")),
            status: CallStatus::Failed,
            end_reason: Some(s("end reason")),
            started_at: s("start"),
            ended_at: s("end"),
            direction: Some(s("direction")),
            from: Some(s("from")),
            to: Some(s("to")),
            recording_url: Some(s("recording url")),
            metadata: BTreeMap::from([
                ("note".to_string(), Value::String(s("metadata"))),
                ("deep".to_string(), value()),
            ]),
            turns: vec![full_turn()],
            metrics: CallMetrics {
                avg_turn_latency_ms: Some(1),
                p50_turn_latency_ms: Some(1),
                p95_turn_latency_ms: Some(1),
                ..CallMetrics::default()
            },
            issues: vec![Issue {
                kind: s("kind"),
                turn: Some(0),
                stage: Some(Stage::Stt),
                value_ms: Some(1),
                target_ms: Some(1),
                description: s("description"),
                recommendation: s("recommendation"),
            }],
            events: vec![CallEvent {
                name: s("event"),
                at_ms: 1,
                span: s("span"),
                turn: Some(0),
                attributes: BTreeMap::from([("a".to_string(), value())]),
            }],
            logs: vec![LogLine {
                at_ms: 1,
                level: s("level"),
                message: s("message"),
                turn: Some(0),
                fields: BTreeMap::from([("f".to_string(), value())]),
            }],
            custom_metrics: BTreeMap::from([
                ("m".to_string(), value()),
                ("n".to_string(), json!(5551234567u64)),
            ]),
            links: Links {
                trace: Some(s("link")),
            },
            span_count: 1,
            livekit: Some(LiveKitJob {
                room_id: Some(s("room")),
                job_id: Some(s("job")),
            }),
            deployment: Some(Deployment {
                id: Some(s("deployment")),
                version: Some(s("version")),
                environment: Some(s("environment")),
            }),
            recording: Some(Recording {
                url: s("recording"),
                media_type: s("media type"),
                duration_ms: 1,
                start_offset_ms: 0,
            }),
            redactions: Redactions::from([("email", 1)]),
            reported_usage: vec![ReportedUsage {
                stage: Stage::Llm,
                provider: Some(s("provider")),
                model: Some(s("model")),
                llm_input_tokens: Some(1),
                llm_cached_input_tokens: Some(1),
                llm_output_tokens: Some(1),
                audio_input_tokens: Some(1),
                audio_output_tokens: Some(1),
                llm_session_ms: Some(1),
                stt_audio_ms: Some(1),
                tts_characters: Some(1),
                tts_audio_ms: Some(1),
            }],
            cost: Some(full_cost()),
        }
    }

    /// A cost with every line, list and optional figure filled.
    fn full_cost() -> CallCost {
        CallCost {
            total_usd: 1.0,
            prices_version: s("prices version"),
            stages: BTreeMap::from([(Stage::Llm, 1.0)]),
            models: vec![CostLine {
                stage: Stage::Stt,
                provider: Some(s("provider")),
                model: Some(s("model")),
                priced_as: s("priced as"),
                usd: 1.0,
                input_tokens: Some(1),
                cached_input_tokens: Some(1),
                output_tokens: Some(1),
                audio_input_tokens: Some(1),
                audio_output_tokens: Some(1),
                audio_ms: Some(1),
                characters: Some(1),
                audio_basis: Some(AudioBasis::Speech),
            }],
            turns: vec![TurnCost {
                index: 0,
                usd: 1.0,
                stages: BTreeMap::from([(Stage::Llm, 1.0)]),
            }],
            unpriced: vec![Unpriced {
                stage: Stage::Tts,
                provider: Some(s("provider")),
                model: Some(s("model")),
                reason: s("reason"),
                turns: vec![0],
            }],
            estimated: true,
        }
    }

    /// Every string and number leaf of a JSON value, with its path.
    fn leaves(value: &Value, path: String, out: &mut Vec<(String, Value)>) {
        match value {
            Value::Object(fields) => {
                assert!(!fields.is_empty(), "{path} is empty: fill it");
                for (k, v) in fields {
                    leaves(v, format!("{path}.{k}"), out);
                }
            }
            Value::Array(items) => {
                assert!(!items.is_empty(), "{path} is empty: fill it");
                for item in items {
                    leaves(item, format!("{path}[]"), out);
                }
            }
            Value::Null => panic!("{path} is null: fill it"),
            Value::String(_) | Value::Number(_) | Value::Bool(_) => out.push((path, value.clone())),
        }
    }

    #[test]
    fn every_string_is_visited_or_named() {
        let mut log = full_call_log();
        let mut before = Vec::new();
        leaves(
            &serde_json::to_value(&log).unwrap(),
            "$".into(),
            &mut before,
        );
        call_log(&mut log, &mut Marker);
        let mut after = Vec::new();
        leaves(&serde_json::to_value(&log).unwrap(), "$".into(), &mut after);
        assert_eq!(before.len(), after.len());
        let mut named = std::collections::BTreeSet::new();
        for ((path, was), (_, now)) in before.iter().zip(&after) {
            let text_like = was.is_string()
                || (path.contains("metadata")
                    || path.contains("attributes")
                    || path.contains("fields")
                    || path.contains("customMetrics"))
                    && was.is_number();
            if !text_like {
                continue;
            }
            if NOT_TEXT.contains(&path.as_str()) {
                assert_eq!(was, now, "{path} is named as not text but was visited");
                named.insert(path.as_str());
            } else {
                assert_eq!(
                    now,
                    &Value::String(VISITED.into()),
                    "{path} was not visited: visit it in walk.rs or name it in NOT_TEXT"
                );
            }
        }
        let unused: Vec<_> = NOT_TEXT.iter().filter(|p| !named.contains(*p)).collect();
        assert!(
            unused.is_empty(),
            "NOT_TEXT names paths the call log lacks: {unused:?}"
        );
    }

    #[test]
    fn a_live_turn_is_walked_like_a_finished_one() {
        let mut live = CallUpdate::TurnCompleted(TurnCompleted {
            call_id: s("call"),
            trace_id: s("trace"),
            agent_id: None,
            turn: full_turn(),
        });
        update(&mut live, &mut Marker);
        let CallUpdate::TurnCompleted(done) = live else {
            unreachable!()
        };
        assert_eq!(done.turn.user_text.as_deref(), Some(VISITED));
        assert_eq!(done.turn.tools[0].input.as_deref(), Some(VISITED));
        assert_eq!(done.call_id, s("call"));
    }
}
