//! What a call's span events and log records become: custom metrics (`log_metric` events),
//! log lines (`tracing` events and OTLP log records) and call events (everything else), each
//! attributed to the turn its span belongs to.

use std::collections::{BTreeMap, HashMap};

use crate::receiver::calllog::{CallEvent, LogLine};
use crate::receiver::span::{AttrValue, LogRecord, SpanEvent, SpanId, SpanRecord};
use crate::semconv;

use super::attrs::to_json;
use super::group::TurnParts;
use super::index::SpanIndex;
use super::timing::offset_ms;

/// Keys of a `tracing` event that are the log line itself, not its fields.
const TRACING_OWN_KEYS: &[&str] = &[semconv::TRACING_LEVEL, semconv::TRACING_TARGET];

/// A call's events, log lines and custom metrics.
#[derive(Debug, Default, PartialEq)]
pub struct Recorded {
    /// Call events, in time order.
    pub events: Vec<CallEvent>,
    /// Log lines, in time order.
    pub log_lines: Vec<LogLine>,
    /// Custom metrics, the last value of each name winning.
    pub custom_metrics: BTreeMap<String, serde_json::Value>,
}

/// The turn (by position) of each span that belongs to one: the turn's own spans, its stage
/// spans and all their descendants; a span under two turns goes to the later one.
pub fn turn_of(index: &SpanIndex, turns: &[TurnParts]) -> HashMap<SpanId, u32> {
    let mut turn_of = HashMap::new();
    for (i, parts) in turns.iter().enumerate() {
        let stages = parts.stages.iter().map(|(_, s)| *s);
        for s in parts.own().chain(stages) {
            turn_of.insert(s.span_id, i as u32);
            for d in index.descendants(s) {
                turn_of.insert(d.span_id, i as u32);
            }
        }
    }
    turn_of
}

/// The events of every span and the log records, times relative to `origin` (Unix ns).
pub fn record(
    index: &SpanIndex,
    turn_of: &HashMap<SpanId, u32>,
    logs: &[LogRecord],
    origin: u64,
) -> Recorded {
    let mut out = Recorded::default();
    for span in index.spans() {
        let turn = turn_of.get(&span.span_id).copied();
        for event in &span.events {
            out.add(span, event, turn, origin);
        }
    }
    out.log_lines.extend(logs.iter().map(|record| LogLine {
        at_ms: offset_ms(record.time_unix_nano, origin),
        level: record.level.clone(),
        message: record.message.clone(),
        turn: record.span_id.and_then(|s| turn_of.get(&s).copied()),
        fields: to_json(&record.attributes, &[]),
    }));
    out.events.sort_by_key(|e| e.at_ms);
    out.log_lines.sort_by_key(|l| l.at_ms);
    out
}

/// What a span event is.
#[derive(Debug, PartialEq)]
enum Kind<'e> {
    /// A custom metric: its name and value.
    Metric(&'e str, &'e AttrValue),
    /// A `log_metric` event without a name or a value: dropped.
    Incomplete,
    /// A `tracing` log line (a level, and no `log.message` of a custom log event).
    LogLine,
    /// Anything else.
    Event,
}

fn kind(event: &SpanEvent) -> Kind<'_> {
    let a = &event.attributes;
    if event.name == semconv::EVENT_LOG_METRIC {
        match (a.str(semconv::METRIC_NAME), a.get(semconv::METRIC_VALUE)) {
            (Some(name), Some(value)) => Kind::Metric(name, value),
            _ => Kind::Incomplete,
        }
    } else if a.get(semconv::TRACING_LEVEL).is_some() && a.get(semconv::LOG_MESSAGE).is_none() {
        Kind::LogLine
    } else {
        Kind::Event
    }
}

impl Recorded {
    /// Files one event of `span`.
    fn add(&mut self, span: &SpanRecord, event: &SpanEvent, turn: Option<u32>, origin: u64) {
        let at_ms = offset_ms(event.time_unix_nano, origin);
        let a = &event.attributes;
        match kind(event) {
            Kind::Metric(name, value) => {
                self.custom_metrics
                    .insert(name.to_string(), value.to_json());
            }
            Kind::Incomplete => {}
            Kind::LogLine => self.log_lines.push(LogLine {
                at_ms,
                level: a
                    .get(semconv::TRACING_LEVEL)
                    .map(AttrValue::to_text)
                    .unwrap_or_default(),
                message: event.name.clone(),
                turn,
                fields: to_json(a, TRACING_OWN_KEYS),
            }),
            Kind::Event => self.events.push(CallEvent {
                name: event.name.clone(),
                at_ms,
                span: span.name.to_string(),
                turn,
                attributes: to_json(a, &[]),
            }),
        }
    }
}
