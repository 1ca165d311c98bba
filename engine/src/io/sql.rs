//! The database connector: MyBatis-style methods ([`super::dynsql`]) on PostgreSQL,
//! MySQL/MariaDB and SQLite through sqlx, with pooled connections and transactions.
//!
//! # Binding
//!
//! Values are bound, never spliced. PostgreSQL is strict about parameter types, so each
//! statement is prepared first (sqlx caches it per connection) and every JSON value is
//! converted to the type the server inferred for its `$n`: integers, floats, `numeric` (from a
//! number or a decimal string), `bool`, text, `json`/`jsonb`, `timestamptz` (RFC 3339),
//! `timestamp`, `date`, `time`, `uuid`, `bytea` (base64) and arrays of integers or text.
//! MySQL and SQLite convert on their side, so values are bound by their JSON type (objects and
//! arrays as JSON text).
//!
//! # Rows
//!
//! Each row becomes an object keyed by column name: integers and floats as numbers,
//! `numeric`/`decimal` as strings (no precision lost), text, booleans, `json`/`jsonb` as JSON,
//! `timestamptz` as RFC 3339 in UTC, `timestamp` without zone as `YYYY-MM-DDTHH:MM:SS[.f]`,
//! dates and times as ISO 8601, binary as base64, SQL `NULL` as `null`. MySQL's `BIT(n)` comes
//! back as an unsigned integer (`b'101'` is `5`) and `YEAR` as a number. MySQL reports
//! `_bin`-collated text (and MariaDB's `JSON`, which is `LONGTEXT`) as binary, so there a
//! binary value that is valid UTF-8 comes back as text. SQLite has no JSON type: JSON stored
//! as text comes back as text.
//!
//! # Returns
//!
//! `rows` (array), `one` (first row or `null`), `affected` (`{"affected": n}`) and
//! `generated-key` (`{"key": k}`): on PostgreSQL write `INSERT … RETURNING id` and the first
//! column of the first returned row is the key; MySQL reports `LAST_INSERT_ID()` and SQLite
//! `last_insert_rowid()`. A statement that inserted nothing (`INSERT IGNORE`,
//! `INSERT OR IGNORE`, `ON CONFLICT DO NOTHING`) gives `{"key": null}`: SQLite would report
//! an earlier insert's rowid and MySQL 0.
//!
//! # Errors
//!
//! A unique-constraint violation raises the catchable code `CONFLICT`; other database errors
//! are technical failures whose message is the database's, without the SQL or bound values.
//!
//! PostgreSQL aborts a whole transaction at the first statement it rejects: everything after
//! fails and `COMMIT` quietly rolls back. A call that fails that way inside a transaction
//! says so ([`CallError::aborts_transaction`]) and the caller stops using the transaction
//! (see [`super`]'s transaction notes). MySQL and SQLite undo only the failed statement.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};
use indexmap::IndexMap;
use serde_json::{Map, Value};
use sqlx::mysql::{MySql, MySqlConnection, MySqlPoolOptions, MySqlRow};
use sqlx::postgres::{PgArguments, PgConnectOptions, PgConnection, PgPoolOptions, PgRow, Postgres};
use sqlx::query::Query;
use sqlx::sqlite::{Sqlite, SqliteConnection, SqlitePoolOptions, SqliteRow};
use sqlx::{
    AssertSqlSafe, Column, Connection, Executor, Row, SqlSafeStr, Statement, TypeInfo, ValueRef,
};
use starweave_model::Diagnostic;
use starweave_model::vms::connector::{DatabaseConnector, DbDriver, SqlMethod, SqlReturns};
use tokio::sync::OnceCell;

use super::dynsql::{Placeholder, RenderedSql, SqlTemplate};
use super::{ConnectionCheck, ConnectorError, Secrets, technical};

/// Makes the server stop a statement of this connection after `ms` milliseconds: MariaDB's
/// `max_statement_time` (every statement), else MySQL's `max_execution_time` (read-only
/// `SELECT`s; MySQL has no limit for the others). A server refusing both is still used.
async fn limit_mysql_statements(conn: &mut MySqlConnection, ms: u128) -> Result<(), sqlx::Error> {
    let mariadb = format!("SET SESSION max_statement_time = {}", ms as f64 / 1000.0);
    if conn.execute(AssertSqlSafe(mariadb)).await.is_err() {
        let mysql = format!("SET SESSION max_execution_time = {ms}");
        if let Err(error) = conn.execute(AssertSqlSafe(mysql)).await {
            tracing::debug!(%error, "the server takes no statement time limit");
        }
    }
    Ok(())
}

/// The server's limit for one statement of a call that may take `call_timeout`.
fn statement_timeout(call_timeout: Duration) -> Duration {
    call_timeout.saturating_sub((call_timeout / 10).min(Duration::from_secs(1)))
}

