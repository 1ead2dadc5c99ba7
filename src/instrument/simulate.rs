//! A simulated voice agent: fake STT, LLM and TTS with configurable latencies and jitter,
//! instrumented with the crate's helpers exactly as a real agent would be.
//!
//! `voicetrace demo` runs it in-process against a receiver, and the receiver's end-to-end tests
//! compare what they assembled with what [`run`] returns: each [`SimulatedTurn`] holds the
//! figures a correct receiver must compute from the spans (CONVENTIONS.md section 4). To make
//! that comparison exact, stages record their *planned* first-byte times with
//! [`StageSpan::ttfb`](super::StageSpan::ttfb), in whole milliseconds, and the agent sleeps
//! `planned × time_scale` (nothing at all with a time scale of 0), so the figures do not depend
//! on how busy the machine is.
//!
//! Each call has:
//! - a greeting turn (llm + tts, no stt: `sttMs` 0, `latencyMs` null);
//! - `exchanges` user turns (stt + llm + tts); one of them calls a tool
//!   (llm → tool_call → llm → tts), one is a barge-in (the user interrupts the reply: the turn is
//!   marked interrupted and carries an `interruption` event); every other exchange records a
//!   measured voice-to-voice latency (larger than the sum of the stages, as real turns are), the
//!   others leave it to the receiver's estimate;
//! - speech: the caller speaks each line and the agent each answer at [`WORDS_PER_SECOND`],
//!   marked with the crate's speech marks (`user_started_speaking` … `agent_stopped_speaking`)
//!   on the spans' clock, so they last `planned × time_scale` like every other sleep (the
//!   receiver sees the time scale's share of the speech: all of it in real time); the barge-in's
//!   caller starts 40% into the agent's answer, which stops after the planned detection and
//!   stop latencies;
//! - a `log_event`, `log_metric`s, a `tracing::info!` line inside the llm stage, the tts stage of
//!   every exchange run in a `tokio::spawn`ed task, a non-UUID call id (`prefix` + index) and an
//!   end reason.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tracing::Instrument as _;

use super::call::{BargeIn, Call, Direction, EndReason, SpeechMark, TurnSpan};

/// How fast the simulated caller and agent speak: 150 words a minute, the pace of conversational
/// English and of TTS voices at their default rate.
pub const WORDS_PER_SECOND: f64 = 2.5;

/// How far into the agent's answer the barge-in's caller starts speaking (a fraction of it).
const BARGE_IN_AT: f64 = 0.4;

/// How the simulated calls run.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Number of calls, run concurrently.
    pub calls: usize,
    /// User turns after the greeting.
    pub exchanges: usize,
    /// Mean STT time to final transcript.
    pub stt: Duration,
    /// Mean LLM time to first token.
    pub llm: Duration,
    /// Mean TTS time to first audio byte.
    pub tts: Duration,
    /// Each planned figure varies uniformly within ± this fraction of its mean.
    pub jitter: f64,
    /// Real sleeps = planned × `time_scale`; 0 sleeps not at all.
    pub time_scale: f64,
    /// Seed of the figures; the same seed gives the same figures.
    pub seed: u64,
    /// `gen_ai.agent.id` of every call.
    pub agent_id: String,
    /// Call ids are this prefix followed by the call's index.
    pub call_id_prefix: String,
}

impl Default for SimConfig {
    /// 3 calls of 4 exchanges with typical cloud latencies, in real time. The call id prefix
    /// is random per process, so two demo runs against one receiver do not merge their calls
    /// (the trace id is derived from the call id).
    fn default() -> Self {
        SimConfig {
            calls: 3,
            exchanges: 4,
            stt: Duration::from_millis(180),
            llm: Duration::from_millis(450),
            tts: Duration::from_millis(220),
            jitter: 0.3,
            time_scale: 1.0,
            seed: 7,
            agent_id: "sim-support-agent".to_string(),
            call_id_prefix: format!("sim-{:06x}-", fastrand::u32(..0x0100_0000)),
        }
    }
}

/// One simulated call and what a receiver must make of it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedCall {
    /// The call id.
    pub call_id: String,
    /// The call's trace id (32 hex digits).
    pub trace_id: String,
    /// Its turns in order, the greeting first.
    pub turns: Vec<SimulatedTurn>,
}

