//! MQ triggers of deployed VMS against the real NATS JetStream server (`STARWEAVE_TEST_NATS`,
//! default 127.0.0.1:4222) and Redis (`STARWEAVE_TEST_REDIS`): every message handled once,
//! retries with growing waits then the dead-letter subject, the concurrency bound, and hot
//! swaps in the middle of a stream of messages. Each test has its own stream, subjects and
//! keys, and removes them at the end.

mod mq_common;
mod server_common;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_common::{Recorder, eventually, nats_url, redis_url, spec, unique};
use serde_json::{Value, json};
use server_common::{start_engine, write_vms};
use starweave_engine::server::registry::EngineOptions;

/// A JetStream client of the test itself.
async fn jetstream(url: &str) -> async_nats::jetstream::Context {
    let client = async_nats::connect(url).await.expect("connect to NATS");
    async_nats::jetstream::new(client)
}

/// Publishes `{"id": i, …extra}` for each id, waiting for each acknowledgement.
async fn publish(js: &async_nats::jetstream::Context, subject: &str, ids: std::ops::Range<u32>) {
    for id in ids {
        let body = serde_json::to_vec(&json!({ "id": id })).expect("json");
        js.publish(subject.to_owned(), body.into())
            .await
            .expect("publish")
            .await
            .expect("publish ack");
    }
}