/// One compiled SQL method.
#[derive(Debug)]
struct SqlPlan {
    template: SqlTemplate,
    identifiers: IndexMap<String, Vec<String>>,
    returns: SqlReturns,
    /// Why the method cannot run (its SQL had errors), when it cannot.
    broken: Option<String>,
}

/// A database connector, ready to call.
#[derive(Debug)]
pub(crate) struct Database {
    name: String,
    driver: DbDriver,
    url: Option<String>,
    url_env: String,
    pool_size: u32,
    pub(crate) timeout: Option<Duration>,
    /// How long the server lets one statement run: a little less than the call's timeout
    /// (a tenth, at most a second), so that a call the engine would give up on does not go
    /// on holding the connection, its locks and a transaction's rollback, and the server's
    /// own cancellation comes first, leaving the connection ready for the next call.
    statement_timeout: Duration,
    pool: OnceCell<Pool>,
    methods: IndexMap<String, SqlPlan>,
    secrets: Arc<Secrets>,
}

#[derive(Debug, Clone)]
enum Pool {
    Postgres(sqlx::PgPool),
    Mysql(sqlx::MySqlPool),
    Sqlite(sqlx::SqlitePool),
}

/// A database transaction opened for one BPMN transaction (savepoints for nested ones).
#[derive(Debug)]
pub(crate) enum DbTransaction {
    /// On PostgreSQL.
    Postgres(sqlx::Transaction<'static, Postgres>),
    /// On MySQL or MariaDB.
    Mysql(sqlx::Transaction<'static, MySql>),
    /// On SQLite.
    Sqlite(sqlx::Transaction<'static, Sqlite>),
}

/// A call made inside a transaction failed.
#[derive(Debug)]
pub(crate) struct CallError {
    /// The failure, as the caller reports it.
    pub(crate) error: ConnectorError,
    /// The database rejected a statement of a PostgreSQL transaction, which PostgreSQL then
    /// aborts: it refuses every later statement until rolled back (to a savepoint made
    /// before the failure, or entirely), and answers `COMMIT` with a rollback.
    pub(crate) aborts_transaction: bool,
}

impl From<ConnectorError> for CallError {
    /// A failure before any statement reached the database.
    fn from(error: ConnectorError) -> Self {
        CallError {
            error,
            aborts_transaction: false,
        }
    }
}

impl DbTransaction {
    /// Whether any failed statement aborts the transaction (PostgreSQL).
    pub(crate) fn aborts_on_error(&self) -> bool {
        matches!(self, DbTransaction::Postgres(_))
    }
}

impl Database {
    /// Compiles the connector's methods; SQL errors become diagnostics (with the method's
    /// name as element) and make those methods refuse calls.
    pub(crate) fn new(
        name: &str,
        config: &DatabaseConnector,
        env: &std::collections::BTreeMap<String, String>,
        secrets: Arc<Secrets>,
        default_timeout: Duration,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut methods = IndexMap::new();
        for method in &config.methods {
            methods.insert(
                method.name.clone(),
                compile_method(name, method, diagnostics),
            );
        }
        Database {
            name: name.to_owned(),
            driver: config.driver,
            url: env.get(&config.url_env).cloned(),
            url_env: config.url_env.clone(),
            pool_size: config.pool_size.unwrap_or(10).max(1),
            timeout: config.timeout_ms.map(Duration::from_millis),
            statement_timeout: statement_timeout(
                config
                    .timeout_ms
                    .map_or(default_timeout, Duration::from_millis),
            ),
            pool: OnceCell::new(),
            methods,
            secrets,
        }
    }

    /// The method names.
    pub(crate) fn method_names(&self) -> Vec<String> {
        self.methods.keys().cloned().collect()
    }

    async fn pool(&self) -> Result<&Pool, ConnectorError> {
        self.pool
            .get_or_try_init(|| async {
                let Some(url) = &self.url else {
                    return Err(technical(format!(
                        "database connector `{}`: env var {} (its URL) is not set",
                        self.name, self.url_env
                    )));
                };
                let acquire = self.timeout.unwrap_or(Duration::from_secs(10));
                let url = url.as_str();
                let statement_ms = self.statement_timeout.as_millis().max(1);
                // A `statement_timeout` the URL sets itself is the user's choice and kept.
                let own_statement_timeout = url.contains("statement_timeout");
                let pool = match self.driver {
                    DbDriver::Postgres => url.parse::<PgConnectOptions>().map(|options| {
                        let options = if own_statement_timeout {
                            options
                        } else {
                            options.options([("statement_timeout", statement_ms)])
                        };
                        Pool::Postgres(
                            PgPoolOptions::new()
                                .max_connections(self.pool_size)
                                .acquire_timeout(acquire)
                                .connect_lazy_with(options),
                        )
                    }),
                    DbDriver::Mysql => MySqlPoolOptions::new()
                        .max_connections(self.pool_size)
                        .acquire_timeout(acquire)
                        .after_connect(move |conn, _| {
                            Box::pin(limit_mysql_statements(conn, statement_ms))
                        })
                        .connect_lazy(url)
                        .map(Pool::Mysql),
                    DbDriver::Sqlite => SqlitePoolOptions::new()
                        .max_connections(self.pool_size)
                        .acquire_timeout(acquire)
                        .connect_lazy(url)
                        .map(Pool::Sqlite),
                };
                pool.map_err(|err| self.error("cannot use the database URL", &err))
            })
            .await
    }

    fn error(&self, what: &str, err: &sqlx::Error) -> ConnectorError {
        let code = match err {
            sqlx::Error::Database(db) if db.is_unique_violation() => Some("CONFLICT".to_owned()),
            _ => None,
        };
        let detail = match err {
            sqlx::Error::Database(db) => db.message().to_owned(),
            other => other.to_string(),
        };
        ConnectorError {
            code,
            message: self.secrets.redact(&format!(
                "database connector `{}`: {what}: {detail}",
                self.name
            )),
        }
    }

    /// The connection test: a connection of its own (not from the pool, whose retries
    /// would hide the reason behind a timeout), the server's version, and the connection
    /// closed.
    pub(crate) async fn check(&self) -> Result<ConnectionCheck, ConnectorError> {
        let Some(url) = self.url.as_deref() else {
            return Err(technical(format!(
                "database connector `{}`: env var {} (its URL) is not set",
                self.name, self.url_env
            )));
        };
        let connect = |e: sqlx::Error| self.error("cannot connect", &e);
        let version = |e: sqlx::Error| self.error("cannot read the server's version", &e);
        let summary = match self.driver {
            DbDriver::Postgres => {
                let mut conn = PgConnection::connect(url).await.map_err(connect)?;
                let v: String = sqlx::query_scalar("SHOW server_version")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(version)?;
                let _ = conn.close().await;
                format!("PostgreSQL {v}")
            }
            DbDriver::Mysql => {
                let mut conn = MySqlConnection::connect(url).await.map_err(connect)?;
                let v: String = sqlx::query_scalar("SELECT VERSION()")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(version)?;
                let _ = conn.close().await;
                let product = if v.contains("MariaDB") {
                    "MariaDB"
                } else {
                    "MySQL"
                };
                format!("{product} {v}")
            }
            DbDriver::Sqlite => {
                let mut conn = SqliteConnection::connect(url).await.map_err(connect)?;
                let v: String = sqlx::query_scalar("SELECT sqlite_version()")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(version)?;
                let _ = conn.close().await;
                format!("SQLite {v}")
            }
        };
        Ok(ConnectionCheck::new(format!("connected to {summary}")))
    }

    /// Opens a transaction on a pooled connection.
    pub(crate) async fn begin(&self) -> Result<DbTransaction, ConnectorError> {
        let pool = self.pool().await?;
        let result = match pool {
            Pool::Postgres(p) => p.begin().await.map(DbTransaction::Postgres),
            Pool::Mysql(p) => p.begin().await.map(DbTransaction::Mysql),
            Pool::Sqlite(p) => p.begin().await.map(DbTransaction::Sqlite),
        };
        result.map_err(|err| self.error("cannot begin a transaction", &err))
    }

    /// Runs a transaction-control statement (`SAVEPOINT x`, …) on an open transaction.
    pub(crate) async fn control(
        &self,
        tx: &mut DbTransaction,
        statement: String,
    ) -> Result<(), ConnectorError> {
        let sql = AssertSqlSafe(statement);
        let result = match tx {
            DbTransaction::Postgres(t) => t.execute(sql).await.map(drop),
            DbTransaction::Mysql(t) => t.execute(sql).await.map(drop),
            DbTransaction::Sqlite(t) => t.execute(sql).await.map(drop),
        };
        result.map_err(|err| self.error("transaction control failed", &err))
    }

    /// Commits or rolls back an open transaction.
    pub(crate) async fn finish(
        &self,
        tx: DbTransaction,
        commit: bool,
    ) -> Result<(), ConnectorError> {
        let result = match (tx, commit) {
            (DbTransaction::Postgres(t), true) => t.commit().await,
            (DbTransaction::Postgres(t), false) => t.rollback().await,
            (DbTransaction::Mysql(t), true) => t.commit().await,
            (DbTransaction::Mysql(t), false) => t.rollback().await,
            (DbTransaction::Sqlite(t), true) => t.commit().await,
            (DbTransaction::Sqlite(t), false) => t.rollback().await,
        };
        let what = if commit {
            "commit failed"
        } else {
            "rollback failed"
        };
        result.map_err(|err| self.error(what, &err))
    }

    /// Renders a method's SQL for `args` (exposed for tests and the IDE's preview).
    pub(crate) fn render(
        &self,
        method: &str,
        args: &Value,
    ) -> Result<(RenderedSql, SqlReturns), ConnectorError> {
        let Some(plan) = self.methods.get(method) else {
            return Err(technical(format!(
                "database connector `{}` has no method `{method}`",
                self.name
            )));
        };
        if let Some(broken) = &plan.broken {
            return Err(technical(format!(
                "{}.{method} cannot run: {broken}",
                self.name
            )));
        }
        let placeholder = match self.driver {
            DbDriver::Postgres => Placeholder::Dollar,
            DbDriver::Mysql | DbDriver::Sqlite => Placeholder::Question,
        };
        let rendered = plan
            .template
            .render(args, placeholder, &plan.identifiers)
            .map_err(|err| ConnectorError {
                code: Some("REFUSED".into()),
                message: format!("{}.{method}: {err}", self.name),
            })?;
        Ok((rendered, plan.returns))
    }

    /// Calls a method on a pooled connection.
    pub(crate) async fn call(&self, method: &str, args: &Value) -> Result<Value, ConnectorError> {
        self.run(method, args, None)
            .await
            .map_err(|failed| failed.error)
    }

    /// Calls a method inside an open transaction.
    pub(crate) async fn call_in(
        &self,
        method: &str,
        args: &Value,
        tx: &mut DbTransaction,
    ) -> Result<Value, CallError> {
        self.run(method, args, Some(tx)).await
    }

    /// Calls a method, on `tx` when given, else on a pooled connection.
    async fn run(
        &self,
        method: &str,
        args: &Value,
        tx: Option<&mut DbTransaction>,
    ) -> Result<Value, CallError> {
        let (rendered, returns) = self.render(method, args)?;
        let what = format!("{method} failed");
        let in_postgres_transaction = tx.as_deref().is_some_and(DbTransaction::aborts_on_error);
        match tx {
            Some(DbTransaction::Postgres(t)) => run_postgres(t, &rendered, returns).await,
            Some(DbTransaction::Mysql(t)) => run_mysql(t, &rendered, returns).await,
            Some(DbTransaction::Sqlite(t)) => run_sqlite(t, &rendered, returns).await,
            None => match self.pool().await? {
                Pool::Postgres(p) => {
                    let mut conn = p
                        .acquire()
                        .await
                        .map_err(|e| self.error("no connection", &e))?;
                    run_postgres(&mut conn, &rendered, returns).await
                }
                Pool::Mysql(p) => {
                    let mut conn = p
                        .acquire()
                        .await
                        .map_err(|e| self.error("no connection", &e))?;
                    run_mysql(&mut conn, &rendered, returns).await
                }
                Pool::Sqlite(p) => {
                    let mut conn = p
                        .acquire()
                        .await
                        .map_err(|e| self.error("no connection", &e))?;
                    run_sqlite(&mut conn, &rendered, returns).await
                }
            },
        }
        .map_err(|err| match err {
            RunError::Sql(err) => CallError {
                // Only an error from the server aborts; a value sqlx could not decode did not.
                aborts_transaction: in_postgres_transaction
                    && matches!(err, sqlx::Error::Database(_)),
                error: self.error(&what, &err),
            },
            RunError::Value(message) => CallError {
                error: technical(format!("{}.{method}: {message}", self.name)),
                aborts_transaction: false,
            },
        })
    }
}

fn compile_method(
    connector: &str,
    method: &SqlMethod,
    diagnostics: &mut Vec<Diagnostic>,
) -> SqlPlan {
    let (template, mut found) = SqlTemplate::parse(&method.sql);
    for identifier in template.identifiers() {
        match method.identifiers.get(identifier) {
            Some(list) if !list.is_empty() => {}
            _ => found.push(Diagnostic::error(
                "sql.identifier-without-allow-list",
                format!(
                    "`${{{identifier}}}` splices text into the SQL; list the identifiers it may take under `identifiers: {{{identifier}: [...]}}`, or bind it with `#{{{identifier}}}`"
                ),
            )),
        }
        if let Some(list) = method.identifiers.get(identifier) {
            for allowed in list {
                if !is_identifier(allowed) {
                    found.push(Diagnostic::error(
                        "sql.bad-identifier",
                        format!("`{allowed}` in the allow-list of `{identifier}` is not a plain SQL identifier (letters, digits, `_`, `.`)"),
                    ));
                }
            }
        }
    }
    let broken = found.first().map(|d| d.message.clone());
    for mut diagnostic in found {
        diagnostic.element = Some(format!("{connector}.{}", method.name));
        diagnostics.push(diagnostic);
    }
    SqlPlan {
        template,
        identifiers: method.identifiers.clone(),
        returns: method.returns,
        broken,
    }
}

fn is_identifier(text: &str) -> bool {
    !text.is_empty()
        && text.split('.').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !part.starts_with(|c: char| c.is_ascii_digit())
        })
}

enum RunError {
    Sql(sqlx::Error),
    Value(String),
}

impl From<sqlx::Error> for RunError {
    fn from(err: sqlx::Error) -> Self {
        RunError::Sql(err)
    }
}

// ----------------------------------------------------------------------------------------
// PostgreSQL
// ----------------------------------------------------------------------------------------

async fn run_postgres(
    conn: &mut PgConnection,
    rendered: &RenderedSql,
    returns: SqlReturns,
) -> Result<Value, RunError> {
    let statement = conn
        .prepare(AssertSqlSafe(rendered.sql.clone()).into_sql_str())
        .await?;
    let types: Vec<sqlx::postgres::PgTypeInfo> = match statement.parameters() {
        Some(sqlx::Either::Left(types)) => types.to_vec(),
        _ => Vec::new(),
    };
    let mut query = statement.query();
    for (n, value) in rendered.binds.iter().enumerate() {
        let ty = types
            .get(n)
            .map(|t| t.name().to_owned())
            .unwrap_or_else(|| "TEXT".into());
        query = bind_postgres(query, &ty, value)
            .map_err(|message| RunError::Value(format!("parameter {} ({ty}): {message}", n + 1)))?;
    }
    match returns {
        SqlReturns::Rows => {
            let rows = query.fetch_all(&mut *conn).await?;
            rows.iter()
                .map(pg_row)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        SqlReturns::One => match query.fetch_optional(&mut *conn).await? {
            Some(row) => pg_row(&row),
            None => Ok(Value::Null),
        },
        SqlReturns::Affected => {
            let done = query.execute(&mut *conn).await?;
            Ok(serde_json::json!({ "affected": done.rows_affected() }))
        }
        SqlReturns::GeneratedKey => {
            let key = match query.fetch_optional(&mut *conn).await? {
                Some(row) => match pg_row(&row)? {
                    Value::Object(map) => map.into_iter().next().map_or(Value::Null, |(_, v)| v),
                    _ => Value::Null,
                },
                None => Value::Null,
            };
            Ok(serde_json::json!({ "key": key }))
        }
    }
}

type PgQuery<'q> = Query<'q, Postgres, PgArguments>;

fn as_i64(value: &Value) -> Result<i64, String> {
    match value {
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| "expected a whole number".to_owned()),
        Value::String(s) => s
            .trim()
            .parse()
            .map_err(|_| "expected a whole number".to_owned()),
        Value::Bool(b) => Ok(i64::from(*b)),
        _ => Err("expected a whole number".into()),
    }
}

fn as_f64(value: &Value) -> Result<f64, String> {
    match value {
        Value::Number(n) => n.as_f64().ok_or_else(|| "expected a number".to_owned()),
        Value::String(s) => s.trim().parse().map_err(|_| "expected a number".to_owned()),
        _ => Err("expected a number".into()),
    }
}

fn as_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn as_bool(value: &Value) -> Result<bool, String> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::Number(n) => Ok(n.as_f64().is_some_and(|f| f != 0.0)),
        Value::String(s) => match s.to_ascii_lowercase().as_str() {
            "true" | "t" | "1" | "yes" => Ok(true),
            "false" | "f" | "0" | "no" => Ok(false),
            _ => Err("expected true or false".into()),
        },
        _ => Err("expected true or false".into()),
    }
}

