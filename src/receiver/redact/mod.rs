//! Redaction: takes what identifies a caller out of the texts of a call log before it is
//! stored (`mode = "store"`) or before it leaves for a sink marked `redact = true`
//! (`mode = "sinks"`). Pure, like assembly and analysis: text in, text out, no I/O, no clock.
//!
//! Each find is replaced by a token naming its kind, as Cekura writes them (`<CREDIT_CARD>`,
//! `<EMAIL>`, `<PHONE_NUMBER>`, `<SSN>`, `<IBAN>`, `<DATE_OF_BIRTH>`), so that whoever reads
//! the text sees where something was taken out; the call log counts the finds per kind
//! (`redactions`), never their values.
//!
//! - [`walk`]: which strings of a call log are texts (visited) and which are names and ids;
//! - `digits`: card numbers (Luhn), SSNs and phone numbers written with digits;
//! - `spoken`: the same read out as words ("four one one one ...");
//! - `patterns`: emails, IBANs (mod 97), dates of birth next to "born" / "date of birth";
//! - `signals`: one scan of a text that says which detectors could find anything in it;
//! - [`config`]: the `[redaction]` table, and the user's own rules (regexes and replacements);
//! - [`attributes`]: the attribute keys ingest drops before anything keeps them;
//! - [`setup`]: the configured redaction, split into what each stage of the receiver gets.
//!
//! Every detector runs in time linear in its text: the patterns are the `regex` crate's and
//! one full DFA of its engine (`regex-automata`), linear whatever the input, compiled once;
//! the digit and word scanners look at a bounded number of windows per group or word.

pub mod attributes;
pub mod config;
mod digits;
mod patterns;
pub mod setup;
mod signals;
mod spoken;
pub mod walk;

use std::borrow::Cow;

use regex::{Captures, Regex, RegexBuilder};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use attributes::{DroppedAttributes, InvalidKey};
pub use config::{CallerNumbers, RedactionConfig, RedactionMode, RuleConfig};
pub use setup::Redaction;

use crate::receiver::calllog::{CallLog, CallUpdate, Redactions};
use signals::Signals;

/// What a built-in detector finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A payment card number.
    CreditCard,
    /// An email address.
    Email,
    /// A phone number.
    PhoneNumber,
    /// A US social security number.
    Ssn,
    /// An international bank account number.
    Iban,
    /// A date of birth.
    DateOfBirth,
}

impl Kind {
    /// Every kind, in the order the config names them.
    pub const ALL: [Kind; 6] = [
        Kind::CreditCard,
        Kind::Email,
        Kind::PhoneNumber,
        Kind::Ssn,
        Kind::Iban,
        Kind::DateOfBirth,
    ];

    /// The kind as the config and `redactions` name it.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::CreditCard => "credit_card",
            Kind::Email => "email",
            Kind::PhoneNumber => "phone_number",
            Kind::Ssn => "ssn",
            Kind::Iban => "iban",
            Kind::DateOfBirth => "date_of_birth",
        }
    }

    /// What replaces a find.
    pub fn token(self) -> &'static str {
        match self {
            Kind::CreditCard => "<CREDIT_CARD>",
            Kind::Email => "<EMAIL>",
            Kind::PhoneNumber => "<PHONE_NUMBER>",
            Kind::Ssn => "<SSN>",
            Kind::Iban => "<IBAN>",
            Kind::DateOfBirth => "<DATE_OF_BIRTH>",
        }
    }
}

/// A built-in detector: pushes what it finds in a text, left to right.
type Detector = fn(&str, &mut Vec<Hit>);

/// Whether a detector could find anything in a text, from one scan of it ([`signals`]).
type Gate = fn(&Signals) -> bool;

/// The built-in detectors in the order they run (each over the text the previous left),
/// each behind its gate.
const DETECTORS: [(Gate, Detector); 6] = [
    (Signals::written_email, patterns::written_emails),
    (Signals::spoken_email, patterns::spoken_emails),
    (Signals::iban, patterns::ibans),
    (Signals::date_of_birth, patterns::dates_of_birth),
    (Signals::spoken, spoken::find),
    (Signals::digits, digits::find),
];

