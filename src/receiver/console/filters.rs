//! The calls list's filters as URL parameters, so a filtered list is a link to share: `agent`,
//! `deployment`, `status`, `since`, `until`, `issue`, `interrupted` (`yes`/`no`),
//! `minLatency` (ms), `q` (transcript text), and `cursor` for the next page.
//!
//! Lenient where the JSON API is strict: an HTML form sends every field, empty ones too, so an
//! empty value means "no filter", and a value that does not parse is reported on the page and
//! ignored rather than refused.

use time::macros::format_description;
use time::PrimitiveDateTime;

use crate::receiver::api::params::parse_time;
use crate::receiver::calllog::{CallQuery, CallStatus};

/// Rows per page of the list.
pub const PAGE_ROWS: usize = 50;

/// The list's parameters as given (to refill the form and build links).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct ListParams {
    /// The agent.
    pub agent: String,
    /// `deployment.id`.
    pub deployment: String,
    /// `completed`, `failed`, `incomplete`.
    pub status: String,
    /// Start of the window (RFC 3339, `YYYY-MM-DDTHH:MM` in UTC, or Unix ms).
    pub since: String,
    /// End of the window.
    pub until: String,
    /// An issue type.
    pub issue: String,
    /// `yes` or `no`.
    pub interrupted: String,
    /// The slowest turn's voice-to-voice latency at least this many ms.
    #[serde(rename = "minLatency")]
    pub min_latency: String,
    /// Words of the transcript.
    pub q: String,
    /// Where the previous page ended.
    pub cursor: String,
}

/// The store query of the parameters, and what could not be read.
pub fn query(p: &ListParams) -> (CallQuery, Vec<String>) {
    let mut problems = Vec::new();
    let given = |v: &str| {
        let v = v.trim();
        (!v.is_empty()).then(|| v.to_string())
    };
    let mut time = |name: &str, v: &str| {
        let v = given(v)?;
        match parse_form_time(&v) {
            Some(ms) => Some(ms),
            None => {
                problems.push(format!("{name}: '{v}' is not a time"));
                None
            }
        }
    };
    let since_ms = time("since", &p.since);
    let until_ms = time("until", &p.until);
    let status = match given(&p.status).as_deref() {
        None => None,
        Some("completed") => Some(CallStatus::Completed),
        Some("failed") => Some(CallStatus::Failed),
        Some("incomplete") => Some(CallStatus::Incomplete),
        Some(other) => {
            problems.push(format!("status: '{other}' is not a status"));
            None
        }
    };
    let interrupted = match given(&p.interrupted).as_deref() {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let min_latency_ms = given(&p.min_latency).and_then(|v| match v.parse::<i64>() {
        Ok(ms) => Some(ms),
        Err(_) => {
            problems.push(format!("minimum latency: '{v}' is not a number of ms"));
            None
        }
    });
    let query = CallQuery {
        agent_id: given(&p.agent),
        status,
        since_ms,
        until_ms,
        deployment_id: given(&p.deployment),
        issue_type: given(&p.issue),
        interrupted,
        min_latency_ms,
        text: given(&p.q),
        limit: PAGE_ROWS,
        cursor: given(&p.cursor),
    };
    (query, problems)
}

/// A time as the API takes it, or as a `datetime-local` field sends it (read as UTC).
fn parse_form_time(value: &str) -> Option<i64> {
    if let Ok(ms) = parse_time("time", value) {
        return Some(ms);
    }
    let minutes = format_description!("[year]-[month]-[day]T[hour]:[minute]");
    let seconds = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let at = PrimitiveDateTime::parse(value, &minutes)
        .or_else(|_| PrimitiveDateTime::parse(value, &seconds))
        .ok()?
        .assume_utc();
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000).ok()
}

impl ListParams {
    /// The query string of these parameters (without the cursor unless `cursor` is given).
    pub fn query_string(&self, cursor: Option<&str>) -> String {
        let pairs = [
            ("agent", self.agent.as_str()),
            ("deployment", &self.deployment),
            ("status", &self.status),
            ("since", &self.since),
            ("until", &self.until),
            ("issue", &self.issue),
            ("interrupted", &self.interrupted),
            ("minLatency", &self.min_latency),
            ("q", &self.q),
            ("cursor", cursor.unwrap_or("")),
        ];
        let parts: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| format!("{k}={}", super::layout::encode(v.trim())))
            .collect();
        match parts.is_empty() {
            true => String::new(),
            false => format!("?{}", parts.join("&")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_fields_are_no_filter_and_bad_ones_are_reported() {
        let (q, problems) = query(&ListParams::default());
        assert_eq!(
            q,
            CallQuery {
                limit: PAGE_ROWS,
                ..CallQuery::default()
            }
        );
        assert!(problems.is_empty());
        let p = ListParams {
            agent: " support-bot ".into(),
            status: "failed".into(),
            since: "2026-03-21T10:00".into(),
            until: "tomorrow".into(),
            interrupted: "yes".into(),
            min_latency: "1500".into(),
            q: "refund".into(),
            ..ListParams::default()
        };
        let (q, problems) = query(&p);
        assert_eq!(q.agent_id.as_deref(), Some("support-bot"));
        assert_eq!(q.status, Some(CallStatus::Failed));
        assert_eq!(q.since_ms, Some(1_774_087_200_000));
        assert_eq!(q.until_ms, None);
        assert_eq!(q.interrupted, Some(true));
        assert_eq!(q.min_latency_ms, Some(1500));
        assert_eq!(q.text.as_deref(), Some("refund"));
        assert_eq!(problems, ["until: 'tomorrow' is not a time"]);
    }

    #[test]
    fn the_query_string_keeps_what_was_given() {
        let p = ListParams {
            agent: "a b".into(),
            q: "x".into(),
            ..ListParams::default()
        };
        assert_eq!(p.query_string(None), "?agent=a%20b&q=x");
        assert_eq!(p.query_string(Some("c1")), "?agent=a%20b&q=x&cursor=c1");
        assert_eq!(ListParams::default().query_string(None), "");
    }
}
