//! The span journal's table: every batch of spans (and call log records) accepted by ingest,
//! written before the exporter is told "accepted" and deleted when assembly lets its call go
//! (see `receiver::journal`). A receiver that restarts (or crashes) replays what is left, so
//! calls in flight finish whole.
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

    /// Appends groups of rows in one transaction (one fsync for a whole group of requests).
    /// Returns, for each group, the journal's position after it (the id of its last row, or of
    /// the row before when it has none): what [`JournalTable::forget_upto`] takes.
    pub fn append(&self, groups: &[Vec<JournalRow>], now_ms: i64) -> Result<Vec<i64>, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let mut positions = Vec::with_capacity(groups.len());
        {
            let mut insert = tx.prepare_cached(
                "INSERT INTO journal (trace_id, received_ms, payload) VALUES (?1, ?2, ?3)",
            )?;
            let mut last: i64 =
                tx.query_row("SELECT COALESCE(MAX(id), 0) FROM journal", [], |r| r.get(0))?;
            for rows in groups {
                for row in rows {
                    insert.execute(params![&row.trace_id[..], now_ms, &row.payload])?;
                    last = tx.last_insert_rowid();
                }
                positions.push(last);
            }
        }
        tx.commit()?;
        Ok(positions)
    }

    /// Forgets, in one transaction, the rows of each call written up to a position (see
    /// [`JournalTable::append`]): rows written after it belong to spans assembly had not
    /// seen when it let the call go, and stay.
    pub fn forget_upto(&self, calls: &[([u8; 16], i64)]) -> Result<(), StoreError> {
        if calls.is_empty() {
            return Ok(());
        }
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            let mut delete =
                tx.prepare_cached("DELETE FROM journal WHERE trace_id = ?1 AND id <= ?2")?;
            for (trace_id, upto) in calls {
                delete.execute(params![&trace_id[..], upto])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// The position of the last row written (0 when the journal is empty).
    pub fn position(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()?
            .query_row("SELECT COALESCE(MAX(id), 0) FROM journal", [], |r| r.get(0))?)
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
