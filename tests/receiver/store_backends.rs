//! The store's interface against both backends: the embedded SQLite file and a real PostgreSQL
//! (a throwaway cluster, `common::postgres`). What the receiver relies on must hold on either:
//! a call log and its entries stored together, revisions of a call delivered in order, the
//! console's filters and fleet figures, the delivery state. PostgreSQL alone: two receivers
//! claiming from one outbox take different entries, a dead receiver's claims pass to another
//! after the lease, what one receiver stores is announced to the others (`subscribe_stored`),
//! and recordings' audio (in chunks) and link key are shared by every receiver.

use std::time::Duration;

use voicetrace::receiver::calllog::{CallLog, CallQuery, CallUpdate};
use voicetrace::receiver::query::{DeliveryState, Figure, FleetQuery};
use voicetrace::receiver::store::postgres::audio::CHUNK_BYTES;
use voicetrace::receiver::store::{
    now_ms, Enqueue, PgConfig, RecordingRow, Settle, Store, StoredCall,
};

use crate::common::calllog::{call_log, turn};
use crate::common::postgres::PgCluster;
use crate::common::wait::wait_for_blocking;

const TRACE_A: &str = "0af7651916cd43dd8448eb211c80319c";
const TRACE_B: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// A short lease, so that a takeover is seen within the test.
const LEASE: Duration = Duration::from_millis(400);

/// Both backends, each fresh: (name, store, the directory that must outlive it).
fn backends() -> Vec<(&'static str, Store, tempfile::TempDir)> {
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(sqlite_dir.path()).unwrap();
    let pg_dir = tempfile::tempdir().unwrap();
    let pg = postgres(&PgCluster::shared().fresh_database(), &pg_dir);
    vec![("sqlite", sqlite, sqlite_dir), ("postgres", pg, pg_dir)]
}

/// A receiver's store on the PostgreSQL database `url`.
fn postgres(url: &str, dir: &tempfile::TempDir) -> Store {
    let config = PgConfig {
        url: url.to_string(),
        lease: Some(LEASE),
        ..PgConfig::default()
    };
    Store::connect_postgres(&config, dir.path()).unwrap()
}

fn revision(id: &str, trace: &str, revision: u32, said: &str) -> CallUpdate {
    let log = CallLog {
        revision,
        agent_id: Some("support".into()),
        started_at: "2026-12-01T10:00:00.000Z".into(),
        turns: vec![turn(0)
            .said(Some(said), "Sure.")
            .latency(Some(1200))
            .build()],
        ..call_log(id, trace)
    };
    CallUpdate::Finished(Box::new(log))
}

fn to(sink: &str) -> Vec<Enqueue> {
    vec![Enqueue {
        sink: sink.into(),
        event: "call_log".into(),
    }]
}

