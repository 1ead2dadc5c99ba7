//! The crate's own simulated agent, exporting through the crate's own OTLP pipeline (gRPC) to a
//! running receiver: every call log holds exactly the per-turn figures the agent recorded.
//! Calls of both root shapes are assembled: a real root (this crate now) and a root whose
//! parent is never exported (agents built with earlier versions, which forced the trace id
//! through a made-up remote parent; an incoming traceparent gives the same shape).

use std::time::Duration;

use voicetrace::instrument::simulate::SimConfig;
use voicetrace::instrument::{Call, EndReason, Protocol};
use voicetrace::receiver::calllog::CallStatus;

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
    // A fiftieth of real time: the speech lasts long enough to be measured (a 10-word answer
    // 80 ms) and the eight calls take about a second.
    let config = SimConfig {
        calls: 8,
        exchanges: 4,
        time_scale: 0.02,
        ..SimConfig::default()
    };
    let calls = agent.simulate(&config).await;
    let dangling = agent.in_scope(|| dangling_parent_call("old-shape-call"));
    agent.flush();

    let mut ids: Vec<String> = calls.iter().map(|c| c.call_id.clone()).collect();
    ids.push("old-shape-call".into());
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
        for want in &call.turns {
            assert!(want.agent_speech_ms > 0, "the simulated agent speaks");
        }
        let cut = call
            .turns
            .iter()
            .position(|t| t.interrupted)
            .expect("a barge-in");
        let (agent, barge) = (&log.turns[cut], &log.turns[cut + 1]);
        let (Some(from), Some(until), Some(caller)) = (
            agent.agent_start_ms,
            agent.agent_end_ms,
            barge.user_start_ms,
        ) else {
            panic!("{}: speech intervals of the barge-in", call.call_id);
        };
        assert!(
            from < caller && caller < until,
            "{}: the caller barged in at {caller}, inside the agent's {from}..{until}",
            call.call_id
        );
    }
    let old = &logs["old-shape-call"];
    assert_eq!(old.trace_id, dangling);
    assert_eq!(old.status, CallStatus::Completed);
    assert_eq!(old.turns.len(), 1);
    assert_eq!(old.turns[0].user_text.as_deref(), Some("Is it shipped?"));
    assert_eq!(old.turns[0].text.as_deref(), Some("Yes, it ships today."));
    assert_eq!(old.turns[0].llm_ms, Some(300));
    drop(agent);
    receiver.shutdown().await;
}

/// A call in the shape earlier versions of the crate exported: the root's parent is a span id
/// that no one exports. Returns the trace id.
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
