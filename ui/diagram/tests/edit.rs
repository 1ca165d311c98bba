//! Editing operations: round trips, validity of models built with them, undo by snapshots,
//! preservation of everything else in files written by other tools, and connect rules.

use std::path::PathBuf;

use starweave_diagram::{
    EditError, PaletteKind, add_element, append, can_connect, change_type, connect, copy, delete,
    element_of_node, generate_process, move_nodes, new_definitions, node_of_element, paste,
    reconnect, rename, resize_node, scene, set_condition, set_default_flow, set_waypoints,
};
use starweave_model::bpmn::{
    Bounds, Definitions, DiagramElement, FlowElement, Point, SourceMap, read_bpmn, write_bpmn,
};
use starweave_model::validate::{Executability, validate_definitions};

fn corpus(name: &str) -> Definitions {
    let root = std::env::var("STARWEAVE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/work/shared/corpus/bpmn-miwg"));
    let path = root.join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    read_bpmn(&text).definitions
}

#[track_caller]
fn assert_round_trips(defs: &Definitions) {
    let back = read_bpmn(&write_bpmn(defs)).definitions;
    assert_eq!(&back, defs, "write → read changed the model");
}

fn is_task(kind: &str) -> bool {
    kind == "task" || kind.ends_with("Task")
}

fn pt(x: f64, y: f64) -> Point {
    Point { x, y }
}

fn errors(defs: &Definitions) -> Vec<String> {
    validate_definitions(defs, &SourceMap::default(), Executability::AsDeclared)
        .into_iter()
        .map(|d| format!("{d:?}"))
        .collect()
}

fn flow_between(defs: &Definitions, d: usize, edge: &str) -> String {
    element_of_node(defs, d, edge).expect("edge has an element")
}

/// start → service task → exclusive gateway (condition + default) → two tasks → end.
fn build_flow() -> (Definitions, Vec<String>) {
    let mut defs = new_definitions("order", "Order");
    assert_round_trips(&defs);
    let start = add_element(&mut defs, 0, PaletteKind::StartEvent, pt(100.0, 200.0)).unwrap();
    assert_round_trips(&defs);
    let task = append(&mut defs, 0, &start, PaletteKind::ServiceTask).unwrap();
    assert_round_trips(&defs);
    let gw = append(&mut defs, 0, &task, PaletteKind::ExclusiveGateway).unwrap();
    let a = append(&mut defs, 0, &gw, PaletteKind::Task).unwrap();
    let b = append(&mut defs, 0, &gw, PaletteKind::Task).unwrap();
    let end = add_element(&mut defs, 0, PaletteKind::EndEvent, pt(800.0, 200.0)).unwrap();
    connect(&mut defs, 0, &a, &end).unwrap();
    connect(&mut defs, 0, &b, &end).unwrap();
    assert_round_trips(&defs);
    let sc = scene(&defs, 0);
    let gw_el = element_of_node(&defs, 0, &gw).unwrap();
    let out: Vec<String> = sc
        .edges
        .iter()
        .filter(|e| e.source.as_deref() == Some(gw.as_str()))
        .map(|e| flow_between(&defs, 0, &e.id))
        .collect();
    assert_eq!(out.len(), 2);
    set_condition(&mut defs, &out[0], Some("amount > 100".into()));
    assert_round_trips(&defs);
    set_default_flow(&mut defs, &gw_el, Some(&out[1]));
    assert_round_trips(&defs);
    let task_el = element_of_node(&defs, 0, &task).unwrap();
    rename(
        &mut defs,
        &task_el,
        Some("Charge <card> & \"notify\"".into()),
    );
    assert_round_trips(&defs);
    (defs, vec![start, task, gw, a, b, end])
}

