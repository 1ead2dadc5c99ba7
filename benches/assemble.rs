//! Assembly and ingest throughput.
//!
//! - `assemble/*`: the pure core alone, from pre-decoded spans of the real Pipecat and LiveKit
//!   exports (each call copied under 200 fresh trace ids): spans in, call logs out.
//! - `ingest_grpc/*`: the whole receiver (decode, assemble, analyze, store, jsonl sink) fed over
//!   OTLP/gRPC on loopback by one client; throughput counts spans accepted by the receiver.
//!
//! `cargo bench --bench assemble` prints spans/s for each.

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use voicetrace::receiver::assemble::{Assembler, AssemblerConfig};
use voicetrace::receiver::ingest::decode::decode_traces;
use voicetrace::receiver::server::{Receiver, ServeConfig};
use voicetrace::receiver::span::SpanRecord;

/// Copies of each fixture call per iteration: enough calls that per-call costs dominate.
const COPIES: u32 = 200;

// The tests' fixtures and OTLP builders (tests/common).
#[path = "../tests/common/fixtures.rs"]
mod fixtures;
#[path = "../tests/common/otlp.rs"]
mod otlp;

/// The requests of fixture `name`, in arrival order.
fn fixture_requests(name: &str) -> Vec<ExportTraceServiceRequest> {
    fixtures::requests(&fixtures::dir(name))
}

/// The fixture's requests, each copy under its own trace id.
fn copies(
    requests: &[ExportTraceServiceRequest],
    copies: u32,
    salt: u32,
) -> Vec<ExportTraceServiceRequest> {
    let mut out = Vec::new();
    for copy in 0..copies {
        for request in requests {
            let mut request = request.clone();
            for span in otlp::spans_mut(&mut request) {
                span.trace_id[..4].copy_from_slice(&copy.to_be_bytes());
                span.trace_id[4..8].copy_from_slice(&salt.to_be_bytes());
            }
            out.push(request);
        }
    }
    out
}

fn bench_assemble(c: &mut Criterion) {
    let mut group = c.benchmark_group("assemble");
    for name in ["pipecat-basic", "livekit-basic"] {
        let batches: Vec<Vec<SpanRecord>> = copies(&fixture_requests(name), COPIES, 0)
            .into_iter()
            .map(|r| decode_traces(r).spans)
            .collect();
        let spans: usize = batches.iter().map(Vec::len).sum();
        group.throughput(Throughput::Elements(spans as u64));
        group.bench_function(name, |b| {
            b.iter_batched(
                || batches.clone(),
                |batches| {
                    let mut assembler = Assembler::new(AssemblerConfig::default());
                    let mut logs = 0;
                    for batch in batches {
                        assembler.add_spans(batch, 1);
                    }
                    logs += assembler.poll(10_000_000_000).len();
                    assert_eq!(logs, COPIES as usize);
                },
                BatchSize::LargeInput,
            )
        });
    }
    group.finish();
}

fn bench_ingest(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let data = tempfile::tempdir().expect("tempdir");
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let receiver = runtime.block_on(async {
        Receiver::start(ServeConfig {
            otlp_grpc_addr: loopback,
            otlp_http_addr: loopback,
            api_addr: None,
            data_dir: data.path().to_path_buf(),
            grace_ms: 100,
            ..ServeConfig::default()
        })
        .await
        .expect("receiver")
    });
    let endpoint = format!("http://{}", receiver.otlp_grpc_addr);
    let mut client = runtime
        .block_on(TraceServiceClient::connect(endpoint))
        .expect("connect");
    let mut group = c.benchmark_group("ingest_grpc");
    group.measurement_time(Duration::from_secs(5));
    let requests = fixture_requests("livekit-basic");
    let spans_per_copy: usize = requests.iter().map(|r| otlp::spans(r).count()).sum();
    let per_iter = 20u32;
    group.throughput(Throughput::Elements(
        (spans_per_copy * per_iter as usize) as u64,
    ));
    let mut salt = 1u32;
    group.bench_function("livekit-basic", |b| {
        b.iter_batched(
            || {
                salt += 1;
                copies(&requests, per_iter, salt)
            },
            |batch| {
                runtime.block_on(async {
                    for request in batch {
                        client.export(request).await.expect("accepted");
                    }
                })
            },
            BatchSize::LargeInput,
        )
    });
    group.finish();
    runtime.block_on(receiver.shutdown());
}

criterion_group!(benches, bench_assemble, bench_ingest);
criterion_main!(benches);
