//! The console: the receiver's calls, one call, the fleet and the deployments in a browser,
//! served by `voicetrace serve` on the API listener beside the JSON API.
//!
//! Pages are rendered on the server (maud templates) from the store's plain rows
//! ([`ConsoleReader`]); a small hand-written script adds what needs the browser (the list's
//! live rows, selecting a turn, seeking the audio). Every asset is compiled into the binary and
//! every page says so to the browser (`Content-Security-Policy: default-src 'self'`): no page
//! makes a request that leaves the receiver's host.
//!
//! - [`assets`]: the stylesheet, the script and the icon, embedded.
//! - [`layout`]: the page shell and the formatting every page shares.
//! - [`filters`]: the calls list's URL parameters as a store query (shareable URLs).
//! - [`calls`]: the calls page (`/`) and its rows fragment; [`live`]: the finished-call stream.
//! - [`call`]: one call (`/calls/{callId}`): header, deliveries, timeline, latency, transcript,
//!   events and logs, issues, the audio player; [`timeline`]: the pure geometry it draws.
//! - [`fleet`]: per agent and stage latency over time, calls, issues, interruptions;
//!   [`chart`]: its SVG charts.
//! - [`deployments`]: each deployment with its calls and their logs.
//! - [`signin`]: the sign-in form and the cookie that keeps the API token.
//!
//! Routes are [`routes`]; the JSON API's are [`crate::receiver::api::routes`] (and only those
//! are in `/openapi.json`).

pub mod assets;
pub mod call;
pub mod calls;
pub mod chart;
pub mod deployments;
pub mod filters;
pub mod fleet;
pub mod layout;
pub mod live;
pub mod signin;
pub mod timeline;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tokio::sync::{broadcast, watch};

use crate::receiver::api::ReadError;
use crate::receiver::auth::BearerToken;
use crate::receiver::calllog::CallLog;
use crate::receiver::query::ConsoleReader;

/// Re-queues a sink's dead letters (the forwarder, which also wakes the sink's loop).
pub trait Requeue: Send + Sync + 'static {
    /// Re-queues every dead letter of `sink`; how many.
    fn retry_dead(&self, sink: &str) -> Result<usize, ReadError>;
}

impl Requeue for crate::receiver::forward::Forwarder {
    fn retry_dead(&self, sink: &str) -> Result<usize, ReadError> {
        crate::receiver::forward::Forwarder::retry_dead(self, sink)
            .map_err(|e| ReadError::new(e.to_string()))
    }
}

/// What the console's handlers share.
#[derive(Clone)]
pub struct ConsoleState {
    /// Where calls, rows and aggregates are read.
    pub reader: Arc<dyn ConsoleReader>,
    /// Re-queues dead letters (none: the console offers no retry).
    pub requeue: Option<Arc<dyn Requeue>>,
    /// The finished-call broadcast (the live list).
    pub finished: broadcast::Sender<Arc<CallLog>>,
    /// Set when the receiver stops: live streams end so the server can.
    pub stop: watch::Receiver<bool>,
    /// `--trace-url-template`: the trace button of a call.
    pub trace_url_template: Option<String>,
    /// The API token, when one is required (the sign-in form checks it).
    pub token: Option<BearerToken>,
    /// Whether the listener speaks TLS (the cookie is then `Secure`).
    pub tls: bool,
}

/// The console's routes.
pub fn routes() -> Vec<(&'static str, MethodRouter<ConsoleState>)> {
    vec![
        ("/", get(calls::page)),
        ("/calls/{callId}", get(call::page)),
        ("/calls/{callId}/calllog.json", get(call::download)),
        ("/fleet", get(fleet::page)),
        ("/deployments", get(deployments::list)),
        ("/deployments/{deploymentId}", get(deployments::page)),
        ("/console/rows", get(calls::rows)),
        ("/console/live", get(live::stream)),
        ("/console/sinks/{sink}/retry-dead", post(retry_dead)),
        ("/console/signin", get(signin::form).post(signin::submit)),
        ("/console/signout", post(signin::sign_out)),
        ("/console/assets/{file}", get(assets::serve)),
    ]
}

/// Paths open without a token: what the sign-in page itself needs.
pub fn is_open(path: &str) -> bool {
    path == "/console/signin" || path == "/console/signout" || path.starts_with("/console/assets/")
}