#[test]
fn a_flow_built_with_the_operations_validates_and_round_trips() {
    let (defs, nodes) = build_flow();
    let errs = errors(&defs);
    assert!(errs.is_empty(), "diagnostics: {errs:#?}");
    let sc = scene(&defs, 0);
    assert_eq!(sc.nodes.len(), 6);
    assert_eq!(sc.edges.len(), 6);
    assert_eq!(sc.edges.iter().filter(|e| e.is_default).count(), 1);
    assert_eq!(
        sc.edges
            .iter()
            .filter(|e| e.condition.as_deref() == Some("amount > 100"))
            .count(),
        1
    );
    // The escaped name is in the markup.
    let task = sc.nodes.iter().find(|n| n.id == nodes[1]).unwrap();
    assert!(task.markup.contains("&lt;card&gt;"), "{}", task.markup);
    // Appended nodes do not overlap.
    for (i, x) in sc.nodes.iter().enumerate() {
        for y in &sc.nodes[i + 1..] {
            let (a, b) = (x.bounds, y.bounds);
            let overlap = a.x < b.x + b.width
                && b.x < a.x + a.width
                && a.y < b.y + b.height
                && b.y < a.y + a.height;
            assert!(!overlap, "{} overlaps {}", x.id, y.id);
        }
    }
}

#[test]
fn connect_rules() {
    let (mut defs, n) = build_flow();
    let [start, task, gw, a, _b, end] = [&n[0], &n[1], &n[2], &n[3], &n[4], &n[5]];
    assert!(
        can_connect(&defs, 0, task, start).is_err(),
        "into a start event"
    );
    assert!(
        can_connect(&defs, 0, end, task).is_err(),
        "out of an end event"
    );
    assert!(can_connect(&defs, 0, task, task).is_err(), "into itself");
    assert!(can_connect(&defs, 0, start, task).is_err(), "twice");
    assert!(can_connect(&defs, 0, a, gw).is_ok(), "a loop back is fine");
    assert!(can_connect(&defs, 0, "nope", task).is_err());
    assert!(matches!(
        connect(&mut defs, 0, end, task),
        Err(EditError::NotAllowed(_))
    ));
    // Boundary events: attached by dropping on an activity, no incoming flows.
    let tb = scene(&defs, 0)
        .nodes
        .iter()
        .find(|x| &x.id == task)
        .unwrap()
        .bounds;
    let boundary = add_element(
        &mut defs,
        0,
        PaletteKind::BoundaryErrorEvent,
        pt(tb.x + 50.0, tb.y + tb.height - 2.0),
    )
    .unwrap();
    assert_round_trips(&defs);
    let sc = scene(&defs, 0);
    let bn = sc.nodes.iter().find(|x| x.id == boundary).unwrap();
    assert_eq!(bn.parent.as_deref(), Some(task.as_str()));
    assert_eq!(
        bn.bounds.y + bn.bounds.height / 2.0,
        tb.y + tb.height,
        "on the border"
    );
    assert!(can_connect(&defs, 0, start, &boundary).is_err());
    assert!(can_connect(&defs, 0, &boundary, end).is_ok());
    assert!(
        add_element(
            &mut defs,
            0,
            PaletteKind::BoundaryTimerEvent,
            pt(-500.0, -500.0)
        )
        .is_err()
    );
    // Annotations connect by association to anything but annotations.
    let note = add_element(&mut defs, 0, PaletteKind::TextAnnotation, pt(300.0, 40.0)).unwrap();
    assert!(can_connect(&defs, 0, &note, task).is_ok());
    let assoc = connect(&mut defs, 0, &note, task).unwrap();
    assert_eq!(
        scene(&defs, 0)
            .edges
            .iter()
            .find(|e| e.id == assoc)
            .unwrap()
            .kind,
        "association"
    );
    assert_round_trips(&defs);
    // Sub-processes: no sequence flow across the border.
    let sub = add_element(&mut defs, 0, PaletteKind::SubProcess, pt(400.0, 600.0)).unwrap();
    let inner = add_element(&mut defs, 0, PaletteKind::Task, pt(400.0, 600.0)).unwrap();
    let sc = scene(&defs, 0);
    assert_eq!(
        sc.nodes
            .iter()
            .find(|x| x.id == inner)
            .unwrap()
            .parent
            .as_deref(),
        Some(sub.as_str())
    );
    assert!(can_connect(&defs, 0, task, &inner).is_err());
    assert!(can_connect(&defs, 0, task, &sub).is_ok());
    assert_round_trips(&defs);
}

