//! How runs reach the outside world: the [`Connectors`] trait, injected into every run.
//!
//! The engine never talks to a database or an HTTP API itself. Service tasks bound to a
//! connector method, and code functions calling `ctx.connectors`, go through the
//! [`Connectors`] given in [`crate::run::RunConfig`]. Real connectors live in the engine
//! server; this module has [`NoConnectorConfigured`] (the default, which fails every call
//! with a clear error) and [`FakeConnectors`], an in-process fake for tests that answers
//! with configured results, optionally after a delay, and records every call and
//! transaction hook in order.
//!
//! # Transactions
//!
//! A BPMN transaction sub-process calls [`Connectors::begin_transaction`] when it starts,
//! [`Connectors::commit_transaction`] when it completes and
//! [`Connectors::rollback_transaction`] when it fails, is interrupted or the run stops.
//! Transactions nest: a transaction inside another names its parent. Every connector call
//! made inside carries the innermost transaction's id ([`ConnectorRequest::transaction`]),
//! so a database connector can run all of them on one database transaction (or savepoint).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use crate::script::BoxFuture;

/// The id of a transaction within one run, from 1 in the order transactions begin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TransactionId(pub u64);

/// One connector method call.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectorRequest<'a> {
    /// The connector's name.
    pub connector: &'a str,
    /// The method's name.
    pub method: &'a str,
    /// The method's input.
    pub args: Value,
    /// The innermost transaction the call is made in, when there is one.
    pub transaction: Option<TransactionId>,
}

/// A connector call or transaction hook failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{}", match .code { Some(code) => format!("{code}: {}", .message), None => .message.clone() })]
pub struct ConnectorError {
    /// A business error code (`NOT_FOUND`, `CONFLICT` …). With a code, the failure is a BPMN
    /// error that boundary events can catch; without one it is a technical failure that
    /// fails the run.
    pub code: Option<String>,
    /// What went wrong.
    pub message: String,
}

/// The connectors of a run. Object-safe and shared by every branch of the run.
pub trait Connectors: Send + Sync + fmt::Debug {
    /// Calls a connector method.
    fn call<'a>(
        &'a self,
        request: ConnectorRequest<'a>,
    ) -> BoxFuture<'a, Result<Value, ConnectorError>>;

    /// A transaction sub-process starts; `parent` is the enclosing transaction, if any.
    fn begin_transaction(
        &self,
        transaction: TransactionId,
        parent: Option<TransactionId>,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let _ = (transaction, parent);
        Box::pin(async { Ok(()) })
    }

    /// A transaction sub-process completed: make its work durable.
    fn commit_transaction(
        &self,
        transaction: TransactionId,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let _ = transaction;
        Box::pin(async { Ok(()) })
    }

    /// A transaction sub-process failed or was interrupted: undo its work.
    fn rollback_transaction(
        &self,
        transaction: TransactionId,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let _ = transaction;
        Box::pin(async { Ok(()) })
    }

    /// The connectors and their methods by name, for Rhai code functions'
    /// `ctx.connectors.<c>.<m>(…)` (see [`crate::script::ConnectorCall::catalog`]).
    fn catalog(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::new()
    }
}

/// The default connectors: none. Every call fails with a technical error that says so.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConnectorConfigured;

impl Connectors for NoConnectorConfigured {
    fn call<'a>(
        &'a self,
        request: ConnectorRequest<'a>,
    ) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        let message = format!(
            "no connector is configured for {}.{} (mock it, or run it in an engine with connectors)",
            request.connector, request.method
        );
        Box::pin(async move {
            Err(ConnectorError {
                code: None,
                message,
            })
        })
    }
}

/// What a [`FakeConnectors`] method answers on one call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FakeReply {
    /// The value returned (null when neither this nor `error` is set).
    #[serde(default)]
    pub result: Value,
    /// The error raised instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ConnectorError>,
    /// How long the call takes, in milliseconds (tokio time, so tests may pause it).
    #[serde(default)]
    pub delay_ms: u64,
}

impl FakeReply {
    /// A reply returning `value` at once.
    pub fn ok(value: Value) -> Self {
        FakeReply {
            result: value,
            error: None,
            delay_ms: 0,
        }
    }

