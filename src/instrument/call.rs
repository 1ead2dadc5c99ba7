//! Typed helpers: a [`Call`], its [`TurnSpan`]s, and their [`StageSpan`]s.
//!
//! Each helper is a thin wrapper over a `tracing` span with the names and units of
//! [`semconv`](crate::semconv), so the spans are the same whether an agent uses these helpers or
//! plain `tracing` macros. Children always name their parent explicitly, so a stage run in a
//! spawned task (where `tracing`'s "current span" is lost) still lands in the right turn.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use opentelemetry::trace::{
    SpanContext, SpanId, Status, TraceContextExt, TraceFlags, TraceId, TraceState,
};
use opentelemetry::{Context, KeyValue, Value};
use tracing::field::Empty;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::content::{self, Side, ToolCallRequest};
use super::ids::with_next_trace_id;
use super::processor::CallIdValue;
use crate::semconv::{self, genai, openinference};
use crate::trace_id::{parse_traceparent, to_hex, trace_id_for_call};

/// Which way the call goes (`call.direction`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The caller dialled the agent.
    Inbound,
    /// The agent dialled out.
    Outbound,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// Why a call ended (`call.end_reason`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndReason {
    /// The caller hung up.
    ClientHangup,
    /// The agent hung up.
    AgentHangup,
    /// Nobody spoke for too long.
    Inactivity,
    /// The call was transferred.
    Transfer,
    /// The call failed (also sets the root span's status to ERROR).
    Error,
    /// Any other reason.
    Other(String),
}

impl EndReason {
    /// The reason as written in `call.end_reason`.
    pub fn as_str(&self) -> &str {
        match self {
            EndReason::ClientHangup => "client_hangup",
            EndReason::AgentHangup => "agent_hangup",
            EndReason::Inactivity => "inactivity",
            EndReason::Transfer => "transfer",
            EndReason::Error => semconv::END_REASON_ERROR,
            EndReason::Other(s) => s,
        }
    }
}

/// A custom metric's value (`metric.value`).
#[derive(Debug, Clone, PartialEq)]
pub enum MetricValue {
    /// An integer.
    Int(i64),
    /// A float.
    Double(f64),
    /// A string.
    Text(String),
}

impl From<i64> for MetricValue {
    fn from(v: i64) -> Self {
        MetricValue::Int(v)
    }
}
impl From<f64> for MetricValue {
    fn from(v: f64) -> Self {
        MetricValue::Double(v)
    }
}
impl From<&str> for MetricValue {
    fn from(v: &str) -> Self {
        MetricValue::Text(v.to_string())
    }
}
impl From<String> for MetricValue {
    fn from(v: String) -> Self {
        MetricValue::Text(v)
    }
}

impl From<MetricValue> for Value {
    fn from(v: MetricValue) -> Self {
        match v {
            MetricValue::Int(i) => Value::I64(i),
            MetricValue::Double(d) => Value::F64(d),
            MetricValue::Text(s) => Value::String(s.into()),
        }
    }
}

/// Records a custom event on `span` (Cartesia's `LogMessage`): the event is named `name` and
/// carries `log.level`, `log.message` and `metadata.<key>` for each metadata pair.
pub fn log_event_on(
    span: &Span,
    name: &str,
    level: &str,
    message: &str,
    metadata: &[(&str, &str)],
) {
    let mut attrs = Vec::with_capacity(2 + metadata.len());
    attrs.push(KeyValue::new(semconv::LOG_LEVEL, level.to_string()));
    attrs.push(KeyValue::new(semconv::LOG_MESSAGE, message.to_string()));
    for (k, v) in metadata {
        attrs.push(KeyValue::new(
            format!("{}{k}", semconv::METADATA_PREFIX),
            v.to_string(),
        ));
    }
    span.add_event(name.to_string(), attrs);
}

/// Records a custom metric on `span` (Cartesia's `LogMetric`): a `log_metric` event with
/// `metric.name` and `metric.value`.
pub fn log_metric_on(span: &Span, name: &str, value: impl Into<MetricValue>) {
    span.add_event(
        semconv::EVENT_LOG_METRIC,
        vec![
            KeyValue::new(semconv::METRIC_NAME, name.to_string()),
            KeyValue::new(semconv::METRIC_VALUE, Value::from(value.into())),
        ],
    );
}

