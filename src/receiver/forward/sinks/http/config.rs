//! The http sink's settings: the URL and the optional bearer token.

use reqwest::Url;

use crate::receiver::forward::config::SinkConfig;
use crate::receiver::forward::ForwardError;
use crate::receiver::secret::Secret;

/// Settings of an http sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// Where call logs are POSTed.
    pub url: Url,
}

impl HttpConfig {
    /// The settings and the bearer token (optional) of an http sink.
    pub fn from_sink(sink: &SinkConfig) -> Result<(HttpConfig, Option<Secret>), ForwardError> {
        let url = sink.target_url()?;
        let token = sink.optional_secret()?;
        Ok((HttpConfig { url }, token))
    }
}
