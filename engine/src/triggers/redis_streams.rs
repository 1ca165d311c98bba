//! MQ triggers on Redis Streams: a function called for every entry of a stream, through a
//! consumer group.
//!
//! # The consumer group
//!
//! Each (VMS, trigger) reads the stream at key `subject` as the **consumer group** named by the
//! trigger's `durable` (else `<vms>-<function>`). At start the engine runs
//! `XGROUP CREATE <key> <group> 0`, with `MKSTREAM` only when the trigger says
//! `create_stream: true`; `BUSYGROUP` means the group exists, which is fine. Starting at `0`
//! means a new group also handles the entries already in the stream, like a NATS durable
//! consumer delivering all. Without `create_stream` and without the key, the error is logged
//! and the creation tried again (0.4 s doubling up to 5 s) until the key appears or the trigger
//! stops. Every version of a VMS uses the same group, so a new version continues exactly where
//! the previous one stopped: Redis remembers what was delivered and acknowledged.
//!
//! Within the group, this engine process reads as one **consumer** per (Redis URL, key, group),
//! named `<host>-<pid>-<random>` (the host from `HOSTNAME`, else the kernel's host name), so
//! several engines share the group's work. Versions of a VMS running in the same process share
//! that consumer, the entries it is handling and those waiting for a retry: a version taking
//! over also takes over the entries its predecessor must deliver again, at their due time.
//! When the last subscription using a consumer stops and nothing is pending for it, it is
//! removed from the group (`XGROUP DELCONSUMER`), so restarts do not pile up consumers. One
//! that still had entries pending (waiting out a retry, cancelled by a drain, or an engine
//! that crashed) leaves them to be claimed by another consumer; once it has nothing pending
//! and has not read for an hour, the next engine's look at the pending entries removes it
//! (at most every ten minutes, checked and removed in one script so a consumer that reads
//! meanwhile keeps what it read).
//!
//! # An entry
//!
//! An entry written by Starweave's publisher has a field `payload` holding a JSON object: that
//! object is the function's input, and the entry's other fields are its headers. A `payload`
//! that is not a JSON object is dead-lettered at once (`INVALID_PAYLOAD`). An entry without a
//! `payload` field (written by another producer) becomes an object of all its fields, as
//! strings, without headers. With `metadata_field`, the input also gets
//! `{subject: <key>, id: <entry id>, headers: {…}, delivered: n, group: <group>}` under that
//! field, where `delivered` is 1 for a fresh entry and the delivery count Redis keeps for one
//! delivered again.
//!
//! The entry is **acknowledged (`XACK`) only after the function succeeded**. When the
//! acknowledgement fails it stays pending and comes again (at-least-once delivery). When the
//! function fails, the entry is left pending and the engine remembers when it failed; it is
//! delivered again once the trigger's `backoff` (default 1 s doubling up to 60 s) has passed
//! for that delivery. At the `max_deliveries`-th failed delivery (default 5), or at once for
//! failures retrying cannot fix (a payload that is not a JSON object, an input the function
//! refuses), it is added to the `dead_letter` stream (`XADD <dead_letter> * payload <payload,
//! or the fields as JSON> <its headers…>` followed by `Starweave-Error`,
//! `Starweave-Error-Code`, `Starweave-Deliveries`, `Starweave-Subject`, `Starweave-Entry-Id`,
//! `Starweave-Vms`, `Starweave-Version` and `Starweave-Function`) and then acknowledged. When
//! that `XADD` fails the entry is not acknowledged: it stays pending and is tried again later
//! (past `max_deliveries`, only the dead letter is tried again, without calling the function,
//! with the code `MAX_DELIVERIES`), so an entry leaves the group's pending list only once it
//! was handled or dead-lettered.
//! Without a `dead_letter` stream such an entry is logged and acknowledged (dropped).
//! A run cancelled by a drain (its version replaced or unloaded, and the drain timeout
//! passed) says nothing about the entry: it stays pending, Redis's delivery count is set back
//! by one (`XCLAIM … RETRYCOUNT <n - 1> JUSTID`) so that delivery does not count toward
//! `max_deliveries`, and it is delivered again like a failed entry.
//!
//! # Reclaiming pending entries
//!
//! Redis does not deliver a pending entry again by itself. A reclaim task looks at the pending
//! entries (`XPENDING <key> <group> IDLE <ms> - + <count>`, Redis 6.2 or later) every 500 ms,
//! and as soon as an entry that failed here comes due. It claims (`XCLAIM`, which counts a
//! delivery and returns the entry) the entries that are due:
//!
//! - entries of this engine's consumer that are not being handled right now, once the
//!   redelivery delay for their delivery count has passed since they failed (since they were
//!   last touched, for those it has no record of: an acknowledgement that failed, a read whose
//!   answer was lost);
//! - entries of other consumers only when idle for that delay and at least 30 s: those of an
//!   engine that crashed or lost its connection.
//!
//! While a function runs, the engine resets its entry's idle time every 3 s
//! (`XCLAIM <key> <group> <me> 0 <id> JUSTID`, which does not count a delivery), so no other
//! engine takes it. A claim gives the idle time it saw as its minimum, so of two engines
//! claiming the same entry only one gets it.
//!
//! # Concurrency, fetching and stopping
//!
//! At most `max_concurrency` entries (default 8) are handled at once per engine, fresh and
//! reclaimed ones alike. The fetch loop waits for a free slot, then asks for as many new entries
//! as it has free slots (`XREADGROUP GROUP <group> <me> COUNT <n> BLOCK <ms> STREAMS <key> >`,
//! blocking up to a second, less when a failed entry comes due sooner, so the slots it holds
//! are free by then). Reads use their own connection, so a blocked read never delays an
//! acknowledgement. Processing goes through the deployment's own concurrency limit, like HTTP
//! requests.
//!
//! The subscription runs for the active version only. When the version is replaced or unloaded
//! it finishes the read it has open (at most a second), stops fetching and reclaiming, and lets
//! the entries it holds finish and be acknowledged: unloading drains them like HTTP requests.
//! Redis errors (a lost connection, a restart) are logged and the loop waits (0.4 s doubling up
//! to 5 s), then opens a fresh read connection, creates the group again when missing (a Redis
//! restarted without persistence) and goes on; the connection for the other commands
//! reconnects by itself after errors and is replaced after a command timed out (a half-open
//! connection answers nothing and reports no error). Unacknowledged entries stay in the
//! pending list, so nothing acknowledged is lost and nothing unacknowledged is dropped. An
//! unload or a shutdown waits until the subscription has left the group (see above).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, Instant};

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde_json::{Map, Value, json};
use starweave_model::vms::connector::{Backoff, MqBroker};
use starweave_model::vms::trigger::MqTrigger;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};

use super::mq::{self, Outcome};
use crate::server::registry::{Deployment, InvokeError, LogLevel, Origin};

