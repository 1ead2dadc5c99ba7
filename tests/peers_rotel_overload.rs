//! Back-pressure with a real retrying exporter: the crate's simulated agent exports to rotel (a
//! Rust OTLP collector that retries refused exports), rotel exports to `voicetrace serve`, and
//! voicetrace's only sink is down, so its outbox reaches its bound (`max_outbox`) and ingest
//! answers "retry later" (gRPC `UNAVAILABLE`). rotel holds the spans and retries; once the sink
//! is back the outbox drains, ingest takes spans again, and every call's call log arrives
//! complete, once: nothing was dropped through the overload.
//!
//! Its own test binary: the agent's pipeline is a process-wide subscriber. Needs
//! `scripts/setup-test-env.sh` (rotel in the venv under target/venv).

#![cfg(all(feature = "receiver", feature = "instrument"))]

#[path = "peers/mod.rs"]
mod peers;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderMap, StatusCode};
use voicetrace::instrument::simulate::{self, SimConfig, SimulatedCall};
use voicetrace::instrument::{Config, Protocol};
use voicetrace::receiver::calllog::{CallLog, CallStatus};

use peers::{free_port, listening_addr, listening_line, start_rotel, wait_for, Peer};

/// Undelivered call logs voicetrace holds before it refuses spans: a few, so the overload
/// comes at once.
const MAX_OUTBOX: u64 = 3;
/// Calls simulated per flush (the batch processor's queue holds a few thousand spans).
const CHUNK: usize = 10;
/// Chunks sent at most: one after another until voicetrace refuses one.
const MAX_CHUNKS: usize = 6;

/// An ingest API for the http sink: down (503) until `up`, then takes every call log.
#[derive(Default)]
struct Endpoint {
    up: AtomicBool,
    refused: AtomicUsize,
    /// Idempotency keys of the deliveries refused while down.
    refused_keys: Mutex<std::collections::BTreeSet<String>>,
    /// (Idempotency-Key, body) of every delivery taken.
    taken: Mutex<Vec<(String, String)>>,
}

async fn deliver(
    axum::extract::State(endpoint): axum::extract::State<Arc<Endpoint>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    if !endpoint.up.load(Ordering::SeqCst) {
        endpoint.refused.fetch_add(1, Ordering::SeqCst);
        endpoint.refused_keys.lock().unwrap().insert(key);
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    endpoint.taken.lock().unwrap().push((key, body));
    StatusCode::OK
}

/// `voicetrace_spans_refused_total` from `/metrics`.
fn spans_refused(api: SocketAddr) -> u64 {
    let mut stream = std::net::TcpStream::connect(api).unwrap();
    write!(stream, "GET /metrics HTTP/1.0\r\nHost: {api}\r\n\r\n").unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("voicetrace_spans_refused_total "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_retries_through_a_full_outbox_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Arc::new(Endpoint::default());
    let app = axum::Router::new()
        .route("/calls", axum::routing::post(deliver))
        .with_state(endpoint.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sink_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });

    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            r#"
otlp_grpc_addr = "127.0.0.1:0"
otlp_http_addr = "127.0.0.1:0"
api_addr = "127.0.0.1:0"
data_dir = "{data}"
grace_ms = 200
max_outbox = {MAX_OUTBOX}

[[sinks]]
kind = "http"
target = "http://{sink_addr}/calls"
[sinks.retry]
initial_backoff_ms = 50
max_backoff_ms = 200
"#,
            data = dir.path().join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_voicetrace"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("voicetrace serve starts");
    let (line, _stdout) = listening_line(&mut child);
    let (grpc, api) = (
        listening_addr(&line, "otlp_grpc="),
        listening_addr(&line, "api="),
    );
    let _serve = Peer(child);

    let rotel_grpc = free_port();
    let _rotel = start_rotel(dir.path(), rotel_grpc, free_port(), grpc);
    let guard = Config::from_env()
        .protocol(Protocol::Grpc)
        .endpoint(format!("http://127.0.0.1:{rotel_grpc}"))
        .service_name("rotel-overload-agent")
        .batch_delay(Duration::from_millis(50))
        .fmt_output(false)
        .log_filter("info")
        .init()
        .unwrap();
    // The sink is down. Each chunk of calls, once assembled, waits in the outbox (the sink
    // tries one of them); past the outbox's bound voicetrace refuses the next chunk's spans.
    let mut calls: Vec<SimulatedCall> = Vec::new();
    for chunk in 0..MAX_CHUNKS {
        let sent = simulate::run(&SimConfig {
            calls: CHUNK,
            exchanges: 3,
            time_scale: 0.0,
            seed: chunk as u64,
            call_id_prefix: format!("overload-{}-{chunk}-", std::process::id()),
            ..SimConfig::default()
        })
        .await;
        guard.flush().unwrap();
        let refused = tokio::task::block_in_place(|| {
            wait_for("the chunk's call logs in the outbox, or a refusal", || {
                if spans_refused(api) > 0 {
                    return Some(true);
                }
                let tried = endpoint.refused_keys.lock().unwrap();
                sent.iter()
                    .any(|c| tried.contains(&format!("{}:1", c.call_id)))
                    .then_some(false)
            })
        });
        calls.extend(sent);
        if refused {
            break;
        }
    }
    tokio::task::block_in_place(|| {
        wait_for("voicetrace to refuse spans (outbox full)", || {
            (spans_refused(api) > 0).then_some(())
        });
        wait_for("rotel to retry a refused export", || {
            peers::rotel_log(dir.path())
                .contains("will retry")
                .then_some(())
        });
    });
    assert!(
        endpoint.refused.load(Ordering::SeqCst) > 0,
        "the sink was down"
    );
    assert!(endpoint.taken.lock().unwrap().is_empty());

    // The sink is back: everything arrives, once per call.
    endpoint.up.store(true, Ordering::SeqCst);
    tokio::task::block_in_place(|| {
        wait_for("every call log to arrive", || {
            let taken = endpoint.taken.lock().unwrap();
            let keys: std::collections::BTreeSet<&str> =
                taken.iter().map(|(k, _)| k.as_str()).collect();
            (keys.len() >= calls.len()).then_some(())
        });
    });
    let taken = endpoint.taken.lock().unwrap().clone();
    let mut by_key: BTreeMap<String, String> = BTreeMap::new();
    for (key, body) in taken {
        if let Some(first) = by_key.get(&key) {
            assert_eq!(first, &body, "{key}: a retransmission with another body");
        }
        by_key.insert(key, body);
    }
    let expected: std::collections::BTreeSet<String> =
        calls.iter().map(|c| format!("{}:1", c.call_id)).collect();
    let got: std::collections::BTreeSet<String> = by_key.keys().cloned().collect();
    assert_eq!(got, expected, "one call log per call, revision 1");
    for call in &calls {
        let log: CallLog = serde_json::from_str(&by_key[&format!("{}:1", call.call_id)]).unwrap();
        assert_eq!(log.status, CallStatus::Completed, "{}", call.call_id);
        assert_eq!(log.turns.len(), call.turns.len(), "{}: turns", call.call_id);
        for (got, want) in log.turns.iter().zip(&call.turns) {
            let at = format!("{} turn {}", call.call_id, want.index);
            assert_eq!(got.stt_ms, Some(want.stt_ms), "{at}: sttMs");
            assert_eq!(got.llm_ms, Some(want.llm_ms), "{at}: llmMs");
            assert_eq!(got.tts_ms, Some(want.tts_ms), "{at}: ttsMs");
            assert_eq!(got.latency_ms, want.latency_ms, "{at}: latencyMs");
        }
    }
    drop(guard);
}
