//! BPMN process → [`Region`] graph IR, with diagnostics for what the engine cannot run.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use starweave_model::Diagnostic;
use starweave_model::bpmn::{
    Activity, ActivityKind, Definitions, Event, EventDefinitionKind, EventKind, Expression,
    FlowElement, GatewayKind, LoopCharacteristics, Process, RootElement, StarweaveTarget,
    parse_duration_ms,
};
use starweave_model::vms::Vms;

use super::Scripting;
use super::graph::{
    CallSpec, Callee, Expr, Flow, Looping, MultiInstanceSpec, Node, NodeIx, NodeKind, Region,
    ScriptCode,
};

/// Standard loops without `loopMaximum` stop after this many rounds.
const DEFAULT_LOOP_MAXIMUM: u32 = 10_000;

/// Compile context of one BPMN function.
pub(super) struct Cx<'a> {
    scripting: &'a Scripting,
    functions: &'a HashMap<String, usize>,
    definitions: &'a Definitions,
    vms: Option<&'a Vms>,
    file: Option<&'a str>,
    diagnostics: &'a mut Vec<Diagnostic>,
}

enum Lang {
    Rhai,
    JavaScript,
}

fn language(lang: Option<&str>) -> Result<Lang, String> {
    let Some(lang) = lang.map(str::trim).filter(|l| !l.is_empty()) else {
        return Ok(Lang::Rhai);
    };
    let lower = lang.to_ascii_lowercase();
    if lower == "rhai" || lower.ends_with("/rhai") {
        Ok(Lang::Rhai)
    } else if matches!(
        lower.as_str(),
        "javascript"
            | "js"
            | "ecmascript"
            | "text/javascript"
            | "application/javascript"
            | "application/ecmascript"
    ) {
        Ok(Lang::JavaScript)
    } else {
        Err(format!(
            "the language `{lang}` is not supported (use rhai or javascript)"
        ))
    }
}

impl<'a> Cx<'a> {
    pub(super) fn new(
        scripting: &'a Scripting,
        functions: &'a HashMap<String, usize>,
        definitions: &'a Definitions,
        vms: Option<&'a Vms>,
        file: Option<&'a str>,
        diagnostics: &'a mut Vec<Diagnostic>,
    ) -> Self {
        Cx {
            scripting,
            functions,
            definitions,
            vms,
            file,
            diagnostics,
        }
    }

    /// The region of the file's main process: the first one marked executable, else the first.
    pub(super) fn main_process(&mut self) -> Option<Region> {
        let defs = self.definitions;
        let process = defs
            .processes()
            .find(|p| p.is_executable == Some(true))
            .or_else(|| defs.processes().next())?;
        Some(self.process(process))
    }

    /// The region of one process.
    pub(super) fn process(&mut self, process: &Process) -> Region {
        self.region(&process.flow_elements, process.base.id(), "process")
    }

    fn error(&mut self, code: &str, element: &str, message: impl Into<String>) {
        let mut d = Diagnostic::error(code, message).on(element);
        if let Some(file) = self.file {
            d = d.in_file(file);
        }
        self.diagnostics.push(d);
    }

    fn warning(&mut self, code: &str, element: &str, message: impl Into<String>) {
        let mut d = Diagnostic::warning(code, message).on(element);
        if let Some(file) = self.file {
            d = d.in_file(file);
        }
        self.diagnostics.push(d);
    }

    fn rhai_expr(&mut self, element: &str, source: &str, what: &str) -> Option<Expr> {
        match self.scripting.rhai.compile_expression(source) {
            Ok(ast) => Some(Expr::Rhai(ast)),
            Err(err) => {
                self.error(
                    "engine.expression",
                    element,
                    format!("{what} `{source}` does not compile: {err}"),
                );
                None
            }
        }
    }

    fn expression(&mut self, element: &str, e: &Expression, what: &str) -> Option<Expr> {
        match language(e.language.as_deref()) {
            Ok(Lang::Rhai) => self.rhai_expr(element, e.body.trim(), what),
            Ok(Lang::JavaScript) => Some(Expr::JavaScript(Arc::from(e.body.trim()))),
            Err(message) => {
                self.error(
                    "engine.expression-language",
                    element,
                    format!("{what}: {message}"),
                );
                None
            }
        }
    }

