//! OTLP/HTTP: `POST /v1/traces`, `POST /v1/logs` and `POST /v1/metrics`, protobuf
//! (`application/x-protobuf`) or JSON (`application/json`), optionally `Content-Encoding: gzip`;
//! also LiveKit's upload paths (`/observability/{traces,logs,metrics}/otlp/v0`) so a LiveKit
//! worker can point `LIVEKIT_OBSERVABILITY_URL` at voicetrace. Recording uploads on the same
//! listener are [`super::upload`]'s.
//!
//! Answers (OTLP specification, "OTLP/HTTP Response"): 200 with an export response (partial
//! success when spans were rejected) in the request's encoding; 400 with a `google.rpc.Status`
//! for undecodable bodies; 413 over [`MAX_BODY_BYTES`]; 408 for a body that does not arrive in
//! time; 415 for other content types; 503 (busy)
//! or 429 (memory bound) with `Retry-After` when the receiver cannot take the batch now.

use std::io::Read;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use prost::Message;

use super::decode::{decode_logs, decode_metrics, decode_traces};
use super::{Ingest, Refusal, MAX_BODY_BYTES, RETRY_AFTER_SECS};

/// Paths of the trace endpoint: OTLP's, then LiveKit Cloud's upload path.
pub const TRACES_PATHS: &[&str] = &["/v1/traces", "/observability/traces/otlp/v0"];
/// Paths of the logs endpoint.
pub const LOGS_PATHS: &[&str] = &["/v1/logs", "/observability/logs/otlp/v0"];
/// Paths of the metrics endpoint: an SDK pointed at the receiver exports metrics too.
pub const METRICS_PATHS: &[&str] = &["/v1/metrics", "/observability/metrics/otlp/v0"];

const CONTENT_TYPE_PROTOBUF: &str = "application/x-protobuf";
const CONTENT_TYPE_JSON: &str = "application/json";

/// `google.rpc.Status`, the body of an OTLP/HTTP error response.
#[derive(Clone, PartialEq, prost::Message, serde::Serialize)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// gRPC code `INVALID_ARGUMENT`, used in error bodies.
const CODE_INVALID_ARGUMENT: i32 = 3;
/// `google.rpc.Code.DEADLINE_EXCEEDED`: the body did not arrive in time.
const CODE_DEADLINE_EXCEEDED: i32 = 4;
/// gRPC code `RESOURCE_EXHAUSTED`.
const CODE_RESOURCE_EXHAUSTED: i32 = 8;
/// gRPC code `UNAVAILABLE`.
const CODE_UNAVAILABLE: i32 = 14;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Protobuf,
    Json,
}

impl Encoding {
    fn content_type(self) -> &'static str {
        match self {
            Encoding::Protobuf => CONTENT_TYPE_PROTOBUF,
            Encoding::Json => CONTENT_TYPE_JSON,
        }
    }
}

/// An error answer, encoded like the request.
struct Failure {
    status: StatusCode,
    code: i32,
    message: String,
    retry_after: bool,
}

impl Failure {
    fn new(status: StatusCode, code: i32, message: impl Into<String>) -> Self {
        Failure {
            status,
            code,
            message: message.into(),
            retry_after: false,
        }
    }

    fn refused(refusal: Refusal) -> Self {
        let (status, code) = if refusal.is_exhaustion() {
            (StatusCode::TOO_MANY_REQUESTS, CODE_RESOURCE_EXHAUSTED)
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, CODE_UNAVAILABLE)
        };
        Failure {
            retry_after: true,
            ..Failure::new(status, code, refusal.message())
        }
    }

    fn into_response(self, encoding: Encoding) -> Response {
        let body = RpcStatus {
            code: self.code,
            message: self.message,
        };
        let mut response = encode(encoding, &body, self.status);
        if self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

fn encode<T: Message + serde::Serialize>(
    encoding: Encoding,
    body: &T,
    status: StatusCode,
) -> Response {
    let bytes = match encoding {
        Encoding::Protobuf => body.encode_to_vec(),
        Encoding::Json => serde_json::to_vec(body).unwrap_or_default(),
    };
    (
        status,
        [(header::CONTENT_TYPE, encoding.content_type())],
        bytes,
    )
        .into_response()
}

/// The request's encoding from its `Content-Type`; `None` for anything else.
fn encoding_of(headers: &HeaderMap) -> Option<Encoding> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    let media = value.split(';').next()?.trim().to_ascii_lowercase();
    match media.as_str() {
        "application/x-protobuf" | "application/protobuf" => Some(Encoding::Protobuf),
        "application/json" => Some(Encoding::Json),
        _ => None,
    }
}

/// The body, gunzipped when the request says so, bounded after decompression too.
/// The request's encoding and its body (decompressed), or the answer when there is none: an
/// unsupported content type, a body that failed to arrive, or one that does not decompress.
fn request_body(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Encoding, Bytes), Box<Response>> {
    let encoding = encoding_of(headers).ok_or_else(|| Box::new(unsupported_media()))?;
    let body = body.map_err(|rejection| Box::new(body_failed(rejection, encoding)))?;
    let bytes =
        body_bytes(headers, body).map_err(|failure| Box::new(failure.into_response(encoding)))?;
    Ok((encoding, bytes))
}

/// The answer when the body could not be read: 408 when it did not arrive within the body
/// timeout, else axum's own answer (413 over the size limit, 400 for a broken body).
fn body_failed(rejection: BytesRejection, encoding: Encoding) -> Response {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&rejection);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return Failure::new(
                StatusCode::REQUEST_TIMEOUT,
                CODE_DEADLINE_EXCEEDED,
                "the request body did not arrive in time",
            )
            .into_response(encoding);
        }
        cause = error.source();
    }
    rejection.into_response()
}

