//! Scene building: what to draw for one BPMN diagram, node by node and edge by edge.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use starweave_model::bpmn::{
    ActivityKind, Artifact, Bounds, Definitions, DiagramElement, Edge, EventKind, FlowElement,
    GatewayKind, LoopCharacteristics, Plane, Point, Shape, Unknown,
};

use crate::index::{Elem, Entry, Index, definition_name, kind_of};
use crate::notation::{self, ActivityLook, Colors, EventRing};

/// Everything to draw for one diagram.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    /// Shapes in draw order: pools, lanes, expanded sub-processes (outer first), groups,
    /// then the other shapes in DI order, boundary events after their hosts.
    pub nodes: Vec<SceneNode>,
    /// Edges in DI order.
    pub edges: Vec<SceneEdge>,
}

/// One drawn shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneNode {
    /// DI shape id; `"{bpmnElement}_di"` when the shape has none.
    pub id: String,
    /// The model element drawn (`bpmnElement`).
    pub element_id: Option<String>,
    /// BPMN type name: `startEvent`, `serviceTask`, `exclusiveGateway`, `participant` …
    pub kind: String,
    /// The DI bounds, exactly.
    pub bounds: Bounds,
    /// The element's name (annotation text for text annotations).
    pub name: Option<String>,
    /// Node id of the containing expanded sub-process, lane or pool, or of the host
    /// activity for boundary events.
    pub parent: Option<String>,
    /// Pools, lanes, expanded sub-processes and groups.
    pub container: bool,
    /// Whether connections may start or end here.
    pub connectable: bool,
    /// SVG markup in local coordinates (0,0 = bounds' top-left), label included.
    pub markup: String,
}

/// One drawn connection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SceneEdge {
    /// DI edge id; `"{bpmnElement}_di"` when the edge has none.
    pub id: String,
    /// The model element drawn.
    pub element_id: Option<String>,
    /// `sequenceFlow`, `messageFlow`, `association`, `dataInputAssociation`,
    /// `dataOutputAssociation`.
    pub kind: String,
    /// Node id of the source shape.
    pub source: Option<String>,
    /// Node id of the target shape.
    pub target: Option<String>,
    /// The DI waypoints, exactly.
    pub waypoints: Vec<Point>,
    /// Marker id from [`crate::DEFS`] at the start.
    pub marker_start: Option<String>,
    /// Marker id from [`crate::DEFS`] at the end.
    pub marker_end: Option<String>,
    /// Label text and its box (the DI label bounds, else near the middle of the edge).
    pub label: Option<(String, Bounds)>,
    /// A default flow of its source (slash marker).
    pub is_default: bool,
    /// The condition expression body of a sequence flow.
    pub condition: Option<String>,
}

/// One name per diagram: its name, else its id, else "Diagram N".
pub fn diagram_names(defs: &Definitions) -> Vec<String> {
    defs.diagrams
        .iter()
        .enumerate()
        .map(|(i, d)| {
            d.name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .or_else(|| d.id.clone())
                .unwrap_or_else(|| format!("Diagram {}", i + 1))
        })
        .collect()
}

/// The node id of a shape: its DI id, else derived from its element.
pub(crate) fn shape_node_id(shape: &Shape, position: usize) -> String {
    match (&shape.id, &shape.bpmn_element) {
        (Some(id), _) if !id.is_empty() => id.clone(),
        (_, Some(el)) => format!("{el}_di"),
        _ => format!("shape_{position}"),
    }
}

/// The edge id of an edge: its DI id, else derived from its element.
pub(crate) fn edge_id(edge: &Edge, position: usize) -> String {
    match (&edge.id, &edge.bpmn_element) {
        (Some(id), _) if !id.is_empty() => id.clone(),
        (_, Some(el)) => format!("{el}_di"),
        _ => format!("edge_{position}"),
    }
}