#[test]
fn revisions_of_a_call_are_stored_with_their_entries_and_delivered_in_order() {
    for (name, store, _dir) in backends() {
        store.register_sinks(&[("s", "http")]).unwrap();
        let now = now_ms();
        let first = revision("call-1", TRACE_A, 1, "where is my parcel");
        let second = revision("call-1", TRACE_A, 2, "where is my parcel now");
        assert_eq!(
            store.store_update(&first, &to("s"), now).unwrap(),
            1,
            "{name}"
        );
        assert_eq!(
            store.store_update(&second, &to("s"), now).unwrap(),
            1,
            "{name}"
        );
        assert_eq!(
            store.store_update(&second, &to("s"), now).unwrap(),
            0,
            "{name}: the very same revision again enqueues nothing"
        );

        let claimed = store.claim_due("s", now, 10).unwrap();
        let revisions: Vec<u32> = claimed.iter().map(|e| e.revision).collect();
        assert_eq!(revisions, [1], "{name}: revision 2 waits for revision 1");
        let body = claimed[0].payload.call_log_json().unwrap();
        assert!(body.contains("where is my parcel"), "{name}: {body}");
        assert!(store.claim_due("s", now, 10).unwrap().is_empty(), "{name}");
        store.mark_delivered(claimed[0].id).unwrap();

        let claimed = store.claim_due("s", now, 10).unwrap();
        assert_eq!(claimed.len(), 1, "{name}");
        assert_eq!(claimed[0].revision, 2, "{name}");
        let retry = Settle::Retry {
            at_ms: now + 60_000,
            status: Some(503),
            reason: "busy".into(),
        };
        store.settle_all(&[(claimed[0].id, retry)]).unwrap();
        let state = store.deliveries("call-1", TRACE_A).unwrap();
        assert_eq!(state[0].state, DeliveryState::Retrying, "{name}");
        assert_eq!(state[0].delivered_revision, Some(1), "{name}");
        assert_eq!(
            store.next_due_ms("s").unwrap(),
            Some(now + 60_000),
            "{name}"
        );

        let stats = store.sink_stats().unwrap();
        assert_eq!((stats[0].delivered, stats[0].retrying), (1, 1), "{name}");
        assert_eq!(store.latest_revision("call-1", TRACE_A).unwrap(), Some(2));
        assert_eq!(store.revisions("call-1").unwrap(), [1, 2], "{name}");
        let latest = store.latest_call("call-1", None).unwrap().unwrap();
        assert_eq!(
            latest.turns[0].user_text.as_deref(),
            Some("where is my parcel now")
        );
    }
}

#[test]
fn the_consoles_filters_answer_the_same_on_both_backends() {
    for (name, store, _dir) in backends() {
        let now = now_ms();
        store
            .store_update(&revision("call-1", TRACE_A, 1, "cancel my order"), &[], now)
            .unwrap();
        store
            .store_update(&revision("call-2", TRACE_B, 1, "book a table"), &[], now)
            .unwrap();
        let ids = |q: CallQuery| -> Vec<String> {
            let page = store.call_rows(&q).unwrap();
            let mut ids: Vec<String> = page.rows.into_iter().map(|r| r.call_id).collect();
            ids.sort();
            ids
        };
        assert_eq!(ids(CallQuery::default()), ["call-1", "call-2"], "{name}");
        let text = |t: &str| CallQuery {
            text: Some(t.into()),
            ..CallQuery::default()
        };
        assert_eq!(
            ids(text("ORDER")),
            ["call-1"],
            "{name}: words match whatever the case"
        );
        assert_eq!(
            ids(text("tab")),
            ["call-2"],
            "{name}: a word matches by its start"
        );
        assert!(ids(text("refund")).is_empty(), "{name}");
        let slow = CallQuery {
            min_latency_ms: Some(1200),
            ..CallQuery::default()
        };
        assert_eq!(ids(slow).len(), 2, "{name}");
        let one = CallQuery {
            limit: 1,
            ..CallQuery::default()
        };
        let page = store.list_calls(&one).unwrap();
        let rest = store
            .list_calls(&CallQuery {
                cursor: page.next_cursor.clone(),
                ..one
            })
            .unwrap();
        assert_eq!(page.calls.len() + rest.calls.len(), 2, "{name}");
        assert_ne!(
            page.calls[0].id, rest.calls[0].id,
            "{name}: the cursor moves on"
        );
        assert_eq!(store.agents().unwrap(), ["support"], "{name}");
        // The fleet's figures: each call's one turn took 1200 ms voice to voice.
        let fleet = store
            .fleet(&FleetQuery {
                since_ms: 0,
                until_ms: i64::MAX / 2,
                bucket_ms: i64::MAX / 2,
                agent_id: None,
            })
            .unwrap();
        let v2v: Vec<_> = fleet
            .totals
            .iter()
            .filter(|p| p.figure == Figure::VoiceToVoice)
            .map(|p| (p.agent_id.as_deref(), p.count, p.p50))
            .collect();
        assert_eq!(v2v, [(Some("support"), 2, Some(1200))], "{name}");
        assert!(!fleet.truncated, "{name}");
    }
}