    fn mappings(
        &mut self,
        element: &str,
        mappings: &[starweave_model::bpmn::Mapping],
        what: &str,
    ) -> Vec<(Arc<str>, Expr)> {
        mappings
            .iter()
            .filter_map(|m| {
                let expr = self.rhai_expr(element, &m.expr, &format!("{what} `{}`", m.name))?;
                Some((Arc::from(m.name.as_str()), expr))
            })
            .collect()
    }

    /// The code of an error declaration: `errorCode`, else its name, else its id.
    fn error_code(&self, error_ref: Option<&str>) -> Option<(Arc<str>, Option<String>)> {
        let error_ref = error_ref?;
        let declaration = self.definitions.root_elements.iter().find_map(|r| match r {
            RootElement::Error(e) if e.base.id() == error_ref => Some(e),
            _ => None,
        });
        Some(match declaration {
            Some(e) => (
                Arc::from(
                    e.error_code
                        .as_deref()
                        .or(e.name.as_deref())
                        .unwrap_or(error_ref),
                ),
                e.name.clone(),
            ),
            None => (Arc::from(error_ref), None),
        })
    }

    /// The region of `owner`'s flow elements; `what` names the owner in diagnostics
    /// ("process", "sub-process").
    fn region(&mut self, elements: &[FlowElement], owner: &str, what: &str) -> Region {
        let mut index: HashMap<&str, NodeIx> = HashMap::new();
        let mut nodes = Vec::new();
        let mut sources = Vec::new();
        for element in elements {
            let kind = match element {
                FlowElement::Event(e) => self.event(e),
                FlowElement::Activity(a) => self.activity(a),
                FlowElement::Gateway(g) => match g.kind {
                    GatewayKind::Exclusive => Some(NodeKind::Exclusive),
                    GatewayKind::Parallel => Some(NodeKind::Parallel),
                    GatewayKind::Inclusive => Some(NodeKind::Inclusive),
                    GatewayKind::EventBased | GatewayKind::Complex => {
                        self.error(
                            "engine.unsupported",
                            g.base.id(),
                            format!(
                                "{:?} gateways are not supported by the in-memory engine",
                                g.kind
                            ),
                        );
                        None
                    }
                },
                _ => continue,
            };
            let id = element.id();
            index.insert(id, nodes.len());
            sources.push(element);
            nodes.push(Node {
                id: Arc::from(id),
                name: element.name().map(Arc::from),
                kind: kind.unwrap_or(NodeKind::Noop),
                outgoing: Vec::new(),
                default_flow: None,
                incoming: 0,
                error_boundaries: Vec::new(),
                timer: None,
                conditional_out: false,
                looping: None,
            });
        }

        // Flows, in the order each source lists its outgoing flows (document order otherwise).
        let mut flows = Vec::new();
        // The node each flow leaves, by flow index (for diagnostics).
        let mut flow_sources: Vec<NodeIx> = Vec::new();
        let mut flow_index: HashMap<&str, usize> = HashMap::new();
        for element in elements {
            let FlowElement::SequenceFlow(f) = element else {
                continue;
            };
            let (Some(&source), Some(&target)) = (
                index.get(f.source_ref.as_str()),
                index.get(f.target_ref.as_str()),
            ) else {
                self.error(
                    "engine.dangling-flow",
                    f.base.id(),
                    format!("the flow connects `{}` to `{}`, which are not both flow nodes of `{owner}`", f.source_ref, f.target_ref),
                );
                continue;
            };
            let condition = match &f.condition_expression {
                Some(e) if !e.body.trim().is_empty() => {
                    self.expression(f.base.id(), e, "the condition")
                }
                _ => None,
            };
            let slot = nodes[target].incoming;
            nodes[target].incoming += 1;
            flow_index.insert(f.base.id(), flows.len());
            if condition.is_some() {
                nodes[source].conditional_out = true;
            }
            nodes[source].outgoing.push(flows.len());
            flow_sources.push(source);
            flows.push(Flow {
                id: Arc::from(f.base.id()),
                target,
                slot,
                condition,
            });
        }
        for (ix, element) in sources.iter().enumerate() {
            let (listed, default) = match element {
                FlowElement::Activity(a) => (&a.outgoing, a.default.as_deref()),
                FlowElement::Gateway(g) => (&g.outgoing, g.default.as_deref()),
                FlowElement::Event(e) => (&e.outgoing, None),
                _ => continue,
            };
            let position = |flow: &usize| {
                listed
                    .iter()
                    .position(|id| **id == *flows[*flow].id)
                    .unwrap_or(usize::MAX)
            };
            nodes[ix].outgoing.sort_by_key(position);
            if let Some(default) = default {
                match flow_index.get(default) {
                    // Only a flow leaving this element can be its default: another element's
                    // flow would move the token somewhere this element has no flow to.
                    Some(&flow) if nodes[ix].outgoing.contains(&flow) => {
                        nodes[ix].default_flow = Some(flow);
                        nodes[ix].outgoing.retain(|f| *f != flow);
                    }
                    Some(&flow) => {
                        let source = &nodes[flow_sources[flow]].id;
                        self.error(
                            "engine.default-flow",
                            element.id(),
                            format!(
                                "the default flow `{default}` of `{}` starts at `{source}`: a default flow must be one of the element's own outgoing flows",
                                element.id()
                            ),
                        );
                    }
                    None => self.error(
                        "engine.dangling-flow",
                        element.id(),
                        format!(
                            "the default flow `{default}` is not an outgoing flow of this element"
                        ),
                    ),
                }
            }
        }

        // Boundary events onto their activities.
        for (ix, element) in sources.iter().enumerate() {
            let FlowElement::Event(e) = element else {
                continue;
            };
            if e.kind != EventKind::Boundary {
                continue;
            }
            let attached = e
                .attached_to_ref
                .as_deref()
                .and_then(|a| index.get(a).copied());
            let Some(attached) = attached.filter(|a| nodes[*a].kind.is_activity()) else {
                self.error(
                    "engine.boundary",
                    e.base.id(),
                    "the boundary event is not attached to an activity of the same level",
                );
                continue;
            };
            match e.event_definitions.first().map(|d| &d.kind) {
                Some(EventDefinitionKind::Error { error_ref }) => {
                    let code = self.error_code(error_ref.as_deref()).map(|(code, _)| code);
                    nodes[attached].error_boundaries.push((ix, code));
                }
                Some(EventDefinitionKind::Timer { time_duration, .. }) => {
                    if e.cancel_activity == Some(false) {
                        self.error(
                            "engine.unsupported",
                            e.base.id(),
                            "non-interrupting timer boundary events are not supported yet (they need a durable flow)",
                        );
                        continue;
                    }
                    let Some(text) = time_duration.as_ref().map(|d| d.body.trim()) else {
                        self.error(
                            "engine.timer",
                            e.base.id(),
                            "only timer boundary events with a timeDuration are supported",
                        );
                        continue;
                    };
                    let duration = match parse_iso_duration(text) {
                        Ok(duration) => duration,
                        Err(IsoDurationError::Invalid) => {
                            self.error(
                                "engine.timer",
                                e.base.id(),
                                format!("`{text}` is not an ISO 8601 duration such as PT2S"),
                            );
                            continue;
                        }
                        Err(IsoDurationError::TooLong) => {
                            self.error(
                                "engine.timer",
                                e.base.id(),
                                format!("the duration `{text}` is longer than a timer can wait"),
                            );
                            continue;
                        }
                    };
                    match nodes[attached].timer {
                        Some((_, existing)) if existing <= duration => {}
                        _ => nodes[attached].timer = Some((ix, duration)),
                    }
                }
                _ => self.error(
                    "engine.unsupported",
                    e.base.id(),
                    "only error and timer boundary events are supported by the in-memory engine",
                ),
            }
        }

        for (ix, element) in sources.iter().enumerate() {
            if let FlowElement::Activity(a) = element {
                nodes[ix].looping = self.looping(a);
            }
        }

        let starts = self.entries(&sources, owner, what);
        let mut region = Region {
            nodes,
            flows,
            starts,
            reach: Vec::new(),
        };
        compute_reach(&mut region);
        region
    }

