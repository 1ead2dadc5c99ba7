//! How a webhook receiver's answers are read: any 2xx delivered; 408, 429, 5xx retried
//! (Retry-After honoured); any other status parked with the response text (a 401 means the
//! secret is wrong: retrying would not help until someone fixes it and re-queues).

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::receiver::forward::outcome::{classify_http, Outcome};

/// Classifies a webhook receiver's answer.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> Outcome {
    classify_http(status, headers, body)
}