#[test]
fn two_receivers_claim_apart_and_a_dead_ones_claims_pass_on_after_the_lease() {
    let url = PgCluster::shared().fresh_database();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = postgres(&url, &dir_a);
    let b = postgres(&url, &dir_b);
    let now = now_ms();
    for (i, trace) in [TRACE_A, TRACE_B].iter().enumerate() {
        let id = format!("call-{i}");
        a.store_update(&revision(&id, trace, 1, "hello"), &to("s"), now)
            .unwrap();
    }
    let taken_by_a = a.claim_due("s", now, 1).unwrap();
    let taken_by_b = b.claim_due("s", now, 10).unwrap();
    assert_eq!((taken_by_a.len(), taken_by_b.len()), (1, 1));
    assert_ne!(
        taken_by_a[0].id, taken_by_b[0].id,
        "each entry is claimed once"
    );
    b.mark_delivered(taken_by_b[0].id).unwrap();
    assert!(
        b.claim_due("s", now_ms(), 10).unwrap().is_empty(),
        "a's claim holds"
    );

    // Receiver a dies holding its entry: its lease is no longer renewed.
    drop(a);
    let due = b
        .next_due_ms("s")
        .unwrap()
        .expect("a's entry falls due at its lease's end");
    assert!(due <= now_ms() + LEASE.as_millis() as i64, "due {due}");
    let taken_over = wait_for_blocking("the lease of the dead receiver to end", || {
        let claimed = b.claim_due("s", now_ms(), 10).unwrap();
        (!claimed.is_empty()).then_some(claimed)
    });
    assert_eq!(taken_over.len(), 1);
    assert_eq!(taken_over[0].id, taken_by_a[0].id);
    b.mark_delivered(taken_over[0].id).unwrap();
    assert_eq!(b.outbox_depth().unwrap(), 0);
    assert_eq!(b.sink_stats().unwrap()[0].delivered, 2);
}

#[test]
fn a_live_receivers_claims_outlast_the_lease() {
    let url = PgCluster::shared().fresh_database();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = postgres(&url, &dir_a);
    let b = postgres(&url, &dir_b);
    let now = now_ms();
    a.store_update(&revision("call-1", TRACE_A, 1, "hello"), &to("s"), now)
        .unwrap();
    let held = a.claim_due("s", now, 10).unwrap();
    assert_eq!(held.len(), 1);
    // Three leases go by: a renews its claim all along, so b never gets the entry.
    let until = std::time::Instant::now() + LEASE * 3;
    while std::time::Instant::now() < until {
        assert!(b.claim_due("s", now_ms(), 10).unwrap().is_empty());
        std::thread::sleep(LEASE / 4);
    }
    a.mark_delivered(held[0].id).unwrap();
    assert_eq!(b.outbox_depth().unwrap(), 0);
}

/// The next revision `heard` hands out: (call id, revision).
fn next_heard(
    what: &str,
    heard: &mut tokio::sync::broadcast::Receiver<StoredCall>,
) -> (String, u32) {
    let call = wait_for_blocking(what, || heard.try_recv().ok());
    assert_eq!(call.trace_id.len(), 32, "{call:?}");
    (call.call_id, call.revision)
}