    /// Where the tokens of a region start (`sources` are its flow nodes, by node index).
    ///
    /// A function runs because its trigger (an HTTP route, a cron schedule, a queue) or a
    /// caller starts it, never because of an event inside the diagram, and a run starts once:
    /// - with none start events, the run starts at them; a typed start event beside them
    ///   (message, timer, signal…) is not an entry, and a warning says its path only runs
    ///   from there, i.e. never;
    /// - without one, a single typed start event is the entry: it stands for the trigger,
    ///   which decides when the function runs (a warning says its definition is ignored);
    /// - several typed start events and no none start event are refused: a run could not
    ///   tell which of them fired, and starting every one would run each path on every run.
    fn entries(&mut self, sources: &[&FlowElement], owner: &str, what: &str) -> Vec<NodeIx> {
        let mut none = Vec::new();
        let mut typed = Vec::new();
        for (ix, element) in sources.iter().enumerate() {
            if let FlowElement::Event(e) = element
                && e.kind == EventKind::Start
            {
                match e.event_definitions.first() {
                    None => none.push(ix),
                    Some(definition) => typed.push((ix, e.base.id(), &definition.kind)),
                }
            }
        }
        match (none.first(), typed.as_slice()) {
            (Some(&first), _) => {
                let entry = sources[first].id();
                for &(_, id, kind) in &typed {
                    self.warning(
                        "engine.start-event",
                        id,
                        format!(
                            "this {} start event is not where a run starts: the function starts at its none start event `{entry}`, so this path never runs",
                            definition_name(kind)
                        ),
                    );
                }
                none
            }
            (None, []) => {
                self.error(
                    "engine.no-start",
                    owner,
                    format!("the {what} has no start event"),
                );
                Vec::new()
            }
            (None, [(ix, id, _)]) => {
                self.warning(
                    "engine.start-event",
                    id,
                    "the start event's definition is ignored when the function runs: its trigger decides when it starts",
                );
                vec![*ix]
            }
            (None, several) => {
                let names: Vec<String> =
                    several.iter().map(|(_, id, _)| format!("`{id}`")).collect();
                self.error(
                    "engine.start-event",
                    owner,
                    format!(
                        "the {what} has several typed start events ({}) and no none start event: a run could not tell which one fired; add a none start event where runs start, or make one function per start event",
                        names.join(", ")
                    ),
                );
                Vec::new()
            }
        }
    }

