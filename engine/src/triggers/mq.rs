//! MQ triggers: a function called for every message of a NATS JetStream subject.
//!
//! # The consumer
//!
//! Each (VMS, trigger) is a **durable pull consumer** named by the trigger's `durable` (else
//! `<vms>-<function>`) on the trigger's `stream` (else the connector's), filtered to its
//! `subject`, with explicit acknowledgements. It is created when missing, and updated when it
//! exists (a JetStream create-or-update), so a version that changes the `subject` or the ack
//! wait gets its own settings rather than the previous version's; the stream is created too
//! when the trigger says `create_stream: true` (file storage, capturing `subject` and the
//! `dead_letter` subject). When the server refuses to change the existing durable (one made
//! with another deliver or ack policy, a push consumer), the subscription does not start and
//! its error names the durable, what differs and a new durable name to use. Every version of
//! a VMS uses the same durable name, so a new version continues exactly where the previous one
//! stopped: the server remembers what was acknowledged, and each message goes to one puller at
//! a time.
//!
//! # A message
//!
//! The payload must be a JSON object: it is the function's input (plus the message's metadata
//! under `metadata_field`, when set). The message is **acknowledged only after the function
//! succeeded** (a double ack: the engine waits for the server to confirm it). On failure it is
//! nak'ed with a delay that grows with each delivery (the trigger's `backoff`, default 1 s
//! doubling up to 60 s). At the `max_deliveries`-th failed delivery (default 5), or at once for
//! failures retrying cannot fix (a payload that is not a JSON object, an input the function
//! refuses), it is published to the `dead_letter` subject with headers saying why
//! (`Starweave-Error`, `Starweave-Error-Code`, `Starweave-Deliveries`, `Starweave-Subject`,
//! `Starweave-Stream-Sequence`, `Starweave-Vms`, `Starweave-Version`, `Starweave-Function`,
//! plus the original headers) and then terminated (`+TERM`), so the server stops
//! redelivering it. Without a `dead_letter` subject such a message is logged and terminated.
//! When publishing the dead letter fails, the message is nak'ed and tried again later, so a
//! message leaves the queue only once it was handled or dead-lettered. A run cancelled by a
//! drain (its version replaced or unloaded, and the drain timeout passed) says nothing about
//! the message: it is nak'ed without delay, for the version now active, and never
//! dead-lettered for it. JetStream still counts that delivery, so a message cancelled on its
//! `max_deliveries`-th delivery gets one more run before a failure dead-letters it.
//!
//! # Concurrency, fetching and stopping
//!
//! At most `max_concurrency` messages (default 8) are handled at once per engine. The loop
//! asks the server for as many messages as it has free slots (a pull request expiring after
//! one second), so no message waits in the engine's memory while its `ack_wait` runs. The
//! consumer's `ack_wait` is 10 s and, while the function runs, the engine reports the message
//! in progress (`+WPI`) every 3 s: a long run keeps its message, and a message lost in transit
//! (a broker restart while it was being delivered) comes back within 10 s. Processing goes
//! through the deployment's own concurrency limit, like HTTP requests.
//!
//! The subscription runs for the active version only. When the version is replaced or
//! unloaded it finishes the pull request it has open (at most a second), stops fetching, and
//! lets the messages it holds finish and be acknowledged: unloading drains them like HTTP
//! requests. The NATS client reconnects by itself; while the server is away, pull requests
//! time out and are repeated, acknowledgements that do not reach the server make the message
//! come again (at-least-once delivery), and a consumer or stream that disappeared is looked up
//! (or created) again.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{self, AckPolicy, PullConsumer, pull};
use async_nats::jetstream::message::AckKind;
use async_nats::jetstream::stream::ConsumerErrorKind;
use async_nats::jetstream::{self, stream};
use futures_util::StreamExt;
use serde_json::{Map, Value, json};
use starweave_model::vms::Connector;
use starweave_model::vms::connector::{Backoff, MqBroker, MqConnector};
use starweave_model::vms::trigger::MqTrigger;
use tokio::sync::{Semaphore, watch};

use crate::run::ErrorKind;
use crate::server::registry::{Deployment, InvokeError, LogLevel, Origin};

/// Messages handled at once when the trigger does not say.
pub const DEFAULT_CONCURRENCY: u32 = 8;
/// Deliveries before dead-lettering when the trigger does not say.
pub const DEFAULT_MAX_DELIVERIES: u32 = 5;
/// How long one pull request waits for messages.
const PULL_EXPIRY: Duration = Duration::from_secs(1);
/// The consumer's ack wait: a delivered message not acknowledged (nor reported in progress)
/// within it is delivered again.
pub const ACK_WAIT: Duration = Duration::from_secs(10);
/// How often a message whose function still runs is reported in progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(3);

