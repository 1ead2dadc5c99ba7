//! The crate's own OTLP exporter reaches a TLS receiver without a Collector: a test CA made
//! here (rcgen) signs the receiver's certificate, and an agent given that CA
//! ([`Config::certificate`], as `OTEL_EXPORTER_OTLP_CERTIFICATE` would) exports one call over
//! gRPC, HTTP/protobuf and HTTP/JSON, each of which arrives with its exact figures. Without the
//! CA (the system's roots only) the same exports fail and no call log is made.

use std::path::Path;
use std::time::Duration;

use tracing_subscriber::layer::SubscriberExt;
use voicetrace::instrument::{Call, Config, EndReason, Protocol};
use voicetrace::receiver::calllog::{CallLog, CallStatus};
use voicetrace::receiver::server::ServeConfig;
use voicetrace::receiver::store::Store;

use crate::common::receiver::{self, next_call_logs};
use crate::common::tls::test_ca;

const AGENT: &str = "tls-agent";

/// One call through the crate's pipeline with known figures; the pipeline's subscriber is this
/// thread's only. Returns what flushing the exporter said.
fn export_call(protocol: Protocol, endpoint: String, call_id: &str, ca: Option<&Path>) -> bool {
    let mut config = Config::from_env()
        .protocol(protocol)
        .endpoint(endpoint)
        .batch_delay(Duration::from_secs(3600));
    if let Some(ca) = ca {
        config = config.certificate(ca);
    }
    let (layer, guard) = config.build_layer().expect("the pipeline builds");
    let subscriber = tracing_subscriber::registry().with(layer);
    tracing::subscriber::with_default(subscriber, || {
        let call = Call::builder(call_id).agent_id(AGENT).start();
        let turn = call.turn();
        turn.user_text("Is this line secure?");
        let stt = turn.stt();
        stt.ttfb(Duration::from_millis(210));
        stt.end();
        let llm = turn.llm();
        llm.ttfb(Duration::from_millis(640));
        llm.end();
        let tts = turn.tts();
        tts.ttfb(Duration::from_millis(180));
        tts.end();
        turn.voice_to_voice(Duration::from_millis(1175));
        drop(turn);
        call.end(EndReason::ClientHangup);
    });
    let flushed = guard.flush().is_ok();
    drop(guard);
    flushed
}

fn assert_exact(log: &CallLog) {
    let id = &log.id;
    assert_eq!(
        log.trace_id,
        voicetrace::trace_id::trace_id_hex(id),
        "{id}: trace id"
    );
    assert_eq!(log.status, CallStatus::Completed, "{id}");
    assert_eq!(log.agent_id.as_deref(), Some(AGENT), "{id}");
    assert_eq!(log.turns.len(), 1, "{id}: turns");
    let turn = &log.turns[0];
    assert_eq!(turn.user_text.as_deref(), Some("Is this line secure?"));
    assert_eq!(
        (turn.stt_ms, turn.llm_ms, turn.tts_ms, turn.latency_ms),
        (Some(210), Some(640), Some(180), Some(1175)),
        "{id}: sttMs, llmMs, ttsMs, latencyMs"
    );
}

#[test]
fn the_crates_exporter_trusts_a_ca_file_over_grpc_and_http() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let data = tempfile::tempdir().unwrap();
    let (ca, cert, key) = test_ca(data.path());
    let receiver = runtime.block_on(receiver::start(ServeConfig {
        grace_ms: 100,
        tls_cert: Some(cert),
        tls_key: Some(key),
        ..receiver::config(data.path())
    }));
    assert!(receiver.listening_line().ends_with(" tls=on"));
    let mut rx = receiver.subscribe();
    let grpc = format!("https://127.0.0.1:{}", receiver.otlp_grpc_addr.port());
    let http = format!("https://localhost:{}", receiver.otlp_http_addr.port());

    // Without the CA: the receiver's certificate chains to no system root.
    let untrusted = [
        (Protocol::Grpc, &grpc, "tls-untrusted-grpc"),
        (Protocol::HttpProtobuf, &http, "tls-untrusted-http"),
    ];
    for (protocol, endpoint, id) in untrusted {
        assert!(
            !export_call(protocol, endpoint.clone(), id, None),
            "{id}: exporting to an untrusted certificate must fail"
        );
    }

    let trusted = [
        (Protocol::Grpc, &grpc, "tls-grpc"),
        (Protocol::HttpProtobuf, &http, "tls-http-protobuf"),
        (Protocol::HttpJson, &http, "tls-http-json"),
    ];
    for (protocol, endpoint, id) in trusted {
        assert!(
            export_call(protocol, endpoint.clone(), id, Some(&ca)),
            "{id}: the export succeeds"
        );
    }
    let mut logs = runtime.block_on(next_call_logs(&mut rx, trusted.len()));
    logs.sort_by(|a, b| a.id.cmp(&b.id));
    let ids: Vec<&str> = logs.iter().map(|l| l.id.as_str()).collect();
    assert_eq!(ids, ["tls-grpc", "tls-http-json", "tls-http-protobuf"]);
    logs.iter().for_each(assert_exact);

    runtime.block_on(receiver.shutdown());
    let store = Store::open(data.path()).unwrap();
    for (_, _, id) in untrusted {
        assert!(store.latest_call(id, None).unwrap().is_none(), "{id}");
    }
}
