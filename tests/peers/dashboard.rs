//! The Grafana dashboard (`deploy/grafana/voicetrace.json`) and the Prometheus rules
//! (`deploy/prometheus/voicetrace.rules.yml`) against real metrics: a `voicetrace serve` process
//! takes the simulated agent's calls (two agents, one within its budgets and one whose LLM and
//! TTS are slow) through the crate's own OTLP pipeline, and a real Prometheus scrapes it every
//! second and evaluates the rules. Then:
//! - the dashboard parses, its panels fit the grid, every variable it uses is defined, every
//!   panel queries the `datasource` variable, and every latency panel shows exemplars whose
//!   `trace_id` links to the call page and the trace;
//! - every query variable has values (the two agents among them);
//! - every panel's query, with the variables as Grafana would substitute them (All, and each
//!   agent), returns at least one series with a finite value;
//! - every exemplar query returns exemplars, all of them trace ids of simulated calls;
//! - every recording rule has a series, and the stage-latency alert is active for the slow
//!   agent only.
//!
//! No Grafana runs here: the test reads the JSON and runs the queries. Needs the `prometheus`
//! binary: `scripts/setup-test-env.sh` installs it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tracing_subscriber::layer::SubscriberExt;
use voicetrace::instrument::simulate::{self, SimConfig};
use voicetrace::instrument::{Config, Protocol};

use crate::common::http::encode;
use crate::common::peers::Prometheus;
use crate::common::serve::{command, Listen, Serve};

/// Prometheus scrapes every second; the simulated calls finish within a second or two; a
/// loaded CI machine may take much longer for all of it.
const DEADLINE: Duration = Duration::from_secs(120);
/// Between rounds of queries.
const POLL: Duration = Duration::from_millis(500);
/// What Grafana's built-in intervals become: `$__rate_interval` spans several 1 s scrapes, and
/// `$__range` the whole test.
const BUILTINS: [(&str, &str); 3] = [
    ("__rate_interval", "1m"),
    ("__interval", "15s"),
    ("__range", "10m"),
];
const FAST_AGENT: &str = "dash-fast-agent";
const SLOW_AGENT: &str = "dash-slow-agent";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn dashboard() -> Value {
    let path = repo().join("deploy/grafana/voicetrace.json");
    serde_json::from_slice(&std::fs::read(&path).expect("the dashboard file"))
        .expect("the dashboard is JSON")
}

/// Every panel, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut all = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        all.push(panel);
        all.extend(panel["panels"].as_array().into_iter().flatten());
    }
    all
}

/// Every string in a JSON value.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// The variable names a Grafana string refers to: `$name`, `${name}`, `${name:format}`,
/// `${__value.raw}` (as `__value`).
fn variables_used(text: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let braced = rest.starts_with('{');
        let body = if braced { &rest[1..] } else { rest };
        let name: String = body
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            names.push(name);
        }
    }
    names
}

/// A query as Grafana sends it once the variables have these values.
fn substitute(expr: &str, values: &BTreeMap<String, String>) -> String {
    let mut names: Vec<&String> = values.keys().collect();
    // Longest first, so that `$__range` does not eat the start of `$__rate_interval`.
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let mut out = expr.to_string();
    for name in names {
        out = out
            .replace(&format!("${{{name}}}"), &values[name])
            .replace(&format!("${name}"), &values[name]);
    }
    assert!(
        !out.contains('$'),
        "a variable is left in {out:?} (from {expr:?})"
    );
    out
}

