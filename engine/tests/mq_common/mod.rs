//! Shared helpers of the MQ trigger tests (NATS JetStream, AMQP, Redis Streams): where the
//! brokers are, unique names, polling, and a connector that records what the functions saw.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use starweave_engine::connectors::{BoxFuture, ConnectorError, ConnectorRequest, Connectors};
use starweave_engine::server::registry::DeploymentSpec;
use starweave_engine::server::source::Source;

/// The AMQP broker URL (`STARWEAVE_TEST_AMQP`), checked reachable.
pub fn amqp_url() -> String {
    let url = std::env::var("STARWEAVE_TEST_AMQP")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    reachable("RabbitMQ", "STARWEAVE_TEST_AMQP", &url);
    url
}

/// The NATS URL (`STARWEAVE_TEST_NATS`), checked reachable.
pub fn nats_url() -> String {
    let url =
        std::env::var("STARWEAVE_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    reachable("NATS (JetStream)", "STARWEAVE_TEST_NATS", &url);
    url
}

/// The Redis URL (`STARWEAVE_TEST_REDIS`), checked reachable.
pub fn redis_url() -> String {
    let url =
        std::env::var("STARWEAVE_TEST_REDIS").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    reachable("Redis", "STARWEAVE_TEST_REDIS", &url);
    url
}

/// Fails the test with a useful message when the broker does not answer.
pub fn reachable(name: &str, env: &str, url: &str) {
    let host_port = url
        .split("://")
        .nth(1)
        .unwrap_or(url)
        .trim_end_matches('/')
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let ok = host_port
        .to_socket_addrs()
        .ok()
        .into_iter()
        .flatten()
        .any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok());
    assert!(
        ok,
        "{name} is not reachable at {host_port} ({env}={url}). Run `cargo xtask test`, which \
         starts the test services on loopback, or start {name} and point {env} at it."
    );
}

/// A unique lower-case tag for names.
pub fn unique() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..12].to_owned()
}

/// Calls `check` every 50 ms until it returns true; false after `limit`.
pub async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    check().await
}

/// Connectors recording every `sink.record` call (id, when, how many calls ran at once);
/// ids listed in `failing` fail (a technical error), calls take `delay`.
#[derive(Debug, Default)]
pub struct Recorder {
    /// (id, when, delivery count) of each call.
    pub calls: Mutex<Vec<(u64, Instant, u64)>>,
    /// (running now, most at once).
    pub running: Mutex<(usize, usize)>,
    /// Ids whose calls fail.
    pub failing: BTreeSet<u64>,
    /// How long each call takes.
    pub delay: Duration,
}

impl Recorder {
    /// The ids of the calls, in call order.
    pub fn ids(&self) -> Vec<u64> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .map(|c| c.0)
            .collect()
    }

    /// The most calls that ran at once.
    pub fn max_running(&self) -> usize {
        self.running.lock().expect("lock").1
    }
}

impl Connectors for Recorder {
    fn call<'a>(
        &'a self,
        request: ConnectorRequest<'a>,
    ) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let id = request.args["id"].as_u64().unwrap_or(u64::MAX);
            let delivered = request.args["delivered"].as_u64().unwrap_or(0);
            {
                let mut running = self.running.lock().expect("lock");
                running.0 += 1;
                running.1 = running.1.max(running.0);
            }
            self.calls
                .lock()
                .expect("lock")
                .push((id, Instant::now(), delivered));
            tokio::time::sleep(self.delay).await;
            self.running.lock().expect("lock").0 -= 1;
            if self.failing.contains(&id) {
                Err(ConnectorError {
                    code: None,
                    message: format!("message {id} is refused by the sink"),
                })
            } else {
                Ok(json!({}))
            }
        })
    }

    fn catalog(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([("sink".to_owned(), vec!["record".to_owned()])])
    }
}

/// A deployment of `dir` with these env vars.
pub fn spec(vms: &str, version: &str, dir: &Path, env: &[(&str, &str)]) -> DeploymentSpec {
    DeploymentSpec {
        vms: vms.into(),
        version: version.into(),
        source: Source::Path(dir.display().to_string()),
        env: env
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        concurrency: None,
        timeout_ms: None,
        log_level: None,
    }
}

/// A TCP forwarder on loopback between the engine and a broker, which the test can cut:
/// every connection through it is dropped at once, as when a network link fails or a broker
/// restarts, and new connections are accepted again right after.
pub struct CuttableLink {
    /// Where the engine connects.
    pub port: u16,
    cut: tokio::sync::watch::Sender<u64>,
    accepted: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl CuttableLink {
    /// Starts forwarding 127.0.0.1:<port> to `target` (`host:port`).
    pub async fn start(target: &str) -> CuttableLink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the link");
        let port = listener.local_addr().expect("addr").port();
        let (cut, _) = tokio::sync::watch::channel(0u64);
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let target = target.to_owned();
        let cuts = cut.clone();
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut cut = cuts.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        CuttableLink {
            port,
            cut,
            accepted,
        }
    }

    /// Drops every connection open through the link now.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}
