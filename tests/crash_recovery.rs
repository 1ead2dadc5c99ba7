//! Nothing lost, nothing doubled: `voicetrace serve` is killed with SIGKILL mid-ingest,
//! mid-assembly and mid-delivery while 200 simulated calls flow through it, restarted on the same
//! data directory each time, and an http sink endpoint must still receive every call's call log,
//! complete (every turn, the figures the agent recorded), once per revision.
//!
//! The calls are the crate's simulated agent (exact expected figures), exported once through the
//! crate's own OTLP/HTTP pipeline into a capture server and regrouped into two requests per call
//! (the call's spans, then its root). A client that retries like an OTLP exporter (on a refused
//! connection, a reset, or any answer but 200) sends them. Delivery is at least once with an
//! `Idempotency-Key`, so the endpoint dedupes by key as a real ingest API does; the test checks
//! that a retransmission carries the same key and the same body, and that the revisions are the
//! ones a run without kills produces (revision 1, nothing more).
//!
//! Every wait is on a condition (a listening line, a count of answers or deliveries) with a
//! deadline, never a bare sleep.

#![cfg(all(feature = "receiver", feature = "instrument"))]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
use prost::Message;
use tokio::sync::watch;

use voicetrace::instrument::simulate::{self, SimConfig, SimulatedCall};
use voicetrace::instrument::{Config, Protocol};
use voicetrace::receiver::calllog::{CallLog, CallStatus};
use voicetrace::receiver::store::Store;

/// Calls driven through the receiver at once.
const CALLS: usize = 200;
/// Calls simulated (and flushed) at a time when the test plans them.
const CHUNK: usize = 25;
/// Any single condition this test waits for; far above what it needs, so a slow CI machine
/// fails nothing, while a lost call log still fails the test instead of hanging it.
const DEADLINE: Duration = Duration::from_secs(60);
/// The receiver's grace after a root span: long enough that the kill after the last request
/// lands while calls are still being assembled.
const GRACE_MS: &str = "2000";

// ----- the calls: simulated once, regrouped into per-call requests ----------------------------

/// One call's requests (its spans without the root, then the root) and its expected figures.
struct PlannedCall {
    expected: SimulatedCall,
    requests: Vec<Vec<u8>>,
}

#[derive(Default)]
struct Captured(Mutex<Vec<ExportTraceServiceRequest>>);

async fn capture_traces(
    axum::extract::State(captured): axum::extract::State<Arc<Captured>>,
    body: Bytes,
) -> StatusCode {
    match ExportTraceServiceRequest::decode(body) {
        Ok(request) => {
            captured.0.lock().unwrap().push(request);
            StatusCode::OK
        }
        Err(_) => StatusCode::BAD_REQUEST,
    }
}

fn root_count(requests: &[ExportTraceServiceRequest]) -> usize {
    requests
        .iter()
        .flat_map(|r| &r.resource_spans)
        .flat_map(|r| &r.scope_spans)
        .flat_map(|s| &s.spans)
        .filter(|s| s.name == "conversation")
        .count()
}

