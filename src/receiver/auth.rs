//! Optional bearer tokens on the receiver's listeners: one for ingest (OTLP/gRPC and
//! OTLP/HTTP, as the Collector's `bearertokenauth` extension sends it), one for the API (the
//! HTTP API and the gRPC `CallLogService`). Independent: an agent that may send spans cannot
//! read call logs, and a dashboard that reads call logs cannot send spans.
//!
//! A request presents `Authorization: Bearer <token>` (gRPC: the `authorization` metadata).
//! Only the SHA-256 digest of the expected token is kept, and the digest of what was presented
//! is compared with it in constant time: neither the token's bytes nor its length leak through
//! timing, and the token itself is never held where a `Debug` or an error could print it.
//!
//! Answers: OTLP/HTTP 401 with a `google.rpc.Status` body (code 16, `UNAUTHENTICATED`) encoded
//! like the request; the HTTP API 401 with `{"error": {"code": "unauthenticated", ...}}`; gRPC
//! status `UNAUTHENTICATED`. HTTP answers carry `WWW-Authenticate: Bearer`. The API's health
//! probes (`/healthz`, `/readyz`) stay open so orchestrators need no token; everything else on
//! the API port, `/metrics` included, needs it; a signed recording link
//! (`/v1/recordings/{callId}?...&signature=...`) is let through to its handler, which checks
//! the signature instead.
//!
//! The console on the API port takes the same token from its cookie
//! ([`console::signin::COOKIE`], set by its sign-in form), so its pages and their fetches work
//! in a browser; a console page refused answers with the sign-in form. The sign-in form and
//! the console's assets are open (they hold no call data).
//!
//! LiveKit's paths (`/observability/...`) also accept, when a LiveKit API secret is configured,
//! the JWT a LiveKit worker signs with it ([`livekit`]).

pub mod livekit;

use std::path::PathBuf;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::receiver::api::error::ApiError;
use crate::receiver::console;
use crate::receiver::secret::{Secret, SecretError, SecretSource};
pub use livekit::LiveKitTokens;

/// Where `voicetrace serve` reads the ingest token when no `ingest_token_file` is configured.
pub const INGEST_TOKEN_ENV: &str = "VOICETRACE_INGEST_TOKEN";
/// Where `voicetrace serve` reads the API token when no `api_token_file` is configured.
pub const API_TOKEN_ENV: &str = "VOICETRACE_API_TOKEN";
/// Where `voicetrace serve` reads the LiveKit API secret when no `livekit_api_secret_file` is
/// configured.
pub const LIVEKIT_API_SECRET_ENV: &str = "VOICETRACE_LIVEKIT_API_SECRET";
/// The paths LiveKit workers upload to (traces, logs, metrics, recordings): where their JWT is
/// accepted.
pub const LIVEKIT_PATH_PREFIX: &str = "/observability/";
/// The API's recordings: a request with a signature is checked by its handler.
const RECORDINGS_PATH_PREFIX: &str = "/v1/recordings/";
/// API paths answered without a token: liveness and readiness probes carry none.
pub const OPEN_API_PATHS: &[&str] = &["/healthz", "/readyz"];
/// The challenge sent with every 401 (RFC 6750, section 3).
const CHALLENGE: &str = "Bearer realm=\"voicetrace\"";
/// gRPC code `UNAUTHENTICATED`, the `code` of OTLP/HTTP's `google.rpc.Status` body.
const CODE_UNAUTHENTICATED: i32 = 16;
/// What a refused request is told; it never says which part was wrong nor echoes the token.
const REFUSED: &str = "missing or invalid bearer token";

/// Why a token could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// The ingest token's file or variable is unusable.
    #[error("ingest token: {0}")]
    Ingest(SecretError),
    /// The API token's file or variable is unusable.
    #[error("API token: {0}")]
    Api(SecretError),
    /// The LiveKit API secret's file or variable is unusable.
    #[error("LiveKit API secret: {0}")]
    LiveKit(SecretError),
}

/// A token requests must present. Holds only the token's digest.
#[derive(Clone)]
pub struct BearerToken {
    digest: [u8; 32],
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(***)")
    }
}

impl BearerToken {
    /// The token a request must present.
    pub fn new(secret: &Secret) -> BearerToken {
        BearerToken {
            digest: Sha256::digest(secret.expose().as_bytes()).into(),
        }
    }

    /// Whether `presented` is the token itself (the console's cookie carries it), compared in
    /// constant time.
    pub fn accepts_token(&self, presented: &[u8]) -> bool {
        let digest: [u8; 32] = Sha256::digest(presented).into();
        digest.ct_eq(&self.digest).into()
    }

    /// Whether an `Authorization` value is `Bearer <this token>` (scheme case-insensitive, as
    /// RFC 7235 says), compared in constant time.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(presented) = authorization.and_then(bearer_credentials) else {
            return false;
        };
        self.accepts_token(presented)
    }
}

