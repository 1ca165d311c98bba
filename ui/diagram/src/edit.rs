//! Editing operations. Each one changes the semantic model *and* the DI of one diagram
//! together, and leaves a model that `write_bpmn` → `read_bpmn` gives back unchanged.
//!
//! Nodes and edges are named by their scene ids (DI shape and edge ids); semantic elements
//! by their element ids. Operations that cannot apply return an [`EditError`] and leave the
//! model untouched; "fire and forget" operations (moving, renaming) ignore unknown ids.

use std::collections::{HashMap, HashSet};
use std::fmt;

use starweave_model::bpmn::{
    Activity, ActivityKind, Artifact, Association, BaseElement, Bounds, Collaboration,
    DataAssociation, Definitions, Diagram, DiagramElement, Edge, Event, EventDefinition,
    EventDefinitionKind, EventKind, Expression, FlowElement, Gateway, GatewayKind, LaneSet,
    MessageFlow, Plane, Point, Process, RootElement, SequenceFlow, Shape, SubProcess,
    TextAnnotation, read_bpmn, write_bpmn,
};

use crate::index::{Elem, Index, kind_of};
use crate::notation;
use crate::scene::{edge_id, plane_node_ids, scene, semantic_ends, structure};
use starweave_model::bpmn::{BPMN_NS, NamespaceDecl, XSI_NS};

/// Why an edit could not be applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EditError {
    /// No node, edge or element with this id (or no such diagram).
    UnknownNode(String),
    /// The BPMN rules forbid it; the text says why.
    NotAllowed(String),
    /// The diagram shows no process to add elements to.
    NoProcess,
}

impl fmt::Display for EditError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EditError::UnknownNode(id) => write!(f, "no element `{id}` in this diagram"),
            EditError::NotAllowed(why) => write!(f, "not allowed: {why}"),
            EditError::NoProcess => write!(f, "this diagram shows no process to add to"),
        }
    }
}

impl std::error::Error for EditError {}

/// What the palette creates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PaletteKind {
    /// None start event.
    StartEvent,
    /// Timer start event.
    TimerStartEvent,
    /// Message start event.
    MessageStartEvent,
    /// None end event.
    EndEvent,
    /// Error end event.
    ErrorEndEvent,
    /// Terminate end event.
    TerminateEndEvent,
    /// Intermediate timer catch event.
    IntermediateTimerEvent,
    /// Error boundary event (dropped on an activity).
    BoundaryErrorEvent,
    /// Timer boundary event (dropped on an activity).
    BoundaryTimerEvent,
    /// Plain task.
    Task,
    /// Service task (bound to a connector method or function).
    ServiceTask,
    /// Script task.
    ScriptTask,
    /// Call activity (calls a BPMN function).
    CallActivity,
    /// Expanded sub-process.
    SubProcess,
    /// Expanded transaction.
    Transaction,
    /// Exclusive gateway.
    ExclusiveGateway,
    /// Parallel gateway.
    ParallelGateway,
    /// Inclusive gateway.
    InclusiveGateway,
    /// Event-based gateway.
    EventBasedGateway,
    /// Text annotation (artifact).
    TextAnnotation,
}

const ALL: [PaletteKind; 20] = [
    PaletteKind::StartEvent,
    PaletteKind::TimerStartEvent,
    PaletteKind::MessageStartEvent,
    PaletteKind::EndEvent,
    PaletteKind::ErrorEndEvent,
    PaletteKind::TerminateEndEvent,
    PaletteKind::IntermediateTimerEvent,
    PaletteKind::BoundaryErrorEvent,
    PaletteKind::BoundaryTimerEvent,
    PaletteKind::Task,
    PaletteKind::ServiceTask,
    PaletteKind::ScriptTask,
    PaletteKind::CallActivity,
    PaletteKind::SubProcess,
    PaletteKind::Transaction,
    PaletteKind::ExclusiveGateway,
    PaletteKind::ParallelGateway,
    PaletteKind::InclusiveGateway,
    PaletteKind::EventBasedGateway,
    PaletteKind::TextAnnotation,
];

/// Size classes: changing type within a class keeps the bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SizeClass {
    Event,
    Gateway,
    Task,
    SubProcess,
    Annotation,
}

impl PaletteKind {
    /// Every palette entry, in palette order.
    pub fn all() -> &'static [PaletteKind] {
        &ALL
    }

    /// Stable name (`serviceTask`, `timerStartEvent` …), used in DOM attributes.
    pub fn name(self) -> &'static str {
        match self {
            PaletteKind::StartEvent => "startEvent",
            PaletteKind::TimerStartEvent => "timerStartEvent",
            PaletteKind::MessageStartEvent => "messageStartEvent",
            PaletteKind::EndEvent => "endEvent",
            PaletteKind::ErrorEndEvent => "errorEndEvent",
            PaletteKind::TerminateEndEvent => "terminateEndEvent",
            PaletteKind::IntermediateTimerEvent => "intermediateTimerEvent",
            PaletteKind::BoundaryErrorEvent => "boundaryErrorEvent",
            PaletteKind::BoundaryTimerEvent => "boundaryTimerEvent",
            PaletteKind::Task => "task",
            PaletteKind::ServiceTask => "serviceTask",
            PaletteKind::ScriptTask => "scriptTask",
            PaletteKind::CallActivity => "callActivity",
            PaletteKind::SubProcess => "subProcess",
            PaletteKind::Transaction => "transaction",
            PaletteKind::ExclusiveGateway => "exclusiveGateway",
            PaletteKind::ParallelGateway => "parallelGateway",
            PaletteKind::InclusiveGateway => "inclusiveGateway",
            PaletteKind::EventBasedGateway => "eventBasedGateway",
            PaletteKind::TextAnnotation => "textAnnotation",
        }
    }

    /// Human label for tooltips and menus.
    pub fn label(self) -> &'static str {
        match self {
            PaletteKind::StartEvent => "Start event",
            PaletteKind::TimerStartEvent => "Timer start event",
            PaletteKind::MessageStartEvent => "Message start event",
            PaletteKind::EndEvent => "End event",
            PaletteKind::ErrorEndEvent => "Error end event",
            PaletteKind::TerminateEndEvent => "Terminate end event",
            PaletteKind::IntermediateTimerEvent => "Timer intermediate event",
            PaletteKind::BoundaryErrorEvent => "Error boundary event",
            PaletteKind::BoundaryTimerEvent => "Timer boundary event",
            PaletteKind::Task => "Task",
            PaletteKind::ServiceTask => "Service task",
            PaletteKind::ScriptTask => "Script task",
            PaletteKind::CallActivity => "Call activity",
            PaletteKind::SubProcess => "Sub-process",
            PaletteKind::Transaction => "Transaction",
            PaletteKind::ExclusiveGateway => "Exclusive gateway",
            PaletteKind::ParallelGateway => "Parallel gateway",
            PaletteKind::InclusiveGateway => "Inclusive gateway",
            PaletteKind::EventBasedGateway => "Event-based gateway",
            PaletteKind::TextAnnotation => "Text annotation",
        }
    }

    /// The entry whose [`PaletteKind::name`] is `s`.
    pub fn parse(s: &str) -> Option<Self> {
        ALL.iter().copied().find(|k| k.name() == s)
    }

    fn size_class(self) -> SizeClass {
        match self {
            PaletteKind::StartEvent
            | PaletteKind::TimerStartEvent
            | PaletteKind::MessageStartEvent
            | PaletteKind::EndEvent
            | PaletteKind::ErrorEndEvent
            | PaletteKind::TerminateEndEvent
            | PaletteKind::IntermediateTimerEvent
            | PaletteKind::BoundaryErrorEvent
            | PaletteKind::BoundaryTimerEvent => SizeClass::Event,
            PaletteKind::Task
            | PaletteKind::ServiceTask
            | PaletteKind::ScriptTask
            | PaletteKind::CallActivity => SizeClass::Task,
            PaletteKind::SubProcess | PaletteKind::Transaction => SizeClass::SubProcess,
            PaletteKind::ExclusiveGateway
            | PaletteKind::ParallelGateway
            | PaletteKind::InclusiveGateway
            | PaletteKind::EventBasedGateway => SizeClass::Gateway,
            PaletteKind::TextAnnotation => SizeClass::Annotation,
        }
    }

    /// Default size of a new shape: events 36×36, gateways 50×50, tasks 100×80,
    /// sub-processes 350×200, annotations 100×30.
    pub fn default_size(self) -> (f64, f64) {
        match self.size_class() {
            SizeClass::Event => (36.0, 36.0),
            SizeClass::Gateway => (50.0, 50.0),
            SizeClass::Task => (100.0, 80.0),
            SizeClass::SubProcess => (350.0, 200.0),
            SizeClass::Annotation => (100.0, 30.0),
        }
    }

    /// Whether this creates a boundary event (which must be dropped on an activity).
    pub fn is_boundary(self) -> bool {
        matches!(
            self,
            PaletteKind::BoundaryErrorEvent | PaletteKind::BoundaryTimerEvent
        )
    }

    /// A small standalone palette icon: an `<svg>` of 32×32 with the shape's notation.
    pub fn icon_svg(self) -> String {
        let (w, h) = self.default_size();
        let scale = (28.0 / w.max(h)).min(1.0);
        let (sw, sh) = (w * scale, h * scale);
        let inner = self.markup(w, h);
        format!(
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32"><g transform="translate({} {}) scale({})">{inner}</g></svg>"#,
            notation::num((32.0 - sw) / 2.0),
            notation::num((32.0 - sh) / 2.0),
            notation::num(scale)
        )
    }

    /// The notation markup of a new, unnamed element of this kind at size w×h.
    fn markup(self, w: f64, h: f64) -> String {
        let mut defs = Definitions::default();
        let el = self.element("icon", None);
        let (flow, annotation) = match el {
            NewElement::Flow(f) => (vec![f], vec![]),
            NewElement::Artifact(a) => (vec![], vec![a]),
        };
        defs.root_elements.push(RootElement::Process(Process {
            base: BaseElement::with_id("p"),
            flow_elements: flow,
            artifacts: annotation,
            ..Default::default()
        }));
        defs.diagrams.push(Diagram {
            plane: Some(Plane {
                bpmn_element: Some("p".into()),
                elements: vec![DiagramElement::Shape(Shape {
                    id: Some("icon_di".into()),
                    bpmn_element: Some("icon".into()),
                    bounds: Some(Bounds {
                        x: 0.0,
                        y: 0.0,
                        width: w,
                        height: h,
                    }),
                    is_expanded: (self.size_class() == SizeClass::SubProcess).then_some(false),
                    ..Default::default()
                })],
                ..Default::default()
            }),
            ..Default::default()
        });
        scene(&defs, 0)
            .nodes
            .into_iter()
            .next()
            .map(|n| n.markup)
            .unwrap_or_default()
    }

    /// A fresh semantic element of this kind.
    fn element(self, id: &str, attached_to: Option<&str>) -> NewElement {
        let event = |kind: EventKind, def: Option<EventDefinitionKind>| {
            let mut e = Event::new(kind, id);
            if let Some(def) = def {
                e.event_definitions.push(EventDefinition {
                    base: BaseElement::with_id(format!("{id}_def")),
                    kind: def,
                });
            }
            if kind == EventKind::Boundary {
                e.attached_to_ref = attached_to.map(str::to_owned);
            }
            NewElement::Flow(FlowElement::Event(e))
        };
        let timer = |duration: Option<&str>, cycle: Option<&str>| EventDefinitionKind::Timer {
            time_date: None,
            time_duration: duration.map(|d| Expression::formal(d, None)),
            time_cycle: cycle.map(|c| Expression::formal(c, None)),
        };
        let activity =
            |kind: ActivityKind| NewElement::Flow(FlowElement::Activity(Activity::new(kind, id)));
        let gateway =
            |kind: GatewayKind| NewElement::Flow(FlowElement::Gateway(Gateway::new(kind, id)));
        match self {
            PaletteKind::StartEvent => event(EventKind::Start, None),
            PaletteKind::TimerStartEvent => {
                event(EventKind::Start, Some(timer(None, Some("R/PT1H"))))
            }
            PaletteKind::MessageStartEvent => event(
                EventKind::Start,
                Some(EventDefinitionKind::Message {
                    message_ref: None,
                    operation_ref: None,
                }),
            ),
            PaletteKind::EndEvent => event(EventKind::End, None),
            PaletteKind::ErrorEndEvent => event(
                EventKind::End,
                Some(EventDefinitionKind::Error { error_ref: None }),
            ),
            PaletteKind::TerminateEndEvent => {
                event(EventKind::End, Some(EventDefinitionKind::Terminate))
            }
            PaletteKind::IntermediateTimerEvent => event(
                EventKind::IntermediateCatch,
                Some(timer(Some("PT1M"), None)),
            ),
            PaletteKind::BoundaryErrorEvent => event(
                EventKind::Boundary,
                Some(EventDefinitionKind::Error { error_ref: None }),
            ),
            PaletteKind::BoundaryTimerEvent => {
                event(EventKind::Boundary, Some(timer(Some("PT1M"), None)))
            }
            PaletteKind::Task => activity(ActivityKind::Task),
            PaletteKind::ServiceTask => activity(ActivityKind::ServiceTask),
            PaletteKind::ScriptTask => activity(ActivityKind::ScriptTask {
                script_format: Some("rhai".into()),
                script: None,
            }),
            PaletteKind::CallActivity => activity(ActivityKind::CallActivity {
                called_element: None,
            }),
            PaletteKind::SubProcess => activity(ActivityKind::SubProcess(SubProcess::default())),
            PaletteKind::Transaction => activity(ActivityKind::Transaction(SubProcess::default())),
            PaletteKind::ExclusiveGateway => gateway(GatewayKind::Exclusive),
            PaletteKind::ParallelGateway => gateway(GatewayKind::Parallel),
            PaletteKind::InclusiveGateway => gateway(GatewayKind::Inclusive),
            PaletteKind::EventBasedGateway => gateway(GatewayKind::EventBased),
            PaletteKind::TextAnnotation => {
                NewElement::Artifact(Artifact::TextAnnotation(TextAnnotation {
                    base: BaseElement::with_id(id),
                    text_format: None,
                    text: None,
                }))
            }
        }
    }

    /// Prefix of generated ids.
    fn id_prefix(self) -> &'static str {
        match self.size_class() {
            SizeClass::Event => "Event",
            SizeClass::Gateway => "Gateway",
            SizeClass::Task | SizeClass::SubProcess => "Activity",
            SizeClass::Annotation => "TextAnnotation",
        }
    }
}

