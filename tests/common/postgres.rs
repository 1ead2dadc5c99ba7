//! A throwaway PostgreSQL cluster for the tests: Debian's server binaries (`initdb`, `pg_ctl`,
//! `psql`; `scripts/setup-test-env.sh` installs them), a cluster in a temporary directory
//! listening on 127.0.0.1 at a free port with trust authentication on loopback only, and a fresh
//! database per test ([`PgCluster::fresh_database`], a `postgres://` URL).
//!
//! `initdb` refuses to run as root, and the tests run as root in CI: then the cluster's
//! directory is handed to the `postgres` system user (Debian's package creates it) and every
//! server command runs as that user (`runuser`); a test run by anyone else runs them directly.
//!
//! One cluster per test binary ([`PgCluster::shared`]): starting one takes about a second, a
//! database a few milliseconds. A static is never dropped, so a guardian process (a shell
//! blocked reading a pipe only this process holds) stops the cluster and removes its directory
//! when the test binary exits, however it exits (a SIGKILL too: the kernel closes the pipe). A
//! cluster of its own ([`PgCluster::start`]) is stopped and removed on drop.
//!
//! Without the binaries, a test that asks for a cluster fails saying to run the setup script:
//! the PostgreSQL tests never skip silently.

use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use super::net::free_port;

/// The system user that owns the cluster when the tests run as root (Debian's package makes
/// it; `initdb` refuses root).
const OWNER: &str = "postgres";
/// The superuser initdb creates, the user of every URL: trust authentication needs no password.
const SUPERUSER: &str = "postgres";
/// Where Debian puts each major version's server binaries (`/usr/lib/postgresql/15/bin`).
const DEBIAN_BIN_GLOB_ROOT: &str = "/usr/lib/postgresql";
/// Attempts at a free port: one picked by [`free_port`] can be taken by another test before
/// the postmaster binds it; three losses in a row would mean something else is wrong.
const START_ATTEMPTS: usize = 3;
/// Connections the cluster accepts: every test binary's tests share it, and a fleet test runs
/// three receivers with a pool each (PostgreSQL's default of 100 is too few for both at once).
const MAX_CONNECTIONS: &str = "400";
/// What to do when the binaries are missing.
const SETUP_HINT: &str = "run scripts/setup-test-env.sh (it installs Debian's postgresql)";

/// A running PostgreSQL cluster in a temporary directory.
pub struct PgCluster {
    /// The server's binaries (`initdb`, `pg_ctl`, `psql`).
    bin: PathBuf,
    /// The cluster's data directory (inside `dir`).
    data: PathBuf,
    /// Its TCP port on 127.0.0.1.
    pub port: u16,
    /// Databases made so far, for unique names.
    databases: AtomicUsize,
    /// Holds the guardian's stdin open; the guardian stops the cluster when it closes.
    guardian: Mutex<Option<(Child, ChildStdin)>>,
    /// The directory holding the data directory, the socket and the server's log; removed on
    /// drop (the guardian removes it when the cluster is [`PgCluster::shared`]).
    dir: tempfile::TempDir,
}

