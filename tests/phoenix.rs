//! Arize Phoenix as a peer: one run of the crate's simulated agent feeds, from one span stream,
//! a real Phoenix (pinned in `scripts/setup-test-env.sh`) and a voicetrace receiver, as a team's
//! agent would feed voicetrace's call logs and the trace backend it already uses.
//!
//! The agent brings its own `SdkTracerProvider` (README: the `CallIdGenerator` /
//! `CallIdProcessor` path) with two batch processors, one exporting over OTLP/gRPC to Phoenix and
//! one to the receiver; content capture is on through the standard environment variable.
//! Through Phoenix's REST API the test asserts what its UI shows: every call listed by the Spans
//! tab's default filter (`parent_id is None`), one session per call, LLM spans with model,
//! tokens, input and output text, stt / tts / turn spans with their text and a kind other than
//! UNKNOWN. The receiver's call logs must still hold exactly the agent's figures and text.
//!
//! Phoenix runs on loopback only, in a temporary working directory, on free ports, with its
//! telemetry and external resources off. Its gRPC listener binds every interface with no
//! setting to change it, so a small launcher rebinds it to 127.0.0.1 before Phoenix starts. A
//! missing Phoenix fails the test: run `scripts/setup-test-env.sh` first.
//!
//! Its own binary: it installs the pipeline as the global subscriber.

#![cfg(all(feature = "receiver", feature = "instrument"))]

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use serde_json::Value;
use tracing::Level;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::{Layer as _, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use voicetrace::instrument::simulate::{self, SimConfig, SimulatedCall};
use voicetrace::instrument::{otel_layer, CallIdGenerator, CallIdProcessor};
use voicetrace::receiver::calllog::{CallLog, CallStatus};
use voicetrace::receiver::server::{Receiver, ServeConfig};
use voicetrace::semconv as sc;

/// Phoenix starts in about 10 s on an idle 2-core machine and 25 s on a loaded one (database
/// migrations, its UI assets); generous for a busy CI runner.
const STARTUP: Duration = Duration::from_secs(240);
/// How long the spans may take to be listed by Phoenix or assembled by the receiver.
const WAIT: Duration = Duration::from_secs(60);
/// Calls in the run, each with a greeting and four exchanges (one with a tool, one barge-in).
const CALLS: usize = 4;
const EXCHANGES: usize = 4;
/// Phoenix's project when the resource names none.
const PROJECT: &str = "default";

/// Starts Phoenix with its gRPC listener rebound to loopback (it binds `[::]` unconditionally),
/// then runs its own command line.
const LAUNCHER: &str = r#"
import sys
import grpc.aio._server as aio_server
_bind = aio_server.Server.add_insecure_port
def _loopback(self, address):
    return _bind(self, "127.0.0.1:" + address.rpartition(":")[2])
aio_server.Server.add_insecure_port = _loopback
from phoenix.server.main import main
sys.argv = ["phoenix", "serve"]
main()
"#;

/// The line uvicorn logs once Phoenix's start-up (gRPC listener included) is done.
const READY_LINE: &str = "Application startup complete";

fn python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/venv/bin/python");
    let has_phoenix = Command::new(&python)
        .args(["-c", "import phoenix"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_phoenix,
        "arize-phoenix is not installed in {}: run scripts/setup-test-env.sh first",
        python.display()
    );
    python
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap()
}

/// A running Phoenix; killed (and its working directory removed) when dropped.
struct Phoenix {
    child: Child,
    http: String,
    grpc: String,
    /// Kept so the directory outlives the process.
    _dir: tempfile::TempDir,
}

impl Phoenix {
    fn start() -> Phoenix {
        let dir = tempfile::tempdir().unwrap();
        let (http_port, grpc_port) = (free_port(), free_port());
        let started = Instant::now();
        let mut child = Command::new(python())
            .args(["-c", LAUNCHER])
            .env("PHOENIX_WORKING_DIR", dir.path())
            .env("PHOENIX_HOST", "127.0.0.1")
            .env("PHOENIX_PORT", http_port.to_string())
            .env("PHOENIX_GRPC_PORT", grpc_port.to_string())
            .env("PHOENIX_TELEMETRY_ENABLED", "false")
            .env("PHOENIX_ALLOW_EXTERNAL_RESOURCES", "false")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("phoenix starts");
        // Read stderr for the ready line, and keep draining it so Phoenix never blocks on it.
        let stderr = child.stderr.take().unwrap();
        let (ready_tx, ready_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tail = Vec::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains(READY_LINE) {
                    let _ = ready_tx.send(Ok(()));
                }
                tail.push(line);
                if tail.len() > 40 {
                    tail.remove(0);
                }
            }
            let _ = ready_tx.send(Err(tail.join("\n")));
        });
        match ready_rx.recv_timeout(STARTUP) {
            Ok(Ok(())) => {}
            Ok(Err(tail)) => panic!("phoenix exited before it was ready:\n{tail}"),
            Err(_) => panic!("phoenix was not ready after {STARTUP:?}"),
        }
        eprintln!("phoenix ready in {:.1?}", started.elapsed());
        Phoenix {
            child,
            http: format!("http://127.0.0.1:{http_port}"),
            grpc: format!("http://127.0.0.1:{grpc_port}"),
            _dir: dir,
        }
    }

    /// GET a REST path; `None` on 404 (a project that has no span yet).
    async fn get(&self, client: &reqwest::Client, path: &str) -> Option<Value> {
        let response = client
            .get(format!("{}/v1/{path}", self.http))
            .send()
            .await
            .unwrap();
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return None;
        }
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        Some(serde_json::from_slice(&response.bytes().await.unwrap()).unwrap())
    }

    /// Every span of the project, following the cursor.
    async fn spans(&self, client: &reqwest::Client, query: &str) -> Vec<Value> {
        let mut spans = Vec::new();
        let mut cursor = String::new();
        loop {
            let path = format!("projects/{PROJECT}/spans?limit=1000{query}{cursor}");
            let Some(page) = self.get(client, &path).await else {
                return spans;
            };
            spans.extend(page["data"].as_array().unwrap().iter().cloned());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = format!("&cursor={next}"),
                None => return spans,
            }
        }
    }
}

