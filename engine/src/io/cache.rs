//! The cache connector: Redis through a connection manager that reconnects by itself.
//!
//! Keys (and hash fields) are templates; the connector's `key_prefix` goes in front of every
//! key. Values come from the method's `value` expression (`input.value` when absent). Strings
//! are stored as they are, other values as JSON text; reading parses JSON text back (so a
//! stored `"42"` reads as the number 42) and returns anything else as a string.
//!
//! | op | output |
//! |---|---|
//! | `get` | the value, `null` when missing |
//! | `set` | `null`; with `ttl_seconds` the key expires |
//! | `del` | the number of keys removed |
//! | `incr` | the new integer (by `value`, 1 when the method has no `value` and the input none); with `ttl_seconds` the key expires that long after the increment that created it (a fixed window: later increments keep the expiry) |
//! | `hget` | the field's value, `null` when missing |
//! | `hset` | `null`; with `ttl_seconds` the hash expires that long after this write |
//! | `hgetall` | an object of every field |
//! | `expire` | whether the key exists (and now expires after `ttl_seconds`) |

use std::sync::Arc;

use indexmap::IndexMap;
use redis::AsyncCommands;
use serde_json::{Map, Value};
use starweave_model::Diagnostic;
use starweave_model::vms::connector::{CacheConnector, CacheMethod, CacheOp};
use tokio::sync::OnceCell;

use super::template::Template;
use super::{ConnectionCheck, Context, technical};
use crate::connectors::ConnectorError;
use crate::script::rhai::RhaiAst;

#[derive(Debug)]
pub(crate) struct Cache {
    name: String,
    url_env: String,
    prefix: String,
    methods: IndexMap<String, Result<Plan, String>>,
    manager: OnceCell<redis::aio::ConnectionManager>,
    context: Arc<Context>,
}

#[derive(Debug)]
struct Plan {
    op: CacheOp,
    key: Template,
    field: Option<Template>,
    value: Option<RhaiAst>,
    ttl_seconds: Option<u64>,
}

/// The longest time to live a method may give (10 years): beyond, Redis's own arithmetic
/// overflows and a negative expiry deletes the key.
const MAX_TTL_SECONDS: u64 = 10 * 365 * 24 * 3600;

/// `INCRBY`, and the time to live when the key has none (it was just created): a counter
/// with a TTL is a fixed window, which later increments must not push back. One script, so
/// the counter is never left without its expiry.
const INCR_WITH_TTL: &str = r"
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
if redis.call('TTL', KEYS[1]) == -1 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return n
";

fn compile(context: &Context, method: &CacheMethod) -> Result<Plan, String> {
    let field = method
        .field
        .as_deref()
        .map(|f| Template::compile(&context.rhai, f, false))
        .transpose()
        .map_err(|e| format!("field: {e}"))?;
    if matches!(method.op, CacheOp::Hget | CacheOp::Hset) && field.is_none() {
        return Err(format!("`{}` needs a `field`", op_name(method.op)));
    }
    if matches!(method.op, CacheOp::Expire) && method.ttl_seconds.is_none() {
        return Err("`expire` needs `ttl_seconds`".into());
    }
    if let Some(ttl) = method.ttl_seconds
        && !(1..=MAX_TTL_SECONDS).contains(&ttl)
    {
        return Err(format!(
            "`ttl_seconds` is {ttl}: a time to live is from 1 s to {MAX_TTL_SECONDS} s (10 years); `del` removes a key now"
        ));
    }
    Ok(Plan {
        op: method.op,
        key: Template::compile(&context.rhai, &method.key, false)
            .map_err(|e| format!("key: {e}"))?,
        field,
        value: method
            .value
            .as_deref()
            .map(|v| context.rhai.compile_expression(v))
            .transpose()
            .map_err(|e| format!("value: {e}"))?,
        ttl_seconds: method.ttl_seconds,
    })
}

fn op_name(op: CacheOp) -> &'static str {
    match op {
        CacheOp::Get => "get",
        CacheOp::Set => "set",
        CacheOp::Del => "del",
        CacheOp::Incr => "incr",
        CacheOp::Hget => "hget",
        CacheOp::Hset => "hset",
        CacheOp::Hgetall => "hgetall",
        CacheOp::Expire => "expire",
    }
}

