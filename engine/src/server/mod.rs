//! The compute-engine server: many (VMS, version) deployments in one process, their HTTP
//! triggers, an admin API, hot swaps with no failed request.
//!
//! # Ports
//!
//! * **Data plane** (`--listen`, default `127.0.0.1:8080`): trigger traffic, see [`data`].
//! * **Admin** (`--admin-listen`, default `127.0.0.1:8081`): `/admin/…` with a bearer token,
//!   plus open `/healthz`, `/readyz`, `/metrics`; see [`admin`].
//! * **gRPC** (`--grpc-listen`, off by default): the `grpc` triggers of the active versions,
//!   unary methods over HTTP/2 without TLS; see [`crate::triggers::grpc`].
//!
//! # Ingress: how a request finds its VMS
//!
//! The first path segment names the VMS; the rest is matched against the VMS's HTTP
//! triggers: `GET /shop/users/42` calls the `GET /users/{id}` route of the VMS `shop`.
//! Path prefixes (rather than `Host` names) keep the engine independent of DNS: the
//! platform's gateway maps each (environment, ingress) host to engines and rewrites it to
//! this prefix, and a developer can `curl` an engine directly. Within a VMS the active
//! version answers. With `--version-header`, a request may ask for another loaded version
//! with the `x-starweave-version` header (the gateway does so for weighted gray releases,
//! and strips the header from outside requests); without it the header is ignored, so a
//! client cannot reach an earlier version that is still loaded.
//! `GET /{vms}/openapi.json` serves the OpenAPI 3.1 document of the version that would
//! answer (a route the VMS declares at that path wins).
//!
//! # Hot swaps and draining
//!
//! The routing table is immutable and swapped atomically; see [`registry`]. A deploy compiles
//! the new version beside the old one, then swaps; requests already routed finish on the
//! version they started on. An unload drains: `DELETE` answers once the version's runs are
//! done.
//!
//! # Isolation
//!
//! Each deployment has its own concurrency limit (excess requests wait up to the queue
//! timeout, then get 503), every run has a deadline (the function's `timeout_ms`, else the
//! deployment's, else the engine's), runs go on their own tokio task so a panic fails only
//! that request (500), Rhai runs on the blocking pool and JavaScript on the deployment's own
//! worker threads, so a looping script only holds its own VMS's capacity until its deadline.
//!
//! # State
//!
//! With `--state-dir`, every deployment accepted through the admin API is saved before it
//! is activated and loaded again at the next start, before `/readyz` answers 200; see
//! [`state`]. Without it deployments live in memory only, and the deploying side (the
//! control plane's reconciler, `starweave deploy`) must send them again after a restart.
//!
//! # Logs
//!
//! JSON lines (tracing) with `vms`, `version`, `function`, `trigger`, `trace_id`; each
//! deployment has a log level settable at run time, filtering its events (requests,
//! triggers, and the lines its code functions log through `ctx.log`). The recent lines of
//! each VMS are also kept in memory for `GET /admin/logs/{vms}`; see [`recent`].

pub mod admin;
pub mod auth;
pub mod check;
pub mod data;
pub mod error;
pub mod input;
pub mod logbuf;
pub mod logfmt;
pub mod metrics;
pub mod openapi;
pub mod recent;
pub mod registry;
pub mod routes;
pub mod source;
pub mod state;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpListener;

use registry::{DeploymentSpec, EngineOptions, Registry};
use source::Source;

/// The engine server's state, shared by both ports.
pub struct Server {
    /// The deployments.
    pub registry: Registry,
    admin_token: Option<String>,
    ready: AtomicBool,
    unrouted: AtomicU64,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The admin token stays out of debug output.
        f.debug_struct("Server")
            .field("registry", &self.registry)
            .field("ready", &self.is_ready())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server with no deployment, not ready yet. Without an admin token every admin call
    /// is refused.
    pub fn new(options: EngineOptions, admin_token: Option<String>) -> Self {
        let server = Server {
            registry: Registry::new(options),
            admin_token: admin_token.filter(|t| !t.is_empty()),
            ready: AtomicBool::new(false),
            unrouted: AtomicU64::new(0),
        };
        let cron_slots = crate::triggers::cron::CronSlots::default();
        server
            .registry
            .set_activation_hook(Arc::new(move |deployment| {
                crate::triggers::start_triggers(deployment, &cron_slots);
            }));
        server
    }

