//! The outbox in PostgreSQL, shared by every receiver of the fleet, delivered once across it.
//!
//! A claim takes due entries with `FOR UPDATE SKIP LOCKED` (two receivers claiming at once take
//! different entries) and marks them with the claimant (`claimed_by`) and a lease
//! (`lease_until_ms`), which the claimant renews while it lives (`renew`). A receiver that dies
//! stops renewing; once its lease has passed its entries are due again for everyone, and
//! [`Postgres::next_due_ms`] counts the lease's end as their due time, so the others wake up for
//! them. Order per call holds across receivers: an entry is due only when no earlier live entry
//! of its call remains, claimed or not.
//!
//! Settling: a delivered entry is deleted whoever claimed it (it was delivered); a retry or a
//! dead letter is recorded only by the entry's current claimant (a receiver whose lease ran out
//! mid-attempt does not undo the new claimant's state).

use std::collections::BTreeMap;
use std::sync::Arc;

use deadpool_postgres::{Pool, Transaction};

use super::calls::insert_call_log;
use super::{client, execute, notify, query, query_one, Postgres};
use crate::receiver::calllog::CallUpdate;
use crate::receiver::store::calls::Inserted;
use crate::receiver::store::outbox::{
    cut, DeadLetter, Enqueue, OutboxEntry, Payload, Settle, SinkStats, LIVE_REVISION,
};
use crate::receiver::store::{now_ms, StoreError};

/// Pushes the lease of every entry `receiver` holds to `until_ms`.
pub(super) async fn renew(pool: &Pool, receiver: &str, until_ms: i64) -> Result<u64, StoreError> {
    execute(
        pool,
        "UPDATE outbox SET lease_until_ms = $2 WHERE claimed_by = $1",
        &[&receiver, &until_ms],
    )
    .await
}

/// One update inside a transaction; a call log stored is announced to the fleet (at commit)
/// as stored by `receiver`.
async fn store_one(
    tx: &Transaction<'_>,
    receiver: &str,
    update: &CallUpdate,
    entries: &[Enqueue],
    now_ms: i64,
) -> Result<usize, StoreError> {
    let (revision, payload) = match update {
        CallUpdate::Finished(log) => {
            if insert_call_log(tx, log, now_ms).await? == Inserted::Unchanged {
                return Ok(0);
            }
            notify::announce(tx, receiver, log).await?;
            (log.revision as i32, None)
        }
        live => (LIVE_REVISION as i32, Some(serde_json::to_string(live)?)),
    };
    let insert = tx
        .prepare_cached(
            "INSERT INTO outbox (sink, call_id, trace_id, revision, event, payload,
                                 created_ms, enqueued_ms, next_attempt_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $7)",
        )
        .await?;
    for e in entries {
        tx.execute(
            &insert,
            &[
                &e.sink,
                &update.call_id(),
                &update.trace_id(),
                &revision,
                &e.event,
                &payload,
                &now_ms,
            ],
        )
        .await?;
    }
    Ok(entries.len())
}

/// Delivered entries leave the outbox; each (sink, call) records the latest revision it got and
/// each sink its count, in three statements whatever the number of entries.
async fn settle_delivered(tx: &Transaction<'_>, ids: &[i64], now: i64) -> Result<(), StoreError> {
    let rows = tx
        .query(
            &tx.prepare_cached(
                "DELETE FROM outbox WHERE id = ANY($1) RETURNING sink, call_id, trace_id, revision",
            )
            .await?,
            &[&ids],
        )
        .await?;
    // One row per (sink, call, trace) and per sink: an upsert may not touch a row twice.
    let mut latest: BTreeMap<(String, String, String), i32> = BTreeMap::new();
    let mut per_sink: BTreeMap<String, i64> = BTreeMap::new();
    for row in &rows {
        let (sink, call_id, trace_id, revision): (String, String, String, i32) =
            (row.get(0), row.get(1), row.get(2), row.get(3));
        *per_sink.entry(sink.clone()).or_default() += 1;
        let seen = latest.entry((sink, call_id, trace_id)).or_insert(revision);
        *seen = (*seen).max(revision);
    }
    let (mut sinks, mut calls, mut traces, mut revisions) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for ((sink, call_id, trace_id), revision) in latest {
        sinks.push(sink);
        calls.push(call_id);
        traces.push(trace_id);
        revisions.push(revision);
    }
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO deliveries (sink, call_id, trace_id, revision, delivered_ms)
             SELECT s, c, t, r, $5
             FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::INTEGER[]) AS d (s, c, t, r)
             ON CONFLICT (sink, call_id, trace_id) DO UPDATE SET
                 revision = GREATEST(deliveries.revision, excluded.revision),
                 delivered_ms = excluded.delivered_ms",
        )
        .await?,
        &[&sinks, &calls, &traces, &revisions, &now],
    )
    .await?;
    let (names, counts): (Vec<String>, Vec<i64>) = per_sink.into_iter().unzip();
    // A sink the store was never told about (entries enqueued by hand) is counted under an
    // unknown kind rather than lose the count.
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO sinks (name, kind, delivered)
             SELECT n, '?', k FROM UNNEST($1::TEXT[], $2::BIGINT[]) AS d (n, k)
             ON CONFLICT (name) DO UPDATE SET delivered = sinks.delivered + excluded.delivered",
        )
        .await?,
        &[&names, &counts],
    )
    .await?;
    Ok(())
}