#[test]
fn message_flows_connect_pools() {
    let mut defs = corpus("reference/C.2.0.bpmn");
    let sc = scene(&defs, 0);
    let pools: Vec<_> = sc
        .nodes
        .iter()
        .filter(|n| n.kind == "participant")
        .collect();
    assert!(pools.len() >= 2, "C.2.0 has pools");
    let in_pool = |p: &str, kind: &str| {
        sc.nodes
            .iter()
            .find(|n| n.kind.ends_with(kind) && n.parent.as_deref() == Some(p))
            .map(|n| n.id.clone())
    };
    let t0 = in_pool(&pools[0].id, "Task");
    let t1 = in_pool(&pools[1].id, "Task");
    if let (Some(t0), Some(t1)) = (t0, t1) {
        let existing = sc.edges.iter().any(|e| {
            e.source.as_deref() == Some(t0.as_str()) && e.target.as_deref() == Some(t1.as_str())
        });
        if !existing {
            let e = connect(&mut defs, 0, &t0, &t1).unwrap();
            let sc2 = scene(&defs, 0);
            let edge = sc2.edges.iter().find(|x| x.id == e).unwrap();
            assert_eq!(edge.kind, "messageFlow");
            assert_eq!(edge.marker_start.as_deref(), Some("sw-msg-start"));
            assert_round_trips(&defs);
        }
    }
    assert!(can_connect(&defs, 0, &pools[0].id, &pools[0].id).is_err());
}

#[test]
fn every_operation_round_trips_on_a_bpmn_io_export() {
    let mut defs = corpus("bpmn-io-18.6.1/C.1.0-export.bpmn");
    assert_round_trips(&defs);
    let sc = scene(&defs, 0);
    let task = sc.nodes.iter().find(|n| is_task(&n.kind)).unwrap().clone();
    let el = task.element_id.clone().unwrap();
    move_nodes(&mut defs, 0, std::slice::from_ref(&task.id), 30.0, -20.0);
    assert_round_trips(&defs);
    resize_node(
        &mut defs,
        0,
        &task.id,
        Bounds {
            width: 140.0,
            height: 90.0,
            ..task.bounds
        },
    );
    assert_round_trips(&defs);
    rename(&mut defs, &el, Some("Renamed".into()));
    assert_round_trips(&defs);
    change_type(&mut defs, 0, &el, PaletteKind::ScriptTask).unwrap();
    assert_round_trips(&defs);
    assert_eq!(
        scene(&defs, 0)
            .nodes
            .iter()
            .find(|n| n.id == task.id)
            .unwrap()
            .kind,
        "scriptTask"
    );
    let edge = sc
        .edges
        .iter()
        .find(|e| e.kind == "sequenceFlow")
        .unwrap()
        .clone();
    set_waypoints(
        &mut defs,
        0,
        &edge.id,
        vec![pt(0.0, 0.0), pt(10.0, 0.0), pt(10.0, 10.0)],
    );
    assert_round_trips(&defs);
    let clip = copy(&defs, 0, std::slice::from_ref(&task.id));
    let pasted = paste(
        &mut defs,
        0,
        &clip,
        pt(task.bounds.x, task.bounds.y + 300.0),
    );
    assert_eq!(pasted.len(), 1);
    assert_ne!(pasted[0], task.id);
    assert_round_trips(&defs);
    delete(&mut defs, 0, std::slice::from_ref(&task.id));
    assert_round_trips(&defs);
    assert!(node_of_element(&defs, 0, &el).is_none());
    assert!(
        !write_bpmn(&defs).contains(&format!("\"{el}\"")),
        "no reference to a deleted element"
    );
}

