//! The desktop app's in-process server: the IDE of the current workspace, behind a few
//! desktop-only endpoints that switch workspaces.
//!
//! The IDE itself is `starweave-cloud`'s router ([`starweave_cloud::up::ide_router`]), the same
//! one `starweave up` serves to browsers. In front of it sit:
//!
//! - `GET /api/v1/desktop/workspace`: `{ "root": "<current folder>", "recent": [...] }`;
//! - `POST /api/v1/desktop/workspace` with `{ "path": "<folder>" }`: opens that folder as the
//!   workspace and answers like the GET; the UI then reloads;
//! - `POST /api/v1/desktop/ready`: the window's page says the IDE is interactive (the app
//!   prints the time since the process started, once; see [`Desktop::mark_ready`]).
//!
//! Switching builds the new workspace's IDE state (database, script engine) completely and then
//! swaps the router in one step, so every request is answered by exactly one workspace's IDE:
//! requests under way finish on the old one. A browser's `starweave up` has none of these
//! endpoints (they answer 404 there), which is how the UI knows to show its workspace switcher
//! only in the desktop app.
//!
//! The desktop endpoints check what the IDE checks: a loopback `Host` and the per-launch bearer
//! token.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use anyhow::{Context, Result};
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use starweave_cloud::ide::Config;
use starweave_cloud::ide::credentials::Credentials;
use starweave_cloud::ide::workspace::Workspace;
use tower::ServiceExt as _;

/// How many folders the recent list keeps.
pub const RECENT_LIMIT: usize = 10;

/// What the desktop server is started with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The per-launch secret every API call must carry as `Authorization: Bearer <token>`.
    pub token: String,
    /// Serve the UI from this folder instead of the one embedded in the binary.
    pub ui_dir: Option<PathBuf>,
    /// The address the server listens on (accepted in `Host` besides loopback names).
    pub listen_ip: IpAddr,
    /// The JSON file holding the recent workspaces (in the app's config folder).
    pub recent_file: PathBuf,
    /// When the process started, for the "ready after" line.
    pub started: Instant,
}

/// The desktop server's state: the current workspace and its IDE router.
#[derive(Debug, Clone)]
pub struct Desktop {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: Settings,
    current: RwLock<Arc<Current>>,
    /// One switch at a time; requests keep flowing to the current router meanwhile.
    switching: tokio::sync::Mutex<()>,
    /// Milliseconds from process start to the first "ready" from the page.
    ready_after: Mutex<Option<u128>>,
    /// Git tokens, one store for every workspace the app opens: without a keyring they live
    /// in memory, and a switch must not lose them.
    credentials: Arc<Credentials>,
}

#[derive(Debug)]
struct Current {
    root: PathBuf,
    router: Router,
}

/// The answer of the workspace endpoints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkspaceInfo {
    /// The current workspace folder (canonical).
    pub root: PathBuf,
    /// Folders opened before, most recent first (the current one included).
    pub recent: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
struct OpenRequest {
    path: String,
}

impl Desktop {
    /// Opens `root` as the first workspace. With `seed_examples`, an empty workspace gets the
    /// example VMS (the default workspace does; a folder the user opens is left as it is).
    pub async fn start(root: &Path, seed_examples: bool, settings: Settings) -> Result<Desktop> {
        let credentials = Arc::new(Credentials::new());
        let current = open_workspace(root, seed_examples, &settings, &credentials).await?;
        let desktop = Desktop {
            inner: Arc::new(Inner {
                settings,
                current: RwLock::new(Arc::new(current)),
                switching: tokio::sync::Mutex::new(()),
                ready_after: Mutex::new(None),
                credentials,
            }),
        };
        desktop.remember(&desktop.root());
        Ok(desktop)
    }

    /// The current workspace folder.
    pub fn root(&self) -> PathBuf {
        self.current().root.clone()
    }

