//! MQ triggers on Redis Streams of deployed VMS against the real Redis (`STARWEAVE_TEST_REDIS`,
//! default 127.0.0.1:6379): every entry handled once, retries with growing waits then the
//! dead-letter stream, the concurrency bound, hot swaps in the middle of a stream of entries,
//! entries left by a crashed engine, a stream that appears after the trigger started, the
//! consumer leaving its group at shutdown, and connections that go silent (half-open). Each
//! test has its own stream keys, groups and counters, and removes them at the end. The restart
//! test runs its own `redis-server` (apt package `redis-server`) on a free port, so the
//! machine's shared Redis is never disturbed.

mod mq_common;
mod server_common;

use std::collections::{BTreeMap, BTreeSet};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mq_common::{
    Counting, ExactlyOnce, HotSwap, Mq, Recorder, assert_bounded, assert_dead_letters,
    assert_outcomes, assert_retried, eventually, redis_url, start_recorder, unique,
};
use redis::aio::MultiplexedConnection;
use serde_json::json;

/// A connection of the test itself.
async fn connect(url: &str) -> MultiplexedConnection {
    redis::Client::open(url)
        .expect("redis url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis")
}

/// Adds an entry with these fields; returns its id.
async fn xadd(redis: &mut MultiplexedConnection, key: &str, fields: &[(&str, &str)]) -> String {
    let mut command = redis::cmd("XADD");
    command.arg(key).arg("*");
    for (name, value) in fields {
        command.arg(*name).arg(*value);
    }
    command.query_async(redis).await.expect("XADD")
}

/// Adds `{"id": i}` entries the way Starweave's publisher writes them (a `payload` field).
async fn publish(redis: &mut MultiplexedConnection, key: &str, ids: std::ops::Range<u32>) {
    for id in ids {
        let payload = json!({ "id": id }).to_string();
        xadd(redis, key, &[("payload", &payload)]).await;
    }
}

/// How many entries of the group wait for an acknowledgement.
async fn pending(redis: &mut MultiplexedConnection, key: &str, group: &str) -> u64 {
    let (count, _, _, _): (u64, redis::Value, redis::Value, redis::Value) = redis::cmd("XPENDING")
        .arg(key)
        .arg(group)
        .query_async(redis)
        .await
        .expect("XPENDING");
    count
}

/// Fails the test unless, within 10 s, no entry of the group waits for an acknowledgement.
async fn assert_nothing_pending(redis: &mut MultiplexedConnection, key: &str, group: &str) {
    let mut left = 0;
    let drained = eventually(Duration::from_secs(10), async || {
        left = pending(redis, key, group).await;
        left == 0
    })
    .await;
    assert!(drained, "{left} entries of group {group} stay pending");
}

/// Every entry of a stream: id and fields.
async fn entries(
    redis: &mut MultiplexedConnection,
    key: &str,
) -> Vec<(String, BTreeMap<String, String>)> {
    let raw: Vec<(String, Vec<String>)> = redis::cmd("XRANGE")
        .arg(key)
        .arg("-")
        .arg("+")
        .query_async(redis)
        .await
        .expect("XRANGE");
    raw.into_iter()
        .map(|(id, fields)| {
            let map = fields
                .chunks(2)
                .map(|pair| (pair[0].clone(), pair[1].clone()))
                .collect();
            (id, map)
        })
        .collect()
}

async fn delete(redis: &mut MultiplexedConnection, keys: &[String]) {
    let _: () = redis::cmd("DEL")
        .arg(keys)
        .query_async(redis)
        .await
        .expect("DEL");
}

