//! The fleet: three `voicetrace serve` processes on one PostgreSQL database behave as one
//! voicetrace. Spans reach them routed by trace id (the Collector's `loadbalancing` exporter's
//! rule), each keeps its own data directory (span journal, recording files) and delivers to one
//! shared http endpoint; one receiver is SIGKILLed mid-run, holding claimed deliveries, and not
//! restarted. Then every call whose spans reached a live receiver is stored once and listed by
//! every surviving receiver's API, each call log is delivered once (at least once for the few
//! deliveries in flight at the kill), and the deliveries the dead receiver had claimed are made
//! by the others once its lease lapses.
//!
//! Also here: the throwaway PostgreSQL cluster the PostgreSQL tests use (`common::postgres`).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Instant;

use prost::Message;
use voicetrace::receiver::calllog::CallLog;
use voicetrace::receiver::store::{PgConfig, Store};

use crate::common::endpoint::{Endpoint, Received, Reply};
use crate::common::http::{client, get, post_traces};
use crate::common::otlp::one_turn_call;
use crate::common::postgres::PgCluster;
use crate::common::serve::{command, Listen, Serve};
use crate::common::wait::{wait_for, wait_for_blocking};

// ----- the test cluster -----------------------------------------------------------------------

/// The database a `postgres://` URL names.
fn database_of(url: &str) -> &str {
    url.rsplit('/').next().expect("a URL with a path")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_cluster_gives_each_test_an_empty_database_of_its_own() {
    let cluster = PgCluster::shared();
    let urls = [cluster.fresh_database(), cluster.fresh_database()];
    assert_ne!(urls[0], urls[1], "two databases");
    assert!(
        std::ptr::eq(cluster, PgCluster::shared()),
        "one cluster per test binary"
    );
    let mut clients = Vec::new();
    for url in &urls {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| panic!("connect to {url}: {e}\n{}", cluster.log()));
        tokio::spawn(connection);
        let row = client
            .query_one(
                "SELECT current_database(), current_setting('server_version_num')::int, \
                 (SELECT count(*) FROM pg_tables WHERE schemaname = 'public')",
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), database_of(url));
        let version: i32 = row.get(1);
        assert!(version >= 150_000, "PostgreSQL 15 or later, got {version}");
        assert_eq!(row.get::<_, i64>(2), 0, "{url} starts empty");
        clients.push(client);
    }
    // One test's tables are not another's.
    clients[0]
        .batch_execute("CREATE TABLE mine (n int); INSERT INTO mine VALUES (1)")
        .await
        .unwrap();
    let theirs = clients[1]
        .query_one("SELECT to_regclass('mine') IS NULL", &[])
        .await
        .unwrap();
    assert!(
        theirs.get::<_, bool>(0),
        "the table is in the first database only"
    );
}

// ----- the fleet ------------------------------------------------------------------------------

/// Receivers in the fleet.
const RECEIVERS: usize = 3;
/// The one SIGKILLed.
const VICTIM: usize = 1;
/// The claim lease: short, so the takeover comes soon after the kill (the default is 30 s).
const LEASE_MS: &str = "1500";
/// The receivers' grace after a root span: short, nothing here arrives late.
const GRACE_MS: &str = "200";
/// Calls delivered before the endpoint starts holding its replies.
const BEFORE: usize = 10;
/// Calls stored while the endpoint holds its replies (so deliveries are in flight at the kill).
const HELD: usize = 20;
/// Calls sent after the kill.
const AFTER: usize = 10;
/// The first call's start (2026-03-21T10:00:00Z), Unix ns; each call a minute after the last.
const T0_NS: u64 = 1_774_087_200_000_000_000;
const MS: u64 = 1_000_000;
/// The API's largest page.
const PAGE: usize = 100;

/// One call of the plan: its id, trace id, and its two export requests (the turn, then the
/// root, as an agent exports a conversation's children before it ends).
struct Call {
    id: String,
    trace_id: [u8; 16],
    requests: Vec<Vec<u8>>,
}

impl Call {
    fn new(n: usize) -> Call {
        let id = format!("fleet-{n:02}");
        // Spread over the id space (any distinct ids would do; these route unevenly enough to
        // look like real traffic).
        let trace_id =
            ((n as u128 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15_f39c_c060_5ced_c835)).to_be_bytes();
        let start = T0_NS + n as u64 * 60_000 * MS;
        let requests = one_turn_call("fleet-agent", &trace_id, &id, start, "Where is my order?")
            .into_iter()
            .map(|r| r.encode_to_vec())
            .collect();
        Call {
            id,
            trace_id,
            requests,
        }
    }

