//! AMQP 0-9-1 publishing (RabbitMQ) for `mq` connectors with `broker: amqp`.
//!
//! Each connector keeps one connection and one channel in confirm mode, opened on the
//! first call and opened again on the next call after either is lost or a publish fails.
//! A method publishes its JSON payload (the `payload` expression, else the whole input) to
//! its `exchange` (the default exchange when absent) with its `routing_key` template and
//! header templates, as a persistent message (`delivery_mode` 2, `application/json`), and
//! waits for the broker's confirmation:
//!
//! - ack → `{"published": true}`;
//! - nack → error `AMQP_NACK`;
//! - the message could not be routed to any queue (publishes are `mandatory`) → error
//!   `AMQP_UNROUTABLE`, so a misbound exchange is not a silent loss.
//!
//! Connection failures are technical errors that name the connector and its env var,
//! never the URL. `amqps://` URLs go over TLS, checked against the system's roots plus the
//! CA in the PEM file a `cacertfile=/path` query parameter names; `certfile=…&keyfile=…`
//! present a client certificate ([`connect`]).

use std::sync::Arc;

use indexmap::IndexMap;
use lapin::Confirmation;
use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::tcp::{OwnedIdentity, OwnedTLSConfig};
use lapin::types::{AMQPValue, FieldTable, LongString, ShortString};
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::{Value, json};
use starweave_model::Diagnostic;
use starweave_model::vms::connector::{MqConnector, MqMethod};
use tokio::sync::Mutex;

use super::template::Template;
use super::{ConnectionCheck, Context, technical};
use crate::connectors::ConnectorError;
use crate::script::rhai::RhaiAst;

/// `delivery_mode` of a message the broker writes to disk.
const PERSISTENT: u8 = 2;

/// Opens a connection to the broker at `url`: plain for `amqp://`, TLS for `amqps://`. The
/// server's certificate is checked against the system's roots and, when the URL has a
/// `cacertfile=/path/ca.pem` query parameter (the name RabbitMQ's own clients use), the
/// certificates in that file too; `certfile=/path/cert.pem&keyfile=/path/key.pem` (PEM)
/// present a client certificate, for brokers that require one (and for
/// `auth_mechanism=external`, where the certificate names the user). The broker never sees
/// these parameters.
pub(crate) async fn connect(
    url: &str,
    properties: ConnectionProperties,
) -> Result<Connection, String> {
    super::tls_provider();
    let files = super::UrlTlsFiles::read(url).map_err(|e| format!("the AMQP URL's {e}"))?;
    let cert_chain = files
        .ca
        .map(|pem| String::from_utf8(pem).map_err(|_| "the cacertfile is not PEM text".to_owned()))
        .transpose()?;
    let identity = files
        .client
        .map(|(pem, key)| OwnedIdentity::PKCS8 { pem, key });
    let config = OwnedTLSConfig {
        identity,
        cert_chain,
    };
    let runtime = lapin::runtime::default_runtime().map_err(|e| e.to_string())?;
    Connection::connect_with_config(url, properties, config, runtime)
        .await
        .map_err(|e| without_url(&e.to_string(), url))
}

/// An error text without the broker URL or its password, which a URL parse error repeats
/// (`Invalid URL: '…'`) when the URL is malformed.
fn without_url(text: &str, url: &str) -> String {
    let mut text = text.replace(url, "<the broker URL>");
    let password = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.password().map(str::to_owned))
        .or_else(|| {
            // Not a URL at all: whatever sits between the first `:` after the scheme's user
            // and the `@`.
            let (credentials, _) = url.split_once('@')?;
            let (_, password) = credentials.rsplit_once(':')?;
            Some(password.to_owned())
        })
        .filter(|p| !p.is_empty());
    if let Some(password) = password {
        text = text.replace(&password, "***");
    }
    text
}

/// The publish methods of one AMQP connector and its (lazily opened) channel.
#[derive(Debug)]
pub(crate) struct AmqpPublisher {
    name: String,
    url_env: String,
    methods: IndexMap<String, Result<Plan, String>>,
    link: Mutex<Option<Link>>,
    context: Arc<Context>,
}

/// An open connection and its confirm-mode channel. The connection is kept so that it
/// lives as long as the channel and is closed when replaced.
#[derive(Debug)]
struct Link {
    connection: Connection,
    channel: Channel,
}

#[derive(Debug)]
struct Plan {
    exchange: ShortString,
    routing_key: Template,
    headers: Vec<(ShortString, Template)>,
    payload: Option<RhaiAst>,
}