/// The detectors whose gates let a text through, as bits in [`DETECTORS`]' order.
fn detectors(seen: &Signals) -> u8 {
    DETECTORS
        .iter()
        .enumerate()
        .fold(0, |wanted, (i, (gate, _))| {
            wanted | u8::from(gate(seen)) << i
        })
}

/// One find of a detector: a byte range of the text and its kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hit {
    start: usize,
    end: usize,
    kind: Kind,
}

/// Why a redaction configuration cannot work.
#[derive(Debug, thiserror::Error)]
pub enum RedactionError {
    /// A rule's name is empty or not `[a-z0-9_]`.
    #[error("redaction rule {0:?}: a name is lower case letters, digits and `_`")]
    RuleName(String),
    /// A rule's pattern does not compile.
    #[error("redaction rule {name:?}: invalid pattern: {source}")]
    Pattern {
        /// The rule.
        name: String,
        /// Why.
        source: regex::Error,
    },
    /// A `drop_attributes` entry is invalid.
    #[error(transparent)]
    DropAttributes(#[from] InvalidKey),
}

/// Finds per kind (or rule name), while a call log is redacted: kinds in an array, rules in a
/// short list (a text with a find adds to them without allocating, past the first find of a
/// rule).
#[derive(Debug, Default)]
pub struct Counts<'r> {
    kinds: [u64; Kind::ALL.len()],
    rules: Vec<(&'r str, u64)>,
}

impl<'r> Counts<'r> {
    fn add_kind(&mut self, kind: Kind, n: u64) {
        self.kinds[kind as usize] += n;
    }

    fn add_rule(&mut self, name: &'r str, n: u64) {
        if n == 0 {
            return;
        }
        match self.rules.iter_mut().find(|(rule, _)| *rule == name) {
            Some((_, count)) => *count += n,
            None => self.rules.push((name, n)),
        }
    }

    fn total(&self) -> u64 {
        self.kinds.iter().sum::<u64>() + self.rules.iter().map(|(_, n)| n).sum::<u64>()
    }

    fn merge(&mut self, other: Counts<'r>) {
        for kind in Kind::ALL {
            self.add_kind(kind, other.kinds[kind as usize]);
        }
        for (name, n) in other.rules {
            self.add_rule(name, n);
        }
    }

    /// Adds the counts to a call log's `redactions`.
    fn record(self, redactions: &mut Redactions) {
        let kinds = Kind::ALL.map(|kind| (kind.as_str(), self.kinds[kind as usize]));
        for (name, n) in kinds.into_iter().chain(self.rules) {
            if n > 0 {
                redactions.add(name, n);
            }
        }
    }
}

/// A rule of the user's, compiled.
#[derive(Debug)]
struct Rule {
    name: String,
    pattern: Regex,
    replacement: String,
}

/// The detectors that are configured, ready to run. Built once at start; shared.
#[derive(Debug)]
pub struct Redactor {
    enabled: [bool; Kind::ALL.len()],
    rules: Vec<Rule>,
    caller_numbers: CallerNumbers,
}

/// The size limit of a user's compiled pattern: generous for any rule a person writes, small
/// enough that a pattern like `\w{1000}{1000}` is refused at start rather than eating memory.
const RULE_SIZE_LIMIT: usize = 1 << 20;

impl Redactor {
    /// Compiles the user's rules and enables the configured detectors.
    pub fn new(config: &RedactionConfig) -> Result<Redactor, RedactionError> {
        let mut enabled = [false; Kind::ALL.len()];
        for kind in &config.detectors {
            enabled[*kind as usize] = true;
        }
        let rules = config
            .rules
            .iter()
            .map(compile_rule)
            .collect::<Result<_, _>>()?;
        Ok(Redactor {
            enabled,
            rules,
            caller_numbers: config.caller_numbers,
        })
    }

    /// Redacts every text of a call log and adds what it found to its `redactions`.
    pub fn call_log(&self, log: &mut CallLog) {
        let mut visitor = Redacting::new(self);
        walk::call_log(log, &mut visitor);
        visitor.counts.record(&mut log.redactions);
    }

    /// Redacts every text of an update (a live turn, or a finished call log).
    pub fn update(&self, update: &mut CallUpdate) {
        match update {
            CallUpdate::Finished(log) => self.call_log(log),
            other => walk::update(other, &mut Redacting::new(self)),
        }
    }

