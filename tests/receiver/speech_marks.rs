//! The crate's speech marks end to end (CONVENTIONS.md section 4, "Speech intervals", the
//! voicetrace dialect): a call written with `TurnSpan::user_started_speaking` and its three
//! siblings, exported through the crate's own OTLP pipeline (gRPC) to a running receiver,
//! gives the call log's `userStartMs`, `userEndMs` and `agentSpeech` at the marks' instants; a
//! barge-in marked inside the previous turn's agent speech gives that turn's interruption
//! figures; a turn without marks is read from its stt and tts spans, and `timingSource` says
//! which is which.
//!
//! The marks take "now", so the call runs in real time, in short stretches between the marks.
//! Every instant the pipeline stamps is bracketed by the wall clock read just before and just
//! after the call that stamps it; a figure must lie within its brackets (rounded to ms as the
//! receiver rounds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use voicetrace::instrument::{BargeIn, Call, EndReason, Protocol};

use crate::common::agent::Agent;
use crate::common::receiver::{self, call_logs_by, grpc_url};

const CALL_ID: &str = "speech-marks-call";

/// Between two marks: long enough that the instants are distinct at ms resolution.
const STRETCH: Duration = Duration::from_millis(40);
/// How long the agent keeps speaking after the caller barges in (the overlap).
const OVERLAP: Duration = Duration::from_millis(300);
/// The detection latency the agent reports for the barge-in.
const DETECTION: Duration = Duration::from_millis(120);
/// The unmarked turn's stage figures.
const STT_TTFB: Duration = Duration::from_millis(150);
const LLM_TTFB: Duration = Duration::from_millis(20);
const TTS_TTFB: Duration = Duration::from_millis(30);

const TURN0_AGENT: &str = "Let me look that up. It ships today and arrives on Friday morning.";

/// Wall-clock time (Unix ns) just before and just after something was stamped.
#[derive(Debug, Clone, Copy)]
struct Window {
    from: u64,
    until: u64,
}

impl Window {
    /// Shifted later by `d` (an instant the receiver derives as a stamp plus a figure).
    fn plus(self, d: Duration) -> Window {
        let d = d.as_nanos() as u64;
        Window {
            from: self.from + d,
            until: self.until + d,
        }
    }
}

fn unix_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos() as u64
}

/// Runs `f` (which stamps an instant: a mark, a span's start or end) between two clock reads.
fn stamped<T>(f: impl FnOnce() -> T) -> (T, Window) {
    let from = unix_ns();
    let out = f();
    (
        out,
        Window {
            from,
            until: unix_ns(),
        },
    )
}

/// Lets real time pass between two instants of the call (the marks take "now"). Nothing waits
/// on the receiver this way: the call log is awaited as announced.
fn elapse(d: Duration) {
    std::thread::sleep(d);
}

/// Nanoseconds → ms rounded to nearest, as the receiver rounds.
fn round_ms(ns: i128) -> i64 {
    let ms = (ns.abs() + 500_000) / 1_000_000;
    (if ns < 0 { -ms } else { ms }) as i64
}

/// The ms range an offset from `origin` to `at` may take.
fn offset_range(at: Window, origin: Window) -> (i64, i64) {
    (
        round_ms(at.from as i128 - origin.until as i128),
        round_ms(at.until as i128 - origin.from as i128),
    )
}

/// The ms range of the difference of two offsets from `origin`, each rounded to ms first (a
/// figure the receiver computes from two call-log times).
fn offsets_gap_range(from: Window, until: Window, origin: Window) -> (i64, i64) {
    let (a, b) = (offset_range(from, origin), offset_range(until, origin));
    (b.0 - a.1, b.1 - a.0)
}

/// The ms range of the gap `from` → `until`, rounded once (a figure the receiver computes
/// from two span times).
fn gap_range(from: Window, until: Window) -> (i64, i64) {
    (
        round_ms(until.from as i128 - from.until as i128),
        round_ms(until.until as i128 - from.from as i128),
    )
}

fn assert_in(what: &str, got: &Value, (lo, hi): (i64, i64)) -> i64 {
    let ms = got
        .as_i64()
        .unwrap_or_else(|| panic!("{what}: {got} is not an integer"));
    assert!(
        (lo..=hi).contains(&ms),
        "{what}: {ms} ms outside {lo}..={hi}"
    );
    ms
}

