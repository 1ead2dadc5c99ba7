//! How Cekura's answers are read: 201 (any 2xx) delivered; 400 (a body the API rejects, with
//! per-field messages) and other 4xx but 408/429 parked; 408, 429, 5xx retried.

use reqwest::header::HeaderMap;
use reqwest::StatusCode;

use crate::receiver::forward::outcome::{classify_http, Outcome};

/// Classifies an answer of the observe API.
pub fn classify(status: StatusCode, headers: &HeaderMap, body: &str) -> Outcome {
    classify_http(status, headers, body)
}
