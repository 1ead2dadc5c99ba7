//! OTLP messages → plain records ([`SpanRecord`], [`LogRecord`]).
//!
//! The only place that knows OTLP's types. A span that assembly cannot use (a trace id or span
//! id that is all zero or not 16/8 bytes long) is rejected and counted, with the first reason
//! kept for the partial-success message the exporter receives.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::receiver::span::{
    AttrValue, Attributes, LogRecord, Name, Resource, SpanEvent, SpanId, SpanRecord, SpanStatus,
    TraceId,
};
use crate::semconv;

/// The spans of one request, and what was rejected.
#[derive(Debug, Default)]
pub struct DecodedSpans {
    /// Usable spans.
    pub spans: Vec<SpanRecord>,
    /// Spans rejected.
    pub rejected: i64,
    /// Why the first rejected span was rejected.
    pub reason: Option<String>,
}

/// The log records of one request that belong to a trace.
#[derive(Debug, Default)]
pub struct DecodedLogs {
    /// Records with a valid trace id.
    pub logs: Vec<LogRecord>,
    /// Records rejected (a trace id of the wrong length or a malformed span id).
    pub rejected: i64,
    /// Why the first rejected record was rejected.
    pub reason: Option<String>,
}

fn trace_id(bytes: &[u8]) -> Result<TraceId, String> {
    let id: TraceId = bytes
        .try_into()
        .map_err(|_| format!("trace id must be 16 bytes, got {}", bytes.len()))?;
    if id == [0; 16] {
        return Err("trace id is all zero".into());
    }
    Ok(id)
}

fn span_id(bytes: &[u8], what: &str) -> Result<SpanId, String> {
    let id: SpanId = bytes
        .try_into()
        .map_err(|_| format!("{what} must be 8 bytes, got {}", bytes.len()))?;
    if id == [0; 8] {
        return Err(format!("{what} is all zero"));
    }
    Ok(id)
}

/// An OTLP value as an attribute value; key-value lists become their JSON text.
fn value(v: &AnyValue) -> Option<AttrValue> {
    Some(match v.value.as_ref()? {
        any_value::Value::StringValue(s) => AttrValue::Str(s.as_str().into()),
        any_value::Value::BoolValue(b) => AttrValue::Bool(*b),
        any_value::Value::IntValue(i) => AttrValue::Int(*i),
        any_value::Value::DoubleValue(d) => AttrValue::Double(*d),
        any_value::Value::ArrayValue(a) => {
            AttrValue::Array(a.values.iter().filter_map(value).collect())
        }
        any_value::Value::BytesValue(b) => AttrValue::Bytes(b.as_slice().into()),
        any_value::Value::KvlistValue(kv) => {
            AttrValue::Str(kvlist_json(&kv.values).to_string().into())
        }
        // A string-table reference (profiles only): nothing to read.
        #[allow(unreachable_patterns)]
        _ => return None,
    })
}

/// A key-value list as one JSON object; nested lists stay nested objects (not JSON text inside
/// JSON text). Depth is bounded by the decoders' recursion limits (prost, serde_json).
fn kvlist_json(kvs: &[KeyValue]) -> serde_json::Value {
    serde_json::Value::Object(
        kvs.iter()
            .filter_map(|kv| {
                let v = kv.value.as_ref()?;
                let json = match v.value.as_ref()? {
                    any_value::Value::KvlistValue(inner) => kvlist_json(&inner.values),
                    _ => value(v)?.to_json(),
                };
                Some((kv.key.clone(), json))
            })
            .collect(),
    )
}

fn attributes(kvs: &[KeyValue]) -> Attributes {
    Attributes::exact(
        kvs.len(),
        kvs.iter()
            .filter_map(|kv| Some((Name::interned(&kv.key), value(kv.value.as_ref()?)?))),
    )
}

/// The resource attributes the receiver reads, once per resource: every span of the resource
/// shares the one `Arc` (none when the resource says nothing the receiver reads).
fn resource(
    resource: Option<&opentelemetry_proto::tonic::resource::v1::Resource>,
) -> Option<Arc<Resource>> {
    let kvs = &resource?.attributes;
    let read = |keys: &[&str]| {
        keys.iter().find_map(|key| {
            kvs.iter().find(|kv| kv.key == *key).and_then(|kv| {
                match kv.value.as_ref()?.value.as_ref()? {
                    any_value::Value::StringValue(s) if !s.is_empty() => {
                        Some(Box::from(s.as_str()))
                    }
                    _ => None,
                }
            })
        })
    };
    let read = Resource {
        service_name: read(&[semconv::SERVICE_NAME]),
        service_version: read(&[semconv::SERVICE_VERSION]),
        deployment_id: read(&[semconv::DEPLOYMENT_ID]),
        deployment_environment: read(semconv::alias::DEPLOYMENT_ENVIRONMENT),
    };
    (read != Resource::default()).then(|| Arc::new(read))
}

