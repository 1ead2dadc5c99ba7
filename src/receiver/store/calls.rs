//! What every backend's calls share: a call is (call id, trace id), each stored revision by
//! (call id, trace id, revision); lists page newest first with an opaque keyset cursor
//! ([`Cursor`]), which any backend decodes the same way.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::StoreError;

/// Page size when the query asks for 0 (the API's default).
pub(super) const DEFAULT_PAGE: usize = 20;
/// The largest page one query returns, so one request's work stays bounded.
pub(super) const MAX_PAGE: usize = 1000;

/// What inserting a call log did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Inserted {
    /// A new (call id, trace id, revision).
    New,
    /// The same revision with a different body: replaced.
    Replaced,
    /// The same revision with the same body: nothing to do.
    Unchanged,
}

/// Whether a call has console index rows to replace when a revision of it is indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum IndexRows {
    /// None: the call's first revision, stored for the first time (call logs are never
    /// deleted, and revisions are numbered from 1 in the order they are stored), so there is
    /// nothing to delete first: three statements fewer for most call logs.
    None,
    /// Those of an earlier revision, or of this one stored before: deleted first.
    Earlier,
}

impl IndexRows {
    /// The rows the call of `revision` has, given what inserting that revision did.
    pub(super) fn before(revision: u32, inserted: Inserted) -> IndexRows {
        if revision == 1 && inserted == Inserted::New {
            IndexRows::None
        } else {
            IndexRows::Earlier
        }
    }
}

/// Unix ms of an RFC 3339 time; 0 when it does not parse (such a call sorts last).
pub fn rfc3339_ms(text: &str) -> i64 {
    OffsetDateTime::parse(text, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .unwrap_or(0)
}

/// Where a page ended: the last row's start time, trace id and call id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cursor {
    pub started_at_ms: i64,
    pub trace_id: String,
    pub call_id: String,
}

/// The cursor after a row, hex-encoded so it reads as opaque. The call id goes last: it may
/// hold the separator.
pub(super) fn encode_cursor(c: &Cursor) -> String {
    format!("{}:{}:{}", c.started_at_ms, c.trace_id, c.call_id)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(super) fn decode_cursor(cursor: &str) -> Result<Cursor, StoreError> {
    let invalid = || StoreError::InvalidCursor(cursor.chars().take(64).collect());
    if cursor.len() % 2 != 0 || !cursor.is_ascii() {
        return Err(invalid());
    }
    let bytes = (0..cursor.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cursor[i..i + 2], 16))
        .collect::<Result<Vec<u8>, _>>()
        .map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    let mut parts = text.splitn(3, ':');
    let (Some(ms), Some(trace_id), Some(call_id)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(invalid());
    };
    Ok(Cursor {
        started_at_ms: ms.parse::<i64>().map_err(|_| invalid())?,
        trace_id: trace_id.to_string(),
        call_id: call_id.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_first_revision_stored_for_the_first_time_has_no_index_rows() {
        assert_eq!(IndexRows::before(1, Inserted::New), IndexRows::None);
        assert_eq!(IndexRows::before(1, Inserted::Replaced), IndexRows::Earlier);
        assert_eq!(IndexRows::before(2, Inserted::New), IndexRows::Earlier);
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let cursor = Cursor {
            started_at_ms: 1_700_000_000_123,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
            call_id: "call:with:colons".into(),
        };
        assert_eq!(decode_cursor(&encode_cursor(&cursor)).unwrap(), cursor);
        for bad in ["xyz", "abc", "6162", "é1", "313a32"] {
            assert!(
                matches!(decode_cursor(bad), Err(StoreError::InvalidCursor(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn rfc3339_times_become_unix_ms() {
        assert_eq!(rfc3339_ms("1970-01-01T00:00:01.250Z"), 1250);
        assert_eq!(rfc3339_ms("not a time"), 0);
    }
}
