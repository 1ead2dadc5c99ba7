//! The recordings' files: `recordings/` in the data directory, one file per recording named by
//! its id, and `recordings/incoming/`, where an upload is written while it arrives.
//!
//! A recording is written atomically: into a temporary file, synced, renamed into place, and
//! the directory synced; only then is its row stored. A crash leaves at most a temporary file
//! (removed at the next start) or a file without a row (removed at the next start too): nothing
//! half-written is ever served or listed. An upload abandoned midway (the client went away, a
//! bound was crossed) removes its temporary file at once.

use std::io;
use std::path::{Path, PathBuf};

use tokio::io::AsyncWriteExt;

use super::link::{LinkKey, KEY_BYTES};
use super::media::MediaType;

/// The folder of recordings inside the data directory.
pub const RECORDINGS_DIR: &str = "recordings";
/// Where uploads are written while they arrive, inside [`RECORDINGS_DIR`].
const INCOMING_DIR: &str = "incoming";
/// The link key's file in the data directory (created at the first start, mode 0600).
pub const LINK_KEY_FILE: &str = "recording-link.key";

/// The recordings' folder.
#[derive(Debug, Clone)]
pub struct Files {
    dir: PathBuf,
}

impl Files {
    /// The folder below `data_dir`, created if needed, with what a crash left in `incoming/`
    /// removed.
    pub fn open(data_dir: &Path) -> io::Result<Files> {
        let dir = data_dir.join(RECORDINGS_DIR);
        let incoming = dir.join(INCOMING_DIR);
        std::fs::create_dir_all(&incoming)?;
        for entry in std::fs::read_dir(&incoming)? {
            let path = entry?.path();
            tracing::info!(file = %path.display(), "removing an upload a stop interrupted");
            std::fs::remove_file(&path)?;
        }
        Ok(Files { dir })
    }

    /// Where recording `id` of type `media` is kept.
    pub fn path(&self, id: &str, media: MediaType) -> PathBuf {
        self.dir.join(format!("{id}.{}", media.extension()))
    }

    /// A new temporary file for an upload.
    pub async fn incoming(&self, id: &str) -> io::Result<Incoming> {
        let path = self.dir.join(INCOMING_DIR).join(format!("{id}.part"));
        let file = tokio::fs::File::create(&path).await?;
        Ok(Incoming {
            path: Some(path),
            file,
            bytes: 0,
        })
    }

    /// Moves a finished upload into place as recording `id` and syncs the folder, so the
    /// rename survives a crash.
    pub fn commit(&self, upload: Received, id: &str, media: MediaType) -> io::Result<PathBuf> {
        let target = self.path(id, media);
        std::fs::rename(&upload.path, &target)?;
        std::fs::File::open(&self.dir)?.sync_all()?;
        Ok(target)
    }

    /// Removes a recording's file (gone already is fine).
    pub fn remove(&self, id: &str, media: MediaType) -> io::Result<()> {
        match std::fs::remove_file(self.path(id, media)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Removes every recording file whose id is not in `kept` (a crash between a file's rename
    /// and its row's insert leaves one). Only at start: an upload in progress is not yet kept.
    pub fn remove_unlisted(&self, kept: &[String]) -> io::Result<usize> {
        let mut removed = 0;
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_file() {
                continue;
            }
            let path = entry.path();
            let id = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            if !kept.iter().any(|k| k == id) {
                tracing::info!(file = %path.display(), "removing a recording file no row names");
                std::fs::remove_file(&path)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// An upload being written. Dropped before [`Incoming::finish`], it removes its file.
#[derive(Debug)]
pub struct Incoming {
    path: Option<PathBuf>,
    file: tokio::fs::File,
    bytes: u64,
}

/// An upload fully written and synced, not yet in place.
#[derive(Debug)]
pub struct Received {
    path: PathBuf,
    /// Its size.
    pub bytes: u64,
}

impl Received {
    /// Its temporary path (to read its header).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        // Committed files have moved: removing the temporary path then finds nothing.
        let _ = std::fs::remove_file(&self.path);
    }
}

impl Incoming {
    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Appends a chunk.
    pub async fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk).await?;
        self.bytes += chunk.len() as u64;
        Ok(())
    }

    /// Flushes and syncs the file: its bytes are on disk.
    pub async fn finish(mut self) -> io::Result<Received> {
        self.file.flush().await?;
        self.file.sync_all().await?;
        let path = self.path.take().unwrap_or_default();
        Ok(Received {
            path,
            bytes: self.bytes,
        })
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The link key in `data_dir`: read, or created (random, mode 0600) at the first start.
pub fn link_key(data_dir: &Path) -> io::Result<LinkKey> {
    let path = data_dir.join(LINK_KEY_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let key: [u8; KEY_BYTES] = bytes.as_slice().try_into().map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} does not hold a {KEY_BYTES}-byte key", path.display()),
                )
            })?;
            Ok(LinkKey::new(key))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => create_key(&path),
        Err(e) => Err(e),
    }
}

fn create_key(path: &Path) -> io::Result<LinkKey> {
    let mut key = [0u8; KEY_BYTES];
    getrandom::fill(&mut key).map_err(io::Error::other)?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    std::io::Write::write_all(&mut file, &key)?;
    file.sync_all()?;
    Ok(LinkKey::new(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_key_is_created_once_private_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let key = link_key(dir.path()).unwrap();
        let again = link_key(dir.path()).unwrap();
        assert_eq!(key.sign("c", "t", 1), again.sign("c", "t", 1));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(LINK_KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(LINK_KEY_FILE), b"short").unwrap();
        assert!(link_key(dir.path()).is_err());
    }

    #[tokio::test]
    async fn an_abandoned_upload_leaves_nothing_and_a_finished_one_moves_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let files = Files::open(dir.path()).unwrap();
        let incoming_dir = dir.path().join(RECORDINGS_DIR).join(INCOMING_DIR);
        let mut upload = files.incoming("a").await.unwrap();
        upload.write(b"half").await.unwrap();
        drop(upload);
        assert_eq!(std::fs::read_dir(&incoming_dir).unwrap().count(), 0);

        let mut upload = files.incoming("b").await.unwrap();
        upload.write(b"whole").await.unwrap();
        let received = upload.finish().await.unwrap();
        let path = files.commit(received, "b", MediaType::Wav).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"whole");
        assert_eq!(std::fs::read_dir(&incoming_dir).unwrap().count(), 0);

        std::fs::write(files.path("stray", MediaType::Ogg), b"x").unwrap();
        assert_eq!(files.remove_unlisted(&["b".to_string()]).unwrap(), 1);
        assert!(path.exists());
        std::fs::write(incoming_dir.join("c.part"), b"crashed").unwrap();
        Files::open(dir.path()).unwrap();
        assert_eq!(std::fs::read_dir(&incoming_dir).unwrap().count(), 0);
    }
}
