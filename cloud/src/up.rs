//! `starweave up`: the IDE in one process — the IDE API under `/api/v1` and the UI — over a
//! workspace of VMS Git repositories, on loopback by default.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};

use crate::ide::{self, AppState, Config, workspace::Workspace};

/// The arguments of `starweave up`.
#[derive(Debug)]
pub struct UpArgs {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The workspace folder; the default one when `None`.
    pub workspace: Option<PathBuf>,
    /// Serve the UI from this folder instead of the embedded one.
    pub ui_dir: Option<PathBuf>,
    /// Require `Authorization: Bearer <token>` on the API.
    pub token: Option<String>,
    /// Open the IDE in the default browser.
    pub open: bool,
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn cmd_up(args: UpArgs) -> Result<ExitCode> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STARWEAVE_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Some(dir) = &args.ui_dir {
        anyhow::ensure!(
            dir.join("index.html").is_file(),
            "--ui-dir {}: there is no index.html in it",
            dir.display()
        );
    }
    let root = args
        .workspace
        .clone()
        .unwrap_or_else(ide::workspace::default_root);
    let workspace = Workspace::open(&root)?;
    let created = workspace
        .seed_examples()
        .context("cannot create the example VMS in the workspace")?;
    for name in &created {
        eprintln!(
            "created the example VMS `{name}` in {}",
            workspace.root.display()
        );
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")?;
    runtime.block_on(serve(args, workspace))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: UpArgs, workspace: Workspace) -> Result<()> {
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let address = listener.local_addr()?;
    if !address.ip().is_loopback() {
        eprintln!(
            "warning: listening on {}, which is not loopback; anyone who can reach it can edit the workspace{}",
            address.ip(),
            if args.token.is_some() {
                " with the token"
            } else {
                ""
            }
        );
    }
    let config = Config {
        token: args.token.clone(),
        ui_dir: args.ui_dir.clone(),
        listen_ip: Some(address.ip()),
    };
    let app = ide_router(workspace, config).await?;
    let host = if address.ip().is_unspecified() {
        "127.0.0.1".to_owned()
    } else if address.is_ipv6() {
        format!("[{}]", address.ip())
    } else {
        address.ip().to_string()
    };
    let url = format!("http://{host}:{}/", address.port());
    let fragment = args
        .token
        .as_ref()
        .map(|t| format!("#token={t}"))
        .unwrap_or_default();
    println!("Starweave IDE: {url}");
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    if args.open {
        open_browser(&format!("{url}{fragment}"));
    }
    serve_on(listener, app, starweave_engine::server::shutdown_signal()).await?;
    eprintln!("Starweave IDE stopped");
    Ok(())
}

/// The whole IDE (the API under `/api/v1` and the UI) over an opened workspace: what
/// `starweave up` serves, and what the desktop app serves in process.
pub async fn ide_router(workspace: Workspace, config: Config) -> Result<axum::Router> {
    ide_router_with_credentials(workspace, config, Arc::default()).await
}

/// [`ide_router`] keeping Git tokens in `credentials`, which the caller may share between
/// the routers of several workspaces (see [`AppState::with_credentials`]).
pub async fn ide_router_with_credentials(
    workspace: Workspace,
    config: Config,
    credentials: Arc<ide::credentials::Credentials>,
) -> Result<axum::Router> {
    let state = AppState::with_credentials(workspace, config, credentials).await?;
    Ok(ide::app(state))
}

/// Serves `app` on `listener` until `shutdown` resolves; requests under way are finished, and
/// pending `GET /events` long polls answer at once so they do not hold the shutdown.
pub async fn serve_on(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let shutdown = async move {
        shutdown.await;
        ide::watch::end_long_polls();
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("the server failed")
}

/// Opens `url` in the default browser; failures are only reported.
fn open_browser(url: &str) {
    let program = if cfg!(target_os = "macos") {
        "open"
    } else if cfg!(windows) {
        "explorer"
    } else {
        "xdg-open"
    };
    if let Err(err) = std::process::Command::new(program)
        .arg(url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        eprintln!("could not open a browser ({program}: {err}); open {url} yourself");
    }
}
