//! The page shell every console page shares (head, navigation, the security headers that keep
//! the browser on this host) and the formatting of times, durations and links.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{html, Markup, DOCTYPE};

use crate::receiver::api::params::format_time;

/// What a console page may load: only this receiver's own assets and fetches. Media may come
/// from elsewhere: a call's recording URL can name the agent's storage (the browser then
/// fetches only what the person plays).
pub const CSP: &str = "default-src 'self'; img-src 'self' data:; media-src 'self' http: https:; \
                       style-src 'self'; script-src 'self'; connect-src 'self'; \
                       frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// The navigation's sections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// The calls list.
    Calls,
    /// The fleet.
    Fleet,
    /// The deployments.
    Deployments,
    /// None highlighted (a call, the sign-in form).
    None,
}

/// Whether the page shows the sign-out button (an API token is required).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignOut {
    /// Show it.
    Offered,
    /// No token: nothing to sign out of.
    Hidden,
}

/// A whole page: the shell around `body`.
pub fn page(title: &str, here: Nav, sign_out: SignOut, body: Markup) -> Response {
    respond(StatusCode::OK, shell(title, here, sign_out, body))
}

/// The shell around `body`.
pub fn shell(title: &str, here: Nav, sign_out: SignOut, body: Markup) -> Markup {
    let link = |nav: Nav, href: &str, label: &str| {
        html! { a href=(href) class=[(nav == here).then_some("here")] { (label) } }
    };
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · voicetrace" }
                link rel="icon" href="/console/assets/favicon.svg" type="image/svg+xml";
                link rel="stylesheet" href="/console/assets/console.css";
                script src="/console/assets/console.js" defer {}
            }
            body {
                header.top {
                    a.brand href="/" {
                        img src="/console/assets/favicon.svg" alt="";
                        "voicetrace"
                    }
                    nav {
                        (link(Nav::Calls, "/", "Calls"))
                        (link(Nav::Fleet, "/fleet", "Fleet"))
                        (link(Nav::Deployments, "/deployments", "Deployments"))
                    }
                    @if sign_out == SignOut::Offered {
                        form method="post" action="/console/signout" {
                            button.quiet type="submit" { "Sign out" }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// An HTML answer with the console's headers: the content security policy, no framing, no
/// caching of call data.
pub fn respond(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// A page that says what went wrong (a call that is not there, a store that failed).
pub fn problem(status: StatusCode, title: &str, message: &str, sign_out: SignOut) -> Response {
    let body = html! {
        div.panel {
            h1 { (title) }
            p.error { (message) }
            p { a href="/" { "Back to the calls" } }
        }
    };
    respond(status, shell(title, Nav::None, sign_out, body))
}

/// A duration: `850 ms`, `1.25 s`, `3 min 20 s`; `–` when unknown.
pub fn ms(value: Option<i64>) -> String {
    match value {
        None => "–".to_string(),
        Some(v) if v.abs() < 1000 => format!("{v} ms"),
        Some(v) if v.abs() < 60_000 => format!("{:.2} s", v as f64 / 1000.0),
        Some(v) if v % 3_600_000 == 0 => format!("{} h", v / 3_600_000),
        Some(v) if v % 60_000 == 0 => format!("{} min", v / 60_000),
        Some(v) => format!("{} min {} s", v / 60_000, (v % 60_000) / 1000),
    }
}

/// A time of the call's clock: `m:ss.s` from the call's start.
pub fn offset(value_ms: i64) -> String {
    let tenths = value_ms.max(0) / 100;
    format!("{}:{:02}.{}", tenths / 600, (tenths / 10) % 60, tenths % 10)
}

/// A wall-clock time, UTC: `2026-03-21 10:00:00`.
pub fn time(unix_ms: i64) -> String {
    let text = format_time(unix_ms);
    match text.get(..19) {
        Some(head) if text.len() > 19 => head.replace('T', " "),
        _ => text,
    }
}

/// An RFC 3339 time of a call log as [`time`] writes it.
pub fn rfc3339(text: &str) -> String {
    match text.get(..19) {
        Some(head) => head.replace('T', " "),
        None => text.to_string(),
    }
}

/// Percent-encodes one URL component (path segment or query value).
pub fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The console's page of one call.
pub fn call_href(call_id: &str, trace_id: &str) -> String {
    format!("/calls/{}?traceId={}", encode(call_id), encode(trace_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_offsets_read_at_a_glance() {
        assert_eq!(ms(None), "–");
        assert_eq!(ms(Some(850)), "850 ms");
        assert_eq!(ms(Some(1250)), "1.25 s");
        assert_eq!(ms(Some(200_000)), "3 min 20 s");
        assert_eq!(ms(Some(300_000)), "5 min");
        assert_eq!(ms(Some(21_600_000)), "6 h");
        assert_eq!(offset(63_250), "1:03.2");
        assert_eq!(time(1_774_087_200_123), "2026-03-21 10:00:00");
        assert_eq!(rfc3339("2026-03-21T10:00:00.000Z"), "2026-03-21 10:00:00");
    }

    #[test]
    fn links_encode_what_they_carry() {
        assert_eq!(call_href("a b/c", "ff"), "/calls/a%20b%2Fc?traceId=ff");
    }
}