impl Postgres {
    pub(super) fn store_updates(
        &self,
        updates: &[(&CallUpdate, &[Enqueue])],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let updates: Vec<(CallUpdate, Vec<Enqueue>)> = updates
            .iter()
            .map(|(u, e)| ((*u).clone(), e.to_vec()))
            .collect();
        notify::note_stored(&self.known, updates.iter().map(|(u, _)| u), now_ms);
        let receiver = self.receiver.clone();
        self.run(|pool| async move {
            let mut conn = client(&pool).await?;
            let tx = conn.transaction().await?;
            let mut enqueued = 0;
            for (update, entries) in &updates {
                enqueued += store_one(&tx, &receiver, update, entries, now_ms).await?;
            }
            tx.commit().await?;
            Ok(enqueued)
        })
    }

    pub(super) fn register_sinks(&self, sinks: &[(&str, &str)]) -> Result<(), StoreError> {
        let sinks: Vec<(String, String)> = sinks
            .iter()
            .map(|(n, k)| (n.to_string(), k.to_string()))
            .collect();
        self.run(|pool| async move {
            let mut conn = client(&pool).await?;
            let tx = conn.transaction().await?;
            for (name, kind) in &sinks {
                tx.execute(
                    &tx.prepare_cached(
                        "INSERT INTO sinks (name, kind) VALUES ($1, $2)
                     ON CONFLICT (name) DO UPDATE SET kind = excluded.kind",
                    )
                    .await?,
                    &[name, kind],
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        })
    }

    pub(super) fn release_in_flight(&self, sink: &str, now_ms: i64) -> Result<usize, StoreError> {
        let (sink, me) = (sink.to_owned(), self.receiver.clone());
        self.run(|pool| async move {
            let n = execute(
                &pool,
                "UPDATE outbox SET claimed_by = NULL, lease_until_ms = NULL,
                                       next_attempt_ms = LEAST(next_attempt_ms, $2)
                     WHERE sink = $1 AND claimed_by = $3",
                &[&sink, &now_ms, &me],
            )
            .await?;
            Ok(n as usize)
        })
    }

    pub(super) fn release(&self, ids: &[i64], now_ms: i64) -> Result<(), StoreError> {
        let (ids, me) = (ids.to_vec(), self.receiver.clone());
        self.run(|pool| async move {
            execute(
                &pool,
                "UPDATE outbox SET claimed_by = NULL, lease_until_ms = NULL,
                                       next_attempt_ms = LEAST(next_attempt_ms, $2)
                     WHERE id = ANY($1) AND claimed_by = $3",
                &[&ids, &now_ms, &me],
            )
            .await?;
            Ok(())
        })
    }

    pub(super) fn claim_due(
        &self,
        sink: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxEntry>, StoreError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let (sink, me, lease_until) = (
            sink.to_owned(),
            self.receiver.clone(),
            now_ms + self.lease_ms,
        );
        self.run(|pool| async move {
            let mut conn = client(&pool).await?;
            let tx = conn.transaction().await?;
            let limit = limit as i64;
            let mut rows = tx
                .query(
                    &tx.prepare_cached(
                        "WITH due AS (
                         SELECT c.id FROM outbox c
                         WHERE c.sink = $1 AND NOT c.dead AND c.next_attempt_ms <= $2
                           AND (c.claimed_by IS NULL OR c.lease_until_ms < $2)
                           AND NOT EXISTS (SELECT 1 FROM outbox p
                                           WHERE p.sink = c.sink AND p.call_id = c.call_id
                                             AND NOT p.dead AND p.id < c.id)
                         ORDER BY c.id LIMIT $3
                         FOR UPDATE SKIP LOCKED)
                     UPDATE outbox o SET claimed_by = $4, lease_until_ms = $5
                     FROM due WHERE o.id = due.id
                     RETURNING o.id, o.call_id, o.trace_id, o.revision, o.event, o.payload,
                               o.attempts, o.created_ms, o.enqueued_ms,
                               (SELECT l.body FROM call_logs l
                                WHERE o.payload IS NULL AND l.call_id = o.call_id
                                  AND l.trace_id = o.trace_id AND l.revision = o.revision)",
                    )
                    .await?,
                    &[&sink, &now_ms, &limit, &me, &lease_until],
                )
                .await?;
            rows.sort_by_key(|row| row.get::<_, i64>(0));
            let mut claimed = Vec::with_capacity(rows.len());
            for row in rows {
                let id: i64 = row.get(0);
                let payload = match (
                    row.get::<_, Option<String>>(5),
                    row.get::<_, Option<String>>(9),
                ) {
                    (Some(p), _) => serde_json::from_str::<Box<CallUpdate>>(&p)
                        .map(Payload::Live)
                        .map_err(|e| format!("stored update does not parse: {e}")),
                    (None, Some(body)) => Ok(Payload::CallLog(Arc::from(body))),
                    // Cannot happen (the call log and its entries are written together), but an
                    // entry that can never be sent must not block its call forever.
                    (None, None) => Err("the call log of this entry is not in the store".into()),
                };
                let payload = match payload {
                    Ok(p) => p,
                    Err(reason) => {
                        tx.execute(
                            &tx.prepare_cached(
                                "UPDATE outbox SET dead = TRUE, claimed_by = NULL, last_error = $2
                             WHERE id = $1",
                            )
                            .await?,
                            &[&id, &reason],
                        )
                        .await?;
                        continue;
                    }
                };
                claimed.push(OutboxEntry {
                    id,
                    sink: sink.clone(),
                    call_id: row.get(1),
                    trace_id: row.get(2),
                    revision: row.get::<_, i32>(3) as u32,
                    event: row.get(4),
                    payload,
                    attempts: row.get::<_, i32>(6) as u32,
                    created_ms: row.get(7),
                    enqueued_ms: row.get(8),
                });
            }
            tx.commit().await?;
            Ok(claimed)
        })
    }

    pub(super) fn next_due_ms(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        let (sink, me) = (sink.to_owned(), self.receiver.clone());
        self.run(|pool| async move {
            // Another receiver's claim falls due when its lease ends (if it died, that is when
            // this one takes over); this receiver's own claims are in its hands.
            let row = query_one(
                &pool,
                "SELECT MIN(CASE WHEN o.claimed_by IS NULL THEN o.next_attempt_ms
                                     ELSE GREATEST(o.next_attempt_ms, o.lease_until_ms) END)
                     FROM outbox o
                     WHERE o.sink = $1 AND NOT o.dead
                       AND (o.claimed_by IS NULL OR o.claimed_by <> $2)
                       AND NOT EXISTS (SELECT 1 FROM outbox p
                                       WHERE p.sink = o.sink AND p.call_id = o.call_id
                                         AND NOT p.dead AND p.id < o.id)",
                &[&sink, &me],
            )
            .await?;
            Ok(row.get(0))
        })
    }

