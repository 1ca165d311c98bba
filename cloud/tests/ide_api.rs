//! The IDE API over loopback: a real `starweave up` on a temporary workspace.

mod ide_support;

use ide_support::{Server, code};
use serde_json::{Value, json};

fn workspace() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

#[tokio::test]
async fn first_start_creates_the_examples_and_lists_templates() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let (status, health) = server.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "ok");

    let (_, templates) = server.get("/templates").await;
    let names: Vec<&str> = templates
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    for expected in [
        "empty",
        "bff-aggregation",
        "order-orchestration",
        "scheduled-report",
    ] {
        assert!(names.contains(&expected), "{names:?}");
    }

    let (status, list) = server.get("/vms").await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["bff-aggregation", "order-orchestration", "scheduled-report"]
    );
    for vms in list.as_array().unwrap() {
        assert_eq!(vms["branch"], "main");
        assert_eq!(vms["dirty"], false);
    }
    // Each example is a repository with one commit.
    let (_, log) = server.get("/vms/bff-aggregation/git/log").await;
    assert_eq!(log.as_array().unwrap().len(), 1, "{log}");

    let (status, detail) = server.get("/vms/bff-aggregation").await;
    assert_eq!(status, 200);
    assert_eq!(detail["functions"].as_array().unwrap().len(), 2, "{detail}");
    let get_dashboard = detail["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == "getDashboard")
        .unwrap();
    assert_eq!(get_dashboard["kind"], "bpmn");
    assert_eq!(get_dashboard["file"], "functions/getDashboard.bpmn");
    assert!(
        detail["files"]
            .as_array()
            .unwrap()
            .contains(&json!("vms.yaml"))
    );
    assert!(
        !detail["files"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f.as_str().unwrap().starts_with(".git"))
    );
    assert_eq!(
        detail["triggers"][0]["summary"],
        "GET /users/{id}/dashboard"
    );
    assert_eq!(detail["tests"].as_array().unwrap().len(), 4);
    assert!(
        detail["env"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["name"] == "PROFILE_API_TOKEN" && e["secret"] == true)
    );

    // A second start does not recreate anything.
    server.stop();
    let server = Server::start(dir.path(), &[]);
    let (_, log) = server.get("/vms/bff-aggregation/git/log").await;
    assert_eq!(log.as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn create_from_templates_with_checked_names() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let (status, created) = server
        .post(
            "/vms",
            &json!({ "name": "shop", "template": "bff-aggregation" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["name"], "shop");
    assert_eq!(created["dirty"], false);
    let (_, manifest) = server.get("/vms/shop/files/vms.yaml").await;
    assert!(
        manifest["content"]
            .as_str()
            .unwrap()
            .starts_with("name: shop\n"),
        "{manifest}"
    );
    let (_, diagnostics) = server.get("/vms/shop/diagnostics").await;
    assert!(
        !diagnostics
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["severity"] == "error"),
        "{diagnostics}"
    );

    let (status, body) = server.post("/vms", &json!({ "name": "shop" })).await;
    assert_eq!((status, code(&body)), (409, "conflict"));
    let (status, body) = server.post("/vms", &json!({ "name": "../x" })).await;
    assert_eq!((status, code(&body)), (400, "invalid_name"));
    let (status, body) = server.post("/vms", &json!({ "name": "Shop" })).await;
    assert_eq!((status, code(&body)), (400, "invalid_name"));
    let (status, body) = server
        .post("/vms", &json!({ "name": "x", "template": "nope" }))
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = server.post("/vms", &json!({ "nam": "x" })).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
    let (status, body) = server.raw("/api/v1/vms", "POST", "127.0.0.1", Some("{not json"));
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("invalid_json"), "{body}");

    let (status, created) = server.post("/vms", &json!({ "name": "blank" })).await;
    assert_eq!(status, 201, "{created}");
    let (_, detail) = server.get("/vms/blank").await;
    assert_eq!(detail["files"], json!([".gitignore", "vms.yaml"]));
    let (status, body) = server.get("/vms/missing").await;
    assert_eq!((status, code(&body)), (404, "not_found"));
}

#[tokio::test]
async fn files_are_saved_even_when_invalid_and_answered_with_diagnostics() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    server
        .post("/vms", &json!({ "name": "shop", "template": "http-js" }))
        .await;
    let path = "/vms/shop/files/connectors/broken.yaml";
    let half_typed = "kind: http\nbase_url: [unclosed\n";
    let (status, answer) = server.put(path, &json!({ "content": half_typed })).await;
    assert_eq!(status, 200, "{answer}");
    let diagnostics = answer["diagnostics"].as_array().unwrap();
    assert!(
        diagnostics
            .iter()
            .any(|d| d["severity"] == "error" && d["file"] == "connectors/broken.yaml"),
        "{answer}"
    );
    let (_, read) = server.get(path).await;
    assert_eq!(read["content"], half_typed);
    assert_eq!(read["etag"], answer["etag"]);
    let (_, all) = server.get("/vms/shop/diagnostics").await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|d| d["file"] == "connectors/broken.yaml")
    );

    // A JavaScript syntax error is reported on the function's file.
    let (_, answer) = server
        .put(
            "/vms/shop/files/functions/hello.js",
            &json!({ "content": "export default async function (input, ctx) { return {; }\n" }),
        )
        .await;
    assert!(
        answer["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["file"] == "functions/hello.js" && d["severity"] == "error"),
        "{answer}"
    );

    // SQL that would fail the deploy is reported as it is saved, at its line in the YAML.
    let db = "kind: database\ndriver: sqlite\nurl_env: DB_URL\nmethods:\n- name: find\n  sql: |\n    SELECT * FROM t\n    WHERE <if test=\"id != null\">id = #{id}\n";
    let (status, answer) = server
        .put(
            "/vms/shop/files/connectors/db.yaml",
            &json!({ "content": db }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let sql: Vec<&Value> = answer["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "sql.syntax")
        .collect();
    assert_eq!(sql.len(), 1, "{answer}");
    assert_eq!(sql[0]["file"], "connectors/db.yaml");
    assert_eq!(sql[0]["pos"]["line"], 8, "{answer}");
    assert_eq!(sql[0]["pos"]["column"], 11, "{answer}");

    // Delete, then it is gone; deleting again is a 404.
    let (status, _) = server.delete(path).await;
    assert_eq!(status, 200);
    let (status, body) = server.get(path).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, body) = server.delete(path).await;
    assert_eq!((status, code(&body)), (404, "not_found"));
    let (status, body) = server.delete("/vms/shop/files/vms.yaml").await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
}

#[tokio::test]
async fn a_stale_etag_is_a_conflict_that_loses_nothing() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let path = "/vms/bff-aggregation/files/README.md";
    let (_, first) = server.get(path).await;
    let etag = first["etag"].as_str().unwrap().to_owned();
    let (status, second) = server
        .put(
            path,
            &json!({ "content": "edited elsewhere\n", "etag": etag }),
        )
        .await;
    assert_eq!(status, 200, "{second}");
    let (status, body) = server
        .put(path, &json!({ "content": "my stale edit\n", "etag": etag }))
        .await;
    assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
    assert_eq!(body["error"]["details"]["current"], "edited elsewhere\n");
    assert_eq!(body["error"]["details"]["etag"], second["etag"]);
    let (_, now) = server.get(path).await;
    assert_eq!(now["content"], "edited elsewhere\n");
    // With the current etag the write goes through.
    let (status, _) = server
        .put(
            path,
            &json!({ "content": "merged\n", "etag": second["etag"] }),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn a_20_mb_body_is_refused_and_the_file_is_unchanged() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let path = "/vms/bff-aggregation/files/README.md";
    let (_, before) = server.get(path).await;
    let huge = "x".repeat(20 * 1024 * 1024);
    let (status, body) = server.put(path, &json!({ "content": huge })).await;
    assert_eq!((status, code(&body)), (413, "too_large"), "{body}");
    let (_, after) = server.get(path).await;
    assert_eq!(after["content"], before["content"]);
    assert_eq!(after["etag"], before["etag"]);

    // A file made larger by another tool is not loaded to be read; and with a file in the
    // VMS too large to check, a save still succeeds, with the failed check as a diagnostic.
    let big = std::fs::File::create(dir.path().join("bff-aggregation/data.bin")).unwrap();
    big.set_len(65 * 1024 * 1024).unwrap();
    let (status, body) = server.get("/vms/bff-aggregation/files/data.bin").await;
    assert_eq!((status, code(&body)), (413, "too_large"), "{body}");
    let (status, saved) = server
        .put(
            path,
            &json!({ "content": "# Saved\n", "etag": before["etag"] }),
        )
        .await;
    assert_eq!(status, 200, "{saved}");
    assert!(
        saved["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "ide.check" && d["severity"] == "warning"),
        "{saved}"
    );
    let (_, after) = server.get(path).await;
    assert_eq!(after["content"], "# Saved\n");
    assert_eq!(after["etag"], saved["etag"]);
}

#[tokio::test]
async fn paths_outside_the_vms_are_refused_before_touching_the_disk() {
    let dir = workspace();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    let server = Server::start(dir.path(), &[]);
    let vms_dir = dir.path().join("bff-aggregation");
    std::os::unix::fs::symlink(outside.path(), vms_dir.join("escape")).unwrap();

    let base = "/api/v1/vms/bff-aggregation/files";
    let body = r#"{"content":"pwned"}"#;
    for target in [
        format!("{base}/../../../etc/passwd"),
        format!("{base}/functions/../../scheduled-report/vms.yaml"),
        format!("{base}/%2e%2e/scheduled-report/vms.yaml"),
        format!("{base}/%2E%2E%2Fscheduled-report%2Fvms.yaml"),
        format!("{base}//etc/passwd"),
        format!("{base}/%2Fetc%2Fpasswd"),
        format!("{base}/functions%5C..%5C..%5Cx"),
        format!("{base}/a%00b"),
        format!("{base}/.git/config"),
        format!("{base}/.git/hooks/pre-commit"),
        format!("{base}/escape/secret.txt"),
        format!("{base}/escape/new.txt"),
        // Below a file, which cannot hold files.
        format!("{base}/vms.yaml/x"),
        format!("{base}/vms.yaml/a/b"),
    ] {
        for method in ["GET", "PUT", "DELETE"] {
            let (status, answer) = server.raw(
                &target,
                method,
                "127.0.0.1",
                (method == "PUT").then_some(body),
            );
            // `..` in the raw target may be resolved by the router to another route (404);
            // what must never happen is a success.
            assert!(
                status == 400 || status == 404,
                "{method} {target}: {status} {answer}"
            );
            if status == 400 {
                assert!(
                    answer.contains("invalid_path"),
                    "{method} {target}: {answer}"
                );
            }
        }
    }
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
        "top secret"
    );
    assert!(!outside.path().join("new.txt").exists());
    assert!(!vms_dir.join(".git/hooks/pre-commit").exists());
    assert!(
        !std::fs::read_to_string(dir.path().join("scheduled-report/vms.yaml"))
            .unwrap()
            .contains("pwned")
    );
    // A VMS name cannot climb either.
    let (status, answer) = server.raw("/api/v1/vms/%2e%2e/files/x", "GET", "127.0.0.1", None);
    assert_eq!(status, 400, "{answer}");
}

#[tokio::test]
async fn a_run_with_mocks_has_a_trace_and_its_history_survives_a_restart() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let request = json!({
        "function": "getDashboard",
        "input": { "id": "u-1001" },
        "mocks": {
            "profile.getUser": { "output": {
                "id": "u-1001", "displayName": "Ada Lovelace", "email": "ada@example.com",
                "tier": "gold", "memberSince": "2019-04-02", "preferredCurrency": "EUR" } },
            "orders.listRecent": { "error": { "code": "ORDERS_UNAVAILABLE", "message": "down" } }
        }
    });
    let (status, result) = server.post("/vms/bff-aggregation/run", &request).await;
    assert_eq!(status, 200, "{result}");
    assert_eq!(result["ok"], true, "{result}");
    assert_eq!(result["output"]["user"]["name"], "Ada Lovelace");
    let trace = result["trace"].as_array().unwrap();
    assert!(trace.len() > 3, "{result}");
    assert!(trace.iter().any(|s| s["element_kind"] == "start_event"));
    // With the orders down, the code function called from the flow logs a warning: the run
    // gives it back with the function that logged it.
    let logs = result["logs"].as_array().unwrap();
    assert_eq!(logs.len(), 1, "{result}");
    assert_eq!(logs[0]["level"], "warn");
    assert_eq!(logs[0]["function"], "buildDashboard");
    assert_eq!(
        logs[0]["message"],
        "orders service unavailable; dashboard for u-1001 has no orders"
    );
    assert!(logs[0]["offset_us"].as_u64().unwrap() > 0, "{result}");
    let run_id = result["id"].as_str().unwrap().to_owned();

    // A failing run is recorded too.
    let (_, failed) = server
        .post(
            "/vms/bff-aggregation/run",
            &json!({ "function": "getDashboard", "input": { "id": 42 } }),
        )
        .await;
    assert_eq!(failed["ok"], false, "{failed}");
    assert!(failed["error"]["code"].is_string());

    let (status, body) = server
        .post(
            "/vms/bff-aggregation/run",
            &json!({ "function": "nope", "input": {} }),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));

    // A deadline past a day is refused before anything runs (and is not recorded).
    let (status, body) = server
        .post(
            "/vms/bff-aggregation/run",
            &json!({ "function": "getDashboard", "input": {}, "timeout_ms": u64::MAX }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert!(body.to_string().contains("1..=86400000"), "{body}");

    server.stop();
    let server = Server::start(dir.path(), &[]);
    let (status, runs) = server
        .get("/vms/bff-aggregation/runs?function=getDashboard")
        .await;
    assert_eq!(status, 200);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    assert_eq!(runs[0]["result"]["ok"], false, "newest first");
    assert_eq!(runs[1]["id"], run_id);
    assert_eq!(runs[1]["result"]["output"]["user"]["name"], "Ada Lovelace");
    assert_eq!(runs[1]["input"], json!({ "id": "u-1001" }));
    let (_, other) = server
        .get("/vms/bff-aggregation/runs?function=buildDashboard")
        .await;
    assert_eq!(other, json!([]));
}

#[tokio::test]
async fn a_function_that_does_not_compile_is_not_run() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    server
        .post("/vms", &json!({ "name": "r", "template": "rhai" }))
        .await;
    let (_, detail) = server.get("/vms/r").await;
    let function = detail["functions"][0].clone();
    server
        .put(
            &format!("/vms/r/files/{}", function["file"].as_str().unwrap()),
            &json!({ "content": "let x = ;" }),
        )
        .await;
    let (status, body) = server
        .post(
            "/vms/r/run",
            &json!({ "function": function["name"], "input": {} }),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "invalid_vms"), "{body}");
    assert!(
        !body["error"]["details"]["diagnostics"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn test_cases_run() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let (status, report) = server
        .post("/vms/bff-aggregation/tests/run", &json!({}))
        .await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["passed"], 4, "{report}");
    assert_eq!(report["failed"], 0, "{report}");
    let (_, one) = server
        .post(
            "/vms/bff-aggregation/tests/run",
            &json!({ "function": "getDashboard", "name": "vip_customer" }),
        )
        .await;
    assert_eq!(one["results"].as_array().unwrap().len(), 1);
    // Break the expectation: the case fails with a message.
    let case = "/vms/bff-aggregation/files/tests/getDashboard/unknown_user.yaml";
    let (_, file) = server.get(case).await;
    let broken = file["content"].as_str().unwrap().replace(
        "\nerror:\n  code: NOT_FOUND",
        "\nerror:\n  code: SOMETHING_ELSE",
    );
    server.put(case, &json!({ "content": broken })).await;
    let (_, report) = server
        .post("/vms/bff-aggregation/tests/run", &json!({}))
        .await;
    assert_eq!(report["failed"], 1, "{report}");
    let failed = report["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["passed"] == false)
        .unwrap();
    assert_eq!(failed["name"], "unknown_user");
    assert!(
        failed["message"]
            .as_str()
            .unwrap()
            .contains("SOMETHING_ELSE"),
        "{failed}"
    );
}

#[tokio::test]
async fn parameters_are_inferred_and_converted() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let (status, inferred) = server
        .post(
            "/params/infer",
            &json!({ "sample": { "id": 7, "name": "Ada", "tags": ["a", "b"], "address": { "city": "Paris" } } }),
        )
        .await;
    assert_eq!(status, 200, "{inferred}");
    let names: Vec<&str> = inferred["params"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["id", "name", "tags", "address"]);
    assert_eq!(inferred["params"][0]["type"], "integer");
    assert!(inferred["yaml"].as_str().unwrap().contains("name: address"));
    assert!(inferred["csv"].as_str().unwrap().contains("address.city"));

    let (_, from_csv) = server
        .post(
            "/params/convert",
            &json!({ "from": "csv", "content": inferred["csv"] }),
        )
        .await;
    assert_eq!(from_csv["params"], inferred["params"]);
    assert_eq!(from_csv["diagnostics"], json!([]));
    let (_, from_yaml) = server
        .post(
            "/params/convert",
            &json!({ "from": "yaml", "content": inferred["yaml"] }),
        )
        .await;
    assert_eq!(from_yaml["csv"], inferred["csv"]);
    let (_, bad) = server
        .post(
            "/params/convert",
            &json!({ "from": "yaml", "content": "- name: [" }),
        )
        .await;
    assert!(!bad["diagnostics"].as_array().unwrap().is_empty(), "{bad}");
    let (status, body) = server
        .post("/params/convert", &json!({ "from": "xml", "content": "" }))
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"));
}

#[tokio::test]
async fn an_openapi_document_becomes_a_connector_file() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let document = r#"
openapi: 3.0.3
info: { title: Pets, version: "1" }
servers: [{ url: "https://pets.example.com/v1" }]
paths:
  /pets/{petId}:
    get:
      operationId: getPet
      parameters:
        - { name: petId, in: path, required: true, schema: { type: string } }
      responses:
        "200":
          description: ok
          content:
            application/json:
              schema:
                type: object
                properties: { id: { type: string }, name: { type: string } }
        "404": { description: missing }
"#;
    let (status, answer) = server
        .post(
            "/vms/bff-aggregation/connectors/pets/import-openapi",
            &json!({ "document": document, "base_url_env": "PETS_URL" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["file"], "connectors/pets.yaml");
    assert_eq!(answer["methods"], json!(["getPet"]));
    let (_, file) = server
        .get("/vms/bff-aggregation/files/connectors/pets.yaml")
        .await;
    let content = file["content"].as_str().unwrap();
    assert!(content.contains("kind: http"), "{content}");
    assert!(content.contains("{{ env.PETS_URL }}"), "{content}");
    let (_, detail) = server.get("/vms/bff-aggregation").await;
    let pets = detail["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "pets")
        .expect("the imported connector is part of the VMS");
    assert_eq!(pets["methods"][0]["name"], "getPet");

    let (_, broken) = server
        .post(
            "/vms/bff-aggregation/connectors/junk/import-openapi",
            &json!({ "document": "{ not: [ valid" }),
        )
        .await;
    assert!(
        !broken["diagnostics"].as_array().unwrap().is_empty(),
        "{broken}"
    );
    let (status, body) = server
        .post(
            "/vms/bff-aggregation/connectors/..%2Fx/import-openapi",
            &json!({ "document": document }),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_name"), "{body}");
}

#[tokio::test]
async fn try_a_database_method_and_test_the_connection_against_postgresql() {
    use sqlx::Connection;
    let url = "postgres://postgres@127.0.0.1:5432/test";
    let schema = format!("ide_try_{}", std::process::id());
    let mut db = sqlx::PgConnection::connect(url)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432 (cargo xtask test starts it)");
    for statement in [
        format!("DROP SCHEMA IF EXISTS {schema} CASCADE"),
        format!("CREATE SCHEMA {schema}"),
        format!("CREATE TABLE {schema}.items (id integer PRIMARY KEY, name text NOT NULL)"),
        format!("INSERT INTO {schema}.items VALUES (1, 'bolt'), (2, 'nut'), (3, 'bolt')"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&mut db)
            .await
            .unwrap();
    }

    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    server.post("/vms", &json!({ "name": "inventory" })).await;
    let connector = format!(
        "kind: database\ndriver: postgres\nurl_env: INVENTORY_DB_URL\nmethods:\n- name: byName\n  sql: |\n    SELECT id, name FROM {schema}.items WHERE name = #{{name}} ORDER BY id\n  input:\n  - name: name\n    type: string\n    required: true\n"
    );
    let (status, written) = server
        .put(
            "/vms/inventory/files/connectors/stock.yaml",
            &json!({ "content": connector }),
        )
        .await;
    assert_eq!(status, 200, "{written}");
    let (status, tried) = server
        .post(
            "/vms/inventory/connectors/stock/methods/byName/try",
            &json!({ "input": { "name": "bolt" }, "env": { "INVENTORY_DB_URL": url } }),
        )
        .await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["ok"], true, "{tried}");
    assert_eq!(
        tried["output"],
        json!([{ "id": 1, "name": "bolt" }, { "id": 3, "name": "bolt" }])
    );
    assert!(tried["duration_ms"].as_f64().unwrap() >= 0.0);

    // Without the env value the call fails with a message, not a server error.
    let (status, failed) = server
        .post(
            "/vms/inventory/connectors/stock/methods/byName/try",
            &json!({ "input": { "name": "bolt" } }),
        )
        .await;
    assert_eq!(status, 200, "{failed}");
    assert_eq!(failed["ok"], false, "{failed}");
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap()
            .contains("INVENTORY_DB_URL"),
        "{failed}"
    );

    let (status, body) = server
        .post(
            "/vms/inventory/connectors/stock/methods/nope/try",
            &json!({}),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"));

    // The connection test of the same connector: the server's version, or the reason.
    let (status, tested) = server
        .post(
            "/vms/inventory/connectors/stock/test",
            &json!({ "env": { "INVENTORY_DB_URL": url } }),
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    assert_eq!(tested["ok"], true, "{tested}");
    assert!(
        tested["summary"]
            .as_str()
            .unwrap()
            .starts_with("connected to PostgreSQL "),
        "{tested}"
    );
    assert_eq!(tested["notes"], json!([]), "{tested}");
    let (status, refused) = server
        .post(
            "/vms/inventory/connectors/stock/test",
            &json!({ "env": { "INVENTORY_DB_URL": "postgres://postgres@127.0.0.1:5432/sw_absent_db" } }),
        )
        .await;
    assert_eq!(status, 200, "{refused}");
    assert_eq!(refused["ok"], false, "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("database \"sw_absent_db\" does not exist"),
        "{refused}"
    );
    let (status, body) = server
        .post("/vms/inventory/connectors/nope/test", &json!({}))
        .await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
    let (status, body) = server
        .post(
            "/vms/inventory/connectors/stock/test",
            &json!({ "envs": {} }),
        )
        .await;
    assert_eq!(status, 400, "unknown fields are refused: {body}");
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut db)
        .await
        .unwrap();
}

#[tokio::test]
async fn this_machines_env_values_apply_to_runs_and_stay_out_of_git() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let (status, created) = server
        .post("/vms", &json!({ "name": "hello", "template": "http-js" }))
        .await;
    assert_eq!(status, 201, "{created}");
    let vms_dir = dir.path().join("hello");
    let srv = &server;
    let greet = move || async move {
        let (status, result) = srv
            .post(
                "/vms/hello/run",
                &json!({ "function": "hello", "input": { "name": "Ada" } }),
            )
            .await;
        assert_eq!(status, 200, "{result}");
        result["output"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let (status, local) = server.get("/vms/hello/local-env").await;
    assert_eq!(status, 200, "{local}");
    assert_eq!(
        local,
        json!({ "file": ".env.local", "exists": false, "values": {}, "error": null,
                "undeclared": [], "git": "ignored" }),
        "a new VMS's .gitignore keeps the file out of Git"
    );
    assert_eq!(greet().await, "Hello, Ada!", "the declared default");

    // A value for this machine: the run uses it over the default; a request's own value wins.
    let (status, local) = server
        .put(
            "/vms/hello/local-env/GREETING",
            &json!({ "value": "Howdy" }),
        )
        .await;
    assert_eq!(status, 200, "{local}");
    assert_eq!(local["values"], json!({ "GREETING": "Howdy" }));
    assert_eq!(greet().await, "Howdy, Ada!");
    let (_, result) = server
        .post(
            "/vms/hello/run",
            &json!({ "function": "hello", "input": { "name": "Ada" }, "env": { "GREETING": "Hi" } }),
        )
        .await;
    assert_eq!(result["output"]["message"], "Hi, Ada!");
    assert_eq!(
        std::fs::read_to_string(vms_dir.join(".env.local")).unwrap(),
        "GREETING=Howdy\n"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(vms_dir.join(".env.local"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "only its owner may read it");
    }
    let porcelain = ide_support::git(&vms_dir, &["status", "--porcelain", "--ignored"]);
    assert!(
        porcelain.contains("!! .env.local"),
        "git sees it as ignored: {porcelain}"
    );
    let (_, status) = server.get("/vms/hello/git/status").await;
    assert!(
        !status.to_string().contains(".env.local"),
        "the Git panel does not offer it for a commit: {status}"
    );

    // Edited by hand: comments stay when the IDE sets a value; an undeclared name is
    // reported (and not given to runs); a value with a `#` is quoted.
    std::fs::write(
        vms_dir.join(".env.local"),
        "# mine\nGREETING=Hey # casual\nNOPE=1\n",
    )
    .unwrap();
    let (_, local) = server.get("/vms/hello/local-env").await;
    assert_eq!(local["undeclared"], json!(["NOPE"]), "{local}");
    let (_, diagnostics) = server.get("/vms/hello/diagnostics").await;
    assert!(
        diagnostics
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["code"] == "vms.local-env-undeclared"
                && d["file"] == ".env.local"
                && d["severity"] == "warning"),
        "{diagnostics}"
    );
    assert_eq!(greet().await, "Hey, Ada!");
    let (status, _) = server
        .put(
            "/vms/hello/local-env/GREETING",
            &json!({ "value": "Yo #1" }),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        std::fs::read_to_string(vms_dir.join(".env.local")).unwrap(),
        "# mine\nGREETING='Yo #1'\nNOPE=1\n"
    );
    assert_eq!(greet().await, "Yo #1, Ada!");

    // A file that does not parse is never overwritten, and runs say why they cannot start.
    let broken = "# mine\nGREETING='Yo\nNOPE=1\n";
    std::fs::write(vms_dir.join(".env.local"), broken).unwrap();
    let (_, local) = server.get("/vms/hello/local-env").await;
    assert_eq!(local["error"]["line"], 2, "{local}");
    assert_eq!(local["error"]["column"], 10, "{local}");
    let (status, body) = server
        .put("/vms/hello/local-env/GREETING", &json!({ "value": "x" }))
        .await;
    assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
    let (status, body) = server.delete("/vms/hello/local-env/GREETING").await;
    assert_eq!((status, code(&body)), (409, "conflict"), "{body}");
    assert_eq!(
        std::fs::read_to_string(vms_dir.join(".env.local")).unwrap(),
        broken
    );
    let (status, body) = server
        .post(
            "/vms/hello/run",
            &json!({ "function": "hello", "input": { "name": "Ada" } }),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(".env.local:2:10: the value opened with ' here is never closed"),
        "{body}"
    );

    // Cleared: the default again.
    std::fs::write(vms_dir.join(".env.local"), "GREETING=Hey\n").unwrap();
    let (status, local) = server.delete("/vms/hello/local-env/GREETING").await;
    assert_eq!(status, 200, "{local}");
    assert_eq!(local["values"], json!({}));
    assert_eq!(greet().await, "Hello, Ada!");

    // Names are checked; the body is checked.
    let (status, body) = server
        .put("/vms/hello/local-env/1X", &json!({ "value": "x" }))
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_name"), "{body}");
    let (status, body) = server
        .put("/vms/hello/local-env/GREETING", &json!({ "val": "x" }))
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = server
        .put(
            "/vms/hello/local-env/GREETING",
            &json!({ "value": "a\u{0}b" }),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");

    // A repository without a .gitignore entry (an example VMS): the first write adds the
    // file to the clone's own .git/info/exclude, and no tracked file changes.
    let (status, _) = server
        .post(
            "/vms",
            &json!({ "name": "shop", "template": "bff-aggregation" }),
        )
        .await;
    assert_eq!(status, 201);
    let shop = dir.path().join("shop");
    let (_, local) = server.get("/vms/shop/local-env").await;
    assert_eq!(
        local["git"], "not_ignored",
        "nothing keeps it out of Git yet: {local}"
    );
    // Made by hand where no ignore rule covers it: the Git panel does not list it, "commit
    // all" leaves it out, and naming it in a commit is refused.
    std::fs::write(shop.join(".env.local"), "PROFILE_API_TOKEN=by-hand\n").unwrap();
    std::fs::write(shop.join("NOTES.md"), "notes\n").unwrap();
    let (_, status) = server.get("/vms/shop/git/status").await;
    assert_eq!(
        status["files"],
        json!([{ "path": "NOTES.md", "status": "new" }]),
        "{status}"
    );
    let (status, body) = server
        .post("/vms/shop/git/commit", &json!({ "message": "Notes" }))
        .await;
    assert_eq!(status, 200, "{body}");
    let tracked = ide_support::git(&shop, &["ls-files"]);
    assert!(tracked.contains("NOTES.md"), "{tracked}");
    assert!(!tracked.contains(".env.local"), "{tracked}");
    let (status, body) = server
        .post(
            "/vms/shop/git/commit",
            &json!({ "message": "Oops", "paths": [".env.local"] }),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    // Nor under another name through a link to a folder (the VMS itself, or one outside).
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("id_key"), "private").unwrap();
    std::os::unix::fs::symlink(".", shop.join("here")).unwrap();
    std::os::unix::fs::symlink(outside.path(), shop.join("out")).unwrap();
    for path in ["here/.env.local", "out/id_key"] {
        let (status, body) = server
            .post(
                "/vms/shop/git/commit",
                &json!({ "message": "Oops", "paths": [path] }),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (400, "invalid_path"),
            "{path}: {body}"
        );
    }
    let tracked = ide_support::git(&shop, &["ls-files"]);
    assert!(
        !tracked.contains("id_key") && !tracked.contains(".env.local"),
        "{tracked}"
    );
    std::fs::remove_file(shop.join("here")).unwrap();
    std::fs::remove_file(shop.join("out")).unwrap();
    let (status, local) = server
        .put(
            "/vms/shop/local-env/PROFILE_API_TOKEN",
            &json!({ "value": "s3cret token" }),
        )
        .await;
    assert_eq!(status, 200, "{local}");
    assert_eq!(local["git"], "ignored", "{local}");
    let exclude = std::fs::read_to_string(shop.join(".git/info/exclude")).unwrap();
    assert!(exclude.lines().any(|l| l == "/.env.local"), "{exclude}");
    assert_eq!(
        ide_support::git(&shop, &["status", "--porcelain"]),
        "",
        "no tracked or untracked change"
    );
    assert_eq!(
        std::fs::read_to_string(shop.join(".env.local")).unwrap(),
        "PROFILE_API_TOKEN='s3cret token'\n",
        "the hand-written value was replaced in place"
    );
    let (status, tested) = server
        .post("/vms/shop/connectors/profile/test", &json!({}))
        .await;
    assert_eq!(status, 200, "{tested}");
    assert!(
        !tested.to_string().contains("s3cret"),
        "the secret stays out of answers: {tested}"
    );
}

#[tokio::test]
async fn grpc_methods_are_listed_and_imported_from_the_descriptor_set() {
    use prost::Message as _;
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let (status, _) = server.post("/vms", &json!({ "name": "rpc" })).await;
    assert_eq!(status, 201);
    // The engine's test service, compiled the way `protoc --descriptor_set_out` would.
    let protos =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../engine/testdata/io/grpc");
    let set = protox::compile(["greeter.proto"], [&protos])
        .expect("greeter.proto compiles")
        .encode_to_vec();
    std::fs::create_dir_all(dir.path().join("rpc/protos")).unwrap();
    std::fs::write(dir.path().join("rpc/protos/greeter.binpb"), set).unwrap();
    let connector =
        "kind: grpc\nendpoint: http://127.0.0.1:50051\ndescriptor_set: protos/greeter.binpb\n";
    let (status, _) = server
        .put(
            "/vms/rpc/files/connectors/greeter.yaml",
            &json!({ "content": connector }),
        )
        .await;
    assert_eq!(status, 200);

    let (status, listed) = server.get("/vms/rpc/connectors/greeter/grpc-methods").await;
    assert_eq!(status, 200, "{listed}");
    assert_eq!(listed["services"][0]["name"], "starweave.test.v1.Greeter");
    let methods = listed["services"][0]["methods"].as_array().unwrap();
    let say = &methods[0];
    assert_eq!(say["method"], "starweave.test.v1.Greeter/SayHello");
    assert_eq!(say["input_type"], "starweave.test.v1.HelloRequest");
    assert_eq!(say["imported_as"], Value::Null);
    assert!(
        methods
            .iter()
            .any(|m| m["method"] == "starweave.test.v1.Greeter/Watch" && m["streaming"] == true),
        "{listed}"
    );

    let (status, imported) = server
        .post("/vms/rpc/connectors/greeter/import-grpc", &json!({}))
        .await;
    assert_eq!(status, 200, "{imported}");
    assert_eq!(imported["added"], json!(["sayHello", "fail", "slow"]));
    assert_eq!(imported["file"], "connectors/greeter.yaml");
    let written = std::fs::read_to_string(dir.path().join("rpc/connectors/greeter.yaml")).unwrap();
    assert!(
        written.contains("method: starweave.test.v1.Greeter/SayHello"),
        "{written}"
    );
    let Some(starweave_model::vms::Connector::Grpc(read)) =
        starweave_model::vms::disk::parse_connector("greeter.yaml", &written).0
    else {
        panic!("not a gRPC connector: {written}");
    };
    let times = read.methods[0].input.iter().find(|p| p.name == "times");
    assert_eq!(
        times.map(|p| p.ty),
        Some(starweave_model::vms::ParamType::Integer),
        "{written}"
    );
    let (_, listed) = server.get("/vms/rpc/connectors/greeter/grpc-methods").await;
    assert_eq!(
        listed["services"][0]["methods"][0]["imported_as"],
        "sayHello"
    );
    let (_, diagnostics) = server.get("/vms/rpc/diagnostics").await;
    assert!(
        !diagnostics
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["severity"] == "error"),
        "{diagnostics}"
    );
    // Again, one method by name: its parameters are refreshed, nothing is added.
    let (status, again) = server
        .post(
            "/vms/rpc/connectors/greeter/import-grpc",
            &json!({ "methods": ["starweave.test.v1.Greeter/SayHello"] }),
        )
        .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(
        (again["added"].clone(), again["updated"].clone()),
        (json!([]), json!(["sayHello"]))
    );

    // What cannot be imported says why.
    let (status, body) = server
        .post(
            "/vms/rpc/connectors/greeter/import-grpc",
            &json!({ "methods": ["starweave.test.v1.Greeter/Watch"] }),
        )
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("streaming"),
        "{body}"
    );
    let (status, _) = server
        .put(
            "/vms/rpc/files/connectors/other.yaml",
            &json!({ "content": "kind: grpc\nendpoint: http://127.0.0.1:1\ndescriptor_set: protos/none.binpb\n" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = server.get("/vms/rpc/connectors/other/grpc-methods").await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("protos/none.binpb"),
        "{body}"
    );
    let (status, _) = server
        .put(
            "/vms/rpc/files/connectors/settings.yaml",
            &json!({ "content": "kind: config\nvalues: []\n" }),
        )
        .await;
    assert_eq!(status, 200);
    let (status, body) = server
        .get("/vms/rpc/connectors/settings/grpc-methods")
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    let (status, body) = server.get("/vms/rpc/connectors/nope/grpc-methods").await;
    assert_eq!((status, code(&body)), (404, "not_found"), "{body}");
}

#[tokio::test]
async fn references_for_the_editors() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let (status, builtins) = server.get("/reference/expressions").await;
    assert_eq!(status, 200);
    let builtins = builtins.as_array().unwrap();
    assert!(builtins.len() > 20);
    let sha = builtins.iter().find(|b| b["name"] == "sha256").unwrap();
    for key in ["signature", "description", "example"] {
        assert!(sha[key].is_string(), "{sha}");
    }
    let response = server
        .client
        .get(server.url("/reference/ctx?vms=bff-aggregation"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let ts = response.text().await.unwrap();
    assert!(ts.contains("interface StarweaveCtx"), "{ts}");
    assert!(ts.contains("listRecent("), "{ts}");
}

#[tokio::test]
async fn every_documented_endpoint_is_served() {
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let (status, document) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    let paths = document["paths"].as_object().unwrap();
    assert!(paths.len() >= 20);
    for (path, item) in paths {
        let concrete = path
            .replace("{vms}", "no-such-vms")
            .replace("{path}", "vms.yaml")
            .replace("{name}", "c")
            .replace("{method}", "m");
        for method in item.as_object().unwrap().keys() {
            let response = server
                .client
                .request(
                    reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    format!("{}{concrete}", server.base),
                )
                .json(&json!({}))
                .send()
                .await
                .unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            assert_ne!(status, 405, "{method} {path}");
            assert!(
                !body["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .contains("no such API endpoint"),
                "{method} {path}: {body}"
            );
        }
    }
}

#[tokio::test]
async fn foreign_hosts_are_refused_and_the_token_is_required() {
    let dir = workspace();
    let server = Server::start(dir.path(), &["--token", "s3cret-token"]);
    let (status, body) = server.raw("/api/v1/health", "GET", "evil.example:7070", None);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("forbidden_host"));
    let (status, _) = server.raw("/api/v1/health", "GET", "localhost:7070", None);
    assert_eq!(status, 200);

    let response = server.client.get(server.url("/vms")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(code(&body), "unauthorized");
    let response = server
        .client
        .get(server.url("/vms"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let (status, _) = server.get("/vms").await; // with the token
    assert_eq!(status, 200);
}

#[tokio::test]
async fn the_ui_is_served_with_an_spa_fallback() {
    let dir = workspace();
    let ui = tempfile::tempdir().unwrap();
    let index = "<!doctype html><title>IDE</title><script src=\"/app.js\"></script>";
    std::fs::write(ui.path().join("index.html"), index).unwrap();
    std::fs::write(ui.path().join("app_bg.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(
        ui.path().join("app.js"),
        "console.log('starweave');\n".repeat(200),
    )
    .unwrap();
    let server = Server::start(dir.path(), &["--ui-dir", ui.path().to_str().unwrap()]);

    let get = |path: &str| server.client.get(format!("{}{path}", server.base)).send();
    let response = get("/").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), index);
    let response = get("/app_bg.wasm").await.unwrap();
    assert_eq!(response.headers()["content-type"], "application/wasm");
    let response = get("/vms/shop/functions/getDashboard").await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), index);
    let response = get("/api/v2/nothing").await.unwrap();
    assert_eq!(response.status(), 404);
    let response = server
        .client
        .get(format!("{}/app.js", server.base))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    assert!(response.headers().contains_key("cache-control"));
    let response = server
        .client
        .get(server.url("/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["content-encoding"], "gzip");
    server.stop();

    // Without --ui-dir, a page answers at / (the UI embedded at build time, or a note
    // saying how to build it).
    let server = Server::start(dir.path(), &[]);
    let response = server
        .client
        .get(format!("{}/", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn deleting_a_symbolic_link_deletes_the_link_not_its_target() {
    let dir = workspace();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.txt"), "top secret").unwrap();
    let server = Server::start(dir.path(), &[]);
    let vms_dir = dir.path().join("bff-aggregation");
    let manifest = std::fs::read_to_string(vms_dir.join("vms.yaml")).unwrap();
    std::os::unix::fs::symlink("vms.yaml", vms_dir.join("current.yaml")).unwrap();
    std::os::unix::fs::symlink(".", vms_dir.join("here")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("secret.txt"), vms_dir.join("leak.txt"))
        .unwrap();
    let files = "/vms/bff-aggregation/files";

    // Reading and writing through a link inside the VMS reach its target, as before.
    let (status, read) = server.get(&format!("{files}/current.yaml")).await;
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["content"], manifest.as_str());
    let (status, written) = server
        .put(
            &format!("{files}/current.yaml"),
            &json!({ "content": manifest }),
        )
        .await;
    assert_eq!(status, 200, "{written}");
    assert!(
        std::fs::symlink_metadata(vms_dir.join("current.yaml"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    // A link out of the VMS is still neither read nor written through.
    let (status, body) = server.get(&format!("{files}/leak.txt")).await;
    assert_eq!((status, code(&body)), (400, "invalid_path"), "{body}");
    let (status, body) = server
        .put(&format!("{files}/leak.txt"), &json!({ "content": "pwned" }))
        .await;
    assert_eq!((status, code(&body)), (400, "invalid_path"), "{body}");

    // Deleting the link removes the link; the manifest stays.
    let (status, body) = server.delete(&format!("{files}/current.yaml")).await;
    assert_eq!(status, 200, "{body}");
    assert!(std::fs::symlink_metadata(vms_dir.join("current.yaml")).is_err());
    assert_eq!(
        std::fs::read_to_string(vms_dir.join("vms.yaml")).unwrap(),
        manifest
    );

    // `vms.yaml` reached through a link to a folder is still `vms.yaml`.
    let (status, body) = server.delete(&format!("{files}/here/vms.yaml")).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
    assert!(vms_dir.join("vms.yaml").is_file());

    // A link out of the VMS can be deleted: only the link goes.
    let (status, body) = server.delete(&format!("{files}/leak.txt")).await;
    assert_eq!(status, 200, "{body}");
    assert!(std::fs::symlink_metadata(vms_dir.join("leak.txt")).is_err());
    assert_eq!(
        std::fs::read_to_string(outside.path().join("secret.txt")).unwrap(),
        "top secret"
    );
}

#[tokio::test]
async fn a_save_keeps_the_files_permissions() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = workspace();
    let server = Server::start(dir.path(), &[]);
    let vms_dir = dir.path().join("bff-aggregation");
    let mode = |name: &str| {
        std::fs::metadata(vms_dir.join(name))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    for (name, content, permissions) in [
        (".env.local", "API_KEY=mine\n", 0o600),
        ("scripts/seed.sh", "#!/bin/sh\necho seed\n", 0o755),
        ("notes.txt", "read only for others\n", 0o640),
    ] {
        let file = vms_dir.join(name);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, content).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(permissions)).unwrap();
        let edited = format!("{content}# edited\n");
        let (status, body) = server
            .put(
                &format!("/vms/bff-aggregation/files/{name}"),
                &json!({ "content": edited }),
            )
            .await;
        assert_eq!(status, 200, "{name}: {body}");
        assert_eq!(std::fs::read_to_string(&file).unwrap(), edited);
        assert_eq!(mode(name), permissions, "{name}");
    }
}
