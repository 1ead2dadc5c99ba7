//! The dialects assembly understands (voicetrace, Pipecat, LiveKit, any GenAI agent) and, for
//! each, the rules that turn its spans into a call log: which spans mark the dialect, which span
//! names (or `gen_ai.operation.name` values) are stages, how spans group into turns, and where
//! each figure, text, provider, count and call attribute is read.
//!
//! [`detect`] picks one [`Rules`] per call; the builders then read only through it, never asking
//! which dialect they are in. The keys themselves are the tables of [`semconv::alias`] (one line
//! there adds an alias); a rule here says which table applies to which span (one line here adds
//! a stage name, an operation, a text source). Everything is `static` data: no I/O, no state.

use crate::receiver::calllog::{Dialect, Stage};
use crate::receiver::span::SpanRecord;
use crate::semconv::{self, alias, genai, livekit, pipecat};

/// Span names that are a call's root whether or not they have a (remote) parent.
pub const ROOT_SPANS: &[&str] = &[semconv::SPAN_CONVERSATION, livekit::SPAN_JOB_ENTRYPOINT];

/// Span names that are the root when no [`ROOT_SPANS`] span is there (LiveKit without a job).
pub const SESSION_SPANS: &[&str] = &[livekit::SPAN_AGENT_SESSION];

/// Everything assembly needs to know about one dialect.
#[derive(Debug)]
pub struct Rules {
    /// The dialect, as the call log names it.
    pub dialect: Dialect,
    /// A call with a span matching any of these is in this dialect ([`detect`] tries the
    /// dialects in [`DETECTION_ORDER`]).
    pub markers: &'static [Marker],
    /// Stage spans by name, first match wins.
    pub stage_names: &'static [(&'static str, Stage)],
    /// Stage spans by `gen_ai.operation.name`, where the name is not a stage; first match wins.
    pub stage_operations: &'static [OperationRule],
    /// How spans group into turns.
    pub grouping: Grouping,
    /// Where each timing figure is read.
    pub figures: &'static Figures,
    /// Turn-span keys whose presence says the user spoke (a turn with a user part).
    pub user_spoke: &'static [&'static str],
    /// Turn-span keys that say the call ended during the turn (bool): not a barge-in.
    pub ended_by_call: &'static [&'static str],
    /// Where the edges of each person's speech are read.
    pub speech: &'static SpeechRule,
    /// Where the user's text is read, first that gives one.
    pub user_text: &'static [TextSource],
    /// Where the agent's text is read, first that gives one.
    pub agent_text: &'static [TextSource],
    /// Turn-span keys that say the agent was interrupted (bool).
    pub interrupted: &'static [&'static str],
    /// The interruption event and its keys.
    pub interruption: &'static InterruptionKeys,
    /// Provider and model per stage.
    pub providers: &'static [ProviderRule],
    /// Tokens and characters.
    pub usage: &'static Usage,
    /// Tool executions.
    pub tools: &'static ToolKeys,
    /// Keys that mark a span failed without an ERROR status (bool `true`).
    pub failed: &'static [&'static str],
    /// Keys of the JSON messages sent to a model, where function calls that no span records
    /// show (Pipecat's `llm` input).
    pub tool_messages: &'static [&'static str],
    /// Results, as (text before, text after) the function's name, that the framework hands the
    /// model in place of a failed function call's (Pipecat's failure messages): such a call read
    /// from the messages failed.
    pub failed_tool_results: &'static [(&'static str, &'static str)],
    /// The call's identity.
    pub call: &'static CallKeys,
}

/// Spans of operation `ops` (and of output `output_type`, when set) are stage `stage`.
#[derive(Debug)]
pub struct OperationRule {
    /// `gen_ai.operation.name` values.
    pub ops: &'static [&'static str],
    /// The `gen_ai.output.type` the span must carry, if any.
    pub output_type: Option<&'static str>,
    /// The stage.
    pub stage: Stage,
}

/// A span that marks a dialect: its name, and an attribute it must carry (if any).
#[derive(Debug)]
pub struct Marker {
    /// The span's name.
    pub span: &'static str,
    /// An attribute the span must have.
    pub attribute: Option<&'static str>,
}

