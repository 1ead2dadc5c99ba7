//! The `voicetrace` command line: the receiver (`serve`), the first-run demo (`demo`), and tools
//! to look at what the receiver kept (`calls`, `call`, `sinks`) or to find a call's trace
//! (`trace-id`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

/// The receiver allocates and frees small objects at a high rate (a span's attributes, the
/// call log's strings, SQLite's rows); mimalloc does that with less CPU than the system
/// allocator (about a fifth of `serve`'s CPU went to glibc malloc in the ingest benchmark).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("voicetrace: {e:#}");
            ExitCode::FAILURE
        }
    }
}
