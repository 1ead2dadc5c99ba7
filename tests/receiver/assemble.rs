//! The pure assembly core against real framework exports (tests/fixtures): per-turn figures
//! equal to `expected.json`, whatever the arrival order; revisions; idle timeouts; bounds.

use voicetrace::receiver::analyze::{analyze, AnalysisConfig};
use voicetrace::receiver::assemble::{Assembler, AssemblerConfig};
use voicetrace::receiver::calllog::{CallLog, CallStatus, CallUpdate};
use voicetrace::receiver::span::SpanRecord;

use crate::common::fixtures::{
    all_fixture_dirs, assert_matches_expected, fixture_dirs, load_fixture_spans,
    load_fixture_spans_json,
};

const MS: u64 = 1_000_000;
/// An arbitrary receiver clock origin (the assembler never reads a clock of its own).
const T0: u64 = 1_800_000_000_000 * MS;

/// The call logs among `updates`, analysed as the server does (call metrics, issues).
fn finished(updates: Vec<CallUpdate>) -> Vec<CallLog> {
    updates
        .into_iter()
        .filter_map(|u| match u {
            CallUpdate::Finished(mut log) => {
                analyze(&mut log, &AnalysisConfig::default());
                Some(*log)
            }
            _ => None,
        })
        .collect()
}

/// Feeds batches one per ms, then polls past the grace; returns the call logs.
fn assemble(batches: Vec<Vec<SpanRecord>>, config: AssemblerConfig) -> Vec<CallLog> {
    let grace = config.grace_ms;
    let mut assembler = Assembler::new(config);
    let mut now = T0;
    let mut logs = Vec::new();
    for batch in batches {
        now += MS;
        logs.extend(finished(assembler.add_spans(batch, now)));
        logs.extend(finished(assembler.poll(now)));
    }
    logs.extend(finished(assembler.poll(now + grace * MS)));
    logs
}

#[test]
fn fixtures_match_expected_figures() {
    for dir in all_fixture_dirs() {
        let batches = load_fixture_spans(&dir);
        let logs = assemble(batches, AssemblerConfig::default());
        assert_matches_expected(&dir, &logs);
        for log in &logs {
            assert_eq!(log.status, CallStatus::Completed, "{}", dir.display());
            assert_eq!(log.revision, 0, "revisions are numbered when stored");
        }
    }
}

#[test]
fn otlp_json_and_protobuf_give_the_same_call_logs() {
    for dir in all_fixture_dirs() {
        let from_pb = assemble(load_fixture_spans(&dir), AssemblerConfig::default());
        let from_json = assemble(load_fixture_spans_json(&dir), AssemblerConfig::default());
        assert_eq!(from_pb, from_json, "{}", dir.display());
    }
}

#[test]
fn any_arrival_order_gives_the_same_call_log() {
    for dir in all_fixture_dirs() {
        let spans: Vec<SpanRecord> = load_fixture_spans(&dir).into_iter().flatten().collect();
        let reference = assemble(vec![spans.clone()], AssemblerConfig::default());
        // Root last is the common case; root first, reversed, and shuffled orders, one span per
        // request, must not change a figure.
        let mut orders: Vec<Vec<SpanRecord>> = Vec::new();
        let mut reversed = spans.clone();
        reversed.reverse();
        orders.push(reversed);
        let mut root_first = spans.clone();
        root_first.sort_by_key(|s| s.parent_span_id.is_some());
        orders.push(root_first);
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..5 {
            let mut shuffled = spans.clone();
            rng.shuffle(&mut shuffled);
            orders.push(shuffled);
        }
        for order in orders {
            // With the root first and a grace longer than the whole replay, nothing closes early.
            let batches = order.into_iter().map(|s| vec![s]).collect();
            let logs = assemble(
                batches,
                AssemblerConfig {
                    grace_ms: 10_000,
                    ..Default::default()
                },
            );
            assert_eq!(logs, reference, "{}", dir.display());
        }
    }
}

