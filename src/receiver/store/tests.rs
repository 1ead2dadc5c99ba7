//! The store against a real SQLite file in a temp directory.

use std::collections::BTreeMap;

use super::*;
use crate::receiver::calllog::{
    CallLog, CallMetrics, CallQuery, CallStarted, CallStatus, CallUpdate, Dialect, Links,
};

fn log(id: &str, revision: u32, started_at: &str, agent: &str, status: CallStatus) -> CallLog {
    CallLog {
        id: id.into(),
        trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
        revision,
        dialect: Dialect::Voicetrace,
        agent_id: Some(agent.into()),
        agent_name: None,
        service_name: None,
        status,
        end_reason: None,
        started_at: started_at.into(),
        ended_at: started_at.into(),
        direction: None,
        from: None,
        to: None,
        recording_url: None,
        metadata: BTreeMap::new(),
        turns: vec![],
        metrics: CallMetrics::default(),
        issues: vec![],
        events: vec![],
        logs: vec![],
        custom_metrics: BTreeMap::new(),
        links: Links::default(),
        span_count: revision as usize,
        livekit: None,
        deployment: None,
        recording: None,
        redactions: Default::default(),
        reported_usage: Vec::new(),
        cost: None,
    }
}

fn finished(l: CallLog) -> CallUpdate {
    CallUpdate::Finished(Box::new(l))
}

fn to(sink: &str, event: &str) -> Enqueue {
    Enqueue {
        sink: sink.into(),
        event: event.into(),
    }
}

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("data")).unwrap();
    (dir, store)
}

#[test]
fn opening_creates_the_directory_migrates_once_and_uses_wal() {
    let (dir, store) = open();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let mode: String = rusqlite::Connection::open(dir.path().join("data").join(DB_FILE))
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    drop(store);
    let again = Store::open(&dir.path().join("data")).unwrap();
    assert_eq!(again.schema_version().unwrap(), MIGRATIONS.len() as i64);
    // A database from a newer voicetrace is refused, not silently used.
    rusqlite::Connection::open(dir.path().join("data").join(DB_FILE))
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    drop(again);
    assert!(matches!(
        Store::open(&dir.path().join("data")),
        Err(StoreError::NewerSchema { found: 99, .. })
    ));
}

#[test]
fn revisions_are_kept_and_the_latest_is_served() {
    let (_dir, store) = open();
    let t = "2026-03-21T10:00:00.000Z";
    let r1 = log("c1", 1, t, "a", CallStatus::Incomplete);
    let r2 = log("c1", 2, t, "a", CallStatus::Completed);
    assert_eq!(
        store
            .store_update(&finished(r1.clone()), &[to("s", "call_log")], 1)
            .unwrap(),
        1
    );
    assert_eq!(
        store
            .store_update(&finished(r2.clone()), &[to("s", "call_log")], 2)
            .unwrap(),
        1
    );
    // The same revision again: nothing new to send.
    assert_eq!(
        store
            .store_update(&finished(r2.clone()), &[to("s", "call_log")], 3)
            .unwrap(),
        0
    );
    assert_eq!(store.latest_call("c1", None).unwrap(), Some(r2.clone()));
    assert_eq!(
        store.call_revision("c1", &r1.trace_id, 1).unwrap(),
        Some(r1)
    );
    assert_eq!(store.revisions("c1").unwrap(), vec![1, 2]);
    assert_eq!(store.latest_call("nope", None).unwrap(), None);
    assert_eq!(store.outbox_depth().unwrap(), 2);
    // An older revision stored late does not replace the latest in listings.
    let page = store.list_calls(&CallQuery::default()).unwrap();
    assert_eq!(page.calls, vec![r2]);
}