    /// The receiver (of `receivers`) its spans go to.
    fn route(&self, receivers: usize) -> usize {
        route(&self.trace_id, receivers)
    }

    /// Its trace id as the call log writes it.
    fn trace_hex(&self) -> String {
        self.trace_id.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The receiver a trace goes to: a hash of the trace id modulo the number of receivers. This
/// mirrors the rule of the Collector's `loadbalancing` exporter with `routing_key: traceID`
/// (every span of a trace to the same backend, traces spread over all), not its exact hash
/// (the exporter places backends on a consistent-hashing ring): which receiver gets which call
/// does not matter here, only that one gets all of a call's spans. FNV-1a, 32 bits.
fn route(trace_id: &[u8; 16], receivers: usize) -> usize {
    let hash = trace_id.iter().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    });
    hash as usize % receivers
}

/// The path receiver `n`'s sink posts to. The sink is the same in every receiver (same name,
/// same endpoint): only the path differs, so the endpoint can tell which receiver made each
/// delivery, the victim's among them.
fn sink_path(n: usize) -> String {
    format!("/fleet/r{n}")
}

/// `voicetrace serve` number `n` of the fleet: the shared store, its own data directory, the
/// shared sink, a short lease; its log in `dir/receiver-N.log`.
fn receiver_command(dir: &Path, store: &str, endpoint: &str, n: usize) -> std::process::Command {
    let log = std::fs::File::create(dir.join(format!("receiver-{n}.log"))).unwrap();
    let mut command = command(&dir.join(format!("data-{n}")), Listen::with_api());
    command
        .args(["--store", store])
        .args(["--store-lease-ms", LEASE_MS])
        .args(["--grace-ms", GRACE_MS])
        .arg("--sink")
        .arg(format!("calls=http:{endpoint}{}", sink_path(n)))
        .env("RUST_LOG", "info")
        .stderr(log);
    command
}

/// Prints the receivers' logs when the test fails (they are in a directory removed after).
struct LogsOnFailure(PathBuf);

impl Drop for LogsOnFailure {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for n in 0..RECEIVERS {
            let path = self.0.join(format!("receiver-{n}.log"));
            let log = std::fs::read_to_string(&path).unwrap_or_default();
            eprintln!("----- receiver {n} -----\n{log}");
        }
    }
}

/// A call log delivery as the endpoint got it: (call id, trace id, revision).
type Key = (String, String, u32);

/// The key of a delivery.
fn key_of(r: &Received) -> Key {
    let log: CallLog = serde_json::from_slice(&r.body)
        .unwrap_or_else(|e| panic!("a call log from {}: {e}", r.path));
    (log.id, log.trace_id, log.revision)
}

/// The key revision 1 of `call` is delivered under.
fn first_revision(call: &Call) -> Key {
    (call.id.clone(), call.trace_hex(), 1)
}

/// Every call a receiver's API lists, page by page: (call id, trace id, revision).
async fn listed(api: SocketAddr) -> Vec<Key> {
    let c = client();
    let mut all = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("http://{api}/v1/observability/calls?limit={PAGE}");
        if let Some(cursor) = &cursor {
            url.push_str(&format!("&cursor={}", crate::common::http::encode(cursor)));
        }
        let (status, _, page) = get(&c, &url).await;
        assert_eq!(status, 200, "{url}: {page}");
        for call in page["data"].as_array().expect("a list") {
            all.push((
                call["id"].as_str().unwrap().to_string(),
                call["traceId"].as_str().unwrap().to_string(),
                call["revision"].as_u64().unwrap() as u32,
            ));
        }
        match page["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return all,
        }
    }
}