/// Unique node ids for the shapes of a plane, in plane order, with the shape's element.
pub(crate) fn plane_node_ids(plane: &Plane) -> Vec<(String, &Shape)> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, el) in plane.elements.iter().enumerate() {
        if let DiagramElement::Shape(s) = el {
            let mut id = shape_node_id(s, i);
            if !seen.insert(id.clone()) {
                id = format!("{id}_{i}");
                seen.insert(id.clone());
            }
            out.push((id, s));
        }
    }
    out
}

/// Colours from the DI colour extensions (`bioc:stroke`/`bioc:fill`,
/// `color:border-color`/`color:background-color`).
fn colors(unknown: &Unknown) -> Colors {
    let mut c = Colors::default();
    for a in &unknown.attributes {
        let v = a.value.as_str();
        if !safe_color(v) {
            continue;
        }
        if a.local_name == "stroke" || a.local_name == "border-color" {
            c.stroke = v.to_owned();
        } else if a.local_name == "fill" || a.local_name == "background-color" {
            c.fill = v.to_owned();
        }
    }
    c
}

fn safe_color(v: &str) -> bool {
    !v.is_empty()
        && v.len() < 40
        && v.chars()
            .all(|c| c.is_ascii_alphanumeric() || "#(),. %".contains(c))
}

/// Builds the scene of diagram `diagram` (an index into `defs.diagrams`); empty when there
/// is no such diagram or it has no plane.
pub fn scene(defs: &Definitions, diagram: usize) -> Scene {
    build(defs, diagram, true)
}

/// The scene without markup: ids, kinds, bounds, parents and edge ends, which is what
/// editing and layout need (markup is most of a scene's cost).
pub(crate) fn structure(defs: &Definitions, diagram: usize) -> Scene {
    build(defs, diagram, false)
}

fn build(defs: &Definitions, diagram: usize, with_markup: bool) -> Scene {
    let Some(plane) = defs.diagrams.get(diagram).and_then(|d| d.plane.as_ref()) else {
        return Scene::default();
    };
    let ix = Index::new(defs);
    let shapes = plane_node_ids(plane);
    let mut node_of: HashMap<&str, &str> = HashMap::new();
    let mut shape_ids: HashSet<&str> = HashSet::new();
    for (id, s) in &shapes {
        shape_ids.insert(id.as_str());
        if let Some(el) = s.bpmn_element.as_deref() {
            node_of.entry(el).or_insert(id.as_str());
        }
    }
    // Sub-processes whose children are drawn on this plane are drawn expanded.
    let mut has_children: HashSet<&str> = HashSet::new();
    for (_, s) in &shapes {
        if let Some(entry) = s.bpmn_element.as_deref().and_then(|e| ix.get(e))
            && let Some(c) = entry.container
        {
            has_children.insert(c);
        }
    }

    let mut nodes: Vec<(u32, SceneNode)> = Vec::with_capacity(shapes.len());
    for (id, s) in &shapes {
        let element = s.bpmn_element.as_deref();
        let entry = element.and_then(|e| ix.get(e));
        let bounds = s.bounds.unwrap_or_default();
        let kind = match entry {
            Some(e) => kind_of(e.elem),
            None => "unknown".to_owned(),
        };
        // Sub-processes with their children on this plane, and any activity the DI marks
        // expanded (tools draw called processes inside expanded call activities), are
        // containers drawn before what they contain.
        let is_activity =
            entry.is_some_and(|e| matches!(e.elem, Elem::Flow(FlowElement::Activity(_))));
        let expanded = is_activity
            && (s.is_expanded == Some(true) || element.is_some_and(|el| has_children.contains(el)));
        let parent = entry.and_then(|e| parent_node(&ix, e, element, &node_of));
        let name = entry.and_then(|e| element_name(&ix, e));
        let (order, container, connectable) = match kind.as_str() {
            "participant" => (0, true, true),
            "lane" => (10 + depth_of_lane(&ix, element), true, false),
            "group" => (300, true, false),
            "boundaryEvent" => (2000, false, true),
            _ if expanded => (100 + depth_of_container(&ix, entry), true, true),
            _ => (1000, false, true),
        };
        let markup = if with_markup {
            shape_markup(&ix, entry, s, &bounds, name.as_deref(), expanded)
        } else {
            String::new()
        };
        nodes.push((
            order,
            SceneNode {
                id: id.clone(),
                element_id: element.map(str::to_owned),
                kind,
                bounds,
                name,
                parent: parent.map(str::to_owned),
                container,
                connectable,
                markup,
            },
        ));
    }
    nodes.sort_by_key(|(o, _)| *o);
    let nodes: Vec<SceneNode> = nodes.into_iter().map(|(_, n)| n).collect();

    let mut edges = Vec::new();
    let mut seen_edges = HashSet::new();
    for (i, el) in plane.elements.iter().enumerate() {
        let DiagramElement::Edge(e) = el else {
            continue;
        };
        let mut id = edge_id(e, i);
        if !seen_edges.insert(id.clone()) {
            id = format!("{id}_{i}");
            seen_edges.insert(id.clone());
        }
        edges.push(scene_edge(&ix, e, id, &shape_ids, &node_of));
    }
    Scene { nodes, edges }
}

