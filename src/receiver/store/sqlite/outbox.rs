//! The outbox in SQLite: one queue per sink of what it still has to deliver (its types and life:
//! [`crate::receiver::store::outbox`]).
//!
//! An entry is one request to one sink (one call log revision, or one webhook event). Its life:
//! enqueued with its call log ([`Sqlite::store_update`]) → claimed by the sink's delivery loop
//! ([`Sqlite::claim_due`], `in_flight`) → settled ([`Sqlite::settle_all`], many attempts in one
//! transaction): delivered (the row leaves the outbox and the sink's `delivered` count grows),
//! or scheduled again, or parked as a dead letter with the status and reason until
//! [`Sqlite::retry_dead`].
//!
//! Order: an entry is due only when no earlier live (not dead) entry of the same call and sink
//! remains, so the revisions and events of one call reach a sink in the order they were stored.

use std::sync::Arc;

use rusqlite::{params, OptionalExtension};

use super::calls::insert_call_log;
use super::Sqlite;
use crate::receiver::calllog::CallUpdate;
use crate::receiver::store::calls::Inserted;
use crate::receiver::store::outbox::{
    cut, DeadLetter, Enqueue, OutboxEntry, Payload, Settle, SinkStats, LIVE_REVISION,
};
use crate::receiver::store::{now_ms, StoreError};

impl Sqlite {
    /// [`Sqlite::store_update`] for several updates in one transaction (one commit for a burst
    /// of call logs), in order. Returns the entries enqueued.
    pub fn store_updates(
        &self,
        updates: &[(&CallUpdate, &[Enqueue])],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let mut enqueued = 0;
        for (update, entries) in updates {
            enqueued += store_one(&tx, update, entries, now_ms)?;
        }
        tx.commit()?;
        Ok(enqueued)
    }

