//! `WatchCalls` on a running receiver's gRPC port (the one OTLP uses) while the crate's
//! simulated agent exports to that port over OTLP/gRPC: every simulated call arrives on the watch
//! as a call log.

use std::collections::HashMap;
use std::time::Duration;

use voicetrace::instrument::simulate::SimConfig;
use voicetrace::instrument::Protocol;
use voicetrace::receiver::api::grpc::pb;
use voicetrace::receiver::api::grpc::pb::call_log_service_client::CallLogServiceClient;

use crate::common::agent::Agent;
use crate::common::receiver::{self, grpc_url};
use crate::common::wait::within;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_calls_over_grpc_sees_every_simulated_call() {
    let data = tempfile::tempdir().unwrap();
    let receiver = receiver::start(receiver::config(data.path())).await;
    let endpoint = grpc_url(&receiver);

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

    let agent = Agent::exporting(Protocol::Grpc, &endpoint, Duration::from_millis(100));
    let calls = agent.simulate(&config).await;
    agent.flush();

    let mut watched: HashMap<String, pb::CallLog> = HashMap::new();
    while calls.iter().any(|c| !watched.contains_key(&c.call_id)) {
        let seen: Vec<&String> = watched.keys().collect();
        let log = within(
            &format!("every call on the watch (seen {seen:?})"),
            watch.message(),
        )
        .await
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

    drop(agent);
    // The watch is still open: shutting down must end it rather than wait for it.
    within(
        "the receiver's shutdown despite an open WatchCalls stream",
        receiver.shutdown(),
    )
    .await;
}
