//! The OpenTelemetry Python SDK's metric exporters as peers: `tests/peers/python_metrics.py`
//! exports LiveKit-shaped usage counters (a resource naming the room and the job, delta
//! temporality) with the SDK's own OTLP exporters, over gRPC and HTTP/protobuf, to a running
//! `voicetrace serve`. Every export must succeed with nothing logged (before, the receiver
//! answered `/v1/metrics` 404 and the exporter logged an error each interval), and every data
//! point must be counted in `voicetrace_metric_points_total`.
//!
//! Needs `scripts/setup-test-env.sh` (the venv under target/venv).

use std::process::Command;

use serde_json::Value;

use crate::common::http::metric;
use crate::common::peers::{python, Voicetrace};
use crate::common::wait::wait_for;

fn export(protocol: &str, endpoint: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/python_metrics.py");
    let out = Command::new(python())
        .arg(script)
        .args(["--protocol", protocol, "--endpoint", endpoint])
        .args(["--room", "RM_py", "--job", &format!("AJ_py_{protocol}")])
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "python exporter failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints its exports as JSON")
}

async fn check(protocol: &str) {
    let dir = tempfile::tempdir().unwrap();
    let voicetrace = Voicetrace::start(dir.path(), 300);
    let endpoint = match protocol {
        "grpc" => format!("http://{}", voicetrace.grpc()),
        _ => format!("http://{}/v1/metrics", voicetrace.http()),
    };
    let report = export(protocol, &endpoint);
    let exports = report["exports"].as_array().unwrap();
    assert!(exports.len() >= 2, "{report}");
    assert!(
        exports.iter().all(|ok| ok == true),
        "an export failed: {report}"
    );
    assert_eq!(
        report["errors"],
        serde_json::json!([]),
        "the SDK logged: {report}"
    );
    // Two points in the first export (STT audio, TTS characters), one in the second.
    let api = voicetrace.api();
    let points = wait_for("the points counted", || async {
        metric(api, "voicetrace_metric_points_total")
            .await
            .filter(|n| *n >= 3.0)
    })
    .await;
    assert_eq!(points, 3.0);
}

#[tokio::test]
async fn the_sdks_grpc_metric_exporter_is_answered_success() {
    check("grpc").await;
}

#[tokio::test]
async fn the_sdks_http_metric_exporter_is_answered_success() {
    check("http").await;
}
