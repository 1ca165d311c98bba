//! The database connector against real PostgreSQL, MariaDB and SQLite: one suite, three
//! databases. Each test works in its own PostgreSQL schema / MariaDB database / SQLite file
//! and removes it afterwards.

mod io_common;

use io_common::{MARIADB, POSTGRES, call, call_in, live, unique};
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, Executor};
use starweave_engine::connectors::{Connectors, TransactionId};
use starweave_engine::io::LiveConnectors;

const ITEMS: &str = include_str!("../testdata/io/items.yaml");

/// A throw-away database namespace and the connector pointed at it.
struct TestDb {
    driver: &'static str,
    url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    PgSchema { admin_url: String, schema: String },
    MysqlDatabase { admin_url: String, database: String },
    File(tempfile::TempDir),
}

async fn postgres() -> TestDb {
    let admin_url = POSTGRES.url();
    let schema = unique("sw_test_");
    let mut conn = sqlx::PgConnection::connect(&admin_url)
        .await
        .expect("connect to PostgreSQL");
    conn.execute(AssertSqlSafe(format!(
        "CREATE SCHEMA {schema}; CREATE TABLE {schema}.items (
            id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL UNIQUE, qty INT NOT NULL DEFAULT 0,
            price NUMERIC(10,2), data JSONB, created TIMESTAMPTZ, day DATE, flag BOOLEAN,
            ratio DOUBLE PRECISION, blob BYTEA, uid UUID)"
    )))
    .await
    .expect("create schema");
    let separator = if admin_url.contains('?') { '&' } else { '?' };
    let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
    TestDb {
        driver: "postgres",
        url,
        cleanup: Cleanup::PgSchema { admin_url, schema },
    }
}

async fn mariadb() -> TestDb {
    let admin_url = MARIADB.url();
    let database = unique("sw_test_");
    let mut conn = sqlx::MySqlConnection::connect(&admin_url)
        .await
        .expect("connect to MariaDB");
    conn.execute(AssertSqlSafe(format!("CREATE DATABASE {database}")))
        .await
        .expect("create database");
    conn.execute(AssertSqlSafe(format!(
        "CREATE TABLE {database}.items (
            id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(200) NOT NULL UNIQUE,
            qty INT NOT NULL DEFAULT 0, price DECIMAL(10,2), data JSON, created TIMESTAMP NULL,
            day DATE, flag BOOLEAN, ratio DOUBLE, blob_data BLOB, bit1 BIT(1), bit8 BIT(8),
            yr YEAR) ENGINE=InnoDB"
    )))
    .await
    .expect("create table");
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(base, _)| base);
    let url = format!("{base}/{database}");
    TestDb {
        driver: "mysql",
        url,
        cleanup: Cleanup::MysqlDatabase {
            admin_url,
            database,
        },
    }
}

async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("items.db");
    let url = format!("sqlite://{}?mode=rwc", path.display());
    let mut conn = sqlx::SqliteConnection::connect(&url)
        .await
        .expect("open SQLite");
    conn.execute(
        "CREATE TABLE items (
            id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL UNIQUE,
            qty INTEGER NOT NULL DEFAULT 0, price NUMERIC, data JSON, created TEXT, day TEXT,
            flag BOOLEAN, ratio REAL, blob_data BLOB)",
    )
    .await
    .expect("create table");
    conn.close().await.expect("close");
    TestDb {
        driver: "sqlite",
        url,
        cleanup: Cleanup::File(dir),
    }
}

impl TestDb {
    fn connectors(&self, extra: &str) -> LiveConnectors {
        let mut yaml = ITEMS.replace("driver: postgres", &format!("driver: {}", self.driver));
        if self.driver == "postgres" {
            yaml = yaml.replace(
                "VALUES (#{name}, #{qty})",
                "VALUES (#{name}, #{qty}) RETURNING id",
            );
        }
        yaml.push_str(extra);
        live(&[("db", &yaml)], &[("DB_URL", &self.url)])
    }

