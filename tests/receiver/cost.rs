//! Cost per call and OTLP metrics, end to end: the fixtures' call logs carry a cost; a
//! LiveKit-shaped metrics export (usage counters under a resource naming the room and the job,
//! as LiveKit's cloud exporter sends them) is answered success, counted, and folded into the
//! LiveKit fixture's call; the cost reaches Cekura's `metadata`, the webhook's
//! `post_call_analysis` and `/metrics`.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, AggregationTemporality, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use voicetrace::receiver::calllog::{AudioBasis, CallLog, Stage};
use voicetrace::receiver::forward::SinkKind;
use voicetrace::receiver::server::ServeConfig;

use crate::common::endpoint::{Endpoint, Received, Reply};
use crate::common::fixtures::{dir, expected_calls, requests};
use crate::common::http::post;
use crate::common::net::LOOPBACK;
use crate::common::receiver::{config, next_call_logs, start};
use crate::common::sinks::{sink, API_KEY, WEBHOOK_SECRET};
use crate::common::wait::wait_for;

/// The LiveKit room and job the tests' session runs in.
const ROOM: &str = "RM_fixture";
const JOB: &str = "AJ_fixture";

fn text(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

/// LiveKit's fixture requests with the room and the job on their resource, as LiveKit's cloud
/// tracer sets them.
fn livekit_bodies() -> Vec<Vec<u8>> {
    requests(&dir("livekit-basic"))
        .into_iter()
        .map(|mut request| {
            for resource_spans in &mut request.resource_spans {
                let resource = resource_spans
                    .resource
                    .get_or_insert_with(Resource::default);
                resource.attributes.push(text("room_id", ROOM));
                resource.attributes.push(text("job_id", JOB));
            }
            request.encode_to_vec()
        })
        .collect()
}

/// One delta export of LiveKit's usage counters for the session: STT audio, TTS characters and
/// audio (which its spans do not say), LLM tokens (which they do), and a latency histogram
/// that is counted but not usage.
fn livekit_usage(start: u64, end: u64, stt_seconds: f64, characters: i64) -> Vec<u8> {
    let point = |value, provider: &str, model: &str| NumberDataPoint {
        attributes: vec![text("model_provider", provider), text("model_name", model)],
        start_time_unix_nano: start,
        time_unix_nano: end,
        value: Some(value),
        ..NumberDataPoint::default()
    };
    let sum = |name: &str, point| Metric {
        name: name.into(),
        data: Some(metric::Data::Sum(Sum {
            data_points: vec![point],
            aggregation_temporality: AggregationTemporality::Delta as i32,
            is_monotonic: true,
        })),
        ..Metric::default()
    };
    use number_data_point::Value::{AsDouble, AsInt};
    let metrics = vec![
        sum(
            "lk.agents.usage.stt_audio_duration",
            point(AsDouble(stt_seconds), "Deepgram", "nova-3"),
        ),
        sum(
            "lk.agents.usage.tts_characters",
            point(AsInt(characters), "Cartesia", "sonic-2"),
        ),
        sum(
            "lk.agents.usage.tts_audio_duration",
            point(AsDouble(5.52), "Cartesia", "sonic-2"),
        ),
        sum(
            "lk.agents.usage.llm_input_tokens",
            point(AsInt(205), "api.openai.com", "gpt-4o-mini"),
        ),
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "livekit-agents"),
                    text("room_id", ROOM),
                    text("job_id", JOB),
                ],
                ..Resource::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                metrics,
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    }
    .encode_to_vec()
}

async fn post_protobuf(url: &str, body: Vec<u8>) {
    let response = post(url, "application/x-protobuf", None, body).await;
    assert_eq!(response.status(), 200, "{url}");
}

#[tokio::test]
async fn the_fixtures_call_logs_carry_a_cost_with_what_had_no_price() {
    let data = tempfile::tempdir().unwrap();
    let receiver = start(config(data.path())).await;
    let mut announced = receiver.subscribe();
    let url = format!("http://{}/v1/traces", receiver.otlp_http_addr);
    for body in crate::common::fixtures::request_bodies(&dir("pipecat-basic")) {
        post_protobuf(&url, body).await;
    }
    let logs = next_call_logs(&mut announced, expected_calls(&dir("pipecat-basic"))).await;
    let cost = logs[0].cost.as_ref().expect("a cost");
    let llm = &cost.models[0];
    assert_eq!(
        (llm.stage, llm.priced_as.as_str()),
        (Stage::Llm, "openai/gpt-4o-mini")
    );
    // Pipecat's spans: 173 prompt tokens, 33 completion tokens of gpt-4o-mini.
    assert_eq!((llm.input_tokens, llm.output_tokens), (Some(173), Some(33)));
    let expected = (173.0 * 0.15 + 33.0 * 0.60) / 1e6;
    assert!((cost.total_usd - expected).abs() < 1e-9, "{cost:?}");
    assert_eq!(cost.prices_version, "2026-12-01");
    // Its STT and TTS are fakes: unpriced, not $0.
    let unpriced: Vec<(Stage, &str)> = cost
        .unpriced
        .iter()
        .map(|u| (u.stage, u.reason.as_str()))
        .collect();
    assert!(
        unpriced.contains(&(Stage::Stt, "unknown_provider")),
        "{unpriced:?}"
    );
    assert!(
        unpriced.contains(&(Stage::Tts, "unknown_provider")),
        "{unpriced:?}"
    );
    receiver.shutdown().await;
}

