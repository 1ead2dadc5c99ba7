//! The fixtures: real framework exports under `tests/fixtures/<name>/requests` (each request as
//! OTLP protobuf `.pb` and OTLP/JSON `.json`, in arrival order) and the call logs they must give,
//! `expected.json`, compared figure for figure by [`assert_matches_expected`].
//!
//! Depends on no other support module: the benches include this file too.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use serde_json::Value;
use voicetrace::receiver::calllog::CallLog;
use voicetrace::receiver::ingest::decode::{decode_traces, from_otlp_json};
use voicetrace::receiver::span::SpanRecord;

/// `tests/fixtures/<name>`.
pub fn dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The two basic fixtures, livekit-basic then pipecat-basic: what the transport, storage and
/// forwarding tests replay (they index this list).
pub fn fixture_dirs() -> Vec<PathBuf> {
    vec![dir("livekit-basic"), dir("pipecat-basic")]
}

/// `tests/fixtures/<name>` for every fixture that has an `expected.json`, sorted: what the
/// assembly and end-to-end tests check figure for figure.
pub fn all_fixture_dirs() -> Vec<PathBuf> {
    let root = dir("");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("expected.json").is_file())
        .collect();
    dirs.sort();
    assert!(!dirs.is_empty(), "no fixtures under {}", root.display());
    dirs
}

/// The request files of a fixture with one extension, in arrival order.
pub fn request_files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("requests"))
        .expect("requests dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    files.sort();
    files
}

/// The raw protobuf bodies of a fixture, in arrival order.
pub fn request_bodies(dir: &Path) -> Vec<Vec<u8>> {
    request_files(dir, "pb")
        .iter()
        .map(|p| std::fs::read(p).expect("read .pb"))
        .collect()
}

/// The requests of a fixture, decoded from the `.pb` bodies, in arrival order.
pub fn requests(dir: &Path) -> Vec<ExportTraceServiceRequest> {
    request_bodies(dir)
        .iter()
        .map(|body| ExportTraceServiceRequest::decode(&body[..]).expect("decode .pb"))
        .collect()
}

/// The spans of each request (decoded from the `.pb` bodies), in arrival order.
pub fn load_fixture_spans(dir: &Path) -> Vec<Vec<SpanRecord>> {
    requests(dir)
        .into_iter()
        .map(|request| {
            let decoded = decode_traces(request);
            assert_eq!(decoded.rejected, 0);
            decoded.spans
        })
        .collect()
}

/// The same, from the OTLP/JSON copies.
pub fn load_fixture_spans_json(dir: &Path) -> Vec<Vec<SpanRecord>> {
    request_files(dir, "json")
        .iter()
        .map(|p| {
            let request: ExportTraceServiceRequest =
                from_otlp_json(&std::fs::read(p).expect("read .json")).expect("decode OTLP/JSON");
            decode_traces(request).spans
        })
        .collect()
}

/// `expected.json` of a fixture: one object per call.
pub fn expected(dir: &Path) -> Vec<Value> {
    serde_json::from_slice(&std::fs::read(dir.join("expected.json")).expect("expected.json"))
        .expect("expected.json parses")
}

/// How many calls a fixture holds.
pub fn expected_calls(dir: &Path) -> usize {
    expected(dir).len()
}

/// Asserts that `logs` hold exactly the calls of `dir/expected.json`, figure for figure.
pub fn assert_matches_expected(dir: &Path, logs: &[CallLog]) {
    let expected = expected(dir);
    let name = dir
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .to_string();
    assert_eq!(logs.len(), expected.len(), "{name}: number of calls");
    for want in &expected {
        let call_id = want["callId"].as_str().expect("callId");
        let log = logs
            .iter()
            .find(|l| l.id == call_id)
            .unwrap_or_else(|| panic!("{name}: no call log for {call_id}"));
        let got = serde_json::to_value(log).expect("call log serialises");
        assert_eq!(got["traceId"], want["traceId"], "{name}/{call_id}: traceId");
        let turns = got["turns"].as_array().expect("turns");
        assert_eq!(
            turns.len() as u64,
            want["turnCount"].as_u64().unwrap_or(0),
            "{name}/{call_id}: turnCount"
        );
        for (got_turn, want_turn) in turns.iter().zip(want["turns"].as_array().expect("turns")) {
            let index = &want_turn["index"];
            // The basic fields always; any other field the fixture names (speech intervals,
            // s2sMs, endedByCall, interruption, ...) as given.
            let named = want_turn
                .as_object()
                .expect("turn")
                .keys()
                .map(String::as_str);
            let basic = [
                "index",
                "sttMs",
                "llmMs",
                "ttsMs",
                "latencyMs",
                "endpointingMs",
                "interrupted",
                "userText",
            ];
            let mut fields: Vec<&str> = basic.to_vec();
            fields.extend(named.filter(|k| *k != "toolCalls" && !basic.contains(k)));
            for field in fields {
                assert_eq!(
                    got_turn[field], want_turn[field],
                    "{name}/{call_id} turn {index}: {field}"
                );
            }
            let tools: Vec<Value> = got_turn["tools"]
                .as_array()
                .expect("tools")
                .iter()
                .map(|t| t["name"].clone())
                .collect();
            assert_eq!(
                Value::Array(tools),
                want_turn["toolCalls"],
                "{name}/{call_id} turn {index}: toolCalls"
            );
        }
        for (metric, value) in want["metrics"].as_object().expect("metrics") {
            assert_eq!(
                &got["metrics"][metric], value,
                "{name}/{call_id}: metrics.{metric}"
            );
        }
    }
}
