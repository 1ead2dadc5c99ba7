//! The fleet's relay: call logs that OTHER receivers stored in a shared store, onto this
//! receiver's broadcast of finished call logs, so that the console's live list and `WatchCalls`
//! show every call of the fleet, whichever receiver assembled it.
//!
//! The store says what others stored ([`Store::subscribe_stored`]: the PostgreSQL backend
//! listens for the `NOTIFY` every storing transaction sends; SQLite has no others and says
//! nothing); the relay reads each of those revisions from the store, in the order they were
//! announced, and sends it on the same broadcast the recorder sends this receiver's own call
//! logs on. Each call log goes out once: the store never announces this receiver's own (the
//! recorder announces those), nor the same revision twice.

use std::sync::Arc;

use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::Store;
use crate::receiver::calllog::CallLog;

/// A call log revision that another receiver stored, as the store announces it: what names it,
/// nothing of its body (read it with [`Store::call_revision`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StoredCall {
    /// The call id.
    pub call_id: String,
    /// The trace id.
    pub trace_id: String,
    /// The revision stored.
    pub revision: u32,
}

/// Subscribes to what other receivers store (now: nothing announced after this call is
/// missed) and relays it onto `finished` until `stop` says so. A store shared with no one
/// (SQLite) gives a task that ends at once.
pub fn spawn(
    store: Store,
    finished: broadcast::Sender<Arc<CallLog>>,
    stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let stored = store.subscribe_stored();
    tokio::spawn(async move {
        if let Some(stored) = stored {
            run(store, stored, finished, stop).await;
        }
    })
}

async fn run(
    store: Store,
    mut stored: broadcast::Receiver<StoredCall>,
    finished: broadcast::Sender<Arc<CallLog>>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let next = tokio::select! {
            _ = stop.wait_for(|s| *s) => return,
            next = stored.recv() => next,
        };
        match next {
            Ok(call) => {
                if let Some(log) = read(&store, call).await {
                    let _ = finished.send(Arc::new(log));
                }
            }
            Err(RecvError::Lagged(missed)) => tracing::warn!(
                missed,
                "fell behind the call logs other receivers stored: those are not shown live \
                 (the lists show them)"
            ),
            Err(RecvError::Closed) => return,
        }
    }
}

/// The revision announced, from the store (on the blocking pool); `None` when it cannot be read
/// (logged) or is gone.
async fn read(store: &Store, call: StoredCall) -> Option<CallLog> {
    let store = store.clone();
    let read = tokio::task::spawn_blocking(move || {
        let log = store.call_revision(&call.call_id, &call.trace_id, call.revision);
        (call, log)
    })
    .await;
    match read {
        Ok((_, Ok(log))) => log,
        Ok((call, Err(e))) => {
            tracing::warn!(
                call_id = %call.call_id, trace_id = %call.trace_id, revision = call.revision,
                error = %e, "cannot read a call log another receiver stored"
            );
            None
        }
        Err(_) => None,
    }
}
