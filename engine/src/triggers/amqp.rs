//! MQ triggers on AMQP 0-9-1 (RabbitMQ): a function called for every message of a queue.
//!
//! # The consumer
//!
//! The trigger's `subject` names the **queue**. Each (VMS, trigger) opens one connection and
//! one channel, asks for at most `max_concurrency` unacknowledged messages at a time
//! (`basic.qos` prefetch, default 8) and consumes the queue with manual acknowledgements,
//! under the consumer tag `durable` (else `<vms>-<function>`) plus a unique suffix; the
//! connection is named `starweave <vms>/<version> mq <function>` in the broker's tools. With
//! `create_stream: true` the queue (and the `dead_letter` queue) are declared durable when
//! missing; otherwise they must exist, and until they do the error is logged and the
//! subscription tries again. Versions of a VMS consume the same queue: while a new version
//! takes over, the broker hands each message to one of them.
//!
//! # A message
//!
//! The body must be a JSON object: it is the function's input (plus, under `metadata_field`,
//! `{subject (the queue), exchange, routing_key, headers, delivered, message_id}`). The
//! message is **acknowledged only after the function succeeded**.
//!
//! AMQP has no "deliver again after a while", so a failed message is retried through a
//! **delay queue** `<queue>.starweave-retry` (declared when `max_deliveries` > 1; its
//! messages expire into the default exchange with the queue's name as routing key, i.e.
//! back into the queue): the engine publishes a copy there with the wait of the trigger's
//! `backoff` (default 1 s doubling up to 60 s) as its expiration and the deliveries so far
//! in the header `Starweave-Deliveries` (and the queue's name in `Starweave-Requeued-For`),
//! waits for the broker's confirmation, and only then acknowledges the original. The delivery
//! count is that header plus one when the message was requeued for this queue (or, for a message
//! that never failed here, RabbitMQ's `x-delivery-count` of quorum queues, or 2 when the
//! broker marks it redelivered). A classic queue expires messages from its head only, so a
//! short wait queued behind a long one waits for it too: waits are at least as long as
//! asked, never shorter.
//!
//! At the `max_deliveries`-th failed delivery (default 5), or at once for failures retrying
//! cannot fix (a body that is not a JSON object, an input the function refuses), the message
//! is published to the `dead_letter` queue (through the default exchange) with headers saying
//! why (`Starweave-Error`, `Starweave-Error-Code`, `Starweave-Deliveries`, `Starweave-Queue`,
//! `Starweave-Vms`, `Starweave-Version`, `Starweave-Function`, plus the original headers),
//! confirmed, then acknowledged. Without a `dead_letter` queue the message is **rejected
//! without requeueing**, so the queue's own dead-lettering (`x-dead-letter-exchange`), when
//! the broker has one configured, takes it; otherwise the broker drops it. Any publish that
//! is not confirmed (broker refusal, no queue to route to, a lost connection) leaves the
//! original unacknowledged and puts it back (`basic.nack` with requeue) after the wait for its
//! delivery, so a message leaves the queue only once it was handled, delayed or
//! dead-lettered, and a broken delay or dead-letter queue does not make it loop.
//!
//! A run cancelled by a drain (its version replaced or unloaded, and the drain timeout
//! passed) says nothing about the message: a copy goes straight back into the queue with
//! `Starweave-Deliveries` one less than this delivery, so that delivery does not count toward
//! `max_deliveries`, and the original is acknowledged once the copy is confirmed (requeued
//! when it is not).
//!
//! A delayed copy relies on the broker's dead-lettering to come back: RabbitMQ moves an
//! expired message from a classic queue at most once, so a copy expiring while the queue is
//! deleted, or refuses it because it is full (`x-overflow: reject-publish`), is dropped by the
//! broker. Keep the queue without a reject-publish length limit, or use `max_deliveries: 1`
//! and the queue's own dead-lettering where that matters.
//!
//! # Stopping and faults
//!
//! The subscription runs for the active version only. When the version is replaced or
//! unloaded it cancels its consumer, lets the messages it holds finish and be acknowledged
//! (unloading drains them like HTTP requests), then closes its channel; messages the broker
//! had sent but the engine had not started go back to the queue when the channel closes.
//! When the connection is lost, unacknowledged messages return to the queue by the broker's
//! own rule (at-least-once delivery) and the subscription reconnects with growing waits.

