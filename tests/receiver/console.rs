//! The console in a real browser (headless Chromium over WebDriver) against a running
//! `voicetrace serve` fed the real Pipecat and LiveKit fixtures over OTLP/HTTP: the list shows
//! each call and narrows with its filters, a call's page carries every turn's figures, a call
//! that finishes while the list is open appears, the fleet and deployment pages show a live
//! call's deployment, a browser without the API token's cookie sees the sign-in form and no
//! call data, the player seeks to a turn, and the demo leaves a console running. Each test
//! also checks that the browser logged no error and requested nothing but 127.0.0.1.
//!
//! `cargo test --all-features --test receiver -- --ignored console::screenshots` rewrites the
//! README's pictures (`docs/console-*.png`) from the demo's calls.

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use serde_json::Value;

use crate::common::browser::Browser;
use crate::common::calllog::{scored_call, scored_turn};
use crate::common::fixtures::{expected, fixture_dirs, request_bodies};
use crate::common::http::{encode, post_traces};
use crate::common::otlp::{kv_f64, kv_i64, kv_str, request, span};
use crate::common::serve::{command, Listen, Serve};
use crate::common::wait::{wait_for, DEADLINE};

use voicetrace::receiver::calllog::{CallStatus, CallUpdate};
use voicetrace::receiver::store::Store;

/// The call ids of every fixture.
fn fixture_call_ids() -> Vec<String> {
    fixture_dirs()
        .iter()
        .flat_map(|d| expected(d))
        .map(|c| c["callId"].as_str().unwrap().to_string())
        .collect()
}

/// `serve` with its API (and `extra` flags), fed every fixture over OTLP/HTTP.
async fn serve_fixtures(dir: &Path, extra: &[&str]) -> Serve {
    let mut cmd = command(dir, Listen::with_api());
    cmd.args(["--grace-ms", "200"]).args(extra);
    let serve = Serve::spawn(&mut cmd);
    for fixture in fixture_dirs() {
        post_traces(&serve.traces_url(), &request_bodies(&fixture)).await;
    }
    serve
}

