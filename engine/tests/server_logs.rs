//! The real `starweave-engine` binary: what code functions log through `ctx.log` reaches the
//! engine's log with the deployment's names and the request's trace id (lines logged before
//! a failure included), a deployment's log level decides which of its lines are written
//! (debug included, whatever the process's own filter), and `GET /admin/logs/{vms}` shows,
//! filters and follows the VMS's recent lines.

mod server_common;

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use server_common::{TOKEN, write_vms};

struct Engine {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<Value>,
    data: String,
    admin: String,
    client: reqwest::Client,
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Engine {
    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("http://{}{path}", self.admin))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("admin call");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, key: Option<&str>) -> (u16, String) {
        let mut request = self.client.get(format!("http://{}{path}", self.data));
        if let Some(key) = key {
            request = request.header("x-diary-key", key);
        }
        let response = request.send().await.expect("data call");
        let status = response.status().as_u16();
        let trace = response
            .headers()
            .get("x-starweave-trace-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        (status, trace)
    }

    /// Standard error's lines until one matches (each line is read once).
    fn wait_for(&self, what: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no log line {what}"));
            if matches(&line) {
                return line;
            }
        }
    }

    /// The standard error lines that came so far.
    fn drain(&self) -> Vec<Value> {
        std::thread::sleep(Duration::from_millis(300));
        self.lines.try_iter().collect()
    }
}

fn diary(root: &std::path::Path) -> std::path::PathBuf {
    write_vms(
        root,
        "diary",
        &[
            (
                "vms.yaml",
                "name: diary\nenv:\n- name: DIARY_KEY\n  secret: true\n",
            ),
            (
                "functions/note.js",
                r#"export default function (input, ctx) {
  ctx.log.info("note for", input.name);
  if (input.name === "grumpy") { ctx.log.warn("grumpy visitor", { mood: 1 }); }
  if (input.name === "fail") {
    ctx.log.error("about to fail");
    throw new Error("the diary is full");
  }
  return { written: input.name };
}
"#,
            ),
            (
                "functions/tally.rhai",
                "fn main(input, ctx) {\n    ctx.log.info(\"tally from rhai\");\n    #{ count: 1 }\n}\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: note\n  method: GET\n  path: /note/{name}\n- kind: http\n  function: tally\n  method: GET\n  path: /tally\n  auth:\n    type: api_key\n    header: x-diary-key\n    value_env: DIARY_KEY\n",
            ),
        ],
    )
}

