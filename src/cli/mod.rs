//! Subcommands of the `voicetrace` binary. Each parses its flags with clap, builds the library's
//! plain configuration and calls into the library; errors carry context with `anyhow`.

mod demo;
mod serve;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};

use voicetrace::receiver::calllog::{trace_link, CallQuery};
use voicetrace::receiver::store::Store;

/// OpenTelemetry observability for voice agents: per-turn STT/LLM/TTS latency from spans.
#[derive(Debug, Parser)]
#[command(name = "voicetrace", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the receiver: OTLP in, call logs out (store, API, sinks).
    Serve(Box<serve::ServeArgs>),
    /// Start a receiver and a simulated voice agent in-process and show the call logs.
    Demo(demo::DemoArgs),
    /// Print the trace id of a call id (and its trace link with --trace-url-template).
    TraceId {
        /// The call id.
        call_id: String,
        /// A link template, e.g. `http://localhost:16686/trace/{trace_id}`.
        #[arg(long, env = "VOICETRACE_TRACE_URL_TEMPLATE")]
        trace_url_template: Option<String>,
    },
    /// List recent calls kept in the store.
    Calls {
        /// The receiver's data directory.
        #[arg(long, default_value = serve::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// How many calls.
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only this agent's calls.
        #[arg(long)]
        agent: Option<String>,
    },
    /// Show one call's turns with their stage latencies.
    Call {
        /// The call id.
        id: String,
        /// Which call, when several share the id (one per trace) [default: the most recent].
        #[arg(long)]
        trace_id: Option<String>,
        /// The receiver's data directory.
        #[arg(long, default_value = serve::DEFAULT_DATA_DIR)]
        data_dir: PathBuf,
        /// Print the call log as JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show each sink's delivered / pending / retrying / dead counts.
    Sinks {
        /// The receiver's data directory.
        #[arg(long, default_value = serve::DEFAULT_DATA_DIR, global = true)]
        data_dir: PathBuf,
        #[command(subcommand)]
        action: Option<SinksAction>,
    },
}

#[derive(Debug, Subcommand)]
enum SinksAction {
    /// Re-queue a sink's dead letters for delivery.
    RetryDead {
        /// The sink's name (as `voicetrace sinks` lists it).
        sink: String,
    },
}

/// Runs one command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve::run(*args),
        Command::Demo(args) => demo::run(args),
        Command::TraceId {
            call_id,
            trace_url_template,
        } => {
            let trace_id = voicetrace::trace_id::trace_id_hex(&call_id);
            println!("{trace_id}");
            if let Some(template) = trace_url_template {
                println!("{}", trace_link(&template, &trace_id, &call_id));
            }
            Ok(())
        }
        Command::Calls {
            data_dir,
            limit,
            agent,
        } => {
            let store = open_store(&data_dir)?;
            let page = store
                .list_calls(&CallQuery {
                    agent_id: agent,
                    limit,
                    ..Default::default()
                })
                .context("cannot list calls")?;
            print!(
                "{}",
                voicetrace::receiver::api::text::format_calls_table(&page.calls)
            );
            Ok(())
        }
        Command::Call {
            id,
            trace_id,
            data_dir,
            json,
        } => {
            let store = open_store(&data_dir)?;
            let log = store
                .latest_call(&id, trace_id.as_deref())
                .context("cannot read the call")?
                .with_context(|| format!("no call {id:?} in {}", data_dir.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&log)?);
            } else {
                print!("{}", voicetrace::receiver::api::text::format_call(&log));
            }
            Ok(())
        }
        Command::Sinks { data_dir, action } => {
            let store = open_store(&data_dir)?;
            match action {
                None => {
                    let stats = store.sink_stats().context("cannot read the outbox")?;
                    print!(
                        "{}",
                        voicetrace::receiver::forward::format_sink_stats(&stats)
                    );
                }
                Some(SinksAction::RetryDead { sink }) => {
                    let n = store
                        .retry_dead(&sink)
                        .with_context(|| format!("cannot re-queue sink {sink:?}"))?;
                    println!("re-queued {n} dead letter(s) of sink {sink}");
                }
            }
            Ok(())
        }
    }
}

/// Opens an existing store (read commands do not create one).
fn open_store(data_dir: &Path) -> Result<Store> {
    anyhow::ensure!(
        data_dir.is_dir(),
        "no data directory {} (start `voicetrace serve --data-dir {}` first, or pass --data-dir)",
        data_dir.display(),
        data_dir.display()
    );
    Store::open(data_dir)
        .with_context(|| format!("cannot open the store in {}", data_dir.display()))
}
