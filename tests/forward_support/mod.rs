//! Shared by the forward tests: ingest endpoints (axum on 127.0.0.1) that record what they
//! receive and answer from a script, sample call logs, the Cekura `CreateCallLog` schema loaded
//! from the published OpenAPI document, and waiting with a deadline.
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::sync::{mpsc, watch};
use voicetrace::receiver::calllog::{
    CallLog, CallMetrics, CallStarted, CallStatus, CallUpdate, Dialect, Issue, Links, Stage,
    ToolExecution, Turn, TurnCompleted,
};
use voicetrace::receiver::forward::{
    CekuraConfig, Forwarder, RetryPolicy, SecretConfig, SinkConfig, SinkKind, WebhookConfig,
};
use voicetrace::receiver::store::Store;

/// Every wait in these tests ends by this deadline (generous: CI machines are slow); a test
/// that reaches it fails with what it was waiting for.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// A request the endpoint received.
#[derive(Debug, Clone)]
pub struct Received {
    /// The path.
    pub path: String,
    /// The headers.
    pub headers: HeaderMap,
    /// The body as JSON (`Value::Null` when it is not JSON).
    pub json: Value,
}

impl Received {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How the endpoint answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// This status with an empty JSON body.
    Status(u16),
    /// This status, with headers and a body.
    Full(u16, Vec<(&'static str, String)>, String),
    /// This status, the body echoing the value of a request header (an endpoint that puts the
    /// API key in its error message).
    EchoHeader(u16, &'static str),
    /// Hold the request until [`Endpoint::release`], then answer 200.
    Hang,
}

struct EndpointState {
    received: mpsc::UnboundedSender<Received>,
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    released: watch::Receiver<bool>,
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

/// An ingest endpoint over real HTTP.
pub struct Endpoint {
    /// Its address.
    pub addr: SocketAddr,
    state: Arc<EndpointState>,
    rx: tokio::sync::Mutex<mpsc::UnboundedReceiver<Received>>,
    release: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn handle(
    State(state): State<Arc<EndpointState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = state.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    state.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let reply = {
        let next = state.script.lock().unwrap().pop_front();
        next.unwrap_or_else(|| state.default.lock().unwrap().clone())
    };
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let _ = state.received.send(Received {
        path: uri.path().to_string(),
        headers: headers.clone(),
        json,
    });
    let response = match reply {
        Reply::Status(code) => (StatusCode::from_u16(code).unwrap(), "{}").into_response(),
        Reply::Full(code, extra, body) => {
            let mut r = (StatusCode::from_u16(code).unwrap(), body).into_response();
            for (name, value) in extra {
                r.headers_mut().insert(name, value.parse().unwrap());
            }
            r
        }
        Reply::EchoHeader(code, name) => {
            let value = headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            let body = format!("{{\"detail\":\"invalid key {value} for this agent\"}}");
            (StatusCode::from_u16(code).unwrap(), body).into_response()
        }
        Reply::Hang => {
            let mut released = state.released.clone();
            let _ = released.wait_for(|r| *r).await;
            (StatusCode::OK, "{}").into_response()
        }
    };
    state.in_flight.fetch_sub(1, Ordering::SeqCst);
    response
}

impl Endpoint {
    /// An endpoint on a fresh port answering `default` unless scripted otherwise.
    pub async fn start(default: Reply) -> Endpoint {
        Endpoint::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), default).await
    }

    /// An endpoint on `addr` (retrying the bind for a while: the port was just released).
    pub async fn start_on(addr: SocketAddr, default: Reply) -> Endpoint {
        let listener = wait_for("the endpoint's port to be free", || async move {
            tokio::net::TcpListener::bind(addr).await.ok()
        })
        .await;
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let (release, released) = watch::channel(false);
        let state = Arc::new(EndpointState {
            received: tx,
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
            released,
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Endpoint {
            addr,
            state,
            rx: tokio::sync::Mutex::new(rx),
            release,
            server,
        }
    }

    /// Its base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The next requests are answered with these replies, in order.
    pub fn script(&self, replies: impl IntoIterator<Item = Reply>) {
        self.state.script.lock().unwrap().extend(replies);
    }

    /// Requests not scripted are answered with this.
    pub fn set_default(&self, reply: Reply) {
        *self.state.default.lock().unwrap() = reply;
    }

    /// Lets every held request (and every later one) through.
    pub fn release(&self) {
        let _ = self.release.send(true);
    }

    /// The most requests it held at once.
    pub fn max_in_flight(&self) -> usize {
        self.state.max_in_flight.load(Ordering::SeqCst)
    }

    /// The next request received, waiting up to [`DEADLINE`].
    pub async fn next(&self) -> Received {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(DEADLINE, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no request at {} within {DEADLINE:?}", self.addr))
            .expect("endpoint running")
    }

    /// The next `n` requests.
    pub async fn take(&self, n: usize) -> Vec<Received> {
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(self.next().await);
        }
        out
    }

    /// Requests received and not yet taken (does not wait).
    pub async fn drain_now(&self) -> Vec<Received> {
        let mut rx = self.rx.lock().await;
        let mut out = Vec::new();
        while let Ok(r) = rx.try_recv() {
            out.push(r);
        }
        out
    }
}

/// A port nothing listens on (bound, then released): connections to it are refused, like an
/// ingest endpoint that is down.
pub fn down_address() -> SocketAddr {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    listener.local_addr().unwrap()
}

/// Polls `f` until it yields a value, up to [`DEADLINE`] (for conditions nothing signals, like
/// a store count).
pub async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Waits until the store says `sink` delivered `n` entries and holds none pending.
pub async fn wait_delivered(store: &Store, sink: &str, n: u64) {
    wait_for(&format!("{n} deliveries to {sink}"), || async move {
        let stats = store.sink_stats().unwrap();
        let s = stats.iter().find(|s| s.name == sink)?;
        (s.delivered == n && s.pending == 0 && s.retrying == 0).then_some(())
    })
    .await
}

/// Retries in milliseconds, so tests run fast.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_backoff_ms: 20,
        max_backoff_ms: 200,
        multiplier: 2.0,
        jitter: 0.2,
        max_attempts: 0,
        max_age_ms: 0,
    }
}

/// The API key the cekura tests use (from a file, never the environment: tests run in
/// parallel threads).
pub const API_KEY: &str = "ck_test_6f1d2c3b4a5e";
/// The webhook secret the webhook tests use.
pub const WEBHOOK_SECRET: &str = "whsec_test_9a8b7c6d";

/// A sink of `kind` to `target`, fast retries, and the secret (if any) in a file under `dir`.
pub fn sink(kind: SinkKind, target: &str, secret: Option<&str>, dir: &Path) -> SinkConfig {
    let mut c = SinkConfig::new(kind, target);
    c.shared_mut().retry = fast_retry();
    c.shared_mut().timeout_ms = 5_000;
    if let Some(secret) = secret {
        let path = dir.join(format!("{}.secret", kind.as_str()));
        std::fs::write(&path, format!("{secret}\n")).unwrap();
        secret_config(&mut c).secret_file = Some(path);
    }
    c
}

/// Where the secret of a sink comes from (a jsonl sink has none).
pub fn secret_config(c: &mut SinkConfig) -> &mut SecretConfig {
    match c {
        SinkConfig::Cekura(c) => &mut c.secret,
        SinkConfig::Webhook(c) => &mut c.secret,
        SinkConfig::Http(c) => &mut c.secret,
        other => panic!("no secret on {other:?}"),
    }
}

/// The settings of a cekura sink.
pub fn cekura(c: &mut SinkConfig) -> &mut CekuraConfig {
    match c {
        SinkConfig::Cekura(c) => c,
        other => panic!("not a cekura sink: {other:?}"),
    }
}

/// The settings of a webhook sink.
pub fn webhook(c: &mut SinkConfig) -> &mut WebhookConfig {
    match c {
        SinkConfig::Webhook(c) => c,
        other => panic!("not a webhook sink: {other:?}"),
    }
}

/// Opens the store in `dir` and starts a forwarder with `sinks`.
pub fn start(dir: &Path, sinks: Vec<SinkConfig>) -> (Store, Forwarder) {
    let store = Store::open(&dir.join("data")).unwrap();
    let forwarder = Forwarder::start(store.clone(), sinks).unwrap();
    (store, forwarder)
}

/// Records updates on the blocking pool, as the server does.
pub async fn record(forwarder: &Forwarder, updates: Vec<CallUpdate>) {
    let f = forwarder.clone();
    tokio::task::spawn_blocking(move || {
        for u in &updates {
            f.record(u).unwrap();
        }
    })
    .await
    .unwrap();
}

fn turn(index: u32, user: Option<&str>, agent: &str, start_ms: i64, end_ms: i64) -> Turn {
    Turn {
        index,
        speaker: if user.is_some() { "user" } else { "agent" }.into(),
        text: Some(agent.into()),
        user_text: user.map(str::to_string),
        start_ms,
        end_ms,
        stt_ms: Some(if user.is_some() { 210 } else { 0 }),
        llm_ms: Some(430),
        tts_ms: Some(180),
        latency_ms: user.map(|_| 920),
        endpointing_ms: None,
        stt_duration_ms: user.map(|_| 260),
        llm_duration_ms: Some(600),
        tts_duration_ms: Some(350),
        tool_ms: None,
        interrupted: false,
        interruption: None,
        tools: vec![],
        timing_source: BTreeMap::new(),
        providers: BTreeMap::new(),
        llm_input_tokens: Some(120),
        llm_output_tokens: Some(24),
        tts_characters: Some(agent.len() as i64),
        errors: vec![],
    }
}

/// A call log as assembly would produce it: a greeting, a turn with a tool call, a plain turn;
/// metadata, a caller number, a recording, one issue.
pub fn sample_log(call_id: &str, revision: u32) -> CallLog {
    let mut tool_turn = turn(
        1,
        Some("Where is my order 42?"),
        "It ships tomorrow.",
        3_000,
        7_500,
    );
    tool_turn.tools.push(ToolExecution {
        name: "lookup_order".into(),
        input: Some("{\"order_id\":42}".into()),
        output: Some("{\"status\":\"packed\"}".into()),
        start_ms: 3_300,
        duration_ms: 250,
        error: None,
    });
    tool_turn.tool_ms = Some(250);
    let mut metadata = BTreeMap::new();
    metadata.insert("customer_id".to_string(), Value::from("cust_123"));
    CallLog {
        id: call_id.into(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        revision,
        dialect: Dialect::Voicetrace,
        agent_id: Some("agent_support".into()),
        agent_name: Some("Support".into()),
        service_name: Some("voice-agent".into()),
        status: CallStatus::Completed,
        end_reason: Some("client_hangup".into()),
        started_at: "2026-03-21T10:00:00.000Z".into(),
        ended_at: "2026-03-21T10:00:12.500Z".into(),
        direction: Some("inbound".into()),
        from: Some("+14155551234".into()),
        to: Some("+14155550000".into()),
        recording_url: Some("https://example.com/recordings/call.mp3".into()),
        metadata,
        turns: vec![
            turn(0, None, "Hello! How can I help?", 0, 1_800),
            tool_turn,
            turn(2, Some("Thanks, bye."), "Goodbye!", 8_000, 12_000),
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
        events: vec![],
        logs: vec![],
        custom_metrics: BTreeMap::new(),
        links: Links {
            trace: Some("http://localhost:16686/trace/4bf92f3577b34da6a3ce929d0e0e4736".into()),
        },
        span_count: 17,
    }
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

/// Cekura's `CreateCallLog` schema from `tests/fixtures/reference/cekura-send-calls-openapi.md`:
/// the document's YAML, `components.schemas.CreateCallLog` with every `$ref` resolved into the
/// components.
pub fn cekura_schema() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/reference/cekura-send-calls-openapi.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let start = doc.find("````yaml").expect("a ````yaml block");
    let yaml = &doc[start..];
    let yaml = &yaml[yaml.find('\n').unwrap() + 1..];
    let yaml = &yaml[..yaml.find("\n````").expect("the block's end")];
    let openapi: Value = serde_yaml::from_str(yaml).unwrap();
    let components = openapi["components"]["schemas"].clone();
    let schema = components["CreateCallLog"].clone();
    assert!(schema.is_object(), "CreateCallLog in the document");
    resolve_refs(schema, &components, 0)
}

fn resolve_refs(value: Value, components: &Value, depth: usize) -> Value {
    assert!(depth < 32, "$ref cycle");
    match value {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                let name = r
                    .strip_prefix("#/components/schemas/")
                    .unwrap_or_else(|| panic!("unsupported $ref {r}"));
                return resolve_refs(components[name].clone(), components, depth + 1);
            }
            Value::Object(
                map.into_iter()
                    .map(|(k, v)| (k, resolve_refs(v, components, depth + 1)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| resolve_refs(v, components, depth + 1))
                .collect(),
        ),
        other => other,
    }
}

/// Validates bodies against `CreateCallLog` (formats checked too), and what the schema says
/// only in words: no field the schema does not define, no read-only field, the cekura
/// transcript's roles.
pub struct CekuraValidator {
    validator: jsonschema::Validator,
    properties: Vec<String>,
}

impl CekuraValidator {
    /// Builds the validator from the reference document.
    pub fn new() -> CekuraValidator {
        let schema = cekura_schema();
        let properties = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&schema)
            .expect("CreateCallLog is a valid JSON Schema");
        CekuraValidator {
            validator,
            properties,
        }
    }

    /// Panics with every violation.
    pub fn check(&self, body: &Value) {
        let errors = self.violations(body);
        assert!(
            errors.is_empty(),
            "CreateCallLog violations: {errors:#?}\n{body:#}"
        );
    }

    /// Every violation of a body.
    pub fn violations(&self, body: &Value) -> Vec<String> {
        let mut errors: Vec<String> = self
            .validator
            .iter_errors(body)
            .map(|e| format!("{} at {}", e, e.instance_path))
            .collect();
        let Some(fields) = body.as_object() else {
            errors.push("not an object".into());
            return errors;
        };
        for key in fields.keys() {
            if !self.properties.contains(key) {
                errors.push(format!("field {key:?} is not in CreateCallLog"));
            }
            if key == "id" {
                errors.push("`id` is read-only".into());
            }
        }
        if body.get("agent").is_none() && body.get("assistant_id").is_none() {
            errors.push("agent or assistant_id is required".into());
        }
        if body["transcript_type"] == "cekura" {
            for u in body["transcript_json"].as_array().into_iter().flatten() {
                let role = u["role"].as_str().unwrap_or("");
                if ![
                    "Main Agent",
                    "Testing Agent",
                    "Function Call",
                    "Function Call Result",
                ]
                .contains(&role)
                {
                    errors.push(format!(
                        "role {role:?} is not valid for transcript_type cekura"
                    ));
                }
                let (start, end) = (u["start_time"].as_f64(), u["end_time"].as_f64());
                if !u["content"].is_string() || start.is_none() || end.is_none() || start > end {
                    errors.push(format!("malformed utterance {u}"));
                }
            }
        }
        errors
    }
}
