//! One call log from one call's spans: index them, recognise the dialect, find the root, group
//! the turns, then the call's extent, identity, status and metadata around the turns, events
//! and metrics the other modules build.
//!
//! Pure: the spans and log records in, a [`CallLog`] out. Arrival order does not matter: every
//! decision is made on the whole set, sorted by time and linked by span ids.

use std::collections::BTreeMap;

use crate::receiver::calllog::{
    CallLog, CallMetrics, CallStatus, Deployment, Links, LiveKitJob, Stage, Turn,
};
use crate::receiver::span::{LogRecord, SpanRecord, SpanStatus};
use crate::semconv;
use crate::trace_id::to_hex;

use super::attrs::text;
use super::dialect::{self, CallKeys, Rules};
use super::events;
use super::group;
use super::index::SpanIndex;
use super::timing::{nanos_to_ms, offset_ms};
use super::turn::build_turn;
use super::{barge_in, tool_calls};

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
    let mut turns: Vec<Turn> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| build_turn(&index, rules, p, i as u32, extent.origin))
        .collect();
    tool_calls::add_recorded(rules, &parts, &mut turns, extent.origin);
    let speech = barge_in::CallSpeech {
        last_user_start_ms: group::last_user_speech(&index, rules)
            .map(|at| offset_ms(at, extent.origin)),
    };
    let audio: Vec<barge_in::TurnAudio> = parts
        .iter()
        .map(|p| barge_in::TurnAudio {
            heard: heard_text(p, rules),
            stops_at_interruption: stops_at_interruption(p, rules, extent.origin),
        })
        .collect();
    barge_in::settle(&mut turns, speech, &audio);
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
        metrics: metrics(&index, rules, &extent, &turns),
        issues: Vec::new(),
        events: recorded.events,
        logs: recorded.log_lines,
        custom_metrics: recorded.custom_metrics,
        turns,
        links: Links::default(),
        span_count: index.spans().len(),
        livekit: identity.livekit,
        deployment: deployment(&index, root),
        recording: None,
        redactions: Default::default(),
        reported_usage: Vec::new(),
        cost: None,
    }
}

