//! Project automation, run as `cargo xtask <command>`.
//!
//! - `run`   installs what is missing, builds the UI and the server, and ends in `starweave up`.
//! - `ui`    builds the web UI into `<target>/ui-dist` (`cargo xtask ui [--release]`).
//! - `test`  everything CI checks: formatting, clippy with `-D warnings`, every test.
//! - `bench` the benchmarks (`cargo xtask bench [model|engine|http|ui]`).
//! - `fuzz`  a fuzz target for a while (`cargo xtask fuzz bpmn_read 600`).
//! - `dist`  the `.deb` packages under `<target>/dist/`: the desktop app and the compute engine
//!   (`cargo xtask dist [desktop|engine]`, `xtask/src/dist.rs`).
//! - `test-desktop` the desktop app's WebDriver tests, offline (`xtask/src/desktop.rs`).
//!
//! Each step prints the command it runs, so a failure can be reproduced by hand.

use std::{
    env,
    path::PathBuf,
    process::{Command, ExitCode},
};

use anyhow::{Context, Result, bail};

mod bench_http;
mod bench_ui;
mod desktop;
mod dist;
mod services;
mod ui;

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run(&args[1..]),
        Some("test") => test(),
        Some("bench") => bench(&args[1..]),
        Some("fuzz") => fuzz(&args[1..]),
        Some("services") => services::ensure_services(),
        Some("ui") => ui::ui_command(&args[1..]),
        Some("dist") => match args.get(1).map(String::as_str) {
            None => dist::dist().and_then(|()| dist::dist_engine()),
            Some("desktop") => dist::dist(),
            Some("engine") => dist::dist_engine(),
            Some(other) => Err(anyhow::anyhow!(
                "cargo xtask dist [desktop|engine]: no package `{other}`"
            )),
        },
        Some("test-desktop") => desktop::test_command(),
        _ => {
            eprintln!(
                "usage: cargo xtask <run|test|test-desktop|ui [--release]|dist [desktop|engine]|bench [model|engine|http|ui]|fuzz <target> [seconds]>"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("xtask: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root. Read at run time (`cargo run` sets `CARGO_MANIFEST_DIR` for the
/// program it starts): with a target directory shared between clones, cargo may reuse an
/// xtask binary built in another clone, whose compile-time path would point there.
fn root() -> PathBuf {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(root());
    cmd
}

fn exec(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", describe(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", describe(cmd));
    }
    Ok(())
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|s| s.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Installs the rustup components and cargo tools the checks need, when missing.
fn ensure_tools() -> Result<()> {
    if !cargo_sub_ok("fmt") {
        exec(Command::new("rustup").args(["component", "add", "rustfmt"]))?;
    }
    if !cargo_sub_ok("clippy") {
        exec(Command::new("rustup").args(["component", "add", "clippy"]))?;
    }
    let targets = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !targets
        .lines()
        .any(|t| t.trim() == "wasm32-unknown-unknown")
    {
        exec(Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]))?;
    }
    if !cargo_sub_ok("nextest") {
        exec(cargo().args(["install", "cargo-nextest", "--locked"]))?;
    }
    Ok(())
}

