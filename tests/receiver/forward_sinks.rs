//! Every sink's happy path against a real endpoint: what it sends (URL, headers, idempotency
//! key, body) and that the store counts it delivered. Every cekura body is validated against
//! the `CreateCallLog` schema of Cekura's published OpenAPI document.

use voicetrace::receiver::calllog::{CallLog, CallStatus, CallUpdate};
use voicetrace::receiver::forward::{Forwarder, SinkKind};

use crate::common::calllog::sample_key;
use crate::common::calllog::{finished, live_updates, sample_log};
use crate::common::cekura::CekuraValidator;
use crate::common::endpoint::{Endpoint, Reply};
use crate::common::http::strings;
use crate::common::sinks::{
    record, sink, start, wait_delivered, SinkSpec, API_KEY, WEBHOOK_SECRET,
};

#[tokio::test]
async fn cekura_gets_a_create_call_log_body_with_the_api_key() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(201)).await;
    let mut config = sink(SinkKind::Cekura, &endpoint.url(), Some(API_KEY), dir.path());
    config.agent = Some(2421);
    let mut by_assistant = sink(SinkKind::Cekura, &endpoint.url(), Some(API_KEY), dir.path());
    by_assistant.name = Some("cekura-assistant".into());
    let (store, forwarder) = start(dir.path(), &[config, by_assistant]);
    record(&forwarder, vec![finished("call_1", 1)]).await;

    let validator = CekuraValidator::new();
    let requests = endpoint.take(2).await;
    for r in &requests {
        assert_eq!(r.path, "/observability/v1/observe/");
        assert_eq!(r.header("x-cekura-api-key"), Some(API_KEY));
        assert_eq!(
            r.header("idempotency-key"),
            Some(sample_key("call_1", 1).as_str())
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        validator.check(&r.json);
    }
    let by_agent = requests
        .iter()
        .find(|r| r.json.get("agent").is_some())
        .unwrap();
    let by_assistant = requests
        .iter()
        .find(|r| r.json.get("agent").is_none())
        .unwrap();
    assert_eq!(by_agent.json["agent"], 2421);
    // Without a configured agent, the call's own agent id names the assistant.
    assert_eq!(by_assistant.json["assistant_id"], "agent_support");

    let body = &by_agent.json;
    assert_eq!(body["call_id"], "call_1");
    assert_eq!(body["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(body["transcript_type"], "cekura");
    assert_eq!(body["call_ended_reason"], "client_hangup");
    assert_eq!(body["customer_number"], "+14155551234");
    assert_eq!(
        body["voice_recording_url"],
        "https://example.com/recordings/call.mp3"
    );
    assert_eq!(body["timestamp"], "2026-03-21T10:00:00.000Z");
    assert_eq!(
        strings(&body["transcript_json"], "role"),
        [
            "Main Agent",
            "Testing Agent",
            "Function Call",
            "Function Call Result",
            "Main Agent",
            "Testing Agent",
            "Main Agent"
        ]
    );
    let t = &body["transcript_json"];
    // The caller stops at the turn's start (3 s); the agent answers after the turn's 920 ms.
    assert_eq!(
        (t[1]["start_time"].as_f64(), t[1]["end_time"].as_f64()),
        (Some(1.8), Some(3.0))
    );
    assert_eq!(t[4]["start_time"].as_f64(), Some(3.92));
    assert_eq!(t[1]["content"], "Where is my order 42?");
    assert!(t[2]["content"].as_str().unwrap().contains("lookup_order"));
    // Metadata: the call's own, the idempotency key, per-turn timings and call metrics.
    let meta = &body["metadata"];
    assert_eq!(meta["customer_id"], "cust_123");
    assert_eq!(meta["idempotency_key"], sample_key("call_1", 1));
    assert_eq!(meta["voicetrace"]["revision"], 1);
    assert_eq!(meta["voicetrace"]["turns"][1]["latencyMs"], 920);
    assert_eq!(meta["voicetrace"]["turns"][1]["ttsMs"], 180);
    assert_eq!(meta["voicetrace"]["metrics"]["p95TurnLatencyMs"], 920);
    assert_eq!(meta["voicetrace"]["issues"][0]["type"], "high_latency");

    wait_delivered(&store, "cekura", 1).await;
    wait_delivered(&store, "cekura-assistant", 1).await;
    forwarder.shutdown().await;
}

#[tokio::test]
async fn webhook_events_arrive_live_then_completed_then_analysis_with_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(200)).await;
    let mut config = sink(
        SinkKind::Webhook,
        &format!("{}/hooks/voice", endpoint.url()),
        Some(WEBHOOK_SECRET),
        dir.path(),
    );
    config.webhook_id = Some("agent_webhook_test".into());
    // Several requests at once: the order below comes from the outbox, not from luck.
    config.concurrency = Some(8);
    let (store, forwarder) = start(dir.path(), &[config]);
    let mut updates = live_updates("call_w");
    updates.push(finished("call_w", 1));
    record(&forwarder, updates).await;

    // started, greeting (assistant), turn 1 (user, assistant), turn 2 (user, assistant),
    // completed, analysis.
    let events = endpoint.take(8).await;
    let kinds: Vec<String> = events
        .iter()
        .map(|e| {
            let kind = e.json["type"].as_str().unwrap().to_string();
            match e.json.get("turn") {
                Some(turn) => format!(
                    "{kind}:{}:{}",
                    turn["turn_index"],
                    turn["role"].as_str().unwrap()
                ),
                None => kind,
            }
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "call_started",
            "call_turn:0:assistant",
            "call_turn:1:user",
            "call_turn:1:assistant",
            "call_turn:2:user",
            "call_turn:2:assistant",
            "call_completed",
            "post_call_analysis"
        ]
    );
    for e in &events {
        assert_eq!(e.path, "/hooks/voice");
        assert_eq!(e.header("x-webhook-secret"), Some(WEBHOOK_SECRET));
        assert_eq!(e.json["call_id"], "call_w");
        assert_eq!(e.json["agent_id"], "agent_support");
        assert_eq!(e.json["webhook_id"], "agent_webhook_test");
        let ts = e.json["timestamp"].as_str().unwrap();
        assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
        let key = e.header("idempotency-key").unwrap();
        assert_eq!(e.json["idempotency_key"], key);
        assert!(key.starts_with("call_w:"), "{key}");
    }
    let keys: std::collections::HashSet<&str> = events
        .iter()
        .map(|e| e.header("idempotency-key").unwrap())
        .collect();
    assert_eq!(keys.len(), events.len(), "one key per event");
    assert_eq!(events[0].json["call"]["status"], "started");
    let tool_turn = &events[3].json["turn"];
    assert_eq!(tool_turn["text"], "It ships tomorrow.");
    assert_eq!(tool_turn["tts_ttfb"].as_f64(), Some(0.18));
    assert_eq!(tool_turn["tool_calls"][0]["name"], "lookup_order");

    let completed = &events[6].json;
    assert_eq!(completed["end_reason"], "client_hangup");
    let call = &completed["call"];
    assert_eq!(call["status"], "completed");
    assert_eq!(call["start_time"], "2026-03-21T10:00:00.000Z");
    assert_eq!(call["end_time"], "2026-03-21T10:00:12.500Z");
    assert_eq!(call["telephony_params"]["from"], "+14155551234");
    assert_eq!(call["metadata"]["customer_id"], "cust_123");
    let transcript = call["transcript"].as_array().unwrap();
    assert_eq!(transcript.len(), 5);
    assert_eq!(transcript[0]["role"], "assistant");
    assert_eq!(transcript[0]["tts_ttfb"].as_f64(), Some(0.18));
    assert_eq!(transcript[1]["role"], "user");
    assert!(transcript[1].get("tts_ttfb").is_none());

    let analysis = &events[7].json["analysis"];
    assert_eq!(analysis["metrics"]["avgTurnLatencyMs"], 920);
    assert_eq!(analysis["issues"][0]["type"], "high_latency");
    assert!(analysis["summary"]
        .as_str()
        .unwrap()
        .contains("TTS latency spike"));

    wait_delivered(&store, "webhook", 8).await;
    forwarder.shutdown().await;
}

