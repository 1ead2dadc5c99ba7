//! A simulated voice agent: fake STT, LLM and TTS with configurable latencies and jitter,
//! several concurrent calls, each with a greeting, exchanges, a tool call and a barge-in.
//! It exports to whatever OTLP endpoint the standard environment variables name.
//!
//! ```text
//! OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \
//!   cargo run --example simulated_agent -- --calls 5 --exchanges 4 --time-scale 0.5
//! ```
//!
//! Flags: `--calls N`, `--exchanges N`, `--time-scale F` (0 = no sleeping), `--seed N`,
//! `--stt-ms N`, `--llm-ms N`, `--tts-ms N`, `--jitter F`, `--agent-id ID`, `--prefix P`.

use std::time::Duration;

use voicetrace::instrument::simulate::{self, SimConfig};

fn parse_args() -> Result<SimConfig, String> {
    let mut config = SimConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            return Err(String::new());
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        let millis = |v: &str| v.parse::<u64>().map(Duration::from_millis);
        match flag.as_str() {
            "--calls" => config.calls = value.parse().map_err(|e| bad(&e))?,
            "--exchanges" => config.exchanges = value.parse().map_err(|e| bad(&e))?,
            "--time-scale" => config.time_scale = value.parse().map_err(|e| bad(&e))?,
            "--seed" => config.seed = value.parse().map_err(|e| bad(&e))?,
            "--jitter" => config.jitter = value.parse().map_err(|e| bad(&e))?,
            "--stt-ms" => config.stt = millis(&value).map_err(|e| bad(&e))?,
            "--llm-ms" => config.llm = millis(&value).map_err(|e| bad(&e))?,
            "--tts-ms" => config.tts = millis(&value).map_err(|e| bad(&e))?,
            "--agent-id" => config.agent_id = value,
            "--prefix" => config.call_id_prefix = value,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let config = match parse_args() {
        Ok(config) => config,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("error: {message}");
            }
            eprintln!(
                "usage: simulated_agent [--calls N] [--exchanges N] [--time-scale F] [--seed N] \
                 [--stt-ms N] [--llm-ms N] [--tts-ms N] [--jitter F] [--agent-id ID] [--prefix P]"
            );
            std::process::exit(2);
        }
    };
    // Keep the guard until the end: dropping it exports the last spans.
    let guard = voicetrace::init()?;
    let calls = simulate::run(&config).await;
    for call in &calls {
        let latencies: Vec<String> = call
            .turns
            .iter()
            .map(|t| t.latency_ms.map_or("-".to_string(), |l| format!("{l}ms")))
            .collect();
        println!(
            "call {}  trace {}  turns {}  latency {}",
            call.call_id,
            call.trace_id,
            call.turns.len(),
            latencies.join(" ")
        );
    }
    guard.shutdown()?;
    Ok(())
}