    pub(super) fn settle_all(&self, outcomes: &[(i64, Settle)]) -> Result<(), StoreError> {
        if outcomes.is_empty() {
            return Ok(());
        }
        let (outcomes, me) = (outcomes.to_vec(), self.receiver.clone());
        self.run(|pool| async move {
            let mut conn = client(&pool).await?;
            let tx = conn.transaction().await?;
            let now = now_ms();
            let delivered: Vec<i64> = outcomes
                .iter()
                .filter(|(_, o)| *o == Settle::Delivered)
                .map(|(id, _)| *id)
                .collect();
            if !delivered.is_empty() {
                settle_delivered(&tx, &delivered, now).await?;
            }
            for (id, outcome) in &outcomes {
                match outcome {
                    Settle::Delivered => {}
                    Settle::Retry {
                        at_ms,
                        status,
                        reason,
                    } => {
                        let status = status.map(i32::from);
                        tx.execute(
                            &tx.prepare_cached(
                                "UPDATE outbox SET claimed_by = NULL, lease_until_ms = NULL,
                                               attempts = attempts + 1, next_attempt_ms = $2,
                                               last_status = $3, last_error = $4
                             WHERE id = $1 AND claimed_by = $5",
                            )
                            .await?,
                            &[id, at_ms, &status, &cut(reason), &me],
                        )
                        .await?;
                    }
                    Settle::Dead { status, reason } => {
                        let status = status.map(i32::from);
                        tx.execute(
                            &tx.prepare_cached(
                                "UPDATE outbox SET claimed_by = NULL, lease_until_ms = NULL,
                                               dead = TRUE, attempts = attempts + 1,
                                               last_status = $2, last_error = $3
                             WHERE id = $1 AND claimed_by = $4",
                            )
                            .await?,
                            &[id, &status, &cut(reason), &me],
                        )
                        .await?;
                    }
                }
            }
            tx.commit().await?;
            Ok(())
        })
    }

