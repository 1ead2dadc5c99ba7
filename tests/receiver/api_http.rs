//! The HTTP API over real HTTP: every route, every error, and the OpenAPI document.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::common::api::{serve, FailingReader, MemoryReader, Served};
use crate::common::calllog::{interruption, sample_calls, scored_call, scored_turn, TEMPLATE};
use crate::common::http::{client, encode, get, strings};
use serde_json::Value;
use voicetrace::receiver::api::params::format_time;
use voicetrace::receiver::api::route_paths;
use voicetrace::receiver::calllog::{CallLog, CallStatus};

fn ids(body: &Value) -> Vec<String> {
    body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

fn assert_error(status: u16, body: &Value, want_status: u16, code: &str, mentions: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(mentions),
        "'{message}' should mention {mentions}"
    );
}

async fn served_samples() -> Served {
    serve(
        Arc::new(MemoryReader {
            calls: sample_calls(),
        }),
        Some(TEMPLATE),
    )
    .await
}

#[tokio::test]
async fn health_and_readiness() {
    let api = served_samples().await;
    let c = client();
    let (status, _, body) = get(&c, &api.url("/healthz")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, _, body) = get(&c, &api.url("/readyz")).await;
    assert_error(status, &body, 503, "not_ready", "starting");
    api.ready.store(true, Ordering::Release);
    let (status, _, body) = get(&c, &api.url("/readyz")).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
}

#[tokio::test]
async fn lists_calls_and_sessions_newest_first_with_links() {
    let api = served_samples().await;
    let c = client();
    for route in ["/v1/observability/calls", "/v1/observability/sessions"] {
        let (status, _, body) = get(&c, &api.url(route)).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(ids(&body), ["call_c", "call_b", "call_a"]);
        assert_eq!(body["hasMore"], false);
        assert_eq!(body["nextCursor"], Value::Null);
        let a = &body["data"][2];
        assert_eq!(a["agentId"], "agent_support");
        assert_eq!(a["turns"], 3);
        assert_eq!(a["status"], "completed");
        assert_eq!(a["p95TurnLatencyMs"], 3100);
        assert_eq!(a["issues"], 3);
        assert_eq!(a["durationMs"], 62_000);
        assert_eq!(
            a["links"]["trace"],
            "http://jaeger.test/trace/4bf92f3577b34da6a3ce929d0e0e4736?call=call_a"
        );
    }
}