enum NewElement {
    Flow(FlowElement),
    Artifact(Artifact),
}

// ---------------------------------------------------------------------------------------
// Ids

/// Every id used in the document: model elements, event definitions, DI.
fn all_ids(defs: &Definitions) -> HashSet<String> {
    let mut ids: HashSet<String> = Index::new(defs)
        .map
        .keys()
        .map(|k| (*k).to_owned())
        .collect();
    for r in &defs.root_elements {
        ids.insert(r.id().to_owned());
    }
    if let Some(id) = &defs.base.id {
        ids.insert(id.clone());
    }
    fn walk(elements: &[FlowElement], ids: &mut HashSet<String>) {
        for el in elements {
            if let FlowElement::Event(e) = el {
                for d in &e.event_definitions {
                    if let Some(id) = &d.base.id {
                        ids.insert(id.clone());
                    }
                }
            }
            if let Some(s) = el.sub_process() {
                walk(&s.flow_elements, ids);
            }
        }
    }
    for p in defs.processes() {
        walk(&p.flow_elements, &mut ids);
    }
    for d in &defs.diagrams {
        ids.extend(d.id.clone());
        if let Some(p) = &d.plane {
            ids.extend(p.id.clone());
            for el in &p.elements {
                match el {
                    DiagramElement::Shape(s) => {
                        ids.extend(s.id.clone());
                        ids.extend(s.label.as_ref().and_then(|l| l.id.clone()));
                    }
                    DiagramElement::Edge(e) => {
                        ids.extend(e.id.clone());
                        ids.extend(e.label.as_ref().and_then(|l| l.id.clone()));
                    }
                }
            }
        }
    }
    ids
}

/// Generates document-unique ids `"{prefix}_{7 base-36 chars}"`, deterministic for a given
/// document (a hash of a counter and the document's size), so undo/redo replays give the
/// same ids.
struct IdGen {
    used: HashSet<String>,
    counter: u64,
}

impl IdGen {
    fn new(defs: &Definitions) -> Self {
        let used = all_ids(defs);
        let counter = used.len() as u64;
        IdGen { used, counter }
    }

    fn fresh(&mut self, prefix: &str) -> String {
        loop {
            self.counter += 1;
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for b in prefix.bytes().chain(self.counter.to_le_bytes()) {
                h ^= u64::from(b);
                h = h.wrapping_mul(0x0100_0000_01b3);
            }
            let mut s = String::with_capacity(7);
            for _ in 0..7 {
                let d = (h % 36) as u32;
                h /= 36;
                s.push(char::from_digit(d, 36).unwrap_or('0'));
            }
            let id = format!("{prefix}_{s}");
            // The DI id derived from it must be free too.
            if !self.used.contains(&id) && !self.used.contains(&format!("{id}_di")) {
                self.used.insert(id.clone());
                self.used.insert(format!("{id}_di"));
                return id;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Model access

/// The `xsi:type` value of a formal expression, with the file's prefix for BPMN.
fn formal_type(defs: &Definitions) -> String {
    match defs.namespaces.iter().find(|n| n.uri == BPMN_NS) {
        Some(n) if n.prefix.is_empty() => "tFormalExpression".to_owned(),
        Some(n) => format!("{}:tFormalExpression", n.prefix),
        None => "bpmn:tFormalExpression".to_owned(),
    }
}

/// Declares the XML Schema instance namespace (for `xsi:type`) when the file's declarations
/// lack it, exactly as the writer would, so that the model reads back unchanged.
fn ensure_xsi(defs: &mut Definitions) {
    if defs.namespaces.is_empty()
        || defs
            .namespaces
            .iter()
            .any(|n| n.uri == XSI_NS && !n.prefix.is_empty())
    {
        return;
    }
    let mut prefix = "xsi".to_owned();
    let mut n = 1;
    while defs.namespaces.iter().any(|d| d.prefix == prefix) {
        prefix = format!("xsi{n}");
        n += 1;
    }
    defs.namespaces.push(NamespaceDecl {
        prefix,
        uri: XSI_NS.to_owned(),
    });
}

/// A formal expression as this file writes them.
fn formal(defs: &mut Definitions, body: String) -> Expression {
    ensure_xsi(defs);
    Expression {
        xsi_type: Some(formal_type(defs)),
        ..Expression::formal(body, None)
    }
}

/// Adapts the expressions of a new element to the file's namespace prefixes.
fn adapt_new(defs: &mut Definitions, el: &mut FlowElement) {
    if let FlowElement::Event(e) = el {
        for d in e.event_definitions.iter_mut() {
            if let EventDefinitionKind::Timer {
                time_date,
                time_duration,
                time_cycle,
            } = &mut d.kind
            {
                for x in [time_date, time_duration, time_cycle].into_iter().flatten() {
                    *x = formal(defs, std::mem::take(&mut x.body));
                }
            }
        }
    }
}

/// A new document: one executable process (`process_id`, `name`) and an empty diagram of
/// it — what an empty BPMN function contains. It is normalised through the writer so that
/// a write/read round trip returns it unchanged.
pub fn new_definitions(process_id: &str, name: &str) -> Definitions {
    let defs = Definitions {
        base: BaseElement::with_id(format!("Definitions_{process_id}")),
        target_namespace: Some("https://starweave.dev/bpmn".into()),
        exporter: Some("Starweave".into()),
        root_elements: vec![RootElement::Process(Process {
            base: BaseElement::with_id(process_id),
            name: (!name.is_empty()).then(|| name.to_owned()),
            is_executable: Some(true),
            ..Default::default()
        })],
        diagrams: vec![Diagram {
            id: Some(format!("{process_id}_diagram")),
            plane: Some(Plane {
                id: Some(format!("{process_id}_plane")),
                bpmn_element: Some(process_id.to_owned()),
                ..Default::default()
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    normalise(defs)
}

/// The model as it reads back from its own XML (namespace declarations filled in).
pub(crate) fn normalise(defs: Definitions) -> Definitions {
    read_bpmn(&write_bpmn(&defs)).definitions
}

fn plane_mut(defs: &mut Definitions, d: usize) -> Option<&mut Plane> {
    defs.diagrams.get_mut(d)?.plane.as_mut()
}

/// The DI shape of node `node`.
fn shape_index(plane: &Plane, node: &str) -> Option<usize> {
    let ids = plane_node_ids(plane);
    let (_, shape) = ids.iter().find(|(id, _)| id == node)?;
    plane.elements.iter().position(|e| match e {
        DiagramElement::Shape(s) => std::ptr::eq(s, *shape),
        _ => false,
    })
}

fn shape_mut<'a>(plane: &'a mut Plane, node: &str) -> Option<&'a mut Shape> {
    let i = shape_index(plane, node)?;
    match &mut plane.elements[i] {
        DiagramElement::Shape(s) => Some(s),
        DiagramElement::Edge(_) => None,
    }
}

fn edge_index(plane: &Plane, edge: &str) -> Option<usize> {
    let mut seen = HashSet::new();
    for (i, el) in plane.elements.iter().enumerate() {
        if let DiagramElement::Edge(e) = el {
            let mut id = edge_id(e, i);
            if !seen.insert(id.clone()) {
                id = format!("{id}_{i}");
            }
            if id == edge {
                return Some(i);
            }
        }
    }
    None
}

/// The node (scene id) drawing `element_id` in diagram `d`.
pub fn node_of_element(defs: &Definitions, d: usize, element_id: &str) -> Option<String> {
    let plane = defs.diagrams.get(d)?.plane.as_ref()?;
    plane_node_ids(plane)
        .into_iter()
        .find(|(_, s)| s.bpmn_element.as_deref() == Some(element_id))
        .map(|(id, _)| id)
}

/// The element drawn by node (or edge) `node_id` of diagram `d`.
pub fn element_of_node(defs: &Definitions, d: usize, node_id: &str) -> Option<String> {
    let plane = defs.diagrams.get(d)?.plane.as_ref()?;
    if let Some((_, s)) = plane_node_ids(plane)
        .into_iter()
        .find(|(id, _)| id == node_id)
    {
        return s.bpmn_element.clone();
    }
    let i = edge_index(plane, node_id)?;
    match &plane.elements[i] {
        DiagramElement::Edge(e) => e.bpmn_element.clone(),
        DiagramElement::Shape(_) => None,
    }
}

fn bounds_of(defs: &Definitions, d: usize, node: &str) -> Option<Bounds> {
    let plane = defs.diagrams.get(d)?.plane.as_ref()?;
    let i = shape_index(plane, node)?;
    match &plane.elements[i] {
        DiagramElement::Shape(s) => Some(s.bounds.unwrap_or_default()),
        DiagramElement::Edge(_) => None,
    }
}

/// Mutable access to a process or sub-process body by id.
struct BodyMut<'a> {
    flow_elements: &'a mut Vec<FlowElement>,
    artifacts: &'a mut Vec<Artifact>,
}

fn sub_mut(kind: &mut ActivityKind) -> Option<&mut SubProcess> {
    match kind {
        ActivityKind::SubProcess(s)
        | ActivityKind::Transaction(s)
        | ActivityKind::AdHocSubProcess(s) => Some(s),
        _ => None,
    }
}

fn find_sub<'a>(els: &'a mut [FlowElement], id: &str) -> Option<&'a mut SubProcess> {
    for el in els.iter_mut() {
        if let FlowElement::Activity(a) = el {
            let hit = a.base.id() == id;
            if let Some(sp) = sub_mut(&mut a.kind) {
                if hit {
                    return Some(sp);
                }
                if let Some(found) = find_sub(&mut sp.flow_elements, id) {
                    return Some(found);
                }
            }
        }
    }
    None
}

fn body_mut<'a>(defs: &'a mut Definitions, scope: &str) -> Option<BodyMut<'a>> {
    for root in defs.root_elements.iter_mut() {
        if let RootElement::Process(p) = root {
            if p.base.id() == scope {
                return Some(BodyMut {
                    flow_elements: &mut p.flow_elements,
                    artifacts: &mut p.artifacts,
                });
            }
            if let Some(sp) = find_sub(&mut p.flow_elements, scope) {
                return Some(BodyMut {
                    flow_elements: &mut sp.flow_elements,
                    artifacts: &mut sp.artifacts,
                });
            }
        }
    }
    None
}

fn find_flow_mut<'a>(els: &'a mut [FlowElement], id: &str) -> Option<&'a mut FlowElement> {
    for el in els.iter_mut() {
        if el.id() == id {
            return Some(el);
        }
        if let FlowElement::Activity(a) = el
            && let Some(sp) = sub_mut(&mut a.kind)
            && let Some(found) = find_flow_mut(&mut sp.flow_elements, id)
        {
            return Some(found);
        }
    }
    None
}

