//! OTLP messages → plain records ([`SpanRecord`], [`LogRecord`], [`MetricPoint`]).
//!
//! The only place that knows OTLP's types. A span that assembly cannot use (a trace id or span
//! id that is all zero or not 16/8 bytes long) is rejected and counted, with the first reason
//! kept for the partial-success message the exporter receives.

use std::sync::Arc;

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;

use crate::receiver::span::{
    AttrValue, Attributes, LogRecord, MetricPoint, Name, SpanEvent, SpanId, SpanRecord, SpanStatus,
    Temporality, TraceId,
};
use crate::semconv::{alias, livekit};

/// The resource attribute that names the sending service.
const SERVICE_NAME: &str = "service.name";

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

/// The data points of one metrics request: how many there were, and the usage points that
/// name a call (the only ones assembly keeps).
#[derive(Debug, Default)]
pub struct DecodedPoints {
    /// Usage counter points whose resource or attributes name a call.
    pub points: Vec<MetricPoint>,
    /// Data points in the request, of any metric and type.
    pub received: u64,
}

/// The usage counters assembly folds into calls.
const USAGE_METRICS: &[&str] = &[
    livekit::usage::LLM_INPUT_TOKENS,
    livekit::usage::LLM_INPUT_CACHED_TOKENS,
    livekit::usage::LLM_OUTPUT_TOKENS,
    livekit::usage::LLM_INPUT_AUDIO_TOKENS,
    livekit::usage::LLM_OUTPUT_AUDIO_TOKENS,
    livekit::usage::LLM_SESSION_DURATION,
    livekit::usage::TTS_CHARACTERS,
    livekit::usage::TTS_AUDIO_DURATION,
    livekit::usage::STT_AUDIO_DURATION,
];

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

/// The attributes of a resource that name a call ([`alias::RESOURCE_CALL_NAMES`]), as span
/// attributes: LiveKit's cloud tracer names the room and the job on the resource.
fn resource_call_names(resource: Option<&Resource>) -> Vec<(Name, AttrValue)> {
    let Some(resource) = resource else {
        return Vec::new();
    };
    resource
        .attributes
        .iter()
        .filter(|kv| alias::RESOURCE_CALL_NAMES.contains(&kv.key.as_str()))
        .filter_map(|kv| Some((Name::interned(&kv.key), value(kv.value.as_ref()?)?)))
        .collect()
}

/// `attributes` with the resource's call names it does not carry itself.
fn with_call_names(mut attributes: Attributes, names: &[(Name, AttrValue)]) -> Attributes {
    for (key, value) in names {
        if attributes.get(key).is_none() {
            attributes.0.push((key.clone(), value.clone()));
        }
    }
    attributes
}

fn service_name(resource: Option<&Resource>) -> Option<Arc<str>> {
    resource?
        .attributes
        .iter()
        .find(|kv| kv.key == SERVICE_NAME)
        .and_then(|kv| match kv.value.as_ref()?.value.as_ref()? {
            any_value::Value::StringValue(s) => Some(Arc::from(s.as_str())),
            _ => None,
        })
}