    fn event(&mut self, e: &Event) -> Option<NodeKind> {
        let definition = e.event_definitions.first().map(|d| &d.kind);
        let id = e.base.id();
        match e.kind {
            // Which start events are entries is decided per region (`entries`).
            EventKind::Start => Some(NodeKind::Start),
            EventKind::End => match definition {
                None => Some(NodeKind::End),
                Some(EventDefinitionKind::Terminate) => Some(NodeKind::TerminateEnd),
                Some(EventDefinitionKind::Error { error_ref }) => {
                    let (code, name) = self
                        .error_code(error_ref.as_deref())
                        .unwrap_or((Arc::from("ERROR"), None));
                    let message = name.or_else(|| e.name.clone()).unwrap_or_default();
                    Some(NodeKind::ErrorEnd {
                        code,
                        message: Arc::from(message),
                    })
                }
                Some(other) => {
                    self.error(
                        "engine.unsupported",
                        id,
                        format!("{} end events are not supported", definition_name(other)),
                    );
                    None
                }
            },
            EventKind::IntermediateThrow if definition.is_none() => Some(NodeKind::Throw),
            EventKind::IntermediateThrow | EventKind::IntermediateCatch => {
                let what = definition.map(definition_name).unwrap_or("none");
                self.error(
                    "engine.unsupported",
                    id,
                    format!("{what} intermediate events are not supported by the in-memory engine (waiting needs a durable flow, a later feature)"),
                );
                None
            }
            EventKind::Boundary => Some(NodeKind::Boundary),
        }
    }