    async fn drop(self) {
        match self.cleanup {
            Cleanup::PgSchema { admin_url, schema } => {
                let mut conn = sqlx::PgConnection::connect(&admin_url)
                    .await
                    .expect("connect");
                conn.execute(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                    .await
                    .expect("drop schema");
            }
            Cleanup::MysqlDatabase {
                admin_url,
                database,
            } => {
                let mut conn = sqlx::MySqlConnection::connect(&admin_url)
                    .await
                    .expect("connect");
                conn.execute(AssertSqlSafe(format!("DROP DATABASE {database}")))
                    .await
                    .expect("drop database");
            }
            Cleanup::File(dir) => drop(dir),
        }
    }
}

async fn names(db: &LiveConnectors) -> Vec<String> {
    let rows = call(db, "db", "find", json!({})).await.expect("find");
    rows.as_array()
        .expect("rows")
        .iter()
        .map(|r| r["name"].as_str().expect("name").to_owned())
        .collect()
}

async fn insert(db: &LiveConnectors, name: &str, qty: i64, tx: Option<u64>) -> Value {
    call_in(db, "db", "insert", json!({"name": name, "qty": qty}), tx)
        .await
        .expect("insert")
}

// ---------------------------------------------------------------------------------------
// The suite
// ---------------------------------------------------------------------------------------

async fn crud_and_dynamic_sql(t: &TestDb) {
    let db = t.connectors("");
    let first = insert(&db, "apple", 5, None).await;
    let second = insert(&db, "banana", 2, None).await;
    let (a, b) = (
        first["key"].as_i64().expect("key"),
        second["key"].as_i64().expect("key"),
    );
    assert!(b > a, "generated keys {first} {second}");
    insert(&db, "cherry", 9, None).await;

    // Dynamic <where>: no condition, one, two.
    assert_eq!(names(&db).await, ["apple", "banana", "cherry"]);
    let rows = call(&db, "db", "find", json!({"min_qty": 5}))
        .await
        .expect("find");
    assert_eq!(
        rows,
        json!([{"id": a, "name": "apple", "qty": 5}, {"id": b + 1, "name": "cherry", "qty": 9}])
    );
    let rows = call(&db, "db", "find", json!({"min_qty": 3, "prefix": "ch%"}))
        .await
        .expect("find");
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    assert_eq!(rows[0]["name"], "cherry");

    // <foreach> IN list.
    let rows = call(&db, "db", "by_ids", json!({"ids": [a, b]}))
        .await
        .expect("by_ids");
    assert_eq!(rows, json!([{"name": "apple"}, {"name": "banana"}]));

    // <set> update with an affected count.
    let done = call(&db, "db", "set_qty", json!({"name": "banana", "qty": 7}))
        .await
        .expect("update");
    assert_eq!(done, json!({"affected": 1}));
    let done = call(&db, "db", "set_qty", json!({"name": "nobody", "qty": 7}))
        .await
        .expect("update");
    assert_eq!(done, json!({"affected": 0}));
    let rows = call(&db, "db", "find", json!({"name": "banana"}))
        .await
        .expect("find");
    assert_eq!(rows[0]["qty"], 7);

    // <choose>.
    let rows = call(&db, "db", "sorted", json!({"by": "qty"}))
        .await
        .expect("sorted");
    assert_eq!(
        rows,
        json!([{"name": "cherry"}, {"name": "banana"}, {"name": "apple"}])
    );

    // `one` and an allow-listed identifier.
    let count = call(&db, "db", "count", json!({"table": "items"}))
        .await
        .expect("count");
    assert_eq!(count, json!({"n": 3}));
}

async fn injection_is_inert(t: &TestDb) {
    let db = t.connectors("");
    let hostile = [
        "'; DROP TABLE items; --",
        "x' OR '1'='1",
        "\"; DELETE FROM items; --",
        "Robert'); DROP TABLE items;--",
        "\\'; DROP TABLE items; --",
        "$1 ? ${table} #{name}",
    ];
    for name in hostile {
        insert(&db, name, 1, None).await;
    }
    // Stored verbatim, found verbatim, and the table is still there.
    assert_eq!(names(&db).await, hostile);
    for name in hostile {
        let rows = call(&db, "db", "find", json!({"name": name}))
            .await
            .expect("find");
        assert_eq!(rows.as_array().map(Vec::len), Some(1), "{name}");
        assert_eq!(rows[0]["name"], name);
    }
    let rows = call(&db, "db", "find", json!({"name": "x' OR '1'='1"}))
        .await
        .expect("find");
    assert_eq!(rows.as_array().map(Vec::len), Some(1));
    // A hostile value where a number is expected is bound too: no row matches, nothing breaks.
    let result = call(&db, "db", "find", json!({"min_qty": "100 OR 1=1"})).await;
    if let Ok(rows) = result {
        assert_eq!(rows, json!([]), "a bound string never turns into SQL");
    }
    assert_eq!(
        call(&db, "db", "count", json!({"table": "items"}))
            .await
            .expect("count"),
        json!({"n": 6})
    );

    // ${} outside its allow-list is refused before anything reaches the database.
    for table in ["items; DROP TABLE items", "orders", "ITEMS", "items --"] {
        let err = call(&db, "db", "count", json!({"table": table}))
            .await
            .expect_err("refused");
        assert_eq!(err.code.as_deref(), Some("REFUSED"), "{err:?}");
        assert!(err.message.contains("${table}"), "{err:?}");
        assert!(
            !err.message.contains("SELECT") && !err.message.contains("DROP"),
            "{err:?}"
        );
    }
    let err = call(&db, "db", "count", json!({}))
        .await
        .expect_err("refused");
    assert_eq!(err.code.as_deref(), Some("REFUSED"));
    assert_eq!(
        call(&db, "db", "count", json!({"table": "items"}))
            .await
            .expect("count"),
        json!({"n": 6})
    );
}

async fn transactions(t: &TestDb) {
    let db = t.connectors("").for_run();

    // Commit: visible afterwards.
    db.begin_transaction(TransactionId(1), None)
        .await
        .expect("begin");
    insert(&db, "committed", 1, Some(1)).await;
    insert(&db, "committed-too", 1, Some(1)).await;
    db.commit_transaction(TransactionId(1))
        .await
        .expect("commit");
    assert_eq!(names(&db).await, ["committed", "committed-too"]);

    // Rollback on error: the duplicate fails with CONFLICT and the whole transaction is undone.
    db.begin_transaction(TransactionId(2), None)
        .await
        .expect("begin");
    insert(&db, "doomed", 1, Some(2)).await;
    let err = call_in(
        &db,
        "db",
        "insert",
        json!({"name": "committed", "qty": 1}),
        Some(2),
    )
    .await
    .expect_err("duplicate");
    assert_eq!(err.code.as_deref(), Some("CONFLICT"), "{err:?}");
    db.rollback_transaction(TransactionId(2))
        .await
        .expect("rollback");
    assert_eq!(names(&db).await, ["committed", "committed-too"]);

    // Nested: the inner transaction (a savepoint) rolls back, the outer commits.
    db.begin_transaction(TransactionId(3), None)
        .await
        .expect("begin");
    insert(&db, "outer", 1, Some(3)).await;
    db.begin_transaction(TransactionId(4), Some(TransactionId(3)))
        .await
        .expect("begin nested");
    insert(&db, "inner-undone", 1, Some(4)).await;
    let seen = call_in(&db, "db", "find", json!({"prefix": "inner%"}), Some(4))
        .await
        .expect("find");
    assert_eq!(
        seen.as_array().map(Vec::len),
        Some(1),
        "the nested transaction sees its own row"
    );
    db.rollback_transaction(TransactionId(4))
        .await
        .expect("rollback nested");
    // A second nested transaction, committed, and one opened before the first call.
    db.begin_transaction(TransactionId(5), Some(TransactionId(3)))
        .await
        .expect("begin nested");
    insert(&db, "inner-kept", 1, Some(5)).await;
    db.commit_transaction(TransactionId(5))
        .await
        .expect("commit nested");
    call_in(
        &db,
        "db",
        "set_qty",
        json!({"name": "outer", "qty": 42}),
        Some(3),
    )
    .await
    .expect("update");
    db.commit_transaction(TransactionId(3))
        .await
        .expect("commit");
    assert_eq!(
        names(&db).await,
        ["committed", "committed-too", "outer", "inner-kept"]
    );
    let rows = call(&db, "db", "find", json!({"name": "outer"}))
        .await
        .expect("find");
    assert_eq!(rows[0]["qty"], 42);

    // A transaction whose first database call happens inside a nested one.
    db.begin_transaction(TransactionId(6), None)
        .await
        .expect("begin");
    db.begin_transaction(TransactionId(7), Some(TransactionId(6)))
        .await
        .expect("begin nested");
    insert(&db, "late", 1, Some(7)).await;
    db.rollback_transaction(TransactionId(7))
        .await
        .expect("rollback nested");
    db.rollback_transaction(TransactionId(6))
        .await
        .expect("rollback");
    assert!(!names(&db).await.contains(&"late".to_owned()));

    // Two nested transactions at once (parallel branches) share the connection: the second
    // one's call waits until the first has ended, so the first one's rollback still undoes
    // its work (releasing its savepoint early would have committed it).
    db.begin_transaction(TransactionId(8), None)
        .await
        .expect("begin");
    db.begin_transaction(TransactionId(9), Some(TransactionId(8)))
        .await
        .expect("begin first branch");
    db.begin_transaction(TransactionId(10), Some(TransactionId(8)))
        .await
        .expect("begin second branch");
    insert(&db, "branch-undone", 1, Some(9)).await;
    let second = async {
        insert(&db, "branch-kept", 1, Some(10)).await;
        db.commit_transaction(TransactionId(10))
            .await
            .expect("commit second branch");
    };
    let first = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        db.rollback_transaction(TransactionId(9))
            .await
            .expect("rollback first branch");
    };
    tokio::join!(first, second);
    db.commit_transaction(TransactionId(8))
        .await
        .expect("commit");
    let now = names(&db).await;
    assert!(now.contains(&"branch-kept".to_owned()), "{now:?}");
    assert!(!now.contains(&"branch-undone".to_owned()), "{now:?}");