fn depth_of_lane(ix: &Index<'_>, element: Option<&str>) -> u32 {
    let mut depth = 0;
    let mut cur = element.and_then(|e| ix.get(e)).and_then(|e| e.parent_lane);
    while let Some(l) = cur {
        depth += 1;
        if depth > 50 {
            break;
        }
        cur = ix.get(l).and_then(|e| e.parent_lane);
    }
    depth
}

fn depth_of_container(ix: &Index<'_>, entry: Option<&Entry<'_>>) -> u32 {
    let mut depth = 0;
    let mut cur = entry.and_then(|e| e.container);
    while let Some(c) = cur {
        depth += 1;
        if depth > 150 {
            break;
        }
        cur = ix.get(c).and_then(|e| e.container);
    }
    depth
}

/// The node id a shape is drawn inside of.
fn parent_node<'a>(
    ix: &Index<'a>,
    entry: &Entry<'a>,
    element: Option<&str>,
    node_of: &HashMap<&str, &'a str>,
) -> Option<&'a str> {
    if let Elem::Flow(FlowElement::Event(e)) = entry.elem
        && e.kind == EventKind::Boundary
        && let Some(host) = e.attached_to_ref.as_deref()
        && let Some(n) = node_of.get(host)
    {
        return Some(n);
    }
    if let Elem::Participant(_) = entry.elem {
        return None;
    }
    if let Elem::Lane(_) = entry.elem {
        if let Some(n) = entry.parent_lane.and_then(|l| node_of.get(l)) {
            return Some(n);
        }
    } else {
        if let Some(n) = entry.container.and_then(|c| node_of.get(c)) {
            return Some(n);
        }
        if entry.container.is_none()
            && let Some(n) = element
                .and_then(|e| ix.lane_of.get(e))
                .and_then(|l| node_of.get(l))
        {
            return Some(n);
        }
    }
    if entry.container.is_none() {
        return entry
            .process
            .and_then(|p| ix.participant_of.get(p))
            .and_then(|p| node_of.get(p))
            .copied();
    }
    None
}

/// The name shown for an element.
fn element_name(ix: &Index<'_>, entry: &Entry<'_>) -> Option<String> {
    let name = match entry.elem {
        Elem::Flow(f) => f.name().map(str::to_owned),
        Elem::Artifact(Artifact::TextAnnotation(t)) => t.text.clone(),
        Elem::Artifact(Artifact::Group(g)) => g
            .category_value_ref
            .as_deref()
            .and_then(|r| ix.category_values.get(r))
            .map(|v| (*v).to_owned()),
        Elem::Artifact(Artifact::Association(_)) => None,
        Elem::Participant(p) => p.name.clone(),
        Elem::Lane(l) => l.name.clone(),
        Elem::MessageFlow(m) => m.name.clone(),
        Elem::DataAssoc { .. } | Elem::Other(_) => None,
        Elem::Process(p) => p.name.clone(),
    };
    name.filter(|n| !n.trim().is_empty())
}