#[test]
fn late_spans_revise_the_call_log() {
    let dir = &fixture_dirs()[0];
    let mut spans: Vec<SpanRecord> = load_fixture_spans(dir).into_iter().flatten().collect();
    // Hold back one turn span (not the root): the first call log misses that turn.
    let late_at = spans
        .iter()
        .position(|s| s.name == "turn" || s.name == "agent_turn")
        .expect("a turn span");
    let late = spans.remove(late_at);
    let mut assembler = Assembler::new(AssemblerConfig::default());
    let first = finished(assembler.add_spans(spans, T0))
        .into_iter()
        .chain(finished(assembler.poll(T0 + 2_000 * MS)))
        .collect::<Vec<_>>();
    assert_eq!(first.len(), 1);

    let at = T0 + 5_000 * MS;
    assert!(finished(assembler.add_spans(vec![late], at)).is_empty());
    assert!(
        finished(assembler.poll(at + 1_999 * MS)).is_empty(),
        "the grace applies to revisions"
    );
    let revised = finished(assembler.poll(at + 2_000 * MS));
    assert_eq!(revised.len(), 1, "one revised call log");
    assert_eq!(revised[0].id, first[0].id);
    assert_eq!(revised[0].turns.len(), first[0].turns.len() + 1);
    assert_matches_expected(dir, &revised);
    // Nothing more without new spans.
    assert!(assembler.poll(at + 60_000 * MS).is_empty());
    assert!(
        assembler.take_released().is_empty(),
        "held for revisions until its window is over"
    );
    // Past the revision window the call is let go (its journal rows can go), once.
    assert!(assembler.poll(at + 2_000 * MS + 120_000 * MS).is_empty());
    let trace_id = spans_trace(dir);
    assert_eq!(assembler.take_released(), vec![trace_id]);
    assert!(assembler.take_released().is_empty());
}

fn spans_trace(dir: &std::path::Path) -> [u8; 16] {
    load_fixture_spans(dir)[0][0].trace_id
}

#[test]
fn a_call_whose_root_never_ends_closes_incomplete_after_the_idle_timeout() {
    let dir = &fixture_dirs()[0];
    let spans: Vec<SpanRecord> = load_fixture_spans(dir)
        .into_iter()
        .flatten()
        .filter(|s| s.name != "conversation" && s.name != "agent_session")
        .collect();
    let config = AssemblerConfig {
        idle_timeout_ms: 30_000,
        ..Default::default()
    };
    let mut assembler = Assembler::new(config);
    assembler.add_spans(spans, T0);
    assert!(finished(assembler.poll(T0 + 29_999 * MS)).is_empty());
    let logs = finished(assembler.poll(T0 + 30_000 * MS));
    assert_eq!(logs.len(), 1);
    assert_eq!(logs[0].status, CallStatus::Incomplete);
    assert!(!logs[0].turns.is_empty());
    assert_eq!(assembler.stats().calls_incomplete, 1);
}

#[test]
fn bounds_refuse_spans_and_evict_calls_and_count_both() {
    let dir = &fixture_dirs()[0];
    let spans: Vec<SpanRecord> = load_fixture_spans(dir).into_iter().flatten().collect();
    let config = AssemblerConfig {
        max_spans_per_call: 5,
        max_calls: 1,
        ..Default::default()
    };
    let mut assembler = Assembler::new(config);
    assembler.add_spans(spans.clone(), T0);
    assert_eq!(assembler.stats().spans_buffered, 5);
    assert_eq!(assembler.stats().spans_refused, spans.len() as u64 - 5);

    // A second call while the table is full evicts the first, which is closed, not dropped.
    let mut other = spans[0].clone();
    other.trace_id = [9; 16];
    let evicted = finished(assembler.add_spans(vec![other], T0 + MS));
    assert_eq!(evicted.len(), 1);
    assert_eq!(assembler.take_released(), vec![spans[0].trace_id]);
    // Its root was among the refused spans: closed as incomplete.
    assert_eq!(evicted[0].status, CallStatus::Incomplete);
    assert_eq!(assembler.stats().calls_evicted, 1);
    assert_eq!(assembler.stats().calls_open, 1);
    // Shedding for memory lets go of finished calls only: the open one stays.
    assert_eq!(assembler.shed_finished(0), 0);
    assert_eq!(assembler.stats().calls_open, 1);
    // At shutdown only finished calls are let go: the open one stays (in the journal).
    assembler.release_finished();
    assert!(assembler.take_released().is_empty());
}

