//! The `jsonl` sink: each call log revision appended as one line of canonical call log JSON to
//! a local file (the embedded default for local use).

pub mod config;
pub mod encoder;
pub mod request;
pub mod response;

use crate::receiver::forward::config::SinkConfig;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::store::OutboxEntry;

/// Lines appended with one write and one fsync at most: a burst of call logs costs one fsync
/// per this many, and one write stays around a megabyte (call logs are a few KiB each).
pub const MAX_LINES_PER_WRITE: usize = 256;

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

    /// One attempt for several entries: their lines are appended with one write and flushed
    /// to disk with one fsync, on the blocking pool. An entry whose line cannot be built gets
    /// its own outcome; the others share the write's.
    pub async fn deliver_all(&self, entries: &[OutboxEntry]) -> Vec<Outcome> {
        let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(entries.len());
        let mut lines = Vec::new();
        for entry in entries {
            match request::build(entry) {
                Ok(line) => {
                    lines.extend_from_slice(&line);
                    outcomes.push(None);
                }
                Err(outcome) => outcomes.push(Some(outcome)),
            }
        }
        let written = if lines.is_empty() {
            Outcome::Delivered { status: None }
        } else {
            let path = self.config.path.clone();
            match tokio::task::spawn_blocking(move || request::append(&path, &lines)).await {
                Ok(result) => response::classify(&self.config.path, result),
                Err(e) => Outcome::Retry {
                    status: None,
                    reason: format!("write task failed: {e}"),
                    retry_after: None,
                },
            }
        };
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| written.clone()))
            .collect()
    }
}
