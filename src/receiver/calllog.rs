//! The call log: what assembly produces and every later stage consumes (CONVENTIONS.md
//! section 5). Serialised as camelCase JSON; that JSON is the canonical form the `http` and
//! `jsonl` sinks send and the API serves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// How a call ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    /// The root span ended normally.
    Completed,
    /// The root span has status ERROR, or `call.end_reason` = `error`.
    Failed,
    /// Closed by the idle timeout: the root span never ended.
    Incomplete,
}

impl CallStatus {
    /// The status as written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Completed => "completed",
            CallStatus::Failed => "failed",
            CallStatus::Incomplete => "incomplete",
        }
    }
}

/// Which instrumentation produced the spans (CONVENTIONS.md section 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dialect {
    /// voicetrace, Cekura, or Pipecat (`conversation`/`turn`/`stt`/`llm`/`tts`).
    Voicetrace,
    /// Pipecat (recognised by `turn.number`); same span names as voicetrace.
    Pipecat,
    /// LiveKit Agents (`agent_session`/`agent_turn`/`llm_node`/...).
    Livekit,
    /// Any OpenTelemetry GenAI agent (`gen_ai.operation.name`).
    Genai,
}

/// Where a per-turn figure came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimingSource {
    /// A first-byte/first-token attribute was read.
    Ttfb,
    /// A span's duration was used.
    Duration,
    /// Computed from other figures (latency = stt + llm + tts).
    Estimated,
    /// Read from the edges of spans that are the thing itself (LiveKit's `user_speaking` and
    /// `agent_speaking`, a speech mark of the crate).
    Spans,
    /// Derived from other spans' edges and figures (an agent's first audio as a tts span's
    /// start plus its first byte, an interruption's stop latency from the speech intervals).
    Derived,
}

/// A stage of a voice turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    /// Speech-to-text.
    Stt,
    /// Language model.
    Llm,
    /// Text-to-speech.
    Tts,
    /// Tool execution.
    Tool,
    /// Speech-to-speech.
    S2s,
    /// End of user speech → first agent audio.
    VoiceToVoice,
}

impl Stage {
    /// The stage's name as written in JSON and metrics labels.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Stt => "stt",
            Stage::Llm => "llm",
            Stage::Tts => "tts",
            Stage::Tool => "tool",
            Stage::S2s => "s2s",
            Stage::VoiceToVoice => "voice_to_voice",
        }
    }
}

/// Who spoke (or, on a turn, who opened it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Speaker {
    /// The caller.
    User,
    /// The voice agent (a turn's default: until a user part is seen, a turn is the agent's).
    #[default]
    Agent,
}

impl Speaker {
    /// As written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Speaker::User => "user",
            Speaker::Agent => "agent",
        }
    }
}