/// The longest a read waits for new entries.
const READ_BLOCK: Duration = Duration::from_secs(1);
/// The shortest read wait, when a failed entry is due about now.
const READ_BLOCK_MIN: Duration = Duration::from_millis(20);
/// How often the pending entries are looked at, besides when a failed entry comes due.
const RECLAIM_EVERY: Duration = Duration::from_millis(500);
/// The least time between two looks at the pending entries.
const RECLAIM_GAP: Duration = Duration::from_millis(50);
/// How often an entry whose function still runs has its idle time reset.
const REFRESH_EVERY: Duration = Duration::from_secs(3);
/// How long another consumer's entry must have been idle before this engine takes it: ten
/// refresh periods, so the entries a live engine is handling are never taken.
const ABANDONED_AFTER: Duration = Duration::from_secs(30);
/// Pending entries asked for by one `XPENDING`.
const PENDING_PAGE: usize = 100;
/// `XPENDING` calls in one look at the pending entries; the next look goes on from there.
const PENDING_PAGES: usize = 10;
/// How long another consumer must have been idle, with nothing pending, to be removed from
/// the group: a live one reads every [`READ_BLOCK`] at the most.
const LEFT_AFTER: Duration = Duration::from_secs(60 * 60);
/// How often a consumer looks for others that have left the group.
const PRUNE_EVERY: Duration = Duration::from_secs(10 * 60);
/// Removes the consumers of group `ARGV[1]` on stream `KEYS[1]` other than `ARGV[2]` with
/// nothing pending and idle at least `ARGV[3]` ms; returns how many. One script, so no read
/// can come between the check and the removal.
const PRUNE_CONSUMERS: &str = r"
local removed = 0
for _, consumer in ipairs(redis.call('XINFO', 'CONSUMERS', KEYS[1], ARGV[1])) do
  local fields = {}
  for i = 1, #consumer, 2 do fields[consumer[i]] = consumer[i + 1] end
  if fields['name'] ~= ARGV[2] and fields['pending'] == 0
      and fields['idle'] >= tonumber(ARGV[3]) then
    redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], fields['name'])
    removed = removed + 1
  end
end
return removed
";
/// How long a command other than a read may take before it counts as failed.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);

/// The fields the engine adds to a dead letter (an entry's own fields with these names are
/// left out of it).
const DEAD_LETTER_FIELDS: [&str; 8] = [
    "Starweave-Error",
    "Starweave-Error-Code",
    "Starweave-Deliveries",
    "Starweave-Subject",
    "Starweave-Entry-Id",
    "Starweave-Vms",
    "Starweave-Version",
    "Starweave-Function",
];

/// A subscription's settings, resolved from the trigger, its connector and the deployment.
#[derive(Debug, Clone)]
struct Subscription {
    /// The function called.
    function: String,
    /// The Redis URL.
    url: String,
    /// The stream key.
    key: String,
    /// The consumer group.
    group: String,
    /// Create the stream (`MKSTREAM`) with the group when the key does not exist.
    create_stream: bool,
    /// Entries handled at once.
    concurrency: u32,
    /// Deliveries before dead-lettering.
    max_deliveries: u32,
    /// Redelivery delays.
    backoff: Backoff,
    /// The dead-letter stream key.
    dead_letter: Option<String>,
    /// The input field receiving the metadata.
    metadata_field: Option<String>,
}

/// Starts a Redis Streams subscription (see the module docs).
pub fn start(deployment: &Arc<Deployment>, trigger: &MqTrigger) -> Result<(), String> {
    let (connector, common) = mq::common(deployment, trigger)?;
    if connector.broker != MqBroker::RedisStreams {
        return Err(format!(
            "connector `{}` is not a Redis Streams connector",
            trigger.connector
        ));
    }
    let client = crate::io::redis_client(common.url.as_str())
        .map_err(|e| format!("the Redis URL of connector `{}`: {e}", trigger.connector))?;
    let subscription = Arc::new(Subscription {
        function: common.function,
        url: common.url,
        key: common.subject,
        group: common.durable,
        create_stream: trigger.create_stream,
        concurrency: common.concurrency,
        max_deliveries: common.max_deliveries,
        backoff: common.backoff,
        dead_letter: common.dead_letter,
        metadata_field: common.metadata_field,
    });
    // Taken here rather than in the task, so a version replacing another finds the consumer
    // still registered by the one that is stopping.
    let consumer = Consumer::shared(&subscription);
    mq::spawn_loop(
        deployment,
        run_subscription(
            Arc::downgrade(deployment),
            subscription,
            consumer,
            client,
            mq::stop_signal(deployment),
        ),
    );
    Ok(())
}

/// The consumers of this process by (Redis URL, stream key, group).
type ConsumerKey = (String, String, String);

/// The consumers of this process, shared by the subscriptions reading the same group.
static CONSUMERS: LazyLock<Mutex<HashMap<ConsumerKey, Weak<Consumer>>>> =
    LazyLock::new(Mutex::default);

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// This process's consumer in a group, and what it knows of the entries it holds.
#[derive(Debug)]
struct Consumer {
    /// The consumer name.
    name: String,
    /// Where it is registered in [`CONSUMERS`].
    registered_as: ConsumerKey,
    /// Entries being handled now (or about to be): never claimed.
    in_progress: Mutex<HashSet<String>>,
    /// Entries that failed here and wait to be delivered again.
    failed: Mutex<HashMap<String, Failure>>,
    /// Wakes the reclaim task when an entry failed.
    failure_recorded: Notify,
    /// When it last looked for consumers that left the group.
    pruned_at: Mutex<Option<Instant>>,
}

/// When an entry failed, on which delivery.
#[derive(Debug, Clone, Copy)]
struct Failure {
    at: Instant,
    delivered: u32,
}

impl Consumer {
    /// The process's consumer for the subscription's group, created when there is none.
    fn shared(subscription: &Subscription) -> Arc<Consumer> {
        let key = (
            subscription.url.clone(),
            subscription.key.clone(),
            subscription.group.clone(),
        );
        let mut consumers = lock(&CONSUMERS);
        if let Some(consumer) = consumers.get(&key).and_then(Weak::upgrade) {
            return consumer;
        }
        consumers.retain(|_, consumer| consumer.strong_count() > 0);
        let consumer = Arc::new(Consumer {
            name: consumer_name(),
            registered_as: key.clone(),
            in_progress: Mutex::default(),
            failed: Mutex::default(),
            failure_recorded: Notify::new(),
            pruned_at: Mutex::default(),
        });
        consumers.insert(key, Arc::downgrade(&consumer));
        consumer
    }

    /// Leaves the registry when `this` is the last reference: true then, and nobody in this
    /// process can read with its name any more.
    fn retire(this: &Arc<Consumer>) -> bool {
        let mut consumers = lock(&CONSUMERS);
        if Arc::strong_count(this) > 1 {
            return false;
        }
        if consumers
            .get(&this.registered_as)
            .is_some_and(|registered| registered.ptr_eq(&Arc::downgrade(this)))
        {
            consumers.remove(&this.registered_as);
        }
        true
    }

    /// Marks an entry as being handled; false when it already is.
    fn begin(&self, id: &str) -> bool {
        lock(&self.failed).remove(id);
        lock(&self.in_progress).insert(id.to_owned())
    }

    /// An entry that is no longer handled here.
    fn end(&self, id: &str) {
        lock(&self.in_progress).remove(id);
    }

    /// An entry that failed on its `delivered`-th delivery and stays pending.
    fn record_failure(&self, id: &str, delivered: u32) {
        lock(&self.failed).insert(
            id.to_owned(),
            Failure {
                at: Instant::now(),
                delivered,
            },
        );
        self.end(id);
        self.failure_recorded.notify_waiters();
    }

