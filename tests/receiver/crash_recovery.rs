//! Nothing lost, nothing doubled: `voicetrace serve` is killed with SIGKILL mid-ingest,
//! mid-assembly and mid-delivery while 200 simulated calls flow through it, restarted on the same
//! data directory each time, and an http sink endpoint must still receive every call's call log,
//! complete (every turn, the figures the agent recorded), once per revision.
//!
//! The calls are the crate's simulated agent (exact expected figures), exported once through the
//! crate's own OTLP/HTTP pipeline into a capture server and regrouped into two requests per call
//! (the call's spans, then its root). A client that retries like an OTLP exporter (on a refused
//! connection, a reset, or any answer but 200) sends them. Delivery is at least once with an
//! `Idempotency-Key`, so the endpoint dedupes by key as a real ingest API does; the test checks
//! that a retransmission carries the same key and the same body, and that the revisions are the
//! ones a run without kills produces (revision 1, nothing more).
//!
//! Every wait is on a condition (a listening line, a count of answers or deliveries) with a
//! deadline, never a bare sleep.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use prost::Message;
use tokio::sync::watch;
use voicetrace::instrument::simulate::{SimConfig, SimulatedCall};
use voicetrace::instrument::Protocol;
use voicetrace::receiver::calllog::CallLog;
use voicetrace::receiver::store::Store;
use voicetrace::trace_id::from_hex;

use crate::common::agent::{assert_simulated, Agent};
use crate::common::calllog::delivery_key;
use crate::common::capture::Capture;
use crate::common::endpoint::{Endpoint, Received, Reply};
use crate::common::otlp;
use crate::common::serve::{command, Listen, Serve};
use crate::common::wait::until;
use voicetrace::trace_id::trace_id_hex;

/// Calls driven through the receiver at once.
const CALLS: usize = 200;
/// Calls simulated (and flushed) at a time when the test plans them.
const CHUNK: usize = 25;
/// The receiver's grace after a root span: long enough that the kill after the last request
/// lands while calls are still being assembled.
const GRACE_MS: &str = "2000";

// ----- the calls: simulated once, regrouped into per-call requests ----------------------------

/// One call's requests (its spans without the root, then the root) and its expected figures.
struct PlannedCall {
    expected: SimulatedCall,
    requests: Vec<Vec<u8>>,
}

/// Runs the simulated agent (no sleeps) through the crate's OTLP/HTTP exporter into a capture
/// server, and regroups what it exported per call.
async fn plan_calls() -> Vec<PlannedCall> {
    let capture = Capture::http();
    let agent = Agent::exporting(
        Protocol::HttpProtobuf,
        &capture.endpoint(),
        Duration::from_millis(50),
    );
    // In chunks, flushed one by one: all 200 calls at once (no sleeps) would overflow the batch
    // processor's queue, which drops spans as the OpenTelemetry SDK does when it is full.
    let mut calls = Vec::with_capacity(CALLS);
    for chunk in 0..CALLS / CHUNK {
        calls.extend(
            agent
                .simulate(&SimConfig {
                    calls: CHUNK,
                    exchanges: 3,
                    time_scale: 0.0,
                    seed: chunk as u64,
                    call_id_prefix: format!("crash-{chunk}-"),
                    ..SimConfig::default()
                })
                .await,
        );
        agent.flush();
    }
    let roots = |spans: &[_]| {
        let spans: &[crate::common::capture::CapturedSpan] = spans;
        spans.iter().filter(|s| s.name == "conversation").count()
    };
    let spans = tokio::task::block_in_place(|| capture.wait_for(|s| roots(s) >= CALLS));
    assert!(roots(&spans) >= CALLS, "the agent's spans are captured");

    let requests = capture.requests();
    calls
        .into_iter()
        .map(|call| {
            let trace_id = from_hex::<16>(&call.trace_id).unwrap().to_vec();
            let requests = [
                otlp::select(&requests, |s| {
                    s.trace_id == trace_id && s.name != "conversation"
                }),
                otlp::select(&requests, |s| {
                    s.trace_id == trace_id && s.name == "conversation"
                }),
            ]
            .into_iter()
            .map(|r| r.expect("every call has spans and a root").encode_to_vec())
            .collect();
            PlannedCall {
                expected: call,
                requests,
            }
        })
        .collect()
}

