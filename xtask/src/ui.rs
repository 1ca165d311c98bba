//! `cargo xtask ui [--release]`: builds the IDE's web UI into a "dist" directory.
//!
//! The layout (the contract `starweave up` serves, embeds with `STARWEAVE_UI_DIST`, and the e2e
//! tests load) is:
//!
//! ```text
//! <target>/ui-dist/
//!   index.html, style/*.css          copied from ui/
//!   pkg/starweave_ui.js, pkg/starweave_ui_bg.wasm    wasm-bindgen --target web
//!   monaco/monaco.js, monaco.css, codicon.ttf, editor.worker.js, ts.worker.js, json.worker.js
//! ```
//!
//! Steps, each installing what it needs when missing:
//! 1. `rustup target add wasm32-unknown-unknown`.
//! 2. `wasm-bindgen-cli` at exactly the `wasm-bindgen` version of Cargo.lock (`cargo install
//!    wasm-bindgen-cli@=<ver>`, without `--locked`: its own lockfile names a yanked crate).
//! 3. `cargo build -p starweave-ui --target wasm32-unknown-unknown` in its own target directory
//!    `<target>/ui-build`, so the wasm build never waits on (or blocks) the native build's lock.
//! 4. `wasm-bindgen --target web --no-typescript`. No `wasm-opt`: Debian's binaryen 108 breaks
//!    Leptos release builds (see the toolchain notes); the size is measured without it.
//! 5. Monaco from npm (`ui/web/package-lock.json` pins `monaco-editor` and `esbuild`): the inputs
//!    are copied to `<target>/ui-web/`, `npm ci` installs there (the source tree gets no
//!    `node_modules`), `node build.mjs` bundles. Skipped when the inputs' hash matches the stamp of
//!    the last bundle.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context, Result, bail};

use crate::{cargo, exec, root, target_dir};

/// The files under `ui/web/` that define the Monaco bundle; their hash keys the cache.
const WEB_INPUTS: [&str; 4] = [
    "package.json",
    "package-lock.json",
    "build.mjs",
    "monaco-entry.js",
];

/// `cargo xtask ui [--release]`.
pub fn ui_command(args: &[String]) -> Result<()> {
    let mut release = false;
    for arg in args {
        match arg.as_str() {
            "--release" => release = true,
            other => bail!("unknown argument `{other}` (usage: cargo xtask ui [--release])"),
        }
    }
    let dist = build_ui(release)?;
    println!("{}", dist.display());
    Ok(())
}

/// Where the dist is written: `$CARGO_TARGET_DIR/ui-dist` (or `<repo>/target/ui-dist`).
pub fn dist_dir() -> PathBuf {
    target_dir().join("ui-dist")
}

/// Builds the whole dist and returns its path.
pub fn build_ui(release: bool) -> Result<PathBuf> {
    let root = root();
    let ui = root.join("ui");
    let dist = dist_dir();
    ensure_wasm_target()?;
    let version = wasm_bindgen_version(&root.join("Cargo.lock"))?;
    ensure_wasm_bindgen(&version)?;

    // 3. The wasm build, in its own target directory.
    let build_dir = target_dir().join("ui-build");
    let mut build = cargo();
    build
        .args([
            "build",
            "--locked",
            "-p",
            "starweave-ui",
            "--target",
            "wasm32-unknown-unknown",
        ])
        .arg("--target-dir")
        .arg(&build_dir);
    if release {
        build.arg("--release");
    }
    exec(&mut build)?;
    let profile = if release { "release" } else { "debug" };
    let wasm = build_dir
        .join("wasm32-unknown-unknown")
        .join(profile)
        .join("starweave_ui.wasm");

    // 4. JS glue.
    let pkg = dist.join("pkg");
    if pkg.exists() {
        fs::remove_dir_all(&pkg).with_context(|| format!("removing {}", pkg.display()))?;
    }
    exec(
        Command::new("wasm-bindgen")
            .args(["--target", "web", "--no-typescript", "--out-dir"])
            .arg(&pkg)
            .arg(&wasm),
    )?;

    // Static files of the app.
    copy_file(&ui.join("index.html"), &dist.join("index.html"))?;
    let style = dist.join("style");
    if style.exists() {
        fs::remove_dir_all(&style).with_context(|| format!("removing {}", style.display()))?;
    }
    copy_dir(&ui.join("style"), &style)?;

    // 5. Monaco.
    let monaco = build_monaco(&ui.join("web"))?;
    let monaco_dist = dist.join("monaco");
    if monaco_dist.exists() {
        fs::remove_dir_all(&monaco_dist)
            .with_context(|| format!("removing {}", monaco_dist.display()))?;
    }
    copy_dir(&monaco, &monaco_dist)?;
    eprintln!("xtask: UI built into {}", dist.display());
    Ok(dist)
}

