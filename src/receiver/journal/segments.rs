//! The journal's files: append-only segments in `<data dir>/journal/`, named by a number that
//! grows (`00000001.seg`, `00000002.seg`, ...), each [`frame::MAGIC`] then frames (see
//! [`frame`]). One segment is written at a time; it rolls over at [`SEGMENT_BYTES`], and at
//! every start (a replayed segment is never appended to: its tail may be torn).
//!
//! What each segment holds is kept in memory: for each segment the calls with entries in it not
//! yet forgotten, for each call its entries' positions. A position is the segment's number and
//! the offset where the entry ends (`number << 32 | end`): it grows with every entry, across
//! restarts too (a new segment's number is above every one on disk), which is what lets the
//! recorder forget "only what assembly had seen". A segment whose calls are all forgotten is
//! deleted, the one being written included (the next entry opens a new one): once every call is
//! released, the directory is empty and no raw span is left on disk.
//!
//! A segment's space is written with zeros ahead of its entries, a stretch at a time (see
//! [`PREALLOCATE_MIN`]): an entry then lands inside the file, and its sync writes the entry's
//! pages only, not the file's size in its inode as an append would (a third of the cost of a
//! sync of small requests, measured). Reading stops where the zeros begin (`frame`).
//!
//! [`Segments`] is the handle the writer (append) and the recorder (forget) share; every
//! method blocks (file I/O).

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{File, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use foldhash::{HashMap, HashMapExt};

use super::frame::{self, Tail, MAGIC};

/// The journal's directory inside the data directory.
pub const JOURNAL_DIR: &str = "journal";

/// A segment rolls over once it holds this many bytes. A segment is deleted only when every
/// call with entries in it is released, so a released call's raw spans stay on disk while a
/// call that shares its segment is still held; smaller segments let them go sooner (and free
/// the disk sooner after a burst), larger ones roll less often (a roll costs a file creation
/// and a directory fsync). 16 MiB is about 16 000 spans, seconds of a busy receiver.
pub const SEGMENT_BYTES: u64 = 16 * 1024 * 1024;

/// The first stretch of zeros a new segment gets; each next one is as long as the file so far,
/// up to [`PREALLOCATE_MAX`]. A receiver with little traffic writes a segment per call or so
/// (a segment goes once its calls are released): it should not cost a megabyte each.
pub const PREALLOCATE_MIN: u64 = 64 * 1024;

/// The longest stretch of zeros written at once: the sync that follows it writes them out
/// (the one sync that writes the inode), so a longer one would stall the group it comes with.
pub const PREALLOCATE_MAX: u64 = 1024 * 1024;

/// Zeros written at a time.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// The extension of a segment file.
const EXTENSION: &str = "seg";

/// One journal entry: the encoded records of one trace from one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The call's trace id (for metric points: their call's key).
    pub trace_id: [u8; 16],
    /// The encoded records (see `journal::records`).
    pub payload: Vec<u8>,
}

/// Where an entry ends in the journal: grows with every entry written, across restarts.
pub type Position = i64;

