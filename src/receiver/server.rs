//! `voicetrace serve`: wires the stages of the data flow into one running receiver.
//!
//! ```text
//! OTLP gRPC ─┐                 ┌───────────── assembly task ─────────────┐   ┌─ recorder task ─┐
//!            ├─► Ingest ─batch─►  Assembler (pure) → analyze (pure)      ├───►  store + outbox  ├─► sinks
//! OTLP HTTP ─┘   (bounded mpsc)  ticks every POLL_INTERVAL for due calls │   │  (SQLite, then   │   (forward)
//!                                └────────────────────────────────────────┘   │  broadcast)      │
//!                                                                             └──────────────────┘
//! API (HTTP) reads the store; /metrics reads the telemetry.
//! ```
//!
//! Every channel is bounded: when assembly falls behind, ingest answers "retry later"; when the
//! store falls behind, assembly waits (and so ingest fills up and pushes back).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use tokio::net::TcpListener;
use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;
use tonic::service::interceptor::InterceptedService;

use crate::receiver::analyze::{analyze, AnalysisConfig};
use crate::receiver::api::{self, ApiState, CallReader, ReadError};
use crate::receiver::assemble::{Assembler, AssemblerConfig, AssemblerStats};
use crate::receiver::auth::{self, AuthError, GrpcAuth, Tokens};
use crate::receiver::calllog::{trace_link, CallLog, CallPage, CallQuery, CallUpdate};
use crate::receiver::forward::{Forwarder, SinkConfig};
use crate::receiver::ingest::{self, Batch, HeldCalls, Ingest, IngestCounters};
use crate::receiver::journal::{self, Journaled};
use crate::receiver::secret::Secret;
use crate::receiver::span::TraceId;
use crate::receiver::store::{JournalTable, Store, StoreError};
use crate::receiver::telemetry::Telemetry;
use crate::receiver::tls::{self, TlsError, TlsIdentity};

/// How often assembly looks for calls whose grace or idle timeout has passed. Small against
/// the default 2 s grace, so a call log is out within ~2.05 s of its root span.
const POLL_INTERVAL: Duration = Duration::from_millis(50);
/// Batches waiting between ingest and assembly: at a typical 512 spans per batch, about half a
/// million spans of burst before exporters are told to retry.
const INGEST_QUEUE_BATCHES: usize = 1024;
/// Journaled batches waiting for assembly; small, as they are durable already.
const ASSEMBLY_QUEUE_BATCHES: usize = 256;
/// Updates waiting between assembly and the store (one SQLite transaction each).
const RECORD_QUEUE: usize = 4096;
/// Updates stored in one transaction at most.
const RECORD_GROUP: usize = 256;
/// How often the sinks' delivered / retrying / dead counts are read into `/metrics`.
const SINK_STATS_INTERVAL: Duration = Duration::from_secs(2);
/// How often the outbox's depth is read for ingest's outbox bound (when one is set): the bound
/// is overshot by at most this long's worth of call logs.
const OUTBOX_DEPTH_INTERVAL: Duration = Duration::from_millis(250);
/// Finished call logs kept for slow subscribers (demo, tests, WatchCalls).
const BROADCAST_CAPACITY: usize = 1024;

/// Why the receiver could not start or stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} ({what}): {source}")]
    Bind {
        /// Which endpoint.
        what: &'static str,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not be opened.
    #[error("cannot open the store in {dir}: {message}")]
    Store {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        message: String,
    },
    /// The sinks could not be started.
    #[error("cannot start the sinks: {0}")]
    Sinks(String),
    /// A bearer token could not be loaded.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
}

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
    /// Where the SQLite store lives.
    pub data_dir: PathBuf,
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
    /// Stage budgets for issues.
    pub analysis: AnalysisConfig,
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
}

