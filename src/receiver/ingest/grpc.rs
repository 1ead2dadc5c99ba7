//! OTLP/gRPC: `TraceService/Export` and `LogsService/Export` (gzip accepted).
//!
//! Answers as the OTLP specification says: success, partial success with `rejected_spans` and a
//! message, `UNAVAILABLE` when the receiver cannot take the batch now (the exporter retries).
//! Bodies tonic cannot decode are refused by tonic itself before they reach us.

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsPartialSuccess, ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use tonic::codec::CompressionEncoding;
use tonic::{Request, Response, Status};

use super::decode::{decode_logs, decode_traces};
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
