//! The peers installed by `scripts/setup-test-env.sh` (a Python venv under target/venv with the
//! OpenTelemetry SDK, and rotel, whose binary ships inside its wheel; Debian's Prometheus), and
//! a `voicetrace serve` process writing its call logs to a jsonl sink for them to talk to.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use voicetrace::instrument::{Config, Protocol};

use super::agent::Agent;
use super::http::metric;
use super::net::free_port;
use super::serve::{command, Listen, Serve};
use super::sinks::jsonl_latest;
use super::wait::{wait_for, wait_for_blocking};

const SETUP: &str = "scripts/setup-test-env.sh";

/// How long serve may take to stop cleanly before it is killed.
const STOP_PATIENCE: Duration = Duration::from_secs(20);

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The venv's Python, with the OpenTelemetry SDK and exporters.
pub fn python() -> PathBuf {
    let python = repo().join("target/venv/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run {SETUP} first (it installs the interop peers)",
        python.display()
    );
    python
}

/// rotel's binary, shipped inside its PyPI wheel in the venv.
pub fn rotel() -> PathBuf {
    let out = Command::new(python())
        .args([
            "-c",
            "import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), 'rotel-agent'))",
        ])
        .output()
        .unwrap();
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    assert!(
        out.status.success() && path.exists(),
        "rotel is not installed in target/venv: run {SETUP} first"
    );
    path
}

/// Debian's `prometheus` binary, from PATH.
pub fn prometheus() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("prometheus"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "the `prometheus` binary is not on PATH: run {SETUP} (it installs the Debian \
                 package `prometheus`)"
            )
        })
}

/// A real Prometheus scraping `target` every second (exemplar storage on, rule files loaded and
/// evaluated every second), on a free loopback port, its data and log in `dir`; killed on drop.
pub struct Prometheus {
    _process: Peer,
    /// Its base URL, `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its log (warnings and errors).
    pub log: PathBuf,
}

impl Prometheus {
    /// Starts it.
    pub fn start(dir: &Path, target: &str, rule_files: &[PathBuf]) -> Prometheus {
        let config = dir.join("prometheus.yml");
        let rules: Vec<String> = rule_files
            .iter()
            .map(|r| format!("'{}'", r.display()))
            .collect();
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
                 rule_files: [{}]\n\
                 scrape_configs:\n  - job_name: voicetrace\n    metrics_path: /metrics\n    \
                 static_configs:\n      - targets: ['{target}']\n",
                rules.join(", ")
            ),
        )
        .unwrap();
        let port = super::net::free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(prometheus())
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--enable-feature=exemplar-storage")
            .arg("--log.level=warn")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("prometheus starts");
        Prometheus {
            _process: Peer(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }
}

/// A peer process killed on drop.
pub struct Peer(pub Child);

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// rotel between an agent and voicetrace, stopped on drop.
pub struct Rotel {
    _peer: Peer,
    grpc_port: u16,
}

impl Rotel {
    /// rotel receiving OTLP on fresh ports (logging in `dir`) and exporting over OTLP/gRPC to
    /// `to`.
    pub fn start(dir: &Path, to: SocketAddr) -> Rotel {
        let grpc_port = free_port();
        Rotel {
            _peer: start_rotel(dir, grpc_port, free_port(), to),
            grpc_port,
        }
    }

    /// The crate's pipeline exporting to this rotel over OTLP/gRPC as `service_name`.
    pub fn agent(&self, service_name: &str, batch_delay: Duration) -> Agent {
        Agent::start(
            Config::from_env()
                .protocol(Protocol::Grpc)
                .endpoint(format!("http://127.0.0.1:{}", self.grpc_port))
                .service_name(service_name)
                .batch_delay(batch_delay),
        )
    }
}

/// rotel receiving OTLP on `grpc_port`/`http_port` and exporting over OTLP/gRPC to `to`, with
/// quick retries so a restarted receiver gets the spans soon after it is back.
fn start_rotel(dir: &Path, grpc_port: u16, http_port: u16, to: SocketAddr) -> Peer {
    let child = Command::new(rotel())
        .arg("start")
        .args(["--otlp-grpc-endpoint", &format!("127.0.0.1:{grpc_port}")])
        .args(["--otlp-http-endpoint", &format!("127.0.0.1:{http_port}")])
        .args(["--exporter", "otlp", "--otlp-exporter-protocol", "grpc"])
        .args(["--otlp-exporter-endpoint", &format!("http://{to}")])
        .args([
            "--otlp-exporter-retry-initial-backoff",
            "100ms",
            "--otlp-exporter-retry-max-backoff",
            "1s",
        ])
        .args([
            "--otlp-exporter-retry-max-elapsed-time",
            "120s",
            "--batch-timeout",
            "100ms",
        ])
        .arg("--pid-file")
        .arg(dir.join("rotel.pid"))
        .arg("--log-file")
        .arg(dir.join("rotel.log"))
        // rotel logs to stdout in the foreground; tests read it (see [`rotel_log`]).
        .stdout(std::fs::File::create(dir.join("rotel.out")).unwrap())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("rotel starts");
    let peer = Peer(child);
    wait_for_blocking("rotel to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", grpc_port)).ok()
    });
    peer
}