use std::sync::{Arc, Weak};
use std::time::Instant;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions,
    BasicPublishOptions, BasicQosOptions, BasicRejectOptions, ConfirmSelectOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Confirmation, Connection, ConnectionProperties};
use serde_json::{Map, Value, json};
use starweave_model::vms::trigger::MqTrigger;
use tokio::sync::{Semaphore, watch};

use super::mq::{self, Common, Outcome};
use crate::server::registry::{Deployment, LogLevel, Origin};

/// The header carrying how many deliveries a message had before it was put in the delay queue.
pub const DELIVERIES_HEADER: &str = "Starweave-Deliveries";
/// The queue a copy was put back into by the engine (through the delay queue, or directly
/// after a drain): only on such a copy does [`DELIVERIES_HEADER`] count deliveries from that
/// queue. A dead letter carries `Starweave-Deliveries` too, for whoever reads the
/// dead-letter queue, but never this header, so a dead letter moved back into the queue
/// (after the fault was fixed) gets its retries again instead of failing for good at once.
pub const REQUEUED_FOR_HEADER: &str = "Starweave-Requeued-For";
/// The suffix of a queue's delay queue.
pub const RETRY_SUFFIX: &str = starweave_model::vms::trigger::AMQP_RETRY_SUFFIX;
/// `delivery_mode` of a message the broker writes to disk.
const PERSISTENT: u8 = 2;
/// The longest connecting, opening the channel and declaring the queues may take.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The random characters after the durable name in a consumer tag.
const TAG_SUFFIX_LEN: usize = starweave_model::vms::trigger::AMQP_TAG_SUFFIX_LEN;

/// An AMQP subscription's settings.
#[derive(Debug, Clone)]
pub struct Subscription {
    common: Common,
    /// The connection's name in the broker's tools: `starweave <vms>/<version> mq <function>`.
    connection_name: String,
    queue: ShortString,
    retry_queue: Option<ShortString>,
    dead_letter: Option<ShortString>,
    create: bool,
    prefetch: u16,
}

/// Resolves an AMQP trigger against its deployment; the error says what is wrong.
pub fn subscription(deployment: &Deployment, trigger: &MqTrigger) -> Result<Subscription, String> {
    let (_, common) = mq::common(deployment, trigger)?;
    if trigger.stream.is_some() {
        return Err(
            "`stream` is for NATS JetStream; an AMQP trigger names its queue in `subject`".into(),
        );
    }
    let queue = ShortString::try_new(common.subject.clone())
        .map_err(|e| format!("queue `{}`: {e}", common.subject))?;
    let retry_queue = if common.max_deliveries > 1 {
        Some(
            ShortString::try_new(format!("{}{RETRY_SUFFIX}", common.subject))
                .map_err(|e| format!("the delay queue of `{}`: {e}", common.subject))?,
        )
    } else {
        None
    };
    let dead_letter = common
        .dead_letter
        .as_deref()
        .map(|d| ShortString::try_new(d).map_err(|e| format!("dead_letter `{d}`: {e}")))
        .transpose()?;
    if dead_letter.as_ref() == Some(&queue) {
        return Err("the dead-letter queue is the queue itself".into());
    }
    // The consumer tag is the durable name and a dash and eight characters (see `consume`):
    // a short string too, so checked here rather than failing once the loop runs.
    let longest_tag = format!("{}-{}", common.durable, "0".repeat(TAG_SUFFIX_LEN));
    if let Err(e) = ShortString::try_new(longest_tag) {
        return Err(format!(
            "durable `{}`: the consumer tag made of it: {e}",
            common.durable
        ));
    }
    let prefetch = u16::try_from(common.concurrency).unwrap_or(u16::MAX);
    Ok(Subscription {
        connection_name: format!(
            "starweave {}/{} mq {}",
            deployment.vms, deployment.version, common.function
        ),
        queue,
        retry_queue,
        dead_letter,
        create: trigger.create_stream,
        prefetch,
        common,
    })
}

