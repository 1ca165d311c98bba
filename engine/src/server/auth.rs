//! Authentication of HTTP trigger routes ([`RouteAuth`]): an API key header, HTTP basic, or
//! a JWT bearer token signed with HS256. Secrets come from the deployment's env values and
//! are resolved when the deployment loads: a route whose secret has no value does not load.
//! Every comparison of a secret is constant-time. A JWT must name `HS256` and carry an
//! `exp` (a token without one would never expire: a leaked one would stay good until the
//! secret is rotated); `exp` and `nbf` must be NumericDates (numbers of seconds, fractions
//! allowed) — a token with anything else there is malformed, not unlimited — and a claim
//! may not appear twice. Both dates get [`CLOCK_LEEWAY_SECS`] of leeway, for issuers whose
//! clock is a little ahead or behind.
//!
//! JWKS (`jwks_url`, RS256/ES256) is not supported by this engine yet; a route asking for
//! it does not load, rather than being served unauthenticated.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::HeaderMap;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use serde_json::Value;
use starweave_model::vms::trigger::RouteAuth;
use subtle::ConstantTimeEq;

/// A route's authentication with its secrets resolved.
#[derive(Clone)]
pub enum Authenticator {
    /// A static key in a header.
    ApiKey {
        /// The header name, lower case.
        header: String,
        /// The accepted key.
        key: String,
    },
    /// HTTP basic.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// JWT HS256.
    Jwt {
        /// The HMAC keyed with the secret, cloned for each token (keying it hashes two
        /// blocks, which then happens once per deployment instead of once per request).
        key: JwtKey,
        /// Required `iss`.
        issuer: Option<String>,
        /// Required `aud`.
        audience: Option<String>,
    },
}

impl Authenticator {
    /// The `WWW-Authenticate` challenge of a refusal: the scheme a client should use (none
    /// for an API key, which HTTP has no scheme for).
    pub fn challenge(&self, vms: &str) -> Option<String> {
        match self {
            Authenticator::ApiKey { .. } => None,
            Authenticator::Basic { .. } => Some(format!("Basic realm=\"{vms}\"")),
            Authenticator::Jwt { .. } => Some("Bearer".to_owned()),
        }
    }
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print secrets.
        let kind = match self {
            Authenticator::ApiKey { .. } => "api_key",
            Authenticator::Basic { .. } => "basic",
            Authenticator::Jwt { .. } => "jwt",
        };
        f.debug_struct("Authenticator")
            .field("kind", &kind)
            .finish_non_exhaustive()
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthFailure(pub &'static str);

impl Authenticator {
    /// Resolves the secrets of `auth` from `env`; an error says what is missing.
    pub fn new(auth: &RouteAuth, env: &BTreeMap<String, String>) -> Result<Authenticator, String> {
        let value = |name: &str| {
            env.get(name)
                .filter(|v| !v.is_empty())
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "the route's authentication needs the env var `{name}`, which has no value"
                    )
                })
        };
        Ok(match auth {
            RouteAuth::ApiKey { header, value_env } => Authenticator::ApiKey {
                header: header.to_ascii_lowercase(),
                key: value(value_env)?,
            },
            RouteAuth::Basic {
                username_env,
                password_env,
            } => Authenticator::Basic {
                username: value(username_env)?,
                password: value(password_env)?,
            },
            RouteAuth::Jwt {
                secret_env: Some(secret_env),
                jwks_url: None,
                issuer,
                audience,
            } => Authenticator::Jwt {
                key: jwt_key(value(secret_env)?.as_bytes())?,
                issuer: issuer.clone(),
                audience: audience.clone(),
            },
            RouteAuth::Jwt {
                jwks_url: Some(_), ..
            } => {
                return Err(
                    "JWT routes with `jwks_url` are not supported by this engine yet".into(),
                );
            }
            RouteAuth::Jwt {
                secret_env: None,
                jwks_url: None,
                ..
            } => {
                return Err("a JWT route needs `secret_env` or `jwks_url`".into());
            }
        })
    }

    /// Checks a request's headers.
    pub fn check(&self, headers: &HeaderMap) -> Result<(), AuthFailure> {
        match self {
            Authenticator::ApiKey { header, key } => {
                let given = headers
                    .get(header.as_str())
                    .ok_or(AuthFailure("missing API key"))?;
                if bool::from(given.as_bytes().ct_eq(key.as_bytes())) {
                    Ok(())
                } else {
                    Err(AuthFailure("wrong API key"))
                }
            }
            Authenticator::Basic { username, password } => {
                let encoded = authorization(headers, "Basic ")
                    .ok_or(AuthFailure("missing basic credentials"))?;
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .map_err(|_| AuthFailure("malformed basic credentials"))?;
                let expected = format!("{username}:{password}");
                if bool::from(decoded.ct_eq(expected.as_bytes())) {
                    Ok(())
                } else {
                    Err(AuthFailure("wrong credentials"))
                }
            }
            Authenticator::Jwt {
                key,
                issuer,
                audience,
            } => {
                let token =
                    authorization(headers, "Bearer ").ok_or(AuthFailure("missing bearer token"))?;
                verify_jwt(
                    token.trim(),
                    key,
                    issuer.as_deref(),
                    audience.as_deref(),
                    unix_now(),
                )
            }
        }
    }
}