    /// A JSON document (LiveKit's chat history) with its strings redacted; `None` when there
    /// was nothing to redact. Text that is not JSON is redacted as text.
    pub fn json_document(&self, text: &str) -> Option<String> {
        self.text(text, &mut Counts::default())
    }

    /// A text with what the detectors find replaced; `None` when they find nothing. A text
    /// that is a JSON object or array (a tool's arguments) stays JSON: its strings and numbers
    /// are redacted one by one.
    pub fn text<'r>(&'r self, text: &str, counts: &mut Counts<'r>) -> Option<String> {
        self.text_with(text, counts, &mut Vec::new())
    }

    /// [`Redactor::text`], with the detectors' finds in `hits`, a buffer the caller keeps
    /// from text to text (a text with a find then allocates only what replaces it).
    fn text_with<'r>(
        &'r self,
        text: &str,
        counts: &mut Counts<'r>,
        hits: &mut Vec<Hit>,
    ) -> Option<String> {
        let mut found = Counts::default();
        let plain = self.plain(text, &mut found, hits)?;
        if let Some(json) = self.as_json(text, found.total(), counts) {
            return Some(json);
        }
        counts.merge(found);
        Some(plain)
    }

    /// A JSON text redacted value by value, if it is JSON and that finds all that the plain
    /// pass found (a find in an object key is only the plain pass's).
    fn as_json<'r>(&'r self, text: &str, wanted: u64, counts: &mut Counts<'r>) -> Option<String> {
        let trimmed = text.trim_start();
        if !(trimmed.starts_with('{') || trimmed.starts_with('[')) {
            return None;
        }
        let mut value: Value = serde_json::from_str(text).ok()?;
        let mut visitor = Redacting::new(self);
        walk::json(&mut value, &mut visitor);
        if visitor.counts.total() < wanted {
            return None;
        }
        let json = serde_json::to_string(&value).ok()?;
        counts.merge(visitor.counts);
        Some(json)
    }

    /// The rules, then each detector in turn, over the text as the previous left it.
    fn plain<'r>(
        &'r self,
        text: &str,
        counts: &mut Counts<'r>,
        hits: &mut Vec<Hit>,
    ) -> Option<String> {
        let mut current = Cow::Borrowed(text);
        for rule in &self.rules {
            let mut n = 0;
            let replaced = rule.pattern.replace_all(&current, |caps: &Captures<'_>| {
                n += 1;
                let mut out = String::new();
                caps.expand(&rule.replacement, &mut out);
                out
            });
            if let Cow::Owned(replaced) = replaced {
                counts.add_rule(&rule.name, n);
                current = Cow::Owned(replaced);
            }
        }
        let wanted = detectors(&Signals::of(&current));
        if wanted != 0 {
            current = self.detect(current, wanted, counts, hits);
        }
        match current {
            Cow::Owned(text) => Some(text),
            Cow::Borrowed(_) => None,
        }
    }

    /// The text with what the detectors in `wanted` (bits in [`DETECTORS`]' order) find
    /// replaced: the rare text that holds something, out of the common path.
    #[inline(never)]
    fn detect<'r, 't>(
        &'r self,
        mut current: Cow<'t, str>,
        wanted: u8,
        counts: &mut Counts<'r>,
        hits: &mut Vec<Hit>,
    ) -> Cow<'t, str> {
        for (i, (_, find)) in DETECTORS.iter().enumerate() {
            if wanted >> i & 1 == 0 {
                continue;
            }
            hits.clear();
            find(&current, hits);
            hits.retain(|h| self.enabled[h.kind as usize]);
            if !hits.is_empty() {
                current = Cow::Owned(replace(&current, hits, counts));
            }
        }
        current
    }

    /// An integer that is a card or phone number becomes its token.
    fn number<'r>(&'r self, value: &mut Value, counts: &mut Counts<'r>) {
        let Value::Number(n) = value else { return };
        if n.is_f64() {
            return;
        }
        let Some(kind) = digits::classify_integer(&n.to_string()) else {
            return;
        };
        if self.enabled[kind as usize] {
            counts.add_kind(kind, 1);
            *value = Value::String(kind.token().to_string());
        }
    }

    /// `from` / `to`, as `caller_numbers` says.
    fn caller_number<'r>(&'r self, number: &mut String, counts: &mut Counts<'r>) {
        let masked = match self.caller_numbers {
            CallerNumbers::Keep => return,
            CallerNumbers::Redact => {
                if !number.bytes().any(|b| b.is_ascii_digit() || b == b'@') {
                    return;
                }
                Kind::PhoneNumber.token().to_string()
            }
            CallerNumbers::Last4 => last4(number),
        };
        if masked != *number {
            counts.add_kind(Kind::PhoneNumber, 1);
            *number = masked;
        }
    }
}

