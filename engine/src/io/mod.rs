//! Live connectors: the [`Connectors`] a deployed VMS runs with, talking to real systems.
//!
//! [`LiveConnectors::new`] takes a VMS's connectors and a deployment's env var values and
//! compiles everything once — templates, expressions, dynamic SQL — returning diagnostics for
//! whatever is wrong (those methods then refuse calls with the diagnostic's message).
//! Clients and pools are created lazily on first use and shared by every run; reqwest,
//! sqlx and redis reconnect by themselves.
//!
//! | kind | module | client |
//! |---|---|---|
//! | http | [`http`] (and [`openapi`] to import methods) | reqwest, pooled, retries with backoff for idempotent verbs |
//! | database | [`sql`] with [`dynsql`] | sqlx pools for PostgreSQL, MySQL/MariaDB, SQLite |
//! | cache | `cache` | redis connection manager |
//! | mq | `mq`, `amqp` | NATS JetStream (async-nats), Redis Streams; AMQP with publisher confirms (lapin) |
//! | config | here | the deployment's env vars |
//! | grpc | [`grpc`] | tonic channel, prost-reflect messages from a descriptor set in [`LiveOptions::files`] |
//!
//! # Runs and transactions
//!
//! Transaction ids are per run, so each run should get its own [`LiveConnectors::for_run`]
//! view: it shares the clients and pools and keeps its own transaction table. A BPMN
//! transaction opens a database transaction lazily, the first time a call inside it touches
//! a database connector, one per connector; nested transactions are SAVEPOINTs on those
//! connections. Commit and rollback reach every connection the transaction touched. Several
//! databases in one transaction commit one after the other (no two-phase commit). A view
//! dropped with transactions still open rolls them back.
//!
//! PostgreSQL aborts a transaction at the first statement it rejects, even when the process
//! catches the error (a `CONFLICT` caught by a boundary event), and would answer the commit
//! with a silent rollback. So once a call fails at the database in a PostgreSQL
//! transaction, the transaction is marked failed: later calls in it fail at once, and its
//! commit rolls back and fails, both with the code `TRANSACTION_FAILED`. Rolling back a
//! nested transaction that began before the failure (its savepoint) clears the mark, as it
//! does in PostgreSQL; committing one that holds the failure rolls it back and fails the
//! same way. MySQL, MariaDB and SQLite undo only the failed statement, so nothing is marked.
//!
//! # Connection tests
//!
//! [`LiveConnectors::check`] tries one connector's connection the way its calls would make
//! it — same URL, TLS files, credentials — and runs one harmless command: `HEAD` on an HTTP
//! connector's base URL (after fetching its OAuth 2 token, if it has one), the server's
//! version on a database, `PING` on Redis, the server's info on NATS (and the stream, when
//! the connector names one), a channel on an AMQP broker, an HTTP/2 connection to a gRPC
//! endpoint, every env var of a config connector. The IDE's "Test connection" runs it.
//!
//! # Errors and secrets
//!
//! Every call has a timeout (the method's, the connector's, else [`LiveOptions::default_timeout`]).
//! Messages name connectors, methods, env var *names* and parameters; env var values (and
//! passwords found in URL values) are redacted from anything a client library reports.

pub mod dynsql;
pub mod grpc;
pub mod grpc_import;
pub mod http;
pub mod openapi;
pub mod sql;

pub(crate) mod amqp;
mod cache;
mod mq;
pub(crate) mod nats;
mod template;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value};
use starweave_model::Diagnostic;
use starweave_model::vms::connector::{ConfigConnector, Connector, MqBroker};
use tokio::sync::Mutex;

use crate::connectors::{BoxFuture, ConnectorError, ConnectorRequest, Connectors, TransactionId};
use crate::script::RunControl;
use crate::script::library::{Library, SystemClock};
use crate::script::rhai::{RhaiEngine, RhaiLimits};

/// Settings of the live connectors that are not part of the VMS.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Timeout of a call whose method and connector set none.
    pub default_timeout: Duration,
    /// The Rhai engine templates and expressions are compiled with; a fresh one when `None`.
    pub rhai: Option<RhaiEngine>,
    /// The VMS's files by relative path (`Vms::other_files`): where gRPC connectors find
    /// their `descriptor_set`. A gRPC connector whose file is missing here refuses calls.
    pub files: BTreeMap<String, Vec<u8>>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            default_timeout: Duration::from_secs(30),
            rhai: None,
            files: BTreeMap::new(),
        }
    }
}