    /// When the first entry that failed here comes due.
    fn next_due(&self, backoff: &Backoff) -> Option<Instant> {
        lock(&self.failed)
            .values()
            .map(|f| f.at + mq::redelivery_delay(backoff, f.delivered))
            .min()
    }

    /// How long a read may block: at most [`READ_BLOCK`], and no longer than until a failed
    /// entry comes due, so that the slots the read holds are free for it.
    fn read_block(&self, backoff: &Backoff) -> Duration {
        let until_due = self.next_due(backoff).map_or(READ_BLOCK, |due| {
            due.saturating_duration_since(Instant::now())
        });
        until_due.clamp(READ_BLOCK_MIN, READ_BLOCK)
    }
}

/// The host part of consumer names: `HOSTNAME` (a pod's name), else the kernel's host name.
static HOST: LazyLock<String> = LazyLock::new(|| {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|host| host.trim().replace(char::is_whitespace, "_"))
        .filter(|host| !host.is_empty())
        .unwrap_or_else(|| "engine".to_owned())
});

/// A consumer name unique to this process and subscription: `<host>-<pid>-<random>`.
fn consumer_name() -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    format!("{}-{}-{}", *HOST, std::process::id(), &random[..8])
}

/// A stream entry: its id and its fields as written.
#[derive(Debug, Clone, PartialEq)]
struct Entry {
    id: String,
    fields: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Entry {
    /// The `payload` field, when there is one.
    fn payload(&self) -> Option<&[u8]> {
        self.fields
            .iter()
            .find(|(name, _)| name == b"payload")
            .map(|(_, value)| value.as_slice())
    }

    /// The headers: the fields besides `payload`; none without a `payload` field.
    fn headers(&self) -> impl Iterator<Item = &(Vec<u8>, Vec<u8>)> {
        let with_payload = self.payload().is_some();
        self.fields
            .iter()
            .filter(move |(name, _)| with_payload && name != b"payload")
    }

    /// All the fields as a JSON object of strings (the input of an entry without payload).
    fn fields_object(&self) -> Map<String, Value> {
        self.fields
            .iter()
            .map(|(name, value)| {
                (
                    String::from_utf8_lossy(name).into_owned(),
                    Value::String(String::from_utf8_lossy(value).into_owned()),
                )
            })
            .collect()
    }
}

/// The function's input for an entry on its `delivered`-th delivery (see the module docs).
fn entry_input(
    subscription: &Subscription,
    entry: &Entry,
    delivered: u32,
) -> Result<Value, String> {
    let mut input = match entry.payload() {
        Some(payload) => mq::payload_object(payload)?,
        None => entry.fields_object(),
    };
    if let Some(field) = &subscription.metadata_field {
        let headers: Map<String, Value> = entry
            .headers()
            .map(|(name, value)| {
                (
                    String::from_utf8_lossy(name).into_owned(),
                    Value::String(String::from_utf8_lossy(value).into_owned()),
                )
            })
            .collect();
        input.insert(
            field.clone(),
            json!({
                "subject": subscription.key,
                "id": entry.id,
                "headers": headers,
                "delivered": delivered,
                "group": subscription.group,
            }),
        );
    }
    Ok(Value::Object(input))
}

/// Why an entry goes to the dead-letter stream, and who gave up on it.
#[derive(Debug)]
struct Verdict<'a> {
    code: &'a str,
    error: &'a str,
    delivered: u32,
    vms: &'a str,
    version: &'a str,
}

/// The fields of an entry's dead letter: its payload (or its fields as JSON), its headers,
/// then why it failed.
fn dead_letter_fields(
    subscription: &Subscription,
    entry: &Entry,
    verdict: &Verdict<'_>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let payload = match entry.payload() {
        Some(payload) => payload.to_vec(),
        None => Value::Object(entry.fields_object())
            .to_string()
            .into_bytes(),
    };
    let mut fields = vec![(b"payload".to_vec(), payload)];
    fields.extend(
        entry
            .headers()
            .filter(|(name, _)| {
                !DEAD_LETTER_FIELDS
                    .iter()
                    .any(|ours| ours.as_bytes().eq_ignore_ascii_case(name))
            })
            .cloned(),
    );
    let ours = [
        mq::one_line(verdict.error),
        verdict.code.to_owned(),
        verdict.delivered.to_string(),
        subscription.key.clone(),
        entry.id.clone(),
        verdict.vms.to_owned(),
        verdict.version.to_owned(),
        subscription.function.clone(),
    ];
    fields.extend(
        DEAD_LETTER_FIELDS
            .iter()
            .zip(ours)
            .map(|(name, value)| (name.as_bytes().to_vec(), value.into_bytes())),
    );
    fields
}

/// A reply's bytes, when it is a string.
fn reply_bytes(value: &redis::Value) -> Option<&[u8]> {
    match value {
        redis::Value::BulkString(bytes) => Some(bytes),
        redis::Value::SimpleString(text) => Some(text.as_bytes()),
        redis::Value::VerbatimString { text, .. } => Some(text.as_bytes()),
        _ => None,
    }
}

fn reply_text(value: &redis::Value) -> Option<String> {
    reply_bytes(value).map(|bytes| String::from_utf8_lossy(bytes).into_owned())
}

fn reply_int(value: &redis::Value) -> Option<i64> {
    match value {
        redis::Value::Int(n) => Some(*n),
        other => reply_bytes(other).and_then(|b| std::str::from_utf8(b).ok()?.parse().ok()),
    }
}

fn reply_items(value: &redis::Value) -> Option<&[redis::Value]> {
    match value {
        redis::Value::Array(items) | redis::Value::Set(items) => Some(items),
        _ => None,
    }
}

/// A list of entries `[[id, [field, value, …]], …]`. An entry deleted from the stream (`nil`,
/// or `[id, nil]`) is `None`.
fn parse_entries(value: &redis::Value) -> Result<Vec<Option<Entry>>, String> {
    let Some(items) = reply_items(value) else {
        return match value {
            redis::Value::Nil => Ok(Vec::new()),
            other => Err(format!("unexpected list of entries: {other:?}")),
        };
    };
    items
        .iter()
        .map(|item| {
            let parts = match item {
                redis::Value::Nil => return Ok(None),
                other => reply_items(other),
            };
            let Some([id, fields]) = parts else {
                return Err(format!("unexpected entry: {item:?}"));
            };
            let id = reply_text(id).ok_or_else(|| format!("unexpected entry id: {id:?}"))?;
            let fields = match fields {
                redis::Value::Nil => return Ok(None),
                redis::Value::Map(pairs) => pairs
                    .iter()
                    .map(|(name, value)| (name, value))
                    .collect::<Vec<_>>(),
                other => reply_items(other)
                    .ok_or_else(|| format!("unexpected fields of entry {id}: {other:?}"))?
                    .chunks(2)
                    .filter_map(|pair| match pair {
                        [name, value] => Some((name, value)),
                        _ => None,
                    })
                    .collect(),
            };
            let fields = fields
                .into_iter()
                .map(|(name, value)| {
                    Some((reply_bytes(name)?.to_vec(), reply_bytes(value)?.to_vec()))
                })
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| format!("unexpected fields of entry {id}"))?;
            Ok(Some(Entry { id, fields }))
        })
        .collect()
}

