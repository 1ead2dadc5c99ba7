//! The store: every revision of every call log, one outbox per sink, recordings' rows (and,
//! when shared by a fleet, their audio: [`SharedRecordings`]) and the console's indexes,
//! behind one interface ([`backend::Backend`]) with two backends: an embedded SQLite database
//! (`sqlite`, `voicetrace.db` in the data directory, the default, needs nothing) and
//! PostgreSQL (`postgres`, `--store postgres://...`, shared by a fleet of receivers).
//! [`Store`] is the handle every stage holds.
//!
//! A finished call log and the outbox entries that will carry it to the sinks are written in ONE
//! transaction ([`Store::store_updates`]), committed before any delivery starts: a call log that
//! was stored is never lost to a crash, and a sink never hears of a call log the store does not
//! hold. Delivery loops ([`crate::receiver::forward`]) then claim due entries
//! ([`Store::claim_due`]) and record each outcome (delivered, retry at, dead letter).
//!
//! The plain types every backend shares are by role: `calls` (cursors, times), `outbox`
//! (entries and outcomes), `recordings` (uploads' rows).
//!
//! Every method blocks (database I/O): async callers run them on the blocking pool; the one
//! exception, [`Store::subscribe_stored`], hands out what other receivers of a shared store
//! stored (`relay` puts it on this receiver's live broadcast). The store is cheap to clone;
//! clones share one backend.

mod backend;
mod calls;
mod console;
mod index;
mod outbox;
pub mod postgres;
pub mod recorder;
mod recordings;
pub mod relay;
mod shared;
pub mod sqlite;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub use backend::Backend;
pub use calls::rfc3339_ms as unix_ms;
pub use outbox::{DeadLetter, Enqueue, OutboxEntry, Payload, Settle, SinkStats, LIVE_REVISION};
pub use postgres::{PgConfig, Postgres};
pub use recordings::{CallNames, RecordingRow};
pub use relay::StoredCall;
pub use shared::SharedRecordings;
pub use sqlite::schema::MIGRATIONS;
pub use sqlite::{Sqlite, DB_FILE};

use crate::receiver::api::{CallReader, FoundCall, ReadError};
use crate::receiver::calllog::{CallPage, CallQuery, CallUpdate};
use crate::receiver::query::{
    CallRowPage, ConsoleReader, Delivery, DeploymentRow, Fleet, FleetQuery,
};

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The data directory could not be created.
    #[error("cannot create data directory {dir}: {source}")]
    CreateDir {
        /// The directory.
        dir: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed (a query, or the connection).
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No connection to PostgreSQL could be had from the pool.
    #[error("postgres connection pool: {0}")]
    Pool(String),
    /// The PostgreSQL store's address or credentials are not usable.
    #[error("postgres store configuration: {0}")]
    PgConfig(String),
    /// A stored or given JSON document could not be (de)serialised.
    #[error("call log JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The database was written by a newer voicetrace.
    #[error("the store has schema version {found}; this voicetrace supports up to {supported}")]
    NewerSchema {
        /// The database's `user_version`.
        found: i64,
        /// The latest migration this build knows.
        supported: i64,
    },
    /// A list cursor that this store did not hand out.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// No sink by that name is known to the store.
    #[error("no sink named {0:?}")]
    UnknownSink(String),
    /// The span journal's table (from before version 8) could not be moved to its files.
    #[error("moving the span journal out of the database: {0}")]
    Journal(#[from] crate::receiver::journal::JournalError),
    /// A recording's audio could not be read to be stored, or asked for past its end.
    #[error("recording audio: {0}")]
    Audio(std::io::Error),
    /// A thread panicked while holding the connection.
    #[error("the store's connection was poisoned by a panic")]
    Poisoned,
    /// The SQLite store's checkpoint thread could not be started.
    #[error("cannot start the WAL checkpoint thread: {0}")]
    Checkpointer(std::io::Error),
}

/// The store: a handle on its backend. Clones share it.
#[derive(Clone)]
pub struct Store {
    backend: Arc<dyn Backend>,
    /// Recordings' audio and link key, when the store is shared by a fleet (PostgreSQL).
    shared: Option<Arc<dyn SharedRecordings>>,
    /// The local data directory (the span journal's, and the recordings' files with the
    /// embedded store): local to this receiver whichever backend holds the rest.
    data_dir: PathBuf,
    /// Which backend, for logs and errors.
    kind: &'static str,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.kind)
            .field("data_dir", &self.data_dir)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) `data_dir` and its embedded SQLite database, and migrates
    /// its schema to the latest version.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        let sqlite = Sqlite::open(data_dir)?;
        Ok(Store {
            backend: Arc::new(sqlite),
            shared: None,
            data_dir: data_dir.to_path_buf(),
            kind: "sqlite",
        })
    }

    /// Connects to a PostgreSQL store (shared by every receiver configured with it) and
    /// migrates its schema; `data_dir` stays this receiver's own (the journal, uploads while
    /// they arrive).
    pub fn connect_postgres(config: &PgConfig, data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            dir: data_dir.to_path_buf(),
            source,
        })?;
        let postgres = Arc::new(Postgres::connect(config)?);
        Ok(Store {
            backend: postgres.clone(),
            shared: Some(postgres),
            data_dir: data_dir.to_path_buf(),
            kind: "postgres",
        })
    }

    /// Which backend this store is on: `sqlite` or `postgres`.
    pub fn backend_kind(&self) -> &'static str {
        self.kind
    }

    /// Entries in the span journal beside the store (`journal/` in the data directory), as
    /// a start would replay them: for tools and tests, as it reads every segment (a running
    /// receiver's figure is `journal::Segments::depth`).
    pub fn journal_depth(&self) -> Result<u64, crate::receiver::journal::JournalError> {
        crate::receiver::journal::entries_on_disk(&self.data_dir)
    }

    /// What the store keeps of recordings besides their rows (their audio, their links' key)
    /// when it is shared by a fleet; `None` for the embedded store, whose receiver keeps its
    /// recordings' audio in files.
    pub fn shared_recordings(&self) -> Option<Arc<dyn SharedRecordings>> {
        self.shared.clone()
    }

    /// The local data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// Records an update and enqueues it for the given sinks, in one transaction (see
    /// [`Store::store_updates`]). Returns the entries enqueued.
    pub fn store_update(
        &self,
        update: &CallUpdate,
        entries: &[Enqueue],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.store_updates(&[(update, entries)], now_ms)
    }

    /// The entry was delivered: it leaves the outbox and its sink's `delivered` count grows.
    pub fn mark_delivered(&self, id: i64) -> Result<(), StoreError> {
        self.settle_all(&[(id, Settle::Delivered)])
    }

    /// The attempt failed and will be repeated at `next_attempt_ms`.
    pub fn mark_retry(
        &self,
        id: i64,
        next_attempt_ms: i64,
        status: Option<u16>,
        error: &str,
    ) -> Result<(), StoreError> {
        let retry = Settle::Retry {
            at_ms: next_attempt_ms,
            status,
            reason: error.to_string(),
        };
        self.settle_all(&[(id, retry)])
    }

    /// The entry is parked as a dead letter with the status and reason.
    pub fn mark_dead(&self, id: i64, status: Option<u16>, reason: &str) -> Result<(), StoreError> {
        let dead = Settle::Dead {
            status,
            reason: reason.to_string(),
        };
        self.settle_all(&[(id, dead)])
    }
}

