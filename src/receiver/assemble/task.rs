//! The assembly task: the impure shell around the pure [`Assembler`].
//!
//! It owns the clock and the channels. It takes journaled batches, feeds them to the assembler
//! with the receiver's time, sleeps until the assembler's next deadline (the earliest grace,
//! idle timeout or revision window of any call, re-armed after every batch) and polls it then,
//! analyses and costs every finished call log ([`analyze`], [`cost`]) and fills its trace link,
//! redacts every update when redaction applies before the store ([`Redactor`]), and hands the
//! updates in order to the recorder ([`Record`]). After each batch it tells [`Admission`] what assembly
//! holds, and the metrics what it counted.
//!
//! When the journal closes its channel (ingest stopped), the task finishes what can be finished
//! and hands the rest over: calls still waiting for their root stay in the journal for the next
//! start (without a journal they are closed as incomplete).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::{Assembler, AssemblerStats};
use crate::receiver::analyze::prices::Prices;
use crate::receiver::analyze::{analyze, cost, AnalysisConfig};
use crate::receiver::calllog::{trace_link, CallUpdate};
use crate::receiver::ingest::{Admission, AssemblyHolds};
use crate::receiver::journal::{Journaled, Replay};
use crate::receiver::metrics::ReceiverMetrics;
use crate::receiver::redact::Redactor;
use crate::receiver::span::{Batch, TraceId};
use crate::receiver::store::recorder::Record;

/// How far ahead the timer is armed when nothing is due: any batch re-arms it, so this only
/// bounds how long an idle receiver sleeps without looking.
const IDLE_WAKE: Duration = Duration::from_secs(3_600);

/// Whether the calls assembly holds survive a stop (in the journal) or must be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenCalls {
    /// A journal keeps them: they continue at the next start.
    Journaled,
    /// Nothing keeps them: closed as incomplete at a stop rather than lost.
    CloseAtStop,
}

/// What the task needs besides the assembler and its channels.
#[derive(Debug, Clone)]
pub struct TaskConfig {
    /// Stage budgets for analysis.
    pub analysis: AnalysisConfig,
    /// The prices calls are costed at.
    pub prices: std::sync::Arc<Prices>,
    /// `links.trace` template.
    pub trace_url_template: Option<String>,
    /// Whether a journal keeps open calls across stops.
    pub open_calls: OpenCalls,
    /// Ingest's memory bound; finished calls kept for revisions may hold half of it.
    pub max_spans_buffered: usize,
    /// The journal position of the last batch already in the assembler (replayed at start).
    pub position: i64,
    /// Redacts every update before the recorder stores it (`[redaction] mode = "store"`).
    pub redactor: Option<Arc<Redactor>>,
}

/// The channels and observers the task is wired to.
#[derive(Debug)]
pub struct Wiring {
    /// Journaled batches.
    pub batches: mpsc::Receiver<Journaled>,
    /// Updates and releases, in order, to the recorder.
    pub records: mpsc::Sender<Record>,
    /// Told what assembly holds after each batch.
    pub admission: Admission,
    /// The receiver's metrics.
    pub metrics: ReceiverMetrics,
}

struct AssemblyTask {
    assembler: Assembler,
    wiring: Wiring,
    config: TaskConfig,
    /// The calls the last batch touched, for admission.
    touched: Vec<TraceId>,
    /// The counters as last published.
    published: AssemblerStats,
}

fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// The monotonic instant of a deadline in Unix ns (far ahead when there is none).
fn instant_of(deadline: Option<u64>) -> Instant {
    let now = Instant::now();
    match deadline {
        Some(deadline) => now + Duration::from_nanos(deadline.saturating_sub(now_nanos())),
        None => now + IDLE_WAKE,
    }
}

/// Runs assembly until the batches channel closes, starting with what the journal kept from
/// the last run.
pub async fn run(assembler: Assembler, replay: Replay, wiring: Wiring, config: TaskConfig) {
    let mut task = AssemblyTask {
        touched: Vec::new(),
        assembler,
        wiring,
        config,
        published: AssemblerStats::default(),
    };
    let initial = task.replay(replay);
    if !task.hand_over(initial).await {
        return;
    }
    let timer = tokio::time::sleep(IDLE_WAKE);
    tokio::pin!(timer);
    let mut armed: Option<u64> = None;
    loop {
        let next = task.assembler.next_deadline();
        if next != armed {
            timer.as_mut().reset(instant_of(next));
            armed = next;
        }
        let updates = tokio::select! {
            batch = task.wiring.batches.recv() => match batch {
                Some(journaled) => task.take(journaled),
                None => break,
            },
            // The timer wakes at millisecond granularity, at or after the deadline; polling
            // at no earlier than the deadline keeps a clock skew between the monotonic timer
            // and the wall clock from spinning on a deadline not yet "due".
            _ = &mut timer, if armed.is_some() => {
                let now = armed.map_or(now_nanos(), |deadline| now_nanos().max(deadline));
                armed = None;
                task.assembler.poll(now)
            }
        };
        // Finished calls kept only for revisions give way to new calls: ingest refuses spans
        // while assembly holds its bound, and they must not hold it until their window ends.
        task.assembler
            .shed_finished(task.config.max_spans_buffered / 2);
        if !task.hand_over(updates).await {
            return;
        }
        task.publish();
    }
    task.stop().await;
}