/// [`log_event_on`] the current span.
pub fn log_event(name: &str, level: &str, message: &str, metadata: &[(&str, &str)]) {
    log_event_on(&Span::current(), name, level, message, metadata);
}

/// [`log_metric_on`] the current span.
pub fn log_metric(name: &str, value: impl Into<MetricValue>) {
    log_metric_on(&Span::current(), name, value);
}

/// Records `metrics.ttfb` (seconds) on any span that declared it, e.g. one made by
/// [`llm_span!`](crate::llm_span).
pub fn record_ttfb(span: &Span, ttfb: Duration) {
    span.record(semconv::METRICS_TTFB, ttfb.as_secs_f64());
}

/// Starts a call: builder for the `conversation` root span.
#[derive(Debug, Clone)]
pub struct CallBuilder {
    id: String,
    attributes: Vec<KeyValue>,
    traceparent: Option<String>,
    capture: Option<bool>,
}

impl CallBuilder {
    fn attr(mut self, key: impl Into<opentelemetry::Key>, value: impl Into<Value>) -> Self {
        self.attributes.push(KeyValue::new(key, value));
        self
    }

    /// `gen_ai.agent.id`.
    pub fn agent_id(self, id: impl Into<String>) -> Self {
        self.attr(semconv::GEN_AI_AGENT_ID, id.into())
    }

    /// `gen_ai.agent.name`.
    pub fn agent_name(self, name: impl Into<String>) -> Self {
        self.attr(semconv::GEN_AI_AGENT_NAME, name.into())
    }

    /// `call.direction`.
    pub fn direction(self, direction: Direction) -> Self {
        self.attr(semconv::CALL_DIRECTION, direction.as_str())
    }

    /// `call.from`.
    pub fn from(self, from: impl Into<String>) -> Self {
        self.attr(semconv::CALL_FROM, from.into())
    }

    /// `call.to`.
    pub fn to(self, to: impl Into<String>) -> Self {
        self.attr(semconv::CALL_TO, to.into())
    }

    /// `call.recording_url`.
    pub fn recording_url(self, url: impl Into<String>) -> Self {
        self.attr(semconv::CALL_RECORDING_URL, url.into())
    }

    /// User metadata: `call.metadata.<key>`.
    pub fn metadata(self, key: &str, value: impl Into<String>) -> Self {
        self.attr(
            format!("{}{key}", semconv::CALL_METADATA_PREFIX),
            value.into(),
        )
    }

    /// An incoming W3C `traceparent` (from the telephony layer or a parent service): the call
    /// joins that trace instead of the one derived from its id. An invalid header is reported
    /// with a `warn!` and ignored.
    pub fn traceparent(mut self, header: impl Into<String>) -> Self {
        self.traceparent = Some(header.into());
        self
    }

    /// Whether this call's text is also written to the GenAI and OpenInference content
    /// attributes (`gen_ai.input.messages`, `input.value`, ...), overriding the pipeline's
    /// setting for this call alone (e.g. from the caller's consent). See
    /// [`content`] for what is emitted either way.
    pub fn capture_message_content(mut self, on: bool) -> Self {
        self.capture = Some(on);
        self
    }

    /// Opens the call's root span: a root (no parent) whose trace id is the one derived from the
    /// call id, or a child of the incoming `traceparent`.
    pub fn start(self) -> Call {
        let call_id: Arc<str> = Arc::from(self.id.as_str());
        let span = tracing::info_span!(
            parent: None,
            "conversation",
            openinference.span.kind = openinference::KIND_AGENT,
            conversation.type = semconv::CONVERSATION_TYPE_VOICE,
            gen_ai.conversation.id = %call_id,
            call.end_reason = Empty,
        );
        let (parent, wanted) = self.parent_context(&call_id);
        // The call id rides in the parent context, so every span below the root is stamped
        // with it (see `processor`). Fails only when no OpenTelemetry layer is installed
        // (export disabled): then there is no trace and nothing to do.
        let _ = span.set_parent(parent.with_value(CallIdValue(call_id.clone())));
        for kv in self.attributes {
            span.set_attribute(kv.key, kv.value);
        }
        // Start the OpenTelemetry span now, on this thread, while the wanted trace id waits
        // for the id generator (see `ids`); a remote parent gives its own trace id.
        let started =
            with_next_trace_id(wanted, || span.context().span().span_context().trace_id());
        let trace_id = if started == TraceId::INVALID {
            wanted // no OpenTelemetry layer: nothing is exported
        } else {
            if started != wanted {
                warn_missing_id_generator(&call_id);
            }
            started
        };
        let capture = self.capture.unwrap_or_else(content::capture_default);
        Call {
            span,
            id: call_id,
            trace_id,
            next_turn: AtomicU32::new(0),
            capture,
            transcript: capture.then(|| Arc::new(Transcript::default())),
        }
    }