impl Default for ServeConfig {
    fn default() -> Self {
        let assembly = AssemblerConfig::default();
        ServeConfig {
            otlp_grpc_addr: SocketAddr::from(([127, 0, 0, 1], 4317)),
            otlp_http_addr: SocketAddr::from(([127, 0, 0, 1], 4318)),
            api_addr: Some(SocketAddr::from(([127, 0, 0, 1], 4319))),
            data_dir: PathBuf::from("voicetrace-data"),
            grace_ms: assembly.grace_ms,
            idle_timeout_ms: assembly.idle_timeout_ms,
            max_calls: assembly.max_calls,
            max_spans_per_call: assembly.max_spans_per_call,
            max_spans_buffered: 1_000_000,
            max_outbox: 0,
            body_timeout_ms: DEFAULT_BODY_TIMEOUT_MS,
            trace_url_template: None,
            sinks: Vec::new(),
            analysis: AnalysisConfig::default(),
            journal: true,
            ingest_token_file: None,
            api_token_file: None,
            ingest_token: None,
            api_token: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// A running receiver.
pub struct Receiver {
    /// The bound OTLP/gRPC address.
    pub otlp_grpc_addr: SocketAddr,
    /// The bound OTLP/HTTP address.
    pub otlp_http_addr: SocketAddr,
    /// The bound API address, if any.
    pub api_addr: Option<SocketAddr>,
    /// Whether the listeners speak TLS.
    pub tls: bool,
    finished: broadcast::Sender<Arc<CallLog>>,
    stop: watch::Sender<bool>,
    listeners: Vec<JoinHandle<()>>,
    pipeline: JoinHandle<()>,
    store: Store,
    telemetry: Telemetry,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, ServeError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { what, addr, source })
}

/// The store as the API reads it.
struct StoreReader(Store);

impl CallReader for StoreReader {
    fn get_call(&self, id: &str) -> Result<Option<CallLog>, ReadError> {
        self.0
            .latest_call(id)
            .map_err(|e| ReadError::new(e.to_string()))
    }

    fn list_calls(&self, q: &CallQuery) -> Result<CallPage, ReadError> {
        self.0.list_calls(q).map_err(|e| match e {
            StoreError::InvalidCursor(message) => ReadError::invalid_cursor(message),
            other => ReadError::new(other.to_string()),
        })
    }
}

impl Receiver {
    /// Binds every listener, opens the store, starts the sinks and the pipeline.
    pub async fn start(config: ServeConfig) -> Result<Receiver, ServeError> {
        let tokens = Tokens::resolve(
            config.ingest_token.as_ref(),
            config.ingest_token_file.as_ref(),
            config.api_token.as_ref(),
            config.api_token_file.as_ref(),
        )?;
        let tls = TlsIdentity::from_files(config.tls_cert.as_deref(), config.tls_key.as_deref())?;
        let grpc_listener = bind("OTLP/gRPC", config.otlp_grpc_addr).await?;
        let http_listener = bind("OTLP/HTTP", config.otlp_http_addr).await?;
        let api_listener = match config.api_addr {
            Some(addr) => Some(bind("API", addr).await?),
            None => None,
        };
        let local = |l: &TcpListener, addr| l.local_addr().unwrap_or(addr);
        let otlp_grpc_addr = local(&grpc_listener, config.otlp_grpc_addr);
        let otlp_http_addr = local(&http_listener, config.otlp_http_addr);
        let api_addr = api_listener
            .as_ref()
            .zip(config.api_addr)
            .map(|(l, a)| local(l, a));

        let data_dir = config.data_dir.clone();
        let store = tokio::task::spawn_blocking(move || Store::open(&data_dir))
            .await
            .map_err(|e| ServeError::Store {
                dir: config.data_dir.clone(),
                message: e.to_string(),
            })?
            .map_err(|e| ServeError::Store {
                dir: config.data_dir.clone(),
                message: e.to_string(),
            })?;
        let forwarder = Forwarder::start(store.clone(), config.sinks.clone())
            .map_err(|e| ServeError::Sinks(e.to_string()))?;
        let live_turns = forwarder.wants_live_updates();
        let telemetry = Telemetry::new();

        let (stop, stop_rx) = watch::channel(false);
        // ingest ──submissions──► journal writer ──batches──► assembly
        let (submission_tx, submission_rx) = mpsc::channel(INGEST_QUEUE_BATCHES);
        let (batch_tx, batch_rx) = mpsc::channel(ASSEMBLY_QUEUE_BATCHES);
        let store_error = |e: StoreError| ServeError::Store {
            dir: config.data_dir.clone(),
            message: e.to_string(),
        };
        let (journal_writer, journal_forget, replay, position) = if config.journal {
            // One journal table, shared: the writer's rows are what forgetting looks up.
            let forget = store.journal();
            let writer = forget.clone();
            let (forget, rows, position) = tokio::task::spawn_blocking(move || {
                let rows = forget.load();
                let position = forget.position();
                (forget, rows, position)
            })
            .await
            .map_err(|e| ServeError::Store {
                dir: config.data_dir.clone(),
                message: e.to_string(),
            })?;
            (
                Some(writer),
                Some(forget),
                journal::decode(rows.map_err(store_error)?),
                position.map_err(store_error)?,
            )
        } else {
            (None, None, Default::default(), 0)
        };
        journal::spawn_writer(journal_writer, submission_rx, batch_tx).map_err(|e| {
            ServeError::Store {
                dir: config.data_dir.clone(),
                message: format!("cannot start the journal writer: {e}"),
            }
        })?;
        let spans_buffered = Arc::new(AtomicUsize::new(0));
        let counters = Arc::new(IngestCounters::default());
        let outbox_depth = Arc::new(AtomicU64::new(0));
        let held_calls = Arc::new(HeldCalls::default());
        let ingest = Ingest::new(
            submission_tx,
            spans_buffered.clone(),
            config.max_spans_buffered,
            counters.clone(),
        )
        .with_outbox_bound(outbox_depth.clone(), config.max_outbox)
        .with_calls_bound(held_calls.clone(), config.max_calls);
        let (finished, _) = broadcast::channel(BROADCAST_CAPACITY);

        let reader: Arc<dyn CallReader> = Arc::new(StoreReader(store.clone()));
        let mut listeners = Vec::new();
        // OTLP and the call log service share the gRPC port.
        let mut grpc = tonic::transport::Server::builder();
        if let Some(tls) = &tls {
            grpc = grpc
                .tls_config(tls.grpc())
                .map_err(|e| TlsError::Config(e.to_string()))?;
        }
        let (ingest_auth, api_auth) = (
            GrpcAuth::new(tokens.ingest.clone()),
            GrpcAuth::new(tokens.api.clone()),
        );
        let grpc = grpc
            .layer(tower::util::MapResponseLayer::new(
                ingest::grpc::invalid_request_status,
            ))
            .add_service(InterceptedService::new(
                ingest::grpc::trace_service(ingest.clone()),
                ingest_auth.clone(),
            ))
            .add_service(InterceptedService::new(
                ingest::grpc::logs_service(ingest.clone()),
                ingest_auth,
            ))
            .add_service(InterceptedService::new(
                api::grpc::call_log_service_until(
                    reader.clone(),
                    finished.clone(),
                    stop_rx.clone(),
                ),
                api_auth,
            ))
            .serve_with_incoming_shutdown(
                tokio_stream::wrappers::TcpListenerStream::new(grpc_listener),
                stopped(stop_rx.clone()),
            );
        listeners.push(tokio::spawn(async move {
            if let Err(e) = grpc.await {
                tracing::error!(error = %e, "OTLP/gRPC server failed");
            }
        }));
        listeners.push(tls::serve_http(
            "OTLP/HTTP",
            http_listener,
            tls.as_ref(),
            auth::require_ingest_token(
                ingest::http::router(
                    ingest.clone(),
                    Duration::from_millis(config.body_timeout_ms.max(1)),
                ),
                tokens.ingest.clone(),
            ),
            stopped(stop_rx.clone()),
        ));
        let ready = Arc::new(AtomicBool::new(false));
        if let Some(listener) = api_listener {
            let state = ApiState {
                calls: reader.clone(),
                telemetry: telemetry.clone(),
                trace_url_template: config.trace_url_template.clone(),
                ready: ready.clone(),
            };
            listeners.push(tls::serve_http(
                "API",
                listener,
                tls.as_ref(),
                auth::require_api_token(api::router(state), tokens.api.clone()),
                stopped(stop_rx.clone()),
            ));
        }
        // Ingest's own handle goes away with the servers: the channel closes when they stop.
        drop(ingest);

        let mut assembler = Assembler::new(AssemblerConfig {
            grace_ms: config.grace_ms,
            idle_timeout_ms: config.idle_timeout_ms,
            revision_window_ms: config.idle_timeout_ms,
            max_calls: config.max_calls,
            max_spans_per_call: config.max_spans_per_call,
            live_turns,
        });
        // Calls that were in flight when the receiver last stopped continue where they were, and
        // the calls it had finished but still held for revisions are held again: a crash
        // between storing a call log and letting its spans go loses nothing, and the call log
        // built again is recognised as the one stored (see `record_group`).
        let (replayed_spans, replayed_logs) = replay;
        let mut initial = Vec::new();
        if !replayed_spans.is_empty() || !replayed_logs.is_empty() {
            tracing::info!(
                spans = replayed_spans.len(),
                logs = replayed_logs.len(),
                "replaying the span journal"
            );
            initial.extend(assembler.add_spans(replayed_spans, now_nanos()));
            initial.extend(assembler.add_logs(replayed_logs, now_nanos()));
        }
        let (record_tx, record_rx) = mpsc::channel(RECORD_QUEUE);
        let assembly = tokio::spawn(assembly_task(
            initial,
            AssemblyTask {
                assembler,
                batches: batch_rx,
                records: record_tx,
                spans_buffered,
                analysis: config.analysis.clone(),
                trace_url_template: config.trace_url_template.clone(),
                telemetry: telemetry.clone(),
                counters,
                journal: config.journal,
                position,
                max_spans_buffered: config.max_spans_buffered,
                held: held_calls,
                touched: Vec::new(),
                rejected: 0,
                refused: 0,
            },
        ));
        let journal_stats = journal_forget.clone();
        let recorder = tokio::spawn(recorder_task(
            record_rx,
            forwarder,
            journal_forget.map(Arc::new),
            finished.clone(),
            telemetry.clone(),
        ));
        listeners.push(tokio::spawn(sink_stats_task(
            store.clone(),
            journal_stats,
            telemetry.clone(),
            stop_rx.clone(),
        )));
        if config.max_outbox > 0 {
            listeners.push(tokio::spawn(outbox_depth_task(
                store.clone(),
                outbox_depth,
                stop_rx.clone(),
            )));
        }
        let pipeline = tokio::spawn(async move {
            let _ = assembly.await;
            let _ = recorder.await;
        });
        ready.store(true, Ordering::Release);
        tracing::info!(
            %otlp_grpc_addr, %otlp_http_addr, api_addr = ?api_addr, tls = tls.is_some(),
            ingest_token = tokens.ingest.is_some(), api_token = tokens.api.is_some(),
            "voicetrace receiver started"
        );
        Ok(Receiver {
            otlp_grpc_addr,
            otlp_http_addr,
            api_addr,
            tls: tls.is_some(),
            finished,
            stop,
            listeners,
            pipeline,
            store,
            telemetry,
        })
    }

    /// The line printed once every listener is bound; ` tls=on` ends it when the listeners
    /// speak TLS (`https://` and gRPC over TLS).
    pub fn listening_line(&self) -> String {
        let api = self
            .api_addr
            .map(|a| a.to_string())
            .unwrap_or_else(|| "-".into());
        let tls = if self.tls { " tls=on" } else { "" };
        format!(
            "voicetrace listening otlp_grpc={} otlp_http={} api={api}{tls}",
            self.otlp_grpc_addr, self.otlp_http_addr
        )
    }

    /// Finished and revised call logs as they are stored.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<CallLog>> {
        self.finished.subscribe()
    }

    /// The store (call logs and outbox).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The receiver's metrics.
    pub fn telemetry(&self) -> &Telemetry {
        &self.telemetry
    }

    /// Stops accepting, finishes the calls whose root arrived, keeps the others in the journal
    /// for the next start (closes them as incomplete when the journal is off), and stops the
    /// sinks with the outbox intact.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for listener in self.listeners {
            let _ = listener.await;
        }
        let _ = self.pipeline.await;
    }
}