    /// Marks the initial loads as done: `/readyz` answers 200 from now on.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    /// Whether the initial loads are done.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn count_unrouted(&self) {
        self.unrouted.fetch_add(1, Ordering::Relaxed);
    }

    fn unrouted(&self) -> u64 {
        self.unrouted.load(Ordering::Relaxed)
    }
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// The `starweave-engine` command line; every flag can also come from the environment.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "starweave-engine",
    version,
    about = "Starweave's compute engine: hosts VMS deployments and serves their triggers."
)]
pub struct ServerConfig {
    /// Address of the data plane (trigger traffic).
    #[arg(long, env = "STARWEAVE_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Address of the gRPC port serving `grpc` triggers (HTTP/2 without TLS); none when absent.
    #[arg(long, env = "STARWEAVE_GRPC_LISTEN")]
    pub grpc_listen: Option<SocketAddr>,
    /// Address of the admin API, probes and metrics.
    #[arg(long, env = "STARWEAVE_ADMIN_LISTEN", default_value = "127.0.0.1:8081")]
    pub admin_listen: SocketAddr,
    /// Bearer token every admin call must present.
    #[arg(long, env = "STARWEAVE_ADMIN_TOKEN", hide_env_values = true)]
    pub admin_token: String,
    /// A VMS directory (or tarball) to load at start, as version `local`; repeatable.
    #[arg(long = "load", value_name = "PATH")]
    pub load: Vec<PathBuf>,
    /// Where deployments made through the admin API are saved, so that a restarted engine
    /// loads them again before it reports ready (see [`state`]); none keeps them in memory
    /// only.
    #[arg(long, env = "STARWEAVE_STATE_DIR", value_name = "DIR")]
    pub state_dir: Option<PathBuf>,
    /// Deadline of runs whose function and deployment set none, in milliseconds.
    #[arg(long, env = "STARWEAVE_DEFAULT_TIMEOUT_MS", default_value_t = 30_000)]
    pub default_timeout_ms: u64,
    /// Runs of one deployment at once, when the deployment does not say.
    #[arg(long, env = "STARWEAVE_DEFAULT_CONCURRENCY", default_value_t = 64)]
    pub default_concurrency: u32,
    /// How long a request waits for a run slot before a 503, in milliseconds.
    #[arg(long, env = "STARWEAVE_QUEUE_TIMEOUT_MS", default_value_t = 200)]
    pub queue_timeout_ms: u64,
    /// How long unloading waits for runs before cancelling them, in milliseconds.
    #[arg(long, env = "STARWEAVE_DRAIN_TIMEOUT_MS", default_value_t = 30_000)]
    pub drain_timeout_ms: u64,
    /// How long an HTTP request's body may take to arrive before a 408, in milliseconds.
    #[arg(long, env = "STARWEAVE_BODY_TIMEOUT_MS", default_value_t = 30_000)]
    pub body_timeout_ms: u64,
    /// JavaScript worker threads per deployment.
    #[arg(long, env = "STARWEAVE_JS_WORKERS")]
    pub js_workers: Option<usize>,
    /// How long a JavaScript code function may run on the calling thread before its call
    /// moves to a worker thread, in milliseconds; 0 sends every call to a worker.
    #[arg(long, env = "STARWEAVE_JS_INLINE_BUDGET_MS", default_value_t = 2)]
    pub js_inline_budget_ms: u64,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `starweave_engine=debug`.
    #[arg(long, env = "STARWEAVE_LOG", default_value = "info")]
    pub log: String,
    /// Log line format.
    #[arg(long, env = "STARWEAVE_LOG_FORMAT", value_enum, default_value = "json")]
    pub log_format: LogFormat,
    /// How long info lines may wait to be written together, in milliseconds; warnings and
    /// errors are written at once, and 0 writes every line at once (see `server::logbuf`).
    #[arg(long, env = "STARWEAVE_LOG_FLUSH_MS", default_value_t = 100)]
    pub log_flush_ms: u64,
    /// How much of each VMS's recent log the engine keeps in memory for
    /// `GET /admin/logs/{vms}` (the newest lines, at most 2,000), in KiB; 0 keeps none.
    #[arg(long, env = "STARWEAVE_RECENT_LOG_KIB", default_value_t = 512)]
    pub recent_log_kib: usize,
    /// Let requests pick a loaded version other than the active one with the
    /// `x-starweave-version` header; set it only when a gateway in front of the engine sets
    /// that header and strips it from outside requests (see [the module docs](self)).
    #[arg(long, env = "STARWEAVE_VERSION_HEADER")]
    pub version_header: bool,
}

