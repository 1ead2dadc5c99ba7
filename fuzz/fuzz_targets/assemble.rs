//! Assembly and analysis on structured hostile span lists: few trace and span ids (so duplicate
//! ids, parent cycles and self-parents are common), every span name and attribute the builders
//! read, extreme times and values, arbitrary arrival order and clock. Each batch of spans is
//! built as an OTLP export request (with the tests' builders, `tests/common/otlp.rs`) and
//! decoded as ingest decodes it, then goes into an [`Assembler`] with small bounds; polls at
//! arbitrary times, then a flush; every call log is analysed and serialised as the receiver
//! does. Never a panic, hang or blowup.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValue};
use voicetrace::receiver::analyze::{analyze, AnalysisConfig};
use voicetrace::receiver::assemble::{Assembler, AssemblerConfig};
use voicetrace::receiver::calllog::CallUpdate;
use voicetrace::receiver::ingest::decode::decode_traces;
use voicetrace::receiver::span::{Attributes, LogRecord, SpanRecord};
use voicetrace::semconv::{self, livekit, pipecat};

#[path = "../../tests/common/otlp.rs"]
mod otlp;

const NAMES: &[&str] = &[
    semconv::SPAN_CONVERSATION,
    semconv::SPAN_TURN,
    semconv::SPAN_STT,
    semconv::SPAN_LLM,
    semconv::SPAN_TTS,
    semconv::SPAN_TOOL_CALL,
    semconv::SPAN_S2S,
    pipecat::SPAN_LLM_TOOL_CALL,
    livekit::SPAN_JOB_ENTRYPOINT,
    livekit::SPAN_AGENT_SESSION,
    livekit::SPAN_AGENT_TURN,
    livekit::SPAN_USER_TURN,
    livekit::SPAN_LLM_NODE,
    livekit::SPAN_TTS_NODE,
    livekit::SPAN_FUNCTION_TOOL,
    "llm_request",
    "other",
];

const KEYS: &[&str] = &[
    semconv::CONVERSATION_ID,
    semconv::GEN_AI_CONVERSATION_ID,
    semconv::TURN_INDEX,
    pipecat::TURN_NUMBER,
    semconv::METRICS_TTFB,
    semconv::GEN_AI_OPERATION_NAME,
    semconv::GEN_AI_USAGE_INPUT_TOKENS,
    semconv::GEN_AI_USAGE_OUTPUT_TOKENS,
    semconv::TTS_CHARACTERS,
    semconv::TURN_USER_BOT_LATENCY_SECONDS,
    semconv::TURN_WAS_INTERRUPTED,
    semconv::TURN_USER_TEXT,
    semconv::CALL_END_REASON,
    semconv::GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK,
    livekit::E2E_LATENCY,
    livekit::END_OF_TURN_DELAY,
    livekit::TRANSCRIPTION_DELAY,
    livekit::RESPONSE_TTFT,
    livekit::RESPONSE_TTFB,
    livekit::FUNCTION_TOOL_IS_ERROR,
    semconv::METRIC_NAME,
    semconv::METRIC_VALUE,
    semconv::INTERRUPTION_DETECTION_LATENCY_SECONDS,
    semconv::INTERRUPTION_BLEED_THROUGH_WORDS,
    "gen_ai.input.messages",
    "call.metadata.k",
    "level",
];

const OPS: &[&str] = &["stt", "chat", "tts", "execute_tool", "s2s", "x"];
const EVENTS: &[&str] = &[
    semconv::EVENT_INTERRUPTION,
    semconv::EVENT_LOG_METRIC,
    semconv::EVENT_EXCEPTION,
    "log",
];

#[derive(Debug, Arbitrary)]
enum Value {
    Str(u8),
    Text(String),
    Bool(bool),
    Int(i64),
    Double(f64),
    Array(Vec<i64>),
}

fn int(i: i64) -> any_value::Value {
    any_value::Value::IntValue(i)
}

impl Value {
    fn into_any(self) -> AnyValue {
        let value = match self {
            Value::Str(i) => return otlp::string(OPS[i as usize % OPS.len()]),
            Value::Text(s) => return otlp::string(&s),
            Value::Bool(b) => any_value::Value::BoolValue(b),
            Value::Int(i) => int(i),
            Value::Double(d) => any_value::Value::DoubleValue(d),
            Value::Array(a) => any_value::Value::ArrayValue(ArrayValue {
                values: a
                    .into_iter()
                    .map(|i| AnyValue {
                        value: Some(int(i)),
                    })
                    .collect(),
            }),
        };
        AnyValue { value: Some(value) }
    }
}

