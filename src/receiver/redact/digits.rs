//! Numbers written with digits: payment card numbers (Luhn-checked), US social security
//! numbers and phone numbers (E.164 and national formats), in any grouping a person or a
//! speech-to-text engine writes them with (spaces, dashes, dots, parentheses).
//!
//! A text is cut into runs of digit groups joined by short separators (`4111 1111-1111`,
//! `+1 (555) 123.4567`); inside a run, windows of consecutive groups are tried, longest first
//! from the left, against the kinds in order card, SSN, phone. A window holds at most
//! [`MAX_WINDOW_DIGITS`] digits, so a run costs a bounded number of tries per group: a megabyte
//! of digits is scanned in linear time. What no kind claims (times, prices, order ids, counts,
//! dates, versions) stays as it is.

use smallvec::SmallVec;

use super::signals::next_digit;
use super::{text_before, Hit, Kind};

/// The longest number a window may hold: a payment card has at most 19 digits, and E.164 at
/// most 15.
const MAX_WINDOW_DIGITS: usize = 19;

/// Separator characters between two groups of one number, at most [`MAX_SEPARATOR`] of them
/// (`) ` between an area code and the rest, ` - ` in a number read out).
pub(super) const SEPARATORS: &[u8] = b" -.()";

/// Whether a byte is one of [`SEPARATORS`], by a table (`contains` on the slice is a call to
/// `memchr` per byte).
pub(super) fn is_separator(b: u8) -> bool {
    const TABLE: [bool; 256] = {
        let mut table = [false; 256];
        let mut i = 0;
        while i < SEPARATORS.len() {
            table[SEPARATORS[i] as usize] = true;
            i += 1;
        }
        table
    };
    TABLE[usize::from(b)]
}
pub(super) const MAX_SEPARATOR: usize = 3;

/// How far before a number its cue ("card", "social security") may be, bytes.
const CUE_DISTANCE: usize = 48;

/// Words before a 13–19 digit number that make it a card number even when it fails the Luhn
/// check (a caller who misread one digit has still said the other fifteen).
const CARD_CUES: &[&str] = &["card", "visa", "mastercard", "amex", "credit", "debit"];

/// Words before a 9-digit number written without dashes that make it an SSN.
pub(super) const SSN_CUES: &[&str] = &["social security", "ssn", "social"];

/// The groups of one run, on the stack up to [`INLINE_GROUPS`] (a number read out in single
/// digits has 19 groups at most; a longer run spills to the heap).
type Groups = SmallVec<[Group; INLINE_GROUPS]>;
const INLINE_GROUPS: usize = 24;

/// One group of digits: its byte range in the text.
#[derive(Debug, Clone, Copy)]
struct Group {
    start: usize,
    end: usize,
}

impl Group {
    fn len(&self) -> usize {
        self.end - self.start
    }
}

/// Finds the card numbers, SSNs and phone numbers of `text`, left to right.
pub(super) fn find(text: &str, hits: &mut Vec<Hit>) {
    let bytes = text.as_bytes();
    let mut groups = Groups::new();
    let mut at = 0;
    while let Some(start) = next_digit(bytes, at) {
        groups.clear();
        at = read_run(bytes, start, &mut groups);
        windows(text, &groups, hits);
    }
}

/// Reads the run of groups starting at the digit at `at`; returns where it ends.
fn read_run(bytes: &[u8], mut at: usize, groups: &mut Groups) -> usize {
    loop {
        let start = at;
        while at < bytes.len() && bytes[at].is_ascii_digit() {
            at += 1;
        }
        groups.push(Group { start, end: at });
        let mut next = at;
        while next < bytes.len() && next - at < MAX_SEPARATOR && is_separator(bytes[next]) {
            next += 1;
        }
        if next == at || next >= bytes.len() || !bytes[next].is_ascii_digit() {
            return at;
        }
        at = next;
    }
}

