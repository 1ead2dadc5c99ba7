//! rotel as a peer: the crate's simulated agent exports over OTLP/gRPC to rotel (a Rust OTLP
//! collector, from its PyPI wheel), which exports over OTLP/gRPC to a running `voicetrace serve`
//! (the topology of `collector-config.yaml`, with rotel in place of otelcol-contrib).
//!
//! 1. Calls flow through rotel and become call logs with exactly the simulated figures.
//! 2. voicetrace is stopped, the agent makes more calls (rotel takes them, its exports fail and
//!    it retries), voicetrace comes back on the same port and data directory: rotel's retries
//!    deliver every span and those calls become exact call logs too.
//! 3. A call spans a restart: its first turns reach voicetrace (accepted, so journaled), voicetrace
//!    restarts, the rest of the call arrives: one call log with every turn.
//!
//! Needs `scripts/setup-test-env.sh` (rotel in the venv under target/venv).

use std::time::Duration;

use serde_json::json;
use voicetrace::instrument::simulate::{SimConfig, SimulatedCall};
use voicetrace::instrument::{Call, EndReason, TurnSpan};
use voicetrace::receiver::calllog::CallLog;

use crate::common::agent::assert_simulated;
use crate::common::peers::{wait_rotel_retry, Rotel, Voicetrace};
use crate::common::wait::wait_for;

/// Waits for the call log of each simulated call and checks it holds what the agent recorded.
async fn assert_call_logs(voicetrace: &Voicetrace, calls: &[SimulatedCall]) {
    let ids: Vec<String> = calls.iter().map(|c| c.call_id.clone()).collect();
    let turns: Vec<usize> = calls.iter().map(|c| c.turns.len()).collect();
    let logs = voicetrace.wait_call_logs(&ids, &turns).await;
    for (call, log) in calls.iter().zip(logs) {
        let log: CallLog = serde_json::from_value(log).expect("a call log");
        assert_simulated(&log, call);
    }
}

/// One turn with these stage figures (ms) and a measured voice-to-voice latency.
fn turn(call: &Call, stt: u64, llm: u64, tts: u64, v2v: u64) {
    let turn: TurnSpan = call.turn();
    turn.user_text("Is my order on its way?")
        .agent_text("It is, it arrives on Thursday.");
    turn.stt().ttfb(Duration::from_millis(stt));
    turn.llm().ttfb(Duration::from_millis(llm));
    turn.tts().ttfb(Duration::from_millis(tts));
    turn.voice_to_voice(Duration::from_millis(v2v));
}

fn sim(prefix: String) -> SimConfig {
    SimConfig {
        calls: 3,
        exchanges: 3,
        time_scale: 0.0,
        call_id_prefix: prefix,
        ..SimConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_agent_through_rotel_survives_a_voicetrace_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut voicetrace = Voicetrace::start(dir.path(), 300);
    let rotel = Rotel::start(dir.path(), voicetrace.grpc());
    let agent = rotel.agent("rotel-peer-agent", Duration::from_millis(100));
    let pid = std::process::id();

    // 1. agent → rotel → voicetrace.
    let first = agent.simulate(&sim(format!("rotel-a-{pid}-"))).await;
    agent.flush();
    assert_call_logs(&voicetrace, &first).await;

    // 2. voicetrace down while the agent exports; rotel holds the spans and retries.
    tokio::task::block_in_place(|| voicetrace.stop());
    let second = agent.simulate(&sim(format!("rotel-b-{pid}-"))).await;
    agent.flush();
    wait_rotel_retry(dir.path()).await;
    tokio::task::block_in_place(|| voicetrace.restart());
    assert_call_logs(&voicetrace, &second).await;

    // 3. A call across a restart.
    let figures = [
        (150, 420, 200, 900),
        (170, 380, 210, 880),
        (160, 450, 190, 950),
    ];
    let call = agent.in_scope(|| {
        let call = Call::start(format!("rotel-c-{pid}"));
        for &(stt, llm, tts, v2v) in &figures[..2] {
            turn(&call, stt, llm, tts, v2v);
        }
        call
    });
    agent.flush();
    // 2 turns × (turn + stt + llm + tts) accepted by this voicetrace process.
    wait_for("the first turns to reach voicetrace", || async {
        (voicetrace.spans_accepted().await >= 8).then_some(())
    })
    .await;
    tokio::task::block_in_place(|| voicetrace.restart());
    let call_id = call.id().to_string();
    agent.in_scope(|| {
        let &(stt, llm, tts, v2v) = &figures[2];
        turn(&call, stt, llm, tts, v2v);
        call.end(EndReason::ClientHangup);
    });
    agent.flush();
    let log = &voicetrace
        .wait_call_logs(std::slice::from_ref(&call_id), &[3])
        .await[0];
    assert_eq!(log["status"], "completed");
    for (got, (stt, llm, tts, v2v)) in log["turns"].as_array().unwrap().iter().zip(figures) {
        let figures = (
            &got["sttMs"],
            &got["llmMs"],
            &got["ttsMs"],
            &got["latencyMs"],
        );
        assert_eq!(
            figures,
            (&json!(stt), &json!(llm), &json!(tts), &json!(v2v)),
            "{got:#}"
        );
    }
    drop(agent);
}
