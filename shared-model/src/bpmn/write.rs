//! The writer: model → canonical XML. It first builds a small output tree (so empty
//! elements and text content are decided per element), then prints it with two-space
//! indentation. Elements with text content are printed inline so their text is exact.

use std::collections::BTreeSet;

use super::model::*;
use super::starweave::{Mapping, StarweaveTask};
use super::xml::{XmlElement, XmlNode};
use super::{BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, STARWEAVE_NS, XSI_NS};

/// The conventional prefixes, in the order they are declared for models built in code.
const DEFAULT_PREFIXES: [(&str, &str); 6] = [
    ("bpmn", BPMN_NS),
    ("bpmndi", BPMNDI_NS),
    ("dc", DC_NS),
    ("di", DI_NS),
    ("xsi", XSI_NS),
    ("sw", STARWEAVE_NS),
];

/// Appends a declaration with the conventional prefix for every namespace in `used` that
/// `decls` lacks (attribute namespaces need a non-empty prefix). Reader and writer share
/// this so that a written file reads back with the same declarations.
pub(crate) fn complete_namespaces(decls: &mut Vec<NamespaceDecl>, used: &[&str]) {
    for (default_prefix, uri) in DEFAULT_PREFIXES {
        if !used.contains(&uri) || prefix_of(decls, uri).is_some() {
            continue;
        }
        let mut prefix = default_prefix.to_owned();
        let mut n = 1;
        while decls.iter().any(|d| d.prefix == prefix) {
            prefix = format!("{default_prefix}{n}");
            n += 1;
        }
        decls.push(NamespaceDecl {
            prefix,
            uri: uri.to_owned(),
        });
    }
}

/// The prefix the writer uses for `uri`: the first declaration of it (a non-empty one for
/// XSI, whose prefix qualifies an attribute).
fn prefix_of<'a>(decls: &'a [NamespaceDecl], uri: &str) -> Option<&'a str> {
    decls
        .iter()
        .find(|d| d.uri == uri && !(uri == XSI_NS && d.prefix.is_empty()))
        .map(|d| d.prefix.as_str())
}

enum Out {
    Element(OutElement),
    Text(String),
    CData(String),
    Comment(String),
    Pi(String),
}

struct OutElement {
    name: String,
    attrs: Vec<(String, String)>,
    children: Vec<Out>,
}

impl OutElement {
    fn attr(&mut self, name: &str, value: &Option<String>) {
        if let Some(v) = value {
            self.attrs.push((name.to_owned(), v.clone()));
        }
    }

    fn attr_str(&mut self, name: &str, value: &str) {
        self.attrs.push((name.to_owned(), value.to_owned()));
    }

    fn bool(&mut self, name: &str, value: Option<bool>) {
        if let Some(v) = value {
            self.attrs.push((name.to_owned(), v.to_string()));
        }
    }

    fn num(&mut self, name: &str, value: f64) {
        self.attrs.push((name.to_owned(), format_number(value)));
    }

    fn child(&mut self, el: OutElement) {
        self.children.push(Out::Element(el));
    }
}

/// Shortest text that parses back to the same `f64`, without exponent.
fn format_number(v: f64) -> String {
    format!("{v}")
}

fn qname(prefix: &str, local: &str) -> String {
    if prefix.is_empty() {
        local.to_owned()
    } else {
        format!("{prefix}:{local}")
    }
}

/// Text content: CDATA when it has markup characters (and can be CDATA), escaped otherwise.
fn text_node(s: &str) -> Out {
    if (s.contains('<') || s.contains('&')) && !s.contains("]]>") && !s.contains('\r') {
        Out::CData(s.to_owned())
    } else {
        Out::Text(s.to_owned())
    }
}

struct Writer {
    bpmn: String,
    bpmndi: String,
    dc: String,
    di: String,
    xsi: String,
    sw: String,
    used: BTreeSet<&'static str>,
}

