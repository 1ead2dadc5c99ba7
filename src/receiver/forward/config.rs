//! Sink configuration: the `--sink KIND:TARGET` flag and the `[[sinks]]` tables of the TOML
//! config file, both deserialised into [`SinkConfig`]: one variant per kind, each a
//! [`KindConfig`] of the settings every kind shares ([`SharedConfig`]), where its secret comes
//! from ([`SecretConfig`], or [`NoSecret`]) and the kind's own keys (a struct defined beside its
//! sink in [`super::sinks`], `()` for a kind without any).
//!
//! A key that does not belong to the kind (`webhook_id` on an http sink, a secret on a jsonl
//! sink, a typo) is refused by serde with a message that names it. `KindConfig` is
//! `deny_unknown_fields` and flattens its three parts: serde's derive then refuses every key that
//! no part claimed. This holds only while the parts flatten nothing themselves (a nested flatten
//! borrows its keys instead of claiming them, so every key would look unknown);
//! `unknown_keys_are_refused_by_name` pins it.
//! [`SinkConfig::validate`] checks what serde cannot: the target's shape, the retry ranges,
//! concurrency.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::sinks::cekura::CekuraConfig;
use super::sinks::http::HttpConfig;
use super::sinks::jsonl::JsonlConfig;
use super::sinks::webhook::WebhookConfig;
use super::ForwardError;
use crate::receiver::secret::{Secret, SecretSource};

/// Default request timeout: an ingest API that has not answered in 10 s is treated as down for
/// this attempt (the entry is retried), so one stuck request cannot hold a slot for long.
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
/// Default requests in flight per sink: enough to keep up with bursts of finished calls
/// against an endpoint with ~100 ms latency, few enough not to hammer it while it recovers.
const DEFAULT_CONCURRENCY: usize = 4;

/// What kind of sink, and so what it sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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

/// One sink, from a `[[sinks]]` table of the config file or from `--sink`: one variant per kind
/// (the table's `kind`), each with the kind's own keys.
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
/// | `secret_env` | cekura, webhook, http: environment variable holding the secret | see below |
/// | `secret_file` | cekura, webhook, http: file holding the secret (trimmed); wins over the environment | none |
/// | `agent` | cekura: the Cekura agent id (integer) | none |
/// | `assistant_id` | cekura: the provider assistant id, when `agent` is not set | the call's agent id |
/// | `webhook_id` | webhook: the envelope's `webhook_id` | the sink's name |
/// | `redact` | send it redacted call logs (`[redaction] mode = "sinks"`) | false |
/// | `[sinks.retry]` | `initial_backoff_ms` (500), `max_backoff_ms` (300000), `multiplier` (2), `jitter` (0.2), `max_attempts` (0 = none), `max_age_ms` (72 h) | |
///
/// A key of another kind is an error. The secret is the `X-CEKURA-API-KEY` of a cekura sink
/// (required; default environment variable `VOICETRACE_CEKURA_API_KEY`), the
/// `x-webhook-secret` of a webhook sink (optional; `VOICETRACE_WEBHOOK_SECRET`), the bearer
/// token of an http sink (optional; `VOICETRACE_HTTP_BEARER_TOKEN`). Secrets are never written
/// to the config, logs or errors.
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
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SinkConfig {
    /// Cekura's observe API.
    Cekura(CekuraConfig),
    /// Cartesia-style webhook events.
    Webhook(WebhookConfig),
    /// The canonical call log JSON to any URL.
    Http(HttpConfig),
    /// Call logs appended to a file.
    Jsonl(JsonlConfig),
}

/// One sink of a kind: the settings every kind has, where its secret comes from (`S`), and the
/// kind's own keys (`K`). Each part must be a plain struct (or `()`) that flattens nothing
/// itself (see the module's documentation).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(
    deny_unknown_fields,
    bound(deserialize = "K: Deserialize<'de>, S: Deserialize<'de>")
)]
pub struct KindConfig<K, S = SecretConfig> {
    /// Name, target, headers, timeout, concurrency, retry.
    #[serde(flatten)]
    pub shared: SharedConfig,
    /// Where the secret comes from (`secret_env`, `secret_file`), for kinds that have one.
    #[serde(flatten)]
    pub secret: S,
    /// The kind's own keys.
    #[serde(flatten)]
    pub keys: K,
}

/// The secret of a kind that has none: no key.
pub type NoSecret = ();

impl<K: Default, S: Default> KindConfig<K, S> {
    /// A sink with `shared` settings, no secret configured (the kind's default source) and its
    /// own keys at their defaults.
    pub fn new(shared: SharedConfig) -> KindConfig<K, S> {
        KindConfig {
            shared,
            secret: S::default(),
            keys: K::default(),
        }
    }
}

/// The settings every kind has.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct SharedConfig {
    /// Unique name; defaults to the kind.
    #[serde(default)]
    pub name: Option<String>,
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
    /// Send this sink redacted call logs (with `[redaction] mode = "sinks"`: the store keeps
    /// them raw; with `mode = "store"` every sink gets them redacted anyway).
    #[serde(default)]
    pub redact: bool,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