fn flow_element_mut<'a>(defs: &'a mut Definitions, id: &str) -> Option<&'a mut FlowElement> {
    for root in defs.root_elements.iter_mut() {
        if let RootElement::Process(p) = root
            && let Some(el) = find_flow_mut(&mut p.flow_elements, id)
        {
            return Some(el);
        }
    }
    None
}

fn collaboration_mut(defs: &mut Definitions) -> Option<&mut Collaboration> {
    defs.root_elements.iter_mut().find_map(|r| match r {
        RootElement::Collaboration(c) => Some(c),
        _ => None,
    })
}

// ---------------------------------------------------------------------------------------
// Geometry

fn center(b: &Bounds) -> Point {
    Point {
        x: b.x + b.width / 2.0,
        y: b.y + b.height / 2.0,
    }
}

fn contains(b: &Bounds, p: Point) -> bool {
    p.x >= b.x && p.x <= b.x + b.width && p.y >= b.y && p.y <= b.y + b.height
}

fn overlaps(a: &Bounds, b: &Bounds) -> bool {
    a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
}

fn centered(c: Point, (w, h): (f64, f64)) -> Bounds {
    Bounds {
        x: (c.x - w / 2.0).round(),
        y: (c.y - h / 2.0).round(),
        width: w,
        height: h,
    }
}

/// An orthogonal route between two boxes: straight when they face each other, else one
/// or two bends, leaving and entering at the facing sides.
pub(crate) fn route(a: &Bounds, b: &Bounds) -> Vec<Point> {
    let ac = center(a);
    let bc = center(b);
    let p = |x: f64, y: f64| Point { x, y };
    if b.x >= a.x + a.width {
        // Target to the right.
        let (sx, tx) = (a.x + a.width, b.x);
        if (ac.y - bc.y).abs() < 0.5 {
            return vec![p(sx, ac.y), p(tx, ac.y)];
        }
        if bc.y > a.y && bc.y < a.y + a.height {
            return vec![p(sx, bc.y), p(tx, bc.y)];
        }
        let mx = ((sx + tx) / 2.0).round();
        return vec![p(sx, ac.y), p(mx, ac.y), p(mx, bc.y), p(tx, bc.y)];
    }
    if b.y >= a.y + a.height {
        // Target below.
        let (sy, ty) = (a.y + a.height, b.y);
        if (ac.x - bc.x).abs() < 0.5 {
            return vec![p(ac.x, sy), p(ac.x, ty)];
        }
        let my = ((sy + ty) / 2.0).round();
        return vec![p(ac.x, sy), p(ac.x, my), p(bc.x, my), p(bc.x, ty)];
    }
    if a.y >= b.y + b.height {
        // Target above.
        let (sy, ty) = (a.y, b.y + b.height);
        if (ac.x - bc.x).abs() < 0.5 {
            return vec![p(ac.x, sy), p(ac.x, ty)];
        }
        let my = ((sy + ty) / 2.0).round();
        return vec![p(ac.x, sy), p(ac.x, my), p(bc.x, my), p(bc.x, ty)];
    }
    // Target to the left (a loop back) or overlapping: go around below both.
    let low = (a.y + a.height).max(b.y + b.height) + 30.0;
    vec![
        p(ac.x, a.y + a.height),
        p(ac.x, low),
        p(bc.x, low),
        p(bc.x, b.y + b.height),
    ]
}

/// A branch out of a gateway: from the diamond's bottom (or top) corner down (or up) to the
/// target's row and right into it, when the target is right of the gateway on another row;
/// else [`route`].
pub(crate) fn route_from_gateway(a: &Bounds, b: &Bounds) -> Vec<Point> {
    let ac = center(a);
    let bc = center(b);
    if b.x < a.x + a.width + 10.0 || (bc.y > a.y && bc.y < a.y + a.height) {
        return route(a, b);
    }
    let start = if bc.y > ac.y { a.y + a.height } else { a.y };
    vec![
        Point { x: ac.x, y: start },
        Point { x: ac.x, y: bc.y },
        Point { x: b.x, y: bc.y },
    ]
}

/// An orthogonal route leaving and entering vertically when one box is above the other
/// (message flows between stacked pools), else [`route`].
pub(crate) fn route_vertical(a: &Bounds, b: &Bounds) -> Vec<Point> {
    let ac = center(a);
    let bc = center(b);
    let p = |x: f64, y: f64| Point { x, y };
    let (sy, ty) = if b.y >= a.y + a.height {
        (a.y + a.height, b.y)
    } else if a.y >= b.y + b.height {
        (a.y, b.y + b.height)
    } else {
        return route(a, b);
    };
    // Keep the line straight when the boxes overlap horizontally.
    let lo = a.x.max(b.x);
    let hi = (a.x + a.width).min(b.x + b.width);
    if hi - lo >= 10.0 {
        let x = ((lo + hi) / 2.0).round();
        return vec![p(x, sy), p(x, ty)];
    }
    let my = ((sy + ty) / 2.0).round();
    vec![p(ac.x, sy), p(ac.x, my), p(bc.x, my), p(bc.x, ty)]
}

// ---------------------------------------------------------------------------------------
// Adding

/// Where a drop lands: the scope (process or sub-process id), the lane, the node id of the
/// innermost container hit.
struct Target {
    scope: String,
    lane: Option<String>,
}

fn drop_target(defs: &Definitions, d: usize, at: Point) -> Result<Target, EditError> {
    let plane = defs
        .diagrams
        .get(d)
        .and_then(|g| g.plane.as_ref())
        .ok_or_else(|| EditError::UnknownNode(format!("diagram {d}")))?;
    let ix = Index::new(defs);
    let sc = structure(defs, d);
    // Innermost container: the last one (in draw order) containing the point.
    let mut best: Option<&crate::SceneNode> = None;
    for n in &sc.nodes {
        if n.container && n.kind != "group" && contains(&n.bounds, at) {
            best = Some(n);
        }
    }
    if let Some(n) = best
        && let Some(el) = n.element_id.as_deref()
        && let Some(entry) = ix.get(el)
    {
        match entry.elem {
            Elem::Flow(FlowElement::Activity(a)) if a.sub_process().is_some() => {
                return Ok(Target {
                    scope: el.to_owned(),
                    lane: None,
                });
            }
            Elem::Lane(_) => {
                let scope = entry
                    .container
                    .or(entry.process)
                    .ok_or(EditError::NoProcess)?;
                return Ok(Target {
                    scope: scope.to_owned(),
                    lane: Some(el.to_owned()),
                });
            }
            Elem::Participant(p) => {
                let pr = p.process_ref.as_deref().ok_or_else(|| {
                    EditError::NotAllowed("this pool is a black box (it has no process)".into())
                })?;
                if defs.process(pr).is_none() {
                    return Err(EditError::NoProcess);
                }
                return Ok(Target {
                    scope: pr.to_owned(),
                    lane: None,
                });
            }
            _ => {}
        }
    }
    let planned = plane.bpmn_element.as_deref();
    match planned.and_then(|p| ix.get(p)).map(|e| e.elem) {
        Some(Elem::Process(p)) => Ok(Target {
            scope: p.base.id().to_owned(),
            lane: None,
        }),
        Some(Elem::Flow(FlowElement::Activity(a))) if a.sub_process().is_some() => Ok(Target {
            scope: a.base.id().to_owned(),
            lane: None,
        }),
        _ => {
            if planned.is_none() && defs.collaborations().next().is_none() {
                // A plane without a target: use the first process.
                if let Some(p) = defs.processes().next() {
                    return Ok(Target {
                        scope: p.base.id().to_owned(),
                        lane: None,
                    });
                }
            }
            Err(EditError::NotAllowed(
                "drop elements inside a pool of this collaboration".into(),
            ))
        }
    }
}

/// The collaboration diagram `d` shows, if it shows one.
fn plane_collaboration(defs: &Definitions, d: usize) -> Option<String> {
    let target = defs
        .diagrams
        .get(d)?
        .plane
        .as_ref()?
        .bpmn_element
        .as_deref()?;
    defs.collaborations()
        .find(|c| c.base.id() == target)
        .map(|c| c.base.id().to_owned())
}

