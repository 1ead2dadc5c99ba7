//! One call's spans, indexed: each span id once, in time order, linked to its parent and
//! children, and the call's root among them.
//!
//! Arrival order does not matter: the index is built from the whole set, so every decision made
//! on it is too. Bad input (a span that is its own ancestor, a parent that never arrives) ends a
//! walk instead of looping.

use std::collections::{HashMap, HashSet};

use crate::receiver::span::{SpanId, SpanRecord};

use super::dialect::{ROOT_SPANS, SESSION_SPANS};

/// Parent hops an ancestor walk takes before it gives up: deeper than any real trace (a few
/// levels), short enough that a parent cycle in bad input costs nothing.
const MAX_ANCESTOR_HOPS: usize = 64;

/// Whether the arrival of this span means the call's root has ended (the grace starts).
pub fn is_root_span(span: &SpanRecord) -> bool {
    ROOT_SPANS.contains(&span.name.as_str()) || span.parent_span_id.is_none()
}

/// One call's spans, deduplicated, sorted and linked.
#[derive(Debug)]
pub struct SpanIndex<'a> {
    /// Each span id once, by (start, end, id).
    spans: Vec<&'a SpanRecord>,
    /// Position in `spans` by span id.
    ids: HashMap<SpanId, usize>,
    /// Positions of each span's children (in time order) by parent id.
    children: HashMap<SpanId, Vec<usize>>,
}

impl<'a> SpanIndex<'a> {
    /// Indexes `spans` (any order, duplicates allowed).
    pub fn new(spans: &'a [SpanRecord]) -> Self {
        let sorted = dedupe_sorted(spans);
        let ids = sorted
            .iter()
            .enumerate()
            .map(|(i, s)| (s.span_id, i))
            .collect();
        let mut children: HashMap<SpanId, Vec<usize>> = HashMap::new();
        for (i, s) in sorted.iter().enumerate() {
            if let Some(p) = s.parent_span_id {
                children.entry(p).or_default().push(i);
            }
        }
        SpanIndex {
            spans: sorted,
            ids,
            children,
        }
    }

    /// The spans, each id once, in time order.
    pub fn spans(&self) -> &[&'a SpanRecord] {
        &self.spans
    }

    /// The direct children of `span`, in time order.
    pub fn children_of(&self, span: &SpanRecord) -> impl Iterator<Item = &'a SpanRecord> + '_ {
        self.children
            .get(&span.span_id)
            .into_iter()
            .flatten()
            .map(|&i| self.spans[i])
    }

    /// The parent of `span`, if it is among the call's spans.
    pub fn parent_of(&self, span: &SpanRecord) -> Option<&'a SpanRecord> {
        span.parent_span_id
            .and_then(|p| self.ids.get(&p))
            .map(|&i| self.spans[i])
    }

    /// All descendants of `span` (depth first), each once: a parent cycle in bad input (a span
    /// that is its own ancestor) ends the walk instead of looping.
    pub fn descendants(&self, span: &SpanRecord) -> Vec<&'a SpanRecord> {
        let mut out = Vec::new();
        let mut seen: HashSet<SpanId> = HashSet::from([span.span_id]);
        let mut stack: Vec<&SpanRecord> = self.children_of(span).collect();
        while let Some(s) = stack.pop() {
            if !seen.insert(s.span_id) {
                continue;
            }
            out.push(s);
            stack.extend(self.children_of(s));
        }
        out
    }

    /// `spans`, then the descendants of each in turn.
    pub fn subtree(&self, spans: impl IntoIterator<Item = &'a SpanRecord>) -> Vec<&'a SpanRecord> {
        let mut all: Vec<&SpanRecord> = spans.into_iter().collect();
        let given = all.len();
        for i in 0..given {
            let below = self.descendants(all[i]);
            all.extend(below);
        }
        all
    }

    /// The nearest ancestor of `span` named `name`.
    pub fn ancestor_named(&self, span: &SpanRecord, name: &str) -> Option<&'a SpanRecord> {
        let mut current = self.parent_of(span);
        for _ in 0..=MAX_ANCESTOR_HOPS {
            let s = current?;
            if s.name == name {
                return Some(s);
            }
            current = self.parent_of(s);
        }
        None
    }

    /// The call's root: the earliest span named as a root ([`ROOT_SPANS`], in that order),
    /// else the earliest session span, else the earliest span whose parent is not among the
    /// call's spans.
    pub fn root(&self) -> Option<&'a SpanRecord> {
        ROOT_SPANS
            .iter()
            .chain(SESSION_SPANS)
            .find_map(|n| self.earliest(|s| s.name == *n))
            .or_else(|| {
                self.earliest(|s| s.parent_span_id.is_none_or(|p| !self.ids.contains_key(&p)))
            })
    }

    /// The earliest-starting span that `pred` accepts.
    fn earliest(&self, pred: impl Fn(&SpanRecord) -> bool) -> Option<&'a SpanRecord> {
        self.spans
            .iter()
            .copied()
            .filter(|s| pred(s))
            .min_by_key(|s| s.start_unix_nano)
    }
}

/// One span per span id, the last to arrive winning (a span re-sent by a retrying exporter, or
/// a sender that reuses ids: either way one span, never two turns from one id), sorted by
/// (start, end, id).
fn dedupe_sorted(spans: &[SpanRecord]) -> Vec<&SpanRecord> {
    let mut last: HashMap<SpanId, &SpanRecord> = HashMap::with_capacity(spans.len());
    for s in spans {
        last.insert(s.span_id, s);
    }
    let mut sorted: Vec<&SpanRecord> = last.into_values().collect();
    sorted.sort_by_key(|s| (s.start_unix_nano, s.end_unix_nano, s.span_id));
    sorted
}
