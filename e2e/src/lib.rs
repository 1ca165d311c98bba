//! The e2e harness: a real `starweave up` and a real headless Chromium, driven over WebDriver.
//!
//! [`Ide::start`] gives a test its own world:
//! - a fresh workspace directory (a temp dir) served by `starweave up --listen 127.0.0.1:0
//!   --workspace <dir> --ui-dir <dist>`; the URL is read from the line
//!   `Starweave IDE: http://127.0.0.1:PORT/` the server prints;
//! - `chromedriver --port=<free port>` and a headless Chromium session with a fresh profile
//!   (flags in [`CHROME_ARGS`]);
//! - an artifacts folder `<target>/e2e-artifacts/<test>/` that receives a screenshot per step
//!   ([`Ide::step`]) plus the server's log.
//!
//! Where the pieces come from (see `e2e/README.md`):
//! - `chromium` and `chromium-driver` are Debian packages, installed with apt when missing;
//! - the UI dist and the `starweave` binary are named by `STARWEAVE_UI_DIST` and `STARWEAVE_BIN`
//!   (`cargo xtask test` builds both and sets them). Without them the harness builds them itself
//!   with the same commands (`cargo xtask ui --release`, `cargo build --release --bin
//!   starweave`), once, under a file lock, so a plain `cargo nextest run --workspace` works too.
//!
//! UI elements are found by their `data-testid` hooks (see `docs/ide-api.md` and the UI
//! contract in `ui/README.md`).

use std::{
    fs,
    io::{BufRead, BufReader},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::{Client, ClientBuilder, Locator, elements::Element};
use serde_json::{Value, json};
use tempfile::TempDir;

pub mod canvas;
pub mod desktop;
pub mod git_http;
pub mod sshd;

/// Chromium's command line in every session.
pub const CHROME_ARGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1440,900",
    "--disable-dev-shm-usage",
];

/// How long a UI element may take to appear before a test fails.
pub const WAIT: Duration = Duration::from_secs(60);

/// The cargo target directory: `CARGO_TARGET_DIR`, else the nearest ancestor of this executable
/// holding cargo's `CACHEDIR.TAG`.
pub fn target_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe().context("locating the test executable")?;
    exe.ancestors()
        .find(|dir| dir.join("CACHEDIR.TAG").is_file())
        .map(Path::to_path_buf)
        .ok_or_else(|| anyhow!("no cargo target directory above {}", exe.display()))
}

/// The repository root (this crate's parent).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("e2e lives one level below the repository root")
        .to_path_buf()
}

/// The built UI and server a test runs against.
#[derive(Debug, Clone)]
pub struct Build {
    /// The UI dist directory (index.html, pkg/, monaco/, style/).
    pub dist: PathBuf,
    /// The `starweave` binary.
    pub bin: PathBuf,
}

/// Finds (or builds) the UI dist and the `starweave` binary, and makes sure Chromium and
/// chromedriver are installed.
pub fn prepare() -> Result<Build> {
    let target = target_dir()?;
    fs::create_dir_all(&target).ok();
    // Tests run as separate processes: one of them installs and builds, the others wait.
    let lock_path = target.join("e2e-prepare.lock");
    let lock = fs::File::create(&lock_path)
        .with_context(|| format!("creating {}", lock_path.display()))?;
    lock.lock().context("locking the e2e preparation")?;
    ensure_browser()?;
    let build = match (
        std::env::var_os("STARWEAVE_UI_DIST"),
        std::env::var_os("STARWEAVE_BIN"),
    ) {
        (Some(dist), Some(bin)) => Build {
            dist: dist.into(),
            bin: bin.into(),
        },
        _ => build_everything(&target)?,
    };
    drop(lock);
    if !build.dist.join("index.html").is_file() {
        bail!(
            "{} is not a UI dist (no index.html); run `cargo xtask ui --release`",
            build.dist.display()
        );
    }
    if !build.bin.is_file() {
        bail!("{} does not exist", build.bin.display());
    }
    Ok(build)
}

fn build_everything(target: &Path) -> Result<Build> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let root = repo_root();
    run(Command::new(&cargo)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", target)
        .args(["run", "--quiet", "-p", "xtask", "--", "ui", "--release"]))?;
    let dist = target.join("ui-dist");
    run(Command::new(&cargo)
        .current_dir(&root)
        .env("CARGO_TARGET_DIR", target)
        .env("STARWEAVE_UI_DIST", &dist)
        .args([
            "build",
            "--release",
            "-p",
            "starweave-cloud",
            "--bin",
            "starweave",
        ]))?;
    Ok(Build {
        dist,
        bin: target.join("release/starweave"),
    })
}

