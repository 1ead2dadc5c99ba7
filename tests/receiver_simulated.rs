//! The crate's own simulated agent, exporting through the crate's own OTLP pipeline (gRPC) to a
//! running receiver: every call log holds exactly the per-turn figures the agent recorded.
//! Calls of both root shapes are assembled: a real root (this crate now) and a root whose
//! parent is never exported (agents built with earlier versions, which forced the trace id
//! through a made-up remote parent; an incoming traceparent gives the same shape).
//! One process per global subscriber, so this scenario has its own test binary.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use voicetrace::instrument::simulate::{self, SimConfig};
use voicetrace::instrument::{Call, Config, EndReason, Protocol};
use voicetrace::receiver::calllog::{CallLog, CallStatus};
use voicetrace::receiver::server::{Receiver, ServeConfig};

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_calls_become_exact_call_logs() {
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
    let guard = Config::from_env()
        .protocol(Protocol::Grpc)
        .endpoint(format!("http://{}", receiver.otlp_grpc_addr))
        .batch_delay(Duration::from_millis(100))
        .fmt_output(false)
        .log_filter("info")
        .init()
        .unwrap();
    let config = SimConfig {
        calls: 8,
        exchanges: 4,
        time_scale: 0.0,
        ..SimConfig::default()
    };
    let calls = simulate::run(&config).await;
    let dangling = dangling_parent_call("old-shape-call");
    guard.flush().unwrap();

    let mut logs: HashMap<String, Arc<CallLog>> = HashMap::new();
    while logs.len() < calls.len() + 1 {
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
        assert_eq!(log.agent_id.as_deref(), Some(config.agent_id.as_str()));
        assert_eq!(log.turns.len(), call.turns.len(), "{}", call.call_id);
        for (got, want) in log.turns.iter().zip(&call.turns) {
            let at = format!("{} turn {}", call.call_id, want.index);
            assert_eq!(got.index, want.index, "{at}");
            assert_eq!(got.stt_ms, Some(want.stt_ms), "{at}: sttMs");
            assert_eq!(got.llm_ms, Some(want.llm_ms), "{at}: llmMs");
            assert_eq!(got.tts_ms, Some(want.tts_ms), "{at}: ttsMs");
            assert_eq!(got.latency_ms, want.latency_ms, "{at}: latencyMs");
            assert_eq!(got.interrupted, want.interrupted, "{at}: interrupted");
            assert_eq!(got.user_text, want.user_text, "{at}: userText");
            assert_eq!(
                got.text.as_deref(),
                Some(want.agent_text.as_str()),
                "{at}: text"
            );
            let tools: Vec<String> = got.tools.iter().map(|t| t.name.clone()).collect();
            assert_eq!(tools, want.tools, "{at}: tools");
        }
        assert!(
            !log.custom_metrics.is_empty(),
            "log_metric reached the call log"
        );
        assert!(
            !log.logs.is_empty(),
            "tracing::info! lines reached the call log"
        );
        assert!(log.events.iter().any(|e| e.name == "interruption"));
    }
    let old = &logs["old-shape-call"];
    assert_eq!(old.trace_id, dangling);
    assert_eq!(old.status, CallStatus::Completed);
    assert_eq!(old.turns.len(), 1);
    assert_eq!(old.turns[0].user_text.as_deref(), Some("Is it shipped?"));
    assert_eq!(old.turns[0].text.as_deref(), Some("Yes, it ships today."));
    assert_eq!(old.turns[0].llm_ms, Some(300));
    drop(guard);
    receiver.shutdown().await;
}

/// A call in the shape earlier versions of the crate exported: the root's parent is a span id
/// derived from the call id that no one exports. Returns the trace id.
fn dangling_parent_call(call_id: &str) -> String {
    let trace_id = voicetrace::trace_id::trace_id_hex(call_id);
    let call = Call::builder(call_id)
        .traceparent(format!("00-{trace_id}-5c0ffee5c0ffee55-01"))
        .start();
    {
        let turn = call.turn();
        turn.user_text("Is it shipped?");
        let llm = turn.llm();
        llm.ttfb(Duration::from_millis(300))
            .text("Yes, it ships today.");
        llm.end();
    }
    call.end(EndReason::ClientHangup);
    trace_id
}
