//! The console's reads ([`ConsoleReader`]) in SQL: list rows from the indexed columns of
//! `calls` (no call log body is parsed for a list), a call's delivery state from the outbox and
//! `deliveries`, the fleet's aggregates from `turn_figures`, `calls` and `call_issues`, and the
//! deployments. Percentiles are nearest rank over the values SQLite hands back in order (the
//! same definition as the call log's), so no SQLite extension is needed and another backend
//! can compute them the same way.

use std::collections::BTreeMap;

use rusqlite::params;

use crate::receiver::store::console::{
    call_counts, delivery_state, status_of, FigureGroups, MAX_FLEET_FIGURES,
};
use crate::receiver::store::index::{FigureRow, FIGURE_COLUMN_NAMES};

use super::Sqlite;
use crate::receiver::calllog::CallQuery;
use crate::receiver::query::{
    CallRow, CallRowPage, Delivery, DeploymentRow, Fleet, FleetQuery, IssueCount, TurnCount,
};
use crate::receiver::store::StoreError;

impl Sqlite {
    /// A page of list rows (see [`CallRow`]), filtered and paged like [`Store::list_calls`].
    pub fn call_rows(&self, q: &CallQuery) -> Result<CallRowPage, StoreError> {
        let columns = "c.call_id, c.trace_id, c.agent_id, c.deployment_id, c.status,
                       c.duration_ms, c.turns, c.p50_latency_ms, c.p95_latency_ms,
                       c.interruptions, c.issue_counts";
        let (rows, next_cursor) = self.page(q, columns, "calls c", |row| {
            let issues: String = row.get(10)?;
            Ok((
                CallRow {
                    call_id: row.get(0)?,
                    trace_id: row.get(1)?,
                    agent_id: row.get(2)?,
                    deployment_id: row.get(3)?,
                    status: status_of(&row.get::<_, String>(4)?),
                    started_at_ms: row.get(11)?,
                    duration_ms: row.get(5)?,
                    turns: row.get(6)?,
                    p50_latency_ms: row.get(7)?,
                    p95_latency_ms: row.get(8)?,
                    interruptions: row.get(9)?,
                    issues: Vec::new(),
                },
                issues,
            ))
        })?;
        let rows = rows
            .into_iter()
            .map(|(mut row, issues)| {
                let counts: BTreeMap<String, u32> = serde_json::from_str(&issues)?;
                row.issues = counts.into_iter().collect();
                Ok(row)
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(CallRowPage { rows, next_cursor })
    }

    /// The call's state with every known sink.
    pub fn deliveries(&self, call_id: &str, trace_id: &str) -> Result<Vec<Delivery>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT s.name, s.kind,
                    (SELECT COUNT(*) FROM outbox o WHERE o.sink = s.name AND o.call_id = ?1
                        AND o.trace_id = ?2 AND o.dead = 1),
                    (SELECT COUNT(*) FROM outbox o WHERE o.sink = s.name AND o.call_id = ?1
                        AND o.trace_id = ?2 AND o.dead = 0 AND o.attempts > 0),
                    (SELECT COUNT(*) FROM outbox o WHERE o.sink = s.name AND o.call_id = ?1
                        AND o.trace_id = ?2 AND o.dead = 0 AND o.attempts = 0),
                    (SELECT o.last_error FROM outbox o WHERE o.sink = s.name AND o.call_id = ?1
                        AND o.trace_id = ?2 AND o.last_error IS NOT NULL
                        ORDER BY o.id DESC LIMIT 1),
                    (SELECT d.revision FROM deliveries d WHERE d.sink = s.name
                        AND d.call_id = ?1 AND d.trace_id = ?2)
             FROM sinks s ORDER BY s.name",
        )?;
        let rows = stmt
            .query_map(params![call_id, trace_id], |row| {
                let (dead, retrying, pending): (i64, i64, i64) =
                    (row.get(2)?, row.get(3)?, row.get(4)?);
                let delivered_revision: Option<u32> = row.get(6)?;
                let state = delivery_state(dead, retrying, pending, delivered_revision);
                Ok(Delivery {
                    sink: row.get(0)?,
                    kind: row.get(1)?,
                    state,
                    delivered_revision,
                    last_error: row.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The fleet's aggregates over a window (see [`Fleet`]).
    pub fn fleet(&self, q: &FleetQuery) -> Result<Fleet, StoreError> {
        let conn = self.lock()?;
        let agent = q.agent_id.as_deref();
        let window = params![q.since_ms, q.until_ms, agent];
        let mut fleet = Fleet::default();

        // A turn has at least one figure: MAX_FLEET_FIGURES + 1 turns hold more figures than
        // a fleet answer reads.
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT agent_id, started_at_ms, {FIGURE_COLUMN_NAMES} FROM turn_figures
             WHERE started_at_ms >= ?1 AND started_at_ms < ?2 AND (?3 IS NULL OR agent_id = ?3)
             ORDER BY started_at_ms DESC LIMIT ?4"
        ))?;
        let mut groups = FigureGroups::new(q);
        let mut rows = stmt.query(params![
            q.since_ms,
            q.until_ms,
            agent,
            (MAX_FLEET_FIGURES + 1) as i64
        ])?;
        while let Some(row) = rows.next()? {
            let mut figures = FigureRow::default();
            for (i, figure) in figures.iter_mut().enumerate() {
                *figure = row.get(2 + i)?;
            }
            if !groups.push_turn(row.get(0)?, row.get(1)?, figures) {
                break;
            }
        }
        drop(rows);
        groups.finish(&mut fleet);

        let mut stmt = conn.prepare_cached(
            "SELECT agent_id, started_at_ms, status FROM calls
             WHERE started_at_ms >= ?1 AND started_at_ms < ?2 AND (?3 IS NULL OR agent_id = ?3)",
        )?;
        let rows = stmt
            .query_map(window, |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        fleet.calls = call_counts(q, rows);

        let mut stmt = conn.prepare_cached(
            "SELECT agent_id, type, SUM(count) FROM call_issues
             WHERE started_at_ms >= ?1 AND started_at_ms < ?2 AND (?3 IS NULL OR agent_id = ?3)
             GROUP BY agent_id, type ORDER BY agent_id, SUM(count) DESC, type",
        )?;
        fleet.issues = stmt
            .query_map(window, |row| {
                Ok(IssueCount {
                    agent_id: row.get(0)?,
                    kind: row.get(1)?,
                    count: row.get::<_, i64>(2)?.max(0) as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;

        let mut stmt = conn.prepare_cached(
            "SELECT agent_id, SUM(turns), SUM(interruptions) FROM calls
             WHERE started_at_ms >= ?1 AND started_at_ms < ?2 AND (?3 IS NULL OR agent_id = ?3)
             GROUP BY agent_id ORDER BY agent_id",
        )?;
        fleet.turns = stmt
            .query_map(window, |row| {
                Ok(TurnCount {
                    agent_id: row.get(0)?,
                    turns: row.get::<_, i64>(1)?.max(0) as u64,
                    interrupted: row.get::<_, i64>(2)?.max(0) as u64,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(fleet)
    }

    /// The deployments seen (calls whose resource named an id, a version or an environment),
    /// most recently active first.
    pub fn deployments(&self, limit: usize) -> Result<Vec<DeploymentRow>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT deployment_id, deployment_version, deployment_environment, agent_id,
                    COUNT(*), SUM(status = 'failed'), MIN(started_at_ms), MAX(started_at_ms)
             FROM calls
             WHERE deployment_id IS NOT NULL OR deployment_version IS NOT NULL
                OR deployment_environment IS NOT NULL
             GROUP BY deployment_id, deployment_version, deployment_environment, agent_id
             ORDER BY MAX(started_at_ms) DESC LIMIT ?1",
        )?;
        let rows = stmt
            .query_map(params![limit as i64], |row| {
                Ok(DeploymentRow {
                    id: row.get(0)?,
                    version: row.get(1)?,
                    environment: row.get(2)?,
                    agent_id: row.get(3)?,
                    calls: row.get::<_, i64>(4)?.max(0) as u64,
                    failed: row.get::<_, i64>(5)?.max(0) as u64,
                    first_ms: row.get(6)?,
                    last_ms: row.get(7)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// The agents that have calls, by name.
    pub fn agents(&self) -> Result<Vec<String>, StoreError> {
        let conn = self.lock()?;
        let mut stmt = conn.prepare_cached(
            "SELECT DISTINCT agent_id FROM calls WHERE agent_id IS NOT NULL ORDER BY agent_id",
        )?;
        let agents = stmt
            .query_map([], |row| row.get(0))?
            .collect::<Result<Vec<String>, _>>()?;
        Ok(agents)
    }
}