/// How a dialect's spans group into turns.
#[derive(Debug)]
pub enum Grouping {
    /// Turn spans named `span`, ordered by the first of `order` they carry (else start time);
    /// a stage belongs to its nearest turn ancestor; a stage span of stage `loose` outside any
    /// turn is a turn of its own.
    TurnSpans {
        /// The turn span's name.
        span: &'static str,
        /// Where a turn's position is read.
        order: &'static [TurnOrder],
        /// The stage that makes a turn without a turn span.
        loose: Stage,
    },
    /// LiveKit: `agent_turn` spans in start order, each joined with the latest sibling
    /// `user_turn` that started before it and after the previous `agent_turn` started; stages
    /// are its direct children.
    AgentTurns {
        /// The answering exchange (one turn).
        agent_turn: &'static str,
        /// The user's side, joined to the next agent turn.
        user_turn: &'static str,
        /// The caller's speech: such spans (anywhere) that start after the previous agent turn
        /// started and before this one's agent speech are this turn's.
        user_speaking: &'static str,
        /// The agent's speech: such children of the agent turn.
        agent_speaking: &'static str,
        /// The event on the agent turn that says a generation was thrown away: stages that
        /// started before the last one are the discarded attempts'.
        discarded: &'static str,
    },
    /// No turn spans: a span of an `opens` stage starts a turn; `leads` stages wait for the
    /// next turn; any other stage joins the last turn (or waits when there is none yet).
    ModelRequests {
        /// Stages that start a turn (one model request).
        opens: &'static [Stage],
        /// Stages that belong to the turn that follows them.
        leads: &'static [Stage],
    },
}

/// Where a turn span's position is read: the value of `key` minus `first` (the number the
/// dialect gives its first turn).
#[derive(Debug)]
pub struct TurnOrder {
    /// The integer attribute.
    pub key: &'static str,
    /// The value of the first turn (0 for an index, 1 for a number).
    pub first: i64,
}

/// Where one timing figure is read: the first span of the first of `stages` the turn has that
/// did not fail before its first output (its first key of `span_keys` in seconds, source
/// `ttfb`, else per `fallback`); without such a span, the first of `turn_keys` on the turn
/// span, then of `user_turn_keys` on the user's turn span (source `ttfb`).
#[derive(Debug)]
pub struct FigureRule {
    /// The stages whose spans give the figure.
    pub stages: &'static [Stage],
    /// Seconds on that span.
    pub span_keys: &'static [&'static str],
    /// Where `span_keys` are looked for.
    pub reach: Reach,
    /// What a span without `span_keys` gives.
    pub fallback: Fallback,
    /// Keys whose value says a span produced output: a failed span without any failed before
    /// its first byte, and its first-byte attribute is the time until it failed.
    pub output: &'static [&'static str],
    /// Seconds on the turn span.
    pub turn_keys: &'static [&'static str],
    /// Seconds on the user's turn span.
    pub user_turn_keys: &'static [&'static str],
}

/// Which spans a figure rule reads its keys on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The stage span.
    Span,
    /// The stage span, else its descendants in time order (LiveKit's `realtime_metrics`).
    Subtree,
}

/// What a stage span without a first-byte key gives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Its duration (source `duration`).
    Duration,
    /// Nothing: its duration is not the figure (a realtime generation lasts the whole reply).
    Nothing,
}

/// Where each per-turn timing figure is read (CONVENTIONS.md section 4).
#[derive(Debug)]
pub struct Figures {
    /// `sttMs`.
    pub stt: FigureRule,
    /// `llmMs`.
    pub llm: FigureRule,
    /// `ttsMs`.
    pub tts: FigureRule,
    /// `s2sMs`.
    pub s2s: FigureRule,
    /// `latencyMs` when measured (else estimated from the three above).
    pub latency: FigureRule,
    /// `endpointingMs`.
    pub endpointing: FigureRule,
}

/// One place a turn's text may be read.
#[derive(Debug)]
pub enum TextSource {
    /// The first of these keys on the turn span.
    Turn(&'static [&'static str]),
    /// The first of these keys on the user's turn span.
    UserTurn(&'static [&'static str]),
    /// The texts of the turn's spans of this stage, joined by a space.
    Stages(Stage, &'static [&'static str]),
    /// The last user message in the JSON messages of this key on the first span of the stage.
    LastUserMessage(Stage, &'static str),
    /// The value of this key, as sent, on the last span of the stage.
    LastValue(Stage, &'static str),
}

/// The interruption event: its name and where its figures are read.
#[derive(Debug)]
pub struct InterruptionKeys {
    /// The event's name.
    pub event: &'static str,
    /// Detection latency, seconds.
    pub detection: &'static [&'static str],
    /// Stop latency, seconds.
    pub stop: &'static [&'static str],
    /// Words heard after the user started speaking.
    pub bleed_through: &'static [&'static str],
    /// Seconds of the reply's audio that played, on the turn span.
    pub playout: &'static [&'static str],
    /// Seconds from the caller's speech to the decision to interrupt, on the turn span.
    pub decision: &'static [&'static str],
}

/// Where each person's speech is read (CONVENTIONS.md section 4, speech intervals): each edge
/// from the first of its sources that gives one.
#[derive(Debug)]
pub struct SpeechRule {
    /// Where the caller's speech starts.
    pub user_start: &'static [UserEdge],
    /// Where it ends.
    pub user_end: &'static [UserEdge],
    /// The agent's speech segments.
    pub agent: &'static [AgentSpeech],
    /// Where the agent's audio of a barge-in's interrupted turn ends.
    pub interrupted: InterruptedAudio,
}

