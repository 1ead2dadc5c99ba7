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
//! - `turn`: one turn's texts, providers, counts, errors and tools, around
//! - `figures` (its timing figures: failed attempts are not latencies, speech-to-speech turns)
//!   and `speech` (the edges of each person's speech);
//! - `tool_calls`: function calls read from model inputs where no span records them;
//! - `barge_in`: across turns, barge-ins and hang-ups, and interruption figures derived from the
//!   speech intervals;
//! - `events`: span events and log records as events, log lines and custom metrics, by turn;
//! - `attrs` and [`timing`]: how a key table is read, and the timing model's arithmetic;
//! - `usage`: the usage points an agent's metrics report for a call (OTLP metrics that name
//!   it), folded into its call log's `reportedUsage`.
//!
//! Metric points carry no trace id: they name their call (a LiveKit job id, room id, or a
//! conversation id) and are held under a key derived from that name
//! ([`metric_key`](crate::receiver::span::metric_key)) until a call whose spans (or call id) give
//! the same name is emitted; they are let go with that call, or after the idle timeout when no
//! call ever matches. Points that reach a call already emitted revise it.
//!
//! [`task`] is the impure shell around the [`Assembler`]: the clock, the channels, analysis.

mod attrs;
mod barge_in;
mod call;
mod dialect;
mod events;
mod figures;
mod group;
mod index;
mod speech;
pub mod task;
mod timers;
pub mod timing;
mod tool_calls;
mod turn;
mod usage;

#[cfg(test)]
mod test_support;

use foldhash::{HashMap, HashMapExt, HashSet, HashSetExt};

use crate::receiver::calllog::{CallStarted, CallUpdate, TurnCompleted};
use crate::receiver::span::{LogRecord, MetricPoint, SpanRecord, TraceId};
use crate::semconv::{self, livekit};
use crate::trace_id::to_hex;
use timers::{Timer, Timers};

pub use call::{build_call_log, rfc3339_ms, Closing};
pub use index::is_root_span;

const NANOS_PER_MS: u64 = 1_000_000;

/// The room a call's span list starts with, and its least growth.
const MIN_SPANS_ROOM: usize = 4;

/// When the calls held reach `max_calls`, the finished ones emitted longest ago are forgotten
/// this fraction of the bound at a time (1/64: 156 of 10 000): finding them scans every call
/// held, which once per new call was 3% of serve's CPU under load.
const EVICTION_BATCH: usize = 64;

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
    /// Drop traces that are not calls (no call root, turn, voice or GenAI span, nor call id)
    /// when they would be finished, counting them in [`AssemblerStats::traces_ignored`]
    /// (default on: behind a shared Collector most traces are web requests).
    pub only_calls: bool,
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
            only_calls: true,
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
    /// Traces dropped because they are not calls (see [`AssemblerConfig::only_calls`]).
    pub traces_ignored: u64,
    /// Metric points refused because their call held `max_spans_per_call` points.
    pub points_refused: u64,
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
    /// The names its spans give the call (call id, job id, room id), for its metric points.
    names: Vec<String>,
    /// The deadline last put in the timer queue for this call; entries that differ are stale.
    deadline: Option<u64>,
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
            names: Vec::new(),
            deadline: None,
        }
    }

    fn is_open(&self) -> bool {
        self.revision == 0
    }

    /// When this call is next due (see [`Assembler::poll`]): an open call when its grace has
    /// passed since its root (and since its last span) or its idle timeout since its last
    /// span; a pending revision when the grace has passed since its last span; a finished call
    /// when its revision window is over (it is forgotten).
    fn due_at(&self, timeouts: &Timeouts) -> u64 {
        if self.is_open() {
            let idle_at = self.last_seen.saturating_add(timeouts.idle);
            match self.root_seen {
                Some(root) => {
                    let settled = self
                        .last_seen
                        .saturating_add(timeouts.grace.min(timeouts.idle));
                    root.saturating_add(timeouts.grace)
                        .max(settled)
                        .min(idle_at)
                }
                None => idle_at,
            }
        } else if self.dirty {
            self.last_seen.saturating_add(timeouts.grace)
        } else {
            self.emitted_at.saturating_add(timeouts.window)
        }
    }
}