/// A VMS whose `handle` function passes `id` and the delivery count to `sink.record`.
fn recorder_vms(root: &Path, stream: &str, triggers: &str) -> std::path::PathBuf {
    write_vms(
        root,
        "consumer",
        &[
            ("vms.yaml", "name: consumer\n"),
            (
                "connectors/events.yaml",
                &format!("kind: mq\nbroker: nats\nurl_env: NATS_URL\nstream: {stream}\n"),
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_messages_are_each_handled_exactly_once() {
    let nats = nats_url();
    let redis_url = redis_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let subject = format!("sw-mq.{tag}.orders");
    let prefix = format!("sw-mq-{tag}");
    let root = tempfile::tempdir().expect("tempdir");
    let dir = write_vms(
        root.path(),
        "counter",
        &[
            ("vms.yaml", "name: counter\n"),
            (
                "connectors/events.yaml",
                &format!("kind: mq\nbroker: nats\nurl_env: NATS_URL\nstream: {stream}\n"),
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
                    "- kind: mq\n  function: count\n  connector: events\n  subject: {subject}\n  create_stream: true\n"
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
            json!({"env": {"NATS_URL": nats, "REDIS_URL": redis_url}}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let js = jetstream(&nats).await;
    // The trigger creates the stream; wait for it rather than racing it.
    assert!(
        eventually(Duration::from_secs(10), async || js
            .get_stream(&stream)
            .await
            .is_ok())
        .await,
        "the trigger did not create stream {stream}"
    );
    let started = Instant::now();
    publish(&js, &subject, 0..200).await;

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
    let elapsed = started.elapsed();
    assert!(
        all_seen,
        "not every message was handled: {} of 200",
        counts.iter().flatten().count()
    );
    // Once acknowledged nothing comes again: the consumer has nothing pending or unacked.
    let mut consumer: async_nats::jetstream::consumer::PullConsumer = js
        .get_stream(&stream)
        .await
        .expect("stream")
        .get_consumer("counter-count")
        .await
        .expect("the durable consumer is named after the VMS and the function");
    assert!(
        eventually(Duration::from_secs(10), async || {
            let info = consumer.info().await.expect("consumer info");
            info.num_ack_pending == 0 && info.num_pending == 0
        })
        .await,
        "messages stay unacknowledged"
    );
    let counts: Vec<Option<u64>> = redis::cmd("MGET")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .expect("MGET");
    let twice: Vec<usize> = (0..200).filter(|i| counts[*i] != Some(1)).collect();
    assert!(twice.is_empty(), "handled more than once: {twice:?}");
    let metrics = engine
        .server
        .registry
        .table()
        .get("counter", "v1")
        .expect("loaded")
        .0
        .metrics["count"]
        .count("mq", "ok");
    assert_eq!(metrics, 200);
    println!(
        "200 messages published and handled in {:.0} ms ({:.0} messages/s)",
        elapsed.as_secs_f64() * 1000.0,
        200.0 / elapsed.as_secs_f64()
    );

    let status = engine.undeploy("counter", "v1").await;
    assert!(status == 200 || status == 204, "undeploy answered {status}");
    let _: () = redis::cmd("DEL")
        .arg(&keys)
        .query_async(&mut redis)
        .await
        .expect("DEL");
    js.delete_stream(&stream).await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_message_is_retried_with_growing_waits_then_dead_lettered() {
    let nats = nats_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let subject = format!("sw-mq.{tag}.in");
    let dead = format!("sw-mq.{tag}.dead");
    let root = tempfile::tempdir().expect("tempdir");
    let dir = recorder_vms(
        root.path(),
        &stream,
        &format!(
            "- kind: mq\n  function: handle\n  connector: events\n  subject: {subject}\n  create_stream: true\n  dead_letter: {dead}\n  max_deliveries: 4\n  metadata_field: meta\n  backoff: {{ initial_ms: 200, multiplier: 2 }}\n"
        ),
    );
    let recorder = Arc::new(Recorder {
        failing: BTreeSet::from([7]),
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
                &[("NATS_URL", &nats), ("REDIS_URL", "redis://127.0.0.1:1/")],
            ),
            Some(recorder.clone()),
        )
        .await
        .expect("deploy");
    let js = jetstream(&nats).await;
    assert!(
        eventually(Duration::from_secs(10), async || js
            .get_stream(&stream)
            .await
            .is_ok())
        .await
    );
    // A consumer of the dead letters, from the start of the stream.
    let dead_consumer = js
        .get_stream(&stream)
        .await
        .expect("stream")
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: dead.clone(),
            ..Default::default()
        })
        .await
        .expect("dead-letter consumer");
    publish(&js, &subject, 6..9).await;
    // A payload that is not an object is dead-lettered at once, not retried.
    js.publish(subject.clone(), "[1, 2]".into())
        .await
        .expect("publish")
        .await
        .expect("ack");

    let mut letters = dead_consumer
        .fetch()
        .max_messages(2)
        .expires(Duration::from_secs(20))
        .messages()
        .await
        .expect("fetch");
    let mut received = Vec::new();
    let waited = tokio::time::timeout(Duration::from_secs(20), async {
        while received.len() < 2 {
            match letters.next().await {
                Some(Ok(message)) => received.push(message),
                Some(Err(error)) => panic!("dead-letter fetch failed: {error}"),
                None => {
                    letters = dead_consumer
                        .fetch()
                        .max_messages(2)
                        .expires(Duration::from_secs(5))
                        .messages()
                        .await
                        .expect("fetch");
                }
            }
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "{} dead letters arrived, 2 expected",
        received.len()
    );
    let header = |m: &async_nats::jetstream::Message, name: &str| -> String {
        m.headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.to_string())
            .unwrap_or_default()
    };
    let (refused, shapeless): (Vec<_>, Vec<_>) = received
        .iter()
        .partition(|m| m.payload.as_ref() != b"[1, 2]");
    let refused = refused[0];
    assert_eq!(
        serde_json::from_slice::<Value>(&refused.payload).expect("json"),
        json!({"id": 7})
    );
    assert_eq!(header(refused, "Starweave-Deliveries"), "4");
    assert_eq!(header(refused, "Starweave-Subject"), subject);
    assert_eq!(header(refused, "Starweave-Function"), "handle");
    assert!(
        header(refused, "Starweave-Error").contains("refused by the sink"),
        "{}",
        header(refused, "Starweave-Error")
    );
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
    // The counters move right after the broker confirmed (the dead letter may arrive first).
    let table = engine.server.registry.table();
    let metrics = &table.get("consumer", "1").expect("loaded").0.metrics["handle"];
    let counts = || ["dead_letter", "retry", "ok"].map(|status| metrics.count("mq", status));
    assert!(
        eventually(Duration::from_secs(5), async || counts() == [2, 3, 2]).await,
        "dead_letter, retry, ok counted: {:?}",
        counts()
    );

    engine.server.registry.undeploy("consumer", "1").await;
    js.delete_stream(&stream).await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_messages_than_max_concurrency_run_at_once() {
    let nats = nats_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let subject = format!("sw-mq.{tag}.in");
    let root = tempfile::tempdir().expect("tempdir");
    let dir = recorder_vms(
        root.path(),
        &stream,
        &format!(
            "- kind: mq\n  function: handle\n  connector: events\n  subject: {subject}\n  create_stream: true\n  max_concurrency: 3\n  metadata_field: meta\n"
        ),
    );
    let recorder = Arc::new(Recorder {
        delay: Duration::from_millis(100),
        ..Recorder::default()
    });
    let js = jetstream(&nats).await;
    // The messages wait in the stream before the consumer starts: it could take them all.
    js.create_stream(async_nats::jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![subject.clone()],
        ..Default::default()
    })
    .await
    .expect("create stream");
    publish(&js, &subject, 0..30).await;
    let engine = start_engine(EngineOptions::default()).await;
    engine
        .server
        .registry
        .deploy(
            spec(
                "consumer",
                "1",
                &dir,
                &[("NATS_URL", &nats), ("REDIS_URL", "redis://127.0.0.1:1/")],
            ),
            Some(recorder.clone()),
        )
        .await
        .expect("deploy");
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
    js.delete_stream(&stream).await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swaps_during_a_stream_of_messages_lose_none_and_repeat_none() {
    let nats = nats_url();
    let redis_url = redis_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let subject = format!("sw-mq.{tag}.events");
    let prefix = format!("sw-mq-{tag}");
    let root = tempfile::tempdir().expect("tempdir");
    let version_dir = |version: &str| {
        write_vms(
            root.path(),
            version,
            &[
                ("vms.yaml", "name: swapper\n"),
                (
                    "connectors/events.yaml",
                    &format!("kind: mq\nbroker: nats\nurl_env: NATS_URL\nstream: {stream}\n"),
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
                        "- kind: mq\n  function: count\n  connector: events\n  subject: {subject}\n  create_stream: true\n  durable: swapper-count\n"
                    ),
                ),
            ],
        )
    };
    let (v1, v2) = (version_dir("v1"), version_dir("v2"));
    let env = json!({"env": {"NATS_URL": nats, "REDIS_URL": redis_url}});
    let engine = start_engine(EngineOptions::default()).await;
    assert_eq!(
        engine.deploy("swapper", "v1", &v1, env.clone()).await.0,
        201
    );
    let js = jetstream(&nats).await;
    assert!(
        eventually(Duration::from_secs(10), async || js
            .get_stream(&stream)
            .await
            .is_ok())
        .await
    );

    // 400 messages published at a steady pace while the versions swap six times.
    const TOTAL: u32 = 400;
    let publisher = {
        let js = js.clone();
        let subject = subject.clone();
        tokio::spawn(async move {
            for chunk in 0..(TOTAL / 10) {
                publish(&js, &subject, chunk * 10..chunk * 10 + 10).await;
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
    js.delete_stream(&stream).await.expect("delete stream");
}