    // Dropping a run's view with a transaction open rolls it back.
    {
        let run = t.connectors("").for_run();
        run.begin_transaction(TransactionId(1), None)
            .await
            .expect("begin");
        insert(&run, "abandoned", 1, Some(1)).await;
    }
    assert!(!names(&db).await.contains(&"abandoned".to_owned()));
}

/// PostgreSQL aborts a transaction at its first failed statement. When the process catches
/// that error and the transaction goes on to commit, the commit must fail rather than
/// report success for work the database threw away. MySQL and SQLite keep the transaction.
async fn a_caught_error_inside_a_transaction(t: &TestDb) {
    let db = t.connectors("").for_run();
    let aborts = t.driver == "postgres";
    insert(&db, "taken", 1, None).await;
    let duplicate = json!({"name": "taken", "qty": 1});

    // The error is caught (here: ignored) and the transaction commits.
    db.begin_transaction(TransactionId(1), None)
        .await
        .expect("begin");
    insert(&db, "a", 1, Some(1)).await;
    let err = call_in(&db, "db", "insert", duplicate.clone(), Some(1))
        .await
        .expect_err("duplicate");
    assert_eq!(err.code.as_deref(), Some("CONFLICT"), "{err:?}");
    let later = call_in(&db, "db", "insert", json!({"name": "b", "qty": 1}), Some(1)).await;
    let committed = db.commit_transaction(TransactionId(1)).await;
    let names_now = names(&db).await;
    let kept = names_now.contains(&"a".to_owned());
    assert!(
        committed.is_err() || kept,
        "the commit reported success but its work is gone: {names_now:?}"
    );
    if aborts {
        let err = later.expect_err("a call after the error fails fast");
        assert_eq!(err.code.as_deref(), Some("TRANSACTION_FAILED"), "{err:?}");
        assert!(err.message.contains("aborted"), "{err:?}");
        let err = committed.expect_err("the commit of an aborted transaction fails");
        assert_eq!(err.code.as_deref(), Some("TRANSACTION_FAILED"), "{err:?}");
        assert!(
            err.message.contains("ON CONFLICT") && err.message.contains("rolled back"),
            "{err:?}"
        );
        assert_eq!(names_now, ["taken"]);
    } else {
        later.expect("the transaction goes on");
        committed.expect("commit");
        assert_eq!(names_now, ["taken", "a", "b"]);
    }

    // An error inside a nested transaction that is rolled back leaves the outer one usable.
    db.begin_transaction(TransactionId(2), None)
        .await
        .expect("begin");
    insert(&db, "outer", 1, Some(2)).await;
    db.begin_transaction(TransactionId(3), Some(TransactionId(2)))
        .await
        .expect("begin nested");
    insert(&db, "inner-undone", 1, Some(3)).await;
    let err = call_in(&db, "db", "insert", duplicate.clone(), Some(3))
        .await
        .expect_err("duplicate");
    assert_eq!(err.code.as_deref(), Some("CONFLICT"), "{err:?}");
    db.rollback_transaction(TransactionId(3))
        .await
        .expect("rollback nested");
    insert(&db, "outer-after", 1, Some(2)).await;
    db.commit_transaction(TransactionId(2))
        .await
        .expect("commit");
    let names_now = names(&db).await;
    assert!(
        names_now.contains(&"outer".to_owned())
            && names_now.contains(&"outer-after".to_owned())
            && !names_now.contains(&"inner-undone".to_owned()),
        "{names_now:?}"
    );

    // A nested transaction whose error was caught: on PostgreSQL its commit fails and rolls
    // back to its savepoint, which leaves the outer transaction usable.
    db.begin_transaction(TransactionId(4), None)
        .await
        .expect("begin");
    db.begin_transaction(TransactionId(5), Some(TransactionId(4)))
        .await
        .expect("begin nested");
    insert(&db, "nested", 1, Some(5)).await;
    call_in(&db, "db", "insert", duplicate, Some(5))
        .await
        .expect_err("duplicate");
    let nested = db.commit_transaction(TransactionId(5)).await;
    insert(&db, "outer-kept", 1, Some(4)).await;
    db.commit_transaction(TransactionId(4))
        .await
        .expect("commit");
    let names_now = names(&db).await;
    assert!(
        names_now.contains(&"outer-kept".to_owned()),
        "{names_now:?}"
    );
    if aborts {
        let err = nested.expect_err("the nested commit fails");
        assert_eq!(err.code.as_deref(), Some("TRANSACTION_FAILED"), "{err:?}");
        assert!(!names_now.contains(&"nested".to_owned()), "{names_now:?}");
    } else {
        nested.expect("commit nested");
        assert!(names_now.contains(&"nested".to_owned()), "{names_now:?}");
    }
}