/// Starts a deployment's AMQP trigger.
pub fn start(deployment: &Arc<Deployment>, trigger: &MqTrigger) -> Result<(), String> {
    let subscription = subscription(deployment, trigger)?;
    mq::spawn_loop(
        deployment,
        run(
            Arc::downgrade(deployment),
            Arc::new(subscription),
            mq::stop_signal(deployment),
        ),
    );
    Ok(())
}

fn log_error(deployment: &Weak<Deployment>, subscription: &Subscription, what: &str, error: &str) {
    if let Some(d) = deployment.upgrade() {
        tracing::error!(
            vms = d.vms,
            version = d.version,
            function = subscription.common.function,
            trigger = "mq",
            queue = subscription.queue.as_str(),
            error,
            "{what}"
        );
    }
}

/// An open connection, its channel and the consumer on it.
struct Link {
    connection: Connection,
    channel: Channel,
    consumer: lapin::Consumer,
    tag: ShortString,
}

/// Connects, declares what the subscription needs and starts consuming.
async fn connect(subscription: &Subscription) -> Result<Link, String> {
    let properties = ConnectionProperties::default()
        .with_connection_name(subscription.connection_name.as_str().into());
    let connection = crate::io::amqp::connect(&subscription.common.url, properties)
        .await
        .map_err(|e| format!("cannot connect to the AMQP broker: {e}"))?;
    let channel = connection
        .create_channel()
        .await
        .map_err(|e| format!("cannot open a channel: {e}"))?;
    channel
        .confirm_select(ConfirmSelectOptions::default())
        .await
        .map_err(|e| format!("cannot enable publisher confirms: {e}"))?;
    channel
        .basic_qos(subscription.prefetch, BasicQosOptions::default())
        .await
        .map_err(|e| format!("cannot set the prefetch count: {e}"))?;
    let durable = QueueDeclareOptions {
        durable: true,
        ..QueueDeclareOptions::default()
    };
    let existing = QueueDeclareOptions {
        passive: true,
        ..QueueDeclareOptions::default()
    };
    let options = if subscription.create {
        durable
    } else {
        existing
    };
    channel
        .queue_declare(subscription.queue.clone(), options, FieldTable::default())
        .await
        .map_err(|e| format!("queue {} is not usable: {e}", subscription.queue))?;
    if let Some(dead_letter) = &subscription.dead_letter {
        // Checked like the queue itself: a missing dead-letter queue stops the subscription
        // at the start, not message by message.
        channel
            .queue_declare(dead_letter.clone(), options, FieldTable::default())
            .await
            .map_err(|e| format!("dead-letter queue {dead_letter} is not usable: {e}"))?;
    }
    if let Some(retry) = &subscription.retry_queue {
        let mut arguments = FieldTable::default();
        arguments.insert(
            "x-dead-letter-exchange".into(),
            AMQPValue::LongString(LongString::from("")),
        );
        arguments.insert(
            "x-dead-letter-routing-key".into(),
            AMQPValue::LongString(LongString::from(subscription.queue.as_str())),
        );
        channel
            .queue_declare(retry.clone(), durable, arguments)
            .await
            .map_err(|e| format!("cannot declare the delay queue {retry}: {e}"))?;
    }
    let tag = ShortString::from(format!(
        "{}-{}",
        subscription.common.durable,
        &uuid::Uuid::new_v4().simple().to_string()[..TAG_SUFFIX_LEN]
    ));
    let consumer = channel
        .basic_consume(
            subscription.queue.clone(),
            tag.clone(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .map_err(|e| format!("cannot consume queue {}: {e}", subscription.queue))?;
    Ok(Link {
        connection,
        channel,
        consumer,
        tag,
    })
}

/// The consume loop of one subscription: see the module docs.
async fn run(
    deployment: Weak<Deployment>,
    subscription: Arc<Subscription>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(subscription.common.concurrency as usize));
    let mut failures: u32 = 0;
    while !*stop.borrow() {
        // A connection to an unreachable broker can hang for minutes: stopping does not wait.
        let connected = tokio::select! {
            connected = tokio::time::timeout(CONNECT_TIMEOUT, connect(&subscription)) => connected
                .unwrap_or_else(|_| Err("no answer from the AMQP broker within 10 s".into())),
            _ = stop.changed() => break,
        };
        let mut link = match connected {
            Ok(link) => link,
            Err(error) => {
                log_error(
                    &deployment,
                    &subscription,
                    "the subscription cannot start",
                    &error,
                );
                failures += 1;
                let _ = tokio::time::timeout(mq::retry_wait(failures), stop.changed()).await;
                continue;
            }
        };
        failures = 0;
        if let Some(d) = deployment.upgrade()
            && d.logs(LogLevel::Info)
        {
            tracing::info!(
                vms = d.vms,
                version = d.version,
                function = subscription.common.function,
                trigger = "mq",
                queue = subscription.queue.as_str(),
                consumer = link.tag.as_str(),
                "subscribed"
            );
        }
        let lost = loop {
            let next = tokio::select! {
                next = link.consumer.next() => next,
                _ = stop.changed() => break false,
            };
            let delivery = match next {
                Some(Ok(delivery)) => delivery,
                Some(Err(error)) => {
                    log_error(
                        &deployment,
                        &subscription,
                        "the connection to the broker was lost",
                        &error.to_string(),
                    );
                    break true;
                }
                None => {
                    log_error(
                        &deployment,
                        &subscription,
                        "the broker cancelled the consumer",
                        "the queue was deleted or the channel closed",
                    );
                    break true;
                }
            };
            // The prefetch count keeps deliveries within the slots; the wait is for the
            // rare overlap right after a reconnection.
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break false;
            };
            let Some(alive) = deployment.upgrade() else {
                // Unloaded under our feet: give the message back at once.
                let _ = delivery
                    .acker
                    .nack(BasicNackOptions {
                        requeue: true,
                        ..BasicNackOptions::default()
                    })
                    .await;
                break false;
            };
            let subscription = subscription.clone();
            let channel = link.channel.clone();
            // Counted before the task starts, so that a drain cannot miss it.
            let in_flight = alive.enter();
            tokio::spawn(async move {
                let _in_flight = in_flight;
                handle(&alive, &subscription, &channel, delivery).await;
                drop(permit);
            });
        };
        if !lost {
            // Stopping: no more deliveries, then the messages in hand finish and are acked
            // before the channel closes. After a lost connection there is nothing to wait
            // for: their acks cannot arrive, the broker delivers them again, and the shared
            // slots keep the handlers still running within `max_concurrency`.
            let _ = link
                .channel
                .basic_cancel(link.tag.clone(), BasicCancelOptions::default())
                .await;
            let _ = slots
                .acquire_many(subscription.common.concurrency)
                .await
                .map(drop);
        }
        let _ = link.channel.close(200, "stopping".into()).await;
        let _ = link.connection.close(200, "stopping".into()).await;
        if deployment.strong_count() == 0 {
            return;
        }
        if lost {
            failures += 1;
            let _ = tokio::time::timeout(mq::retry_wait(failures), stop.changed()).await;
        }
    }
}

