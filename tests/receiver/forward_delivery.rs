//! The delivery loop against endpoints that fail: 503 with Retry-After, 400 (dead letter and
//! re-queue), an endpoint down across a receiver restart (each revision delivered once), a slow
//! endpoint (ingest not held up, concurrency bounded), revisions of one call in order, and
//! attempts abandoned at shutdown (sent again at the next start).

use std::time::Instant;

use voicetrace::receiver::forward::{RetryPolicy, SinkKind};

use crate::common::calllog::finished;
use crate::common::calllog::sample_key;
use crate::common::cekura::CekuraValidator;
use crate::common::endpoint::{Endpoint, Received, Reply};
use crate::common::net::down_address;
use crate::common::sinks::{fast_retry, record, sink, start, wait_delivered, SinkSpec, API_KEY};
use crate::common::wait::{wait_for, DEADLINE};

fn revision_of(r: &Received) -> u64 {
    let key = r.header("idempotency-key").unwrap();
    key.rsplit(':').next().unwrap().parse().unwrap()
}

/// An endpoint that holds every request until released, and an http sink to it whose requests
/// do not time out meanwhile.
async fn hanging_http(dir: &std::path::Path) -> (Endpoint, SinkSpec) {
    let endpoint = Endpoint::start(Reply::Hang).await;
    let mut config = sink(SinkKind::Http, &endpoint.url(), None, dir);
    config.timeout_ms = Some(120_000);
    (endpoint, config)
}

#[tokio::test]
async fn an_endpoint_answering_503_with_retry_after_gets_it_once_it_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(201)).await;
    endpoint.script([Reply::Full(
        503,
        vec![("retry-after", "1".into())],
        "busy".into(),
    )]);
    let mut config = sink(SinkKind::Cekura, &endpoint.url(), Some(API_KEY), dir.path());
    config.agent = Some(7);
    let (store, forwarder) = start(dir.path(), &[config]);
    record(&forwarder, vec![finished("call_503", 1)]).await;

    let validator = CekuraValidator::new();
    let first = endpoint.next().await;
    let refused_at = Instant::now();
    let second = endpoint.next().await;
    // The backoff is 20 ms: only Retry-After explains a wait of a second.
    assert!(
        refused_at.elapsed().as_millis() >= 900,
        "Retry-After: 1 was not honoured"
    );
    for r in [&first, &second] {
        validator.check(&r.json);
        assert_eq!(
            r.header("idempotency-key"),
            Some(sample_key("call_503", 1).as_str())
        );
    }
    assert_eq!(first.json, second.json, "a retry sends the same body");
    wait_delivered(&store, "cekura", 1).await;
    let stats = store.sink_stats().unwrap();
    assert_eq!((stats[0].dead, stats[0].retrying), (0, 0));
    forwarder.shutdown().await;
    assert!(endpoint.drain_now().is_empty(), "delivered once");
}

#[tokio::test]
async fn a_400_is_a_dead_letter_with_its_reason_and_retry_dead_requeues_it() {
    let dir = tempfile::tempdir().unwrap();
    // The endpoint echoes the API key in its error: it must not reach the dead letter.
    let endpoint = Endpoint::start(Reply::EchoHeader(400, "x-cekura-api-key")).await;
    let mut config = sink(SinkKind::Cekura, &endpoint.url(), Some(API_KEY), dir.path());
    config.agent = Some(7);
    let (store, forwarder) = start(dir.path(), &[config]);
    record(&forwarder, vec![finished("call_400", 1)]).await;

    let validator = CekuraValidator::new();
    validator.check(&endpoint.next().await.json);
    let dead = wait_for("a dead letter", || {
        let store = store.clone();
        async move { store.dead_letters("cekura").unwrap().into_iter().next() }
    })
    .await;
    assert_eq!(dead.status, Some(400));
    assert_eq!(
        (dead.call_id.as_str(), dead.revision, dead.attempts),
        ("call_400", 1, 1)
    );
    assert!(
        dead.reason.starts_with("HTTP 400 Bad Request: "),
        "{}",
        dead.reason
    );
    assert!(
        dead.reason
            .contains("invalid key [redacted] for this agent"),
        "{}",
        dead.reason
    );
    assert!(
        !dead.reason.contains(API_KEY),
        "the secret leaked into the dead letter"
    );
    let stats = store.sink_stats().unwrap();
    assert_eq!(
        (stats[0].dead, stats[0].pending, stats[0].retrying),
        (1, 0, 0)
    );
    assert!(
        endpoint.drain_now().is_empty(),
        "a rejected entry is not retried"
    );

    endpoint.set_default(Reply::Status(201));
    assert_eq!(forwarder.retry_dead("cekura").unwrap(), 1);
    let again = endpoint.next().await;
    validator.check(&again.json);
    assert_eq!(
        again.header("idempotency-key"),
        Some(sample_key("call_400", 1).as_str())
    );
    wait_delivered(&store, "cekura", 1).await;
    assert!(store.dead_letters("cekura").unwrap().is_empty());
    forwarder.shutdown().await;
}

#[tokio::test]
async fn too_many_failed_attempts_park_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(500)).await;
    let mut config = sink(SinkKind::Http, &endpoint.url(), None, dir.path());
    config.retry = Some(RetryPolicy {
        max_attempts: 3,
        ..fast_retry()
    });
    let (store, forwarder) = start(dir.path(), &[config]);
    record(&forwarder, vec![finished("call_500", 1)]).await;
    endpoint.take(3).await;
    let dead = wait_for("a dead letter", || {
        let store = store.clone();
        async move { store.dead_letters("http").unwrap().into_iter().next() }
    })
    .await;
    assert_eq!((dead.status, dead.attempts), (Some(500), 3));
    assert!(
        dead.reason.contains("gave up after 3 attempts"),
        "{}",
        dead.reason
    );
    forwarder.shutdown().await;
    assert!(endpoint.drain_now().is_empty());
}

