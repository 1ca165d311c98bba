//! Connection tests (`LiveConnectors::check`, the IDE's "Test connection") against the real
//! servers: each kind reports what it reached when the settings are right, and the reason,
//! without secrets, when they are not.

mod io_common;

use axum::Router;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::get;
use io_common::{MARIADB, NATS, POSTGRES, RABBITMQ, REDIS, live, live_with_diagnostics, unique};
use starweave_engine::io::ConnectionCheck;

/// A port on loopback where nothing listens (bound, then closed).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    listener.local_addr().expect("address").port()
}

async fn check(connector_yaml: &str, env: &[(&str, &str)]) -> Result<ConnectionCheck, String> {
    let (connectors, _) = live_with_diagnostics(&[("c", connector_yaml)], env);
    connectors.check("c").await.map_err(|e| e.message)
}

const PG: &str = "kind: database\ndriver: postgres\nurl_env: DB_URL\n";
const MYSQL: &str = "kind: database\ndriver: mysql\nurl_env: DB_URL\n";
const SQLITE: &str = "kind: database\ndriver: sqlite\nurl_env: DB_URL\n";

#[tokio::test]
async fn databases_report_their_server_version_or_why_they_cannot_connect() {
    let pg = POSTGRES.url();
    let ok = check(PG, &[("DB_URL", &pg)]).await.expect("PostgreSQL");
    assert!(
        ok.summary.starts_with("connected to PostgreSQL 1"),
        "{ok:?}"
    );

    // A database that does not exist: the server's own words, and no retry until a timeout.
    let missing = pg.replace("/test", "/sw_no_such_database");
    let err = check(PG, &[("DB_URL", &missing)]).await.expect_err("no db");
    assert!(
        err.contains("sw_no_such_database") && err.contains("does not exist"),
        "{err}"
    );

    let mysql = MARIADB.url();
    let ok = check(MYSQL, &[("DB_URL", &mysql)]).await.expect("MariaDB");
    assert!(ok.summary.starts_with("connected to MariaDB 1"), "{ok:?}");
    // A wrong password: refused, and the password is not in the message.
    let wrong = mysql.replace("root@", "root:Wr0ngPassw0rd@");
    let err = check(MYSQL, &[("DB_URL", &wrong)])
        .await
        .expect_err("refused");
    assert!(err.contains("Access denied"), "{err}");
    assert!(!err.contains("Wr0ngPassw0rd"), "{err}");

    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("app.db");
    let created = format!("sqlite://{}?mode=rwc", file.display());
    let ok = check(SQLITE, &[("DB_URL", &created)])
        .await
        .expect("SQLite");
    assert!(ok.summary.starts_with("connected to SQLite 3."), "{ok:?}");
    let absent = format!("sqlite://{}", dir.path().join("absent.db").display());
    let err = check(SQLITE, &[("DB_URL", &absent)])
        .await
        .expect_err("no file");
    assert!(err.contains("cannot connect"), "{err}");

    let err = check(PG, &[]).await.expect_err("no env");
    assert!(err.contains("env var DB_URL (its URL) is not set"), "{err}");
}

#[tokio::test]
async fn redis_answers_ping_and_a_closed_port_is_reported() {
    let yaml = "kind: cache\nurl_env: REDIS_URL\n";
    let ok = check(yaml, &[("REDIS_URL", &REDIS.url())])
        .await
        .expect("Redis");
    assert!(
        ok.summary.starts_with("Redis ") && ok.summary.ends_with(" answered PING"),
        "{ok:?}"
    );
    let down = format!("redis://127.0.0.1:{}/", closed_port());
    let err = check(yaml, &[("REDIS_URL", &down)])
        .await
        .expect_err("down");
    assert!(err.contains("cannot connect"), "{err}");

    // A Redis Streams publisher tests the same way.
    let streams = "kind: mq\nbroker: redis-streams\nurl_env: REDIS_URL\n";
    let ok = check(streams, &[("REDIS_URL", &REDIS.url())])
        .await
        .expect("Redis Streams");
    assert!(ok.summary.ends_with("answered PING"), "{ok:?}");
}

#[tokio::test]
async fn nats_reports_jetstream_and_the_connector_stream() {
    let url = NATS.url();
    let plain = "kind: mq\nbroker: nats\nurl_env: NATS_URL\n";
    let ok = check(plain, &[("NATS_URL", &url)]).await.expect("NATS");
    assert!(ok.summary.contains("with JetStream"), "{ok:?}");

    let stream = unique("SWCHECK");
    let missing = format!("kind: mq\nbroker: nats\nurl_env: NATS_URL\nstream: {stream}\n");
    let err = check(&missing, &[("NATS_URL", &url)])
        .await
        .expect_err("no stream");
    assert!(
        err.contains(&format!("stream {stream} is not usable")),
        "{err}"
    );

    let client = async_nats::connect(&url).await.expect("connect to NATS");
    let jetstream = async_nats::jetstream::new(client);
    let subject = format!("{}.>", stream.to_lowercase());
    jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream.clone(),
            subjects: vec![subject.clone()],
            ..Default::default()
        })
        .await
        .expect("create stream");
    let found = check(&missing, &[("NATS_URL", &url)]).await;
    jetstream
        .delete_stream(&stream)
        .await
        .expect("delete stream");
    let ok = found.expect("stream found");
    assert_eq!(
        ok.notes,
        vec![format!("stream {stream}: 0 messages, subjects {subject}")]
    );

    let down = format!("nats://127.0.0.1:{}", closed_port());
    let err = check(plain, &[("NATS_URL", &down)])
        .await
        .expect_err("down");
    assert!(err.contains("NATS"), "{err}");
}