/// One turn and its expected call-log figures.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedTurn {
    /// 0-based turn index.
    pub index: u32,
    /// What the user said (`None` on the greeting).
    pub user_text: Option<String>,
    /// What the agent said.
    pub agent_text: String,
    /// Expected `sttMs` (0 on the greeting).
    pub stt_ms: i64,
    /// Expected `llmMs` (the first llm request's time to first token).
    pub llm_ms: i64,
    /// Expected `ttsMs`.
    pub tts_ms: i64,
    /// Expected `latencyMs`: the measured voice-to-voice latency, else stt + llm + tts; `None`
    /// on the greeting.
    pub latency_ms: Option<i64>,
    /// Expected length of the caller's speech (`userEndMs − userStartMs`) on the spans' clock:
    /// the line at [`WORDS_PER_SECOND`] × the time scale, in ms (at least that where the
    /// caller's last word is left to the stt span's start); `None` on the greeting.
    pub user_speech_ms: Option<i64>,
    /// Expected length of the agent's speech (`agentEndMs − agentStartMs`) likewise: its whole
    /// answer, or on a barge-in what played until it stopped.
    pub agent_speech_ms: i64,
    /// Whether the user barged in.
    pub interrupted: bool,
    /// Names of the tools called.
    pub tools: Vec<String>,
}

/// The caller's lines and the agent's answers, cycled through for longer calls.
const SCRIPT: &[(&str, &str)] = &[
    (
        "Hi, I'm calling about my order.",
        "Sure, I can help with that. What's the order number?",
    ),
    (
        "It's A-1042, it hasn't arrived yet.",
        "Order A-1042 shipped yesterday and should arrive on Thursday.",
    ),
    (
        "Can you send it to my office instead?",
        "I can update the delivery address for you. What's the new address?",
    ),
    (
        "Twelve Market Street, second floor.",
        "Done: it will be delivered to 12 Market Street, second floor.",
    ),
    (
        "Great, that's all, thanks.",
        "You're welcome! Have a good day.",
    ),
];
const GREETING: &str = "Hello! Thanks for calling Acme support. How can I help you today?";
/// The agent's system prompt (the greeting's only input).
const INSTRUCTIONS: &str =
    "You are Acme's phone support agent. Greet the caller, then help with their order. Be brief.";
/// The tool the agent calls on the tool exchange, and its arguments.
const TOOL_NAME: &str = "lookup_order";
const TOOL_ARGUMENTS: &str = r#"{"order_id":"A-1042"}"#;

/// Runs `config.calls` calls concurrently and returns them in index order. Needs a tokio
/// runtime (any flavour); spans go wherever the installed subscriber sends them.
pub async fn run(config: &SimConfig) -> Vec<SimulatedCall> {
    let mut handles = Vec::with_capacity(config.calls);
    for index in 0..config.calls {
        let config = config.clone();
        handles.push(tokio::spawn(async move { run_call(&config, index).await }));
    }
    let mut calls = Vec::with_capacity(handles.len());
    for handle in handles {
        match handle.await {
            Ok(call) => calls.push(call),
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {} // cancelled: the runtime is shutting down
        }
    }
    calls
}

/// Planned figures of one call, drawn from a per-call generator so they do not depend on how
/// the calls interleave.
struct Plan {
    rng: fastrand::Rng,
    jitter: f64,
    time_scale: f64,
}

impl Plan {
    /// A planned duration around `mean`, in whole milliseconds (so that seconds × 1000 rounds
    /// back to exactly this figure), never below 1 ms.
    fn around(&mut self, mean: Duration) -> Duration {
        let mean_ms = mean.as_secs_f64() * 1000.0;
        let factor = 1.0 + self.jitter * (self.rng.f64() * 2.0 - 1.0);
        Duration::from_millis((mean_ms * factor).round().max(1.0) as u64)
    }

    /// Sleeps `planned × time_scale`; with a time scale of 0, only yields.
    async fn pause(&self, planned: Duration) {
        pause(planned, self.time_scale).await;
    }

    /// A planned span of time on the spans' clock (what the sleeps take).
    fn on_clock(&self, planned: Duration) -> Duration {
        planned.mul_f64(self.time_scale)
    }
}

/// How long saying `text` takes at [`WORDS_PER_SECOND`], in whole milliseconds.
fn speaking_time(text: &str) -> Duration {
    let words = text.split_whitespace().count() as f64;
    Duration::from_millis((words / WORDS_PER_SECOND * 1000.0).round() as u64)
}