fn run(cmd: &mut Command) -> Result<()> {
    let shown = format!("{cmd:?}");
    eprintln!("e2e: $ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("could not start {shown}"))?;
    if !status.success() {
        bail!("{shown} failed ({status})");
    }
    Ok(())
}

fn on_path(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Installs Debian's `chromium` and `chromium-driver` when missing (`apt-get update` and a
/// retry when the first install fails for lack of package lists).
pub fn ensure_browser() -> Result<()> {
    if on_path("chromium") && on_path("chromedriver") {
        return Ok(());
    }
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    let apt = |args: &[&str]| {
        let mut cmd = if root {
            Command::new("apt-get")
        } else {
            let mut sudo = Command::new("sudo");
            sudo.arg("apt-get");
            sudo
        };
        cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        cmd
    };
    let packages = ["install", "-y", "chromium", "chromium-driver"];
    if run(&mut apt(&packages)).is_err() {
        run(&mut apt(&["update"]))?;
        run(&mut apt(&packages))?;
    }
    Ok(())
}

fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A child process killed when dropped.
#[derive(Debug)]
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A running `starweave up` over a workspace directory.
#[derive(Debug)]
pub struct Server {
    /// `http://127.0.0.1:PORT/`
    pub url: String,
    _child: Guard,
}

impl Server {
    /// Starts `starweave up` on a free loopback port; its stderr goes to `log`.
    pub fn start(build: &Build, workspace: &Path, log: &Path) -> Result<Server> {
        Server::start_with_env(build, workspace, log, &[])
    }

    /// [`Server::start`] with extra environment variables for the server process.
    pub fn start_with_env(
        build: &Build,
        workspace: &Path,
        log: &Path,
        env: &[(&str, &str)],
    ) -> Result<Server> {
        let log_file =
            fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new(&build.bin)
            .arg("up")
            .args(["--listen", "127.0.0.1:0", "--workspace"])
            .arg(workspace)
            .arg("--ui-dir")
            .arg(&build.dist)
            // Git tokens a test gives stay in the server's memory, never in the keyring of
            // whoever runs the tests.
            .env("STARWEAVE_CREDENTIALS", "memory")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .with_context(|| format!("starting {} up", build.bin.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        let child = Guard(child);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("Starweave IDE: ").nth(1)
                    && let Some(tx) = tx.take()
                {
                    let _ = tx.send(rest.trim().to_string());
                }
                // Keep draining so the server never blocks on a full pipe.
            }
        });
        let url = rx.recv_timeout(Duration::from_secs(60)).map_err(|_| {
            anyhow!(
                "`starweave up` printed no `Starweave IDE: <url>` line within 60 s (log: {})",
                log.display()
            )
        })?;
        Ok(Server { url, _child: child })
    }
}

/// A running chromedriver.
#[derive(Debug)]
pub struct Driver {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    _child: Guard,
}

impl Driver {
    /// Starts `chromedriver --port=<free>` and waits until it accepts connections.
    pub fn start(log: &Path) -> Result<Driver> {
        let port = free_port()?;
        let log_file =
            fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting chromedriver")?;
        let child = Guard(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("chromedriver did not listen on port {port} within 30 s");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(Driver {
            url: format!("http://127.0.0.1:{port}"),
            _child: child,
        })
    }

    /// A new headless Chromium session with a fresh profile in `profile`.
    pub async fn session(&self, profile: &Path) -> Result<Client> {
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut options = json!({ "args": args });
        if let Some(binary) = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| Path::new(p).is_file())
        {
            options["binary"] = json!(binary);
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        caps.insert("pageLoadStrategy".into(), json!("normal"));
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .context("opening a Chromium session through chromedriver")?;
        Ok(client)
    }

    /// Like [`Driver::session`] with `pageLoadStrategy: none` (`goto` returns at once), for
    /// timing page loads.
    pub async fn session_no_wait(&self, profile: &Path) -> Result<Client> {
        let mut args: Vec<String> = CHROME_ARGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.display()));
        let mut options = json!({ "args": args });
        if Path::new("/usr/bin/chromium").is_file() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut caps = serde_json::Map::new();
        caps.insert("goog:chromeOptions".into(), options);
        caps.insert("pageLoadStrategy".into(), json!("none"));
        ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .context("opening a Chromium session through chromedriver")
    }
}

/// The CSS selector of a `data-testid`.
pub fn testid(id: &str) -> String {
    format!("[data-testid=\"{id}\"]")
}

/// One test's IDE: server, browser, workspace and artifacts.
#[derive(Debug)]
pub struct Ide {
    /// The WebDriver session.
    pub client: Client,
    /// The running server.
    pub server: Server,
    /// Where screenshots and logs go.
    pub artifacts: PathBuf,
    workspace: TempDir,
    _profile: TempDir,
    _driver: Driver,
    step: u32,
}

