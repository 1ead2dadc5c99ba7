//! Recordings: a call's audio, received from the agent (`PUT /v1/recordings/{callId}`, or a
//! LiveKit worker's upload at the end of its job), kept as a file beside the embedded store or
//! in chunks in a store shared by a fleet (so that any receiver serves it), attached to its
//! call, and served with HTTP Range so a player can seek to any turn.
//!
//! - [`media`]: the formats kept and what a file's header says (duration, channels, rate);
//! - [`range`]: which bytes a Range request gets;
//! - [`link`]: the API path of a recording and signed, expiring links that need no token;
//! - [`align`]: where the call's time zero falls in the audio (`startOffsetMs`);
//! - [`livekit`]: LiveKit's upload (the multipart parts and the protobuf header);
//! - [`files`]: the only file I/O: uploads written atomically, removed, the link key;
//! - [`audio`]: where audio bytes live ([`audio::AudioHome`]: files, or the shared store's
//!   chunks), chosen once at start, and reading a range of either.
//!
//! The first five are pure. [`Recordings`] is the shell the ingest and API handlers share: it
//! keeps an upload (header read, audio kept, row stored, the recorder told), finds a call's
//! recording, and [`Recordings::sweep`] applies the bounds: uploads that name no call within
//! the idle timeout, recordings past the retention period, older recordings a newer one
//! replaced, and the oldest recordings past the total quota, are removed and counted.
//!
//! In a fleet every receiver sweeps the same shared rows: each removal is idempotent (marking
//! a row removed, deleting a pending row, deleting chunks), and only the receiver whose change
//! took effect counts and logs it.
//!
//! Which call an upload belongs to is the recorder's to decide (`store::recorder`): it is the
//! one writer of call logs, so attaching a recording and numbering the revision it makes happen
//! in one place.

pub mod align;
pub mod audio;
pub mod files;
pub mod link;
pub mod livekit;
pub mod media;
pub mod range;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch, Notify};

use crate::receiver::calllog::{CallLog, Recording};
use crate::receiver::config::ServeConfig;
use crate::receiver::metrics::ReceiverMetrics;
use crate::receiver::redact::Redactor;
use crate::receiver::store::{now_ms, RecordingRow, Store, StoreError};
use audio::{AudioHome, KeptAudio};
use files::{Files, Incoming, Received};
use link::Links;
use media::{MediaError, MediaType};

/// How often the bounds are applied when nothing asks sooner: retention and orphans are
/// counted in minutes and more, so a minute late is nothing; the quota is also checked after
/// every upload.
const SWEEP_INTERVAL: Duration = Duration::from_secs(60);

/// Default of [`Limits::max_recording_bytes`]: a two-hour call as 16 kHz mono WAV (230 MB)
/// fits; a runaway or hostile upload stops there.
pub const DEFAULT_MAX_RECORDING_BYTES: u64 = 256 * 1024 * 1024;
/// Default of [`Limits::max_total_bytes`]: about 700 hours of Opus or 40 of 16 kHz WAV.
pub const DEFAULT_MAX_TOTAL_BYTES: u64 = 10 * 1024 * 1024 * 1024;
/// Default retention, days: a month of calls to listen back to.
pub const DEFAULT_RETENTION_DAYS: u64 = 30;
/// Default lifetime of a link handed to a sink, seconds: a week, for an evaluation that runs
/// later or a webhook consumer that retries.
pub const DEFAULT_LINK_TTL_SECS: u64 = 7 * 24 * 60 * 60;
/// Lifetime of the signed link in an API answer's `recording.url`, seconds: a page kept open
/// for a working day can still seek.
pub const API_LINK_TTL_SECS: i64 = 12 * 60 * 60;

/// What bounds the recordings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// One recording's size at most (413 past it).
    pub max_recording_bytes: u64,
    /// All recordings' audio at most: the oldest are removed past it (0: no bound).
    pub max_total_bytes: u64,
    /// Recordings older than this are removed, ms (0: kept until the quota takes them).
    pub retention_ms: u64,
    /// An upload that names no stored call this long after it arrived is removed, ms.
    pub orphan_after_ms: u64,
}