#[tokio::test]
async fn a_failed_call_is_call_failed_with_an_error_message() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(204)).await;
    let config = sink(
        SinkKind::Webhook,
        &endpoint.url(),
        Some(WEBHOOK_SECRET),
        dir.path(),
    );
    let (_store, forwarder) = start(dir.path(), &[config]);
    let mut log = sample_log("call_f", 1);
    log.status = CallStatus::Failed;
    log.end_reason = Some("error".into());
    record(&forwarder, vec![CallUpdate::Finished(Box::new(log))]).await;
    let events = endpoint.take(2).await;
    assert_eq!(events[0].json["type"], "call_failed");
    assert_eq!(events[0].json["call"]["status"], "failed");
    assert!(events[0].json["call"]["error_message"].is_string());
    assert_eq!(events[1].json["type"], "post_call_analysis");
    forwarder.shutdown().await;
}

#[tokio::test]
async fn http_gets_the_canonical_call_log_with_a_bearer_token() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(202)).await;
    let mut config = sink(
        SinkKind::Http,
        &format!("{}/ingest", endpoint.url()),
        Some("tok_abc"),
        dir.path(),
    );
    config.headers.push(("X-Team".into(), "voice".into()));
    let (store, forwarder) = start(dir.path(), &[config]);
    // Live updates are not for this sink: only the call log goes out.
    let mut updates = live_updates("call_h");
    updates.push(finished("call_h", 1));
    updates.push(finished("call_h", 2));
    record(&forwarder, updates).await;

    let requests = endpoint.take(2).await;
    for (r, revision) in requests.iter().zip(1..) {
        assert_eq!(r.path, "/ingest");
        assert_eq!(r.header("authorization"), Some("Bearer tok_abc"));
        assert_eq!(r.header("x-team"), Some("voice"));
        assert_eq!(
            r.header("idempotency-key").unwrap(),
            sample_key("call_h", revision)
        );
        let log: CallLog = serde_json::from_value(r.json.clone()).expect("canonical call log");
        assert_eq!(log, sample_log("call_h", revision));
        // Exactly the canonical form: camelCase, nothing added.
        assert_eq!(
            r.json,
            serde_json::to_value(sample_log("call_h", revision)).unwrap()
        );
    }
    wait_delivered(&store, "http", 2).await;
    assert!(
        endpoint.drain_now().is_empty(),
        "no live update went to the http sink"
    );
    forwarder.shutdown().await;
}

