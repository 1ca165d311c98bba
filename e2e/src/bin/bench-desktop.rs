//! `bench-desktop`: start-to-interactive time, idle memory and package size of the desktop app.
//!
//! ```text
//! bench-desktop [--runs N] [--idle-secs S]   (STARWEAVE_APP_BIN names the release app)
//! ```
//!
//! On its own Xvfb display, it launches the app N times one after the other (default 6), each
//! time over the default workspace of one fresh user (temp `XDG_DATA_HOME`/`XDG_CONFIG_HOME`):
//! the first launch creates the example VMS there, the later ones open them.
//!
//! - **Start to interactive**: from `spawn` of the process to the line
//!   `starweave-app: ready after N ms` it prints when the window's page reports
//!   `document.body.dataset.ready == "1"` (the IDE rendered and answered by the server). The
//!   app's own number (from `main`) is printed too.
//! - **Idle memory**: after the last launch is ready, it waits `--idle-secs` (default 10) and sums
//!   over the app process and every descendant (WebKit's web and network processes): RSS
//!   (`VmRSS`, counts shared pages once per process) and PSS (`smaps_rollup`, shares split
//!   between processes; the honest total).
//! - **Package size**: the newest `<target>/dist/*.deb`, when `cargo xtask dist` made one.
//!
//! The results go to standard output as Markdown for `BENCHMARKS.md`.

use std::collections::BTreeMap;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use starweave_e2e::desktop::{XDisplay, app_binary};
use starweave_e2e::target_dir;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runs = flag(&args, "--runs")?.unwrap_or(6).max(1);
    let idle_secs = flag(&args, "--idle-secs")?.unwrap_or(10);
    let app = app_binary()?;
    let artifacts = target_dir()?.join("e2e-artifacts").join("bench-desktop");
    fs::create_dir_all(&artifacts)?;
    let display = XDisplay::start(&artifacts.join("xvfb.log"))?;
    let home = tempfile::Builder::new()
        .prefix("starweave-bench-desktop-")
        .tempdir()?;

    let mut spawn_to_ready = Vec::new();
    let mut main_to_ready = Vec::new();
    let mut memory = None;
    for run in 0..runs {
        let mut child = launch(&app, &display.display, home.path(), &artifacts, run)?;
        let started = Instant::now();
        let stdout = child.stdout.take().expect("piped");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(ms) = line.strip_prefix("starweave-app: ready after ") {
                    let _ = tx.send(ms.trim_end_matches(" ms").parse::<u64>().ok());
                }
            }
        });
        let own = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(own) => own,
            Err(_) => {
                stop(&mut child);
                bail!(
                    "launch {} never printed `ready after` within 120 s (log in {})",
                    run + 1,
                    artifacts.display()
                );
            }
        };
        let elapsed = started.elapsed();
        spawn_to_ready.push(elapsed);
        if let Some(own) = own {
            main_to_ready.push(Duration::from_millis(own));
        }
        eprintln!(
            "launch {}: ready {} ms after spawn ({} ms after main)",
            run + 1,
            elapsed.as_millis(),
            own.map(|m| m.to_string()).unwrap_or_else(|| "?".into())
        );
        if run + 1 == runs {
            std::thread::sleep(Duration::from_secs(idle_secs));
            memory = Some(tree_memory(child.id())?);
        }
        stop(&mut child);
    }

    let deb = newest_deb(&target_dir()?.join("dist"));
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let load = fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "Machine: {cpu}, {cores} cores; load average at the end: {}",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("App: {}", app.display());
    println!();
    println!("| measure | value |");
    println!("|---|---|");
    println!(
        "| first launch (creates the example VMS), spawn → IDE ready | {} ms |",
        spawn_to_ready[0].as_millis()
    );
    if spawn_to_ready.len() > 1 {
        let later = &spawn_to_ready[1..];
        println!(
            "| later launches, spawn → IDE ready, median (min–max) of {} | {} ms ({}–{} ms) |",
            later.len(),
            median(later).as_millis(),
            later.iter().min().expect("non-empty").as_millis(),
            later.iter().max().expect("non-empty").as_millis()
        );
    }
    if !main_to_ready.is_empty() {
        println!(
            "| same, measured by the app from `main`, median of all | {} ms |",
            median(&main_to_ready).as_millis()
        );
    }
    if let Some(memory) = memory {
        println!(
            "| idle memory after {idle_secs} s, app + {} WebKit/child processes: PSS | {:.0} MiB |",
            memory.processes.len() - 1,
            memory.pss_kib as f64 / 1024.0
        );
        println!(
            "| same, RSS summed (shared pages counted per process) | {:.0} MiB |",
            memory.rss_kib as f64 / 1024.0
        );
        let names: BTreeMap<&str, usize> =
            memory.processes.iter().fold(BTreeMap::new(), |mut m, n| {
                *m.entry(n.as_str()).or_default() += 1;
                m
            });
        println!(
            "| processes measured | {} |",
            names
                .iter()
                .map(|(n, c)| format!("{n} ×{c}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    match deb {
        Some((path, size)) => println!(
            "| `.deb` size ({}) | {:.1} MiB |",
            path.file_name().unwrap_or_default().to_string_lossy(),
            size as f64 / (1024.0 * 1024.0)
        ),
        None => println!("| `.deb` size | not built (run `cargo xtask dist`) |"),
    }
    Ok(())
}

fn flag(args: &[String], name: &str) -> Result<Option<u64>> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => {
            let value = args
                .get(i + 1)
                .ok_or_else(|| anyhow!("{name} needs a number"))?;
            Ok(Some(value.parse().with_context(|| {
                format!("{name} {value}: not a number")
            })?))
        }
    }
}

