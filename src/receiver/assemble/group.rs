//! Which spans make up each turn, as the call's dialect groups them ([`Grouping`]): `turn`
//! spans and their stages (voicetrace, Pipecat), LiveKit's `agent_turn` joined with its
//! `user_turn`, or one turn per model request (any GenAI agent).
//!
//! The result, [`TurnParts`] in call order, is what the turn builder reads figures from.

use std::collections::HashMap;

use crate::receiver::calllog::Stage;
use crate::receiver::span::{SpanId, SpanRecord};

use super::dialect::{Grouping, Rules, TurnOrder};
use super::index::SpanIndex;

/// One turn's spans before figures are computed.
#[derive(Debug, Default)]
pub struct TurnParts<'a> {
    /// The turn span (`turn`, `agent_turn`), if the dialect has one.
    pub turn: Option<&'a SpanRecord>,
    /// LiveKit's joined `user_turn`.
    pub user_turn: Option<&'a SpanRecord>,
    /// Stage spans with their stage, in start order.
    pub stages: Vec<(Stage, &'a SpanRecord)>,
}

impl<'a> TurnParts<'a> {
    /// The turn's spans of one stage, in start order.
    pub fn of(&self, stage: Stage) -> impl Iterator<Item = &'a SpanRecord> + '_ {
        self.stages
            .iter()
            .filter(move |(s, _)| *s == stage)
            .map(|(_, span)| *span)
    }

    /// The turn's first span of one stage.
    pub fn first(&self, stage: Stage) -> Option<&'a SpanRecord> {
        self.of(stage).next()
    }

    /// The turn's last span of one stage.
    pub fn last(&self, stage: Stage) -> Option<&'a SpanRecord> {
        self.of(stage).last()
    }

    /// The turn's own spans: the turn span and the user's turn span.
    pub fn own(&self) -> impl Iterator<Item = &'a SpanRecord> {
        self.turn.into_iter().chain(self.user_turn)
    }
}

/// The call's turns, in call order.
pub fn turns<'a>(index: &SpanIndex<'a>, rules: &Rules) -> Vec<TurnParts<'a>> {
    match rules.grouping {
        Grouping::TurnSpans { span, order, loose } => {
            by_turn_span(index, rules, span, order, loose)
        }
        Grouping::AgentTurns {
            agent_turn,
            user_turn,
        } => agent_turns(index, rules, agent_turn, user_turn),
        Grouping::ModelRequests { opens, leads } => model_requests(index, rules, opens, leads),
    }
}

/// A turn span's position: the first of `order` it carries.
fn position(span: &SpanRecord, order: &[TurnOrder]) -> Option<i64> {
    order.iter().find_map(|o| {
        span.attributes
            .i64(o.key)
            .map(|n| n.saturating_sub(o.first))
    })
}

/// Turn spans named `name` ordered by position (else start time), a stage belonging to its
/// nearest turn ancestor; a stage span of stage `loose` outside any turn is a turn.
fn by_turn_span<'a>(
    index: &SpanIndex<'a>,
    rules: &Rules,
    name: &str,
    order: &[TurnOrder],
    loose: Stage,
) -> Vec<TurnParts<'a>> {
    let mut turn_spans: Vec<&SpanRecord> = index
        .spans()
        .iter()
        .copied()
        .filter(|s| s.name == name)
        .collect();
    turn_spans.sort_by_key(|s| (position(s, order).unwrap_or(i64::MAX), s.start_unix_nano));
    let mut turns: Vec<TurnParts> = turn_spans
        .iter()
        .map(|t| TurnParts {
            turn: Some(t),
            ..TurnParts::default()
        })
        .collect();
    let at: HashMap<SpanId, usize> = turn_spans
        .iter()
        .enumerate()
        .map(|(i, t)| (t.span_id, i))
        .collect();
    let mut loose_spans = Vec::new();
    for s in index.spans() {
        let Some(stage) = rules.stage_of(s) else {
            continue;
        };
        match index.ancestor_named(s, name) {
            Some(t) => turns[at[&t.span_id]].stages.push((stage, s)),
            None if stage == loose => loose_spans.push(*s),
            None => {}
        }
    }
    if loose_spans.is_empty() {
        return turns;
    }
    turns.extend(loose_spans.into_iter().map(|s| TurnParts {
        stages: vec![(loose, s)],
        ..TurnParts::default()
    }));
    sort_by_start(&mut turns);
    turns
}

/// Sorts turns by start: their turn span's, else their first stage's (a turn span without
/// stages must not index its empty stage list: found by fuzzing).
fn sort_by_start(turns: &mut [TurnParts]) {
    turns.sort_by_key(|t| {
        t.turn
            .or_else(|| t.stages.first().map(|(_, s)| *s))
            .map_or(0, |s| s.start_unix_nano)
    });
}

/// Spans named `agent_turn` in start order, each joined with the latest sibling `user_turn`
/// that started before it and after the previous agent turn started; stages are its direct
/// children.
fn agent_turns<'a>(
    index: &SpanIndex<'a>,
    rules: &Rules,
    agent_turn: &str,
    user_turn: &str,
) -> Vec<TurnParts<'a>> {
    let mut previous_start = 0u64;
    let agent_turns = index
        .spans()
        .iter()
        .copied()
        .filter(|s| s.name == agent_turn);
    agent_turns
        .map(|turn| {
            let user = user_turn_of(index, turn, user_turn, previous_start);
            previous_start = turn.start_unix_nano;
            let mut stages: Vec<(Stage, &SpanRecord)> = index
                .children_of(turn)
                .filter_map(|s| rules.stage_of(s).map(|st| (st, s)))
                .collect();
            stages.sort_by_key(|(_, s)| s.start_unix_nano);
            TurnParts {
                turn: Some(turn),
                user_turn: user,
                stages,
            }
        })
        .collect()
}

/// The latest sibling of `turn` named `name` that started before it and not before `after`.
fn user_turn_of<'a>(
    index: &SpanIndex<'a>,
    turn: &SpanRecord,
    name: &str,
    after: u64,
) -> Option<&'a SpanRecord> {
    index
        .spans()
        .iter()
        .copied()
        .filter(|u| {
            u.name == name
                && u.parent_span_id == turn.parent_span_id
                && u.start_unix_nano <= turn.start_unix_nano
                && u.start_unix_nano >= after
        })
        .max_by_key(|u| u.start_unix_nano)
}

/// One turn per span of an `opens` stage; `leads` stages before it, and any other stage after
/// it (up to the next), belong to it.
fn model_requests<'a>(
    index: &SpanIndex<'a>,
    rules: &Rules,
    opens: &[Stage],
    leads: &[Stage],
) -> Vec<TurnParts<'a>> {
    let mut turns: Vec<TurnParts> = Vec::new();
    let mut pending = Vec::new();
    for span in index.spans() {
        let Some(stage) = rules.stage_of(span) else {
            continue;
        };
        if opens.contains(&stage) {
            let mut stages = std::mem::take(&mut pending);
            stages.push((stage, *span));
            turns.push(TurnParts {
                stages,
                ..TurnParts::default()
            });
        } else if leads.contains(&stage) {
            pending.push((stage, *span));
        } else {
            match turns.last_mut() {
                Some(t) => t.stages.push((stage, *span)),
                None => pending.push((stage, *span)),
            }
        }
    }
    turns
}