#[tokio::test]
async fn jsonl_appends_one_call_log_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out/calls.jsonl");
    let config = SinkSpec::jsonl(&path);
    let (store, forwarder) = start(dir.path(), &[config]);
    let mut updates = live_updates("call_j");
    updates.extend([
        finished("call_j", 1),
        finished("call_k", 1),
        finished("call_j", 2),
    ]);
    record(&forwarder, updates).await;
    wait_delivered(&store, "jsonl", 3).await;
    forwarder.shutdown().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let logs: Vec<CallLog> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<(&str, u32)> = logs.iter().map(|l| (l.id.as_str(), l.revision)).collect();
    // Lines of one call in revision order (another call may come in between).
    let j: Vec<u32> = ids
        .iter()
        .filter(|(id, _)| *id == "call_j")
        .map(|(_, r)| *r)
        .collect();
    assert_eq!(j, [1, 2]);
    assert_eq!(ids.len(), 3);
    assert_eq!(
        logs.iter().find(|l| l.id == "call_k").unwrap(),
        &sample_log("call_k", 1)
    );
}

#[tokio::test]
async fn jsonl_writes_a_burst_in_batches_each_line_whole_and_once() {
    // More call logs than one write takes (the sink appends up to 256 lines per fsync), two
    // revisions per call: every line arrives whole, once, and a call's revisions in order.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("calls.jsonl");
    let config = SinkSpec::jsonl(&path);
    let (store, forwarder) = start(dir.path(), &[config]);
    let calls = 300;
    let mut updates = Vec::new();
    for revision in 1..=2 {
        for i in 0..calls {
            updates.push(finished(&format!("call_{i:03}"), revision));
        }
    }
    record(&forwarder, updates).await;
    wait_delivered(&store, "jsonl", 2 * calls as u64).await;
    forwarder.shutdown().await;
    let text = std::fs::read_to_string(&path).unwrap();
    let mut seen: std::collections::HashMap<String, Vec<u32>> = Default::default();
    for line in text.lines() {
        let log: CallLog = serde_json::from_str(line).expect("a whole call log per line");
        seen.entry(log.id.clone()).or_default().push(log.revision);
    }
    assert_eq!(seen.len(), calls);
    assert!(
        seen.values().all(|revisions| revisions == &[1, 2]),
        "{seen:?}"
    );
}

