//! Span and attribute names: the contract between the agent side and the receiver.
//!
//! Every name here comes from `CONVENTIONS.md` (sections 1 and 3). The instrumentation emits only
//! these names and the receiver reads only these names, so a rename happens in one place. The
//! names were chosen so that one span stream renders natively in Cekura's and Coval's trace views
//! (`conversation`/`turn`/`stt`/`llm`/`tts`/`tool_call`), in Pipecat-aware tools (same names,
//! `metrics.ttfb` in seconds) and in GenAI-aware backends (`gen_ai.*`).
//!
//! Units: every duration attribute is a double in **seconds** (OpenTelemetry's convention);
//! the receiver turns them into integer milliseconds.

// ---------------------------------------------------------------------------------------------
// Span names (voicetrace, Cekura and Pipecat share them)
// ---------------------------------------------------------------------------------------------

/// Root span of a call: the whole conversation.
pub const SPAN_CONVERSATION: &str = "conversation";
/// One user→agent exchange; turn 0 may be the agent's greeting.
pub const SPAN_TURN: &str = "turn";
/// Speech-to-text for the user's utterance.
pub const SPAN_STT: &str = "stt";
/// One language-model request (several per turn when tools cause re-inference).
pub const SPAN_LLM: &str = "llm";
/// Text-to-speech for the agent's reply.
pub const SPAN_TTS: &str = "tts";
/// One tool / function execution.
pub const SPAN_TOOL_CALL: &str = "tool_call";
/// A speech-to-speech model exchange (instead of stt/llm/tts).
pub const SPAN_S2S: &str = "s2s";

// ---------------------------------------------------------------------------------------------
// Resource attributes (OpenTelemetry's semantic conventions): the process that sent the spans
// ---------------------------------------------------------------------------------------------

/// The sending service's name.
pub const SERVICE_NAME: &str = "service.name";
/// The sending service's version (a release, a git sha): the deployment's version.
pub const SERVICE_VERSION: &str = "service.version";
/// The deployment's id (not yet in OpenTelemetry's conventions; the name voice platforms use
/// for one rollout of an agent).
pub const DEPLOYMENT_ID: &str = "deployment.id";
/// The deployment's environment (`production`, `staging`), as OpenTelemetry names it since
/// semantic conventions 1.27.
pub const DEPLOYMENT_ENVIRONMENT_NAME: &str = "deployment.environment.name";
/// The same, as named before 1.27 (still what most SDKs and collectors send).
pub const DEPLOYMENT_ENVIRONMENT: &str = "deployment.environment";

// ---------------------------------------------------------------------------------------------
// Attributes on every span, and on the `conversation` root
// ---------------------------------------------------------------------------------------------

/// The call id; set on every span of a call.
pub const CONVERSATION_ID: &str = "conversation.id";
/// Kind of conversation; always [`CONVERSATION_TYPE_VOICE`] for voicetrace.
pub const CONVERSATION_TYPE: &str = "conversation.type";
/// The value of [`CONVERSATION_TYPE`] for a voice call.
pub const CONVERSATION_TYPE_VOICE: &str = "voice";
/// GenAI semconv's conversation id (= the call id).
pub const GEN_AI_CONVERSATION_ID: &str = "gen_ai.conversation.id";
/// The agent's id.
pub const GEN_AI_AGENT_ID: &str = "gen_ai.agent.id";
/// The agent's human-readable name.
pub const GEN_AI_AGENT_NAME: &str = "gen_ai.agent.name";
/// `inbound` or `outbound`.
pub const CALL_DIRECTION: &str = "call.direction";
/// Caller number / address.
pub const CALL_FROM: &str = "call.from";
/// Callee number / address.
pub const CALL_TO: &str = "call.to";
/// Why the call ended: `client_hangup`, `agent_hangup`, `inactivity`, `error`, ...
pub const CALL_END_REASON: &str = "call.end_reason";
/// The end reason that marks a call as failed.
pub const END_REASON_ERROR: &str = "error";
/// Where the call's recording can be fetched.
pub const CALL_RECORDING_URL: &str = "call.recording_url";
/// Prefix of user metadata attributes: `call.metadata.<key>`.
pub const CALL_METADATA_PREFIX: &str = "call.metadata.";

// ---------------------------------------------------------------------------------------------
// `turn`
// ---------------------------------------------------------------------------------------------