#[test]
fn live_updates_announce_the_call_then_each_turn_then_the_log() {
    let dir = &fixture_dirs()[0];
    let batches = load_fixture_spans(dir);
    let mut assembler = Assembler::new(AssemblerConfig {
        live_turns: true,
        ..Default::default()
    });
    let mut kinds = Vec::new();
    let mut now = T0;
    for batch in batches {
        now += MS;
        for update in assembler.add_spans(batch, now) {
            kinds.push(match update {
                CallUpdate::Started(_) => "started",
                CallUpdate::TurnCompleted(_) => "turn",
                CallUpdate::Finished(_) => "finished",
            });
        }
    }
    kinds.extend(assembler.poll(now + 2_000 * MS).iter().map(|_| "finished"));
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "started").count(), 1);
    assert!(
        kinds.iter().filter(|k| **k == "turn").count() >= 2,
        "{kinds:?}"
    );
}

#[test]
fn finished_calls_are_shed_for_memory_open_ones_are_not() {
    let dir = &fixture_dirs()[0];
    let spans: Vec<SpanRecord> = load_fixture_spans(dir).into_iter().flatten().collect();
    let n = spans.len();
    let mut assembler = Assembler::new(AssemblerConfig::default());
    assembler.add_spans(spans.clone(), T0);
    assert_eq!(assembler.shed_finished(0), 0, "an open call is never shed");
    assert_eq!(finished(assembler.poll(T0 + 2_000 * MS)).len(), 1);
    assert_eq!(assembler.shed_finished(n), 0, "within the bound");
    assert_eq!(assembler.shed_finished(n - 1), n);
    assert_eq!(assembler.stats().spans_buffered, 0);
    assert_eq!(assembler.take_released(), vec![spans[0].trace_id]);
}

#[test]
#[ignore]
fn print_fixture_call_logs() {
    for dir in all_fixture_dirs() {
        let logs = assemble(load_fixture_spans(&dir), AssemblerConfig::default());
        for log in logs {
            println!(
                "=== {}\n{}",
                dir.display(),
                serde_json::to_string_pretty(&log).unwrap()
            );
        }
    }
}

/// How long the caller spoke in each user turn, as the fixtures' READMEs say (the scenario the
/// capture script played), and how far the call log may be off for that framework (LiveKit's
/// `user_speaking` spans are the speech itself; Pipecat's edges are derived from its turn start
/// and the voice-to-voice wait).
/// (turn index, ms the caller spoke) of one fixture.
type Spoken = &'static [(usize, i64)];

const SPOKEN: &[(&str, Spoken, i64)] = &[
    ("livekit-basic", &[(0, 2000), (1, 1500)], 150),
    ("livekit-barge-in", &[(0, 1500), (1, 1200)], 150),
    ("livekit-preemptive", &[(0, 2600)], 150),
    ("livekit-errors", &[(0, 1500), (1, 1500)], 150),
    ("livekit-realtime", &[(1, 1500), (2, 1200)], 150),
    (
        "pipecat-basic",
        &[(1, 1000), (2, 800), (3, 900), (4, 600)],
        300,
    ),
    // Turn 1 holds the caller's question, the failed request and the question asked again
    // (Pipecat opens no turn while the agent has not spoken): not one stretch of speech.
    ("pipecat-errors", &[(2, 800)], 300),
    ("pipecat-tools", &[(1, 1300), (2, 1100)], 300),
    ("pipecat-interrupt", &[(1, 1200), (2, 1000)], 300),
];