/// Why the journal's files could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// A file or the directory failed.
    #[error("journal {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An entry too large to frame.
    #[error(transparent)]
    TooLarge(#[from] frame::TooLarge),
    /// A thread panicked while holding the journal's state.
    #[error("the journal's state was poisoned by a panic")]
    Poisoned,
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> JournalError + '_ {
    move |source| JournalError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn position(segment: u32, end: u64) -> Position {
    (i64::from(segment) << 32) | end as i64
}

/// The segment being written.
#[derive(Debug)]
struct Current {
    number: u32,
    file: File,
    /// Bytes of entries in the file (with its magic).
    len: u64,
    /// Bytes of the file: entries, then zeros.
    allocated: u64,
}

impl Current {
    /// Writes zeros past the file's end until it holds `needed` bytes, a stretch at least as
    /// long as [`Current::next_stretch`] says.
    fn preallocate(&mut self, needed: u64, limit: u64) -> std::io::Result<()> {
        if needed <= self.allocated {
            return Ok(());
        }
        let target = needed.max(self.next_stretch(limit));
        while self.allocated < target {
            let n = (target - self.allocated).min(ZEROS.len() as u64);
            self.file
                .write_all_at(&ZEROS[..n as usize], self.allocated)?;
            self.allocated += n;
        }
        Ok(())
    }

    /// Where the next stretch of zeros ends: the file doubled, by [`PREALLOCATE_MIN`] to
    /// [`PREALLOCATE_MAX`], never past the segment's limit.
    fn next_stretch(&self, limit: u64) -> u64 {
        let stretch = self.allocated.clamp(PREALLOCATE_MIN, PREALLOCATE_MAX);
        (self.allocated + stretch).min(limit)
    }
}

/// Which calls a segment holds entries of, with how many not yet forgotten.
type Calls = HashMap<[u8; 16], u32>;

#[derive(Debug)]
struct State {
    dir: PathBuf,
    /// Bytes at which a segment rolls over ([`SEGMENT_BYTES`]; smaller in tests).
    limit: u64,
    current: Option<Current>,
    next_number: u32,
    /// Every segment on disk with entries not forgotten.
    segments: BTreeMap<u32, Calls>,
    /// For each call, its entries not forgotten: position and segment, ascending.
    by_call: HashMap<[u8; 16], Vec<(Position, u32)>>,
    /// The position of the last entry written or read.
    last: Position,
}

/// The journal's segments. Clones share them: open once per process ([`Segments::open`]).
#[derive(Debug, Clone)]
pub struct Segments {
    state: Arc<Mutex<State>>,
    /// What `/metrics` reads, without waiting for a write in progress.
    counts: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    /// Entries not forgotten.
    entries: AtomicU64,
    /// Segment files holding them.
    files: AtomicU64,
}

impl Counts {
    fn files_of(&self, state: &State) {
        self.files
            .store(state.segments.len() as u64, Ordering::Release);
    }
}

/// The segments at a start, and what they hold.
#[derive(Debug)]
pub struct Opened {
    /// The handle new entries go to.
    pub segments: Segments,
    /// Every entry read back, in the order it was written.
    pub entries: Vec<Entry>,
    /// The position of the last entry read (0 when there is none).
    pub position: Position,
}

/// The segment files in `dir`, by number (none when `dir` does not exist).
fn list(dir: &Path) -> Result<Vec<(u32, PathBuf)>, JournalError> {
    let read = match std::fs::read_dir(dir) {
        Ok(read) => read,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(dir)(e)),
    };
    let mut found = Vec::new();
    for entry in read {
        let path = entry.map_err(io(dir))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some(EXTENSION) {
            continue;
        }
        let number = path
            .file_stem()
            .and_then(|s| s.to_str())
            .and_then(|s| s.parse::<u32>().ok());
        if let Some(number) = number {
            found.push((number, path));
        }
    }
    found.sort();
    Ok(found)
}

/// The frames of a segment's bytes, saying why the reading stopped early.
fn frames<'a>(path: &Path, bytes: &'a [u8]) -> Vec<frame::Frame<'a>> {
    let Some(body) = bytes.strip_prefix(MAGIC) else {
        if !MAGIC.starts_with(bytes) {
            tracing::warn!(segment = %path.display(), "not a journal segment: left out of the replay");
        }
        // Otherwise killed before its first entry: nothing in it.
        return Vec::new();
    };
    let (frames, tail) = frame::decode(body);
    let at = |offset: usize| offset + MAGIC.len();
    match tail {
        Tail::Clean => {}
        Tail::Torn(offset) => tracing::warn!(
            segment = %path.display(), offset = at(offset), entries = frames.len(),
            "the journal segment ends with an entry cut short (the receiver was stopped while \
             writing it, before answering its exporter): replaying the entries before it"
        ),
        Tail::Corrupt(offset) => tracing::warn!(
            segment = %path.display(), offset = at(offset), entries = frames.len(),
            "a journal entry fails its checksum: replaying only the entries before it"
        ),
    }
    frames
}

