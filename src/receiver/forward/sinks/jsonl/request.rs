//! The "request" of a file sink: the line of an entry, and the append itself (one `write` of
//! the lines of a batch to a file opened for appending, then one `fsync`, so the lines are on
//! disk before their entries count as delivered).

use std::io::Write;
use std::path::Path;

use super::encoder;
use crate::receiver::calllog::CallUpdate;
use crate::receiver::forward::outcome::Outcome;
use crate::receiver::forward::sinks::unexpected;
use crate::receiver::store::OutboxEntry;

/// The line of an entry, or the outcome when there is none.
pub fn build(entry: &OutboxEntry) -> Result<Vec<u8>, Outcome> {
    let CallUpdate::Finished(log) = &entry.update else {
        return Err(unexpected(entry));
    };
    encoder::encode(log).map_err(|e| Outcome::Rejected {
        status: None,
        reason: format!("cannot encode the call log: {e}"),
    })
}

/// Appends the lines, durably.
pub fn append(path: &Path, lines: &[u8]) -> std::io::Result<()> {
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
