//! Connectors over TLS, through TLS fronts on loopback with certificates from a CA made by
//! the test, which forward the decrypted stream to the real servers:
//!
//! - the database connector and PostgreSQL (`STARWEAVE_TEST_PG`): the front speaks
//!   PostgreSQL's TLS negotiation (`SSLRequest`, then the handshake); the engine must check
//!   the server's certificate against the CA the URL names (`sslmode=verify-full&sslrootcert=…`)
//!   and the host name, and refuse a server it cannot verify;
//! - the cache connector and Redis (`STARWEAVE_TEST_REDIS`) over `rediss://`: the engine checks
//!   the certificate against the system's roots, so the test's CA is refused, and
//!   `#insecure` (the Redis client's opt-out) connects, as does `cacertfile=` naming the CA;
//!   behind a front that requires a client certificate, refused until the URL adds
//!   `certfile=` and `keyfile=`;
//! - the AMQP publish connector and RabbitMQ (`STARWEAVE_TEST_AMQP`) over `amqps://`: the
//!   test's CA is refused until the URL names it with `cacertfile=`; behind a front that
//!   requires a client certificate, refused until the URL adds `certfile=` and `keyfile=`;
//! - the NATS publish connector and a private `nats-server` (Debian package `nats-server`,
//!   on a free port with its own JetStream store) that requires TLS, a client certificate
//!   and a password: refused with the system's roots, without a client certificate or with a
//!   wrong password; published with `cacertfile=`, `certfile=` and `keyfile=`;
//! - NATS authentication by an NKey seed file (`nkeyfile=`) and by a credentials file in
//!   operator mode (`credsfile=`, the JWTs signed by the test), against private servers;
//! - the database connector and a private MariaDB (`mariadbd` of the Debian package
//!   `mariadb-server`, its own data directory and port) that requires secure transport:
//!   `ssl-mode=VERIFY_IDENTITY&ssl-ca=…` connects over TLS; the system's roots, a host name
//!   the certificate does not name (`VERIFY_CA` accepts it) and a plain connection are
//!   refused; a user created `REQUIRE X509` gets in only with `ssl-cert=…&ssl-key=…`;
//! - the database connector and a private PostgreSQL (`initdb` and `postgres` of the Debian
//!   package, run as the system user `postgres` when the test is root) that takes TCP
//!   connections only with a client certificate (`hostssl … cert`): refused without one and
//!   with another user's, queried with `sslcert=…&sslkey=…`;
//! - the HTTP connector and a local API behind a TLS front that requires a client
//!   certificate: refused with the system's roots and without a client certificate; called
//!   with `tls.ca_env`, `client_cert_env` and `client_key_env` in each form an env var may
//!   take (PEM text, a file path, one-line PEM); bad settings fail the load, naming the env
//!   var and never its value.

mod io_common;
mod tls_common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use io_common::{POSTGRES, RABBITMQ, REDIS, call, host_port, live_with_diagnostics, unique};
use rustls::pki_types::PrivateKeyDer;
use serde_json::json;
use starweave_engine::connectors::ConnectorError;
use tls_common::{TestPki, pki, pki_for};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A TLS front for PostgreSQL on 127.0.0.1: answers `SSLRequest` with `S`, completes the
/// handshake with `pki`'s certificate and forwards the plain stream to `upstream`.
struct TlsFront {
    port: u16,
    /// Handshakes completed.
    handshakes: Arc<AtomicU64>,
    /// Connections that asked for TLS.
    requests: Arc<AtomicU64>,
}

/// The `SSLRequest` message: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

async fn pg_tls_front(pki: &TestPki, upstream: String) -> TlsFront {
    front(pki, upstream, true).await
}

/// A plain TLS front on 127.0.0.1 (the handshake first, as `rediss://` and `amqps://`
/// expect) forwarding to `upstream`.
async fn tls_front(pki: &TestPki, upstream: String) -> TlsFront {
    front(pki, upstream, false).await
}

/// The front: with `postgres`, a connection must first ask for TLS with `SSLRequest` and is
/// answered `S`; then the handshake, then the plain stream to `upstream`.
async fn front(pki: &TestPki, upstream: String, postgres: bool) -> TlsFront {
    front_with(server_config(pki), upstream, postgres).await
}

/// [`front`] with its own server configuration.
async fn front_with(
    config: Arc<rustls::ServerConfig>,
    upstream: String,
    postgres: bool,
) -> TlsFront {
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind front");
    let port = listener.local_addr().expect("addr").port();
    let handshakes = Arc::new(AtomicU64::new(0));
    let requests = Arc::new(AtomicU64::new(0));
    let (done, asked) = (handshakes.clone(), requests.clone());
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let (acceptor, upstream, done, asked) = (
                acceptor.clone(),
                upstream.clone(),
                done.clone(),
                asked.clone(),
            );
            tokio::spawn(async move {
                if postgres {
                    let mut first = [0u8; 8];
                    if client.read_exact(&mut first).await.is_err() || first != SSL_REQUEST {
                        return;
                    }
                }
                asked.fetch_add(1, Ordering::SeqCst);
                if postgres && client.write_all(b"S").await.is_err() {
                    return;
                }
                let Ok(mut tls) = acceptor.accept(client).await else {
                    return;
                };
                done.fetch_add(1, Ordering::SeqCst);
                let Ok(mut server) = TcpStream::connect(&upstream).await else {
                    return;
                };
                let _ = tokio::io::copy_bidirectional(&mut tls, &mut server).await;
            });
        }
    });
    TlsFront {
        port,
        handshakes,
        requests,
    }
}

fn server_config(pki: &TestPki) -> Arc<rustls::ServerConfig> {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_no_client_auth()
    .with_single_cert(
        pki.server_chain.clone(),
        PrivateKeyDer::Pkcs8(pki.server_key.clone_key()),
    )
    .expect("server config");
    Arc::new(config)
}