/// Adds a new element of `kind` centred at `center` to diagram `d` and returns its node
/// id. A boundary kind must be dropped on an activity and attaches to it (snapped to its
/// border); anything else dropped inside an expanded sub-process, lane or pool goes into it.
pub fn add_element(
    defs: &mut Definitions,
    d: usize,
    kind: PaletteKind,
    center_at: Point,
) -> Result<String, EditError> {
    if defs.diagrams.is_empty() && d == 0 {
        let pid = defs
            .processes()
            .next()
            .map(|p| p.base.id().to_owned())
            .ok_or(EditError::NoProcess)?;
        defs.diagrams.push(Diagram {
            id: Some(format!("{pid}_diagram")),
            plane: Some(Plane {
                id: Some(format!("{pid}_plane")),
                bpmn_element: Some(pid),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    if defs
        .diagrams
        .get(d)
        .and_then(|g| g.plane.as_ref())
        .is_none()
    {
        return Err(EditError::UnknownNode(format!("diagram {d}")));
    }
    let mut ids = IdGen::new(defs);
    let id = ids.fresh(kind.id_prefix());
    let size = kind.default_size();
    let mut bounds = centered(center_at, size);
    let (scope, lane, host) = if kind.is_boundary() {
        let sc = structure(defs, d);
        let ix = Index::new(defs);
        let host = sc
            .nodes
            .iter()
            .rev()
            .filter(|n| {
                n.element_id
                    .as_deref()
                    .and_then(|e| ix.get(e))
                    .is_some_and(|e| matches!(e.elem, Elem::Flow(FlowElement::Activity(_))))
            })
            .find(|n| {
                let b = &n.bounds;
                let grown = Bounds {
                    x: b.x - 15.0,
                    y: b.y - 15.0,
                    width: b.width + 30.0,
                    height: b.height + 30.0,
                };
                contains(&grown, center_at)
            })
            .ok_or_else(|| {
                EditError::NotAllowed("a boundary event must be dropped on an activity".into())
            })?;
        let host_el = host.element_id.clone().unwrap_or_default();
        let entry = ix.get(&host_el).ok_or(EditError::NoProcess)?;
        let scope = entry
            .container
            .or(entry.process)
            .ok_or(EditError::NoProcess)?
            .to_owned();
        let lane = ix.lane_of.get(host_el.as_str()).map(|l| (*l).to_owned());
        bounds = centered(snap_to_border(&host.bounds, center_at), size);
        (scope, lane, Some(host_el))
    } else {
        match drop_target(defs, d, center_at) {
            Ok(t) => (t.scope, t.lane, None),
            // Annotations outside every pool belong to the collaboration.
            Err(EditError::NotAllowed(_))
                if kind == PaletteKind::TextAnnotation
                    && let Some(c) = plane_collaboration(defs, d) =>
            {
                (c, None, None)
            }
            Err(e) => return Err(e),
        }
    };
    insert_new(
        defs,
        d,
        kind,
        id,
        &scope,
        lane.as_deref(),
        host.as_deref(),
        bounds,
    )
}

/// Adds a new element of `kind` with id `id` to the body `scope` (and `lane`), drawn at
/// `bounds` in diagram `d`. Returns the node id.
#[allow(clippy::too_many_arguments)]
fn insert_new(
    defs: &mut Definitions,
    d: usize,
    kind: PaletteKind,
    id: String,
    scope: &str,
    lane: Option<&str>,
    host: Option<&str>,
    bounds: Bounds,
) -> Result<String, EditError> {
    let mut element = kind.element(&id, host);
    if let NewElement::Flow(f) = &mut element {
        adapt_new(defs, f);
    }
    match (body_mut(defs, scope), element) {
        (Some(body), NewElement::Flow(f)) => body.flow_elements.push(f),
        (Some(body), NewElement::Artifact(a)) => body.artifacts.push(a),
        (None, NewElement::Artifact(a)) => {
            let c = defs
                .root_elements
                .iter_mut()
                .find_map(|r| match r {
                    RootElement::Collaboration(c) if c.base.id() == scope => Some(c),
                    _ => None,
                })
                .ok_or(EditError::NoProcess)?;
            c.artifacts.push(a);
        }
        (None, NewElement::Flow(_)) => return Err(EditError::NoProcess),
    }
    if let Some(lane) = lane {
        add_to_lane(defs, lane, &id);
    }
    let plane = plane_mut(defs, d).ok_or(EditError::NoProcess)?;
    let node = format!("{id}_di");
    plane.elements.push(DiagramElement::Shape(Shape {
        id: Some(node.clone()),
        bpmn_element: Some(id),
        is_expanded: (kind.size_class() == SizeClass::SubProcess).then_some(true),
        is_marker_visible: (kind == PaletteKind::ExclusiveGateway).then_some(true),
        bounds: Some(bounds),
        ..Default::default()
    }));
    Ok(node)
}

fn snap_to_border(b: &Bounds, p: Point) -> Point {
    let x = p.x.clamp(b.x, b.x + b.width);
    let y = p.y.clamp(b.y, b.y + b.height);
    let d_left = (x - b.x).abs();
    let d_right = (b.x + b.width - x).abs();
    let d_top = (y - b.y).abs();
    let d_bottom = (b.y + b.height - y).abs();
    let m = d_left.min(d_right).min(d_top).min(d_bottom);
    if m == d_bottom {
        Point {
            x,
            y: b.y + b.height,
        }
    } else if m == d_top {
        Point { x, y: b.y }
    } else if m == d_left {
        Point { x: b.x, y }
    } else {
        Point {
            x: b.x + b.width,
            y,
        }
    }
}

fn lanes_mut<'a>(
    sets: &'a mut [LaneSet],
    lane: &str,
    f: &mut dyn FnMut(&mut starweave_model::bpmn::Lane),
) -> bool {
    for set in sets.iter_mut() {
        for l in set.lanes.iter_mut() {
            if l.base.id() == lane {
                f(l);
                return true;
            }
            if let Some(child) = l.child_lane_set.as_mut()
                && lanes_mut(std::slice::from_mut(child), lane, f)
            {
                return true;
            }
        }
    }
    false
}

fn add_to_lane(defs: &mut Definitions, lane: &str, node: &str) {
    for root in defs.root_elements.iter_mut() {
        if let RootElement::Process(p) = root {
            let mut add = |l: &mut starweave_model::bpmn::Lane| {
                l.flow_node_refs.push(node.to_owned());
            };
            if lanes_mut(&mut p.lane_sets, lane, &mut add) {
                return;
            }
        }
    }
}

/// Context pad "append": adds `kind` to the right of `from_node` (the first free slot,
/// going down) and connects them with a sequence flow. Returns the new node id.
pub fn append(
    defs: &mut Definitions,
    d: usize,
    from_node: &str,
    kind: PaletteKind,
) -> Result<String, EditError> {
    if kind.is_boundary() {
        return Err(EditError::NotAllowed(
            "boundary events are attached, not appended".into(),
        ));
    }
    if matches!(
        kind,
        PaletteKind::StartEvent | PaletteKind::TimerStartEvent | PaletteKind::MessageStartEvent
    ) {
        return Err(EditError::NotAllowed(
            "a start event cannot have incoming flows".into(),
        ));
    }
    let from =
        bounds_of(defs, d, from_node).ok_or_else(|| EditError::UnknownNode(from_node.into()))?;
    let sc = structure(defs, d);
    let (w, h) = kind.default_size();
    let fc = center(&from);
    let mut c = Point {
        x: from.x + from.width + 60.0 + w / 2.0,
        y: fc.y,
    };
    for _ in 0..50 {
        let b = centered(c, (w, h));
        let grown = Bounds {
            x: b.x - 10.0,
            y: b.y - 10.0,
            width: b.width + 20.0,
            height: b.height + 20.0,
        };
        if !sc
            .nodes
            .iter()
            .any(|n| !n.container && overlaps(&n.bounds, &grown))
        {
            break;
        }
        c.y += h.max(50.0) + 40.0;
    }
    let from_el = element_of_node(defs, d, from_node)
        .ok_or_else(|| EditError::UnknownNode(from_node.into()))?;
    let (scope, lane) = {
        let ix = Index::new(defs);
        let entry = ix
            .get(&from_el)
            .ok_or_else(|| EditError::UnknownNode(from_node.into()))?;
        let scope = entry
            .container
            .or(entry.process)
            .ok_or(EditError::NoProcess)?
            .to_owned();
        let lane = if entry.container.is_none() {
            ix.lane_of.get(from_el.as_str()).map(|l| (*l).to_owned())
        } else {
            None
        };
        (scope, lane)
    };
    let before = defs.clone();
    let id = IdGen::new(defs).fresh(kind.id_prefix());
    let node = insert_new(
        defs,
        d,
        kind,
        id,
        &scope,
        lane.as_deref(),
        None,
        centered(c, (w, h)),
    )?;
    if let Err(e) = connect(defs, d, from_node, &node) {
        *defs = before;
        return Err(e);
    }
    grow_to_fit(defs, d, &node);
    Ok(node)
}

/// Grows the containers of `node` (expanded sub-processes, lanes, pools) to the right and
/// down so that it fits inside them with a margin; lanes follow their pool's width.
fn grow_to_fit(defs: &mut Definitions, d: usize, node: &str) {
    const MARGIN: f64 = 30.0;
    let sc = structure(defs, d);
    let by_id: HashMap<&str, &crate::SceneNode> =
        sc.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let Some(mut cur) = by_id.get(node).copied() else {
        return;
    };
    let mut inner = cur.bounds;
    let mut changes: Vec<(String, Bounds)> = Vec::new();
    let mut pools: Vec<String> = Vec::new();
    for _ in 0..64 {
        let Some(parent) = cur.parent.as_deref().and_then(|p| by_id.get(p).copied()) else {
            break;
        };
        if !parent.container {
            break;
        }
        let mut b = changes
            .iter()
            .find(|(id, _)| *id == parent.id)
            .map_or(parent.bounds, |(_, b)| *b);
        let right = inner.x + inner.width + MARGIN;
        let bottom = inner.y + inner.height + MARGIN;
        let mut changed = false;
        if right > b.x + b.width {
            b.width = right - b.x;
            changed = true;
        }
        if parent.kind != "lane" && bottom > b.y + b.height {
            b.height = bottom - b.y;
            changed = true;
        }
        if changed {
            changes.push((parent.id.clone(), b));
        }
        if parent.kind == "participant" {
            pools.push(parent.id.clone());
        }
        inner = b;
        cur = parent;
    }
    // Lanes of a grown pool reach its right edge; the bottom lane reaches its bottom.
    for pool in pools {
        let Some(pb) = changes.iter().find(|(id, _)| *id == pool).map(|(_, b)| *b) else {
            continue;
        };
        let lanes: Vec<&crate::SceneNode> = sc
            .nodes
            .iter()
            .filter(|n| n.kind == "lane" && pool_of(&by_id, n) == Some(pool.as_str()))
            .collect();
        let lowest = lanes
            .iter()
            .map(|l| l.bounds.y + l.bounds.height)
            .fold(f64::MIN, f64::max);
        for l in lanes {
            let mut b = l.bounds;
            b.width = pb.x + pb.width - b.x;
            if (b.y + b.height - lowest).abs() < 0.5 {
                b.height = pb.y + pb.height - b.y;
            }
            if b != l.bounds {
                changes.push((l.id.clone(), b));
            }
        }
    }
    if let Some(plane) = plane_mut(defs, d) {
        for (id, b) in changes {
            if let Some(shape) = shape_mut(plane, &id) {
                shape.bounds = Some(b);
            }
        }
    }
}

fn pool_of<'a>(
    by_id: &HashMap<&str, &'a crate::SceneNode>,
    n: &'a crate::SceneNode,
) -> Option<&'a str> {
    let mut cur = n;
    for _ in 0..64 {
        if cur.kind == "participant" {
            return Some(cur.id.as_str());
        }
        cur = by_id.get(cur.parent.as_deref()?)?;
    }
    None
}

// ---------------------------------------------------------------------------------------
// Connecting

/// How two nodes would be connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    Sequence,
    Message,
    Association,
    DataInput,
    DataOutput,
}

fn is_data(kind: &str) -> bool {
    matches!(
        kind,
        "dataObjectReference" | "dataStoreReference" | "dataObject" | "dataInput" | "dataOutput"
    )
}

fn link_kind(defs: &Definitions, d: usize, source: &str, target: &str) -> Result<Link, String> {
    if source == target {
        return Err("an element cannot connect to itself".into());
    }
    let s_el =
        element_of_node(defs, d, source).ok_or_else(|| format!("unknown node `{source}`"))?;
    let t_el =
        element_of_node(defs, d, target).ok_or_else(|| format!("unknown node `{target}`"))?;
    let ix = Index::new(defs);
    let s = ix
        .get(&s_el)
        .ok_or_else(|| format!("`{s_el}` is not in the model"))?;
    let t = ix
        .get(&t_el)
        .ok_or_else(|| format!("`{t_el}` is not in the model"))?;
    let sk = kind_of(s.elem);
    let tk = kind_of(t.elem);
    for k in [&sk, &tk] {
        if matches!(k.as_str(), "lane" | "group" | "process") {
            return Err(format!("a {k} cannot be connected"));
        }
    }
    if sk == "textAnnotation" || tk == "textAnnotation" {
        if sk == tk {
            return Err("two annotations cannot be connected".into());
        }
        return Ok(Link::Association);
    }
    let is_activity =
        |e: &crate::index::Entry<'_>| matches!(e.elem, Elem::Flow(FlowElement::Activity(_)));
    if is_data(&sk) || is_data(&tk) {
        if is_data(&sk) && is_data(&tk) {
            return Err("data elements connect to activities, not to each other".into());
        }
        if is_data(&sk) {
            if is_activity(t) || matches!(tk.as_str(), "endEvent" | "intermediateThrowEvent") {
                return Ok(Link::DataInput);
            }
            return Err(format!("data cannot flow into a {tk}"));
        }
        if is_activity(s)
            || matches!(
                sk.as_str(),
                "startEvent" | "intermediateCatchEvent" | "boundaryEvent"
            )
        {
            return Ok(Link::DataOutput);
        }
        return Err(format!("data cannot flow out of a {sk}"));
    }
    let flow_node =
        |e: &crate::index::Entry<'_>| matches!(e.elem, Elem::Flow(f) if f.is_flow_node());
    let pool_of = |e: &crate::index::Entry<'_>, el: &str| -> Option<String> {
        match e.elem {
            Elem::Participant(_) => Some(el.to_owned()),
            _ => e
                .process
                .and_then(|p| ix.participant_of.get(p))
                .map(|p| (*p).to_owned()),
        }
    };
    let sp = pool_of(s, &s_el);
    let tp = pool_of(t, &t_el);
    let same_process = s.process.is_some() && s.process == t.process;
    if flow_node(s) && flow_node(t) && same_process {
        if s.container != t.container {
            return Err("sequence flows stay inside one process or sub-process".into());
        }
        if tk == "startEvent" {
            return Err("a start event cannot have incoming sequence flows".into());
        }
        if tk == "boundaryEvent" {
            return Err("a boundary event cannot have incoming sequence flows".into());
        }
        if sk == "endEvent" {
            return Err("an end event cannot have outgoing sequence flows".into());
        }
        for e in [s, t] {
            if let Elem::Flow(f) = e.elem
                && f.sub_process()
                    .is_some_and(|sp| sp.triggered_by_event == Some(true))
            {
                return Err("an event sub-process is not connected by sequence flows".into());
            }
        }
        let exists = ix.map.values().any(|e| {
            matches!(e.elem, Elem::Flow(FlowElement::SequenceFlow(f)) if f.source_ref == s_el && f.target_ref == t_el)
        });
        if exists {
            return Err("these elements are already connected".into());
        }
        return Ok(Link::Sequence);
    }
    match (sp, tp) {
        (Some(a), Some(b)) if a != b => {
            if matches!(
                sk.as_str(),
                "startEvent" | "intermediateCatchEvent" | "boundaryEvent"
            ) || sk.ends_with("Gateway")
            {
                return Err(format!("a {sk} cannot send messages"));
            }
            if matches!(tk.as_str(), "endEvent" | "intermediateThrowEvent")
                || tk.ends_with("Gateway")
            {
                return Err(format!("a {tk} cannot receive messages"));
            }
            Ok(Link::Message)
        }
        (Some(_), Some(_)) if !same_process => Err("message flows connect different pools".into()),
        _ if sk == "participant" || tk == "participant" => {
            Err("message flows connect different pools".into())
        }
        _ => Err("these elements are in different processes".into()),
    }
}

/// Whether `source` may be connected to `target` (node ids), and if not, why.
///
/// Same process and sub-process: a sequence flow (never into start or boundary events,
/// never out of end events, not twice, not into itself). Different pools: a message flow.
/// A text annotation: an association. A data object or store and an activity: a data
/// association.
pub fn can_connect(defs: &Definitions, d: usize, source: &str, target: &str) -> Result<(), String> {
    link_kind(defs, d, source, target).map(|_| ())
}

