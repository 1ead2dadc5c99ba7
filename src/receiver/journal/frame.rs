//! The journal's on-disk format, pure: no I/O. A segment file is [`MAGIC`] followed by frames,
//! one per journal entry (the records of one trace from one request):
//!
//! ```text
//! length   u32 LE   bytes of the payload
//! checksum u32 LE   CRC-32 (IEEE) of length, trace id and payload
//! trace id 16 bytes
//! payload  length bytes (the encoded records, see `journal::records`)
//! ```
//!
//! A segment's space is written with zeros before entries go in (see `journal::segments`), so
//! the frames end where zeros begin: a header of zeros is no frame (no frame's checksum is
//! zero), it is space not written yet.
//!
//! Reading stops there, or at the first frame that is cut short (the receiver was killed while
//! writing it: a torn tail, at the end of the file or followed by nothing but zeros) or whose
//! checksum or length is wrong (corrupt): what follows cannot be trusted to start at a frame
//! boundary, so nothing after it is read, and nothing unchecked is ever replayed.

/// The first bytes of every segment file: what it is and the version of its format.
pub const MAGIC: &[u8; 8] = b"vtjrnl\x00\x01";

/// Bytes of a frame before its payload.
pub const HEADER: usize = 4 + 4 + 16;

/// The largest payload a frame holds: far above any request ingest accepts, and low enough
/// that a corrupt length is caught before anything is allocated for it.
pub const MAX_PAYLOAD: usize = 256 * 1024 * 1024;

/// One frame read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<'a> {
    /// The trace (call) the records belong to.
    pub trace_id: [u8; 16],
    /// The encoded records.
    pub payload: &'a [u8],
    /// Where the frame ends in the buffer read (the offset of the next one).
    pub end: usize,
}

/// How reading a buffer of frames ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tail {
    /// At the end of the buffer, or of what was written of it (only zeros follow), after a
    /// whole frame (or with no frame at all).
    Clean,
    /// A frame starting at this offset is cut short: the buffer ends inside it, or it fails
    /// its checksum, ends in zeros and only zeros follow it (its last bytes never reached the
    /// file).
    Torn(usize),
    /// The frame at this offset has a wrong checksum or an impossible length.
    Corrupt(usize),
}

/// Why a payload cannot be framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a journal entry of {0} bytes is over the limit of {MAX_PAYLOAD}")]
pub struct TooLarge(pub usize);

fn checksum(length: &[u8; 4], trace_id: &[u8; 16], payload: &[u8]) -> u32 {
    let mut crc = crc32fast::Hasher::new();
    crc.update(length);
    crc.update(trace_id);
    crc.update(payload);
    crc.finalize()
}

/// Appends the frame of one entry to `out`.
pub fn encode_into(out: &mut Vec<u8>, trace_id: &[u8; 16], payload: &[u8]) -> Result<(), TooLarge> {
    if payload.len() > MAX_PAYLOAD {
        return Err(TooLarge(payload.len()));
    }
    let length = (payload.len() as u32).to_le_bytes();
    out.reserve(HEADER + payload.len());
    out.extend_from_slice(&length);
    out.extend_from_slice(&checksum(&length, trace_id, payload).to_le_bytes());
    out.extend_from_slice(trace_id);
    out.extend_from_slice(payload);
    Ok(())
}

/// Bytes the frame of a payload of `len` bytes takes.
pub fn framed_len(len: usize) -> usize {
    HEADER + len
}

/// Reads the frames of `buf` (a segment without its magic) in order, up to the end or the first
/// torn or corrupt frame.
pub fn decode(buf: &[u8]) -> (Vec<Frame<'_>>, Tail) {
    let mut frames = Vec::new();
    let mut at = 0;
    loop {
        let rest = &buf[at..];
        if rest.is_empty() || (rest.starts_with(&[0; 8]) && all_zero(rest)) {
            return (frames, Tail::Clean);
        }
        let Some((header, after)) = rest.split_first_chunk::<HEADER>() else {
            return (frames, Tail::Torn(at));
        };
        let (length, header) = split4(header);
        let (sum, trace) = split4(header);
        let len = u32::from_le_bytes(length) as usize;
        if len > MAX_PAYLOAD {
            return (frames, Tail::Corrupt(at));
        }
        let Some(payload) = after.get(..len) else {
            return (frames, Tail::Torn(at));
        };
        let Ok(trace_id) = <[u8; 16]>::try_from(trace) else {
            return (frames, Tail::Corrupt(at));
        };
        if checksum(&length, &trace_id, payload) != u32::from_le_bytes(sum) {
            // Killed mid-write into space written ahead: its last bytes are still zeros.
            let torn = rest[HEADER + len - 1] == 0 && all_zero(&after[len..]);
            return (
                frames,
                if torn {
                    Tail::Torn(at)
                } else {
                    Tail::Corrupt(at)
                },
            );
        }
        at += HEADER + len;
        frames.push(Frame {
            trace_id,
            payload,
            end: at,
        });
    }
}

