//! The typed BPMN 2.0 model: the executable subset in typed form, everything else as
//! generic XML kept on the nearest owning element so that a round trip loses nothing.
//!
//! Positions are deliberately absent (they live in [`super::SourceMap`]) so that a model
//! read from a file compares equal to the same model read from its re-export.

use serde::{Deserialize, Serialize};

use super::starweave::StarweaveTask;
use super::xml::{XmlAttribute, XmlNode};

/// Attributes and children Starweave does not model, kept verbatim so they are written back.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Unknown {
    /// Attributes in document order, including `xmlns` declarations on inner elements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<XmlAttribute>,
    /// Child elements, comments, CDATA and stray text, in document order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<XmlNode>,
}

impl Unknown {
    /// Whether nothing unknown was found, so serialised models stay short.
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.children.is_empty()
    }
}

/// What every BPMN element has: an id, documentation, extension elements and whatever
/// else the file carried that Starweave does not model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BaseElement {
    /// The `id` attribute; required on flow elements, optional elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// `documentation` children, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub documentation: Vec<Documentation>,
    /// The `extensionElements` child, where Starweave and other vendors keep their data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_elements: Option<ExtensionElements>,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

impl BaseElement {
    /// A base with just an id, the common case when building models in code.
    pub fn with_id(id: impl Into<String>) -> Self {
        BaseElement {
            id: Some(id.into()),
            ..Default::default()
        }
    }

    /// The id, or the empty string when the element has none (a diagnostic was reported).
    pub fn id(&self) -> &str {
        self.id.as_deref().unwrap_or("")
    }
}

/// A `documentation` element: free text for humans.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Documentation {
    /// Optional id of the documentation element itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// MIME type of the text (`textFormat`), `text/plain` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    /// The text exactly as written (CDATA and text joined).
    pub text: String,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// The `extensionElements` container: Starweave's typed binding plus every other vendor's data.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ExtensionElements {
    /// The `sw:task` binding, when present (see the module docs for its XML).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starweave: Option<StarweaveTask>,
    /// Other vendors' extensions (camunda:, zeebe:, signavio: …) and attributes, verbatim.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// A namespace declaration of the root element, kept so the writer reuses the file's prefixes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamespaceDecl {
    /// The prefix; empty for the default namespace (`xmlns="…"`).
    pub prefix: String,
    /// The namespace URI.
    pub uri: String,
}

/// The root of a BPMN file: root elements (processes, collaborations, messages …) and diagrams.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Definitions {
    /// Id, documentation, extensions and unknown parts (unknown root elements such as
    /// `interface` or `import` end up in `base.unknown.children`).
    pub base: BaseElement,
    /// Optional human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `targetNamespace`, required by the schema but often meaningless.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Default language of expressions (`expressionLanguage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression_language: Option<String>,
    /// Default type system (`typeLanguage`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub type_language: Option<String>,
    /// Tool that wrote the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter: Option<String>,
    /// Version of that tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exporter_version: Option<String>,
    /// The root's namespace declarations in document order; empty for models built in code
    /// (the writer then uses `bpmn`, `bpmndi`, `dc`, `di`, `xsi` and `sw`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<NamespaceDecl>,
    /// Processes, collaborations, messages, errors, signals … in document order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub root_elements: Vec<RootElement>,
    /// Diagram interchange: how the model is drawn.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diagrams: Vec<Diagram>,
}

/// A top-level element of `definitions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum RootElement {
    /// A process: the executable graph.
    Process(Process),
    /// Pools and message flows between them.
    Collaboration(Collaboration),
    /// A message declaration.
    Message(Message),
    /// An error declaration (`error`).
    Error(ErrorDeclaration),
    /// A signal declaration.
    Signal(Signal),
    /// An escalation declaration.
    Escalation(Escalation),
    /// A data type declaration.
    ItemDefinition(ItemDefinition),
    /// A persistent data store declaration.
    DataStore(DataStore),
}