/// How many times a message was delivered from `queue`, this delivery included.
pub fn deliveries(properties: &BasicProperties, redelivered: bool, queue: &str) -> u32 {
    let value = |name: &str| {
        properties
            .headers()
            .as_ref()
            .and_then(|h| h.inner().get(name))
    };
    let header = |name: &str| value(name).and_then(amqp_count);
    let requeued_here = match value(REQUEUED_FOR_HEADER) {
        Some(AMQPValue::LongString(s)) => s.as_bytes() == queue.as_bytes(),
        Some(AMQPValue::ShortString(s)) => s.as_str() == queue,
        _ => false,
    };
    if requeued_here && let Some(before) = header(DELIVERIES_HEADER) {
        return before.saturating_add(1);
    }
    if let Some(before) = header("x-delivery-count") {
        return before.saturating_add(1);
    }
    if redelivered { 2 } else { 1 }
}

/// A count carried in a header of any integer (or numeric text) kind.
fn amqp_count(value: &AMQPValue) -> Option<u32> {
    let n: i64 = match value {
        AMQPValue::ShortShortInt(v) => i64::from(*v),
        AMQPValue::ShortShortUInt(v) => i64::from(*v),
        AMQPValue::ShortInt(v) => i64::from(*v),
        AMQPValue::ShortUInt(v) => i64::from(*v),
        AMQPValue::LongInt(v) => i64::from(*v),
        AMQPValue::LongUInt(v) => i64::from(*v),
        AMQPValue::LongLongInt(v) => *v,
        AMQPValue::ShortString(s) => s.as_str().trim().parse().ok()?,
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes())
            .ok()?
            .trim()
            .parse()
            .ok()?,
        _ => return None,
    };
    u32::try_from(n.max(0)).ok()
}