fn as_timestamptz(value: &Value) -> Result<DateTime<Utc>, String> {
    let text = value
        .as_str()
        .ok_or("expected an RFC 3339 date-time string")?;
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| "expected an RFC 3339 date-time such as 2024-05-01T12:00:00Z".to_owned())
}

fn as_timestamp(value: &Value) -> Result<NaiveDateTime, String> {
    let text = value.as_str().ok_or("expected a date-time string")?;
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.naive_utc());
    }
    for format in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(t);
        }
    }
    Err("expected a date-time such as 2024-05-01T12:00:00".into())
}

fn as_array(value: &Value) -> Result<&Vec<Value>, String> {
    value
        .as_array()
        .ok_or_else(|| "expected an array".to_owned())
}

fn bind_postgres<'q>(query: PgQuery<'q>, ty: &str, value: &Value) -> Result<PgQuery<'q>, String> {
    macro_rules! bind {
        ($t:ty, $convert:expr) => {{
            let converted: Option<$t> = if value.is_null() {
                None
            } else {
                Some($convert?)
            };
            Ok(query.bind(converted))
        }};
    }
    match ty {
        "BOOL" => bind!(bool, as_bool(value)),
        "INT2" => bind!(
            i16,
            as_i64(value).and_then(|n| i16::try_from(n).map_err(|_| "out of range".to_owned()))
        ),
        "INT4" => bind!(
            i32,
            as_i64(value).and_then(|n| i32::try_from(n).map_err(|_| "out of range".to_owned()))
        ),
        "INT8" => bind!(i64, as_i64(value)),
        "FLOAT4" => bind!(f32, as_f64(value).map(|f| f as f32)),
        "FLOAT8" => bind!(f64, as_f64(value)),
        "NUMERIC" => bind!(
            rust_decimal::Decimal,
            rust_decimal::Decimal::from_str(as_text(value).trim())
                .or_else(|_| rust_decimal::Decimal::from_scientific(as_text(value).trim()))
                .map_err(|_| "expected a decimal number".to_owned())
        ),
        "JSON" | "JSONB" => Ok(query.bind(if value.is_null() {
            None
        } else {
            Some(sqlx::types::Json(value.clone()))
        })),
        "TIMESTAMPTZ" => bind!(DateTime<Utc>, as_timestamptz(value)),
        "TIMESTAMP" => bind!(NaiveDateTime, as_timestamp(value)),
        "DATE" => bind!(
            NaiveDate,
            NaiveDate::parse_from_str(&as_text(value), "%Y-%m-%d")
                .map_err(|_| "expected a date such as 2024-05-01".to_owned())
        ),
        "TIME" => bind!(
            NaiveTime,
            NaiveTime::parse_from_str(&as_text(value), "%H:%M:%S%.f")
                .map_err(|_| "expected a time such as 12:30:00".to_owned())
        ),
        "UUID" => bind!(
            uuid::Uuid,
            uuid::Uuid::parse_str(&as_text(value)).map_err(|_| "expected a UUID".to_owned())
        ),
        "BYTEA" => bind!(
            Vec<u8>,
            base64::engine::general_purpose::STANDARD
                .decode(as_text(value))
                .map_err(|_| "expected base64 text".to_owned())
        ),
        "INT4[]" => bind!(
            Vec<i32>,
            as_array(value)?
                .iter()
                .map(|v| as_i64(v)
                    .and_then(|n| i32::try_from(n).map_err(|_| "out of range".to_owned())))
                .collect::<Result<Vec<_>, _>>()
        ),
        "INT8[]" => bind!(
            Vec<i64>,
            as_array(value)?
                .iter()
                .map(as_i64)
                .collect::<Result<Vec<_>, _>>()
        ),
        "TEXT[]" | "VARCHAR[]" => bind!(
            Vec<String>,
            Ok::<_, String>(as_array(value)?.iter().map(as_text).collect::<Vec<_>>())
        ),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "UNKNOWN" | "CITEXT" => {
            bind!(String, Ok::<_, String>(as_text(value)))
        }
        other => Err(format!(
            "Starweave cannot bind a {other} parameter; cast it in the SQL, e.g. `#{{x}}::text`"
        )),
    }
}

