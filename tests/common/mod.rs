//! The support of the integration tests, one module per purpose. The receiver binary
//! (`tests/receiver/main.rs`) and the peers binary (`tests/peers/main.rs`) declare this tree as
//! `mod common`; the `instrument_*` binaries include only the files they need with `#[path]`,
//! and so do the benches (`benches/assemble.rs`) and the fuzz targets (`fuzz/`), which share
//! [`otlp`] and [`fixtures`]. Those two files therefore depend on nothing else in this tree.
//!
//! Every binary uses only part of it.
#![allow(dead_code)]

pub mod agent;
pub mod api;
pub mod calllog;
pub mod capture;
pub mod cekura;
pub mod endpoint;
pub mod fixtures;
pub mod http;
pub mod instrumented;
pub mod net;
pub mod otlp;
pub mod peers;
pub mod receiver;
pub mod serve;
pub mod sinks;
pub mod wait;
