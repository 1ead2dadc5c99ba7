//! Real traffic, as a receiver behind a shared Collector sees it: web-service traces mixed with
//! the calls in the same requests never become call logs; calls that share a call id (a reused
//! room name or conversation id) stay two calls, all the way to the sinks and the API.

use std::path::Path;

use prost::Message;
use voicetrace::receiver::calllog::CallLog;
use voicetrace::receiver::forward::SinkKind;
use voicetrace::receiver::server::{Receiver, ServeConfig};
use voicetrace::semconv;

use crate::common::endpoint::{Endpoint, Reply};
use crate::common::http::{client, get, metric, post_traces};
use crate::common::net::LOOPBACK;
use crate::common::otlp::{kv_f64, kv_i64, kv_str, merge, request, span};
use crate::common::receiver::{self, next_call_logs, traces_url};
use crate::common::sinks::{jsonl, SinkSpec};
use crate::common::wait::wait_for;

const MS: u64 = 1_000_000;
/// 2026-03-21T10:00:00Z.
const T0: u64 = 1_774_087_200_000 * MS;

/// A voice call of one turn (stt, llm, tts) as the crate names it: trace `trace`, call id
/// `call_id`, agent `agent`, starting `offset_ms` after [`T0`].
fn voice_call(
    trace: u8,
    call_id: &str,
    agent: &str,
    offset_ms: u64,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    let t = |ms: u64| T0 + (offset_ms + ms) * MS;
    let id = |n: u8| [trace, n, 0, 0, 0, 0, 0, 1];
    let trace_id = [trace; 16];
    let call = kv_str(semconv::CONVERSATION_ID, call_id);
    let spans = vec![
        span(
            &trace_id,
            &id(2),
            Some(&id(1)),
            semconv::SPAN_TURN,
            t(100),
            t(2_000),
            vec![
                call.clone(),
                kv_i64(semconv::TURN_INDEX, 0),
                kv_str(semconv::TURN_USER_TEXT, "Where is my order?"),
            ],
        ),
        span(
            &trace_id,
            &id(3),
            Some(&id(2)),
            semconv::SPAN_STT,
            t(100),
            t(400),
            vec![call.clone(), kv_f64(semconv::METRICS_TTFB, 0.2)],
        ),
        span(
            &trace_id,
            &id(4),
            Some(&id(2)),
            semconv::SPAN_LLM,
            t(400),
            t(1_000),
            vec![call.clone(), kv_f64(semconv::METRICS_TTFB, 0.3)],
        ),
        span(
            &trace_id,
            &id(5),
            Some(&id(2)),
            semconv::SPAN_TTS,
            t(1_000),
            t(2_000),
            vec![call.clone(), kv_f64(semconv::METRICS_TTFB, 0.1)],
        ),
        span(
            &trace_id,
            &id(1),
            None,
            semconv::SPAN_CONVERSATION,
            t(0),
            t(2_500),
            vec![call, kv_str(semconv::GEN_AI_AGENT_ID, agent)],
        ),
    ];
    request(Some(agent), spans)
}

/// A web request of another service behind the same Collector: `GET /cart` → `SELECT carts`,
/// no voice span, no GenAI attribute, no call id.
fn web_request(
    trace: u8,
) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    let trace_id = [trace; 16];
    let (root, query) = ([trace, 1, 0, 0, 0, 0, 0, 9], [trace, 2, 0, 0, 0, 0, 0, 9]);
    request(
        Some("checkout-api"),
        vec![
            span(
                &trace_id,
                &query,
                Some(&root),
                "SELECT carts",
                T0 + 2 * MS,
                T0 + 5 * MS,
                vec![kv_str("db.system", "postgresql")],
            ),
            span(
                &trace_id,
                &root,
                None,
                "GET /cart",
                T0,
                T0 + 8 * MS,
                vec![
                    kv_str("http.request.method", "GET"),
                    kv_i64("http.response.status_code", 200),
                ],
            ),
        ],
    )
}

/// A receiver with the API on, a jsonl sink and an http sink to `endpoint`, changed by `tweak`.
async fn start(dir: &Path, endpoint: &Endpoint, tweak: impl FnOnce(&mut ServeConfig)) -> Receiver {
    let mut config = ServeConfig {
        api_addr: Some(LOOPBACK),
        sinks: vec![
            SinkSpec::jsonl(&dir.join("calls.jsonl")).config(),
            SinkSpec::new(SinkKind::Http, &endpoint.url()).config(),
        ],
        ..receiver::config(dir)
    };
    tweak(&mut config);
    receiver::start(config).await
}

/// The (call id, trace id) of every call the API lists, newest first.
async fn listed(receiver: &Receiver) -> Vec<(String, String)> {
    let api = receiver.api_addr.unwrap();
    let (status, _, list) = get(&client(), &format!("http://{api}/v1/observability/calls")).await;
    assert_eq!(status, 200);
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["id"].as_str().unwrap().into(),
                c["traceId"].as_str().unwrap().into(),
            )
        })
        .collect()
}