/// `generated-key` when the statement inserted nothing: `null`, not an earlier row's key.
async fn generated_key_of_an_ignored_insert(t: &TestDb) {
    let insert_ignore = match t.driver {
        "postgres" => {
            "INSERT INTO items (name, qty) VALUES (#{name}, #{qty}) ON CONFLICT DO NOTHING RETURNING id"
        }
        "mysql" => "INSERT IGNORE INTO items (name, qty) VALUES (#{name}, #{qty})",
        _ => "INSERT OR IGNORE INTO items (name, qty) VALUES (#{name}, #{qty})",
    };
    let extra = format!(
        r#"
- name: insert_ignore
  sql: |
    {insert_ignore}
  returns: generated-key
"#
    );
    let db = t.connectors(&extra);
    let first = insert(&db, "first", 1, None).await["key"]
        .as_i64()
        .expect("key");
    let second = insert(&db, "second", 1, None).await["key"]
        .as_i64()
        .expect("key");
    let ignored = call(
        &db,
        "db",
        "insert_ignore",
        json!({"name": "first", "qty": 2}),
    )
    .await
    .expect("insert ignore");
    assert_eq!(
        ignored,
        json!({"key": null}),
        "first={first} second={second}"
    );
    let inserted = call(
        &db,
        "db",
        "insert_ignore",
        json!({"name": "third", "qty": 3}),
    )
    .await
    .expect("insert ignore");
    let third = inserted["key"].as_i64().expect("key");
    assert!(third > second, "{inserted}");
    let rows = call(&db, "db", "find", json!({"name": "third"}))
        .await
        .expect("find");
    assert_eq!(rows[0]["id"], third);
}