/// Every instant the agent stamped, by what it is.
#[derive(Debug)]
struct Stamps {
    trace_id: String,
    call_start: Window,
    // Turn 0: marked caller speech, two marked agent stretches with a tool call between.
    t0_user_start: Window,
    t0_user_stop: Window,
    t0_agent: [(Window, Window); 2],
    // Turn 1: the barge-in, marked inside turn 0's second stretch.
    t1_user_start: Window,
    t1_user_stop: Window,
    t1_agent: (Window, Window),
    // Turn 2: no marks; its stt span's start and its tts span's start and end.
    t2_stt_start: Window,
    t2_tts_start: Window,
    t2_tts_end: Window,
}

/// The call, in real time. Runs where the agent's pipeline is the subscriber.
fn speak_call() -> Stamps {
    let (call, call_start) = stamped(|| Call::builder(CALL_ID).agent_id("speech-agent").start());

    // Turn 0: the caller asks, the agent speaks, looks the order up, speaks again, and is cut
    // off in its second stretch by the caller (turn 1).
    let turn0 = call.turn();
    turn0
        .user_text("Where is my order?")
        .agent_text(TURN0_AGENT);
    elapse(STRETCH);
    let (_, t0_user_start) = stamped(|| turn0.user_started_speaking());
    elapse(STRETCH);
    let (_, t0_user_stop) = stamped(|| turn0.user_stopped_speaking());
    let stt = turn0.stt();
    stt.ttfb(STT_TTFB).text("Where is my order?");
    stt.end();
    let llm = turn0.llm();
    llm.ttfb(LLM_TTFB).text("Let me look that up.");
    elapse(STRETCH);
    llm.end();
    let tts = turn0.tts();
    tts.ttfb(TTS_TTFB).text("Let me look that up.");
    let (_, a0_start) = stamped(|| turn0.agent_started_speaking());
    elapse(STRETCH);
    let (_, a0_stop) = stamped(|| turn0.agent_stopped_speaking());
    tts.end();
    let tool = turn0.tool("lookup_order");
    tool.input(r#"{"id":"A-1"}"#)
        .text(r#"{"status":"shipped"}"#);
    elapse(STRETCH);
    tool.end();
    let tts = turn0.tts();
    tts.ttfb(TTS_TTFB)
        .text("It ships today and arrives on Friday morning.");
    let (_, a1_start) = stamped(|| turn0.agent_started_speaking());
    elapse(STRETCH);

    // Turn 1 opens as the caller barges in; the agent's audio stops OVERLAP later.
    let turn1 = call.turn();
    turn1
        .user_text("Friday is fine, thanks.")
        .agent_text("Great, anything else?");
    let (_, t1_user_start) = stamped(|| turn1.user_started_speaking());
    elapse(OVERLAP);
    let (_, a1_stop) = stamped(|| turn0.agent_stopped_speaking());
    tts.interrupted();
    tts.end();
    turn0.interrupted(BargeIn {
        detection_latency: Some(DETECTION),
        ..BargeIn::default()
    });
    drop(turn0);
    elapse(STRETCH);
    let (_, t1_user_stop) = stamped(|| turn1.user_stopped_speaking());
    let stt = turn1.stt();
    stt.ttfb(STT_TTFB).text("Friday is fine, thanks.");
    stt.end();
    let llm = turn1.llm();
    llm.ttfb(LLM_TTFB).text("Great, anything else?");
    llm.end();
    let tts = turn1.tts();
    tts.ttfb(TTS_TTFB).text("Great, anything else?");
    elapse(STRETCH);
    let (_, t1_agent_start) = stamped(|| turn1.agent_started_speaking());
    elapse(STRETCH);
    let (_, t1_agent_stop) = stamped(|| turn1.agent_stopped_speaking());
    tts.end();
    drop(turn1);

    // Turn 2: no marks at all.
    let turn2 = call.turn();
    turn2.user_text("No, that's all.").agent_text("Goodbye!");
    let (stt, t2_stt_start) = stamped(|| turn2.stt());
    stt.ttfb(STT_TTFB).text("No, that's all.");
    stt.end();
    let llm = turn2.llm();
    llm.ttfb(LLM_TTFB).text("Goodbye!");
    llm.end();
    let (tts, t2_tts_start) = stamped(|| turn2.tts());
    tts.ttfb(TTS_TTFB).text("Goodbye!");
    elapse(TTS_TTFB + STRETCH);
    let ((), t2_tts_end) = stamped(|| tts.end());
    drop(turn2);

    let trace_id = call.trace_id();
    call.end(EndReason::ClientHangup);
    Stamps {
        trace_id,
        call_start,
        t0_user_start,
        t0_user_stop,
        t0_agent: [(a0_start, a0_stop), (a1_start, a1_stop)],
        t1_user_start,
        t1_user_stop,
        t1_agent: (t1_agent_start, t1_agent_stop),
        t2_stt_start,
        t2_tts_start,
        t2_tts_end,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_marks_become_the_call_logs_speech_intervals() {
    let data = tempfile::tempdir().unwrap();
    let receiver = receiver::start(receiver::config(data.path())).await;
    let mut finished = receiver.subscribe();
    let agent = Agent::exporting(
        Protocol::Grpc,
        &grpc_url(&receiver),
        Duration::from_millis(100),
    );
    let s = tokio::task::block_in_place(|| agent.in_scope(speak_call));
    agent.flush();
    let logs = call_logs_by(&mut finished, &[CALL_ID.to_string()], |l| l.id.clone()).await;
    let log = serde_json::to_value(&logs[CALL_ID]).unwrap();
    assert_eq!(log["traceId"], s.trace_id.as_str());
    let turns = log["turns"].as_array().expect("turns");
    assert_eq!(turns.len(), 3, "{log:#}");
    let at = |w: Window| offset_range(w, s.call_start);

    // Turn 0: every edge is a mark (`spans`), two agent segments around the tool call.
    let t0 = &turns[0];
    let src = &t0["timingSource"];
    let user_start = assert_in(
        "turn 0 userStartMs",
        &t0["userStartMs"],
        at(s.t0_user_start),
    );
    let user_end = assert_in("turn 0 userEndMs", &t0["userEndMs"], at(s.t0_user_stop));
    assert!(user_start < user_end, "{user_start} < {user_end}");
    for key in ["userStartMs", "userEndMs", "agentStartMs", "agentEndMs"] {
        assert_eq!(src[key], "spans", "turn 0 timingSource.{key}: {t0:#}");
    }
    let segments = t0["agentSpeech"].as_array().expect("agentSpeech");
    assert_eq!(segments.len(), 2, "one segment per marked stretch: {t0:#}");
    let mut spans = Vec::new();
    for (i, (seg, (from, until))) in segments.iter().zip(s.t0_agent).enumerate() {
        let a = assert_in(
            &format!("turn 0 segment {i} start"),
            &seg["startMs"],
            at(from),
        );
        let b = assert_in(&format!("turn 0 segment {i} end"), &seg["endMs"], at(until));
        spans.push((a, b));
    }
    let tool = &t0["tools"][0];
    assert_eq!(tool["name"], "lookup_order");
    let (tool_start, tool_ms) = (
        tool["startMs"].as_i64().expect("tool startMs"),
        tool["durationMs"].as_i64().expect("tool durationMs"),
    );
    // Its end is two rounded figures: 1 ms of slack.
    assert!(
        spans[0].1 <= tool_start && tool_start + tool_ms <= spans[1].0 + 1,
        "the tool call ({tool_start} + {tool_ms} ms) lies between the segments {spans:?}"
    );
    assert_eq!(t0["agentStartMs"], spans[0].0, "the first segment's start");
    assert_eq!(t0["agentEndMs"], spans[1].1, "the last segment's end");
    // No voice_to_voice: the gap between the caller's last word and the agent's first audio,
    // both marks.
    assert_in(
        "turn 0 latencyMs",
        &t0["latencyMs"],
        gap_range(s.t0_user_stop, s.t0_agent[0].0),
    );
    assert_eq!(src["latencyMs"], "spans");

    // Turn 1: the barge-in. Its caller start lies inside turn 0's second segment.
    let t1 = &turns[1];
    let src1 = &t1["timingSource"];
    let barge = assert_in(
        "turn 1 userStartMs",
        &t1["userStartMs"],
        at(s.t1_user_start),
    );
    assert!(
        spans[1].0 < barge && barge < spans[1].1,
        "the barge-in at {barge} lies inside turn 0's agent speech {:?}",
        spans[1]
    );
    assert_in("turn 1 userEndMs", &t1["userEndMs"], at(s.t1_user_stop));
    let seg1 = t1["agentSpeech"].as_array().expect("agentSpeech");
    assert_eq!(seg1.len(), 1, "{t1:#}");
    assert_in("turn 1 agentStartMs", &t1["agentStartMs"], at(s.t1_agent.0));
    assert_in("turn 1 agentEndMs", &t1["agentEndMs"], at(s.t1_agent.1));
    assert_eq!(seg1[0]["startMs"], t1["agentStartMs"]);
    assert_eq!(seg1[0]["endMs"], t1["agentEndMs"]);
    for key in ["userStartMs", "userEndMs", "agentStartMs", "agentEndMs"] {
        assert_eq!(src1[key], "spans", "turn 1 timingSource.{key}: {t1:#}");
    }
    assert_in(
        "turn 1 latencyMs",
        &t1["latencyMs"],
        gap_range(s.t1_user_stop, s.t1_agent.0),
    );
    assert_eq!(src1["latencyMs"], "spans");
    assert_eq!(t1["interrupted"], false);

    // Turn 0's interruption: the reported detection kept, the stop latency derived from it
    // (agent audio end − (caller start + detection)), the bleed-through from the overlap
    // (agent audio end − caller start).
    assert_eq!(t0["interrupted"], true, "{t0:#}");
    assert_ne!(t0["endedByCall"], true);
    let intr = &t0["interruption"];
    assert_eq!(intr["detectionLatencyMs"], DETECTION.as_millis() as i64);
    let overlap = spans[1].1 - barge;
    let detection = DETECTION.as_millis() as i64;
    let (lo, hi) = offsets_gap_range(s.t1_user_start, s.t0_agent[1].1, s.call_start);
    let stop = assert_in(
        "turn 0 stopLatencyMs",
        &intr["stopLatencyMs"],
        (lo - detection, hi - detection),
    );
    assert_eq!(
        stop,
        overlap - detection,
        "agentEndMs − (the next turn's userStartMs + the reported detection)"
    );
    assert!(
        overlap >= OVERLAP.as_millis() as i64,
        "the agent spoke on for {OVERLAP:?}: {overlap}"
    );
    let words = TURN0_AGENT.split_whitespace().count() as i64;
    let nominal = ((overlap as f64 / 1000.0 * 2.5).round() as i64).min(words);
    assert_eq!(
        intr["bleedThroughWords"], nominal,
        "150 words a minute over the overlap"
    );
    assert!(
        nominal >= 1,
        "{overlap} ms of overlap bleeds a word through"
    );
    assert_eq!(src["stopLatencyMs"], "derived");
    assert_eq!(src["bleedThroughWords"], "derived");
    assert!(src.get("detectionLatencyMs").is_none(), "{src}");

    // Turn 2: no marks. The caller's end is its stt span's start, the agent's speech its tts
    // span from its first byte to its end (`derived`); the caller's start is unknown.
    let t2 = &turns[2];
    let src2 = &t2["timingSource"];
    assert_eq!(t2["userStartMs"], Value::Null, "never invented: {t2:#}");
    assert!(src2.get("userStartMs").is_none(), "{src2}");
    assert_in("turn 2 userEndMs", &t2["userEndMs"], at(s.t2_stt_start));
    let seg2 = t2["agentSpeech"].as_array().expect("agentSpeech");
    assert_eq!(seg2.len(), 1, "{t2:#}");
    let first_audio = s.t2_tts_start.plus(TTS_TTFB);
    assert_in("turn 2 agentStartMs", &t2["agentStartMs"], at(first_audio));
    assert_in("turn 2 agentEndMs", &t2["agentEndMs"], at(s.t2_tts_end));
    assert_eq!(seg2[0]["startMs"], t2["agentStartMs"]);
    assert_eq!(seg2[0]["endMs"], t2["agentEndMs"]);
    for key in ["userEndMs", "agentStartMs", "agentEndMs"] {
        assert_eq!(src2[key], "derived", "turn 2 timingSource.{key}: {t2:#}");
    }
    // A derived caller end gives no measured gap: the latency is the stages' sum.
    let sum = (STT_TTFB + LLM_TTFB + TTS_TTFB).as_millis() as i64;
    assert_eq!(t2["latencyMs"], sum);
    assert_eq!(src2["latencyMs"], "estimated");
    assert_eq!(t2["interrupted"], false);
    assert_eq!(t2["interruption"], Value::Null);

    assert_eq!(log["metrics"]["interruptions"], 1);
    drop(agent);
    receiver.shutdown().await;
}
