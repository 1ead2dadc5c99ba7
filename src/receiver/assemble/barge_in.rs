//! Across turns: which turns a framework marked interrupted were barge-ins and which ended with
//! the call, and each barge-in's figures derived from the speech intervals where no
//! `interruption` event gave them (CONVENTIONS.md section 4, "Barge-ins").
//!
//! - Pipecat marks `turn.was_interrupted` also when the call ends during a turn (an EndFrame or
//!   CancelFrame: a hang-up, or the agent's own goodbye). The call's last turn, interrupted with
//!   no caller speech after the agent began to speak, ended with the call: `endedByCall`, not
//!   interrupted.
//! - Where the spans give synthesis, not playback, and the framework drops the queued audio
//!   when it interrupts (Pipecat), a barge-in's interrupted turn's audio ends at the
//!   interruption (the turn span's end) when that is later than the speech the spans give:
//!   `agentEndMs` marked `derived`. Only for a turn the framework marked interrupted, followed
//!   by a turn whose caller began before that interruption.
//! - A barge-in's stop latency is the agent's audio end minus the interruption's detection
//!   where the source reports detection (the caller's speech start plus the detection
//!   latency), else minus the caller's speech start (the next turn's `userStartMs`: an upper
//!   bound that includes detection); its bleed-through the agent's words spoken after the
//!   caller began: against the text heard where the framework cut the text at the playout
//!   position (LiveKit), else at a nominal speaking rate.

use crate::receiver::calllog::{Interruption, TimingSource, Turn};

/// Words per second of synthesised speech where the text heard is unknown (150 words a minute:
/// the rate TTS voices speak at by default).
const WORDS_PER_SECOND: f64 = 2.5;

/// Figure names of a derived interruption in a turn's `timingSource`.
const STOP_LATENCY_MS: &str = "stopLatencyMs";
const BLEED_THROUGH_WORDS: &str = "bleedThroughWords";
/// The agent's audio end, in a turn's `timingSource`.
const AGENT_END_MS: &str = "agentEndMs";

/// What the call says beyond its turns.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallSpeech {
    /// The start of the last caller speech of the call, ms from its start.
    pub last_user_start_ms: Option<i64>,
}

/// How the agent's text relates to the audio played.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeardText {
    /// The text is what played (cut at the playout position).
    Played,
    /// The text is what was sent to synthesis.
    Sent,
}

/// What one turn's spans say about its audio beyond its speech intervals.
#[derive(Debug, Clone, Copy)]
pub struct TurnAudio {
    /// How the agent's text relates to the audio played.
    pub heard: HeardText,
    /// Where the framework stops the agent's audio when it interrupts the turn, ms from the
    /// call's start (Pipecat: the turn span's end); none where the spans give the audio's end.
    pub stops_at_interruption: Option<i64>,
}

impl Default for TurnAudio {
    fn default() -> Self {
        TurnAudio {
            heard: HeardText::Sent,
            stops_at_interruption: None,
        }
    }
}

/// Settles interruptions over the call's turns (in order), `audio` one entry per turn.
pub fn settle(turns: &mut [Turn], call: CallSpeech, audio: &[TurnAudio]) {
    if let Some(last) = turns.last_mut() {
        let spoken_over = match (last.agent_start_ms, call.last_user_start_ms) {
            (Some(agent), Some(user)) => user > agent,
            _ => false,
        };
        // An interruption event is the agent saying the caller barged in.
        if last.interrupted && !spoken_over && last.interruption.is_none() {
            last.ended_by_call = true;
        }
    }
    for i in 0..turns.len() {
        if turns[i].ended_by_call {
            turns[i].interrupted = false;
        }
        let caller_start = turns.get(i + 1).and_then(|t| t.user_start_ms);
        let audio = audio.get(i).copied().unwrap_or_default();
        if turns[i].interrupted {
            if let (Some(caller), Some(cut)) = (caller_start, audio.stops_at_interruption) {
                play_until_interruption(&mut turns[i], caller, cut);
            }
            derive(&mut turns[i], caller_start, audio.heard);
        }
    }
}

/// Extends the agent's audio of an interrupted turn to the interruption at `cut` (ms), when the
/// caller began (`caller`, ms) before it and it is later than the audio's recorded end.
fn play_until_interruption(turn: &mut Turn, caller: i64, cut: i64) {
    let Some(until) = turn.agent_end_ms else {
        return; // the agent never spoke: nothing to extend
    };
    if cut <= until || caller > cut {
        return;
    }
    turn.agent_end_ms = Some(cut);
    if let Some(last) = turn.agent_speech.last_mut() {
        last.end_ms = cut;
    }
    turn.timing_source
        .insert(AGENT_END_MS.to_string(), TimingSource::Derived);
}

