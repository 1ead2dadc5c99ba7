//! The webhook request of one outbox entry: the URL, the idempotency key header, the event.

use super::config::WebhookConfig;
use super::encoder::{self, WebhookEvent};
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::sinks::{
    idempotency_header, idempotency_key, json_body, unexpected, HttpRequest,
};
use crate::receiver::store::OutboxEntry;

/// The request, or the outcome when the entry cannot be sent at all.
pub fn build(config: &WebhookConfig, entry: &OutboxEntry) -> Result<HttpRequest, Outcome> {
    let event = WebhookEvent::parse(&entry.event).ok_or_else(|| unexpected(entry))?;
    let key = idempotency_key(entry);
    let body = encoder::encode(
        &event,
        &entry.update,
        &config.webhook_id,
        &key,
        entry.created_ms,
    )
    .ok_or_else(|| unexpected(entry))?;
    Ok(HttpRequest {
        url: config.url.clone(),
        headers: idempotency_header(&key),
        body: json_body(&body)?,
    })
}