/// A header value as JSON: numbers, booleans and text as themselves, tables and arrays
/// member by member, bytes that are not UTF-8 as an array of numbers.
pub fn amqp_to_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => Value::Bool(*b),
        AMQPValue::ShortShortInt(v) => json!(v),
        AMQPValue::ShortShortUInt(v) => json!(v),
        AMQPValue::ShortInt(v) => json!(v),
        AMQPValue::ShortUInt(v) => json!(v),
        AMQPValue::LongInt(v) => json!(v),
        AMQPValue::LongUInt(v) => json!(v),
        AMQPValue::LongLongInt(v) => json!(v),
        AMQPValue::Float(v) => json!(v),
        AMQPValue::Double(v) => json!(v),
        AMQPValue::DecimalValue(d) => {
            json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale)))
        }
        AMQPValue::ShortString(s) => Value::String(s.as_str().to_owned()),
        AMQPValue::LongString(s) => bytes_to_json(s.as_bytes()),
        AMQPValue::ByteArray(b) => bytes_to_json(b.as_slice()),
        AMQPValue::FieldArray(items) => {
            Value::Array(items.as_slice().iter().map(amqp_to_json).collect())
        }
        AMQPValue::Timestamp(t) => json!(t),
        AMQPValue::FieldTable(table) => Value::Object(table_to_json(table)),
        AMQPValue::Void => Value::Null,
    }
}

fn bytes_to_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => Value::String(text.to_owned()),
        Err(_) => Value::Array(bytes.iter().map(|b| json!(b)).collect()),
    }
}

fn table_to_json(table: &FieldTable) -> Map<String, Value> {
    table
        .inner()
        .iter()
        .map(|(k, v)| (k.as_str().to_owned(), amqp_to_json(v)))
        .collect()
}

/// The function's input for a delivery: its JSON object body, plus metadata.
fn delivery_input(
    subscription: &Subscription,
    delivery: &Delivery,
    delivered: u32,
) -> Result<Value, String> {
    let mut input = mq::payload_object(&delivery.data)?;
    if let Some(field) = &subscription.common.metadata_field {
        let headers = delivery
            .properties
            .headers()
            .as_ref()
            .map(table_to_json)
            .unwrap_or_default();
        input.insert(
            field.clone(),
            json!({
                "subject": subscription.queue.as_str(),
                "exchange": delivery.exchange.as_str(),
                "routing_key": delivery.routing_key.as_str(),
                "headers": headers,
                "delivered": delivered,
                "message_id": delivery.properties.message_id().as_ref().map(ShortString::as_str),
            }),
        );
    }
    Ok(Value::Object(input))
}