fn ensure_wasm_target() -> Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !installed
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        exec(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    Ok(())
}

/// The `wasm-bindgen` version Cargo.lock resolved; the CLI must match it exactly.
pub fn wasm_bindgen_version(lock: &Path) -> Result<String> {
    let text = fs::read_to_string(lock).with_context(|| format!("reading {}", lock.display()))?;
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() == "name = \"wasm-bindgen\""
            && let Some(version) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = \""))
                .and_then(|v| v.strip_suffix('"'))
        {
            return Ok(version.to_string());
        }
    }
    bail!(
        "{} has no `wasm-bindgen` package: is starweave-ui a workspace member?",
        lock.display()
    )
}

fn ensure_wasm_bindgen(version: &str) -> Result<()> {
    let current = Command::new("wasm-bindgen")
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if current.as_deref() == Some(&format!("wasm-bindgen {version}")) {
        return Ok(());
    }
    eprintln!(
        "xtask: installing wasm-bindgen-cli {version} (found {}), a few minutes once",
        current.as_deref().unwrap_or("none")
    );
    // Not `--locked`: the CLI's lockfile pins a crate version the registry no longer serves.
    // Its own temporary target directory, so the shared one stays free for others.
    exec(
        cargo()
            .env_remove("CARGO_TARGET_DIR")
            .args(["install", "--force"])
            .arg(format!("wasm-bindgen-cli@={version}")),
    )
}

/// Bundles Monaco from `web` (the `ui/web` folder) into `<target>/ui-web/out`, unless the
/// inputs are unchanged since the last bundle. Returns the output directory.
fn build_monaco(web: &Path) -> Result<PathBuf> {
    let work = target_dir().join("ui-web");
    let out = work.join("out");
    let stamp_file = work.join("stamp");
    let mut inputs = Vec::new();
    for name in WEB_INPUTS {
        let path = web.join(name);
        inputs.push(fs::read(&path).with_context(|| format!("reading {}", path.display()))?);
    }
    let stamp = format!("{:016x}", fnv1a(&inputs));
    if out.join("monaco.js").is_file()
        && fs::read_to_string(&stamp_file).ok().as_deref() == Some(stamp.as_str())
    {
        eprintln!("xtask: Monaco bundle is up to date ({})", out.display());
        return Ok(out);
    }
    ensure_node()?;
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;
    for (name, content) in WEB_INPUTS.iter().zip(&inputs) {
        fs::write(work.join(name), content)
            .with_context(|| format!("writing {}", work.join(name).display()))?;
    }
    exec(
        Command::new("npm")
            .current_dir(&work)
            .args(["ci", "--no-audit", "--no-fund"]),
    )?;
    exec(
        Command::new("node")
            .current_dir(&work)
            .arg("build.mjs")
            .arg(&out),
    )?;
    fs::write(&stamp_file, &stamp).with_context(|| format!("writing {}", stamp_file.display()))?;
    Ok(out)
}

/// Installs Node.js and npm from apt when missing (esbuild needs Node ≥ 18; Debian 12 has 18).
fn ensure_node() -> Result<()> {
    let found = |bin: &str| {
        Command::new(bin)
            .arg("--version")
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false)
    };
    if found("node") && found("npm") {
        return Ok(());
    }
    apt_install(&["nodejs", "npm"])
}

/// `apt-get install -y <packages>` (through `sudo` when not root), with one `apt-get update`
/// and a retry when the first attempt fails (a fresh machine has no package lists).
pub fn apt_install(packages: &[&str]) -> Result<()> {
    let apt = |args: &[&str]| {
        let root = Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
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
    let mut install = apt(&["install", "-y"]);
    install.args(packages);
    if exec(&mut install).is_ok() {
        return Ok(());
    }
    exec(&mut apt(&["update"]))?;
    let mut install = apt(&["install", "-y"]);
    install.args(packages);
    exec(&mut install)
}

/// FNV-1a over the inputs (with their lengths), a stable hash for the cache stamp.
fn fnv1a(parts: &[Vec<u8>]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in (part.len() as u64).to_le_bytes().iter().chain(part) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

fn copy_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
    }
    fs::copy(from, to)
        .with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Copies the folder `from` into `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let path = entry.path();
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&path, &target)?;
        } else {
            copy_file(&path, &target)?;
        }
    }
    Ok(())
}

/// The environment variable naming a built dist: read by `cargo build -p starweave-cloud` (to
/// embed it) and by the e2e tests.
pub const DIST_ENV: &str = "STARWEAVE_UI_DIST";
