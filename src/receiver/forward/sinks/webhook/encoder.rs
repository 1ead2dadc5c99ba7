//! Webhook events in Cartesia's shape (`reference/cartesia-observability.md`).
//!
//! Every event has the envelope `type`, `call_id`, `agent_id`, `webhook_id`, `timestamp` (RFC
//! 3339: when the receiver learned of it, stable across retries) and `idempotency_key`, plus:
//!
//! - `call_started`: `call` with `id`, `agent_id`, `status` `"started"`, `start_time`;
//! - `call_turn`: `turn` with `role` (`user` / `assistant`), `text`, `start_timestamp`,
//!   `end_timestamp` (seconds from the call's start), and on the assistant's utterance `tts_ttfb`
//!   (seconds), `tool_calls` and the turn's `latency` figures (ms);
//! - `call_completed` / `call_failed`: `call` with `status`, `start_time`, `end_time`,
//!   `end_reason`, `transcript` (turns as above), `telephony_params`, `metadata`,
//!   `error_message` (failed calls), `recording_url` (a signed link to the receiver's copy of
//!   the recording, else the agent's recording URL, when there is one), plus the top-level
//!   `end_reason` Cartesia keeps for older receivers;
//! - `post_call_analysis`: `analysis` with a one-line `summary`, the call `metrics`, `issues`
//!   and `cost` (the call log's: `totalUsd`, per stage, model and turn, `unpriced`).

use std::fmt;

use serde_json::{json, Map, Value};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::receiver::analyze::issues::format_ms;
use crate::receiver::calllog::{CallLog, CallStatus, CallUpdate, Turn};
use crate::receiver::forward::sinks::transcript::{
    call_utterances, seconds, tool_end_ms, turn_utterances, Speaker, Utterance,
};

/// Who spoke in a `call_turn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The caller.
    User,
    /// The agent.
    Assistant,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// One webhook event, as kept in the outbox (`call_turn:{index}:{role}` for turns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WebhookEvent {
    /// A call's first spans arrived.
    CallStarted,
    /// One utterance of a completed turn.
    CallTurn {
        /// The turn's index.
        index: u32,
        /// Whose utterance.
        role: Role,
    },
    /// The call ended normally.
    CallCompleted,
    /// The call failed (or never ended: incomplete).
    CallFailed,
    /// Metrics and issues of the call.
    PostCallAnalysis,
}

impl WebhookEvent {
    /// The envelope's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            WebhookEvent::CallStarted => "call_started",
            WebhookEvent::CallTurn { .. } => "call_turn",
            WebhookEvent::CallCompleted => "call_completed",
            WebhookEvent::CallFailed => "call_failed",
            WebhookEvent::PostCallAnalysis => "post_call_analysis",
        }
    }

    /// Reads an outbox event back.
    pub fn parse(text: &str) -> Option<WebhookEvent> {
        Some(match text {
            "call_started" => WebhookEvent::CallStarted,
            "call_completed" => WebhookEvent::CallCompleted,
            "call_failed" => WebhookEvent::CallFailed,
            "post_call_analysis" => WebhookEvent::PostCallAnalysis,
            other => {
                let rest = other.strip_prefix("call_turn:")?;
                let (index, role) = rest.split_once(':')?;
                let role = match role {
                    "user" => Role::User,
                    "assistant" => Role::Assistant,
                    _ => return None,
                };
                WebhookEvent::CallTurn {
                    index: index.parse().ok()?,
                    role,
                }
            }
        })
    }
}

impl fmt::Display for WebhookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WebhookEvent::CallTurn { index, role } => {
                write!(f, "call_turn:{index}:{}", role.as_str())
            }
            other => f.write_str(other.kind()),
        }
    }
}

