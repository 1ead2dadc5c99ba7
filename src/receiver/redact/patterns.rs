//! The detectors that are patterns: emails (written, or spoken as "john dot smith at gmail dot
//! com"), IBANs (mod-97 checked) and dates of birth (a date next to "born", "date of birth",
//! "DOB", "birthday": the date goes, the cue stays).
//!
//! Each pattern is compiled once per process by the `regex` crate (the written email, which
//! runs on any text with an `@`, as a full DFA of its engine, `regex-automata`), whose matching
//! time is linear in the text whatever the pattern; ASCII-only (`unicode(false)`), so word
//! boundaries stay in its fastest engines on any text.

use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};
use regex_automata::{dfa, util::syntax};

use super::{Hit, Kind};

/// Top-level domains a spoken email ends with: a spoken form is only recognised by its
/// "at ... dot com" shape, so the list keeps "meet at noon dot" from matching.
const SPOKEN_TLDS: &str =
    "com|net|org|edu|gov|io|co|uk|de|fr|es|it|nl|us|ca|au|me|info|biz|ai|app|dev";

fn compile(pattern: &str) -> Regex {
    RegexBuilder::new(pattern)
        .case_insensitive(true)
        .unicode(false)
        .build()
        // The patterns are this module's constants, pinned by its tests.
        .unwrap_or_else(|e| panic!("redaction pattern does not compile: {e}"))
}

/// A written email. The one pattern that runs on ordinary texts (any with an `@`), so a full
/// DFA, compiled once: a search is one pass each way over the text, without the lazy DFA's
/// cache and the strategies the `regex` crate picks among, which cost more than the pass on a
/// sentence.
static EMAIL: LazyLock<dfa::regex::Regex> = LazyLock::new(|| {
    dfa::regex::Regex::builder()
        .syntax(syntax::Config::new().case_insensitive(true).unicode(false))
        .build(
            r"\b[a-z0-9._%+\-]+@[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?)*\.[a-z]{2,24}\b",
        )
        // The pattern is this module's constant, pinned by its tests.
        .unwrap_or_else(|e| panic!("the email pattern does not compile: {e}"))
});

static SPOKEN_EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    compile(&format!(
        r"\b[a-z0-9][a-z0-9._%+\-]*(?:\s+(?:dot|underscore|dash|hyphen)\s+[a-z0-9._%+\-]+)*\s+at\s+[a-z0-9\-]+(?:(?:\.|\s+dot\s+)[a-z0-9\-]+)*(?:\.|\s+dot\s+)(?:{SPOKEN_TLDS})\b"
    ))
});

static IBAN: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"\b[a-z]{2}[0-9]{2}(?:(?: [a-z0-9]{4})+(?: [a-z0-9]{1,4})?|[a-z0-9]{11,30})\b")
});

static DATE_OF_BIRTH: LazyLock<Regex> = LazyLock::new(|| compile(&date_of_birth_pattern()));

