//! HS256 JSON Web Tokens: just what the benchmark needs, signing for the load generator and
//! verification for the hand-written server (signature, `exp`, `nbf`, `iss`, `aud`).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{KeyInit, Mac};
use serde::Deserialize;
use serde_json::Value;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Signs `claims` with `secret`.
pub fn sign(claims: &Value, secret: &[u8]) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac = HmacSha256::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

#[derive(Deserialize)]
struct Claims {
    exp: Option<i64>,
    nbf: Option<i64>,
    iss: Option<String>,
    aud: Option<Audience>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
}

/// What a valid token must carry besides a good signature.
#[derive(Debug, Clone)]
pub struct Expected<'a> {
    /// Required `iss`.
    pub issuer: &'a str,
    /// Required `aud` (or one of them).
    pub audience: &'a str,
    /// Seconds since the Unix epoch.
    pub now: i64,
}

/// Verifies `token`; the error says why it is refused.
pub fn verify(token: &str, secret: &[u8], expected: &Expected<'_>) -> Result<(), &'static str> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err("malformed token");
    };
    let header: Header = decode_json(header)?;
    if header.alg != "HS256" {
        return Err("unsupported algorithm");
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| "malformed token")?;
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|_| "bad key")?;
    mac.update(&token.as_bytes()[..token.len() - signature_len(token)]);
    // `verify_slice` compares in constant time.
    mac.verify_slice(&signature).map_err(|_| "bad signature")?;
    let claims: Claims = decode_json(payload)?;
    if claims.exp.is_some_and(|exp| expected.now >= exp) {
        return Err("expired");
    }
    if claims.nbf.is_some_and(|nbf| expected.now < nbf) {
        return Err("not valid yet");
    }
    if claims.iss.as_deref() != Some(expected.issuer) {
        return Err("wrong issuer");
    }
    let audience_ok = match &claims.aud {
        Some(Audience::One(aud)) => aud == expected.audience,
        Some(Audience::Many(auds)) => auds.iter().any(|aud| aud == expected.audience),
        None => false,
    };
    if !audience_ok {
        return Err("wrong audience");
    }
    Ok(())
}

/// Length of the `.signature` tail, so the signing input is the text before it.
fn signature_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, &'static str> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| "malformed token")?;
    serde_json::from_slice(&bytes).map_err(|_| "malformed token")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EXPECTED: Expected<'static> = Expected {
        issuer: "me",
        audience: "page",
        now: 1_000,
    };

    #[test]
    fn a_signed_token_verifies_and_tampering_is_refused() {
        let token = sign(&json!({"iss": "me", "aud": "page", "exp": 2_000}), b"k");
        assert_eq!(verify(&token, b"k", &EXPECTED), Ok(()));
        assert_eq!(verify(&token, b"other", &EXPECTED), Err("bad signature"));
        let list = sign(&json!({"iss": "me", "aud": ["x", "page"]}), b"k");
        assert_eq!(verify(&list, b"k", &EXPECTED), Ok(()));
        let expired = sign(&json!({"iss": "me", "aud": "page", "exp": 1_000}), b"k");
        assert_eq!(verify(&expired, b"k", &EXPECTED), Err("expired"));
        let stranger = sign(&json!({"iss": "you", "aud": "page"}), b"k");
        assert_eq!(verify(&stranger, b"k", &EXPECTED), Err("wrong issuer"));
        let elsewhere = sign(&json!({"iss": "me", "aud": "shop"}), b"k");
        assert_eq!(verify(&elsewhere, b"k", &EXPECTED), Err("wrong audience"));
        assert_eq!(verify("a.b", b"k", &EXPECTED), Err("malformed token"));
    }
}
