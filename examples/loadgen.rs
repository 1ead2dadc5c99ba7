//! A load generator for OTLP receivers: realistic voice-call span traffic, built directly as
//! OTLP protobuf messages, sent over gRPC or HTTP to any endpoint (voicetrace, rotel, an
//! OpenTelemetry Collector).
//!
//! Each call is a `conversation` root with turns (`turn` → `stt`, `llm`, `tts`, plus optional
//! `tool_call` / second `llm` spans) carrying the attributes of CONVENTIONS.md; its trace id is
//! derived from the call id (section 2). `--calls` calls are open at once: the generator walks
//! them round robin, emitting one whole turn at a time, so a batch mixes the spans of many calls
//! as an agent fleet behind a collector would; a call's root goes last, after its turns, and a
//! finished call is replaced by a new one. Spans are cut into requests of `--batch` spans, sent
//! by `--connections` concurrent senders (one gRPC channel or HTTP connection pool each), and
//! retried with backoff when the receiver says "retry later" (gRPC UNAVAILABLE / RESOURCE_EXHAUSTED,
//! HTTP 429 / 502 / 503 / 504). When the duration or span count is reached, no new call starts;
//! the calls in flight are finished so that every call sent is whole.
//!
//! ```text
//! cargo run --release --example loadgen -- --protocol grpc --endpoint http://127.0.0.1:4317 \
//!     --calls 200 --turns 6 --batch 512 --connections 4 --duration 10
//! ```
//!
//! Prints a human summary and, as its last line, `loadgen_result key=value ...` for scripts
//! (see [`Report::machine_line`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio::sync::mpsc;

use voicetrace::semconv as sc;
use voicetrace::trace_id::trace_id_for_call;

/// OpenTelemetry's resource attribute naming the emitting service (not a voicetrace convention).
const SERVICE_NAME: &str = "service.name";
/// Batches waiting for a sender: enough to keep every sender busy while the generator runs ahead,
/// small enough that the generator cannot run far ahead of what the receiver accepts.
const QUEUE_PER_CONNECTION: usize = 4;
/// First backoff after a "retry later" answer; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(20);
/// Backoff ceiling: a restarted receiver is back within a second or two.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// How to run.
#[derive(Debug, Clone)]
struct Options {
    protocol: Protocol,
    endpoint: String,
    calls: usize,
    turns: u32,
    spans_per_turn: u32,
    batch: usize,
    connections: usize,
    duration: Option<Duration>,
    spans: Option<u64>,
    max_retries: u32,
    gzip: bool,
    prefix: String,
    seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Protocol {
    Grpc,
    Http,
}

const USAGE: &str = "usage: loadgen [--protocol grpc|http] [--endpoint URL] [--calls N] [--turns N]
               [--spans-per-turn N] [--batch N] [--connections N] (--duration SECS | --spans N)
               [--max-retries N] [--gzip] [--prefix P] [--seed N]