/// A subscription's settings, resolved from the trigger, its connector and the deployment.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The function called.
    pub function: String,
    /// The NATS URL.
    pub url: String,
    /// The stream name.
    pub stream: String,
    /// Create the stream when missing.
    pub create_stream: bool,
    /// The filter subject.
    pub subject: String,
    /// The durable consumer name.
    pub durable: String,
    /// Messages at once.
    pub concurrency: u32,
    /// Deliveries before dead-lettering.
    pub max_deliveries: u32,
    /// Redelivery delays.
    pub backoff: Backoff,
    /// The dead-letter subject.
    pub dead_letter: Option<String>,
    /// The input field receiving the metadata.
    pub metadata_field: Option<String>,
    /// The consumer's ack wait.
    pub ack_wait: Duration,
    /// The client's name in the server's monitoring.
    pub connection_name: String,
}

/// The delay before redelivering a message that failed on its `delivered`-th delivery.
pub fn redelivery_delay(backoff: &Backoff, delivered: u32) -> Duration {
    let multiplier = backoff.multiplier.unwrap_or(2.0).max(1.0);
    let exponent = delivered.saturating_sub(1).min(64) as i32;
    let ms = backoff.initial_ms as f64 * multiplier.powi(exponent);
    let capped = match backoff.max_ms {
        Some(max) => ms.min(max as f64),
        None => ms.min(3_600_000.0),
    };
    Duration::from_millis(capped.max(0.0) as u64)
}

/// A durable name NATS accepts: no `.`, `*`, `>` or whitespace.
fn durable_name(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c == '.' || c == '*' || c == '>' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

/// What every broker's subscription takes from its trigger, resolved against the deployment.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    /// The function called.
    pub function: String,
    /// The broker URL (from the connector's env var).
    pub url: String,
    /// The NATS subject, AMQP queue or Redis stream key.
    pub subject: String,
    /// The durable consumer name or consumer group.
    pub durable: String,
    /// Messages at once.
    pub concurrency: u32,
    /// Deliveries before dead-lettering.
    pub max_deliveries: u32,
    /// Redelivery delays.
    pub backoff: Backoff,
    /// Where failed messages go.
    pub dead_letter: Option<String>,
    /// The input field receiving the metadata.
    pub metadata_field: Option<String>,
}

/// The trigger's connector and broker-independent settings; the error says what is missing.
pub(crate) fn common<'d>(
    deployment: &'d Deployment,
    trigger: &MqTrigger,
) -> Result<(&'d MqConnector, Common), String> {
    let connector = match deployment.model.connectors.get(&trigger.connector) {
        Some(Connector::Mq(connector)) => connector,
        Some(_) => {
            return Err(format!(
                "connector `{}` is not an mq connector",
                trigger.connector
            ));
        }
        None => return Err(format!("there is no connector `{}`", trigger.connector)),
    };
    if !deployment.model.functions.contains_key(&trigger.function) {
        return Err(format!("there is no function `{}`", trigger.function));
    }
    let url = deployment
        .env
        .get(&connector.url_env)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| {
            format!(
                "env var {} (the URL of connector `{}`) is not set",
                connector.url_env, trigger.connector
            )
        })?
        .clone();
    if trigger.subject.is_empty() {
        return Err("the subject is empty".into());
    }
    let durable = trigger
        .durable
        .clone()
        .filter(|d| !d.is_empty())
        .unwrap_or_else(|| format!("{}-{}", deployment.vms, trigger.function));
    Ok((
        connector,
        Common {
            function: trigger.function.clone(),
            url,
            subject: trigger.subject.clone(),
            durable,
            concurrency: trigger
                .max_concurrency
                .unwrap_or(DEFAULT_CONCURRENCY)
                .max(1),
            max_deliveries: trigger
                .max_deliveries
                .unwrap_or(DEFAULT_MAX_DELIVERIES)
                .max(1),
            backoff: trigger.backoff.clone().unwrap_or(Backoff {
                initial_ms: 1000,
                max_ms: Some(60_000),
                multiplier: Some(2.0),
            }),
            dead_letter: trigger.dead_letter.clone().filter(|s| !s.is_empty()),
            metadata_field: trigger.metadata_field.clone().filter(|s| !s.is_empty()),
        },
    ))
}

