//! Calls written with the crate's instrumentation (every helper, plain `tracing` macros, the
//! simulated agent) and the checks the `instrument_*` tests run on the spans a [`Capture`]
//! received from them.
//!
//! [`Capture`]: super::capture::Capture

use std::time::Duration;

use tracing::field::Empty;
use voicetrace::instrument::simulate::SimulatedCall;
use voicetrace::instrument::{BargeIn, Call, CallBuilder, Direction, EndReason};
use voicetrace::semconv as sc;

use super::capture::{children, of_trace, one, CapturedSpan, Val};

/// Milliseconds from seconds, rounded half up (CONVENTIONS.md section 4).
pub fn ms(seconds: f64) -> i64 {
    (seconds * 1000.0 + 0.5).floor() as i64
}

fn d(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// The OpenInference kind of each span the conventions name.
pub fn expected_kind(span_name: &str) -> Option<&'static str> {
    use sc::openinference as oi;
    match span_name {
        sc::SPAN_CONVERSATION => Some(oi::KIND_AGENT),
        sc::SPAN_TURN => Some(oi::KIND_CHAIN),
        sc::SPAN_STT | sc::SPAN_LLM | sc::SPAN_TTS | sc::SPAN_S2S => Some(oi::KIND_LLM),
        sc::SPAN_TOOL_CALL => Some(oi::KIND_TOOL),
        _ => None,
    }
}

/// Every span of a call: the trace id, `conversation.id` and `session.id`, the OpenInference
/// kind of the named spans, one root without a parent among them, no attribute written twice.
pub fn check_call_spans(spans: &[&CapturedSpan], call_id: &str, trace_id: &str) {
    assert!(!spans.is_empty(), "no spans for call {call_id}");
    let roots: Vec<&str> = spans
        .iter()
        .filter(|s| !spans.iter().any(|p| p.span_id == s.parent_span_id))
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(roots, [sc::SPAN_CONVERSATION], "the call's one root");
    for s in spans {
        assert_eq!(s.trace_id, trace_id, "{} of {call_id}", s.name);
        assert_eq!(
            s.attrs.get(sc::CONVERSATION_ID),
            Some(&Val::Str(call_id.to_string())),
            "conversation.id on {} of {call_id}",
            s.name
        );
        assert_eq!(
            s.attrs.get(sc::genai::SESSION_ID),
            Some(&Val::Str(call_id.to_string())),
            "session.id on {} of {call_id}",
            s.name
        );
        if let Some(kind) = expected_kind(&s.name) {
            assert_eq!(
                s.attrs.get(sc::openinference::SPAN_KIND),
                Some(&Val::Str(kind.to_string())),
                "kind of {}",
                s.name
            );
        }
        let mut keys: Vec<&str> = s.attr_list.iter().map(|(k, _)| k.as_str()).collect();
        keys.sort_unstable();
        let before = keys.len();
        keys.dedup();
        assert_eq!(
            before,
            keys.len(),
            "duplicate attributes on {}: {:?}",
            s.name,
            s.attr_list
        );
    }
}

/// A call that uses every helper, synchronously (no runtime needed). Returns its trace id.
/// Spans: conversation, 3 turns, greeting llm + tts, exchange stt + llm (with a plain `tracing`
/// child span and an `info!` line) + tool_call + tts, a failed stt: 12 spans.
pub fn rich_call(call_id: &str, traceparent: Option<&str>) -> String {
    rich_call_from(rich_builder(call_id, traceparent))
}

/// The builder [`rich_call`] starts from, for a test to adjust.
pub fn rich_builder(call_id: &str, traceparent: Option<&str>) -> CallBuilder {
    let mut builder = Call::builder(call_id)
        .agent_id("agent-7")
        .agent_name("Support bot")
        .direction(Direction::Outbound)
        .from("+15550001")
        .to("+15550002")
        .recording_url("https://recordings.example.com/r.wav")
        .metadata("tier", "gold");
    if let Some(tp) = traceparent {
        builder = builder.traceparent(tp);
    }
    builder
}

