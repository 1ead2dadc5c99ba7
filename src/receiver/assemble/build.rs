//! Builds one call log from one call's spans: recognise the dialect, find the root and the
//! turns, apply the timing model, collect tools, interruptions, events, metrics and log lines.
//!
//! Pure: the spans and log records in, a [`CallLog`] out. Arrival order does not matter: every
//! decision is made on the whole set, sorted by time and linked by span ids.

use std::collections::{BTreeMap, HashMap};

use crate::receiver::calllog::{
    CallEvent, CallLog, CallMetrics, CallStatus, Links, LogLine, Stage, Turn,
};
use crate::receiver::span::{AttrValue, LogRecord, SpanId, SpanRecord, SpanStatus};
use crate::semconv::{self, genai, livekit};
use crate::trace_id::to_hex;

use super::attrs::{text, to_json};
use super::dialect;
use super::group;
use super::index::SpanIndex;
use super::timing::{nanos_to_ms, offset_ms};
use super::turn;

/// Attribute keys that name the call, in order of preference, on the root then on any span.
const CALL_ID_KEYS: &[&str] = &[
    semconv::CONVERSATION_ID,
    semconv::GEN_AI_CONVERSATION_ID,
    livekit::ROOM_ID,
    livekit::ROOM_SID,
    genai::SESSION_ID,
];

/// How a call is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    /// The root ended and the grace passed.
    RootEnded,
    /// Closed by the idle timeout or eviction with no root span.
    NoRoot,
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
        .map(|(i, parts)| turn::build_turn(&call, rules, parts, i as u32, origin))
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
                    fields: to_json(a, &[semconv::TRACING_LEVEL, semconv::TRACING_TARGET]),
                });
            } else {
                events.push(CallEvent {
                    name: event.name.clone(),
                    at_ms,
                    span: span.name.to_string(),
                    turn,
                    attributes: to_json(a, &[]),
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
            fields: to_json(&record.attributes, &[]),
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