/// What rotel has logged so far (started by [`start_rotel`] in `dir`).
pub fn rotel_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("rotel.out")).unwrap_or_default()
}

/// Waits until rotel (started in `dir`) has logged that an export failed and will be retried.
pub async fn wait_rotel_retry(dir: &Path) {
    wait_for("rotel to fail an export and retry", || async {
        rotel_log(dir).contains("will retry").then_some(())
    })
    .await
}

/// `voicetrace serve` for the peers: the API on, a jsonl sink in its directory, a short grace
/// and a long idle timeout; restartable on the same ports, data directory and sink.
pub struct Voicetrace {
    serve: Serve,
    dir: PathBuf,
    grace_ms: u64,
}

impl Voicetrace {
    /// Starts it on fresh ports, storing in `dir`.
    pub fn start(dir: &Path, grace_ms: u64) -> Voicetrace {
        Voicetrace {
            serve: Voicetrace::spawn(dir, grace_ms, Listen::with_api()),
            dir: dir.to_path_buf(),
            grace_ms,
        }
    }

    fn spawn(dir: &Path, grace_ms: u64, listen: Listen) -> Serve {
        Serve::spawn(
            command(&dir.join("data"), listen)
                .arg("--sink")
                .arg(format!("jsonl:{}", dir.join("calls.jsonl").display()))
                .args(["--grace-ms", &grace_ms.to_string()])
                .args(["--idle-timeout-ms", "60000"])
                .stderr(Stdio::inherit()),
        )
    }

    /// OTLP/gRPC address.
    pub fn grpc(&self) -> SocketAddr {
        self.serve.grpc
    }

    /// OTLP/HTTP address.
    pub fn http(&self) -> SocketAddr {
        self.serve.http
    }

    /// API address (`/metrics`).
    pub fn api(&self) -> SocketAddr {
        self.serve.api.expect("serve has an API")
    }

    /// Stops the process cleanly and waits for it.
    pub fn stop(&mut self) {
        self.serve.stop(STOP_PATIENCE);
    }

    /// Starts again on the same OTLP ports, data directory and sink.
    pub fn restart(&mut self) {
        self.stop();
        let listen = Listen {
            grpc: self.serve.grpc,
            http: self.serve.http,
            ..Listen::with_api()
        };
        self.serve = Voicetrace::spawn(&self.dir, self.grace_ms, listen);
    }

    /// `voicetrace_spans_accepted_total`: spans ingest has accepted (and, with the span
    /// journal, made durable) since this process started.
    pub async fn spans_accepted(&self) -> u64 {
        let api = self.serve.api.expect("serve has an API");
        metric(api, "voicetrace_spans_accepted_total")
            .await
            .map_or(0, |v| v as u64)
    }

    /// The latest revision of every call log in the sink so far, by call id.
    pub fn call_logs(&self) -> BTreeMap<String, Value> {
        jsonl_latest(&self.dir.join("calls.jsonl"))
    }

    /// Waits until the sink holds a call log for each of `ids` with `turns` turns each, and
    /// returns them.
    pub async fn wait_call_logs(&self, ids: &[String], turns: &[usize]) -> Vec<Value> {
        wait_for(&format!("call logs of {ids:?}"), || async {
            let logs = self.call_logs();
            ids.iter()
                .zip(turns)
                .map(|(id, n)| {
                    logs.get(id)
                        .filter(|l| l["turns"].as_array().is_some_and(|t| t.len() >= *n))
                        .cloned()
                })
                .collect::<Option<Vec<Value>>>()
        })
        .await
    }
}

/// Asserts one call log's per-turn figures against what the agent recorded: `expected` is a
/// list of `{index, userText, text, sttMs, llmMs, ttsMs, latencyMs, interrupted, tools[]}`.
pub fn assert_turns(log: &Value, expected: &[Value]) {
    let id = log["id"].as_str().unwrap_or_default();
    let turns = log["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), expected.len(), "{id}: turns\n{log:#}");
    for (got, want) in turns.iter().zip(expected) {
        let at = format!("{id} turn {}", want["index"]);
        for key in [
            "index",
            "sttMs",
            "llmMs",
            "ttsMs",
            "latencyMs",
            "interrupted",
            "userText",
        ] {
            assert_eq!(got[key], want[key], "{at}: {key}\n{got:#}");
        }
        if !want["text"].is_null() {
            assert_eq!(got["text"], want["text"], "{at}: text");
        }
        let tools: Vec<&str> = got["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| t["name"].as_str())
            .collect();
        let want_tools: Vec<&str> = want["tools"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(tools, want_tools, "{at}: tools");
    }
}
