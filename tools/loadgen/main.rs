//! `voicetrace-loadgen`: a load generator for OTLP receivers, the benchmark tool of
//! `scripts/bench-ingest.sh` (BENCHMARKS.md). Not part of voicetrace itself: it is built only
//! with the `loadgen` feature (`cargo build --release --features loadgen --bin
//! voicetrace-loadgen`), so a plain `cargo install` or `cargo build` of the crate leaves it out.
//!
//! It sends realistic voice-call span traffic, built directly as OTLP protobuf messages, over
//! gRPC or HTTP to any endpoint (voicetrace, rotel, an OpenTelemetry Collector).
//!
//! Each call is a `conversation` root with turns (`turn` → `stt`, `llm`, `tts`, plus optional
//! `tool_call` / second `llm` spans) carrying the attributes of CONVENTIONS.md; its trace id is
//! derived from the call id (section 2). `--calls` calls are open at once: the generator walks
//! them round robin, emitting one whole turn at a time, so a batch mixes the spans of many calls
//! as an agent fleet behind a collector would; a call's root goes last, after its turns, and a
//! finished call is replaced by a new one. Spans are cut into requests of `--batch` spans, sent
//! by `--connections` concurrent senders (one gRPC channel or HTTP connection pool each), and
//! retried with backoff when the receiver says "retry later" (gRPC UNAVAILABLE / RESOURCE_EXHAUSTED,
//! HTTP 429 / 502 / 503 / 504). When the duration or span count is reached, no new call starts;
//! the calls in flight are finished so that every call sent is whole.
//!
//! ```text
//! cargo run --release --features loadgen --bin voicetrace-loadgen -- --protocol grpc \
//!     --endpoint http://127.0.0.1:4317 --calls 200 --turns 6 --batch 512 --connections 4 --duration 10
//! ```
//!
//! Prints a human summary and, as its last line, `loadgen_result key=value ...` for scripts
//! (see [`report::Report::machine_line`]).

mod args;
mod report;
mod send;
mod traffic;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use opentelemetry_proto::tonic::trace::v1::Span;
use tokio::sync::mpsc;

use args::{parse_args, Protocol, USAGE};
use report::{percentile_ms, Report};
use send::{sender, Client, Counters};
use traffic::generate;

/// Batches waiting for a sender: enough to keep every sender busy while the generator runs ahead,
/// small enough that the generator cannot run far ahead of what the receiver accepts.
const QUEUE_PER_CONNECTION: usize = 4;

#[tokio::main]
async fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    println!(
        "loadgen: {} → {}, {} calls open at once × {} turns ({} spans per user turn), batches of {}, {} connections, {}",
        if o.protocol == Protocol::Grpc { "OTLP/gRPC" } else { "OTLP/HTTP protobuf" },
        o.endpoint,
        o.calls,
        o.turns,
        o.spans_per_turn,
        o.batch,
        o.connections,
        match (o.duration, o.spans) {
            (_, Some(n)) => format!("{n} spans"),
            (Some(d), None) => format!("{:.1} s", d.as_secs_f64()),
            (None, None) => String::new(),
        }
    );
    let (tx, rx) = mpsc::channel::<Vec<Span>>(o.connections * QUEUE_PER_CONNECTION);
    let rx = Arc::new(tokio::sync::Mutex::new(rx));
    let counters = Arc::new(Counters::default());
    let errors_shown = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..o.connections {
        let client = match Client::connect(&o).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}");
                std::process::exit(2);
            }
        };
        senders.push(tokio::spawn(sender(
            client,
            rx.clone(),
            counters.clone(),
            o.max_retries,
            errors_shown.clone(),
        )));
    }
    let started = Instant::now();
    let generator = {
        let o = o.clone();
        tokio::task::spawn_blocking(move || generate(&o, tx, started))
    };
    let (spans_generated, calls) = generator.await.unwrap_or((0, 0));
    let mut latencies = Vec::new();
    for s in senders {
        latencies.extend(s.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    let c = &counters;
    let report = Report {
        protocol: o.protocol,
        batch: o.batch,
        spans_generated,
        calls,
        elapsed,
        spans_ok: c.spans_ok.load(Ordering::Relaxed),
        requests_ok: c.requests_ok.load(Ordering::Relaxed),
        retried: c.retried.load(Ordering::Relaxed),
        failed_requests: c.failed_requests.load(Ordering::Relaxed),
        lost_spans: c.lost_spans.load(Ordering::Relaxed),
        rejected_spans: c.rejected_spans.load(Ordering::Relaxed),
        p50_ms: percentile_ms(&latencies, 0.5),
        p99_ms: percentile_ms(&latencies, 0.99),
    };
    println!(
        "sent {} spans ({} calls) in {:.2} s: {:.0} spans/s accepted, {} requests (latency p50 {:.2} ms, p99 {:.2} ms)",
        report.spans_ok,
        report.calls,
        elapsed.as_secs_f64(),
        report.spans_per_second(),
        report.requests_ok,
        report.p50_ms,
        report.p99_ms
    );
    println!(
        "errors: {} retried (receiver asked to retry), {} requests failed ({} spans lost), {} spans rejected",
        report.retried, report.failed_requests, report.lost_spans, report.rejected_spans
    );
    println!("{}", report.machine_line());
    if report.failed_requests > 0 {
        std::process::exit(1);
    }
}
