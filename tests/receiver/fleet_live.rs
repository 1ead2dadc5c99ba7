//! Live updates across the fleet: two receivers in-process on one PostgreSQL database (a fresh
//! one of the throwaway cluster, `common::postgres`). A `WatchCalls` stream on either receiver
//! shows every call log of the fleet exactly once, whichever receiver the call's spans went to
//! (each stored revision is announced with `NOTIFY`; the other receivers' listeners relay it);
//! and a listener whose connection is dropped listens again and catches up what was stored
//! while no one listened, repeating nothing.

use std::collections::BTreeSet;

use prost::Message;
use tokio_postgres::{Client, NoTls};
use tonic::Streaming;
use voicetrace::receiver::api::grpc::pb;
use voicetrace::receiver::api::grpc::pb::call_log_service_client::CallLogServiceClient;
use voicetrace::receiver::server::{Receiver, ServeConfig};
use voicetrace::receiver::store::postgres::LISTENER_NAME;

use crate::common::http::post_traces;
use crate::common::otlp::one_turn_call;
use crate::common::postgres::PgCluster;
use crate::common::receiver::{self, grpc_url, next_call_logs, traces_url};
use crate::common::wait::{wait_for, within};

/// The first call's start (2026-04-01T09:00:00Z), Unix ns; each call a minute after the last.
const T0_NS: u64 = 1_775_034_000_000_000_000;
const MS: u64 = 1_000_000;

/// Call `n`'s id.
fn id(n: u8) -> String {
    format!("live-{n}")
}

/// Call `n`'s export requests: a turn, then the root.
fn call(n: u8) -> Vec<Vec<u8>> {
    let trace_id = [n.wrapping_mul(37).wrapping_add(1); 16];
    let start = T0_NS + u64::from(n) * 60_000 * MS;
    one_turn_call(
        "live-agent",
        &trace_id,
        &id(n),
        start,
        "Is my order on its way?",
    )
    .into_iter()
    .map(|r| r.encode_to_vec())
    .collect()
}

/// A receiver on the shared store `url`, data in `dir`.
async fn start(url: &str, dir: &tempfile::TempDir) -> Receiver {
    receiver::start(ServeConfig {
        store_url: Some(url.to_string()),
        ..receiver::config(dir.path())
    })
    .await
}

/// A `WatchCalls` stream of every agent on `receiver`, subscribed once it returns.
async fn watch(receiver: &Receiver) -> Streaming<pb::CallLog> {
    let mut client = CallLogServiceClient::connect(grpc_url(receiver))
        .await
        .unwrap();
    client
        .watch_calls(pb::WatchCallsRequest::default())
        .await
        .unwrap()
        .into_inner()
}

/// The next `n` call logs on a watch: (call id, revision).
async fn next_watched(stream: &mut Streaming<pb::CallLog>, n: usize) -> Vec<(String, u32)> {
    let mut got = Vec::new();
    while got.len() < n {
        let log = within(
            &format!(
                "call log {} of {n} on the watch (got {got:?})",
                got.len() + 1
            ),
            stream.message(),
        )
        .await
        .expect("the watch failed")
        .expect("the watch ended");
        got.push((log.id, log.revision));
    }
    got
}

