//! Isolation: VMS whose runs loop forever (JavaScript `while (true) {}`, a Rhai `loop`) or
//! panic are deployed beside a healthy one and called continuously; the healthy one keeps
//! answering 200 to every request, and each faulty request fails alone (500/503/504).

mod server_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use server_common::{greeter, start_engine, write_vms};
use starweave_engine::connectors::{BoxFuture, ConnectorError, ConnectorRequest, Connectors};
use starweave_engine::server::registry::{DeploymentSpec, EngineOptions};
use starweave_engine::server::source::Source;

/// Connectors whose every call panics: a bug in a connector must only fail its own run.
#[derive(Debug)]
struct PanickingConnectors;

impl Connectors for PanickingConnectors {
    fn call<'a>(
        &'a self,
        request: ConnectorRequest<'a>,
    ) -> BoxFuture<'a, Result<Value, ConnectorError>> {
        Box::pin(async move {
            panic!(
                "connector {}.{} exploded",
                request.connector, request.method
            )
        })
    }
}

const PANIC_BPMN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sw="https://starweave.dev/schema/bpmn/1.0" id="defs" targetNamespace="https://starweave.dev/test">
  <bpmn:process id="boom" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:serviceTask id="ping">
      <bpmn:extensionElements>
        <sw:task connector="net" method="ping"/>
      </bpmn:extensionElements>
    </bpmn:serviceTask>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="ping"/>
    <bpmn:sequenceFlow id="f1" sourceRef="ping" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>
"#;

/// Keeps the expected connector panics out of the test output; other panics print as usual.
fn quiet_expected_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let expected = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m.ends_with("exploded"));
        if !expected {
            default(info);
        }
    }));
}

