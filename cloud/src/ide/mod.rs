//! The IDE API (`docs/ide-api.md`): one HTTP+JSON API under `/api/v1` over a workspace of
//! VMS Git repositories, served by `starweave up` together with the UI.
//!
//! One module per resource, each with a `routes` function; [`app`] puts them together with
//! the security layers (loopback `Host` check, optional bearer token), the body limit and
//! compression. Every handler answers `Result<_, ApiError>`; [`error`] maps failures to a
//! status and a stable code, and keeps internal detail in the server log.

pub mod credentials;
pub mod db;
mod deploy;
pub mod embedded;
pub mod error;
mod files;
pub mod git;
mod git_api;
mod local_env;
mod openapi;
pub mod paths;
mod run;
mod security;
pub mod ssh;
mod tools;
pub mod ui;
mod vms;
pub mod watch;
pub mod workspace;

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, FromRequest, Request};
use axum::routing::MethodRouter;
use axum::{Router, middleware};
use serde::de::DeserializeOwned;
use sqlx::SqlitePool;
use starweave_engine::compile::Scripting;
use tower_http::compression::CompressionLayer;

use error::ApiError;
use workspace::Workspace;

/// The largest request body: a file of 16 MiB plus JSON quoting stays under this.
pub const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// Settings of the server that are not per request.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// `--token`: when set, every `/api` request needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// `--ui-dir`: serve the UI from this folder instead of the embedded one.
    pub ui_dir: Option<PathBuf>,
    /// The address the server listens on; its IP is accepted in `Host` besides loopback.
    pub listen_ip: Option<IpAddr>,
}

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    workspace: Workspace,
    db: SqlitePool,
    config: Config,
    /// One script engine (and JavaScript worker pool) for every run of the server.
    scripting: Scripting,
    /// Per-VMS locks: writes and Git operations on one VMS go one at a time.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Changes made outside the IDE, for `GET /events`.
    watch: watch::Watch,
    /// Access tokens of HTTPS Git remotes (shared with the states of other workspaces the
    /// same process opens, so a token kept in memory survives switching workspaces).
    credentials: Arc<credentials::Credentials>,
}

impl AppState {
    /// Opens the workspace's database and wraps everything handlers need.
    pub async fn new(workspace: Workspace, config: Config) -> anyhow::Result<AppState> {
        Self::with_credentials(workspace, config, Arc::default()).await
    }

    /// [`AppState::new`] with a token store shared with other workspaces' states: a desktop
    /// app switching workspaces keeps one store, so tokens held in memory (no keyring) are
    /// not lost on the switch.
    pub async fn with_credentials(
        workspace: Workspace,
        config: Config,
        credentials: Arc<credentials::Credentials>,
    ) -> anyhow::Result<AppState> {
        let db = db::open(&workspace.database_path()).await?;
        let watch = watch::Watch::start(&workspace.root);
        Ok(AppState {
            inner: Arc::new(Inner {
                workspace,
                db,
                config,
                scripting: Scripting::default(),
                locks: Mutex::new(HashMap::new()),
                watch,
                credentials,
            }),
        })
    }

    /// The workspace.
    pub fn workspace(&self) -> &Workspace {
        &self.inner.workspace
    }

    fn db(&self) -> &SqlitePool {
        &self.inner.db
    }

    fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The workspace watcher.
    fn watch(&self) -> &watch::Watch {
        &self.inner.watch
    }

    /// The token store of HTTPS Git remotes.
    pub fn credentials(&self) -> &credentials::Credentials {
        &self.inner.credentials
    }

    /// What a remote operation's credential callback asks: the token kept for a URL's server.
    fn token_lookup(&self) -> impl Fn(&str) -> Option<credentials::Credential> + '_ {
        |url| self.credentials().lookup(url)
    }

    fn scripting(&self) -> &Scripting {
        &self.inner.scripting
    }

    /// The lock of one VMS, held while its files or repository change.
    async fn lock(&self, vms: &str) -> tokio::sync::OwnedMutexGuard<()> {
        let lock = {
            let mut locks = self
                .inner
                .locks
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            locks.entry(vms.to_owned()).or_default().clone()
        };
        lock.lock_owned().await
    }
}

