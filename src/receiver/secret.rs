//! Secrets (sink API keys, webhook secrets, bearer tokens, the ingest and API tokens): read from
//! a file or the environment, never printed. `Debug` shows `***`, and [`Secret::redact`] scrubs
//! a secret out of any text (a response body or a transport error) before it is logged or
//! stored as a reason.
//!
//! Every secret is read the same way, from one [`SecretSource`]: a file is trimmed and must not
//! be empty; a variable that is not set means "no secret", one that is set but blank is an error
//! (someone meant to set it). [`Secret::required`] and [`Secret::optional`] differ only in what
//! "no secret" becomes, and every error names the file or variable that was read.

use std::fmt;
use std::path::Path;

/// A secret value. Its `Debug` form does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where a secret is read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretSource<'a> {
    /// A file holding the secret (surrounding blanks trimmed).
    File(&'a Path),
    /// An environment variable.
    Env(&'a str),
}

impl fmt::Display for SecretSource<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::File(path) => write!(f, "the file {}", path.display()),
            SecretSource::Env(var) => write!(f, "the environment variable {var}"),
        }
    }
}

/// Why a secret could not be read; names where it was looked for, never the value.
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
    /// A required secret's variable is not set.
    #[error("no secret: {0} is not set")]
    Missing(String),
}

impl Secret {
    /// Wraps a value (tests, and code that gets its secret from elsewhere).
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret from `source`, which must hold one.
    pub fn required(source: SecretSource<'_>) -> Result<Secret, SecretError> {
        Secret::optional(source)?.ok_or_else(|| SecretError::Missing(source.to_string()))
    }

    /// The secret from `source`: `Ok(None)` when it is a variable that is not set.
    pub fn optional(source: SecretSource<'_>) -> Result<Option<Secret>, SecretError> {
        let text = match source {
            SecretSource::File(path) => {
                std::fs::read_to_string(path).map_err(|e| SecretError::File {
                    path: path.display().to_string(),
                    why: e.kind().to_string(),
                })?
            }
            SecretSource::Env(var) => match std::env::var(var) {
                Ok(text) => text,
                Err(std::env::VarError::NotPresent) => return Ok(None),
                // Not Unicode: no header could carry it anyway.
                Err(std::env::VarError::NotUnicode(_)) => String::new(),
            },
        };
        let value = text.trim();
        if value.is_empty() {
            return Err(SecretError::Empty(source.to_string()));
        }
        Ok(Some(Secret(value.to_string())))
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

    #[test]
    fn debug_and_redact_hide_the_value() {
        let s = Secret::new("sk-live-123");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.redact("bad key sk-live-123!"), "bad key [redacted]!");
        assert_eq!(redact(None, "sk-live-123"), "sk-live-123");
    }

    #[test]
    fn a_file_is_trimmed_and_must_hold_a_secret() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "  from-file\n").unwrap();
        let file = SecretSource::File(&path);
        assert_eq!(Secret::required(file).unwrap().expose(), "from-file");
        std::fs::write(&path, "\n").unwrap();
        let err = Secret::optional(file).unwrap_err().to_string();
        assert!(err.contains(&path.display().to_string()), "{err}");
        let missing = dir.path().join("missing");
        let err = Secret::optional(SecretSource::File(&missing)).unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    }

    #[test]
    fn an_unset_variable_is_no_secret_and_named_when_one_is_required() {
        let unset = SecretSource::Env("VOICETRACE_TEST_SECRET_THAT_IS_NOT_SET");
        assert_eq!(Secret::optional(unset).unwrap(), None);
        let err = Secret::required(unset).unwrap_err().to_string();
        assert_eq!(
            err,
            "no secret: the environment variable VOICETRACE_TEST_SECRET_THAT_IS_NOT_SET is not set"
        );
    }
}
