//! The `voicetrace` command line: the receiver (`serve`), the first-run demo (`demo`), and tools
//! to look at what the receiver kept (`calls`, `call`, `sinks`) or to find a call's trace
//! (`trace-id`).

mod cli;

use std::process::ExitCode;

use clap::Parser;

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