fn attrs(kvs: Vec<(u8, Value)>) -> Vec<KeyValue> {
    kvs.into_iter()
        .map(|(k, v)| otlp::kv(KEYS[k as usize % KEYS.len()], v.into_any()))
        .collect()
}

#[derive(Debug, Arbitrary)]
struct Span {
    trace: u8,
    id: u8,
    parent: Option<u8>,
    name: u8,
    start: u64,
    /// Small durations mostly, extreme ones sometimes.
    end: Result<u32, u64>,
    error: Option<String>,
    attributes: Vec<(u8, Value)>,
    events: Vec<(u8, u64, Vec<(u8, Value)>)>,
    service: Option<u8>,
}

#[derive(Debug, Arbitrary)]
enum Step {
    Spans(Vec<Span>),
    Log {
        trace: u8,
        span: Option<u8>,
        at: u64,
    },
    Poll(u32),
}

#[derive(Debug, Arbitrary)]
struct Input {
    grace_ms: u16,
    idle_ms: u16,
    max_calls: u8,
    max_spans: u8,
    steps: Vec<Step>,
}

fn id<const N: usize>(b: u8) -> [u8; N] {
    // Never all zero, as ingest guarantees.
    let mut id = [0u8; N];
    id[N - 1] = b.max(1);
    id
}

/// The span as an exporter would send it, in a request of its own (its process: one of three
/// service names, or none).
fn request(s: Span) -> opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    let end = match s.end {
        Ok(d) => s.start.saturating_add(d as u64),
        Err(e) => e,
    };
    let parent = s.parent.map(|p| id::<8>(p % 32));
    let mut span = otlp::span(
        &id::<16>(s.trace % 4),
        &id::<8>(s.id % 32),
        parent.as_ref().map(|p| &p[..]),
        NAMES[s.name as usize % NAMES.len()],
        s.start,
        end,
        attrs(s.attributes),
    );
    span.status = s.error.map(|m| otlp::error(&m));
    span.events = s
        .events
        .into_iter()
        .map(|(n, at, a)| otlp::event(EVENTS[n as usize % EVENTS.len()], at, attrs(a)))
        .collect();
    let service = s.service.map(|n| format!("svc{}", n % 3));
    otlp::request(service.as_deref(), vec![span])
}

/// The spans as ingest decodes them.
fn decode(spans: Vec<Span>) -> Vec<SpanRecord> {
    decode_traces(otlp::merge(spans.into_iter().map(request).collect())).spans
}

fn check(updates: Vec<CallUpdate>, analysis: &AnalysisConfig) {
    for update in updates {
        if let CallUpdate::Finished(mut log) = update {
            analyze(&mut log, analysis);
            let _ = serde_json::to_vec(&log).expect("a call log serialises");
        }
    }
}

fuzz_target!(|input: Input| {
    let mut assembler = Assembler::new(AssemblerConfig {
        grace_ms: input.grace_ms as u64,
        idle_timeout_ms: input.idle_ms as u64,
        revision_window_ms: input.idle_ms as u64,
        max_calls: (input.max_calls % 8) as usize + 1,
        max_spans_per_call: input.max_spans as usize + 1,
        live_turns: true,
        // Both: dropping traces that are not calls, and building every trace.
        only_calls: input.grace_ms % 2 == 0,
    });
    let analysis = AnalysisConfig::default();
    // The receiver's clock only moves forward.
    let mut now: u64 = 1_700_000_000_000_000_000;
    for step in input.steps {
        let updates = match step {
            Step::Spans(spans) => assembler.add_spans(decode(spans), now),
            Step::Log { trace, span, at } => assembler.add_logs(
                vec![LogRecord {
                    trace_id: id(trace % 4),
                    span_id: span.map(|s| id(s % 32)),
                    time_unix_nano: at,
                    level: "INFO".into(),
                    message: "m".into(),
                    attributes: Attributes::default(),
                }],
                now,
            ),
            Step::Poll(advance_ms) => {
                now += advance_ms as u64 * 1_000_000;
                assembler.poll(now)
            }
        };
        check(updates, &analysis);
        let stats = assembler.stats();
        assert!(stats.calls_open + stats.calls_retained <= (input.max_calls % 8) as usize + 1);
    }
    check(assembler.flush(now, true), &analysis);
});
