//! The running receiver over real sockets: real framework exports replayed over OTLP/HTTP
//! (protobuf, JSON, gzip) and OTLP/gRPC become call logs equal to `expected.json`; every error
//! answer of the OTLP specification; back-pressure; idle timeouts; the `serve` binary's contract.

use std::path::Path;

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;
use voicetrace::receiver::calllog::{CallLog, CallStatus};
use voicetrace::receiver::forward::SinkKind;
use voicetrace::receiver::server::{Receiver, ServeConfig};

use crate::common::fixtures::{
    assert_matches_expected, expected, expected_calls, fixture_dirs, request_bodies, request_files,
};
use crate::common::http::{gzip, post, post_traces};
use crate::common::net::down_address;
use crate::common::otlp;
use crate::common::receiver::{self, expect_fixture, grpc_url, next_call_logs, traces_url};
use crate::common::serve::{command, Listen, Serve};
use crate::common::sinks::{jsonl, SinkSpec};
use crate::common::wait::{wait_for, wait_for_blocking, DEADLINE};

/// A receiver storing in `dir` with a jsonl sink at `dir/calls.jsonl`, changed by `tweak`.
async fn start(dir: &Path, tweak: impl FnOnce(&mut ServeConfig)) -> Receiver {
    let mut config = ServeConfig {
        sinks: vec![SinkSpec::jsonl(&dir.join("calls.jsonl")).config()],
        ..receiver::config(dir)
    };
    tweak(&mut config);
    receiver::start(config).await
}

#[derive(Clone, Copy, Debug)]
enum Transport {
    HttpProtobuf,
    HttpProtobufGzip,
    HttpJson,
    Grpc,
}