/// The connectors of one deployed VMS, backed by real clients. Cheap to clone; see the
/// module docs for [`LiveConnectors::for_run`].
#[derive(Debug, Clone)]
pub struct LiveConnectors {
    shared: Arc<Shared>,
    transactions: Arc<Mutex<Transactions>>,
}

#[derive(Debug)]
struct Shared {
    connectors: BTreeMap<String, Live>,
    context: Arc<Context>,
}

/// What every connector implementation needs: the expression engine, env values, secrets.
#[derive(Debug)]
pub(crate) struct Context {
    pub(crate) rhai: RhaiEngine,
    pub(crate) env: Value,
    pub(crate) secrets: Arc<Secrets>,
    pub(crate) default_timeout: Duration,
}

impl Context {
    /// The variables templates see: `input` and `env`.
    pub(crate) fn vars(&self, input: &Value) -> Map<String, Value> {
        self.vars_owned(input.clone())
    }

    /// [`Context::vars`] taking the input by value.
    pub(crate) fn vars_owned(&self, input: Value) -> Map<String, Value> {
        let mut vars = Map::new();
        vars.insert("input".into(), input);
        vars.insert("env".into(), self.env.clone());
        vars
    }

    /// [`Context::vars_owned`] with only the env vars named by `env_keys` (none at all when
    /// it is empty; every one when it is `None`): for templates known to read no others.
    pub(crate) fn vars_reading(
        &self,
        input: Value,
        env_keys: Option<&[String]>,
    ) -> Map<String, Value> {
        let Some(keys) = env_keys else {
            return self.vars_owned(input);
        };
        let mut vars = Map::new();
        vars.insert("input".into(), input);
        if !keys.is_empty() {
            let env = self.env.as_object();
            let subset = keys
                .iter()
                .filter_map(|key| Some((key.clone(), env?.get(key)?.clone())))
                .collect();
            vars.insert("env".into(), Value::Object(subset));
        }
        vars
    }

    /// A run control for template evaluation within `timeout`.
    pub(crate) fn control(&self, timeout: Duration) -> RunControl {
        RunControl::with_timeout(timeout)
    }
}

/// What a connection test found: a one-line summary and remarks worth acting on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ConnectionCheck {
    /// What was reached, e.g. `connected to PostgreSQL 15.10`.
    pub summary: String,
    /// Things that may still need attention although the connection works.
    pub notes: Vec<String>,
}

impl ConnectionCheck {
    pub(crate) fn new(summary: impl Into<String>) -> Self {
        ConnectionCheck {
            summary: summary.into(),
            notes: Vec::new(),
        }
    }

    pub(crate) fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }
}

#[derive(Debug)]
enum Live {
    Http(http::HttpClient),
    Database(sql::Database),
    Cache(cache::Cache),
    Mq(mq::Publisher),
    Amqp(amqp::AmqpPublisher),
    Grpc(grpc::GrpcClient),
    Config(ConfigValues),
}

/// A config connector's values, and those whose env var is unset with no default (as
/// `name (env var NAME)`).
#[derive(Debug)]
struct ConfigValues {
    values: BTreeMap<String, Value>,
    unset: Vec<String>,
}

/// Env var values to keep out of error messages.
#[derive(Debug, Default)]
pub(crate) struct Secrets {
    values: Vec<String>,
}

impl Secrets {
    fn new(env: &BTreeMap<String, String>) -> Self {
        let mut values: Vec<String> = Vec::new();
        for value in env.values() {
            // Short values ("8080", "true") would redact ordinary words; they are no secrets.
            if value.len() >= 6 {
                values.push(value.clone());
            }
            // The password inside a URL value, e.g. postgres://user:pw@host/db.
            if let Some((_, rest)) = value.split_once("://")
                && let Some((userinfo, _)) = rest.split_once('@')
                && let Some((_, password)) = userinfo.split_once(':')
                && !password.is_empty()
            {
                values.push(password.to_owned());
            }
        }
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Secrets { values }
    }