/// The API's call logs of `ids` (with the bearer token when given), once all are stored.
async fn call_logs(api: SocketAddr, ids: &[String], token: Option<&str>) -> Vec<Value> {
    let http = reqwest::Client::new();
    let mut logs = Vec::new();
    for id in ids {
        let log = wait_for(&format!("call {id} in the API"), || {
            let mut request = http.get(format!(
                "http://{api}/v1/observability/calls/{}",
                encode(id)
            ));
            if let Some(t) = token {
                request = request.bearer_auth(t);
            }
            async move {
                let answer = request.send().await.ok()?;
                if !answer.status().is_success() {
                    return None;
                }
                serde_json::from_str::<Value>(&answer.text().await.ok()?).ok()
            }
        })
        .await;
        logs.push(log);
    }
    logs
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// A one-turn voicetrace call `call_id` starting now, sent by a process that names its
/// deployment (`deployment.id`, `service.version`, `deployment.environment.name`).
fn live_call(call_id: &str, trace: [u8; 16], deployment: &str) -> ExportTraceServiceRequest {
    let t0 = now_ns();
    let ms = 1_000_000u64;
    let id = |n: u8| [0, 0, 0, 0, 0, 0, 0, n];
    let on_call = |mut attrs: Vec<_>| {
        attrs.push(kv_str("conversation.id", call_id));
        attrs
    };
    let spans = vec![
        span(
            &trace,
            &id(1),
            None,
            "conversation",
            t0,
            t0 + 4000 * ms,
            on_call(vec![
                kv_str("gen_ai.agent.id", "live-agent"),
                kv_str("call.direction", "inbound"),
            ]),
        ),
        span(
            &trace,
            &id(2),
            Some(&id(1)),
            "turn",
            t0 + 100 * ms,
            t0 + 3500 * ms,
            on_call(vec![
                kv_i64("turn.index", 0),
                kv_str("turn.user.text", "I would like a refund for my headphones"),
                kv_str("turn.agent.text", "Of course, let me look that up."),
                kv_f64("turn.user_bot_latency_seconds", 1.4),
            ]),
        ),
        span(
            &trace,
            &id(3),
            Some(&id(2)),
            "stt",
            t0 + 100 * ms,
            t0 + 400 * ms,
            on_call(vec![
                kv_str("gen_ai.operation.name", "stt"),
                kv_f64("metrics.ttfb", 0.2),
            ]),
        ),
        span(
            &trace,
            &id(4),
            Some(&id(2)),
            "llm",
            t0 + 450 * ms,
            t0 + 1200 * ms,
            on_call(vec![
                kv_str("gen_ai.operation.name", "chat"),
                kv_f64("metrics.ttfb", 0.45),
            ]),
        ),
        span(
            &trace,
            &id(5),
            Some(&id(2)),
            "tts",
            t0 + 1250 * ms,
            t0 + 3400 * ms,
            on_call(vec![
                kv_str("gen_ai.operation.name", "tts"),
                kv_f64("metrics.ttfb", 0.15),
            ]),
        ),
    ];
    let mut request = request(Some("live-agent-svc"), spans);
    let resource: &mut Resource = request.resource_spans[0].resource.as_mut().unwrap();
    resource.attributes.extend([
        kv_str("deployment.id", deployment),
        kv_str("service.version", "2.0.0"),
        kv_str("deployment.environment.name", "staging"),
    ]);
    request
}

/// The figure of a turn in the call log as the page writes it: the number, or empty for null.
fn figure(turn: &Value, key: &str) -> String {
    turn[key]
        .as_i64()
        .map(|v| v.to_string())
        .unwrap_or_default()
}

/// Opens a call's page from the list and checks every turn's figures against its call log.
async fn check_call_page(browser: &Browser, log: &Value) {
    let id = log["id"].as_str().unwrap();
    let link = browser
        .find(&format!("tr[data-call-id='{id}'] a[href^='/calls/']"))
        .await;
    link.click().await.unwrap();
    browser.find("section.turn[data-turn-index]").await;
    browser.wait_ready().await;
    let html = browser.html().await;
    assert!(html.contains(id), "the call's page names the call {id}");
    let turns = log["turns"].as_array().unwrap();
    let sections = browser.all("section.turn[data-turn-index]").await;
    assert_eq!(sections.len(), turns.len(), "{id}: one section per turn");
    for (section, turn) in sections.iter().zip(turns) {
        for (attr, key) in [
            ("data-turn-index", "index"),
            ("data-stt-ms", "sttMs"),
            ("data-llm-ms", "llmMs"),
            ("data-tts-ms", "ttsMs"),
            ("data-latency-ms", "latencyMs"),
        ] {
            let got = section.attr(attr).await.unwrap().unwrap_or_default();
            assert_eq!(
                got,
                figure(turn, key),
                "{id} turn {}: {attr}",
                turn["index"]
            );
        }
    }
    assert!(
        !browser.all("svg.timeline rect.bar").await.is_empty(),
        "{id}: the timeline draws the stage spans"
    );
    browser.assert_clean().await;
}

/// A word of one call's transcript that no other call's transcript holds.
fn unique_word(logs: &[Value], index: usize) -> String {
    let transcript = |log: &Value| -> String {
        log["turns"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| [t["userText"].as_str(), t["text"].as_str()])
            .flatten()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase()
    };
    let others: Vec<String> = logs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != index)
        .map(|(_, l)| transcript(l))
        .collect();
    transcript(&logs[index])
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() >= 5)
        .find(|w| others.iter().all(|o| !o.contains(*w)))
        .expect("a word only this call says")
        .to_string()
}