impl PgCluster {
    /// The test binary's cluster, started on first use.
    pub fn shared() -> &'static PgCluster {
        static SHARED: OnceLock<PgCluster> = OnceLock::new();
        SHARED.get_or_init(PgCluster::start)
    }

    /// A cluster of its own, stopped and removed on drop. Panics (saying what to install) when
    /// the server's binaries are missing, and with the server's log when it does not start.
    pub fn start() -> PgCluster {
        let bin = server_bin().unwrap_or_else(|| {
            panic!(
                "no PostgreSQL server binaries (initdb, pg_ctl) found by `pg_config --bindir` \
                 or under {DEBIAN_BIN_GLOB_ROOT}/*/bin: {SETUP_HINT}"
            )
        });
        let dir = tempfile::Builder::new()
            .prefix("voicetrace-pg-")
            .tempdir()
            .expect("a temporary directory for the cluster");
        let data = dir.path().join("data");
        if running_as_root() {
            hand_over(dir.path());
        }
        let mut cluster = PgCluster {
            bin,
            data,
            port: 0,
            databases: AtomicUsize::new(0),
            guardian: Mutex::new(None),
            dir,
        };
        cluster.spawn_guardian();
        cluster.init();
        cluster.port = (0..START_ATTEMPTS)
            .find_map(|_| cluster.try_start(free_port()))
            .unwrap_or_else(|| panic!("PostgreSQL did not start:\n{}", cluster.log()));
        cluster
    }

    /// A new empty database in the cluster, as a `postgres://` URL (user `postgres`, no
    /// password: trust on loopback).
    pub fn fresh_database(&self) -> String {
        let name = format!("test_{}", self.databases.fetch_add(1, Ordering::SeqCst));
        self.psql(&format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// The URL of database `name` in this cluster.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{name}", self.port)
    }

    /// Turns TLS on (connections may then ask for it; plain ones still work): the server's
    /// certificate and key (PEM) go into its data directory, readable by its owner alone as
    /// PostgreSQL demands, and the configuration is reloaded.
    pub fn serve_tls(&self, cert_pem: &str, key_pem: &str) {
        for (name, pem) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = self.data.join(name);
            std::fs::write(&path, pem).expect("TLS file written");
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("TLS file made private");
            if running_as_root() {
                chown(&path);
            }
        }
        self.psql("ALTER SYSTEM SET ssl = on");
        self.psql("SELECT pg_reload_conf()");
    }

    /// Runs one statement as the superuser in the `postgres` database; panics when it fails.
    fn psql(&self, sql: &str) {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1"])
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ])
            .args(["-c", sql])
            .output()
            .expect("psql runs");
        check(&format!("psql {sql}"), &out);
    }

    /// The server's log so far (for a failure's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_else(|e| format!("(no log: {e})"))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// `initdb`: trust authentication (written out below for loopback only), UTF-8, the C
    /// locale (no dependence on the machine's locales), no fsync (a test cluster need not
    /// survive a power cut, and syncing would slow every test down).
    fn init(&self) {
        let out = self
            .server_command("initdb")
            .arg("-D")
            .arg(&self.data)
            .args(["-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C"])
            .arg("--no-sync")
            .output()
            .expect("initdb runs");
        check("initdb", &out);
        // Only the socket in the cluster's own directory and 127.0.0.1: initdb's default
        // also trusts ::1 and replication, which nothing here needs.
        let hba = self.data.join("pg_hba.conf");
        std::fs::write(
            &hba,
            "local all all trust\nhost all all 127.0.0.1/32 trust\n",
        )
        .expect("pg_hba.conf written");
        if running_as_root() {
            chown(&hba);
        }
    }

    /// `pg_ctl -w start` on `port`; `None` when the server does not come up (the port was
    /// taken, most likely: the caller tries another).
    fn try_start(&self, port: u16) -> Option<u16> {
        let options = [
            "-c listen_addresses=127.0.0.1".to_string(),
            format!("-p {port}"),
            format!("-k {}", self.dir.path().display()),
            format!("-c max_connections={MAX_CONNECTIONS}"),
            "-c fsync=off".to_string(),
            "-c synchronous_commit=off".to_string(),
            "-c full_page_writes=off".to_string(),
        ]
        .join(" ");
        let out = self
            .server_command("pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-o", &options, "start"])
            .output()
            .expect("pg_ctl runs");
        out.status.success().then_some(port)
    }

    /// The guardian: a shell (in its own process group, so a Ctrl-C to the tests does not
    /// stop it before it cleans up; in `/`, which the cluster's owner may enter) that waits for
    /// its stdin to close, then stops the cluster and removes its directory.
    fn spawn_guardian(&self) {
        let stop = self.stop_command();
        let mut guardian = Command::new("sh");
        guardian
            .arg("-c")
            .arg(r#"dir=$1; shift; read -r _; "$@" >/dev/null 2>&1; rm -rf "$dir""#)
            .arg("pg-guardian")
            .arg(self.dir.path())
            .arg(stop.get_program())
            .args(stop.get_args())
            .current_dir("/")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut guardian, 0);
        let mut child = guardian.spawn().expect("the cluster's guardian starts");
        let stdin = child.stdin.take().expect("stdin piped");
        *self.guardian.lock().unwrap() = Some((child, stdin));
    }

    /// `pg_ctl -m immediate stop`: nothing in a test cluster is worth a clean shutdown.
    fn stop_command(&self) -> Command {
        let mut command = self.server_command("pg_ctl");
        command
            .arg("-D")
            .arg(&self.data)
            .args(["-m", "immediate", "-w", "stop"]);
        command
    }

    /// One of the server's binaries, run as the cluster's owner (see the module's doc), in the
    /// cluster's directory (the owner may not be allowed into the tests' working directory).
    fn server_command(&self, program: &str) -> Command {
        let path = self.bin.join(program);
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", OWNER, "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        command.current_dir(self.dir.path());
        command
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.stop_command().output();
        if let Some((mut child, stdin)) = self.guardian.lock().unwrap().take() {
            drop(stdin);
            let _ = child.wait();
        }
    }
}

/// The directory of `initdb` and `pg_ctl`: `pg_config --bindir` if it holds them (a client
/// package alone installs pg_config without the server), else the newest of Debian's
/// `/usr/lib/postgresql/*/bin`.
fn server_bin() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    if let Some(dir) = from_pg_config.filter(|d| has_server(d)) {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir(DEBIAN_BIN_GLOB_ROOT)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            Some((version, e.path().join("bin")))
        })
        .filter(|(_, bin)| has_server(bin))
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn running_as_root() -> bool {
    static ROOT: OnceLock<bool> = OnceLock::new();
    *ROOT.get_or_init(|| id(&[]).as_deref() == Some("0"))
}

/// `id -u` (with `args`, e.g. another user's name) as text.
fn id(args: &[&str]) -> Option<String> {
    let out = Command::new("id").arg("-u").args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Gives `path` to the cluster's owner (root runs the tests; the owner runs the server).
fn hand_over(path: &Path) {
    assert!(
        id(&[OWNER]).is_some(),
        "the tests run as root and there is no `{OWNER}` user to own the cluster \
         (initdb refuses root): {SETUP_HINT}"
    );
    chown(path);
}

fn chown(path: &Path) {
    let uid = id(&[OWNER]).and_then(|u| u.parse().ok());
    let gid = Command::new("id")
        .args(["-g", OWNER])
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok());
    std::os::unix::fs::chown(path, uid, gid)
        .unwrap_or_else(|e| panic!("chown {} to {OWNER}: {e}", path.display()));
}

/// Panics with the command's output when it failed.
fn check(what: &str, out: &Output) {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
