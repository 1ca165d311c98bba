//! The IDE's Deploy panel API against a real compute engine: a real `starweave up` over a
//! temporary workspace deploys, lists, re-activates and undeploys a VMS on an engine served
//! from this test's process, with a second engine of the pool down.

mod engine_support;
mod ide_support;

use engine_support::{TOKEN, start_engine};
use ide_support::{Server, code};
use serde_json::{Value, json};

#[test]
fn the_deploy_panel_deploys_lists_activates_and_undeploys() {
    let engine = start_engine();
    let rt = &engine.runtime;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), &[], &[("STARWEAVE_CREDENTIALS", "memory")]);
    let (status, created) =
        rt.block_on(server.post("/vms", &json!({ "name": "hello", "template": "http-js" })));
    assert_eq!(status, 201, "{created}");
    let vms_dir = dir.path().join("hello");
    // A secret env var next to the template's GREETING, committed.
    let manifest = std::fs::read_to_string(vms_dir.join("vms.yaml")).unwrap();
    let manifest = manifest.replacen("env:\n", "env:\n- name: API_KEY\n  secret: true\n", 1);
    assert!(manifest.contains("API_KEY"), "{manifest}");
    std::fs::write(vms_dir.join("vms.yaml"), &manifest).unwrap();
    ide_support::git(&vms_dir, &["commit", "-qam", "A secret"]);
    let commit = ide_support::git(&vms_dir, &["rev-parse", "HEAD"]);
    let short = commit.trim()[..12].to_owned();

    // Nothing saved yet: no engines; the version Git gives; the declared vars.
    let (status, target) = rt.block_on(server.get("/vms/hello/deploy"));
    assert_eq!(status, 200, "{target}");
    assert_eq!(target["vms"], "hello");
    assert_eq!(target["engines"], json!([]));
    assert_eq!(target["version"], short.as_str(), "{target}");
    let names: Vec<&str> = target["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["API_KEY", "GREETING"], "{target}");
    let (status, body) = rt.block_on(server.post("/vms/hello/deploy", &json!({})));
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no engine"),
        "{body}"
    );

    // The target: one engine down, then the real one; bad entries refused.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    for (bad, why) in [
        (json!({ "engines": ["ftp://host"] }), "http:// or https://"),
        (json!({ "engines": ["not a url"] }), "not a URL"),
        (
            json!({ "engines": [], "env": { "NOPE": "x" } }),
            "not declared",
        ),
        (
            json!({ "engines": [], "env": { "API_KEY": "x" } }),
            "secret",
        ),
    ] {
        let (status, body) = rt.block_on(server.put("/vms/hello/deploy", &bad));
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(why),
            "{body}"
        );
    }
    let (status, target) = rt.block_on(server.put(
        "/vms/hello/deploy",
        &json!({ "engines": [down, format!("{}/", engine.admin)], "env": { "GREETING": "Hoi" } }),
    ));
    assert_eq!(status, 200, "{target}");
    assert_eq!(
        target["engines"][1]["url"],
        engine.admin.as_str(),
        "trailing / dropped"
    );
    assert_eq!(target["engines"][1]["token_kept"], false);
    assert_eq!(target["env"][1]["value"], "Hoi");
    assert_eq!(target["env"][0]["value"], Value::Null);

    // Without tokens, no engine gets it.
    let (status, answer) = rt.block_on(server.post("/vms/hello/deploy", &json!({})));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], false);
    for outcome in answer["engines"].as_array().unwrap() {
        assert_eq!(outcome["status"], "failed", "{answer}");
        assert!(
            outcome["message"]
                .as_str()
                .unwrap()
                .contains("no admin token"),
            "{answer}"
        );
    }
    assert_eq!(engine.get("/hello/hello/Ada").0, 404);

    // A wrong token is the engine's refusal, then the right one is kept.
    for engine_url in [&down, &engine.admin] {
        let (status, body) = rt.block_on(server.put(
            "/engine-tokens",
            &json!({ "engine": engine_url, "token": "wrong-token" }),
        ));
        assert_eq!(status, 200, "{body}");
    }
    let (_, answer) = rt.block_on(server.post("/vms/hello/deploy", &json!({})));
    assert!(
        answer["engines"][1]["message"]
            .as_str()
            .unwrap()
            .contains("401"),
        "{answer}"
    );
    let (status, body) = rt.block_on(server.put(
        "/engine-tokens",
        &json!({ "engine": format!("{}/admin/ignored", engine.admin), "token": TOKEN }),
    ));
    assert_eq!(status, 200, "{body}");
    let (_, target) = rt.block_on(server.get("/vms/hello/deploy"));
    assert_eq!(target["engines"][1]["token_kept"], true, "{target}");
    // Git never sees an engine's token.
    let (_, git_tokens) = rt.block_on(server.get("/git/credentials"));
    assert!(
        !git_tokens.to_string().contains(&engine.admin[7..]),
        "{git_tokens}"
    );

    // Deployed to the engine that is up; the one that is down is reported.
    let (status, answer) = rt.block_on(server.post(
        "/vms/hello/deploy",
        &json!({ "env": { "API_KEY": "s3cret" } }),
    ));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["version"], short.as_str());
    assert_eq!(answer["ok"], false, "one engine is down: {answer}");
    assert_eq!(answer["engines"][0]["engine"], down.as_str());
    assert_eq!(answer["engines"][0]["status"], "failed");
    assert!(
        answer["engines"][0]["message"]
            .as_str()
            .unwrap()
            .contains("cannot reach"),
        "{answer}"
    );
    assert_eq!(answer["engines"][1]["status"], "deployed", "{answer}");
    assert!(!answer["routes"].as_array().unwrap().is_empty(), "{answer}");
    let (status, body) = engine.get("/hello/hello/Ada");
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("Hoi, Ada!"),
        "the kept value went with it: {body}"
    );

    // Only the engine that is up from now on; a named version of changed files.
    let (status, _) = rt.block_on(server.put(
        "/vms/hello/deploy",
        &json!({ "engines": [engine.admin], "env": { "GREETING": "Salut" } }),
    ));
    assert_eq!(status, 200);
    let (status, answer) =
        rt.block_on(server.post("/vms/hello/deploy", &json!({ "version": "2" })));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], true, "{answer}");
    assert_eq!(answer["engines"][0]["status"], "deployed");
    assert!(engine.get("/hello/hello/Ada").1.contains("Salut, Ada!"));
    let (_, again) = rt.block_on(server.post("/vms/hello/deploy", &json!({ "version": "2" })));
    assert_eq!(again["engines"][0]["status"], "unchanged", "{again}");
    let (status, body) =
        rt.block_on(server.post("/vms/hello/deploy", &json!({ "version": "../x" })));
    assert_eq!((status, code(&body)), (400, "invalid_name"), "{body}");
    let (status, body) =
        rt.block_on(server.post("/vms/hello/deploy", &json!({ "log_level": "loud" })));
    assert_eq!(status, 400, "{body}");

    // Listed with their engine; the first version takes the traffic back.
    let (status, listed) = rt.block_on(server.get("/vms/hello/deployments"));
    assert_eq!(status, 200, "{listed}");
    let mut versions: Vec<(String, bool)> = listed["deployments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["engine"], engine.admin.as_str());
            (
                d["version"].as_str().unwrap().to_owned(),
                d["active"].as_bool().unwrap(),
            )
        })
        .collect();
    versions.sort();
    let mut expected = vec![("2".to_owned(), true), (short.clone(), false)];
    expected.sort();
    assert_eq!(versions, expected);
    let (status, answer) = rt.block_on(server.post(
        &format!("/vms/hello/deployments/{short}/activate"),
        &json!({}),
    ));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], true, "{answer}");
    assert!(engine.get("/hello/hello/Ada").1.contains("Hoi, Ada!"));

    // Undeployed; a second time it is absent.
    let (status, answer) = rt.block_on(server.delete("/vms/hello/deployments/2"));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["engines"][0]["status"], "done", "{answer}");
    let (_, answer) = rt.block_on(server.delete("/vms/hello/deployments/2"));
    assert_eq!(answer["ok"], false);
    assert_eq!(answer["engines"][0]["status"], "absent", "{answer}");

    // A VMS with errors reaches no engine.
    std::fs::write(vms_dir.join("vms.yaml"), "name: hello\nenv: [unclosed\n").unwrap();
    let (status, body) = rt.block_on(server.post("/vms/hello/deploy", &json!({})));
    assert_eq!((status, code(&body)), (422, "invalid_vms"), "{body}");
    assert!(
        !body["error"]["details"]["diagnostics"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{body}"
    );
    assert!(engine.get("/hello/hello/Ada").1.contains("Hoi, Ada!"));

    // Forgotten tokens are gone.
    let (status, body) =
        rt.block_on(server.delete(&format!("/engine-tokens?engine={}", engine.admin)));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["removed"], true);
    server.stop();
}

