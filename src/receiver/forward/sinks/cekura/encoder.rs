//! A call log as Cekura's `CreateCallLog` body (`reference/cekura-send-calls-openapi.md`):
//!
//! - `call_id`, `trace_id`, `timestamp` (the call's start);
//! - `agent` (the configured Cekura agent id) or `assistant_id` (configured, else the call's
//!   agent id);
//! - `transcript_type` `"cekura"` and `transcript_json`: utterances `{role, content, start_time,
//!   end_time}` in seconds from the call's start, roles `"Testing Agent"` (the caller) and
//!   `"Main Agent"` (the agent), tool executions as `"Function Call"` / `"Function Call Result"`;
//! - `call_ended_reason` (the call's end reason, else its status), `voice_recording_url` (a
//!   signed link to the receiver's copy of the recording, else the agent's recording URL),
//!   `customer_number` (the caller: `from` of an inbound call, `to` of an outbound one);
//! - `metadata`: the call's own metadata, the `idempotency_key`, and under `voicetrace` the
//!   revision, per-turn timings, call metrics, issues, the trace link, the call's `cost` (the
//!   call log's, camelCase) and `cost_usd` (its total).

use serde_json::{json, Map, Value};

use super::CekuraConfig;
use crate::receiver::calllog::{CallLog, Turn};
use crate::receiver::forward::sinks::transcript::{call_utterances, seconds, tool_end_ms, Speaker};

/// The caller's role in Cekura's transcript format.
pub const ROLE_CALLER: &str = "Testing Agent";
/// The agent's role.
pub const ROLE_AGENT: &str = "Main Agent";
/// A tool invocation.
pub const ROLE_FUNCTION_CALL: &str = "Function Call";
/// A tool's result.
pub const ROLE_FUNCTION_RESULT: &str = "Function Call Result";

/// The body for one revision of a call log; `recording` is a link to the receiver's copy of
/// its recording, if it keeps one.
pub fn encode(
    log: &CallLog,
    config: &CekuraConfig,
    idempotency_key: &str,
    recording: Option<&str>,
) -> Value {
    let mut body = Map::new();
    body.insert("call_id".into(), json!(log.id));
    body.insert("trace_id".into(), json!(log.trace_id));
    match (config.keys.agent, &config.keys.assistant_id, &log.agent_id) {
        (Some(agent), _, _) => {
            body.insert("agent".into(), json!(agent));
        }
        (None, Some(assistant), _) | (None, None, Some(assistant)) => {
            body.insert("assistant_id".into(), json!(assistant));
        }
        (None, None, None) => {}
    }
    body.insert("transcript_type".into(), json!("cekura"));
    body.insert("transcript_json".into(), Value::Array(transcript(log)));
    let ended = log
        .end_reason
        .clone()
        .unwrap_or_else(|| log.status.as_str().to_string());
    body.insert("call_ended_reason".into(), json!(ended));
    if let Some(url) = recording.or(log.recording_url.as_deref()) {
        body.insert("voice_recording_url".into(), json!(url));
    }
    let customer = match log.direction.as_deref() {
        Some("outbound") => log.to.as_ref(),
        _ => log.from.as_ref(),
    };
    if let Some(number) = customer {
        body.insert("customer_number".into(), json!(number));
    }
    body.insert("timestamp".into(), json!(log.started_at));
    body.insert("metadata".into(), metadata(log, idempotency_key));
    Value::Object(body)
}

/// The transcript in Cekura's format, ordered by start time.
pub fn transcript(log: &CallLog) -> Vec<Value> {
    let mut entries: Vec<(i64, Value)> = Vec::new();
    let mut tools_done = std::collections::BTreeSet::new();
    for (turn, u) in call_utterances(&log.turns) {
        let role = match u.speaker {
            Speaker::User => ROLE_CALLER,
            Speaker::Agent => ROLE_AGENT,
        };
        entries.push((u.start_ms, utterance(role, u.text, u.start_ms, u.end_ms)));
        if tools_done.insert(turn.index) {
            entries.extend(tool_entries(turn));
        }
    }
    // Turns without any text still carry their tools.
    for turn in &log.turns {
        if tools_done.insert(turn.index) {
            entries.extend(tool_entries(turn));
        }
    }
    entries.sort_by_key(|(start, _)| *start);
    entries.into_iter().map(|(_, v)| v).collect()
}

fn utterance(role: &str, content: &str, start_ms: i64, end_ms: i64) -> Value {
    json!({
        "role": role,
        "content": content,
        "start_time": seconds(start_ms),
        "end_time": seconds(end_ms),
    })
}

fn tool_entries(turn: &Turn) -> Vec<(i64, Value)> {
    let mut out = Vec::new();
    for tool in &turn.tools {
        let call = json!({"name": tool.name, "arguments": tool.input});
        let end = tool_end_ms(tool);
        out.push((
            tool.start_ms,
            utterance(
                ROLE_FUNCTION_CALL,
                &call.to_string(),
                tool.start_ms,
                tool.start_ms,
            ),
        ));
        let result = match (&tool.error, &tool.output) {
            (Some(error), _) => json!({"name": tool.name, "error": error}),
            (None, output) => json!({"name": tool.name, "result": output}),
        };
        out.push((
            end,
            utterance(ROLE_FUNCTION_RESULT, &result.to_string(), end, end),
        ));
    }
    out
}

fn metadata(log: &CallLog, idempotency_key: &str) -> Value {
    let mut meta: Map<String, Value> = log
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    meta.entry("idempotency_key")
        .or_insert_with(|| json!(idempotency_key));
    let turns: Vec<Value> = log
        .turns
        .iter()
        .map(|t| {
            json!({
                "index": t.index,
                "speaker": t.speaker,
                "startMs": t.start_ms,
                "endMs": t.end_ms,
                "sttMs": t.stt_ms,
                "llmMs": t.llm_ms,
                "ttsMs": t.tts_ms,
                "latencyMs": t.latency_ms,
                "endpointingMs": t.endpointing_ms,
                "toolMs": t.tool_ms,
                "interrupted": t.interrupted,
                "timingSource": t.timing_source,
            })
        })
        .collect();
    meta.insert(
        "voicetrace".into(),
        json!({
            "idempotency_key": idempotency_key,
            "revision": log.revision,
            "status": log.status,
            "dialect": log.dialect,
            "agent_id": log.agent_id,
            "agent_name": log.agent_name,
            "ended_at": log.ended_at,
            "trace_url": log.links.trace,
            "turns": turns,
            "metrics": log.metrics,
            "issues": log.issues,
            "cost_usd": log.cost.as_ref().map(|c| c.total_usd),
            "cost": log.cost,
        }),
    );
    Value::Object(meta)
}