/// One call, assembled from its spans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallLog {
    /// The call id (`conversation.id`, or the dialect's equivalent, else the trace id).
    pub id: String,
    /// The trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// 1 for the first call log of a call; +1 each time late spans revise it.
    pub revision: u32,
    /// Which instrumentation produced the spans.
    pub dialect: Dialect,
    /// `gen_ai.agent.id`, else the agent's name, else the service name.
    pub agent_id: Option<String>,
    /// `gen_ai.agent.name`.
    pub agent_name: Option<String>,
    /// The `service.name` of the process that sent the root span.
    pub service_name: Option<String>,
    /// How the call ended.
    pub status: CallStatus,
    /// `call.end_reason`.
    pub end_reason: Option<String>,
    /// Start of the call, RFC 3339 UTC with milliseconds.
    pub started_at: String,
    /// End of the call, RFC 3339 UTC with milliseconds.
    pub ended_at: String,
    /// `call.direction`.
    pub direction: Option<String>,
    /// `call.from`.
    pub from: Option<String>,
    /// `call.to`.
    pub to: Option<String>,
    /// `call.recording_url`.
    pub recording_url: Option<String>,
    /// User metadata (`call.metadata.<key>`).
    pub metadata: BTreeMap<String, serde_json::Value>,
    /// The turns, in order.
    pub turns: Vec<Turn>,
    /// Call-level figures.
    pub metrics: CallMetrics,
    /// Problems found by analysis.
    pub issues: Vec<Issue>,
    /// Custom events (`log_event`), exceptions and interruptions, in time order.
    pub events: Vec<CallEvent>,
    /// Log lines written during the call (span events from `tracing` and OTLP log records).
    pub logs: Vec<LogLine>,
    /// Custom metrics (`log_metric`), last value wins.
    pub custom_metrics: BTreeMap<String, serde_json::Value>,
    /// Links to the call's trace in a trace UI.
    pub links: Links,
    /// Spans the call log was built from.
    pub span_count: usize,
    /// The LiveKit room and job the call ran in, when its spans name them (what a LiveKit
    /// worker's recording upload is matched by).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub livekit: Option<LiveKitJob>,
    /// The deployment that served the call (the root's resource), when its spans say.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<Deployment>,
    /// The call's audio, when the receiver keeps a recording of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording: Option<Recording>,
    /// What redaction took out of the call log's texts, counted per kind (`credit_card`,
    /// `email`, ..., or a rule's name); never the values. Absent when nothing was redacted.
    #[serde(default, skip_serializing_if = "Redactions::is_empty")]
    pub redactions: Redactions,
    /// Usage the agent reported as OTLP metrics (LiveKit's `lk.agents.usage.*`) that its spans
    /// do not say, per stage, provider and model (a figure the spans give is never taken from
    /// the metrics too); absent when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reported_usage: Vec<ReportedUsage>,
    /// What the call cost at the price table's list prices (analysis); absent on call logs
    /// stored before costs were computed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<CallCost>,
}

/// What redaction took out of a call log's texts: a count per kind or rule name, in the
/// order of the names (a JSON object, as a map's). A short sorted list rather than a map: a
/// call log has a handful at most, and a list of them is one small allocation where a
/// `BTreeMap`'s first entry allocates a node for eleven (2.5k of a typical call's 70k
/// instructions of redaction, measured with `benches/redact.rs`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redactions(Vec<(String, u64)>);

impl Redactions {
    /// Adds `n` to the count of `name`.
    pub fn add(&mut self, name: &str, n: u64) {
        match self
            .0
            .binary_search_by(|(known, _)| known.as_str().cmp(name))
        {
            Ok(i) => self.0[i].1 += n,
            Err(i) => self.0.insert(i, (name.to_string(), n)),
        }
    }

    /// The count of `name`, if redaction found any.
    pub fn get(&self, name: &str) -> Option<u64> {
        let i = self
            .0
            .binary_search_by(|(known, _)| known.as_str().cmp(name))
            .ok()?;
        Some(self.0[i].1)
    }

    /// Whether nothing was redacted.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The counts, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, u64)> {
        self.0.iter().map(|(name, n)| (name.as_str(), *n))
    }
}

impl<const N: usize> From<[(&str, u64); N]> for Redactions {
    fn from(counts: [(&str, u64); N]) -> Redactions {
        let mut redactions = Redactions::default();
        for (name, n) in counts {
            redactions.add(name, n);
        }
        redactions
    }
}

impl Serialize for Redactions {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Redactions {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Redactions, D::Error> {
        let counts = BTreeMap::<String, u64>::deserialize(deserializer)?;
        Ok(Redactions(counts.into_iter().collect()))
    }
}

/// The LiveKit room and job of a call (`room_id` / `lk.room_sid`, `job_id` / `lk.job_id`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LiveKitJob {
    /// The room's SID.
    pub room_id: Option<String>,
    /// The job's id.
    pub job_id: Option<String>,
}

impl LiveKitJob {
    /// `None` when neither the room nor the job is named.
    pub fn into_named(self) -> Option<LiveKitJob> {
        (self.room_id.is_some() || self.job_id.is_some()).then_some(self)
    }
}

/// One rollout of an agent: from the resource attributes `deployment.id`, `service.version`
/// and `deployment.environment.name` (or `deployment.environment`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// `deployment.id`.
    pub id: Option<String>,
    /// `service.version`.
    pub version: Option<String>,
    /// `deployment.environment.name`, else `deployment.environment`.
    pub environment: Option<String>,
}

