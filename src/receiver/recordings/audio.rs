//! Where recordings' audio bytes live, decided once at start from the store
//! ([`AudioHome::open`]):
//!
//! - [`AudioHome::Files`]: files in this receiver's data directory (`files`), with the embedded
//!   store: one receiver, one disk. The link key is a file beside them.
//! - [`AudioHome::Store`]: chunks in a store shared by a fleet
//!   ([`crate::receiver::store::SharedRecordings`]): a receiver's disk is its own, so the audio
//!   goes where every receiver can serve it, a range reading only the chunks it covers. The
//!   link key is the fleet's, kept in the store, so a link one receiver hands out works on all.
//!
//! Either way an upload first arrives into a temporary file (`files::Incoming`): its header is
//! read from there, an upload refused midway (too large, not audio) never reaches the store,
//! and the store is written from the complete, synced file in one transaction, a chunk at a
//! time, so that nothing holds a whole recording in memory and a crash leaves nothing
//! half-stored.
//!
//! Removing audio is idempotent on both: every receiver of a fleet sweeps the same rows.

use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{self, Stream, StreamExt};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::files::{self, Files, Received};
use super::link::{LinkKey, KEY_BYTES};
use super::media::MediaType;
use super::{KeepError, OpenError};
use crate::receiver::store::{RecordingRow, SharedRecordings, Store};

/// The name of the recordings' link key among a shared store's keys.
const LINK_KEY_NAME: &str = "recording-link";

/// Where audio bytes live (see the module's doc).
#[derive(Clone)]
pub enum AudioHome {
    /// Files in the data directory.
    Files(Files),
    /// Chunks in the shared store.
    Store(Arc<dyn SharedRecordings>),
}

impl std::fmt::Debug for AudioHome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AudioHome::Files(files) => f.debug_tuple("Files").field(files).finish(),
            AudioHome::Store(_) => f.write_str("Store"),
        }
    }
}

/// A kept recording's audio, to be served.
pub enum KeptAudio {
    /// A file.
    File(PathBuf),
    /// Chunks in the shared store.
    Store {
        /// The store.
        shared: Arc<dyn SharedRecordings>,
        /// The recording's id.
        id: String,
        /// Its length, bytes (its row's).
        len: u64,
    },
}

/// A stream of an audio's bytes, a piece at a time.
pub type AudioStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

impl AudioHome {
    /// Where `store` wants audio kept (`files` when it is not shared), with the link key and
    /// with what a crash left behind removed: files no row names (the embedded store's
    /// receiver is their only user), or chunks of audio no longer kept (a shared store's rows
    /// and chunks are stored together, so a chunk no kept row names is never an upload in
    /// progress on another receiver). Another receiver's files are never touched: with a
    /// shared store this receiver keeps none. Blocks.
    pub fn open(
        store: &Store,
        files: Files,
        data_dir: &Path,
    ) -> Result<(AudioHome, LinkKey), OpenError> {
        let io = |source| OpenError::Io {
            dir: data_dir.display().to_string(),
            source,
        };
        match store.shared_recordings() {
            None => {
                let key = files::link_key(data_dir).map_err(io)?;
                files
                    .remove_unlisted(&store.kept_recording_ids()?)
                    .map_err(io)?;
                Ok((AudioHome::Files(files), key))
            }
            Some(shared) => {
                let key = shared_link_key(shared.as_ref())?;
                let removed = shared.delete_unlisted_audio()?;
                if removed > 0 {
                    tracing::info!(chunks = removed, "removed audio no kept recording names");
                }
                Ok((AudioHome::Store(shared), key))
            }
        }
    }

    /// Keeps an upload's audio (if any) and stores its row: the file moved into place then
    /// the row stored (the file removed again if that fails), or the row and its chunks in one
    /// transaction. Blocks.
    pub fn keep(
        &self,
        store: &Store,
        audio: Option<(Received, MediaType)>,
        row: &RecordingRow,
        chat_history: Option<&str>,
    ) -> Result<(), KeepError> {
        let Some((received, media)) = audio else {
            return Ok(store.insert_recording(row, chat_history)?);
        };
        match self {
            AudioHome::Files(files) => {
                files.commit(received, &row.id, media)?;
                if let Err(e) = store.insert_recording(row, chat_history) {
                    let _ = files.remove(&row.id, media);
                    return Err(e.into());
                }
            }
            AudioHome::Store(shared) => {
                let file = std::fs::File::open(received.path())?;
                shared.insert_recording_with_audio(row, chat_history, file)?;
            }
        }
        Ok(())
    }

