//! Call logs in PostgreSQL: each revision by (call id, trace id, revision), `calls` pointing at
//! the latest with the console's columns (written in the same transaction: a filter never
//! disagrees with the call log it lists), and the API's reads.

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::{query, query_opt, Postgres};
use crate::receiver::calllog::{CallLog, CallPage, CallQuery, SameIdCall};
use crate::receiver::store::calls::{
    decode_cursor, encode_cursor, rfc3339_ms, Cursor, IndexRows, Inserted, DEFAULT_PAGE, MAX_PAGE,
};
use crate::receiver::store::index::{
    figure_row, issue_counts, transcript, FIGURE_COLUMNS, FIGURE_COLUMN_NAMES,
};
use crate::receiver::store::StoreError;

/// The text search configuration: words as written, lowercased, no stemming (the same matching
/// as SQLite's `unicode61` tokenizer, near enough).
pub(super) const TEXT_SEARCH: &str = "simple";

/// Stores one revision of a call log and points `calls` at the latest revision.
pub(super) async fn insert_call_log(
    tx: &Transaction<'_>,
    log: &CallLog,
    now_ms: i64,
) -> Result<Inserted, StoreError> {
    let body = serde_json::to_string(log)?;
    let started_at_ms = rfc3339_ms(&log.started_at);
    let revision = log.revision as i32;
    let existing = tx
        .query_opt(
            &tx.prepare_cached(
                "SELECT body FROM call_logs WHERE call_id = $1 AND trace_id = $2 AND revision = $3",
            )
            .await?,
            &[&log.id, &log.trace_id, &revision],
        )
        .await?;
    let inserted = match existing.map(|row| row.get::<_, String>(0)) {
        Some(old) if old == body => return Ok(Inserted::Unchanged),
        Some(_) => Inserted::Replaced,
        None => Inserted::New,
    };
    let status = log.status.as_str();
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO call_logs
             (call_id, revision, trace_id, agent_id, status, started_at_ms, stored_at_ms, body)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (call_id, trace_id, revision) DO UPDATE SET
             agent_id = excluded.agent_id, status = excluded.status,
             started_at_ms = excluded.started_at_ms, stored_at_ms = excluded.stored_at_ms,
             body = excluded.body",
        )
        .await?,
        &[
            &log.id,
            &revision,
            &log.trace_id,
            &log.agent_id,
            &status,
            &started_at_ms,
            &now_ms,
            &body,
        ],
    )
    .await?;
    let latest = tx
        .execute(
            &tx.prepare_cached(
                "INSERT INTO calls (call_id, trace_id, revision, agent_id, status, started_at_ms)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (call_id, trace_id) DO UPDATE SET
                 revision = excluded.revision, agent_id = excluded.agent_id,
                 status = excluded.status, started_at_ms = excluded.started_at_ms
             WHERE excluded.revision >= calls.revision",
            )
            .await?,
            &[
                &log.id,
                &log.trace_id,
                &revision,
                &log.agent_id,
                &status,
                &started_at_ms,
            ],
        )
        .await?;
    if latest > 0 {
        refresh_index(
            tx,
            log,
            started_at_ms,
            IndexRows::before(log.revision, inserted),
        )
        .await?;
    }
    Ok(inserted)
}