/// The recording of a call the receiver keeps: where to fetch it and how it lines up with the
/// call. A turn's `startMs` is at `startOffsetMs + startMs` in the audio.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recording {
    /// Where the API serves it (`/v1/recordings/{callId}?traceId=...`; in API answers, a
    /// signed link that needs no token).
    pub url: String,
    /// Its media type (`audio/wav`, `audio/ogg`, `audio/mpeg`, `audio/flac`).
    pub media_type: String,
    /// Its duration, read from the file.
    pub duration_ms: i64,
    /// Where the call's time zero falls in the audio, ms (negative: the audio starts after
    /// the call did).
    pub start_offset_ms: i64,
}

/// Usage of one stage, provider and model that only the agent's metrics reported (a whole
/// call's, not a turn's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportedUsage {
    /// The stage (`stt`, `llm`, `tts`).
    pub stage: Stage,
    /// The provider, as the metrics name it (`model_provider`).
    pub provider: Option<String>,
    /// The model (`model_name`).
    pub model: Option<String>,
    /// Prompt tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_input_tokens: Option<i64>,
    /// Prompt tokens read from the cache (part of `llmInputTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_cached_input_tokens: Option<i64>,
    /// Completion tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_output_tokens: Option<i64>,
    /// Prompt tokens that were audio (part of `llmInputTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_input_tokens: Option<i64>,
    /// Completion tokens that were audio (part of `llmOutputTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_output_tokens: Option<i64>,
    /// How long a realtime model's session was open, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_session_ms: Option<i64>,
    /// Audio sent to speech-to-text, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stt_audio_ms: Option<i64>,
    /// Characters synthesised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts_characters: Option<i64>,
    /// Audio synthesised, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tts_audio_ms: Option<i64>,
}

impl ReportedUsage {
    /// No figures yet, for a stage, provider and model.
    pub fn new(stage: Stage, provider: Option<String>, model: Option<String>) -> Self {
        ReportedUsage {
            stage,
            provider,
            model,
            llm_input_tokens: None,
            llm_cached_input_tokens: None,
            llm_output_tokens: None,
            audio_input_tokens: None,
            audio_output_tokens: None,
            llm_session_ms: None,
            stt_audio_ms: None,
            tts_characters: None,
            tts_audio_ms: None,
        }
    }
}

/// What a call cost at list prices, by stage, provider and model, and by turn (CONVENTIONS.md
/// section 5). USD amounts are rounded to 1e-8.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallCost {
    /// Everything priced, USD.
    pub total_usd: f64,
    /// The price table's version (its date); `+config` when the configuration overrode prices.
    pub prices_version: String,
    /// By stage (`stt`, `llm`, `tts`, `s2s`), USD.
    pub stages: BTreeMap<Stage, f64>,
    /// By stage, provider and model: what was priced, how much, at what.
    pub models: Vec<CostLine>,
    /// By turn (usage reported for the whole call only, by metrics, is in no turn).
    pub turns: Vec<TurnCost>,
    /// What had no price: an unknown provider or model, a figure the table has no rate for, or
    /// a stage that ran without a usage figure. Never counted as $0.
    pub unpriced: Vec<Unpriced>,
    /// Some amount rests on an estimated figure (STT audio from the caller's speech).
    pub estimated: bool,
}

/// The cost of one stage, provider and model over the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostLine {
    /// The stage.
    pub stage: Stage,
    /// The provider, as the spans (or metrics) name it.
    pub provider: Option<String>,
    /// The model, as the spans (or metrics) name it.
    pub model: Option<String>,
    /// The price table entry it was priced at (`provider/model`).
    pub priced_as: String,
    /// USD.
    pub usd: f64,
    /// Prompt tokens priced (cached ones included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<i64>,
    /// Of which read from the cache.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_tokens: Option<i64>,
    /// Completion tokens priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<i64>,
    /// Audio prompt tokens priced (part of `inputTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_input_tokens: Option<i64>,
    /// Audio completion tokens priced (part of `outputTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_output_tokens: Option<i64>,
    /// STT audio priced, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_ms: Option<i64>,
    /// TTS characters priced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub characters: Option<i64>,
    /// Where the STT audio came from: `reported` (spans or metrics), or an estimate:
    /// `speech` (the caller's speech intervals) or `sttDuration` (the stt spans' wall time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_basis: Option<AudioBasis>,
}