impl RootElement {
    /// The common part of every root element.
    pub fn base(&self) -> &BaseElement {
        match self {
            RootElement::Process(x) => &x.base,
            RootElement::Collaboration(x) => &x.base,
            RootElement::Message(x) => &x.base,
            RootElement::Error(x) => &x.base,
            RootElement::Signal(x) => &x.base,
            RootElement::Escalation(x) => &x.base,
            RootElement::ItemDefinition(x) => &x.base,
            RootElement::DataStore(x) => &x.base,
        }
    }

    /// The id, or `""` when missing.
    pub fn id(&self) -> &str {
        self.base().id()
    }
}

/// A process: lanes, flow elements and artifacts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Process {
    /// Id, documentation, extensions, unknown parts (e.g. `ioSpecification`, `property`).
    pub base: BaseElement,
    /// Optional human name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `isExecutable` as written; validation applies executability checks only when `true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_executable: Option<bool>,
    /// Lane sets (swimlanes), which reference flow nodes by id.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lane_sets: Vec<LaneSet>,
    /// Events, activities, gateways, sequence flows and data elements, in document order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow_elements: Vec<FlowElement>,
    /// Text annotations, associations and groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
}

impl Process {
    /// Every flow element of the process and, recursively, of its sub-processes,
    /// parents before children — what graph validation walks.
    pub fn all_flow_elements(&self) -> Vec<&FlowElement> {
        let mut out = Vec::new();
        collect_flow_elements(&self.flow_elements, &mut out);
        out
    }
}

fn collect_flow_elements<'a>(elements: &'a [FlowElement], out: &mut Vec<&'a FlowElement>) {
    for element in elements {
        out.push(element);
        if let Some(sub) = element.sub_process() {
            collect_flow_elements(&sub.flow_elements, out);
        }
    }
}

/// A set of lanes partitioning a process or a lane.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LaneSet {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The lanes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lanes: Vec<Lane>,
}

/// A lane: a named subset of the flow nodes, possibly split further.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Lane {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional name shown in the lane header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `partitionElementRef`, when the lane stands for a resource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_element_ref: Option<String>,
    /// Ids of the flow nodes in this lane (`flowNodeRef`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow_node_refs: Vec<String>,
    /// Nested lanes (`childLaneSet`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub child_lane_set: Option<LaneSet>,
}

/// A flow element: something inside a process or sub-process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum FlowElement {
    /// Start, end, intermediate or boundary event.
    Event(Event),
    /// Task, call activity or sub-process.
    Activity(Activity),
    /// Exclusive, parallel, inclusive, event-based or complex gateway.
    Gateway(Gateway),
    /// A directed edge between two flow nodes.
    SequenceFlow(SequenceFlow),
    /// A data object (a variable of the process).
    DataObject(DataObject),
    /// A reference to a data object, the thing drawn on the canvas.
    DataObjectReference(DataObjectReference),
    /// A reference to a data store.
    DataStoreReference(DataStoreReference),
}

impl FlowElement {
    /// The common part of every flow element.
    pub fn base(&self) -> &BaseElement {
        match self {
            FlowElement::Event(x) => &x.base,
            FlowElement::Activity(x) => &x.base,
            FlowElement::Gateway(x) => &x.base,
            FlowElement::SequenceFlow(x) => &x.base,
            FlowElement::DataObject(x) => &x.base,
            FlowElement::DataObjectReference(x) => &x.base,
            FlowElement::DataStoreReference(x) => &x.base,
        }
    }

    /// The id, or `""` when missing (the reader reported it).
    pub fn id(&self) -> &str {
        self.base().id()
    }

    /// The name, when the element has one.
    pub fn name(&self) -> Option<&str> {
        match self {
            FlowElement::Event(x) => x.name.as_deref(),
            FlowElement::Activity(x) => x.name.as_deref(),
            FlowElement::Gateway(x) => x.name.as_deref(),
            FlowElement::SequenceFlow(x) => x.name.as_deref(),
            FlowElement::DataObject(x) => x.name.as_deref(),
            FlowElement::DataObjectReference(x) => x.name.as_deref(),
            FlowElement::DataStoreReference(x) => x.name.as_deref(),
        }
    }