    pub(super) fn dead_letters(&self, sink: &str) -> Result<Vec<DeadLetter>, StoreError> {
        let sink = sink.to_owned();
        self.run(|pool| async move {
            let rows = query(
                &pool,
                "SELECT id, sink, call_id, revision, event, attempts, last_status, last_error
                     FROM outbox WHERE sink = $1 AND dead ORDER BY id",
                &[&sink],
            )
            .await?;
            Ok(rows
                .iter()
                .map(|row| DeadLetter {
                    id: row.get(0),
                    sink: row.get(1),
                    call_id: row.get(2),
                    revision: row.get::<_, i32>(3) as u32,
                    event: row.get(4),
                    attempts: row.get::<_, i32>(5) as u32,
                    status: row
                        .get::<_, Option<i32>>(6)
                        .and_then(|s| u16::try_from(s).ok()),
                    reason: row.get::<_, Option<String>>(7).unwrap_or_default(),
                })
                .collect())
        })
    }

    pub(super) fn sink_stats(&self) -> Result<Vec<SinkStats>, StoreError> {
        self.run(|pool| async move {
            let rows = query(
                &pool,
                "SELECT s.name, s.kind, s.delivered,
                            COUNT(o.id) FILTER (WHERE NOT o.dead AND o.attempts = 0),
                            COUNT(o.id) FILTER (WHERE NOT o.dead AND o.attempts > 0),
                            COUNT(o.id) FILTER (WHERE o.dead)
                     FROM (SELECT name, kind, delivered FROM sinks
                           UNION ALL
                           SELECT DISTINCT sink, '?', 0 FROM outbox
                           WHERE sink NOT IN (SELECT name FROM sinks)) s
                     LEFT JOIN outbox o ON o.sink = s.name
                     GROUP BY s.name, s.kind, s.delivered
                     ORDER BY s.name",
                &[],
            )
            .await?;
            let count = |row: &tokio_postgres::Row, i: usize| row.get::<_, i64>(i).max(0) as u64;
            Ok(rows
                .iter()
                .map(|row| SinkStats {
                    name: row.get(0),
                    kind: row.get(1),
                    delivered: count(row, 2),
                    pending: count(row, 3),
                    retrying: count(row, 4),
                    dead: count(row, 5),
                })
                .collect())
        })
    }

    pub(super) fn retry_dead(&self, sink: &str) -> Result<usize, StoreError> {
        let sink = sink.to_owned();
        let now = now_ms();
        self.run(|pool| async move {
            let conn = client(&pool).await?;
            let known: bool = conn
                .query_one(
                    &conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM sinks WHERE name = $1)
                         OR EXISTS (SELECT 1 FROM outbox WHERE sink = $1)").await?,
                    &[&sink],
                )
                .await?
                .get(0);
            if !known {
                return Err(StoreError::UnknownSink(sink));
            }
            let n = conn
                .execute(
                    &conn.prepare_cached("UPDATE outbox SET dead = FALSE, claimed_by = NULL, lease_until_ms = NULL,
                                       attempts = 0, enqueued_ms = $2, next_attempt_ms = $2
                     WHERE sink = $1 AND dead").await?,
                    &[&sink, &now],
                )
                .await?;
            Ok(n as usize)
        })
    }

    pub(super) fn outbox_depth(&self) -> Result<u64, StoreError> {
        self.run(|pool| async move {
            let row = query_one(&pool, "SELECT COUNT(*) FROM outbox WHERE NOT dead", &[]).await?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
    }
}