/// 0-based turn index (int).
pub const TURN_INDEX: &str = "turn.index";
/// What the user said in this turn.
pub const TURN_USER_TEXT: &str = "turn.user.text";
/// What the agent said in this turn.
pub const TURN_AGENT_TEXT: &str = "turn.agent.text";
/// The user barged in on the agent's reply (bool).
pub const TURN_WAS_INTERRUPTED: &str = "turn.was_interrupted";
/// Voice-to-voice latency: end of user speech → first agent audio (double, seconds).
pub const TURN_USER_BOT_LATENCY_SECONDS: &str = "turn.user_bot_latency_seconds";

// ---------------------------------------------------------------------------------------------
// Stage spans (`stt`, `llm`, `tts`, `tool_call`, `s2s`)
// ---------------------------------------------------------------------------------------------

/// GenAI operation: [`OP_STT`], [`OP_CHAT`], [`OP_TTS`], [`OP_EXECUTE_TOOL`], [`OP_S2S`].
pub const GEN_AI_OPERATION_NAME: &str = "gen_ai.operation.name";
/// Operation value of an stt span.
pub const OP_STT: &str = "stt";
/// Operation value of an llm span.
pub const OP_CHAT: &str = "chat";
/// Operation value of a tts span.
pub const OP_TTS: &str = "tts";
/// Operation value of a tool span.
pub const OP_EXECUTE_TOOL: &str = "execute_tool";
/// Operation value of an s2s span.
pub const OP_S2S: &str = "s2s";
/// The model provider (`openai`, `deepgram`, `cartesia`, ...).
pub const GEN_AI_PROVIDER_NAME: &str = "gen_ai.provider.name";
/// The model requested.
pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
/// The model that answered.
pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
/// Prompt tokens (int).
pub const GEN_AI_USAGE_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
/// Completion tokens (int).
pub const GEN_AI_USAGE_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
/// Why generation stopped (string array).
pub const GEN_AI_RESPONSE_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
/// LLM request → first chunk (double, seconds).
pub const GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: &str = "gen_ai.response.time_to_first_chunk";
/// Time to first byte/token of the stage (double, seconds). For stt: end of user speech →
/// final transcript; for llm: request → first token; for tts: request → first audio byte.
pub const METRICS_TTFB: &str = "metrics.ttfb";

/// STT provider.
pub const STT_PROVIDER: &str = "stt.provider";
/// The final transcript.
pub const STT_TRANSCRIPT: &str = "stt.transcript";
/// Transcript confidence (double 0..1).
pub const STT_CONFIDENCE: &str = "stt.confidence";
/// Whether the transcript is final (bool).
pub const STT_IS_FINAL: &str = "stt.is_final";
/// Spoken language (BCP 47).
pub const LANGUAGE: &str = "language";

/// The tool's name (GenAI semconv).
pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";
/// The function's name (Cekura's trace view).
pub const FUNCTION_NAME: &str = "function.name";
/// The function's arguments, as a string.
pub const FUNCTION_INPUT: &str = "function.input";
/// The function's result, as a string.
pub const FUNCTION_OUTPUT: &str = "function.output";

/// TTS provider.
pub const TTS_PROVIDER: &str = "tts.provider";
/// TTS voice id.
pub const TTS_VOICE: &str = "tts.voice";
/// Characters synthesised (int).
pub const TTS_CHARACTERS: &str = "tts.characters";
/// The text spoken by a tts span.
pub const TEXT: &str = "text";
/// The tts output was cut off by a barge-in (bool).
pub const TTS_INTERRUPTED: &str = "tts.interrupted";

// ---------------------------------------------------------------------------------------------
// Span events
// ---------------------------------------------------------------------------------------------

