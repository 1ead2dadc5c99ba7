//! The span journal's table: every batch of spans (and call log records) accepted by ingest,
//! written before the exporter is told "accepted" and deleted when its call's log is stored. A
//! receiver that restarts (or crashes) replays what is left, so calls in flight finish whole.
//!
//! The journal has its own connection to the database file: its group commits do not queue
//! behind the delivery loops' statements (WAL lets one writer at a time proceed; the busy
//! timeout rides out the other's transaction).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{params, Connection};

use super::{Store, StoreError, BUSY_TIMEOUT};

impl Store {
    /// Rows in the span journal (for `/metrics`).
    pub fn journal_depth(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .lock()?
            .query_row("SELECT COUNT(*) FROM journal", [], |r| r.get(0))?;
        Ok(n as u64)
    }
}

/// One journaled payload: the spans or log records of one trace from one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalRow {
    /// The call's trace id.
    pub trace_id: [u8; 16],
    /// The encoded records (see `receiver::journal`).
    pub payload: Vec<u8>,
}

/// A connection to the journal table.
#[derive(Debug)]
pub struct JournalTable {
    conn: Mutex<Connection>,
}

impl JournalTable {
    /// Opens a second connection to the store's database (the store must be open already, so
    /// the schema is migrated).
    pub fn open(db_path: &Path) -> Result<JournalTable, StoreError> {
        let conn = Connection::open(db_path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // FULL as the store: "accepted" must survive a power cut, as the exporter drops what we
        // accepted.
        conn.pragma_update(None, "synchronous", "FULL")?;
        Ok(JournalTable {
            conn: Mutex::new(conn),
        })
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, Connection>, StoreError> {
        self.conn.lock().map_err(|_| StoreError::Poisoned)
    }

    /// Appends rows in one transaction (one fsync for a whole group of requests).
    pub fn append(&self, rows: &[JournalRow], now_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO journal (trace_id, received_ms, payload) VALUES (?1, ?2, ?3)",
            )?;
            for row in rows {
                insert.execute(params![&row.trace_id[..], now_ms, &row.payload])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Forgets a call's rows (its call log is stored).
    pub fn forget(&self, trace_id: &[u8; 16]) -> Result<(), StoreError> {
        self.lock()?
            .prepare_cached("DELETE FROM journal WHERE trace_id = ?1")?
            .execute(params![&trace_id[..]])?;
        Ok(())
    }

    /// Every row, in the order it was written.
    pub fn load(&self) -> Result<Vec<JournalRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare("SELECT trace_id, payload FROM journal ORDER BY id")?;
        let rows = stmt
            .query_map([], |row| {
                let trace: Vec<u8> = row.get(0)?;
                Ok((trace, row.get::<_, Vec<u8>>(1)?))
            })?
            .filter_map(|r| match r {
                Ok((trace, payload)) => {
                    let trace_id: [u8; 16] = trace.try_into().ok()?;
                    Some(Ok(JournalRow { trace_id, payload }))
                }
                Err(e) => Some(Err(e)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}
