//! The http request of one outbox entry: the URL, the idempotency key header, the call log.

use super::config::HttpConfig;
use super::encoder;
use crate::receiver::calllog::CallUpdate;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::sinks::{
    idempotency_header, idempotency_key, unexpected, HttpRequest,
};
use crate::receiver::store::OutboxEntry;

/// The request, or the outcome when the entry cannot be sent at all.
pub fn build(config: &HttpConfig, entry: &OutboxEntry) -> Result<HttpRequest, Outcome> {
    let CallUpdate::Finished(log) = &entry.update else {
        return Err(unexpected(entry));
    };
    let body = encoder::encode(log).map_err(|e| Outcome::Rejected {
        status: None,
        reason: format!("cannot encode the call log: {e}"),
    })?;
    Ok(HttpRequest {
        url: config.url.clone(),
        headers: idempotency_header(&idempotency_key(entry)),
        body,
    })
}
