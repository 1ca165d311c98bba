//! `bff-handwritten`: the bff-aggregation example's `GET /users/{id}/dashboard` written by
//! hand in axum + reqwest, the baseline `cargo xtask bench http` compares the engine with.
//!
//! It does the work the example's BPMN does, step for step: the route's JWT check
//! (`triggers.yaml`), `profile.getUser` and `orders.listRecent` in parallel with the
//! connectors' headers, query, timeouts and the profile call's one retry
//! (`connectors/*.yaml`), the orders call degrading to "no orders" on any failure (the
//! error boundary event), the transform of `functions/buildDashboard.js`, and the
//! VIP/regular gateway with its offers. Business errors map as `triggers.yaml` says:
//! `NOT_FOUND` → 404, `PROFILE_UNAVAILABLE` → 503.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use clap::Parser;
use reqwest::Url;
use serde::{Deserialize, Serialize};
use starweave_bench_http::{JWT_AUDIENCE, JWT_ISSUER, VMS_PREFIX, jwt};

/// Flags and env vars; the env names are the ones the example's `vms.yaml` declares.
#[derive(Debug, Parser)]
struct Config {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18091")]
    listen: SocketAddr,
    #[arg(long, env = "PROFILE_API_URL")]
    profile_api_url: Url,
    #[arg(long, env = "PROFILE_API_TOKEN", hide_env_values = true)]
    profile_api_token: String,
    #[arg(long, env = "ORDERS_API_URL")]
    orders_api_url: Url,
    #[arg(long, env = "ORDERS_API_KEY", hide_env_values = true)]
    orders_api_key: String,
    #[arg(long, env = "DASHBOARD_JWT_SECRET", hide_env_values = true)]
    dashboard_jwt_secret: String,
}

#[derive(Debug)]
struct AppState {
    client: reqwest::Client,
    profile_url: Url,
    profile_auth: String,
    orders_url: Url,
    orders_key: String,
    jwt_secret: Vec<u8>,
}

/// The connectors' `timeout_ms`.
const CALL_TIMEOUT: Duration = Duration::from_millis(2_000);
/// The function's `timeout_ms`.
const RUN_TIMEOUT: Duration = Duration::from_millis(3_000);
/// The profile connector's retry: two attempts, 100 ms apart.
const PROFILE_ATTEMPTS: u32 = 2;
const PROFILE_BACKOFF: Duration = Duration::from_millis(100);