#[tokio::test]
async fn web_service_traces_mixed_with_calls_never_become_call_logs() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(200)).await;
    let receiver = start(dir.path(), &endpoint, |_| {}).await;
    let mut stored = receiver.subscribe();
    // Web requests before, among and after the call's spans, in the same requests.
    let first = merge(vec![
        web_request(0x01),
        voice_call(0xa1, "call-1", "agent-a", 0),
    ]);
    let second = merge(vec![web_request(0x02), web_request(0x03)]);
    post_traces(
        &traces_url(&receiver),
        &[first.encode_to_vec(), second.encode_to_vec()],
    )
    .await;

    let logs = next_call_logs(&mut stored, 1).await;
    assert_eq!(logs[0].id, "call-1");
    let api = receiver.api_addr.unwrap();
    // The web traces' windows close with the call's (same grace): all three are counted.
    let ignored = wait_for("three traces ignored", || async {
        metric(api, "voicetrace_traces_ignored_total")
            .await
            .filter(|n| *n >= 3.0)
    })
    .await;
    assert_eq!(ignored, 3.0);
    assert_eq!(
        listed(&receiver).await,
        vec![("call-1".into(), hex(&[0xa1; 16]))]
    );
    let sent = endpoint.take(1).await;
    assert_eq!(sent[0].json["id"], "call-1");
    receiver.shutdown().await;
    assert!(
        endpoint.drain_now().is_empty(),
        "no sink hears of a web request"
    );
    assert_eq!(jsonl(&dir.path().join("calls.jsonl")).len(), 1);
}

#[tokio::test]
async fn with_only_calls_off_every_trace_is_a_call_log() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(200)).await;
    let receiver = start(dir.path(), &endpoint, |c| c.only_calls = false).await;
    let mut stored = receiver.subscribe();
    let both = merge(vec![
        web_request(0x01),
        voice_call(0xa1, "call-1", "agent-a", 0),
    ]);
    post_traces(&traces_url(&receiver), &[both.encode_to_vec()]).await;
    let mut agents: Vec<Option<String>> = next_call_logs(&mut stored, 2)
        .await
        .into_iter()
        .map(|l| l.agent_id)
        .collect();
    agents.sort();
    assert_eq!(
        agents,
        vec![Some("agent-a".into()), Some("checkout-api".into())]
    );
    receiver.shutdown().await;
}

#[tokio::test]
async fn two_calls_sharing_a_call_id_are_both_kept_listed_and_forwarded() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(200)).await;
    let receiver = start(dir.path(), &endpoint, |_| {}).await;
    let mut stored = receiver.subscribe();
    // One request, as a Collector batches them: two agents, two traces, one call id.
    let both = merge(vec![
        voice_call(0xa1, "dup-call", "agent-a", 0),
        voice_call(0xb2, "dup-call", "agent-b", 60_000),
    ]);
    post_traces(&traces_url(&receiver), &[both.encode_to_vec()]).await;

    let logs = next_call_logs(&mut stored, 2).await;
    let trace = |n: u8| hex(&[n; 16]);
    let mut traces: Vec<(&str, u32)> = logs
        .iter()
        .map(|l| (l.trace_id.as_str(), l.revision))
        .collect();
    traces.sort();
    assert_eq!(
        traces,
        vec![(trace(0xa1).as_str(), 1), (trace(0xb2).as_str(), 1)],
        "two calls, each its own first revision"
    );

    // Every sink gets both, told apart by their idempotency keys.
    let received = endpoint.take(2).await;
    let mut keys: Vec<String> = received
        .iter()
        .map(|r| r.header("idempotency-key").unwrap().to_string())
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            format!("dup-call:{}:1", trace(0xa1)),
            format!("dup-call:{}:1", trace(0xb2))
        ]
    );
    let path = dir.path().join("calls.jsonl");
    let lines = wait_for("both call logs in the jsonl sink", || async {
        let lines = jsonl(&path);
        (lines.len() == 2).then_some(lines)
    })
    .await;
    assert_ne!(lines[0]["traceId"], lines[1]["traceId"]);

    // The API lists both and answers the most recent, naming the other.
    let api = receiver.api_addr.unwrap();
    let http = client();
    assert_eq!(
        listed(&receiver).await,
        vec![
            ("dup-call".into(), trace(0xb2)),
            ("dup-call".into(), trace(0xa1))
        ],
        "newest first"
    );
    let (status, _, latest) = get(
        &http,
        &format!("http://{api}/v1/observability/calls/dup-call"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(latest["traceId"], trace(0xb2));
    assert_eq!(latest["agentId"], "agent-b");
    assert_eq!(latest["sameIdCalls"][0]["traceId"], trace(0xa1));
    assert_eq!(
        latest["sameIdCalls"][0]["startedAt"],
        "2026-03-21T10:00:00.000Z"
    );
    let url = format!(
        "http://{api}/v1/observability/calls/dup-call?traceId={}",
        trace(0xa1)
    );
    let (status, _, first) = get(&http, &url).await;
    assert_eq!(status, 200);
    let first: CallLog = serde_json::from_value(first).unwrap();
    assert_eq!(
        (first.agent_id.as_deref(), first.revision),
        (Some("agent-a"), 1)
    );
    let url = format!(
        "http://{api}/v1/observability/calls/dup-call?traceId={}",
        trace(0xcc)
    );
    assert_eq!(get(&http, &url).await.0, 404);
    receiver.shutdown().await;
}

fn hex(bytes: &[u8]) -> String {
    voicetrace::trace_id::to_hex(bytes)
}