/// The deployment the root's process names, else the first process that names one.
fn deployment(index: &SpanIndex, root: Option<&SpanRecord>) -> Option<Deployment> {
    let resource = root
        .into_iter()
        .chain(index.spans().iter().copied())
        .filter_map(|s| s.resource.as_deref())
        .find(|r| r.has_deployment())?;
    let text = |t: &Option<Box<str>>| t.as_deref().map(str::to_string);
    Some(Deployment {
        id: text(&resource.deployment_id),
        version: text(&resource.service_version),
        environment: text(&resource.deployment_environment),
    })
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
            .filter(|s| root.is_none_or(|r| r.service_name() == s.service_name()));
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
    livekit: Option<LiveKitJob>,
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
        let service_name = spans().find_map(|s| s.service_name().map(str::to_string));
        Identity {
            id: lookup(keys.id).unwrap_or_else(|| trace_hex.to_string()),
            agent_id: lookup(keys.agent_id)
                .or_else(|| agent_name.clone())
                .or_else(|| service_name.clone()),
            agent_name,
            service_name,
            end_reason: lookup(keys.end_reason),
            livekit: LiveKitJob {
                room_id: lookup(keys.livekit_room),
                job_id: lookup(keys.livekit_job),
            }
            .into_named(),
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

/// Whether the turn span's agent text is what played (cut at the playout position: the turn
/// span carries one) or what was sent to synthesis.
fn heard_text(parts: &group::TurnParts, rules: &Rules) -> barge_in::HeardText {
    let played = parts.turn.is_some_and(|t| {
        rules
            .interruption
            .playout
            .iter()
            .any(|k| t.attributes.get(k).is_some())
    });
    if played {
        barge_in::HeardText::Played
    } else {
        barge_in::HeardText::Sent
    }
}

/// Where the framework stops the agent's audio when it interrupts the turn, ms from `origin`:
/// the turn span's end where the dialect's spans give synthesis and not playback.
fn stops_at_interruption(parts: &group::TurnParts, rules: &Rules, origin: u64) -> Option<i64> {
    match rules.speech.interrupted {
        dialect::InterruptedAudio::AsRecorded => None,
        dialect::InterruptedAudio::UntilInterruption => {
            parts.turn.map(|t| offset_ms(t.end_unix_nano, origin))
        }
    }
}

/// The call-level figures assembly knows (analysis adds the rest): `errors` is the sum of the
/// turns' errors, so the call never misses a failure a turn shows.
fn metrics(index: &SpanIndex, rules: &Rules, extent: &Extent, turns: &[Turn]) -> CallMetrics {
    let errors: usize = turns.iter().map(|t| t.errors.len()).sum();
    CallMetrics {
        total_duration_ms: nanos_to_ms(extent.ended.saturating_sub(extent.started)),
        errors: u32::try_from(errors).unwrap_or(u32::MAX),
        tool_executions: index
            .spans()
            .iter()
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

#[cfg(test)]
mod tests {
    use super::super::dialect::VOICETRACE;
    use super::super::test_support::{span, MS, T0, TRACE};
    use super::*;
    use crate::receiver::calllog::Dialect;
    use crate::semconv::livekit;

    /// A conversation (1) with a turn (2) and an stt (3) from another process, whose clock runs
    /// ahead.
    fn call() -> Vec<SpanRecord> {
        vec![
            span(1, semconv::SPAN_CONVERSATION)
                .at(100, 2000)
                .attr(semconv::CALL_DIRECTION, "inbound")
                .attr("call.metadata.plan", "gold")
                .build(),
            span(2, semconv::SPAN_TURN).parent(1).at(0, 1500).build(),
            span(3, semconv::SPAN_STT)
                .parent(2)
                .at(50, 9000)
                .service("stt-worker")
                .attr(semconv::CONVERSATION_ID, "call-1")
                .build(),
        ]
    }

    fn extent_of(spans: &[SpanRecord], closing: Closing) -> Extent {
        let index = SpanIndex::new(spans);
        Extent::of(&index, index.root(), closing)
    }

    #[test]
    fn the_extent_is_read_on_the_roots_clock() {
        let e = extent_of(&call(), Closing::RootEnded);
        assert_eq!(
            (e.origin, e.started, e.ended),
            (T0, T0, T0 + 2000 * MS),
            "the turn starts before the root; the other process's stt does not stretch it"
        );
    }

    #[test]
    fn without_an_ended_root_the_call_ends_with_its_last_span() {
        let mut spans = call();
        spans[1].end_unix_nano = T0 + 2500 * MS;
        assert_eq!(extent_of(&spans, Closing::NoRoot).ended, T0 + 2500 * MS);
        spans[1].end_unix_nano = T0 + 1500 * MS;
        assert_eq!(extent_of(&spans, Closing::NoRoot).ended, T0 + 2000 * MS);
    }

    #[test]
    fn identity_reads_the_root_first_then_any_span() {
        let spans = call();
        let index = SpanIndex::new(&spans);
        let id = Identity::of(&index, index.root(), VOICETRACE.call, "trace");
        assert_eq!(id.id, "call-1");
        assert_eq!(id.agent_id.as_deref(), Some("agent"), "the service name");
        let bare = [span(1, "x")
            .service("svc")
            .attr(semconv::GEN_AI_AGENT_NAME, "bot")
            .build()];
        let index = SpanIndex::new(&bare);
        let id = Identity::of(&index, index.root(), VOICETRACE.call, "trace");
        assert_eq!(id.id, "trace");
        assert_eq!(id.agent_id.as_deref(), Some("bot"), "the agent's name");
        assert_eq!(id.service_name.as_deref(), Some("svc"));
    }

    #[test]
    fn the_deployment_is_the_roots_resource() {
        use crate::receiver::span::Resource;
        let deployed = |id: &str| Resource {
            service_name: Some("agent".into()),
            service_version: Some("1.2.0".into()),
            deployment_id: Some(id.into()),
            deployment_environment: Some("staging".into()),
        };
        let spans = [
            span(1, semconv::SPAN_CONVERSATION)
                .resource(deployed("root-dep"))
                .build(),
            span(2, semconv::SPAN_TURN)
                .parent(1)
                .resource(deployed("worker-dep"))
                .build(),
        ];
        let index = SpanIndex::new(&spans);
        let d = deployment(&index, index.root()).unwrap();
        assert_eq!(d.id.as_deref(), Some("root-dep"));
        assert_eq!(d.version.as_deref(), Some("1.2.0"));
        assert_eq!(d.environment.as_deref(), Some("staging"));
        let bare = [span(1, semconv::SPAN_CONVERSATION).build()];
        let index = SpanIndex::new(&bare);
        assert_eq!(deployment(&index, index.root()), None);
    }

    #[test]
    fn status_by_closing_root_and_end_reason() {
        let ok = span(1, semconv::SPAN_CONVERSATION);
        let failed = ok.clone().error("").build();
        let ok = ok.build();
        assert_eq!(
            status(Some(&ok), Closing::NoRoot, None),
            CallStatus::Incomplete
        );
        assert_eq!(
            status(Some(&ok), Closing::RootEnded, None),
            CallStatus::Completed
        );
        assert_eq!(
            status(Some(&failed), Closing::RootEnded, None),
            CallStatus::Failed
        );
        let error = Some(semconv::END_REASON_ERROR);
        assert_eq!(
            status(Some(&ok), Closing::RootEnded, error),
            CallStatus::Failed
        );
        assert_eq!(
            status(None, Closing::RootEnded, Some("hangup")),
            CallStatus::Completed
        );
    }

    #[test]
    fn a_call_log_from_three_spans() {
        let mut spans = call();
        spans.push(
            span(4, semconv::SPAN_TOOL_CALL)
                .parent(2)
                .at(60, 70)
                .attr(livekit::CLOSE_REASON, "error")
                .error("")
                .build(),
        );
        let log = build_call_log(&TRACE, &spans, &[], Closing::RootEnded, 3);
        assert_eq!(
            (log.id.as_str(), log.revision, log.dialect),
            ("call-1", 3, Dialect::Voicetrace)
        );
        assert_eq!(log.trace_id, "07".repeat(16));
        assert_eq!(
            (log.status, log.end_reason.as_deref()),
            (CallStatus::Failed, Some("error"))
        );
        assert_eq!(log.started_at, rfc3339_ms(T0));
        assert_eq!(log.metrics.total_duration_ms, 2000);
        assert_eq!((log.metrics.errors, log.metrics.tool_executions), (1, 1));
        assert_eq!(log.direction.as_deref(), Some("inbound"));
        assert_eq!(log.metadata["plan"], serde_json::json!("gold"));
        assert_eq!((log.turns.len(), log.span_count), (1, 4));
        assert_eq!(
            log.turns[0].start_ms, 0,
            "the call starts with its earliest span"
        );
    }

    #[test]
    fn rfc3339_with_milliseconds() {
        assert_eq!(rfc3339_ms(1_250_000_000), "1970-01-01T00:00:01.250Z");
        assert_eq!(rfc3339_ms(T0 + 7 * MS), "2023-11-14T22:13:20.007Z");
    }
}
