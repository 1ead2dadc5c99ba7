//! The `[redaction]` table of the config file: where redaction applies, which detectors run,
//! what becomes of the caller's number, the user's own rules, and the attributes ingest drops.
//!
//! ```toml
//! [redaction]
//! mode = "store"                      # off (default), store, or sinks
//! detectors = ["credit_card", "email"] # default: every detector
//! caller_numbers = "last4"            # redact (default), last4, or keep
//! drop_attributes = ["lk.pii.*", "gen_ai.input.messages"]
//!
//! [[redaction.rules]]
//! name = "member_id"
//! pattern = "MBR-[0-9]{6}"
//! replacement = "<MEMBER_ID>"         # default: the name, upper case, in <>
//! ```

use serde::Deserialize;

use super::Kind;

/// Where redaction applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RedactionMode {
    /// Nothing is redacted (the default).
    #[default]
    Off,
    /// Call logs are redacted before they are stored: the store, the API, every sink and the
    /// receiver's logs only ever see redacted text (raw spans stay in the span journal until
    /// their call is released).
    Store,
    /// Call logs are stored as they came; sinks marked `redact = true` receive them redacted.
    Sinks,
}

impl RedactionMode {
    /// As written in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            RedactionMode::Off => "off",
            RedactionMode::Store => "store",
            RedactionMode::Sinks => "sinks",
        }
    }

    /// Parses `--redact`.
    pub fn parse(text: &str) -> Option<RedactionMode> {
        Some(match text {
            "off" => RedactionMode::Off,
            "store" => RedactionMode::Store,
            "sinks" => RedactionMode::Sinks,
            _ => return None,
        })
    }
}

/// What becomes of the call's `from` and `to` numbers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CallerNumbers {
    /// Replaced by `<PHONE_NUMBER>` (the default; a value with no digit and no `@`, such as
    /// `anonymous`, stays).
    #[default]
    Redact,
    /// Every digit but the last four masked with `*` (`+*******4567`): enough to tell calls
    /// apart, not to call back.
    Last4,
    /// Kept as they came.
    Keep,
}

/// A rule of the user's: a regex and what replaces its matches.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// What the call log's `redactions` counts its matches under (`[a-z0-9_]`).
    pub name: String,
    /// The regex (the `regex` crate's syntax: linear time, no look-around or backreferences).
    pub pattern: String,
    /// What replaces a match; `$1`, `$name` expand capture groups. Default `<NAME>`: the
    /// rule's name in upper case.
    #[serde(default)]
    pub replacement: Option<String>,
}

/// The `[redaction]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RedactionConfig {
    /// Where redaction applies (default off).
    pub mode: RedactionMode,
    /// The built-in detectors that run (default all of them).
    pub detectors: Vec<Kind>,
    /// What becomes of `from` and `to`.
    pub caller_numbers: CallerNumbers,
    /// Span, event and log attribute keys ingest drops before anything keeps them (a key, or a
    /// prefix ending in `*`: `lk.pii.*`). Applies whatever the mode.
    pub drop_attributes: Vec<String>,
    /// The user's own rules, applied before the built-in detectors.
    pub rules: Vec<RuleConfig>,
}

impl Default for RedactionConfig {
    fn default() -> Self {
        RedactionConfig {
            mode: RedactionMode::Off,
            detectors: Kind::ALL.to_vec(),
            caller_numbers: CallerNumbers::Redact,
            drop_attributes: Vec::new(),
            rules: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        redaction: RedactionConfig,
    }

    #[test]
    fn the_table_reads_with_defaults_and_refuses_unknown_keys() {
        let file: File = toml::from_str(
            r#"
            [redaction]
            mode = "sinks"
            detectors = ["credit_card", "date_of_birth"]
            drop_attributes = ["lk.pii.*"]
            [[redaction.rules]]
            name = "member_id"
            pattern = "MBR-[0-9]{6}"
            "#,
        )
        .unwrap();
        let r = file.redaction;
        assert_eq!(r.mode, RedactionMode::Sinks);
        assert_eq!(r.detectors, vec![Kind::CreditCard, Kind::DateOfBirth]);
        assert_eq!(r.caller_numbers, CallerNumbers::Redact);
        assert_eq!(r.rules[0].replacement, None);
        let defaults: File = toml::from_str("[redaction]\nmode = 'store'").unwrap();
        assert_eq!(defaults.redaction.detectors, Kind::ALL.to_vec());
        for (bad, says) in [
            ("mode = 'everywhere'", "unknown variant `everywhere`"),
            ("detectors = ['passport']", "unknown variant `passport`"),
            ("bogus = 1", "unknown field `bogus`"),
            (
                "[[redaction.rules]]\nname='x'\npattern='y'\nflags='i'",
                "unknown field `flags`",
            ),
        ] {
            let err = toml::from_str::<File>(&format!("[redaction]\n{bad}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }
}