/// RFC 3339 of Unix ms.
fn rfc3339(unix_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// What an event's envelope carries besides its update.
#[derive(Debug, Clone, Copy)]
pub struct Envelope<'a> {
    /// `webhook_id`.
    pub webhook_id: &'a str,
    /// `idempotency_key`.
    pub idempotency_key: &'a str,
    /// When the receiver learned of the update (the envelope's `timestamp`), Unix ms.
    pub created_ms: i64,
    /// A link to the receiver's copy of the call's recording, if it keeps one.
    pub recording: Option<&'a str>,
}

/// The event's body, or `None` when the update does not carry what the event needs.
pub fn encode(event: &WebhookEvent, update: &CallUpdate, envelope: &Envelope<'_>) -> Option<Value> {
    let Envelope {
        webhook_id,
        idempotency_key,
        created_ms,
        recording,
    } = *envelope;
    let (call_id, agent_id) = match update {
        CallUpdate::Started(s) => (&s.call_id, &s.agent_id),
        CallUpdate::TurnCompleted(t) => (&t.call_id, &t.agent_id),
        CallUpdate::Finished(log) => (&log.id, &log.agent_id),
    };
    let mut body = Map::new();
    body.insert("type".into(), json!(event.kind()));
    body.insert("call_id".into(), json!(call_id));
    body.insert("agent_id".into(), json!(agent_id));
    body.insert("webhook_id".into(), json!(webhook_id));
    body.insert("timestamp".into(), json!(rfc3339(created_ms)));
    body.insert("idempotency_key".into(), json!(idempotency_key));
    match (event, update) {
        (WebhookEvent::CallStarted, CallUpdate::Started(s)) => {
            body.insert(
                "call".into(),
                json!({
                    "id": s.call_id,
                    "agent_id": s.agent_id,
                    "status": "started",
                    "start_time": s.started_at,
                    "trace_id": s.trace_id,
                }),
            );
        }
        (WebhookEvent::CallTurn { index, role }, CallUpdate::TurnCompleted(t)) => {
            if t.turn.index != *index {
                return None;
            }
            let wanted = match role {
                Role::User => Speaker::User,
                Role::Assistant => Speaker::Agent,
            };
            let u = turn_utterances(&t.turn, None)
                .into_iter()
                .find(|u| u.speaker == wanted)
                .unwrap_or(Utterance {
                    speaker: wanted,
                    text: "",
                    start_ms: t.turn.start_ms,
                    end_ms: t.turn.end_ms,
                });
            body.insert("trace_id".into(), json!(t.trace_id));
            body.insert("turn".into(), turn_object(&t.turn, &u));
        }
        (WebhookEvent::CallCompleted | WebhookEvent::CallFailed, CallUpdate::Finished(log)) => {
            body.insert("end_reason".into(), json!(log.end_reason));
            body.insert("call".into(), call_object(log, recording));
        }
        (WebhookEvent::PostCallAnalysis, CallUpdate::Finished(log)) => {
            body.insert(
                "analysis".into(),
                json!({
                    "summary": summary(log),
                    "metrics": log.metrics,
                    "issues": log.issues,
                    "cost": log.cost,
                    "revision": log.revision,
                }),
            );
        }
        _ => return None,
    }
    Some(Value::Object(body))
}

/// One utterance as Cartesia's `turn`.
fn turn_object(turn: &Turn, u: &Utterance<'_>) -> Value {
    let role = match u.speaker {
        Speaker::User => Role::User,
        Speaker::Agent => Role::Assistant,
    };
    let mut obj = Map::new();
    obj.insert("role".into(), json!(role.as_str()));
    obj.insert("text".into(), json!(u.text));
    obj.insert("start_timestamp".into(), json!(seconds(u.start_ms)));
    obj.insert("end_timestamp".into(), json!(seconds(u.end_ms)));
    obj.insert("turn_index".into(), json!(turn.index));
    if role == Role::Assistant {
        if let Some(tts) = turn.tts_ms {
            obj.insert("tts_ttfb".into(), json!(seconds(tts)));
        }
        if !turn.tools.is_empty() {
            let tools: Vec<Value> = turn
                .tools
                .iter()
                .map(|t| {
                    json!({
                        "name": t.name,
                        "arguments": t.input,
                        "result": t.output,
                        "error": t.error,
                        "start_timestamp": seconds(t.start_ms),
                        "end_timestamp": seconds(tool_end_ms(t)),
                    })
                })
                .collect();
            obj.insert("tool_calls".into(), Value::Array(tools));
        }
        obj.insert(
            "latency".into(),
            json!({
                "stt_ms": turn.stt_ms,
                "llm_ms": turn.llm_ms,
                "tts_ms": turn.tts_ms,
                "voice_to_voice_ms": turn.latency_ms,
            }),
        );
        obj.insert("interrupted".into(), json!(turn.interrupted));
    }
    Value::Object(obj)
}

