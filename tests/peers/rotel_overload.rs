//! Back-pressure with a real retrying exporter: the crate's simulated agent exports to rotel (a
//! Rust OTLP collector that retries refused exports), rotel exports to `voicetrace serve`, and
//! voicetrace's only sink is down, so its outbox reaches its bound (`max_outbox`) and ingest
//! answers "retry later" (gRPC `UNAVAILABLE`). rotel holds the spans and retries; once the sink
//! is back the outbox drains, ingest takes spans again, and every call's call log arrives
//! complete, once: nothing was dropped through the overload.
//!
//! Needs `scripts/setup-test-env.sh` (rotel in the venv under target/venv).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use voicetrace::instrument::simulate::{SimConfig, SimulatedCall};
use voicetrace::receiver::calllog::CallLog;

use crate::common::agent::assert_simulated;
use crate::common::calllog::delivery_key;
use crate::common::endpoint::{Endpoint, Received, Reply};
use crate::common::http::metric;
use crate::common::peers::{wait_rotel_retry, Rotel};
use crate::common::serve::{command, Listen, Serve};
use crate::common::wait::wait_for;
use voicetrace::trace_id::trace_id_hex;

/// Undelivered call logs voicetrace holds before it refuses spans: a few, so the overload
/// comes at once.
const MAX_OUTBOX: u64 = 3;
/// Calls simulated per flush (the batch processor's queue holds a few thousand spans).
const CHUNK: usize = 10;
/// Chunks sent at most: one after another until voicetrace refuses one.
const MAX_CHUNKS: usize = 6;

/// `voicetrace_spans_refused_total` from `/metrics`.
async fn spans_refused(api: SocketAddr) -> u64 {
    metric(api, "voicetrace_spans_refused_total")
        .await
        .map_or(0, |v| v as u64)
}

/// The idempotency key of a delivery.
fn key(r: &Received) -> String {
    r.header("idempotency-key").unwrap_or_default().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotel_retries_through_a_full_outbox_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    // An ingest API for the http sink: down (503) until it is back, then takes every call log.
    let endpoint = Endpoint::start(Reply::Status(503)).await;

    let config = dir.path().join("serve.toml");
    std::fs::write(
        &config,
        format!(
            r#"
grace_ms = 200
max_outbox = {MAX_OUTBOX}

[[sinks]]
kind = "http"
target = "{}/calls"
[sinks.retry]
initial_backoff_ms = 50
max_backoff_ms = 200
"#,
            endpoint.url()
        ),
    )
    .unwrap();
    let serve = Serve::spawn(
        command(&dir.path().join("data"), Listen::with_api())
            .arg("--config")
            .arg(&config)
            .stderr(Stdio::inherit()),
    );
    let api = serve.api.expect("serve has an API");

    let rotel = Rotel::start(dir.path(), serve.grpc);
    let agent = rotel.agent("rotel-overload-agent", Duration::from_millis(50));
    // The sink is down. Each chunk of calls, once assembled, waits in the outbox (the sink
    // tries one of them); past the outbox's bound voicetrace refuses the next chunk's spans.
    let mut calls: Vec<SimulatedCall> = Vec::new();
    for chunk in 0..MAX_CHUNKS {
        let sent = agent
            .simulate(&SimConfig {
                calls: CHUNK,
                exchanges: 3,
                time_scale: 0.0,
                seed: chunk as u64,
                call_id_prefix: format!("overload-{}-{chunk}-", std::process::id()),
                ..SimConfig::default()
            })
            .await;
        agent.flush();
        let refused = wait_for(
            "the chunk's call logs in the outbox, or a refusal",
            || async {
                if spans_refused(api).await > 0 {
                    return Some(true);
                }
                let tried: BTreeSet<String> =
                    endpoint.with_received(|all| all.iter().map(key).collect());
                sent.iter()
                    .any(|c| {
                        tried.contains(&delivery_key(&c.call_id, &trace_id_hex(&c.call_id), 1))
                    })
                    .then_some(false)
            },
        )
        .await;
        calls.extend(sent);
        if refused {
            break;
        }
    }
    wait_for("voicetrace to refuse spans (outbox full)", || async {
        (spans_refused(api).await > 0).then_some(())
    })
    .await;
    wait_rotel_retry(dir.path()).await;
    let (refused, taken) = endpoint.with_received(|all| {
        (
            all.iter().filter(|r| r.status == 503).count(),
            all.iter().filter(|r| r.taken()).count(),
        )
    });
    assert!(refused > 0, "the sink was down");
    assert_eq!(taken, 0);

    // The sink is back: everything arrives, once per call.
    endpoint.set_default(Reply::Status(200));
    wait_for("every call log to arrive", || async {
        let keys: BTreeSet<String> =
            endpoint.with_received(|all| all.iter().filter(|r| r.taken()).map(key).collect());
        (keys.len() >= calls.len()).then_some(())
    })
    .await;
    let mut by_key: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    endpoint.with_received(|all| {
        for r in all.iter().filter(|r| r.taken()) {
            if let Some(first) = by_key.get(&key(r)) {
                assert_eq!(
                    first.as_slice(),
                    &r.body[..],
                    "{}: a retransmission with another body",
                    key(r)
                );
            }
            by_key.insert(key(r), r.body.to_vec());
        }
    });
    let expected: BTreeSet<String> = calls
        .iter()
        .map(|c| delivery_key(&c.call_id, &trace_id_hex(&c.call_id), 1))
        .collect();
    let got: BTreeSet<String> = by_key.keys().cloned().collect();
    assert_eq!(got, expected, "one call log per call, revision 1");
    for call in &calls {
        let log: CallLog = serde_json::from_slice(
            &by_key[&delivery_key(&call.call_id, &trace_id_hex(&call.call_id), 1)],
        )
        .unwrap();
        assert_simulated(&log, call);
    }
    drop(agent);
}
