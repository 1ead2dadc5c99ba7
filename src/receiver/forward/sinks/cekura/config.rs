//! The cekura sink's settings: the observe URL, how the agent is named, the API key.

use reqwest::Url;

use crate::receiver::forward::config::{ConfigError, SinkConfig};
use crate::receiver::forward::ForwardError;
use crate::receiver::secret::{Secret, SecretSource};

/// The observe endpoint, relative to the configured base URL.
pub const OBSERVE_PATH: &str = "observability/v1/observe/";
/// Where the API key is read from when the sink names no source.
const DEFAULT_SECRET_ENV: &str = "VOICETRACE_CEKURA_API_KEY";

/// Settings of a cekura sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CekuraConfig {
    /// `{base}/observability/v1/observe/`.
    pub url: Url,
    /// The Cekura agent id, when configured.
    pub agent: Option<i64>,
    /// The provider's assistant id, when configured (else the call's agent id is sent).
    pub assistant_id: Option<String>,
}

impl CekuraConfig {
    /// The settings and the API key (required) of a cekura sink.
    pub fn from_sink(sink: &SinkConfig) -> Result<(CekuraConfig, Secret), ForwardError> {
        let url = format!("{}/{OBSERVE_PATH}", sink.target.trim_end_matches('/'));
        let url = Url::parse(&url).map_err(|e| {
            ForwardError::Config(ConfigError::Target {
                sink: sink.name().to_string(),
                target: sink.target.clone(),
                why: e.to_string(),
            })
        })?;
        let source = sink
            .secret_source()
            .unwrap_or(SecretSource::Env(DEFAULT_SECRET_ENV));
        let secret = Secret::required(source).map_err(|source| ForwardError::Secret {
            sink: sink.name().to_string(),
            source,
        })?;
        Ok((
            CekuraConfig {
                url,
                agent: sink.agent,
                assistant_id: sink.assistant_id.clone(),
            },
            secret,
        ))
    }
}
