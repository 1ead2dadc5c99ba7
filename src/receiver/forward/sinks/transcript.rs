//! A call log's turns as utterances (who spoke, what, from when to when), shared by the
//! transcript formats of the cekura and webhook sinks.
//!
//! A turn carries the edges of each person's speech where its spans said them (`userStartMs`,
//! `userEndMs`, `agentStartMs`, `agentEndMs`, CONVENTIONS.md section 4): an utterance spans
//! them, so a barge-in's user utterance starts inside the agent's, and the gap between the
//! user's last word and the agent's first audio is what the spans measured (for Pipecat the
//! voice-to-voice latency itself). An edge no span gave falls back to the turn's extent and its
//! wait, placed such that that gap is still the turn's wait (what transcript-based latency
//! metrics read):
//!
//! - the agent speaks from `startMs + wait` (at most `endMs`) to `endMs`, where `wait` is
//!   `latencyMs`, else `sttMs + llmMs + ttsMs`, else 0;
//! - the user speaks from the end of the previous turn (the turn's own start when there is none)
//!   to the turn's start.

pub use crate::receiver::calllog::Speaker;
use crate::receiver::calllog::{ToolExecution, Turn};

/// One utterance, in ms from the call's start.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance<'a> {
    /// Who.
    pub speaker: Speaker,
    /// What.
    pub text: &'a str,
    /// From.
    pub start_ms: i64,
    /// To.
    pub end_ms: i64,
}

/// Milliseconds as seconds.
pub fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The wait between the user's last word and the agent's first audio in a turn.
pub fn response_wait_ms(turn: &Turn) -> i64 {
    if turn.speaker == Speaker::Agent {
        // A greeting: the agent's first audio comes after its model and speech synthesis.
        return turn.llm_ms.unwrap_or(0) + turn.tts_ms.unwrap_or(0);
    }
    turn.latency_ms.unwrap_or_else(|| {
        turn.stt_ms.unwrap_or(0) + turn.llm_ms.unwrap_or(0) + turn.tts_ms.unwrap_or(0)
    })
}

/// The utterances of a turn: the user's (when the turn has a user part), then the agent's
/// (when it said something). `previous_end_ms` is the end of the turn before, if any.
pub fn turn_utterances(turn: &Turn, previous_end_ms: Option<i64>) -> Vec<Utterance<'_>> {
    let mut out = Vec::with_capacity(2);
    let start = turn.start_ms;
    let end = turn.end_ms.max(start);
    if let Some(text) = turn.user_text.as_deref().filter(|t| !t.trim().is_empty()) {
        let (from, until) = match (turn.user_start_ms, turn.user_end_ms) {
            (Some(from), Some(until)) => (from, until.max(from)),
            (Some(from), None) => (from, start.max(from)),
            (None, Some(until)) => (previous_end_ms.unwrap_or(start).clamp(0, until), until),
            (None, None) => (previous_end_ms.unwrap_or(start).clamp(0, start), start),
        };
        out.push(Utterance {
            speaker: Speaker::User,
            text,
            start_ms: from,
            end_ms: until,
        });
    }
    if let Some(text) = turn.text.as_deref().filter(|t| !t.trim().is_empty()) {
        let (from, until) = match (turn.agent_start_ms, turn.agent_end_ms) {
            (Some(from), Some(until)) => (from, until.max(from)),
            _ => ((start + response_wait_ms(turn).max(0)).min(end), end),
        };
        out.push(Utterance {
            speaker: Speaker::Agent,
            text,
            start_ms: from,
            end_ms: until,
        });
    }
    out
}

/// Every utterance of a call, in turn order.
pub fn call_utterances(turns: &[Turn]) -> Vec<(&Turn, Utterance<'_>)> {
    let mut out = Vec::new();
    let mut previous_end = None;
    for turn in turns {
        for u in turn_utterances(turn, previous_end) {
            out.push((turn, u));
        }
        previous_end = Some(turn.end_ms);
    }
    out
}

/// The end of a tool execution, ms from the call's start.
pub fn tool_end_ms(tool: &ToolExecution) -> i64 {
    tool.start_ms + tool.duration_ms.unwrap_or(0).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn turn(
        speaker: Speaker,
        user: Option<&str>,
        agent: Option<&str>,
        start: i64,
        end: i64,
    ) -> Turn {
        Turn {
            speaker,
            text: agent.map(str::to_string),
            user_text: user.map(str::to_string),
            start_ms: start,
            end_ms: end,
            stt_ms: Some(200),
            llm_ms: Some(300),
            tts_ms: Some(100),
            latency_ms: Some(900),
            ..Turn::default()
        }
    }

    #[test]
    fn the_gap_between_user_and_agent_is_the_measured_wait() {
        let t = turn(Speaker::User, Some("hi"), Some("hello"), 5000, 8000);
        let u = turn_utterances(&t, Some(3000));
        assert_eq!(
            (u[0].speaker, u[0].start_ms, u[0].end_ms),
            (Speaker::User, 3000, 5000)
        );
        assert_eq!(
            (u[1].speaker, u[1].start_ms, u[1].end_ms),
            (Speaker::Agent, 5900, 8000)
        );
    }

    #[test]
    fn the_speech_intervals_win_and_a_barge_in_overlaps_the_agent() {
        let mut t = turn(Speaker::User, Some("stop"), Some("ok"), 5000, 8000);
        t.user_start_ms = Some(4600);
        t.user_end_ms = Some(5600);
        t.agent_start_ms = Some(6500);
        t.agent_end_ms = Some(7400);
        let u = turn_utterances(&t, Some(4900));
        assert_eq!(
            (u[0].start_ms, u[0].end_ms),
            (4600, 5600),
            "starts before the last turn ended"
        );
        assert_eq!((u[1].start_ms, u[1].end_ms), (6500, 7400));
        t.user_start_ms = None;
        let u = turn_utterances(&t, Some(4900));
        assert_eq!((u[0].start_ms, u[0].end_ms), (4900, 5600));
    }

    #[test]
    fn a_greeting_has_only_the_agent_and_waits_are_clamped_to_the_turn() {
        let t = turn(Speaker::Agent, None, Some("Hello!"), 0, 400);
        let u = turn_utterances(&t, None);
        assert_eq!(u.len(), 1);
        assert_eq!((u[0].start_ms, u[0].end_ms), (400, 400));
    }
}
