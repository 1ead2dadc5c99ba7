//! One pass over a text that says which detectors could find anything in it, so that the
//! ordinary sentence of a call ("It should arrive tomorrow morning") costs one scan of its
//! bytes instead of a scan per detector.
//!
//! Each signal is a necessary condition of its detector, never a sufficient one: a text the
//! signals let through is still judged by the detector itself; a text they stop could not
//! have held a find (the tests check the detectors' tables through both paths).

use super::digits::{MAX_SEPARATOR, SEPARATORS};

/// What one scan of a text saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Signals {
    /// The most digits in one run of digit groups joined as the digit detector joins them.
    longest_run: usize,
    /// An `@` (a written email).
    at_sign: bool,
    /// The word "at" (a spoken email: "jane at example dot com").
    at_word: bool,
    /// After an "at", the word "dot" or a `.` before a letter (the domain of a spoken email).
    dot_after_at: bool,
    /// A word of two letters right before two digits (an IBAN's country and check digits).
    iban_start: bool,
    /// Digits said as words, counting "double" as two and "triple" as three (a spoken
    /// number needs `spoken::MIN_WORD_DIGITS` of them).
    said_digits: usize,
    /// A word a birth cue begins with: "born", "birth…", "dob", or the "d." of "d.o.b".
    birth_cue: bool,
}

/// The fewest digits a written number can have that the digit detector claims: a local
/// phone number (`555-0123`).
const MIN_NUMBER_DIGITS: usize = 7;

/// What a byte is to the scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Letter,
    Digit,
    At,
    /// A `.`: ends a spoken email's domain part, and joins digit groups.
    Dot,
    /// Joins digit groups (`digits::SEPARATORS` other than `.`).
    Separator,
    Other,
}

/// Every byte's class.
const CLASSES: [Class; 256] = {
    let mut classes = [Class::Other; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        classes[b] = if c.is_ascii_alphabetic() {
            Class::Letter
        } else if c.is_ascii_digit() {
            Class::Digit
        } else if c == b'@' {
            Class::At
        } else if c == b'.' {
            Class::Dot
        } else if is_separator(c) {
            Class::Separator
        } else {
            Class::Other
        };
        b += 1;
    }
    classes
};

const fn is_separator(c: u8) -> bool {
    let mut i = 0;
    while i < SEPARATORS.len() {
        if SEPARATORS[i] == c {
            return true;
        }
        i += 1;
    }
    false
}

/// Separators since a run's last digit once a byte that is not one broke the run.
const BROKEN: usize = usize::MAX;

/// A word of at most 8 ASCII letters, lower-cased, as one integer: a word is matched
/// against many at once.
const fn key(word: &[u8]) -> u64 {
    let mut key = 0;
    let mut i = 0;
    while i < word.len() && i < 8 {
        key |= ((word[i] | 0x20) as u64) << (8 * i);
        i += 1;
    }
    key
}

const AT: u64 = key(b"at");
const DOT: u64 = key(b"dot");
const OH: u64 = key(b"oh");
const ZERO: u64 = key(b"zero");
const ONE: u64 = key(b"one");
const TWO: u64 = key(b"two");
const THREE: u64 = key(b"three");
const FOUR: u64 = key(b"four");
const FIVE: u64 = key(b"five");
const SIX: u64 = key(b"six");
const SEVEN: u64 = key(b"seven");
const EIGHT: u64 = key(b"eight");
const NINE: u64 = key(b"nine");
const DOUBLE: u64 = key(b"double");
const TRIPLE: u64 = key(b"triple");
const BORN: u64 = key(b"born");
const DOB: u64 = key(b"dob");
const BIRTH: u64 = key(b"birth");
/// The "d" of "d.o.b" and the "do" of "do.b".
const D: u64 = key(b"d");
const DO: u64 = key(b"do");