    /// Makes the sinks known to the store (name and kind), so `sink_stats` lists them even
    /// before their first delivery.
    pub fn register_sinks(&self, sinks: &[(&str, &str)]) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        for (name, kind) in sinks {
            tx.execute(
                "INSERT INTO sinks (name, kind) VALUES (?1, ?2)
                 ON CONFLICT (name) DO UPDATE SET kind = excluded.kind",
                params![name, kind],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Makes the entries a stopped process had claimed due again (at the forwarder's start:
    /// whatever was in flight when the receiver stopped is sent again, at least once).
    pub fn release_in_flight(&self, sink: &str, now_ms: i64) -> Result<usize, StoreError> {
        let conn = self.lock()?;
        Ok(conn.execute(
            "UPDATE outbox SET in_flight = 0, next_attempt_ms = MIN(next_attempt_ms, ?2)
             WHERE sink = ?1 AND in_flight = 1",
            params![sink, now_ms],
        )?)
    }

    /// Puts claimed entries back, due at `now_ms` (entries whose delivery was abandoned at
    /// shutdown). Entries already settled are left alone.
    pub fn release(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        for id in ids {
            tx.execute(
                "UPDATE outbox SET in_flight = 0, next_attempt_ms = MIN(next_attempt_ms, ?2)
                 WHERE id = ?1 AND in_flight = 1",
                params![id, now_ms],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Claims up to `limit` entries of `sink` that are due at `now_ms` and not held back by an
    /// earlier entry of the same call, oldest first; they are `in_flight` until settled.
    pub fn claim_due(
        &self,
        sink: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        let rows = {
            let mut stmt = tx.prepare_cached(
                // The due ids first (walking the sink's live entries in order, stopping at the
                // limit), then their bodies: reading call log bodies only for the entries
                // claimed keeps a claim cheap however deep the outbox is.
                "SELECT o.id, o.call_id, o.revision, o.event, o.payload, l.body,
                        o.attempts, o.created_ms, o.enqueued_ms, o.trace_id
                 FROM (SELECT c.id FROM outbox c INDEXED BY outbox_live_in_order
                       WHERE c.sink = ?1 AND c.dead = 0 AND c.in_flight = 0
                         AND c.next_attempt_ms <= ?2
                         AND NOT EXISTS (SELECT 1 FROM outbox p
                                         WHERE p.sink = c.sink AND p.call_id = c.call_id
                                           AND p.dead = 0 AND p.id < c.id)
                       ORDER BY c.id
                       LIMIT ?3) due
                 JOIN outbox o ON o.id = due.id
                 LEFT JOIN call_logs l
                   ON o.payload IS NULL AND l.call_id = o.call_id AND l.trace_id = o.trace_id
                      AND l.revision = o.revision
                 ORDER BY o.id",
            )?;
            let rows = stmt
                .query_map(params![sink, now_ms, limit as i64], |row| {
                    Ok((
                        row.get::<_, i64>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, u32>(2)?,
                        row.get::<_, String>(3)?,
                        row.get::<_, Option<String>>(4)?,
                        row.get::<_, Option<String>>(5)?,
                        row.get::<_, u32>(6)?,
                        row.get::<_, i64>(7)?,
                        row.get::<_, i64>(8)?,
                        row.get::<_, String>(9)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows
        };
        let mut claimed = Vec::with_capacity(rows.len());
        for (
            id,
            call_id,
            revision,
            event,
            payload,
            body,
            attempts,
            created_ms,
            enqueued_ms,
            trace_id,
        ) in rows
        {
            let payload = match (payload, body) {
                (Some(p), _) => serde_json::from_str::<Box<CallUpdate>>(&p).map(Payload::Live),
                // Not decoded here: the sinks that read it typed decode it.
                (None, Some(b)) => Ok(Payload::CallLog(Arc::from(b))),
                (None, None) => {
                    // Cannot happen (the call log and its entries are written together), but
                    // an entry that can never be sent must not block its call forever.
                    tx.execute(
                        "UPDATE outbox SET dead = 1, last_error = ?2 WHERE id = ?1",
                        params![id, "the call log of this entry is not in the store"],
                    )?;
                    continue;
                }
            };
            let payload = match payload {
                Ok(p) => p,
                Err(e) => {
                    tx.execute(
                        "UPDATE outbox SET dead = 1, last_error = ?2 WHERE id = ?1",
                        params![id, format!("stored update does not parse: {e}")],
                    )?;
                    continue;
                }
            };
            tx.prepare_cached("UPDATE outbox SET in_flight = 1 WHERE id = ?1")?
                .execute(params![id])?;
            claimed.push(OutboxEntry {
                id,
                sink: sink.to_string(),
                call_id,
                trace_id,
                revision,
                event,
                payload,
                attempts,
                created_ms,
                enqueued_ms,
            });
        }
        tx.commit()?;
        Ok(claimed)
    }

    /// When the next entry of `sink` that is not in flight nor held back falls due (Unix ms),
    /// if any.
    pub fn next_due_ms(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        let conn = self.lock()?;
        Ok(conn.query_row(
            "SELECT MIN(o.next_attempt_ms) FROM outbox o
             WHERE o.sink = ?1 AND o.dead = 0 AND o.in_flight = 0
               AND NOT EXISTS (SELECT 1 FROM outbox p
                               WHERE p.sink = o.sink AND p.call_id = o.call_id
                                 AND p.dead = 0 AND p.id < o.id)",
            params![sink],
            |row| row.get(0),
        )?)
    }

    /// Records the outcomes of many attempts in ONE transaction: delivered entries leave the
    /// outbox (their sinks' `delivered` counts grow, `deliveries` keeps the latest revision each
    /// sink received of each call), retried ones are due again at their
    /// time, dead ones are parked. A delivery loop settles every attempt that ended since its
    /// last look at once, so a busy sink costs one commit per group, not per entry.
    pub fn settle_all(&self, outcomes: &[(i64, Settle)]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        {
            let mut delete = tx.prepare_cached(
                "DELETE FROM outbox WHERE id = ?1 RETURNING sink, call_id, trace_id, revision",
            )?;
            let mut received = tx.prepare_cached(
                "INSERT INTO deliveries (sink, call_id, trace_id, revision, delivered_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (sink, call_id, trace_id) DO UPDATE SET
                     revision = MAX(deliveries.revision, excluded.revision),
                     delivered_ms = excluded.delivered_ms",
            )?;
            let now = now_ms();
            let mut retry = tx.prepare_cached(
                "UPDATE outbox SET in_flight = 0, attempts = attempts + 1, next_attempt_ms = ?2,
                                   last_status = ?3, last_error = ?4
                 WHERE id = ?1",
            )?;
            let mut dead = tx.prepare_cached(
                "UPDATE outbox SET in_flight = 0, dead = 1, attempts = attempts + 1,
                                   last_status = ?2, last_error = ?3
                 WHERE id = ?1",
            )?;
            let mut delivered: Vec<(String, i64)> = Vec::new();
            for (id, outcome) in outcomes {
                match outcome {
                    Settle::Delivered => {
                        let entry: Option<(String, String, String, u32)> = delete
                            .query_row(params![id], |row| {
                                Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                            })
                            .optional()?;
                        if let Some((sink, call_id, trace_id, revision)) = entry {
                            received.execute(params![sink, call_id, trace_id, revision, now])?;
                            match delivered.iter_mut().find(|(s, _)| *s == sink) {
                                Some((_, n)) => *n += 1,
                                None => delivered.push((sink, 1)),
                            }
                        }
                    }
                    Settle::Retry {
                        at_ms,
                        status,
                        reason,
                    } => {
                        retry.execute(params![id, at_ms, status, cut(reason)])?;
                    }
                    Settle::Dead { status, reason } => {
                        dead.execute(params![id, status, cut(reason)])?;
                    }
                }
            }
            let mut count =
                tx.prepare_cached("UPDATE sinks SET delivered = delivered + ?2 WHERE name = ?1")?;
            for (sink, n) in delivered {
                if count.execute(params![sink, n])? == 0 {
                    // A sink the store was never told about (entries enqueued by hand): count
                    // it under an unknown kind rather than lose the count.
                    tx.execute(
                        "INSERT INTO sinks (name, kind, delivered) VALUES (?1, '?', ?2)",
                        params![sink, n],
                    )?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// A sink's dead letters, oldest first.
    pub fn dead_letters(&self, sink: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT id, sink, call_id, revision, event, attempts, last_status, last_error
             FROM outbox WHERE sink = ?1 AND dead = 1 ORDER BY id",
        )?;
        let letters = stmt
            .query_map(params![sink], |row| {
                Ok(DeadLetter {
                    id: row.get(0)?,
                    sink: row.get(1)?,
                    call_id: row.get(2)?,
                    revision: row.get(3)?,
                    event: row.get(4)?,
                    attempts: row.get(5)?,
                    status: row.get(6)?,
                    reason: row.get::<_, Option<String>>(7)?.unwrap_or_default(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(letters)
    }

    /// Each known sink's delivered / pending / retrying / dead counts, by name.
    pub fn sink_stats(&self) -> Result<Vec<SinkStats>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare(
            "SELECT s.name, s.kind, s.delivered,
                    COALESCE(SUM(o.dead = 0 AND o.attempts = 0), 0),
                    COALESCE(SUM(o.dead = 0 AND o.attempts > 0), 0),
                    COALESCE(SUM(o.dead = 1), 0)
             FROM (SELECT name, kind, delivered FROM sinks
                   UNION ALL
                   SELECT DISTINCT sink, '?', 0 FROM outbox
                   WHERE sink NOT IN (SELECT name FROM sinks)) s
             LEFT JOIN outbox o ON o.sink = s.name
             GROUP BY s.name, s.kind, s.delivered
             ORDER BY s.name",
        )?;
        let stats = stmt
            .query_map([], |row| {
                Ok(SinkStats {
                    name: row.get(0)?,
                    kind: row.get(1)?,
                    delivered: row.get::<_, i64>(2)?.max(0) as u64,
                    pending: row.get::<_, i64>(3)?.max(0) as u64,
                    retrying: row.get::<_, i64>(4)?.max(0) as u64,
                    dead: row.get::<_, i64>(5)?.max(0) as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(stats)
    }

    /// Re-queues a sink's dead letters: due now, attempts and age counted afresh. Returns how
    /// many. A running forwarder picks them up at its next poll (or at once through
    /// [`crate::receiver::forward::Forwarder::retry_dead`]).
    pub fn retry_dead(&self, sink: &str) -> Result<usize, StoreError> {
        let now = now_ms();
        let conn = self.lock()?;
        let known: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM sinks WHERE name = ?1)
                 OR EXISTS (SELECT 1 FROM outbox WHERE sink = ?1)",
            params![sink],
            |row| row.get(0),
        )?;
        if !known {
            return Err(StoreError::UnknownSink(sink.to_string()));
        }
        Ok(conn.execute(
            "UPDATE outbox SET dead = 0, in_flight = 0, attempts = 0,
                               enqueued_ms = ?2, next_attempt_ms = ?2
             WHERE sink = ?1 AND dead = 1",
            params![sink, now],
        )?)
    }

    /// Entries not yet delivered nor dead, over all sinks.
    pub fn outbox_depth(&self) -> Result<u64, StoreError> {
        let conn = self.lock()?;
        let n: i64 = conn.query_row("SELECT COUNT(*) FROM outbox WHERE dead = 0", [], |row| {
            row.get(0)
        })?;
        Ok(n.max(0) as u64)
    }
}

/// One update inside a transaction (see [`Sqlite::store_update`]).
fn store_one(
    tx: &rusqlite::Transaction<'_>,
    update: &CallUpdate,
    entries: &[Enqueue],
    now_ms: i64,
) -> Result<usize, StoreError> {
    let (revision, payload) = match update {
        CallUpdate::Finished(log) => {
            if insert_call_log(tx, log, now_ms)? == Inserted::Unchanged {
                return Ok(0);
            }
            (log.revision, None)
        }
        live => (LIVE_REVISION, Some(serde_json::to_string(live)?)),
    };
    let mut insert = tx.prepare_cached(
        "INSERT INTO outbox (sink, call_id, trace_id, revision, event, payload,
                             created_ms, enqueued_ms, next_attempt_ms)
         VALUES (?1, ?2, ?7, ?3, ?4, ?5, ?6, ?6, ?6)",
    )?;
    for e in entries {
        insert.execute(params![
            e.sink,
            update.call_id(),
            revision,
            e.event,
            payload,
            now_ms,
            update.trace_id()
        ])?;
    }
    Ok(entries.len())
}
