//! The span journal's table: every batch of spans (and call log records) accepted by ingest,
//! written before the exporter is told "accepted" and deleted when assembly lets its call go
//! (see `receiver::journal`). A receiver that restarts (or crashes) replays what is left, so
//! calls in flight finish whole.
//!
//! The journal shares the store's connection: SQLite takes one writer at a time anyway, and
//! one connection means no "database is locked" between our own writers.
//!
//! Which rows hold which call is kept in memory ([`JournalTable`] and its clones share it),
//! not in an index of the table: trace ids are random, so an index on them would make every
//! group commit rewrite index pages all over the file (a 512-span request from 200 calls
//! touches 200 of them). Without it a commit appends to the table's last pages, and a call's
//! rows are deleted by row id.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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

/// The row ids of each call's journal rows, ascending.
type RowsByCall = HashMap<[u8; 16], Vec<i64>>;

/// The journal table, over the store's connection. Use one per process (clones share what
/// they know of the rows): [`JournalTable::load`] first, then append and forget.
#[derive(Debug, Clone)]
pub struct JournalTable {
    store: Store,
    rows: Arc<Mutex<RowsByCall>>,
    /// Rows were deleted since [`JournalTable::take_forgotten`] last looked.
    forgotten: Arc<AtomicBool>,
}

impl JournalTable {
    /// The journal of an open store.
    pub fn new(store: Store) -> JournalTable {
        JournalTable {
            store,
            rows: Arc::default(),
            forgotten: Arc::default(),
        }
    }

    fn rows(&self) -> Result<std::sync::MutexGuard<'_, RowsByCall>, StoreError> {
        self.rows.lock().map_err(|_| StoreError::Poisoned)
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
        let mut written = Vec::with_capacity(groups.iter().map(Vec::len).sum());
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
                    written.push((row.trace_id, last));
                }
                positions.push(last);
            }
        }
        tx.commit()?;
        let mut rows = self.rows()?;
        for (trace_id, id) in written {
            rows.entry(trace_id).or_default().push(id);
        }
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
        let mut rows = self.rows()?;
        let mut forgotten = Vec::new();
        for (trace_id, upto) in calls {
            if let Some(ids) = rows.get_mut(trace_id) {
                let n = ids.partition_point(|id| id <= upto);
                forgotten.extend(ids.drain(..n));
                if ids.is_empty() {
                    rows.remove(trace_id);
                }
            }
        }
        let tx = conn.transaction()?;
        {
            let mut delete = tx.prepare_cached("DELETE FROM journal WHERE id = ?1")?;
            for id in &forgotten {
                delete.execute(params![id])?;
            }
        }
        tx.commit()?;
        if !forgotten.is_empty() {
            self.forgotten.store(true, Ordering::Release);
        }
        Ok(())
    }

    /// Whether rows were deleted since the last call (what a scrub of the store waits for).
    pub fn take_forgotten(&self) -> bool {
        self.forgotten.swap(false, Ordering::AcqRel)
    }

    /// Says again that rows were deleted (a scrub that could not be done).
    pub fn mark_forgotten(&self) {
        self.forgotten.store(true, Ordering::Release);
    }

    /// Rows in the journal, from what this table (and its clones) wrote and loaded: no query.
    pub fn depth(&self) -> Result<u64, StoreError> {
        Ok(self.rows()?.values().map(Vec::len).sum::<usize>() as u64)
    }

    /// The position of the last row written (0 when the journal is empty).
    pub fn position(&self) -> Result<i64, StoreError> {
        Ok(self
            .lock()?
            .query_row("SELECT COALESCE(MAX(id), 0) FROM journal", [], |r| r.get(0))?)
    }

    /// Every row, in the order it was written (and which rows hold which call, for
    /// [`JournalTable::forget_upto`]).
    pub fn load(&self) -> Result<Vec<JournalRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare("SELECT id, trace_id, payload FROM journal ORDER BY id")?;
        let loaded = stmt
            .query_map([], |row| {
                let trace: Vec<u8> = row.get(1)?;
                Ok((row.get::<_, i64>(0)?, trace, row.get::<_, Vec<u8>>(2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut by_call = self.rows()?;
        by_call.clear();
        let mut rows = Vec::with_capacity(loaded.len());
        for (id, trace, payload) in loaded {
            // A row whose trace id is not 16 bytes was not written by us: skipped.
            let Ok(trace_id) = <[u8; 16]>::try_from(trace) else {
                continue;
            };
            by_call.entry(trace_id).or_default().push(id);
            rows.push(JournalRow { trace_id, payload });
        }
        Ok(rows)
    }
}
