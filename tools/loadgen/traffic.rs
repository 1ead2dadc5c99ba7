//! Span traffic: every call's spans, built directly as OTLP protobuf messages, cut into
//! batches for the senders.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span};
use tokio::sync::mpsc;
use voicetrace::semconv as sc;
use voicetrace::trace_id::trace_id_for_call;

use crate::args::Options;

/// OpenTelemetry's resource attribute naming the emitting service (not a voicetrace convention).
const SERVICE_NAME: &str = "service.name";

/// A small xorshift generator: the figures need variety, not quality, and the tool needs no
/// random-number crate for them.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// Whole milliseconds around `mean`, ±30 %.
    fn ms_around(&mut self, mean: u64) -> u64 {
        let spread = mean * 6 / 10;
        (mean - mean * 3 / 10 + self.next() % (spread + 1)).max(1)
    }
}

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn s(key: &str, value: &str) -> KeyValue {
    kv(key, any_value::Value::StringValue(value.to_string()))
}

fn i(key: &str, value: i64) -> KeyValue {
    kv(key, any_value::Value::IntValue(value))
}

fn f(key: &str, value: f64) -> KeyValue {
    kv(key, any_value::Value::DoubleValue(value))
}

fn b(key: &str, value: bool) -> KeyValue {
    kv(key, any_value::Value::BoolValue(value))
}

const MS: u64 = 1_000_000;
/// About how long a generated turn lasts (user speech, stages, agent speech, pause).
const TURN_NS: u64 = 5_000 * MS;
const LINES: &[(&str, &str)] = &[
    (
        "I'd like to check on my order.",
        "Sure, what's the order number?",
    ),
    (
        "It's A-1042.",
        "Order A-1042 shipped yesterday and arrives Thursday.",
    ),
    (
        "Can I change the delivery address?",
        "Yes, what's the new address?",
    ),
    (
        "Twelve Market Street.",
        "Done: it goes to 12 Market Street.",
    ),
    ("That's all, thanks.", "You're welcome, have a good day!"),
];
const GREETING: &str = "Hello! Thanks for calling Acme support. How can I help?";

/// One call being generated, turn by turn.
struct CallGen {
    call_id: String,
    trace_id: Vec<u8>,
    root_span_id: Vec<u8>,
    start_ns: u64,
    /// Where the next turn starts.
    cursor_ns: u64,
    next_turn: u32,
}

/// Builds every call's spans.
struct Traffic {
    turns: u32,
    spans_per_turn: u32,
    prefix: String,
    calls_started: u64,
    next_span_id: u64,
    rng: Rng,
}

impl Traffic {
    fn span_id(&mut self) -> Vec<u8> {
        self.next_span_id += 1;
        self.next_span_id.to_be_bytes().to_vec()
    }