/// What a window of groups looks like, for the kinds to judge.
struct Window<'a> {
    digits: &'a [u8],
    /// Its groups' lengths (a group in a window has at most [`MAX_WINDOW_DIGITS`] digits).
    lengths: &'a [u8],
    /// The separators between its groups.
    separators: Separators<'a>,
    /// A `+` just before its first digit.
    plus: bool,
    /// What the text before it says.
    cues: &'a Cues<'a>,
}

/// The separators between the groups of a window, read from the text when a kind asks.
#[derive(Clone, Copy)]
struct Separators<'a> {
    bytes: &'a [u8],
    groups: &'a [Group],
}

impl<'a> Separators<'a> {
    /// The bytes between the window's group `i` and the next.
    fn get(&self, i: usize) -> &'a [u8] {
        match (self.groups.get(i), self.groups.get(i + 1)) {
            (Some(g), Some(next)) => &self.bytes[g.end..next.start],
            _ => &[],
        }
    }

    /// Whether every separator is one `wanted` allows.
    fn all(&self, wanted: impl Fn(&[u8]) -> bool) -> bool {
        (0..self.groups.len().saturating_sub(1)).all(|i| wanted(self.get(i)))
    }
}

/// The longest number starting at one group of a run.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    /// Its first and last group.
    first: usize,
    last: usize,
    /// Where it starts in the text (with a `+` or `(` before its first group).
    start: usize,
    digits: usize,
    kind: Kind,
}

/// Finds the numbers of one run: at each group the longest window that is a number; of
/// candidates that overlap, the one with more digits (`30 4111 1111 1111 1111` is a count and
/// a card, not a 14-digit card and a stray `1111`).
fn windows(text: &str, groups: &[Group], hits: &mut Vec<Hit>) {
    let mut pending: Option<Candidate> = None;
    for first in 0..groups.len() {
        // A number starting inside the pending one replaces it only with more digits.
        let beat = pending.filter(|p| first <= p.last).map_or(0, |p| p.digits);
        let Some(candidate) = longest_at(text, groups, first, beat) else {
            continue;
        };
        pending = match pending {
            Some(p) if candidate.first <= p.last => Some(if candidate.digits > p.digits {
                candidate
            } else {
                p
            }),
            Some(p) => {
                hits.push(hit(groups, p));
                Some(candidate)
            }
            None => Some(candidate),
        };
    }
    if let Some(p) = pending {
        hits.push(hit(groups, p));
    }
}

fn hit(groups: &[Group], c: Candidate) -> Hit {
    Hit {
        start: c.start,
        end: groups[c.last].end,
        kind: c.kind,
    }
}

/// The most digits a window starting at the first of `groups` can hold.
fn reach(groups: &[Group]) -> usize {
    let mut n = 0;
    for g in groups {
        if n + g.len() > MAX_WINDOW_DIGITS {
            break;
        }
        n += g.len();
    }
    n
}

/// The longest window starting at group `first` that is a number, if any; none without
/// trying when no window there can hold more than `beat` digits.
fn longest_at(text: &str, groups: &[Group], first: usize, beat: usize) -> Option<Candidate> {
    let bytes = text.as_bytes();
    let head = groups[first];
    if head.start > 0 && is_word(bytes[head.start - 1]) {
        return None;
    }
    if reach(&groups[first..]) <= beat {
        return None;
    }
    let mut digits = [0u8; MAX_WINDOW_DIGITS];
    let mut lengths = [0u8; MAX_WINDOW_DIGITS];
    // The windows starting at `first`: how far they reach within the digit bound.
    let mut n = 0;
    let mut past = first;
    while past < groups.len() && n + groups[past].len() <= MAX_WINDOW_DIGITS {
        let g = groups[past];
        digits[n..n + g.len()].copy_from_slice(&bytes[g.start..g.end]);
        n += g.len();
        // At most MAX_WINDOW_DIGITS, by the loop's bound.
        lengths[past - first] = g.len() as u8;
        past += 1;
    }
    let start = lead(bytes, head.start);
    let plus = bytes.get(start).is_some_and(|b| *b == b'+');
    let cues = Cues::new(text_before(text, start, CUE_DISTANCE));
    (first..past).rev().find_map(|last| {
        if !ends_clean(bytes, groups[last].end) {
            return None;
        }
        let count = last - first + 1;
        let used = lengths[..count].iter().map(|n| usize::from(*n)).sum();
        let window = Window {
            digits: &digits[..used],
            lengths: &lengths[..count],
            separators: Separators {
                bytes,
                groups: &groups[first..=last],
            },
            plus,
            cues: &cues,
        };
        classify(&window).map(|kind| Candidate {
            first,
            last,
            start,
            digits: used,
            kind,
        })
    })
}

