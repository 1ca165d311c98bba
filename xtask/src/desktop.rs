//! The desktop app's build and tests: system packages, `tauri-driver`, the release build with
//! the UI embedded, and the WebDriver e2e tests offline.
//!
//! - [`ensure_packages`]: the Debian packages Tauri needs to build (`libwebkit2gtk-4.1-dev` …)
//!   and the desktop tests need to run (`xvfb`, `webkit2gtk-driver`, `imagemagick` …), checked
//!   with `dpkg -s` and installed with `apt-get install -y` (after one `apt-get update`; through
//!   `sudo` when not root). `cargo xtask test` calls it before clippy, which compiles the app.
//! - [`test`] (`cargo xtask test-desktop`, and the last e2e step of `cargo xtask test`): builds
//!   the app in release (what the `.deb` ships) with the UI embedded, builds the test binary
//!   `e2e/tests/desktop.rs`, and runs it inside a new network namespace that has only a loopback
//!   interface (`unshare --net`, `ip link set lo up`): every desktop scenario is thereby also
//!   the offline proof, and one test asserts the namespace has no route out. Each test starts
//!   its own Xvfb display, so no `xvfb-run` is needed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{cargo, exec, target_dir, ui};

/// The Debian packages the desktop app needs to build and its tests need to run.
pub const PACKAGES: [&str; 17] = [
    // Building (Tauri on Linux: WebKitGTK 4.1, GTK 3, tray, SVG icons, libxdo for menus).
    "libwebkit2gtk-4.1-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
    "libxdo-dev",
    // Testing: an X server without a screen, WebKitGTK's WebDriver, screenshots of the screen.
    "xvfb",
    "xauth",
    "webkit2gtk-driver",
    "imagemagick",
    // A private D-Bus session for the single-instance and keyring tests; the offline namespace (`unshare`,
    // `ip`); the loopback Git server.
    "dbus-daemon",
    "util-linux",
    "iproute2",
    "git",
    // A real Secret Service for the Git token tests (`cloud/tests/ide_git_credentials.rs`),
    // and libsecret's command-line client to check what it holds.
    "gnome-keyring",
    "libsecret-tools",
    // An SSH Git server for the SSH remote tests (`cloud/tests/ide_git_ssh.rs`, which start
    // their own `sshd` on loopback) and `ssh-keygen`.
    "openssh-server",
    "openssh-client",
    // `systemd-analyze` checks the compute engine package's unit (`xtask/src/dist.rs`).
    "systemd",
];

fn installed(package: &str) -> bool {
    Command::new("dpkg")
        .args(["-s", package])
        .output()
        .map(|o| {
            o.status.success()
                && String::from_utf8_lossy(&o.stdout).contains("Status: install ok installed")
        })
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn apt_get(args: &[&str]) -> Command {
    let mut cmd = if is_root() {
        Command::new("apt-get")
    } else {
        let mut sudo = Command::new("sudo");
        sudo.arg("apt-get");
        sudo
    };
    cmd.args(args).env("DEBIAN_FRONTEND", "noninteractive");
    cmd
}

/// Installs the missing ones of [`PACKAGES`]: `apt-get update` once, then
/// `apt-get install -y <missing>`.
pub fn ensure_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES.into_iter().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("xtask: installing {}", missing.join(" "));
    exec(&mut apt_get(&["update"]))?;
    let _hold = HoldServices::new();
    exec(apt_get(&["install", "-y"]).args(&missing))?;
    Ok(())
}

/// While it lives, Debian's maintainer scripts start no services (`policy-rc.d` answering
/// 101): installing `openssh-server` for the tests must not leave an `sshd` listening on
/// port 22 — the tests start their own on loopback. Only as root, and only when the machine
/// has no policy of its own.
struct HoldServices(Option<PathBuf>);

impl HoldServices {
    fn new() -> HoldServices {
        let path = PathBuf::from("/usr/sbin/policy-rc.d");
        if !is_root() || path.exists() {
            return HoldServices(None);
        }
        let written = std::fs::write(
            &path,
            "#!/bin/sh\n# held by cargo xtask while it installs test packages\nexit 101\n",
        )
        .and_then(|()| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
        });
        HoldServices(written.is_ok().then_some(path))
    }
}