    fn activity(&mut self, a: &Activity) -> Option<NodeKind> {
        let id = a.base.id();
        let binding = a.starweave();
        match &a.kind {
            ActivityKind::ScriptTask {
                script_format,
                script,
            } => {
                let text = script.as_ref().map(|s| s.text.as_str()).unwrap_or("");
                match language(script_format.as_deref()) {
                    Ok(Lang::Rhai) => match self.scripting.rhai.compile_script(text) {
                        Ok(ast) => Some(NodeKind::Script(ScriptCode::Rhai(ast))),
                        Err(err) => {
                            self.error(
                                "engine.script",
                                id,
                                format!("the script does not compile: {err}"),
                            );
                            None
                        }
                    },
                    Ok(Lang::JavaScript) => {
                        Some(NodeKind::Script(ScriptCode::JavaScript(Arc::from(text))))
                    }
                    Err(message) => {
                        self.error("engine.script", id, message);
                        None
                    }
                }
            }
            ActivityKind::SubProcess(sub) | ActivityKind::Transaction(sub) => {
                if sub.triggered_by_event == Some(true) {
                    self.error(
                        "engine.unsupported",
                        id,
                        "event sub-processes are not supported by the in-memory engine",
                    );
                    return None;
                }
                let region = self.region(&sub.flow_elements, id, "sub-process");
                let outputs = binding
                    .map(|b| self.mappings(id, &b.outputs, "the output"))
                    .unwrap_or_default();
                Some(NodeKind::SubProcess {
                    region: Arc::new(region),
                    transaction: matches!(a.kind, ActivityKind::Transaction(_)),
                    outputs,
                })
            }
            ActivityKind::AdHocSubProcess(_) => {
                self.error(
                    "engine.unsupported",
                    id,
                    "ad-hoc sub-processes are not supported",
                );
                None
            }
            ActivityKind::CallActivity { called_element } => {
                let target = binding
                    .and_then(|b| b.bpmn_function.as_deref().or(b.function.as_deref()))
                    .or(called_element.as_deref());
                match target {
                    Some(name) => self.call(a, Some(name), true),
                    None => {
                        self.error("engine.unbound", id, "the call activity names no function (set calledElement or sw:task bpmnFunction)");
                        None
                    }
                }
            }
            ActivityKind::Task | ActivityKind::ManualTask
                if binding.and_then(|b| b.target()).is_none() =>
            {
                Some(NodeKind::Noop)
            }
            ActivityKind::Task
            | ActivityKind::ManualTask
            | ActivityKind::ServiceTask
            | ActivityKind::SendTask { .. }
            | ActivityKind::BusinessRuleTask => {
                if binding.and_then(|b| b.target()).is_none() {
                    self.error(
                        "engine.unbound",
                        id,
                        "the task is bound to nothing: add an sw:task with a connector method, a function or a component",
                    );
                    return None;
                }
                self.call(a, None, false)
            }
            ActivityKind::UserTask | ActivityKind::ReceiveTask { .. } => {
                self.error(
                    "engine.unsupported",
                    id,
                    "user and receive tasks wait for the outside world, which needs a durable flow (a later feature)",
                );
                None
            }
        }
    }

    fn call(
        &mut self,
        a: &Activity,
        called: Option<&str>,
        call_activity: bool,
    ) -> Option<NodeKind> {
        let id = a.base.id();
        let binding = a.starweave();
        let callee = match (called, binding.and_then(|b| b.target())) {
            (Some(name), _)
            | (None, Some(StarweaveTarget::Function(name) | StarweaveTarget::BpmnFunction(name))) => {
                match self.functions.get(name) {
                    Some(&index) => Callee::Function {
                        index,
                        name: Arc::from(name),
                    },
                    None => {
                        self.error(
                            "engine.unknown-function",
                            id,
                            format!("there is no function `{name}`"),
                        );
                        return None;
                    }
                }
            }
            (None, Some(StarweaveTarget::ConnectorMethod { connector, method })) => {
                if method.is_empty() {
                    self.error(
                        "engine.unbound",
                        id,
                        format!("the task names connector `{connector}` but no method"),
                    );
                    return None;
                }
                if let Some(vms) = self.vms {
                    match vms.connectors.get(connector) {
                        None => {
                            self.error(
                                "engine.unknown-connector",
                                id,
                                format!("there is no connector `{connector}`"),
                            );
                            return None;
                        }
                        Some(c) if c.method(method).is_none() => {
                            self.error(
                                "engine.unknown-method",
                                id,
                                format!("connector `{connector}` has no method `{method}`"),
                            );
                            return None;
                        }
                        Some(_) => {}
                    }
                }
                Callee::Connector {
                    connector: Arc::from(connector),
                    method: Arc::from(method),
                    key: Arc::from(format!("{connector}.{method}")),
                }
            }
            (None, Some(StarweaveTarget::Component(name))) => {
                self.warning(
                    "engine.component",
                    id,
                    format!("library components are not loaded by this engine yet: `{name}` only runs when mocked"),
                );
                Callee::Component(Arc::from(name))
            }
            (None, None) => return None,
        };
        let (inputs, outputs, timeout, retries, backoff) = match binding {
            Some(b) => {
                let timeout = b.timeout.as_deref().and_then(|t| {
                    let ms = parse_duration_ms(t);
                    if ms.is_none() {
                        self.error(
                            "engine.duration",
                            id,
                            format!("the timeout `{t}` is not a duration such as 5s"),
                        );
                    }
                    ms.map(Duration::from_millis)
                });
                let backoff = b
                    .retry_backoff
                    .as_deref()
                    .and_then(parse_duration_ms)
                    .unwrap_or(0);
                (
                    self.mappings(id, &b.inputs, "the input"),
                    self.mappings(id, &b.outputs, "the output"),
                    timeout,
                    b.retries.unwrap_or(0),
                    Duration::from_millis(backoff),
                )
            }
            None => (Vec::new(), Vec::new(), None, 0, Duration::ZERO),
        };
        Some(NodeKind::Call(Box::new(CallSpec {
            callee,
            call_activity,
            inputs,
            outputs,
            timeout,
            retries,
            backoff,
        })))
    }