impl ServerConfig {
    /// The deployment settings these flags give.
    pub fn engine_options(&self) -> EngineOptions {
        let defaults = EngineOptions::default();
        EngineOptions {
            default_timeout: Duration::from_millis(self.default_timeout_ms)
                .min(crate::run::MAX_TIMEOUT),
            default_concurrency: self.default_concurrency.max(1),
            queue_timeout: Duration::from_millis(self.queue_timeout_ms),
            drain_timeout: Duration::from_millis(self.drain_timeout_ms),
            body_timeout: Duration::from_millis(self.body_timeout_ms.max(1)),
            js_workers: self.js_workers.unwrap_or(defaults.js_workers).max(1),
            js_inline_budget: (self.js_inline_budget_ms > 0)
                .then(|| Duration::from_millis(self.js_inline_budget_ms)),
            version_header: self.version_header,
        }
    }
}

/// Installs the global tracing subscriber (once; later calls do nothing), writing to
/// standard error through [`logbuf::LogSink`] with lines waiting at most `flush`.
///
/// Events of a deployment's own (target [`DEPLOYMENT_TARGET`]: what its code logs, its
/// debug lines) pass whatever `filter` says, since the deployment's log level already chose
/// them; a `filter` that names that target itself decides for it.
pub fn init_logging(filter: &str, format: LogFormat, flush: Duration) {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let mut env_filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if !filter.contains(DEPLOYMENT_TARGET)
        && let Ok(directive) = format!("{DEPLOYMENT_TARGET}=trace").parse()
    {
        env_filter = env_filter.add_directive(directive);
    }
    // Colours only for a terminal: a file or a pipe gets plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(env_filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(logbuf::LogSink::new(flush));
    // A subscriber installed before (a host's, or a test's) stays.
    let _installed = match format {
        LogFormat::Json => builder.event_format(logfmt::JsonLine).try_init().is_ok(),
        LogFormat::Text => builder.finish().with(logfmt::KeepRecent).try_init().is_ok(),
    };
}

/// The log target of the events a deployment's log level decides on alone.
pub const DEPLOYMENT_TARGET: &str = "vms";

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}

/// The spec `--load` uses for a path: the VMS name from its `vms.yaml`, version `local`.
pub fn local_spec(path: &std::path::Path) -> Result<DeploymentSpec, String> {
    let source = Source::Path(path.display().to_string());
    let files = source::read_source(&source).map_err(|err| err.to_string())?;
    let manifest = files
        .files
        .get(starweave_model::vms::disk::MANIFEST_FILE)
        .ok_or_else(|| format!("{}: `vms.yaml` is missing", path.display()))?;
    let text = String::from_utf8_lossy(manifest);
    let (manifest, _) = starweave_model::vms::disk::parse_manifest(
        starweave_model::vms::disk::MANIFEST_FILE,
        &text,
    );
    let name = manifest
        .map(|m| m.name)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("{}: `vms.yaml` has no name", path.display()))?;
    Ok(DeploymentSpec {
        vms: name,
        version: "local".into(),
        source,
        env: Default::default(),
        concurrency: None,
        timeout_ms: None,
        log_level: None,
    })
}