/// Routes of the API with every path recorded, so the OpenAPI document can be checked
/// against what is really served.
#[derive(Debug)]
pub struct ApiRoutes {
    router: Router<AppState>,
    /// (path with `{param}` placeholders, methods), in registration order.
    pub paths: Vec<(String, Vec<&'static str>)>,
}

impl ApiRoutes {
    fn new() -> Self {
        ApiRoutes {
            router: Router::new(),
            paths: Vec::new(),
        }
    }

    /// Adds `path` (relative to `/api/v1`) served for `methods` by `handler`.
    fn route(
        mut self,
        path: &str,
        methods: &[&'static str],
        handler: MethodRouter<AppState>,
    ) -> Self {
        self.router = self.router.route(path, handler);
        self.paths.push((path.to_owned(), methods.to_vec()));
        self
    }
}

/// Every API route, relative to `/api/v1`.
pub fn api_routes() -> ApiRoutes {
    let routes = ApiRoutes::new();
    let routes = vms::routes(routes);
    let routes = run::routes(routes);
    let routes = local_env::routes(routes);
    let routes = tools::routes(routes);
    let routes = git_api::routes(routes);
    let routes = watch::routes(routes);
    let routes = deploy::routes(routes);
    routes.route(
        "/openapi.json",
        &["get"],
        axum::routing::get(openapi::serve),
    )
}

/// The whole application: the API under `/api/v1`, the UI everywhere else.
pub fn app(state: AppState) -> Router {
    let routes = api_routes();
    let api = routes
        .router
        .fallback(|| async { ApiError::NotFound("no such API endpoint".into()) })
        .layer(middleware::from_fn(security::refuse_large_bodies))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::require_token,
        ))
        .layer(DefaultBodyLimit::max(BODY_LIMIT));
    Router::new()
        .nest("/api/v1", api)
        .route(
            "/api/{*rest}",
            axum::routing::any(|| async {
                ApiError::NotFound("no such API endpoint; the API is under /api/v1".into())
            }),
        )
        .merge(ui::routes(state.config().ui_dir.clone()))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::check_host,
        ))
        .layer(CompressionLayer::new())
        .with_state(state)
}

/// A JSON body whose rejections are [`ApiError`]s: `invalid_json`, `invalid_request`, or
/// `too_large` past [`BODY_LIMIT`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::JsonRejection;
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Json(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(err) => {
                    ApiError::InvalidRequest(format!("the body does not fit: {}", err.body_text()))
                }
                JsonRejection::JsonSyntaxError(err) => ApiError::InvalidJson(format!(
                    "the body is not valid JSON: {}",
                    err.body_text()
                )),
                JsonRejection::MissingJsonContentType(_) => ApiError::InvalidJson(
                    "send the body as `content-type: application/json`".into(),
                ),
                JsonRejection::BytesRejection(err)
                    if err.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
                {
                    ApiError::TooLarge
                }
                other if other.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::TooLarge
                }
                other => ApiError::InvalidRequest(other.body_text()),
            }),
        }
    }
}

impl<T: serde::Serialize> axum::response::IntoResponse for Json<T> {
    fn into_response(self) -> axum::response::Response {
        axum::Json(self.0).into_response()
    }
}

/// Runs blocking work (file system, libgit2) off the async threads.
async fn blocking<T, F>(work: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(work).await?
}

/// Query parameters whose rejections are `invalid_request`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Query(value)| Query(value))
            .map_err(|err| ApiError::InvalidRequest(err.body_text()))
    }
}

/// Path parameters whose rejections (bad percent-encoding) are `invalid_path`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Path(value))
            .map_err(|err| ApiError::InvalidPath(err.body_text()))
    }
}