#[test]
fn moving_and_renaming_in_a_bpmn_io_export_keeps_everything_else() {
    let original = corpus("bpmn-io-18.6.1/A.4.0-export.bpmn");
    let mut defs = original.clone();
    let sc = scene(&defs, 0);
    let node = sc.nodes.iter().find(|n| is_task(&n.kind)).unwrap().clone();
    let el = node.element_id.clone().unwrap();
    move_nodes(&mut defs, 0, std::slice::from_ref(&node.id), 40.0, 10.0);
    rename(&mut defs, &el, Some("Something else".into()));
    assert_ne!(defs, original);
    // Mask the edit: the element's name, its shape and the edges touching it.
    let touching: Vec<String> = sc
        .edges
        .iter()
        .filter(|e| {
            e.source.as_deref() == Some(node.id.as_str())
                || e.target.as_deref() == Some(node.id.as_str())
        })
        .map(|e| e.id.clone())
        .collect();
    assert!(!touching.is_empty());
    let original_name = sc
        .nodes
        .iter()
        .find(|n| n.id == node.id)
        .unwrap()
        .name
        .clone();
    rename(&mut defs, &el, original_name);
    let orig_plane = original.diagrams[0].plane.as_ref().unwrap();
    let plane = defs.diagrams[0].plane.as_mut().unwrap();
    for (mine, theirs) in plane.elements.iter_mut().zip(&orig_plane.elements) {
        match (mine, theirs) {
            (DiagramElement::Shape(a), DiagramElement::Shape(b))
                if a.id.as_deref() == Some(node.id.as_str()) =>
            {
                assert_ne!(a.bounds, b.bounds, "the node moved");
                a.bounds = b.bounds;
                a.label = b.label.clone();
            }
            (DiagramElement::Edge(a), DiagramElement::Edge(b))
                if a.id.as_ref().is_some_and(|i| touching.contains(i)) =>
            {
                a.waypoints = b.waypoints.clone();
                a.label = b.label.clone();
            }
            _ => {}
        }
    }
    assert_eq!(defs, original, "nothing but the edited element changed");
}

/// A deterministic generator of edit operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> Option<&'a T> {
        if items.is_empty() {
            None
        } else {
            Some(&items[(self.next() as usize) % items.len()])
        }
    }
}

/// Applies one random edit; returns a short description.
fn random_edit(defs: &mut Definitions, rng: &mut Rng) -> String {
    let sc = scene(defs, 0);
    let nodes: Vec<String> = sc.nodes.iter().map(|n| n.id.clone()).collect();
    let edges: Vec<String> = sc.edges.iter().map(|e| e.id.clone()).collect();
    let kinds = PaletteKind::all();
    let x = (rng.next() % 1200) as f64;
    let y = (rng.next() % 800) as f64;
    match rng.next() % 12 {
        0 | 1 => {
            let k = *rng.pick(kinds).unwrap();
            format!(
                "add {k:?}: {:?}",
                add_element(defs, 0, k, pt(x, y)).map(|_| ())
            )
        }
        2 => match rng.pick(&nodes) {
            Some(n) => {
                let k = *rng.pick(kinds).unwrap();
                format!("append {k:?}: {:?}", append(defs, 0, n, k).map(|_| ()))
            }
            None => "nothing".into(),
        },
        3 => match (rng.pick(&nodes).cloned(), rng.pick(&nodes).cloned()) {
            (Some(a), Some(b)) => format!("connect: {:?}", connect(defs, 0, &a, &b).map(|_| ())),
            _ => "nothing".into(),
        },
        4 => {
            let ids: Vec<String> = rng.pick(&nodes).into_iter().cloned().collect();
            move_nodes(defs, 0, &ids, x - 600.0, y - 400.0);
            "move".into()
        }
        5 => {
            let ids: Vec<String> = rng
                .pick(&nodes)
                .into_iter()
                .chain(rng.pick(&edges))
                .cloned()
                .collect();
            delete(defs, 0, &ids);
            "delete".into()
        }
        6 => {
            if let Some(el) = rng.pick(&nodes).and_then(|n| element_of_node(defs, 0, n)) {
                rename(defs, &el, Some(format!("name <{x}> & {y}")));
            }
            "rename".into()
        }
        7 => {
            if let Some(el) = rng.pick(&edges).and_then(|e| element_of_node(defs, 0, e)) {
                set_condition(defs, &el, Some(format!("x > {x}")));
            }
            "condition".into()
        }
        8 => {
            let k = *rng.pick(kinds).unwrap();
            match rng.pick(&nodes).and_then(|n| element_of_node(defs, 0, n)) {
                Some(el) => format!("change_type: {:?}", change_type(defs, 0, &el, k)),
                None => "nothing".into(),
            }
        }
        9 => {
            if let Some(e) = rng.pick(&sc.edges)
                && let (Some(src), Some(flow)) = (e.source.as_ref(), e.element_id.as_ref())
                && let Some(gw) = element_of_node(defs, 0, src)
            {
                set_default_flow(defs, &gw, Some(flow));
            }
            "default".into()
        }
        10 => match (rng.pick(&edges).cloned(), rng.pick(&nodes).cloned()) {
            (Some(e), Some(n)) => {
                format!(
                    "reconnect: {:?}",
                    reconnect(defs, 0, &e, rng.next().is_multiple_of(2), &n)
                )
            }
            _ => "nothing".into(),
        },
        _ => {
            let ids: Vec<String> = nodes.iter().take(3).cloned().collect();
            let clip = copy(defs, 0, &ids);
            format!("paste: {}", paste(defs, 0, &clip, pt(x, y)).len())
        }
    }
}