async fn start(root: &std::path::Path) -> Engine {
    let launched = server_common::launch(
        Command::new(env!("CARGO_BIN_EXE_starweave-engine"))
            .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .env("STARWEAVE_ADMIN_TOKEN", TOKEN)
            // The process's own filter stays at info: a deployment at debug still gets its
            // debug lines.
            .env("STARWEAVE_LOG", "info")
            .env("STARWEAVE_LOG_FLUSH_MS", "0")
            .env("STARWEAVE_RECENT_LOG_KIB", "64"),
    );
    let engine = Engine {
        child: launched.child,
        lines: launched.lines,
        data: launched.data,
        admin: launched.admin,
        client: reqwest::Client::builder()
            .no_proxy()
            .build()
            .expect("client"),
    };
    let dir = diary(root);
    let (status, body) = engine
        .admin(
            reqwest::Method::POST,
            "/admin/deployments",
            Some(json!({
                "vms": "diary", "version": "1",
                "source": { "path": dir.display().to_string() },
                "env": { "DIARY_KEY": "open-sesame" },
            })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    engine
}

fn messages(page: &Value) -> Vec<String> {
    page["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| l["message"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_logs_reach_the_engine_log_and_the_recent_lines() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start(root.path()).await;

    // A line logged by the code, with the deployment's names and the request's trace id.
    let (status, trace) = engine.get("/diary/note/ada", None).await;
    assert_eq!(status, 200);
    let line = engine.wait_for("from ctx.log", |l| l["message"] == "note for ada");
    assert_eq!(line["level"], "INFO", "{line}");
    assert_eq!(line["vms"], "diary");
    assert_eq!(line["version"], "1");
    assert_eq!(line["function"], "note");
    assert_eq!(line["trigger"], "http");
    assert_eq!(line["source"], "ctx.log");
    let request = engine.wait_for("of the request", |l| l["message"] == "request");
    assert_eq!(line["trace_id"], request["trace_id"], "{line} {request}");
    assert_eq!(line["trace_id"], trace.as_str());

    // A failing run: what it logged before it failed is in the log, before the failure.
    let (status, _) = engine.get("/diary/note/fail", None).await;
    assert_eq!(status, 500);
    let before = engine.wait_for("before the failure", |l| l["message"] == "about to fail");
    assert_eq!(before["level"], "ERROR");
    let failed = engine.wait_for("of the failure", |l| l["message"] == "request failed");
    assert_eq!(before["trace_id"], failed["trace_id"]);

    // The recent lines, newest last, with sequence numbers.
    let (status, page) = engine
        .admin(reqwest::Method::GET, "/admin/logs/diary", None)
        .await;
    assert_eq!(status, 200, "{page}");
    let all = messages(&page);
    let ada = all.iter().position(|m| m == "note for ada").expect("ada");
    let fail = all.iter().position(|m| m == "about to fail").expect("fail");
    assert!(ada < fail, "{all:?}");
    assert!(all.iter().any(|m| m == "deployment applied"), "{all:?}");
    let seqs: Vec<u64> = page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["seq"].as_u64().unwrap())
        .collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert_eq!(page["next"], *seqs.last().unwrap());
    assert_eq!(page["missed"], 0);

    // Filters: a level and worse, text ignoring case, a version.
    let (_, errors) = engine
        .admin(reqwest::Method::GET, "/admin/logs/diary?level=error", None)
        .await;
    assert_eq!(
        messages(&errors),
        ["about to fail", "the run failed", "request failed"]
    );
    let (_, found) = engine
        .admin(reqwest::Method::GET, "/admin/logs/diary?q=NOTE%20FOR", None)
        .await;
    assert_eq!(messages(&found), ["note for ada", "note for fail"]);
    let (_, other) = engine
        .admin(reqwest::Method::GET, "/admin/logs/diary?version=2", None)
        .await;
    assert!(messages(&other).is_empty(), "{other}");
    // One request's lines by the trace id its answer carried.
    let (_, traced) = engine
        .admin(
            reqwest::Method::GET,
            &format!("/admin/logs/diary?trace={trace}"),
            None,
        )
        .await;
    assert_eq!(messages(&traced), ["note for ada", "request"]);
    // A time window: every line is at or after the first one's time; none after the newest.
    let lines = page["lines"].as_array().unwrap();
    let stamp = |l: &Value| l["timestamp"].as_str().unwrap().to_owned();
    let (first, newest) = (stamp(&lines[0]), stamp(lines.last().unwrap()));
    let engine_ref = &engine;
    let window = move |query: String| async move {
        let (status, page) = engine_ref.admin(reqwest::Method::GET, &query, None).await;
        assert_eq!(status, 200, "{query}: {page}");
        messages(&page)
    };
    assert_eq!(
        window(format!("/admin/logs/diary?since={first}&until={newest}")).await,
        all
    );
    let fail_time = stamp(&lines[fail]);
    let since_fail = window(format!("/admin/logs/diary?since={fail_time}")).await;
    assert!(
        !since_fail.contains(&"note for ada".to_owned()),
        "{since_fail:?}"
    );
    assert!(
        since_fail.contains(&"about to fail".to_owned()),
        "{since_fail:?}"
    );
    let until_ada = window(format!("/admin/logs/diary?until={}", stamp(&lines[ada]))).await;
    assert!(
        until_ada.contains(&"note for ada".to_owned()),
        "{until_ada:?}"
    );
    assert!(
        !until_ada.contains(&"about to fail".to_owned()),
        "{until_ada:?}"
    );
    assert!(
        window("/admin/logs/diary?since=2999-01-01T00:00:00Z".into())
            .await
            .is_empty()
    );

    // Following: nothing new after `next`, then only what came since.
    let (ring, next) = (
        page["ring"].as_u64().unwrap(),
        page["next"].as_u64().unwrap(),
    );
    let follow = format!("/admin/logs/diary?after={next}&ring={ring}");
    let (_, idle) = engine.admin(reqwest::Method::GET, &follow, None).await;
    assert!(messages(&idle).is_empty(), "{idle}");
    assert_eq!(idle["next"], next);
    engine.get("/diary/note/grumpy", None).await;
    engine.wait_for("of grumpy", |l| l["message"] == "request");
    let (_, new) = engine.admin(reqwest::Method::GET, &follow, None).await;
    assert_eq!(
        messages(&new),
        ["note for grumpy", "grumpy visitor {\"mood\":1}", "request"]
    );

    // The deployment at `error`: info and warn lines of its code are no longer written.
    let (status, info) = engine
        .admin(
            reqwest::Method::PUT,
            "/admin/deployments/diary/1/log-level",
            Some(json!({ "level": "error" })),
        )
        .await;
    assert_eq!((status, &info["log_level"]), (200, &json!("error")));
    engine.drain();
    engine.get("/diary/note/grumpy", None).await;
    engine.get("/diary/note/fail", None).await;
    engine.wait_for("of the second failure", |l| {
        l["message"] == "request failed"
    });
    let written: Vec<Value> = engine.drain();
    assert!(
        !written
            .iter()
            .any(|l| l["message"] == "note for grumpy" || l["message"] == "request"),
        "{written:?}"
    );

    // At `debug`, the deployment's debug lines are written although the process logs at info.
    engine
        .admin(
            reqwest::Method::PUT,
            "/admin/deployments/diary/1/log-level",
            Some(json!({ "level": "debug" })),
        )
        .await;
    let (status, _) = engine.get("/diary/tally", Some("wrong")).await;
    assert_eq!(status, 401);
    let debug = engine.wait_for("of the refused key", |l| {
        l["message"] == "authentication failed"
    });
    assert_eq!(
        (&debug["level"], &debug["vms"]),
        (&json!("DEBUG"), &json!("diary"))
    );
    let (status, _) = engine.get("/diary/tally", Some("open-sesame")).await;
    assert_eq!(status, 200);
    let rhai = engine.wait_for("from Rhai", |l| l["message"] == "tally from rhai");
    assert_eq!(rhai["function"], "tally");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_logs_api_refuses_bad_reads_and_forgets_an_unloaded_vms() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start(root.path()).await;
    let url = format!("http://{}/admin/logs/diary", engine.admin);
    let anonymous = engine.client.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);
    for bad in [
        "limit=0",
        "limit=2001",
        "level=loud",
        "after=-1",
        "colour=red",
        "since=yesterday",
        "until=2026-13-01T00:00:00Z",
        "since=2026-12-07T10:00:00Z&until=2026-12-07T09:00:00Z",
    ] {
        let (status, body) = engine
            .admin(
                reqwest::Method::GET,
                &format!("/admin/logs/diary?{bad}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert!(body["message"].is_string(), "{bad}: {body}");
    }
    let (status, _) = engine
        .admin(reqwest::Method::GET, "/admin/logs/nobody", None)
        .await;
    assert_eq!(status, 404);

    // Many lines: the ring keeps the newest within its 64 KiB, and a follower learns how
    // many it missed.
    let (_, first) = engine
        .admin(reqwest::Method::GET, "/admin/logs/diary", None)
        .await;
    let (ring, next) = (
        first["ring"].as_u64().unwrap(),
        first["next"].as_u64().unwrap(),
    );
    let long = "x".repeat(1000);
    for _ in 0..80 {
        engine.get(&format!("/diary/note/{long}"), None).await;
    }
    let (status, page) = engine
        .admin(
            reqwest::Method::GET,
            &format!("/admin/logs/diary?after={next}&ring={ring}&limit=2000"),
            None,
        )
        .await;
    assert_eq!(status, 200);
    let kept = page["lines"].as_array().unwrap().len() as u64;
    let missed = page["missed"].as_u64().unwrap();
    assert!(missed > 0, "{missed} missed, {kept} kept");
    assert_eq!(page["next"].as_u64().unwrap(), next + missed + kept);
    let bytes: usize = page["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.to_string().len())
        .sum();
    assert!(bytes <= 70 * 1024, "{bytes} bytes kept");

    // Unloading the VMS's last version forgets its lines.
    let (status, _) = engine
        .admin(reqwest::Method::DELETE, "/admin/deployments/diary/1", None)
        .await;
    assert!(status == 204 || status == 200);
    let (status, _) = engine
        .admin(reqwest::Method::GET, "/admin/logs/diary", None)
        .await;
    assert_eq!(status, 404);
}