/// The call as Cartesia's `call` object; `recording` is a link to the receiver's copy of its
/// recording.
pub fn call_object(log: &CallLog, recording: Option<&str>) -> Value {
    let transcript: Vec<Value> = call_utterances(&log.turns)
        .iter()
        .map(|(turn, u)| turn_object(turn, u))
        .collect();
    let status = match log.status {
        CallStatus::Completed => "completed",
        CallStatus::Failed | CallStatus::Incomplete => "failed",
    };
    let mut call = json!({
        "id": log.id,
        "agent_id": log.agent_id,
        "agent_name": log.agent_name,
        "status": status,
        "start_time": log.started_at,
        "end_time": log.ended_at,
        "end_reason": log.end_reason,
        "transcript": transcript,
        "telephony_params": {
            "from": log.from,
            "to": log.to,
            "direction": log.direction,
        },
        "metadata": log.metadata,
        "trace_id": log.trace_id,
        "revision": log.revision,
    });
    if log.status != CallStatus::Completed {
        call["error_message"] = json!(error_message(log));
    }
    if let Some(url) = recording.or(log.recording_url.as_deref()) {
        call["recording_url"] = json!(url);
    }
    call
}

fn error_message(log: &CallLog) -> String {
    if log.status == CallStatus::Incomplete {
        return "the call's root span never ended (closed by the idle timeout)".to_string();
    }
    log.turns
        .iter()
        .flat_map(|t| t.errors.iter())
        .map(|e| format!("{} failed: {}", e.stage.as_str(), e.message))
        .next()
        .or_else(|| log.end_reason.clone())
        .unwrap_or_else(|| "the call failed".to_string())
}

/// One line about the call: turns, duration, voice-to-voice latency, issues.
pub fn summary(log: &CallLog) -> String {
    let m = &log.metrics;
    let mut text = format!(
        "{} call, {} turn(s) over {}",
        log.status.as_str(),
        m.turns,
        format_ms(m.total_duration_ms)
    );
    if let (Some(avg), Some(p95)) = (m.avg_turn_latency_ms, m.p95_turn_latency_ms) {
        text.push_str(&format!(
            "; voice-to-voice avg {}, p95 {}",
            format_ms(avg),
            format_ms(p95)
        ));
    }
    match log.issues.as_slice() {
        [] => text.push_str("; no issues"),
        [one] => text.push_str(&format!("; 1 issue: {}", one.description)),
        [first, rest @ ..] => text.push_str(&format!(
            "; {} issues, first: {}",
            rest.len() + 1,
            first.description
        )),
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_through_the_outbox_text() {
        for e in [
            WebhookEvent::CallStarted,
            WebhookEvent::CallTurn {
                index: 3,
                role: Role::User,
            },
            WebhookEvent::CallTurn {
                index: 0,
                role: Role::Assistant,
            },
            WebhookEvent::CallCompleted,
            WebhookEvent::CallFailed,
            WebhookEvent::PostCallAnalysis,
        ] {
            assert_eq!(WebhookEvent::parse(&e.to_string()), Some(e));
        }
        assert_eq!(WebhookEvent::parse("call_turn:x:user"), None);
        assert_eq!(WebhookEvent::parse("call_turn:1:bot"), None);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        assert_eq!(rfc3339(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