/// The new entries in an `XREADGROUP` reply (`nil` when the wait ended without any).
fn parse_read(value: &redis::Value) -> Result<Vec<Entry>, String> {
    let lists: Vec<&redis::Value> = match value {
        redis::Value::Nil => return Ok(Vec::new()),
        redis::Value::Map(streams) => streams.iter().map(|(_, entries)| entries).collect(),
        other => reply_items(other)
            .ok_or_else(|| format!("unexpected XREADGROUP reply: {other:?}"))?
            .iter()
            .map(|stream| match reply_items(stream) {
                Some([_key, entries]) => Ok(entries),
                _ => Err(format!("unexpected XREADGROUP stream: {stream:?}")),
            })
            .collect::<Result<_, _>>()?,
    };
    let mut entries = Vec::new();
    for list in lists {
        entries.extend(parse_entries(list)?.into_iter().flatten());
    }
    Ok(entries)
}

/// A pending entry, as the extended `XPENDING` form reports it.
#[derive(Debug, Clone, PartialEq)]
struct Pending {
    id: String,
    consumer: String,
    idle: Duration,
    delivered: u32,
}

fn parse_pending(value: &redis::Value) -> Result<Vec<Pending>, String> {
    let Some(items) = reply_items(value) else {
        return Err(format!("unexpected XPENDING reply: {value:?}"));
    };
    items
        .iter()
        .map(|item| {
            pending_entry(item).ok_or_else(|| format!("unexpected pending entry: {item:?}"))
        })
        .collect()
}

/// One row of the extended `XPENDING` form: `[id, consumer, idle ms, deliveries]`.
fn pending_entry(item: &redis::Value) -> Option<Pending> {
    let [id, consumer, idle, delivered] = reply_items(item)? else {
        return None;
    };
    Some(Pending {
        id: reply_text(id)?,
        consumer: reply_text(consumer)?,
        idle: Duration::from_millis(u64::try_from(reply_int(idle)?).ok()?),
        delivered: u32::try_from(reply_int(delivered)?).ok()?,
    })
}

/// What this consumer knows of a pending entry, to decide whether to claim it.
#[derive(Debug, Clone, Copy)]
struct Known {
    /// It is this consumer's.
    mine: bool,
    /// It is being handled here now.
    in_progress: bool,
    /// How long ago it failed here, when it did.
    since_failure: Option<Duration>,
}

/// Whether a pending entry is due to be claimed (see the module docs).
fn due(pending: &Pending, known: Known, backoff: &Backoff) -> bool {
    let wait = mq::redelivery_delay(backoff, pending.delivered);
    if known.mine {
        !known.in_progress && known.since_failure.unwrap_or(pending.idle) >= wait
    } else {
        pending.idle >= wait.max(ABANDONED_AFTER)
    }
}

fn log_error(deployment: &Weak<Deployment>, subscription: &Subscription, what: &str, error: &str) {
    if let Some(d) = deployment.upgrade() {
        tracing::error!(
            vms = d.vms,
            version = d.version,
            function = subscription.function,
            trigger = "mq",
            stream = subscription.key,
            group = subscription.group,
            error,
            "{what}"
        );
    }
}

/// Waits `retry_wait(failures)`, or less when the trigger stops.
async fn pause(failures: u32, stop: &mut watch::Receiver<bool>) {
    let _ = tokio::time::timeout(mq::retry_wait(failures), stop.changed()).await;
}

/// The connection for every command but reads, shared by a subscription's tasks.
///
/// A [`ConnectionManager`] reconnects after errors that close its connection, but not after
/// a response timeout: on a half-open connection (Redis or a network device gone without a
/// reset), every command would time out until the kernel gives up on the socket, many minutes
/// later, and no entry could be acknowledged meanwhile. So a command that times out makes a
/// fresh connection replace the shared one; the command itself still fails, and what it did
/// is tried again the way any failed command is (an entry not acknowledged comes again).
#[derive(Clone)]
struct Commands(Arc<CommandsInner>);

struct CommandsInner {
    client: redis::Client,
    /// The connection in use, and how many times it was replaced.
    current: Mutex<(u64, ConnectionManager)>,
    /// Held while a replacement connects, so that commands timing out together make one.
    replacing: tokio::sync::Mutex<()>,
}

impl Commands {
    async fn connect(client: &redis::Client) -> Result<Commands, String> {
        let connection = connect(client, COMMAND_TIMEOUT).await?;
        Ok(Commands(Arc::new(CommandsInner {
            client: client.clone(),
            current: Mutex::new((0, connection)),
            replacing: tokio::sync::Mutex::new(()),
        })))
    }

    /// Runs `command`; after a timeout, replaces the connection it ran on.
    async fn query(&self, command: &redis::Cmd) -> redis::RedisResult<redis::Value> {
        let (generation, mut connection) = lock(&self.0.current).clone();
        let result = command.query_async(&mut connection).await;
        if result.as_ref().is_err_and(redis::RedisError::is_timeout) {
            self.replace(generation).await;
        }
        result
    }

    /// Connects afresh unless the connection `generation` was replaced already; keeps the
    /// old one when connecting fails (the next timeout tries again).
    async fn replace(&self, generation: u64) {
        let _one = self.0.replacing.lock().await;
        if lock(&self.0.current).0 != generation {
            return;
        }
        if let Ok(fresh) = connect(&self.0.client, COMMAND_TIMEOUT).await {
            *lock(&self.0.current) = (generation + 1, fresh);
        }
    }
}

/// Running a built command on the shared command connection.
trait Run {
    async fn run(&self, commands: &Commands) -> redis::RedisResult<redis::Value>;
}

impl Run for redis::Cmd {
    async fn run(&self, commands: &Commands) -> redis::RedisResult<redis::Value> {
        commands.query(self).await
    }
}

/// A connection that reconnects by itself, its commands failing after `response_timeout`.
async fn connect(
    client: &redis::Client,
    response_timeout: Duration,
) -> Result<ConnectionManager, String> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(COMMAND_TIMEOUT))
        .set_number_of_retries(1)
        .set_response_timeout(Some(response_timeout));
    client
        .get_connection_manager_with_config(config)
        .await
        .map_err(|e| format!("cannot connect to Redis: {e}"))
}

/// A connection for reads alone: its response timeout covers a blocked read.
async fn connect_reader(client: &redis::Client) -> Result<ConnectionManager, String> {
    connect(client, READ_BLOCK + COMMAND_TIMEOUT).await
}

/// Creates the consumer group, and the stream with `create_stream`; an existing group is fine.
async fn ensure_group(commands: &Commands, subscription: &Subscription) -> Result<(), String> {
    let mut command = redis::cmd("XGROUP");
    command
        .arg("CREATE")
        .arg(&subscription.key)
        .arg(&subscription.group)
        .arg("0");
    if subscription.create_stream {
        command.arg("MKSTREAM");
    }
    match command.run(commands).await {
        Ok(_) => Ok(()),
        Err(error) if error.code() == Some("BUSYGROUP") => Ok(()),
        Err(error) => Err(format!(
            "cannot create consumer group {} on stream {}: {error}",
            subscription.group, subscription.key
        )),
    }
}

