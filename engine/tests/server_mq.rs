//! MQ triggers of deployed VMS against the real NATS JetStream server (`STARWEAVE_TEST_NATS`,
//! default 127.0.0.1:4222) and Redis (`STARWEAVE_TEST_REDIS`): every message handled once,
//! retries with growing waits then the dead-letter subject, the concurrency bound, and hot
//! swaps in the middle of a stream of messages, and a new version moving the durable consumer
//! to another subject. Each test has its own stream, subjects and
//! keys, and removes them at the end.

mod mq_common;
mod server_common;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use mq_common::{
    ExactlyOnce, HotSwap, Mq, Recorder, assert_bounded, assert_dead_letters, assert_outcomes,
    assert_retried, eventually, nats_url, recorder_env, spec, start_recorder, unique,
    write_recorder_vms,
};
use serde_json::json;

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

/// NATS at `url`, with the JetStream stream `stream`, as the test VMS see it.
fn mq(url: &str, stream: &str) -> Mq {
    let events = format!("kind: mq\nbroker: nats\nurl_env: NATS_URL\nstream: {stream}\n");
    Mq::new(events, &[("NATS_URL", url)])
}

/// Waits up to 10 s for the trigger to create `stream`; whether it did.
async fn stream_created(js: &async_nats::jetstream::Context, stream: &str) -> bool {
    eventually(Duration::from_secs(10), async || {
        js.get_stream(stream).await.is_ok()
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_messages_are_each_handled_exactly_once() {
    let nats = nats_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let subject = format!("sw-mq.{tag}.orders");
    let triggers = format!(
        "- kind: mq\n  function: count\n  connector: events\n  subject: {subject}\n  create_stream: true\n"
    );
    let mut once = ExactlyOnce::start(&mq(&nats, &stream), &triggers, "message").await;

    let js = jetstream(&nats).await;
    // The trigger creates the stream; wait for it rather than racing it.
    assert!(
        stream_created(&js, &stream).await,
        "the trigger did not create stream {stream}"
    );
    let started = Instant::now();
    publish(&js, &subject, 0..200).await;
    once.wait_all_handled().await;
    let elapsed = started.elapsed();
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
    once.assert_once().await;
    println!(
        "200 messages published and handled in {:.0} ms ({:.0} messages/s)",
        elapsed.as_secs_f64() * 1000.0,
        200.0 / elapsed.as_secs_f64()
    );

    once.finish(&[]).await;
    js.delete_stream(&stream).await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_message_is_retried_with_growing_waits_then_dead_lettered() {
    let nats = nats_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let subject = format!("sw-mq.{tag}.in");
    let dead = format!("sw-mq.{tag}.dead");
    let recorder = Recorder::failing_on([7]);
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {subject}\n  create_stream: true\n  dead_letter: {dead}\n  max_deliveries: 4\n  metadata_field: meta\n  backoff: {{ initial_ms: 200, multiplier: 2 }}\n"
    );
    let (engine, _vms) = start_recorder(&mq(&nats, &stream), &triggers, &recorder).await;
    let js = jetstream(&nats).await;
    assert!(stream_created(&js, &stream).await);
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
    // A payload that is not an object is dead-lettered at once, not retried. It carries a
    // message id for the server's duplicate check, which its dead letter (in the same
    // stream) must not inherit, and a header of the sender's, which it keeps.
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("Nats-Msg-Id", format!("shapeless-{tag}").as_str());
    headers.insert("X-Origin", "billing");
    js.publish_with_headers(subject.clone(), headers, "[1, 2]".into())
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
    let shapeless = shapeless[0];
    assert_dead_letters(refused, shapeless, "4", |m| m.payload.to_vec(), header);
    assert_eq!(header(refused, "Starweave-Subject"), subject);
    assert_eq!(header(shapeless, "X-Origin"), "billing");
    assert_ne!(header(shapeless, "Nats-Msg-Id"), format!("shapeless-{tag}"));

    // Message 7 came four times, with waits of at least 200, 400 and 800 ms between them;
    // the others once.
    assert_retried(&recorder, 7, &[200, 400, 800], "message");
    assert_eq!(recorder.sorted_ids_except(7), [6, 8]);
    assert_outcomes(&engine, [2, 3, 2]).await;

    engine.server.registry.undeploy("consumer", "1").await;
    js.delete_stream(&stream).await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_messages_than_max_concurrency_run_at_once() {
    let nats = nats_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let subject = format!("sw-mq.{tag}.in");
    let recorder = Recorder::taking(Duration::from_millis(100));
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
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {subject}\n  create_stream: true\n  max_concurrency: 3\n  metadata_field: meta\n"
    );
    let (engine, _vms) = start_recorder(&mq(&nats, &stream), &triggers, &recorder).await;
    assert_bounded(&recorder, 30, 3, "messages").await;
    engine.server.registry.undeploy("consumer", "1").await;
    js.delete_stream(&stream).await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swaps_during_a_stream_of_messages_lose_none_and_repeat_none() {
    let nats = nats_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let subject = format!("sw-mq.{tag}.events");
    let triggers = format!(
        "- kind: mq\n  function: count\n  connector: events\n  subject: {subject}\n  create_stream: true\n  durable: swapper-count\n"
    );
    let mut swap = HotSwap::start(&mq(&nats, &stream), &triggers, "messages").await;
    let js = jetstream(&nats).await;
    assert!(stream_created(&js, &stream).await);
    swap.run(async |ids| publish(&js, &subject, ids).await)
        .await;
    swap.finish(&[]).await;
    js.delete_stream(&stream).await.expect("delete stream");
}

/// The filter subject of the durable `durable` on `stream`, when it exists.
async fn filter_subject(
    js: &async_nats::jetstream::Context,
    stream: &str,
    durable: &str,
) -> Option<String> {
    let stream = js.get_stream(stream).await.ok()?;
    let info = stream.consumer_info(durable).await.ok()?;
    Some(info.config.filter_subject)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_with_another_subject_moves_the_durable_to_it() {
    let nats = nats_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let first = format!("sw-mq.{tag}.first");
    let second = format!("sw-mq.{tag}.second");
    let durable = format!("mover-{tag}");
    let js = jetstream(&nats).await;
    js.create_stream(async_nats::jetstream::stream::Config {
        name: stream.clone(),
        subjects: vec![format!("sw-mq.{tag}.>")],
        ..Default::default()
    })
    .await
    .expect("create stream");
    let triggers = |subject: &str| {
        format!(
            "- kind: mq\n  function: handle\n  connector: events\n  subject: {subject}\n  durable: {durable}\n  metadata_field: meta\n"
        )
    };
    let broker = mq(&nats, &stream);
    let recorder = Recorder::taking(Duration::ZERO);
    let (engine, root) = start_recorder(&broker, &triggers(&first), &recorder).await;
    assert!(
        eventually(Duration::from_secs(10), async || {
            filter_subject(&js, &stream, &durable).await.as_deref() == Some(first.as_str())
        })
        .await,
        "version 1 did not create its durable on {first}"
    );
    publish(&js, &first, 0..1).await;
    assert!(
        recorder.wait_calls(1, Duration::from_secs(10)).await,
        "version 1 did not handle its message"
    );

    // Version 2 replaces it (its subscription stops), with the same durable on another subject.
    let dir = write_recorder_vms(root.path(), "consumer-v2", &broker, &triggers(&second));
    engine
        .server
        .registry
        .deploy(
            spec("consumer", "2", &dir, &recorder_env(&broker)),
            Some(recorder.clone()),
        )
        .await
        .expect("deploy version 2");
    assert!(
        eventually(Duration::from_secs(10), async || {
            filter_subject(&js, &stream, &durable).await.as_deref() == Some(second.as_str())
        })
        .await,
        "the durable still filters {:?}, not {second}",
        filter_subject(&js, &stream, &durable).await
    );
    publish(&js, &second, 1..2).await;
    assert!(
        recorder.wait_calls(2, Duration::from_secs(10)).await,
        "the message on the new subject was not handled: calls {:?}",
        recorder.ids()
    );
    // The old subject no longer reaches the function.
    publish(&js, &first, 2..3).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(recorder.sorted_ids(), [0, 1]);

    engine.server.registry.undeploy("consumer", "2").await;
    engine.server.registry.undeploy("consumer", "1").await;
    js.delete_stream(&stream).await.expect("delete stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_durable_the_server_will_not_update_keeps_the_subscription_from_starting() {
    let nats = nats_url();
    let tag = unique();
    let stream = format!("SWMQ_{tag}");
    let subject = format!("sw-mq.{tag}.in");
    let durable = format!("taken-{tag}");
    let js = jetstream(&nats).await;
    let created = js
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .expect("create stream");
    // Someone else's durable of the same name, acknowledging all at once: JetStream cannot
    // change an ack policy, so the trigger cannot have it as it needs it.
    created
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some(durable.clone()),
            filter_subject: subject.clone(),
            ack_policy: async_nats::jetstream::consumer::AckPolicy::All,
            ..Default::default()
        })
        .await
        .expect("create the other durable");
    let triggers = format!(
        "- kind: mq\n  function: handle\n  connector: events\n  subject: {subject}\n  durable: {durable}\n  metadata_field: meta\n"
    );
    let recorder = Recorder::taking(Duration::ZERO);
    let (engine, _root) = start_recorder(&mq(&nats, &stream), &triggers, &recorder).await;
    publish(&js, &subject, 0..1).await;
    // The subscription gave up at once: nothing comes, however long one waits (3 s here,
    // three times what a pull request waits).
    assert!(
        !recorder.wait_calls(1, Duration::from_secs(3)).await,
        "the trigger used a durable whose settings differ from its own"
    );
    let info = created
        .consumer_info(&durable)
        .await
        .expect("consumer info");
    assert_eq!(
        info.config.ack_policy,
        async_nats::jetstream::consumer::AckPolicy::All,
        "the other durable is left as it was"
    );

    engine.server.registry.undeploy("consumer", "1").await;
    js.delete_stream(&stream).await.expect("delete stream");
}
