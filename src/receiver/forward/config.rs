//! Sink configuration: the `--sink KIND:TARGET` flag and the `[[sinks]]` tables of the TOML
//! config file, both deserialised into [`SinkConfig`].

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::receiver::secret::{Secret, SecretSource};

/// Default request timeout: an ingest API that has not answered in 10 s is treated as down for
/// this attempt (the entry is retried), so one stuck request cannot hold a slot for long.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default requests in flight per sink: enough to keep up with bursts of finished calls
/// against an endpoint with ~100 ms latency, few enough not to hammer it while it recovers.
const DEFAULT_CONCURRENCY: usize = 4;

/// What kind of sink, and so what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SinkKind {
    /// Cekura's observe API (`POST {base}/observability/v1/observe/`).
    Cekura,
    /// Cartesia-style webhook events.
    Webhook,
    /// The canonical call log JSON to any URL.
    Http,
    /// One call log JSON per line, appended to a file.
    Jsonl,
}

impl SinkKind {
    /// The kind as written in flags and config.
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Cekura => "cekura",
            SinkKind::Webhook => "webhook",
            SinkKind::Http => "http",
            SinkKind::Jsonl => "jsonl",
        }
    }

    fn parse(text: &str) -> Option<SinkKind> {
        Some(match text {
            "cekura" => SinkKind::Cekura,
            "webhook" => SinkKind::Webhook,
            "http" => SinkKind::Http,
            "jsonl" => SinkKind::Jsonl,
            _ => return None,
        })
    }

    /// The environment variable a sink of this kind reads its secret from by default.
    pub fn default_secret_env(self) -> Option<&'static str> {
        match self {
            SinkKind::Cekura => Some("VOICETRACE_CEKURA_API_KEY"),
            SinkKind::Webhook => Some("VOICETRACE_WEBHOOK_SECRET"),
            SinkKind::Http => Some("VOICETRACE_HTTP_BEARER_TOKEN"),
            SinkKind::Jsonl => None,
        }
    }
}

/// A sink configuration that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The flag is not `KIND:TARGET` (or `NAME=KIND:TARGET`).
    #[error("expected KIND:TARGET (cekura:URL, webhook:URL, http:URL, jsonl:PATH), got {0:?}")]
    Flag(String),
    /// An unknown kind.
    #[error("unknown sink kind {0:?} (expected cekura, webhook, http or jsonl)")]
    Kind(String),
    /// The target is not usable for the kind.
    #[error("sink {sink}: invalid target {target:?}: {why}")]
    Target {
        /// The sink's name.
        sink: String,
        /// The target given.
        target: String,
        /// Why.
        why: String,
    },
    /// Any other invalid setting.
    #[error("sink {sink}: {why}")]
    Invalid {
        /// The sink's name.
        sink: String,
        /// Why.
        why: String,
    },
}

/// Retry policy of a sink: exponential backoff with jitter, bounded by attempts and age.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetryPolicy {
    /// Wait after the first failure, ms.
    pub initial_backoff_ms: u64,
    /// Longest wait between attempts, ms (Retry-After may ask for longer and is honoured).
    pub max_backoff_ms: u64,
    /// Each failure multiplies the wait by this.
    pub multiplier: f64,
    /// Up to this share of each wait is taken off at random (0..=1), so entries that failed
    /// together do not come back together.
    pub jitter: f64,
    /// Park an entry as dead after this many failed attempts (0: no limit).
    pub max_attempts: u32,
    /// Park an entry as dead once it has waited this long since it was queued, ms (0: no
    /// limit).
    pub max_age_ms: u64,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            // Half a second, doubling, capped at 5 minutes: an endpoint that blinks is retried
            // at once; one that is down for an hour is asked about 20 times.
            initial_backoff_ms: 500,
            max_backoff_ms: 300_000,
            multiplier: 2.0,
            jitter: 0.2,
            // Attempts are not the limit by default: age is (an ingest API down over a long
            // weekend still gets its call logs).
            max_attempts: 0,
            max_age_ms: 72 * 3_600_000,
        }
    }
}

