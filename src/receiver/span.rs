//! Span, log and metric records, and the [`Batch`] that carries them: what ingest hands to
//! assembly.
//!
//! Ingest decodes OTLP (protobuf or JSON, any transport) into these plain records and nothing
//! downstream ever sees an OTLP type. They keep only what assembly reads: ids, name, times,
//! status, attributes, events, and the resource attributes of the process that sent the span.

use foldhash::HashSet;
use std::sync::{Arc, LazyLock, RwLock};

/// A 128-bit trace id.
pub type TraceId = [u8; 16];
/// A 64-bit span id.
pub type SpanId = [u8; 8];

/// An attribute value, as OTLP's `AnyValue` minus nesting: a key-value list arrives as its JSON
/// text, which is all assembly ever does with one. Boxed slices, not `String`/`Vec`: a span
/// holds a dozen of these for as long as its call is open, and they never grow.
#[derive(Debug, Clone, PartialEq)]
pub enum AttrValue {
    /// A string.
    Str(Box<str>),
    /// A boolean.
    Bool(bool),
    /// A 64-bit integer.
    Int(i64),
    /// A double.
    Double(f64),
    /// An array of values.
    Array(Box<[AttrValue]>),
    /// Raw bytes.
    Bytes(Box<[u8]>),
}

impl AttrValue {
    /// The value as JSON (for custom metrics, metadata and events in the call log).
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            AttrValue::Str(s) => serde_json::Value::String(s.to_string()),
            AttrValue::Bool(b) => serde_json::Value::Bool(*b),
            AttrValue::Int(i) => serde_json::Value::from(*i),
            AttrValue::Double(d) => serde_json::Number::from_f64(*d)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            AttrValue::Array(a) => serde_json::Value::Array(a.iter().map(Self::to_json).collect()),
            AttrValue::Bytes(b) => serde_json::Value::String(crate::trace_id::to_hex(b)),
        }
    }

    /// The value as display text (strings unquoted).
    pub fn to_text(&self) -> String {
        match self {
            AttrValue::Str(s) => s.to_string(),
            other => other.to_json().to_string(),
        }
    }
}

/// An attribute key or span name: shared text. Every span of every call carries the same few
/// dozen keys and names (`voice.stage`, `gen_ai.request.model`, `stt`, ...), so the receiver
/// keeps one copy of each ([`Name::interned`]) and spans hold pointers to it. Reads as a `str`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(Arc<str>);

/// Distinct names kept in the process-wide table at most: far more than any set of agents
/// uses, and a bound on what a client sending a new key per span can make the table hold
/// (past it, names are simply not shared).
const MAX_INTERNED: usize = 4096;

/// Names longer than this are never shared (a key that long is not a convention's).
const MAX_INTERNED_LEN: usize = 128;

static NAMES: LazyLock<RwLock<HashSet<Arc<str>>>> = LazyLock::new(Default::default);

