//! One pass over a text that says which detectors could find anything in it, so that the
//! ordinary sentence of a call ("It should arrive tomorrow morning") costs one scan of its
//! bytes instead of a scan per detector.
//!
//! Each signal is a necessary condition of its detector, never a sufficient one: a text the
//! signals let through is still judged by the detector itself; a text they stop could not
//! have held a find (the tests check the detectors' tables through both paths).
//!
//! The scan reads eight bytes at a time as one integer, and finds the letters, digits and `@`
//! among them with a few integer operations (no `unsafe`, no target-specific code); a word is
//! looked at only where one ends, and most are let go by their length and first letter. What
//! only some texts need (the runs of digits, an IBAN's start, a spoken email's domain) is a
//! second pass over the text, run when the first saw a reason for it.

use super::digits::{MAX_SEPARATOR, SEPARATORS};

/// What one scan of a text saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct Signals {
    /// A run of digit groups, joined as the digit detector joins them, of at least
    /// [`MIN_NUMBER_DIGITS`] digits.
    number: bool,
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

/// A word of ASCII letters, lower-cased, as one integer: its letters, the first in the
/// highest byte used (for words of up to 8 letters; letters are never 0, so the key also says
/// the length).
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

/// The longest word of [`CUES`]: a longer word is looked up only for its "birth" prefix.
const LONGEST_CUE: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < CUES.len() {
        if CUES[i].0.len() > longest {
            longest = CUES[i].0.len();
        }
        i += 1;
    }
    assert!(longest <= 8, "a cue's key holds at most 8 letters");
    longest
};

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
const BIRTH: &[u8] = b"birth";

/// By a word's length (7: longer), the first letters (bit `letter & 31`) of the words the scan
/// looks up: most words of a sentence ("the", "order", "tomorrow") are let go by this one test.
const LOOKED_UP: [u32; LONGEST_CUE + 2] = {
    let mut table = [0u32; LONGEST_CUE + 2];
    let mut i = 0;
    while i < CUES.len() {
        table[CUES[i].0.len()] |= 1 << (CUES[i].0[0] & 31);
        i += 1;
    }
    let mut len = BIRTH.len();
    while len < table.len() {
        table[len] |= 1 << (BIRTH[0] & 31);
        len += 1;
    }
    table
};

/// The scan reads a text eight bytes at a time, as one `u64` (the first byte lowest), and
/// tells each byte's class with a few integer operations on all eight at once; a mask of a
/// class has the high bit of each byte of that class set ([`HIGH`]), nothing else.
const LANE: usize = 8;
const ONES: u64 = u64::from_le_bytes([1; LANE]);
const HIGH: u64 = ONES * 0x80;
const LOW: u64 = ONES * 0x7f;

/// The bytes of `x` in `from..=to` (both ASCII). Adding `0x80 - from` to a byte's low seven
/// bits sets its high bit when it is at least `from`, and never carries into the next byte.
const fn in_range(x: u64, from: u8, to: u8) -> u64 {
    let low = x & LOW;
    let at_least_from = low + ONES * (0x80 - from as u64);
    let above_to = low + ONES * (0x7f - to as u64);
    at_least_from & !above_to & !x & HIGH
}

/// The ASCII letters of `x` (a letter with its `0x20` bit set is lower case).
const fn letters(x: u64) -> u64 {
    in_range(x | (ONES * 0x20), b'a', b'z')
}

/// The bytes of `x` equal to `c`: a byte is 0 after the XOR exactly when it was `c`.
const fn equal(x: u64, c: u8) -> u64 {
    let t = x ^ (ONES * c as u64);
    !(((t & LOW) + LOW) | t) & HIGH
}

/// Where a text's words start and end, and what it holds, as the scan goes.
struct Scan<'t> {
    bytes: &'t [u8],
    signals: Signals,
    /// Where the last word that began in the bytes read so far began.
    word_start: usize,
    /// The last byte read was a letter (`0x80`) or not (0).
    in_word: u64,
    /// Where the first word "at" ended.
    first_at_end: Option<usize>,
    /// Digits read so far.
    digits: usize,
    /// A digit right after a letter (where an IBAN's check digits follow its country).
    letter_digit: bool,
}