/// An empty `<target>/e2e-artifacts/<name>` folder for a test's screenshots and logs (what an
/// earlier run left there is removed).
pub fn fresh_artifacts(name: &str) -> Result<PathBuf> {
    let artifacts = target_dir()?.join("e2e-artifacts").join(name);
    if artifacts.exists() {
        fs::remove_dir_all(&artifacts).ok();
    }
    fs::create_dir_all(&artifacts).with_context(|| format!("creating {}", artifacts.display()))?;
    Ok(artifacts)
}

impl Ide {
    /// Starts server and browser for the test `name`, opens the IDE and waits until it is ready.
    pub async fn start(name: &str) -> Result<Ide> {
        Ide::start_with_env(name, &[]).await
    }

    /// [`Ide::start`] with extra environment variables for the server (a `HOME` of the
    /// test's own, say).
    pub async fn start_with_env(name: &str, env: &[(&str, &str)]) -> Result<Ide> {
        let build = prepare()?;
        let artifacts = fresh_artifacts(name)?;
        let workspace = tempfile::Builder::new()
            .prefix("starweave-e2e-ws-")
            .tempdir()?;
        let server =
            Server::start_with_env(&build, workspace.path(), &artifacts.join("server.log"), env)?;
        let driver = Driver::start(&artifacts.join("chromedriver.log"))?;
        let profile = tempfile::Builder::new()
            .prefix("starweave-e2e-profile-")
            .tempdir()?;
        let client = driver.session(profile.path()).await?;
        let mut ide = Ide {
            client,
            server,
            artifacts,
            workspace,
            _profile: profile,
            _driver: driver,
            step: 0,
        };
        ide.open().await?;
        Ok(ide)
    }

    /// The workspace directory the server works in.
    pub fn workspace(&self) -> &Path {
        self.workspace.path()
    }

    /// Navigates to the IDE and waits for `document.body.dataset.ready == "1"`.
    pub async fn open(&mut self) -> Result<()> {
        self.client.goto(&self.server.url).await?;
        self.wait_ready().await
    }

    /// Reloads the page and waits until the app is ready again.
    pub async fn reload(&mut self) -> Result<()> {
        self.client.refresh().await?;
        self.wait_ready().await
    }

    /// Waits for the app's ready marker.
    pub async fn wait_ready(&self) -> Result<()> {
        self.wait_js(
            "return !!(document.body && document.body.dataset.ready === '1')",
            "the IDE to set document.body.dataset.ready = \"1\"",
        )
        .await
    }

    /// Polls a script returning a boolean until it is true.
    pub async fn wait_js(&self, script: &str, what: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = self.client.execute(script, vec![]).await?;
            if value.as_bool() == Some(true) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out waiting for {what}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves `NN-<name>.png` into the artifacts folder.
    pub async fn step(&mut self, name: &str) -> Result<PathBuf> {
        self.step += 1;
        let png = self.client.screenshot().await?;
        let path = self.artifacts.join(format!("{:02}-{name}.png", self.step));
        fs::write(&path, png).with_context(|| format!("writing {}", path.display()))?;
        Ok(path)
    }

    /// Waits for the element with this `data-testid`.
    pub async fn find(&self, id: &str) -> Result<Element> {
        let css = testid(id);
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(&css))
            .await
            .with_context(|| format!("no element [data-testid=\"{id}\"] within {WAIT:?}"))
    }

    /// Waits for an element matching a CSS selector.
    pub async fn find_css(&self, css: &str) -> Result<Element> {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .with_context(|| format!("no element matching `{css}` within {WAIT:?}"))
    }

    /// All elements with this `data-testid` right now (no waiting).
    pub async fn find_all(&self, id: &str) -> Result<Vec<Element>> {
        Ok(self.client.find_all(Locator::Css(&testid(id))).await?)
    }