impl Name {
    /// The shared copy of `text`.
    pub fn interned(text: &str) -> Name {
        if text.len() > MAX_INTERNED_LEN {
            return Name(Arc::from(text));
        }
        if let Ok(names) = NAMES.read() {
            if let Some(name) = names.get(text) {
                return Name(name.clone());
            }
            if names.len() >= MAX_INTERNED {
                return Name(Arc::from(text));
            }
        }
        let name: Arc<str> = Arc::from(text);
        if let Ok(mut names) = NAMES.write() {
            if let Some(existing) = names.get(text) {
                return Name(existing.clone());
            }
            if names.len() < MAX_INTERNED {
                names.insert(name.clone());
            }
        }
        Name(name)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Debug::fmt(&*self.0, f)
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Name {
    fn from(text: &str) -> Name {
        Name::interned(text)
    }
}

impl From<String> for Name {
    fn from(text: String) -> Name {
        Name::interned(&text)
    }
}

impl From<&String> for Name {
    fn from(text: &String) -> Name {
        Name::interned(text)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A span's or event's attributes, in arrival order. Lookups are linear: spans carry a handful
/// of attributes and a `Vec` is both smaller and faster than a map at that size.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attributes(pub Vec<(Name, AttrValue)>);

impl Attributes {
    /// Attributes from at most `count` pairs, holding no spare capacity (collecting a filtered
    /// iterator would double a `Vec` past the count: a third of a span's memory, kept for as
    /// long as its call is open).
    pub fn exact(count: usize, pairs: impl Iterator<Item = (Name, AttrValue)>) -> Attributes {
        let mut all = Vec::with_capacity(count);
        all.extend(pairs);
        Attributes(all)
    }

    /// The value of `key`, if present.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// A string attribute (non-string values are not coerced).
    pub fn str(&self, key: &str) -> Option<&str> {
        match self.get(key)? {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// A numeric attribute as f64 (ints widen; numeric strings parse, as some SDKs send them).
    pub fn f64(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            AttrValue::Double(d) if d.is_finite() => Some(*d),
            AttrValue::Int(i) => Some(*i as f64),
            AttrValue::Str(s) => s.trim().parse().ok().filter(|d: &f64| d.is_finite()),
            _ => None,
        }
    }

    /// An integer attribute (doubles with no fraction and numeric strings are accepted).
    pub fn i64(&self, key: &str) -> Option<i64> {
        match self.get(key)? {
            AttrValue::Int(i) => Some(*i),
            AttrValue::Double(d) if d.fract() == 0.0 && d.is_finite() => Some(*d as i64),
            AttrValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// A boolean attribute (`"true"`/`"false"` strings are accepted).
    pub fn bool(&self, key: &str) -> Option<bool> {
        match self.get(key)? {
            AttrValue::Bool(b) => Some(*b),
            AttrValue::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }

    /// Attributes whose key starts with `prefix`, with the prefix removed.
    pub fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a AttrValue)> + 'a {
        self.0
            .iter()
            .filter_map(move |(k, v)| k.strip_prefix(prefix).map(|rest| (rest, v)))
    }
}

/// A span's status.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum SpanStatus {
    /// No status was set.
    #[default]
    Unset,
    /// Explicitly OK.
    Ok,
    /// Failed, with the status message (may be empty).
    Error(String),
}

/// An event recorded on a span (a log line, a metric, an interruption, an exception).
#[derive(Debug, Clone, PartialEq)]
pub struct SpanEvent {
    /// The event's name.
    pub name: String,
    /// When it happened (Unix ns).
    pub time_unix_nano: u64,
    /// Its attributes.
    pub attributes: Attributes,
}

/// One span, as assembly sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct SpanRecord {
    /// The trace (= call) it belongs to; never all zero.
    pub trace_id: TraceId,
    /// Its own id; never all zero.
    pub span_id: SpanId,
    /// Its parent, if any (the parent may not be in the export: a remote parent).
    pub parent_span_id: Option<SpanId>,
    /// The span's name.
    pub name: Name,
    /// Start (Unix ns).
    pub start_unix_nano: u64,
    /// End (Unix ns); ingest makes sure it is not before the start.
    pub end_unix_nano: u64,
    /// The span's status.
    pub status: SpanStatus,
    /// The span's attributes.
    pub attributes: Attributes,
    /// The span's events, in time order as sent.
    pub events: Vec<SpanEvent>,
    /// The resource attributes the receiver reads from the sending process: one `Arc` shared
    /// by every span of one resource, never a copy per span.
    pub resource: Option<Arc<Resource>>,
}

/// What the receiver reads from a span's resource (the process that sent it): its service and
/// the deployment it runs (semconv's resource attributes).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resource {
    /// `service.name`.
    pub service_name: Option<Box<str>>,
    /// `service.version`.
    pub service_version: Option<Box<str>>,
    /// `deployment.id`.
    pub deployment_id: Option<Box<str>>,
    /// `deployment.environment.name`, else `deployment.environment`.
    pub deployment_environment: Option<Box<str>>,
}

impl Resource {
    /// A resource that names only its service (tests, older journal rows).
    pub fn service(name: &str) -> Arc<Resource> {
        Arc::new(Resource {
            service_name: Some(name.into()),
            ..Resource::default()
        })
    }

    /// Whether it says anything about a deployment.
    pub fn has_deployment(&self) -> bool {
        self.deployment_id.is_some()
            || self.service_version.is_some()
            || self.deployment_environment.is_some()
    }
}

impl SpanRecord {
    /// The sending process's `service.name`.
    pub fn service_name(&self) -> Option<&str> {
        self.resource.as_deref()?.service_name.as_deref()
    }

    /// The span's duration in ns (0 if the end precedes the start).
    pub fn duration_nanos(&self) -> u64 {
        self.end_unix_nano.saturating_sub(self.start_unix_nano)
    }
}

/// One OTLP log record that carries a trace id: a "call log" line.
#[derive(Debug, Clone, PartialEq)]
pub struct LogRecord {
    /// The trace (= call) it belongs to.
    pub trace_id: TraceId,
    /// The span it was written in, if any.
    pub span_id: Option<SpanId>,
    /// When it was written (Unix ns; the observed time when the record has none).
    pub time_unix_nano: u64,
    /// Severity text (`INFO`, `WARN`, ...), or one derived from the severity number.
    pub level: String,
    /// The body as text.
    pub message: String,
    /// Its attributes.
    pub attributes: Attributes,
}

/// How a metric point's value accumulates (OTLP's aggregation temporality).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Temporality {
    /// The value counts what happened between the point's start and its time (each export
    /// reports only what is new: LiveKit's cloud exporter).
    Delta,
    /// The value counts everything since the point's start (each export repeats the total so
    /// far: the OpenTelemetry SDKs' default).
    Cumulative,
}

/// One data point of a usage counter (an OTLP sum) that names a call: what assembly folds into
/// that call's usage.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricPoint {
    /// The names the point's resource and attributes give its call (job id, conversation id,
    /// room id, ...), most specific first; never empty.
    pub call_names: Vec<String>,
    /// The metric's name (`lk.agents.usage.stt_audio_duration`, ...).
    pub metric: Name,
    /// The provider it is about (`model_provider`).
    pub provider: Option<String>,
    /// The model it is about (`model_name`).
    pub model: Option<String>,
    /// Start of the interval it counts (Unix ns).
    pub start_unix_nano: u64,
    /// End of that interval: when it was taken (Unix ns).
    pub time_unix_nano: u64,
    /// The value (integer sums widen to f64: counts of tokens and characters stay exact far past
    /// any call's).
    pub value: f64,
    /// Delta or cumulative.
    pub temporality: Temporality,
}

impl MetricPoint {
    /// The key its call's points are held and journaled under: [`metric_key`] of its most
    /// specific call name.
    pub fn key(&self) -> TraceId {
        metric_key(self.call_names.first().map_or("", String::as_str))
    }
}

/// The key under which the metric points of a call named `name` are held and journaled: the
/// first 16 bytes of SHA-256 over a prefix and the name, so it never equals a real trace's id
/// by accident (and a span naming the same call finds its points by the same key).
pub fn metric_key(name: &str) -> TraceId {
    use sha2::Digest;
    let digest = sha2::Sha256::new()
        .chain_update(b"voicetrace.metric-points\0")
        .chain_update(name.as_bytes())
        .finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

/// What ingest hands on (through the journal) to assembly: the usable records of one request.
#[derive(Debug)]
pub enum Batch {
    /// The usable spans of one request.
    Spans(Vec<SpanRecord>),
    /// The log records of one request that carry a trace id.
    Logs(Vec<LogRecord>),
    /// The usage points of one request that name a call.
    Points(Vec<MetricPoint>),
}
