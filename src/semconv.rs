//! Span and attribute names: the contract between the agent side and the receiver.
//!
//! Every name here comes from `CONVENTIONS.md` (sections 1 and 3). The instrumentation emits only
//! these names and the receiver reads only these names, so a rename happens in one place. The
//! names were chosen so that one span stream renders natively in Cekura's and Coval's trace views
//! (`conversation`/`turn`/`stt`/`llm`/`tts`/`tool_call`), in Pipecat-aware tools (same names,
//! `metrics.ttfb` in seconds), in GenAI-aware backends (`gen_ai.*`) and in OpenInference ones
//! such as Phoenix (`openinference.*`, `input.value`, `output.value`, `session.id`).
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
/// Prompt tokens read from the provider's cache (int; part of the input tokens).
pub const GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
/// Completion tokens spent on reasoning (int; part of the output tokens).
pub const GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: &str = "gen_ai.usage.reasoning.output_tokens";
/// Input tokens that were audio (int; speech-to-speech models).
pub const GEN_AI_USAGE_AUDIO_INPUT_TOKENS: &str = "gen_ai.usage.audio.input_tokens";
/// Output tokens that were audio (int).
pub const GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS: &str = "gen_ai.usage.audio.output_tokens";
/// Earlier spellings of the usage details, still sent by agents in the field (LiveKit 1.x,
/// older GenAI conventions).
pub mod usage_legacy {
    /// Cached prompt tokens (LiveKit's `llm_request`).
    pub const INPUT_CACHED_TOKENS: &str = "gen_ai.usage.input_cached_tokens";
    /// Reasoning tokens (GenAI conventions before 1.37).
    pub const REASONING_TOKENS: &str = "gen_ai.usage.reasoning_tokens";
    /// Audio input tokens (LiveKit).
    pub const INPUT_AUDIO_TOKENS: &str = "gen_ai.usage.input_audio_tokens";
    /// Audio output tokens (LiveKit).
    pub const OUTPUT_AUDIO_TOKENS: &str = "gen_ai.usage.output_audio_tokens";
}
/// The model's answer as text, whatever the content-capture setting (the call log's agent text
/// when a turn records none; `gen_ai.output.messages` carries it only when capture is on).
pub const LLM_RESPONSE_TEXT: &str = "llm.response.text";
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
/// Seconds of audio the stt span transcribed (double): what STT is billed by.
pub const STT_AUDIO_SECONDS: &str = "stt.audio_seconds";
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