/// One error enum for the service; bodies name the business error only.
#[derive(Debug)]
enum ApiError {
    Unauthorized,
    NotFound,
    ProfileUnavailable,
    Timeout,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match self {
            ApiError::Unauthorized => (StatusCode::UNAUTHORIZED, "UNAUTHORIZED"),
            ApiError::NotFound => (StatusCode::NOT_FOUND, "NOT_FOUND"),
            ApiError::ProfileUnavailable => {
                (StatusCode::SERVICE_UNAVAILABLE, "PROFILE_UNAVAILABLE")
            }
            ApiError::Timeout => (StatusCode::GATEWAY_TIMEOUT, "TIMEOUT"),
        };
        (status, Json(serde_json::json!({ "error": code }))).into_response()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Profile {
    id: String,
    display_name: Option<String>,
    email: Option<String>,
    tier: Option<String>,
    member_since: Option<String>,
    preferred_currency: Option<String>,
}

#[derive(Debug, Deserialize)]
struct OrderList {
    orders: Vec<Order>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Order {
    id: String,
    placed_at: String,
    status: String,
    total_cents: i64,
    currency: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Dashboard {
    user: User,
    summary: Summary,
    recent_orders: Vec<OrderLine>,
    segment: &'static str,
    offers: Vec<Offer>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct User {
    id: String,
    name: Option<String>,
    email: Option<String>,
    tier: String,
    member_since: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Summary {
    orders_available: bool,
    recent_order_count: usize,
    open_order_count: usize,
    recent_spend_cents: i64,
    currency: String,
    last_order_at: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct OrderLine {
    id: String,
    placed_at: String,
    status: String,
    total: String,
    open: bool,
}

#[derive(Debug, Serialize)]
struct Offer {
    code: &'static str,
    title: &'static str,
}

fn is_open(status: &str) -> bool {
    matches!(status, "PLACED" | "SHIPPED")
}

fn format_amount(cents: i64, currency: &str) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02} {currency}", abs / 100, abs % 100)
}

/// `buildDashboard.js` followed by the segment gateway and its script tasks.
fn build_dashboard(profile: Profile, orders: Vec<Order>, orders_available: bool) -> Dashboard {
    let currency = profile
        .preferred_currency
        .unwrap_or_else(|| "EUR".to_owned());
    // Totals are per currency; orders paid in another currency are listed but not summed.
    let recent_spend_cents = orders
        .iter()
        .filter(|o| o.status != "CANCELLED" && o.currency == currency)
        .map(|o| o.total_cents)
        .sum();
    let last_order_at = orders.iter().map(|o| &o.placed_at).max().cloned();
    let summary = Summary {
        orders_available,
        recent_order_count: orders.len(),
        open_order_count: orders.iter().filter(|o| is_open(&o.status)).count(),
        recent_spend_cents,
        currency,
        last_order_at,
    };
    let user = User {
        id: profile.id,
        name: profile.display_name,
        email: profile.email,
        tier: profile.tier.unwrap_or_else(|| "standard".to_owned()),
        member_since: profile.member_since,
    };
    let recent_orders = orders
        .into_iter()
        .map(|o| OrderLine {
            total: format_amount(o.total_cents, &o.currency),
            open: is_open(&o.status),
            id: o.id,
            placed_at: o.placed_at,
            status: o.status,
        })
        .collect();
    let vip = user.tier == "gold" || summary.recent_spend_cents >= 100_000;
    let (segment, offers) = if vip {
        let mut offers = vec![
            Offer {
                code: "FREE_EXPRESS",
                title: "Free express shipping on every order",
            },
            Offer {
                code: "VIP_LINE",
                title: "Priority support line",
            },
        ];
        if summary.open_order_count > 0 {
            offers.push(Offer {
                code: "TRACK_LIVE",
                title: "Live tracking for your open orders",
            });
        }
        ("vip", offers)
    } else if summary.recent_order_count == 0 {
        (
            "regular",
            vec![Offer {
                code: "FIRST10",
                title: "10 % off your first order",
            }],
        )
    } else {
        (
            "regular",
            vec![Offer {
                code: "FREESHIP50",
                title: "Free shipping from 50 EUR",
            }],
        )
    };
    Dashboard {
        user,
        summary,
        recent_orders,
        segment,
        offers,
    }
}

fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

async fn get_profile(state: &AppState, id: &str) -> Result<Profile, ApiError> {
    let url = endpoint(&state.profile_url, &["v1", "users", id]);
    let mut attempt = 1;
    loop {
        let sent = state
            .client
            .get(url.clone())
            .header(header::ACCEPT, "application/json")
            .header(header::AUTHORIZATION, &state.profile_auth)
            .timeout(CALL_TIMEOUT)
            .send()
            .await;
        let retryable = match sent {
            Ok(response) if response.status().is_success() => {
                return response
                    .json()
                    .await
                    .map_err(|_| ApiError::ProfileUnavailable);
            }
            Ok(response) if response.status() == StatusCode::NOT_FOUND => {
                return Err(ApiError::NotFound);
            }
            Ok(response) => response.status().is_server_error(),
            Err(_) => true,
        };
        if !retryable || attempt >= PROFILE_ATTEMPTS {
            return Err(ApiError::ProfileUnavailable);
        }
        attempt += 1;
        tokio::time::sleep(PROFILE_BACKOFF).await;
    }
}

/// The orders, or `None` when the service failed (the BPMN's error boundary event).
async fn list_recent_orders(state: &AppState, customer_id: &str) -> Option<Vec<Order>> {
    let mut url = endpoint(
        &state.orders_url,
        &["v1", "customers", customer_id, "orders"],
    );
    url.query_pairs_mut()
        .append_pair("limit", "5")
        .append_pair("sort", "-placedAt");
    let response = state
        .client
        .get(url)
        .header(header::ACCEPT, "application/json")
        .header("x-api-key", &state.orders_key)
        .timeout(CALL_TIMEOUT)
        .send()
        .await
        .ok()?;
    if !response.status().is_success() {
        return None;
    }
    response.json::<OrderList>().await.ok().map(|l| l.orders)
}

fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..7)
                .filter(|s| s.eq_ignore_ascii_case("bearer "))
                .map(|_| &v[7..])
        })
        .ok_or(ApiError::Unauthorized)?;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let expected = jwt::Expected {
        issuer: JWT_ISSUER,
        audience: JWT_AUDIENCE,
        now,
    };
    jwt::verify(token.trim(), &state.jwt_secret, &expected).map_err(|_| ApiError::Unauthorized)
}

async fn dashboard(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Dashboard>, ApiError> {
    authenticate(&state, &headers)?;
    let run = async {
        let (profile, orders) =
            tokio::join!(get_profile(&state, &id), list_recent_orders(&state, &id));
        let profile = profile?;
        let (orders, available) = match orders {
            Some(orders) => (orders, true),
            None => (Vec::new(), false),
        };
        Ok(Json(build_dashboard(profile, orders, available)))
    };
    tokio::time::timeout(RUN_TIMEOUT, run)
        .await
        .unwrap_or(Err(ApiError::Timeout))
}

fn app(state: Arc<AppState>) -> Router {
    Router::new()
        .route(
            &format!("{VMS_PREFIX}/users/{{id}}/dashboard"),
            get(dashboard),
        )
        .with_state(state)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    let state = Arc::new(AppState {
        client: reqwest::Client::builder().no_proxy().build()?,
        profile_url: config.profile_api_url,
        profile_auth: format!("Bearer {}", config.profile_api_token),
        orders_url: config.orders_api_url,
        orders_key: config.orders_api_key,
        jwt_secret: config.dashboard_jwt_secret.into_bytes(),
    });
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    eprintln!("bff-handwritten: listening on {}", listener.local_addr()?);
    axum::serve(listener, app(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
