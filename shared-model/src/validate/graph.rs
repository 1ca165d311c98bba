//! BPMN graph rules: references, reachability, gateways, cycles.

use std::collections::{HashMap, HashSet};

use crate::{
    Diagnostic,
    bpmn::{
        Activity, ActivityKind, Definitions, DiagramElement, EventDefinitionKind, EventKind,
        FlowElement, GatewayKind, RootElement, SourceMap,
    },
};

/// Which processes the rules about running apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Executability {
    /// Only processes with `isExecutable="true"` (a BPMN file from any tool).
    AsDeclared,
    /// Every process except those marked `isExecutable="false"` (a VMS's BPMN functions,
    /// which exist to be run).
    UnlessDeclaredNot,
}

/// Validates BPMN definitions; `source_map` gives the positions of element ids.
pub fn validate_definitions(
    defs: &Definitions,
    source_map: &SourceMap,
    executability: Executability,
) -> Vec<Diagnostic> {
    let mut v = Validator {
        source_map,
        diags: Vec::new(),
        ids: HashMap::new(),
    };
    v.index(defs);
    v.check_root_refs(defs);
    for root in &defs.root_elements {
        if let RootElement::Process(process) = root {
            let executable = match executability {
                Executability::AsDeclared => process.is_executable == Some(true),
                Executability::UnlessDeclaredNot => process.is_executable != Some(false),
            };
            v.check_container(&process.flow_elements, executable, true);
        }
    }
    v.check_diagram(defs);
    v.diags
}

/// What an id names, as far as references care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum IdKind {
    FlowNode,
    Activity,
    SequenceFlow,
    Error,
    Message,
    Signal,
    Escalation,
    Process,
    Other,
}

struct Validator<'a> {
    source_map: &'a SourceMap,
    diags: Vec<Diagnostic>,
    ids: HashMap<&'a str, IdKind>,
}

impl<'a> Validator<'a> {
    fn report(&mut self, diag: Diagnostic, element: &str) {
        let pos = self.source_map.pos(element);
        self.diags.push(diag.on(element).at_opt(pos));
    }

    fn index(&mut self, defs: &'a Definitions) {
        for root in &defs.root_elements {
            let kind = match root {
                RootElement::Process(p) => {
                    self.index_flow_elements(&p.flow_elements);
                    for artifact in &p.artifacts {
                        self.add_id(artifact.base().id.as_deref(), IdKind::Other);
                    }
                    for lane_set in &p.lane_sets {
                        self.index_lane_set(lane_set);
                    }
                    IdKind::Process
                }
                RootElement::Collaboration(c) => {
                    for p in &c.participants {
                        self.add_id(p.base.id.as_deref(), IdKind::Other);
                    }
                    for m in &c.message_flows {
                        self.add_id(m.base.id.as_deref(), IdKind::Other);
                    }
                    for artifact in &c.artifacts {
                        self.add_id(artifact.base().id.as_deref(), IdKind::Other);
                    }
                    IdKind::Other
                }
                RootElement::Error(_) => IdKind::Error,
                RootElement::Message(_) => IdKind::Message,
                RootElement::Signal(_) => IdKind::Signal,
                RootElement::Escalation(_) => IdKind::Escalation,
                RootElement::ItemDefinition(_) | RootElement::DataStore(_) => IdKind::Other,
            };
            self.add_id(root.base().id.as_deref(), kind);
        }
    }

    fn index_lane_set(&mut self, lane_set: &'a crate::bpmn::LaneSet) {
        self.add_id(lane_set.base.id.as_deref(), IdKind::Other);
        for lane in &lane_set.lanes {
            self.add_id(lane.base.id.as_deref(), IdKind::Other);
            if let Some(child) = &lane.child_lane_set {
                self.index_lane_set(child);
            }
        }
    }

    fn index_flow_elements(&mut self, elements: &'a [FlowElement]) {
        for element in elements {
            let kind = match element {
                FlowElement::Activity(_) => IdKind::Activity,
                FlowElement::Event(_) | FlowElement::Gateway(_) => IdKind::FlowNode,
                FlowElement::SequenceFlow(_) => IdKind::SequenceFlow,
                _ => IdKind::Other,
            };
            self.add_id(element.base().id.as_deref(), kind);
            if let Some(sub) = element.sub_process() {
                self.index_flow_elements(&sub.flow_elements);
                for artifact in &sub.artifacts {
                    self.add_id(artifact.base().id.as_deref(), IdKind::Other);
                }
            }
        }
    }

