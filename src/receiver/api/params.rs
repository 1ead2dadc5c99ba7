//! Query parameters of the list and aggregate routes, parsed strictly: a malformed, repeated or
//! unknown parameter is a 400 that names it (a typo such as `agent_id` must not silently list
//! every call).

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::error::ApiError;
use crate::receiver::calllog::{CallQuery, CallStatus};

/// Page size when `limit` is not given (the Persona API's default).
pub const DEFAULT_LIMIT: usize = 20;
/// The largest page a client may ask for: bounds the work and the answer of one request.
pub const MAX_LIMIT: usize = 100;

/// The parameters of the list routes.
const LIST_PARAMS: &[&str] = &["agentId", "status", "since", "until", "limit", "cursor"];
/// The parameters of the interruption-quality route.
const WINDOW_PARAMS: &[&str] = &["agentId", "since", "until"];

/// Raw `name=value` pairs, in request order.
pub type RawParams = Vec<(String, String)>;

/// The list routes' parameters as a store query.
pub fn parse_list(raw: &RawParams) -> Result<CallQuery, ApiError> {
    check_names(raw, LIST_PARAMS)?;
    let mut query = CallQuery {
        limit: DEFAULT_LIMIT,
        ..CallQuery::default()
    };
    for (name, value) in raw {
        match name.as_str() {
            "agentId" => query.agent_id = Some(non_empty(name, value)?.to_string()),
            "status" => query.status = Some(parse_status(value)?),
            "since" => query.since_ms = Some(parse_time(name, value)?),
            "until" => query.until_ms = Some(parse_time(name, value)?),
            "limit" => query.limit = parse_limit(value)?,
            "cursor" => query.cursor = Some(non_empty(name, value)?.to_string()),
            _ => {}
        }
    }
    check_order(query.since_ms, query.until_ms)?;
    Ok(query)
}

/// The time window of an aggregate: calls of `agentId` (if given) started in `[since, until)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Only calls of this agent.
    pub agent_id: Option<String>,
    /// Start, Unix ms.
    pub since_ms: i64,
    /// End (exclusive), Unix ms.
    pub until_ms: i64,
}

/// How far back the interruption-quality window reaches when `since` is not given (one day:
/// a release-gate signal over a day of traffic).
pub const DEFAULT_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;

/// The interruption-quality parameters; `now_ms` is the default `until`.
pub fn parse_window(raw: &RawParams, now_ms: i64) -> Result<Window, ApiError> {
    check_names(raw, WINDOW_PARAMS)?;
    let mut agent_id = None;
    let mut since = None;
    let mut until = None;
    for (name, value) in raw {
        match name.as_str() {
            "agentId" => agent_id = Some(non_empty(name, value)?.to_string()),
            "since" => since = Some(parse_time(name, value)?),
            "until" => until = Some(parse_time(name, value)?),
            _ => {}
        }
    }
    let until_ms = until.unwrap_or(now_ms);
    let since_ms = since.unwrap_or(until_ms.saturating_sub(DEFAULT_WINDOW_MS));
    check_order(Some(since_ms), Some(until_ms))?;
    Ok(Window {
        agent_id,
        since_ms,
        until_ms,
    })
}

/// A time as RFC 3339 (`2026-03-21T10:00:00Z`) or Unix milliseconds (`1774087200000`).
pub fn parse_time(name: &str, value: &str) -> Result<i64, ApiError> {
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return value
            .parse::<i64>()
            .map_err(|_| ApiError::invalid_parameter(name, "Unix milliseconds out of range"));
    }
    let at = OffsetDateTime::parse(value, &Rfc3339).map_err(|_| {
        ApiError::invalid_parameter(
            name,
            format!("'{value}' is neither an RFC 3339 time nor Unix milliseconds"),
        )
    })?;
    i64::try_from(at.unix_timestamp_nanos() / 1_000_000)
        .map_err(|_| ApiError::invalid_parameter(name, "time out of range"))
}

/// Unix ms → RFC 3339 UTC with milliseconds, as call logs write times.
pub fn format_time(unix_ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(unix_ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            let t = t
                .replace_nanosecond(t.millisecond() as u32 * 1_000_000)
                .ok()?;
            t.format(&Rfc3339).ok()
        })
        .unwrap_or_else(|| unix_ms.to_string())
}