#[test]
fn what_one_receiver_stores_is_announced_to_the_others_once_in_order() {
    let sqlite_dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(sqlite_dir.path()).unwrap();
    assert!(
        sqlite.subscribe_stored().is_none(),
        "no one else stores into a SQLite file"
    );

    let url = PgCluster::shared().fresh_database();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = postgres(&url, &dir_a);
    let b = postgres(&url, &dir_b);
    let mut heard_by_a = a.subscribe_stored().expect("postgres announces");
    let mut heard_by_b = b.subscribe_stored().expect("postgres announces");
    let now = now_ms();
    let first = revision("call-1", TRACE_A, 1, "hello");
    a.store_update(&first, &to("s"), now).unwrap();
    assert_eq!(a.store_update(&first, &to("s"), now).unwrap(), 0, "a no-op");
    a.store_update(
        &revision("call-1", TRACE_A, 2, "hello again"),
        &to("s"),
        now,
    )
    .unwrap();
    b.store_update(&revision("call-2", TRACE_B, 1, "hi"), &to("s"), now)
        .unwrap();
    a.store_update(&revision("call-3", TRACE_B, 1, "hey"), &to("s"), now)
        .unwrap();

    let mut heard = Vec::new();
    for _ in 0..3 {
        heard.push(next_heard("b hears a's revisions", &mut heard_by_b));
    }
    assert_eq!(
        heard,
        [
            ("call-1".to_string(), 1),
            ("call-1".to_string(), 2),
            ("call-3".to_string(), 1)
        ],
        "b hears a's revisions in order, each once, and not its own"
    );
    assert_eq!(
        next_heard("a hears b's revision", &mut heard_by_a),
        ("call-2".to_string(), 1),
        "a hears b's, not its own"
    );
}

#[test]
fn with_sslmode_require_the_store_speaks_tls_and_checks_the_server() {
    let cluster = PgCluster::start();
    let certs = tempfile::tempdir().unwrap();
    let (ca, cert, key) = crate::common::tls::test_ca(certs.path());
    cluster.serve_tls(
        &std::fs::read_to_string(&cert).unwrap(),
        &std::fs::read_to_string(&key).unwrap(),
    );
    let url = format!("{}?sslmode=require", cluster.fresh_database());
    let dir = tempfile::tempdir().unwrap();
    let config = PgConfig {
        url: url.clone(),
        ca_file: Some(ca),
        ..PgConfig::default()
    };
    let store = Store::connect_postgres(&config, dir.path()).unwrap();
    store
        .store_update(&revision("call-tls", TRACE_A, 1, "hello"), &[], now_ms())
        .unwrap();
    assert!(store.latest_call("call-tls", None).unwrap().is_some());
    drop(store);

    // A server whose certificate the given CA did not sign is refused, not trusted.
    let other = tempfile::tempdir().unwrap();
    let (other_ca, _, _) = crate::common::tls::test_ca(other.path());
    let untrusted = PgConfig {
        url,
        ca_file: Some(other_ca),
        ..PgConfig::default()
    };
    let refused = Store::connect_postgres(&untrusted, dir.path()).unwrap_err();
    let mut why = refused.to_string();
    let mut source = std::error::Error::source(&refused);
    while let Some(e) = source {
        why.push_str(&format!(": {e}"));
        source = e.source();
    }
    assert!(
        why.contains("TLS handshake") && why.to_lowercase().contains("certificate"),
        "{why}"
    );
}

/// A recording's row with `bytes` of audio, pending (naming a call not stored).
fn recording_row(id: &str, bytes: u64) -> RecordingRow {
    RecordingRow {
        id: id.into(),
        source: "upload".into(),
        named_call_id: Some("call-9".into()),
        media_type: Some("audio/wav".into()),
        bytes,
        received_ms: now_ms(),
        ..RecordingRow::default()
    }
}

/// A file of `bytes` bytes, each different from its neighbours (a misplaced chunk shows).
fn audio_file(dir: &tempfile::TempDir, bytes: usize) -> (Vec<u8>, std::fs::File) {
    let content: Vec<u8> = (0..bytes).map(|i| (i * 7 + i / 251) as u8).collect();
    let path = dir.path().join(format!("audio-{bytes}"));
    std::fs::write(&path, &content).unwrap();
    (content, std::fs::File::open(&path).unwrap())
}