    /// A new call, placed in the past so that its spans have ended by the time they are sent
    /// (as an exporter sends them): a turn lasts about [`TURN_NS`].
    fn new_call(&mut self, now_ns: u64) -> CallGen {
        let call_id = format!("{}{}", self.prefix, self.calls_started);
        self.calls_started += 1;
        let now_ns = now_ns.saturating_sub(u64::from(self.turns + 1) * TURN_NS);
        CallGen {
            trace_id: trace_id_for_call(&call_id).to_vec(),
            root_span_id: self.span_id(),
            call_id,
            start_ns: now_ns,
            cursor_ns: now_ns + 300 * MS,
            next_turn: 0,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        call: &CallGen,
        parent: &[u8],
        name: &str,
        kind: SpanKind,
        start_ns: u64,
        end_ns: u64,
        mut attributes: Vec<KeyValue>,
    ) -> Span {
        attributes.push(s(sc::CONVERSATION_ID, &call.call_id));
        Span {
            trace_id: call.trace_id.clone(),
            span_id: self.span_id(),
            parent_span_id: parent.to_vec(),
            name: name.to_string(),
            kind: kind as i32,
            start_time_unix_nano: start_ns,
            end_time_unix_nano: end_ns,
            attributes,
            ..Default::default()
        }
    }

    /// Appends the call's next turn (or, after the last turn, its root) to `out`; true when the
    /// call is finished. The root ends no earlier than `now_ns`, when it is generated, and no
    /// earlier than when its batch is sent ([`end_roots_at`]): a receiver's call-log latency
    /// (root end → call log stored) then counts from when the agent would have ended the call
    /// and exported its root.
    fn next(&mut self, call: &mut CallGen, out: &mut Vec<Span>, now_ns: u64) -> bool {
        if call.next_turn == self.turns {
            let end = (call.cursor_ns + 500 * MS).max(now_ns);
            let mut root = self.span(
                call,
                &[],
                sc::SPAN_CONVERSATION,
                SpanKind::Server,
                call.start_ns,
                end,
                vec![
                    s(sc::CONVERSATION_TYPE, sc::CONVERSATION_TYPE_VOICE),
                    s(sc::GEN_AI_CONVERSATION_ID, &call.call_id),
                    s(sc::GEN_AI_AGENT_ID, "loadgen-agent"),
                    s(sc::GEN_AI_AGENT_NAME, "Load generator support agent"),
                    s(sc::CALL_DIRECTION, "inbound"),
                    s(sc::CALL_FROM, "+15550100"),
                    s(sc::CALL_TO, "+15550199"),
                    s(sc::CALL_END_REASON, "client_hangup"),
                ],
            );
            root.span_id = call.root_span_id.clone();
            out.push(root);
            return true;
        }
        let index = call.next_turn;
        call.next_turn += 1;
        let turn_id = self.span_id();
        let turn_start = call.cursor_ns;
        let mut children = Vec::with_capacity(self.spans_per_turn as usize);
        let (user_text, agent_text) = LINES[(index as usize) % LINES.len()];
        let greeting = index == 0;
        let user_end = turn_start + if greeting { 0 } else { 1_500 * MS };

        let stt_ms = if greeting { 0 } else { self.rng.ms_around(180) };
        if !greeting {
            let attrs = vec![
                s(sc::GEN_AI_OPERATION_NAME, sc::OP_STT),
                s(sc::GEN_AI_PROVIDER_NAME, "deepgram"),
                s(sc::GEN_AI_REQUEST_MODEL, "nova-3"),
                s(sc::STT_PROVIDER, "deepgram"),
                s(sc::STT_TRANSCRIPT, user_text),
                f(sc::STT_CONFIDENCE, 0.94),
                b(sc::STT_IS_FINAL, true),
                s(sc::LANGUAGE, "en-US"),
                f(sc::METRICS_TTFB, stt_ms as f64 / 1000.0),
            ];
            let span = self.span(
                call,
                &turn_id,
                sc::SPAN_STT,
                SpanKind::Client,
                turn_start,
                user_end + stt_ms * MS,
                attrs,
            );
            children.push(span);
        }
        let mut at = user_end + stt_ms * MS;
        // Extra spans beyond turn+stt+llm+tts: (tool_call, llm) pairs, the llm asking for a tool
        // and answering after it.
        let extra = if greeting {
            0
        } else {
            self.spans_per_turn.saturating_sub(4)
        };
        let mut llm_ms_first = None;
        for k in 0..=(extra / 2) {
            let llm_ms = self.rng.ms_around(450);
            llm_ms_first.get_or_insert(llm_ms);
            let attrs = vec![
                s(sc::GEN_AI_OPERATION_NAME, sc::OP_CHAT),
                s(sc::GEN_AI_PROVIDER_NAME, "openai"),
                s(sc::GEN_AI_REQUEST_MODEL, "gpt-4o-mini"),
                s(sc::GEN_AI_RESPONSE_MODEL, "gpt-4o-mini-2024-07-18"),
                i(sc::GEN_AI_USAGE_INPUT_TOKENS, 850 + i64::from(index) * 40),
                i(sc::GEN_AI_USAGE_OUTPUT_TOKENS, 24),
                s(
                    sc::GEN_AI_RESPONSE_FINISH_REASONS,
                    if k < extra / 2 { "tool_calls" } else { "stop" },
                ),
                f(sc::METRICS_TTFB, llm_ms as f64 / 1000.0),
            ];
            let end = at + (llm_ms + 250) * MS;
            let span = self.span(
                call,
                &turn_id,
                sc::SPAN_LLM,
                SpanKind::Client,
                at,
                end,
                attrs,
            );
            children.push(span);
            at = end;
            if k < extra / 2 || (k == extra / 2 && extra % 2 == 1) {
                let tool_ms = self.rng.ms_around(120);
                let attrs = vec![
                    s(sc::GEN_AI_OPERATION_NAME, sc::OP_EXECUTE_TOOL),
                    s(sc::GEN_AI_TOOL_NAME, "lookup_order"),
                    s(sc::FUNCTION_NAME, "lookup_order"),
                    s(sc::FUNCTION_INPUT, r#"{"order_id":"A-1042"}"#),
                    s(
                        sc::FUNCTION_OUTPUT,
                        r#"{"status":"shipped","eta":"Thursday"}"#,
                    ),
                ];
                let end = at + tool_ms * MS;
                let span = self.span(
                    call,
                    &turn_id,
                    sc::SPAN_TOOL_CALL,
                    SpanKind::Internal,
                    at,
                    end,
                    attrs,
                );
                children.push(span);
                at = end;
            }
        }
        let llm_ms = llm_ms_first.unwrap_or(0);
        let tts_ms = self.rng.ms_around(220);
        let agent_text = if greeting { GREETING } else { agent_text };
        let attrs = vec![
            s(sc::GEN_AI_OPERATION_NAME, sc::OP_TTS),
            s(sc::GEN_AI_PROVIDER_NAME, "cartesia"),
            s(sc::GEN_AI_REQUEST_MODEL, "sonic-2"),
            s(sc::TTS_PROVIDER, "cartesia"),
            s(sc::TTS_VOICE, "support-voice"),
            i(sc::TTS_CHARACTERS, agent_text.len() as i64),
            s(sc::TEXT, agent_text),
            f(sc::METRICS_TTFB, tts_ms as f64 / 1000.0),
            b(sc::TTS_INTERRUPTED, false),
        ];
        let tts_start = at;
        let tts_end = tts_start + (tts_ms + 1_800) * MS;
        let span = self.span(
            call,
            &turn_id,
            sc::SPAN_TTS,
            SpanKind::Client,
            tts_start,
            tts_end,
            attrs,
        );
        children.push(span);

        let mut attrs = vec![
            i(sc::TURN_INDEX, i64::from(index)),
            s(sc::TURN_AGENT_TEXT, agent_text),
            b(sc::TURN_WAS_INTERRUPTED, false),
        ];
        if !greeting {
            attrs.push(s(sc::TURN_USER_TEXT, user_text));
            // Real turns take longer than their stages add up to.
            let v2v = stt_ms + llm_ms + tts_ms + 60;
            attrs.push(f(sc::TURN_USER_BOT_LATENCY_SECONDS, v2v as f64 / 1000.0));
        }
        let mut turn = self.span(
            call,
            &call.root_span_id,
            sc::SPAN_TURN,
            SpanKind::Internal,
            turn_start,
            tts_end,
            attrs,
        );
        turn.span_id = turn_id;
        out.append(&mut children);
        out.push(turn);
        call.cursor_ns = tts_end + 400 * MS;
        false
    }
}

pub(crate) fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![s(SERVICE_NAME, "voice-agent-loadgen")],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "voicetrace-loadgen".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Waits until `sent` spans are due at `rate` spans per second since `started` (open-loop
/// pacing: the generator offers a fixed load whatever the receiver's answers).
fn pace(started: Instant, sent: u64, rate: f64) {
    let due = started + Duration::from_secs_f64(sent as f64 / rate);
    let now = Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// Generates every call's spans into batches until the limit, then finishes open calls.
pub(crate) fn generate(o: &Options, tx: mpsc::Sender<Vec<Span>>, started: Instant) -> (u64, u64) {
    let mut traffic = Traffic {
        turns: o.turns,
        spans_per_turn: o.spans_per_turn,
        prefix: o.prefix.clone(),
        calls_started: 0,
        next_span_id: o.seed << 40,
        rng: Rng(o.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
    };
    let now_ns = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    };
    let mut open: Vec<CallGen> = (0..o.calls).map(|_| traffic.new_call(now_ns())).collect();
    let mut pending: Vec<Span> = Vec::with_capacity(o.batch * 2);
    let mut generated: u64 = 0;
    let mut stopping = false;
    let mut next = 0usize;
    let mut calls_finished = 0u64;
    while !open.is_empty() {
        if next >= open.len() {
            next = 0;
        }
        if let Some(rate) = o.rate {
            pace(started, generated, rate);
        }
        let before = pending.len();
        let finished = traffic.next(&mut open[next], &mut pending, now_ns());
        generated += (pending.len() - before) as u64;
        if finished {
            calls_finished += 1;
            if stopping {
                open.swap_remove(next);
            } else {
                open[next] = traffic.new_call(now_ns());
                next += 1;
            }
        } else {
            next += 1;
        }
        while pending.len() >= o.batch {
            let rest = pending.split_off(o.batch);
            let mut batch = std::mem::replace(&mut pending, rest);
            end_roots_at(&mut batch, now_ns());
            if tx.blocking_send(batch).is_err() {
                return (generated, calls_finished);
            }
            if !stopping {
                stopping = o.duration.is_some_and(|d| started.elapsed() >= d)
                    || o.spans.is_some_and(|n| generated >= n);
            }
        }
    }
    if !pending.is_empty() {
        end_roots_at(&mut pending, now_ns());
        let _ = tx.blocking_send(pending);
    }
    (generated, calls_finished)
}

/// Ends the roots of a batch about to be sent no earlier than `now_ns`: an agent exports a
/// call's root when the call ends, so the latency a receiver is measured by (root end → call
/// log stored) starts when the root leaves, not while it waited here for its batch to fill
/// (up to batch / rate seconds: 51 ms for 512 spans at 10 000 spans per second).
fn end_roots_at(batch: &mut [Span], now_ns: u64) {
    for span in batch.iter_mut().filter(|s| s.parent_span_id.is_empty()) {
        span.end_time_unix_nano = span.end_time_unix_nano.max(now_ns);
    }
}