    /// `message` with every env value replaced by `***`.
    pub(crate) fn redact(&self, message: &str) -> String {
        let mut out = message.to_owned();
        for value in &self.values {
            if out.contains(value.as_str()) {
                out = out.replace(value.as_str(), "***");
            }
        }
        out
    }
}

/// An error and its sources, joined with `: ` (reqwest's and tonic's errors alone say
/// little more than "error sending request" or "transport error").
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// A technical (uncatchable) connector error.
pub(crate) fn technical(message: impl Into<String>) -> ConnectorError {
    ConnectorError {
        code: None,
        message: message.into(),
    }
}

/// One run's transactions: each id's chain from its root, and the database transactions
/// opened under each root.
#[derive(Debug, Default)]
struct Transactions {
    chains: HashMap<TransactionId, Vec<TransactionId>>,
    open: HashMap<TransactionId, BTreeMap<String, Arc<Mutex<OpenTransaction>>>>,
}

#[derive(Debug)]
struct OpenTransaction {
    tx: Option<sql::DbTransaction>,
    /// Savepoints made on this connection, outermost first (one per nested transaction).
    savepoints: Vec<TransactionId>,
    /// Set when PostgreSQL aborted the transaction (see the module docs).
    aborted: Option<Aborted>,
}

/// Why, and where, PostgreSQL aborted a transaction.
#[derive(Debug)]
struct Aborted {
    /// How many savepoints were open at the failure: rolling back to any of them recovers
    /// the transaction.
    depth: usize,
    /// The failure as it was reported (it names the connector and method).
    cause: String,
}

impl OpenTransaction {
    /// Records a failure that aborted the transaction, unless an earlier one already did.
    fn abort(&mut self, cause: &ConnectorError) {
        if self.aborted.is_none() {
            self.aborted = Some(Aborted {
                depth: self.savepoints.len(),
                cause: cause.to_string(),
            });
        }
    }

    /// The savepoint at `at` was rolled back to: a failure after it is undone.
    fn rolled_back_to(&mut self, at: usize) {
        if self.aborted.as_ref().is_some_and(|a| a.depth > at) {
            self.aborted = None;
        }
    }
}

/// Advice for a transaction PostgreSQL aborted, shared by the errors below.
const ABORTED_ADVICE: &str = "PostgreSQL aborts the whole transaction at a failed statement, even when the process catches the error; avoid the error instead (e.g. `INSERT … ON CONFLICT DO NOTHING` rather than catching CONFLICT), or put the statement that may fail in a nested transaction sub-process and catch the error on that";

/// A call refused because its transaction was aborted earlier.
fn aborted_call_error(connector: &str, aborted: &Aborted) -> ConnectorError {
    ConnectorError {
        code: Some("TRANSACTION_FAILED".into()),
        message: format!(
            "database connector `{connector}`: the transaction was aborted by PostgreSQL at an earlier error ({}) and runs no more statements; it will roll back. {ABORTED_ADVICE}",
            aborted.cause
        ),
    }
}

/// The commit of a transaction (or nested transaction) that was aborted and rolled back.
fn aborted_commit_error(connector: &str, aborted: &Aborted) -> ConnectorError {
    ConnectorError {
        code: Some("TRANSACTION_FAILED".into()),
        message: format!(
            "database connector `{connector}`: nothing was committed, the transaction was rolled back: PostgreSQL aborted it at an earlier error ({}). {ABORTED_ADVICE}",
            aborted.cause
        ),
    }
}

fn savepoint_name(id: TransactionId) -> String {
    format!("sw_tx_{}", id.0)
}