async fn hammer(url: String, stop: Arc<AtomicBool>) -> BTreeMap<String, usize> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut outcomes = BTreeMap::new();
    while !stop.load(Ordering::Relaxed) {
        // Fast failures would otherwise take all the CPU of this 2-core test.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let key = match client.get(&url).send().await {
            Ok(response) => response.status().as_u16().to_string(),
            Err(err) => format!("socket error: {err}"),
        };
        *outcomes.entry(key).or_insert(0) += 1;
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn looping_and_panicking_vms_do_not_starve_a_healthy_one() {
    quiet_expected_panics();
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions {
        queue_timeout: Duration::from_millis(50),
        ..EngineOptions::default()
    })
    .await;
    let healthy = greeter(root.path(), "greeter", "v1");
    assert_eq!(
        engine.deploy("greeter", "v1", &healthy, json!({})).await.0,
        201
    );

    let js_loop = write_vms(
        root.path(),
        "js-loop",
        &[
            ("vms.yaml", "name: js-loop\n"),
            ("functions/spin.yaml", "timeout_ms: 1000\n"),
            (
                "functions/spin.js",
                "export default async function () {\n  while (true) {}\n}\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: spin\n  method: GET\n  path: /spin\n",
            ),
        ],
    );
    let (status, body) = engine
        .deploy("js-loop", "1", &js_loop, json!({"concurrency": 2}))
        .await;
    assert_eq!(status, 201, "{body}");
    let rhai_loop = write_vms(
        root.path(),
        "rhai-loop",
        &[
            ("vms.yaml", "name: rhai-loop\n"),
            ("functions/spin.yaml", "timeout_ms: 1000\n"),
            (
                "functions/spin.rhai",
                "fn main(input, ctx) {\n  let i = 0;\n  loop { i += 1; }\n}\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: spin\n  method: GET\n  path: /spin\n",
            ),
        ],
    );
    let (status, body) = engine
        .deploy("rhai-loop", "1", &rhai_loop, json!({"concurrency": 2}))
        .await;
    assert_eq!(status, 201, "{body}");
    let panicker = write_vms(
        root.path(),
        "panicker",
        &[
            ("vms.yaml", "name: panicker\n"),
            ("functions/boom.bpmn", PANIC_BPMN),
            (
                "connectors/net.yaml",
                "kind: http\nbase_url: http://127.0.0.1:9\nmethods:\n- name: ping\n  method: GET\n  path: /ping\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: boom\n  method: GET\n  path: /boom\n",
            ),
        ],
    );
    let spec = DeploymentSpec {
        vms: "panicker".into(),
        version: "1".into(),
        source: Source::Path(panicker.display().to_string()),
        env: BTreeMap::new(),
        concurrency: Some(4),
        timeout_ms: None,
        log_level: None,
    };
    engine
        .server
        .registry
        .deploy(spec, Some(Arc::new(PanickingConnectors)))
        .await
        .expect("deploy panicker");

    let stop = Arc::new(AtomicBool::new(false));
    let mut faulty = Vec::new();
    for path in [
        "/js-loop/spin",
        "/js-loop/spin",
        "/js-loop/spin",
        "/rhai-loop/spin",
        "/rhai-loop/spin",
        "/rhai-loop/spin",
        "/panicker/boom",
        "/panicker/boom",
    ] {
        faulty.push((path, tokio::spawn(hammer(engine.url(path), stop.clone()))));
    }
    // Let the faulty traffic fill its VMS's slots first.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let mut latencies = Vec::new();
    let started = Instant::now();
    let mut healthy_handles = Vec::new();
    for _ in 0..4 {
        let client = client.clone();
        let url = engine.url("/greeter/hello/ada");
        healthy_handles.push(tokio::spawn(async move {
            let mut results = Vec::new();
            let until = Instant::now() + Duration::from_millis(2500);
            while Instant::now() < until {
                let start = Instant::now();
                let response = client.get(&url).send().await.expect("healthy request");
                let status = response.status().as_u16();
                let body: Value = response.json().await.expect("json");
                results.push((status, body, start.elapsed()));
            }
            results
        }));
    }
    let mut healthy_count = 0;
    for handle in healthy_handles {
        for (status, body, latency) in handle.await.expect("healthy task") {
            assert_eq!(status, 200, "{body}");
            assert_eq!(body["message"], "hello ada");
            latencies.push(latency);
            healthy_count += 1;
        }
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let mut by_path: BTreeMap<&str, BTreeMap<String, usize>> = BTreeMap::new();
    for (path, handle) in faulty {
        for (outcome, count) in handle.await.expect("faulty task") {
            *by_path.entry(path).or_default().entry(outcome).or_insert(0) += count;
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "healthy VMS beside looping/panicking ones: {healthy_count} requests in {:.1} s, all 200; p50 {:?}, p99 {:?}",
        elapsed.as_secs_f64(),
        pct(0.5),
        pct(0.99)
    );
    println!("faulty traffic outcomes: {by_path:?}");
    assert!(healthy_count > 0);
    for (path, outcomes) in &by_path {
        assert!(
            outcomes
                .keys()
                .all(|k| ["500", "503", "504"].contains(&k.as_str())),
            "{path}: {outcomes:?}"
        );
    }
    assert!(by_path["/panicker/boom"].contains_key("500"), "{by_path:?}");
    assert!(by_path["/js-loop/spin"].contains_key("504"), "{by_path:?}");
    // The engine still serves the faulty VMS's other requests normally afterwards.
    assert_eq!(
        engine.get("/greeter/version").await,
        (200, json!({"version": "v1"}))
    );
}

/// A client that gives up does not stop its run: the run still counts as in flight, so an
/// unload drains (waits for) it instead of reporting the deployment idle at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_client_went_away_is_still_in_flight() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = write_vms(
        root.path(),
        "nap",
        &[
            ("vms.yaml", "name: nap\n"),
            ("functions/nap.yaml", "timeout_ms: 20000\n"),
            (
                "functions/nap.js",
                "export default async function () {\n  const end = Date.now() + 4000;\n  while (Date.now() < end) {}\n  return { slept: true };\n}\n",
            ),
            (
                "triggers.yaml",
                "- kind: http\n  function: nap\n  method: GET\n  path: /nap\n",
            ),
        ],
    );
    let (status, body) = engine.deploy("nap", "1", &dir, json!({})).await;
    assert_eq!(status, 201, "{body}");
    let impatient = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_millis(500))
        .build()
        .expect("client");
    impatient
        .get(engine.url("/nap/nap"))
        .send()
        .await
        .expect_err("the client gives up before the run ends");
    let gave_up = Instant::now();
    let in_flight = engine
        .client
        .get(engine.admin_url("/admin/deployments/nap/1"))
        .bearer_auth(server_common::TOKEN)
        .send()
        .await
        .expect("show")
        .json::<Value>()
        .await
        .expect("json")["in_flight"]
        .clone();
    assert!(
        gave_up.elapsed() < Duration::from_millis(3000),
        "too slow a machine for this check: the run may have ended"
    );
    assert_eq!(in_flight, json!(1));
    // The unload waits for the run and reports it drained.
    assert_eq!(engine.undeploy("nap", "1").await, 204);
    assert!(gave_up.elapsed() >= Duration::from_millis(2500));
}
