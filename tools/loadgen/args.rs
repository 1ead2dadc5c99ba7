//! The command line: flags, their defaults and checks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How to run.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub(crate) protocol: Protocol,
    pub(crate) endpoint: String,
    pub(crate) calls: usize,
    pub(crate) turns: u32,
    pub(crate) spans_per_turn: u32,
    pub(crate) batch: usize,
    pub(crate) connections: usize,
    pub(crate) duration: Option<Duration>,
    pub(crate) spans: Option<u64>,
    /// Spans per second to offer (open loop), or as fast as the receiver accepts.
    pub(crate) rate: Option<f64>,
    pub(crate) max_retries: u32,
    pub(crate) gzip: bool,
    pub(crate) prefix: String,
    pub(crate) seed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Protocol {
    Grpc,
    Http,
}

pub(crate) const USAGE: &str =
    "usage: voicetrace-loadgen [--protocol grpc|http] [--endpoint URL] [--calls N]
                          [--turns N] [--spans-per-turn N] [--batch N] [--connections N]
                          (--duration SECS | --spans N) [--rate SPANS_PER_S]
                          [--max-retries N] [--gzip]
                          [--prefix P] [--seed N]

  --protocol        grpc (OTLP/gRPC, default) or http (OTLP/HTTP protobuf)
  --endpoint        receiver URL [default: http://127.0.0.1:4317 for grpc, http://127.0.0.1:4318 for
                    http]; for http, /v1/traces is appended unless the URL has a path
  --calls           calls open at once [default: 100]
  --turns           turns per call, the greeting included [default: 6]
  --spans-per-turn  spans per user turn: 4 = turn+stt+llm+tts; more adds tool_call/llm pairs
                    [default: 4]
  --batch           spans per export request [default: 512]
  --connections     concurrent senders [default: 4]
  --duration        stop starting calls after SECS seconds [default: 10]
  --spans           stop starting calls after N spans (instead of --duration)
  --rate            offer this many spans per second, paced, instead of as many as the receiver
                    accepts (for latency at a load below its capacity)
  --max-retries     retries of a request the receiver asks to retry [default: 20]
  --gzip            gzip-compress gRPC requests
  --prefix          call id prefix [default: random]
  --seed            seed of the figures [default: 1]";

pub(crate) fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        protocol: Protocol::Grpc,
        endpoint: String::new(),
        calls: 100,
        turns: 6,
        spans_per_turn: 4,
        batch: 512,
        connections: 4,
        duration: None,
        spans: None,
        rate: None,
        max_retries: 20,
        gzip: false,
        prefix: format!("lg-{:08x}-", seed_from_clock() as u32),
        seed: 1,
    };
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match flag.as_str() {
            "-h" | "--help" => return Err(String::new()),
            "--gzip" => {
                o.gzip = true;
                continue;
            }
            _ => {}
        }
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = |e: &dyn std::fmt::Display| format!("{flag} {value}: {e}");
        match flag.as_str() {
            "--protocol" => {
                o.protocol = match value.as_str() {
                    "grpc" => Protocol::Grpc,
                    "http" | "http/protobuf" => Protocol::Http,
                    other => return Err(format!("unknown protocol {other} (grpc or http)")),
                }
            }
            "--endpoint" => o.endpoint = value,
            "--calls" => o.calls = value.parse().map_err(|e| bad(&e))?,
            "--turns" => o.turns = value.parse().map_err(|e| bad(&e))?,
            "--spans-per-turn" => o.spans_per_turn = value.parse().map_err(|e| bad(&e))?,
            "--batch" => o.batch = value.parse().map_err(|e| bad(&e))?,
            "--connections" => o.connections = value.parse().map_err(|e| bad(&e))?,
            "--duration" => {
                o.duration = Some(Duration::from_secs_f64(
                    value.parse::<f64>().map_err(|e| bad(&e))?,
                ))
            }
            "--spans" => o.spans = Some(value.parse().map_err(|e| bad(&e))?),
            "--rate" => {
                let rate: f64 = value.parse().map_err(|e| bad(&e))?;
                if !(rate > 0.0 && rate.is_finite()) {
                    return Err(format!("--rate {value}: must be a positive number"));
                }
                o.rate = Some(rate);
            }
            "--max-retries" => o.max_retries = value.parse().map_err(|e| bad(&e))?,
            "--prefix" => o.prefix = value,
            "--seed" => o.seed = value.parse().map_err(|e| bad(&e))?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if o.calls == 0 || o.batch == 0 || o.connections == 0 || o.turns == 0 {
        return Err("--calls, --turns, --batch and --connections must be at least 1".into());
    }
    if o.spans_per_turn < 4 {
        return Err("--spans-per-turn is at least 4 (turn, stt, llm, tts)".into());
    }
    if o.duration.is_none() && o.spans.is_none() {
        o.duration = Some(Duration::from_secs(10));
    }
    if o.endpoint.is_empty() {
        o.endpoint = match o.protocol {
            Protocol::Grpc => "http://127.0.0.1:4317".into(),
            Protocol::Http => "http://127.0.0.1:4318".into(),
        };
    }
    if o.protocol == Protocol::Http && o.gzip {
        return Err("--gzip is for gRPC only".into());
    }
    Ok(o)
}

fn seed_from_clock() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
        ^ u64::from(std::process::id())
}
