//! What a store shared by a fleet of receivers keeps of recordings besides their rows:
//! [`SharedRecordings`], their audio's bytes (so that any receiver serves any recording, a
//! receiver's local disk being its own) and the key their links are signed with (so that a
//! link one receiver handed out works on every other).
//!
//! Not part of [`super::Backend`]: only a shared store (PostgreSQL) offers it. The embedded
//! SQLite store serves one receiver, whose recordings stay files in its data directory; it
//! would implement these only to refuse them. [`super::Store::shared_recordings`] says whether
//! the store offers it, and `recordings::audio` picks where audio lives from that answer, once.
//!
//! Every method blocks, like the backend's.

use super::{RecordingRow, StoreError};

/// A shared store's recordings' audio and link key (see the module's doc).
pub trait SharedRecordings: Send + Sync + 'static {
    /// Stores an upload's row and its audio, read from `audio` to its end, in ONE transaction:
    /// a row listed with audio always has all of it, and no audio is stored without its row.
    /// `audio` is read a chunk at a time (never held whole). Fails, storing nothing, when
    /// `audio` does not hold `row.bytes` bytes. Returns the bytes stored.
    fn insert_recording_with_audio(
        &self,
        row: &RecordingRow,
        chat_history: Option<&str>,
        audio: std::fs::File,
    ) -> Result<u64, StoreError>;

    /// Up to `max` bytes of recording `id`'s audio from byte `start`, never past the end of
    /// the chunk holding `start` (the caller asks again for the rest): only the chunks a range
    /// needs are read. Empty when nothing is stored there.
    fn read_audio(&self, id: &str, start: u64, max: u64) -> Result<Vec<u8>, StoreError>;

    /// Deletes recording `id`'s audio (gone already is fine: every receiver of a fleet may
    /// remove the same recording). Returns the chunks deleted.
    fn delete_audio(&self, id: &str) -> Result<u64, StoreError>;

    /// Deletes the audio of every recording whose audio is no longer kept (a removal
    /// interrupted between marking its row and deleting its chunks). Safe while other receivers
    /// take uploads: a row and its audio are stored together. Returns the chunks deleted.
    fn delete_unlisted_audio(&self) -> Result<u64, StoreError>;

    /// The fleet's key named `name`: the first one any receiver stored (`candidate`, when
    /// this call is the first).
    fn shared_key(&self, name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError>;
}
