//! The store watcher: copies what only the store knows (each sink's delivery counts, the
//! outbox's depth) and the journal's depth into the metrics and into ingest's admission, until
//! the receiver stops.
//!
//! With an outbox bound the outbox depth is read often, because the bound is overshot by at most
//! one interval's worth of call logs; the per-sink counts, which only `/metrics` reads, and the
//! depth without a bound, every 2 s.

use std::time::Duration;

use tokio::sync::watch;

use super::{Store, StoreError};
use crate::receiver::ingest::Admission;
use crate::receiver::journal::Segments;
use crate::receiver::metrics::ReceiverMetrics;

/// How often the outbox's depth is read when admission bounds it.
const BOUND_INTERVAL: Duration = Duration::from_millis(250);
/// How often the sink counts (and, without a bound, the depth) are read.
const STATS_INTERVAL: Duration = Duration::from_secs(2);

/// Runs until `stop` says so.
pub async fn run(
    store: Store,
    journal: Option<Segments>,
    metrics: ReceiverMetrics,
    admission: Admission,
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
        // From what the journal knows of its entries: no file is read.
        if let Some(journal) = &journal {
            metrics.set_journal_depth(journal.depth() as i64, journal.files() as i64);
        }
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
