//! How a write's result is read: written is delivered; any I/O error (disk full, permission,
//! a missing mount) is retried with backoff, since an operator can fix each of them.

use std::path::Path;

use crate::receiver::forward::outcome::Outcome;

/// Classifies the append's result.
pub fn classify(path: &Path, result: std::io::Result<()>) -> Outcome {
    match result {
        Ok(()) => Outcome::Delivered { status: None },
        Err(e) => Outcome::Retry {
            status: None,
            reason: format!("cannot append to {}: {e}", path.display()),
            retry_after: None,
        },
    }
}
