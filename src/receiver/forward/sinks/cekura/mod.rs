//! The `cekura` sink: each call log revision to Cekura's observe API
//! (`POST {base}/observability/v1/observe/`, `X-CEKURA-API-KEY`), as a `CreateCallLog` body
//! with a transcript in Cekura's own format ([`encoder`]). Answers: 201 (any 2xx) delivered;
//! 400 (a body the API rejects, with per-field messages) and other 4xx but 408/429 parked;
//! 408, 429, 5xx retried.

pub mod encoder;

use reqwest::Url;
use serde::Deserialize;

use super::post::{HttpClient, SecretHeader};
use super::{finished_log, json_body, recording_link, Deliver};
use crate::receiver::forward::config::{ConfigError, KindConfig};
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::ForwardError;
use crate::receiver::recordings::link::Links;
use crate::receiver::store::OutboxEntry;

/// The header carrying the API key.
pub const API_KEY_HEADER: &str = "x-cekura-api-key";
/// Where the API key is read from when the sink names no source.
pub const SECRET_ENV: &str = "VOICETRACE_CEKURA_API_KEY";
/// The observe endpoint, relative to the configured base URL.
pub const OBSERVE_PATH: &str = "observability/v1/observe/";

/// The keys of a cekura sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CekuraKeys {
    /// The Cekura agent id, when configured.
    pub agent: Option<i64>,
    /// The provider's assistant id, when `agent` is not set (else the call's agent id is
    /// sent).
    pub assistant_id: Option<String>,
}

/// A `[[sinks]]` table of kind `cekura` (the target is the API's base URL; the API key is
/// required).
pub type CekuraConfig = KindConfig<CekuraKeys>;

impl CekuraConfig {
    /// `{base}/observability/v1/observe/`.
    pub fn observe_url(&self, name: &str) -> Result<Url, ConfigError> {
        self.shared.http_url(name)?;
        let base = self.shared.target.trim_end_matches('/');
        let url = format!("{base}/{OBSERVE_PATH}");
        Url::parse(&url).map_err(|e| ConfigError::Target {
            sink: name.to_string(),
            target: self.shared.target.clone(),
            why: e.to_string(),
        })
    }
}

/// A cekura sink.
#[derive(Debug)]
pub struct CekuraSink {
    config: CekuraConfig,
    url: Url,
    client: HttpClient,
    links: Option<Links>,
}

impl CekuraSink {
    /// Builds sink `name`; the API key is required. With `links`, `voice_recording_url` is a
    /// signed link to the receiver's copy of the recording.
    pub fn new(
        name: &str,
        config: &CekuraConfig,
        links: Option<Links>,
    ) -> Result<CekuraSink, ForwardError> {
        let key = config.secret.required(name, SECRET_ENV)?;
        Ok(CekuraSink {
            links,
            config: config.clone(),
            url: config.observe_url(name)?,
            client: HttpClient::new(
                name,
                &config.shared,
                Some(key),
                SecretHeader::Plain(API_KEY_HEADER),
            )?,
        })
    }
}

#[async_trait::async_trait]
impl Deliver for CekuraSink {
    async fn deliver_all(&self, entries: &[OutboxEntry]) -> Vec<Outcome> {
        let body = |entry: &OutboxEntry, key: &str| {
            let log = finished_log(entry)?;
            let recording = recording_link(self.links.as_ref(), &log);
            json_body(&encoder::encode(
                &log,
                &self.config,
                key,
                recording.as_deref(),
            ))
        };
        self.client.post_each(&self.url, entries, body).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::receiver::forward::config::SharedConfig;

    fn config() -> CekuraConfig {
        CekuraConfig::new(SharedConfig::new("https://api.cekura.ai/"))
    }

    #[test]
    fn a_missing_api_key_names_the_variable_or_file_that_was_read() {
        let mut c = config();
        c.secret.secret_env = Some("VOICETRACE_TEST_UNSET_CEKURA_KEY_2".into());
        let err = CekuraSink::new("ck", &c, None).unwrap_err().to_string();
        assert_eq!(
            err,
            "sink ck: no secret: the environment variable VOICETRACE_TEST_UNSET_CEKURA_KEY_2 is not set"
        );
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("cekura-key");
        c.secret.secret_file = Some(missing.clone());
        let err = CekuraSink::new("ck", &c, None).unwrap_err().to_string();
        assert!(err.contains(&missing.display().to_string()), "{err}");
        assert!(!err.contains("VOICETRACE_TEST_UNSET_CEKURA_KEY_2"), "{err}");
    }

    #[test]
    fn the_observe_url_is_below_the_base() {
        assert_eq!(
            config().observe_url("ck").unwrap().as_str(),
            "https://api.cekura.ai/observability/v1/observe/"
        );
        let mut c = config();
        c.shared.target = "api.cekura.ai".into();
        assert!(c.observe_url("ck").is_err());
    }
}
