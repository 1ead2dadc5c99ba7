//! The sinks. Each lives in its own folder with the same roles:
//!
//! - `config.rs`: the sink's typed settings, checked and resolved (secrets) from [`SinkConfig`];
//! - `encoder.rs`: the body, from a call log or a live update (pure);
//! - `request.rs`: the request (URL, headers with the idempotency key, body) for one outbox
//!   entry;
//! - `response.rs`: the answer → [`Outcome`] classification;
//! - `mod.rs`: which updates the sink wants (the outbox events) and one delivery attempt.
//!
//! The shared delivery loop ([`super`]) knows sinks only through [`Sink`].

pub mod cekura;
pub mod http;
pub mod jsonl;
pub mod transcript;
pub mod webhook;

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE};

use super::config::{SinkConfig, SinkKind};
use super::outcome::Outcome;
use super::ForwardError;
use crate::receiver::calllog::CallUpdate;
use crate::receiver::secret::{redact, Secret};
use crate::receiver::store::OutboxEntry;

/// The header carrying the idempotency key of every request.
pub const IDEMPOTENCY_KEY_HEADER: &str = "Idempotency-Key";

/// Response bodies are read up to this many bytes for a dead-letter reason: an error message
/// fits, a misbehaving endpoint's megabytes do not.
const MAX_RESPONSE_BYTES: usize = 4096;

/// One configured sink.
#[derive(Debug)]
pub enum Sink {
    /// Cekura's observe API.
    Cekura(cekura::CekuraSink),
    /// Cartesia-style webhook events.
    Webhook(webhook::WebhookSink),
    /// Canonical call log JSON over HTTP.
    Http(http::HttpSink),
    /// Call logs appended to a file.
    Jsonl(jsonl::JsonlSink),
}

impl Sink {
    /// Builds the sink from its configuration (resolves secrets, builds the HTTP client).
    pub fn build(config: &SinkConfig) -> Result<Sink, ForwardError> {
        config.validate()?;
        Ok(match config.kind {
            SinkKind::Cekura => Sink::Cekura(cekura::CekuraSink::new(config)?),
            SinkKind::Webhook => Sink::Webhook(webhook::WebhookSink::new(config)?),
            SinkKind::Http => Sink::Http(http::HttpSink::new(config)?),
            SinkKind::Jsonl => Sink::Jsonl(jsonl::JsonlSink::new(config)),
        })
    }

    /// The outbox events this sink wants for an update (none: the update is not for it).
    pub fn events_for(&self, update: &CallUpdate) -> Vec<String> {
        match self {
            Sink::Cekura(_) | Sink::Http(_) | Sink::Jsonl(_) => match update {
                CallUpdate::Finished(_) => vec![CALL_LOG_EVENT.to_string()],
                _ => Vec::new(),
            },
            Sink::Webhook(s) => s.events_for(update),
        }
    }

    /// One delivery attempt of one entry.
    pub async fn deliver(&self, entry: &OutboxEntry) -> Outcome {
        match self {
            Sink::Cekura(s) => s.deliver(entry).await,
            Sink::Webhook(s) => s.deliver(entry).await,
            Sink::Http(s) => s.deliver(entry).await,
            Sink::Jsonl(s) => s.deliver_all(std::slice::from_ref(entry)).await.remove(0),
        }
    }

    /// One delivery attempt of up to [`Sink::max_batch`] entries (of different calls): one
    /// outcome per entry, in order. HTTP sinks send one request per entry (a batch is one
    /// entry); the file sink appends every line with one write and one fsync.
    pub async fn deliver_all(&self, entries: &[OutboxEntry]) -> Vec<Outcome> {
        match self {
            Sink::Jsonl(s) => s.deliver_all(entries).await,
            _ => {
                let mut outcomes = Vec::with_capacity(entries.len());
                for entry in entries {
                    outcomes.push(self.deliver(entry).await);
                }
                outcomes
            }
        }
    }

    /// Attempts in flight at once.
    pub fn concurrency(&self, configured: usize) -> usize {
        match self {
            // Lines of one file are appended by one writer at a time (in batches).
            Sink::Jsonl(_) => 1,
            _ => configured.max(1),
        }
    }

    /// Entries handed to one attempt at most.
    pub fn max_batch(&self) -> usize {
        match self {
            Sink::Jsonl(_) => jsonl::MAX_LINES_PER_WRITE,
            // One request carries one call log: the ingest APIs take one at a time.
            _ => 1,
        }
    }
}

/// The event of sinks that send one call log per revision.
pub const CALL_LOG_EVENT: &str = "call_log";