/// Where a figure of STT audio came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AudioBasis {
    /// Reported by the spans or the agent's metrics.
    Reported,
    /// Estimated: the caller's speech, from the turns' speech intervals.
    Speech,
    /// Estimated: the wall time of the turn's stt spans.
    SttDuration,
}

/// The cost of one turn.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnCost {
    /// The turn's index.
    pub index: u32,
    /// USD.
    pub usd: f64,
    /// By stage, USD.
    pub stages: BTreeMap<Stage, f64>,
}

/// Something the call used that has no price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unpriced {
    /// The stage.
    pub stage: Stage,
    /// The provider, as named.
    pub provider: Option<String>,
    /// The model, as named.
    pub model: Option<String>,
    /// Why: `unknown_provider`, `unknown_model`, `no_rate` (the entry prices other figures),
    /// `no_usage` (the stage ran but no figure says how much).
    pub reason: String,
    /// The turns concerned (empty: usage reported for the whole call).
    pub turns: Vec<u32>,
}

/// One user→agent exchange (or the agent's greeting).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Turn {
    /// 0-based position in the call.
    pub index: u32,
    /// Who opened the turn: `agent` for a greeting (no user part), else `user`.
    pub speaker: Speaker,
    /// What the agent said.
    pub text: Option<String>,
    /// What the user said.
    pub user_text: Option<String>,
    /// Turn start, ms from the call's start.
    pub start_ms: i64,
    /// Turn end, ms from the call's start.
    pub end_ms: i64,
    /// End of user speech → final transcript; 0 when the turn has no STT (a greeting), null on
    /// a speech-to-speech turn.
    pub stt_ms: Option<i64>,
    /// LLM request → first token.
    pub llm_ms: Option<i64>,
    /// TTS request → first audio byte.
    pub tts_ms: Option<i64>,
    /// Voice-to-voice: end of user speech → first agent audio; null on a greeting.
    pub latency_ms: Option<i64>,
    /// End of user speech → turn committed; null when unknown.
    pub endpointing_ms: Option<i64>,
    /// Speech-to-speech: the realtime model's time to first audio; null on other turns.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub s2s_ms: Option<i64>,
    /// The caller started speaking, ms from the call's start (null when no span says).
    #[serde(default)]
    pub user_start_ms: Option<i64>,
    /// The caller's last word, ms from the call's start.
    #[serde(default)]
    pub user_end_ms: Option<i64>,
    /// The agent's first audio, ms from the call's start.
    #[serde(default)]
    pub agent_start_ms: Option<i64>,
    /// The end of the agent's audio (where it was cut off when interrupted).
    #[serde(default)]
    pub agent_end_ms: Option<i64>,
    /// The agent's speech, one segment per stretch of audio (several when it spoke, called a
    /// tool and spoke again), ms from the call's start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent_speech: Vec<SpeechSegment>,
    /// Total wall time of the turn's stt spans.
    pub stt_duration_ms: Option<i64>,
    /// Total wall time of the turn's llm spans.
    pub llm_duration_ms: Option<i64>,
    /// Total wall time of the turn's tts spans.
    pub tts_duration_ms: Option<i64>,
    /// Total wall time of the turn's tool spans.
    pub tool_ms: Option<i64>,
    /// The user barged in on the agent's reply (not when the call ended during it).
    pub interrupted: bool,
    /// The call ended during this turn (a hang-up, the agent's own goodbye): the framework
    /// marked it interrupted, but no caller spoke over the agent.
    #[serde(default)]
    pub ended_by_call: bool,
    /// Generations started and thrown away before the one the caller heard (LiveKit's
    /// preemptive generation); their figures and text are not the turn's.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub discarded_generations: u32,
    /// Interruption figures, when the `interruption` event was recorded.
    pub interruption: Option<Interruption>,
    /// Tool executions, in start order.
    pub tools: Vec<ToolExecution>,
    /// Where each figure came from (`sttMs`, `llmMs`, `ttsMs`, `latencyMs`, ...).
    pub timing_source: BTreeMap<String, TimingSource>,
    /// Provider and model per stage, as the spans name them.
    pub providers: BTreeMap<Stage, StageProvider>,
    /// Prompt tokens over the turn's llm spans.
    pub llm_input_tokens: Option<i64>,
    /// Completion tokens over the turn's llm spans.
    pub llm_output_tokens: Option<i64>,
    /// Prompt tokens read from the provider's cache (part of `llmInputTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_cached_input_tokens: Option<i64>,
    /// Completion tokens spent reasoning (part of `llmOutputTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub llm_reasoning_tokens: Option<i64>,
    /// Input tokens that were audio (speech-to-speech models; part of `llmInputTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_input_tokens: Option<i64>,
    /// Output tokens that were audio (part of `llmOutputTokens`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audio_output_tokens: Option<i64>,
    /// Characters synthesised over the turn's tts spans.
    pub tts_characters: Option<i64>,
    /// Audio transcribed over the turn's stt spans, ms, where the spans say (Pipecat's
    /// `metrics.audio_seconds`, `stt.audio_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stt_audio_ms: Option<i64>,
    /// Stages that failed in this turn.
    pub errors: Vec<StageError>,
    /// Where each stage span of the turn ran (what a timeline draws), in start order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stage_spans: Vec<StageExtent>,
}

