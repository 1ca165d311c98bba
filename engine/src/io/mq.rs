//! The message queue connector: publish methods.
//!
//! - **NATS JetStream**: the subject and header values are templates; the payload (the
//!   method's `payload` expression, else the whole input) is sent as JSON and the call waits
//!   for the stream's acknowledgement, returning `{stream, sequence, duplicate}`. With a
//!   `stream` set, the first publish checks that it exists and every acknowledgement must
//!   come from it. Only the JetStream API of NATS 2.9 is used (stream info and publish).
//! - **Redis Streams**: `XADD <subject> * payload <json>` plus one field per header; returns
//!   `{id}`.
//! - **AMQP** connectors are served by [`super::amqp`]; `mod.rs` never builds this publisher
//!   for them, and the AMQP branches below only refuse defensively.

use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Value, json};
use starweave_model::Diagnostic;
use starweave_model::vms::connector::{MqBroker, MqConnector, MqMethod};
use tokio::sync::OnceCell;

use super::template::Template;
use super::{ConnectionCheck, Context, technical};
use crate::connectors::ConnectorError;
use crate::script::rhai::RhaiAst;

#[derive(Debug)]
pub(crate) struct Publisher {
    name: String,
    broker: MqBroker,
    url_env: String,
    stream: Option<String>,
    methods: IndexMap<String, Result<Plan, String>>,
    nats: OnceCell<async_nats::jetstream::Context>,
    redis: OnceCell<redis::aio::ConnectionManager>,
    context: Arc<Context>,
}

#[derive(Debug)]
struct Plan {
    subject: Template,
    headers: Vec<(String, Template)>,
    payload: Option<RhaiAst>,
}

fn compile(context: &Context, broker: MqBroker, method: &MqMethod) -> Result<Plan, String> {
    if broker == MqBroker::Amqp {
        return Err("AMQP publishing is not supported by this engine yet".into());
    }
    let Some(subject) = &method.subject else {
        return Err("a publish method needs a `subject`".into());
    };
    Ok(Plan {
        subject: Template::compile(&context.rhai, subject, false)
            .map_err(|e| format!("subject: {e}"))?,
        headers: method
            .headers
            .iter()
            .map(|(k, v)| {
                Template::compile(&context.rhai, v, false)
                    .map(|t| (k.clone(), t))
                    .map_err(|e| format!("header `{k}`: {e}"))
            })
            .collect::<Result<_, _>>()?,
        payload: method
            .payload
            .as_deref()
            .map(|p| context.rhai.compile_expression(p))
            .transpose()
            .map_err(|e| format!("payload: {e}"))?,
    })
}

impl Publisher {
    pub(crate) fn new(
        name: &str,
        config: &MqConnector,
        context: Arc<Context>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut methods = IndexMap::new();
        for method in &config.methods {
            let plan = compile(&context, config.broker, method);
            if let Err(e) = &plan {
                let code = if config.broker == MqBroker::Amqp {
                    "connector.unsupported"
                } else {
                    "connector.template"
                };
                let mut d = Diagnostic::error(code, e.clone());
                d.element = Some(format!("{name}.{}", method.name));
                diagnostics.push(d);
            }
            methods.insert(method.name.clone(), plan);
        }
        Publisher {
            name: name.to_owned(),
            broker: config.broker,
            url_env: config.url_env.clone(),
            stream: config.stream.clone(),
            methods,
            nats: OnceCell::new(),
            redis: OnceCell::new(),
            context,
        }
    }

    pub(crate) fn method_names(&self) -> Vec<String> {
        self.methods.keys().cloned().collect()
    }

    fn fail(&self, what: &str, err: impl std::fmt::Display) -> ConnectorError {
        technical(
            self.context
                .secrets
                .redact(&format!("mq connector `{}`: {what}: {err}", self.name)),
        )
    }