// ----- the sink's endpoint --------------------------------------------------------------------

/// Takes every delivery at once.
fn accept() -> Reply {
    Reply::Status(200)
}

/// A slow ingest API that is sometimes busy: every third request is answered 503 (not taken);
/// the others are taken but answered only after a pause, so a kill catches deliveries the
/// endpoint took and the receiver never heard of.
fn slow() -> Reply {
    let late = Reply::Delayed(200, Duration::from_millis(300));
    Reply::Cycle(vec![Reply::Status(503), late.clone(), late])
}

/// The idempotency key of a delivery.
fn key(r: &Received) -> String {
    r.header("idempotency-key")
        .expect("every delivery has an Idempotency-Key")
        .to_string()
}

/// Distinct idempotency keys the endpoint took.
fn distinct(endpoint: &Endpoint) -> usize {
    endpoint.with_received(|all| {
        let keys: BTreeSet<String> = all.iter().filter(|r| r.taken()).map(key).collect();
        keys.len()
    })
}

// ----- the receiver as a child process --------------------------------------------------------

fn spawn_serve(data: &Path, sink: &str, run: usize) -> Serve {
    let log = std::fs::File::create(data.join(format!("serve-{run}.log"))).unwrap();
    // The listening line is printed once every listener is bound (and the journal replayed).
    Serve::spawn(
        command(&data.join("store"), Listen::otlp())
            .args(["--grace-ms", GRACE_MS])
            .arg("--sink")
            .arg(sink)
            .env("RUST_LOG", "info")
            .stderr(log),
    )
}

// ----- the retrying exporter ------------------------------------------------------------------

/// Sends a call's requests in order to whichever receiver is up (its traces URL), each until
/// it is answered 200 (as an OTLP exporter retries a refused connection, a reset, a 503).
async fn send_call(
    client: reqwest::Client,
    requests: Vec<Vec<u8>>,
    mut receiver: watch::Receiver<Option<String>>,
    answered: Arc<AtomicUsize>,
) {
    for body in requests {
        loop {
            let Some(url) = receiver.borrow_and_update().clone() else {
                let _ = receiver.changed().await;
                continue;
            };
            let sent = client
                .post(url)
                .header("content-type", "application/x-protobuf")
                .body(body.clone())
                .send()
                .await;
            if matches!(&sent, Ok(r) if r.status() == 200) {
                answered.fetch_add(1, Ordering::SeqCst);
                break;
            }
            // Retry soon, or as soon as a new receiver is up.
            let _ = tokio::time::timeout(Duration::from_millis(20), receiver.changed()).await;
        }
    }
}

