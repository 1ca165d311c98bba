//! `/health`, `/templates`, `/vms`: the workspace's VMS, created from templates or cloned,
//! with their outline (functions, connectors, triggers, env, tests) and diagnostics.

use std::path::{Path as FsPath, PathBuf};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use starweave_engine::compile::Scripting;
use starweave_model::Diagnostic;
use starweave_model::vms::{self, FunctionBody, Trigger, VmsFiles, connector::Connector};

use super::error::{ApiError, ApiResult};
use super::paths::check_vms_name;
use super::{ApiRoutes, AppState, Json, Path, blocking, credentials, git, workspace};

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .route("/health", &["get"], get(health))
        .route("/templates", &["get"], get(templates))
        .route("/vms", &["get", "post"], get(list).post(create))
        .route("/vms/clone", &["post"], post(clone))
        .route("/vms/{vms}", &["get"], get(detail))
        .route("/vms/{vms}/diagnostics", &["get"], get(diagnostics))
        .route(
            "/vms/{vms}/files/{*path}",
            &["get", "put", "delete"],
            get(super::files::read)
                .put(super::files::write)
                .delete(super::files::delete),
        )
}

async fn health() -> Json<Value> {
    Json(serde_json::json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION") }))
}

async fn templates() -> Json<Vec<workspace::TemplateInfo>> {
    Json(workspace::templates())
}

/// `VmsSummary`.
#[derive(Debug, Clone, Serialize)]
pub struct VmsSummary {
    name: String,
    description: Option<String>,
    branch: String,
    dirty: bool,
}

fn summary(name: &str, dir: &FsPath) -> ApiResult<VmsSummary> {
    let description = std::fs::read_to_string(dir.join("vms.yaml"))
        .ok()
        .and_then(|text| vms::disk::parse_manifest("vms.yaml", &text).0)
        .and_then(|m| m.description);
    let (branch, dirty) = match git::open(dir) {
        Ok(repo) => (
            git::current_branch(&repo),
            !git::changed_files(&repo)?.is_empty(),
        ),
        Err(_) => (String::new(), false),
    };
    Ok(VmsSummary {
        name: name.to_owned(),
        description,
        branch,
        dirty,
    })
}

async fn list(State(state): State<AppState>) -> ApiResult<Json<Vec<VmsSummary>>> {
    let workspace = state.workspace().clone();
    blocking(move || {
        let mut out = Vec::new();
        for name in workspace.list()? {
            out.push(summary(&name, &workspace.root.join(&name))?);
        }
        Ok(Json(out))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    name: String,
    #[serde(default)]
    template: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Json(request): Json<CreateRequest>,
) -> ApiResult<(StatusCode, Json<VmsSummary>)> {
    check_vms_name(&request.name)?;
    let _guard = state.lock(&request.name).await;
    let workspace = state.workspace().clone();
    blocking(move || {
        let template = request.template.as_deref().unwrap_or("empty");
        let dir = workspace.create(&request.name, template)?;
        Ok((StatusCode::CREATED, Json(summary(&request.name, &dir)?)))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CloneRequest {
    url: String,
    #[serde(default)]
    name: Option<String>,
    /// An access token for an HTTPS remote, sent if the remote asks for a password.
    #[serde(default)]
    token: Option<String>,
    /// The username sent with `token` (default `git`).
    #[serde(default)]
    username: Option<String>,
    /// Keep `token` for the remote's server once the clone succeeded (default: yes).
    #[serde(default = "yes")]
    remember: bool,
}

fn yes() -> bool {
    true
}

/// The VMS name a clone URL suggests: its last segment without `.git`.
fn name_from_url(url: &str) -> String {
    url.trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("")
        .trim_end_matches(".git")
        .to_owned()
}

async fn clone(
    State(state): State<AppState>,
    Json(request): Json<CloneRequest>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let url = request.url.trim().to_owned();
    if url.is_empty() {
        return Err(ApiError::InvalidRequest("give the `url` to clone".into()));
    }
    let name = request.name.unwrap_or_else(|| name_from_url(&url));
    check_vms_name(&name)?;
    // A token given with the clone is checked (and tied to its server) before anything runs.
    let given = match request.token.as_deref().filter(|t| !t.trim().is_empty()) {
        Some(token) => Some((
            credentials::sendable_origin_or_error(&url)?,
            credentials::Credential::new(request.username.as_deref(), token)?,
        )),
        None => None,
    };
    let _guard = state.lock(&name).await;
    let dir = state.workspace().root.join(&name);
    blocking(move || {
        if dir.exists() {
            return Err(ApiError::Conflict {
                message: format!("a VMS or folder named `{name}` already exists"),
                details: None,
            });
        }
        let tokens = |asked: &str| match &given {
            Some((origin, credential)) if credentials::origin(asked).as_ref() == Some(origin) => {
                Some(credential.clone())
            }
            _ => state.credentials().lookup(asked),
        };
        if let Err(err) = git::clone(&url, &dir, &git::RemoteAuth::new(&tokens)) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(err);
        }
        if !dir.join("vms.yaml").is_file() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(ApiError::InvalidRequest(format!(
                "the repository at `{url}` has no vms.yaml at its root, so it is not a VMS"
            )));
        }
        let mut answer = serde_json::to_value(summary(&name, &dir)?).map_err(ApiError::internal)?;
        if let Some((origin, credential)) = given.filter(|_| request.remember) {
            // The clone worked with this token, so it is worth keeping; a keyring that
            // refuses does not undo the clone, the answer says what happened.
            let kept = match state.credentials().store(&origin, &credential) {
                Ok(()) => {
                    let info = state.credentials().info();
                    json!({ "origin": origin, "stored": true, "store": info.store, "persistent": info.persistent })
                }
                Err(err) => {
                    let message = match &err {
                        ApiError::KeyringFailed(m) | ApiError::InvalidRequest(m) => m.clone(),
                        _ => "the token could not be kept".to_owned(),
                    };
                    json!({ "origin": origin, "stored": false, "message": message })
                }
            };
            answer["token"] = kept;
        }
        Ok((StatusCode::CREATED, Json(answer)))
    })
    .await
}

/// Every diagnostic of the VMS in `dir`, JavaScript compilation included. Reading, checking,
/// compiling and building the connectors and routes run off the async threads (a large gRPC
/// descriptor set is decoded on every save); the JavaScript compiles on the pool's workers.
pub(super) async fn vms_diagnostics(
    dir: PathBuf,
    scripting: &Scripting,
) -> ApiResult<(VmsFiles, Vec<Diagnostic>)> {
    let shared = scripting.clone();
    let (files, mut diagnostics, program) = blocking(move || {
        let files = crate::files::read_vms_dir(&dir)?;
        let document = vms::read_vms(&files);
        let (diagnostics, program) = crate::cli::document_diagnostics(&document, &files, &shared);
        Ok((files, diagnostics, program))
    })
    .await?;
    diagnostics.extend(program.prepare().await);
    diagnostics.sort_by(|a, b| (&a.file, a.pos, &a.code).cmp(&(&b.file, b.pos, &b.code)));
    diagnostics.dedup();
    Ok((files, diagnostics))
}

async fn diagnostics(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Diagnostic>>> {
    let dir = state.workspace().vms_dir(&name)?;
    let (_, diagnostics) = vms_diagnostics(dir, state.scripting()).await?;
    Ok(Json(diagnostics))
}

#[derive(Debug, Serialize)]
struct FunctionInfo {
    name: String,
    kind: &'static str,
    file: String,
    params_file: Option<String>,
    input: Vec<vms::Parameter>,
    output: Vec<vms::Parameter>,
}

#[derive(Debug, Serialize)]
struct MethodInfo {
    name: String,
    input: Vec<vms::Parameter>,
    output: Vec<vms::Parameter>,
}

#[derive(Debug, Serialize)]
struct ConnectorInfo {
    name: String,
    kind: &'static str,
    file: String,
    methods: Vec<MethodInfo>,
}

#[derive(Debug, Serialize)]
struct TriggerInfo {
    index: usize,
    kind: &'static str,
    function: String,
    summary: String,
}

#[derive(Debug, Serialize)]
struct EnvInfo {
    name: String,
    #[serde(rename = "type")]
    ty: vms::env::EnvVarType,
    secret: bool,
    description: Option<String>,
    default: Option<Value>,
}

#[derive(Debug, Serialize)]
struct TestInfo {
    function: String,
    name: String,
    file: String,
}

#[derive(Debug, Serialize)]
struct VmsDetail {
    #[serde(flatten)]
    summary: VmsSummary,
    files: Vec<String>,
    functions: Vec<FunctionInfo>,
    connectors: Vec<ConnectorInfo>,
    triggers: Vec<TriggerInfo>,
    env: Vec<EnvInfo>,
    tests: Vec<TestInfo>,
    diagnostics: Vec<Diagnostic>,
}

fn trigger_summary(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Http(t) => format!("{} {}", verb(&t.method), t.path),
        Trigger::Cron(t) => match &t.timezone {
            Some(tz) => format!("{} ({tz})", t.schedule),
            None => t.schedule.clone(),
        },
        Trigger::Mq(t) => format!("{} {}", t.connector, t.subject),
        Trigger::Grpc(t) => format!("{}/{}", t.service, t.method),
    }
}

fn verb(verb: &vms::connector::HttpVerb) -> String {
    serde_json::to_value(verb)
        .ok()
        .and_then(|v| v.as_str().map(str::to_uppercase))
        .unwrap_or_default()
}

async fn detail(State(state): State<AppState>, Path(name): Path<String>) -> ApiResult<Json<Value>> {
    let dir = state.workspace().vms_dir(&name)?;
    let (files, diagnostics) = vms_diagnostics(dir.clone(), state.scripting()).await?;
    let summary = {
        let name = name.clone();
        blocking(move || summary(&name, &dir)).await?
    };
    let document = vms::read_vms(&files);
    let model = &document.vms;
    let functions = model
        .functions
        .iter()
        .map(|(fname, function)| {
            let kind = match &function.body {
                FunctionBody::Bpmn { .. } => "bpmn",
                FunctionBody::Code { language, .. } => match language {
                    vms::function::CodeLanguage::JavaScript => "javascript",
                    vms::function::CodeLanguage::Rhai => "rhai",
                },
            };
            let params_file = vms::disk::function_spec_file(fname);
            FunctionInfo {
                name: fname.clone(),
                kind,
                file: vms::disk::function_body_file(fname, function.extension()),
                params_file: files.contains_key(&params_file).then_some(params_file),
                input: function.spec.input.clone(),
                output: function.spec.output.clone(),
            }
        })
        .collect();
    let connectors = model
        .connectors
        .iter()
        .map(|(cname, connector): (&String, &Connector)| ConnectorInfo {
            name: cname.clone(),
            kind: connector.kind().as_str(),
            file: vms::disk::connector_file(cname),
            methods: connector
                .methods()
                .into_iter()
                .map(|m| MethodInfo {
                    name: m.name.to_owned(),
                    input: m.input.to_vec(),
                    output: m.output.to_vec(),
                })
                .collect(),
        })
        .collect();
    let triggers = model
        .triggers
        .iter()
        .enumerate()
        .map(|(index, t)| TriggerInfo {
            index,
            kind: t.kind().as_str(),
            function: t.function().to_owned(),
            summary: trigger_summary(t),
        })
        .collect();
    let env = model
        .env
        .iter()
        .map(|e| EnvInfo {
            name: e.name.clone(),
            ty: e.ty,
            secret: e.secret,
            description: e.description.clone(),
            // A secret's default is not shown.
            default: if e.secret { None } else { e.default.clone() },
        })
        .collect();
    let tests = model
        .tests
        .iter()
        .flat_map(|(function, cases)| {
            cases.keys().map(move |case| TestInfo {
                function: function.clone(),
                name: case.clone(),
                file: vms::disk::test_case_file(function, case),
            })
        })
        .collect();
    let detail = VmsDetail {
        summary,
        files: files.keys().cloned().collect(),
        functions,
        connectors,
        triggers,
        env,
        tests,
        diagnostics,
    };
    Ok(Json(
        serde_json::to_value(detail).map_err(ApiError::internal)?,
    ))
}

#[cfg(test)]
mod tests {
    #[test]
    fn clone_names() {
        assert_eq!(super::name_from_url("file:///tmp/x/shop.git"), "shop");
        assert_eq!(
            super::name_from_url("git@host:team/shop-bff.git"),
            "shop-bff"
        );
        assert_eq!(super::name_from_url("https://h/team/shop/"), "shop");
    }
}