/// Fills the interruption figures the spans did not give, from the caller's speech start.
fn derive(turn: &mut Turn, caller_start: Option<i64>, heard: HeardText) {
    let (Some(from), Some(until), Some(caller)) =
        (turn.agent_start_ms, turn.agent_end_ms, caller_start)
    else {
        return;
    };
    if caller > until {
        return; // the caller spoke after the agent stopped: nothing overlapped
    }
    // The agent's audio, not the silences between its stretches (a tool call between two
    // `agentSpeech` segments): what played in all, and what played after the caller began.
    let segments: Vec<(i64, i64)> = if turn.agent_speech.is_empty() {
        vec![(from, until)]
    } else {
        turn.agent_speech
            .iter()
            .map(|s| (s.start_ms, s.end_ms))
            .collect()
    };
    let played: i64 = segments.iter().map(|&(a, b)| (b - a).max(0)).sum();
    let overlap: i64 = segments
        .iter()
        .map(|&(a, b)| (b - a.max(caller)).max(0))
        .sum();
    let words = turn
        .text
        .as_deref()
        .map_or(0, |t| t.split_whitespace().count());
    let bleed = match heard {
        HeardText::Played if played > 0 => {
            (words as f64 * overlap as f64 / played as f64).round() as i64
        }
        _ => ((overlap as f64 / 1000.0 * WORDS_PER_SECOND).round() as i64).min(words as i64),
    };
    let found = turn.interruption.get_or_insert(Interruption {
        detection_latency_ms: None,
        stop_latency_ms: None,
        bleed_through_words: None,
    });
    if found.stop_latency_ms.is_none() {
        // From the detection where the source reports it, else from the caller's first sound.
        let detected = caller + found.detection_latency_ms.unwrap_or(0).max(0);
        found.stop_latency_ms = Some((until - detected).max(0));
        turn.timing_source
            .insert(STOP_LATENCY_MS.to_string(), TimingSource::Derived);
    }
    if found.bleed_through_words.is_none() {
        found.bleed_through_words = Some(bleed);
        turn.timing_source
            .insert(BLEED_THROUGH_WORDS.to_string(), TimingSource::Derived);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::calllog::SpeechSegment;

    fn heard(heard: HeardText) -> [TurnAudio; 1] {
        [TurnAudio {
            heard,
            ..TurnAudio::default()
        }]
    }

    fn turn(interrupted: bool, agent: Option<(i64, i64)>, user_start: Option<i64>) -> Turn {
        Turn {
            interrupted,
            agent_start_ms: agent.map(|a| a.0),
            agent_end_ms: agent.map(|a| a.1),
            user_start_ms: user_start,
            text: Some("one two three four five six seven eight nine ten".into()),
            ..Turn::default()
        }
    }

    #[test]
    fn the_last_turn_interrupted_with_nobody_speaking_over_it_ended_with_the_call() {
        let mut turns = vec![
            turn(false, Some((0, 900)), None),
            turn(true, Some((2000, 3000)), Some(1500)),
        ];
        settle(&mut turns, CallSpeech::default(), &[]);
        assert!(turns[1].ended_by_call && !turns[1].interrupted);
        assert_eq!(turns[1].interruption, None);
        let mut spoken_over = vec![turn(true, Some((2000, 3000)), Some(1500))];
        let call = CallSpeech {
            last_user_start_ms: Some(2600),
        };
        settle(&mut spoken_over, call, &[]);
        assert!(spoken_over[0].interrupted && !spoken_over[0].ended_by_call);
    }

    #[test]
    fn a_barge_in_stops_and_bleeds_through_from_the_callers_start() {
        let mut turns = vec![
            turn(true, Some((1000, 3000)), None),
            turn(false, None, Some(2500)),
        ];
        settle(&mut turns, CallSpeech::default(), &heard(HeardText::Played));
        let i = turns[0].interruption.clone().unwrap();
        assert_eq!(
            (i.stop_latency_ms, i.bleed_through_words),
            (Some(500), Some(3))
        );
        assert_eq!(
            turns[0].timing_source[STOP_LATENCY_MS],
            TimingSource::Derived
        );
        let mut sent = vec![
            turn(true, Some((1000, 3000)), None),
            turn(false, None, Some(2200)),
        ];
        settle(&mut sent, CallSpeech::default(), &heard(HeardText::Sent));
        let i = sent[0].interruption.clone().unwrap();
        assert_eq!(i.bleed_through_words, Some(2), "0.8 s at the nominal rate");
    }

    #[test]
    fn only_the_agents_speech_after_the_caller_began_bleeds_through() {
        // The agent spoke, called a tool (silent from 1500 to 3000), spoke again; the caller
        // began during the tool call and the agent's second stretch ran 1200 ms over them.
        let segments = |turn: &mut Turn| {
            turn.agent_speech = vec![
                SpeechSegment {
                    start_ms: 1000,
                    end_ms: 1500,
                },
                SpeechSegment {
                    start_ms: 3000,
                    end_ms: 4200,
                },
            ];
        };
        let mut sent = vec![
            turn(true, Some((1000, 4200)), None),
            turn(false, None, Some(2000)),
        ];
        segments(&mut sent[0]);
        settle(&mut sent, CallSpeech::default(), &heard(HeardText::Sent));
        let i = sent[0].interruption.clone().unwrap();
        assert_eq!(
            (i.stop_latency_ms, i.bleed_through_words),
            (Some(2200), Some(3)),
            "1.2 s of speech at the nominal rate, not the 2.2 s since the caller began"
        );
        let mut played = vec![
            turn(true, Some((1000, 4200)), None),
            turn(false, None, Some(3600)),
        ];
        segments(&mut played[0]);
        settle(
            &mut played,
            CallSpeech::default(),
            &heard(HeardText::Played),
        );
        let i = played[0].interruption.clone().unwrap();
        assert_eq!(
            i.bleed_through_words,
            Some(4),
            "600 of the 1700 ms of audio played over the caller: 10 words x 6/17"
        );
    }

    fn until_interruption(cut: i64) -> [TurnAudio; 2] {
        [
            TurnAudio {
                stops_at_interruption: Some(cut),
                ..TurnAudio::default()
            },
            TurnAudio::default(),
        ]
    }

    #[test]
    fn a_barge_in_after_synthesis_plays_until_the_interruption() {
        // Synthesis ended at 2000; the caller began at 3000 and the framework interrupted at
        // 3400 (its turn span's end): the audio played until then.
        let mut turns = vec![
            turn(true, Some((1000, 2000)), None),
            turn(false, None, Some(3000)),
        ];
        turns[0].agent_speech = vec![SpeechSegment {
            start_ms: 1000,
            end_ms: 2000,
        }];
        settle(&mut turns, CallSpeech::default(), &until_interruption(3400));
        assert_eq!(turns[0].agent_end_ms, Some(3400));
        assert_eq!(turns[0].agent_speech[0].end_ms, 3400);
        assert_eq!(turns[0].timing_source[AGENT_END_MS], TimingSource::Derived);
        let i = turns[0].interruption.clone().unwrap();
        assert_eq!(
            (i.stop_latency_ms, i.bleed_through_words),
            (Some(400), Some(1)),
            "0.4 s over the caller at the nominal rate"
        );
    }

    #[test]
    fn the_audio_is_not_extended_without_a_barge_in() {
        let extended = |turns: &mut Vec<Turn>, cut: i64| {
            settle(turns, CallSpeech::default(), &until_interruption(cut));
            turns[0].agent_end_ms != Some(2000)
        };
        let mut not_interrupted = vec![
            turn(false, Some((1000, 2000)), None),
            turn(false, None, Some(3000)),
        ];
        assert!(!extended(&mut not_interrupted, 3400));
        assert_eq!(not_interrupted[0].interruption, None);
        let mut last = vec![turn(true, Some((1000, 2000)), None)];
        assert!(!extended(&mut last, 3400), "no next turn: nobody barged in");
        let mut later = vec![
            turn(true, Some((1000, 2000)), None),
            turn(false, None, Some(3600)),
        ];
        assert!(
            !extended(&mut later, 3400),
            "the caller began after the interruption"
        );
        assert_eq!(later[0].interruption, None, "nothing overlapped");
        let mut cut_early = vec![
            turn(true, Some((1000, 2000)), None),
            turn(false, None, Some(1500)),
        ];
        assert!(!extended(&mut cut_early, 1900), "the spans end later");
        assert!(!cut_early[0].timing_source.contains_key(AGENT_END_MS));
    }

    #[test]
    fn stop_latency_counts_from_the_detection_where_it_is_reported() {
        let mut turns = vec![
            turn(true, Some((1000, 3000)), None),
            turn(false, None, Some(2500)),
        ];
        turns[0].interruption = Some(Interruption {
            detection_latency_ms: Some(150),
            stop_latency_ms: None,
            bleed_through_words: None,
        });
        settle(&mut turns, CallSpeech::default(), &heard(HeardText::Sent));
        let i = turns[0].interruption.clone().unwrap();
        assert_eq!(i.stop_latency_ms, Some(350), "3000 - (2500 + 150)");
        assert_eq!(
            i.bleed_through_words,
            Some(1),
            "0.5 s from the caller's start"
        );
    }

    #[test]
    fn an_event_keeps_its_figures() {
        let mut turns = vec![
            turn(true, Some((1000, 3000)), None),
            turn(false, None, Some(2500)),
        ];
        turns[0].interruption = Some(Interruption {
            detection_latency_ms: Some(120),
            stop_latency_ms: Some(200),
            bleed_through_words: None,
        });
        settle(&mut turns, CallSpeech::default(), &heard(HeardText::Played));
        let i = turns[0].interruption.clone().unwrap();
        assert_eq!(
            (i.detection_latency_ms, i.stop_latency_ms),
            (Some(120), Some(200))
        );
        assert!(!turns[0].timing_source.contains_key(STOP_LATENCY_MS));
    }
}