/// Keeps `depth` (what ingest's outbox bound reads) current until the receiver stops.
async fn outbox_depth_task(store: Store, depth: Arc<AtomicU64>, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(OUTBOX_DEPTH_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.outbox_depth()).await {
            Ok(Ok(n)) => depth.store(n, Ordering::Relaxed),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the outbox depth"),
            Err(_) => {}
        }
    }
}

/// Copies the outbox's per-sink counts into the metrics until the receiver stops.
async fn sink_stats_task(
    store: Store,
    journal: Option<JournalTable>,
    telemetry: Telemetry,
    mut stop: watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval(SINK_STATS_INTERVAL);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let s = store.clone();
        let Ok((Ok(stats), depth)) =
            tokio::task::spawn_blocking(move || (s.sink_stats(), s.outbox_depth())).await
        else {
            continue;
        };
        // From what the journal knows of its rows: counting the table would hold the store's
        // connection for a scan of every journaled span.
        if let Some(Ok(rows)) = journal.as_ref().map(JournalTable::depth) {
            telemetry.set_journal_depth(rows as i64);
        }
        for sink in stats {
            telemetry.set_sink_counts(
                &sink.name,
                sink.delivered,
                sink.retrying,
                sink.dead,
                sink.pending,
            );
        }
        if let Ok(depth) = depth {
            telemetry.set_outbox_depth(depth as i64);
        }
    }
}

