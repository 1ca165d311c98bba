//! The `starweave` command line, run as a real process on real directories.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

fn starweave(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_starweave"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("starweave runs")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn new_vms(tmp: &Path, name: &str, template: &str) -> PathBuf {
    let out = starweave(&["new", name, "--template", template], tmp);
    assert!(out.status.success(), "new failed: {out:?}");
    tmp.join(name)
}

#[test]
fn every_template_is_valid_and_formatted() {
    let tmp = tempfile::tempdir().unwrap();
    for template in ["empty", "http-js", "rhai"] {
        let name = format!("svc-{template}");
        new_vms(tmp.path(), &name, template);
        let out = starweave(&["validate", &name], tmp.path());
        assert!(out.status.success(), "{template}: {}", stdout(&out));
        assert!(stdout(&out).contains("0 errors"), "{}", stdout(&out));
        let out = starweave(&["fmt", "--check", &name], tmp.path());
        assert!(out.status.success(), "{template}: {}", stdout(&out));
    }
}

#[test]
fn new_refuses_a_non_empty_directory() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::create_dir(tmp.path().join("taken")).unwrap();
    std::fs::write(tmp.path().join("taken/notes.txt"), "mine").unwrap();
    let out = starweave(&["new", "taken"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not empty"));
    assert_eq!(
        std::fs::read_to_string(tmp.path().join("taken/notes.txt")).unwrap(),
        "mine"
    );
}

/// A deliberately broken VMS lists each problem at its file:line:col, and exits with 1.
#[test]
fn broken_vms_lists_each_problem_with_its_location() {
    let tmp = tempfile::tempdir().unwrap();
    let root = new_vms(tmp.path(), "broken", "http-js");
    std::fs::write(
        root.join("triggers.yaml"),
        "- kind: http\n  function: nobody\n  method: GET\n  path: /hello/{name}\n\
         - kind: cron\n  function: hello\n  schedule: 61 * * * *\n  timezone: Mars/Olympus\n",
    )
    .unwrap();
    std::fs::create_dir_all(root.join("connectors")).unwrap();
    std::fs::write(
        root.join("connectors/users.yaml"),
        "kind: http\nbase_url: https://users.internal\nmethods:\n- name: get\n  method: GET\n  path: /users/{id}\n  input:\n  - name: id\n    type: string\n",
    )
    .unwrap();
    std::fs::write(root.join("functions/flow.bpmn"), BROKEN_FLOW).unwrap();
    std::fs::write(root.join("tests/hello/bad_yaml.yaml"), "input: [unclosed\n").unwrap();

    let out = starweave(&["validate", "broken"], tmp.path());
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let text = stdout(&out);
    let expect = [
        "broken/triggers.yaml:2:3: error[vms.trigger-unknown-function]",
        "broken/triggers.yaml:7:3: error[vms.cron-invalid]",
        "broken/triggers.yaml:8:3: error[vms.unknown-timezone]",
        "broken/functions/flow.bpmn:7:5: error[vms.unknown-method] (load)",
        "broken/functions/flow.bpmn:14:5: error[vms.unknown-parameter] (load2)",
        "broken/functions/flow.bpmn:22:5: error[bpmn.gateway-condition-missing] (gw)",
        "broken/functions/flow.bpmn:25:5: error[bpmn.flow-to-nowhere] (f5)",
        "broken/tests/hello/bad_yaml.yaml:2:1: error[",
    ];
    for line in expect {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }

    // The same, for tools.
    let out = starweave(&["validate", "--format", "json", "broken"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["errors"].as_u64().unwrap() >= expect.len() as u64);
    let first = &report["diagnostics"][0];
    assert!(first["file"].is_string() && first["code"].is_string() && first["message"].is_string());

    // Validating one file of the VMS shows that file's problems only.
    let out = starweave(&["validate", "broken/triggers.yaml"], tmp.path());
    let text = stdout(&out);
    assert!(text.contains("triggers.yaml:2:3"), "{text}");
    assert!(!text.contains("flow.bpmn"), "{text}");
}

const BROKEN_FLOW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sw="https://starweave.dev/schema/bpmn/1.0" id="d" targetNamespace="t">
  <bpmn:process id="flow" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="load"/>
    <bpmn:sequenceFlow id="f2" sourceRef="load" targetRef="load2"/>
    <bpmn:serviceTask id="load">
      <bpmn:extensionElements>
        <sw:task connector="users" method="fetch"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:sequenceFlow id="f3" sourceRef="load2" targetRef="gw"/>
    <bpmn:sequenceFlow id="f4" sourceRef="gw" targetRef="end"/>
    <bpmn:serviceTask id="load2">
      <bpmn:extensionElements>
        <sw:task connector="users" method="get">
          <sw:input name="user_id" expr="id"/>
        </sw:task>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:endEvent id="end"/>
    <bpmn:exclusiveGateway id="gw"/>
    <bpmn:sequenceFlow id="f6" sourceRef="gw" targetRef="end"/>
    <bpmn:endEvent id="end2"/>
    <bpmn:sequenceFlow id="f5" sourceRef="end2" targetRef="nowhere"/>
  </bpmn:process>
</bpmn:definitions>
"#;

#[test]
fn fmt_check_finds_unformatted_files_and_fmt_fixes_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = new_vms(tmp.path(), "svc", "http-js");
    // Valid, but not canonical: key order, quoting and indentation differ.
    std::fs::write(
        root.join("vms.yaml"),
        "env:\n  - name: GREETING\n    default: \"Hello\"\n    description: The word the greeting starts with.\nname: svc\n",
    )
    .unwrap();
    let out = starweave(&["fmt", "--check", "svc"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("vms.yaml is not formatted"),
        "{}",
        stdout(&out)
    );

    let out = starweave(&["fmt", "svc"], tmp.path());
    assert!(out.status.success(), "{out:?}");
    let out = starweave(&["fmt", "--check", "svc"], tmp.path());
    assert!(out.status.success(), "{}", stdout(&out));
    let manifest = std::fs::read_to_string(root.join("vms.yaml")).unwrap();
    assert!(manifest.starts_with("name: svc\n"), "{manifest}");
    assert!(manifest.contains("default: Hello"), "{manifest}");
}

#[test]
fn fmt_leaves_files_with_errors_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let root = new_vms(tmp.path(), "svc", "http-js");
    let broken = "- kind: http\n  function: [oops\n";
    std::fs::write(root.join("triggers.yaml"), broken).unwrap();
    let out = starweave(&["fmt", "svc"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(root.join("triggers.yaml")).unwrap(),
        broken
    );
}

#[test]
fn standalone_bpmn_is_validated_and_formatted_losslessly() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("flow.bpmn");
    let original = r#"<?xml version="1.0" encoding="UTF-8"?>
<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:vendor="urn:vendor" id="d" targetNamespace="t" vendor:keep="yes">
<process id="p" isExecutable="true"><startEvent id="s" vendor:color="red"/><sequenceFlow id="f" sourceRef="s" targetRef="e"/><endEvent id="e"><extensionElements><vendor:note>kept</vendor:note></extensionElements></endEvent></process>
</definitions>"#;
    std::fs::write(&path, original).unwrap();
    let out = starweave(&["validate", "flow.bpmn"], tmp.path());
    assert!(out.status.success(), "{}", stdout(&out));

    let out = starweave(&["fmt", "--check", "flow.bpmn"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let out = starweave(&["fmt", "--stdout", "flow.bpmn"], tmp.path());
    let formatted = stdout(&out);
    for kept in [
        "vendor:keep=\"yes\"",
        "vendor:color=\"red\"",
        "<vendor:note>kept</vendor:note>",
    ] {
        assert!(formatted.contains(kept), "lost {kept}:\n{formatted}");
    }
    let out = starweave(&["fmt", "flow.bpmn"], tmp.path());
    assert!(out.status.success());
    let out = starweave(&["fmt", "--check", "flow.bpmn"], tmp.path());
    assert!(out.status.success(), "formatting is not idempotent");

    std::fs::write(&path, "<definitions><process id=\"p\"").unwrap();
    let out = starweave(&["validate", "flow.bpmn"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("flow.bpmn:1:"), "{}", stdout(&out));
}

#[test]
fn completions_are_generated() {
    let tmp = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish"] {
        let out = starweave(&["completions", shell], tmp.path());
        assert!(out.status.success());
        let script = stdout(&out);
        assert!(
            script.contains("validate") && script.contains("fmt"),
            "{shell}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn examples() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/examples");
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("assets/examples exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("vms.yaml").is_file())
        .collect();
    out.sort();
    out
}

#[test]
fn examples_are_valid_and_formatted() {
    let examples = examples();
    assert!(examples.len() >= 3, "expected the three example VMS");
    let tmp = tempfile::tempdir().unwrap();
    for example in examples {
        let path = example.to_string_lossy().into_owned();
        let out = starweave(&["validate", &path], tmp.path());
        assert!(out.status.success(), "{path}: {}", stdout(&out));
        assert!(
            stdout(&out).starts_with("0 errors, 0 warnings"),
            "{}",
            stdout(&out)
        );
        let out = starweave(&["fmt", "--check", &path], tmp.path());
        assert!(out.status.success(), "{path}: {}", stdout(&out));
    }
}

/// A copy of the example `name` as `<tmp>/<as_dir>`: the temporary directory and the copy.
fn example_copy(name: &str, as_dir: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let source = examples()
        .into_iter()
        .find(|p| p.ends_with(name))
        .unwrap_or_else(|| panic!("no example {name}"));
    let root = tmp.path().join(as_dir);
    copy_dir(&source, &root);
    (tmp, root)
}

/// Replaces the first `from` in `root/file` with `to`; `from` must be there.
fn edit_once(root: &Path, file: &str, from: &str, to: &str) {
    let path = root.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{file} no longer contains `{from}`");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

/// A copy of the BFF example with one mistake of each kind: each is listed at file:line:col.
#[test]
fn broken_copy_of_an_example_lists_each_problem() {
    let (tmp, root) = example_copy("bff-aggregation", "bff");
    let edit = |file: &str, from: &str, to: &str| edit_once(&root, file, from, to);
    let line_of = |file: &str, needle: &str| -> usize {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        text.lines()
            .position(|l| l.contains(needle))
            .unwrap_or_else(|| panic!("{needle} not in {file}"))
            + 1
    };
    edit(
        "triggers.yaml",
        "function: getDashboard",
        "function: getDashbord",
    );
    edit(
        "functions/getDashboard.bpmn",
        r#"method="listRecent""#,
        r#"method="listRecnet""#,
    );
    edit(
        "functions/getDashboard.bpmn",
        r#"<sw:input name="id" expr="id"/>"#,
        r#"<sw:input name="userId" expr="id"/>"#,
    );
    // A script that is not Rhai: only compiling finds it.
    edit("functions/getDashboard.bpmn", "==", "===");

    let out = starweave(&["validate", "bff"], tmp.path());
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let trigger_line = line_of("triggers.yaml", "getDashbord");
    let expected = [
        format!("bff/triggers.yaml:{trigger_line}:3: error[vms.trigger-unknown-function]"),
        "error[vms.unknown-method]".to_owned(),
        "error[vms.unknown-parameter]".to_owned(),
        "bff/functions/getDashboard.bpmn:".to_owned(),
        "error[engine.script] (standard_offers)".to_owned(),
    ];
    for e in &expected {
        assert!(text.contains(e.as_str()), "missing `{e}` in:\n{text}");
    }
    // The BPMN problems point at the task elements' lines.
    for (code, needle) in [
        ("vms.unknown-method", "listRecnet"),
        ("vms.unknown-parameter", "userId"),
    ] {
        let line = text.lines().find(|l| l.contains(code)).unwrap();
        let file_line: usize = line.split(':').nth(1).unwrap().parse().unwrap();
        let task_line = line_of("functions/getDashboard.bpmn", needle);
        assert!(
            file_line < task_line && task_line - file_line <= 4,
            "{code} at line {file_line}, but its binding is on line {task_line}: {line}"
        );
    }
}

/// What only building a deployment finds — SQL that does not parse, a connector template or
/// a route's input mapping that does not compile — is listed by `validate` (and so by the
/// IDE's Problems panel and `deploy`'s own check), at its place in the YAML.
#[test]
fn validate_lists_what_only_a_deploy_would_find() {
    let (tmp, root) = example_copy("order-orchestration", "shop");
    let out = starweave(&["validate", "shop"], tmp.path());
    assert!(out.status.success(), "the example is valid: {out:?}");
    let edit = |file: &str, from: &str, to: &str| edit_once(&root, file, from, to);
    edit(
        "connectors/orders_db.yaml",
        r#"<if test="warehouseId != null">"#,
        r#"<if test="warehouseId != null" when="now">"#,
    );
    edit(
        "connectors/payments.yaml",
        "'{{ env.PAYMENTS_API_URL }}'",
        "'{{ env.PAYMENTS_API_URL + }}'",
    );
    edit(
        "triggers.yaml",
        "  status: 201\n",
        "  status: 201\n  input:\n    channel: headers.channel ++ 1\n",
    );

    let out = starweave(&["validate", "shop"], tmp.path());
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    let line_with = |code: &str| -> &str {
        let mut lines = text
            .lines()
            .filter(|l| l.contains(&format!("error[{code}]")));
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("no {code} in:\n{text}"));
        assert!(lines.next().is_none(), "{code} listed twice:\n{text}");
        line
    };
    // `file:line:col: error[code] …` → the text of the file at that place.
    let at = |line: &str| -> String {
        let mut parts = line.splitn(4, ':');
        let file = parts.next().unwrap();
        let row: usize = parts.next().unwrap().parse().unwrap();
        let col: usize = parts.next().unwrap().parse().unwrap();
        let content = std::fs::read_to_string(tmp.path().join(file)).unwrap();
        content
            .lines()
            .nth(row - 1)
            .unwrap()
            .chars()
            .skip(col - 1)
            .collect()
    };

    let sql = line_with("sql.syntax");
    assert!(sql.starts_with("shop/connectors/orders_db.yaml:"), "{sql}");
    assert!(
        at(sql).starts_with("when=\"now\">"),
        "{sql} points at `{}`",
        at(sql)
    );

    let template = line_with("connector.template");
    assert!(
        template.starts_with("shop/connectors/payments.yaml:"),
        "{template}"
    );
    assert!(template.contains("base_url"), "{template}");

    let input = line_with("engine.route-input");
    assert!(input.starts_with("shop/triggers.yaml:"), "{input}");
    assert!(
        at(input).starts_with("channel:"),
        "{input} points at `{}`",
        at(input)
    );
    assert!(input.contains("`channel`"), "{input}");
}

#[test]
fn fmt_keeps_yaml_comments() {
    let tmp = tempfile::tempdir().unwrap();
    let root = new_vms(tmp.path(), "svc", "http-js");
    let commented = "# Routes of the service.\n-   kind: http  # the public route\n    function: hello\n    method: GET\n    path: /hello/{name}\n";
    std::fs::write(root.join("triggers.yaml"), commented).unwrap();
    let out = starweave(&["fmt", "svc"], tmp.path());
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("comments"));
    assert_eq!(
        std::fs::read_to_string(root.join("triggers.yaml")).unwrap(),
        commented
    );
    let out = starweave(&["fmt", "--check", "svc"], tmp.path());
    assert!(out.status.success(), "{}", stdout(&out));
}

#[test]
fn connections_are_tested_from_the_command_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_vms(tmp.path(), "orders", "empty");
    let pg = std::env::var("STARWEAVE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let manifest = std::fs::read_to_string(dir.join("vms.yaml")).unwrap();
    std::fs::write(
        dir.join("vms.yaml"),
        format!(
            "{}\nenv:\n- name: ORDERS_DB\n  default: {pg}\n- name: CACHE_URL\n- name: REGION\n",
            manifest.trim_end()
        ),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("connectors")).unwrap();
    for (name, yaml) in [
        (
            "db",
            "kind: database\ndriver: postgres\nurl_env: ORDERS_DB\n",
        ),
        ("cache", "kind: cache\nurl_env: CACHE_URL\n"),
        (
            "settings",
            "kind: config\nvalues:\n- { name: region, env: REGION }\n",
        ),
    ] {
        std::fs::write(dir.join(format!("connectors/{name}.yaml")), yaml).unwrap();
    }
    // Nothing listens on the cache's port; the database comes from the declared default.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let cache_url = format!("redis://127.0.0.1:{}/", closed.local_addr().unwrap().port());
    drop(closed);
    let run = |args: &[&str]| {
        Command::new(env!("CARGO_BIN_EXE_starweave"))
            .args(args)
            .current_dir(tmp.path())
            .env("CACHE_URL", &cache_url)
            .env("REGION", "eu-west")
            .output()
            .expect("starweave runs")
    };

    let out = run(&["connections", "orders"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let line = |prefix: &str| {
        text.lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no line {prefix:?} in:\n{text}"))
            .to_owned()
    };
    assert!(
        line("ok    db ").contains("connected to PostgreSQL "),
        "{text}"
    );
    assert!(line("FAIL  cache ").contains("cannot connect"), "{text}");
    assert!(
        line("ok    settings ").contains("all 1 values are set"),
        "{text}"
    );
    assert!(text.ends_with("3 connectors: 2 ok, 1 failed\n"), "{text}");

    let out = run(&[
        "connections",
        "orders",
        "--connector",
        "db",
        "--format",
        "json",
    ]);
    assert!(out.status.success(), "{}", stdout(&out));
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(answer.as_array().map(Vec::len), Some(1), "{answer}");
    assert_eq!(answer[0]["connector"], "db");
    assert_eq!(answer[0]["ok"], true, "{answer}");

    let out = run(&["connections", "orders", "--connector", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no connector `nope` (it has: cache, db, settings)"),
        "{err}"
    );
}

#[test]
fn run_and_test_use_this_machines_env_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_vms(tmp.path(), "hello", "http-js");
    let gitignore = std::fs::read_to_string(dir.join(".gitignore")).unwrap();
    assert!(
        gitignore.lines().any(|l| l == "/.env.local"),
        "a new VMS keeps .env.local out of Git: {gitignore}"
    );
    let run = |shell_greeting: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_starweave"));
        command
            .args(["run", "hello", "hello", "--input", r#"{"name":"Ada"}"#])
            .current_dir(tmp.path())
            .env_remove("GREETING");
        if let Some(value) = shell_greeting {
            command.env("GREETING", value);
        }
        command.output().expect("starweave runs")
    };
    let greeting = |out: &Output| {
        assert!(out.status.success(), "{out:?}");
        let output: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        output["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(greeting(&run(None)), "Hello, Ada!", "the declared default");
    std::fs::write(
        dir.join(".env.local"),
        "# mine\nGREETING='Howdy'\nUNDECLARED=1\n",
    )
    .unwrap();
    assert_eq!(greeting(&run(None)), "Howdy, Ada!", "this machine's value");
    assert_eq!(greeting(&run(Some("Hi"))), "Hi, Ada!", "the shell wins");
    // The tests of the template expect the default greeting: with another one here, they
    // fail, which shows `starweave test` reads the file too.
    let out = starweave(&["test", "hello"], tmp.path());
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("Howdy"), "{}", stdout(&out));
    // `validate` warns about the undeclared name, at its line.
    let out = starweave(&["validate", "hello"], tmp.path());
    assert!(out.status.success(), "a warning only: {}", stdout(&out));
    assert!(
        stdout(&out).contains(".env.local:3:1: warning[vms.local-env-undeclared]"),
        "{}",
        stdout(&out)
    );
    // A file that does not parse stops the run with its position.
    std::fs::write(dir.join(".env.local"), "GREETING=\"open\n").unwrap();
    let out = run(None);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(".env.local:1:10: the value opened with \" here is never closed"),
        "{stderr}"
    );
}

/// A case file that does not parse is a failure of `starweave test`, though every case that
/// could run passed.
#[test]
fn a_test_case_that_does_not_load_fails_the_test_command() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_vms(tmp.path(), "hello", "http-js");
    let out = starweave(&["test", "hello"], tmp.path());
    assert!(out.status.success(), "{}", stdout(&out));
    std::fs::write(
        dir.join("tests/hello/typo.yaml"),
        "input: { name: Ada }\nouput: { message: \"Hello, Ada!\" }\n",
    )
    .unwrap();
    let out = starweave(&["test", "hello"], tmp.path());
    assert!(!out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains(" 0 failed"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("error in the VMS"),
        "{}",
        stdout(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tests/hello/typo.yaml"),
        "{out:?}"
    );
}

#[test]
fn run_and_dev_show_what_the_code_logs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_vms(tmp.path(), "greeter", "http-js");
    // `run`: the output on standard output, the `ctx.log` lines on standard error.
    let out = starweave(
        &["run", "greeter", "hello", "--input", r#"{"name":"Ada"}"#],
        tmp.path(),
    );
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("Hello, Ada!"), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("info [hello] greeting Ada"),
        "{out:?}"
    );

    // `dev`: a request's `ctx.log` line shows on standard error as it happens.
    use std::io::{BufRead, Read, Write};
    let mut child = Command::new(env!("CARGO_BIN_EXE_starweave"))
        .args(["dev", "--port", "0"])
        .arg(&dir)
        .env_remove("STARWEAVE_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout_lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut url = None;
    for line in stdout_lines.map_while(Result::ok) {
        if let Some(at) = line.find("http://") {
            url = Some(line[at..].split('/').nth(2).unwrap().to_owned());
            break;
        }
    }
    let addr = url.expect("dev prints where it serves");
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "GET /greeter/hello/Grace HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.contains("Hello, Grace!"), "{answer}");
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let found = loop {
        match rx.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(line) if line.contains("greeting Grace") => break Some(line),
            Ok(line) => seen.push(line),
            Err(_) => break None,
        }
    };
    let _ = child.kill();
    let _ = child.wait();
    let line = found.unwrap_or_else(|| panic!("no ctx.log line on standard error: {seen:?}"));
    assert!(
        line.contains("INFO") && line.contains("function=\"hello\""),
        "{line}"
    );
}
