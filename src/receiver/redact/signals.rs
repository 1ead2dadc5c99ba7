//! One pass over a text that says which detectors could find anything in it, so that the
//! ordinary sentence of a call ("It should arrive tomorrow morning") costs one scan of its
//! bytes instead of a scan per detector.
//!
//! Each signal is a necessary condition of its detector, never a sufficient one: a text the
//! signals let through is still judged by the detector itself; a text they stop could not
//! have held a find (the tests check the detectors' tables through both paths).
//!
//! The scan classes sixteen bytes at a time (letters, digits, `@`) with SIMD compares, through
//! `wide` (SSE2 or NEON where the target has them, a portable loop elsewhere; no `unsafe` of
//! ours), into a bit per byte of a 64-byte block; a word is looked at only where one ends, and
//! most are let go by their length and first letter. What
//! only some texts need (the runs of digits, an IBAN's start, a spoken email's domain) is a
//! second pass over the text, run when the first saw a reason for it.

use wide::{i8x16, CmpEq, CmpLt};

use super::digits::{is_separator, MAX_SEPARATOR};

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

/// A word of ASCII letters, lower-cased, as one integer: its letters, the first in the lowest
/// byte (for words of up to 8 letters; letters are never 0, so the key also says the length).
const fn key(word: &[u8]) -> u64 {
    let mut key = 0;
    let mut i = 0;
    while i < word.len() {
        key |= ((word[i] | 0x20) as u64) << (8 * i);
        i += 1;
    }
    key
}

