//! Shared by the API tests: hand-built call logs, an in-memory `CallReader`, and the API served
//! on 127.0.0.1:0.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use voicetrace::receiver::analyze::{analyze, AnalysisConfig};
use voicetrace::receiver::api::params::parse_time;
use voicetrace::receiver::api::{router, ApiState, CallReader, FoundCall, ReadError};
use voicetrace::receiver::calllog::{
    CallLog, CallMetrics, CallPage, CallQuery, CallStatus, Dialect, Interruption, Links,
    SameIdCall, Stage, StageProvider, ToolExecution, Turn,
};
use voicetrace::receiver::telemetry::Telemetry;

/// The trace link template the tests serve with.
pub const TEMPLATE: &str = "http://jaeger.test/trace/{trace_id}?call={call_id}";

/// A turn with the given stage figures.
pub fn turn(index: u32, stt: i64, llm: i64, tts: i64, latency: Option<i64>) -> Turn {
    Turn {
        index,
        speaker: if latency.is_some() { "user" } else { "agent" }.to_string(),
        text: Some(format!("agent reply {index}")),
        user_text: latency.map(|_| format!("user says {index}")),
        start_ms: i64::from(index) * 3000,
        end_ms: i64::from(index) * 3000 + 2500,
        stt_ms: Some(stt),
        llm_ms: Some(llm),
        tts_ms: Some(tts),
        latency_ms: latency,
        endpointing_ms: None,
        stt_duration_ms: None,
        llm_duration_ms: None,
        tts_duration_ms: None,
        tool_ms: None,
        interrupted: false,
        interruption: None,
        tools: Vec::new(),
        timing_source: BTreeMap::new(),
        providers: BTreeMap::new(),
        llm_input_tokens: Some(100),
        llm_output_tokens: Some(20),
        tts_characters: Some(40),
        errors: Vec::new(),
    }
}

/// A call log with the given turns, analysed with the default budgets.
pub fn call(
    id: &str,
    trace_id: &str,
    agent: &str,
    status: CallStatus,
    started_at: &str,
    turns: Vec<Turn>,
) -> CallLog {
    let mut log = CallLog {
        id: id.to_string(),
        trace_id: trace_id.to_string(),
        revision: 1,
        dialect: Dialect::Voicetrace,
        agent_id: Some(agent.to_string()),
        agent_name: None,
        service_name: Some("test-agent".to_string()),
        status,
        end_reason: Some("client_hangup".to_string()),
        started_at: started_at.to_string(),
        ended_at: started_at.to_string(),
        direction: Some("inbound".to_string()),
        from: None,
        to: None,
        recording_url: None,
        metadata: BTreeMap::new(),
        turns,
        metrics: CallMetrics {
            total_duration_ms: 62_000,
            ..CallMetrics::default()
        },
        issues: Vec::new(),
        events: Vec::new(),
        logs: Vec::new(),
        custom_metrics: BTreeMap::new(),
        links: Links::default(),
        span_count: 12,
    };
    analyze(&mut log, &AnalysisConfig::default());
    log
}

/// Three calls of two agents: a slow TTS turn with an interruption and a recording, a failed
/// call, and an incomplete call.
pub fn sample_calls() -> Vec<CallLog> {
    let mut slow = turn(1, 180, 420, 2300, Some(3100));
    slow.providers.insert(
        Stage::Tts,
        StageProvider {
            provider: Some("cartesia".to_string()),
            model: Some("sonic-2".to_string()),
        },
    );
    slow.interrupted = true;
    slow.interruption = Some(Interruption {
        detection_latency_ms: Some(150),
        stop_latency_ms: Some(700),
        bleed_through_words: Some(3),
    });
    let mut second = turn(2, 200, 380, 300, Some(1100));
    second.interrupted = true;
    second.interruption = Some(Interruption {
        detection_latency_ms: Some(250),
        stop_latency_ms: Some(300),
        bleed_through_words: Some(1),
    });
    second.tools = vec![ToolExecution {
        name: "lookup_order".to_string(),
        input: Some("{\"id\":1}".to_string()),
        output: Some("shipped".to_string()),
        start_ms: 6100,
        duration_ms: 80,
        error: None,
    }];
    let mut a = call(
        "call_a",
        "4bf92f3577b34da6a3ce929d0e0e4736",
        "agent_support",
        CallStatus::Completed,
        "2026-03-21T10:00:00.000Z",
        vec![turn(0, 0, 400, 350, None), slow, second],
    );
    a.recording_url = Some("https://recordings.test/call_a.wav".to_string());
    let b = call(
        "call_b",
        "0af7651916cd43dd8448eb211c80319c",
        "agent_sales",
        CallStatus::Failed,
        "2026-03-21T11:00:00.000Z",
        vec![
            turn(0, 0, 300, 200, None),
            turn(1, 150, 500, 250, Some(950)),
        ],
    );
    let c = call(
        "call_c",
        "b7ad6b7169203331b7ad6b7169203331",
        "agent_support",
        CallStatus::Incomplete,
        "2026-03-21T12:00:00.000Z",
        vec![turn(0, 120, 1400, 300, Some(1900))],
    );
    vec![a, b, c]
}

