//! A call's recording and its LiveKit chat history:
//!
//! - `GET /v1/recordings/{callId}` (and `HEAD`, `?traceId=`): the audio the receiver keeps,
//!   with its media type and HTTP Range (206 with `Content-Range`, 416 for a range outside the
//!   file, `Accept-Ranges: bytes` always), so a player can seek; 410 when its audio was removed
//!   (retention, quota); a call with only the agent's `call.recording_url` is redirected there.
//!   The audio is read from wherever it lives (`recordings::audio`: this receiver's file, or
//!   the shared store's chunks, so that any receiver of a fleet serves any recording).
//!   With `expires` and `signature` (a signed link, see `recordings::link`) it needs no API
//!   token, and an expired or altered link is 403.
//! - `GET /v1/observability/calls/{callId}/chat-history`: the chat history a LiveKit worker
//!   uploaded with its recording (its chat items with per-message metrics), as uploaded.

use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use super::error::ApiError;
use super::handlers::{one, TraceParam};
use super::ApiState;
use crate::receiver::calllog::CallLog;
use crate::receiver::recordings::audio::KeptAudio;
use crate::receiver::recordings::link::{LinkError, Signed};
use crate::receiver::recordings::range::Answer;
use crate::receiver::recordings::Recordings;
use crate::receiver::store::RecordingRow;

/// The query of a recording: which call, and the signature of a signed link.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RecordingParams {
    /// The call's trace id.
    pub trace_id: Option<String>,
    /// A signed link's expiry, Unix seconds.
    pub expires: Option<i64>,
    /// A signed link's signature.
    pub signature: Option<String>,
}

fn forbidden(why: impl std::fmt::Display) -> ApiError {
    ApiError {
        status: StatusCode::FORBIDDEN,
        code: "invalid_link",
        message: format!("{why}: ask for a new link"),
    }
}

fn now_secs() -> i64 {
    crate::receiver::store::now_ms() / 1000
}

/// Checks a signed link, when the request is one.
fn check_link(state: &ApiState, call_id: &str, params: &RecordingParams) -> Result<(), ApiError> {
    let Some(signature) = params.signature.as_deref() else {
        return Ok(());
    };
    let (Some(recordings), Some(trace_id), Some(expires)) = (
        &state.recordings,
        params.trace_id.as_deref(),
        params.expires,
    ) else {
        return Err(forbidden(LinkError::Tampered));
    };
    let link = Signed {
        trace_id,
        expires,
        signature,
    };
    recordings
        .links()
        .key()
        .verify(call_id, &link, now_secs())
        .map_err(forbidden)
}

/// `GET /v1/recordings/{callId}` (and `HEAD`).
pub async fn recording(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    params: Result<Query<RecordingParams>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|r| ApiError::invalid_parameter("query", r.body_text()))?;
    check_link(&state, &id, &params)?;
    let trace = Ok(Query(TraceParam {
        trace_id: params.trace_id.clone(),
    }));
    let log = one(&state, "call", id, trace).await?.log;
    let Some(recordings) = state.recordings.clone() else {
        return redirect(&log);
    };
    let (call_id, trace_id) = (log.id.clone(), log.trace_id.clone());
    let found = tokio::task::spawn_blocking(move || recordings.find(&call_id, &trace_id))
        .await
        .map_err(|e| crate::receiver::api::ReadError::new(format!("read task failed: {e}")))?
        .map_err(|e| crate::receiver::api::ReadError::new(e.to_string()))?;
    match found {
        None => redirect(&log),
        Some((row, None)) => Err(gone(&log, &row)),
        Some((row, Some(audio))) => serve(&row, audio, &headers).await,
    }
}

/// The agent's own recording URL, when it is a web URL; else 404.
fn redirect(log: &CallLog) -> Result<Response, ApiError> {
    // Only web URLs: a recording URL is data from the agent's spans and must not send a browser
    // to another scheme.
    match log.recording_url.as_deref() {
        Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
            Ok(Redirect::temporary(url).into_response())
        }
        _ => Err(ApiError {
            status: StatusCode::NOT_FOUND,
            code: "no_recording",
            message: format!("call '{}' has no recording", log.id),
        }),
    }
}

fn gone(log: &CallLog, row: &RecordingRow) -> ApiError {
    ApiError {
        status: StatusCode::GONE,
        code: "recording_removed",
        message: format!(
            "the recording of call '{}' was removed ({})",
            log.id,
            row.removed.as_deref().unwrap_or("gone")
        ),
    }
}

/// The audio, or the part of it the `Range` header asks for.
async fn serve(
    row: &RecordingRow,
    audio: KeptAudio,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let unavailable = |e: std::io::Error| {
        tracing::error!(recording = %row.id, error = %e, "cannot read a recording");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: "reading the recording failed".to_string(),
        }
    };
    let audio = audio.open().await.map_err(unavailable)?;
    let len = audio.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    let answer = Answer::of(range, len);
    let (start, count) = answer.span(len);
    let status = match answer {
        Answer::Full => StatusCode::OK,
        Answer::Partial { .. } => StatusCode::PARTIAL_CONTENT,
        Answer::Unsatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
    };
    let body = if answer == Answer::Unsatisfiable {
        Body::empty()
    } else {
        Body::from_stream(audio.range(start, count).await.map_err(unavailable)?)
    };
    let mut response = (status, body).into_response();
    let h = response.headers_mut();
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if answer != Answer::Unsatisfiable {
        let media = row
            .media_type
            .as_deref()
            .unwrap_or("application/octet-stream");
        if let Ok(v) = HeaderValue::from_str(media) {
            h.insert(header::CONTENT_TYPE, v);
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(count));
    }
    if let Some(v) = answer
        .content_range(len)
        .and_then(|r| HeaderValue::from_str(&r).ok())
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", row.id)) {
        h.insert(header::ETAG, v);
    }
    Ok(response)
}

/// `GET /v1/observability/calls/{callId}/chat-history`
pub async fn chat_history(
    State(state): State<ApiState>,
    Path(id): Path<String>,
    trace: Result<Query<TraceParam>, QueryRejection>,
) -> Result<Response, ApiError> {
    let log = one(&state, "call", id, trace).await?.log;
    let none = || ApiError {
        status: StatusCode::NOT_FOUND,
        code: "no_chat_history",
        message: format!("call '{}' has no chat history", log.id),
    };
    let Some(recordings) = state.recordings.clone() else {
        return Err(none());
    };
    let (call_id, trace_id) = (log.id.clone(), log.trace_id.clone());
    let found = tokio::task::spawn_blocking(move || recordings.chat_history(&call_id, &trace_id))
        .await
        .map_err(|e| crate::receiver::api::ReadError::new(format!("read task failed: {e}")))?
        .map_err(|e| crate::receiver::api::ReadError::new(e.to_string()))?;
    match found {
        Some(json) => Ok(([(header::CONTENT_TYPE, "application/json")], json).into_response()),
        None => Err(none()),
    }
}

/// A call log's `recording.url` as an API answer gives it: a signed path that plays without
/// the API token (a browser's `<audio>` cannot send one).
pub fn sign_recording(mut log: CallLog, recordings: Option<&Recordings>) -> CallLog {
    if let (Some(recordings), Some(_)) = (recordings, &log.recording) {
        let url = recordings.links().signed_path(
            &log.id,
            &log.trace_id,
            now_secs(),
            crate::receiver::recordings::API_LINK_TTL_SECS,
        );
        if let Some(recording) = &mut log.recording {
            recording.url = url;
        }
    }
    log
}
