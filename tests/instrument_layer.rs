//! The crate's layer added to a subscriber the test composes (as an application with its own
//! subscriber would), one pipeline per test, scoped to the test's thread with `with_default`.
//! Covers span names, parentage, attributes and units, the trace-id derivation (a real root with
//! the derived id, through the crate's pipeline or an application's own tracer provider), the
//! traceparent override, content capture, plain `tracing` macros against the helpers, and
//! stages in spawned tasks.

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
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::WithExportConfig;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt;
use voicetrace::instrument::{
    otel_layer, Call, CallIdGenerator, CallIdProcessor, Config, EndReason, Protocol,
};
use voicetrace::semconv as sc;

/// Runs `agent` with a pipeline exporting to `capture` over `protocol`, shuts the pipeline down
/// (the guard is dropped) and returns every span received by then.
fn run_with(capture: &Capture, protocol: Protocol, agent: impl FnOnce()) -> Vec<CapturedSpan> {
    let (layer, guard) = Config::from_env()
        .protocol(protocol)
        .endpoint(capture.endpoint())
        .service_name("layer-test-agent")
        .resource_attribute("deployment.environment", "test")
        // Explicit, so a developer's environment cannot change what these tests see; calls
        // that capture content say so themselves.
        .capture_message_content(false)
        // Nothing leaves before shutdown: what arrives was flushed by dropping the guard.
        .batch_delay(Duration::from_secs(3600))
        .build_layer()
        .unwrap();
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, agent);
    drop(guard);
    capture.spans()
}

#[test]
fn every_helper_gives_the_conventional_spans_over_grpc() {
    let capture = Capture::grpc();
    let mut trace_id = String::new();
    let spans = run_with(&capture, Protocol::Grpc, || {
        trace_id = rich_call("call_123", None);
    });
    // CONVENTIONS.md section 2: not a UUID → SHA-256(call id)[..16].
    assert_eq!(trace_id, "2ce6deda1dec6b4c566f38ac5241867b");
    check_rich_call(&spans, "call_123", &trace_id);
    check_no_content(&of_trace(&spans, &trace_id));
    let root = spans.iter().find(|s| s.name == "conversation").unwrap();
    assert_eq!(root.parent_span_id, "", "the call's root is a real root");
    assert_eq!(
        root.resource["service.name"],
        Val::Str("layer-test-agent".into())
    );
    assert_eq!(
        root.resource["deployment.environment"],
        Val::Str("test".into())
    );
}

#[test]
fn every_helper_gives_the_conventional_spans_over_http_json() {
    let capture = Capture::http();
    let mut trace_id = String::new();
    let spans = run_with(&capture, Protocol::HttpJson, || {
        trace_id = rich_call("call_json", None);
    });
    check_rich_call(&spans, "call_json", &trace_id);
    assert!(capture
        .content_types()
        .iter()
        .all(|c| c.starts_with("application/json")));
}

#[test]
fn a_uuid_call_id_is_the_trace_id() {
    let capture = Capture::grpc();
    let call_id = "3f2c1a9e-8b7d-4c6e-9f01-23456789abcd";
    let spans = run_with(&capture, Protocol::Grpc, || {
        let call = Call::start(call_id);
        drop(call.turn());
        assert_eq!(call.trace_id(), "3f2c1a9e8b7d4c6e9f0123456789abcd");
    });
    let of_call = of_trace(&spans, "3f2c1a9e8b7d4c6e9f0123456789abcd");
    assert_eq!(of_call.len(), 2);
    check_call_spans(&of_call, call_id, "3f2c1a9e8b7d4c6e9f0123456789abcd");
}

#[test]
fn an_incoming_traceparent_overrides_the_derived_trace_id() {
    let capture = Capture::grpc();
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut trace_id = String::new();
    let spans = run_with(&capture, Protocol::Grpc, || {
        trace_id = rich_call("call_with_parent", Some(traceparent));
    });
    assert_eq!(trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    check_rich_call(&spans, "call_with_parent", &trace_id);
    let root = spans.iter().find(|s| s.name == "conversation").unwrap();
    assert_eq!(root.parent_span_id, "00f067aa0ba902b7");
}

#[test]
fn content_capture_puts_the_text_where_genai_backends_read_it() {
    let capture = Capture::grpc();
    let (mut on, mut off) = (String::new(), String::new());
    let spans = run_with(&capture, Protocol::Grpc, || {
        on = rich_call_from(rich_builder("call_content_on", None).capture_message_content(true));
        off = rich_call_from(rich_builder("call_content_off", None).capture_message_content(false));
    });
    check_rich_call(&spans, "call_content_on", &on);
    check_rich_call_content(&spans, &on);
    // Off: the same voicetrace text attributes (what call logs are made of), no content ones.
    check_rich_call(&spans, "call_content_off", &off);
    check_no_content(&of_trace(&spans, &off));
}

/// An exporter to `capture` over OTLP/HTTP protobuf, for a hand-built provider.
fn http_exporter(capture: &Capture) -> opentelemetry_otlp::SpanExporter {
    opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_endpoint(format!("{}/v1/traces", capture.endpoint()))
        .build()
        .unwrap()
}

#[test]
fn an_own_tracer_provider_with_the_id_generator_gives_real_roots_with_derived_ids() {
    let capture = Capture::http();
    // The README's path for an application that builds its own provider.
    let provider = SdkTracerProvider::builder()
        .with_id_generator(CallIdGenerator::default())
        .with_span_processor(CallIdProcessor)
        .with_simple_exporter(http_exporter(&capture))
        .build();
    let subscriber =
        tracing_subscriber::registry().with(otel_layer(provider.tracer("own-provider")));
    let mut trace_id = String::new();
    tracing::subscriber::with_default(subscriber, || {
        // A root that is not a call, before and after, keeps a random trace id.
        drop(tracing::info_span!("unrelated_root").entered());
        trace_id = rich_call("call_own_provider", None);
        drop(tracing::info_span!("unrelated_root").entered());
    });
    provider.shutdown().unwrap();
    let spans = capture.spans();
    assert_eq!(
        trace_id,
        voicetrace::trace_id::trace_id_hex("call_own_provider")
    );
    check_rich_call(&spans, "call_own_provider", &trace_id);
    let root = spans.iter().find(|s| s.name == "conversation").unwrap();
    assert_eq!(root.parent_span_id, "");
    let unrelated: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "unrelated_root")
        .collect();
    assert_eq!(unrelated.len(), 2);
    assert!(unrelated.iter().all(|s| s.trace_id != trace_id));
    assert_ne!(unrelated[0].trace_id, unrelated[1].trace_id);
}