    /// The loop marker of an activity, compiled; called by the region builder.
    fn looping(&mut self, a: &Activity) -> Option<Box<Looping>> {
        let id = a.base.id();
        match a.loop_characteristics.as_ref()? {
            LoopCharacteristics::Standard(s) => {
                let Some(condition) = s.loop_condition.as_ref() else {
                    self.error("engine.loop", id, "the standard loop has no loopCondition");
                    return None;
                };
                let condition = self.expression(id, condition, "the loop condition")?;
                let maximum = s
                    .base
                    .unknown
                    .attributes
                    .iter()
                    .find(|attr| attr.local_name == "loopMaximum")
                    .and_then(|attr| attr.value.trim().parse().ok())
                    .unwrap_or(DEFAULT_LOOP_MAXIMUM);
                Some(Box::new(Looping::Standard {
                    test_before: s.test_before.unwrap_or(false),
                    condition,
                    maximum,
                }))
            }
            LoopCharacteristics::MultiInstance(m) => {
                let sw = a.starweave().and_then(|b| b.multi_instance.as_ref());
                let collection = match sw.and_then(|s| s.collection.as_deref()) {
                    Some(c) => Some(self.rhai_expr(id, c, "the collection")?),
                    None => match m.loop_data_input_ref.as_deref() {
                        Some(name) => Some(self.rhai_expr(id, name, "the collection")?),
                        None => None,
                    },
                };
                let cardinality = match (&collection, &m.loop_cardinality) {
                    (None, Some(e)) => Some(self.expression(id, e, "the loop cardinality")?),
                    _ => None,
                };
                if collection.is_none() && cardinality.is_none() {
                    self.error(
                        "engine.multi-instance",
                        id,
                        "the multi-instance activity has neither a collection (sw:multiInstance collection) nor a loopCardinality",
                    );
                    return None;
                }
                let output_element = match sw.and_then(|s| s.output_element.as_deref()) {
                    Some(e) => Some(self.rhai_expr(id, e, "the output element")?),
                    None => match m.output_data_item.as_ref().and_then(|d| d.name.as_deref()) {
                        Some(name) => Some(self.rhai_expr(id, name, "the output element")?),
                        None => None,
                    },
                };
                let completion = match &m.completion_condition {
                    Some(e) => Some(self.expression(id, e, "the completion condition")?),
                    None => None,
                };
                Some(Box::new(Looping::MultiInstance(MultiInstanceSpec {
                    sequential: m.is_sequential.unwrap_or(false),
                    collection,
                    cardinality,
                    element_variable: sw
                        .and_then(|s| s.element_variable.as_deref())
                        .or(m.input_data_item.as_ref().and_then(|d| d.name.as_deref()))
                        .map(Arc::from),
                    output_collection: sw
                        .and_then(|s| s.output_collection.as_deref())
                        .or(m.loop_data_output_ref.as_deref())
                        .map(Arc::from),
                    output_element,
                    completion,
                })))
            }
        }
    }
}

