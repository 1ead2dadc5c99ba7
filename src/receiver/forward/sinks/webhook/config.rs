//! The webhook sink's settings: the URL, the envelope's `webhook_id`, the optional secret.

use reqwest::Url;

use crate::receiver::forward::config::SinkConfig;
use crate::receiver::forward::ForwardError;
use crate::receiver::secret::Secret;

/// Settings of a webhook sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookConfig {
    /// Where events are POSTed.
    pub url: Url,
    /// The envelope's `webhook_id` (configured, else the sink's name).
    pub webhook_id: String,
}

impl WebhookConfig {
    /// The settings and the secret (optional) of a webhook sink.
    pub fn from_sink(sink: &SinkConfig) -> Result<(WebhookConfig, Option<Secret>), ForwardError> {
        let url = sink.target_url()?;
        let secret = sink.optional_secret()?;
        if secret.is_none() {
            tracing::warn!(
                sink = sink.name(),
                "webhook sink without a secret: receivers cannot verify x-webhook-secret"
            );
        }
        let webhook_id = sink
            .webhook_id
            .clone()
            .unwrap_or_else(|| sink.name().to_string());
        Ok((WebhookConfig { url, webhook_id }, secret))
    }
}
