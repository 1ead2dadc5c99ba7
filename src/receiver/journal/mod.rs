//! The journal: makes "accepted" durable. Between ingest and assembly, every batch is appended
//! to the journal's segment files (`<data dir>/journal/`, see [`segments`]) and synced before
//! the exporter hears "accepted". The journal mirrors what assembly holds: a call's entries are
//! forgotten when assembly lets the call go (its revision window is over, it was evicted, or at
//! a clean stop once its last call log is stored), and only entries assembly had seen by then
//! ([`Journaled::position`]); a segment is deleted once every call with entries in it is
//! forgotten. After a restart or a crash the receiver replays the journal into assembly, so
//! calls that were in flight finish with all their spans, and calls that were finished but
//! still open to revisions are held again: a late span still revises them, and the call log
//! built again is recognised as the one stored (the server stores no revision that repeats the
//! last one).
//!
//! One writer thread does group commit: it takes every submission waiting (up to
//! [`MAX_GROUP`]), appends them and syncs the segment once (`fsync`), then hands the batches to
//! assembly and answers the exporters. Small batches from many agents cost one fsync per group,
//! not per request.
//!
//! Parts: [`records`] encodes records (pure), [`frame`] frames entries with their length,
//! trace id and checksum (pure), [`segments`] owns the files.

pub mod frame;
pub mod records;
pub mod segments;

use std::path::Path;

use tokio::sync::{mpsc, oneshot};

pub use records::{decode, encode, Replay};
pub use segments::{entries_on_disk, Entry, JournalError, Position, Segments, JOURNAL_DIR};

use crate::receiver::span::Batch;

/// Submissions written per sync at most: bounds the latency of the first one.
pub const MAX_GROUP: usize = 256;

/// A batch waiting to be journaled, and where to say whether it was.
#[derive(Debug)]
pub struct Submission {
    /// The records.
    pub batch: Batch,
    /// Answered once the batch is durable and handed to assembly.
    pub ack: oneshot::Sender<Result<(), NotJournaled>>,
}

/// Why a submission was not journaled and handed on (the submitter asks the exporter to retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NotJournaled {
    /// The journal could not be written (disk full, I/O error).
    WriteFailed,
    /// Assembly has stopped taking batches (the receiver is shutting down).
    AssemblyStopped,
}

/// The journal at a receiver's start: its segments (none when the journal is off), what they
/// hold from the last run, and the position of their last entry.
#[derive(Debug, Default)]
pub struct Start {
    /// The segments new batches go to, shared by the writer and the recorder (which forgets).
    pub segments: Option<Segments>,
    /// The records to replay into assembly.
    pub replay: Replay,
    /// The position of the last entry read (0 when empty).
    pub position: Position,
}

impl Start {
    /// Reads what the journal of `data_dir` holds (on the blocking pool); nothing when
    /// `enabled` is false (the journal is off: `--no-journal`).
    pub async fn read(
        data_dir: &Path,
        enabled: bool,
    ) -> Result<Result<Start, JournalError>, tokio::task::JoinError> {
        if !enabled {
            return Ok(Ok(Start::default()));
        }
        let dir = data_dir.to_path_buf();
        let opened = tokio::task::spawn_blocking(move || Segments::open(&dir)).await?;
        Ok(opened.map(|opened| Start {
            replay: decode(opened.entries),
            position: opened.position,
            segments: Some(opened.segments),
        }))
    }
}

/// A batch on its way to assembly, with the journal's position after its entries.
#[derive(Debug)]
pub struct Journaled {
    /// The position of the batch's last journal entry (0 without a journal): once assembly has
    /// taken this batch, a call it lets go owns every entry of its trace up to here.
    pub position: Position,
    /// The records.
    pub batch: Batch,
}

/// Runs the journal stage on a plain thread until ingest's side of `submissions` closes.
/// With `segments` `None` (journal off) batches pass straight through.
pub fn spawn_writer(
    segments: Option<Segments>,
    mut submissions: mpsc::Receiver<Submission>,
    assembly: mpsc::Sender<Journaled>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new().name("voicetrace-journal".into()).spawn(move || {
        while let Some(first) = submissions.blocking_recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match submissions.try_recv() {
                    Ok(next) => group.push(next),
                    Err(_) => break,
                }
            }
            let written = match &segments {
                None => Ok(vec![0; group.len()]),
                Some(segments) => {
                    let entries: Vec<Vec<Entry>> = group.iter().map(|s| encode(&s.batch)).collect();
                    segments.append(&entries)
                }
            };
            let positions = match written {
                Ok(positions) => positions,
                Err(e) => {
                    tracing::error!(error = %e, "cannot write the span journal: asking exporters to retry");
                    for s in group {
                        let _ = s.ack.send(Err(NotJournaled::WriteFailed));
                    }
                    continue;
                }
            };
            for (s, position) in group.into_iter().zip(positions) {
                let answer = match assembly.blocking_send(Journaled {
                    position,
                    batch: s.batch,
                }) {
                    Ok(()) => Ok(()),
                    Err(_) => Err(NotJournaled::AssemblyStopped),
                };
                let _ = s.ack.send(answer);
            }
        }
    })
}
