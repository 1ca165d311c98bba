//! Triggers: how a function is invoked from outside. One trigger calls one function.
//!
//! All triggers of a VMS live in `triggers.yaml`, a list whose items have a `kind`.
//!
//! ```yaml
//! - kind: http
//!   function: get_user
//!   method: GET
//!   path: /users/{id}
//!   error_statuses:
//!     NOT_FOUND: 404
//! - kind: cron
//!   function: nightly_report
//!   schedule: 0 0 2 * * *
//!   timezone: Europe/Paris
//!   missed_runs: run-once
//! - kind: mq
//!   function: on_order
//!   connector: events
//!   subject: orders.created.>
//!   stream: ORDERS
//!   durable: order-handler
//!   max_deliveries: 5
//!   dead_letter: orders.dead
//!   max_concurrency: 8
//! - kind: grpc
//!   function: reserve
//!   service: shop.inventory.v1.Inventory
//!   method: Reserve
//!   descriptor_set: protos/inventory.binpb
//! ```

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::connector::{Backoff, HttpVerb};
use super::serde_util::{is_false, present};

/// A trigger; the `kind` key in YAML selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// An HTTP route.
    Http(HttpTrigger),
    /// A schedule.
    Cron(CronTrigger),
    /// A message queue subscription.
    Mq(MqTrigger),
    /// A gRPC server method.
    Grpc(GrpcTrigger),
}

/// The kinds of trigger, as written in the `kind` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerKind {
    /// [`Trigger::Http`].
    Http,
    /// [`Trigger::Cron`].
    Cron,
    /// [`Trigger::Mq`].
    Mq,
    /// [`Trigger::Grpc`].
    Grpc,
}

impl TriggerKind {
    /// Every kind, in documentation order.
    pub const ALL: [TriggerKind; 4] = [
        TriggerKind::Http,
        TriggerKind::Cron,
        TriggerKind::Mq,
        TriggerKind::Grpc,
    ];

    /// The name written in the `kind` key.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerKind::Http => "http",
            TriggerKind::Cron => "cron",
            TriggerKind::Mq => "mq",
            TriggerKind::Grpc => "grpc",
        }
    }
}

impl Trigger {
    /// The name of the function the trigger calls.
    pub fn function(&self) -> &str {
        match self {
            Trigger::Http(t) => &t.function,
            Trigger::Cron(t) => &t.function,
            Trigger::Mq(t) => &t.function,
            Trigger::Grpc(t) => &t.function,
        }
    }

    /// The trigger's kind.
    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Http(_) => TriggerKind::Http,
            Trigger::Cron(_) => TriggerKind::Cron,
            Trigger::Mq(_) => TriggerKind::Mq,
            Trigger::Grpc(_) => TriggerKind::Grpc,
        }
    }

    /// The trigger's description.
    pub fn description(&self) -> Option<&str> {
        match self {
            Trigger::Http(t) => t.description.as_deref(),
            Trigger::Cron(t) => t.description.as_deref(),
            Trigger::Mq(t) => t.description.as_deref(),
            Trigger::Grpc(t) => t.description.as_deref(),
        }
    }
}

/// An HTTP route.
///
/// The function's input is built from the request: the JSON body (when an object), then the
/// query parameters, then the path parameters, later sources winning — unless `input` maps
/// fields explicitly. The output is the JSON response body with status `status` (200).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTrigger {
    /// The function called.
    pub function: String,
    /// What the route is for, for people (also the OpenAPI summary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The HTTP verb.
    pub method: HttpVerb,
    /// The path, with `{name}` parameters: `/users/{id}/orders`.
    pub path: String,
    /// Explicit input mapping: input field → expression over `request` (`path`, `query`,
    /// `headers`, `body`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub input: IndexMap<String, String>,
    /// The success status; 200 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Error code → HTTP status. Unmapped errors answer 500; input validation answers 400.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub error_statuses: IndexMap<String, u16>,
    /// Who may call the route; anyone when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RouteAuth>,
}

/// How callers of an HTTP route authenticate. Values are names of env vars, never secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum RouteAuth {
    /// A static key in a header.
    ApiKey {
        /// The header carrying the key.
        header: String,
        /// The env var holding the accepted key.
        value_env: String,
    },
    /// A JWT bearer token checked against a secret or a JWKS.
    Jwt {
        /// The env var holding the HMAC secret (HS256) …
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_env: Option<String>,
        /// … or the JWKS URL (RS256/ES256).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jwks_url: Option<String>,
        /// Required `iss`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        issuer: Option<String>,
        /// Required `aud`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        audience: Option<String>,
    },
    /// HTTP basic authentication.
    Basic {
        /// The env var holding the user name.
        username_env: String,
        /// The env var holding the password.
        password_env: String,
    },
}