/// The assembler's timers in nanoseconds.
#[derive(Debug, Clone, Copy)]
struct Timeouts {
    grace: u64,
    idle: u64,
    window: u64,
}

impl Timeouts {
    fn of(config: &AssemblerConfig) -> Self {
        Timeouts {
            grace: config.grace_ms.saturating_mul(NANOS_PER_MS),
            idle: config.idle_timeout_ms.saturating_mul(NANOS_PER_MS),
            window: config.revision_window_ms.saturating_mul(NANOS_PER_MS),
        }
    }
}

/// A call's usage points, held under their key until the call they name is let go.
#[derive(Debug)]
struct Metered {
    /// Every name the points give their call.
    names: Vec<String>,
    points: usage::Points,
    /// Receiver time of the last point.
    last_seen: u64,
    /// The call they were matched to.
    call: Option<TraceId>,
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
    /// Usage points by key, and the keys by the call names the points give.
    metered: HashMap<TraceId, Metered>,
    metered_by_name: HashMap<String, TraceId>,
    /// Calls by the names their spans give.
    calls_by_name: HashMap<String, TraceId>,
    /// When each call and each unmatched set of points is next due.
    timers: Timers,
    timeouts: Timeouts,
}

impl Assembler {
    /// An empty assembler.
    pub fn new(config: AssemblerConfig) -> Self {
        Assembler {
            calls: HashMap::new(),
            stats: AssemblerStats::default(),
            released: Vec::new(),
            spans_held: 0,
            calls_open: 0,
            metered: HashMap::new(),
            metered_by_name: HashMap::new(),
            calls_by_name: HashMap::new(),
            timers: Timers::default(),
            timeouts: Timeouts::of(&config),
            config,
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
                // Scheduled even if all its spans are refused: its idle timeout lets it go.
                if touched_set.insert(trace_id) {
                    touched.push(trace_id);
                }
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
            let names = if call.names.is_empty() {
                call_names(&span)
            } else {
                Vec::new()
            };
            if call.spans.len() == call.spans.capacity() {
                // A quarter more, not twice: with doubling, a buffered span cost 1008-1053
                // bytes, with a quarter 844-922 (bench-ingest.sh, memory per buffered span);
                // the span list of a call of 24 spans is moved six times instead of three.
                call.spans
                    .reserve_exact((call.spans.len() / 4).max(MIN_SPANS_ROOM));
            }
            call.spans.push(span);
            self.spans_held += 1;
            call.last_seen = now;
            call.dirty = true;
            self.stats.spans_accepted += 1;
            if touched_set.insert(trace_id) {
                touched.push(trace_id);
            }
            self.name_call(trace_id, names);
        }
        for trace_id in touched {
            updates.extend(self.live_updates(&trace_id));
            self.schedule(&trace_id);
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
            let trace_id = record.trace_id;
            if let Some(call) = self.calls.get_mut(&trace_id) {
                call.logs.push(record);
                call.last_seen = now;
                call.dirty = true;
            }
            self.schedule(&trace_id);
        }
        updates
    }