async fn types_round_trip(t: &TestDb) {
    let blob_column = if t.driver == "postgres" {
        "blob"
    } else {
        "blob_data"
    };
    // MySQL binds text; its FROM_BASE64 turns it into bytes.
    let blob_value = if t.driver == "mysql" {
        "FROM_BASE64(#{blob})"
    } else {
        "#{blob}"
    };
    // BIT and YEAR columns exist on MariaDB only.
    let mariadb_only = if t.driver == "mysql" {
        r#"
- name: put_bits
  sql: |
    UPDATE items SET bit1 = #{bit1}, bit8 = #{bit8}, yr = #{yr} WHERE name = #{name}
  returns: affected
- name: get_bits
  sql: |
    SELECT bit1, bit8, yr FROM items WHERE name = #{name}
  returns: one
"#
    } else {
        ""
    };
    let extra = format!(
        r#"{mariadb_only}
- name: put_types
  sql: |
    INSERT INTO items (name, price, data, created, day, flag, ratio, {blob_column})
    VALUES (#{{name}}, #{{price}}, #{{data}}, #{{created}}, #{{day}}, #{{flag}}, #{{ratio}}, {blob_value})
  returns: affected
- name: get_types
  sql: |
    SELECT price, data, created, day, flag, ratio, {blob_column} AS blob_value, qty
    FROM items WHERE name = #{{name}}
  returns: one
"#
    );
    let db = t.connectors(&extra);
    let created = if t.driver == "mysql" {
        "2024-05-01 12:30:00"
    } else {
        "2024-05-01T12:30:00Z"
    };
    let args = json!({
        "name": "typed", "price": "12.50", "data": {"a": [1, 2], "b": "x"}, "created": created,
        "day": "2024-05-01", "flag": true, "ratio": 0.25, "blob": "AAEC/w==",
    });
    assert_eq!(
        call(&db, "db", "put_types", args).await.expect("insert"),
        json!({"affected": 1})
    );
    let row = call(&db, "db", "get_types", json!({"name": "typed"}))
        .await
        .expect("select");
    assert_eq!(row["ratio"], 0.25, "{row}");
    assert_eq!(row["qty"], 0, "{row}");
    assert_eq!(row["flag"], true, "{row}");
    assert_eq!(row["day"], "2024-05-01", "{row}");
    match t.driver {
        "postgres" => {
            assert_eq!(row["price"], "12.50");
            assert_eq!(row["data"], json!({"a": [1, 2], "b": "x"}));
            assert_eq!(row["created"], "2024-05-01T12:30:00Z");
            assert_eq!(row["blob_value"], "AAEC/w==");
        }
        "mysql" => {
            assert_eq!(row["price"], "12.50");
            // MariaDB's JSON is LONGTEXT: the text comes back as stored.
            let data: Value = match &row["data"] {
                Value::String(text) => {
                    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {row}"))
                }
                other => other.clone(),
            };
            assert_eq!(data, json!({"a": [1, 2], "b": "x"}));
            assert!(
                row["created"]
                    .as_str()
                    .is_some_and(|c| c.starts_with("2024-05-01T12:30:00")),
                "{row}"
            );
            assert_eq!(row["blob_value"], "AAEC/w==");
        }
        _ => {
            // SQLite has no JSON type: the text comes back as stored.
            assert_eq!(row["data"], r#"{"a":[1,2],"b":"x"}"#);
            assert_eq!(row["created"], "2024-05-01T12:30:00Z");
            // SQLite stores the bound base64 text as text.
            assert_eq!(row["blob_value"], "AAEC/w==");
        }
    }
    // Nulls come back as null.
    call(&db, "db", "insert", json!({"name": "plain", "qty": 1}))
        .await
        .expect("insert");
    let row = call(&db, "db", "get_types", json!({"name": "plain"}))
        .await
        .expect("select");
    assert_eq!(row["price"], Value::Null);
    assert_eq!(row["data"], Value::Null);
    assert_eq!(
        call(&db, "db", "get_types", json!({"name": "nobody"}))
            .await
            .expect("select"),
        Value::Null
    );
    if t.driver == "mysql" {
        mariadb_bit_and_year(&db).await;
    }
}

/// MariaDB's `BIT(n)` and `YEAR` come back as numbers (and `NULL` as `null`).
async fn mariadb_bit_and_year(db: &LiveConnectors) {
    for (bit1, bit8, yr) in [(1, 165, 2024), (0, 0, 1999), (1, 255, 2155)] {
        let args = json!({"name": "typed", "bit1": bit1, "bit8": bit8, "yr": yr});
        assert_eq!(
            call(db, "db", "put_bits", args).await.expect("update"),
            json!({"affected": 1})
        );
        let row = call(db, "db", "get_bits", json!({"name": "typed"}))
            .await
            .expect("select BIT and YEAR");
        assert_eq!(row, json!({"bit1": bit1, "bit8": bit8, "yr": yr}));
    }
    let row = call(db, "db", "get_bits", json!({"name": "plain"}))
        .await
        .expect("select BIT and YEAR");
    assert_eq!(row, json!({"bit1": null, "bit8": null, "yr": null}));
}

/// A call the engine stops waiting for (its connector's timeout) is stopped on the server
/// too, and the pool's one connection serves the next call at once.
async fn a_timed_out_statement_stops_on_the_server(t: &TestDb) {
    let marker = unique("sw_nap_");
    let (nap, busy) = match t.driver {
        "postgres" => (
            format!("SELECT pg_sleep(20) AS slept /* {marker} */"),
            format!(
                "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%{marker}%' \
                 AND pid <> pg_backend_pid()"
            ),
        ),
        _ => (
            format!("SELECT SLEEP(20) AS slept /* {marker} */"),
            format!(
                "SELECT count(*) FROM information_schema.PROCESSLIST \
                 WHERE INFO LIKE '%{marker}%' AND ID <> CONNECTION_ID()"
            ),
        ),
    };
    let yaml = format!(
        "kind: database\ndriver: {}\nurl_env: DB_URL\npool_size: 1\ntimeout_ms: 1500\n\
         methods:\n- name: nap\n  sql: {nap}\n  returns: one\n\
         - name: one\n  sql: SELECT 1 AS one\n  returns: one\n",
        t.driver
    );
    let db = live(&[("db", &yaml)], &[("DB_URL", &t.url)]);
    let error = call(&db, "db", "nap", json!({}))
        .await
        .expect_err("the nap outlasts the timeout");
    assert!(
        error.message.contains("1500 ms")
            || error.message.contains("interrupt")
            || error.message.contains("cancel"),
        "{error:?}"
    );
    assert_eq!(
        call(&db, "db", "one", json!({}))
            .await
            .expect("the next call"),
        json!({"one": 1})
    );
    let still_running = |count: i64| count > 0;
    let mut count = 1;
    for _ in 0..30 {
        count = match t.driver {
            "postgres" => {
                let mut conn = sqlx::PgConnection::connect(&t.url).await.expect("connect");
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(busy.clone()))
                    .fetch_one(&mut conn)
                    .await
                    .expect("pg_stat_activity")
            }
            _ => {
                let mut conn = sqlx::MySqlConnection::connect(&t.url)
                    .await
                    .expect("connect");
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(busy.clone()))
                    .fetch_one(&mut conn)
                    .await
                    .expect("PROCESSLIST")
            }
        };
        if !still_running(count) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        count, 0,
        "the server still runs the statement the engine gave up on"
    );
}

