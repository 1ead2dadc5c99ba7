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

/// A word of ASCII letters, lower-cased, as one integer: its last 8 letters, the first in the
/// highest byte used (a word of up to 8 letters is its key exactly; letters are never 0, so
/// the key also says the length).
const fn key(word: &[u8]) -> u64 {
    let mut key = 0;
    let mut i = 0;
    while i < word.len() {
        key = key << 8 | (word[i] | 0x20) as u64;
        i += 1;
    }
    key
}

/// What a word the scan knows tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cue {
    /// A digit said as a word, worth this many digits ("double": two).
    Said(u8),
    /// "at".
    At,
    /// "dot".
    Dot,
    /// "born", "dob".
    Birth,
    /// "d": a birth cue when ".o" follows ("d.o.b").
    D,
    /// "do": a birth cue when ".b" follows ("do.b").
    Do,
}

/// The words the scan knows, with what each tells.
const CUES: [(&[u8], Cue); 19] = [
    (b"oh", Cue::Said(1)),
    (b"zero", Cue::Said(1)),
    (b"one", Cue::Said(1)),
    (b"two", Cue::Said(1)),
    (b"three", Cue::Said(1)),
    (b"four", Cue::Said(1)),
    (b"five", Cue::Said(1)),
    (b"six", Cue::Said(1)),
    (b"seven", Cue::Said(1)),
    (b"eight", Cue::Said(1)),
    (b"nine", Cue::Said(1)),
    (b"double", Cue::Said(2)),
    (b"triple", Cue::Said(3)),
    (b"at", Cue::At),
    (b"dot", Cue::Dot),
    (b"born", Cue::Birth),
    (b"dob", Cue::Birth),
    (b"d", Cue::D),
    (b"do", Cue::Do),
];

/// `(key * CUE_HASH) >> (64 - CUE_BITS)` puts every word of [`CUES`] in a slot of its own (a
/// multiplier found by trying; `CUE_TABLE` does not compile if two words share a slot): one
/// look-up per word instead of a comparison per known word.
const CUE_HASH: u64 = 0x6f62_e63a_1a53_56b5;
const CUE_BITS: u32 = 5;

const fn cue_slot(key: u64) -> usize {
    (key.wrapping_mul(CUE_HASH) >> (64 - CUE_BITS)) as usize
}

/// [`CUES`] by slot: a key (0: empty) and its cue.
const CUE_TABLE: [(u64, Cue); 1 << CUE_BITS] = {
    let mut table = [(0, Cue::At); 1 << CUE_BITS];
    let mut i = 0;
    while i < CUES.len() {
        let key = key(CUES[i].0);
        let slot = cue_slot(key);
        assert!(
            table[slot].0 == 0,
            "two cue words share a slot: change CUE_HASH"
        );
        table[slot] = (key, CUES[i].1);
        i += 1;
    }
    table
};

/// "birth", the start of "birthday", "birthdate", "birth date".
const BIRTH: u64 = key(b"birth");

