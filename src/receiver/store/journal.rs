//! The span journal's table: every batch of spans (and call log records) accepted by ingest,
//! written before the exporter is told "accepted" and deleted when its call's log is stored. A
//! receiver that restarts (or crashes) replays what is left, so calls in flight finish whole.
//!
//! The journal shares the store's connection: SQLite takes one writer at a time anyway, and
//! one connection means no "database is locked" between our own writers.

use rusqlite::params;

use super::{Store, StoreError};

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

/// The journal table, over the store's connection.
#[derive(Debug, Clone)]
pub struct JournalTable {
    store: Store,
}

impl JournalTable {
    /// The journal of an open store.
    pub fn new(store: Store) -> JournalTable {
        JournalTable { store }
    }

    fn lock(&self) -> Result<std::sync::MutexGuard<'_, rusqlite::Connection>, StoreError> {
        self.store.lock()
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

    /// Forgets the rows of calls whose call logs are stored, in one transaction.
    pub fn forget_all(&self, trace_ids: &[[u8; 16]]) -> Result<(), StoreError> {
        if trace_ids.is_empty() {
            return Ok(());
        }
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM journal WHERE trace_id = ?1")?;
            for trace_id in trace_ids {
                delete.execute(params![&trace_id[..]])?;
            }
        }
        tx.commit()?;
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
