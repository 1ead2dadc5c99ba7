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
//! One test: the agent's pipeline is a process-wide subscriber. Needs
//! `scripts/setup-test-env.sh` (rotel in the venv under target/venv).

#![cfg(all(feature = "receiver", feature = "instrument"))]

#[path = "peers/mod.rs"]
mod peers;

use std::time::Duration;

use serde_json::{json, Value};
use voicetrace::instrument::simulate::{self, SimConfig, SimulatedCall};
use voicetrace::instrument::{Call, Config, EndReason, Protocol, TurnSpan};

use peers::{assert_turns, free_port, rotel_log, start_rotel, wait_for, Serve};

/// What the call log of a simulated call must say, in the shape [`assert_turns`] reads. Text is
/// left out: the simulated barge-in turn's spoken text is cut short.
fn expected_turns(call: &SimulatedCall) -> Vec<Value> {
    call.turns
        .iter()
        .map(|t| {
            json!({
                "index": t.index, "userText": t.user_text, "text": null,
                "sttMs": t.stt_ms, "llmMs": t.llm_ms, "ttsMs": t.tts_ms, "latencyMs": t.latency_ms,
                "interrupted": t.interrupted, "tools": t.tools,
            })
        })
        .collect()
}

fn assert_call_logs(serve: &Serve, calls: &[SimulatedCall]) {
    let ids: Vec<String> = calls.iter().map(|c| c.call_id.clone()).collect();
    let turns: Vec<usize> = calls.iter().map(|c| c.turns.len()).collect();
    let logs = serve.wait_call_logs(&ids, &turns);
    for (call, log) in calls.iter().zip(&logs) {
        assert_eq!(log["traceId"], call.trace_id.as_str());
        assert_eq!(log["status"], "completed", "{}", call.call_id);
        assert_turns(log, &expected_turns(call));
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
    let mut serve = Serve::start(dir.path(), 300);
    let rotel_grpc = free_port();
    let _rotel = start_rotel(dir.path(), rotel_grpc, free_port(), serve.grpc);
    let guard = Config::from_env()
        .protocol(Protocol::Grpc)
        .endpoint(format!("http://127.0.0.1:{rotel_grpc}"))
        .service_name("rotel-peer-agent")
        .batch_delay(Duration::from_millis(100))
        .fmt_output(false)
        .log_filter("info")
        .init()
        .unwrap();
    let pid = std::process::id();

    // 1. agent → rotel → voicetrace.
    let first = simulate::run(&sim(format!("rotel-a-{pid}-"))).await;
    guard.flush().unwrap();
    let check = |serve: &Serve, calls: &[SimulatedCall]| assert_call_logs(serve, calls);
    tokio::task::block_in_place(|| check(&serve, &first));

    // 2. voicetrace down while the agent exports; rotel holds the spans and retries.
    tokio::task::block_in_place(|| serve.stop());
    let second = simulate::run(&sim(format!("rotel-b-{pid}-"))).await;
    guard.flush().unwrap();
    tokio::task::block_in_place(|| {
        wait_for("rotel to fail an export and retry", || {
            rotel_log(dir.path()).contains("will retry").then_some(())
        });
        serve.restart();
        check(&serve, &second);
    });

    // 3. A call across a restart.
    let figures = [
        (150, 420, 200, 900),
        (170, 380, 210, 880),
        (160, 450, 190, 950),
    ];
    let call = Call::start(format!("rotel-c-{pid}"));
    for &(stt, llm, tts, v2v) in &figures[..2] {
        turn(&call, stt, llm, tts, v2v);
    }
    guard.flush().unwrap();
    tokio::task::block_in_place(|| {
        // 2 turns × (turn + stt + llm + tts) accepted by this voicetrace process.
        wait_for("the first turns to reach voicetrace", || {
            (serve.spans_accepted() >= 8).then_some(())
        });
        serve.restart();
    });
    let &(stt, llm, tts, v2v) = &figures[2];
    turn(&call, stt, llm, tts, v2v);
    let call_id = call.id().to_string();
    call.end(EndReason::ClientHangup);
    guard.flush().unwrap();
    tokio::task::block_in_place(|| {
        let log = &serve.wait_call_logs(std::slice::from_ref(&call_id), &[3])[0];
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
    });
    drop(guard);
}
