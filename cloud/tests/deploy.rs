//! `starweave deploy`, `deployments` and `undeploy` as real processes against a real compute
//! engine (the `starweave-engine` server, in this test's process on loopback), over a VMS in a
//! real Git repository.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod engine_support;

use engine_support::{TOKEN, start_engine};
use serde_json::Value;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn git(args: &[&str], cwd: &Path) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.test")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.test")
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", text(&out.stderr));
    text(&out.stdout).trim().to_owned()
}

fn new_vms(tmp: &Path) -> PathBuf {
    let out = Command::new(env!("CARGO_BIN_EXE_starweave"))
        .args(["new", "hello", "--template", "http-js"])
        .current_dir(tmp)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    tmp.join("hello")
}

/// `out` ended with `code` and said `needle` on standard error.
/// A loopback HTTP server answering every request with `head` and a small HTML page; its URL.
fn web_server(head: &'static str) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut request = [0u8; 4096];
            let _ = stream.read(&mut request);
            let body = "<html>\n  <body>Sign in</body>\n</html>\n";
            let _ = write!(
                stream,
                "{head}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    url
}

fn refused(out: &Output, code: i32, needle: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{stderr}");
    assert!(stderr.contains(needle), "wanted `{needle}` in: {stderr}");
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[test]
fn a_vms_in_git_is_deployed_versioned_listed_and_undeployed() {
    let engine = start_engine();
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_vms(tmp.path());
    // In a repository one level up, so the VMS is a folder of the work tree.
    git(&["init", "-q", "-b", "main"], tmp.path());
    std::fs::write(tmp.path().join(".gitignore"), "scratch/\n").unwrap();
    git(&["add", "-A"], tmp.path());
    git(&["commit", "-q", "-m", "hello"], tmp.path());
    let commit = git(&["rev-parse", "HEAD"], tmp.path());
    let short = &commit[..12];
    // This machine's values and ignored files stay here.
    std::fs::write(dir.join(".env.local"), "GREETING=Local\n").unwrap();
    std::fs::create_dir(dir.join("scratch")).unwrap();
    std::fs::write(dir.join("scratch/notes.txt"), "mine").unwrap();

    let dry = json_of(&engine.starweave(
        &["deploy", "hello", "--dry-run", "--format", "json"],
        tmp.path(),
    ));
    let files: Vec<&str> = dry["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.contains(&"vms.yaml"), "{files:?}");
    assert!(files.contains(&"functions/hello.js"), "{files:?}");
    assert!(
        !files
            .iter()
            .any(|f| f.contains("env.local") || f.contains("scratch")),
        "neither this machine's env values nor ignored files are sent: {files:?}"
    );
    assert_eq!(dry["version"], short, "the commit names the version");
    assert_eq!(
        engine.get("/hello/hello/Ada").0,
        404,
        "a dry run sends nothing"
    );

    // Deployed with a value from the command line.
    let out = engine.starweave(
        &["deploy", "hello", "--env", "GREETING=Bonjour"],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    assert!(said.contains(&format!("deployed hello {short}")), "{said}");
    assert!(
        said.contains("GET /hello/{name}"),
        "the routes are listed: {said}"
    );
    let (status, body) = engine.get("/hello/hello/Ada");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("Bonjour, Ada!"), "{body}");

    // The same files and settings again: nothing reloads.
    let out = engine.starweave(
        &["deploy", "hello", "--env", "GREETING=Bonjour"],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("already loaded"),
        "{}",
        text(&out.stdout)
    );

    // An uncommitted edit gets its own version; the value from a file and from the shell.
    let js = dir.join("functions/hello.js");
    let source = std::fs::read_to_string(&js).unwrap();
    std::fs::write(&js, source.replace("${greeting}, ", "${greeting} ")).unwrap();
    let env_file = tmp.path().join("prod.env");
    std::fs::write(&env_file, "# production\nGREETING='Hej'\n").unwrap();
    let report = json_of(&engine.starweave(
        &[
            "deploy",
            "hello",
            "--env-file",
            env_file.to_str().unwrap(),
            "--format",
            "json",
        ],
        tmp.path(),
    ));
    let dirty = report["deployment"]["version"].as_str().unwrap().to_owned();
    assert!(
        dirty.starts_with(&format!("{short}-dirty-")) && dirty.len() == short.len() + 15,
        "{dirty}"
    );
    assert_eq!(report["changed"], true);
    let (_, body) = engine.get("/hello/hello/Ada");
    assert!(body.contains("Hej Ada!"), "the new version serves: {body}");

    // An env file inside the VMS folder would travel as one of its files: refused.
    let inside = dir.join("prod.env");
    std::fs::write(&inside, "GREETING='Hej'\n").unwrap();
    let out = engine.starweave(
        &["deploy", "hello", "--env-file", inside.to_str().unwrap()],
        tmp.path(),
    );
    refused(&out, 2, "the env file prod.env is in the VMS folder");
    std::fs::remove_file(&inside).unwrap();

    // Refused before anything is sent: undeclared names, a value missing from the shell, a
    // VMS with errors; the running version keeps serving.
    let out = engine.starweave(&["deploy", "hello", "--env", "GREETNG=Hi"], tmp.path());
    refused(
        &out,
        2,
        "GREETNG is not declared in vms.yaml (declared: GREETING)",
    );
    let out = engine.starweave(&["deploy", "hello", "--env", "GREETING"], tmp.path());
    refused(&out, 2, "not set in this shell");
    std::fs::write(
        &js,
        "export default async function (input, ctx) { return {;\n",
    )
    .unwrap();
    let out = engine.starweave(&["deploy", "hello"], tmp.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("functions/hello.js"), "{stderr}");
    assert!(stderr.contains("not deployed"), "{stderr}");
    let (_, body) = engine.get("/hello/hello/Ada");
    assert!(
        body.contains("Hej Ada!"),
        "still the last good version: {body}"
    );
    std::fs::write(&js, &source).unwrap();
    // What `validate` finds stops it before the engine is called.
    let triggers = dir.join("triggers.yaml");
    let good = std::fs::read_to_string(&triggers).unwrap();
    std::fs::write(
        &triggers,
        good.replace("function: hello", "function: nosuch"),
    )
    .unwrap();
    let out = engine.starweave(&["deploy", "hello"], tmp.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.contains("hello/triggers.yaml:2:"), "{stderr}");
    assert!(stderr.contains("has 1 error; not deployed"), "{stderr}");
    std::fs::write(&triggers, good).unwrap();

    // A wrong token and an engine that is not there are clear errors.
    let out = Command::new(env!("CARGO_BIN_EXE_starweave"))
        .args(["deployments", "--engine", &engine.admin])
        .env("STARWEAVE_ADMIN_TOKEN", "wrong")
        .output()
        .unwrap();
    refused(&out, 2, "refused the admin token (401)");
    let out = Command::new(env!("CARGO_BIN_EXE_starweave"))
        .args(["deployments", "--engine", &engine.admin])
        .env_remove("STARWEAVE_ADMIN_TOKEN")
        .output()
        .unwrap();
    refused(&out, 2, "STARWEAVE_ADMIN_TOKEN");
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = engine.starweave(&["deployments", "--engine", &closed_url], tmp.path());
    refused(&out, 2, "cannot reach the engine's admin API");
    // A gateway sending to its login page, and a web server: neither is taken for an engine.
    let gateway = web_server("HTTP/1.1 302 Found\r\nLocation: /login\r\n");
    let out = engine.starweave(&["deployments", "--engine", &gateway], tmp.path());
    refused(&out, 2, "answered 302");
    let page = web_server("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n");
    let out = engine.starweave(&["deployments", "--engine", &page], tmp.path());
    refused(&out, 2, "something other than the admin API's JSON");
    assert!(
        text(&out.stderr).contains("<html> <body>Sign in"),
        "{}",
        text(&out.stderr)
    );

    // Both versions are listed, the newest active; the old one is unloaded by name.
    let list = json_of(&engine.starweave(&["deployments", "--format", "json"], tmp.path()));
    let versions: Vec<(String, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["version"].as_str().unwrap().to_owned(),
                d["active"].as_bool().unwrap(),
            )
        })
        .collect();
    assert!(
        versions.contains(&(short.to_owned(), false)),
        "{versions:?}"
    );
    assert!(versions.contains(&(dirty.clone(), true)), "{versions:?}");
    let table = text(&engine.starweave(&["deployments"], tmp.path()).stdout);
    assert!(
        table
            .lines()
            .any(|l| l.contains(&dirty) && l.contains(" yes ")),
        "{table}"
    );
    let out = engine.starweave(&["undeploy", "hello", short], tmp.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let list = json_of(&engine.starweave(&["deployments", "--format", "json"], tmp.path()));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    let out = engine.starweave(&["undeploy", "hello", short], tmp.path());
    refused(&out, 1, "no deployment hello");
}

/// A file Git tracks is deployed even when an ignore rule matches it (`git add -f`), as Git
/// itself never ignores a tracked file; the clean checkout is named by its commit.
#[test]
fn a_tracked_file_matching_an_ignore_rule_is_deployed() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = new_vms(tmp.path());
    git(&["init", "-q", "-b", "main"], tmp.path());
    std::fs::write(tmp.path().join(".gitignore"), "*.json\n").unwrap();
    std::fs::create_dir(dir.join("schemas")).unwrap();
    std::fs::write(dir.join("schemas/order.json"), "{}").unwrap();
    std::fs::write(dir.join("schemas/draft.json"), "{}").unwrap();
    git(&["add", "-A"], tmp.path());
    git(&["add", "-f", "hello/schemas/order.json"], tmp.path());
    git(&["commit", "-q", "-m", "hello"], tmp.path());
    let commit = git(&["rev-parse", "HEAD"], tmp.path());
    let out = Command::new(env!("CARGO_BIN_EXE_starweave"))
        .args(["deploy", "hello", "--dry-run", "--format", "json"])
        .current_dir(tmp.path())
        .env("STARWEAVE_ADMIN_TOKEN", "unused")
        .output()
        .unwrap();
    let dry = json_of(&out);
    let files: Vec<&str> = dry["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap())
        .collect();
    assert!(files.contains(&"schemas/order.json"), "{files:?}");
    assert!(!files.contains(&"schemas/draft.json"), "{files:?}");
    assert_eq!(
        dry["version"],
        &commit[..12],
        "a clean checkout is its commit"
    );
}

#[test]
fn a_vms_outside_git_needs_a_version() {
    let engine = start_engine();
    let tmp = tempfile::tempdir().unwrap();
    new_vms(tmp.path());
    let out = engine.starweave(&["deploy", "hello"], tmp.path());
    refused(&out, 2, "--version");
    let out = engine.starweave(&["deploy", "hello", "--version", "bad version"], tmp.path());
    refused(&out, 2, "not a valid version");
    let out = engine.starweave(
        &[
            "deploy",
            "hello",
            "--version",
            "1.0.0",
            "--log-level",
            "loud",
        ],
        tmp.path(),
    );
    refused(&out, 2, "not a log level");
    let out = engine.starweave(
        &[
            "deploy",
            "hello",
            "--version",
            "1.0.0",
            "--log-level",
            "warn",
        ],
        tmp.path(),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let (status, body) = engine.get("/hello/hello/Ada");
    assert_eq!(status, 200);
    assert!(body.contains("Hello, Ada!"), "the declared default: {body}");
    let out = engine.starweave(&["deploy", "nowhere", "--version", "1"], tmp.path());
    refused(&out, 2, "not a VMS directory");
}

#[test]
fn a_pool_of_engines_gets_the_same_deployment() {
    let (a, b) = (start_engine(), start_engine());
    let tmp = tempfile::tempdir().unwrap();
    new_vms(tmp.path());
    let both = ["--engine", &a.admin, "--engine", &b.admin];
    let deploy = |version: &str, engines: &[&str]| {
        let mut args = vec![
            "deploy",
            "hello",
            "--version",
            version,
            "--env",
            "GREETING=Hoi",
        ];
        args.extend_from_slice(engines);
        a.starweave(&args, tmp.path())
    };
    let out = deploy("1", &both);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let said = text(&out.stdout);
    for engine in [&a, &b] {
        assert!(
            said.contains(&format!("deployed hello 1 to {}", engine.admin)),
            "{said}"
        );
        let (status, body) = engine.get("/hello/hello/Ada");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("Hoi, Ada!"), "{body}");
    }

    // One engine of the pool is down: the others get it, the run says so and fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let out = deploy("2", &["--engine", &down, "--engine", &a.admin]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("cannot reach the engine's admin API"),
        "{stderr}"
    );
    assert!(stderr.contains("deployed to 1 of 2 engines"), "{stderr}");
    assert!(
        text(&out.stdout).contains(&format!("deployed hello 2 to {}", a.admin)),
        "{}",
        text(&out.stdout)
    );
    // Sent again to the whole pool: the engine that has it reloads nothing.
    let report = {
        let mut args = both.to_vec();
        args.extend(["--format", "json"]);
        json_of(&deploy("2", &args))
    };
    let answers = report.as_array().expect("one answer per engine");
    assert_eq!(answers.len(), 2, "{report}");
    assert_eq!(answers[0]["engine"], a.admin.as_str());
    assert_eq!(answers[0]["changed"], false, "{report}");
    assert_eq!(answers[1]["engine"], b.admin.as_str());
    assert_eq!(answers[1]["changed"], true, "{report}");

    // Listed from both (STARWEAVE_ENGINE takes a comma-separated pool), each with its engine.
    let pool = format!("{},{}", a.admin, b.admin);
    let listed = Command::new(env!("CARGO_BIN_EXE_starweave"))
        .args(["deployments", "--format", "json"])
        .env("STARWEAVE_ENGINE", &pool)
        .env("STARWEAVE_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    let list = json_of(&listed);
    let mut seen: Vec<(String, String, bool)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["engine"].as_str().unwrap().to_owned(),
                d["version"].as_str().unwrap().to_owned(),
                d["active"].as_bool().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (a.admin.clone(), "1".to_owned(), false),
        (a.admin.clone(), "2".to_owned(), true),
        (b.admin.clone(), "1".to_owned(), false),
        (b.admin.clone(), "2".to_owned(), true),
    ];
    expected.sort();
    assert_eq!(seen, expected);
    // An engine of the pool that is down is reported; the others are still listed.
    let out = a.starweave(
        &[
            "deployments",
            "--format",
            "json",
            "--engine",
            &down,
            "--engine",
            &a.admin,
        ],
        tmp.path(),
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("1 of 2 engines answered"),
        "{}",
        text(&out.stderr)
    );
    let listed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["engine"] == a.admin.as_str()),
        "{listed}"
    );

    // Rolled back on the whole pool without sending anything; an engine without that version
    // makes it fail.
    let mut args = vec!["activate", "hello", "1"];
    args.extend_from_slice(&both);
    let out = a.starweave(&args, tmp.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    for engine in [&a, &b] {
        let list = json_of(&engine.starweave(&["deployments", "--format", "json"], tmp.path()));
        let active: Vec<&str> = list
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["active"] == true)
            .map(|d| d["version"].as_str().unwrap())
            .collect();
        assert_eq!(active, ["1"], "{list}");
    }
    let out = a.starweave(
        &["activate", "hello", "3", "--engine", &a.admin],
        tmp.path(),
    );
    refused(&out, 1, "has no hello 3 loaded");
    // With an engine down, the reachable ones still switch; the run fails and says so.
    let out = a.starweave(
        &[
            "activate", "hello", "2", "--engine", &down, "--engine", &a.admin,
        ],
        tmp.path(),
    );
    refused(
        &out,
        1,
        "1 of 2 engines answered; run the same command again",
    );
    assert!(
        text(&out.stdout).contains(&format!("takes the VMS's traffic on {} again", a.admin)),
        "{}",
        text(&out.stdout)
    );
    let mut args = vec!["activate", "hello", "2"];
    args.extend_from_slice(&both);
    assert!(a.starweave(&args, tmp.path()).status.success());

    // Undeployed from every engine; a version no engine has is an error.
    let mut args = vec!["undeploy", "hello", "1"];
    args.extend_from_slice(&both);
    let out = a.starweave(&args, tmp.path());
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).lines().count(),
        2,
        "{}",
        text(&out.stdout)
    );
    let out = a.starweave(&args, tmp.path());
    refused(&out, 1, "no deployment hello 1");
    let out = a.starweave(
        &[
            "undeploy", "hello", "2", "--engine", &down, "--engine", &a.admin,
        ],
        tmp.path(),
    );
    refused(&out, 1, "cannot reach the engine's admin API");
    assert!(
        text(&out.stdout).contains(&format!("undeployed hello 2 from {}", a.admin)),
        "{}",
        text(&out.stdout)
    );
}
