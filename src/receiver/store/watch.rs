//! The store watcher: copies what only the store knows (each sink's delivery counts, the
//! outbox's depth, the journal's depth) into the metrics and into ingest's admission, until the
//! receiver stops; and, when the store must not keep what the journal deleted
//! ([`Scrub::AfterRelease`]), scrubs it after the journal let calls go, at most once a
//! [`STATS_INTERVAL`].
//!
//! With an outbox bound the outbox depth is read often, because the bound is overshot by at most
//! one interval's worth of call logs; the per-sink counts, which only `/metrics` reads, and the
//! depth without a bound, every 2 s.

use std::time::Duration;

use tokio::sync::watch;

use super::{JournalTable, Scrub, Store, StoreError};
use crate::receiver::ingest::Admission;
use crate::receiver::metrics::ReceiverMetrics;

/// How often the outbox's depth is read when admission bounds it.
const BOUND_INTERVAL: Duration = Duration::from_millis(250);
/// How often the sink counts (and, without a bound, the depth) are read.
const STATS_INTERVAL: Duration = Duration::from_secs(2);

/// Runs until `stop` says so.
pub async fn run(
    store: Store,
    journal: Option<JournalTable>,
    metrics: ReceiverMetrics,
    admission: Admission,
    scrub: Scrub,
    mut stop: watch::Receiver<bool>,
) {
    let interval = if admission.bounds().max_outbox > 0 {
        BOUND_INTERVAL
    } else {
        STATS_INTERVAL
    };
    let stats_every = (STATS_INTERVAL.as_millis() / interval.as_millis()).max(1) as u32;
    let mut tick = tokio::time::interval(interval);
    for reading in 0u32.. {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let with_sinks = reading % stats_every == 0;
        let s = store.clone();
        let read = tokio::task::spawn_blocking(move || read(&s, with_sinks)).await;
        match read {
            Ok(Ok(depths)) => publish(&depths, &metrics, &admission),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot read the outbox depth"),
            Err(_) => {}
        }
        // From what the journal knows of its rows: counting the table would hold the store's
        // connection for a scan of every journaled span.
        if let Some(Ok(rows)) = journal.as_ref().map(JournalTable::depth) {
            metrics.set_journal_depth(rows as i64);
        }
        if with_sinks && scrub == Scrub::AfterRelease {
            scrub_released(&store, journal.as_ref()).await;
        }
    }
}

/// Scrubs the store if the journal deleted rows since the last time (the next one tries again
/// when a reader held this one back).
async fn scrub_released(store: &Store, journal: Option<&JournalTable>) {
    let Some(journal) = journal.filter(|j| j.take_forgotten()) else {
        return;
    };
    let (s, j) = (store.clone(), journal.clone());
    let scrubbed = tokio::task::spawn_blocking(move || {
        let done = s.scrub();
        if !matches!(done, Ok(true)) {
            // Not done: look again at the next interval.
            j.mark_forgotten();
        }
        done
    })
    .await;
    if let Ok(Err(e)) = scrubbed {
        tracing::warn!(error = %e, "cannot scrub the store");
    }
}

struct Depths {
    outbox: u64,
    sinks: Vec<super::SinkStats>,
}

fn read(store: &Store, with_sinks: bool) -> Result<Depths, StoreError> {
    Ok(Depths {
        outbox: store.outbox_depth()?,
        sinks: if with_sinks {
            store.sink_stats()?
        } else {
            Vec::new()
        },
    })
}

fn publish(depths: &Depths, metrics: &ReceiverMetrics, admission: &Admission) {
    admission.outbox_holds(depths.outbox);
    metrics.set_outbox_depth(depths.outbox as i64);
    for sink in &depths.sinks {
        metrics.set_sink_counts(
            &sink.name,
            sink.delivered,
            sink.retrying,
            sink.dead,
            sink.pending,
        );
    }
}