#[test]
fn without_the_id_generator_a_call_reports_the_trace_id_it_really_has() {
    let capture = Capture::http();
    let provider = SdkTracerProvider::builder()
        .with_span_processor(CallIdProcessor)
        .with_simple_exporter(http_exporter(&capture))
        .build();
    let subscriber = tracing_subscriber::registry().with(otel_layer(provider.tracer("no-ids")));
    let mut reported = String::new();
    tracing::subscriber::with_default(subscriber, || {
        let call = Call::start("call_random_id");
        drop(call.turn());
        reported = call.trace_id();
        call.end(EndReason::ClientHangup);
    });
    provider.shutdown().unwrap();
    let spans = capture.spans();
    assert_ne!(
        reported,
        voicetrace::trace_id::trace_id_hex("call_random_id")
    );
    let of_call = of_trace(&spans, &reported);
    assert_eq!(of_call.len(), 2, "the reported id is the one exported");
    check_call_spans(&of_call, "call_random_id", &reported);
}

#[test]
fn an_invalid_traceparent_falls_back_to_the_derived_trace_id() {
    let capture = Capture::grpc();
    let spans = run_with(&capture, Protocol::Grpc, || {
        let call = Call::builder("call_bad_parent")
            .traceparent("00-zz-00f067aa0ba902b7-01")
            .start();
        assert_eq!(
            call.trace_id(),
            voicetrace::trace_id::trace_id_hex("call_bad_parent")
        );
    });
    assert_eq!(spans.len(), 1);
    assert_eq!(
        spans[0].trace_id,
        voicetrace::trace_id::trace_id_hex("call_bad_parent")
    );
}

#[test]
fn plain_tracing_macros_give_the_same_spans_as_the_helpers() {
    let capture = Capture::http();
    let (mut with_macros, mut with_helpers) = (String::new(), String::new());
    let spans = run_with(&capture, Protocol::HttpProtobuf, || {
        with_macros = macro_call("call_macros");
        with_helpers = helper_call("call_helpers");
    });
    let macros = shape(&spans, &with_macros);
    assert_eq!(macros.len(), 6, "{macros:#?}");
    assert_eq!(macros, shape(&spans, &with_helpers));
    // conversation.id reached the plain spans too.
    check_call_spans(&of_trace(&spans, &with_macros), "call_macros", &with_macros);
    assert!(capture
        .content_types()
        .iter()
        .all(|c| c == "application/x-protobuf"));
}

#[test]
fn stages_in_spawned_tasks_keep_their_parent_and_call_id() {
    let capture = Capture::grpc();
    let mut trace_id = String::new();
    let spans = run_with(&capture, Protocol::Grpc, || {
        // A current-thread runtime on this thread sees the scoped subscriber; the spawned
        // tasks have no current span, so only the explicit parent can place their stages.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        trace_id = runtime.block_on(async {
            let call = Call::start("call_spawned");
            let turn = std::sync::Arc::new(call.turn());
            let mut tasks = Vec::new();
            for i in 0..4u64 {
                let turn = turn.clone();
                tasks.push(tokio::spawn(async move {
                    tokio::task::yield_now().await;
                    let tts = turn.tts();
                    tts.ttfb(Duration::from_millis(100 + i));
                    tokio::task::yield_now().await;
                    tts.end();
                }));
            }
            for t in tasks {
                t.await.unwrap();
            }
            drop(turn);
            call.trace_id()
        });
    });
    let of_call = of_trace(&spans, &trace_id);
    check_call_spans(&of_call, "call_spawned", &trace_id);
    let turn = one(&of_call, sc::SPAN_TURN);
    let stages = children(&of_call, turn);
    assert_eq!(stages.len(), 4);
    assert!(stages.iter().all(|s| s.name == sc::SPAN_TTS));
}

#[test]
fn disabled_export_sends_nothing_and_the_helpers_still_work() {
    let capture = Capture::grpc();
    let (layer, guard) = Config::from_env()
        .endpoint(capture.endpoint())
        .disabled(true)
        .build_layer()
        .unwrap();
    assert!(layer.is_none());
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let trace_id = rich_call("call_disabled", None);
        assert_eq!(
            trace_id,
            voicetrace::trace_id::trace_id_hex("call_disabled")
        );
    });
    guard.shutdown().unwrap();
    assert!(capture.spans().is_empty());
    assert!(capture.content_types().is_empty());
}