    /// Removes a recording's audio (gone already is fine); a failure is logged, and what is
    /// left is removed at the next start. Blocks.
    pub fn remove(&self, row: &RecordingRow) {
        let failed: Option<String> = match self {
            AudioHome::Files(files) => row
                .media_type
                .as_deref()
                .and_then(MediaType::parse)
                .and_then(|media| files.remove(&row.id, media).err())
                .map(|e| e.to_string()),
            AudioHome::Store(shared) => shared.delete_audio(&row.id).err().map(|e| e.to_string()),
        };
        if let Some(error) = failed {
            tracing::warn!(recording = %row.id, %error, "cannot remove a recording's audio");
        }
    }

    /// Where a row's audio is, when it is kept.
    pub fn kept(&self, row: &RecordingRow) -> Option<KeptAudio> {
        if !row.has_audio() {
            return None;
        }
        match self {
            AudioHome::Files(files) => {
                let media = row.media_type.as_deref().and_then(MediaType::parse)?;
                Some(KeptAudio::File(files.path(&row.id, media)))
            }
            AudioHome::Store(shared) => Some(KeptAudio::Store {
                shared: shared.clone(),
                id: row.id.clone(),
                len: row.bytes,
            }),
        }
    }
}

/// The fleet's link key: a fresh random one offered, the first one stored taken.
fn shared_link_key(shared: &dyn SharedRecordings) -> Result<LinkKey, OpenError> {
    let mut candidate = [0u8; KEY_BYTES];
    getrandom::fill(&mut candidate).map_err(|e| OpenError::LinkKey(e.to_string()))?;
    let stored = shared.shared_key(LINK_KEY_NAME, &candidate)?;
    let key: [u8; KEY_BYTES] = stored.as_slice().try_into().map_err(|_| {
        OpenError::LinkKey(format!(
            "the store's {LINK_KEY_NAME:?} key has {} bytes, not {KEY_BYTES}",
            stored.len()
        ))
    })?;
    Ok(LinkKey::new(key))
}

/// An audio opened to be served: its length known, its bytes not yet read.
pub enum OpenAudio {
    /// A file, open.
    File {
        /// The file.
        file: tokio::fs::File,
        /// Its length.
        len: u64,
    },
    /// Chunks in the shared store (nothing read yet).
    Store(Pieces),
}

impl KeptAudio {
    /// Opens it: its file, or nothing yet for chunks (their length is the row's).
    pub async fn open(self) -> io::Result<OpenAudio> {
        match self {
            KeptAudio::File(path) => {
                let file = tokio::fs::File::open(path).await?;
                let len = file.metadata().await?.len();
                Ok(OpenAudio::File { file, len })
            }
            KeptAudio::Store { shared, id, len } => Ok(OpenAudio::Store(Pieces {
                shared,
                id,
                next: 0,
                end: len,
            })),
        }
    }
}

impl OpenAudio {
    /// Its length, bytes.
    pub fn len(&self) -> u64 {
        match self {
            OpenAudio::File { len, .. } => *len,
            OpenAudio::Store(pieces) => pieces.end,
        }
    }

    /// Whether it has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Its bytes `start..start + count`, a piece at a time. From the store, the first piece
    /// is read before this returns (so a recording whose chunks are missing is an error, not a
    /// truncated answer) and each next one when the reader wants it: a player that seeks and
    /// drops the rest costs only the pieces it took.
    pub async fn range(self, start: u64, count: u64) -> io::Result<AudioStream> {
        match self {
            OpenAudio::File { mut file, .. } => {
                file.seek(io::SeekFrom::Start(start)).await?;
                Ok(Box::pin(tokio_util::io::ReaderStream::new(
                    file.take(count),
                )))
            }
            OpenAudio::Store(mut pieces) => {
                pieces.next = start;
                pieces.end = start.saturating_add(count);
                let first = pieces.next_piece().await.transpose()?;
                let rest = stream::unfold(pieces, |mut pieces| async move {
                    let piece = pieces.next_piece().await?;
                    Some((piece, pieces))
                });
                Ok(Box::pin(stream::iter(first.map(Ok)).chain(rest)))
            }
        }
    }
}

/// The pieces of a range still to read from the store.
pub struct Pieces {
    shared: Arc<dyn SharedRecordings>,
    id: String,
    next: u64,
    end: u64,
}