    /// A reply failing with a business error code.
    pub fn error(code: &str, message: &str) -> Self {
        FakeReply {
            result: Value::Null,
            error: Some(ConnectorError {
                code: Some(code.into()),
                message: message.into(),
            }),
            delay_ms: 0,
        }
    }

    /// The same reply, after `delay_ms` milliseconds.
    pub fn after_ms(mut self, delay_ms: u64) -> Self {
        self.delay_ms = delay_ms;
        self
    }
}

/// Something a [`FakeConnectors`] saw, in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum FakeEvent {
    /// A method call started.
    Call {
        /// `connector.method`.
        method: String,
        /// The arguments.
        args: Value,
        /// The transaction it ran in.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transaction: Option<TransactionId>,
    },
    /// A transaction began.
    Begin {
        /// Its id.
        transaction: TransactionId,
        /// The enclosing transaction.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<TransactionId>,
    },
    /// A transaction committed.
    Commit {
        /// Its id.
        transaction: TransactionId,
    },
    /// A transaction rolled back.
    Rollback {
        /// Its id.
        transaction: TransactionId,
    },
}

#[derive(Debug)]
struct FakeMethod {
    replies: Vec<FakeReply>,
    next: AtomicUsize,
}

/// An in-process fake of the connectors, for tests: each `connector.method` answers with
/// its configured replies in turn (the last one repeating); unknown methods fail. Every
/// call and transaction hook is recorded, see [`FakeConnectors::events`].
#[derive(Debug, Default)]
pub struct FakeConnectors {
    methods: HashMap<String, FakeMethod>,
    events: Mutex<Vec<FakeEvent>>,
}

impl FakeConnectors {
    /// A fake with no methods.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a method (`connector.method`) answering with `replies` in turn.
    pub fn with(mut self, method: &str, replies: Vec<FakeReply>) -> Self {
        self.methods.insert(
            method.to_owned(),
            FakeMethod {
                replies,
                next: AtomicUsize::new(0),
            },
        );
        self
    }

    /// Everything seen so far, in order.
    pub fn events(&self) -> Vec<FakeEvent> {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn record(&self, event: FakeEvent) {
        self.events
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
    }
}

impl Connectors for FakeConnectors {
    fn call<'a>(
        &'a self,
        request: ConnectorRequest<'a>,
    ) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            let key = format!("{}.{}", request.connector, request.method);
            self.record(FakeEvent::Call {
                method: key.clone(),
                args: request.args.clone(),
                transaction: request.transaction,
            });
            let Some(method) = self.methods.get(&key) else {
                return Err(ConnectorError {
                    code: None,
                    message: format!("the fake connectors have no method {key}"),
                });
            };
            let index = method.next.fetch_add(1, Ordering::Relaxed);
            let Some(reply) = method
                .replies
                .get(index.min(method.replies.len().saturating_sub(1)))
            else {
                return Ok(Value::Null);
            };
            if reply.delay_ms > 0 {
                tokio::time::sleep(Duration::from_millis(reply.delay_ms)).await;
            }
            match &reply.error {
                Some(error) => Err(error.clone()),
                None => Ok(reply.result.clone()),
            }
        })
    }

    fn begin_transaction(
        &self,
        transaction: TransactionId,
        parent: Option<TransactionId>,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        self.record(FakeEvent::Begin {
            transaction,
            parent,
        });
        Box::pin(async { Ok(()) })
    }

    fn commit_transaction(
        &self,
        transaction: TransactionId,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        self.record(FakeEvent::Commit { transaction });
        Box::pin(async { Ok(()) })
    }

    fn rollback_transaction(
        &self,
        transaction: TransactionId,
    ) -> BoxFuture<'_, Result<(), ConnectorError>> {
        self.record(FakeEvent::Rollback { transaction });
        Box::pin(async { Ok(()) })
    }

    fn catalog(&self) -> BTreeMap<String, Vec<String>> {
        let mut catalog: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for key in self.methods.keys() {
            if let Some((connector, method)) = key.split_once('.') {
                catalog
                    .entry(connector.to_owned())
                    .or_default()
                    .push(method.to_owned());
            }
        }
        catalog
    }
}
