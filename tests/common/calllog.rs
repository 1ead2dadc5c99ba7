//! Call logs built by hand: a turn builder and a call log with defaults (instead of writing out
//! every field), and the two sample sets the API and forward tests assert on.

use std::collections::BTreeMap;

use serde_json::Value;
use voicetrace::receiver::analyze::prices::Prices;
use voicetrace::receiver::analyze::{analyze, cost, AnalysisConfig};
use voicetrace::receiver::calllog::{
    CallLog, CallMetrics, CallStarted, CallStatus, CallUpdate, Dialect, Interruption, Issue, Links,
    ReportedUsage, Speaker, Stage, StageProvider, ToolExecution, Turn, TurnCompleted,
};

/// Builds a [`Turn`]; what is not set is absent (no text, no figures, no tools).
pub struct TurnBuilder(Turn);

/// A greeting-shaped turn at `index` with nothing measured, to build on.
pub fn turn(index: u32) -> TurnBuilder {
    TurnBuilder(Turn {
        index,
        ..Turn::default()
    })
}

impl TurnBuilder {
    /// What was said: the user's words (none on a greeting, whose speaker is the agent) and the
    /// agent's answer.
    pub fn said(mut self, user: Option<&str>, agent: &str) -> Self {
        self.0.speaker = if user.is_some() {
            Speaker::User
        } else {
            Speaker::Agent
        };
        self.0.user_text = user.map(str::to_string);
        self.0.text = Some(agent.to_string());
        self
    }

    /// Start and end, ms from the call's start.
    pub fn extent(mut self, start_ms: i64, end_ms: i64) -> Self {
        self.0.start_ms = start_ms;
        self.0.end_ms = end_ms;
        self
    }

    /// Time to first byte of each stage, ms.
    pub fn stages(mut self, stt: i64, llm: i64, tts: i64) -> Self {
        (self.0.stt_ms, self.0.llm_ms, self.0.tts_ms) = (Some(stt), Some(llm), Some(tts));
        self
    }

    /// Voice-to-voice latency, ms.
    pub fn latency(mut self, ms: Option<i64>) -> Self {
        self.0.latency_ms = ms;
        self
    }

    /// Wall time of each stage's spans, ms (no stt span on a greeting).
    pub fn durations(mut self, stt: Option<i64>, llm: i64, tts: i64) -> Self {
        let durations = (stt, Some(llm), Some(tts));
        (
            self.0.stt_duration_ms,
            self.0.llm_duration_ms,
            self.0.tts_duration_ms,
        ) = durations;
        self
    }

    /// LLM tokens in and out, TTS characters.
    pub fn usage(mut self, input: i64, output: i64, characters: i64) -> Self {
        let usage = (Some(input), Some(output), Some(characters));
        (
            self.0.llm_input_tokens,
            self.0.llm_output_tokens,
            self.0.tts_characters,
        ) = usage;
        self
    }

    /// The user barged in, with these figures.
    pub fn interrupted(mut self, interruption: Interruption) -> Self {
        self.0.interrupted = true;
        self.0.interruption = Some(interruption);
        self
    }

    pub fn build(self) -> Turn {
        self.0
    }
}

/// A completed voicetrace call log of `id` with no turns and nothing else set, revision 1, to
/// build on with struct update syntax: `CallLog { turns, ..call_log("call_1", TRACE) }`.
pub fn call_log(id: &str, trace_id: &str) -> CallLog {
    CallLog {
        id: id.to_string(),
        trace_id: trace_id.to_string(),
        revision: 1,
        dialect: Dialect::Voicetrace,
        agent_id: None,
        agent_name: None,
        service_name: None,
        status: CallStatus::Completed,
        end_reason: None,
        started_at: String::new(),
        ended_at: String::new(),
        direction: None,
        from: None,
        to: None,
        recording_url: None,
        metadata: BTreeMap::new(),
        turns: Vec::new(),
        metrics: CallMetrics::default(),
        issues: Vec::new(),
        events: Vec::new(),
        logs: Vec::new(),
        custom_metrics: BTreeMap::new(),
        links: Links::default(),
        span_count: 0,
        livekit: None,
        deployment: None,
        recording: None,
        redactions: Default::default(),
        reported_usage: Vec::new(),
        cost: None,
    }
}

/// An interruption with these figures.
pub fn interruption(detection_ms: i64, stop_ms: i64, words: i64) -> Interruption {
    Interruption {
        detection_latency_ms: Some(detection_ms),
        stop_latency_ms: Some(stop_ms),
        bleed_through_words: Some(words),
    }
}

