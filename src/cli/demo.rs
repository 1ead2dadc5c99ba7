//! `voicetrace demo`: the first thing a new user runs. A receiver on free loopback ports and a
//! simulated voice agent in the same process, talking real OTLP/gRPC; prints each call's
//! per-turn table once its call log is stored, and where the JSONL file and the store are;
//! then keeps the receiver and its console running (the console's URL is printed) until
//! Ctrl-C, or stops at once with `--exit`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;

use voicetrace::instrument::simulate::{self, SimConfig};
use voicetrace::instrument::{Config, Protocol};
use voicetrace::receiver::config::ServeConfig;
use voicetrace::receiver::forward::SinkConfig;
use voicetrace::receiver::server::Receiver;

/// A short grace: the demo's agent flushes its spans before it waits, so nothing straggles.
const DEMO_GRACE_MS: u64 = 300;
/// How long the demo waits for call logs after the agent finished before it gives up.
const DEMO_WAIT: Duration = Duration::from_secs(30);

/// Flags of `voicetrace demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Concurrent simulated calls.
    #[arg(long, default_value_t = 3)]
    calls: usize,
    /// User turns per call after the greeting.
    #[arg(long, default_value_t = 4)]
    exchanges: usize,
    /// Real time per simulated second (1 = real time; 0 = as fast as possible). The default
    /// plays the simulated speech (150 words a minute) at a tenth of its length, so the demo's
    /// calls take about 3 s; the stage figures are the planned ones whatever the scale.
    #[arg(long, default_value_t = 0.1)]
    time_scale: f64,
    /// Where to keep the store and the JSONL file [default: a new temporary directory].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Trace link template for the call logs.
    #[arg(long, default_value = "http://localhost:16686/trace/{trace_id}")]
    trace_url_template: String,
    /// Where the API and the console listen.
    #[arg(long, default_value = "127.0.0.1:0")]
    api_addr: std::net::SocketAddr,
    /// Stop once the call logs are printed instead of keeping the console running (scripts).
    #[arg(long)]
    exit: bool,
}

/// Runs the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    let data_dir = match args.data_dir.clone() {
        Some(dir) => dir,
        None => std::env::temp_dir().join(format!("voicetrace-demo-{}", std::process::id())),
    };
    std::fs::create_dir_all(&data_dir)
        .with_context(|| format!("cannot create {}", data_dir.display()))?;
    let jsonl = data_dir.join("calls.jsonl");
    let runtime = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    runtime.block_on(demo(args, data_dir, jsonl))
}

async fn demo(args: DemoArgs, data_dir: PathBuf, jsonl: PathBuf) -> Result<()> {
    let loopback = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let config = ServeConfig {
        otlp_grpc_addr: loopback,
        otlp_http_addr: loopback,
        api_addr: Some(args.api_addr),
        data_dir: data_dir.clone(),
        grace_ms: DEMO_GRACE_MS,
        trace_url_template: Some(args.trace_url_template.clone()),
        sinks: vec![SinkConfig::from_flag(&format!(
            "jsonl:{}",
            jsonl.display()
        ))?],
        ..ServeConfig::default()
    };
    let receiver = Receiver::start(config).await?;
    println!("{}", receiver.listening_line());
    let mut finished = receiver.subscribe();

    // The agent side: the crate's own pipeline, exporting over OTLP/gRPC to the receiver.
    let guard = Config::from_env()
        .protocol(Protocol::Grpc)
        .endpoint(format!("http://{}", receiver.otlp_grpc_addr))
        .service_name("voicetrace-demo-agent")
        .deployment_id("demo-1")
        .service_version(env!("CARGO_PKG_VERSION"))
        .deployment_environment("demo")
        .batch_delay(Duration::from_millis(200))
        .fmt_output(false)
        .log_filter("warn,voicetrace=info")
        .init()
        .context("cannot set up the agent's OTLP pipeline")?;
    let sim = SimConfig {
        calls: args.calls,
        exchanges: args.exchanges,
        time_scale: args.time_scale,
        ..SimConfig::default()
    };
    println!(
        "simulating {} concurrent call(s) of {} exchange(s) each ...",
        sim.calls, sim.exchanges
    );
    let calls = simulate::run(&sim).await;
    guard.flush().context("cannot export the agent's spans")?;

    let mut waiting: HashSet<String> = calls.iter().map(|c| c.call_id.clone()).collect();
    let deadline = tokio::time::Instant::now() + DEMO_WAIT;
    while !waiting.is_empty() {
        let log = match tokio::time::timeout_at(deadline, finished.recv()).await {
            Ok(Ok(log)) => log,
            Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
            Ok(Err(_)) => bail!("the receiver stopped before every call log arrived"),
            Err(_) => bail!("no call log within {DEMO_WAIT:?} for: {waiting:?}"),
        };
        if waiting.remove(&log.id) {
            println!();
            print!("{}", voicetrace::receiver::api::text::format_call(&log));
        }
    }
    let api = receiver.api_addr.map(|a| a.to_string()).unwrap_or_default();
    // The agent first (its spans are all out), then the receiver.
    drop(guard);
    if !args.exit {
        println!();
        println!("console: http://{api}/   (Ctrl-C stops the demo)");
        tokio::signal::ctrl_c()
            .await
            .context("cannot wait for Ctrl-C")?;
    }
    receiver.shutdown().await;
    println!();
    println!("call logs (one JSON per line): {}", jsonl.display());
    println!(
        "store (SQLite):                {}",
        data_dir.join("voicetrace.db").display()
    );
    println!(
        "look again with:               voicetrace calls --data-dir {}",
        data_dir.display()
    );
    println!(
        "look in a browser again with:  voicetrace serve --data-dir {}",
        data_dir.display()
    );
    Ok(())
}
