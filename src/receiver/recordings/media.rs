//! The audio formats a recording may be in, named by the upload's `Content-Type`, and what the
//! file's own header says about it (duration, channels, sample rate), read with `lofty`: the
//! client's word is taken for nothing but which format to expect.
//!
//! Pure: [`probe`] reads from any `Read + Seek` (a file in the receiver, a buffer in tests).

use std::io::{Read, Seek};

use lofty::config::ParseOptions;
use lofty::file::{AudioFile, FileType, TaggedFileExt};
use lofty::probe::Probe;

/// A format a recording is kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaType {
    /// RIFF WAVE (Pipecat's `AudioBufferProcessor`, most telephony exports).
    Wav,
    /// Ogg, with Opus (LiveKit's `recording.ogg`) or Vorbis inside.
    Ogg,
    /// MPEG audio layer III (Twilio's recordings, on request).
    Mp3,
    /// FLAC.
    Flac,
}

/// Why a file is not a recording the receiver keeps.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The `Content-Type` names no format the receiver keeps.
    #[error("unsupported Content-Type {0:?}: send audio/wav, audio/ogg, audio/mpeg or audio/flac")]
    Unsupported(String),
    /// The file's header could not be read as audio.
    #[error("the body is not readable as {expected}: {source}")]
    Unreadable {
        /// The format the upload named.
        expected: &'static str,
        /// What the reader said.
        source: lofty::error::LoftyError,
    },
    /// The file is audio, but not in the format the upload named.
    #[error("the body is {found:?}, not the {expected} its Content-Type names")]
    Mismatch {
        /// The format the upload named.
        expected: &'static str,
        /// What the file's header says it is.
        found: FileType,
    },
    /// Reading the file failed.
    #[error("cannot read the recording: {0}")]
    Io(#[from] std::io::Error),
}

impl MediaType {
    /// The format a `Content-Type` names (parameters and case ignored).
    pub fn from_content_type(value: &str) -> Result<MediaType, MediaError> {
        let media = value.split(';').next().unwrap_or("").trim();
        match media.to_ascii_lowercase().as_str() {
            "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => Ok(MediaType::Wav),
            "audio/ogg" | "audio/opus" | "application/ogg" => Ok(MediaType::Ogg),
            "audio/mpeg" | "audio/mp3" => Ok(MediaType::Mp3),
            "audio/flac" | "audio/x-flac" => Ok(MediaType::Flac),
            _ => Err(MediaError::Unsupported(value.to_string())),
        }
    }

    /// The format of a stored media type (as [`MediaType::as_str`] wrote it).
    pub fn parse(stored: &str) -> Option<MediaType> {
        MediaType::from_content_type(stored).ok()
    }

    /// The media type served as `Content-Type` and written in the call log.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Wav => "audio/wav",
            MediaType::Ogg => "audio/ogg",
            MediaType::Mp3 => "audio/mpeg",
            MediaType::Flac => "audio/flac",
        }
    }

    /// The file name extension recordings of this format are kept under.
    pub fn extension(self) -> &'static str {
        match self {
            MediaType::Wav => "wav",
            MediaType::Ogg => "ogg",
            MediaType::Mp3 => "mp3",
            MediaType::Flac => "flac",
        }
    }

    fn accepts(self, found: FileType) -> bool {
        match self {
            MediaType::Wav => found == FileType::Wav,
            MediaType::Ogg => matches!(found, FileType::Opus | FileType::Vorbis | FileType::Speex),
            MediaType::Mp3 => found == FileType::Mpeg,
            MediaType::Flac => found == FileType::Flac,
        }
    }
}

/// What a recording's header says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AudioInfo {
    /// Its duration, ms.
    pub duration_ms: i64,
    /// Its channels, when the header says.
    pub channels: Option<u8>,
    /// Its sample rate in Hz (Opus: the input's rate, as encoded in its header).
    pub sample_rate: Option<u32>,
}

/// Reads the header of a recording expected to be `expected`.
pub fn probe<R: Read + Seek>(reader: R, expected: MediaType) -> Result<AudioInfo, MediaError> {
    let unreadable = |source| MediaError::Unreadable {
        expected: expected.as_str(),
        source,
    };
    let file = Probe::new(reader)
        .options(ParseOptions::new().read_tags(false).read_cover_art(false))
        .guess_file_type()?
        .read()
        .map_err(unreadable)?;
    if !expected.accepts(file.file_type()) {
        return Err(MediaError::Mismatch {
            expected: expected.as_str(),
            found: file.file_type(),
        });
    }
    let properties = file.properties();
    Ok(AudioInfo {
        duration_ms: i64::try_from(properties.duration().as_millis()).unwrap_or(i64::MAX),
        channels: properties.channels(),
        sample_rate: properties.sample_rate(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A WAV file of `frames` frames of 16-bit mono silence at 8 kHz, written byte by byte as
    /// the RIFF specification lays it out.
    fn wav(frames: u32) -> Vec<u8> {
        let data_len = frames * 2;
        let mut out = Vec::new();
        out.extend_from_slice(b"RIFF");
        out.extend_from_slice(&(36 + data_len).to_le_bytes());
        out.extend_from_slice(b"WAVEfmt ");
        out.extend_from_slice(&16u32.to_le_bytes());
        out.extend_from_slice(&1u16.to_le_bytes()); // PCM
        out.extend_from_slice(&1u16.to_le_bytes()); // mono
        out.extend_from_slice(&8000u32.to_le_bytes());
        out.extend_from_slice(&16000u32.to_le_bytes()); // byte rate
        out.extend_from_slice(&2u16.to_le_bytes()); // block align
        out.extend_from_slice(&16u16.to_le_bytes());
        out.extend_from_slice(b"data");
        out.extend_from_slice(&data_len.to_le_bytes());
        out.resize(out.len() + data_len as usize, 0);
        out
    }

    #[test]
    fn content_types_name_formats() {
        for (value, expected) in [
            ("audio/wav", MediaType::Wav),
            ("audio/x-wav", MediaType::Wav),
            ("Audio/Ogg; codecs=opus", MediaType::Ogg),
            ("audio/mpeg", MediaType::Mp3),
            ("audio/flac", MediaType::Flac),
        ] {
            assert_eq!(MediaType::from_content_type(value).unwrap(), expected);
            assert_eq!(MediaType::parse(expected.as_str()), Some(expected));
        }
        assert!(MediaType::from_content_type("application/json").is_err());
        assert!(MediaType::from_content_type("").is_err());
    }

    #[test]
    fn the_header_gives_duration_channels_and_rate() {
        let info = probe(std::io::Cursor::new(wav(12_000)), MediaType::Wav).unwrap();
        assert_eq!(
            info,
            AudioInfo {
                duration_ms: 1500,
                channels: Some(1),
                sample_rate: Some(8000),
            }
        );
    }

    #[test]
    fn a_body_that_is_not_what_it_says_is_refused() {
        let err = probe(std::io::Cursor::new(wav(800)), MediaType::Flac).unwrap_err();
        assert!(matches!(err, MediaError::Mismatch { .. }), "{err}");
        let err = probe(
            std::io::Cursor::new(b"not audio at all".to_vec()),
            MediaType::Wav,
        );
        assert!(err.is_err());
    }
}
