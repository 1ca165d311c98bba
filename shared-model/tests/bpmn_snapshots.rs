//! Snapshot tests: the model of a small file, and the diagnostics of every file in
//! `testdata/bpmn/bad/` (data-driven: add a file to add a case).

use std::path::Path;

use starweave_model::bpmn::read_bpmn_bytes;

#[test]
fn model_of_a_small_file() {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bpmn/tools/default_namespace.bpmn");
    let doc = read_bpmn_bytes(&std::fs::read(path).expect("read testdata"));
    assert!(doc.diagnostics.is_empty());
    insta::assert_yaml_snapshot!("model_default_namespace", doc.definitions);
}

#[test]
fn diagnostics_of_bad_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bpmn/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("testdata/bpmn/bad exists")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "bpmn"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "expected the bad-file cases in {}",
        dir.display()
    );
    for path in files {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .expect("file name")
            .to_owned();
        let doc = read_bpmn_bytes(&std::fs::read(&path).expect("read testdata"));
        assert!(
            !doc.diagnostics.is_empty(),
            "{stem}: a bad file must produce diagnostics"
        );
        let lines: Vec<String> = doc
            .diagnostics
            .iter()
            .map(|d| d.clone().in_file(format!("{stem}.bpmn")).to_string())
            .collect();
        insta::assert_yaml_snapshot!(format!("bad_{stem}"), lines);
    }
}
