//! The sinks. Each kind is one module that holds everything the kind knows: its `[[sinks]]`
//! settings (its struct in [`SinkConfig`]), which updates it wants (its outbox events), how
//! many attempts and entries it takes at once, and what it sends (its encoder, pure). The HTTP
//! sinks (cekura, webhook, http) share one transport, [`post`]; the jsonl sink writes a file.
//!
//! A call log entry carries the call log JSON as stored (encoded once, by the store): the sinks
//! that send the canonical call log (jsonl, http) send those bytes ([`call_log_json`]); the
//! others decode it ([`finished_log`]) and encode their own body from the typed call log, as
//! must any sink whose body differs from the stored one (one that redacts, say).
//!
//! The delivery loop ([`super`]) knows a sink only through [`Sink`]. A new kind is a module
//! here implementing [`Deliver`], a variant of [`SinkConfig`] (and of [`SinkKind`]), and an arm
//! in [`Sink::build`].
//!
//! [`SinkKind`]: super::SinkKind

pub mod cekura;
pub mod http;
pub mod jsonl;
pub mod post;
pub mod transcript;
pub mod webhook;

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::config::SinkConfig;
use super::outcome::Outcome;
use super::ForwardError;
use crate::receiver::calllog::{CallLog, CallUpdate};
use crate::receiver::recordings::link::Links;
use crate::receiver::redact::Redactor;
use crate::receiver::store::{OutboxEntry, Payload};

/// The header carrying the idempotency key of every request (`Idempotency-Key`; header names
/// are case-insensitive, and `http` wants them lowercase).
pub const IDEMPOTENCY_KEY_HEADER: &str = "idempotency-key";

/// The event of sinks that send one call log per revision.
pub const CALL_LOG_EVENT: &str = "call_log";

/// What a kind of sink answers for itself. Only [`Deliver::deliver_all`] has no default: the
/// defaults are those of a sink that sends each finished call log once per revision, one
/// request at a time, as many at once as configured.
#[async_trait::async_trait]
pub trait Deliver: fmt::Debug + Send + Sync {
    /// The outbox events this sink wants for an update (none: the update is not for it).
    fn events_for(&self, update: &CallUpdate) -> Vec<String> {
        match update {
            CallUpdate::Finished(_) => vec![CALL_LOG_EVENT.to_string()],
            _ => Vec::new(),
        }
    }

    /// Whether the sink wants live updates (`Started`, `TurnCompleted`), not only finished
    /// call logs: assembly only produces them when some sink does.
    fn wants_live_updates(&self) -> bool {
        false
    }

    /// Attempts in flight at once, given the configured `concurrency`.
    fn concurrency(&self, configured: usize) -> usize {
        configured.max(1)
    }

    /// Entries handed to one attempt at most.
    fn max_batch(&self) -> usize {
        // One request carries one call log: the ingest APIs take one at a time.
        1
    }

    /// One delivery attempt of up to [`Deliver::max_batch`] entries (of different calls): one
    /// outcome per entry, in order.
    async fn deliver_all(&self, entries: &[OutboxEntry]) -> Vec<Outcome>;
}

/// One configured sink, of any kind: the kind's delivery, and, for a sink marked
/// `redact = true`, the redaction every entry goes through before any kind encodes it
/// (applied here, once, for all kinds).
#[derive(Debug)]
pub struct Sink {
    kind: Box<dyn Deliver>,
    redactor: Option<Arc<Redactor>>,
}

impl Sink {
    /// Builds the sink from its configuration (checks it, resolves its secret, builds its HTTP
    /// client).
    /// `links` signs the recording links the cekura and webhook sinks send (none without a
    /// public URL).
    pub fn build(config: &SinkConfig, links: Option<&Links>) -> Result<Sink, ForwardError> {
        config.validate()?;
        let name = config.name();
        let links = links.cloned();
        let kind: Box<dyn Deliver> = match config {
            SinkConfig::Cekura(c) => Box::new(cekura::CekuraSink::new(name, c, links)?),
            SinkConfig::Webhook(c) => Box::new(webhook::WebhookSink::new(name, c, links)?),
            SinkConfig::Http(c) => Box::new(http::HttpSink::new(name, c)?),
            SinkConfig::Jsonl(c) => Box::new(jsonl::JsonlSink::new(name, c)?),
        };
        Ok(Sink {
            kind,
            redactor: None,
        })
    }

