//! `pip install voicetrace && voicetrace serve` works: the `voicetrace` that the wheel installed
//! into a fresh virtualenv's `bin/` serves a real Pipecat export (`tests/fixtures/pipecat-basic`,
//! replayed over OTLP/HTTP), and the call log its API answers holds `expected.json`'s figures.
//!
//! `scripts/test-wheel.sh` builds the wheel (maturin, from `pyproject.toml`), installs it and runs
//! this test with `VOICETRACE_WHEEL_BIN` set to the installed binary; `cargo test` alone skips it.

#![cfg(all(feature = "receiver", feature = "instrument"))]

mod peers;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use voicetrace::receiver::calllog::CallLog;

fn wheel_binary() -> PathBuf {
    let bin = std::env::var_os("VOICETRACE_WHEEL_BIN")
        .map(PathBuf::from)
        .expect("VOICETRACE_WHEEL_BIN: run scripts/test-wheel.sh, which installs the wheel");
    assert!(bin.is_file(), "{} is not a file", bin.display());
    // Installed by pip as a script of the venv, not the cargo build's binary.
    assert_eq!(
        bin.parent().and_then(Path::file_name),
        Some("bin".as_ref()),
        "{}",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs the wheel installed by scripts/test-wheel.sh"]
async fn the_wheels_voicetrace_serves_a_pipecat_export() {
    let bin = wheel_binary();
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(&bin)
        .arg("serve")
        .args(["--otlp-grpc-addr", "127.0.0.1:0"])
        .args(["--otlp-http-addr", "127.0.0.1:0"])
        .args(["--api-addr", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--grace-ms", "200"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the wheel's voicetrace starts");
    let (line, _stdout) = peers::listening_line(&mut child);
    let serve = peers::Peer(child);
    let http = peers::listening_addr(&line, "otlp_http=");
    let api = peers::listening_addr(&line, "api=");

    let dir = support::fixture_dirs()
        .into_iter()
        .find(|d| d.ends_with("pipecat-basic"))
        .expect("the Pipecat fixture");
    for body in support::request_bodies(&dir) {
        let response = support::post(
            &format!("http://{http}/v1/traces"),
            "application/x-protobuf",
            None,
            body,
        )
        .await;
        assert_eq!(response.status(), 200);
    }

    let expected: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let client = reqwest::Client::new();
    let deadline = Instant::now() + peers::WAIT;
    let mut logs = Vec::new();
    for want in &expected {
        let id = want["callId"].as_str().expect("callId");
        let url = format!("http://{api}/v1/observability/calls/{id}");
        let log: CallLog = loop {
            let response = client.get(&url).send().await.expect("the API answers");
            if response.status() == 200 {
                let body = response.bytes().await.expect("the API's answer");
                break serde_json::from_slice(&body).expect("a call log");
            }
            assert_eq!(response.status(), 404, "{url}");
            assert!(Instant::now() < deadline, "no call log at {url}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        logs.push(log);
    }
    support::assert_matches_expected(&dir, &logs);
    drop(serve);
}
