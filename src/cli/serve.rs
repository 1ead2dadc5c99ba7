//! `voicetrace serve`: flags and config file → [`ServeConfig`], then run until SIGINT/SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Args;

use voicetrace::receiver::auth::{API_TOKEN_ENV, INGEST_TOKEN_ENV, LIVEKIT_API_SECRET_ENV};
use voicetrace::receiver::config::ServeConfig;
pub use voicetrace::receiver::config::DEFAULT_DATA_DIR;
use voicetrace::receiver::forward::SinkConfig;
use voicetrace::receiver::redact::RedactionMode;
use voicetrace::receiver::secret::{Secret, SecretSource};
use voicetrace::receiver::server::Receiver;

/// How long a stop (SIGINT/SIGTERM) may take: requests in flight are answered, calls whose root
/// arrived are finished and stored, and the sinks get their 3 s to deliver what is due. Past
/// this (a client that holds a request open, an endpoint that hangs), the receiver exits
/// anyway: whatever is left is in the journal and the outbox, durable, and resumes at the next
/// start. A second signal stops at once, on the same terms.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// Blocking store calls still running when the receiver exits get this long to finish.
const BLOCKING_GRACE: Duration = Duration::from_secs(1);

/// Flags of `voicetrace serve`. Each overrides the same key of the config file.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// A TOML file with the same keys as the flags (snake_case) plus `[[sinks]]` and `[analysis]`.
    #[arg(long)]
    config: Option<PathBuf>,
    /// OTLP/gRPC listen address [default: 127.0.0.1:4317].
    #[arg(long)]
    otlp_grpc_addr: Option<SocketAddr>,
    /// OTLP/HTTP listen address [default: 127.0.0.1:4318].
    #[arg(long)]
    otlp_http_addr: Option<SocketAddr>,
    /// HTTP API listen address, or `-` for none [default: 127.0.0.1:4319].
    #[arg(long)]
    api_addr: Option<String>,
    /// Data directory (SQLite store and outbox) [default: voicetrace-data].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// A PostgreSQL store shared by several receivers, `postgres://USER@HOST:PORT/DB`
    /// [default: the SQLite store in the data directory].
    #[arg(long = "store")]
    store_url: Option<String>,
    /// File holding the PostgreSQL store's password (else $VOICETRACE_STORE_PASSWORD).
    #[arg(long)]
    store_password_file: Option<PathBuf>,
    /// CA certificates (PEM) the PostgreSQL server's certificate must chain to, with
    /// `sslmode=require` in the URL [default: the system's roots].
    #[arg(long)]
    store_ca_file: Option<PathBuf>,
    /// How long a PostgreSQL outbox claim lasts without renewal, in ms [default: 30000].
    #[arg(long)]
    store_lease_ms: Option<u64>,
    /// A sink, `KIND:TARGET` (cekura:URL, webhook:URL, http:URL, jsonl:PATH); repeatable.
    #[arg(long = "sink")]
    sinks: Vec<String>,
    /// Wait after a call's root span for stragglers, in ms [default: 2000].
    #[arg(long)]
    grace_ms: Option<u64>,
    /// Close a call whose root never ends after this long without spans, in ms [default: 120000].
    #[arg(long)]
    idle_timeout_ms: Option<u64>,
    /// Trace link template, e.g. `http://localhost:16686/trace/{trace_id}`.
    #[arg(long, env = "VOICETRACE_TRACE_URL_TEMPLATE")]
    trace_url_template: Option<String>,
    /// File holding the bearer token OTLP ingest requires (else $VOICETRACE_INGEST_TOKEN; none: open).
    #[arg(long)]
    ingest_token_file: Option<PathBuf>,
    /// File holding the bearer token the API requires (else $VOICETRACE_API_TOKEN; none: open).
    #[arg(long)]
    api_token_file: Option<PathBuf>,
    /// PEM certificate chain: with --tls-key, every listener speaks TLS.
    #[arg(long)]
    tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert.
    #[arg(long)]
    tls_key: Option<PathBuf>,
    /// The receiver's base URL as others reach it: sinks then get signed links to the
    /// recordings it keeps.
    #[arg(long)]
    public_url: Option<String>,
    /// One recording's size at most, bytes [default: 268435456].
    #[arg(long)]
    max_recording_bytes: Option<u64>,
    /// All recordings' audio at most, bytes; the oldest go past it (0: none) [default: 10737418240].
    #[arg(long)]
    max_recordings_bytes: Option<u64>,
    /// Days a recording is kept (0: until the quota takes it) [default: 30].
    #[arg(long)]
    recording_retention_days: Option<u64>,
    /// Seconds a recording link handed to a sink works [default: 604800].
    #[arg(long)]
    recording_link_ttl_secs: Option<u64>,
    /// File holding the LiveKit API secret (else $VOICETRACE_LIVEKIT_API_SECRET): LiveKit's
    /// paths then accept a LiveKit worker's JWT.
    #[arg(long)]
    livekit_api_secret_file: Option<PathBuf>,
    /// Answer exporters without journaling their spans first. UNSAFE for production: spans of
    /// calls in flight are lost when the receiver crashes (a clean stop closes those calls as
    /// incomplete). For measuring what the journal costs.
    #[arg(long)]
    no_journal: bool,
    /// Keep every trace as a call log, not only calls (by default a trace with no call root,
    /// turn, voice or GenAI span, nor call id is dropped and counted).
    #[arg(long)]
    all_traces: bool,
    /// Redaction of card numbers, emails, phone numbers, ... in call logs: `store` (before
    /// they are stored), `sinks` (for the sinks marked `redact = true`), or `off` [default:
    /// off, or the config file's `[redaction] mode`].
    #[arg(long, value_parser = parse_redaction_mode)]
    redact: Option<RedactionMode>,
}

