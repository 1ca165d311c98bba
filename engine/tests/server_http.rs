//! The engine server over real sockets: admin API, HTTP triggers, errors, OpenAPI, metrics.

mod server_common;

use serde_json::{Value, json};
use server_common::{TOKEN, greeter, start_engine, write_vms};
use starweave_engine::server::registry::EngineOptions;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_vms_answers_its_routes_with_mapped_statuses() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = greeter(root.path(), "greeter-v1", "v1");

    let (status, body) = engine.deploy("greeter", "v1", &dir, json!({})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["changed"], true);
    // Re-applying the same deployment is a no-op (a reconciler re-applies its desired state).
    let (status, body) = engine.deploy("greeter", "v1", &dir, json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"], false);

    let response = engine
        .client
        .get(engine.url("/greeter/hello/ada"))
        .send()
        .await
        .expect("get");
    assert_eq!(response.status(), 200);
    let trace = response
        .headers()
        .get("x-starweave-trace-id")
        .expect("trace id")
        .to_str()
        .expect("text")
        .to_owned();
    assert_eq!(trace.len(), 32);
    assert_eq!(
        response
            .headers()
            .get("x-starweave-version")
            .expect("version"),
        "v1"
    );
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({"message": "hello ada", "times": 1, "version": "v1"})
    );

    // Query text is converted to the declared integer; the declared success status is used.
    let (status, body) = engine
        .post("/greeter/hello?times=3", &json!({"name": "bo"}))
        .await;
    assert_eq!((status, &body["times"]), (201, &json!(3)), "{body}");

    // A mapped business error, an unmapped one, a technical failure.
    let (status, body) = engine.get("/greeter/hello/robot").await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["error"], "NO_ROBOTS");
    assert_eq!(body["message"], "robots are not greeted");
    let (status, body) = engine.get("/greeter/hello/teapot").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "TEAPOT");
    let (status, body) = engine.get("/greeter/hello/crash").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "internal");
    assert_eq!(body["trace_id"].as_str().map(str::len), Some(32));
    let text = body.to_string();
    assert!(
        !text.contains("zero") && !text.contains("rhai") && !text.contains("hello.rhai"),
        "{text}"
    );

    // The deadline: the function's timeout_ms (300 ms).
    let (status, body) = engine.get("/greeter/spin").await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "deadline_exceeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_input_lists_every_problem() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = greeter(root.path(), "greeter", "v1");
    assert_eq!(engine.deploy("greeter", "v1", &dir, json!({})).await.0, 201);

    let (status, body) = engine
        .post("/greeter/hello", &json!({"name": 5, "times": "many"}))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        body,
        json!({"error": "invalid_input", "problems": [
            {"path": "/name", "message": "must be of type string, got integer"},
            {"path": "/times", "message": "must be of type integer, got string"},
        ]})
    );
    let (status, body) = engine.post("/greeter/hello", &json!({})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["problems"],
        json!([{"path": "/name", "message": "is required"}])
    );
    let (status, body) = engine
        .get("/greeter/hello/abcdefghijklmnopqrstuvwxyz")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["problems"][0]["path"], "/name");

    let response = engine
        .client
        .post(engine.url("/greeter/hello"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_input");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_and_methods_answer_json() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = greeter(root.path(), "greeter", "v1");
    assert_eq!(engine.deploy("greeter", "v1", &dir, json!({})).await.0, 201);

    for path in ["/nothing/here", "/greeter/nope", "/", "/greeter"] {
        let response = engine
            .client
            .get(engine.url(path))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 404, "{path}");
        assert!(response.headers().contains_key("x-starweave-trace-id"));
        let body: Value = response.json().await.expect("json body");
        assert_eq!(body["error"], "not_found", "{path}");
    }
    let response = engine
        .client
        .delete(engine.url("/greeter/hello/ada"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers().get("allow").expect("allow"), "GET, HEAD");
    // HEAD is served by the GET route, without the body.
    let response = engine
        .client
        .head(engine.url("/greeter/hello/ada"))
        .send()
        .await
        .expect("head");
    assert_eq!(response.status(), 200);
    assert_eq!(response.bytes().await.expect("body").len(), 0);
}

/// A route declared for HEAD answers HEAD requests even where a GET route matches too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explicit_head_route_wins_over_the_get_route() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = write_vms(
        root.path(),
        "probe",
        &[
            ("vms.yaml", "name: probe\n"),
            (
                "functions/item.rhai",
                "fn main(input, ctx) { #{ ok: true } }\n",
            ),
            ("functions/probe.rhai", "fn main(input, ctx) { #{} }\n"),
            (
                "triggers.yaml",
                "- kind: http\n  function: item\n  method: GET\n  path: /item\n- kind: http\n  function: probe\n  method: HEAD\n  path: /item\n  status: 204\n",
            ),
        ],
    );
    let (status, body) = engine.deploy("probe", "1", &dir, json!({})).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(engine.get("/probe/item").await, (200, json!({"ok": true})));
    let response = engine
        .client
        .head(engine.url("/probe/item"))
        .send()
        .await
        .expect("head");
    assert_eq!(response.status(), 204);
}