  --protocol        grpc (OTLP/gRPC, default) or http (OTLP/HTTP protobuf)
  --endpoint        receiver URL [default: http://127.0.0.1:4317 for grpc, http://127.0.0.1:4318 for
                    http]; for http, /v1/traces is appended unless the URL has a path
  --calls           calls open at once [default: 100]
  --turns           turns per call, the greeting included [default: 6]
  --spans-per-turn  spans per user turn: 4 = turn+stt+llm+tts; more adds tool_call/llm pairs
                    [default: 4]
  --batch           spans per export request [default: 512]
  --connections     concurrent senders [default: 4]
  --duration        stop starting calls after SECS seconds [default: 10]
  --spans           stop starting calls after N spans (instead of --duration)
  --max-retries     retries of a request the receiver asks to retry [default: 20]
  --gzip            gzip-compress gRPC requests
  --prefix          call id prefix [default: random]
  --seed            seed of the figures [default: 1]";

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        protocol: Protocol::Grpc,
        endpoint: String::new(),
        calls: 100,
        turns: 6,
        spans_per_turn: 4,
        batch: 512,
        connections: 4,
        duration: None,
        spans: None,
        max_retries: 20,
        gzip: false,
        prefix: format!("lg-{:08x}-", seed_from_clock() as u32),
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--gzip" => {
                o.gzip = true;
                continue;
            }
            _ => {}
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--protocol" => {
                o.protocol = match value.as_str() {
                    "grpc" => Protocol::Grpc,
                    "http" | "http/protobuf" => Protocol::Http,
                    other => return Err(format!("unknown protocol {other} (grpc or http)")),
                }
            }
            "--endpoint" => o.endpoint = value,
            "--calls" => o.calls = value.parse().map_err(|e| bad(&e))?,
            "--turns" => o.turns = value.parse().map_err(|e| bad(&e))?,
            "--spans-per-turn" => o.spans_per_turn = value.parse().map_err(|e| bad(&e))?,
            "--batch" => o.batch = value.parse().map_err(|e| bad(&e))?,
            "--connections" => o.connections = value.parse().map_err(|e| bad(&e))?,
            "--duration" => {
                o.duration = Some(Duration::from_secs_f64(
                    value.parse::<f64>().map_err(|e| bad(&e))?,
                ))
            }
            "--spans" => o.spans = Some(value.parse().map_err(|e| bad(&e))?),
            "--max-retries" => o.max_retries = value.parse().map_err(|e| bad(&e))?,
            "--prefix" => o.prefix = value,
            "--seed" => o.seed = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if o.calls == 0 || o.batch == 0 || o.connections == 0 || o.turns == 0 {
        return Err("--calls, --turns, --batch and --connections must be at least 1".into());
    }
    if o.spans_per_turn < 4 {
        return Err("--spans-per-turn is at least 4 (turn, stt, llm, tts)".into());
    }
    if o.duration.is_none() && o.spans.is_none() {
        o.duration = Some(Duration::from_secs(10));
    }
    if o.endpoint.is_empty() {
        o.endpoint = match o.protocol {
            Protocol::Grpc => "http://127.0.0.1:4317".into(),
            Protocol::Http => "http://127.0.0.1:4318".into(),
        };
    }
    if o.protocol == Protocol::Http && o.gzip {
        return Err("--gzip is for gRPC only".into());
    }
    Ok(o)
}

fn seed_from_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id())
}

// ---------------------------------------------------------------------------------------------
// Span traffic
// ---------------------------------------------------------------------------------------------

/// A small xorshift generator: the figures need variety, not quality, and the example must not
/// depend on the crate's optional features.
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
    /// call is finished. The root ends no earlier than `now_ns`, when it is generated: a
    /// receiver's call-log latency (root end → call log stored) then counts from when the
    /// agent would have ended the call and exported its root.
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

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
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

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// What the senders saw, shared between them.
#[derive(Default)]
struct Counters {
    spans_ok: AtomicU64,
    requests_ok: AtomicU64,
    retried: AtomicU64,
    failed_requests: AtomicU64,
    lost_spans: AtomicU64,
    rejected_spans: AtomicU64,
}

/// One attempt's outcome.
enum Outcome {
    /// Accepted; the number of spans the receiver rejected (partial success).
    Ok(i64),
    /// The receiver asks to retry later (back-pressure, restart).
    Retry(String),
    /// Refused for good.
    Fail(String),
}

enum Client {
    Grpc(TraceServiceClient<tonic::transport::Channel>),
    Http {
        client: reqwest::Client,
        url: String,
    },
}

