//! The `jsonl` sink: each call log revision appended as one line of canonical call log JSON to
//! a local file (the embedded default for local use).

pub mod config;
pub mod encoder;
pub mod request;
pub mod response;

use crate::receiver::forward::config::SinkConfig;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::store::OutboxEntry;

/// A jsonl sink.
#[derive(Debug)]
pub struct JsonlSink {
    config: config::JsonlConfig,
}

impl JsonlSink {
    /// Builds the sink (the file is created at the first line).
    pub fn new(sink: &SinkConfig) -> JsonlSink {
        JsonlSink {
            config: config::JsonlConfig::from_sink(sink),
        }
    }

    /// One attempt: the line is appended and flushed to disk on the blocking pool.
    pub async fn deliver(&self, entry: &OutboxEntry) -> Outcome {
        let line = match request::build(entry) {
            Ok(line) => line,
            Err(outcome) => return outcome,
        };
        let path = self.config.path.clone();
        let written = tokio::task::spawn_blocking(move || request::append(&path, &line)).await;
        match written {
            Ok(result) => response::classify(&self.config.path, result),
            Err(e) => Outcome::Retry {
                status: None,
                reason: format!("write task failed: {e}"),
                retry_after: None,
            },
        }
    }
}
