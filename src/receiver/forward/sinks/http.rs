//! The `http` sink: each call log revision, as the canonical call log JSON (CONVENTIONS.md
//! section 5, exactly as the API serves it: no field is added, so the idempotency key travels
//! in the header only), POSTed to one URL with an optional bearer token.

use reqwest::Url;

use super::post::{HttpClient, SecretHeader};
use super::{call_log_json, Deliver};
use crate::receiver::forward::config::KindConfig;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::ForwardError;
use crate::receiver::store::OutboxEntry;

/// Where the bearer token is read from when the sink names no source.
pub const SECRET_ENV: &str = "VOICETRACE_HTTP_BEARER_TOKEN";

/// A `[[sinks]]` table of kind `http` (the target is the URL; the bearer token is optional;
/// no keys of its own).
pub type HttpConfig = KindConfig<()>;

/// An http sink.
#[derive(Debug)]
pub struct HttpSink {
    url: Url,
    client: HttpClient,
}

impl HttpSink {
    /// Builds sink `name`; the bearer token is optional.
    pub fn new(name: &str, config: &HttpConfig) -> Result<HttpSink, ForwardError> {
        let token = config.secret.optional(name, SECRET_ENV)?;
        Ok(HttpSink {
            url: config.shared.http_url(name)?,
            client: HttpClient::new(name, &config.shared, token, SecretHeader::Bearer)?,
        })
    }
}

#[async_trait::async_trait]
impl Deliver for HttpSink {
    async fn deliver_all(&self, entries: &[OutboxEntry]) -> Vec<Outcome> {
        // The call log JSON as stored: encoded once, by the store.
        let body = |entry: &OutboxEntry, _key: &str| Ok(call_log_json(entry)?.as_bytes().to_vec());
        self.client.post_each(&self.url, entries, body).await
    }
}
