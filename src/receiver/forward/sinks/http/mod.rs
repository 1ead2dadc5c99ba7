//! The `http` sink: each call log revision, as the canonical call log JSON, POSTed to one URL
//! with an optional bearer token.

pub mod config;
pub mod encoder;
pub mod request;
pub mod response;

use reqwest::header::AUTHORIZATION;

use super::HttpService;
use crate::receiver::forward::config::SinkConfig;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::ForwardError;
use crate::receiver::store::OutboxEntry;

/// An http sink.
#[derive(Debug)]
pub struct HttpSink {
    config: config::HttpConfig,
    service: HttpService,
}

fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

impl HttpSink {
    /// Builds the sink; the bearer token is optional.
    pub fn new(sink: &SinkConfig) -> Result<HttpSink, ForwardError> {
        let (config, token) = config::HttpConfig::from_sink(sink)?;
        let service = HttpService::new(sink, token, Some((AUTHORIZATION, bearer)))?;
        Ok(HttpSink { config, service })
    }

    /// One attempt.
    pub async fn deliver(&self, entry: &OutboxEntry) -> Outcome {
        match request::build(&self.config, entry) {
            Ok(request) => self.service.send(request, response::classify).await,
            Err(outcome) => outcome,
        }
    }
}
