//! The crate's own simulated agent, exporting through the crate's own OTLP pipeline (gRPC) to a
//! running receiver: every call log holds exactly the per-turn figures the agent recorded.

use std::time::Duration;

use voicetrace::instrument::simulate::SimConfig;
use voicetrace::instrument::Protocol;

use crate::common::agent::{assert_simulated, Agent};
use crate::common::receiver::{self, call_logs_by, grpc_url};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_calls_become_exact_call_logs() {
    let data = tempfile::tempdir().unwrap();
    let receiver = receiver::start(receiver::config(data.path())).await;
    let mut finished = receiver.subscribe();
    let agent = Agent::exporting(
        Protocol::Grpc,
        &grpc_url(&receiver),
        Duration::from_millis(100),
    );
    let config = SimConfig {
        calls: 8,
        exchanges: 4,
        time_scale: 0.0,
        ..SimConfig::default()
    };
    let calls = agent.simulate(&config).await;
    agent.flush();

    let ids: Vec<String> = calls.iter().map(|c| c.call_id.clone()).collect();
    let logs = call_logs_by(&mut finished, &ids, |l| l.id.clone()).await;
    for call in &calls {
        let log = &logs[&call.call_id];
        assert_simulated(log, call);
        assert_eq!(log.agent_id.as_deref(), Some(config.agent_id.as_str()));
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
    drop(agent);
    receiver.shutdown().await;
}
