//! `/vms/{vms}/git/*`: the HTTP side of [`super::git`]. Operations that change the
//! repository hold the VMS's lock, so they never interleave with file writes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::error::{ApiError, ApiResult};
use super::{ApiRoutes, AppState, Json, Path, Query, blocking, credentials, git, ssh};

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .route("/vms/{vms}/git/status", &["get"], get(status))
        .route("/vms/{vms}/git/diff", &["get"], get(diff))
        .route("/vms/{vms}/git/commit", &["post"], post(commit))
        .route("/vms/{vms}/git/log", &["get"], get(log))
        .route(
            "/vms/{vms}/git/branches",
            &["get", "post"],
            get(branches).post(create_branch),
        )
        .route("/vms/{vms}/git/checkout", &["post"], post(checkout))
        .route("/vms/{vms}/git/pull", &["post"], post(pull))
        .route("/vms/{vms}/git/push", &["post"], post(push))
        .route("/vms/{vms}/git/fetch", &["post"], post(fetch))
        .route("/vms/{vms}/git/resolve", &["post"], post(resolve))
        .route("/git/known-hosts", &["post"], post(trust_host_key))
        .route(
            "/git/credentials",
            &["get", "put", "delete"],
            get(list_credentials)
                .put(store_credential)
                .delete(remove_credential),
        )
}

async fn status(
    State(state): State<AppState>,
    Path(vms): Path<String>,
) -> ApiResult<Json<git::StatusReport>> {
    let dir = state.workspace().vms_dir(&vms)?;
    blocking(move || git::status(&dir).map(Json)).await
}

#[derive(Debug, Deserialize)]
struct DiffQuery {
    #[serde(default)]
    path: Option<String>,
}

async fn diff(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Query(query): Query<DiffQuery>,
) -> ApiResult<Json<Value>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let path = query.path.filter(|p| !p.is_empty());
    if let Some(path) = &path {
        super::paths::check_relative_path(path)?;
    }
    blocking(move || {
        let files = git::diff(&dir, path.as_deref())?;
        Ok(Json(json!({ "files": files })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CommitRequest {
    message: String,
    #[serde(default)]
    paths: Option<Vec<String>>,
}

async fn commit(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<CommitRequest>,
) -> ApiResult<Json<git::CommitInfo>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let _guard = state.lock(&vms).await;
    blocking(move || git::commit(&dir, &request.message, request.paths.as_deref()).map(Json)).await
}

#[derive(Debug, Deserialize)]
struct LogQuery {
    #[serde(default)]
    limit: Option<usize>,
}

async fn log(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Query(query): Query<LogQuery>,
) -> ApiResult<Json<Vec<git::LogEntry>>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let limit = query.limit.unwrap_or(50).clamp(1, 1000);
    blocking(move || git::log(&dir, limit).map(Json)).await
}

async fn branches(
    State(state): State<AppState>,
    Path(vms): Path<String>,
) -> ApiResult<Json<git::Branches>> {
    let dir = state.workspace().vms_dir(&vms)?;
    blocking(move || git::branches(&dir).map(Json)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BranchRequest {
    name: String,
    #[serde(default)]
    from: Option<String>,
}

async fn create_branch(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<BranchRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let dir = state.workspace().vms_dir(&vms)?;
    let _guard = state.lock(&vms).await;
    blocking(move || {
        git::create_branch(&dir, &request.name, request.from.as_deref())?;
        Ok((StatusCode::CREATED, Json(json!({ "name": request.name }))))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CheckoutRequest {
    branch: String,
}

async fn checkout(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<CheckoutRequest>,
) -> ApiResult<Json<Value>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let _guard = state.lock(&vms).await;
    blocking(move || {
        git::checkout(&dir, &request.branch)?;
        Ok(Json(json!({ "branch": request.branch })))
    })
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RemoteRequest {
    #[serde(default)]
    remote: Option<String>,
}

async fn pull(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<RemoteRequest>,
) -> ApiResult<Json<git::PullReport>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let _guard = state.lock(&vms).await;
    blocking(move || {
        let tokens = state.token_lookup();
        git::pull(
            &dir,
            request.remote.as_deref(),
            &git::RemoteAuth::new(&tokens),
        )
        .map(Json)
    })
    .await
}

async fn push(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<RemoteRequest>,
) -> ApiResult<Json<Value>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let _guard = state.lock(&vms).await;
    blocking(move || {
        let tokens = state.token_lookup();
        git::push(
            &dir,
            request.remote.as_deref(),
            &git::RemoteAuth::new(&tokens),
        )?;
        Ok(Json(json!({ "pushed": true })))
    })
    .await
}

async fn fetch(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<RemoteRequest>,
) -> ApiResult<Json<git::StatusReport>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let _guard = state.lock(&vms).await;
    blocking(move || {
        let tokens = state.token_lookup();
        git::fetch(
            &dir,
            request.remote.as_deref(),
            &git::RemoteAuth::new(&tokens),
        )
        .map(Json)
    })
    .await
}

/// `POST /git/known-hosts`: trusts an SSH host key the user compared with what the server's
/// owner publishes (the details of an `unknown_host_key` error), by adding it to
/// `~/.ssh/known_hosts`.
async fn trust_host_key(Json(request): Json<ssh::TrustRequest>) -> ApiResult<Json<ssh::HostKey>> {
    blocking(move || ssh::trust(&request).map(Json)).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveRequest {
    path: String,
    take: git::Resolution,
}

async fn resolve(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<ResolveRequest>,
) -> ApiResult<Json<git::StatusReport>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let _guard = state.lock(&vms).await;
    blocking(move || {
        git::resolve(&dir, &request.path, request.take)?;
        git::status(&dir).map(Json)
    })
    .await
}

/// `GET /git/credentials`: where tokens are kept and for which servers (never the tokens).
async fn list_credentials(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    blocking(move || {
        let credentials = state.credentials();
        let info = credentials.info();
        let list = credentials.list()?;
        Ok(Json(json!({
            "store": info.store,
            "persistent": info.persistent,
            "reason": info.reason,
            "credentials": list,
        })))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CredentialRequest {
    /// Any URL of the server (a repository's clone URL will do).
    url: String,
    #[serde(default)]
    username: Option<String>,
    token: String,
}

/// `PUT /git/credentials`: keeps a token for the server of `url`, replacing the old one.
async fn store_credential(
    State(state): State<AppState>,
    Json(request): Json<CredentialRequest>,
) -> ApiResult<Json<Value>> {
    let origin = credentials::sendable_origin_or_error(&request.url)?;
    let credential = credentials::Credential::new(request.username.as_deref(), &request.token)?;
    blocking(move || {
        let credentials = state.credentials();
        credentials.store(&origin, &credential)?;
        let info = credentials.info();
        Ok(Json(json!({
            "origin": origin,
            "username": credential.username,
            "store": info.store,
            "persistent": info.persistent,
        })))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct RemoveCredentialQuery {
    url: String,
}

/// `DELETE /git/credentials?url=…`: forgets the token of that server.
async fn remove_credential(
    State(state): State<AppState>,
    Query(query): Query<RemoveCredentialQuery>,
) -> ApiResult<StatusCode> {
    let origin = credentials::origin_or_error(&query.url)?;
    blocking(move || {
        if state.credentials().remove(&origin)? {
            Ok(StatusCode::NO_CONTENT)
        } else {
            Err(ApiError::NotFound(format!("no token is kept for {origin}")))
        }
    })
    .await
}
