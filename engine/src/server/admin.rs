//! The admin API (its own port, loopback by default): what the control plane's reconciler
//! drives. Every `/admin/…` call needs `Authorization: Bearer <admin token>` (compared in
//! constant time); `/healthz`, `/readyz` and `/metrics` are open so probes and Prometheus
//! need no secret.
//!
//! | call | does |
//! |---|---|
//! | `POST /admin/deployments` | load (or re-apply) a [`DeploymentSpec`] and make it the active version: 201 when loaded, 200 when the same build and settings were already loaded, 422 with diagnostics when the VMS does not load (the previous version keeps serving), 400 for a bad request or source, 500 when it cannot be recorded in the state directory (not activated) |
//! | `GET /admin/deployments` | every deployment ([`DeploymentInfo`]) |
//! | `GET /admin/deployments/{vms}/{version}` | one deployment |
//! | `DELETE /admin/deployments/{vms}/{version}` | unload it; answers once its in-flight runs are done (204), or after the drain timeout cancelled the rest (200 with `{"drained": false}`) |
//! | `POST /admin/deployments/{vms}/{version}/activate` | make a loaded version the active one again (a rollback: nothing is sent or compiled); 404 when it is not loaded |
//! | `PUT /admin/deployments/{vms}/{version}/log-level` | `{"level": "debug"}` |
//! | `GET /admin/logs/{vms}` | the VMS's recent log lines ([`super::recent`]): `?after=N&ring=R` for the lines after the last one read, `version=`, `level=warn` (that level and worse), `q=` (text, ignoring case), `trace=` (one trace id), `since=`/`until=` (RFC 3339 times), `limit=` (default 200, at most 2,000); answers `{"vms", "ring", "next", "missed", "lines": [{"seq", "timestamp", "level", "message", …}]}`, 404 when no version of the VMS is loaded |
//! | `GET /healthz` | 200 while the process runs |
//! | `GET /readyz` | 200 once the saved (`--state-dir`) and `--load` deployments are loaded, else 503 |
//! | `GET /metrics` | Prometheus text, see [`super::metrics`] |

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::Server;
use super::error::ApiError;
use super::registry::{DeployError, DeploymentInfo, DeploymentSpec, LogLevel};

/// The largest admin request (an inline base64 tarball), in bytes.
pub const MAX_ADMIN_BODY_BYTES: usize = 96 << 20;

/// The admin router: `/admin/…` behind the bearer token, and the open probes.
pub fn router(server: Arc<Server>) -> Router {
    Router::new()
        .route("/admin/deployments", get(list).post(deploy))
        .route(
            "/admin/deployments/{vms}/{version}",
            get(show).delete(remove),
        )
        .route(
            "/admin/deployments/{vms}/{version}/log-level",
            put(set_log_level),
        )
        .route(
            "/admin/deployments/{vms}/{version}/activate",
            post(reactivate),
        )
        .route("/admin/logs/{vms}", get(logs))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { ApiError::NoSuchRoute })
        .layer(DefaultBodyLimit::max(MAX_ADMIN_BODY_BYTES))
        .layer(middleware::from_fn_with_state(
            server.clone(),
            require_token,
        ))
        .with_state(server)
}

/// Refuses `/admin` calls without the right bearer token (every other path is open).
async fn require_token(
    State(server): State<Arc<Server>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    if !(path == "/admin" || path.starts_with("/admin/")) {
        return next.run(request).await;
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let accepted = match (given, server.admin_token.as_deref()) {
        (Some(given), Some(token)) => bool::from(given.as_bytes().ct_eq(token.as_bytes())),
        _ => false,
    };
    if accepted {
        next.run(request).await
    } else {
        ApiError::Unauthorized(Some("Bearer".into())).into_response()
    }
}

async fn list(State(server): State<Arc<Server>>) -> Json<Vec<DeploymentInfo>> {
    let table = server.registry.table();
    Json(
        table
            .deployments()
            .iter()
            .map(|(d, active)| d.info(*active))
            .collect(),
    )
}

async fn show(
    State(server): State<Arc<Server>>,
    Path((vms, version)): Path<(String, String)>,
) -> Result<Json<DeploymentInfo>, ApiError> {
    let table = server.registry.table();
    let (deployment, active) = table
        .get(&vms, &version)
        .ok_or(ApiError::NoSuchDeployment)?;
    Ok(Json(deployment.info(active)))
}

async fn deploy(State(server): State<Arc<Server>>, body: Bytes) -> Result<Response, ApiError> {
    let spec: DeploymentSpec = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("invalid deployment: {err}")))?;
    let (vms, version) = (spec.vms.clone(), spec.version.clone());
    match server.registry.deploy(spec, None).await {
        Ok(report) => {
            let status = if report.changed {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            tracing::info!(
                vms,
                version,
                changed = report.changed,
                load_ms = report.deployment.load_ms,
                "deployment applied"
            );
            Ok((status, Json(report)).into_response())
        }
        Err(DeployError::Invalid(diagnostics)) => {
            tracing::warn!(
                vms,
                version,
                errors = diagnostics.iter().filter(|d| d.is_error()).count(),
                "deployment refused"
            );
            Err(ApiError::InvalidVms(diagnostics))
        }
        Err(err @ DeployError::State(_)) => {
            tracing::error!(vms, version, error = %err, "deployment not saved");
            Err(ApiError::Storage(err.to_string()))
        }
        Err(err) => Err(ApiError::BadRequest(err.to_string())),
    }
}