/// The fetch loop of one subscription: see the module docs.
async fn run_subscription(
    deployment: Weak<Deployment>,
    subscription: Arc<Subscription>,
    consumer: Arc<Consumer>,
    client: redis::Client,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(subscription.concurrency as usize));
    let mut failures: u32 = 0;
    // Connect and create the group, retrying until it works or the trigger stops.
    let (mut reader, commands) = loop {
        if *stop.borrow() {
            Consumer::retire(&consumer);
            return;
        }
        let ready = async {
            let reader = connect_reader(&client).await?;
            let commands = Commands::connect(&client).await?;
            ensure_group(&commands, &subscription).await?;
            Ok::<_, String>((reader, commands))
        };
        let ready = tokio::select! {
            ready = ready => ready,
            _ = stop.changed() => continue,
        };
        match ready {
            Ok(ready) => break ready,
            Err(error) => {
                log_error(
                    &deployment,
                    &subscription,
                    "the subscription cannot start",
                    &error,
                );
                failures += 1;
                pause(failures, &mut stop).await;
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
            stream = subscription.key,
            group = subscription.group,
            consumer = consumer.name,
            "subscribed"
        );
    }
    let reclaimer = tokio::spawn(run_reclaim(
        deployment.clone(),
        subscription.clone(),
        consumer.clone(),
        commands.clone(),
        slots.clone(),
        stop.clone(),
    ));
    // Whether a read failed and the connection and group must be checked again, and whether
    // the last read got its answer (no read of ours may still be running in Redis).
    let mut recovering = false;
    let mut settled = true;
    while !*stop.borrow() {
        if recovering {
            // A fresh read connection: a reconnection the old one tried while Redis was away
            // would fail its next read once more. Then the group again, which a Redis
            // restarted without persistence has lost.
            let recovered = async {
                let fresh = connect_reader(&client).await?;
                ensure_group(&commands, &subscription).await?;
                Ok::<_, String>(fresh)
            };
            let recovered = tokio::select! {
                recovered = recovered => recovered,
                _ = stop.changed() => break,
            };
            match recovered {
                Ok(fresh) => {
                    reader = fresh;
                    recovering = false;
                    failures = 0;
                }
                Err(error) => {
                    log_error(
                        &deployment,
                        &subscription,
                        "the subscription cannot resume",
                        &error,
                    );
                    failures += 1;
                    pause(failures, &mut stop).await;
                    continue;
                }
            }
        }
        // Wait for a free slot (or the stop signal), then ask for as many entries as slots.
        let mut permits = tokio::select! {
            permit = slots.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = stop.changed() => break,
        };
        let free = u32::try_from(slots.available_permits()).unwrap_or(0);
        if free > 0
            && let Ok(more) = slots.clone().try_acquire_many_owned(free)
        {
            permits.merge(more);
        }
        let Some(alive) = deployment.upgrade() else {
            break;
        };
        // Held while the read is open: unloading waits for it (a second at most).
        let fetching = alive.enter();
        let read = redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(&subscription.group)
            .arg(&consumer.name)
            .arg("COUNT")
            .arg(permits.num_permits())
            .arg("BLOCK")
            .arg(consumer.read_block(&subscription.backoff).as_millis() as u64)
            .arg("STREAMS")
            .arg(&subscription.key)
            .arg(">")
            .query_async::<redis::Value>(&mut reader)
            .await;
        settled = read.is_ok();
        let entries = read
            .map_err(|e| e.to_string())
            .and_then(|reply| parse_read(&reply));
        match entries {
            Ok(entries) => {
                failures = 0;
                for entry in entries {
                    let Some(permit) = permits.split(1) else {
                        // More entries than asked for: they stay pending and are claimed later.
                        break;
                    };
                    if consumer.begin(&entry.id) {
                        spawn_handler(
                            &alive,
                            &subscription,
                            &consumer,
                            &commands,
                            entry,
                            1,
                            permit,
                        );
                    }
                }
            }
            Err(error) => {
                drop((permits, fetching, alive));
                log_error(&deployment, &subscription, "cannot read entries", &error);
                recovering = true;
                failures += 1;
                pause(failures, &mut stop).await;
            }
        }
    }
    // Stopped: let the reclaim task end, wait for the entries in hand, then leave the group
    // when this was the consumer's last subscription and nothing is pending for it.
    let _ = reclaimer.await;
    let _ = slots.acquire_many(subscription.concurrency).await;
    if settled && Consumer::retire(&consumer) {
        remove_consumer(&commands, &subscription, &consumer.name).await;
    }
}

/// Removes the consumers of `group` other than `ours` that have nothing pending and have
/// been idle at least `idle`; returns how many.
async fn prune_consumers(
    commands: &Commands,
    key: &str,
    group: &str,
    ours: &str,
    idle: Duration,
) -> redis::RedisResult<i64> {
    let reply = redis::cmd("EVAL")
        .arg(PRUNE_CONSUMERS)
        .arg(1)
        .arg(key)
        .arg(group)
        .arg(ours)
        .arg(idle.as_millis() as u64)
        .run(commands)
        .await?;
    Ok(reply_int(&reply).unwrap_or(0))
}

/// Deletes a consumer nobody uses any more from the group, when nothing is pending for it.
async fn remove_consumer(commands: &Commands, subscription: &Subscription, name: &str) {
    let pending = redis::cmd("XPENDING")
        .arg(&subscription.key)
        .arg(&subscription.group)
        .arg("-")
        .arg("+")
        .arg(1)
        .arg(name)
        .run(commands)
        .await;
    let nothing_pending = pending
        .ok()
        .as_ref()
        .and_then(reply_items)
        .is_some_and(<[redis::Value]>::is_empty);
    if nothing_pending {
        let _ = redis::cmd("XGROUP")
            .arg("DELCONSUMER")
            .arg(&subscription.key)
            .arg(&subscription.group)
            .arg(name)
            .run(commands)
            .await;
    }
}

/// Handles an entry on its own task, holding a slot and keeping the deployment in flight.
fn spawn_handler(
    alive: &Arc<Deployment>,
    subscription: &Arc<Subscription>,
    consumer: &Arc<Consumer>,
    commands: &Commands,
    entry: Entry,
    delivered: u32,
    permit: OwnedSemaphorePermit,
) {
    let in_flight = alive.enter();
    let deployment = alive.clone();
    let subscription = subscription.clone();
    let consumer = consumer.clone();
    let commands = commands.clone();
    tokio::spawn(async move {
        handle(
            &deployment,
            &subscription,
            &consumer,
            commands,
            entry,
            delivered,
        )
        .await;
        // The consumer goes before the slot: once the loop holds every slot, it can tell
        // whether another subscription still uses the consumer.
        drop((consumer, in_flight, deployment));
        drop(permit);
    });
}

