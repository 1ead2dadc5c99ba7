//! What the call page draws, as plain geometry from the call log (pure: no HTML here).
//!
//! - [`Timeline`]: the call's time axis with one lane per kind of bar (the user's speech,
//!   endpointing, each STT / LLM / tool / TTS / S2S span, the agent's speech) and one band per
//!   turn. A bar is drawn only where the call log gives its extent: stage spans from
//!   `stageSpans`, speech from `userStartMs`/`userEndMs` and `agentSpeech[]` when a turn has
//!   them, endpointing from the end of the user's speech; nothing is invented.
//! - [`Stack`]: a turn's voice-to-voice latency split into STT + endpointing + LLM + TTS and
//!   what the measured latency has beyond them (**unaccounted**: queueing, waiting for a first
//!   sentence).

use crate::receiver::calllog::{CallLog, Stage, TimingSource, Turn};

use super::layout::ms;

/// The lanes, top to bottom: CSS class and label.
pub const LANES: &[(&str, &str)] = &[
    ("user", "user speech"),
    ("endpointing", "endpointing"),
    ("stt", "STT"),
    ("llm", "LLM"),
    ("tool", "tool"),
    ("tts", "TTS"),
    ("s2s", "S2S"),
    ("agent", "agent speech"),
];

/// One bar of the timeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bar {
    /// Its lane's class (one of [`LANES`]).
    pub lane: &'static str,
    /// The turn it belongs to.
    pub turn: u32,
    /// Start, ms from the call's start.
    pub start_ms: i64,
    /// End, ms from the call's start.
    pub end_ms: i64,
    /// What hovering says: the figure and its `timingSource`.
    pub title: String,
}

/// A turn's extent on the axis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Band {
    /// The turn.
    pub turn: u32,
    /// Start, ms.
    pub start_ms: i64,
    /// End, ms.
    pub end_ms: i64,
}

/// The call's timeline.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    /// The lanes that hold a bar, in [`LANES`] order.
    pub lanes: Vec<(&'static str, &'static str)>,
    /// The bars.
    pub bars: Vec<Bar>,
    /// One band per turn.
    pub bands: Vec<Band>,
    /// The axis' length, ms (the call's duration, or its last bar's end).
    pub span_ms: i64,
}

fn lane_of(stage: Stage) -> &'static str {
    match stage {
        Stage::Stt => "stt",
        Stage::Llm => "llm",
        Stage::Tts => "tts",
        Stage::Tool => "tool",
        Stage::S2s => "s2s",
        Stage::VoiceToVoice => "agent",
    }
}

fn source(turn: &Turn, figure: &str) -> String {
    match turn.timing_source.get(figure) {
        Some(TimingSource::Ttfb) => " (timingSource: ttfb)".to_string(),
        Some(TimingSource::Duration) => " (timingSource: duration)".to_string(),
        Some(TimingSource::Estimated) => " (timingSource: estimated)".to_string(),
        Some(TimingSource::Spans) => " (timingSource: spans)".to_string(),
        Some(TimingSource::Derived) => " (timingSource: derived)".to_string(),
        None => String::new(),
    }
}

/// The stage's figure as its first span's hover says it.
fn figure_text(turn: &Turn, stage: Stage) -> Option<String> {
    let (name, value) = match stage {
        Stage::Stt => ("sttMs", turn.stt_ms),
        Stage::Llm => ("llmMs", turn.llm_ms),
        Stage::Tts => ("ttsMs", turn.tts_ms),
        _ => return None,
    };
    let value = value?;
    Some(format!("{name} {}{}", ms(Some(value)), source(turn, name)))
}

impl Timeline {
    /// The timeline of a call.
    pub fn of(log: &CallLog) -> Timeline {
        let mut bars = Vec::new();
        let mut bands = Vec::new();
        for turn in &log.turns {
            bands.push(Band {
                turn: turn.index,
                start_ms: turn.start_ms,
                end_ms: turn.end_ms.max(turn.start_ms),
            });
            speech_bars(turn, &mut bars);
            stage_bars(turn, &mut bars);
        }
        let last = bars
            .iter()
            .map(|b| b.end_ms)
            .chain(bands.iter().map(|b| b.end_ms));
        let span_ms = last
            .chain([log.metrics.total_duration_ms])
            .max()
            .unwrap_or(0)
            .max(1);
        let lanes = LANES
            .iter()
            .copied()
            .filter(|(lane, _)| bars.iter().any(|b| b.lane == *lane))
            .collect();
        Timeline {
            lanes,
            bars,
            bands,
            span_ms,
        }
    }
}