/// Connects two nodes with the connection [`can_connect`] allows, routed orthogonally.
/// Returns the new edge id.
pub fn connect(
    defs: &mut Definitions,
    d: usize,
    source: &str,
    target: &str,
) -> Result<String, EditError> {
    let link = link_kind(defs, d, source, target).map_err(EditError::NotAllowed)?;
    let s_el = element_of_node(defs, d, source).unwrap_or_default();
    let t_el = element_of_node(defs, d, target).unwrap_or_default();
    let sb = bounds_of(defs, d, source).unwrap_or_default();
    let tb = bounds_of(defs, d, target).unwrap_or_default();
    let mut ids = IdGen::new(defs);
    let ix = Index::new(defs);
    let entry_of = |el: &str| ix.get(el).copied();
    let s_entry = entry_of(&s_el).ok_or_else(|| EditError::UnknownNode(source.into()))?;
    let t_entry = entry_of(&t_el).ok_or_else(|| EditError::UnknownNode(target.into()))?;
    let s_scope = s_entry.container.or(s_entry.process).map(str::to_owned);
    let t_scope = t_entry.container.or(t_entry.process).map(str::to_owned);
    let s_annotation = matches!(s_entry.elem, Elem::Artifact(Artifact::TextAnnotation(_)));
    let s_gateway = matches!(s_entry.elem, Elem::Flow(FlowElement::Gateway(_)));
    let t_annotation = matches!(t_entry.elem, Elem::Artifact(Artifact::TextAnnotation(_)));
    drop(ix);
    let id;
    match link {
        Link::Sequence => {
            id = ids.fresh("Flow");
            let scope = s_scope.ok_or(EditError::NoProcess)?;
            let body = body_mut(defs, &scope).ok_or(EditError::NoProcess)?;
            body.flow_elements
                .push(FlowElement::SequenceFlow(SequenceFlow {
                    base: BaseElement::with_id(&id),
                    source_ref: s_el.clone(),
                    target_ref: t_el.clone(),
                    ..Default::default()
                }));
            set_io(defs, &s_el, &id, false, true);
            set_io(defs, &t_el, &id, true, true);
        }
        Link::Message => {
            id = ids.fresh("MessageFlow");
            let collab = collaboration_mut(defs).ok_or(EditError::NoProcess)?;
            collab.message_flows.push(MessageFlow {
                base: BaseElement::with_id(&id),
                source_ref: s_el.clone(),
                target_ref: t_el.clone(),
                ..Default::default()
            });
        }
        Link::Association => {
            id = ids.fresh("Association");
            // The association lives with the annotation.
            let scope = if s_annotation {
                s_scope
            } else if t_annotation {
                t_scope
            } else {
                s_scope
            };
            let assoc = Artifact::Association(Association {
                base: BaseElement::with_id(&id),
                source_ref: s_el.clone(),
                target_ref: t_el.clone(),
                association_direction: None,
            });
            match scope.and_then(|sc| body_mut(defs, &sc)) {
                Some(body) => body.artifacts.push(assoc),
                None => collaboration_mut(defs)
                    .ok_or(EditError::NoProcess)?
                    .artifacts
                    .push(assoc),
            }
        }
        Link::DataInput | Link::DataOutput => {
            id = ids.fresh("DataAssociation");
            let input = link == Link::DataInput;
            let (owner, data) = if input {
                (&t_el, &s_el)
            } else {
                (&s_el, &t_el)
            };
            let assoc = DataAssociation {
                base: BaseElement::with_id(&id),
                source_refs: if input { vec![data.clone()] } else { vec![] },
                target_ref: (!input).then(|| data.clone()),
            };
            match flow_element_mut(defs, owner) {
                Some(FlowElement::Activity(a)) => {
                    if input {
                        a.data_input_associations.push(assoc);
                    } else {
                        a.data_output_associations.push(assoc);
                    }
                }
                Some(FlowElement::Event(e)) => {
                    if input {
                        e.data_input_associations.push(assoc);
                    } else {
                        e.data_output_associations.push(assoc);
                    }
                }
                _ => return Err(EditError::UnknownNode(owner.clone())),
            }
        }
    }
    let plane = plane_mut(defs, d).ok_or(EditError::NoProcess)?;
    let edge = format!("{id}_di");
    plane.elements.push(DiagramElement::Edge(Edge {
        id: Some(edge.clone()),
        bpmn_element: Some(id),
        waypoints: match link {
            Link::Message => route_vertical(&sb, &tb),
            Link::Sequence if s_gateway => route_from_gateway(&sb, &tb),
            _ => route(&sb, &tb),
        },
        ..Default::default()
    }));
    Ok(edge)
}

/// Adds (`add`) or removes a flow id from a node's incoming (`incoming`) or outgoing list.
fn set_io(defs: &mut Definitions, node: &str, flow: &str, incoming: bool, add: bool) {
    let list = match flow_element_mut(defs, node) {
        Some(FlowElement::Event(e)) => {
            if incoming {
                &mut e.incoming
            } else {
                &mut e.outgoing
            }
        }
        Some(FlowElement::Activity(a)) => {
            if incoming {
                &mut a.incoming
            } else {
                &mut a.outgoing
            }
        }
        Some(FlowElement::Gateway(g)) => {
            if incoming {
                &mut g.incoming
            } else {
                &mut g.outgoing
            }
        }
        _ => return,
    };
    if add {
        if !list.iter().any(|f| f == flow) {
            list.push(flow.to_owned());
        }
    } else {
        list.retain(|f| f != flow);
    }
}

fn clear_default(defs: &mut Definitions, node: &str, flow: &str) {
    match flow_element_mut(defs, node) {
        Some(FlowElement::Activity(a)) if a.default.as_deref() == Some(flow) => a.default = None,
        Some(FlowElement::Gateway(g)) if g.default.as_deref() == Some(flow) => g.default = None,
        _ => {}
    }
}

/// Moves one end of an edge (`source_end`: its start) to another node, if the connection
/// rules allow the result. Sequence flows, message flows and associations can be
/// reconnected; the edge is re-routed.
pub fn reconnect(
    defs: &mut Definitions,
    d: usize,
    edge: &str,
    source_end: bool,
    node: &str,
) -> Result<(), EditError> {
    let sc = structure(defs, d);
    let e = sc
        .edges
        .iter()
        .find(|e| e.id == edge)
        .ok_or_else(|| EditError::UnknownNode(edge.into()))?;
    let flow = e
        .element_id
        .clone()
        .ok_or_else(|| EditError::UnknownNode(edge.into()))?;
    let (old_s, old_t) = (
        e.source.clone().unwrap_or_default(),
        e.target.clone().unwrap_or_default(),
    );
    let (new_s, new_t) = if source_end {
        (node.to_owned(), old_t.clone())
    } else {
        (old_s.clone(), node.to_owned())
    };
    let new_el =
        element_of_node(defs, d, node).ok_or_else(|| EditError::UnknownNode(node.into()))?;
    // Check the rules as if the edge did not exist (it would count as a duplicate).
    let mut probe = defs.clone();
    delete(&mut probe, d, &[edge.to_owned()]);
    let link = link_kind(&probe, d, &new_s, &new_t).map_err(EditError::NotAllowed)?;
    let kind = e.kind.clone();
    let expected = match kind.as_str() {
        "sequenceFlow" => Link::Sequence,
        "messageFlow" => Link::Message,
        "association" => Link::Association,
        _ => {
            return Err(EditError::NotAllowed(format!(
                "a {kind} cannot be reconnected"
            )));
        }
    };
    if link != expected {
        return Err(EditError::NotAllowed(format!(
            "a {kind} cannot connect these elements"
        )));
    }
    match kind.as_str() {
        "sequenceFlow" => {
            let ix = Index::new(defs);
            let old_el = match ix.get(&flow).map(|x| x.elem) {
                Some(Elem::Flow(FlowElement::SequenceFlow(f))) => {
                    if source_end {
                        f.source_ref.clone()
                    } else {
                        f.target_ref.clone()
                    }
                }
                _ => return Err(EditError::UnknownNode(flow)),
            };
            drop(ix);
            set_io(defs, &old_el, &flow, !source_end, false);
            if source_end {
                clear_default(defs, &old_el, &flow);
            }
            set_io(defs, &new_el, &flow, !source_end, true);
            if let Some(FlowElement::SequenceFlow(f)) = flow_element_mut(defs, &flow) {
                if source_end {
                    f.source_ref = new_el.clone();
                } else {
                    f.target_ref = new_el.clone();
                }
            }
        }
        "messageFlow" => {
            if let Some(c) = collaboration_mut(defs)
                && let Some(m) = c.message_flows.iter_mut().find(|m| m.base.id() == flow)
            {
                if source_end {
                    m.source_ref = new_el.clone();
                } else {
                    m.target_ref = new_el.clone();
                }
            }
        }
        _ => {
            for_each_artifact_mut(defs, &mut |a| {
                if let Artifact::Association(x) = a
                    && x.base.id() == flow
                {
                    if source_end {
                        x.source_ref = new_el.clone();
                    } else {
                        x.target_ref = new_el.clone();
                    }
                }
            });
        }
    }
    let sb = bounds_of(defs, d, &new_s).unwrap_or_default();
    let tb = bounds_of(defs, d, &new_t).unwrap_or_default();
    if let Some(plane) = plane_mut(defs, d)
        && let Some(i) = edge_index(plane, edge)
        && let DiagramElement::Edge(e) = &mut plane.elements[i]
    {
        e.waypoints = route(&sb, &tb);
        e.source_element = None;
        e.target_element = None;
    }
    Ok(())
}