/// Where `voicetrace serve` reads the PostgreSQL store's password when no
/// `store_password_file` is configured.
pub const STORE_PASSWORD_ENV: &str = "VOICETRACE_STORE_PASSWORD";

fn parse_redaction_mode(text: &str) -> Result<RedactionMode, String> {
    RedactionMode::parse(text).ok_or_else(|| format!("expected store, sinks or off, got {text:?}"))
}

impl ServeArgs {
    /// The configuration: defaults, then the config file, then the flags.
    pub fn config(self) -> Result<ServeConfig> {
        let mut config = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("cannot read config file {}", path.display()))?;
                toml::from_str::<ServeConfig>(&text)
                    .with_context(|| format!("invalid config file {}", path.display()))?
            }
            None => ServeConfig::default(),
        };
        if let Some(a) = self.otlp_grpc_addr {
            config.otlp_grpc_addr = a;
        }
        if let Some(a) = self.otlp_http_addr {
            config.otlp_http_addr = a;
        }
        if let Some(a) = self.api_addr {
            config.api_addr = match a.trim() {
                "-" | "none" | "" => None,
                addr => Some(
                    addr.parse()
                        .with_context(|| format!("invalid --api-addr {addr:?}"))?,
                ),
            };
        }
        if let Some(d) = self.data_dir {
            config.data_dir = d;
        }
        if self.store_url.is_some() {
            config.store_url = self.store_url;
        }
        if self.store_password_file.is_some() {
            config.store_password_file = self.store_password_file;
        }
        if self.store_ca_file.is_some() {
            config.store_ca_file = self.store_ca_file;
        }
        if let Some(ms) = self.store_lease_ms {
            config.store_lease_ms = ms;
        }
        if config.store_password_file.is_none() {
            config.store_password = Secret::optional(SecretSource::Env(STORE_PASSWORD_ENV))
                .with_context(|| format!("invalid {STORE_PASSWORD_ENV}"))?;
        }
        for flag in &self.sinks {
            config.sinks.push(
                SinkConfig::from_flag(flag).with_context(|| format!("invalid --sink {flag:?}"))?,
            );
        }
        if let Some(ms) = self.grace_ms {
            config.grace_ms = ms;
        }
        if let Some(ms) = self.idle_timeout_ms {
            config.idle_timeout_ms = ms;
        }
        if self.trace_url_template.is_some() {
            config.trace_url_template = self.trace_url_template;
        }
        if self.ingest_token_file.is_some() {
            config.ingest_token_file = self.ingest_token_file;
        }
        if self.api_token_file.is_some() {
            config.api_token_file = self.api_token_file;
        }
        if self.tls_cert.is_some() {
            config.tls_cert = self.tls_cert;
        }
        if self.tls_key.is_some() {
            config.tls_key = self.tls_key;
        }
        // Tokens never come from a flag's value (it would show in `ps`): a file, else the
        // environment.
        if config.ingest_token_file.is_none() {
            config.ingest_token = Secret::optional(SecretSource::Env(INGEST_TOKEN_ENV))
                .with_context(|| format!("invalid {INGEST_TOKEN_ENV}"))?;
        }
        if config.api_token_file.is_none() {
            config.api_token = Secret::optional(SecretSource::Env(API_TOKEN_ENV))
                .with_context(|| format!("invalid {API_TOKEN_ENV}"))?;
        }
        if self.all_traces {
            config.only_calls = false;
        }
        if self.no_journal {
            config.journal = false;
        }
        if let Some(mode) = self.redact {
            config.redaction.mode = mode;
        }
        if self.public_url.is_some() {
            config.public_url = self.public_url;
        }
        if let Some(n) = self.max_recording_bytes {
            config.max_recording_bytes = n;
        }
        if let Some(n) = self.max_recordings_bytes {
            config.max_recordings_bytes = n;
        }
        if let Some(n) = self.recording_retention_days {
            config.recording_retention_days = n;
        }
        if let Some(n) = self.recording_link_ttl_secs {
            config.recording_link_ttl_secs = n;
        }
        if self.livekit_api_secret_file.is_some() {
            config.livekit_api_secret_file = self.livekit_api_secret_file;
        }
        if config.livekit_api_secret_file.is_none() {
            config.livekit_api_secret = Secret::optional(SecretSource::Env(LIVEKIT_API_SECRET_ENV))
                .with_context(|| format!("invalid {LIVEKIT_API_SECRET_ENV}"))?;
        }
        Ok(config)
    }
}

