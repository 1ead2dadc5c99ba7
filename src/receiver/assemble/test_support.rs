//! Hand-built spans for the assembly unit tests, one builder for all of them:
//! `span(2, "stt").parent(1).at(100, 400).attr("metrics.ttfb", 0.25).build()`.
//!
//! Ids are one byte (span `n` has id `[0, .., n]`); times are ms after [`T0`].

use std::sync::Arc;

use crate::receiver::span::{
    AttrValue, Attributes, Resource, SpanEvent, SpanId, SpanRecord, SpanStatus,
};

/// The time every test call starts at (Unix ns): an arbitrary instant in 2023.
pub const T0: u64 = 1_700_000_000_000_000_000;

/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

/// The trace every test span belongs to.
pub const TRACE: [u8; 16] = [7; 16];

/// The span id of span `n`.
pub fn sid(n: u8) -> SpanId {
    let mut id = [0u8; 8];
    id[7] = n;
    id
}

/// A value a test attribute can take.
pub trait IntoAttr {
    /// As an attribute value.
    fn into_attr(self) -> AttrValue;
}

impl IntoAttr for &str {
    fn into_attr(self) -> AttrValue {
        AttrValue::Str(self.into())
    }
}

impl IntoAttr for bool {
    fn into_attr(self) -> AttrValue {
        AttrValue::Bool(self)
    }
}

impl IntoAttr for i64 {
    fn into_attr(self) -> AttrValue {
        AttrValue::Int(self)
    }
}

impl IntoAttr for f64 {
    fn into_attr(self) -> AttrValue {
        AttrValue::Double(self)
    }
}

/// Attributes from pairs.
pub fn attrs<V: IntoAttr + Copy>(pairs: &[(&str, V)]) -> Attributes {
    Attributes(
        pairs
            .iter()
            .map(|(k, v)| ((*k).into(), v.into_attr()))
            .collect(),
    )
}

/// A span under construction.
#[derive(Debug, Clone)]
pub struct SpanBuilder(SpanRecord);

/// Span `n` named `name`: no parent, at [`T0`] for 0 ms, service `agent`.
pub fn span(n: u8, name: &str) -> SpanBuilder {
    SpanBuilder(SpanRecord {
        trace_id: TRACE,
        span_id: sid(n),
        parent_span_id: None,
        name: name.into(),
        start_unix_nano: T0,
        end_unix_nano: T0,
        status: SpanStatus::Unset,
        attributes: Attributes::default(),
        events: Vec::new(),
        resource: Some(Resource::service("agent")),
    })
}

impl SpanBuilder {
    /// Child of span `n`.
    pub fn parent(mut self, n: u8) -> Self {
        self.0.parent_span_id = Some(sid(n));
        self
    }

    /// From `start_ms` to `end_ms` after [`T0`].
    pub fn at(mut self, start_ms: u64, end_ms: u64) -> Self {
        self.0.start_unix_nano = T0 + start_ms * MS;
        self.0.end_unix_nano = T0 + end_ms * MS;
        self
    }

    /// With attribute `key` = `value`.
    pub fn attr(mut self, key: &str, value: impl IntoAttr) -> Self {
        self.0.attributes.0.push((key.into(), value.into_attr()));
        self
    }

    /// With status ERROR and this message.
    pub fn error(mut self, message: &str) -> Self {
        self.0.status = SpanStatus::Error(message.to_string());
        self
    }

    /// With an event `name` at `at_ms` after [`T0`].
    pub fn event(mut self, name: &str, at_ms: u64, attributes: Attributes) -> Self {
        self.0.events.push(SpanEvent {
            name: name.to_string(),
            time_unix_nano: T0 + at_ms * MS,
            attributes,
        });
        self
    }

    /// Sent by the process named `name`.
    pub fn service(mut self, name: &str) -> Self {
        self.0.resource = Some(Resource::service(name));
        self
    }

    /// Sent by a process with this resource.
    pub fn resource(mut self, resource: Resource) -> Self {
        self.0.resource = Some(Arc::new(resource));
        self
    }

    /// The span.
    pub fn build(self) -> SpanRecord {
        self.0
    }
}
