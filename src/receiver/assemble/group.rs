//! Which spans make up each turn, as the call's dialect groups them ([`Grouping`]): `turn`
//! spans and their stages (voicetrace, Pipecat), LiveKit's `agent_turn` joined with its
//! `user_turn`, or one turn per model request (any GenAI agent).
//!
//! The result, [`TurnParts`] in call order, is what the turn builder reads figures from.

use foldhash::HashMap;

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
    /// Stage spans with their stage, in start order (the generation the caller heard).
    pub stages: Vec<(Stage, &'a SpanRecord)>,
    /// Stage spans of generations thrown away before it (LiveKit's preemptive generation).
    pub discarded_stages: Vec<(Stage, &'a SpanRecord)>,
    /// How many generations were thrown away.
    pub discarded: u32,
    /// The caller's speech spans (LiveKit's `user_speaking`), in start order.
    pub user_speech: Vec<&'a SpanRecord>,
    /// The agent's speech spans (LiveKit's `agent_speaking`), in start order.
    pub agent_speech: Vec<&'a SpanRecord>,
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
        Grouping::AgentTurns { .. } => agent_turns(index, rules, &rules.grouping),
        Grouping::ModelRequests { opens, leads } => model_requests(index, rules, opens, leads),
    }
}

/// The start (Unix ns) of the call's last caller speech: its last speech span (LiveKit's
/// `user_speaking`) or stt span.
pub fn last_user_speech(index: &SpanIndex, rules: &Rules) -> Option<u64> {
    let speaking = match rules.grouping {
        Grouping::AgentTurns { user_speaking, .. } => Some(user_speaking),
        _ => None,
    };
    index
        .spans()
        .iter()
        .filter(|s| speaking == Some(s.name.as_str()) || rules.stage_of(s) == Some(Stage::Stt))
        .map(|s| s.start_unix_nano)
        .max()
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
/// that started before it and after the previous agent turn started; stages and agent speech
/// are its direct children; its caller speech the `user_speaking` spans from the previous agent
/// turn's start to its own agent speech; stages that started before its last discard event are
/// the discarded generations'.
fn agent_turns<'a>(
    index: &SpanIndex<'a>,
    rules: &Rules,
    grouping: &Grouping,
) -> Vec<TurnParts<'a>> {
    let Grouping::AgentTurns {
        agent_turn,
        user_turn,
        user_speaking,
        agent_speaking,
        discarded,
    } = *grouping
    else {
        return Vec::new();
    };
    let mut previous_start = 0u64;
    let agent_turns = index
        .spans()
        .iter()
        .copied()
        .filter(|s| s.name == agent_turn);
    agent_turns
        .map(|turn| {
            let user = user_turn_of(index, turn, user_turn, previous_start);
            let agent_speech = named_children(index, turn, agent_speaking);
            let speech_from = agent_speech
                .first()
                .map_or(turn.end_unix_nano, |s| s.start_unix_nano);
            let user_speech = named_between(index, user_speaking, previous_start, speech_from);
            previous_start = turn.start_unix_nano;
            let mut stages: Vec<(Stage, &SpanRecord)> = index
                .children_of(turn)
                .filter_map(|s| rules.stage_of(s).map(|st| (st, s)))
                .collect();
            stages.sort_by_key(|(_, s)| s.start_unix_nano);
            let (discards, last_discard) = discard_events(turn, discarded);
            let (discarded_stages, stages) = stages
                .into_iter()
                .partition(|(_, s)| last_discard.is_some_and(|at| s.start_unix_nano < at));
            TurnParts {
                turn: Some(turn),
                user_turn: user,
                stages,
                discarded_stages,
                discarded: discards,
                user_speech,
                agent_speech,
            }
        })
        .collect()
}

/// How many `name` events `turn` carries, and the time of the last.
fn discard_events(turn: &SpanRecord, name: &str) -> (u32, Option<u64>) {
    let times: Vec<u64> = turn
        .events
        .iter()
        .filter(|e| e.name == name)
        .map(|e| e.time_unix_nano)
        .collect();
    let count = u32::try_from(times.len()).unwrap_or(u32::MAX);
    (count, times.into_iter().max())
}

/// The children of `parent` named `name`, in start order.
fn named_children<'a>(
    index: &SpanIndex<'a>,
    parent: &SpanRecord,
    name: &str,
) -> Vec<&'a SpanRecord> {
    let mut spans: Vec<&SpanRecord> = index
        .children_of(parent)
        .filter(|s| s.name == name)
        .collect();
    spans.sort_by_key(|s| s.start_unix_nano);
    spans
}

/// The spans named `name` (anywhere: LiveKit parents `user_speaking` to whatever span was
/// current) that start in `from..until`, in start order.
fn named_between<'a>(
    index: &SpanIndex<'a>,
    name: &str,
    from: u64,
    until: u64,
) -> Vec<&'a SpanRecord> {
    index
        .spans()
        .iter()
        .copied()
        .filter(|s| s.name == name && s.start_unix_nano >= from && s.start_unix_nano < until)
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

#[cfg(test)]
mod tests {
    use super::super::dialect::{GENAI, LIVEKIT, PIPECAT, VOICETRACE};
    use super::super::test_support::span;
    use super::*;
    use crate::semconv::{self, livekit, pipecat};

    /// A turn as (turn span id, user turn id, [stage span ids]), 0 for none.
    type Shape = (u8, u8, Vec<(Stage, u8)>);