/// Where one stage span ran, on the call's time axis.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageExtent {
    /// The stage.
    pub stage: Stage,
    /// Start, ms from the call's start.
    pub start_ms: i64,
    /// Wall time.
    pub duration_ms: i64,
}

/// One stretch of speech, ms from the call's start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SpeechSegment {
    /// Its first audio.
    pub start_ms: i64,
    /// Its end.
    pub end_ms: i64,
}

fn is_zero_u32(n: &u32) -> bool {
    *n == 0
}

/// Provider and model of a stage.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageProvider {
    /// `gen_ai.provider.name` (or `stt.provider`/`tts.provider`).
    pub provider: Option<String>,
    /// `gen_ai.request.model`.
    pub model: Option<String>,
}

/// A stage span with status ERROR.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageError {
    /// The failed stage.
    pub stage: Stage,
    /// The exception message, else the status message.
    pub message: String,
}

/// The `interruption` event's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Interruption {
    /// User starts speaking → interruption detected.
    pub detection_latency_ms: Option<i64>,
    /// Interruption detected → agent audio stopped, ms; where no detection is reported
    /// (figures derived from the speech intervals), from the caller's first sound instead: an upper
    /// bound that includes detection, marked `derived` in `timingSource`.
    pub stop_latency_ms: Option<i64>,
    /// Agent words heard after the user started speaking.
    pub bleed_through_words: Option<i64>,
}

/// One tool execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolExecution {
    /// The tool's name.
    pub name: String,
    /// Arguments, as sent.
    pub input: Option<String>,
    /// Result, as returned.
    pub output: Option<String>,
    /// Start, ms from the call's start.
    pub start_ms: i64,
    /// Wall time; null when no span timed it (a call read from a model's input messages).
    pub duration_ms: Option<i64>,
    /// The failure message when the tool span has status ERROR (or a failure flag), or the
    /// framework's failure message when that is the result the model was given (Pipecat).
    pub error: Option<String>,
}

