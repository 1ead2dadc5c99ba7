//! The edges of each person's speech in one turn (CONVENTIONS.md section 4, "Speech
//! intervals"), as the dialect's [`SpeechRule`] says where to read them: LiveKit's
//! `user_speaking` / `agent_speaking` spans, the crate's speech marks, Pipecat's first sound
//! (where it anchors the stt span) and its tts spans' first audio. Every edge says where it
//! came from (`spans` when a span or mark is the speech itself, `derived` when it follows from
//! other spans and figures); an edge no span gives is absent, never invented.

use crate::receiver::calllog::{Stage, TimingSource};
use crate::receiver::span::SpanRecord;

use super::dialect::{AgentSpeech, SpeechRule, UserEdge};
use super::group::TurnParts;
use super::timing::first_secs;

const NANOS_PER_MS: i128 = 1_000_000;

/// Which edge of the caller's speech is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edge {
    /// Where it starts.
    Start,
    /// Where it ends.
    End,
}

/// One edge (Unix ns) and where it came from.
pub type At = (u64, TimingSource);

/// The agent's speech segments (Unix ns, in order, not overlapping) and where they came from.
#[derive(Debug, Default, PartialEq)]
pub struct AgentSegments {
    /// The segments.
    pub segments: Vec<(u64, u64)>,
    /// Where they came from (none when there are none).
    pub source: Option<TimingSource>,
}

impl AgentSegments {
    /// The agent's first audio.
    pub fn start(&self) -> Option<At> {
        Some((self.segments.first()?.0, self.source?))
    }

    /// The end of its audio.
    pub fn end(&self) -> Option<At> {
        Some((self.segments.last()?.1, self.source?))
    }
}

/// The agent's speech in a turn: the first of the rule's sources that gives a segment.
pub fn agent_segments(parts: &TurnParts, rule: &SpeechRule) -> AgentSegments {
    rule.agent
        .iter()
        .find_map(|source| {
            let (segments, from) = match *source {
                AgentSpeech::SpeechSpans => {
                    (span_segments(&parts.agent_speech), TimingSource::Spans)
                }
                AgentSpeech::TurnEvents(start, stop) => {
                    (event_segments(parts.turn, start, stop), TimingSource::Spans)
                }
                AgentSpeech::FirstByte(stage, keys) => (
                    first_byte_segments(parts, stage, keys),
                    TimingSource::Derived,
                ),
            };
            (!segments.is_empty()).then(|| AgentSegments {
                segments: merged(segments),
                source: Some(from),
            })
        })
        .unwrap_or_default()
}

/// One segment per speech span.
fn span_segments(spans: &[&SpanRecord]) -> Vec<(u64, u64)> {
    spans
        .iter()
        .map(|s| (s.start_unix_nano, s.end_unix_nano.max(s.start_unix_nano)))
        .collect()
}

/// Each `start` event on the turn span paired with the next `stop` event (the turn's end when
/// none follows).
fn event_segments(turn: Option<&SpanRecord>, start: &str, stop: &str) -> Vec<(u64, u64)> {
    let Some(turn) = turn else {
        return Vec::new();
    };
    let times = |name: &str| -> Vec<u64> {
        let mut t: Vec<u64> = turn
            .events
            .iter()
            .filter(|e| e.name == name)
            .map(|e| e.time_unix_nano)
            .collect();
        t.sort_unstable();
        t
    };
    let stops = times(stop);
    times(start)
        .into_iter()
        .map(|from| {
            let until = stops.iter().copied().find(|&t| t >= from);
            (from, until.unwrap_or(turn.end_unix_nano.max(from)))
        })
        .collect()
}

/// One segment per span of `stage` that has a first-byte key: from its start plus the first
/// byte to its end.
fn first_byte_segments(parts: &TurnParts, stage: Stage, keys: &[&str]) -> Vec<(u64, u64)> {
    parts
        .of(stage)
        .filter_map(|s| {
            let ms = first_secs(&s.attributes, keys)?;
            let from = shift(s.start_unix_nano, i128::from(ms.max(0)) * NANOS_PER_MS);
            Some((from, s.end_unix_nano.max(from)))
        })
        .collect()
}

/// Segments in start order, overlapping or touching ones joined.
fn merged(mut segments: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    segments.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::with_capacity(segments.len());
    for (from, until) in segments {
        match out.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(until),
            _ => out.push((from, until)),
        }
    }
    out
}

