//! `WatchCalls` on a running receiver's gRPC port (the one OTLP uses) while the crate's
//! simulated agent exports to that port over OTLP/gRPC: every simulated call arrives on the watch
//! as a call log. Its own test binary: the agent side installs a global subscriber.

#![cfg(all(feature = "receiver", feature = "instrument"))]

use std::collections::HashMap;
use std::time::Duration;

use voicetrace::instrument::simulate::{self, SimConfig};
use voicetrace::instrument::{Config, Protocol};
use voicetrace::receiver::api::grpc::pb;
use voicetrace::receiver::api::grpc::pb::call_log_service_client::CallLogServiceClient;
use voicetrace::receiver::server::{Receiver, ServeConfig};

/// Generous for a loaded 2-core CI machine; the calls take well under a second here.
const WAIT: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_calls_over_grpc_sees_every_simulated_call() {
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
    let endpoint = format!("http://{}", receiver.otlp_grpc_addr);

    let config = SimConfig {
        calls: 6,
        exchanges: 3,
        time_scale: 0.0,
        ..SimConfig::default()
    };
    let mut client = CallLogServiceClient::connect(endpoint.clone())
        .await
        .unwrap();
    // Subscribed once the answer has started: before the agent sends anything.
    let mut watch = client
        .watch_calls(pb::WatchCallsRequest {
            agent_id: Some(config.agent_id.clone()),
        })
        .await
        .unwrap()
        .into_inner();

    let guard = Config::from_env()
        .protocol(Protocol::Grpc)
        .endpoint(endpoint)
        .batch_delay(Duration::from_millis(100))
        .fmt_output(false)
        .log_filter("info")
        .init()
        .unwrap();
    let calls = simulate::run(&config).await;
    guard.flush().unwrap();

    let mut watched: HashMap<String, pb::CallLog> = HashMap::new();
    while calls.iter().any(|c| !watched.contains_key(&c.call_id)) {
        let log = tokio::time::timeout(WAIT, watch.message())
            .await
            .unwrap_or_else(|_| {
                let seen: Vec<&String> = watched.keys().collect();
                panic!("not every call arrived on the watch in time; seen {seen:?}")
            })
            .unwrap()
            .expect("the watch ended while calls were running");
        assert_eq!(
            log.agent_id.as_deref(),
            Some(config.agent_id.as_str()),
            "the watch filters by agent"
        );
        watched.insert(log.id.clone(), log);
    }
    for call in &calls {
        let log = &watched[&call.call_id];
        assert_eq!(log.trace_id, call.trace_id);
        assert_eq!(log.status(), pb::CallStatus::Completed, "{}", call.call_id);
        assert_eq!(log.turns.len(), call.turns.len(), "{}", call.call_id);
        for (got, want) in log.turns.iter().zip(&call.turns) {
            assert_eq!(
                got.latency_ms, want.latency_ms,
                "{} turn {}",
                call.call_id, want.index
            );
        }
    }
    // What was watched is what the store answers.
    let stored = client
        .get_call(pb::GetCallRequest {
            id: calls[0].call_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.trace_id, calls[0].trace_id);

    drop(guard);
    // The watch is still open: shutting down must end it rather than wait for it.
    tokio::time::timeout(WAIT, receiver.shutdown())
        .await
        .expect("the receiver's shutdown waited on an open WatchCalls stream");
}
