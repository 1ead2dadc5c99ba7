//! The receiver's configuration: every setting of `voicetrace serve`, from flags or a TOML
//! config file (same names), and the defaults they start from (single-sourced here: the CLI,
//! the demo and the API's docs read these constants).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::receiver::analyze::prices::PricesConfig;
use crate::receiver::analyze::AnalysisConfig;
use crate::receiver::assemble::AssemblerConfig;
use crate::receiver::forward::SinkConfig;
use crate::receiver::recordings::{
    DEFAULT_LINK_TTL_SECS, DEFAULT_MAX_RECORDING_BYTES, DEFAULT_MAX_TOTAL_BYTES,
    DEFAULT_RETENTION_DAYS,
};
use crate::receiver::redact::RedactionConfig;
use crate::receiver::secret::Secret;

/// OTLP/gRPC's registered port, on loopback: a receiver is not reachable from other hosts until
/// told to listen there.
pub const DEFAULT_OTLP_GRPC_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4317);
/// OTLP/HTTP's registered port, on loopback.
pub const DEFAULT_OTLP_HTTP_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4318);
/// The API (and console) next to OTLP's two ports, on loopback.
pub const DEFAULT_API_ADDR: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 4319);
/// Where the store lives unless told otherwise (relative to the working directory).
pub const DEFAULT_DATA_DIR: &str = "voicetrace-data";
/// Default of [`ServeConfig::max_spans_buffered`]: about 1 GiB of spans at ~1 KiB each.
pub const DEFAULT_MAX_SPANS_BUFFERED: usize = 1_000_000;

/// Default of [`ServeConfig::body_timeout_ms`]: a 16 MiB body (the largest accepted) takes
/// under 2 s at 100 Mbit/s; an exporter's own request timeout is 10 s by default.
pub const DEFAULT_BODY_TIMEOUT_MS: u64 = 30_000;