/// Logs go to stderr (stdout carries the listening line), `RUST_LOG` filters, `info` by default.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs the receiver until SIGINT or SIGTERM, then stops it cleanly (see [`SHUTDOWN_DEADLINE`])
/// and returns, so the process exits 0.
pub fn run(args: ServeArgs) -> Result<()> {
    let config = args.config()?;
    init_logging();
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    let result = runtime.block_on(async move {
        let receiver = Receiver::start(config).await?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", receiver.listening_line())?;
        stdout.flush()?;
        shutdown_signal().await;
        tracing::info!("shutting down: answering requests in flight, storing what is finished, keeping the journal and the outbox");
        tokio::select! {
            _ = receiver.shutdown() => tracing::info!("stopped"),
            _ = tokio::time::sleep(SHUTDOWN_DEADLINE) => tracing::warn!(
                deadline = ?SHUTDOWN_DEADLINE,
                "not stopped within the deadline: exiting; the journal and the outbox keep the rest for the next start"
            ),
            _ = shutdown_signal() => tracing::warn!(
                "second signal: exiting now; the journal and the outbox keep the rest for the next start"
            ),
        }
        Ok(())
    });
    runtime.shutdown_timeout(BLOCKING_GRACE);
    result
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {},
                    _ = term.recv() => {},
                }
            }
            Err(_) => {
                let _ = ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
