//! The support of the integration tests, one module per purpose. The receiver binary
//! (`tests/receiver/main.rs`) and the peers binary (`tests/peers/main.rs`) declare this tree as
//! `mod common`; the `instrument_*` binaries declare only the modules they need (`capture`,
//! `instrumented`, `wait`) in an inline `mod common { ... }`. The benches
//! (`benches/assemble.rs`) and the fuzz targets (`fuzz/`) include [`otlp`] (and the benches
//! [`fixtures`]) with `#[path]`: those two files depend on nothing else in this tree.
//!
//! Every binary uses only part of it.
#![allow(dead_code)]

pub mod agent;
pub mod api;
pub mod audio;
pub mod browser;
pub mod calllog;
pub mod capture;
pub mod cekura;
pub mod endpoint;
pub mod fixtures;
pub mod http;
pub mod instrumented;
pub mod livekit;
pub mod net;
pub mod otlp;
pub mod peers;
pub mod postgres;
pub mod receiver;
pub mod serve;
pub mod sinks;
pub mod tls;
pub mod wait;
