//! The console's indexes of a call's latest revision (migration 6): the list's columns on
//! `calls`, the call's issue types (`call_issues`), its transcript in FTS5 (`call_search` +
//! `call_text`) and its per-turn figures (`turn_figures`). Written in the transaction that
//! stores the revision, so a filter never disagrees with the call log it lists.

use rusqlite::{params, Transaction};

use crate::receiver::calllog::CallLog;
use crate::receiver::store::calls::IndexRows;
use crate::receiver::store::index::{figure_row, issue_counts, transcript, FIGURE_COLUMN_NAMES};
use crate::receiver::store::StoreError;

/// Replaces every index row of the call with those of `log` (its latest revision); `rows`
/// says whether there are any to delete first.
pub(super) fn refresh(
    tx: &Transaction<'_>,
    log: &CallLog,
    started_at_ms: i64,
    rows: IndexRows,
) -> Result<(), StoreError> {
    let issues = issue_counts(log);
    let deployment = log.deployment.clone().unwrap_or_default();
    tx.prepare_cached(
        "UPDATE calls SET deployment_id = ?3, deployment_version = ?4,
                          deployment_environment = ?5, duration_ms = ?6, turns = ?7,
                          p50_latency_ms = ?8, p95_latency_ms = ?9, max_latency_ms = ?10,
                          interruptions = ?11, issue_counts = ?12
         WHERE call_id = ?1 AND trace_id = ?2",
    )?
    .execute(params![
        log.id,
        log.trace_id,
        deployment.id,
        deployment.version,
        deployment.environment,
        log.metrics.total_duration_ms,
        log.metrics.turns,
        log.metrics.p50_turn_latency_ms,
        log.metrics.p95_turn_latency_ms,
        log.turns.iter().filter_map(|t| t.latency_ms).max(),
        log.metrics.interruptions,
        serde_json::to_string(&issues)?,
    ])?;
    let key = params![log.id, log.trace_id];
    if rows == IndexRows::Earlier {
        tx.prepare_cached("DELETE FROM call_issues WHERE call_id = ?1 AND trace_id = ?2")?
            .execute(key)?;
        tx.prepare_cached("DELETE FROM turn_figures WHERE call_id = ?1 AND trace_id = ?2")?
            .execute(key)?;
    }
    let mut issue = tx.prepare_cached(
        "INSERT INTO call_issues (call_id, trace_id, type, count, agent_id, started_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (kind, count) in &issues {
        issue.execute(params![
            log.id,
            log.trace_id,
            kind,
            count,
            log.agent_id,
            started_at_ms
        ])?;
    }
    refresh_text(tx, log, rows)?;
    let mut figures = tx.prepare_cached(&format!(
        "INSERT INTO turn_figures (call_id, trace_id, agent_id, started_at_ms, turn,
                                   {FIGURE_COLUMN_NAMES})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
    ))?;
    for turn in &log.turns {
        let Some([stt, endpointing, llm, tts, v2v, detection, stop]) = figure_row(turn) else {
            continue;
        };
        figures.execute(params![
            log.id,
            log.trace_id,
            log.agent_id,
            started_at_ms,
            turn.index,
            stt,
            endpointing,
            llm,
            tts,
            v2v,
            detection,
            stop
        ])?;
    }
    Ok(())
}

/// The call's transcript in the FTS5 index, under the call's `call_search` id: a new call's is
/// the row just inserted (`RETURNING` was tried: SQLite buffers its rows, and storing call
/// logs took a third longer), an earlier one's is looked up.
fn refresh_text(tx: &Transaction<'_>, log: &CallLog, rows: IndexRows) -> Result<(), StoreError> {
    let key = params![log.id, log.trace_id];
    let id: i64 = match rows {
        IndexRows::None => {
            tx.prepare_cached("INSERT INTO call_search (call_id, trace_id) VALUES (?1, ?2)")?
                .execute(key)?;
            tx.last_insert_rowid()
        }
        IndexRows::Earlier => {
            tx.prepare_cached(
                "INSERT INTO call_search (call_id, trace_id) VALUES (?1, ?2)
                 ON CONFLICT (call_id, trace_id) DO NOTHING",
            )?
            .execute(key)?;
            let id = tx
                .prepare_cached("SELECT id FROM call_search WHERE call_id = ?1 AND trace_id = ?2")?
                .query_row(key, |row| row.get(0))?;
            tx.prepare_cached("DELETE FROM call_text WHERE rowid = ?1")?
                .execute(params![id])?;
            id
        }
    };
    tx.prepare_cached("INSERT INTO call_text (rowid, transcript) VALUES (?1, ?2)")?
        .execute(params![id, transcript(log)])?;
    Ok(())
}

/// A transcript search as an FTS5 query: each word a quoted prefix term (so no input is FTS
/// syntax), all of them required. `None` when the text holds no word.
pub(super) fn fts_query(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(|w| format!("\"{}\"*", w.replace('"', "\"\"")))
        .collect();
    (!terms.is_empty()).then(|| terms.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_text_becomes_quoted_prefix_terms() {
        assert_eq!(
            fts_query("Where's my order?").as_deref(),
            Some("\"Where's\"* \"my\"* \"order\"*")
        );
        assert_eq!(
            fts_query("NEAR(a b) OR c*").as_deref(),
            Some("\"NEAR\"* \"a\"* \"b\"* \"OR\"* \"c\"*")
        );
        assert_eq!(fts_query(" -- "), None);
    }
}