fn first_revisions(calls: &[u8]) -> BTreeSet<(String, u32)> {
    calls.iter().map(|n| (id(*n), 1)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_on_either_receiver_shows_every_call_of_the_fleet_once() {
    let url = PgCluster::shared().fresh_database();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(&url, &dir_a).await;
    let b = start(&url, &dir_b).await;
    let (mut on_a, mut on_b) = (watch(&a).await, watch(&b).await);

    // Call 1's spans go to A only, call 2's to B only, call 3's to A.
    post_traces(&traces_url(&a), &call(1)).await;
    post_traces(&traces_url(&b), &call(2)).await;
    post_traces(&traces_url(&a), &call(3)).await;
    for (name, watch) in [("A", &mut on_a), ("B", &mut on_b)] {
        let got = next_watched(watch, 3).await;
        let distinct: BTreeSet<(String, u32)> = got.iter().cloned().collect();
        assert_eq!(
            distinct,
            first_revisions(&[1, 2, 3]),
            "the watch on {name} shows every call of the fleet: {got:?}"
        );
        assert_eq!(distinct.len(), got.len(), "each once on {name}: {got:?}");
    }
    // Nothing repeats later either: the next call log on each watch is the next call's.
    post_traces(&traces_url(&b), &call(4)).await;
    for (name, watch) in [("A", &mut on_a), ("B", &mut on_b)] {
        assert_eq!(
            next_watched(watch, 1).await,
            vec![(id(4), 1)],
            "after calls 1-3, {name}'s watch shows call 4 and nothing again"
        );
    }
    a.shutdown().await;
    b.shutdown().await;
}

/// A superuser's connection to the cluster's maintenance database (the test database's may
/// be closed to connections).
async fn admin(cluster: &PgCluster) -> Client {
    let (client, connection) = tokio_postgres::connect(&cluster.url("postgres"), NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
}

/// The listeners' connections to database `db`, and how many of them have listened and caught
/// up (their last query done is past `LISTEN`: the catch-up, or a heartbeat).
async fn listeners(admin: &Client, db: &str) -> (i64, i64) {
    let row = admin
        .query_one(
            "SELECT count(*),
                    count(*) FILTER (WHERE state = 'idle' AND query NOT LIKE 'LISTEN%'
                                     AND query <> '')
             FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            &[&db, &LISTENER_NAME],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_whose_connection_drops_listens_again_and_catches_up() {
    let cluster = PgCluster::shared();
    let url = cluster.fresh_database();
    let db = url.rsplit('/').next().unwrap().to_string();
    let admin = admin(cluster).await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = start(&url, &dir_a).await;
    let b = start(&url, &dir_b).await;
    let mut announced_a = a.subscribe();
    let mut on_b = watch(&b).await;

    post_traces(&traces_url(&a), &call(1)).await;
    assert_eq!(next_watched(&mut on_b, 1).await, vec![(id(1), 1)]);

    // Both listeners lose their connection, and cannot make a new one for now.
    admin
        .batch_execute(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .await
        .unwrap();
    let terminated: i64 = admin
        .query_one(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity
             WHERE datname = $1 AND application_name = $2",
            &[&db, &LISTENER_NAME],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(terminated, 2, "A's listener and B's");

    // A stores call 2 (on its pool's connections, still open) while no one listens.
    post_traces(&traces_url(&a), &call(2)).await;
    let mine = next_call_logs(&mut announced_a, 2).await;
    assert_eq!(
        mine.iter().map(|l| l.id.clone()).collect::<Vec<_>>(),
        [id(1), id(2)]
    );
    // The terminated sessions end, and no listener can connect again.
    wait_for("the listeners' sessions gone", || async {
        (listeners(&admin, &db).await.0 == 0).then_some(())
    })
    .await;

    // Connections allowed again: B's listener listens again and catches up call 2, without
    // call 1 (relayed before the drop) again.
    admin
        .batch_execute(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    assert_eq!(
        next_watched(&mut on_b, 1).await,
        vec![(id(2), 1)],
        "B catches up what A stored while it could not listen"
    );
    // Both listeners are back and caught up; what A's catch-up found was A's own (announced by
    // its recorder already), so nothing of it reaches A's subscribers before call 3, which B
    // stores and A's listener relays after its catch-up.
    wait_for("both listeners back and caught up", || async {
        (listeners(&admin, &db).await == (2, 2)).then_some(())
    })
    .await;
    post_traces(&traces_url(&b), &call(3)).await;
    let next = next_call_logs(&mut announced_a, 1).await;
    assert_eq!(
        (next[0].id.clone(), next[0].revision),
        (id(3), 1),
        "A's next call log is B's call 3: its catch-up repeated none of its own"
    );
    // And B's listener hears live notifications again: A's call 4 reaches B's watch (after B's
    // own call 3), nothing in between.
    post_traces(&traces_url(&a), &call(4)).await;
    assert_eq!(
        next_watched(&mut on_b, 2).await,
        vec![(id(3), 1), (id(4), 1)]
    );
    a.shutdown().await;
    b.shutdown().await;
}
