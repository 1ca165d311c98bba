//! The HTTP connector against a local axum server on 127.0.0.1:0, and the OpenAPI importer.

mod io_common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use io_common::{call, live};
use serde_json::{Value, json};
use starweave_engine::io::openapi::import_openapi;
use starweave_model::Severity;

#[derive(Clone, Default)]
struct Upstream {
    hits: Arc<Mutex<HashMap<String, u32>>>,
    arrivals: Arc<Mutex<HashMap<String, Vec<std::time::Instant>>>>,
}

impl Upstream {
    fn hit(&self, key: &str) -> u32 {
        let mut hits = self.hits.lock().expect("lock");
        let n = hits.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }

    fn hits(&self, key: &str) -> u32 {
        self.hits
            .lock()
            .expect("lock")
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

fn headers_json(headers: &HeaderMap) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), json!(v.to_str().unwrap_or(""))))
            .collect(),
    )
}

async fn serve() -> (String, Upstream) {
    let upstream = Upstream::default();
    let app = Router::new()
        .route(
            "/flaky/{id}",
            get(
                |State(u): State<Upstream>, Path(id): Path<String>| async move {
                    let n = u.hit(&format!("flaky-{id}"));
                    if n < 3 {
                        (
                            StatusCode::SERVICE_UNAVAILABLE,
                            Json(json!({"error": "busy"})),
                        )
                    } else {
                        (StatusCode::OK, Json(json!({"id": id, "attempt": n})))
                    }
                },
            ),
        )
        .route(
            "/flaky-post",
            post(|State(u): State<Upstream>| async move {
                u.hit("flaky-post");
                (StatusCode::SERVICE_UNAVAILABLE, "busy")
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "late"
            }),
        )
        .route(
            "/huge/{how}",
            get(|Path(how): Path<String>| async move {
                // One byte more than the connector reads, said up front or streamed.
                let size = starweave_engine::io::http::MAX_RESPONSE_BYTES + 1;
                if how == "sized" {
                    return axum::body::Body::from(vec![b' '; size]);
                }
                let chunks = (0..size.div_ceil(1 << 20)).map(move |i| {
                    let len = (size - i * (1 << 20)).min(1 << 20);
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(vec![b' '; len]))
                });
                axum::body::Body::from_stream(futures_util::stream::iter(chunks))
            }),
        )
        .route(
            "/echo",
            get(
                |headers: HeaderMap, Query(q): Query<HashMap<String, String>>| async move {
                    Json(json!({"query": q, "headers": headers_json(&headers)}))
                },
            )
            .post(|headers: HeaderMap, Json(body): Json<Value>| async move {
                (
                    StatusCode::CREATED,
                    [("x-request-id", "r-1")],
                    Json(json!({"body": body, "headers": headers_json(&headers)})),
                )
            }),
        )
        .route(
            "/secure",
            get(|headers: HeaderMap| async move {
                match headers.get("authorization").and_then(|v| v.to_str().ok()) {
                    Some("Bearer tok-abc123") => (StatusCode::OK, Json(json!({"ok": true}))),
                    _ => (StatusCode::UNAUTHORIZED, Json(json!({"ok": false}))),
                }
            }),
        )
        .route(
            "/oauth/token",
            post(
                |State(u): State<Upstream>,
                 axum::Form(form): axum::Form<HashMap<String, String>>| async move {
                    u.hit("token");
                    let field = |name: &str| form.get(name).map(String::as_str);
                    let valid = field("grant_type") == Some("client_credentials")
                        && field("client_id") == Some("app-7")
                        && field("client_secret") == Some("s3cret/+&=")
                        && field("scope") == Some("pets.read pets.write");
                    if valid {
                        (
                            StatusCode::OK,
                            Json(json!({"access_token": "tok-abc123", "token_type": "Bearer", "expires_in": 3600})),
                        )
                    } else {
                        (
                            StatusCode::UNAUTHORIZED,
                            Json(json!({"error": "invalid_client"})),
                        )
                    }
                },
            ),
        )
        .route(
            "/record",
            get(|State(u): State<Upstream>, headers: HeaderMap| async move {
                u.hit("record");
                Json(json!({"headers": headers_json(&headers)}))
            }),
        )
        .route(
            "/redirect",
            get(|Query(q): Query<HashMap<String, String>>| async move {
                let to = q.get("to").cloned().unwrap_or_default();
                (StatusCode::FOUND, [("location", to)], "")
            }),
        )
        .route(
            "/busy/{wait}",
            get(
                |State(u): State<Upstream>, Path(wait): Path<String>| async move {
                    let key = format!("busy-{wait}");
                    u.arrivals
                        .lock()
                        .expect("lock")
                        .entry(key.clone())
                        .or_default()
                        .push(std::time::Instant::now());
                    if u.hit(&key) == 1 {
                        (
                            StatusCode::TOO_MANY_REQUESTS,
                            [("retry-after", wait)],
                            Json(json!({"error": "slow down"})),
                        )
                    } else {
                        (
                            StatusCode::OK,
                            [("retry-after", String::new())],
                            Json(json!({"ok": true})),
                        )
                    }
                },
            ),
        )
        .route("/missing", get(|| async { (StatusCode::NOT_FOUND, "no") }))
        .route("/boom", get(|| async { (StatusCode::BAD_GATEWAY, "no") }))
        .route("/teapot", get(|| async { (StatusCode::IM_A_TEAPOT, "no") }))
        .route(
            "/pets/{id}",
            get(|Path(id): Path<i64>| async move {
                if id == 404 {
                    (StatusCode::NOT_FOUND, Json(json!({"message": "no pet"})))
                } else {
                    (
                        StatusCode::OK,
                        Json(json!({"id": id, "name": "Rex", "tag": "dog"})),
                    )
                }
            }),
        )
        .with_state(upstream.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (format!("http://{addr}"), upstream)
}