impl LiveConnectors {
    /// Builds the connectors of a VMS for a deployment with these env var values. Nothing
    /// connects yet. Problems in the connectors come back as diagnostics.
    pub fn new(
        connectors: &BTreeMap<String, Connector>,
        env: BTreeMap<String, String>,
        options: LiveOptions,
    ) -> (LiveConnectors, Vec<Diagnostic>) {
        // sqlx's TLS with the system's roots asks rustls for the process-wide provider too.
        tls_provider();
        let rhai = options.rhai.clone().unwrap_or_else(|| {
            RhaiEngine::new(Library::new(Arc::new(SystemClock)), RhaiLimits::default())
        });
        let secrets = Arc::new(Secrets::new(&env));
        let env_value = Value::Object(
            env.iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        );
        let context = Arc::new(Context {
            rhai,
            env: env_value,
            secrets: secrets.clone(),
            default_timeout: options.default_timeout,
        });
        let mut diagnostics = Vec::new();
        let mut live = BTreeMap::new();
        for (name, connector) in connectors {
            let mut found = Vec::new();
            let built = match connector {
                Connector::Http(c) => {
                    Live::Http(http::HttpClient::new(name, c, context.clone(), &mut found))
                }
                Connector::Database(c) => Live::Database(sql::Database::new(
                    name,
                    c,
                    &env,
                    secrets.clone(),
                    context.default_timeout,
                    &mut found,
                )),
                Connector::Cache(c) => {
                    Live::Cache(cache::Cache::new(name, c, context.clone(), &mut found))
                }
                Connector::Mq(c) if c.broker == MqBroker::Amqp => Live::Amqp(
                    amqp::AmqpPublisher::new(name, c, context.clone(), &mut found),
                ),
                Connector::Mq(c) => {
                    Live::Mq(mq::Publisher::new(name, c, context.clone(), &mut found))
                }
                Connector::Config(c) => Live::Config(config_values(c, &env, &mut found)),
                Connector::Grpc(c) => Live::Grpc(grpc::GrpcClient::new(
                    name,
                    c,
                    &options.files,
                    context.clone(),
                    &mut found,
                )),
            };
            for mut diagnostic in found {
                if diagnostic.file.is_none() {
                    diagnostic.file = Some(format!("connectors/{name}.yaml"));
                }
                diagnostics.push(diagnostic);
            }
            live.insert(name.clone(), built);
        }
        let shared = Arc::new(Shared {
            connectors: live,
            context,
        });
        (
            LiveConnectors {
                shared,
                transactions: Arc::default(),
            },
            diagnostics,
        )
    }

    /// A view for one run: the same clients and pools, its own transactions.
    pub fn for_run(&self) -> LiveConnectors {
        LiveConnectors {
            shared: self.shared.clone(),
            transactions: Arc::default(),
        }
    }

    /// Renders a database method's SQL for `args` without running it: the statement with
    /// placeholders and the values it would bind (for tests and the IDE's preview).
    pub fn render_sql(
        &self,
        connector: &str,
        method: &str,
        args: &Value,
    ) -> Result<dynsql::RenderedSql, ConnectorError> {
        match self.shared.connectors.get(connector) {
            Some(Live::Database(db)) => db.render(method, args).map(|(rendered, _)| rendered),
            _ => Err(technical(format!(
                "`{connector}` is not a database connector"
            ))),
        }
    }

    async fn call_inner(&self, request: ConnectorRequest<'_>) -> Result<Value, ConnectorError> {
        let ConnectorRequest {
            connector,
            method,
            args,
            transaction,
        } = request;
        let Some(live) = self.shared.connectors.get(connector) else {
            return Err(technical(format!("there is no connector `{connector}`")));
        };
        let context = &self.shared.context;
        let timeout = match live {
            Live::Http(c) => c.timeout(method),
            Live::Database(db) => db.timeout.unwrap_or(context.default_timeout),
            Live::Grpc(c) => c.timeout(),
            _ => context.default_timeout,
        };
        // Each kind's future is boxed at its own size: one `async` block over all of them
        // would be as large as the largest (the database and gRPC ones run to kilobytes),
        // and every move of it on the way to the executor would copy that much per call.
        let work: BoxFuture<'_, Result<Value, ConnectorError>> = match live {
            Live::Http(c) => Box::pin(c.call(method, args)),
            Live::Database(db) => match transaction {
                Some(id) => Box::pin(async move {
                    self.call_in_transaction(connector, db, id, method, &args)
                        .await
                }),
                None => Box::pin(async move { db.call(method, &args).await }),
            },
            Live::Cache(c) => Box::pin(async move { c.call(method, &args).await }),
            Live::Mq(c) => Box::pin(async move { c.call(method, &args).await }),
            Live::Amqp(c) => Box::pin(async move { c.call(method, &args).await }),
            Live::Grpc(c) => Box::pin(async move { c.call(method, &args).await }),
            Live::Config(config) => {
                return match config.values.get(method) {
                    Some(value) => Ok(value.clone()),
                    None => Err(technical(format!(
                        "config connector `{connector}` has no value `{method}`"
                    ))),
                };
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(ConnectorError {
                code: Some("TIMEOUT".into()),
                message: format!(
                    "{connector}.{method} timed out after {} ms",
                    timeout.as_millis()
                ),
            }),
        }
    }