impl Drop for Phoenix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spans a simulated call emits: conversation, the greeting (turn, llm, tts), per exchange
/// turn + stt + llm + tts, and a tool_call and a second llm for each tool.
fn span_count(calls: &[SimulatedCall]) -> usize {
    calls
        .iter()
        .map(|c| {
            let exchanges: usize = c.turns.iter().skip(1).map(|t| 4 + 2 * t.tools.len()).sum();
            4 + exchanges
        })
        .sum()
}

fn grpc_processor(endpoint: &str) -> BatchSpanProcessor {
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        // Phoenix indexes as it receives: on a loaded CI machine an export can take longer
        // than the SDK's 10 s default, and a flush that times out fails the test.
        .with_timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    BatchSpanProcessor::builder(exporter)
        .with_batch_config(
            BatchConfigBuilder::default()
                .with_scheduled_delay(Duration::from_millis(100))
                .build(),
        )
        .build()
}

/// Attribute `key` of a Phoenix span as a string.
fn attr<'a>(span: &'a Value, key: &str) -> &'a str {
    span["attributes"][key].as_str().unwrap_or_else(|| {
        panic!(
            "{} has no string attribute {key}: {}",
            span["name"], span["attributes"]
        )
    })
}

fn attr_int(span: &Value, key: &str) -> i64 {
    span["attributes"][key]
        .as_i64()
        .unwrap_or_else(|| panic!("{} has no int attribute {key}", span["name"]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_span_stream_reads_right_in_phoenix_and_gives_exact_call_logs() {
    let begun = Instant::now();
    // Edition 2021: `set_var` is safe; this binary has one test and sets the variable before
    // anything reads it (the crate reads it at the first call).
    std::env::set_var(sc::genai::CAPTURE_MESSAGE_CONTENT_ENV, "true");
    let phoenix = Phoenix::start();

    let data = tempfile::tempdir().unwrap();
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let receiver = Receiver::start(ServeConfig {
        otlp_grpc_addr: loopback,
        otlp_http_addr: loopback,
        api_addr: None,
        data_dir: data.path().to_path_buf(),
        grace_ms: 200,
        ..ServeConfig::default()
    })
    .await
    .unwrap();
    let mut finished = receiver.subscribe();

    // The application's own provider: the crate's id generator and processor, two exporters.
    let provider = SdkTracerProvider::builder()
        .with_id_generator(CallIdGenerator::default())
        .with_span_processor(CallIdProcessor)
        .with_span_processor(grpc_processor(&phoenix.grpc))
        .with_span_processor(grpc_processor(&format!(
            "http://{}",
            receiver.otlp_grpc_addr
        )))
        .with_resource(
            Resource::builder()
                .with_service_name("phoenix-peer-agent")
                .build(),
        )
        .build();
    // Only the agent's spans: the receiver shares this process, and its own spans must not
    // feed back into what it receives.
    let agent_only = Targets::new().with_target("voicetrace::instrument", Level::INFO);
    tracing_subscriber::registry()
        .with(otel_layer(provider.tracer("voicetrace")).with_filter(agent_only))
        .init();
    let config = SimConfig {
        calls: CALLS,
        exchanges: EXCHANGES,
        time_scale: 0.0,
        call_id_prefix: "phoenix-peer-".into(),
        ..SimConfig::default()
    };
    let calls = simulate::run(&config).await;
    let flushing = provider.clone();
    tokio::task::spawn_blocking(move || flushing.force_flush())
        .await
        .unwrap()
        .unwrap();

    // voicetrace: exact call logs from the same stream.
    let mut logs: HashMap<String, Arc<CallLog>> = HashMap::new();
    while logs.len() < calls.len() {
        let log = tokio::time::timeout(WAIT, finished.recv())
            .await
            .expect("call logs in time")
            .unwrap();
        logs.insert(log.id.clone(), log);
    }
    for call in &calls {
        let log = &logs[&call.call_id];
        assert_eq!(log.trace_id, call.trace_id);
        assert_eq!(log.status, CallStatus::Completed);
        assert_eq!(log.turns.len(), call.turns.len(), "{}", call.call_id);
        for (got, want) in log.turns.iter().zip(&call.turns) {
            let at = format!("{} turn {}", call.call_id, want.index);
            assert_eq!(
                (got.stt_ms, got.llm_ms, got.tts_ms, got.latency_ms),
                (
                    Some(want.stt_ms),
                    Some(want.llm_ms),
                    Some(want.tts_ms),
                    want.latency_ms
                ),
                "{at}: figures"
            );
            assert_eq!(got.user_text, want.user_text, "{at}: userText");
            assert_eq!(
                got.text.as_deref(),
                Some(want.agent_text.as_str()),
                "{at}: text"
            );
            assert_eq!(got.interrupted, want.interrupted, "{at}");
        }
    }

    // Phoenix: wait until it has stored every span.
    let client = reqwest::Client::new();
    let expected = span_count(&calls);
    let deadline = Instant::now() + WAIT;
    let mut spans = Vec::new();
    while spans.len() < expected {
        assert!(
            Instant::now() < deadline,
            "phoenix has {} of {expected} spans after {WAIT:?}",
            spans.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await; // no push signal to await
        spans = phoenix.spans(&client, "").await;
    }
    assert_eq!(spans.len(), expected);

    // The Spans tab's default filter lists every call, by its root.
    let roots = phoenix.spans(&client, "&parent_id=null").await;
    let mut root_traces: Vec<&str> = roots
        .iter()
        .map(|r| {
            assert_eq!(r["name"], sc::SPAN_CONVERSATION);
            assert_eq!(r["span_kind"], sc::openinference::KIND_AGENT);
            r["context"]["trace_id"].as_str().unwrap()
        })
        .collect();
    root_traces.sort_unstable();
    let mut call_traces: Vec<&str> = calls.iter().map(|c| c.trace_id.as_str()).collect();
    call_traces.sort_unstable();
    assert_eq!(root_traces, call_traces, "one root per call, none missing");

    // One session per call, holding that call's trace and its tokens.
    let sessions = phoenix
        .get(&client, &format!("projects/{PROJECT}/sessions?limit=100"))
        .await
        .expect("sessions");
    assert_eq!(sessions["data"].as_array().unwrap().len(), CALLS);

    let mut unknown = 0;
    for call in &calls {
        let of_call: Vec<&Value> = spans
            .iter()
            .filter(|s| s["context"]["trace_id"] == call.trace_id.as_str())
            .collect();
        let by_id: HashMap<&str, &Value> = of_call
            .iter()
            .map(|s| (s["context"]["span_id"].as_str().unwrap(), *s))
            .collect();
        let parent = |s: &Value| s["parent_id"].as_str().and_then(|p| by_id.get(p)).copied();
        let root = of_call
            .iter()
            .find(|s| s["parent_id"].is_null())
            .expect("the call's root");
        assert!(attr(root, sc::openinference::INPUT_VALUE).contains("calling about my order"));
        unknown += of_call
            .iter()
            .filter(|s| s["span_kind"] == "UNKNOWN")
            .count();

        let session = phoenix
            .get(&client, &format!("sessions/{}", call.call_id))
            .await
            .expect("a session named by the call id");
        let traces: Vec<&str> = session["data"]["traces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["trace_id"].as_str().unwrap())
            .collect();
        assert_eq!(traces, [call.trace_id.as_str()], "{}", call.call_id);
        let prompt_tokens: i64 = of_call
            .iter()
            .filter(|s| s["name"] == sc::SPAN_LLM)
            .map(|s| attr_int(s, "llm.token_count.prompt"))
            .sum();
        assert!(prompt_tokens > 0);
        assert_eq!(session["data"]["token_count_prompt"], prompt_tokens);

        // Each turn's text, where Phoenix shows it.
        let turns: Vec<&&Value> = of_call
            .iter()
            .filter(|s| s["name"] == sc::SPAN_TURN)
            .collect();
        assert_eq!(turns.len(), call.turns.len());
        for turn in turns {
            let index = attr_int(turn, sc::TURN_INDEX) as usize;
            let want = &call.turns[index];
            let at = format!("{} turn {index}", call.call_id);
            assert_eq!(turn["span_kind"], sc::openinference::KIND_CHAIN, "{at}");
            assert_eq!(
                turn["attributes"][sc::openinference::INPUT_VALUE].as_str(),
                want.user_text.as_deref(),
                "{at}: turn input"
            );
            assert_eq!(
                attr(turn, sc::openinference::OUTPUT_VALUE),
                want.agent_text,
                "{at}"
            );
            let stages: Vec<&&Value> = of_call
                .iter()
                .filter(|s| parent(s).is_some_and(|p| std::ptr::eq(p, *turn)))
                .collect();
            for stage in &stages {
                let name = stage["name"].as_str().unwrap();
                let kind = stage["span_kind"].as_str().unwrap();
                match name {
                    sc::SPAN_LLM => {
                        assert_eq!(kind, sc::openinference::KIND_LLM, "{at}");
                        assert_eq!(attr(stage, "llm.model_name"), "gpt-4o-mini", "{at}");
                        assert_eq!(
                            attr_int(stage, "llm.token_count.prompt"),
                            attr_int(stage, sc::GEN_AI_USAGE_INPUT_TOKENS),
                            "{at}"
                        );
                        assert!(attr_int(stage, "llm.token_count.completion") > 0, "{at}");
                        assert!(!attr(stage, sc::openinference::INPUT_VALUE).is_empty());
                        assert!(!attr(stage, sc::openinference::OUTPUT_VALUE).is_empty());
                        assert!(
                            stage["attributes"]["llm.output_messages.0.message.role"]
                                == "assistant",
                            "{at}: output messages"
                        );
                    }
                    sc::SPAN_STT => {
                        assert_eq!(kind, sc::openinference::KIND_LLM, "{at}");
                        assert_eq!(attr(stage, "llm.model_name"), "nova-3", "{at}");
                        assert_eq!(
                            Some(attr(stage, sc::openinference::OUTPUT_VALUE)),
                            want.user_text.as_deref(),
                            "{at}: transcript"
                        );
                    }
                    sc::SPAN_TTS => {
                        assert_eq!(kind, sc::openinference::KIND_LLM, "{at}");
                        assert_eq!(attr(stage, "llm.model_name"), "sonic-2", "{at}");
                        assert_eq!(
                            attr(stage, sc::openinference::INPUT_VALUE),
                            want.agent_text,
                            "{at}: spoken text"
                        );
                    }
                    sc::SPAN_TOOL_CALL => {
                        assert_eq!(kind, sc::openinference::KIND_TOOL, "{at}");
                    }
                    other => panic!("{at}: unexpected stage {other}"),
                }
            }
            // The answer the agent spoke is the last llm request's output.
            let last_llm = stages
                .iter()
                .filter(|s| s["name"] == sc::SPAN_LLM)
                .max_by_key(|s| (s["start_time"].to_string(), s["end_time"].to_string()))
                .expect("an llm stage");
            assert_eq!(
                attr(last_llm, sc::openinference::OUTPUT_VALUE),
                want.agent_text,
                "{at}: answer"
            );
        }
    }
    assert_eq!(unknown, 0, "no span is of kind UNKNOWN");

    tokio::task::spawn_blocking(move || provider.shutdown())
        .await
        .unwrap()
        .unwrap();
    receiver.shutdown().await;
    eprintln!("phoenix peer test took {:.1?}", begun.elapsed());
}