impl Signals {
    /// Scans `text` once. A word's key is built as its letters go by, and looked up once at
    /// its end; digits, `@` and `.` are noted as they come.
    pub(super) fn of(text: &str) -> Signals {
        let bytes = text.as_bytes();
        let mut signals = Signals::default();
        let (mut key, mut letters) = (0u64, 0usize);
        let (mut run, mut gap) = (0, BROKEN);
        for (at, &b) in bytes.iter().enumerate() {
            let class = CLASSES[usize::from(b)];
            if class == Class::Letter {
                key = key << 8 | u64::from(b | 0x20);
                letters += 1;
                signals.birth_cue |= (letters == 5) & (key == BIRTH);
                continue;
            }
            let word = letters;
            if word > 0 {
                signals.word(key, &bytes[at..]);
                (key, letters, gap) = (0, 0, BROKEN);
            }
            match class {
                Class::Digit => {
                    run = if gap <= MAX_SEPARATOR { run + 1 } else { 1 };
                    gap = 0;
                    signals.longest_run = signals.longest_run.max(run);
                    signals.iban_start |=
                        word == 2 && bytes.get(at + 1).is_some_and(u8::is_ascii_digit);
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
        if letters > 0 {
            signals.word(key, &[]);
        }
        signals
    }

    /// Notes what the word just ended may begin; `rest` is the text after it.
    fn word(&mut self, key: u64, rest: &[u8]) {
        let (known, cue) = CUE_TABLE[cue_slot(key)];
        if known != key {
            return;
        }
        let then = |dot_and: u8| rest.len() > 1 && rest[0] == b'.' && rest[1] | 0x20 == dot_and;
        match cue {
            Cue::Said(n) => self.said_digits += usize::from(n),
            Cue::At => self.at_word = true,
            Cue::Dot => self.dot_after_at |= self.at_word,
            Cue::Birth => self.birth_cue = true,
            Cue::D => self.birth_cue |= then(b'o'),
            Cue::Do => self.birth_cue |= then(b'b'),
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
    use super::super::digits::{MAX_SEPARATOR, SEPARATORS};
    use super::Signals;

    /// The signals found the plain way: the text split into words, each word compared.
    fn reference(text: &str) -> Signals {
        let bytes = text.as_bytes();
        let mut s = Signals {
            at_sign: text.contains('@'),
            ..Signals::default()
        };
        let mut words = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            if bytes[at].is_ascii_alphabetic() {
                let start = at;
                while at < bytes.len() && bytes[at].is_ascii_alphabetic() {
                    at += 1;
                }
                words.push((text[start..at].to_ascii_lowercase(), &bytes[at..]));
            } else {
                at += 1;
            }
        }
        for (i, (word, rest)) in words.iter().enumerate() {
            let after_at = words[..i].iter().any(|(w, _)| w == "at");
            let dot_then = |c: u8| rest.len() > 1 && rest[0] == b'.' && rest[1] | 0x20 == c;
            s.said_digits += match word.as_str() {
                "oh" | "zero" | "one" | "two" | "three" | "four" | "five" | "six" | "seven"
                | "eight" | "nine" => 1,
                "double" => 2,
                "triple" => 3,
                _ => 0,
            };
            s.at_word |= word == "at";
            s.dot_after_at |= after_at && word == "dot";
            s.iban_start |=
                word.len() == 2 && rest.len() > 1 && rest[..2].iter().all(u8::is_ascii_digit);
            s.birth_cue |= word == "born"
                || word == "dob"
                || word.starts_with("birth")
                || (word == "d" && dot_then(b'o'))
                || (word == "do" && dot_then(b'b'));
        }
        let first_at = words.iter().position(|(w, _)| w == "at");
        if let Some(first) = first_at {
            let from = bytes.len() - words[first].1.len();
            s.dot_after_at |= bytes[from..]
                .windows(2)
                .any(|w| w[0] == b'.' && w[1].is_ascii_alphabetic());
        }
        // Runs of digit groups joined by at most MAX_SEPARATOR separators.
        let (mut run, mut gap) = (0, usize::MAX);
        for &b in bytes {
            if b.is_ascii_digit() {
                run = if gap <= MAX_SEPARATOR { run + 1 } else { 1 };
                gap = 0;
                s.longest_run = s.longest_run.max(run);
            } else if SEPARATORS.contains(&b) {
                gap = gap.saturating_add(1);
            } else {
                gap = usize::MAX;
            }
        }
        s
    }

    /// Texts made of words that are cues and words that are not, glued by separators that
    /// matter (digits, `.`, `@`, dashes, nothing), from a fixed seed.
    fn corpus() -> Vec<String> {
        const WORDS: &[&str] = &[
            "at", "AT", "dot", "Dot", "oh", "one", "Two", "three", "seven", "nine", "double",
            "TRIPLE", "born", "birthday", "Birth", "dob", "d", "do", "I", "is", "DE", "gb", "that",
            "someone", "example", "com", "newborn", "doubles", "atlas", "1", "12", "555", "0199",
            "89", "4111", "",
        ];
        const GLUE: &[&str] = &[
            " ", " ", " ", ", ", ".", "-", "@", " (", ") ", ":", "_", "\n", ". ", "", "  - ",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        (0..5000)
            .map(|_| {
                let mut text = String::new();
                for _ in 0..1 + next(16) {
                    text.push_str(WORDS[next(WORDS.len())]);
                    text.push_str(GLUE[next(GLUE.len())]);
                }
                text
            })
            .collect()
    }

    #[test]
    fn the_one_scan_sees_what_the_plain_way_sees() {
        for text in corpus() {
            assert_eq!(Signals::of(&text), reference(&text), "{text:?}");
        }
    }

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