/// A schedule.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CronTrigger {
    /// The function called.
    pub function: String,
    /// What the job does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A cron expression: 5 fields, or 6 with seconds first (`0 */5 * * * *`).
    pub schedule: String,
    /// IANA time zone the schedule is read in (`Europe/Paris`); UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// Start a run even when the previous one is still going.
    #[serde(default, skip_serializing_if = "is_false")]
    pub allow_overlap: bool,
    /// What to do about runs missed while no engine was running the VMS.
    #[serde(default, skip_serializing_if = "MissedRunPolicy::is_default")]
    pub missed_runs: MissedRunPolicy,
    /// The function's input for every run.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub input: Option<Value>,
}

/// What a cron trigger does about runs it missed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissedRunPolicy {
    /// Forget them; wait for the next time.
    #[default]
    Skip,
    /// Run once now, however many were missed.
    RunOnce,
    /// Run once for every missed time, in order.
    CatchUp,
}

impl MissedRunPolicy {
    fn is_default(&self) -> bool {
        *self == MissedRunPolicy::Skip
    }
}

/// A subscription to a message queue; the broker and its URL come from the MQ connector.
///
/// A message's JSON payload (an object) is the function's input. It is acknowledged when the
/// function succeeds; on failure it is redelivered after `backoff`, up to `max_deliveries`
/// deliveries, then sent to `dead_letter` (when set) and taken off the queue. A payload that
/// is not a JSON object, or an input the function refuses, is not retried.
///
/// With NATS JetStream the subscription is a durable pull consumer named `durable` on
/// `stream`; with Redis Streams, the consumer group `durable` on the key `subject`; with AMQP,
/// a consumer of the queue `subject`. Versions of a VMS share it, so a new version takes over
/// where the old one stopped.
/// The suffix of an AMQP subscription's delay queue: `<queue>.starweave-retry`.
pub const AMQP_RETRY_SUFFIX: &str = ".starweave-retry";

/// How many random characters follow the durable name (and a `-`) in an AMQP consumer tag.
pub const AMQP_TAG_SUFFIX_LEN: usize = 8;

/// The longest AMQP queue name or consumer tag (a "short string"), in bytes.
pub const AMQP_MAX_NAME: usize = 255;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqTrigger {
    /// The function called.
    pub function: String,
    /// What the subscription is for, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The MQ connector giving broker kind and URL.
    pub connector: String,
    /// The NATS subject (wildcards allowed), AMQP queue or Redis stream key.
    pub subject: String,
    /// The durable consumer name (NATS), or consumer group (Redis Streams, created at the
    /// start of the stream, so a new group also handles the entries already there); the VMS
    /// and function names (`<vms>-<function>`) when absent. Every version of a VMS uses it.
    /// On AMQP it starts the consumer tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub durable: Option<String>,
    /// Deliveries (the first one included) before a message is dead-lettered; 5 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_deliveries: Option<u32>,
    /// Wait before a failed message is redelivered, growing with each delivery; 1 s doubling
    /// up to 60 s when absent. On Redis Streams a failed entry stays pending and is claimed
    /// again once this wait has passed; on AMQP a copy waits in `<queue>.starweave-retry`
    /// (its expiration) and flows back into the queue.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
    /// Where messages go after `max_deliveries` failures, with headers saying why; without
    /// it such messages are logged and dropped. On Redis Streams it is a stream key: the dead
    /// letter has the entry's `payload` (or its fields as JSON) and other fields, plus
    /// `Starweave-Error`, `Starweave-Error-Code`, `Starweave-Deliveries` and the like. On
    /// AMQP it is a queue, reached through the default exchange; without it a failed message
    /// is rejected, so the queue's own dead-lettering (if the broker has one) takes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<String>,
    /// Messages handled at once by one engine; 8 when absent (1 keeps them in order). On
    /// AMQP it is also the channel's prefetch count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<u32>,
    /// The JetStream stream holding `subject`; the connector's `stream` when absent. NATS
    /// only (a Redis stream is its `subject`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Create the stream (file storage, capturing `subject`) when it does not exist; when
    /// false a missing stream is an error reported in the log until it appears. On Redis
    /// Streams, create the key with the consumer group (`XGROUP CREATE … MKSTREAM`); on AMQP,
    /// declare the queue and the `dead_letter` queue (durable).
    #[serde(default, skip_serializing_if = "is_false")]
    pub create_stream: bool,
    /// An input field that receives the message's metadata: `subject`, `headers` (name →
    /// value), `stream`, `sequence` and `delivered` (1 on the first delivery). On Redis
    /// Streams: `subject` (the key), `id` (the entry id), `headers` (the entry's fields other
    /// than `payload`), `delivered` and `group`. On AMQP: `subject` (the queue), `exchange`,
    /// `routing_key`, `headers`, `delivered` and `message_id`. None when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata_field: Option<String>,
}

/// A gRPC server method.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcTrigger {
    /// The function called.
    pub function: String,
    /// What the method does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The full service name, `package.Service`.
    pub service: String,
    /// The method name within the service.
    pub method: String,
    /// The compiled descriptor set declaring the service, a path in the VMS.
    pub descriptor_set: String,
    /// Error code → gRPC status code name (`NOT_FOUND`, `INVALID_ARGUMENT`…).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub error_statuses: IndexMap<String, String>,
}