#[test]
fn a_hundred_random_edits_undo_exactly_and_always_round_trip() {
    for (seed, start) in [
        (1u64, generate_process(30)),
        (7, corpus("bpmn-io-18.6.1/C.1.0-export.bpmn")),
    ] {
        let mut rng = Rng(seed);
        let mut defs = start.clone();
        let mut history: Vec<Definitions> = Vec::new();
        for i in 0..100 {
            history.push(defs.clone());
            let what = random_edit(&mut defs, &mut rng);
            let back = read_bpmn(&write_bpmn(&defs)).definitions;
            if back != defs {
                let a = write_bpmn(&defs);
                let b = write_bpmn(&back);
                for (x, y) in a.lines().zip(b.lines()) {
                    if x != y {
                        eprintln!("- {x}\n+ {y}");
                    }
                }
                for (x, y) in format!("{defs:#?}")
                    .lines()
                    .zip(format!("{back:#?}").lines())
                {
                    if x != y {
                        eprintln!("model - {x}\nmodel + {y}");
                        break;
                    }
                }
            }
            assert!(back == defs, "edit {i} ({what}) does not round-trip");
            // The scene of any edited model is drawable.
            let _ = scene(&defs, 0);
        }
        assert_ne!(defs, start, "the edits changed something");
        while let Some(prev) = history.pop() {
            defs = prev;
        }
        assert_eq!(defs, start);
    }
}