// ----- the test -------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_call_log_arrives_once_through_sigkills() {
    let planned = plan_calls().await;
    let requests_total: usize = planned.iter().map(|c| c.requests.len()).sum();
    let data = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(accept()).await;
    let sink = format!("http:{}/calls", endpoint.url());

    // 1. Mid-ingest: killed while the 200 calls' requests are in flight.
    let mut serve = spawn_serve(data.path(), &sink, 1);
    let (current, receiver) = watch::channel(Some(serve.traces_url()));
    let answered = Arc::new(AtomicUsize::new(0));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let senders: Vec<_> = planned
        .iter()
        .map(|call| {
            tokio::spawn(send_call(
                client.clone(),
                call.requests.clone(),
                receiver.clone(),
                answered.clone(),
            ))
        })
        .collect();
    until("a third of the requests are answered", || {
        answered.load(Ordering::SeqCst) >= requests_total / 3
    })
    .await;
    current.send_replace(None);
    serve.kill();
    let answered_at_kill = answered.load(Ordering::SeqCst);
    assert!(
        answered_at_kill < requests_total,
        "the kill came mid-ingest"
    );

    // 2. Mid-assembly: restarted, every request answered, killed before the grace is over.
    let mut serve = spawn_serve(data.path(), &sink, 2);
    current.send_replace(Some(serve.traces_url()));
    until("every request is answered", || {
        answered.load(Ordering::SeqCst) >= requests_total
    })
    .await;
    current.send_replace(None);
    serve.kill();
    for sender in senders {
        sender.await.unwrap();
    }
    let delivered_at_kill = distinct(&endpoint);
    eprintln!("killed mid-assembly with {delivered_at_kill} of {CALLS} call logs delivered");

    // 3. Mid-delivery: the endpoint is slow and sometimes busy; killed with deliveries taken
    // whose answers the receiver never saw.
    endpoint.set_default(slow());
    let mut serve = spawn_serve(data.path(), &sink, 3);
    let before = distinct(&endpoint);
    until("some call logs are delivered to a slow endpoint", || {
        distinct(&endpoint) >= (before + 20).min(CALLS)
    })
    .await;
    serve.kill();
    let delivered_at_kill = distinct(&endpoint);
    assert!(
        delivered_at_kill < CALLS,
        "the kill came mid-delivery ({delivered_at_kill} of {CALLS} delivered)"
    );

    // 4. The last start: everything arrives; then a clean stop (SIGTERM exits 0).
    endpoint.set_default(accept());
    let mut serve = spawn_serve(data.path(), &sink, 4);
    until("every call log is delivered", || {
        distinct(&endpoint) >= CALLS
    })
    .await;
    // An exporter that never heard the answer to a request sends it again, here after the
    // call's log went out: the spans are the same, so no new revision may come of them.
    let resent = &planned[..10];
    for call in resent {
        let response = client
            .post(serve.traces_url())
            .header("content-type", "application/x-protobuf")
            .body(call.requests[1].clone())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    // SIGTERM: the receiver finishes what it holds (a revision, if it made one, is stored and
    // offered to the sink) before it exits.
    let status = serve.terminate();
    assert!(status.success(), "serve exits 0 on SIGTERM: {status:?}");

    // What the endpoint took: per key, every copy identical; the keys are exactly one
    // revision (1) per call, as without kills.
    let mut by_key: BTreeMap<String, Vec<Vec<u8>>> = BTreeMap::new();
    endpoint.with_received(|all| {
        for r in all.iter().filter(|r| r.taken()) {
            by_key.entry(key(r)).or_default().push(r.body.to_vec());
        }
    });
    let retransmitted = by_key.values().filter(|b| b.len() > 1).count();
    eprintln!(
        "{} deliveries taken for {} keys ({retransmitted} keys retransmitted)",
        by_key.values().map(Vec::len).sum::<usize>(),
        by_key.len()
    );
    for (key, bodies) in &by_key {
        assert!(
            bodies.iter().all(|b| b == &bodies[0]),
            "{key}: a retransmission carries a different body"
        );
    }
    let expected_keys: BTreeSet<String> = planned
        .iter()
        .map(|c| delivery_key(&c.expected.call_id, &trace_id_hex(&c.expected.call_id), 1))
        .collect();
    let got_keys: BTreeSet<String> = by_key.keys().cloned().collect();
    let extra: Vec<&String> = got_keys.difference(&expected_keys).collect();
    let missing: Vec<&String> = expected_keys.difference(&got_keys).collect();
    assert!(
        extra.is_empty() && missing.is_empty(),
        "one revision (1) per call, as a run without kills: unexpected {extra:?}, missing {missing:?}"
    );

    // Every call log complete: every turn, the figures the agent recorded.
    let logs: HashMap<String, CallLog> = by_key
        .values()
        .map(|bodies| {
            let log: CallLog = serde_json::from_slice(&bodies[0]).unwrap();
            (log.id.clone(), log)
        })
        .collect();
    for call in planned.iter().map(|c| &c.expected) {
        let log = &logs[&call.call_id];
        assert_eq!(log.revision, 1);
        assert_simulated(log, call);
    }

    // The store agrees: no revision beyond the first, nothing left to deliver, and the journal
    // holds nothing of calls whose call logs are stored.
    let store = Store::open(&data.path().join("store")).unwrap();
    for call in planned.iter().map(|c| &c.expected) {
        assert_eq!(
            store.revisions(&call.call_id).unwrap(),
            [1],
            "{}",
            call.call_id
        );
    }
    assert_eq!(store.outbox_depth().unwrap(), 0, "the outbox is drained");
    assert_eq!(store.journal_depth().unwrap(), 0, "the journal is pruned");
}