#[test]
fn lists_page_newest_first_with_filters() {
    let (_dir, store) = open();
    for (i, agent) in ["a", "b", "a", "b", "a"].iter().enumerate() {
        let status = if i == 3 {
            CallStatus::Failed
        } else {
            CallStatus::Completed
        };
        let t = format!("2026-03-21T10:00:0{i}.000Z");
        store
            .store_update(
                &finished(log(&format!("c{i}"), 1, &t, agent, status)),
                &[],
                0,
            )
            .unwrap();
    }
    let ids = |p: &crate::receiver::calllog::CallPage| -> Vec<String> {
        p.calls.iter().map(|c| c.id.clone()).collect()
    };
    let mut q = CallQuery {
        limit: 2,
        ..Default::default()
    };
    let mut all = Vec::new();
    loop {
        let page = store.list_calls(&q).unwrap();
        all.extend(ids(&page));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(all, ["c4", "c3", "c2", "c1", "c0"]);
    let agent_a = store
        .list_calls(&CallQuery {
            agent_id: Some("a".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&agent_a), ["c4", "c2", "c0"]);
    let failed = store
        .list_calls(&CallQuery {
            status: Some(CallStatus::Failed),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&failed), ["c3"]);
    let base = calls::rfc3339_ms("2026-03-21T10:00:00.000Z");
    let window = store
        .list_calls(&CallQuery {
            since_ms: Some(base + 1000),
            until_ms: Some(base + 3000),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(ids(&window), ["c2", "c1"]);
    assert!(matches!(
        store.list_calls(&CallQuery {
            cursor: Some("zz".into()),
            ..Default::default()
        }),
        Err(StoreError::InvalidCursor(_))
    ));
}

#[test]
fn one_calls_entries_are_claimed_in_order_and_settle() {
    let (_dir, store) = open();
    store.register_sinks(&[("s", "http")]).unwrap();
    let t = "2026-03-21T10:00:00.000Z";
    let started = CallUpdate::Started(CallStarted {
        call_id: "x".into(),
        trace_id: "t".into(),
        agent_id: None,
        started_at: t.into(),
    });
    store
        .store_update(&started, &[to("s", "call_started")], 10)
        .unwrap();
    for rev in 1..=2 {
        let l = log("x", rev, t, "a", CallStatus::Completed);
        store
            .store_update(&finished(l), &[to("s", "call_log")], 10)
            .unwrap();
    }
    let other = log("y", 1, t, "a", CallStatus::Completed);
    store
        .store_update(&finished(other), &[to("s", "call_log")], 10)
        .unwrap();

    // x's first entry and y's: x's later entries wait for the earlier one.
    let claimed = store.claim_due("s", 10, 10).unwrap();
    let got: Vec<(&str, u32)> = claimed
        .iter()
        .map(|e| (e.call_id.as_str(), e.revision))
        .collect();
    assert_eq!(got, [("x", LIVE_REVISION), ("y", 1)]);
    assert!(matches!(
        claimed[0].payload.update().unwrap().as_ref(),
        CallUpdate::Started(_)
    ));
    let (_, stored) = store
        .latest_call_body("y", &claimed[1].trace_id)
        .unwrap()
        .unwrap();
    // A call log entry carries the JSON as stored, byte for byte.
    assert_eq!(claimed[1].payload.call_log_json(), Some(stored.as_str()));
    assert!(matches!(
        claimed[1].payload.update().unwrap().as_ref(),
        CallUpdate::Finished(l) if l.id == "y"
    ));
    // In flight: not claimed twice.
    assert!(store.claim_due("s", 10, 10).unwrap().is_empty());

    store.mark_delivered(claimed[0].id).unwrap();
    store
        .mark_retry(claimed[1].id, 500, Some(503), "HTTP 503")
        .unwrap();
    let next = store.claim_due("s", 20, 10).unwrap();
    assert_eq!(next.len(), 1);
    assert_eq!((next[0].call_id.as_str(), next[0].revision), ("x", 1));
    assert_eq!(store.next_due_ms("s").unwrap(), Some(500));
    store
        .mark_dead(next[0].id, Some(400), "HTTP 400 Bad Request: nope")
        .unwrap();
    // A dead letter does not hold its call back.
    let next = store.claim_due("s", 30, 10).unwrap();
    assert_eq!((next[0].call_id.as_str(), next[0].revision), ("x", 2));
    store.mark_delivered(next[0].id).unwrap();

    let stats = store.sink_stats().unwrap();
    assert_eq!(
        stats,
        [SinkStats {
            name: "s".into(),
            kind: "http".into(),
            delivered: 2,
            pending: 0,
            retrying: 1,
            dead: 1
        }]
    );
    let dead = store.dead_letters("s").unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(
        (dead[0].status, dead[0].reason.as_str()),
        (Some(400), "HTTP 400 Bad Request: nope")
    );
    assert_eq!(store.retry_dead("s").unwrap(), 1);
    assert!(store.dead_letters("s").unwrap().is_empty());
    assert!(matches!(
        store.retry_dead("nope"),
        Err(StoreError::UnknownSink(_))
    ));
    assert_eq!(store.outbox_depth().unwrap(), 2);
}

#[test]
fn entries_in_flight_at_a_stop_are_released_at_the_next_start() {
    let (dir, store) = open();
    let l = log(
        "x",
        1,
        "2026-03-21T10:00:00.000Z",
        "a",
        CallStatus::Completed,
    );
    store
        .store_update(&finished(l), &[to("s", "call_log")], 10)
        .unwrap();
    assert_eq!(store.claim_due("s", 10, 1).unwrap().len(), 1);
    drop(store);
    let store = Store::open(&dir.path().join("data")).unwrap();
    assert!(store.claim_due("s", 20, 1).unwrap().is_empty());
    assert_eq!(store.release_in_flight("s", 20).unwrap(), 1);
    assert_eq!(store.claim_due("s", 20, 1).unwrap().len(), 1);
}

const OTHER_TRACE: &str = "0af7651916cd43dd8448eb211c80319c";

#[test]
fn two_traces_with_one_call_id_are_two_calls() {
    let (_dir, store) = open();
    let first = log(
        "dup",
        1,
        "2026-03-21T10:00:00.000Z",
        "a",
        CallStatus::Completed,
    );
    let mut second = log(
        "dup",
        1,
        "2026-03-21T11:00:00.000Z",
        "b",
        CallStatus::Completed,
    );
    second.trace_id = OTHER_TRACE.into();
    for l in [&first, &second] {
        let n = store
            .store_update(&finished(l.clone()), &[to("s", "call_log")], 1)
            .unwrap();
        assert_eq!(n, 1, "both are enqueued: neither is a repeat of the other");
    }
    assert_eq!(
        store.latest_call("dup", None).unwrap(),
        Some(second.clone())
    );
    assert_eq!(
        store.latest_call("dup", Some(&first.trace_id)).unwrap(),
        Some(first.clone())
    );
    assert_eq!(store.latest_call("dup", Some("ff")).unwrap(), None);
    let same: Vec<String> = store
        .same_id_calls("dup")
        .unwrap()
        .into_iter()
        .map(|c| c.trace_id)
        .collect();
    assert_eq!(same, vec![OTHER_TRACE.to_string(), first.trace_id.clone()]);
    assert_eq!(store.latest_revision("dup", OTHER_TRACE).unwrap(), Some(1));
    // Both are listed, newest first, and paging does not lose one with an equal start time.
    let page = store.list_calls(&CallQuery::default()).unwrap();
    assert_eq!(page.calls, vec![second.clone(), first.clone()]);
    let mut twin = first.clone();
    twin.trace_id = "1".repeat(32);
    store.store_update(&finished(twin.clone()), &[], 1).unwrap();
    let mut seen = Vec::new();
    let mut q = CallQuery {
        limit: 1,
        ..CallQuery::default()
    };
    loop {
        let page = store.list_calls(&q).unwrap();
        seen.extend(page.calls.into_iter().map(|c| c.trace_id));
        match page.next_cursor {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen.len(), 3, "{seen:?}");
}

#[test]
fn migration_5_splits_calls_stored_as_revisions_of_one_another() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    {
        // A version-4 store where a second trace with the same call id was stored as revision 2,
        // with an undelivered outbox entry for each.
        let conn = rusqlite::Connection::open(data.join(DB_FILE)).unwrap();
        for sql in &MIGRATIONS[..4] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
        let first = log(
            "dup",
            1,
            "2026-03-21T10:00:00.000Z",
            "a",
            CallStatus::Completed,
        );
        let mut second = log(
            "dup",
            2,
            "2026-03-21T11:00:00.000Z",
            "b",
            CallStatus::Completed,
        );
        second.trace_id = OTHER_TRACE.into();
        for l in [&first, &second] {
            conn.execute(
                "INSERT INTO call_logs VALUES (?1, ?2, ?3, ?4, 'completed', 0, 0, ?5)",
                rusqlite::params![
                    l.id,
                    l.revision,
                    l.trace_id,
                    l.agent_id,
                    serde_json::to_string(l).unwrap()
                ],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO outbox (sink, call_id, revision, event, created_ms, enqueued_ms,
                                     next_attempt_ms)
                 VALUES ('s', 'dup', ?1, 'call_log', 0, 0, 0)",
                [l.revision],
            )
            .unwrap();
        }
        conn.execute(
            "INSERT INTO calls VALUES ('dup', 2, 'b', 'completed', 0)",
            [],
        )
        .unwrap();
    }
    let store = Store::open(&data).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    for trace in ["4bf92f3577b34da6a3ce929d0e0e4736", OTHER_TRACE] {
        let call = store.latest_call("dup", Some(trace)).unwrap().unwrap();
        assert_eq!((call.trace_id.as_str(), call.revision), (trace, 1));
    }
    assert_eq!(store.same_id_calls("dup").unwrap().len(), 2);
    let entries = store.claim_due("s", 1, 10).unwrap();
    assert_eq!(entries.len(), 1, "one call's entries go one at a time");
    assert_eq!(entries[0].revision, 1);
    let update = entries[0].payload.update().unwrap();
    let CallUpdate::Finished(log) = update.as_ref() else {
        panic!("a call log entry")
    };
    assert_eq!(log.revision, 1, "the body follows its renumbered revision");
}

/// A call log with two user turns (latencies 800 and `slow_ms`), a transcript, an issue and a
/// deployment, as the console's queries see it.
fn console_log(id: &str, started_at: &str, agent: &str, slow_ms: i64, text: &str) -> CallLog {
    use crate::receiver::calllog::{Deployment, Issue, TimingSource, Turn};
    let turn = |index: u32, latency: i64, user: &str| Turn {
        index,
        speaker: crate::receiver::calllog::Speaker::User,
        text: Some("Sure, one moment.".into()),
        user_text: Some(user.into()),
        start_ms: i64::from(index) * 3000,
        end_ms: i64::from(index) * 3000 + 2500,
        stt_ms: Some(200),
        llm_ms: Some(400),
        tts_ms: Some(150),
        latency_ms: Some(latency),
        interrupted: index == 1 && slow_ms > 2000,
        timing_source: BTreeMap::from([("sttMs".to_string(), TimingSource::Ttfb)]),
        ..Turn::default()
    };
    let mut l = log(id, 1, started_at, agent, CallStatus::Completed);
    l.turns = vec![turn(0, 800, text), turn(1, slow_ms, "thanks")];
    l.metrics.turns = 2;
    l.metrics.interruptions = l.turns.iter().filter(|t| t.interrupted).count() as u32;
    l.metrics.p50_turn_latency_ms = Some(800);
    l.metrics.p95_turn_latency_ms = Some(slow_ms);
    if slow_ms > 1500 {
        l.issues.push(Issue {
            kind: "high_latency".into(),
            turn: Some(1),
            stage: None,
            value_ms: Some(slow_ms),
            target_ms: Some(1500),
            description: "slow".into(),
            recommendation: "faster".into(),
        });
    }
    l.deployment = Some(Deployment {
        id: Some(format!("dep-{agent}")),
        version: Some("1.0".into()),
        environment: Some("prod".into()),
    });
    l
}

#[test]
fn console_rows_filter_in_the_store() {
    let (_dir, store) = open();
    let calls = [
        console_log(
            "c0",
            "2026-03-21T10:00:00.000Z",
            "a",
            900,
            "where is my order",
        ),
        console_log(
            "c1",
            "2026-03-21T10:00:01.000Z",
            "b",
            2500,
            "cancel my plan",
        ),
        console_log(
            "c2",
            "2026-03-21T10:00:02.000Z",
            "a",
            1800,
            "order status please",
        ),
    ];
    for c in &calls {
        store.store_update(&finished(c.clone()), &[], 0).unwrap();
    }
    let ids = |q: CallQuery| -> Vec<String> {
        let page = store.call_rows(&q).unwrap();
        page.rows.into_iter().map(|r| r.call_id).collect()
    };
    assert_eq!(ids(CallQuery::default()), ["c2", "c1", "c0"]);
    let text = |t: &str| CallQuery {
        text: Some(t.into()),
        ..CallQuery::default()
    };
    assert_eq!(ids(text("order")), ["c2", "c0"]);
    assert_eq!(ids(text("ORD stat")), ["c2"], "prefixes, every word");
    assert_eq!(ids(text("\"unbalanced")), Vec::<String>::new());
    let issue = CallQuery {
        issue_type: Some("high_latency".into()),
        ..CallQuery::default()
    };
    assert_eq!(ids(issue), ["c2", "c1"]);
    let interrupted = CallQuery {
        interrupted: Some(true),
        ..CallQuery::default()
    };
    assert_eq!(ids(interrupted), ["c1"]);
    let slow = CallQuery {
        min_latency_ms: Some(1800),
        ..CallQuery::default()
    };
    assert_eq!(ids(slow), ["c2", "c1"]);
    let deployment = CallQuery {
        deployment_id: Some("dep-a".into()),
        limit: 1,
        ..CallQuery::default()
    };
    let first = store.call_rows(&deployment).unwrap();
    assert_eq!(first.rows[0].call_id, "c2");
    assert_eq!(first.rows[0].issues, vec![("high_latency".to_string(), 1)]);
    assert_eq!(first.rows[0].p95_latency_ms, Some(1800));
    let next = CallQuery {
        cursor: first.next_cursor,
        ..deployment
    };
    assert_eq!(ids(next), ["c0"]);
    // The same revision stored again with another body replaces its indexes.
    let mut again = calls[0].clone();
    again.turns[0].user_text = Some("parcel".into());
    store.store_update(&finished(again), &[], 0).unwrap();
    assert_eq!(ids(text("where")), Vec::<String>::new());
    assert_eq!(ids(text("parcel")), ["c0"]);
    // A revision replaces the call's indexes.
    let mut revised = calls[0].clone();
    revised.revision = 2;
    revised.turns[0].user_text = Some("refund".into());
    store.store_update(&finished(revised), &[], 0).unwrap();
    assert_eq!(ids(text("parcel")), Vec::<String>::new());
    assert_eq!(ids(text("refund")), ["c0"]);
    assert_eq!(store.agents().unwrap(), ["a", "b"]);
    let deployments = store.deployments(10).unwrap();
    assert_eq!(deployments.len(), 2);
    assert_eq!(deployments[0].id.as_deref(), Some("dep-a"));
    assert_eq!(deployments[0].calls, 2);
}

#[test]
fn the_fleet_aggregates_figures_per_agent_and_bucket() {
    use crate::receiver::query::{Figure, FleetQuery};
    let (_dir, store) = open();
    for (id, at, agent, slow) in [
        ("c0", "2026-03-21T10:00:00.000Z", "a", 1000),
        ("c1", "2026-03-21T10:00:30.000Z", "a", 3000),
        ("c2", "2026-03-21T10:01:10.000Z", "a", 1200),
        ("c3", "2026-03-21T10:01:20.000Z", "b", 900),
    ] {
        store
            .store_update(&finished(console_log(id, at, agent, slow, "hi")), &[], 0)
            .unwrap();
    }
    let since = super::calls::rfc3339_ms("2026-03-21T10:00:00.000Z");
    let q = FleetQuery {
        since_ms: since,
        until_ms: since + 120_000,
        bucket_ms: 60_000,
        agent_id: None,
    };
    let fleet = store.fleet(&q).unwrap();
    let v2v = |agent: &str, bucket: i64| {
        fleet
            .points
            .iter()
            .find(|p| {
                p.agent_id.as_deref() == Some(agent)
                    && p.figure == Figure::VoiceToVoice
                    && p.bucket == bucket
            })
            .map(|p| (p.count, p.p50, p.p95))
    };
    assert_eq!(v2v("a", 0), Some((4, Some(800), Some(3000))));
    assert_eq!(v2v("a", 1), Some((2, Some(800), Some(1200))));
    assert_eq!(v2v("b", 0), None);
    let stt_a = fleet
        .totals
        .iter()
        .find(|p| p.agent_id.as_deref() == Some("a") && p.figure == Figure::Stt)
        .unwrap();
    assert_eq!((stt_a.count, stt_a.p50), (6, Some(200)));
    let calls_a: u64 = fleet
        .calls
        .iter()
        .filter(|c| c.agent_id.as_deref() == Some("a"))
        .map(|c| c.calls)
        .sum();
    assert_eq!(calls_a, 3);
    let issues_a = fleet
        .issues
        .iter()
        .find(|i| i.agent_id.as_deref() == Some("a"))
        .unwrap();
    assert_eq!(
        (issues_a.kind.as_str(), issues_a.count),
        ("high_latency", 1)
    );
    assert_eq!(fleet.turns.len(), 2);
    assert_eq!(fleet.turns[0].interrupted, 1);
}

#[test]
fn every_figure_of_a_long_call_is_indexed_once_in_its_turns_row_and_a_new_revision_replaces_them() {
    use crate::receiver::calllog::Turn;
    let (dir, store) = open();
    let mut call = console_log("long", "2026-03-21T10:00:00.000Z", "a", 900, "hi");
    let template = call.turns[0].clone();
    let rows_of = |call: &CallLog| {
        let mut rows: Vec<(u32, String, i64)> = call
            .turns
            .iter()
            .flat_map(|t| {
                super::index::figures(t)
                    .into_iter()
                    .map(|(f, v)| (t.index, f.as_str().to_string(), v))
            })
            .collect();
        rows.sort();
        rows
    };
    // One row per turn, its figures unfolded.
    let stored = || {
        use super::index::{FigureRow, FIGURE_COLUMNS, FIGURE_COLUMN_NAMES};
        let conn = rusqlite::Connection::open(dir.path().join("data").join(DB_FILE)).unwrap();
        let turns: Vec<(u32, FigureRow)> = conn
            .prepare(&format!(
                "SELECT turn, {FIGURE_COLUMN_NAMES} FROM turn_figures WHERE call_id = 'long'"
            ))
            .unwrap()
            .query_map([], |r| {
                let mut row = FigureRow::default();
                for (i, figure) in row.iter_mut().enumerate() {
                    *figure = r.get(1 + i)?;
                }
                Ok((r.get(0)?, row))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let mut indexes: Vec<u32> = turns.iter().map(|(turn, _)| *turn).collect();
        indexes.sort_unstable();
        indexes.dedup();
        assert_eq!(indexes.len(), turns.len(), "one row per turn");
        let mut rows: Vec<(u32, String, i64)> = turns
            .into_iter()
            .flat_map(|(turn, row)| {
                FIGURE_COLUMNS
                    .iter()
                    .zip(row)
                    .filter_map(move |(f, v)| Some((turn, f.as_str().to_string(), v?)))
            })
            .collect();
        rows.sort();
        rows
    };
    // Nine turns of four to five figures each.
    call.turns = (0..9)
        .map(|index| Turn {
            index,
            latency_ms: Some(1000 + i64::from(index)),
            ..template.clone()
        })
        .collect();
    let expected = rows_of(&call);
    assert!(expected.len() > 32, "{}", expected.len());
    store.store_update(&finished(call.clone()), &[], 0).unwrap();
    assert_eq!(stored(), expected);
    call.revision = 2;
    call.turns.truncate(2);
    store.store_update(&finished(call.clone()), &[], 0).unwrap();
    assert_eq!(stored(), rows_of(&call));
}

#[test]
fn a_calls_delivery_state_per_sink() {
    use crate::receiver::query::DeliveryState;
    let (_dir, store) = open();
    store
        .register_sinks(&[("good", "http"), ("bad", "http"), ("idle", "jsonl")])
        .unwrap();
    let call = log(
        "c1",
        1,
        "2026-03-21T10:00:00.000Z",
        "a",
        CallStatus::Completed,
    );
    store
        .store_update(
            &finished(call.clone()),
            &[to("good", "call_log"), to("bad", "call_log")],
            1,
        )
        .unwrap();
    let state = |sink: &str| {
        let all = store.deliveries("c1", &call.trace_id).unwrap();
        let d = all.into_iter().find(|d| d.sink == sink).unwrap();
        (d.state, d.delivered_revision)
    };
    assert_eq!(state("good"), (DeliveryState::Pending, None));
    let good = store.claim_due("good", 2, 10).unwrap();
    store.mark_delivered(good[0].id).unwrap();
    assert_eq!(state("good"), (DeliveryState::Delivered, Some(1)));
    let bad = store.claim_due("bad", 2, 10).unwrap();
    store.mark_retry(bad[0].id, 5, Some(503), "busy").unwrap();
    assert_eq!(state("bad"), (DeliveryState::Retrying, None));
    let bad = store.claim_due("bad", 6, 10).unwrap();
    store.mark_dead(bad[0].id, Some(400), "rejected").unwrap();
    assert_eq!(state("bad"), (DeliveryState::Dead, None));
    assert_eq!(state("idle"), (DeliveryState::NotSent, None));
}

#[test]
fn migration_6_indexes_the_calls_already_stored() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let call = console_log("old", "2026-03-21T10:00:00.000Z", "a", 2500, "my old order");
    {
        let conn = rusqlite::Connection::open(data.join(DB_FILE)).unwrap();
        for sql in &MIGRATIONS[..5] {
            conn.execute_batch(sql).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
        let started = super::calls::rfc3339_ms(&call.started_at);
        conn.execute(
            "INSERT INTO call_logs VALUES (?1, ?2, 1, 'a', 'completed', ?3, 0, ?4)",
            rusqlite::params![
                call.id,
                call.trace_id,
                started,
                serde_json::to_string(&call).unwrap()
            ],
        )
        .unwrap();
        conn.execute(
            "INSERT INTO calls VALUES (?1, ?2, 1, 'a', 'completed', ?3)",
            rusqlite::params![call.id, call.trace_id, started],
        )
        .unwrap();
    }
    let store = Store::open(&data).unwrap();
    let rows = |q: CallQuery| store.call_rows(&q).unwrap().rows;
    let all = rows(CallQuery::default());
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].deployment_id.as_deref(), Some("dep-a"));
    assert_eq!((all[0].turns, all[0].interruptions), (2, 1));
    assert_eq!(all[0].issues, vec![("high_latency".to_string(), 1)]);
    for q in [
        CallQuery {
            text: Some("old ord".into()),
            ..CallQuery::default()
        },
        CallQuery {
            issue_type: Some("high_latency".into()),
            ..CallQuery::default()
        },
        CallQuery {
            min_latency_ms: Some(2500),
            ..CallQuery::default()
        },
    ] {
        assert_eq!(rows(q.clone()).len(), 1, "{q:?}");
    }
    let since = super::calls::rfc3339_ms(&call.started_at);
    let fleet = store
        .fleet(&crate::receiver::query::FleetQuery {
            since_ms: since,
            until_ms: since + 1000,
            bucket_ms: 1000,
            agent_id: None,
        })
        .unwrap();
    let figures: usize = fleet.totals.iter().map(|p| p.count as usize).sum();
    assert_eq!(figures, 8, "stt, llm, tts, voice-to-voice of two turns");
}

#[test]
fn migration_8_moves_the_journal_to_its_files_and_zeroes_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let secret = b"jane@example.com card 4111 1111 1111 1111 ".repeat(100);
    {
        // A version-7 store whose journal holds the raw spans of a call in flight, checkpointed
        // into the database file.
        let mut conn = rusqlite::Connection::open(data.join(DB_FILE)).unwrap();
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))
            .unwrap();
        let tx = conn.transaction().unwrap();
        for sql in &MIGRATIONS[..7] {
            tx.execute_batch(sql).unwrap();
        }
        tx.pragma_update(None, "user_version", 7).unwrap();
        tx.commit().unwrap();
        conn.execute(
            "INSERT INTO journal (trace_id, received_ms, payload) VALUES (?1, 0, ?2)",
            rusqlite::params![&[7u8; 16][..], &secret],
        )
        .unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .unwrap();
    }
    let db = data.join(DB_FILE);
    let holds = |needle: &[u8]| {
        let mut bytes = std::fs::read(&db).unwrap();
        bytes.extend(std::fs::read(db.with_extension("db-wal")).unwrap_or_default());
        bytes.windows(needle.len()).any(|w| w == needle)
    };
    assert!(
        holds(b"jane@example.com"),
        "the test's journal row is in the file"
    );
    let store = Store::open(&data).unwrap();
    assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
    let tables: i64 = rusqlite::Connection::open(data.join(DB_FILE))
        .unwrap()
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'journal'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 0);
    drop(store);
    assert!(
        !holds(b"jane@example.com"),
        "the dropped journal's bytes are zeroed"
    );
    // What it held moved to the journal's files, to be replayed.
    let opened = crate::receiver::journal::Segments::open(&data).unwrap();
    assert_eq!(opened.entries.len(), 1);
    assert_eq!(opened.entries[0].trace_id, [7; 16]);
    assert_eq!(opened.entries[0].payload, secret);
    drop(opened);
    // Opened again, the store moves nothing twice.
    drop(Store::open(&data).unwrap());
    assert_eq!(crate::receiver::journal::entries_on_disk(&data).unwrap(), 1);
}