#[test]
fn the_dashboard_is_importable_and_consistent() {
    let dashboard = dashboard();
    assert!(dashboard["uid"].is_string() && dashboard["title"].is_string());
    assert!(
        dashboard["id"].is_null(),
        "an importable dashboard has no id"
    );
    let defined: BTreeSet<String> = dashboard["templating"]["list"]
        .as_array()
        .expect("templating.list")
        .iter()
        .map(|v| v["name"].as_str().expect("variable name").to_string())
        .collect();
    for name in ["datasource", "agent", "voicetrace_url"] {
        assert!(defined.contains(name), "no {name} variable");
    }
    let mut texts = Vec::new();
    strings(&dashboard, &mut texts);
    for text in &texts {
        for name in variables_used(text) {
            assert!(
                name.starts_with("__") || defined.contains(&name),
                "${name} (in {text:?}) is not a variable of the dashboard"
            );
        }
    }

    let mut ids = BTreeSet::new();
    let mut latency_panels = 0;
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().expect("a title");
        assert!(ids.insert(panel["id"].as_u64().expect("an id")), "{title}");
        let grid = &panel["gridPos"];
        let (x, w) = (grid["x"].as_u64().unwrap(), grid["w"].as_u64().unwrap());
        assert!(x + w <= 24, "{title} is wider than the grid");
        if panel["type"] == "row" {
            continue;
        }
        assert!(
            panel["description"].as_str().is_some_and(|d| !d.is_empty()),
            "{title}: a description"
        );
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title}: no query");
        for target in targets {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{title}");
        }
        // A latency panel shows exemplars, and their trace ids link to the call and the trace.
        if panel["fieldConfig"]["defaults"]["unit"] == "s" {
            latency_panels += 1;
            assert!(
                targets.iter().any(|t| t["exemplar"] == true),
                "{title}: exemplars"
            );
            let links: Vec<&str> = panel["fieldConfig"]["overrides"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|o| o["matcher"]["options"] == "trace_id")
                .flat_map(|o| o["properties"].as_array().into_iter().flatten())
                .filter(|p| p["id"] == "links")
                .flat_map(|p| p["value"].as_array().into_iter().flatten())
                .filter_map(|l| l["url"].as_str())
                .collect();
            assert!(
                links.contains(&"${voicetrace_url}/calls/-?traceId=${__value.raw}"),
                "{title}: a link to the call page, got {links:?}"
            );
            assert!(
                links.contains(&"${trace_url}${__value.raw}"),
                "{title}: a link to the trace, got {links:?}"
            );
        }
    }
    // Voice-to-voice (2), STT, LLM, TTS, interruption stop and detection.
    assert_eq!(latency_panels, 7);
}

/// `data` of a successful Prometheus API answer.
async fn prometheus_api(client: &reqwest::Client, url: &str) -> Option<Value> {
    let response = client.get(url).send().await.ok()?;
    let body: Value = serde_json::from_str(&response.text().await.ok()?).ok()?;
    (body["status"] == "success").then(|| body["data"].clone())
}

/// The simulated agents: one within the default budgets, one whose LLM (1.2 s) and TTS (1.3 s)
/// are over them, so that high_latency issues and the stage alert have something to show.
fn agent_configs(batch: usize) -> [SimConfig; 2] {
    let base = SimConfig {
        calls: 3,
        exchanges: 3,
        // Real (shortened) sleeps pace the load; the figures do not depend on them.
        time_scale: 0.1,
        seed: batch as u64,
        ..SimConfig::default()
    };
    [
        SimConfig {
            agent_id: FAST_AGENT.into(),
            call_id_prefix: format!("dash-fast-{batch}-"),
            ..base.clone()
        },
        SimConfig {
            agent_id: SLOW_AGENT.into(),
            call_id_prefix: format!("dash-slow-{batch}-"),
            llm: Duration::from_millis(1200),
            tts: Duration::from_millis(1300),
            jitter: 0.2,
            ..base
        },
    ]
}

/// Runs batches of simulated calls of both agents until `stop`, exporting over OTLP/gRPC to
/// `endpoint`, and records their trace ids before their spans are sent. The pipeline's subscriber is this thread's default
/// and the runtime is current-thread, so every task of the simulated agent sees it and no
/// global subscriber is installed.
fn run_load(
    endpoint: String,
    stop: Arc<AtomicBool>,
    trace_ids: Arc<Mutex<BTreeSet<String>>>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let (layer, guard) = Config::from_env()
            .protocol(Protocol::Grpc)
            .endpoint(endpoint)
            .batch_delay(Duration::from_millis(100))
            .build_layer()
            .expect("the OTLP pipeline");
        let _default = tracing::subscriber::set_default(tracing_subscriber::registry().with(layer));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let mut batch = 0;
        while !stop.load(Ordering::Relaxed) {
            let [fast, slow] = agent_configs(batch);
            // Known before any span leaves (a call's trace id derives from its id), so that an
            // exemplar Prometheus already has is always among them.
            let planned: BTreeSet<String> = [&fast, &slow]
                .iter()
                .flat_map(|c| (0..c.calls).map(|i| format!("{}{i}", c.call_id_prefix)))
                .map(|id| voicetrace::trace_id::trace_id_hex(&id))
                .collect();
            trace_ids.lock().unwrap().extend(planned.iter().cloned());
            let calls = runtime.block_on(async {
                let (mut a, b) = tokio::join!(simulate::run(&fast), simulate::run(&slow));
                a.extend(b);
                a
            });
            let ran: BTreeSet<String> = calls.into_iter().map(|c| c.trace_id).collect();
            assert_eq!(ran, planned, "the simulated calls' trace ids");
            guard.flush().expect("spans exported");
            batch += 1;
        }
        drop(guard);
    })
}

