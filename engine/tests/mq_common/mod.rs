//! Shared helpers of the MQ trigger tests (NATS JetStream, AMQP, Redis Streams): where the
//! brokers are, unique names, polling; the two test VMS, one reporting each call to a
//! [`Recorder`] ([`start_recorder`]) and one counting in Redis what it handled
//! ([`CounterVms`], read through [`SeenCounters`]); the checks the brokers' tests share
//! (retries, dead letters, the concurrency bound, outcome counts); and the scenarios every
//! broker runs on the counting VMS: [`ExactlyOnce`] and [`HotSwap`]. A test file describes
//! its broker as an [`Mq`] (connector YAML and env vars); what differs between brokers
//! (triggers, publishing, reading dead letters, their own bookkeeping) stays in its file.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{TcpStream, ToSocketAddrs};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use serde_json::{Value, json};
use starweave_engine::connectors::{BoxFuture, ConnectorError, ConnectorRequest, Connectors};
use starweave_engine::server::registry::{DeploymentSpec, EngineOptions};
use starweave_engine::server::source::Source;

use crate::server_common::{TestEngine, start_engine, write_vms};

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

/// The `host:port` of a broker URL (`scheme://user:password@host:port/path`).
pub fn host_port(url: &str) -> String {
    url.split("://")
        .nth(1)
        .unwrap_or(url)
        .trim_end_matches('/')
        .rsplit('@')
        .next()
        .unwrap_or_default()
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Fails the test with a useful message when the broker does not answer.
pub fn reachable(name: &str, env: &str, url: &str) {
    let host_port = host_port(url);
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
    /// A recorder whose calls for these ids fail.
    pub fn failing_on(ids: impl IntoIterator<Item = u64>) -> Arc<Recorder> {
        Arc::new(Recorder {
            failing: ids.into_iter().collect(),
            ..Recorder::default()
        })
    }

    /// A recorder whose calls each take `delay`.
    pub fn taking(delay: Duration) -> Arc<Recorder> {
        Arc::new(Recorder {
            delay,
            ..Recorder::default()
        })
    }

    /// The ids of the calls, in call order.
    pub fn ids(&self) -> Vec<u64> {
        self.calls
            .lock()
            .expect("lock")
            .iter()
            .map(|c| c.0)
            .collect()
    }

    /// The ids of the calls, sorted.
    pub fn sorted_ids(&self) -> Vec<u64> {
        let mut ids = self.ids();
        ids.sort_unstable();
        ids
    }

    /// The ids of the calls for other messages than `id`, sorted.
    pub fn sorted_ids_except(&self, id: u64) -> Vec<u64> {
        let mut ids = self.sorted_ids();
        ids.retain(|other| *other != id);
        ids
    }

    /// The delivery counts the function saw in the calls for message `id`, in call order,
    /// and the waits between those calls in milliseconds.
    pub fn deliveries_of(&self, id: u64) -> (Vec<u64>, Vec<u128>) {
        let calls = self.calls.lock().expect("lock").clone();
        let calls: Vec<_> = calls.iter().filter(|c| c.0 == id).collect();
        let counts = calls.iter().map(|c| c.2).collect();
        let waits = calls
            .windows(2)
            .map(|w| w[1].1.duration_since(w[0].1).as_millis())
            .collect();
        (counts, waits)
    }

    /// Waits up to `limit` for `count` calls; whether they came.
    pub async fn wait_calls(&self, count: usize, limit: Duration) -> bool {
        eventually(limit, async || self.ids().len() >= count).await
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

/// A broker as the test VMS see it: their MQ connector (`connectors/events.yaml`) and the
/// env vars it reads. Each test file says how its broker looks; the helpers below take it.
pub struct Mq {
    /// `connectors/events.yaml`.
    pub events: String,
    /// The env vars of a deployment (the broker's URL).
    pub env: Vec<(&'static str, String)>,
}

impl Mq {
    /// A broker reached through this connector and these env vars.
    pub fn new(events: impl Into<String>, env: &[(&'static str, &str)]) -> Mq {
        Mq {
            events: events.into(),
            env: env
                .iter()
                .map(|(name, value)| (*name, (*value).to_owned()))
                .collect(),
        }
    }

    /// The env vars, borrowed.
    fn vars(&self) -> Vec<(&str, &str)> {
        self.env
            .iter()
            .map(|(name, value)| (*name, value.as_str()))
            .collect()
    }
}

/// Writes a VMS `consumer` whose `handle` function passes `id` and the delivery count to
/// `sink.record`, with the connector of `mq` and these `triggers` (`triggers.yaml`, which
/// need `metadata_field: meta` for the delivery count); starts an engine and deploys the VMS
/// as version `1` (straight through the registry) with the env vars of `mq`, `recorder`
/// standing in for its connectors: each call is recorded, and the `REDIS_URL` of `sink` is
/// never used (a dead address when `mq` has none). Returns the engine and the folder of the
/// VMS, to keep until the end of the test.
pub async fn start_recorder(
    mq: &Mq,
    triggers: &str,
    recorder: &Arc<Recorder>,
) -> (TestEngine, tempfile::TempDir) {
    start_recorder_with(mq, triggers, recorder, EngineOptions::default()).await
}

/// [`start_recorder`] on an engine with these options.
pub async fn start_recorder_with(
    mq: &Mq,
    triggers: &str,
    recorder: &Arc<Recorder>,
    options: EngineOptions,
) -> (TestEngine, tempfile::TempDir) {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = write_recorder_vms(root.path(), "consumer", mq, triggers);
    let env = recorder_env(mq);
    let engine = start_engine(options).await;
    engine
        .server
        .registry
        .deploy(spec("consumer", "1", &dir, &env), Some(recorder.clone()))
        .await
        .expect("deploy");
    (engine, root)
}

/// Writes the VMS `consumer` of [`start_recorder`] into `root/<dir_name>`, with the connector
/// of `mq` and these `triggers`; returns its folder.
pub fn write_recorder_vms(root: &Path, dir_name: &str, mq: &Mq, triggers: &str) -> PathBuf {
    write_vms(
        root,
        dir_name,
        &[
            ("vms.yaml", "name: consumer\n"),
            ("connectors/events.yaml", &mq.events),
            (
                "connectors/sink.yaml",
                "kind: cache\nurl_env: REDIS_URL\nmethods:\n- { name: record, op: incr, key: unused }\n",
            ),
            (
                "functions/handle.rhai",
                "fn main(input, ctx) {\n  ctx.connectors.sink.record(#{ id: input.id, delivered: input.meta.delivered });\n  #{}\n}\n",
            ),
            ("triggers.yaml", triggers),
        ],
    )
}

/// The env vars of a deployment of the VMS of [`start_recorder`]: those of `mq`, and a dead
/// `REDIS_URL` for `sink` when `mq` has none.
pub fn recorder_env(mq: &Mq) -> Vec<(&str, &str)> {
    let mut env = mq.vars();
    if !env.iter().any(|(name, _)| *name == "REDIS_URL") {
        env.push(("REDIS_URL", "redis://127.0.0.1:1/"));
    }
    env
}

/// Checks how the failing message `id` was retried: the function saw it delivered 1, 2, …
/// `floors.len() + 1` times, and each wait between two deliveries was at least its floor in
/// `floors` (ms). Prints the waits (`noun` names the message) and returns them.
pub fn assert_retried(recorder: &Recorder, id: u64, floors: &[u128], noun: &str) -> Vec<u128> {
    let (deliveries, gaps) = recorder.deliveries_of(id);
    let expected: Vec<u64> = (1..=floors.len() as u64 + 1).collect();
    assert_eq!(deliveries, expected, "delivery counts seen by the function");
    for (gap, floor) in gaps.iter().zip(floors) {
        assert!(gap >= floor, "waits between deliveries {gaps:?}");
    }
    println!("waits between the deliveries of a failing {noun}: {gaps:?} ms");
    gaps
}

/// Checks the two dead letters of the retry tests, whatever the broker: `refused`, message 7
/// (`{"id": 7}`) that the sink refused `deliveries` times, and `shapeless`, the payload
/// `[1, 2]` (no JSON object), dead-lettered at once. `payload` reads a letter's payload and
/// `header` one of its headers (empty when absent).
pub fn assert_dead_letters<L>(
    refused: &L,
    shapeless: &L,
    deliveries: &str,
    payload: impl Fn(&L) -> Vec<u8>,
    header: impl Fn(&L, &str) -> String,
) {
    assert_eq!(
        serde_json::from_slice::<Value>(&payload(refused)).expect("json"),
        json!({"id": 7})
    );
    assert_eq!(header(refused, "Starweave-Deliveries"), deliveries);
    assert_eq!(header(refused, "Starweave-Function"), "handle");
    assert!(
        header(refused, "Starweave-Error").contains("refused by the sink"),
        "{}",
        header(refused, "Starweave-Error")
    );
    assert_eq!(payload(shapeless), b"[1, 2]");
    assert_eq!(header(shapeless, "Starweave-Deliveries"), "1");
    assert_eq!(header(shapeless, "Starweave-Error-Code"), "INVALID_PAYLOAD");
}

/// Waits up to 30 s for the messages `0..count` of a concurrency test, then checks that each
/// was handled once, and that `max_concurrency` of them, no more, ran at once. `noun` names
/// the messages (`messages`, `entries`).
pub async fn assert_bounded(recorder: &Recorder, count: u64, max_concurrency: usize, noun: &str) {
    assert!(
        recorder
            .wait_calls(count as usize, Duration::from_secs(30))
            .await,
        "only {} of {count} {noun} handled",
        recorder.ids().len()
    );
    assert_eq!(recorder.sorted_ids(), (0..count).collect::<Vec<u64>>());
    assert_eq!(
        recorder.max_running(),
        max_concurrency,
        "{noun} handled at once with max_concurrency {max_concurrency}"
    );
}

/// How many messages the MQ trigger of `function` (of `vms` `version`) counted with `status`
/// (`ok`, `retry`, `dead_letter`, …).
pub fn mq_count(
    engine: &TestEngine,
    vms: &str,
    version: &str,
    function: &str,
    status: &str,
) -> u64 {
    engine
        .server
        .registry
        .table()
        .get(vms, version)
        .expect("loaded")
        .0
        .metrics[function]
        .count("mq", status)
}

/// Waits up to 5 s until the MQ trigger of the recorder VMS's `handle` (`consumer` version
/// `1`) counted these `[dead_letter, retry, ok]`, and fails the test with the counts if not.
/// The counters move right after the broker confirmed (a dead letter may arrive first).
pub async fn assert_outcomes(engine: &TestEngine, expected: [u64; 3]) {
    let counts = || {
        ["dead_letter", "retry", "ok"]
            .map(|status| mq_count(engine, "consumer", "1", "handle", status))
    };
    assert!(
        eventually(Duration::from_secs(5), async || counts() == expected).await,
        "dead_letter, retry, ok counted: {:?}",
        counts()
    );
}

/// A VMS whose function `count` increments, for each message, the Redis counters
/// `<prefix>:seen:<id>` and `<prefix>:version:<version>` (read them with [`SeenCounters`]).
pub struct CounterVms<'a> {
    /// The VMS name.
    pub name: &'a str,
    /// `connectors/events.yaml`: the broker's MQ connector.
    pub events: &'a str,
    /// `triggers.yaml`: an `mq` trigger of `count` on `events`.
    pub triggers: &'a str,
    /// The prefix of the counters' keys.
    pub prefix: &'a str,
    /// Whether `count` declares `id` a required integer (then each input is checked on its
    /// way in); without it any `id` is counted, a string too.
    pub typed_id: bool,
}

impl CounterVms<'_> {
    /// Writes version `version` of the VMS into `root/<version>`.
    pub fn write(&self, root: &Path, version: &str) -> PathBuf {
        let (name, prefix) = (self.name, self.prefix);
        let vms_yaml = format!("name: {name}\n");
        let cache_yaml = format!(
            "kind: cache\nurl_env: REDIS_URL\nkey_prefix: \"{prefix}:\"\nmethods:\n- {{ name: seen, op: incr, key: \"seen:{{{{ input.id }}}}\" }}\n- {{ name: by_version, op: incr, key: \"version:{version}\" }}\n"
        );
        let mut files = vec![
            ("vms.yaml", vms_yaml.as_str()),
            ("connectors/events.yaml", self.events),
            ("connectors/cache.yaml", cache_yaml.as_str()),
            (
                "functions/count.rhai",
                "fn main(input, ctx) {\n  ctx.connectors.cache.seen(#{ id: input.id });\n  ctx.connectors.cache.by_version(#{});\n  #{}\n}\n",
            ),
            ("triggers.yaml", self.triggers),
        ];
        if self.typed_id {
            files.push((
                "functions/count.yaml",
                "input:\n- name: id\n  type: integer\n  required: true\n",
            ));
        }
        write_vms(root, version, &files)
    }
}

/// The Redis counters of a [`CounterVms`] for the messages `ids`: `<prefix>:seen:<id>`, how
/// many times message `id` was handled, and `<prefix>:version:<version>`, how many messages a
/// version handled. Read through a connection of the test's own.
pub struct SeenCounters {
    redis: MultiplexedConnection,
    prefix: String,
    ids: Range<u32>,
}

impl SeenCounters {
    /// The counters of the messages `ids` under `prefix`, in the Redis at `url`.
    pub async fn connect(url: &str, prefix: &str, ids: Range<u32>) -> SeenCounters {
        let redis = redis::Client::open(url)
            .expect("redis url")
            .get_multiplexed_async_connection()
            .await
            .expect("connect to Redis");
        SeenCounters {
            redis,
            prefix: prefix.to_owned(),
            ids,
        }
    }

    fn seen_keys(&self) -> Vec<String> {
        let prefix = &self.prefix;
        self.ids
            .clone()
            .map(|i| format!("{prefix}:seen:{i}"))
            .collect()
    }

    /// How many times each message was handled (`None`: never), in id order.
    pub async fn counts(&mut self) -> Vec<Option<u64>> {
        redis::cmd("MGET")
            .arg(self.seen_keys())
            .query_async(&mut self.redis)
            .await
            .expect("MGET")
    }

    /// Polls the counters (every 50 ms, up to `limit`) until every message was handled;
    /// returns the ids of those never handled (empty when all were).
    pub async fn wait_all_seen(&mut self, limit: Duration) -> Vec<u32> {
        let mut counts = Vec::new();
        eventually(limit, async || {
            counts = self.counts().await;
            counts.iter().all(Option::is_some)
        })
        .await;
        self.ids
            .clone()
            .zip(counts)
            .filter(|(_, count)| count.is_none())
            .map(|(id, _)| id)
            .collect()
    }

    /// The ids of the messages not handled exactly once (twice or more, or never).
    pub async fn repeated(&mut self) -> Vec<u32> {
        let counts = self.counts().await;
        self.ids
            .clone()
            .zip(counts)
            .filter(|(_, count)| *count != Some(1))
            .map(|(id, _)| id)
            .collect()
    }

    /// How many messages version `version` handled (0 when none).
    pub async fn by_version(&mut self, version: &str) -> u64 {
        let count: Option<u64> = redis::cmd("GET")
            .arg(format!("{}:version:{version}", self.prefix))
            .query_async(&mut self.redis)
            .await
            .expect("GET");
        count.unwrap_or(0)
    }

    /// Deletes the counters of the messages and of `versions`, and the `extra` keys (a
    /// stream, say).
    pub async fn cleanup(mut self, versions: &[&str], extra: &[&str]) {
        let mut keys = self.seen_keys();
        keys.extend(
            versions
                .iter()
                .map(|v| format!("{}:version:{v}", self.prefix)),
        );
        keys.extend(extra.iter().map(|key| (*key).to_owned()));
        let _: () = redis::cmd("DEL")
            .arg(&keys)
            .query_async(&mut self.redis)
            .await
            .expect("DEL");
    }
}

/// A [`CounterVms`] written in some versions, the first deployed (through the admin API) on
/// an engine of its own, and the counters of its messages: what [`ExactlyOnce`] and
/// [`HotSwap`] run on, and what a test of its own can start.
pub struct Counting {
    /// The engine running the VMS.
    pub engine: TestEngine,
    /// The counters of the messages.
    pub counters: SeenCounters,
    /// The body's `env` of every deployment.
    env: Value,
    /// The folder of each version.
    dirs: Vec<PathBuf>,
    _root: tempfile::TempDir,
}

impl Counting {
    /// Writes the VMS `name` (with `id` typed or not, see [`CounterVms::typed_id`]) with the
    /// connector of `mq`, these `triggers` and counters of its own in each of `versions`,
    /// starts an engine and deploys the first version with the env vars of `mq` and
    /// `REDIS_URL`, the counters' Redis. The counters are those of the messages `ids`.
    pub async fn start(
        mq: &Mq,
        triggers: &str,
        name: &str,
        typed_id: bool,
        versions: &[&str],
        ids: Range<u32>,
    ) -> Counting {
        let redis = redis_url();
        let prefix = format!("sw-count-{}", unique());
        let vms = CounterVms {
            name,
            events: &mq.events,
            triggers,
            prefix: &prefix,
            typed_id,
        };
        let root = tempfile::tempdir().expect("tempdir");
        let dirs: Vec<PathBuf> = versions.iter().map(|v| vms.write(root.path(), v)).collect();
        let mut vars: serde_json::Map<String, Value> = mq
            .env
            .iter()
            .map(|(name, value)| ((*name).to_owned(), json!(value)))
            .collect();
        vars.insert("REDIS_URL".to_owned(), json!(redis));
        let env = json!({ "env": vars });
        let engine = start_engine(EngineOptions::default()).await;
        let (status, body) = engine
            .deploy(name, versions[0], &dirs[0], env.clone())
            .await;
        assert_eq!(status, 201, "{body}");
        Counting {
            engine,
            counters: SeenCounters::connect(&redis, &prefix, ids).await,
            env,
            dirs,
            _root: root,
        }
    }
}

/// How many messages the exactly-once scenario publishes.
const ONCE_MESSAGES: u32 = 200;

/// The exactly-once scenario every broker runs: a [`CounterVms`] `counter` (whose `id` is a
/// required integer) deployed as `v1`; the test publishes the messages `0..200`, then
/// [`ExactlyOnce::wait_all_handled`] and [`ExactlyOnce::assert_once`] check that each was
/// handled exactly once. In between, the test checks its broker's own bookkeeping (nothing
/// left pending or unacknowledged).
pub struct ExactlyOnce {
    counting: Counting,
    noun: &'static str,
}

impl ExactlyOnce {
    /// Writes the VMS with the connector of `mq` and these `triggers` (`triggers.yaml`, an
    /// `mq` trigger of `count` on `events`), starts an engine and deploys it. `noun` names one
    /// message in the failures (`message`, `entry`).
    pub async fn start(mq: &Mq, triggers: &str, noun: &'static str) -> ExactlyOnce {
        let ids = 0..ONCE_MESSAGES;
        ExactlyOnce {
            counting: Counting::start(mq, triggers, "counter", true, &["v1"], ids).await,
            noun,
        }
    }

    /// Waits up to 30 s until every message was handled; fails the test if one was not.
    pub async fn wait_all_handled(&mut self) {
        let missing = self
            .counting
            .counters
            .wait_all_seen(Duration::from_secs(30))
            .await;
        assert!(
            missing.is_empty(),
            "not every {} was handled: {} of {ONCE_MESSAGES}",
            self.noun,
            ONCE_MESSAGES as usize - missing.len()
        );
    }

    /// How many messages the trigger acknowledged after `count` went well.
    pub fn ok_count(&self) -> u64 {
        mq_count(&self.counting.engine, "counter", "v1", "count", "ok")
    }

    /// Checks that no message was handled twice, and that the trigger counted each `ok`.
    /// The trigger counts a run after it ends, so the last count may land a moment after
    /// the last run's own effect was seen: it gets up to 10 s.
    pub async fn assert_once(&mut self) {
        let twice = self.counting.counters.repeated().await;
        assert!(twice.is_empty(), "handled more than once: {twice:?}");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while self.ok_count() < u64::from(ONCE_MESSAGES) && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(self.ok_count(), u64::from(ONCE_MESSAGES));
    }

    /// Undeploys the VMS (checking the answer) and deletes the counters and the `extra` keys.
    pub async fn finish(self, extra: &[&str]) {
        let status = self.counting.engine.undeploy("counter", "v1").await;
        assert!(status == 200 || status == 204, "undeploy answered {status}");
        self.counting.counters.cleanup(&["v1"], extra).await;
    }
}

/// How many messages the hot-swap scenario publishes.
const SWAP_MESSAGES: u32 = 400;

/// The hot-swap scenario every broker runs: a [`CounterVms`] `swapper` in versions `v1` and
/// `v2`, `v1` deployed; [`HotSwap::run`] publishes a steady stream of messages while the
/// versions swap six times, then checks that every message was handled exactly once and by
/// both versions. In between, the test does what its broker needs (waits for a stream,
/// declares a queue, checks what is pending).
pub struct HotSwap {
    counting: Counting,
    noun: &'static str,
}

impl HotSwap {
    /// Writes both versions with the connector of `mq` and these `triggers` (`triggers.yaml`,
    /// an `mq` trigger of `count` on `events`), starts an engine and deploys `v1`. `noun`
    /// names the messages in the failures and the summary (`messages`, `entries`).
    pub async fn start(mq: &Mq, triggers: &str, noun: &'static str) -> HotSwap {
        let versions = ["v1", "v2"];
        let ids = 0..SWAP_MESSAGES;
        HotSwap {
            counting: Counting::start(mq, triggers, "swapper", false, &versions, ids).await,
            noun,
        }
    }

    /// Publishes 400 messages `{"id": i}` through `publish`, ten at a time 20 ms apart, while
    /// the versions swap six times (every 150 ms); then checks that every message was
    /// handled exactly once, and that both versions handled some.
    pub async fn run(&mut self, mut publish: impl AsyncFnMut(Range<u32>)) {
        let (noun, counting) = (self.noun, &mut self.counting);
        let publishing = async {
            for chunk in 0..(SWAP_MESSAGES / 10) {
                publish(chunk * 10..chunk * 10 + 10).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let swapping = async {
            for round in 0..6 {
                tokio::time::sleep(Duration::from_millis(150)).await;
                let (version, dir) = if round % 2 == 0 {
                    ("v2", &counting.dirs[1])
                } else {
                    ("v1", &counting.dirs[0])
                };
                let (status, body) = counting
                    .engine
                    .deploy("swapper", version, dir, counting.env.clone())
                    .await;
                assert!(status == 200 || status == 201, "{status} {body}");
            }
        };
        tokio::join!(publishing, swapping);

        let missing = counting
            .counters
            .wait_all_seen(Duration::from_secs(40))
            .await;
        assert!(missing.is_empty(), "{noun} never handled: {missing:?}");
        // Let any late redelivery show up before counting repeats.
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let repeated = counting.counters.repeated().await;
        assert!(repeated.is_empty(), "handled more than once: {repeated:?}");
        let by_v1 = counting.counters.by_version("v1").await;
        let by_v2 = counting.counters.by_version("v2").await;
        assert_eq!(by_v1 + by_v2, u64::from(SWAP_MESSAGES));
        assert!(
            by_v1 > 0 && by_v2 > 0,
            "both versions handled {noun}: v1 {by_v1}, v2 {by_v2}"
        );
        println!(
            "{SWAP_MESSAGES} {noun} across 6 swaps: v1 handled {by_v1}, v2 {by_v2}, none lost or repeated"
        );
    }

    /// Undeploys both versions and deletes the counters and the `extra` keys.
    pub async fn finish(self, extra: &[&str]) {
        self.counting.engine.undeploy("swapper", "v1").await;
        self.counting.engine.undeploy("swapper", "v2").await;
        self.counting.counters.cleanup(&["v1", "v2"], extra).await;
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
    freeze: tokio::sync::watch::Sender<u64>,
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
        let (freeze, _) = tokio::sync::watch::channel(0u64);
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let target = target.to_owned();
        let (cuts, freezes) = (cut.clone(), freeze.clone());
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut cut = cuts.subscribe();
                let mut freeze = freezes.subscribe();
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let frozen = tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => false,
                        _ = cut.changed() => false,
                        _ = freeze.changed() => true,
                    };
                    if frozen {
                        // Both sockets stay open and silent: a half-open connection.
                        let _ = cut.changed().await;
                    }
                    drop((inbound, outbound));
                });
            }
        });
        CuttableLink {
            port,
            cut,
            freeze,
            accepted,
        }
    }

    /// Drops every connection open through the link now.
    pub fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }

    /// Stops forwarding on every connection open through the link now, keeping them open
    /// (as when the far end vanishes without a reset); new connections work.
    pub fn freeze(&self) {
        self.freeze.send_modify(|n| *n += 1);
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }
}