impl AssemblyTask {
    /// Calls that were in flight when the receiver last stopped continue where they were, and
    /// the calls it had finished but still held for revisions are held again: a crash between
    /// storing a call log and letting its spans go loses nothing, and the call log built again
    /// is recognised as the one stored (the recorder numbers revisions).
    fn replay(&mut self, replay: Replay) -> Vec<CallUpdate> {
        if replay.is_empty() {
            return Vec::new();
        }
        tracing::info!(
            spans = replay.spans.len(),
            logs = replay.logs.len(),
            points = replay.points.len(),
            "replaying the span journal"
        );
        let now = now_nanos();
        let mut updates = self.assembler.add_points(replay.points, now);
        updates.extend(self.assembler.add_spans(replay.spans, now));
        updates.extend(self.assembler.add_logs(replay.logs, now));
        self.touched = self.assembler.traces().copied().collect();
        updates
    }

    fn take(&mut self, journaled: Journaled) -> Vec<CallUpdate> {
        self.config.position = self.config.position.max(journaled.position);
        match journaled.batch {
            Batch::Spans(spans) => {
                self.touched.extend(spans.iter().map(|s| s.trace_id));
                self.touched.dedup();
                self.assembler.add_spans(spans, now_nanos())
            }
            Batch::Logs(logs) => self.assembler.add_logs(logs, now_nanos()),
            Batch::Points(points) => self.assembler.add_points(points, now_nanos()),
        }
    }

    /// Ingest has stopped: finish what can be finished; calls still waiting for their root
    /// stay in the journal for the next start (or, without one, are closed as incomplete).
    /// Finished calls are let go: their last call logs are stored before the journal drops them.
    async fn stop(mut self) {
        let close_open = self.config.open_calls == OpenCalls::CloseAtStop;
        let updates = self.assembler.flush(now_nanos(), close_open);
        if !updates.is_empty() {
            tracing::info!(
                updates = updates.len(),
                "closing calls in flight at shutdown"
            );
        }
        self.assembler.release_finished();
        self.hand_over(updates).await;
        self.publish();
    }

    /// Analyses and links finished call logs, redacts (after analysis, whose descriptions
    /// quote stage errors), hands everything to the recorder, then tells admission what
    /// assembly holds. `false` once the recorder is gone.
    async fn hand_over(&mut self, updates: Vec<CallUpdate>) -> bool {
        for mut update in updates {
            if let CallUpdate::Finished(log) = &mut update {
                analyze(log, &self.config.analysis);
                log.cost = Some(cost::cost(log, &self.config.prices));
                if let Some(template) = &self.config.trace_url_template {
                    log.links.trace = Some(trace_link(template, &log.trace_id, &log.id));
                }
            }
            if let Some(redactor) = &self.config.redactor {
                redactor.update(&mut update);
            }
            if self
                .wiring
                .records
                .send(Record::Update(update))
                .await
                .is_err()
            {
                return false;
            }
        }
        let released = self.assembler.take_released();
        let stats = self.assembler.stats();
        self.wiring.admission.assembly_holds(AssemblyHolds {
            spans: stats.spans_buffered,
            open_calls: stats.calls_open,
            touched: &self.touched,
            released: &released,
        });
        self.touched.clear();
        if self.config.open_calls == OpenCalls::Journaled && !released.is_empty() {
            let position = self.config.position;
            let released = released.into_iter().map(|t| (t, position)).collect();
            if self
                .wiring
                .records
                .send(Record::Release(released))
                .await
                .is_err()
            {
                return false;
            }
        }
        true
    }

    /// Copies what assembly counted since the last time into the metrics.
    fn publish(&mut self) {
        let stats = self.assembler.stats();
        let last = self.published;
        let metrics = &self.wiring.metrics;
        metrics.set_calls_open(stats.calls_open as i64);
        metrics.spans_accepted(stats.spans_accepted - last.spans_accepted);
        metrics.spans_refused(stats.spans_refused - last.spans_refused);
        metrics.calls_evicted(stats.calls_evicted - last.calls_evicted);
        metrics.traces_ignored(stats.traces_ignored - last.traces_ignored);
        self.published = stats;
    }
}