/// Resolves a NATS trigger against its deployment; the error says what is missing.
/// `Ok(None)` when the connector's broker is not NATS.
pub fn subscription(
    deployment: &Deployment,
    trigger: &MqTrigger,
) -> Result<Option<Subscription>, String> {
    let (connector, common) = common(deployment, trigger)?;
    if connector.broker != MqBroker::Nats {
        return Ok(None);
    }
    let stream = trigger
        .stream
        .clone()
        .or_else(|| connector.stream.clone())
        .ok_or_else(|| {
            format!(
                "no stream: set `stream` on the trigger or on connector `{}`",
                trigger.connector
            )
        })?;
    let connection_name = format!(
        "starweave {}/{} mq {}",
        deployment.vms, deployment.version, common.function
    );
    Ok(Some(Subscription {
        function: common.function,
        url: common.url,
        stream,
        create_stream: trigger.create_stream,
        subject: common.subject,
        durable: durable_name(&common.durable),
        concurrency: common.concurrency,
        max_deliveries: common.max_deliveries,
        backoff: common.backoff,
        dead_letter: common.dead_letter,
        metadata_field: common.metadata_field,
        ack_wait: ACK_WAIT,
        connection_name,
    }))
}

/// Signals the loop to stop when dropped: the deployment aborts this guard's task when the
/// version stops being active, and the loop then ends gracefully instead of being cut off
/// with messages in its hands.
struct StopOnDrop(watch::Sender<bool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        let _ = self.0.send(true);
    }
}

/// Starts a deployment's MQ trigger, whichever its broker.
pub fn start(deployment: &Arc<Deployment>, trigger: &MqTrigger) -> Result<(), String> {
    let (connector, _) = common(deployment, trigger)?;
    match connector.broker {
        MqBroker::Nats => {}
        MqBroker::Amqp => return super::amqp::start(deployment, trigger),
        MqBroker::RedisStreams => return super::redis_streams::start(deployment, trigger),
    }
    let Some(subscription) = subscription(deployment, trigger)? else {
        return Err("not a NATS connector".into());
    };
    spawn_loop(
        deployment,
        run_subscription(
            Arc::downgrade(deployment),
            subscription,
            stop_signal(deployment),
        ),
    );
    Ok(())
}

/// Spawns a subscription's loop, counted as running until it returns: draining the
/// deployment (an unload, a shutdown) waits for it to finish its cleanup.
pub(crate) fn spawn_loop(
    deployment: &Deployment,
    subscription: impl Future<Output = ()> + Send + 'static,
) {
    let running = deployment.loop_running();
    tokio::spawn(async move {
        subscription.await;
        drop(running);
    });
}

/// A receiver that turns `true` when the deployment stops being active: the deployment
/// aborts a guard task then, and the subscription loop ends gracefully instead of being
/// cut off with messages in its hands.
pub(crate) fn stop_signal(deployment: &Deployment) -> watch::Receiver<bool> {
    let (stop_tx, stop_rx) = watch::channel(false);
    // Made before the task, so that aborting the task even before it first runs drops it
    // and the stop is sent.
    let stop = StopOnDrop(stop_tx);
    let guard = tokio::spawn(async move {
        let _stop = stop;
        std::future::pending::<()>().await;
    });
    deployment.add_background(guard.abort_handle());
    stop_rx
}

/// The wait before reconnecting after `failures` failed attempts in a row: 0.4 s doubling
/// up to 5 s.
pub(crate) fn retry_wait(failures: u32) -> Duration {
    Duration::from_millis((200u64 << failures.min(5)).min(5_000))
}

fn log_error(deployment: &Weak<Deployment>, subscription: &Subscription, what: &str, error: &str) {
    if let Some(d) = deployment.upgrade() {
        tracing::error!(
            vms = d.vms,
            version = d.version,
            function = subscription.function,
            trigger = "mq",
            stream = subscription.stream,
            durable = subscription.durable,
            error,
            "{what}"
        );
    }
}

/// Why a subscription has no consumer.
#[derive(Debug)]
enum ConsumerError {
    /// Worth trying again: the server unreachable, the stream not there yet…
    Transient(String),
    /// The durable exists with settings the server refuses to change to the trigger's:
    /// trying again cannot help.
    Refused(String),
}

impl ConsumerError {
    fn into_message(self) -> String {
        match self {
            ConsumerError::Transient(message) | ConsumerError::Refused(message) => message,
        }
    }
}

/// Connects and finds (or creates) the stream and the consumer.
async fn connect(
    subscription: &Subscription,
) -> Result<(async_nats::Client, jetstream::Context, PullConsumer), ConsumerError> {
    let client = crate::io::nats::connect(&subscription.url, &subscription.connection_name)
        .await
        .map_err(ConsumerError::Transient)?;
    let context = jetstream::new(client.clone());
    let consumer = consumer(&context, subscription).await?;
    Ok((client, context, consumer))
}

