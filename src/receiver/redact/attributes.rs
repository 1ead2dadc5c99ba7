//! The attributes ingest drops (`drop_attributes`): keys a team never wants kept, whatever
//! they hold (LiveKit's `lk.pii.*`, `gen_ai.input.messages`), taken off spans, span events and
//! log records as soon as they are decoded, so that neither the journal nor any call log holds
//! them.

use crate::receiver::span::{Attributes, LogRecord, SpanRecord};

/// Attribute keys to drop: exact keys and prefixes (`lk.pii.*`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DroppedAttributes {
    keys: Vec<String>,
    prefixes: Vec<String>,
}

/// A `drop_attributes` entry that cannot be a key or a prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("drop_attributes: {0:?} is not a key or a prefix ending in `*` (like `lk.pii.*`)")]
pub struct InvalidKey(pub String);

impl DroppedAttributes {
    /// From the config's entries: a key, or a prefix ending in `*`.
    pub fn new(entries: &[String]) -> Result<DroppedAttributes, InvalidKey> {
        let mut dropped = DroppedAttributes::default();
        for entry in entries {
            let invalid = || InvalidKey(entry.clone());
            match entry.strip_suffix('*') {
                Some(prefix) if prefix.is_empty() || prefix.contains('*') => return Err(invalid()),
                Some(prefix) => dropped.prefixes.push(prefix.to_string()),
                None if entry.is_empty() || entry.contains('*') => return Err(invalid()),
                None => dropped.keys.push(entry.clone()),
            }
        }
        Ok(dropped)
    }

    /// Whether nothing is dropped.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty() && self.prefixes.is_empty()
    }

    /// Whether `key` is dropped.
    pub fn drops(&self, key: &str) -> bool {
        self.keys.iter().any(|k| k == key) || self.prefixes.iter().any(|p| key.starts_with(p))
    }

    fn retain(&self, attributes: &mut Attributes) {
        attributes.0.retain(|(key, _)| !self.drops(key));
    }

    /// Takes the dropped keys off a span and its events.
    pub fn apply_to_span(&self, span: &mut SpanRecord) {
        self.retain(&mut span.attributes);
        for event in &mut span.events {
            self.retain(&mut event.attributes);
        }
    }

    /// Takes the dropped keys off a log record.
    pub fn apply_to_log(&self, log: &mut LogRecord) {
        self.retain(&mut log.attributes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::span::{AttrValue, Name, SpanEvent, SpanStatus};

    fn attrs(keys: &[&str]) -> Attributes {
        Attributes(
            keys.iter()
                .map(|k| (Name::from(*k), AttrValue::Str("x".into())))
                .collect(),
        )
    }

    #[test]
    fn keys_and_prefixes_are_dropped_from_spans_and_their_events() {
        let dropped =
            DroppedAttributes::new(&["lk.pii.*".into(), "gen_ai.input.messages".into()]).unwrap();
        let mut span = SpanRecord {
            trace_id: [1; 16],
            span_id: [1; 8],
            parent_span_id: None,
            name: "agent_turn".into(),
            start_unix_nano: 0,
            end_unix_nano: 1,
            status: SpanStatus::Unset,
            attributes: attrs(&[
                "lk.pii.user_input",
                "lk.pii.response.text",
                "gen_ai.input.messages",
                "gen_ai.input.messages.extra",
                "lk.interrupted",
            ]),
            events: vec![SpanEvent {
                name: "e".into(),
                time_unix_nano: 0,
                attributes: attrs(&["lk.pii.x", "log.message"]),
            }],
            resource: None,
        };
        dropped.apply_to_span(&mut span);
        let keys = |a: &Attributes| a.0.iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>();
        assert_eq!(
            keys(&span.attributes),
            ["gen_ai.input.messages.extra", "lk.interrupted"]
        );
        assert_eq!(keys(&span.events[0].attributes), ["log.message"]);
    }

    #[test]
    fn entries_that_are_neither_key_nor_prefix_are_refused() {
        for bad in ["", "*", "lk.*.text", "a**"] {
            assert!(DroppedAttributes::new(&[bad.to_string()]).is_err(), "{bad}");
        }
        assert!(DroppedAttributes::new(&[]).unwrap().is_empty());
    }
}