/// The properties of a copy of `original` (content type and encoding, ids, reply-to,
/// timestamp, type, app id, priority and headers) plus `headers`, persistent; its user id and expiration are not
/// copied (the broker checks the first against the connection's user, and the second would
/// make a dead letter expire).
fn copy_properties(original: &BasicProperties, extra: &[(&str, String)]) -> BasicProperties {
    // A copy is requeued for a queue only when `extra` says so (see `REQUEUED_FOR_HEADER`).
    let mut kept = original
        .headers()
        .as_ref()
        .map(|h| h.inner().clone())
        .unwrap_or_default();
    kept.retain(|name, _| name.as_str() != REQUEUED_FOR_HEADER);
    let mut headers = FieldTable::from(kept);
    for (name, value) in extra {
        headers.insert(
            ShortString::from(*name),
            AMQPValue::LongString(LongString::from(value.as_bytes())),
        );
    }
    let mut properties = BasicProperties::default()
        .with_delivery_mode(PERSISTENT)
        .with_headers(headers);
    if let Some(v) = original.content_type() {
        properties = properties.with_content_type(v.clone());
    }
    if let Some(v) = original.content_encoding() {
        properties = properties.with_content_encoding(v.clone());
    }
    if let Some(v) = original.correlation_id() {
        properties = properties.with_correlation_id(v.clone());
    }
    if let Some(v) = original.message_id() {
        properties = properties.with_message_id(v.clone());
    }
    if let Some(v) = original.timestamp() {
        properties = properties.with_timestamp(*v);
    }
    if let Some(v) = original.kind() {
        properties = properties.with_type(v.clone());
    }
    if let Some(v) = original.reply_to() {
        properties = properties.with_reply_to(v.clone());
    }
    if let Some(v) = original.app_id() {
        properties = properties.with_app_id(v.clone());
    }
    if let Some(v) = original.priority() {
        properties = properties.with_priority(*v);
    }
    properties
}

/// Publishes to a queue through the default exchange and waits for the broker to take it.
async fn publish_to_queue(
    channel: &Channel,
    queue: &ShortString,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), String> {
    let options = BasicPublishOptions {
        mandatory: true,
        ..BasicPublishOptions::default()
    };
    let confirmation = channel
        .basic_publish("".into(), queue.clone(), options, body, properties)
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    match confirmation {
        Confirmation::Ack(None) => Ok(()),
        Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)) => {
            Err(format!("no queue named {queue} took the message"))
        }
        Confirmation::Nack(None) => Err("the broker refused the message".into()),
        Confirmation::NotRequested => Err("the broker did not confirm the message".into()),
    }
}