/// What a user edge is read from besides the turn's spans.
#[derive(Debug, Clone, Copy, Default)]
pub struct Known {
    /// The turn has a user part.
    pub user_spoke: bool,
    /// The agent's first audio.
    pub agent_start: Option<u64>,
    /// The measured voice-to-voice latency, ms.
    pub latency_ms: Option<i64>,
}

/// One edge of the caller's speech: the first of `sources` that gives it.
pub fn user_edge(parts: &TurnParts, sources: &[UserEdge], edge: Edge, known: Known) -> Option<At> {
    sources.iter().find_map(|source| match *source {
        UserEdge::SpeechSpans => {
            let at = match edge {
                Edge::Start => parts.user_speech.first().map(|s| s.start_unix_nano),
                Edge::End => parts.user_speech.iter().map(|s| s.end_unix_nano).max(),
            };
            at.map(|t| (t, TimingSource::Spans))
        }
        UserEdge::FirstSound(stage) => {
            let turn = parts.turn.filter(|_| known.user_spoke)?;
            let first = parts.first(stage).map(|s| s.start_unix_nano);
            let at = first.map_or(turn.start_unix_nano, |f| f.min(turn.start_unix_nano));
            Some((at, TimingSource::Spans))
        }
        UserEdge::TurnEvent(name) => turn_event(parts.turn, name, edge),
        UserEdge::StageStart(stage) => parts
            .first(stage)
            .map(|s| (s.start_unix_nano, TimingSource::Derived)),
        UserEdge::BeforeLatency => {
            let back = i128::from(known.latency_ms?) * NANOS_PER_MS;
            Some((shift(known.agent_start?, -back), TimingSource::Derived))
        }
    })
}

/// The first (for a start) or last (for an end) `name` event on the turn span.
fn turn_event(turn: Option<&SpanRecord>, name: &str, edge: Edge) -> Option<At> {
    let times = turn?
        .events
        .iter()
        .filter(|e| e.name == name)
        .map(|e| e.time_unix_nano);
    let at = match edge {
        Edge::Start => times.min(),
        Edge::End => times.max(),
    };
    at.map(|t| (t, TimingSource::Spans))
}

/// `at + delta` ns, saturating within u64.
fn shift(at: u64, delta: i128) -> u64 {
    (i128::from(at) + delta).clamp(0, i128::from(u64::MAX)) as u64
}

#[cfg(test)]
mod tests {
    use super::super::dialect::{LIVEKIT, PIPECAT, VOICETRACE};
    use super::super::test_support::{attrs, span, MS, T0};
    use super::*;
    use crate::semconv::{self, livekit};

