//! Faults around a running engine hosting several VMS: an upstream HTTP server going down and
//! coming back, a private NATS server restarted in the middle of a stream of messages, a
//! private PostgreSQL restarted in the middle of a load. The engine keeps serving the other
//! VMS, recovers its connections by itself, and loses no acknowledged message.
//!
//! A VMS whose function loops or panics is covered by `server_isolation.rs`
//! (`looping_and_panicking_vms_do_not_starve_a_healthy_one`) and not repeated here.
//!
//! The NATS and PostgreSQL servers restarted here are private to each test (their own port
//! and data directory under a temp dir), so the machine's shared servers are never disturbed.
//! They need `nats-server` and PostgreSQL's server binaries (`initdb`, `pg_ctl`), which
//! `cargo xtask test` installs (apt packages `nats-server`, `postgresql`).

mod server_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server_common::{greeter, start_engine, write_vms};
use starweave_engine::connectors::{BoxFuture, ConnectorError, ConnectorRequest, Connectors};
use starweave_engine::server::registry::{DeploymentSpec, EngineOptions};
use starweave_engine::server::source::Source;

/// Finds a server binary on PATH or where Debian puts it; fails the test saying what to install.
fn binary(name: &str, package: &str) -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/usr/local/sbin", "/sbin"].map(PathBuf::from));
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
            .collect();
        versions.sort();
        dirs.extend(versions.into_iter().rev());
    }
    dirs.into_iter()
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{name}` is not installed: install the Debian package `{package}` \
                 (`cargo xtask test` does) to run the fault tests"
            )
        })
}

/// A free loopback port (bound, then released for the server to take).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port()
}

fn listening(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
}

async fn wait_listening(port: u16, what: &str) {
    let started = Instant::now();
    while !listening(port) {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{what} does not listen on port {port}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Calls `check` every 50 ms until it returns true; false after `limit`.
async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check().await
}

// ---------------------------------------------------------------------------------------
// (a) An upstream HTTP server down and back
// ---------------------------------------------------------------------------------------

/// Serves `GET /items/{id}` on `listener` until `stop` fires, then closes every connection.
fn start_upstream(
    listener: tokio::net::TcpListener,
) -> (
    tokio::sync::oneshot::Sender<()>,
    tokio::task::JoinHandle<()>,
) {
    let app = axum::Router::new().route(
        "/items/{id}",
        axum::routing::get(
            |axum::extract::Path(id): axum::extract::Path<u64>| async move {
                axum::Json(json!({"id": id, "name": format!("item {id}")}))
            },
        ),
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    (stop, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_down_fails_only_its_route_and_recovers_when_it_returns() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind upstream");
    let upstream = listener.local_addr().expect("addr");
    let (stop, task) = start_upstream(listener);

    let catalog = write_vms(
        root.path(),
        "catalog",
        &[
            ("vms.yaml", "name: catalog\n"),
            (
                "connectors/items.yaml",
                "kind: http\nbase_url: \"{{ env.ITEMS_URL }}\"\ntimeout_ms: 2000\nretry: { max_attempts: 2, backoff: { initial_ms: 50 } }\nmethods:\n- name: get_item\n  method: GET\n  path: /items/{{ input.id }}\n",
            ),
            (
                "functions/item.rhai",
                "fn main(input, ctx) {\n  ctx.connectors.items.get_item(#{ id: input.id })\n}\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: item\n  method: GET\n  path: /items/{id}\n  error_statuses:\n    SCRIPT_ERROR: 502\n",
            ),
        ],
    );
    let (status, body) = engine
        .deploy(
            "catalog",
            "1",
            &catalog,
            json!({"env": {"ITEMS_URL": format!("http://{upstream}")}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let hello = greeter(root.path(), "greeter", "v1");
    assert_eq!(
        engine.deploy("greeter", "v1", &hello, json!({})).await.0,
        201
    );

    let (status, body) = engine.get("/catalog/items/7").await;
    assert_eq!((status, &body["name"]), (200, &json!("item 7")), "{body}");

    // The upstream goes away: its route answers 502 (mapped), the other VMS is untouched.
    let _ = stop.send(());
    task.await.expect("upstream stopped");
    let started = Instant::now();
    let (status, body) = engine.get("/catalog/items/7").await;
    let failed_in = started.elapsed();
    assert_eq!(status, 502, "{body}");
    // A connector call that fails inside a Rhai function fails the script: SCRIPT_ERROR,
    // mapped to 502 by the route.
    assert_eq!(body["error"], "SCRIPT_ERROR", "{body}");
    assert!(
        !body.to_string().contains("127.0.0.1"),
        "no internal detail in the answer: {body}"
    );
    for _ in 0..20 {
        let (status, body) = engine.get("/greeter/hello/ann").await;
        assert_eq!((status, &body["message"]), (200, &json!("hello ann")));
    }

    // It comes back on the same address: the route recovers without any action.
    let listener = tokio::net::TcpListener::bind(upstream)
        .await
        .expect("rebind upstream");
    let (stop, task) = start_upstream(listener);
    let mut last = (0, Value::Null);
    assert!(
        eventually(Duration::from_secs(10), async || {
            last = engine.get("/catalog/items/8").await;
            last.0 == 200
        })
        .await,
        "the route did not recover: {last:?}"
    );
    assert_eq!(last.1["name"], "item 8");
    println!(
        "upstream down: the route answered 502 in {:.1} ms (2 attempts)",
        failed_in.as_secs_f64() * 1000.0
    );
    let _ = stop.send(());
    let _ = task.await;
}

// ---------------------------------------------------------------------------------------
// (c) A NATS server restarted in the middle of a stream of messages
// ---------------------------------------------------------------------------------------

/// A private `nats-server` with JetStream, its store in `dir`.
struct Nats {
    binary: PathBuf,
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Nats {
    async fn start(dir: &Path) -> Nats {
        let mut nats = Nats {
            binary: binary("nats-server", "nats-server"),
            port: free_port(),
            dir: dir.to_owned(),
            child: None,
        };
        nats.spawn().await;
        nats
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    async fn spawn(&mut self) {
        let child = Command::new(&self.binary)
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(&self.dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        wait_listening(self.port, "nats-server").await;
    }

    /// Stops the server (SIGTERM, as a service manager would) and waits for it to exit.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            let waited = tokio::task::spawn_blocking(move || child.wait())
                .await
                .expect("join");
            waited.expect("nats-server exits");
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Connectors recording the ids passed to `sink.record`.
#[derive(Debug, Default)]
struct Recorder {
    ids: Mutex<Vec<u64>>,
}

impl Connectors for Recorder {
    fn call<'a>(
        &'a self,
        request: ConnectorRequest<'a>,
    ) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let id = request.args["id"].as_u64().unwrap_or(u64::MAX);
            // A little work per message, so the restart lands while messages are in hand.
            tokio::time::sleep(Duration::from_millis(2)).await;
            self.ids.lock().expect("lock").push(id);
            Ok(json!({}))
        })
    }

    fn catalog(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([("sink".to_owned(), vec!["record".to_owned()])])
    }
}

/// Publishes one message until the server acknowledges it; the message id makes retries of a
/// publish whose acknowledgement was lost land only once.
async fn publish_until_acked(js: &async_nats::jetstream::Context, subject: &str, id: u32) -> u32 {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", id.to_string().as_str());
        let body = serde_json::to_vec(&json!({ "id": id })).expect("json");
        let sent = tokio::time::timeout(Duration::from_secs(2), async {
            js.publish_with_headers(subject.to_owned(), headers, body.into())
                .await?
                .await
                .map_err(async_nats::Error::from)
        })
        .await;
        if matches!(sent, Ok(Ok(_))) {
            return attempts;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nats_restart_mid_stream_loses_no_acknowledged_message() {
    let root = tempfile::tempdir().expect("tempdir");
    let mut nats = Nats::start(&root.path().join("nats")).await;
    let engine = start_engine(EngineOptions::default()).await;
    let dir = write_vms(
        root.path(),
        "consumer",
        &[
            ("vms.yaml", "name: consumer\n"),
            (
                "connectors/events.yaml",
                "kind: mq\nbroker: nats\nurl_env: NATS_URL\nstream: FAULTS\n",
            ),
            (
                "connectors/sink.yaml",
                "kind: cache\nurl_env: REDIS_URL\nmethods:\n- { name: record, op: incr, key: unused }\n",
            ),
            (
                "functions/handle.rhai",
                "fn main(input, ctx) {\n  ctx.connectors.sink.record(#{ id: input.id });\n  #{}\n}\n",
            ),
            (
                "triggers.yaml",
                "- kind: mq\n  function: handle\n  connector: events\n  subject: faults.events\n  create_stream: true\n  backoff: { initial_ms: 100 }\n",
            ),
        ],
    );
    let recorder = Arc::new(Recorder::default());
    let env: BTreeMap<String, String> = [
        ("NATS_URL".to_owned(), nats.url()),
        ("REDIS_URL".to_owned(), "redis://127.0.0.1:1/".to_owned()),
    ]
    .into();
    engine
        .server
        .registry
        .deploy(
            DeploymentSpec {
                vms: "consumer".into(),
                version: "1".into(),
                source: Source::Path(dir.display().to_string()),
                env,
                concurrency: None,
                timeout_ms: None,
                log_level: None,
            },
            Some(recorder.clone()),
        )
        .await
        .expect("deploy");
    // Another VMS on the same engine keeps serving HTTP throughout.
    let hello = greeter(root.path(), "greeter", "v1");
    assert_eq!(
        engine.deploy("greeter", "v1", &hello, json!({})).await.0,
        201
    );

    let client = async_nats::connect(nats.url()).await.expect("connect");
    let js = async_nats::jetstream::new(client);
    assert!(
        eventually(Duration::from_secs(10), async || js
            .get_stream("FAULTS")
            .await
            .is_ok())
        .await,
        "the trigger did not create its stream"
    );

    const TOTAL: u32 = 600;
    let acked = Arc::new(Mutex::new(BTreeSet::new()));
    let retried = Arc::new(AtomicU64::new(0));
    let publisher = {
        let (js, acked, retried) = (js.clone(), acked.clone(), retried.clone());
        tokio::spawn(async move {
            for id in 0..TOTAL {
                let attempts = publish_until_acked(&js, "faults.events", id).await;
                retried.fetch_add(u64::from(attempts - 1), Ordering::Relaxed);
                acked.lock().expect("lock").insert(u64::from(id));
                if id % 20 == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        })
    };
    let stop_http = Arc::new(AtomicBool::new(false));
    let http_failures = Arc::new(AtomicU64::new(0));
    let http_load = {
        let (client, url) = (engine.client.clone(), engine.url("/greeter/hello/ann"));
        let (stop, failures) = (stop_http.clone(), http_failures.clone());
        tokio::spawn(async move {
            let mut served = 0u64;
            while !stop.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => served += 1,
                    _ => {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            served
        })
    };

    // Restart NATS once part of the stream went through.
    assert!(
        eventually(Duration::from_secs(30), async || recorder
            .ids
            .lock()
            .expect("lock")
            .len()
            >= 150)
        .await,
        "messages did not flow before the restart"
    );
    let handled_before = recorder.ids.lock().expect("lock").len();
    nats.stop().await;
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    nats.spawn().await;
    let downtime = down.elapsed();
    let restarted = Instant::now();
    publisher.await.expect("publisher");

    let acked: BTreeSet<u64> = acked.lock().expect("lock").clone();
    assert_eq!(acked.len(), TOTAL as usize);
    let all_handled = eventually(Duration::from_secs(60), async || {
        let seen: BTreeSet<u64> = recorder.ids.lock().expect("lock").iter().copied().collect();
        acked.is_subset(&seen)
    })
    .await;
    let ids = recorder.ids.lock().expect("lock").clone();
    let seen: BTreeSet<u64> = ids.iter().copied().collect();
    let lost: Vec<&u64> = acked.difference(&seen).collect();
    assert!(
        all_handled,
        "{} acknowledged messages were never handled: {lost:?}",
        lost.len()
    );
    let recovered_in = restarted.elapsed();
    stop_http.store(true, Ordering::Relaxed);
    let served = http_load.await.expect("http load");
    assert_eq!(http_failures.load(Ordering::Relaxed), 0);
    assert!(served > 0);
    println!(
        "NATS restart: {TOTAL} messages acknowledged by the server, {} handled before the restart, \
         all {} handled ({} handled twice: at-least-once), NATS down {:.1} s, all handled {:.1} s \
         after it came back, {} publishes retried; greeter served {served} requests meanwhile",
        handled_before,
        seen.len(),
        ids.len() - seen.len(),
        downtime.as_secs_f64(),
        recovered_in.as_secs_f64(),
        retried.load(Ordering::Relaxed)
    );
    engine.server.registry.undeploy("consumer", "1").await;
    nats.stop().await;
}

// ---------------------------------------------------------------------------------------
// (d) PostgreSQL restarted in the middle of a load
// ---------------------------------------------------------------------------------------

/// A private PostgreSQL cluster in `dir`, run as the `postgres` user when the test is root.
struct Postgres {
    pg_ctl: PathBuf,
    data: PathBuf,
    port: u16,
    running: bool,
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn as_server_user(program: &Path) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command, what: &str) {
    let output = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        output.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

impl Postgres {
    fn start(dir: &Path) -> Postgres {
        let initdb = binary("initdb", "postgresql");
        let pg_ctl = binary("pg_ctl", "postgresql");
        std::fs::create_dir_all(dir).expect("mkdir");
        if is_root() {
            // The server user must own (and reach) its directory.
            let mut parent = dir.parent();
            while let Some(p) = parent {
                if p == Path::new("/tmp") || p == Path::new("/") {
                    break;
                }
                run(Command::new("chmod").arg("a+x").arg(p), "chmod");
                parent = p.parent();
            }
            run(
                Command::new("chown")
                    .args(["-R", "postgres:postgres"])
                    .arg(dir),
                "chown",
            );
        }
        let data = dir.join("data");
        run(
            as_server_user(&initdb).arg("-D").arg(&data).args([
                "--auth=trust",
                "-U",
                "postgres",
                "-E",
                "UTF8",
            ]),
            "initdb",
        );
        let mut postgres = Postgres {
            pg_ctl,
            data,
            port: free_port(),
            running: false,
        };
        postgres.up();
        postgres
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn up(&mut self) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {}",
            self.port,
            self.data.display()
        );
        run(
            as_server_user(&self.pg_ctl)
                .arg("-D")
                .arg(&self.data)
                .arg("-l")
                .arg(self.data.join("server.log"))
                .args(["-o", &options, "-w", "start"]),
            "pg_ctl start",
        );
        self.running = true;
    }

    fn down(&mut self) {
        run(
            as_server_user(&self.pg_ctl)
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "fast", "-w", "stop"]),
            "pg_ctl stop",
        );
        self.running = false;
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        if self.running {
            let _ = as_server_user(&self.pg_ctl)
                .arg("-D")
                .arg(&self.data)
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_restart_mid_load_recovers_and_keeps_every_acknowledged_write() {
    let root = tempfile::tempdir().expect("tempdir");
    let pg_dir = root.path().join("pg");
    let postgres = {
        let dir = pg_dir.clone();
        tokio::task::spawn_blocking(move || Postgres::start(&dir))
            .await
            .expect("start postgres")
    };
    let postgres = Arc::new(Mutex::new(postgres));
    let url = postgres.lock().expect("lock").url();
    {
        let pool = sqlx::PgPool::connect(&url).await.expect("connect");
        sqlx::query("CREATE TABLE hits (n BIGINT PRIMARY KEY)")
            .execute(&pool)
            .await
            .expect("create table");
        pool.close().await;
    }

    let engine = start_engine(EngineOptions::default()).await;
    let dir = write_vms(
        root.path(),
        "ledger",
        &[
            ("vms.yaml", "name: ledger\n"),
            (
                "connectors/db.yaml",
                "kind: database\ndriver: postgres\nurl_env: DB_URL\npool_size: 4\ntimeout_ms: 2000\nmethods:\n- name: add\n  sql: \"INSERT INTO hits (n) VALUES (#{n})\"\n  returns: affected\n",
            ),
            (
                "functions/hit.rhai",
                "fn main(input, ctx) {\n  ctx.connectors.db.add(#{ n: input.n });\n  #{ n: input.n }\n}\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: hit\n  method: POST\n  path: /hits/{n}\n  error_statuses:\n    CONNECTOR_ERROR: 503\n",
            ),
        ],
    );
    let (status, body) = engine
        .deploy("ledger", "1", &dir, json!({"env": {"DB_URL": url}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let hello = greeter(root.path(), "greeter", "v1");
    assert_eq!(
        engine.deploy("greeter", "v1", &hello, json!({})).await.0,
        201
    );

    // Four writers insert increasing numbers; each remembers which inserts answered 200.
    let next = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for _ in 0..4 {
        let (client, base) = (engine.client.clone(), engine.url("/ledger/hits/"));
        let (next, stop) = (next.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let (mut ok, mut failed) = (Vec::new(), 0u64);
            while !stop.load(Ordering::Relaxed) {
                let n = next.fetch_add(1, Ordering::Relaxed);
                match client.post(format!("{base}{n}")).send().await {
                    Ok(r) if r.status() == 200 => ok.push(n),
                    _ => failed += 1,
                }
            }
            (ok, failed)
        }));
    }
    let greeter_ok = Arc::new(AtomicU64::new(0));
    let greeter_failed = Arc::new(AtomicU64::new(0));
    let greeter_load = {
        let (client, url) = (engine.client.clone(), engine.url("/greeter/hello/ann"));
        let (stop, ok, failed) = (stop.clone(), greeter_ok.clone(), greeter_failed.clone());
        tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client.get(&url).send().await {
                    Ok(r) if r.status() == 200 => ok.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        })
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    let before_restart = next.load(Ordering::Relaxed);
    let down = Instant::now();
    {
        let postgres = postgres.clone();
        tokio::task::spawn_blocking(move || {
            let mut pg = postgres.lock().expect("lock");
            pg.down();
            std::thread::sleep(Duration::from_millis(1000));
            pg.up();
        })
        .await
        .expect("restart");
    }
    let downtime = down.elapsed();
    // After the restart, writes succeed again without any action on the engine.
    let restarted = Instant::now();
    let recovered = eventually(Duration::from_secs(20), async || {
        engine
            .client
            .post(engine.url(&format!(
                "/ledger/hits/{}",
                10_000_000 + restarted.elapsed().as_millis()
            )))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;
    let recovered_in = restarted.elapsed();
    assert!(recovered, "writes did not recover after the restart");
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.store(true, Ordering::Relaxed);
    let mut acknowledged = BTreeSet::new();
    let mut failed = 0;
    for writer in writers {
        let (ok, f) = writer.await.expect("writer");
        acknowledged.extend(ok);
        failed += f;
    }
    greeter_load.await.expect("greeter");
    assert_eq!(
        greeter_failed.load(Ordering::Relaxed),
        0,
        "the other VMS failed"
    );

    let pool = sqlx::PgPool::connect(&url).await.expect("connect");
    let rows: Vec<i64> = sqlx::query_scalar("SELECT n FROM hits WHERE n < 10000000")
        .fetch_all(&pool)
        .await
        .expect("select");
    let stored: BTreeSet<u64> = rows.into_iter().map(|n| n as u64).collect();
    let lost: Vec<&u64> = acknowledged.difference(&stored).collect();
    assert!(lost.is_empty(), "acknowledged writes missing: {lost:?}");
    assert!(
        acknowledged.iter().any(|n| *n > before_restart),
        "no write succeeded after the restart"
    );
    pool.close().await;
    println!(
        "PostgreSQL restart: {} writes acknowledged and stored, {failed} refused while it was \
         down ({:.1} s), writes succeeded again {:.0} ms after it came back; greeter answered \
         {} requests meanwhile, none failed",
        acknowledged.len(),
        downtime.as_secs_f64(),
        recovered_in.as_secs_f64() * 1000.0,
        greeter_ok.load(Ordering::Relaxed)
    );
}
