//! A LiveKit worker's end-of-job upload (`POST /observability/recordings/v0`), built as
//! livekit-agents builds it: its `MetricsRecordingHeader`, aiohttp's multipart parts (names,
//! filenames, content types), the chat history and, when there is one, the audio.

use std::io::Write;

use prost::Message;

/// The worker's `MetricsRecordingHeader` (livekit_metrics.proto), the fields it sets.
#[derive(Clone, PartialEq, prost::Message)]
pub struct RecordingHeader {
    #[prost(string, tag = "1")]
    pub room_id: String,
    #[prost(message, optional, tag = "4")]
    pub start_time: Option<prost_types::Timestamp>,
    #[prost(string, tag = "8")]
    pub job_id: String,
    #[prost(bool, tag = "9")]
    pub simulated: bool,
}

/// One part of aiohttp's `MultipartWriter("form-data")` as livekit-agents fills it: its
/// content type, `Content-Disposition: form-data; name=...; filename=...`, `Content-Length`.
fn part(out: &mut Vec<u8>, boundary: &str, name: &str, file: &str, kind: &str, body: &[u8]) {
    write!(
        out,
        "--{boundary}\r\nContent-Type: {kind}\r\nContent-Disposition: form-data; name=\"{name}\"; \
         filename=\"{file}\"\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

/// The body and content type of livekit-agents' `_upload_session_report` (no audio part when
/// the session recorded none).
pub fn livekit_upload(
    header: &RecordingHeader,
    chat: &str,
    audio: Option<&[u8]>,
) -> (String, Vec<u8>) {
    let boundary = format!("{:032x}", 0x5eed_u128 << 64 | 0xb0da);
    let mut body = Vec::new();
    let header = header.encode_to_vec();
    part(
        &mut body,
        &boundary,
        "header",
        "header.binpb",
        "application/protobuf",
        &header,
    );
    part(
        &mut body,
        &boundary,
        "chat_history",
        "chat_history.json",
        "application/json",
        chat.as_bytes(),
    );
    if let Some(audio) = audio {
        part(
            &mut body,
            &boundary,
            "audio",
            "recording.ogg",
            "audio/ogg",
            audio,
        );
    }
    write!(body, "--{boundary}--\r\n").unwrap();
    (format!("multipart/form-data; boundary={boundary}"), body)
}
