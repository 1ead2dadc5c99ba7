//! A real Prometheus scrapes the API's `/metrics` (OpenMetrics, exemplar storage on) and its
//! query API returns the trace ids of the observed call logs as exemplars.
//!
//! Needs the `prometheus` binary: `scripts/setup-test-env.sh` installs it.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::common::api::{serve, MemoryReader};
use crate::common::calllog::sample_calls;
use crate::common::http::{client, encode};
use crate::common::peers::Prometheus;

/// How long Prometheus may take to start, scrape and index (it scrapes every second).
const DEADLINE: Duration = Duration::from_secs(60);
/// Between polls of Prometheus's API.
const POLL: Duration = Duration::from_millis(250);

async fn prometheus_api(c: &reqwest::Client, url: &str) -> Option<Value> {
    let response = c.get(url).send().await.ok()?;
    let body: Value = serde_json::from_str(&response.text().await.ok()?).ok()?;
    (body["status"] == "success").then_some(body)
}

fn exemplar_trace_ids(body: &Value) -> Vec<String> {
    let mut ids: Vec<String> = body["data"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|series| series["exemplars"].as_array().into_iter().flatten())
        .filter_map(|e| e["labels"]["trace_id"].as_str().map(str::to_string))
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_trace_id_exemplars() {
    let calls = sample_calls();
    let api = serve(
        Arc::new(MemoryReader {
            calls: calls.clone(),
        }),
        None,
    )
    .await;
    for log in &calls {
        api.metrics.call_finished(log);
    }
    let mut want: Vec<String> = calls.iter().map(|c| c.trace_id.clone()).collect();
    want.sort_unstable();

    let dir = tempfile::tempdir().unwrap();
    let prometheus = Prometheus::start(dir.path(), &api.addr.to_string(), &[]);
    let c = client();

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let exemplars_url = format!(
        "{}/api/v1/query_exemplars?query={}&start={}&end={}",
        prometheus.base,
        encode("voicetrace_turn_stage_latency_seconds_bucket"),
        now - 600,
        now + 600
    );
    let finished_url = format!(
        "{}/api/v1/query?query={}",
        prometheus.base,
        encode("sum(voicetrace_calls_finished_total)")
    );
    let deadline = Instant::now() + DEADLINE;
    let mut last = Value::Null;
    loop {
        if let Some(body) = prometheus_api(&c, &exemplars_url).await {
            if exemplar_trace_ids(&body) == want {
                break;
            }
            last = body;
        }
        if Instant::now() > deadline {
            let targets = prometheus_api(&c, &format!("{}/api/v1/targets", prometheus.base)).await;
            panic!(
                "Prometheus did not return the exemplars {want:?} within {DEADLINE:?}.\nlast \
                 answer: {last}\ntargets: {targets:?}\nlog: {}",
                std::fs::read_to_string(&prometheus.log).unwrap_or_default()
            );
        }
        tokio::time::sleep(POLL).await;
    }

    // The same scrape holds the receiver counters: three calls finished.
    let body = prometheus_api(&c, &finished_url).await.unwrap();
    assert_eq!(body["data"]["result"][0]["value"][1], "3", "{body}");
}