/// Call-level figures (CONVENTIONS.md section 4).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallMetrics {
    /// Root span duration, else first start to last end.
    pub total_duration_ms: i64,
    /// Mean of the turns' `latencyMs`.
    pub avg_turn_latency_ms: Option<i64>,
    /// Median (nearest rank) of the turns' `latencyMs`.
    pub p50_turn_latency_ms: Option<i64>,
    /// 95th percentile (nearest rank) of the turns' `latencyMs`.
    pub p95_turn_latency_ms: Option<i64>,
    /// Number of turns.
    pub turns: u32,
    /// Number of tool spans in the call.
    pub tool_executions: u32,
    /// Number of turns marked interrupted.
    pub interruptions: u32,
    /// Prompt tokens over the call.
    pub llm_input_tokens: i64,
    /// Completion tokens over the call.
    pub llm_output_tokens: i64,
    /// Cached prompt tokens over the call (part of `llmInputTokens`; absent when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub llm_cached_input_tokens: i64,
    /// Reasoning tokens over the call (part of `llmOutputTokens`; absent when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub llm_reasoning_tokens: i64,
    /// Audio input tokens over the call (absent when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub audio_input_tokens: i64,
    /// Audio output tokens over the call (absent when 0).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub audio_output_tokens: i64,
    /// Characters synthesised over the call.
    pub tts_characters: i64,
    /// Stage failures: the sum of the turns' `errors`.
    pub errors: u32,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

/// A problem found by analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    /// `high_latency`, `stage_failed`, `slow_interruption_stop`, `incomplete_call`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The turn's index, when the issue belongs to one.
    pub turn: Option<u32>,
    /// The stage, when the issue belongs to one.
    pub stage: Option<Stage>,
    /// The measured value.
    pub value_ms: Option<i64>,
    /// The budget it broke.
    pub target_ms: Option<i64>,
    /// One line for a person.
    pub description: String,
    /// What to try.
    pub recommendation: String,
}

/// A custom event, an exception or an interruption.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallEvent {
    /// The event's name.
    pub name: String,
    /// ms from the call's start.
    pub at_ms: i64,
    /// The name of the span it was recorded on.
    pub span: String,
    /// The turn it happened in, if any.
    pub turn: Option<u32>,
    /// Its attributes.
    pub attributes: BTreeMap<String, serde_json::Value>,
}

/// A log line written during the call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogLine {
    /// ms from the call's start.
    pub at_ms: i64,
    /// `INFO`, `WARN`, ...
    pub level: String,
    /// The message.
    pub message: String,
    /// The turn it was written in, if any.
    pub turn: Option<u32>,
    /// Other fields of the line.
    pub fields: BTreeMap<String, serde_json::Value>,
}

/// Another call stored with the same call id (another trace): what the API names beside the
/// call it answers with, so that neither hides the other.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SameIdCall {
    /// Its trace id (`?traceId=` picks it).
    pub trace_id: String,
    /// When it started, RFC 3339 UTC.
    pub started_at: String,
}

/// Links from the call log to other tools.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Links {
    /// The call's trace in Jaeger, Tempo/Grafana, ... (from `--trace-url-template`).
    pub trace: Option<String>,
}

/// Fills `{trace_id}` (and `{call_id}`) in a trace URL template.
pub fn trace_link(template: &str, trace_id: &str, call_id: &str) -> String {
    template
        .replace("{trace_id}", trace_id)
        .replace("{call_id}", call_id)
}

/// What assembly hands to the store: everything a sink may want to hear about a call, in the
/// order it happened. `Started` and `TurnCompleted` are live events (for webhooks); `Finished`
/// carries a finished or revised call log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
// A turn is a few hundred bytes and each update is moved once through a channel: boxing it
// would cost an allocation per turn for nothing.
#[allow(clippy::large_enum_variant)]
pub enum CallUpdate {
    /// A call's first spans arrived.
    Started(CallStarted),
    /// A turn's span ended (its stages before it, as exporters send children first).
    TurnCompleted(TurnCompleted),
    /// A call log was finished (revision 1) or revised (revision > 1).
    Finished(Box<CallLog>),
}

impl CallUpdate {
    /// The call id the update belongs to.
    pub fn call_id(&self) -> &str {
        match self {
            CallUpdate::Started(s) => &s.call_id,
            CallUpdate::TurnCompleted(t) => &t.call_id,
            CallUpdate::Finished(log) => &log.id,
        }
    }

