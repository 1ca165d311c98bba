//! The IDE's bundle size and time to interactive; run by `cargo xtask bench ui`.
//!
//! `bench-ui [--runs N] [--benchmarks BENCHMARKS.md]` with `STARWEAVE_UI_DIST` and
//! `STARWEAVE_BIN` set (xtask sets them):
//! - sizes: `pkg/starweave_ui_bg.wasm` + `pkg/starweave_ui.js` gzipped (level 9), and Monaco
//!   (`monaco/*`) gzipped, separately;
//! - time to interactive: N cold loads, each in a new Chromium session with a fresh profile,
//!   against one `starweave up` on loopback. TTI is `performance.now()` (milliseconds since
//!   navigation start) at the moment `document.body.dataset.ready` becomes `"1"`, caught by a
//!   `MutationObserver` in the page and read over WebDriver. The median is reported.
//!
//! Prints a Markdown table and, with `--benchmarks`, writes it between `<!-- bench-ui:start -->`
//! and `<!-- bench-ui:end -->`.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use flate2::{Compression, write::GzEncoder};
use starweave_e2e::{Driver, Server, prepare, target_dir};

const WASM_TARGET_BYTES: u64 = 2 * 1024 * 1024;
const TTI_TARGET_MS: f64 = 1500.0;

fn gzipped(path: &Path) -> Result<(u64, u64)> {
    let raw = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let mut encoder = GzEncoder::new(Vec::new(), Compression::best());
    encoder.write_all(&raw)?;
    Ok((raw.len() as u64, encoder.finish()?.len() as u64))
}

fn kib(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.2} MiB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{:.0} KiB", bytes as f64 / 1024.0)
    }
}

/// One cold load: a fresh profile, navigate, wait for the ready marker; returns TTI in ms.
async fn cold_load(driver: &Driver, url: &str) -> Result<f64> {
    let profile = tempfile::Builder::new()
        .prefix("starweave-bench-profile-")
        .tempdir()?;
    let client = driver.session_no_wait(profile.path()).await?;
    client.goto(url).await?;
    // Until the new document is the one the script runs in, the script may run in the old one
    // (about:blank) or be cut off by the navigation: retry until it answers from our page.
    let script = "const done = arguments[0]; \
        const now = () => ({ href: location.href, t: performance.now() }); \
        const ready = () => document.body && document.body.dataset.ready === '1'; \
        if (ready()) { done(now()); return; } \
        new MutationObserver((_, obs) => { if (ready()) { obs.disconnect(); done(now()); } }) \
          .observe(document.documentElement, { attributes: true, childList: true, subtree: true });";
    client
        .update_timeouts(fantoccini::wd::TimeoutConfiguration::new(
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(30)),
            Some(Duration::from_secs(0)),
        ))
        .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    let tti = loop {
        match client.execute_async(script, vec![]).await {
            Ok(value) if value["href"].as_str().is_some_and(|h| h.starts_with(url)) => {
                break value["t"]
                    .as_f64()
                    .context("performance.now() was not a number")?;
            }
            Ok(_) | Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Ok(value) => bail!("the page never became ready (last answer {value})"),
            Err(err) => return Err(err).context("the page never became ready"),
        }
    };
    client.close().await?;
    Ok(tti)
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    }
}