/// A tool execution of `lookup_order`.
pub fn lookup_order(input: &str, output: &str, start_ms: i64, duration_ms: i64) -> ToolExecution {
    ToolExecution {
        name: "lookup_order".to_string(),
        input: Some(input.to_string()),
        output: Some(output.to_string()),
        start_ms,
        duration_ms: Some(duration_ms),
        error: None,
    }
}

// ----- the API samples -----------------------------------------------------------------------

/// The trace link template the API tests serve with.
pub const TEMPLATE: &str = "http://jaeger.test/trace/{trace_id}?call={call_id}";

/// An API sample turn with the given stage figures: 3 s apart, canned text, fixed usage.
pub fn scored_turn(index: u32, stt: i64, llm: i64, tts: i64, latency: Option<i64>) -> TurnBuilder {
    let start = i64::from(index) * 3000;
    let user = format!("user says {index}");
    turn(index)
        .said(
            latency.map(|_| user.as_str()),
            &format!("agent reply {index}"),
        )
        .extent(start, start + 2500)
        .stages(stt, llm, tts)
        .latency(latency)
        .usage(100, 20, 40)
}

/// An API sample call log with the given turns, analysed with the default budgets.
pub fn scored_call(
    id: &str,
    trace_id: &str,
    agent: &str,
    status: CallStatus,
    started_at: &str,
    turns: Vec<Turn>,
) -> CallLog {
    let mut log = CallLog {
        agent_id: Some(agent.to_string()),
        service_name: Some("test-agent".to_string()),
        status,
        end_reason: Some("client_hangup".to_string()),
        started_at: started_at.to_string(),
        ended_at: started_at.to_string(),
        direction: Some("inbound".to_string()),
        turns,
        metrics: CallMetrics {
            total_duration_ms: 62_000,
            ..CallMetrics::default()
        },
        span_count: 12,
        livekit: None,
        deployment: None,
        recording: None,
        reported_usage: Vec::new(),
        cost: None,
        ..call_log(id, trace_id)
    };
    analyze(&mut log, &AnalysisConfig::default());
    priced(&mut log);
    log
}

/// Costs a sample call log at the shipped prices, as the assembly task does.
pub fn priced(log: &mut CallLog) {
    let prices = Prices::builtin().expect("the shipped price table parses");
    log.cost = Some(cost::cost(log, &prices));
}

/// Three calls of two agents: a slow TTS turn with an interruption and a recording, a failed
/// call, and an incomplete call.
pub fn sample_calls() -> Vec<CallLog> {
    let mut slow = scored_turn(1, 180, 420, 2300, Some(3100))
        .interrupted(interruption(150, 700, 3))
        .build();
    slow.providers.insert(
        Stage::Tts,
        StageProvider {
            provider: Some("cartesia".to_string()),
            model: Some("sonic-2".to_string()),
        },
    );
    slow.providers.insert(
        Stage::Stt,
        StageProvider {
            provider: Some("deepgram".to_string()),
            model: Some("nova-3".to_string()),
        },
    );
    slow.stt_audio_ms = Some(2_400);
    let mut second = scored_turn(2, 200, 380, 300, Some(1100))
        .interrupted(interruption(250, 300, 1))
        .build();
    second
        .tools
        .push(lookup_order("{\"id\":1}", "shipped", 6100, 80));
    let mut a = scored_call(
        "call_a",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "agent_support",
        CallStatus::Completed,
        "2026-03-21T10:00:00.000Z",
        vec![scored_turn(0, 0, 400, 350, None).build(), slow, second],
    );
    a.recording_url = Some("https://recordings.test/call_a.wav".to_string());
    let mut llm = ReportedUsage::new(
        Stage::Llm,
        Some("api.openai.com".to_string()),
        Some("gpt-4o-mini".to_string()),
    );
    llm.llm_session_ms = Some(61_000);
    a.reported_usage = vec![llm];
    priced(&mut a);
    let b = scored_call(
        "call_b",
        "0af7651916cd43dd8448eb211c80319c",
        "agent_sales",
        CallStatus::Failed,
        "2026-03-21T11:00:00.000Z",
        vec![
            scored_turn(0, 0, 300, 200, None).build(),
            scored_turn(1, 150, 500, 250, Some(950)).build(),
        ],
    );
    let c = scored_call(
        "call_c",
        "b7ad6b7169203331b7ad6b7169203331",
        "agent_support",
        CallStatus::Incomplete,
        "2026-03-21T12:00:00.000Z",
        vec![scored_turn(0, 120, 1400, 300, Some(1900)).build()],
    );
    vec![a, b, c]
}

// ----- the forward sample --------------------------------------------------------------------