impl Drop for HoldServices {
    fn drop(&mut self) {
        if let Some(path) = self.0.take() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// `tauri-driver` from `~/.cargo/bin` or `PATH`; `cargo install tauri-driver --locked` when
/// missing.
pub fn ensure_tauri_driver() -> Result<()> {
    let found = Command::new("tauri-driver")
        .arg("--help")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    let in_cargo_bin = std::env::var_os("HOME")
        .map(|home| {
            PathBuf::from(home)
                .join(".cargo/bin/tauri-driver")
                .is_file()
        })
        .unwrap_or(false);
    if found || in_cargo_bin {
        return Ok(());
    }
    exec(cargo().args(["install", "tauri-driver", "--locked"]))
}

/// `cargo build --release -p starweave-app` with the UI in `embed` embedded (through the cloud
/// crate's `STARWEAVE_UI_DIST`), or with no UI inside when `embed` is `None` (the package
/// installs the UI as files); returns the binary.
pub fn build_app(embed: Option<&Path>) -> Result<PathBuf> {
    let mut cmd = cargo();
    match embed {
        Some(dist) => cmd.env(ui::DIST_ENV, dist),
        None => cmd.env(ui::DIST_ENV, ""),
    };
    exec(cmd.args(["build", "--locked", "--release", "-p", "starweave-app"]))?;
    let bin = target_dir().join("release/starweave-app");
    if !bin.is_file() {
        bail!("the build left no {}", bin.display());
    }
    Ok(bin)
}

/// `cargo xtask test-desktop`: builds the UI (release) and runs [`test`]. With
/// `STARWEAVE_UI_DIST` set, that built UI is used as it is.
pub fn test_command() -> Result<()> {
    let dist = match std::env::var_os(ui::DIST_ENV).filter(|d| !d.is_empty()) {
        Some(dist) => PathBuf::from(dist),
        None => ui::build_ui(true)?,
    };
    test(&dist)
}

/// Installs what is missing, builds the app with `dist` embedded, and runs the desktop e2e
/// tests offline.
pub fn test(dist: &Path) -> Result<()> {
    let started = std::time::Instant::now();
    ensure_packages()?;
    ensure_tauri_driver()?;
    let app = build_app(Some(dist))?;
    let tests = build_test_binary()?;
    eprintln!(
        "xtask: desktop app and tests built in {:.0?}",
        started.elapsed()
    );
    let ran = std::time::Instant::now();
    exec(
        offline(&tests)
            .args(["--test-threads", "2"])
            .env("STARWEAVE_APP_BIN", &app)
            .env("STARWEAVE_E2E_OFFLINE", "1")
            .env("CARGO_TARGET_DIR", target_dir()),
    )?;
    eprintln!("xtask: desktop e2e tests ran in {:.0?}", ran.elapsed());
    Ok(())
}

/// Builds `e2e/tests/desktop.rs` and returns its executable (read from cargo's JSON messages).
fn build_test_binary() -> Result<PathBuf> {
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--locked",
        "-p",
        "starweave-e2e",
        "--test",
        "desktop",
        "--no-run",
        "--message-format=json-render-diagnostics",
    ]);
    eprintln!("$ {}", crate::describe(&cmd));
    let output = cmd
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("running cargo test --no-run")?;
    if !output.status.success() {
        bail!("building the desktop tests failed ({})", output.status);
    }
    // Each line is a JSON message; the test binary's has `"executable":"<path>"` and its
    // target named `desktop`. A small scan avoids a JSON dependency in xtask.
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        if line.contains("\"reason\":\"compiler-artifact\"")
            && line.contains("\"name\":\"desktop\"")
            && let Some(executable) = json_string(line, "executable")
        {
            return Ok(PathBuf::from(executable));
        }
    }
    bail!("cargo reported no executable for the `desktop` test")
}

/// The string value of `"key":"…"` in one line of JSON (paths only: no escapes but `\\`).
fn json_string(line: &str, key: &str) -> Option<String> {
    let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
    let rest = &line[start..];
    let end = rest.find('"')?;
    Some(rest[..end].replace("\\\\", "\\"))
}

/// A command running `program` in a new network namespace with only `lo` up. As root that is
/// `unshare --net`; otherwise a user namespace maps the user to root first.
pub fn offline(program: &Path) -> Command {
    let mut cmd = Command::new("unshare");
    if !is_root() {
        cmd.args(["--user", "--map-root-user"]);
    }
    cmd.args([
        "--net",
        "--",
        "sh",
        "-c",
        "ip link set lo up && exec \"$0\" \"$@\"",
    ])
    .arg(program);
    cmd
}

#[cfg(test)]
mod tests {
    use super::json_string;

    #[test]
    fn the_executable_is_read_from_cargo_json() {
        let line = r#"{"reason":"compiler-artifact","target":{"name":"desktop"},"executable":"/t/debug/deps/desktop-abc","fresh":true}"#;
        assert_eq!(
            json_string(line, "executable").as_deref(),
            Some("/t/debug/deps/desktop-abc")
        );
        assert_eq!(json_string(line, "missing"), None);
    }
}
