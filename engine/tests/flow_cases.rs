//! Data-driven BPMN semantics tests: every folder of `testdata/flows/` is a case.
//!
//! A case is `flow.bpmn` plus `case.yaml`:
//!
//! ```yaml
//! description: what the case shows
//! function: p              # the process to run (the only one when absent)
//! input: {a: 1}
//! mocks: {users.get: {result: {name: Ada}}}       # as in a VMS test case
//! fake: {x.slow: [{result: {}, delay_ms: 5000}]}  # the in-process fake connectors
//! paused_time: true        # run on paused tokio time (timers fire without waiting)
//! timeout_ms: 100          # the run's deadline
//! cancel_after_ms: 20      # cancel the run after this long
//! output: {...}            # the expected output, or
//! error: {code: X}         # the expected error, or
//! compile_error: engine.unsupported   # the expected compile diagnostic code
//! ```
//!
//! Each case also snapshots (insta) its outcome, its trace with times redacted, and what the
//! fake connectors saw.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use starweave_engine::compile::{Scripting, compile_bpmn};
use starweave_engine::connectors::{FakeConnectors, FakeEvent, FakeReply};
use starweave_engine::mocks::Mocks;
use starweave_engine::run::{CancelToken, RunConfig, RunError, RunOutcome, run_function};
use starweave_engine::testing::json_equal;
use starweave_model::bpmn::read_bpmn;
use starweave_model::trace::Trace;
use starweave_model::vms::test_case::Mock;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    description: String,
    #[serde(default)]
    function: Option<String>,
    #[serde(default)]
    input: Value,
    #[serde(default)]
    mocks: IndexMap<String, Mock>,
    #[serde(default)]
    fake: BTreeMap<String, Vec<FakeReply>>,
    #[serde(default)]
    paused_time: bool,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    cancel_after_ms: Option<u64>,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<ExpectedError>,
    #[serde(default)]
    compile_error: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedError {
    code: String,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Serialize)]
struct Snapshot {
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<RunError>,
    trace: Option<Trace>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    connector_events: Vec<FakeEvent>,
}

fn run_case(dir: &Path, scripting: &Scripting) -> Result<(), String> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_owned();
    let case_text =
        std::fs::read_to_string(dir.join("case.yaml")).map_err(|e| format!("case.yaml: {e}"))?;
    let case: Case = serde_yaml_ng::from_str(&case_text).map_err(|e| format!("case.yaml: {e}"))?;
    let bpmn =
        std::fs::read_to_string(dir.join("flow.bpmn")).map_err(|e| format!("flow.bpmn: {e}"))?;
    let document = read_bpmn(&bpmn);
    if document.has_errors() {
        return Err(format!(
            "flow.bpmn does not read: {:?}",
            document.diagnostics
        ));
    }
    let compiled = compile_bpmn(&document.definitions, Some("flow.bpmn"), scripting);
    if let Some(code) = &case.compile_error {
        return if compiled
            .diagnostics
            .iter()
            .any(|d| d.is_error() && d.code == *code)
        {
            Ok(())
        } else {
            Err(format!(
                "expected compile error {code}, got {:?}",
                compiled.diagnostics
            ))
        };
    }
    if compiled.has_errors() {
        return Err(format!("does not compile: {:?}", compiled.diagnostics));
    }
    let program = compiled.program;
    let function = match &case.function {
        Some(f) => f.clone(),
        None => program
            .function_names()
            .first()
            .map(|f| f.to_string())
            .unwrap_or_default(),
    };

    let run = |trace: bool| -> Result<(RunOutcome, Arc<FakeConnectors>), String> {
        let mut fake = FakeConnectors::new();
        for (method, replies) in &case.fake {
            fake = fake.with(method, replies.clone());
        }
        let fake = Arc::new(fake);
        let cancel = CancelToken::new();
        let config = RunConfig {
            timeout: case.timeout_ms.map(Duration::from_millis),
            trace,
            mocks: Arc::new(Mocks::from_model(&case.mocks)),
            connectors: fake.clone(),
            cancel: cancel.clone(),
            ..RunConfig::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .start_paused(case.paused_time)
            .build()
            .map_err(|e| e.to_string())?;
        let outcome = runtime.block_on(async {
            if let Some(ms) = case.cancel_after_ms {
                tokio::spawn(async move {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    cancel.cancel();
                });
            }
            run_function(&program, &function, case.input.clone(), config).await
        });
        Ok((outcome, fake))
    };
    // A run without a trace takes shortcuts (values are moved, not copied, where nothing
    // reads them again): it must end exactly as the traced run does.
    let (untraced, _) = run(false)?;
    let (outcome, fake) = run(true)?;
    let same = match (&untraced.output, &outcome.output) {
        (Ok(a), Ok(b)) => json_equal(a, b),
        (Err(a), Err(b)) => a == b,
        _ => false,
    };
    if !same {
        return Err(format!(
            "without a trace the run gave {:?}, with one {:?}",
            untraced.output, outcome.output
        ));
    }

    match (&case.output, &case.error, &outcome.output) {
        (Some(expected), _, Ok(actual)) if json_equal(expected, actual) => {}
        (_, Some(expected), Err(actual))
            if expected.code == actual.code
                && expected
                    .message
                    .as_ref()
                    .is_none_or(|m| *m == actual.message) => {}
        (expected_output, expected_error, actual) => {
            return Err(format!(
                "expected output {expected_output:?} / error {:?}, got {actual:?}",
                expected_error.as_ref().map(|e| &e.code)
            ));
        }
    }

    let (output, error) = match outcome.output {
        Ok(v) => (Some(v), None),
        Err(e) => (None, Some(e)),
    };
    let snapshot = Snapshot {
        description: case.description,
        output,
        error,
        trace: outcome.trace,
        connector_events: fake.events(),
    };
    insta::with_settings!({ snapshot_suffix => name.clone(), prepend_module_to_snapshot => false, omit_expression => true }, {
        insta::assert_yaml_snapshot!("flow", snapshot, {
            ".trace.duration_us" => "[us]",
            ".trace.steps[].start_offset_us" => "[us]",
            ".trace.steps[].duration_us" => "[us]",
        });
    });
    Ok(())
}

#[test]
fn flow_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/flows");
    let mut dirs: Vec<_> = std::fs::read_dir(&root)
        .expect("testdata/flows exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 20,
        "expected the flow cases, found {}",
        dirs.len()
    );
    let scripting = Scripting::default();
    let mut failures = Vec::new();
    for dir in &dirs {
        if let Err(message) = run_case(dir, &scripting) {
            failures.push(format!("{}: {message}", dir.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        dirs.len(),
        failures.join("\n")
    );
}
