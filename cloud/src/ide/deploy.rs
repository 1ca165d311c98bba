//! `/vms/{vms}/deploy` and `/vms/{vms}/deployments`: the Deploy panel. A VMS goes from the
//! workspace onto compute engines (`starweave-engine`) through their admin API, exactly as
//! `starweave deploy` sends it (same files, same checks, same version from Git), and the
//! panel lists, re-activates and undeploys its versions there.
//!
//! Each VMS has a *deploy target* in the workspace database: its engines' admin URLs (a
//! pool, rolled out one after the other) and the values of its env vars that are not secret.
//! Secret values are typed for each deployment and never kept by the IDE; the engines keep
//! them with the deployment. Admin tokens are kept per engine origin in the same store as Git
//! tokens (the system keyring when there is one), under their own kind, so a Git server never
//! gets an engine's token or the other way round.
//!
//! `POST /vms/{vms}/logs` reads the VMS's recent log lines on the target's engines (each
//! engine keeps its newest ones; the panel follows them with a cursor per engine), and
//! `PUT …/{version}/log-level` sets a deployment's log level on every engine while it runs.
//!
//! The calls to the engines block (each engine has its own small client), so they run off the
//! async threads; a rollout to a pool that is partly down reports each engine's outcome rather
//! than failing as a whole.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::routing::{delete, get, post};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use starweave_model::vms::disk::parse_manifest;

use super::credentials::{self, Credential, Kind, StoreInfo};
use super::db::{self, DeployTarget};
use super::error::{ApiError, ApiResult};
use super::{ApiRoutes, AppState, Json, Path, Query, blocking};
use crate::deploy::{self as cli_deploy, Admin, Outcome, Settings};

/// The most engines one VMS is deployed to from the IDE.
const MAX_ENGINES: usize = 16;

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .route(
            "/vms/{vms}/deploy",
            &["get", "put", "post"],
            get(target).put(set_target).post(deploy),
        )
        .route("/vms/{vms}/deployments", &["get"], get(deployments))
        .route(
            "/vms/{vms}/deployments/{version}",
            &["delete"],
            delete(undeploy),
        )
        .route(
            "/vms/{vms}/deployments/{version}/activate",
            &["post"],
            post(activate),
        )
        .route(
            "/vms/{vms}/deployments/{version}/log-level",
            &["put"],
            axum::routing::put(set_log_level),
        )
        .route("/vms/{vms}/logs", &["post"], post(read_logs))
        .route(
            "/engine-tokens",
            &["put", "delete"],
            axum::routing::put(store_token).delete(forget_token),
        )
}

/// One engine of a target, as the panel shows it.
#[derive(Debug, Serialize)]
struct EngineView {
    /// The admin API URL.
    url: String,
    /// Whether an admin token is kept for its origin.
    token_kept: bool,
    /// Plain HTTP to another machine: the token and env values travel readable.
    plain_http: bool,
}

/// One declared env var and what the target holds for it.
#[derive(Debug, Serialize)]
struct EnvView {
    name: String,
    secret: bool,
    /// The declared default, shown for non-secret vars.
    default: Option<Value>,
    /// The target's value (never for a secret).
    value: Option<String>,
}

/// `GET /vms/{vms}/deploy`.
#[derive(Debug, Serialize)]
struct TargetView {
    /// The name the VMS has in `vms.yaml` (what the engines know it by).
    vms: Option<String>,
    engines: Vec<EngineView>,
    env: Vec<EnvView>,
    /// The version a deployment would get from Git now.
    version: Option<String>,
    /// Why there is none (no commit yet…).
    version_error: Option<String>,
    /// Where admin tokens are kept.
    store: StoreInfo,
}

/// The declared env vars of the VMS at `dir` and its name (nothing when `vms.yaml` does not
/// parse).
fn declared(dir: &std::path::Path) -> (Option<String>, Vec<starweave_model::vms::env::EnvVar>) {
    let manifest = std::fs::read_to_string(dir.join("vms.yaml"))
        .ok()
        .and_then(|text| parse_manifest("vms.yaml", &text).0);
    match manifest {
        Some(m) => (Some(m.name), m.env),
        None => (None, Vec::new()),
    }
}