    /// The parent of the call's root and the trace id it must have: the incoming traceparent's
    /// remote span, else no parent span and the id derived from the call id.
    fn parent_context(&self, call_id: &str) -> (Context, TraceId) {
        if let Some(header) = &self.traceparent {
            match parse_traceparent(header) {
                Ok(tp) => {
                    let trace_id = TraceId::from_bytes(tp.trace_id);
                    let remote = SpanContext::new(
                        trace_id,
                        SpanId::from_bytes(tp.span_id),
                        TraceFlags::new(tp.flags),
                        true,
                        TraceState::default(),
                    );
                    return (Context::new().with_remote_span_context(remote), trace_id);
                }
                Err(e) => tracing::warn!(call_id, error = %e, "ignoring invalid traceparent"),
            }
        }
        (
            Context::new(),
            TraceId::from_bytes(trace_id_for_call(call_id)),
        )
    }
}

/// Says once per process that the provider lacks [`CallIdGenerator`](super::CallIdGenerator).
fn warn_missing_id_generator(call_id: &str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        tracing::warn!(
            call_id,
            "the tracer provider has no voicetrace CallIdGenerator: calls get random trace ids \
             (add .with_id_generator(voicetrace::instrument::CallIdGenerator::default()))"
        );
    }
}

/// What was said in each turn, kept for the root's `input.value` / `output.value` when content
/// capture is on.
#[derive(Debug, Default)]
struct Transcript {
    /// By turn index.
    turns: Mutex<BTreeMap<u32, TurnText>>,
}

/// What the user (input) and the agent (output) said in one turn.
#[derive(Debug, Default)]
struct TurnText {
    user: Option<String>,
    agent: Option<String>,
}

impl Transcript {
    fn record(&self, index: u32, side: Side, text: &str) {
        let mut turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        let turn = turns.entry(index).or_default();
        let slot = match side {
            Side::Input => &mut turn.user,
            Side::Output => &mut turn.agent,
        };
        *slot = Some(text.to_string());
    }

    /// The caller's lines and the agent's lines, one per turn that has one, in turn order.
    fn lines(&self) -> (String, String) {
        let turns = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        let join = |texts: Vec<&str>| texts.join("\n");
        (
            join(turns.values().filter_map(|t| t.user.as_deref()).collect()),
            join(turns.values().filter_map(|t| t.agent.as_deref()).collect()),
        )
    }
}

/// One call: the `conversation` root span. Dropping it ends the call (without an end reason);
/// prefer [`Call::end`].
#[derive(Debug)]
pub struct Call {
    span: Span,
    id: Arc<str>,
    trace_id: TraceId,
    next_turn: AtomicU32,
    capture: bool,
    transcript: Option<Arc<Transcript>>,
}

impl Drop for Call {
    fn drop(&mut self) {
        // The root's text is the whole conversation, known only now.
        if let Some(transcript) = &self.transcript {
            let (caller, agent) = transcript.lines();
            if !caller.is_empty() {
                set_value(&self.span, Side::Input, &caller);
            }
            if !agent.is_empty() {
                set_value(&self.span, Side::Output, &agent);
            }
        }
    }
}

impl Call {
    /// A builder for a call with this id.
    pub fn builder(id: impl Into<String>) -> CallBuilder {
        CallBuilder {
            id: id.into(),
            attributes: Vec::new(),
            traceparent: None,
            capture: None,
        }
    }

    /// Starts a call with no attributes beyond its id.
    pub fn start(id: impl Into<String>) -> Call {
        Self::builder(id).start()
    }

    /// The call id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Whether the call's text also goes to the GenAI and OpenInference content attributes.
    pub fn captures_message_content(&self) -> bool {
        self.capture
    }

