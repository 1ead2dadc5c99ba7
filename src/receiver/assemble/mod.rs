//! Assembly: spans in, call logs out. The pure core of the receiver.
//!
//! [`Assembler`] groups spans by trace id across any number of export requests and processes,
//! in any arrival order, and decides when a call is finished:
//!
//! - a call is **finished** when its root span has arrived and the grace period has passed since
//!   (stragglers from other processes and batch processors arrive meanwhile);
//! - a call whose root never arrives is closed as **incomplete** after the idle timeout (no span
//!   for that long);
//! - spans that arrive after a call was finished (within the revision window) produce a
//!   **revised** call log, once the grace has passed again (numbered when stored: see
//!   `store::recorder`).
//!
//! Memory is bounded: at most `max_calls` calls (open or kept for revisions) and
//! `max_spans_per_call` spans per call. When the call table is full the call idle the longest is
//! evicted: a finished one is simply forgotten (its call log is out already), an open one is
//! closed early and its call log emitted, so nothing disappears silently; every refusal and
//! eviction is counted in [`AssemblerStats`].
//!
//! No I/O and no clock: every method takes `now` (Unix ns, the receiver's clock) from the caller.
//!
//! [`build_call_log`] turns one call's spans into its call log, one module per concern:
//!
//! - `call`: the orchestrator, and the call's extent, identity, status and metadata;
//! - `index`: the call's spans deduplicated, in time order, linked, and its root;
//! - `dialect`: per dialect, the rules for everything the builders read (markers, stage spans,
//!   turn grouping, which keys give each figure and text), picked once per call;
//! - `group`: which spans make up each turn;
//! - `turn`: one turn's figures, texts, providers, counts, errors and tools;
//! - `events`: span events and log records as events, log lines and custom metrics, by turn;
//! - `attrs` and [`timing`]: how a key table is read, and the timing model's arithmetic.
//!
//! [`task`] is the impure shell around the [`Assembler`]: the clock, the channels, analysis.

mod attrs;
mod call;
mod dialect;
mod events;
mod group;
mod index;
pub mod task;
pub mod timing;
mod turn;

#[cfg(test)]
mod test_support;

use std::collections::{HashMap, HashSet};

use crate::receiver::calllog::{CallStarted, CallUpdate, TurnCompleted};
use crate::receiver::span::{LogRecord, SpanRecord, TraceId};
use crate::semconv::{self, livekit};
use crate::trace_id::to_hex;

pub use call::{build_call_log, rfc3339_ms, Closing};
pub use index::is_root_span;

const NANOS_PER_MS: u64 = 1_000_000;

/// Limits and timers of assembly.
#[derive(Debug, Clone)]
pub struct AssemblerConfig {
    /// Wait after the root span arrives for stragglers (default 2 s: one batch-processor
    /// schedule of a typical SDK plus network).
    pub grace_ms: u64,
    /// Close a call whose root never arrives after this long without a span (default 120 s: a
    /// pause in a call is rarely longer, and an abandoned call should not wait forever).
    pub idle_timeout_ms: u64,
    /// Keep a finished call's spans this long for revisions (default: the idle timeout).
    pub revision_window_ms: u64,
    /// Calls held at once, open or kept for revisions (default 10 000).
    pub max_calls: usize,
    /// Spans kept per call; later ones are refused and counted (default 10 000: hours of turns).
    pub max_spans_per_call: usize,
    /// Emit `TurnCompleted` updates as turns arrive (only webhook sinks want them).
    pub live_turns: bool,
}

impl Default for AssemblerConfig {
    fn default() -> Self {
        AssemblerConfig {
            grace_ms: 2_000,
            idle_timeout_ms: 120_000,
            revision_window_ms: 120_000,
            max_calls: 10_000,
            max_spans_per_call: 10_000,
            live_turns: false,
        }
    }
}

/// Counters and gauges of assembly, for `/metrics` and logs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssemblerStats {
    /// Calls not finished yet.
    pub calls_open: usize,
    /// Calls finished and kept for revisions.
    pub calls_retained: usize,
    /// Spans held in memory.
    pub spans_buffered: usize,
    /// Spans accepted so far.
    pub spans_accepted: u64,
    /// Spans refused because their call held `max_spans_per_call`.
    pub spans_refused: u64,
    /// Open calls closed early because the call table was full.
    pub calls_evicted: u64,
    /// Call logs emitted with status incomplete (idle timeout or eviction).
    pub calls_incomplete: u64,
    /// Call logs emitted (first revisions only).
    pub calls_finished: u64,
    /// Revised call logs emitted.
    pub calls_revised: u64,
}