fn shape_markup(
    ix: &Index<'_>,
    entry: Option<&Entry<'_>>,
    s: &Shape,
    b: &Bounds,
    name: Option<&str>,
    expanded: bool,
) -> String {
    let c = colors(&s.unknown);
    let (w, h) = (b.width, b.height);
    let label = s.label.as_ref().and_then(|l| l.bounds).map(|lb| {
        (
            lb.x - b.x,
            lb.y - b.y,
            lb.width.max(0.0),
            lb.height.max(0.0),
        )
    });
    let Some(entry) = entry else {
        return notation::unknown(w, h, name, &c);
    };
    let mut out = match entry.elem {
        Elem::Flow(FlowElement::Event(e)) => {
            let ring = match e.kind {
                EventKind::Start => EventRing::Start,
                EventKind::End => EventRing::End,
                _ => EventRing::Intermediate,
            };
            let mut icons: Vec<&str> = e
                .event_definitions
                .iter()
                .map(|d| definition_name(&d.kind))
                .collect();
            // Definitions declared at the root and referenced are not typed here: one alone
            // shows no icon, several make a multiple event.
            if !e.event_definition_refs.is_empty()
                && icons.len() + e.event_definition_refs.len() > 1
            {
                icons = vec!["multiple", "multiple"];
            }
            let throw = matches!(e.kind, EventKind::End | EventKind::IntermediateThrow);
            let dashed = (e.kind == EventKind::Boundary && e.cancel_activity == Some(false))
                || (e.kind == EventKind::Start && e.is_interrupting == Some(false));
            notation::event(
                w,
                h,
                &notation::EventLook {
                    ring,
                    icons: &icons,
                    throw,
                    dashed,
                    parallel: e.parallel_multiple == Some(true),
                },
                &c,
            )
        }
        Elem::Flow(FlowElement::Gateway(g)) => {
            let kind = match g.kind {
                GatewayKind::Exclusive => "exclusive",
                GatewayKind::Parallel => "parallel",
                GatewayKind::Inclusive => "inclusive",
                GatewayKind::Complex => "complex",
                GatewayKind::EventBased => {
                    let typ = g
                        .base
                        .unknown
                        .attributes
                        .iter()
                        .find(|a| a.local_name == "eventGatewayType")
                        .map(|a| a.value.as_str());
                    let instantiate = g
                        .base
                        .unknown
                        .attributes
                        .iter()
                        .any(|a| a.local_name == "instantiate" && a.value == "true");
                    match typ {
                        Some("Parallel") => "parallelEventBased",
                        _ if instantiate => "exclusiveEventBased",
                        _ => "eventBased",
                    }
                }
            };
            notation::gateway(w, h, kind, s.is_marker_visible != Some(false), &c)
        }
        Elem::Flow(FlowElement::Activity(a)) => {
            let sub = a.sub_process();
            let look = ActivityLook {
                icon: match &a.kind {
                    ActivityKind::ServiceTask => "service",
                    ActivityKind::ScriptTask { .. } => "script",
                    ActivityKind::UserTask => "user",
                    ActivityKind::ManualTask => "manual",
                    ActivityKind::SendTask { .. } => "send",
                    ActivityKind::ReceiveTask { .. } => "receive",
                    ActivityKind::BusinessRuleTask => "businessRule",
                    _ => "",
                },
                call: matches!(a.kind, ActivityKind::CallActivity { .. }),
                transaction: matches!(a.kind, ActivityKind::Transaction(_)),
                event_sub: sub.is_some_and(|s| s.triggered_by_event == Some(true)),
                collapsed: sub.is_some() && !expanded,
                expanded,
                loop_marker: match &a.loop_characteristics {
                    Some(LoopCharacteristics::Standard(_)) => "loop",
                    Some(LoopCharacteristics::MultiInstance(m))
                        if m.is_sequential == Some(true) =>
                    {
                        "sequential"
                    }
                    Some(LoopCharacteristics::MultiInstance(_)) => "parallel",
                    None => "",
                },
                compensation: a.is_for_compensation == Some(true),
                ad_hoc: matches!(a.kind, ActivityKind::AdHocSubProcess(_)),
            };
            notation::activity(w, h, &look, name, &c)
        }
        Elem::Flow(FlowElement::DataObjectReference(r)) => {
            let collection = r
                .data_object_ref
                .as_deref()
                .and_then(|d| ix.get(d))
                .is_some_and(|e| {
                    matches!(e.elem, Elem::Flow(FlowElement::DataObject(o)) if o.is_collection == Some(true))
                });
            notation::data_object(w, h, collection, None, &c)
        }
        Elem::Flow(FlowElement::DataObject(o)) => {
            notation::data_object(w, h, o.is_collection == Some(true), None, &c)
        }
        Elem::Other("dataInput") => notation::data_object(w, h, false, Some(true), &c),
        Elem::Other("dataOutput") => notation::data_object(w, h, false, Some(false), &c),
        Elem::Flow(FlowElement::DataStoreReference(_)) => notation::data_store(w, h, &c),
        Elem::Artifact(Artifact::TextAnnotation(_)) => {
            return notation::text_annotation(w, h, name, &c);
        }
        Elem::Artifact(Artifact::Group(_)) => return notation::group(w, h, name, &c),
        Elem::Participant(p) => {
            let collapsed = p.process_ref.is_none();
            return notation::pool(
                w,
                h,
                name,
                s.is_horizontal != Some(false),
                collapsed,
                false,
                &c,
            );
        }
        Elem::Lane(_) => {
            return notation::pool(w, h, name, s.is_horizontal != Some(false), false, true, &c);
        }
        _ => return notation::unknown(w, h, name, &c),
    };
    let internal_label = matches!(entry.elem, Elem::Flow(FlowElement::Activity(_)));
    if !internal_label && let Some(name) = name {
        notation::label_external(&mut out, name, w, h, label, &c);
    }
    out
}

