//! OTLP protobuf bodies (traces, then logs) → decode → normalised records, as the OTLP/HTTP and
//! gRPC endpoints do. Whatever the bytes, decoding must return (an error or records), never
//! panic, recurse without bound or blow up.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use voicetrace::receiver::ingest::decode::{decode_logs, decode_traces};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = ExportTraceServiceRequest::decode(data) {
        let decoded = decode_traces(request);
        for span in &decoded.spans {
            assert!(span.end_unix_nano >= span.start_unix_nano);
            assert_ne!(span.trace_id, [0; 16]);
            assert_ne!(span.span_id, [0; 8]);
        }
        assert!(decoded.rejected >= 0);
        assert_eq!(decoded.rejected > 0, decoded.reason.is_some());
    }
    if let Ok(request) = ExportLogsServiceRequest::decode(data) {
        let decoded = decode_logs(request);
        assert_eq!(decoded.rejected > 0, decoded.reason.is_some());
    }
});
