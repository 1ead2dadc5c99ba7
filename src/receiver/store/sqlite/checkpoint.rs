//! WAL checkpoints beside the writer, not inside its commits.
//!
//! SQLite copies its WAL back into the database file (a checkpoint) inside the commit that
//! finds the WAL past `wal_autocheckpoint`: the recorder's group then waited while some 40 MB
//! were copied and synced, every couple of seconds under load, and the call logs of that group
//! with it (the spikes of the call-log latency: p99 about 170 ms above the median). Here the
//! commit only signals; a thread with a connection of its own checkpoints, PASSIVE (it never
//! waits for the writer, which goes on appending to the WAL meanwhile), and the writer
//! restarts the WAL from its start at its first commit after a checkpoint that copied it all.
//! The thread runs at the lowest priority, so that the copy takes only CPU no other stage
//! wants. If it falls behind, the commit that finds the WAL past [`WalLimits::inline`]
//! checkpoints itself as before, so the WAL stays bounded.

use std::ffi::c_int;
use std::path::Path;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
#[cfg(test)]
use std::time::Duration;

use rusqlite::hooks::Wal;
use rusqlite::wal::CheckpointMode;
use rusqlite::{Connection, ErrorCode, DEFAULT_NAME};

use super::{BUSY_TIMEOUT, SYNCHRONOUS};
use crate::receiver::store::StoreError;

/// When to checkpoint, in WAL frames (pages).
#[derive(Debug, Clone, Copy)]
pub(super) struct WalLimits {
    /// A commit leaving more frames than this in the WAL wakes the checkpointer.
    pub background: c_int,
    /// A commit leaving more than this checkpoints itself (the checkpointer fell behind).
    pub inline: c_int,
}

/// The server's limits. 10 000 pages (about 40 MB): outbox entries live seconds, so with a
/// large WAL a page that is written, rewritten and freed many times is copied back once. Four
/// times that before a commit checkpoints itself: the thread is behind only when the disk is.
pub(super) const WAL_LIMITS: WalLimits = WalLimits {
    background: 10_000,
    inline: 40_000,
};

/// The checkpoints the thread did, for whoever waits for one (the tests).
#[derive(Debug, Default)]
pub(super) struct Done {
    /// How many, and the frames of the WAL in the database file after the last.
    count: Mutex<(u64, c_int)>,
    changed: Condvar,
}

impl Done {
    fn add(&self, copied: c_int) {
        let mut count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        *count = (count.0 + 1, copied);
        self.changed.notify_all();
    }

    /// Waits until more than `seen` checkpoints are done, or `timeout`: how many then, and
    /// the frames the last left copied back.
    #[cfg(test)]
    pub(super) fn wait_beyond(&self, seen: u64, timeout: Duration) -> (u64, c_int) {
        let count = self.count.lock().unwrap_or_else(|e| e.into_inner());
        let (count, _) = self
            .changed
            .wait_timeout_while(count, timeout, |count| count.0 <= seen)
            .unwrap_or_else(|e| e.into_inner());
        *count
    }
}

/// What wakes the thread.
enum Wake {
    /// A commit left the WAL past the background limit.
    Checkpoint,
    /// The store is closing.
    Stop,
}