#[tokio::test]
async fn an_endpoint_down_across_a_receiver_restart_gets_each_revision_once() {
    let dir = tempfile::tempdir().unwrap();
    let addr = down_address();
    let mut config = sink(
        SinkKind::Cekura,
        &format!("http://{addr}"),
        Some(API_KEY),
        dir.path(),
    );
    config.agent = Some(7);

    // The endpoint is down: every attempt fails, nothing is lost.
    let (store, forwarder) = start(dir.path(), std::slice::from_ref(&config));
    record(
        &forwarder,
        vec![
            finished("call_a", 1),
            finished("call_b", 1),
            finished("call_a", 2),
        ],
    )
    .await;
    wait_for("failed attempts", || {
        let store = store.clone();
        async move { (store.sink_stats().unwrap()[0].retrying >= 2).then_some(()) }
    })
    .await;
    let reason = store.sink_stats().unwrap();
    assert_eq!(reason[0].delivered, 0);
    // The receiver stops.
    forwarder.shutdown().await;
    drop(store);

    // The endpoint comes back; the receiver restarts from the same data directory.
    let endpoint = Endpoint::start_on(addr, Reply::Status(201)).await;
    let (store, forwarder) = start(dir.path(), &[config]);
    let validator = CekuraValidator::new();
    let got = endpoint.take(3).await;
    for r in &got {
        validator.check(&r.json);
    }
    let a: Vec<u64> = got
        .iter()
        .filter(|r| r.json["call_id"] == "call_a")
        .map(revision_of)
        .collect();
    let b: Vec<u64> = got
        .iter()
        .filter(|r| r.json["call_id"] == "call_b")
        .map(revision_of)
        .collect();
    assert_eq!(a, [1, 2], "call_a's revisions in order");
    assert_eq!(b, [1]);
    wait_delivered(&store, "cekura", 3).await;
    assert_eq!(store.outbox_depth().unwrap(), 0);
    forwarder.shutdown().await;
    assert!(
        endpoint.drain_now().is_empty(),
        "exactly one delivery per revision"
    );
    assert_eq!(
        store.latest_call("call_a", None).unwrap().unwrap().revision,
        2
    );
}

#[tokio::test]
async fn a_slow_endpoint_holds_up_neither_record_nor_more_than_its_concurrency() {
    let dir = tempfile::tempdir().unwrap();
    let (endpoint, mut config) = hanging_http(dir.path()).await;
    config.concurrency = Some(2);
    let (store, forwarder) = start(dir.path(), &[config]);

    const CALLS: u64 = 100;
    let updates = (0..CALLS)
        .map(|i| finished(&format!("call_{i}"), 1))
        .collect();
    // Every record returns while the endpoint holds the first requests.
    tokio::time::timeout(DEADLINE, record(&forwarder, updates))
        .await
        .expect("record() returned while the endpoint hangs");
    endpoint.take(2).await;
    let stats = store.sink_stats().unwrap();
    assert_eq!(stats[0].pending, CALLS, "all stored, none delivered yet");
    assert_eq!(endpoint.max_in_flight(), 2);

    endpoint.release();
    wait_delivered(&store, "http", CALLS).await;
    assert!(
        endpoint.max_in_flight() <= 2,
        "at most `concurrency` requests at once"
    );
    let rest = endpoint.drain_now();
    assert_eq!(rest.len() as u64, CALLS - 2, "each call log once");
    forwarder.shutdown().await;
}

#[tokio::test]
async fn revisions_of_one_call_are_delivered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let endpoint = Endpoint::start(Reply::Status(200)).await;
    // Some requests fail once, whichever they are.
    endpoint.script([Reply::Status(503), Reply::Status(200), Reply::Status(503)]);
    let mut config = sink(SinkKind::Http, &endpoint.url(), None, dir.path());
    config.concurrency = Some(4);
    let (store, forwarder) = start(dir.path(), &[config]);
    let mut updates = Vec::new();
    for revision in 1..=5 {
        updates.push(finished("call_o", revision));
        updates.push(finished(&format!("call_p{revision}"), 1));
    }
    record(&forwarder, updates).await;
    wait_delivered(&store, "http", 10).await;
    forwarder.shutdown().await;
    let got = endpoint.drain_now();
    let o: Vec<u64> = got
        .iter()
        .filter(|r| r.json["id"] == "call_o")
        .map(revision_of)
        .collect();
    assert!(o.windows(2).all(|w| w[0] <= w[1]), "out of order: {o:?}");
    let mut distinct = o.clone();
    distinct.dedup();
    assert_eq!(distinct, [1, 2, 3, 4, 5], "{o:?}");
}

#[tokio::test]
async fn attempts_abandoned_at_shutdown_are_sent_again_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let (endpoint, config) = hanging_http(dir.path()).await;
    let (store, forwarder) = start(dir.path(), std::slice::from_ref(&config));
    record(&forwarder, vec![finished("call_s", 1)]).await;
    let held = endpoint.next().await;
    // Shutdown gives up on the held request after its grace; the entry stays in the outbox.
    forwarder.shutdown().await;
    assert_eq!(store.outbox_depth().unwrap(), 1);
    drop(store);

    endpoint.release();
    let (store, forwarder) = start(dir.path(), &[config]);
    let again = endpoint.next().await;
    assert_eq!(
        again.header("idempotency-key"),
        held.header("idempotency-key")
    );
    wait_delivered(&store, "http", 1).await;
    forwarder.shutdown().await;
}