    /// Whether this is a flow node (event, activity or gateway) that sequence flows connect.
    pub fn is_flow_node(&self) -> bool {
        matches!(
            self,
            FlowElement::Event(_) | FlowElement::Activity(_) | FlowElement::Gateway(_)
        )
    }

    /// The contents of a sub-process, transaction or ad-hoc sub-process.
    pub fn sub_process(&self) -> Option<&SubProcess> {
        match self {
            FlowElement::Activity(a) => a.sub_process(),
            _ => None,
        }
    }
}

/// Which kind of event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    /// `startEvent`.
    Start,
    /// `endEvent`.
    End,
    /// `intermediateCatchEvent`.
    IntermediateCatch,
    /// `intermediateThrowEvent`.
    IntermediateThrow,
    /// `boundaryEvent`, attached to an activity.
    Boundary,
}

/// An event of any kind; kind-specific fields are `None` where they do not apply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// Start, end, intermediate catch/throw or boundary.
    pub kind: EventKind,
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Incoming sequence flow ids as written (`incoming` is optional in files).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incoming: Vec<String>,
    /// Outgoing sequence flow ids as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outgoing: Vec<String>,
    /// Event definitions; none means a "none" event, several a multiple event.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_definitions: Vec<EventDefinition>,
    /// References to event definitions declared at the root (`eventDefinitionRef`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_definition_refs: Vec<String>,
    /// Start events of event sub-processes: `isInterrupting`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_interrupting: Option<bool>,
    /// Catch events: `parallelMultiple`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parallel_multiple: Option<bool>,
    /// Boundary events: the activity they are attached to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attached_to_ref: Option<String>,
    /// Boundary events: whether the activity is interrupted (`cancelActivity`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancel_activity: Option<bool>,
    /// Throw events: data passed in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_input_associations: Vec<DataAssociation>,
    /// Catch events: data passed out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_output_associations: Vec<DataAssociation>,
}

impl Event {
    /// An event of `kind` with just an id, for models built in code.
    pub fn new(kind: EventKind, id: impl Into<String>) -> Self {
        Event {
            kind,
            base: BaseElement::with_id(id),
            name: None,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            event_definitions: Vec::new(),
            event_definition_refs: Vec::new(),
            is_interrupting: None,
            parallel_multiple: None,
            attached_to_ref: None,
            cancel_activity: None,
            data_input_associations: Vec::new(),
            data_output_associations: Vec::new(),
        }
    }
}

/// An event definition: what triggers or is thrown by an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventDefinition {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Which trigger, with its data.
    pub kind: EventDefinitionKind,
}

/// The trigger of an event. Definitions Starweave does not know stay generic XML.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EventDefinitionKind {
    /// Transaction cancellation.
    Cancel,
    /// Compensation of an activity (or of everything when `activity_ref` is absent).
    Compensate {
        /// The activity to compensate.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        activity_ref: Option<String>,
        /// `waitForCompletion`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_for_completion: Option<bool>,
    },
    /// A condition becoming true.
    Conditional {
        /// The condition.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        condition: Option<Expression>,
    },
    /// A BPMN error.
    Error {
        /// The `error` root element thrown or caught.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_ref: Option<String>,
    },
    /// An escalation.
    Escalation {
        /// The `escalation` root element.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        escalation_ref: Option<String>,
    },
    /// A go-to within a process level.
    Link {
        /// The link name pairing throw and catch.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// `source` children: throwing link definitions.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        sources: Vec<String>,
        /// `target` child: the catching link definition.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<String>,
    },
    /// A message.
    Message {
        /// The `message` root element.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_ref: Option<String>,
        /// The operation (`operationRef`), for WSDL-style services.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operation_ref: Option<String>,
    },
    /// A broadcast signal.
    Signal {
        /// The `signal` root element.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        signal_ref: Option<String>,
    },
    /// Ends the whole process instance.
    Terminate,
    /// A timer: exactly one of date, duration or cycle in valid files.
    Timer {
        /// `timeDate`: an ISO 8601 date-time.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_date: Option<Expression>,
        /// `timeDuration`: an ISO 8601 duration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_duration: Option<Expression>,
        /// `timeCycle`: an ISO 8601 repeating interval or a cron expression.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        time_cycle: Option<Expression>,
    },
}

