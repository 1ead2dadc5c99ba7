//! Recording uploads, on the OTLP/HTTP listener where agents already send:
//!
//! - `PUT /v1/recordings/{callId}` (`?traceId=` optional): the body is the audio (WAV,
//!   OGG/Opus, MP3 or FLAC, by `Content-Type`), streamed to disk; `X-Recording-Start` (RFC
//!   3339) says when its first sample was captured. 201 with what its header said.
//! - `POST /observability/recordings/v0`: LiveKit's upload at the end of a job (multipart
//!   `header`, `chat_history`, `audio`; see `recordings::livekit`). 200.
//!
//! Neither body is ever held whole in memory: the audio goes to a temporary file as it
//! arrives, and past `max_recording_bytes` (declared or streamed) the upload is answered 413
//! and its file removed. Errors are `{"error": {"code", "message"}}`, as the API's.

use axum::body::Body;
use axum::extract::multipart::{Field, Multipart, MultipartRejection};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{post, put};
use axum::{Json, Router};
use prost::Message;
use serde_json::json;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tokio_stream::StreamExt;

use crate::receiver::api::error::ApiError;
use crate::receiver::recordings::files::{Incoming, Received};
use crate::receiver::recordings::livekit::{
    MetricsRecordingHeader, PART_AUDIO, PART_CHAT_HISTORY, PART_HEADER,
};
use crate::receiver::recordings::media::{MediaError, MediaType};
use crate::receiver::recordings::{KeepError, Recordings, Upload};
use crate::receiver::store::{now_ms, RecordingRow};

/// The generic upload's path.
pub const PUT_PATH: &str = "/v1/recordings/{callId}";
/// LiveKit's upload path.
pub const LIVEKIT_PATH: &str = "/observability/recordings/v0";
/// The header saying when the audio's first sample was captured.
pub const RECORDING_START_HEADER: &str = "x-recording-start";

/// LiveKit's `header` part at most: a protobuf of ids, times and room tags, far under this.
const MAX_HEADER_PART_BYTES: usize = 64 * 1024;
/// LiveKit's `chat_history` part at most (held in memory and stored whole): the same bound as
/// an OTLP body, hours of conversation.
const MAX_CHAT_HISTORY_BYTES: usize = crate::receiver::ingest::MAX_BODY_BYTES;
/// An upload whose body has not fully arrived this long after its headers is answered 408: a
/// 256 MiB recording takes under 4 minutes at 10 Mbit/s.
const UPLOAD_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The upload routes (no body limit of their own: [`Recordings`] bounds each recording).
pub fn router(recordings: Recordings) -> Router {
    Router::new()
        .route(PUT_PATH, put(put_recording))
        .route(LIVEKIT_PATH, post(livekit_upload))
        .layer(DefaultBodyLimit::disable())
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            UPLOAD_BODY_TIMEOUT,
        ))
        .with_state(recordings)
}

/// `?traceId=` of the generic upload.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PutParams {
    trace_id: Option<String>,
}

fn error(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError {
        status,
        code,
        message: message.into(),
    }
}

/// 413, counted.
fn too_large(recordings: &Recordings) -> ApiError {
    recordings.metrics().recording_refused("too_large");
    let max = recordings.limits().max_recording_bytes;
    error(
        StatusCode::PAYLOAD_TOO_LARGE,
        "recording_too_large",
        format!("a recording is at most {max} bytes"),
    )
}

fn media_refused(recordings: &Recordings, e: &MediaError) -> ApiError {
    let (status, reason, code) = match e {
        MediaError::Unsupported(_) | MediaError::Mismatch { .. } => (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media",
            "unsupported_media_type",
        ),
        MediaError::Unreadable { .. } | MediaError::Io(_) => {
            (StatusCode::BAD_REQUEST, "unreadable", "invalid_recording")
        }
    };
    recordings.metrics().recording_refused(reason);
    error(status, code, e.to_string())
}

fn keep_failed(recordings: &Recordings, e: KeepError) -> ApiError {
    match e {
        KeepError::Media(e) => media_refused(recordings, &e),
        other => {
            tracing::error!(error = %other, "cannot keep a recording");
            error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the recording could not be stored, retry later",
            )
        }
    }
}

fn io_failed(e: std::io::Error) -> ApiError {
    tracing::error!(error = %e, "cannot write a recording");
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the recording could not be written, retry later",
    )
}

/// Why a body stopped arriving: 408 when the upload's time ran out, else 400.
fn body_failed(e: &(dyn std::error::Error + 'static)) -> ApiError {
    let mut cause = Some(e);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return self::error(
                StatusCode::REQUEST_TIMEOUT,
                "timeout",
                "the recording did not arrive in time",
            );
        }
        cause = error.source();
    }
    self::error(
        StatusCode::BAD_REQUEST,
        "invalid_body",
        format!("the body could not be read: {e}"),
    )
}

