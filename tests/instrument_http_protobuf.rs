//! The global pipeline over OTLP/HTTP with protobuf bodies on a current-thread runtime: the
//! simulated agent with real (scaled) sleeps, and no loss when the guard is dropped on the
//! runtime's only thread. One test: a process has one global subscriber.

/// The parts of the shared support (`tests/common`) these tests use.
#[allow(dead_code)]
mod common {
    pub mod capture;
    pub mod instrumented;
    pub mod wait;
}

use std::time::Duration;

use common::capture::*;
use common::instrumented::*;
use voicetrace::instrument::simulate::{self, SimConfig};
use voicetrace::instrument::{Config, Protocol};

#[tokio::test(flavor = "current_thread")]
async fn http_protobuf_pipeline_on_a_current_thread_runtime_loses_nothing() {
    let capture = Capture::http();
    let guard = Config::from_env()
        .protocol(Protocol::HttpProtobuf)
        .endpoint(capture.endpoint())
        .fmt_output(false)
        .batch_delay(Duration::from_millis(200))
        .init()
        .unwrap();

    let simulated = simulate::run(&SimConfig {
        calls: 4,
        exchanges: 3,
        // Real sleeps, 2 % of the planned times: spans overlap and export batches go out
        // while calls are still running.
        time_scale: 0.02,
        call_id_prefix: "http-sim-".into(),
        ..SimConfig::default()
    })
    .await;
    let trace_id = rich_call("call_http_protobuf", None);

    drop(guard);
    let spans = capture.spans();
    assert_eq!(
        spans.len(),
        simulated_span_count(&simulated) + RICH_CALL_SPANS
    );
    check_simulated(&spans, &simulated);
    check_rich_call(&spans, "call_http_protobuf", &trace_id);
    assert!(capture
        .content_types()
        .iter()
        .all(|c| c == "application/x-protobuf"));
}