/// Where a number starting at `start` begins: with the `+` and `(` written before it.
fn lead(bytes: &[u8], start: usize) -> usize {
    let mut lead = start;
    if lead > 0 && bytes[lead - 1] == b'(' {
        lead -= 1;
    }
    if lead > 0 && bytes[lead - 1] == b'+' {
        lead -= 1;
    }
    // `+` is the number's only if nothing word-like sticks to it.
    if lead > 0 && is_word(bytes[lead - 1]) {
        return start;
    }
    lead
}

/// Whether a number may end at `end`: no letter, digit or `_` follows.
fn ends_clean(bytes: &[u8], end: usize) -> bool {
    bytes.get(end).is_none_or(|b| !is_word(*b))
}

/// A byte of a word or an identifier: a number glued to one is part of an id, not said.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The kind of number a window is, if any.
fn classify(w: &Window<'_>) -> Option<Kind> {
    if is_card(w) {
        Some(Kind::CreditCard)
    } else if is_ssn(w) {
        Some(Kind::Ssn)
    } else if is_phone(w) {
        Some(Kind::PhoneNumber)
    } else {
        None
    }
}

/// The kind of a bare integer (a JSON number in metadata or a custom metric), if it is one.
pub(super) fn classify_integer(text: &str) -> Option<Kind> {
    let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
    if digits.len() > MAX_WINDOW_DIGITS || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    classify(&Window {
        digits,
        lengths: &[u8::try_from(digits.len()).ok()?],
        separators: Separators {
            bytes: &[],
            groups: &[],
        },
        plus: false,
        cues: &Cues::new(""),
    })
}

/// 13–19 digits grouped by spaces or dashes, passing the Luhn check and starting as issuers'
/// numbers do (2–6), or after a card cue whatever the check says.
fn is_card(w: &Window<'_>) -> bool {
    let n = w.digits.len();
    if w.plus || !(13..=19).contains(&n) {
        return false;
    }
    if !w.separators.all(|s| s == b" " || s == b"-") {
        return false;
    }
    (matches!(w.digits[0], b'2'..=b'6') && luhn(w.digits)) || w.cues.card()
}

/// The Luhn checksum of a digit string is valid.
pub(super) fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 {
                    doubled - 9
                } else {
                    doubled
                }
            } else {
                d
            }
        })
        .sum();
    sum % 10 == 0
}

/// `123-45-6789` (or with spaces), or nine digits after an SSN cue; never an area the SSA
/// does not assign (000, 666, 9xx), a group 00 or a serial 0000.
fn is_ssn(w: &Window<'_>) -> bool {
    if w.plus || w.digits.len() != 9 || !valid_ssn(w.digits) {
        return false;
    }
    let dashed = w.lengths == [3, 2, 4]
        && w.separators.get(0) == w.separators.get(1)
        && (w.separators.get(0) == b"-" || w.separators.get(0) == b" ");
    dashed || (w.lengths == [9] && w.cues.ssn())
}

/// Whether nine digits can be an SSN the SSA assigns.
pub(super) fn valid_ssn(d: &[u8]) -> bool {
    let area = &d[0..3];
    area != b"000" && area != b"666" && d[0] != b'9' && &d[3..5] != b"00" && &d[5..9] != b"0000"
}