    /// The call's trace id, 32 lowercase hex digits: the one its spans carry.
    pub fn trace_id(&self) -> String {
        to_hex(&self.trace_id.to_bytes())
    }

    /// The root span, to parent plain `tracing` spans or `.instrument()` a task.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Starts the next turn (0, 1, 2, ... in call order).
    pub fn turn(&self) -> TurnSpan {
        let index = self.next_turn.fetch_add(1, Ordering::Relaxed);
        self.turn_at(index)
    }

    /// Starts a turn with an explicit 0-based index.
    pub fn turn_at(&self, index: u32) -> TurnSpan {
        let span = tracing::info_span!(
            parent: &self.span,
            "turn",
            openinference.span.kind = openinference::KIND_CHAIN,
            turn.index = index as i64,
            turn.user.text = Empty,
            turn.agent.text = Empty,
            turn.was_interrupted = Empty,
            turn.user_bot_latency_seconds = Empty,
        );
        TurnSpan {
            span,
            index,
            interrupted: AtomicBool::new(false),
            capture: self.capture,
            transcript: self.transcript.clone(),
        }
    }

    /// A custom event on the call's root span.
    pub fn log_event(&self, name: &str, level: &str, message: &str, metadata: &[(&str, &str)]) {
        log_event_on(&self.span, name, level, message, metadata);
    }

    /// A custom metric on the call's root span.
    pub fn log_metric(&self, name: &str, value: impl Into<MetricValue>) {
        log_metric_on(&self.span, name, value);
    }

    /// Ends the call with a reason; [`EndReason::Error`] (or any reason spelled `error`) also
    /// marks the root span as failed.
    pub fn end(self, reason: EndReason) {
        self.span.record(semconv::CALL_END_REASON, reason.as_str());
        if reason.as_str() == semconv::END_REASON_ERROR {
            self.span.set_status(Status::error("call failed"));
        }
    }

    /// Ends the call as failed because of `error` (status ERROR, an `exception` event, and
    /// `call.end_reason` = `error`).
    pub fn fail<E: std::error::Error + ?Sized>(self, error: &E) {
        record_error(&self.span, error);
        self.span
            .record(semconv::CALL_END_REASON, semconv::END_REASON_ERROR);
    }
}

fn record_error<E: std::error::Error + ?Sized>(span: &Span, error: &E) {
    let message = error.to_string();
    span.add_event(
        semconv::EVENT_EXCEPTION,
        vec![
            KeyValue::new(semconv::EXCEPTION_TYPE, std::any::type_name::<E>()),
            KeyValue::new(semconv::EXCEPTION_MESSAGE, message.clone()),
        ],
    );
    span.set_status(Status::error(message));
}

/// One edge of someone's speech in a turn, for [`TurnSpan::speech_at`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeechMark {
    /// The caller started speaking (`user_started_speaking`).
    UserStarted,
    /// The caller's last word (`user_stopped_speaking`).
    UserStopped,
    /// The agent's first audio of a stretch (`agent_started_speaking`).
    AgentStarted,
    /// The agent's audio stopped (`agent_stopped_speaking`).
    AgentStopped,
}

impl SpeechMark {
    fn event_name(self) -> &'static str {
        match self {
            SpeechMark::UserStarted => semconv::EVENT_USER_STARTED_SPEAKING,
            SpeechMark::UserStopped => semconv::EVENT_USER_STOPPED_SPEAKING,
            SpeechMark::AgentStarted => semconv::EVENT_AGENT_STARTED_SPEAKING,
            SpeechMark::AgentStopped => semconv::EVENT_AGENT_STOPPED_SPEAKING,
        }
    }
}

/// Figures of a barge-in, recorded as the `interruption` event.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct BargeIn {
    /// User starts speaking → interruption detected.
    pub detection_latency: Option<Duration>,
    /// Interruption detected → agent audio stopped (from the detection, not from the caller's
    /// first sound: the receiver's figure derived from speech intervals counts from the first
    /// sound where no detection is reported, CONVENTIONS.md section 4).
    pub stop_latency: Option<Duration>,
    /// Agent words heard after the user started speaking.
    pub bleed_through_words: Option<u32>,
}