/// The [`key`] of the first `n` (1 to 8) letters of the word at `start`: the eight bytes there
/// read as one integer where the text has them.
fn key_at(bytes: &[u8], start: usize, n: usize) -> u64 {
    const LOWER: u64 = u64::from_le_bytes([0x20; 8]);
    match bytes[start..].first_chunk::<8>() {
        Some(eight) => (u64::from_le_bytes(*eight) | LOWER) & (u64::MAX >> (64 - 8 * n)),
        None => key(&bytes[start..start + n]),
    }
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
const CUE_HASH: u64 = 0x9416_c610_a546_4f6d;
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
/// [`BIRTH`] as a [`key`], and the bytes of a key it fills.
const BIRTH_KEY: u64 = key(BIRTH);
const BIRTH_MASK: u64 = u64::MAX >> (64 - 8 * BIRTH.len());

/// By a word's length (up to a block's; the longest cue's and beyond, "birth…" only), the
/// first letters (bit `letter & 31`) of the words the scan looks up: most words of a sentence
/// ("the", "order", "tomorrow") are let go by this one test.
const LOOKED_UP: [u32; BLOCK] = {
    let mut table = [0u32; BLOCK];
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

/// By a word's length (the longest cue's + 1: longer) and first letter (`letter & 31`), the
/// last letters of the words [`LOOKED_UP`] lets through that are one of [`CUES`] or may
/// begin with "birth": "the", "thank" and "fine" go no further.
const LAST_LETTERS: [[u32; 32]; LONGEST_CUE + 2] = {
    let mut table = [[0u32; 32]; LONGEST_CUE + 2];
    let mut i = 0;
    while i < CUES.len() {
        let word = CUES[i].0;
        table[word.len()][(word[0] & 31) as usize] |= 1 << (word[word.len() - 1] & 31);
        i += 1;
    }
    let mut len = BIRTH.len();
    while len < table.len() {
        table[len][(BIRTH[0] & 31) as usize] = u32::MAX;
        len += 1;
    }
    table
};

/// The scan reads a text in blocks of 64 bytes and tells each byte's class sixteen bytes at a
/// time (SSE2 or NEON compares through `wide`, a portable loop elsewhere); a class of a block
/// is a `u64` with a bit per byte, the first byte lowest, so that where words start and end
/// is a few integer operations per block.
const BLOCK: usize = 64;
const LANES: usize = 16;

/// Ranges of letters that hold the first letter of every word of [`CUES`] and of "birth"
/// (checked when this compiles): a word that starts with another letter is not looked at.
/// Ranges, not the letters one by one, as each costs one or two SIMD operations.
const FIRST_LETTERS: [(u8, u8); 4] = [(b'a', b'f'), (b'n', b'o'), (b's', b't'), (b'z', b'z')];

/// Whether a lower-case letter is in [`FIRST_LETTERS`].
const fn is_cue_first(letter: u8) -> bool {
    let mut i = 0;
    while i < FIRST_LETTERS.len() {
        if FIRST_LETTERS[i].0 <= letter && letter <= FIRST_LETTERS[i].1 {
            return true;
        }
        i += 1;
    }
    false
}

const _: () = {
    let mut i = 0;
    while i < CUES.len() {
        assert!(
            is_cue_first(CUES[i].0[0]),
            "a cue starts with a letter FIRST_LETTERS lacks"
        );
        i += 1;
    }
    assert!(is_cue_first(BIRTH[0]));
};

/// Which bytes of a block are ASCII letters, digits and `@`, and which letters are in
/// [`FIRST_LETTERS`] (either case): a bit per byte.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Classes {
    letters: u64,
    digits: u64,
    at_signs: u64,
    cue_firsts: u64,
}

/// The classes of sixteen bytes, a bit each (in [`Classes`]' order).
type Lane = [u16; 4];

impl Classes {
    /// Adds the classes of sixteen bytes, from the `at`-th byte of the block on.
    fn add(&mut self, [letters, digits, at_signs, cue_firsts]: Lane, at: usize) {
        self.letters |= u64::from(letters) << at;
        self.digits |= u64::from(digits) << at;
        self.at_signs |= u64::from(at_signs) << at;
        self.cue_firsts |= u64::from(cue_firsts) << at;
    }
}

/// The classes of sixteen bytes. A letter with its `0x20` bit set is lower case; adding
/// `0x80 - b'a'` moves `a..=z` to the lowest 26 signed bytes (and no other byte there), and
/// `0x80 - b'0'` moves the digits to the lowest 10, so that one signed comparison tells each
/// class, and one more each range of [`FIRST_LETTERS`]
/// (`every_byte_is_classed_as_the_standard_library_classes_it`).
#[inline(always)]
fn lane(bytes: &[u8; LANES]) -> Lane {
    let x = i8x16::new(bytes.map(|b| b as i8));
    let lowest = |n: u8| i8x16::splat(i8::MIN + n as i8);
    let alphabet = (x | i8x16::splat(0x20)) + i8x16::splat((0x80 - b'a') as i8);
    let letters = alphabet.cmp_lt(lowest(26));
    let digits = digits_of(x);
    let at_signs = x.cmp_eq(i8x16::splat(b'@' as i8));
    let cue_firsts = FIRST_LETTERS
        .map(|(from, to)| {
            (alphabet - i8x16::splat((from - b'a') as i8)).cmp_lt(lowest(to - from + 1))
        })
        .into_iter()
        .fold(i8x16::splat(0), |any, range| any | range);
    [letters, digits, at_signs, cue_firsts].map(|m| m.move_mask() as u16)
}

/// Which of sixteen bytes are ASCII digits (all bits of a byte set): adding `0x80 - b'0'`
/// moves the digits to the lowest 10 signed bytes, and no other byte there.
#[inline(always)]
fn digits_of(x: i8x16) -> i8x16 {
    (x + i8x16::splat((0x80 - b'0') as i8)).cmp_lt(i8x16::splat(i8::MIN + 10))
}

/// Where the first ASCII digit at or after `from` is, sixteen bytes at a time (the detector's
/// search for a number, and the scan's for a run of them, skip a sentence's letters this way
/// rather than one byte per turn of a loop).
pub(super) fn next_digit(bytes: &[u8], from: usize) -> Option<usize> {
    let (lanes, rest) = chunks::<LANES>(bytes.get(from..)?);
    let mut at = from;
    for lane in lanes {
        let digits = digits_of(i8x16::new(lane.map(|b| b as i8))).move_mask();
        if digits != 0 {
            return Some(at + digits.trailing_zeros() as usize);
        }
        at += LANES;
    }
    rest.iter().position(u8::is_ascii_digit).map(|i| at + i)
}

/// The whole `N`-byte chunks of `bytes`, as arrays, and what is left after them.
fn chunks<const N: usize>(bytes: &[u8]) -> (impl Iterator<Item = &[u8; N]>, &[u8]) {
    let chunks = bytes.chunks_exact(N);
    let rest = chunks.remainder();
    // Every chunk of `chunks_exact` has N bytes: the conversion never fails.
    (chunks.filter_map(|chunk| chunk.try_into().ok()), rest)
}

/// The classes of the bytes of a block.
fn classes(block: &[u8; BLOCK]) -> Classes {
    let mut c = Classes::default();
    for at in (0..BLOCK).step_by(LANES) {
        // A block's lanes: the conversion of a slice of LANES bytes never fails.
        if let Ok(bytes) = block[at..at + LANES].try_into() {
            c.add(lane(bytes), at);
        }
    }
    c
}

/// The classes of the last, short block of a text (`tail`, fewer than 64 bytes from `start`):
/// its whole lanes read in place, and the part of a lane that ends the text read with the
/// bytes before it (the sixteen that end the text), its bits shifted down past them. Bits past
/// the text's end are 0: a word that ends the text ends there.
fn tail_classes(bytes: &[u8], start: usize) -> Classes {
    let tail = &bytes[start..];
    let (lanes, rest) = chunks::<LANES>(tail);
    let mut c = Classes::default();
    let mut at = 0;
    for lane_bytes in lanes {
        c.add(lane(lane_bytes), at);
        at += LANES;
    }
    if rest.is_empty() {
        return c;
    }
    let drop = LANES - rest.len();
    // The bytes are chosen first and classed in one place: classing in each arm made the
    // compiler pack the four classes into one register and unpack them again.
    let last = match bytes.last_chunk::<LANES>() {
        Some(last) => *last,
        None => {
            // A text shorter than a lane: padded with zeros before it.
            let mut padded = [0; LANES];
            padded[drop..].copy_from_slice(rest);
            padded
        }
    };
    c.add(lane(&last).map(|class| class >> drop), at);
    c
}

/// Where a text's words start and end, and what it holds, as the scan goes.
struct Scan<'t> {
    bytes: &'t [u8],
    signals: Signals,
    /// Where the word that goes on from the last block read began.
    word_start: usize,
    /// The last byte read was a letter (1) or not (0).
    in_word: u64,
    /// Where the first word "at" ended.
    first_at_end: Option<usize>,
    /// Digits read so far.
    digits: usize,
    /// Where the first digit is, and where the last one read is.
    first_digit: usize,
    last_digit: usize,
    /// A digit right after a letter (where an IBAN's check digits follow its country).
    letter_digit: bool,
}

