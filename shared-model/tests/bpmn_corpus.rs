//! Every `.bpmn` of the BPMN MIWG corpus imports without errors, round-trips to an equal
//! model, exports idempotently and keeps every element id.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use starweave_model::bpmn::{read_bpmn, read_bpmn_bytes, write_bpmn};

/// The OMG BPMN MIWG reference models and their bpmn.io exports, kept in the repository
/// (CC BY 3.0, see its README) so the test runs the same on every clone.
fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/bpmn-miwg")
}

fn bpmn_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            bpmn_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "bpmn") {
            out.push(path);
        }
    }
}

/// Every `id="…"` attribute value, found by a naive scan of the text (no XML parsing), so
/// the check does not share the reader's blind spots.
fn naive_ids(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find(" id=\"") {
        rest = &rest[i + 5..];
        if let Some(end) = rest.find('"') {
            ids.insert(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    ids
}

#[test]
fn every_miwg_file_round_trips() {
    let dir = corpus_dir();
    assert!(
        dir.is_dir(),
        "the BPMN MIWG corpus is missing: expected it at {} (testdata/bpmn-miwg in the crate)",
        dir.display()
    );
    let mut files = Vec::new();
    bpmn_files(&dir, &mut files);
    assert!(
        files.len() >= 60,
        "expected the whole MIWG corpus, found only {} files",
        files.len()
    );

    let mut elements = 0usize;
    for path in &files {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).expect("read corpus file");
        let first = read_bpmn_bytes(&bytes);
        let errors: Vec<_> = first.diagnostics.iter().filter(|d| d.is_error()).collect();
        assert!(errors.is_empty(), "{name}: import errors: {errors:#?}");

        let written = write_bpmn(&first.definitions);
        let second = read_bpmn(&written);
        assert!(
            second.diagnostics.is_empty(),
            "{name}: re-import diagnostics: {:#?}",
            second.diagnostics
        );
        assert_eq!(
            first.definitions, second.definitions,
            "{name}: export → re-import changed the model"
        );
        assert_eq!(
            write_bpmn(&second.definitions),
            written,
            "{name}: export is not idempotent"
        );

        let source_ids = naive_ids(&String::from_utf8_lossy(&bytes));
        let written_ids = naive_ids(&written);
        let lost: Vec<_> = source_ids.difference(&written_ids).collect();
        assert!(lost.is_empty(), "{name}: ids lost on export: {lost:?}");
        // Ids can also appear inside escaped text (C.8.1 embeds DMN); count only the mapped ones.
        let mapped = source_ids
            .iter()
            .filter(|id| first.source_map.pos(id).is_some())
            .count();
        assert!(
            mapped * 10 >= source_ids.len() * 9,
            "{name}: most ids should have a source position"
        );
        elements += source_ids.len();
    }
    assert!(
        elements > 5_000,
        "suspiciously few element ids in the corpus: {elements}"
    );
}

/// Spot check against the reference picture of A.2.0: four tasks, a split gateway with
/// three outgoing flows whose label has a line break, and a shape for every node.
#[test]
fn a_2_0_matches_its_reference_picture() {
    use starweave_model::bpmn::{FlowElement, GatewayKind};
    let path = corpus_dir().join("reference/A.2.0.bpmn");
    let doc = read_bpmn_bytes(&std::fs::read(&path).expect("A.2.0 is in the corpus"));
    let process = doc.definitions.processes().next().expect("one process");
    let tasks = process
        .flow_elements
        .iter()
        .filter(|f| matches!(f, FlowElement::Activity(_)))
        .count();
    assert_eq!(tasks, 4);
    let split = process
        .flow_elements
        .iter()
        .find_map(|f| match f {
            FlowElement::Gateway(g)
                if g.kind == GatewayKind::Exclusive && g.outgoing.len() == 3 =>
            {
                Some(g)
            }
            _ => None,
        })
        .expect("split gateway");
    assert_eq!(split.name.as_deref(), Some("Gateway\n(Split Flow)"));
    let nodes = process
        .flow_elements
        .iter()
        .filter(|f| f.is_flow_node())
        .count();
    let shapes = doc
        .definitions
        .diagram_elements()
        .filter(|d| matches!(d, starweave_model::bpmn::DiagramElement::Shape(_)))
        .count();
    assert_eq!(shapes, nodes);
}
