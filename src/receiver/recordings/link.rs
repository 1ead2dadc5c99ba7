//! Links to a recording: the API's own path, and signed, expiring links that work without the
//! API token (for Cekura, which fetches the audio for its audio-based metrics, for webhooks, and
//! for a browser's `<audio>`, which cannot send a bearer token).
//!
//! A signed link is `/v1/recordings/{callId}?traceId=...&expires=...&signature=...`:
//! `expires` in Unix seconds, `signature` the hex HMAC-SHA256, under the receiver's link key, of
//! the call id, the trace id and `expires`. Changing any of them, or using the link after
//! `expires`, gets 403. Pure: the key and the time are given.

use hmac::{Hmac, Mac};
use reqwest::Url;
use sha2::Sha256;

/// Bytes of a link key: HMAC-SHA256's block-size-independent strength is its output, 32 bytes.
pub const KEY_BYTES: usize = 32;

/// Where the API serves recordings.
pub const RECORDINGS_PATH: &str = "/v1/recordings";

/// Separates the fields of what is signed; it cannot appear in a trace id or a number, and the
/// call id comes first with its length, so no two (call, trace, expiry) sign the same text.
const FIELD: char = '\n';

type HmacSha256 = Hmac<Sha256>;

/// The key links are signed with. Its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct LinkKey([u8; KEY_BYTES]);

impl std::fmt::Debug for LinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkKey(***)")
    }
}

/// Why a signed link is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// It was signed for another call, trace or expiry, or not by this receiver.
    #[error("the link's signature does not match")]
    Tampered,
    /// Its time is up.
    #[error("the link has expired")]
    Expired,
}

/// A signed link's query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed<'a> {
    /// The trace id it names.
    pub trace_id: &'a str,
    /// Unix seconds after which it is refused.
    pub expires: i64,
    /// Hex HMAC-SHA256.
    pub signature: &'a str,
}

impl LinkKey {
    /// A key of these bytes.
    pub fn new(bytes: [u8; KEY_BYTES]) -> LinkKey {
        LinkKey(bytes)
    }

    fn mac(&self, call_id: &str, trace_id: &str, expires: i64) -> HmacSha256 {
        let mut mac = HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length");
        let text = format!(
            "{}{FIELD}{call_id}{FIELD}{trace_id}{FIELD}{expires}",
            call_id.len()
        );
        mac.update(text.as_bytes());
        mac
    }

    /// The hex signature of a link to this call's recording, valid until `expires`.
    pub fn sign(&self, call_id: &str, trace_id: &str, expires: i64) -> String {
        hex(&self.mac(call_id, trace_id, expires).finalize().into_bytes())
    }

    /// Whether a signed link to `call_id` holds at `now` (Unix seconds); compared in constant
    /// time.
    pub fn verify(&self, call_id: &str, link: &Signed<'_>, now: i64) -> Result<(), LinkError> {
        let presented = unhex(link.signature).ok_or(LinkError::Tampered)?;
        self.mac(call_id, link.trace_id, link.expires)
            .verify_slice(&presented)
            .map_err(|_| LinkError::Tampered)?;
        if now > link.expires {
            return Err(LinkError::Expired);
        }
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if text.len() % 2 != 0 || !text.is_ascii() {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).ok())
        .collect()
}

/// The API path of a call's recording, `/v1/recordings/{callId}?traceId=...` (the call id
/// percent-encoded), with the signature's parameters when given.
pub fn path(call_id: &str, trace_id: &str, signed: Option<(i64, &str)>) -> String {
    let url = url_below(
        &Url::parse("http://localhost/").expect("a valid URL"),
        call_id,
        trace_id,
        signed,
    );
    match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    }
}

fn url_below(base: &Url, call_id: &str, trace_id: &str, signed: Option<(i64, &str)>) -> Url {
    let mut url = base.clone();
    if let Ok(mut segments) = url.path_segments_mut() {
        segments.pop_if_empty();
        for part in RECORDINGS_PATH.split('/').filter(|p| !p.is_empty()) {
            segments.push(part);
        }
        segments.push(call_id);
    }
    {
        let mut query = url.query_pairs_mut();
        query.clear().append_pair("traceId", trace_id);
        if let Some((expires, signature)) = signed {
            query
                .append_pair("expires", &expires.to_string())
                .append_pair("signature", signature);
        }
    }
    url
}