/// Stores a group of updates (blocking): the call logs and their outbox entries go in one
/// transaction.
///
/// Revisions are numbered by what the store holds, not by assembly: a call log that says
/// nothing new against the latest stored revision (the same call built again from the journal
/// after a restart, or from spans an exporter sent twice) is dropped, so sinks never get a
/// revision that repeats the last one; any other continues from the latest stored revision
/// (a call finished again from scratch after a restart, or after its revision window), so
/// revisions have no gaps. Live events (call started, turn completed) of a call whose call log
/// is stored already are dropped for the same reason.
fn record_group(forwarder: &Forwarder, group: &mut Vec<CallUpdate>) -> Result<(), StoreError> {
    let store = forwarder.store();
    // The latest revision of each call as of this group: stored (with its JSON), or an earlier
    // update of this group (its index; serialised only if the call comes again in the group,
    // which is rare: most call logs are a call's first and need no comparison).
    enum Latest {
        Stored(u32, String),
        InGroup(u32, usize),
    }
    let mut latest: HashMap<String, Latest> = HashMap::new();
    let mut repeats = vec![false; group.len()];
    for i in 0..group.len() {
        let CallUpdate::Finished(log) = &group[i] else {
            // A live event (call started, turn completed) no sink wants is dropped by the
            // forwarder anyway; one of a call whose call log is out already comes from that
            // call being held again after a restart: not news.
            let update = &group[i];
            let id = update.call_id();
            repeats[i] = !forwarder.wants(update)
                || latest.contains_key(id)
                || store.latest_revision(id)?.is_some();
            continue;
        };
        let previous = match latest.remove(&log.id) {
            Some(Latest::InGroup(revision, j)) => match &group[j] {
                CallUpdate::Finished(earlier) => Some((revision, serde_json::to_string(earlier)?)),
                _ => None,
            },
            Some(Latest::Stored(revision, body)) => Some((revision, body)),
            None => store.latest_call_body(&log.id)?,
        };
        let id = log.id.clone();
        let CallUpdate::Finished(log) = &mut group[i] else {
            continue;
        };
        match previous {
            None => log.revision = 1,
            Some((revision, stored)) => {
                log.revision = revision;
                if serde_json::to_string(log)? == stored {
                    repeats[i] = true;
                    latest.insert(id, Latest::Stored(revision, stored));
                    continue;
                }
                log.revision = revision + 1;
            }
        }
        latest.insert(id, Latest::InGroup(log.revision, i));
    }
    let mut repeats = repeats.into_iter();
    group.retain(|_| !repeats.next().unwrap_or(false));
    forwarder.record_all(group)
}

