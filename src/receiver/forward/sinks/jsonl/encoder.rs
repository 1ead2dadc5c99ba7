//! One line: the canonical call log JSON and a newline (JSON escapes every newline inside).

use crate::receiver::calllog::CallLog;

/// The line of one call log revision.
pub fn encode(log: &CallLog) -> Result<Vec<u8>, serde_json::Error> {
    let mut line = serde_json::to_vec(log)?;
    line.push(b'\n');
    Ok(line)
}
