//! `pip install voicetrace && voicetrace serve` works, and so does `cargo install --path .`: the
//! `voicetrace` an installer put in a `bin/` (a fresh virtualenv's, a fresh cargo root's) serves a
//! real Pipecat export (`tests/fixtures/pipecat-basic`, replayed over OTLP/HTTP), and the call
//! log its API answers holds `expected.json`'s figures.
//!
//! `scripts/test-install.sh` builds the wheel (maturin, from `pyproject.toml`), installs it and
//! the crate, and runs this test once per installed binary, named by `VOICETRACE_INSTALLED_BIN`;
//! `cargo test` alone skips it.

#![cfg(all(feature = "receiver", feature = "instrument"))]

mod peers;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use voicetrace::receiver::calllog::CallLog;

fn installed_binary() -> PathBuf {
    let bin = std::env::var_os("VOICETRACE_INSTALLED_BIN")
        .map(PathBuf::from)
        .expect("VOICETRACE_INSTALLED_BIN: run scripts/test-install.sh, which installs voicetrace");
    assert!(bin.is_file(), "{} is not a file", bin.display());
    // Where an installer puts it (the venv's or the cargo root's bin/), not cargo's target/.
    assert_eq!(
        bin.parent().and_then(Path::file_name),
        Some("bin".as_ref()),
        "{}",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs an installed voicetrace: scripts/test-install.sh"]
async fn an_installed_voicetrace_serves_a_pipecat_export() {
    let bin = installed_binary();
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
        .expect("the installed voicetrace starts");
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