fn speech_bars(turn: &Turn, bars: &mut Vec<Bar>) {
    let user = turn.user_start_ms.zip(turn.user_end_ms);
    if let Some((start, end)) = user {
        bars.push(Bar {
            lane: "user",
            turn: turn.index,
            start_ms: start,
            end_ms: end.max(start),
            title: format!(
                "Turn {} · user speech {}",
                turn.index,
                ms(Some(end - start))
            ),
        });
    }
    let user_end = user.map(|(_, end)| end);
    if let (Some(end), Some(endpointing)) = (user_end, turn.endpointing_ms) {
        bars.push(Bar {
            lane: "endpointing",
            turn: turn.index,
            start_ms: end,
            end_ms: end + endpointing.max(0),
            title: format!(
                "Turn {} · endpointingMs {}{}",
                turn.index,
                ms(Some(endpointing)),
                source(turn, "endpointingMs")
            ),
        });
    }
    for interval in &turn.agent_speech {
        let (start, end) = (interval.start_ms, interval.end_ms);
        bars.push(Bar {
            lane: "agent",
            turn: turn.index,
            start_ms: start,
            end_ms: end.max(start),
            title: format!(
                "Turn {} · agent speech {}",
                turn.index,
                ms(Some(end - start))
            ),
        });
    }
}

fn stage_bars(turn: &Turn, bars: &mut Vec<Bar>) {
    let mut seen: Vec<Stage> = Vec::new();
    let mut tools = turn.tools.iter();
    for span in &turn.stage_spans {
        let first = !seen.contains(&span.stage);
        seen.push(span.stage);
        let label = match span.stage {
            Stage::Tool => match tools.next() {
                Some(t) => match &t.error {
                    Some(e) => format!("tool {} (failed: {e})", t.name),
                    None => format!("tool {}", t.name),
                },
                None => "tool".to_string(),
            },
            other => other.as_str().to_uppercase(),
        };
        let figure = first
            .then(|| figure_text(turn, span.stage))
            .flatten()
            .map(|f| format!(" · {f}"))
            .unwrap_or_default();
        bars.push(Bar {
            lane: lane_of(span.stage),
            turn: turn.index,
            start_ms: span.start_ms,
            end_ms: span.start_ms + span.duration_ms.max(0),
            title: format!(
                "Turn {} · {label} span {}{figure}",
                turn.index,
                ms(Some(span.duration_ms))
            ),
        });
    }
}

/// One part of a turn's latency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// CSS class: `stt`, `endpointing`, `llm`, `tts`, `unaccounted`.
    pub class: &'static str,
    /// Its figure, ms.
    pub ms: i64,
    /// What hovering says.
    pub title: String,
}

/// A turn's voice-to-voice latency as a stacked bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stack {
    /// The turn.
    pub turn: u32,
    /// The voice-to-voice latency.
    pub latency_ms: i64,
    /// Whether it was estimated (the sum of the stages) rather than measured.
    pub estimated: bool,
    /// STT, endpointing, LLM, TTS (where the turn has them), then unaccounted (when the
    /// measured latency exceeds their sum).
    pub segments: Vec<Segment>,
    /// By how much the stages' sum exceeds the latency (they overlap); 0 when it does not.
    pub overlap_ms: i64,
}

impl Stack {
    /// The stack of a turn with a voice-to-voice latency.
    pub fn of(turn: &Turn) -> Option<Stack> {
        let latency_ms = turn.latency_ms?;
        let stt = turn
            .stt_ms
            .filter(|_| turn.timing_source.contains_key("sttMs"));
        let parts = [
            ("stt", "STT", "sttMs", stt),
            (
                "endpointing",
                "endpointing",
                "endpointingMs",
                turn.endpointing_ms,
            ),
            ("llm", "LLM", "llmMs", turn.llm_ms),
            ("tts", "TTS", "ttsMs", turn.tts_ms),
        ];
        let mut segments: Vec<Segment> = parts
            .iter()
            .filter_map(|(class, label, figure, value)| {
                let v = (*value)?.max(0);
                Some(Segment {
                    class,
                    ms: v,
                    title: format!("{label} {}{}", ms(Some(v)), source(turn, figure)),
                })
            })
            .collect();
        let sum: i64 = segments.iter().map(|s| s.ms).sum();
        let unaccounted = latency_ms - sum;
        if unaccounted > 0 {
            segments.push(Segment {
                class: "unaccounted",
                ms: unaccounted,
                title: format!(
                    "unaccounted {}: measured latency beyond its stages (queueing, waiting for a \
                     first sentence)",
                    ms(Some(unaccounted))
                ),
            });
        }
        Some(Stack {
            turn: turn.index,
            latency_ms,
            estimated: turn.timing_source.get("latencyMs") == Some(&TimingSource::Estimated),
            segments,
            overlap_ms: (-unaccounted).max(0),
        })
    }