/// What assembly hands to the recorder, in order.
#[derive(Debug)]
// Updates are the bulk of what goes through: boxing them would cost an allocation each to make
// the rare `Release` smaller.
#[allow(clippy::large_enum_variant)]
enum Record {
    /// A call update to store (and forward).
    Update(CallUpdate),
    /// Calls assembly let go: once everything before this is stored, the journal drops their
    /// rows up to the position given (rows after it hold spans assembly had not seen yet).
    Release(Vec<(TraceId, i64)>),
}

async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

struct AssemblyTask {
    assembler: Assembler,
    batches: mpsc::Receiver<Journaled>,
    records: mpsc::Sender<Record>,
    spans_buffered: Arc<AtomicUsize>,
    analysis: AnalysisConfig,
    trace_url_template: Option<String>,
    telemetry: Telemetry,
    counters: Arc<IngestCounters>,
    /// Whether a journal keeps open calls across restarts.
    journal: bool,
    /// The journal position of the last batch assembly took.
    position: i64,
    /// Ingest's memory bound; finished calls kept for revisions may hold half of it.
    max_spans_buffered: usize,
    /// What ingest knows of the calls held (for its bound on open calls).
    held: Arc<HeldCalls>,
    /// The calls the last batch touched, for `held`.
    touched: Vec<TraceId>,
    /// Rejected spans already reported to telemetry.
    rejected: u64,
    /// Spans refused by ingest already reported to telemetry.
    refused: u64,
}