    fn current(&self) -> Arc<Current> {
        self.inner
            .current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Opens `path` (an existing folder) as the workspace: builds its IDE, then swaps it in.
    /// On any error the current workspace stays.
    pub async fn switch(&self, path: &Path) -> Result<WorkspaceInfo, SwitchError> {
        if !path.is_absolute() {
            return Err(SwitchError::Invalid(format!(
                "`{}` is not an absolute path",
                path.display()
            )));
        }
        if !path.is_dir() {
            return Err(SwitchError::Invalid(format!(
                "`{}` is not an existing folder",
                path.display()
            )));
        }
        let _one_at_a_time = self.inner.switching.lock().await;
        let current = open_workspace(path, false, &self.inner.settings, &self.inner.credentials)
            .await
            .map_err(SwitchError::Failed)?;
        let root = current.root.clone();
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(current);
        self.remember(&root);
        Ok(self.info())
    }

    /// The current folder and the recent list.
    pub fn info(&self) -> WorkspaceInfo {
        WorkspaceInfo {
            root: self.root(),
            recent: read_recent(&self.inner.settings.recent_file),
        }
    }

    /// Puts `root` first in the recent list. A list that cannot be written is only reported:
    /// it is a convenience, the workspace is open either way.
    fn remember(&self, root: &Path) {
        if let Err(err) = add_recent(&self.inner.settings.recent_file, root) {
            eprintln!("starweave-app: cannot update the recent workspaces: {err:#}");
        }
    }

    /// Records that the page is interactive; the first call prints
    /// `starweave-app: ready after N ms` and returns `N`.
    pub fn mark_ready(&self) -> Option<u128> {
        let mut ready = self
            .inner
            .ready_after
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ready.is_some() {
            return None;
        }
        let ms = self.inner.settings.started.elapsed().as_millis();
        *ready = Some(ms);
        println!("starweave-app: ready after {ms} ms");
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        Some(ms)
    }

    /// The whole server: the desktop endpoints, then the current workspace's IDE.
    pub fn router(&self) -> Router {
        let desktop_routes = Router::new()
            .route(
                "/api/v1/desktop/workspace",
                get(get_workspace).post(post_workspace),
            )
            .route("/api/v1/desktop/ready", post(post_ready))
            .route_layer(middleware::from_fn_with_state(self.clone(), guard));
        desktop_routes.fallback(forward).with_state(self.clone())
    }
}

/// Why a workspace could not be opened.
#[derive(Debug)]
pub enum SwitchError {
    /// The path is not an absolute path of an existing folder.
    Invalid(String),
    /// The folder could not be opened as a workspace (permissions, a broken database…).
    Failed(anyhow::Error),
}

impl std::fmt::Display for SwitchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SwitchError::Invalid(message) => f.write_str(message),
            SwitchError::Failed(err) => write!(f, "cannot open the workspace: {err:#}"),
        }
    }
}

impl std::error::Error for SwitchError {}

impl IntoResponse for SwitchError {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            SwitchError::Invalid(_) => (StatusCode::BAD_REQUEST, "invalid_request"),
            SwitchError::Failed(_) => (StatusCode::UNPROCESSABLE_ENTITY, "cannot_open"),
        };
        error_response(status, code, &self.to_string())
    }
}

/// The IDE API's error body shape: `{ "error": { "code", "message" } }`.
fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error": { "code": code, "message": message } })),
    )
        .into_response()
}

async fn open_workspace(
    root: &Path,
    seed_examples: bool,
    settings: &Settings,
    credentials: &Arc<Credentials>,
) -> Result<Current> {
    let workspace = Workspace::open(root)
        .with_context(|| format!("cannot open {} as a workspace", root.display()))?;
    if seed_examples {
        let created = workspace
            .seed_examples()
            .context("cannot create the example VMS in the workspace")?;
        for name in &created {
            eprintln!(
                "starweave-app: created the example VMS `{name}` in {}",
                workspace.root.display()
            );
        }
    }
    let root = workspace.root.clone();
    let config = Config {
        token: Some(settings.token.clone()),
        ui_dir: settings.ui_dir.clone(),
        listen_ip: Some(settings.listen_ip),
    };
    let router =
        starweave_cloud::up::ide_router_with_credentials(workspace, config, credentials.clone())
            .await?;
    Ok(Current { root, router })
}

/// Refuses desktop requests without a loopback `Host` or without the bearer token.
async fn guard(State(desktop): State<Desktop>, request: Request, next: Next) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    if !host_is_local(host, desktop.inner.settings.listen_ip) {
        return error_response(
            StatusCode::FORBIDDEN,
            "forbidden_host",
            "open the IDE through 127.0.0.1 or localhost",
        );
    }
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "))
        .unwrap_or("");
    if !same_secret(given.as_bytes(), desktop.inner.settings.token.as_bytes()) {
        return error_response(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "this API needs the desktop app's token",
        );
    }
    next.run(request).await
}

/// Whether a `Host` header names this machine: `localhost`, a loopback IP or the listen IP,
/// with an optional port.
fn host_is_local(host: &str, listen_ip: IpAddr) -> bool {
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, _)) => inside,
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(name, _)| name)
    };
    if name.eq_ignore_ascii_case("localhost") {
        return true;
    }
    name.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip == listen_ip)
}

/// Compares two secrets in time independent of where they differ.
fn same_secret(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b))
        == 0
}

async fn get_workspace(State(desktop): State<Desktop>) -> Json<WorkspaceInfo> {
    Json(desktop.info())
}

