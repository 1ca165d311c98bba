//! `starweave dev <vms-dir>`: serve one VMS on an embedded engine and reload it on change.
//!
//! The VMS runs on the same server code as `starweave-engine` (its data plane only, on
//! `127.0.0.1:<port>`, routes under `/<vms>/…`), with live connectors and, as env values,
//! the variables the VMS declares: from this process's environment, else this machine's
//! `.env.local` (an edit to it reloads the VMS), else their defaults.
//!
//! The directory is polled every 300 ms (names, sizes and modification times of every
//! non-hidden file): polling needs no platform watcher, survives editors that replace files
//! by renaming, and costs nothing noticeable on a VMS-sized tree. After a change settles
//! the VMS is loaded as a new version beside the running one and swapped in; the old version
//! then drains. An edit that does not load prints its diagnostics and the last good version
//! keeps serving. Requests, and what the code logs through `ctx.log`, are written to standard
//! error as they happen.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use starweave_engine::server::registry::{DeployError, DeploymentSpec, EngineOptions};
use starweave_engine::server::{Server, data, local_spec, shutdown_signal};
use starweave_model::vms::local_env::LOCAL_ENV_FILE;

/// How often the directory is checked for changes.
const POLL_INTERVAL: Duration = Duration::from_millis(300);

/// The arguments of `starweave dev`.
#[derive(Debug, Clone)]
pub struct DevArgs {
    /// The VMS directory.
    pub dir: PathBuf,
    /// The port on 127.0.0.1 (0 picks a free one).
    pub port: u16,
}

/// Runs `starweave dev` until Ctrl-C.
pub fn cmd_dev(args: DevArgs) -> Result<ExitCode> {
    // Requests and what the code logs through `ctx.log` go to standard error as text lines
    // (`STARWEAVE_LOG` filters them; the VMS's own lines always show).
    starweave_engine::server::init_logging(
        &std::env::var("STARWEAVE_LOG").unwrap_or_else(|_| "info".to_owned()),
        starweave_engine::server::LogFormat::Text,
        Duration::ZERO,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime")?;
    runtime.block_on(async {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), args.port);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .with_context(|| format!("cannot listen on {addr}"))?;
        dev_loop(
            &args.dir,
            listener,
            |line| println!("{line}"),
            shutdown_signal(),
        )
        .await
    })?;
    Ok(ExitCode::SUCCESS)
}

/// The state of the files: path → (size, modification time).
type Snapshot = BTreeMap<PathBuf, (u64, Option<SystemTime>)>;

fn snapshot(root: &Path) -> Snapshot {
    let mut files = Snapshot::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            // Hidden files are not part of the VMS, except this machine's env values.
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.')
                && !(dir.as_path() == root && name == LOCAL_ENV_FILE)
            {
                continue;
            }
            let Ok(metadata) = entry.metadata() else {
                continue;
            };
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                files.insert(entry.path(), (metadata.len(), metadata.modified().ok()));
            }
        }
    }
    files
}

/// The env values of the VMS (`crate::env`): declared defaults, `.env.local`, the shell.
fn env_values(dir: &Path) -> Result<BTreeMap<String, String>, String> {
    let Ok(text) = std::fs::read_to_string(dir.join("vms.yaml")) else {
        return Ok(BTreeMap::new());
    };
    let (manifest, _) = starweave_model::vms::disk::parse_manifest("vms.yaml", &text);
    let declared = manifest.map(|m| m.env).unwrap_or_default();
    let local = match std::fs::read(dir.join(LOCAL_ENV_FILE)) {
        Ok(bytes) => Some(bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(format!("cannot read {LOCAL_ENV_FILE}: {e}")),
    };
    crate::env::machine_env(&declared, local.as_deref()).map_err(|e| e.to_string())
}

/// What is loaded now.
struct Loaded {
    vms: String,
    version: String,
}

/// Serves the VMS in `dir` on `listener`, reloading on change, until `shutdown`; every
/// message for the developer goes to `say`.
pub async fn dev_loop(
    dir: &Path,
    listener: tokio::net::TcpListener,
    say: impl Fn(String),
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let addr = listener.local_addr()?;
    let options = EngineOptions {
        // A developer's edits should show at once, not after a long drain.
        drain_timeout: Duration::from_secs(5),
        ..EngineOptions::default()
    };
    let server = Arc::new(Server::new(options, None));
    server.set_ready();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(starweave_engine::server::serve(
        listener,
        data::router(server.clone()),
        async move {
            let _ = stop_rx.await;
        },
    ));
    let mut loaded: Option<Loaded> = None;
    let mut generation = 0u64;
    let mut seen = snapshot(dir);
    generation += 1;
    load(&server, dir, generation, &mut loaded, addr, &say).await;
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            () = tokio::time::sleep(POLL_INTERVAL) => {}
        }
        let mut now = snapshot(dir);
        if now == seen {
            continue;
        }
        // Let a burst of writes (an editor saving several files, a checkout) settle first:
        // two looks 50 ms apart that agree, for up to two seconds.
        for _ in 0..40 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let next = snapshot(dir);
            if next == now {
                break;
            }
            now = next;
        }
        seen = now;
        generation += 1;
        say("change detected, reloading…".to_owned());
        load(&server, dir, generation, &mut loaded, addr, &say).await;
    }
    say("stopping".to_owned());
    let _ = stop_tx.send(());
    let _ = serving.await;
    server.registry.undeploy_all().await;
    Ok(())
}