/// A date after a birth cue, the date in the group `date`.
fn date_of_birth_pattern() -> String {
    let month = "january|february|march|april|may|june|july|august|september|october|november|\
                 december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec";
    let unit = "one|two|three|four|five|six|seven|eight|nine";
    let teen = "ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen";
    let tens = "twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety";
    let ordinal = "first|second|third|fourth|fifth|sixth|seventh|eighth|ninth";
    let ordinal_word = format!(
        "(?:twenty|thirty)[\\s-](?:{ordinal})|{ordinal}|tenth|eleventh|twelfth|thirteenth|\
         fourteenth|fifteenth|sixteenth|seventeenth|eighteenth|nineteenth|twentieth|thirtieth"
    );
    let day = format!("(?:[0-9]{{1,2}}(?:st|nd|rd|th)?|(?:the\\s+)?(?:{ordinal_word}))");
    let year_words = format!(
        "(?:nineteen|twenty)\\s+(?:(?:oh|o)\\s+(?:{unit})|{teen}|(?:{tens})(?:[\\s-](?:{unit}))?)\
         |two\\s+thousand(?:\\s+and)?(?:\\s+(?:{teen}|(?:{tens})(?:[\\s-](?:{unit}))?|{unit}))?"
    );
    let year = format!("(?:[0-9]{{4}}|{year_words})");
    let numeric = "[0-9]{1,2}[/.\\-][0-9]{1,2}[/.\\-](?:[0-9]{4}|[0-9]{2})|[0-9]{4}[/.\\-][0-9]{1,2}[/.\\-][0-9]{1,2}";
    let month_first = format!("(?:{month})\\.?\\s+(?:the\\s+)?{day}(?:,?\\s+(?:of\\s+)?{year})?");
    let day_first = format!("(?:the\\s+)?{day}\\s+(?:of\\s+)?(?:{month})\\.?(?:,?\\s+{year})?");
    let month_year = format!("(?:{month})\\.?,?\\s+(?:of\\s+)?{year}");
    let cue = "born|birth\\s*date|date\\s+of\\s+birth|birthday|d\\.?o\\.?b\\.?";
    let filler = "(?:[\\s:,\\-]+(?:is|was|on|in|of|it's|its))*";
    format!(
        "\\b(?:{cue}){filler}[\\s:,\\-]+(?P<date>{numeric}|{month_first}|{day_first}|{month_year}|{year})\\b"
    )
}

/// Finds the emails of `text` written with an `@`.
pub(super) fn written_emails(text: &str, hits: &mut Vec<Hit>) {
    hits.extend(EMAIL.find_iter(text.as_bytes()).map(|m| Hit {
        start: m.start(),
        end: m.end(),
        kind: Kind::Email,
    }));
}

/// Finds the emails of `text` said as words ("john dot smith at gmail dot com").
pub(super) fn spoken_emails(text: &str, hits: &mut Vec<Hit>) {
    push_all(&SPOKEN_EMAIL, text, Kind::Email, hits);
}

/// Finds the IBANs of `text` whose check digits hold.
pub(super) fn ibans(text: &str, hits: &mut Vec<Hit>) {
    for m in IBAN.find_iter(text) {
        if let Some(end) = valid_iban_prefix(m.as_str()) {
            hits.push(Hit {
                start: m.start(),
                end: m.start() + end,
                kind: Kind::Iban,
            });
        }
    }
}

/// Finds the dates of birth of `text` (the date, not its cue).
pub(super) fn dates_of_birth(text: &str, hits: &mut Vec<Hit>) {
    for caps in DATE_OF_BIRTH.captures_iter(text) {
        if let Some(date) = caps.name("date") {
            hits.push(Hit {
                start: date.start(),
                end: date.end(),
                kind: Kind::DateOfBirth,
            });
        }
    }
}

fn push_all(pattern: &Regex, text: &str, kind: Kind, hits: &mut Vec<Hit>) {
    hits.extend(pattern.find_iter(text).map(|m| Hit {
        start: m.start(),
        end: m.end(),
        kind,
    }));
}

/// The length of the longest prefix of a candidate (ending at a group's end) that is an IBAN:
/// a spaced candidate may have run on into the next word.
fn valid_iban_prefix(candidate: &str) -> Option<usize> {
    let mut end = candidate.len();
    loop {
        if iban_checks(&candidate[..end]) {
            return Some(end);
        }
        end = candidate[..end].rfind(' ')?;
    }
}

