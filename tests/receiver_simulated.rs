//! The crate's own simulated agent, exporting through the crate's own OTLP pipeline (gRPC) to a
//! running receiver: every call log holds exactly the per-turn figures the agent recorded.
//! One process per global subscriber, so this scenario has its own test binary.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use voicetrace::instrument::simulate::{self, SimConfig};
use voicetrace::instrument::{Config, Protocol};
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
    guard.flush().unwrap();

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
    drop(guard);
    receiver.shutdown().await;
}
