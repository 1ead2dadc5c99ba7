//! One call log from one call's spans: index them, recognise the dialect, find the root, group
//! the turns, then the call's extent, identity, status and metadata around the turns, events
//! and metrics the other modules build.
//!
//! Pure: the spans and log records in, a [`CallLog`] out. Arrival order does not matter: every
//! decision is made on the whole set, sorted by time and linked by span ids.

use std::collections::BTreeMap;

use crate::receiver::calllog::{CallLog, CallMetrics, CallStatus, Links, Stage, Turn};
use crate::receiver::span::{LogRecord, SpanRecord, SpanStatus};
use crate::semconv;
use crate::trace_id::to_hex;

use super::attrs::text;
use super::dialect::{self, CallKeys, Rules};
use super::events;
use super::group;
use super::index::SpanIndex;
use super::timing::nanos_to_ms;
use super::turn::build_turn;

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
    let index = SpanIndex::new(spans);
    let root = index.root();
    let rules = dialect::detect(index.spans());
    let extent = Extent::of(&index, root, closing);
    let trace_hex = to_hex(trace_id);
    let identity = Identity::of(&index, root, rules.call, &trace_hex);
    let parts = group::turns(&index, rules);
    let turns: Vec<Turn> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| build_turn(&index, rules, p, i as u32, extent.origin))
        .collect();
    let recorded = events::record(
        &index,
        &events::turn_of(&index, &parts),
        logs,
        extent.origin,
    );
    let root_text = |key: &str| root.and_then(|r| text(&r.attributes, &[key]));
    CallLog {
        status: status(root, closing, identity.end_reason.as_deref()),
        id: identity.id,
        trace_id: trace_hex,
        revision,
        dialect: rules.dialect,
        agent_id: identity.agent_id,
        agent_name: identity.agent_name,
        service_name: identity.service_name,
        end_reason: identity.end_reason,
        started_at: rfc3339_ms(extent.started),
        ended_at: rfc3339_ms(extent.ended),
        direction: root_text(semconv::CALL_DIRECTION),
        from: root_text(semconv::CALL_FROM),
        to: root_text(semconv::CALL_TO),
        recording_url: root_text(semconv::CALL_RECORDING_URL),
        metadata: metadata(root),
        turns,
        metrics: metrics(&index, rules, &extent),
        issues: Vec::new(),
        events: recorded.events,
        logs: recorded.log_lines,
        custom_metrics: recorded.custom_metrics,
        links: Links::default(),
        span_count: index.spans().len(),
    }
}

/// The call's extent (Unix ns).
#[derive(Debug, PartialEq)]
struct Extent {
    /// What every offset in the call log is relative to.
    origin: u64,
    started: u64,
    ended: u64,
}

impl Extent {
    /// The extent, read on one clock, the root's process: spans another process (another
    /// resource's `service.name`) sent may carry a skewed clock and do not stretch the call
    /// (CONVENTIONS.md section 4). Without a root every span counts. The root's end counts
    /// only once it has ended.
    fn of(index: &SpanIndex, root: Option<&SpanRecord>, closing: Closing) -> Extent {
        let on_root_clock = index
            .spans()
            .iter()
            .filter(|s| root.is_none_or(|r| r.service_name == s.service_name));
        let first_start = on_root_clock.clone().map(|s| s.start_unix_nano).min();
        let last_end = on_root_clock.map(|s| s.end_unix_nano).max().unwrap_or(0);
        let first_start = first_start.unwrap_or(0);
        let origin = root.map_or(first_start, |r| r.start_unix_nano.min(first_start));
        let ended = match (root, closing) {
            (Some(r), Closing::RootEnded) => r.end_unix_nano.max(last_end),
            _ => last_end,
        };
        Extent {
            origin,
            started: origin,
            ended,
        }
    }
}

/// Who and what the call is.
#[derive(Debug, PartialEq)]
struct Identity {
    id: String,
    agent_id: Option<String>,
    agent_name: Option<String>,
    service_name: Option<String>,
    end_reason: Option<String>,
}

impl Identity {
    /// Each read on the root first, then on any span in time order; the call id defaults to
    /// the trace id, the agent id to the agent's name, then the service name.
    fn of(
        index: &SpanIndex,
        root: Option<&SpanRecord>,
        keys: &CallKeys,
        trace_hex: &str,
    ) -> Identity {
        let spans = || root.into_iter().chain(index.spans().iter().copied());
        let lookup = |keys: &[&str]| spans().find_map(|s| text(&s.attributes, keys));
        let agent_name = lookup(keys.agent_name);
        let service_name = spans().find_map(|s| s.service_name.as_deref().map(str::to_string));
        Identity {
            id: lookup(keys.id).unwrap_or_else(|| trace_hex.to_string()),
            agent_id: lookup(keys.agent_id)
                .or_else(|| agent_name.clone())
                .or_else(|| service_name.clone()),
            agent_name,
            service_name,
            end_reason: lookup(keys.end_reason),
        }
    }
}

/// Incomplete without an ended root; failed when the root failed or the call ended in error;
/// else completed.
fn status(root: Option<&SpanRecord>, closing: Closing, end_reason: Option<&str>) -> CallStatus {
    let root_failed = root.is_some_and(|r| matches!(r.status, SpanStatus::Error(_)));
    match closing {
        Closing::NoRoot => CallStatus::Incomplete,
        Closing::RootEnded if root_failed || end_reason == Some(semconv::END_REASON_ERROR) => {
            CallStatus::Failed
        }
        Closing::RootEnded => CallStatus::Completed,
    }
}

/// The root's user metadata (`call.metadata.<key>`), by key.
fn metadata(root: Option<&SpanRecord>) -> BTreeMap<String, serde_json::Value> {
    root.map(|r| {
        r.attributes
            .with_prefix(semconv::CALL_METADATA_PREFIX)
            .map(|(k, v)| (k.to_string(), v.to_json()))
            .collect()
    })
    .unwrap_or_default()
}

/// The call-level figures assembly knows (analysis adds the rest).
fn metrics(index: &SpanIndex, rules: &Rules, extent: &Extent) -> CallMetrics {
    let spans = index.spans().iter();
    CallMetrics {
        total_duration_ms: nanos_to_ms(extent.ended.saturating_sub(extent.started)),
        errors: spans
            .clone()
            .filter(|s| matches!(s.status, SpanStatus::Error(_)))
            .count() as u32,
        tool_executions: spans
            .filter(|s| rules.stage_of(s) == Some(Stage::Tool))
            .count() as u32,
        ..CallMetrics::default()
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
