//! What the HTTP sinks (cekura, webhook, http) share: one client per sink with the sink's
//! timeout, the headers sent with every request (the configured ones and the secret's, marked
//! sensitive), and [`HttpClient::post_json`]: one POST of an entry's JSON body with its
//! idempotency key, the answer classified by [`classify_http`] (2xx delivered; 408, 429, 5xx
//! and transport failures retried, Retry-After honoured; any other status parked with the
//! response text), every reason with the secret scrubbed out.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use reqwest::Url;

use super::{idempotency_key, IDEMPOTENCY_KEY_HEADER};
use crate::receiver::forward::config::{ConfigError, SharedConfig};
use crate::receiver::forward::outcome::{classify_http, Outcome};
use crate::receiver::forward::ForwardError;
use crate::receiver::secret::{redact, Secret};
use crate::receiver::store::OutboxEntry;

/// Response bodies are read up to this many bytes for a dead-letter reason: an error message
/// fits, a misbehaving endpoint's megabytes do not.
const MAX_RESPONSE_BYTES: usize = 4096;
/// Connecting takes at most this long (or the request timeout, if shorter): an endpoint that
/// does not accept a connection in 5 s is down for this attempt.
const MAX_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The header a sink's secret travels in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretHeader {
    /// The secret itself is the value of this header (lowercase name).
    Plain(&'static str),
    /// `Authorization: Bearer <secret>`.
    Bearer,
}

impl SecretHeader {
    fn header(self, secret: &Secret) -> (HeaderName, String) {
        match self {
            SecretHeader::Plain(name) => {
                (HeaderName::from_static(name), secret.expose().to_string())
            }
            SecretHeader::Bearer => (AUTHORIZATION, format!("Bearer {}", secret.expose())),
        }
    }
}

/// One HTTP sink's client: its timeout, the headers of every request, its secret for
/// redaction.
#[derive(Debug)]
pub struct HttpClient {
    client: reqwest::Client,
    headers: HeaderMap,
    secret: Option<Secret>,
}

impl HttpClient {
    /// The client of sink `sink`, sending `secret` (if any) in `secret_header`.
    pub fn new(
        sink: &str,
        shared: &SharedConfig,
        secret: Option<Secret>,
        secret_header: SecretHeader,
    ) -> Result<HttpClient, ForwardError> {
        let invalid = |why: String| {
            ForwardError::Config(ConfigError::Invalid {
                sink: sink.to_string(),
                why,
            })
        };
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        for (name, value) in &shared.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| invalid(format!("invalid header name {name:?}")))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| invalid(format!("invalid value for header {name}")))?;
            headers.insert(name, value);
        }
        if let Some(secret) = &secret {
            let (name, value) = secret_header.header(secret);
            let mut value = HeaderValue::from_str(&value)
                .map_err(|_| invalid("the secret is not a valid header value".to_string()))?;
            value.set_sensitive(true);
            headers.insert(name, value);
        }
        let client = reqwest::Client::builder()
            .timeout(shared.timeout())
            .connect_timeout(shared.timeout().min(MAX_CONNECT_TIMEOUT))
            .build()
            .map_err(|e| ForwardError::Client {
                sink: sink.to_string(),
                why: e.to_string(),
            })?;
        Ok(HttpClient {
            client,
            headers,
            secret,
        })
    }

    /// POSTs each entry's body (from `body`, given the entry and its idempotency key) to
    /// `url`, one after the other: one outcome per entry, in order. An entry whose body cannot
    /// be built is not sent: its outcome is the reason.
    pub async fn post_each(
        &self,
        url: &Url,
        entries: &[OutboxEntry],
        body: impl Fn(&OutboxEntry, &str) -> Result<Vec<u8>, Outcome> + Send + Sync,
    ) -> Vec<Outcome> {
        let mut outcomes = Vec::with_capacity(entries.len());
        for entry in entries {
            let key = idempotency_key(entry);
            outcomes.push(match body(entry, &key) {
                Ok(body) => self.post_json(url, &key, body).await,
                Err(outcome) => outcome,
            });
        }
        outcomes
    }

    /// One POST of a JSON body with its idempotency key, the answer classified.
    pub async fn post_json(&self, url: &Url, idempotency_key: &str, body: Vec<u8>) -> Outcome {
        let mut headers = self.headers.clone();
        if let Ok(value) = HeaderValue::from_str(idempotency_key) {
            headers.insert(HeaderName::from_static(IDEMPOTENCY_KEY_HEADER), value);
        }
        let sent = self
            .client
            .post(url.clone())
            .headers(headers)
            .body(body)
            .send()
            .await;
        let outcome = match sent {
            Ok(response) => {
                let status = response.status();
                let headers = response.headers().clone();
                let body = read_capped(response).await;
                classify_http(status, &headers, &body)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_secret_goes_in_its_header_marked_sensitive() {
        let secret = Secret::new("tok");
        let shared = SharedConfig::new("http://127.0.0.1:9");
        let client =
            HttpClient::new("s", &shared, Some(secret.clone()), SecretHeader::Bearer).unwrap();
        let auth = &client.headers[AUTHORIZATION];
        assert_eq!(
            (auth.to_str().unwrap(), auth.is_sensitive()),
            ("Bearer tok", true)
        );
        let plain = SecretHeader::Plain("x-webhook-secret").header(&secret);
        assert_eq!(
            plain,
            (HeaderName::from_static("x-webhook-secret"), "tok".into())
        );
    }

    #[test]
    fn reasons_never_carry_the_secret() {
        let shared = SharedConfig::new("http://127.0.0.1:9");
        let secret = Some(Secret::new("s3cr3t"));
        let client = HttpClient::new("s", &shared, secret, SecretHeader::Bearer).unwrap();
        let rejected = Outcome::Rejected {
            status: Some(401),
            reason: "bad token s3cr3t".into(),
        };
        assert_eq!(
            client.redacted(rejected),
            Outcome::Rejected {
                status: Some(401),
                reason: "bad token [redacted]".into()
            }
        );
    }
}
