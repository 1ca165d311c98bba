//! The servers the integration tests talk to: PostgreSQL, MariaDB, Redis, NATS with
//! JetStream and RabbitMQ, all on loopback.
//!
//! For each one, [`ensure_services`] installs the server's Debian package if its binary is
//! missing (`apt-get update` once, then `apt-get install -y …`; with `sudo` when not root; the
//! Redis, NATS and MariaDB tests also start private servers of their own), then checks its
//! port. When something listens, it is used as is. Otherwise the server is started on
//! 127.0.0.1 with a throw-away data directory under `$HOME/.cache/starweave-services/`:
//!
//! | service | port | how it starts | what the tests expect |
//! |---|---|---|---|
//! | PostgreSQL | 5432 | `initdb --auth=trust -U postgres` + `pg_ctl start` (as `postgres` when run as root) | database `test`, role `postgres` trusted |
//! | MariaDB | 3306 | `mariadb-install-db` + `mariadbd --user=root` | `root` without password, database `test` |
//! | Redis | 6379 | `redis-server --daemonize yes` | — |
//! | NATS | 4222 | `nats-server -js -sd <dir>` in the background | JetStream enabled |
//! | RabbitMQ | 5672 | `rabbitmq-server -detached` with its node, data and logs under `<dir>` | `guest`/`guest` (loopback only) |
//!
//! The tests read the addresses from `STARWEAVE_TEST_PG`, `STARWEAVE_TEST_MYSQL`,
//! `STARWEAVE_TEST_REDIS`, `STARWEAVE_TEST_NATS` and `STARWEAVE_TEST_AMQP` (loopback defaults), and fail — never
//! skip — when a server is unreachable.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};
use std::{env, fs};

use anyhow::{Context, Result, bail};

/// One test service.
struct Service {
    name: &'static str,
    port: u16,
    /// The binary whose absence means the package must be installed.
    binary: &'static str,
    package: &'static str,
    start: fn(&Path) -> Result<()>,
}

const SERVICES: [Service; 5] = [
    Service {
        name: "PostgreSQL",
        port: 5432,
        binary: "initdb",
        package: "postgresql",
        start: start_postgres,
    },
    Service {
        name: "MariaDB",
        port: 3306,
        binary: "mariadbd",
        package: "mariadb-server",
        start: start_mariadb,
    },
    Service {
        name: "Redis",
        port: 6379,
        binary: "redis-server",
        package: "redis-server",
        start: start_redis,
    },
    Service {
        name: "NATS",
        port: 4222,
        binary: "nats-server",
        package: "nats-server",
        start: start_nats,
    },
    Service {
        name: "RabbitMQ",
        port: 5672,
        binary: "rabbitmq-server",
        package: "rabbitmq-server",
        start: start_rabbitmq,
    },
];

/// Makes sure every test service listens on loopback, installing and starting what is missing.
pub fn ensure_services() -> Result<()> {
    let base = cache_dir()?;
    let mut apt_updated = false;
    for service in &SERVICES {
        // Installed even when another copy already listens: the Redis, NATS and MariaDB
        // tests also start private servers of their own (restarts, TLS configurations).
        if find_binary(service.binary).is_none() {
            if !apt_updated {
                run(privileged("apt-get").arg("update"))?;
                apt_updated = true;
            }
            run(privileged("apt-get")
                .args(["install", "-y", service.package])
                .env("DEBIAN_FRONTEND", "noninteractive"))?;
        }
        if listening(service.port) {
            eprintln!(
                "xtask: {} is up on 127.0.0.1:{}",
                service.name, service.port
            );
            continue;
        }
        let dir = base.join(service.name.to_ascii_lowercase());
        // Throw-away data: a previous run's directory is not trusted.
        if dir.exists() {
            fs::remove_dir_all(&dir).with_context(|| format!("removing {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        eprintln!(
            "xtask: starting {} on 127.0.0.1:{} (data in {})",
            service.name,
            service.port,
            dir.display()
        );
        (service.start)(&dir).with_context(|| format!("starting {}", service.name))?;
        wait_for(service)?;
    }
    Ok(())
}

fn cache_dir() -> Result<PathBuf> {
    let home = env::var_os("HOME").context("HOME is not set")?;
    Ok(PathBuf::from(home).join(".cache/starweave-services"))
}

fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

fn wait_for(service: &Service) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if listening(service.port) {
            eprintln!(
                "xtask: {} is up on 127.0.0.1:{}",
                service.name, service.port
            );
            return Ok(());
        }
        sleep(Duration::from_millis(250));
    }
    bail!(
        "{} did not start listening on 127.0.0.1:{} within 60 s",
        service.name,
        service.port
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout.starts_with(b"0"))
        .unwrap_or(false)
}