/// [`server_config`] that also requires a client certificate signed by `pki`'s CA.
fn server_config_requiring_clients(pki: &TestPki) -> Arc<rustls::ServerConfig> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&pki.ca_file).expect("the test CA"))
        .expect("root");
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .expect("client verifier");
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("protocol versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(
            pki.server_chain.clone(),
            PrivateKeyDer::Pkcs8(pki.server_key.clone_key()),
        )
        .expect("server config");
    Arc::new(config)
}

/// An HTTP server on 127.0.0.1 answering `GET /hello` with `{"hello": "over tls"}`.
async fn hello_server() -> String {
    let app = axum::Router::new().route(
        "/hello",
        axum::routing::get(|| async { axum::Json(json!({"hello": "over tls"})) }),
    );
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr.to_string()
}

const HTTP_CONNECTOR: &str = "kind: http\nbase_url: \"{{ env.API_URL }}\"\ntimeout_ms: 5000\ntls:\n  ca_env: API_CA\n  client_cert_env: API_CERT\n  client_key_env: API_KEY\nmethods:\n- name: hello\n  method: GET\n  path: /hello\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_calls_an_api_behind_a_private_ca_with_a_client_certificate() {
    let pki = pki("http");
    let front = front_with(
        server_config_requiring_clients(&pki),
        hello_server().await,
        false,
    )
    .await;
    let url = format!("https://localhost:{}", front.port);
    let (client_cert, client_key) = pki.client_files("starweave-engine");
    let ca_text = std::fs::read_to_string(&pki.ca_file).expect("ca.pem");
    let key_text = std::fs::read_to_string(&client_key).expect("client key");
    let ca_file = pki.ca_file.display().to_string();
    let cert_file = client_cert.display().to_string();
    let key_file = client_key.display().to_string();
    let plain = "kind: http\nbase_url: \"{{ env.API_URL }}\"\ntimeout_ms: 5000\nmethods:\n- name: hello\n  method: GET\n  path: /hello\n";

    // Without `tls`, the system's roots: the test's CA is refused.
    let (live, diagnostics) = live_with_diagnostics(&[("api", plain)], &[("API_URL", &url)]);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let refused = call(&live, "api", "hello", json!({}))
        .await
        .expect_err("a server the system's roots do not vouch for was accepted");
    assert!(
        refused.message.contains("UnknownIssuer") || refused.message.contains("certificate"),
        "{refused:?}"
    );

    // The CA is trusted, but no client certificate is presented: the server refuses.
    let ca_only = "kind: http\nbase_url: \"{{ env.API_URL }}\"\ntimeout_ms: 5000\ntls:\n  ca_env: API_CA\nmethods:\n- name: hello\n  method: GET\n  path: /hello\n";
    let (live, diagnostics) = live_with_diagnostics(
        &[("api", ca_only)],
        &[("API_URL", &url), ("API_CA", &ca_text)],
    );
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let refused = call(&live, "api", "hello", json!({}))
        .await
        .expect_err("the server requires a client certificate");
    // With TLS 1.3 the client finishes its side of the handshake before the server refuses
    // it, so the error is the server's alert (CertificateRequired) or, when the request was
    // already on its way, a connection closed under it: the front's count says which side
    // refused.
    println!("HTTP without a client certificate: {}", refused.message);
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 0);

    // Every form an env var may take: PEM text, a file path, PEM on one line with `\n`.
    let one_line_key = key_text.trim_end().replace('\n', "\\n");
    let forms: [(&str, &str, &str); 3] = [
        (&ca_text, &cert_file, &key_text),
        (&ca_file, &cert_file, &key_file),
        (&ca_text, &cert_file, &one_line_key),
    ];
    for (i, (ca, cert, key)) in forms.into_iter().enumerate() {
        let env = [
            ("API_URL", url.as_str()),
            ("API_CA", ca),
            ("API_CERT", cert),
            ("API_KEY", key),
        ];
        let (live, diagnostics) = live_with_diagnostics(&[("api", HTTP_CONNECTOR)], &env);
        assert!(diagnostics.is_empty(), "form {i}: {diagnostics:#?}");
        let answer = call(&live, "api", "hello", json!({}))
            .await
            .unwrap_or_else(|e| panic!("form {i}: {e:?}"));
        assert_eq!(answer, json!({"hello": "over tls"}), "form {i}");
    }
    assert!(front.handshakes.load(Ordering::SeqCst) >= 3);
}

#[test]
fn bad_http_tls_settings_fail_the_load_without_showing_the_values() {
    let pki = pki("http-bad");
    let (client_cert, _) = pki.client_files("starweave-engine");
    let ca_text = std::fs::read_to_string(&pki.ca_file).expect("ca.pem");
    let cert_text = std::fs::read_to_string(&client_cert).expect("client cert");
    let secret = "s3cr3t-not-a-key";
    let dir = tempfile::tempdir().expect("tempdir");
    let dir_path = dir.path().display().to_string();
    let cases: [(&[(&str, &str)], &str); 6] = [
        (
            &[("API_CA", &ca_text), ("API_CERT", &cert_text)],
            "env var API_KEY is not set",
        ),
        (
            &[
                ("API_CA", secret),
                ("API_CERT", &cert_text),
                ("API_KEY", secret),
            ],
            "env var API_CA holds neither PEM text",
        ),
        (
            &[
                ("API_CA", &cert_text),
                ("API_CERT", &cert_text),
                ("API_KEY", secret),
            ],
            "env var API_KEY holds neither PEM text",
        ),
        (
            &[
                ("API_CA", &ca_text),
                ("API_CERT", &cert_text),
                ("API_KEY", &cert_text),
            ],
            "env vars API_CERT and API_KEY are not a PEM certificate and private key",
        ),
        (
            &[
                ("API_CA", "-----BEGIN NOTHING-----"),
                ("API_CERT", &cert_text),
                ("API_KEY", &cert_text),
            ],
            "tls.ca_env: env var API_CA",
        ),
        (
            &[
                ("API_CA", &dir_path),
                ("API_CERT", &cert_text),
                ("API_KEY", &cert_text),
            ],
            "names something other than a PEM file",
        ),
    ];
    for (env, expected) in cases {
        let mut env = env.to_vec();
        env.push(("API_URL", "https://localhost:1"));
        let (_, diagnostics) = live_with_diagnostics(&[("api", HTTP_CONNECTOR)], &env);
        assert_eq!(diagnostics.len(), 1, "{expected}: {diagnostics:#?}");
        let d = &diagnostics[0];
        assert_eq!(d.code, "connector.tls");
        assert_eq!(d.element.as_deref(), Some("api.tls"));
        assert!(d.message.contains(expected), "{expected}: {}", d.message);
        assert!(!d.message.contains(secret), "a value leaked: {}", d.message);
        assert!(
            !d.message.contains("BEGIN CERT"),
            "a value leaked: {}",
            d.message
        );
    }
}

