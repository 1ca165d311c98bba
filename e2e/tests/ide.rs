//! The IDE's Must-show scenarios, each a real browser session against `starweave up`.
//!
//! Every test starts its own server over a fresh workspace and its own Chromium; screenshots
//! land in `<target>/e2e-artifacts/<test>/NN-step.png`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, ensure};
use fantoccini::key::Key;
use serde_json::json;
use starweave_e2e::canvas::new_vms;
use starweave_e2e::{Ide, git, repo_root, testid};

#[tokio::test(flavor = "multi_thread")]
async fn create_vms_from_the_bff_template() -> Result<()> {
    let mut ide = Ide::start("create_vms_from_the_bff_template").await?;
    ide.step("ide-loaded").await?;
    new_vms(&ide, "shop-bff", "bff-aggregation").await?;
    ide.find("explorer-item-function-getDashboard").await?;
    ide.find("explorer-item-function-buildDashboard").await?;
    ide.find("explorer-item-connector-orders").await?;
    ide.step("bff-created").await?;

    // On disk: a Git repository with the template's files and a first commit.
    let dir = ide.workspace().join("shop-bff");
    ensure!(
        dir.join("vms.yaml").is_file(),
        "no vms.yaml in {}",
        dir.display()
    );
    ensure!(dir.join("functions/getDashboard.bpmn").is_file());
    let log = git(&dir, &["log", "--oneline"])?;
    ensure!(log.lines().count() == 1, "expected one commit, got:\n{log}");
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn javascript_function_with_ctx_completion() -> Result<()> {
    let mut ide = Ide::start("javascript_function_with_ctx_completion").await?;
    new_vms(&ide, "greeter", "bff-aggregation").await?;
    ide.click("new-function-button").await?;
    ide.fill("new-function-name", "greet").await?;
    ide.set_value("new-function-language", "js").await?;
    ide.step("new-function-form").await?;
    ide.click("new-function-create").await?;
    ide.find("explorer-item-function-greet").await?;
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await?;
    ide.step("function-created").await?;

    // Type through real key events: go to the end of the body and start a `ctx.` expression.
    let textarea = ide
        .find_css(&format!("{} .monaco-editor textarea", testid("editor")))
        .await?;
    ide.find_css(&format!("{} .monaco-editor .view-lines", testid("editor")))
        .await?
        .click()
        .await?;
    // Put the caret on the `return` line, then type above it.
    ide.editor_set("export default async function (input, ctx) {\n  \n  return { ok: true };\n}\n")
        .await?;
    textarea
        .send_keys(&(Key::Control + &format!("{}{}", &*Key::Home, &*Key::Null)))
        .await?;
    textarea.send_keys(&Key::Down).await?;
    textarea.send_keys(&Key::End).await?;
    textarea.send_keys("const who = ctx.").await?;
    ide.find_css(".monaco-editor .suggest-widget.visible .monaco-list-row")
        .await
        .context("typing `ctx.` opened no completion list")?;
    // The JavaScript language service runs in a worker that may still be starting: until it
    // answers, Monaco offers words of the file. Ask again (Ctrl+Space) until the `ctx` API shows.
    let mut suggestions = String::new();
    for _ in 0..60 {
        suggestions = ide
            .find_css(".monaco-editor .suggest-widget.visible")
            .await?
            .text()
            .await?;
        if suggestions
            .lines()
            .any(|l| l.trim() == "env" || l.trim() == "log")
        {
            break;
        }
        textarea.send_keys(&Key::Escape).await?;
        tokio::time::sleep(Duration::from_millis(1000)).await;
        textarea
            .send_keys(&(Key::Control + &format!(" {}", &*Key::Null)))
            .await?;
    }
    ide.step("ctx-completion").await?;
    ensure!(
        suggestions
            .lines()
            .any(|l| l.trim() == "env" || l.trim() == "log"),
        "the completion list for `ctx.` lacks `log`/`env`: {suggestions:?}"
    );
    textarea.send_keys(&Key::Escape).await?;
    textarea.send_keys("env;").await?;
    ide.wait_saved().await?;
    let on_disk = std::fs::read_to_string(ide.workspace().join("greeter/functions/greet.js"))?;
    ensure!(
        on_disk.contains("const who = ctx.env;"),
        "the typed line did not reach the disk:\n{on_disk}"
    );
    ide.step("typed-and-saved").await?;
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn http_connector_from_an_openapi_file() -> Result<()> {
    let mut ide = Ide::start("http_connector_from_an_openapi_file").await?;
    new_vms(&ide, "petshop", "empty").await?;
    ide.click("new-connector-button").await?;
    ide.fill("new-connector-name", "pets").await?;
    ide.set_value("new-connector-kind", "http").await?;
    ide.click("new-connector-create").await?;
    ide.find("explorer-item-connector-pets").await?;
    ide.click("connector-import-openapi").await?;
    ide.set_value("openapi-input", PETSTORE).await?;
    ide.step("openapi-pasted").await?;
    ide.click("openapi-import-button").await?;
    let file = ide.workspace().join("petshop/connectors/pets.yaml");
    wait_until(|| {
        std::fs::read_to_string(&file)
            .map(|s| s.contains("listPets") && s.contains("getPet"))
            .unwrap_or(false)
    })
    .await
    .context("connectors/pets.yaml never got the imported methods")?;
    ide.wait_js(
        "return document.body.innerText.includes('listPets') && document.body.innerText.includes('getPet')",
        "the imported methods on screen",
    )
    .await?;
    ide.step("openapi-imported").await?;
    let yaml = std::fs::read_to_string(&file)?;
    ensure!(yaml.contains("/pets/{petId}"), "path missing:\n{yaml}");
    // Authentication, timeout and a private CA, from the form into the connector's file.
    ide.set_value("http-auth-kind", "oauth2_client_credentials")
        .await?;
    ide.find("http-auth-client-id-env").await?;
    ide.fill("http-auth-client-id-env", "PETS_CLIENT_ID")
        .await?;
    ide.fill("http-auth-client-secret-env", "PETS_CLIENT_SECRET")
        .await?;
    // Typed key by key: the space between the scopes must survive.
    ide.fill("http-auth-scopes", "pets.read pets.write").await?;
    ide.fill("http-timeout-ms", "2500").await?;
    ide.fill("http-tls-ca-env", "PETS_CA").await?;
    wait_until(|| {
        std::fs::read_to_string(&file)
            .map(|s| {
                s.contains("type: oauth2_client_credentials\n")
                    && s.contains("client_id_env: PETS_CLIENT_ID\n")
                    && s.contains("client_secret_env: PETS_CLIENT_SECRET\n")
                    && s.contains("- pets.read\n")
                    && s.contains("- pets.write\n")
                    && s.contains("timeout_ms: 2500\n")
                    && s.contains("tls:\n  ca_env: PETS_CA\n")
                    && s.contains("getPet")
            })
            .unwrap_or(false)
    })
    .await
    .with_context(|| {
        format!(
            "connectors/pets.yaml never got the auth, timeout and tls settings:\n{}",
            std::fs::read_to_string(&file).unwrap_or_default()
        )
    })?;
    ide.step("http-settings").await?;
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_and_mq_connectors_from_their_forms() -> Result<()> {
    // And config connectors, whose form is a table of values.
    let mut ide = Ide::start("cache_and_mq_connectors_from_their_forms").await?;
    new_vms(&ide, "sessions", "empty").await?;
    let dir = ide.workspace().join("sessions");
    let yaml_of = |name: &str| dir.join(format!("connectors/{name}.yaml"));
    let wait_file = async |file: PathBuf, wanted: &[&str], missing: &[&str]| -> Result<()> {
        wait_until(|| {
            std::fs::read_to_string(&file)
                .map(|s| {
                    wanted.iter().all(|w| s.contains(w)) && !missing.iter().any(|m| s.contains(m))
                })
                .unwrap_or(false)
        })
        .await
        .with_context(|| {
            format!(
                "{} never had {wanted:?} without {missing:?}:\n{}",
                file.display(),
                std::fs::read_to_string(&file).unwrap_or_default()
            )
        })
    };

    // A cache: settings, then a `set` method with a key template and a TTL.
    ide.click("new-connector-button").await?;
    ide.fill("new-connector-name", "store").await?;
    ide.set_value("new-connector-kind", "cache").await?;
    ide.click("new-connector-create").await?;
    ide.find("explorer-item-connector-store").await?;
    ide.fill("cache-url-env", "SESSIONS_REDIS").await?;
    ide.fill("cache-key-prefix", "sess-").await?;
    ide.click("add-method").await?;
    ide.set_value("cache-op", "set").await?;
    ide.fill("cache-key", "session-{{ input.id }}").await?;
    ide.fill("cache-value", "input.session").await?;
    ide.fill("cache-ttl", "900").await?;
    wait_file(
        yaml_of("store"),
        &[
            "url_env: SESSIONS_REDIS\n",
            "key_prefix: sess-\n",
            "op: set\n",
            "key: session-{{ input.id }}\n",
            "value: input.session\n",
            "ttl_seconds: 900\n",
        ],
        &[],
    )
    .await?;
    ide.step("cache-form").await?;
    // The field of a hash operation appears with it.
    ide.set_value("cache-op", "hget").await?;
    ide.fill("cache-field", "{{ input.field }}").await?;
    wait_file(
        yaml_of("store"),
        &["op: hget\n", "field: '{{ input.field }}'\n"],
        &[],
    )
    .await?;
    // SESSIONS_REDIS is not declared with a value here: the connection test names it.
    ide.click("connector-test").await?;
    let refused = ide
        .wait_text("connector-test-result", "Cannot connect")
        .await?;
    ensure!(refused.contains("SESSIONS_REDIS"), "{refused}");

    // A publisher: NATS with a stream, then AMQP, whose methods have an exchange instead.
    ide.click("new-connector-button").await?;
    ide.fill("new-connector-name", "events").await?;
    ide.set_value("new-connector-kind", "mq").await?;
    ide.click("new-connector-create").await?;
    ide.find("explorer-item-connector-events").await?;
    ide.fill("mq-url-env", "EVENTS_NATS").await?;
    ide.fill("mq-stream", "SESSIONS").await?;
    ide.click("add-method").await?;
    ide.fill("mq-subject", "sessions.opened.{{ input.region }}")
        .await?;
    ide.fill("mq-payload", "input.session").await?;
    wait_file(
        yaml_of("events"),
        &[
            "broker: nats\n",
            "url_env: EVENTS_NATS\n",
            "stream: SESSIONS\n",
            "subject: sessions.opened.{{ input.region }}\n",
            "payload: input.session\n",
        ],
        &[],
    )
    .await?;
    ide.step("mq-form-nats").await?;
    ide.set_value("mq-broker", "amqp").await?;
    ide.fill("mq-exchange", "sessions").await?;
    wait_file(
        yaml_of("events"),
        &["broker: amqp\n", "exchange: sessions\n"],
        &["stream:"],
    )
    .await?;
    ide.step("mq-form-amqp").await?;

    // A config connector: a table of values, each read from an env var, with a default.
    ide.click("new-connector-button").await?;
    ide.fill("new-connector-name", "settings").await?;
    ide.set_value("new-connector-kind", "config").await?;
    ide.click("new-connector-create").await?;
    ide.find("explorer-item-connector-settings").await?;
    ide.click("config-add").await?;
    ide.set_value("config-name-0", "sessionTtl").await?;
    ide.set_value("config-env-0", "SESSION_TTL").await?;
    ide.set_value("config-default-0", "900").await?;
    ide.set_value("config-description-0", "Seconds a session lives.")
        .await?;
    wait_file(
        yaml_of("settings"),
        &[
            "kind: config\n",
            "name: sessionTtl\n",
            "env: SESSION_TTL\n",
            "default: '900'\n",
            "description: Seconds a session lives.\n",
        ],
        &[],
    )
    .await?;
    // A second value with neither an env value nor a default: the test names it.
    ide.click("config-add").await?;
    ide.find("config-name-1").await?;
    wait_file(yaml_of("settings"), &["env: VALUE_2\n"], &[]).await?;
    ide.click("connector-test").await?;
    let unset = ide.wait_text("connector-test-result", "VALUE_2").await?;
    ensure!(unset.contains("Cannot connect"), "{unset}");
    ide.step("config-form").await?;
    // Removed, the rest has values: the test passes.
    ide.click("config-remove-1").await?;
    wait_file(yaml_of("settings"), &["name: sessionTtl\n"], &["VALUE_2"]).await?;
    ide.click("connector-test").await?;
    ide.wait_text("connector-test-result", "Connection OK")
        .await?;
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn grpc_methods_imported_from_the_descriptor_set() -> Result<()> {
    use prost::Message as _;
    let mut ide = Ide::start("grpc_methods_imported_from_the_descriptor_set").await?;
    new_vms(&ide, "rpc", "empty").await?;
    let dir = ide.workspace().join("rpc");
    // The compiled descriptor set is a file of the VMS, as `protoc --descriptor_set_out` writes it.
    let protos = repo_root().join("engine/testdata/io/grpc");
    let set = protox::compile(["greeter.proto"], [&protos])?.encode_to_vec();
    std::fs::create_dir_all(dir.join("protos"))?;
    std::fs::write(dir.join("protos/greeter.binpb"), set)?;

    ide.click("new-connector-button").await?;
    ide.fill("new-connector-name", "greeter").await?;
    ide.set_value("new-connector-kind", "grpc").await?;
    ide.click("new-connector-create").await?;
    ide.find("explorer-item-connector-greeter").await?;
    ide.fill("grpc-endpoint", "http://127.0.0.1:50051").await?;
    ide.fill("grpc-descriptor-set", "protos/greeter.binpb")
        .await?;
    ide.click("connector-import-grpc").await?;
    ide.find("grpc-import-list").await?;
    // The unary methods start ticked; the streaming one cannot be.
    let watch = ide.find("grpc-import-Watch").await?;
    ensure!(
        watch.attr("disabled").await?.is_some(),
        "a streaming method cannot be imported"
    );
    ide.click("grpc-import-Slow").await?;
    ide.step("grpc-import").await?;
    ide.click("grpc-import-button").await?;
    let file = dir.join("connectors/greeter.yaml");
    wait_until(|| {
        std::fs::read_to_string(&file).is_ok_and(|s| {
            s.contains("method: starweave.test.v1.Greeter/SayHello")
                && s.contains("method: starweave.test.v1.Greeter/Fail")
                && !s.contains("Greeter/Slow")
                && s.contains("endpoint: http://127.0.0.1:50051")
        })
    })
    .await
    .with_context(|| {
        format!(
            "the imported methods never reached the connector file:\n{}",
            std::fs::read_to_string(&file).unwrap_or_default()
        )
    })?;
    // The form shows the method with its parameters from the messages.
    ide.click("method-sayHello").await?;
    let method = ide.find("grpc-method").await?.prop("value").await?;
    ensure!(
        method.as_deref() == Some("starweave.test.v1.Greeter/SayHello"),
        "{method:?}"
    );
    ide.find("param-row-times").await?;
    ide.step("grpc-method").await?;
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn run_a_function_with_a_mock_and_see_the_trace() -> Result<()> {
    let mut ide = Ide::start("run_a_function_with_a_mock_and_see_the_trace").await?;
    new_vms(&ide, "dashboard", "bff-aggregation").await?;
    ide.click("explorer-item-function-getDashboard").await?;
    ide.find("run-button").await?;
    ide.set_value("run-input", r#"{ "id": "u-1001" }"#).await?;
    // Open the mocks and mock both connector methods the flow calls.
    ide.click_visible(".collapsible > .tree-toggle").await?;
    for (key, output) in [
        (
            "profile.getUser",
            r#"{ "id": "u-1001", "displayName": "Ada Lovelace", "email": "ada@example.com", "tier": "gold", "memberSince": "2019-04-02", "preferredCurrency": "EUR" }"#,
        ),
        (
            "orders.listRecent",
            r#"{ "orders": [ { "id": "o-9003", "placedAt": "2024-03-08T09:12:00Z", "status": "SHIPPED", "totalCents": 12990, "currency": "EUR", "itemCount": 2 } ] }"#,
        ),
    ] {
        ide.click(&format!("mock-enable-{key}")).await?;
        ide.set_value(&format!("mock-{key}"), output).await?;
    }
    ide.step("mocks-set").await?;
    ide.click("run-button").await?;
    let output = ide.wait_text("run-output", "Ada Lovelace").await?;
    ensure!(
        output.contains("vip"),
        "expected the VIP segment in the output: {output}"
    );
    // The trace lists the steps the run went through, the mocked service tasks included.
    ide.find("trace-step-get_profile").await?;
    ide.find("trace-step-list_orders").await?;
    ide.find("trace-step-vip_offers").await?;
    ensure!(
        ide.find_all("trace-step-standard_offers").await?.is_empty(),
        "a VIP customer's run went through standard_offers"
    );
    ide.step("run-with-trace").await?;
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn db_method_try_it_against_postgresql() -> Result<()> {
    // An own schema with a few rows, in the test database of the loopback PostgreSQL.
    let schema = format!("e2e_try_{}", std::process::id());
    psql(&format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}; \
         CREATE TABLE {schema}.pets (id integer PRIMARY KEY, name text NOT NULL); \
         INSERT INTO {schema}.pets VALUES (1, 'Rex'), (2, 'Tom'), (3, 'Bella');"
    ))?;
    let result = db_try_it(&schema).await;
    psql(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE;"))?;
    result
}

async fn db_try_it(schema: &str) -> Result<()> {
    let mut ide = Ide::start("db_method_try_it_against_postgresql").await?;
    new_vms(&ide, "petstore", "empty").await?;
    // The database URL is a secret env var declared in vms.yaml (edited as a file) with no
    // default; its value on this machine is set in the env var's tab further down.
    let pg = std::env::var("STARWEAVE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    ide.find_css(".tree-section:last-child .tree-toggle")
        .await?
        .click()
        .await?;
    ide.click("explorer-item-file-vms.yaml").await?;
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await?;
    let manifest = ide.editor_value().await?;
    let manifest = format!(
        "{}\nenv:\n- name: PETS_DB_URL\n  secret: true\n  description: The pets database.\n",
        manifest.trim_end()
    );
    ide.editor_set(&manifest).await?;
    ide.wait_saved().await?;

    ide.click("new-connector-button").await?;
    ide.fill("new-connector-name", "pets").await?;
    ide.set_value("new-connector-kind", "database").await?;
    ide.click("new-connector-create").await?;
    ide.find("explorer-item-connector-pets").await?;
    // A new database connector reads DATABASE_URL, which this VMS does not set: the
    // connection test says so.
    ide.click("connector-test").await?;
    let refused = ide
        .wait_text("connector-test-result", "Cannot connect")
        .await?;
    ensure!(
        refused.contains("DATABASE_URL"),
        "the reason should name the env var: {refused}"
    );
    ide.click("raw-yaml-toggle").await?;
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await?;
    ide.editor_set(&format!(
        "kind: database\ndriver: postgres\nurl_env: PETS_DB_URL\nmethods:\n\
         - name: petsFrom\n  sql: |\n    SELECT id, name FROM {schema}.pets WHERE id >= #{{minId}} ORDER BY id\n  \
         returns: rows\n  input:\n  - name: minId\n    type: integer\n    required: true\n"
    ))
    .await?;
    ide.wait_saved().await?;
    // PETS_DB_URL has no value yet: the connection test names it.
    ide.click("connector-test").await?;
    let unset = ide
        .wait_text("connector-test-result", "PETS_DB_URL")
        .await?;
    ensure!(
        unset.contains("Cannot connect"),
        "the connection should fail without a value: {unset}"
    );
    // This machine's value, in the env var's tab: saved to .env.local, not to vms.yaml.
    ide.click("explorer-item-env-PETS_DB_URL").await?;
    ide.wait_text("env-local-status", "Not set on this machine")
        .await?;
    ide.fill("env-local-value", &pg).await?;
    ide.click("env-local-save").await?;
    ide.wait_text("env-local-status", "Set on this machine")
        .await?;
    ide.step("env-local-value").await?;
    let dir = ide.workspace().join("petstore");
    let local = std::fs::read_to_string(dir.join(".env.local"))?;
    ensure!(
        local.starts_with("PETS_DB_URL=") && local.contains(&pg),
        "unexpected .env.local: {local:?}"
    );
    let manifest_on_disk = std::fs::read_to_string(dir.join("vms.yaml"))?;
    ensure!(
        !manifest_on_disk.contains(&pg),
        "the value must not reach vms.yaml: {manifest_on_disk}"
    );
    let git = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&dir)
        .output()?;
    let porcelain = String::from_utf8_lossy(&git.stdout);
    ensure!(
        git.status.success() && !porcelain.contains(".env.local"),
        "Git must not offer .env.local for a commit: {porcelain}"
    );
    ide.click("explorer-item-connector-pets").await?;
    // Back to the form: the method is there with its SQL; try it with a sample input.
    ide.find_css(".connector-tab .segmented .seg:first-child")
        .await?
        .click()
        .await?;
    ide.click("method-petsFrom").await?;
    ide.set_value("try-it-input", r#"{ "minId": 2 }"#).await?;
    ide.step("db-method").await?;
    ide.click("try-it-button").await?;
    let output = ide.wait_text("try-it-output", "Bella").await?;
    ensure!(output.contains("Tom"), "expected Tom and Bella: {output}");
    ensure!(!output.contains("Rex"), "Rex has id 1 < 2: {output}");
    ide.step("db-try-it").await?;
    // With this machine's PETS_DB_URL, the connection test reaches the server and shows
    // its version.
    ide.click("connector-test").await?;
    let connected = ide
        .wait_text("connector-test-result", "Connection OK")
        .await?;
    ensure!(
        connected.contains("PostgreSQL"),
        "expected the server's version: {connected}"
    );
    ide.step("db-test-connection").await?;
    ide.close().await
}

fn psql(sql: &str) -> Result<()> {
    let url = std::env::var("STARWEAVE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let out = std::process::Command::new("psql")
        .args([url.as_str(), "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
        .output()
        .context("running psql (PostgreSQL client)")?;
    ensure!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_reported_and_nothing_is_lost() -> Result<()> {
    let mut ide = Ide::start("bad_input_is_reported_and_nothing_is_lost").await?;
    new_vms(&ide, "broken", "bff-aggregation").await?;
    let dir = ide.workspace().join("broken");

    // Invalid YAML in a connector: saved as typed, and a problem is listed.
    ide.click("explorer-item-connector-orders").await?;
    ide.click("raw-yaml-toggle").await?;
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await?;
    let invalid = "kind: http\nbase_url: [unclosed\nmethods:\n  - name: x\n";
    ide.editor_set(invalid).await?;
    ide.wait_saved().await?;
    ide.find("problem-item").await?;
    ide.step("invalid-yaml-problem").await?;
    let on_disk = std::fs::read_to_string(dir.join("connectors/orders.yaml"))?;
    ensure!(
        on_disk == invalid,
        "the invalid YAML was not kept as typed:\n{on_disk}"
    );

    // A broken BPMN file, typed in the XML view of the BPMN editor: a diagnostic, the file kept.
    ide.click("explorer-item-function-getDashboard").await?;
    ide.click("bpmn-view-xml").await?;
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await?;
    let broken = "<?xml version=\"1.0\"?><definitions><process id=\"p\"><startEvent id=\"s\"/>";
    ide.editor_set(broken).await?;
    ide.wait_saved().await?;
    ide.wait_text("problems-panel", "getDashboard.bpmn").await?;
    ide.step("broken-bpmn-problem").await?;
    let on_disk = std::fs::read_to_string(dir.join("functions/getDashboard.bpmn"))?;
    ensure!(
        on_disk == broken,
        "the broken BPMN was not kept:\n{on_disk}"
    );

    // A 20 MB paste: refused with an error shown, and the last saved content is intact.
    let before = std::fs::read_to_string(dir.join("functions/buildDashboard.js"))?;
    ide.click("explorer-item-function-buildDashboard").await?;
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await?;
    let huge = format!("// {}\n", "x".repeat(20 * 1024 * 1024));
    ide.editor_set(&huge).await?;
    ide.wait_text("save-status", "Error").await?;
    ide.step("huge-paste-error").await?;
    let after = std::fs::read_to_string(dir.join("functions/buildDashboard.js"))?;
    ensure!(after == before, "the 20 MB paste changed the file on disk");
    // The editor still holds what the user pasted: nothing typed is thrown away.
    ensure!(
        ide.editor_value().await?.len() == huge.len(),
        "the editor lost the pasted text"
    );
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn commit_through_the_git_panel() -> Result<()> {
    let mut ide = Ide::start("commit_through_the_git_panel").await?;
    new_vms(&ide, "committed", "bff-aggregation").await?;
    let dir = ide.workspace().join("committed");
    ide.click("explorer-item-function-buildDashboard").await?;
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await?;
    let source = "export default async function (input, ctx) {\n  return { changed: true };\n}\n";
    ide.editor_set(source).await?;
    ide.wait_saved().await?;
    ide.click("git-tab").await?;
    ide.find("git-panel").await?;
    ide.find("git-file-functions/buildDashboard.js").await?;
    ide.step("git-panel-changes").await?;
    ide.fill("git-commit-message", "Dashboard: mark changed")
        .await?;
    ide.click("git-commit-button").await?;
    wait_until(|| {
        git(&dir, &["log", "-1", "--format=%s"])
            .map(|s| s.trim() == "Dashboard: mark changed")
            .unwrap_or(false)
    })
    .await
    .context("the commit never appeared in the workspace repository")?;
    ide.step("committed").await?;
    let status = git(&dir, &["status", "--porcelain"])?;
    ensure!(
        status.trim().is_empty(),
        "work tree not clean after commit:\n{status}"
    );
    let committed = git(&dir, &["show", "HEAD:functions/buildDashboard.js"])?;
    ensure!(committed == source, "HEAD holds another text:\n{committed}");
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_with_an_access_token_and_push_after_the_prompt() -> Result<()> {
    const USER: &str = "ann";
    const TOKEN: &str = "tok-e2e-7c41";
    let mut ide = Ide::start("clone_with_an_access_token_and_push_after_the_prompt").await?;
    // A team repository behind a Git server that wants a username and token.
    let served = tempfile::Builder::new()
        .prefix("starweave-e2e-git-")
        .tempdir()?;
    let bare = served.path().join("team.git");
    seed_team_repo(&bare, &served.path().join("seed"))?;
    let remote = starweave_e2e::git_http::GitHttp::start(served.path(), USER, TOKEN).await;
    let url = format!("{}/team.git", remote.base);

    // Clone without a token: the dialog says the server refused and asks for one.
    ide.click("clone-vms-button").await?;
    ide.fill("clone-url", &url).await?;
    ide.click("clone-submit").await?;
    let refused = ide.wait_text("clone-error", "access token").await?;
    ensure!(
        refused.contains(&remote.base),
        "the error does not name the server: {refused}"
    );
    ide.find("token-value").await?;
    ide.step("clone-needs-a-token").await?;
    ide.fill("token-username", USER).await?;
    ide.fill("token-value", TOKEN).await?;
    ide.click("clone-submit").await?;
    wait_for_cloned_team(&ide).await?;
    ensure!(remote.authenticated() > 0, "the server never saw the token");

    // The Git panel lists the kept token (never shows it) and forgets it.
    ide.click("git-tab").await?;
    ide.find("git-panel").await?;
    ide.click_visible(&format!("{} summary", testid("git-tokens")))
        .await?;
    let store = ide.wait_text("git-tokens-store", "memory").await?;
    ensure!(!store.contains(TOKEN));
    let listed = format!("git-token-{}", remote.base);
    let row = ide.wait_text(&listed, USER).await?;
    ensure!(!row.contains(TOKEN), "the token is shown: {row}");
    ide.click_visible(&format!("{} button", testid(&listed)))
        .await?;
    ide.wait_gone(&listed).await?;

    // A commit, then Push: the remote refuses, the panel asks for a token and pushes with it.
    commit_notes(&ide, "second\n", "notes: second").await?;
    ide.click("git-push").await?;
    ide.find("git-token-prompt").await?;
    ide.step("push-asks-for-a-token").await?;
    ide.fill("token-username", USER).await?;
    ide.fill("token-value", TOKEN).await?;
    ide.click("git-token-save").await?;
    wait_until(|| {
        git(&bare, &["log", "-1", "--format=%s", "main"])
            .map(|s| s.trim() == "notes: second")
            .unwrap_or(false)
    })
    .await
    .context("the push never reached the Git server")?;
    ide.wait_js(
        "return !document.querySelector('[data-testid=git-token-prompt]')",
        "the token prompt to close",
    )
    .await?;
    ide.step("pushed-with-the-token").await?;
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn clone_over_ssh_after_trusting_the_host_key() -> Result<()> {
    use starweave_e2e::sshd::{Sshd, fingerprint_of, keygen};
    let root = tempfile::Builder::new()
        .prefix("starweave-e2e-ssh-")
        .tempdir()?;
    let sshd = Sshd::start(&root.path().join("sshd"));
    // A team repository on the SSH server.
    let bare = root.path().join("srv/team.git");
    seed_team_repo(&bare, &root.path().join("seed"))?;
    // The developer's home: a key in ~/.ssh that the server knows, no known_hosts, no agent.
    let home = root.path().join("home");
    let ssh_dir = home.join(".ssh");
    std::fs::create_dir_all(&ssh_dir)?;
    keygen(&ssh_dir.join("id_ed25519"));
    sshd.authorize(&ssh_dir.join("id_ed25519.pub"));
    let home_text = home.to_str().context("UTF-8 path")?;
    let mut ide = Ide::start_with_env(
        "clone_over_ssh_after_trusting_the_host_key",
        &[
            ("HOME", home_text),
            ("SSH_AUTH_SOCK", ""),
            ("STARWEAVE_SSH_KEY", ""),
            ("GIT_CONFIG_NOSYSTEM", "1"),
        ],
    )
    .await?;
    let url = sshd.url(&bare);

    // First contact: the dialog shows the host key's fingerprint, as ssh would.
    ide.click("clone-vms-button").await?;
    ide.fill("clone-url", &url).await?;
    ide.click("clone-submit").await?;
    let fingerprint = fingerprint_of(&sshd.host_key.with_extension("pub"));
    let shown = ide.wait_text("host-key-fingerprint", &fingerprint).await?;
    ensure!(shown.contains("ssh-ed25519"), "no key type: {shown}");
    ensure!(!ssh_dir.join("known_hosts").exists());
    ide.step("clone-asks-to-trust-the-host").await?;

    // Trusted: known_hosts gets the host, and the clone goes on with the key file.
    ide.click("host-key-trust").await?;
    wait_for_cloned_team(&ide).await?;
    let known = std::fs::read_to_string(ssh_dir.join("known_hosts"))?;
    ensure!(
        known.starts_with(&format!("[127.0.0.1]:{} ssh-ed25519 ", sshd.port)),
        "known_hosts: {known}"
    );

    // A commit, pushed from the Git panel over SSH.
    commit_notes(&ide, "over ssh\n", "notes: over ssh").await?;
    ide.click("git-tab").await?;
    ide.click("git-push").await?;
    wait_until(|| {
        git(&bare, &["log", "-1", "--format=%s", "main"])
            .map(|s| s.trim() == "notes: over ssh")
            .unwrap_or(false)
    })
    .await
    .context("the push never reached the SSH server")?;
    ide.step("pushed-over-ssh").await?;
    ide.close().await
}

/// Waits until the cloned VMS `team` is open and its files are in the workspace.
async fn wait_for_cloned_team(ide: &Ide) -> Result<()> {
    ide.wait_js(
        "const p = document.querySelector('[data-testid=vms-picker]'); \
         return !!p && p.textContent.includes('team')",
        "the cloned VMS to open",
    )
    .await?;
    ensure!(ide.workspace().join("team/notes.txt").is_file());
    Ok(())
}

/// Writes `content` into the VMS `team`'s `notes.txt` and commits it through the API.
async fn commit_notes(ide: &Ide, content: &str, message: &str) -> Result<()> {
    let answer = ide
        .api(
            "PUT",
            "/api/v1/vms/team/files/notes.txt",
            Some(json!({ "content": content })),
        )
        .await?;
    ensure!(answer["status"] == 200, "write failed: {answer}");
    let answer = ide
        .api(
            "POST",
            "/api/v1/vms/team/git/commit",
            Some(json!({ "message": message })),
        )
        .await?;
    ensure!(
        answer["status"].as_u64().is_some_and(|s| s < 300),
        "commit failed: {answer}"
    );
    Ok(())
}

/// Makes `bare` a bare repository whose `main` holds a small VMS named `team` (`vms.yaml`,
/// `notes.txt` reading `first`), pushed from a working copy made in `seed`.
fn seed_team_repo(bare: &std::path::Path, seed: &std::path::Path) -> Result<()> {
    std::fs::create_dir_all(bare)?;
    git(
        bare,
        &["init", "--quiet", "--bare", "--initial-branch=main"],
    )?;
    std::fs::create_dir_all(seed)?;
    git(seed, &["init", "--quiet", "--initial-branch=main"])?;
    std::fs::write(seed.join("vms.yaml"), "name: team\n")?;
    std::fs::write(seed.join("notes.txt"), "first\n")?;
    git(seed, &["add", "-A"])?;
    git(
        seed,
        &[
            "-c",
            "user.name=Seed",
            "-c",
            "user.email=seed@example.com",
            "commit",
            "--quiet",
            "-m",
            "Start",
        ],
    )?;
    git(
        seed,
        &[
            "push",
            "--quiet",
            bare.to_str().context("UTF-8 path")?,
            "main",
        ],
    )?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn everything_is_still_there_after_a_reload() -> Result<()> {
    let mut ide = Ide::start("everything_is_still_there_after_a_reload").await?;
    new_vms(&ide, "durable", "bff-aggregation").await?;
    ide.click("explorer-item-function-buildDashboard").await?;
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await?;
    let source =
        "export default async function (input, ctx) {\n  return { survived: 'reload' };\n}\n";
    ide.editor_set(source).await?;
    ide.wait_saved().await?;
    ide.step("before-reload").await?;
    ide.reload().await?;
    // The last VMS and the open tab come back; the text is what was typed.
    ide.find("explorer-item-function-buildDashboard").await?;
    ide.click("explorer-item-function-buildDashboard").await?;
    ide.find_css(&format!("{} .monaco-editor", testid("editor")))
        .await?;
    ide.wait_js(
        "return !!window.__starweave_editor_value && window.__starweave_editor_value().includes(\"survived: 'reload'\")",
        "the editor to show the saved text after the reload",
    )
    .await?;
    ide.step("after-reload").await?;
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn parameter_views_stay_in_sync() -> Result<()> {
    let mut ide = Ide::start("parameter_views_stay_in_sync").await?;
    new_vms(&ide, "params", "bff-aggregation").await?;
    ide.click("explorer-item-function-buildDashboard").await?;
    // Table view: the function's input parameters as rows.
    ide.click("param-view-table").await?;
    let table = ide.field_values("param-table").await?;
    ide.step("param-table").await?;
    // YAML view: same parameters; change one name there.
    ide.click("param-view-yaml").await?;
    let yaml = ide.find("param-yaml").await?;
    let yaml_text = yaml
        .prop("value")
        .await?
        .context("param-yaml has no value")?;
    let first = first_param_name(&yaml_text).context("no `- name:` in the YAML view")?;
    ensure!(table.contains(&first), "table {table:?} lacks {first:?}");
    let renamed = yaml_text.replacen(&format!("name: {first}"), "name: renamedParam", 1);
    ide.set_value("param-yaml", &renamed).await?;
    ide.step("param-yaml-edited").await?;
    // CSV view follows.
    ide.click("param-view-csv").await?;
    let csv = ide.find("param-csv").await?;
    let csv_text = csv.prop("value").await?.unwrap_or_default();
    ensure!(
        csv_text.contains("renamedParam"),
        "CSV view did not follow: {csv_text}"
    );
    ide.step("param-csv").await?;
    // Back to the table.
    ide.click("param-view-table").await?;
    ide.wait_js(
        "const t = document.querySelector('[data-testid=param-table]'); \
         return !!t && Array.from(t.querySelectorAll('input')).some(i => i.value === 'renamedParam')",
        "the table view to show renamedParam",
    )
    .await?;
    ide.step("param-table-again").await?;
    ide.close().await
}

#[tokio::test(flavor = "multi_thread")]
async fn theme_toggle_and_api_refuses_paths_outside_the_workspace() -> Result<()> {
    let mut ide = Ide::start("theme_toggle_and_api_refuses_paths_outside_the_workspace").await?;
    let before = ide
        .client
        .execute("return document.documentElement.dataset.theme || document.body.dataset.theme || document.documentElement.className", vec![])
        .await?;
    ide.click("theme-toggle").await?;
    let after = ide
        .client
        .execute("return document.documentElement.dataset.theme || document.body.dataset.theme || document.documentElement.className", vec![])
        .await?;
    ensure!(
        before != after,
        "the theme toggle changed nothing ({before})"
    );
    ide.step("dark-theme").await?;
    // A path with `..` from the browser is refused before the file system is touched.
    let created = ide
        .api(
            "POST",
            "/api/v1/vms",
            Some(json!({ "name": "guarded", "template": "empty" })),
        )
        .await?;
    ensure!(created["status"] == 201, "creating a VMS: {created}");
    let answer = ide
        .api(
            "PUT",
            "/api/v1/vms/guarded/files/..%2F..%2Fescape.txt",
            Some(json!({ "content": "nope" })),
        )
        .await?;
    ensure!(answer["status"] == 400, "expected 400, got {answer}");
    ensure!(
        answer["body"]["error"]["code"] == "invalid_path",
        "expected invalid_path, got {answer}"
    );
    ensure!(!ide.workspace().join("escape.txt").exists());
    ensure!(
        !ide.workspace()
            .parent()
            .map(|p| p.join("escape.txt").exists())
            .unwrap_or(false)
    );
    ide.close().await
}

/// The first `- name: x` of a parameter list in YAML.
fn first_param_name(yaml: &str) -> Option<String> {
    yaml.lines()
        .find_map(|l| l.trim_start().strip_prefix("- name:"))
        .map(|n| n.trim().trim_matches('\'').trim_matches('"').to_string())
}

/// Polls `check` for up to 30 s.
async fn wait_until(mut check: impl FnMut() -> bool) -> Result<()> {
    for _ in 0..300 {
        if check() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    anyhow::bail!("condition not met within 30 s")
}

const PETSTORE: &str = r#"{
  "openapi": "3.0.3",
  "info": { "title": "Pets", "version": "1.0.0" },
  "servers": [{ "url": "http://127.0.0.1:9/api" }],
  "paths": {
    "/pets": {
      "get": {
        "operationId": "listPets",
        "parameters": [{ "name": "limit", "in": "query", "schema": { "type": "integer" } }],
        "responses": { "200": { "description": "pets",
          "content": { "application/json": { "schema": { "type": "array",
            "items": { "type": "object", "properties": { "id": { "type": "integer" }, "name": { "type": "string" } } } } } } } }
      }
    },
    "/pets/{petId}": {
      "get": {
        "operationId": "getPet",
        "parameters": [{ "name": "petId", "in": "path", "required": true, "schema": { "type": "string" } }],
        "responses": { "200": { "description": "a pet",
          "content": { "application/json": { "schema": { "type": "object",
            "properties": { "id": { "type": "integer" }, "name": { "type": "string" } } } } } } }
      }
    }
  }
}"#;