/// An expression element (`conditionExpression`, `timeDuration`, `completionCondition` …).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Expression {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// `xsi:type` exactly as written (e.g. `bpmn:tFormalExpression`, `tFormalExpression`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub xsi_type: Option<String>,
    /// `language` (e.g. `rhai`, `javascript`, a URI); the definitions' default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The expression text exactly as written (CDATA and text joined).
    pub body: String,
}

impl Expression {
    /// A formal expression with a body and optional language, as Starweave writes conditions.
    pub fn formal(body: impl Into<String>, language: Option<&str>) -> Self {
        Expression {
            base: BaseElement::default(),
            xsi_type: Some("bpmn:tFormalExpression".to_owned()),
            language: language.map(str::to_owned),
            body: body.into(),
        }
    }
}

/// Which kind of activity, with its kind-specific data.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ActivityKind {
    /// `task`: does nothing by itself (a placeholder or a Starweave-bound step).
    Task,
    /// `serviceTask`: calls a connector method or function (see `sw:task`).
    ServiceTask,
    /// `scriptTask` with an inline script.
    ScriptTask {
        /// `scriptFormat`, e.g. `rhai` or `javascript`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        script_format: Option<String>,
        /// The inline `script` child.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        script: Option<Script>,
    },
    /// `sendTask`.
    SendTask {
        /// The message sent.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_ref: Option<String>,
    },
    /// `receiveTask`.
    ReceiveTask {
        /// The message awaited.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message_ref: Option<String>,
        /// Whether receiving starts a new instance (`instantiate`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        instantiate: Option<bool>,
    },
    /// `userTask`.
    UserTask,
    /// `manualTask`.
    ManualTask,
    /// `businessRuleTask`.
    BusinessRuleTask,
    /// `callActivity`: calls another process (a BPMN function) or global task.
    CallActivity {
        /// `calledElement`: the id of what is called.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        called_element: Option<String>,
    },
    /// `subProcess` (an event sub-process when `triggered_by_event` is true).
    SubProcess(SubProcess),
    /// `transaction`: a sub-process with all-or-nothing semantics.
    Transaction(SubProcess),
    /// `adHocSubProcess`: activities run in any order.
    AdHocSubProcess(SubProcess),
}

/// An inline script (`script` child of a script task).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Script {
    /// The code exactly as written (CDATA and text joined).
    pub text: String,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// The inside of a sub-process, transaction or ad-hoc sub-process.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SubProcess {
    /// `triggeredByEvent`: an event sub-process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggered_by_event: Option<bool>,
    /// Ad-hoc only: `ordering` (`Parallel` or `Sequential`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ordering: Option<String>,
    /// Ad-hoc only: `completionCondition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_condition: Option<Expression>,
    /// Lane sets inside the sub-process.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lane_sets: Vec<LaneSet>,
    /// The nested flow elements.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub flow_elements: Vec<FlowElement>,
    /// Nested artifacts.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
}

/// A task, call activity or sub-process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    /// Which activity, with kind-specific data.
    pub kind: ActivityKind,
    /// Id, documentation, extensions (including the `sw:task` binding), unknown parts.
    pub base: BaseElement,
    /// Optional label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Incoming sequence flow ids as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incoming: Vec<String>,
    /// Outgoing sequence flow ids as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outgoing: Vec<String>,
    /// The outgoing flow taken when no condition holds (`default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// `isForCompensation`: only runs as a compensation handler.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_for_compensation: Option<bool>,
    /// Loop or multi-instance marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_characteristics: Option<LoopCharacteristics>,
    /// Data flowing into the activity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_input_associations: Vec<DataAssociation>,
    /// Data flowing out of the activity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub data_output_associations: Vec<DataAssociation>,
}

impl Activity {
    /// An activity of `kind` with just an id, for models built in code.
    pub fn new(kind: ActivityKind, id: impl Into<String>) -> Self {
        Activity {
            kind,
            base: BaseElement::with_id(id),
            name: None,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            default: None,
            is_for_compensation: None,
            loop_characteristics: None,
            data_input_associations: Vec::new(),
            data_output_associations: Vec::new(),
        }
    }