impl AssemblyTask {
    /// analyze (pure) and links, then hand over to the recorder.
    async fn hand_over(&mut self, updates: Vec<CallUpdate>) -> bool {
        for mut update in updates {
            if let CallUpdate::Finished(log) = &mut update {
                analyze(log, &self.analysis);
                if let Some(template) = &self.trace_url_template {
                    log.links.trace = Some(trace_link(template, &log.trace_id, &log.id));
                }
            }
            if self.records.send(Record::Update(update)).await.is_err() {
                return false;
            }
        }
        let released = self.assembler.take_released();
        self.held
            .update(&self.touched, &released, self.assembler.stats().calls_open);
        self.touched.clear();
        if self.journal && !released.is_empty() {
            let position = self.position;
            let released = released.into_iter().map(|t| (t, position)).collect();
            if self.records.send(Record::Release(released)).await.is_err() {
                return false;
            }
        }
        true
    }

    fn publish(&mut self, stats: AssemblerStats, last: &mut AssemblerStats) {
        let rejected = self.counters.spans_rejected.load(Ordering::Relaxed);
        self.telemetry.spans_rejected(rejected - self.rejected);
        self.rejected = rejected;
        // Refused: by ingest's back-pressure (exporters retry) and by assembly's per-call bound.
        let refused = self.counters.spans_refused.load(Ordering::Relaxed);
        self.telemetry.spans_refused(refused - self.refused);
        self.refused = refused;
        self.spans_buffered
            .store(stats.spans_buffered, Ordering::Relaxed);
        self.telemetry.set_calls_open(stats.calls_open as i64);
        self.telemetry
            .spans_accepted(stats.spans_accepted - last.spans_accepted);
        self.telemetry
            .spans_refused(stats.spans_refused - last.spans_refused);
        self.telemetry
            .calls_evicted(stats.calls_evicted - last.calls_evicted);
        *last = stats;
    }
}