/// Sends a call's requests to `receiver`, each answered 200.
async fn send(receiver: &Serve, call: &Call) {
    post_traces(&receiver.traces_url(), &call.requests).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_receivers_on_one_database_behave_as_one_when_one_dies() {
    let plan: Vec<Call> = (0..BEFORE + HELD + AFTER).map(Call::new).collect();
    let (before, rest) = plan.split_at(BEFORE);
    let (held, after) = rest.split_at(HELD);
    let to_victim = |calls: &[Call]| {
        calls
            .iter()
            .filter(|c| c.route(RECEIVERS) == VICTIM)
            .count()
    };
    assert!(
        to_victim(held) > 0 && to_victim(after) > 0 && to_victim(after) < AFTER,
        "the plan routes calls to the victim before and after the kill, and others past it"
    );

    let cluster = PgCluster::shared();
    let store = cluster.fresh_database();
    let dir = tempfile::tempdir().unwrap();
    let _logs = LogsOnFailure(dir.path().to_path_buf());
    let endpoint = Endpoint::start(Reply::Status(200)).await;

    // The three start at once on the fresh database, as a fleet deployed together does: their
    // migrations must not trip over each other.
    let mut fleet: Vec<Serve> = tokio::task::block_in_place(|| {
        std::thread::scope(|s| {
            let starting: Vec<_> = (0..RECEIVERS)
                .map(|n| {
                    let mut command = receiver_command(dir.path(), &store, &endpoint.url(), n);
                    s.spawn(move || Serve::spawn(&mut command))
                })
                .collect();
            starting.into_iter().map(|h| h.join().unwrap()).collect()
        })
    });

    // 1. Calls delivered while every receiver lives: each is delivered exactly once.
    for call in before {
        send(&fleet[call.route(RECEIVERS)], call).await;
    }
    let first: BTreeSet<Key> = before.iter().map(first_revision).collect();
    endpoint
        .until_received("the first calls' deliveries", |all| {
            first.is_subset(&all.iter().map(key_of).collect())
        })
        .await;

    // 2. The endpoint holds its replies: the calls stored now have deliveries in flight, some
    // of them claimed by the victim. It dies once it holds one and every call is stored.
    let hold_from = endpoint.with_received(<[Received]>::len);
    endpoint.set_default(Reply::Hang);
    for call in held {
        send(&fleet[call.route(RECEIVERS)], call).await;
    }
    let stored: BTreeSet<Key> = before.iter().chain(held).map(first_revision).collect();
    let survivor_api = fleet[(VICTIM + 1) % RECEIVERS].api.unwrap();
    wait_for(
        "every call so far stored (listed by a survivor)",
        || async {
            let listed: BTreeSet<Key> = listed(survivor_api).await.into_iter().collect();
            stored.is_subset(&listed).then_some(())
        },
    )
    .await;
    let victim_path = sink_path(VICTIM);
    endpoint
        .until_received("a delivery by the victim, held", |all| {
            all[hold_from..].iter().any(|r| r.path == victim_path)
        })
        .await;
    fleet[VICTIM].kill();
    let killed_at = Instant::now();
    // Everything received since the hold began is in flight: unanswered. The victim will never
    // hear its answers; the survivors hear theirs now.
    let (in_flight, victims): (BTreeSet<Key>, BTreeSet<Key>) = endpoint.with_received(|all| {
        let held = &all[hold_from..];
        (
            held.iter().map(key_of).collect(),
            held.iter()
                .filter(|r| r.path == victim_path)
                .map(key_of)
                .collect(),
        )
    });
    endpoint.release();

    // 3. Calls after the kill, routed as before: a static resolver keeps the dead receiver in
    // the ring, so its share is refused (the Collector would queue and retry it until the
    // receiver returns) and reaches no one; the rest goes on as if nothing happened.
    let mut refused = BTreeSet::new();
    for call in after {
        let to = call.route(RECEIVERS);
        if to == VICTIM {
            let sent = reqwest::Client::new()
                .post(fleet[to].traces_url())
                .header("content-type", "application/x-protobuf")
                .body(call.requests[0].clone())
                .send()
                .await;
            assert!(
                sent.as_ref().is_err_and(reqwest::Error::is_connect),
                "the dead receiver refuses: {sent:?}"
            );
            refused.insert(first_revision(call));
        } else {
            send(&fleet[to], call).await;
        }
    }
    let expected: BTreeSet<Key> = plan
        .iter()
        .map(first_revision)
        .filter(|k| !refused.contains(k))
        .collect();

    // The victim's claimed deliveries are made by a survivor once its lease lapses.
    let survivor_paths: Vec<String> = (0..RECEIVERS)
        .filter(|n| *n != VICTIM)
        .map(sink_path)
        .collect();
    endpoint
        .until_received("the victim's deliveries made by the survivors", |all| {
            victims.iter().all(|k| {
                all.iter().any(|r| {
                    r.at > killed_at && survivor_paths.contains(&r.path) && key_of(r) == *k
                })
            })
        })
        .await;
    let takeover = endpoint.with_received(|all| {
        all.iter()
            .filter(|r| r.at > killed_at && victims.contains(&key_of(r)))
            .map(|r| r.at - killed_at)
            .min()
    });
    eprintln!(
        "the victim held {} of {} deliveries in flight; the first was made again {:?} after the \
         kill (lease {LEASE_MS} ms)",
        victims.len(),
        in_flight.len(),
        takeover
    );
    // A receiver renews its claims every third of the lease, so a claim live at the kill
    // outlasts it by two thirds of a lease when the renewals are on time, and by a third when
    // one was late by a third (two cores shared with other builds): a takeover sooner would be
    // taken from under a receiver that might still be delivering.
    let takeover = takeover.expect("a takeover");
    let lease = std::time::Duration::from_millis(LEASE_MS.parse().unwrap());
    assert!(
        takeover >= lease / 3,
        "the victim's claims taken over {takeover:?} after the kill, before its lease ({lease:?}) \
         could have lapsed"
    );
    endpoint
        .until_received("every stored call's log delivered", |all| {
            expected.is_subset(&all.iter().map(key_of).collect())
        })
        .await;

    // The shared store: every call once, at revision 1, nothing refused stored, and the outbox
    // drained, so no copy can arrive after the counts below are taken.
    let revisions = tokio::task::block_in_place(|| {
        let config = PgConfig {
            url: store.clone(),
            ..PgConfig::default()
        };
        let shared = Store::connect_postgres(&config, &dir.path().join("check")).unwrap();
        wait_for_blocking("the shared outbox drained", || {
            (shared.outbox_depth().unwrap() == 0).then_some(())
        });
        plan.iter()
            .map(|c| (c.id.clone(), shared.revisions(&c.id).unwrap()))
            .collect::<BTreeMap<String, Vec<u32>>>()
    });
    for call in &plan {
        let want: &[u32] = if refused.contains(&first_revision(call)) {
            &[]
        } else {
            &[1]
        };
        assert_eq!(revisions[&call.id], want, "{}'s revisions", call.id);
    }

    // Stored once, and listed by every survivor: the same calls, each once, revision 1.
    for (n, receiver) in fleet.iter().enumerate().filter(|(n, _)| *n != VICTIM) {
        let api = receiver.api.unwrap();
        let listed = wait_for("every call listed by a survivor", || async {
            let listed = listed(api).await;
            (listed.len() >= expected.len()).then_some(listed)
        })
        .await;
        let distinct: BTreeSet<Key> = listed.iter().cloned().collect();
        assert_eq!(
            listed.len(),
            distinct.len(),
            "receiver {n} lists a call twice"
        );
        assert_eq!(distinct, expected, "receiver {n} lists every call once");
    }

    // Delivered once per sink. At least once is what the outbox promises for a delivery whose
    // answer was lost (the endpoint took it, the receiver died before hearing so, another
    // receiver sends it again under the same idempotency key); of the deliveries made here, only
    // those in flight at the kill were exposed to that, so they must arrive at least once, and
    // every other exactly once: a second copy of one would be two receivers delivering the same
    // claimed entry, the fleet's failure.
    let counts: BTreeMap<Key, usize> = endpoint.with_received(|all| {
        let mut counts = BTreeMap::new();
        for r in all {
            *counts.entry(key_of(r)).or_default() += 1;
        }
        counts
    });
    let delivered: BTreeSet<Key> = counts.keys().cloned().collect();
    assert_eq!(
        delivered, expected,
        "deliveries of exactly the stored calls"
    );
    for (key, n) in &counts {
        if !in_flight.contains(key) {
            assert_eq!(*n, 1, "{key:?} delivered once (not in flight at the kill)");
        }
    }
    for key in &victims {
        assert!(
            counts[key] >= 2,
            "{key:?}: the victim's delivery and the survivor's"
        );
    }

    for (n, receiver) in fleet.iter_mut().enumerate().filter(|(n, _)| *n != VICTIM) {
        let status = receiver.terminate();
        assert!(
            status.success(),
            "receiver {n} exits 0 on SIGTERM: {status:?}"
        );
    }
}