    /// Starweave's binding of this activity (`sw:task` in its extension elements).
    pub fn starweave(&self) -> Option<&StarweaveTask> {
        self.base.extension_elements.as_ref()?.starweave.as_ref()
    }

    /// The contents when this is a sub-process, transaction or ad-hoc sub-process.
    pub fn sub_process(&self) -> Option<&SubProcess> {
        match &self.kind {
            ActivityKind::SubProcess(s)
            | ActivityKind::Transaction(s)
            | ActivityKind::AdHocSubProcess(s) => Some(s),
            _ => None,
        }
    }
}

/// A loop marker on an activity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum LoopCharacteristics {
    /// `standardLoopCharacteristics`: repeat while a condition holds.
    Standard(StandardLoop),
    /// `multiInstanceLoopCharacteristics`: one instance per item, sequential or parallel.
    MultiInstance(MultiInstance),
}

/// A standard loop.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StandardLoop {
    /// Id, documentation, extensions, unknown parts (`loopMaximum` stays here).
    pub base: BaseElement,
    /// `testBefore`: while-loop rather than do-while.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_before: Option<bool>,
    /// `loopCondition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_condition: Option<Expression>,
}

/// A multi-instance marker. Starweave's own collection binding lives in `sw:multiInstance`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MultiInstance {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// `isSequential`: one instance after the other (three bars horizontal otherwise).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_sequential: Option<bool>,
    /// `behavior` (`All`, `One`, `Complex`, `None`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub behavior: Option<String>,
    /// `loopCardinality`: number of instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_cardinality: Option<Expression>,
    /// `loopDataInputRef`: the collection iterated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_data_input_ref: Option<String>,
    /// `loopDataOutputRef`: the collection produced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loop_data_output_ref: Option<String>,
    /// `inputDataItem`: the per-instance item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_data_item: Option<DataItem>,
    /// `outputDataItem`: the per-instance result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_data_item: Option<DataItem>,
    /// `completionCondition`: stop early when true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completion_condition: Option<Expression>,
}

/// A data input or output declaration (`inputDataItem`, `outputDataItem`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataItem {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Variable name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The item definition describing its type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_subject_ref: Option<String>,
    /// `isCollection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_collection: Option<bool>,
}

/// Which kind of gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum GatewayKind {
    /// `exclusiveGateway`: first true condition wins.
    Exclusive,
    /// `parallelGateway`: fork or join all.
    Parallel,
    /// `inclusiveGateway`: every true condition.
    Inclusive,
    /// `eventBasedGateway`: first event wins.
    EventBased,
    /// `complexGateway`.
    Complex,
}

/// A gateway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gateway {
    /// Which gateway.
    pub kind: GatewayKind,
    /// Id, documentation, extensions, unknown parts (`gatewayDirection` stays here).
    pub base: BaseElement,
    /// Optional label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Incoming sequence flow ids as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub incoming: Vec<String>,
    /// Outgoing sequence flow ids as written.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub outgoing: Vec<String>,
    /// Exclusive, inclusive and complex gateways: the flow taken when no condition holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Complex gateways: `activationCondition`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub activation_condition: Option<Expression>,
}

impl Gateway {
    /// A gateway of `kind` with just an id, for models built in code.
    pub fn new(kind: GatewayKind, id: impl Into<String>) -> Self {
        Gateway {
            kind,
            base: BaseElement::with_id(id),
            name: None,
            incoming: Vec::new(),
            outgoing: Vec::new(),
            default: None,
            activation_condition: None,
        }
    }
}

/// A sequence flow: the order in which flow nodes run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SequenceFlow {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The id of the node the flow leaves (`sourceRef`, required).
    pub source_ref: String,
    /// The id of the node the flow enters (`targetRef`, required).
    pub target_ref: String,
    /// `isImmediate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_immediate: Option<bool>,
    /// The guard (`conditionExpression`), evaluated when leaving a gateway or activity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_expression: Option<Expression>,
}

/// A data object: a variable whose lifetime is the process instance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataObject {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The item definition describing its type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_subject_ref: Option<String>,
    /// `isCollection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_collection: Option<bool>,
}