#[test]
fn speech_intervals_are_what_the_caller_and_the_agent_said() {
    for (name, spoken, tolerance) in SPOKEN {
        let dir = crate::common::fixtures::dir(name);
        let logs = assemble(load_fixture_spans(&dir), AssemblerConfig::default());
        let turns = &logs[0].turns;
        for &(index, ms) in *spoken {
            let t = &turns[index];
            let (Some(start), Some(end)) = (t.user_start_ms, t.user_end_ms) else {
                panic!("{name} turn {index}: no user speech interval");
            };
            assert!(
                (end - start - ms).abs() <= *tolerance,
                "{name} turn {index}: the caller spoke {} ms, not {ms}",
                end - start
            );
        }
        for t in turns {
            if let (Some(start), Some(end)) = (t.agent_start_ms, t.agent_end_ms) {
                assert!(
                    end > start,
                    "{name} turn {}: agent speech of zero length",
                    t.index
                );
            }
            if t.text.is_some() {
                assert!(
                    t.agent_start_ms.is_some(),
                    "{name} turn {}: the agent spoke",
                    t.index
                );
            }
        }
        for pair in turns.windows(2) {
            if pair[0].interrupted {
                let (cut, barge) = (pair[0].agent_end_ms, pair[1].user_start_ms);
                assert!(
                    barge.zip(cut).is_some_and(|(b, c)| b < c),
                    "{name}: the barge-in of turn {} overlaps the agent's speech",
                    pair[1].index
                );
            }
        }
    }
}

#[test]
fn barge_ins_and_hang_ups_and_derived_interruption_figures() {
    let dir = crate::common::fixtures::dir("livekit-barge-in");
    let logs = assemble(load_fixture_spans(&dir), AssemblerConfig::default());
    let cut = &logs[0].turns[0];
    let i = cut
        .interruption
        .clone()
        .expect("derived from the speech intervals");
    // The caller began 5.5 s in, LiveKit stopped the agent after its 0.5 s minimum.
    assert!(
        (450..=600).contains(&i.stop_latency_ms.unwrap_or(0)),
        "{i:?}"
    );
    assert!(i.bleed_through_words.unwrap_or(0) >= 1, "{i:?}");
    assert!(logs[0]
        .issues
        .iter()
        .any(|issue| issue.kind == "slow_interruption_stop"));
    // The last turn of a call the caller left while the agent spoke is no barge-in.
    let mut spans: Vec<SpanRecord> = load_fixture_spans(&dir).into_iter().flatten().collect();
    for s in spans.iter_mut().filter(|s| s.name == "agent_turn") {
        for (key, value) in s.attributes.0.iter_mut() {
            if &**key == "lk.interrupted" {
                *value = voicetrace::receiver::span::AttrValue::Bool(true);
            }
        }
    }
    let logs = assemble(vec![spans], AssemblerConfig::default());
    let last = logs[0].turns.last().expect("turns");
    assert!(last.ended_by_call && !last.interrupted);
    assert_eq!(logs[0].metrics.interruptions, 1);
}

#[test]
fn pipecats_barge_in_gives_the_derived_interruption_figures() {
    // pipecat-basic: the caller barges into turn 3's long answer; Pipecat opens turn 4 at the
    // caller's UserStartedSpeakingFrame and ends the playing tts span (`tts.interrupted`) on the
    // interruption that frame broadcasts.
    let dir = crate::common::fixtures::dir("pipecat-basic");
    let logs = assemble(load_fixture_spans(&dir), AssemblerConfig::default());
    let (cut, barge) = (&logs[0].turns[3], &logs[0].turns[4]);
    assert!(cut.interrupted && !cut.ended_by_call);
    let i = cut
        .interruption
        .clone()
        .expect("derived from the speech intervals");
    let (Some(agent_end), Some(caller_start)) = (cut.agent_end_ms, barge.user_start_ms) else {
        panic!("speech intervals of the barge-in");
    };
    assert_eq!(i.stop_latency_ms, Some(agent_end - caller_start));
    // From the caller's first sound: the VAD's confirmation 0.2 s later (the turn's start,
    // the interruption), then the few ms the tts span took to end on it.
    assert!((200..=250).contains(&(agent_end - caller_start)), "{i:?}");
    assert_eq!(
        i.detection_latency_ms, None,
        "Pipecat leaves no span of the decision"
    );
    assert_eq!(
        i.bleed_through_words,
        Some(1),
        "0.2 s at the nominal rate: {i:?}"
    );
    assert_eq!(
        cut.timing_source.get("stopLatencyMs"),
        Some(&voicetrace::receiver::calllog::TimingSource::Derived)
    );
    assert!(!logs[0]
        .issues
        .iter()
        .any(|issue| issue.kind == "slow_interruption_stop"));
    assert_eq!(logs[0].metrics.interruptions, 1);
}

