//! Signing in to a console whose API is guarded by a token: a form that takes the API token
//! and keeps it in an `HttpOnly`, `SameSite=Strict` cookie (`Secure` over TLS), so the pages
//! and their fetches carry it and no script can read it. Without the cookie, a page answers
//! with this form (401) and shows no call data.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};

use super::layout::{self, Nav, SignOut};
use super::{local_path, same_origin, ConsoleState};

/// The cookie that carries the API token.
pub const COOKIE: &str = "voicetrace_api_token";

/// The sign-in form's fields (and the page to go back to).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct SignIn {
    /// The API token.
    pub token: String,
    /// Where to go once signed in (a path of this host).
    pub next: String,
}

/// The value of the console's cookie in a request, if any.
pub fn cookie_token(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .find_map(|pair| {
            let pair = pair.trim_ascii();
            let (name, value) = pair.split_at(pair.iter().position(|b| *b == b'=')?);
            (name == COOKIE.as_bytes()).then(|| &value[1..])
        })
        .filter(|v| !v.is_empty())
}

fn form_markup(next: &str, wrong: bool) -> Markup {
    let body = html! {
        div.panel.signin {
            h1 { "Sign in" }
            p.muted { "This receiver requires its API token." }
            @if wrong { p.error { "That is not the API token." } }
            form method="post" action="/console/signin" {
                input type="password" name="token" placeholder="API token" autocomplete="current-password" required autofocus;
                input type="hidden" name="next" value=(next);
                button type="submit" { "Sign in" }
            }
        }
    };
    layout::shell("Sign in", Nav::None, SignOut::Hidden, body)
}

/// The answer to a page request without a valid token: the form, status 401.
pub fn refused(path_and_query: &str) -> Response {
    let next = local_path(path_and_query).unwrap_or("/");
    layout::respond(StatusCode::UNAUTHORIZED, form_markup(next, false))
}

/// `GET /console/signin`
pub async fn form(
    State(state): State<ConsoleState>,
    query: Result<Query<SignIn>, QueryRejection>,
) -> Response {
    let next = query.map(|Query(q)| q.next).unwrap_or_default();
    let next = local_path(&next).unwrap_or("/").to_string();
    if state.token.is_none() {
        return Redirect::to(&next).into_response();
    }
    layout::respond(StatusCode::OK, form_markup(&next, false))
}

/// The `Set-Cookie` value; `None` for a value a cookie cannot carry as it is.
fn cookie(value: &str, tls: bool, max_age: Option<u32>) -> Option<HeaderValue> {
    let unsafe_byte = |b: u8| b <= b' ' || b == 0x7f || matches!(b, b';' | b',' | b'"' | b'\\');
    if value.bytes().any(unsafe_byte) {
        return None;
    }
    let secure = if tls { "; Secure" } else { "" };
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Strict{secure}{age}"
    ))
    .ok()
}

/// `POST /console/signin`: the right token sets the cookie and goes to `next`.
pub async fn submit(
    State(state): State<ConsoleState>,
    headers: HeaderMap,
    Form(signin): Form<SignIn>,
) -> Response {
    if !same_origin(&headers) {
        return (StatusCode::FORBIDDEN, "cross-origin request refused").into_response();
    }
    let next = local_path(&signin.next).unwrap_or("/").to_string();
    let Some(token) = &state.token else {
        return Redirect::to(&next).into_response();
    };
    let token_text = signin.token.trim();
    // A token a cookie cannot carry (`;`, controls) is not the token either.
    let value = cookie(token_text, state.tls, None);
    match value {
        Some(value) if token.accepts_token(token_text.as_bytes()) => {
            let mut response = Redirect::to(&next).into_response();
            response.headers_mut().insert(header::SET_COOKIE, value);
            response
        }
        _ => {
            tracing::debug!("console sign-in refused");
            layout::respond(StatusCode::UNAUTHORIZED, form_markup(&next, true))
        }
    }
}

/// `POST /console/signout`: forgets the cookie.
pub async fn sign_out(State(state): State<ConsoleState>) -> Response {
    let mut response = Redirect::to("/console/signin").into_response();
    if let Some(value) = cookie("", state.tls, Some(0)) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; voicetrace_api_token=s3cret; b=2"),
        );
        assert_eq!(cookie_token(&headers), Some(&b"s3cret"[..]));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("voicetrace_api_token="),
        );
        assert_eq!(cookie_token(&headers), None);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("xvoicetrace_api_token=s"),
        );
        assert_eq!(cookie_token(&headers), None);
    }

    #[test]
    fn the_cookie_is_http_only_and_strict() {
        let value = cookie("t", true, None).unwrap();
        let text = value.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(text.contains("Secure"));
        assert!(cookie("a;b\n", false, None).is_none());
    }
}