/// A whole number past `i64` is bound exactly on MariaDB: of two `BIGINT UNSIGNED` ids one
/// apart at the top of the range (the same double), only the one asked for matches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_ids_past_i64_match_exactly_on_mariadb() {
    let t = mariadb().await;
    let mut conn = sqlx::MySqlConnection::connect(&t.url)
        .await
        .expect("connect");
    for statement in [
        "CREATE TABLE big (id BIGINT UNSIGNED PRIMARY KEY, label TEXT)",
        "INSERT INTO big VALUES (18446744073709551615, 'max'), (18446744073709551614, 'below')",
    ] {
        conn.execute(AssertSqlSafe(statement.to_owned()))
            .await
            .expect("table");
    }
    let yaml = "kind: database\ndriver: mysql\nurl_env: DB_URL\nmethods:\n\
                - name: by_id\n  sql: \"SELECT id, label FROM big WHERE id = #{id}\"\n  returns: rows\n";
    let db = live(&[("db", yaml)], &[("DB_URL", &t.url)]);
    for (id, label) in [
        (18446744073709551615u64, "max"),
        (18446744073709551614u64, "below"),
    ] {
        let rows = call(&db, "db", "by_id", json!({ "id": id }))
            .await
            .expect("select");
        assert_eq!(rows, json!([{"id": id, "label": label}]));
    }
    t.drop().await;
}