const API: &str = r##"
kind: http
base_url: "{{ env.API_URL }}"
headers:
  X-Client: starweave
timeout_ms: 2000
retry:
  max_attempts: 3
  backoff:
    initial_ms: 10
    multiplier: 2
methods:
- name: flaky
  method: GET
  path: /flaky/{id}
- name: flaky_post
  method: POST
  path: /flaky-post
  body: { x: 1 }
- name: slow
  method: GET
  path: /slow
  timeout_ms: 200
- name: echo
  method: GET
  path: /echo
  query:
    q: "{{ input.q }}"
    page: "{{ input.page }}"
  headers:
    X-Trace: "t-{{ input.trace }}"
- name: create
  method: POST
  path: /echo
  body:
    items: "{{ input.items }}"
    label: "order {{ input.n }}"
  response: "#{ status: response.status, id: response.headers[\"x-request-id\"], items: response.body.body.items }"
- name: busy
  method: GET
  path: /busy/{wait}
- name: missing
  method: GET
  path: /missing
  error_statuses:
    "404": NOT_FOUND
- name: boom
  method: GET
  path: /boom
  error_statuses:
    "5xx": UPSTREAM
- name: teapot
  method: GET
  path: /teapot
- name: huge
  method: GET
  path: /huge/{how}
"##;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_idempotent_calls_only_and_maps_statuses() {
    let (url, upstream) = serve().await;
    let api = live(&[("api", API)], &[("API_URL", &url)]);

    // GET: two 503s, then success on the third attempt.
    let out = call(&api, "api", "flaky", json!({"id": "a b"}))
        .await
        .expect("retried");
    assert_eq!(out, json!({"id": "a b", "attempt": 3}));
    assert_eq!(upstream.hits("flaky-a b"), 3);

    // POST: never retried; the 503 is an HTTP_503 error.
    let err = call(&api, "api", "flaky_post", json!({}))
        .await
        .expect_err("503");
    assert_eq!(err.code.as_deref(), Some("HTTP_503"));
    assert_eq!(upstream.hits("flaky-post"), 1);

    // Declared statuses become error codes.
    let err = call(&api, "api", "missing", json!({}))
        .await
        .expect_err("404");
    assert_eq!(err.code.as_deref(), Some("NOT_FOUND"), "{err:?}");
    let err = call(&api, "api", "boom", json!({})).await.expect_err("502");
    assert_eq!(err.code.as_deref(), Some("UPSTREAM"), "{err:?}");
    let err = call(&api, "api", "teapot", json!({}))
        .await
        .expect_err("418");
    assert_eq!(err.code.as_deref(), Some("HTTP_418"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_waited_when_the_call_has_time_for_it() {
    let (url, upstream) = serve().await;
    let api = live(&[("api", API)], &[("API_URL", &url)]);
    // 429 asking for 1 s, well within the call's 3 × 2 s: waited, then the second attempt.
    let out = call(&api, "api", "busy", json!({"wait": "1"}))
        .await
        .expect("retried after the wait");
    assert_eq!(out, json!({"ok": true}));
    let arrivals = upstream.arrivals.lock().expect("lock")["busy-1"].clone();
    assert_eq!(arrivals.len(), 2);
    assert!(
        arrivals[1] - arrivals[0] >= Duration::from_millis(950),
        "the second attempt came {:?} after the first",
        arrivals[1] - arrivals[0]
    );
    // 429 asking for an hour: not waited, the 429 is the call's answer at once.
    let err = call(&api, "api", "busy", json!({"wait": "3600"}))
        .await
        .expect_err("429");
    assert_eq!(err.code.as_deref(), Some("HTTP_429"), "{err:?}");
    assert_eq!(upstream.hits("busy-3600"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upstream_times_out() {
    let (url, _) = serve().await;
    let api = live(&[("api", API)], &[("API_URL", &url)]);
    let err = call(&api, "api", "slow", json!({}))
        .await
        .expect_err("timeout");
    assert_eq!(err.code.as_deref(), Some("TIMEOUT"), "{err:?}");
}

/// An answer larger than the connector reads fails the call, whether its length is said up
/// front or it just keeps coming.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_too_large_fails_the_call() {
    let (url, _) = serve().await;
    let api = live(&[("api", API)], &[("API_URL", &url)]);
    for how in ["sized", "streamed"] {
        let err = call(&api, "api", "huge", json!({"how": how}))
            .await
            .expect_err("too large");
        assert!(err.message.contains("larger than 16 MiB"), "{how}: {err:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_fill_query_headers_and_body() {
    let (url, _) = serve().await;
    let api = live(&[("api", API)], &[("API_URL", &format!("{url}/"))]);
    let out = call(&api, "api", "echo", json!({"q": "a&b=c", "trace": 7}))
        .await
        .expect("echo");
    // `page` rendered empty and was left out; `&` and `=` were encoded.
    assert_eq!(out["query"], json!({"q": "a&b=c"}));
    assert_eq!(out["headers"]["x-trace"], "t-7");
    assert_eq!(out["headers"]["x-client"], "starweave");

    let out = call(
        &api,
        "api",
        "create",
        json!({"items": [1, {"a": 2}], "n": 5}),
    )
    .await
    .expect("create");
    assert_eq!(
        out,
        json!({"status": 201, "id": "r-1", "items": [1, {"a": 2}]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_headers_come_from_env_and_never_leak() {
    let (url, _) = serve().await;
    let bearer = r#"
kind: http
base_url: "{{ env.API_URL }}"
auth: { type: bearer, token_env: API_TOKEN }
methods:
- { name: secure, method: GET, path: /secure }
"#;
    let api = live(
        &[("api", bearer)],
        &[("API_URL", &url), ("API_TOKEN", "tok-abc123")],
    );
    assert_eq!(
        call(&api, "api", "secure", json!({}))
            .await
            .expect("authorized"),
        json!({"ok": true})
    );
    let api = live(
        &[("api", bearer)],
        &[("API_URL", &url), ("API_TOKEN", "wrong-token")],
    );
    let err = call(&api, "api", "secure", json!({}))
        .await
        .expect_err("401");
    assert_eq!(err.code.as_deref(), Some("HTTP_401"));
    assert!(!err.message.contains("wrong-token"), "{err:?}");
    let api = live(&[("api", bearer)], &[("API_URL", &url)]);
    let err = call(&api, "api", "secure", json!({}))
        .await
        .expect_err("no token");
    assert!(
        err.message.contains("API_TOKEN") && err.message.contains("not set"),
        "{err:?}"
    );

    let basic = r#"
kind: http
base_url: "{{ env.API_URL }}"
auth: { type: basic, username_env: API_USER, password_env: API_PASSWORD }
methods:
- { name: echo, method: GET, path: /echo }
"#;
    let api = live(
        &[("api", basic)],
        &[
            ("API_URL", &url),
            ("API_USER", "ann"),
            ("API_PASSWORD", "pa:ss"),
        ],
    );
    let out = call(&api, "api", "echo", json!({})).await.expect("echo");
    assert_eq!(out["headers"]["authorization"], "Basic YW5uOnBhOnNz");

    let key = r#"
kind: http
base_url: "{{ env.API_URL }}"
auth: { type: api_key, name: api_key, value_env: API_KEY, in_query: true }
retry: { max_attempts: 2, backoff: { initial_ms: 1 } }
methods:
- { name: echo, method: GET, path: /echo }
"#;
    let api = live(
        &[("api", key)],
        &[("API_URL", &url), ("API_KEY", "k-secret-42")],
    );
    let out = call(&api, "api", "echo", json!({})).await.expect("echo");
    assert_eq!(out["query"]["api_key"], "k-secret-42");

    // Nothing listens on the port of a dropped listener: the transport error names neither
    // the key (which was in the query string) nor the URL's password.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("addr")
    };
    let down = format!("http://user:url-pass-99@{closed}");
    let api = live(
        &[("api", key)],
        &[("API_URL", &down), ("API_KEY", "k-secret-42")],
    );
    let err = call(&api, "api", "echo", json!({}))
        .await
        .expect_err("connection refused");
    assert!(err.code.is_none(), "{err:?}");
    assert!(err.message.contains("2 attempt"), "{err:?}");
    assert!(
        !err.message.contains("k-secret-42") && !err.message.contains("url-pass-99"),
        "{err:?}"
    );
}

/// Redirects are followed within the upstream's origin; one to another host is the call's
/// answer, and the connector's API key header never reaches that host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_to_another_origin_are_not_followed() {
    let (url, upstream) = serve().await;
    let (other_url, other) = serve().await;
    let connector = r#"
kind: http
base_url: "{{ env.API_URL }}"
auth: { type: api_key, name: X-Api-Key, value_env: API_KEY }
methods:
- name: hop
  method: GET
  path: /redirect
  query: { to: "{{ input.to }}" }
  error_statuses: { "3xx": REDIRECTED }
"#;
    let api = live(
        &[("api", connector)],
        &[("API_URL", &url), ("API_KEY", "k-secret-42")],
    );
    let out = call(&api, "api", "hop", json!({"to": "/record"}))
        .await
        .expect("a redirect within the origin is followed");
    assert_eq!(out["headers"]["x-api-key"], "k-secret-42");
    assert_eq!(upstream.hits("record"), 1);

    let err = call(
        &api,
        "api",
        "hop",
        json!({ "to": format!("{other_url}/record") }),
    )
    .await
    .expect_err("a redirect to another origin is the answer");
    assert_eq!(err.code.as_deref(), Some("REDIRECTED"), "{err:?}");
    assert_eq!(other.hits("record"), 0, "the other host was called");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oauth2_client_credentials_fetch_a_token_once_and_send_it() {
    let (url, upstream) = serve().await;
    let connector = |tag: &str| {
        format!(
            r#"
kind: http
base_url: "{{{{ env.API_URL }}}}"
auth:
  type: {tag}
  token_url: "{{{{ env.API_URL }}}}/oauth/token"
  client_id_env: CLIENT_ID
  client_secret_env: CLIENT_SECRET
  scopes: [pets.read, pets.write]
methods:
- {{ name: secure, method: GET, path: /secure }}
"#
        )
    };
    let good = connector("oauth2_client_credentials");
    let api = live(
        &[("api", &good)],
        &[
            ("API_URL", &url),
            ("CLIENT_ID", "app-7"),
            ("CLIENT_SECRET", "s3cret/+&="),
        ],
    );
    for _ in 0..3 {
        assert_eq!(
            call(&api, "api", "secure", json!({}))
                .await
                .expect("called with the fetched token"),
            json!({"ok": true})
        );
    }
    assert_eq!(
        upstream.hits("token"),
        1,
        "the token is fetched once, then cached"
    );

    // The earlier spelling of the tag still reads; a wrong secret is refused by the token
    // endpoint and the error says so without repeating the secret.
    let old = connector("o_auth2_client_credentials");
    let api = live(
        &[("api", &old)],
        &[
            ("API_URL", &url),
            ("CLIENT_ID", "app-7"),
            ("CLIENT_SECRET", "wrong-secret-55"),
        ],
    );
    let err = call(&api, "api", "secure", json!({}))
        .await
        .expect_err("a wrong client secret");
    assert!(
        err.message.contains("token endpoint answered HTTP 401"),
        "{err:?}"
    );
    assert!(!err.message.contains("wrong-secret-55"), "{err:?}");
    assert_eq!(upstream.hits("token"), 2);
}

const PETSTORE: &str = include_str!("../testdata/io/petstore.yaml");

#[test]
fn openapi_import_builds_methods_from_operations() {
    let import = import_openapi(PETSTORE);
    let connector = import.connector;
    assert_eq!(connector.base_url, "http://127.0.0.1:9/v1");
    assert_eq!(connector.description.as_deref(), Some("Petstore"));
    let names: Vec<&str> = connector.methods.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["listPets", "createPet", "showPetById", "delete_pets_petId"]
    );

    let list = &connector.methods[0];
    assert_eq!(list.path, "/pets");
    assert_eq!(
        list.query.get("limit").map(String::as_str),
        Some("{{ input.limit }}")
    );
    assert_eq!(
        list.headers.get("X-Request-Id").map(String::as_str),
        Some("{{ input.X_Request_Id }}")
    );
    assert_eq!(
        list.input
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["limit", "X_Request_Id"]
    );
    assert!(!list.input[0].required);
    assert_eq!(list.input[0].maximum, Some(100.0));
    // An array response is wrapped as `items`.
    assert_eq!(list.response.as_deref(), Some("#{ items: response.body }"));
    assert_eq!(list.output[0].name, "items");
    let pet = list.output[0].items.as_ref().expect("items");
    assert_eq!(
        pet.fields
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["id", "name", "tag", "owner"]
    );
    assert!(pet.fields[0].required && !pet.fields[2].required);

    let create = &connector.methods[1];
    assert_eq!(
        create.body,
        Some(json!({"name": "{{ input.name }}", "tag": "{{ input.tag }}"}))
    );
    assert_eq!(
        create
            .input
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["name", "tag"]
    );
    assert!(create.input[0].required);
    assert_eq!(
        create.error_statuses.get("409").map(String::as_str),
        Some("CONFLICT")
    );

    let show = &connector.methods[2];
    assert_eq!(show.path, "/pets/{petId}");
    assert!(show.input[0].required);
    assert_eq!(
        show.output
            .iter()
            .map(|f| f.name.as_str())
            .collect::<Vec<_>>(),
        ["id", "name", "tag", "owner"]
    );
    assert_eq!(
        show.error_statuses.get("404").map(String::as_str),
        Some("NOT_FOUND")
    );

    // Person.friends refers back to Person: imported once, then `any`, with a warning.
    let owner = &show.output[3];
    let friend = owner
        .fields
        .iter()
        .find(|f| f.name == "friends")
        .and_then(|f| f.items.as_deref())
        .expect("friends");
    assert_eq!(friend.ty, starweave_model::vms::ParamType::Any);
    assert!(
        import
            .diagnostics
            .iter()
            .any(|d| d.severity == Severity::Warning && d.message.contains("Person"))
    );
    assert!(
        import
            .diagnostics
            .iter()
            .all(|d| d.severity != Severity::Error),
        "{:#?}",
        import.diagnostics
    );
}

#[test]
fn openapi_import_reads_json_and_reports_bad_documents() {
    let as_json: Value = serde_yaml_ng::from_str(PETSTORE).expect("yaml");
    let import = import_openapi(&as_json.to_string());
    assert_eq!(import.connector.methods.len(), 4);
    let import = import_openapi("{ not: [valid");
    assert!(
        import.diagnostics.iter().any(|d| d.code == "openapi.parse"),
        "{:#?}",
        import.diagnostics
    );
    let import = import_openapi("swagger: '2.0'\npaths: {}\n");
    assert!(
        import
            .diagnostics
            .iter()
            .any(|d| d.code == "openapi.version")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_imported_connector_calls_the_server() {
    let (url, _) = serve().await;
    let mut connector = import_openapi(PETSTORE).connector;
    connector.base_url = "{{ env.PETS_URL }}".into();
    let yaml =
        serde_yaml_ng::to_string(&starweave_model::vms::Connector::Http(connector)).expect("yaml");
    let api = live(&[("pets", &yaml)], &[("PETS_URL", &url)]);
    let pet = call(&api, "pets", "showPetById", json!({"petId": 7}))
        .await
        .expect("pet");
    assert_eq!(pet, json!({"id": 7, "name": "Rex", "tag": "dog"}));
    let err = call(&api, "pets", "showPetById", json!({"petId": 404}))
        .await
        .expect_err("404");
    assert_eq!(err.code.as_deref(), Some("NOT_FOUND"));
}