async fn replay(receiver: &Receiver, dir: &Path, transport: Transport) {
    let url = traces_url(receiver);
    match transport {
        Transport::HttpProtobuf | Transport::HttpProtobufGzip => {
            for body in request_bodies(dir) {
                let (body, encoding) = match transport {
                    Transport::HttpProtobufGzip => (gzip(&body), Some("gzip")),
                    _ => (body, None),
                };
                let response = post(&url, "application/x-protobuf", encoding, body).await;
                assert_eq!(response.status(), 200);
                assert_eq!(response.headers()["content-type"], "application/x-protobuf");
                let answer =
                    ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
                assert_eq!(answer.partial_success, None);
            }
        }
        Transport::HttpJson => {
            for file in request_files(dir, "json") {
                let response =
                    post(&url, "application/json", None, std::fs::read(file).unwrap()).await;
                assert_eq!(
                    response.status(),
                    200,
                    "{}",
                    response.text().await.unwrap_or_default()
                );
            }
        }
        Transport::Grpc => {
            let mut client = TraceServiceClient::connect(grpc_url(receiver))
                .await
                .expect("gRPC connects")
                .send_compressed(tonic::codec::CompressionEncoding::Gzip);
            for body in request_bodies(dir) {
                let request = ExportTraceServiceRequest::decode(&body[..]).unwrap();
                let answer = client
                    .export(request)
                    .await
                    .expect("export accepted")
                    .into_inner();
                assert_eq!(answer.partial_success, None);
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixtures_over_every_transport_match_expected() {
    for transport in [
        Transport::HttpProtobuf,
        Transport::HttpProtobufGzip,
        Transport::HttpJson,
        Transport::Grpc,
    ] {
        let data = tempfile::tempdir().unwrap();
        let receiver = start(data.path(), |_| {}).await;
        let mut rx = receiver.subscribe();
        for dir in fixture_dirs() {
            replay(&receiver, &dir, transport).await;
            let logs = expect_fixture(&mut rx, &dir).await;
            for log in &logs {
                assert_eq!(log.status, CallStatus::Completed, "{transport:?}");
                // Stored before it is announced.
                let stored = receiver
                    .store()
                    .latest_call(&log.id, None)
                    .unwrap()
                    .expect("stored");
                assert_eq!(stored.revision, log.revision);
            }
        }
        receiver.shutdown().await;
        // The jsonl sink got one line per call log.
        let jsonl_path = data.path().join("calls.jsonl");
        let wanted: usize = fixture_dirs().iter().map(|d| expected_calls(d)).sum();
        let lines = wait_for("the jsonl sink's lines", || {
            let lines = jsonl(&jsonl_path).len();
            async move { (lines >= wanted).then_some(lines) }
        })
        .await;
        assert_eq!(lines, wanted, "{transport:?}: jsonl lines");
    }
}

#[tokio::test]
async fn late_spans_produce_a_stored_revision() {
    let data = tempfile::tempdir().unwrap();
    let receiver = start(data.path(), |_| {}).await;
    let mut rx = receiver.subscribe();
    let dir = &fixture_dirs()[1]; // pipecat: its last request holds a turn and the root
    let bodies = request_bodies(dir);
    let url = traces_url(&receiver);
    // Requests 2..4 first (root included), request 1 (turn 1's spans) after the call log.
    post_traces(&url, &bodies[1..]).await;
    let first = next_call_logs(&mut rx, 1).await;
    assert_eq!(first[0].revision, 1);
    post_traces(&url, &bodies[..1]).await;
    let revised = next_call_logs(&mut rx, 1).await;
    assert_eq!(revised[0].revision, 2);
    assert_matches_expected(dir, &revised);
    assert_eq!(
        receiver
            .store()
            .latest_call(&revised[0].id, None)
            .unwrap()
            .unwrap()
            .revision,
        2
    );
    receiver.shutdown().await;
}

#[tokio::test]
async fn a_call_without_root_is_closed_incomplete_after_the_idle_timeout() {
    let data = tempfile::tempdir().unwrap();
    let receiver = start(data.path(), |c| c.idle_timeout_ms = 300).await;
    let mut rx = receiver.subscribe();
    let dir = &fixture_dirs()[1];
    let bodies = request_bodies(dir);
    let url = traces_url(&receiver);
    // Everything but the last request, which holds the `conversation` root.
    post_traces(&url, &bodies[..bodies.len() - 1]).await;
    let logs = next_call_logs(&mut rx, 1).await;
    assert_eq!(logs[0].status, CallStatus::Incomplete);
    assert!(
        logs[0].issues.iter().any(|i| i.kind == "incomplete_call"),
        "{:?}",
        logs[0].issues
    );
    receiver.shutdown().await;
}

/// A request with one good span and one whose trace id is all zero.
fn half_bad_request() -> ExportTraceServiceRequest {
    let dir = &fixture_dirs()[1];
    let mut request = ExportTraceServiceRequest::decode(&request_bodies(dir)[0][..]).unwrap();
    let spans = &mut request.resource_spans[0].scope_spans[0].spans;
    spans.truncate(2);
    spans[1].trace_id = vec![0; 16];
    request
}

#[tokio::test]
async fn error_answers_follow_the_otlp_specification() {
    let data = tempfile::tempdir().unwrap();
    let receiver = start(data.path(), |_| {}).await;
    let url = traces_url(&receiver);

    // Partial success over HTTP and gRPC: the bad span is counted and explained.
    let response = post(
        &url,
        "application/x-protobuf",
        None,
        half_bad_request().encode_to_vec(),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer = ExportTraceServiceResponse::decode(response.bytes().await.unwrap()).unwrap();
    let partial = answer.partial_success.expect("partial success");
    assert_eq!(partial.rejected_spans, 1);
    assert!(
        partial.error_message.contains("trace id is all zero"),
        "{}",
        partial.error_message
    );
    let mut client = TraceServiceClient::connect(grpc_url(&receiver))
        .await
        .unwrap();
    let answer = client
        .export(half_bad_request())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.partial_success.unwrap().rejected_spans, 1);

    // Undecodable bodies: 400 with a google.rpc.Status saying what failed.
    let response = post(
        &url,
        "application/x-protobuf",
        None,
        b"\xff\xff not protobuf".to_vec(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let body = response.bytes().await.unwrap();
    let message = String::from_utf8_lossy(&body);
    assert!(
        message.contains("cannot decode ExportTraceServiceRequest"),
        "{message}"
    );
    let response = post(
        &url,
        "application/json",
        None,
        b"{\"resourceSpans\": 7}".to_vec(),
    )
    .await;
    assert_eq!(response.status(), 400);
    let status: serde_json::Value =
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
    assert_eq!(status["code"], 3);
    assert!(status["message"].as_str().unwrap().contains("OTLP/JSON"));
    let response = post(
        &url,
        "application/x-protobuf",
        Some("gzip"),
        b"not gzip".to_vec(),
    )
    .await;
    assert_eq!(response.status(), 400);

    // Unknown content type or encoding: 415.
    assert_eq!(
        post(&url, "text/plain", None, b"hello".to_vec())
            .await
            .status(),
        415
    );
    assert_eq!(
        post(&url, "application/x-protobuf", Some("br"), b"x".to_vec())
            .await
            .status(),
        415
    );

    // Oversized: 413, before and after decompression.
    let big = vec![0u8; voicetrace::receiver::ingest::MAX_BODY_BYTES + 1];
    assert_eq!(
        post(&url, "application/x-protobuf", None, big.clone())
            .await
            .status(),
        413
    );
    assert_eq!(
        post(&url, "application/x-protobuf", Some("gzip"), gzip(&big))
            .await
            .status(),
        413
    );

    // Logs endpoint and LiveKit's upload paths answer too.
    for path in ["/v1/logs", "/observability/logs/otlp/v0"] {
        let r = post(
            &format!("http://{}{path}", receiver.otlp_http_addr),
            "application/x-protobuf",
            None,
            Vec::new(),
        )
        .await;
        assert_eq!(r.status(), 200, "{path}");
    }
    let r = post(
        &format!(
            "http://{}/observability/traces/otlp/v0",
            receiver.otlp_http_addr
        ),
        "application/x-protobuf",
        None,
        request_bodies(&fixture_dirs()[0])[0].clone(),
    )
    .await;
    assert_eq!(r.status(), 200);
    receiver.shutdown().await;
}

/// Asserts that the receiver refuses `body` over OTLP/gRPC with "retry later" (UNAVAILABLE).
async fn assert_grpc_refused(receiver: &Receiver, body: &[u8]) {
    let mut client = TraceServiceClient::connect(grpc_url(receiver))
        .await
        .unwrap();
    let status = client
        .export(ExportTraceServiceRequest::decode(body).unwrap())
        .await
        .expect_err("refused over gRPC");
    assert_eq!(status.code(), tonic::Code::Unavailable);
}

#[tokio::test]
async fn a_full_receiver_says_retry_later_and_loses_nothing() {
    let data = tempfile::tempdir().unwrap();
    // A memory bound smaller than one request: every span request is refused.
    let receiver = start(data.path(), |c| c.max_spans_buffered = 2).await;
    let url = traces_url(&receiver);
    let body = request_bodies(&fixture_dirs()[1])[0].clone();
    let response = post(&url, "application/x-protobuf", None, body.clone()).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_grpc_refused(&receiver, &body).await;
    // Refused spans were not taken: nothing was assembled from them.
    receiver.shutdown().await;
    let store = voicetrace::receiver::store::Store::open(data.path()).unwrap();
    let page = store
        .list_calls(&voicetrace::receiver::calllog::CallQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap();
    assert!(page.calls.is_empty());
}

/// One span of call `trace` (all ids made of one byte), ended a second ago.
fn bare_span(
    trace: u8,
    id: u8,
    parent: Option<u8>,
    name: &str,
) -> opentelemetry_proto::tonic::trace::v1::Span {
    let end = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        - 1_000_000_000;
    let parent = parent.map(|p| [p; 8]);
    otlp::span(
        &[trace; 16],
        &[id; 8],
        parent.as_ref().map(|p| &p[..]),
        name,
        end - 500_000_000,
        end,
        vec![],
    )
}

fn export_body(spans: Vec<opentelemetry_proto::tonic::trace::v1::Span>) -> Vec<u8> {
    otlp::request(None, spans).encode_to_vec()
}

#[tokio::test]
async fn more_open_calls_than_max_calls_says_retry_later_instead_of_closing_one_early() {
    // max_calls = 1: while call A waits for its root, a span of a new call B is refused with
    // "retry later"; once A's root has come and A is finished, B's retry is taken. A is never
    // closed early as incomplete to make room.
    let data = tempfile::tempdir().unwrap();
    let receiver = start(data.path(), |c| c.max_calls = 1).await;
    let mut rx = receiver.subscribe();
    let url = traces_url(&receiver);
    let turn_a = export_body(vec![bare_span(0xa1, 2, Some(1), "turn")]);
    let root_a = export_body(vec![bare_span(0xa1, 1, None, "conversation")]);
    let call_b = export_body(vec![bare_span(0xb2, 2, Some(1), "turn")]);

    let r = post(&url, "application/x-protobuf", None, turn_a).await;
    assert_eq!(r.status(), 200);
    // Assembly tells ingest about A after taking the batch (then sets the gauge): from then on
    // B is refused.
    wait_for("call A to be open", || {
        let open = receiver
            .metrics()
            .encode(false)
            .contains("voicetrace_calls_open 1");
        async move { open.then_some(()) }
    })
    .await;
    let r = post(&url, "application/x-protobuf", None, call_b.clone()).await;
    assert_eq!(
        r.status(),
        503,
        "a new call while one is open with max_calls 1"
    );
    assert_eq!(r.headers()["retry-after"], "1");
    assert_grpc_refused(&receiver, &call_b).await;

    // A's root: A finishes after the grace, and B's retry gets in.
    let r = post(&url, "application/x-protobuf", None, root_a).await;
    assert_eq!(r.status(), 200);
    let a = next_call_logs(&mut rx, 1).await.remove(0);
    assert_eq!(a.trace_id, "a1".repeat(16));
    assert_eq!(
        a.status,
        CallStatus::Completed,
        "A finished with its root, not evicted"
    );
    wait_for("B's retry to be taken", || async {
        let r = post(&url, "application/x-protobuf", None, call_b.clone()).await;
        if r.status() != 200 {
            assert_eq!(r.status(), 503);
        }
        (r.status() == 200).then_some(())
    })
    .await;
    receiver.shutdown().await;
}

#[tokio::test]
async fn a_backlogged_outbox_says_retry_later() {
    let data = tempfile::tempdir().unwrap();
    // A sink nobody listens on: the call log stays in the outbox, at the bound of 1.
    let sink = format!("http://{}/calls", down_address());
    let receiver = start(data.path(), |c| {
        c.max_outbox = 1;
        c.sinks = vec![SinkSpec::new(SinkKind::Http, &sink).config()];
    })
    .await;
    let mut rx = receiver.subscribe();
    let url = traces_url(&receiver);
    let dir = &fixture_dirs()[1];
    let bodies = request_bodies(dir);
    post_traces(&url, &bodies).await;
    next_call_logs(&mut rx, 1).await;
    // Once the outbox depth is read, more spans are refused with "retry later".
    let response = wait_for("spans to be refused", || async {
        let response = post(&url, "application/x-protobuf", None, bodies[0].clone()).await;
        (response.status() != 200).then_some(response)
    })
    .await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    receiver.shutdown().await;
}

#[test]
fn serve_binary_prints_its_addresses_and_writes_call_logs() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out.jsonl");
    let mut serve = spawn_serve(data.path(), &out, "100");
    let line = serve.line.clone();
    let fields: Vec<&str> = line.trim().split(' ').collect();
    assert_eq!(fields[..2], ["voicetrace", "listening"], "{line}");
    assert!(fields[2].starts_with("otlp_grpc=127.0.0.1:"), "{line}");
    assert!(fields[3].starts_with("otlp_http=127.0.0.1:"), "{line}");
    assert_eq!(fields[4], "api=-");
    assert_eq!(fields.len(), 5, "{line}");

    let dir = &fixture_dirs()[0];
    post_all(&serve, &request_bodies(dir));
    let logs = wait_for_call_logs(&out);
    let status = serve.terminate();
    assert!(
        status.success(),
        "serve exits cleanly on SIGTERM: {status:?}"
    );
    assert_matches_expected(dir, &logs);
}

/// SIGINT (Ctrl-C) stops serve as SIGTERM does: requests in flight are answered, calls whose
/// root arrived are finished and stored (here, with a grace far longer than the test, only the
/// stop can have finished them), and the process exits 0.
#[test]
fn serve_binary_stops_cleanly_on_sigint() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out.jsonl");
    let mut serve = spawn_serve(data.path(), &out, "600000");
    let dir = &fixture_dirs()[1];
    let bodies = request_bodies(dir);
    let url = serve.traces_url();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        post_traces(&url, &bodies).await;
        // More requests in flight while the signal arrives: each is answered (accepted, or
        // "shutting down, retry later") or refused at connect once the listener is closed;
        // none is left hanging.
        let mut in_flight = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let (url, body) = (url.clone(), bodies[0].clone());
            in_flight.spawn(async move {
                reqwest::Client::new()
                    .post(url)
                    .header("content-type", "application/x-protobuf")
                    .body(body)
                    .timeout(DEADLINE)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
            });
        }
        serve.signal("INT");
        while let Some(answer) = in_flight.join_next().await {
            match answer.unwrap() {
                Ok(status) => assert!([200, 503].contains(&status), "answered {status}"),
                Err(e) => assert!(!e.is_timeout(), "a request was left hanging: {e}"),
            }
        }
    });
    let status = serve.wait_exit();
    assert!(status.success(), "serve exits 0 on SIGINT: {status:?}");
    let logs = call_logs(&out);
    assert_matches_expected(dir, &logs);
    let store = voicetrace::receiver::store::Store::open(data.path()).unwrap();
    assert_eq!(
        store.journal_depth().unwrap(),
        0,
        "finished calls leave the journal"
    );
}

#[tokio::test]
async fn a_call_in_flight_survives_a_receiver_restart() {
    let data = tempfile::tempdir().unwrap();
    let dir = &fixture_dirs()[1]; // pipecat: the root is in the last request
    let bodies = request_bodies(dir);
    let receiver = start(data.path(), |_| {}).await;
    let mut rx = receiver.subscribe();
    let url = traces_url(&receiver);
    post_traces(&url, &bodies[..bodies.len() - 1]).await;
    receiver.shutdown().await;
    // The call had no root yet: it was neither closed nor lost, it waits in the journal.
    assert!(rx.try_recv().is_err(), "no call log for a call in flight");

    let receiver = start(data.path(), |_| {}).await;
    let mut rx = receiver.subscribe();
    let url = traces_url(&receiver);
    let last = bodies.last().unwrap().clone();
    assert_eq!(
        post(&url, "application/x-protobuf", None, last)
            .await
            .status(),
        200
    );
    let logs = next_call_logs(&mut rx, 1).await;
    assert_eq!(logs[0].revision, 1);
    assert_eq!(logs[0].status, CallStatus::Completed);
    assert_matches_expected(dir, &logs);
    receiver.shutdown().await;
    let store = voicetrace::receiver::store::Store::open(data.path()).unwrap();
    assert_eq!(
        store.journal_depth().unwrap(),
        0,
        "the journal is trimmed once the call log is stored"
    );
}

/// `voicetrace serve` on fresh ports with no API, storing in `data`, writing call logs to the
/// jsonl file `out`, with this grace (ms).
fn spawn_serve(data: &Path, out: &Path, grace_ms: &str) -> Serve {
    Serve::spawn(
        command(data, Listen::otlp())
            .arg("--sink")
            .arg(format!("jsonl:{}", out.display()))
            .args(["--grace-ms", grace_ms]),
    )
}

/// POSTs protobuf bodies to serve's `/v1/traces`, each answered 200.
fn post_all(serve: &Serve, bodies: &[Vec<u8>]) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(post_traces(&serve.traces_url(), bodies));
}

/// The call logs in a jsonl file.
fn call_logs(path: &Path) -> Vec<CallLog> {
    jsonl(path)
        .into_iter()
        .map(|l| serde_json::from_value(l).expect("a call log per line"))
        .collect()
}

/// The call logs in a jsonl file once it has one.
fn wait_for_call_logs(path: &Path) -> Vec<CallLog> {
    wait_for_blocking("a call log in the jsonl sink", || {
        let logs = call_logs(path);
        (!logs.is_empty()).then_some(logs)
    })
}

#[test]
fn accepted_spans_survive_a_crash() {
    let data = tempfile::tempdir().unwrap();
    let out = data.path().join("out.jsonl");
    let dir = &fixture_dirs()[1];
    let bodies = request_bodies(dir);

    let mut serve = spawn_serve(data.path(), &out, "100");
    post_all(&serve, &bodies[..bodies.len() - 1]);
    // SIGKILL: no shutdown code runs. What was answered 200 must be on disk.
    serve.kill();

    let mut serve = spawn_serve(data.path(), &out, "100");
    post_all(&serve, &bodies[bodies.len() - 1..]);
    let logs = wait_for_call_logs(&out);
    serve.kill();
    assert_matches_expected(dir, &logs);
}

/// LiveKit Agents upload to `{LIVEKIT_OBSERVABILITY_URL}/observability/{traces,logs}/otlp/v0`
/// (OTLP protobuf, gzip): a worker pointed at voicetrace gets its call logs, log lines included.
#[tokio::test]
async fn livekit_upload_paths_become_call_logs_with_their_log_lines() {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
    use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};

    let data = tempfile::tempdir().unwrap();
    let receiver = start(data.path(), |_| {}).await;
    let mut rx = receiver.subscribe();
    let base = format!("http://{}/observability", receiver.otlp_http_addr);
    let dir = &fixture_dirs()[0];
    assert!(dir.ends_with("livekit-basic"));
    let expected = expected(dir);
    let trace_hex = expected[0]["traceId"].as_str().unwrap();
    let trace_id = voicetrace::trace_id::from_hex::<16>(trace_hex)
        .unwrap()
        .to_vec();
    let logs = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    trace_id,
                    severity_text: "INFO".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(
                            "looking up the weather".into(),
                        )),
                    }),
                    // Inside the call (its first span starts later than this in Unix time).
                    time_unix_nano: 1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let r = post(
        &format!("{base}/logs/otlp/v0"),
        "application/x-protobuf",
        Some("gzip"),
        gzip(&logs.encode_to_vec()),
    )
    .await;
    assert_eq!(r.status(), 200);
    for body in request_bodies(dir) {
        let r = post(
            &format!("{base}/traces/otlp/v0"),
            "application/x-protobuf",
            Some("gzip"),
            gzip(&body),
        )
        .await;
        assert_eq!(r.status(), 200);
    }
    let logs = expect_fixture(&mut rx, dir).await;
    assert!(
        logs[0]
            .logs
            .iter()
            .any(|l| l.message == "looking up the weather" && l.level == "INFO"),
        "{:?}",
        logs[0].logs
    );
    receiver.shutdown().await;
}