/// Prints a load failure's diagnostics to the log.
fn log_load_failure(path: &std::path::Path, error: &registry::DeployError) {
    match error {
        registry::DeployError::Invalid(diagnostics) => {
            for d in diagnostics.iter().filter(|d| d.is_error()) {
                tracing::error!(path = %path.display(), file = d.file.as_deref().unwrap_or(""), code = d.code, "{}", d.message);
            }
            tracing::error!(path = %path.display(), "the VMS does not load");
        }
        other => tracing::error!(path = %path.display(), error = %other, "the VMS does not load"),
    }
}

/// The shortest admin token the engine accepts: a guessable token would open every
/// deployment's env values to whoever reaches the admin port.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// Runs the engine until `shutdown` completes: binds both ports, loads `--load` paths, serves,
/// then stops accepting, lets in-flight requests finish, drains every deployment and returns.
pub async fn run(
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let admin_token = config.admin_token.trim();
    if admin_token.len() < MIN_ADMIN_TOKEN_LEN {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!(
                "the admin token (--admin-token, STARWEAVE_ADMIN_TOKEN) must be at least {MIN_ADMIN_TOKEN_LEN} characters; make one with `od -An -N32 -tx1 /dev/urandom | tr -d ' \\n'`"
            ),
        ));
    }
    recent::set_limits(recent::Limits {
        bytes: config.recent_log_kib.saturating_mul(1024),
        ..recent::Limits::default()
    });
    let data_listener = TcpListener::bind(config.listen).await?;
    let admin_listener = TcpListener::bind(config.admin_listen).await?;
    let grpc_listener = match config.grpc_listen {
        Some(address) => Some(TcpListener::bind(address).await?),
        None => None,
    };
    let server = Arc::new(Server::new(
        config.engine_options(),
        Some(admin_token.to_owned()),
    ));
    if let Some(dir) = &config.state_dir {
        let state = state::StateDir::open(dir)?;
        tracing::info!(state_dir = %dir.display(), "deployments are saved in the state directory");
        server.registry.set_state_dir(state);
    }
    tracing::info!(
        listen = %data_listener.local_addr()?,
        admin = %admin_listener.local_addr()?,
        "engine listening"
    );
    let loader = {
        let server = server.clone();
        let paths = config.load.clone();
        tokio::spawn(async move {
            // Saved deployments first: a `--load` of the same VMS then takes the traffic.
            let (loaded, failed) = server.registry.restore().await;
            if loaded + failed > 0 {
                tracing::info!(loaded, failed, "saved deployments restored");
            }
            for path in paths {
                let spec = match local_spec(&path) {
                    Ok(spec) => spec,
                    Err(message) => {
                        tracing::error!(path = %path.display(), error = message, "cannot load");
                        continue;
                    }
                };
                match server.registry.deploy_transient(spec).await {
                    Ok(report) => tracing::info!(
                        vms = report.deployment.vms,
                        version = report.deployment.version,
                        load_ms = report.deployment.load_ms,
                        "loaded"
                    ),
                    Err(err) => log_load_failure(&path, &err),
                }
            }
            server.set_ready();
        })
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections, finishing requests in flight");
        let _ = stop.send(true);
    });
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let data = axum::serve(data_listener, data::router(server.clone()))
        .with_graceful_shutdown(wait(stopped.clone()));
    let stopped_grpc = stopped.clone();
    let admin = axum::serve(admin_listener, admin::router(server.clone()))
        .with_graceful_shutdown(wait(stopped));
    let grpc = async {
        match grpc_listener {
            Some(listener) => {
                tracing::info!(grpc = %listener.local_addr()?, "gRPC port listening");
                axum::serve(listener, crate::triggers::grpc::router(server.clone()))
                    .with_graceful_shutdown(wait(stopped_grpc))
                    .await
            }
            None => Ok(()),
        }
    };
    let (data, admin, grpc) = tokio::join!(data.into_future(), admin.into_future(), grpc);
    loader.abort();
    server.registry.undeploy_all().await;
    tracing::info!("engine stopped");
    data.and(admin).and(grpc)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight
/// finish (for embedders such as `starweave dev` and tests).
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}