/// Unix ms of `X-Recording-Start`, if given.
fn recording_start(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(RECORDING_START_HEADER) else {
        return Ok(None);
    };
    let at = value
        .to_str()
        .ok()
        .and_then(|v| OffsetDateTime::parse(v.trim(), &Rfc3339).ok())
        .ok_or_else(|| {
            error(
                StatusCode::BAD_REQUEST,
                "invalid_header",
                "X-Recording-Start must be an RFC 3339 time, e.g. 2026-03-21T10:00:00.250Z",
            )
        })?;
    Ok(i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok())
}

/// A trace id as the store keys it: 32 hex digits, lowercase.
fn trace_id(given: Option<String>) -> Result<Option<String>, ApiError> {
    match given {
        None => Ok(None),
        Some(t) if t.len() == 32 && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(Some(t.to_ascii_lowercase()))
        }
        Some(_) => Err(ApiError::invalid_parameter(
            "traceId",
            "must be 32 hexadecimal digits",
        )),
    }
}

/// `PUT /v1/recordings/{callId}`
async fn put_recording(
    State(recordings): State<Recordings>,
    Path(call_id): Path<String>,
    params: Result<Query<PutParams>, axum::extract::rejection::QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(params) = params.map_err(|r| ApiError::invalid_parameter("query", r.body_text()))?;
    let trace_id = trace_id(params.trace_id)?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let media =
        MediaType::from_content_type(content_type).map_err(|e| media_refused(&recordings, &e))?;
    let started_at_ms = recording_start(&headers)?;
    let max = recordings.limits().max_recording_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max) {
        return Err(too_large(&recordings));
    }
    let id = Recordings::new_id();
    let incoming = recordings.incoming(&id).await.map_err(io_failed)?;
    let received = stream_body(&recordings, incoming, body).await?;
    let upload = Upload {
        audio: Some((received, media)),
        row: RecordingRow {
            id,
            source: "upload".into(),
            named_call_id: Some(call_id.clone()),
            named_trace_id: trace_id.clone(),
            started_at_ms,
            received_ms: now_ms(),
            ..RecordingRow::default()
        },
        chat_history: None,
    };
    let row = recordings
        .keep(upload)
        .await
        .map_err(|e| keep_failed(&recordings, e))?;
    let location =
        crate::receiver::recordings::link::path(&call_id, trace_id.as_deref().unwrap_or(""), None);
    let location = match trace_id {
        Some(_) => location,
        None => location.split('?').next().unwrap_or_default().to_string(),
    };
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(kept(&row)),
    )
        .into_response())
}

/// What an upload's answer says about what was kept.
fn kept(row: &RecordingRow) -> serde_json::Value {
    json!({
        "id": row.id,
        "callId": row.named_call_id,
        "traceId": row.named_trace_id,
        "roomId": row.room_id,
        "jobId": row.job_id,
        "mediaType": row.media_type,
        "bytes": row.bytes,
        "durationMs": row.duration_ms,
        "channels": row.channels,
        "sampleRate": row.sample_rate,
    })
}

/// Writes a body to the upload's file as it arrives, within the size bound.
async fn stream_body(
    recordings: &Recordings,
    mut incoming: Incoming,
    body: Body,
) -> Result<Received, ApiError> {
    let max = recordings.limits().max_recording_bytes;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| body_failed(&e))?;
        if incoming.bytes() + chunk.len() as u64 > max {
            return Err(too_large(recordings));
        }
        incoming.write(&chunk).await.map_err(io_failed)?;
    }
    incoming.finish().await.map_err(io_failed)
}

/// What LiveKit's upload carried.
#[derive(Default)]
struct LiveKitParts {
    header: Option<MetricsRecordingHeader>,
    chat_history: Option<String>,
    audio: Option<(Received, MediaType)>,
}