/// Level of a custom log event (`info`, `warn`, ...).
pub const LOG_LEVEL: &str = "log.level";
/// Message of a custom log event.
pub const LOG_MESSAGE: &str = "log.message";
/// Prefix of a custom log event's metadata: `metadata.<key>`.
pub const METADATA_PREFIX: &str = "metadata.";
/// Name of a custom-metric event (Cartesia's `LogMetric`).
pub const EVENT_LOG_METRIC: &str = "log_metric";
/// The metric's name.
pub const METRIC_NAME: &str = "metric.name";
/// The metric's value (string or number).
pub const METRIC_VALUE: &str = "metric.value";
/// Name of the barge-in event.
pub const EVENT_INTERRUPTION: &str = "interruption";
/// User starts speaking → interruption detected (double, seconds).
pub const INTERRUPTION_DETECTION_LATENCY_SECONDS: &str = "interruption.detection_latency_seconds";
/// Interruption detected → agent audio stopped (double, seconds).
pub const INTERRUPTION_STOP_LATENCY_SECONDS: &str = "interruption.stop_latency_seconds";
/// Agent words heard after the user started speaking (int).
pub const INTERRUPTION_BLEED_THROUGH_WORDS: &str = "interruption.bleed_through_words";
/// OpenTelemetry's exception event name.
pub const EVENT_EXCEPTION: &str = "exception";
/// OpenTelemetry's exception type attribute.
pub const EXCEPTION_TYPE: &str = "exception.type";
/// OpenTelemetry's exception message attribute.
pub const EXCEPTION_MESSAGE: &str = "exception.message";

/// Level of a `tracing` log line that `tracing-opentelemetry` records as a span event.
pub const TRACING_LEVEL: &str = "level";
/// Target (module path) of such a log line.
pub const TRACING_TARGET: &str = "target";

// ---------------------------------------------------------------------------------------------
// Other dialects the receiver understands (CONVENTIONS.md section 3)
// ---------------------------------------------------------------------------------------------

/// Names used by Pipecat where they differ from ours.
pub mod pipecat {
    /// 1-based turn number on `turn` spans.
    pub const TURN_NUMBER: &str = "turn.number";
    /// Pipecat's tool span.
    pub const SPAN_LLM_TOOL_CALL: &str = "llm_tool_call";
    /// Transcript on Pipecat's `stt` span.
    pub const TRANSCRIPT: &str = "transcript";
    /// Model output on Pipecat's `llm` span.
    pub const OUTPUT: &str = "output";
    /// Function name on Pipecat's tool span.
    pub const TOOL_FUNCTION_NAME: &str = "tool.function_name";
    /// Characters synthesised on Pipecat's `tts` span.
    pub const CHARACTER_COUNT: &str = "metrics.character_count";
}

/// Names used by LiveKit Agents.
pub mod livekit {
    /// Root of a job (present when the worker runs inside a LiveKit job).
    pub const SPAN_JOB_ENTRYPOINT: &str = "job_entrypoint";
    /// Root of a session (the root when there is no job).
    pub const SPAN_AGENT_SESSION: &str = "agent_session";
    /// The answering exchange: one call-log turn.
    pub const SPAN_AGENT_TURN: &str = "agent_turn";
    /// The user's side of an exchange, joined to the next `agent_turn`.
    pub const SPAN_USER_TURN: &str = "user_turn";
    /// LLM stage.
    pub const SPAN_LLM_NODE: &str = "llm_node";
    /// TTS stage.
    pub const SPAN_TTS_NODE: &str = "tts_node";
    /// Tool execution.
    pub const SPAN_FUNCTION_TOOL: &str = "function_tool";
    /// Room id (a call id when no conversation id is set).
    pub const ROOM_ID: &str = "room_id";
    /// Room SID (a call id when no conversation id is set).
    pub const ROOM_SID: &str = "lk.room_sid";
    /// End of user speech → final transcript (double, seconds).
    pub const TRANSCRIPTION_DELAY: &str = "lk.transcription_delay";
    /// LLM time to first token (double, seconds) on `llm_node`.
    pub const RESPONSE_TTFT: &str = "lk.response.ttft";
    /// TTS time to first byte (double, seconds) on `tts_node`.
    pub const RESPONSE_TTFB: &str = "lk.response.ttfb";
    /// Voice-to-voice latency (double, seconds) on `agent_turn`.
    pub const E2E_LATENCY: &str = "lk.e2e_latency";
    /// End of user speech → turn committed (double, seconds).
    pub const END_OF_TURN_DELAY: &str = "lk.end_of_turn_delay";
    /// The agent's reply was interrupted (bool).
    pub const INTERRUPTED: &str = "lk.interrupted";
    /// User input on `agent_turn`.
    pub const PII_USER_INPUT: &str = "lk.pii.user_input";
    /// User transcript on `user_turn`.
    pub const PII_USER_TRANSCRIPT: &str = "lk.pii.user_transcript";
    /// Agent reply text.
    pub const PII_RESPONSE_TEXT: &str = "lk.pii.response.text";
    /// Tool name on `function_tool`.
    pub const FUNCTION_TOOL_NAME: &str = "lk.function_tool.name";
    /// Tool arguments on `function_tool`.
    pub const PII_FUNCTION_TOOL_ARGUMENTS: &str = "lk.pii.function_tool.arguments";
    /// Tool output on `function_tool`.
    pub const PII_FUNCTION_TOOL_OUTPUT: &str = "lk.pii.function_tool.output";
    /// The tool failed (bool).
    pub const FUNCTION_TOOL_IS_ERROR: &str = "lk.function_tool.is_error";
    /// Why the session closed (on `session_close`): the call's end reason.
    pub const CLOSE_REASON: &str = "lk.close_reason";
}

