//! Erasing what the store deleted, for redaction before the store (`[redaction] mode =
//! "store"`): the span journal is then the only table that holds raw text, and only until its
//! call is released. SQLite leaves a deleted row's bytes in the freed space of its page, and
//! every version of a page in the WAL until the WAL is reset, so deleting the journal's rows
//! is not enough: with `secure_delete` SQLite overwrites deleted content with zeros, and a
//! scrub (`wal_checkpoint(TRUNCATE)`) copies the zeroed pages into the database and truncates
//! the WAL, so neither file keeps the text of a released call.

use std::time::Duration;

use super::{Store, StoreError};

/// Whether the store erases the journal's deleted rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scrub {
    /// Deleted rows are left to SQLite (raw text is kept in the store anyway).
    Off,
    /// Deleted content is zeroed and, after the journal lets calls go, the WAL is truncated.
    AfterRelease,
}

impl Store {
    /// Makes SQLite overwrite deleted content with zeros from now on (`secure_delete`). It
    /// costs nothing in writes: a page that loses a row is written anyway.
    pub fn erase_deleted(&self) -> Result<(), StoreError> {
        self.lock()?.pragma_update(None, "secure_delete", "ON")?;
        Ok(())
    }

    /// Checkpoints the WAL into the database and truncates it, without waiting: `false` when
    /// another process (a `voicetrace` CLI reading) held it back; the next scrub tries again.
    pub fn scrub(&self) -> Result<bool, StoreError> {
        let conn = self.lock()?;
        // A reader elsewhere must not stall the receiver: fail at once, try at the next scrub.
        conn.busy_timeout(Duration::ZERO)?;
        let done = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
            row.get::<_, i64>(0)
        });
        conn.busy_timeout(super::BUSY_TIMEOUT)?;
        match done {
            Ok(busy) => Ok(busy == 0),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::DatabaseBusy =>
            {
                Ok(false)
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::store::JournalRow;

    fn contains(haystack: &[u8], needle: &[u8]) -> bool {
        haystack.windows(needle.len()).any(|w| w == needle)
    }

    /// The database file and its WAL, as bytes.
    fn files(store: &Store) -> Vec<u8> {
        let mut bytes = std::fs::read(store.path()).unwrap();
        let wal = store.path().with_extension("db-wal");
        bytes.extend(std::fs::read(wal).unwrap_or_default());
        bytes
    }

    #[test]
    fn a_scrub_leaves_no_byte_of_a_forgotten_row_in_either_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.erase_deleted().unwrap();
        let journal = store.journal();
        let secret = b"card 4111 1111 1111 1111 of jane@example.com".repeat(200);
        let rows = vec![JournalRow {
            trace_id: [7; 16],
            payload: secret.clone(),
        }];
        let positions = journal.append(&[rows], 1).unwrap();
        // Checkpointed once with the row in it: the database file holds it too.
        assert!(store.scrub().unwrap());
        assert!(contains(&files(&store), &secret[..44]));
        journal.forget_upto(&[([7; 16], positions[0])]).unwrap();
        assert!(journal.take_forgotten());
        assert!(!journal.take_forgotten());
        assert!(store.scrub().unwrap());
        assert!(!contains(&files(&store), b"jane@example.com"));
    }
}