/// E.164 (`+` and 8–15 digits), an international `00` prefix, a North American number (10
/// digits starting 2–9, or 11 with the leading 1; the exchange is not checked, so that the
/// 555-123-4567 of examples is found too), a national number
/// with its trunk `0` (10–11 digits: UK, France, Germany, ...), or a 7-digit local number
/// written `555-0123`.
fn is_phone(w: &Window<'_>) -> bool {
    let (d, n) = (w.digits, w.digits.len());
    if n < 7 {
        return false;
    }
    if w.plus {
        return (8..=15).contains(&n);
    }
    let nxx = |b: u8| matches!(b, b'2'..=b'9');
    match (d[0], d[1]) {
        (b'0', b'0') => (10..=15).contains(&n),
        (b'0', _) => (10..=11).contains(&n),
        (b'1', _) => {
            n == 11 && nxx(d[1]) && matches!(w.lengths, [11] | [1, 10] | [1, 3, 7] | [1, 3, 3, 4])
        }
        _ if n == 10 => matches!(w.lengths, [10] | [3, 7] | [3, 3, 4]),
        _ => {
            n == 7
                && nxx(d[0])
                && w.lengths == [3, 4]
                && (w.separators.get(0) == b"-" || w.separators.get(0) == b".")
        }
    }
}

/// Whether one of `cues` is in the text before a number (case aside).
pub(super) fn cued(before: &str, cues: &[&str]) -> bool {
    let hay = before.as_bytes();
    cues.iter().any(|cue| {
        hay.windows(cue.len())
            .any(|w| w.eq_ignore_ascii_case(cue.as_bytes()))
    })
}

/// Whether the text before a number holds a card or an SSN cue, looked up once per number
/// start, when a window asks.
struct Cues<'a> {
    before: &'a str,
    card: std::cell::OnceCell<bool>,
    ssn: std::cell::OnceCell<bool>,
}

impl<'a> Cues<'a> {
    fn new(before: &'a str) -> Cues<'a> {
        Cues {
            before,
            card: Default::default(),
            ssn: Default::default(),
        }
    }

    fn card(&self) -> bool {
        *self.card.get_or_init(|| cued(self.before, CARD_CUES))
    }

    fn ssn(&self) -> bool {
        *self.ssn.get_or_init(|| cued(self.before, SSN_CUES))
    }
}

#[cfg(test)]
mod tests {
    use super::super::signals::Signals;
    use super::super::test_support::redacted_by;
    use super::*;

    fn redact(text: &str) -> String {
        redacted_by(text, Signals::digits, find)
    }

    #[test]
    fn card_numbers_in_any_grouping_are_found_and_luhn_checked() {
        let table = [
            // (said, kept)
            (
                "my card is 4111 1111 1111 1111 thanks",
                "my card is <CREDIT_CARD> thanks",
            ),
            ("4111-1111-1111-1111", "<CREDIT_CARD>"),
            ("pay with 4111111111111111.", "pay with <CREDIT_CARD>."),
            ("amex 3782 822463 10005 ok", "amex <CREDIT_CARD> ok"),
            (
                "5555 5555 5555 4444 and 4012888888881881",
                "<CREDIT_CARD> and <CREDIT_CARD>",
            ),
            ("turn 30 4111 1111 1111 1111", "turn 30 <CREDIT_CARD>"),
            ("4 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1", "<CREDIT_CARD>"),
            // A misread digit after a cue: still a card.
            (
                "card number 4111 1111 1111 1112",
                "card number <CREDIT_CARD>",
            ),
        ];
        for (said, kept) in table {
            assert_eq!(redact(said), kept, "{said}");
        }
    }