/// A turn of the forward sample: fixed stage figures, the user's part only when there is one.
fn spoken_turn(index: u32, user: Option<&str>, agent: &str, start_ms: i64, end_ms: i64) -> Turn {
    let stt = if user.is_some() { 210 } else { 0 };
    turn(index)
        .said(user, agent)
        .extent(start_ms, end_ms)
        .stages(stt, 430, 180)
        .latency(user.map(|_| 920))
        .durations(user.map(|_| 260), 600, 350)
        .usage(120, 24, agent.len() as i64)
        .build()
}

/// A call log as assembly would produce it: a greeting, a turn with a tool call, a plain turn;
/// metadata, a caller number, a recording, one issue.
pub fn sample_log(call_id: &str, revision: u32) -> CallLog {
    let mut tool_turn = spoken_turn(
        1,
        Some("Where is my order 42?"),
        "It ships tomorrow.",
        3_000,
        7_500,
    );
    let tool = lookup_order("{\"order_id\":42}", "{\"status\":\"packed\"}", 3_300, 250);
    tool_turn.tools.push(tool);
    tool_turn.tool_ms = Some(250);
    let mut metadata = BTreeMap::new();
    metadata.insert("customer_id".to_string(), Value::from("cust_123"));
    CallLog {
        revision,
        agent_id: Some("agent_support".into()),
        agent_name: Some("Support".into()),
        service_name: Some("voice-agent".into()),
        end_reason: Some("client_hangup".into()),
        started_at: "2026-03-21T10:00:00.000Z".into(),
        ended_at: "2026-03-21T10:00:12.500Z".into(),
        direction: Some("inbound".into()),
        from: Some("+14155551234".into()),
        to: Some("+14155550000".into()),
        recording_url: Some("https://example.com/recordings/call.mp3".into()),
        metadata,
        turns: vec![
            spoken_turn(0, None, "Hello! How can I help?", 0, 1_800),
            tool_turn,
            spoken_turn(2, Some("Thanks, bye."), "Goodbye!", 8_000, 12_000),
        ],
        metrics: CallMetrics {
            total_duration_ms: 12_500,
            avg_turn_latency_ms: Some(920),
            p50_turn_latency_ms: Some(920),
            p95_turn_latency_ms: Some(920),
            turns: 3,
            tool_executions: 1,
            interruptions: 0,
            llm_input_tokens: 360,
            llm_output_tokens: 72,
            llm_cached_input_tokens: 0,
            llm_reasoning_tokens: 0,
            audio_input_tokens: 0,
            audio_output_tokens: 0,
            tts_characters: 50,
            errors: 0,
        },
        issues: vec![Issue {
            kind: "high_latency".into(),
            turn: Some(1),
            stage: Some(Stage::Tts),
            value_ms: Some(2300),
            target_ms: Some(900),
            description: "TTS latency spike to 2.3s (target: <900ms)".into(),
            recommendation: "Stream the first sentence to TTS.".into(),
        }],
        links: Links {
            trace: Some("http://localhost:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736".into()),
        },
        span_count: 17,
        livekit: None,
        deployment: None,
        recording: None,
        redactions: Default::default(),
        reported_usage: Vec::new(),
        cost: None,
        ..call_log(call_id, SAMPLE_TRACE)
    }
}

/// The trace id of every [`sample_log`].
pub const SAMPLE_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// The idempotency key of a call log delivery: `{call_id}:{trace_id}:{revision}`.
pub fn delivery_key(call_id: &str, trace_id: &str, revision: u32) -> String {
    format!("{call_id}:{trace_id}:{revision}")
}

/// The idempotency key of a [`sample_log`] delivery.
pub fn sample_key(call_id: &str, revision: u32) -> String {
    delivery_key(call_id, SAMPLE_TRACE, revision)
}

/// `Finished` of [`sample_log`].
pub fn finished(call_id: &str, revision: u32) -> CallUpdate {
    CallUpdate::Finished(Box::new(sample_log(call_id, revision)))
}

/// The live updates of [`sample_log`]: started, then each turn.
pub fn live_updates(call_id: &str) -> Vec<CallUpdate> {
    let log = sample_log(call_id, 1);
    let mut updates = vec![CallUpdate::Started(CallStarted {
        call_id: call_id.into(),
        trace_id: log.trace_id.clone(),
        agent_id: log.agent_id.clone(),
        started_at: log.started_at.clone(),
    })];
    for t in &log.turns {
        updates.push(CallUpdate::TurnCompleted(TurnCompleted {
            call_id: call_id.into(),
            trace_id: log.trace_id.clone(),
            agent_id: log.agent_id.clone(),
            turn: t.clone(),
        }));
    }
    updates
}