async fn load(
    server: &Server,
    dir: &Path,
    generation: u64,
    loaded: &mut Option<Loaded>,
    addr: SocketAddr,
    say: &impl Fn(String),
) {
    let started = Instant::now();
    let spec = match local_spec(dir).and_then(|spec| env_values(dir).map(|env| (spec, env))) {
        Ok((spec, env)) => DeploymentSpec {
            version: format!("dev-{generation}"),
            env,
            ..spec
        },
        Err(message) => {
            say(format!("error: {message}"));
            say(keeping(loaded));
            return;
        }
    };
    let (vms, version) = (spec.vms.clone(), spec.version.clone());
    match server.registry.deploy(spec, None).await {
        Ok(report) => {
            for warning in &report.deployment.warnings {
                say(format!("{}", Located(dir, warning)));
            }
            say(format!(
                "{} {vms} in {:.0} ms: http://{addr}/{vms}/ (OpenAPI: http://{addr}/{vms}/openapi.json)",
                if loaded.is_some() {
                    "reloaded"
                } else {
                    "serving"
                },
                started.elapsed().as_secs_f64() * 1000.0
            ));
            for route in &report.deployment.routes {
                say(format!("  {route}"));
            }
            if let Some(previous) = loaded.replace(Loaded {
                vms: vms.clone(),
                version,
            }) {
                // The new version already serves; the old one drains before the next poll.
                server
                    .registry
                    .undeploy(&previous.vms, &previous.version)
                    .await;
            }
        }
        Err(DeployError::Invalid(diagnostics)) => {
            for d in &diagnostics {
                say(format!("{}", Located(dir, d)));
            }
            let errors = diagnostics.iter().filter(|d| d.is_error()).count();
            say(format!("{errors} error(s): the change does not load"));
            say(keeping(loaded));
        }
        Err(err) => {
            say(format!("error: {err}"));
            say(keeping(loaded));
        }
    }
}

fn keeping(loaded: &Option<Loaded>) -> String {
    match loaded {
        Some(l) => format!("the last good version ({}) keeps serving", l.version),
        None => "nothing is served until the VMS loads".to_owned(),
    }
}

/// A diagnostic with its file under the VMS directory.
struct Located<'a>(&'a Path, &'a starweave_model::Diagnostic);

impl std::fmt::Display for Located<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut d = self.1.clone();
        if let Some(file) = &d.file {
            d.file = Some(self.0.join(file).display().to_string());
        }
        write!(f, "{d}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn write(dir: &Path, path: &str, text: &str) {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }

    async fn answer(client: &reqwest::Client, url: &str) -> Option<String> {
        let response = client.get(url).send().await.ok()?;
        let body: serde_json::Value = response.json().await.ok()?;
        body["says"].as_str().map(str::to_owned)
    }

    async fn wait_for(client: &reqwest::Client, url: &str, expected: &str) -> bool {
        for _ in 0..200 {
            if answer(client, url).await.as_deref() == Some(expected) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        false
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn edits_reload_and_broken_edits_keep_the_last_good_version() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("hello");
        write(&dir, "vms.yaml", "name: hello\n");
        write(
            &dir,
            "functions/hi.rhai",
            "fn main(input, ctx) { #{ says: \"one\" } }\n",
        );
        write(
            &dir,
            "triggers.yaml",
            "- kind: http\n  function: hi\n  method: GET\n  path: /hi\n",
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hello/hi", listener.local_addr().expect("addr"));
        let said = Arc::new(Mutex::new(Vec::<String>::new()));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = {
            let said = said.clone();
            let dir = dir.clone();
            tokio::spawn(async move {
                let say = move |line: String| said.lock().expect("lock").push(line);
                dev_loop(&dir, listener, say, async move {
                    let _ = stopped.await;
                })
                .await
            })
        };
        let client = reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client");
        assert!(
            wait_for(&client, &url, "one").await,
            "{:?}",
            said.lock().expect("lock")
        );

        write(
            &dir,
            "functions/hi.rhai",
            "fn main(input, ctx) { #{ says: \"two\" } }\n",
        );
        assert!(
            wait_for(&client, &url, "two").await,
            "{:?}",
            said.lock().expect("lock")
        );

        write(
            &dir,
            "functions/hi.rhai",
            "fn main(input, ctx) { let = ; }\n",
        );
        let mut reported = false;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(25)).await;
            if said
                .lock()
                .expect("lock")
                .iter()
                .any(|l| l.contains("keeps serving"))
            {
                reported = true;
                break;
            }
        }
        let lines = said.lock().expect("lock").clone();
        assert!(reported, "{lines:?}");
        assert!(
            lines
                .iter()
                .any(|l| l.contains("functions/hi.rhai") && l.contains("error")),
            "{lines:?}"
        );
        assert_eq!(answer(&client, &url).await.as_deref(), Some("two"));

        write(
            &dir,
            "functions/hi.rhai",
            "fn main(input, ctx) { #{ says: \"three\" } }\n",
        );
        assert!(
            wait_for(&client, &url, "three").await,
            "{:?}",
            said.lock().expect("lock")
        );
        let _ = stop.send(());
        task.await.expect("join").expect("dev loop");
    }
}