    /// Tests the connection of `connector` (see the module docs): `Ok` when it was
    /// reached and answered, else the reason, as a call would report it. Takes at most the
    /// connector's timeout (its default is [`LiveOptions::default_timeout`]).
    pub async fn check(&self, connector: &str) -> Result<ConnectionCheck, ConnectorError> {
        let Some(live) = self.shared.connectors.get(connector) else {
            return Err(technical(format!("there is no connector `{connector}`")));
        };
        let context = &self.shared.context;
        let timeout = match live {
            Live::Http(c) => c.connector_timeout(),
            Live::Database(db) => db.timeout.unwrap_or(context.default_timeout),
            Live::Grpc(c) => c.timeout(),
            _ => context.default_timeout,
        };
        let work: BoxFuture<'_, Result<ConnectionCheck, ConnectorError>> = match live {
            Live::Http(c) => Box::pin(c.check()),
            Live::Database(db) => Box::pin(db.check()),
            Live::Cache(c) => Box::pin(c.check()),
            Live::Mq(c) => Box::pin(c.check()),
            Live::Amqp(c) => Box::pin(c.check()),
            Live::Grpc(c) => Box::pin(c.check()),
            Live::Config(config) => {
                let count = config.values.len();
                let summary = match config.unset.as_slice() {
                    [] => format!("all {count} values are set"),
                    unset => format!(
                        "{} of {count} values set; no value and no default for {}",
                        count - unset.len(),
                        unset.join(", ")
                    ),
                };
                return if config.unset.is_empty() {
                    Ok(ConnectionCheck::new(summary))
                } else {
                    Err(technical(format!(
                        "config connector `{connector}`: {summary}"
                    )))
                };
            }
        };
        match tokio::time::timeout(timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(ConnectorError {
                code: Some("TIMEOUT".into()),
                message: format!(
                    "{connector}: no answer within {} ms (the connector's timeout)",
                    timeout.as_millis()
                ),
            }),
        }
    }

    async fn call_in_transaction(
        &self,
        connector: &str,
        db: &sql::Database,
        id: TransactionId,
        method: &str,
        args: &Value,
    ) -> Result<Value, ConnectorError> {
        let (chain, slot) = {
            let mut table = self.transactions.lock().await;
            let chain = table.chains.get(&id).cloned().unwrap_or_else(|| vec![id]);
            let root = chain[0];
            let slot = table
                .open
                .entry(root)
                .or_default()
                .entry(connector.to_owned())
                .or_insert_with(|| {
                    Arc::new(Mutex::new(OpenTransaction {
                        tx: None,
                        savepoints: Vec::new(),
                        aborted: None,
                    }))
                })
                .clone();
            (chain, slot)
        };
        let nested = &chain[1..];
        let (mut open, common) = loop {
            let mut open = slot.lock().await;
            if let Some(aborted) = &open.aborted {
                return Err(aborted_call_error(connector, aborted));
            }
            if open.tx.is_none() {
                open.tx = Some(db.begin().await?);
                open.savepoints.clear();
            }
            let common = open
                .savepoints
                .iter()
                .zip(nested)
                .take_while(|(a, b)| a == b)
                .count();
            let Some(&other) = open.savepoints.get(common) else {
                break (open, common);
            };
            // Another nested transaction of this transaction holds the connection's
            // innermost savepoints. While it has not ended (a parallel branch, or a
            // sub-process whose rollback has not run yet), releasing its savepoint would
            // commit its work into the outer transaction whatever it decides later: this
            // call waits for it instead, without holding the connection.
            let ongoing = self.transactions.lock().await.chains.contains_key(&other);
            if !ongoing {
                break (open, common);
            }
            drop(open);
            tokio::time::sleep(Duration::from_millis(2)).await;
        };
        if common < open.savepoints.len() {
            // Savepoints of transactions that ended without a hook: release them.
            let stale = open.savepoints[common];
            control(
                db,
                &mut open,
                format!("RELEASE SAVEPOINT {}", savepoint_name(stale)),
            )
            .await?;
            open.savepoints.truncate(common);
        }
        for &inner in &nested[common..] {
            control(
                db,
                &mut open,
                format!("SAVEPOINT {}", savepoint_name(inner)),
            )
            .await?;
            open.savepoints.push(inner);
        }
        let tx = open
            .tx
            .as_mut()
            .ok_or_else(|| technical("transaction lost"))?;
        match db.call_in(method, args, tx).await {
            Ok(value) => Ok(value),
            Err(failed) => {
                if failed.aborts_transaction {
                    open.abort(&failed.error);
                }
                Err(failed.error)
            }
        }
    }

    async fn finish(&self, id: TransactionId, commit: bool) -> Result<(), ConnectorError> {
        let (chain, slots) = {
            let mut table = self.transactions.lock().await;
            // The chain stays until the savepoints are settled: a sibling's call waits while
            // it is there (see `call_in_transaction`).
            let chain = table.chains.get(&id).cloned().unwrap_or_else(|| vec![id]);
            let root = chain[0];
            let slots: Vec<(String, Arc<Mutex<OpenTransaction>>)> = if chain.len() == 1 {
                table
                    .open
                    .remove(&root)
                    .map(|m| m.into_iter().collect())
                    .unwrap_or_default()
            } else {
                table
                    .open
                    .get(&root)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                    .unwrap_or_default()
            };
            (chain, slots)
        };
        // Databases commit one after the other (there is no two-phase commit): a failure
        // recorded on any of them, or a commit that fails, rolls back the ones not committed
        // yet rather than committing them.
        let mut first_error = None;
        let mut commit = commit;
        if commit && chain.len() == 1 {
            for (connector, slot) in &slots {
                if let Some(aborted) = slot.lock().await.aborted.as_ref() {
                    first_error = Some(aborted_commit_error(connector, aborted));
                    commit = false;
                    break;
                }
            }
        }
        for (connector, slot) in slots {
            let Some(Live::Database(db)) = self.shared.connectors.get(&connector) else {
                continue;
            };
            let commit = commit && first_error.is_none();
            let mut open = slot.lock().await;
            let result = if chain.len() == 1 {
                let aborted = open.aborted.take();
                match (open.tx.take(), aborted) {
                    (Some(tx), None) => db.finish(tx, commit).await,
                    (Some(tx), Some(aborted)) => {
                        // PostgreSQL would turn a COMMIT into a rollback without an error.
                        let rolled_back = db.finish(tx, false).await;
                        if commit {
                            Err(aborted_commit_error(&connector, &aborted))
                        } else {
                            rolled_back
                        }
                    }
                    (None, _) => Ok(()),
                }
            } else {
                match open.savepoints.iter().position(|s| *s == id) {
                    Some(at) => {
                        let name = savepoint_name(id);
                        // A nested transaction that holds the failure cannot be released:
                        // it is rolled back instead, which makes the outer one usable again.
                        let failed = open
                            .aborted
                            .as_ref()
                            .filter(|a| commit && a.depth > at)
                            .map(|a| aborted_commit_error(&connector, a));
                        open.savepoints.truncate(at);
                        let mut result = Ok(());
                        if !commit || failed.is_some() {
                            let rollback = format!("ROLLBACK TO SAVEPOINT {name}");
                            result = control(db, &mut open, rollback).await;
                            if result.is_ok() {
                                open.rolled_back_to(at);
                            }
                        }
                        if result.is_ok() {
                            let release = format!("RELEASE SAVEPOINT {name}");
                            result = control(db, &mut open, release).await;
                        }
                        failed.map_or(result, Err)
                    }
                    None => Ok(()),
                }
            };
            if let Err(err) = result {
                first_error.get_or_insert(err);
            }
        }
        self.transactions.lock().await.chains.remove(&id);
        first_error.map_or(Ok(()), Err)
    }
}