pub(crate) fn write(defs: &Definitions) -> String {
    let mut decls = if defs.namespaces.is_empty() {
        DEFAULT_PREFIXES
            .iter()
            .map(|(p, u)| NamespaceDecl {
                prefix: (*p).to_owned(),
                uri: (*u).to_owned(),
            })
            .collect()
    } else {
        defs.namespaces.clone()
    };
    // Prefixes are fixed before writing; undeclared ones are declared afterwards if used.
    let mut all = decls.clone();
    complete_namespaces(&mut all, &DEFAULT_PREFIXES.map(|(_, u)| u));
    let p = |uri| prefix_of(&all, uri).unwrap_or_default().to_owned();
    let mut w = Writer {
        bpmn: p(BPMN_NS),
        bpmndi: p(BPMNDI_NS),
        dc: p(DC_NS),
        di: p(DI_NS),
        xsi: p(XSI_NS),
        sw: p(STARWEAVE_NS),
        used: BTreeSet::new(),
    };
    let mut root = w.definitions(defs);
    let used: Vec<&str> = w.used.iter().copied().collect();
    complete_namespaces(&mut decls, &used);
    let mut attrs: Vec<(String, String)> = decls
        .iter()
        .map(|d| {
            (
                qname(
                    if d.prefix.is_empty() { "" } else { "xmlns" },
                    if d.prefix.is_empty() {
                        "xmlns"
                    } else {
                        &d.prefix
                    },
                ),
                d.uri.clone(),
            )
        })
        .collect();
    attrs.append(&mut root.attrs);
    root.attrs = attrs;
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    print_element(&root, 0, false, &mut out);
    out.push('\n');
    out
}

fn escape_attr(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c => out.push(c),
        }
    }
}