fn compile_rule(rule: &RuleConfig) -> Result<Rule, RedactionError> {
    let valid = !rule.name.is_empty()
        && rule
            .name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !valid {
        return Err(RedactionError::RuleName(rule.name.clone()));
    }
    let pattern = RegexBuilder::new(&rule.pattern)
        .size_limit(RULE_SIZE_LIMIT)
        .build()
        .map_err(|source| RedactionError::Pattern {
            name: rule.name.clone(),
            source,
        })?;
    let replacement = rule
        .replacement
        .clone()
        .unwrap_or_else(|| format!("<{}>", rule.name.to_ascii_uppercase()));
    Ok(Rule {
        name: rule.name.clone(),
        pattern,
        replacement,
    })
}

/// Every digit but the last four as `*`.
fn last4(number: &str) -> String {
    let digits = number.bytes().filter(u8::is_ascii_digit).count();
    let mut seen = 0;
    number
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen + 4 > digits {
                c
            } else {
                '*'
            }
        })
        .collect()
}

/// The text with each hit replaced by its token (hits sorted; one overlapping an earlier one
/// is dropped), counting each.
fn replace<'r>(text: &str, hits: &mut [Hit], counts: &mut Counts<'r>) -> String {
    hits.sort_by_key(|h| (h.start, std::cmp::Reverse(h.end)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for hit in hits.iter() {
        if hit.start < at {
            continue;
        }
        out.push_str(&text[at..hit.start]);
        out.push_str(hit.kind.token());
        counts.add_kind(hit.kind, 1);
        at = hit.end;
    }
    out.push_str(&text[at..]);
    out
}

/// Up to `distance` bytes of `text` before `at`, starting on a character boundary.
fn text_before(text: &str, at: usize, distance: usize) -> &str {
    let mut from = at.saturating_sub(distance);
    while !text.is_char_boundary(from) {
        from += 1;
    }
    &text[from..at]
}

/// The walk's visitor that redacts.
struct Redacting<'r> {
    redactor: &'r Redactor,
    counts: Counts<'r>,
    /// The detectors' finds, a buffer kept from text to text.
    hits: Vec<Hit>,
}

impl<'r> Redacting<'r> {
    fn new(redactor: &'r Redactor) -> Redacting<'r> {
        Redacting {
            redactor,
            counts: Counts::default(),
            hits: Vec::new(),
        }
    }
}

impl walk::Visit for Redacting<'_> {
    fn text(&mut self, text: &mut String) {
        if let Some(redacted) = self
            .redactor
            .text_with(text, &mut self.counts, &mut self.hits)
        {
            *text = redacted;
        }
    }

    fn number(&mut self, value: &mut Value) {
        self.redactor.number(value, &mut self.counts);
    }

    fn caller_number(&mut self, number: &mut String) {
        self.redactor.caller_number(number, &mut self.counts);
    }
}

#[cfg(test)]
mod test_support {
    use super::{replace, Counts, Signals};

    /// `text` with what `find` finds replaced by its tokens; checks that its gate would have
    /// let the text through to it.
    pub fn redacted_by(text: &str, gate: super::Gate, find: super::Detector) -> String {
        let mut hits = Vec::new();
        find(text, &mut hits);
        assert!(
            hits.is_empty() || gate(&Signals::of(text)),
            "the gate stops {text:?}, where its detector finds {hits:?}"
        );
        replace(text, &mut hits, &mut Counts::default())
    }
}

#[cfg(test)]
mod tests;
