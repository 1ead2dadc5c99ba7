//! How a custom endpoint's answers are read: the shared HTTP rules (2xx delivered; 408, 429,
//! 5xx retried with Retry-After honoured; other statuses parked with the response text).

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::receiver::forward::outcome::{classify_http, Outcome};

/// Classifies an answer.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> Outcome {
    classify_http(status, headers, body)
}