    /// Takes usage points (OTLP metrics that name a call, any order, repeats allowed): held
    /// under their key until their call is let go. Points for a call already emitted mark it
    /// for a revision.
    pub fn add_points(&mut self, points: Vec<MetricPoint>, now: u64) -> Vec<CallUpdate> {
        // What the points moved, to be scheduled once each.
        let mut touched = Vec::new();
        for point in points {
            let key = point.key();
            if !self.metered.contains_key(&key) {
                if self.metered.len() >= self.config.max_calls {
                    self.drop_oldest_metered();
                }
                let metered = Metered {
                    names: Vec::new(),
                    points: usage::Points::default(),
                    last_seen: now,
                    call: None,
                };
                self.metered.insert(key, metered);
            }
            let Some(metered) = self.metered.get_mut(&key) else {
                continue;
            };
            if metered.points.len() >= self.config.max_spans_per_call {
                self.stats.points_refused += 1;
                continue;
            }
            for name in &point.call_names {
                if !metered.names.contains(name) {
                    metered.names.push(name.clone());
                    self.metered_by_name.insert(name.clone(), key);
                }
            }
            metered.points.add(point);
            metered.last_seen = now;
            let names = &metered.names;
            let calls_by_name = &self.calls_by_name;
            metered.call = metered
                .call
                .or_else(|| names.iter().find_map(|n| calls_by_name.get(n).copied()));
            let matched = metered.call;
            match matched {
                Some(trace_id) => {
                    if let Some(call) = self.calls.get_mut(&trace_id) {
                        call.last_seen = now;
                        call.dirty = true;
                    }
                    touched.push(Timer::Call(trace_id));
                }
                None => touched.push(Timer::Points(key)),
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for timer in touched {
            match timer {
                Timer::Call(trace_id) => self.schedule(&trace_id),
                Timer::Points(key) => self.schedule_points(key, now),
            }
        }
        Vec::new()
    }

    /// Puts a call's current deadline in the timer queue if it moved.
    fn schedule(&mut self, trace_id: &TraceId) {
        let Some(call) = self.calls.get_mut(trace_id) else {
            return;
        };
        let deadline = call.due_at(&self.timeouts);
        if call.deadline != Some(deadline) {
            call.deadline = Some(deadline);
            self.timers.push(deadline, Timer::Call(*trace_id));
            self.compact_timers();
        }
    }

    /// Puts the idle timeout of points no call has named in the timer queue.
    fn schedule_points(&mut self, key: TraceId, last_seen: u64) {
        let deadline = last_seen.saturating_add(self.timeouts.idle);
        self.timers.push(deadline, Timer::Points(key));
        self.compact_timers();
    }

    /// Rebuilds the timer queue from the current deadlines once stale entries dominate it.
    fn compact_timers(&mut self) {
        if !self
            .timers
            .needs_compaction(self.calls.len() + self.metered.len())
        {
            return;
        }
        let idle = self.timeouts.idle;
        let calls = self
            .calls
            .iter()
            .filter_map(|(t, c)| c.deadline.map(|d| (d, Timer::Call(*t))));
        let points = self
            .metered
            .iter()
            .filter(|(_, m)| m.call.is_none())
            .map(|(k, m)| (m.last_seen.saturating_add(idle), Timer::Points(*k)));
        let live: Vec<_> = calls.chain(points).collect();
        self.timers.rebuild(live);
    }

    /// Whether a timer entry no longer stands for a current deadline (the call moved on or is
    /// gone; the points found their call, are gone, or saw a later point).
    fn is_stale(&self, deadline: u64, timer: Timer) -> bool {
        match timer {
            Timer::Call(trace_id) => {
                self.calls.get(&trace_id).and_then(|c| c.deadline) != Some(deadline)
            }
            Timer::Points(key) => self.metered.get(&key).is_none_or(|m| {
                m.call.is_some() || m.last_seen.saturating_add(self.timeouts.idle) != deadline
            }),
        }
    }

    /// The earliest instant (Unix ns) at which [`Assembler::poll`] has something to do, if
    /// any: the receiver sleeps until then rather than polling on a fixed interval.
    pub fn next_deadline(&mut self) -> Option<u64> {
        let mut timers = std::mem::take(&mut self.timers);
        let next = timers.next_live(|deadline, timer| self.is_stale(deadline, timer));
        self.timers = timers;
        next
    }

    /// Remembers names a call's spans give it (its points find it by them), and matches the
    /// points held under any of them.
    fn name_call(&mut self, trace_id: TraceId, names: Vec<String>) {
        let Some(call) = self.calls.get_mut(&trace_id) else {
            return;
        };
        for name in names {
            if call.names.contains(&name) {
                continue;
            }
            if let Some(metered) = self
                .metered_by_name
                .get(&name)
                .and_then(|key| self.metered.get_mut(key))
            {
                metered.call.get_or_insert(trace_id);
            }
            self.calls_by_name.insert(name.clone(), trace_id);
            call.names.push(name);
        }
    }

    /// Lets go of the points held longest without a call, to make room.
    fn drop_oldest_metered(&mut self) {
        let oldest = self
            .metered
            .iter()
            .min_by_key(|(_, m)| (m.call.is_some(), m.last_seen))
            .map(|(k, _)| *k);
        if let Some(key) = oldest {
            self.release_metered(&key);
        }
    }

    /// Forgets the points held under `key` and remembers that they were let go.
    fn release_metered(&mut self, key: &TraceId) {
        if let Some(metered) = self.metered.remove(key) {
            for name in metered.names {
                if self.metered_by_name.get(&name) == Some(key) {
                    self.metered_by_name.remove(&name);
                }
            }
            self.released.push(*key);
        }
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
    /// past their revision window, and points no call named within the idle timeout. Only
    /// what the timer queue says is due is looked at.
    pub fn poll(&mut self, now: u64) -> Vec<CallUpdate> {
        let mut due = Vec::new();
        let mut forget = Vec::new();
        let mut stale_points = Vec::new();
        while let Some((deadline, timer)) = self.timers.pop_due(now) {
            if self.is_stale(deadline, timer) {
                continue;
            }
            match timer {
                Timer::Points(key) => stale_points.push(key),
                Timer::Call(trace_id) => {
                    let Some(call) = self.calls.get_mut(&trace_id) else {
                        continue;
                    };
                    call.deadline = None;
                    if call.is_open() || call.dirty {
                        due.push(trace_id);
                    } else {
                        forget.push(trace_id);
                    }
                }
            }
        }
        for key in stale_points {
            self.release_metered(&key);
        }
        for trace_id in forget {
            self.release(&trace_id);
        }
        // Oldest first, so output order follows the calls' activity.
        due.sort_by_key(|t| self.calls.get(t).map(|c| c.last_seen));
        let mut updates = Vec::new();
        for trace_id in due {
            updates.extend(self.emit(&trace_id, now));
            self.schedule(&trace_id);
        }
        updates
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
        let mut updates = Vec::new();
        for trace_id in due {
            updates.extend(self.emit(&trace_id, now));
            self.schedule(&trace_id);
        }
        updates
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
        if self.config.only_calls && !call.spans.iter().any(dialect::is_call_signal) {
            // Not a call (a web request behind a shared Collector): never a call log.
            self.stats.traces_ignored += 1;
            self.release(trace_id);
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
        let mut log = build_call_log(trace_id, &call.spans, &call.logs, closing, 0);
        if !call.names.contains(&log.id) {
            call.names.push(log.id.clone());
            self.calls_by_name.insert(log.id.clone(), *trace_id);
        }
        let mut keys: Vec<TraceId> = call
            .names
            .iter()
            .filter_map(|n| self.metered_by_name.get(n).copied())
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut points = usage::Points::default();
        for key in keys {
            if let Some(metered) = self.metered.get_mut(&key) {
                metered.call.get_or_insert(*trace_id);
                for point in metered.points.iter() {
                    points.add(point.clone());
                }
            }
        }
        log.reported_usage = usage::reported(&points, &log.turns);
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

    /// Makes room for one call: forgets the finished calls emitted longest ago (a
    /// [`EVICTION_BATCH`]th of the bound at once), else closes the open call idle the longest.
    fn evict_one(&mut self, now: u64) -> Vec<CallUpdate> {
        let mut finished: Vec<(u64, TraceId)> = self
            .calls
            .iter()
            .filter(|(_, c)| !c.is_open() && !c.dirty)
            .map(|(t, c)| (c.emitted_at, *t))
            .collect();
        if !finished.is_empty() {
            let batch = (self.config.max_calls / EVICTION_BATCH).clamp(1, finished.len());
            finished.select_nth_unstable(batch - 1);
            for (_, t) in &finished[..batch] {
                self.release(t);
            }
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
            for name in &call.names {
                if self.calls_by_name.get(name) == Some(trace_id) {
                    self.calls_by_name.remove(name);
                }
            }
            let points: Vec<TraceId> = self
                .metered
                .iter()
                .filter(|(_, m)| m.call.as_ref() == Some(trace_id))
                .map(|(k, _)| *k)
                .collect();
            for key in points {
                self.release_metered(&key);
            }
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

/// The names a span gives its call, for its metric points ([`alias::METRIC_CALL_NAMES`]).
fn call_names(span: &SpanRecord) -> Vec<String> {
    semconv::alias::METRIC_CALL_NAMES
        .iter()
        .filter_map(|k| span.attributes.str(k))
        .filter(|v| !v.is_empty())
        .map(str::to_string)
        .collect()
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

#[cfg(test)]
mod tests {
    use super::test_support::{span, MS, T0, TRACE};
    use super::*;
    use crate::receiver::calllog::Stage;
    use crate::receiver::span::{metric_key, Temporality};
    use crate::semconv::livekit::usage;

    fn config() -> AssemblerConfig {
        AssemblerConfig {
            grace_ms: 10,
            idle_timeout_ms: 1_000,
            revision_window_ms: 1_000,
            ..AssemblerConfig::default()
        }
    }

    fn stt_seconds(seconds: f64, time: u64) -> MetricPoint {
        MetricPoint {
            call_names: vec!["AJ_1".into(), "RM_1".into()],
            metric: usage::STT_AUDIO_DURATION.into(),
            provider: Some("deepgram".into()),
            model: Some("nova-3".into()),
            start_unix_nano: time,
            time_unix_nano: time + 1,
            value: seconds,
            temporality: Temporality::Delta,
        }
    }

    /// A LiveKit session whose spans name the room (as the cloud tracer does), ended.
    fn session() -> Vec<SpanRecord> {
        vec![span(1, livekit::SPAN_AGENT_SESSION)
            .at(0, 1000)
            .attr(livekit::ROOM_ID, "RM_1")
            .build()]
    }

    fn finished(updates: Vec<CallUpdate>) -> Vec<CallLog> {
        updates
            .into_iter()
            .filter_map(|u| match u {
                CallUpdate::Finished(log) => Some(*log),
                _ => None,
            })
            .collect()
    }

    use crate::receiver::calllog::CallLog;

    fn stt_ms(log: &CallLog) -> Option<i64> {
        log.reported_usage
            .iter()
            .find(|u| u.stage == Stage::Stt)
            .and_then(|u| u.stt_audio_ms)
    }

    /// A call root span, ended.
    fn conversation(first_id: u8) -> Vec<SpanRecord> {
        vec![span(first_id, semconv::SPAN_CONVERSATION)
            .at(0, 1000)
            .attr(semconv::CONVERSATION_ID, "call-1")
            .build()]
    }

    #[test]
    fn the_next_deadline_is_the_grace_after_the_root_and_moves_with_a_later_span() {
        let mut assembler = Assembler::new(config());
        assert_eq!(assembler.next_deadline(), None, "nothing held, nothing due");
        assembler.add_spans(conversation(1), T0);
        assert_eq!(assembler.next_deadline(), Some(T0 + 10 * MS));
        // A straggler 5 ms later: the call waits a grace after it.
        assembler.add_spans(vec![span(2, "stt").parent(1).build()], T0 + 5 * MS);
        assert_eq!(assembler.next_deadline(), Some(T0 + 15 * MS));
        assert!(finished(assembler.poll(T0 + 10 * MS)).is_empty(), "not yet");
        assert_eq!(finished(assembler.poll(T0 + 15 * MS)).len(), 1);
    }

    #[test]
    fn a_finished_calls_stale_entry_is_skipped_and_its_window_is_next() {
        let mut assembler = Assembler::new(config());
        assembler.add_spans(conversation(1), T0);
        assembler.add_spans(vec![span(2, "stt").parent(1).build()], T0 + 5 * MS);
        // The entry at T0 + 10 ms is stale: polling there finishes nothing.
        assert!(assembler.poll(T0 + 12 * MS).is_empty());
        assert_eq!(finished(assembler.poll(T0 + 15 * MS)).len(), 1);
        // Finished: the next deadline is the end of its revision window, not its old grace.
        assert_eq!(assembler.next_deadline(), Some(T0 + 1_015 * MS));
        assert!(assembler.poll(T0 + 1_000 * MS).is_empty());
        assert!(assembler.take_released().is_empty());
        assembler.poll(T0 + 1_015 * MS);
        assert_eq!(assembler.take_released(), [TRACE]);
        assert_eq!(assembler.next_deadline(), None);
    }

    #[test]
    fn a_revision_is_due_a_grace_after_the_late_span() {
        let mut assembler = Assembler::new(config());
        assembler.add_spans(conversation(1), T0);
        assert_eq!(finished(assembler.poll(T0 + 10 * MS)).len(), 1);
        assembler.add_spans(vec![span(3, "tts").parent(1).build()], T0 + 100 * MS);
        assert_eq!(assembler.next_deadline(), Some(T0 + 110 * MS));
        assert_eq!(finished(assembler.poll(T0 + 110 * MS)).len(), 1);
    }

    #[test]
    fn points_before_the_spans_are_folded_into_the_call_they_name() {
        let mut assembler = Assembler::new(config());
        assembler.add_points(vec![stt_seconds(2.5, 1)], T0);
        assembler.add_spans(session(), T0);
        let logs = finished(assembler.poll(T0 + 20 * MS));
        assert_eq!(logs.len(), 1);
        assert_eq!(stt_ms(&logs[0]), Some(2500));
    }

    #[test]
    fn points_after_the_call_log_revise_it_and_go_with_the_call() {
        let mut assembler = Assembler::new(config());
        assembler.add_spans(session(), T0);
        let first = finished(assembler.poll(T0 + 20 * MS));
        assert_eq!(stt_ms(&first[0]), None);
        assembler.add_points(vec![stt_seconds(1.0, 1)], T0 + 30 * MS);
        assembler.add_points(vec![stt_seconds(0.5, 2)], T0 + 30 * MS);
        let revised = finished(assembler.poll(T0 + 50 * MS));
        assert_eq!(revised.len(), 1, "one revision");
        assert_eq!(stt_ms(&revised[0]), Some(1500));
        assembler.take_released();
        // The revision window passes: the call and its points are let go together.
        assembler.poll(T0 + 2_000 * MS);
        let released = assembler.take_released();
        assert!(released.contains(&TRACE));
        assert!(released.contains(&metric_key("AJ_1")), "{released:?}");
    }

    #[test]
    fn points_no_call_names_are_let_go_after_the_idle_timeout() {
        let mut assembler = Assembler::new(config());
        assembler.add_points(vec![stt_seconds(1.0, 1)], T0);
        assembler.poll(T0 + 500 * MS);
        assert!(assembler.take_released().is_empty());
        assembler.poll(T0 + 1_000 * MS);
        assert_eq!(assembler.take_released(), [metric_key("AJ_1")]);
    }

    #[test]
    fn a_call_finds_its_points_by_its_call_id() {
        let mut assembler = Assembler::new(config());
        let mut point = stt_seconds(4.0, 1);
        point.call_names = vec!["call-7".into()];
        assembler.add_points(vec![point], T0);
        let spans = vec![span(1, semconv::SPAN_CONVERSATION)
            .at(0, 1000)
            .attr(semconv::CONVERSATION_ID, "call-7")
            .build()];
        assembler.add_spans(spans, T0);
        let logs = finished(assembler.poll(T0 + 20 * MS));
        assert_eq!(stt_ms(&logs[0]), Some(4000));
    }
}
