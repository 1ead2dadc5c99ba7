//! How assembly reads a key table (`semconv::alias`): the first key that holds a value of the
//! wanted kind wins. Seconds are read in [`super::timing`]; these are texts, flags and counts.

use std::collections::BTreeMap;

use crate::receiver::span::{Attributes, SpanRecord};

/// The first key that holds a string, if that string is not empty.
pub fn text(attrs: &Attributes, keys: &[&str]) -> Option<String> {
    keys.iter()
        .find_map(|k| attrs.str(k))
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The texts of `spans` (each its [`text`]), joined by a space; none when no span has one.
pub fn joined<'a>(spans: impl Iterator<Item = &'a SpanRecord>, keys: &[&str]) -> Option<String> {
    let parts: Vec<String> = spans.filter_map(|s| text(&s.attributes, keys)).collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The first key that holds a boolean.
pub fn flag(attrs: &Attributes, keys: &[&str]) -> Option<bool> {
    keys.iter().find_map(|k| attrs.bool(k))
}

/// The first key that holds an integer.
pub fn int(attrs: &Attributes, keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| attrs.i64(k))
}

/// The sum over `spans` of the first key any of them holds as an integer (saturating); none
/// when no span holds any.
pub fn sum(spans: &[&SpanRecord], keys: &[&str]) -> Option<i64> {
    keys.iter().find_map(|k| {
        spans
            .iter()
            .filter_map(|s| s.attributes.i64(k))
            .fold(None, |acc, v| Some(acc.unwrap_or(0i64).saturating_add(v)))
    })
}

/// The attributes as JSON values by key, but those in `skip`.
pub fn to_json(attrs: &Attributes, skip: &[&str]) -> BTreeMap<String, serde_json::Value> {
    attrs
        .0
        .iter()
        .filter(|(k, _)| !skip.contains(&k.as_str()))
        .map(|(k, v)| (k.to_string(), v.to_json()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{attrs, span};
    use super::*;

    #[test]
    fn the_first_key_that_holds_a_string_wins_even_when_empty() {
        let a = attrs(&[("b", "second"), ("a", "first")]);
        assert_eq!(text(&a, &["a", "b"]).as_deref(), Some("first"));
        let empty_first = attrs(&[("a", ""), ("b", "second")]);
        assert_eq!(text(&empty_first, &["a", "b"]), None);
        assert_eq!(text(&a, &["c"]), None);
    }

    #[test]
    fn texts_join_with_a_space_skipping_spans_without_one() {
        let spans = [
            span(1, "stt").attr("t", "hello").build(),
            span(2, "stt").build(),
            span(3, "stt").attr("t", "there").build(),
        ];
        assert_eq!(joined(spans.iter(), &["t"]).as_deref(), Some("hello there"));
        assert_eq!(joined(spans.iter(), &["u"]), None);
    }

    #[test]
    fn flags_and_ints_take_the_first_key_of_their_kind() {
        let a = attrs(&[("a", "not a flag"), ("b", "true")]);
        assert_eq!(flag(&a, &["a", "b"]), Some(true));
        let n = attrs(&[("a", 2.5), ("b", 3.0)]);
        assert_eq!(int(&n, &["a", "b"]), Some(3));
    }

    #[test]
    fn a_sum_is_over_the_first_key_any_span_holds_and_saturates() {
        let spans = [
            span(1, "tts").attr("new", 3).build(),
            span(2, "tts")
                .attr("old", 100)
                .attr("new", i64::MAX)
                .build(),
        ];
        let refs: Vec<&SpanRecord> = spans.iter().collect();
        assert_eq!(sum(&refs, &["new", "old"]), Some(i64::MAX));
        assert_eq!(sum(&refs, &["old", "new"]), Some(100));
        assert_eq!(sum(&refs, &["none"]), None);
    }

    #[test]
    fn json_skips_the_given_keys() {
        let a = attrs(&[("level", "INFO"), ("k", "v")]);
        let json = to_json(&a, &["level"]);
        assert_eq!(
            json.into_iter().collect::<Vec<_>>(),
            [("k".to_string(), serde_json::json!("v"))]
        );
    }
}
