//! OTLP span and request builders: spans with given ids, times and attributes, export requests
//! holding them (one resource per process), and the spans of requests to read or rewrite.
//!
//! Depends on `opentelemetry-proto` alone: the benches (`benches/assemble.rs`) and the fuzz
//! targets (`fuzz/fuzz_targets/assemble.rs`) include this file with `#[path]`.
#![allow(dead_code)]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};

/// OpenTelemetry's resource attribute naming the emitting process.
const SERVICE_NAME: &str = "service.name";

/// A string value.
pub fn string(s: &str) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::StringValue(s.to_string())),
    }
}

/// An attribute.
pub fn kv(key: &str, value: AnyValue) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(value),
        ..Default::default()
    }
}

/// A string attribute.
pub fn kv_str(key: &str, value: &str) -> KeyValue {
    kv(key, string(value))
}

/// An integer attribute.
pub fn kv_i64(key: &str, value: i64) -> KeyValue {
    kv(
        key,
        AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        },
    )
}

/// A double attribute.
pub fn kv_f64(key: &str, value: f64) -> KeyValue {
    kv(
        key,
        AnyValue {
            value: Some(any_value::Value::DoubleValue(value)),
        },
    )
}

/// A boolean attribute.
pub fn kv_bool(key: &str, value: bool) -> KeyValue {
    kv(
        key,
        AnyValue {
            value: Some(any_value::Value::BoolValue(value)),
        },
    )
}

/// A call of one turn as two export requests of agent `service`: its turn (started 0.5 s into
/// the call, the caller saying `said`), then its root (`conversation`, 4 s from `start_ns`), as
/// an agent exports a conversation's children before it ends.
pub fn one_turn_call(
    service: &str,
    trace_id: &[u8; 16],
    call_id: &str,
    start_ns: u64,
    said: &str,
) -> Vec<ExportTraceServiceRequest> {
    const MS: u64 = 1_000_000;
    let root = span(
        trace_id,
        &[1; 8],
        None,
        "conversation",
        start_ns,
        start_ns + 4000 * MS,
        vec![kv_str("conversation.id", call_id)],
    );
    let turn = span(
        trace_id,
        &[2; 8],
        Some(&[1; 8]),
        "turn",
        start_ns + 500 * MS,
        start_ns + 3000 * MS,
        vec![
            kv_str("conversation.id", call_id),
            kv_i64("turn.index", 0),
            kv_str("turn.user.text", said),
        ],
    );
    vec![
        request(Some(service), vec![turn]),
        request(Some(service), vec![root]),
    ]
}

/// A span of trace `trace_id` with these ids, name, times (Unix ns) and attributes; kind and
/// status unset.
pub fn span(
    trace_id: &[u8],
    span_id: &[u8],
    parent: Option<&[u8]>,
    name: &str,
    start_ns: u64,
    end_ns: u64,
    attributes: Vec<KeyValue>,
) -> Span {
    Span {
        trace_id: trace_id.to_vec(),
        span_id: span_id.to_vec(),
        parent_span_id: parent.map(<[u8]>::to_vec).unwrap_or_default(),
        name: name.to_string(),
        start_time_unix_nano: start_ns,
        end_time_unix_nano: end_ns,
        attributes,
        ..Default::default()
    }
}

/// A span event.
pub fn event(name: &str, time_ns: u64, attributes: Vec<KeyValue>) -> span::Event {
    span::Event {
        name: name.to_string(),
        time_unix_nano: time_ns,
        attributes,
        ..Default::default()
    }
}

/// Status ERROR with a message.
pub fn error(message: &str) -> Status {
    Status {
        code: status::StatusCode::Error as i32,
        message: message.to_string(),
    }
}

/// A request holding `spans` under one resource (with `service.name` when given) and scope.
pub fn request(service: Option<&str>, spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: service.map(|name| Resource {
                attributes: vec![kv_str(SERVICE_NAME, name)],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A log record of trace `trace_id` (a "call log" line) at `time_ns`, its body text.
pub fn log_record(
    trace_id: &[u8],
    time_ns: u64,
    body: &str,
    attributes: Vec<KeyValue>,
) -> LogRecord {
    LogRecord {
        trace_id: trace_id.to_vec(),
        time_unix_nano: time_ns,
        severity_text: "INFO".into(),
        body: Some(string(body)),
        attributes,
        ..Default::default()
    }
}

/// A logs request holding `records` under one resource and scope.
pub fn log_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Several requests' resources (processes) in one request.
pub fn merge(parts: Vec<ExportTraceServiceRequest>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: parts.into_iter().flat_map(|r| r.resource_spans).collect(),
    }
}

/// Every span of a request.
pub fn spans(request: &ExportTraceServiceRequest) -> impl Iterator<Item = &Span> {
    request
        .resource_spans
        .iter()
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
}

/// Every span of a request, to rewrite.
pub fn spans_mut(request: &mut ExportTraceServiceRequest) -> impl Iterator<Item = &mut Span> {
    request
        .resource_spans
        .iter_mut()
        .flat_map(|r| &mut r.scope_spans)
        .flat_map(|s| &mut s.spans)
}

/// One request holding the spans of `requests` that `keep` selects, each under its own
/// resource and scope; `None` when it selects none.
pub fn select(
    requests: &[ExportTraceServiceRequest],
    keep: impl Fn(&Span) -> bool,
) -> Option<ExportTraceServiceRequest> {
    let mut resource_spans = Vec::new();
    for rs in requests.iter().flat_map(|r| &r.resource_spans) {
        let scope_spans: Vec<ScopeSpans> = rs
            .scope_spans
            .iter()
            .filter_map(|ss| {
                let spans: Vec<Span> = ss.spans.iter().filter(|s| keep(s)).cloned().collect();
                (!spans.is_empty()).then(|| ScopeSpans {
                    spans,
                    ..ss.clone()
                })
            })
            .collect();
        if !scope_spans.is_empty() {
            resource_spans.push(ResourceSpans {
                scope_spans,
                ..rs.clone()
            });
        }
    }
    (!resource_spans.is_empty()).then_some(ExportTraceServiceRequest { resource_spans })
}
