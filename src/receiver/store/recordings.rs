//! Recordings' rows, shared by every backend: what each upload named, the call it belongs to
//! once that call is stored, what the file's header said, and whether its audio is still kept.
//!
//! An upload names a call by its call id (and perhaps trace id), or, from LiveKit, by room and
//! job; it is *pending* until a call it names is stored, then *attached* to that call. A call's
//! recording is its latest attached upload with audio.

use crate::receiver::calllog::LiveKitJob;

/// One recording's row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RecordingRow {
    /// Its id (also its file's name).
    pub id: String,
    /// Who sent it: `upload` (`PUT /v1/recordings/{callId}`) or `livekit`.
    pub source: String,
    /// The call id the upload named.
    pub named_call_id: Option<String>,
    /// The trace id the upload named.
    pub named_trace_id: Option<String>,
    /// The LiveKit room the upload named.
    pub room_id: Option<String>,
    /// The LiveKit job the upload named.
    pub job_id: Option<String>,
    /// The call it is attached to (`None` while pending).
    pub call_id: Option<String>,
    /// The trace of the call it is attached to.
    pub trace_id: Option<String>,
    /// The audio's media type; `None` for an upload without audio (a chat history alone).
    pub media_type: Option<String>,
    /// The audio's size.
    pub bytes: u64,
    /// The audio's duration, from its header.
    pub duration_ms: Option<i64>,
    /// Its channels.
    pub channels: Option<u32>,
    /// Its sample rate, Hz.
    pub sample_rate: Option<u32>,
    /// When its first sample was captured, Unix ms, if the upload said.
    pub started_at_ms: Option<i64>,
    /// When it was received, Unix ms.
    pub received_ms: i64,
    /// Why its audio is gone (`retention`, `quota`, `replaced`), if it is.
    pub removed: Option<String>,
}

impl RecordingRow {
    /// Whether its audio file is kept.
    pub fn has_audio(&self) -> bool {
        self.media_type.is_some() && self.removed.is_none()
    }
}

/// Where a call can be found: its call id, trace id and LiveKit job (what pending uploads are
/// matched against).
#[derive(Debug, Clone, Copy)]
pub struct CallNames<'a> {
    /// The call id.
    pub call_id: &'a str,
    /// The trace id.
    pub trace_id: &'a str,
    /// Its LiveKit room and job, if any.
    pub livekit: Option<&'a LiveKitJob>,
}
