//! Sinks as the tests configure them, the forwarder over a store, and what a jsonl sink wrote.
//!
//! [`SinkSpec::config`] is the one place the tests build a `SinkConfig`: every test says what
//! its sink is in a [`SinkSpec`], so a change of the configuration type is made here only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use voicetrace::receiver::calllog::CallUpdate;
use voicetrace::receiver::forward::{Forwarder, RetryPolicy, SecretConfig, SinkConfig, SinkKind};
use voicetrace::receiver::store::recorder::Deliveries;
use voicetrace::receiver::store::{now_ms, Store};

use super::wait::wait_for;

/// The API key the cekura tests use (from a file, never the environment: tests run in
/// parallel threads).
pub const API_KEY: &str = "ck_test_6f1d2c3b4a5e";
/// The webhook secret the webhook tests use.
pub const WEBHOOK_SECRET: &str = "whsec_test_9a8b7c6d";

/// What a test's sink is: kind and target, and each setting a test changes (`None`: the
/// default).
#[derive(Debug, Clone)]
pub struct SinkSpec {
    pub kind: SinkKind,
    pub target: String,
    pub name: Option<String>,
    pub secret_file: Option<PathBuf>,
    pub secret_env: Option<String>,
    pub headers: Vec<(String, String)>,
    /// cekura: the Cekura agent id.
    pub agent: Option<i64>,
    /// webhook: the envelope's `webhook_id`.
    pub webhook_id: Option<String>,
    pub concurrency: Option<usize>,
    pub timeout_ms: Option<u64>,
    pub retry: Option<RetryPolicy>,
    /// Sent redacted call logs (`redact = true`).
    pub redact: bool,
}

impl SinkSpec {
    /// A sink of `kind` to `target`, every setting at its default.
    pub fn new(kind: SinkKind, target: &str) -> SinkSpec {
        SinkSpec {
            kind,
            target: target.to_string(),
            name: None,
            secret_file: None,
            secret_env: None,
            headers: Vec::new(),
            agent: None,
            webhook_id: None,
            concurrency: None,
            timeout_ms: None,
            retry: None,
            redact: false,
        }
    }

    /// The jsonl sink appending to `path`.
    pub fn jsonl(path: &Path) -> SinkSpec {
        SinkSpec::new(SinkKind::Jsonl, &path.display().to_string())
    }

    /// The receiver's configuration of this sink.
    pub fn config(&self) -> SinkConfig {
        let mut c = SinkConfig::new(self.kind, self.target.as_str());
        let shared = c.shared_mut();
        shared.name = self.name.clone();
        shared.headers.extend(self.headers.iter().cloned());
        if let Some(n) = self.concurrency {
            shared.concurrency = n;
        }
        if let Some(ms) = self.timeout_ms {
            shared.timeout_ms = ms;
        }
        if let Some(retry) = &self.retry {
            shared.retry = retry.clone();
        }
        shared.redact = self.redact;
        let secret = SecretConfig {
            secret_env: self.secret_env.clone(),
            secret_file: self.secret_file.clone(),
        };
        match &mut c {
            SinkConfig::Cekura(k) => {
                k.secret = secret;
                k.keys.agent = self.agent;
            }
            SinkConfig::Webhook(k) => {
                k.secret = secret;
                k.keys.webhook_id = self.webhook_id.clone();
            }
            SinkConfig::Http(k) => k.secret = secret,
            SinkConfig::Jsonl(_) => {}
        }
        c
    }
}

