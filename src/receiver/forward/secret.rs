//! Secrets (API keys, webhook secrets, bearer tokens): read from a file or the environment,
//! never printed. `Debug` shows `***`, and [`Secret::redact`] scrubs a secret out of any text
//! (a response body or a transport error) before it is logged or stored as a reason.

use std::path::Path;

use super::config::SinkConfig;

/// A secret value. Its `Debug` form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where the secret of a sink should come from, for error messages (never the value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// The secret file could not be read.
    #[error("cannot read the secret file {path}: {why}")]
    File {
        /// The file.
        path: String,
        /// Why (the I/O error's kind, never its content).
        why: String,
    },
    /// The file or variable is empty.
    #[error("the secret from {0} is empty")]
    Empty(String),
    /// A required secret is not set.
    #[error("no secret: set the environment variable {0} or `secret_file`")]
    Missing(String),
}

impl Secret {
    /// Wraps a value (tests; configuration goes through [`Secret::resolve`]).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, to put in a request header. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the secret replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        if self.0.is_empty() {
            return text.to_string();
        }
        text.replace(&self.0, "[redacted]")
    }

    /// A secret read from a file (trimmed; an empty file is an error).
    pub fn from_file(path: &Path) -> Result<Secret, SecretError> {
        read_file(path)
    }

    /// A secret from the environment variable `var`: `Ok(None)` when it is not set, an error
    /// when it is set but empty (someone meant to set it).
    pub fn from_env(var: &str) -> Result<Option<Secret>, SecretError> {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(Secret(v.trim().to_string()))),
            Ok(_) => Err(SecretError::Empty(format!("${var}"))),
            Err(_) => Ok(None),
        }
    }

    /// The secret of a sink: `secret_file` if set, else the variable `secret_env` (or the
    /// kind's default variable). `Ok(None)` when neither is set and none is required.
    pub fn resolve(config: &SinkConfig, required: bool) -> Result<Option<Secret>, SecretError> {
        if let Some(path) = &config.secret_file {
            return read_file(path).map(Some);
        }
        let var = config
            .secret_env
            .clone()
            .or_else(|| config.kind.default_secret_env().map(str::to_string));
        let Some(var) = var else {
            return Ok(None);
        };
        match std::env::var(&var) {
            Ok(v) if !v.trim().is_empty() => Ok(Some(Secret(v.trim().to_string()))),
            Ok(_) if required => Err(SecretError::Empty(format!("${var}"))),
            Err(_) if required => Err(SecretError::Missing(var)),
            _ => Ok(None),
        }
    }
}

fn read_file(path: &Path) -> Result<Secret, SecretError> {
    let text = std::fs::read_to_string(path).map_err(|e| SecretError::File {
        path: path.display().to_string(),
        why: e.kind().to_string(),
    })?;
    let value = text.trim();
    if value.is_empty() {
        return Err(SecretError::Empty(path.display().to_string()));
    }
    Ok(Secret(value.to_string()))
}

/// Scrubs an optional secret out of a text.
pub fn redact(secret: Option<&Secret>, text: &str) -> String {
    match secret {
        Some(s) => s.redact(text),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::forward::config::SinkKind;

    #[test]
    fn debug_and_redact_hide_the_value() {
        let s = Secret::new("sk-live-123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.redact("bad key sk-live-123!"), "bad key [redacted]!");
    }

    #[test]
    fn file_wins_and_missing_required_secret_names_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  from-file\n").unwrap();
        let mut c = SinkConfig::new(SinkKind::Cekura, "http://127.0.0.1:1");
        c.secret_file = Some(path);
        assert_eq!(
            Secret::resolve(&c, true).unwrap().unwrap().expose(),
            "from-file"
        );
        let mut c = SinkConfig::new(SinkKind::Cekura, "http://127.0.0.1:1");
        c.secret_env = Some("VOICETRACE_TEST_SECRET_THAT_IS_NOT_SET".into());
        let err = Secret::resolve(&c, true).unwrap_err();
        assert!(err
            .to_string()
            .contains("VOICETRACE_TEST_SECRET_THAT_IS_NOT_SET"));
        assert_eq!(Secret::resolve(&c, false).unwrap(), None);
    }
}