/// The consumer settings a subscription asks for.
fn consumer_config(subscription: &Subscription) -> pull::Config {
    pull::Config {
        durable_name: Some(subscription.durable.clone()),
        filter_subject: subscription.subject.clone(),
        ack_policy: AckPolicy::Explicit,
        ack_wait: subscription.ack_wait,
        ..Default::default()
    }
}

/// Creates the durable consumer, or updates it to the subscription's settings when it
/// exists: a new version of the VMS with another subject or ack wait gets what it asks for,
/// not what the previous version left behind.
async fn consumer(
    context: &jetstream::Context,
    subscription: &Subscription,
) -> Result<PullConsumer, ConsumerError> {
    let stream = if subscription.create_stream {
        let mut subjects = vec![subscription.subject.clone()];
        subjects.extend(subscription.dead_letter.clone());
        context
            .get_or_create_stream(stream::Config {
                name: subscription.stream.clone(),
                subjects,
                storage: stream::StorageType::File,
                ..Default::default()
            })
            .await
            .map_err(|e| {
                ConsumerError::Transient(format!(
                    "cannot create stream {}: {e}",
                    subscription.stream
                ))
            })?
    } else {
        context
            .get_stream(&subscription.stream)
            .await
            .map_err(|e| {
                ConsumerError::Transient(format!(
                    "stream {} is not usable: {e}",
                    subscription.stream
                ))
            })?
    };
    let wanted = consumer_config(subscription);
    // What the durable is now, to say what differs should the server refuse the change.
    let existing = stream
        .consumer_info(&subscription.durable)
        .await
        .ok()
        .map(|info| info.config);
    match stream.create_consumer(wanted.clone()).await {
        Ok(consumer) => Ok(consumer),
        Err(error) => match (&existing, error.kind()) {
            (Some(existing), ConsumerErrorKind::JetStream(refusal)) => Err(ConsumerError::Refused(
                refused_update(subscription, existing, &wanted, &refusal),
            )),
            _ => Err(ConsumerError::Transient(format!(
                "cannot create consumer {} on stream {}: {error}",
                subscription.durable, subscription.stream
            ))),
        },
    }
}

/// What differs between the durable's settings and the subscription's, as `name was → is`
/// phrases: the fields the subscription sets, and a push consumer's deliver subject.
fn consumer_differences(existing: &consumer::Config, wanted: &pull::Config) -> Vec<String> {
    let mut differences = Vec::new();
    if existing.filter_subject != wanted.filter_subject {
        differences.push(format!(
            "filter subject `{}` → `{}`",
            existing.filter_subject, wanted.filter_subject
        ));
    }
    if existing.ack_wait != wanted.ack_wait {
        differences.push(format!(
            "ack_wait {:?} → {:?}",
            existing.ack_wait, wanted.ack_wait
        ));
    }
    if existing.ack_policy != wanted.ack_policy {
        differences.push(format!(
            "ack policy {:?} → {:?}",
            existing.ack_policy, wanted.ack_policy
        ));
    }
    if existing.deliver_policy != wanted.deliver_policy {
        differences.push(format!(
            "deliver policy {:?} → {:?}",
            existing.deliver_policy, wanted.deliver_policy
        ));
    }
    if let Some(subject) = &existing.deliver_subject {
        differences.push(format!(
            "a push consumer (deliver subject `{subject}`) → pull"
        ));
    }
    differences
}

/// The error of a trigger whose durable exists with settings the server refuses to change:
/// it names the durable, what differs and the server's reason, and suggests a new name.
fn refused_update(
    subscription: &Subscription,
    existing: &consumer::Config,
    wanted: &pull::Config,
    refusal: &dyn std::fmt::Display,
) -> String {
    let differences = consumer_differences(existing, wanted);
    let differences = if differences.is_empty() {
        "its settings".to_owned()
    } else {
        differences.join(", ")
    };
    let suggestion = durable_name(&format!(
        "{}-{}",
        subscription.durable, subscription.subject
    ));
    format!(
        "the durable consumer `{}` on stream {} exists with other settings and the server \
         refuses to change them ({differences}): {refusal}; give the trigger a new `durable` \
         name (such as `{suggestion}`), or delete the consumer",
        subscription.durable, subscription.stream
    )
}

