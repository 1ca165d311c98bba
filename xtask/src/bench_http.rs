//! `cargo xtask bench http`: the bff-aggregation example served by `starweave-engine` versus
//! the same logic hand-written in axum + reqwest (`bench/http`), side by side in one run:
//! one local upstream, one load generator, concurrency 16 and 64. Per server and level:
//! req/s, p50, p99, CPU time per request and RSS of the server process (from `/proc`).
//! The table goes to stdout and into `BENCHMARKS.md` between the `bench-http` markers.
//!
//! Options: `--seconds N` (measured, default 10), `--warmup N` (default 2),
//! `--latency-ms N` (the upstream's fixed delay, default 0).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::{cargo, exec, root, target_dir};

const ADMIN_TOKEN: &str = "bench-admin-token-0123456789";
const JWT_SECRET: &str = "bench-jwt-secret";
const PROFILE_TOKEN: &str = "profile-token";
const ORDERS_KEY: &str = "orders-key";
const VMS: &str = "bff-aggregation";
const CONCURRENCY: [usize; 2] = [16, 64];
/// A gold customer (VIP branch) and a standard one (regular branch), in turn.
const PATHS: [&str; 2] = [
    "/bff-aggregation/users/u-1001/dashboard",
    "/bff-aggregation/users/u-1002/dashboard",
];
const START_MARKER: &str = "<!-- bench-http:start -->";
const END_MARKER: &str = "<!-- bench-http:end -->";

struct Options {
    seconds: u64,
    warmup: u64,
    latency_ms: u64,
}

fn parse_options(args: &[String]) -> Result<Options> {
    let mut options = Options {
        seconds: 10,
        warmup: 2,
        latency_ms: 0,
    };
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .with_context(|| format!("`{flag}` needs a value"))?;
        let number: u64 = value
            .parse()
            .with_context(|| format!("`{flag} {value}`: not a number"))?;
        match flag.as_str() {
            "--seconds" => options.seconds = number.max(1),
            "--warmup" => options.warmup = number,
            "--latency-ms" => options.latency_ms = number,
            other => bail!("unknown option `{other}` (--seconds, --warmup, --latency-ms)"),
        }
    }
    Ok(options)
}

/// A child process killed when dropped, so a failed run leaves nothing behind.
struct Process {
    name: &'static str,
    child: Child,
}

impl Process {
    fn start(name: &'static str, cmd: &mut Command, log: &Path) -> Result<Process> {
        eprintln!("$ {} 2> {}", crate::describe(cmd), log.display());
        let log = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("could not start {name}"))?;
        Ok(Process { name, child })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn ensure_running(&mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!("{} exited ({status}); see its log", self.name);
        }
        Ok(())
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback port (the listener is closed again before the server binds it).
fn free_port() -> Result<SocketAddr> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// A minimal HTTP/1.1 exchange over std, for the few control calls (readiness, deploy).
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let body = body.unwrap_or("");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {ADMIN_TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("not an HTTP answer from {addr}: {answer}"))?;
    let body = answer
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    Ok((status, body))
}

fn wait_for_port(process: &mut Process, addr: SocketAddr) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        process.ensure_running()?;
        if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("{} does not listen on {addr}", process.name)
}

fn json_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// utime + stime of a process, in seconds.
fn cpu_seconds(pid: u32, ticks_per_second: f64) -> Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which ends at the last ')': state is field 3, so
    // utime (14) and stime (15) are the 12th and 13th.
    let rest = stat.rsplit_once(')').context("malformed stat")?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields[11].parse::<f64>()? + fields[12].parse::<f64>()?;
    Ok(ticks / ticks_per_second)
}

fn status_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {key} for pid {pid}"))
}

fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

struct LoadResult {
    requests: u64,
    errors: u64,
    rps: f64,
    p50_us: u64,
    p99_us: u64,
}

fn parse_load(output: &str) -> Result<LoadResult> {
    let field = |key: &str| -> Result<&str> {
        output
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
            .with_context(|| format!("`load` printed no {key}: {output}"))
    };
    Ok(LoadResult {
        requests: field("requests")?.parse()?,
        errors: field("errors")?.parse()?,
        rps: field("rps")?.parse()?,
        p50_us: field("p50_us")?.parse()?,
        p99_us: field("p99_us")?.parse()?,
    })
}

fn load_command(bin: &Path, subcommand: &str) -> Command {
    let mut cmd = Command::new(bin.join("load"));
    cmd.arg(subcommand).env("DASHBOARD_JWT_SECRET", JWT_SECRET);
    for path in PATHS {
        cmd.args(["--path", path]);
    }
    cmd
}

