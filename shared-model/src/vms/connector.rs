//! Connectors: configured clients of outside systems, each with named methods.
//!
//! A connector lives in `connectors/<name>.yaml`; its `kind` decides the rest of the file.
//!
//! Strings called *templates* below are text with `{{ expression }}` placeholders, where the
//! expression is a Rhai expression over `input` (the method's input) and `env` (the
//! deployment's env vars); in an HTTP `path`, `{name}` is short for `{{ input.name }}`.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::params::Parameter;
use super::serde_util::{is_false, present};

/// A connector; the `kind` key in YAML selects the variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Connector {
    /// An HTTP API, hand-defined or imported from OpenAPI.
    Http(HttpConnector),
    /// A SQL database (PostgreSQL, MySQL/MariaDB, SQLite).
    Database(DatabaseConnector),
    /// A Redis cache.
    Cache(CacheConnector),
    /// A message broker to publish to (NATS JetStream, AMQP, Redis Streams).
    Mq(MqConnector),
    /// A gRPC service called dynamically from a descriptor set.
    Grpc(GrpcConnector),
    /// Configuration values read from env vars.
    Config(ConfigConnector),
}

/// The kinds of connector, as written in the `kind` key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    /// [`Connector::Http`].
    Http,
    /// [`Connector::Database`].
    Database,
    /// [`Connector::Cache`].
    Cache,
    /// [`Connector::Mq`].
    Mq,
    /// [`Connector::Grpc`].
    Grpc,
    /// [`Connector::Config`].
    Config,
}

impl ConnectorKind {
    /// Every kind, in documentation order.
    pub const ALL: [ConnectorKind; 6] = [
        ConnectorKind::Http,
        ConnectorKind::Database,
        ConnectorKind::Cache,
        ConnectorKind::Mq,
        ConnectorKind::Grpc,
        ConnectorKind::Config,
    ];

    /// The name written in the `kind` key.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectorKind::Http => "http",
            ConnectorKind::Database => "database",
            ConnectorKind::Cache => "cache",
            ConnectorKind::Mq => "mq",
            ConnectorKind::Grpc => "grpc",
            ConnectorKind::Config => "config",
        }
    }
}

/// What every connector method has, whatever its kind: the view validators and the IDE use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MethodSignature<'a> {
    /// The method's name, called as `<connector>.<method>`.
    pub name: &'a str,
    /// What it does, for people.
    pub description: Option<&'a str>,
    /// The fields of its input.
    pub input: &'a [Parameter],
    /// The fields of its output.
    pub output: &'a [Parameter],
}

impl Connector {
    /// The connector's kind.
    pub fn kind(&self) -> ConnectorKind {
        match self {
            Connector::Http(_) => ConnectorKind::Http,
            Connector::Database(_) => ConnectorKind::Database,
            Connector::Cache(_) => ConnectorKind::Cache,
            Connector::Mq(_) => ConnectorKind::Mq,
            Connector::Grpc(_) => ConnectorKind::Grpc,
            Connector::Config(_) => ConnectorKind::Config,
        }
    }

    /// The connector's description.
    pub fn description(&self) -> Option<&str> {
        match self {
            Connector::Http(c) => c.description.as_deref(),
            Connector::Database(c) => c.description.as_deref(),
            Connector::Cache(c) => c.description.as_deref(),
            Connector::Mq(c) => c.description.as_deref(),
            Connector::Grpc(c) => c.description.as_deref(),
            Connector::Config(c) => c.description.as_deref(),
        }
    }

    /// The signatures of its methods, in file order. A config connector offers one method
    /// per value, with no input and the value as its output field `value`.
    pub fn methods(&self) -> Vec<MethodSignature<'_>> {
        fn sig<'a>(
            name: &'a str,
            description: &'a Option<String>,
            input: &'a [Parameter],
            output: &'a [Parameter],
        ) -> MethodSignature<'a> {
            MethodSignature {
                name,
                description: description.as_deref(),
                input,
                output,
            }
        }
        match self {
            Connector::Http(c) => c
                .methods
                .iter()
                .map(|m| sig(&m.name, &m.description, &m.input, &m.output))
                .collect(),
            Connector::Database(c) => c
                .methods
                .iter()
                .map(|m| sig(&m.name, &m.description, &m.input, &m.output))
                .collect(),
            Connector::Cache(c) => c
                .methods
                .iter()
                .map(|m| sig(&m.name, &m.description, &m.input, &m.output))
                .collect(),
            Connector::Mq(c) => c
                .methods
                .iter()
                .map(|m| sig(&m.name, &m.description, &m.input, &m.output))
                .collect(),
            Connector::Grpc(c) => c
                .methods
                .iter()
                .map(|m| sig(&m.name, &m.description, &m.input, &m.output))
                .collect(),
            Connector::Config(c) => c
                .values
                .iter()
                .map(|v| sig(&v.name, &v.description, &[], &[]))
                .collect(),
        }
    }

    /// The signature of the method called `name`, if there is one.
    pub fn method(&self, name: &str) -> Option<MethodSignature<'_>> {
        self.methods().into_iter().find(|m| m.name == name)
    }
}