/// Call logs in memory, listed newest first with an offset cursor (`o:N`).
pub struct MemoryReader {
    pub calls: Vec<CallLog>,
}

impl MemoryReader {
    fn started_ms(log: &CallLog) -> i64 {
        parse_time("startedAt", &log.started_at).unwrap_or(0)
    }
}

impl CallReader for MemoryReader {
    fn get_call(&self, id: &str, trace_id: Option<&str>) -> Result<Option<FoundCall>, ReadError> {
        let mut same: Vec<&CallLog> = self.calls.iter().filter(|c| c.id == id).collect();
        same.sort_by_key(|c| std::cmp::Reverse(Self::started_ms(c)));
        let Some(log) = same
            .iter()
            .find(|c| trace_id.is_none_or(|t| c.trace_id == t))
            .map(|c| (*c).clone())
        else {
            return Ok(None);
        };
        let same_id = same
            .iter()
            .filter(|c| c.trace_id != log.trace_id)
            .map(|c| SameIdCall {
                trace_id: c.trace_id.clone(),
                started_at: c.started_at.clone(),
            })
            .collect();
        Ok(Some(FoundCall { log, same_id }))
    }

    fn list_calls(&self, q: &CallQuery) -> Result<CallPage, ReadError> {
        let offset = match &q.cursor {
            None => 0,
            Some(c) => c
                .strip_prefix("o:")
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| ReadError::invalid_cursor(format!("'{c}' is not a cursor")))?,
        };
        let mut matching: Vec<&CallLog> = self
            .calls
            .iter()
            .filter(|c| {
                q.agent_id
                    .as_ref()
                    .is_none_or(|a| c.agent_id.as_ref() == Some(a))
            })
            .filter(|c| q.status.is_none_or(|s| c.status == s))
            .filter(|c| q.since_ms.is_none_or(|s| Self::started_ms(c) >= s))
            .filter(|c| q.until_ms.is_none_or(|u| Self::started_ms(c) < u))
            .collect();
        matching.sort_by_key(|c| std::cmp::Reverse(Self::started_ms(c)));
        let calls: Vec<CallLog> = matching
            .iter()
            .skip(offset)
            .take(q.limit)
            .map(|c| (*c).clone())
            .collect();
        let end = offset + calls.len();
        let next_cursor = (end < matching.len()).then(|| format!("o:{end}"));
        Ok(CallPage { calls, next_cursor })
    }
}

/// A reader whose store is broken.
pub struct FailingReader {
    pub unavailable: bool,
}

impl CallReader for FailingReader {
    fn get_call(&self, _id: &str, _trace: Option<&str>) -> Result<Option<FoundCall>, ReadError> {
        Err(self.error())
    }

    fn list_calls(&self, _q: &CallQuery) -> Result<CallPage, ReadError> {
        Err(self.error())
    }
}

impl FailingReader {
    fn error(&self) -> ReadError {
        if self.unavailable {
            ReadError::Unavailable("database is locked".to_string())
        } else {
            ReadError::new("disk I/O error")
        }
    }
}

/// A served API.
pub struct Served {
    pub addr: SocketAddr,
    pub ready: Arc<AtomicBool>,
    pub telemetry: Telemetry,
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

/// Serves the API over `reader` on 127.0.0.1:0.
pub async fn serve(reader: Arc<dyn CallReader>, template: Option<&str>) -> Served {
    let telemetry = Telemetry::new();
    let ready = Arc::new(AtomicBool::new(false));
    let state = ApiState {
        calls: reader,
        telemetry: telemetry.clone(),
        trace_url_template: template.map(str::to_string),
        ready: ready.clone(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router(state)).await.unwrap();
    });
    Served {
        addr,
        ready,
        telemetry,
    }
}

/// A client that does not follow redirects.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GET → (status, headers, body as JSON or a string).
pub async fn get(
    client: &reqwest::Client,
    url: &str,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let response = client.get(url).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    (status, headers, body)
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