fn launch(app: &Path, display: &str, home: &Path, artifacts: &Path, run: u64) -> Result<Child> {
    let log = fs::File::create(artifacts.join(format!("launch-{}.log", run + 1)))?;
    Command::new(app)
        .env("DISPLAY", display)
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env_remove("STARWEAVE_WORKSPACE")
        .env_remove("WEBKIT_DISABLE_COMPOSITING_MODE")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", app.display()))
}

/// Ends the app and every process it started.
fn stop(child: &mut Child) {
    let descendants = descendants(child.id());
    let _ = child.kill();
    let _ = child.wait();
    for pid in descendants {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}

fn median(values: &[Duration]) -> Duration {
    let mut sorted = values.to_vec();
    sorted.sort();
    sorted[sorted.len() / 2]
}

/// The pids below `root` (children, grandchildren…), from `/proc/*/stat`.
fn descendants(root: u32) -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.filter_map(Result::ok) {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
                continue;
            };
            let Ok(stat) = fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            // `pid (comm) state ppid …`; comm may hold spaces, so split after the last ')'.
            let Some(after) = stat.rsplit_once(')').map(|(_, a)| a) else {
                continue;
            };
            if let Some(ppid) = after.split_whitespace().nth(1).and_then(|p| p.parse().ok()) {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            parents
                .iter()
                .filter(|(_, p)| *p == parent)
                .map(|(c, _)| *c),
        );
        i += 1;
    }
    found.remove(0);
    found
}

struct TreeMemory {
    rss_kib: u64,
    pss_kib: u64,
    processes: Vec<String>,
}

fn tree_memory(root: u32) -> Result<TreeMemory> {
    let mut memory = TreeMemory {
        rss_kib: 0,
        pss_kib: 0,
        processes: Vec::new(),
    };
    for pid in std::iter::once(root).chain(descendants(root)) {
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        let status = fs::read_to_string(proc_dir.join("status"))
            .with_context(|| format!("reading /proc/{pid}/status"))?;
        memory.rss_kib += kib(&status, "VmRSS:");
        let rollup = fs::read_to_string(proc_dir.join("smaps_rollup")).unwrap_or_default();
        memory.pss_kib += kib(&rollup, "Pss:");
        let name = status
            .lines()
            .find_map(|l| l.strip_prefix("Name:"))
            .map(|n| n.trim().to_owned())
            .unwrap_or_default();
        memory.processes.push(name);
    }
    Ok(memory)
}

/// The number of kB on the line starting with `key`.
fn kib(text: &str, key: &str) -> u64 {
    text.lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn newest_deb(dir: &Path) -> Option<(PathBuf, u64)> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "deb"))
        .filter_map(|p| {
            let meta = fs::metadata(&p).ok()?;
            Some((p, meta.len(), meta.modified().ok()?))
        })
        .max_by_key(|(_, _, modified)| *modified)
        .map(|(p, size, _)| (p, size))
}