#[test]
fn pipecats_barge_in_after_synthesis_plays_until_the_interruption() {
    // pipecat-interrupt: the tts span of turn 1's 5.2 s answer ended 1.1 s after its first
    // audio; the caller barged in 2.0 s into the audio and Pipecat interrupted at the VAD's
    // confirmation, 0.2 s later, ending turn 1 and opening turn 2.
    use voicetrace::receiver::calllog::TimingSource;
    let dir = crate::common::fixtures::dir("pipecat-interrupt");
    let logs = assemble(load_fixture_spans(&dir), AssemblerConfig::default());
    let (cut, barge) = (&logs[0].turns[1], &logs[0].turns[2]);
    assert!(cut.interrupted && !cut.ended_by_call);
    let (Some(agent_start), Some(agent_end), Some(caller_start)) =
        (cut.agent_start_ms, cut.agent_end_ms, barge.user_start_ms)
    else {
        panic!("speech intervals of the barge-in");
    };
    let played = agent_end - agent_start;
    assert!(
        (2100..=2400).contains(&played),
        "the audio played 2.0 s before the caller and 0.2 s over them, not the synthesis: {played}"
    );
    assert!(
        caller_start < agent_end && caller_start > agent_start,
        "the caller's speech overlaps the agent's"
    );
    assert_eq!(
        cut.timing_source.get("agentEndMs"),
        Some(&TimingSource::Derived)
    );
    assert_eq!(
        cut.agent_speech.last().map(|s| s.end_ms),
        Some(agent_end),
        "the segment ends with the audio"
    );
    let i = cut
        .interruption
        .clone()
        .expect("derived from the speech intervals");
    assert_eq!(i.stop_latency_ms, Some(agent_end - caller_start));
    assert!(
        (180..=260).contains(&i.stop_latency_ms.unwrap_or(0)),
        "from the first sound to Pipecat's interruption (VAD start_secs 0.2 s): {i:?}"
    );
    assert_eq!(i.bleed_through_words, Some(1), "{i:?}");
    assert_eq!(
        cut.timing_source.get("stopLatencyMs"),
        Some(&TimingSource::Derived)
    );
    assert_eq!(logs[0].metrics.interruptions, 1);
    // The barge-in's own answer, played out, is not extended.
    assert_eq!(
        barge.timing_source.get("agentEndMs"),
        Some(&TimingSource::Derived),
        "Pipecat's agent speech is always derived from its tts spans"
    );
    assert!(barge.interruption.is_none());
}

#[test]
fn pipecats_failures_are_errors_not_latencies() {
    // pipecat-errors: turn 1's first request failed after the openai client's retries; the
    // figure is the request that answered, and no high-latency issue comes from the failure.
    let dir = crate::common::fixtures::dir("pipecat-errors");
    let logs = assemble(load_fixture_spans(&dir), AssemblerConfig::default());
    let log = &logs[0];
    let failed = &log.turns[1];
    assert_eq!(failed.errors.len(), 1);
    assert!(
        failed.llm_ms.is_some_and(|ms| ms < 500),
        "{:?}",
        failed.llm_ms
    );
    let kinds: Vec<&str> = log.issues.iter().map(|i| i.kind.as_str()).collect();
    assert!(kinds.contains(&"stage_failed"), "{kinds:?}");
    assert!(
        !log.issues
            .iter()
            .any(|i| i.kind == "high_latency" && i.turn == Some(1)),
        "{kinds:?}"
    );
    // The goodbye cut by the hang-up is no barge-in.
    let last = log.turns.last().expect("turns");
    assert!(last.ended_by_call && !last.interrupted);
    assert_eq!(log.metrics.interruptions, 0);
    // pipecat-tools: the handler that raised is a failed tool, read from the next request.
    let dir = crate::common::fixtures::dir("pipecat-tools");
    let logs = assemble(load_fixture_spans(&dir), AssemblerConfig::default());
    let tools: Vec<(&str, bool)> = logs[0]
        .turns
        .iter()
        .flat_map(|t| t.tools.iter())
        .map(|t| (t.name.as_str(), t.error.is_some()))
        .collect();
    assert_eq!(tools, [("lookup_order", false), ("check_refund", true)]);
    assert_eq!(logs[0].metrics.errors, 1);
}
