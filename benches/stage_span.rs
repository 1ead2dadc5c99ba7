//! The cost of one stage span: created with voicetrace's helper, `metrics.ttfb` recorded,
//! closed; against the same span written as a bare `tracing` span through
//! `tracing-opentelemetry`, and as a raw OpenTelemetry SDK span. All three go through the same
//! provider (voicetrace's call-id processor, then a batch processor) and the same exporter, an
//! in-process one that drops every batch, so the network is not measured.
//!
//! Target: the helper costs at most 1.1× the bare `tracing-opentelemetry` span.
//!
//! ```text
//! cargo bench --bench stage_span -- --warm-up-time 1 --measurement-time 3
//! ```

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{BatchSpanProcessor, SdkTracerProvider, SpanData, SpanExporter};
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;
use voicetrace::instrument::{otel_layer, Call, CallIdProcessor};
use voicetrace::semconv as sc;

/// Accepts every batch and drops it.
#[derive(Debug)]
struct DropExporter;

impl SpanExporter for DropExporter {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        drop(batch);
        Ok(())
    }
}

fn stage_span(c: &mut Criterion) {
    let provider = SdkTracerProvider::builder()
        .with_span_processor(CallIdProcessor)
        .with_span_processor(BatchSpanProcessor::builder(DropExporter).build())
        .build();
    let tracer = provider.tracer("voicetrace");
    let subscriber = tracing_subscriber::registry().with(otel_layer(tracer.clone()));
    tracing::subscriber::set_global_default(subscriber).expect("no other subscriber");

    let call = Call::start("bench-call");
    let turn = call.turn();
    let parent_cx = turn.span().context();
    let ttfb = Duration::from_millis(420);

    let mut group = c.benchmark_group("stage_span");
    group.bench_function("voicetrace_stage", |b| {
        b.iter(|| {
            let stage = turn.llm();
            stage.ttfb(ttfb);
            stage.end();
        })
    });
    group.bench_function("tracing_opentelemetry_span", |b| {
        b.iter(|| {
            let span = tracing::info_span!(
                parent: turn.span(),
                "llm",
                gen_ai.operation.name = "chat",
                metrics.ttfb = Empty,
            );
            span.record(sc::METRICS_TTFB, ttfb.as_secs_f64());
            drop(span);
        })
    });
    group.bench_function("opentelemetry_sdk_span", |b| {
        b.iter(|| {
            let mut span = tracer.start_with_context("llm", &parent_cx);
            span.set_attribute(KeyValue::new(sc::GEN_AI_OPERATION_NAME, sc::OP_CHAT));
            span.set_attribute(KeyValue::new(sc::METRICS_TTFB, ttfb.as_secs_f64()));
            span.end();
        })
    });
    group.finish();

    drop(turn);
    call.end(voicetrace::instrument::EndReason::ClientHangup);
    let _ = provider.shutdown();
}

criterion_group!(benches, stage_span);
criterion_main!(benches);