/// Replaces every index row of the call with those of `log` (its latest revision); `rows`
/// says whether there are any to delete first.
async fn refresh_index(
    tx: &Transaction<'_>,
    log: &CallLog,
    started_at_ms: i64,
    rows: IndexRows,
) -> Result<(), StoreError> {
    let issues = issue_counts(log);
    let deployment = log.deployment.clone().unwrap_or_default();
    let max_latency = log.turns.iter().filter_map(|t| t.latency_ms).max();
    tx.execute(
        &tx.prepare_cached(&format!(
            "UPDATE calls SET deployment_id = $3, deployment_version = $4,
                              deployment_environment = $5, duration_ms = $6, turns = $7,
                              p50_latency_ms = $8, p95_latency_ms = $9, max_latency_ms = $10,
                              interruptions = $11, issue_counts = $12,
                              transcript = to_tsvector('{TEXT_SEARCH}', $13)
             WHERE call_id = $1 AND trace_id = $2"
        ))
        .await?,
        &[
            &log.id,
            &log.trace_id,
            &deployment.id,
            &deployment.version,
            &deployment.environment,
            &log.metrics.total_duration_ms,
            &(log.metrics.turns as i64),
            &log.metrics.p50_turn_latency_ms,
            &log.metrics.p95_turn_latency_ms,
            &max_latency,
            &(log.metrics.interruptions as i64),
            &serde_json::to_string(&issues)?,
            &transcript(log),
        ],
    )
    .await?;
    let key: [&(dyn ToSql + Sync); 2] = [&log.id, &log.trace_id];
    if rows == IndexRows::Earlier {
        for delete in [
            "DELETE FROM call_issues WHERE call_id = $1 AND trace_id = $2",
            "DELETE FROM turn_figures WHERE call_id = $1 AND trace_id = $2",
        ] {
            tx.execute(&tx.prepare_cached(delete).await?, &key).await?;
        }
    }
    // One statement for all of the call's rows (arrays unnested), not one per row.
    let kinds: Vec<&str> = issues.keys().map(String::as_str).collect();
    let counts: Vec<i64> = issues.values().map(|&n| i64::from(n)).collect();
    tx.execute(
        &tx.prepare_cached(
            "INSERT INTO call_issues (call_id, trace_id, type, count, agent_id, started_at_ms)
             SELECT $1, $2, k, n, $3, $4 FROM UNNEST($5::TEXT[], $6::BIGINT[]) AS i (k, n)",
        )
        .await?,
        &[
            &log.id,
            &log.trace_id,
            &log.agent_id,
            &started_at_ms,
            &kinds,
            &counts,
        ],
    )
    .await?;
    // The turns' rows as one array per column, unnested into rows.
    let mut turns = Vec::new();
    let mut columns: [Vec<Option<i64>>; FIGURE_COLUMNS.len()] = Default::default();
    for turn in &log.turns {
        let Some(row) = figure_row(turn) else {
            continue;
        };
        turns.push(i64::from(turn.index));
        for (column, value) in columns.iter_mut().zip(row) {
            column.push(value);
        }
    }
    let [stt, endpointing, llm, tts, v2v, detection, stop] = &columns;
    tx.execute(
        &tx.prepare_cached(&format!(
            "INSERT INTO turn_figures
                 (call_id, trace_id, agent_id, started_at_ms, turn, {FIGURE_COLUMN_NAMES})
             SELECT $1, $2, $3, $4, x.*
             FROM UNNEST($5::BIGINT[], $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[],
                         $10::BIGINT[], $11::BIGINT[], $12::BIGINT[]) AS x"
        ))
        .await?,
        &[
            &log.id,
            &log.trace_id,
            &log.agent_id,
            &started_at_ms,
            &turns,
            stt,
            endpointing,
            llm,
            tts,
            v2v,
            detection,
            stop,
        ],
    )
    .await?;
    Ok(())
}

/// The latest revision of every call, with the columns lists filter on.
pub(super) const LATEST: &str = "calls c JOIN call_logs l
    ON l.call_id = c.call_id AND l.trace_id = c.trace_id AND l.revision = c.revision";

/// A query's parameters, owned so that a query can move to the backend's runtime.
pub(super) type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// Borrows owned parameters the way the driver takes them.
pub(super) fn borrowed(params: &Params) -> Vec<&(dyn ToSql + Sync)> {
    params
        .iter()
        .map(|p| p.as_ref() as &(dyn ToSql + Sync))
        .collect()
}

fn parse(body: Option<String>) -> Result<Option<CallLog>, StoreError> {
    Ok(body.map(|b| serde_json::from_str(&b)).transpose()?)
}