/// Where the agent's audio ends in a turn the caller barged into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InterruptedAudio {
    /// Where the agent's speech spans or marks say.
    AsRecorded,
    /// At the interruption, the interrupted turn span's end, when that is later than the
    /// speech the spans give: the spans give synthesis, not playback, and the framework drops
    /// the audio still queued when it interrupts (Pipecat ends the turn on the
    /// `UserStartedSpeakingFrame` whose interruption stops its output).
    UntilInterruption,
}

/// One place an edge of the caller's speech is read.
#[derive(Debug, Clone, Copy)]
pub enum UserEdge {
    /// The turn's speech spans (LiveKit's `user_speaking`): the first's start, the last's end.
    SpeechSpans,
    /// The earlier of the turn span's start and its first span of this stage, on a turn with a
    /// user part: Pipecat opens the turn at the VAD's confirmation (start_secs after the first
    /// sound) and anchors its stt span at the first sound (the VAD's start minus start_secs).
    FirstSound(Stage),
    /// The time of this event on the turn span.
    TurnEvent(&'static str),
    /// The start of the turn's first span of this stage (the crate starts its stt span at the
    /// end of speech).
    StageStart(Stage),
    /// The agent's first audio minus the measured voice-to-voice latency.
    BeforeLatency,
}

/// One place the agent's speech is read.
#[derive(Debug, Clone, Copy)]
pub enum AgentSpeech {
    /// The turn's speech spans (LiveKit's `agent_speaking`), one segment each.
    SpeechSpans,
    /// Pairs of these events on the turn span (started, stopped), one segment each.
    TurnEvents(&'static str, &'static str),
    /// One segment per span of the stage: from its start plus its first byte (these keys) to
    /// its end.
    FirstByte(Stage, &'static [&'static str]),
}

/// Where a stage's provider and model are read.
#[derive(Debug)]
pub struct ProviderRule {
    /// The stage.
    pub stage: Stage,
    /// Which span is read.
    pub span: ProviderSpan,
    /// The provider's keys.
    pub provider: &'static [&'static str],
    /// The model's keys.
    pub model: &'static [&'static str],
}

/// Which span of a turn names a stage's provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderSpan {
    /// The stage's first span.
    FirstOfStage,
    /// The stage's first span, else the user's turn span (LiveKit's `user_turn` runs the stt).
    FirstOfStageOrUserTurn,
}

/// Where tokens and characters are counted: summed over the stage spans and their descendants
/// (LiveKit puts them on `llm_request` below `llm_node`), the first key any of them carries.
#[derive(Debug)]
pub struct Usage {
    /// Stages whose spans hold token counts.
    pub model_stages: &'static [Stage],
    /// Prompt tokens.
    pub input_tokens: &'static [&'static str],
    /// Completion tokens.
    pub output_tokens: &'static [&'static str],
    /// Prompt tokens read from the cache.
    pub cached_input_tokens: &'static [&'static str],
    /// Completion tokens spent reasoning.
    pub reasoning_tokens: &'static [&'static str],
    /// Audio input tokens.
    pub audio_input_tokens: &'static [&'static str],
    /// Audio output tokens.
    pub audio_output_tokens: &'static [&'static str],
    /// Stages whose spans hold character counts.
    pub speech_stages: &'static [Stage],
    /// Characters synthesised.
    pub characters: &'static [&'static str],
    /// Seconds of audio transcribed, on the stage's stt spans.
    pub stt_audio_seconds: &'static [&'static str],
}

/// Where a tool execution is read.
#[derive(Debug)]
pub struct ToolKeys {
    /// The call's id (matches a call recorded in a model's input messages).
    pub call_id: &'static [&'static str],
    /// The tool's name (else the span's name).
    pub name: &'static [&'static str],
    /// Its arguments.
    pub input: &'static [&'static str],
    /// Its result.
    pub output: &'static [&'static str],
}

/// Where the call's identity is read: on the root first, then on any span in time order.
#[derive(Debug)]
pub struct CallKeys {
    /// The call id (else the trace id).
    pub id: &'static [&'static str],
    /// The agent's id (else its name, else the service name).
    pub agent_id: &'static [&'static str],
    /// The agent's name.
    pub agent_name: &'static [&'static str],
    /// Why the call ended.
    pub end_reason: &'static [&'static str],
    /// The LiveKit room the call ran in.
    pub livekit_room: &'static [&'static str],
    /// The LiveKit job the call ran in.
    pub livekit_job: &'static [&'static str],
}

/// Stage span names shared by voicetrace, Cekura, Pipecat and GenAI agents.
const STAGE_SPANS: &[(&str, Stage)] = &[
    (semconv::SPAN_STT, Stage::Stt),
    (semconv::SPAN_LLM, Stage::Llm),
    (semconv::SPAN_TTS, Stage::Tts),
    (semconv::SPAN_TOOL_CALL, Stage::Tool),
    (pipecat::SPAN_LLM_TOOL_CALL, Stage::Tool),
    (semconv::SPAN_S2S, Stage::S2s),
];