/// The reclaim task of one subscription: see the module docs.
async fn run_reclaim(
    deployment: Weak<Deployment>,
    subscription: Arc<Subscription>,
    consumer: Arc<Consumer>,
    commands: Commands,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let mut failures: u32 = 0;
    let mut last_pass = tokio::time::Instant::now();
    let mut next_pass = last_pass + RECLAIM_EVERY;
    let mut resume_after: Option<String> = None;
    while !*stop.borrow() {
        let recorded = consumer.failure_recorded.notified();
        tokio::pin!(recorded);
        recorded.as_mut().enable();
        let wake = consumer
            .next_due(&subscription.backoff)
            .map_or(next_pass, |due| {
                tokio::time::Instant::from_std(due).clamp(last_pass + RECLAIM_GAP, next_pass)
            });
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {}
            _ = &mut recorded => continue,
            _ = stop.changed() => break,
        }
        last_pass = tokio::time::Instant::now();
        next_pass = last_pass + RECLAIM_EVERY;
        let Some(alive) = deployment.upgrade() else {
            break;
        };
        let _busy = alive.enter();
        let pass = Pass {
            deployment: &alive,
            subscription: &subscription,
            consumer: &consumer,
            slots: &slots,
        };
        match pass.run(&commands, &mut resume_after, &mut stop).await {
            Ok(()) => failures = 0,
            Err(error) => {
                log_error(
                    &deployment,
                    &subscription,
                    "cannot claim pending entries",
                    &error,
                );
                failures += 1;
                pause(failures, &mut stop).await;
            }
        }
    }
}

/// One look at the pending entries.
struct Pass<'a> {
    deployment: &'a Arc<Deployment>,
    subscription: &'a Arc<Subscription>,
    consumer: &'a Arc<Consumer>,
    slots: &'a Arc<Semaphore>,
}

impl Pass<'_> {
    /// Claims and hands over the due entries, from `resume_after` (the start when `None`) for
    /// at most [`PENDING_PAGES`] pages; leaves where to go on next time in `resume_after`.
    async fn run(
        &self,
        commands: &Commands,
        resume_after: &mut Option<String>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let subscription = self.subscription;
        let backoff = &subscription.backoff;
        // The shortest idle time any claim needs: an entry failed here is idle at least as
        // long as since it failed.
        let min_idle = mq::redelivery_delay(backoff, 1).min(ABANDONED_AFTER);
        let from_start = resume_after.is_none();
        let mut mine_seen = HashSet::new();
        for _ in 0..PENDING_PAGES {
            let start = resume_after
                .as_ref()
                .map_or_else(|| "-".to_owned(), |id| format!("({id}"));
            let reply = redis::cmd("XPENDING")
                .arg(&subscription.key)
                .arg(&subscription.group)
                .arg("IDLE")
                .arg(min_idle.as_millis() as u64)
                .arg(start)
                .arg("+")
                .arg(PENDING_PAGE)
                .run(commands)
                .await
                .map_err(|e| e.to_string())?;
            let page = parse_pending(&reply)?;
            *resume_after = page.last().map(|p| p.id.clone());
            for pending in &page {
                let mine = pending.consumer == self.consumer.name;
                if mine {
                    mine_seen.insert(pending.id.clone());
                } else {
                    // Taken by another engine: not ours to deliver again.
                    lock(&self.consumer.failed).remove(&pending.id);
                }
                let known = Known {
                    mine,
                    in_progress: lock(&self.consumer.in_progress).contains(&pending.id),
                    since_failure: lock(&self.consumer.failed)
                        .get(&pending.id)
                        .map(|f| f.at.elapsed()),
                };
                if !due(pending, known, backoff) {
                    continue;
                }
                let permit = tokio::select! {
                    permit = self.slots.clone().acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => return Ok(()),
                    },
                    _ = stop.changed() => return Ok(()),
                };
                if *stop.borrow() {
                    return Ok(());
                }
                self.claim(commands, pending, permit).await?;
            }
            if page.len() < PENDING_PAGE {
                *resume_after = None;
                if from_start {
                    // Every pending entry of this consumer idle long enough was seen: a failure
                    // remembered for another one is gone (acknowledged or claimed elsewhere).
                    lock(&self.consumer.failed).retain(|id, failure| {
                        mine_seen.contains(id) || failure.at.elapsed() < min_idle + RECLAIM_GAP
                    });
                    let prune = {
                        let mut at = lock(&self.consumer.pruned_at);
                        let due = at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY);
                        if due {
                            *at = Some(Instant::now());
                        }
                        due
                    };
                    if prune {
                        // Housekeeping: a failure is tried again at the next look.
                        let _ = prune_consumers(
                            commands,
                            &subscription.key,
                            &subscription.group,
                            &self.consumer.name,
                            LEFT_AFTER,
                        )
                        .await;
                    }
                }
                break;
            }
        }
        Ok(())
    }

    /// Claims a due entry with the idle time seen as the minimum (so only one claimer gets
    /// it) and hands it to a handler.
    async fn claim(
        &self,
        commands: &Commands,
        pending: &Pending,
        permit: OwnedSemaphorePermit,
    ) -> Result<(), String> {
        let (subscription, consumer) = (self.subscription, self.consumer);
        if !consumer.begin(&pending.id) {
            return Ok(());
        }
        let reply = redis::cmd("XCLAIM")
            .arg(&subscription.key)
            .arg(&subscription.group)
            .arg(&consumer.name)
            .arg(pending.idle.as_millis() as u64)
            .arg(&pending.id)
            .run(commands)
            .await;
        let claimed = match reply
            .map_err(|e| e.to_string())
            .and_then(|r| parse_entries(&r))
        {
            Ok(claimed) => claimed,
            Err(error) => {
                consumer.end(&pending.id);
                return Err(error);
            }
        };
        match claimed.into_iter().next() {
            Some(Some(entry)) => spawn_handler(
                self.deployment,
                subscription,
                consumer,
                commands,
                entry,
                pending.delivered.saturating_add(1),
                permit,
            ),
            Some(None) => {
                // Deleted from the stream: there is nothing to deliver.
                let _ = xack(commands, subscription, &pending.id).await;
                consumer.end(&pending.id);
            }
            // Claimed by someone else meanwhile, or acknowledged.
            None => consumer.end(&pending.id),
        }
        Ok(())
    }
}