/// Event on a `turn`: the caller started speaking (at the event's time).
pub const EVENT_USER_STARTED_SPEAKING: &str = "user_started_speaking";
/// Event on a `turn`: the caller's last word.
pub const EVENT_USER_STOPPED_SPEAKING: &str = "user_stopped_speaking";
/// Event on a `turn`: the agent's first audio (of a stretch of speech).
pub const EVENT_AGENT_STARTED_SPEAKING: &str = "agent_started_speaking";
/// Event on a `turn`: the agent's audio stopped (finished, or cut off).
pub const EVENT_AGENT_STOPPED_SPEAKING: &str = "agent_stopped_speaking";

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
/// Interruption detected → agent audio stopped (double, seconds): from the detection, which
/// `interruption.detection_latency_seconds` measures from the caller's first sound.
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
    /// Seconds of audio an stt span transcribed (double; Pipecat's `STTUsage`).
    pub const AUDIO_SECONDS: &str = "metrics.audio_seconds";
    /// The messages sent on Pipecat's `llm` span (JSON, the provider's format: OpenAI's
    /// `[{"role", "content", "tool_calls"}, {"role": "tool", "tool_call_id", "content"}]`).
    pub const INPUT: &str = "input";
    /// A realtime (speech-to-speech) model's answer: OpenAI Realtime's and Gemini Live's span.
    pub const SPAN_LLM_RESPONSE: &str = "llm_response";
    /// Set with `turn.was_interrupted` when the conversation ended with the turn still open.
    pub const TURN_ENDED_BY_CONVERSATION_END: &str = "turn.ended_by_conversation_end";
    /// The results Pipecat hands the model in place of a function call's own, as (text before,
    /// text after) the function's name: its `FUNCTION_CALL_ERROR_MESSAGE_TEMPLATE` (the
    /// registered handler raised) and `MISSING_FUNCTION_CALL_MESSAGE_TEMPLATE` (no handler is
    /// registered). Pipecat 1.14 records such a failure nowhere else in the trace.
    pub const FAILED_FUNCTION_RESULTS: &[(&str, &str)] = &[
        ("The function `", "` failed and returned no result."),
        ("The function `", "` is not currently available."),
    ];
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
    /// The job's id: a resource attribute and a span attribute of LiveKit's cloud tracer (one job
    /// is one session, so the most specific name of a call its metrics carry).
    pub const JOB_ID: &str = "job_id";
    /// The job's id on `job_entrypoint` and `agent_session`.
    pub const LK_JOB_ID: &str = "lk.job_id";

    /// LiveKit's usage counters (`telemetry/otel_metrics.py`), exported as OTLP metrics with
    /// `model_provider` / `model_name` attributes under a resource naming the room and the job.
    /// LiveKit's cloud exporter asks for delta temporality; a plain SDK exporter sends
    /// cumulative sums: the receiver folds both.
    pub mod usage {
        /// Prompt tokens (int).
        pub const LLM_INPUT_TOKENS: &str = "lk.agents.usage.llm_input_tokens";
        /// Prompt tokens read from the cache (int; part of the prompt tokens).
        pub const LLM_INPUT_CACHED_TOKENS: &str = "lk.agents.usage.llm_input_cached_tokens";
        /// Completion tokens (int).
        pub const LLM_OUTPUT_TOKENS: &str = "lk.agents.usage.llm_output_tokens";
        /// Prompt tokens that were audio (realtime models; part of the prompt tokens).
        pub const LLM_INPUT_AUDIO_TOKENS: &str = "lk.agents.usage.llm_input_audio_tokens";
        /// Completion tokens that were audio (realtime models).
        pub const LLM_OUTPUT_AUDIO_TOKENS: &str = "lk.agents.usage.llm_output_audio_tokens";
        /// Seconds a realtime model's session was open (double).
        pub const LLM_SESSION_DURATION: &str = "lk.agents.usage.llm_session_duration";
        /// Characters synthesised (int).
        pub const TTS_CHARACTERS: &str = "lk.agents.usage.tts_characters";
        /// Seconds of audio synthesised (double).
        pub const TTS_AUDIO_DURATION: &str = "lk.agents.usage.tts_audio_duration";
        /// Seconds of audio sent to speech-to-text (double).
        pub const STT_AUDIO_DURATION: &str = "lk.agents.usage.stt_audio_duration";
        /// The provider a point is about.
        pub const MODEL_PROVIDER: &str = "model_provider";
        /// The model a point is about.
        pub const MODEL_NAME: &str = "model_name";
    }
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
    /// The text a `tts_node` / `tts_request` synthesised (LiveKit 1.x).
    pub const PII_INPUT_TEXT: &str = "lk.pii.input_text";
    /// Tool name on `function_tool`.
    pub const FUNCTION_TOOL_NAME: &str = "lk.function_tool.name";
    /// Tool call id on `function_tool`.
    pub const FUNCTION_TOOL_ID: &str = "lk.function_tool.id";
    /// Tool arguments on `function_tool`.
    pub const PII_FUNCTION_TOOL_ARGUMENTS: &str = "lk.pii.function_tool.arguments";
    /// Tool output on `function_tool`.
    pub const PII_FUNCTION_TOOL_OUTPUT: &str = "lk.pii.function_tool.output";
    /// The tool failed (bool).
    pub const FUNCTION_TOOL_IS_ERROR: &str = "lk.function_tool.is_error";
    /// Why the session closed (on `session_close`): the call's end reason.
    pub const CLOSE_REASON: &str = "lk.close_reason";
    /// A realtime (speech-to-speech) model's generation, under `agent_turn`.
    pub const SPAN_REALTIME_INFERENCE: &str = "realtime_inference";
    /// The caller's speech itself (VAD start to end), wherever the current span was.
    pub const SPAN_USER_SPEAKING: &str = "user_speaking";
    /// The agent's audio playing, under `agent_turn` (ends where it was cut off).
    pub const SPAN_AGENT_SPEAKING: &str = "agent_speaking";
    /// Event on `agent_turn`: a preemptive generation was thrown away for a newer one.
    pub const EVENT_PREEMPTIVE_GENERATION_DISCARDED: &str = "preemptive_generation_discarded";
    /// Seconds of the reply's audio that played before it was interrupted.
    pub const PLAYOUT_POSITION: &str = "lk.playout.position";
    /// What interrupted the speech (`audio_activity`, `user_turn`, `programmatic`).
    pub const INTERRUPTION_SOURCE: &str = "lk.interruption.source";
    /// Adaptive interruption: seconds from the caller's speech to the decision.
    pub const INTERRUPTION_DETECTION_DELAY: &str = "lk.interruption.detection_delay";
}