impl SinkSpec {
    /// The sink as a `[[sinks]]` table of `voicetrace serve`'s config file (the settings the
    /// spec sets; the others at their defaults).
    pub fn toml_table(&self) -> String {
        let quoted = |s: &str| toml::Value::String(s.to_string()).to_string();
        let mut t = format!(
            "[[sinks]]\nkind = {}\ntarget = {}\nredact = {}\n",
            quoted(self.kind.as_str()),
            quoted(&self.target),
            self.redact
        );
        let mut line = |key: &str, value: String| t.push_str(&format!("{key} = {value}\n"));
        if let Some(name) = &self.name {
            line("name", quoted(name));
        }
        if let Some(path) = &self.secret_file {
            line("secret_file", quoted(&path.display().to_string()));
        }
        if let Some(var) = &self.secret_env {
            line("secret_env", quoted(var));
        }
        if let Some(agent) = self.agent {
            line("agent", agent.to_string());
        }
        if let Some(id) = &self.webhook_id {
            line("webhook_id", quoted(id));
        }
        if let Some(n) = self.concurrency {
            line("concurrency", n.to_string());
        }
        if let Some(ms) = self.timeout_ms {
            line("timeout_ms", ms.to_string());
        }
        if !self.headers.is_empty() {
            let headers: Vec<String> = self
                .headers
                .iter()
                .map(|(k, v)| format!("{} = {}", quoted(k), quoted(v)))
                .collect();
            line("headers", format!("{{ {} }}", headers.join(", ")));
        }
        if let Some(r) = &self.retry {
            t.push_str(&format!(
                "[sinks.retry]\ninitial_backoff_ms = {}\nmax_backoff_ms = {}\nmultiplier = {:?}\n\
                 jitter = {:?}\nmax_attempts = {}\nmax_age_ms = {}\n",
                r.initial_backoff_ms,
                r.max_backoff_ms,
                r.multiplier,
                r.jitter,
                r.max_attempts,
                r.max_age_ms
            ));
        }
        t
    }
}

/// Retries in milliseconds, so tests run fast.
pub fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        initial_backoff_ms: 20,
        max_backoff_ms: 200,
        multiplier: 2.0,
        jitter: 0.2,
        max_attempts: 0,
        max_age_ms: 0,
    }
}

/// A sink of `kind` to `target` for the delivery tests: fast retries, a 5 s timeout, and the
/// secret (if any) in a file under `dir`.
pub fn sink(kind: SinkKind, target: &str, secret: Option<&str>, dir: &Path) -> SinkSpec {
    let secret_file = secret.map(|secret| {
        let path = dir.join(format!("{}.secret", kind.as_str()));
        std::fs::write(&path, format!("{secret}\n")).unwrap();
        path
    });
    SinkSpec {
        retry: Some(fast_retry()),
        timeout_ms: Some(5_000),
        secret_file,
        ..SinkSpec::new(kind, target)
    }
}

/// Opens the store in `dir` and starts a forwarder with `sinks`.
pub fn start(dir: &Path, sinks: &[SinkSpec]) -> (Store, Forwarder) {
    let store = Store::open(&dir.join("data")).unwrap();
    let forwarder =
        Forwarder::start(store.clone(), sinks.iter().map(SinkSpec::config).collect()).unwrap();
    (store, forwarder)
}

/// Stores updates, as given, with the outbox entries the forwarder's sinks want, and wakes the
/// sinks (on the blocking pool, as the recorder does, but with the tests' own revisions).
pub async fn record(forwarder: &Forwarder, updates: Vec<CallUpdate>) {
    let f = forwarder.clone();
    let store = f.store().clone();
    tokio::task::spawn_blocking(move || {
        for u in &updates {
            let entries = f.entries_for(u);
            store.store_update(u, &entries, now_ms()).unwrap();
            f.stored(&entries);
        }
    })
    .await
    .unwrap();
}

/// Waits until the store says `sink` delivered `n` entries and holds none pending.
pub async fn wait_delivered(store: &Store, sink: &str, n: u64) {
    wait_for(&format!("{n} deliveries to {sink}"), || async move {
        let stats = store.sink_stats().unwrap();
        let s = stats.iter().find(|s| s.name == sink)?;
        (s.delivered == n && s.pending == 0 && s.retrying == 0).then_some(())
    })
    .await
}

/// The call logs a jsonl sink has written so far, one per whole line (the sink may be
/// appending the last one).
pub fn jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).expect("a call log per line"))
        .collect()
}

/// The latest revision of each call log in a jsonl sink, by call id.
pub fn jsonl_latest(path: &Path) -> BTreeMap<String, Value> {
    let mut logs: BTreeMap<String, Value> = BTreeMap::new();
    for log in jsonl(path) {
        let id = log["id"].as_str().expect("call log id").to_string();
        let newer = logs
            .get(&id)
            .is_none_or(|old| old["revision"].as_u64() <= log["revision"].as_u64());
        if newer {
            logs.insert(id, log);
        }
    }
    logs
}