async fn post_workspace(
    State(desktop): State<Desktop>,
    body: Result<Json<OpenRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<WorkspaceInfo>, SwitchError> {
    let Json(request) = body.map_err(|rejection| {
        SwitchError::Invalid(format!(
            "send `{{\"path\": \"<folder>\"}}` as JSON: {}",
            rejection.body_text()
        ))
    })?;
    let path = request.path.trim();
    if path.is_empty() {
        return Err(SwitchError::Invalid("the path is empty".into()));
    }
    desktop.switch(&expand_home(path)).await.map(Json)
}

async fn post_ready(State(desktop): State<Desktop>) -> StatusCode {
    desktop.mark_ready();
    StatusCode::NO_CONTENT
}

/// Everything else goes to the current workspace's IDE.
async fn forward(State(desktop): State<Desktop>, request: Request) -> Response {
    let router = desktop.current().router.clone();
    match router.oneshot(request).await {
        Ok(response) => response,
        Err(never) => match never {},
    }
}

/// `~/x` → `$HOME/x`, so a typed path works like in a terminal.
fn expand_home(path: &str) -> PathBuf {
    match (path.strip_prefix("~/"), dirs::home_dir()) {
        (Some(rest), Some(home)) => home.join(rest),
        _ if path == "~" => dirs::home_dir().unwrap_or_else(|| PathBuf::from(path)),
        _ => PathBuf::from(path),
    }
}

/// The recent list from its file; empty when there is none. A file that cannot be read as a
/// list is moved aside to `<file>.unreadable` (so the next write does not lose it) and
/// reported.
pub fn read_recent(file: &Path) -> Vec<PathBuf> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(_) => return Vec::new(),
    };
    match serde_json::from_str::<Vec<PathBuf>>(&text) {
        Ok(list) => list,
        Err(err) => {
            let aside = file.with_extension("json.unreadable");
            eprintln!(
                "starweave-app: {} is not a list of folders ({err}); moved to {}",
                file.display(),
                aside.display()
            );
            let _ = std::fs::rename(file, aside);
            Vec::new()
        }
    }
}