/// The messages of a logs answer.
fn messages(answer: &Value) -> Vec<String> {
    answer["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[test]
fn the_logs_panel_reads_and_follows_the_engines_lines_and_sets_log_levels() {
    let engine = start_engine();
    // The engine's log, as the engine binary installs it: its lines reach the VMS's recent
    // lines, which the IDE reads.
    starweave_engine::server::init_logging(
        "info",
        starweave_engine::server::LogFormat::Json,
        std::time::Duration::ZERO,
    );
    let rt = &engine.runtime;
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_with_env(dir.path(), &[], &[("STARWEAVE_CREDENTIALS", "memory")]);
    let (status, created) =
        rt.block_on(server.post("/vms", &json!({ "name": "hello", "template": "http-js" })));
    assert_eq!(status, 201, "{created}");
    let (status, _) = rt.block_on(server.put(
        "/vms/hello/deploy",
        &json!({ "engines": [engine.admin], "env": { "GREETING": "Hoi" } }),
    ));
    assert_eq!(status, 200);
    rt.block_on(server.put(
        "/engine-tokens",
        &json!({ "engine": engine.admin, "token": TOKEN }),
    ));
    let (status, answer) =
        rt.block_on(server.post("/vms/hello/deploy", &json!({ "version": "1" })));
    assert_eq!((status, &answer["ok"]), (200, &json!(true)), "{answer}");
    assert_eq!(engine.get("/hello/hello/Ada").0, 200);

    // The newest lines: the template's `ctx.log.info("greeting", name)` with the function
    // that logged it, and the request.
    let (status, read) = rt.block_on(server.post("/vms/hello/logs", &json!({})));
    assert_eq!(status, 200, "{read}");
    let greeting = read["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["message"] == "greeting Ada")
        .unwrap_or_else(|| panic!("no greeting line: {read}"))
        .clone();
    assert_eq!(greeting["function"], "hello");
    assert_eq!(greeting["version"], "1");
    assert_eq!(greeting["engine"], engine.admin.as_str());
    assert!(messages(&read).contains(&"request".to_owned()), "{read}");
    assert_eq!(read["failed"], json!([]));

    // Following: the cursors give only what came since.
    let cursors = read["cursors"].clone();
    assert!(
        cursors[&engine.admin]["next"].as_u64().unwrap() > 0,
        "{read}"
    );
    let (_, idle) = rt.block_on(server.post("/vms/hello/logs", &json!({ "cursors": cursors })));
    assert_eq!(messages(&idle), Vec::<String>::new(), "{idle}");
    assert_eq!(engine.get("/hello/hello/Bob").0, 200);
    let (_, new) = rt.block_on(server.post("/vms/hello/logs", &json!({ "cursors": cursors })));
    assert_eq!(messages(&new), ["greeting Bob", "request"], "{new}");

    // Filters: warnings and worse leave the greeting out; text is searched ignoring case.
    let (_, warnings) = rt.block_on(server.post("/vms/hello/logs", &json!({ "level": "warn" })));
    assert!(
        !messages(&warnings)
            .iter()
            .any(|m| m.starts_with("greeting")),
        "{warnings}"
    );
    // (The request's line has Bob in its path.)
    let (_, bob) = rt.block_on(server.post("/vms/hello/logs", &json!({ "text": "BOB" })));
    assert_eq!(messages(&bob), ["greeting Bob", "request"], "{bob}");
    // One request's lines by its trace id; a time window, absolute or back from now.
    let ada_trace = greeting["trace_id"]
        .as_str()
        .expect("a trace id")
        .to_owned();
    let (_, ada) = rt.block_on(server.post("/vms/hello/logs", &json!({ "trace": ada_trace })));
    assert_eq!(messages(&ada), ["greeting Ada", "request"], "{ada}");
    let (_, hour) = rt.block_on(server.post(
        "/vms/hello/logs",
        &json!({ "since": "1h", "text": "greeting" }),
    ));
    assert_eq!(messages(&hour), ["greeting Ada", "greeting Bob"], "{hour}");
    let (_, future) = rt.block_on(server.post(
        "/vms/hello/logs",
        &json!({ "since": "2999-01-01T00:00:00Z" }),
    ));
    assert_eq!(messages(&future), Vec::<String>::new(), "{future}");
    let (_, past) = rt.block_on(server.post(
        "/vms/hello/logs",
        &json!({ "until": greeting["timestamp"], "text": "greeting" }),
    ));
    assert_eq!(messages(&past), ["greeting Ada"], "{past}");
    for bad in [
        json!({ "level": "loud" }),
        json!({ "limit": 0 }),
        json!({ "version": "../x" }),
        json!({ "colour": "red" }),
        json!({ "since": "soon" }),
        json!({ "trace": "not a trace" }),
        json!({ "since": "5m", "until": "1h" }),
    ] {
        let (status, body) = rt.block_on(server.post("/vms/hello/logs", &bad));
        assert_eq!(status, 400, "{bad}: {body}");
    }

    // The deployment at `warn` while it runs: its info lines stop.
    let (status, answer) = rt.block_on(server.put(
        "/vms/hello/deployments/1/log-level",
        &json!({ "level": "warn" }),
    ));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], true, "{answer}");
    let (_, listed) = rt.block_on(server.get("/vms/hello/deployments"));
    assert_eq!(listed["deployments"][0]["log_level"], "warn", "{listed}");
    let cursors = new["cursors"].clone();
    assert_eq!(engine.get("/hello/hello/Cy").0, 200);
    let (_, quiet) = rt.block_on(server.post("/vms/hello/logs", &json!({ "cursors": cursors })));
    assert_eq!(messages(&quiet), Vec::<String>::new(), "{quiet}");
    let (_, absent) = rt.block_on(server.put(
        "/vms/hello/deployments/9/log-level",
        &json!({ "level": "info" }),
    ));
    assert_eq!(absent["ok"], false);
    assert_eq!(absent["engines"][0]["status"], "absent", "{absent}");
    let (status, _) = rt.block_on(server.put(
        "/vms/hello/deployments/1/log-level",
        &json!({ "level": "loud" }),
    ));
    assert_eq!(status, 400);

    // The same from the command line.
    let out = engine.starweave(&["logs", "hello", "--grep", "greeting bob"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    assert!(stdout.contains(" INFO  1 hello: greeting Bob"), "{stdout}");
    let out = engine.starweave(
        &["logs", "hello", "--format", "json", "--level", "error"],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    let out = engine.starweave(&["log-level", "hello", "1", "info"], dir.path());
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("logs at info"),
        "{out:?}"
    );
    assert_eq!(engine.get("/hello/hello/Dee").0, 200);
    let out = engine.starweave(
        &[
            "logs",
            "hello",
            "--format",
            "json",
            "--grep",
            "greeting dee",
        ],
        dir.path(),
    );
    let line: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    assert_eq!(line["message"], "greeting Dee");
    let out = engine.starweave(&["log-level", "hello", "9", "info"], dir.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no hello 9 loaded"),
        "{out:?}"
    );
    let out = engine.starweave(&["logs", "nobody"], dir.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no engine has a version of nobody"),
        "{out:?}"
    );
    let out = engine.starweave(&["logs", "hello", "--level", "loud"], dir.path());
    assert!(!out.status.success());
    let out = engine.starweave(
        &["logs", "hello", "--since", "1h", "--trace", &ada_trace],
        dir.path(),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(stdout.lines().count(), 2, "{stdout}");
    assert!(stdout.contains("hello: greeting Ada"), "{stdout}");
    let out = engine.starweave(&["logs", "hello", "--since", "soon"], dir.path());
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("span back from now"),
        "{out:?}"
    );

    // An engine of the pool that is down is reported; the other's lines still come.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    rt.block_on(server.put(
        "/vms/hello/deploy",
        &json!({ "engines": [down, engine.admin] }),
    ));
    rt.block_on(server.put("/engine-tokens", &json!({ "engine": down, "token": TOKEN })));
    let (status, read) = rt.block_on(server.post("/vms/hello/logs", &json!({})));
    assert_eq!(status, 200, "{read}");
    assert_eq!(read["failed"][0]["engine"], down.as_str(), "{read}");
    assert!(
        messages(&read).contains(&"greeting Bob".to_owned()),
        "{read}"
    );
    server.stop();
}
