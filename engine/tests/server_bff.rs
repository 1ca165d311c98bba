//! The bff-aggregation example deployed through the admin API, its HTTP connectors pointed
//! at a local upstream (profile and orders services) started by the test: a JWT-protected
//! route, parallel connector calls, a JavaScript transform, business errors mapped to 404.

mod server_common;

use std::path::PathBuf;

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use serde_json::{Value, json};
use server_common::{TOKEN, start_engine};
use starweave_engine::server::auth::sign_jwt;
use starweave_engine::server::registry::EngineOptions;

const JWT_SECRET: &str = "bff-test-secret";

async fn profile(Path(id): Path<String>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer profile-token") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    match id.as_str() {
        "u-1001" => Ok(Json(json!({
            "id": "u-1001", "displayName": "Ada Lovelace", "email": "ada@example.com",
            "tier": "gold", "memberSince": "2019-04-02", "preferredCurrency": "EUR"
        }))),
        _ => Err(StatusCode::NOT_FOUND),
    }
}

async fn orders(Path(_id): Path<String>, headers: HeaderMap) -> Result<Json<Value>, StatusCode> {
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("orders-key") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok(Json(json!({"orders": [
        {"id": "o-9003", "placedAt": "2024-03-08T09:12:00Z", "status": "SHIPPED", "totalCents": 12990, "currency": "EUR", "itemCount": 2},
        {"id": "o-8871", "placedAt": "2024-02-21T17:40:00Z", "status": "DELIVERED", "totalCents": 4590, "currency": "EUR", "itemCount": 1}
    ]})))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bff_example_serves_a_dashboard_from_a_local_upstream() {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let upstream_url = format!("http://{}", upstream.local_addr().expect("addr"));
    let app = axum::Router::new()
        .route("/v1/users/{id}", get(profile))
        .route("/v1/customers/{id}/orders", get(orders));
    tokio::spawn(async move { axum::serve(upstream, app).await });

    let engine = start_engine(EngineOptions::default()).await;
    let example =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../assets/examples/bff-aggregation");
    let env = json!({"env": {
        "PROFILE_API_URL": upstream_url, "PROFILE_API_TOKEN": "profile-token",
        "ORDERS_API_URL": upstream_url, "ORDERS_API_KEY": "orders-key",
        "DASHBOARD_JWT_SECRET": JWT_SECRET,
    }});
    let (status, body) = engine.deploy("bff", "1", &example, env).await;
    assert_eq!(status, 201, "{body}");

    let token = sign_jwt(
        &json!({"sub": "u-1001", "iss": "https://shop.example.com", "aud": "account-page", "exp": 4_000_000_000u64}),
        JWT_SECRET.as_bytes(),
    );
    let url = engine.url("/bff/users/u-1001/dashboard");
    let response = engine
        .client
        .get(&url)
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["user"]["name"], "Ada Lovelace", "{body}");
    assert_eq!(body["summary"]["ordersAvailable"], true, "{body}");
    assert_eq!(body["summary"]["recentOrderCount"], 2, "{body}");
    assert_eq!(body["segment"], "vip", "{body}");

    // Unknown user: the profile service's 404 is the business error NOT_FOUND → 404.
    let response = engine
        .client
        .get(engine.url("/bff/users/u-404/dashboard"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "NOT_FOUND", "{body}");

    // No token, a token signed with another secret, an expired one: 401.
    let forged = sign_jwt(
        &json!({"iss": "https://shop.example.com", "aud": "account-page"}),
        b"other",
    );
    let expired = sign_jwt(
        &json!({"iss": "https://shop.example.com", "aud": "account-page", "exp": 1}),
        JWT_SECRET.as_bytes(),
    );
    for auth in [None, Some(forged), Some(expired)] {
        let mut request = engine.client.get(&url);
        if let Some(token) = auth {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("get");
        assert_eq!(response.status(), 401);
        assert_eq!(
            response
                .headers()
                .get("www-authenticate")
                .map(|v| v.as_bytes()),
            Some(&b"Bearer"[..])
        );
    }

    // The admin API lists the route; the OpenAPI document declares the JWT scheme.
    let list: Value = engine
        .client
        .get(engine.admin_url("/admin/deployments/bff/1"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("show")
        .json()
        .await
        .expect("json");
    assert_eq!(
        list["routes"],
        json!(["GET /users/{id}/dashboard → getDashboard"])
    );
    let (_, doc) = engine.get("/bff/openapi.json").await;
    assert_eq!(
        doc["components"]["securitySchemes"]["jwt"]["scheme"],
        "bearer"
    );
    assert!(doc["paths"]["/users/{id}/dashboard"]["get"]["responses"]["404"].is_object());
}
