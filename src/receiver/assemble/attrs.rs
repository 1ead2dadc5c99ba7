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