/// A reference to a data object, drawn on the canvas (`dataObjectReference`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataObjectReference {
    /// Id, documentation, extensions, unknown parts (`dataState` stays here).
    pub base: BaseElement,
    /// Optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The referenced data object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_object_ref: Option<String>,
    /// The item definition describing its type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_subject_ref: Option<String>,
}

/// A reference to a data store (`dataStoreReference`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataStoreReference {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The referenced `dataStore` root element.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_store_ref: Option<String>,
    /// The item definition describing its type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_subject_ref: Option<String>,
}

/// A data input or output association: data moving between a data element and an activity/event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataAssociation {
    /// Id, documentation, extensions, unknown parts (`transformation`, `assignment` stay here).
    pub base: BaseElement,
    /// `sourceRef` children.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub source_refs: Vec<String>,
    /// `targetRef` child.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_ref: Option<String>,
}

/// An artifact: annotation, association or group. Artifacts never affect execution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum Artifact {
    /// A comment on the canvas.
    TextAnnotation(TextAnnotation),
    /// A dotted line linking an artifact to an element.
    Association(Association),
    /// A visual grouping.
    Group(Group),
}

impl Artifact {
    /// The common part of every artifact.
    pub fn base(&self) -> &BaseElement {
        match self {
            Artifact::TextAnnotation(x) => &x.base,
            Artifact::Association(x) => &x.base,
            Artifact::Group(x) => &x.base,
        }
    }
}

/// A text annotation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextAnnotation {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// `textFormat`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_format: Option<String>,
    /// The `text` child, exactly as written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// An association between two elements (usually an annotation and a node).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Association {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// `sourceRef` (required).
    pub source_ref: String,
    /// `targetRef` (required).
    pub target_ref: String,
    /// `associationDirection` (`None`, `One`, `Both`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub association_direction: Option<String>,
}

/// A group box.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// The category value naming the group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category_value_ref: Option<String>,
}

/// A collaboration: pools (participants) and the message flows between them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Collaboration {
    /// Id, documentation, extensions, unknown parts (conversations stay here).
    pub base: BaseElement,
    /// Optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub participants: Vec<Participant>,
    /// Messages exchanged between pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub message_flows: Vec<MessageFlow>,
    /// Annotations, associations and groups drawn over the pools.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<Artifact>,
}

/// A participant (pool).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Participant {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional name shown in the pool header.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The process inside the pool; absent for a black-box pool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_ref: Option<String>,
}

/// A message flow between pools.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MessageFlow {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Sender: a pool or a node in it (required).
    pub source_ref: String,
    /// Receiver: a pool or a node in it (required).
    pub target_ref: String,
    /// The message carried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_ref: Option<String>,
}

/// A message declaration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// The message name (what correlates senders and receivers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The payload type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_ref: Option<String>,
}

/// An error declaration (`error` root element).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ErrorDeclaration {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `errorCode`: what boundary events match on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// The payload type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure_ref: Option<String>,
}

/// A signal declaration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// The signal name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The payload type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure_ref: Option<String>,
}

/// An escalation declaration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Escalation {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// Optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `escalationCode`: what boundary events match on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalation_code: Option<String>,
    /// The payload type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure_ref: Option<String>,
}

/// A data type declaration (`itemDefinition`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ItemDefinition {
    /// Id, documentation, extensions, unknown parts.
    pub base: BaseElement,
    /// `itemKind` (`Information` or `Physical`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_kind: Option<String>,
    /// The type (`structureRef`), e.g. a JSON Schema or XSD type name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structure_ref: Option<String>,
    /// `isCollection`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_collection: Option<bool>,
}

/// A persistent data store declaration (`dataStore`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataStore {
    /// Id, documentation, extensions, unknown parts (`capacity` stays here).
    pub base: BaseElement,
    /// Optional name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `isUnlimited`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_unlimited: Option<bool>,
    /// The item definition describing its type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub item_subject_ref: Option<String>,
}

