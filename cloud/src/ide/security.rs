//! Who may talk to the server: only through a loopback `Host` (so a web page cannot reach
//! the API by DNS rebinding), and with `--token`, only with `Authorization: Bearer <token>`.

use std::net::IpAddr;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::AppState;
use super::error::ApiError;

/// Refuses requests whose `Host` is not `localhost`, `*.localhost`, a loopback address or
/// the address the server listens on.
pub async fn check_host(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| request.uri().host().map(str::to_owned));
    match host {
        Some(host) if host_allowed(&host, state.config().listen_ip) => next.run(request).await,
        Some(host) => ApiError::ForbiddenHost(format!(
            "requests for host `{}` are refused: open the IDE through 127.0.0.1 or localhost",
            host.chars().take(100).collect::<String>()
        ))
        .into_response(),
        None => ApiError::ForbiddenHost("the request has no Host header".into()).into_response(),
    }
}

/// Whether `host` (a `Host` header value, with or without port) names this machine.
pub fn host_allowed(host: &str, listen_ip: Option<IpAddr>) -> bool {
    // Strip the port: `[::1]:7070`, `127.0.0.1:7070`, `localhost:7070`.
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, after)) if after.is_empty() || after.starts_with(':') => inside,
            _ => return false,
        }
    } else {
        match host.rsplit_once(':') {
            Some((name, port)) if port.chars().all(|c| c.is_ascii_digit()) => name,
            Some(_) => return false,
            None => host,
        }
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    if name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    match name.parse::<IpAddr>() {
        Ok(ip) => ip.is_loopback() || Some(ip) == listen_ip.filter(|l| !l.is_unspecified()),
        Err(_) => false,
    }
}

/// With `--token`, refuses API requests without the right bearer token.
pub async fn require_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(token) = &state.config().token {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .and_then(|h| h.strip_prefix("Bearer "))
            .unwrap_or("");
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return ApiError::Unauthorized.into_response();
        }
    }
    next.run(request).await
}

/// The most a refused body is read to drain it (beyond that the connection is just closed).
const DRAIN_LIMIT: u64 = 256 * 1024 * 1024;

/// Answers `413 too_large` to a request whose `Content-Length` is over the body limit. The body
/// is read and dropped first (up to [`DRAIN_LIMIT`]), so the client gets the answer instead of
/// a connection broken mid-upload.
pub async fn refuse_large_bodies(request: Request, next: Next) -> Response {
    let length = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match length {
        Some(length) if length > super::BODY_LIMIT as u64 => {
            if length <= DRAIN_LIMIT {
                use http_body_util::BodyExt as _;
                let mut body = request.into_body();
                while let Some(Ok(_)) = body.frame().await {}
            }
            ApiError::TooLarge.into_response()
        }
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn loopback_hosts() {
        for ok in [
            "localhost",
            "localhost:7070",
            "LOCALHOST.",
            "ide.localhost:1",
            "127.0.0.1:7070",
            "127.1.2.3",
            "[::1]:7070",
            "[::1]",
        ] {
            assert!(host_allowed(ok, None), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:7070",
            "localhost.evil.example",
            "10.0.0.1:7070",
            "[::1]x",
            "127.0.0.1:x",
            "",
        ] {
            assert!(!host_allowed(bad, None), "{bad}");
        }
        let lan: std::net::IpAddr = "192.168.1.5".parse().unwrap();
        assert!(host_allowed("192.168.1.5:7070", Some(lan)));
        assert!(!host_allowed(
            "0.0.0.0:7070",
            Some("0.0.0.0".parse().unwrap())
        ));
    }
}
