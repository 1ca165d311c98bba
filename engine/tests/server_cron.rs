//! A cron trigger of a deployed VMS fires on the system clock, calls its function, and stops
//! when the deployment is unloaded.

mod server_common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use server_common::{start_engine, write_vms};
use starweave_engine::connectors::{FakeConnectors, FakeReply};
use starweave_engine::server::registry::{DeploymentSpec, EngineOptions};
use starweave_engine::server::source::Source;

const TICK_BPMN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:sw="https://starweave.dev/schema/bpmn/1.0" id="defs" targetNamespace="https://starweave.dev/test">
  <bpmn:process id="tick" isExecutable="true">
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cron_trigger_runs_its_function_until_unloaded() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = write_vms(
        root.path(),
        "ticker",
        &[
            ("vms.yaml", "name: ticker\n"),
            ("functions/tick.bpmn", TICK_BPMN),
            (
                "connectors/net.yaml",
                "kind: http\nbase_url: http://127.0.0.1:9\nmethods:\n- name: ping\n  method: GET\n  path: /ping\n",
            ),
            (
                "triggers.yaml",
                "- kind: cron\n  function: tick\n  schedule: '* * * * * *'\n  timezone: Europe/Paris\n",
            ),
        ],
    );
    let fake = Arc::new(
        FakeConnectors::new().with("net.ping", vec![FakeReply::ok(json!({"pong": true}))]),
    );
    let spec = DeploymentSpec {
        vms: "ticker".into(),
        version: "1".into(),
        source: Source::Path(dir.display().to_string()),
        env: BTreeMap::new(),
        concurrency: None,
        timeout_ms: None,
        log_level: None,
    };
    engine
        .server
        .registry
        .deploy(spec, Some(fake.clone()))
        .await
        .expect("deploy");
    let mut calls = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        calls = fake.events().len();
        if calls >= 2 {
            break;
        }
    }
    assert!(calls >= 2, "the schedule ran {calls} time(s)");

    assert_eq!(engine.undeploy("ticker", "1").await, 204);
    let after_unload = fake.events().len();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.events().len(), after_unload, "no run after the unload");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_version_does_not_start_its_job_while_the_previous_run_goes_on() {
    let root = tempfile::tempdir().expect("tempdir");
    let engine = start_engine(EngineOptions::default()).await;
    let dir = write_vms(
        root.path(),
        "slow",
        &[
            ("vms.yaml", "name: slow\n"),
            ("functions/tick.bpmn", TICK_BPMN),
            (
                "connectors/net.yaml",
                "kind: http\nbase_url: http://127.0.0.1:9\nmethods:\n- name: ping\n  method: GET\n  path: /ping\n",
            ),
            (
                "triggers.yaml",
                "- kind: cron\n  function: tick\n  schedule: '* * * * * *'\n",
            ),
        ],
    );
    let spec = |version: &str| DeploymentSpec {
        vms: "slow".into(),
        version: version.into(),
        source: Source::Path(dir.display().to_string()),
        env: BTreeMap::new(),
        concurrency: None,
        timeout_ms: None,
        log_level: None,
    };
    // Version 1's run lasts 6 s; version 2's are quick.
    const RUN_MS: u64 = 6000;
    let slow = Arc::new(FakeConnectors::new().with(
        "net.ping",
        vec![FakeReply::ok(json!({"pong": 1})).after_ms(RUN_MS)],
    ));
    let quick =
        Arc::new(FakeConnectors::new().with("net.ping", vec![FakeReply::ok(json!({"pong": 2}))]));
    let registry = &engine.server.registry;
    registry
        .deploy(spec("1"), Some(slow.clone()))
        .await
        .expect("deploy 1");
    let mut waited = 0;
    while slow.events().is_empty() {
        assert!(waited < 100, "version 1 never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    let run_started = std::time::Instant::now();
    registry
        .deploy(spec("2"), Some(quick.clone()))
        .await
        .expect("deploy 2");
    // Version 2's schedule ticks every second while version 1's run goes on.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let during = quick.events().len();
    assert!(
        run_started.elapsed() < Duration::from_millis(RUN_MS),
        "too slow a machine for this check: version 1's run may have ended"
    );
    assert_eq!(during, 0, "version 2 ran while version 1's run went on");
    assert_eq!(slow.events().len(), 1, "version 1 started one run only");
    // Once it ends, version 2 runs on its schedule.
    let mut waited = 0;
    while quick.events().is_empty() {
        assert!(waited < 200, "version 2 never ran");
        tokio::time::sleep(Duration::from_millis(50)).await;
        waited += 1;
    }
    assert!(run_started.elapsed() >= Duration::from_millis(RUN_MS - 1000));
}