/// `program` run as root: directly when we are root, else through `sudo -n`.
fn privileged(program: &str) -> Command {
    if is_root() {
        Command::new(program)
    } else {
        let mut cmd = Command::new("sudo");
        cmd.args(["-n", program]);
        cmd
    }
}

fn run(cmd: &mut Command) -> Result<()> {
    eprintln!("$ {}", crate::describe(cmd));
    let status = cmd
        .status()
        .with_context(|| format!("could not start `{}`", crate::describe(cmd)))?;
    if !status.success() {
        bail!("`{}` failed ({status})", crate::describe(cmd));
    }
    Ok(())
}

/// Starts a long-running server detached, its output in `log`.
fn spawn(cmd: &mut Command, log: &Path) -> Result<()> {
    eprintln!("$ {} &", crate::describe(cmd));
    let out = fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
    let err = out.try_clone()?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    cmd.spawn()
        .with_context(|| format!("could not start `{}`", crate::describe(cmd)))?;
    Ok(())
}

/// The binary on PATH, or in the usual places Debian puts server binaries.
fn find_binary(name: &str) -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    // PostgreSQL's server binaries live in /usr/lib/postgresql/<version>/bin.
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    dirs.into_iter().map(|d| d.join(name)).find(|p| p.is_file())
}

fn binary(name: &str) -> Result<PathBuf> {
    find_binary(name).with_context(|| format!("`{name}` is not installed"))
}

fn start_postgres(dir: &Path) -> Result<()> {
    let initdb = binary("initdb")?;
    let pg_ctl = binary("pg_ctl")?;
    let data = dir.join("data");
    let log = dir.join("postgres.log");
    let options = format!("-c listen_addresses=127.0.0.1 -p 5432 -k {}", dir.display());
    // PostgreSQL refuses to run as root: as root, run it as the `postgres` user.
    let as_server_user = |program: &Path| -> Command {
        if is_root() {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(program);
            cmd
        } else {
            Command::new(program)
        }
    };
    if is_root() {
        run(Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(dir))?;
    }
    run(as_server_user(&initdb).arg("-D").arg(&data).args([
        "--auth=trust",
        "-U",
        "postgres",
        "-E",
        "UTF8",
    ]))?;
    run(as_server_user(&pg_ctl)
        .arg("-D")
        .arg(&data)
        .arg("-l")
        .arg(&log)
        .args(["-o", &options, "-w", "start"]))?;
    let psql = binary("psql")?;
    run(Command::new(psql).args([
        "-h",
        "127.0.0.1",
        "-U",
        "postgres",
        "-c",
        "CREATE DATABASE test",
    ]))
}

fn start_mariadb(dir: &Path) -> Result<()> {
    let data = dir.join("data");
    let socket = dir.join("mariadb.sock");
    // --no-defaults first: the distribution's my.cnf would make it run as `mysql`.
    run(Command::new(binary("mariadb-install-db")?)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", data.display()))
        .args([
            "--user=root",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]))?;
    spawn(
        Command::new(binary("mariadbd")?)
            .args([
                "--no-defaults",
                "--user=root",
                "--bind-address=127.0.0.1",
                "--port=3306",
            ])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--socket={}", socket.display())),
        &dir.join("mariadb.log"),
    )?;
    wait_for(&SERVICES[1])?;
    run(Command::new(binary("mariadb")?).args([
        "-h",
        "127.0.0.1",
        "-P",
        "3306",
        "-u",
        "root",
        "-e",
        "CREATE DATABASE IF NOT EXISTS test",
    ]))
}

fn start_redis(dir: &Path) -> Result<()> {
    run(Command::new(binary("redis-server")?)
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "6379",
            "--daemonize",
            "yes",
            "--save",
            "",
        ])
        .arg("--dir")
        .arg(dir)
        .arg("--logfile")
        .arg(dir.join("redis.log")))
}

fn start_nats(dir: &Path) -> Result<()> {
    spawn(
        Command::new(binary("nats-server")?)
            .args(["-a", "127.0.0.1", "-p", "4222", "-js", "-sd"])
            .arg(dir.join("jetstream")),
        &dir.join("nats.log"),
    )
}

fn start_rabbitmq(dir: &Path) -> Result<()> {
    // Debian's wrapper runs the broker as `rabbitmq` when started as root.
    if is_root() {
        run(Command::new("chown")
            .args(["-R", "rabbitmq:rabbitmq"])
            .arg(dir))?;
    }
    run(Command::new(binary("rabbitmq-server")?)
        .arg("-detached")
        .env("RABBITMQ_NODENAME", "starweave-test@localhost")
        .env("RABBITMQ_NODE_IP_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_NODE_PORT", "5672")
        .env("ERL_EPMD_ADDRESS", "127.0.0.1")
        .env("RABBITMQ_MNESIA_BASE", dir.join("mnesia"))
        .env("RABBITMQ_LOG_BASE", dir.join("log")))
}