fn view(state: &AppState, dir: &std::path::Path, target: &DeployTarget) -> ApiResult<TargetView> {
    let (name, vars) = declared(dir);
    let mut engines = Vec::new();
    for url in &target.engines {
        let token_kept = match credentials::origin(url) {
            Some(origin) => state
                .credentials()
                .get_kind(Kind::Engine, &origin)?
                .is_some(),
            None => false,
        };
        engines.push(EngineView {
            url: url.clone(),
            token_kept,
            plain_http: cli_deploy::engine_url(url)
                .is_ok_and(|u| cli_deploy::plain_http_to_remote(&u)),
        });
    }
    let env = vars
        .into_iter()
        .map(|var| EnvView {
            value: (!var.secret)
                .then(|| target.env.get(&var.name).cloned())
                .flatten(),
            default: (!var.secret).then_some(var.default).flatten(),
            secret: var.secret,
            name: var.name,
        })
        .collect();
    let (version, version_error) = match cli_deploy::default_version(dir) {
        Ok(version) => (Some(version), None),
        Err(e) => (None, Some(format!("{e:#}"))),
    };
    Ok(TargetView {
        vms: name,
        engines,
        env,
        version,
        version_error,
        store: state.credentials().info(),
    })
}

async fn target(
    State(state): State<AppState>,
    Path(vms): Path<String>,
) -> ApiResult<Json<TargetView>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let saved = db::deploy_target(state.db(), &vms).await?;
    Ok(Json(blocking(move || view(&state, &dir, &saved)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetTarget {
    engines: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// `PUT /vms/{vms}/deploy`: the engines and the non-secret env values.
async fn set_target(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<SetTarget>,
) -> ApiResult<Json<TargetView>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let mut engines: Vec<String> = Vec::new();
    for url in &request.engines {
        let url = url.trim().trim_end_matches('/');
        if url.is_empty() {
            continue;
        }
        cli_deploy::engine_url(url).map_err(|e| ApiError::InvalidRequest(format!("{e:#}")))?;
        if !engines.iter().any(|e| e == url) {
            engines.push(url.to_owned());
        }
    }
    if engines.len() > MAX_ENGINES {
        return Err(ApiError::InvalidRequest(format!(
            "at most {MAX_ENGINES} engines per VMS"
        )));
    }
    let (_, vars) = {
        let dir = dir.clone();
        blocking(move || Ok(declared(&dir))).await?
    };
    let mut env = BTreeMap::new();
    for (name, value) in request.env {
        match vars.iter().find(|v| v.name == name) {
            None => {
                return Err(ApiError::InvalidRequest(format!(
                    "`{name}` is not declared in vms.yaml"
                )));
            }
            Some(var) if var.secret => {
                return Err(ApiError::InvalidRequest(format!(
                    "`{name}` is secret: its value is given with each deployment and never kept"
                )));
            }
            Some(_) if value.is_empty() => {}
            Some(_) => {
                env.insert(name, value);
            }
        }
    }
    let target = DeployTarget { engines, env };
    db::set_deploy_target(state.db(), &vms, &target).await?;
    Ok(Json(blocking(move || view(&state, &dir, &target)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    /// The engine's admin URL (its origin keys the token).
    engine: String,
    token: String,
}

fn engine_origin(url: &str) -> ApiResult<String> {
    credentials::origin(url).ok_or_else(|| {
        ApiError::InvalidRequest(format!(
            "`{url}` is not an engine's admin URL (http:// or https://)"
        ))
    })
}

/// `PUT /engine-tokens`: keeps the admin token of an engine.
async fn store_token(
    State(state): State<AppState>,
    Json(request): Json<TokenRequest>,
) -> ApiResult<Json<Value>> {
    let origin = engine_origin(&request.engine)?;
    let credential = Credential::new(None, request.token.trim())?;
    blocking(move || {
        state
            .credentials()
            .store_kind(Kind::Engine, &origin, &credential)?;
        let info = state.credentials().info();
        Ok(Json(serde_json::json!({ "origin": origin, "store": info })))
    })
    .await
}

#[derive(Debug, Deserialize)]
struct EngineQuery {
    engine: String,
}

/// `DELETE /engine-tokens?engine=URL`: forgets it.
async fn forget_token(
    State(state): State<AppState>,
    Query(query): Query<EngineQuery>,
) -> ApiResult<Json<Value>> {
    let origin = engine_origin(&query.engine)?;
    blocking(move || {
        let removed = state.credentials().remove_kind(Kind::Engine, &origin)?;
        Ok(Json(
            serde_json::json!({ "origin": origin, "removed": removed }),
        ))
    })
    .await
}

fn no_engine() -> ApiError {
    ApiError::InvalidRequest("no engine to deploy to: add an engine's admin URL first".into())
}

/// A client for each engine of the target; an engine without a kept token (or whose URL no
/// longer reads) is an outcome of its own rather than an error for the whole pool.
fn clients(state: &AppState, target: &DeployTarget) -> ApiResult<(Vec<Admin>, Vec<EngineOutcome>)> {
    if target.engines.is_empty() {
        return Err(no_engine());
    }
    let mut admins = Vec::new();
    let mut missing = Vec::new();
    for url in &target.engines {
        let token = match credentials::origin(url) {
            Some(origin) => state.credentials().get_kind(Kind::Engine, &origin)?,
            None => None,
        };
        let Some(token) = token else {
            missing.push(EngineOutcome::new(
                url,
                "failed",
                format!("no admin token is kept for {url}; add it in the Deploy panel"),
            ));
            continue;
        };
        match Admin::new(url, &token.token) {
            Ok(admin) => admins.push(admin),
            Err(e) => missing.push(EngineOutcome::new(url, "failed", format!("{e:#}"))),
        }
    }
    Ok((admins, missing))
}

/// What one engine did.
#[derive(Debug, Serialize)]
struct EngineOutcome {
    engine: String,
    /// `deployed`, `unchanged`, `refused`, `failed`, `skipped` (after a refusal), `done`
    /// (activated or undeployed) or `absent` (the engine does not have that version).
    status: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    load_ms: Option<f64>,
}

impl EngineOutcome {
    fn new(engine: &str, status: &'static str, message: String) -> Self {
        EngineOutcome {
            engine: engine.to_owned(),
            status,
            message,
            load_ms: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeployRequest {
    /// The version; from Git when absent.
    #[serde(default)]
    version: Option<String>,
    /// Secret values for this deployment (and non-secret ones overriding the target's).
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    concurrency: Option<u32>,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    log_level: Option<String>,
}

/// `POST /vms/{vms}/deploy`.
#[derive(Debug, Serialize)]
struct DeployAnswer {
    vms: String,
    version: String,
    /// Whether every engine of the target now serves this version.
    ok: bool,
    engines: Vec<EngineOutcome>,
    /// The routes the deployment serves (from the first engine that took it).
    routes: Vec<Value>,
    /// Warnings of the checks (errors refuse the deployment before any engine is asked).
    diagnostics: Vec<starweave_model::Diagnostic>,
    /// Declared env vars with neither a value nor a default.
    unset: Vec<String>,
}

async fn deploy(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<DeployRequest>,
) -> ApiResult<Json<DeployAnswer>> {
    let dir = state.workspace().vms_dir(&vms)?;
    let target = db::deploy_target(state.db(), &vms).await?;
    if target.engines.is_empty() {
        return Err(no_engine());
    }
    let settings = Settings {
        concurrency: request.concurrency,
        timeout_ms: request.timeout_ms,
        log_level: request
            .log_level
            .as_deref()
            .map(cli_deploy::parse_log_level)
            .transpose()
            .map_err(|e| ApiError::InvalidRequest(format!("{e:#}")))?,
    };
    if let Some(version) = &request.version {
        starweave_engine::server::registry::check_version(version)
            .map_err(ApiError::InvalidName)?;
    }
    let mut env = target.env.clone();
    env.extend(request.env);
    // The files are read under the VMS's lock (no save lands half-way through), and the
    // rollout, which may wait on slow engines, runs without it.
    let package = {
        let _one_at_a_time = state.lock(&vms).await;
        let version = request.version;
        blocking(move || {
            cli_deploy::package(&dir, version.as_deref(), env, settings)
                .map_err(|e| ApiError::InvalidRequest(format!("{e:#}")))
        })
        .await?
    };
    let (diagnostics, package) = package;
    let Some(package) = package else {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        return Err(ApiError::InvalidVms {
            message: format!(
                "the VMS has {errors} error{}; fix {} to deploy it",
                if errors == 1 { "" } else { "s" },
                if errors == 1 { "it" } else { "them" }
            ),
            diagnostics: serde_json::to_value(&diagnostics).unwrap_or_default(),
        });
    };
    Ok(Json(
        blocking(move || roll_out(&state, &target, package, diagnostics)).await?,
    ))
}

fn roll_out(
    state: &AppState,
    target: &DeployTarget,
    package: cli_deploy::Package,
    diagnostics: Vec<starweave_model::Diagnostic>,
) -> ApiResult<DeployAnswer> {
    let (admins, mut outcomes) = clients(state, target)?;
    let mut routes = Vec::new();
    let answered = cli_deploy::roll_out(&admins, &package.spec);
    let mut refused = false;
    for (admin, outcome) in &answered {
        outcomes.push(match outcome {
            Outcome::Deployed(body) => {
                if routes.is_empty() {
                    routes = body["deployment"]["routes"]
                        .as_array()
                        .cloned()
                        .unwrap_or_default();
                }
                let changed = body["changed"] == Value::Bool(true);
                EngineOutcome {
                    engine: admin.name().to_owned(),
                    status: if changed { "deployed" } else { "unchanged" },
                    message: if changed {
                        "loaded; it now takes the VMS's traffic".to_owned()
                    } else {
                        "already loaded with these files and settings; it takes the VMS's traffic"
                            .to_owned()
                    },
                    load_ms: body["deployment"]["load_ms"].as_f64(),
                }
            }
            Outcome::Refused {
                message,
                diagnostics,
            } => {
                refused = true;
                let first = diagnostics.first().map(ToString::to_string);
                EngineOutcome::new(
                    admin.name(),
                    "refused",
                    match first {
                        Some(first) => format!("{message}: {first}"),
                        None => message.clone(),
                    },
                )
            }
            Outcome::Failed(why) => EngineOutcome::new(admin.name(), "failed", why.clone()),
        });
    }
    if refused {
        for admin in &admins[answered.len()..] {
            outcomes.push(EngineOutcome::new(
                admin.name(),
                "skipped",
                "not sent: another engine could not load this version".to_owned(),
            ));
        }
    }
    // In the target's order.
    outcomes.sort_by_key(|o| target.engines.iter().position(|e| *e == o.engine));
    Ok(DeployAnswer {
        ok: outcomes
            .iter()
            .all(|o| matches!(o.status, "deployed" | "unchanged")),
        vms: package.vms,
        version: package.version,
        engines: outcomes,
        routes,
        diagnostics,
        unset: package.unset,
    })
}

/// `GET /vms/{vms}/deployments`.
#[derive(Debug, Serialize)]
struct DeploymentsAnswer {
    /// The VMS's versions on the target's engines, each with its engine.
    deployments: Vec<Value>,
    /// Engines that could not be asked, with why.
    failed: Vec<EngineOutcome>,
}

async fn deployments(
    State(state): State<AppState>,
    Path(vms): Path<String>,
) -> ApiResult<Json<DeploymentsAnswer>> {
    on_target(state, vms, |name, _, admins, mut failed| {
        let pool = cli_deploy::ask_pool(&admins, reqwest::Method::GET, "/admin/deployments", false);
        let mut deployments = Vec::new();
        for (admin, body) in pool.answered {
            let listed = body.as_ref().and_then(Value::as_array);
            for mut deployment in listed.cloned().unwrap_or_default() {
                if deployment["vms"] == name.as_str() {
                    deployment["engine"] = Value::String(admin.name().to_owned());
                    deployments.push(deployment);
                }
            }
        }
        failed.extend(
            pool.failed
                .into_iter()
                .map(|(admin, why)| EngineOutcome::new(admin.name(), "failed", why)),
        );
        DeploymentsAnswer {
            deployments,
            failed,
        }
    })
    .await
    .map(Json)
}

/// Runs `work` off the async threads with the VMS's name (from `vms.yaml`, else its folder's),
/// its target, a client for each of the target's engines, and the outcomes of the engines that have none
/// (no token kept).
async fn on_target<T: Send + 'static>(
    state: AppState,
    vms: String,
    work: impl FnOnce(String, &DeployTarget, Vec<Admin>, Vec<EngineOutcome>) -> T + Send + 'static,
) -> ApiResult<T> {
    let dir = state.workspace().vms_dir(&vms)?;
    let target = db::deploy_target(state.db(), &vms).await?;
    blocking(move || {
        let name = declared(&dir).0.unwrap_or(vms);
        let (admins, failed) = clients(&state, &target)?;
        Ok(work(name, &target, admins, failed))
    })
    .await
}

/// `POST …/activate` and `DELETE …`: the same call on every engine of the target.
#[derive(Debug, Serialize)]
struct PoolAnswer {
    /// Whether every engine did it.
    ok: bool,
    engines: Vec<EngineOutcome>,
}

async fn on_every_engine(
    state: AppState,
    vms: String,
    version: String,
    method: reqwest::Method,
    suffix: &'static str,
    body: Option<Value>,
) -> ApiResult<Json<PoolAnswer>> {
    starweave_engine::server::registry::check_version(&version).map_err(ApiError::InvalidName)?;
    on_target(state, vms, move |name, target, admins, mut engines| {
        let path = format!("/admin/deployments/{name}/{version}{suffix}");
        let pool = cli_deploy::ask_pool_with(&admins, method, &path, body, true);
        for (admin, body) in pool.answered {
            engines.push(match body {
                Some(_) => EngineOutcome::new(admin.name(), "done", String::new()),
                None => EngineOutcome::new(
                    admin.name(),
                    "absent",
                    format!("the engine has no {name} {version} loaded"),
                ),
            });
        }
        engines.extend(
            pool.failed
                .into_iter()
                .map(|(admin, why)| EngineOutcome::new(admin.name(), "failed", why)),
        );
        engines.sort_by_key(|o| target.engines.iter().position(|e| *e == o.engine));
        PoolAnswer {
            ok: engines.iter().all(|o| o.status == "done"),
            engines,
        }
    })
    .await
    .map(Json)
}

async fn activate(
    State(state): State<AppState>,
    Path((vms, version)): Path<(String, String)>,
) -> ApiResult<Json<PoolAnswer>> {
    on_every_engine(
        state,
        vms,
        version,
        reqwest::Method::POST,
        "/activate",
        None,
    )
    .await
}

async fn undeploy(
    State(state): State<AppState>,
    Path((vms, version)): Path<(String, String)>,
) -> ApiResult<Json<PoolAnswer>> {
    on_every_engine(state, vms, version, reqwest::Method::DELETE, "", None).await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogLevelRequest {
    level: String,
}

/// `PUT /vms/{vms}/deployments/{version}/log-level`: on every engine of the target.
async fn set_log_level(
    State(state): State<AppState>,
    Path((vms, version)): Path<(String, String)>,
    Json(request): Json<LogLevelRequest>,
) -> ApiResult<Json<PoolAnswer>> {
    cli_deploy::parse_log_level(&request.level)
        .map_err(|e| ApiError::InvalidRequest(format!("{e:#}")))?;
    let body = serde_json::json!({ "level": request.level });
    on_every_engine(
        state,
        vms,
        version,
        reqwest::Method::PUT,
        "/log-level",
        Some(body),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsRequest {
    /// Only this version's lines.
    #[serde(default)]
    version: Option<String>,
    /// Only lines at this level or worse.
    #[serde(default)]
    level: Option<String>,
    /// Only lines containing this text, ignoring case.
    #[serde(default)]
    text: Option<String>,
    /// Only the lines of this trace id.
    #[serde(default)]
    trace: Option<String>,
    /// Only lines logged since then: RFC 3339, or a span back from now (`15m`, `1h`).
    #[serde(default)]
    since: Option<String>,
    /// Only lines logged until then (same forms).
    #[serde(default)]
    until: Option<String>,
    /// At most this many lines per engine.
    #[serde(default)]
    limit: Option<usize>,
    /// Where the panel is in each engine's lines (absent: the newest lines).
    #[serde(default)]
    cursors: BTreeMap<String, crate::logs::Cursor>,
}

/// `POST /vms/{vms}/logs`.
#[derive(Debug, Serialize)]
struct LogsAnswer {
    /// The lines, oldest first, each with its `engine`.
    lines: Vec<Value>,
    /// Pass back to read on.
    cursors: BTreeMap<String, crate::logs::Cursor>,
    /// Lines an engine dropped before they were read.
    missed: BTreeMap<String, u64>,
    /// Engines that could not be asked.
    failed: Vec<EngineOutcome>,
}

async fn read_logs(
    State(state): State<AppState>,
    Path(vms): Path<String>,
    Json(request): Json<LogsRequest>,
) -> ApiResult<Json<LogsAnswer>> {
    let given = |t: Option<String>| t.filter(|t| !t.trim().is_empty());
    let filters = crate::logs::Filters {
        version: request.version,
        level: request.level,
        text: request.text,
        trace: request.trace.filter(|t| !t.is_empty()),
        since: given(request.since),
        until: given(request.until),
        limit: request.limit,
    }
    .resolved(chrono::Utc::now())
    .map_err(|e| ApiError::InvalidRequest(format!("{e:#}")))?;
    on_target(state, vms, move |name, _, admins, mut failed| {
        let read = crate::logs::read_pool(&admins, &name, &filters, &request.cursors);
        failed.extend(
            read.failed
                .into_iter()
                .map(|(engine, why)| EngineOutcome::new(&engine, "failed", why)),
        );
        LogsAnswer {
            lines: read.lines,
            cursors: read.cursors,
            missed: read.missed,
            failed,
        }
    })
    .await
    .map(Json)
}
