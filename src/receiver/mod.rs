//! The receiver: OTLP in, call logs out.
//!
//! The data flow runs in one direction, one module per stage (DESIGN.md):
//!
//! ```text
//! ingest ──► journal ──► assemble ──► analyze ──► store ──► forward (outbox → sinks)
//!  OTLP       durable     calls by      metrics,    SQLite:     cekura, webhook,
//!  gRPC/HTTP  before ack  trace_id,     issues      call logs,  http, jsonl
//!                         turns, timing             outbox
//! ```
//!
//! - [`span`]: the plain records ingest hands to assembly.
//! - [`ingest`]: OTLP/gRPC and OTLP/HTTP endpoints; decoding, validation, back-pressure.
//! - [`journal`]: makes "accepted" durable: batches are journaled before the exporter's answer
//!   and replayed after a restart.
//! - [`assemble`]: the pure core that groups spans into calls and builds call logs.
//! - [`analyze`]: the pure call metrics and issues.
//! - [`calllog`]: the call log (and the live [`calllog::CallUpdate`]s) every later stage consumes.
//! - [`query`]: the console's reads as plain queries and rows, behind one interface.
//! - [`store`]: the embedded SQLite database: call logs by revision and one outbox per sink.
//! - [`forward`]: the delivery loop and the sinks that receive call logs.
//! - [`recordings`]: calls' audio, uploaded by agents, kept beside the store, served with Range.
//! - [`console`]: the console, pages for people on the API listener.
//! - [`redact`]: the pure stage that takes card numbers, emails, phone numbers, ... out of a
//!   call log's texts, before it is stored or before it leaves for a sink.
//! - [`server`]: wires the stages together into `voicetrace serve`.
//! - [`auth`] and [`tls`]: optional bearer tokens and TLS on the listeners; [`secret`]: how
//!   tokens and sink secrets are read and kept out of logs and errors.

pub mod analyze;
pub mod api;
pub mod assemble;
pub mod auth;
pub mod calllog;
pub mod config;
pub mod console;
pub mod forward;
pub mod ingest;
pub mod journal;
mod listeners;
pub mod metrics;
pub mod query;
pub mod recordings;
pub mod redact;
pub mod secret;
pub mod server;
pub mod span;
pub mod store;
pub mod tls;
