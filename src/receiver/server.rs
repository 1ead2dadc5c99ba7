//! `voicetrace serve`: wires the stages of the data flow into one running receiver. Wiring
//! only: each stage's logic lives in its own module, and this file opens the store, starts the
//! journal, builds the servers and spawns the pipeline, in that order.
//!
//! ```text
//!                      ┌─ admission (bounds) ◄── what assembly holds ◄──┐ ◄── outbox depth ◄──┐
//!                      ▼                                                │                     │
//! OTLP gRPC ─┐                                                          │                     │
//!            ├─► ingest ─submission─► journal writer ─batch─► assembly task ─record─► recorder ─► sinks
//! OTLP HTTP ─┘   (decode,  (bounded)  (thread: group      (bounded)  (Assembler,  (bounded) (store +   (forward:
//!                 admit)              commit, segments)                 analyze)              outbox,    one loop
//!                                                                                           revisions) per sink)
//! API (HTTP, gRPC CallLogService) reads the store; /metrics reads the metrics; the store
//! watcher copies outbox and journal depths into both. The recorder announces the call logs it
//! stored to the live views (console stream, `WatchCalls`); on a shared store the relay adds
//! those other receivers stored.
//! ```
//!
//! Every channel is bounded: when assembly falls behind, ingest answers "retry later"; when the
//! store falls behind, assembly waits (and so ingest fills up and pushes back).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc, watch};
use tokio::task::JoinHandle;

use crate::receiver::analyze::prices::{PriceError, Prices};
use crate::receiver::assemble::task::{self as assembly, OpenCalls, TaskConfig, Wiring};
use crate::receiver::assemble::{Assembler, AssemblerConfig};
use crate::receiver::auth::{AuthError, Tokens};
use crate::receiver::calllog::CallLog;
pub use crate::receiver::config::ServeConfig;
use crate::receiver::forward::{Extras, ForwardError, Forwarder};
use crate::receiver::ingest::{Admission, Bounds, Ingest};
use crate::receiver::journal;
use crate::receiver::listeners::{Listeners, Servers};
use crate::receiver::metrics::ReceiverMetrics;
use crate::receiver::recordings::{self, Recordings};
use crate::receiver::redact::{Redaction, RedactionError, RedactionMode, Redactor};
use crate::receiver::secret::{Secret, SecretError, SecretSource};
use crate::receiver::store::recorder::{self, Recorder};
use crate::receiver::store::{relay, watch as store_watch, PgConfig, Store, StoreError};
use crate::receiver::tls::{TlsError, TlsIdentity};

/// Batches waiting between ingest and the journal: at a typical 512 spans per batch, about half
/// a million spans of burst before exporters are told to retry.
const INGEST_QUEUE_BATCHES: usize = 1024;
/// Journaled batches waiting for assembly; small, as they are durable already.
const ASSEMBLY_QUEUE_BATCHES: usize = 256;
/// Updates waiting between assembly and the recorder (one SQLite transaction per group).
const RECORD_QUEUE: usize = 4096;
/// Finished call logs kept for slow subscribers (demo, tests, WatchCalls).
const BROADCAST_CAPACITY: usize = 1024;
/// Recordings kept and not yet looked at by the recorder; past it, a recording waits for its
/// call's next call log or the next start (the announcement is only a wake-up).
const KEPT_QUEUE: usize = 256;