fn escape_text(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

fn indent(depth: usize, out: &mut String) {
    out.push('\n');
    for _ in 0..depth {
        out.push_str("  ");
    }
}

fn print_element(el: &OutElement, depth: usize, inline: bool, out: &mut String) {
    out.push('<');
    out.push_str(&el.name);
    for (name, value) in &el.attrs {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        escape_attr(value, out);
        out.push('"');
    }
    if el.children.is_empty() {
        out.push_str("/>");
        return;
    }
    out.push('>');
    let inline = inline
        || el
            .children
            .iter()
            .any(|c| matches!(c, Out::Text(_) | Out::CData(_)));
    for child in &el.children {
        if !inline {
            indent(depth + 1, out);
        }
        match child {
            Out::Element(e) => print_element(e, depth + 1, inline, out),
            Out::Text(t) => escape_text(t, out),
            Out::CData(t) => {
                out.push_str("<![CDATA[");
                out.push_str(&t.replace("]]>", "]]]]><![CDATA[>"));
                out.push_str("]]>");
            }
            Out::Comment(t) => {
                out.push_str("<!--");
                out.push_str(t);
                out.push_str("-->");
            }
            Out::Pi(t) => {
                out.push_str("<?");
                out.push_str(t);
                out.push_str("?>");
            }
        }
    }
    if !inline {
        indent(depth, out);
    }
    out.push_str("</");
    out.push_str(&el.name);
    out.push('>');
}

fn generic(node: &XmlNode) -> Option<Out> {
    Some(match node {
        XmlNode::Element(e) => Out::Element(generic_element(e)),
        XmlNode::Text(t) if t.is_empty() => return None,
        XmlNode::Text(t) => Out::Text(t.clone()),
        XmlNode::CData(t) => Out::CData(t.clone()),
        XmlNode::Comment(t) => Out::Comment(t.clone()),
        XmlNode::ProcessingInstruction(t) => Out::Pi(t.clone()),
    })
}

fn generic_element(e: &XmlElement) -> OutElement {
    OutElement {
        name: qname(&e.prefix, &e.local_name),
        attrs: e
            .attributes
            .iter()
            .map(|a| (qname(&a.prefix, &a.local_name), a.value.to_string()))
            .collect(),
        children: e.children.iter().filter_map(generic).collect(),
    }
}

fn unknown_attrs(el: &mut OutElement, unknown: &Unknown) {
    el.attrs.extend(
        unknown
            .attributes
            .iter()
            .map(|a| (qname(&a.prefix, &a.local_name), a.value.to_string())),
    );
}

fn unknown_children(el: &mut OutElement, unknown: &Unknown) {
    el.children
        .extend(unknown.children.iter().filter_map(generic));
}

impl Writer {
    fn el(&mut self, local: &str) -> OutElement {
        OutElement {
            name: qname(&self.bpmn, local),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    fn el_in(&mut self, ns: &'static str, local: &str) -> OutElement {
        self.used.insert(ns);
        let prefix = match ns {
            BPMNDI_NS => &self.bpmndi,
            DC_NS => &self.dc,
            DI_NS => &self.di,
            STARWEAVE_NS => &self.sw,
            _ => &self.bpmn,
        };
        OutElement {
            name: qname(prefix, local),
            attrs: Vec::new(),
            children: Vec::new(),
        }
    }

    /// An element with `id` first; documentation and extension elements follow in `base_children`.
    fn start(&mut self, local: &str, base: &BaseElement) -> OutElement {
        let mut el = self.el(local);
        el.attr("id", &base.id);
        el
    }

    /// Documentation, extension elements, then unknown children; attributes of `unknown` last.
    fn base_children(&mut self, el: &mut OutElement, base: &BaseElement) {
        for doc in &base.documentation {
            let mut d = self.el("documentation");
            d.attr("id", &doc.id);
            d.attr("textFormat", &doc.text_format);
            unknown_attrs(&mut d, &doc.unknown);
            if !doc.text.is_empty() {
                d.children.push(text_node(&doc.text));
            }
            unknown_children(&mut d, &doc.unknown);
            el.child(d);
        }
        if let Some(ext) = &base.extension_elements {
            let mut e = self.el("extensionElements");
            unknown_attrs(&mut e, &ext.unknown);
            if let Some(task) = &ext.starweave {
                let t = self.starweave_task(task);
                e.child(t);
            }
            unknown_children(&mut e, &ext.unknown);
            el.child(e);
        }
    }

    /// The common tail: unknown attributes after the typed ones, then documentation,
    /// extension elements and the unknown children.
    fn base_all(&mut self, el: &mut OutElement, base: &BaseElement) {
        unknown_attrs(el, &base.unknown);
        self.base_children(el, base);
        unknown_children(el, &base.unknown);
    }

    fn refs(&mut self, el: &mut OutElement, local: &str, refs: &[String]) {
        for r in refs {
            let mut c = self.el(local);
            c.children.push(Out::Text(r.clone()));
            el.child(c);
        }
    }

    fn starweave_task(&mut self, task: &StarweaveTask) -> OutElement {
        let mut t = self.el_in(STARWEAVE_NS, "task");
        t.attr("connector", &task.connector);
        t.attr("method", &task.method);
        t.attr("function", &task.function);
        t.attr("bpmnFunction", &task.bpmn_function);
        t.attr("component", &task.component);
        t.attr("timeout", &task.timeout);
        t.attr("retries", &task.retries.map(|r| r.to_string()));
        t.attr("retryBackoff", &task.retry_backoff);
        unknown_attrs(&mut t, &task.unknown);
        let mapping = |w: &mut Self, local: &str, m: &Mapping| {
            let mut e = w.el_in(STARWEAVE_NS, local);
            e.attr_str("name", &m.name);
            e.attr_str("expr", &m.expr);
            unknown_attrs(&mut e, &m.unknown);
            unknown_children(&mut e, &m.unknown);
            e
        };
        for m in &task.inputs {
            let e = mapping(self, "input", m);
            t.child(e);
        }
        for m in &task.outputs {
            let e = mapping(self, "output", m);
            t.child(e);
        }
        if let Some(mi) = &task.multi_instance {
            let mut e = self.el_in(STARWEAVE_NS, "multiInstance");
            e.attr("collection", &mi.collection);
            e.attr("elementVariable", &mi.element_variable);
            e.attr("outputCollection", &mi.output_collection);
            e.attr("outputElement", &mi.output_element);
            unknown_attrs(&mut e, &mi.unknown);
            unknown_children(&mut e, &mi.unknown);
            t.child(e);
        }
        unknown_children(&mut t, &task.unknown);
        t
    }

    fn expression(&mut self, local: &str, x: &Expression) -> OutElement {
        let mut e = self.start(local, &x.base);
        if let Some(t) = &x.xsi_type {
            self.used.insert(XSI_NS);
            e.attrs.push((qname(&self.xsi, "type"), t.clone()));
        }
        e.attr("language", &x.language);
        unknown_attrs(&mut e, &x.base.unknown);
        self.base_children(&mut e, &x.base);
        if !x.body.is_empty() {
            e.children.push(text_node(&x.body));
        }
        unknown_children(&mut e, &x.base.unknown);
        e
    }

    fn definitions(&mut self, defs: &Definitions) -> OutElement {
        self.used.insert(BPMN_NS);
        let mut el = self.start("definitions", &defs.base);
        el.attr("name", &defs.name);
        el.attr("targetNamespace", &defs.target_namespace);
        el.attr("expressionLanguage", &defs.expression_language);
        el.attr("typeLanguage", &defs.type_language);
        el.attr("exporter", &defs.exporter);
        el.attr("exporterVersion", &defs.exporter_version);
        self.base_all(&mut el, &defs.base);
        for r in &defs.root_elements {
            let c = self.root_element(r);
            el.child(c);
        }
        for d in &defs.diagrams {
            let c = self.diagram(d);
            el.child(c);
        }
        el
    }

    fn simple(
        &mut self,
        local: &str,
        base: &BaseElement,
        attrs: &[(&str, &Option<String>)],
    ) -> OutElement {
        let mut el = self.start(local, base);
        for (name, value) in attrs {
            el.attr(name, value);
        }
        el
    }

    fn root_element(&mut self, r: &RootElement) -> OutElement {
        match r {
            RootElement::Process(p) => self.process(p),
            RootElement::Collaboration(c) => self.collaboration(c),
            RootElement::Message(m) => {
                let mut el = self.simple(
                    "message",
                    &m.base,
                    &[("name", &m.name), ("itemRef", &m.item_ref)],
                );
                self.base_all(&mut el, &m.base);
                el
            }
            RootElement::Error(m) => {
                let mut el = self.simple(
                    "error",
                    &m.base,
                    &[
                        ("name", &m.name),
                        ("errorCode", &m.error_code),
                        ("structureRef", &m.structure_ref),
                    ],
                );
                self.base_all(&mut el, &m.base);
                el
            }
            RootElement::Signal(m) => {
                let mut el = self.simple(
                    "signal",
                    &m.base,
                    &[("name", &m.name), ("structureRef", &m.structure_ref)],
                );
                self.base_all(&mut el, &m.base);
                el
            }
            RootElement::Escalation(m) => {
                let mut el = self.simple(
                    "escalation",
                    &m.base,
                    &[
                        ("name", &m.name),
                        ("escalationCode", &m.escalation_code),
                        ("structureRef", &m.structure_ref),
                    ],
                );
                self.base_all(&mut el, &m.base);
                el
            }
            RootElement::ItemDefinition(m) => {
                let mut el = self.simple(
                    "itemDefinition",
                    &m.base,
                    &[
                        ("itemKind", &m.item_kind),
                        ("structureRef", &m.structure_ref),
                    ],
                );
                el.bool("isCollection", m.is_collection);
                self.base_all(&mut el, &m.base);
                el
            }
            RootElement::DataStore(m) => {
                let mut el = self.simple("dataStore", &m.base, &[("name", &m.name)]);
                el.bool("isUnlimited", m.is_unlimited);
                el.attr("itemSubjectRef", &m.item_subject_ref);
                self.base_all(&mut el, &m.base);
                el
            }
        }
    }

    fn process(&mut self, p: &Process) -> OutElement {
        let mut el = self.simple("process", &p.base, &[("name", &p.name)]);
        el.bool("isExecutable", p.is_executable);
        self.base_all(&mut el, &p.base);
        self.container(&mut el, &p.lane_sets, &p.flow_elements, &p.artifacts);
        el
    }

    fn container(
        &mut self,
        el: &mut OutElement,
        lane_sets: &[LaneSet],
        flow: &[FlowElement],
        artifacts: &[Artifact],
    ) {
        for ls in lane_sets {
            let c = self.lane_set("laneSet", ls);
            el.child(c);
        }
        for f in flow {
            let c = self.flow_element(f);
            el.child(c);
        }
        for a in artifacts {
            let c = self.artifact(a);
            el.child(c);
        }
    }

    fn lane_set(&mut self, local: &str, ls: &LaneSet) -> OutElement {
        let mut el = self.simple(local, &ls.base, &[("name", &ls.name)]);
        self.base_all(&mut el, &ls.base);
        for lane in &ls.lanes {
            let mut l = self.simple(
                "lane",
                &lane.base,
                &[
                    ("name", &lane.name),
                    ("partitionElementRef", &lane.partition_element_ref),
                ],
            );
            self.base_all(&mut l, &lane.base);
            self.refs(&mut l, "flowNodeRef", &lane.flow_node_refs);
            if let Some(child) = &lane.child_lane_set {
                let c = self.lane_set("childLaneSet", child);
                l.child(c);
            }
            el.child(l);
        }
        el
    }

    fn artifact(&mut self, a: &Artifact) -> OutElement {
        match a {
            Artifact::TextAnnotation(t) => {
                let mut el =
                    self.simple("textAnnotation", &t.base, &[("textFormat", &t.text_format)]);
                self.base_all(&mut el, &t.base);
                if let Some(text) = &t.text {
                    let mut c = self.el("text");
                    if !text.is_empty() {
                        c.children.push(text_node(text));
                    }
                    el.child(c);
                }
                el
            }
            Artifact::Association(x) => {
                let mut el = self.start("association", &x.base);
                el.attr_str("sourceRef", &x.source_ref);
                el.attr_str("targetRef", &x.target_ref);
                el.attr("associationDirection", &x.association_direction);
                self.base_all(&mut el, &x.base);
                el
            }
            Artifact::Group(g) => {
                let mut el = self.simple(
                    "group",
                    &g.base,
                    &[("categoryValueRef", &g.category_value_ref)],
                );
                self.base_all(&mut el, &g.base);
                el
            }
        }
    }

    fn data_associations(&mut self, el: &mut OutElement, local: &str, list: &[DataAssociation]) {
        for a in list {
            let mut c = self.start(local, &a.base);
            self.base_all(&mut c, &a.base);
            self.refs(&mut c, "sourceRef", &a.source_refs);
            if let Some(t) = &a.target_ref {
                self.refs(&mut c, "targetRef", std::slice::from_ref(t));
            }
            el.child(c);
        }
    }

    /// Attributes and the leading children every flow node shares.
    fn flow_node_head(
        &mut self,
        el: &mut OutElement,
        base: &BaseElement,
        incoming: &[String],
        outgoing: &[String],
    ) {
        unknown_attrs(el, &base.unknown);
        self.base_children(el, base);
        self.refs(el, "incoming", incoming);
        self.refs(el, "outgoing", outgoing);
        unknown_children(el, &base.unknown);
    }

    fn flow_element(&mut self, f: &FlowElement) -> OutElement {
        match f {
            FlowElement::Event(e) => self.event(e),
            FlowElement::Activity(a) => self.activity(a),
            FlowElement::Gateway(g) => {
                let local = match g.kind {
                    GatewayKind::Exclusive => "exclusiveGateway",
                    GatewayKind::Parallel => "parallelGateway",
                    GatewayKind::Inclusive => "inclusiveGateway",
                    GatewayKind::EventBased => "eventBasedGateway",
                    GatewayKind::Complex => "complexGateway",
                };
                let mut el = self.simple(
                    local,
                    &g.base,
                    &[("name", &g.name), ("default", &g.default)],
                );
                self.flow_node_head(&mut el, &g.base, &g.incoming, &g.outgoing);
                if let Some(c) = &g.activation_condition {
                    let c = self.expression("activationCondition", c);
                    el.child(c);
                }
                el
            }
            FlowElement::SequenceFlow(s) => {
                let mut el = self.simple("sequenceFlow", &s.base, &[("name", &s.name)]);
                el.attr_str("sourceRef", &s.source_ref);
                el.attr_str("targetRef", &s.target_ref);
                el.bool("isImmediate", s.is_immediate);
                self.base_all(&mut el, &s.base);
                if let Some(c) = &s.condition_expression {
                    let c = self.expression("conditionExpression", c);
                    el.child(c);
                }
                el
            }
            FlowElement::DataObject(d) => {
                let mut el = self.simple(
                    "dataObject",
                    &d.base,
                    &[("name", &d.name), ("itemSubjectRef", &d.item_subject_ref)],
                );
                el.bool("isCollection", d.is_collection);
                self.base_all(&mut el, &d.base);
                el
            }
            FlowElement::DataObjectReference(d) => {
                let mut el = self.simple(
                    "dataObjectReference",
                    &d.base,
                    &[
                        ("name", &d.name),
                        ("dataObjectRef", &d.data_object_ref),
                        ("itemSubjectRef", &d.item_subject_ref),
                    ],
                );
                self.base_all(&mut el, &d.base);
                el
            }
            FlowElement::DataStoreReference(d) => {
                let mut el = self.simple(
                    "dataStoreReference",
                    &d.base,
                    &[
                        ("name", &d.name),
                        ("dataStoreRef", &d.data_store_ref),
                        ("itemSubjectRef", &d.item_subject_ref),
                    ],
                );
                self.base_all(&mut el, &d.base);
                el
            }
        }
    }

    fn event(&mut self, e: &Event) -> OutElement {
        let local = match e.kind {
            EventKind::Start => "startEvent",
            EventKind::End => "endEvent",
            EventKind::IntermediateCatch => "intermediateCatchEvent",
            EventKind::IntermediateThrow => "intermediateThrowEvent",
            EventKind::Boundary => "boundaryEvent",
        };
        let mut el = self.simple(local, &e.base, &[("name", &e.name)]);
        el.bool("isInterrupting", e.is_interrupting);
        el.bool("parallelMultiple", e.parallel_multiple);
        el.attr("attachedToRef", &e.attached_to_ref);
        el.bool("cancelActivity", e.cancel_activity);
        self.flow_node_head(&mut el, &e.base, &e.incoming, &e.outgoing);
        self.data_associations(&mut el, "dataInputAssociation", &e.data_input_associations);
        self.data_associations(
            &mut el,
            "dataOutputAssociation",
            &e.data_output_associations,
        );
        for d in &e.event_definitions {
            let c = self.event_definition(d);
            el.child(c);
        }
        self.refs(&mut el, "eventDefinitionRef", &e.event_definition_refs);
        el
    }

    fn event_definition(&mut self, d: &EventDefinition) -> OutElement {
        let local = match &d.kind {
            EventDefinitionKind::Cancel => "cancelEventDefinition",
            EventDefinitionKind::Compensate { .. } => "compensateEventDefinition",
            EventDefinitionKind::Conditional { .. } => "conditionalEventDefinition",
            EventDefinitionKind::Error { .. } => "errorEventDefinition",
            EventDefinitionKind::Escalation { .. } => "escalationEventDefinition",
            EventDefinitionKind::Link { .. } => "linkEventDefinition",
            EventDefinitionKind::Message { .. } => "messageEventDefinition",
            EventDefinitionKind::Signal { .. } => "signalEventDefinition",
            EventDefinitionKind::Terminate => "terminateEventDefinition",
            EventDefinitionKind::Timer { .. } => "timerEventDefinition",
        };
        let mut el = self.start(local, &d.base);
        match &d.kind {
            EventDefinitionKind::Compensate {
                activity_ref,
                wait_for_completion,
            } => {
                el.attr("activityRef", activity_ref);
                el.bool("waitForCompletion", *wait_for_completion);
            }
            EventDefinitionKind::Error { error_ref } => el.attr("errorRef", error_ref),
            EventDefinitionKind::Escalation { escalation_ref } => {
                el.attr("escalationRef", escalation_ref)
            }
            EventDefinitionKind::Link { name, .. } => el.attr("name", name),
            EventDefinitionKind::Message { message_ref, .. } => el.attr("messageRef", message_ref),
            EventDefinitionKind::Signal { signal_ref } => el.attr("signalRef", signal_ref),
            _ => {}
        }
        self.base_all(&mut el, &d.base);
        match &d.kind {
            EventDefinitionKind::Conditional { condition: Some(c) } => {
                let c = self.expression("condition", c);
                el.child(c);
            }
            EventDefinitionKind::Link {
                sources, target, ..
            } => {
                self.refs(&mut el, "source", sources);
                if let Some(t) = target {
                    self.refs(&mut el, "target", std::slice::from_ref(t));
                }
            }
            EventDefinitionKind::Message {
                operation_ref: Some(op),
                ..
            } => {
                self.refs(&mut el, "operationRef", std::slice::from_ref(op));
            }
            EventDefinitionKind::Timer {
                time_date,
                time_duration,
                time_cycle,
            } => {
                for (local, x) in [
                    ("timeDate", time_date),
                    ("timeDuration", time_duration),
                    ("timeCycle", time_cycle),
                ] {
                    if let Some(x) = x {
                        let c = self.expression(local, x);
                        el.child(c);
                    }
                }
            }
            _ => {}
        }
        el
    }

    fn activity(&mut self, a: &Activity) -> OutElement {
        let local = match &a.kind {
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
        };
        let mut el = self.simple(local, &a.base, &[("name", &a.name)]);
        match &a.kind {
            ActivityKind::ScriptTask { script_format, .. } => {
                el.attr("scriptFormat", script_format)
            }
            ActivityKind::SendTask { message_ref } => el.attr("messageRef", message_ref),
            ActivityKind::ReceiveTask {
                message_ref,
                instantiate,
            } => {
                el.attr("messageRef", message_ref);
                el.bool("instantiate", *instantiate);
            }
            ActivityKind::CallActivity { called_element } => {
                el.attr("calledElement", called_element)
            }
            ActivityKind::SubProcess(s)
            | ActivityKind::Transaction(s)
            | ActivityKind::AdHocSubProcess(s) => {
                el.bool("triggeredByEvent", s.triggered_by_event);
                el.attr("ordering", &s.ordering);
            }
            _ => {}
        }
        el.attr("default", &a.default);
        el.bool("isForCompensation", a.is_for_compensation);
        self.flow_node_head(&mut el, &a.base, &a.incoming, &a.outgoing);
        self.data_associations(&mut el, "dataInputAssociation", &a.data_input_associations);
        self.data_associations(
            &mut el,
            "dataOutputAssociation",
            &a.data_output_associations,
        );
        match &a.loop_characteristics {
            Some(LoopCharacteristics::Standard(l)) => {
                let mut c = self.start("standardLoopCharacteristics", &l.base);
                c.bool("testBefore", l.test_before);
                self.base_all(&mut c, &l.base);
                if let Some(x) = &l.loop_condition {
                    let x = self.expression("loopCondition", x);
                    c.child(x);
                }
                el.child(c);
            }
            Some(LoopCharacteristics::MultiInstance(m)) => {
                let c = self.multi_instance(m);
                el.child(c);
            }
            None => {}
        }
        match &a.kind {
            ActivityKind::ScriptTask {
                script: Some(script),
                ..
            } => {
                let mut c = self.el("script");
                unknown_attrs(&mut c, &script.unknown);
                if !script.text.is_empty() {
                    c.children.push(text_node(&script.text));
                }
                unknown_children(&mut c, &script.unknown);
                el.child(c);
            }
            ActivityKind::SubProcess(s)
            | ActivityKind::Transaction(s)
            | ActivityKind::AdHocSubProcess(s) => {
                self.container(&mut el, &s.lane_sets, &s.flow_elements, &s.artifacts);
                if let Some(x) = &s.completion_condition {
                    let x = self.expression("completionCondition", x);
                    el.child(x);
                }
            }
            _ => {}
        }
        el
    }

    fn multi_instance(&mut self, m: &MultiInstance) -> OutElement {
        let mut c = self.start("multiInstanceLoopCharacteristics", &m.base);
        c.bool("isSequential", m.is_sequential);
        c.attr("behavior", &m.behavior);
        self.base_all(&mut c, &m.base);
        if let Some(x) = &m.loop_cardinality {
            let x = self.expression("loopCardinality", x);
            c.child(x);
        }
        if let Some(r) = &m.loop_data_input_ref {
            self.refs(&mut c, "loopDataInputRef", std::slice::from_ref(r));
        }
        if let Some(r) = &m.loop_data_output_ref {
            self.refs(&mut c, "loopDataOutputRef", std::slice::from_ref(r));
        }
        for (local, item) in [
            ("inputDataItem", &m.input_data_item),
            ("outputDataItem", &m.output_data_item),
        ] {
            if let Some(d) = item {
                let mut e = self.simple(
                    local,
                    &d.base,
                    &[("name", &d.name), ("itemSubjectRef", &d.item_subject_ref)],
                );
                e.bool("isCollection", d.is_collection);
                self.base_all(&mut e, &d.base);
                c.child(e);
            }
        }
        if let Some(x) = &m.completion_condition {
            let x = self.expression("completionCondition", x);
            c.child(x);
        }
        c
    }

    fn collaboration(&mut self, col: &Collaboration) -> OutElement {
        let mut el = self.simple("collaboration", &col.base, &[("name", &col.name)]);
        self.base_all(&mut el, &col.base);
        for p in &col.participants {
            let mut c = self.simple(
                "participant",
                &p.base,
                &[("name", &p.name), ("processRef", &p.process_ref)],
            );
            self.base_all(&mut c, &p.base);
            el.child(c);
        }
        for f in &col.message_flows {
            let mut c = self.simple("messageFlow", &f.base, &[("name", &f.name)]);
            c.attr_str("sourceRef", &f.source_ref);
            c.attr_str("targetRef", &f.target_ref);
            c.attr("messageRef", &f.message_ref);
            self.base_all(&mut c, &f.base);
            el.child(c);
        }
        for a in &col.artifacts {
            let c = self.artifact(a);
            el.child(c);
        }
        el
    }

    // ----- diagram interchange -----

    fn bounds(&mut self, b: &Bounds) -> OutElement {
        let mut e = self.el_in(DC_NS, "Bounds");
        e.num("x", b.x);
        e.num("y", b.y);
        e.num("width", b.width);
        e.num("height", b.height);
        e
    }

    fn label(&mut self, l: &Label) -> OutElement {
        let mut e = self.el_in(BPMNDI_NS, "BPMNLabel");
        e.attr("id", &l.id);
        e.attr("labelStyle", &l.label_style);
        unknown_attrs(&mut e, &l.unknown);
        if let Some(b) = &l.bounds {
            let b = self.bounds(b);
            e.child(b);
        }
        unknown_children(&mut e, &l.unknown);
        e
    }

    fn diagram(&mut self, d: &Diagram) -> OutElement {
        let mut el = self.el_in(BPMNDI_NS, "BPMNDiagram");
        el.attr("id", &d.id);
        el.attr("name", &d.name);
        el.attr("documentation", &d.documentation);
        unknown_attrs(&mut el, &d.unknown);
        if let Some(p) = &d.plane {
            let mut pe = self.el_in(BPMNDI_NS, "BPMNPlane");
            pe.attr("id", &p.id);
            pe.attr("bpmnElement", &p.bpmn_element);
            unknown_attrs(&mut pe, &p.unknown);
            for de in &p.elements {
                let c = match de {
                    DiagramElement::Shape(s) => self.shape(s),
                    DiagramElement::Edge(e) => self.edge(e),
                };
                pe.child(c);
            }
            unknown_children(&mut pe, &p.unknown);
            el.child(pe);
        }
        for s in &d.label_styles {
            let mut se = self.el_in(BPMNDI_NS, "BPMNLabelStyle");
            se.attr("id", &s.id);
            unknown_attrs(&mut se, &s.unknown);
            if let Some(f) = &s.font {
                let mut fe = self.el_in(DC_NS, "Font");
                fe.attr("name", &f.name);
                fe.attr("size", &f.size.map(format_number));
                fe.bool("isBold", f.is_bold);
                fe.bool("isItalic", f.is_italic);
                fe.bool("isUnderline", f.is_underline);
                fe.bool("isStrikeThrough", f.is_strike_through);
                unknown_attrs(&mut fe, &f.unknown);
                unknown_children(&mut fe, &f.unknown);
                se.child(fe);
            }
            unknown_children(&mut se, &s.unknown);
            el.child(se);
        }
        unknown_children(&mut el, &d.unknown);
        el
    }

    fn shape(&mut self, s: &Shape) -> OutElement {
        let mut e = self.el_in(BPMNDI_NS, "BPMNShape");
        e.attr("id", &s.id);
        e.attr("bpmnElement", &s.bpmn_element);
        e.bool("isHorizontal", s.is_horizontal);
        e.bool("isExpanded", s.is_expanded);
        e.bool("isMarkerVisible", s.is_marker_visible);
        e.bool("isMessageVisible", s.is_message_visible);
        unknown_attrs(&mut e, &s.unknown);
        if let Some(b) = &s.bounds {
            let b = self.bounds(b);
            e.child(b);
        }
        if let Some(l) = &s.label {
            let l = self.label(l);
            e.child(l);
        }
        unknown_children(&mut e, &s.unknown);
        e
    }

    fn edge(&mut self, ed: &Edge) -> OutElement {
        let mut e = self.el_in(BPMNDI_NS, "BPMNEdge");
        e.attr("id", &ed.id);
        e.attr("bpmnElement", &ed.bpmn_element);
        e.attr("sourceElement", &ed.source_element);
        e.attr("targetElement", &ed.target_element);
        unknown_attrs(&mut e, &ed.unknown);
        for p in &ed.waypoints {
            let mut w = self.el_in(DI_NS, "waypoint");
            w.num("x", p.x);
            w.num("y", p.y);
            e.child(w);
        }
        if let Some(l) = &ed.label {
            let l = self.label(l);
            e.child(l);
        }
        unknown_children(&mut e, &ed.unknown);
        e
    }
}
