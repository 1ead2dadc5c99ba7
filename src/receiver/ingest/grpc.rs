//! OTLP/gRPC: `TraceService/Export`, `LogsService/Export` and `MetricsService/Export` (gzip
//! accepted).
//!
//! Answers as the OTLP specification says: success, partial success with `rejected_spans` and a
//! message, `UNAVAILABLE` when the receiver cannot take the batch now (the exporter retries).
//! Bodies tonic cannot decode are refused by tonic itself before they reach us; tonic says
//! `INTERNAL` (undecodable) or `OUT_OF_RANGE` (over the size limit), which OTLP exporters would
//! retry or report as a server fault, so [`invalid_request_status`] turns both into
//! `INVALID_ARGUMENT` (not retryable: the same bytes will never decode).

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::decode::{decode_logs, decode_metrics, decode_traces};
use super::{Ingest, Refusal, MAX_BODY_BYTES};

fn unavailable(refusal: Refusal) -> Status {
    Status::unavailable(refusal.message())
}

#[tonic::async_trait]
impl TraceService for Ingest {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let decoded = decode_traces(request.into_inner());
        let (rejected, reason) = (decoded.rejected, decoded.reason);
        self.submit_spans(decoded.spans, rejected)
            .await
            .map_err(unavailable)?;
        Ok(Response::new(ExportTraceServiceResponse {
            partial_success: (rejected > 0).then(|| ExportTracePartialSuccess {
                rejected_spans: rejected,
                error_message: reason.unwrap_or_default(),
            }),
        }))
    }
}

#[tonic::async_trait]
impl LogsService for Ingest {
    async fn export(
        &self,
        request: Request<ExportLogsServiceRequest>,
    ) -> Result<Response<ExportLogsServiceResponse>, Status> {
        let decoded = decode_logs(request.into_inner());
        self.submit_logs(decoded.logs).await.map_err(unavailable)?;
        Ok(Response::new(ExportLogsServiceResponse {
            partial_success: (decoded.rejected > 0).then(|| ExportLogsPartialSuccess {
                rejected_log_records: decoded.rejected,
                error_message: decoded.reason.unwrap_or_default(),
            }),
        }))
    }
}

#[tonic::async_trait]
impl MetricsService for Ingest {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        let decoded = decode_metrics(request.into_inner());
        self.submit_points(decoded.points, decoded.received)
            .await
            .map_err(unavailable)?;
        Ok(Response::new(ExportMetricsServiceResponse {
            partial_success: None,
        }))
    }
}

/// The trace service, gzip accepted, bodies bounded.
pub fn trace_service(ingest: Ingest) -> TraceServiceServer<Ingest> {
    TraceServiceServer::new(ingest)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_BODY_BYTES)
}

/// The logs service, gzip accepted, bodies bounded.
pub fn logs_service(ingest: Ingest) -> LogsServiceServer<Ingest> {
    LogsServiceServer::new(ingest)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_BODY_BYTES)
}

/// The metrics service, gzip accepted, bodies bounded.
pub fn metrics_service(ingest: Ingest) -> MetricsServiceServer<Ingest> {
    MetricsServiceServer::new(ingest)
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(MAX_BODY_BYTES)
}

/// gRPC's status header of a trailers-only answer.
const GRPC_STATUS: &str = "grpc-status";
/// `INTERNAL`, `OUT_OF_RANGE` and `INVALID_ARGUMENT`.
const CODE_INTERNAL: &str = "13";
const CODE_OUT_OF_RANGE: &str = "11";
const CODE_INVALID_ARGUMENT: &str = "3";

/// For the gRPC server's responses (a `tower` map): a request tonic refused because it could not
/// decode or decompress it, or because it is over the size limit, is answered `INVALID_ARGUMENT`
/// (tonic's own message kept). Other answers, our own `INTERNAL`s among them, pass unchanged.
pub fn invalid_request_status<B>(mut response: axum::http::Response<B>) -> axum::http::Response<B> {
    let headers = response.headers_mut();
    let code = headers.get(GRPC_STATUS).and_then(|v| v.to_str().ok());
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let refused_input = match code {
        Some(CODE_OUT_OF_RANGE) => message.contains("too%20large") || message.contains("too large"),
        Some(CODE_INTERNAL) => message.contains("decod") || message.contains("decompress"),
        _ => false,
    };
    if refused_input {
        headers.insert(
            GRPC_STATUS,
            axum::http::HeaderValue::from_static(CODE_INVALID_ARGUMENT),
        );
    }
    response
}