/// The fetch loop of one subscription: see the module docs.
async fn run_subscription(
    deployment: Weak<Deployment>,
    subscription: Subscription,
    mut stop: watch::Receiver<bool>,
) {
    let subscription = Arc::new(subscription);
    let slots = Arc::new(Semaphore::new(subscription.concurrency as usize));
    let mut failures: u32 = 0;
    // Connect, retrying until it works or the trigger stops.
    let (client, context, mut consumer) = loop {
        if *stop.borrow() {
            return;
        }
        match connect(&subscription).await {
            Ok(connected) => break connected,
            Err(ConsumerError::Refused(error)) => {
                // Retrying cannot change the server's mind: the trigger does not start.
                log_error(
                    &deployment,
                    &subscription,
                    "the subscription does not start",
                    &error,
                );
                return;
            }
            Err(ConsumerError::Transient(error)) => {
                log_error(
                    &deployment,
                    &subscription,
                    "the subscription cannot start",
                    &error,
                );
                failures += 1;
                let _ = tokio::time::timeout(retry_wait(failures), stop.changed()).await;
            }
        }
    };
    failures = 0;
    if let Some(d) = deployment.upgrade()
        && d.logs(LogLevel::Info)
    {
        tracing::info!(
            vms = d.vms,
            version = d.version,
            function = subscription.function,
            trigger = "mq",
            stream = subscription.stream,
            durable = subscription.durable,
            subject = subscription.subject,
            "subscribed"
        );
    }
    while !*stop.borrow() {
        // Wait for a free slot (or the stop signal), then ask for as many messages as slots.
        let first = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let wanted = 1 + slots.available_permits();
        let Some(alive) = deployment.upgrade() else {
            break;
        };
        // Held while the pull request is open: unloading waits for it (a second at most).
        let fetching = alive.enter();
        drop(alive);
        let batch = consumer
            .batch()
            .max_messages(wanted)
            .expires(PULL_EXPIRY)
            .messages()
            .await;
        let mut batch = match batch {
            Ok(batch) => batch,
            Err(error) => {
                drop((first, fetching));
                failures += 1;
                log_error(
                    &deployment,
                    &subscription,
                    "cannot fetch messages",
                    &error.to_string(),
                );
                let _ = tokio::time::timeout(retry_wait(failures), stop.changed()).await;
                continue;
            }
        };
        let mut first = Some(first);
        let mut broken = false;
        while let Some(item) = batch.next().await {
            match item {
                Ok(message) => {
                    let permit = match first.take() {
                        Some(permit) => permit,
                        None => match slots.clone().acquire_owned().await {
                            Ok(permit) => permit,
                            Err(_) => break,
                        },
                    };
                    let Some(alive) = deployment.upgrade() else {
                        // Unloaded under our feet: give the message back at once.
                        let _ = message.ack_with(AckKind::Nak(None)).await;
                        continue;
                    };
                    let subscription = subscription.clone();
                    let context = context.clone();
                    // Counted before the task starts, so that a drain cannot miss it.
                    let in_flight = alive.enter();
                    tokio::spawn(async move {
                        let _in_flight = in_flight;
                        handle(&alive, &subscription, &context, message).await;
                        drop(permit);
                    });
                }
                Err(error) => {
                    broken = true;
                    log_error(
                        &deployment,
                        &subscription,
                        "the pull request failed",
                        &error.to_string(),
                    );
                }
            }
        }
        drop(fetching);
        if broken {
            // The consumer may be gone (a server restarted without its state): look it up.
            failures += 1;
            let _ = tokio::time::timeout(retry_wait(failures), stop.changed()).await;
            if *stop.borrow() {
                // Looking it up creates or updates it: a stopped version must not put its
                // settings back over those of the version that replaced it.
                break;
            }
            match consumer_again(&context, &subscription).await {
                Ok(found) => consumer = found,
                Err(error) => log_error(&deployment, &subscription, "consumer lookup", &error),
            }
        } else {
            failures = 0;
        }
    }
    // Stopped: wait for the messages in hand, then close the connection.
    let _ = slots.acquire_many(subscription.concurrency).await;
    drop(client);
}

async fn consumer_again(
    context: &jetstream::Context,
    subscription: &Subscription,
) -> Result<PullConsumer, String> {
    consumer(context, subscription)
        .await
        .map_err(ConsumerError::into_message)
}

/// What became of a message.
pub(crate) enum Outcome {
    /// Handled: acknowledge it.
    Done,
    /// Failed; deliver it again after a wait.
    Retry(String),
    /// The run was cancelled by a drain (its version replaced or unloaded past the drain
    /// timeout): the message is not at fault, so it goes back at once for the version now
    /// active, and this delivery does not bring it closer to the dead-letter destination.
    Requeue(String),
    /// Failed for good: to the dead-letter destination.
    DeadLetter { code: String, error: String },
}