/// One turn of a call: the `turn` span. Ends when dropped; share it with spawned tasks through
/// an `Arc` (the turn ends when the last handle goes).
#[derive(Debug)]
pub struct TurnSpan {
    span: Span,
    index: u32,
    interrupted: AtomicBool,
    capture: bool,
    transcript: Option<Arc<Transcript>>,
}

impl Drop for TurnSpan {
    fn drop(&mut self) {
        // `turn.was_interrupted` is written once, when the turn ends, because a recorded field
        // is appended rather than replaced: declaring it `false` up front and recording `true`
        // later would export both values.
        if !self.interrupted.load(Ordering::Relaxed) {
            self.span.record(semconv::TURN_WAS_INTERRUPTED, false);
        }
    }
}

impl TurnSpan {
    /// The turn's 0-based index.
    pub fn index(&self) -> u32 {
        self.index
    }

    /// The turn span, to parent plain `tracing` spans or `.instrument()` a task.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// What the user said (`turn.user.text`; with content capture also `input.value`).
    pub fn user_text(&self, text: &str) -> &Self {
        self.span.record(semconv::TURN_USER_TEXT, text);
        if let Some(transcript) = &self.transcript {
            transcript.record(self.index, Side::Input, text);
            set_value(&self.span, Side::Input, text);
        }
        self
    }

    /// What the agent said (`turn.agent.text`; with content capture also `output.value`).
    pub fn agent_text(&self, text: &str) -> &Self {
        self.span.record(semconv::TURN_AGENT_TEXT, text);
        if let Some(transcript) = &self.transcript {
            transcript.record(self.index, Side::Output, text);
            set_value(&self.span, Side::Output, text);
        }
        self
    }

    /// Voice-to-voice latency, when the agent measured it (end of user speech → first agent
    /// audio). Without it the receiver estimates stt + llm + tts.
    pub fn voice_to_voice(&self, latency: Duration) -> &Self {
        self.span.record(
            semconv::TURN_USER_BOT_LATENCY_SECONDS,
            latency.as_secs_f64(),
        );
        self
    }

    /// The caller started speaking, now (the `user_started_speaking` event): the receiver's
    /// `userStartMs`. A barge-in's start falls inside the previous turn's agent speech.
    pub fn user_started_speaking(&self) -> &Self {
        self.speech_mark(semconv::EVENT_USER_STARTED_SPEAKING)
    }

    /// The caller's last word, now (`user_stopped_speaking`): `userEndMs`. Without it the
    /// receiver takes the stt span's start (the crate starts it at the end of speech).
    pub fn user_stopped_speaking(&self) -> &Self {
        self.speech_mark(semconv::EVENT_USER_STOPPED_SPEAKING)
    }

    /// The agent's first audio of a stretch of speech, now (`agent_started_speaking`). Mark
    /// each stretch (it spoke, called a tool, spoke again): each is one `agentSpeech` segment.
    /// Without marks the receiver derives them from the tts spans' first bytes.
    pub fn agent_started_speaking(&self) -> &Self {
        self.speech_mark(semconv::EVENT_AGENT_STARTED_SPEAKING)
    }

    /// The agent's audio stopped, now (finished playing, or cut off by a barge-in).
    pub fn agent_stopped_speaking(&self) -> &Self {
        self.speech_mark(semconv::EVENT_AGENT_STOPPED_SPEAKING)
    }

    /// A speech mark at `at` rather than now: for an agent that learns an edge after the fact
    /// (its audio player reports where playback stopped) or that runs on its own clock, as the
    /// crate's simulated agent does.
    pub fn speech_at(&self, mark: SpeechMark, at: SystemTime) -> &Self {
        self.span
            .add_event_with_timestamp(mark.event_name(), at, Vec::new());
        self
    }

    fn speech_mark(&self, name: &'static str) -> &Self {
        self.span.add_event(name, Vec::new());
        self
    }

