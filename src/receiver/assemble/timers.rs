//! The timer queue of assembly: when each call (or each call's usage points) is next due.
//!
//! A min-heap of `(deadline, timer)` with lazy deletion: when a call's deadline moves, a new
//! entry is pushed and the old one stays behind; whoever pops an entry checks it against the
//! call's current deadline and skips it when stale (or when the call is gone). So a batch
//! costs one push per call it touched, never a search, and the assembler's next deadline is
//! the head of the heap once stale heads are dropped. Stale entries are bounded by
//! [`Timers::needs_compaction`]: the assembler rebuilds the heap from its calls' current
//! deadlines when they outnumber the live ones.
//!
//! Pure: deadlines are Unix nanoseconds given by the caller.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::receiver::span::TraceId;

/// What an entry is the deadline of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Timer {
    /// A call: its grace, idle timeout or revision window.
    Call(TraceId),
    /// Usage points no call has named yet: their idle timeout.
    Points(TraceId),
}

/// Entries kept beyond twice the live ones before a rebuild is asked for; small enough that
/// stale entries never dominate memory, large enough that a small assembler never rebuilds.
const SLACK: usize = 1_024;

/// Deadlines of calls and points, earliest first, stale entries included until popped.
#[derive(Debug, Default)]
pub(super) struct Timers {
    heap: BinaryHeap<Reverse<(u64, Timer)>>,
}

impl Timers {
    /// Adds a deadline (an earlier one of the same timer becomes stale by the caller's record).
    pub(super) fn push(&mut self, deadline: u64, timer: Timer) {
        self.heap.push(Reverse((deadline, timer)));
    }

    /// The earliest entry, stale or not.
    pub(super) fn peek(&self) -> Option<(u64, Timer)> {
        self.heap.peek().map(|Reverse(entry)| *entry)
    }

    /// Removes and returns the earliest entry if it is due at `now`.
    pub(super) fn pop_due(&mut self, now: u64) -> Option<(u64, Timer)> {
        match self.peek() {
            Some((deadline, _)) if deadline <= now => self.heap.pop().map(|Reverse(e)| e),
            _ => None,
        }
    }

    /// Drops the head while `is_stale` says so; returns the first live deadline.
    pub(super) fn next_live(&mut self, is_stale: impl Fn(u64, Timer) -> bool) -> Option<u64> {
        while let Some((deadline, timer)) = self.peek() {
            if !is_stale(deadline, timer) {
                return Some(deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Entries held, stale ones included.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether stale entries outnumber `live` ones enough to rebuild.
    pub(super) fn needs_compaction(&self, live: usize) -> bool {
        self.heap.len() > 2 * live + SLACK
    }

    /// Replaces every entry by `live` (the current deadlines).
    pub(super) fn rebuild(&mut self, live: impl IntoIterator<Item = (u64, Timer)>) {
        self.heap = live.into_iter().map(Reverse).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(n: u8) -> Timer {
        Timer::Call([n; 16])
    }

    #[test]
    fn pops_only_what_is_due_earliest_first() {
        let mut timers = Timers::default();
        timers.push(30, call(1));
        timers.push(10, call(2));
        timers.push(20, Timer::Points([3; 16]));
        assert_eq!(timers.pop_due(5), None);
        assert_eq!(timers.pop_due(25), Some((10, call(2))));
        assert_eq!(timers.pop_due(25), Some((20, Timer::Points([3; 16]))));
        assert_eq!(timers.pop_due(25), None);
        assert_eq!(timers.peek(), Some((30, call(1))));
    }

    #[test]
    fn next_live_skips_stale_heads() {
        let mut timers = Timers::default();
        // Call 1's deadline moved from 10 to 40: the entry at 10 is stale.
        timers.push(10, call(1));
        timers.push(40, call(1));
        timers.push(25, call(2));
        let current = |timer: Timer| if timer == call(1) { 40 } else { 25 };
        let next = timers.next_live(|deadline, timer| deadline != current(timer));
        assert_eq!(next, Some(25));
        assert_eq!(timers.len(), 2, "the stale head was dropped");
    }

    #[test]
    fn compaction_is_asked_for_once_stale_entries_dominate() {
        let mut timers = Timers::default();
        for deadline in 0..(2 + SLACK as u64) {
            timers.push(deadline, call(1));
        }
        assert!(!timers.needs_compaction(1));
        timers.push(u64::MAX, call(1));
        assert!(timers.needs_compaction(1));
        timers.rebuild([(7, call(1))]);
        assert_eq!(timers.len(), 1);
        assert_eq!(timers.peek(), Some((7, call(1))));
    }
}