impl Postgres {
    pub(super) fn latest_call(
        &self,
        call_id: &str,
        trace_id: Option<&str>,
    ) -> Result<Option<CallLog>, StoreError> {
        let (call_id, trace_id) = (call_id.to_owned(), trace_id.map(str::to_owned));
        self.run(|pool| async move {
            let row = query_opt(
                &pool,
                &format!(
                    "SELECT l.body FROM {LATEST}
                         WHERE c.call_id = $1 AND ($2::TEXT IS NULL OR c.trace_id = $2)
                         ORDER BY c.started_at_ms DESC, c.trace_id DESC LIMIT 1"
                ),
                &[&call_id, &trace_id],
            )
            .await?;
            parse(row.map(|r| r.get(0)))
        })
    }

    pub(super) fn same_id_calls(&self, call_id: &str) -> Result<Vec<SameIdCall>, StoreError> {
        let call_id = call_id.to_owned();
        self.run(|pool| async move {
            let rows = query(
                &pool,
                &format!(
                    "SELECT l.trace_id, l.body FROM {LATEST}
                         WHERE c.call_id = $1 ORDER BY c.started_at_ms DESC, c.trace_id DESC"
                ),
                &[&call_id],
            )
            .await?;
            rows.into_iter()
                .map(|row| {
                    let log: CallLog = serde_json::from_str(&row.get::<_, String>(1))?;
                    Ok(SameIdCall {
                        trace_id: row.get(0),
                        started_at: log.started_at,
                    })
                })
                .collect()
        })
    }