/// How often and how patiently to retry a failed call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: u32,
    /// Wait between attempts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<Backoff>,
}

/// Exponential backoff: `initial_ms`, then × `multiplier` each time, capped at `max_ms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// The first wait, in milliseconds.
    pub initial_ms: u64,
    /// The longest wait, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<u64>,
    /// Growth factor between waits; 2 when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiplier: Option<f64>,
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

/// An HTTP API.
///
/// ```yaml
/// kind: http
/// description: The users service.
/// base_url: "{{ env.USERS_API_URL }}"
/// headers:
///   Accept: application/json
/// auth:
///   type: bearer
///   token_env: USERS_API_TOKEN
/// timeout_ms: 3000
/// methods:
/// - name: get_user
///   method: GET
///   path: /users/{id}
///   input:
///   - name: id
///     type: string
///     required: true
///   error_statuses:
///     '404': NOT_FOUND
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConnector {
    /// What the API is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The base URL every method path is appended to (a template, typically `{{ env.X }}`).
    pub base_url: String,
    /// Headers sent with every call (values are templates).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// How to authenticate; secrets come from env vars.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<HttpAuth>,
    /// Timeout per call in milliseconds; the engine's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Retries for idempotent methods (GET, HEAD, PUT, DELETE, OPTIONS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// TLS beyond the system's trust store: a private CA, a client certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<HttpTls>,
    /// The OpenAPI document the methods were generated from (a path in the VMS or a URL);
    /// set by the importer so methods can be refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub openapi_source: Option<String>,
    /// The methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<HttpMethod>,
}

/// TLS settings of an HTTP connector, for APIs behind a private CA or requiring mutual TLS.
///
/// Values are names of env vars, never the certificates or keys themselves. Each env var
/// holds PEM text (`-----BEGIN …`; a one-line value with `\n` escapes is accepted) or the
/// path of a PEM file on the engine's host. Without `tls`, servers are verified against the
/// system's trust store.
///
/// ```yaml
/// tls:
///   ca_env: PAYMENTS_CA             # trusted in addition to the system's roots
///   client_cert_env: PAYMENTS_CERT  # the certificate (chain) the engine presents
///   client_key_env: PAYMENTS_KEY    # its private key (PKCS#8, PKCS#1 or SEC1)
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpTls {
    /// The env var holding CA certificates to trust besides the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_env: Option<String>,
    /// The env var holding the client certificate chain presented to the server (mutual
    /// TLS); needs `client_key_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_cert_env: Option<String>,
    /// The env var holding the client certificate's private key; needs `client_cert_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_key_env: Option<String>,
}

/// How an HTTP connector authenticates. Values are names of env vars, never secrets.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpAuth {
    /// `Authorization: Bearer <token>`.
    Bearer {
        /// The env var holding the token.
        token_env: String,
    },
    /// HTTP basic authentication.
    Basic {
        /// The env var holding the user name.
        username_env: String,
        /// The env var holding the password.
        password_env: String,
    },
    /// A key sent in a header or a query parameter.
    ApiKey {
        /// The header name (or query parameter name when `in_query`).
        name: String,
        /// The env var holding the key.
        value_env: String,
        /// Send it as a query parameter instead of a header.
        #[serde(default, skip_serializing_if = "is_false")]
        in_query: bool,
    },
    /// OAuth 2 client credentials (`type: oauth2_client_credentials`): a token fetched from
    /// `token_url` and cached until expiry.
    #[serde(
        rename = "oauth2_client_credentials",
        alias = "o_auth2_client_credentials"
    )]
    OAuth2ClientCredentials {
        /// The token endpoint (a template).
        token_url: String,
        /// The env var holding the client id.
        client_id_env: String,
        /// The env var holding the client secret.
        client_secret_env: String,
        /// Scopes requested.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        scopes: Vec<String>,
    },
}

/// An HTTP verb.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpVerb {
    /// GET.
    #[default]
    Get,
    /// POST.
    Post,
    /// PUT.
    Put,
    /// PATCH.
    Patch,
    /// DELETE.
    Delete,
    /// HEAD.
    Head,
    /// OPTIONS.
    Options,
}