    /// The sink, sending every entry through `redactor` first.
    pub fn redacting(self, redactor: Arc<Redactor>) -> Sink {
        Sink {
            redactor: Some(redactor),
            ..self
        }
    }

    /// The outbox events this sink wants for an update (none: the update is not for it).
    pub fn events_for(&self, update: &CallUpdate) -> Vec<String> {
        self.kind.events_for(update)
    }

    /// Whether the sink wants live updates, not only finished call logs.
    pub fn wants_live_updates(&self) -> bool {
        self.kind.wants_live_updates()
    }

    /// Attempts in flight at once, given the configured `concurrency`.
    pub fn concurrency(&self, configured: usize) -> usize {
        self.kind.concurrency(configured)
    }

    /// Entries handed to one attempt at most.
    pub fn max_batch(&self) -> usize {
        self.kind.max_batch()
    }

    /// One delivery attempt of up to [`Sink::max_batch`] entries: one outcome per entry, in
    /// order.
    pub async fn deliver_all(&self, entries: &[OutboxEntry]) -> Vec<Outcome> {
        let Some(redactor) = &self.redactor else {
            return self.kind.deliver_all(entries).await;
        };
        // An entry that cannot be redacted (its stored JSON does not parse) is never sent
        // as it is: it gets its own outcome, the others are delivered redacted.
        let prepared: Vec<Result<OutboxEntry, Outcome>> = entries
            .iter()
            .map(|entry| redacted_entry(redactor, entry))
            .collect();
        let sendable: Vec<OutboxEntry> = prepared.iter().filter_map(|p| p.clone().ok()).collect();
        let mut delivered = self.kind.deliver_all(&sendable).await.into_iter();
        prepared
            .into_iter()
            .map(|p| match p {
                Ok(_) => delivered.next().unwrap_or_else(|| Outcome::Rejected {
                    status: None,
                    reason: "the sink answered fewer outcomes than entries".into(),
                }),
                Err(refused) => refused,
            })
            .collect()
    }
}

/// The entry with its update redacted; a call log is encoded again from the redacted one.
fn redacted_entry(redactor: &Redactor, entry: &OutboxEntry) -> Result<OutboxEntry, Outcome> {
    let mut update = typed_update(entry)?.into_owned();
    redactor.update(&mut update);
    let payload = match update {
        CallUpdate::Finished(log) => match serde_json::to_string(&log) {
            Ok(json) => Payload::CallLog(Arc::from(json)),
            Err(e) => {
                return Err(Outcome::Rejected {
                    status: None,
                    reason: format!("the redacted call log does not encode: {e}"),
                })
            }
        },
        live => Payload::Live(Box::new(live)),
    };
    Ok(OutboxEntry {
        payload,
        ..entry.clone()
    })
}

/// The idempotency key of an entry: `{call_id}:{trace_id}:{revision}` (a call is its call id
/// and its trace: two calls sharing an id have different keys), plus `:{event}` for sinks that
/// send several requests per revision (webhooks).
pub fn idempotency_key(entry: &OutboxEntry) -> String {
    let trace_id = &entry.trace_id;
    if entry.event == CALL_LOG_EVENT {
        format!("{}:{trace_id}:{}", entry.call_id, entry.revision)
    } else {
        format!(
            "{}:{trace_id}:{}:{}",
            entry.call_id, entry.revision, entry.event
        )
    }
}

/// The stored call log JSON of an entry, for sinks that send the canonical call log as is.
pub fn call_log_json(entry: &OutboxEntry) -> Result<&str, Outcome> {
    entry
        .payload
        .call_log_json()
        .ok_or_else(|| unexpected(entry))
}

/// The update of an entry, typed (a call log is decoded from its stored JSON), for sinks that
/// encode their own body.
pub fn typed_update(entry: &OutboxEntry) -> Result<Cow<'_, CallUpdate>, Outcome> {
    entry.payload.update().map_err(|e| Outcome::Rejected {
        status: None,
        reason: format!("the stored call log does not parse: {e}"),
    })
}

/// The call log of an entry of a sink that sends finished call logs, typed.
pub fn finished_log(entry: &OutboxEntry) -> Result<CallLog, Outcome> {
    match typed_update(entry)?.into_owned() {
        CallUpdate::Finished(log) => Ok(*log),
        _ => Err(unexpected(entry)),
    }
}

/// A signed link to the receiver's copy of a call's recording, valid from now, for sinks that
/// send one; `None` when the call has no recording or the receiver no public URL.
pub fn recording_link(links: Option<&Links>, log: &CallLog) -> Option<String> {
    log.recording.as_ref()?;
    links?.public(
        &log.id,
        &log.trace_id,
        crate::receiver::store::now_ms() / 1000,
    )
}