    pub(super) fn latest_call_body(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<(u32, String)>, StoreError> {
        let (call_id, trace_id) = (call_id.to_owned(), trace_id.to_owned());
        self.run(|pool| async move {
            let row = query_opt(
                &pool,
                "SELECT revision, body FROM call_logs WHERE call_id = $1 AND trace_id = $2
                     ORDER BY revision DESC LIMIT 1",
                &[&call_id, &trace_id],
            )
            .await?;
            Ok(row.map(|r| (r.get::<_, i32>(0) as u32, r.get(1))))
        })
    }

    pub(super) fn latest_revision(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<u32>, StoreError> {
        let (call_id, trace_id) = (call_id.to_owned(), trace_id.to_owned());
        self.run(|pool| async move {
            let row = query_opt(
                &pool,
                "SELECT revision FROM calls WHERE call_id = $1 AND trace_id = $2",
                &[&call_id, &trace_id],
            )
            .await?;
            Ok(row.map(|r| r.get::<_, i32>(0) as u32))
        })
    }

    pub(super) fn call_revision(
        &self,
        call_id: &str,
        trace_id: &str,
        revision: u32,
    ) -> Result<Option<CallLog>, StoreError> {
        let (call_id, trace_id, revision) =
            (call_id.to_owned(), trace_id.to_owned(), revision as i32);
        self.run(|pool| async move {
            let row = query_opt(
                &pool,
                "SELECT body FROM call_logs
                     WHERE call_id = $1 AND trace_id = $2 AND revision = $3",
                &[&call_id, &trace_id, &revision],
            )
            .await?;
            parse(row.map(|r| r.get(0)))
        })
    }

    pub(super) fn revisions(&self, call_id: &str) -> Result<Vec<u32>, StoreError> {
        let call_id = call_id.to_owned();
        self.run(|pool| async move {
            let rows = query(
                &pool,
                "SELECT revision FROM call_logs WHERE call_id = $1 ORDER BY revision",
                &[&call_id],
            )
            .await?;
            Ok(rows.iter().map(|r| r.get::<_, i32>(0) as u32).collect())
        })
    }

    pub(super) fn list_calls(&self, q: &CallQuery) -> Result<CallPage, StoreError> {
        let (rows, next_cursor) = self.page(q, "l.body", LATEST)?;
        let calls = rows
            .into_iter()
            .map(|row| Ok(serde_json::from_str::<CallLog>(&row.get::<_, String>(0))?))
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(CallPage { calls, next_cursor })
    }

    /// One page of `SELECT {columns} FROM {from} WHERE <q's filters> ORDER BY newest LIMIT`
    /// (`from` names the latest calls `c`) and the next page's cursor.
    pub(super) fn page(
        &self,
        q: &CallQuery,
        columns: &str,
        from: &str,
    ) -> Result<(Vec<tokio_postgres::Row>, Option<String>), StoreError> {
        let limit = match q.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        };
        let after = q.cursor.as_deref().map(decode_cursor).transpose()?;
        let (clause, params) = filter(q, after.as_ref());
        let sql = format!(
            "SELECT {columns}, c.started_at_ms, c.trace_id, c.call_id FROM {from}
             {clause} ORDER BY c.started_at_ms DESC, c.call_id DESC, c.trace_id DESC LIMIT {}",
            limit + 1
        );
        let mut rows =
            self.run(|pool| async move { query(&pool, &sql, &borrowed(&params)).await })?;
        let more = rows.len() > limit;
        rows.truncate(limit);
        let next = match (more, rows.last()) {
            (true, Some(row)) => {
                let at = row.len() - 3;
                Some(encode_cursor(&Cursor {
                    started_at_ms: row.get(at),
                    trace_id: row.get(at + 1),
                    call_id: row.get(at + 2),
                }))
            }
            _ => None,
        };
        Ok((rows, next))
    }
}

/// The WHERE clause of a list query and its parameters (every filter of [`CallQuery`]).
fn filter(q: &CallQuery, after: Option<&Cursor>) -> (String, Params) {
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Params = Vec::new();
    let mut push = |condition: &str, value: Box<dyn ToSql + Sync + Send>| {
        params.push(value);
        conditions.push(condition.replace('?', &format!("${}", params.len())));
    };
    if let Some(agent) = &q.agent_id {
        push("c.agent_id = ?", Box::new(agent.clone()));
    }
    if let Some(status) = q.status {
        push("c.status = ?", Box::new(status.as_str().to_string()));
    }
    if let Some(since) = q.since_ms {
        push("c.started_at_ms >= ?", Box::new(since));
    }
    if let Some(until) = q.until_ms {
        push("c.started_at_ms < ?", Box::new(until));
    }
    if let Some(deployment) = &q.deployment_id {
        push("c.deployment_id = ?", Box::new(deployment.clone()));
    }
    if let Some(kind) = &q.issue_type {
        push(
            "EXISTS (SELECT 1 FROM call_issues i WHERE i.call_id = c.call_id
                     AND i.trace_id = c.trace_id AND i.type = ?)",
            Box::new(kind.clone()),
        );
    }
    if let Some(ms) = q.min_latency_ms {
        push("c.max_latency_ms >= ?", Box::new(ms));
    }
    if let Some(query) = q.text.as_deref().and_then(text_query) {
        push(
            &format!("c.transcript @@ to_tsquery('{TEXT_SEARCH}', ?)"),
            Box::new(query),
        );
    }
    match q.interrupted {
        Some(true) => conditions.push("c.interruptions > 0".into()),
        Some(false) => conditions.push("c.interruptions = 0".into()),
        None => {}
    }
    if let Some(c) = after {
        let n = params.len();
        params.push(Box::new(c.started_at_ms));
        params.push(Box::new(c.call_id.clone()));
        params.push(Box::new(c.trace_id.clone()));
        conditions.push(format!(
            "(c.started_at_ms, c.call_id, c.trace_id) < (${}, ${}, ${})",
            n + 1,
            n + 2,
            n + 3
        ));
    }
    let clause = match conditions.is_empty() {
        true => String::new(),
        false => format!("WHERE {}", conditions.join(" AND ")),
    };
    (clause, params)
}

/// A transcript search as a `tsquery`: each word a prefix term (letters and digits only, so no
/// input is query syntax), all of them required. `None` when the text holds no word.
fn text_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| format!("{}:*", w.to_lowercase()))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" & "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_becomes_prefix_terms_without_syntax() {
        assert_eq!(
            text_query("Where's my ORDER?").as_deref(),
            Some("where:* & s:* & my:* & order:*")
        );
        assert_eq!(text_query("a|b & !c:*").as_deref(), Some("a:* & b:* & c:*"));
        assert_eq!(text_query(" -- "), None);
    }
}