/// Pipecat's stage span names: the shared ones and its realtime models' answer.
const PIPECAT_STAGE_SPANS: &[(&str, Stage)] = &[
    (semconv::SPAN_STT, Stage::Stt),
    (semconv::SPAN_LLM, Stage::Llm),
    (semconv::SPAN_TTS, Stage::Tts),
    (semconv::SPAN_TOOL_CALL, Stage::Tool),
    (pipecat::SPAN_LLM_TOOL_CALL, Stage::Tool),
    (semconv::SPAN_S2S, Stage::S2s),
    (pipecat::SPAN_LLM_RESPONSE, Stage::S2s),
];

/// LiveKit's stage span names.
const LIVEKIT_STAGE_SPANS: &[(&str, Stage)] = &[
    (livekit::SPAN_LLM_NODE, Stage::Llm),
    (livekit::SPAN_TTS_NODE, Stage::Tts),
    (livekit::SPAN_FUNCTION_TOOL, Stage::Tool),
    (livekit::SPAN_REALTIME_INFERENCE, Stage::S2s),
];

/// `gen_ai.operation.name` values by stage: a model request that answered with speech is a
/// speech-to-speech exchange, any other a language model's.
const STAGE_OPERATIONS: &[OperationRule] = &[
    OperationRule {
        ops: genai::OPS_S2S,
        output_type: None,
        stage: Stage::S2s,
    },
    OperationRule {
        ops: genai::OPS_LLM,
        output_type: Some(genai::OUTPUT_TYPE_SPEECH),
        stage: Stage::S2s,
    },
    OperationRule {
        ops: genai::OPS_STT,
        output_type: None,
        stage: Stage::Stt,
    },
    OperationRule {
        ops: genai::OPS_LLM,
        output_type: None,
        stage: Stage::Llm,
    },
    OperationRule {
        ops: genai::OPS_TTS,
        output_type: None,
        stage: Stage::Tts,
    },
    OperationRule {
        ops: genai::OPS_TOOL,
        output_type: None,
        stage: Stage::Tool,
    },
];

const TURN_SPANS: Grouping = Grouping::TurnSpans {
    span: semconv::SPAN_TURN,
    order: &[
        TurnOrder {
            key: semconv::TURN_INDEX,
            first: 0,
        },
        TurnOrder {
            key: pipecat::TURN_NUMBER,
            first: 1,
        },
    ],
    loose: Stage::S2s,
};

/// No span gives a figure in seconds without a first-byte attribute.
const NO_KEYS: &[&str] = &[];

/// A figure read on the turn spans only.
const TURN_FIGURE: FigureRule = FigureRule {
    stages: &[],
    span_keys: NO_KEYS,
    reach: Reach::Span,
    fallback: Fallback::Duration,
    output: NO_KEYS,
    turn_keys: NO_KEYS,
    user_turn_keys: NO_KEYS,
};

const FIGURES: Figures = Figures {
    stt: FigureRule {
        stages: &[Stage::Stt],
        span_keys: alias::STT_TTFB,
        output: alias::STT_TRANSCRIPT,
        turn_keys: alias::TRANSCRIPTION_DELAY,
        user_turn_keys: alias::TRANSCRIPTION_DELAY,
        ..TURN_FIGURE
    },
    llm: FigureRule {
        stages: &[Stage::Llm],
        span_keys: alias::LLM_TTFT,
        output: alias::LLM_OUTPUT,
        ..TURN_FIGURE
    },
    tts: FigureRule {
        stages: &[Stage::Tts],
        span_keys: alias::TTS_TTFB,
        output: alias::TTS_TEXT,
        ..TURN_FIGURE
    },
    s2s: FigureRule {
        stages: &[Stage::S2s],
        span_keys: alias::S2S_TTFB,
        reach: Reach::Subtree,
        fallback: Fallback::Nothing,
        output: alias::LLM_OUTPUT,
        ..TURN_FIGURE
    },
    latency: FigureRule {
        turn_keys: alias::VOICE_TO_VOICE,
        ..TURN_FIGURE
    },
    endpointing: FigureRule {
        turn_keys: alias::END_OF_TURN_DELAY,
        user_turn_keys: alias::END_OF_TURN_DELAY,
        ..TURN_FIGURE
    },
};

/// The user's text where turns are `turn` spans or model requests.
const USER_TEXT: &[TextSource] = &[
    TextSource::Turn(alias::TURN_USER_TEXT),
    TextSource::Stages(Stage::Stt, alias::STT_TRANSCRIPT),
    TextSource::Stages(Stage::S2s, alias::S2S_TRANSCRIPT),
    TextSource::LastUserMessage(Stage::Llm, genai::INPUT_MESSAGES),
];