#[derive(Debug)]
struct CallState {
    spans: Vec<SpanRecord>,
    logs: Vec<LogRecord>,
    /// Receiver time of the last span or log record.
    last_seen: u64,
    /// Receiver time the root span arrived.
    root_seen: Option<u64>,
    /// Revision of the last emitted call log; 0 while the call is open.
    revision: u32,
    /// Receiver time the last call log was emitted.
    emitted_at: u64,
    /// Spans arrived since the last call log.
    dirty: bool,
    /// The call id, once a span names it; `Started` is announced then.
    call_id: Option<String>,
    /// `Started` was emitted.
    announced: bool,
    /// Turns announced live.
    turns_announced: usize,
}

impl CallState {
    fn new(now: u64) -> Self {
        CallState {
            spans: Vec::new(),
            logs: Vec::new(),
            last_seen: now,
            root_seen: None,
            revision: 0,
            emitted_at: 0,
            dirty: false,
            call_id: None,
            announced: false,
            turns_announced: 0,
        }
    }

    fn is_open(&self) -> bool {
        self.revision == 0
    }
}

/// Keys that name a call, on any span (the build step applies the full precedence).
const CALL_ID_HINTS: &[&str] = &[
    semconv::CONVERSATION_ID,
    semconv::GEN_AI_CONVERSATION_ID,
    livekit::ROOM_ID,
    livekit::ROOM_SID,
];

/// Span names whose arrival completes a turn (for live `call_turn` events).
const TURN_SPANS: &[&str] = &[semconv::SPAN_TURN, livekit::SPAN_AGENT_TURN];

/// Groups spans into calls and emits call updates. See the module documentation.
#[derive(Debug)]
pub struct Assembler {
    config: AssemblerConfig,
    calls: HashMap<TraceId, CallState>,
    stats: AssemblerStats,
    /// Calls let go since the last [`Assembler::take_released`].
    released: Vec<TraceId>,
    /// Spans held over all calls, and calls still open: kept as spans and calls come and go,
    /// because the receiver reads them after every batch (a sum over every call each time
    /// would make a stream of small batches quadratic in the calls held).
    spans_held: usize,
    calls_open: usize,
}

impl Assembler {
    /// An empty assembler.
    pub fn new(config: AssemblerConfig) -> Self {
        Assembler {
            config,
            calls: HashMap::new(),
            stats: AssemblerStats::default(),
            released: Vec::new(),
            spans_held: 0,
            calls_open: 0,
        }
    }

    /// Current counters.
    pub fn stats(&self) -> AssemblerStats {
        debug_assert_eq!(
            self.calls_open,
            self.calls.values().filter(|c| c.is_open()).count()
        );
        debug_assert_eq!(
            self.spans_held,
            self.calls.values().map(|c| c.spans.len()).sum::<usize>()
        );
        let mut stats = self.stats;
        stats.calls_open = self.calls_open;
        stats.calls_retained = self.calls.len() - self.calls_open;
        stats.spans_buffered = self.spans_held;
        stats
    }

    /// The calls held (open or kept for revisions), by trace id.
    pub fn traces(&self) -> impl Iterator<Item = &TraceId> {
        self.calls.keys()
    }

    /// Takes spans (any calls, any order). Returns the live updates they cause (`Started`,
    /// `TurnCompleted`) and the call logs of calls evicted to make room.
    pub fn add_spans(&mut self, spans: Vec<SpanRecord>, now: u64) -> Vec<CallUpdate> {
        let mut updates = Vec::new();
        // Calls this batch touched, in first-touch order (the set keeps a batch of many calls
        // linear).
        let mut touched: Vec<TraceId> = Vec::new();
        let mut touched_set: HashSet<TraceId> = HashSet::new();
        for span in spans {
            let trace_id = span.trace_id;
            if !self.calls.contains_key(&trace_id) {
                if self.calls.len() >= self.config.max_calls {
                    updates.extend(self.evict_one(now));
                }
                self.calls.insert(trace_id, CallState::new(now));
                self.calls_open += 1;
            }
            let Some(call) = self.calls.get_mut(&trace_id) else {
                continue;
            };
            if call.spans.len() >= self.config.max_spans_per_call {
                self.stats.spans_refused += 1;
                continue;
            }
            if is_root_span(&span) && call.root_seen.is_none() {
                call.root_seen = Some(now);
            }
            if call.call_id.is_none() {
                call.call_id = CALL_ID_HINTS
                    .iter()
                    .find_map(|k| span.attributes.str(k))
                    .map(str::to_string);
            }
            call.spans.push(span);
            self.spans_held += 1;
            call.last_seen = now;
            call.dirty = true;
            self.stats.spans_accepted += 1;
            if touched_set.insert(trace_id) {
                touched.push(trace_id);
            }
        }
        for trace_id in touched {
            updates.extend(self.live_updates(&trace_id));
        }
        updates
    }