fn definition_name(kind: &EventDefinitionKind) -> &'static str {
    match kind {
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

/// Fills [`Region::reach`] when the region has an inclusive join: for each such join, the
/// nodes from which a token may still arrive at it without passing through it (boundary
/// events count as successors of their activity).
fn compute_reach(region: &mut Region) {
    let n = region.nodes.len();
    let joins: Vec<NodeIx> = (0..n)
        .filter(|&i| {
            matches!(region.nodes[i].kind, NodeKind::Inclusive) && region.nodes[i].incoming > 1
        })
        .collect();
    if joins.is_empty() {
        return;
    }
    let mut predecessors: Vec<Vec<NodeIx>> = vec![Vec::new(); n];
    for (source, node) in region.nodes.iter().enumerate() {
        for &flow in node.outgoing.iter().chain(node.default_flow.iter()) {
            predecessors[region.flows[flow].target].push(source);
        }
        for &(boundary, _) in &node.error_boundaries {
            predecessors[boundary].push(source);
        }
        if let Some((boundary, _)) = node.timer {
            predecessors[boundary].push(source);
        }
    }
    let mut reach = vec![false; n * n];
    for join in joins {
        let mut stack: Vec<NodeIx> = predecessors[join].clone();
        while let Some(node) = stack.pop() {
            if node == join || reach[node * n + join] {
                continue;
            }
            reach[node * n + join] = true;
            stack.extend(predecessors[node].iter().copied());
        }
    }
    region.reach = reach;
}

/// Why a text is not a timer duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IsoDurationError {
    /// Not an ISO 8601 duration (nor Starweave duration text).
    Invalid,
    /// A duration, but longer than a [`Duration`] holds (about 584 billion years).
    TooLong,
}

