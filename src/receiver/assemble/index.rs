//! One call's spans, indexed: each span id once, in time order, linked to its parent and
//! children, and the call's root among them.
//!
//! Arrival order does not matter: the index is built from the whole set, so every decision made
//! on it is too. Bad input (a span that is its own ancestor, a parent that never arrives) ends a
//! walk instead of looping.

use foldhash::{HashMap, HashMapExt, HashSet};

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
        let mut seen: HashSet<SpanId> = HashSet::from_iter([span.span_id]);
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

#[cfg(test)]
mod tests {
    use super::super::test_support::{sid, span};
    use super::*;
    use crate::semconv::{self, livekit};

    fn ids(spans: &[&SpanRecord]) -> Vec<u8> {
        spans.iter().map(|s| s.span_id[7]).collect()
    }

    #[test]
    fn a_span_id_counts_once_the_last_arrival_winning_in_time_order() {
        let spans = [
            span(2, "b").at(20, 30).build(),
            span(1, "a").at(10, 40).build(),
            span(2, "b again").at(5, 6).build(),
        ];
        let index = SpanIndex::new(&spans);
        assert_eq!(ids(index.spans()), [2, 1]);
        assert_eq!(index.spans()[0].name, "b again");
    }

    #[test]
    fn children_descendants_and_the_nearest_named_ancestor() {
        let spans = [
            span(1, "turn").at(0, 100).build(),
            span(2, "llm").parent(1).at(10, 50).build(),
            span(3, "llm_request").parent(2).at(20, 40).build(),
        ];
        let index = SpanIndex::new(&spans);
        let children: Vec<&SpanRecord> = index.children_of(&spans[0]).collect();
        assert_eq!(ids(&children), [2]);
        assert_eq!(ids(&index.descendants(&spans[0])), [2, 3]);
        assert_eq!(index.parent_of(&spans[2]).map(|s| s.span_id), Some(sid(2)));
        let turn = index.ancestor_named(&spans[2], "turn");
        assert_eq!(turn.map(|s| s.span_id), Some(sid(1)));
        assert!(index.ancestor_named(&spans[0], "turn").is_none());
    }

    #[test]
    fn a_subtree_is_the_spans_then_their_descendants() {
        let spans = [
            span(1, "llm").at(0, 10).build(),
            span(2, "llm_request").parent(1).at(1, 9).build(),
            span(3, "llm").at(20, 30).build(),
        ];
        let index = SpanIndex::new(&spans);
        let tree = index.subtree([&spans[0], &spans[2]]);
        assert_eq!(ids(&tree), [1, 3, 2]);
    }

    #[test]
    fn a_parent_cycle_ends_every_walk() {
        let spans = [
            span(1, "a").parent(2).build(),
            span(2, "b").parent(1).build(),
            span(3, "c").parent(3).build(),
        ];
        let index = SpanIndex::new(&spans);
        assert_eq!(ids(&index.descendants(&spans[0])), [2]);
        assert!(index.ancestor_named(&spans[0], "turn").is_none());
        assert!(index.descendants(&spans[2]).is_empty());
    }

    #[test]
    fn the_named_root_wins_even_with_a_remote_parent() {
        let spans = [
            span(1, "dangling").parent(9).at(0, 10).build(),
            span(2, semconv::SPAN_CONVERSATION)
                .parent(8)
                .at(5, 100)
                .build(),
            span(3, "turn").parent(2).at(6, 50).build(),
        ];
        let root = SpanIndex::new(&spans).root();
        assert_eq!(root.map(|r| r.span_id), Some(sid(2)));
    }

    #[test]
    fn livekit_session_is_the_root_before_any_dangling_span() {
        let spans = [
            span(1, "early").parent(9).at(0, 10).build(),
            span(2, livekit::SPAN_AGENT_SESSION)
                .parent(8)
                .at(5, 100)
                .build(),
            span(3, livekit::SPAN_AGENT_TURN)
                .parent(2)
                .at(6, 50)
                .build(),
        ];
        let root = SpanIndex::new(&spans).root();
        assert_eq!(root.map(|r| r.span_id), Some(sid(2)));
    }

    #[test]
    fn else_the_root_is_the_earliest_span_whose_parent_is_missing() {
        let spans = [
            span(1, "child").parent(2).at(0, 10).build(),
            span(2, "parent").parent(9).at(1, 20).build(),
            span(3, "other").parent(8).at(2, 20).build(),
        ];
        let root = SpanIndex::new(&spans).root();
        assert_eq!(root.map(|r| r.span_id), Some(sid(2)));
        assert!(SpanIndex::new(&[]).root().is_none());
    }

    #[test]
    fn a_root_span_is_a_named_root_or_a_span_without_parent() {
        assert!(is_root_span(
            &span(1, semconv::SPAN_CONVERSATION).parent(2).build()
        ));
        assert!(is_root_span(&span(1, "anything").build()));
        assert!(!is_root_span(
            &span(1, livekit::SPAN_AGENT_SESSION).parent(2).build()
        ));
    }
}
