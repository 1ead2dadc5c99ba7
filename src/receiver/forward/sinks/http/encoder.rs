//! The canonical call log JSON (CONVENTIONS.md section 5), exactly as the API serves it: no
//! field is added, so the idempotency key travels in the header only.

use crate::receiver::calllog::CallLog;

/// The body of one call log revision.
pub fn encode(log: &CallLog) -> Result<Vec<u8>, serde_json::Error> {
    serde_json::to_vec(log)
}