impl HttpVerb {
    /// Whether repeating the call is harmless, so retries are allowed.
    pub fn is_idempotent(self) -> bool {
        !matches!(self, HttpVerb::Post | HttpVerb::Patch)
    }
}

/// One method of an HTTP connector: a request template and how to read the response.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpMethod {
    /// The method's name.
    pub name: String,
    /// What it does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The HTTP verb.
    pub method: HttpVerb,
    /// The path after the base URL, a template (`/users/{id}`).
    pub path: String,
    /// Query parameters (values are templates; a value that renders empty is left out).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub query: IndexMap<String, String>,
    /// Headers added to the connector's (values are templates).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// The JSON body: a JSON value whose strings are templates. A string that is exactly one
    /// placeholder (`"{{ input.order }}"`) is replaced by the value itself, not its text.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub body: Option<Value>,
    /// The fields of the input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<Parameter>,
    /// The fields of the output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<Parameter>,
    /// An expression over `response` (`status`, `headers`, `body`) giving the output; the
    /// response body when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response: Option<String>,
    /// Response statuses turned into error codes: `"404": NOT_FOUND`, `"5xx": UPSTREAM`.
    /// Other non-2xx statuses raise `HTTP_<status>`.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub error_statuses: IndexMap<String, String>,
    /// Timeout for this method, overriding the connector's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
}

// ---------------------------------------------------------------------------------------
// Database
// ---------------------------------------------------------------------------------------

/// A SQL database with MyBatis-style dynamic SQL methods.
///
/// ```yaml
/// kind: database
/// driver: postgres
/// url_env: ORDERS_DB_URL
/// pool_size: 8
/// methods:
/// - name: find_orders
///   sql: |
///     SELECT id, total FROM ${table}
///     <where>
///       <if test="status != null">status = #{status}</if>
///     </where>
///   identifiers:
///     table: [orders, archived_orders]
///   returns: rows
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConnector {
    /// What the database is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which database.
    pub driver: DbDriver,
    /// The env var holding the connection URL.
    pub url_env: String,
    /// Largest number of pooled connections; the engine's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool_size: Option<u32>,
    /// Statement timeout in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<SqlMethod>,
}

/// A database driver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DbDriver {
    /// PostgreSQL.
    #[default]
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// SQLite.
    Sqlite,
}

/// One SQL method.
///
/// `sql` is MyBatis-style dynamic SQL, kept verbatim: `#{name}` binds a prepared-statement
/// parameter; `${name}` splices an identifier and is allowed only with an `identifiers`
/// allow-list for `name`; `<if test>`, `<where>`, `<set>`, `<foreach>`,
/// `<choose>/<when>/<otherwise>` and `<trim>` shape the statement.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlMethod {
    /// The method's name.
    pub name: String,
    /// What it does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The dynamic SQL text.
    pub sql: String,
    /// For each `${name}`, the identifiers it may take.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub identifiers: IndexMap<String, Vec<String>>,
    /// What the method returns.
    #[serde(default, skip_serializing_if = "SqlReturns::is_default")]
    pub returns: SqlReturns,
    /// The fields of the input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<Parameter>,
    /// The fields of the output (of each row, for `rows` and `one`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<Parameter>,
}

/// What a SQL method returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SqlReturns {
    /// Every row, as an array of objects.
    #[default]
    Rows,
    /// The first row as an object, or `null` when there is none.
    One,
    /// The number of affected rows, as `{ "affected": n }`.
    Affected,
    /// The generated key of an insert, as `{ "key": k }`; `{ "key": null }` when the
    /// statement inserted nothing (`INSERT IGNORE`, `ON CONFLICT DO NOTHING`).
    GeneratedKey,
}

impl SqlReturns {
    fn is_default(&self) -> bool {
        *self == SqlReturns::Rows
    }
}

// ---------------------------------------------------------------------------------------
// Cache
// ---------------------------------------------------------------------------------------

/// A Redis cache.
///
/// ```yaml
/// kind: cache
/// url_env: REDIS_URL
/// key_prefix: "bff:"
/// methods:
/// - name: get_profile
///   op: get
///   key: profile:{{ input.id }}
/// - name: put_profile
///   op: set
///   key: profile:{{ input.id }}
///   value: input.profile
///   ttl_seconds: 300
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheConnector {
    /// What the cache holds, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The env var holding the Redis URL.
    pub url_env: String,
    /// Prefix added to every key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// The methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<CacheMethod>,
}

