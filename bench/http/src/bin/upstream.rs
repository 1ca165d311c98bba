//! `upstream`: a local stand-in for the profile and orders services of the bff-aggregation
//! example. Fixed JSON answers; the same credentials check the example's connectors send;
//! an optional fixed latency per answer.
//!
//! - `GET /v1/users/{id}` (bearer token): `u-1001` is a gold customer, `u-1002` a standard
//!   one, any other id is 404.
//! - `GET /v1/customers/{id}/orders` (`X-Api-Key`): three orders, one open.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use serde_json::json;

/// Flags (and env vars) of the upstream stub.
#[derive(Debug, Parser)]
struct Config {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18090")]
    listen: SocketAddr,
    /// Bearer token the profile service accepts.
    #[arg(long, env = "PROFILE_API_TOKEN", default_value = "profile-token")]
    profile_token: String,
    /// API key the orders service accepts.
    #[arg(long, env = "ORDERS_API_KEY", default_value = "orders-key")]
    orders_key: String,
    /// Fixed delay before each answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
}

/// Answers are serialized once at start: the stub should cost as little as possible so the
/// benchmark measures the servers in front of it.
#[derive(Debug)]
struct Upstream {
    bearer: String,
    orders_key: String,
    latency: Duration,
    gold: String,
    standard: String,
    orders: String,
}

fn json_response(body: &str) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response()
}

async fn profile(
    State(upstream): State<Arc<Upstream>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()) != Some(upstream.bearer.as_bytes())
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if !upstream.latency.is_zero() {
        tokio::time::sleep(upstream.latency).await;
    }
    match id.as_str() {
        "u-1001" => json_response(&upstream.gold),
        "u-1002" => json_response(&upstream.standard),
        _ => (StatusCode::NOT_FOUND, "no such user").into_response(),
    }
}

async fn orders(
    State(upstream): State<Arc<Upstream>>,
    Path(_id): Path<String>,
    headers: HeaderMap,
) -> Response {
    if headers.get("x-api-key").map(|v| v.as_bytes()) != Some(upstream.orders_key.as_bytes()) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if !upstream.latency.is_zero() {
        tokio::time::sleep(upstream.latency).await;
    }
    json_response(&upstream.orders)
}

fn app(upstream: Arc<Upstream>) -> Router {
    Router::new()
        .route("/v1/users/{id}", get(profile))
        .route("/v1/customers/{id}/orders", get(orders))
        .with_state(upstream)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let profile = |id: &str, name: &str, tier: &str| {
        json!({
            "id": id, "displayName": name, "email": format!("{id}@example.com"),
            "tier": tier, "memberSince": "2019-04-02", "preferredCurrency": "EUR"
        })
        .to_string()
    };
    let upstream = Arc::new(Upstream {
        bearer: format!("Bearer {}", config.profile_token),
        orders_key: config.orders_key,
        latency: Duration::from_millis(config.latency_ms),
        gold: profile("u-1001", "Ada Lovelace", "gold"),
        standard: profile("u-1002", "Charles Babbage", "standard"),
        orders: json!({"orders": [
            {"id": "o-9003", "placedAt": "2024-03-08T09:12:00Z", "status": "SHIPPED", "totalCents": 12990, "currency": "EUR", "itemCount": 2},
            {"id": "o-8871", "placedAt": "2024-02-21T17:40:00Z", "status": "DELIVERED", "totalCents": 4590, "currency": "EUR", "itemCount": 1},
            {"id": "o-8410", "placedAt": "2024-01-30T08:05:00Z", "status": "CANCELLED", "totalCents": 2500, "currency": "EUR", "itemCount": 1}
        ]})
        .to_string(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    eprintln!("upstream: listening on {}", listener.local_addr()?);
    axum::serve(listener, app(upstream))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
