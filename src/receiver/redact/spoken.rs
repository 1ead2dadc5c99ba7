//! Numbers read out as words: what a speech-to-text engine writes when a caller reads a card
//! or a phone number digit by digit ("four one one one ...", "five five five, one two three",
//! "double seven"), also mixed with numerals ("four one one one 1111 ...").
//!
//! A run of such words (joined by spaces, commas, dashes or dots) worth at least
//! [`MIN_RUN_DIGITS`] digits, at least [`MIN_WORD_DIGITS`] of them said as words, is a card
//! number from 13 digits on, an SSN when it is 9 digits after an SSN cue, and a phone number
//! otherwise. No Luhn check: one misheard digit must not let the other fifteen through. Number
//! words that are not single digits ("forty one", "eleven") are not read.

use super::digits::{cued, SSN_CUES};
use super::{text_before, Hit, Kind};

/// Fewer digits read out than a local phone number are not a number anyone dictates.
const MIN_RUN_DIGITS: usize = 7;
/// A run needs this many digits said as words: fewer, and numerals with a stray "one" are the
/// digit detector's to judge.
pub(super) const MIN_WORD_DIGITS: usize = 3;
/// The shortest card number.
const CARD_DIGITS: usize = 13;
/// Characters between two words of one number, at most [`MAX_GAP`] of them.
const GAP: &[u8] = b" \t\n,.-()+";
const MAX_GAP: usize = 3;
/// How far before a run its SSN cue may be, bytes.
const CUE_DISTANCE: usize = 48;

/// What one word is worth in a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Word {
    /// A digit said as a word ("four", "oh").
    Digit,
    /// "double" or "triple": the next digit word counts this many times.
    Repeat(usize),
    /// A numeral, this many digits.
    Numeral(usize),
    /// Anything else: the run ends.
    Other,
}

fn word(text: &str) -> Word {
    const DIGITS: &[&str] = &[
        "zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
    ];
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return Word::Numeral(text.len());
    }
    if text.len() > 6 {
        return Word::Other;
    }
    if DIGITS.iter().any(|d| d.eq_ignore_ascii_case(text)) {
        Word::Digit
    } else if text.eq_ignore_ascii_case("double") {
        Word::Repeat(2)
    } else if text.eq_ignore_ascii_case("triple") {
        Word::Repeat(3)
    } else {
        Word::Other
    }
}

/// A run being read.
#[derive(Debug, Default)]
struct Run {
    /// Where its first digit-bearing word starts (`None`: nothing read yet).
    start: Option<usize>,
    /// Where its last digit-bearing word ends.
    end: usize,
    digits: usize,
    /// Digits said as words.
    said: usize,
    /// A "double"/"triple" waiting for its digit word: the count and where the word starts.
    repeat: Option<(usize, usize)>,
}

/// Finds the numbers of `text` read out as words, left to right.
pub(super) fn find(text: &str, hits: &mut Vec<Hit>) {
    let bytes = text.as_bytes();
    let mut run = Run::default();
    let (mut at, mut last_end) = (0, 0);
    while at < bytes.len() {
        if !bytes[at].is_ascii_alphanumeric() {
            at += 1;
            continue;
        }
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_alphanumeric() {
            at += 1;
        }
        if !joins(&bytes[last_end..start]) {
            close(text, std::mem::take(&mut run), hits);
        }
        last_end = at;
        let value = word(&text[start..at]);
        if !run.add(value, start, at) {
            close(text, std::mem::take(&mut run), hits);
            // The word may begin the next run.
            run.add(value, start, at);
        }
    }
    close(text, run, hits);
}

/// Whether the text between two words keeps them in one number.
fn joins(gap: &[u8]) -> bool {
    !gap.is_empty() && gap.len() <= MAX_GAP && gap.iter().all(|b| GAP.contains(b))
}

impl Run {
    /// Adds a word; `false` when it cannot continue the run (the run keeps what it had).
    fn add(&mut self, value: Word, start: usize, end: usize) -> bool {
        let (n, said, from) = match (value, self.repeat) {
            (Word::Digit, Some((n, from))) => (n, n, from),
            (Word::Digit, None) => (1, 1, start),
            (Word::Numeral(n), None) => (n, 0, start),
            (Word::Repeat(n), None) => {
                self.repeat = Some((n, start));
                return true;
            }
            _ => return false,
        };
        self.repeat = None;
        self.start.get_or_insert(from);
        self.end = end;
        self.digits += n;
        self.said += said;
        true
    }
}

/// Records a finished run if it is a number.
fn close(text: &str, run: Run, hits: &mut Vec<Hit>) {
    let Some(start) = run.start else { return };
    if run.digits < MIN_RUN_DIGITS || run.said < MIN_WORD_DIGITS {
        return;
    }
    let before = text_before(text, start, CUE_DISTANCE);
    let kind = if run.digits >= CARD_DIGITS {
        Kind::CreditCard
    } else if run.digits == 9 && cued(before, SSN_CUES) {
        Kind::Ssn
    } else {
        Kind::PhoneNumber
    };
    hits.push(Hit {
        start,
        end: run.end,
        kind,
    });
}

#[cfg(test)]
mod tests {
    use super::super::signals::Signals;
    use super::super::test_support::redacted_by;
    use super::*;

    fn redact(text: &str) -> String {
        redacted_by(text, Signals::spoken, find)
    }

    #[test]
    fn numbers_read_out_as_words_are_found() {
        let table = [
            (
                "it's four one one one one one one one one one one one one one one one thanks",
                "it's <CREDIT_CARD> thanks",
            ),
            (
                "Four, one, one, one - one one one one, one one one one, one one one one.",
                "<CREDIT_CARD>.",
            ),
            ("four one one one 1111 1111 1111", "<CREDIT_CARD>"),
            (
                "call me at five five five one two three four",
                "call me at <PHONE_NUMBER>",
            ),
            ("five five five, 123, 4567 please", "<PHONE_NUMBER> please"),
            (
                "oh seven seven double oh nine triple oh one two",
                "<PHONE_NUMBER>",
            ),
            (
                "my social is one two three four five six seven eight nine",
                "my social is <SSN>",
            ),
        ];
        for (said, kept) in table {
            assert_eq!(redact(said), kept, "{said}");
        }
    }

    #[test]
    fn words_that_are_not_a_number_read_out_stay() {
        for said in [
            "give me one or two minutes",
            "one two three, let's go",
            "at four thirty on the twenty first",
            "I have one question, two actually",
            // Numerals with a stray word are the digit detector's to judge.
            "line one 555 1234 567",
            "oh, one more thing",
            "double check the one order",
        ] {
            assert_eq!(redact(said), said);
        }
    }
}