    /// Takes OTLP log records; those of calls the assembler holds (or will hold) become the
    /// call's log lines.
    pub fn add_logs(&mut self, logs: Vec<LogRecord>, now: u64) -> Vec<CallUpdate> {
        let mut updates = Vec::new();
        for record in logs {
            if !self.calls.contains_key(&record.trace_id) {
                if self.calls.len() >= self.config.max_calls {
                    updates.extend(self.evict_one(now));
                }
                self.calls.insert(record.trace_id, CallState::new(now));
                self.calls_open += 1;
            }
            if let Some(call) = self.calls.get_mut(&record.trace_id) {
                call.logs.push(record);
                call.last_seen = now;
                call.dirty = true;
            }
        }
        updates
    }

    /// `Started` once a call is named, `TurnCompleted` for turns that arrived since the last
    /// announcement (open calls only).
    fn live_updates(&mut self, trace_id: &TraceId) -> Vec<CallUpdate> {
        let live_turns = self.config.live_turns;
        let Some(call) = self.calls.get_mut(trace_id) else {
            return Vec::new();
        };
        if !call.is_open() {
            return Vec::new();
        }
        let mut updates = Vec::new();
        if !call.announced && call.call_id.is_some() {
            call.announced = true;
            updates.push(started(trace_id, call));
        }
        let turn_spans = call
            .spans
            .iter()
            .filter(|s| TURN_SPANS.contains(&s.name.as_str()))
            .count();
        if live_turns && call.announced && turn_spans > call.turns_announced {
            let log = build_call_log(trace_id, &call.spans, &call.logs, Closing::NoRoot, 0);
            for turn in log
                .turns
                .iter()
                .skip(call.turns_announced)
                .take(turn_spans - call.turns_announced)
            {
                updates.push(CallUpdate::TurnCompleted(TurnCompleted {
                    call_id: log.id.clone(),
                    trace_id: log.trace_id.clone(),
                    agent_id: log.agent_id.clone(),
                    turn: turn.clone(),
                }));
            }
            call.turns_announced = turn_spans;
        }
        updates
    }

    /// Finishes what is due at `now`: calls whose grace has passed since their root arrived,
    /// calls idle past the timeout, revisions whose grace has passed; forgets finished calls
    /// past their revision window.
    pub fn poll(&mut self, now: u64) -> Vec<CallUpdate> {
        let grace = self.config.grace_ms * NANOS_PER_MS;
        let idle = self.config.idle_timeout_ms * NANOS_PER_MS;
        let window = self.config.revision_window_ms * NANOS_PER_MS;
        let mut due = Vec::new();
        let mut forget = Vec::new();
        for (trace_id, call) in &self.calls {
            if call.is_open() {
                let root_due = call
                    .root_seen
                    .is_some_and(|t| now >= t + grace && now >= call.last_seen + grace.min(idle));
                let idle_due = now >= call.last_seen + idle;
                if root_due || idle_due {
                    due.push(*trace_id);
                }
            } else if call.dirty {
                if now >= call.last_seen + grace {
                    due.push(*trace_id);
                }
            } else if now >= call.emitted_at + window {
                forget.push(*trace_id);
            }
        }
        for trace_id in forget {
            self.release(&trace_id);
        }
        // Oldest first, so output order follows the calls' activity.
        due.sort_by_key(|t| self.calls.get(t).map(|c| c.last_seen));
        due.into_iter().flat_map(|t| self.emit(&t, now)).collect()
    }

    /// Closes calls now (receiver shutdown): pending revisions and calls whose root arrived
    /// are finished; calls still waiting for their root are closed as incomplete only when
    /// `close_open` is set (without a journal to resume them from, closing is better than
    /// losing them).
    pub fn flush(&mut self, now: u64, close_open: bool) -> Vec<CallUpdate> {
        let due: Vec<TraceId> = self
            .calls
            .iter()
            .filter(|(_, c)| {
                (c.is_open() && (c.root_seen.is_some() || close_open)) || (!c.is_open() && c.dirty)
            })
            .map(|(t, _)| *t)
            .collect();
        due.into_iter().flat_map(|t| self.emit(&t, now)).collect()
    }