fn pg_row(row: &PgRow) -> Result<Value, RunError> {
    let mut map = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_info().name().to_owned();
        let value = if row.try_get_raw(i)?.is_null() {
            Value::Null
        } else {
            match ty.as_str() {
                "BOOL" => Value::Bool(row.try_get(i)?),
                "INT2" => Value::from(row.try_get::<i16, _>(i)?),
                "INT4" => Value::from(row.try_get::<i32, _>(i)?),
                "INT8" => Value::from(row.try_get::<i64, _>(i)?),
                "OID" => Value::from(row.try_get::<sqlx::postgres::types::Oid, _>(i)?.0),
                "FLOAT4" => float(f64::from(row.try_get::<f32, _>(i)?)),
                "FLOAT8" => float(row.try_get::<f64, _>(i)?),
                "NUMERIC" => Value::String(row.try_get::<rust_decimal::Decimal, _>(i)?.to_string()),
                "JSON" | "JSONB" => row.try_get::<sqlx::types::Json<Value>, _>(i)?.0,
                "TIMESTAMPTZ" => Value::String(rfc3339(row.try_get::<DateTime<Utc>, _>(i)?)),
                "TIMESTAMP" => Value::String(
                    row.try_get::<NaiveDateTime, _>(i)?
                        .format("%Y-%m-%dT%H:%M:%S%.f")
                        .to_string(),
                ),
                "DATE" => Value::String(row.try_get::<NaiveDate, _>(i)?.to_string()),
                "TIME" => Value::String(row.try_get::<NaiveTime, _>(i)?.to_string()),
                "UUID" => Value::String(row.try_get::<uuid::Uuid, _>(i)?.to_string()),
                "BYTEA" => Value::String(
                    base64::engine::general_purpose::STANDARD.encode(row.try_get::<Vec<u8>, _>(i)?),
                ),
                "INT4[]" => Value::from(row.try_get::<Vec<i32>, _>(i)?),
                "INT8[]" => Value::from(row.try_get::<Vec<i64>, _>(i)?),
                "TEXT[]" | "VARCHAR[]" => Value::from(row.try_get::<Vec<String>, _>(i)?),
                _ => match row.try_get::<String, _>(i) {
                    Ok(text) => Value::String(text),
                    Err(_) => {
                        return Err(RunError::Value(format!(
                            "column `{}` has type {ty}, which Starweave cannot read; cast it in the SQL, e.g. `{}::text`",
                            column.name(),
                            column.name()
                        )));
                    }
                },
            }
        };
        map.insert(column.name().to_owned(), value);
    }
    Ok(Value::Object(map))
}