/// Signed links for sinks and API answers.
#[derive(Debug, Clone)]
pub struct Links {
    key: LinkKey,
    /// The receiver's public base URL (`public_url`); sinks get links only with one.
    public_url: Option<Url>,
    /// How long a link handed to a sink works, seconds.
    sink_ttl_secs: i64,
}

impl Links {
    /// Links signed with `key`; absolute ones below `public_url`, valid `sink_ttl_secs`.
    pub fn new(key: LinkKey, public_url: Option<Url>, sink_ttl_secs: u64) -> Links {
        Links {
            key,
            public_url,
            sink_ttl_secs: i64::try_from(sink_ttl_secs).unwrap_or(i64::MAX),
        }
    }

    /// The key links are checked with.
    pub fn key(&self) -> &LinkKey {
        &self.key
    }

    /// A signed link below the public URL for a sink, valid from `now` (Unix seconds) for the
    /// sink link lifetime; `None` without a public URL.
    pub fn public(&self, call_id: &str, trace_id: &str, now: i64) -> Option<String> {
        let base = self.public_url.as_ref()?;
        let expires = now.saturating_add(self.sink_ttl_secs);
        let signature = self.key.sign(call_id, trace_id, expires);
        Some(url_below(base, call_id, trace_id, Some((expires, &signature))).to_string())
    }

    /// A signed API path (no host), valid from `now` for `ttl_secs`.
    pub fn signed_path(&self, call_id: &str, trace_id: &str, now: i64, ttl_secs: i64) -> String {
        let expires = now.saturating_add(ttl_secs);
        let signature = self.key.sign(call_id, trace_id, expires);
        path(call_id, trace_id, Some((expires, &signature)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TRACE: &str = "c47878fe9028d3c49ac93cf9aa429a9e";

    fn key() -> LinkKey {
        LinkKey::new([7; KEY_BYTES])
    }

    #[test]
    fn a_signed_link_holds_until_it_expires() {
        let signature = key().sign("call-1", TRACE, 1000);
        let link = Signed {
            trace_id: TRACE,
            expires: 1000,
            signature: &signature,
        };
        assert_eq!(key().verify("call-1", &link, 1000), Ok(()));
        assert_eq!(key().verify("call-1", &link, 1001), Err(LinkError::Expired));
    }

    #[test]
    fn changing_anything_breaks_the_signature() {
        let signature = key().sign("call-1", TRACE, 1000);
        let good = Signed {
            trace_id: TRACE,
            expires: 1000,
            signature: &signature,
        };
        assert_eq!(key().verify("call-2", &good, 0), Err(LinkError::Tampered));
        let later = Signed {
            expires: 2000,
            ..good.clone()
        };
        assert_eq!(key().verify("call-1", &later, 0), Err(LinkError::Tampered));
        let other_trace = Signed {
            trace_id: "0".repeat(32).leak(),
            ..good.clone()
        };
        assert_eq!(
            key().verify("call-1", &other_trace, 0),
            Err(LinkError::Tampered)
        );
        let other_key = LinkKey::new([8; KEY_BYTES]);
        assert_eq!(
            other_key.verify("call-1", &good, 0),
            Err(LinkError::Tampered)
        );
        let garbage = Signed {
            signature: "zz",
            ..good
        };
        assert_eq!(
            key().verify("call-1", &garbage, 0),
            Err(LinkError::Tampered)
        );
        assert_eq!(format!("{:?}", key()), "LinkKey(***)");
    }

    #[test]
    fn paths_encode_the_call_id_and_carry_the_signature() {
        assert_eq!(
            path("a b/c", TRACE, None),
            format!("/v1/recordings/a%20b%2Fc?traceId={TRACE}")
        );
        let links = Links::new(key(), Url::parse("https://vt.example.com/base/").ok(), 60);
        let public = links.public("call-1", TRACE, 100).unwrap();
        let signature = key().sign("call-1", TRACE, 160);
        assert_eq!(
            public,
            format!("https://vt.example.com/base/v1/recordings/call-1?traceId={TRACE}&expires=160&signature={signature}")
        );
        assert!(Links::new(key(), None, 60)
            .public("call-1", TRACE, 100)
            .is_none());
        assert_eq!(
            links.signed_path("call-1", TRACE, 100, 10),
            path(
                "call-1",
                TRACE,
                Some((110, &key().sign("call-1", TRACE, 110)))
            )
        );
    }
}
