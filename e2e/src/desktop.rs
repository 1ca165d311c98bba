//! The desktop harness: the real `starweave-app` window on its own Xvfb display, driven over
//! WebDriver through `tauri-driver` and WebKitGTK's `WebKitWebDriver`.
//!
//! [`DesktopApp::start`] gives a test:
//! - an X display of its own: `Xvfb :N` on the first free display number from 140 up (the app
//!   recognises Xvfb by its process and turns WebKit's compositing off by itself, so the
//!   window is not blank);
//! - `tauri-driver --port P --native-port Q` (free ports), which starts `WebKitWebDriver`,
//!   which starts the app with `--workspace <fresh temp dir>`; the app's config and data folders
//!   (`XDG_CONFIG_HOME`, `XDG_DATA_HOME`) are temp dirs too, so tests never see each other's
//!   recent lists or window positions;
//! - an [`Ide`] over that window: every helper of the Chromium tests (find, click, fill, step
//!   screenshots, `new_vms`…) works on the desktop window unchanged.
//!
//! What it needs, with no fallback (a missing piece fails the test with a message naming it):
//! - `STARWEAVE_APP_BIN`: the built app (`cargo xtask test-desktop` builds it and sets it);
//! - `tauri-driver` (on `PATH` or in `~/.cargo/bin`), `WebKitWebDriver` and `Xvfb` (apt
//!   packages `webkit2gtk-driver`, `xvfb`; `cargo xtask test-desktop` installs them).
//!
//! The harness kills the whole process group of `tauri-driver` (WebKitWebDriver and the app
//! included) when the test ends, passed or failed.

use std::fs;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use fantoccini::ClientBuilder;
use fantoccini::error::NewSessionError;
use serde_json::json;
use tempfile::TempDir;

use crate::{Driver, Guard, Ide, Server, free_port, fresh_artifacts};

/// The env var naming the built `starweave-app`.
pub const APP_ENV: &str = "STARWEAVE_APP_BIN";
/// Set to `1` by `cargo xtask test-desktop` when the tests run in a network namespace without
/// a route out; the offline test asserts it.
pub const OFFLINE_ENV: &str = "STARWEAVE_E2E_OFFLINE";

/// The built app named by [`APP_ENV`]; an error saying how to get one otherwise.
pub fn app_binary() -> Result<PathBuf> {
    let Some(bin) = std::env::var_os(APP_ENV).filter(|v| !v.is_empty()) else {
        bail!(
            "{APP_ENV} is not set: the desktop tests drive a built starweave-app. Run them with \
             `cargo xtask test-desktop`, which builds the app and sets {APP_ENV}"
        );
    };
    let bin = PathBuf::from(bin);
    if !bin.is_file() {
        bail!("{APP_ENV}={} does not exist", bin.display());
    }
    Ok(bin)
}

/// `tauri-driver` from `PATH`, else from `~/.cargo/bin`.
pub fn tauri_driver() -> Result<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("tauri-driver"))
        .find(|p| p.is_file());
    let in_cargo = std::env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cargo/bin/tauri-driver"))
        .filter(|p| p.is_file());
    on_path.or(in_cargo).ok_or_else(|| {
        anyhow!(
            "tauri-driver is not installed: `cargo install tauri-driver --locked` \
             (cargo xtask test-desktop does it)"
        )
    })
}

/// A running desktop app under WebDriver.
#[derive(Debug)]
pub struct DesktopApp {
    /// The window, with the Chromium tests' helpers. `ide.server.url` is the app's own server
    /// (`http://127.0.0.1:PORT/`); `ide.workspace()` the folder the app was started on.
    pub ide: Ide,
    /// The X display (`:N`).
    pub display: String,
    /// The process group of tauri-driver, WebKitWebDriver and the app.
    group: u32,
    /// XDG config and data folders of the app.
    pub home: TempDir,
}