fn stored_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn read_back(text: Option<String>) -> Value {
    match text {
        None => Value::Null,
        Some(text) => serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

impl Cache {
    pub(crate) fn new(
        name: &str,
        config: &CacheConnector,
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
        Cache {
            name: name.to_owned(),
            url_env: config.url_env.clone(),
            prefix: config.key_prefix.clone().unwrap_or_default(),
            methods,
            manager: OnceCell::new(),
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
                .redact(&format!("cache connector `{}`: {what}: {err}", self.name)),
        )
    }

    async fn manager(&self) -> Result<redis::aio::ConnectionManager, ConnectorError> {
        let manager = self
            .manager
            .get_or_try_init(|| async {
                let url = self
                    .context
                    .env
                    .get(&self.url_env)
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        technical(format!(
                            "cache connector `{}`: env var {} (its URL) is not set",
                            self.name, self.url_env
                        ))
                    })?;
                let client = super::redis_client(url).map_err(|e| self.fail("bad Redis URL", e))?;
                super::redis_manager(&client)
                    .await
                    .map_err(|e| self.fail("cannot connect", e))
            })
            .await?;
        Ok(manager.clone())
    }

    /// The connection test: `PING`, and the server's version from `INFO server`.
    pub(crate) async fn check(&self) -> Result<ConnectionCheck, ConnectorError> {
        let mut manager = self.manager().await?;
        super::redis_ping(&mut manager)
            .await
            .map_err(|e| self.fail("PING", e))
    }

    pub(crate) async fn call(&self, method: &str, args: &Value) -> Result<Value, ConnectorError> {
        let plan = match self.methods.get(method) {
            Some(Ok(plan)) => plan,
            Some(Err(e)) => {
                return Err(technical(format!("{}.{method} cannot run: {e}", self.name)));
            }
            None => {
                return Err(technical(format!(
                    "cache connector `{}` has no method `{method}`",
                    self.name
                )));
            }
        };
        let rhai = &self.context.rhai;
        let vars = self.context.vars(args);
        let control = self.context.control(self.context.default_timeout);
        let key = format!(
            "{}{}",
            self.prefix,
            plan.key
                .render(rhai, &vars, &control)
                .map_err(|e| self.fail(&format!("{method}: key"), e))?
        );
        let field = match &plan.field {
            Some(t) => Some(
                t.render(rhai, &vars, &control)
                    .map_err(|e| self.fail(&format!("{method}: field"), e))?,
            ),
            None => None,
        };
        let value = match &plan.value {
            Some(ast) => Some(
                rhai.eval_expression(ast, &vars, &control)
                    .map_err(|e| self.fail(&format!("{method}: value"), e))?,
            ),
            None => args.get("value").cloned(),
        };
        let mut conn = self.manager().await?;
        let fail = |e: redis::RedisError| self.fail(&format!("{method} failed"), e);
        Ok(match plan.op {
            CacheOp::Get => read_back(conn.get::<_, Option<String>>(&key).await.map_err(fail)?),
            CacheOp::Set => {
                let text = stored_text(&value.unwrap_or(Value::Null));
                match plan.ttl_seconds {
                    Some(ttl) => conn
                        .set_ex::<_, _, ()>(&key, text, ttl)
                        .await
                        .map_err(fail)?,
                    None => conn.set::<_, _, ()>(&key, text).await.map_err(fail)?,
                }
                Value::Null
            }
            CacheOp::Del => Value::from(conn.del::<_, i64>(&key).await.map_err(fail)?),
            CacheOp::Incr => {
                let by = match &value {
                    None | Some(Value::Null) => 1,
                    Some(v) => v.as_i64().ok_or_else(|| {
                        technical(format!("{}.{method}: incr needs a whole number", self.name))
                    })?,
                };
                let n: i64 = match plan.ttl_seconds {
                    Some(ttl) => redis::cmd("EVAL")
                        .arg(INCR_WITH_TTL)
                        .arg(1)
                        .arg(&key)
                        .arg(by)
                        .arg(ttl)
                        .query_async(&mut conn)
                        .await
                        .map_err(fail)?,
                    None => conn.incr(&key, by).await.map_err(fail)?,
                };
                Value::from(n)
            }
            CacheOp::Hget => read_back(
                conn.hget::<_, _, Option<String>>(&key, field.unwrap_or_default())
                    .await
                    .map_err(fail)?,
            ),
            CacheOp::Hset => {
                let text = stored_text(&value.unwrap_or(Value::Null));
                let field = field.unwrap_or_default();
                match plan.ttl_seconds {
                    // Together (MULTI/EXEC): the hash never stays without its expiry.
                    Some(ttl) => redis::pipe()
                        .atomic()
                        .hset(&key, field, text)
                        .ignore()
                        .expire(&key, ttl as i64)
                        .ignore()
                        .query_async::<()>(&mut conn)
                        .await
                        .map_err(fail)?,
                    None => conn
                        .hset::<_, _, _, ()>(&key, field, text)
                        .await
                        .map_err(fail)?,
                }
                Value::Null
            }
            CacheOp::Hgetall => {
                let all: Vec<(String, String)> = conn.hgetall(&key).await.map_err(fail)?;
                Value::Object(
                    all.into_iter()
                        .map(|(k, v)| (k, read_back(Some(v))))
                        .collect::<Map<_, _>>(),
                )
            }
            CacheOp::Expire => {
                let ttl = plan.ttl_seconds.unwrap_or(0) as i64;
                Value::Bool(conn.expire::<_, bool>(&key, ttl).await.map_err(fail)?)
            }
        })
    }
}
