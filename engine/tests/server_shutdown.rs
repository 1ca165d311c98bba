//! The real `starweave-engine` binary: `--load` at start, `/readyz`, JSON logs, and graceful
//! shutdown — SIGTERM while a slow request is in flight lets it complete, then exits 0.

mod server_common;

use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use server_common::{TOKEN, write_vms};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_the_request_in_flight_finish_then_exits_zero() {
    let root = tempfile::tempdir().expect("tempdir");
    let dir = write_vms(
        root.path(),
        "slow",
        &[
            ("vms.yaml", "name: slow\n"),
            ("functions/nap.yaml", "timeout_ms: 10000\n"),
            (
                "functions/nap.js",
                "export default async function () {\n  const end = Date.now() + 1000;\n  while (Date.now() < end) {}\n  return { slept: true };\n}\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: nap\n  method: GET\n  path: /nap\n",
            ),
        ],
    );
    let server_common::Launched {
        mut child,
        lines: lines_rx,
        data,
        admin,
    } = server_common::launch(
        Command::new(env!("CARGO_BIN_EXE_starweave-engine"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "--load",
            ])
            .arg(&dir)
            .env("STARWEAVE_ADMIN_TOKEN", TOKEN)
            .env("STARWEAVE_LOG", "info"),
    );
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut ready = false;
    for _ in 0..300 {
        let response = client
            .get(format!("http://{admin}/readyz"))
            .send()
            .await
            .expect("readyz");
        if response.status() == 200 {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ready, "the engine became ready");

    let slow = tokio::spawn({
        let client = client.clone();
        let url = format!("http://{data}/slow/nap");
        async move {
            let response = client
                .get(url)
                .send()
                .await
                .expect("the slow request gets an answer");
            (
                response.status().as_u16(),
                response.json::<Value>().await.expect("json"),
            )
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());

    let (status, body) = slow.await.expect("slow task");
    assert_eq!((status, body), (200, serde_json::json!({"slept": true})));
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(exit.code(), Some(0), "{exit:?}");

    // The log lines were JSON with the request's fields.
    let logs: Vec<Value> = lines_rx.try_iter().collect();
    let request = logs
        .iter()
        .find(|l| l["message"] == "request")
        .expect("a request log line");
    assert_eq!(request["vms"], "slow");
    assert_eq!(request["version"], "local");
    assert_eq!(request["function"], "nap");
    assert_eq!(request["trigger"], "http");
    assert_eq!(request["trace_id"].as_str().map(str::len), Some(32));
    assert!(
        logs.iter().any(|l| l["message"] == "engine stopped"),
        "{logs:?}"
    );
}
