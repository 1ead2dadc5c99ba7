//! The `webhook` sink: Cartesia-style events (`reference/cartesia-observability.md`) to one URL,
//! with the `x-webhook-secret` header: `call_started` when a call's first spans arrive,
//! `call_turn` for each utterance of a completed turn, `call_completed` / `call_failed` with the
//! `call` object and its transcript, then `post_call_analysis` with metrics and issues.

pub mod config;
pub mod encoder;
pub mod request;
pub mod response;

use reqwest::header::HeaderName;

use super::HttpService;
use crate::receiver::calllog::{CallStatus, CallUpdate};
use crate::receiver::forward::config::SinkConfig;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::ForwardError;
use crate::receiver::store::OutboxEntry;
use encoder::{Role, WebhookEvent};

/// The header carrying the shared secret.
pub const SECRET_HEADER: &str = "x-webhook-secret";

/// A webhook sink.
#[derive(Debug)]
pub struct WebhookSink {
    config: config::WebhookConfig,
    service: HttpService,
}

impl WebhookSink {
    /// Builds the sink; the secret is optional.
    pub fn new(sink: &SinkConfig) -> Result<WebhookSink, ForwardError> {
        let (config, secret) = config::WebhookConfig::from_sink(sink)?;
        let service = HttpService::new(
            sink,
            secret,
            Some((HeaderName::from_static(SECRET_HEADER), str::to_string)),
        )?;
        Ok(WebhookSink { config, service })
    }

    /// The events of an update, in the order they are to arrive.
    pub fn events_for(&self, update: &CallUpdate) -> Vec<String> {
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

    /// One attempt.
    pub async fn deliver(&self, entry: &OutboxEntry) -> Outcome {
        match request::build(&self.config, entry) {
            Ok(request) => self.service.send(request, response::classify).await,
            Err(outcome) => outcome,
        }
    }
}