    fn add_id(&mut self, id: Option<&'a str>, kind: IdKind) {
        if let Some(id) = id {
            // Duplicates are the reader's diagnostic; the first definition wins here.
            self.ids.entry(id).or_insert(kind);
        }
    }

    fn kind_of(&self, id: &str) -> Option<IdKind> {
        self.ids.get(id).copied()
    }

    /// References from events and collaborations to root elements.
    fn check_root_refs(&mut self, defs: &'a Definitions) {
        let mut refs: Vec<(&str, &str, IdKind, &str)> = Vec::new();
        for root in &defs.root_elements {
            match root {
                RootElement::Process(p) => {
                    for element in p.all_flow_elements() {
                        self.collect_event_refs(element, &mut refs);
                    }
                }
                RootElement::Collaboration(c) => {
                    for participant in &c.participants {
                        if let Some(process) = &participant.process_ref {
                            refs.push((
                                participant.base.id(),
                                process,
                                IdKind::Process,
                                "processRef",
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        for (owner, target, want, attr) in refs {
            match self.kind_of(target) {
                Some(kind) if kind == want => {}
                Some(_) => self.report(
                    Diagnostic::error(
                        "bpmn.wrong-reference-kind",
                        format!("`{attr}` names `{target}`, which is not {}", describe(want)),
                    ),
                    owner,
                ),
                None => self.report(
                    Diagnostic::error(
                        "bpmn.dangling-reference",
                        format!("`{attr}` names `{target}`, which does not exist in this file"),
                    ),
                    owner,
                ),
            }
        }
    }

    fn collect_event_refs(
        &self,
        element: &'a FlowElement,
        refs: &mut Vec<(&'a str, &'a str, IdKind, &'static str)>,
    ) {
        let FlowElement::Event(event) = element else {
            return;
        };
        for def in &event.event_definitions {
            let (target, want, attr) = match &def.kind {
                EventDefinitionKind::Error { error_ref: Some(r) } => (r, IdKind::Error, "errorRef"),
                EventDefinitionKind::Message {
                    message_ref: Some(r),
                    ..
                } => (r, IdKind::Message, "messageRef"),
                EventDefinitionKind::Signal {
                    signal_ref: Some(r),
                } => (r, IdKind::Signal, "signalRef"),
                EventDefinitionKind::Escalation {
                    escalation_ref: Some(r),
                } => (r, IdKind::Escalation, "escalationRef"),
                _ => continue,
            };
            refs.push((event.base.id(), target.as_str(), want, attr));
        }
    }

    /// Checks one flow container (a process or a sub-process) and, recursively, those inside.
    fn check_container(&mut self, elements: &'a [FlowElement], executable: bool, is_process: bool) {
        let graph = Graph::build(elements);
        self.check_flow_refs(elements, &graph);
        if executable {
            self.check_running(elements, &graph, is_process);
        }
        for element in elements {
            if let FlowElement::Activity(activity) = element
                && let Some(sub) = activity.sub_process()
            {
                self.check_container(&sub.flow_elements, executable, false);
            }
        }
    }

    /// Sequence flows, defaults and boundary attachments must name nodes of this container.
    fn check_flow_refs(&mut self, elements: &'a [FlowElement], graph: &Graph<'a>) {
        for element in elements {
            match element {
                FlowElement::SequenceFlow(flow) => {
                    for (end, target) in
                        [("source", &flow.source_ref), ("target", &flow.target_ref)]
                    {
                        if graph.index.contains_key(target.as_str()) {
                            continue;
                        }
                        let diag = if target.is_empty() {
                            Diagnostic::error(
                                "bpmn.flow-to-nowhere",
                                format!("sequence flow has no {end}Ref"),
                            )
                        } else if self.kind_of(target).is_some() {
                            Diagnostic::error(
                                "bpmn.flow-to-nowhere",
                                format!(
                                    "sequence flow's {end} `{target}` is not a flow node of the same process or sub-process"
                                ),
                            )
                        } else {
                            Diagnostic::error(
                                "bpmn.flow-to-nowhere",
                                format!("sequence flow's {end} `{target}` does not exist"),
                            )
                        };
                        self.report(diag, flow.base.id());
                    }
                }
                FlowElement::Event(event) if event.kind == EventKind::Boundary => {
                    match event.attached_to_ref.as_deref() {
                        None => self.report(
                            Diagnostic::error(
                                "bpmn.missing-attribute",
                                "boundary event is not attached to an activity (no attachedToRef)",
                            ),
                            event.base.id(),
                        ),
                        Some(host) if self.kind_of(host) != Some(IdKind::Activity) => self.report(
                            Diagnostic::error(
                                "bpmn.dangling-reference",
                                format!(
                                    "boundary event is attached to `{host}`, which is not an activity"
                                ),
                            ),
                            event.base.id(),
                        ),
                        Some(_) => {}
                    }
                }
                _ => {}
            }
            let (id, default) = match element {
                FlowElement::Activity(a) => (a.base.id(), a.default.as_deref()),
                FlowElement::Gateway(g) => (g.base.id(), g.default.as_deref()),
                _ => continue,
            };
            if let Some(default) = default {
                let leaves_here = graph
                    .flows
                    .iter()
                    .any(|f| f.id == default && f.source == Some(graph.index[id]));
                if !leaves_here {
                    self.report(
                        Diagnostic::error(
                            "bpmn.bad-default-flow",
                            format!("default flow `{default}` is not an outgoing sequence flow of this element"),
                        ),
                        id,
                    );
                }
            }
        }
    }

    /// The rules for processes that are meant to run.
    fn check_running(&mut self, elements: &'a [FlowElement], graph: &Graph<'a>, is_process: bool) {
        // Entry points: start events, or (as BPMN allows) nodes without incoming flows.
        let starts: Vec<usize> = graph
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.is_start)
            .map(|(i, _)| i)
            .collect();
        if starts.is_empty() && !graph.nodes.is_empty() && is_process {
            let first = graph.nodes[0].id;
            self.report(
                Diagnostic::error(
                    "bpmn.no-start-event",
                    "this process has no start event, so a run has nowhere to begin",
                ),
                first,
            );
        }
        let entries: Vec<usize> = if starts.is_empty() {
            (0..graph.nodes.len())
                .filter(|&i| graph.incoming[i].is_empty() && !graph.nodes[i].is_boundary)
                .collect()
        } else {
            starts
        };

        // Reachability, with boundary events reachable through their host.
        let reached = graph.reachable_from(&entries);
        for (i, node) in graph.nodes.iter().enumerate() {
            // A boundary event on a missing host already has its own diagnostic.
            let orphan_boundary =
                node.is_boundary && node.host.is_none_or(|h| !graph.index.contains_key(h));
            if !reached[i] && !node.is_event_sub_process && !orphan_boundary {
                self.report(
                    Diagnostic::warning(
                        "bpmn.unreachable",
                        format!(
                            "{} cannot be reached from a start event; it will never run",
                            node.label()
                        ),
                    ),
                    node.id,
                );
            }
        }

        for element in elements {
            match element {
                FlowElement::Gateway(g)
                    if matches!(g.kind, GatewayKind::Exclusive | GatewayKind::Inclusive) =>
                {
                    let i = graph.index[g.base.id()];
                    let outgoing: Vec<&Flow> =
                        graph.outgoing[i].iter().map(|&f| &graph.flows[f]).collect();
                    if outgoing.len() < 2 {
                        continue;
                    }
                    let mut unconditioned = Vec::new();
                    for flow in &outgoing {
                        if !flow.has_condition && g.default.as_deref() != Some(flow.id) {
                            unconditioned.push(flow.id);
                        }
                    }
                    for flow in unconditioned {
                        self.report(
                            Diagnostic::error(
                                "bpmn.gateway-condition-missing",
                                format!(
                                    "outgoing flow `{flow}` of this gateway has no condition and is not its default flow; give it a condition or make it the default"
                                ),
                            ),
                            g.base.id(),
                        );
                    }
                    if g.default.is_none() && outgoing.iter().all(|f| f.has_condition) {
                        self.report(
                            Diagnostic::warning(
                                "bpmn.gateway-no-default",
                                "this gateway has no default flow: a run fails here when no condition holds",
                            ),
                            g.base.id(),
                        );
                    }
                }
                FlowElement::SequenceFlow(flow) => {
                    if let Some(cond) = &flow.condition_expression
                        && cond.body.trim().is_empty()
                    {
                        self.report(
                            Diagnostic::error(
                                "bpmn.empty-condition",
                                "this sequence flow has an empty condition expression",
                            ),
                            flow.base.id(),
                        );
                    }
                }
                FlowElement::Activity(activity) => self.check_activity(activity),
                _ => {}
            }
        }

        // Gateways and intermediate events must lead somewhere; activities without outgoing
        // flows end their path implicitly, as BPMN allows.
        for (i, node) in graph.nodes.iter().enumerate() {
            if graph.outgoing[i].is_empty() && node.must_continue {
                self.report(
                    Diagnostic::error(
                        "bpmn.dead-end",
                        format!(
                            "{} has no outgoing sequence flow; add one or use an end event",
                            node.label()
                        ),
                    ),
                    node.id,
                );
            }
        }

        self.check_cycles(graph);
    }

    fn check_activity(&mut self, activity: &'a Activity) {
        if let ActivityKind::ScriptTask {
            script_format,
            script,
        } = &activity.kind
        {
            let format = script_format.as_deref().unwrap_or("");
            let known = matches!(
                format.to_ascii_lowercase().as_str(),
                "rhai"
                    | "javascript"
                    | "js"
                    | "text/javascript"
                    | "application/javascript"
                    | "ecmascript"
                    | "text/x-rhai"
            );
            if script.as_ref().is_none_or(|s| s.text.trim().is_empty())
                && activity.starweave().is_none()
            {
                self.report(
                    Diagnostic::error(
                        "bpmn.script-missing",
                        "script task has no script: write one inline or bind it to a function",
                    ),
                    activity.base.id(),
                );
            } else if !known && script.is_some() {
                self.report(
                    Diagnostic::error(
                        "bpmn.script-format",
                        format!(
                            "script format `{format}` cannot run here; use `rhai` or `javascript`"
                        ),
                    ),
                    activity.base.id(),
                );
            }
        }
    }

    /// A cycle (strongly connected component) that no path leaves traps every run that enters it.
    fn check_cycles(&mut self, graph: &Graph<'a>) {
        for component in graph.strongly_connected_components() {
            let is_cycle = component.len() > 1
                || graph.outgoing[component[0]]
                    .iter()
                    .any(|&f| graph.flows[f].target == Some(component[0]));
            if !is_cycle {
                continue;
            }
            let members: HashSet<usize> = component.iter().copied().collect();
            let has_exit = component.iter().any(|&n| {
                graph.nodes[n].has_boundary
                    || graph.outgoing[n]
                        .iter()
                        .any(|&f| graph.flows[f].target.is_some_and(|t| !members.contains(&t)))
            });
            if !has_exit {
                let mut ids: Vec<&str> = component.iter().map(|&n| graph.nodes[n].id).collect();
                ids.sort_unstable();
                let first = ids[0];
                self.report(
                    Diagnostic::error(
                        "bpmn.cycle-without-exit",
                        format!(
                            "the loop through {} has no way out: a run that enters it never ends",
                            ids.iter()
                                .map(|i| format!("`{i}`"))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                    first,
                );
            }
        }
    }

    fn check_diagram(&mut self, defs: &'a Definitions) {
        for diagram in &defs.diagrams {
            let Some(plane) = &diagram.plane else {
                continue;
            };
            for element in &plane.elements {
                let (di_id, target) = match element {
                    DiagramElement::Shape(s) => (s.id.as_deref(), s.bpmn_element.as_deref()),
                    DiagramElement::Edge(e) => (e.id.as_deref(), e.bpmn_element.as_deref()),
                };
                if let Some(target) = target
                    && self.kind_of(target).is_none()
                    && self.source_map.pos(target).is_none()
                    && defs.base.id.as_deref().is_none_or(|id| id != target)
                {
                    let diag = Diagnostic::warning(
                        "bpmn.di-unknown-element",
                        format!("the diagram draws `{target}`, which is not in the model"),
                    );
                    match di_id {
                        Some(id) => self.report(diag, id),
                        None => self.diags.push(diag),
                    }
                }
            }
        }
    }
}

fn describe(kind: IdKind) -> &'static str {
    match kind {
        IdKind::FlowNode => "a flow node",
        IdKind::Activity => "an activity",
        IdKind::SequenceFlow => "a sequence flow",
        IdKind::Error => "an error",
        IdKind::Message => "a message",
        IdKind::Signal => "a signal",
        IdKind::Escalation => "an escalation",
        IdKind::Process => "a process",
        IdKind::Other => "an element of that kind",
    }
}

/// A node of one container's sequence-flow graph.
#[derive(Debug)]
struct Node<'a> {
    id: &'a str,
    kind: &'static str,
    name: Option<&'a str>,
    is_start: bool,
    is_boundary: bool,
    /// A boundary event's host activity id.
    host: Option<&'a str>,
    /// An element that may not end a path: gateways, intermediate events, start events.
    must_continue: bool,
    /// Has boundary events attached (an error or timer can leave a cycle through them).
    has_boundary: bool,
    /// An event sub-process: started by its event, not by flows.
    is_event_sub_process: bool,
}

impl Node<'_> {
    fn label(&self) -> String {
        match self.name {
            Some(name) if !name.trim().is_empty() => format!("{} `{}`", self.kind, name.trim()),
            _ => format!("{} `{}`", self.kind, self.id),
        }
    }
}

#[derive(Debug)]
struct Flow<'a> {
    id: &'a str,
    source: Option<usize>,
    target: Option<usize>,
    has_condition: bool,
}

#[derive(Debug)]
struct Graph<'a> {
    nodes: Vec<Node<'a>>,
    index: HashMap<&'a str, usize>,
    flows: Vec<Flow<'a>>,
    outgoing: Vec<Vec<usize>>,
    incoming: Vec<Vec<usize>>,
}

impl<'a> Graph<'a> {
    fn build(elements: &'a [FlowElement]) -> Self {
        let mut nodes = Vec::new();
        let mut index = HashMap::new();
        for element in elements {
            let node = match element {
                FlowElement::Event(e) => Node {
                    id: e.base.id(),
                    kind: match e.kind {
                        EventKind::Start => "start event",
                        EventKind::End => "end event",
                        EventKind::IntermediateCatch => "intermediate catch event",
                        EventKind::IntermediateThrow => "intermediate throw event",
                        EventKind::Boundary => "boundary event",
                    },
                    name: e.name.as_deref(),
                    is_start: e.kind == EventKind::Start,
                    is_boundary: e.kind == EventKind::Boundary,
                    host: e.attached_to_ref.as_deref(),
                    must_continue: !matches!(e.kind, EventKind::End)
                        && !is_link_or_terminating_throw(e),
                    has_boundary: false,
                    is_event_sub_process: false,
                },
                FlowElement::Activity(a) => Node {
                    id: a.base.id(),
                    kind: activity_label(&a.kind),
                    name: a.name.as_deref(),
                    is_start: false,
                    is_boundary: false,
                    host: None,
                    must_continue: false,
                    has_boundary: false,
                    is_event_sub_process: a
                        .sub_process()
                        .is_some_and(|s| s.triggered_by_event == Some(true))
                        || a.is_for_compensation == Some(true),
                },
                FlowElement::Gateway(g) => Node {
                    id: g.base.id(),
                    kind: "gateway",
                    name: g.name.as_deref(),
                    is_start: false,
                    is_boundary: false,
                    host: None,
                    must_continue: true,
                    has_boundary: false,
                    is_event_sub_process: false,
                },
                _ => continue,
            };
            if node.id.is_empty() || index.contains_key(node.id) {
                continue;
            }
            index.insert(node.id, nodes.len());
            nodes.push(node);
        }
        let hosts: Vec<&str> = nodes.iter().filter_map(|n| n.host).collect();
        for host in hosts {
            if let Some(&i) = index.get(host) {
                nodes[i].has_boundary = true;
            }
        }
        let mut flows = Vec::new();
        let mut outgoing = vec![Vec::new(); nodes.len()];
        let mut incoming = vec![Vec::new(); nodes.len()];
        for element in elements {
            if let FlowElement::SequenceFlow(f) = element {
                let source = index.get(f.source_ref.as_str()).copied();
                let target = index.get(f.target_ref.as_str()).copied();
                let fi = flows.len();
                if let Some(s) = source {
                    outgoing[s].push(fi);
                }
                if let Some(t) = target {
                    incoming[t].push(fi);
                }
                flows.push(Flow {
                    id: f.base.id(),
                    source,
                    target,
                    has_condition: f.condition_expression.is_some(),
                });
            }
        }
        Graph {
            nodes,
            index,
            flows,
            outgoing,
            incoming,
        }
    }

    fn reachable_from(&self, entries: &[usize]) -> Vec<bool> {
        let mut reached = vec![false; self.nodes.len()];
        let mut stack: Vec<usize> = entries.to_vec();
        // Boundary events by host, so reaching a host reaches its boundary events.
        let mut boundaries: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(host) = n.host {
                boundaries.entry(host).or_default().push(i);
            }
        }
        while let Some(n) = stack.pop() {
            if std::mem::replace(&mut reached[n], true) {
                continue;
            }
            for &f in &self.outgoing[n] {
                if let Some(t) = self.flows[f].target
                    && !reached[t]
                {
                    stack.push(t);
                }
            }
            if let Some(bs) = boundaries.get(self.nodes[n].id) {
                stack.extend(bs.iter().copied().filter(|&b| !reached[b]));
            }
        }
        reached
    }

    /// Tarjan's algorithm, iterative so deep graphs cannot overflow the stack.
    fn strongly_connected_components(&self) -> Vec<Vec<usize>> {
        let n = self.nodes.len();
        let mut index = vec![usize::MAX; n];
        let mut low = vec![0usize; n];
        let mut on_stack = vec![false; n];
        let mut stack = Vec::new();
        let mut components = Vec::new();
        let mut next = 0usize;
        for root in 0..n {
            if index[root] != usize::MAX {
                continue;
            }
            // (node, position in its outgoing list)
            let mut work = vec![(root, 0usize)];
            index[root] = next;
            low[root] = next;
            next += 1;
            stack.push(root);
            on_stack[root] = true;
            while let Some(&mut (v, ref mut pos)) = work.last_mut() {
                if let Some(&f) = self.outgoing[v].get(*pos) {
                    *pos += 1;
                    let Some(w) = self.flows[f].target else {
                        continue;
                    };
                    if index[w] == usize::MAX {
                        index[w] = next;
                        low[w] = next;
                        next += 1;
                        stack.push(w);
                        on_stack[w] = true;
                        work.push((w, 0));
                    } else if on_stack[w] {
                        low[v] = low[v].min(index[w]);
                    }
                } else {
                    work.pop();
                    if let Some(&(parent, _)) = work.last() {
                        low[parent] = low[parent].min(low[v]);
                    }
                    if low[v] == index[v] {
                        let mut component = Vec::new();
                        while let Some(w) = stack.pop() {
                            on_stack[w] = false;
                            component.push(w);
                            if w == v {
                                break;
                            }
                        }
                        components.push(component);
                    }
                }
            }
        }
        components
    }
}

fn is_link_or_terminating_throw(event: &crate::bpmn::Event) -> bool {
    event.kind == EventKind::IntermediateThrow
        && event
            .event_definitions
            .iter()
            .any(|d| matches!(d.kind, EventDefinitionKind::Link { .. }))
}

fn activity_label(kind: &ActivityKind) -> &'static str {
    match kind {
        ActivityKind::Task => "task",
        ActivityKind::ServiceTask => "service task",
        ActivityKind::ScriptTask { .. } => "script task",
        ActivityKind::SendTask { .. } => "send task",
        ActivityKind::ReceiveTask { .. } => "receive task",
        ActivityKind::UserTask => "user task",
        ActivityKind::ManualTask => "manual task",
        ActivityKind::BusinessRuleTask => "business rule task",
        ActivityKind::CallActivity { .. } => "call activity",
        ActivityKind::SubProcess(_) => "sub-process",
        ActivityKind::Transaction(_) => "transaction",
        ActivityKind::AdHocSubProcess(_) => "ad-hoc sub-process",
    }
}