/// A loaded version other than the active one answers a request that names it only when
/// the engine honours `x-starweave-version` (behind a gateway); by default the header is
/// ignored, so a client cannot reach an earlier version that is still loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_version_header_is_honoured_only_when_the_engine_allows_it() {
    let root = tempfile::tempdir().expect("tempdir");
    let v1 = greeter(root.path(), "greeter-v1", "v1");
    let v2 = greeter(root.path(), "greeter-v2", "v2");
    for (allowed, expected) in [(false, ["v2", "v2"]), (true, ["v1", "v2"])] {
        let engine = start_engine(EngineOptions {
            version_header: allowed,
            ..EngineOptions::default()
        })
        .await;
        assert_eq!(engine.deploy("greeter", "v1", &v1, json!({})).await.0, 201);
        assert_eq!(engine.deploy("greeter", "v2", &v2, json!({})).await.0, 201);
        let mut answered = Vec::new();
        for asked in ["v1", "v2"] {
            let response = engine
                .client
                .get(engine.url("/greeter/version"))
                .header("x-starweave-version", asked)
                .send()
                .await
                .expect("get");
            assert_eq!(response.status(), 200, "allowed={allowed} asked={asked}");
            let body: Value = response.json().await.expect("json");
            answered.push(body["version"].as_str().expect("version").to_owned());
        }
        assert_eq!(answered, expected, "allowed={allowed}");
        let response = engine
            .client
            .get(engine.url("/greeter/version"))
            .header("x-starweave-version", "v9")
            .send()
            .await
            .expect("get");
        // A version that is not loaded: 404 when the header counts, else the active one.
        let status = if allowed { 404 } else { 200 };
        assert_eq!(response.status(), status, "allowed={allowed}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_need_the_token() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = greeter(root.path(), "greeter", "v1");
    let spec =
        json!({"vms": "greeter", "version": "v1", "source": {"path": dir.display().to_string()}});

    let without = engine
        .client
        .post(engine.admin_url("/admin/deployments"))
        .json(&spec)
        .send()
        .await
        .expect("post");
    assert_eq!(without.status(), 401);
    let body: Value = without.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized");
    let wrong = engine
        .client
        .post(engine.admin_url("/admin/deployments"))
        .bearer_auth("test-admin-token-0123456780")
        .json(&spec)
        .send()
        .await
        .expect("post");
    assert_eq!(wrong.status(), 401);
    for path in [
        "/admin/deployments",
        "/admin/deployments/greeter/v1",
        "/admin/unknown",
    ] {
        let response = engine
            .client
            .get(engine.admin_url(path))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 401, "{path}");
    }
    let response = engine
        .client
        .delete(engine.admin_url("/admin/deployments/greeter/v1"))
        .send()
        .await
        .expect("delete");
    assert_eq!(response.status(), 401);
    assert_eq!(
        engine.get("/greeter/hello/ada").await.0,
        404,
        "nothing was deployed"
    );

    // With the token.
    assert_eq!(engine.deploy("greeter", "v1", &dir, json!({})).await.0, 201);
    let list: Value = engine
        .client
        .get(engine.admin_url("/admin/deployments"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(list[0]["vms"], "greeter");
    assert_eq!(list[0]["active"], true);
    let response = engine
        .client
        .put(engine.admin_url("/admin/deployments/greeter/v1/log-level"))
        .bearer_auth(TOKEN)
        .json(&json!({"level": "debug"}))
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["log_level"], "debug");
    // Probes and metrics are open.
    for path in ["/healthz", "/readyz", "/metrics"] {
        let response = engine
            .client
            .get(engine.admin_url(path))
            .send()
            .await
            .expect("get");
        assert_eq!(response.status(), 200, "{path}");
    }
    assert_eq!(engine.undeploy("greeter", "v1").await, 204);
    assert_eq!(engine.undeploy("greeter", "v1").await, 404);
    assert_eq!(engine.get("/greeter/hello/ada").await.0, 404);
}

/// A deadline of zero or beyond a day, in a function's spec or in the deployment, is refused
/// at load with where it is; a day itself loads and serves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_outside_a_day_are_refused_at_load() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let day = 24 * 60 * 60 * 1000_u64;
    for (dir_name, timeout_ms) in [("zero", 0), ("huge", u64::MAX), ("over", day + 1)] {
        let dir = greeter(root.path(), dir_name, "v1");
        std::fs::write(
            dir.join("functions/version.yaml"),
            format!("timeout_ms: {timeout_ms}\n"),
        )
        .expect("write");
        let (status, body) = engine.deploy("greeter", "v1", &dir, json!({})).await;
        assert_eq!(status, 422, "{timeout_ms}: {body}");
        let diagnostics = body["diagnostics"].as_array().expect("diagnostics");
        assert!(
            diagnostics.iter().any(|d| d["code"] == "engine.timeout"
                && d["file"] == "functions/version.yaml"
                && d["message"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("1..=86400000")),
            "{body}"
        );
    }
    let dir = greeter(root.path(), "deployment", "v1");
    let (status, body) = engine
        .deploy("greeter", "v1", &dir, json!({"timeout_ms": u64::MAX}))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body.to_string().contains("the deployment's timeout_ms"),
        "{body}"
    );

    std::fs::write(
        dir.join("functions/version.yaml"),
        format!("timeout_ms: {day}\n"),
    )
    .expect("write");
    let (status, body) = engine
        .deploy("greeter", "v1", &dir, json!({"timeout_ms": day}))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(
        engine.get("/greeter/version").await,
        (200, json!({"version": "v1"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_version_does_not_load_and_the_old_one_keeps_serving() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = greeter(root.path(), "greeter", "v1");
    assert_eq!(engine.deploy("greeter", "v1", &dir, json!({})).await.0, 201);

    let broken = greeter(root.path(), "broken", "v2");
    std::fs::write(
        broken.join("functions/version.rhai"),
        "fn main(input, ctx) { let = ; }\n",
    )
    .expect("write");
    let (status, body) = engine.deploy("greeter", "v2", &broken, json!({})).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "invalid_vms");
    let diagnostics = body["diagnostics"].as_array().expect("diagnostics");
    assert!(
        diagnostics
            .iter()
            .any(|d| d["file"] == "functions/version.rhai" && d["severity"] == "error"),
        "{body}"
    );
    let (status, body) = engine.get("/greeter/version").await;
    assert_eq!((status, body), (200, json!({"version": "v1"})));

    let (status, body) = engine
        .deploy("greeter", "v3", &root.path().join("missing"), json!({}))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = engine.deploy("bad name!", "v3", &dir, json!({})).await;
    assert_eq!(status, 400);
    // A version that would name a parent or hidden folder.
    for version in ["..", ".", ".hidden"] {
        let (status, body) = engine.deploy("greeter", version, &dir, json!({})).await;
        assert_eq!(status, 400, "{version}: {body}");
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("not starting with `.`"),
            "{body}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_and_metrics_describe_the_deployment() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = greeter(root.path(), "greeter", "v1");
    assert_eq!(engine.deploy("greeter", "v1", &dir, json!({})).await.0, 201);
    assert_eq!(engine.get("/greeter/hello/ada").await.0, 200);
    assert_eq!(engine.get("/greeter/hello/robot").await.0, 403);
    // Refused before a run: counted, but no run duration.
    let long_name = "x".repeat(21);
    assert_eq!(
        engine.get(&format!("/greeter/hello/{long_name}")).await.0,
        400
    );

    let (status, doc) = engine.get("/greeter/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], "/greeter");
    let get = &doc["paths"]["/hello/{name}"]["get"];
    assert_eq!(get["operationId"], "hello");
    assert_eq!(get["parameters"][0]["in"], "path");
    assert_eq!(get["parameters"][1]["name"], "times");
    assert!(get["responses"]["403"].is_object());
    let post = &doc["paths"]["/hello"]["post"];
    assert_eq!(
        post["requestBody"]["content"]["application/json"]["schema"]["required"],
        json!(["name"])
    );
    assert!(post["responses"]["201"].is_object());

    let metrics = engine
        .client
        .get(engine.admin_url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(metrics.contains(
        "starweave_requests_total{vms=\"greeter\",version=\"v1\",function=\"hello\",trigger=\"http\",status=\"200\"} 1"
    ), "{metrics}");
    assert!(metrics.contains("status=\"403\"} 1"), "{metrics}");
    assert!(metrics.contains("status=\"400\"} 1"), "{metrics}");
    assert!(
        metrics.contains("starweave_deployments_loaded 1"),
        "{metrics}"
    );
    assert!(metrics.contains("starweave_run_duration_seconds_count{vms=\"greeter\",version=\"v1\",function=\"hello\"} 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tarballs_load_inline_and_from_disk() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = greeter(root.path(), "greeter", "v7");
    let mut builder = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    builder.append_dir_all("greeter", &dir).expect("tar");
    let bytes = builder.into_inner().expect("tar").finish().expect("gzip");
    let tarball = root.path().join("greeter.tar.gz");
    std::fs::write(&tarball, &bytes).expect("write");

    assert_eq!(
        engine.deploy("greeter", "v7", &tarball, json!({})).await.0,
        201
    );
    assert_eq!(
        engine.get("/greeter/version").await,
        (200, json!({"version": "v7"}))
    );

    use base64::Engine as _;
    let inline = base64::engine::general_purpose::STANDARD.encode(&bytes);
    let response = engine
        .client
        .post(engine.admin_url("/admin/deployments"))
        .bearer_auth(TOKEN)
        .json(&json!({"vms": "other", "version": "1", "source": {"tarball_base64": inline}}))
        .send()
        .await
        .expect("post");
    assert_eq!(response.status(), 201);
    assert_eq!(
        engine.get("/other/version").await,
        (200, json!({"version": "v7"}))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explicit_input_mappings_read_headers_and_path() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = write_vms(
        root.path(),
        "echo",
        &[
            ("vms.yaml", "name: echo\n"),
            (
                "functions/echo.yaml",
                "input:\n- name: id\n  type: integer\n  required: true\n- name: tenant\n  type: string\n  required: true\n",
            ),
            ("functions/echo.rhai", "fn main(input, ctx) { input }\n"),
            (
                "triggers.yaml",
                "- kind: http\n  function: echo\n  method: PUT\n  path: /items/{id}\n  input:\n    id: request.path.id\n    tenant: request.headers[\"x-tenant\"]\n",
            ),
        ],
    );
    assert_eq!(engine.deploy("echo", "1", &dir, json!({})).await.0, 201);
    let response = engine
        .client
        .put(engine.url("/echo/items/12"))
        .header("x-tenant", "acme")
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body, json!({"id": 12, "tenant": "acme"}));
    let response = engine
        .client
        .put(engine.url("/echo/items/x"))
        .header("x-tenant", "acme")
        .send()
        .await
        .expect("put");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["problems"][0]["path"], "/id");
}

/// A mapping that runs out of a budget is the engine's failure (500 with a trace id, the
/// detail in the log), not the client's; a mapping the request's data does not fit is a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_input_mapping_over_its_budget_is_a_server_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = write_vms(
        root.path(),
        "triple",
        &[
            ("vms.yaml", "name: triple\n"),
            (
                "functions/echo.yaml",
                "input:\n- name: t\n  type: string\n  required: true\n",
            ),
            (
                "functions/echo.rhai",
                "fn main(input, ctx) { #{ length: input.t.len() } }\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: echo\n  method: POST\n  path: /triple\n  input:\n    t: request.body.s + request.body.s + request.body.s\n",
            ),
        ],
    );
    assert_eq!(engine.deploy("triple", "1", &dir, json!({})).await.0, 201);
    assert_eq!(
        engine.post("/triple/triple", &json!({"s": "ab"})).await,
        (200, json!({"length": 6}))
    );
    // No `s`: the data does not fit the mapping.
    let (status, body) = engine.post("/triple/triple", &json!({"x": 1})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["problems"][0]["path"], "/t");
    // 3 × 6 MiB is past the engine's 16 MiB string limit.
    let big = "x".repeat(6 << 20);
    let (status, body) = engine.post("/triple/triple", &json!({"s": big})).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "internal");
    assert_eq!(body["trace_id"].as_str().map(str::len), Some(32));
}

/// A function called from a flow with input that does not fit it is the flow's fault, not
/// the client's: the client gets a 500 with a trace id; its own bad input is still a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_call_with_bad_input_is_a_server_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let outer = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sw="https://starweave.dev/schema/bpmn/1.0" id="d" targetNamespace="https://starweave.dev/test">
  <bpmn:process id="outer" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:serviceTask id="call">
      <bpmn:extensionElements>
        <sw:task function="child">
          <sw:input name="id" expr="name"/>
          <sw:output name="answer" expr="result"/>
        </sw:task>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="call"/>
    <bpmn:sequenceFlow id="f1" sourceRef="call" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>
"#;
    let dir = write_vms(
        root.path(),
        "nested",
        &[
            ("vms.yaml", "name: nested\n"),
            (
                "functions/outer.yaml",
                "input:\n- name: name\n  type: string\n  required: true\n",
            ),
            ("functions/outer.bpmn", outer),
            (
                "functions/child.yaml",
                "input:\n- name: id\n  type: integer\n  required: true\n",
            ),
            ("functions/child.rhai", "fn main(input, ctx) { input }\n"),
            (
                "triggers.yaml",
                "- kind: http\n  function: outer\n  method: POST\n  path: /outer\n",
            ),
        ],
    );
    let (status, body) = engine.deploy("nested", "1", &dir, json!({})).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = engine.post("/nested/outer", &json!({"name": "ada"})).await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["error"], "internal");
    assert_eq!(body["trace_id"].as_str().map(str::len), Some(32));
    let (status, body) = engine.post("/nested/outer", &json!({})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["problems"][0]["path"], "/name");
}

/// A connector's coded error that no flow caught or mapped is the system behind it failing
/// the request: 502 with the code and the trace id, without the connector's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connector_error_nobody_caught_is_a_bad_gateway() {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let upstream_url = format!("http://{}", upstream.local_addr().expect("addr"));
    let app = axum::Router::new().route(
        "/charge",
        axum::routing::post(|| async { (axum::http::StatusCode::CONFLICT, "charge ch_42 exists") }),
    );
    tokio::spawn(async move { axum::serve(upstream, app).await });
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let flow = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sw="https://starweave.dev/schema/bpmn/1.0" id="d" targetNamespace="https://starweave.dev/test">
  <bpmn:process id="pay" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:serviceTask id="charge">
      <bpmn:extensionElements><sw:task connector="payments" method="charge"/></bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="charge"/>
    <bpmn:sequenceFlow id="f1" sourceRef="charge" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>
"#;
    let dir = write_vms(
        root.path(),
        "shop",
        &[
            ("vms.yaml", "name: shop\nenv:\n- name: PAY_URL\n"),
            (
                "connectors/payments.yaml",
                "kind: http\nbase_url: \"{{ env.PAY_URL }}\"\nmethods:\n- name: charge\n  method: POST\n  path: /charge\n  error_statuses:\n    \"409\": DUPLICATE\n",
            ),
            ("functions/pay.bpmn", flow),
            (
                "triggers.yaml",
                "- kind: http\n  function: pay\n  method: POST\n  path: /pay\n",
            ),
        ],
    );
    let (status, body) = engine
        .deploy("shop", "1", &dir, json!({"env": {"PAY_URL": upstream_url}}))
        .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = engine.post("/shop/pay", &json!({})).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"], "DUPLICATE", "{body}");
    assert!(body.get("message").is_none(), "{body}");
    assert_eq!(body["trace_id"].as_str().map(str::len), Some(32), "{body}");
}

/// A refused request is told the scheme its route takes (none for an API key), and the
/// errors of a matched route name the version that answered, like its successes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_name_the_scheme_and_errors_the_version() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = write_vms(
        root.path(),
        "vault",
        &[
            (
                "vms.yaml",
                "name: vault\nenv:\n- name: USER\n- name: PASS\n- name: KEY\n",
            ),
            (
                "functions/open.rhai",
                "fn main(input, ctx) { #{ open: true } }\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: open\n  method: GET\n  path: /basic\n  auth: { type: basic, username_env: USER, password_env: PASS }\n\
                 - kind: http\n  function: open\n  method: GET\n  path: /key\n  auth: { type: api_key, header: x-key, value_env: KEY }\n",
            ),
        ],
    );
    let env = json!({"env": {"USER": "ada", "PASS": "s3cret", "KEY": "k-1"}});
    let (status, body) = engine.deploy("vault", "v4", &dir, env).await;
    assert_eq!(status, 201, "{body}");
    let basic = engine
        .client
        .get(engine.url("/vault/basic"))
        .send()
        .await
        .expect("get");
    assert_eq!(basic.status(), 401);
    assert_eq!(
        basic
            .headers()
            .get("www-authenticate")
            .map(|v| v.as_bytes()),
        Some(&br#"Basic realm="vault""#[..])
    );
    assert_eq!(
        basic
            .headers()
            .get("x-starweave-version")
            .map(|v| v.as_bytes()),
        Some(&b"v4"[..])
    );
    let key = engine
        .client
        .get(engine.url("/vault/key"))
        .send()
        .await
        .expect("get");
    assert_eq!(key.status(), 401);
    assert!(key.headers().get("www-authenticate").is_none());
    let open = engine
        .client
        .get(engine.url("/vault/basic"))
        .basic_auth("ada", Some("s3cret"))
        .send()
        .await
        .expect("get");
    assert_eq!(open.status(), 200);
}