/// `host:port` of the test PostgreSQL and the rest of its URL after the authority.
fn pg_parts() -> (String, String, String) {
    let url = POSTGRES.url();
    let (scheme, rest) = url.split_once("://").expect("scheme");
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, host_port) = authority
        .rsplit_once('@')
        .map_or(("", authority), |(u, hp)| (u, hp));
    let path = path.split('?').next().unwrap_or_default().to_owned();
    (
        format!(
            "{scheme}://{user}{}",
            if user.is_empty() { "" } else { "@" }
        ),
        host_port.to_owned(),
        path,
    )
}

const CONNECTOR: &str = "kind: database\ndriver: postgres\nurl_env: DB_URL\ntimeout_ms: 5000\nmethods:\n- name: q\n  sql: SELECT 41 + 1 AS answer\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_over_tls_verifies_the_server_against_the_named_ca() {
    let (prefix, upstream, database) = pg_parts();
    let pki = pki("trusted");
    let front = pg_tls_front(&pki, upstream).await;
    let url = format!(
        "{prefix}localhost:{}/{database}?sslmode=verify-full&sslrootcert={}",
        front.port,
        pki.ca_file.display()
    );
    let (live, diagnostics) = live_with_diagnostics(&[("db", CONNECTOR)], &[("DB_URL", &url)]);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let rows = call(&live, "db", "q", json!({}))
        .await
        .expect("query over TLS");
    assert_eq!(rows, json!([{ "answer": 42 }]));
    assert!(
        front.handshakes.load(Ordering::SeqCst) >= 1,
        "the connection did not go through TLS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_the_ca_did_not_sign_is_refused() {
    let (prefix, upstream, database) = pg_parts();
    let server = pki("server");
    let other = pki("other");
    let front = pg_tls_front(&server, upstream).await;
    // The URL trusts another CA: the handshake must fail, and the query with it.
    let url = format!(
        "{prefix}localhost:{}/{database}?sslmode=verify-full&sslrootcert={}",
        front.port,
        other.ca_file.display()
    );
    let (live, _) = live_with_diagnostics(&[("db", CONNECTOR)], &[("DB_URL", &url)]);
    let error = call(&live, "db", "q", json!({}))
        .await
        .expect_err("an unverifiable server must be refused");
    assert!(
        front.requests.load(Ordering::SeqCst) >= 1,
        "the engine did not ask for TLS"
    );
    assert_eq!(
        front.handshakes.load(Ordering::SeqCst),
        0,
        "a handshake with an untrusted server completed"
    );
    let message = error.message.to_lowercase();
    assert!(
        message.contains("certificate") || message.contains("tls"),
        "the error should say the certificate is the problem: {}",
        error.message
    );
    assert!(
        !error.message.contains(&url),
        "the error must not repeat the URL: {}",
        error.message
    );
    // Without `sslrootcert`, the system's roots, which do not know the test's CA either.
    let url = format!(
        "{prefix}localhost:{}/{database}?sslmode=verify-full",
        front.port
    );
    let (live, _) = live_with_diagnostics(&[("db", CONNECTOR)], &[("DB_URL", &url)]);
    let error = call(&live, "db", "q", json!({}))
        .await
        .expect_err("a server the system's roots do not know must be refused");
    assert!(
        error.message.to_lowercase().contains("certificate"),
        "{}",
        error.message
    );
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certificate_for_another_host_name_is_refused() {
    let (prefix, upstream, database) = pg_parts();
    // Signed by the trusted CA, but for another host than the one the URL names.
    let pki = pki_for("names", &["db.internal.example"]);
    let front = pg_tls_front(&pki, upstream).await;
    let url = format!(
        "{prefix}localhost:{}/{database}?sslmode=verify-full&sslrootcert={}",
        front.port,
        pki.ca_file.display()
    );
    let (live, _) = live_with_diagnostics(&[("db", CONNECTOR)], &[("DB_URL", &url)]);
    let error = call(&live, "db", "q", json!({}))
        .await
        .expect_err("a certificate for another host must be refused");
    assert!(front.requests.load(Ordering::SeqCst) >= 1);
    assert_eq!(
        front.handshakes.load(Ordering::SeqCst),
        0,
        "a handshake with a certificate for another name completed: {}",
        error.message
    );
}

fn redis_host_port() -> String {
    host_port(&REDIS.url()).expect("host:port in the Redis URL")
}

fn cache_connector(prefix: &str) -> String {
    format!(
        "kind: cache\nurl_env: REDIS_URL\nkey_prefix: \"{prefix}:\"\nmethods:\n- {{ name: put, op: set, key: k, value: input.v, ttl_seconds: 60 }}\n- {{ name: get, op: get, key: k }}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_checks_the_certificate_against_the_system_roots_or_the_named_ca() {
    let pki = pki("redis");
    let front = tls_front(&pki, redis_host_port()).await;
    let prefix = unique("sw-tls-");
    let connector = cache_connector(&prefix);

    // The test's CA is not among the system's roots: refused, before any command.
    let url = format!("rediss://localhost:{}/", front.port);
    let (live, diagnostics) =
        live_with_diagnostics(&[("cache", &connector)], &[("REDIS_URL", &url)]);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let refused = call(&live, "cache", "put", json!({"v": "over tls"})).await;
    assert!(
        refused.is_err(),
        "an unverifiable Redis server was accepted"
    );
    assert!(
        front.requests.load(Ordering::SeqCst) >= 1,
        "the engine never connected"
    );
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 0);

    // `#insecure` is the explicit opt-out: the same server, over TLS.
    let url = format!("rediss://localhost:{}/#insecure", front.port);
    let (live, _) = live_with_diagnostics(&[("cache", &connector)], &[("REDIS_URL", &url)]);
    call(&live, "cache", "put", json!({"v": "over tls"}))
        .await
        .expect("set over TLS");
    let value = call(&live, "cache", "get", json!({}))
        .await
        .expect("get over TLS");
    assert_eq!(value, json!("over tls"));
    assert!(front.handshakes.load(Ordering::SeqCst) >= 1);

    // The URL names the test's CA: verified, no opt-out needed.
    let ca = pki.ca_file.display();
    let url = format!("rediss://localhost:{}/?cacertfile={ca}", front.port);
    let (live, _) = live_with_diagnostics(&[("cache", &connector)], &[("REDIS_URL", &url)]);
    let value = call(&live, "cache", "get", json!({}))
        .await
        .expect("get over TLS, verified against the named CA");
    assert_eq!(value, json!("over tls"));

    // A server that requires a client certificate: refused without, served with one.
    let mutual = front_with(
        server_config_requiring_clients(&pki),
        redis_host_port(),
        false,
    )
    .await;
    let url = format!("rediss://localhost:{}/?cacertfile={ca}", mutual.port);
    let (live, _) = live_with_diagnostics(&[("cache", &connector)], &[("REDIS_URL", &url)]);
    let refused = call(&live, "cache", "get", json!({}))
        .await
        .expect_err("the server requires a client certificate");
    println!("Redis without a client certificate: {}", refused.message);
    let (cert, key) = pki.client_files("engine");
    let with_certificate = format!(
        "{url}&certfile={}&keyfile={}",
        cert.display(),
        key.display()
    );
    let (live, _) = live_with_diagnostics(
        &[("cache", &connector)],
        &[("REDIS_URL", &with_certificate)],
    );
    let value = call(&live, "cache", "get", json!({}))
        .await
        .expect("get with a client certificate");
    assert_eq!(value, json!("over tls"));
    assert!(mutual.handshakes.load(Ordering::SeqCst) >= 1);

    // TLS files on a plain URL, and a key without its certificate: said, not ignored.
    for (url, expected) in [
        (
            format!("redis://localhost:{}/?cacertfile={ca}", front.port),
            "rediss://",
        ),
        (format!("{url}&keyfile={}", key.display()), "go together"),
    ] {
        let (live, _) = live_with_diagnostics(&[("cache", &connector)], &[("REDIS_URL", &url)]);
        let refused = call(&live, "cache", "get", json!({}))
            .await
            .expect_err("bad TLS parameters");
        assert!(refused.message.contains(expected), "{refused:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn amqps_trusts_the_system_roots_and_the_cacertfile_of_the_url() {
    use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
    use lapin::types::FieldTable;

    let plain = RABBITMQ.url();
    let authority = host_port(&plain).expect("host:port in the AMQP URL");
    let pki = pki("amqp");
    let front = tls_front(&pki, authority.clone()).await;
    let queue = unique("sw-tls-");
    let broker = lapin::Connection::connect(&plain, lapin::ConnectionProperties::default())
        .await
        .expect("the test connects to RabbitMQ");
    let channel = broker.create_channel().await.expect("channel");
    channel
        .queue_declare(
            queue.as_str().into(),
            QueueDeclareOptions {
                auto_delete: true,
                ..QueueDeclareOptions::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue_declare");
    let connector = format!(
        "kind: mq\nbroker: amqp\nurl_env: AMQP_URL\nmethods:\n- name: send\n  routing_key: {queue}\n"
    );
    let over_tls = plain.replacen("amqp://", "amqps://", 1).replacen(
        &authority,
        &format!("localhost:{}", front.port),
        1,
    );

    // Only the system's roots: the test's CA is refused.
    let (live, diagnostics) =
        live_with_diagnostics(&[("events", &connector)], &[("AMQP_URL", &over_tls)]);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let refused = call(&live, "events", "send", json!({"n": 1})).await;
    assert!(refused.is_err(), "an unverifiable broker was accepted");
    assert!(
        front.requests.load(Ordering::SeqCst) >= 1,
        "the engine never connected"
    );
    assert_eq!(front.handshakes.load(Ordering::SeqCst), 0);

    // Publishes `{"n": n}` through `url` and finds it in the queue.
    let publish = async |url: &str, n: u64| {
        let (live, _) = live_with_diagnostics(&[("events", &connector)], &[("AMQP_URL", url)]);
        let sent = call(&live, "events", "send", json!({ "n": n }))
            .await
            .unwrap_or_else(|e| panic!("publish {n}: {e:?}"));
        assert_eq!(sent, json!({"published": true}));
        let message = channel
            .basic_get(queue.as_str().into(), BasicGetOptions { no_ack: true })
            .await
            .expect("basic_get")
            .unwrap_or_else(|| panic!("message {n} is not in the queue"));
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&message.delivery.data).expect("json"),
            json!({ "n": n })
        );
    };

    // The URL names the CA: published over TLS.
    let separator = if over_tls.contains('?') { '&' } else { '?' };
    let trusted = format!("{over_tls}{separator}cacertfile={}", pki.ca_file.display());
    publish(&trusted, 2).await;
    assert!(front.handshakes.load(Ordering::SeqCst) >= 1);

    // A broker that requires a client certificate: refused without one, published with
    // `certfile=` and `keyfile=`.
    let mutual = front_with(
        server_config_requiring_clients(&pki),
        authority.clone(),
        false,
    )
    .await;
    let over_mutual_tls = format!(
        "{}{separator}cacertfile={}",
        over_tls.replacen(&front.port.to_string(), &mutual.port.to_string(), 1),
        pki.ca_file.display()
    );
    let (live, _) =
        live_with_diagnostics(&[("events", &connector)], &[("AMQP_URL", &over_mutual_tls)]);
    let refused = call(&live, "events", "send", json!({"n": 3}))
        .await
        .expect_err("the broker requires a client certificate");
    println!("AMQP without a client certificate: {}", refused.message);
    let (cert, key) = pki.client_files("engine");
    let with_certificate = format!(
        "{over_mutual_tls}&certfile={}&keyfile={}",
        cert.display(),
        key.display()
    );
    publish(&with_certificate, 4).await;
    assert!(mutual.handshakes.load(Ordering::SeqCst) >= 1);
    // A certificate without its key is refused before connecting.
    let (live, _) = live_with_diagnostics(
        &[("events", &connector)],
        &[(
            "AMQP_URL",
            &format!("{over_mutual_tls}&certfile={}", cert.display()),
        )],
    );
    let refused = call(&live, "events", "send", json!({"n": 5}))
        .await
        .expect_err("certfile without keyfile");
    assert!(refused.message.contains("go together"), "{refused:?}");
    let _ = channel
        .queue_delete(queue.as_str().into(), QueueDeleteOptions::default())
        .await;
}

/// A server process of a test on a free port of 127.0.0.1, its files in a temporary
/// directory; killed when dropped.
struct PrivateServer {
    port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port()
}

/// The first of these paths that exists, else the bare name (looked up in `PATH`).
fn program<'a>(paths: &[&'a str], name: &'a str) -> &'a str {
    paths
        .iter()
        .copied()
        .find(|path| std::path::Path::new(path).exists())
        .unwrap_or(name)
}

impl PrivateServer {
    /// Runs `command` (from the Debian package `package`) and waits until `port` accepts
    /// connections.
    async fn start(
        mut command: std::process::Command,
        package: &str,
        port: u16,
        dir: tempfile::TempDir,
    ) -> PrivateServer {
        let log = dir.path().join("server.log");
        let child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).expect("server log"))
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {:?} (Debian package {package}; `cargo xtask test` installs it): {e}",
                    command.get_program()
                )
            });
        let server = PrivateServer {
            port,
            child,
            _dir: dir,
        };
        for _ in 0..300 {
            if TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                return server;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        let tail: Vec<&str> = said.lines().rev().take(10).collect();
        panic!(
            "{:?} did not listen on port {port}; it said:\n{}",
            command.get_program(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
}

/// A private `nats-server` with JetStream: TLS with `pki`'s server certificate, client
/// certificates signed by its CA required, user `sw` with `password`.
async fn private_nats(pki: &TestPki, password: &str) -> PrivateServer {
    let (cert, key) = pki.server_files();
    private_nats_with(&format!(
        "tls {{ cert_file: \"{}\", key_file: \"{}\", ca_file: \"{}\", verify: true, timeout: 2 }}\n\
         authorization {{ user: sw, password: \"{password}\" }}\n",
        cert.display(),
        key.display(),
        pki.ca_file.display(),
    ))
    .await
}

/// A private `nats-server` with JetStream on a free port and `settings` added to its
/// configuration.
async fn private_nats_with(settings: &str) -> PrivateServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port();
    let config = dir.path().join("nats.conf");
    std::fs::write(
        &config,
        format!(
            "listen: \"127.0.0.1:{port}\"\n\
             jetstream {{ store_dir: \"{}\", max_memory_store: 64MB, max_file_store: 256MB }}\n\
             {settings}",
            dir.path().join("js").display(),
        ),
    )
    .expect("write nats.conf");
    let mut command = std::process::Command::new(program(
        &["/usr/sbin/nats-server", "/usr/bin/nats-server"],
        "nats-server",
    ));
    command.arg("-c").arg(&config);
    PrivateServer::start(command, "nats-server", port, dir).await
}

/// Publishes `{"n": 1}` through a NATS connector at `url` to subject `sw.auth.orders`.
async fn publish_nats(url: &str) -> Result<serde_json::Value, ConnectorError> {
    let connector = "kind: mq\nbroker: nats\nurl_env: NATS_URL\nmethods:\n- name: send\n  subject: sw.auth.orders\n";
    let (live, diagnostics) = live_with_diagnostics(&[("events", connector)], &[("NATS_URL", url)]);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    call(&live, "events", "send", json!({"n": 1})).await
}

/// Makes the stream `AUTH` of `sw.auth.>` through `client`; returns it.
async fn auth_stream(client: async_nats::Client) -> async_nats::jetstream::stream::Stream {
    async_nats::jetstream::new(client)
        .create_stream(async_nats::jetstream::stream::Config {
            name: "AUTH".into(),
            subjects: vec!["sw.auth.>".into()],
            ..Default::default()
        })
        .await
        .expect("create stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_authenticates_with_an_nkey_seed_file() {
    let user = nkeys::KeyPair::new_user();
    let seed = user.seed().expect("seed");
    let nats = private_nats_with(&format!(
        "authorization {{ users = [ {{ nkey: \"{}\" }} ] }}\n",
        user.public_key()
    ))
    .await;
    let dir = tempfile::tempdir().expect("tempdir");
    let seed_file = dir.path().join("user.nk");
    std::fs::write(&seed_file, format!("{seed}\n")).expect("write seed");
    let stranger_file = dir.path().join("stranger.nk");
    std::fs::write(
        &stranger_file,
        nkeys::KeyPair::new_user().seed().expect("seed"),
    )
    .expect("write seed");
    let admin = async_nats::ConnectOptions::with_nkey(seed.clone())
        .connect(format!("nats://127.0.0.1:{}", nats.port))
        .await
        .expect("the test connects with the NKey");
    let mut stream = auth_stream(admin).await;
    let server = format!("nats://127.0.0.1:{}", nats.port);

    let refused = publish_nats(&server).await.expect_err("no credentials");
    assert!(
        refused.message.contains("authorization"),
        "{}",
        refused.message
    );
    let refused = publish_nats(&format!("{server}?nkeyfile={}", stranger_file.display()))
        .await
        .expect_err("an unknown NKey was accepted");
    assert!(
        refused.message.contains("authorization"),
        "{}",
        refused.message
    );
    assert!(
        !refused.message.contains("SU"),
        "the error shows a seed: {}",
        refused.message
    );
    assert_eq!(stream.info().await.expect("info").state.messages, 0);

    let ack = publish_nats(&format!("{server}?nkeyfile={}", seed_file.display()))
        .await
        .expect("publish with the NKey");
    assert_eq!(ack["stream"], "AUTH");
    assert_eq!(stream.info().await.expect("info").state.messages, 1);
}

/// A signed NATS JWT (`ed25519-nkey`) with these claims, issued by `issuer`.
fn nats_jwt(issuer: &nkeys::KeyPair, subject: &str, name: &str, nats: serde_json::Value) -> String {
    use base64::Engine as _;
    let encode = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let header = encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let issued = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let claims = json!({
        "jti": unique("").to_uppercase(),
        "iat": issued,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let body = encode(claims.to_string().as_bytes());
    let signature = issuer
        .sign(format!("{header}.{body}").as_bytes())
        .expect("sign");
    format!("{header}.{body}.{}", encode(&signature))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_authenticates_with_a_credentials_file_in_operator_mode() {
    let operator = nkeys::KeyPair::new_operator();
    let account = nkeys::KeyPair::new_account();
    let user = nkeys::KeyPair::new_user();
    let operator_jwt = nats_jwt(
        &operator,
        &operator.public_key(),
        "starweave-test",
        json!({ "type": "operator", "version": 2 }),
    );
    let unlimited = json!({
        "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
        "wildcards": true, "conn": -1, "leaf": -1,
        "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
    });
    let account_jwt = nats_jwt(
        &operator,
        &account.public_key(),
        "app",
        json!({ "limits": unlimited, "type": "account", "version": 2 }),
    );
    let user_jwt = nats_jwt(
        &account,
        &user.public_key(),
        "engine",
        json!({ "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2 }),
    );
    // JetStream in operator mode needs a system account.
    let system = nkeys::KeyPair::new_account();
    let system_jwt = nats_jwt(
        &operator,
        &system.public_key(),
        "SYS",
        json!({ "limits": { "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1 }, "type": "account", "version": 2 }),
    );
    let nats = private_nats_with(&format!(
        "operator: {operator_jwt}\nsystem_account: {system_key}\nresolver: MEMORY\n\
         resolver_preload: {{ {system_key}: {system_jwt}, {account_key}: {account_jwt} }}\n",
        system_key = system.public_key(),
        account_key = account.public_key(),
    ))
    .await;
    let creds = format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\n\
         -----BEGIN USER NKEY SEED-----\n{}\n------END USER NKEY SEED------\n",
        user.seed().expect("seed")
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let creds_file = dir.path().join("engine.creds");
    std::fs::write(&creds_file, creds).expect("write creds");
    let server = format!("nats://127.0.0.1:{}", nats.port);
    let admin = async_nats::ConnectOptions::with_credentials_file(&creds_file)
        .await
        .expect("read creds")
        .connect(&server)
        .await
        .expect("the test connects with the credentials");
    let mut stream = auth_stream(admin).await;

    let refused = publish_nats(&server).await.expect_err("no credentials");
    println!("no credentials: {}", refused.message);
    let ack = publish_nats(&format!("{server}?credsfile={}", creds_file.display()))
        .await
        .expect("publish with the credentials file");
    assert_eq!(ack["stream"], "AUTH");
    assert_eq!(stream.info().await.expect("info").state.messages, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_over_tls_with_a_client_certificate_and_a_password() {
    let pki = pki("nats");
    let password = unique("pw-");
    let nats = private_nats(&pki, &password).await;
    let (client_cert, client_key) = pki.client_files("engine");
    let (cert_file, key_file) = (client_cert.display(), client_key.display());
    let ca_file = pki.ca_file.display();
    let server = format!("tls://sw:{password}@localhost:{}", nats.port);

    // The test's own client makes the stream the connector publishes to (async-nats takes
    // rustls' process-wide provider, which the engine installs on its first connection).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let admin = async_nats::ConnectOptions::new()
        .add_root_certificates(pki.ca_file.clone())
        .add_client_certificate(client_cert.clone(), client_key.clone())
        .user_and_password("sw".into(), password.clone())
        .connect(format!("tls://localhost:{}", nats.port))
        .await
        .expect("the test connects to its nats-server");
    let jetstream = async_nats::jetstream::new(admin);
    let mut stream = jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: "TLS".into(),
            subjects: vec!["sw.tls.>".into()],
            ..Default::default()
        })
        .await
        .expect("create stream");
    let connector = "kind: mq\nbroker: nats\nurl_env: NATS_URL\nstream: TLS\nmethods:\n- name: send\n  subject: sw.tls.orders\n";
    let publish = async |url: &str| {
        let (live, diagnostics) =
            live_with_diagnostics(&[("events", connector)], &[("NATS_URL", url)]);
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        call(&live, "events", "send", json!({"n": 1})).await
    };

    // The system's roots do not know the test's CA.
    let refused = publish(&server)
        .await
        .expect_err("an unverifiable server was accepted");
    println!("system roots: {}", refused.message);
    // The CA, but no client certificate: the server refuses the handshake.
    let refused = publish(&format!("{server}?cacertfile={ca_file}"))
        .await
        .expect_err("connected without a client certificate");
    println!("no client certificate: {}", refused.message);
    // Everything but the right password.
    let wrong = format!(
        "tls://sw:not-{password}@localhost:{}?cacertfile={ca_file}&certfile={cert_file}&keyfile={key_file}",
        nats.port
    );
    let refused = publish(&wrong)
        .await
        .expect_err("a wrong password was accepted");
    assert!(
        !refused.message.contains(&password),
        "the error repeats the password: {}",
        refused.message
    );
    println!("wrong password: {}", refused.message);
    assert_eq!(stream.info().await.expect("stream info").state.messages, 0);

    // All of it: published over TLS and stored.
    let ack = publish(&format!(
        "{server}?cacertfile={ca_file}&certfile={cert_file}&keyfile={key_file}"
    ))
    .await
    .expect("publish over mutual TLS");
    assert_eq!(ack["stream"], "TLS");
    assert_eq!(ack["sequence"], 1);
    let message = stream.get_raw_message(1).await.expect("read back");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&message.payload).expect("JSON"),
        json!({"n": 1})
    );
}

/// A private MariaDB, its data in a temporary directory: TLS with `pki`'s server certificate
/// and `require_secure_transport`; `root` has no password.
async fn private_mariadb(pki: &TestPki) -> PrivateServer {
    let dir = tempfile::tempdir().expect("tempdir");
    let datadir = dir.path().join("data");
    let install = program(
        &["/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"],
        "mariadb-install-db",
    );
    let output = std::process::Command::new(install)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", datadir.display()))
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg("--user=root")
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run {install} (Debian package mariadb-server; `cargo xtask test` installs it): {e}")
        });
    assert!(
        output.status.success(),
        "{install} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let port = free_port();
    let (cert, key) = pki.server_files();
    let mut command = std::process::Command::new(program(
        &["/usr/sbin/mariadbd", "/usr/sbin/mysqld"],
        "mariadbd",
    ));
    command
        .arg("--no-defaults")
        .arg(format!("--datadir={}", datadir.display()))
        .arg(format!("--socket={}", dir.path().join("sock").display()))
        .arg(format!("--pid-file={}", dir.path().join("pid").display()))
        .arg(format!(
            "--log-error={}",
            dir.path().join("error.log").display()
        ))
        .arg(format!("--port={port}"))
        .arg("--bind-address=127.0.0.1")
        .arg("--user=root")
        .arg("--innodb-buffer-pool-size=16M")
        .arg(format!("--ssl-cert={}", cert.display()))
        .arg(format!("--ssl-key={}", key.display()))
        .arg(format!("--ssl-ca={}", pki.ca_file.display()))
        .arg("--require-secure-transport=ON");
    PrivateServer::start(command, "mariadb-server", port, dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mariadb_over_tls_verifies_the_server_against_the_named_ca() {
    // A certificate for `localhost` only.
    let pki = pki_for("mariadb", &["localhost"]);
    let mariadb = private_mariadb(&pki).await;
    let connector = "kind: database\ndriver: mysql\nurl_env: DB_URL\ntimeout_ms: 5000\nmethods:\n- name: cipher\n  sql: SHOW SESSION STATUS LIKE 'Ssl_cipher'\n";
    let query = async |url: &str| {
        let (live, diagnostics) = live_with_diagnostics(&[("db", connector)], &[("DB_URL", url)]);
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        call(&live, "db", "cipher", json!({})).await
    };
    let ca_file = pki.ca_file.display();

    let rows = query(&format!(
        "mysql://root@localhost:{}/mysql?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca_file}",
        mariadb.port
    ))
    .await
    .expect("query over TLS");
    let cipher = rows[0]["Value"].as_str().unwrap_or_default().to_owned();
    assert!(!cipher.is_empty(), "the session is not encrypted: {rows}");
    println!("MariaDB over TLS with {cipher}");

    // The system's roots do not know the test's CA.
    let refused = query(&format!(
        "mysql://root@localhost:{}/mysql?ssl-mode=VERIFY_CA",
        mariadb.port
    ))
    .await
    .expect_err("an unverifiable server was accepted");
    println!("system roots: {}", refused.message);
    // Reached as 127.0.0.1, which the certificate does not name: VERIFY_IDENTITY refuses,
    // VERIFY_CA (the CA only) connects.
    let refused = query(&format!(
        "mysql://root@127.0.0.1:{}/mysql?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca_file}",
        mariadb.port
    ))
    .await
    .expect_err("a certificate for another name was accepted");
    println!("another name: {}", refused.message);
    query(&format!(
        "mysql://root@127.0.0.1:{}/mysql?ssl-mode=VERIFY_CA&ssl-ca={ca_file}",
        mariadb.port
    ))
    .await
    .expect("VERIFY_CA does not check the name");
    // The server requires TLS: a plain connection is refused.
    let refused = query(&format!(
        "mysql://root@localhost:{}/mysql?ssl-mode=DISABLED",
        mariadb.port
    ))
    .await
    .expect_err("the server accepted a plain connection");
    println!("plain: {}", refused.message);

    // Mutual TLS: a user who must present a certificate the CA signed (`REQUIRE X509`).
    let admin = "kind: database\ndriver: mysql\nurl_env: DB_URL\ntimeout_ms: 5000\nmethods:\n- name: add_user\n  sql: CREATE USER 'app'@'%' REQUIRE X509\n  returns: affected\n";
    let root = format!(
        "mysql://root@localhost:{}/mysql?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca_file}",
        mariadb.port
    );
    let (live, diagnostics) = live_with_diagnostics(&[("db", admin)], &[("DB_URL", &root)]);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    call(&live, "db", "add_user", json!({}))
        .await
        .expect("CREATE USER");
    let (cert, key) = pki.client_files("app");
    let app = format!(
        "mysql://app@localhost:{}/information_schema?ssl-mode=VERIFY_IDENTITY&ssl-ca={ca_file}",
        mariadb.port
    );
    let refused = query(&app)
        .await
        .expect_err("a user required to present a certificate got in without one");
    println!("no client certificate: {}", refused.message);
    let rows = query(&format!(
        "{app}&ssl-cert={}&ssl-key={}",
        cert.display(),
        key.display()
    ))
    .await
    .expect("the user presents the client certificate");
    assert!(
        !rows[0]["Value"].as_str().unwrap_or_default().is_empty(),
        "{rows}"
    );
}

/// The user id and group id of the system user `name` (from `/etc/passwd`).
fn system_user(name: &str) -> Option<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let fields: Vec<&str> = line.split(':').collect();
        (fields.first() == Some(&name) && fields.len() > 3)
            .then(|| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
            .flatten()
    })
}

/// A private PostgreSQL (Debian package `postgresql`: `initdb` and `postgres` of the newest
/// version installed) on a free port: TLS with `pki`'s server certificate, and TCP
/// connections only over TLS with a client certificate the CA signed whose common name is the
/// user's name (`hostssl … cert`). PostgreSQL refuses to run as root, so as root the server
/// runs as the system user `postgres`.
async fn private_postgres(pki: &TestPki) -> PrivateServer {
    use std::os::unix::fs::MetadataExt;
    use std::os::unix::process::CommandExt;

    let mut versions: Vec<std::path::PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| dir.flatten().map(|e| e.path().join("bin")).collect())
        .unwrap_or_default();
    versions.retain(|bin| bin.join("initdb").exists());
    versions.sort_by_key(|bin| {
        bin.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
    });
    let bin = versions.pop().expect(
        "no /usr/lib/postgresql/<version>/bin/initdb (Debian package postgresql; `cargo xtask test` installs it)",
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let (cert, key) = pki.server_files();
    for (from, to) in [
        (&cert, "server.pem"),
        (&key, "server-key.pem"),
        (&pki.ca_file, "ca.pem"),
    ] {
        std::fs::copy(from, dir.path().join(to)).expect("copy a TLS file");
    }
    let as_root = std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0);
    let owner = if as_root {
        let (uid, gid) = system_user("postgres").expect("the system user postgres");
        for entry in std::fs::read_dir(dir.path()).expect("read dir").flatten() {
            std::os::unix::fs::chown(entry.path(), Some(uid), Some(gid)).expect("chown");
        }
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).expect("chown");
        Some((uid, gid))
    } else {
        None
    };
    std::fs::set_permissions(
        dir.path().join("server-key.pem"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod the key");
    let command = |program: &str| {
        let mut command = std::process::Command::new(bin.join(program));
        if let Some((uid, gid)) = owner {
            command.uid(uid).gid(gid);
        }
        command
    };
    let data = dir.path().join("data");
    let output = command("initdb")
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "--no-sync"])
        .output()
        .expect("run initdb");
    assert!(
        output.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(
        data.join("pg_hba.conf"),
        "local all all trust\nhostssl all all 127.0.0.1/32 cert\nhostssl all all ::1/128 cert\n",
    )
    .expect("write pg_hba.conf");
    let port = free_port();
    let mut server = command("postgres");
    server.arg("-D").arg(&data).arg("-p").arg(port.to_string());
    for (name, value) in [
        ("listen_addresses", "127.0.0.1".to_owned()),
        ("unix_socket_directories", dir.path().display().to_string()),
        ("ssl", "on".to_owned()),
        (
            "ssl_cert_file",
            dir.path().join("server.pem").display().to_string(),
        ),
        (
            "ssl_key_file",
            dir.path().join("server-key.pem").display().to_string(),
        ),
        (
            "ssl_ca_file",
            dir.path().join("ca.pem").display().to_string(),
        ),
        ("fsync", "off".to_owned()),
        ("shared_buffers", "16MB".to_owned()),
    ] {
        server.arg("-c").arg(format!("{name}={value}"));
    }
    PrivateServer::start(server, "postgresql", port, dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_with_a_client_certificate() {
    let pki = pki("postgres-client");
    let postgres = private_postgres(&pki).await;
    let url = format!(
        "postgres://postgres@localhost:{}/postgres?sslmode=verify-full&sslrootcert={}",
        postgres.port,
        pki.ca_file.display()
    );
    let query = async |url: &str| {
        let (live, diagnostics) = live_with_diagnostics(&[("db", CONNECTOR)], &[("DB_URL", url)]);
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        call(&live, "db", "q", json!({})).await
    };
    let refused = query(&url)
        .await
        .expect_err("the server requires a client certificate");
    println!("no client certificate: {}", refused.message);

    // A certificate for another user: PostgreSQL's `cert` method matches the common name.
    let (cert, key) = pki.client_files("mallory");
    let refused = query(&format!(
        "{url}&sslcert={}&sslkey={}",
        cert.display(),
        key.display()
    ))
    .await
    .expect_err("a certificate for another user was accepted");
    println!("another user's certificate: {}", refused.message);

    let (cert, key) = pki.client_files("postgres");
    let rows = query(&format!(
        "{url}&sslcert={}&sslkey={}",
        cert.display(),
        key.display()
    ))
    .await
    .expect("the client certificate of user postgres");
    assert_eq!(rows, json!([{ "answer": 42 }]));
}
