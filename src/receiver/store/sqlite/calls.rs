//! Call logs: stored by (call id, trace id, revision): a call is one trace, and two traces that
//! share a call id are two calls. Read back as the latest revision of one call (the most recent
//! call of an id, or the one of a given trace), or as pages of calls newest first with filters
//! and an opaque keyset cursor.

use super::{index, Sqlite};
use crate::receiver::calllog::{CallLog, CallPage, CallQuery, SameIdCall};
use crate::receiver::store::calls::{
    decode_cursor, encode_cursor, rfc3339_ms, Cursor, IndexRows, Inserted, DEFAULT_PAGE, MAX_PAGE,
};
use crate::receiver::store::StoreError;
use rusqlite::{params, OptionalExtension, Transaction};

/// Stores one revision of a call log and points `calls` at the latest revision.
pub(super) fn insert_call_log(
    tx: &Transaction<'_>,
    log: &CallLog,
    now_ms: i64,
) -> Result<Inserted, StoreError> {
    let body = serde_json::to_string(log)?;
    let started_at_ms = rfc3339_ms(&log.started_at);
    let existing: Option<String> = tx
        .prepare_cached(
            "SELECT body FROM call_logs WHERE call_id = ?1 AND trace_id = ?2 AND revision = ?3",
        )?
        .query_row(params![log.id, log.trace_id, log.revision], |row| {
            row.get(0)
        })
        .optional()?;
    let inserted = match existing {
        Some(old) if old == body => return Ok(Inserted::Unchanged),
        Some(_) => Inserted::Replaced,
        None => Inserted::New,
    };
    tx.prepare_cached(
        "INSERT INTO call_logs
             (call_id, revision, trace_id, agent_id, status, started_at_ms, stored_at_ms, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (call_id, trace_id, revision) DO UPDATE SET
             agent_id = excluded.agent_id,
             status = excluded.status, started_at_ms = excluded.started_at_ms,
             stored_at_ms = excluded.stored_at_ms, body = excluded.body",
    )?
    .execute(params![
        log.id,
        log.revision,
        log.trace_id,
        log.agent_id,
        log.status.as_str(),
        started_at_ms,
        now_ms,
        body
    ])?;
    let latest = tx
        .prepare_cached(
            "INSERT INTO calls (call_id, trace_id, revision, agent_id, status, started_at_ms)
             VALUES (?1, ?6, ?2, ?3, ?4, ?5)
             ON CONFLICT (call_id, trace_id) DO UPDATE SET
                 revision = excluded.revision, agent_id = excluded.agent_id,
                 status = excluded.status, started_at_ms = excluded.started_at_ms
             WHERE excluded.revision >= calls.revision",
        )?
        .execute(params![
            log.id,
            log.revision,
            log.agent_id,
            log.status.as_str(),
            started_at_ms,
            log.trace_id
        ])?;
    if latest > 0 {
        index::refresh(
            tx,
            log,
            started_at_ms,
            IndexRows::before(log.revision, inserted),
        )?;
    }
    Ok(inserted)
}

/// The latest revision of every call, with the columns lists filter on.
/// The statement of [`Sqlite::latest_call_body`] (run for every call log stored).
pub(super) const LATEST_CALL_BODY: &str =
    "SELECT revision, body FROM call_logs WHERE call_id = ?1 AND trace_id = ?2
     ORDER BY revision DESC LIMIT 1";

const LATEST: &str = "calls c JOIN call_logs l
    ON l.call_id = c.call_id AND l.trace_id = c.trace_id AND l.revision = c.revision";

impl Sqlite {
    /// The latest revision of a call's log: of the call of `trace_id` when given, else of the
    /// most recent call with this id (by start time).
    pub fn latest_call(
        &self,
        call_id: &str,
        trace_id: Option<&str>,
    ) -> Result<Option<CallLog>, StoreError> {
        let conn = self.lock()?;
        let body: Option<String> = conn
            .prepare_cached(&format!(
                "SELECT l.body FROM {LATEST}
                 WHERE c.call_id = ?1 AND (?2 IS NULL OR c.trace_id = ?2)
                 ORDER BY c.started_at_ms DESC, c.trace_id DESC LIMIT 1"
            ))?
            .query_row(params![call_id, trace_id], |row| row.get(0))
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// Every call stored with this call id, newest first: its trace id and start time.
    pub fn same_id_calls(&self, call_id: &str) -> Result<Vec<SameIdCall>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT l.trace_id, json_extract(l.body, '$.startedAt') FROM calls c JOIN call_logs l
                 ON l.call_id = c.call_id AND l.trace_id = c.trace_id AND l.revision = c.revision
             WHERE c.call_id = ?1 ORDER BY c.started_at_ms DESC, c.trace_id DESC",
        )?;
        let calls = stmt
            .query_map(params![call_id], |row| {
                Ok(SameIdCall {
                    trace_id: row.get(0)?,
                    started_at: row.get::<_, Option<String>>(1)?.unwrap_or_default(),
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(calls)
    }

    /// The latest stored revision of a call and its call log's JSON exactly as stored (to tell
    /// whether a call log built again, after a restart, says anything new).
    pub fn latest_call_body(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<(u32, String)>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(LATEST_CALL_BODY)?;
        Ok(stmt
            .query_row(params![call_id, trace_id], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?)
    }

    /// The latest stored revision of a call, without reading its call log.
    pub fn latest_revision(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<u32>, StoreError> {
        let conn = self.lock()?;
        let mut stmt =
            conn.prepare_cached("SELECT revision FROM calls WHERE call_id = ?1 AND trace_id = ?2")?;
        Ok(stmt
            .query_row(params![call_id, trace_id], |row| row.get(0))
            .optional()?)
    }

    /// One revision of a call's log.
    pub fn call_revision(
        &self,
        call_id: &str,
        trace_id: &str,
        revision: u32,
    ) -> Result<Option<CallLog>, StoreError> {
        let conn = self.lock()?;
        let body: Option<String> = conn
            .query_row(
                "SELECT body FROM call_logs
                 WHERE call_id = ?1 AND trace_id = ?2 AND revision = ?3",
                params![call_id, trace_id, revision],
                |row| row.get(0),
            )
            .optional()?;
        Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
    }

    /// The revisions stored for a call id, over all its calls (traces), ascending.
    pub fn revisions(&self, call_id: &str) -> Result<Vec<u32>, StoreError> {
        let conn = self.lock()?;
        let mut stmt =
            conn.prepare("SELECT revision FROM call_logs WHERE call_id = ?1 ORDER BY revision")?;
        let revisions = stmt
            .query_map(params![call_id], |row| row.get(0))?
            .collect::<Result<Vec<u32>, _>>()?;
        Ok(revisions)
    }

    /// A page of calls, newest first (by start time, then call id), latest revision of each,
    /// filtered as `q` says (every filter of [`CallQuery`], each an indexed condition).
    /// `q.limit` 0 means 20; at most 1000.
    pub fn list_calls(&self, q: &CallQuery) -> Result<CallPage, StoreError> {
        let (calls, next_cursor) = self.page(q, "l.body", LATEST, |row| {
            Ok(serde_json::from_str::<CallLog>(&row.get::<_, String>(0)?))
        })?;
        let calls = calls.into_iter().collect::<Result<Vec<_>, _>>()?;
        Ok(CallPage { calls, next_cursor })
    }

    /// One page of `SELECT {columns} FROM {from} WHERE <q's filters> ORDER BY newest LIMIT`
    /// (`from` names the latest calls `c`), each row read by `read` (the cursor's columns
    /// follow the caller's), and the next page's cursor.
    pub(super) fn page<T>(
        &self,
        q: &CallQuery,
        columns: &str,
        from: &str,
        read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    ) -> Result<(Vec<T>, Option<String>), StoreError> {
        let limit = match q.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let filter = Filter::of(q, after.as_ref());
        let sql = format!(
            "SELECT {columns}, c.started_at_ms, c.trace_id, c.call_id FROM {from}
             {} ORDER BY c.started_at_ms DESC, c.call_id DESC, c.trace_id DESC LIMIT {}",
            filter.clause,
            limit + 1
        );
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(&sql)?;
        let cursor_at = stmt.column_count() - 3;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(filter.params.iter()), |row| {
                Ok((
                    read(row)?,
                    Cursor {
                        started_at_ms: row.get(cursor_at)?,
                        trace_id: row.get(cursor_at + 1)?,
                        call_id: row.get(cursor_at + 2)?,
                    },
                ))
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() > limit;
        let mut items = Vec::with_capacity(limit.min(rows.len()));
        let mut last = None;
        for (item, cursor) in rows.into_iter().take(limit) {
            items.push(item);
            last = Some(cursor);
        }
        let next = match (more, last) {
            (true, Some(c)) => Some(encode_cursor(&c)),
            _ => None,
        };
        Ok((items, next))
    }
}

/// The `WHERE` of a list query: only the filters given, each an indexed condition, and their
/// parameters in order.
struct Filter {
    clause: String,
    params: Vec<rusqlite::types::Value>,
}

impl Filter {
    fn of(q: &CallQuery, after: Option<&Cursor>) -> Filter {
        use rusqlite::types::Value;
        let mut conditions: Vec<&str> = Vec::new();
        let mut params: Vec<Value> = Vec::new();
        let text = |t: &str| Value::Text(t.to_string());
        if let Some(agent) = &q.agent_id {
            conditions.push("c.agent_id = ?");
            params.push(text(agent));
        }
        if let Some(status) = q.status {
            conditions.push("c.status = ?");
            params.push(text(status.as_str()));
        }
        if let Some(since) = q.since_ms {
            conditions.push("c.started_at_ms >= ?");
            params.push(Value::Integer(since));
        }
        if let Some(until) = q.until_ms {
            conditions.push("c.started_at_ms < ?");
            params.push(Value::Integer(until));
        }
        if let Some(deployment) = &q.deployment_id {
            conditions.push("c.deployment_id = ?");
            params.push(text(deployment));
        }
        if let Some(kind) = &q.issue_type {
            conditions.push(
                "EXISTS (SELECT 1 FROM call_issues i WHERE i.call_id = c.call_id
                         AND i.trace_id = c.trace_id AND i.type = ?)",
            );
            params.push(text(kind));
        }
        match q.interrupted {
            Some(true) => conditions.push("c.interruptions > 0"),
            Some(false) => conditions.push("c.interruptions = 0"),
            None => {}
        }
        if let Some(ms) = q.min_latency_ms {
            conditions.push("c.max_latency_ms >= ?");
            params.push(Value::Integer(ms));
        }
        if let Some(query) = q.text.as_deref().and_then(index::fts_query) {
            conditions.push(
                "(c.call_id, c.trace_id) IN (SELECT s.call_id, s.trace_id FROM call_text
                  JOIN call_search s ON s.id = call_text.rowid WHERE call_text MATCH ?)",
            );
            params.push(Value::Text(query));
        }
        if let Some(c) = after {
            conditions.push("(c.started_at_ms, c.call_id, c.trace_id) < (?, ?, ?)");
            params.push(Value::Integer(c.started_at_ms));
            params.push(text(&c.call_id));
            params.push(text(&c.trace_id));
        }
        let clause = match conditions.is_empty() {
            true => String::new(),
            false => format!("WHERE {}", conditions.join(" AND ")),
        };
        Filter { clause, params }
    }
}
