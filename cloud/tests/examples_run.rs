//! The example VMS in `assets/examples/` pass their own test cases with `starweave test`,
//! and `starweave run` runs a bare BPMN file and reports failures as JSON with exit code 1.

use std::path::{Path, PathBuf};
use std::process::Command;

fn starweave() -> Command {
    Command::new(env!("CARGO_BIN_EXE_starweave"))
}

fn examples() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/examples");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    dirs.retain(|d| d.join("vms.yaml").is_file());
    dirs.sort();
    dirs
}

#[test]
fn every_example_passes_starweave_test() {
    let examples = examples();
    assert!(!examples.is_empty(), "no example VMS under assets/examples");
    let mut failures = Vec::new();
    for dir in &examples {
        let out = starweave()
            .arg("test")
            .arg(dir)
            .output()
            .expect("starweave runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() || !stdout.contains("PASS ") {
            failures.push(format!(
                "{}: exit {:?}\n{stdout}\n{}",
                dir.display(),
                out.status.code(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

const FLOW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:error id="too_big" name="Too big" errorCode="TOO_BIG"/>
  <bpmn:process id="double" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:scriptTask id="calc" scriptFormat="rhai"><bpmn:script>let doubled = n * 2;</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="check" default="ok"/>
    <bpmn:endEvent id="done"/>
    <bpmn:endEvent id="fail"><bpmn:errorEventDefinition errorRef="too_big"/></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="calc"/>
    <bpmn:sequenceFlow id="f2" sourceRef="calc" targetRef="check"/>
    <bpmn:sequenceFlow id="big" sourceRef="check" targetRef="fail"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">doubled &gt; 100</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="ok" sourceRef="check" targetRef="done"/>
  </bpmn:process>
</bpmn:definitions>"#;

#[test]
fn run_prints_all_variables_of_a_bare_bpmn_and_the_error_json_on_failure() {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("double.bpmn");
    std::fs::write(&file, FLOW).expect("write");

    let out = starweave()
        .arg("run")
        .arg(&file)
        .args(["--input", r#"{"n": 4}"#, "--trace"])
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let output: serde_json::Value = serde_json::from_slice(&out.stdout).expect("output JSON");
    assert_eq!(output, serde_json::json!({"n": 4, "doubled": 8}));
    let trace = String::from_utf8_lossy(&out.stderr);
    assert!(trace.contains("exclusive_gateway check → ok"), "{trace}");

    let out = starweave()
        .arg("run")
        .arg(&file)
        .args(["--input", r#"{"n": 60}"#])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let error: serde_json::Value = serde_json::from_slice(&out.stdout).expect("error JSON");
    assert_eq!(error["code"], "TOO_BIG");
    assert_eq!(error["element"], "fail");
}