/// Runs a transaction-control statement on an open transaction; on PostgreSQL a failure
/// aborts the transaction like a failed call does.
async fn control(
    db: &sql::Database,
    open: &mut OpenTransaction,
    statement: String,
) -> Result<(), ConnectorError> {
    let tx = open
        .tx
        .as_mut()
        .ok_or_else(|| technical("transaction lost"))?;
    let aborts = tx.aborts_on_error();
    let result = db.control(tx, statement).await;
    if let (Err(err), true) = (&result, aborts) {
        open.abort(err);
    }
    result
}

impl Connectors for LiveConnectors {
    fn call<'a>(
        &'a self,
        request: ConnectorRequest<'a>,
    ) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(self.call_inner(request))
    }

    fn begin_transaction(
        &self,
        transaction: TransactionId,
        parent: Option<TransactionId>,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            let mut table = self.transactions.lock().await;
            let mut chain = match parent {
                Some(parent) => table
                    .chains
                    .get(&parent)
                    .cloned()
                    .unwrap_or_else(|| vec![parent]),
                None => Vec::new(),
            };
            chain.push(transaction);
            table.chains.insert(transaction, chain);
            Ok(())
        })
    }

    fn commit_transaction(
        &self,
        transaction: TransactionId,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.finish(transaction, true))
    }

    fn rollback_transaction(
        &self,
        transaction: TransactionId,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.finish(transaction, false))
    }

    fn catalog(&self) -> BTreeMap<String, Vec<String>> {
        self.shared
            .connectors
            .iter()
            .map(|(name, live)| {
                let methods = match live {
                    Live::Http(c) => c.method_names(),
                    Live::Database(db) => db.method_names(),
                    Live::Cache(c) => c.method_names(),
                    Live::Mq(c) => c.method_names(),
                    Live::Amqp(c) => c.method_names(),
                    Live::Grpc(c) => c.method_names(),
                    Live::Config(config) => config.values.keys().cloned().collect(),
                };
                (name.clone(), methods)
            })
            .collect()
    }
}

