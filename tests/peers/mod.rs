//! Shared by the interop tests (`tests/peers_*.rs`): the peers installed by
//! `scripts/setup-test-env.sh` (a Python venv with the OpenTelemetry SDK, and rotel), a running
//! `voicetrace serve` process, and the call logs of its jsonl sink.

#![allow(dead_code)] // each test binary uses its own part of this module

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Generous: a call log is out ~grace after its root arrives, rotel adds its batch timeout and
/// retry backoff; CI machines can be slow.
pub const WAIT: Duration = Duration::from_secs(60);

const SETUP: &str = "scripts/setup-test-env.sh";

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

/// A free TCP port on loopback (for peers that cannot bind port 0 and say which they got).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `check` until it returns `Some`, or panics with `what` after [`WAIT`].
pub fn wait_for<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {WAIT:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Reads the `voicetrace listening ...` line a `serve` child prints first. Returns it and the
/// reader: keep the reader while the child runs (a closed pipe would fail a later write).
pub fn listening_line(child: &mut Child) -> (String, BufReader<std::process::ChildStdout>) {
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
    stdout.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("voicetrace listening "),
        "unexpected first line {line:?}"
    );
    (line, stdout)
}

/// The address after `key` (`otlp_grpc=`, `otlp_http=`, `api=`) in a listening line.
pub fn listening_addr(line: &str, key: &str) -> SocketAddr {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in the listening line {line:?}"))
}

/// A `voicetrace serve` process, stopped on drop.
pub struct Serve {
    child: Child,
    /// Kept open: serve must never write to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// OTLP/gRPC address it listens on.
    pub grpc: SocketAddr,
    /// OTLP/HTTP address it listens on.
    pub http: SocketAddr,
    /// HTTP API address (`/metrics`).
    pub api: SocketAddr,
    /// The jsonl sink file.
    pub jsonl: PathBuf,
    data_dir: PathBuf,
    grace_ms: u64,
}

impl Serve {
    /// Starts `voicetrace serve` on free ports, storing in `dir`.
    pub fn start(dir: &Path, grace_ms: u64) -> Serve {
        Serve::start_on(
            dir,
            grace_ms,
            "127.0.0.1:0".parse().unwrap(),
            "127.0.0.1:0".parse().unwrap(),
        )
    }

    fn start_on(dir: &Path, grace_ms: u64, grpc: SocketAddr, http: SocketAddr) -> Serve {
        let jsonl = dir.join("calls.jsonl");
        let data_dir = dir.join("data");
        let mut child = Command::new(env!("CARGO_BIN_EXE_voicetrace"))
            .arg("serve")
            .args([
                "--otlp-grpc-addr",
                &grpc.to_string(),
                "--otlp-http-addr",
                &http.to_string(),
            ])
            .args(["--api-addr", "127.0.0.1:0", "--data-dir"])
            .arg(&data_dir)
            .arg("--sink")
            .arg(format!("jsonl:{}", jsonl.display()))
            .args([
                "--grace-ms",
                &grace_ms.to_string(),
                "--idle-timeout-ms",
                "60000",
            ])
            .env(
                "RUST_LOG",
                std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("voicetrace serve starts");
        let (line, stdout) = listening_line(&mut child);
        let addr = |key| listening_addr(&line, key);
        let (grpc, http, api) = (addr("otlp_grpc="), addr("otlp_http="), addr("api="));
        Serve {
            child,
            _stdout: stdout,
            grpc,
            http,
            api,
            jsonl,
            data_dir,
            grace_ms,
        }
    }

    /// Stops the process (SIGTERM: a clean shutdown) and waits for it.
    pub fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            while self.child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    let _ = self.child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Starts again on the same ports, data directory and sink.
    pub fn restart(&mut self) {
        self.stop();
        let dir = self.jsonl.parent().unwrap().to_path_buf();
        let next = Serve::start_on(&dir, self.grace_ms, self.grpc, self.http);
        let old = std::mem::replace(self, next);
        drop(old); // already stopped
    }

    /// `voicetrace_spans_accepted_total` from `/metrics`: spans ingest has accepted (and, with
    /// the span journal, made durable) since this process started.
    pub fn spans_accepted(&self) -> u64 {
        use std::io::{Read, Write};
        let mut stream = std::net::TcpStream::connect(self.api).unwrap();
        write!(
            stream,
            "GET /metrics HTTP/1.0\r\nHost: {}\r\n\r\n",
            self.api
        )
        .unwrap();
        let mut text = String::new();
        stream.read_to_string(&mut text).unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("voicetrace_spans_accepted_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .map_or(0, |v| v as u64)
    }

    /// The latest revision of every call log in the sink so far, by call id.
    pub fn call_logs(&self) -> BTreeMap<String, Value> {
        let text = std::fs::read_to_string(&self.jsonl).unwrap_or_default();
        let mut logs: BTreeMap<String, Value> = BTreeMap::new();
        // Only whole lines: the sink may be appending the last one.
        for line in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
            let log: Value = serde_json::from_str(line).expect("a call log per line");
            let id = log["id"].as_str().expect("call log id").to_string();
            let newer = logs
                .get(&id)
                .is_none_or(|old| old["revision"].as_u64() <= log["revision"].as_u64());
            if newer {
                logs.insert(id, log);
            }
        }
        logs
    }

    /// Waits until the sink holds a call log for each of `ids` with `turns` turns each, and
    /// returns them.
    pub fn wait_call_logs(&self, ids: &[String], turns: &[usize]) -> Vec<Value> {
        wait_for(&format!("call logs of {ids:?}"), || {
            let logs = self.call_logs();
            let found: Option<Vec<Value>> = ids
                .iter()
                .zip(turns)
                .map(|(id, n)| {
                    logs.get(id)
                        .filter(|l| l["turns"].as_array().is_some_and(|t| t.len() >= *n))
                        .cloned()
                })
                .collect();
            found
        })
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
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

/// rotel receiving OTLP on `grpc_port`/`http_port` and exporting over OTLP/gRPC to `to`, with
/// quick retries so a restarted receiver gets the spans soon after it is back.
pub fn start_rotel(dir: &Path, grpc_port: u16, http_port: u16, to: SocketAddr) -> Peer {
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
    wait_for("rotel to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", grpc_port)).ok()
    });
    peer
}

/// What rotel has logged so far (started by [`start_rotel`] in `dir`).
pub fn rotel_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("rotel.out")).unwrap_or_default()
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