impl RetryPolicy {
    /// The wait before attempt `failures + 1`, after `failures` failed attempts (>= 1), with
    /// `random` in 0..1 drawing the jitter.
    pub fn backoff(&self, failures: u32, random: f64) -> Duration {
        let exponent = failures.saturating_sub(1).min(64) as i32;
        let base = self.initial_backoff_ms as f64 * self.multiplier.max(1.0).powi(exponent);
        let capped = base.min(self.max_backoff_ms as f64).max(0.0);
        let jitter = self.jitter.clamp(0.0, 1.0) * random.clamp(0.0, 1.0);
        Duration::from_millis((capped * (1.0 - jitter)) as u64)
    }
}

/// One sink, from a `[[sinks]]` table of the config file or from `--sink`.
///
/// Keys (all but `kind` and `target` optional):
///
/// | key | meaning | default |
/// |---|---|---|
/// | `name` | unique name (stats, `voicetrace sinks retry-dead NAME`) | the kind |
/// | `kind` | `cekura`, `webhook`, `http` or `jsonl` | – |
/// | `target` | base URL (cekura), URL (webhook, http), file path (jsonl) | – |
/// | `headers` | extra request headers | none |
/// | `timeout_ms` | per-request timeout | 10000 |
/// | `concurrency` | requests in flight at once | 4 (jsonl: 1) |
/// | `secret_env` | environment variable holding the secret | see below |
/// | `secret_file` | file holding the secret (trimmed); wins over the environment | none |
/// | `agent` | cekura: the Cekura agent id (integer) | none |
/// | `assistant_id` | cekura: the provider assistant id, when `agent` is not set | the call's agent id |
/// | `webhook_id` | webhook: the envelope's `webhook_id` | the sink's name |
/// | `[sinks.retry]` | `initial_backoff_ms` (500), `max_backoff_ms` (300000), `multiplier` (2), `jitter` (0.2), `max_attempts` (0 = none), `max_age_ms` (72 h) | |
///
/// The secret is the `X-CEKURA-API-KEY` of a cekura sink (required; default environment
/// variable `VOICETRACE_CEKURA_API_KEY`), the `x-webhook-secret` of a webhook sink (optional;
/// `VOICETRACE_WEBHOOK_SECRET`), the bearer token of an http sink (optional;
/// `VOICETRACE_HTTP_BEARER_TOKEN`). Secrets are never written to the config, logs or errors.
///
/// ```toml
/// [[sinks]]
/// kind = "cekura"
/// target = "https://api.cekura.ai"
/// agent = 2421
/// secret_file = "/run/secrets/cekura-api-key"
/// timeout_ms = 15000
///
/// [[sinks]]
/// name = "ops-webhook"
/// kind = "webhook"
/// target = "https://hooks.example.com/voice"
/// headers = { "X-Team" = "voice" }
/// [sinks.retry]
/// max_backoff_ms = 60000
/// max_attempts = 50
///
/// [[sinks]]
/// kind = "jsonl"
/// target = "voicetrace-data/calls.jsonl"
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SinkConfig {
    /// Unique name; defaults to the kind.
    #[serde(default)]
    pub name: Option<String>,
    /// What the sink sends.
    pub kind: SinkKind,
    /// Base URL, URL or file path, depending on the kind.
    pub target: String,
    /// Extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Per-request timeout, ms.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
    /// Requests in flight at once (the jsonl sink always writes one at a time).
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Backoff, attempts and age limits.
    #[serde(default)]
    pub retry: RetryPolicy,
    /// The environment variable holding the secret (default per kind).
    #[serde(default)]
    pub secret_env: Option<String>,
    /// A file holding the secret; wins over the environment.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// cekura: the Cekura agent id.
    #[serde(default)]
    pub agent: Option<i64>,
    /// cekura: the provider's assistant id (when `agent` is not set).
    #[serde(default)]
    pub assistant_id: Option<String>,
    /// webhook: the envelope's `webhook_id`.
    #[serde(default)]
    pub webhook_id: Option<String>,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

impl SinkConfig {
    /// The target as a URL (http, webhook and cekura sinks).
    pub fn target_url(&self) -> Result<reqwest::Url, super::ForwardError> {
        reqwest::Url::parse(&self.target).map_err(|e| {
            super::ForwardError::Config(ConfigError::Target {
                sink: self.name().to_string(),
                target: self.target.clone(),
                why: e.to_string(),
            })
        })
    }

    /// Where the sink's secret is read from: `secret_file` if set, else the variable
    /// `secret_env` (or the kind's default variable); `None` for a kind without a secret.
    pub fn secret_source(&self) -> Option<SecretSource<'_>> {
        if let Some(path) = &self.secret_file {
            return Some(SecretSource::File(path));
        }
        self.secret_env
            .as_deref()
            .or(self.kind.default_secret_env())
            .map(SecretSource::Env)
    }

    /// The sink's secret, if it has one.
    pub fn optional_secret(&self) -> Result<Option<Secret>, super::ForwardError> {
        let Some(source) = self.secret_source() else {
            return Ok(None);
        };
        Secret::optional(source).map_err(|source| super::ForwardError::Secret {
            sink: self.name().to_string(),
            source,
        })
    }

    /// A sink of `kind` to `target` with every other setting at its default.
    pub fn new(kind: SinkKind, target: impl Into<String>) -> SinkConfig {
        SinkConfig {
            name: None,
            kind,
            target: target.into(),
            headers: BTreeMap::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetryPolicy::default(),
            secret_env: None,
            secret_file: None,
            agent: None,
            assistant_id: None,
            webhook_id: None,
        }
    }

    /// Parses `--sink`: `KIND:TARGET` (`cekura:BASE_URL`, `webhook:URL`, `http:URL`,
    /// `jsonl:PATH`), or `NAME=KIND:TARGET` to name it (two sinks of one kind need names).
    pub fn from_flag(flag: &str) -> Result<SinkConfig, ConfigError> {
        let (head, target) = flag
            .split_once(':')
            .ok_or_else(|| ConfigError::Flag(flag.to_string()))?;
        let (name, kind) = match head.split_once('=') {
            Some((name, kind)) => (Some(name.trim().to_string()), kind.trim()),
            None => (None, head.trim()),
        };
        let kind = SinkKind::parse(kind).ok_or_else(|| ConfigError::Kind(kind.to_string()))?;
        if target.trim().is_empty() || name.as_deref() == Some("") {
            return Err(ConfigError::Flag(flag.to_string()));
        }
        let mut config = SinkConfig::new(kind, target.trim());
        config.name = name;
        config.validate()?;
        Ok(config)
    }

    /// The sink's name: `name`, else the kind.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or(self.kind.as_str())
    }

    /// Whether the sink wants live updates (`Started`, `TurnCompleted`), not only finished call
    /// logs: assembly only produces them when some sink does.
    pub fn wants_live_updates(&self) -> bool {
        self.kind == SinkKind::Webhook
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    /// Checks what can be checked without I/O: the target's shape, the options that belong to
    /// the kind, the retry policy.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let sink = self.name().to_string();
        let invalid = |why: &str| ConfigError::Invalid {
            sink: sink.clone(),
            why: why.to_string(),
        };
        match self.kind {
            SinkKind::Jsonl => {
                if self.target.trim().is_empty() {
                    return Err(ConfigError::Target {
                        sink,
                        target: self.target.clone(),
                        why: "empty path".into(),
                    });
                }
            }
            _ => {
                let url = reqwest::Url::parse(&self.target).map_err(|e| ConfigError::Target {
                    sink: sink.clone(),
                    target: self.target.clone(),
                    why: e.to_string(),
                })?;
                if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                    return Err(ConfigError::Target {
                        sink,
                        target: self.target.clone(),
                        why: "expected an http:// or https:// URL".into(),
                    });
                }
            }
        }
        if self.kind != SinkKind::Cekura && (self.agent.is_some() || self.assistant_id.is_some()) {
            return Err(invalid("`agent` and `assistant_id` belong to cekura sinks"));
        }
        if self.kind != SinkKind::Webhook && self.webhook_id.is_some() {
            return Err(invalid("`webhook_id` belongs to webhook sinks"));
        }
        if self.kind == SinkKind::Jsonl && (self.secret_env.is_some() || self.secret_file.is_some())
        {
            return Err(invalid("a jsonl sink has no secret"));
        }
        if self.concurrency == 0 {
            return Err(invalid("`concurrency` must be at least 1"));
        }
        let r = &self.retry;
        if !(r.multiplier.is_finite() && r.multiplier >= 1.0) {
            return Err(invalid("`retry.multiplier` must be at least 1"));
        }
        if !(0.0..=1.0).contains(&r.jitter) {
            return Err(invalid("`retry.jitter` must be between 0 and 1"));
        }
        if r.initial_backoff_ms > r.max_backoff_ms {
            return Err(invalid(
                "`retry.initial_backoff_ms` exceeds `retry.max_backoff_ms`",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_name_kind_and_target() {
        let c = SinkConfig::from_flag("cekura:https://api.cekura.ai").unwrap();
        assert_eq!(
            (c.kind, c.name(), c.target.as_str()),
            (SinkKind::Cekura, "cekura", "https://api.cekura.ai")
        );
        let c = SinkConfig::from_flag("ops=webhook:http://127.0.0.1:9/hook?a=b").unwrap();
        assert_eq!((c.kind, c.name()), (SinkKind::Webhook, "ops"));
        assert_eq!(c.target, "http://127.0.0.1:9/hook?a=b");
        let c = SinkConfig::from_flag("jsonl:/tmp/x.jsonl").unwrap();
        assert_eq!(c.kind, SinkKind::Jsonl);
        for bad in [
            "nothing",
            "kafka:x",
            "http:not a url",
            "webhook:ftp://x",
            "jsonl:",
            "=http:http://x",
        ] {
            assert!(SinkConfig::from_flag(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn toml_tables_deserialise_with_defaults() {
        #[derive(Deserialize)]
        struct File {
            sinks: Vec<SinkConfig>,
        }
        let f: File = toml::from_str(
            r#"
            [[sinks]]
            kind = "cekura"
            target = "https://api.cekura.ai"
            agent = 2421
            secret_file = "/run/secrets/k"
            [[sinks]]
            name = "ops"
            kind = "webhook"
            target = "https://hooks.example.com/v"
            headers = { "X-Team" = "voice" }
            [sinks.retry]
            max_attempts = 5
            "#,
        )
        .unwrap();
        assert_eq!(f.sinks[0].agent, Some(2421));
        assert_eq!(f.sinks[0].timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(f.sinks[1].name(), "ops");
        assert_eq!(f.sinks[1].retry.max_attempts, 5);
        assert_eq!(f.sinks[1].retry.initial_backoff_ms, 500);
        assert!(f.sinks.iter().all(|s| s.validate().is_ok()));
        assert!(
            toml::from_str::<File>("[[sinks]]\nkind='http'\ntarget='http://x'\nbogus=1").is_err()
        );
    }

    #[test]
    fn backoff_grows_caps_and_jitters_down() {
        let p = RetryPolicy {
            initial_backoff_ms: 100,
            max_backoff_ms: 1000,
            multiplier: 2.0,
            jitter: 0.5,
            ..RetryPolicy::default()
        };
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(3, 0.0), Duration::from_millis(400));
        assert_eq!(p.backoff(30, 0.0), Duration::from_millis(1000));
        assert_eq!(p.backoff(30, 1.0), Duration::from_millis(500));
    }
}
