//! The AMQP publish connector against a real RabbitMQ (`STARWEAVE_TEST_AMQP`, default
//! `amqp://guest:guest@127.0.0.1:5672/%2f`; `cargo xtask test` starts one).
//!
//! Each test declares its own exchange and an exclusive, server-named queue bound to it,
//! publishes through [`LiveConnectors`], and reads the message back with lapin.

mod io_common;

use io_common::{RABBITMQ, call, live, live_with_diagnostics, unique};
use lapin::options::{
    BasicGetOptions, ExchangeDeclareOptions, ExchangeDeleteOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ConnectionProperties, ExchangeKind};
use serde_json::{Value, json};
use starweave_engine::io::LiveConnectors;

/// A test's own exchange and queue, and the channel that reads the queue.
struct Fixture {
    url: String,
    exchange: String,
    queue: String,
    channel: Channel,
    _connection: Connection,
}

/// Declares a fresh topic exchange and an exclusive queue bound to it with `binding`.
async fn fixture(binding: &str) -> Fixture {
    let url = RABBITMQ.url();
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .expect("the test connects to RabbitMQ");
    let channel = connection.create_channel().await.expect("channel");
    let exchange = unique("sw-test-ex-");
    channel
        .exchange_declare(
            exchange.as_str().into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions {
                auto_delete: true,
                ..ExchangeDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("exchange_declare");
    let queue = channel
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue_declare")
        .name()
        .to_string();
    channel
        .queue_bind(
            queue.as_str().into(),
            exchange.as_str().into(),
            binding.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("queue_bind");
    Fixture {
        url,
        exchange,
        queue,
        channel,
        _connection: connection,
    }
}

impl Fixture {
    /// The next message in the queue; the broker has confirmed it, so it is there.
    async fn next(&self) -> lapin::message::Delivery {
        self.channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic_get")
            .expect("a confirmed message is in the queue")
            .delivery
    }

    async fn is_empty(&self) -> bool {
        self.channel
            .basic_get(self.queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic_get")
            .is_none()
    }

    async fn delete_exchange(&self) {
        self.channel
            .exchange_delete(
                self.exchange.as_str().into(),
                ExchangeDeleteOptions::default(),
            )
            .await
            .expect("exchange_delete");
    }

    fn connectors(&self) -> LiveConnectors {
        let yaml = format!(
            r##"
kind: mq
broker: amqp
url_env: AMQP_URL
methods:
- name: order_created
  exchange: {exchange}
  routing_key: "orders.{{{{ input.region }}}}"
  headers:
    x-order-id: "{{{{ input.id }}}}"
    x-source: starweave
  payload: "#{{ id: input.id, total: input.total }}"
- name: whole_input
  exchange: {exchange}
  routing_key: orders.eu
- name: nowhere
  exchange: {exchange}
  routing_key: "nobody.listens"
- name: missing_exchange
  exchange: {exchange}-missing
  routing_key: orders.eu
"##,
            exchange = self.exchange
        );
        live(&[("events", &yaml)], &[("AMQP_URL", &self.url)])
    }
}

fn header(delivery: &lapin::message::Delivery, name: &str) -> String {
    let headers = delivery
        .properties
        .headers()
        .as_ref()
        .expect("the message has headers");
    match headers.inner().get(name) {
        Some(AMQPValue::LongString(text)) => String::from_utf8_lossy(text.as_bytes()).into(),
        other => panic!("header {name}: {other:?}"),
    }
}

#[tokio::test]
async fn publishes_payload_headers_and_routing_key_once_confirmed() {
    let fx = fixture("orders.*").await;
    let live = fx.connectors();

    let out = call(
        &live,
        "events",
        "order_created",
        json!({ "id": "o-17", "region": "eu", "total": 42.5, "secret": "not sent" }),
    )
    .await
    .expect("publish");
    assert_eq!(out, json!({ "published": true }));

    let delivery = fx.next().await;
    assert_eq!(delivery.routing_key.as_str(), "orders.eu");
    assert_eq!(delivery.exchange.as_str(), fx.exchange);
    let payload: Value = serde_json::from_slice(&delivery.data).expect("JSON payload");
    assert_eq!(payload, json!({ "id": "o-17", "total": 42.5 }));
    assert_eq!(header(&delivery, "x-order-id"), "o-17");
    assert_eq!(header(&delivery, "x-source"), "starweave");
    assert_eq!(*delivery.properties.delivery_mode(), Some(2), "persistent");
    assert_eq!(
        delivery
            .properties
            .content_type()
            .as_ref()
            .map(|c| c.as_str()),
        Some("application/json")
    );

    // Without a payload expression the whole input is the message.
    let input = json!({ "id": "o-18", "lines": [1, 2, 3] });
    call(&live, "events", "whole_input", input.clone())
        .await
        .expect("publish");
    let delivery = fx.next().await;
    assert_eq!(
        serde_json::from_slice::<Value>(&delivery.data).expect("JSON"),
        input
    );
    assert!(fx.is_empty().await);
    fx.delete_exchange().await;
}

#[tokio::test]
async fn unroutable_messages_are_an_error_not_a_silent_loss() {
    let fx = fixture("orders.*").await;
    let live = fx.connectors();
    let err = call(&live, "events", "nowhere", json!({ "id": 1 }))
        .await
        .expect_err("no queue is bound to nobody.listens");
    assert_eq!(err.code.as_deref(), Some("AMQP_UNROUTABLE"), "{err:?}");
    assert!(err.message.contains("events.nowhere"), "{}", err.message);
    fx.delete_exchange().await;
}

#[tokio::test]
async fn a_failed_publish_reopens_the_channel_for_the_next_call() {
    let fx = fixture("orders.*").await;
    let live = fx.connectors();
    // Publishing to an exchange that does not exist makes the broker close the channel.
    let err = call(&live, "events", "missing_exchange", json!({ "id": 1 }))
        .await
        .expect_err("the exchange does not exist");
    assert_eq!(err.code, None, "a technical error: {err:?}");
    assert!(err.message.contains("publish failed"), "{}", err.message);

    // The next call opens a new channel and goes through.
    call(
        &live,
        "events",
        "order_created",
        json!({ "id": "o-19", "region": "eu", "total": 1 }),
    )
    .await
    .expect("publish after the failure");
    let delivery = fx.next().await;
    assert_eq!(header(&delivery, "x-order-id"), "o-19");
    fx.delete_exchange().await;
}

#[tokio::test]
async fn an_unreachable_broker_is_a_clear_error_without_the_password() {
    let yaml = r#"
kind: mq
broker: amqp
url_env: AMQP_URL
methods:
- name: ping
  exchange: amq.topic
  routing_key: ping
"#;
    // Port 1 on loopback: nothing listens there.
    let live = live(
        &[("events", yaml)],
        &[("AMQP_URL", "amqp://guest:hunter2-secret@127.0.0.1:1/%2f")],
    );
    let err = call(&live, "events", "ping", json!({}))
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(err.code, None, "{err:?}");
    assert!(
        err.message.contains("cannot connect") && err.message.contains("AMQP_URL"),
        "{}",
        err.message
    );
    assert!(!err.message.contains("hunter2"), "{}", err.message);

    // Without the env var the call says which one is missing.
    let live = io_common::live(&[("events", yaml)], &[]);
    let err = call(&live, "events", "ping", json!({}))
        .await
        .expect_err("no URL");
    assert!(err.message.contains("AMQP_URL"), "{}", err.message);
}

#[tokio::test]
async fn bad_methods_are_diagnostics_and_refuse_calls() {
    let yaml = r#"
kind: mq
broker: amqp
url_env: AMQP_URL
methods:
- name: with_subject
  subject: orders.created
- name: no_target
  payload: input
- name: bad_template
  exchange: x
  routing_key: "{{ input. }}"
"#;
    let (live, diagnostics) = live_with_diagnostics(&[("events", yaml)], &[]);
    let mut elements: Vec<_> = diagnostics
        .iter()
        .map(|d| {
            (
                d.code.as_str(),
                d.element.clone().unwrap_or_default(),
                d.file.clone().unwrap_or_default(),
            )
        })
        .collect();
    elements.sort();
    assert_eq!(
        elements,
        vec![
            (
                "connector.template",
                "events.bad_template".to_owned(),
                "connectors/events.yaml".to_owned()
            ),
            (
                "connector.template",
                "events.no_target".to_owned(),
                "connectors/events.yaml".to_owned()
            ),
            (
                "connector.template",
                "events.with_subject".to_owned(),
                "connectors/events.yaml".to_owned()
            ),
        ]
    );
    let err = call(&live, "events", "with_subject", json!({}))
        .await
        .expect_err("refused");
    assert!(err.message.contains("cannot run"), "{}", err.message);
}