/// Paths that are pages a person opens (answered with the sign-in form when refused, instead of
/// the JSON API's 401).
pub fn is_page(path: &str) -> bool {
    path == "/"
        || path == "/fleet"
        || path.starts_with("/deployments")
        || (path.starts_with("/calls/") && !path.ends_with(".json"))
}

/// The console's router (merged with the API's on the API listener).
pub fn router(state: ConsoleState) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
        .with_state(state)
}

/// Runs a store read on the blocking pool (the store is SQLite).
pub(crate) async fn read<T, F>(state: &ConsoleState, f: F) -> Result<T, ReadError>
where
    T: Send + 'static,
    F: FnOnce(&dyn ConsoleReader) -> Result<T, ReadError> + Send + 'static,
{
    let reader = state.reader.clone();
    tokio::task::spawn_blocking(move || f(reader.as_ref()))
        .await
        .map_err(|e| ReadError::Store(format!("read task failed: {e}")))?
}

/// Whether pages offer to sign out (an API token is required).
pub(crate) fn sign_out(state: &ConsoleState) -> layout::SignOut {
    match state.token {
        Some(_) => layout::SignOut::Offered,
        None => layout::SignOut::Hidden,
    }
}

/// `POST /console/sinks/{sink}/retry-dead`: re-queues the sink's dead letters, then back to
/// where the form was (a same-origin form only: another site's page cannot post here).
async fn retry_dead(
    State(state): State<ConsoleState>,
    Path(sink): Path<String>,
    headers: HeaderMap,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    let Some(requeue) = state.requeue.clone() else {
        return (StatusCode::NOT_FOUND, "this console cannot re-queue").into_response();
    };
    let name = sink.clone();
    let done = tokio::task::spawn_blocking(move || requeue.retry_dead(&name)).await;
    match done {
        Ok(Ok(n)) => {
            tracing::info!(
                sink,
                requeued = n,
                "dead letters re-queued from the console"
            );
            let back = headers
                .get(header::REFERER)
                .and_then(|v| v.to_str().ok())
                .and_then(local_path)
                .unwrap_or("/fleet")
                .to_string();
            Redirect::to(&back).into_response()
        }
        Ok(Err(e)) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// Whether a state-changing request comes from a page of this host: its `Origin` (browsers
/// send it on every POST) names the `Host` it was sent to.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    match (text(header::ORIGIN), text(header::HOST)) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, authority)| authority == host),
        (Some(_), None) => false,
    }
}

/// The path (and query) of a URL of this host, for redirects that must stay here: `/x` stays,
/// `//evil` and `https://evil/` do not; a full URL keeps only its path.
pub fn local_path(url: &str) -> Option<&str> {
    let path = match url.split_once("://") {
        Some((_, rest)) => &rest[rest.find('/')?..],
        None => url,
    };
    (path.starts_with('/') && !path.starts_with("//") && !path.contains('\\')).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_stay_on_this_host() {
        assert_eq!(local_path("/calls/a?traceId=b"), Some("/calls/a?traceId=b"));
        assert_eq!(local_path("http://127.0.0.1:9/fleet"), Some("/fleet"));
        assert_eq!(local_path("//evil.example/"), None);
        assert_eq!(local_path("https://evil.example"), None);
        assert_eq!(local_path("/\\evil"), None);
        assert_eq!(local_path("fleet"), None);
    }

    #[test]
    fn only_this_hosts_pages_may_post() {
        let headers = |origin: Option<&str>| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
            if let Some(o) = origin {
                h.insert(header::ORIGIN, o.parse().unwrap());
            }
            h
        };
        assert!(same_origin(&headers(Some("http://127.0.0.1:8080"))));
        assert!(same_origin(&headers(None)));
        assert!(!same_origin(&headers(Some("http://evil.example"))));
        assert!(!same_origin(&headers(Some("null"))));
    }

    #[test]
    fn pages_and_open_paths() {
        assert!(is_page("/") && is_page("/calls/x") && is_page("/fleet"));
        assert!(!is_page("/calls/x/calllog.json") && !is_page("/v1/observability/calls"));
        assert!(is_open("/console/assets/console.css") && is_open("/console/signin"));
        assert!(!is_open("/console/rows") && !is_open("/"));
    }
}