/// Why a recording could not be kept.
#[derive(Debug, thiserror::Error)]
pub enum KeepError {
    /// The file is not the audio it claims to be.
    #[error(transparent)]
    Media(#[from] MediaError),
    /// The file could not be moved into place.
    #[error("cannot keep the recording: {0}")]
    Io(#[from] std::io::Error),
    /// Its row could not be stored.
    #[error("cannot store the recording: {0}")]
    Store(#[from] StoreError),
    /// The blocking task failed.
    #[error("the recording task failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Why the recordings could not be opened at start.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The folder or the link key could not be read or created.
    #[error("recordings in {dir}: {source}")]
    Io {
        /// The data directory.
        dir: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store could not list what it keeps, or give the fleet's link key.
    #[error("recordings: {0}")]
    Store(#[from] StoreError),
    /// No link key could be made, or the shared store's is not one.
    #[error("recordings' link key: {0}")]
    LinkKey(String),
    /// `public_url` is not an http(s) URL.
    #[error("invalid public_url {url:?}: {why}")]
    PublicUrl {
        /// What was configured.
        url: String,
        /// Why it is refused.
        why: String,
    },
    /// The task opening them did not finish (a panic).
    #[error("recordings: the task opening them failed: {0}")]
    Task(#[from] tokio::task::JoinError),
}

/// Milliseconds in a day, for `recording_retention_days`.
const DAY_MS: u64 = 24 * 60 * 60 * 1000;

/// `public_url`, checked: an http(s) URL.
fn public_url(config: &ServeConfig) -> Result<Option<reqwest::Url>, OpenError> {
    let Some(text) = &config.public_url else {
        return Ok(None);
    };
    let refused = |why: String| OpenError::PublicUrl {
        url: text.clone(),
        why,
    };
    let url = reqwest::Url::parse(text).map_err(|e| refused(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refused("not an http or https URL".into()));
    }
    Ok(Some(url))
}

/// An upload, fully received, to keep: its audio (if any) and what it names.
#[derive(Debug)]
pub struct Upload {
    /// The audio, written and synced, with the format the upload named.
    pub audio: Option<(Received, MediaType)>,
    /// The row to store, without what the header gives (filled by [`Recordings::keep`]).
    pub row: RecordingRow,
    /// LiveKit's chat history, as uploaded.
    pub chat_history: Option<String>,
}

struct Inner {
    /// Where uploads arrive.
    files: Files,
    /// Where kept audio lives.
    audio: AudioHome,
    store: Store,
    links: Links,
    limits: Limits,
    metrics: ReceiverMetrics,
    attach: mpsc::Sender<String>,
    sweep: Arc<Notify>,
    redactor: Option<Arc<Redactor>>,
}

/// The recordings of a receiver. Cheap to clone.
#[derive(Clone)]
pub struct Recordings {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Recordings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recordings")
            .field("files", &self.inner.files)
            .field("audio", &self.inner.audio)
            .field("limits", &self.inner.limits)
            .finish()
    }
}

/// The setting recordings are opened with.
pub struct Setup {
    /// The data directory.
    pub data_dir: PathBuf,
    /// The store their rows are in.
    pub store: Store,
    /// The bounds.
    pub limits: Limits,
    /// The receiver's public base URL, for sinks' links.
    pub public_url: Option<reqwest::Url>,
    /// How long a sink's link works, seconds.
    pub link_ttl_secs: u64,
    /// The receiver's metrics.
    pub metrics: ReceiverMetrics,
    /// Where kept uploads are announced (the recorder attaches them).
    pub attach: mpsc::Sender<String>,
    /// Redacts a chat history before it is stored (`[redaction] mode = "store"`).
    pub redactor: Option<Arc<Redactor>>,
}

impl Recordings {
    /// The recordings of a receiver configured by `config`: opened on the blocking pool (the
    /// folder is cleaned of what a crash left), kept uploads announced on `attach`, chat
    /// histories redacted by `redactor` before they are stored.
    pub async fn start(
        config: &ServeConfig,
        store: Store,
        metrics: ReceiverMetrics,
        attach: mpsc::Sender<String>,
        redactor: Option<Arc<Redactor>>,
    ) -> Result<Recordings, OpenError> {
        let setup = Setup {
            data_dir: config.data_dir.clone(),
            store,
            limits: Limits {
                max_recording_bytes: config.max_recording_bytes,
                max_total_bytes: config.max_recordings_bytes,
                retention_ms: config.recording_retention_days.saturating_mul(DAY_MS),
                orphan_after_ms: config.idle_timeout_ms,
            },
            public_url: public_url(config)?,
            link_ttl_secs: config.recording_link_ttl_secs,
            metrics,
            attach,
            redactor,
        };
        tokio::task::spawn_blocking(move || Recordings::open(setup)).await?
    }

    /// Opens the folder (removing what a crash left half-written), where audio lives (removing
    /// audio no row keeps) and the link key (created at the first start). Blocks.
    pub fn open(setup: Setup) -> Result<Recordings, OpenError> {
        let io = |source| OpenError::Io {
            dir: setup.data_dir.display().to_string(),
            source,
        };
        let files = Files::open(&setup.data_dir).map_err(io)?;
        let (audio, key) = AudioHome::open(&setup.store, files.clone(), &setup.data_dir)?;
        let metrics = setup.metrics;
        metrics.recording_bounds(
            setup.limits.max_recording_bytes,
            setup.limits.max_total_bytes,
        );
        metrics.set_recordings_bytes(setup.store.recordings_bytes()?);
        Ok(Recordings {
            inner: Arc::new(Inner {
                files,
                audio,
                store: setup.store,
                links: Links::new(key, setup.public_url, setup.link_ttl_secs),
                limits: setup.limits,
                metrics,
                attach: setup.attach,
                sweep: Arc::new(Notify::new()),
                redactor: setup.redactor,
            }),
        })
    }

    /// The links recordings are signed with.
    pub fn links(&self) -> &Links {
        &self.inner.links
    }

    /// The bounds.
    pub fn limits(&self) -> Limits {
        self.inner.limits
    }

    /// The receiver's metrics.
    pub fn metrics(&self) -> &ReceiverMetrics {
        &self.inner.metrics
    }

    /// What wakes [`Recordings::sweep`] before its interval: the recorder notifies it when it
    /// attaches recordings (a newer one may replace an older).
    pub fn sweep_trigger(&self) -> Arc<Notify> {
        self.inner.sweep.clone()
    }

    /// A new recording id (128 random bits, hex: also its file's name).
    pub fn new_id() -> String {
        format!("{:032x}", fastrand::u128(..))
    }

    /// A temporary file for an upload's audio.
    pub async fn incoming(&self, id: &str) -> std::io::Result<Incoming> {
        self.inner.files.incoming(id).await
    }

    /// Keeps an upload: reads its audio's header (refusing what is not the audio it claims),
    /// keeps the audio where it lives, stores its row, and tells the recorder. Returns the row.
    pub async fn keep(&self, upload: Upload) -> Result<RecordingRow, KeepError> {
        let this = self.clone();
        let row = tokio::task::spawn_blocking(move || this.keep_blocking(upload)).await??;
        self.inner.metrics.recording_received();
        // The recorder attaches it now if its call is stored; if the queue is full, the
        // recorder's start, or the call's own call log, attaches it later.
        let _ = self.inner.attach.try_send(row.id.clone());
        self.inner.sweep.notify_one();
        Ok(row)
    }

    fn keep_blocking(&self, upload: Upload) -> Result<RecordingRow, KeepError> {
        let mut row = upload.row;
        if let Some((received, media)) = &upload.audio {
            let file = std::fs::File::open(received.path())?;
            let info = media::probe(std::io::BufReader::new(file), *media)?;
            row.media_type = Some(media.as_str().to_string());
            row.bytes = received.bytes;
            row.duration_ms = Some(info.duration_ms);
            row.channels = info.channels.map(u32::from);
            row.sample_rate = info.sample_rate;
        }
        let chat_history = match (upload.chat_history, &self.inner.redactor) {
            (Some(chat), Some(redactor)) => Some(redactor.json_document(&chat).unwrap_or(chat)),
            (chat, _) => chat,
        };
        self.inner.audio.keep(
            &self.inner.store,
            upload.audio,
            &row,
            chat_history.as_deref(),
        )?;
        tracing::info!(
            recording = %row.id, source = %row.source, call_id = ?row.named_call_id,
            room_id = ?row.room_id, job_id = ?row.job_id, bytes = row.bytes,
            duration_ms = ?row.duration_ms, "recording kept"
        );
        Ok(row)
    }

    /// A call's recording row (kept or removed), and where its audio is when kept. Blocks.
    pub fn find(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<(RecordingRow, Option<KeptAudio>)>, StoreError> {
        let Some(row) = self.inner.store.call_recording(call_id, trace_id)? else {
            return Ok(None);
        };
        let audio = self.inner.audio.kept(&row);
        Ok(Some((row, audio)))
    }

    /// A call's LiveKit chat history. Blocks.
    pub fn chat_history(
        &self,
        call_id: &str,
        trace_id: &str,
    ) -> Result<Option<String>, StoreError> {
        self.inner.store.chat_history(call_id, trace_id)
    }

    /// Applies the bounds every [`SWEEP_INTERVAL`], and after every upload, until `stop`.
    pub async fn sweep(self, mut stop: watch::Receiver<bool>) {
        loop {
            let this = self.clone();
            match tokio::task::spawn_blocking(move || this.sweep_once(now_ms())).await {
                Ok(Err(e)) => tracing::warn!(error = %e, "cannot apply the recordings' bounds"),
                Err(e) => tracing::warn!(error = %e, "the recordings' sweep failed"),
                Ok(Ok(())) => {}
            }
            tokio::select! {
                _ = tokio::time::sleep(SWEEP_INTERVAL) => {}
                _ = self.inner.sweep.notified() => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        }
    }

    /// One pass of the bounds at `now` (Unix ms). Blocks.
    pub fn sweep_once(&self, now: i64) -> Result<(), StoreError> {
        let store = &self.inner.store;
        let limits = self.inner.limits;
        let before = |ms: u64| now.saturating_sub(i64::try_from(ms).unwrap_or(i64::MAX));
        for row in store.orphaned_recordings(before(limits.orphan_after_ms))? {
            if store.delete_pending_recording(&row.id)? {
                self.inner.audio.remove(&row);
                self.inner.metrics.recording_removed("orphaned");
                tracing::info!(recording = %row.id, call_id = ?row.named_call_id,
                    room_id = ?row.room_id, job_id = ?row.job_id,
                    "recording removed: it named no call within the idle timeout");
            }
        }
        for row in store.replaced_recordings()? {
            self.remove_audio(&row, "replaced")?;
        }
        if limits.retention_ms > 0 {
            for row in store.kept_recordings_before(before(limits.retention_ms))? {
                self.remove_audio(&row, "retention")?;
            }
        }
        let max_total = limits.max_total_bytes;
        if max_total > 0 && store.recordings_bytes()? > max_total {
            // The list before the total: when other receivers sweep at the same time, a total
            // read after some of their removals against a list read before them makes this
            // pass stop early (the next pass goes on), never remove more than the quota asks.
            let oldest_first = store.kept_recordings_before(i64::MAX)?;
            let mut total = store.recordings_bytes()?;
            for row in oldest_first {
                if total <= max_total {
                    break;
                }
                self.remove_audio(&row, "quota")?;
                total = total.saturating_sub(row.bytes);
            }
        }
        self.inner
            .metrics
            .set_recordings_bytes(store.recordings_bytes()?);
        Ok(())
    }

    /// Removes a recording's audio for `reason`, counted by the one receiver whose mark took
    /// effect; the audio is removed either way (a receiver that marked it and died before
    /// removing it leaves it to the next).
    fn remove_audio(&self, row: &RecordingRow, reason: &'static str) -> Result<(), StoreError> {
        let marked = self.inner.store.remove_recording_audio(&row.id, reason)?;
        self.inner.audio.remove(row);
        if marked {
            self.inner.metrics.recording_removed(reason);
            tracing::info!(recording = %row.id, call_id = ?row.call_id, reason, "recording audio removed");
        }
        Ok(())
    }
}

/// The `recording` of a call log from its recording's row: `None` when the row has no audio
/// kept. Pure.
pub fn describe(row: &RecordingRow, log: &CallLog) -> Option<Recording> {
    if !row.has_audio() {
        return None;
    }
    let call_started_ms = crate::receiver::store::unix_ms(&log.started_at);
    Some(Recording {
        url: link::path(&log.id, &log.trace_id, None),
        media_type: row.media_type.clone()?,
        duration_ms: row.duration_ms.unwrap_or(0),
        start_offset_ms: align::start_offset_ms(call_started_ms, row.started_at_ms),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_call_log_describes_its_kept_recording() {
        let mut log = crate::receiver::calllog::bare_call_log("c 1");
        log.started_at = "2026-03-21T10:00:01.500Z".to_string();
        let mut row = RecordingRow {
            media_type: Some("audio/ogg".into()),
            duration_ms: Some(9000),
            started_at_ms: Some(crate::receiver::store::unix_ms("2026-03-21T10:00:00.000Z")),
            ..RecordingRow::default()
        };
        assert_eq!(
            describe(&row, &log),
            Some(Recording {
                url: "/v1/recordings/c%201?traceId=4bf92f3577b34da6a3ce929d0e0e4736".into(),
                media_type: "audio/ogg".into(),
                duration_ms: 9000,
                start_offset_ms: 1500,
            })
        );
        row.removed = Some("quota".into());
        assert_eq!(describe(&row, &log), None);
    }
}