fn command_line(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let chromium = command_line("chromium", &["--version"]);
    format!("{cores} cores ({cpu}), {chromium}, headless, loopback")
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut runs = 5usize;
    let mut benchmarks: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().context("--runs needs a number")?.parse()?,
            "--benchmarks" => {
                benchmarks = Some(args.next().context("--benchmarks needs a path")?.into())
            }
            other => bail!("unknown argument `{other}`"),
        }
    }
    if runs == 0 {
        bail!("--runs must be at least 1");
    }
    let build = prepare()?;

    // Sizes.
    let (wasm_raw, wasm_gz) = gzipped(&build.dist.join("pkg/starweave_ui_bg.wasm"))?;
    let (js_raw, js_gz) = gzipped(&build.dist.join("pkg/starweave_ui.js"))?;
    let mut monaco_raw = 0;
    let mut monaco_gz = 0;
    let mut monaco_main_gz = 0;
    for entry in fs::read_dir(build.dist.join("monaco"))? {
        let path = entry?.path();
        let (raw, gz) = gzipped(&path)?;
        monaco_raw += raw;
        monaco_gz += gz;
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if matches!(name, "monaco.js" | "monaco.css" | "codicon.ttf") {
            monaco_main_gz += gz;
        }
    }

    // Time to interactive.
    let target = target_dir()?;
    let logs = target.join("e2e-artifacts/bench-ui");
    fs::create_dir_all(&logs)?;
    let workspace = tempfile::Builder::new()
        .prefix("starweave-bench-ws-")
        .tempdir()?;
    let server = Server::start(&build, workspace.path(), &logs.join("server.log"))?;
    let driver = Driver::start(&logs.join("chromedriver.log"))?;
    let mut ttis = Vec::with_capacity(runs);
    for run in 1..=runs {
        let tti = cold_load(&driver, &server.url).await?;
        eprintln!("bench-ui: cold load {run}/{runs}: {tti:.0} ms");
        ttis.push(tti);
    }
    let min = ttis.iter().copied().fold(f64::INFINITY, f64::min);
    let max = ttis.iter().copied().fold(0.0, f64::max);
    let med = median(&mut ttis);

    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    let ui_gz = wasm_gz + js_gz;
    let table = format!(
        "Measured by `cargo xtask bench ui` on {date}: {machine}. Release build, no `wasm-opt`; \
         gzip level 9.\n\n\
         | what | measured | target | |\n\
         |---|---|---|---|\n\
         | UI: `starweave_ui_bg.wasm` + `starweave_ui.js`, gzipped (without Monaco) | {ui} ({wasm} wasm + {js} JS; raw {wasm_raw} + {js_raw}) | ≤ 2 MiB | {ui_ok} |\n\
         | Monaco: `monaco.js` + css + font, gzipped (loaded with the page) | {monaco_main} | — | |\n\
         | Monaco with its workers (editor, TypeScript, JSON), gzipped | {monaco_all} (raw {monaco_raw}) | — | |\n\
         | Time to interactive (navigation start → `body.dataset.ready == \"1\"`), median of {runs} cold loads with fresh profiles | {med:.0} ms (min {min:.0}, max {max:.0}) | ≤ 1500 ms | {tti_ok} |\n",
        date = command_line("date", &["-u", "+%Y-%m-%d"]),
        machine = machine(),
        ui = kib(ui_gz),
        wasm = kib(wasm_gz),
        js = kib(js_gz),
        wasm_raw = kib(wasm_raw),
        js_raw = kib(js_raw),
        ui_ok = verdict(ui_gz <= WASM_TARGET_BYTES),
        monaco_main = kib(monaco_main_gz),
        monaco_all = kib(monaco_gz),
        monaco_raw = kib(monaco_raw),
        tti_ok = verdict(med <= TTI_TARGET_MS),
    );
    println!("{table}");
    if let Some(path) = benchmarks {
        write_between_markers(&path, &table)?;
        eprintln!("bench-ui: wrote the table into {}", path.display());
    }
    Ok(())
}

fn write_between_markers(path: &Path, table: &str) -> Result<()> {
    const START: &str = "<!-- bench-ui:start -->";
    const END: &str = "<!-- bench-ui:end -->";
    let text = fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let updated = match (text.find(START), text.find(END)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{START}\n{table}{}", &text[..start], &text[end..])
        }
        _ => format!(
            "{}\n## The IDE: bundle size and time to interactive\n\n{START}\n{table}{END}\n",
            text.trim_end()
        ),
    };
    fs::write(path, updated).with_context(|| format!("writing {}", path.display()))
}