/// One query the dashboard or the rules make, and how to judge Prometheus's answer.
struct Check {
    what: String,
    url: String,
    judge: Box<dyn Fn(&Value) -> bool>,
}

fn has_finite_sample(data: &Value) -> bool {
    data["result"].as_array().into_iter().flatten().any(|s| {
        s["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    })
}

fn query_url(base: &str, expr: &str) -> String {
    format!("{base}/api/v1/query?query={}", encode(expr))
}

/// `label_values(SELECTOR, LABEL)` → (selector, label).
fn label_values(query: &str) -> (String, String) {
    let inner = query
        .trim()
        .strip_prefix("label_values(")
        .and_then(|q| q.strip_suffix(')'))
        .unwrap_or_else(|| panic!("a query variable other than label_values: {query:?}"));
    let (selector, label) = inner
        .rsplit_once(',')
        .expect("label_values(selector, label)");
    (selector.trim().to_string(), label.trim().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_and_recording_rule_returns_series_from_a_loaded_receiver() {
    let dir = tempfile::tempdir().unwrap();
    // A sink, so that the sink panels have series.
    let sink = format!("jsonl:{}", dir.path().join("calls.jsonl").display());
    let serve = Serve::spawn(
        command(&dir.path().join("data"), Listen::with_api())
            .args(["--grace-ms", "100"])
            .args(["--sink", &sink]),
    );
    let api = serve.api.expect("serve has an API");
    let rules = repo().join("deploy/prometheus/voicetrace.rules.yml");
    let prometheus = Prometheus::start(dir.path(), &api.to_string(), &[rules]);
    let stop = Arc::new(AtomicBool::new(false));
    let trace_ids = Arc::new(Mutex::new(BTreeSet::new()));
    let load = run_load(
        format!("http://{}", serve.grpc),
        Arc::clone(&stop),
        Arc::clone(&trace_ids),
    );
    let client = reqwest::Client::new();
    let base = prometheus.base.clone();

    // The variables first: their values are what the panels' queries are run with.
    let dashboard = dashboard();
    let variables = dashboard["templating"]["list"].as_array().unwrap().clone();
    let mut values: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let deadline = Instant::now() + DEADLINE;
    for variable in variables.iter().filter(|v| v["type"] == "query") {
        let name = variable["name"].as_str().unwrap().to_string();
        let (selector, label) = label_values(variable["query"].as_str().expect("query"));
        // A variable's query may use the variables before it (agent uses job).
        let known: BTreeMap<String, String> = values
            .iter()
            .map(|(k, v)| (k.clone(), v[0].clone()))
            .collect();
        let selector = substitute(&selector, &known);
        let url = format!(
            "{base}/api/v1/label/{label}/values?match[]={}",
            encode(&selector)
        );
        let want: &[&str] = match name.as_str() {
            "agent" => &[FAST_AGENT, SLOW_AGENT],
            "job" => &["voicetrace"],
            _ => &[],
        };
        let found = loop {
            let found: Vec<String> = prometheus_api(&client, &url)
                .await
                .and_then(|d| serde_json::from_value(d).ok())
                .unwrap_or_default();
            if !found.is_empty() && want.iter().all(|w| found.iter().any(|f| f == w)) {
                break found;
            }
            assert!(
                Instant::now() < deadline,
                "variable {name}: {url} gave {found:?}, want {want:?}\nlog: {}",
                std::fs::read_to_string(&prometheus.log).unwrap_or_default()
            );
            tokio::time::sleep(POLL).await;
        };
        values.insert(name, found);
    }

    // The substitutions Grafana makes: every agent (All) and each agent alone.
    let mut settings: Vec<BTreeMap<String, String>> = Vec::new();
    for agent in [".*"]
        .into_iter()
        .chain(values["agent"].iter().map(String::as_str))
    {
        let mut s: BTreeMap<String, String> = BUILTINS
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s.insert("job".into(), values["job"][0].clone());
        s.insert("agent".into(), agent.to_string());
        settings.push(s);
    }

    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut checks: Vec<Check> = Vec::new();
    for panel in panels(&dashboard) {
        let title = panel["title"].as_str().unwrap_or_default();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().expect("a PromQL expr");
            for setting in &settings {
                let query = substitute(expr, setting);
                checks.push(Check {
                    what: format!("panel {title:?} (agent {}): {query}", setting["agent"]),
                    url: query_url(&base, &query),
                    judge: Box::new(has_finite_sample),
                });
                if target["exemplar"] == true {
                    let ids = Arc::clone(&trace_ids);
                    checks.push(Check {
                        what: format!("exemplars of {title:?} (agent {})", setting["agent"]),
                        url: format!(
                            "{base}/api/v1/query_exemplars?query={}&start={}&end={}",
                            encode(&query),
                            now - 600,
                            now + 600
                        ),
                        judge: Box::new(move |data| {
                            let found: Vec<&str> = data
                                .as_array()
                                .into_iter()
                                .flatten()
                                .flat_map(|s| s["exemplars"].as_array().into_iter().flatten())
                                .filter_map(|e| e["labels"]["trace_id"].as_str())
                                .collect();
                            let ids = ids.lock().unwrap();
                            !found.is_empty() && found.iter().all(|id| ids.contains(*id))
                        }),
                    });
                }
            }
        }
    }

    let rules: serde_yaml::Value = serde_yaml::from_slice(
        &std::fs::read(repo().join("deploy/prometheus/voicetrace.rules.yml")).unwrap(),
    )
    .unwrap();
    let records: BTreeSet<String> = rules["groups"]
        .as_sequence()
        .into_iter()
        .flatten()
        .flat_map(|g| g["rules"].as_sequence().into_iter().flatten())
        .filter_map(|r| r["record"].as_str().map(str::to_string))
        .collect();
    assert!(records.len() >= 8, "{records:?}");
    for record in records {
        checks.push(Check {
            what: format!("recording rule {record}"),
            url: query_url(&base, &record),
            judge: Box::new(has_finite_sample),
        });
    }
    // Evaluated on the receiver's own metrics, the stage alert is active (pending: its `for`
    // has not passed) for the slow agent's LLM and TTS, and for nothing of the fast agent.
    let active = r#"ALERTS{alertname="VoicetraceStageP95OverBudget"}"#;
    checks.push(Check {
        what: format!("{active} for the slow agent only"),
        url: query_url(&base, active),
        judge: Box::new(|data| {
            let mut stages: Vec<(String, String)> = data["result"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| {
                    let label = |k: &str| s["metric"][k].as_str().unwrap_or_default().to_string();
                    (label("agent"), label("stage"))
                })
                .collect();
            stages.sort();
            stages
                == [
                    (SLOW_AGENT.to_string(), "llm".to_string()),
                    (SLOW_AGENT.to_string(), "tts".to_string()),
                ]
        }),
    });

    let mut failing: Vec<(String, Value)> = Vec::new();
    loop {
        failing.clear();
        for check in &checks {
            let data = prometheus_api(&client, &check.url)
                .await
                .unwrap_or(Value::Null);
            if !(check.judge)(&data) {
                failing.push((check.what.clone(), data));
            }
        }
        if failing.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(POLL).await;
    }
    stop.store(true, Ordering::Relaxed);
    load.join().expect("the load thread");
    assert!(
        failing.is_empty(),
        "{} of {} checks still failing after {DEADLINE:?}:\n{}\nPrometheus log: {}",
        failing.len(),
        checks.len(),
        failing
            .iter()
            .map(|(what, data)| format!("- {what}\n  last answer: {data}"))
            .collect::<Vec<_>>()
            .join("\n"),
        std::fs::read_to_string(&prometheus.log).unwrap_or_default()
    );
}
