//! The receiver's own metrics, for Prometheus at `/metrics`.
//!
//! Receiver health (spans accepted/rejected/refused, calls open/finished/evicted, journal and
//! outbox depth, sink delivery counts) and histograms of turn stage latencies in seconds by
//! `stage` (stt, llm, tts, voice_to_voice) and `agent`, whose exemplars carry the call's
//! `trace_id`: from a slow bucket in Grafana, one click reaches the trace. Interruptions (barge-ins)
//! have their own histogram by `kind` (detection, stop) and `agent`, with the same exemplars.
//!
//! What calls cost is `voicetrace_cost_usd_total{agent,stage,provider,model}`: each call log's
//! cost lines, counted once per call (a revision adds only what it adds to the call's cost).
//!
//! Exemplars exist only in OpenMetrics, so [`ReceiverMetrics::encode`] writes OpenMetrics when the
//! scraper asks for it (`Accept: application/openmetrics-text`, as Prometheus does) and the
//! classic Prometheus text format otherwise.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::exemplar::HistogramWithExemplars;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use crate::receiver::calllog::{CallLog, Interruption};

/// Content type of the OpenMetrics answer.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// Content type of the classic Prometheus text answer.
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Bucket bounds of the stage latency histograms, in seconds. They include every default budget
/// (0.5 s STT and interruption stop, 0.9 s TTS, 1 s LLM, 1.5 s voice-to-voice) so that
/// "share of turns within budget" is one `le` bucket, and reach 10 s for the pathological turns.
const STAGE_LATENCY_BUCKETS: [f64; 13] = [
    0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 0.9, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0,
];

/// Labels of a stage latency series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
    agent: String,
}

/// The exemplar of a stage latency observation: which trace it came from.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct TraceLabel {
    trace_id: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatusLabel {
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssueLabel {
    r#type: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabels {
    sink: String,
    state: &'static str,
}

/// Labels of a cost series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, PartialOrd, Ord, EncodeLabelSet)]
struct CostLabels {
    agent: String,
    stage: &'static str,
    provider: String,
    model: String,
}

/// Calls whose counted cost is remembered, so that a revision adds only its difference: far
/// more than the revisions in flight at once (a call is revised within its idle timeout).
const COSTED_CALLS: usize = 10_000;

/// What was counted for the calls seen last, by (call id, trace id).
#[derive(Debug, Default)]
struct CostLedger {
    counted: HashMap<(String, String), Vec<(CostLabels, f64)>>,
    order: VecDeque<(String, String)>,
}

impl CostLedger {
    /// The amounts to add for a call now costing `lines`, remembering them.
    fn increase(
        &mut self,
        call: (String, String),
        lines: Vec<(CostLabels, f64)>,
    ) -> Vec<(CostLabels, f64)> {
        let before = match self.counted.get(&call) {
            Some(before) => before.clone(),
            None => {
                if self.order.len() >= COSTED_CALLS {
                    if let Some(oldest) = self.order.pop_front() {
                        self.counted.remove(&oldest);
                    }
                }
                self.order.push_back(call.clone());
                Vec::new()
            }
        };
        let increases = lines
            .iter()
            .filter_map(|(labels, usd)| {
                let was = before
                    .iter()
                    .find(|(l, _)| l == labels)
                    .map_or(0.0, |(_, usd)| *usd);
                (usd - was > 0.0).then(|| (labels.clone(), usd - was))
            })
            .collect();
        self.counted.insert(call, lines);
        increases
    }
}

type CostCounters = Family<CostLabels, Counter<f64, AtomicU64>>;

/// Labels of an interruption latency series.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct InterruptionLabels {
    kind: &'static str,
    agent: String,
}

type InterruptionHistograms = Family<
    InterruptionLabels,
    HistogramWithExemplars<TraceLabel>,
    fn() -> HistogramWithExemplars<TraceLabel>,
>;

type StageHistograms = Family<
    StageLabels,
    HistogramWithExemplars<TraceLabel>,
    fn() -> HistogramWithExemplars<TraceLabel>,
>;

fn new_stage_histogram() -> HistogramWithExemplars<TraceLabel> {
    HistogramWithExemplars::new(STAGE_LATENCY_BUCKETS.into_iter())
}

