//! Data-driven validation tests: each `testdata/validate/*.bpmn` is a case; its reader and
//! validator diagnostics (as `file:line:col: severity[code] (element): message`) are a snapshot.

use std::path::Path;

use starweave_model::{bpmn, validate};

fn diagnostics_of(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).expect("test data is UTF-8");
    let doc = bpmn::read_bpmn(&text);
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    doc.diagnostics
        .iter()
        .cloned()
        .chain(validate::validate_bpmn(&doc))
        .map(|d| d.in_file(name.clone()).to_string())
        .collect()
}

#[test]
fn validation_cases() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/validate");
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/validate exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "bpmn"))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 7,
        "expected the validation cases in {}",
        dir.display()
    );
    for case in cases {
        let name = case.file_stem().unwrap().to_string_lossy().into_owned();
        let diags = diagnostics_of(&case);
        if name == "valid" || name == "not-executable" {
            assert!(
                diags.is_empty(),
                "{name}: expected no diagnostics, got {diags:#?}"
            );
        } else {
            assert!(!diags.is_empty(), "{name}: expected diagnostics");
        }
        insta::assert_yaml_snapshot!(name, diags);
    }
}

/// The validator must stay fast and iterative on long chains and deep loops: a 20,000-node
/// chain closed into one big cycle without exit is found, without recursion.
#[test]
fn huge_cycle_is_found_without_recursion() {
    let n = 20_000;
    let mut xml = String::from(
        r#"<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"><process id="p" isExecutable="true"><startEvent id="s"/><sequenceFlow id="fs" sourceRef="s" targetRef="t0"/>"#,
    );
    for i in 0..n {
        xml.push_str(&format!(
            r#"<task id="t{i}"/><sequenceFlow id="f{i}" sourceRef="t{i}" targetRef="t{}"/>"#,
            (i + 1) % n
        ));
    }
    xml.push_str("</process></definitions>");
    let doc = bpmn::read_bpmn(&xml);
    assert!(!doc.has_errors(), "{:?}", doc.diagnostics.first());
    let cycle_errors = |doc: &bpmn::BpmnDocument| {
        validate::validate_bpmn(doc)
            .iter()
            .filter(|d| d.code == "bpmn.cycle-without-exit")
            .count()
    };
    assert_eq!(cycle_errors(&doc), 1);
    // One flow out of the loop is a way out.
    let with_exit = xml.replace(
        "</process>",
        r#"<sequenceFlow id="out" sourceRef="t7" targetRef="e"/><endEvent id="e"/></process>"#,
    );
    assert_eq!(cycle_errors(&bpmn::read_bpmn(&with_exit)), 0);
    // So is an error boundary event on one of its tasks.
    let with_boundary = xml.replace(
        "</process>",
        r#"<boundaryEvent id="b" attachedToRef="t9"><errorEventDefinition/></boundaryEvent><sequenceFlow id="out" sourceRef="b" targetRef="e"/><endEvent id="e"/></process>"#,
    );
    assert_eq!(cycle_errors(&bpmn::read_bpmn(&with_boundary)), 0);
}