/// Decodes a trace export request.
pub fn decode_traces(request: ExportTraceServiceRequest) -> DecodedSpans {
    let mut out = DecodedSpans::default();
    for resource_spans in request.resource_spans {
        let resource = resource(resource_spans.resource.as_ref());
        for scope_spans in resource_spans.scope_spans {
            for span in scope_spans.spans {
                let ids = trace_id(&span.trace_id).and_then(|t| {
                    let s = span_id(&span.span_id, "span id")?;
                    let parent = if span.parent_span_id.is_empty() {
                        None
                    } else {
                        Some(span_id(&span.parent_span_id, "parent span id")?)
                    };
                    Ok((t, s, parent))
                });
                let (trace_id, span_id, parent_span_id) = match ids {
                    Ok(ids) => ids,
                    Err(reason) => {
                        out.rejected += 1;
                        out.reason
                            .get_or_insert(format!("span {:?}: {reason}", span.name));
                        continue;
                    }
                };
                let status = match span.status {
                    Some(s) if s.code == StatusCode::Error as i32 => SpanStatus::Error(s.message),
                    Some(s) if s.code == StatusCode::Ok as i32 => SpanStatus::Ok,
                    _ => SpanStatus::Unset,
                };
                out.spans.push(SpanRecord {
                    trace_id,
                    span_id,
                    parent_span_id,
                    start_unix_nano: span.start_time_unix_nano,
                    end_unix_nano: span.end_time_unix_nano.max(span.start_time_unix_nano),
                    name: span.name.into(),
                    status,
                    attributes: attributes(&span.attributes),
                    events: span
                        .events
                        .into_iter()
                        .map(|e| SpanEvent {
                            name: e.name,
                            time_unix_nano: e.time_unix_nano,
                            attributes: attributes(&e.attributes),
                        })
                        .collect(),
                    resource: resource.clone(),
                });
            }
        }
    }
    out
}

/// OTLP severity numbers → text, for records that send a number only.
fn severity_text(number: i32) -> &'static str {
    match number {
        1..=4 => "TRACE",
        5..=8 => "DEBUG",
        9..=12 => "INFO",
        13..=16 => "WARN",
        17..=20 => "ERROR",
        21..=24 => "FATAL",
        _ => "UNSPECIFIED",
    }
}

/// Decodes a logs export request. Records without a trace id are not call logs and are
/// skipped (they are valid OTLP, so they are not rejected).
pub fn decode_logs(request: ExportLogsServiceRequest) -> DecodedLogs {
    let mut out = DecodedLogs::default();
    for resource_logs in request.resource_logs {
        for scope_logs in resource_logs.scope_logs {
            for record in scope_logs.log_records {
                if record.trace_id.is_empty() || record.trace_id.iter().all(|b| *b == 0) {
                    continue;
                }
                let ids = trace_id(&record.trace_id).and_then(|t| {
                    let s = if record.span_id.is_empty() || record.span_id.iter().all(|b| *b == 0) {
                        None
                    } else {
                        Some(span_id(&record.span_id, "span id")?)
                    };
                    Ok((t, s))
                });
                let (trace_id, span_id) = match ids {
                    Ok(ids) => ids,
                    Err(reason) => {
                        out.rejected += 1;
                        out.reason.get_or_insert(format!("log record: {reason}"));
                        continue;
                    }
                };
                let level = if record.severity_text.is_empty() {
                    severity_text(record.severity_number).to_string()
                } else {
                    record.severity_text.clone()
                };
                let time = if record.time_unix_nano != 0 {
                    record.time_unix_nano
                } else {
                    record.observed_time_unix_nano
                };
                out.logs.push(LogRecord {
                    trace_id,
                    span_id,
                    time_unix_nano: time,
                    level,
                    message: record
                        .body
                        .as_ref()
                        .and_then(value)
                        .map(|v| v.to_text())
                        .unwrap_or_default(),
                    attributes: attributes(&record.attributes),
                });
            }
        }
    }
    out
}

/// Parses an OTLP/JSON body. Proto3's JSON mapping omits empty repeated fields, which
/// opentelemetry-proto's serde types require for `arrayValue`/`kvlistValue`; those are filled
/// in first, and integers sent as JSON numbers (instead of strings) are accepted.
pub fn from_otlp_json<T: serde::de::DeserializeOwned>(
    bytes: &[u8],
) -> Result<T, serde_json::Error> {
    let mut value: serde_json::Value = serde_json::from_slice(bytes)?;
    normalise_json(&mut value);
    serde_json::from_value(value)
}

fn normalise_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match (key.as_str(), &mut *inner) {
                    ("arrayValue" | "kvlistValue", serde_json::Value::Object(list)) => {
                        list.entry("values")
                            .or_insert_with(|| serde_json::Value::Array(Vec::new()));
                    }
                    ("intValue", serde_json::Value::Number(n)) => {
                        *inner = serde_json::Value::String(n.to_string());
                        continue;
                    }
                    _ => {}
                }
                normalise_json(inner);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(normalise_json),
        _ => {}
    }
}