/// Sends `head` and `body_part` on a raw connection, optionally closes the sending side,
/// and returns the status of the answer.
async fn raw_post(
    addr: std::net::SocketAddr,
    declared: usize,
    body_part: &[u8],
    close: bool,
) -> u16 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "POST /greeter/hello HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\ncontent-length: {declared}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("head");
    stream.write_all(body_part).await.expect("body");
    if close {
        stream.shutdown().await.expect("shutdown");
    }
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(std::time::Duration::from_secs(20), stream.read(&mut buf))
            .await
            .expect("an answer")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&answer);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"))
}

/// Request bodies: one over the limit is a 413, one cut short a 400, one that does not
/// arrive within the body timeout a 408 — and a whole one still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_too_large_broken_or_too_slow() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions {
        body_timeout: std::time::Duration::from_millis(500),
        ..EngineOptions::default()
    })
    .await;
    let dir = greeter(root.path(), "greeter", "v1");
    assert_eq!(engine.deploy("greeter", "v1", &dir, json!({})).await.0, 201);

    let whole = br#"{"name":"ada"}"#;
    assert_eq!(raw_post(engine.data, whole.len(), whole, false).await, 201);
    // A declared length over the limit is refused before the body is read.
    let over = starweave_engine::server::data::MAX_BODY_BYTES + 1;
    assert_eq!(raw_post(engine.data, over, b"{", false).await, 413);
    // Ten bytes of a hundred, then the client stops sending.
    assert_eq!(
        raw_post(engine.data, 100, br#"{"name":"a"#, true).await,
        400
    );
    // Ten bytes of a hundred, and the connection stays open.
    assert_eq!(
        raw_post(engine.data, 100, br#"{"name":"a"#, false).await,
        408
    );
}