    /// The user barged in: marks the turn interrupted and records the `interruption` event.
    pub fn interrupted(&self, figures: BargeIn) -> &Self {
        if !self.interrupted.swap(true, Ordering::Relaxed) {
            self.span.record(semconv::TURN_WAS_INTERRUPTED, true);
        }
        let mut attrs = Vec::with_capacity(3);
        if let Some(d) = figures.detection_latency {
            attrs.push(KeyValue::new(
                semconv::INTERRUPTION_DETECTION_LATENCY_SECONDS,
                d.as_secs_f64(),
            ));
        }
        if let Some(d) = figures.stop_latency {
            attrs.push(KeyValue::new(
                semconv::INTERRUPTION_STOP_LATENCY_SECONDS,
                d.as_secs_f64(),
            ));
        }
        if let Some(w) = figures.bleed_through_words {
            attrs.push(KeyValue::new(
                semconv::INTERRUPTION_BLEED_THROUGH_WORDS,
                i64::from(w),
            ));
        }
        self.span.add_event(semconv::EVENT_INTERRUPTION, attrs);
        self
    }

    /// A custom event on the turn.
    pub fn log_event(
        &self,
        name: &str,
        level: &str,
        message: &str,
        metadata: &[(&str, &str)],
    ) -> &Self {
        log_event_on(&self.span, name, level, message, metadata);
        self
    }

    /// A custom metric on the turn.
    pub fn log_metric(&self, name: &str, value: impl Into<MetricValue>) -> &Self {
        log_metric_on(&self.span, name, value);
        self
    }

    /// Starts speech-to-text, at the end of the user's speech.
    pub fn stt(&self) -> StageSpan {
        StageSpan::new(StageKind::Stt, &self.span, self.capture)
    }

    /// Starts a language-model request.
    pub fn llm(&self) -> StageSpan {
        StageSpan::new(StageKind::Llm, &self.span, self.capture)
    }

    /// Starts text-to-speech.
    pub fn tts(&self) -> StageSpan {
        StageSpan::new(StageKind::Tts, &self.span, self.capture)
    }

    /// Starts a speech-to-speech exchange.
    pub fn s2s(&self) -> StageSpan {
        StageSpan::new(StageKind::S2s, &self.span, self.capture)
    }

    /// Starts a tool execution.
    pub fn tool(&self, name: &str) -> StageSpan {
        let stage = StageSpan::new(StageKind::Tool, &self.span, self.capture);
        stage
            .span
            .set_attribute(semconv::GEN_AI_TOOL_NAME, name.to_string());
        stage
            .span
            .set_attribute(semconv::FUNCTION_NAME, name.to_string());
        stage
    }
}

/// The kind of a stage span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageKind {
    /// `stt`
    Stt,
    /// `llm`
    Llm,
    /// `tts`
    Tts,
    /// `tool_call`
    Tool,
    /// `s2s`
    S2s,
}

/// One stage of a turn (stt, llm, tts, tool_call, s2s). Ends when dropped or [`StageSpan::end`]ed.
#[derive(Debug)]
pub struct StageSpan {
    span: Span,
    kind: StageKind,
    started: Instant,
    capture: bool,
    /// An llm request's content, written as JSON when the stage ends (the finish reason and the
    /// answer may come in any order, and an attribute is written once).
    llm: Mutex<LlmContent>,
}

/// What an llm stage was given and answered, for the content attributes.
#[derive(Debug, Default)]
struct LlmContent {
    instructions: Option<String>,
    input: Option<String>,
    output: Option<String>,
    tool_calls: Vec<ToolCallRequest>,
    finish_reason: Option<String>,
}

impl Drop for StageSpan {
    fn drop(&mut self) {
        if self.capture && self.kind == StageKind::Llm {
            let content =
                std::mem::take(self.llm.get_mut().unwrap_or_else(PoisonError::into_inner));
            write_llm_content(&self.span, content);
        }
    }
}

/// The GenAI messages and OpenInference values of an llm request.
fn write_llm_content(span: &Span, c: LlmContent) {
    if let Some(instructions) = &c.instructions {
        span.set_attribute(
            genai::SYSTEM_INSTRUCTIONS,
            content::system_instructions(instructions),
        );
    }
    if let Some(input) = &c.input {
        span.set_attribute(genai::INPUT_MESSAGES, content::user_message(input));
    }
    if let Some(value) = c.input.as_ref().or(c.instructions.as_ref()) {
        set_value(span, Side::Input, value);
    }
    if c.output.is_some() || !c.tool_calls.is_empty() {
        let text = c.output.as_deref();
        span.set_attribute(
            genai::OUTPUT_MESSAGES,
            content::assistant_message(text, &c.tool_calls, c.finish_reason.as_deref()),
        );
        set_value(
            span,
            Side::Output,
            &content::llm_output_value(text, &c.tool_calls),
        );
    }
}