/// The user's text in LiveKit.
const LIVEKIT_USER_TEXT: &[TextSource] = &[
    TextSource::Turn(alias::AGENT_TURN_USER_TEXT),
    TextSource::UserTurn(alias::USER_TURN_TEXT),
];

const AGENT_TEXT: &[TextSource] = &[
    TextSource::Turn(alias::TURN_AGENT_TEXT),
    TextSource::Stages(Stage::Tts, alias::TTS_TEXT),
    TextSource::Stages(Stage::Llm, alias::LLM_OUTPUT),
    TextSource::LastValue(Stage::Llm, genai::OUTPUT_MESSAGES),
];

const INTERRUPTION: InterruptionKeys = InterruptionKeys {
    event: semconv::EVENT_INTERRUPTION,
    detection: alias::INTERRUPTION_DETECTION,
    stop: alias::INTERRUPTION_STOP,
    bleed_through: alias::INTERRUPTION_BLEED_THROUGH,
    playout: alias::PLAYOUT_POSITION,
    decision: alias::INTERRUPTION_DECISION,
};

/// The crate: speech marks on the turn where the agent set them, else the stt span's start
/// (the end of speech) and the tts spans' first audio.
const VOICETRACE_SPEECH: SpeechRule = SpeechRule {
    user_start: &[UserEdge::TurnEvent(semconv::EVENT_USER_STARTED_SPEAKING)],
    user_end: &[
        UserEdge::TurnEvent(semconv::EVENT_USER_STOPPED_SPEAKING),
        UserEdge::StageStart(Stage::Stt),
        UserEdge::BeforeLatency,
    ],
    agent: &[
        AgentSpeech::TurnEvents(
            semconv::EVENT_AGENT_STARTED_SPEAKING,
            semconv::EVENT_AGENT_STOPPED_SPEAKING,
        ),
        AgentSpeech::FirstByte(Stage::Tts, alias::TTS_TTFB),
    ],
    interrupted: InterruptedAudio::AsRecorded,
};

/// Pipecat: the caller's speech starts at its first sound, where Pipecat anchors the stt span
/// (it opens the turn at the VAD's confirmation), and ends `turn.user_bot_latency_seconds`
/// before the agent's first audio, which is a tts span's start plus its `metrics.ttfb`; an
/// interrupted turn's audio plays until the interruption.
const PIPECAT_SPEECH: SpeechRule = SpeechRule {
    user_start: &[UserEdge::FirstSound(Stage::Stt)],
    user_end: &[UserEdge::BeforeLatency],
    agent: &[AgentSpeech::FirstByte(Stage::Tts, alias::TTS_TTFB)],
    interrupted: InterruptedAudio::UntilInterruption,
};

/// LiveKit: `user_speaking` and `agent_speaking` are the speech itself.
const LIVEKIT_SPEECH: SpeechRule = SpeechRule {
    user_start: &[UserEdge::SpeechSpans],
    user_end: &[UserEdge::SpeechSpans],
    agent: &[AgentSpeech::SpeechSpans],
    interrupted: InterruptedAudio::AsRecorded,
};

/// Any GenAI agent: the tts spans' first audio, when it has tts spans.
const GENAI_SPEECH: SpeechRule = SpeechRule {
    user_start: &[],
    user_end: &[UserEdge::StageStart(Stage::Stt), UserEdge::BeforeLatency],
    agent: &[AgentSpeech::FirstByte(Stage::Tts, alias::TTS_TTFB)],
    interrupted: InterruptedAudio::AsRecorded,
};

const PROVIDERS: &[ProviderRule] = &[
    ProviderRule {
        stage: Stage::Stt,
        span: ProviderSpan::FirstOfStageOrUserTurn,
        provider: alias::STT_PROVIDER,
        model: alias::MODEL,
    },
    ProviderRule {
        stage: Stage::Llm,
        span: ProviderSpan::FirstOfStage,
        provider: alias::MODEL_PROVIDER,
        model: alias::MODEL,
    },
    ProviderRule {
        stage: Stage::Tts,
        span: ProviderSpan::FirstOfStage,
        provider: alias::TTS_PROVIDER,
        model: alias::MODEL,
    },
    ProviderRule {
        stage: Stage::S2s,
        span: ProviderSpan::FirstOfStage,
        provider: alias::MODEL_PROVIDER,
        model: alias::MODEL,
    },
];

const USAGE: Usage = Usage {
    model_stages: &[Stage::Llm, Stage::S2s],
    input_tokens: alias::INPUT_TOKENS,
    output_tokens: alias::OUTPUT_TOKENS,
    cached_input_tokens: alias::CACHED_INPUT_TOKENS,
    reasoning_tokens: alias::REASONING_TOKENS,
    audio_input_tokens: alias::AUDIO_INPUT_TOKENS,
    audio_output_tokens: alias::AUDIO_OUTPUT_TOKENS,
    speech_stages: &[Stage::Tts],
    characters: alias::TTS_CHARACTERS,
    stt_audio_seconds: alias::STT_AUDIO_SECONDS,
};

