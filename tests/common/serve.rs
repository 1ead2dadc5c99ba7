//! `voicetrace serve` as a child process (the binary cargo builds for the tests): the command
//! line, the `voicetrace listening ...` line it prints once every listener is bound, and the
//! signals that stop it. The only place the tests spawn it or read that line.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, ExitStatus, Stdio};
use std::time::Duration;

use super::net::LOOPBACK;
use super::wait::wait_for_blocking;

/// Where `serve` listens. Port 0: the system picks, and the listening line says which.
#[derive(Debug, Clone, Copy)]
pub struct Listen {
    pub grpc: SocketAddr,
    pub http: SocketAddr,
    /// `None`: no HTTP API (`--api-addr -`).
    pub api: Option<SocketAddr>,
}

impl Listen {
    /// OTLP/gRPC and OTLP/HTTP on fresh loopback ports, no API.
    pub fn otlp() -> Listen {
        Listen {
            grpc: LOOPBACK,
            http: LOOPBACK,
            api: None,
        }
    }

    /// [`Listen::otlp`] and the API on a fresh loopback port.
    pub fn with_api() -> Listen {
        Listen {
            api: Some(LOOPBACK),
            ..Listen::otlp()
        }
    }
}

/// `voicetrace serve` listening on `listen` and storing in `data_dir`, its stdout piped (for
/// the listening line), its stderr discarded and `RUST_LOG` the test's or `warn`. Callers add
/// flags (`--sink`, `--grace-ms`, ...), environment and another stderr, then [`Serve::spawn`].
pub fn command(data_dir: &Path, listen: Listen) -> Command {
    command_for(
        Path::new(env!("CARGO_BIN_EXE_voicetrace")),
        data_dir,
        listen,
    )
}

/// [`command`] for another `voicetrace` binary (one an installer put somewhere).
pub fn command_for(bin: &Path, data_dir: &Path, listen: Listen) -> Command {
    let mut command = Command::new(bin);
    command
        .arg("serve")
        .args(["--otlp-grpc-addr", &listen.grpc.to_string()])
        .args(["--otlp-http-addr", &listen.http.to_string()])
        .args([
            "--api-addr",
            &listen
                .api
                .map_or_else(|| "-".to_string(), |a| a.to_string()),
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    command
}

/// A running `voicetrace serve`, killed on drop.
pub struct Serve {
    child: Child,
    /// Kept open while it runs: serve must never write to a closed pipe.
    _stdout: BufReader<ChildStdout>,
    /// The listening line, as printed.
    pub line: String,
    /// OTLP/gRPC address.
    pub grpc: SocketAddr,
    /// OTLP/HTTP address.
    pub http: SocketAddr,
    /// HTTP API address, if it serves one.
    pub api: Option<SocketAddr>,
}

impl Serve {
    /// Spawns `command` (from [`command`]) and waits for its listening line.
    pub fn spawn(command: &mut Command) -> Serve {
        let mut child = command.spawn().expect("voicetrace serve starts");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert!(
            line.starts_with("voicetrace listening "),
            "no listening line from serve, got {line:?}"
        );
        let api = match field(&line, "api=") {
            "-" => None,
            a => Some(a.parse().expect("api address")),
        };
        Serve {
            grpc: addr(&line, "otlp_grpc="),
            http: addr(&line, "otlp_http="),
            api,
            line,
            child,
            _stdout: stdout,
        }
    }

    /// Its OTLP/HTTP traces URL.
    pub fn traces_url(&self) -> String {
        format!("http://{}/v1/traces", self.http)
    }

    /// Sends it a signal by name (`TERM`, `INT`).
    pub fn signal(&self, name: &str) {
        let sent = Command::new("kill")
            .arg(format!("-{name}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("kill runs");
        assert!(sent.success(), "SIG{name} sent");
    }

    /// SIGTERM (a clean stop), then waits for it to exit.
    pub fn terminate(&mut self) -> ExitStatus {
        self.signal("TERM");
        self.wait_exit()
    }

    /// Waits (up to the deadline) for it to exit by itself.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = &mut self.child;
        wait_for_blocking("serve to exit", || child.try_wait().unwrap())
    }

    /// Whether it has not exited yet.
    pub fn running(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Stops it cleanly if it runs: SIGTERM, then SIGKILL if it has not exited within
    /// `patience`.
    pub fn stop(&mut self, patience: Duration) {
        if !self.running() {
            return;
        }
        self.signal("TERM");
        let deadline = std::time::Instant::now() + patience;
        while self.running() {
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The text after `key` (`otlp_grpc=`, `otlp_http=`, `api=`) in a listening line.
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in the listening line {line:?}"))
}

fn addr(line: &str, key: &str) -> SocketAddr {
    field(line, key)
        .parse()
        .unwrap_or_else(|e| panic!("{key} in {line:?}: {e}"))
}