async fn handle(
    deployment: &Arc<Deployment>,
    subscription: &Subscription,
    channel: &Channel,
    delivery: Delivery,
) {
    let delivered = deliveries(
        &delivery.properties,
        delivery.redelivered,
        subscription.queue.as_str(),
    );
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let common = &subscription.common;
    let outcome = match delivery_input(subscription, &delivery, delivered) {
        Err(error) => Outcome::invalid_payload(error),
        Ok(input) => Outcome::of(
            deployment
                .invoke(
                    &common.function,
                    input,
                    None,
                    Origin {
                        trigger: "mq",
                        trace_id: &trace_id,
                    },
                )
                .await,
            delivered,
            common.max_deliveries,
        ),
    };
    let elapsed = started.elapsed();
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let (vms, version, function) = (&deployment.vms, &deployment.version, &common.function);
    let queue = subscription.queue.as_str();
    let record = |status: &str| mq::record(deployment, function, status, elapsed);
    match outcome {
        Outcome::Done => {
            if let Err(error) = delivery.acker.ack(BasicAckOptions::default()).await {
                record("ack_failed");
                tracing::warn!(vms, version, function, trigger = "mq", trace_id, queue, error = %error, "the acknowledgement did not reach the broker; the message will come again");
                return;
            }
            record("ok");
            if deployment.logs(LogLevel::Info) {
                tracing::info!(
                    vms,
                    version,
                    function,
                    trigger = "mq",
                    trace_id,
                    queue,
                    delivered,
                    duration_ms,
                    "message handled"
                );
            }
        }
        Outcome::Retry(error) => {
            let delay = mq::redelivery_delay(&common.backoff, delivered);
            let delayed = match &subscription.retry_queue {
                Some(retry) => {
                    let properties = copy_properties(
                        &delivery.properties,
                        &[
                            (DELIVERIES_HEADER, delivered.to_string()),
                            (REQUEUED_FOR_HEADER, queue.to_owned()),
                        ],
                    )
                    .with_expiration(ShortString::from(delay.as_millis().to_string()));
                    publish_to_queue(channel, retry, &delivery.data, properties).await
                }
                None => Err("no delay queue".to_owned()),
            };
            match delayed {
                Ok(()) => {
                    record("retry");
                    tracing::warn!(
                        vms,
                        version,
                        function,
                        trigger = "mq",
                        trace_id,
                        queue,
                        delivered,
                        retry_in_ms = delay.as_millis() as u64,
                        error,
                        "the message failed; it will be redelivered"
                    );
                    if let Err(ack_error) = delivery.acker.ack(BasicAckOptions::default()).await {
                        // The delayed copy is out and the original comes again: one more
                        // delivery, never one less.
                        tracing::warn!(vms, version, function, trigger = "mq", trace_id, queue, error = %ack_error, "the acknowledgement did not reach the broker; the message will come again");
                    }
                }
                Err(publish_error) => {
                    record("retry");
                    tracing::error!(
                        vms,
                        version,
                        function,
                        trigger = "mq",
                        trace_id,
                        queue,
                        delivered,
                        error,
                        publish_error,
                        "the message failed and could not be delayed; it goes back to the queue"
                    );
                    requeue_later(&delivery, delay).await;
                }
            }
        }
        Outcome::Requeue(error) => {
            record("cancelled");
            tracing::warn!(
                vms,
                version,
                function,
                trigger = "mq",
                trace_id,
                queue,
                delivered,
                error,
                "the run was cancelled by a drain; the message goes back to the queue"
            );
            // A copy goes back into the queue saying one delivery fewer than this one, so this
            // delivery does not count toward dead-lettering (a plain requeue would: the broker
            // marks it redelivered, and a quorum queue counts it); the original is acked once
            // the copy is confirmed. When the copy is refused, the original is requeued.
            let properties = copy_properties(
                &delivery.properties,
                &[
                    (DELIVERIES_HEADER, delivered.saturating_sub(1).to_string()),
                    (REQUEUED_FOR_HEADER, queue.to_owned()),
                ],
            );
            match publish_to_queue(channel, &subscription.queue, &delivery.data, properties).await {
                Ok(()) => {
                    let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                }
                Err(_) => {
                    let _ = delivery
                        .acker
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..BasicNackOptions::default()
                        })
                        .await;
                }
            }
        }
        Outcome::DeadLetter { code, error } => {
            let Some(dead_letter) = &subscription.dead_letter else {
                record("dead_letter");
                tracing::error!(
                    vms,
                    version,
                    function,
                    trigger = "mq",
                    trace_id,
                    queue,
                    delivered,
                    code,
                    error,
                    dead_letter = "(none: rejected to the queue's own dead-lettering, if any)",
                    "the message failed for good"
                );
                let _ = delivery
                    .acker
                    .reject(BasicRejectOptions { requeue: false })
                    .await;
                return;
            };
            let properties = copy_properties(
                &delivery.properties,
                &[
                    ("Starweave-Error", mq::one_line(&error)),
                    ("Starweave-Error-Code", code.clone()),
                    (DELIVERIES_HEADER, delivered.to_string()),
                    ("Starweave-Queue", queue.to_owned()),
                    ("Starweave-Vms", vms.clone()),
                    ("Starweave-Version", version.clone()),
                    ("Starweave-Function", function.clone()),
                ],
            );
            match publish_to_queue(channel, dead_letter, &delivery.data, properties).await {
                Ok(()) => {
                    record("dead_letter");
                    tracing::error!(
                        vms,
                        version,
                        function,
                        trigger = "mq",
                        trace_id,
                        queue,
                        delivered,
                        code,
                        error,
                        dead_letter = dead_letter.as_str(),
                        "the message failed for good"
                    );
                    let _ = delivery.acker.ack(BasicAckOptions::default()).await;
                }
                Err(publish_error) => {
                    record("retry");
                    tracing::error!(
                        vms,
                        version,
                        function,
                        trigger = "mq",
                        trace_id,
                        queue,
                        error = publish_error,
                        "the dead letter could not be published; the message goes back to the queue"
                    );
                    requeue_later(&delivery, mq::redelivery_delay(&common.backoff, delivered))
                        .await;
                }
            }
        }
    }
}