async fn xack(commands: &Commands, subscription: &Subscription, id: &str) -> Result<(), String> {
    redis::cmd("XACK")
        .arg(&subscription.key)
        .arg(&subscription.group)
        .arg(id)
        .run(commands)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

async fn handle(
    deployment: &Arc<Deployment>,
    subscription: &Subscription,
    consumer: &Consumer,
    commands: Commands,
    entry: Entry,
    delivered: u32,
) {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let outcome = match entry_input(subscription, &entry, delivered) {
        Err(error) => Outcome::invalid_payload(error),
        // Claimed again after its last allowed delivery: writing its dead letter failed
        // before, so only that is tried again; the function has had its runs.
        Ok(_) if delivered > subscription.max_deliveries => Outcome::DeadLetter {
            code: "MAX_DELIVERIES".into(),
            error: format!(
                "failed {} deliveries; the dead letter could not be written before",
                subscription.max_deliveries
            ),
        },
        Ok(input) => Outcome::of(
            invoke_refreshing(
                deployment,
                subscription,
                consumer,
                &commands,
                &entry.id,
                input,
                &trace_id,
            )
            .await,
            delivered,
            subscription.max_deliveries,
        ),
    };
    let elapsed = started.elapsed();
    let duration_ms = elapsed.as_secs_f64() * 1000.0;
    let (vms, version, function) = (&deployment.vms, &deployment.version, &subscription.function);
    let entry_id = entry.id.as_str();
    let record = |status: &str| mq::record(deployment, function, status, elapsed);
    match outcome {
        Outcome::Done => {
            let acked = xack(&commands, subscription, entry_id).await;
            consumer.end(entry_id);
            if let Err(error) = acked {
                // Still pending: it will be claimed and handled again (at-least-once).
                record("ack_failed");
                tracing::warn!(
                    vms,
                    version,
                    function,
                    trigger = "mq",
                    trace_id,
                    entry_id,
                    error,
                    "the acknowledgement did not reach Redis; the entry will come again"
                );
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
                    entry_id,
                    delivered,
                    duration_ms,
                    "entry handled"
                );
            }
        }
        Outcome::Retry(error) => {
            record("retry");
            let delay = mq::redelivery_delay(&subscription.backoff, delivered);
            tracing::warn!(
                vms,
                version,
                function,
                trigger = "mq",
                trace_id,
                entry_id,
                delivered,
                retry_in_ms = delay.as_millis() as u64,
                error,
                "the entry failed; it will be delivered again"
            );
            consumer.record_failure(entry_id, delivered);
        }
        Outcome::Requeue(error) => {
            record("cancelled");
            tracing::warn!(
                vms,
                version,
                function,
                trigger = "mq",
                trace_id,
                entry_id,
                delivered,
                error,
                "the run was cancelled by a drain; the entry will be delivered again"
            );
            // Redis counted this delivery; setting its count back to the one before means the
            // next claim counts this delivery again, so it does not bring the entry closer to
            // dead-lettering. Should that fail, the entry is delivered again all the same.
            let before = delivered.saturating_sub(1);
            let _ = redis::cmd("XCLAIM")
                .arg(&subscription.key)
                .arg(&subscription.group)
                .arg(&consumer.name)
                .arg(0)
                .arg(entry_id)
                .arg("RETRYCOUNT")
                .arg(before)
                .arg("JUSTID")
                .run(&commands)
                .await;
            consumer.record_failure(entry_id, before);
        }
        Outcome::DeadLetter { code, error } => {
            let written = match &subscription.dead_letter {
                Some(key) => {
                    let verdict = Verdict {
                        code: &code,
                        error: &error,
                        delivered,
                        vms,
                        version,
                    };
                    let mut command = redis::cmd("XADD");
                    command.arg(key).arg("*");
                    for (name, value) in dead_letter_fields(subscription, &entry, &verdict) {
                        command.arg(name).arg(value);
                    }
                    command
                        .run(&commands)
                        .await
                        .map(|_| ())
                        .map_err(|e| e.to_string())
                }
                None => Ok(()),
            };
            match written {
                Ok(()) => {
                    record("dead_letter");
                    tracing::error!(
                        vms,
                        version,
                        function,
                        trigger = "mq",
                        trace_id,
                        entry_id,
                        delivered,
                        code,
                        error,
                        dead_letter = subscription
                            .dead_letter
                            .as_deref()
                            .unwrap_or("(none: dropped)"),
                        "the message failed for good"
                    );
                    let acked = xack(&commands, subscription, entry_id).await;
                    consumer.end(entry_id);
                    if let Err(error) = acked {
                        tracing::warn!(
                            vms,
                            version,
                            function,
                            trigger = "mq",
                            trace_id,
                            entry_id,
                            error,
                            "the acknowledgement did not reach Redis; the entry will come again"
                        );
                    }
                }
                Err(write_error) => {
                    record("retry");
                    tracing::error!(
                        vms,
                        version,
                        function,
                        trigger = "mq",
                        trace_id,
                        entry_id,
                        error = write_error,
                        "the dead letter could not be written; the entry will be delivered again"
                    );
                    consumer.record_failure(entry_id, delivered);
                }
            }
        }
    }
}