/// The credentials of a `Bearer` authorization value, surrounding blanks trimmed.
fn bearer_credentials(value: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"bearer ";
    let value = value.trim_ascii();
    if value.len() <= SCHEME.len() || !value[..SCHEME.len()].eq_ignore_ascii_case(SCHEME) {
        return None;
    }
    let token = value[SCHEME.len()..].trim_ascii();
    (!token.is_empty()).then_some(token)
}

/// The tokens of a receiver, resolved from what [`crate::receiver::config::ServeConfig`] says.
#[derive(Debug, Clone, Default)]
pub struct Tokens {
    /// Required on OTLP/gRPC and OTLP/HTTP, when set.
    pub ingest: Option<BearerToken>,
    /// Required on the HTTP API (but its health probes) and `CallLogService`, when set.
    pub api: Option<BearerToken>,
    /// Accepted on LiveKit's paths, when set.
    pub livekit: Option<LiveKitTokens>,
}

impl Tokens {
    /// A token given directly wins over its file; neither means no token.
    pub fn resolve(
        ingest: Option<&Secret>,
        ingest_file: Option<&PathBuf>,
        api: Option<&Secret>,
        api_file: Option<&PathBuf>,
    ) -> Result<Tokens, AuthError> {
        let load = |secret: Option<&Secret>, file: Option<&PathBuf>| match (secret, file) {
            (Some(s), _) => Ok(Some(BearerToken::new(s))),
            (None, Some(path)) => {
                Secret::required(SecretSource::File(path)).map(|s| Some(BearerToken::new(&s)))
            }
            (None, None) => Ok(None),
        };
        Ok(Tokens {
            ingest: load(ingest, ingest_file).map_err(AuthError::Ingest)?,
            api: load(api, api_file).map_err(AuthError::Api)?,
            livekit: None,
        })
    }

    /// These tokens, with LiveKit's accepted when a LiveKit API secret is given (directly, or
    /// in a file).
    pub fn with_livekit(
        mut self,
        secret: Option<&Secret>,
        file: Option<&PathBuf>,
    ) -> Result<Tokens, AuthError> {
        let secret = match (secret, file) {
            (Some(s), _) => Some(s.clone()),
            (None, Some(path)) => {
                Some(Secret::required(SecretSource::File(path)).map_err(AuthError::LiveKit)?)
            }
            (None, None) => None,
        };
        self.livekit = secret.as_ref().map(LiveKitTokens::new);
        Ok(self)
    }
}

/// The gRPC side: a tonic interceptor answering `UNAUTHENTICATED` unless the `authorization`
/// metadata carries the token. With no token it lets everything through.
#[derive(Debug, Clone)]
pub struct GrpcAuth(Option<BearerToken>);

impl GrpcAuth {
    /// An interceptor requiring `token`, if any.
    pub fn new(token: Option<BearerToken>) -> GrpcAuth {
        GrpcAuth(token)
    }
}

impl tonic::service::Interceptor for GrpcAuth {
    fn call(&mut self, request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let Some(token) = &self.0 else {
            return Ok(request);
        };
        let presented = request
            .metadata()
            .get(header::AUTHORIZATION.as_str())
            .map(|v| v.as_bytes());
        if token.accepts(presented) {
            Ok(request)
        } else {
            tracing::debug!("gRPC request refused: {REFUSED}");
            Err(tonic::Status::unauthenticated(REFUSED))
        }
    }
}

fn authorization(headers: &HeaderMap) -> Option<&[u8]> {
    headers
        .get(header::AUTHORIZATION)
        .map(HeaderValue::as_bytes)
}

fn with_challenge(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(CHALLENGE),
    );
    response
}

/// What ingest accepts: the ingest token, and on LiveKit's paths a LiveKit worker's JWT.
#[derive(Debug, Clone)]
struct IngestCredentials {
    token: Option<BearerToken>,
    livekit: Option<LiveKitTokens>,
}

impl IngestCredentials {
    fn accept(&self, path: &str, authorization: Option<&[u8]>) -> bool {
        let livekit = self
            .livekit
            .as_ref()
            .filter(|_| path.starts_with(LIVEKIT_PATH_PREFIX));
        match (&self.token, livekit) {
            (None, None) => true,
            (token, livekit) => {
                token.as_ref().is_some_and(|t| t.accepts(authorization))
                    || livekit.is_some_and(|l| l.accepts(authorization))
            }
        }
    }
}

/// The OTLP/HTTP router requiring the ingest token on every route, and accepting a LiveKit
/// worker's JWT on LiveKit's paths (unchanged with neither).
pub fn require_ingest_token(router: Router, tokens: &Tokens) -> Router {
    if tokens.ingest.is_none() && tokens.livekit.is_none() {
        return router;
    }
    let credentials = IngestCredentials {
        token: tokens.ingest.clone(),
        livekit: tokens.livekit.clone(),
    };
    router.layer(middleware::from_fn_with_state(credentials, check_ingest))
}

