//! Call logs: stored by (call id, trace id, revision): a call is one trace, and two traces that
//! share a call id are two calls. Read back as the latest revision of one call (the most recent
//! call of an id, or the one of a given trace), or as pages of calls newest first with filters
//! and an opaque keyset cursor.

use rusqlite::{params, OptionalExtension, Transaction};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::{Store, StoreError};
use crate::receiver::calllog::{CallLog, CallPage, CallQuery, SameIdCall};

/// Page size when the query asks for 0 (the API's default).
const DEFAULT_PAGE: usize = 20;
/// The largest page one query returns, so one request's work stays bounded.
const MAX_PAGE: usize = 1000;

/// What inserting a call log did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inserted {
    /// A new (call id, trace id, revision).
    New,
    /// The same revision with a different body: replaced.
    Replaced,
    /// The same revision with the same body: nothing to do.
    Unchanged,
}

/// Unix ms of an RFC 3339 time; 0 when it does not parse (such a call sorts last).
pub fn rfc3339_ms(text: &str) -> i64 {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

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
    tx.prepare_cached(
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
    Ok(inserted)
}

/// Where a page ended: the last row's start time, trace id and call id.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    started_at_ms: i64,
    trace_id: String,
    call_id: String,
}

/// The cursor after a row, hex-encoded so it reads as opaque. The call id goes last: it may
/// hold the separator.
fn encode_cursor(c: &Cursor) -> String {
    format!("{}:{}:{}", c.started_at_ms, c.trace_id, c.call_id)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_cursor(cursor: &str) -> Result<Cursor, StoreError> {
    let invalid = || StoreError::InvalidCursor(cursor.chars().take(64).collect());
    if cursor.len() % 2 != 0 || !cursor.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    let (Some(ms), Some(trace_id), Some(call_id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    Ok(Cursor {
        started_at_ms: ms.parse::<i64>().map_err(|_| invalid())?,
        trace_id: trace_id.to_string(),
        call_id: call_id.to_string(),
    })
}

/// The latest revision of every call, with the columns lists filter on.
const LATEST: &str = "calls c JOIN call_logs l
    ON l.call_id = c.call_id AND l.trace_id = c.trace_id AND l.revision = c.revision";

impl Store {
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
        let mut stmt = conn.prepare_cached(
            "SELECT revision, body FROM call_logs WHERE call_id = ?1 AND trace_id = ?2
             ORDER BY revision DESC LIMIT 1",
        )?;
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
    /// filtered by agent, status and start-time window. `q.limit` 0 means 20; at most 1000.
    pub fn list_calls(&self, q: &CallQuery) -> Result<CallPage, StoreError> {
        let limit = match q.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT l.body, c.started_at_ms, c.trace_id, c.call_id
             FROM {LATEST}
             WHERE (?1 IS NULL OR c.agent_id = ?1)
               AND (?2 IS NULL OR c.status = ?2)
               AND (?3 IS NULL OR c.started_at_ms >= ?3)
               AND (?4 IS NULL OR c.started_at_ms < ?4)
               AND (?5 IS NULL OR c.started_at_ms < ?5
                    OR (c.started_at_ms = ?5 AND c.call_id < ?6)
                    OR (c.started_at_ms = ?5 AND c.call_id = ?6 AND c.trace_id < ?7))
             ORDER BY c.started_at_ms DESC, c.call_id DESC, c.trace_id DESC
             LIMIT ?8"
        ))?;
        let rows = stmt
            .query_map(
                params![
                    q.agent_id,
                    q.status.map(|s| s.as_str()),
                    q.since_ms,
                    q.until_ms,
                    after.as_ref().map(|c| c.started_at_ms),
                    after.as_ref().map(|c| c.call_id.as_str()),
                    after.as_ref().map(|c| c.trace_id.as_str()),
                    (limit + 1) as i64
                ],
                |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        Cursor {
                            started_at_ms: row.get(1)?,
                            trace_id: row.get(2)?,
                            call_id: row.get(3)?,
                        },
                    ))
                },
            )?
            .collect::<Result<Vec<_>, _>>()?;
        let more = rows.len() > limit;
        let mut calls = Vec::with_capacity(limit.min(rows.len()));
        let mut last = None;
        for (body, cursor) in rows.into_iter().take(limit) {
            calls.push(serde_json::from_str::<CallLog>(&body)?);
            last = Some(cursor);
        }
        let next_cursor = match (more, last) {
            (true, Some(c)) => Some(encode_cursor(&c)),
            _ => None,
        };
        Ok(CallPage { calls, next_cursor })
    }
}

impl crate::receiver::api::CallReader for Store {
    fn get_call(
        &self,
        id: &str,
        trace_id: Option<&str>,
    ) -> Result<Option<crate::receiver::api::FoundCall>, crate::receiver::api::ReadError> {
        let read = || -> Result<_, StoreError> {
            let Some(log) = self.latest_call(id, trace_id)? else {
                return Ok(None);
            };
            let mut same_id = self.same_id_calls(id)?;
            same_id.retain(|c| c.trace_id != log.trace_id);
            Ok(Some(crate::receiver::api::FoundCall { log, same_id }))
        };
        read().map_err(|e| crate::receiver::api::ReadError::new(e.to_string()))
    }

    fn list_calls(&self, q: &CallQuery) -> Result<CallPage, crate::receiver::api::ReadError> {
        use crate::receiver::api::ReadError;
        self.list_calls(q).map_err(|e| match e {
            StoreError::InvalidCursor(message) => ReadError::invalid_cursor(message),
            other => ReadError::new(other.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            started_at_ms: 1_700_000_000_123,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            call_id: "call:with:colons".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)).unwrap(), cursor);
        for bad in ["xyz", "abc", "6162", "é1", "313a32"] {
            assert!(
                matches!(decode_cursor(bad), Err(StoreError::InvalidCursor(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rfc3339_times_become_unix_ms() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:01.250Z"), 1250);
        assert_eq!(rfc3339_ms("not a time"), 0);
    }
}
