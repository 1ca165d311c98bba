//! Property tests: random sequences of edit operations never panic and always leave a model
//! that writes and reads back unchanged, with a drawable scene and a well-formed export.

use proptest::prelude::*;
use starweave_diagram::{
    PaletteKind, add_element, append, change_type, connect, copy, delete, element_of_node,
    export_svg, generate_process, move_nodes, new_definitions, paste, reconnect, rename,
    resize_node, scene, set_condition, set_default_flow, set_waypoints,
};
use starweave_model::bpmn::{Bounds, Definitions, Point, read_bpmn, write_bpmn};

/// One edit, with indices resolved against the scene at the time it runs.
#[derive(Debug, Clone)]
enum Op {
    Add(usize, f64, f64),
    Append(usize, usize),
    Connect(usize, usize),
    Reconnect(usize, bool, usize),
    Move(usize, f64, f64),
    Resize(usize, f64, f64),
    Waypoints(usize, f64, f64),
    Delete(usize),
    DeleteEdge(usize),
    Rename(usize, String),
    Condition(usize, Option<String>),
    Default(usize),
    ChangeType(usize, usize),
    CopyPaste(usize, f64, f64),
}

fn op() -> impl Strategy<Value = Op> {
    let coord = -200.0f64..1400.0;
    prop_oneof![
        (any::<usize>(), coord.clone(), coord.clone()).prop_map(|(k, x, y)| Op::Add(k, x, y)),
        (any::<usize>(), any::<usize>()).prop_map(|(n, k)| Op::Append(n, k)),
        (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Op::Connect(a, b)),
        (any::<usize>(), any::<bool>(), any::<usize>())
            .prop_map(|(e, s, n)| Op::Reconnect(e, s, n)),
        (any::<usize>(), -300.0f64..300.0, -300.0f64..300.0)
            .prop_map(|(n, x, y)| Op::Move(n, x, y)),
        (any::<usize>(), 1.0f64..400.0, 1.0f64..400.0).prop_map(|(n, w, h)| Op::Resize(n, w, h)),
        (any::<usize>(), coord.clone(), coord.clone()).prop_map(|(e, x, y)| Op::Waypoints(e, x, y)),
        any::<usize>().prop_map(Op::Delete),
        any::<usize>().prop_map(Op::DeleteEdge),
        (any::<usize>(), "[ -~<>&\"'\\n\\r\\t\\u{1}é€😀]{0,20}")
            .prop_map(|(n, s)| Op::Rename(n, s)),
        (any::<usize>(), proptest::option::of("[ -~<>&]{0,16}"))
            .prop_map(|(e, c)| Op::Condition(e, c)),
        any::<usize>().prop_map(Op::Default),
        (any::<usize>(), any::<usize>()).prop_map(|(n, k)| Op::ChangeType(n, k)),
        (any::<usize>(), coord.clone(), coord).prop_map(|(n, x, y)| Op::CopyPaste(n, x, y)),
    ]
}

fn apply(defs: &mut Definitions, op: &Op) {
    let sc = scene(defs, 0);
    let node = |i: usize| {
        sc.nodes
            .get(i % sc.nodes.len().max(1))
            .map(|n| n.id.clone())
    };
    let edge = |i: usize| sc.edges.get(i % sc.edges.len().max(1)).cloned();
    let kinds = PaletteKind::all();
    let kind = |k: usize| kinds[k % kinds.len()];
    match op {
        Op::Add(k, x, y) => {
            let _ = add_element(defs, 0, kind(*k), Point { x: *x, y: *y });
        }
        Op::Append(n, k) => {
            if let Some(n) = node(*n) {
                let _ = append(defs, 0, &n, kind(*k));
            }
        }
        Op::Connect(a, b) => {
            if let (Some(a), Some(b)) = (node(*a), node(*b)) {
                let _ = connect(defs, 0, &a, &b);
            }
        }
        Op::Reconnect(e, s, n) => {
            if let (Some(e), Some(n)) = (edge(*e), node(*n)) {
                let _ = reconnect(defs, 0, &e.id, *s, &n);
            }
        }
        Op::Move(n, dx, dy) => {
            if let Some(n) = node(*n) {
                move_nodes(defs, 0, &[n], *dx, *dy);
            }
        }
        Op::Resize(n, w, h) => {
            if let Some(n) = sc.nodes.get(*n % sc.nodes.len().max(1)) {
                let b = Bounds {
                    width: *w,
                    height: *h,
                    ..n.bounds
                };
                resize_node(defs, 0, &n.id, b);
            }
        }
        Op::Waypoints(e, x, y) => {
            if let Some(e) = edge(*e) {
                let mut pts = e.waypoints.clone();
                pts.insert(pts.len() / 2, Point { x: *x, y: *y });
                set_waypoints(defs, 0, &e.id, pts);
            }
        }
        Op::Delete(n) => {
            if let Some(n) = node(*n) {
                delete(defs, 0, &[n]);
            }
        }
        Op::DeleteEdge(e) => {
            if let Some(e) = edge(*e) {
                delete(defs, 0, &[e.id]);
            }
        }
        Op::Rename(n, s) => {
            if let Some(el) = node(*n).and_then(|n| element_of_node(defs, 0, &n)) {
                rename(defs, &el, Some(s.clone()));
            }
        }
        Op::Condition(e, c) => {
            if let Some(el) = edge(*e).and_then(|e| e.element_id) {
                set_condition(defs, &el, c.clone());
            }
        }
        Op::Default(e) => {
            if let Some(e) = edge(*e)
                && let (Some(flow), Some(src)) = (e.element_id, e.source)
                && let Some(owner) = element_of_node(defs, 0, &src)
            {
                set_default_flow(defs, &owner, Some(&flow));
            }
        }
        Op::ChangeType(n, k) => {
            if let Some(el) = node(*n).and_then(|n| element_of_node(defs, 0, &n)) {
                let _ = change_type(defs, 0, &el, kind(*k));
            }
        }
        Op::CopyPaste(n, x, y) => {
            if let Some(n) = node(*n) {
                let clip = copy(defs, 0, &[n]);
                let _ = paste(defs, 0, &clip, Point { x: *x, y: *y });
            }
        }
    }
}

fn check(defs: &Definitions) -> Result<(), TestCaseError> {
    let back = read_bpmn(&write_bpmn(defs)).definitions;
    prop_assert_eq!(&back, defs);
    let sc = scene(defs, 0);
    for e in &sc.edges {
        prop_assert!(e.waypoints.len() >= 2, "edge {} has waypoints", e.id);
    }
    let svg = export_svg(defs, 0);
    prop_assert!(svg.ends_with("</svg>"));
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_edits_on_an_empty_process_round_trip(ops in proptest::collection::vec(op(), 1..30)) {
        let mut defs = new_definitions("Process_fuzz", "Fuzz");
        for op in &ops {
            apply(&mut defs, op);
            check(&defs)?;
        }
    }

    #[test]
    fn random_edits_on_a_generated_process_round_trip(ops in proptest::collection::vec(op(), 1..20)) {
        let mut defs = generate_process(25);
        for op in &ops {
            apply(&mut defs, op);
            check(&defs)?;
        }
    }
}