impl Outcome {
    /// What a run's result means for its message on its `delivered`-th delivery: input the
    /// function refuses (or a function that does not compile) cannot get better by retrying,
    /// and a run cancelled by a drain says nothing about the message, whatever its delivery.
    pub(crate) fn of(
        result: Result<Value, InvokeError>,
        delivered: u32,
        max_deliveries: u32,
    ) -> Outcome {
        match result {
            Ok(_) => Outcome::Done,
            Err(InvokeError::Run(error)) if error.kind == ErrorKind::Cancelled => {
                Outcome::Requeue(error.to_string())
            }
            Err(InvokeError::Run(error))
                if matches!(error.kind, ErrorKind::Input | ErrorKind::Compile) =>
            {
                Outcome::DeadLetter {
                    code: error.code.clone(),
                    error: error.message,
                }
            }
            Err(error) => {
                let (code, text) = match error {
                    InvokeError::Run(e) => (e.code.clone(), e.to_string()),
                    InvokeError::Panicked(m) => ("PANIC".to_owned(), format!("panic: {m}")),
                    InvokeError::Overloaded => ("OVERLOADED".to_owned(), "overloaded".to_owned()),
                    InvokeError::Abandoned => (
                        "DEADLINE_EXCEEDED".to_owned(),
                        "abandoned after its deadline".to_owned(),
                    ),
                };
                if delivered >= max_deliveries {
                    Outcome::DeadLetter { code, error: text }
                } else {
                    Outcome::Retry(text)
                }
            }
        }
    }

    /// An unusable payload: dead-lettered at once.
    pub(crate) fn invalid_payload(error: String) -> Outcome {
        Outcome::DeadLetter {
            code: "INVALID_PAYLOAD".into(),
            error,
        }
    }
}

/// Counts a handled message in the function's `mq` metrics under `status` (`ok`, `retry`,
/// `dead_letter`, `ack_failed`).
pub(crate) fn record(deployment: &Deployment, function: &str, status: &str, elapsed: Duration) {
    if let Some(metrics) = deployment.metrics.get(function) {
        metrics.record("mq", status, Some(elapsed));
    }
}

/// A message payload as the function's input: it must be a JSON object.
pub(crate) fn payload_object(payload: &[u8]) -> Result<Map<String, Value>, String> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!(
            "the payload is JSON but not an object ({})",
            match other {
                Value::Null => "null",
                Value::Bool(_) => "a boolean",
                Value::Number(_) => "a number",
                Value::String(_) => "a string",
                Value::Array(_) => "an array",
                Value::Object(_) => "an object",
            }
        )),
        Err(error) => Err(format!("the payload is not JSON: {error}")),
    }
}

/// The function's input for a message: its JSON object payload, plus metadata.
fn message_input(
    subscription: &Subscription,
    message: &jetstream::Message,
    delivered: u32,
    stream_name: &str,
    sequence: u64,
) -> Result<Value, String> {
    let mut input = payload_object(&message.payload)?;
    if let Some(field) = &subscription.metadata_field {
        let mut headers = Map::new();
        if let Some(map) = &message.headers {
            for (name, values) in map.iter() {
                if let Some(value) = values.first() {
                    headers.insert(name.to_string(), Value::String(value.to_string()));
                }
            }
        }
        input.insert(
            field.clone(),
            json!({
                "subject": message.subject.as_str(),
                "headers": headers,
                "stream": stream_name,
                "sequence": sequence,
                "delivered": delivered,
            }),
        );
    }
    Ok(Value::Object(input))
}