fn all_zero(bytes: &[u8]) -> bool {
    bytes.iter().all(|&b| b == 0)
}

fn split4(bytes: &[u8]) -> ([u8; 4], &[u8]) {
    match bytes.split_first_chunk::<4>() {
        Some((first, rest)) => (*first, rest),
        // Only called on a whole header: unreachable, and harmless (a zero length).
        None => ([0; 4], &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn framed(entries: &[([u8; 16], &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (trace, payload) in entries {
            encode_into(&mut out, trace, payload).unwrap();
        }
        out
    }

    #[test]
    fn frames_survive_the_round_trip() {
        let buf = framed(&[([1; 16], b"first"), ([2; 16], b""), ([3; 16], b"third one")]);
        let (frames, tail) = decode(&buf);
        assert_eq!(tail, Tail::Clean);
        let read: Vec<([u8; 16], &[u8])> = frames.iter().map(|f| (f.trace_id, f.payload)).collect();
        assert_eq!(
            read,
            [
                ([1; 16], &b"first"[..]),
                ([2; 16], &b""[..]),
                ([3; 16], &b"third one"[..])
            ]
        );
        assert_eq!(frames[0].end, framed_len(5));
        assert_eq!(frames[2].end, buf.len());
        assert_eq!(decode(&[]), (Vec::new(), Tail::Clean));
    }

    #[test]
    fn a_torn_tail_is_left_out_wherever_it_is_cut() {
        let whole = framed(&[([1; 16], b"kept"), ([2; 16], b"cut short by a kill")]);
        let first_end = framed_len(4);
        for cut in first_end + 1..whole.len() {
            let (frames, tail) = decode(&whole[..cut]);
            assert_eq!(frames.len(), 1, "cut at {cut}");
            assert_eq!(frames[0].payload, b"kept");
            assert_eq!(tail, Tail::Torn(first_end), "cut at {cut}");
        }
    }

    #[test]
    fn a_corrupt_frame_stops_the_reading() {
        let mut buf = framed(&[
            ([1; 16], b"good"),
            ([2; 16], b"flipped"),
            ([3; 16], b"after"),
        ]);
        let second = framed_len(4);
        // A byte of the second payload changed: neither it nor what follows is read.
        buf[second + HEADER + 2] ^= 0x40;
        let (frames, tail) = decode(&buf);
        assert_eq!(frames.len(), 1);
        assert_eq!(tail, Tail::Corrupt(second));

        // A trace id changed is caught too (the checksum covers it).
        let mut buf = framed(&[([1; 16], b"good")]);
        buf[8] ^= 1;
        assert_eq!(decode(&buf), (Vec::new(), Tail::Corrupt(0)));
    }

    #[test]
    fn an_impossible_length_is_corrupt_not_an_allocation() {
        let mut buf = framed(&[([1; 16], b"x")]);
        buf[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode(&buf), (Vec::new(), Tail::Corrupt(0)));
    }

    #[test]
    fn zeros_after_the_frames_are_space_not_written_yet() {
        let mut buf = framed(&[([1; 16], b"x")]);
        buf.extend_from_slice(&[0; 64]);
        let (frames, tail) = decode(&buf);
        assert_eq!(frames.len(), 1);
        assert_eq!(tail, Tail::Clean);
        // No frame's header is zeros: not even an empty payload's under a zero trace id.
        let empty = framed(&[([0; 16], b"")]);
        assert_ne!(empty[..HEADER], [0; HEADER]);
        assert_eq!(decode(&empty).0.len(), 1);
    }

    #[test]
    fn a_frame_cut_short_before_zeros_is_torn_and_zeros_before_data_corrupt() {
        let whole = framed(&[([1; 16], b"kept"), ([2; 16], b"cut short by a kill")]);
        let second = framed_len(4);
        // Its last bytes never written: zeros, then the rest of the space.
        let mut cut = whole.clone();
        let len = cut.len();
        cut[len - 3..].fill(0);
        cut.extend_from_slice(&[0; 32]);
        let (frames, tail) = decode(&cut);
        assert_eq!(frames.len(), 1);
        assert_eq!(tail, Tail::Torn(second));
        // Data after the zeros: not a torn tail, something wrote there.
        cut.push(7);
        assert_eq!(decode(&cut).1, Tail::Corrupt(second));
        // A run of zeros where a frame should be, then data: corrupt.
        let mut gap = framed(&[([1; 16], b"x")]);
        gap.extend_from_slice(&[0; 64]);
        gap.push(1);
        assert_eq!(decode(&gap).1, Tail::Corrupt(framed_len(1)));
    }
}
