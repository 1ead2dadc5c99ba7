//! The journal's records, encoded: a compact protobuf encoding of [`SpanRecord`]/[`LogRecord`]/
//! [`MetricPoint`] per trace (derived with prost, no schema file: the journal is private to the
//! receiver and never outlives a version change, as a receiver drains it at start). Pure: bytes
//! in, records out.

use foldhash::{HashMap, HashMapExt};
use std::sync::Arc;

use super::segments::Entry;
use crate::receiver::span::{
    AttrValue, Attributes, Batch, LogRecord, MetricPoint, Name, Resource, SpanEvent, SpanRecord,
    SpanStatus, Temporality, TraceId,
};

#[derive(Clone, PartialEq, prost::Message)]
struct JRecords {
    #[prost(message, repeated, tag = "1")]
    spans: Vec<JSpan>,
    #[prost(message, repeated, tag = "2")]
    logs: Vec<JLog>,
    #[prost(message, repeated, tag = "3")]
    points: Vec<JPoint>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JPoint {
    #[prost(string, repeated, tag = "1")]
    call_names: Vec<String>,
    #[prost(string, tag = "2")]
    metric: String,
    #[prost(string, optional, tag = "3")]
    provider: Option<String>,
    #[prost(string, optional, tag = "4")]
    model: Option<String>,
    #[prost(fixed64, tag = "5")]
    start: u64,
    #[prost(fixed64, tag = "6")]
    time: u64,
    #[prost(double, tag = "7")]
    value: f64,
    /// 0 delta, 1 cumulative.
    #[prost(int32, tag = "8")]
    temporality: i32,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JSpan {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "3")]
    parent_span_id: Vec<u8>,
    #[prost(string, tag = "4")]
    name: String,
    #[prost(fixed64, tag = "5")]
    start: u64,
    #[prost(fixed64, tag = "6")]
    end: u64,
    /// 0 unset, 1 ok, 2 error.
    #[prost(int32, tag = "7")]
    status: i32,
    #[prost(string, tag = "8")]
    status_message: String,
    #[prost(message, repeated, tag = "9")]
    attributes: Vec<JAttr>,
    #[prost(message, repeated, tag = "10")]
    events: Vec<JEvent>,
    #[prost(string, optional, tag = "11")]
    service_name: Option<String>,
    #[prost(string, optional, tag = "12")]
    service_version: Option<String>,
    #[prost(string, optional, tag = "13")]
    deployment_id: Option<String>,
    #[prost(string, optional, tag = "14")]
    deployment_environment: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JEvent {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(fixed64, tag = "2")]
    time: u64,
    #[prost(message, repeated, tag = "3")]
    attributes: Vec<JAttr>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JLog {
    #[prost(bytes = "vec", tag = "1")]
    trace_id: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    span_id: Vec<u8>,
    #[prost(fixed64, tag = "3")]
    time: u64,
    #[prost(string, tag = "4")]
    level: String,
    #[prost(string, tag = "5")]
    message: String,
    #[prost(message, repeated, tag = "6")]
    attributes: Vec<JAttr>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JAttr {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(message, optional, tag = "2")]
    value: Option<JValue>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JValue {
    #[prost(oneof = "JKind", tags = "1, 2, 3, 4, 5, 6")]
    kind: Option<JKind>,
}

#[derive(Clone, PartialEq, prost::Message)]
struct JArray {
    #[prost(message, repeated, tag = "1")]
    values: Vec<JValue>,
}

#[derive(Clone, PartialEq, prost::Oneof)]
enum JKind {
    #[prost(string, tag = "1")]
    Str(String),
    #[prost(bool, tag = "2")]
    Bool(bool),
    #[prost(int64, tag = "3")]
    Int(i64),
    #[prost(double, tag = "4")]
    Double(f64),
    #[prost(bytes, tag = "5")]
    Bytes(Vec<u8>),
    #[prost(message, tag = "6")]
    Array(JArray),
}

fn value_to(v: &AttrValue) -> JValue {
    JValue {
        kind: Some(match v {
            AttrValue::Str(s) => JKind::Str(String::from(&**s)),
            AttrValue::Bool(b) => JKind::Bool(*b),
            AttrValue::Int(i) => JKind::Int(*i),
            AttrValue::Double(d) => JKind::Double(*d),
            AttrValue::Bytes(b) => JKind::Bytes(b.to_vec()),
            AttrValue::Array(a) => JKind::Array(JArray {
                values: a.iter().map(value_to).collect(),
            }),
        }),
    }
}

fn value_from(v: JValue) -> Option<AttrValue> {
    Some(match v.kind? {
        JKind::Str(s) => AttrValue::Str(s.into()),
        JKind::Bool(b) => AttrValue::Bool(b),
        JKind::Int(i) => AttrValue::Int(i),
        JKind::Double(d) => AttrValue::Double(d),
        JKind::Bytes(b) => AttrValue::Bytes(b.into()),
        JKind::Array(a) => AttrValue::Array(a.values.into_iter().filter_map(value_from).collect()),
    })
}

fn attrs_to(a: &Attributes) -> Vec<JAttr> {
    a.0.iter()
        .map(|(k, v)| JAttr {
            key: k.as_str().to_owned(),
            value: Some(value_to(v)),
        })
        .collect()
}

fn attrs_from(a: Vec<JAttr>) -> Attributes {
    Attributes::exact(
        a.len(),
        a.into_iter()
            .filter_map(|kv| Some((Name::from(kv.key), value_from(kv.value?)?))),
    )
}

#[cfg(test)]
fn span_to(s: &SpanRecord) -> JSpan {
    let (status, status_message) = match &s.status {
        SpanStatus::Unset => (0, String::new()),
        SpanStatus::Ok => (1, String::new()),
        SpanStatus::Error(m) => (2, m.clone()),
    };
    JSpan {
        trace_id: s.trace_id.to_vec(),
        span_id: s.span_id.to_vec(),
        parent_span_id: s.parent_span_id.map(|p| p.to_vec()).unwrap_or_default(),
        name: s.name.as_str().to_owned(),
        start: s.start_unix_nano,
        end: s.end_unix_nano,
        status,
        status_message,
        attributes: attrs_to(&s.attributes),
        events: s
            .events
            .iter()
            .map(|e| JEvent {
                name: e.name.clone(),
                time: e.time_unix_nano,
                attributes: attrs_to(&e.attributes),
            })
            .collect(),
        service_name: resource_text(s, |r| &r.service_name),
        service_version: resource_text(s, |r| &r.service_version),
        deployment_id: resource_text(s, |r| &r.deployment_id),
        deployment_environment: resource_text(s, |r| &r.deployment_environment),
    }
}

#[cfg(test)]
fn resource_text(s: &SpanRecord, field: impl Fn(&Resource) -> &Option<Box<str>>) -> Option<String> {
    s.resource
        .as_deref()
        .and_then(|r| field(r).as_deref().map(str::to_string))
}

/// The resources of the spans being decoded, so that spans of one resource share one `Arc`
/// again after a replay (a handful per journal entry: a linear search).
#[derive(Default)]
struct Resources(Vec<Arc<Resource>>);

impl Resources {
    fn of(&mut self, s: &mut JSpan) -> Option<Arc<Resource>> {
        let read = Resource {
            service_name: s.service_name.take().map(Box::from),
            service_version: s.service_version.take().map(Box::from),
            deployment_id: s.deployment_id.take().map(Box::from),
            deployment_environment: s.deployment_environment.take().map(Box::from),
        };
        if read == Resource::default() {
            return None;
        }
        if let Some(shared) = self.0.iter().find(|r| ***r == read) {
            return Some(shared.clone());
        }
        let shared = Arc::new(read);
        self.0.push(shared.clone());
        Some(shared)
    }
}

fn span_from(mut s: JSpan, resources: &mut Resources) -> Option<SpanRecord> {
    let resource = resources.of(&mut s);
    Some(SpanRecord {
        trace_id: s.trace_id.try_into().ok()?,
        span_id: s.span_id.try_into().ok()?,
        parent_span_id: s.parent_span_id.try_into().ok(),
        name: s.name.into(),
        start_unix_nano: s.start,
        end_unix_nano: s.end,
        status: match s.status {
            1 => SpanStatus::Ok,
            2 => SpanStatus::Error(s.status_message),
            _ => SpanStatus::Unset,
        },
        attributes: attrs_from(s.attributes),
        events: s
            .events
            .into_iter()
            .map(|e| SpanEvent {
                name: e.name,
                time_unix_nano: e.time,
                attributes: attrs_from(e.attributes),
            })
            .collect(),
        resource,
    })
}

fn log_to(l: &LogRecord) -> JLog {
    JLog {
        trace_id: l.trace_id.to_vec(),
        span_id: l.span_id.map(|s| s.to_vec()).unwrap_or_default(),
        time: l.time_unix_nano,
        level: l.level.clone(),
        message: l.message.clone(),
        attributes: attrs_to(&l.attributes),
    }
}

fn log_from(l: JLog) -> Option<LogRecord> {
    Some(LogRecord {
        trace_id: l.trace_id.try_into().ok()?,
        span_id: l.span_id.try_into().ok(),
        time_unix_nano: l.time,
        level: l.level,
        message: l.message,
        attributes: attrs_from(l.attributes),
    })
}

fn point_to(p: &MetricPoint) -> JPoint {
    JPoint {
        call_names: p.call_names.clone(),
        metric: p.metric.as_str().to_owned(),
        provider: p.provider.clone(),
        model: p.model.clone(),
        start: p.start_unix_nano,
        time: p.time_unix_nano,
        value: p.value,
        temporality: match p.temporality {
            Temporality::Delta => 0,
            Temporality::Cumulative => 1,
        },
    }
}

fn point_from(p: JPoint) -> Option<MetricPoint> {
    if p.call_names.is_empty() {
        return None;
    }
    Some(MetricPoint {
        call_names: p.call_names,
        metric: p.metric.into(),
        provider: p.provider,
        model: p.model,
        start_unix_nano: p.start,
        time_unix_nano: p.time,
        value: p.value,
        temporality: match p.temporality {
            1 => Temporality::Cumulative,
            _ => Temporality::Delta,
        },
    })
}

/// Spans as one entry per trace, each written straight from the records as [`JRecords`] of
/// [`JSpan`]s encodes them (the same bytes: [`decode`] reads them), with no owned copy of
/// their strings first: the copies and their allocations were most of the journal writer's
/// time on requests of hundreds of spans.
fn encode_spans(spans: &[SpanRecord]) -> Vec<Entry> {
    let mut by_trace: HashMap<TraceId, Vec<&SpanRecord>> = HashMap::new();
    for s in spans {
        by_trace.entry(s.trace_id).or_default().push(s);
    }
    by_trace
        .into_iter()
        .map(|(trace_id, spans)| {
            let lens: Vec<usize> = spans.iter().map(|s| wire::span_len(s)).collect();
            let total = lens.iter().map(|&len| wire::field_len(1, len)).sum();
            let mut payload = Vec::with_capacity(total);
            for (s, len) in spans.into_iter().zip(lens) {
                wire::span(s, len, &mut payload);
            }
            Entry { trace_id, payload }
        })
        .collect()
}

/// [`JSpan`]'s encoding, field by field, from a [`SpanRecord`]: what prost writes for it
/// (fields in tag order; a default value of a plain field left out, a set optional or oneof
/// field written even when empty), pinned by `spans_are_written_as_prost_writes_them`.
mod wire {
    use prost::encoding::{encode_key, encode_varint, encoded_len_varint, key_len, WireType};

    use crate::receiver::span::{AttrValue, Attributes, SpanEvent, SpanRecord, SpanStatus};

    /// Bytes of a length-delimited field of `len` bytes.
    pub(super) fn field_len(tag: u32, len: usize) -> usize {
        key_len(tag) + encoded_len_varint(len as u64) + len
    }

    fn text_len(tag: u32, text: &str) -> usize {
        if text.is_empty() {
            0
        } else {
            field_len(tag, text.len())
        }
    }

    fn fixed64_len(tag: u32, value: u64) -> usize {
        if value == 0 {
            0
        } else {
            key_len(tag) + 8
        }
    }

    fn delimited(tag: u32, len: usize, out: &mut Vec<u8>) {
        encode_key(tag, WireType::LengthDelimited, out);
        encode_varint(len as u64, out);
    }

    fn bytes(tag: u32, value: &[u8], out: &mut Vec<u8>) {
        delimited(tag, value.len(), out);
        out.extend_from_slice(value);
    }

    fn text(tag: u32, value: &str, out: &mut Vec<u8>) {
        if !value.is_empty() {
            bytes(tag, value.as_bytes(), out);
        }
    }

    fn fixed64(tag: u32, value: u64, out: &mut Vec<u8>) {
        if value != 0 {
            encode_key(tag, WireType::SixtyFourBit, out);
            out.extend_from_slice(&value.to_le_bytes());
        }
    }

    /// `JValue`: its one field of the oneof, always written.
    fn value_len(value: &AttrValue) -> usize {
        match value {
            AttrValue::Str(s) => field_len(1, s.len()),
            AttrValue::Bool(_) => key_len(2) + 1,
            AttrValue::Int(i) => key_len(3) + encoded_len_varint(*i as u64),
            AttrValue::Double(_) => key_len(4) + 8,
            AttrValue::Bytes(b) => field_len(5, b.len()),
            AttrValue::Array(items) => field_len(6, array_len(items)),
        }
    }

    fn array_len(items: &[AttrValue]) -> usize {
        items.iter().map(|v| field_len(1, value_len(v))).sum()
    }

    fn value(value: &AttrValue, out: &mut Vec<u8>) {
        match value {
            AttrValue::Str(s) => bytes(1, s.as_bytes(), out),
            AttrValue::Bool(b) => {
                encode_key(2, WireType::Varint, out);
                encode_varint(u64::from(*b), out);
            }
            AttrValue::Int(i) => {
                encode_key(3, WireType::Varint, out);
                encode_varint(*i as u64, out);
            }
            AttrValue::Double(d) => {
                encode_key(4, WireType::SixtyFourBit, out);
                out.extend_from_slice(&d.to_le_bytes());
            }
            AttrValue::Bytes(b) => bytes(5, b, out),
            AttrValue::Array(items) => {
                delimited(6, array_len(items), out);
                for item in items.iter() {
                    delimited(1, value_len(item), out);
                    self::value(item, out);
                }
            }
        }
    }

    /// `JAttr`s, each as field `tag` of its message.
    fn attributes_len(tag: u32, attributes: &Attributes) -> usize {
        attributes
            .0
            .iter()
            .map(|(k, v)| field_len(tag, text_len(1, k.as_str()) + field_len(2, value_len(v))))
            .sum()
    }

    fn attributes(tag: u32, attributes: &Attributes, out: &mut Vec<u8>) {
        for (k, v) in &attributes.0 {
            let len = value_len(v);
            delimited(tag, text_len(1, k.as_str()) + field_len(2, len), out);
            text(1, k.as_str(), out);
            delimited(2, len, out);
            value(v, out);
        }
    }

    fn event_len(e: &SpanEvent) -> usize {
        text_len(1, &e.name) + fixed64_len(2, e.time_unix_nano) + attributes_len(3, &e.attributes)
    }

    fn status(s: &SpanRecord) -> (u64, &str) {
        match &s.status {
            SpanStatus::Unset => (0, ""),
            SpanStatus::Ok => (1, ""),
            SpanStatus::Error(m) => (2, m),
        }
    }

    /// The resource's texts, fields 11 to 14 (each written when set).
    fn resource(s: &SpanRecord) -> [Option<&str>; 4] {
        s.resource.as_deref().map_or([None; 4], |r| {
            [
                r.service_name.as_deref(),
                r.service_version.as_deref(),
                r.deployment_id.as_deref(),
                r.deployment_environment.as_deref(),
            ]
        })
    }

    /// Bytes of a span's `JSpan` message.
    pub(super) fn span_len(s: &SpanRecord) -> usize {
        let (code, message) = status(s);
        let status_len = if code == 0 { 0 } else { key_len(7) + 1 };
        let resource_len: usize = (11..)
            .zip(resource(s))
            .filter_map(|(tag, text)| text.map(|t| field_len(tag, t.len())))
            .sum();
        field_len(1, s.trace_id.len())
            + field_len(2, s.span_id.len())
            + s.parent_span_id.map_or(0, |p| field_len(3, p.len()))
            + text_len(4, s.name.as_str())
            + fixed64_len(5, s.start_unix_nano)
            + fixed64_len(6, s.end_unix_nano)
            + status_len
            + text_len(8, message)
            + attributes_len(9, &s.attributes)
            + s.events
                .iter()
                .map(|e| field_len(10, event_len(e)))
                .sum::<usize>()
            + resource_len
    }

    /// Writes a span as field 1 of `JRecords`; `len` is its [`span_len`].
    pub(super) fn span(s: &SpanRecord, len: usize, out: &mut Vec<u8>) {
        delimited(1, len, out);
        bytes(1, &s.trace_id, out);
        bytes(2, &s.span_id, out);
        if let Some(parent) = &s.parent_span_id {
            bytes(3, parent, out);
        }
        text(4, s.name.as_str(), out);
        fixed64(5, s.start_unix_nano, out);
        fixed64(6, s.end_unix_nano, out);
        let (code, message) = status(s);
        if code != 0 {
            encode_key(7, WireType::Varint, out);
            encode_varint(code, out);
        }
        text(8, message, out);
        attributes(9, &s.attributes, out);
        for e in &s.events {
            delimited(10, event_len(e), out);
            text(1, &e.name, out);
            fixed64(2, e.time_unix_nano, out);
            attributes(3, &e.attributes, out);
        }
        for (tag, text) in (11..).zip(resource(s)) {
            if let Some(text) = text {
                bytes(tag, text.as_bytes(), out);
            }
        }
    }
}

/// Encodes a batch as one entry per trace (metric points: per [`MetricPoint::key`]).
pub fn encode(batch: &Batch) -> Vec<Entry> {
    let mut by_trace: HashMap<TraceId, JRecords> = HashMap::new();
    match batch {
        Batch::Spans(spans) => return encode_spans(spans),
        Batch::Logs(logs) => {
            for l in logs {
                by_trace.entry(l.trace_id).or_default().logs.push(log_to(l));
            }
        }
        Batch::Points(points) => {
            for p in points {
                by_trace
                    .entry(p.key())
                    .or_default()
                    .points
                    .push(point_to(p));
            }
        }
    }
    by_trace
        .into_iter()
        .map(|(trace_id, records)| Entry {
            trace_id,
            payload: prost::Message::encode_to_vec(&records),
        })
        .collect()
}

/// What a journal holds from an earlier run, decoded: the records to replay.
#[derive(Debug, Default)]
pub struct Replay {
    /// Spans.
    pub spans: Vec<SpanRecord>,
    /// Log records.
    pub logs: Vec<LogRecord>,
    /// Usage points that name a call.
    pub points: Vec<MetricPoint>,
}

impl Replay {
    /// Whether there is nothing to replay.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty() && self.logs.is_empty() && self.points.is_empty()
    }
}

/// Decodes entries back into records, skipping what cannot be read.
pub fn decode(entries: Vec<Entry>) -> Replay {
    let mut replay = Replay::default();
    let mut resources = Resources::default();
    for entry in entries {
        match <JRecords as prost::Message>::decode(&entry.payload[..]) {
            Ok(records) => {
                replay.spans.extend(
                    records
                        .spans
                        .into_iter()
                        .filter_map(|s| span_from(s, &mut resources)),
                );
                replay
                    .logs
                    .extend(records.logs.into_iter().filter_map(log_from));
                replay
                    .points
                    .extend(records.points.into_iter().filter_map(point_from));
            }
            Err(e) => tracing::warn!(error = %e, "skipping an unreadable journal entry"),
        }
    }
    replay
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_survive_the_round_trip() {
        let span = SpanRecord {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: Some([3; 8]),
            name: "llm".into(),
            start_unix_nano: 10,
            end_unix_nano: 20,
            status: SpanStatus::Error("boom".into()),
            attributes: Attributes(vec![
                ("a".into(), AttrValue::Str("x".into())),
                ("b".into(), AttrValue::Double(0.25)),
                (
                    "c".into(),
                    AttrValue::Array(vec![AttrValue::Int(1), AttrValue::Bool(true)].into()),
                ),
            ]),
            events: vec![SpanEvent {
                name: "e".into(),
                time_unix_nano: 15,
                attributes: Attributes::default(),
            }],
            resource: Some(Arc::new(Resource {
                service_name: Some("svc".into()),
                service_version: Some("1.4.2".into()),
                deployment_id: Some("dep-7".into()),
                deployment_environment: Some("staging".into()),
            })),
        };
        let root = SpanRecord {
            parent_span_id: None,
            span_id: [4; 8],
            ..span.clone()
        };
        let rows = encode(&Batch::Spans(vec![span.clone(), root.clone()]));
        assert_eq!(rows.len(), 1, "one entry per trace");
        let replay = decode(rows);
        assert_eq!(replay.spans, vec![span, root]);
        assert!(
            Arc::ptr_eq(
                replay.spans[0].resource.as_ref().unwrap(),
                replay.spans[1].resource.as_ref().unwrap()
            ),
            "spans of one resource share it again after a replay"
        );
        assert!(replay.logs.is_empty() && replay.points.is_empty());
    }

    #[test]
    fn spans_are_written_as_prost_writes_them() {
        let full = SpanRecord {
            trace_id: [7; 16],
            span_id: [8; 8],
            parent_span_id: Some([9; 8]),
            name: "tts".into(),
            start_unix_nano: u64::MAX,
            end_unix_nano: 1,
            status: SpanStatus::Error(String::new()),
            attributes: Attributes(vec![
                ("".into(), AttrValue::Str("".into())),
                ("s".into(), AttrValue::Str("é".repeat(100).into())),
                ("f".into(), AttrValue::Bool(false)),
                ("t".into(), AttrValue::Bool(true)),
                ("z".into(), AttrValue::Int(0)),
                ("n".into(), AttrValue::Int(-5)),
                ("d".into(), AttrValue::Double(0.0)),
                ("b".into(), AttrValue::Bytes(vec![0; 200].into())),
                (
                    "a".into(),
                    AttrValue::Array(
                        vec![
                            AttrValue::Array(vec![AttrValue::Str("deep".into())].into()),
                            AttrValue::Array(Vec::new().into()),
                            AttrValue::Double(-1.5),
                        ]
                        .into(),
                    ),
                ),
            ]),
            events: vec![
                SpanEvent {
                    name: String::new(),
                    time_unix_nano: 0,
                    attributes: Attributes::default(),
                },
                SpanEvent {
                    name: "ev".into(),
                    time_unix_nano: 3,
                    attributes: Attributes(vec![("k".into(), AttrValue::Int(i64::MAX))]),
                },
            ],
            resource: Some(Arc::new(Resource {
                service_name: Some("".into()),
                service_version: None,
                deployment_id: Some("d".into()),
                deployment_environment: None,
            })),
        };
        let bare = SpanRecord {
            trace_id: [1; 16],
            span_id: [2; 8],
            parent_span_id: None,
            name: "".into(),
            start_unix_nano: 0,
            end_unix_nano: 0,
            status: SpanStatus::Unset,
            attributes: Attributes::default(),
            events: Vec::new(),
            resource: None,
        };
        let ok = SpanRecord {
            trace_id: [7; 16],
            status: SpanStatus::Ok,
            ..bare.clone()
        };
        let spans = vec![full.clone(), bare.clone(), ok.clone()];
        let mut entries = encode(&Batch::Spans(spans));
        entries.sort_by_key(|e| e.trace_id);
        let prost = |spans: &[&SpanRecord]| {
            prost::Message::encode_to_vec(&JRecords {
                spans: spans.iter().map(|s| span_to(s)).collect(),
                ..JRecords::default()
            })
        };
        assert_eq!(entries[0].payload, prost(&[&bare]));
        assert_eq!(entries[1].payload, prost(&[&full, &ok]));
        assert_eq!(decode(entries).spans.len(), 3);
    }

    #[test]
    fn metric_points_survive_the_round_trip_under_their_calls_key() {
        let point = MetricPoint {
            call_names: vec!["AJ_1".into(), "RM_1".into()],
            metric: "lk.agents.usage.stt_audio_duration".into(),
            provider: Some("deepgram".into()),
            model: None,
            start_unix_nano: 1,
            time_unix_nano: 2,
            value: 3.25,
            temporality: Temporality::Cumulative,
        };
        let rows = encode(&Batch::Points(vec![point.clone()]));
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].trace_id, point.key());
        assert_eq!(decode(rows).points, vec![point]);
    }
}