impl Drop for DesktopApp {
    fn drop(&mut self) {
        // WebKitWebDriver and the app outlive a killed tauri-driver: end the whole group.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.group)])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// An Xvfb display of its own, stopped when dropped.
#[derive(Debug)]
pub struct XDisplay {
    /// `:N`
    pub display: String,
    _xvfb: Guard,
}

impl XDisplay {
    /// Starts `Xvfb :N` on the first free display number from 140; its output goes to `log`.
    pub fn start(log: &Path) -> Result<XDisplay> {
        let (display, guard) = start_xvfb(log)?;
        Ok(XDisplay {
            display,
            _xvfb: guard,
        })
    }
}

/// Starts `Xvfb` on a free display number; the guard stops it.
fn start_xvfb(log: &Path) -> Result<(String, Guard)> {
    // Tests of one binary start their displays one after the other.
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = STARTING.lock().unwrap_or_else(|p| p.into_inner());
    let mut number = 140;
    loop {
        if number > 400 {
            bail!("no free X display number between :140 and :400");
        }
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{number}"));
        let lock = PathBuf::from(format!("/tmp/.X{number}-lock"));
        if socket.exists() || lock.exists() {
            number += 1;
            continue;
        }
        let log_file =
            fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let mut child = Command::new("Xvfb")
            .arg(format!(":{number}"))
            .args(["-screen", "0", "1440x900x24", "-nolisten", "tcp"])
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting Xvfb (apt package `xvfb`)")?;
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            // Ours when the display's lock file names our process: another Xvfb that won the
            // race for this number owns the socket too.
            let owner = fs::read_to_string(&lock)
                .ok()
                .and_then(|pid| pid.trim().parse::<u32>().ok());
            if socket.exists() && owner == Some(child.id()) {
                return Ok((format!(":{number}"), Guard(child)));
            }
            if child.try_wait()?.is_some() {
                // Another test took this number first.
                break;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                bail!("Xvfb :{number} did not create its socket within 15 s");
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        number += 1;
    }
}

fn wait_for_port(port: u16, what: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("{what} did not listen on port {port} within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

impl DesktopApp {
    /// Starts the app for the test `name` over a fresh workspace and waits until the IDE in
    /// its window is ready.
    pub async fn start(name: &str) -> Result<DesktopApp> {
        let app = app_binary()?;
        let driver_bin = tauri_driver()?;
        let artifacts = fresh_artifacts(&format!("desktop-{name}"))?;
        let workspace = tempfile::Builder::new()
            .prefix("starweave-desktop-ws-")
            .tempdir()?;
        let home = tempfile::Builder::new()
            .prefix("starweave-desktop-home-")
            .tempdir()?;
        let (display, xvfb) = start_xvfb(&artifacts.join("xvfb.log"))?;

        let port = free_port()?;
        let native_port = free_port()?;
        let log = artifacts.join("app-and-driver.log");
        let log_file =
            fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let mut command = Command::new(&driver_bin);
        command
            .args(["--port", &port.to_string(), "--native-port"])
            .arg(native_port.to_string())
            .env("DISPLAY", &display)
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .env("XDG_CACHE_HOME", home.path().join("cache"))
            // Tests run side by side; each app is its own instance.
            .env("STARWEAVE_APP_SINGLE_INSTANCE", "0")
            .env_remove("STARWEAVE_WORKSPACE")
            .env_remove("WEBKIT_DISABLE_COMPOSITING_MODE")
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file);
        #[cfg(unix)]
        {
            use std::os::unix::process::CommandExt as _;
            command.process_group(0);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", driver_bin.display()))?;
        let group = child.id();
        let driver_guard = Guard(child);
        wait_for_port(port, "tauri-driver")?;

        let mut caps = serde_json::Map::new();
        caps.insert(
            "tauri:options".into(),
            json!({
                "application": app,
                "args": ["--workspace", workspace.path()],
            }),
        );
        let driver_url = format!("http://127.0.0.1:{port}");
        // tauri-driver listens before the WebKitWebDriver behind it does: a session request in
        // that moment fails at the connection level, so it is retried a few times.
        let mut attempt = 0;
        let client = loop {
            attempt += 1;
            let result =
                ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
                    .capabilities(caps.clone())
                    .connect(&driver_url)
                    .await;
            match result {
                Ok(client) => break client,
                Err(
                    NewSessionError::Failed(_)
                    | NewSessionError::FailedC(_)
                    | NewSessionError::Lost(_),
                ) if attempt < 10 => {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(err) => {
                    return Err(err).with_context(|| {
                        format!(
                            "opening a session on the app through tauri-driver, attempt {attempt} (log: {})",
                            log.display()
                        )
                    });
                }
            }
        };
        let url = client.current_url().await?;
        let mut origin = url.clone();
        origin.set_fragment(None);
        origin.set_path("/");
        let ide = Ide {
            client,
            server: Server {
                url: origin.to_string(),
                _child: driver_guard,
            },
            artifacts,
            workspace,
            _profile: tempfile::Builder::new()
                .prefix("starweave-desktop-unused-")
                .tempdir()?,
            _driver: Driver {
                url: driver_url,
                _child: xvfb,
            },
            step: 0,
        };
        let desktop = DesktopApp {
            ide,
            display,
            group,
            home,
        };
        desktop.ide.wait_ready().await.with_context(|| {
            format!(
                "the IDE in the window never became ready (log: {})",
                log.display()
            )
        })?;
        Ok(desktop)
    }

    /// Captures the whole X screen (the native window with its content) into the artifacts
    /// as `NN-<name>-screen.png`, with ImageMagick's `import`.
    pub fn screen_capture(&mut self, name: &str) -> Result<PathBuf> {
        self.ide.step += 1;
        let path = self
            .ide
            .artifacts
            .join(format!("{:02}-{name}-screen.png", self.ide.step));
        let output = Command::new("import")
            .args(["-display", &self.display, "-window", "root"])
            .arg(&path)
            .output()
            .context("running ImageMagick's `import` (apt package `imagemagick`)")?;
        if !output.status.success() {
            bail!(
                "import -window root failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(path)
    }

    /// Calls the app's API from inside the window with the page's bearer token:
    /// `{status, body}` like [`Ide::api`].
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let value = self
            .ide
            .client
            .execute_async(
                "const [method, path, body, done] = arguments; \
                 const token = sessionStorage.getItem('starweave.token') || ''; \
                 const init = { method, headers: { 'content-type': 'application/json', \
                   authorization: 'Bearer ' + token } }; \
                 if (body !== null) init.body = JSON.stringify(body); \
                 fetch(path, init).then(async r => { \
                   const text = await r.text(); let parsed = text; \
                   try { parsed = JSON.parse(text); } catch (_) {} \
                   done({ status: r.status, body: parsed }); \
                 }).catch(e => done({ status: 0, body: String(e) }));",
                vec![
                    json!(method),
                    json!(path),
                    body.unwrap_or(serde_json::Value::Null),
                ],
            )
            .await?;
        Ok(value)
    }

    /// Ends the WebDriver session (which closes the app).
    pub async fn close(self) -> Result<()> {
        self.ide.client.clone().close().await?;
        Ok(())
    }
}

/// The number of distinct colours in a PNG, counted by ImageMagick (`%k`).
pub fn distinct_colours(png: &Path) -> Result<u64> {
    let output = Command::new("identify")
        .args(["-format", "%k"])
        .arg(png)
        .output()
        .context("running ImageMagick's `identify` (apt package `imagemagick`)")?;
    if !output.status.success() {
        bail!(
            "identify {} failed: {}",
            png.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let text = String::from_utf8_lossy(&output.stdout);
    text.trim()
        .parse()
        .with_context(|| format!("identify printed {text:?}"))
}

/// Whether a TCP connection to `address` succeeds within `timeout`.
pub fn can_connect(address: &str, timeout: Duration) -> bool {
    let Ok(mut addresses) = address.to_socket_addrs() else {
        return false;
    };
    addresses.any(|a| TcpStream::connect_timeout(&a, timeout).is_ok())
}

/// A `git daemon` on a free loopback port serving the bare repositories below `base`, with
/// pushes allowed; stopped when dropped.
#[derive(Debug)]
pub struct GitDaemon {
    /// `git://127.0.0.1:PORT/`
    pub url: String,
    _child: Guard,
}

impl GitDaemon {
    /// Starts `git daemon --export-all --enable=receive-pack --base-path=<base>`.
    pub fn start(base: &Path, log: &Path) -> Result<GitDaemon> {
        let port = free_port()?;
        let log_file =
            fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--enable=receive-pack",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()
            .context("starting git daemon")?;
        let guard = Guard(child);
        wait_for_port(port, "git daemon")?;
        Ok(GitDaemon {
            url: format!("git://127.0.0.1:{port}/"),
            _child: guard,
        })
    }
}