fn for_each_artifact_mut(defs: &mut Definitions, f: &mut dyn FnMut(&mut Artifact)) {
    fn walk(els: &mut [FlowElement], f: &mut dyn FnMut(&mut Artifact)) {
        for el in els.iter_mut() {
            if let FlowElement::Activity(a) = el
                && let Some(sp) = sub_mut(&mut a.kind)
            {
                sp.artifacts.iter_mut().for_each(&mut *f);
                walk(&mut sp.flow_elements, f);
            }
        }
    }
    for root in defs.root_elements.iter_mut() {
        match root {
            RootElement::Process(p) => {
                p.artifacts.iter_mut().for_each(&mut *f);
                walk(&mut p.flow_elements, f);
            }
            RootElement::Collaboration(c) => c.artifacts.iter_mut().for_each(&mut *f),
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Moving and resizing

/// Node ids of `ids` and everything whose parent chain reaches them.
fn with_descendants(sc: &crate::Scene, ids: &[String]) -> HashSet<String> {
    let mut set: HashSet<String> = ids.iter().cloned().collect();
    loop {
        let before = set.len();
        for n in &sc.nodes {
            if let Some(p) = &n.parent
                && set.contains(p)
            {
                set.insert(n.id.clone());
            }
        }
        if set.len() == before {
            return set;
        }
    }
}

fn translate(b: &mut Bounds, dx: f64, dy: f64) {
    b.x += dx;
    b.y += dy;
}

/// Moves nodes (with their children, attached boundary events and labels) by (dx, dy).
/// Edges between two moved nodes are translated; edges with one moved end are re-routed.
pub fn move_nodes(defs: &mut Definitions, d: usize, ids: &[String], dx: f64, dy: f64) {
    if !(dx.is_finite() && dy.is_finite()) || (dx == 0.0 && dy == 0.0) {
        return;
    }
    let sc = structure(defs, d);
    let by_id: HashMap<&str, &crate::SceneNode> =
        sc.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    // A lane moves with its pool.
    let roots: Vec<String> = ids
        .iter()
        .map(|id| {
            let mut cur = id.as_str();
            while let Some(n) = by_id.get(cur).filter(|n| n.kind == "lane")
                && let Some(p) = n.parent.as_deref()
            {
                cur = p;
            }
            cur.to_owned()
        })
        .collect();
    let moved = with_descendants(&sc, &roots);
    // Boundary events moved without their host slide along its border.
    let mut snapped: HashMap<String, (f64, f64)> = HashMap::new();
    for n in &sc.nodes {
        if n.kind == "boundaryEvent"
            && moved.contains(&n.id)
            && let Some(host) = n.parent.as_deref()
            && !moved.contains(host)
            && let Some(h) = by_id.get(host)
        {
            let c = Point {
                x: n.bounds.x + dx + n.bounds.width / 2.0,
                y: n.bounds.y + dy + n.bounds.height / 2.0,
            };
            let p = snap_to_border(&h.bounds, c);
            snapped.insert(n.id.clone(), (dx + p.x - c.x, dy + p.y - c.y));
        }
    }
    let Some(plane) = plane_mut(defs, d) else {
        return;
    };
    let node_ids: Vec<String> = plane_node_ids(plane)
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut k = 0;
    for el in plane.elements.iter_mut() {
        if let DiagramElement::Shape(s) = el {
            let id = &node_ids[k];
            if moved.contains(id) {
                let (mx, my) = snapped.get(id).copied().unwrap_or((dx, dy));
                if let Some(b) = s.bounds.as_mut() {
                    translate(b, mx, my);
                }
                if let Some(b) = s.label.as_mut().and_then(|l| l.bounds.as_mut()) {
                    translate(b, mx, my);
                }
            }
            k += 1;
        }
    }
    reroute(defs, d, &sc, &moved, Some((dx, dy)));
    reparent(defs, d, &roots);
    update_lanes(defs, d, &sc, &roots);
}

/// Moves unconnected events, tasks and gateways into the process or sub-process they were
/// dropped in. Connected nodes keep their container: their flows could not cross into it.
fn reparent(defs: &mut Definitions, d: usize, roots: &[String]) {
    let sc = structure(defs, d);
    let mut moves: Vec<(String, String, String)> = Vec::new(); // element, from, to
    {
        let ix = Index::new(defs);
        let hosts: HashSet<&str> = ix
            .map
            .values()
            .filter_map(|e| match e.elem {
                Elem::Flow(FlowElement::Event(ev)) => ev.attached_to_ref.as_deref(),
                _ => None,
            })
            .collect();
        for n in sc.nodes.iter().filter(|n| roots.contains(&n.id)) {
            let Some(el) = n.element_id.as_deref() else {
                continue;
            };
            let Some(entry) = ix.get(el) else {
                continue;
            };
            let free = match entry.elem {
                Elem::Flow(FlowElement::Event(e)) => {
                    e.kind != EventKind::Boundary
                        && e.incoming.is_empty()
                        && e.outgoing.is_empty()
                        && e.data_input_associations.is_empty()
                        && e.data_output_associations.is_empty()
                }
                Elem::Flow(FlowElement::Activity(a)) => {
                    a.sub_process().is_none()
                        && a.incoming.is_empty()
                        && a.outgoing.is_empty()
                        && a.data_input_associations.is_empty()
                        && a.data_output_associations.is_empty()
                        && !hosts.contains(el)
                }
                Elem::Flow(FlowElement::Gateway(g)) => {
                    g.incoming.is_empty() && g.outgoing.is_empty()
                }
                _ => false,
            };
            // Flows may name a node without listing it in incoming/outgoing.
            let referenced = ix.map.values().any(|e| {
                let (s, t) = semantic_ends(e);
                s == Some(el) || t == Some(el)
            });
            let Some(from) = entry
                .container
                .or(entry.process)
                .filter(|_| free && !referenced)
            else {
                continue;
            };
            let Ok(target) = drop_target(defs, d, center(&n.bounds)) else {
                continue;
            };
            if target.scope != from && target.scope != el {
                moves.push((el.to_owned(), from.to_owned(), target.scope));
            }
        }
    }
    for (el, from, to) in moves {
        let Some(body) = body_mut(defs, &from) else {
            continue;
        };
        let Some(i) = body.flow_elements.iter().position(|f| f.id() == el) else {
            continue;
        };
        let element = body.flow_elements.remove(i);
        for root in defs.root_elements.iter_mut() {
            if let RootElement::Process(p) = root {
                remove_from_lanes(&mut p.lane_sets, &el);
            }
        }
        match body_mut(defs, &to) {
            Some(body) => body.flow_elements.push(element),
            None => {
                // The target vanished in between: put it back.
                if let Some(body) = body_mut(defs, &from) {
                    body.flow_elements.insert(i, element);
                }
            }
        }
    }
}

/// Puts moved flow nodes into the lane their centre is now in (when it changed).
fn update_lanes(defs: &mut Definitions, d: usize, before: &crate::Scene, roots: &[String]) {
    if !before.nodes.iter().any(|n| n.kind == "lane") {
        return;
    }
    let sc = structure(defs, d);
    let ix = Index::new(defs);
    let mut changes: Vec<(String, String, String)> = Vec::new(); // element, process, lane
    for n in sc.nodes.iter().filter(|n| roots.contains(&n.id)) {
        let Some(el) = n.element_id.as_deref() else {
            continue;
        };
        let Some(entry) = ix.get(el) else {
            continue;
        };
        let movable = matches!(entry.elem, Elem::Flow(f) if f.is_flow_node())
            && entry.container.is_none()
            && n.kind != "boundaryEvent";
        let Some(process) = entry.process.filter(|_| movable) else {
            continue;
        };
        let c = center(&n.bounds);
        // Lanes are drawn outer first: the last one containing the centre is the deepest.
        let lane = sc
            .nodes
            .iter()
            .rev()
            .filter(|l| l.kind == "lane" && contains(&l.bounds, c))
            .filter_map(|l| l.element_id.as_deref())
            .find(|l| ix.get(l).is_some_and(|e| e.process == Some(process)));
        if let Some(lane) = lane
            && ix.lane_of.get(el).copied() != Some(lane)
        {
            changes.push((el.to_owned(), process.to_owned(), lane.to_owned()));
        }
    }
    drop(ix);
    for (el, process, lane) in changes {
        for root in defs.root_elements.iter_mut() {
            if let RootElement::Process(p) = root
                && p.base.id() == process
            {
                remove_from_lanes(&mut p.lane_sets, &el);
            }
        }
        add_to_lane(defs, &lane, &el);
    }
}

fn remove_from_lanes(sets: &mut [LaneSet], el: &str) {
    for set in sets.iter_mut() {
        for l in set.lanes.iter_mut() {
            l.flow_node_refs.retain(|n| n != el);
            if let Some(child) = l.child_lane_set.as_mut() {
                remove_from_lanes(std::slice::from_mut(child), el);
            }
        }
    }
}

/// How an edge is routed when one of its ends moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EdgeRoute {
    Plain,
    Message,
    Gateway,
}

/// Re-routes the edges touching `changed` nodes; with `shift`, edges whose both ends
/// changed are translated instead.
fn reroute(
    defs: &mut Definitions,
    d: usize,
    sc: &crate::Scene,
    changed: &HashSet<String>,
    shift: Option<(f64, f64)>,
) {
    let bounds: HashMap<String, Bounds> = {
        let Some(plane) = defs.diagrams.get(d).and_then(|g| g.plane.as_ref()) else {
            return;
        };
        plane_node_ids(plane)
            .into_iter()
            .map(|(id, s)| (id, s.bounds.unwrap_or_default()))
            .collect()
    };
    let gateways: HashSet<&str> = sc
        .nodes
        .iter()
        .filter(|n| n.kind.ends_with("Gateway"))
        .map(|n| n.id.as_str())
        .collect();
    let ends: HashMap<&str, (Option<&str>, Option<&str>, EdgeRoute)> = sc
        .edges
        .iter()
        .map(|e| {
            (
                e.id.as_str(),
                (
                    e.source.as_deref(),
                    e.target.as_deref(),
                    if e.kind == "messageFlow" {
                        EdgeRoute::Message
                    } else if e.kind == "sequenceFlow"
                        && e.source.as_deref().is_some_and(|s| gateways.contains(s))
                    {
                        EdgeRoute::Gateway
                    } else {
                        EdgeRoute::Plain
                    },
                ),
            )
        })
        .collect();
    let Some(plane) = plane_mut(defs, d) else {
        return;
    };
    let mut seen = HashSet::new();
    for (i, el) in plane.elements.iter_mut().enumerate() {
        let DiagramElement::Edge(e) = el else {
            continue;
        };
        let mut id = edge_id(e, i);
        if !seen.insert(id.clone()) {
            id = format!("{id}_{i}");
        }
        let Some((s, t, how)) = ends.get(id.as_str()).copied() else {
            continue;
        };
        let s_in = s.is_some_and(|s| changed.contains(s));
        let t_in = t.is_some_and(|t| changed.contains(t));
        if !s_in && !t_in {
            continue;
        }
        let old_mid = crate::scene::polyline_midpoint(&e.waypoints);
        match (shift, s_in && t_in) {
            (Some((dx, dy)), true) => {
                for p in e.waypoints.iter_mut() {
                    p.x += dx;
                    p.y += dy;
                }
            }
            _ => {
                let (Some(sb), Some(tb)) =
                    (s.and_then(|s| bounds.get(s)), t.and_then(|t| bounds.get(t)))
                else {
                    continue;
                };
                e.waypoints = match how {
                    EdgeRoute::Message => route_vertical(sb, tb),
                    EdgeRoute::Gateway => route_from_gateway(sb, tb),
                    EdgeRoute::Plain => route(sb, tb),
                };
            }
        }
        let new_mid = crate::scene::polyline_midpoint(&e.waypoints);
        if let Some(b) = e.label.as_mut().and_then(|l| l.bounds.as_mut()) {
            translate(b, new_mid.x - old_mid.x, new_mid.y - old_mid.y);
        }
    }
}

/// Sets a node's bounds and re-routes its edges.
pub fn resize_node(defs: &mut Definitions, d: usize, id: &str, bounds: Bounds) {
    if ![bounds.x, bounds.y, bounds.width, bounds.height]
        .iter()
        .all(|v| v.is_finite())
        || bounds.width <= 0.0
        || bounds.height <= 0.0
    {
        return;
    }
    let sc = structure(defs, d);
    let Some(shape) = plane_mut(defs, d).and_then(|p| shape_mut(p, id)) else {
        return;
    };
    shape.bounds = Some(bounds);
    let changed: HashSet<String> = std::iter::once(id.to_owned()).collect();
    reroute(defs, d, &sc, &changed, None);
}

/// Replaces an edge's waypoints (ignored unless there are at least two finite points).
pub fn set_waypoints(defs: &mut Definitions, d: usize, edge: &str, pts: Vec<Point>) {
    if pts.len() < 2 || !pts.iter().all(|p| p.x.is_finite() && p.y.is_finite()) {
        return;
    }
    if let Some(plane) = plane_mut(defs, d)
        && let Some(i) = edge_index(plane, edge)
        && let DiagramElement::Edge(e) = &mut plane.elements[i]
    {
        e.waypoints = pts;
    }
}

// ---------------------------------------------------------------------------------------
// Deleting

/// Deletes nodes (with their children, attached boundary events and connected flows) and
/// edges, from the model and from every diagram. Lanes are removed without their nodes;
/// pools with their process.
pub fn delete(defs: &mut Definitions, d: usize, ids: &[String]) {
    let Some(plane) = defs.diagrams.get(d).and_then(|g| g.plane.as_ref()) else {
        return;
    };
    let mut dead: HashSet<String> = HashSet::new();
    let mut dead_di: HashSet<usize> = HashSet::new();
    let shapes = plane_node_ids(plane);
    for id in ids {
        if let Some((_, s)) = shapes.iter().find(|(n, _)| n == id) {
            if let Some(el) = &s.bpmn_element {
                dead.insert(el.clone());
            } else if let Some(i) = shape_index(plane, id) {
                dead_di.insert(i);
            }
        } else if let Some(i) = edge_index(plane, id) {
            dead_di.insert(i);
            if let DiagramElement::Edge(e) = &plane.elements[i]
                && let Some(el) = &e.bpmn_element
            {
                dead.insert(el.clone());
            }
        }
    }
    let ix = Index::new(defs);
    // Contents: nested elements, boundary events, pools' processes, child lanes.
    loop {
        let before = dead.len();
        for (id, e) in &ix.map {
            if dead.contains(*id) {
                continue;
            }
            let gone = match e.elem {
                Elem::Flow(FlowElement::Event(ev)) => ev
                    .attached_to_ref
                    .as_deref()
                    .is_some_and(|h| dead.contains(h)),
                _ => false,
            } || e.container.is_some_and(|c| dead.contains(c))
                || e.parent_lane.is_some_and(|l| dead.contains(l))
                || (!matches!(e.elem, Elem::Participant(_))
                    && e.process.is_some_and(|p| dead.contains(p)));
            if gone {
                dead.insert((*id).to_owned());
            }
        }
        // Pools take their process with them.
        for (id, e) in &ix.map {
            if let Elem::Participant(p) = e.elem
                && dead.contains(*id)
                && let Some(pr) = &p.process_ref
            {
                dead.insert(pr.clone());
            }
        }
        // Connections lose an end.
        for (id, e) in &ix.map {
            if dead.contains(*id) {
                continue;
            }
            let (s, t) = semantic_ends(e);
            if s.is_some_and(|s| dead.contains(s)) || t.is_some_and(|t| dead.contains(t)) {
                dead.insert((*id).to_owned());
            }
        }
        if dead.len() == before {
            break;
        }
    }
    drop(ix);
    purge(defs, &dead);
    for (k, g) in defs.diagrams.iter_mut().enumerate() {
        if let Some(p) = g.plane.as_mut() {
            let mut i = 0;
            p.elements.retain(|el| {
                let keep = !(k == d && dead_di.contains(&i))
                    && match el {
                        DiagramElement::Shape(s) => {
                            !s.bpmn_element.as_ref().is_some_and(|e| dead.contains(e))
                        }
                        DiagramElement::Edge(e) => {
                            !e.bpmn_element.as_ref().is_some_and(|e| dead.contains(e))
                        }
                    };
                i += 1;
                keep
            });
        }
    }
}

fn purge_flow(els: &mut Vec<FlowElement>, dead: &HashSet<String>) {
    els.retain(|e| !dead.contains(e.id()));
    for el in els.iter_mut() {
        let clean = |v: &mut Vec<String>| v.retain(|f| !dead.contains(f));
        let clean_assoc = |v: &mut Vec<DataAssociation>| {
            v.retain(|a| {
                !dead.contains(a.base.id())
                    && !a.source_refs.iter().any(|s| dead.contains(s))
                    && !a.target_ref.as_ref().is_some_and(|t| dead.contains(t))
            });
        };
        match el {
            FlowElement::Event(e) => {
                clean(&mut e.incoming);
                clean(&mut e.outgoing);
                clean_assoc(&mut e.data_input_associations);
                clean_assoc(&mut e.data_output_associations);
            }
            FlowElement::Activity(a) => {
                clean(&mut a.incoming);
                clean(&mut a.outgoing);
                if a.default.as_ref().is_some_and(|f| dead.contains(f)) {
                    a.default = None;
                }
                clean_assoc(&mut a.data_input_associations);
                clean_assoc(&mut a.data_output_associations);
                if let Some(sp) = sub_mut(&mut a.kind) {
                    purge_flow(&mut sp.flow_elements, dead);
                    purge_artifacts(&mut sp.artifacts, dead);
                    purge_lanes(&mut sp.lane_sets, dead);
                }
            }
            FlowElement::Gateway(g) => {
                clean(&mut g.incoming);
                clean(&mut g.outgoing);
                if g.default.as_ref().is_some_and(|f| dead.contains(f)) {
                    g.default = None;
                }
            }
            _ => {}
        }
    }
}

fn purge_artifacts(arts: &mut Vec<Artifact>, dead: &HashSet<String>) {
    arts.retain(|a| !dead.contains(a.base().id()));
}

fn purge_lanes(sets: &mut [LaneSet], dead: &HashSet<String>) {
    for set in sets.iter_mut() {
        set.lanes.retain(|l| !dead.contains(l.base.id()));
        for l in set.lanes.iter_mut() {
            l.flow_node_refs.retain(|n| !dead.contains(n));
            if let Some(child) = l.child_lane_set.as_mut() {
                purge_lanes(std::slice::from_mut(child), dead);
            }
        }
    }
}

fn purge(defs: &mut Definitions, dead: &HashSet<String>) {
    defs.root_elements
        .retain(|r| !(matches!(r, RootElement::Process(_)) && dead.contains(r.id())));
    for root in defs.root_elements.iter_mut() {
        match root {
            RootElement::Process(p) => {
                purge_flow(&mut p.flow_elements, dead);
                purge_artifacts(&mut p.artifacts, dead);
                purge_lanes(&mut p.lane_sets, dead);
            }
            RootElement::Collaboration(c) => {
                c.participants.retain(|p| !dead.contains(p.base.id()));
                c.message_flows.retain(|m| !dead.contains(m.base.id()));
                purge_artifacts(&mut c.artifacts, dead);
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------
// Properties

/// Text as XML can carry it: line ends normalised to `\n`, other control characters dropped.
fn clean_text(s: &str) -> String {
    s.replace("\r\n", "\n")
        .chars()
        .map(|c| if c == '\r' { '\n' } else { c })
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .filter(|c| !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
        .collect()
}

/// Sets (or with `None`/blank, removes) the name of an element; for text annotations, the
/// text.
pub fn rename(defs: &mut Definitions, element_id: &str, name: Option<String>) {
    let name = name
        .map(|n| clean_text(&n))
        .filter(|n| !n.trim().is_empty());
    if let Some(el) = flow_element_mut(defs, element_id) {
        match el {
            FlowElement::Event(x) => x.name = name,
            FlowElement::Activity(x) => x.name = name,
            FlowElement::Gateway(x) => x.name = name,
            FlowElement::SequenceFlow(x) => x.name = name,
            FlowElement::DataObject(x) => x.name = name,
            FlowElement::DataObjectReference(x) => x.name = name,
            FlowElement::DataStoreReference(x) => x.name = name,
        }
        return;
    }
    let mut name = Some(name);
    for_each_artifact_mut(defs, &mut |a| {
        if let Artifact::TextAnnotation(t) = a
            && t.base.id() == element_id
            && let Some(n) = name.take()
        {
            t.text = n;
        }
    });
    let Some(name) = name else {
        return;
    };
    for root in defs.root_elements.iter_mut() {
        match root {
            RootElement::Process(p) => {
                if p.base.id() == element_id {
                    p.name = name;
                    return;
                }
                let mut n = Some(name.clone());
                let mut set = |l: &mut starweave_model::bpmn::Lane| l.name = n.take().flatten();
                if lanes_mut(&mut p.lane_sets, element_id, &mut set) {
                    return;
                }
            }
            RootElement::Collaboration(c) => {
                if let Some(p) = c
                    .participants
                    .iter_mut()
                    .find(|p| p.base.id() == element_id)
                {
                    p.name = name;
                    return;
                }
                if let Some(m) = c
                    .message_flows
                    .iter_mut()
                    .find(|m| m.base.id() == element_id)
                {
                    m.name = name;
                    return;
                }
            }
            _ => {}
        }
    }
}

/// Sets (or with `None`/blank, removes) the condition expression body of a sequence flow,
/// keeping the expression's language and type when it had one.
pub fn set_condition(defs: &mut Definitions, flow_id: &str, expr: Option<String>) {
    let fresh = match flow_element_mut(defs, flow_id) {
        Some(FlowElement::SequenceFlow(f)) => f.condition_expression.is_none(),
        _ => return,
    };
    let body = expr
        .map(|e| clean_text(&e))
        .filter(|e| !e.trim().is_empty());
    let new = match (&body, fresh) {
        (Some(b), true) => Some(formal(defs, b.clone())),
        _ => None,
    };
    if let Some(FlowElement::SequenceFlow(f)) = flow_element_mut(defs, flow_id) {
        match (body, new) {
            (None, _) => f.condition_expression = None,
            (Some(_), Some(expr)) => f.condition_expression = Some(expr),
            (Some(b), None) => {
                if let Some(c) = f.condition_expression.as_mut() {
                    c.body = b;
                }
            }
        }
    }
}

/// Makes `flow_id` the default flow of a gateway or activity (`None` clears it). Ignored
/// when the flow does not leave that element.
pub fn set_default_flow(defs: &mut Definitions, gateway_id: &str, flow_id: Option<&str>) {
    if let Some(flow) = flow_id {
        let ix = Index::new(defs);
        let leaves = matches!(
            ix.get(flow).map(|e| e.elem),
            Some(Elem::Flow(FlowElement::SequenceFlow(f))) if f.source_ref == gateway_id
        );
        if !leaves {
            return;
        }
    }
    match flow_element_mut(defs, gateway_id) {
        Some(FlowElement::Gateway(g))
            if g.kind != GatewayKind::Parallel && g.kind != GatewayKind::EventBased =>
        {
            g.default = flow_id.map(str::to_owned);
        }
        Some(FlowElement::Activity(a)) => a.default = flow_id.map(str::to_owned),
        _ => {}
    }
}

/// Changes an element's type, keeping its id, name, documentation, extensions, flows and
/// bounds (resized around the centre when the size class changes).
pub fn change_type(
    defs: &mut Definitions,
    d: usize,
    element_id: &str,
    kind: PaletteKind,
) -> Result<(), EditError> {
    let ix = Index::new(defs);
    let entry = ix
        .get(element_id)
        .ok_or_else(|| EditError::UnknownNode(element_id.into()))?;
    let Elem::Flow(old) = entry.elem else {
        return Err(EditError::NotAllowed(
            "only events, activities and gateways change type".into(),
        ));
    };
    let old = old.clone();
    drop(ix);
    let (incoming, outgoing, attached) = match &old {
        FlowElement::Event(e) => (
            e.incoming.clone(),
            e.outgoing.clone(),
            e.attached_to_ref.clone(),
        ),
        FlowElement::Activity(a) => (a.incoming.clone(), a.outgoing.clone(), None),
        FlowElement::Gateway(g) => (g.incoming.clone(), g.outgoing.clone(), None),
        _ => {
            return Err(EditError::NotAllowed(
                "only events, activities and gateways change type".into(),
            ));
        }
    };
    if kind == PaletteKind::TextAnnotation {
        return Err(EditError::NotAllowed(
            "a flow node cannot become an annotation".into(),
        ));
    }
    if kind.is_boundary() != attached.is_some() {
        return Err(EditError::NotAllowed(
            "boundary events only change into other boundary events".into(),
        ));
    }
    let starts = matches!(
        kind,
        PaletteKind::StartEvent | PaletteKind::TimerStartEvent | PaletteKind::MessageStartEvent
    );
    if starts && !incoming.is_empty() {
        return Err(EditError::NotAllowed(
            "a start event cannot have incoming flows".into(),
        ));
    }
    let ends = matches!(
        kind,
        PaletteKind::EndEvent | PaletteKind::ErrorEndEvent | PaletteKind::TerminateEndEvent
    );
    if ends && !outgoing.is_empty() {
        return Err(EditError::NotAllowed(
            "an end event cannot have outgoing flows".into(),
        ));
    }
    if let Some(sp) = old.sub_process()
        && !sp.flow_elements.is_empty()
        && kind.size_class() != SizeClass::SubProcess
    {
        return Err(EditError::NotAllowed(
            "this sub-process is not empty".into(),
        ));
    }
    let NewElement::Flow(mut new) = kind.element(element_id, attached.as_deref()) else {
        return Err(EditError::NotAllowed(
            "a flow node cannot become an annotation".into(),
        ));
    };
    adapt_new(defs, &mut new);
    let old_base = old.base().clone();
    let old_name = old.name().map(str::to_owned);
    match &mut new {
        FlowElement::Event(e) => {
            e.base = old_base;
            e.name = old_name;
            e.incoming = incoming;
            e.outgoing = outgoing;
            if let FlowElement::Event(o) = &old {
                e.cancel_activity = o.cancel_activity;
                // Keep definitions' ids stable when the trigger stays the same.
                if o.event_definitions.len() == 1 && e.event_definitions.len() == 1 {
                    let same = std::mem::discriminant(&o.event_definitions[0].kind)
                        == std::mem::discriminant(&e.event_definitions[0].kind);
                    if same {
                        e.event_definitions = o.event_definitions.clone();
                    }
                }
            }
        }
        FlowElement::Activity(a) => {
            if let FlowElement::Activity(o) = &old {
                let new_kind = std::mem::replace(&mut a.kind, ActivityKind::Task);
                *a = o.clone();
                a.kind = match (new_kind, o.sub_process()) {
                    (ActivityKind::SubProcess(_), Some(sp)) => ActivityKind::SubProcess(sp.clone()),
                    (ActivityKind::Transaction(_), Some(sp)) => {
                        ActivityKind::Transaction(sp.clone())
                    }
                    (k, _) => k,
                };
                if std::mem::discriminant(&a.kind) == std::mem::discriminant(&o.kind) {
                    a.kind = o.kind.clone();
                }
            } else {
                a.base = old_base;
                a.name = old_name;
                a.incoming = incoming;
                a.outgoing = outgoing;
            }
        }
        FlowElement::Gateway(g) => {
            g.base = old_base;
            g.name = old_name;
            g.incoming = incoming;
            g.outgoing = outgoing;
            if let FlowElement::Gateway(o) = &old
                && matches!(
                    g.kind,
                    GatewayKind::Exclusive | GatewayKind::Inclusive | GatewayKind::Complex
                )
            {
                g.default = o.default.clone();
            }
        }
        _ => {}
    }
    if let Some(slot) = flow_element_mut(defs, element_id) {
        *slot = new;
    }
    // DI: resize around the centre when the size class changes.
    let Some(plane) = plane_mut(defs, d) else {
        return Ok(());
    };
    for el in plane.elements.iter_mut() {
        if let DiagramElement::Shape(s) = el
            && s.bpmn_element.as_deref() == Some(element_id)
        {
            let b = s.bounds.unwrap_or_default();
            let (w, h) = kind.default_size();
            let old_class = match old {
                FlowElement::Event(_) => SizeClass::Event,
                FlowElement::Gateway(_) => SizeClass::Gateway,
                _ if old.sub_process().is_some() => SizeClass::SubProcess,
                _ => SizeClass::Task,
            };
            if old_class != kind.size_class() {
                s.bounds = Some(centered(center(&b), (w, h)));
                s.is_expanded = (kind.size_class() == SizeClass::SubProcess).then_some(true);
                s.label = None;
            }
            s.is_marker_visible = (kind == PaletteKind::ExclusiveGateway).then_some(true);
        }
    }
    let sc = structure(defs, d);
    let changed: HashSet<String> = sc
        .nodes
        .iter()
        .filter(|n| n.element_id.as_deref() == Some(element_id))
        .map(|n| n.id.clone())
        .collect();
    reroute(defs, d, &sc, &changed, None);
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Clipboard

/// Copied elements with their shapes, the sequence flows between them, and the contents of
/// copied sub-processes with their drawing.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Clipboard {
    nodes: Vec<(FlowElement, Shape)>,
    flows: Vec<(SequenceFlow, Edge)>,
    /// Shapes and edges of elements inside copied sub-processes.
    inner: Vec<DiagramElement>,
    origin: Point,
}

impl Clipboard {
    /// Whether nothing was copied.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }
}

/// Keeps what a pasted sub-process can carry: events, activities, gateways and the sequence
/// flows between them (data, artifacts and lanes stay behind).
fn strip_for_copy(el: &mut FlowElement, ids: &mut HashSet<String>) -> bool {
    match el {
        FlowElement::Event(e) => {
            e.data_input_associations.clear();
            e.data_output_associations.clear();
        }
        FlowElement::Activity(a) => {
            a.data_input_associations.clear();
            a.data_output_associations.clear();
            if let Some(sp) = sub_mut(&mut a.kind) {
                sp.artifacts.clear();
                sp.lane_sets.clear();
                sp.flow_elements.retain_mut(|c| strip_for_copy(c, ids));
            }
        }
        FlowElement::Gateway(_) | FlowElement::SequenceFlow(_) => {}
        _ => return false,
    }
    ids.insert(el.id().to_owned());
    true
}

fn collect_ids(els: &[FlowElement], out: &mut Vec<(String, &'static str)>) {
    for el in els {
        let prefix = match el {
            FlowElement::Event(_) => "Event",
            FlowElement::Gateway(_) => "Gateway",
            FlowElement::Activity(_) => "Activity",
            FlowElement::SequenceFlow(_) => "Flow",
            _ => "DataReference",
        };
        out.push((el.id().to_owned(), prefix));
        if let Some(sp) = el.sub_process() {
            collect_ids(&sp.flow_elements, out);
        }
    }
}

/// Gives a pasted element its new id and rewrites its references; `false` when it cannot
/// come along (a flow or boundary event whose other end was not copied).
fn remap(el: &mut FlowElement, map: &HashMap<String, String>) -> bool {
    let Some(new_id) = map.get(el.id()).cloned() else {
        return false;
    };
    let ids =
        |v: &[String]| -> Vec<String> { v.iter().filter_map(|x| map.get(x).cloned()).collect() };
    match el {
        FlowElement::Event(e) => {
            e.incoming = ids(&e.incoming);
            e.outgoing = ids(&e.outgoing);
            for (i, def) in e.event_definitions.iter_mut().enumerate() {
                if def.base.id.is_some() {
                    def.base.id = Some(format!("{new_id}_def{i}"));
                }
            }
            if let Some(host) = e.attached_to_ref.as_ref() {
                match map.get(host) {
                    Some(h) => e.attached_to_ref = Some(h.clone()),
                    None => return false,
                }
            }
            e.base.id = Some(new_id);
        }
        FlowElement::Activity(a) => {
            a.incoming = ids(&a.incoming);
            a.outgoing = ids(&a.outgoing);
            a.default = a.default.as_ref().and_then(|x| map.get(x).cloned());
            if let Some(sp) = sub_mut(&mut a.kind) {
                sp.flow_elements.retain_mut(|c| remap(c, map));
            }
            a.base.id = Some(new_id);
        }
        FlowElement::Gateway(g) => {
            g.incoming = ids(&g.incoming);
            g.outgoing = ids(&g.outgoing);
            g.default = g.default.as_ref().and_then(|x| map.get(x).cloned());
            g.base.id = Some(new_id);
        }
        FlowElement::SequenceFlow(f) => {
            let (Some(s), Some(t)) = (map.get(&f.source_ref), map.get(&f.target_ref)) else {
                return false;
            };
            f.source_ref = s.clone();
            f.target_ref = t.clone();
            f.base.id = Some(new_id);
        }
        FlowElement::DataObjectReference(r) => r.base.id = Some(new_id),
        FlowElement::DataStoreReference(r) => r.base.id = Some(new_id),
        FlowElement::DataObject(_) => return false,
    }
    true
}

/// Copies nodes (events, activities with the contents of sub-processes, gateways, data
/// references) and the sequence flows between them.
pub fn copy(defs: &Definitions, d: usize, ids: &[String]) -> Clipboard {
    let Some(plane) = defs.diagrams.get(d).and_then(|g| g.plane.as_ref()) else {
        return Clipboard::default();
    };
    let ix = Index::new(defs);
    let mut clip = Clipboard::default();
    let mut chosen = HashSet::new();
    let mut nested: HashSet<String> = HashSet::new();
    for (id, shape) in plane_node_ids(plane) {
        if !ids.contains(&id) {
            continue;
        }
        let Some(el) = shape.bpmn_element.as_deref() else {
            continue;
        };
        if let Some(Elem::Flow(f)) = ix.get(el).map(|e| e.elem)
            && !matches!(f, FlowElement::SequenceFlow(_) | FlowElement::DataObject(_))
            && !chosen.contains(el)
        {
            let mut f = f.clone();
            if let FlowElement::Activity(a) = &mut f
                && let Some(sp) = sub_mut(&mut a.kind)
            {
                sp.artifacts.clear();
                sp.lane_sets.clear();
                sp.flow_elements
                    .retain_mut(|c| strip_for_copy(c, &mut nested));
            }
            chosen.insert(el.to_owned());
            clip.nodes.push((f, shape.clone()));
        }
    }
    for el in &plane.elements {
        match el {
            DiagramElement::Edge(e) => {
                if let Some(Elem::Flow(FlowElement::SequenceFlow(f))) = e
                    .bpmn_element
                    .as_deref()
                    .and_then(|x| ix.get(x))
                    .map(|x| x.elem)
                    && chosen.contains(&f.source_ref)
                    && chosen.contains(&f.target_ref)
                {
                    clip.flows.push((f.clone(), e.clone()));
                } else if e.bpmn_element.as_ref().is_some_and(|x| nested.contains(x)) {
                    clip.inner.push(el.clone());
                }
            }
            DiagramElement::Shape(s) => {
                if s.bpmn_element.as_ref().is_some_and(|x| nested.contains(x)) {
                    clip.inner.push(el.clone());
                }
            }
        }
    }
    let (mut x0, mut y0) = (f64::MAX, f64::MAX);
    for (_, s) in &clip.nodes {
        let b = s.bounds.unwrap_or_default();
        x0 = x0.min(b.x);
        y0 = y0.min(b.y);
    }
    clip.origin = if clip.nodes.is_empty() {
        Point::default()
    } else {
        Point { x: x0, y: y0 }
    };
    clip
}

fn translate_di(el: &mut DiagramElement, dx: f64, dy: f64, map: &HashMap<String, String>) -> bool {
    let (bpmn_element, id, label) = match el {
        DiagramElement::Shape(s) => {
            if let Some(b) = s.bounds.as_mut() {
                translate(b, dx, dy);
            }
            (&mut s.bpmn_element, &mut s.id, &mut s.label)
        }
        DiagramElement::Edge(e) => {
            for p in e.waypoints.iter_mut() {
                p.x += dx;
                p.y += dy;
            }
            e.source_element = None;
            e.target_element = None;
            (&mut e.bpmn_element, &mut e.id, &mut e.label)
        }
    };
    let Some(new) = bpmn_element.as_ref().and_then(|x| map.get(x)).cloned() else {
        return false;
    };
    *id = Some(format!("{new}_di"));
    *bpmn_element = Some(new);
    if let Some(l) = label.as_mut() {
        l.id = None;
        if let Some(b) = l.bounds.as_mut() {
            translate(b, dx, dy);
        }
    }
    true
}

/// Pastes a clipboard with fresh ids, its top-left corner at `at`, into the process or
/// container found there. Returns the new node ids (of the copied nodes, not of their
/// contents).
pub fn paste(defs: &mut Definitions, d: usize, clip: &Clipboard, at: Point) -> Vec<String> {
    if clip.is_empty() {
        return Vec::new();
    }
    let Ok(target) = drop_target(defs, d, at) else {
        return Vec::new();
    };
    let mut fresh_ids = IdGen::new(defs);
    let mut old: Vec<(String, &'static str)> = Vec::new();
    let tops: Vec<FlowElement> = clip.nodes.iter().map(|(f, _)| f.clone()).collect();
    collect_ids(&tops, &mut old);
    for (f, _) in &clip.flows {
        old.push((f.base.id().to_owned(), "Flow"));
    }
    let map: HashMap<String, String> = old
        .into_iter()
        .map(|(id, prefix)| (id, fresh_ids.fresh(prefix)))
        .collect();
    let (dx, dy) = (at.x - clip.origin.x, at.y - clip.origin.y);
    let mut new_elements = Vec::new();
    let mut di = Vec::new();
    let mut nodes = Vec::new();
    for (f, s) in &clip.nodes {
        let mut f = f.clone();
        if !remap(&mut f, &map) {
            continue;
        }
        let mut shape = DiagramElement::Shape(s.clone());
        if translate_di(&mut shape, dx, dy, &map) {
            nodes.push(format!("{}_di", f.id()));
            di.push(shape);
        }
        new_elements.push(f);
    }
    for (f, e) in &clip.flows {
        let mut f = FlowElement::SequenceFlow(f.clone());
        if !remap(&mut f, &map) {
            continue;
        }
        let mut edge = DiagramElement::Edge(e.clone());
        if translate_di(&mut edge, dx, dy, &map) {
            di.push(edge);
        }
        new_elements.push(f);
    }
    for el in &clip.inner {
        let mut el = el.clone();
        if translate_di(&mut el, dx, dy, &map) {
            di.push(el);
        }
    }
    let lane_members: Vec<String> = new_elements
        .iter()
        .filter(|e| e.is_flow_node())
        .map(|e| e.id().to_owned())
        .collect();
    let Some(body) = body_mut(defs, &target.scope) else {
        return Vec::new();
    };
    body.flow_elements.extend(new_elements);
    if let Some(lane) = &target.lane {
        for el in &lane_members {
            add_to_lane(defs, lane, el);
        }
    }
    if let Some(plane) = plane_mut(defs, d) {
        plane.elements.extend(di);
    }
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn palette_names_parse_back() {
        for k in PaletteKind::all() {
            assert_eq!(PaletteKind::parse(k.name()), Some(*k));
            assert!(k.icon_svg().starts_with("<svg"));
        }
        assert_eq!(PaletteKind::parse("nope"), None);
    }

    #[test]
    fn ids_are_unique_and_prefixed() {
        let defs = new_definitions("p", "P");
        let mut g = IdGen::new(&defs);
        let a = g.fresh("Activity");
        let b = g.fresh("Activity");
        assert_ne!(a, b);
        assert!(a.starts_with("Activity_") && a.len() == "Activity_".len() + 7);
    }

    #[test]
    fn routes_are_orthogonal() {
        let a = Bounds {
            x: 0.0,
            y: 0.0,
            width: 100.0,
            height: 80.0,
        };
        for b in [
            Bounds {
                x: 200.0,
                y: 0.0,
                width: 100.0,
                height: 80.0,
            },
            Bounds {
                x: 200.0,
                y: 200.0,
                width: 36.0,
                height: 36.0,
            },
            Bounds {
                x: 0.0,
                y: 200.0,
                width: 36.0,
                height: 36.0,
            },
            Bounds {
                x: -300.0,
                y: 10.0,
                width: 36.0,
                height: 36.0,
            },
            Bounds {
                x: 30.0,
                y: -200.0,
                width: 36.0,
                height: 36.0,
            },
        ] {
            let r = route(&a, &b);
            assert!(r.len() >= 2);
            for w in r.windows(2) {
                assert!(w[0].x == w[1].x || w[0].y == w[1].y, "{r:?}");
            }
        }
    }
}