/// A diagram (`bpmndi:BPMNDiagram`): one drawing of (part of) the model.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Diagram {
    /// Optional id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Optional name (tab title in editors).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Optional `documentation` attribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub documentation: Option<String>,
    /// The plane holding shapes and edges.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plane: Option<Plane>,
    /// Label styles (fonts) referenced by labels.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub label_styles: Vec<LabelStyle>,
    /// Unmodelled attributes (e.g. `resolution`) and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// The plane of a diagram: the canvas of one process or collaboration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Plane {
    /// Optional id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The process, collaboration or sub-process drawn (`bpmnElement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpmn_element: Option<String>,
    /// Shapes and edges in drawing order (later ones are on top).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub elements: Vec<DiagramElement>,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// A shape or an edge on a plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum DiagramElement {
    /// A node drawn as a box (`BPMNShape`).
    Shape(Shape),
    /// A connection drawn as a polyline (`BPMNEdge`).
    Edge(Edge),
}

/// A rectangle in diagram coordinates.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Bounds {
    /// Left.
    pub x: f64,
    /// Top.
    pub y: f64,
    /// Width.
    pub width: f64,
    /// Height.
    pub height: f64,
}

/// A point in diagram coordinates (an edge waypoint).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Horizontal.
    pub x: f64,
    /// Vertical.
    pub y: f64,
}

/// A shape: where a flow node, pool, lane, data element or artifact is drawn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Shape {
    /// Optional id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model element drawn (`bpmnElement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpmn_element: Option<String>,
    /// Pools and lanes: horizontal orientation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_horizontal: Option<bool>,
    /// Sub-processes: drawn expanded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_expanded: Option<bool>,
    /// Exclusive gateways: draw the X marker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_marker_visible: Option<bool>,
    /// Choreography participant bands: message icon visible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_message_visible: Option<bool>,
    /// The box (required by the schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<Bounds>,
    /// Where the label is drawn, when not the default place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// Unmodelled attributes (bioc:stroke, color:background-color …) and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// An edge: where a sequence flow, message flow, association or data association is drawn.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Edge {
    /// Optional id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The model element drawn (`bpmnElement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bpmn_element: Option<String>,
    /// The diagram element the edge starts at (`sourceElement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_element: Option<String>,
    /// The diagram element the edge ends at (`targetElement`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_element: Option<String>,
    /// The polyline.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waypoints: Vec<Point>,
    /// Where the label is drawn.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<Label>,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// A label of a shape or edge (`BPMNLabel`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Label {
    /// Optional id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The `BPMNLabelStyle` used (`labelStyle`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_style: Option<String>,
    /// Where the text goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bounds: Option<Bounds>,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// A label style (`BPMNLabelStyle`): the font of labels that reference it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LabelStyle {
    /// Optional id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The font.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font: Option<Font>,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

/// A font (`dc:Font`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Font {
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Size in points.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<f64>,
    /// Bold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_bold: Option<bool>,
    /// Italic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_italic: Option<bool>,
    /// Underlined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_underline: Option<bool>,
    /// Struck through.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_strike_through: Option<bool>,
    /// Unmodelled attributes and children.
    #[serde(default, skip_serializing_if = "Unknown::is_empty")]
    pub unknown: Unknown,
}

impl Definitions {
    /// The processes, in document order.
    pub fn processes(&self) -> impl Iterator<Item = &Process> {
        self.root_elements.iter().filter_map(|r| match r {
            RootElement::Process(p) => Some(p),
            _ => None,
        })
    }

    /// The collaborations, in document order.
    pub fn collaborations(&self) -> impl Iterator<Item = &Collaboration> {
        self.root_elements.iter().filter_map(|r| match r {
            RootElement::Collaboration(c) => Some(c),
            _ => None,
        })
    }

    /// The process with this id.
    pub fn process(&self, id: &str) -> Option<&Process> {
        self.processes().find(|p| p.base.id() == id)
    }

    /// Every shape and edge of every diagram.
    pub fn diagram_elements(&self) -> impl Iterator<Item = &DiagramElement> {
        self.diagrams
            .iter()
            .filter_map(|d| d.plane.as_ref())
            .flat_map(|p| p.elements.iter())
    }
}
