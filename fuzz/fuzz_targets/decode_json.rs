//! OTLP/JSON bodies → `from_otlp_json` → decode, as the OTLP/HTTP endpoint does for
//! `application/json`. Never a panic or unbounded recursion, whatever the text.
#![no_main]

use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use voicetrace::receiver::ingest::decode::{decode_logs, decode_traces, from_otlp_json};

fuzz_target!(|data: &[u8]| {
    if let Ok(request) = from_otlp_json::<ExportTraceServiceRequest>(data) {
        let decoded = decode_traces(request);
        for span in &decoded.spans {
            assert!(span.end_unix_nano >= span.start_unix_nano);
        }
    }
    if let Ok(request) = from_otlp_json::<ExportLogsServiceRequest>(data) {
        let _ = decode_logs(request);
    }
});