impl Client {
    async fn connect(o: &Options) -> Result<Client, String> {
        match o.protocol {
            Protocol::Grpc => {
                let channel = tonic::transport::Endpoint::from_shared(o.endpoint.clone())
                    .map_err(|e| format!("bad endpoint {}: {e}", o.endpoint))?
                    .timeout(Duration::from_secs(30))
                    .connect_lazy();
                let mut client =
                    TraceServiceClient::new(channel).max_encoding_message_size(64 << 20);
                if o.gzip {
                    client = client.send_compressed(tonic::codec::CompressionEncoding::Gzip);
                }
                Ok(Client::Grpc(client))
            }
            Protocol::Http => {
                let base = o.endpoint.trim_end_matches('/');
                let has_path = base.splitn(4, '/').nth(3).is_some_and(|p| !p.is_empty());
                let url = if has_path {
                    base.to_string()
                } else {
                    format!("{base}/v1/traces")
                };
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(30))
                    .build()
                    .map_err(|e| format!("http client: {e}"))?;
                Ok(Client::Http { client, url })
            }
        }
    }

    async fn export(&mut self, request: &ExportTraceServiceRequest) -> Outcome {
        match self {
            Client::Grpc(client) => match client.export(request.clone()).await {
                Ok(answer) => Outcome::Ok(
                    answer
                        .into_inner()
                        .partial_success
                        .map_or(0, |p| p.rejected_spans),
                ),
                Err(status) => {
                    use tonic::Code::*;
                    let message = format!("gRPC {:?}: {}", status.code(), status.message());
                    match status.code() {
                        Unavailable | ResourceExhausted | DeadlineExceeded | Aborted
                        | Cancelled | OutOfRange | DataLoss => Outcome::Retry(message),
                        _ => Outcome::Fail(message),
                    }
                }
            },
            Client::Http { client, url } => {
                let sent = client
                    .post(url.as_str())
                    .header("content-type", "application/x-protobuf")
                    .body(request.encode_to_vec())
                    .send()
                    .await;
                let response = match sent {
                    Ok(r) => r,
                    Err(e) => return Outcome::Retry(format!("HTTP: {e}")),
                };
                let status = response.status().as_u16();
                let body = response.bytes().await.unwrap_or_default();
                match status {
                    200 => Outcome::Ok(
                        ExportTraceServiceResponse::decode(body)
                            .ok()
                            .and_then(|r| r.partial_success)
                            .map_or(0, |p| p.rejected_spans),
                    ),
                    429 | 502 | 503 | 504 => Outcome::Retry(format!("HTTP {status}")),
                    _ => {
                        Outcome::Fail(format!("HTTP {status}: {}", String::from_utf8_lossy(&body)))
                    }
                }
            }
        }
    }
}

/// Sends batches until the channel closes; returns each request's latency in microseconds.
async fn sender(
    mut client: Client,
    batches: Arc<tokio::sync::Mutex<mpsc::Receiver<Vec<Span>>>>,
    counters: Arc<Counters>,
    max_retries: u32,
    errors_shown: Arc<AtomicU64>,
) -> Vec<u32> {
    let mut latencies = Vec::new();
    loop {
        let batch = { batches.lock().await.recv().await };
        let Some(spans) = batch else { break };
        let n = spans.len() as u64;
        let request = request(spans);
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            let started = Instant::now();
            let outcome = client.export(&request).await;
            match outcome {
                Outcome::Ok(rejected) => {
                    latencies.push(started.elapsed().as_micros().min(u128::from(u32::MAX)) as u32);
                    counters.requests_ok.fetch_add(1, Ordering::Relaxed);
                    counters
                        .spans_ok
                        .fetch_add(n - (rejected.max(0) as u64).min(n), Ordering::Relaxed);
                    counters
                        .rejected_spans
                        .fetch_add(rejected.max(0) as u64, Ordering::Relaxed);
                    break;
                }
                Outcome::Retry(message) if attempt < max_retries => {
                    counters.retried.fetch_add(1, Ordering::Relaxed);
                    if errors_shown.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("loadgen: retrying after {message}");
                    }
                    attempt += 1;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
                Outcome::Retry(message) | Outcome::Fail(message) => {
                    if errors_shown.fetch_add(1, Ordering::Relaxed) < 5 {
                        eprintln!("loadgen: request failed: {message}");
                    }
                    counters.failed_requests.fetch_add(1, Ordering::Relaxed);
                    counters.lost_spans.fetch_add(n, Ordering::Relaxed);
                    break;
                }
            }
        }
    }
    latencies
}

/// Generates every call's spans into batches until the limit, then finishes open calls.
fn generate(o: &Options, tx: mpsc::Sender<Vec<Span>>, started: Instant) -> (u64, u64) {
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
            let batch = std::mem::replace(&mut pending, rest);
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
        let _ = tx.blocking_send(pending);
    }
    (generated, calls_finished)
}