fn authorization<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (given, rest) = value.split_at_checked(scheme.len())?;
    given.eq_ignore_ascii_case(scheme).then_some(rest)
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// HMAC-SHA-256 keyed with a route's secret.
pub type JwtKey = hmac::Hmac<sha2::Sha256>;

/// The HMAC keyed with `secret` (HMAC takes keys of any length, so this does not fail in
/// practice; if it did, the route would not load rather than check with another key).
fn jwt_key(secret: &[u8]) -> Result<JwtKey, String> {
    JwtKey::new_from_slice(secret).map_err(|err| format!("the JWT secret is not usable: {err}"))
}

/// The members of a JWT header the engine reads.
#[derive(serde::Deserialize)]
struct JwtHeader {
    alg: Option<Value>,
}

/// The claims the engine checks; any other claim is skipped without being kept.
#[derive(serde::Deserialize)]
struct JwtClaims {
    exp: Option<Value>,
    nbf: Option<Value>,
    iss: Option<Value>,
    aud: Option<Value>,
}

/// Seconds a token's `exp` and `nbf` may be off by (clocks of issuer and engine differ).
pub const CLOCK_LEEWAY_SECS: f64 = 60.0;

/// Verifies an HS256 JWT: signature, `exp` (required), `nbf`, and `iss`/`aud` when required.
pub fn check_jwt(
    token: &str,
    secret: &[u8],
    issuer: Option<&str>,
    audience: Option<&str>,
    now: i64,
) -> Result<(), AuthFailure> {
    let key = jwt_key(secret).map_err(|_| AuthFailure("malformed token"))?;
    verify_jwt(token, &key, issuer, audience, now)
}

/// [`check_jwt`] with the keyed HMAC. The header and claims are read into the few members
/// checked (a claim given twice makes the token malformed).
fn verify_jwt(
    token: &str,
    key: &JwtKey,
    issuer: Option<&str>,
    audience: Option<&str>,
    now: i64,
) -> Result<(), AuthFailure> {
    let malformed = AuthFailure("malformed token");
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed);
    };
    let signing_input = &token[..header.len() + 1 + payload.len()];
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header: JwtHeader =
        serde_json::from_slice(&b64.decode(header).map_err(|_| malformed.clone())?)
            .map_err(|_| malformed.clone())?;
    if header.alg.as_ref().and_then(Value::as_str) != Some("HS256") {
        return Err(AuthFailure("unsupported token algorithm"));
    }
    let signature = b64.decode(signature).map_err(|_| malformed.clone())?;
    let mut mac = key.clone();
    mac.update(signing_input.as_bytes());
    mac.verify_slice(&signature)
        .map_err(|_| AuthFailure("bad token signature"))?;
    let claims: JwtClaims =
        serde_json::from_slice(&b64.decode(payload).map_err(|_| malformed.clone())?)
            .map_err(|_| malformed)?;
    // `exp` and `nbf` are NumericDates (seconds, possibly fractional): anything else there
    // makes the token malformed rather than unlimited.
    let date = |claim: &Option<Value>| match claim {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .map(Some)
            .ok_or(AuthFailure("malformed token")),
    };
    let now = now as f64;
    match date(&claims.exp)? {
        None => return Err(AuthFailure("token without expiry (exp)")),
        Some(exp) if now >= exp + CLOCK_LEEWAY_SECS => return Err(AuthFailure("expired token")),
        Some(_) => {}
    }
    if date(&claims.nbf)?.is_some_and(|nbf| now + CLOCK_LEEWAY_SECS < nbf) {
        return Err(AuthFailure("token not valid yet"));
    }
    if let Some(issuer) = issuer
        && claims.iss.as_ref().and_then(Value::as_str) != Some(issuer)
    {
        return Err(AuthFailure("wrong token issuer"));
    }
    if let Some(audience) = audience {
        let ok = match &claims.aud {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !ok {
            return Err(AuthFailure("wrong token audience"));
        }
    }
    Ok(())
}

