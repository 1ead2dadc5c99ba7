//! The jsonl sink's settings: the file.

use std::path::PathBuf;

use crate::receiver::forward::config::SinkConfig;

/// Settings of a jsonl sink.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonlConfig {
    /// The file lines are appended to (created with its directory if missing).
    pub path: PathBuf,
}

impl JsonlConfig {
    /// The settings of a jsonl sink.
    pub fn from_sink(sink: &SinkConfig) -> JsonlConfig {
        JsonlConfig {
            path: PathBuf::from(&sink.target),
        }
    }
}