/// Everything `voicetrace serve` can be told, from flags or a TOML config file (same names).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServeConfig {
    /// OTLP/gRPC listen address.
    pub otlp_grpc_addr: SocketAddr,
    /// OTLP/HTTP listen address.
    pub otlp_http_addr: SocketAddr,
    /// HTTP API listen address; `None` serves no API.
    pub api_addr: Option<SocketAddr>,
    /// This receiver's own directory: the SQLite store (unless `store_url` names another
    /// store), the span journal and recordings' files (with `store_url`, only uploads while
    /// they arrive: the shared store keeps their audio).
    pub data_dir: PathBuf,
    /// A PostgreSQL store shared by a fleet of receivers (`postgres://user@host:port/db`);
    /// `None`: the SQLite store in `data_dir`.
    pub store_url: Option<String>,
    /// A file holding the PostgreSQL store's password (else `VOICETRACE_STORE_PASSWORD`, or
    /// none: the URL's, or the server's trust rules).
    pub store_password_file: Option<PathBuf>,
    /// The PostgreSQL store's password itself (wins over the file), as `ingest_token`.
    #[serde(skip)]
    pub store_password: Option<Secret>,
    /// With `sslmode=require` in `store_url`: the CA certificates (PEM) the database's
    /// certificate must chain to; none: the system's roots.
    pub store_ca_file: Option<PathBuf>,
    /// How long a PostgreSQL outbox claim lasts without renewal (ms): after it, another
    /// receiver delivers what a dead one had claimed.
    pub store_lease_ms: u64,
    /// Wait after the root span for stragglers (ms).
    pub grace_ms: u64,
    /// Close a call whose root never ends after this long without spans (ms).
    pub idle_timeout_ms: u64,
    /// Calls held at once (open or kept for revisions).
    pub max_calls: usize,
    /// Spans kept per call.
    pub max_spans_per_call: usize,
    /// Spans held in memory before ingest pushes back (a memory bound: ~1 KiB per span).
    pub max_spans_buffered: usize,
    /// An OTLP/HTTP request whose body has not fully arrived this long after its headers is
    /// answered 408 and its connection freed (ms): a client trickling a body must not hold a
    /// body's worth of memory and a connection forever.
    pub body_timeout_ms: u64,
    /// Undelivered outbox entries (all sinks) before ingest pushes back, so that a sink that is
    /// down for long stops the intake instead of filling the disk; 0 (default): no bound.
    pub max_outbox: u64,
    /// Link template for `links.trace`, e.g. `http://localhost:16686/trace/{trace_id}`.
    pub trace_url_template: Option<String>,
    /// Where call logs go.
    pub sinks: Vec<SinkConfig>,
    /// Drop traces that are not calls (no call root, turn, voice or GenAI span, nor call id),
    /// counted in `voicetrace_traces_ignored_total` (default true); false keeps every trace as
    /// a call log (a receiver fed only by voice agents loses nothing either way).
    pub only_calls: bool,
    /// Stage budgets for issues.
    pub analysis: AnalysisConfig,
    /// Prices over the shipped price table (`[prices]`: entries that replace or add to it).
    pub prices: PricesConfig,
    /// Journal accepted spans before answering the exporter, and replay them after a restart
    /// (default on; off trades that durability for ingest speed).
    pub journal: bool,
    /// A file holding the bearer token OTLP/gRPC and OTLP/HTTP requests must present.
    pub ingest_token_file: Option<PathBuf>,
    /// A file holding the bearer token API requests (HTTP and `CallLogService`) must present.
    pub api_token_file: Option<PathBuf>,
    /// The ingest token itself (wins over `ingest_token_file`); set by code or, from
    /// `VOICETRACE_INGEST_TOKEN`, by `voicetrace serve`; never read from a config file.
    #[serde(skip)]
    pub ingest_token: Option<Secret>,
    /// The API token itself (wins over `api_token_file`), as `ingest_token`.
    #[serde(skip)]
    pub api_token: Option<Secret>,
    /// PEM certificate chain: with `tls_key`, every listener speaks TLS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// The receiver's base URL as others reach it (`https://voicetrace.example.com`): with it,
    /// sinks get signed links to the recordings the receiver keeps (Cekura's
    /// `voice_recording_url`, the webhook's `call.recording_url`).
    pub public_url: Option<String>,
    /// One recording's size at most, bytes (413 past it).
    pub max_recording_bytes: u64,
    /// All recordings' audio at most, bytes: the oldest are removed past it (0: no bound).
    pub max_recordings_bytes: u64,
    /// Recordings are removed this many days after they arrived (0: kept until the quota
    /// takes them).
    pub recording_retention_days: u64,
    /// How long a link to a recording handed to a sink works, seconds.
    pub recording_link_ttl_secs: u64,
    /// A file holding the LiveKit API secret: with it (or `VOICETRACE_LIVEKIT_API_SECRET`),
    /// LiveKit's upload paths accept the JWT a LiveKit worker signs with that secret.
    pub livekit_api_secret_file: Option<PathBuf>,
    /// The LiveKit API secret itself (wins over the file), as `ingest_token`.
    #[serde(skip)]
    pub livekit_api_secret: Option<Secret>,
    /// What redaction takes out of call logs, and where (`[redaction]`; off by default).
    pub redaction: RedactionConfig,
}

impl Default for ServeConfig {
    fn default() -> Self {
        let assembly = AssemblerConfig::default();
        ServeConfig {
            otlp_grpc_addr: DEFAULT_OTLP_GRPC_ADDR,
            otlp_http_addr: DEFAULT_OTLP_HTTP_ADDR,
            api_addr: Some(DEFAULT_API_ADDR),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            store_url: None,
            store_password_file: None,
            store_password: None,
            store_ca_file: None,
            store_lease_ms: crate::receiver::store::postgres::DEFAULT_LEASE.as_millis() as u64,
            grace_ms: assembly.grace_ms,
            idle_timeout_ms: assembly.idle_timeout_ms,
            max_calls: assembly.max_calls,
            max_spans_per_call: assembly.max_spans_per_call,
            max_spans_buffered: DEFAULT_MAX_SPANS_BUFFERED,
            max_outbox: 0,
            body_timeout_ms: DEFAULT_BODY_TIMEOUT_MS,
            trace_url_template: None,
            sinks: Vec::new(),
            analysis: AnalysisConfig::default(),
            prices: PricesConfig::default(),
            journal: true,
            only_calls: true,
            ingest_token_file: None,
            api_token_file: None,
            ingest_token: None,
            api_token: None,
            tls_cert: None,
            tls_key: None,
            public_url: None,
            max_recording_bytes: DEFAULT_MAX_RECORDING_BYTES,
            max_recordings_bytes: DEFAULT_MAX_TOTAL_BYTES,
            recording_retention_days: DEFAULT_RETENTION_DAYS,
            recording_link_ttl_secs: DEFAULT_LINK_TTL_SECS,
            livekit_api_secret_file: None,
            livekit_api_secret: None,
            redaction: RedactionConfig::default(),
        }
    }
}
