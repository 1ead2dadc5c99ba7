//! Error answers: `{"error": {"code", "message"}}` with the status that fits.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::ReadError;

/// An API error: its status, a stable machine-readable code and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// `not_found`, `invalid_parameter`, `no_recording`, ...
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
}

impl ApiError {
    /// 400: a query parameter is malformed; the message names it.
    pub fn invalid_parameter(name: &str, why: impl std::fmt::Display) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            code: "invalid_parameter",
            message: format!("invalid query parameter '{name}': {why}"),
        }
    }

    /// 404: no call with this id.
    pub fn call_not_found(kind: &str, id: &str) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            message: format!("no {kind} with id '{id}'"),
        }
    }
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::InvalidCursor(why) => ApiError::invalid_parameter("cursor", why),
            ReadError::Unavailable(why) => {
                tracing::warn!(%why, "store unavailable for an API read");
                ApiError {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    code: "unavailable",
                    message: "the call store is unavailable, retry later".to_string(),
                }
            }
            ReadError::Store(why) => {
                tracing::error!(%why, "store read failed");
                ApiError {
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    code: "internal",
                    message: "reading the call store failed".to_string(),
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": self.code, "message": self.message}});
        (self.status, Json(body)).into_response()
    }
}