impl Signals {
    /// Scans `text` once, eight bytes at a time for its classes of bytes and where its words
    /// start and end; a word is let go by its length and first letter, or looked up once in
    /// [`CUE_TABLE`]. What needs a second look (the digit runs, an IBAN's start, a spoken
    /// email's domain) is a pass of its own, run only when the scan saw a reason for it.
    pub(super) fn of(text: &str) -> Signals {
        let bytes = text.as_bytes();
        let mut scan = Scan {
            bytes,
            signals: Signals::default(),
            word_start: 0,
            in_word: 0,
            first_at_end: None,
            digits: 0,
            letter_digit: false,
        };
        let chunks = bytes.chunks_exact(LANE);
        let tail = chunks.remainder();
        for (n, chunk) in chunks.enumerate() {
            let mut lanes = [0; LANE];
            lanes.copy_from_slice(chunk);
            scan.lanes(n * LANE, u64::from_le_bytes(lanes));
        }
        if !tail.is_empty() {
            let x = tail.iter().rev().fold(0, |x, &b| x << 8 | u64::from(b));
            scan.lanes(bytes.len() - tail.len(), x);
        }
        if scan.in_word != 0 {
            scan.cue(scan.word_start, bytes.len());
        }
        scan.finish()
    }
}

impl Scan<'_> {
    /// Reads the eight bytes `x` that start at `base` (past the text's end, zeros).
    #[inline(always)]
    fn lanes(&mut self, base: usize, x: u64) {
        let letters = letters(x);
        let digits = in_range(x, b'0', b'9');
        // One bit per digit byte, summed by the multiplication into the top byte.
        self.digits += ((digits >> 7).wrapping_mul(ONES) >> 56) as usize;
        self.signals.at_sign |= equal(x, b'@') != 0;
        // Each byte's high bit: whether the byte before it is a letter.
        let after_letter = letters << 8 | self.in_word;
        self.letter_digit |= digits & after_letter != 0;
        let starts = letters & !after_letter;
        let mut ends = !letters & after_letter;
        self.in_word = letters >> (8 * (LANE - 1));
        while ends != 0 {
            let bit = ends.trailing_zeros();
            // The word began at the last start before its end, or in an earlier chunk.
            let before = starts & ((1 << bit) - 1);
            if before != 0 {
                self.word_start = base + before.ilog2() as usize / 8;
            }
            self.word(base + bit as usize / 8);
            ends &= ends - 1;
        }
        if starts != 0 {
            self.word_start = base + starts.ilog2() as usize / 8;
        }
    }

    /// Sends the word that ended at `end` to [`Scan::cue`] if its length and first letter
    /// say it could be one of [`CUES`] or begin with "birth": most words of a sentence are
    /// let go by this test.
    #[inline(always)]
    fn word(&mut self, end: usize) {
        let len = (end - self.word_start).min(LOOKED_UP.len() - 1);
        let first = self.bytes.get(self.word_start).copied().unwrap_or(0);
        if LOOKED_UP[len] >> (first & 31) & 1 == 1 {
            self.cue(self.word_start, end);
        }
    }

    /// Notes what the word `start..end`, one [`Scan::word`] lets through, may begin.
    #[inline(never)]
    fn cue(&mut self, start: usize, end: usize) {
        let bytes = self.bytes;
        let (word, rest) = (&bytes[start..end], &bytes[end..]);
        let s = &mut self.signals;
        s.birth_cue |= word.len() >= BIRTH.len() && word[..BIRTH.len()].eq_ignore_ascii_case(BIRTH);
        if word.len() > LONGEST_CUE {
            return;
        }
        let key = key(word);
        let (known, cue) = CUE_TABLE[cue_slot(key)];
        if known != key {
            return;
        }
        let then = |dot_and: u8| rest.len() > 1 && rest[0] == b'.' && rest[1] | 0x20 == dot_and;
        match cue {
            Cue::Said(n) => s.said_digits += usize::from(n),
            Cue::At => {
                s.at_word = true;
                self.first_at_end.get_or_insert(end);
            }
            Cue::Dot => s.dot_after_at |= s.at_word,
            Cue::Birth => s.birth_cue = true,
            Cue::D => s.birth_cue |= then(b'o'),
            Cue::Do => s.birth_cue |= then(b'b'),
        }
    }

    /// The signals, with what needs a second look at the text, only when the scan saw a
    /// reason: the digit runs, an IBAN's start, a `.` before a letter after the first "at".
    fn finish(self) -> Signals {
        let (bytes, mut s) = (self.bytes, self.signals);
        if let Some(from) = self.first_at_end {
            s.dot_after_at |= bytes[from..]
                .windows(2)
                .any(|w| w[0] == b'.' && w[1].is_ascii_alphabetic());
        }
        s.iban_start = self.letter_digit && iban_start(bytes);
        s.number = self.digits >= MIN_NUMBER_DIGITS && longest_run(bytes) >= MIN_NUMBER_DIGITS;
        s
    }
}