/// The receiver's metrics. Cheap to clone: every clone updates the same series.
#[derive(Clone)]
pub struct ReceiverMetrics {
    registry: Arc<Registry>,
    spans_accepted: Counter,
    spans_rejected: Counter,
    spans_refused: Counter,
    metric_points: Counter,
    calls_open: Gauge,
    calls_evicted: Counter,
    traces_ignored: Counter,
    calls_finished: Family<StatusLabel, Counter>,
    call_issues: Family<IssueLabel, Counter>,
    journal_depth: Gauge,
    journal_segments: Gauge,
    outbox_depth: Gauge,
    sink_calls: Family<SinkLabels, Gauge>,
    stage_latency: StageHistograms,
    interruption_latency: InterruptionHistograms,
    recordings_received: Counter,
    recordings_refused: Family<ReasonLabel, Counter>,
    recordings_removed: Family<ReasonLabel, Counter>,
    recordings_bytes: Gauge,
    recordings_quota_bytes: Gauge,
    recording_max_bytes: Gauge,
    cost_usd: CostCounters,
    costed: Arc<Mutex<CostLedger>>,
}

impl Default for ReceiverMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for ReceiverMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReceiverMetrics").finish_non_exhaustive()
    }
}

impl ReceiverMetrics {
    /// A registry with every metric at zero.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("voicetrace");
        let spans_accepted = Counter::default();
        registry.register(
            "spans_accepted",
            "Spans accepted by OTLP ingest",
            spans_accepted.clone(),
        );
        let spans_rejected = Counter::default();
        registry.register(
            "spans_rejected",
            "Spans rejected as invalid (not retried by the exporter)",
            spans_rejected.clone(),
        );
        let spans_refused = Counter::default();
        registry.register(
            "spans_refused",
            "Spans refused: under back-pressure (the exporter retries them) or over the per-call span bound (dropped)",
            spans_refused.clone(),
        );
        let metric_points = Counter::default();
        registry.register(
            "metric_points",
            "OTLP metric data points received (usage points that name a call are folded into it)",
            metric_points.clone(),
        );
        let calls_open = Gauge::default();
        registry.register("calls_open", "Calls being assembled", calls_open.clone());
        let calls_evicted = Counter::default();
        registry.register(
            "calls_evicted",
            "Calls evicted from assembly because the call table was full",
            calls_evicted.clone(),
        );
        let traces_ignored = Counter::default();
        registry.register(
            "traces_ignored",
            "Traces dropped because they are not calls (no call root, turn, voice or GenAI span, nor call id)",
            traces_ignored.clone(),
        );
        let calls_finished = Family::<StatusLabel, Counter>::default();
        registry.register(
            "calls_finished",
            "Call logs finished or revised, by status (completed, failed, incomplete)",
            calls_finished.clone(),
        );
        let call_issues = Family::<IssueLabel, Counter>::default();
        registry.register(
            "call_issues",
            "Issues found by analysis in finished call logs, by type",
            call_issues.clone(),
        );
        let journal_depth = Gauge::default();
        registry.register(
            "journal_depth",
            "Entries in the span journal (the records of one trace from one request) of calls not released yet",
            journal_depth.clone(),
        );
        let journal_segments = Gauge::default();
        registry.register(
            "journal_segments",
            "Segment files of the span journal on disk (deleted once every call in them is released)",
            journal_segments.clone(),
        );
        let outbox_depth = Gauge::default();
        registry.register(
            "outbox_depth",
            "Outbox entries not yet delivered, over all sinks",
            outbox_depth.clone(),
        );
        let sink_calls = Family::<SinkLabels, Gauge>::default();
        registry.register(
            "sink_calls",
            "Call logs per sink by delivery state (delivered, retrying, dead, pending)",
            sink_calls.clone(),
        );
        let stage_latency: StageHistograms =
            Family::new_with_constructor(new_stage_histogram as fn() -> _);
        registry.register_with_unit(
            "turn_stage_latency",
            "Per-turn stage latency (stt, llm, tts: time to first result; voice_to_voice: end of \
             user speech to first agent audio); exemplars carry the trace_id",
            Unit::Seconds,
            stage_latency.clone(),
        );
        let interruption_latency: InterruptionHistograms =
            Family::new_with_constructor(new_stage_histogram as fn() -> _);
        registry.register_with_unit(
            "interruption_latency",
            "Per-interruption latency (detection: user starts speaking to interruption detected; \
             stop: detected to agent audio stopped); exemplars carry the trace_id",
            Unit::Seconds,
            interruption_latency.clone(),
        );
        let recordings_received = Counter::default();
        registry.register(
            "recordings_received",
            "Recordings (and LiveKit chat histories) received and kept",
            recordings_received.clone(),
        );
        let recordings_refused = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "recordings_refused",
            "Recording uploads refused, by reason (too_large, unsupported_media, unreadable)",
            recordings_refused.clone(),
        );
        let recordings_removed = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "recordings_removed",
            "Recordings removed, by reason (orphaned: named no call within the idle timeout; \
             retention; quota: oldest first past the total quota; replaced by a newer upload)",
            recordings_removed.clone(),
        );
        let recordings_bytes = Gauge::default();
        registry.register_with_unit(
            "recordings",
            "Bytes of recorded audio kept",
            Unit::Bytes,
            recordings_bytes.clone(),
        );
        let recordings_quota_bytes = Gauge::default();
        registry.register_with_unit(
            "recordings_quota",
            "The total quota of recorded audio (0: none); the oldest recordings go past it",
            Unit::Bytes,
            recordings_quota_bytes.clone(),
        );
        let recording_max_bytes = Gauge::default();
        registry.register_with_unit(
            "recording_max",
            "The largest recording accepted (413 past it)",
            Unit::Bytes,
            recording_max_bytes.clone(),
        );
        let cost_usd = CostCounters::default();
        registry.register(
            "cost_usd",
            "What calls cost at the price table's list prices, USD, by agent, stage, provider and model (a revision adds only its difference)",
            cost_usd.clone(),
        );
        ReceiverMetrics {
            recordings_received,
            recordings_refused,
            recordings_removed,
            recordings_bytes,
            recordings_quota_bytes,
            recording_max_bytes,
            registry: Arc::new(registry),
            cost_usd,
            costed: Arc::default(),
            spans_accepted,
            spans_rejected,
            spans_refused,
            metric_points,
            calls_open,
            calls_evicted,
            traces_ignored,
            calls_finished,
            call_issues,
            journal_depth,
            journal_segments,
            outbox_depth,
            sink_calls,
            stage_latency,
            interruption_latency,
        }
    }

    /// `n` spans were accepted by ingest.
    pub fn spans_accepted(&self, n: u64) {
        self.spans_accepted.inc_by(n);
    }

    /// `n` spans were rejected as invalid.
    pub fn spans_rejected(&self, n: u64) {
        self.spans_rejected.inc_by(n);
    }

    /// `n` spans were refused under back-pressure (the exporter was told to retry).
    pub fn spans_refused(&self, n: u64) {
        self.spans_refused.inc_by(n);
    }

    /// `n` OTLP metric data points were received.
    pub fn metric_points(&self, n: u64) {
        self.metric_points.inc_by(n);
    }

    /// Calls being assembled right now.
    pub fn set_calls_open(&self, n: i64) {
        self.calls_open.set(n);
    }

    /// `n` calls were evicted from assembly.
    pub fn calls_evicted(&self, n: u64) {
        self.calls_evicted.inc_by(n);
    }

    /// `n` traces were dropped as not calls.
    pub fn traces_ignored(&self, n: u64) {
        self.traces_ignored.inc_by(n);
    }

    /// A call log was finished or revised: counts it by status and its issues by type, and
    /// observes each turn's stage latencies with the trace id as exemplar.
    pub fn call_finished(&self, log: &CallLog) {
        self.calls_finished
            .get_or_create(&StatusLabel {
                status: log.status.as_str(),
            })
            .inc();
        for issue in &log.issues {
            self.call_issues
                .get_or_create(&IssueLabel {
                    r#type: issue.kind.clone(),
                })
                .inc();
        }
        let agent = log
            .agent_id
            .clone()
            .unwrap_or_else(|| "unknown".to_string());
        self.count_cost(log, &agent);
        for turn in &log.turns {
            let stages = [
                ("stt", turn.stt_ms),
                ("llm", turn.llm_ms),
                ("tts", turn.tts_ms),
                ("voice_to_voice", turn.latency_ms),
            ];
            for (stage, ms) in stages {
                // A greeting's sttMs is 0 by convention ("no STT"): not an observation.
                let Some(ms) = ms.filter(|&ms| ms > 0 || stage != "stt") else {
                    continue;
                };
                let seconds = ms.max(0) as f64 / 1000.0;
                self.stage_latency
                    .get_or_create(&StageLabels {
                        stage,
                        agent: agent.clone(),
                    })
                    .observe(
                        seconds,
                        Some(TraceLabel {
                            trace_id: log.trace_id.clone(),
                        }),
                        None,
                    );
            }
            if let Some(interruption) = &turn.interruption {
                self.observe_interruption(interruption, &agent, &log.trace_id);
            }
        }
    }

    /// Adds what the call's cost lines add to what was counted for it before.
    fn count_cost(&self, log: &CallLog, agent: &str) {
        let Some(cost) = &log.cost else {
            return;
        };
        let named = |s: &Option<String>| s.clone().unwrap_or_else(|| "unknown".to_string());
        let lines: Vec<(CostLabels, f64)> = cost
            .models
            .iter()
            .map(|line| {
                let labels = CostLabels {
                    agent: agent.to_string(),
                    stage: line.stage.as_str(),
                    provider: named(&line.provider),
                    model: named(&line.model),
                };
                (labels, line.usd)
            })
            .collect();
        let call = (log.id.clone(), log.trace_id.clone());
        let increases = match self.costed.lock() {
            Ok(mut ledger) => ledger.increase(call, lines),
            Err(_) => return,
        };
        for (labels, usd) in increases {
            self.cost_usd.get_or_create(&labels).inc_by(usd);
        }
    }

    fn observe_interruption(&self, interruption: &Interruption, agent: &str, trace_id: &str) {
        let kinds = [
            ("detection", interruption.detection_latency_ms),
            ("stop", interruption.stop_latency_ms),
        ];
        for (kind, ms) in kinds {
            let Some(ms) = ms else { continue };
            self.interruption_latency
                .get_or_create(&InterruptionLabels {
                    kind,
                    agent: agent.to_string(),
                })
                .observe(
                    ms.max(0) as f64 / 1000.0,
                    Some(TraceLabel {
                        trace_id: trace_id.to_string(),
                    }),
                    None,
                );
        }
    }

    /// Entries in the journal, and its segment files.
    pub fn set_journal_depth(&self, entries: i64, segments: i64) {
        self.journal_depth.set(entries);
        self.journal_segments.set(segments);
    }

    /// Outbox entries not yet delivered.
    pub fn set_outbox_depth(&self, n: i64) {
        self.outbox_depth.set(n);
    }

    /// The outbox counts of one sink.
    pub fn set_sink_counts(
        &self,
        sink: &str,
        delivered: u64,
        retrying: u64,
        dead: u64,
        pending: u64,
    ) {
        for (state, n) in [
            ("delivered", delivered),
            ("retrying", retrying),
            ("dead", dead),
            ("pending", pending),
        ] {
            self.sink_calls
                .get_or_create(&SinkLabels {
                    sink: sink.to_string(),
                    state,
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// A recording (or a chat history alone) was received and kept.
    pub fn recording_received(&self) {
        self.recordings_received.inc();
    }

    /// A recording upload was refused for `reason`.
    pub fn recording_refused(&self, reason: &'static str) {
        self.recordings_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// A recording (or its audio) was removed for `reason`.
    pub fn recording_removed(&self, reason: &'static str) {
        self.recordings_removed
            .get_or_create(&ReasonLabel { reason })
            .inc();
    }

    /// Bytes of audio kept.
    pub fn set_recordings_bytes(&self, bytes: u64) {
        self.recordings_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// The per-recording bound and the total quota.
    pub fn recording_bounds(&self, max_recording_bytes: u64, max_total_bytes: u64) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.recording_max_bytes.set(gauge(max_recording_bytes));
        self.recordings_quota_bytes.set(gauge(max_total_bytes));
    }

    /// Every metric as OpenMetrics text (with exemplars) or as Prometheus text format 0.0.4.
    pub fn encode(&self, openmetrics: bool) -> String {
        let mut text = String::new();
        if let Err(error) = encode(&mut text, &self.registry) {
            // Writing into a String cannot fail; keep what was written if it ever does.
            tracing::warn!(%error, "encoding metrics failed");
        }
        if openmetrics {
            text
        } else {
            to_prometheus_text(&text)
        }
    }

    /// The content type of [`ReceiverMetrics::encode`]'s answer.
    pub fn content_type(openmetrics: bool) -> &'static str {
        if openmetrics {
            OPENMETRICS_CONTENT_TYPE
        } else {
            PROMETHEUS_TEXT_CONTENT_TYPE
        }
    }
}

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

/// OpenMetrics text → Prometheus text format 0.0.4: no exemplars, no `# UNIT`, no `# EOF`, and
/// counter families named by their `_total` samples.
fn to_prometheus_text(openmetrics: &str) -> String {
    let mut out = String::with_capacity(openmetrics.len());
    let mut counters = std::collections::HashSet::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some(name) = rest.strip_suffix(" counter") {
                counters.insert(name.to_string());
                out.push_str(&format!("# TYPE {name}_total counter\n"));
                continue;
            }
        }
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, help) = rest.split_once(' ').unwrap_or((rest, ""));
            if counters.contains(name) || next_type_is_counter(openmetrics, name) {
                out.push_str(&format!("# HELP {name}_total {help}\n"));
                continue;
            }
            out.push_str(line);
            out.push('\n');
            continue;
        }
        out.push_str(strip_exemplar(line));
        out.push('\n');
    }
    out
}