/// OpenInference's `input.value` / `output.value`, with its mime type.
fn set_value(span: &Span, side: Side, text: &str) {
    for kv in content::value(side, text) {
        span.set_attribute(kv.key, kv.value);
    }
}

impl StageSpan {
    fn new(kind: StageKind, parent: &Span, capture: bool) -> StageSpan {
        // One callsite per kind: span names are static in `tracing`.
        let span = match kind {
            StageKind::Stt => crate::stt_span!(parent: parent),
            StageKind::Llm => crate::llm_span!(parent: parent),
            StageKind::Tts => crate::tts_span!(parent: parent),
            StageKind::Tool => crate::tool_span!(parent: parent),
            StageKind::S2s => crate::s2s_span!(parent: parent),
        };
        StageSpan {
            span,
            kind,
            started: Instant::now(),
            capture,
            llm: Mutex::new(LlmContent::default()),
        }
    }

    /// The stage's kind.
    pub fn kind(&self) -> StageKind {
        self.kind
    }

    /// The stage span, to parent plain `tracing` spans or `.instrument()` a task.
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// The first byte / token / final transcript arrived now: records `metrics.ttfb` as the
    /// time since the stage started.
    pub fn first_byte(&self) -> &Self {
        self.ttfb(self.started.elapsed())
    }

    /// Records `metrics.ttfb` as measured by the caller.
    pub fn ttfb(&self, ttfb: Duration) -> &Self {
        record_ttfb(&self.span, ttfb);
        self
    }

    /// `gen_ai.provider.name` (and `stt.provider` / `tts.provider`).
    pub fn provider(&self, provider: &str) -> &Self {
        self.span.record(semconv::GEN_AI_PROVIDER_NAME, provider);
        match self.kind {
            StageKind::Stt => self.set(semconv::STT_PROVIDER, provider.to_string()),
            StageKind::Tts => self.set(semconv::TTS_PROVIDER, provider.to_string()),
            _ => self,
        }
    }

    /// `gen_ai.request.model`.
    pub fn model(&self, model: &str) -> &Self {
        self.span.record(semconv::GEN_AI_REQUEST_MODEL, model);
        self
    }

    /// The stage's text: the final transcript (stt, s2s: `stt.transcript`), the model's answer
    /// (llm: `llm.response.text`), the spoken text (tts: `text`, with `tts.characters`), the
    /// tool's result (tool: `function.output`). With content capture, also the span's
    /// `output.value` (stt, tool, llm with `gen_ai.output.messages`) or `input.value` (tts: the
    /// text it speaks; s2s: what the user said), and `gen_ai.tool.call.result` (tool).
    pub fn text(&self, text: &str) -> &Self {
        match self.kind {
            StageKind::Stt => self
                .set(semconv::STT_TRANSCRIPT, text.to_string())
                .value(Side::Output, text),
            StageKind::S2s => self
                .set(semconv::STT_TRANSCRIPT, text.to_string())
                .value(Side::Input, text),
            StageKind::Llm => {
                self.with_llm(|c| c.output = Some(text.to_string()));
                self.set(semconv::LLM_RESPONSE_TEXT, text.to_string())
            }
            StageKind::Tts => self
                .set(semconv::TEXT, text.to_string())
                .set(semconv::TTS_CHARACTERS, text.chars().count() as i64)
                .value(Side::Input, text),
            StageKind::Tool => self
                .set(semconv::FUNCTION_OUTPUT, text.to_string())
                .value(Side::Output, text)
                .content(genai::TOOL_CALL_RESULT, text),
        }
    }

    /// The stage's input text: a tool's arguments (tool: `function.input`; with content capture
    /// also `input.value` and `gen_ai.tool.call.arguments`), the user message an llm request
    /// sends (llm, content capture only: `gen_ai.input.messages` and `input.value`). stt, tts
    /// and s2s take audio: nothing is recorded.
    pub fn input(&self, input: &str) -> &Self {
        match self.kind {
            StageKind::Tool => self
                .set(semconv::FUNCTION_INPUT, input.to_string())
                .value(Side::Input, input)
                .content(genai::TOOL_CALL_ARGUMENTS, input),
            StageKind::Llm => self.with_llm(|c| c.input = Some(input.to_string())),
            StageKind::Stt | StageKind::Tts | StageKind::S2s => self,
        }
    }