/// Entries in the segments of `data_dir`'s journal, as a start would read them (for tools and
/// tests; a running receiver's figure is [`Segments::depth`]).
pub fn entries_on_disk(data_dir: &Path) -> Result<u64, JournalError> {
    let mut n = 0;
    for (_, path) in list(&data_dir.join(JOURNAL_DIR))? {
        let bytes = std::fs::read(&path).map_err(io(&path))?;
        n += frames(&path, &bytes).len() as u64;
    }
    Ok(n)
}

/// Writes entries into a new segment of `data_dir`'s journal and syncs it: what an older
/// receiver's journal table held, moved here before the store drops the table, so that calls in
/// flight across an upgrade are replayed. A crash before the table is dropped imports them again
/// at the next start: replayed twice, they make no second revision.
pub fn import(data_dir: &Path, entries: &[Entry]) -> Result<(), JournalError> {
    let dir = data_dir.join(JOURNAL_DIR);
    std::fs::create_dir_all(&dir).map_err(io(&dir))?;
    let number = list(&dir)?.last().map_or(1, |(n, _)| n.saturating_add(1));
    let mut state = State {
        dir: dir.clone(),
        limit: u64::MAX,
        current: None,
        next_number: number,
        segments: BTreeMap::new(),
        by_call: HashMap::new(),
        last: 0,
    };
    state.write(&[entries.to_vec()])?;
    Ok(())
}

impl Segments {
    /// Opens the journal of `data_dir` (creating its directory) and reads every segment back.
    /// Segments with no entry left are deleted; the next entry opens a new segment.
    pub fn open(data_dir: &Path) -> Result<Opened, JournalError> {
        Segments::open_with_limit(data_dir, SEGMENT_BYTES)
    }

    fn open_with_limit(data_dir: &Path, limit: u64) -> Result<Opened, JournalError> {
        let dir = data_dir.join(JOURNAL_DIR);
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let mut state = State {
            dir: dir.clone(),
            limit,
            current: None,
            next_number: 1,
            segments: BTreeMap::new(),
            by_call: HashMap::new(),
            last: 0,
        };
        let mut entries = Vec::new();
        for (number, path) in list(&dir)? {
            state.next_number = state.next_number.max(number.saturating_add(1));
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let read = frames(&path, &bytes);
            if read.is_empty() && (MAGIC.starts_with(&bytes) || bytes.starts_with(MAGIC)) {
                std::fs::remove_file(&path).map_err(io(&path))?;
                continue;
            }
            for f in read {
                let at = position(number, (f.end + MAGIC.len()) as u64);
                state.hold(f.trace_id, at, number);
                state.last = at;
                entries.push(Entry {
                    trace_id: f.trace_id,
                    payload: f.payload.to_vec(),
                });
            }
        }
        let counts = Counts::default();
        counts
            .entries
            .store(entries.len() as u64, Ordering::Release);
        counts.files_of(&state);
        let segments = Segments {
            state: Arc::new(Mutex::new(state)),
            counts: Arc::new(counts),
        };
        let position = segments.lock()?.last;
        Ok(Opened {
            segments,
            entries,
            position,
        })
    }