/// The Redis at `url` as the test VMS see it.
fn mq(url: &str) -> Mq {
    let events = "kind: mq\nbroker: redis-streams\nurl_env: REDIS_URL\n";
    Mq::new(events, &[("REDIS_URL", url)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_entries_are_each_handled_exactly_once() {
    let url = redis_url();
    let tag = unique();
    let key = format!("sw-rs-{tag}-orders");
    let triggers = format!(
        "- kind: mq\n  function: count\n  connector: events\n  subject: {key}\n  create_stream: true\n"
    );
    let mut once = ExactlyOnce::start(&mq(&url), &triggers, "entry").await;

    // The group may not exist yet: it starts at the stream's start, so that is fine.
    let mut redis = connect(&url).await;
    let started = Instant::now();
    publish(&mut redis, &key, 0..200).await;
    once.wait_all_handled().await;
    let elapsed = started.elapsed();
    // Once acknowledged nothing comes again: the group (named after the VMS and the
    // function) has nothing pending.
    assert_nothing_pending(&mut redis, &key, "counter-count").await;
    once.assert_once().await;
    println!(
        "200 entries added and handled in {:.0} ms ({:.0} entries/s)",
        elapsed.as_secs_f64() * 1000.0,
        200.0 / elapsed.as_secs_f64()
    );

    once.finish(&[]).await;
    // With nothing pending, the engine's consumer has left the group by the time the unload
    // answers.
    assert_eq!(consumers(&mut redis, &key, "counter-count").await, 0);
    delete(&mut redis, &[key]).await;
}

/// How many consumers the group has.
async fn consumers(redis: &mut MultiplexedConnection, key: &str, group: &str) -> usize {
    let consumers: Vec<redis::Value> = redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(key)
        .arg(group)
        .query_async(redis)
        .await
        .expect("XINFO CONSUMERS");
    consumers.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_shutdown_the_engine_leaves_the_group_before_it_exits() {
    let url = redis_url();
    let tag = unique();
    let key = format!("sw-rs-{tag}-in");
    let group = format!("sw-rs-{tag}");
    let recorder = Recorder::taking(Duration::ZERO);
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {key}\n  durable: {group}\n  create_stream: true\n  metadata_field: meta\n"
    );
    let (engine, _vms) = start_recorder(&mq(&url), &triggers, &recorder).await;
    let mut redis = connect(&url).await;
    publish(&mut redis, &key, 0..5).await;
    assert!(
        recorder.wait_calls(5, Duration::from_secs(10)).await,
        "the entries were not handled"
    );
    assert_nothing_pending(&mut redis, &key, &group).await;
    assert_eq!(consumers(&mut redis, &key, &group).await, 1);
    // What the engine does on SIGTERM once its ports are closed: every deployment drained.
    engine.server.registry.undeploy_all().await;
    assert_eq!(
        consumers(&mut redis, &key, &group).await,
        0,
        "the engine's consumer is left in the group after the shutdown"
    );
    delete(&mut redis, &[key]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_open_connection_is_replaced_and_entries_go_on_being_acknowledged() {
    let url = redis_url();
    let tag = unique();
    let key = format!("sw-rs-{tag}-in");
    let group = format!("sw-rs-{tag}");
    // The engine reaches Redis through a link whose open connections the test silences.
    let authority = mq_common::host_port(&url);
    let link = mq_common::CuttableLink::start(&authority).await;
    let through_link = url.replacen(&authority, &format!("127.0.0.1:{}", link.port), 1);
    let recorder = Recorder::taking(Duration::ZERO);
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {key}\n  durable: {group}\n  create_stream: true\n  metadata_field: meta\n"
    );
    let (engine, _vms) = start_recorder(&mq(&through_link), &triggers, &recorder).await;
    let mut redis = connect(&url).await;
    publish(&mut redis, &key, 0..10).await;
    assert!(
        recorder.wait_calls(10, Duration::from_secs(10)).await,
        "the first entries were not handled"
    );
    let before = link.accepted();
    // Both of the engine's connections go silent without being closed: every command on
    // them would wait for an answer that never comes, and the kernel would not say so for
    // many minutes.
    link.freeze();
    let frozen_at = Instant::now();
    publish(&mut redis, &key, 10..20).await;
    assert!(
        eventually(Duration::from_secs(60), async || {
            let ids: BTreeSet<u64> = recorder.ids().into_iter().collect();
            ids.len() == 20 && pending(&mut redis, &key, &group).await == 0
        })
        .await,
        "after the connections went silent: {} distinct entries handled of 20, {} pending",
        recorder.ids().iter().collect::<BTreeSet<_>>().len(),
        pending(&mut redis, &key, &group).await
    );
    // A fresh connection for reads and one for the other commands.
    assert!(
        link.accepted() >= before + 2,
        "the engine did not connect again ({} connections before, {} after)",
        before,
        link.accepted()
    );
    println!(
        "connections silenced: 10 more entries handled and acknowledged within {:.1} s, {} connections in all",
        frozen_at.elapsed().as_secs_f64(),
        link.accepted()
    );
    engine.server.registry.undeploy("consumer", "1").await;
    link.cut();
    delete(&mut redis, &[key]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_entry_is_retried_with_growing_waits_then_dead_lettered() {
    let url = redis_url();
    let tag = unique();
    let key = format!("sw-rs-{tag}-in");
    let dead = format!("sw-rs-{tag}-dead");
    let group = format!("sw-rs-{tag}");
    let recorder = Recorder::failing_on([7]);
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {key}\n  durable: {group}\n  create_stream: true\n  dead_letter: {dead}\n  max_deliveries: 3\n  metadata_field: meta\n  backoff: {{ initial_ms: 200, multiplier: 2 }}\n"
    );
    let (engine, _vms) = start_recorder(&mq(&url), &triggers, &recorder).await;
    let mut redis = connect(&url).await;
    xadd(&mut redis, &key, &[("payload", r#"{"id": 6}"#)]).await;
    let refused_id = xadd(
        &mut redis,
        &key,
        &[("payload", r#"{"id": 7}"#), ("origin", "test")],
    )
    .await;
    xadd(&mut redis, &key, &[("payload", r#"{"id": 8}"#)]).await;
    // A payload that is not a JSON object is dead-lettered at once, not retried.
    let shapeless_id = xadd(&mut redis, &key, &[("payload", "[1, 2]")]).await;

    let mut letters = Vec::new();
    let arrived = eventually(Duration::from_secs(20), async || {
        letters = entries(&mut redis, &dead).await;
        letters.len() >= 2
    })
    .await;
    assert!(
        arrived,
        "{} dead letters arrived, 2 expected",
        letters.len()
    );
    assert_eq!(letters.len(), 2, "{letters:?}");
    let letter = |entry_id: &str| {
        letters
            .iter()
            .map(|(_, fields)| fields)
            .find(|fields| fields.get("Starweave-Entry-Id").map(String::as_str) == Some(entry_id))
            .unwrap_or_else(|| panic!("no dead letter for entry {entry_id}: {letters:?}"))
    };
    let (refused, shapeless) = (letter(&refused_id), letter(&shapeless_id));
    assert_dead_letters(
        refused,
        shapeless,
        "3",
        |fields| fields["payload"].clone().into_bytes(),
        |fields, name| fields.get(name).cloned().unwrap_or_default(),
    );
    assert_eq!(
        refused["origin"], "test",
        "the entry's own headers are kept"
    );
    // The sink's error reaches the trigger through the script that called it.
    assert_eq!(refused["Starweave-Error-Code"], "SCRIPT_ERROR");
    assert_eq!(refused["Starweave-Subject"], key);
    assert_eq!(refused["Starweave-Vms"], "consumer");
    assert_eq!(refused["Starweave-Version"], "1");

    // Entry 7 came three times, with waits of at least 200 then 400 ms between them; the
    // others once.
    let gaps = assert_retried(&recorder, 7, &[200, 400], "entry");
    assert!(gaps[1] > gaps[0], "waits between deliveries {gaps:?}");
    assert_eq!(recorder.sorted_ids_except(7), [6, 8]);
    // Dead-lettered entries are acknowledged too.
    assert_nothing_pending(&mut redis, &key, &group).await;
    assert_outcomes(&engine, [2, 2, 2]).await;

    engine.server.registry.undeploy("consumer", "1").await;
    delete(&mut redis, &[key, dead]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_entries_than_max_concurrency_run_at_once() {
    let url = redis_url();
    let tag = unique();
    let key = format!("sw-rs-{tag}-in");
    let group = format!("sw-rs-{tag}");
    // The stream exists already, without `create_stream`.
    let recorder = Recorder::taking(Duration::from_millis(100));
    // The entries wait in the stream before the group exists: it could take them all at once.
    let mut redis = connect(&url).await;
    publish(&mut redis, &key, 0..20).await;
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {key}\n  durable: {group}\n  max_concurrency: 2\n  metadata_field: meta\n"
    );
    let (engine, _vms) = start_recorder(&mq(&url), &triggers, &recorder).await;
    assert_bounded(&recorder, 20, 2, "entries").await;
    assert_nothing_pending(&mut redis, &key, &group).await;
    engine.server.registry.undeploy("consumer", "1").await;
    delete(&mut redis, &[key]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swaps_during_a_stream_of_entries_lose_none_and_repeat_none() {
    let url = redis_url();
    let tag = unique();
    let key = format!("sw-rs-{tag}-events");
    let group = format!("sw-rs-{tag}");
    let triggers = format!(
        "- kind: mq\n  function: count\n  connector: events\n  subject: {key}\n  durable: {group}\n  create_stream: true\n"
    );
    let mut swap = HotSwap::start(&mq(&url), &triggers, "entries").await;
    let mut publisher = connect(&url).await;
    swap.run(async |ids| publish(&mut publisher, &key, ids).await)
        .await;
    // Every entry was acknowledged too.
    let mut redis = connect(&url).await;
    assert_eq!(pending(&mut redis, &key, &group).await, 0);
    swap.finish(&[&key]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_left_by_a_crashed_engine_are_claimed_and_a_live_ones_are_not() {
    let url = redis_url();
    let tag = unique();
    let key = format!("sw-rs-{tag}-in");
    let group = format!("sw-rs-{tag}");
    let mut redis = connect(&url).await;
    let _: () = redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&key)
        .arg(&group)
        .arg("$")
        .arg("MKSTREAM")
        .query_async(&mut redis)
        .await
        .expect("XGROUP CREATE");
    // Entry 1 was delivered to an engine that crashed a minute ago; entry 2 is being handled
    // by a live engine.
    let read_as = async |redis: &mut MultiplexedConnection, consumer: &str| {
        let _: redis::Value = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&group)
            .arg(consumer)
            .arg("COUNT")
            .arg(1)
            .arg("STREAMS")
            .arg(&key)
            .arg(">")
            .query_async(redis)
            .await
            .expect("XREADGROUP");
    };
    let crashed_id = xadd(&mut redis, &key, &[("payload", r#"{"id": 1}"#)]).await;
    read_as(&mut redis, "crashed-engine").await;
    let _: redis::Value = redis::cmd("XCLAIM")
        .arg(&key)
        .arg(&group)
        .arg("crashed-engine")
        .arg(0)
        .arg(&crashed_id)
        .arg("IDLE")
        .arg(60_000)
        .arg("JUSTID")
        .query_async(&mut redis)
        .await
        .expect("XCLAIM");
    xadd(&mut redis, &key, &[("payload", r#"{"id": 2}"#)]).await;
    read_as(&mut redis, "live-engine").await;

    let recorder = Arc::new(Recorder::default());
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {key}\n  durable: {group}\n  metadata_field: meta\n"
    );
    let (engine, _vms) = start_recorder(&mq(&url), &triggers, &recorder).await;
    xadd(&mut redis, &key, &[("payload", r#"{"id": 3}"#)]).await;
    assert!(
        eventually(Duration::from_secs(10), async || recorder.sorted_ids()
            == [1, 3])
        .await,
        "handled: {:?}",
        recorder.sorted_ids()
    );
    // Two reclaim periods later, the live engine's entry is still its own.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(recorder.sorted_ids(), [1, 3]);
    let calls = recorder.calls.lock().expect("lock").clone();
    let deliveries: BTreeMap<u64, u64> = calls.iter().map(|c| (c.0, c.2)).collect();
    assert_eq!(
        deliveries,
        BTreeMap::from([(1, 2), (3, 1)]),
        "the claimed entry counts its second delivery"
    );
    let still_pending: Vec<(String, String, u64, u64)> = redis::cmd("XPENDING")
        .arg(&key)
        .arg(&group)
        .arg("-")
        .arg("+")
        .arg(10)
        .query_async(&mut redis)
        .await
        .expect("XPENDING");
    assert_eq!(still_pending.len(), 1, "{still_pending:?}");
    assert_eq!(still_pending[0].1, "live-engine");

    engine.server.registry.undeploy("consumer", "1").await;
    delete(&mut redis, &[key]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_create_stream_the_trigger_waits_for_the_stream_and_reads_plain_entries() {
    let url = redis_url();
    let tag = unique();
    let key = format!("sw-rs-{tag}-later");
    let group = format!("sw-rs-{tag}");
    let triggers = format!(
        "- kind: mq\n  function: count\n  connector: events\n  subject: {key}\n  durable: {group}\n"
    );
    // The plain entry's `id` is a string: `count` takes any.
    let mut waiter = Counting::start(&mq(&url), &triggers, "waiter", false, &["v1"], 5..6).await;
    let mut redis = connect(&url).await;
    // The trigger does not create the stream…
    tokio::time::sleep(Duration::from_millis(700)).await;
    let exists: u64 = redis::cmd("EXISTS")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("EXISTS");
    assert_eq!(exists, 0, "the stream was created without create_stream");
    // …and handles the entries once another producer created it: an entry without `payload`
    // is its fields, as strings.
    xadd(&mut redis, &key, &[("id", "5"), ("note", "plain")]).await;
    let mut counts = Vec::new();
    assert!(
        eventually(Duration::from_secs(15), async || {
            counts = waiter.counters.counts().await;
            counts == [Some(1)]
        })
        .await,
        "the plain entry was not handled: {counts:?}"
    );
    assert_nothing_pending(&mut redis, &key, &group).await;

    waiter.engine.undeploy("waiter", "v1").await;
    waiter.counters.cleanup(&["v1"], &[&key]).await;
}

/// A private `redis-server` (its own port, its files in `dir`), which the test may stop and
/// start again without disturbing the machine's shared Redis.
struct PrivateRedis {
    port: u16,
    dir: PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateRedis {
    async fn start(dir: &Path) -> PrivateRedis {
        std::fs::create_dir_all(dir).expect("mkdir");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("bind")
            .local_addr()
            .expect("addr")
            .port();
        let mut redis = PrivateRedis {
            port,
            dir: dir.to_owned(),
            child: None,
        };
        redis.spawn().await;
        redis
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// Starts the server with an append-only file written at every command, so a restart
    /// keeps every acknowledgement.
    async fn spawn(&mut self) {
        let child = std::process::Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &self.port.to_string()])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start redis-server (apt package `redis-server`)");
        self.child = Some(child);
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], self.port));
        assert!(
            eventually(Duration::from_secs(20), async || {
                TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok()
            })
            .await,
            "redis-server does not listen on port {}",
            self.port
        );
    }

    /// Stops the server (SIGTERM, as a service manager would) and waits for it to exit.
    async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status();
            tokio::task::spawn_blocking(move || child.wait())
                .await
                .expect("join")
                .expect("redis-server exits");
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Adds `{"id": i}` entries, each retried until Redis confirms it (a retry whose first attempt
/// was written after all adds the entry twice: the test then sees it handled twice).
async fn publish_until_added(
    redis: &mut redis::aio::ConnectionManager,
    key: &str,
    ids: std::ops::Range<u32>,
) {
    for id in ids {
        let payload = json!({ "id": id }).to_string();
        loop {
            let added: redis::RedisResult<String> = redis::cmd("XADD")
                .arg(key)
                .arg("*")
                .arg("payload")
                .arg(&payload)
                .query_async(redis)
                .await;
            if added.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if id % 10 == 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_mid_stream_loses_no_entry_and_a_lost_group_comes_back() {
    let root = tempfile::tempdir().expect("tempdir");
    let data = root.path().join("redis");
    let mut server = PrivateRedis::start(&data).await;
    let url = server.url();
    let key = "sw-rs-faults";
    let recorder = Recorder::taking(Duration::from_millis(2));
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {key}\n  durable: faults\n  create_stream: true\n  metadata_field: meta\n  backoff: {{ initial_ms: 100 }}\n"
    );
    let (engine, _vms) = start_recorder(&mq(&url), &triggers, &recorder).await;
    let client = redis::Client::open(url.as_str()).expect("redis url");
    let publisher = {
        let client = client.clone();
        tokio::spawn(async move {
            let mut redis = client.get_connection_manager().await.expect("connect");
            publish_until_added(&mut redis, key, 0..300).await;
        })
    };
    // Restart Redis once part of the stream went through.
    assert!(
        eventually(Duration::from_secs(30), async || recorder
            .sorted_ids()
            .len()
            >= 100)
        .await,
        "entries did not flow before the restart"
    );
    let handled_before = recorder.sorted_ids().len();
    server.stop().await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    server.spawn().await;
    let restarted = Instant::now();
    publisher.await.expect("publisher");
    let published_in = restarted.elapsed();
    let all = (0..300).collect::<BTreeSet<u64>>();
    let mut seen = BTreeSet::new();
    let all_handled = eventually(Duration::from_secs(60), async || {
        seen = recorder.sorted_ids().into_iter().collect();
        all.is_subset(&seen)
    })
    .await;
    let lost: Vec<&u64> = all.difference(&seen).collect();
    assert!(all_handled, "entries never handled: {lost:?}");
    let recovered_in = restarted.elapsed();
    let mut redis = client.get_connection_manager().await.expect("connect");
    let mut left = u64::MAX;
    assert!(
        eventually(Duration::from_secs(10), async || {
            let (count, _, _, _): (u64, redis::Value, redis::Value, redis::Value) =
                redis::cmd("XPENDING")
                    .arg(key)
                    .arg("faults")
                    .query_async(&mut redis)
                    .await
                    .expect("XPENDING");
            left = count;
            count == 0
        })
        .await,
        "{left} entries stay pending after the restart"
    );
    println!(
        "Redis restart: 300 entries, {handled_before} handled before the restart, all added \
         {:.1} s and all handled {:.1} s after it came back ({} calls: at-least-once)",
        published_in.as_secs_f64(),
        recovered_in.as_secs_f64(),
        recorder.calls.lock().expect("lock").len()
    );

    // A restart that lost everything (no persistence): the group is created again and the
    // entries added afterwards are handled.
    server.stop().await;
    std::fs::remove_dir_all(&data).expect("remove the Redis files");
    std::fs::create_dir_all(&data).expect("mkdir");
    server.spawn().await;
    let mut redis = client.get_connection_manager().await.expect("connect");
    publish_until_added(&mut redis, key, 1000..1020).await;
    let again = (1000..1020).collect::<BTreeSet<u64>>();
    assert!(
        eventually(Duration::from_secs(30), async || {
            let seen: BTreeSet<u64> = recorder.sorted_ids().into_iter().collect();
            again.is_subset(&seen)
        })
        .await,
        "entries added after Redis lost its data were not handled"
    );

    engine.server.registry.undeploy("consumer", "1").await;
    server.stop().await;
}