/// Parses an ISO 8601 duration (`PT2S`, `PT1M30S`, `P1DT2H`, `PT0.5S`, `P2W`); years and
/// months (of varying length) are refused. Starweave duration text (`2s`) is accepted too.
/// The text comes from the diagram, so an out-of-range value is an error, never a panic.
pub(crate) fn parse_iso_duration(text: &str) -> Result<Duration, IsoDurationError> {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('P').or_else(|| text.strip_prefix('p')) else {
        return parse_duration_ms(text)
            .map(Duration::from_millis)
            .ok_or(IsoDurationError::Invalid);
    };
    let mut seconds = 0f64;
    let mut in_time = false;
    let mut number = String::new();
    let mut any = false;
    for c in rest.chars() {
        match c {
            'T' | 't' if number.is_empty() && !in_time => in_time = true,
            '0'..='9' | '.' | ',' => number.push(if c == ',' { '.' } else { c }),
            unit => {
                let value: f64 = number.parse().map_err(|_| IsoDurationError::Invalid)?;
                number.clear();
                any = true;
                seconds += value
                    * match (in_time, unit.to_ascii_uppercase()) {
                        (false, 'W') => 604_800.0,
                        (false, 'D') => 86_400.0,
                        (true, 'H') => 3_600.0,
                        (true, 'M') => 60.0,
                        (true, 'S') => 1.0,
                        _ => return Err(IsoDurationError::Invalid),
                    };
            }
        }
    }
    if !number.is_empty() || !any || seconds.is_nan() || seconds < 0.0 {
        return Err(IsoDurationError::Invalid);
    }
    // `from_secs_f64` panics past `Duration::MAX` (and on infinity): ask first.
    Duration::try_from_secs_f64(seconds).map_err(|_| IsoDurationError::TooLong)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::compile_bpmn;
    use starweave_model::bpmn::{read_bpmn, read_bpmn_bytes};

    fn diagnostics_of(bpmn: &str) -> Vec<Diagnostic> {
        let document = read_bpmn(bpmn);
        assert!(!document.has_errors(), "{:?}", document.diagnostics);
        compile_bpmn(&document.definitions, None, &Scripting::default()).diagnostics
    }

    fn process(body: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">{body}</bpmn:process>
</bpmn:definitions>"#
        )
    }

    #[test]
    fn a_default_flow_leaving_another_element_is_refused_by_name() {
        let diagnostics = diagnostics_of(&process(
            r#"<bpmn:startEvent id="s"/>
            <bpmn:exclusiveGateway id="route" default="later"/>
            <bpmn:task id="a"/><bpmn:endEvent id="e"/>
            <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="route"/>
            <bpmn:sequenceFlow id="f1" sourceRef="route" targetRef="a"/>
            <bpmn:sequenceFlow id="later" sourceRef="a" targetRef="e"/>"#,
        ));
        let error = diagnostics
            .iter()
            .find(|d| d.code == "engine.default-flow")
            .unwrap_or_else(|| panic!("no engine.default-flow in {diagnostics:?}"));
        assert!(error.is_error());
        assert_eq!(error.element.as_deref(), Some("route"));
        assert!(
            error.message.contains("`later`") && error.message.contains("`a`"),
            "{}",
            error.message
        );
    }

    #[test]
    fn typed_start_events_are_entries_only_without_a_none_start_event() {
        let message_start =
            r#"<bpmn:startEvent id="m"><bpmn:messageEventDefinition/></bpmn:startEvent>"#;
        let signal_start =
            r#"<bpmn:startEvent id="g"><bpmn:signalEventDefinition/></bpmn:startEvent>"#;
        let codes = |body: &str| -> Vec<(bool, String, Option<String>)> {
            diagnostics_of(&process(body))
                .into_iter()
                .map(|d| (d.is_error(), d.code, d.element))
                .collect()
        };
        // Beside a none start event: a warning on the typed one, which is no entry.
        assert_eq!(
            codes(&format!(r#"<bpmn:startEvent id="s"/>{message_start}"#)),
            [(false, "engine.start-event".to_owned(), Some("m".to_owned()))]
        );
        // Alone: the entry (the warning that its definition is ignored).
        assert_eq!(
            codes(message_start),
            [(false, "engine.start-event".to_owned(), Some("m".to_owned()))]
        );
        // Several, no none start event: refused on the process.
        assert_eq!(
            codes(&format!("{message_start}{signal_start}")),
            [(true, "engine.start-event".to_owned(), Some("p".to_owned()))]
        );
        // None at all.
        assert_eq!(
            codes(r#"<bpmn:task id="t"/>"#),
            [(true, "engine.no-start".to_owned(), Some("p".to_owned()))]
        );
    }

    /// Every model of the BPMN MIWG corpus compiles without a panic, and only the processes
    /// with several typed start events and no none start event are refused for their start.
    #[test]
    fn the_miwg_corpus_compiles_and_only_ambiguous_starts_are_refused() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared-model/testdata/bpmn-miwg");
        let mut files = Vec::new();
        for folder in ["reference", "bpmn-io-18.6.1"] {
            let entries = std::fs::read_dir(root.join(folder))
                .unwrap_or_else(|e| panic!("{}: {e}", root.join(folder).display()));
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "bpmn") {
                    files.push(path);
                }
            }
        }
        files.sort();
        assert!(files.len() >= 60, "found only {} MIWG files", files.len());
        let scripting = Scripting::default();
        let mut refused = Vec::new();
        for path in &files {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{name}: {e}"));
            let document = read_bpmn_bytes(&bytes);
            let compiled = compile_bpmn(&document.definitions, Some(name), &scripting);
            for d in &compiled.diagnostics {
                if d.is_error() && d.code == "engine.start-event" {
                    refused.push(format!("{name} {}", d.element.as_deref().unwrap_or("?")));
                }
            }
        }
        assert_eq!(
            refused,
            [
                "B.2.0-export.bpmn Process_1xz7va4",
                "B.2.0-roundtrip.bpmn WFP-6-2",
                "B.2.0.bpmn WFP-6-2",
            ]
        );
    }

    #[test]
    fn iso_durations() {
        assert_eq!(parse_iso_duration("PT2S"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_iso_duration("PT0.05S"), Ok(Duration::from_millis(50)));
        assert_eq!(parse_iso_duration("PT1M30S"), Ok(Duration::from_secs(90)));
        assert_eq!(
            parse_iso_duration("P1DT1H"),
            Ok(Duration::from_secs(90_000))
        );
        assert_eq!(parse_iso_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_iso_duration("P1M"), Err(IsoDurationError::Invalid));
        assert_eq!(parse_iso_duration("PT"), Err(IsoDurationError::Invalid));
        assert_eq!(
            parse_iso_duration("nonsense"),
            Err(IsoDurationError::Invalid)
        );
    }

    #[test]
    fn iso_durations_past_the_largest_duration_are_errors() {
        // 10^20 s is past `Duration::MAX` (about 1.8 × 10^19 s): it used to panic.
        assert_eq!(
            parse_iso_duration("PT99999999999999999999S"),
            Err(IsoDurationError::TooLong)
        );
        assert_eq!(
            parse_iso_duration("P99999999999999999999W"),
            Err(IsoDurationError::TooLong)
        );
        // Digits enough to overflow an f64 to infinity.
        let huge = format!("PT{}S", "9".repeat(400));
        assert_eq!(parse_iso_duration(&huge), Err(IsoDurationError::TooLong));
    }
}