impl SharedConfig {
    /// `target` with every other setting at its default.
    pub fn new(target: impl Into<String>) -> SharedConfig {
        SharedConfig {
            name: None,
            target: target.into(),
            headers: BTreeMap::new(),
            timeout_ms: DEFAULT_TIMEOUT_MS,
            concurrency: DEFAULT_CONCURRENCY,
            retry: RetryPolicy::default(),
            redact: false,
        }
    }

    /// The per-request timeout.
    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms.max(1))
    }

    /// The target as an `http://` or `https://` URL with a host (sink `sink`, for errors).
    pub fn http_url(&self, sink: &str) -> Result<reqwest::Url, ConfigError> {
        let target_error = |why: String| ConfigError::Target {
            sink: sink.to_string(),
            target: self.target.clone(),
            why,
        };
        let url = reqwest::Url::parse(&self.target).map_err(|e| target_error(e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(target_error("expected an http:// or https:// URL".into()));
        }
        Ok(url)
    }

    /// The target as a file path (sink `sink`, for errors).
    pub fn file_path(&self, sink: &str) -> Result<PathBuf, ConfigError> {
        if self.target.trim().is_empty() {
            return Err(ConfigError::Target {
                sink: sink.to_string(),
                target: self.target.clone(),
                why: "empty path".into(),
            });
        }
        Ok(PathBuf::from(&self.target))
    }

    /// Checks the settings that do not depend on the kind: concurrency and the retry policy.
    fn validate(&self, sink: &str) -> Result<(), ConfigError> {
        let invalid = |why: &str| ConfigError::Invalid {
            sink: sink.to_string(),
            why: why.to_string(),
        };
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

/// Where a sink's secret comes from: `secret_file`, else the variable `secret_env`, else the
/// kind's own variable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct SecretConfig {
    /// The environment variable holding the secret (default per kind).
    pub secret_env: Option<String>,
    /// A file holding the secret; wins over the environment.
    pub secret_file: Option<PathBuf>,
}

impl SecretConfig {
    /// The file or variable to read, `default_env` when neither is configured.
    pub fn source<'a>(&'a self, default_env: &'a str) -> SecretSource<'a> {
        match (&self.secret_file, &self.secret_env) {
            (Some(path), _) => SecretSource::File(path),
            (None, Some(var)) => SecretSource::Env(var),
            (None, None) => SecretSource::Env(default_env),
        }
    }

    /// The secret of sink `sink`, which must have one.
    pub fn required(&self, sink: &str, default_env: &str) -> Result<Secret, ForwardError> {
        Secret::required(self.source(default_env)).map_err(|source| ForwardError::Secret {
            sink: sink.to_string(),
            source,
        })
    }

    /// The secret of sink `sink`, if it has one.
    pub fn optional(&self, sink: &str, default_env: &str) -> Result<Option<Secret>, ForwardError> {
        Secret::optional(self.source(default_env)).map_err(|source| ForwardError::Secret {
            sink: sink.to_string(),
            source,
        })
    }
}

impl SinkConfig {
    /// A sink of `kind` to `target` with every other setting at its default.
    pub fn new(kind: SinkKind, target: impl Into<String>) -> SinkConfig {
        let shared = SharedConfig::new(target);
        match kind {
            SinkKind::Cekura => SinkConfig::Cekura(CekuraConfig::new(shared)),
            SinkKind::Webhook => SinkConfig::Webhook(WebhookConfig::new(shared)),
            SinkKind::Http => SinkConfig::Http(HttpConfig::new(shared)),
            SinkKind::Jsonl => SinkConfig::Jsonl(JsonlConfig::new(shared)),
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
        config.shared_mut().name = name;
        config.validate()?;
        Ok(config)
    }

    /// The sink's kind.
    pub fn kind(&self) -> SinkKind {
        match self {
            SinkConfig::Cekura(_) => SinkKind::Cekura,
            SinkConfig::Webhook(_) => SinkKind::Webhook,
            SinkConfig::Http(_) => SinkKind::Http,
            SinkConfig::Jsonl(_) => SinkKind::Jsonl,
        }
    }

    /// The settings every kind has.
    pub fn shared(&self) -> &SharedConfig {
        match self {
            SinkConfig::Cekura(c) => &c.shared,
            SinkConfig::Webhook(c) => &c.shared,
            SinkConfig::Http(c) => &c.shared,
            SinkConfig::Jsonl(c) => &c.shared,
        }
    }

    /// The settings every kind has, to change them.
    pub fn shared_mut(&mut self) -> &mut SharedConfig {
        match self {
            SinkConfig::Cekura(c) => &mut c.shared,
            SinkConfig::Webhook(c) => &mut c.shared,
            SinkConfig::Http(c) => &mut c.shared,
            SinkConfig::Jsonl(c) => &mut c.shared,
        }
    }

    /// The sink's name: `name`, else the kind.
    pub fn name(&self) -> &str {
        self.shared()
            .name
            .as_deref()
            .unwrap_or(self.kind().as_str())
    }

    /// Checks what serde cannot, without I/O: the target's shape, concurrency, the retry
    /// policy.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let (sink, shared) = (self.name(), self.shared());
        match self.kind() {
            SinkKind::Cekura | SinkKind::Webhook | SinkKind::Http => {
                shared.http_url(sink)?;
            }
            SinkKind::Jsonl => {
                shared.file_path(sink)?;
            }
        }
        shared.validate(sink)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        sinks: Vec<SinkConfig>,
    }

    fn parse(toml_text: &str) -> Result<Vec<SinkConfig>, String> {
        toml::from_str::<File>(toml_text)
            .map(|f| f.sinks)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn flags_name_kind_and_target() {
        let c = SinkConfig::from_flag("cekura:https://api.cekura.ai").unwrap();
        assert_eq!(
            (c.kind(), c.name(), c.shared().target.as_str()),
            (SinkKind::Cekura, "cekura", "https://api.cekura.ai")
        );
        let c = SinkConfig::from_flag("ops=webhook:http://127.0.0.1:9/hook?a=b").unwrap();
        assert_eq!((c.kind(), c.name()), (SinkKind::Webhook, "ops"));
        assert_eq!(c.shared().target, "http://127.0.0.1:9/hook?a=b");
        let c = SinkConfig::from_flag("jsonl:/tmp/x.jsonl").unwrap();
        assert_eq!(c.kind(), SinkKind::Jsonl);
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
    fn toml_tables_deserialise_into_their_kind_with_defaults() {
        let sinks = parse(
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
            webhook_id = "wh_1"
            headers = { "X-Team" = "voice" }
            redact = true
            [sinks.retry]
            max_attempts = 5
            "#,
        )
        .unwrap();
        let SinkConfig::Cekura(cekura) = &sinks[0] else {
            panic!("{:?}", sinks[0]);
        };
        assert_eq!(cekura.keys.agent, Some(2421));
        assert_eq!(
            cekura.secret.source("UNUSED"),
            SecretSource::File("/run/secrets/k".as_ref())
        );
        assert_eq!(cekura.shared.timeout_ms, DEFAULT_TIMEOUT_MS);
        let SinkConfig::Webhook(webhook) = &sinks[1] else {
            panic!("{:?}", sinks[1]);
        };
        assert_eq!(webhook.keys.webhook_id.as_deref(), Some("wh_1"));
        assert_eq!(sinks[1].name(), "ops");
        assert_eq!(sinks[1].shared().headers["X-Team"], "voice");
        assert_eq!(sinks[1].shared().retry.max_attempts, 5);
        assert_eq!(sinks[1].shared().retry.initial_backoff_ms, 500);
        assert!(sinks[1].shared().redact && !sinks[0].shared().redact);
        assert!(sinks.iter().all(|s| s.validate().is_ok()));
    }

    #[test]
    fn unknown_keys_are_refused_by_name() {
        for (table, key) in [
            ("kind='http'\ntarget='http://x'\nbogus=1", "bogus"),
            (
                "kind='http'\ntarget='http://x'\nwebhook_id='w'",
                "webhook_id",
            ),
            ("kind='webhook'\ntarget='http://x'\nagent=1", "agent"),
            (
                "kind='jsonl'\ntarget='x.jsonl'\nsecret_env='V'",
                "secret_env",
            ),
            (
                "kind='jsonl'\ntarget='x.jsonl'\nsecret_file='f'",
                "secret_file",
            ),
            (
                "kind='cekura'\ntarget='http://x'\n[sinks.retry]\nbogus=1",
                "bogus",
            ),
        ] {
            let err = parse(&format!("[[sinks]]\n{table}")).unwrap_err();
            assert!(
                err.contains(&format!("unknown field `{key}`")),
                "{table}: {err}"
            );
        }
        let err = parse("[[sinks]]\nkind='kafka'\ntarget='x'").unwrap_err();
        assert!(err.contains("unknown variant `kafka`"), "{err}");
        let err = parse("[[sinks]]\ntarget='x'").unwrap_err();
        assert!(err.contains("missing field `kind`"), "{err}");
    }

    #[test]
    fn the_configured_secret_source_wins_over_the_kinds_variable() {
        let mut secret = SecretConfig::default();
        assert_eq!(secret.source("DEFAULT"), SecretSource::Env("DEFAULT"));
        secret.secret_env = Some("MINE".into());
        assert_eq!(secret.source("DEFAULT"), SecretSource::Env("MINE"));
        secret.secret_file = Some("/k".into());
        assert_eq!(secret.source("DEFAULT"), SecretSource::File("/k".as_ref()));
    }

    #[test]
    fn validate_checks_what_serde_cannot() {
        let mut c = SinkConfig::new(SinkKind::Http, "http://127.0.0.1:9/x");
        assert!(c.validate().is_ok());
        c.shared_mut().concurrency = 0;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("concurrency"));
        c.shared_mut().concurrency = 1;
        c.shared_mut().retry.jitter = 2.0;
        assert!(c.validate().unwrap_err().to_string().contains("jitter"));
        let c = SinkConfig::new(SinkKind::Cekura, "/not/a/url");
        assert!(matches!(c.validate(), Err(ConfigError::Target { .. })));
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