/// Names of the OpenTelemetry GenAI semantic conventions used by generic agents. The crate
/// emits `session.id` on every span, and the message attributes only when content capture is
/// on (CONVENTIONS.md section 1).
pub mod genai {
    /// Session id (a call id when no conversation id is set); the crate sets it to the call id
    /// on every span (OpenInference and Langfuse group traces into sessions by it).
    pub const SESSION_ID: &str = "session.id";
    /// Input messages (JSON: `[{"role", "parts": [{"type": "text", "content"}]}]`), the last
    /// user message is the user text.
    pub const INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// Output messages (JSON: `[{"role": "assistant", "parts": [...], "finish_reason"}]`), the
    /// agent text.
    pub const OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// The system prompt (JSON: `[{"type": "text", "content"}]`).
    pub const SYSTEM_INSTRUCTIONS: &str = "gen_ai.system_instructions";
    /// The environment variable that turns content capture on (`true`); off by default.
    pub const CAPTURE_MESSAGE_CONTENT_ENV: &str =
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT";
    /// Tool call arguments.
    pub const TOOL_CALL_ARGUMENTS: &str = "gen_ai.tool.call.arguments";
    /// Tool call id.
    pub const TOOL_CALL_ID: &str = "gen_ai.tool.call.id";
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
    /// Operation values that mean a speech-to-speech (realtime) model exchange, whatever the
    /// output.
    pub const OPS_S2S: &[&str] = &["realtime_inference", "s2s"];
    /// What a model produced: `text`, `json`, `image`, [`OUTPUT_TYPE_SPEECH`].
    pub const OUTPUT_TYPE: &str = "gen_ai.output.type";
    /// A model that answered with audio: a `generate_content` of this output type is a
    /// speech-to-speech exchange.
    pub const OUTPUT_TYPE_SPEECH: &str = "speech";
    /// The realtime session a speech-to-speech span belongs to.
    pub const REALTIME_SESSION_ID: &str = "gen_ai.realtime_session.id";
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
    /// What names the call a metric point is about, on its resource or its own attributes,
    /// most specific first (a job is one session; a room may host several).
    pub const METRIC_CALL_NAMES: &[&str] = &[
        livekit::JOB_ID,
        livekit::LK_JOB_ID,
        super::CONVERSATION_ID,
        super::GEN_AI_CONVERSATION_ID,
        genai::SESSION_ID,
        livekit::ROOM_ID,
        livekit::ROOM_SID,
    ];
    /// Resource attributes that name a call, copied onto the resource's spans that lack them
    /// (LiveKit's cloud tracer puts the room and the job on the resource).
    pub const RESOURCE_CALL_NAMES: &[&str] = &[livekit::ROOM_ID, livekit::JOB_ID];
    /// The agent's id.
    pub const AGENT_ID: &[&str] = &[super::GEN_AI_AGENT_ID];
    /// The LiveKit room a call ran in (its SID).
    pub const LIVEKIT_ROOM: &[&str] = &[livekit::ROOM_ID, livekit::ROOM_SID];
    /// The LiveKit job a call ran in.
    pub const LIVEKIT_JOB: &[&str] = &[livekit::JOB_ID, livekit::LK_JOB_ID];
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
    /// A speech-to-speech model's time to first audio, seconds.
    pub const S2S_TTFB: &[&str] = &[
        super::METRICS_TTFB,
        super::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    ];
    /// End of user speech → final transcript on a turn span (no stt span), seconds.
    pub const TRANSCRIPTION_DELAY: &[&str] = &[livekit::TRANSCRIPTION_DELAY];
    /// Measured voice-to-voice latency on a turn span, seconds.
    pub const VOICE_TO_VOICE: &[&str] =
        &[super::TURN_USER_BOT_LATENCY_SECONDS, livekit::E2E_LATENCY];
    /// End of user speech → turn committed, seconds.
    pub const END_OF_TURN_DELAY: &[&str] = &[livekit::END_OF_TURN_DELAY];