    /// The trace id of the call the update belongs to (with the call id, what names a call).
    pub fn trace_id(&self) -> &str {
        match self {
            CallUpdate::Started(s) => &s.trace_id,
            CallUpdate::TurnCompleted(t) => &t.trace_id,
            CallUpdate::Finished(log) => &log.trace_id,
        }
    }
}

/// A new call was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallStarted {
    /// The call id.
    pub call_id: String,
    /// The trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// The agent, when the first spans name it.
    pub agent_id: Option<String>,
    /// When the earliest span seen so far started, RFC 3339 UTC.
    pub started_at: String,
}

/// A turn of a call in flight completed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TurnCompleted {
    /// The call id.
    pub call_id: String,
    /// The trace id, 32 lowercase hex digits.
    pub trace_id: String,
    /// The agent, when known.
    pub agent_id: Option<String>,
    /// The turn as assembled so far.
    pub turn: Turn,
}

/// A query over stored call logs (the API's list parameters; the store answers it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CallQuery {
    /// Only calls of this agent.
    pub agent_id: Option<String>,
    /// Only calls with this status.
    pub status: Option<CallStatus>,
    /// Only calls that started at or after this time (Unix ms).
    pub since_ms: Option<i64>,
    /// Only calls that started before this time (Unix ms).
    pub until_ms: Option<i64>,
    /// Only calls of this deployment (`deployment.id`).
    pub deployment_id: Option<String>,
    /// Only calls with an issue of this type.
    pub issue_type: Option<String>,
    /// Only calls with (`true`) or without (`false`) an interrupted turn.
    pub interrupted: Option<bool>,
    /// Only calls with a turn whose voice-to-voice latency is at least this.
    pub min_latency_ms: Option<i64>,
    /// Only calls whose transcript holds every word of this text (word prefixes match).
    pub text: Option<String>,
    /// Page size (the API defaults to 20).
    pub limit: usize,
    /// Where the previous page ended (opaque, from [`CallPage::next_cursor`]).
    pub cursor: Option<String>,
}

/// One page of call logs, newest first (latest revision of each call).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CallPage {
    /// The calls of this page.
    pub calls: Vec<CallLog>,
    /// The cursor of the next page; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A call log with nothing in it but its ids and times (10 s from 2026-03-21T10:00:00Z), for
/// the unit tests of the stages that read call logs.
#[cfg(test)]
pub(crate) fn bare_call_log(id: &str) -> CallLog {
    CallLog {
        id: id.to_string(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_string(),
        revision: 1,
        dialect: Dialect::Voicetrace,
        agent_id: None,
        agent_name: None,
        service_name: None,
        status: CallStatus::Completed,
        end_reason: None,
        started_at: "2026-03-21T10:00:00.000Z".to_string(),
        ended_at: "2026-03-21T10:00:10.000Z".to_string(),
        direction: None,
        from: None,
        to: None,
        recording_url: None,
        metadata: BTreeMap::new(),
        turns: Vec::new(),
        metrics: CallMetrics {
            total_duration_ms: 10_000,
            ..CallMetrics::default()
        },
        issues: Vec::new(),
        events: Vec::new(),
        logs: Vec::new(),
        custom_metrics: BTreeMap::new(),
        links: Links::default(),
        span_count: 1,
        livekit: None,
        deployment: None,
        recording: None,
        redactions: Redactions::default(),
        reported_usage: Vec::new(),
        cost: None,
    }
}

#[cfg(test)]
mod tests {
    use super::Redactions;

    #[test]
    fn redactions_add_up_by_name_and_read_back_as_a_json_object() {
        let mut counts = Redactions::from([("phone_number", 1), ("credit_card", 2)]);
        counts.add("phone_number", 2);
        counts.add("my_rule", 1);
        assert_eq!(counts.get("phone_number"), Some(3));
        assert_eq!(counts.get("email"), None);
        let json = serde_json::to_string(&counts).unwrap();
        assert_eq!(json, r#"{"credit_card":2,"my_rule":1,"phone_number":3}"#);
        assert_eq!(serde_json::from_str::<Redactions>(&json).unwrap(), counts);
        assert!(serde_json::from_str::<Redactions>("{}").unwrap().is_empty());
    }
}
