//! What the console's queries compute the same way on every backend, from the rows a backend
//! reads: the fleet's percentiles per agent, figure and bucket (nearest rank, the call log's
//! definition, so no database extension is needed), calls per bucket, and a call's delivery
//! state with a sink.

use std::collections::BTreeMap;

use crate::receiver::analyze::nearest_rank;
use crate::receiver::calllog::CallStatus;
use crate::receiver::query::{CallCount, DeliveryState, Figure, FigurePoint, Fleet, FleetQuery};
use crate::receiver::store::index::{FigureRow, FIGURE_COLUMNS};

/// Per-turn figures one fleet answer reads at most (newest first): a week of a busy fleet
/// stays within a few hundred milliseconds and a few tens of MB; past it the answer says it
/// was truncated.
pub const MAX_FLEET_FIGURES: usize = 2_000_000;

/// A call's status as stored.
pub(super) fn status_of(text: &str) -> CallStatus {
    match text {
        "failed" => CallStatus::Failed,
        "incomplete" => CallStatus::Incomplete,
        _ => CallStatus::Completed,
    }
}

/// Per-turn figures, newest first, grouped as they are read.
pub(super) struct FigureGroups<'q> {
    q: &'q FleetQuery,
    values: BTreeMap<(Option<String>, Figure, i64), Vec<i64>>,
    read: usize,
    truncated: bool,
}

impl<'q> FigureGroups<'q> {
    pub(super) fn new(q: &'q FleetQuery) -> Self {
        FigureGroups {
            q,
            values: BTreeMap::new(),
            read: 0,
            truncated: false,
        }
    }

    /// Takes the figures of one turn (a row of `turn_figures`); `false` once
    /// [`MAX_FLEET_FIGURES`] figures were read (stop reading).
    pub(super) fn push_turn(
        &mut self,
        agent_id: Option<String>,
        started_at_ms: i64,
        row: FigureRow,
    ) -> bool {
        let bucket = self.q.bucket_of(started_at_ms);
        for (&figure, value) in FIGURE_COLUMNS.iter().zip(row) {
            let Some(value) = value else { continue };
            self.read += 1;
            if self.read > MAX_FLEET_FIGURES {
                self.truncated = true;
                return false;
            }
            self.values
                .entry((agent_id.clone(), figure, bucket))
                .or_default()
                .push(value);
        }
        true
    }

    /// The points per bucket and the totals over the window, into `fleet`.
    pub(super) fn finish(self, fleet: &mut Fleet) {
        fleet.truncated = self.truncated;
        let mut totals: BTreeMap<(Option<String>, Figure), Vec<i64>> = BTreeMap::new();
        for ((agent_id, figure, bucket), mut v) in self.values {
            totals
                .entry((agent_id.clone(), figure))
                .or_default()
                .extend(&v);
            fleet.points.push(point(agent_id, figure, bucket, &mut v));
        }
        for ((agent_id, figure), mut v) in totals {
            fleet.totals.push(point(agent_id, figure, -1, &mut v));
        }
    }
}

/// Count and nearest-rank percentiles of one group's values.
fn point(agent_id: Option<String>, figure: Figure, bucket: i64, v: &mut [i64]) -> FigurePoint {
    v.sort_unstable();
    FigurePoint {
        agent_id,
        figure,
        bucket,
        count: v.len() as u64,
        p50: nearest_rank(v, 50),
        p95: nearest_rank(v, 95),
    }
}

/// Calls and failed calls per agent and bucket, from (agent, start, status) rows.
pub(super) fn call_counts(
    q: &FleetQuery,
    rows: impl IntoIterator<Item = (Option<String>, i64, String)>,
) -> Vec<CallCount> {
    let mut calls: BTreeMap<(Option<String>, i64), (u64, u64)> = BTreeMap::new();
    for (agent_id, started_at_ms, status) in rows {
        let entry = calls
            .entry((agent_id, q.bucket_of(started_at_ms)))
            .or_default();
        entry.0 += 1;
        if status == CallStatus::Failed.as_str() {
            entry.1 += 1;
        }
    }
    calls
        .into_iter()
        .map(|((agent_id, bucket), (calls, failed))| CallCount {
            agent_id,
            bucket,
            calls,
            failed,
        })
        .collect()
}

/// A call's state with a sink from its entries' counts and the revision last delivered.
pub(super) fn delivery_state(
    dead: i64,
    retrying: i64,
    pending: i64,
    delivered_revision: Option<u32>,
) -> DeliveryState {
    if dead > 0 {
        DeliveryState::Dead
    } else if retrying > 0 {
        DeliveryState::Retrying
    } else if pending > 0 {
        DeliveryState::Pending
    } else if delivered_revision.is_some() {
        DeliveryState::Delivered
    } else {
        DeliveryState::NotSent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_group_by_bucket_and_total_over_the_window() {
        let q = FleetQuery {
            since_ms: 0,
            until_ms: 2000,
            bucket_ms: 1000,
            agent_id: None,
        };
        let mut groups = FigureGroups::new(&q);
        let llm = |v| {
            let mut row = FigureRow::default();
            row[2] = Some(v);
            row
        };
        assert_eq!(FIGURE_COLUMNS[2], Figure::Llm);
        for (at, v) in [(100, 10), (200, 30), (1500, 20), (1600, 0)] {
            assert!(groups.push_turn(Some("a".into()), at, llm(v)));
        }
        assert!(groups.push_turn(None, 100, FigureRow::default()));
        let mut fleet = Fleet::default();
        groups.finish(&mut fleet);
        let buckets: Vec<(i64, u64, Option<i64>)> = fleet
            .points
            .iter()
            .map(|p| (p.bucket, p.count, p.p50))
            .collect();
        assert_eq!(buckets, [(0, 2, Some(10)), (1, 2, Some(0))]);
        assert_eq!(fleet.totals.len(), 1);
        assert_eq!((fleet.totals[0].count, fleet.totals[0].p95), (4, Some(30)));
        assert!(!fleet.truncated);
    }

    #[test]
    fn calls_count_per_bucket_with_failures() {
        let q = FleetQuery {
            since_ms: 0,
            until_ms: 2000,
            bucket_ms: 1000,
            agent_id: None,
        };
        let counts = call_counts(
            &q,
            [
                (None, 10, "completed".to_string()),
                (None, 20, "failed".to_string()),
                (None, 1500, "completed".to_string()),
            ],
        );
        let got: Vec<(i64, u64, u64)> = counts
            .iter()
            .map(|c| (c.bucket, c.calls, c.failed))
            .collect();
        assert_eq!(got, [(0, 2, 1), (1, 1, 0)]);
    }

    #[test]
    fn a_dead_entry_outweighs_a_delivery() {
        assert_eq!(delivery_state(1, 1, 1, Some(2)), DeliveryState::Dead);
        assert_eq!(delivery_state(0, 0, 0, Some(2)), DeliveryState::Delivered);
        assert_eq!(delivery_state(0, 0, 0, None), DeliveryState::NotSent);
        assert_eq!(delivery_state(0, 0, 1, None), DeliveryState::Pending);
    }
}
