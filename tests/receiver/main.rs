//! The receiver's integration tests, one binary: each module tests one part of the receiver
//! over real sockets, real HTTP endpoints and the real fixtures. The tests of all modules run
//! in parallel threads of this one process, so a test must not depend on process-global state:
//! no environment variables (give secrets and tokens as files), no current directory, no fixed
//! ports (bind port 0: `common::net::LOOPBACK`), no global tracing subscriber (drive the
//! agent side through `common::agent::Agent`, scoped to a dispatcher).
//!
//! To add a module: write `tests/receiver/<name>.rs` (its doc comment says what it tests),
//! declare it below, and use the helpers of `tests/common` rather than writing new ones; a
//! helper two modules need goes into `tests/common`. `cargo test --all-features --test
//! receiver -- <name>::` runs one module.
//!
//! Helpers (`tests/common`):
//! - `receiver`: a receiver in-process (`config(dir)` with port 0, `start`), its URLs, the call
//!   logs it announces (`next_call_logs`, `call_logs_by`);
//! - `serve`: `voicetrace serve` as a child process (`command`, `Serve::spawn`, the listening
//!   line's addresses, SIGTERM/SIGINT/SIGKILL);
//! - `fixtures`: the real Pipecat and LiveKit exports and `assert_matches_expected`;
//! - `otlp`: OTLP span and request builders (shared with the benches and the fuzz targets);
//! - `http`: OTLP/HTTP posts, API gets, gzip, `/metrics` values;
//! - `endpoint`: a real HTTP endpoint for sinks, scripted replies, every request it received;
//! - `sinks`: `SinkSpec` (the one place a `SinkConfig` is built), the forwarder, jsonl output;
//! - `calllog`: a turn builder and a call log with defaults, the API and forward samples;
//! - `api`: the API served over call logs in memory or a failing store;
//! - `cekura`: Cekura's `CreateCallLog` schema and a validator;
//! - `agent`: the crate's pipeline scoped to a dispatcher, the simulated agent, and
//!   `assert_simulated`;
//! - `capture`: an OTLP receiver that keeps what it is sent;
//! - `audio`: real speech (espeak-ng) as WAV, FLAC and OGG/Opus, for the recording tests;
//! - `browser`: headless Chromium over WebDriver (chromedriver), its log and the URLs it requested;
//! - `livekit`: a LiveKit worker's end-of-job upload (header, chat history, audio);
//! - `wait`: waiting on a condition with a deadline (`within`, `wait_for`), never a fixed sleep;
//! - `net`: loopback, free ports, a port nothing listens on;
//! - `postgres`: a throwaway PostgreSQL cluster, one per test binary (`PgCluster::shared`), a
//!   fresh database per test (`fresh_database`, a `postgres://` URL).

#[path = "../common/mod.rs"]
mod common;

mod api_grpc;
mod api_grpc_receiver;
mod api_http;
mod api_proto;
mod api_text;
mod assemble;
mod auth_tls;
mod console;
mod cost;
mod crash_recovery;
mod e2e;
mod exporter_tls;
mod fleet;
mod fleet_live;
mod forward_delivery;
mod forward_sinks;
mod hostile_input;
mod privacy;
mod recordings;
mod simulated_agent;
mod speech_marks;
mod store_backends;
mod traffic;