fn next_type_is_counter(text: &str, name: &str) -> bool {
    text.contains(&format!("# TYPE {name} counter\n"))
}

/// A sample line without its exemplar (` # {labels} value [timestamp]`), found after the
/// sample's label set so that a `#` inside a label value is left alone.
fn strip_exemplar(line: &str) -> &str {
    if line.starts_with('#') {
        return line;
    }
    let bytes = line.as_bytes();
    let mut i = 0;
    // Skip the metric name and the label set, honouring quotes and escapes.
    let mut in_labels = false;
    let mut in_quotes = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_quotes {
            if b == b'\\' {
                i += 1;
            } else if b == b'"' {
                in_quotes = false;
            }
        } else if in_labels {
            if b == b'"' {
                in_quotes = true;
            } else if b == b'}' {
                in_labels = false;
            }
        } else if b == b'{' {
            in_labels = true;
        } else if b == b' ' {
            break;
        }
        i += 1;
    }
    match line[i..].find(" # ") {
        Some(at) => &line[..i + at],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exemplars_only_in_openmetrics() {
        let metrics = ReceiverMetrics::new();
        metrics.spans_accepted(3);
        metrics.set_sink_counts("jsonl", 5, 1, 0, 2);
        let mut log = crate::receiver::calllog::bare_call_log("c1");
        log.agent_id = Some("agent # {x}".to_string());
        metrics.call_finished(&log);
        // No turns: only the status counter moves.
        let om = metrics.encode(true);
        assert!(
            om.contains("voicetrace_calls_finished_total{status=\"completed\"} 1"),
            "{om}"
        );
        assert!(om.ends_with("# EOF\n"));

        let turn: crate::receiver::calllog::Turn = serde_json::from_value(serde_json::json!({
            "index": 1, "speaker": "user", "text": null, "userText": null, "startMs": 0,
            "endMs": 1, "sttMs": 120, "llmMs": 450, "ttsMs": 2300, "latencyMs": 3000,
            "endpointingMs": null, "sttDurationMs": null, "llmDurationMs": null,
            "ttsDurationMs": null, "toolMs": null, "interrupted": false, "interruption": null,
            "tools": [], "timingSource": {}, "providers": {}, "llmInputTokens": null,
            "llmOutputTokens": null, "ttsCharacters": null, "errors": []
        }))
        .unwrap();
        log.turns = vec![turn];
        metrics.call_finished(&log);

        let om = metrics.encode(true);
        assert!(
            om.contains("# UNIT voicetrace_turn_stage_latency_seconds seconds"),
            "{om}"
        );
        assert!(
            om.contains("trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\""),
            "exemplar: {om}"
        );
        let prom = metrics.encode(false);
        assert!(!prom.contains("trace_id=\""), "no exemplars: {prom}");
        assert!(!prom.contains("# EOF") && !prom.contains("# UNIT"));
        assert!(
            prom.contains("# TYPE voicetrace_spans_accepted_total counter"),
            "{prom}"
        );
        assert!(prom.contains("voicetrace_spans_accepted_total 3"), "{prom}");
        assert!(
            prom.contains("voicetrace_sink_calls{sink=\"jsonl\",state=\"delivered\"} 5"),
            "{prom}"
        );
        // The tts observation of 2.3 s is in the 3 s bucket, not the 2 s one.
        assert!(
            prom.contains(
                "voicetrace_turn_stage_latency_seconds_bucket{le=\"3.0\",stage=\"tts\",agent=\"agent # {x}\"} 1"
            ) || prom.contains(
                "voicetrace_turn_stage_latency_seconds_bucket{stage=\"tts\",agent=\"agent # {x}\",le=\"3.0\"} 1"
            ),
            "{prom}"
        );
    }

    #[test]
    fn interruptions_are_observed_by_kind_with_their_trace() {
        let telemetry = ReceiverMetrics::new();
        telemetry.observe_interruption(
            &Interruption {
                detection_latency_ms: Some(150),
                stop_latency_ms: Some(600),
                bleed_through_words: Some(3),
            },
            "support-bot",
            "4bf92f3577b34da6a3ce929d0e0e4736",
        );
        telemetry.observe_interruption(
            &Interruption {
                detection_latency_ms: None,
                stop_latency_ms: None,
                bleed_through_words: Some(1),
            },
            "support-bot",
            "00f067aa0ba902b700f067aa0ba902b7",
        );
        let om = telemetry.encode(true);
        let line = |needle: &str| {
            om.lines()
                .find(|l| l.starts_with(needle))
                .unwrap_or_else(|| panic!("no {needle} in {om}"))
                .to_string()
        };
        // The 0.6 s stop is over the 0.5 s bucket (the default stop budget), in the 0.75 s one,
        // which carries the exemplar; an interruption without figures observes nothing.
        let name = "voicetrace_interruption_latency_seconds";
        let stop_05 = line(&format!("{name}_bucket{{le=\"0.5\",kind=\"stop\""));
        assert!(stop_05.ends_with("} 0"), "{stop_05}");
        let stop_075 = line(&format!("{name}_bucket{{le=\"0.75\",kind=\"stop\""));
        assert!(
            stop_075.ends_with("} 1 # {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 0.6"),
            "{stop_075}"
        );
        for kind in ["detection", "stop"] {
            let count = line(&format!(
                "{name}_count{{kind=\"{kind}\",agent=\"support-bot\"}}"
            ));
            assert!(count.ends_with(" 1"), "{count}");
        }
    }

    #[test]
    fn a_calls_cost_is_counted_once_revisions_add_their_difference() {
        let metrics = ReceiverMetrics::new();
        let mut log: CallLog = serde_json::from_value(serde_json::json!({
            "id": "c1", "traceId": "4bf92f3577b34da6a3ce929d0e0e4736", "revision": 1,
            "dialect": "voicetrace", "agentId": "bot", "agentName": null,
            "serviceName": null, "status": "completed", "endReason": null,
            "startedAt": "", "endedAt": "", "direction": null, "from": null, "to": null,
            "recordingUrl": null, "metadata": {}, "turns": [],
            "metrics": {"totalDurationMs": 0, "avgTurnLatencyMs": null,
              "p50TurnLatencyMs": null, "p95TurnLatencyMs": null, "turns": 0,
              "toolExecutions": 0, "interruptions": 0, "llmInputTokens": 0,
              "llmOutputTokens": 0, "ttsCharacters": 0, "errors": 0},
            "issues": [], "events": [], "logs": [], "customMetrics": {}, "links": {},
            "spanCount": 1,
            "cost": {"totalUsd": 0.25, "pricesVersion": "v", "stages": {"llm": 0.25},
              "models": [{"stage": "llm", "provider": "openai", "model": "gpt-4o",
                          "pricedAs": "openai/gpt-4o", "usd": 0.25}],
              "turns": [], "unpriced": [], "estimated": false}
        }))
        .unwrap();
        let series = "voicetrace_cost_usd_total{agent=\"bot\",stage=\"llm\",provider=\"openai\",model=\"gpt-4o\"}";
        metrics.call_finished(&log);
        assert!(metrics.encode(false).contains(&format!("{series} 0.25")));
        if let Some(cost) = log.cost.as_mut() {
            cost.models[0].usd = 0.75;
        }
        log.revision = 2;
        metrics.call_finished(&log);
        let text = metrics.encode(false);
        assert!(text.contains(&format!("{series} 0.75")), "{text}");
    }

    #[test]
    fn exemplar_stripping_respects_label_values() {
        assert_eq!(
            strip_exemplar("m_bucket{a=\"x # {y}\",le=\"1.0\"} 2 # {trace_id=\"ab\"} 0.5"),
            "m_bucket{a=\"x # {y}\",le=\"1.0\"} 2"
        );
        assert_eq!(strip_exemplar("m_total 3"), "m_total 3");
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(None));
    }
}