/// Semantic ends of a connection element: (source element, target element).
pub(crate) fn semantic_ends<'a>(entry: &Entry<'a>) -> (Option<&'a str>, Option<&'a str>) {
    match entry.elem {
        Elem::Flow(FlowElement::SequenceFlow(f)) => {
            (Some(f.source_ref.as_str()), Some(f.target_ref.as_str()))
        }
        Elem::MessageFlow(f) => (Some(f.source_ref.as_str()), Some(f.target_ref.as_str())),
        Elem::Artifact(Artifact::Association(a)) => {
            (Some(a.source_ref.as_str()), Some(a.target_ref.as_str()))
        }
        Elem::DataAssoc {
            assoc,
            owner,
            input: true,
        } => (assoc.source_refs.first().map(String::as_str), Some(owner)),
        Elem::DataAssoc {
            assoc,
            owner,
            input: false,
        } => (Some(owner), assoc.target_ref.as_deref()),
        _ => (None, None),
    }
}

fn scene_edge(
    ix: &Index<'_>,
    e: &Edge,
    id: String,
    shape_ids: &HashSet<&str>,
    node_of: &HashMap<&str, &str>,
) -> SceneEdge {
    let entry = e.bpmn_element.as_deref().and_then(|el| ix.get(el));
    let kind = entry
        .map(|x| kind_of(x.elem))
        .unwrap_or_else(|| "unknown".into());
    let (sem_source, sem_target) = entry.map(semantic_ends).unwrap_or((None, None));
    let resolve = |di: Option<&str>, sem: Option<&str>| -> Option<String> {
        if let Some(d) = di
            && shape_ids.contains(d)
        {
            return Some(d.to_owned());
        }
        sem.and_then(|s| node_of.get(s)).map(|s| (*s).to_owned())
    };
    let source = resolve(e.source_element.as_deref(), sem_source);
    let target = resolve(e.target_element.as_deref(), sem_target);

    let mut is_default = false;
    let mut condition = None;
    let mut marker_start = None;
    let mut marker_end = None;
    let mut name = None;
    match entry.map(|x| x.elem) {
        Some(Elem::Flow(FlowElement::SequenceFlow(f))) => {
            marker_end = Some("sw-seq-end");
            name = f.name.clone();
            condition = f.condition_expression.as_ref().map(|c| c.body.clone());
            let src = ix.get(&f.source_ref).map(|x| x.elem);
            let (default_of_source, source_is_activity) = match src {
                Some(Elem::Flow(FlowElement::Activity(a))) => (a.default.as_deref(), true),
                Some(Elem::Flow(FlowElement::Gateway(g))) => (g.default.as_deref(), false),
                _ => (None, false),
            };
            if default_of_source == Some(f.base.id()) {
                is_default = true;
                marker_start = Some("sw-default-start");
            } else if condition.is_some() && source_is_activity {
                marker_start = Some("sw-cond-start");
            }
        }
        Some(Elem::MessageFlow(f)) => {
            marker_start = Some("sw-msg-start");
            marker_end = Some("sw-msg-end");
            name = f.name.clone();
        }
        Some(Elem::Artifact(Artifact::Association(a))) => {
            match a.association_direction.as_deref() {
                Some("One") => marker_end = Some("sw-assoc-end"),
                Some("Both") => {
                    marker_start = Some("sw-assoc-start");
                    marker_end = Some("sw-assoc-end");
                }
                _ => {}
            }
        }
        Some(Elem::DataAssoc { .. }) => marker_end = Some("sw-data-end"),
        _ => {}
    }
    let label = name.filter(|n| !n.trim().is_empty()).map(|n| {
        let b = e
            .label
            .as_ref()
            .and_then(|l| l.bounds)
            .unwrap_or_else(|| default_edge_label_bounds(&e.waypoints, &n));
        (n, b)
    });
    SceneEdge {
        id,
        element_id: e.bpmn_element.clone(),
        kind,
        source,
        target,
        waypoints: e.waypoints.clone(),
        marker_start: marker_start.map(str::to_owned),
        marker_end: marker_end.map(str::to_owned),
        label,
        is_default,
        condition,
    }
}