    fn shape(spans: &[SpanRecord], rules: &Rules) -> Vec<Shape> {
        let index = SpanIndex::new(spans);
        turns(&index, rules)
            .iter()
            .map(|t| {
                let id = |s: Option<&SpanRecord>| s.map_or(0, |s| s.span_id[7]);
                let stages = t.stages.iter().map(|(st, s)| (*st, s.span_id[7]));
                (id(t.turn), id(t.user_turn), stages.collect())
            })
            .collect()
    }

    #[test]
    fn turn_spans_are_ordered_by_index_and_own_their_nearest_stages() {
        let spans = [
            span(1, semconv::SPAN_TURN)
                .at(0, 100)
                .attr(semconv::TURN_INDEX, 1)
                .build(),
            span(2, semconv::SPAN_TURN)
                .at(200, 300)
                .attr(semconv::TURN_INDEX, 0)
                .build(),
            span(3, semconv::SPAN_STT).parent(1).at(10, 20).build(),
            span(4, semconv::SPAN_TURN).parent(1).at(30, 90).build(),
            span(5, semconv::SPAN_LLM).parent(4).at(40, 50).build(),
        ];
        assert_eq!(
            shape(&spans, &VOICETRACE),
            [
                (2, 0, vec![]),
                (1, 0, vec![(Stage::Stt, 3)]),
                (4, 0, vec![(Stage::Llm, 5)]),
            ]
        );
    }

    #[test]
    fn pipecat_turn_numbers_count_from_one() {
        let turn = |id: u8, number: i64, at: u64| {
            span(id, semconv::SPAN_TURN)
                .at(at, at + 10)
                .attr(pipecat::TURN_NUMBER, number)
                .build()
        };
        let spans = [turn(1, 2, 0), turn(2, 1, 50), turn(3, 3, 20)];
        let order: Vec<u8> = shape(&spans, &PIPECAT).iter().map(|t| t.0).collect();
        assert_eq!(order, [2, 1, 3]);
        assert_eq!(position(&spans[1], &[]), None);
    }

    #[test]
    fn an_s2s_span_outside_any_turn_is_a_turn_in_start_order() {
        let spans = [
            span(1, semconv::SPAN_TURN).at(100, 200).build(),
            span(2, semconv::SPAN_S2S).at(0, 50).build(),
            span(3, semconv::SPAN_LLM).at(300, 400).build(),
        ];
        assert_eq!(
            shape(&spans, &VOICETRACE),
            [(0, 0, vec![(Stage::S2s, 2)]), (1, 0, vec![])]
        );
    }

    #[test]
    fn livekit_joins_each_agent_turn_with_the_user_turn_before_it() {
        let spans = [
            span(1, livekit::SPAN_AGENT_SESSION).at(0, 1000).build(),
            span(2, livekit::SPAN_USER_TURN)
                .parent(1)
                .at(10, 90)
                .build(),
            span(3, livekit::SPAN_AGENT_TURN)
                .parent(1)
                .at(100, 300)
                .build(),
            span(4, livekit::SPAN_TTS_NODE)
                .parent(3)
                .at(200, 250)
                .build(),
            span(5, livekit::SPAN_LLM_NODE)
                .parent(3)
                .at(110, 150)
                .build(),
            span(6, livekit::SPAN_AGENT_TURN)
                .parent(1)
                .at(400, 500)
                .build(),
        ];
        assert_eq!(
            shape(&spans, &LIVEKIT),
            [
                (3, 2, vec![(Stage::Llm, 5), (Stage::Tts, 4)]),
                (6, 0, vec![]),
            ]
        );
    }

    #[test]
    fn livekit_stages_are_direct_children_only() {
        let spans = [
            span(1, livekit::SPAN_AGENT_TURN).at(0, 300).build(),
            span(2, "other").parent(1).at(10, 200).build(),
            span(3, livekit::SPAN_LLM_NODE)
                .parent(2)
                .at(20, 100)
                .build(),
        ];
        assert_eq!(shape(&spans, &LIVEKIT), [(1, 0, vec![])]);
    }

    #[test]
    fn genai_opens_a_turn_per_model_request() {
        let op = |id: u8, op: &str, at: u64| {
            span(id, "op")
                .at(at, at + 10)
                .attr(semconv::GEN_AI_OPERATION_NAME, op)
                .build()
        };
        let spans = [
            op(1, "execute_tool", 0),
            op(2, "speech_to_text", 10),
            op(3, "chat", 20),
            op(4, "text_to_speech", 30),
            op(5, "chat", 40),
        ];
        assert_eq!(
            shape(&spans, &GENAI),
            [
                (
                    0,
                    0,
                    vec![
                        (Stage::Tool, 1),
                        (Stage::Stt, 2),
                        (Stage::Llm, 3),
                        (Stage::Tts, 4)
                    ]
                ),
                (0, 0, vec![(Stage::Llm, 5)]),
            ]
        );
    }

    #[test]
    fn parts_give_their_stages_in_order() {
        let spans = [
            span(1, "llm").at(0, 10).build(),
            span(2, "tts").at(10, 20).build(),
            span(3, "llm").at(20, 30).build(),
        ];
        let parts = TurnParts {
            stages: vec![
                (Stage::Llm, &spans[0]),
                (Stage::Tts, &spans[1]),
                (Stage::Llm, &spans[2]),
            ],
            ..TurnParts::default()
        };
        assert_eq!(parts.of(Stage::Llm).count(), 2);
        assert_eq!(parts.first(Stage::Llm).map(|s| s.span_id[7]), Some(1));
        assert_eq!(parts.last(Stage::Llm).map(|s| s.span_id[7]), Some(3));
        assert!(parts.first(Stage::Stt).is_none());
        assert_eq!(parts.own().count(), 0);
    }
}