async fn listed_ids(browser: &Browser) -> HashSet<String> {
    let mut ids = HashSet::new();
    for row in browser.all("tbody[data-live-rows] tr[data-call-id]").await {
        ids.insert(row.attr("data-call-id").await.unwrap().unwrap());
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_lists_opens_and_filters_the_fixture_calls() {
    let dir = tempfile::tempdir().unwrap();
    let mut serve = serve_fixtures(dir.path(), &[]).await;
    let api = serve.api.unwrap();
    let ids = fixture_call_ids();
    let logs = call_logs(api, &ids, None).await;
    let browser = Browser::start().await;
    let home = format!("http://{api}/");

    // The list shows every call; each call's page carries its turns' figures.
    for log in &logs {
        browser.open(&home).await;
        let id = log["id"].as_str().unwrap();
        browser.find(&format!("tr[data-call-id='{id}']")).await;
        assert_eq!(listed_ids(&browser).await, ids.iter().cloned().collect());
        browser.assert_clean().await;
        check_call_page(&browser, log).await;
    }

    // Filters narrow the list, in the URL (shareable).
    browser.open(&home).await;
    let agent = logs[0]["agentId"].as_str().unwrap().to_string();
    let field = browser.find("input[name='agent']").await;
    field.send_keys(&agent).await.unwrap();
    browser
        .find("form.filters button[type='submit']")
        .await
        .click()
        .await
        .unwrap();
    wait_for("the agent filter in the URL", || async {
        let url = browser.client.current_url().await.ok()?;
        url.query()
            .is_some_and(|q| q.contains("agent="))
            .then_some(())
    })
    .await;
    browser.wait_ready().await;
    let of_agent: HashSet<String> = logs
        .iter()
        .filter(|l| l["agentId"] == agent.as_str())
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed_ids(&browser).await, of_agent, "agent {agent}");
    let word = unique_word(&logs, logs.len() - 1);
    browser.open(&format!("{home}?q={}", encode(&word))).await;
    let only = logs.last().unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(
        listed_ids(&browser).await,
        HashSet::from([only]),
        "transcript '{word}'"
    );
    browser.open(&format!("{home}?status=failed")).await;
    let failed: HashSet<String> = logs
        .iter()
        .filter(|l| l["status"] == "failed")
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed_ids(&browser).await, failed);

    // A call that finishes while the list is open appears without a reload.
    browser.open(&home).await;
    browser.find("[data-live-status]:not([hidden])").await;
    let live = live_call("live-call-1", [7; 16], "dep-live");
    post_traces(&serve.traces_url(), &[live.encode_to_vec()]).await;
    let row = browser.find("tr[data-call-id='live-call-1']").await;
    assert_eq!(row.attr("class").await.unwrap().as_deref(), Some("new"));
    let deployment = browser
        .find("tr[data-call-id='live-call-1'] td a[href^='/deployments/']")
        .await;
    assert_eq!(deployment.text().await.unwrap(), "dep-live");
    browser.assert_clean().await;

    // The deployment lists its calls; the fleet shows the live agent's stages.
    browser.open(&format!("http://{api}/deployments")).await;
    browser.find("tr[data-deployment='dep-live']").await;
    browser
        .open(&format!("http://{api}/deployments/dep-live"))
        .await;
    browser.find("tr[data-call-id='live-call-1']").await;
    browser
        .open(&format!("http://{api}/fleet?window=hour"))
        .await;
    browser
        .find("div[data-agent='live-agent'] div.card[data-figure='voice_to_voice'] svg")
        .await;
    browser
        .find("div[data-agent='live-agent'] tr[data-figure='llm']")
        .await;
    browser.assert_clean().await;
    browser.quit().await;
    serve.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn with_an_api_token_a_browser_without_the_cookie_sees_only_the_sign_in_form() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("api-token");
    std::fs::write(&token_file, "console-s3cret\n").unwrap();
    let data = dir.path().join("data");
    let token_arg = token_file.display().to_string();
    let mut serve = serve_fixtures(&data, &["--api-token-file", &token_arg]).await;
    let api = serve.api.unwrap();
    let ids = fixture_call_ids();
    let logs = call_logs(api, &ids, Some("console-s3cret")).await;
    let id = logs[0]["id"].as_str().unwrap();
    let trace = logs[0]["traceId"].as_str().unwrap();
    let page = format!("http://{api}/calls/{}?traceId={trace}", encode(id));

    let browser = Browser::start().await;
    for url in [
        format!("http://{api}/"),
        page.clone(),
        format!("http://{api}/fleet"),
    ] {
        browser.open(&url).await;
        browser
            .find("form[action='/console/signin'] input[name='token']")
            .await;
        // The form keeps the path asked for (to go back to it); the page shows nothing stored.
        let text = browser.eval("return document.body.innerText").await;
        let text = text.as_str().unwrap();
        assert!(browser
            .all("tr[data-call-id], section.turn")
            .await
            .is_empty());
        for id in &ids {
            assert!(
                !text.contains(id.as_str()),
                "{url} shows call {id} without the token"
            );
        }
        let first_words = logs[0]["turns"][1]["userText"].as_str().unwrap_or("-");
        assert!(
            !browser.html().await.contains(first_words),
            "{url} shows a transcript"
        );
    }
    // The page's own fetches need the cookie too; the JSON API keeps its bearer header.
    let http = reqwest::Client::new();
    let rows = http
        .get(format!("http://{api}/console/rows"))
        .send()
        .await
        .unwrap();
    assert_eq!(rows.status(), 401);
    let retry = http
        .post(format!("http://{api}/console/sinks/x/retry-dead"))
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 401, "a state change needs the token");
    let listed = http
        .get(format!("http://{api}/v1/observability/calls"))
        .bearer_auth("console-s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);

    // A wrong token is refused; the right one opens the page asked for, in a cookie no
    // script can read.
    browser.open(&page).await;
    let field = browser.find("input[name='token']").await;
    field.send_keys("wrong").await.unwrap();
    browser
        .find("form[action='/console/signin'] button")
        .await
        .click()
        .await
        .unwrap();
    browser.find("p.error").await;
    let field = browser.find("input[name='token']").await;
    field.send_keys("console-s3cret").await.unwrap();
    browser
        .find("form[action='/console/signin'] button")
        .await
        .click()
        .await
        .unwrap();
    browser.find("section.turn[data-turn-index]").await;
    browser.wait_ready().await;
    assert!(browser.html().await.contains(id));
    assert_eq!(browser.eval("return document.cookie").await, "");
    let errors: Vec<String> = browser
        .errors()
        .await
        .into_iter()
        .filter(|e| !e.contains("status of 401"))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    browser.quit().await;
    serve.terminate();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_player_seeks_to_the_turn_clicked() {
    // Real speech, uploaded to the receiver as an agent would: the page plays what the
    // receiver keeps, over its own origin, with Range.
    let speech = crate::common::audio::speech();
    let dir = tempfile::tempdir().unwrap();
    let turns = (0..4)
        .map(|i| {
            let mut turn = scored_turn(i, 200, 400, 150, (i > 0).then_some(1000)).build();
            turn.start_ms = i64::from(i) * speech.duration_ms / 5;
            turn.end_ms = turn.start_ms + speech.duration_ms / 5;
            turn
        })
        .collect();
    let log = scored_call(
        "call-with-audio",
        "5bf92f3577b34da6a3ce929d0e0e4737",
        "player-agent",
        CallStatus::Completed,
        "2026-03-21T10:00:00.000Z",
        turns,
    );
    {
        let store = Store::open(dir.path()).unwrap();
        store
            .store_update(&CallUpdate::Finished(Box::new(log.clone())), &[], 0)
            .unwrap();
    }
    let mut serve = Serve::spawn(&mut command(dir.path(), Listen::with_api()));
    let api = serve.api.unwrap();
    // The recording starts 500 ms before the call: a turn at startMs plays at startMs + 500.
    let uploaded = reqwest::Client::new()
        .put(format!(
            "http://{}/v1/recordings/call-with-audio?traceId=5bf92f3577b34da6a3ce929d0e0e4737",
            serve.http
        ))
        .header("content-type", "audio/wav")
        .header("x-recording-start", "2026-03-21T09:59:59.500Z")
        .body(std::fs::read(&speech.wav).unwrap())
        .send()
        .await
        .unwrap();
    assert!(uploaded.status().is_success(), "{}", uploaded.status());
    wait_for("the recording attached to its call", || async {
        let logs = call_logs(api, &["call-with-audio".to_string()], None).await;
        logs[0].get("recording").map(|_| ())
    })
    .await;
    let browser = Browser::start().await;
    browser
        .open(&format!("http://{api}/calls/call-with-audio"))
        .await;
    browser.find("audio[data-recording]").await;
    wait_for("the recording's metadata", || async {
        let state = browser
            .eval("return document.querySelector('audio[data-recording]').readyState")
            .await;
        (state.as_i64()? >= 1).then_some(())
    })
    .await;
    let markers = browser.all("svg.timebar rect.marker").await;
    assert_eq!(markers.len(), 4, "each turn marked on the time bar");
    browser
        .find("section.turn[data-turn-index='2']")
        .await
        .click()
        .await
        .unwrap();
    let expected = (log.turns[2].start_ms + 500) as f64 / 1000.0;
    let at = browser
        .eval("return document.querySelector('audio[data-recording]').currentTime")
        .await;
    assert!(
        (at.as_f64().unwrap() - expected).abs() < 0.01,
        "seeked to {at}, expected {expected}"
    );
    assert!(browser
        .find("section.turn[data-turn-index='2']")
        .await
        .attr("class")
        .await
        .unwrap()
        .unwrap()
        .contains("selected"));
    browser.assert_clean().await;
    browser.quit().await;
    serve.terminate();
}

/// `voicetrace demo` with its console kept running: the URL it prints.
struct Demo {
    child: std::process::Child,
    console: String,
}

impl Demo {
    fn start(dir: &Path, args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_voicetrace"))
            .arg("demo")
            .arg("--data-dir")
            .arg(dir)
            .args(args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("voicetrace demo starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    // Keep reading so the demo never writes to a closed pipe.
                    continue;
                }
            }
        });
        let console = loop {
            let line = rx
                .recv_timeout(DEADLINE)
                .expect("the demo prints its console's URL");
            if let Some(rest) = line.strip_prefix("console: ") {
                break rest.split_whitespace().next().unwrap().to_string();
            }
        };
        Demo { child, console }
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_leaves_a_console_running_until_interrupted() {
    let dir = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(
        dir.path(),
        &["--calls", "2", "--exchanges", "2", "--time-scale", "0.05"],
    );
    let browser = Browser::start().await;
    browser.open(&demo.console).await;
    browser.find("tbody[data-live-rows] tr[data-call-id]").await;
    assert_eq!(browser.all("tbody[data-live-rows] tr").await.len(), 2);
    browser
        .find("tbody[data-live-rows] tr a[href^='/calls/']")
        .await
        .click()
        .await
        .unwrap();
    browser.find("svg.timeline rect.bar").await;
    browser.find("section.turn[data-turn-index='0']").await;
    browser.assert_clean().await;
    browser.quit().await;
    let interrupted = Command::new("kill")
        .args(["-s", "INT", "--", &demo.child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = crate::common::wait::wait_for_blocking("the demo to stop", || {
        demo.child.try_wait().unwrap()
    });
    assert!(status.success(), "Ctrl-C stops the demo cleanly: {status}");
}

/// Rewrites `docs/console-calls.png` and `docs/console-call.png` from the demo's calls.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "rewrites the README's pictures; run by hand"]
async fn screenshots() {
    let dir = tempfile::tempdir().unwrap();
    let demo = Demo::start(dir.path(), &["--time-scale", "0.5"]);
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs");
    let browser = Browser::start().await;
    browser.client.set_window_size(1280, 760).await.unwrap();
    browser.open(&demo.console).await;
    browser.find("tbody[data-live-rows] tr[data-call-id]").await;
    std::fs::write(docs.join("console-calls.png"), browser.screenshot().await).unwrap();
    browser
        .find("tbody[data-live-rows] tr a[href^='/calls/']")
        .await
        .click()
        .await
        .unwrap();
    browser.find("svg.timeline rect.bar").await;
    browser.wait_ready().await;
    browser.client.set_window_size(1280, 1180).await.unwrap();
    std::fs::write(docs.join("console-call.png"), browser.screenshot().await).unwrap();
    browser.quit().await;
    drop(demo);
}
