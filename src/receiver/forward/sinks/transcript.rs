//! A call log's turns as utterances (who spoke, what, from when to when), shared by the
//! transcript formats of the cekura and webhook sinks.
//!
//! A turn carries its extent (`startMs`..`endMs`) and the voice-to-voice wait, not the edges
//! of each person's speech, so the edges are placed such that the gap between the user's last
//! word and the agent's first audio is the turn's measured wait (what transcript-based latency
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
    let agent_start = (start + response_wait_ms(turn).max(0)).min(end);
    if let Some(text) = turn.user_text.as_deref().filter(|t| !t.trim().is_empty()) {
        let user_start = previous_end_ms.unwrap_or(start).clamp(0, start);
        out.push(Utterance {
            speaker: Speaker::User,
            text,
            start_ms: user_start,
            end_ms: start,
        });
    }
    if let Some(text) = turn.text.as_deref().filter(|t| !t.trim().is_empty()) {
        out.push(Utterance {
            speaker: Speaker::Agent,
            text,
            start_ms: agent_start,
            end_ms: end,
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
    tool.start_ms + tool.duration_ms.max(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn turn(
        speaker: Speaker,
        user: Option<&str>,
        agent: Option<&str>,
        start: i64,
        end: i64,
    ) -> Turn {
        Turn {
            index: 0,
            speaker,
            text: agent.map(str::to_string),
            user_text: user.map(str::to_string),
            start_ms: start,
            end_ms: end,
            stt_ms: Some(200),
            llm_ms: Some(300),
            tts_ms: Some(100),
            latency_ms: Some(900),
            endpointing_ms: None,
            stt_duration_ms: None,
            llm_duration_ms: None,
            tts_duration_ms: None,
            tool_ms: None,
            interrupted: false,
            interruption: None,
            tools: vec![],
            timing_source: BTreeMap::new(),
            providers: BTreeMap::new(),
            llm_input_tokens: None,
            llm_output_tokens: None,
            tts_characters: None,
            errors: vec![],
            stage_spans: vec![],
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
    fn a_greeting_has_only_the_agent_and_waits_are_clamped_to_the_turn() {
        let t = turn(Speaker::Agent, None, Some("Hello!"), 0, 400);
        let u = turn_utterances(&t, None);
        assert_eq!(u.len(), 1);
        assert_eq!((u[0].start_ms, u[0].end_ms), (400, 400));
    }
}