    #[test]
    fn numbers_that_are_not_cards_stay() {
        for said in [
            // Fails Luhn, no cue.
            "reference 4111 1111 1111 1112",
            // A millisecond timestamp: Luhn may pass, but no issuer starts with 1.
            "at 1774087200000 ms",
            // Dots are decimals, not card separators.
            "pi is 3.14159265358979",
            // Glued to letters: an id, not a number said.
            "id AB4111111111111111",
            "trace 4bf92f3577b34da6a3ce929d0e0e4736",
        ] {
            assert_eq!(redact(said), said);
        }
    }

    #[test]
    fn ssns_are_found_dashed_or_after_a_cue() {
        let table = [
            ("ssn 123-45-6789.", "ssn <SSN>."),
            ("it's 123 45 6789", "it's <SSN>"),
            (
                "my social security number is 123456789",
                "my social security number is <SSN>",
            ),
        ];
        for (said, kept) in table {
            assert_eq!(redact(said), kept, "{said}");
        }
        for said in [
            // Never assigned: area 000, 666 or 9xx, group 00, serial 0000.
            "000-12-3456",
            "666-12-3456",
            "912-34-5678",
            "123-00-4567",
            "123-45-0000",
            // Nine digits with no cue: not an SSN (nor a phone).
            "order 123456789 shipped",
            // Mixed separators.
            "123-45 6789",
        ] {
            assert_eq!(redact(said), said);
        }
    }

    #[test]
    fn phone_numbers_in_e164_and_national_formats_are_found() {
        let table = [
            ("call +15551234567 now", "call <PHONE_NUMBER> now"),
            ("+1 (555) 123-4567", "<PHONE_NUMBER>"),
            ("+44 20 7946 0958", "<PHONE_NUMBER>"),
            ("+49 151 23456789", "<PHONE_NUMBER>"),
            ("(555) 123-4567", "<PHONE_NUMBER>"),
            ("555-123-4567", "<PHONE_NUMBER>"),
            ("555.123.4567", "<PHONE_NUMBER>"),
            ("555 123 4567", "<PHONE_NUMBER>"),
            ("5551234567", "<PHONE_NUMBER>"),
            ("1-800-555-0199", "<PHONE_NUMBER>"),
            ("020 7946 0958", "<PHONE_NUMBER>"),
            ("07700 900123", "<PHONE_NUMBER>"),
            ("01 23 45 67 89", "<PHONE_NUMBER>"),
            ("0044 20 7946 0958", "<PHONE_NUMBER>"),
            ("dial 555-0123.", "dial <PHONE_NUMBER>."),
            ("turn 3 and 555 123 4567", "turn 3 and <PHONE_NUMBER>"),
        ];
        for (said, kept) in table {
            assert_eq!(redact(said), kept, "{said}");
        }
    }

    #[test]
    fn ordinary_numbers_stay() {
        for said in [
            "order A-1042 ships at 10:30",
            "it costs $49.99, or 1,299.00 for the pair",
            "turn 3 of 30, 2 tools",
            "on 2026-03-21 at 10:00",
            "server 192.168.1.100 port 4317",
            "version 2.14.3",
            "room 204, zip 94103",
            "123-4567 is not a local number (exchange 1)",
            "1234567890 starts with 1",
            "call ids like call_5551234567",
        ] {
            assert_eq!(redact(said), said);
        }
    }

    #[test]
    fn integers_are_judged_as_numbers_said() {
        assert_eq!(classify_integer("4111111111111111"), Some(Kind::CreditCard));
        assert_eq!(classify_integer("5551234567"), Some(Kind::PhoneNumber));
        assert_eq!(classify_integer("1042"), None);
        assert_eq!(classify_integer("1774087200000"), None);
        assert_eq!(classify_integer("-42"), None);
    }

    #[test]
    fn long_runs_of_digits_are_left_alone() {
        // A bounded number of windows per group, whatever the run's length: linear (the
        // benchmark times a megabyte; this pins that nothing is found in a long run).
        let digits = "1".repeat(1 << 16);
        assert_eq!(redact(&digits), digits);
        let spaced = "1 ".repeat(1 << 15);
        assert_eq!(redact(&spaced), spaced);
    }
}
