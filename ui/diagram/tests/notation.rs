//! The markup of individual shapes follows the BPMN 2.0 notation.

use std::path::PathBuf;

use starweave_diagram::{
    PaletteKind, SceneNode, add_element, change_type, element_of_node, new_definitions, rename,
    scene,
};
use starweave_model::bpmn::{Definitions, DiagramElement, Point, read_bpmn};

fn b20() -> Vec<SceneNode> {
    let root = std::env::var("STARWEAVE_CORPUS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from("/work/shared/corpus/bpmn-miwg"));
    let text = std::fs::read_to_string(root.join("reference/B.2.0.bpmn")).expect("B.2.0");
    scene(&read_bpmn(&text).definitions, 0).nodes
}

fn named<'a>(nodes: &'a [SceneNode], name: &str) -> &'a SceneNode {
    nodes
        .iter()
        .find(|n| {
            n.name
                .as_deref()
                .map(|x| x.split_whitespace().collect::<Vec<_>>().join(" "))
                == Some(name.to_owned())
        })
        .unwrap_or_else(|| panic!("no node named {name}"))
}

fn one(kind: PaletteKind) -> (Definitions, SceneNode) {
    let mut defs = new_definitions("p", "P");
    let id = add_element(&mut defs, 0, kind, Point { x: 300.0, y: 300.0 }).unwrap();
    let node = scene(&defs, 0)
        .nodes
        .into_iter()
        .find(|n| n.id == id)
        .unwrap();
    (defs, node)
}