    /// The system prompt of an llm request (content capture only: `gen_ai.system_instructions`,
    /// and `input.value` when the request has no user message).
    pub fn instructions(&self, instructions: &str) -> &Self {
        self.with_llm(|c| c.instructions = Some(instructions.to_string()))
    }

    /// A tool call the model asked for, with its arguments (JSON as a string) (llm, content
    /// capture only: a `tool_call` part of `gen_ai.output.messages`).
    pub fn requests_tool(&self, name: &str, arguments: &str) -> &Self {
        self.with_llm(|c| {
            c.tool_calls.push(ToolCallRequest {
                name: name.to_string(),
                arguments: arguments.to_string(),
            })
        })
    }

    /// Updates the llm content kept for the end of the stage, when there is any to keep.
    fn with_llm(&self, update: impl FnOnce(&mut LlmContent)) -> &Self {
        if self.capture && self.kind == StageKind::Llm {
            update(&mut self.llm.lock().unwrap_or_else(PoisonError::into_inner));
        }
        self
    }

    /// `input.value` / `output.value`, written only when content capture is on.
    fn value(&self, side: Side, text: &str) -> &Self {
        if self.capture {
            set_value(&self.span, side, text);
        }
        self
    }

    /// A content attribute, written only when content capture is on.
    fn content(&self, key: &'static str, text: &str) -> &Self {
        if self.capture {
            self.set(key, text.to_string());
        }
        self
    }

    /// `gen_ai.response.model`: the model that answered (llm, s2s).
    pub fn response_model(&self, model: &str) -> &Self {
        self.set(semconv::GEN_AI_RESPONSE_MODEL, model.to_string())
    }

    /// `gen_ai.response.finish_reasons` (llm).
    pub fn finish_reasons(&self, reasons: &[&str]) -> &Self {
        if let Some(first) = reasons.first() {
            self.with_llm(|c| c.finish_reason = Some(first.to_string()));
        }
        let reasons: Vec<opentelemetry::StringValue> =
            reasons.iter().map(|r| r.to_string().into()).collect();
        self.set(
            semconv::GEN_AI_RESPONSE_FINISH_REASONS,
            Value::Array(reasons.into()),
        )
    }

    /// `stt.is_final`: whether the transcript is final (stt).
    pub fn is_final(&self, is_final: bool) -> &Self {
        self.set(semconv::STT_IS_FINAL, is_final)
    }

    /// Token usage of an llm or s2s stage.
    pub fn usage(&self, input_tokens: u64, output_tokens: u64) -> &Self {
        self.set(semconv::GEN_AI_USAGE_INPUT_TOKENS, input_tokens as i64)
            .set(semconv::GEN_AI_USAGE_OUTPUT_TOKENS, output_tokens as i64)
    }

    /// Characters synthesised (tts), when not given by [`StageSpan::text`].
    pub fn characters(&self, n: u64) -> &Self {
        self.set(semconv::TTS_CHARACTERS, n as i64)
    }

    /// The TTS voice.
    pub fn voice(&self, voice: &str) -> &Self {
        self.set(semconv::TTS_VOICE, voice.to_string())
    }

    /// STT confidence (0..1).
    pub fn confidence(&self, confidence: f64) -> &Self {
        self.set(semconv::STT_CONFIDENCE, confidence)
    }

    /// Spoken language (BCP 47).
    pub fn language(&self, language: &str) -> &Self {
        self.set(semconv::LANGUAGE, language.to_string())
    }

    /// The TTS output was cut off by a barge-in (`tts.interrupted`).
    pub fn interrupted(&self) -> &Self {
        self.set(semconv::TTS_INTERRUPTED, true)
    }

    /// Any other attribute.
    pub fn set(&self, key: impl Into<Cow<'static, str>>, value: impl Into<Value>) -> &Self {
        self.span
            .set_attribute(opentelemetry::Key::new(key.into()), value);
        self
    }

    /// The stage failed: status ERROR and an `exception` event.
    pub fn fail<E: std::error::Error + ?Sized>(&self, error: &E) -> &Self {
        record_error(&self.span, error);
        self
    }

    /// Ends the stage now.
    pub fn end(self) {}
}