fn check_names(raw: &RawParams, allowed: &[&str]) -> Result<(), ApiError> {
    for (i, (name, _)) in raw.iter().enumerate() {
        if !allowed.contains(&name.as_str()) {
            return Err(ApiError::invalid_parameter(
                name,
                format!("unknown parameter (expected one of {})", allowed.join(", ")),
            ));
        }
        if raw[..i].iter().any(|(earlier, _)| earlier == name) {
            return Err(ApiError::invalid_parameter(name, "given more than once"));
        }
    }
    Ok(())
}

fn check_order(since: Option<i64>, until: Option<i64>) -> Result<(), ApiError> {
    match (since, until) {
        (Some(s), Some(u)) if s >= u => Err(ApiError::invalid_parameter(
            "until",
            "must be later than since",
        )),
        _ => Ok(()),
    }
}

fn non_empty<'a>(name: &str, value: &'a str) -> Result<&'a str, ApiError> {
    if value.is_empty() {
        Err(ApiError::invalid_parameter(name, "must not be empty"))
    } else {
        Ok(value)
    }
}

fn parse_status(value: &str) -> Result<CallStatus, ApiError> {
    match value {
        "completed" => Ok(CallStatus::Completed),
        "failed" => Ok(CallStatus::Failed),
        "incomplete" => Ok(CallStatus::Incomplete),
        _ => Err(ApiError::invalid_parameter(
            "status",
            format!("'{value}' is not one of completed, failed, incomplete"),
        )),
    }
}

fn parse_limit(value: &str) -> Result<usize, ApiError> {
    match value.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::invalid_parameter(
            "limit",
            format!("'{value}' is not a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(pairs: &[(&str, &str)]) -> RawParams {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn list_parameters() {
        let q = parse_list(&raw(&[
            ("agentId", "a"),
            ("status", "failed"),
            ("since", "2026-03-21T10:00:00Z"),
            ("until", "1774090800000"),
            ("limit", "100"),
            ("cursor", "xyz"),
        ]))
        .unwrap();
        assert_eq!(q.agent_id.as_deref(), Some("a"));
        assert_eq!(q.status, Some(CallStatus::Failed));
        assert_eq!(q.since_ms, Some(1_774_087_200_000));
        assert_eq!(q.until_ms, Some(1_774_090_800_000));
        assert_eq!(q.limit, 100);
        assert_eq!(q.cursor.as_deref(), Some("xyz"));
        assert_eq!(parse_list(&raw(&[])).unwrap().limit, DEFAULT_LIMIT);
    }

    #[test]
    fn bad_parameters_are_named() {
        for (pairs, name) in [
            (vec![("limit", "0")], "limit"),
            (vec![("limit", "101")], "limit"),
            (vec![("limit", "x")], "limit"),
            (vec![("status", "done")], "status"),
            (vec![("since", "yesterday")], "since"),
            (vec![("until", "2026-13-01T00:00:00Z")], "until"),
            (vec![("agent_id", "a")], "agent_id"),
            (vec![("agentId", "")], "agentId"),
            (vec![("agentId", "a"), ("agentId", "b")], "agentId"),
            (vec![("since", "2000"), ("until", "1000")], "until"),
        ] {
            let err = parse_list(&raw(&pairs)).unwrap_err();
            assert_eq!(err.code, "invalid_parameter");
            assert!(
                err.message.contains(&format!("'{name}'")),
                "{}",
                err.message
            );
        }
    }

    #[test]
    fn window_defaults_to_the_last_day() {
        let w = parse_window(&raw(&[]), 100_000_000_000).unwrap();
        assert_eq!(w.until_ms, 100_000_000_000);
        assert_eq!(w.since_ms, 100_000_000_000 - DEFAULT_WINDOW_MS);
        assert!(parse_window(&raw(&[("limit", "5")]), 0).is_err());
    }

    #[test]
    fn times_round_trip() {
        assert_eq!(format_time(1_774_087_200_123), "2026-03-21T10:00:00.123Z");
        assert_eq!(
            parse_time("since", "2026-03-21T10:00:00.123Z").unwrap(),
            1_774_087_200_123
        );
    }
}