fn body_bytes(headers: &HeaderMap, body: Bytes) -> Result<Bytes, Failure> {
    let encoding = headers
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Ok(body),
        Some("gzip") => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(&body[..])
                .take(MAX_BODY_BYTES as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| {
                    Failure::new(
                        StatusCode::BAD_REQUEST,
                        CODE_INVALID_ARGUMENT,
                        format!("invalid gzip body: {e}"),
                    )
                })?;
            if out.len() > MAX_BODY_BYTES {
                return Err(Failure::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    CODE_INVALID_ARGUMENT,
                    format!("decompressed body exceeds {MAX_BODY_BYTES} bytes"),
                ));
            }
            Ok(out.into())
        }
        Some(other) => Err(Failure::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            CODE_INVALID_ARGUMENT,
            format!("unsupported Content-Encoding {other:?}: send gzip or no encoding"),
        )),
    }
}

fn decode_body<T: Message + Default + serde::de::DeserializeOwned>(
    encoding: Encoding,
    bytes: &[u8],
    what: &str,
) -> Result<T, Failure> {
    let result = match encoding {
        Encoding::Protobuf => T::decode(bytes).map_err(|e| e.to_string()),
        Encoding::Json => super::decode::from_otlp_json(bytes).map_err(|e| e.to_string()),
    };
    result.map_err(|e| {
        let kind = if encoding == Encoding::Json {
            "OTLP/JSON"
        } else {
            "OTLP protobuf"
        };
        Failure::new(
            StatusCode::BAD_REQUEST,
            CODE_INVALID_ARGUMENT,
            format!("cannot decode {what} as {kind}: {e}"),
        )
    })
}

/// An error answer outside the handlers (the ingest token check): a `google.rpc.Status` in the
/// request's encoding, JSON when the request's `Content-Type` is not one OTLP knows.
pub(crate) fn error_response(
    headers: &HeaderMap,
    status: StatusCode,
    code: i32,
    message: &str,
) -> Response {
    Failure::new(status, code, message)
        .into_response(encoding_of(headers).unwrap_or(Encoding::Json))
}

fn unsupported_media() -> Response {
    Failure::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        CODE_INVALID_ARGUMENT,
        "unsupported Content-Type: send application/x-protobuf or application/json",
    )
    .into_response(Encoding::Json)
}

async fn traces(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (encoding, bytes) = match request_body(&headers, body) {
        Ok(request) => request,
        Err(answer) => return *answer,
    };
    let answer = async {
        let request: ExportTraceServiceRequest =
            decode_body(encoding, &bytes, "ExportTraceServiceRequest")?;
        let decoded = decode_traces(request);
        let rejected = decoded.rejected;
        ingest
            .submit_spans(decoded.spans, rejected)
            .await
            .map_err(Failure::refused)?;
        Ok::<_, Failure>(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: decoded.reason.unwrap_or_default(),
            }),
        })
    }
    .await;
    match answer {
        Ok(response) => encode(encoding, &response, StatusCode::OK),
        Err(failure) => failure.into_response(encoding),
    }
}

async fn logs(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (encoding, bytes) = match request_body(&headers, body) {
        Ok(request) => request,
        Err(answer) => return *answer,
    };
    let answer = async {
        let request: ExportLogsServiceRequest =
            decode_body(encoding, &bytes, "ExportLogsServiceRequest")?;
        let decoded = decode_logs(request);
        ingest
            .submit_logs(decoded.logs)
            .await
            .map_err(Failure::refused)?;
        Ok::<_, Failure>(ExportLogsServiceResponse {
            partial_success: (decoded.rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: decoded.rejected,
                error_message: decoded.reason.unwrap_or_default(),
            }),
        })
    }
    .await;
    match answer {
        Ok(response) => encode(encoding, &response, StatusCode::OK),
        Err(failure) => failure.into_response(encoding),
    }
}

/// Metrics: every data point counted, the usage points that name a call journaled for
/// assembly, success answered (nothing in a decodable request is rejected).
async fn metrics(
    State(ingest): State<Ingest>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (encoding, bytes) = match request_body(&headers, body) {
        Ok(request) => request,
        Err(answer) => return *answer,
    };
    let answer = async {
        let request: ExportMetricsServiceRequest =
            decode_body(encoding, &bytes, "ExportMetricsServiceRequest")?;
        let decoded = decode_metrics(request);
        ingest
            .submit_points(decoded.points, decoded.received)
            .await
            .map_err(Failure::refused)?;
        Ok::<_, Failure>(ExportMetricsServiceResponse {
            partial_success: None,
        })
    }
    .await;
    match answer {
        Ok(response) => encode(encoding, &response, StatusCode::OK),
        Err(failure) => failure.into_response(encoding),
    }
}

/// The OTLP/HTTP router. Bodies over [`MAX_BODY_BYTES`] are answered 413 by the body limit; a
/// body not fully received within `body_timeout` of the request is answered 408.
pub fn router(ingest: Ingest, body_timeout: std::time::Duration) -> Router {
    let mut router = Router::new();
    for path in TRACES_PATHS {
        router = router.route(path, post(traces));
    }
    for path in LOGS_PATHS {
        router = router.route(path, post(logs));
    }
    for path in METRICS_PATHS {
        router = router.route(path, post(metrics));
    }
    router
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(tower_http::timeout::RequestBodyTimeoutLayer::new(
            body_timeout,
        ))
        .with_state(ingest)
}