const TOOLS: ToolKeys = ToolKeys {
    call_id: alias::TOOL_CALL_ID,
    name: alias::TOOL_NAME,
    input: alias::TOOL_INPUT,
    output: alias::TOOL_OUTPUT,
};

const CALL: CallKeys = CallKeys {
    id: alias::CALL_ID,
    agent_id: alias::AGENT_ID,
    agent_name: alias::AGENT_NAME,
    end_reason: alias::END_REASON,
    livekit_room: alias::LIVEKIT_ROOM,
    livekit_job: alias::LIVEKIT_JOB,
};

/// voicetrace and Cekura: `conversation` / `turn` / `stt` / `llm` / `tts` / `tool_call`.
pub static VOICETRACE: Rules = Rules {
    markers: &[
        Marker {
            span: semconv::SPAN_CONVERSATION,
            attribute: None,
        },
        Marker {
            span: semconv::SPAN_TURN,
            attribute: None,
        },
    ],
    ..SHARED
};

/// Pipecat: voicetrace's span names, `turn.number` on its turns.
pub static PIPECAT: Rules = Rules {
    dialect: Dialect::Pipecat,
    markers: &[Marker {
        span: semconv::SPAN_TURN,
        attribute: Some(pipecat::TURN_NUMBER),
    }],
    stage_names: PIPECAT_STAGE_SPANS,
    speech: &PIPECAT_SPEECH,
    failed_tool_results: pipecat::FAILED_FUNCTION_RESULTS,
    ..SHARED
};

/// LiveKit Agents: `agent_session` / `agent_turn` / `user_turn` / `llm_node` / `tts_node`.
pub static LIVEKIT: Rules = Rules {
    dialect: Dialect::Livekit,
    markers: &[
        Marker {
            span: livekit::SPAN_AGENT_TURN,
            attribute: None,
        },
        Marker {
            span: livekit::SPAN_AGENT_SESSION,
            attribute: None,
        },
        Marker {
            span: livekit::SPAN_JOB_ENTRYPOINT,
            attribute: None,
        },
    ],
    stage_names: LIVEKIT_STAGE_SPANS,
    stage_operations: &[],
    grouping: Grouping::AgentTurns {
        agent_turn: livekit::SPAN_AGENT_TURN,
        user_turn: livekit::SPAN_USER_TURN,
        user_speaking: livekit::SPAN_USER_SPEAKING,
        agent_speaking: livekit::SPAN_AGENT_SPEAKING,
        discarded: livekit::EVENT_PREEMPTIVE_GENERATION_DISCARDED,
    },
    user_text: LIVEKIT_USER_TEXT,
    speech: &LIVEKIT_SPEECH,
    ..SHARED
};

/// Any OpenTelemetry GenAI agent: no turn spans, stages by name or operation.
pub static GENAI: Rules = Rules {
    dialect: Dialect::Genai,
    markers: &[],
    grouping: Grouping::ModelRequests {
        opens: &[Stage::Llm, Stage::S2s],
        leads: &[Stage::Stt],
    },
    speech: &GENAI_SPEECH,
    ..SHARED
};

/// The dialects in the order they are recognised; a call none of them marks is [`GENAI`].
pub static DETECTION_ORDER: &[&Rules] = &[&LIVEKIT, &PIPECAT, &VOICETRACE];

/// The rules every dialect shares unless it says otherwise (voicetrace's, without markers).
const SHARED: Rules = Rules {
    dialect: Dialect::Voicetrace,
    markers: &[],
    stage_names: STAGE_SPANS,
    stage_operations: STAGE_OPERATIONS,
    grouping: TURN_SPANS,
    figures: &FIGURES,
    user_spoke: alias::USER_SPOKE,
    ended_by_call: alias::ENDED_BY_CALL,
    speech: &VOICETRACE_SPEECH,
    user_text: USER_TEXT,
    agent_text: AGENT_TEXT,
    interrupted: alias::INTERRUPTED,
    interruption: &INTERRUPTION,
    providers: PROVIDERS,
    usage: &USAGE,
    tools: &TOOLS,
    failed: alias::FAILED,
    tool_messages: alias::LLM_INPUT_MESSAGES,
    failed_tool_results: &[],
    call: &CALL,
};

/// Span names that say a trace is a voice call even without a stage under them: the turns.
const TURN_MARKERS: &[&str] = &[
    semconv::SPAN_TURN,
    livekit::SPAN_AGENT_TURN,
    livekit::SPAN_USER_TURN,
];

