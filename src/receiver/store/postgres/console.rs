//! The console's reads in PostgreSQL: the same queries as SQLite's over the same indexed
//! columns, with the aggregation shared (`store::console`).

use std::collections::BTreeMap;

use super::{client, query, Postgres};
use crate::receiver::calllog::CallQuery;
use crate::receiver::query::{
    CallRow, CallRowPage, Delivery, DeploymentRow, Fleet, FleetQuery, IssueCount, TurnCount,
};
use crate::receiver::store::console::{
    call_counts, delivery_state, status_of, FigureGroups, MAX_FLEET_FIGURES,
};
use crate::receiver::store::index::{FigureRow, FIGURE_COLUMN_NAMES};
use crate::receiver::store::StoreError;

/// A count column, as the API's unsigned counts.
fn count(row: &tokio_postgres::Row, i: usize) -> u64 {
    row.get::<_, i64>(i).max(0) as u64
}

impl Postgres {
    pub(super) fn call_rows(&self, q: &CallQuery) -> Result<CallRowPage, StoreError> {
        let columns = "c.call_id, c.trace_id, c.agent_id, c.deployment_id, c.status,
                       c.duration_ms, c.turns, c.p50_latency_ms, c.p95_latency_ms,
                       c.interruptions, c.issue_counts";
        let (rows, next_cursor) = self.page(q, columns, "calls c")?;
        let rows = rows
            .iter()
            .map(|row| {
                let counts: BTreeMap<String, u32> =
                    serde_json::from_str(&row.get::<_, String>(10))?;
                Ok(CallRow {
                    call_id: row.get(0),
                    trace_id: row.get(1),
                    agent_id: row.get(2),
                    deployment_id: row.get(3),
                    status: status_of(&row.get::<_, String>(4)),
                    started_at_ms: row.get(11),
                    duration_ms: row.get(5),
                    turns: row.get::<_, i64>(6).max(0) as u32,
                    p50_latency_ms: row.get(7),
                    p95_latency_ms: row.get(8),
                    interruptions: row.get::<_, i64>(9).max(0) as u32,
                    issues: counts.into_iter().collect(),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(CallRowPage { rows, next_cursor })
    }

    pub(super) fn deliveries(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Vec<Delivery>, StoreError> {
        let (call_id, trace_id) = (call_id.to_owned(), trace_id.to_owned());
        self.run(|pool| async move {
            let rows = query(
                &pool,
                "SELECT s.name, s.kind,
                            (SELECT COUNT(*) FROM outbox o WHERE o.sink = s.name
                                AND o.call_id = $1 AND o.trace_id = $2 AND o.dead),
                            (SELECT COUNT(*) FROM outbox o WHERE o.sink = s.name
                                AND o.call_id = $1 AND o.trace_id = $2 AND NOT o.dead
                                AND o.attempts > 0),
                            (SELECT COUNT(*) FROM outbox o WHERE o.sink = s.name
                                AND o.call_id = $1 AND o.trace_id = $2 AND NOT o.dead
                                AND o.attempts = 0),
                            (SELECT o.last_error FROM outbox o WHERE o.sink = s.name
                                AND o.call_id = $1 AND o.trace_id = $2
                                AND o.last_error IS NOT NULL ORDER BY o.id DESC LIMIT 1),
                            (SELECT d.revision FROM deliveries d WHERE d.sink = s.name
                                AND d.call_id = $1 AND d.trace_id = $2)
                     FROM sinks s ORDER BY s.name",
                &[&call_id, &trace_id],
            )
            .await?;
            Ok(rows
                .iter()
                .map(|row| {
                    let delivered_revision = row.get::<_, Option<i32>>(6).map(|r| r as u32);
                    Delivery {
                        sink: row.get(0),
                        kind: row.get(1),
                        state: delivery_state(
                            row.get(2),
                            row.get(3),
                            row.get(4),
                            delivered_revision,
                        ),
                        delivered_revision,
                        last_error: row.get(5),
                    }
                })
                .collect())
        })
    }

    pub(super) fn fleet(&self, q: &FleetQuery) -> Result<Fleet, StoreError> {
        let q = q.clone();
        self.run(|pool| async move {
            let conn = client(&pool).await?;
            let window = "started_at_ms >= $1 AND started_at_ms < $2
                          AND ($3::TEXT IS NULL OR agent_id = $3)";
            let mut fleet = Fleet::default();
            let limit = (MAX_FLEET_FIGURES + 1) as i64;
            // A turn has at least one figure: MAX_FLEET_FIGURES + 1 turns hold more figures
            // than a fleet answer reads.
            let turns = conn
                .query(
                    &format!(
                        "SELECT agent_id, started_at_ms, {FIGURE_COLUMN_NAMES} FROM turn_figures
                         WHERE {window} ORDER BY started_at_ms DESC LIMIT $4"
                    ),
                    &[&q.since_ms, &q.until_ms, &q.agent_id, &limit],
                )
                .await?;
            let mut groups = FigureGroups::new(&q);
            for row in &turns {
                let mut figures = FigureRow::default();
                for (i, figure) in figures.iter_mut().enumerate() {
                    *figure = row.try_get(2 + i)?;
                }
                if !groups.push_turn(row.try_get(0)?, row.try_get(1)?, figures) {
                    break;
                }
            }
            groups.finish(&mut fleet);
            let args: [&(dyn tokio_postgres::types::ToSql + Sync); 3] =
                [&q.since_ms, &q.until_ms, &q.agent_id];
            let calls = conn
                .query(
                    &format!("SELECT agent_id, started_at_ms, status FROM calls WHERE {window}"),
                    &args,
                )
                .await?;
            fleet.calls = call_counts(&q, calls.iter().map(|r| (r.get(0), r.get(1), r.get(2))));
            let issues = conn
                .query(
                    &format!(
                        "SELECT agent_id, type, SUM(count)::BIGINT FROM call_issues
                         WHERE {window}
                         GROUP BY agent_id, type ORDER BY agent_id, SUM(count) DESC, type"
                    ),
                    &args,
                )
                .await?;
            fleet.issues = issues
                .iter()
                .map(|row| IssueCount {
                    agent_id: row.get(0),
                    kind: row.get(1),
                    count: count(row, 2),
                })
                .collect();
            let turns = conn
                .query(
                    &format!(
                        "SELECT agent_id, SUM(turns)::BIGINT, SUM(interruptions)::BIGINT
                         FROM calls WHERE {window} GROUP BY agent_id ORDER BY agent_id"
                    ),
                    &args,
                )
                .await?;
            fleet.turns = turns
                .iter()
                .map(|row| TurnCount {
                    agent_id: row.get(0),
                    turns: count(row, 1),
                    interrupted: count(row, 2),
                })
                .collect();
            Ok(fleet)
        })
    }

    pub(super) fn deployments(&self, limit: usize) -> Result<Vec<DeploymentRow>, StoreError> {
        let limit = limit as i64;
        self.run(|pool| async move {
            let rows = query(
                &pool,
                "SELECT deployment_id, deployment_version, deployment_environment, agent_id,
                            COUNT(*), COUNT(*) FILTER (WHERE status = 'failed'),
                            MIN(started_at_ms), MAX(started_at_ms)
                     FROM calls
                     WHERE deployment_id IS NOT NULL OR deployment_version IS NOT NULL
                        OR deployment_environment IS NOT NULL
                     GROUP BY deployment_id, deployment_version, deployment_environment, agent_id
                     ORDER BY MAX(started_at_ms) DESC LIMIT $1",
                &[&limit],
            )
            .await?;
            Ok(rows
                .iter()
                .map(|row| DeploymentRow {
                    id: row.get(0),
                    version: row.get(1),
                    environment: row.get(2),
                    agent_id: row.get(3),
                    calls: count(row, 4),
                    failed: count(row, 5),
                    first_ms: row.get(6),
                    last_ms: row.get(7),
                })
                .collect())
        })
    }

    pub(super) fn agents(&self) -> Result<Vec<String>, StoreError> {
        self.run(|pool| async move {
            let rows = query(
                &pool,
                "SELECT DISTINCT agent_id FROM calls WHERE agent_id IS NOT NULL
                     ORDER BY agent_id",
                &[],
            )
            .await?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
    }
}