#[tokio::test]
async fn configuration_errors_name_the_problem_and_never_the_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = voicetrace::receiver::store::Store::open(&dir.path().join("data")).unwrap();
    // A cekura sink needs its API key.
    let no_key = SinkSpec {
        secret_env: Some("VOICETRACE_TEST_UNSET_CEKURA_KEY".into()),
        ..SinkSpec::new(SinkKind::Cekura, "https://api.cekura.ai")
    };
    let err = Forwarder::start(store.clone(), vec![no_key.config()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("VOICETRACE_TEST_UNSET_CEKURA_KEY"), "{err}");
    // Two sinks of one kind need names.
    let a = sink(SinkKind::Webhook, "http://127.0.0.1:9/a", None, dir.path());
    let b = sink(SinkKind::Webhook, "http://127.0.0.1:9/b", None, dir.path());
    let err = Forwarder::start(store.clone(), vec![a.config(), b.config()])
        .unwrap_err()
        .to_string();
    assert!(err.contains("\"webhook\""), "{err}");
    // A secret that is not a valid header value is refused without being shown.
    let mut bad = sink(
        SinkKind::Cekura,
        "http://127.0.0.1:9",
        Some("line1\u{7f}secretvalue"),
        dir.path(),
    );
    bad.agent = Some(1);
    let err = Forwarder::start(store.clone(), vec![bad.config()])
        .unwrap_err()
        .to_string();
    assert!(!err.contains("secretvalue"), "{err}");
    // Configs and running forwarders print no secret either.
    let config = sink(
        SinkKind::Cekura,
        "http://127.0.0.1:9",
        Some(API_KEY),
        dir.path(),
    )
    .config();
    let forwarder = Forwarder::start(store.clone(), vec![config.clone()]).unwrap();
    assert!(!format!("{config:?} {forwarder:?}").contains(API_KEY));
    forwarder.shutdown().await;
    let stats = store.sink_stats().unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(
        (stats[0].name.as_str(), stats[0].kind.as_str()),
        ("cekura", "cekura")
    );
}

#[test]
fn the_schema_check_rejects_what_cekura_would() {
    let validator = CekuraValidator::new();
    let good = serde_json::json!({
        "call_id": "c", "agent": 1, "transcript_type": "cekura",
        "transcript_json": [{"role": "Main Agent", "content": "hi", "start_time": 0.0, "end_time": 1.0}],
        "timestamp": "2026-03-21T10:00:00Z", "voice_recording_url": "https://example.com/a.mp3"
    });
    assert!(
        validator.violations(&good).is_empty(),
        "{:?}",
        validator.violations(&good)
    );
    let bad = |patch: serde_json::Value| {
        let mut body = good.clone();
        for (k, v) in patch.as_object().unwrap() {
            body[k] = v.clone();
        }
        validator.violations(&body)
    };
    let agent_role =
        serde_json::json!([{"role": "agent", "content": "hi", "start_time": 0.0, "end_time": 1.0}]);
    for (patch, what) in [
        (serde_json::json!({"trace_id": "0".repeat(33)}), "maxLength"),
        (
            serde_json::json!({"timestamp": "yesterday"}),
            "date-time format",
        ),
        (
            serde_json::json!({"voice_recording_url": "not a uri"}),
            "uri format",
        ),
        (serde_json::json!({"transcript_type": "json"}), "enum"),
        (serde_json::json!({"agent": "one"}), "integer"),
        (serde_json::json!({"idempotency_key": "k"}), "unknown field"),
        (serde_json::json!({"transcript_json": agent_role}), "role"),
    ] {
        assert!(!bad(patch).is_empty(), "{what}");
    }
    let mut no_call_id = good.clone();
    no_call_id.as_object_mut().unwrap().remove("call_id");
    assert!(
        !validator.violations(&no_call_id).is_empty(),
        "required call_id"
    );
}