async fn handle(
    deployment: &Arc<Deployment>,
    subscription: &Subscription,
    context: &jetstream::Context,
    message: jetstream::Message,
) {
    let (delivered, stream_name, sequence) = match message.info() {
        Ok(info) => (
            u32::try_from(info.delivered.max(1)).unwrap_or(u32::MAX),
            info.stream.to_owned(),
            info.stream_sequence,
        ),
        Err(_) => (1, subscription.stream.clone(), 0),
    };
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let outcome = match message_input(subscription, &message, delivered, &stream_name, sequence) {
        Err(error) => Outcome::invalid_payload(error),
        Ok(input) => Outcome::of(
            invoke_reporting_progress(deployment, subscription, &message, input, &trace_id).await,
            delivered,
            subscription.max_deliveries,
        ),
    };
    let elapsed = started.elapsed();
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let (vms, version, function) = (&deployment.vms, &deployment.version, &subscription.function);
    let record = |status: &str| record(deployment, function, status, elapsed);
    match outcome {
        Outcome::Done => {
            if let Err(error) = message.double_ack().await {
                // The server will deliver it again: at-least-once.
                record("ack_failed");
                tracing::warn!(vms, version, function, trigger = "mq", trace_id, sequence, error = %error, "the acknowledgement did not reach the server; the message will come again");
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
                    sequence,
                    delivered,
                    duration_ms,
                    "message handled"
                );
            }
        }
        Outcome::Retry(error) => {
            record("retry");
            let delay = redelivery_delay(&subscription.backoff, delivered);
            tracing::warn!(
                vms,
                version,
                function,
                trigger = "mq",
                trace_id,
                sequence,
                delivered,
                retry_in_ms = delay.as_millis() as u64,
                error,
                "the message failed; it will be redelivered"
            );
            let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
        }
        Outcome::Requeue(error) => {
            record("cancelled");
            tracing::warn!(
                vms,
                version,
                function,
                trigger = "mq",
                trace_id,
                sequence,
                delivered,
                error,
                "the run was cancelled by a drain; the message goes back at once"
            );
            // JetStream counts this delivery all the same: a message cancelled on its last
            // allowed delivery gets one more run before a failure dead-letters it.
            let _ = message.ack_with(AckKind::Nak(None)).await;
        }
        Outcome::DeadLetter { code, error } => {
            let published = match &subscription.dead_letter {
                Some(subject) => {
                    let mut headers = dead_letter_headers(message.headers.as_ref());
                    // Its own id, one per message of the stream: the server drops a copy
                    // sent again (after a lost acknowledgement) and nothing else.
                    headers.insert(
                        "Nats-Msg-Id",
                        format!("starweave-dlq-{}-{sequence}", subscription.stream).as_str(),
                    );
                    headers.insert("Starweave-Error", one_line(&error).as_str());
                    headers.insert("Starweave-Error-Code", code.as_str());
                    headers.insert("Starweave-Deliveries", delivered.to_string().as_str());
                    headers.insert("Starweave-Subject", message.subject.as_str());
                    headers.insert("Starweave-Stream-Sequence", sequence.to_string().as_str());
                    headers.insert("Starweave-Vms", vms.as_str());
                    headers.insert("Starweave-Version", version.as_str());
                    headers.insert("Starweave-Function", function.as_str());
                    let sent = async {
                        context
                            .publish_with_headers(subject.clone(), headers, message.payload.clone())
                            .await?
                            .await
                            .map(|_| ())
                            .map_err(async_nats::Error::from)
                    }
                    .await;
                    sent.map_err(|e| e.to_string())
                }
                None => Ok(()),
            };
            match published {
                Ok(()) => {
                    record("dead_letter");
                    tracing::error!(
                        vms,
                        version,
                        function,
                        trigger = "mq",
                        trace_id,
                        sequence,
                        delivered,
                        code,
                        error,
                        dead_letter = subscription
                            .dead_letter
                            .as_deref()
                            .unwrap_or("(none: dropped)"),
                        "the message failed for good"
                    );
                    let _ = message.double_ack_with(AckKind::Term).await;
                }
                Err(publish_error) => {
                    record("retry");
                    let delay = redelivery_delay(&subscription.backoff, delivered);
                    tracing::error!(
                        vms,
                        version,
                        function,
                        trigger = "mq",
                        trace_id,
                        sequence,
                        error = publish_error,
                        "the dead letter could not be published; the message will be redelivered"
                    );
                    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                }
            }
        }
    }
}

/// Runs the function, telling the server every few seconds that the message is in progress.
async fn invoke_reporting_progress(
    deployment: &Arc<Deployment>,
    subscription: &Subscription,
    message: &jetstream::Message,
    input: Value,
    trace_id: &str,
) -> Result<Value, InvokeError> {
    let origin = Origin {
        trigger: "mq",
        trace_id,
    };
    let invoke = deployment.invoke(&subscription.function, input, None, origin);
    tokio::pin!(invoke);
    let start = tokio::time::Instant::now() + PROGRESS_EVERY;
    let mut ticker = tokio::time::interval_at(start, PROGRESS_EVERY);
    loop {
        tokio::select! {
            result = &mut invoke => return result,
            _ = ticker.tick() => {
                let _ = message.ack_with(AckKind::Progress).await;
            }
        }
    }
}

/// Header values are one line.
pub(crate) fn one_line(text: &str) -> String {
    text.replace(['\r', '\n'], " ")
}