/// A receiver with an API, a Cekura sink and a webhook sink to `endpoint`.
fn with_sinks(data: &std::path::Path, endpoint: &Endpoint) -> ServeConfig {
    let cekura = sink(SinkKind::Cekura, &endpoint.url(), Some(API_KEY), data);
    let webhook = sink(
        SinkKind::Webhook,
        &format!("{}/hooks", endpoint.url()),
        Some(WEBHOOK_SECRET),
        data,
    );
    ServeConfig {
        api_addr: Some(LOOPBACK),
        sinks: vec![cekura.config(), webhook.config()],
        ..config(data)
    }
}

/// The request a sink sent that `pick` chooses.
async fn sent(endpoint: &Endpoint, what: &str, pick: impl Fn(&Received) -> bool) -> Received {
    wait_for(what, || {
        let found = endpoint.with_received(|all| all.iter().find(|r| pick(r)).cloned());
        async move { found }
    })
    .await
}

fn livekit_call(logs: &[CallLog]) -> &CallLog {
    logs.iter()
        .find(|l| l.id == "livekit-basic-0001")
        .expect("the LiveKit call")
}

#[tokio::test]
async fn livekit_usage_metrics_fold_into_the_call_and_its_cost_reaches_every_sink() {
    let data = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(201)).await;
    let receiver = start(with_sinks(data.path(), &endpoint)).await;
    let mut announced = receiver.subscribe();
    let http = receiver.otlp_http_addr;
    // Two exports of the session's usage, one sent twice (a retry), on LiveKit's upload path;
    // then the traces.
    let metrics_url = format!("http://{http}/observability/metrics/otlp/v0");
    post_protobuf(&metrics_url, livekit_usage(1, 2, 3.0, 60)).await;
    post_protobuf(&metrics_url, livekit_usage(2, 3, 1.5, 35)).await;
    post_protobuf(&metrics_url, livekit_usage(2, 3, 1.5, 35)).await;
    for body in livekit_bodies() {
        post_protobuf(&format!("http://{http}/observability/traces/otlp/v0"), body).await;
    }
    let logs = next_call_logs(&mut announced, 1).await;
    let log = livekit_call(&logs);

    // The metrics say what the spans do not (STT audio, TTS characters and audio); the LLM
    // tokens the spans count are not taken twice.
    let usage: Vec<(Stage, Option<i64>, Option<i64>)> = log
        .reported_usage
        .iter()
        .map(|u| (u.stage, u.stt_audio_ms, u.tts_characters))
        .collect();
    assert_eq!(
        usage,
        [(Stage::Stt, Some(4500), None), (Stage::Tts, None, Some(95))],
        "{:?}",
        log.reported_usage
    );
    assert_eq!(log.reported_usage[1].tts_audio_ms, Some(11_040));
    assert_eq!(log.metrics.llm_input_tokens, 205, "the spans' own count");

    let cost = log.cost.as_ref().expect("a cost");
    let line = |stage| cost.models.iter().find(|l| l.stage == stage).unwrap();
    let stt = line(Stage::Stt);
    assert_eq!(
        (stt.priced_as.as_str(), stt.audio_ms, stt.audio_basis),
        ("deepgram/nova-3", Some(4500), Some(AudioBasis::Reported))
    );
    assert_eq!(line(Stage::Tts).characters, Some(95));
    assert_eq!(line(Stage::Llm).priced_as, "openai/gpt-4o-mini");
    assert!(!cost.estimated, "every figure was reported");
    assert!(cost.unpriced.is_empty(), "{:?}", cost.unpriced);
    // 205 prompt tokens, 96 of them cached, 27 completion tokens; 4.5 s of nova-3; 95
    // characters of sonic.
    let expected = ((205.0 - 96.0) * 0.15 + 96.0 * 0.075 + 27.0 * 0.60) / 1e6
        + 4.5 / 60.0 * 0.0059
        + 95.0 * 39.20 / 1e6;
    assert!((cost.total_usd - expected).abs() < 1e-8, "{cost:?}");

    let cekura = sent(&endpoint, "the Cekura body", |r| {
        r.path == "/observability/v1/observe/"
    })
    .await;
    let meta = &cekura.json["metadata"]["voicetrace"];
    assert_eq!(meta["cost_usd"].as_f64(), Some(cost.total_usd));
    assert_eq!(meta["cost"]["models"].as_array().map(Vec::len), Some(3));
    let analysis = sent(&endpoint, "the webhook's post_call_analysis", |r| {
        r.json["type"] == "post_call_analysis"
    })
    .await;
    assert_eq!(
        analysis.json["analysis"]["cost"]["totalUsd"].as_f64(),
        Some(cost.total_usd)
    );

    let api = receiver.api_addr.expect("an API");
    let scraped = reqwest::get(format!("http://{api}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let series = "voicetrace_cost_usd_total{agent=\"fixture_agent\",stage=\"stt\",\
                  provider=\"Deepgram\",model=\"nova-3\"}";
    let counted: f64 = scraped
        .lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {scraped}"));
    assert!((counted - stt.usd).abs() < 1e-12);
    // Every data point is counted: 4 per export, 3 exports.
    let points = crate::common::http::metric(api, "voicetrace_metric_points_total").await;
    assert_eq!(points, Some(12.0));
    receiver.shutdown().await;
}