/// Whether a word of two letters is right before two digits (an IBAN's country and check
/// digits).
fn iban_start(bytes: &[u8]) -> bool {
    let letter = |at: usize| bytes[at].is_ascii_alphabetic();
    let digit = |at: usize| bytes[at].is_ascii_digit();
    (0..bytes.len().saturating_sub(3)).any(|at| {
        letter(at)
            && letter(at + 1)
            && digit(at + 2)
            && digit(at + 3)
            && (at == 0 || !letter(at - 1))
    })
}

/// The most digits in one run of digit groups joined as the digit detector joins them (at
/// most [`MAX_SEPARATOR`] of its separators between two groups).
fn longest_run(bytes: &[u8]) -> usize {
    let (mut run, mut gap, mut longest) = (0, usize::MAX, 0);
    for b in bytes {
        if b.is_ascii_digit() {
            run = if gap <= MAX_SEPARATOR { run + 1 } else { 1 };
            gap = 0;
            longest = longest.max(run);
        } else if SEPARATORS.contains(b) {
            gap = gap.saturating_add(1);
        } else {
            gap = usize::MAX;
        }
    }
    longest
}

impl Signals {
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
        self.number
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
                s.number |= run >= 7;
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
            "at",
            "AT",
            "dot",
            "Dot",
            "oh",
            "one",
            "Two",
            "three",
            "seven",
            "nine",
            "double",
            "TRIPLE",
            "born",
            "birthday",
            "Birth",
            "dob",
            "d",
            "do",
            "I",
            "is",
            "DE",
            "gb",
            "that",
            "someone",
            "example",
            "com",
            "newborn",
            "doubles",
            "atlas",
            "1",
            "12",
            "555",
            "0199",
            "89",
            "4111",
            "",
            "birthdays",
            "Straße",
            "zürich",
        ];
        const GLUE: &[&str] = &[
            " ", " ", " ", ", ", ".", "-", "@", " (", ") ", ":", "_", "\n", ". ", "", "  - ",
            " é ", "[", "`", "{",
        ];
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        (0..20000)
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
    fn every_byte_is_classed_as_the_standard_library_classes_it_in_every_lane() {
        use super::{equal, in_range, letters, HIGH};
        for b in 0..=255u8 {
            for lane in 0..8 {
                // The byte among others that are not of its class, and among copies of itself.
                let alone = u64::from(b) << (8 * lane)
                    | u64::from_le_bytes([b'#'; 8]) & !(0xff << (8 * lane));
                let bit = 0x80u64 << (8 * lane);
                let copies = u64::from_le_bytes([b; 8]);
                for (x, mask) in [(alone, bit), (copies, HIGH)] {
                    let expect = |is: bool| if is { mask } else { 0 };
                    assert_eq!(letters(x), expect(b.is_ascii_alphabetic()), "{b:#x}");
                    assert_eq!(
                        in_range(x, b'0', b'9'),
                        expect(b.is_ascii_digit()),
                        "{b:#x}"
                    );
                    assert_eq!(equal(x, b'@'), expect(b == b'@'), "{b:#x}");
                }
            }
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