/// Now, in Unix milliseconds (the store's clock for `retry_dead` and friends).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl CallReader for Store {
    fn get_call(&self, id: &str, trace_id: Option<&str>) -> Result<Option<FoundCall>, ReadError> {
        let read = || -> Result<_, StoreError> {
            let Some(log) = self.latest_call(id, trace_id)? else {
                return Ok(None);
            };
            let mut same_id = self.same_id_calls(id)?;
            same_id.retain(|c| c.trace_id != log.trace_id);
            Ok(Some(FoundCall { log, same_id }))
        };
        read().map_err(|e| ReadError::new(e.to_string()))
    }

    fn list_calls(&self, q: &CallQuery) -> Result<CallPage, ReadError> {
        use ReadError;
        self.list_calls(q).map_err(|e| match e {
            StoreError::InvalidCursor(message) => ReadError::invalid_cursor(message),
            other => ReadError::new(other.to_string()),
        })
    }
}

fn read_error(e: StoreError) -> ReadError {
    match e {
        StoreError::InvalidCursor(message) => ReadError::invalid_cursor(message),
        other => ReadError::new(other.to_string()),
    }
}

impl ConsoleReader for Store {
    fn call_rows(&self, q: &CallQuery) -> Result<CallRowPage, ReadError> {
        Store::call_rows(self, q).map_err(read_error)
    }

    fn deliveries(&self, call_id: &str, trace_id: &str) -> Result<Vec<Delivery>, ReadError> {
        Store::deliveries(self, call_id, trace_id).map_err(read_error)
    }

    fn fleet(&self, q: &FleetQuery) -> Result<Fleet, ReadError> {
        Store::fleet(self, q).map_err(read_error)
    }

    fn deployments(&self, limit: usize) -> Result<Vec<DeploymentRow>, ReadError> {
        Store::deployments(self, limit).map_err(read_error)
    }

    fn agents(&self) -> Result<Vec<String>, ReadError> {
        Store::agents(self).map_err(read_error)
    }

    fn sinks(&self) -> Result<Vec<SinkStats>, ReadError> {
        self.sink_stats().map_err(read_error)
    }
}

#[cfg(test)]
mod tests;
