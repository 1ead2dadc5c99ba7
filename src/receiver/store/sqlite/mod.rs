//! The embedded SQLite backend: `voicetrace.db` in the data directory, WAL mode, inspectable
//! with `sqlite3`. One connection behind a mutex, shared by the store's clones, and one of
//! the WAL's checkpoint thread (`checkpoint`).
//!
//! By role, beside their SQL: `calls` (revisions and the API's reads), `index` (the console's
//! indexes of each call's latest revision: list columns, issue types, the transcript in FTS5,
//! per-turn figures), `console` (the console's queries), `outbox` (delivery), `recordings`
//! (uploads' rows) and `schema` (migrations, versioned with `PRAGMA user_version`).

mod calls;
mod checkpoint;
mod console;
mod index;
mod outbox;
mod recordings;
pub mod schema;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::config::DbConfig;
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

/// Prepared statements the connection keeps (rusqlite's default is 16): more than the store
/// and the console run in turn, so that none is prepared again because others pushed it out.
const STATEMENT_CACHE: usize = 128;

/// The SQLite backend.
pub struct Sqlite {
    conn: Mutex<Connection>,
    path: PathBuf,
    /// The WAL's checkpoint thread ([`checkpoint`]); after `conn`, so that it is dropped (and
    /// its connection closed) after the writer's. Held for its drop outside the tests.
    #[cfg_attr(not(test), allow(dead_code))]
    checkpointer: checkpoint::Checkpointer,
}

impl Sqlite {
    /// Opens (creating if needed) `data_dir` and its `voicetrace.db`, in WAL mode, and migrates
    /// the schema to the latest version.
    pub fn open(data_dir: &Path) -> Result<Sqlite, StoreError> {
        Sqlite::open_with(data_dir, checkpoint::WAL_LIMITS)
    }

    fn open_with(data_dir: &Path, limits: checkpoint::WalLimits) -> Result<Sqlite, StoreError> {
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
        // One plan per statement whatever values are bound: without it SQLite prepares a
        // statement again at each new binding when a value might change its plan (a partial
        // index, `?3 IS NOT NULL`), several times per call log stored.
        conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
        conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        schema::move_journal_out(&conn, data_dir)?;
        schema::migrate(&mut conn)?;
        let checkpointer = checkpoint::start(&mut conn, &path, limits)?;
        Ok(Sqlite {
            conn: Mutex::new(conn),
            path,
            checkpointer,
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

#[cfg(test)]
mod tests {
    use rusqlite::StatementStatus;

    use super::{calls, recordings, Sqlite};
    use crate::receiver::calllog::LiveKitJob;
    use crate::receiver::store::recordings::CallNames;

    /// The statements run for every call log stored keep their plan whatever values are bound:
    /// SQLite re-prepared them at each new binding (a partial index, `?3 IS NOT NULL`), which
    /// was 8.8% of serve's CPU under load (`scripts/profile-ingest.sh`).
    #[test]
    fn the_queries_of_each_stored_call_log_are_prepared_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Sqlite::open(dir.path()).unwrap();
        for i in 0..4 {
            let (call, trace) = (format!("call-{i}"), format!("{i:032x}"));
            let livekit = LiveKitJob {
                room_id: Some(format!("room-{i}")),
                job_id: (i % 2 == 0).then(|| format!("job-{i}")),
            };
            store.latest_call_body(&call, &trace).unwrap();
            store.call_recording(&call, &trace).unwrap();
            let names = CallNames {
                call_id: &call,
                trace_id: &trace,
                livekit: (i > 1).then_some(&livekit),
            };
            store.pending_for_call(names).unwrap();
        }
        let conn = store.lock().unwrap();
        for sql in [
            calls::LATEST_CALL_BODY.to_string(),
            recordings::call_recording_sql(),
            recordings::pending_for_call_sql(),
        ] {
            let stmt = conn.prepare_cached(&sql).unwrap();
            // The statement the store ran (a new one would have run 0 times).
            assert_eq!(stmt.get_status(StatementStatus::Run), 4, "{sql}");
            assert_eq!(stmt.get_status(StatementStatus::RePrepare), 0, "{sql}");
        }
    }
}
