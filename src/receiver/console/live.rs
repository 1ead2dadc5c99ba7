//! `GET /console/live`: server-sent events, one `call` event per call log stored (first
//! revisions and revisions), from the receiver's finished-call broadcast. The event names the
//! call only (`{"callId", "traceId"}`): the page fetches its rows again with its own filters.
//! The stream ends when the receiver stops, so a clean stop never waits on an open page.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use tokio::sync::broadcast::error::RecvError;

use super::ConsoleState;

/// How often an idle stream sends a comment, so proxies keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// `GET /console/live`
pub async fn stream(
    State(state): State<ConsoleState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let calls = state.finished.subscribe();
    let stop = state.stop.clone();
    let events = stream::unfold((calls, stop), |(mut calls, mut stop)| async move {
        if *stop.borrow() {
            return None;
        }
        let data = tokio::select! {
            _ = stop.changed() => return None,
            next = calls.recv() => match next {
                Ok(log) => serde_json::json!({"callId": log.id, "traceId": log.trace_id}),
                // Missed some: one event makes the page look again all the same.
                Err(RecvError::Lagged(_)) => serde_json::json!({}),
                Err(RecvError::Closed) => return None,
            },
        };
        let event = Event::default().event("call").data(data.to_string());
        Some((Ok(event), (calls, stop)))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
}
