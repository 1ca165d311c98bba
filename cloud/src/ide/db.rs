//! The workspace's SQLite database (`.starweave/ide.db`): what the IDE keeps that is not a
//! file of a VMS — the run history, and where each VMS is deployed from the Deploy panel.
//!
//! Migrations are an append-only list applied in order; `PRAGMA user_version` records how
//! many ran. Queries are plain `sqlx::query` with bound parameters (no SQL is ever built
//! from request text).

use std::path::Path;

use serde_json::Value;
use sqlx::Row;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// The schema, one migration per entry; never edit one, append.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        vms TEXT NOT NULL,
        function TEXT NOT NULL,
        at TEXT NOT NULL,
        input TEXT NOT NULL,
        result TEXT NOT NULL
    );
    CREATE INDEX runs_by_function ON runs (vms, function, at DESC);",
    "CREATE TABLE deploy_targets (
        vms TEXT PRIMARY KEY,
        engines TEXT NOT NULL,
        env TEXT NOT NULL
    );",
];

/// How many runs of one function are kept; older ones are deleted on insert.
const KEEP_RUNS: i64 = 200;

/// Opens (creating and migrating) the database at `path`.
pub async fn open(path: &Path) -> anyhow::Result<SqlitePool> {
    let options = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .busy_timeout(std::time::Duration::from_secs(5));
    let pool = SqlitePoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await?;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&pool)
        .await?;
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(version.max(0) as usize) {
        let mut tx = pool.begin().await?;
        sqlx::raw_sql(*migration).execute(&mut *tx).await?;
        // The version is our own number, not request text.
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PRAGMA user_version = {}",
            index + 1
        )))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
    }
    Ok(pool)
}

/// One recorded run.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunRecord {
    /// The run's id (also `result.id`).
    pub id: String,
    /// When it ran, RFC 3339 UTC.
    pub at: String,
    /// The function.
    pub function: String,
    /// Its input.
    pub input: Value,
    /// The `RunResult`.
    pub result: Value,
}

/// Records a run and keeps only the newest [`KEEP_RUNS`] of its function.
pub async fn insert_run(pool: &SqlitePool, vms: &str, record: &RunRecord) -> sqlx::Result<()> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO runs (id, vms, function, at, input, result) VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&record.id)
    .bind(vms)
    .bind(&record.function)
    .bind(&record.at)
    .bind(record.input.to_string())
    .bind(record.result.to_string())
    .execute(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM runs WHERE vms = ? AND function = ? AND id NOT IN
           (SELECT id FROM runs WHERE vms = ? AND function = ? ORDER BY at DESC, id DESC LIMIT ?)",
    )
    .bind(vms)
    .bind(&record.function)
    .bind(vms)
    .bind(&record.function)
    .bind(KEEP_RUNS)
    .execute(&mut *tx)
    .await?;
    tx.commit().await
}

/// The newest `limit` runs of a VMS (of one function, when given), newest first.
pub async fn list_runs(
    pool: &SqlitePool,
    vms: &str,
    function: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<RunRecord>> {
    let rows = sqlx::query(
        "SELECT id, at, function, input, result FROM runs
         WHERE vms = ? AND (? IS NULL OR function = ?)
         ORDER BY at DESC, id DESC LIMIT ?",
    )
    .bind(vms)
    .bind(function)
    .bind(function)
    .bind(limit)
    .fetch_all(pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| RunRecord {
            id: row.get("id"),
            at: row.get("at"),
            function: row.get("function"),
            input: serde_json::from_str(row.get::<&str, _>("input")).unwrap_or(Value::Null),
            result: serde_json::from_str(row.get::<&str, _>("result")).unwrap_or(Value::Null),
        })
        .collect())
}

/// Where the Deploy panel sends a VMS: its engines' admin URLs and the env values that are
/// not secret (secrets are typed for each deployment and never kept here).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeployTarget {
    /// The engines' admin API URLs, in rollout order.
    pub engines: Vec<String>,
    /// Env values by name.
    pub env: std::collections::BTreeMap<String, String>,
}

/// The deploy target of a VMS (empty when none was saved).
pub async fn deploy_target(pool: &SqlitePool, vms: &str) -> sqlx::Result<DeployTarget> {
    let row = sqlx::query("SELECT engines, env FROM deploy_targets WHERE vms = ?")
        .bind(vms)
        .fetch_optional(pool)
        .await?;
    Ok(row.map_or_else(DeployTarget::default, |row| DeployTarget {
        engines: serde_json::from_str(row.get::<&str, _>("engines")).unwrap_or_default(),
        env: serde_json::from_str(row.get::<&str, _>("env")).unwrap_or_default(),
    }))
}

/// Saves the deploy target of a VMS.
pub async fn set_deploy_target(
    pool: &SqlitePool,
    vms: &str,
    target: &DeployTarget,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO deploy_targets (vms, engines, env) VALUES (?, ?, ?)
         ON CONFLICT (vms) DO UPDATE SET engines = excluded.engines, env = excluded.env",
    )
    .bind(vms)
    .bind(serde_json::to_string(&target.engines).unwrap_or_default())
    .bind(serde_json::to_string(&target.env).unwrap_or_default())
    .execute(pool)
    .await?;
    Ok(())
}
