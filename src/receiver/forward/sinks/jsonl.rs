//! The `jsonl` sink: each call log revision appended as one line of canonical call log JSON
//! (JSON escapes every newline inside) to a local file, the embedded default for local use.
//!
//! The lines of a batch are appended with one `write` to a file opened for appending, then one
//! `fsync`, so they are on disk before their entries count as delivered. Any I/O error (disk
//! full, permission, a missing mount) is retried with backoff, since an operator can fix each
//! of them.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::{call_log_json, Deliver};
use crate::receiver::forward::config::{KindConfig, NoSecret};
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::ForwardError;
use crate::receiver::store::OutboxEntry;

/// Lines appended with one write and one fsync at most: a burst of call logs costs one fsync
/// per this many, and one write stays around a megabyte (call logs are a few KiB each).
pub const MAX_LINES_PER_WRITE: usize = 256;

/// A `[[sinks]]` table of kind `jsonl` (the target is the file; no secret, no keys of its
/// own; headers, timeout and concurrency do not apply).
pub type JsonlConfig = KindConfig<(), NoSecret>;

/// A jsonl sink.
#[derive(Debug)]
pub struct JsonlSink {
    /// The file lines are appended to (created with its directory if missing).
    path: PathBuf,
}

impl JsonlSink {
    /// Builds sink `name` (the file is created at the first line).
    pub fn new(name: &str, config: &JsonlConfig) -> Result<JsonlSink, ForwardError> {
        Ok(JsonlSink {
            path: config.shared.file_path(name)?,
        })
    }
}

#[async_trait::async_trait]
impl Deliver for JsonlSink {
    fn concurrency(&self, _configured: usize) -> usize {
        // Lines of one file are appended by one writer at a time (in batches).
        1
    }

    fn max_batch(&self) -> usize {
        MAX_LINES_PER_WRITE
    }

    /// The lines of all entries are appended with one write and flushed to disk with one
    /// fsync, on the blocking pool. An entry whose line cannot be built gets its own outcome;
    /// the others share the write's.
    async fn deliver_all(&self, entries: &[OutboxEntry]) -> Vec<Outcome> {
        let jsons: Vec<Result<&str, Outcome>> = entries.iter().map(call_log_json).collect();
        // One buffer of the final size: grown by doubling, a write of 256 call logs reallocated
        // (and the kernel zeroed) megabytes several times.
        let size = jsons.iter().flatten().map(|json| json.len() + 1).sum();
        let mut lines = Vec::with_capacity(size);
        for json in jsons.iter().flatten() {
            lines.extend_from_slice(json.as_bytes());
            lines.push(b'\n');
        }
        let written = if lines.is_empty() {
            Outcome::Delivered { status: None }
        } else {
            let path = self.path.clone();
            let result = tokio::task::spawn_blocking(move || append(&path, &lines)).await;
            match result {
                Ok(Ok(())) => Outcome::Delivered { status: None },
                Ok(Err(e)) => retry(format!("cannot append to {}: {e}", self.path.display())),
                Err(e) => retry(format!("write task failed: {e}")),
            }
        };
        jsons
            .into_iter()
            .map(|json| json.err().unwrap_or_else(|| written.clone()))
            .collect()
    }
}

fn retry(reason: String) -> Outcome {
    Outcome::Retry {
        status: None,
        reason,
        retry_after: None,
    }
}

/// Appends the lines, durably.
fn append(path: &Path, lines: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    file.write_all(lines)?;
    file.sync_data()
}