    fn lock(&self) -> Result<MutexGuard<'_, State>, JournalError> {
        self.state.lock().map_err(|_| JournalError::Poisoned)
    }

    /// Appends groups of entries (one group per request) and makes them durable with one
    /// `sync_data` (two when a segment rolls over on the way). Returns, for each group, the
    /// position after it (of its last entry, or the one before when it has none): what
    /// [`Segments::forget_upto`] takes. On an error nothing of the groups counts as written
    /// and the segment is left for a new one (what was written of them may be replayed at the
    /// next start: they were not acknowledged, so at worst their spans come twice).
    pub fn append(&self, groups: &[Vec<Entry>]) -> Result<Vec<Position>, JournalError> {
        let mut state = self.lock()?;
        match state.write(groups) {
            Ok((positions, written)) => {
                let n = written.len() as u64;
                for (trace_id, at, number) in written {
                    state.hold(trace_id, at, number);
                }
                if let Some(last) = positions.last() {
                    state.last = state.last.max(*last);
                }
                self.counts.entries.fetch_add(n, Ordering::AcqRel);
                self.counts.files_of(&state);
                Ok(positions)
            }
            Err(e) => {
                state.abandon();
                Err(e)
            }
        }
    }

    /// Forgets each call's entries written up to a position (see [`Segments::append`]):
    /// entries after it hold spans assembly had not seen when it let the call go, and stay.
    /// Deletes the segments left with no entry of any call.
    pub fn forget_upto(&self, calls: &[([u8; 16], Position)]) -> Result<(), JournalError> {
        let mut state = self.lock()?;
        let mut emptied = BTreeSet::new();
        let mut forgotten = 0u64;
        for (trace_id, upto) in calls {
            let Some(held) = state.by_call.get_mut(trace_id) else {
                continue;
            };
            let n = held.partition_point(|(at, _)| at <= upto);
            let gone: Vec<(Position, u32)> = held.drain(..n).collect();
            if held.is_empty() {
                state.by_call.remove(trace_id);
            }
            forgotten += gone.len() as u64;
            for (_, number) in gone {
                let Some(calls) = state.segments.get_mut(&number) else {
                    continue;
                };
                if let Some(count) = calls.get_mut(trace_id) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        calls.remove(trace_id);
                    }
                }
                if calls.is_empty() {
                    emptied.insert(number);
                }
            }
        }
        let mut failed = None;
        for number in emptied {
            if let Err(e) = state.delete(number) {
                failed.get_or_insert(e);
            }
        }
        // After the files: a depth of 0 means no segment is left.
        self.counts.entries.fetch_sub(forgotten, Ordering::AcqRel);
        self.counts.files_of(&state);
        failed.map_or(Ok(()), Err)
    }

    /// Entries not forgotten (for `/metrics`): no I/O, no wait.
    pub fn depth(&self) -> u64 {
        self.counts.entries.load(Ordering::Acquire)
    }

    /// Segment files on disk holding entries not forgotten: no I/O, no wait.
    pub fn files(&self) -> u64 {
        self.counts.files.load(Ordering::Acquire)
    }
}

impl State {
    fn path(&self, number: u32) -> PathBuf {
        self.dir.join(format!("{number:08}.{EXTENSION}"))
    }

    fn hold(&mut self, trace_id: [u8; 16], at: Position, number: u32) {
        *self
            .segments
            .entry(number)
            .or_default()
            .entry(trace_id)
            .or_default() += 1;
        self.by_call.entry(trace_id).or_default().push((at, number));
    }

    /// Writes and syncs the groups; returns their positions and each entry written (not held
    /// yet: [`Segments::append`] holds them once all is durable).
    #[allow(clippy::type_complexity)]
    fn write(
        &mut self,
        groups: &[Vec<Entry>],
    ) -> Result<(Vec<Position>, Vec<([u8; 16], Position, u32)>), JournalError> {
        let mut positions = Vec::with_capacity(groups.len());
        let mut written = Vec::with_capacity(groups.iter().map(Vec::len).sum());
        // Sized once: grown entry by entry, the buffer of a group of large requests was
        // reallocated (and its fresh pages zeroed by the kernel) several times per write.
        let framed = groups
            .iter()
            .flatten()
            .map(|e| frame::framed_len(e.payload.len()));
        let mut buf = Vec::with_capacity(framed.sum());
        let mut last = self.last;
        for group in groups {
            for entry in group {
                let size = frame::framed_len(entry.payload.len()) as u64;
                let number = self.room_for(size, &mut buf)?;
                frame::encode_into(&mut buf, &entry.trace_id, &entry.payload)?;
                let len = self.current.as_ref().map_or(0, |c| c.len);
                last = position(number, len + buf.len() as u64);
                written.push((entry.trace_id, last, number));
            }
            positions.push(last);
        }
        self.flush(&mut buf)?;
        Ok((positions, written))
    }

