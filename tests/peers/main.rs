//! Interop with real peers, one binary: each module runs voicetrace against a program installed
//! by `scripts/setup-test-env.sh` (the OpenTelemetry Python SDK, rotel, Prometheus), or checks a
//! configuration written for one (otelcol-contrib, which cannot be installed here). Kept apart
//! from the receiver binary so that the receiver's tests run without the peers installed.
//!
//! Modules follow the rules of `tests/receiver/main.rs` (no process-global state, port 0, the
//! agent side through `common::agent::Agent`) and use the same helpers, `tests/common`; the
//! peers themselves are in `common::peers`.

#[path = "../common/mod.rs"]
mod common;

mod collector_config;
mod dashboard;
mod install;
mod prometheus;
mod python;
mod python_metrics;
mod rotel;
mod rotel_overload;