async fn check_ingest(
    State(credentials): State<IngestCredentials>,
    request: Request,
    next: Next,
) -> Response {
    if credentials.accept(request.uri().path(), authorization(request.headers())) {
        return next.run(request).await;
    }
    tracing::debug!(
        path = request.uri().path(),
        "OTLP/HTTP request refused: {REFUSED}"
    );
    with_challenge(crate::receiver::ingest::http::error_response(
        request.headers(),
        StatusCode::UNAUTHORIZED,
        CODE_UNAUTHENTICATED,
        REFUSED,
    ))
}

/// The API router requiring `token` on every route but [`OPEN_API_PATHS`] (unchanged without
/// one).
pub fn require_api_token(router: Router, token: Option<BearerToken>) -> Router {
    match token {
        Some(token) => router.layer(middleware::from_fn_with_state(token, check_api)),
        None => router,
    }
}

async fn check_api(State(token): State<BearerToken>, request: Request, next: Next) -> Response {
    let path = request.uri().path();
    let cookie = console::signin::cookie_token(request.headers());
    if OPEN_API_PATHS.contains(&path)
        || console::is_open(path)
        || signed_recording_link(&request)
        || token.accepts(authorization(request.headers()))
        || cookie.is_some_and(|c| token.accepts_token(c))
    {
        return next.run(request).await;
    }
    tracing::debug!(path, "API request refused: {REFUSED}");
    if console::is_page(path) {
        let wanted = request.uri().path_and_query().map_or(path, |p| p.as_str());
        return console::signin::refused(wanted);
    }
    with_challenge(
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "unauthenticated",
            message: format!("{REFUSED}: send Authorization: Bearer <API token>"),
        }
        .into_response(),
    )
}

/// A request for a recording that carries a signature: its handler checks it (403 when it
/// does not hold), so it needs no token.
fn signed_recording_link(request: &Request) -> bool {
    request.uri().path().starts_with(RECORDINGS_PATH_PREFIX)
        && request
            .uri()
            .query()
            .is_some_and(|q| q.split('&').any(|pair| pair.starts_with("signature=")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_bearer_token() {
        let token = BearerToken::new(&Secret::new("s3cret"));
        assert!(token.accepts(Some(b"Bearer s3cret")));
        assert!(token.accepts(Some(b"bearer  s3cret ")));
        assert!(!token.accepts(None));
        assert!(!token.accepts(Some(b"Bearer s3cre")));
        assert!(!token.accepts(Some(b"Bearer s3cret2")));
        assert!(!token.accepts(Some(b"Basic s3cret")));
        assert!(!token.accepts(Some(b"s3cret")));
        assert!(!token.accepts(Some(b"Bearer ")));
        assert!(!token.accepts(Some(b"Bearers3cret")));
    }

    #[test]
    fn livekit_paths_take_the_ingest_token_or_a_livekit_token() {
        let ingest = BearerToken::new(&Secret::new("ingest"));
        let credentials = IngestCredentials {
            token: Some(ingest),
            livekit: Some(LiveKitTokens::new(&Secret::new("lk"))),
        };
        assert!(credentials.accept("/v1/traces", Some(b"Bearer ingest")));
        assert!(credentials.accept("/observability/traces/otlp/v0", Some(b"Bearer ingest")));
        assert!(!credentials.accept("/observability/traces/otlp/v0", Some(b"Bearer x.y.z")));
        assert!(!credentials.accept("/v1/traces", None));
        let open = IngestCredentials {
            token: None,
            livekit: None,
        };
        assert!(open.accept("/observability/recordings/v0", None));
        let livekit_only = IngestCredentials {
            token: None,
            livekit: Some(LiveKitTokens::new(&Secret::new("lk"))),
        };
        assert!(
            livekit_only.accept("/v1/traces", None),
            "only LiveKit's paths need its JWT"
        );
        assert!(!livekit_only.accept("/observability/recordings/v0", None));
    }

    #[test]
    fn debug_shows_no_token() {
        let token = BearerToken::new(&Secret::new("s3cret"));
        assert_eq!(format!("{token:?}"), "BearerToken(***)");
    }

    #[test]
    fn a_given_token_wins_over_its_file_and_an_empty_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let given = Secret::new("given");
        let tokens = Tokens::resolve(Some(&given), Some(&empty), None, None).unwrap();
        assert!(tokens.clone().with_livekit(None, Some(&empty)).is_err());
        assert!(tokens.ingest.unwrap().accepts(Some(b"Bearer given")));
        assert!(tokens.api.is_none());
        let err = Tokens::resolve(None, None, None, Some(&empty)).unwrap_err();
        assert!(err.to_string().starts_with("API token:"), "{err}");
    }
}