/// A transaction over two connectors: a failure on one rolls back the other too, rather
/// than committing it after the failed one rolled back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_on_one_database_rolls_back_the_others() {
    let t = postgres().await;
    let yaml = ITEMS.replace(
        "VALUES (#{name}, #{qty})",
        "VALUES (#{name}, #{qty}) RETURNING id",
    );
    let db = live(&[("db", &yaml), ("zz", &yaml)], &[("DB_URL", &t.url)]).for_run();
    insert(&db, "taken", 1, None).await;
    db.begin_transaction(TransactionId(1), None)
        .await
        .expect("begin");
    call_in(
        &db,
        "zz",
        "insert",
        json!({"name": "other", "qty": 1}),
        Some(1),
    )
    .await
    .expect("insert through the second connector");
    let err = call_in(
        &db,
        "db",
        "insert",
        json!({"name": "taken", "qty": 1}),
        Some(1),
    )
    .await
    .expect_err("duplicate");
    assert_eq!(err.code.as_deref(), Some("CONFLICT"), "{err:?}");
    // The flow caught the error and commits.
    let err = db
        .commit_transaction(TransactionId(1))
        .await
        .expect_err("the commit fails");
    assert_eq!(err.code.as_deref(), Some("TRANSACTION_FAILED"), "{err:?}");
    assert_eq!(
        names(&db).await,
        ["taken"],
        "the second connector's row is gone too"
    );
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_statement_stops_on_postgres() {
    let t = postgres().await;
    a_timed_out_statement_stops_on_the_server(&t).await;
    t.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timed_out_statement_stops_on_mariadb() {
    let t = mariadb().await;
    a_timed_out_statement_stops_on_the_server(&t).await;
    t.drop().await;
}

macro_rules! on_every_database {
    ($($test:ident),*) => {
        mod postgres_suite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let t = postgres().await;
                    super::$test(&t).await;
                    t.drop().await;
                }
            )*
        }
        mod mariadb_suite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let t = mariadb().await;
                    super::$test(&t).await;
                    t.drop().await;
                }
            )*
        }
        mod sqlite_suite {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let t = sqlite().await;
                    super::$test(&t).await;
                    t.drop().await;
                }
            )*
        }
    };
}