/// Config values: each env var parsed as JSON when it is JSON (numbers, booleans…), else
/// kept as text; the default when unset; `null` when neither.
fn config_values(
    config: &ConfigConnector,
    env: &BTreeMap<String, String>,
    diagnostics: &mut Vec<Diagnostic>,
) -> ConfigValues {
    let mut values = BTreeMap::new();
    let mut unset = Vec::new();
    for value in &config.values {
        let resolved = match env.get(&value.env) {
            Some(text) => {
                serde_json::from_str::<Value>(text).unwrap_or_else(|_| Value::String(text.clone()))
            }
            None => match &value.default {
                Some(default) => default.clone(),
                None => {
                    unset.push(format!("{} (env var {})", value.name, value.env));
                    diagnostics.push(Diagnostic::warning(
                        "config.unset",
                        format!(
                            "config value `{}`: env var {} is not set and there is no default",
                            value.name, value.env
                        ),
                    ));
                    Value::Null
                }
            },
        };
        values.insert(value.name.clone(), resolved);
    }
    ConfigValues { values, unset }
}

/// A Redis client for `url`: `redis://`, or `rediss://` over TLS, checked against the
/// system's roots, or only against the CA certificates of the PEM file a
/// `cacertfile=/path/ca.pem` query parameter names; `certfile=…&keyfile=…` present a client
/// certificate; `#insecure` at the end skips the check. The Redis client's TLS takes rustls'
/// process-wide crypto provider, which must be chosen when several are built in: ring,
/// installed here once (a provider installed earlier by the embedding program stays).
pub(crate) fn redis_client(url: &str) -> redis::RedisResult<redis::Client> {
    tls_provider();
    let files = UrlTlsFiles::read(url).map_err(|e| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "bad TLS files",
            format!("the Redis URL's {e}"),
        ))
    })?;
    if files.is_empty() {
        return redis::Client::open(url);
    }
    if !url.starts_with("rediss://") {
        return Err(redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "TLS files need rediss://",
            "cacertfile, certfile and keyfile are for a rediss:// URL".to_owned(),
        )));
    }
    let client_tls = files
        .client
        .map(|(client_cert, client_key)| redis::ClientTlsConfig {
            client_cert,
            client_key,
        });
    redis::Client::build_with_tls(
        url,
        redis::TlsCertificates {
            client_tls,
            root_cert: files.ca,
        },
    )
}