    /// Clicks the element with this `data-testid`. Retries while the element is being
    /// re-rendered (a stale reference) or covered, up to [`WAIT`].
    pub async fn click(&self, id: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            let result = match self.find(id).await {
                Ok(element) => element.click().await.map_err(anyhow::Error::from),
                Err(err) => Err(err),
            };
            match result {
                Ok(()) => return Ok(()),
                Err(err) if Instant::now() > deadline => {
                    return Err(err.context(format!("clicking [data-testid=\"{id}\"]")));
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Clicks the first displayed element matching a CSS selector (inactive tabs stay in the
    /// DOM, hidden).
    pub async fn click_visible(&self, css: &str) -> Result<()> {
        let deadline = Instant::now() + WAIT;
        loop {
            for element in self.client.find_all(Locator::Css(css)).await? {
                if element.is_displayed().await.unwrap_or(false) && element.click().await.is_ok() {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("no displayed, clickable element matching `{css}` within {WAIT:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The values of the inputs, selects and textareas inside the element with this
    /// `data-testid`, joined by newlines (form-like views show their data in fields).
    pub async fn field_values(&self, id: &str) -> Result<String> {
        let element = self.find(id).await?;
        let value = self
            .client
            .execute(
                "return Array.from(arguments[0].querySelectorAll('input, select, textarea')) \
                   .map(e => e.value).join('\\n')",
                vec![serde_json::to_value(&element)?],
            )
            .await?;
        Ok(value.as_str().unwrap_or_default().to_string())
    }

    /// Replaces the value of an input/textarea with this `data-testid` by typing `text`.
    pub async fn fill(&self, id: &str, text: &str) -> Result<()> {
        let element = self.find(id).await?;
        element.clear().await?;
        element.send_keys(text).await?;
        Ok(())
    }

    /// Sets an input/textarea's value at once (for large texts) and fires `input` and `change`.
    pub async fn set_value(&self, id: &str, text: &str) -> Result<()> {
        let element = self.find(id).await?;
        self.client
            .execute(
                "const el = arguments[0]; \
                 const proto = el instanceof HTMLTextAreaElement ? HTMLTextAreaElement.prototype \
                   : el instanceof HTMLSelectElement ? HTMLSelectElement.prototype \
                   : HTMLInputElement.prototype; \
                 Object.getOwnPropertyDescriptor(proto, 'value').set.call(el, arguments[1]); \
                 el.dispatchEvent(new Event('input', { bubbles: true })); \
                 el.dispatchEvent(new Event('change', { bubbles: true }));",
                vec![serde_json::to_value(&element)?, json!(text)],
            )
            .await?;
        Ok(())
    }

    /// The text of the element with this `data-testid`.
    pub async fn text(&self, id: &str) -> Result<String> {
        Ok(self.find(id).await?.text().await?)
    }

    /// Waits until the element's text contains `needle`; returns the text.
    pub async fn wait_text(&self, id: &str, needle: &str) -> Result<String> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(&testid(id))).await
                && let Ok(text) = element.text().await
            {
                if text.contains(needle) {
                    return Ok(text);
                }
                last = text;
            }
            if Instant::now() > deadline {
                bail!("[data-testid=\"{id}\"] never contained {needle:?}; last text: {last:?}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until no element carries this `data-testid`.
    pub async fn wait_gone(&self, id: &str) -> Result<()> {
        self.wait_js(
            &format!("return !document.querySelector('[data-testid=\"{id}\"]')"),
            &format!("[data-testid=\"{id}\"] to disappear"),
        )
        .await
    }

    /// Waits until `save-status` says "Saved".
    pub async fn wait_saved(&self) -> Result<()> {
        self.wait_text("save-status", "Saved").await.map(|_| ())
    }

    /// The active Monaco editor's text (`window.__starweave_editor_value()`).
    pub async fn editor_value(&self) -> Result<String> {
        let value = self
            .client
            .execute(
                "return window.__starweave_editor_value ? window.__starweave_editor_value() : null",
                vec![],
            )
            .await?;
        value
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("no active editor (__starweave_editor_value returned {value})"))
    }

    /// Replaces the active editor's text (`window.__starweave_editor_set(text)`).
    pub async fn editor_set(&self, text: &str) -> Result<()> {
        self.client
            .execute(
                "window.__starweave_editor_set(arguments[0]); return true",
                vec![json!(text)],
            )
            .await?;
        Ok(())
    }

    /// Calls the IDE API from the page (same origin): `fetch(path, {method, body})`, returns
    /// `{status, body}` with the body parsed as JSON when it is JSON.
    pub async fn api(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let value = self
            .client
            .execute_async(
                "const [method, path, body, done] = arguments; \
                 const init = { method, headers: { 'content-type': 'application/json' } }; \
                 if (body !== null) init.body = JSON.stringify(body); \
                 fetch(path, init).then(async r => { \
                   const text = await r.text(); let parsed = text; \
                   try { parsed = JSON.parse(text); } catch (_) {} \
                   done({ status: r.status, body: parsed }); \
                 }).catch(e => done({ status: 0, body: String(e) }));",
                vec![json!(method), json!(path), body.unwrap_or(Value::Null)],
            )
            .await?;
        Ok(value)
    }

    /// Closes the browser session.
    pub async fn close(self) -> Result<()> {
        self.client.close().await?;
        Ok(())
    }
}

/// Runs `git` in `dir` and returns its stdout.
pub fn git(dir: &Path, args: &[&str]) -> Result<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .output()
        .context("running git")?;
    if !out.status.success() {
        bail!(
            "git {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