/// A JSON body, or the reason it cannot be built (a dead letter: retrying would not help).
pub fn json_body<T: serde::Serialize + ?Sized>(value: &T) -> Result<Vec<u8>, Outcome> {
    serde_json::to_vec(value).map_err(|e| Outcome::Rejected {
        status: None,
        reason: format!("cannot encode the body: {e}"),
    })
}

/// An entry whose update does not match its event (a store written by another version):
/// parked rather than retried forever.
pub fn unexpected(entry: &OutboxEntry) -> Outcome {
    Outcome::Rejected {
        status: None,
        reason: format!(
            "entry {} ({}) does not carry what its event needs",
            entry.id, entry.event
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::calllog::{bare_call_log, CallStarted};
    use crate::receiver::forward::config::SinkKind;
    use crate::receiver::forward::{Extras, ForwardError, Forwarder};
    use crate::receiver::redact::{RedactionConfig, Redactor};
    use crate::receiver::store::Store;

    #[test]
    fn each_kind_answers_for_its_events_concurrency_and_batch() {
        let started = CallUpdate::Started(CallStarted {
            call_id: "c".into(),
            trace_id: "0".repeat(32),
            agent_id: None,
            started_at: "2026-03-21T10:00:00Z".into(),
        });
        let answers = |kind: SinkKind, target: &str| {
            let mut config = SinkConfig::new(kind, target);
            config.shared_mut().concurrency = 3;
            let sink = Sink::build(&config, None).unwrap();
            (
                sink.wants_live_updates(),
                sink.events_for(&started).len(),
                sink.concurrency(3),
                sink.max_batch(),
            )
        };
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("calls.jsonl");
        assert_eq!(
            answers(SinkKind::Webhook, "http://127.0.0.1:9/h"),
            (true, 1, 3, 1)
        );
        assert_eq!(
            answers(SinkKind::Http, "http://127.0.0.1:9/h"),
            (false, 0, 3, 1)
        );
        assert_eq!(
            answers(SinkKind::Jsonl, &file.display().to_string()),
            (false, 0, 1, jsonl::MAX_LINES_PER_WRITE)
        );
    }

    fn entry(log: CallLog) -> OutboxEntry {
        OutboxEntry {
            id: 1,
            sink: "jsonl".into(),
            call_id: log.id.clone(),
            trace_id: log.trace_id.clone(),
            revision: 1,
            event: CALL_LOG_EVENT.into(),
            payload: Payload::CallLog(Arc::from(serde_json::to_string(&log).unwrap())),
            attempts: 0,
            created_ms: 0,
            enqueued_ms: 0,
        }
    }

    #[tokio::test]
    async fn a_redacting_sink_sends_what_the_redactor_leaves() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("calls.jsonl");
        let config = SinkConfig::new(SinkKind::Jsonl, file.display().to_string());
        let redactor = Arc::new(Redactor::new(&RedactionConfig::default()).unwrap());
        let sink = Sink::build(&config, None).unwrap().redacting(redactor);
        let mut log = bare_call_log("c1");
        log.end_reason = Some("card 4111 1111 1111 1111, order A-1042".into());
        let outcomes = sink.deliver_all(&[entry(log)]).await;
        assert!(
            matches!(outcomes[..], [Outcome::Delivered { .. }]),
            "{outcomes:?}"
        );
        let written = std::fs::read_to_string(&file).unwrap();
        assert!(
            written.contains("card <CREDIT_CARD>, order A-1042"),
            "{written}"
        );
        assert!(
            written.contains(r#""redactions":{"credit_card":1}"#),
            "{written}"
        );
    }

    #[tokio::test]
    async fn a_sink_marked_redact_needs_redaction_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut config = SinkConfig::new(SinkKind::Http, "http://127.0.0.1:9/x");
        config.shared_mut().redact = true;
        let refused = Forwarder::start_with(store.clone(), vec![config.clone()], Extras::default());
        assert!(matches!(refused, Err(ForwardError::RedactionOff(name)) if name == "http"));
        let redactor = Arc::new(Redactor::new(&RedactionConfig::default()).unwrap());
        let extras = Extras {
            links: None,
            redactor: Some(redactor),
        };
        let started = Forwarder::start_with(store, vec![config], extras).unwrap();
        started.shutdown().await;
    }
}