/// A self-reconnecting connection for a connector's calls. It tries to connect twice (the
/// Redis client's default is seven attempts over about 8 s), so a call to a Redis that is
/// down or refuses the handshake fails at once with the reason, rather than holding the run;
/// the next call tries again.
pub(crate) async fn redis_manager(
    client: &redis::Client,
) -> redis::RedisResult<redis::aio::ConnectionManager> {
    let config = redis::aio::ConnectionManagerConfig::new().set_number_of_retries(1);
    client.get_connection_manager_with_config(config).await
}

/// `PING` on a Redis connection, and the server's version (from `INFO server`, which a
/// managed Redis may refuse: then without it).
pub(crate) async fn redis_ping(
    conn: &mut redis::aio::ConnectionManager,
) -> redis::RedisResult<ConnectionCheck> {
    let _: String = redis::cmd("PING").query_async(conn).await?;
    let info: redis::RedisResult<String> = redis::cmd("INFO").arg("server").query_async(conn).await;
    let version = info.ok().and_then(|info| {
        info.lines()
            .find_map(|line| line.strip_prefix("redis_version:"))
            .map(|v| v.trim().to_owned())
    });
    Ok(ConnectionCheck::new(match version {
        Some(v) => format!("Redis {v} answered PING"),
        None => "Redis answered PING".to_owned(),
    }))
}

/// The PEM files a server URL's `cacertfile`, `certfile` and `keyfile` query parameters name
/// (the names RabbitMQ's and NATS's own clients use), read.
#[derive(Default)]
pub(crate) struct UrlTlsFiles {
    /// CA certificates.
    pub(crate) ca: Option<Vec<u8>>,
    /// A client certificate (chain) and its private key.
    pub(crate) client: Option<(Vec<u8>, Vec<u8>)>,
}

impl UrlTlsFiles {
    /// Reads the files `url` names. Errors name the parameter and the path, never the URL
    /// (it may hold a password).
    pub(crate) fn read(url: &str) -> Result<UrlTlsFiles, String> {
        let Ok(parsed) = reqwest::Url::parse(url) else {
            return Ok(UrlTlsFiles::default());
        };
        let read = |name: &str| -> Result<Option<Vec<u8>>, String> {
            let Some((_, path)) = parsed.query_pairs().find(|(key, _)| key == name) else {
                return Ok(None);
            };
            std::fs::read(path.as_ref())
                .map(Some)
                .map_err(|e| format!("{name}: cannot read `{path}`: {e}"))
        };
        let client = match (read("certfile")?, read("keyfile")?) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(
                    "certfile and keyfile go together: a client certificate is presented with its key"
                        .into(),
                );
            }
        };
        Ok(UrlTlsFiles {
            ca: read("cacertfile")?,
            client,
        })
    }

    fn is_empty(&self) -> bool {
        self.ca.is_none() && self.client.is_none()
    }
}

impl std::fmt::Debug for UrlTlsFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: only whether each file is there.
        f.debug_struct("UrlTlsFiles")
            .field("ca", &self.ca.is_some())
            .field("client", &self.client.is_some())
            .finish()
    }
}

/// Makes ring rustls' process-wide crypto provider, once, unless the embedding program chose
/// one before. The Redis, AMQP and NATS clients and sqlx (verifying against the system's
/// roots) take the process-wide provider, and with both ring and aws-lc-rs built into this
/// program rustls cannot pick one by itself: they would panic.
pub(crate) fn tls_provider() {
    static PROVIDER: std::sync::Once = std::sync::Once::new();
    PROVIDER.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted() {
        let mut env = BTreeMap::new();
        env.insert(
            "DB".to_owned(),
            "postgres://app:s3cr@db.internal/x".to_owned(),
        );
        env.insert("TOKEN".to_owned(), "tok-123456".to_owned());
        env.insert("PORT".to_owned(), "8080".to_owned());
        let secrets = Secrets::new(&env);
        let message = secrets
            .redact("failed at postgres://app:s3cr@db.internal/x with tok-123456 on 8080, pw s3cr");
        assert!(
            !message.contains("s3cr") && !message.contains("tok-123456"),
            "{message}"
        );
        assert!(message.contains("8080"));
    }
}
