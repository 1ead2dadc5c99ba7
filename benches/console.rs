//! The console's speed: how long the receiver takes to serve its pages over HTTP on loopback
//! (store query, rendering, transfer), against a store of 100 000 calls.
//!
//! - the calls page (`/`), unfiltered and with each kind of filter, first page and a page deep
//!   in the list (target: under 50 ms);
//! - the page of a 200-turn call (`/calls/{id}`, target: under 100 ms).
//!
//! `cargo bench --bench console` prints the median and 95th percentile of each (`CALLS=N` to
//! change the store's size). Filling the store takes most of the run.

use std::sync::Arc;
use std::time::{Duration, Instant};

use voicetrace::receiver::api::{self, ApiState};
use voicetrace::receiver::calllog::{
    CallLog, CallMetrics, CallStatus, CallUpdate, Deployment, Dialect, Issue, Links, Speaker,
    Stage, StageExtent, TimingSource, Turn,
};
use voicetrace::receiver::console::{self, ConsoleState};
use voicetrace::receiver::metrics::ReceiverMetrics;
use voicetrace::receiver::store::Store;

/// Calls in the store (the issue's figure).
const CALLS: usize = 100_000;
/// Calls stored per transaction while filling.
const BATCH: usize = 2000;
/// Requests per measured page.
const SAMPLES: usize = 60;

const WORDS: &[&str] = &[
    "order",
    "refund",
    "delivery",
    "address",
    "invoice",
    "password",
    "upgrade",
    "cancel",
    "shipping",
    "warranty",
    "billing",
    "appointment",
];

