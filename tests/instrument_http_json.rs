//! The global pipeline configured only through the standard environment variables, over
//! OTLP/HTTP with JSON bodies, used outside any tokio runtime. One test: a process has one
//! global subscriber, and the environment is set before anything reads it.

/// The parts of the shared support (`tests/common`) these tests use.
#[allow(dead_code)]
mod common {
    pub mod capture;
    pub mod instrumented;
    pub mod wait;
}

use common::capture::*;
use common::instrumented::*;

#[test]
fn env_configured_http_json_pipeline_outside_tokio_loses_nothing() {
    let capture = Capture::http();
    // Edition 2021: `set_var` is safe; this binary has a single test and sets the variables
    // before any thread reads them.
    std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", capture.endpoint());
    std::env::set_var("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json");
    std::env::set_var("OTEL_SERVICE_NAME", "env-configured-agent");
    std::env::set_var(
        "OTEL_RESOURCE_ATTRIBUTES",
        "deployment.environment=ci,team=voice",
    );
    std::env::set_var("OTEL_BSP_SCHEDULE_DELAY", "3600000");
    std::env::remove_var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
    std::env::remove_var("OTEL_SDK_DISABLED");
    // Content capture is off unless asked for, as the GenAI conventions say.
    std::env::remove_var(voicetrace::semconv::genai::CAPTURE_MESSAGE_CONTENT_ENV);

    let guard = voicetrace::init().unwrap();
    let first = rich_call("call_env_1", None);
    let second = rich_call("c0ffee00-1234-4abc-8def-0123456789ab", None);
    assert_eq!(second, "c0ffee0012344abc8def0123456789ab");
    drop(guard);

    let spans = capture.spans();
    assert_eq!(spans.len(), 2 * RICH_CALL_SPANS);
    check_rich_call(&spans, "call_env_1", &first);
    check_rich_call(&spans, "c0ffee00-1234-4abc-8def-0123456789ab", &second);
    check_no_content(&spans.iter().collect::<Vec<_>>());
    let resource = &spans[0].resource;
    assert_eq!(
        resource["service.name"],
        Val::Str("env-configured-agent".into())
    );
    assert_eq!(resource["deployment.environment"], Val::Str("ci".into()));
    assert_eq!(resource["team"], Val::Str("voice".into()));
    assert!(!capture.content_types().is_empty());
    assert!(capture
        .content_types()
        .iter()
        .all(|c| c.starts_with("application/json")));
}