#[test]
fn delete_removes_flows_references_and_shapes() {
    let (mut defs, n) = build_flow();
    let gw_el = element_of_node(&defs, 0, &n[2]).unwrap();
    delete(&mut defs, 0, std::slice::from_ref(&n[2]));
    assert_round_trips(&defs);
    let sc = scene(&defs, 0);
    assert_eq!(sc.nodes.len(), 5);
    assert_eq!(sc.edges.len(), 3, "task→gw, gw→a, gw→b gone");
    let xml = write_bpmn(&defs);
    assert!(!xml.contains(&gw_el));
    let errs: Vec<String> = errors(&defs)
        .into_iter()
        .filter(|e| e.contains("dangling") || e.contains("flow-to-nowhere"))
        .collect();
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn change_type_keeps_id_name_and_flows() {
    let (mut defs, n) = build_flow();
    let el = element_of_node(&defs, 0, &n[1]).unwrap();
    let before = scene(&defs, 0);
    change_type(&mut defs, 0, &el, PaletteKind::ExclusiveGateway).unwrap();
    assert_round_trips(&defs);
    let after = scene(&defs, 0);
    let node = after.nodes.iter().find(|x| x.id == n[1]).unwrap();
    assert_eq!(node.kind, "exclusiveGateway");
    assert_eq!(node.bounds.width, 50.0);
    let old = before.nodes.iter().find(|x| x.id == n[1]).unwrap();
    assert_eq!(
        node.bounds.x + 25.0,
        old.bounds.x + 50.0,
        "resized around the centre"
    );
    assert_eq!(node.name, old.name);
    assert_eq!(after.edges.len(), before.edges.len());
    let start_el = element_of_node(&defs, 0, &n[0]).unwrap();
    assert!(
        change_type(&mut defs, 0, &start_el, PaletteKind::EndEvent).is_err(),
        "start has outgoing"
    );
}

#[test]
fn copy_paste_gives_fresh_ids_and_keeps_internal_flows() {
    let (mut defs, n) = build_flow();
    let clip = copy(&defs, 0, &[n[3].clone(), n[5].clone()]);
    let before = scene(&defs, 0);
    let pasted = paste(&mut defs, 0, &clip, pt(100.0, 700.0));
    assert_round_trips(&defs);
    assert_eq!(pasted.len(), 2);
    let after = scene(&defs, 0);
    assert_eq!(after.nodes.len(), before.nodes.len() + 2);
    assert_eq!(
        after.edges.len(),
        before.edges.len() + 1,
        "the a → end flow is copied"
    );
    let top = pasted
        .iter()
        .map(|p| after.nodes.iter().find(|x| &x.id == p).unwrap().bounds.y)
        .fold(f64::MAX, f64::min);
    assert_eq!(top, 700.0);
    let FlowElement::Event(_) = defs
        .processes()
        .next()
        .unwrap()
        .flow_elements
        .iter()
        .find(|e| Some(e.id()) == element_of_node(&defs, 0, &pasted[1]).as_deref())
        .unwrap()
    else {
        panic!("the second pasted node is the end event");
    };
}

#[test]
fn append_in_a_pool_stays_in_its_process_and_lane_and_grows_the_pool() {
    let mut defs = corpus("bpmn-io-18.6.1/A.4.0-export.bpmn");
    let sc = scene(&defs, 0);
    // The right-most task of a lane: appending past it needs a wider pool.
    let task = sc
        .nodes
        .iter()
        .filter(|n| is_task(&n.kind))
        .filter(|n| {
            sc.nodes
                .iter()
                .any(|l| l.kind == "lane" && Some(&l.id) == n.parent.as_ref())
        })
        .max_by(|a, b| a.bounds.x.total_cmp(&b.bounds.x))
        .expect("a task in a lane")
        .clone();
    let lane = task.parent.clone().unwrap();
    let pool = sc
        .nodes
        .iter()
        .find(|n| n.id == lane)
        .unwrap()
        .parent
        .clone()
        .unwrap();
    let pool_before = sc.nodes.iter().find(|n| n.id == pool).unwrap().bounds;
    let new = append(&mut defs, 0, &task.id, PaletteKind::Task).unwrap();
    assert_round_trips(&defs);
    let after = scene(&defs, 0);
    let node = after.nodes.iter().find(|n| n.id == new).unwrap();
    assert_eq!(
        node.parent.as_deref(),
        Some(lane.as_str()),
        "in the same lane"
    );
    let pool_after = after.nodes.iter().find(|n| n.id == pool).unwrap().bounds;
    assert!(pool_after.x + pool_after.width >= node.bounds.x + node.bounds.width + 30.0);
    assert!(pool_after.width >= pool_before.width);
    for l in after
        .nodes
        .iter()
        .filter(|n| n.kind == "lane" && n.parent.as_deref() == Some(pool.as_str()))
    {
        assert_eq!(
            l.bounds.x + l.bounds.width,
            pool_after.x + pool_after.width,
            "lanes follow the pool"
        );
    }
}

#[test]
fn moving_a_lane_moves_its_pool_and_nodes_change_lanes() {
    let mut defs = corpus("bpmn-io-18.6.1/A.4.0-export.bpmn");
    let sc = scene(&defs, 0);
    let lanes: Vec<_> = sc
        .nodes
        .iter()
        .filter(|n| n.kind == "lane")
        .cloned()
        .collect();
    assert!(lanes.len() >= 2);
    let pool = lanes[0].parent.clone().unwrap();
    move_nodes(&mut defs, 0, std::slice::from_ref(&lanes[0].id), 10.0, 0.0);
    let after = scene(&defs, 0);
    let moved_pool = after.nodes.iter().find(|n| n.id == pool).unwrap();
    let old_pool = sc.nodes.iter().find(|n| n.id == pool).unwrap();
    assert_eq!(moved_pool.bounds.x, old_pool.bounds.x + 10.0);
    // A task dragged from one lane into the other changes lane.
    let mut defs = corpus("bpmn-io-18.6.1/A.4.0-export.bpmn");
    let task = sc
        .nodes
        .iter()
        .find(|n| is_task(&n.kind) && n.parent.as_deref() == Some(lanes[0].id.as_str()))
        .expect("a task in the first lane")
        .clone();
    let other = &lanes[1];
    let dy =
        other.bounds.y + other.bounds.height / 2.0 - (task.bounds.y + task.bounds.height / 2.0);
    move_nodes(&mut defs, 0, std::slice::from_ref(&task.id), 0.0, dy);
    assert_round_trips(&defs);
    let after = scene(&defs, 0);
    assert_eq!(
        after
            .nodes
            .iter()
            .find(|n| n.id == task.id)
            .unwrap()
            .parent
            .as_deref(),
        Some(other.id.as_str())
    );
}

#[test]
fn a_boundary_event_moved_alone_stays_on_its_host_border() {
    let (mut defs, n) = build_flow();
    let host = scene(&defs, 0)
        .nodes
        .into_iter()
        .find(|x| x.id == n[1])
        .unwrap()
        .bounds;
    let ev = add_element(
        &mut defs,
        0,
        PaletteKind::BoundaryTimerEvent,
        pt(host.x + 30.0, host.y + host.height),
    )
    .unwrap();
    move_nodes(&mut defs, 0, std::slice::from_ref(&ev), 40.0, 25.0);
    assert_round_trips(&defs);
    let b = scene(&defs, 0)
        .nodes
        .into_iter()
        .find(|x| x.id == ev)
        .unwrap()
        .bounds;
    assert_eq!(b.x + 18.0, host.x + 70.0);
    assert_eq!(
        b.y + 18.0,
        host.y + host.height,
        "back on the bottom border"
    );
}

#[test]
fn copying_a_sub_process_takes_its_contents_with_fresh_ids() {
    let mut defs = new_definitions("p", "P");
    let sub = add_element(&mut defs, 0, PaletteKind::SubProcess, pt(400.0, 300.0)).unwrap();
    let start = add_element(&mut defs, 0, PaletteKind::StartEvent, pt(300.0, 300.0)).unwrap();
    let task = add_element(&mut defs, 0, PaletteKind::Task, pt(450.0, 300.0)).unwrap();
    connect(&mut defs, 0, &start, &task).unwrap();
    let before = scene(&defs, 0);
    let clip = copy(&defs, 0, std::slice::from_ref(&sub));
    let pasted = paste(&mut defs, 0, &clip, pt(225.0, 600.0));
    assert_round_trips(&defs);
    assert_eq!(pasted.len(), 1);
    let after = scene(&defs, 0);
    assert_eq!(after.nodes.len(), before.nodes.len() * 2);
    assert_eq!(after.edges.len(), 2);
    let inside: Vec<_> = after
        .nodes
        .iter()
        .filter(|n| n.parent.as_deref() == Some(pasted[0].as_str()))
        .collect();
    assert_eq!(inside.len(), 2, "start and task inside the copy");
    for n in &inside {
        assert!(n.bounds.y > 450.0, "moved with the copy");
    }
    let copied_edge = after
        .edges
        .iter()
        .find(|e| {
            e.source
                .as_ref()
                .is_some_and(|s| inside.iter().any(|n| &n.id == s))
        })
        .unwrap();
    assert!(
        inside
            .iter()
            .any(|n| Some(&n.id) == copied_edge.target.as_ref())
    );
    let errs: Vec<String> = errors(&defs)
        .into_iter()
        .filter(|e| e.contains("dangling") || e.contains("flow-to-nowhere"))
        .collect();
    assert!(errs.is_empty(), "{errs:?}");
}

#[test]
fn random_edits_on_every_corpus_file_round_trip() {
    let root = std::env::var("STARWEAVE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/work/shared/corpus/bpmn-miwg"));
    let rounds: usize = std::env::var("STARWEAVE_FUZZ_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let mut files = 0;
    for dir in ["reference", "bpmn-io-18.6.1"] {
        for e in std::fs::read_dir(root.join(dir))
            .into_iter()
            .flatten()
            .flatten()
        {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "bpmn") {
                continue;
            }
            let text = std::fs::read_to_string(&path).expect("readable");
            let mut defs = read_bpmn(&text).definitions;
            // Files another tool wrote round-trip only once normalised by our writer.
            defs = read_bpmn(&write_bpmn(&defs)).definitions;
            let mut rng = Rng(files as u64 + 11);
            for i in 0..rounds {
                let what = random_edit(&mut defs, &mut rng);
                let back = read_bpmn(&write_bpmn(&defs)).definitions;
                assert!(
                    back == defs,
                    "{path:?}: edit {i} ({what}) does not round-trip"
                );
            }
            files += 1;
        }
    }
    assert!(files >= 40);
}