fn run_load(
    bin: &Path,
    target: SocketAddr,
    concurrency: usize,
    seconds: u64,
) -> Result<LoadResult> {
    let mut cmd = load_command(bin, "run");
    cmd.args([
        "--target",
        &target.to_string(),
        "--concurrency",
        &concurrency.to_string(),
        "--seconds",
        &seconds.to_string(),
    ]);
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .context("could not start `load`")?;
    if !output.status.success() {
        bail!("`{}` failed ({})", crate::describe(&cmd), output.status);
    }
    parse_load(&String::from_utf8_lossy(&output.stdout))
}

struct Row {
    server: &'static str,
    concurrency: usize,
    load: LoadResult,
    cpu_us_per_request: f64,
    rss_mib: f64,
}

fn measure(
    bin: &Path,
    server: &Process,
    target: SocketAddr,
    concurrency: usize,
    options: &Options,
    ticks: f64,
) -> Result<Row> {
    if options.warmup > 0 {
        run_load(bin, target, concurrency, options.warmup)?;
    }
    let before = cpu_seconds(server.pid(), ticks)?;
    let load = run_load(bin, target, concurrency, options.seconds)?;
    let after = cpu_seconds(server.pid(), ticks)?;
    let rss_mib = status_kib(server.pid(), "VmRSS:")? as f64 / 1024.0;
    let cpu_us_per_request = (after - before) * 1e6 / load.requests.max(1) as f64;
    eprintln!(
        "xtask: {} c={concurrency}: {:.0} req/s, p50 {} µs, p99 {} µs, {:.0} µs CPU/req, {:.1} MiB, {} errors",
        server.name, load.rps, load.p50_us, load.p99_us, cpu_us_per_request, rss_mib, load.errors
    );
    Ok(Row {
        server: server.name,
        concurrency,
        load,
        cpu_us_per_request,
        rss_mib,
    })
}

fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        })
        .map_or_else(
            || "?".into(),
            |kib| format!("{:.1} GiB", kib / 1024.0 / 1024.0),
        );
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let rustc = Command::new("rustc")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    format!(
        "{model}, {cores} cores, {memory} RAM, Linux {}, {rustc}",
        kernel.trim()
    )
}

fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| server | concurrency | req/s | p50 | p99 | CPU/request | RSS | errors |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for row in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2} ms | {:.2} ms | {:.0} µs | {:.1} MiB | {} |",
            row.server,
            row.concurrency,
            row.load.rps,
            row.load.p50_us as f64 / 1000.0,
            row.load.p99_us as f64 / 1000.0,
            row.cpu_us_per_request,
            row.rss_mib,
            row.load.errors,
        );
    }
    out.push_str(
        "\n| concurrency | engine / hand-written req/s (target ≥ 80 %) | engine / hand-written p99 (target ≤ 2×) |\n\
         |---:|---:|---:|\n",
    );
    for concurrency in CONCURRENCY {
        let find = |name: &str| {
            rows.iter()
                .find(|r| r.server == name && r.concurrency == concurrency)
        };
        if let (Some(hand), Some(engine)) = (find("hand-written"), find("starweave-engine")) {
            let throughput = engine.load.rps / hand.load.rps.max(f64::MIN_POSITIVE);
            let p99 = engine.load.p99_us as f64 / hand.load.p99_us.max(1) as f64;
            let _ = writeln!(
                out,
                "| {concurrency} | {:.0} % {} | {:.2}× {} |",
                throughput * 100.0,
                if throughput >= 0.8 { "✅" } else { "❌" },
                p99,
                if p99 <= 2.0 { "✅" } else { "❌" },
            );
        }
    }
    out
}

/// Replaces the text between the markers, or appends a new section with them.
fn write_section(file: &Path, section: &str) -> Result<()> {
    let current = std::fs::read_to_string(file).unwrap_or_default();
    let block = format!("{START_MARKER}\n{section}{END_MARKER}");
    let next = match (current.find(START_MARKER), current.find(END_MARKER)) {
        (Some(start), Some(end)) if start < end => format!(
            "{}{block}{}",
            &current[..start],
            &current[end + END_MARKER.len()..]
        ),
        _ if current.is_empty() => format!("# Benchmarks\n\n{block}\n"),
        _ => format!("{}\n\n{block}\n", current.trim_end()),
    };
    std::fs::write(file, next).with_context(|| format!("writing {}", file.display()))
}