async fn assembly_task(initial: Vec<CallUpdate>, mut task: AssemblyTask) {
    // The calls replayed from the journal are held already.
    task.touched = task.assembler.traces().copied().collect();
    if !task.hand_over(initial).await {
        return;
    }
    let mut tick = tokio::time::interval(POLL_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = AssemblerStats::default();
    loop {
        let updates = tokio::select! {
            batch = task.batches.recv() => match batch {
                Some(Journaled { position, batch }) => {
                    task.position = task.position.max(position);
                    match batch {
                        Batch::Spans(spans) => {
                            task.touched.extend(spans.iter().map(|s| s.trace_id));
                            task.touched.dedup();
                            task.assembler.add_spans(spans, now_nanos())
                        }
                        Batch::Logs(logs) => task.assembler.add_logs(logs, now_nanos()),
                    }
                }
                None => break,
            },
            _ = tick.tick() => task.assembler.poll(now_nanos()),
        };
        // Finished calls kept only for revisions give way to new calls: ingest refuses spans
        // while assembly holds its bound, and they must not hold it until their window ends.
        task.assembler.shed_finished(task.max_spans_buffered / 2);
        if !task.hand_over(updates).await {
            return;
        }
        // After the hand-over, which told ingest what assembly holds: a gauge read afterwards
        // describes what ingest's bounds see.
        let stats = task.assembler.stats();
        task.publish(stats, &mut last);
    }
    // Ingest has stopped: finish what can be finished; calls still waiting for their root stay
    // in the journal for the next start (or, without a journal, are closed as incomplete).
    // Finished calls are let go: their last call logs are stored before the journal drops them.
    let updates = task.assembler.flush(now_nanos(), !task.journal);
    if !updates.is_empty() {
        tracing::info!(
            updates = updates.len(),
            "closing calls in flight at shutdown"
        );
    }
    task.assembler.release_finished();
    task.hand_over(updates).await;
    let stats = task.assembler.stats();
    task.publish(stats, &mut last);
}

/// Stores each update (call log + outbox in one transaction) and wakes the sinks; then tells
/// subscribers, and lets the journal drop the calls assembly released. A store failure is
/// retried: the update is not dropped.
async fn recorder_task(
    mut records: mpsc::Receiver<Record>,
    forwarder: Forwarder,
    journal: Option<Arc<JournalTable>>,
    finished: broadcast::Sender<Arc<CallLog>>,
    telemetry: Telemetry,
) {
    while let Some(first) = records.recv().await {
        // Everything waiting goes in one transaction: one commit per burst, not per call.
        // Releases wait until the updates received before them are stored.
        let mut group = Vec::new();
        let mut released = Vec::new();
        let mut next = Some(first);
        while let Some(record) = next.take() {
            match record {
                Record::Update(update) => group.push(update),
                Record::Release(calls) => released.extend(calls),
            }
            if group.len() < RECORD_GROUP {
                next = records.try_recv().ok();
            }
        }
        let mut backoff = Duration::from_millis(100);
        loop {
            let f = forwarder.clone();
            let result = tokio::task::spawn_blocking(move || {
                let result = record_group(&f, &mut group);
                (group, result)
            })
            .await;
            match result {
                Ok((done, Ok(()))) => {
                    group = done;
                    break;
                }
                Ok((again, Err(e))) => {
                    tracing::error!(error = %e, updates = again.len(), "cannot store call updates, retrying");
                    group = again;
                }
                Err(e) => {
                    tracing::error!(error = %e, "store task failed");
                    return;
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
        for update in group {
            if let CallUpdate::Finished(log) = update {
                telemetry.call_finished(&log);
                tracing::debug!(
                    call_id = %log.id, trace_id = %log.trace_id, revision = log.revision,
                    status = log.status.as_str(), turns = log.turns.len(), "call log stored"
                );
                let _ = finished.send(Arc::from(log));
            }
        }
        if let (Some(journal), false) = (&journal, released.is_empty()) {
            let journal = journal.clone();
            let trimmed = tokio::task::spawn_blocking(move || journal.forget_upto(&released)).await;
            // A failure only leaves rows behind: a replay would build those calls again and
            // find their call logs stored already.
            if let Ok(Err(e)) = trimmed {
                tracing::warn!(error = %e, "cannot trim the span journal");
            }
        }
    }
    forwarder.shutdown().await;
}