/// The original's headers for its dead letter, without the `Nats-` ones: those are
/// instructions to the server (`Nats-Msg-Id` would make the copy a duplicate the server
/// drops within its window, `Nats-Expected-*` would fail every publish, `Nats-Rollup` would
/// purge earlier dead letters, `Nats-TTL` would expire this one).
fn dead_letter_headers(original: Option<&async_nats::HeaderMap>) -> async_nats::HeaderMap {
    let mut headers = async_nats::HeaderMap::new();
    for (name, values) in original.into_iter().flat_map(|h| h.iter()) {
        let text: &[u8] = name.as_ref();
        if text
            .get(..5)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"nats-"))
        {
            continue;
        }
        for value in values {
            headers.append(name.clone(), value.clone());
        }
    }
    headers
}

#[cfg(test)]
mod tests {
    use async_nats::jetstream::consumer::IntoConsumerConfig;

    use super::*;

    #[test]
    fn redelivery_waits_grow_and_stop_at_the_cap() {
        let backoff = Backoff {
            initial_ms: 100,
            max_ms: Some(1000),
            multiplier: Some(3.0),
        };
        let waits: Vec<u64> = (1..=5)
            .map(|d| redelivery_delay(&backoff, d).as_millis() as u64)
            .collect();
        assert_eq!(waits, [100, 300, 900, 1000, 1000]);
    }

    #[test]
    fn a_run_cancelled_by_a_drain_is_requeued_even_on_the_last_delivery() {
        let cancelled = Err(InvokeError::Run(crate::run::RunError::cancelled()));
        match Outcome::of(cancelled, 5, 5) {
            Outcome::Requeue(error) => assert!(error.contains("CANCELLED"), "{error}"),
            Outcome::Done => panic!("a cancelled run is not done"),
            Outcome::Retry(error) => panic!("counted as a failed delivery: {error}"),
            Outcome::DeadLetter { code, .. } => panic!("dead-lettered with {code}"),
        }
        // Any other failure on the last delivery is dead-lettered.
        let failed = Err(InvokeError::Run(crate::run::RunError::new(
            ErrorKind::Connector,
            "CONNECTOR",
            "refused",
        )));
        assert!(matches!(
            Outcome::of(failed, 5, 5),
            Outcome::DeadLetter { code, .. } if code == "CONNECTOR"
        ));
    }

    fn orders_subscription(subject: &str) -> Subscription {
        Subscription {
            function: "on_order".into(),
            url: "nats://127.0.0.1:4222".into(),
            stream: "ORDERS".into(),
            create_stream: false,
            subject: subject.into(),
            durable: "shop-on_order".into(),
            concurrency: 8,
            max_deliveries: 5,
            backoff: Backoff {
                initial_ms: 1000,
                max_ms: None,
                multiplier: None,
            },
            dead_letter: None,
            metadata_field: None,
            ack_wait: ACK_WAIT,
            connection_name: "starweave shop/1 mq on_order".into(),
        }
    }

    #[test]
    fn a_refused_update_names_the_durable_what_differs_and_a_new_name() {
        let subscription = orders_subscription("orders.new");
        let wanted = consumer_config(&subscription);
        let existing = consumer::Config {
            durable_name: Some("shop-on_order".into()),
            filter_subject: "orders.>".into(),
            ack_policy: AckPolicy::All,
            ack_wait: Duration::from_secs(30),
            deliver_policy: consumer::DeliverPolicy::New,
            ..Default::default()
        };
        assert_eq!(
            consumer_differences(&existing, &wanted),
            [
                "filter subject `orders.>` → `orders.new`",
                "ack_wait 30s → 10s",
                "ack policy All → Explicit",
                "deliver policy New → All",
            ]
        );
        let message = refused_update(
            &subscription,
            &existing,
            &wanted,
            &"deliver policy can not be updated",
        );
        assert_eq!(
            message,
            "the durable consumer `shop-on_order` on stream ORDERS exists with other settings \
             and the server refuses to change them (filter subject `orders.>` → `orders.new`, \
             ack_wait 30s → 10s, ack policy All → Explicit, deliver policy New → All): deliver \
             policy can not be updated; give the trigger a new `durable` name (such as \
             `shop-on_order-orders_new`), or delete the consumer"
        );
        // The settings it asks for, on a durable that has them, differ in nothing.
        let same: consumer::Config = wanted.clone().into_consumer_config();
        assert!(consumer_differences(&same, &wanted).is_empty());
    }

    #[test]
    fn durable_names_lose_the_characters_nats_refuses() {
        assert_eq!(durable_name("shop-on.order *>"), "shop-on_order___");
    }
}
