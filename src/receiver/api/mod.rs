//! The HTTP API: call logs, root causes and interruption quality as JSON, Prometheus
//! `/metrics`, health checks and the OpenAPI document.
//!
//! Shapes follow the Persona-style observability API (`/v1/observability/sessions/...`, with
//! `/calls/...` equivalents). The API only reads: call logs come from a [`CallReader`] (the store
//! implements it), metrics from [`ReceiverMetrics`].
//!
//! - [`params`]: query parameters (agentId, status, since, until, limit, cursor) and their errors.
//! - [`handlers`]: one function per route; [`recordings`]: a call's recording (with Range) and
//!   chat history.
//! - [`error`]: `{"error": {"code", "message"}}` answers.
//! - [`openapi`]: the OpenAPI 3 document of exactly the routes of [`router`].
//! - [`text`]: the tables `voicetrace calls` and `voicetrace call ID` print.

pub mod error;
pub mod grpc;
pub mod handlers;
pub mod openapi;
pub mod params;
pub mod recordings;
pub mod text;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use axum::routing::{get, MethodRouter};
use axum::Router;

use crate::receiver::calllog::{CallLog, CallPage, CallQuery, SameIdCall};
use crate::receiver::metrics::ReceiverMetrics;

/// Why call logs could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The list cursor was not one the store handed out.
    #[error("invalid cursor: {0}")]
    InvalidCursor(String),
    /// The store cannot answer right now (busy, shutting down); the client may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Any other failure of the store.
    #[error("store error: {0}")]
    Store(String),
}

impl ReadError {
    /// A store failure with this message (answered as 500).
    pub fn new(message: impl Into<String>) -> Self {
        ReadError::Store(message.into())
    }

    /// A cursor the store cannot decode (answered as 400 naming `cursor`).
    pub fn invalid_cursor(message: impl Into<String>) -> Self {
        ReadError::InvalidCursor(message.into())
    }
}

/// One call as the API answers it: its latest call log, and the other calls stored with the
/// same call id (other traces), newest first.
#[derive(Debug, Clone, PartialEq)]
pub struct FoundCall {
    /// The latest revision of the call's log.
    pub log: CallLog,
    /// The other calls with this id.
    pub same_id: Vec<SameIdCall>,
}

/// Read access to stored call logs. The store implements it.
pub trait CallReader: Send + Sync + 'static {
    /// The latest revision of one call log: of the call of `trace_id` when given, else of the
    /// most recent call with this id; `None` when there is no such call.
    fn get_call(&self, id: &str, trace_id: Option<&str>) -> Result<Option<FoundCall>, ReadError>;
    /// One page of call logs matching the query, newest first.
    fn list_calls(&self, q: &CallQuery) -> Result<CallPage, ReadError>;
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// Where call logs are read from.
    pub calls: Arc<dyn CallReader>,
    /// The receiver's metrics, served at `/metrics`.
    pub metrics: ReceiverMetrics,
    /// `--trace-url-template`: fills `links.trace` of every call log served.
    pub trace_url_template: Option<String>,
    /// Set once the receiver is up (store open, journal replayed); `/readyz` answers 503 before.
    pub ready: Arc<AtomicBool>,
    /// The recordings the receiver keeps; `None`: only agents' recording URLs (redirects).
    pub recordings: Option<crate::receiver::recordings::Recordings>,
}

/// Every route the API serves: its path (OpenAPI and axum 0.8 share the `{param}` syntax) and
/// its handler. [`router`] and the OpenAPI document are both checked against this list.
pub fn routes() -> Vec<(&'static str, MethodRouter<ApiState>)> {
    vec![
        ("/v1/observability/sessions", get(handlers::list_sessions)),
        (
            "/v1/observability/sessions/interruption-quality",
            get(handlers::interruption_quality),
        ),
        (
            "/v1/observability/sessions/{sessionId}",
            get(handlers::get_session),
        ),
        (
            "/v1/observability/sessions/{sessionId}/root-cause",
            get(handlers::session_root_cause),
        ),
        ("/v1/observability/calls", get(handlers::list_calls)),
        ("/v1/observability/calls/{callId}", get(handlers::get_call)),
        (
            "/v1/observability/calls/{callId}/root-cause",
            get(handlers::call_root_cause),
        ),
        (
            "/v1/observability/calls/{callId}/chat-history",
            get(recordings::chat_history),
        ),
        ("/v1/recordings/{callId}", get(recordings::recording)),
        ("/healthz", get(handlers::healthz)),
        ("/readyz", get(handlers::readyz)),
        ("/metrics", get(handlers::metrics)),
        ("/openapi.json", get(handlers::openapi_json)),
    ]
}

/// The paths of [`routes`].
pub fn route_paths() -> Vec<&'static str> {
    routes().into_iter().map(|(path, _)| path).collect()
}

/// The API router, ready for `axum::serve`.
pub fn router(state: ApiState) -> Router {
    routes()
        .into_iter()
        .fold(Router::new(), |router, (path, handler)| {
            router.route(path, handler)
        })
        .fallback(handlers::route_not_found)
        .method_not_allowed_fallback(handlers::method_not_allowed)
        .with_state(state)
}
