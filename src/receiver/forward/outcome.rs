//! What one delivery attempt came to, and the shared rules that turn an HTTP answer into it:
//! 2xx delivered; 408, 429 and 5xx retried (honouring Retry-After); any other status rejected for
//! good (a dead letter with the status and the response text).

use std::time::Duration;

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;
use time::format_description::well_known::Rfc2822;
use time::OffsetDateTime;

/// The result of one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The sink has it.
    Delivered {
        /// The HTTP status, for HTTP sinks.
        status: Option<u16>,
    },
    /// Try again later.
    Retry {
        /// The HTTP status, if the endpoint answered.
        status: Option<u16>,
        /// What went wrong (secrets redacted).
        reason: String,
        /// The endpoint's Retry-After, if it sent one.
        retry_after: Option<Duration>,
    },
    /// The sink will never accept this entry: park it.
    Rejected {
        /// The HTTP status, if the endpoint answered.
        status: Option<u16>,
        /// The response text or what went wrong (secrets redacted).
        reason: String,
    },
}

/// The default classification of an HTTP answer.
pub fn classify_http(status: StatusCode, headers: &HeaderMap, body: &str) -> Outcome {
    let code = Some(status.as_u16());
    if status.is_success() {
        return Outcome::Delivered { status: code };
    }
    let reason = reason_text(status, body);
    let transient = status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error();
    if transient {
        Outcome::Retry {
            status: code,
            reason,
            retry_after: retry_after(headers, OffsetDateTime::now_utc()),
        }
    } else {
        Outcome::Rejected {
            status: code,
            reason,
        }
    }
}

/// `HTTP 400 Bad Request: {body}` (the body trimmed; the status line alone when it is empty).
pub fn reason_text(status: StatusCode, body: &str) -> String {
    let line = format!(
        "HTTP {} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let body = body.trim();
    if body.is_empty() {
        line.trim_end().to_string()
    } else {
        format!("{}: {body}", line.trim_end())
    }
}

/// Retry-After as a wait: delta-seconds, or an HTTP date (a date in the past means now).
pub fn retry_after(headers: &HeaderMap, now: OffsetDateTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = OffsetDateTime::parse(value, &Rfc2822).ok()?;
    let wait = at - now;
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(retry: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(v) = retry {
            h.insert(RETRY_AFTER, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn statuses_classify_per_the_rules() {
        let h = headers(None);
        assert!(matches!(
            classify_http(StatusCode::CREATED, &h, ""),
            Outcome::Delivered { status: Some(201) }
        ));
        for s in [408, 429, 500, 502, 503] {
            let status = StatusCode::from_u16(s).unwrap();
            assert!(
                matches!(classify_http(status, &h, ""), Outcome::Retry { .. }),
                "{s}"
            );
        }
        for s in [400, 401, 403, 404, 409, 422] {
            let status = StatusCode::from_u16(s).unwrap();
            assert!(
                matches!(classify_http(status, &h, "x"), Outcome::Rejected { .. }),
                "{s}"
            );
        }
        match classify_http(StatusCode::BAD_REQUEST, &h, " {\"call_id\":[\"bad\"]}\n") {
            Outcome::Rejected { status, reason } => {
                assert_eq!(status, Some(400));
                assert_eq!(reason, "HTTP 400 Bad Request: {\"call_id\":[\"bad\"]}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = OffsetDateTime::parse("Wed, 21 Oct 2026 07:28:00 GMT", &Rfc2822).unwrap();
        assert_eq!(
            retry_after(&headers(Some("7")), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(Some("Wed, 21 Oct 2026 07:28:30 GMT")), now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            retry_after(&headers(Some("Wed, 21 Oct 2026 07:27:00 GMT")), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(Some("soon")), now), None);
        assert_eq!(retry_after(&headers(None), now), None);
    }
}