impl Signals {
    /// Scans `text` once.
    pub(super) fn of(text: &str) -> Signals {
        let bytes = text.as_bytes();
        let mut signals = Signals::default();
        let mut word_start = None;
        let (mut run, mut gap) = (0, BROKEN);
        for (at, &b) in bytes.iter().enumerate() {
            let class = CLASSES[usize::from(b)];
            if class == Class::Letter {
                word_start.get_or_insert(at);
                gap = BROKEN;
                continue;
            }
            if let Some(start) = word_start.take() {
                signals.word(&bytes[start..at], &bytes[at..]);
            }
            match class {
                Class::Digit => {
                    run = if gap <= MAX_SEPARATOR { run + 1 } else { 1 };
                    gap = 0;
                    signals.longest_run = signals.longest_run.max(run);
                }
                Class::Separator => gap = gap.saturating_add(1),
                Class::Dot => {
                    gap = gap.saturating_add(1);
                    signals.dot_after_at |=
                        signals.at_word && bytes.get(at + 1).is_some_and(u8::is_ascii_alphabetic);
                }
                Class::At => {
                    signals.at_sign = true;
                    gap = BROKEN;
                }
                Class::Letter | Class::Other => gap = BROKEN,
            }
        }
        if let Some(start) = word_start {
            signals.word(&bytes[start..], &[]);
        }
        signals
    }

    /// Notes what one word (ASCII letters) may begin; `rest` is the text after it.
    fn word(&mut self, word: &[u8], rest: &[u8]) {
        if word.len() >= 5 && key(&word[..5]) == BIRTH {
            self.birth_cue = true;
            return;
        }
        if word.len() > 6 {
            return;
        }
        if word.len() == 2 && rest.len() > 1 && rest[..2].iter().all(u8::is_ascii_digit) {
            self.iban_start = true;
        }
        let dot_then = |c: u8| rest.len() > 1 && rest[0] == b'.' && rest[1] | 0x20 == c;
        match key(word) {
            AT => self.at_word = true,
            DOT => self.dot_after_at |= self.at_word,
            OH | ZERO | ONE | TWO | THREE | FOUR | FIVE | SIX | SEVEN | EIGHT | NINE => {
                self.said_digits += 1
            }
            DOUBLE => self.said_digits += 2,
            TRIPLE => self.said_digits += 3,
            BORN | DOB => self.birth_cue = true,
            D => self.birth_cue |= dot_then(b'o'),
            DO => self.birth_cue |= dot_then(b'b'),
            _ => {}
        }
    }

    /// Whether the written-email detector could find one.
    pub(super) fn written_email(&self) -> bool {
        self.at_sign
    }

    /// Whether the spoken-email detector could find one.
    pub(super) fn spoken_email(&self) -> bool {
        self.dot_after_at
    }

    /// Whether the IBAN detector could find one.
    pub(super) fn iban(&self) -> bool {
        self.iban_start
    }

    /// Whether the date-of-birth detector could find one.
    pub(super) fn date_of_birth(&self) -> bool {
        self.birth_cue
    }

    /// Whether the spoken-number detector could find one.
    pub(super) fn spoken(&self) -> bool {
        self.said_digits >= super::spoken::MIN_WORD_DIGITS
    }

    /// Whether the written-number detector could find one.
    pub(super) fn digits(&self) -> bool {
        self.longest_run >= MIN_NUMBER_DIGITS
    }
}

#[cfg(test)]
mod tests {
    use super::Signals;

    #[test]
    fn an_ordinary_sentence_wakes_no_detector() {
        let s = Signals::of("It should arrive tomorrow morning, well before Friday at 10:30.");
        assert_eq!(
            [
                s.written_email(),
                s.spoken_email(),
                s.iban(),
                s.date_of_birth(),
                s.spoken(),
                s.digits()
            ],
            [false; 6]
        );
    }

    #[test]
    fn each_signal_is_seen() {
        assert!(Signals::of("mail me: a@b.co").written_email());
        assert!(Signals::of("jane AT example dot com").spoken_email());
        assert!(Signals::of("jsmith at yahoo.com").spoken_email());
        assert!(!Signals::of("dot com, at 10.30").spoken_email());
        assert!(Signals::of("DE89 3704").iban());
        assert!(!Signals::of("order A-1042, 10:30").iban());
        assert!(Signals::of("call 555-0123").digits());
        assert!(!Signals::of("order A-1042").digits());
        assert!(!Signals::of("$12.99, by 10:30 on 12/05").digits());
        assert!(Signals::of("+1 (415) 555").digits());
        assert!(!Signals::of("I'd say so").date_of_birth());
        assert!(Signals::of("Four one, double one").spoken());
        assert!(!Signals::of("one or two").spoken());
        assert!(Signals::of("triple seven").spoken());
        for cue in [
            "born",
            "Birthday",
            "birth date",
            "DOB",
            "d.o.b.",
            "do.b",
            "d.ob",
        ] {
            assert!(Signals::of(cue).date_of_birth(), "{cue}");
        }
        assert!(!Signals::of("a newborn, as they do").date_of_birth());
    }
}