/// The run's figures.
struct Report {
    protocol: Protocol,
    batch: usize,
    spans_generated: u64,
    calls: u64,
    elapsed: Duration,
    spans_ok: u64,
    requests_ok: u64,
    retried: u64,
    failed_requests: u64,
    lost_spans: u64,
    rejected_spans: u64,
    p50_ms: f64,
    p99_ms: f64,
}

impl Report {
    fn spans_per_second(&self) -> f64 {
        self.spans_ok as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// `loadgen_result` followed by space-separated `key=value` pairs, no spaces in values.
    fn machine_line(&self) -> String {
        format!(
            "loadgen_result protocol={} batch={} spans_generated={} spans_ok={} calls={} requests={} \
             elapsed_s={:.3} spans_per_s={:.0} retried={} failed_requests={} lost_spans={} \
             rejected_spans={} p50_ms={:.3} p99_ms={:.3}",
            match self.protocol {
                Protocol::Grpc => "grpc",
                Protocol::Http => "http",
            },
            self.batch,
            self.spans_generated,
            self.spans_ok,
            self.calls,
            self.requests_ok,
            self.elapsed.as_secs_f64(),
            self.spans_per_second(),
            self.retried,
            self.failed_requests,
            self.lost_spans,
            self.rejected_spans,
            self.p50_ms,
            self.p99_ms,
        )
    }
}

fn percentile_ms(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let rank = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted_us[rank]) / 1000.0
}

#[tokio::main]
async fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    println!(
        "loadgen: {} → {}, {} calls open at once × {} turns ({} spans per user turn), batches of {}, {} connections, {}",
        if o.protocol == Protocol::Grpc { "OTLP/gRPC" } else { "OTLP/HTTP protobuf" },
        o.endpoint,
        o.calls,
        o.turns,
        o.spans_per_turn,
        o.batch,
        o.connections,
        match (o.duration, o.spans) {
            (_, Some(n)) => format!("{n} spans"),
            (Some(d), None) => format!("{:.1} s", d.as_secs_f64()),
            (None, None) => String::new(),
        }
    );
    let (tx, rx) = mpsc::channel::<Vec<Span>>(o.connections * QUEUE_PER_CONNECTION);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let counters = Arc::new(Counters::default());
    let errors_shown = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..o.connections {
        let client = match Client::connect(&o).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        };
        senders.push(tokio::spawn(sender(
            client,
            rx.clone(),
            counters.clone(),
            o.max_retries,
            errors_shown.clone(),
        )));
    }
    let started = Instant::now();
    let generator = {
        let o = o.clone();
        tokio::task::spawn_blocking(move || generate(&o, tx, started))
    };
    let (spans_generated, calls) = generator.await.unwrap_or((0, 0));
    let mut latencies = Vec::new();
    for s in senders {
        latencies.extend(s.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let c = &counters;
    let report = Report {
        protocol: o.protocol,
        batch: o.batch,
        spans_generated,
        calls,
        elapsed,
        spans_ok: c.spans_ok.load(Ordering::Relaxed),
        requests_ok: c.requests_ok.load(Ordering::Relaxed),
        retried: c.retried.load(Ordering::Relaxed),
        failed_requests: c.failed_requests.load(Ordering::Relaxed),
        lost_spans: c.lost_spans.load(Ordering::Relaxed),
        rejected_spans: c.rejected_spans.load(Ordering::Relaxed),
        p50_ms: percentile_ms(&latencies, 0.5),
        p99_ms: percentile_ms(&latencies, 0.99),
    };
    println!(
        "sent {} spans ({} calls) in {:.2} s: {:.0} spans/s accepted, {} requests (latency p50 {:.2} ms, p99 {:.2} ms)",
        report.spans_ok,
        report.calls,
        elapsed.as_secs_f64(),
        report.spans_per_second(),
        report.requests_ok,
        report.p50_ms,
        report.p99_ms
    );
    println!(
        "errors: {} retried (receiver asked to retry), {} requests failed ({} spans lost), {} spans rejected",
        report.retried, report.failed_requests, report.lost_spans, report.rejected_spans
    );
    println!("{}", report.machine_line());
    if report.failed_requests > 0 {
        std::process::exit(1);
    }
}
