//! Every diagram of every file of the BPMN MIWG corpus: one scene node per DI shape at
//! exactly its bounds, one scene edge per DI edge with exactly its waypoints, well-formed
//! markup, and an export that parses as XML.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use quick_xml::Reader;
use quick_xml::events::Event;
use starweave_diagram::{DEFS, diagram_names, export_svg, scene};
use starweave_model::bpmn::{DiagramElement, read_bpmn};

fn corpus_dirs() -> Vec<PathBuf> {
    let root = std::env::var("STARWEAVE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/work/shared/corpus/bpmn-miwg"));
    vec![root.join("reference"), root.join("bpmn-io-18.6.1")]
}

pub fn corpus_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in corpus_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "bpmn") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

/// Parses `text` as XML; Err with the position and message on the first problem, or when
/// start and end tags do not balance.
fn well_formed(text: &str) -> Result<(), String> {
    let mut reader = Reader::from_str(text);
    let mut depth: i64 = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(_)) => depth += 1,
            Ok(Event::End(_)) => {
                depth -= 1;
                if depth < 0 {
                    return Err("unbalanced end tag".into());
                }
            }
            Ok(Event::Eof) => break,
            Ok(Event::GeneralRef(r)) => {
                let name = {
                    let s: &str = r.as_ref();
                    s.to_owned()
                };
                if !["amp", "lt", "gt", "quot", "apos"].contains(&name.as_str())
                    && !name.starts_with('#')
                {
                    return Err(format!("unknown entity &{name};"));
                }
            }
            Ok(_) => {}
            Err(e) => return Err(format!("at {}: {e}", reader.buffer_position())),
        }
    }
    if depth != 0 {
        return Err(format!("{depth} unclosed elements"));
    }
    Ok(())
}

fn check_file(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).expect("corpus file readable");
    let defs = read_bpmn(&text).definitions;
    let names = diagram_names(&defs);
    assert_eq!(names.len(), defs.diagrams.len());
    let mut checked = 0;
    for (d, diagram) in defs.diagrams.iter().enumerate() {
        let sc = scene(&defs, d);
        let plane = diagram.plane.as_ref();
        let shapes: Vec<_> = plane
            .into_iter()
            .flat_map(|p| p.elements.iter())
            .filter_map(|e| match e {
                DiagramElement::Shape(s) => Some(s),
                _ => None,
            })
            .collect();
        let edges: Vec<_> = plane
            .into_iter()
            .flat_map(|p| p.elements.iter())
            .filter_map(|e| match e {
                DiagramElement::Edge(s) => Some(s),
                _ => None,
            })
            .collect();
        assert_eq!(
            sc.nodes.len(),
            shapes.len(),
            "{path:?} diagram {d}: node count"
        );
        assert_eq!(
            sc.edges.len(),
            edges.len(),
            "{path:?} diagram {d}: edge count"
        );
        let ids: HashSet<&str> = sc.nodes.iter().map(|n| n.id.as_str()).collect();
        assert_eq!(ids.len(), sc.nodes.len(), "{path:?}: node ids unique");
        // Every shape has exactly one node at exactly its bounds (draw order may differ).
        let mut used = vec![false; sc.nodes.len()];
        for s in &shapes {
            let i = sc
                .nodes
                .iter()
                .enumerate()
                .position(|(i, n)| {
                    !used[i]
                        && n.element_id == s.bpmn_element
                        && Some(n.bounds) == s.bounds.or(Some(Default::default()))
                        && s.id.as_ref().is_none_or(|id| n.id.starts_with(id.as_str()))
                })
                .unwrap_or_else(|| panic!("{path:?}: no node for shape {:?}", s.id));
            used[i] = true;
        }
        for (e, se) in edges.iter().zip(&sc.edges) {
            assert_eq!(se.element_id, e.bpmn_element);
            assert_eq!(
                se.waypoints, e.waypoints,
                "{path:?}: waypoints of {:?}",
                e.id
            );
        }
        for n in &sc.nodes {
            well_formed(&format!("<g>{}</g>", n.markup))
                .unwrap_or_else(|e| panic!("{path:?} node {}: {e}\n{}", n.id, n.markup));
            assert!(!n.markup.is_empty(), "{path:?} node {} draws nothing", n.id);
            if let Some(p) = &n.parent {
                assert!(
                    ids.contains(p.as_str()),
                    "{path:?}: parent {p} of {} exists",
                    n.id
                );
            }
        }
        for e in &sc.edges {
            for id in [&e.source, &e.target].into_iter().flatten() {
                assert!(ids.contains(id.as_str()), "{path:?}: edge end {id} exists");
            }
            for m in [&e.marker_start, &e.marker_end].into_iter().flatten() {
                assert!(DEFS.contains(&format!("id=\"{m}\"")), "marker {m} defined");
            }
        }
        let svg = export_svg(&defs, d);
        well_formed(&svg).unwrap_or_else(|e| panic!("{path:?} export: {e}"));
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        checked += 1;
    }
    checked
}

#[test]
fn every_corpus_diagram_builds_a_faithful_scene() {
    let files = corpus_files();
    assert!(files.len() >= 40, "corpus found ({} files)", files.len());
    let mut diagrams = 0;
    for f in &files {
        diagrams += check_file(f);
    }
    assert!(diagrams >= files.len());
}

#[test]
fn edges_resolve_their_ends_and_markers() {
    let path = corpus_dirs()[0].join("A.2.1.bpmn");
    let defs = read_bpmn(&std::fs::read_to_string(path).expect("A.2.1 exists")).definitions;
    let sc = scene(&defs, 0);
    assert!(!sc.edges.is_empty());
    for e in &sc.edges {
        assert!(e.source.is_some() && e.target.is_some(), "{e:?}");
        if e.kind == "sequenceFlow" {
            assert_eq!(e.marker_end.as_deref(), Some("sw-seq-end"));
        }
    }
    // A.2.1 has an exclusive gateway with a default flow.
    assert!(
        sc.edges
            .iter()
            .any(|e| e.is_default && e.marker_start.as_deref() == Some("sw-default-start"))
    );
}

#[test]
fn pools_come_first_and_boundary_events_after_their_hosts() {
    for f in corpus_files() {
        let defs = read_bpmn(&std::fs::read_to_string(&f).expect("readable")).definitions;
        for d in 0..defs.diagrams.len() {
            let sc = scene(&defs, d);
            let pos = |id: &str| sc.nodes.iter().position(|n| n.id == id);
            let mut seen_other = false;
            for n in &sc.nodes {
                if n.kind == "participant" {
                    assert!(!seen_other, "{f:?}: pool {} after other shapes", n.id);
                } else {
                    seen_other = true;
                }
                if n.kind == "boundaryEvent"
                    && let Some(p) = &n.parent
                {
                    assert!(pos(p) < pos(&n.id), "{f:?}: host before boundary event");
                }
            }
        }
    }
}