fn turn(index: u32, start_ms: i64, seed: usize) -> Turn {
    let latency = 600 + ((seed * 37 + index as usize * 101) % 2400) as i64;
    Turn {
        index,
        speaker: if index == 0 {
            Speaker::Agent
        } else {
            Speaker::User
        },
        text: Some(format!(
            "Let me check your {} for you.",
            WORDS[seed % WORDS.len()]
        )),
        user_text: (index > 0).then(|| {
            format!(
                "I have a question about my {} and the {}",
                WORDS[(seed + index as usize) % WORDS.len()],
                WORDS[(seed / 7) % WORDS.len()]
            )
        }),
        start_ms,
        end_ms: start_ms + 2800,
        stt_ms: Some(180),
        llm_ms: Some(420),
        tts_ms: Some(160),
        latency_ms: (index > 0).then_some(latency),
        endpointing_ms: Some(120),
        stt_duration_ms: Some(300),
        llm_duration_ms: Some(800),
        tts_duration_ms: Some(1200),
        tool_ms: None,
        interrupted: seed % 11 == 0 && index == 1,
        interruption: None,
        tools: Vec::new(),
        timing_source: [
            ("sttMs", TimingSource::Ttfb),
            ("llmMs", TimingSource::Ttfb),
            ("ttsMs", TimingSource::Ttfb),
            ("latencyMs", TimingSource::Ttfb),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect(),
        providers: Default::default(),
        llm_input_tokens: Some(800),
        llm_output_tokens: Some(40),
        tts_characters: Some(60),
        errors: Vec::new(),
        stage_spans: vec![
            StageExtent {
                stage: Stage::Stt,
                start_ms,
                duration_ms: 300,
            },
            StageExtent {
                stage: Stage::Llm,
                start_ms: start_ms + 350,
                duration_ms: 800,
            },
            StageExtent {
                stage: Stage::Tts,
                start_ms: start_ms + 1200,
                duration_ms: 1200,
            },
        ],
        ..Turn::default()
    }
}

fn call(i: usize, turns: u32, start_unix_ms: i64) -> CallLog {
    let turns: Vec<Turn> = (0..turns)
        .map(|t| turn(t, i64::from(t) * 3000, i))
        .collect();
    let started = voicetrace::receiver::api::params::format_time(start_unix_ms);
    let slowest = turns.iter().filter_map(|t| t.latency_ms).max();
    let issues = match slowest {
        Some(ms) if ms > 2500 => vec![Issue {
            kind: "high_latency".into(),
            turn: Some(1),
            stage: Some(Stage::VoiceToVoice),
            value_ms: Some(ms),
            target_ms: Some(2500),
            description: "slow turn".into(),
            recommendation: "look at the LLM".into(),
        }],
        _ => Vec::new(),
    };
    CallLog {
        id: format!("bench-call-{i:06}"),
        trace_id: format!("{:032x}", i as u128 * 0x9e37_79b9_7f4a_7c15 + 1),
        revision: 1,
        dialect: Dialect::Voicetrace,
        agent_id: Some(format!("agent-{}", i % 8)),
        agent_name: None,
        service_name: Some("bench".into()),
        status: if i % 50 == 0 {
            CallStatus::Failed
        } else {
            CallStatus::Completed
        },
        end_reason: Some("client_hangup".into()),
        started_at: started.clone(),
        ended_at: started,
        direction: Some("inbound".into()),
        from: None,
        to: None,
        recording_url: None,
        metadata: Default::default(),
        metrics: CallMetrics {
            total_duration_ms: i64::from(turns.len() as u32) * 3000,
            turns: turns.len() as u32,
            p50_turn_latency_ms: Some(900),
            p95_turn_latency_ms: slowest,
            interruptions: turns.iter().filter(|t| t.interrupted).count() as u32,
            ..CallMetrics::default()
        },
        turns,
        issues,
        events: Vec::new(),
        logs: Vec::new(),
        custom_metrics: Default::default(),
        links: Links::default(),
        span_count: 20,
        deployment: Some(Deployment {
            id: Some(format!("deploy-{}", i % 20)),
            version: Some("1.0.0".into()),
            environment: Some("production".into()),
        }),
        recording: None,
        livekit: None,
        redactions: Default::default(),
        reported_usage: Vec::new(),
        cost: None,
    }
}

fn fill(store: &Store, calls: usize) {
    let now = voicetrace::receiver::store::now_ms();
    let mut i = 0;
    while i < calls {
        let batch: Vec<CallUpdate> = (i..(i + BATCH).min(calls))
            .map(|n| CallUpdate::Finished(Box::new(call(n, 4, now - (calls - n) as i64 * 1000))))
            .collect();
        let updates: Vec<(&CallUpdate, &[_])> = batch.iter().map(|u| (u, &[][..])).collect();
        store.store_updates(&updates, now).expect("store fills");
        i += BATCH;
    }
}

async fn measure(client: &reqwest::Client, url: &str) -> (Duration, Duration, usize) {
    let mut times = Vec::with_capacity(SAMPLES);
    let mut bytes = 0;
    for _ in 0..SAMPLES {
        let start = Instant::now();
        let answer = client.get(url).send().await.expect("page answers");
        assert!(answer.status().is_success(), "{url}: {}", answer.status());
        bytes = answer.bytes().await.expect("page body").len();
        times.push(start.elapsed());
    }
    times.sort();
    (times[SAMPLES / 2], times[SAMPLES * 95 / 100], bytes)
}

fn main() {
    let calls = std::env::var("CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(CALLS);
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open(dir.path()).expect("store opens");
    let started = Instant::now();
    fill(&store, calls);
    let long = call(calls + 1, 200, voicetrace::receiver::store::now_ms());
    store
        .store_update(&CallUpdate::Finished(Box::new(long.clone())), &[], 0)
        .expect("long call stored");
    println!(
        "stored {calls} calls (4 turns each) and one of 200 turns in {:.1?}",
        started.elapsed()
    );

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let (finished, _) = tokio::sync::broadcast::channel(16);
        let (_stop, stop_rx) = tokio::sync::watch::channel(false);
        let console_state = ConsoleState {
            reader: Arc::new(store.clone()),
            requeue: None,
            finished,
            stop: stop_rx,
            trace_url_template: None,
            token: None,
            tls: false,
        };
        let api_state = ApiState {
            calls: Arc::new(store.clone()),
            metrics: ReceiverMetrics::new(),
            trace_url_template: None,
            ready: Arc::new(true.into()),
            recordings: None,
        };
        let app = console::router(console_state).merge(api::router(api_state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        let client = reqwest::Client::new();
        let base = format!("http://{addr}");
        let deep = store
            .call_rows(&voicetrace::receiver::calllog::CallQuery {
                limit: 1000,
                ..Default::default()
            })
            .expect("rows")
            .next_cursor
            .expect("a next page");
        let pages = [
            ("calls page, newest 50", "/".to_string()),
            (
                "calls page, a page 1000 calls deep",
                format!("/?cursor={deep}"),
            ),
            ("calls page, one agent", "/?agent=agent-3".to_string()),
            (
                "calls page, one deployment",
                "/?deployment=deploy-7".to_string(),
            ),
            (
                "calls page, issue high_latency",
                "/?issue=high_latency".to_string(),
            ),
            ("calls page, interrupted", "/?interrupted=yes".to_string()),
            (
                "calls page, slowest turn >= 2900 ms",
                "/?minLatency=2900".to_string(),
            ),
            (
                "calls page, transcript 'warranty'",
                "/?q=warranty".to_string(),
            ),
            (
                "calls page, agent + issue + transcript",
                "/?agent=agent-2&issue=high_latency&q=refund".to_string(),
            ),
            (
                "call page, 200 turns",
                format!("/calls/{}?traceId={}", long.id, long.trace_id),
            ),
        ];
        println!(
            "{:<42} {:>10} {:>10} {:>10}",
            "page", "median", "p95", "bytes"
        );
        for (name, path) in pages {
            let (median, p95, bytes) = measure(&client, &format!("{base}{path}")).await;
            println!(
                "{name:<42} {:>8.2}ms {:>8.2}ms {bytes:>10}",
                median.as_secs_f64() * 1000.0,
                p95.as_secs_f64() * 1000.0
            );
        }
    });
}