pub fn bench_http(args: &[String]) -> Result<()> {
    let options = parse_options(args)?;
    exec(cargo().args([
        "build",
        "--locked",
        "--release",
        "-p",
        "starweave-bench-http",
        "--bins",
    ]))?;
    exec(cargo().args([
        "build",
        "--locked",
        "--release",
        "-p",
        "starweave-engine",
        "--bin",
        "starweave-engine",
    ]))?;
    let bin: PathBuf = target_dir().join("release");
    let logs = target_dir().join("bench-http");
    std::fs::create_dir_all(&logs)?;
    let example = root().join("assets/examples").join(VMS);

    let upstream_addr = free_port()?;
    let upstream_url = format!("http://{upstream_addr}");
    let mut upstream = Process::start(
        "upstream",
        Command::new(bin.join("upstream")).args([
            "--listen",
            &upstream_addr.to_string(),
            "--latency-ms",
            &options.latency_ms.to_string(),
            "--profile-token",
            PROFILE_TOKEN,
            "--orders-key",
            ORDERS_KEY,
        ]),
        &logs.join("upstream.log"),
    )?;
    wait_for_port(&mut upstream, upstream_addr)?;

    let env = [
        ("PROFILE_API_URL", upstream_url.as_str()),
        ("PROFILE_API_TOKEN", PROFILE_TOKEN),
        ("ORDERS_API_URL", upstream_url.as_str()),
        ("ORDERS_API_KEY", ORDERS_KEY),
        ("DASHBOARD_JWT_SECRET", JWT_SECRET),
    ];

    // The engine as deployed: its defaults, `--load` for the example, then the env values
    // through the admin API (the example's secrets have no defaults, so `--load` alone
    // cannot serve its JWT route).
    let (engine_data, engine_admin) = (free_port()?, free_port()?);
    let mut engine = Process::start(
        "starweave-engine",
        Command::new(bin.join("starweave-engine"))
            .args(["--listen", &engine_data.to_string()])
            .args(["--admin-listen", &engine_admin.to_string()])
            .args(["--admin-token", ADMIN_TOKEN])
            .arg("--load")
            .arg(&example)
            .current_dir(root()),
        &logs.join("engine.log"),
    )?;
    wait_for_port(&mut engine, engine_admin)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(engine_admin, "GET", "/readyz", None)?.0 != 200 {
        engine.ensure_running()?;
        if Instant::now() > deadline {
            bail!("the engine is not ready after 60 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let env_json = env
        .iter()
        .map(|(k, v)| format!("{}: {}", json_string(k), json_string(v)))
        .collect::<Vec<_>>()
        .join(", ");
    let deployment = format!(
        "{{\"vms\": {}, \"version\": \"local\", \"source\": {{\"path\": {}}}, \"env\": {{{env_json}}}}}",
        json_string(VMS),
        json_string(&example.display().to_string()),
    );
    let (status, body) = http(
        engine_admin,
        "POST",
        "/admin/deployments",
        Some(&deployment),
    )?;
    if !(200..300).contains(&status) {
        bail!("deploying {VMS} with its env values failed ({status}): {body}");
    }

    let hand_addr = free_port()?;
    let mut hand = Process::start(
        "hand-written",
        Command::new(bin.join("bff-handwritten"))
            .args(["--listen", &hand_addr.to_string()])
            .envs(env),
        &logs.join("bff-handwritten.log"),
    )?;
    wait_for_port(&mut hand, hand_addr)?;

    // Both must give the same answers before their speed means anything.
    exec(load_command(&bin, "check").args([
        "--target",
        &hand_addr.to_string(),
        "--target",
        &engine_data.to_string(),
    ]))?;

    let ticks = ticks_per_second();
    let load_before = load_average();
    let mut rows = Vec::new();
    for concurrency in CONCURRENCY {
        for (server, addr) in [(&hand, hand_addr), (&engine, engine_data)] {
            rows.push(measure(&bin, server, addr, concurrency, &options, ticks)?);
        }
    }
    let load_after = load_average();
    upstream.ensure_running()?;

    let table = table(&rows);
    let date = Command::new("date")
        .arg("+%Y-%m-%d %H:%M %Z")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default();
    let section = format!(
        "## HTTP: bff-aggregation on `starweave-engine` vs hand-written axum + reqwest\n\n\
         `cargo xtask bench http` ({date}). Machine: {}. Load average (1/5/15 min) before the \
         measurements: {load_before}; after: {load_after}.\n\n\
         One local upstream (`bench/http` `upstream`, fixed JSON, {} ms latency) serves both; \
         one closed-loop generator (`load`, one keep-alive HTTP/1.1 connection per client, \
         one runtime thread) alternates a gold and a standard customer with a valid JWT, \
         {} s warm-up then {} s measured per row. The load generator and the upstream share \
         the machine's cores with the server under test. CPU/request is the server process's \
         utime + stime over the measured run divided by its requests; RSS is VmRSS after it. \
         The engine runs with its defaults (JSON request log at `info`, written to a file).\n\n\
         {table}\n",
        machine(),
        options.latency_ms,
        options.warmup,
        options.seconds,
    );
    println!("{section}");
    write_section(&root().join("BENCHMARKS.md"), &section)?;
    eprintln!("xtask: wrote the table into BENCHMARKS.md");
    drop((hand, engine, upstream));
    Ok(())
}