    /// Emits the call log of one call (first or revised).
    fn emit(&mut self, trace_id: &TraceId, now: u64) -> Vec<CallUpdate> {
        let Some(call) = self.calls.get_mut(trace_id) else {
            return Vec::new();
        };
        let mut updates = Vec::new();
        if call.spans.is_empty() {
            // Log records only: there is no call to speak of. Keep them until spans come or
            // the idle timeout drops them.
            if now >= call.last_seen + self.config.idle_timeout_ms * NANOS_PER_MS {
                self.release(trace_id);
            }
            return updates;
        }
        let closing = if call.root_seen.is_some() {
            Closing::RootEnded
        } else {
            Closing::NoRoot
        };
        let revision = call.revision + 1;
        // The call log's `revision` is left at 0: revisions are numbered when stored, by the
        // store's recorder, which alone knows what was stored before (a restart, a replay).
        let log = build_call_log(trace_id, &call.spans, &call.logs, closing, 0);
        if !call.announced {
            call.announced = true;
            call.call_id = Some(log.id.clone());
            updates.push(started(trace_id, call));
        }
        if revision == 1 {
            self.calls_open -= 1;
            self.stats.calls_finished += 1;
        } else {
            self.stats.calls_revised += 1;
        }
        if closing == Closing::NoRoot {
            self.stats.calls_incomplete += 1;
        }
        call.revision = revision;
        call.emitted_at = now;
        call.dirty = false;
        updates.push(CallUpdate::Finished(Box::new(log)));
        updates
    }

    /// Makes room for one call: forgets the finished call emitted longest ago, else closes the
    /// open call idle the longest.
    fn evict_one(&mut self, now: u64) -> Vec<CallUpdate> {
        let finished = self
            .calls
            .iter()
            .filter(|(_, c)| !c.is_open() && !c.dirty)
            .min_by_key(|(_, c)| c.emitted_at)
            .map(|(t, _)| *t);
        if let Some(t) = finished {
            self.release(&t);
            return Vec::new();
        }
        let Some(oldest) = self
            .calls
            .iter()
            .min_by_key(|(_, c)| c.last_seen)
            .map(|(t, _)| *t)
        else {
            return Vec::new();
        };
        self.stats.calls_evicted += 1;
        let updates = self.emit(&oldest, now);
        self.release(&oldest);
        updates
    }

    /// Forgets a call and remembers that it was let go.
    fn release(&mut self, trace_id: &TraceId) {
        if let Some(call) = self.calls.remove(trace_id) {
            self.spans_held -= call.spans.len();
            if call.is_open() {
                self.calls_open -= 1;
            }
            self.released.push(*trace_id);
        }
    }

    /// The calls let go (revision window over, evicted, dropped) since the last call: nothing
    /// the assembler holds needs their spans any more, so whoever keeps a copy of them (the
    /// receiver's journal) can drop it, once their updates are stored.
    pub fn take_released(&mut self) -> Vec<TraceId> {
        std::mem::take(&mut self.released)
    }

    /// Lets go of finished calls with no revision pending, the one emitted longest ago first,
    /// until at most `max_spans` spans are held (or no such call is left). Calls kept only for
    /// revisions must not hold the memory bound against new calls: the receiver calls this so
    /// that ingest's "retry later" ends as soon as open calls leave room. Returns the spans
    /// let go.
    pub fn shed_finished(&mut self, max_spans: usize) -> usize {
        let mut held = self.spans_held;
        if held <= max_spans {
            return 0;
        }
        let mut finished: Vec<(u64, TraceId, usize)> = self
            .calls
            .iter()
            .filter(|(_, c)| !c.is_open() && !c.dirty)
            .map(|(t, c)| (c.emitted_at, *t, c.spans.len()))
            .collect();
        finished.sort_unstable();
        let mut shed = 0;
        for (_, trace_id, spans) in finished {
            if held <= max_spans {
                break;
            }
            self.release(&trace_id);
            held -= spans;
            shed += spans;
        }
        shed
    }

    /// Lets go of every finished call with no revision pending (after [`Assembler::flush`] at
    /// shutdown: their last call logs are out). Open calls stay.
    pub fn release_finished(&mut self) {
        let done: Vec<TraceId> = self
            .calls
            .iter()
            .filter(|(_, c)| !c.is_open() && !c.dirty)
            .map(|(t, _)| *t)
            .collect();
        for trace_id in done {
            self.release(&trace_id);
        }
    }
}

fn started(trace_id: &TraceId, call: &CallState) -> CallUpdate {
    let first = call
        .spans
        .iter()
        .map(|s| s.start_unix_nano)
        .min()
        .unwrap_or(0);
    let agent_id = call.spans.iter().find_map(|s| {
        s.attributes
            .str(semconv::GEN_AI_AGENT_ID)
            .or_else(|| s.attributes.str(semconv::GEN_AI_AGENT_NAME))
            .map(str::to_string)
    });
    CallUpdate::Started(CallStarted {
        call_id: call.call_id.clone().unwrap_or_else(|| to_hex(trace_id)),
        trace_id: to_hex(trace_id),
        agent_id: agent_id.or_else(|| {
            call.spans
                .iter()
                .find_map(|s| s.service_name().map(str::to_string))
        }),
        started_at: rfc3339_ms(first),
    })
}
