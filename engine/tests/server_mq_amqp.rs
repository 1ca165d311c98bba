//! MQ triggers on AMQP queues against the real RabbitMQ (`STARWEAVE_TEST_AMQP`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`) and Redis (`STARWEAVE_TEST_REDIS`): every message
//! handled once, retries through the delay queue with growing waits then the dead-letter
//! queue, rejection into the broker's own dead-lettering, the concurrency bound, a queue that
//! appears late, hot swaps in the middle of a stream of messages, and a connection cut under
//! load, and an unload while the broker accepts the connection but never answers. Each test
//! has its own queues and keys, and deletes them at the end.

mod mq_common;
mod server_common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use lapin::options::{
    BasicGetOptions, BasicPublishOptions, ConfirmSelectOptions, QueueDeclareOptions,
    QueueDeleteOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use mq_common::{
    ExactlyOnce, HotSwap, Mq, Recorder, amqp_url, assert_bounded, assert_dead_letters,
    assert_outcomes, assert_retried, eventually, host_port, start_recorder, start_recorder_with,
    unique,
};
use serde_json::{Value, json};
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

/// RabbitMQ at `url` as the test VMS see it.
fn mq(url: &str) -> Mq {
    Mq::new(
        "kind: mq\nbroker: amqp\nurl_env: AMQP_URL\n",
        &[("AMQP_URL", url)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_messages_are_each_handled_exactly_once() {
    let amqp = amqp_url();
    let tag = unique();
    let queue = format!("sw-amqp-{tag}");
    let triggers = format!(
        "- kind: mq\n  function: count\n  connector: events\n  subject: {queue}\n  create_stream: true\n"
    );
    let mut once = ExactlyOnce::start(&mq(&amqp), &triggers, "message").await;
    let broker = Broker::connect(&amqp).await;
    // The trigger declares the queue; wait for its consumer rather than racing it.
    assert!(
        broker.consumed(&queue).await,
        "the trigger did not start consuming {queue}"
    );
    broker.send_ids(&queue, 0..200).await;

    once.wait_all_handled().await;
    assert!(
        eventually(Duration::from_secs(5), async || once.ok_count() == 200).await,
        "acknowledged: {}",
        once.ok_count()
    );
    // Once acknowledged nothing comes again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    once.assert_once().await;
    assert_eq!(broker.ready(&queue).await, 0);

    once.finish(&[]).await;
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
    let recorder = Recorder::failing_on([7]);
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {queue}\n  create_stream: true\n  dead_letter: {dead}\n  max_deliveries: 4\n  metadata_field: meta\n  backoff: {{ initial_ms: 200, multiplier: 2 }}\n"
    );
    let (engine, _vms) = start_recorder(&mq(&amqp), &triggers, &recorder).await;
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
    let shapeless = shapeless[0];
    assert_dead_letters(refused, shapeless, "4", |m| m.data.clone(), header);
    assert_eq!(header(refused, "Starweave-Queue"), queue);
    assert_eq!(refused.properties.delivery_mode(), &Some(2));
    assert!(refused.properties.expiration().is_none());

    // Message 7 came four times, with waits of at least 200, 400 and 800 ms between them;
    // the others once.
    assert_retried(&recorder, 7, &[200, 400, 800], "message");
    assert_eq!(recorder.sorted_ids_except(7), [6, 8]);
    assert_outcomes(&engine, [2, 3, 2]).await;
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
    let recorder = Recorder::failing_on([3]);
    // Without create_stream the trigger uses the queue as it is.
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {queue}\n  max_deliveries: 1\n  metadata_field: meta\n"
    );
    let (engine, _vms) = start_recorder(&mq(&amqp), &triggers, &recorder).await;
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
    let recorder = Recorder::taking(Duration::from_millis(100));
    // Deployed before its queue exists: the deployment loads, the trigger keeps trying.
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {queue}\n  max_concurrency: 3\n  max_deliveries: 1\n  metadata_field: meta\n"
    );
    let (engine, _vms) = start_recorder(&mq(&amqp), &triggers, &recorder).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let broker = Broker::connect(&amqp).await;
    broker.declare(&queue, FieldTable::default()).await;
    broker.send_ids(&queue, 0..30).await;
    assert_bounded(&recorder, 30, 3, "messages").await;
    engine.server.registry.undeploy("consumer", "1").await;
    broker.delete(&[&queue]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_dead_letter_queue_holds_the_subscription_until_it_exists() {
    let amqp = amqp_url();
    let tag = unique();
    let queue = format!("sw-amqp-{tag}");
    let dead = format!("sw-amqp-{tag}.dead");
    let broker = Broker::connect(&amqp).await;
    broker.declare(&queue, FieldTable::default()).await;
    let recorder = Recorder::failing_on([5]);
    // Without create_stream the dead-letter queue must exist too: consuming before it does
    // would leave failed messages nowhere to go.
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {queue}\n  dead_letter: {dead}\n  max_deliveries: 1\n  metadata_field: meta\n"
    );
    let (engine, _vms) = start_recorder(&mq(&amqp), &triggers, &recorder).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        broker.inspect(&queue).await,
        Some((0, 0)),
        "the subscription consumed without its dead-letter queue"
    );
    broker.declare(&dead, FieldTable::default()).await;
    assert!(
        broker.consumed(&queue).await,
        "no consumer once the dead-letter queue exists"
    );
    broker.send_ids(&queue, 4..7).await;
    assert!(
        eventually(Duration::from_secs(10), async || broker.ready(&dead).await
            == 1)
        .await,
        "the failed message did not reach the dead-letter queue"
    );
    let letter = broker.take(&dead).await.expect("dead letter");
    assert_eq!(
        serde_json::from_slice::<Value>(&letter.data).expect("json"),
        json!({"id": 5})
    );
    assert!(recorder.wait_calls(3, Duration::from_secs(5)).await);
    assert_eq!(recorder.sorted_ids(), [4, 5, 6]);
    engine.server.registry.undeploy("consumer", "1").await;
    broker.delete(&[&queue, &dead]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swaps_during_a_stream_of_messages_lose_none_and_repeat_none() {
    let amqp = amqp_url();
    let tag = unique();
    let queue = format!("sw-amqp-{tag}");
    let triggers = format!(
        "- kind: mq\n  function: count\n  connector: events\n  subject: {queue}\n  create_stream: true\n"
    );
    let mut swap = HotSwap::start(&mq(&amqp), &triggers, "messages").await;
    let broker = Broker::connect(&amqp).await;
    // Declared here too (the same durable queue) so that no message is published before it.
    broker.declare(&queue, FieldTable::default()).await;
    swap.run(async |ids| broker.send_ids(&queue, ids).await)
        .await;
    swap.finish(&[]).await;
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
    let authority = host_port(&amqp);
    let link = mq_common::CuttableLink::start(&authority).await;
    let through_link = amqp.replacen(&authority, &format!("127.0.0.1:{}", link.port), 1);
    let recorder = Recorder::taking(Duration::from_millis(20));
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {queue}\n  max_concurrency: 4\n  metadata_field: meta\n"
    );
    let (engine, _vms) = start_recorder(&mq(&through_link), &triggers, &recorder).await;
    assert!(broker.consumed(&queue).await, "no consumer on {queue}");
    broker.send_ids(&queue, 0..100).await;
    assert!(
        recorder.wait_calls(20, Duration::from_secs(10)).await,
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unload_does_not_wait_for_a_broker_that_does_not_answer() {
    // A "broker" that accepts TCP connections and never says a word: the AMQP handshake
    // hangs until the engine gives up on it.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(socket);
        }
    });
    let url = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let recorder = Recorder::taking(Duration::ZERO);
    let triggers = "- kind: mq\n  function: handle\n  connector: events\n  subject: orders\n  metadata_field: meta\n";
    // The drain may take 5 s, less than the 10 s the engine allows a connection to open:
    // only abandoning the handshake when the trigger stops drains in time.
    let options = EngineOptions {
        drain_timeout: Duration::from_secs(5),
        ..EngineOptions::default()
    };
    let (engine, _vms) = start_recorder_with(&mq(&url), triggers, &recorder, options).await;
    assert!(
        eventually(Duration::from_secs(10), async || accepted
            .load(std::sync::atomic::Ordering::SeqCst)
            >= 1)
        .await,
        "the trigger never connected to the silent broker"
    );
    assert_eq!(
        engine.server.registry.undeploy("consumer", "1").await,
        Some(true),
        "the unload did not drain: the subscription kept waiting for the handshake"
    );
    assert!(recorder.ids().is_empty());
}