/// Recording `id`'s audio from `start` to its end, read piece by piece as a range is served.
fn read_all(store: &Store, id: &str, start: u64, len: u64) -> Vec<u8> {
    let shared = store.shared_recordings().unwrap();
    let mut out = Vec::new();
    let mut at = start;
    while at < len {
        let piece = shared.read_audio(id, at, len - at).unwrap();
        assert!(!piece.is_empty(), "a piece at {at} of {len}");
        assert!(
            at % CHUNK_BYTES + piece.len() as u64 <= CHUNK_BYTES,
            "a piece never crosses a chunk's end"
        );
        at += piece.len() as u64;
        out.extend_from_slice(&piece);
    }
    out
}

#[test]
fn recordings_audio_and_link_key_are_shared_by_every_receiver_of_a_postgres_store() {
    let sqlite_dir = tempfile::tempdir().unwrap();
    assert!(
        Store::open(sqlite_dir.path())
            .unwrap()
            .shared_recordings()
            .is_none(),
        "the embedded store keeps no audio: its receiver's files do"
    );
    let url = PgCluster::shared().fresh_database();
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = postgres(&url, &dir_a);
    let b = postgres(&url, &dir_b);
    let (shared_a, shared_b) = (
        a.shared_recordings().unwrap(),
        b.shared_recordings().unwrap(),
    );

    // The first key stored is everyone's.
    let first = shared_a.shared_key("k", &[1; 32]).unwrap();
    assert_eq!(first, [1; 32]);
    assert_eq!(shared_b.shared_key("k", &[2; 32]).unwrap(), [1; 32]);

    // Two and a half chunks, stored by a, read by b from anywhere.
    let len = 2 * CHUNK_BYTES + CHUNK_BYTES / 2 + 3;
    let (content, file) = audio_file(&dir_a, len as usize);
    let stored = shared_a
        .insert_recording_with_audio(&recording_row("r1", len), None, file)
        .unwrap();
    assert_eq!(stored, len);
    assert_eq!(b.recording("r1").unwrap().unwrap().bytes, len);
    assert!(
        read_all(&b, "r1", 0, len) == content,
        "whole, byte for byte"
    );
    for start in [
        1,
        CHUNK_BYTES - 1,
        CHUNK_BYTES,
        2 * CHUNK_BYTES + 7,
        len - 1,
    ] {
        assert!(
            read_all(&b, "r1", start, len) == content[start as usize..],
            "from {start}"
        );
    }
    let at_end = shared_b.read_audio("r1", CHUNK_BYTES - 2, 100).unwrap();
    assert_eq!(
        at_end,
        content[CHUNK_BYTES as usize - 2..CHUNK_BYTES as usize]
    );
    assert!(shared_b.read_audio("r1", len, 10).unwrap().is_empty());

    // A file that is not the row's length stores nothing, neither row nor chunk.
    let (_, file) = audio_file(&dir_a, 1000);
    assert!(shared_a
        .insert_recording_with_audio(&recording_row("r2", 999), None, file)
        .is_err());
    assert!(b.recording("r2").unwrap().is_none());
    assert!(shared_b.read_audio("r2", 0, 10).unwrap().is_empty());

    // Removing is idempotent and counted once: the first mark takes effect, the second not;
    // the chunks go with the first delete, or at the next start of any receiver.
    let (_, file) = audio_file(&dir_b, 5000);
    shared_b
        .insert_recording_with_audio(&recording_row("r3", 5000), None, file)
        .unwrap();
    assert!(a.remove_recording_audio("r1", "retention").unwrap());
    assert!(!b.remove_recording_audio("r1", "retention").unwrap());
    assert_eq!(shared_b.delete_unlisted_audio().unwrap(), 3, "r1's chunks");
    assert_eq!(shared_a.delete_audio("r1").unwrap(), 0, "gone already");
    assert_eq!(read_all(&a, "r3", 0, 5000).len(), 5000, "r3 is kept");

    // A pending upload's row deleted (an orphan) takes its chunks with it.
    assert!(a.delete_pending_recording("r3").unwrap());
    assert!(shared_b.read_audio("r3", 0, 10).unwrap().is_empty());
    assert!(!b.delete_pending_recording("r3").unwrap(), "deleted once");
}