/// Why the receiver could not start.
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
    #[error("cannot open the store in {dir}: {source}")]
    Store {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// The PostgreSQL store could not be reached or migrated.
    #[error("cannot open the PostgreSQL store: {0}")]
    PostgresStore(StoreError),
    /// The PostgreSQL store's password could not be read.
    #[error("the PostgreSQL store's password: {0}")]
    StorePassword(#[from] SecretError),
    /// The span journal could not be opened or read.
    #[error("cannot open the span journal in {dir}: {source}")]
    Journal {
        /// The data directory.
        dir: PathBuf,
        /// Why.
        source: journal::JournalError,
    },
    /// A task opening the store did not finish (a panic).
    #[error("the store could not be opened: {0}")]
    Blocking(#[from] tokio::task::JoinError),
    /// The journal writer's thread could not be started.
    #[error("cannot start the journal writer: {0}")]
    JournalWriter(std::io::Error),
    /// The sinks could not be started.
    #[error("cannot start the sinks: {0}")]
    Sinks(#[from] ForwardError),
    /// A bearer token could not be loaded.
    #[error(transparent)]
    Auth(#[from] AuthError),
    /// TLS could not be set up.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The recordings' folder or link key could not be opened.
    #[error(transparent)]
    Recordings(#[from] recordings::OpenError),
    /// The redaction configuration cannot work.
    #[error(transparent)]
    Redaction(#[from] RedactionError),
    /// The price table (or the configuration's `[prices]`) is not usable.
    #[error(transparent)]
    Prices(#[from] PriceError),
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
    metrics: ReceiverMetrics,
}

impl Receiver {
    /// Binds every listener, opens the store, starts the journal, the sinks, the servers and
    /// the pipeline.
    pub async fn start(config: ServeConfig) -> Result<Receiver, ServeError> {
        let tokens = Tokens::resolve(
            config.ingest_token.as_ref(),
            config.ingest_token_file.as_ref(),
            config.api_token.as_ref(),
            config.api_token_file.as_ref(),
        )?
        .with_livekit(
            config.livekit_api_secret.as_ref(),
            config.livekit_api_secret_file.as_ref(),
        )?;
        let redaction = Redaction::new(&config.redaction)?;
        if redaction.mode() == RedactionMode::Sinks
            && !config.sinks.iter().any(|s| s.shared().redact)
        {
            tracing::warn!(
                "redaction mode is \"sinks\" but no sink has `redact = true`: nothing is redacted"
            );
        }
        let tls = TlsIdentity::from_files(config.tls_cert.as_deref(), config.tls_key.as_deref())?;
        let prices = Arc::new(Prices::resolve(&config.prices)?);
        let listeners = Listeners::bind(&config).await?;
        let store = open_store(&config).await?;
        let journal = journal::Start::read(&config.data_dir, config.journal)
            .await?
            .map_err(|source| ServeError::Journal {
                dir: config.data_dir.clone(),
                source,
            })?;
        let metrics = ReceiverMetrics::new();
        let (kept, kept_rx) = mpsc::channel(KEPT_QUEUE);
        let recordings = Recordings::start(
            &config,
            store.clone(),
            metrics.clone(),
            kept,
            redaction.before_store(),
        )
        .await?;
        let (stop, stop_rx) = watch::channel(false);
        let (finished, _) = broadcast::channel(BROADCAST_CAPACITY);
        let admission = Admission::new(Bounds {
            max_spans_buffered: config.max_spans_buffered,
            max_calls: config.max_calls,
            max_outbox: config.max_outbox,
        });

        // ingest ──submissions──► journal writer ──batches──► assembly
        let (submission_tx, submission_rx) = mpsc::channel(INGEST_QUEUE_BATCHES);
        let (batch_tx, batch_rx) = mpsc::channel(ASSEMBLY_QUEUE_BATCHES);
        journal::spawn_writer(journal.segments.clone(), submission_rx, batch_tx)
            .map_err(ServeError::JournalWriter)?;
        let ingest = Ingest::new(submission_tx, admission.clone(), metrics.clone())
            .dropping(redaction.dropped());

        // The sinks before the servers: a sink that cannot start stops the receiver before it
        // answers anyone.
        let forwarder = Forwarder::start_with(
            store.clone(),
            config.sinks.clone(),
            Extras {
                links: Some(recordings.links().clone()),
                redactor: redaction.for_sinks(),
            },
        )?;
        let ready = Arc::new(AtomicBool::new(false));
        let addrs = listeners.addrs(&config);
        let servers = Servers {
            tls: tls.as_ref(),
            tokens: &tokens,
            reader: Arc::new(store.clone()),
            recordings: &recordings,
            console: Arc::new(store.clone()),
            requeue: Some(Arc::new(forwarder.clone())),
            finished: &finished,
            stop: &stop_rx,
        };
        let mut running = servers.spawn(listeners, ingest, &config, &metrics, ready.clone())?;
        let pipeline = Pipeline {
            recordings_attached: recordings.sweep_trigger(),
            store: &store,
            metrics: &metrics,
            admission,
            finished: &finished,
            stop: &stop_rx,
            prices,
            redactor: redaction.before_store(),
        };
        let (pipeline, watcher) = pipeline.spawn(&config, journal, batch_rx, kept_rx, forwarder);
        running.push(watcher);
        running.push(tokio::spawn(recordings.sweep(stop_rx.clone())));
        running.push(relay::spawn(
            store.clone(),
            finished.clone(),
            stop_rx.clone(),
        ));
        ready.store(true, Ordering::Release);
        tracing::info!(
            otlp_grpc_addr = %addrs.0, otlp_http_addr = %addrs.1, api_addr = ?addrs.2,
            tls = tls.is_some(), ingest_token = tokens.ingest.is_some(),
            api_token = tokens.api.is_some(), redaction = redaction.mode().as_str(),
            "voicetrace receiver started"
        );
        Ok(Receiver {
            otlp_grpc_addr: addrs.0,
            otlp_http_addr: addrs.1,
            api_addr: addrs.2,
            tls: tls.is_some(),
            finished,
            stop,
            listeners: running,
            pipeline,
            store,
            metrics,
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
    pub fn metrics(&self) -> &ReceiverMetrics {
        &self.metrics
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

fn store_error(dir: &Path) -> impl Fn(StoreError) -> ServeError + '_ {
    move |source| ServeError::Store {
        dir: dir.to_path_buf(),
        source,
    }
}

/// Opens the store the config names (migrating its schema) on the blocking pool: the
/// PostgreSQL store of `store_url`, else the SQLite store in the data directory.
async fn open_store(config: &ServeConfig) -> Result<Store, ServeError> {
    let dir = config.data_dir.clone();
    let postgres = match &config.store_url {
        None => None,
        Some(url) => Some(PgConfig {
            url: url.clone(),
            password: store_password(config)?,
            lease: Some(Duration::from_millis(config.store_lease_ms.max(1))),
            ca_file: config.store_ca_file.clone(),
        }),
    };
    Ok(match postgres {
        Some(pg) => tokio::task::spawn_blocking(move || Store::connect_postgres(&pg, &dir))
            .await?
            .map_err(ServeError::PostgresStore)?,
        None => tokio::task::spawn_blocking(move || Store::open(&dir))
            .await?
            .map_err(store_error(&config.data_dir))?,
    })
}

/// The PostgreSQL store's password: the one given, else the file's, else none.
fn store_password(config: &ServeConfig) -> Result<Option<String>, ServeError> {
    if let Some(secret) = &config.store_password {
        return Ok(Some(secret.expose().to_string()));
    }
    let Some(file) = &config.store_password_file else {
        return Ok(None);
    };
    let secret = Secret::required(SecretSource::File(file))?;
    Ok(Some(secret.expose().to_string()))
}

/// What the pipeline's tasks share.
struct Pipeline<'a> {
    recordings_attached: Arc<tokio::sync::Notify>,
    store: &'a Store,
    metrics: &'a ReceiverMetrics,
    admission: Admission,
    finished: &'a broadcast::Sender<Arc<CallLog>>,
    stop: &'a watch::Receiver<bool>,
    prices: Arc<Prices>,
    /// Redacts updates before the store (`store` mode).
    redactor: Option<Arc<Redactor>>,
}

impl Pipeline<'_> {
    /// Assembly (with the journal replayed into it), the recorder, and the store watcher.
    /// Returns the pipeline (done once the recorder has stored everything and the sinks have
    /// stopped) and the watcher.
    fn spawn(
        self,
        config: &ServeConfig,
        journal: journal::Start,
        batches: mpsc::Receiver<journal::Journaled>,
        kept: mpsc::Receiver<String>,
        forwarder: Forwarder,
    ) -> (JoinHandle<()>, JoinHandle<()>) {
        let live_turns = forwarder.wants_live_updates();
        let assembler = Assembler::new(AssemblerConfig {
            grace_ms: config.grace_ms,
            idle_timeout_ms: config.idle_timeout_ms,
            revision_window_ms: config.idle_timeout_ms,
            max_calls: config.max_calls,
            max_spans_per_call: config.max_spans_per_call,
            live_turns,
            only_calls: config.only_calls,
        });
        let (record_tx, record_rx) = mpsc::channel(RECORD_QUEUE);
        let wiring = Wiring {
            batches,
            records: record_tx,
            admission: self.admission.clone(),
            metrics: self.metrics.clone(),
        };
        let task = TaskConfig {
            analysis: config.analysis.clone(),
            prices: self.prices.clone(),
            trace_url_template: config.trace_url_template.clone(),
            open_calls: match journal.segments {
                Some(_) => OpenCalls::Journaled,
                None => OpenCalls::CloseAtStop,
            },
            max_spans_buffered: config.max_spans_buffered,
            position: journal.position,
            redactor: self.redactor,
        };
        let assembly = tokio::spawn(assembly::run(assembler, journal.replay, wiring, task));
        let watcher = tokio::spawn(store_watch::run(
            self.store.clone(),
            journal.segments.clone(),
            self.metrics.clone(),
            self.admission,
            self.stop.clone(),
        ));
        let recorder = tokio::spawn(recorder::run(
            record_rx,
            kept,
            Recorder {
                store: self.store.clone(),
                deliveries: Arc::new(forwarder.clone()),
                journal: journal.segments,
                finished: self.finished.clone(),
                metrics: self.metrics.clone(),
                recordings_attached: self.recordings_attached,
            },
        ));
        let pipeline = tokio::spawn(async move {
            let _ = assembly.await;
            let _ = recorder.await;
            forwarder.shutdown().await;
        });
        (pipeline, watcher)
    }
}
