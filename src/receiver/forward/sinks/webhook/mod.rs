//! The `webhook` sink: Cartesia-style events (`reference/cartesia-observability.md`) to one URL,
//! with the `x-webhook-secret` header: `call_started` when a call's first spans arrive,
//! `call_turn` for each utterance of a completed turn, `call_completed` / `call_failed` with the
//! `call` object and its transcript, then `post_call_analysis` with metrics and issues
//! ([`encoder`]). Answers: any 2xx delivered; 408, 429, 5xx retried (Retry-After honoured); any
//! other status parked with the response text (a 401 means the secret is wrong: retrying would
//! not help until someone fixes it and re-queues).

pub mod encoder;

use reqwest::Url;
use serde::Deserialize;

use super::post::{HttpClient, SecretHeader};
use super::{json_body, recording_link, typed_update, unexpected, Deliver};
use crate::receiver::calllog::{CallStatus, CallUpdate};
use crate::receiver::forward::config::KindConfig;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::ForwardError;
use crate::receiver::recordings::link::Links;
use crate::receiver::store::OutboxEntry;
use encoder::{Role, WebhookEvent};

/// The header carrying the shared secret.
pub const SECRET_HEADER: &str = "x-webhook-secret";
/// Where the secret is read from when the sink names no source.
pub const SECRET_ENV: &str = "VOICETRACE_WEBHOOK_SECRET";

/// The keys of a webhook sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct WebhookKeys {
    /// The envelope's `webhook_id` (else the sink's name).
    pub webhook_id: Option<String>,
}

/// A `[[sinks]]` table of kind `webhook` (the target is the URL; the secret is optional).
pub type WebhookConfig = KindConfig<WebhookKeys>;

/// A webhook sink.
#[derive(Debug)]
pub struct WebhookSink {
    url: Url,
    /// The envelope's `webhook_id` (configured, else the sink's name).
    webhook_id: String,
    client: HttpClient,
    links: Option<Links>,
}

impl WebhookSink {
    /// Builds sink `name`; the secret is optional. With `links`, `call_completed` and
    /// `call_failed` carry a signed link to the receiver's copy of the recording.
    pub fn new(
        name: &str,
        config: &WebhookConfig,
        links: Option<Links>,
    ) -> Result<WebhookSink, ForwardError> {
        let secret = config.secret.optional(name, SECRET_ENV)?;
        if secret.is_none() {
            tracing::warn!(
                sink = name,
                "webhook sink without a secret: receivers cannot verify x-webhook-secret"
            );
        }
        Ok(WebhookSink {
            links,
            url: config.shared.http_url(name)?,
            webhook_id: config
                .keys
                .webhook_id
                .clone()
                .unwrap_or_else(|| name.to_string()),
            client: HttpClient::new(
                name,
                &config.shared,
                secret,
                SecretHeader::Plain(SECRET_HEADER),
            )?,
        })
    }

    /// The body of an entry: its event, encoded from its update.
    fn body(&self, entry: &OutboxEntry, key: &str) -> Result<Vec<u8>, Outcome> {
        let event = WebhookEvent::parse(&entry.event).ok_or_else(|| unexpected(entry))?;
        let update = typed_update(entry)?;
        let recording = match update.as_ref() {
            CallUpdate::Finished(log) => recording_link(self.links.as_ref(), log),
            _ => None,
        };
        let envelope = encoder::Envelope {
            webhook_id: &self.webhook_id,
            idempotency_key: key,
            created_ms: entry.created_ms,
            recording: recording.as_deref(),
        };
        let body = encoder::encode(&event, &update, &envelope).ok_or_else(|| unexpected(entry))?;
        json_body(&body)
    }
}

#[async_trait::async_trait]
impl Deliver for WebhookSink {
    /// The events of an update, in the order they are to arrive.
    fn events_for(&self, update: &CallUpdate) -> Vec<String> {
        let events = match update {
            CallUpdate::Started(_) => vec![WebhookEvent::CallStarted],
            CallUpdate::TurnCompleted(t) => {
                let mut events = Vec::new();
                if t.turn
                    .user_text
                    .as_deref()
                    .is_some_and(|s| !s.trim().is_empty())
                {
                    events.push(WebhookEvent::CallTurn {
                        index: t.turn.index,
                        role: Role::User,
                    });
                }
                events.push(WebhookEvent::CallTurn {
                    index: t.turn.index,
                    role: Role::Assistant,
                });
                events
            }
            CallUpdate::Finished(log) => {
                let end = match log.status {
                    CallStatus::Completed => WebhookEvent::CallCompleted,
                    CallStatus::Failed | CallStatus::Incomplete => WebhookEvent::CallFailed,
                };
                vec![end, WebhookEvent::PostCallAnalysis]
            }
        };
        events.iter().map(WebhookEvent::to_string).collect()
    }

    fn wants_live_updates(&self) -> bool {
        true
    }

    async fn deliver_all(&self, entries: &[OutboxEntry]) -> Vec<Outcome> {
        let body = |entry: &OutboxEntry, key: &str| self.body(entry, key);
        self.client.post_each(&self.url, entries, body).await
    }
}