/// Someone speaks from `from` for `length` (on the spans' clock): both edges marked on the turn,
/// then waits until the speech is over.
async fn speak(
    turn: &TurnSpan,
    (start, stop): (SpeechMark, SpeechMark),
    from: SystemTime,
    length: Duration,
) {
    let until = from + length;
    turn.speech_at(start, from).speech_at(stop, until);
    wait_until(until).await;
}

/// Sleeps until `until` on the system clock (the spans' clock); only yields when it has passed.
async fn wait_until(until: SystemTime) {
    match until.duration_since(SystemTime::now()) {
        Ok(left) if !left.is_zero() => tokio::time::sleep(left).await,
        _ => tokio::task::yield_now().await,
    }
}

const USER: (SpeechMark, SpeechMark) = (SpeechMark::UserStarted, SpeechMark::UserStopped);
const AGENT: (SpeechMark, SpeechMark) = (SpeechMark::AgentStarted, SpeechMark::AgentStopped);

async fn pause(planned: Duration, time_scale: f64) {
    if time_scale > 0.0 {
        tokio::time::sleep(planned.mul_f64(time_scale)).await;
    } else {
        tokio::task::yield_now().await;
    }
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

async fn run_call(config: &SimConfig, index: usize) -> SimulatedCall {
    let mut plan = Plan {
        rng: fastrand::Rng::with_seed(
            config.seed ^ (index as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ),
        jitter: config.jitter.clamp(0.0, 0.95),
        time_scale: config.time_scale.max(0.0),
    };
    let call_id = format!("{}{index}", config.call_id_prefix);
    let call = Call::builder(call_id.clone())
        .agent_id(config.agent_id.clone())
        .agent_name("Acme support (simulated)")
        .direction(Direction::Inbound)
        .from(format!("+1555010{:04}", index % 10_000))
        .to("+15550009999")
        .recording_url(format!("https://recordings.example.com/{call_id}.wav"))
        .metadata("simulated", "true")
        .start();
    call.log_event(
        "call_connected",
        "info",
        "caller connected",
        &[("codec", "opus"), ("region", "us-east")],
    );

    let mut turns = Vec::with_capacity(config.exchanges + 1);
    turns.push(greeting(&call, config, &mut plan).await);

    // Which exchanges (1-based) call the tool and get interrupted.
    let tool_exchange = if config.exchanges >= 2 { 2 } else { 1 };
    let barge_in = if config.exchanges >= 3 {
        3
    } else {
        config.exchanges + 1 // none
    };
    // Where the caller barged into the previous answer: their next line starts there.
    let mut barged_at = None;
    for exchange in 1..=config.exchanges {
        let kind = ExchangeKind {
            tool: exchange == tool_exchange,
            barge_in: exchange == barge_in,
            // Odd exchanges measure voice-to-voice; even ones (including 2) leave it to the
            // receiver's estimate, so both paths occur whenever there are two exchanges.
            measured: exchange % 2 == 1,
        };
        let (turn, barge) =
            user_exchange(&call, config, &mut plan, exchange, kind, barged_at.take()).await;
        turns.push(turn);
        barged_at = barge;
    }

    let trace_id = call.trace_id();
    call.log_metric("turns", turns.len() as i64);
    call.end(if index % 2 == 0 {
        EndReason::ClientHangup
    } else {
        EndReason::AgentHangup
    });
    SimulatedCall {
        call_id,
        trace_id,
        turns,
    }
}

async fn greeting(call: &Call, config: &SimConfig, plan: &mut Plan) -> SimulatedTurn {
    let turn = call.turn();
    turn.agent_text(GREETING);
    let llm_ttfb = plan.around(config.llm);
    let tts_ttfb = plan.around(config.tts);
    let llm = turn.llm();
    llm.provider("openai")
        .model("gpt-4o-mini")
        .instructions(INSTRUCTIONS);
    plan.pause(llm_ttfb).await;
    llm.ttfb(llm_ttfb)
        .text(GREETING)
        .usage(180, 16)
        .finish_reasons(&["stop"]);
    llm.end();
    let tts = turn.tts();
    tts.provider("cartesia")
        .model("sonic-2")
        .voice("support-f1");
    plan.pause(tts_ttfb).await;
    tts.ttfb(tts_ttfb).text(GREETING);
    let audio = plan.on_clock(speaking_time(GREETING));
    speak(&turn, AGENT, SystemTime::now(), audio).await;
    tts.end();
    SimulatedTurn {
        index: turn.index(),
        user_text: None,
        agent_text: GREETING.to_string(),
        stt_ms: 0,
        llm_ms: ms(llm_ttfb),
        tts_ms: ms(tts_ttfb),
        latency_ms: None,
        user_speech_ms: None,
        agent_speech_ms: ms(audio),
        interrupted: false,
        tools: Vec::new(),
    }
}

#[derive(Debug, Clone, Copy)]
struct ExchangeKind {
    tool: bool,
    barge_in: bool,
    measured: bool,
}

async fn user_exchange(
    call: &Call,
    config: &SimConfig,
    plan: &mut Plan,
    exchange: usize,
    kind: ExchangeKind,
    barged_at: Option<SystemTime>,
) -> (SimulatedTurn, Option<SystemTime>) {
    let (user_text, agent_text) = SCRIPT[(exchange - 1) % SCRIPT.len()];
    let turn = Arc::new(call.turn());
    turn.user_text(user_text).agent_text(agent_text);

    // The caller speaks (from where they barged in, if they did), then STT finishes. A turn
    // that measures voice-to-voice marks the caller's last word; the others leave it to the stt
    // span's start, and so the latency to the receiver's estimate (with both edges marked the
    // receiver would measure the gap).
    let user_speech = plan.on_clock(speaking_time(user_text));
    let from = barged_at.unwrap_or_else(SystemTime::now);
    if kind.measured {
        speak(&turn, USER, from, user_speech).await;
    } else {
        turn.speech_at(SpeechMark::UserStarted, from);
        wait_until(from + user_speech).await;
    }

    // STT: end of user speech → final transcript.
    let stt_ttfb = plan.around(config.stt);
    let stt = turn.stt();
    stt.provider("deepgram").model("nova-3").language("en-US");
    plan.pause(stt_ttfb).await;
    stt.ttfb(stt_ttfb)
        .text(user_text)
        .confidence(0.9 + plan.rng.f64() * 0.09)
        .is_final(true);
    stt.end();

    // LLM: request → first token; a tool call means a second request after the tool ran.
    let llm_ttfb = plan.around(config.llm);
    let llm = turn.llm();
    llm.provider("openai")
        .model("gpt-4o-mini")
        .instructions(INSTRUCTIONS)
        .input(user_text);
    let input_tokens = 400 + 60 * exchange as u64;
    async {
        tracing::info!(exchange, input_tokens, "asking the model");
    }
    .instrument(llm.span().clone())
    .await;
    plan.pause(llm_ttfb).await;
    llm.ttfb(llm_ttfb).response_model("gpt-4o-mini-2024-07-18");
    let mut tools = Vec::new();
    if kind.tool {
        llm.requests_tool(TOOL_NAME, TOOL_ARGUMENTS)
            .usage(input_tokens, 12)
            .finish_reasons(&["tool_calls"]);
        llm.end();
        let tool_time = plan.around(Duration::from_millis(120));
        let tool = turn.tool(TOOL_NAME);
        tool.input(TOOL_ARGUMENTS);
        plan.pause(tool_time).await;
        tool.text(r#"{"status":"shipped","eta":"Thursday"}"#);
        tool.end();
        tools.push(TOOL_NAME.to_string());
        let second = turn.llm();
        second
            .provider("openai")
            .model("gpt-4o-mini")
            .instructions(INSTRUCTIONS)
            .input(user_text);
        let second_ttfb = plan.around(config.llm);
        plan.pause(second_ttfb).await;
        second
            .ttfb(second_ttfb)
            .text(agent_text)
            .usage(input_tokens + 40, 24)
            .finish_reasons(&["stop"]);
        second.end();
    } else {
        plan.pause(llm_ttfb / 2).await; // the rest of the answer streams
        llm.text(agent_text)
            .usage(input_tokens, 20)
            .finish_reasons(&["stop"]);
        llm.end();
    }

    // TTS, in a spawned task (as a real agent's audio pipeline would be): the stage names its
    // turn explicitly, so it keeps its parent although the task has no current span.
    let tts_ttfb = plan.around(config.tts);
    let detection = plan.around(Duration::from_millis(150));
    let stop = plan.around(Duration::from_millis(90));
    let task_turn = Arc::clone(&turn);
    let time_scale = plan.time_scale;
    let answer = speaking_time(agent_text);
    // A barge-in: the caller starts BARGE_IN_AT into the answer; the agent detects it and stops.
    let barge = kind
        .barge_in
        .then(|| (answer.mul_f64(BARGE_IN_AT), detection + stop));
    let played = barge.map_or(answer, |(before, after)| before + after);
    let (played, caller_in) = (plan.on_clock(played), barge.map(|(b, _)| plan.on_clock(b)));
    let tts_task = tokio::spawn(async move {
        let tts = task_turn.tts();
        tts.provider("cartesia")
            .model("sonic-2")
            .voice("support-f1");
        pause(tts_ttfb, time_scale).await;
        tts.ttfb(tts_ttfb).text(agent_text);
        let first_audio = SystemTime::now();
        speak(&task_turn, AGENT, first_audio, played).await;
        if let Some((_, after)) = barge {
            // The words the caller heard over their own speech.
            let words = (after.as_secs_f64() * WORDS_PER_SECOND).round() as u32;
            tts.interrupted();
            task_turn.interrupted(BargeIn {
                detection_latency: Some(detection),
                stop_latency: Some(stop),
                bleed_through_words: Some(words),
            });
            task_turn.log_event(
                "barge_in",
                "warn",
                "caller interrupted the agent",
                &[("words_heard", &words.to_string())],
            );
        }
        tts.end();
        caller_in.map(|before| first_audio + before)
    });
    let barged_at = match tts_task.await {
        Ok(at) => at,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => None,
    };

    let (stt_ms, llm_ms, tts_ms) = (ms(stt_ttfb), ms(llm_ttfb), ms(tts_ttfb));
    let latency_ms = if kind.measured {
        // Real turns wait longer than their stages add up to (first sentence, queueing).
        let extra = plan.around(Duration::from_millis(160));
        let measured = stt_ttfb + llm_ttfb + tts_ttfb + extra;
        turn.voice_to_voice(measured);
        ms(measured)
    } else {
        stt_ms + llm_ms + tts_ms
    };
    turn.log_metric("sentiment", 0.5 + plan.rng.f64() / 2.0);
    let index = turn.index();
    let simulated = SimulatedTurn {
        index,
        user_text: Some(user_text.to_string()),
        agent_text: agent_text.to_string(),
        stt_ms,
        llm_ms,
        tts_ms,
        latency_ms: Some(latency_ms),
        user_speech_ms: Some(ms(user_speech)),
        agent_speech_ms: ms(played),
        interrupted: kind.barge_in,
        tools,
    };
    (simulated, barged_at)
}

/// The planned figures must round-trip through seconds exactly.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_figures_are_whole_milliseconds_that_round_trip() {
        let mut plan = Plan {
            rng: fastrand::Rng::with_seed(1),
            jitter: 0.3,
            time_scale: 0.0,
        };
        for _ in 0..1000 {
            let d = plan.around(Duration::from_millis(450));
            assert_eq!(d.subsec_nanos() % 1_000_000, 0);
            let back = (d.as_secs_f64() * 1000.0 + 0.5).floor() as i64;
            assert_eq!(back, ms(d));
            assert!((315..=585).contains(&ms(d)), "{d:?}");
        }
    }

    #[test]
    fn speech_takes_its_words_at_the_stated_rate() {
        assert_eq!(
            speaking_time("one two three four five"),
            Duration::from_secs(2)
        );
        assert_eq!(
            speaking_time(GREETING),
            Duration::from_millis(4800),
            "12 words"
        );
    }

    #[tokio::test]
    async fn same_seed_same_figures_and_expected_shape() {
        let config = SimConfig {
            calls: 2,
            exchanges: 4,
            time_scale: 0.0,
            call_id_prefix: "unit-".into(),
            ..SimConfig::default()
        };
        let a = run(&config).await;
        let b = run(&config).await;
        assert_eq!(a, b);
        assert_eq!(a[0].call_id, "unit-0");
        assert_eq!(a[0].trace_id, crate::trace_id::trace_id_hex("unit-0"));
        let turns = &a[1].turns;
        assert_eq!(turns.len(), 5);
        assert_eq!(turns[0].latency_ms, None);
        assert_eq!(turns[0].stt_ms, 0);
        assert_eq!(turns[2].tools, vec![TOOL_NAME.to_string()]);
        assert!(turns[3].interrupted);
        // Exchange 1 measured (above the sum), exchange 2 estimated (the sum).
        let sum = |t: &SimulatedTurn| t.stt_ms + t.llm_ms + t.tts_ms;
        assert!(turns[1].latency_ms.unwrap() > sum(&turns[1]));
        assert_eq!(turns[2].latency_ms, Some(sum(&turns[2])));
    }
}
