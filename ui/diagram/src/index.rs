//! A read-only index of a model: every element with an id, what it is, and where it lives
//! (process, sub-process, lane, pool). Scene building, connect rules and layout all ask
//! these questions, so they are answered once per call instead of by repeated tree walks.

use std::collections::HashMap;

use starweave_model::bpmn::{
    ActivityKind, Artifact, DataAssociation, Definitions, EventDefinitionKind, EventKind,
    FlowElement, GatewayKind, Lane, LaneSet, MessageFlow, Participant, Process, RootElement,
    Unknown, XmlNode,
};

/// What an id names.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Elem<'a> {
    Flow(&'a FlowElement),
    Artifact(&'a Artifact),
    Participant(&'a Participant),
    Lane(&'a Lane),
    MessageFlow(&'a MessageFlow),
    /// A data association; `owner` is the activity or event that holds it.
    DataAssoc {
        assoc: &'a DataAssociation,
        owner: &'a str,
        input: bool,
    },
    Process(&'a Process),
    /// An element Starweave keeps as generic XML (e.g. `dataInput`), by local name.
    Other(&'a str),
}

/// An indexed element and its place in the model.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Entry<'a> {
    pub elem: Elem<'a>,
    /// The process the element belongs to (for participants: the process they show).
    pub process: Option<&'a str>,
    /// The sub-process directly containing it; `None` at process level.
    pub container: Option<&'a str>,
    /// For lanes: the lane whose child lane set holds it.
    pub parent_lane: Option<&'a str>,
}

#[derive(Debug, Default)]
pub(crate) struct Index<'a> {
    pub map: HashMap<&'a str, Entry<'a>>,
    /// Flow node id → the deepest lane listing it.
    pub lane_of: HashMap<&'a str, &'a str>,
    /// Process id → the participant showing it.
    pub participant_of: HashMap<&'a str, &'a str>,
    /// Category value id → its value text (group labels).
    pub category_values: HashMap<&'a str, &'a str>,
}

impl<'a> Index<'a> {
    pub fn new(defs: &'a Definitions) -> Self {
        let mut ix = Index::default();
        for root in &defs.root_elements {
            match root {
                RootElement::Process(p) => {
                    let pid = p.base.id();
                    ix.insert(
                        pid,
                        Entry {
                            elem: Elem::Process(p),
                            process: Some(pid),
                            container: None,
                            parent_lane: None,
                        },
                    );
                    ix.lane_sets(&p.lane_sets, pid, None, None);
                    ix.flow_elements(&p.flow_elements, pid, None);
                    ix.artifacts(&p.artifacts, Some(pid), None);
                    ix.unknown(&p.base.unknown, Some(pid), None);
                }
                RootElement::Collaboration(c) => {
                    for part in &c.participants {
                        if let Some(pr) = part.process_ref.as_deref() {
                            ix.participant_of.insert(pr, part.base.id());
                        }
                        ix.insert(
                            part.base.id(),
                            Entry {
                                elem: Elem::Participant(part),
                                process: part.process_ref.as_deref(),
                                container: None,
                                parent_lane: None,
                            },
                        );
                    }
                    for mf in &c.message_flows {
                        ix.insert(
                            mf.base.id(),
                            Entry {
                                elem: Elem::MessageFlow(mf),
                                process: None,
                                container: None,
                                parent_lane: None,
                            },
                        );
                    }
                    ix.artifacts(&c.artifacts, None, None);
                }
                _ => {}
            }
        }
        collect_category_values(&defs.base.unknown.children, &mut ix.category_values);
        ix
    }

    fn insert(&mut self, id: &'a str, entry: Entry<'a>) {
        if !id.is_empty() {
            self.map.entry(id).or_insert(entry);
        }
    }

    fn lane_sets(
        &mut self,
        sets: &'a [LaneSet],
        pid: &'a str,
        container: Option<&'a str>,
        parent: Option<&'a str>,
    ) {
        for set in sets {
            for lane in &set.lanes {
                let id = lane.base.id();
                self.insert(
                    id,
                    Entry {
                        elem: Elem::Lane(lane),
                        process: Some(pid),
                        container,
                        parent_lane: parent,
                    },
                );
                // Deeper lanes are visited later and overwrite: the deepest lane wins.
                for node in &lane.flow_node_refs {
                    self.lane_of.insert(node.as_str(), id);
                }
                if let Some(child) = &lane.child_lane_set {
                    self.lane_sets(std::slice::from_ref(child), pid, container, Some(id));
                }
            }
        }
    }

    fn flow_elements(&mut self, elements: &'a [FlowElement], pid: &'a str, sub: Option<&'a str>) {
        for el in elements {
            let entry = Entry {
                elem: Elem::Flow(el),
                process: Some(pid),
                container: sub,
                parent_lane: None,
            };
            self.insert(el.id(), entry);
            match el {
                FlowElement::Activity(a) => {
                    self.assocs(&a.data_input_associations, el.id(), true, pid, sub);
                    self.assocs(&a.data_output_associations, el.id(), false, pid, sub);
                    self.unknown(&a.base.unknown, Some(pid), sub);
                    if let Some(s) = a.sub_process() {
                        self.lane_sets(&s.lane_sets, pid, Some(el.id()), None);
                        self.flow_elements(&s.flow_elements, pid, Some(el.id()));
                        self.artifacts(&s.artifacts, Some(pid), Some(el.id()));
                    }
                }
                FlowElement::Event(e) => {
                    self.assocs(&e.data_input_associations, el.id(), true, pid, sub);
                    self.assocs(&e.data_output_associations, el.id(), false, pid, sub);
                }
                _ => {}
            }
        }
    }

    fn assocs(
        &mut self,
        assocs: &'a [DataAssociation],
        owner: &'a str,
        input: bool,
        pid: &'a str,
        sub: Option<&'a str>,
    ) {
        for assoc in assocs {
            self.insert(
                assoc.base.id(),
                Entry {
                    elem: Elem::DataAssoc {
                        assoc,
                        owner,
                        input,
                    },
                    process: Some(pid),
                    container: sub,
                    parent_lane: None,
                },
            );
        }
    }

    fn artifacts(&mut self, artifacts: &'a [Artifact], pid: Option<&'a str>, sub: Option<&'a str>) {
        for a in artifacts {
            self.insert(
                a.base().id(),
                Entry {
                    elem: Elem::Artifact(a),
                    process: pid,
                    container: sub,
                    parent_lane: None,
                },
            );
        }
    }

    /// Elements kept as generic XML (ioSpecification's data inputs and outputs) can be drawn.
    fn unknown(&mut self, unknown: &'a Unknown, pid: Option<&'a str>, sub: Option<&'a str>) {
        let mut stack: Vec<&'a XmlNode> = unknown.children.iter().collect();
        while let Some(node) = stack.pop() {
            if let XmlNode::Element(el) = node {
                if let Some(id) = el
                    .attributes
                    .iter()
                    .find(|a| a.local_name == "id" && a.namespace.is_none())
                {
                    self.insert(
                        id.value.as_str(),
                        Entry {
                            elem: Elem::Other(el.local_name.as_str()),
                            process: pid,
                            container: sub,
                            parent_lane: None,
                        },
                    );
                }
                stack.extend(el.children.iter());
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<&Entry<'a>> {
        self.map.get(id)
    }
}

fn collect_category_values<'a>(nodes: &'a [XmlNode], out: &mut HashMap<&'a str, &'a str>) {
    for node in nodes {
        if let XmlNode::Element(el) = node {
            if el.local_name == "categoryValue" {
                let id = el.attributes.iter().find(|a| a.local_name == "id");
                let value = el.attributes.iter().find(|a| a.local_name == "value");
                if let (Some(id), Some(value)) = (id, value) {
                    out.insert(id.value.as_str(), value.value.as_str());
                }
            }
            collect_category_values(&el.children, out);
        }
    }
}

/// The BPMN type name of an element.
pub(crate) fn kind_of(elem: Elem<'_>) -> String {
    match elem {
        Elem::Flow(f) => flow_kind(f).to_owned(),
        Elem::Artifact(Artifact::TextAnnotation(_)) => "textAnnotation".into(),
        Elem::Artifact(Artifact::Association(_)) => "association".into(),
        Elem::Artifact(Artifact::Group(_)) => "group".into(),
        Elem::Participant(_) => "participant".into(),
        Elem::Lane(_) => "lane".into(),
        Elem::MessageFlow(_) => "messageFlow".into(),
        Elem::DataAssoc { input: true, .. } => "dataInputAssociation".into(),
        Elem::DataAssoc { input: false, .. } => "dataOutputAssociation".into(),
        Elem::Process(_) => "process".into(),
        Elem::Other(name) => name.to_owned(),
    }
}

pub(crate) fn flow_kind(f: &FlowElement) -> &'static str {
    match f {
        FlowElement::Event(e) => event_kind_name(e.kind),
        FlowElement::Activity(a) => activity_kind_name(&a.kind),
        FlowElement::Gateway(g) => gateway_kind_name(g.kind),
        FlowElement::SequenceFlow(_) => "sequenceFlow",
        FlowElement::DataObject(_) => "dataObject",
        FlowElement::DataObjectReference(_) => "dataObjectReference",
        FlowElement::DataStoreReference(_) => "dataStoreReference",
    }
}

pub(crate) fn event_kind_name(k: EventKind) -> &'static str {
    match k {
        EventKind::Start => "startEvent",
        EventKind::End => "endEvent",
        EventKind::IntermediateCatch => "intermediateCatchEvent",
        EventKind::IntermediateThrow => "intermediateThrowEvent",
        EventKind::Boundary => "boundaryEvent",
    }
}

pub(crate) fn activity_kind_name(k: &ActivityKind) -> &'static str {
    match k {
        ActivityKind::Task => "task",
        ActivityKind::ServiceTask => "serviceTask",
        ActivityKind::ScriptTask { .. } => "scriptTask",
        ActivityKind::SendTask { .. } => "sendTask",
        ActivityKind::ReceiveTask { .. } => "receiveTask",
        ActivityKind::UserTask => "userTask",
        ActivityKind::ManualTask => "manualTask",
        ActivityKind::BusinessRuleTask => "businessRuleTask",
        ActivityKind::CallActivity { .. } => "callActivity",
        ActivityKind::SubProcess(_) => "subProcess",
        ActivityKind::Transaction(_) => "transaction",
        ActivityKind::AdHocSubProcess(_) => "adHocSubProcess",
    }
}

pub(crate) fn gateway_kind_name(k: GatewayKind) -> &'static str {
    match k {
        GatewayKind::Exclusive => "exclusiveGateway",
        GatewayKind::Parallel => "parallelGateway",
        GatewayKind::Inclusive => "inclusiveGateway",
        GatewayKind::EventBased => "eventBasedGateway",
        GatewayKind::Complex => "complexGateway",
    }
}

/// The trigger icon of an event definition, as a notation name.
pub(crate) fn definition_name(k: &EventDefinitionKind) -> &'static str {
    match k {
        EventDefinitionKind::Cancel => "cancel",
        EventDefinitionKind::Compensate { .. } => "compensation",
        EventDefinitionKind::Conditional { .. } => "conditional",
        EventDefinitionKind::Error { .. } => "error",
        EventDefinitionKind::Escalation { .. } => "escalation",
        EventDefinitionKind::Link { .. } => "link",
        EventDefinitionKind::Message { .. } => "message",
        EventDefinitionKind::Signal { .. } => "signal",
        EventDefinitionKind::Terminate => "terminate",
        EventDefinitionKind::Timer { .. } => "timer",
    }
}
