//! What a LiveKit worker uploads at the end of a job (`POST /observability/recordings/v0`,
//! livekit-agents' `_upload_session_report`): multipart form-data with a `header` part (the
//! protobuf [`MetricsRecordingHeader`] of livekit/protocol's `livekit_metrics.proto`), a
//! `chat_history` part (JSON) and an `audio` part (`recording.ogg`, audio/ogg); the last two
//! are absent when the worker records no transcript or no audio.

use std::collections::HashMap;

/// The multipart part carrying the header.
pub const PART_HEADER: &str = "header";
/// The multipart part carrying the chat history.
pub const PART_CHAT_HISTORY: &str = "chat_history";
/// The multipart part carrying the audio.
pub const PART_AUDIO: &str = "audio";

/// `livekit.MetricsRecordingHeader`, with the proto's field numbers (2 is reserved).
#[derive(Clone, PartialEq, prost::Message)]
pub struct MetricsRecordingHeader {
    /// The room's SID.
    #[prost(string, tag = "1")]
    pub room_id: String,
    /// The recording's duration, ms (as the worker measured it; the file's header is read
    /// instead).
    #[prost(uint64, tag = "3")]
    pub duration: u64,
    /// When the recording started.
    #[prost(message, optional, tag = "4")]
    pub start_time: Option<prost_types::Timestamp>,
    /// The room's tags.
    #[prost(map = "string, string", tag = "5")]
    pub room_tags: HashMap<String, String>,
    /// The room's name.
    #[prost(string, tag = "6")]
    pub room_name: String,
    /// When the room started.
    #[prost(message, optional, tag = "7")]
    pub room_start_time: Option<prost_types::Timestamp>,
    /// The job's id.
    #[prost(string, tag = "8")]
    pub job_id: String,
    /// The session is a simulation.
    #[prost(bool, tag = "9")]
    pub simulated: bool,
    /// PII redaction forced on.
    #[prost(bool, tag = "10")]
    pub redaction_enabled: bool,
}

impl MetricsRecordingHeader {
    /// When the recording started, Unix ms; `None` when the header leaves it at zero (the
    /// worker sends 0 when it recorded no audio).
    pub fn started_at_ms(&self) -> Option<i64> {
        let t = self.start_time.as_ref()?;
        let ms = t
            .seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(t.nanos) / 1_000_000);
        (ms > 0).then_some(ms)
    }

    /// The room, `None` when empty.
    pub fn room(&self) -> Option<String> {
        non_empty(&self.room_id)
    }

    /// The job, `None` when empty.
    pub fn job(&self) -> Option<String> {
        non_empty(&self.job_id)
    }
}

fn non_empty(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn the_header_decodes_with_the_protos_field_numbers() {
        // room_id = "RM_1" (1), start_time = {seconds: 1700000000, nanos: 250000000} (4),
        // job_id = "AJ_2" (8), as protobuf encodes them.
        let bytes = [
            0x0a, 4, b'R', b'M', b'_', b'1', 0x22, 11, 0x08, 0x80, 0xe2, 0xcf, 0xaa, 0x06, 0x10,
            0x80, 0xe5, 0x9a, 0x77, 0x42, 4, b'A', b'J', b'_', b'2',
        ];
        let header = MetricsRecordingHeader::decode(&bytes[..]).unwrap();
        assert_eq!(header.room().as_deref(), Some("RM_1"));
        assert_eq!(header.job().as_deref(), Some("AJ_2"));
        assert_eq!(header.started_at_ms(), Some(1_700_000_000_250));
        assert_eq!(MetricsRecordingHeader::default().started_at_ms(), None);
    }
}