/// The request holding the spans of `trace_id` that `keep` selects, with their resource and
/// scope; `None` when there are none.
fn request_for(
    requests: &[ExportTraceServiceRequest],
    trace_id: &[u8],
    keep: impl Fn(&str) -> bool,
) -> Option<Vec<u8>> {
    let mut resource_spans = Vec::new();
    for request in requests {
        for rs in &request.resource_spans {
            let scope_spans: Vec<ScopeSpans> = rs
                .scope_spans
                .iter()
                .filter_map(|ss| {
                    let spans: Vec<_> = ss
                        .spans
                        .iter()
                        .filter(|s| s.trace_id == trace_id && keep(&s.name))
                        .cloned()
                        .collect();
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
    }
    (!resource_spans.is_empty())
        .then(|| ExportTraceServiceRequest { resource_spans }.encode_to_vec())
}

/// Runs the simulated agent (no sleeps) through the crate's OTLP/HTTP exporter into a capture
/// server, and regroups what it exported per call.
async fn plan_calls() -> Vec<PlannedCall> {
    let captured = Arc::new(Captured::default());
    let app = axum::Router::new()
        .route("/v1/traces", axum::routing::post(capture_traces))
        .with_state(captured.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let guard = Config::from_env()
        .protocol(Protocol::HttpProtobuf)
        .endpoint(format!("http://{addr}"))
        .batch_delay(Duration::from_millis(50))
        .fmt_output(false)
        .log_filter("info")
        .init()
        .unwrap();
    // In chunks, flushed one by one: all 200 calls at once (no sleeps) would overflow the batch
    // processor's queue, which drops spans as the OpenTelemetry SDK does when it is full.
    let guard = Arc::new(guard);
    let mut calls = Vec::with_capacity(CALLS);
    for chunk in 0..CALLS / CHUNK {
        calls.extend(
            simulate::run(&SimConfig {
                calls: CHUNK,
                exchanges: 3,
                time_scale: 0.0,
                seed: chunk as u64,
                call_id_prefix: format!("crash-{chunk}-"),
                ..SimConfig::default()
            })
            .await,
        );
        let guard = guard.clone();
        tokio::task::spawn_blocking(move || guard.flush().unwrap())
            .await
            .unwrap();
    }
    wait_until("the agent's spans are captured", || {
        root_count(&captured.0.lock().unwrap()) >= CALLS
    })
    .await;

    let requests = captured.0.lock().unwrap().clone();
    calls
        .into_iter()
        .map(|call| {
            let trace_id = hex_bytes(&call.trace_id);
            let requests = [
                request_for(&requests, &trace_id, |name| name != "conversation"),
                request_for(&requests, &trace_id, |name| name == "conversation"),
            ]
            .into_iter()
            .map(|r| r.expect("every call has spans and a root"))
            .collect();
            PlannedCall {
                expected: call,
                requests,
            }
        })
        .collect()
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

// ----- the sink's endpoint --------------------------------------------------------------------

/// How the endpoint answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Takes every delivery at once.
    Accept,
    /// Answers every third request 503 (not taken); takes the others but answers only after a
    /// pause, so a kill catches deliveries the endpoint took and the receiver never heard of.
    Slow,
}

#[derive(Default)]
struct Endpoint {
    mode: Mutex<Option<Mode>>,
    requests: AtomicUsize,
    /// Every delivery taken, in order: (Idempotency-Key, body).
    taken: Mutex<Vec<(String, String)>>,
}

impl Endpoint {
    /// Distinct idempotency keys taken.
    fn distinct(&self) -> usize {
        let taken = self.taken.lock().unwrap();
        let keys: std::collections::HashSet<&str> = taken.iter().map(|(k, _)| k.as_str()).collect();
        keys.len()
    }
}

async fn deliver(
    axum::extract::State(endpoint): axum::extract::State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let n = endpoint.requests.fetch_add(1, Ordering::SeqCst);
    let mode = endpoint.mode.lock().unwrap().unwrap_or(Mode::Accept);
    if mode == Mode::Slow && n % 3 == 0 {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let Some(key) = headers.get("idempotency-key").and_then(|v| v.to_str().ok()) else {
        return StatusCode::BAD_REQUEST;
    };
    endpoint.taken.lock().unwrap().push((key.to_string(), body));
    if mode == Mode::Slow {
        // A slow ingest API: the delivery is taken, the answer is late.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    StatusCode::OK
}

async fn start_endpoint(endpoint: Arc<Endpoint>) -> SocketAddr {
    let app = axum::Router::new()
        .route("/calls", axum::routing::post(deliver))
        .with_state(endpoint);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

// ----- the receiver as a child process --------------------------------------------------------

struct Serve {
    child: Child,
    otlp_http: String,
}

fn spawn_serve(data: &Path, sink: &str, run: usize) -> Serve {
    let log = std::fs::File::create(data.join(format!("serve-{run}.log"))).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_voicetrace"))
        .args([
            "serve",
            "--otlp-grpc-addr",
            "127.0.0.1:0",
            "--otlp-http-addr",
            "127.0.0.1:0",
            "--api-addr",
            "-",
            "--grace-ms",
            GRACE_MS,
        ])
        .arg("--data-dir")
        .arg(data.join("store"))
        .arg("--sink")
        .arg(sink)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .expect("voicetrace serve starts");
    // The listening line is printed once every listener is bound (and the journal replayed).
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let otlp_http = line
        .split_whitespace()
        .find_map(|f| f.strip_prefix("otlp_http="))
        .unwrap_or_else(|| panic!("no listening line from serve, got {line:?}"))
        .to_string();
    Serve { child, otlp_http }
}

impl Serve {
    fn kill(mut self) {
        self.child.kill().unwrap(); // SIGKILL: no shutdown code runs
        self.child.wait().unwrap();
    }
}

// ----- the retrying exporter ------------------------------------------------------------------

/// Sends a call's requests in order to whichever receiver is up, each until it is answered 200
/// (as an OTLP exporter retries a refused connection, a reset, a 503).
async fn send_call(
    client: reqwest::Client,
    requests: Vec<Vec<u8>>,
    mut receiver: watch::Receiver<Option<String>>,
    answered: Arc<AtomicUsize>,
) {
    for body in requests {
        loop {
            let Some(http) = receiver.borrow_and_update().clone() else {
                let _ = receiver.changed().await;
                continue;
            };
            let sent = client
                .post(format!("http://{http}/v1/traces"))
                .header("content-type", "application/x-protobuf")
                .body(body.clone())
                .send()
                .await;
            if matches!(&sent, Ok(r) if r.status() == StatusCode::OK) {
                answered.fetch_add(1, Ordering::SeqCst);
                break;
            }
            // Retry soon, or as soon as a new receiver is up.
            let _ = tokio::time::timeout(Duration::from_millis(20), receiver.changed()).await;
        }
    }
}

async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = Instant::now() + DEADLINE;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

// ----- the test -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_log_arrives_once_through_sigkills() {
    let planned = plan_calls().await;
    let requests_total: usize = planned.iter().map(|c| c.requests.len()).sum();
    let data = tempfile::tempdir().unwrap();
    let endpoint = Arc::new(Endpoint::default());
    let sink = format!(
        "http:http://{}/calls",
        start_endpoint(endpoint.clone()).await
    );

    // 1. Mid-ingest: killed while the 200 calls' requests are in flight.
    let serve = spawn_serve(data.path(), &sink, 1);
    let (current, receiver) = watch::channel(Some(serve.otlp_http.clone()));
    let answered = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let senders: Vec<_> = planned
        .iter()
        .map(|call| {
            tokio::spawn(send_call(
                client.clone(),
                call.requests.clone(),
                receiver.clone(),
                answered.clone(),
            ))
        })
        .collect();
    wait_until("a third of the requests are answered", || {
        answered.load(Ordering::SeqCst) >= requests_total / 3
    })
    .await;
    current.send_replace(None);
    serve.kill();
    let answered_at_kill = answered.load(Ordering::SeqCst);
    assert!(
        answered_at_kill < requests_total,
        "the kill came mid-ingest"
    );

    // 2. Mid-assembly: restarted, every request answered, killed before the grace is over.
    let serve = spawn_serve(data.path(), &sink, 2);
    current.send_replace(Some(serve.otlp_http.clone()));
    wait_until("every request is answered", || {
        answered.load(Ordering::SeqCst) >= requests_total
    })
    .await;
    current.send_replace(None);
    serve.kill();
    for sender in senders {
        sender.await.unwrap();
    }
    let delivered_at_kill = endpoint.distinct();
    eprintln!("killed mid-assembly with {delivered_at_kill} of {CALLS} call logs delivered");

    // 3. Mid-delivery: the endpoint is slow and sometimes busy; killed with deliveries taken
    // whose answers the receiver never saw.
    *endpoint.mode.lock().unwrap() = Some(Mode::Slow);
    let serve = spawn_serve(data.path(), &sink, 3);
    let before = endpoint.distinct();
    wait_until("some call logs are delivered to a slow endpoint", || {
        endpoint.distinct() >= (before + 20).min(CALLS)
    })
    .await;
    serve.kill();
    let delivered_at_kill = endpoint.distinct();
    assert!(
        delivered_at_kill < CALLS,
        "the kill came mid-delivery ({delivered_at_kill} of {CALLS} delivered)"
    );

    // 4. The last start: everything arrives; then a clean stop (SIGTERM exits 0).
    *endpoint.mode.lock().unwrap() = Some(Mode::Accept);
    let mut serve = spawn_serve(data.path(), &sink, 4);
    wait_until("every call log is delivered", || {
        endpoint.distinct() >= CALLS
    })
    .await;
    // An exporter that never heard the answer to a request sends it again, here after the
    // call's log went out: the spans are the same, so no new revision may come of them.
    let resent = &planned[..10];
    for call in resent {
        let response = client
            .post(format!("http://{}/v1/traces", serve.otlp_http))
            .header("content-type", "application/x-protobuf")
            .body(call.requests[1].clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
    }
    // SIGTERM: the receiver finishes what it holds (a revision, if it made one, is stored and
    // offered to the sink) before it exits.
    let pid = serve.child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = serve.child.wait().unwrap();
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");

    // What the endpoint took: per key, every copy identical; the keys are exactly one
    // revision (1) per call, as without kills.
    let taken = endpoint.taken.lock().unwrap().clone();
    let mut by_key: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, body) in taken {
        by_key.entry(key).or_default().push(body);
    }
    let retransmitted = by_key.values().filter(|b| b.len() > 1).count();
    eprintln!(
        "{} deliveries taken for {} keys ({retransmitted} keys retransmitted)",
        by_key.values().map(Vec::len).sum::<usize>(),
        by_key.len()
    );
    for (key, bodies) in &by_key {
        assert!(
            bodies.iter().all(|b| b == &bodies[0]),
            "{key}: a retransmission carries a different body"
        );
    }
    let expected_keys: std::collections::BTreeSet<String> = planned
        .iter()
        .map(|c| format!("{}:1", c.expected.call_id))
        .collect();
    let got_keys: std::collections::BTreeSet<String> = by_key.keys().cloned().collect();
    let extra: Vec<&String> = got_keys.difference(&expected_keys).collect();
    let missing: Vec<&String> = expected_keys.difference(&got_keys).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "one revision (1) per call, as a run without kills: unexpected {extra:?}, missing {missing:?}"
    );

    // Every call log complete: every turn, the figures the agent recorded.
    let logs: HashMap<String, CallLog> = by_key
        .values()
        .map(|bodies| {
            let log: CallLog = serde_json::from_str(&bodies[0]).unwrap();
            (log.id.clone(), log)
        })
        .collect();
    for call in planned.iter().map(|c| &c.expected) {
        let log = &logs[&call.call_id];
        assert_eq!(log.trace_id, call.trace_id);
        assert_eq!(log.revision, 1);
        assert_eq!(log.status, CallStatus::Completed, "{}", call.call_id);
        assert_eq!(log.turns.len(), call.turns.len(), "{}: turns", call.call_id);
        for (got, want) in log.turns.iter().zip(&call.turns) {
            let at = format!("{} turn {}", call.call_id, want.index);
            assert_eq!(got.index, want.index, "{at}");
            assert_eq!(got.stt_ms, Some(want.stt_ms), "{at}: sttMs");
            assert_eq!(got.llm_ms, Some(want.llm_ms), "{at}: llmMs");
            assert_eq!(got.tts_ms, Some(want.tts_ms), "{at}: ttsMs");
            assert_eq!(got.latency_ms, want.latency_ms, "{at}: latencyMs");
            assert_eq!(got.interrupted, want.interrupted, "{at}: interrupted");
            assert_eq!(got.user_text, want.user_text, "{at}: userText");
            let tools: Vec<&str> = got.tools.iter().map(|t| t.name.as_str()).collect();
            assert_eq!(tools, want.tools, "{at}: tools");
        }
    }

    // The store agrees: no revision beyond the first, nothing left to deliver, and the journal
    // holds nothing of calls whose call logs are stored.
    let store = Store::open(&data.path().join("store")).unwrap();
    for call in planned.iter().map(|c| &c.expected) {
        assert_eq!(
            store.revisions(&call.call_id).unwrap(),
            [1],
            "{}",
            call.call_id
        );
    }
    assert_eq!(store.outbox_depth().unwrap(), 0, "the outbox is drained");
    assert_eq!(store.journal_depth().unwrap(), 0, "the journal is pruned");
}