/// Puts `root` first in the recent list file, without duplicates, at most [`RECENT_LIMIT`].
/// Written to a temporary file and renamed, so a crash never leaves half a list.
pub fn add_recent(file: &Path, root: &Path) -> Result<()> {
    let mut list = read_recent(file);
    list.retain(|p| p != root);
    list.insert(0, root.to_path_buf());
    list.truncate(RECENT_LIMIT);
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let temporary = file.with_extension("json.tmp");
    std::fs::write(&temporary, serde_json::to_vec_pretty(&list)?)
        .with_context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, file).with_context(|| format!("writing {}", file.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use http_body_util::BodyExt as _;

    const TOKEN: &str = "secret-token";

    fn settings(config: &Path) -> Settings {
        Settings {
            token: TOKEN.into(),
            ui_dir: None,
            listen_ip: "127.0.0.1".parse().unwrap(),
            recent_file: config.join("recent-workspaces.json"),
            started: Instant::now(),
        }
    }

    async fn call(
        router: &Router,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (StatusCode, serde_json::Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "127.0.0.1:7070");
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = match body {
            Some(body) => request
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body.to_string())),
            None => request.body(Body::empty()),
        }
        .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        (status, value)
    }

    /// Asks the desktop server to open `path` as the workspace.
    async fn switch_to(router: &Router, path: &Path) -> (StatusCode, serde_json::Value) {
        call(
            router,
            "POST",
            "/api/v1/desktop/workspace",
            Some(TOKEN),
            Some(serde_json::json!({ "path": path })),
        )
        .await
    }

    #[tokio::test]
    async fn switching_serves_the_new_workspace_and_records_it() {
        let config = tempfile::tempdir().unwrap();
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let desktop = Desktop::start(first.path(), true, settings(config.path()))
            .await
            .unwrap();
        let router = desktop.router();

        // The first workspace got the examples; the IDE behind the desktop routes lists them.
        let (status, list) = call(&router, "GET", "/api/v1/vms", Some(TOKEN), None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert!(list.to_string().contains("bff-aggregation"), "{list}");

        let (status, info) = switch_to(&router, second.path()).await;
        assert_eq!(status, StatusCode::OK, "{info}");
        let info: WorkspaceInfo = serde_json::from_value(info).unwrap();
        let second_root = std::fs::canonicalize(second.path()).unwrap();
        let first_root = std::fs::canonicalize(first.path()).unwrap();
        assert_eq!(info.root, second_root);
        assert_eq!(info.recent, vec![second_root.clone(), first_root.clone()]);

        // The same router now answers from the second workspace, which was not seeded.
        let (status, list) = call(&router, "GET", "/api/v1/vms", Some(TOKEN), None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert!(!list.to_string().contains("bff-aggregation"), "{list}");
        assert!(second.path().join(".starweave").is_dir());

        // The recent list survives the process: it is a file in the config folder.
        assert_eq!(
            read_recent(&config.path().join("recent-workspaces.json")),
            vec![second_root, first_root]
        );
    }

    #[tokio::test]
    async fn git_tokens_survive_a_workspace_switch() {
        let config = tempfile::tempdir().unwrap();
        let first = tempfile::tempdir().unwrap();
        let second = tempfile::tempdir().unwrap();
        let desktop = Desktop::start(first.path(), false, settings(config.path()))
            .await
            .unwrap();
        let router = desktop.router();
        // A loopback origin no other test uses: with a keyring on the machine the token goes
        // there, and it is removed at the end.
        let url = "http://127.0.0.1:9/desktop-switch-test.git";
        let origin = "http://127.0.0.1:9";
        let (status, stored) = call(
            &router,
            "PUT",
            "/api/v1/git/credentials",
            Some(TOKEN),
            Some(serde_json::json!({ "url": url, "token": "kept-across-switch" })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{stored}");

        let (status, info) = switch_to(&router, second.path()).await;
        assert_eq!(status, StatusCode::OK, "{info}");
        assert_eq!(
            desktop.root(),
            std::fs::canonicalize(second.path()).unwrap()
        );

        // The second workspace's IDE still knows the token (in memory when no keyring runs).
        let (status, list) =
            call(&router, "GET", "/api/v1/git/credentials", Some(TOKEN), None).await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let origins: Vec<&str> = list["credentials"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["origin"].as_str())
            .collect();
        assert!(origins.contains(&origin), "{list}");

        let (status, _) = call(
            &router,
            "DELETE",
            &format!("/api/v1/git/credentials?url={origin}"),
            Some(TOKEN),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }

    #[tokio::test]
    async fn bad_paths_are_refused_and_the_workspace_stays() {
        let config = tempfile::tempdir().unwrap();
        let first = tempfile::tempdir().unwrap();
        let desktop = Desktop::start(first.path(), false, settings(config.path()))
            .await
            .unwrap();
        let router = desktop.router();
        let missing = first.path().join("does-not-exist");
        for (body, expected) in [
            (serde_json::json!({ "path": "relative/dir" }), "absolute"),
            (serde_json::json!({ "path": missing }), "existing folder"),
            (serde_json::json!({ "path": "  " }), "empty"),
            (serde_json::json!({ "folder": "/tmp" }), "JSON"),
        ] {
            let (status, answer) = call(
                &router,
                "POST",
                "/api/v1/desktop/workspace",
                Some(TOKEN),
                Some(body),
            )
            .await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
            assert_eq!(answer["error"]["code"], "invalid_request");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains(expected), "{message}");
        }
        assert!(!missing.exists(), "a refused path must not be created");
        assert_eq!(desktop.root(), std::fs::canonicalize(first.path()).unwrap());
    }

    #[tokio::test]
    async fn desktop_endpoints_need_the_token_and_a_local_host() {
        let config = tempfile::tempdir().unwrap();
        let first = tempfile::tempdir().unwrap();
        let desktop = Desktop::start(first.path(), false, settings(config.path()))
            .await
            .unwrap();
        let router = desktop.router();
        for token in [None, Some("wrong"), Some("secret-tokeN")] {
            let (status, _) = call(&router, "GET", "/api/v1/desktop/workspace", token, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "token {token:?}");
        }
        // The IDE's own API keeps its token check behind the desktop routes.
        let (status, _) = call(&router, "GET", "/api/v1/vms", None, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);

        let request = Request::builder()
            .uri("/api/v1/desktop/workspace")
            .header(header::HOST, "evil.example:7070")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap();
        let response = router.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::FORBIDDEN);

        assert!(host_is_local("localhost:1", "127.0.0.1".parse().unwrap()));
        assert!(host_is_local("[::1]:1", "127.0.0.1".parse().unwrap()));
        assert!(!host_is_local(
            "127.0.0.1.evil:1",
            "127.0.0.1".parse().unwrap()
        ));
    }

    #[test]
    fn the_recent_list_is_capped_without_duplicates_and_survives_a_bad_file() {
        let config = tempfile::tempdir().unwrap();
        let file = config.path().join("recent.json");
        for i in 0..15 {
            add_recent(&file, Path::new(&format!("/w/{i}"))).unwrap();
        }
        add_recent(&file, Path::new("/w/12")).unwrap();
        let list = read_recent(&file);
        assert_eq!(list.len(), RECENT_LIMIT);
        assert_eq!(list[0], Path::new("/w/12"));
        assert_eq!(list[1], Path::new("/w/14"));
        assert_eq!(list.iter().filter(|p| *p == Path::new("/w/12")).count(), 1);

        std::fs::write(&file, "not json").unwrap();
        assert!(read_recent(&file).is_empty());
        let aside = config.path().join("recent.json.unreadable");
        assert_eq!(std::fs::read_to_string(aside).unwrap(), "not json");
    }
}