on_every_database!(
    crud_and_dynamic_sql,
    injection_is_inert,
    transactions,
    a_caught_error_inside_a_transaction,
    generated_key_of_an_ignored_insert,
    types_round_trip
);

#[tokio::test]
async fn broken_sql_is_a_diagnostic_and_the_method_refuses_calls() {
    let yaml = r#"
kind: database
driver: sqlite
url_env: DB_URL
methods:
- name: bad
  sql: "SELECT * FROM t <where><if test=\"a ==\">a = #{a}</if></where>"
- name: splice
  sql: SELECT * FROM ${table}
"#;
    let (db, diagnostics) =
        io_common::live_with_diagnostics(&[("db", yaml)], &[("DB_URL", "sqlite::memory:")]);
    assert_eq!(diagnostics.len(), 2, "{diagnostics:#?}");
    assert_eq!(diagnostics[0].element.as_deref(), Some("db.bad"));
    assert_eq!(
        diagnostics[0].pos.map(|p| (p.line, p.column)),
        Some((1, 38))
    );
    assert_eq!(diagnostics[1].code, "sql.identifier-without-allow-list");
    let err = call(&db, "db", "bad", json!({"a": 1}))
        .await
        .expect_err("refused");
    assert!(err.message.contains("cannot run"), "{err:?}");
    let err = call(&db, "db", "splice", json!({"table": "t"}))
        .await
        .expect_err("refused");
    assert!(err.message.contains("cannot run"), "{err:?}");
}

#[tokio::test]
async fn a_missing_url_and_a_wrong_password_say_so_without_secrets() {
    let yaml = "kind: database\ndriver: postgres\nurl_env: DB_URL\ntimeout_ms: 5000\nmethods:\n- name: q\n  sql: SELECT 1 AS one\n";
    let db = live(&[("db", yaml)], &[]);
    let err = call(&db, "db", "q", json!({})).await.expect_err("no URL");
    assert!(
        err.message.contains("DB_URL") && err.message.contains("not set"),
        "{err:?}"
    );

    // The PostgreSQL test server trusts loopback, so use a role that does not exist and a
    // password that must not appear in the message.
    let url = POSTGRES.url();
    let rest = url.split_once("://").map_or(url.as_str(), |(_, r)| r);
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let bad = format!("postgres://no_such_role_sw:hunter2-secret@{host_and_db}");
    let db = live(&[("db", yaml)], &[("DB_URL", &bad)]);
    let err = call(&db, "db", "q", json!({})).await.expect_err("bad role");
    assert!(!err.message.contains("hunter2-secret"), "{err:?}");
    assert!(err.message.contains("database connector `db`"), "{err:?}");
}

#[tokio::test]
async fn render_sql_shows_placeholders_and_binds_per_driver() {
    let pg = live(&[("db", ITEMS)], &[("DB_URL", "postgres://unused")]);
    let rendered = pg
        .render_sql("db", "find", &json!({"name": "a", "min_qty": 2}))
        .expect("render");
    assert_eq!(
        rendered
            .sql
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" "),
        "SELECT id, name, qty FROM items WHERE name = $1 AND qty >= $2 ORDER BY id"
    );
    assert_eq!(rendered.binds, vec![json!("a"), json!(2)]);
    let sqlite_items = ITEMS.replace("driver: postgres", "driver: sqlite");
    let lite = live(&[("db", &sqlite_items)], &[("DB_URL", "sqlite::memory:")]);
    let rendered = lite
        .render_sql("db", "by_ids", &json!({"ids": [1, 2]}))
        .expect("render");
    let sql = rendered
        .sql
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    assert!(sql.contains("IN (?, ?)"), "{sql}");
}