    /// The number of the segment an entry of `size` bytes goes to: the current one if it has
    /// room (or holds nothing yet: an entry over the limit gets a segment of its own), else a
    /// new one, once `buf` is written and synced to the one it rolls over from.
    fn room_for(&mut self, size: u64, buf: &mut Vec<u8>) -> Result<u32, JournalError> {
        if let Some(current) = &self.current {
            let used = current.len + buf.len() as u64;
            if used <= MAGIC.len() as u64 || used + size <= self.limit {
                return Ok(current.number);
            }
            self.flush(buf)?;
            // Closed: it stays until its calls are forgotten.
            self.current = None;
        }
        self.open_next()
    }

    fn open_next(&mut self) -> Result<u32, JournalError> {
        let number = self.next_number;
        let path = self.path(number);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(io(&path))?;
        self.next_number = number.saturating_add(1);
        file.write_all_at(MAGIC, 0).map_err(io(&path))?;
        // The new name must survive a machine crash as well as the entries synced into it.
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io(&self.dir))?;
        self.current = Some(Current {
            number,
            file,
            len: MAGIC.len() as u64,
            allocated: MAGIC.len() as u64,
        });
        Ok(number)
    }

    /// Writes `buf` to the current segment and syncs it.
    fn flush(&mut self, buf: &mut Vec<u8>) -> Result<(), JournalError> {
        if buf.is_empty() {
            return Ok(());
        }
        let path = self.current.as_ref().map(|c| self.path(c.number));
        let (Some(current), Some(path)) = (self.current.as_mut(), path) else {
            return Ok(());
        };
        let end = current.len + buf.len() as u64;
        current.preallocate(end, self.limit).map_err(io(&path))?;
        current
            .file
            .write_all_at(buf, current.len)
            .map_err(io(&path))?;
        current.len = end;
        buf.clear();
        current.file.sync_data().map_err(io(&path))
    }

    /// After a failed write: the next entry goes to a new segment, so that nothing is written
    /// after a frame that may be cut short. The segment is deleted if it holds nothing else.
    fn abandon(&mut self) {
        if let Some(current) = self.current.take() {
            if !self.segments.contains_key(&current.number) {
                let _ = std::fs::remove_file(self.path(current.number));
            }
        }
    }

    /// Deletes a segment whose calls are all forgotten (the current one too: the next entry
    /// opens a new one).
    fn delete(&mut self, number: u32) -> Result<(), JournalError> {
        self.segments.remove(&number);
        if self.current.as_ref().is_some_and(|c| c.number == number) {
            self.current = None;
        }
        let path = self.path(number);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(io(&path)(e)),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(trace: u8, text: &str) -> Entry {
        Entry {
            trace_id: [trace; 16],
            payload: text.as_bytes().to_vec(),
        }
    }

    fn segment_files(data: &Path) -> Vec<u32> {
        list(&data.join(JOURNAL_DIR))
            .unwrap()
            .into_iter()
            .map(|(n, _)| n)
            .collect()
    }

    fn texts(entries: &[Entry]) -> Vec<String> {
        entries
            .iter()
            .map(|e| String::from_utf8_lossy(&e.payload).into_owned())
            .collect()
    }

    #[test]
    fn entries_come_back_in_order_and_a_start_writes_a_new_segment() {
        let data = tempfile::tempdir().unwrap();
        let opened = Segments::open(data.path()).unwrap();
        assert!(opened.entries.is_empty());
        assert_eq!(opened.position, 0);
        let positions = opened
            .segments
            .append(&[
                vec![entry(1, "a"), entry(2, "b")],
                vec![],
                vec![entry(1, "c")],
            ])
            .unwrap();
        assert!(positions[0] > 0);
        assert_eq!(positions[0], positions[1], "no entry: the position before");
        assert!(positions[2] > positions[1]);
        assert_eq!(opened.segments.depth(), 3);
        drop(opened);

        let again = Segments::open(data.path()).unwrap();
        assert_eq!(texts(&again.entries), ["a", "b", "c"]);
        assert_eq!(again.position, positions[2]);
        let later = again.segments.append(&[vec![entry(3, "d")]]).unwrap();
        assert!(later[0] > positions[2], "positions grow across starts");
        assert_eq!(segment_files(data.path()), [1, 2]);
        assert_eq!(entries_on_disk(data.path()).unwrap(), 4);
    }

    #[test]
    fn a_segment_goes_once_every_call_in_it_is_forgotten() {
        let data = tempfile::tempdir().unwrap();
        // Rolls over after every entry or so.
        let opened = Segments::open_with_limit(data.path(), 40).unwrap();
        let j = opened.segments;
        let p = j.append(&[vec![entry(1, "one"), entry(2, "two")]]).unwrap();
        let q = j.append(&[vec![entry(2, "two again")]]).unwrap();
        assert_eq!(segment_files(data.path()), [1, 2, 3]);

        // Call 1 held only segment 1: it goes.
        j.forget_upto(&[([1; 16], p[0])]).unwrap();
        assert_eq!(segment_files(data.path()), [2, 3]);
        // Call 2 forgotten up to its first entry: segment 3 (its later one) stays.
        j.forget_upto(&[([2; 16], p[0])]).unwrap();
        assert_eq!(segment_files(data.path()), [3]);
        assert_eq!(j.depth(), 1);
        // The segment being written goes too once its calls are forgotten.
        j.forget_upto(&[([2; 16], q[0])]).unwrap();
        assert!(segment_files(data.path()).is_empty());
        assert_eq!(j.depth(), 0);
        assert_eq!(j.files(), 0);
        // The next entry opens a new segment.
        j.append(&[vec![entry(4, "four")]]).unwrap();
        assert_eq!(segment_files(data.path()), [4]);
    }

    #[test]
    fn a_segment_shared_with_a_call_still_held_stays() {
        let data = tempfile::tempdir().unwrap();
        let j = Segments::open(data.path()).unwrap().segments;
        let p = j.append(&[vec![entry(1, "one"), entry(2, "two")]]).unwrap();
        j.forget_upto(&[([1; 16], p[0])]).unwrap();
        assert_eq!(segment_files(data.path()), [1]);
        assert_eq!(j.depth(), 1);
        // Forgetting a call twice, or one never written, changes nothing.
        j.forget_upto(&[([1; 16], p[0]), ([9; 16], p[0])]).unwrap();
        assert_eq!(j.depth(), 1);
        j.forget_upto(&[([2; 16], p[0])]).unwrap();
        assert!(segment_files(data.path()).is_empty());
    }

    #[test]
    fn replayed_entries_are_forgotten_like_new_ones() {
        let data = tempfile::tempdir().unwrap();
        let p = Segments::open(data.path())
            .unwrap()
            .segments
            .append(&[vec![entry(1, "one")]])
            .unwrap();
        let again = Segments::open(data.path()).unwrap();
        let q = again.segments.append(&[vec![entry(1, "two")]]).unwrap();
        assert_eq!(segment_files(data.path()), [1, 2]);
        again.segments.forget_upto(&[([1; 16], q[0])]).unwrap();
        assert!(segment_files(data.path()).is_empty(), "{p:?} {q:?}");
    }

    #[test]
    fn a_torn_tail_is_left_out_and_writing_goes_on_in_a_new_segment() {
        let data = tempfile::tempdir().unwrap();
        let j = Segments::open(data.path()).unwrap().segments;
        j.append(&[vec![entry(1, "whole")], vec![entry(2, "killed mid-write")]])
            .unwrap();
        drop(j);
        let path = data.path().join(JOURNAL_DIR).join("00000001.seg");
        let end = (MAGIC.len() + frame::framed_len(5) + frame::framed_len(16)) as u64;
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        assert!(file.metadata().unwrap().len() > end, "space written ahead");
        // Killed mid-write: the entry's last bytes are still the zeros written ahead.
        file.write_all_at(&[0; 3], end - 3).unwrap();

        let again = Segments::open(data.path()).unwrap();
        assert_eq!(texts(&again.entries), ["whole"]);
        again.segments.append(&[vec![entry(3, "after")]]).unwrap();
        drop(again);
        let third = Segments::open(data.path()).unwrap();
        assert_eq!(texts(&third.entries), ["whole", "after"]);
        drop(third);

        // A file that ends inside the entry: torn the same way.
        file.set_len(end - 3).unwrap();
        let fourth = Segments::open(data.path()).unwrap();
        assert_eq!(texts(&fourth.entries), ["whole", "after"]);
    }

    #[test]
    fn a_segment_is_written_ahead_in_stretches_that_double() {
        let data = tempfile::tempdir().unwrap();
        let j = Segments::open(data.path()).unwrap().segments;
        let path = data.path().join(JOURNAL_DIR).join("00000001.seg");
        let size = || std::fs::metadata(&path).unwrap().len();
        j.append(&[vec![entry(1, "small")]]).unwrap();
        let first = size();
        assert_eq!(first, MAGIC.len() as u64 + PREALLOCATE_MIN);
        // Entries fill the stretch without growing the file...
        let kib = "k".repeat(1000);
        let fits = (PREALLOCATE_MIN as usize - 200) / frame::framed_len(kib.len());
        for _ in 0..fits {
            j.append(&[vec![entry(1, &kib)]]).unwrap();
        }
        assert_eq!(size(), first);
        // ...and the next stretch is as long as the file.
        j.append(&[vec![entry(1, &kib), entry(1, &kib)]]).unwrap();
        assert_eq!(size(), 2 * first);
        drop(j);
        let again = Segments::open(data.path()).unwrap();
        assert_eq!(again.entries.len(), fits + 3);
    }

    #[test]
    fn a_corrupt_entry_is_never_replayed_nor_anything_after_it() {
        let data = tempfile::tempdir().unwrap();
        let j = Segments::open(data.path()).unwrap().segments;
        j.append(&[vec![
            entry(1, "first"),
            entry(2, "second"),
            entry(3, "third"),
        ]])
        .unwrap();
        drop(j);
        let path = data.path().join(JOURNAL_DIR).join("00000001.seg");
        let mut bytes = std::fs::read(&path).unwrap();
        let second = MAGIC.len() + frame::framed_len(5);
        bytes[second + frame::HEADER] ^= 0xff;
        std::fs::write(&path, bytes).unwrap();
        let again = Segments::open(data.path()).unwrap();
        assert_eq!(texts(&again.entries), ["first"]);
        assert_eq!(again.segments.depth(), 1);
    }

    #[test]
    fn imported_entries_are_read_back_first() {
        let data = tempfile::tempdir().unwrap();
        import(data.path(), &[entry(1, "old a"), entry(2, "old b")]).unwrap();
        let opened = Segments::open(data.path()).unwrap();
        assert_eq!(texts(&opened.entries), ["old a", "old b"]);
        let p = opened.segments.append(&[vec![entry(1, "new")]]).unwrap();
        opened
            .segments
            .forget_upto(&[([1; 16], p[0]), ([2; 16], p[0])])
            .unwrap();
        assert!(segment_files(data.path()).is_empty());
    }

    #[test]
    fn an_empty_or_unwritten_segment_is_cleared_at_start() {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join(JOURNAL_DIR);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("00000005.seg"), &MAGIC[..3]).unwrap();
        std::fs::write(dir.join("notes.txt"), b"not ours").unwrap();
        let opened = Segments::open(data.path()).unwrap();
        assert!(opened.entries.is_empty());
        assert!(segment_files(data.path()).is_empty());
        opened.segments.append(&[vec![entry(1, "x")]]).unwrap();
        assert_eq!(segment_files(data.path()), [6], "numbers are not reused");
        assert!(dir.join("notes.txt").exists());
    }
}