/// [`rich_call`] from a given builder.
pub fn rich_call_from(builder: CallBuilder) -> String {
    let call = builder.start();
    call.log_event(
        "call_connected",
        "info",
        "caller connected",
        &[("codec", "opus")],
    );
    {
        let greet = call.turn();
        greet.agent_text("Hello!");
        let llm = greet.llm();
        llm.provider("openai")
            .model("gpt-4o-mini")
            .instructions("Be brief.")
            .ttfb(d(420))
            .text("Hello!")
            .usage(100, 8);
        llm.end();
        let tts = greet.tts();
        tts.provider("cartesia")
            .voice("v1")
            .ttfb(d(180))
            .text("Hello!");
        tts.end();
    }
    {
        let turn = call.turn();
        turn.user_text("Where is my order?")
            .agent_text("It ships today.");
        let stt = turn.stt();
        stt.provider("deepgram")
            .model("nova-3")
            .ttfb(d(150))
            .text("Where is my order?")
            .confidence(0.93)
            .is_final(true)
            .language("en-US");
        stt.end();
        let llm = turn.llm();
        llm.provider("openai")
            .model("gpt-4o-mini")
            .input("Where is my order?")
            .ttfb(d(333));
        {
            let _entered = llm.span().enter();
            tracing::info!(order = "A-1", "looking up the order");
            let plain = tracing::info_span!("vector_search", top_k = 3);
            let _p = plain.enter();
        }
        llm.requests_tool("lookup_order", r#"{"id":"A-1"}"#)
            .usage(500, 20)
            .finish_reasons(&["tool_calls"]);
        llm.end();
        let tool = turn.tool("lookup_order");
        tool.input(r#"{"id":"A-1"}"#)
            .text(r#"{"status":"shipped"}"#);
        tool.end();
        let tts = turn.tts();
        tts.ttfb(d(201)).text("It ships today.").interrupted();
        turn.interrupted(BargeIn {
            detection_latency: Some(d(120)),
            stop_latency: Some(d(80)),
            bleed_through_words: Some(2),
        });
        turn.voice_to_voice(d(912));
        turn.log_metric("sentiment", 0.75);
        tts.end();
    }
    {
        let turn = call.turn();
        let stt = turn.stt();
        stt.fail(&std::io::Error::other("socket closed"));
        stt.end();
    }
    call.log_metric("csat", 4i64);
    let trace_id = call.trace_id();
    call.end(EndReason::ClientHangup);
    trace_id
}

/// Number of spans [`rich_call`] emits.
pub const RICH_CALL_SPANS: usize = 12;

/// Checks everything [`rich_call`] should have produced.
pub fn check_rich_call(all: &[CapturedSpan], call_id: &str, trace_id: &str) {
    let spans = of_trace(all, trace_id);
    assert_eq!(
        spans.len(),
        RICH_CALL_SPANS,
        "{:?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    check_call_spans(&spans, call_id, trace_id);

    let root = one(&spans, sc::SPAN_CONVERSATION);
    assert!(
        !spans.iter().any(|s| s.span_id == root.parent_span_id),
        "the root's parent, if any, is remote"
    );
    assert_eq!(root.attr(sc::CONVERSATION_TYPE).str(), "voice");
    assert_eq!(root.attr(sc::GEN_AI_CONVERSATION_ID).str(), call_id);
    assert_eq!(root.attr(sc::GEN_AI_AGENT_ID).str(), "agent-7");
    assert_eq!(root.attr(sc::GEN_AI_AGENT_NAME).str(), "Support bot");
    assert_eq!(root.attr(sc::CALL_DIRECTION).str(), "outbound");
    assert_eq!(root.attr(sc::CALL_FROM).str(), "+15550001");
    assert_eq!(root.attr(sc::CALL_TO).str(), "+15550002");
    assert_eq!(
        root.attr(sc::CALL_RECORDING_URL).str(),
        "https://recordings.example.com/r.wav"
    );
    assert_eq!(root.attr("call.metadata.tier").str(), "gold");
    assert_eq!(root.attr(sc::CALL_END_REASON).str(), "client_hangup");
    assert_ne!(root.status_code, 2);
    let connected = root.event("call_connected");
    assert_eq!(connected.attrs[sc::LOG_LEVEL], Val::Str("info".into()));
    assert_eq!(
        connected.attrs[sc::LOG_MESSAGE],
        Val::Str("caller connected".into())
    );
    assert_eq!(connected.attrs["metadata.codec"], Val::Str("opus".into()));
    let csat = root.event(sc::EVENT_LOG_METRIC);
    assert_eq!(csat.attrs[sc::METRIC_NAME], Val::Str("csat".into()));
    assert_eq!(csat.attrs[sc::METRIC_VALUE], Val::Int(4));

    let turns = children(&spans, root);
    assert_eq!(turns.len(), 3);
    for (i, t) in turns.iter().enumerate() {
        assert_eq!(t.name, sc::SPAN_TURN);
        assert_eq!(t.attr(sc::TURN_INDEX).int(), i as i64);
    }
    assert_eq!(turns[0].attrs[sc::TURN_WAS_INTERRUPTED], Val::Bool(false));
    assert_eq!(turns[0].attr(sc::TURN_AGENT_TEXT).str(), "Hello!");
    assert!(!turns[0].attrs.contains_key(sc::TURN_USER_TEXT));
    let greet = children(&spans, turns[0]);
    assert_eq!(
        greet.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["llm", "tts"]
    );
    assert_eq!(greet[0].attr(sc::LLM_RESPONSE_TEXT).str(), "Hello!");
    assert!(
        !greet[0].attrs.contains_key(sc::pipecat::OUTPUT),
        "no bare `output`: it collides with OpenInference's output.*"
    );
    assert_eq!(ms(greet[0].attr(sc::METRICS_TTFB).double()), 420);
    assert_eq!(ms(greet[1].attr(sc::METRICS_TTFB).double()), 180);

    let t1 = turns[1];
    assert_eq!(t1.attr(sc::TURN_USER_TEXT).str(), "Where is my order?");
    assert_eq!(t1.attr(sc::TURN_AGENT_TEXT).str(), "It ships today.");
    assert_eq!(t1.attrs[sc::TURN_WAS_INTERRUPTED], Val::Bool(true));
    assert_eq!(t1.attr(sc::TURN_USER_BOT_LATENCY_SECONDS).double(), 0.912);
    let intr = t1.event(sc::EVENT_INTERRUPTION);
    assert_eq!(
        intr.attrs[sc::INTERRUPTION_DETECTION_LATENCY_SECONDS],
        Val::Double(0.12)
    );
    assert_eq!(
        intr.attrs[sc::INTERRUPTION_STOP_LATENCY_SECONDS],
        Val::Double(0.08)
    );
    assert_eq!(
        intr.attrs[sc::INTERRUPTION_BLEED_THROUGH_WORDS],
        Val::Int(2)
    );
    let sentiment = t1.event(sc::EVENT_LOG_METRIC);
    assert_eq!(
        sentiment.attrs[sc::METRIC_NAME],
        Val::Str("sentiment".into())
    );
    assert_eq!(sentiment.attrs[sc::METRIC_VALUE], Val::Double(0.75));

    let stages = children(&spans, t1);
    assert_eq!(
        stages.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["stt", "llm", "tool_call", "tts"]
    );
    let stt = stages[0];
    assert_eq!(stt.attr(sc::GEN_AI_OPERATION_NAME).str(), sc::OP_STT);
    assert_eq!(stt.attr(sc::GEN_AI_PROVIDER_NAME).str(), "deepgram");
    assert_eq!(stt.attr(sc::STT_PROVIDER).str(), "deepgram");
    assert_eq!(stt.attr(sc::GEN_AI_REQUEST_MODEL).str(), "nova-3");
    assert_eq!(stt.attr(sc::METRICS_TTFB), &Val::Double(0.15));
    assert_eq!(stt.attr(sc::STT_TRANSCRIPT).str(), "Where is my order?");
    assert_eq!(stt.attr(sc::STT_CONFIDENCE), &Val::Double(0.93));
    assert_eq!(stt.attr(sc::STT_IS_FINAL), &Val::Bool(true));
    assert_eq!(stt.attr(sc::LANGUAGE).str(), "en-US");

    let llm = stages[1];
    assert_eq!(llm.attr(sc::GEN_AI_OPERATION_NAME).str(), sc::OP_CHAT);
    assert_eq!(llm.attr(sc::METRICS_TTFB), &Val::Double(0.333));
    assert_eq!(ms(llm.attr(sc::METRICS_TTFB).double()), 333);
    assert_eq!(llm.attr(sc::GEN_AI_USAGE_INPUT_TOKENS), &Val::Int(500));
    assert_eq!(llm.attr(sc::GEN_AI_USAGE_OUTPUT_TOKENS), &Val::Int(20));
    assert_eq!(
        llm.attr(sc::GEN_AI_RESPONSE_FINISH_REASONS),
        &Val::Array(vec![Val::Str("tool_calls".into())])
    );
    // The info! line inside the stage is an event of the stage span.
    let line = llm.event("looking up the order");
    assert_eq!(line.attrs["order"], Val::Str("A-1".into()));
    // The plain tracing span inside the stage is its child, with the call id.
    let plain = children(&spans, llm);
    assert_eq!(plain.len(), 1);
    assert_eq!(plain[0].name, "vector_search");
    assert_eq!(plain[0].attr("top_k"), &Val::Int(3));

    let tool = stages[2];
    assert_eq!(
        tool.attr(sc::GEN_AI_OPERATION_NAME).str(),
        sc::OP_EXECUTE_TOOL
    );
    assert_eq!(tool.attr(sc::GEN_AI_TOOL_NAME).str(), "lookup_order");
    assert_eq!(tool.attr(sc::FUNCTION_NAME).str(), "lookup_order");
    assert_eq!(tool.attr(sc::FUNCTION_INPUT).str(), r#"{"id":"A-1"}"#);
    assert_eq!(
        tool.attr(sc::FUNCTION_OUTPUT).str(),
        r#"{"status":"shipped"}"#
    );

    let tts = stages[3];
    assert_eq!(tts.attr(sc::GEN_AI_OPERATION_NAME).str(), sc::OP_TTS);
    assert_eq!(tts.attr(sc::METRICS_TTFB), &Val::Double(0.201));
    assert_eq!(tts.attr(sc::TEXT).str(), "It ships today.");
    assert_eq!(tts.attr(sc::TTS_CHARACTERS), &Val::Int(15));
    assert_eq!(tts.attr(sc::TTS_INTERRUPTED), &Val::Bool(true));

    let failed = children(&spans, turns[2]);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].status_code, 2, "a failed stage has status ERROR");
    let exception = failed[0].event(sc::EVENT_EXCEPTION);
    assert_eq!(
        exception.attrs[sc::EXCEPTION_MESSAGE],
        Val::Str("socket closed".into())
    );
}

/// The content attributes that only content capture emits.
pub const CONTENT_KEYS: &[&str] = &[
    sc::genai::INPUT_MESSAGES,
    sc::genai::OUTPUT_MESSAGES,
    sc::genai::SYSTEM_INSTRUCTIONS,
    sc::genai::TOOL_CALL_ARGUMENTS,
    sc::genai::TOOL_CALL_RESULT,
    sc::openinference::INPUT_VALUE,
    sc::openinference::OUTPUT_VALUE,
    sc::openinference::INPUT_MIME_TYPE,
    sc::openinference::OUTPUT_MIME_TYPE,
];

/// No span carries a content attribute (content capture off).
pub fn check_no_content(spans: &[&CapturedSpan]) {
    for s in spans {
        for key in CONTENT_KEYS {
            assert!(
                !s.attrs.contains_key(*key),
                "{key} on {} with capture off",
                s.name
            );
        }
    }
}

fn json_attr(span: &CapturedSpan, key: &str) -> serde_json::Value {
    serde_json::from_str(span.attr(key).str())
        .unwrap_or_else(|e| panic!("{key} of {} is not JSON: {e}", span.name))
}

/// The content attributes of [`rich_call`] with content capture on: every text where GenAI
/// and OpenInference backends read it, in the GenAI JSON shapes.
pub fn check_rich_call_content(all: &[CapturedSpan], trace_id: &str) {
    use sc::openinference::{INPUT_VALUE, OUTPUT_VALUE};
    use serde_json::json;
    let spans = of_trace(all, trace_id);
    let root = one(&spans, sc::SPAN_CONVERSATION);
    assert_eq!(root.attr(INPUT_VALUE).str(), "Where is my order?");
    assert_eq!(root.attr(OUTPUT_VALUE).str(), "Hello!\nIt ships today.");
    let turns = children(&spans, root);
    assert!(
        !turns[0].attrs.contains_key(INPUT_VALUE),
        "a greeting has no input"
    );
    assert_eq!(turns[0].attr(OUTPUT_VALUE).str(), "Hello!");
    assert_eq!(turns[1].attr(INPUT_VALUE).str(), "Where is my order?");
    assert_eq!(turns[1].attr(OUTPUT_VALUE).str(), "It ships today.");

    let greet = children(&spans, turns[0]);
    let (llm, tts) = (greet[0], greet[1]);
    assert_eq!(
        json_attr(llm, sc::genai::SYSTEM_INSTRUCTIONS),
        json!([{"type": "text", "content": "Be brief."}])
    );
    assert!(!llm.attrs.contains_key(sc::genai::INPUT_MESSAGES));
    assert_eq!(llm.attr(INPUT_VALUE).str(), "Be brief.");
    assert_eq!(
        json_attr(llm, sc::genai::OUTPUT_MESSAGES),
        json!([{"role": "assistant", "parts": [{"type": "text", "content": "Hello!"}],
                "finish_reason": "stop"}])
    );
    assert_eq!(llm.attr(OUTPUT_VALUE).str(), "Hello!");
    // Plain text says so: Phoenix would otherwise take an llm span's output for JSON.
    assert_eq!(
        llm.attr(sc::openinference::OUTPUT_MIME_TYPE).str(),
        sc::openinference::MIME_TEXT
    );
    assert_eq!(tts.attr(INPUT_VALUE).str(), "Hello!");

    let stages = children(&spans, turns[1]);
    let (stt, llm, tool, tts) = (stages[0], stages[1], stages[2], stages[3]);
    assert_eq!(stt.attr(OUTPUT_VALUE).str(), "Where is my order?");
    assert_eq!(
        json_attr(llm, sc::genai::INPUT_MESSAGES),
        json!([{"role": "user", "parts": [{"type": "text", "content": "Where is my order?"}]}])
    );
    assert_eq!(llm.attr(INPUT_VALUE).str(), "Where is my order?");
    assert_eq!(
        json_attr(llm, sc::genai::OUTPUT_MESSAGES),
        json!([{"role": "assistant",
                "parts": [{"type": "tool_call", "name": "lookup_order", "arguments": {"id": "A-1"}}],
                "finish_reason": "tool_calls"}])
    );
    assert_eq!(
        llm.attr(OUTPUT_VALUE).str(),
        r#"lookup_order({"id":"A-1"})"#
    );
    assert_eq!(tool.attr(INPUT_VALUE).str(), r#"{"id":"A-1"}"#);
    assert_eq!(
        tool.attr(sc::openinference::INPUT_MIME_TYPE).str(),
        sc::openinference::MIME_JSON
    );
    assert_eq!(
        tool.attr(sc::genai::TOOL_CALL_ARGUMENTS).str(),
        r#"{"id":"A-1"}"#
    );
    assert_eq!(tool.attr(OUTPUT_VALUE).str(), r#"{"status":"shipped"}"#);
    assert_eq!(
        tool.attr(sc::genai::TOOL_CALL_RESULT).str(),
        r#"{"status":"shipped"}"#
    );
    assert_eq!(tts.attr(INPUT_VALUE).str(), "It ships today.");
}

/// Checks that the spans of each simulated call give exactly the figures [`SimulatedCall`]
/// promises, by the rules of CONVENTIONS.md section 4.
pub fn check_simulated(all: &[CapturedSpan], calls: &[SimulatedCall]) {
    for call in calls {
        let spans = of_trace(all, &call.trace_id);
        check_call_spans(&spans, &call.call_id, &call.trace_id);
        let root = one(&spans, sc::SPAN_CONVERSATION);
        assert!(root.attrs.contains_key(sc::CALL_END_REASON));
        let turns = children(&spans, root);
        assert_eq!(turns.len(), call.turns.len(), "turns of {}", call.call_id);
        for (span, expected) in turns.iter().zip(&call.turns) {
            assert_eq!(span.attr(sc::TURN_INDEX).int(), i64::from(expected.index));
            let stages = children(&spans, span);
            let first_ttfb = |name: &str| {
                stages
                    .iter()
                    .find(|s| s.name == name)
                    .map(|s| ms(s.attr(sc::METRICS_TTFB).double()))
            };
            let stt = first_ttfb(sc::SPAN_STT).unwrap_or(0);
            let llm = first_ttfb(sc::SPAN_LLM).expect("llm");
            let tts = first_ttfb(sc::SPAN_TTS).expect("tts");
            assert_eq!(
                (stt, llm, tts),
                (expected.stt_ms, expected.llm_ms, expected.tts_ms)
            );
            let latency = match span.attrs.get(sc::TURN_USER_BOT_LATENCY_SECONDS) {
                Some(v) => Some(ms(v.double())),
                None if expected.user_text.is_none() => None,
                None => Some(stt + llm + tts),
            };
            assert_eq!(
                latency, expected.latency_ms,
                "latency of turn {}",
                expected.index
            );
            assert_eq!(
                span.attrs
                    .get(sc::TURN_USER_TEXT)
                    .map(|v| v.str().to_string()),
                expected.user_text
            );
            assert_eq!(span.attr(sc::TURN_AGENT_TEXT).str(), expected.agent_text);
            assert_eq!(
                span.attrs[sc::TURN_WAS_INTERRUPTED],
                Val::Bool(expected.interrupted)
            );
            if expected.interrupted {
                span.event(sc::EVENT_INTERRUPTION);
            }
            let tools: Vec<String> = stages
                .iter()
                .filter(|s| s.name == sc::SPAN_TOOL_CALL)
                .map(|s| s.attr(sc::GEN_AI_TOOL_NAME).str().to_string())
                .collect();
            assert_eq!(tools, expected.tools);
        }
    }
}

/// The number of spans a simulated call emits: conversation, the greeting (turn, llm, tts),
/// and per exchange turn + stt + llm + tts, plus a tool_call and a second llm on the tool one.
pub fn simulated_span_count(calls: &[SimulatedCall]) -> usize {
    calls
        .iter()
        .map(|c| {
            1 + 3
                + c.turns
                    .iter()
                    .skip(1)
                    .map(|t| 4 + 2 * t.tools.len())
                    .sum::<usize>()
        })
        .sum()
}

/// One call written with plain `tracing` only (inside a [`Call`]), the twin of [`helper_call`].
pub fn macro_call(call_id: &str) -> String {
    let call = Call::builder(call_id).agent_id("agent-7").start();
    let _in_call = call.span().enter();
    {
        let turn = tracing::info_span!(
            "turn",
            openinference.span.kind = "CHAIN",
            turn.index = 0i64,
            turn.user.text = "Book a table",
            turn.agent.text = "Done, see you at eight.",
            turn.was_interrupted = false,
        );
        let _in_turn = turn.enter();
        let stt = voicetrace::stt_span!(stt.transcript = "Book a table");
        stt.record(sc::GEN_AI_PROVIDER_NAME, "deepgram");
        stt.record(sc::METRICS_TTFB, 0.15);
        drop(stt);
        plain_llm();
        {
            let tool = voicetrace::tool_span!(
                gen_ai.tool.name = "book_table",
                function.name = "book_table"
            );
            let _t = tool.enter();
            tracing::info!(seats = 2, "booking");
        }
        let tts = tracing::info_span!(
            "tts",
            gen_ai.operation.name = "tts",
            openinference.span.kind = "LLM",
            gen_ai.provider.name = "cartesia",
            tts.provider = "cartesia",
            text = "Done, see you at eight.",
            tts.characters = 23i64,
            metrics.ttfb = Empty,
        );
        voicetrace::instrument::record_ttfb(&tts, d(201));
    }
    drop(_in_call);
    let trace_id = call.trace_id();
    call.end(EndReason::ClientHangup);
    trace_id
}

#[tracing::instrument(
    name = "llm",
    skip_all,
    fields(
        gen_ai.operation.name = "chat",
        openinference.span.kind = "LLM",
        gen_ai.provider.name = "openai",
        gen_ai.request.model = "gpt-4o-mini",
        metrics.ttfb = Empty,
    )
)]
fn plain_llm() {
    tracing::Span::current().record(sc::METRICS_TTFB, 0.333);
}

/// The same call as [`macro_call`], with the typed helpers.
pub fn helper_call(call_id: &str) -> String {
    let call = Call::builder(call_id).agent_id("agent-7").start();
    {
        let turn = call.turn();
        turn.user_text("Book a table")
            .agent_text("Done, see you at eight.");
        let stt = turn.stt();
        stt.set(sc::STT_TRANSCRIPT, "Book a table");
        stt.span().record(sc::GEN_AI_PROVIDER_NAME, "deepgram");
        stt.ttfb(d(150));
        stt.end();
        let llm = turn.llm();
        llm.provider("openai").model("gpt-4o-mini").ttfb(d(333));
        llm.end();
        let tool = turn.tool("book_table");
        {
            let _t = tool.span().enter();
            tracing::info!(seats = 2, "booking");
        }
        tool.end();
        let tts = turn.tts();
        tts.provider("cartesia")
            .text("Done, see you at eight.")
            .ttfb(d(201));
        tts.end();
    }
    let trace_id = call.trace_id();
    call.end(EndReason::ClientHangup);
    trace_id
}

/// A call's spans reduced to what must not depend on how they were written: name, parent
/// name, attributes (but the ids), event names; sorted.
pub fn shape(all: &[CapturedSpan], trace_id: &str) -> Vec<String> {
    let spans = of_trace(all, trace_id);
    let mut out: Vec<String> = spans
        .iter()
        .map(|s| {
            let parent = spans
                .iter()
                .find(|p| p.span_id == s.parent_span_id)
                .map(|p| p.name.as_str())
                .unwrap_or("-");
            let attrs: Vec<String> = s
                .attrs
                .iter()
                .filter(|(k, _)| {
                    ![
                        sc::CONVERSATION_ID,
                        sc::GEN_AI_CONVERSATION_ID,
                        sc::genai::SESSION_ID,
                    ]
                    .contains(&k.as_str())
                })
                .map(|(k, v)| format!("{k}={v:?}"))
                .collect();
            let events: Vec<&str> = s.events.iter().map(|e| e.name.as_str()).collect();
            format!("{parent} > {} {attrs:?} {events:?}", s.name)
        })
        .collect();
    out.sort();
    out
}