/// Names of the OpenTelemetry GenAI semantic conventions used by generic agents.
pub mod genai {
    /// Session id (a call id when no conversation id is set).
    pub const SESSION_ID: &str = "session.id";
    /// Input messages (JSON), the last user message is the user text.
    pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// Output messages (JSON), the agent text.
    pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// Tool call arguments.
    pub const TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
    /// Tool call result.
    pub const TOOL_CALL_RESULT: &str = "gen_ai.tool.call.result";
    /// Operation values that mean stt.
    pub const OPS_STT: &[&str] = &["stt", "speech_to_text"];
    /// Operation values that mean llm.
    pub const OPS_LLM: &[&str] = &["chat", "text_completion", "generate_content"];
    /// Operation values that mean tts.
    pub const OPS_TTS: &[&str] = &["tts", "text_to_speech"];
    /// Operation values that mean a tool execution.
    pub const OPS_TOOL: &[&str] = &["execute_tool"];
}

// ---------------------------------------------------------------------------------------------
// Aliases: the keys that give one value, in order of preference (the first that holds a value
// wins). Assembly reads every figure, text and count through these tables, and its dialect rules
// pick which table applies to which span, so a renamed or newly supported key is one line here.
// ---------------------------------------------------------------------------------------------

/// Key tables, each in order of preference, across the dialects above.
pub mod alias {
    use super::{genai, livekit, pipecat};

    /// The call id, on the root then on any span.
    pub const CALL_ID: &[&str] = &[
        super::CONVERSATION_ID,
        super::GEN_AI_CONVERSATION_ID,
        livekit::ROOM_ID,
        livekit::ROOM_SID,
        genai::SESSION_ID,
    ];
    /// The agent's id.
    pub const AGENT_ID: &[&str] = &[super::GEN_AI_AGENT_ID];
    /// The agent's name.
    pub const AGENT_NAME: &[&str] = &[super::GEN_AI_AGENT_NAME];
    /// The deployment's environment, on the resource.
    pub const DEPLOYMENT_ENVIRONMENT: &[&str] = &[
        super::DEPLOYMENT_ENVIRONMENT_NAME,
        super::DEPLOYMENT_ENVIRONMENT,
    ];
    /// Why the call ended.
    pub const END_REASON: &[&str] = &[super::CALL_END_REASON, livekit::CLOSE_REASON];

    /// Time to first byte on an stt (or s2s) span, seconds.
    pub const STT_TTFB: &[&str] = &[super::METRICS_TTFB, livekit::TRANSCRIPTION_DELAY];
    /// Time to first token on an llm span, seconds.
    pub const LLM_TTFT: &[&str] = &[
        super::METRICS_TTFB,
        super::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
        livekit::RESPONSE_TTFT,
    ];
    /// Time to first byte on a tts span, seconds.
    pub const TTS_TTFB: &[&str] = &[super::METRICS_TTFB, livekit::RESPONSE_TTFB];
    /// End of user speech → final transcript on a turn span (no stt span), seconds.
    pub const TRANSCRIPTION_DELAY: &[&str] = &[livekit::TRANSCRIPTION_DELAY];
    /// Measured voice-to-voice latency on a turn span, seconds.
    pub const VOICE_TO_VOICE: &[&str] =
        &[super::TURN_USER_BOT_LATENCY_SECONDS, livekit::E2E_LATENCY];
    /// End of user speech → turn committed, seconds.
    pub const END_OF_TURN_DELAY: &[&str] = &[livekit::END_OF_TURN_DELAY];