/// Runs the function, resetting the entry's idle time every few seconds so that no other
/// engine claims it.
async fn invoke_refreshing(
    deployment: &Arc<Deployment>,
    subscription: &Subscription,
    consumer: &Consumer,
    commands: &Commands,
    id: &str,
    input: Value,
    trace_id: &str,
) -> Result<Value, InvokeError> {
    let origin = Origin {
        trigger: "mq",
        trace_id,
    };
    let invoke = deployment.invoke(&subscription.function, input, None, origin);
    tokio::pin!(invoke);
    let start = tokio::time::Instant::now() + REFRESH_EVERY;
    let mut ticker = tokio::time::interval_at(start, REFRESH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            result = &mut invoke => return result,
            _ = ticker.tick() => {
                let _ = redis::cmd("XCLAIM")
                    .arg(&subscription.key)
                    .arg(&subscription.group)
                    .arg(&consumer.name)
                    .arg(0)
                    .arg(id)
                    .arg("JUSTID")
                    .run(commands)
                    .await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscription(metadata_field: Option<&str>) -> Subscription {
        Subscription {
            function: "count".into(),
            url: "redis://127.0.0.1:6379/".into(),
            key: "orders".into(),
            group: "shop-count".into(),
            create_stream: false,
            concurrency: 8,
            max_deliveries: 5,
            backoff: Backoff {
                initial_ms: 100,
                max_ms: Some(1000),
                multiplier: Some(2.0),
            },
            dead_letter: Some("orders-dead".into()),
            metadata_field: metadata_field.map(str::to_owned),
        }
    }

    fn entry(fields: &[(&str, &str)]) -> Entry {
        Entry {
            id: "1700000000000-0".into(),
            fields: fields
                .iter()
                .map(|(n, v)| (n.as_bytes().to_vec(), v.as_bytes().to_vec()))
                .collect(),
        }
    }

    #[test]
    fn a_payload_field_is_the_input_and_the_other_fields_its_headers() {
        let published = entry(&[
            ("payload", r#"{"id": 3, "name": "tea"}"#),
            ("tenant", "acme"),
        ]);
        assert_eq!(
            entry_input(&subscription(None), &published, 1),
            Ok(json!({"id": 3, "name": "tea"}))
        );
        assert_eq!(
            entry_input(&subscription(Some("meta")), &published, 2),
            Ok(json!({
                "id": 3,
                "name": "tea",
                "meta": {
                    "subject": "orders",
                    "id": "1700000000000-0",
                    "headers": {"tenant": "acme"},
                    "delivered": 2,
                    "group": "shop-count",
                },
            }))
        );
    }

    #[test]
    fn an_entry_without_payload_is_its_fields_as_strings_without_headers() {
        let plain = entry(&[("id", "7"), ("status", "paid")]);
        assert_eq!(
            entry_input(&subscription(Some("meta")), &plain, 1),
            Ok(json!({
                "id": "7",
                "status": "paid",
                "meta": {
                    "subject": "orders",
                    "id": "1700000000000-0",
                    "headers": {},
                    "delivered": 1,
                    "group": "shop-count",
                },
            }))
        );
    }

    #[test]
    fn a_payload_that_is_not_a_json_object_is_refused() {
        for payload in ["[1, 2]", "not json", "42"] {
            let error = entry_input(&subscription(None), &entry(&[("payload", payload)]), 1);
            assert!(error.is_err(), "{payload}: {error:?}");
        }
    }

    #[test]
    fn a_dead_letter_keeps_payload_and_headers_and_says_why() {
        let failed = entry(&[
            ("payload", "[1, 2]"),
            ("tenant", "acme"),
            ("starweave-error", "an older verdict"),
        ]);
        let verdict = Verdict {
            code: "INVALID_PAYLOAD",
            error: "the payload is JSON\nbut not an object",
            delivered: 1,
            vms: "shop",
            version: "v2",
        };
        let fields: Vec<(String, String)> =
            dead_letter_fields(&subscription(None), &failed, &verdict)
                .into_iter()
                .map(|(n, v)| {
                    (
                        String::from_utf8(n).expect("utf-8"),
                        String::from_utf8(v).expect("utf-8"),
                    )
                })
                .collect();
        let expected = [
            ("payload", "[1, 2]"),
            ("tenant", "acme"),
            ("Starweave-Error", "the payload is JSON but not an object"),
            ("Starweave-Error-Code", "INVALID_PAYLOAD"),
            ("Starweave-Deliveries", "1"),
            ("Starweave-Subject", "orders"),
            ("Starweave-Entry-Id", "1700000000000-0"),
            ("Starweave-Vms", "shop"),
            ("Starweave-Version", "v2"),
            ("Starweave-Function", "count"),
        ]
        .map(|(n, v)| (n.to_owned(), v.to_owned()));
        assert_eq!(fields, expected);

        // Without a payload field, the dead letter's payload is the fields as JSON.
        let plain = entry(&[("id", "7")]);
        let fields = dead_letter_fields(&subscription(None), &plain, &verdict);
        assert_eq!(fields[0], (b"payload".to_vec(), br#"{"id":"7"}"#.to_vec()));
        assert_eq!(fields[1].0, b"Starweave-Error".to_vec());
    }

    fn bulk(text: &str) -> redis::Value {
        redis::Value::BulkString(text.as_bytes().to_vec())
    }

    #[test]
    fn replies_are_read_as_entries_and_pending_entries() {
        let read = redis::Value::Array(vec![redis::Value::Array(vec![
            bulk("orders"),
            redis::Value::Array(vec![
                redis::Value::Array(vec![
                    bulk("1-0"),
                    redis::Value::Array(vec![bulk("payload"), bulk("{}")]),
                ]),
                redis::Value::Array(vec![bulk("2-0"), redis::Value::Nil]),
            ]),
        ])]);
        assert_eq!(
            parse_read(&read),
            Ok(vec![Entry {
                id: "1-0".into(),
                fields: vec![(b"payload".to_vec(), b"{}".to_vec())],
            }])
        );
        assert_eq!(parse_read(&redis::Value::Nil), Ok(Vec::new()));
        assert_eq!(
            parse_entries(&redis::Value::Array(vec![redis::Value::Nil])),
            Ok(vec![None])
        );
        let pending = redis::Value::Array(vec![redis::Value::Array(vec![
            bulk("1-0"),
            bulk("host-1-abc"),
            redis::Value::Int(1500),
            redis::Value::Int(2),
        ])]);
        assert_eq!(
            parse_pending(&pending),
            Ok(vec![Pending {
                id: "1-0".into(),
                consumer: "host-1-abc".into(),
                idle: Duration::from_millis(1500),
                delivered: 2,
            }])
        );
        assert!(parse_pending(&redis::Value::Array(vec![bulk("1-0")])).is_err());
    }

    /// Against the machine's Redis (`STARWEAVE_TEST_REDIS`, else the default port): of a
    /// group's other consumers, only those with nothing pending go.
    #[tokio::test]
    async fn only_idle_consumers_with_nothing_pending_are_pruned() {
        let url = std::env::var("STARWEAVE_TEST_REDIS")
            .unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
        let client = redis::Client::open(url).expect("redis url");
        let commands = Commands::connect(&client).await.expect("redis");
        let key = format!("sw-prune-{}", uuid::Uuid::new_v4().simple());
        let run = |args: &[&str]| {
            let mut command = redis::cmd(args[0]);
            for arg in &args[1..] {
                command.arg(*arg);
            }
            command
        };
        run(&["XGROUP", "CREATE", &key, "g", "0", "MKSTREAM"])
            .run(&commands)
            .await
            .expect("group");
        run(&["XADD", &key, "*", "payload", "{}"])
            .run(&commands)
            .await
            .expect("add");
        for consumer in ["ours", "gone", "busy"] {
            run(&["XGROUP", "CREATECONSUMER", &key, "g", consumer])
                .run(&commands)
                .await
                .expect("consumer");
        }
        // `busy` holds the entry, unacknowledged.
        run(&[
            "XREADGROUP",
            "GROUP",
            "g",
            "busy",
            "COUNT",
            "1",
            "STREAMS",
            &key,
            ">",
        ])
        .run(&commands)
        .await
        .expect("read");
        // Not idle long enough: nobody goes.
        let removed = prune_consumers(&commands, &key, "g", "ours", LEFT_AFTER).await;
        assert_eq!(removed.expect("prune"), 0);
        let removed = prune_consumers(&commands, &key, "g", "ours", Duration::ZERO).await;
        assert_eq!(removed.expect("prune"), 1);
        let consumers = run(&["XINFO", "CONSUMERS", &key, "g"])
            .run(&commands)
            .await
            .expect("info");
        let names: Vec<String> = reply_items(&consumers)
            .expect("consumers")
            .iter()
            .filter_map(|c| {
                let fields = reply_items(c)?;
                let at = fields
                    .iter()
                    .position(|f| reply_text(f).as_deref() == Some("name"))?;
                reply_text(fields.get(at + 1)?)
            })
            .collect();
        assert_eq!(names, ["busy", "ours"]);
        let _ = run(&["DEL", &key]).run(&commands).await;
    }

    #[test]
    fn consumer_names_are_unique_and_name_the_process() {
        let (first, second) = (consumer_name(), consumer_name());
        assert_ne!(first, second);
        assert!(
            first.contains(&format!("-{}-", std::process::id())),
            "{first}"
        );
        assert!(!first.contains(char::is_whitespace), "{first}");
    }

    #[test]
    fn own_entries_are_due_after_their_backoff_and_others_after_thirty_seconds() {
        let backoff = subscription(None).backoff;
        let pending = |idle_ms: u64, delivered: u32| Pending {
            id: "1-0".into(),
            consumer: "other".into(),
            idle: Duration::from_millis(idle_ms),
            delivered,
        };
        let mine = |since_failure: Option<u64>| Known {
            mine: true,
            in_progress: false,
            since_failure: since_failure.map(Duration::from_millis),
        };
        // Delivered twice: the wait is 200 ms, from the failure when it is known.
        assert!(!due(&pending(150, 2), mine(None), &backoff));
        assert!(due(&pending(250, 2), mine(None), &backoff));
        assert!(!due(&pending(250, 2), mine(Some(150)), &backoff));
        assert!(due(&pending(250, 2), mine(Some(200)), &backoff));
        let running = Known {
            in_progress: true,
            ..mine(None)
        };
        assert!(!due(&pending(60_000, 2), running, &backoff));
        let theirs = Known {
            mine: false,
            in_progress: false,
            since_failure: None,
        };
        assert!(!due(&pending(29_000, 2), theirs, &backoff));
        assert!(due(&pending(30_000, 2), theirs, &backoff));
    }
}