#[test]
fn event_outlines() {
    let (_, start) = one(PaletteKind::StartEvent);
    assert_eq!(start.markup.matches("<circle").count(), 1);
    assert!(start.markup.contains(r#"stroke-width="2""#));
    let (_, end) = one(PaletteKind::EndEvent);
    assert!(end.markup.contains(r#"stroke-width="4""#));
    let (_, timer) = one(PaletteKind::IntermediateTimerEvent);
    // Double ring plus the clock face.
    assert_eq!(timer.markup.matches("<circle").count(), 3);
    assert_eq!(timer.markup.matches("<line").count(), 12, "clock ticks");
    let (_, terminate) = one(PaletteKind::TerminateEndEvent);
    assert!(
        terminate
            .markup
            .contains(r##"r="10" stroke="#22242a" fill="#22242a""##),
        "filled terminate circle"
    );
}

#[test]
fn throw_icons_are_filled_and_catch_icons_open() {
    let nodes = b20();
    let throw = named(&nodes, "Intermediate Event Message Throw");
    let catch = named(&nodes, "Intermediate Event Message Catch");
    assert!(
        throw
            .markup
            .contains(r##"fill="#22242a" stroke-width="1.2"/>"##),
        "{}",
        throw.markup
    );
    assert!(!catch.markup.contains(
        r##"<rect x="10" y="12.5" width="16" height="11" stroke="#22242a" fill="#22242a""##
    ));
    let non_interrupting = named(
        &nodes,
        "Boundary Intermediate Event Non-Interrupting Message",
    );
    assert!(
        non_interrupting.markup.contains("stroke-dasharray"),
        "dashed"
    );
    let interrupting = named(&nodes, "Boundary Intermediate Event Interrupting Message");
    assert!(!interrupting.markup.contains("stroke-dasharray"));
    assert_eq!(interrupting.kind, "boundaryEvent");
    assert!(interrupting.parent.is_some(), "attached to its host");
}

#[test]
fn activity_markers_and_icons() {
    let nodes = b20();
    let service = named(&nodes, "Service Task 4");
    assert!(service.markup.contains(r#"class="bpmn-icon""#));
    let mi = named(&nodes, "Service Task 22");
    assert!(
        mi.markup.contains("M 3 1 V 13"),
        "parallel multi-instance bars"
    );
    let seq = named(&nodes, "User Task 12 Muti-Inst. Seq.");
    assert!(
        seq.markup.contains("M 1 3 H 13"),
        "sequential multi-instance bars"
    );
    let lp = named(&nodes, "User Task 7 Standard Loop");
    assert!(lp.markup.contains("A 5 5 0 1 1"), "loop arrow");
    let collapsed = named(&nodes, "Collapsed Sub-Process 2");
    assert!(
        collapsed.markup.contains("M 7 3 V 11 M 3 7 H 11"),
        "[+] marker"
    );
    assert!(!collapsed.container);
    let expanded = named(&nodes, "Expanded Sub-Process 1");
    assert!(expanded.container);
    assert!(!expanded.markup.contains("M 7 3 V 11 M 3 7 H 11"));
    let call = named(&nodes, "Call Activity calling a Global User Task");
    assert!(
        call.markup.contains(r#"stroke-width="5""#),
        "thick call activity border"
    );
    let (_, tx) = one(PaletteKind::Transaction);
    assert_eq!(tx.markup.matches("<rect").count(), 2, "double border");
    let (_, task) = one(PaletteKind::Task);
    assert!(task.markup.contains(r#"rx="10""#));
}

#[test]
fn gateway_markers() {
    let (mut defs, gw) = one(PaletteKind::ExclusiveGateway);
    assert!(gw.markup.contains("<polygon"));
    assert!(gw.markup.contains("M 17.5 16 L 32.5 34"), "X shown");
    // Without the marker flag set to false the X stays; with false it goes.
    if let Some(plane) = defs.diagrams[0].plane.as_mut() {
        for el in plane.elements.iter_mut() {
            if let DiagramElement::Shape(s) = el {
                s.is_marker_visible = Some(false);
            }
        }
    }
    let hidden = scene(&defs, 0).nodes.remove(0);
    assert!(!hidden.markup.contains("M 17.5 16 L 32.5 34"));
    let el = element_of_node(&defs, 0, &gw.id).unwrap();
    change_type(&mut defs, 0, &el, PaletteKind::ParallelGateway).unwrap();
    assert!(
        scene(&defs, 0).nodes[0]
            .markup
            .contains("M 25 13 V 37 M 13 25 H 37")
    );
    change_type(&mut defs, 0, &el, PaletteKind::InclusiveGateway).unwrap();
    assert!(scene(&defs, 0).nodes[0].markup.contains(r#"r="11""#));
    change_type(&mut defs, 0, &el, PaletteKind::EventBasedGateway).unwrap();
    let eb = &scene(&defs, 0).nodes[0].markup;
    assert_eq!(eb.matches("<circle").count(), 2, "double circle");
    assert!(eb.contains("M 25 18.5"), "pentagon");
}

#[test]
fn pools_data_and_artifacts() {
    let nodes = b20();
    let pool = nodes.iter().find(|n| n.kind == "participant").unwrap();
    assert!(pool.markup.contains("rotate(-90)"), "vertical name band");
    assert!(pool.container);
    let store = nodes
        .iter()
        .find(|n| n.kind == "dataStoreReference")
        .unwrap();
    assert!(store.markup.contains(" A "), "cylinder arcs");
    let data = nodes
        .iter()
        .find(|n| n.kind == "dataObjectReference")
        .unwrap();
    assert!(
        data.markup.starts_with("<path d=\"M 0 0 H"),
        "dog-eared page"
    );
    let annotation = nodes.iter().find(|n| n.kind == "textAnnotation").unwrap();
    assert!(annotation.markup.contains("Annotation"));
    let group = nodes.iter().find(|n| n.kind == "group").unwrap();
    assert!(group.markup.contains("stroke-dasharray"));
}

#[test]
fn labels_are_wrapped_escaped_and_placed() {
    let (mut defs, task) = one(PaletteKind::ServiceTask);
    let el = element_of_node(&defs, 0, &task.id).unwrap();
    rename(
        &mut defs,
        &el,
        Some("Load the <user> & \"check\" their very long account name".into()),
    );
    let node = scene(&defs, 0).nodes.remove(0);
    for piece in ["&lt;user&gt;", "&amp;", "&quot;check&quot;"] {
        assert!(node.markup.contains(piece), "{piece} in {}", node.markup);
    }
    assert!(
        node.markup.matches("<tspan").count() >= 3,
        "wrapped into lines"
    );
    let (mut defs, ev) = one(PaletteKind::StartEvent);
    let el = element_of_node(&defs, 0, &ev.id).unwrap();
    rename(&mut defs, &el, Some("Order received".into()));
    let node = scene(&defs, 0).nodes.remove(0);
    // Below the 36 px circle.
    assert!(
        node.markup.contains(r#"<tspan x="18" y="52.23">"#),
        "{}",
        node.markup
    );
}