    /// The user's text on a `turn` span (its presence says the user spoke).
    pub const TURN_USER_TEXT: &[&str] = &[super::TURN_USER_TEXT];
    /// The user's text on LiveKit's `agent_turn`.
    pub const AGENT_TURN_USER_TEXT: &[&str] = &[livekit::PII_USER_INPUT];
    /// The user's text on LiveKit's `user_turn`.
    pub const USER_TURN_TEXT: &[&str] = &[livekit::PII_USER_TRANSCRIPT];
    /// The transcript on an stt span.
    pub const STT_TRANSCRIPT: &[&str] = &[super::STT_TRANSCRIPT, pipecat::TRANSCRIPT];
    /// The user's transcript on an s2s span.
    pub const S2S_TRANSCRIPT: &[&str] = &[super::STT_TRANSCRIPT];
    /// The agent's text on a turn span.
    pub const TURN_AGENT_TEXT: &[&str] = &[super::TURN_AGENT_TEXT, livekit::PII_RESPONSE_TEXT];
    /// The text a tts span spoke.
    pub const TTS_TEXT: &[&str] = &[super::TEXT];
    /// The text an llm span produced.
    pub const LLM_OUTPUT: &[&str] = &[pipecat::OUTPUT, livekit::PII_RESPONSE_TEXT];
    /// The agent's reply was interrupted (bool, on a turn span).
    pub const INTERRUPTED: &[&str] = &[super::TURN_WAS_INTERRUPTED, livekit::INTERRUPTED];

    /// The provider of an stt span.
    pub const STT_PROVIDER: &[&str] = &[super::GEN_AI_PROVIDER_NAME, super::STT_PROVIDER];
    /// The provider of an llm or s2s span.
    pub const MODEL_PROVIDER: &[&str] = &[super::GEN_AI_PROVIDER_NAME];
    /// The provider of a tts span.
    pub const TTS_PROVIDER: &[&str] = &[super::GEN_AI_PROVIDER_NAME, super::TTS_PROVIDER];
    /// The model of a stage span.
    pub const MODEL: &[&str] = &[super::GEN_AI_REQUEST_MODEL];

    /// Prompt tokens (summed over a turn's model spans and their descendants).
    pub const INPUT_TOKENS: &[&str] = &[super::GEN_AI_USAGE_INPUT_TOKENS];
    /// Completion tokens (likewise).
    pub const OUTPUT_TOKENS: &[&str] = &[super::GEN_AI_USAGE_OUTPUT_TOKENS];
    /// Characters synthesised (summed over a turn's tts spans and their descendants).
    pub const TTS_CHARACTERS: &[&str] = &[super::TTS_CHARACTERS, pipecat::CHARACTER_COUNT];

    /// A tool's name.
    pub const TOOL_NAME: &[&str] = &[
        super::FUNCTION_NAME,
        livekit::FUNCTION_TOOL_NAME,
        pipecat::TOOL_FUNCTION_NAME,
        super::GEN_AI_TOOL_NAME,
    ];
    /// A tool's arguments.
    pub const TOOL_INPUT: &[&str] = &[
        super::FUNCTION_INPUT,
        livekit::PII_FUNCTION_TOOL_ARGUMENTS,
        genai::TOOL_CALL_ARGUMENTS,
    ];
    /// A tool's result.
    pub const TOOL_OUTPUT: &[&str] = &[
        super::FUNCTION_OUTPUT,
        livekit::PII_FUNCTION_TOOL_OUTPUT,
        genai::TOOL_CALL_RESULT,
    ];
    /// A span failed without an ERROR status (bool `true`).
    pub const FAILED: &[&str] = &[livekit::FUNCTION_TOOL_IS_ERROR];

    /// User starts speaking → interruption detected, on the interruption event, seconds.
    pub const INTERRUPTION_DETECTION: &[&str] = &[super::INTERRUPTION_DETECTION_LATENCY_SECONDS];
    /// Interruption detected → agent audio stopped, seconds.
    pub const INTERRUPTION_STOP: &[&str] = &[super::INTERRUPTION_STOP_LATENCY_SECONDS];
    /// Agent words heard after the user started speaking (int).
    pub const INTERRUPTION_BLEED_THROUGH: &[&str] = &[super::INTERRUPTION_BLEED_THROUGH_WORDS];
}
