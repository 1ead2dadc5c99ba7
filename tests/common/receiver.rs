//! A receiver started in-process (`Receiver::start`) on loopback ports the system picks, and
//! the call logs it announces.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use tokio::sync::broadcast;
use voicetrace::receiver::calllog::CallLog;
use voicetrace::receiver::server::{Receiver, ServeConfig};

use super::fixtures::{assert_matches_expected, expected_calls};
use super::net::LOOPBACK;
use super::wait::within;

/// Call logs a receiver announces as it stores them.
pub type Announced = broadcast::Receiver<Arc<CallLog>>;

/// The configuration the tests start from: OTLP listeners on loopback, no API, data in
/// `data_dir`, a grace of 200 ms after a root span (call logs come out quickly, yet a root
/// arriving a little before its children still finds them). Tests change what they test with
/// struct update syntax: `ServeConfig { max_calls: 1, ..config(dir) }`.
pub fn config(data_dir: &Path) -> ServeConfig {
    ServeConfig {
        otlp_grpc_addr: LOOPBACK,
        otlp_http_addr: LOOPBACK,
        api_addr: None,
        data_dir: data_dir.to_path_buf(),
        grace_ms: 200,
        ..ServeConfig::default()
    }
}

/// Starts a receiver.
pub async fn start(config: ServeConfig) -> Receiver {
    Receiver::start(config).await.expect("receiver starts")
}

/// Its OTLP/HTTP traces URL.
pub fn traces_url(receiver: &Receiver) -> String {
    format!("http://{}/v1/traces", receiver.otlp_http_addr)
}

/// Its OTLP/gRPC endpoint (also the gRPC API's).
pub fn grpc_url(receiver: &Receiver) -> String {
    format!("http://{}", receiver.otlp_grpc_addr)
}

/// The next `n` call logs announced (first revisions and revisions alike).
pub async fn next_call_logs(rx: &mut Announced, n: usize) -> Vec<CallLog> {
    let mut logs = Vec::new();
    while logs.len() < n {
        let log = within(&format!("call log {} of {n}", logs.len() + 1), rx.recv())
            .await
            .expect("receiver running");
        logs.push((*log).clone());
    }
    logs
}

/// The next call logs announced, as many as fixture `dir` holds calls, checked against its
/// `expected.json`.
pub async fn expect_fixture(rx: &mut Announced, dir: &Path) -> Vec<CallLog> {
    let logs = next_call_logs(rx, expected_calls(dir)).await;
    assert_matches_expected(dir, &logs);
    logs
}

/// Call logs until every key in `wanted` has one, keyed by `key` (the call id, the trace id);
/// the latest announced of each.
pub async fn call_logs_by(
    rx: &mut Announced,
    wanted: &[String],
    key: impl Fn(&CallLog) -> String,
) -> HashMap<String, CallLog> {
    let mut logs = HashMap::new();
    while !wanted.iter().all(|k| logs.contains_key(k)) {
        let missing: Vec<&String> = wanted.iter().filter(|k| !logs.contains_key(*k)).collect();
        let log = within(&format!("the call logs of {missing:?}"), rx.recv())
            .await
            .expect("receiver running");
        logs.insert(key(&log), (*log).clone());
    }
    logs
}