/// Puts a message back in its queue after `delay`, keeping its slot meanwhile: when a
/// publish the broker did not confirm (a delay or dead-letter queue deleted or full, a broker
/// refusing) is what failed, the message must neither be lost nor come straight back in a
/// loop. The classic queue's own delivery count does not grow this way, so the wait is the
/// one for this delivery, every time.
async fn requeue_later(delivery: &Delivery, delay: std::time::Duration) {
    tokio::time::sleep(delay).await;
    let _ = delivery
        .acker
        .nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        })
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_header(name: &str, value: AMQPValue) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(name.into(), value);
        BasicProperties::default().with_headers(headers)
    }

    /// A copy the engine requeued for `queue` with `count` deliveries so far.
    fn requeued(queue: &str, count: AMQPValue) -> BasicProperties {
        let mut headers = FieldTable::default();
        headers.insert(DELIVERIES_HEADER.into(), count);
        headers.insert(
            REQUEUED_FOR_HEADER.into(),
            AMQPValue::LongString(queue.into()),
        );
        BasicProperties::default().with_headers(headers)
    }

    #[test]
    fn the_delivery_count_comes_from_our_header_then_the_brokers() {
        let plain = BasicProperties::default();
        assert_eq!(deliveries(&plain, false, "q"), 1);
        assert_eq!(deliveries(&plain, true, "q"), 2);
        let ours = requeued("q", AMQPValue::LongString("3".into()));
        assert_eq!(deliveries(&ours, true, "q"), 4);
        let quorum = with_header("x-delivery-count", AMQPValue::LongLongInt(1));
        assert_eq!(deliveries(&quorum, true, "q"), 2);
        let junk = requeued("q", AMQPValue::LongString("many".into()));
        assert_eq!(deliveries(&junk, false, "q"), 1);
        let negative = requeued("q", AMQPValue::LongInt(-7));
        assert_eq!(deliveries(&negative, false, "q"), 1);
    }

    /// A dead letter says how often it was delivered, but moved back into its queue (or
    /// into another) it counts from one again; a copy requeued for another queue does too.
    #[test]
    fn a_dead_letter_moved_back_gets_its_retries_again() {
        let failed_copy = requeued("orders", AMQPValue::LongString("4".into()));
        assert_eq!(deliveries(&failed_copy, true, "orders"), 5);
        let dead_letter = copy_properties(
            &failed_copy,
            &[
                ("Starweave-Error-Code", "BOOM".to_owned()),
                (DELIVERIES_HEADER, "5".to_owned()),
            ],
        );
        let headers = dead_letter.headers().as_ref().expect("headers");
        assert!(headers.contains_key(DELIVERIES_HEADER));
        assert!(!headers.contains_key(REQUEUED_FOR_HEADER));
        assert_eq!(deliveries(&dead_letter, false, "orders"), 1);
        assert_eq!(deliveries(&failed_copy, false, "invoices"), 1);
    }

    #[test]
    fn header_values_become_plain_json() {
        let mut table = FieldTable::default();
        table.insert("n".into(), AMQPValue::ShortInt(-2));
        table.insert("s".into(), AMQPValue::LongString("tenant-7".into()));
        table.insert("raw".into(), AMQPValue::LongString(vec![0xff, 0x00].into()));
        table.insert("ok".into(), AMQPValue::Boolean(true));
        assert_eq!(
            amqp_to_json(&AMQPValue::FieldTable(table)),
            json!({"n": -2, "s": "tenant-7", "raw": [255, 0], "ok": true})
        );
    }

    #[test]
    fn copies_keep_ids_and_headers_but_not_user_or_expiry() {
        let mut headers = FieldTable::default();
        headers.insert("tenant".into(), AMQPValue::LongString("t1".into()));
        let original = BasicProperties::default()
            .with_message_id("m-1".into())
            .with_user_id("guest".into())
            .with_expiration("5000".into())
            .with_headers(headers);
        let copy = copy_properties(&original, &[("Starweave-Error", "boom".into())]);
        assert_eq!(
            copy.message_id().as_ref().map(ShortString::as_str),
            Some("m-1")
        );
        assert!(copy.user_id().is_none());
        assert!(copy.expiration().is_none());
        assert_eq!(copy.delivery_mode(), &Some(PERSISTENT));
        let headers = table_to_json(copy.headers().as_ref().expect("headers"));
        assert_eq!(headers["tenant"], "t1");
        assert_eq!(headers["Starweave-Error"], "boom");
    }
}
