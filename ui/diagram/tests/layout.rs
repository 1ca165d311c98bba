//! Auto-layout: models stripped of their DI get a diagram where no two shapes overlap in
//! the same container and every flow is drawn with at least two waypoints.

use std::collections::HashSet;
use std::path::PathBuf;

use starweave_diagram::{auto_layout, generate_process, has_di, scene};
use starweave_model::bpmn::{Artifact, Definitions, FlowElement, read_bpmn, write_bpmn};

fn corpus_files() -> Vec<PathBuf> {
    let root = std::env::var("STARWEAVE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/work/shared/corpus/bpmn-miwg"));
    let mut files = Vec::new();
    for dir in [root.join("reference"), root.join("bpmn-io-18.6.1")] {
        for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            if e.path().extension().is_some_and(|x| x == "bpmn") {
                files.push(e.path());
            }
        }
    }
    files.sort();
    files
}

fn sequence_flow_ids(defs: &Definitions) -> Vec<String> {
    defs.processes()
        .flat_map(|p| p.all_flow_elements())
        .filter_map(|e| match e {
            FlowElement::SequenceFlow(f) => Some(f.base.id().to_owned()),
            _ => None,
        })
        .collect()
}

fn check_layout(defs: &Definitions, what: &str) {
    assert!(has_di(defs), "{what}: laid out");
    let mut drawn_flows: HashSet<String> = HashSet::new();
    let mut drawn_nodes: HashSet<String> = HashSet::new();
    for d in 0..defs.diagrams.len() {
        let sc = scene(defs, d);
        for e in &sc.edges {
            assert!(
                e.waypoints.len() >= 2,
                "{what}: edge {} has {} waypoints",
                e.id,
                e.waypoints.len()
            );
            for w in e.waypoints.windows(2) {
                assert!(
                    w[0].x == w[1].x || w[0].y == w[1].y,
                    "{what}: edge {} is orthogonal",
                    e.id
                );
            }
            drawn_flows.extend(e.element_id.clone());
        }
        for n in &sc.nodes {
            drawn_nodes.extend(n.element_id.clone());
        }
        for (i, a) in sc.nodes.iter().enumerate() {
            for b in &sc.nodes[i + 1..] {
                // Lanes partition a pool's background: data and annotations of the pool
                // may lie over them, as in every BPMN tool.
                if a.parent != b.parent || (a.kind == "lane") != (b.kind == "lane") {
                    continue;
                }
                let (p, q) = (a.bounds, b.bounds);
                let overlap = p.x < q.x + q.width
                    && q.x < p.x + p.width
                    && p.y < q.y + q.height
                    && q.y < p.y + p.height;
                assert!(
                    !overlap,
                    "{what}: {} ({p:?}) overlaps {} ({q:?})",
                    a.id, b.id
                );
            }
        }
    }
    for f in sequence_flow_ids(defs) {
        assert!(drawn_flows.contains(&f), "{what}: flow {f} has an edge");
    }
    for p in defs.processes() {
        for e in p.all_flow_elements() {
            if e.is_flow_node() {
                assert!(
                    drawn_nodes.contains(e.id()),
                    "{what}: node {} has a shape",
                    e.id()
                );
            }
        }
        for a in &p.artifacts {
            if let Artifact::TextAnnotation(t) = a {
                assert!(
                    drawn_nodes.contains(t.base.id()),
                    "{what}: annotation drawn"
                );
            }
        }
    }
    let back = read_bpmn(&write_bpmn(defs)).definitions;
    assert_eq!(&back, defs, "{what}: the laid-out model round-trips");
}

#[test]
fn corpus_files_without_di_are_laid_out() {
    let files = corpus_files();
    assert!(files.len() >= 40);
    for f in files {
        let mut defs = read_bpmn(&std::fs::read_to_string(&f).expect("readable")).definitions;
        defs.diagrams.clear();
        assert!(!has_di(&defs));
        auto_layout(&mut defs);
        // Normalise as a file would be (namespace declarations), then check.
        let defs = read_bpmn(&write_bpmn(&defs)).definitions;
        check_layout(&defs, &format!("{f:?}"));
    }
}

#[test]
fn a_generated_300_node_process_is_laid_out() {
    let defs = generate_process(300);
    let nodes = defs
        .processes()
        .next()
        .unwrap()
        .flow_elements
        .iter()
        .filter(|e| e.is_flow_node())
        .count();
    assert!((280..=320).contains(&nodes), "{nodes} nodes");
    check_layout(&defs, "generated 300");
    // Stripping and laying out again gives the same drawing.
    let mut again = defs.clone();
    again.diagrams.clear();
    auto_layout(&mut again);
    let again = read_bpmn(&write_bpmn(&again)).definitions;
    assert_eq!(again.diagrams, defs.diagrams);
}

#[test]
fn drawn_processes_are_left_alone() {
    let defs0 = generate_process(20);
    let mut defs = defs0.clone();
    auto_layout(&mut defs);
    assert_eq!(defs, defs0);
}

#[test]
fn main_path_is_a_straight_line() {
    // A purely sequential process lays out on one row.
    let defs = generate_process(3);
    let sc = scene(&defs, 0);
    let ys: HashSet<i64> = sc
        .nodes
        .iter()
        .map(|n| (n.bounds.y + n.bounds.height / 2.0) as i64)
        .collect();
    assert_eq!(
        ys.len(),
        1,
        "{:?}",
        sc.nodes.iter().map(|n| n.bounds).collect::<Vec<_>>()
    );
    for e in &sc.edges {
        assert_eq!(e.waypoints.len(), 2);
    }
}

#[test]
fn lanes_are_laid_out_with_their_nodes_inside() {
    let mut checked = 0;
    for f in corpus_files() {
        let mut defs = read_bpmn(&std::fs::read_to_string(&f).expect("readable")).definitions;
        if defs.collaborations().next().is_none()
            || !defs.processes().any(|p| !p.lane_sets.is_empty())
        {
            continue;
        }
        defs.diagrams.clear();
        auto_layout(&mut defs);
        let sc = scene(&defs, 0);
        for n in &sc.nodes {
            let Some(parent) = n.parent.as_deref() else {
                continue;
            };
            let p = sc.nodes.iter().find(|x| x.id == parent).unwrap();
            if p.kind != "lane" || n.kind == "boundaryEvent" {
                continue;
            }
            let c = (
                n.bounds.x + n.bounds.width / 2.0,
                n.bounds.y + n.bounds.height / 2.0,
            );
            let b = p.bounds;
            assert!(
                c.0 > b.x && c.0 < b.x + b.width && c.1 > b.y && c.1 < b.y + b.height,
                "{f:?}: {} is inside its lane {}",
                n.id,
                p.id
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "{checked} nodes in lanes checked");
}