    /// The unaccounted share, ms.
    pub fn unaccounted_ms(&self) -> i64 {
        self.segments
            .iter()
            .filter(|s| s.class == "unaccounted")
            .map(|s| s.ms)
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::calllog::{SpeechSegment, StageExtent, ToolExecution};
    use std::collections::BTreeMap;

    fn turn() -> Turn {
        serde_json::from_value(serde_json::json!({
            "index": 1, "speaker": "user", "text": "ok", "userText": "hi",
            "startMs": 1000, "endMs": 4000, "sttMs": 200, "llmMs": 400, "ttsMs": 150,
            "latencyMs": 1250, "endpointingMs": 100, "sttDurationMs": null,
            "llmDurationMs": null, "ttsDurationMs": null, "toolMs": null, "interrupted": false,
            "interruption": null, "tools": [], "timingSource": {"sttMs": "ttfb", "llmMs": "ttfb",
            "ttsMs": "duration", "latencyMs": "ttfb", "endpointingMs": "ttfb"},
            "providers": {}, "llmInputTokens": null, "llmOutputTokens": null,
            "ttsCharacters": null, "errors": []
        }))
        .unwrap()
    }

    #[test]
    fn the_stack_shows_what_the_stages_do_not_account_for() {
        let stack = Stack::of(&turn()).unwrap();
        let parts: Vec<(&str, i64)> = stack.segments.iter().map(|s| (s.class, s.ms)).collect();
        assert_eq!(
            parts,
            [
                ("stt", 200),
                ("endpointing", 100),
                ("llm", 400),
                ("tts", 150),
                ("unaccounted", 400)
            ]
        );
        assert_eq!(stack.unaccounted_ms(), 400);
        assert_eq!(stack.overlap_ms, 0);
        assert!(stack.segments[3].title.contains("timingSource: duration"));
        let mut fast = turn();
        fast.latency_ms = Some(700);
        let stack = Stack::of(&fast).unwrap();
        assert_eq!((stack.unaccounted_ms(), stack.overlap_ms), (0, 150));
        fast.latency_ms = None;
        assert_eq!(Stack::of(&fast), None, "a greeting has no latency to split");
    }

    #[test]
    fn bars_come_from_the_call_log_and_nothing_is_invented() {
        let mut t = turn();
        t.stage_spans = vec![
            StageExtent {
                stage: Stage::Stt,
                start_ms: 900,
                duration_ms: 300,
            },
            StageExtent {
                stage: Stage::Llm,
                start_ms: 1300,
                duration_ms: 500,
            },
            StageExtent {
                stage: Stage::Tool,
                start_ms: 1400,
                duration_ms: 120,
            },
            StageExtent {
                stage: Stage::Llm,
                start_ms: 1600,
                duration_ms: 200,
            },
        ];
        t.tools = vec![ToolExecution {
            name: "lookup_order".into(),
            input: None,
            output: None,
            start_ms: 1400,
            duration_ms: Some(120),
            error: None,
        }];
        let mut log: CallLog = crate::receiver::calllog::CallLog {
            turns: vec![t.clone()],
            ..sample_log()
        };
        let tl = Timeline::of(&log);
        let lanes: Vec<&str> = tl.lanes.iter().map(|(l, _)| *l).collect();
        assert_eq!(
            lanes,
            ["stt", "llm", "tool"],
            "no speech lanes without their extents"
        );
        assert_eq!(tl.bars.len(), 4);
        assert!(tl.bars[0]
            .title
            .contains("sttMs 200 ms (timingSource: ttfb)"));
        assert!(tl.bars[2].title.contains("tool lookup_order"));
        assert!(
            !tl.bars[3].title.contains("llmMs"),
            "the figure is the first span's"
        );
        // The speech intervals are drawn.
        t.user_start_ms = Some(200);
        t.user_end_ms = Some(850);
        t.agent_speech = vec![SpeechSegment {
            start_ms: 2250,
            end_ms: 3900,
        }];
        let mut bars = Vec::new();
        speech_bars(&t, &mut bars);
        let got: Vec<(&str, i64, i64)> = bars
            .iter()
            .map(|b| (b.lane, b.start_ms, b.end_ms))
            .collect();
        assert_eq!(
            got,
            [
                ("user", 200, 850),
                ("endpointing", 850, 950),
                ("agent", 2250, 3900)
            ]
        );
        log.turns.clear();
        assert_eq!(Timeline::of(&log).bars, Vec::new());
    }

    fn sample_log() -> CallLog {
        serde_json::from_value(serde_json::json!({
            "id": "c", "traceId": "t", "revision": 1, "dialect": "voicetrace",
            "agentId": null, "agentName": null, "serviceName": null, "status": "completed",
            "endReason": null, "startedAt": "", "endedAt": "", "direction": null, "from": null,
            "to": null, "recordingUrl": null, "metadata": {}, "turns": [],
            "metrics": {"totalDurationMs": 5000, "turns": 0, "toolExecutions": 0,
                        "interruptions": 0, "llmInputTokens": 0, "llmOutputTokens": 0,
                        "ttsCharacters": 0, "errors": 0},
            "issues": [], "events": [], "logs": [], "customMetrics": {}, "links": {},
            "spanCount": 0
        }))
        .map(|mut l: CallLog| {
            l.metadata = BTreeMap::new();
            l
        })
        .unwrap()
    }
}