/// 15 to 34 letters and digits whose mod-97 check (ISO 13616) gives 1.
fn iban_checks(text: &str) -> bool {
    let compact: Vec<u8> = text.bytes().filter(|b| *b != b' ').collect();
    if !(15..=34).contains(&compact.len()) {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut remainder: u32 = 0;
    for b in tail.iter().chain(head) {
        let value = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'a'..=b'z' => u32::from(b - b'a') + 10,
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        let width = if value >= 10 { 100 } else { 10 };
        remainder = (remainder * width + value) % 97;
    }
    remainder == 1
}

#[cfg(test)]
mod tests {
    use super::super::signals::Signals;
    use super::super::test_support::redacted_by;
    use super::*;

    /// Written emails, then spoken ones, as the redactor runs them.
    fn emails(said: &str) -> String {
        let written = redacted_by(said, Signals::written_email, written_emails);
        redacted_by(&written, Signals::spoken_email, spoken_emails)
    }

    #[test]
    fn emails_written_or_spoken_are_found() {
        let table = [
            (
                "write to jane.doe+vt@example.co.uk today",
                "write to <EMAIL> today",
            ),
            ("JOHN_SMITH@Mail.Example.COM.", "<EMAIL>."),
            ("a@b.io, c@d.org", "<EMAIL>, <EMAIL>"),
            (
                "it's john dot smith at gmail dot com thanks",
                "it's <EMAIL> thanks",
            ),
            ("jane underscore doe at example dot co dot uk", "<EMAIL>"),
            ("my email is jsmith at yahoo.com", "my email is <EMAIL>"),
        ];
        for (said, kept) in table {
            assert_eq!(emails(said), kept, "{said}");
        }
        for said in [
            "meet me at noon",
            "look at the dot on the screen",
            "the @ sign, and @handles",
            "version 1.2@beta",
            "at example dot",
        ] {
            assert_eq!(emails(said), said);
        }
    }

    #[test]
    fn ibans_are_found_by_their_check_digits() {
        let table = [
            ("DE89 3704 0044 0532 0130 00 please", "<IBAN> please"),
            ("GB82WEST12345698765432", "<IBAN>"),
            ("iban fr14 2004 1010 0505 0001 3m02 606", "iban <IBAN>"),
            ("GB82 WEST 1234 5698 7654 32 then call", "<IBAN> then call"),
            ("NL91 ABNA 0417 1643 00 okay", "<IBAN> okay"),
        ];
        for (said, kept) in table {
            assert_eq!(redacted_by(said, Signals::iban, ibans), kept, "{said}");
        }
        for said in [
            // One digit off: the check fails.
            "DE89 3704 0044 0532 0130 01",
            "SKU AB12CDEFGHIJKLMN",
            "flight LH40 departs",
        ] {
            assert_eq!(redacted_by(said, Signals::iban, ibans), said);
        }
    }

    #[test]
    fn dates_next_to_a_birth_cue_are_found() {
        let table = [
            (
                "I was born on 03/21/1985.",
                "I was born on <DATE_OF_BIRTH>.",
            ),
            (
                "date of birth: 1985-03-21",
                "date of birth: <DATE_OF_BIRTH>",
            ),
            ("DOB 21.03.85 ok", "DOB <DATE_OF_BIRTH> ok"),
            (
                "born March 3rd, 1985 in Ohio",
                "born <DATE_OF_BIRTH> in Ohio",
            ),
            ("born on the 3rd of March 1985", "born on <DATE_OF_BIRTH>"),
            (
                "my birthday is june twenty first",
                "my birthday is <DATE_OF_BIRTH>",
            ),
            (
                "born march third nineteen eighty five",
                "born <DATE_OF_BIRTH>",
            ),
            (
                "date of birth is the fifth of may two thousand and three",
                "date of birth is <DATE_OF_BIRTH>",
            ),
            ("I was born in 1985", "I was born in <DATE_OF_BIRTH>"),
            ("born in July 1990.", "born in <DATE_OF_BIRTH>."),
        ];
        for (said, kept) in table {
            assert_eq!(
                redacted_by(said, Signals::date_of_birth, dates_of_birth),
                kept,
                "{said}"
            );
        }
        for said in [
            // Dates with no birth cue are appointments, deliveries, ...
            "your appointment is on March 3rd, 1985",
            "delivered 2026-03-21 at 10:30",
            // A cue with no date.
            "I was born in Ohio",
            "born to run, may I ask",
        ] {
            assert_eq!(
                redacted_by(said, Signals::date_of_birth, dates_of_birth),
                said
            );
        }
    }
}