async fn remove(
    State(server): State<Arc<Server>>,
    Path((vms, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let drained = server
        .registry
        .undeploy(&vms, &version)
        .await
        .ok_or(ApiError::NoSuchDeployment)?;
    tracing::info!(vms, version, drained, "deployment removed");
    if drained {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Ok((StatusCode::OK, Json(json!({"drained": false}))).into_response())
    }
}

async fn reactivate(
    State(server): State<Arc<Server>>,
    Path((vms, version)): Path<(String, String)>,
) -> Result<Json<DeploymentInfo>, ApiError> {
    match server.registry.reactivate(&vms, &version).await {
        Ok(Some(info)) => {
            tracing::info!(vms, version, "deployment made active again");
            Ok(Json(info))
        }
        Ok(None) => Err(ApiError::NoSuchDeployment),
        Err(err) => {
            tracing::error!(vms, version, error = %err, "deployment not made active");
            Err(ApiError::Storage(err.to_string()))
        }
    }
}

#[derive(Deserialize)]
struct LogLevelBody {
    level: LogLevel,
}

async fn set_log_level(
    State(server): State<Arc<Server>>,
    Path((vms, version)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<DeploymentInfo>, ApiError> {
    let body: LogLevelBody = serde_json::from_slice(&body)
        .map_err(|err| ApiError::BadRequest(format!("invalid log level: {err}")))?;
    server
        .registry
        .set_log_level(&vms, &version, body.level)
        .await
        .map(Json)
        .ok_or(ApiError::NoSuchDeployment)
}

/// The query of `GET /admin/logs/{vms}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    after: Option<u64>,
    ring: Option<u64>,
    version: Option<String>,
    level: Option<LogLevel>,
    q: Option<String>,
    trace: Option<String>,
    since: Option<String>,
    until: Option<String>,
    limit: Option<usize>,
}

/// A time of `since=`/`until=` (RFC 3339) in microseconds since the Unix epoch.
fn log_time(name: &str, text: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(text) = text.filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| Some(t.timestamp_micros()))
        .map_err(|err| {
            ApiError::BadRequest(format!(
                "{name} must be an RFC 3339 time such as 2026-12-07T10:00:00Z: {err}"
            ))
        })
}

/// The most lines one read returns.
const MAX_LOG_LINES: usize = 2000;

async fn logs(
    State(_server): State<Arc<Server>>,
    Path(vms): Path<String>,
    query: Result<Query<LogsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|err| ApiError::BadRequest(err.body_text()))?;
    let limit = query.limit.unwrap_or(200);
    if limit == 0 || limit > MAX_LOG_LINES {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LOG_LINES}"
        )));
    }
    let since = log_time("since", query.since.as_deref())?;
    let until = log_time("until", query.until.as_deref())?;
    if let (Some(since), Some(until)) = (since, until)
        && until < since
    {
        return Err(ApiError::BadRequest("until is before since".into()));
    }
    let page = super::recent::read(
        &vms,
        &super::recent::Query {
            after: query.after,
            ring: query.ring,
            version: query.version,
            max_severity: query.level.map(|l| l as u8),
            contains: query.q,
            trace: query.trace,
            since,
            until,
            limit,
        },
    )
    .ok_or(ApiError::NoSuchVms)?;
    // The kept lines are JSON objects already: the answer is written around them.
    let mut body =
        String::with_capacity(64 + page.lines.iter().map(|l| l.len() + 1).sum::<usize>());
    body.push_str("{\"vms\":");
    body.push_str(&serde_json::to_string(&vms).unwrap_or_default());
    body.push_str(&format!(
        ",\"ring\":{},\"next\":{},\"missed\":{},\"lines\":[",
        page.ring, page.next, page.missed
    ));
    for (i, line) in page.lines.iter().enumerate() {
        if i > 0 {
            body.push(',');
        }
        body.push_str(line);
    }
    body.push_str("]}");
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

async fn healthz() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

async fn readyz(State(server): State<Arc<Server>>) -> Response {
    if server.is_ready() {
        Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "loading"})),
        )
            .into_response()
    }
}

async fn metrics(State(server): State<Arc<Server>>) -> Response {
    let text = super::metrics::render(&server.registry.table(), server.unrouted());
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}
