//! The embedded SQLite backend: `voicetrace.db` in the data directory, WAL mode, inspectable
//! with `sqlite3`. One connection behind a mutex, shared by the store's clones.
//!
//! By role, beside their SQL: `calls` (revisions and the API's reads), `index` (the console's
//! indexes of each call's latest revision: list columns, issue types, the transcript in FTS5,
//! per-turn figures), `console` (the console's queries), `outbox` (delivery), `recordings`
//! (uploads' rows) and `schema` (migrations, versioned with `PRAGMA user_version`).

mod calls;
mod console;
mod index;
mod outbox;
mod recordings;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;

use super::backend::{for_each_method, forward_to_inherent, Backend};
use super::recordings::{CallNames, RecordingRow};
use super::relay::StoredCall;
use super::{DeadLetter, Enqueue, OutboxEntry, Settle, SinkStats, StoreError};
use crate::receiver::calllog::{CallLog, CallPage, CallQuery, CallUpdate, LiveKitJob, SameIdCall};
use crate::receiver::query::{CallRowPage, Delivery, DeploymentRow, Fleet, FleetQuery};

/// The database file inside the data directory.
pub const DB_FILE: &str = "voicetrace.db";

/// SQLite's `synchronous` setting for every connection (see [`Sqlite::open`]).
const SYNCHRONOUS: &str = "NORMAL";

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

/// The SQLite backend.
pub struct Sqlite {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Sqlite {
    /// Opens (creating if needed) `data_dir` and its `voicetrace.db`, in WAL mode, and migrates
    /// the schema to the latest version.
    pub fn open(data_dir: &Path) -> Result<Sqlite, StoreError> {
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
        Ok(Sqlite {
            conn: Mutex::new(conn),
            path,
        })
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

    /// Nothing: no other receiver stores into this file.
    pub fn subscribe_stored(&self) -> Option<tokio::sync::broadcast::Receiver<StoredCall>> {
        None
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }
}

for_each_method!(forward_to_inherent, Sqlite);