/// Signs claims as an HS256 JWT (for tests and tools).
pub fn sign_jwt(claims: &Value, secret: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = b64.encode(claims.to_string());
    let signing_input = format!("{header}.{payload}");
    let mut mac =
        hmac::Hmac::<sha2::Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(signing_input.as_bytes());
    let signature = b64.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn jwt_signature_expiry_issuer_and_audience_are_checked() {
        let token = sign_jwt(&json!({"iss": "me", "aud": ["a", "b"], "exp": 100}), b"k");
        assert_eq!(check_jwt(&token, b"k", Some("me"), Some("b"), 50), Ok(()));
        assert_eq!(
            check_jwt(&token, b"x", None, None, 50),
            Err(AuthFailure("bad token signature"))
        );
        // Expired once `exp` plus the leeway has passed.
        assert_eq!(check_jwt(&token, b"k", None, None, 159), Ok(()));
        assert_eq!(
            check_jwt(&token, b"k", None, None, 160),
            Err(AuthFailure("expired token"))
        );
        assert_eq!(
            check_jwt(&token, b"k", Some("you"), None, 50),
            Err(AuthFailure("wrong token issuer"))
        );
        assert_eq!(
            check_jwt(&token, b"k", None, Some("c"), 50),
            Err(AuthFailure("wrong token audience"))
        );
        assert_eq!(
            check_jwt("a.b", b"k", None, None, 50),
            Err(AuthFailure("malformed token"))
        );
        // Claims the engine does not check are skipped, whatever their shape; an issuer that
        // is not a string is not the issuer.
        let token = sign_jwt(
            &json!({"sub": {"deep": [1, {"x": null}]}, "exp": 60.5, "iss": 7, "aud": "a"}),
            b"k",
        );
        assert_eq!(check_jwt(&token, b"k", None, Some("a"), 120), Ok(()));
        assert_eq!(
            check_jwt(&token, b"k", None, None, 121),
            Err(AuthFailure("expired token"))
        );
        assert_eq!(
            check_jwt(&token, b"k", Some("7"), None, 50),
            Err(AuthFailure("wrong token issuer"))
        );
        // An expiry that is not a date does not make a token unlimited.
        for exp in [json!("soon"), json!([1]), json!({})] {
            let token = sign_jwt(&json!({ "exp": exp }), b"k");
            assert_eq!(
                check_jwt(&token, b"k", None, None, 50),
                Err(AuthFailure("malformed token")),
                "{exp}"
            );
        }
        // A token that never expires is refused; `nbf` waits for its time, less the leeway.
        assert_eq!(
            check_jwt(&sign_jwt(&json!({"sub": "x"}), b"k"), b"k", None, None, 50),
            Err(AuthFailure("token without expiry (exp)"))
        );
        let early = sign_jwt(&json!({"exp": 1000, "nbf": 500}), b"k");
        assert_eq!(
            check_jwt(&early, b"k", None, None, 439),
            Err(AuthFailure("token not valid yet"))
        );
        assert_eq!(check_jwt(&early, b"k", None, None, 440), Ok(()));
        // A claim given twice is refused rather than read one way or the other.
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = b64.encode(br#"{"exp":1,"exp":999}"#);
        let mut mac = jwt_key(b"k").expect("any key length");
        mac.update(format!("{header}.{payload}").as_bytes());
        let signature = b64.encode(mac.finalize().into_bytes());
        assert_eq!(
            check_jwt(
                &format!("{header}.{payload}.{signature}"),
                b"k",
                None,
                None,
                50
            ),
            Err(AuthFailure("malformed token"))
        );
        // The algorithm must be HS256, by name.
        let none = format!("{}.{}.", b64.encode(br#"{"alg":"none"}"#), b64.encode("{}"));
        assert_eq!(
            check_jwt(&none, b"k", None, None, 50),
            Err(AuthFailure("unsupported token algorithm"))
        );
    }

    #[test]
    fn missing_secrets_refuse_the_route() {
        let auth = RouteAuth::ApiKey {
            header: "X-Key".into(),
            value_env: "KEY".into(),
        };
        assert!(Authenticator::new(&auth, &BTreeMap::new()).is_err());
        let env = BTreeMap::from([("KEY".to_owned(), "s3cret".to_owned())]);
        let authenticator = Authenticator::new(&auth, &env).expect("resolved");
        let mut headers = HeaderMap::new();
        assert!(authenticator.check(&headers).is_err());
        headers.insert("x-key", "s3cret".parse().expect("header"));
        assert_eq!(authenticator.check(&headers), Ok(()));
    }
}
