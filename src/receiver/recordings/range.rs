//! HTTP Range requests on a recording (RFC 9110, section 14): which bytes to answer with, so
//! that a browser's `<audio>` can seek. Parsing is `http-range-header`'s; this module decides
//! the answer. Pure: a header value and a length in, an [`Answer`] out.
//!
//! One range is answered 206 with it; several ranges (multipart/byteranges, which no player
//! asks for) are answered 200 with the whole file, as the RFC allows; a header of another unit
//! is ignored (200); a range that is malformed or starts past the end is 416.

/// What to answer a GET with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// 200 with the whole file.
    Full,
    /// 206 with the bytes `start..=end`.
    Partial {
        /// First byte.
        start: u64,
        /// Last byte (inclusive).
        end: u64,
    },
    /// 416: nothing of the file satisfies the range.
    Unsatisfiable,
}

impl Answer {
    /// The answer to a `Range` header (if any) for a file of `len` bytes.
    pub fn of(range: Option<&str>, len: u64) -> Answer {
        let Some(value) = range.map(str::trim) else {
            return Answer::Full;
        };
        if !value.starts_with("bytes=") {
            return Answer::Full;
        }
        if len == 0 {
            return Answer::Unsatisfiable;
        }
        let parsed = match http_range_header::parse_range_header(value) {
            Ok(parsed) => parsed,
            Err(_) => return Answer::Unsatisfiable,
        };
        match parsed.validate(len) {
            Ok(ranges) => match ranges.as_slice() {
                [one] => Answer::Partial {
                    start: *one.start(),
                    end: *one.end(),
                },
                _ => Answer::Full,
            },
            // A suffix longer than the file is the whole file (RFC 9110, 14.1.2).
            Err(http_range_header::RangeUnsatisfiableError::FileSuffixOutOfBounds)
                if parsed.ranges.len() == 1 =>
            {
                Answer::Partial {
                    start: 0,
                    end: len - 1,
                }
            }
            Err(_) => Answer::Unsatisfiable,
        }
    }

    /// The bytes the answer carries: first byte and how many.
    pub fn span(self, len: u64) -> (u64, u64) {
        match self {
            Answer::Full => (0, len),
            Answer::Partial { start, end } => (start, end - start + 1),
            Answer::Unsatisfiable => (0, 0),
        }
    }

    /// The `Content-Range` header of a 206 or 416 answer.
    pub fn content_range(self, len: u64) -> Option<String> {
        match self {
            Answer::Full => None,
            Answer::Partial { start, end } => Some(format!("bytes {start}-{end}/{len}")),
            Answer::Unsatisfiable => Some(format!("bytes */{len}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn partial(start: u64, end: u64) -> Answer {
        Answer::Partial { start, end }
    }

    #[test]
    fn one_range_is_partial() {
        assert_eq!(Answer::of(Some("bytes=0-99"), 1000), partial(0, 99));
        assert_eq!(Answer::of(Some("bytes=900-"), 1000), partial(900, 999));
        assert_eq!(Answer::of(Some("bytes=-100"), 1000), partial(900, 999));
        assert_eq!(Answer::of(Some("bytes=990-2000"), 1000), partial(990, 999));
        assert_eq!(Answer::of(Some("bytes=-5000"), 1000), partial(0, 999));
        assert_eq!(partial(10, 19).span(1000), (10, 10));
        assert_eq!(
            partial(10, 19).content_range(1000).as_deref(),
            Some("bytes 10-19/1000")
        );
    }

    #[test]
    fn no_range_several_ranges_or_another_unit_is_the_whole_file() {
        assert_eq!(Answer::of(None, 1000), Answer::Full);
        assert_eq!(Answer::of(Some("bytes=0-9, 20-29"), 1000), Answer::Full);
        assert_eq!(Answer::of(Some("items=0-9"), 1000), Answer::Full);
        assert_eq!(Answer::Full.span(1000), (0, 1000));
        assert_eq!(Answer::Full.content_range(1000), None);
    }

    #[test]
    fn bad_ranges_are_unsatisfiable() {
        for bad in [
            "bytes=1000-",
            "bytes=5000-6000",
            "bytes=9-3",
            "bytes=abc",
            "bytes=",
            "bytes=0-9,5-15",
        ] {
            assert_eq!(Answer::of(Some(bad), 1000), Answer::Unsatisfiable, "{bad}");
        }
        assert_eq!(Answer::of(Some("bytes=0-"), 0), Answer::Unsatisfiable);
        assert_eq!(
            Answer::Unsatisfiable.content_range(1000).as_deref(),
            Some("bytes */1000")
        );
    }
}
