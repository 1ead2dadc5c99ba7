//! The OpenTelemetry Python SDK as a peer: `tests/peers/python_agent.py` writes a voice agent's
//! spans in our conventions with the SDK alone (no voicetrace code) and exports them with the
//! SDK's own OTLP exporters, over gRPC and over HTTP/protobuf, to a running `voicetrace serve`.
//! The call logs in its jsonl sink must hold exactly the per-turn figures the agent recorded,
//! under the trace id derived from the call id (CONVENTIONS.md section 2).
//!
//! Needs `scripts/setup-test-env.sh` (the venv under target/venv).

use std::process::Command;

use serde_json::Value;

use crate::common::peers::{assert_turns, python, Voicetrace};

/// Calls the agent makes per run: call 0 with a UUID call id, the others plain strings.
const CALLS: usize = 3;

fn run_agent(protocol: &str, endpoint: &str, prefix: &str) -> Vec<Value> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/python_agent.py");
    let out = Command::new(python())
        .arg(script)
        .args([
            "--protocol",
            protocol,
            "--endpoint",
            endpoint,
            "--prefix",
            prefix,
        ])
        .args(["--calls", &CALLS.to_string()])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python agent failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected: Value =
        serde_json::from_slice(&out.stdout).expect("the agent prints its calls as JSON");
    expected["calls"].as_array().unwrap().clone()
}

async fn check(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let voicetrace = Voicetrace::start(dir.path(), 300);
    let endpoint = match protocol {
        "grpc" => format!("http://{}", voicetrace.grpc()),
        _ => format!("http://{}/v1/traces", voicetrace.http()),
    };
    let prefix = format!("py-{protocol}-{}-", std::process::id());
    let calls = run_agent(protocol, &endpoint, &prefix);
    assert_eq!(calls.len(), CALLS);
    let ids: Vec<String> = calls
        .iter()
        .map(|c| c["callId"].as_str().unwrap().to_string())
        .collect();
    let turns: Vec<usize> = calls
        .iter()
        .map(|c| c["turns"].as_array().unwrap().len())
        .collect();
    let logs = voicetrace.wait_call_logs(&ids, &turns).await;
    for (call, log) in calls.iter().zip(&logs) {
        assert_eq!(log["id"], call["callId"]);
        assert_eq!(
            log["traceId"], call["traceId"],
            "trace id derived from the call id"
        );
        assert_eq!(log["status"], "completed");
        assert_eq!(log["agentId"], "py-agent");
        assert_eq!(log["endReason"], "client_hangup");
        assert_turns(log, call["turns"].as_array().unwrap());
        // Figures pinned here too, so a wrong script cannot make a wrong receiver pass.
        let t = &log["turns"];
        assert_eq!(
            (
                t[1]["sttMs"].as_i64(),
                t[1]["llmMs"].as_i64(),
                t[1]["ttsMs"].as_i64()
            ),
            (Some(182), Some(455), Some(231))
        );
        assert_eq!(
            t[1]["latencyMs"].as_i64(),
            Some(987),
            "measured voice-to-voice latency"
        );
        assert_eq!(
            t[2]["latencyMs"].as_i64(),
            Some(151 + 503 + 244),
            "estimated from the stages"
        );
        assert!(t[0]["latencyMs"].is_null(), "greeting");
        assert_eq!(t[3]["interrupted"], true);
        assert_eq!(log["metrics"]["toolExecutions"], 1);
        assert_eq!(log["metrics"]["interruptions"], 1);
    }
    // The UUID call id keeps its bits as the trace id.
    assert_eq!(
        logs[0]["traceId"].as_str().unwrap(),
        ids[0].replace('-', "")
    );
}

#[tokio::test]
async fn python_sdk_over_otlp_grpc_becomes_exact_call_logs() {
    check("grpc").await;
}

#[tokio::test]
async fn python_sdk_over_otlp_http_becomes_exact_call_logs() {
    check("http").await;
}