/// The running checkpointer. Dropped, it stops its thread and waits for it, so that the store
/// is closed when its drop returns (the last connection to close copies the WAL back and
/// removes it: a released call's pages do not linger in a WAL file).
pub(super) struct Checkpointer {
    /// The checkpoints it did (the tests wait for them).
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) done: Arc<Done>,
    stop: SyncSender<Wake>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // Blocks only while a signal is waiting, which the thread takes first.
        let _ = self.stop.send(Wake::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts the checkpointer of the database at `path` and hooks `writer`'s commits to it.
pub(super) fn start(
    writer: &mut Connection,
    path: &Path,
    limits: WalLimits,
) -> Result<Checkpointer, StoreError> {
    let own = Connection::open(path)?;
    own.busy_timeout(BUSY_TIMEOUT)?;
    own.pragma_update(None, "synchronous", SYNCHRONOUS)?;
    // One signal waiting is enough: the checkpoint it starts copies all there is.
    let (wake, woken) = sync_channel(1);
    let done = Arc::new(Done::default());
    let counted = done.clone();
    let thread = std::thread::Builder::new()
        .name("voicetrace-checkpoint".into())
        .spawn(move || run(own, woken, &counted))
        .map_err(StoreError::Checkpointer)?;
    let stop = wake.clone();
    writer.wal_hook(Some(move |wal: &mut Wal, frames: c_int| {
        after_commit(wal, frames, limits, &wake);
        Ok(())
    }))?;
    Ok(Checkpointer {
        done,
        stop,
        thread: Some(thread),
    })
}

/// The writer's side, after each commit with `frames` in the WAL.
fn after_commit(wal: &mut Wal, frames: c_int, limits: WalLimits, wake: &SyncSender<Wake>) {
    if frames > limits.inline {
        // Busy when the thread is checkpointing: then the WAL is being copied already.
        if let Err(e) = wal.checkpoint() {
            tracing::debug!(error = %e, frames, "inline checkpoint not done");
        }
    } else if frames > limits.background {
        // Full: a checkpoint is due already, and will copy these frames too.
        let _ = wake.try_send(Wake::Checkpoint);
    }
}

/// The nice value of the checkpoint thread (Linux's nice is per thread): copying 40 MB takes
/// CPU for tens of milliseconds, and at the default priority it took them from ingest and
/// assembly on a busy core (the call-log latency's p99 at half load, root end → call
/// finished: 382 ms at nice 0, 266-278 ms at 19; `scripts/bench-ingest.sh`). Checkpoints
/// still run whenever the CPU has room, and the inline limit bounds the WAL if it never has.
#[cfg(target_os = "linux")]
const CHECKPOINT_NICE: i32 = 19;

/// The checkpointer's loop: a PASSIVE checkpoint per signal.
fn run(conn: Connection, woken: Receiver<Wake>, done: &Done) {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::process::setpriority_process(None, CHECKPOINT_NICE) {
        tracing::debug!(error = %e, "the checkpoint thread keeps the default priority");
    }
    while let Ok(Wake::Checkpoint) = woken.recv() {
        match conn.wal_checkpoint_v2(DEFAULT_NAME, CheckpointMode::PASSIVE) {
            Ok((_, copied)) => done.add(copied),
            // The writer checkpointing itself (past the inline limit) at the same moment.
            Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::DatabaseBusy => {}
            // A failed checkpoint leaves the WAL as it was: the next signal tries again, and
            // the writer checkpoints itself past the inline limit.
            Err(e) => tracing::warn!(error = %e, "WAL checkpoint failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rusqlite::wal::CheckpointMode;
    use rusqlite::{ErrorCode, DEFAULT_NAME};

    use super::super::Sqlite;
    use super::WalLimits;

    /// Frames in the WAL and frames copied back, read by a checkpoint of the writer's (which
    /// is refused while the thread's runs: no commit comes meanwhile, so the thread stops).
    fn wal_frames(store: &Sqlite) -> (i32, i32) {
        let conn = store.lock().unwrap();
        loop {
            match conn.wal_checkpoint_v2(DEFAULT_NAME, CheckpointMode::PASSIVE) {
                Err(rusqlite::Error::SqliteFailure(e, _)) if e.code == ErrorCode::DatabaseBusy => {
                    std::thread::yield_now()
                }
                frames => return frames.unwrap(),
            }
        }
    }

    /// A store in a new directory, checkpointing past `background` and `inline` frames.
    fn store_with(background: i32, inline: i32) -> (tempfile::TempDir, Sqlite) {
        let dir = tempfile::tempdir().unwrap();
        let limits = WalLimits { background, inline };
        let store = Sqlite::open_with(dir.path(), limits).unwrap();
        (dir, store)
    }

    /// Commits `n` rows of a page each (a few frames per commit).
    fn write_pages(store: &Sqlite, n: usize) {
        let conn = store.lock().unwrap();
        conn.execute_batch("CREATE TABLE IF NOT EXISTS filler (b BLOB)")
            .unwrap();
        for _ in 0..n {
            conn.execute("INSERT INTO filler VALUES (zeroblob(4000))", [])
                .unwrap();
        }
    }

    #[test]
    fn commits_past_the_background_limit_are_checkpointed_by_the_thread() {
        let (_dir, store) = store_with(20, 100_000);
        write_pages(&store, 2);
        assert_eq!(store.checkpointer.done.wait_beyond(0, Duration::ZERO).0, 0);
        write_pages(&store, 10);
        let (done, copied) = store
            .checkpointer
            .done
            .wait_beyond(0, Duration::from_secs(30));
        assert!(
            done >= 1 && copied > 20,
            "{done} checkpoints, {copied} frames copied"
        );
    }

    #[test]
    fn a_dropped_store_is_closed_with_its_wal_copied_back_and_removed() {
        let (_dir, store) = store_with(5, 100_000);
        write_pages(&store, 20);
        let wal = store.path().with_extension("db-wal");
        assert!(wal.exists());
        drop(store);
        // The thread's connection is closed too, so the writer's or its own was the last.
        assert!(!wal.exists(), "the WAL outlived the store");
    }

    #[test]
    fn a_commit_past_the_inline_limit_checkpoints_itself() {
        // The thread is never woken: only the writer checkpoints.
        let (_dir, store) = store_with(i32::MAX, 20);
        write_pages(&store, 60);
        // Every commit past 20 frames copied the WAL back, and the next started it again.
        let (frames, copied) = wal_frames(&store);
        assert!(
            frames < 60 && copied == frames,
            "{frames} frames, {copied} copied"
        );
        assert_eq!(store.checkpointer.done.wait_beyond(0, Duration::ZERO).0, 0);
    }
}
