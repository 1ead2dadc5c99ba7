//! The cekura request of one outbox entry: the observe URL, the idempotency key header, the
//! `CreateCallLog` body.

use super::config::CekuraConfig;
use super::encoder;
use crate::receiver::calllog::CallUpdate;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::sinks::{
    idempotency_header, idempotency_key, json_body, unexpected, HttpRequest,
};
use crate::receiver::store::OutboxEntry;

/// The request, or the outcome when the entry cannot be sent at all.
pub fn build(config: &CekuraConfig, entry: &OutboxEntry) -> Result<HttpRequest, Outcome> {
    let CallUpdate::Finished(log) = &entry.update else {
        return Err(unexpected(entry));
    };
    let key = idempotency_key(entry);
    let body = json_body(&encoder::encode(log, config, &key))?;
    Ok(HttpRequest {
        url: config.url.clone(),
        headers: idempotency_header(&key),
        body,
    })
}
