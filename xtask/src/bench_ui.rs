//! `cargo xtask bench ui`: the IDE's bundle size and time to interactive.
//!
//! Builds the release UI and the release `starweave` binary with the UI embedded (the same
//! build `cargo xtask run` makes), then runs the measuring program of the e2e crate
//! (`e2e/src/bin/bench-ui.rs`), which reuses the e2e harness (headless Chromium through
//! chromedriver against `starweave up` on loopback) and writes the table between
//! `<!-- bench-ui:start -->` and `<!-- bench-ui:end -->` in BENCHMARKS.md.
//!
//! `cargo xtask bench ui [runs]` (default 5 cold loads, the median is reported).
//!
//! `cargo xtask bench canvas [runs]` does the same for the BPMN canvas
//! (`e2e/src/bin/bench-canvas.rs`): opening a generated 300-node diagram, drag and pan frame
//! rates, and exact undo of 100 steps, into `## BPMN canvas (headless Chromium)`.

use anyhow::{Result, bail};

use crate::{cargo, exec, root, target_dir, ui};

/// Runs the UI benchmark.
pub fn bench_ui(args: &[String]) -> Result<()> {
    run_browser_bench("ui", "bench-ui", args)
}

/// Runs the BPMN canvas benchmark.
pub fn bench_canvas(args: &[String]) -> Result<()> {
    run_browser_bench("canvas", "bench-canvas", args)
}

fn run_browser_bench(group: &str, program: &str, args: &[String]) -> Result<()> {
    let runs = match args.first() {
        None => 5,
        Some(n) => match n.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => bail!("usage: cargo xtask bench {group} [runs]"),
        },
    };
    let dist = ui::build_ui(true)?;
    let bin = build_server(&dist)?;
    exec(
        cargo()
            .args([
                "run",
                "--locked",
                "--release",
                "-p",
                "starweave-e2e",
                "--bin",
                program,
                "--",
                "--runs",
                &runs.to_string(),
                "--benchmarks",
            ])
            .arg(root().join("BENCHMARKS.md"))
            .env(ui::DIST_ENV, &dist)
            .env("STARWEAVE_BIN", &bin),
    )
}

/// `cargo build --release --bin starweave` with the dist embedded (and `--bin
/// starweave-engine` beside it, `<target>/release/starweave-engine`); returns `starweave`'s path.
pub fn build_server(dist: &std::path::Path) -> Result<std::path::PathBuf> {
    // The compute engine's binary in the same build: one feature resolution for both, so it
    // reuses every release library (the engine's package is made from these two binaries).
    exec(cargo().env(ui::DIST_ENV, dist).args([
        "build",
        "--locked",
        "--release",
        "-p",
        "starweave-cloud",
        "--bin",
        "starweave",
        "-p",
        "starweave-engine",
        "--bin",
        "starweave-engine",
    ]))?;
    Ok(target_dir().join("release/starweave"))
}