fn float(f: f64) -> Value {
    serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)
}

fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
}

// ----------------------------------------------------------------------------------------
// MySQL / MariaDB and SQLite
// ----------------------------------------------------------------------------------------

/// Binds a JSON value by its type. A whole number past `i64` is bound as `u64` where the
/// database has that type (`BIGINT UNSIGNED`: bound as a double, it would match every id that
/// rounds to the same double), else as the double SQLite would store it as anyway.
macro_rules! bind_by_json_type {
    ($query:expr, $value:expr) => {
        bind_by_json_type!($query, $value, |u: u64| u as f64)
    };
    ($query:expr, $value:expr, $big:expr) => {{
        let query = $query;
        match $value {
            Value::Null => query.bind(None::<String>),
            Value::Bool(b) => query.bind(*b),
            Value::Number(n) => match (n.as_i64(), n.as_u64()) {
                (Some(i), _) => query.bind(i),
                (None, Some(u)) => query.bind(($big)(u)),
                _ => query.bind(n.as_f64().unwrap_or(0.0)),
            },
            Value::String(s) => query.bind(s.clone()),
            other => query.bind(other.to_string()),
        }
    }};
}

async fn run_mysql(
    conn: &mut MySqlConnection,
    rendered: &RenderedSql,
    returns: SqlReturns,
) -> Result<Value, RunError> {
    let mut query = sqlx::query::<MySql>(AssertSqlSafe(rendered.sql.clone()));
    for value in &rendered.binds {
        query = bind_by_json_type!(query, value, |u: u64| u);
    }
    match returns {
        SqlReturns::Rows => {
            let rows = query.fetch_all(&mut *conn).await?;
            rows.iter()
                .map(mysql_row)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        SqlReturns::One => match query.fetch_optional(&mut *conn).await? {
            Some(row) => mysql_row(&row),
            None => Ok(Value::Null),
        },
        SqlReturns::Affected => {
            let done = query.execute(&mut *conn).await?;
            Ok(serde_json::json!({ "affected": done.rows_affected() }))
        }
        SqlReturns::GeneratedKey => {
            let done = query.execute(&mut *conn).await?;
            // LAST_INSERT_ID() is 0 when nothing was inserted.
            let key = (done.rows_affected() > 0).then(|| done.last_insert_id());
            Ok(serde_json::json!({ "key": key }))
        }
    }
}

fn mysql_row(row: &MySqlRow) -> Result<Value, RunError> {
    let mut map = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let ty = column.type_info().name().to_owned();
        let value = if row.try_get_raw(i)?.is_null() {
            Value::Null
        } else {
            match ty.as_str() {
                "BOOLEAN" => Value::Bool(row.try_get(i)?),
                "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" => {
                    Value::from(row.try_get::<i64, _>(i)?)
                }
                // sqlx accepts YEAR and BIT only as unsigned integers, and only when the
                // column is flagged unsigned; its u64 decoder reads BIT's big-endian bytes.
                "YEAR" | "BIT" => Value::from(row.try_get_unchecked::<u64, _>(i)?),
                t if t.ends_with("UNSIGNED") => Value::from(row.try_get::<u64, _>(i)?),
                "FLOAT" => float(f64::from(row.try_get::<f32, _>(i)?)),
                "DOUBLE" => float(row.try_get::<f64, _>(i)?),
                "DECIMAL" => Value::String(row.try_get::<rust_decimal::Decimal, _>(i)?.to_string()),
                "JSON" => row.try_get::<sqlx::types::Json<Value>, _>(i)?.0,
                "TIMESTAMP" => Value::String(rfc3339(row.try_get::<DateTime<Utc>, _>(i)?)),
                "DATETIME" => Value::String(
                    row.try_get::<NaiveDateTime, _>(i)?
                        .format("%Y-%m-%dT%H:%M:%S%.f")
                        .to_string(),
                ),
                "DATE" => Value::String(row.try_get::<NaiveDate, _>(i)?.to_string()),
                "TIME" => Value::String(row.try_get::<NaiveTime, _>(i)?.to_string()),
                // MySQL flags `_bin`-collated text (and MariaDB's JSON, a LONGTEXT) as binary, so
                // binary columns come back as text when they are valid UTF-8, else as base64.
                "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" => {
                    let bytes = row.try_get::<Vec<u8>, _>(i)?;
                    match String::from_utf8(bytes) {
                        Ok(text) => Value::String(text),
                        Err(err) => Value::String(
                            base64::engine::general_purpose::STANDARD.encode(err.into_bytes()),
                        ),
                    }
                }
                _ => match row.try_get::<String, _>(i) {
                    Ok(text) => Value::String(text),
                    Err(_) => {
                        return Err(RunError::Value(format!(
                            "column `{}` has type {ty}, which Starweave cannot read; convert it in the SQL, e.g. `CAST({} AS CHAR)`",
                            column.name(),
                            column.name()
                        )));
                    }
                },
            }
        };
        map.insert(column.name().to_owned(), value);
    }
    Ok(Value::Object(map))
}