/// The idempotency key of an entry: `{call_id}:{revision}`, plus `:{event}` for sinks that send
/// several requests per revision (webhooks).
pub fn idempotency_key(entry: &OutboxEntry) -> String {
    if entry.event == CALL_LOG_EVENT {
        format!("{}:{}", entry.call_id, entry.revision)
    } else {
        format!("{}:{}:{}", entry.call_id, entry.revision, entry.event)
    }
}

/// An HTTP request ready to send.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Where to.
    pub url: reqwest::Url,
    /// Headers of this request (the idempotency key, ...), on top of the sink's own.
    pub headers: HeaderMap,
    /// The JSON body.
    pub body: Vec<u8>,
}

/// The header a sink's secret goes in, and how the secret becomes its value.
pub type SecretHeader = (HeaderName, fn(&str) -> String);

/// What all HTTP sinks share: a client with the sink's timeout, the headers sent with every
/// request (configured headers and the secret's header), and the secret for redaction.
#[derive(Debug)]
pub struct HttpService {
    client: reqwest::Client,
    headers: HeaderMap,
    secret: Option<Secret>,
}

impl HttpService {
    /// A client for `config`, sending `secret` in `secret_header` (marked sensitive).
    pub fn new(
        config: &SinkConfig,
        secret: Option<Secret>,
        secret_header: Option<SecretHeader>,
    ) -> Result<HttpService, ForwardError> {
        let sink = config.name().to_string();
        let invalid = |why: String| {
            ForwardError::Config(super::ConfigError::Invalid {
                sink: sink.clone(),
                why,
            })
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &config.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("invalid value for header {name}")))?;
            headers.insert(name, value);
        }
        if let (Some(secret), Some((name, render))) = (&secret, secret_header) {
            let mut value = HeaderValue::from_str(&render(secret.expose()))
                .map_err(|_| invalid("the secret is not a valid header value".to_string()))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(config.timeout())
            .connect_timeout(config.timeout().min(Duration::from_secs(5)))
            .build()
            .map_err(|e| ForwardError::Client {
                sink: sink.clone(),
                why: e.to_string(),
            })?;
        Ok(HttpService {
            client,
            headers,
            secret,
        })
    }

    /// Sends a request and classifies the answer with `classify`; transport failures are
    /// retried. Every reason has the secret scrubbed out.
    pub async fn send(
        &self,
        request: HttpRequest,
        classify: fn(reqwest::StatusCode, &HeaderMap, &str) -> Outcome,
    ) -> Outcome {
        let mut headers = self.headers.clone();
        headers.extend(request.headers);
        let sent = self
            .client
            .post(request.url)
            .headers(headers)
            .body(request.body)
            .send()
            .await;
        let outcome = match sent {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                let body = read_capped(response).await;
                classify(status, &headers, &body)
            }
            Err(e) => Outcome::Retry {
                status: None,
                reason: transport_reason(&e),
                retry_after: None,
            },
        };
        self.redacted(outcome)
    }

    fn redacted(&self, outcome: Outcome) -> Outcome {
        let secret = self.secret.as_ref();
        match outcome {
            Outcome::Retry {
                status,
                reason,
                retry_after,
            } => Outcome::Retry {
                status,
                reason: redact(secret, &reason),
                retry_after,
            },
            Outcome::Rejected { status, reason } => Outcome::Rejected {
                status,
                reason: redact(secret, &reason),
            },
            delivered => delivered,
        }
    }
}

/// A transport error in one line, with its cause chain (connection refused, timeout, ...).
fn transport_reason(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else {
        "request failed"
    };
    let mut text = format!("{what}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

/// The response body as text, at most [`MAX_RESPONSE_BYTES`].
async fn read_capped(mut response: reqwest::Response) -> String {
    let mut body = Vec::new();
    while body.len() < MAX_RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_RESPONSE_BYTES);
    String::from_utf8_lossy(&body).into_owned()
}

/// A JSON body for an entry, or the reason it cannot be built (a dead letter: retrying would
/// not help).
pub fn json_body(value: &serde_json::Value) -> Result<Vec<u8>, Outcome> {
    serde_json::to_vec(value).map_err(|e| Outcome::Rejected {
        status: None,
        reason: format!("cannot encode the body: {e}"),
    })
}

/// The idempotency key as a header map.
pub fn idempotency_header(key: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(key) {
        headers.insert(HeaderName::from_static("idempotency-key"), value);
    }
    headers
}

/// An entry whose update does not match its event (a store written by another version):
/// parked rather than retried forever.
pub fn unexpected(entry: &OutboxEntry) -> Outcome {
    Outcome::Rejected {
        status: None,
        reason: format!(
            "entry {} ({}) does not carry what its event needs",
            entry.id, entry.event
        ),
    }
}