/// A cache operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheOp {
    /// Read a value (`null` when missing).
    #[default]
    Get,
    /// Write a value, with the method's TTL.
    Set,
    /// Delete a key.
    Del,
    /// Add to an integer (by `value`, 1 when absent).
    Incr,
    /// Read one hash field.
    Hget,
    /// Write one hash field.
    Hset,
    /// Read a whole hash as an object.
    Hgetall,
    /// Set a key's TTL.
    Expire,
}

/// One cache method.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CacheMethod {
    /// The method's name.
    pub name: String,
    /// What it does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The operation.
    pub op: CacheOp,
    /// The key, a template.
    pub key: String,
    /// The hash field for `hget`/`hset`, a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// An expression giving the value for `set`/`hset`/`incr`; `input.value` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Time to live in seconds (1 s to 10 years): `set`, `hset` and `expire` give it to the
    /// key; `incr` gives it to the key it creates (later increments keep that expiry).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_seconds: Option<u64>,
    /// The fields of the input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<Parameter>,
    /// The fields of the output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<Parameter>,
}

// ---------------------------------------------------------------------------------------
// Message queues
// ---------------------------------------------------------------------------------------

/// A message broker: publish methods here, subscriptions in MQ triggers that name it.
///
/// ```yaml
/// kind: mq
/// broker: nats
/// url_env: NATS_URL
/// stream: ORDERS
/// methods:
/// - name: order_created
///   subject: orders.created.{{ input.region }}
///   headers:
///     Nats-Msg-Id: "{{ input.id }}"
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqConnector {
    /// What the broker carries, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Which broker.
    pub broker: MqBroker,
    /// The env var holding the broker URL.
    pub url_env: String,
    /// The JetStream stream (NATS) that publishes must land in; checked at start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// The methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<MqMethod>,
}

/// A message broker kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MqBroker {
    /// NATS with JetStream.
    #[default]
    Nats,
    /// AMQP 0-9-1 (RabbitMQ).
    Amqp,
    /// Redis Streams.
    RedisStreams,
}

/// One publish method.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqMethod {
    /// The method's name.
    pub name: String,
    /// What it publishes, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The NATS subject or Redis stream key, a template (unused for AMQP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The AMQP exchange.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange: Option<String>,
    /// The AMQP routing key, a template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing_key: Option<String>,
    /// Message headers (values are templates).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// An expression giving the payload (sent as JSON); the whole input when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    /// The fields of the input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<Parameter>,
    /// The fields of the output (the broker's acknowledgement, e.g. stream sequence).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<Parameter>,
}

// ---------------------------------------------------------------------------------------
// gRPC
// ---------------------------------------------------------------------------------------

/// A gRPC service, called dynamically from a protobuf descriptor set.
///
/// ```yaml
/// kind: grpc
/// endpoint: "{{ env.INVENTORY_GRPC }}"
/// descriptor_set: protos/inventory.binpb
/// methods:
/// - name: reserve
///   method: shop.inventory.v1.Inventory/Reserve
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcConnector {
    /// What the service is, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The server address, a template (`http://host:port`, or `https://` for TLS, checked
    /// against the system's roots). An `https://` address may end in query parameters the
    /// engine takes off it: `cacertfile=/path/ca.pem` trusts that CA too, and
    /// `certfile=…&keyfile=…` presents a client certificate (mutual TLS).
    pub endpoint: String,
    /// The compiled descriptor set (`protoc --descriptor_set_out`), a path in the VMS.
    pub descriptor_set: String,
    /// Metadata sent with every call (values are templates).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub metadata: IndexMap<String, String>,
    /// Deadline per call in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The methods.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<GrpcMethod>,
}

/// One gRPC method; the request is built from the input as protobuf JSON.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrpcMethod {
    /// The method's name in the VMS.
    pub name: String,
    /// What it does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The full gRPC method name, `package.Service/Method`.
    pub method: String,
    /// Metadata added to the connector's (values are templates).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub metadata: IndexMap<String, String>,
    /// The fields of the input (the request message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<Parameter>,
    /// The fields of the output (the response message).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<Parameter>,
}

// ---------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------

/// Configuration values read from the deployment's env vars.
///
/// ```yaml
/// kind: config
/// values:
/// - name: page_size
///   env: PAGE_SIZE
///   default: 20
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigConnector {
    /// What the configuration is for, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The values; each is also a method of the same name with no input.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<ConfigValue>,
}

/// One configuration value.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigValue {
    /// The value's name.
    pub name: String,
    /// What it means, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The env var it comes from (declared in `vms.yaml`).
    pub env: String,
    /// The value when the env var is unset.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<Value>,
}