async fn run_sqlite(
    conn: &mut SqliteConnection,
    rendered: &RenderedSql,
    returns: SqlReturns,
) -> Result<Value, RunError> {
    let mut query = sqlx::query::<Sqlite>(AssertSqlSafe(rendered.sql.clone()));
    for value in &rendered.binds {
        query = bind_by_json_type!(query, value);
    }
    match returns {
        SqlReturns::Rows => {
            let rows = query.fetch_all(&mut *conn).await?;
            rows.iter()
                .map(sqlite_row)
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array)
        }
        SqlReturns::One => match query.fetch_optional(&mut *conn).await? {
            Some(row) => sqlite_row(&row),
            None => Ok(Value::Null),
        },
        SqlReturns::Affected => {
            let done = query.execute(&mut *conn).await?;
            Ok(serde_json::json!({ "affected": done.rows_affected() }))
        }
        SqlReturns::GeneratedKey => {
            let done = query.execute(&mut *conn).await?;
            // last_insert_rowid() keeps the connection's previous insert when this statement
            // inserted nothing, which would hand out another row's key.
            let key = (done.rows_affected() > 0).then(|| done.last_insert_rowid());
            Ok(serde_json::json!({ "key": key }))
        }
    }
}

fn sqlite_row(row: &SqliteRow) -> Result<Value, RunError> {
    let mut map = Map::new();
    for (i, column) in row.columns().iter().enumerate() {
        let declared = column.type_info().name().to_ascii_uppercase();
        let raw = row.try_get_raw(i)?;
        // SQLite values carry their own storage class; the declared type refines it.
        let storage = raw.type_info().name().to_owned();
        let value = if raw.is_null() {
            Value::Null
        } else {
            match storage.as_str() {
                "INTEGER" if declared == "BOOLEAN" || declared == "BOOL" => {
                    Value::Bool(row.try_get_unchecked::<i64, _>(i)? != 0)
                }
                "INTEGER" => Value::from(row.try_get_unchecked::<i64, _>(i)?),
                "REAL" => float(row.try_get_unchecked::<f64, _>(i)?),
                "BLOB" => Value::String(
                    base64::engine::general_purpose::STANDARD
                        .encode(row.try_get_unchecked::<Vec<u8>, _>(i)?),
                ),
                _ => {
                    let text = row.try_get_unchecked::<String, _>(i)?;
                    if declared == "JSON" || declared == "JSONB" {
                        serde_json::from_str(&text).unwrap_or(Value::String(text))
                    } else {
                        Value::String(text)
                    }
                }
            }
        };
        map.insert(column.name().to_owned(), value);
    }
    Ok(Value::Object(map))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{is_identifier, statement_timeout};

    #[test]
    fn the_server_stops_a_statement_a_tenth_before_the_call_at_most_a_second() {
        let ms = |ms: u64| statement_timeout(Duration::from_millis(ms)).as_millis();
        assert_eq!(ms(1500), 1350);
        assert_eq!(ms(30_000), 29_000);
        assert_eq!(ms(10), 9);
        assert_eq!(ms(0), 0);
    }

    #[test]
    fn identifiers_are_plain() {
        assert!(is_identifier("orders"));
        assert!(is_identifier("shop.orders_2024"));
        assert!(!is_identifier("orders; drop"));
        assert!(!is_identifier("2x"));
        assert!(!is_identifier("a..b"));
        assert!(!is_identifier(""));
    }
}