#[tokio::test]
async fn amqp_opens_a_channel_and_bad_credentials_are_refused_without_the_password() {
    let url = RABBITMQ.url();
    let yaml = "kind: mq\nbroker: amqp\nurl_env: AMQP_URL\n";
    let ok = check(yaml, &[("AMQP_URL", &url)]).await.expect("RabbitMQ");
    assert!(ok.summary.contains("publisher confirms"), "{ok:?}");
    let wrong = url.replace("guest:guest@", "guest:N0tTheSecret@");
    let err = check(yaml, &[("AMQP_URL", &wrong)])
        .await
        .expect_err("refused");
    assert!(err.contains("cannot connect to the AMQP broker"), "{err}");
    assert!(!err.contains("N0tTheSecret"), "{err}");
}

/// An API whose root answers 404 to everything but asks for `Bearer letmein` under
/// `/private`.
async fn serve_api() -> String {
    let app = Router::new()
        .route(
            "/private",
            get(|headers: HeaderMap| async move {
                match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some("Bearer letmein") => StatusCode::OK,
                    _ => StatusCode::UNAUTHORIZED,
                }
            }),
        )
        .route("/broken", get(|| async { StatusCode::BAD_GATEWAY }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

#[tokio::test]
async fn http_reaches_the_base_url_and_notes_refused_credentials() {
    let api = serve_api().await;
    let bearer =
        "kind: http\nbase_url: \"{{ env.API }}\"\nauth: { type: bearer, token_env: TOKEN }\n";

    let ok = check(
        bearer,
        &[("API", &format!("{api}/private")), ("TOKEN", "letmein")],
    )
    .await
    .expect("reached");
    // Only the origin is shown: a base URL's path may hold a secret.
    assert_eq!(ok.summary, format!("HEAD {api}/… answered HTTP 200 OK"));
    assert!(ok.notes.is_empty(), "{ok:?}");

    // A wrong token still reaches the server: a note, not a failure.
    let ok = check(
        bearer,
        &[("API", &format!("{api}/private")), ("TOKEN", "wrong-token")],
    )
    .await
    .expect("reached");
    assert!(ok.summary.ends_with("HTTP 401 Unauthorized"), "{ok:?}");
    assert_eq!(
        ok.notes,
        ["the base URL refused the credentials; a method's own path may still accept them"]
    );
    let plain = "kind: http\nbase_url: \"{{ env.API }}\"\n";
    let ok = check(plain, &[("API", &format!("{api}/broken"))])
        .await
        .expect("reached");
    assert!(ok.summary.ends_with("HTTP 502 Bad Gateway"), "{ok:?}");
    assert_eq!(ok.notes.len(), 1, "{ok:?}");

    let err = check(bearer, &[("API", &api)]).await.expect_err("no token");
    assert!(err.contains("env var TOKEN is not set"), "{err}");
    let err = check(plain, &[]).await.expect_err("no base URL");
    assert!(err.contains("renders empty"), "{err}");

    // Nothing listens: the reason (connection refused), with the URL's secret redacted.
    let down = format!("http://user:S3cretPart@127.0.0.1:{}/v1", closed_port());
    let err = check(plain, &[("API", &down)]).await.expect_err("refused");
    assert!(err.to_lowercase().contains("connection refused"), "{err}");
    assert!(!err.contains("S3cretPart"), "{err}");
}

#[tokio::test]
async fn config_connectors_list_the_values_without_a_value() {
    let yaml = "kind: config\nvalues:\n- { name: region, env: REGION }\n- { name: limit, env: LIMIT, default: 10 }\n- { name: owner, env: OWNER }\n";
    let ok = check(yaml, &[("REGION", "eu"), ("OWNER", "ops")])
        .await
        .expect("all set");
    assert_eq!(ok.summary, "all 3 values are set");
    let err = check(yaml, &[]).await.expect_err("two unset");
    assert_eq!(
        err,
        "config connector `c`: 1 of 3 values set; no value and no default for region (env var REGION), owner (env var OWNER)"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_is_cut_at_the_connector_timeout() {
    // Accepts connections and never speaks: the check ends at the connector's timeout.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("address").port();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let yaml = "kind: database\ndriver: postgres\nurl_env: DB_URL\ntimeout_ms: 300\n";
    let url = format!("postgres://postgres@127.0.0.1:{port}/test");
    let connectors = live(&[("c", yaml)], &[("DB_URL", &url)]);
    let err = connectors.check("c").await.expect_err("silent server");
    held.abort();
    assert_eq!(err.code.as_deref(), Some("TIMEOUT"), "{err:?}");
    assert!(err.message.contains("no answer within 300 ms"), "{err:?}");
}

#[tokio::test]
async fn an_unknown_connector_is_named() {
    let connectors = live(&[("c", "kind: config\nvalues: []\n")], &[]);
    let err = connectors.check("nope").await.expect_err("unknown");
    assert_eq!(err.message, "there is no connector `nope`");
}