/// Whether `span` says its trace is a call (CONVENTIONS.md section 3, "Only calls"): a call
/// root, a turn, a stage span of any dialect (by name or `gen_ai.operation.name`), any
/// `gen_ai.operation.name` at all (a GenAI agent's work: `invoke_agent`, ...), or a call id.
/// A plain web-service trace (`GET /cart` → `SELECT carts`) has none of these.
pub fn is_call_signal(span: &SpanRecord) -> bool {
    let name = span.name.as_str();
    ROOT_SPANS.contains(&name)
        || SESSION_SPANS.contains(&name)
        || TURN_MARKERS.contains(&name)
        || [&VOICETRACE, &LIVEKIT]
            .iter()
            .any(|rules| rules.stage_of(span).is_some())
        || span
            .attributes
            .get(semconv::GEN_AI_OPERATION_NAME)
            .is_some()
        || alias::CALL_ID
            .iter()
            .any(|key| span.attributes.get(key).is_some())
}

/// The rules of the call whose spans these are: the first dialect of [`DETECTION_ORDER`] that
/// a span marks, else [`GENAI`].
pub fn detect(spans: &[&SpanRecord]) -> &'static Rules {
    DETECTION_ORDER
        .iter()
        .copied()
        .find(|rules| spans.iter().any(|s| rules.is_marked_by(s)))
        .unwrap_or(&GENAI)
}

impl Rules {
    /// Whether `span` marks this dialect.
    fn is_marked_by(&self, span: &SpanRecord) -> bool {
        self.markers.iter().any(|m| {
            span.name == m.span && m.attribute.is_none_or(|a| span.attributes.get(a).is_some())
        })
    }