fn compile(context: &Context, method: &MqMethod) -> Result<Plan, String> {
    if method.subject.is_some() {
        return Err(
            "`subject` is for NATS and Redis Streams; AMQP uses `exchange` and \
                    `routing_key`"
                .into(),
        );
    }
    if method.exchange.is_none() && method.routing_key.is_none() {
        return Err("an AMQP publish method needs an `exchange`, a `routing_key` or both".into());
    }
    let exchange = ShortString::try_new(method.exchange.clone().unwrap_or_default())
        .map_err(|e| format!("exchange: {e}"))?;
    Ok(Plan {
        exchange,
        routing_key: Template::compile(
            &context.rhai,
            method.routing_key.as_deref().unwrap_or(""),
            false,
        )
        .map_err(|e| format!("routing_key: {e}"))?,
        headers: method
            .headers
            .iter()
            .map(|(k, v)| {
                let key = ShortString::try_new(k.as_str()).map_err(|e| format!("header: {e}"))?;
                Template::compile(&context.rhai, v, false)
                    .map(|t| (key, t))
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

impl AmqpPublisher {
    /// Compiles the connector's methods; a method that does not compile refuses calls and
    /// leaves a `connector.template` diagnostic.
    pub(crate) fn new(
        name: &str,
        config: &MqConnector,
        context: Arc<Context>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut methods = IndexMap::new();
        for method in &config.methods {
            let plan = compile(&context, method);
            if let Err(e) = &plan {
                let mut d = Diagnostic::error("connector.template", e.clone());
                d.element = Some(format!("{name}.{}", method.name));
                diagnostics.push(d);
            }
            methods.insert(method.name.clone(), plan);
        }
        AmqpPublisher {
            name: name.to_owned(),
            url_env: config.url_env.clone(),
            methods,
            link: Mutex::new(None),
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

    /// The open channel, connecting first when there is none or the last one is gone.
    async fn channel(&self) -> Result<Channel, ConnectorError> {
        let mut link = self.link.lock().await;
        if let Some(open) = link.as_ref()
            && open.connection.status().connected()
            && open.channel.status().connected()
        {
            return Ok(open.channel.clone());
        }
        if let Some(stale) = link.take() {
            // Best effort: the broker may already have dropped it.
            let _ = stale.connection.close(0, "reconnecting".into()).await;
        }
        let url = self
            .context
            .env
            .get(&self.url_env)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                technical(format!(
                    "mq connector `{}`: env var {} (its URL) is not set",
                    self.name, self.url_env
                ))
            })?;
        let what = format!(
            "cannot connect to the AMQP broker (env var {})",
            self.url_env
        );
        let connection = connect(url, ConnectionProperties::default())
            .await
            .map_err(|e| self.fail(&what, e))?;
        let channel = connection
            .create_channel()
            .await
            .map_err(|e| self.fail("cannot open a channel", e))?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await
            .map_err(|e| self.fail("cannot enable publisher confirms", e))?;
        *link = Some(Link {
            connection,
            channel: channel.clone(),
        });
        Ok(channel)
    }

    /// The connection test: a connection and a channel in publisher-confirm mode, as the
    /// calls use.
    pub(crate) async fn check(&self) -> Result<ConnectionCheck, ConnectorError> {
        self.channel().await?;
        Ok(ConnectionCheck::new(
            "the AMQP broker accepted a connection and a channel with publisher confirms",
        ))
    }

    /// Forgets the channel so that the next call opens a new one.
    async fn reset(&self) {
        if let Some(stale) = self.link.lock().await.take() {
            let _ = stale.connection.close(0, "publish failed".into()).await;
        }
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
        let routing_key = plan
            .routing_key
            .render(rhai, &vars, &control)
            .map_err(|e| self.fail(&format!("{method}: routing_key"), e))?;
        let routing_key = ShortString::try_new(routing_key)
            .map_err(|e| self.fail(&format!("{method}: routing_key"), e))?;
        let mut headers = FieldTable::default();
        for (key, template) in &plan.headers {
            let value = template
                .render(rhai, &vars, &control)
                .map_err(|e| self.fail(&format!("{method}: header {key}"), e))?;
            headers.insert(key.clone(), AMQPValue::LongString(LongString::from(value)));
        }
        let payload = match &plan.payload {
            Some(ast) => rhai
                .eval_expression(ast, &vars, &control)
                .map_err(|e| self.fail(&format!("{method}: payload"), e))?,
            None => args.clone(),
        };
        let body = serde_json::to_vec(&payload)
            .map_err(|e| self.fail(&format!("{method}: payload"), e))?;
        let properties = BasicProperties::default()
            .with_delivery_mode(PERSISTENT)
            .with_content_type("application/json".into())
            .with_headers(headers);
        let options = BasicPublishOptions {
            mandatory: true,
            ..BasicPublishOptions::default()
        };

        let channel = self.channel().await?;
        let sent = channel
            .basic_publish(
                plan.exchange.clone(),
                routing_key,
                options,
                &body,
                properties,
            )
            .await;
        let confirmation = match sent {
            Ok(pending) => pending.await,
            Err(e) => Err(e),
        };
        let confirmation = match confirmation {
            Ok(confirmation) => confirmation,
            Err(e) => {
                self.reset().await;
                return Err(self.fail(&format!("{method}: publish failed"), e));
            }
        };
        match confirmation {
            Confirmation::Ack(None) => Ok(json!({ "published": true })),
            Confirmation::Ack(Some(_)) | Confirmation::Nack(Some(_)) => Err(ConnectorError {
                code: Some("AMQP_UNROUTABLE".into()),
                message: format!(
                    "{}.{method}: exchange `{}` routed the message to no queue",
                    self.name, plan.exchange
                ),
            }),
            Confirmation::Nack(None) => Err(ConnectorError {
                code: Some("AMQP_NACK".into()),
                message: format!("{}.{method}: the broker refused the message", self.name),
            }),
            Confirmation::NotRequested => {
                // The channel lost confirm mode; open a fresh one next time.
                self.reset().await;
                Err(technical(format!(
                    "{}.{method}: the broker did not confirm the message",
                    self.name
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_errors_do_not_repeat_the_url_or_its_password() {
        let url = "amqp:guest:s3cret@broker:5672";
        let shown = without_url(&format!("Invalid URL: '{url}'"), url);
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(!shown.contains(url), "{shown}");
        let url = "amqps://app:p%40ss@broker/vhost";
        let shown = without_url(
            "handshake with amqps://app:p%40ss@broker/vhost failed (p%40ss)",
            url,
        );
        assert!(!shown.contains("p%40ss"), "{shown}");
    }

    #[tokio::test]
    async fn a_malformed_url_is_an_error_without_its_password() {
        let error = connect(
            "amqp:guest:s3cret@127.0.0.1:1",
            ConnectionProperties::default(),
        )
        .await
        .expect_err("not a URL");
        assert!(!error.contains("s3cret"), "{error}");
    }
}