    /// The user's text on a `turn` span.
    pub const TURN_USER_TEXT: &[&str] = &[super::TURN_USER_TEXT];
    /// Keys on a turn span whose presence says the user spoke: their words, or a measured wait
    /// from the end of their speech.
    pub const USER_SPOKE: &[&str] = &[super::TURN_USER_TEXT, super::TURN_USER_BOT_LATENCY_SECONDS];
    /// The turn ended with the conversation (bool, on a turn span): not a barge-in.
    pub const ENDED_BY_CALL: &[&str] = &[pipecat::TURN_ENDED_BY_CONVERSATION_END];
    /// The messages sent to a model (JSON), where function calls and their results show.
    pub const LLM_INPUT_MESSAGES: &[&str] = &[pipecat::INPUT, genai::INPUT_MESSAGES];
    /// A tool call's id on a tool span.
    pub const TOOL_CALL_ID: &[&str] = &[genai::TOOL_CALL_ID, livekit::FUNCTION_TOOL_ID];
    /// Seconds of the agent's audio that played before an interruption.
    pub const PLAYOUT_POSITION: &[&str] = &[livekit::PLAYOUT_POSITION];
    /// Seconds from the caller's speech to the interruption decision, on the turn span.
    pub const INTERRUPTION_DECISION: &[&str] = &[livekit::INTERRUPTION_DETECTION_DELAY];
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
    pub const TTS_TEXT: &[&str] = &[super::TEXT, livekit::PII_INPUT_TEXT];
    /// The text an llm span produced.
    pub const LLM_OUTPUT: &[&str] = &[
        super::LLM_RESPONSE_TEXT,
        pipecat::OUTPUT,
        livekit::PII_RESPONSE_TEXT,
    ];
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
    /// Prompt tokens read from the cache (likewise; the conventions moved the name).
    pub const CACHED_INPUT_TOKENS: &[&str] = &[
        super::GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        super::usage_legacy::INPUT_CACHED_TOKENS,
    ];
    /// Completion tokens spent reasoning (likewise).
    pub const REASONING_TOKENS: &[&str] = &[
        super::GEN_AI_USAGE_REASONING_OUTPUT_TOKENS,
        super::usage_legacy::REASONING_TOKENS,
    ];
    /// Audio input tokens (likewise).
    pub const AUDIO_INPUT_TOKENS: &[&str] = &[
        super::GEN_AI_USAGE_AUDIO_INPUT_TOKENS,
        super::usage_legacy::INPUT_AUDIO_TOKENS,
    ];
    /// Audio output tokens (likewise).
    pub const AUDIO_OUTPUT_TOKENS: &[&str] = &[
        super::GEN_AI_USAGE_AUDIO_OUTPUT_TOKENS,
        super::usage_legacy::OUTPUT_AUDIO_TOKENS,
    ];
    /// Characters synthesised (summed over a turn's tts spans and their descendants).
    pub const TTS_CHARACTERS: &[&str] = &[super::TTS_CHARACTERS, pipecat::CHARACTER_COUNT];
    /// Seconds of audio transcribed (summed over a turn's stt spans).
    pub const STT_AUDIO_SECONDS: &[&str] = &[super::STT_AUDIO_SECONDS, pipecat::AUDIO_SECONDS];

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

/// Names of the OpenInference conventions (Arize Phoenix, Arize AX): what kind of work a span
/// is, and its text as the trace views display it.
pub mod openinference {
    /// The span's kind; Phoenix shows a span without one as `UNKNOWN`. The span macros and
    /// helpers declare it as a span field of this name.
    pub const SPAN_KIND: &str = "openinference.span.kind";
    /// Kind of the `conversation` root: the agent handling the call.
    pub const KIND_AGENT: &str = "AGENT";
    /// Kind of a `turn`: a chain of stages.
    pub const KIND_CHAIN: &str = "CHAIN";
    /// Kind of `llm` spans, and of `stt`, `tts` and `s2s` too: Phoenix shows an LLM span's
    /// model, provider, input and output text, a CHAIN span only its input and output.
    pub const KIND_LLM: &str = "LLM";
    /// Kind of a `tool_call`.
    pub const KIND_TOOL: &str = "TOOL";
    /// The span's input as text (content: only when capture is on).
    pub const INPUT_VALUE: &str = "input.value";
    /// The span's output as text (content: only when capture is on).
    pub const OUTPUT_VALUE: &str = "output.value";
    /// How to read `input.value`: [`MIME_TEXT`] or [`MIME_JSON`]. Set with every value, or
    /// Phoenix may guess JSON for plain text.
    pub const INPUT_MIME_TYPE: &str = "input.mime_type";
    /// How to read `output.value`.
    pub const OUTPUT_MIME_TYPE: &str = "output.mime_type";
    /// Plain text (what people said).
    pub const MIME_TEXT: &str = "text/plain";
    /// A JSON object or array (a tool's arguments and result).
    pub const MIME_JSON: &str = "application/json";
}
