//! MQ triggers on AMQP queues against the real RabbitMQ (`STARWEAVE_TEST_AMQP`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`) and Redis (`STARWEAVE_TEST_REDIS`): every message
//! handled once, retries through the delay queue with growing waits then the dead-letter
//! queue, rejection into the broker's own dead-lettering, the concurrency bound, a queue that
//! appears late, hot swaps in the middle of a stream of messages, and a connection cut under
//! load. Each test has its own queues and keys, and deletes them at the end.

mod mq_common;
mod server_common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use mq_common::{Recorder, amqp_url, eventually, redis_url, spec, unique};
use serde_json::{Value, json};
use server_common::{start_engine, write_vms};
use starweave_engine::server::registry::EngineOptions;

/// The test's own connection to the broker, with a confirm-mode channel.
struct Broker {
    channel: Channel,
    connection: Connection,
}

impl Broker {
    async fn connect(url: &str) -> Broker {
        let connection = Connection::connect(url, ConnectionProperties::default())
            .await
            .expect("the test connects to RabbitMQ");
        let channel = connection.create_channel().await.expect("channel");
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .expect("confirm_select");
        Broker {
            channel,
            connection,
        }
    }

    /// Publishes `body` to `queue` through the default exchange and waits for the broker.
    async fn send(&self, queue: &str, body: &[u8]) {
        self.channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body,
                BasicProperties::default().with_delivery_mode(2),
            )
            .await
            .expect("publish")
            .await
            .expect("confirmation");
    }

    /// Publishes `{"id": i}` for each id.
    async fn send_ids(&self, queue: &str, ids: std::ops::Range<u32>) {
        for id in ids {
            let body = serde_json::to_vec(&json!({ "id": id })).expect("json");
            self.send(queue, &body).await;
        }
    }

    /// Declares a durable queue with these arguments.
    async fn declare(&self, queue: &str, arguments: FieldTable) {
        self.channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    durable: true,
                    ..QueueDeclareOptions::default()
                },
                arguments,
            )
            .await
            .expect("queue_declare");
    }

    /// Messages ready in a queue and its consumers; `None` when it does not exist.
    async fn inspect(&self, queue: &str) -> Option<(u32, u32)> {
        // A passive declare of a missing queue closes the channel: ask on a fresh one.
        let channel = self.connection.create_channel().await.expect("channel");
        let found = channel
            .queue_declare(
                queue.into(),
                QueueDeclareOptions {
                    passive: true,
                    ..QueueDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await
            .ok()?;
        let _ = channel.close(200, "done".into()).await;
        Some((found.message_count(), found.consumer_count()))
    }

    /// Messages ready in a queue (0 when it does not exist).
    async fn ready(&self, queue: &str) -> u32 {
        self.inspect(queue).await.map_or(0, |(ready, _)| ready)
    }

    /// Waits until the engine consumes `queue`.
    async fn consumed(&self, queue: &str) -> bool {
        eventually(Duration::from_secs(10), async || {
            self.inspect(queue)
                .await
                .is_some_and(|(_, consumers)| consumers >= 1)
        })
        .await
    }

    /// Takes the next message of a queue, if any.
    async fn take(&self, queue: &str) -> Option<lapin::message::Delivery> {
        self.channel
            .basic_get(queue.into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic_get")
            .map(|m| m.delivery)
    }

    async fn delete(&self, queues: &[&str]) {
        for queue in queues {
            let _ = self
                .channel
                .queue_delete((*queue).into(), QueueDeleteOptions::default())
                .await;
        }
    }
}

fn header(delivery: &lapin::message::Delivery, name: &str) -> String {
    delivery
        .properties
        .headers()
        .as_ref()
        .and_then(|h| h.inner().get(name))
        .map(|v| match v {
            AMQPValue::LongString(s) => s.to_string(),
            AMQPValue::ShortString(s) => s.to_string(),
            other => format!("{other:?}"),
        })
        .unwrap_or_default()
}

/// A VMS whose `handle` function passes `id` and the delivery count to `sink.record`.
fn recorder_vms(root: &Path, triggers: &str) -> std::path::PathBuf {
    write_vms(
        root,
        "consumer",
        &[
            ("vms.yaml", "name: consumer\n"),
            (
                "connectors/events.yaml",
                "kind: mq\nbroker: amqp\nurl_env: AMQP_URL\n",
            ),
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

/// Deploys the recorder VMS as `consumer` version `version`.
async fn deploy_recorder(
    engine: &server_common::TestEngine,
    dir: &Path,
    version: &str,
    recorder: &Arc<Recorder>,
) {
    engine
        .server
        .registry
        .deploy(
            spec(
                "consumer",
                version,
                dir,
                &[
                    ("AMQP_URL", &amqp_url()),
                    ("REDIS_URL", "redis://127.0.0.1:1/"),
                ],
            ),
            Some(recorder.clone()),
        )
        .await
        .expect("deploy");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_messages_are_each_handled_exactly_once() {
    let amqp = amqp_url();
    let redis_url = redis_url();
    let tag = unique();
    let queue = format!("sw-amqp-{tag}");
    let prefix = format!("sw-amqp-{tag}");
    let root = tempfile::tempdir().expect("tempdir");
    let dir = write_vms(
        root.path(),
        "counter",
        &[
            ("vms.yaml", "name: counter\n"),
            (
                "connectors/events.yaml",
                "kind: mq\nbroker: amqp\nurl_env: AMQP_URL\n",
            ),
            (
                "connectors/cache.yaml",
                &format!(
                    "kind: cache\nurl_env: REDIS_URL\nkey_prefix: \"{prefix}:\"\nmethods:\n- {{ name: seen, op: incr, key: \"seen:{{{{ input.id }}}}\" }}\n"
                ),
            ),
            (
                "functions/count.yaml",
                "input:\n- name: id\n  type: integer\n  required: true\n",
            ),
            (
                "functions/count.rhai",
                "fn main(input, ctx) {\n  ctx.connectors.cache.seen(#{ id: input.id });\n  #{}\n}\n",
            ),
            (
                "triggers.yaml",
                &format!(
                    "- kind: mq\n  function: count\n  connector: events\n  subject: {queue}\n  create_stream: true\n"
                ),
            ),
        ],
    );
    let engine = start_engine(EngineOptions::default()).await;
    let (status, body) = engine
        .deploy(
            "counter",
            "v1",
            &dir,
            json!({"env": {"AMQP_URL": amqp, "REDIS_URL": redis_url}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let broker = Broker::connect(&amqp).await;
    // The trigger declares the queue; wait for its consumer rather than racing it.
    assert!(
        broker.consumed(&queue).await,
        "the trigger did not start consuming {queue}"
    );
    broker.send_ids(&queue, 0..200).await;

    let client = redis::Client::open(redis_url.as_str()).expect("redis url");
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let keys: Vec<String> = (0..200).map(|i| format!("{prefix}:seen:{i}")).collect();
    let mut counts: Vec<Option<u64>> = Vec::new();
    let all_seen = eventually(Duration::from_secs(30), async || {
        counts = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut redis)
            .await
            .expect("MGET");
        counts.iter().all(Option::is_some)
    })
    .await;
    assert!(
        all_seen,
        "not every message was handled: {} of 200",
        counts.iter().flatten().count()
    );
    let table = engine.server.registry.table();
    let metrics = &table.get("counter", "v1").expect("loaded").0.metrics["count"];
    assert!(
        eventually(Duration::from_secs(5), async || metrics.count("mq", "ok")
            == 200)
        .await,
        "acknowledged: {}",
        metrics.count("mq", "ok")
    );
    // Once acknowledged nothing comes again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let counts: Vec<Option<u64>> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .expect("MGET");
    let twice: Vec<usize> = (0..200).filter(|i| counts[*i] != Some(1)).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    assert_eq!(broker.ready(&queue).await, 0);
    assert_eq!(metrics.count("mq", "ok"), 200);

    let status = engine.undeploy("counter", "v1").await;
    assert!(status == 200 || status == 204, "undeploy answered {status}");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .expect("DEL");
    broker
        .delete(&[&queue, &format!("{queue}.starweave-retry")])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_message_is_delayed_with_growing_waits_then_dead_lettered() {
    let amqp = amqp_url();
    let tag = unique();
    let queue = format!("sw-amqp-{tag}");
    let dead = format!("sw-amqp-{tag}.dead");
    let retry = format!("{queue}.starweave-retry");
    let root = tempfile::tempdir().expect("tempdir");
    let dir = recorder_vms(
        root.path(),
        &format!(
            "- kind: mq\n  function: handle\n  connector: events\n  subject: {queue}\n  create_stream: true\n  dead_letter: {dead}\n  max_deliveries: 4\n  metadata_field: meta\n  backoff: {{ initial_ms: 200, multiplier: 2 }}\n"
        ),
    );
    let recorder = Arc::new(Recorder {
        failing: BTreeSet::from([7]),
        ..Recorder::default()
    });
    let engine = start_engine(EngineOptions::default()).await;
    deploy_recorder(&engine, &dir, "1", &recorder).await;
    let broker = Broker::connect(&amqp).await;
    assert!(
        broker.consumed(&queue).await,
        "the trigger did not start consuming {queue}"
    );
    // With create_stream the dead-letter queue is declared, and the delay queue always.
    assert_eq!(broker.inspect(&dead).await, Some((0, 0)));
    assert_eq!(broker.inspect(&retry).await, Some((0, 0)));
    broker.send_ids(&queue, 6..9).await;
    // A body that is not an object is dead-lettered at once, not retried.
    broker.send(&queue, b"[1, 2]").await;

    assert!(
        eventually(Duration::from_secs(20), async || broker.ready(&dead).await
            >= 2)
        .await,
        "{} dead letters arrived, 2 expected",
        broker.ready(&dead).await
    );
    let mut letters = Vec::new();
    while let Some(letter) = broker.take(&dead).await {
        letters.push(letter);
    }
    assert_eq!(letters.len(), 2, "dead letters");
    let (refused, shapeless): (Vec<_>, Vec<_>) = letters.iter().partition(|m| m.data != b"[1, 2]");
    let refused = refused[0];
    assert_eq!(
        serde_json::from_slice::<Value>(&refused.data).expect("json"),
        json!({"id": 7})
    );
    assert_eq!(header(refused, "Starweave-Deliveries"), "4");
    assert_eq!(header(refused, "Starweave-Queue"), queue);
    assert_eq!(header(refused, "Starweave-Function"), "handle");
    assert!(
        header(refused, "Starweave-Error").contains("refused by the sink"),
        "{}",
        header(refused, "Starweave-Error")
    );
    assert_eq!(refused.properties.delivery_mode(), &Some(2));
    assert!(refused.properties.expiration().is_none());
    let shapeless = shapeless[0];
    assert_eq!(header(shapeless, "Starweave-Deliveries"), "1");
    assert_eq!(header(shapeless, "Starweave-Error-Code"), "INVALID_PAYLOAD");

    // Message 7 came four times, with waits of at least 200, 400 and 800 ms between them;
    // the others once.
    let calls = recorder.calls.lock().expect("lock").clone();
    let sevens: Vec<_> = calls.iter().filter(|c| c.0 == 7).collect();
    assert_eq!(
        sevens.iter().map(|c| c.2).collect::<Vec<_>>(),
        [1, 2, 3, 4],
        "delivery counts seen by the function"
    );
    let gaps: Vec<u128> = sevens
        .windows(2)
        .map(|w| w[1].1.duration_since(w[0].1).as_millis())
        .collect();
    for (gap, floor) in gaps.iter().zip([200u128, 400, 800]) {
        assert!(*gap >= floor, "waits between deliveries {gaps:?}");
    }
    println!("waits between the deliveries of a failing message: {gaps:?} ms");
    let mut others: Vec<u64> = calls.iter().map(|c| c.0).filter(|id| *id != 7).collect();
    others.sort_unstable();
    assert_eq!(others, [6, 8]);
    let table = engine.server.registry.table();
    let metrics = &table.get("consumer", "1").expect("loaded").0.metrics["handle"];
    let counts = || ["dead_letter", "retry", "ok"].map(|status| metrics.count("mq", status));
    assert!(
        eventually(Duration::from_secs(5), async || counts() == [2, 3, 2]).await,
        "dead_letter, retry, ok counted: {:?}",
        counts()
    );
    assert_eq!(broker.ready(&queue).await, 0);
    assert_eq!(broker.ready(&retry).await, 0);

    engine.server.registry.undeploy("consumer", "1").await;
    broker.delete(&[&queue, &retry, &dead]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_dead_letter_queue_a_failure_goes_to_the_brokers_dead_lettering() {
    let amqp = amqp_url();
    let tag = unique();
    let queue = format!("sw-amqp-{tag}");
    let parking = format!("sw-amqp-{tag}.parking");
    let broker = Broker::connect(&amqp).await;
    // The operator's setup: the queue dead-letters rejected messages into a parking queue.
    broker.declare(&parking, FieldTable::default()).await;
    let mut arguments = FieldTable::default();
    arguments.insert(
        "x-dead-letter-exchange".into(),
        AMQPValue::LongString("".into()),
    );
    arguments.insert(
        "x-dead-letter-routing-key".into(),
        AMQPValue::LongString(parking.as_str().into()),
    );
    broker.declare(&queue, arguments).await;
    let root = tempfile::tempdir().expect("tempdir");
    // Without create_stream the trigger uses the queue as it is.
    let dir = recorder_vms(
        root.path(),
        &format!(
            "- kind: mq\n  function: handle\n  connector: events\n  subject: {queue}\n  max_deliveries: 1\n  metadata_field: meta\n"
        ),
    );
    let recorder = Arc::new(Recorder {
        failing: BTreeSet::from([3]),
        ..Recorder::default()
    });
    let engine = start_engine(EngineOptions::default()).await;
    deploy_recorder(&engine, &dir, "1", &recorder).await;
    broker.send_ids(&queue, 2..5).await;
    assert!(
        eventually(Duration::from_secs(15), async || broker
            .ready(&parking)
            .await
            == 1)
        .await,
        "the refused message did not reach the parking queue"
    );
    let parked = broker.take(&parking).await.expect("parked");
    assert_eq!(
        serde_json::from_slice::<Value>(&parked.data).expect("json"),
        json!({"id": 3})
    );
    assert!(
        eventually(Duration::from_secs(5), async || recorder.ids().len() == 3).await,
        "calls: {:?}",
        recorder.ids()
    );
    // max_deliveries 1: no delay queue, no second delivery.
    assert_eq!(
        recorder.ids().iter().filter(|id| **id == 3).count(),
        1,
        "{:?}",
        recorder.ids()
    );
    assert_eq!(broker.ready(&queue).await, 0);

    engine.server.registry.undeploy("consumer", "1").await;
    broker.delete(&[&queue, &parking]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_messages_than_max_concurrency_run_at_once_and_a_late_queue_is_picked_up() {
    let amqp = amqp_url();
    let tag = unique();
    let queue = format!("sw-amqp-{tag}");
    let root = tempfile::tempdir().expect("tempdir");
    let dir = recorder_vms(
        root.path(),
        &format!(
            "- kind: mq\n  function: handle\n  connector: events\n  subject: {queue}\n  max_concurrency: 3\n  max_deliveries: 1\n  metadata_field: meta\n"
        ),
    );
    let recorder = Arc::new(Recorder {
        delay: Duration::from_millis(100),
        ..Recorder::default()
    });
    let engine = start_engine(EngineOptions::default()).await;
    // Deployed before its queue exists: the deployment loads, the trigger keeps trying.
    deploy_recorder(&engine, &dir, "1", &recorder).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let broker = Broker::connect(&amqp).await;
    broker.declare(&queue, FieldTable::default()).await;
    broker.send_ids(&queue, 0..30).await;
    assert!(
        eventually(Duration::from_secs(30), async || recorder.ids().len() >= 30).await,
        "only {} of 30 messages handled",
        recorder.ids().len()
    );
    let mut ids = recorder.ids();
    ids.sort_unstable();
    assert_eq!(ids, (0..30).collect::<Vec<u64>>());
    assert_eq!(
        recorder.max_running(),
        3,
        "messages handled at once with max_concurrency 3"
    );
    engine.server.registry.undeploy("consumer", "1").await;
    broker.delete(&[&queue]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swaps_during_a_stream_of_messages_lose_none_and_repeat_none() {
    let amqp = amqp_url();
    let redis_url = redis_url();
    let tag = unique();
    let queue = format!("sw-amqp-{tag}");
    let prefix = format!("sw-amqp-{tag}");
    let root = tempfile::tempdir().expect("tempdir");
    let version_dir = |version: &str| {
        write_vms(
            root.path(),
            version,
            &[
                ("vms.yaml", "name: swapper\n"),
                (
                    "connectors/events.yaml",
                    "kind: mq\nbroker: amqp\nurl_env: AMQP_URL\n",
                ),
                (
                    "connectors/cache.yaml",
                    &format!(
                        "kind: cache\nurl_env: REDIS_URL\nkey_prefix: \"{prefix}:\"\nmethods:\n- {{ name: seen, op: incr, key: \"seen:{{{{ input.id }}}}\" }}\n- {{ name: by_version, op: incr, key: \"version:{version}\" }}\n"
                    ),
                ),
                (
                    "functions/count.rhai",
                    "fn main(input, ctx) {\n  ctx.connectors.cache.seen(#{ id: input.id });\n  ctx.connectors.cache.by_version(#{});\n  #{}\n}\n",
                ),
                (
                    "triggers.yaml",
                    &format!(
                        "- kind: mq\n  function: count\n  connector: events\n  subject: {queue}\n  create_stream: true\n"
                    ),
                ),
            ],
        )
    };
    let (v1, v2) = (version_dir("v1"), version_dir("v2"));
    let env = json!({"env": {"AMQP_URL": amqp, "REDIS_URL": redis_url}});
    let engine = start_engine(EngineOptions::default()).await;
    assert_eq!(
        engine.deploy("swapper", "v1", &v1, env.clone()).await.0,
        201
    );
    let broker = Broker::connect(&amqp).await;
    // Declared here too (the same durable queue) so that no message is published before it.
    broker.declare(&queue, FieldTable::default()).await;

    // 400 messages published at a steady pace while the versions swap six times.
    const TOTAL: u32 = 400;
    let publisher = {
        let queue = queue.clone();
        let amqp = amqp.clone();
        tokio::spawn(async move {
            let broker = Broker::connect(&amqp).await;
            for chunk in 0..(TOTAL / 10) {
                broker.send_ids(&queue, chunk * 10..chunk * 10 + 10).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    for round in 0..6 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        let (version, dir) = if round % 2 == 0 {
            ("v2", &v2)
        } else {
            ("v1", &v1)
        };
        let (status, body) = engine.deploy("swapper", version, dir, env.clone()).await;
        assert!(status == 200 || status == 201, "{status} {body}");
    }
    publisher.await.expect("publisher");

    let client = redis::Client::open(redis_url.as_str()).expect("redis url");
    let mut redis = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let keys: Vec<String> = (0..TOTAL).map(|i| format!("{prefix}:seen:{i}")).collect();
    let mut counts: Vec<Option<u64>> = Vec::new();
    let all = eventually(Duration::from_secs(40), async || {
        counts = redis::cmd("MGET")
            .arg(&keys)
            .query_async(&mut redis)
            .await
            .expect("MGET");
        counts.iter().all(Option::is_some)
    })
    .await;
    let missing: Vec<u32> = (0..TOTAL)
        .filter(|i| counts[*i as usize].is_none())
        .collect();
    assert!(all, "messages never handled: {missing:?}");
    // Let any late redelivery show up before counting repeats.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let counts: Vec<Option<u64>> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .expect("MGET");
    let repeated: Vec<u32> = (0..TOTAL)
        .filter(|i| counts[*i as usize] != Some(1))
        .collect();
    assert!(repeated.is_empty(), "handled more than once: {repeated:?}");
    let per_version: Vec<Option<u64>> = redis::cmd("MGET")
        .arg(format!("{prefix}:version:v1"))
        .arg(format!("{prefix}:version:v2"))
        .query_async(&mut redis)
        .await
        .expect("MGET");
    let (by_v1, by_v2) = (per_version[0].unwrap_or(0), per_version[1].unwrap_or(0));
    assert_eq!(by_v1 + by_v2, u64::from(TOTAL));
    assert!(
        by_v1 > 0 && by_v2 > 0,
        "both versions handled messages: v1 {by_v1}, v2 {by_v2}"
    );
    println!(
        "{TOTAL} messages across 6 swaps: v1 handled {by_v1}, v2 {by_v2}, none lost or repeated"
    );

    engine.undeploy("swapper", "v1").await;
    engine.undeploy("swapper", "v2").await;
    let mut all_keys = keys.clone();
    all_keys.push(format!("{prefix}:version:v1"));
    all_keys.push(format!("{prefix}:version:v2"));
    let _: () = redis::cmd("DEL")
        .arg(&all_keys)
        .query_async(&mut redis)
        .await
        .expect("DEL");
    broker
        .delete(&[&queue, &format!("{queue}.starweave-retry")])
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_connection_is_reopened_and_no_message_is_lost() {
    let amqp = amqp_url();
    let tag = unique();
    let queue = format!("sw-amqp-{tag}");
    let broker = Broker::connect(&amqp).await;
    broker.declare(&queue, FieldTable::default()).await;
    // The engine reaches the broker through a link the test cuts.
    let authority = amqp
        .split("://")
        .nth(1)
        .and_then(|rest| rest.rsplit('@').next())
        .and_then(|rest| rest.split('/').next())
        .expect("host:port in the AMQP URL")
        .to_owned();
    let link = mq_common::CuttableLink::start(&authority).await;
    let through_link = amqp.replacen(&authority, &format!("127.0.0.1:{}", link.port), 1);
    let root = tempfile::tempdir().expect("tempdir");
    let dir = recorder_vms(
        root.path(),
        &format!(
            "- kind: mq\n  function: handle\n  connector: events\n  subject: {queue}\n  max_concurrency: 4\n  metadata_field: meta\n"
        ),
    );
    let recorder = Arc::new(Recorder {
        delay: Duration::from_millis(20),
        ..Recorder::default()
    });
    let engine = start_engine(EngineOptions::default()).await;
    engine
        .server
        .registry
        .deploy(
            spec(
                "consumer",
                "1",
                &dir,
                &[
                    ("AMQP_URL", &through_link),
                    ("REDIS_URL", "redis://127.0.0.1:1/"),
                ],
            ),
            Some(recorder.clone()),
        )
        .await
        .expect("deploy");
    assert!(broker.consumed(&queue).await, "no consumer on {queue}");
    broker.send_ids(&queue, 0..100).await;
    assert!(
        eventually(Duration::from_secs(10), async || recorder.ids().len() >= 20).await,
        "the first messages were not handled"
    );
    link.cut();
    let cut_at = recorder.ids().len();
    assert!(
        eventually(Duration::from_secs(30), async || {
            let ids: BTreeSet<u64> = recorder.ids().into_iter().collect();
            ids.len() == 100
        })
        .await,
        "handled after the cut: {} distinct of 100",
        recorder.ids().iter().collect::<BTreeSet<_>>().len()
    );
    assert!(
        link.accepted() >= 2,
        "the engine did not reconnect ({} connections)",
        link.accepted()
    );
    // Everything handled was acknowledged in the end: nothing left in the queue, and the
    // new consumer holds nothing unacknowledged.
    assert!(
        eventually(Duration::from_secs(10), async || broker
            .inspect(&queue)
            .await
            == Some((0, 1)))
        .await,
        "queue after the cut: {:?}",
        broker.inspect(&queue).await
    );
    let calls = recorder.ids().len();
    println!(
        "connection cut after {cut_at} calls; 100 messages handled in {calls} calls ({} again after the cut), {} connections",
        calls - 100,
        link.accepted()
    );
    engine.server.registry.undeploy("consumer", "1").await;
    broker
        .delete(&[&queue, &format!("{queue}.starweave-retry")])
        .await;
}