#[test]
fn annotations_outside_pools_belong_to_the_collaboration() {
    let mut defs = corpus("bpmn-io-18.6.1/C.1.0-export.bpmn");
    let far = pt(-2000.0, -2000.0);
    assert!(
        add_element(&mut defs, 0, PaletteKind::Task, far).is_err(),
        "tasks need a pool"
    );
    let note = add_element(&mut defs, 0, PaletteKind::TextAnnotation, far).unwrap();
    assert_round_trips(&defs);
    let el = element_of_node(&defs, 0, &note).unwrap();
    assert!(
        defs.collaborations()
            .next()
            .unwrap()
            .artifacts
            .iter()
            .any(|a| a.base().id() == el)
    );
    let task = scene(&defs, 0)
        .nodes
        .into_iter()
        .find(|n| is_task(&n.kind))
        .unwrap();
    let assoc = connect(&mut defs, 0, &note, &task.id).unwrap();
    assert_round_trips(&defs);
    assert_eq!(
        scene(&defs, 0)
            .edges
            .iter()
            .find(|e| e.id == assoc)
            .unwrap()
            .kind,
        "association"
    );
}

#[test]
fn gateway_branches_leave_through_the_diamond_corners() {
    let (defs, n) = build_flow();
    let sc = scene(&defs, 0);
    let gw = sc.nodes.iter().find(|x| x.id == n[2]).unwrap().bounds;
    let b = sc.nodes.iter().find(|x| x.id == n[4]).unwrap().bounds;
    assert!(
        b.y > gw.y + gw.height,
        "the second branch is on a lower row"
    );
    let edge = sc
        .edges
        .iter()
        .find(|e| {
            e.source.as_deref() == Some(n[2].as_str()) && e.target.as_deref() == Some(n[4].as_str())
        })
        .unwrap();
    assert_eq!(edge.waypoints.len(), 3);
    assert_eq!(
        edge.waypoints[0],
        pt(gw.x + gw.width / 2.0, gw.y + gw.height),
        "bottom corner"
    );
    assert_eq!(edge.waypoints[2].x, b.x, "enters from the left");
}

