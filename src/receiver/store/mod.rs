//! The store: an embedded SQLite database (`voicetrace.db` in the data directory, WAL mode,
//! inspectable with `sqlite3`) holding every revision of every call log and one outbox per sink.
//!
//! A finished call log and the outbox entries that will carry it to the sinks are written in ONE
//! transaction ([`Store::store_update`]), committed before any delivery starts: a call log that
//! was stored is never lost to a crash, and a sink never hears of a call log the store does not
//! hold. Delivery loops ([`crate::receiver::forward`]) then claim due entries
//! ([`Store::claim_due`]) and record each outcome (delivered, retry at, dead letter).
//!
//! Beside them, the console's indexes of each call's latest revision (list columns, issue
//! types, the transcript in FTS5, per-turn figures; `index`) and its queries (`console`).
//!
//! Every method blocks (SQLite I/O): async callers run them on the blocking pool. The store is
//! cheap to clone; clones share one connection behind a mutex.

mod calls;
mod console;
mod index;
mod outbox;
pub mod recorder;
mod recordings;
mod schema;
pub mod watch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;

pub use calls::rfc3339_ms as unix_ms;
pub use outbox::{DeadLetter, Enqueue, OutboxEntry, Payload, Settle, SinkStats, LIVE_REVISION};
pub use recordings::{CallNames, RecordingRow};
pub use schema::MIGRATIONS;

/// The database file inside the data directory.
pub const DB_FILE: &str = "voicetrace.db";

/// SQLite's `synchronous` setting for every connection (see [`Store::open`]).
pub(crate) const SYNCHRONOUS: &str = "NORMAL";

/// How long a statement waits for a lock held by another connection (the CLI reading while the
/// server writes) before giving up: long enough to ride out any single transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// SQLite's page cache for the server's connection, in KiB (negative `cache_size` = KiB):
/// the outbox and latest call log pages stay in memory instead of being read back
/// from the file on every transaction (SQLite's default is 2 MiB). Memory, not a limit on data.
const CACHE_KIB: i64 = 8 * 1024;

/// WAL pages before SQLite copies them back into the database file (its default is 1000, 4 MB):
/// outbox entries live seconds, so with a larger WAL a page that is written, rewritten and freed
/// many times is checkpointed once. The WAL file stays around this size (about 40 MB).
const WAL_AUTOCHECKPOINT_PAGES: i64 = 10_000;

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
    /// A thread panicked while holding the connection.
    #[error("the store's connection was poisoned by a panic")]
    Poisoned,
}

/// The embedded SQLite store. Clones share one connection.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens (creating if needed) `data_dir` and its `voicetrace.db`, in WAL mode, and migrates
    /// the schema to the latest version.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            dir: data_dir.to_path_buf(),
            source,
        })?;
        let path = data_dir.join(DB_FILE);
        let mut conn = Connection::open(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers (the API, the CLI) do not block the writer. NORMAL: a commit is in the
        // WAL file before `store_update` returns, so "stored" survives a crash of the receiver
        // (the journal and restart tests kill it); only a power cut or kernel crash can take the
        // last commits since the WAL's last sync. FULL would fsync every commit (several per call
        // log: store, claim, delivered), which ingest throughput cannot afford.
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", SYNCHRONOUS)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "cache_size", -CACHE_KIB)?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES)?;
        schema::move_journal_out(&conn, data_dir)?;
        schema::migrate(&mut conn)?;
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
            path,
        })
    }

    /// Entries in the span journal beside the database (`journal/` in the data directory), as
    /// a start would replay them: for tools and tests, as it reads every segment (a running
    /// receiver's figure is `journal::Segments::depth`).
    pub fn journal_depth(&self) -> Result<u64, crate::receiver::journal::JournalError> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        crate::receiver::journal::entries_on_disk(dir)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()?
            .query_row("PRAGMA user_version", [], |row| row.get(0))?)
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

/// Now, in Unix milliseconds (the store's clock for `retry_dead` and friends).
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests;
