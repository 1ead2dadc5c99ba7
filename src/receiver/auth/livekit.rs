//! LiveKit workers' own credentials. A worker pointed at voicetrace with
//! `LIVEKIT_OBSERVABILITY_URL` sends, on every upload (traces, logs, metrics, its recording),
//! `Authorization: Bearer <JWT>`: an access token it signs itself with its `LIVEKIT_API_SECRET`
//! (livekit-agents' `telemetry/traces.py`: `AccessToken().with_observability_grants(
//! ObservabilityGrants(write=True)).with_ttl(6 h)`), which the `livekit-api` package encodes as
//! HS256 claims `{"observability": {"write": true}, "iss": <API key>, "sub": "", "nbf", "exp"}`.
//!
//! With the same secret configured, [`LiveKitTokens`] accepts exactly those tokens: HS256
//! only, signed with the secret, not expired (nor used before `nbf`), with the observability
//! write grant. The secret is held only inside `jsonwebtoken`'s key.

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

use crate::receiver::secret::Secret;

/// The claims checked beyond the signature and the times.
#[derive(Debug, Deserialize)]
struct Claims {
    #[serde(default)]
    observability: Option<ObservabilityGrant>,
}

/// livekit/protocol's `ObservabilityGrant`.
#[derive(Debug, Deserialize)]
struct ObservabilityGrant {
    #[serde(default)]
    write: bool,
}

/// Accepts LiveKit access tokens signed with one API secret that grant observability writes.
#[derive(Clone)]
pub struct LiveKitTokens {
    key: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for LiveKitTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LiveKitTokens(***)")
    }
}

impl LiveKitTokens {
    /// Tokens signed with `secret` (a LiveKit API secret).
    pub fn new(secret: &Secret) -> LiveKitTokens {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp"]);
        LiveKitTokens {
            key: DecodingKey::from_secret(secret.expose().as_bytes()),
            validation,
        }
    }

    /// Whether an `Authorization` value is `Bearer <JWT>` with a valid LiveKit token that
    /// grants observability writes (checked against the system clock, 60 s of leeway).
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(token) = authorization
            .and_then(super::bearer_credentials)
            .and_then(|t| std::str::from_utf8(t).ok())
        else {
            return false;
        };
        match jsonwebtoken::decode::<Claims>(token, &self.key, &self.validation) {
            Ok(data) => data.claims.observability.is_some_and(|g| g.write),
            Err(e) => {
                tracing::debug!(error = %e, "LiveKit token refused");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use serde_json::json;

    fn now() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64
    }

    /// A token as livekit-api's `AccessToken.to_jwt()` makes it.
    fn token(secret: &str, claims: serde_json::Value) -> String {
        let header = Header::new(Algorithm::HS256);
        let bearer = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        );
        format!("Bearer {}", bearer.unwrap())
    }

    fn livekit_claims(exp: i64, write: bool) -> serde_json::Value {
        json!({"observability": {"write": write}, "sub": "", "iss": "APIkey",
               "nbf": now() - 5, "exp": exp})
    }

    #[test]
    fn accepts_a_workers_token_and_nothing_else() {
        let tokens = LiveKitTokens::new(&Secret::new("lk-secret"));
        let good = token("lk-secret", livekit_claims(now() + 3600, true));
        assert!(tokens.accepts(Some(good.as_bytes())));
        for bad in [
            token("other-secret", livekit_claims(now() + 3600, true)),
            token("lk-secret", livekit_claims(now() - 3600, true)),
            token("lk-secret", livekit_claims(now() + 3600, false)),
            token(
                "lk-secret",
                json!({"video": {"roomJoin": true}, "exp": now() + 3600}),
            ),
            token("lk-secret", json!({"observability": {"write": true}})),
            "Bearer not.a.jwt".to_string(),
            good.trim_start_matches("Bearer ").to_string(),
        ] {
            assert!(!tokens.accepts(Some(bad.as_bytes())), "{bad}");
        }
        assert!(!tokens.accepts(None));
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &livekit_claims(now() + 3600, true),
            &EncodingKey::from_secret(b"lk-secret"),
        )
        .unwrap();
        assert!(!tokens.accepts(Some(format!("Bearer {hs512}").as_bytes())));
        assert_eq!(format!("{tokens:?}"), "LiveKitTokens(***)");
    }
}