#[test]
fn unconnected_nodes_dragged_into_a_sub_process_move_into_it() {
    let mut defs = new_definitions("p", "P");
    let sub = add_element(&mut defs, 0, PaletteKind::SubProcess, pt(600.0, 300.0)).unwrap();
    let inner = add_element(&mut defs, 0, PaletteKind::StartEvent, pt(500.0, 300.0)).unwrap();
    let loose = add_element(&mut defs, 0, PaletteKind::Task, pt(100.0, 600.0)).unwrap();
    let start = add_element(&mut defs, 0, PaletteKind::StartEvent, pt(100.0, 800.0)).unwrap();
    let wired = append(&mut defs, 0, &start, PaletteKind::Task).unwrap();
    assert!(
        can_connect(&defs, 0, &inner, &loose).is_err(),
        "outside the sub-process"
    );
    // Drag the loose task into the sub-process: it becomes part of it.
    move_nodes(&mut defs, 0, std::slice::from_ref(&loose), 550.0, -300.0);
    assert_round_trips(&defs);
    let sc = scene(&defs, 0);
    assert_eq!(
        sc.nodes
            .iter()
            .find(|n| n.id == loose)
            .unwrap()
            .parent
            .as_deref(),
        Some(sub.as_str())
    );
    assert!(can_connect(&defs, 0, &inner, &loose).is_ok());
    // A connected task keeps its container.
    let wb = sc.nodes.iter().find(|n| n.id == wired).unwrap().bounds;
    move_nodes(
        &mut defs,
        0,
        std::slice::from_ref(&wired),
        600.0 - wb.x - 50.0,
        300.0 - wb.y - 40.0 + 60.0,
    );
    assert_round_trips(&defs);
    let wired_el = element_of_node(&defs, 0, &wired).unwrap();
    assert!(
        defs.processes()
            .next()
            .unwrap()
            .flow_elements
            .iter()
            .any(|e| e.id() == wired_el),
        "still at process level"
    );
}
