//! The `cekura` sink: each call log revision to Cekura's observe API
//! (`POST {base}/observability/v1/observe/`, `X-CEKURA-API-KEY`), as a `CreateCallLog` body
//! with a transcript in Cekura's own format.

pub mod config;
pub mod encoder;
pub mod request;
pub mod response;

use reqwest::header::HeaderName;

use super::HttpService;
use crate::receiver::forward::config::SinkConfig;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::ForwardError;
use crate::receiver::store::OutboxEntry;

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "x-cekura-api-key";

/// A cekura sink.
#[derive(Debug)]
pub struct CekuraSink {
    config: config::CekuraConfig,
    service: HttpService,
}

impl CekuraSink {
    /// Builds the sink; the API key is required.
    pub fn new(sink: &SinkConfig) -> Result<CekuraSink, ForwardError> {
        let (config, secret) = config::CekuraConfig::from_sink(sink)?;
        let service = HttpService::new(
            sink,
            Some(secret),
            Some((HeaderName::from_static(API_KEY_HEADER), str::to_string)),
        )?;
        Ok(CekuraSink { config, service })
    }

    /// One attempt.
    pub async fn deliver(&self, entry: &OutboxEntry) -> Outcome {
        match request::build(&self.config, entry) {
            Ok(request) => self.service.send(request, response::classify).await,
            Err(outcome) => outcome,
        }
    }
}
