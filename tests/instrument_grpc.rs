//! The global pipeline (`Config::init`) over OTLP/gRPC on a multi-thread runtime: the
//! simulated agent's figures, 50 concurrent calls that must not mix, and no loss when the guard
//! is dropped inside async code. One test: a process has one global subscriber.

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
use voicetrace::instrument::{Call, Config, EndReason, Protocol};
use voicetrace::semconv as sc;

/// Calls run at once in the mixing check.
const CONCURRENT_CALLS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn grpc_pipeline_on_a_multi_thread_runtime_loses_and_mixes_nothing() {
    let capture = Capture::grpc();
    let guard = Config::from_env()
        .protocol(Protocol::Grpc)
        .endpoint(capture.endpoint())
        .service_name("grpc-test-agent")
        .fmt_output(false)
        // Nothing leaves before shutdown: every span that arrives was flushed by the guard.
        .batch_delay(Duration::from_secs(3600))
        .init()
        .unwrap();

    let simulated = simulate::run(&SimConfig {
        calls: 3,
        exchanges: 4,
        time_scale: 0.0,
        call_id_prefix: "grpc-sim-".into(),
        ..SimConfig::default()
    })
    .await;

    // 50 calls at once, each with stages in spawned tasks that hop threads.
    let mut tasks = Vec::new();
    for i in 0..CONCURRENT_CALLS {
        tasks.push(tokio::spawn(async move {
            let call = Call::start(format!("mix-{i}"));
            for _ in 0..3 {
                let turn = std::sync::Arc::new(call.turn());
                let stt = turn.stt();
                tokio::task::yield_now().await;
                stt.ttfb(Duration::from_millis(i as u64 + 1));
                drop(stt);
                let t = turn.clone();
                tokio::spawn(async move {
                    let llm = t.llm();
                    tokio::task::yield_now().await;
                    llm.ttfb(Duration::from_millis(2 * i as u64 + 1));
                    llm.span()
                        .in_scope(|| tracing::info!(call = i as i64, "model answered"));
                })
                .await
                .unwrap();
            }
            let trace_id = call.trace_id();
            call.end(EndReason::AgentHangup);
            trace_id
        }));
    }
    let mut mixed = Vec::new();
    for t in tasks {
        mixed.push(t.await.unwrap());
    }

    // Dropped inside async code on a multi-thread runtime.
    drop(guard);
    let spans = capture.spans();
    let expected = simulated_span_count(&simulated) + CONCURRENT_CALLS * (1 + 3 * 3);
    assert_eq!(
        spans.len(),
        expected,
        "every span arrived by the time the guard was dropped"
    );

    check_simulated(&spans, &simulated);
    for (i, trace_id) in mixed.iter().enumerate() {
        let call_id = format!("mix-{i}");
        assert_eq!(trace_id, &voicetrace::trace_id::trace_id_hex(&call_id));
        let of_call = of_trace(&spans, trace_id);
        assert_eq!(of_call.len(), 1 + 3 * 3, "{call_id}");
        check_call_spans(&of_call, &call_id, trace_id);
        let root = one(&of_call, sc::SPAN_CONVERSATION);
        assert_eq!(root.parent_span_id, "", "{call_id}: a real root");
        for turn in children(&of_call, root) {
            let stages = children(&of_call, turn);
            assert_eq!(stages.len(), 2, "{call_id}: stt and llm under each turn");
            assert_eq!(ms(stages[0].attr(sc::METRICS_TTFB).double()), i as i64 + 1);
            assert_eq!(
                ms(stages[1].attr(sc::METRICS_TTFB).double()),
                2 * i as i64 + 1
            );
            let line = stages[1].event("model answered");
            assert_eq!(line.attrs["call"], Val::Int(i as i64));
        }
    }
}