fn cargo_sub_ok(sub: &str) -> bool {
    cargo()
        .args([sub, "--version"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

fn test() -> Result<()> {
    ensure_tools()?;
    exec(cargo().args(["fmt", "--all", "--check"]))?;
    // The workspace includes the desktop app, which builds against WebKitGTK's dev packages.
    desktop::ensure_packages()?;
    exec(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;
    // The integration tests need PostgreSQL, MariaDB, Redis and NATS on loopback.
    services::ensure_services()?;
    // The e2e tests run below, once the UI and the server are built, and two at a time (each
    // one drives its own Chromium).
    exec(cargo().args([
        "nextest",
        "run",
        "--workspace",
        "--exclude",
        "starweave-e2e",
        "--locked",
        "--no-fail-fast",
    ]))?;
    // The UI crate for its real target (in the UI's own target dir, like `cargo xtask ui`).
    exec(
        cargo()
            .args([
                "clippy",
                "--locked",
                "-p",
                "starweave-ui",
                "--target",
                "wasm32-unknown-unknown",
                "--target-dir",
            ])
            .arg(target_dir().join("ui-build"))
            .args(["--", "-D", "warnings"]),
    )?;
    let dist = ui::build_ui(true)?;
    let bin = bench_ui::build_server(&dist)?;
    exec(
        cargo()
            .env(ui::DIST_ENV, &dist)
            .env("STARWEAVE_BIN", &bin)
            .args([
                "nextest",
                "run",
                "--locked",
                "-p",
                "starweave-e2e",
                "--no-fail-fast",
                "--test-threads",
                "2",
                // The desktop tests run below, offline, against the desktop app.
                "-E",
                "not binary(desktop)",
            ]),
    )?;
    desktop::test(&dist)?;
    // The compute engine's package, from the release binaries the e2e tests just used.
    let deb = dist::build_engine_deb(&bin)?;
    dist::check_engine_deb(&deb)?;
    // The UI links the model, so it must keep compiling to wasm32.
    exec(cargo().args([
        "check",
        "--locked",
        "-p",
        "starweave-model",
        "--target",
        "wasm32-unknown-unknown",
    ]))?;
    // No crate has Rust doc tests (the examples in doc comments are YAML, JavaScript or
    // text); the model's YAML examples are read back by its `vms::doc_examples` unit tests.
    // The examples must stay valid and formatted.
    exec(
        cargo()
            .args([
                "run",
                "--locked",
                "--quiet",
                "--bin",
                "starweave",
                "--",
                "validate",
            ])
            .args(examples()?),
    )?;
    exec(
        cargo()
            .args([
                "run",
                "--locked",
                "--quiet",
                "--bin",
                "starweave",
                "--",
                "fmt",
                "--check",
            ])
            .args(examples()?),
    )?;
    eprintln!("xtask: all checks passed");
    Ok(())
}

/// Writes each example into `vms_check`'s corpus in the target's input format: files
/// separated by 0xFF bytes, each its relative path, a newline and its content.
fn seed_vms_check() -> Result<()> {
    let corpus = root().join("fuzz/corpus/vms_check");
    std::fs::create_dir_all(&corpus)?;
    for example in examples()? {
        let mut seed = Vec::new();
        let mut stack = vec![example.clone()];
        let mut paths = Vec::new();
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    stack.push(path);
                } else {
                    paths.push(path);
                }
            }
        }
        paths.sort();
        for path in paths {
            let relative = path
                .strip_prefix(&example)?
                .to_string_lossy()
                .replace('\\', "/");
            if !seed.is_empty() {
                seed.push(0xff);
            }
            seed.extend_from_slice(relative.as_bytes());
            seed.push(b'\n');
            seed.extend_from_slice(&std::fs::read(&path)?);
        }
        let name = example.file_name().unwrap_or_default().to_string_lossy();
        std::fs::write(corpus.join(format!("example-{name}")), seed)?;
    }
    Ok(())
}

fn examples() -> Result<Vec<PathBuf>> {
    let dir = root().join("assets/examples");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.join("vms.yaml").is_file() {
            out.push(path);
        }
    }
    out.sort();
    Ok(out)
}

/// Builds the UI (release) and the server with the UI embedded, checks the examples, and ends in
/// `starweave up` (127.0.0.1:7070, the default workspace); extra arguments go to `up`.
fn run(args: &[String]) -> Result<()> {
    let dist = ui::build_ui(true)?;
    let bin = bench_ui::build_server(&dist)?;
    let examples = examples()?;
    exec(Command::new(&bin).arg("validate").args(&examples))?;
    for example in &examples {
        eprintln!("xtask: {} is valid", example.display());
    }
    let mut up = Command::new(&bin);
    up.arg("up").args(args);
    eprintln!("$ {}", describe(&up));
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let err = up.exec();
        Err(err).with_context(|| format!("could not start `{}`", describe(&up)))
    }
    #[cfg(not(unix))]
    exec(&mut up)
}

fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn bench(args: &[String]) -> Result<()> {
    let packages: Vec<&str> = match args.first().map(String::as_str) {
        None => vec!["starweave-model", "starweave-engine"],
        Some("model") => vec!["starweave-model"],
        Some("engine") => vec!["starweave-engine"],
        Some("http") => return bench_http::bench_http(&args[1..]),
        Some("ui") => return bench_ui::bench_ui(&args[1..]),
        Some("canvas") => return bench_ui::bench_canvas(&args[1..]),
        Some(other) => {
            bail!(
                "unknown bench group `{other}` (expected `model`, `engine`, `http`, `ui` or `canvas`)"
            )
        }
    };
    for package in packages {
        exec(cargo().args(["bench", "--locked", "-p", package]))?;
    }
    Ok(())
}

fn fuzz(args: &[String]) -> Result<()> {
    let Some(target) = args.first() else {
        bail!("usage: cargo xtask fuzz <bpmn_read|vms_load|vms_check> [seconds]");
    };
    let seconds = args.get(1).map(String::as_str).unwrap_or("600");
    if target == "vms_check" {
        seed_vms_check()?;
    }
    if !cargo_sub_ok("fuzz") {
        exec(cargo().args(["install", "cargo-fuzz", "--locked"]))?;
    }
    // cargo-fuzz needs nightly flags; the stable toolchain accepts them with RUSTC_BOOTSTRAP.
    exec(cargo().env("RUSTC_BOOTSTRAP", "1").args([
        "fuzz",
        "run",
        target,
        "--",
        &format!("-max_total_time={seconds}"),
    ]))
}