/// A label box beside the middle of a polyline.
pub(crate) fn default_edge_label_bounds(pts: &[Point], text: &str) -> Bounds {
    let lines = notation::wrap(text, 90.0);
    let width = lines
        .iter()
        .map(|l| notation::text_width(l))
        .fold(0.0, f64::max)
        .max(10.0);
    let height = lines.len().max(1) as f64 * notation::LINE_HEIGHT;
    let mid = polyline_midpoint(pts);
    Bounds {
        x: mid.x + 5.0,
        y: mid.y - height - 3.0,
        width,
        height,
    }
}

/// The point halfway along a polyline.
pub(crate) fn polyline_midpoint(pts: &[Point]) -> Point {
    match pts {
        [] => Point::default(),
        [p] => *p,
        _ => {
            let len: f64 = pts.windows(2).map(|w| dist(w[0], w[1])).sum();
            let mut left = len / 2.0;
            for w in pts.windows(2) {
                let d = dist(w[0], w[1]);
                if d >= left && d > 0.0 {
                    let t = left / d;
                    return Point {
                        x: w[0].x + (w[1].x - w[0].x) * t,
                        y: w[0].y + (w[1].y - w[0].y) * t,
                    };
                }
                left -= d;
            }
            pts[pts.len() - 1]
        }
    }
}

fn dist(a: Point, b: Point) -> f64 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}
