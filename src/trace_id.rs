//! The call's trace id (CONVENTIONS.md section 2): derived from the call id, so anyone who knows
//! the call id can find the trace without propagation.
//!
//! - a call id that is a UUID maps to the same 128 bits;
//! - any other call id maps to the first 16 bytes of SHA-256(call id);
//! - an incoming W3C `traceparent` overrides both (see [`parse_traceparent`]).
//!
//! Pure functions, shared by the agent side and the receiver (`voicetrace trace-id`).

use sha2::{Digest, Sha256};

/// A 128-bit trace id, big-endian as on the wire.
pub type TraceIdBytes = [u8; 16];

/// Derives the trace id of a call from its call id.
///
/// A UUID (any form the `uuid` crate parses: hyphenated, simple, braced, URN) keeps its bits;
/// the nil UUID, which is not a valid trace id, falls back to the hash like any other string.
pub fn trace_id_for_call(call_id: &str) -> TraceIdBytes {
    if let Ok(uuid) = uuid::Uuid::parse_str(call_id.trim()) {
        if !uuid.is_nil() {
            return *uuid.as_bytes();
        }
    }
    let digest = Sha256::digest(call_id.as_bytes());
    let mut id = [0u8; 16];
    id.copy_from_slice(&digest[..16]);
    id
}

/// The trace id as 32 lowercase hex digits, as Jaeger, Tempo and OTLP/JSON write it.
pub fn trace_id_hex(call_id: &str) -> String {
    to_hex(&trace_id_for_call(call_id))
}

/// Lowercase hex of any byte string.
pub fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 0xf) as usize] as char);
    }
    s
}

/// Parses `n` bytes of hex; `None` when the length or a digit is wrong.
pub fn from_hex<const N: usize>(hex: &str) -> Option<[u8; N]> {
    let hex = hex.as_bytes();
    if hex.len() != N * 2 {
        return None;
    }
    let mut out = [0u8; N];
    for (i, pair) in hex.chunks_exact(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// A parsed W3C `traceparent` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TraceParent {
    /// The trace id (never all zero).
    pub trace_id: TraceIdBytes,
    /// The parent span id (never all zero).
    pub span_id: [u8; 8],
    /// The trace flags (bit 0: sampled).
    pub flags: u8,
}

/// Why a `traceparent` header was not accepted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TraceParentError {
    /// Not `version-traceid-spanid-flags`.
    #[error("traceparent must be VERSION-TRACEID-SPANID-FLAGS, got {0:?}")]
    Format(String),
    /// Version `ff` is forbidden by the W3C spec.
    #[error("traceparent version ff is invalid")]
    Version,
    /// An all-zero trace id or span id.
    #[error("traceparent has an all-zero trace id or span id")]
    ZeroId,
}

/// Parses a W3C Trace Context `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
pub fn parse_traceparent(header: &str) -> Result<TraceParent, TraceParentError> {
    let header = header.trim();
    let bad = || TraceParentError::Format(header.chars().take(80).collect());
    let mut parts = header.split('-');
    let (Some(version), Some(trace), Some(span), Some(flags)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad());
    };
    let version = from_hex::<1>(version).ok_or_else(bad)?[0];
    if version == 0xff {
        return Err(TraceParentError::Version);
    }
    // Version 00 has exactly four fields; later versions may append more.
    if version == 0 && parts.next().is_some() {
        return Err(bad());
    }
    let trace_id = from_hex::<16>(trace).ok_or_else(bad)?;
    let span_id = from_hex::<8>(span).ok_or_else(bad)?;
    let flags = from_hex::<1>(flags).ok_or_else(bad)?[0];
    if trace_id == [0; 16] || span_id == [0; 8] {
        return Err(TraceParentError::ZeroId);
    }
    Ok(TraceParent {
        trace_id,
        span_id,
        flags,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_call_id_keeps_its_bits() {
        assert_eq!(
            trace_id_hex("4bf92f35-77b3-4da6-a3ce-929d0e0e4736"),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            trace_id_hex("4BF92F3577B34DA6A3CE929D0E0E4736"),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
    }

    #[test]
    fn other_call_ids_hash_with_sha256() {
        // `printf call_123 | sha256sum` = 2ce6deda1dec6b4c566f38ac5241867b7e29...
        assert_eq!(trace_id_hex("call_123"), "2ce6deda1dec6b4c566f38ac5241867b");
        // The nil UUID is not a valid trace id: it hashes too.
        assert_ne!(
            trace_id_hex("00000000-0000-0000-0000-000000000000"),
            "0".repeat(32)
        );
    }

    #[test]
    fn traceparent_parses_and_rejects() {
        let tp =
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        assert_eq!(to_hex(&tp.trace_id), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(to_hex(&tp.span_id), "00f067aa0ba902b7");
        assert_eq!(tp.flags, 1);
        assert!(
            parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_err()
        );
        assert!(
            parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").is_err()
        );
        assert!(
            parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01").is_err()
        );
        assert!(parse_traceparent("garbage").is_err());
    }
}