    /// The stage `span` is, if it is one: by name, else by `gen_ai.operation.name`.
    pub fn stage_of(&self, span: &SpanRecord) -> Option<Stage> {
        let by_name = self
            .stage_names
            .iter()
            .find(|(name, _)| span.name == *name)
            .map(|(_, stage)| *stage);
        by_name.or_else(|| {
            let op = span.attributes.str(semconv::GEN_AI_OPERATION_NAME)?;
            let output = span.attributes.str(genai::OUTPUT_TYPE);
            self.stage_operations
                .iter()
                .find(|rule| {
                    rule.ops.contains(&op) && rule.output_type.is_none_or(|t| output == Some(t))
                })
                .map(|rule| rule.stage)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::span;
    use super::*;

    fn detected(spans: &[SpanRecord]) -> Dialect {
        let refs: Vec<&SpanRecord> = spans.iter().collect();
        detect(&refs).dialect
    }

    #[test]
    fn call_signals_are_roots_turns_stages_operations_and_call_ids() {
        let calls = [
            span(1, semconv::SPAN_CONVERSATION).build(),
            span(1, livekit::SPAN_AGENT_SESSION).build(),
            span(1, livekit::SPAN_USER_TURN).build(),
            span(1, livekit::SPAN_TTS_NODE).build(),
            span(1, "openai.chat")
                .attr(semconv::GEN_AI_OPERATION_NAME, "chat")
                .build(),
            span(1, "agent.run")
                .attr(semconv::GEN_AI_OPERATION_NAME, "invoke_agent")
                .build(),
            span(1, "handle")
                .attr(semconv::CONVERSATION_ID, "c1")
                .build(),
        ];
        for s in &calls {
            assert!(is_call_signal(s), "{}", s.name);
        }
        let web = [
            span(1, "GET /cart")
                .attr("http.request.method", "GET")
                .build(),
            span(2, "SELECT carts")
                .attr("db.system", "postgresql")
                .build(),
            span(3, "llm_cache_lookup").build(),
        ];
        for s in &web {
            assert!(!is_call_signal(s), "{}", s.name);
        }
    }

    #[test]
    fn livekit_is_recognised_by_any_of_its_spans_and_wins_over_voicetrace() {
        let session = span(1, livekit::SPAN_AGENT_SESSION).build();
        let turn = span(2, semconv::SPAN_TURN).parent(1).build();
        let stt = span(3, semconv::SPAN_STT).parent(2).build();
        assert_eq!(detected(&[session, turn, stt]), Dialect::Livekit);
        assert_eq!(
            detected(&[span(1, livekit::SPAN_JOB_ENTRYPOINT).build()]),
            Dialect::Livekit
        );
    }

    #[test]
    fn pipecat_is_a_turn_with_a_turn_number() {
        let conversation = span(1, semconv::SPAN_CONVERSATION).build();
        let turn = span(2, semconv::SPAN_TURN).parent(1);
        let numbered = turn.clone().attr(pipecat::TURN_NUMBER, 1).build();
        assert_eq!(
            detected(&[conversation.clone(), numbered]),
            Dialect::Pipecat
        );
        assert_eq!(detected(&[conversation, turn.build()]), Dialect::Voicetrace);
    }

    #[test]
    fn without_markers_the_call_is_genai() {
        let agent = span(1, "invoke_agent").build();
        let chat = span(2, "chat gpt-4o")
            .parent(1)
            .attr(semconv::GEN_AI_OPERATION_NAME, "chat")
            .build();
        assert_eq!(detected(&[agent, chat]), Dialect::Genai);
        assert_eq!(detected(&[]), Dialect::Genai);
    }

    #[test]
    fn stages_are_recognised_by_name_then_by_operation() {
        let stage = |s: SpanRecord| VOICETRACE.stage_of(&s);
        assert_eq!(stage(span(1, semconv::SPAN_STT).build()), Some(Stage::Stt));
        assert_eq!(
            stage(span(1, pipecat::SPAN_LLM_TOOL_CALL).build()),
            Some(Stage::Tool)
        );
        let by_op = |op: &str| {
            stage(
                span(1, "x")
                    .attr(semconv::GEN_AI_OPERATION_NAME, op)
                    .build(),
            )
        };
        assert_eq!(by_op("speech_to_text"), Some(Stage::Stt));
        assert_eq!(by_op("generate_content"), Some(Stage::Llm));
        assert_eq!(by_op("text_to_speech"), Some(Stage::Tts));
        assert_eq!(by_op("execute_tool"), Some(Stage::Tool));
        assert_eq!(by_op("s2s"), Some(Stage::S2s));
        assert_eq!(by_op("invoke_agent"), None);
        // The name wins over the operation.
        let tts_named_chat = span(1, semconv::SPAN_TTS)
            .attr(semconv::GEN_AI_OPERATION_NAME, "chat")
            .build();
        assert_eq!(stage(tts_named_chat), Some(Stage::Tts));
    }

    #[test]
    fn livekit_stages_are_its_node_spans_only() {
        let stage = |s: SpanRecord| LIVEKIT.stage_of(&s);
        assert_eq!(
            stage(span(1, livekit::SPAN_LLM_NODE).build()),
            Some(Stage::Llm)
        );
        assert_eq!(
            stage(span(1, livekit::SPAN_FUNCTION_TOOL).build()),
            Some(Stage::Tool)
        );
        assert_eq!(stage(span(1, semconv::SPAN_STT).build()), None);
        let chat = span(1, "llm_request")
            .attr(semconv::GEN_AI_OPERATION_NAME, "chat")
            .build();
        assert_eq!(stage(chat), None);
    }

    #[test]
    fn every_dialect_is_detectable_and_names_itself() {
        for rules in DETECTION_ORDER {
            assert!(!rules.markers.is_empty(), "{:?}", rules.dialect);
        }
        let all = [&VOICETRACE, &PIPECAT, &LIVEKIT, &GENAI].map(|r| r.dialect);
        assert_eq!(
            all,
            [
                Dialect::Voicetrace,
                Dialect::Pipecat,
                Dialect::Livekit,
                Dialect::Genai
            ]
        );
    }
}

#[cfg(test)]
mod extension_tests {
    //! New names are table lines: a dialect rule added here reaches every figure unchanged.
    use super::super::group::turns;
    use super::super::index::SpanIndex;
    use super::super::test_support::{span, T0};
    use super::super::turn::build_turn;
    use super::*;
    use crate::receiver::calllog::TimingSource;

    /// LiveKit with a speech-to-speech stage span (a realtime model), one line more.
    static REALTIME: Rules = Rules {
        stage_names: &[
            (livekit::SPAN_LLM_NODE, Stage::Llm),
            ("realtime_turn", Stage::S2s),
        ],
        grouping: Grouping::AgentTurns {
            agent_turn: livekit::SPAN_AGENT_TURN,
            user_turn: livekit::SPAN_USER_TURN,
            user_speaking: livekit::SPAN_USER_SPEAKING,
            agent_speaking: livekit::SPAN_AGENT_SPEAKING,
            discarded: livekit::EVENT_PREEMPTIVE_GENERATION_DISCARDED,
        },
        ..SHARED
    };

    #[test]
    fn a_stage_name_added_to_a_table_reaches_figures_counts_and_providers() {
        let spans = [
            span(1, livekit::SPAN_AGENT_TURN).at(0, 1000).build(),
            span(2, "realtime_turn")
                .parent(1)
                .at(0, 700)
                .attr(semconv::METRICS_TTFB, 0.3)
                .attr(semconv::GEN_AI_PROVIDER_NAME, "openai")
                .attr(semconv::GEN_AI_USAGE_INPUT_TOKENS, 12)
                .build(),
        ];
        let index = SpanIndex::new(&spans);
        let parts = turns(&index, &REALTIME);
        let turn = build_turn(&index, &REALTIME, &parts[0], 0, T0);
        assert_eq!((turn.s2s_ms, turn.stt_ms), (Some(300), None));
        assert_eq!(turn.timing_source["s2sMs"], TimingSource::Ttfb);
        assert_eq!(turn.llm_input_tokens, Some(12));
        assert_eq!(
            turn.providers[&Stage::S2s].provider.as_deref(),
            Some("openai")
        );
    }
}