#[test]
fn two_traces_sharing_a_call_id_are_two_calls_on_both_backends() {
    for (name, store, _dir) in backends() {
        let older = CallLog {
            started_at: "2026-12-01T10:00:00.000Z".into(),
            ..call_log("shared-id", TRACE_A)
        };
        let newer = CallLog {
            started_at: "2026-12-01T11:00:00.000Z".into(),
            ..call_log("shared-id", TRACE_B)
        };
        for log in [&older, &newer] {
            let update = CallUpdate::Finished(Box::new(log.clone()));
            assert_eq!(store.store_update(&update, &to("s"), now_ms()).unwrap(), 1);
        }
        let latest = store.latest_call("shared-id", None).unwrap().unwrap();
        assert_eq!(
            latest.trace_id, TRACE_B,
            "{name}: the most recent call of the id"
        );
        let first = store
            .latest_call("shared-id", Some(TRACE_A))
            .unwrap()
            .unwrap();
        assert_eq!(first.trace_id, TRACE_A, "{name}");
        let same: Vec<String> = store
            .same_id_calls("shared-id")
            .unwrap()
            .into_iter()
            .map(|c| c.trace_id)
            .collect();
        assert_eq!(same, [TRACE_B, TRACE_A], "{name}: newest first");
        // A sink hears of one id in the order stored, whichever trace: the second call waits.
        let first_due = store.claim_due("s", now_ms(), 10).unwrap();
        assert_eq!(first_due.len(), 1, "{name}");
        assert_eq!(first_due[0].trace_id, TRACE_A, "{name}");
        store.mark_delivered(first_due[0].id).unwrap();
        let second_due = store.claim_due("s", now_ms(), 10).unwrap();
        assert_eq!(second_due[0].trace_id, TRACE_B, "{name}");
    }
}

#[test]
fn dead_letters_are_parked_counted_and_sent_again_on_both_backends() {
    for (name, store, _dir) in backends() {
        store
            .register_sinks(&[("s", "http"), ("idle", "jsonl")])
            .unwrap();
        let now = now_ms();
        store
            .store_update(&revision("call-1", TRACE_A, 1, "hello"), &to("s"), now)
            .unwrap();
        let claimed = store.claim_due("s", now, 10).unwrap();
        store
            .mark_dead(claimed[0].id, Some(400), "bad request: no such agent")
            .unwrap();
        let letters = store.dead_letters("s").unwrap();
        assert_eq!(letters.len(), 1, "{name}");
        assert_eq!(letters[0].status, Some(400), "{name}");
        assert_eq!(letters[0].reason, "bad request: no such agent", "{name}");
        assert_eq!(letters[0].attempts, 1, "{name}");
        assert_eq!(
            store.outbox_depth().unwrap(),
            0,
            "{name}: a dead letter waits for no one"
        );
        assert!(
            store.claim_due("s", now_ms(), 10).unwrap().is_empty(),
            "{name}"
        );
        let stats = store.sink_stats().unwrap();
        let names: Vec<&str> = stats.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            ["idle", "s"],
            "{name}: registered sinks are listed before use"
        );
        assert_eq!(stats[1].dead, 1, "{name}");
        assert_eq!(
            store.deliveries("call-1", TRACE_A).unwrap()[1].state,
            DeliveryState::Dead,
            "{name}"
        );

        assert_eq!(store.retry_dead("s").unwrap(), 1, "{name}");
        assert!(
            store.retry_dead("nope").is_err(),
            "{name}: an unknown sink is an error"
        );
        let again = store.claim_due("s", now_ms(), 10).unwrap();
        assert_eq!(again.len(), 1, "{name}");
        assert_eq!(again[0].attempts, 0, "{name}: attempts count afresh");
        store.mark_delivered(again[0].id).unwrap();
        assert_eq!(store.sink_stats().unwrap()[1].delivered, 1, "{name}");
    }
}
