//! `pip install voicetrace && voicetrace serve` works, and so does `cargo install --path .`: the
//! `voicetrace` an installer put in a `bin/` (a fresh virtualenv's, a fresh cargo root's) serves a
//! real Pipecat export (`tests/fixtures/pipecat-basic`, replayed over OTLP/HTTP), and the call
//! log its API answers holds `expected.json`'s figures.
//!
//! `scripts/test-install.sh` builds the wheel (maturin, from `pyproject.toml`), installs it and
//! the crate, and runs this test once per installed binary, named by `VOICETRACE_INSTALLED_BIN`
//! (`cargo test --test peers -- --ignored install::`); `cargo test` alone skips it.

use std::path::{Path, PathBuf};

use voicetrace::receiver::calllog::CallLog;

use crate::common::fixtures::{assert_matches_expected, fixture_dirs, request_bodies};
use crate::common::http::post_traces;
use crate::common::serve::{command_for, Listen, Serve};
use crate::common::wait::wait_for;

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
    let data = tempfile::tempdir().unwrap();
    let serve = Serve::spawn(
        command_for(&installed_binary(), data.path(), Listen::with_api())
            .args(["--grace-ms", "200"]),
    );
    let api = serve.api.expect("serve has an API");
    let dir = fixture_dirs()
        .into_iter()
        .find(|d| d.ends_with("pipecat-basic"))
        .expect("the Pipecat fixture");
    post_traces(&serve.traces_url(), &request_bodies(&dir)).await;

    let expected: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(dir.join("expected.json")).unwrap()).unwrap();
    let client = reqwest::Client::new();
    let mut logs = Vec::new();
    for want in &expected {
        let id = want["callId"].as_str().expect("callId");
        let url = format!("http://{api}/v1/observability/calls/{id}");
        let log: CallLog = wait_for(&format!("a call log at {url}"), || async {
            let response = client.get(&url).send().await.ok()?;
            if response.status() != 200 {
                return None;
            }
            serde_json::from_slice(&response.bytes().await.ok()?).ok()
        })
        .await;
        logs.push(log);
    }
    assert_matches_expected(&dir, &logs);
}