/// `POST /observability/recordings/v0`
async fn livekit_upload(
    State(recordings): State<Recordings>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, ApiError> {
    let mut multipart = multipart.map_err(|r| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            format!("expected multipart/form-data: {}", r.body_text()),
        )
    })?;
    let id = Recordings::new_id();
    let mut parts = LiveKitParts::default();
    while let Some(field) = multipart
        .next_field()
        .await
        .map_err(|e| multipart_failed(&recordings, e))?
    {
        match field.name().unwrap_or_default() {
            PART_HEADER => {
                let bytes = read_part(&recordings, field, MAX_HEADER_PART_BYTES).await?;
                let header = MetricsRecordingHeader::decode(bytes.as_slice()).map_err(|e| {
                    error(
                        StatusCode::BAD_REQUEST,
                        "invalid_header",
                        format!("the header part is not a MetricsRecordingHeader: {e}"),
                    )
                })?;
                parts.header = Some(header);
            }
            PART_CHAT_HISTORY => {
                let bytes = read_part(&recordings, field, MAX_CHAT_HISTORY_BYTES).await?;
                let text = String::from_utf8(bytes)
                    .ok()
                    .filter(|t| serde_json::from_str::<serde::de::IgnoredAny>(t).is_ok())
                    .ok_or_else(|| {
                        error(
                            StatusCode::BAD_REQUEST,
                            "invalid_chat_history",
                            "the chat_history part is not JSON",
                        )
                    })?;
                parts.chat_history = Some(text);
            }
            PART_AUDIO => {
                let media =
                    MediaType::from_content_type(field.content_type().unwrap_or("audio/ogg"))
                        .map_err(|e| media_refused(&recordings, &e))?;
                let incoming = recordings.incoming(&id).await.map_err(io_failed)?;
                parts.audio = Some((stream_part(&recordings, incoming, field).await?, media));
            }
            _ => {
                read_part(&recordings, field, MAX_HEADER_PART_BYTES).await?;
            }
        }
    }
    let header = parts.header.ok_or_else(|| {
        error(
            StatusCode::BAD_REQUEST,
            "invalid_body",
            "the upload has no header part",
        )
    })?;
    if header.room().is_none() && header.job().is_none() {
        return Err(error(
            StatusCode::BAD_REQUEST,
            "invalid_header",
            "the header names neither a room nor a job",
        ));
    }
    let upload = Upload {
        audio: parts.audio,
        row: RecordingRow {
            id,
            source: "livekit".into(),
            room_id: header.room(),
            job_id: header.job(),
            started_at_ms: header.started_at_ms(),
            received_ms: now_ms(),
            ..RecordingRow::default()
        },
        chat_history: parts.chat_history,
    };
    let row = recordings
        .keep(upload)
        .await
        .map_err(|e| keep_failed(&recordings, e))?;
    Ok((StatusCode::OK, Json(kept(&row))).into_response())
}

fn multipart_failed(
    recordings: &Recordings,
    e: axum::extract::multipart::MultipartError,
) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        return too_large(recordings);
    }
    let source: &(dyn std::error::Error + 'static) = &e;
    body_failed(source)
}

/// A small part, whole, within `max` bytes.
async fn read_part(
    recordings: &Recordings,
    mut field: Field<'_>,
    max: usize,
) -> Result<Vec<u8>, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_failed(recordings, e))?
    {
        if bytes.len() + chunk.len() > max {
            recordings.metrics().recording_refused("too_large");
            return Err(error(
                StatusCode::PAYLOAD_TOO_LARGE,
                "part_too_large",
                format!(
                    "a {} part is at most {max} bytes",
                    field.name().unwrap_or("")
                ),
            ));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The audio part, written to the upload's file as it arrives, within the size bound.
async fn stream_part(
    recordings: &Recordings,
    mut incoming: Incoming,
    mut field: Field<'_>,
) -> Result<Received, ApiError> {
    let max = recordings.limits().max_recording_bytes;
    while let Some(chunk) = field
        .chunk()
        .await
        .map_err(|e| multipart_failed(recordings, e))?
    {
        if incoming.bytes() + chunk.len() as u64 > max {
            return Err(too_large(recordings));
        }
        incoming.write(&chunk).await.map_err(io_failed)?;
    }
    incoming.finish().await.map_err(io_failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_recording_start_is_rfc3339() {
        let mut headers = HeaderMap::new();
        assert_eq!(recording_start(&headers).unwrap(), None);
        headers.insert(
            RECORDING_START_HEADER,
            "2026-03-21T10:00:00.250Z".parse().unwrap(),
        );
        assert_eq!(recording_start(&headers).unwrap(), Some(1_774_087_200_250));
        headers.insert(RECORDING_START_HEADER, "yesterday".parse().unwrap());
        assert_eq!(
            recording_start(&headers).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn trace_ids_are_32_hex_digits() {
        let upper = "C47878FE9028D3C49AC93CF9AA429A9E".to_string();
        assert_eq!(
            trace_id(Some(upper)).unwrap().as_deref(),
            Some("c47878fe9028d3c49ac93cf9aa429a9e")
        );
        assert!(trace_id(Some("abc".into())).is_err());
        assert_eq!(trace_id(None).unwrap(), None);
    }
}