    fn parts<'a>(turn: &'a SpanRecord, stages: &[&'a SpanRecord]) -> TurnParts<'a> {
        TurnParts {
            turn: Some(turn),
            stages: stages.iter().map(|s| (Stage::Tts, *s)).collect(),
            ..TurnParts::default()
        }
    }

    #[test]
    fn livekit_speech_is_its_speaking_spans() {
        let turn = span(1, livekit::SPAN_AGENT_TURN).at(0, 5000).build();
        let user = span(2, livekit::SPAN_USER_SPEAKING).at(100, 900).build();
        let agent = [
            span(3, livekit::SPAN_AGENT_SPEAKING).at(1500, 2000).build(),
            span(4, livekit::SPAN_AGENT_SPEAKING).at(3000, 4000).build(),
        ];
        let p = TurnParts {
            turn: Some(&turn),
            user_speech: vec![&user],
            agent_speech: agent.iter().collect(),
            ..TurnParts::default()
        };
        let a = agent_segments(&p, LIVEKIT.speech);
        assert_eq!(
            a.segments,
            [
                (T0 + 1500 * MS, T0 + 2000 * MS),
                (T0 + 3000 * MS, T0 + 4000 * MS)
            ]
        );
        assert_eq!(a.source, Some(TimingSource::Spans));
        let rule = LIVEKIT.speech;
        let start = user_edge(&p, rule.user_start, Edge::Start, Known::default());
        let end = user_edge(&p, rule.user_end, Edge::End, Known::default());
        assert_eq!(start, Some((T0 + 100 * MS, TimingSource::Spans)));
        assert_eq!(end, Some((T0 + 900 * MS, TimingSource::Spans)));
    }

    #[test]
    fn pipecat_agent_speech_starts_at_the_first_byte_and_the_user_ends_before_the_wait() {
        let turn = span(1, semconv::SPAN_TURN).at(1000, 6000).build();
        let tts = [
            span(2, semconv::SPAN_TTS)
                .parent(1)
                .at(3000, 3500)
                .attr(semconv::METRICS_TTFB, 0.12)
                .build(),
            span(3, semconv::SPAN_TTS)
                .parent(1)
                .at(3400, 4000)
                .attr(semconv::METRICS_TTFB, 0.1)
                .build(),
            span(4, semconv::SPAN_TTS).parent(1).at(5000, 5600).build(),
        ];
        let p = parts(&turn, &tts.iter().collect::<Vec<_>>());
        let a = agent_segments(&p, PIPECAT.speech);
        assert_eq!(
            a.segments,
            [(T0 + 3120 * MS, T0 + 4000 * MS)],
            "joined; no ttfb, no segment"
        );
        assert_eq!(a.source, Some(TimingSource::Derived));
        let known = Known {
            user_spoke: true,
            agent_start: a.start().map(|(t, _)| t),
            latency_ms: Some(900),
        };
        let rule = PIPECAT.speech;
        assert_eq!(
            user_edge(&p, rule.user_start, Edge::Start, known),
            Some((T0 + 1000 * MS, TimingSource::Spans))
        );
        assert_eq!(
            user_edge(&p, rule.user_end, Edge::End, known),
            Some((T0 + 2220 * MS, TimingSource::Derived))
        );
        let greeting = Known {
            user_spoke: false,
            ..known
        };
        assert_eq!(user_edge(&p, rule.user_start, Edge::Start, greeting), None);
        let unmeasured = Known {
            latency_ms: None,
            ..known
        };
        assert_eq!(
            user_edge(&p, rule.user_end, Edge::End, unmeasured),
            None,
            "never invented"
        );
    }

    #[test]
    fn pipecats_caller_starts_at_the_first_sound_where_it_anchors_the_stt_span() {
        // Pipecat opens the turn at the VAD's confirmation (1200) and starts the stt span at
        // the first sound (1000); an stt span opened late (no VAD) leaves the turn's start.
        let turn = span(1, semconv::SPAN_TURN).at(1200, 6000).build();
        let known = Known {
            user_spoke: true,
            ..Known::default()
        };
        let start = |stt: &SpanRecord| {
            let p = TurnParts {
                turn: Some(&turn),
                stages: vec![(Stage::Stt, stt)],
                ..TurnParts::default()
            };
            user_edge(&p, PIPECAT.speech.user_start, Edge::Start, known)
        };
        let anchored = span(2, semconv::SPAN_STT).parent(1).at(1000, 2500).build();
        assert_eq!(
            start(&anchored),
            Some((T0 + 1000 * MS, TimingSource::Spans))
        );
        let late = span(2, semconv::SPAN_STT).parent(1).at(1500, 2500).build();
        assert_eq!(start(&late), Some((T0 + 1200 * MS, TimingSource::Spans)));
    }

    #[test]
    fn the_crates_marks_win_over_its_stage_spans() {
        let none = attrs::<&str>(&[]);
        let turn = span(1, semconv::SPAN_TURN)
            .at(0, 5000)
            .event(semconv::EVENT_USER_STARTED_SPEAKING, 100, none.clone())
            .event(semconv::EVENT_USER_STOPPED_SPEAKING, 900, none.clone())
            .event(semconv::EVENT_AGENT_STARTED_SPEAKING, 1600, none.clone())
            .event(semconv::EVENT_AGENT_STOPPED_SPEAKING, 2500, none.clone())
            .event(semconv::EVENT_AGENT_STARTED_SPEAKING, 3000, none)
            .build();
        let stt = span(2, semconv::SPAN_STT).parent(1).at(950, 1100).build();
        let p = TurnParts {
            turn: Some(&turn),
            stages: vec![(Stage::Stt, &stt)],
            ..TurnParts::default()
        };
        let a = agent_segments(&p, VOICETRACE.speech);
        assert_eq!(
            a.segments,
            [
                (T0 + 1600 * MS, T0 + 2500 * MS),
                (T0 + 3000 * MS, T0 + 5000 * MS)
            ]
        );
        let rule = VOICETRACE.speech;
        let end = user_edge(&p, rule.user_end, Edge::End, Known::default());
        assert_eq!(end, Some((T0 + 900 * MS, TimingSource::Spans)));
        let unmarked = span(1, semconv::SPAN_TURN).at(0, 5000).build();
        let p = TurnParts {
            turn: Some(&unmarked),
            stages: vec![(Stage::Stt, &stt)],
            ..TurnParts::default()
        };
        let end = user_edge(&p, rule.user_end, Edge::End, Known::default());
        assert_eq!(
            end,
            Some((T0 + 950 * MS, TimingSource::Derived)),
            "the stt span's start"
        );
    }
}