/// Decodes a trace export request.
pub fn decode_traces(request: ExportTraceServiceRequest) -> DecodedSpans {
    let mut out = DecodedSpans::default();
    for resource_spans in request.resource_spans {
        let service = service_name(resource_spans.resource.as_ref());
        let call_names = resource_call_names(resource_spans.resource.as_ref());
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
                    attributes: with_call_names(attributes(&span.attributes), &call_names),
                    events: span
                        .events
                        .into_iter()
                        .map(|e| SpanEvent {
                            name: e.name,
                            time_unix_nano: e.time_unix_nano,
                            attributes: attributes(&e.attributes),
                        })
                        .collect(),
                    service_name: service.clone(),
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

/// The string values of `keys` among `kvs`, in the order of `keys`.
fn names_in(kvs: &[KeyValue], keys: &[&str]) -> Vec<String> {
    keys.iter()
        .filter_map(|key| {
            let kv = kvs.iter().find(|kv| kv.key == *key)?;
            match kv.value.as_ref()?.value.as_ref()? {
                any_value::Value::StringValue(s) if !s.is_empty() => Some(s.clone()),
                _ => None,
            }
        })
        .collect()
}

/// A string attribute of a data point.
fn point_text(kvs: &[KeyValue], key: &str) -> Option<String> {
    names_in(kvs, &[key]).into_iter().next()
}

/// The data points a metric holds, of any type.
fn points_in(metric: &Metric) -> u64 {
    let n = match &metric.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    };
    n as u64
}

/// Decodes a metrics export request: counts every data point, and keeps the points of the usage
/// counters ([`USAGE_METRICS`], monotonic sums) whose resource or attributes name a call
/// ([`alias::METRIC_CALL_NAMES`]). Nothing in a metrics request is rejected: a point the
/// receiver has no use for is valid OTLP all the same.
pub fn decode_metrics(request: ExportMetricsServiceRequest) -> DecodedPoints {
    let mut out = DecodedPoints::default();
    for resource_metrics in request.resource_metrics {
        let resource = resource_metrics
            .resource
            .as_ref()
            .map_or(&[][..], |r| &r.attributes[..]);
        let resource_names = names_in(resource, alias::METRIC_CALL_NAMES);
        for scope_metrics in resource_metrics.scope_metrics {
            for metric in scope_metrics.metrics {
                out.received += points_in(&metric);
                if !USAGE_METRICS.contains(&metric.name.as_str()) {
                    continue;
                }
                let Some(metric::Data::Sum(sum)) = metric.data else {
                    continue;
                };
                let temporality =
                    match AggregationTemporality::try_from(sum.aggregation_temporality) {
                        Ok(AggregationTemporality::Delta) => Temporality::Delta,
                        Ok(AggregationTemporality::Cumulative) => Temporality::Cumulative,
                        _ => continue,
                    };
                if !sum.is_monotonic {
                    continue;
                }
                let name = Name::interned(&metric.name);
                for point in sum.data_points {
                    let mut call_names = names_in(&point.attributes, alias::METRIC_CALL_NAMES);
                    for name in &resource_names {
                        if !call_names.contains(name) {
                            call_names.push(name.clone());
                        }
                    }
                    let value = match point.value {
                        Some(number_data_point::Value::AsDouble(d)) if d.is_finite() => d,
                        Some(number_data_point::Value::AsInt(i)) => i as f64,
                        _ => continue,
                    };
                    if call_names.is_empty() {
                        continue;
                    }
                    out.points.push(MetricPoint {
                        call_names,
                        metric: name.clone(),
                        provider: point_text(&point.attributes, livekit::usage::MODEL_PROVIDER),
                        model: point_text(&point.attributes, livekit::usage::MODEL_NAME),
                        start_unix_nano: point.start_time_unix_nano,
                        time_unix_nano: point.time_unix_nano,
                        value,
                        temporality,
                    });
                }
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
                    ("intValue" | "asInt", serde_json::Value::Number(n)) => {
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

#[cfg(test)]
mod tests {
    use super::*;
    use opentelemetry_proto::tonic::metrics::v1::{
        Gauge, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    };

    fn text(key: &str, value: &str) -> KeyValue {
        KeyValue {
            key: key.into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue(value.into())),
            }),
            ..KeyValue::default()
        }
    }

    fn sum(
        name: &str,
        temporality: AggregationTemporality,
        points: Vec<NumberDataPoint>,
    ) -> Metric {
        Metric {
            name: name.into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: points,
                aggregation_temporality: temporality as i32,
                is_monotonic: true,
            })),
            ..Metric::default()
        }
    }

    fn point(value: number_data_point::Value, attributes: Vec<KeyValue>) -> NumberDataPoint {
        NumberDataPoint {
            attributes,
            start_time_unix_nano: 10,
            time_unix_nano: 20,
            value: Some(value),
            ..NumberDataPoint::default()
        }
    }

    fn request(resource: Vec<KeyValue>, metrics: Vec<Metric>) -> ExportMetricsServiceRequest {
        ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: Some(Resource {
                    attributes: resource,
                    ..Resource::default()
                }),
                scope_metrics: vec![ScopeMetrics {
                    metrics,
                    ..ScopeMetrics::default()
                }],
                ..ResourceMetrics::default()
            }],
        }
    }

    #[test]
    fn usage_points_naming_a_call_are_kept_every_point_is_counted() {
        let model = vec![
            text("model_provider", "deepgram"),
            text("model_name", "nova-3"),
        ];
        let metrics = vec![
            sum(
                livekit::usage::STT_AUDIO_DURATION,
                AggregationTemporality::Delta,
                vec![point(number_data_point::Value::AsDouble(3.5), model)],
            ),
            sum(
                livekit::usage::TTS_CHARACTERS,
                AggregationTemporality::Cumulative,
                vec![point(number_data_point::Value::AsInt(120), Vec::new())],
            ),
            sum(
                "http.server.requests",
                AggregationTemporality::Cumulative,
                vec![point(number_data_point::Value::AsInt(1), Vec::new())],
            ),
            Metric {
                name: livekit::usage::TTS_AUDIO_DURATION.into(),
                data: Some(metric::Data::Gauge(Gauge {
                    data_points: vec![point(number_data_point::Value::AsDouble(1.0), Vec::new())],
                })),
                ..Metric::default()
            },
        ];
        let resource = vec![text("room_id", "RM_1"), text("job_id", "AJ_1")];
        let decoded = decode_metrics(request(resource, metrics));
        assert_eq!(decoded.received, 4, "every data point is counted");
        assert_eq!(decoded.points.len(), 2, "only usage sums are kept");
        let stt = &decoded.points[0];
        assert_eq!(stt.call_names, ["AJ_1", "RM_1"], "the job first");
        assert_eq!(
            (stt.provider.as_deref(), stt.model.as_deref(), stt.value),
            (Some("deepgram"), Some("nova-3"), 3.5)
        );
        assert_eq!(stt.temporality, Temporality::Delta);
        assert_eq!(decoded.points[1].value, 120.0);
        assert_eq!(decoded.points[1].temporality, Temporality::Cumulative);
    }

    #[test]
    fn points_that_name_no_call_are_counted_not_kept() {
        let metrics = vec![sum(
            livekit::usage::TTS_CHARACTERS,
            AggregationTemporality::Delta,
            vec![point(number_data_point::Value::AsInt(5), Vec::new())],
        )];
        let decoded = decode_metrics(request(vec![text("service.name", "x")], metrics));
        assert_eq!((decoded.received, decoded.points.len()), (1, 0));
    }

    #[test]
    fn the_resources_call_names_reach_its_spans() {
        let resource = Resource {
            attributes: vec![text("room_id", "RM_1"), text("service.name", "agent")],
            ..Resource::default()
        };
        let names = resource_call_names(Some(&resource));
        let own = Attributes(vec![("job_id".into(), AttrValue::Str("AJ_1".into()))]);
        let merged = with_call_names(own, &names);
        assert_eq!(merged.str("room_id"), Some("RM_1"));
        let kept = with_call_names(
            Attributes(vec![("room_id".into(), AttrValue::Str("own".into()))]),
            &names,
        );
        assert_eq!(
            kept.str("room_id"),
            Some("own"),
            "the span's own value wins"
        );
        assert_eq!(kept.0.len(), 1);
    }

    #[test]
    fn otlp_json_metrics_decode_with_integers_as_numbers() {
        let body = br#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"job_id","value":{"stringValue":"AJ_1"}}]},
          "scopeMetrics":[{"metrics":[{"name":"lk.agents.usage.tts_characters",
            "sum":{"aggregationTemporality":1,"isMonotonic":true,
              "dataPoints":[{"startTimeUnixNano":"1","timeUnixNano":"2","asInt":42}]}}]}]}]}"#;
        let request: ExportMetricsServiceRequest = from_otlp_json(body).unwrap();
        let decoded = decode_metrics(request);
        assert_eq!(decoded.points.len(), 1);
        assert_eq!(decoded.points[0].value, 42.0);
    }
}