#[tokio::test]
async fn pages_with_a_cursor() {
    let api = served_samples().await;
    let c = client();
    let (status, _, first) = get(&c, &api.url("/v1/observability/calls?limit=2")).await;
    assert_eq!(status, 200);
    assert_eq!(ids(&first), ["call_c", "call_b"]);
    assert_eq!(first["hasMore"], true);
    let cursor = first["nextCursor"].as_str().unwrap();
    let (status, _, second) = get(
        &c,
        &api.url(&format!(
            "/v1/observability/calls?limit=2&cursor={}",
            encode(cursor)
        )),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(ids(&second), ["call_a"]);
    assert_eq!(second["hasMore"], false);
    assert_eq!(second["nextCursor"], Value::Null);
}

#[tokio::test]
async fn filters_by_agent_status_and_time() {
    let api = served_samples().await;
    let c = client();
    let cases = [
        ("agentId=agent_support", vec!["call_c", "call_a"]),
        ("status=failed", vec!["call_b"]),
        ("agentId=agent_support&status=incomplete", vec!["call_c"]),
        // RFC 3339 and Unix ms; since inclusive, until exclusive.
        ("since=2026-03-21T11:00:00Z", vec!["call_c", "call_b"]),
        ("until=1774094400000", vec!["call_b", "call_a"]),
        (
            "since=2026-03-21T10:30:00%2B00:00&until=2026-03-21T11:30:00Z",
            vec!["call_b"],
        ),
        ("agentId=nobody", vec![]),
    ];
    for (query, want) in cases {
        let (status, _, body) =
            get(&c, &api.url(&format!("/v1/observability/sessions?{query}"))).await;
        assert_eq!(status, 200, "{query}: {body}");
        assert_eq!(ids(&body), want, "{query}");
    }
}

#[tokio::test]
async fn call_detail_is_the_call_log_with_its_trace_link() {
    let api = served_samples().await;
    let c = client();
    let stored = sample_calls().remove(0);
    for route in [
        "/v1/observability/calls/call_a",
        "/v1/observability/sessions/call_a",
    ] {
        let (status, _, body) = get(&c, &api.url(route)).await;
        assert_eq!(status, 200, "{body}");
        let served: CallLog = serde_json::from_value(body.clone()).unwrap();
        let mut expected = stored.clone();
        expected.links.trace = Some(
            "http://jaeger.test/trace/4bf92f3577b34da6a3ce929d0e0e4736?call=call_a".to_string(),
        );
        assert_eq!(served, expected);
        assert_eq!(body["turns"][1]["ttsMs"], 2300);
        assert_eq!(body["metrics"]["toolExecutions"], 1);
        assert_eq!(body["metrics"]["interruptions"], 2);
    }
}

#[tokio::test]
async fn without_a_template_links_are_left_as_stored() {
    let mut calls = sample_calls();
    calls[0].links.trace = Some("http://stored.test/t".to_string());
    let api = serve(Arc::new(MemoryReader { calls }), None).await;
    let (status, _, body) = get(&client(), &api.url("/v1/observability/calls/call_a")).await;
    assert_eq!(status, 200);
    assert_eq!(body["links"]["trace"], "http://stored.test/t");
}

#[tokio::test]
async fn root_cause_lists_the_issues() {
    let api = served_samples().await;
    let c = client();
    let (status, _, body) = get(&c, &api.url("/v1/observability/calls/call_a/root-cause")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["callId"], "call_a");
    let issues = body["issues"].as_array().unwrap();
    assert_eq!(issues.len(), 3, "{body}");
    assert_eq!(issues[0]["type"], "high_latency");
    assert_eq!(issues[0]["turn"], 1);
    assert_eq!(issues[0]["stage"], "tts");
    assert_eq!(
        issues[0]["description"],
        "TTS latency spike to 2.3s (target: <900ms)"
    );
    assert!(issues[0]["recommendation"]
        .as_str()
        .unwrap()
        .contains("cartesia"));

    let (status, _, body) = get(&c, &api.url("/v1/observability/sessions/call_c/root-cause")).await;
    assert_eq!(status, 200);
    assert_eq!(body["sessionId"], "call_c");
    assert_eq!(
        strings(&body["issues"], "type"),
        ["high_latency", "high_latency", "incomplete_call"]
    );
}

#[tokio::test]
async fn interruption_quality_over_a_window() {
    // Two sample interruptions in March 2026, and one in a call that starts now (the default
    // window is the last day).
    let mut calls = sample_calls();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let recent_turn = scored_turn(1, 100, 300, 200, Some(800))
        .interrupted(interruption(90, 1200, 7))
        .build();
    calls.push(scored_call(
        "call_now",
        "11111111111111111111111111111111",
        "agent_sales",
        CallStatus::Completed,
        &format_time(now_ms - 60_000),
        vec![recent_turn],
    ));
    let api = serve(Arc::new(MemoryReader { calls }), None).await;
    let c = client();

    let route = "/v1/observability/sessions/interruption-quality";
    let (status, _, body) = get(
        &c,
        &api.url(&format!(
            "{route}?since=2026-03-21T00:00:00Z&until=2026-03-22T00:00:00Z"
        )),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions"], 3);
    assert_eq!(body["interruptions"], 2);
    assert_eq!(body["detectionLatencyMs"]["count"], 2);
    assert_eq!(body["detectionLatencyMs"]["p50"], 150);
    assert_eq!(body["detectionLatencyMs"]["p95"], 250);
    assert_eq!(body["stopLatencyMs"]["p50"], 300);
    assert_eq!(body["stopLatencyMs"]["p95"], 700);
    assert_eq!(body["bleedThroughWords"]["p95"], 3);
    assert_eq!(body["window"]["since"], "2026-03-21T00:00:00Z");
    assert_eq!(body["truncated"], false);

    let (status, _, body) = get(&c, &api.url(&format!("{route}?agentId=agent_sales"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["sessions"], 1, "default window: the last day: {body}");
    assert_eq!(body["stopLatencyMs"]["p50"], 1200);
    assert_eq!(body["bleedThroughWords"]["count"], 1);
}

#[tokio::test]
async fn recordings_redirect_or_404() {
    let api = served_samples().await;
    let c = client();
    let (status, headers, _) = get(&c, &api.url("/v1/recordings/call_a")).await;
    assert_eq!(status, 307);
    assert_eq!(
        headers.get("location").unwrap(),
        "https://recordings.test/call_a.wav"
    );
    let (status, _, body) = get(&c, &api.url("/v1/recordings/call_b")).await;
    assert_error(status, &body, 404, "no_recording", "call_b");
    let (status, _, body) = get(&c, &api.url("/v1/recordings/nope")).await;
    assert_error(status, &body, 404, "not_found", "nope");
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let api = served_samples().await;
    let c = client();
    for route in [
        "/v1/observability/calls/nope",
        "/v1/observability/sessions/nope",
        "/v1/observability/calls/nope/root-cause",
        "/v1/observability/sessions/nope/root-cause",
    ] {
        let (status, _, body) = get(&c, &api.url(route)).await;
        assert_error(status, &body, 404, "not_found", "'nope'");
    }
}

#[tokio::test]
async fn bad_query_parameters_are_400_naming_the_parameter() {
    let api = served_samples().await;
    let c = client();
    let cases = [
        ("/v1/observability/calls?limit=0", "limit"),
        ("/v1/observability/calls?limit=101", "limit"),
        ("/v1/observability/calls?limit=ten", "limit"),
        ("/v1/observability/calls?status=done", "status"),
        ("/v1/observability/sessions?since=yesterday", "since"),
        (
            "/v1/observability/sessions?until=2026-02-30T00:00:00Z",
            "until",
        ),
        (
            "/v1/observability/calls?since=2026-03-22T00:00:00Z&until=2026-03-21T00:00:00Z",
            "until",
        ),
        ("/v1/observability/calls?agent_id=a", "agent_id"),
        ("/v1/observability/calls?agentId=", "agentId"),
        ("/v1/observability/calls?limit=1&limit=2", "limit"),
        ("/v1/observability/calls?cursor=garbage", "cursor"),
        (
            "/v1/observability/sessions/interruption-quality?limit=5",
            "limit",
        ),
        (
            "/v1/observability/sessions/interruption-quality?since=later",
            "since",
        ),
    ];
    for (route, parameter) in cases {
        let (status, _, body) = get(&c, &api.url(route)).await;
        assert_error(
            status,
            &body,
            400,
            "invalid_parameter",
            &format!("'{parameter}'"),
        );
    }
}

#[tokio::test]
async fn unknown_routes_and_methods() {
    let api = served_samples().await;
    let c = client();
    let (status, _, body) = get(&c, &api.url("/v1/nothing")).await;
    assert_error(status, &body, 404, "route_not_found", "openapi.json");
    let response = c
        .post(api.url("/v1/observability/calls"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let allow = response.headers().get("allow").unwrap().to_str().unwrap();
    assert!(allow.split(',').any(|m| m.trim() == "GET"), "{allow}");
    let body: Value = serde_json::from_str(&response.text().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
}

#[tokio::test]
async fn store_failures_are_500_or_503() {
    let c = client();
    let broken = serve(Arc::new(FailingReader { unavailable: false }), None).await;
    let (status, _, body) = get(&c, &broken.url("/v1/observability/calls")).await;
    assert_error(status, &body, 500, "internal", "store");
    let (status, _, body) = get(&c, &broken.url("/v1/observability/calls/call_a")).await;
    assert_error(status, &body, 500, "internal", "store");
    let busy = serve(Arc::new(FailingReader { unavailable: true }), None).await;
    let (status, _, body) = get(&c, &busy.url("/v1/observability/sessions/call_a")).await;
    assert_error(status, &body, 503, "unavailable", "retry");
    let (status, _, body) = get(
        &c,
        &busy.url("/v1/observability/sessions/interruption-quality"),
    )
    .await;
    assert_error(status, &body, 503, "unavailable", "retry");
}

#[tokio::test]
async fn metrics_negotiate_openmetrics_with_exemplars() {
    let api = served_samples().await;
    for log in sample_calls() {
        api.metrics.call_finished(&log);
    }
    api.metrics.spans_accepted(42);
    let c = client();
    let response = c
        .get(api.url("/metrics"))
        .header(
            "accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (content_type, text) = typed_text(response).await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(text.ends_with("# EOF\n"));
    assert!(
        text.contains("voicetrace_spans_accepted_total 42"),
        "{text}"
    );
    assert!(
        text.contains("voicetrace_calls_finished_total{status=\"incomplete\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("# {trace_id=\"4bf92f3577b34da6a3ce929d0e0e4736\"} 2.3"),
        "the 2.3 s TTS turn is an exemplar: {text}"
    );

    let response = c.get(api.url("/metrics")).send().await.unwrap();
    let (content_type, text) = typed_text(response).await;
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(
        !text.contains("trace_id=\""),
        "no exemplars in Prometheus text"
    );
    assert!(
        text.contains(
            "voicetrace_turn_stage_latency_seconds_count{stage=\"tts\",agent=\"agent_support\"} 4"
        ),
        "{text}"
    );
}

/// The content type and the text of an answer.
async fn typed_text(response: reqwest::Response) -> (String, String) {
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .expect("a content type")
        .to_string();
    (content_type, response.text().await.unwrap())
}

/// Fills an OpenAPI path template with ids that exist.
fn concrete(path: &str) -> String {
    path.replace("{sessionId}", "call_a")
        .replace("{callId}", "call_a")
}

#[tokio::test]
async fn openapi_document_is_openapi_3_and_lists_every_route() {
    let api = served_samples().await;
    api.ready.store(true, Ordering::Release);
    let c = client();
    let (status, headers, doc) = get(&c, &api.url("/openapi.json")).await;
    assert_eq!(status, 200);
    assert!(headers
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string());
    assert_eq!(
        doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
        "bearer"
    );
    assert_eq!(doc["security"], serde_json::json!([{"bearerAuth": []}]));
    let paths = doc["paths"].as_object().unwrap();

    let mut documented: Vec<&str> = paths.keys().map(String::as_str).collect();
    let mut served = route_paths();
    documented.sort_unstable();
    served.sort_unstable();
    assert_eq!(
        documented, served,
        "the document lists exactly the router's routes"
    );

    for (path, item) in paths {
        let operations = item.as_object().unwrap();
        assert_eq!(operations.keys().collect::<Vec<_>>(), ["get"], "{path}");
        let op = &item["get"];
        assert!(op["operationId"].is_string(), "{path}");
        assert!(!op["responses"].as_object().unwrap().is_empty(), "{path}");
        // The API token: health probes are open, everything else documents its 401.
        if path == "/healthz" || path == "/readyz" {
            assert_eq!(op["security"], serde_json::json!([]), "{path}");
        } else {
            assert!(op["responses"].get("401").is_some(), "{path}: no 401");
        }
        // Every path template parameter is declared as a required path parameter.
        for segment in path.split('/').filter(|s| s.starts_with('{')) {
            let name = segment.trim_matches(|c| c == '{' || c == '}');
            let declared = op["parameters"].as_array().unwrap().iter().any(|p| {
                let p = match p["$ref"].as_str() {
                    Some(r) => doc.pointer(r.trim_start_matches('#')).unwrap(),
                    None => p,
                };
                p["name"] == name && p["in"] == "path" && p["required"] == true
            });
            assert!(declared, "{path}: {name} not declared");
        }
        // The route is served, and answers one of its documented statuses.
        let (status, _, body) = get(&c, &api.url(&concrete(path))).await;
        assert!(
            op["responses"].get(status.to_string()).is_some(),
            "{path} answered {status} which is not documented: {body}"
        );
        assert_ne!(body["error"]["code"], "route_not_found", "{path}");
    }
}