impl Signals {
    /// Scans `text` once, a block at a time for its classes of bytes and where its words start
    /// and end; a word is let go by its length and first letter, or looked up once in
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
            first_digit: 0,
            last_digit: 0,
            letter_digit: false,
        };
        let (blocks, tail) = chunks::<BLOCK>(bytes);
        for (n, block) in blocks.enumerate() {
            scan.block(n * BLOCK, block, classes(block));
        }
        if !tail.is_empty() {
            let start = bytes.len() - tail.len();
            scan.block(start, tail, tail_classes(bytes, start));
        }
        if scan.in_word != 0 {
            scan.cue(scan.word_start, bytes.len());
        }
        scan.finish()
    }
}

impl Scan<'_> {
    /// Reads the block that starts at `base` (its bytes `block`), with its classes `c`. Only
    /// the words that start with a letter of [`FIRST_LETTERS`] are looked at: each is a
    /// start, and the first end after it.
    #[inline(always)]
    fn block(&mut self, base: usize, block: &[u8], c: Classes) {
        if c.digits != 0 {
            if self.digits == 0 {
                self.first_digit = base + c.digits.trailing_zeros() as usize;
            }
            self.digits += c.digits.count_ones() as usize;
            self.last_digit = base + c.digits.ilog2() as usize;
        }
        self.signals.at_sign |= c.at_signs != 0;
        // Bit k: whether the byte before byte k is a letter.
        let after_letter = c.letters << 1 | self.in_word;
        self.letter_digit |= c.digits & after_letter != 0;
        let starts = c.letters & !after_letter;
        let ends = !c.letters & after_letter;
        if self.in_word != 0 && ends != 0 {
            // The word that came in from the block before.
            let end = base + ends.trailing_zeros() as usize;
            let first = self.bytes.get(self.word_start).copied().unwrap_or(0);
            let len = (end - self.word_start).min(BLOCK - 1);
            self.word(self.word_start, end, len, first);
        }
        let mut looked_at = starts & c.cue_firsts;
        while looked_at != 0 {
            let start = looked_at.trailing_zeros();
            looked_at &= looked_at - 1;
            let after = ends >> start;
            if after != 0 {
                let len = after.trailing_zeros() as usize;
                // Read from the block, whose bytes the caller holds: no look at `self`.
                let first = block.get(start as usize).copied().unwrap_or(0);
                let start = base + start as usize;
                self.word(start, start + len, len % BLOCK, first);
            }
        }
        self.in_word = c.letters >> (BLOCK - 1);
        if self.in_word != 0 && starts != 0 {
            // The word goes on into the next block.
            self.word_start = base + starts.ilog2() as usize;
        }
    }

    /// Sends the word `start..end` (`len` its length, or [`BLOCK`] − 1 if longer; `first` its
    /// first letter) to [`Scan::cue`] if its length and first letter say it could be one of
    /// [`CUES`] or begin with "birth" ([`LOOKED_UP`]), and then its last letter
    /// ([`LAST_LETTERS`]): most words of a sentence are let go by the first test.
    #[inline(always)]
    fn word(&mut self, start: usize, end: usize, len: usize, first: u8) {
        let first = first & 31;
        if LOOKED_UP[len] >> first & 1 == 1 {
            let last = self.bytes.get(end - 1).copied().unwrap_or(0) & 31;
            let ends = LAST_LETTERS[len.min(LONGEST_CUE + 1)][usize::from(first)];
            if ends >> last & 1 == 1 {
                self.cue(start, end);
            }
        }
    }

    /// Notes what the word `start..end`, one [`Scan::word`] lets through, may begin.
    #[inline(never)]
    fn cue(&mut self, start: usize, end: usize) {
        let bytes = self.bytes;
        let len = end - start;
        let key = key_at(bytes, start, len.min(8));
        let s = &mut self.signals;
        s.birth_cue |= len >= BIRTH.len() && key & BIRTH_MASK == BIRTH_KEY;
        if len > LONGEST_CUE {
            return;
        }
        let (known, cue) = CUE_TABLE[cue_slot(key)];
        if known != key {
            return;
        }
        let rest = &bytes[end..];
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
        s.number = self.digits >= MIN_NUMBER_DIGITS
            && bytes
                .get(self.first_digit..=self.last_digit)
                .is_some_and(|digits| has_run(digits, MIN_NUMBER_DIGITS));
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

/// Whether one run of digit groups, joined as the digit detector joins them (at most
/// [`MAX_SEPARATOR`] of its separators between two groups), holds `digits` digits. A byte that
/// is neither ends the run, and the next can only start at the next digit ([`next_digit`]).
fn has_run(bytes: &[u8], digits: usize) -> bool {
    let (mut run, mut gap) = (0, usize::MAX);
    let mut at = 0;
    while let Some(&b) = bytes.get(at) {
        if b.is_ascii_digit() {
            run = if gap <= MAX_SEPARATOR { run + 1 } else { 1 };
            if run >= digits {
                return true;
            }
            gap = 0;
        } else if is_separator(b) {
            gap = gap.saturating_add(1);
        } else {
            let Some(next) = next_digit(bytes, at + 1) else {
                return false;
            };
            gap = usize::MAX;
            at = next;
            continue;
        }
        at += 1;
    }
    false
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
    fn next_digit_finds_the_first_digit_at_or_after_where_it_starts() {
        // Digits on both sides of a lane's end, and in the short rest after the last lane.
        let text = format!(
            "{}7{}12{}9x",
            "a".repeat(15),
            "b".repeat(15),
            "c ".repeat(9)
        );
        let bytes = text.as_bytes();
        for from in 0..=bytes.len() + 1 {
            let expected = (from..bytes.len()).find(|&i| bytes[i].is_ascii_digit());
            assert_eq!(super::next_digit(bytes, from), expected, "from {from}");
        }
    }

    #[test]
    fn every_byte_is_classed_as_the_standard_library_classes_it() {
        use super::{classes, is_cue_first, BLOCK};
        let bit = |is: bool, at: usize| u64::from(is) << at;
        let cue_first = |b: u8| b.is_ascii_alphabetic() && is_cue_first(b.to_ascii_lowercase());
        for b in 0..=255u8 {
            for at in 0..BLOCK {
                // The byte among others of no class, and among copies of itself.
                let mut alone = [b'#'; BLOCK];
                alone[at] = b;
                let c = classes(&alone);
                assert_eq!(
                    c.letters,
                    bit(b.is_ascii_alphabetic(), at),
                    "{b:#x} at {at}"
                );
                assert_eq!(c.digits, bit(b.is_ascii_digit(), at), "{b:#x} at {at}");
                assert_eq!(c.at_signs, bit(b == b'@', at), "{b:#x} at {at}");
                assert_eq!(c.cue_firsts, bit(cue_first(b), at), "{b:#x} at {at}");
            }
            let all = |is: bool| if is { u64::MAX } else { 0 };
            let c = classes(&[b; BLOCK]);
            assert_eq!(c.letters, all(b.is_ascii_alphabetic()), "{b:#x}");
            assert_eq!(c.digits, all(b.is_ascii_digit()), "{b:#x}");
            assert_eq!(c.at_signs, all(b == b'@'), "{b:#x}");
            assert_eq!(c.cue_firsts, all(cue_first(b)), "{b:#x}");
        }
    }

    #[test]
    fn a_short_last_block_is_classed_as_if_padded_with_zeros() {
        use super::{classes, tail_classes, BLOCK};
        let text: Vec<u8> = (0..200u8)
            .map(|i| b"ab1@ Z9.-"[usize::from(i) % 9])
            .collect();
        for len in 1..text.len() {
            let bytes = &text[..len];
            let start = len - len % BLOCK;
            if start == len {
                continue;
            }
            let mut padded = [0; BLOCK];
            padded[..len - start].copy_from_slice(&bytes[start..]);
            assert_eq!(tail_classes(bytes, start), classes(&padded), "{len}");
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