    fn url(&self) -> Result<&str, ConnectorError> {
        self.context
            .env
            .get(&self.url_env)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                technical(format!(
                    "mq connector `{}`: env var {} (its URL) is not set",
                    self.name, self.url_env
                ))
            })
    }

    async fn jetstream(&self) -> Result<&async_nats::jetstream::Context, ConnectorError> {
        self.nats
            .get_or_try_init(|| async {
                let name = format!("starweave mq connector {}", self.name);
                let client = super::nats::connect(self.url()?, &name)
                    .await
                    .map_err(|e| self.fail("NATS", e))?;
                let jetstream = async_nats::jetstream::new(client);
                if let Some(stream) = &self.stream {
                    jetstream
                        .get_stream(stream)
                        .await
                        .map_err(|e| self.fail(&format!("stream {stream} is not usable"), e))?;
                }
                Ok(jetstream)
            })
            .await
    }

    /// The Redis Streams connection.
    async fn redis(&self) -> Result<redis::aio::ConnectionManager, ConnectorError> {
        let conn = self
            .redis
            .get_or_try_init(|| async {
                let client =
                    super::redis_client(self.url()?).map_err(|e| self.fail("bad Redis URL", e))?;
                super::redis_manager(&client)
                    .await
                    .map_err(|e| self.fail("cannot connect", e))
            })
            .await?;
        Ok(conn.clone())
    }

    /// The connection test. NATS: the server's version, that it has JetStream, and the
    /// connector's stream when it names one. Redis Streams: `PING`.
    pub(crate) async fn check(&self) -> Result<ConnectionCheck, ConnectorError> {
        if self.broker == MqBroker::RedisStreams {
            let mut conn = self.redis().await?;
            return super::redis_ping(&mut conn)
                .await
                .map_err(|e| self.fail("PING", e));
        }
        let name = format!("starweave mq connector {} (connection test)", self.name);
        let client = super::nats::connect(self.url()?, &name)
            .await
            .map_err(|e| self.fail("NATS", e))?;
        let info = client.server_info();
        if !info.jetstream {
            return Err(technical(format!(
                "mq connector `{}`: the NATS server {} has no JetStream (its publishes need it)",
                self.name, info.version
            )));
        }
        let mut check =
            ConnectionCheck::new(format!("NATS {} with JetStream answered", info.version));
        if let Some(stream) = &self.stream {
            let found = async_nats::jetstream::new(client.clone())
                .get_stream(stream)
                .await
                .map_err(|e| self.fail(&format!("stream {stream} is not usable"), e))?;
            let state = &found.cached_info().state;
            check = check.note(format!(
                "stream {stream}: {} messages, subjects {}",
                state.messages,
                found.cached_info().config.subjects.join(", ")
            ));
        }
        let _ = client.drain().await;
        Ok(check)
    }

    pub(crate) async fn call(&self, method: &str, args: &Value) -> Result<Value, ConnectorError> {
        let plan = match self.methods.get(method) {
            Some(Ok(plan)) => plan,
            Some(Err(e)) => {
                return Err(technical(format!("{}.{method} cannot run: {e}", self.name)));
            }
            None => {
                return Err(technical(format!(
                    "mq connector `{}` has no method `{method}`",
                    self.name
                )));
            }
        };
        let rhai = &self.context.rhai;
        let vars = self.context.vars(args);
        let control = self.context.control(self.context.default_timeout);
        let subject = plan
            .subject
            .render(rhai, &vars, &control)
            .map_err(|e| self.fail(&format!("{method}: subject"), e))?;
        let mut headers = Vec::new();
        for (key, template) in &plan.headers {
            let value = template
                .render(rhai, &vars, &control)
                .map_err(|e| self.fail(&format!("{method}: header"), e))?;
            headers.push((key.clone(), value));
        }
        let payload = match &plan.payload {
            Some(ast) => rhai
                .eval_expression(ast, &vars, &control)
                .map_err(|e| self.fail(&format!("{method}: payload"), e))?,
            None => args.clone(),
        };
        let body = serde_json::to_vec(&payload)
            .map_err(|e| self.fail(&format!("{method}: payload"), e))?;
        match self.broker {
            MqBroker::Nats => {
                let jetstream = self.jetstream().await?;
                // Checked, not asserted: a header rendered from input may hold a line break.
                let mut map = async_nats::HeaderMap::new();
                for (key, value) in &headers {
                    let name: async_nats::header::HeaderName = key.parse().map_err(|_| {
                        technical(format!(
                            "{}.{method}: `{key}` is not a header name",
                            self.name
                        ))
                    })?;
                    let value: async_nats::header::HeaderValue = value.parse().map_err(|_| {
                        technical(format!(
                            "{}.{method}: header {key}: a value cannot hold a line break",
                            self.name
                        ))
                    })?;
                    map.insert(name, value);
                }
                let ack = jetstream
                    .publish_with_headers(subject, map, body.into())
                    .await
                    .map_err(|e| self.fail(&format!("{method}: publish failed"), e))?
                    .await
                    .map_err(|e| self.fail(&format!("{method}: no acknowledgement"), e))?;
                if let Some(stream) = &self.stream
                    && &ack.stream != stream
                {
                    return Err(technical(format!(
                        "{}.{method}: the message landed in stream {} instead of {stream}",
                        self.name, ack.stream
                    )));
                }
                Ok(
                    json!({ "stream": ack.stream, "sequence": ack.sequence, "duplicate": ack.duplicate }),
                )
            }
            MqBroker::RedisStreams => {
                let mut conn = self.redis().await?;
                let mut command = redis::cmd("XADD");
                command.arg(&subject).arg("*").arg("payload").arg(body);
                for (key, value) in &headers {
                    command.arg(key).arg(value);
                }
                let id: String = command
                    .query_async(&mut conn)
                    .await
                    .map_err(|e| self.fail(&format!("{method}: XADD failed"), e))?;
                Ok(json!({ "id": id }))
            }
            MqBroker::Amqp => Err(technical(format!(
                "{}.{method}: AMQP is not supported yet",
                self.name
            ))),
        }
    }
}