impl Pieces {
    /// The next piece (`None` past the range's end); a piece missing is an error, and the
    /// last item.
    async fn next_piece(&mut self) -> Option<io::Result<Bytes>> {
        if self.next >= self.end {
            return None;
        }
        let (shared, id, start, max) = (
            self.shared.clone(),
            self.id.clone(),
            self.next,
            self.end - self.next,
        );
        let read = tokio::task::spawn_blocking(move || shared.read_audio(&id, start, max)).await;
        let piece = match read {
            Ok(Ok(piece)) if !piece.is_empty() => piece,
            Ok(Ok(_)) => return self.fail(io::ErrorKind::UnexpectedEof.into()),
            Ok(Err(e)) => return self.fail(io::Error::other(e)),
            Err(e) => return self.fail(io::Error::other(e)),
        };
        self.next += piece.len() as u64;
        Some(Ok(Bytes::from(piece)))
    }

    /// Ends the range with `error`.
    fn fail(&mut self, error: io::Error) -> Option<io::Result<Bytes>> {
        tracing::error!(recording = %self.id, at = self.next, %error, "cannot read a recording's audio");
        self.next = self.end;
        Some(Err(error))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::receiver::store::StoreError;

    /// A shared store's audio in memory, in chunks of 4 bytes.
    struct Chunks(std::sync::Mutex<Vec<u8>>);

    const TEST_CHUNK: u64 = 4;

    impl SharedRecordings for Chunks {
        fn insert_recording_with_audio(
            &self,
            _row: &RecordingRow,
            _chat_history: Option<&str>,
            mut audio: std::fs::File,
        ) -> Result<u64, StoreError> {
            let mut bytes = self.0.lock().unwrap();
            std::io::Read::read_to_end(&mut audio, &mut bytes).map_err(StoreError::Audio)?;
            Ok(bytes.len() as u64)
        }

        fn read_audio(&self, _id: &str, start: u64, max: u64) -> Result<Vec<u8>, StoreError> {
            let bytes = self.0.lock().unwrap();
            let chunk_end = (start / TEST_CHUNK + 1) * TEST_CHUNK;
            let end = chunk_end.min(start + max).min(bytes.len() as u64);
            Ok(bytes
                .get(start as usize..end as usize)
                .unwrap_or_default()
                .to_vec())
        }

        fn delete_audio(&self, _id: &str) -> Result<u64, StoreError> {
            self.0.lock().unwrap().clear();
            Ok(1)
        }

        fn delete_unlisted_audio(&self) -> Result<u64, StoreError> {
            Ok(0)
        }

        fn shared_key(&self, _name: &str, candidate: &[u8]) -> Result<Vec<u8>, StoreError> {
            Ok(candidate.to_vec())
        }
    }

    async fn collect(stream: AudioStream) -> io::Result<Vec<u8>> {
        let pieces: Vec<io::Result<Bytes>> = stream.collect().await;
        let mut out = Vec::new();
        for piece in pieces {
            out.extend_from_slice(&piece?);
        }
        Ok(out)
    }

    fn stored(bytes: &[u8], len: u64) -> (Arc<Chunks>, KeptAudio) {
        let shared = Arc::new(Chunks(std::sync::Mutex::new(bytes.to_vec())));
        let audio = KeptAudio::Store {
            shared: shared.clone(),
            id: "r".into(),
            len,
        };
        (shared, audio)
    }

    #[tokio::test]
    async fn a_range_of_stored_audio_is_read_chunk_by_chunk() {
        let bytes: Vec<u8> = (0..10).collect();
        for (start, count) in [(0, 10), (3, 6), (4, 4), (9, 1), (0, 0)] {
            let (_, audio) = stored(&bytes, 10);
            let open = audio.open().await.unwrap();
            assert_eq!(open.len(), 10);
            let got = collect(open.range(start, count).await.unwrap()).await;
            let want = &bytes[start as usize..(start + count) as usize];
            assert_eq!(got.unwrap(), want, "{start}+{count}");
        }
    }

    #[tokio::test]
    async fn missing_chunks_are_an_error_not_a_short_answer() {
        let (shared, audio) = stored(&[1, 2, 3, 4, 5, 6], 10);
        let open = audio.open().await.unwrap();
        let stream = open.range(0, 10).await.unwrap();
        assert!(collect(stream).await.is_err(), "past byte 6: missing");
        shared.delete_audio("r").unwrap();
        let open = KeptAudio::Store {
            shared,
            id: "r".into(),
            len: 10,
        }
        .open()
        .await
        .unwrap();
        assert!(
            open.range(0, 10).await.is_err(),
            "nothing stored: refused at once"
        );
    }

    #[tokio::test]
    async fn a_files_range_is_read_from_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        std::fs::write(&path, b"0123456789").unwrap();
        let open = KeptAudio::File(path).open().await.unwrap();
        assert_eq!(open.len(), 10);
        let got = collect(open.range(2, 5).await.unwrap()).await.unwrap();
        assert_eq!(got, b"23456");
    }
}
