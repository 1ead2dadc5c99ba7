//! What a call's span events and log records become: custom metrics (`log_metric` events),
//! log lines (`tracing` events and OTLP log records) and call events (everything else), each
//! attributed to the turn its span belongs to.

use std::collections::BTreeMap;

use foldhash::{HashMap, HashMapExt};

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

#[cfg(test)]
mod tests {
    use super::super::dialect::VOICETRACE;
    use super::super::group::turns;
    use super::super::test_support::{attrs, sid, span, T0, TRACE};
    use super::*;
    use crate::receiver::span::Attributes;

    fn event(name: &str, attributes: Attributes) -> SpanEvent {
        SpanEvent {
            name: name.to_string(),
            time_unix_nano: T0,
            attributes,
        }
    }

    #[test]
    fn an_event_is_a_metric_a_log_line_or_a_call_event() {
        let metric = event(
            semconv::EVENT_LOG_METRIC,
            attrs(&[(semconv::METRIC_NAME, "csat"), (semconv::METRIC_VALUE, "5")]),
        );
        assert!(matches!(kind(&metric), Kind::Metric("csat", _)));
        let nameless = event(
            semconv::EVENT_LOG_METRIC,
            attrs(&[(semconv::METRIC_VALUE, 5)]),
        );
        assert_eq!(kind(&nameless), Kind::Incomplete);
        let tracing = event("took 3 ms", attrs(&[(semconv::TRACING_LEVEL, "INFO")]));
        assert_eq!(kind(&tracing), Kind::LogLine);
        let custom_log = attrs(&[
            (semconv::TRACING_LEVEL, "INFO"),
            (semconv::LOG_MESSAGE, "m"),
        ]);
        assert_eq!(kind(&event("log", custom_log)), Kind::Event);
        assert_eq!(
            kind(&event("exception", Attributes::default())),
            Kind::Event
        );
    }

    /// A turn (span 1) with an stt (2) that has a child (3), and a span outside the turn (4).
    fn call() -> Vec<SpanRecord> {
        let metric = attrs(&[(semconv::METRIC_NAME, "n"), (semconv::METRIC_VALUE, "1")]);
        let line = attrs(&[
            (semconv::TRACING_LEVEL, "WARN"),
            (semconv::TRACING_TARGET, "agent"),
            ("k", "v"),
        ]);
        vec![
            span(1, semconv::SPAN_TURN).at(0, 1000).build(),
            span(2, semconv::SPAN_STT).parent(1).at(0, 300).build(),
            span(3, "vad")
                .parent(2)
                .at(10, 20)
                .event("slow", 15, line)
                .event("mark", 12, Attributes::default())
                .build(),
            span(4, "setup")
                .at(0, 5)
                .event(semconv::EVENT_LOG_METRIC, 1, metric)
                .build(),
        ]
    }

    #[test]
    fn a_spans_turn_is_the_turn_of_its_nearest_turn_part() {
        let spans = call();
        let index = SpanIndex::new(&spans);
        let of = turn_of(&index, &turns(&index, &VOICETRACE));
        assert_eq!([1, 2, 3].map(|n| of.get(&sid(n)).copied()), [Some(0); 3]);
        assert_eq!(of.get(&sid(4)), None);
    }

    #[test]
    fn events_and_log_lines_in_time_order_attributed_to_their_turn() {
        let spans = call();
        let index = SpanIndex::new(&spans);
        let of = turn_of(&index, &turns(&index, &VOICETRACE));
        let log = LogRecord {
            trace_id: TRACE,
            span_id: Some(sid(2)),
            time_unix_nano: T0 + 5 * super::super::test_support::MS,
            level: "INFO".into(),
            message: "otlp".into(),
            attributes: Attributes::default(),
        };
        let out = record(&index, &of, &[log], T0);
        let events: Vec<(&str, i64, &str, Option<u32>)> = out
            .events
            .iter()
            .map(|e| (e.name.as_str(), e.at_ms, e.span.as_str(), e.turn))
            .collect();
        assert_eq!(events, [("mark", 12, "vad", Some(0))]);
        let lines: Vec<(&str, &str, i64, Option<u32>)> = out
            .log_lines
            .iter()
            .map(|l| (l.message.as_str(), l.level.as_str(), l.at_ms, l.turn))
            .collect();
        assert_eq!(
            lines,
            [("otlp", "INFO", 5, Some(0)), ("slow", "WARN", 15, Some(0))]
        );
        let fields: Vec<&String> = out.log_lines[1].fields.keys().collect();
        assert_eq!(fields, ["k"], "level and target are the line itself");
        assert_eq!(out.custom_metrics["n"], serde_json::json!("1"));
    }
}
