//! Stage two of reading: the raw element tree → the typed model, the source map and
//! structural diagnostics. Whatever is not typed is moved, not copied, into `unknown`.

use super::model::*;
use super::parse::{
    GenericElement, Locator, NS_BPMN, NS_BPMNDI, NS_DC, NS_DI, NS_STARWEAVE, NS_XMLNS, NS_XSI,
    Namespaces, NsId, PendingDiagnostic, RawAttr, RawElement, RawNode, WELL_KNOWN, parse,
    xml_attribute,
};
use super::starweave::{Mapping, StarweaveMultiInstance, StarweaveTask, parse_duration_ms};
use super::xml::{XmlAttribute, XmlElement, XmlNode};
use super::{BPMN_NS, BpmnDocument, SourceMap};
use crate::Diagnostic;

/// Decodes bytes to text: UTF-8 (BOM stripped), UTF-16 with BOM, declared ISO-8859-1 /
/// Windows-1252, else lossy UTF-8 with a diagnostic.
pub(crate) fn decode(bytes: &[u8]) -> (String, Vec<Diagnostic>) {
    let mut diags = Vec::new();
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return decode(rest);
    }
    let utf16 = |be: bool, rest: &[u8]| -> String {
        let units = rest.chunks(2).map(|c| {
            let pair = [c[0], *c.get(1).unwrap_or(&0)];
            if be {
                u16::from_be_bytes(pair)
            } else {
                u16::from_le_bytes(pair)
            }
        });
        char::decode_utf16(units)
            .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
            .collect()
    };
    if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        return (utf16(false, rest), diags);
    }
    if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        return (utf16(true, rest), diags);
    }
    match std::str::from_utf8(bytes) {
        Ok(text) => (text.to_owned(), diags),
        Err(e) => {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).to_ascii_lowercase();
            let declared_latin1 = head.starts_with("<?xml")
                && [
                    "iso-8859-1",
                    "latin1",
                    "latin-1",
                    "windows-1252",
                    "iso8859-1",
                ]
                .iter()
                .any(|enc| {
                    head.contains(&format!("encoding=\"{enc}\""))
                        || head.contains(&format!("encoding='{enc}'"))
                });
            if declared_latin1 {
                // ISO-8859-1 maps each byte to the code point of the same value.
                let text: String = bytes.iter().map(|b| char::from(*b)).collect();
                diags.push(Diagnostic::warning(
                    "bpmn.encoding",
                    "the file is ISO-8859-1; it was decoded and will be written back as UTF-8",
                ));
                return (text, diags);
            }
            let lossy = String::from_utf8_lossy(bytes).into_owned();
            let valid = &bytes[..e.valid_up_to()];
            // The valid prefix is UTF-8, so positions computed on it match the decoded text.
            let pos = crate::SourcePos::from_offset(
                std::str::from_utf8(valid).unwrap_or(""),
                valid.len(),
            );
            diags.push(
                Diagnostic::error(
                    "bpmn.invalid-utf8",
                    format!(
                        "the input is not valid UTF-8 (first bad byte at offset {}); bad bytes were replaced with U+FFFD",
                        e.valid_up_to()
                    ),
                )
                .at(pos),
            );
            (lossy, diags)
        }
    }
}

/// Reads a document; `diags` holds diagnostics found before parsing (decoding).
pub(crate) fn read(text: &str, diags: Vec<Diagnostic>) -> BpmnDocument {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut pending: Vec<PendingDiagnostic> = Vec::new();
    let (root, namespaces) = parse(text, &mut pending);
    let mut locator = Locator::new(text);
    let mut diagnostics = diags;
    diagnostics.extend(pending.into_iter().map(|(offset, d)| match offset {
        Some(o) => d.at(locator.pos(o)),
        None => d,
    }));
    let mut reader = ModelReader {
        locator,
        namespaces,
        diagnostics,
        source_map: SourceMap::default(),
        used: 0,
        current_id: None,
    };
    let definitions = match root {
        Some(root) => reader.definitions(root),
        None => Definitions::default(),
    };
    // Diagrams are read after the root elements; report in document order.
    reader.diagnostics.sort_by_key(|d| d.pos);
    BpmnDocument {
        definitions,
        source_map: reader.source_map,
        diagnostics: reader.diagnostics,
    }
}

struct ModelReader<'t> {
    locator: Locator<'t>,
    /// The namespace URIs behind the raw tree's namespace ids.
    namespaces: Namespaces,
    diagnostics: Vec<Diagnostic>,
    source_map: SourceMap,
    /// Standard namespaces the typed model will need when written: bit `id` for each
    /// well-known namespace id.
    used: u32,
    /// The id of the element being read, for diagnostics about its attributes.
    current_id: Option<String>,
}

fn is_bpmn(el: &RawElement<'_>) -> bool {
    el.ns == Some(NS_BPMN)
}

impl<'t> ModelReader<'t> {
    /// Notes that the typed model uses the well-known namespace `id`.
    fn use_ns(&mut self, id: NsId) {
        self.used |= 1 << id;
    }

    /// Raw attributes as kept verbatim in the model.
    fn xml_attrs(&mut self, attrs: Vec<RawAttr<'_>>) -> Vec<XmlAttribute> {
        attrs
            .into_iter()
            .map(|a| xml_attribute(a, &mut self.namespaces))
            .collect()
    }

    /// Appends raw attributes to an element's unknown attributes.
    fn keep_attrs(&mut self, unknown: &mut Unknown, attrs: Vec<RawAttr<'_>>) {
        if unknown.attributes.is_empty() {
            unknown.attributes = self.xml_attrs(attrs);
        } else {
            let more = self.xml_attrs(attrs);
            unknown.attributes.extend(more);
        }
    }

    fn report(&mut self, offset: usize, diagnostic: Diagnostic) {
        let pos = self.locator.pos(offset);
        self.diagnostics.push(diagnostic.at(pos));
    }

    fn record_id(&mut self, id: &str, offset: usize, check_duplicate: bool) {
        let pos = self.locator.pos(offset);
        if !self.source_map.insert(id, pos) && check_duplicate {
            let first = self.source_map.pos(id).unwrap_or_default();
            self.diagnostics.push(
                Diagnostic::error(
                    "bpmn.duplicate-id",
                    format!(
                        "id `{id}` is already used by the element at {}:{}",
                        first.line, first.column
                    ),
                )
                .at(pos)
                .on(id),
            );
        }
    }

    fn missing(&mut self, el: &RawElement<'t>, attr: &str) {
        let message = format!("`{}` needs the attribute `{attr}`", el.local);
        let id = el
            .attr("id")
            .map(str::to_owned)
            // The id was usually taken already; `current_id` remembers it.
            .or_else(|| self.current_id.clone());
        let pos = self.locator.pos(el.offset);
        let mut d = Diagnostic::error("bpmn.missing-attribute", message).at(pos);
        if let Some(id) = id {
            d = d.on(id);
        }
        self.diagnostics.push(d);
    }

    /// Takes `id` (recording it), reporting it when `required`.
    fn id(&mut self, el: &mut RawElement<'t>, required: bool) -> Option<String> {
        let id = el.take_attr("id");
        self.current_id.clone_from(&id);
        match &id {
            Some(id) => self.record_id(id, el.offset, true),
            None if required => self.missing(el, "id"),
            None => {}
        }
        id
    }

    fn required(&mut self, el: &mut RawElement<'t>, attr: &str) -> String {
        match el.take_attr(attr) {
            Some(v) => v,
            None => {
                self.missing(el, attr);
                String::new()
            }
        }
    }

    /// A boolean attribute; values other than `true`/`false` stay verbatim in `unknown`.
    fn bool_attr(&mut self, el: &mut RawElement<'t>, name: &'static str) -> Option<bool> {
        let value = el.take_attr(name)?;
        match value.as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => {
                if !matches!(value.trim(), "1" | "0" | "true" | "false") {
                    self.report(
                        el.offset,
                        Diagnostic::warning(
                            "bpmn.invalid-boolean",
                            format!("`{name}` should be `true` or `false`, not `{value}`"),
                        ),
                    );
                }
                el.restore_attr(name, value);
                None
            }
        }
    }

    fn number(&mut self, el: &mut RawElement<'t>, name: &'static str) -> f64 {
        let Some(value) = el.take_attr(name) else {
            self.missing(el, name);
            return 0.0;
        };
        match value.trim().parse::<f64>() {
            Ok(v) if v.is_finite() => v,
            _ => {
                self.report(
                    el.offset,
                    Diagnostic::error(
                        "bpmn.invalid-number",
                        format!(
                            "`{name}` of `{}` must be a finite number, not `{value}`",
                            el.local
                        ),
                    ),
                );
                0.0
            }
        }
    }

    /// Converts a subtree Starweave does not model, recording ids for the source map.
    fn generic(&mut self, el: RawElement<'t>) -> XmlElement {
        if let Some(id) = el.attr("id") {
            self.record_id(id, el.offset, false);
        }
        let children = el
            .children
            .into_iter()
            .map(|c| match c {
                RawNode::Element(e) => XmlNode::Element(self.generic(e)),
                RawNode::Generic(g) => XmlNode::Element(self.adopt(g)),
                RawNode::Other(o) => o,
            })
            .collect();
        XmlElement {
            namespace: el.ns.map(|id| self.namespaces.uri_name(id)),
            prefix: self.namespaces.name(el.prefix),
            local_name: self.namespaces.name(el.local),
            attributes: self.xml_attrs(el.attrs),
            children,
        }
    }

    /// Takes over a subtree that was built as generic XML, recording its ids.
    fn adopt(&mut self, generic: GenericElement<'t>) -> XmlElement {
        for (offset, id) in &generic.ids {
            self.record_id(id, *offset, false);
        }
        generic.element
    }

    /// Stray nodes inside a typed element: whitespace is formatting; text is trimmed.
    fn stray(&mut self, node: XmlNode, unknown: &mut Unknown) {
        match node {
            XmlNode::Text(t) => {
                let t = t.trim();
                if t.is_empty() {
                    return;
                }
                // Text pieces separated only by typed children are written next to each
                // other, so they are joined here already.
                if let Some(XmlNode::Text(last)) = unknown.children.last_mut() {
                    last.push_str(t);
                } else {
                    unknown.children.push(XmlNode::Text(t.to_owned()));
                }
            }
            other => unknown.children.push(other),
        }
    }

    /// Splits children: documentation and extension elements go to `base`, non-BPMN
    /// content to `base.unknown`; the BPMN-namespace elements are returned in order.
    fn base_children(
        &mut self,
        children: Vec<RawNode<'t>>,
        base: &mut BaseElement,
    ) -> Vec<RawElement<'t>> {
        let mut rest = Vec::new();
        for child in children {
            match child {
                RawNode::Element(c) if is_bpmn(&c) && c.local == "documentation" => {
                    let doc = self.documentation(c);
                    base.documentation.push(doc);
                }
                RawNode::Element(c)
                    if is_bpmn(&c)
                        && c.local == "extensionElements"
                        && base.extension_elements.is_none() =>
                {
                    let ext = self.extension_elements(c);
                    base.extension_elements = Some(ext);
                }
                RawNode::Element(c) if is_bpmn(&c) => rest.push(c),
                RawNode::Element(c) => {
                    let g = self.generic(c);
                    base.unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Generic(c) => {
                    let g = self.adopt(c);
                    base.unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Other(o) => self.stray(o, &mut base.unknown),
            }
        }
        rest
    }

    fn unknown_child(&mut self, base: &mut BaseElement, el: RawElement<'t>) {
        let g = self.generic(el);
        base.unknown.children.push(XmlNode::Element(g));
    }

    /// Text content (text and CDATA joined, exactly); other nodes go to `unknown`.
    fn text_content(&mut self, children: Vec<RawNode<'t>>, unknown: &mut Unknown) -> String {
        let mut text = String::new();
        for child in children {
            match child {
                RawNode::Other(XmlNode::Text(t)) | RawNode::Other(XmlNode::CData(t)) => {
                    text.push_str(&t)
                }
                RawNode::Element(e) => {
                    let g = self.generic(e);
                    unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Generic(e) => {
                    let g = self.adopt(e);
                    unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Other(o) => unknown.children.push(o),
            }
        }
        text
    }

    /// A reference element such as `incoming`: its trimmed text.
    fn reference(&mut self, el: RawElement<'t>) -> String {
        let mut ignored = Unknown::default();
        self.text_content(el.children, &mut ignored)
            .trim()
            .to_owned()
    }

    fn documentation(&mut self, mut el: RawElement<'t>) -> Documentation {
        let id = self.id(&mut el, false);
        let text_format = el.take_attr("textFormat");
        let mut unknown = Unknown::default();
        let text = self.text_content(el.children, &mut unknown);
        unknown.attributes = self.xml_attrs(el.attrs);
        Documentation {
            id,
            text_format,
            text,
            unknown,
        }
    }

    fn extension_elements(&mut self, el: RawElement<'t>) -> ExtensionElements {
        let mut ext = ExtensionElements {
            starweave: None,
            unknown: Unknown {
                attributes: self.xml_attrs(el.attrs),
                children: Vec::new(),
            },
        };
        for child in el.children {
            match child {
                RawNode::Element(c) if c.is(NS_STARWEAVE, "task") && ext.starweave.is_none() => {
                    self.use_ns(NS_STARWEAVE);
                    ext.starweave = Some(self.starweave_task(c));
                }
                RawNode::Element(c) => {
                    let g = self.generic(c);
                    ext.unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Generic(c) => {
                    let g = self.adopt(c);
                    ext.unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Other(o) => self.stray(o, &mut ext.unknown),
            }
        }
        ext
    }

    fn duration_attr(&mut self, el: &mut RawElement<'t>, name: &'static str) -> Option<String> {
        let value = el.take_attr(name)?;
        if parse_duration_ms(&value).is_none() {
            self.report(
                el.offset,
                Diagnostic::warning(
                    "bpmn.sw-invalid-duration",
                    format!("`{name}` should be a duration such as `250ms`, `5s` or `1m30s`, not `{value}`"),
                ),
            );
        }
        Some(value)
    }

    fn starweave_task(&mut self, mut el: RawElement<'t>) -> StarweaveTask {
        let mut task = StarweaveTask {
            connector: el.take_attr("connector"),
            method: el.take_attr("method"),
            function: el.take_attr("function"),
            bpmn_function: el.take_attr("bpmnFunction"),
            component: el.take_attr("component"),
            timeout: self.duration_attr(&mut el, "timeout"),
            ..Default::default()
        };
        if let Some(retries) = el.take_attr("retries") {
            match retries.parse::<u32>() {
                Ok(n) => task.retries = Some(n),
                Err(_) => {
                    self.report(
                        el.offset,
                        Diagnostic::warning(
                            "bpmn.invalid-number",
                            format!("`retries` must be a whole number, not `{retries}`"),
                        ),
                    );
                    el.restore_attr("retries", retries);
                }
            }
        }
        task.retry_backoff = self.duration_attr(&mut el, "retryBackoff");
        for child in el.children {
            match child {
                RawNode::Element(c) if c.is(NS_STARWEAVE, "input") => {
                    let m = self.mapping(c);
                    task.inputs.push(m);
                }
                RawNode::Element(c) if c.is(NS_STARWEAVE, "output") => {
                    let m = self.mapping(c);
                    task.outputs.push(m);
                }
                RawNode::Element(mut c)
                    if c.is(NS_STARWEAVE, "multiInstance") && task.multi_instance.is_none() =>
                {
                    let mut mi = StarweaveMultiInstance {
                        collection: c.take_attr("collection"),
                        element_variable: c.take_attr("elementVariable"),
                        output_collection: c.take_attr("outputCollection"),
                        output_element: c.take_attr("outputElement"),
                        unknown: Unknown::default(),
                    };
                    for n in c.children {
                        match n {
                            RawNode::Element(e) => {
                                let g = self.generic(e);
                                mi.unknown.children.push(XmlNode::Element(g));
                            }
                            RawNode::Generic(e) => {
                                let g = self.adopt(e);
                                mi.unknown.children.push(XmlNode::Element(g));
                            }
                            RawNode::Other(o) => self.stray(o, &mut mi.unknown),
                        }
                    }
                    mi.unknown.attributes = self.xml_attrs(c.attrs);
                    task.multi_instance = Some(mi);
                }
                RawNode::Element(c) => {
                    let g = self.generic(c);
                    task.unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Generic(c) => {
                    let g = self.adopt(c);
                    task.unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Other(o) => self.stray(o, &mut task.unknown),
            }
        }
        task.unknown.attributes = self.xml_attrs(el.attrs);
        task
    }

    fn mapping(&mut self, mut el: RawElement<'t>) -> Mapping {
        let name = self.required(&mut el, "name");
        let expr = self.required(&mut el, "expr");
        let mut unknown = Unknown::default();
        for n in el.children {
            match n {
                RawNode::Element(e) => {
                    let g = self.generic(e);
                    unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Generic(e) => {
                    let g = self.adopt(e);
                    unknown.children.push(XmlNode::Element(g));
                }
                RawNode::Other(o) => self.stray(o, &mut unknown),
            }
        }
        unknown.attributes = self.xml_attrs(el.attrs);
        Mapping {
            name,
            expr,
            unknown,
        }
    }

    fn definitions(&mut self, mut root: RawElement<'t>) -> Definitions {
        let mut defs = Definitions::default();
        if !(root.is(NS_BPMN, "definitions")) {
            let found = match root.ns {
                Some(ns) => format!(
                    "`{}` in namespace `{}`",
                    root.local,
                    self.namespaces.uri(ns)
                ),
                None => format!("`{}` in no namespace", root.local),
            };
            let (code, message) = if root.local == "definitions" {
                (
                    "bpmn.wrong-namespace",
                    format!(
                        "the root element must be `definitions` in namespace `{BPMN_NS}`, found {found}"
                    ),
                )
            } else {
                (
                    "bpmn.wrong-root",
                    format!("the root element must be BPMN `definitions`, found {found}"),
                )
            };
            self.report(root.offset, Diagnostic::error(code, message));
            let g = self.generic(root);
            defs.base.unknown.children.push(XmlNode::Element(g));
            return defs;
        }
        self.use_ns(NS_BPMN);
        defs.base.id = self.id(&mut root, false);
        defs.name = root.take_attr("name");
        defs.target_namespace = root.take_attr("targetNamespace");
        defs.expression_language = root.take_attr("expressionLanguage");
        defs.type_language = root.take_attr("typeLanguage");
        defs.exporter = root.take_attr("exporter");
        defs.exporter_version = root.take_attr("exporterVersion");
        let (decls, others): (Vec<_>, Vec<_>) = std::mem::take(&mut root.attrs)
            .into_iter()
            .partition(|a| a.ns == Some(NS_XMLNS));
        root.attrs = others;
        let mut declared = decls
            .into_iter()
            .map(|a| NamespaceDecl {
                prefix: if a.prefix.is_empty() {
                    String::new()
                } else {
                    a.local.to_owned()
                },
                uri: a.value.into_owned(),
            })
            .collect::<Vec<_>>();

        let mut children = Vec::new();
        for child in root.children {
            match child {
                RawNode::Element(c) if c.is(NS_BPMNDI, "BPMNDiagram") => {
                    self.use_ns(NS_BPMNDI);
                    let d = self.diagram(c);
                    defs.diagrams.push(d);
                }
                other => children.push(other),
            }
        }
        for c in self.base_children(children, &mut defs.base) {
            let root_element = match c.local {
                "process" => RootElement::Process(self.process(c)),
                "collaboration" => RootElement::Collaboration(self.collaboration(c)),
                "message" => {
                    let mut c = c;
                    let base = self.base_start(&mut c, true);
                    let mut m = Message {
                        base,
                        name: c.take_attr("name"),
                        item_ref: c.take_attr("itemRef"),
                    };
                    self.base_finish(c, &mut m.base);
                    RootElement::Message(m)
                }
                "error" => {
                    let mut c = c;
                    let base = self.base_start(&mut c, true);
                    let mut m = ErrorDeclaration {
                        base,
                        name: c.take_attr("name"),
                        error_code: c.take_attr("errorCode"),
                        structure_ref: c.take_attr("structureRef"),
                    };
                    self.base_finish(c, &mut m.base);
                    RootElement::Error(m)
                }
                "signal" => {
                    let mut c = c;
                    let base = self.base_start(&mut c, true);
                    let mut m = Signal {
                        base,
                        name: c.take_attr("name"),
                        structure_ref: c.take_attr("structureRef"),
                    };
                    self.base_finish(c, &mut m.base);
                    RootElement::Signal(m)
                }
                "escalation" => {
                    let mut c = c;
                    let base = self.base_start(&mut c, true);
                    let mut m = Escalation {
                        base,
                        name: c.take_attr("name"),
                        escalation_code: c.take_attr("escalationCode"),
                        structure_ref: c.take_attr("structureRef"),
                    };
                    self.base_finish(c, &mut m.base);
                    RootElement::Escalation(m)
                }
                "itemDefinition" => {
                    let mut c = c;
                    let base = self.base_start(&mut c, true);
                    let mut m = ItemDefinition {
                        base,
                        item_kind: c.take_attr("itemKind"),
                        structure_ref: c.take_attr("structureRef"),
                        is_collection: self.bool_attr(&mut c, "isCollection"),
                    };
                    self.base_finish(c, &mut m.base);
                    RootElement::ItemDefinition(m)
                }
                "dataStore" => {
                    let mut c = c;
                    let base = self.base_start(&mut c, true);
                    let mut m = DataStore {
                        base,
                        name: c.take_attr("name"),
                        is_unlimited: self.bool_attr(&mut c, "isUnlimited"),
                        item_subject_ref: c.take_attr("itemSubjectRef"),
                    };
                    self.base_finish(c, &mut m.base);
                    RootElement::DataStore(m)
                }
                _ => {
                    self.unknown_child(&mut defs.base, c);
                    continue;
                }
            };
            defs.root_elements.push(root_element);
        }
        self.keep_attrs(&mut defs.base.unknown, root.attrs);
        // Standard namespaces the model uses but the root does not declare get their
        // conventional prefix, exactly as the writer will declare them.
        let mut used: Vec<&'static str> = (0..WELL_KNOWN.len())
            .filter(|id| self.used & (1 << id) != 0)
            .map(|id| WELL_KNOWN[id])
            .collect();
        used.sort_unstable();
        super::write::complete_namespaces(&mut declared, &used);
        defs.namespaces = declared;
        defs
    }

    /// Starts a base element: takes and records the id. Children come in `base_finish`.
    fn base_start(&mut self, el: &mut RawElement<'t>, id_required: bool) -> BaseElement {
        BaseElement {
            id: self.id(el, id_required),
            ..Default::default()
        }
    }

    /// Finishes an element with no typed children of its own.
    fn base_finish(&mut self, el: RawElement<'t>, base: &mut BaseElement) {
        let rest = self.base_children(el.children, base);
        for c in rest {
            self.unknown_child(base, c);
        }
        self.keep_attrs(&mut base.unknown, el.attrs);
    }

    fn process(&mut self, mut el: RawElement<'t>) -> Process {
        let base = self.base_start(&mut el, true);
        let mut p = Process {
            base,
            name: el.take_attr("name"),
            is_executable: self.bool_attr(&mut el, "isExecutable"),
            ..Default::default()
        };
        let rest = self.base_children(el.children, &mut p.base);
        for c in rest {
            if let Some(c) =
                self.container_child(c, &mut p.lane_sets, &mut p.flow_elements, &mut p.artifacts)
            {
                self.unknown_child(&mut p.base, c);
            }
        }
        self.keep_attrs(&mut p.base.unknown, el.attrs);
        p
    }

    /// Reads a child of a process or sub-process; returns it back when it is not one.
    fn container_child(
        &mut self,
        c: RawElement<'t>,
        lane_sets: &mut Vec<LaneSet>,
        flow_elements: &mut Vec<FlowElement>,
        artifacts: &mut Vec<Artifact>,
    ) -> Option<RawElement<'t>> {
        match c.local {
            "laneSet" => lane_sets.push(self.lane_set(c)),
            "textAnnotation" | "association" | "group" => artifacts.push(self.artifact(c)),
            _ => match self.flow_element(c) {
                Ok(fe) => flow_elements.push(fe),
                Err(c) => return Some(c),
            },
        }
        None
    }

    fn lane_set(&mut self, mut el: RawElement<'t>) -> LaneSet {
        let base = self.base_start(&mut el, false);
        let mut ls = LaneSet {
            base,
            name: el.take_attr("name"),
            lanes: Vec::new(),
        };
        for c in self.base_children(el.children, &mut ls.base) {
            if c.local == "lane" {
                let lane = self.lane(c);
                ls.lanes.push(lane);
            } else {
                self.unknown_child(&mut ls.base, c);
            }
        }
        self.keep_attrs(&mut ls.base.unknown, el.attrs);
        ls
    }

    fn lane(&mut self, mut el: RawElement<'t>) -> Lane {
        let base = self.base_start(&mut el, false);
        let mut lane = Lane {
            base,
            name: el.take_attr("name"),
            partition_element_ref: el.take_attr("partitionElementRef"),
            flow_node_refs: Vec::new(),
            child_lane_set: None,
        };
        for c in self.base_children(el.children, &mut lane.base) {
            match c.local {
                "flowNodeRef" => {
                    let r = self.reference(c);
                    lane.flow_node_refs.push(r);
                }
                "childLaneSet" if lane.child_lane_set.is_none() => {
                    lane.child_lane_set = Some(self.lane_set(c))
                }
                _ => self.unknown_child(&mut lane.base, c),
            }
        }
        self.keep_attrs(&mut lane.base.unknown, el.attrs);
        lane
    }

    fn artifact(&mut self, mut el: RawElement<'t>) -> Artifact {
        let mut base = self.base_start(&mut el, true);
        match el.local {
            "textAnnotation" => {
                let text_format = el.take_attr("textFormat");
                let mut text = None;
                for c in self.base_children(el.children, &mut base) {
                    if c.local == "text" && text.is_none() {
                        let mut ignored = Unknown::default();
                        text = Some(self.text_content(c.children, &mut ignored));
                    } else {
                        self.unknown_child(&mut base, c);
                    }
                }
                self.keep_attrs(&mut base.unknown, el.attrs);
                Artifact::TextAnnotation(TextAnnotation {
                    base,
                    text_format,
                    text,
                })
            }
            "association" => {
                let source_ref = self.required(&mut el, "sourceRef");
                let target_ref = self.required(&mut el, "targetRef");
                let association_direction = el.take_attr("associationDirection");
                self.base_finish(el, &mut base);
                Artifact::Association(Association {
                    base,
                    source_ref,
                    target_ref,
                    association_direction,
                })
            }
            _ => {
                let category_value_ref = el.take_attr("categoryValueRef");
                self.base_finish(el, &mut base);
                Artifact::Group(Group {
                    base,
                    category_value_ref,
                })
            }
        }
    }

    fn expression(&mut self, mut el: RawElement<'t>) -> Expression {
        let id = self.id(&mut el, false);
        let xsi_type = el.take_attr_ns(NS_XSI, "type");
        if xsi_type.is_some() {
            self.use_ns(NS_XSI);
        }
        let language = el.take_attr("language");
        let mut base = BaseElement {
            id,
            ..Default::default()
        };
        let body = self.text_content(el.children, &mut base.unknown);
        base.unknown.attributes = self.xml_attrs(el.attrs);
        Expression {
            base,
            xsi_type,
            language,
            body,
        }
    }

    /// A flow element, or the element back when it is not one.
    fn flow_element(&mut self, el: RawElement<'t>) -> Result<FlowElement, RawElement<'t>> {
        let event_kind = match el.local {
            "startEvent" => Some(EventKind::Start),
            "endEvent" => Some(EventKind::End),
            "intermediateCatchEvent" => Some(EventKind::IntermediateCatch),
            "intermediateThrowEvent" => Some(EventKind::IntermediateThrow),
            "boundaryEvent" => Some(EventKind::Boundary),
            _ => None,
        };
        if let Some(kind) = event_kind {
            return Ok(FlowElement::Event(self.event(kind, el)));
        }
        let gateway_kind = match el.local {
            "exclusiveGateway" => Some(GatewayKind::Exclusive),
            "parallelGateway" => Some(GatewayKind::Parallel),
            "inclusiveGateway" => Some(GatewayKind::Inclusive),
            "eventBasedGateway" => Some(GatewayKind::EventBased),
            "complexGateway" => Some(GatewayKind::Complex),
            _ => None,
        };
        if let Some(kind) = gateway_kind {
            return Ok(FlowElement::Gateway(self.gateway(kind, el)));
        }
        match el.local {
            "task" | "serviceTask" | "scriptTask" | "sendTask" | "receiveTask" | "userTask"
            | "manualTask" | "businessRuleTask" | "callActivity" | "subProcess" | "transaction"
            | "adHocSubProcess" => Ok(FlowElement::Activity(self.activity(el))),
            "sequenceFlow" => Ok(FlowElement::SequenceFlow(self.sequence_flow(el))),
            "dataObject" => {
                let mut el = el;
                let base = self.base_start(&mut el, true);
                let mut d = DataObject {
                    base,
                    name: el.take_attr("name"),
                    item_subject_ref: el.take_attr("itemSubjectRef"),
                    is_collection: self.bool_attr(&mut el, "isCollection"),
                };
                self.base_finish(el, &mut d.base);
                Ok(FlowElement::DataObject(d))
            }
            "dataObjectReference" => {
                let mut el = el;
                let base = self.base_start(&mut el, true);
                let mut d = DataObjectReference {
                    base,
                    name: el.take_attr("name"),
                    data_object_ref: el.take_attr("dataObjectRef"),
                    item_subject_ref: el.take_attr("itemSubjectRef"),
                };
                self.base_finish(el, &mut d.base);
                Ok(FlowElement::DataObjectReference(d))
            }
            "dataStoreReference" => {
                let mut el = el;
                let base = self.base_start(&mut el, true);
                let mut d = DataStoreReference {
                    base,
                    name: el.take_attr("name"),
                    data_store_ref: el.take_attr("dataStoreRef"),
                    item_subject_ref: el.take_attr("itemSubjectRef"),
                };
                self.base_finish(el, &mut d.base);
                Ok(FlowElement::DataStoreReference(d))
            }
            _ => Err(el),
        }
    }

    fn sequence_flow(&mut self, mut el: RawElement<'t>) -> SequenceFlow {
        let base = self.base_start(&mut el, true);
        let mut f = SequenceFlow {
            base,
            name: el.take_attr("name"),
            source_ref: self.required(&mut el, "sourceRef"),
            target_ref: self.required(&mut el, "targetRef"),
            is_immediate: self.bool_attr(&mut el, "isImmediate"),
            condition_expression: None,
        };
        for c in self.base_children(el.children, &mut f.base) {
            if c.local == "conditionExpression" && f.condition_expression.is_none() {
                f.condition_expression = Some(self.expression(c));
            } else {
                self.unknown_child(&mut f.base, c);
            }
        }
        self.keep_attrs(&mut f.base.unknown, el.attrs);
        f
    }

    fn data_association(&mut self, mut el: RawElement<'t>) -> DataAssociation {
        let base = self.base_start(&mut el, false);
        let mut a = DataAssociation {
            base,
            source_refs: Vec::new(),
            target_ref: None,
        };
        for c in self.base_children(el.children, &mut a.base) {
            match c.local {
                "sourceRef" => {
                    let r = self.reference(c);
                    a.source_refs.push(r);
                }
                "targetRef" if a.target_ref.is_none() => a.target_ref = Some(self.reference(c)),
                _ => self.unknown_child(&mut a.base, c),
            }
        }
        self.keep_attrs(&mut a.base.unknown, el.attrs);
        a
    }

    fn event(&mut self, kind: EventKind, mut el: RawElement<'t>) -> Event {
        let base = self.base_start(&mut el, true);
        let mut ev = Event::new(kind, "");
        ev.base = base;
        ev.name = el.take_attr("name");
        ev.is_interrupting = self.bool_attr(&mut el, "isInterrupting");
        ev.parallel_multiple = self.bool_attr(&mut el, "parallelMultiple");
        ev.attached_to_ref = el.take_attr("attachedToRef");
        if kind == EventKind::Boundary && ev.attached_to_ref.is_none() {
            self.missing(&el, "attachedToRef");
        }
        ev.cancel_activity = self.bool_attr(&mut el, "cancelActivity");
        for c in self.base_children(el.children, &mut ev.base) {
            match c.local {
                "incoming" => {
                    let r = self.reference(c);
                    ev.incoming.push(r);
                }
                "outgoing" => {
                    let r = self.reference(c);
                    ev.outgoing.push(r);
                }
                "eventDefinitionRef" => {
                    let r = self.reference(c);
                    ev.event_definition_refs.push(r);
                }
                "dataInputAssociation" => {
                    let a = self.data_association(c);
                    ev.data_input_associations.push(a);
                }
                "dataOutputAssociation" => {
                    let a = self.data_association(c);
                    ev.data_output_associations.push(a);
                }
                _ => match self.event_definition(c) {
                    Ok(d) => ev.event_definitions.push(d),
                    Err(c) => self.unknown_child(&mut ev.base, c),
                },
            }
        }
        self.keep_attrs(&mut ev.base.unknown, el.attrs);
        ev
    }

    fn event_definition(
        &mut self,
        mut el: RawElement<'t>,
    ) -> Result<EventDefinition, RawElement<'t>> {
        if !matches!(
            el.local,
            "cancelEventDefinition"
                | "compensateEventDefinition"
                | "conditionalEventDefinition"
                | "errorEventDefinition"
                | "escalationEventDefinition"
                | "linkEventDefinition"
                | "messageEventDefinition"
                | "signalEventDefinition"
                | "terminateEventDefinition"
                | "timerEventDefinition"
        ) {
            return Err(el);
        }
        let mut base = self.base_start(&mut el, false);
        let mut kind = match el.local {
            "cancelEventDefinition" => EventDefinitionKind::Cancel,
            "compensateEventDefinition" => EventDefinitionKind::Compensate {
                activity_ref: el.take_attr("activityRef"),
                wait_for_completion: self.bool_attr(&mut el, "waitForCompletion"),
            },
            "conditionalEventDefinition" => EventDefinitionKind::Conditional { condition: None },
            "errorEventDefinition" => EventDefinitionKind::Error {
                error_ref: el.take_attr("errorRef"),
            },
            "escalationEventDefinition" => EventDefinitionKind::Escalation {
                escalation_ref: el.take_attr("escalationRef"),
            },
            "linkEventDefinition" => EventDefinitionKind::Link {
                name: el.take_attr("name"),
                sources: Vec::new(),
                target: None,
            },
            "messageEventDefinition" => EventDefinitionKind::Message {
                message_ref: el.take_attr("messageRef"),
                operation_ref: None,
            },
            "signalEventDefinition" => EventDefinitionKind::Signal {
                signal_ref: el.take_attr("signalRef"),
            },
            "terminateEventDefinition" => EventDefinitionKind::Terminate,
            _ => EventDefinitionKind::Timer {
                time_date: None,
                time_duration: None,
                time_cycle: None,
            },
        };
        for c in self.base_children(el.children, &mut base) {
            match (&mut kind, c.local) {
                (EventDefinitionKind::Conditional { condition }, "condition")
                    if condition.is_none() =>
                {
                    *condition = Some(self.expression(c));
                }
                (EventDefinitionKind::Link { sources, .. }, "source") => {
                    sources.push(self.reference(c))
                }
                (EventDefinitionKind::Link { target, .. }, "target") if target.is_none() => {
                    *target = Some(self.reference(c));
                }
                (EventDefinitionKind::Message { operation_ref, .. }, "operationRef")
                    if operation_ref.is_none() =>
                {
                    *operation_ref = Some(self.reference(c));
                }
                (EventDefinitionKind::Timer { time_date, .. }, "timeDate")
                    if time_date.is_none() =>
                {
                    *time_date = Some(self.expression(c));
                }
                (EventDefinitionKind::Timer { time_duration, .. }, "timeDuration")
                    if time_duration.is_none() =>
                {
                    *time_duration = Some(self.expression(c));
                }
                (EventDefinitionKind::Timer { time_cycle, .. }, "timeCycle")
                    if time_cycle.is_none() =>
                {
                    *time_cycle = Some(self.expression(c));
                }
                _ => self.unknown_child(&mut base, c),
            }
        }
        self.keep_attrs(&mut base.unknown, el.attrs);
        Ok(EventDefinition { base, kind })
    }

    fn gateway(&mut self, kind: GatewayKind, mut el: RawElement<'t>) -> Gateway {
        let base = self.base_start(&mut el, true);
        let mut g = Gateway::new(kind, "");
        g.base = base;
        g.name = el.take_attr("name");
        g.default = el.take_attr("default");
        for c in self.base_children(el.children, &mut g.base) {
            match c.local {
                "incoming" => {
                    let r = self.reference(c);
                    g.incoming.push(r);
                }
                "outgoing" => {
                    let r = self.reference(c);
                    g.outgoing.push(r);
                }
                "activationCondition" if g.activation_condition.is_none() => {
                    g.activation_condition = Some(self.expression(c));
                }
                _ => self.unknown_child(&mut g.base, c),
            }
        }
        self.keep_attrs(&mut g.base.unknown, el.attrs);
        g
    }

    fn activity(&mut self, mut el: RawElement<'t>) -> Activity {
        let base = self.base_start(&mut el, true);
        let sub = |this: &mut Self, el: &mut RawElement<'t>| SubProcess {
            triggered_by_event: this.bool_attr(el, "triggeredByEvent"),
            ..Default::default()
        };
        let kind = match el.local {
            "serviceTask" => ActivityKind::ServiceTask,
            "scriptTask" => ActivityKind::ScriptTask {
                script_format: el.take_attr("scriptFormat"),
                script: None,
            },
            "sendTask" => ActivityKind::SendTask {
                message_ref: el.take_attr("messageRef"),
            },
            "receiveTask" => ActivityKind::ReceiveTask {
                message_ref: el.take_attr("messageRef"),
                instantiate: self.bool_attr(&mut el, "instantiate"),
            },
            "userTask" => ActivityKind::UserTask,
            "manualTask" => ActivityKind::ManualTask,
            "businessRuleTask" => ActivityKind::BusinessRuleTask,
            "callActivity" => ActivityKind::CallActivity {
                called_element: el.take_attr("calledElement"),
            },
            "subProcess" => ActivityKind::SubProcess(sub(self, &mut el)),
            "transaction" => ActivityKind::Transaction(sub(self, &mut el)),
            "adHocSubProcess" => {
                let mut s = sub(self, &mut el);
                s.ordering = el.take_attr("ordering");
                ActivityKind::AdHocSubProcess(s)
            }
            _ => ActivityKind::Task,
        };
        let mut a = Activity::new(kind, "");
        a.base = base;
        a.name = el.take_attr("name");
        a.default = el.take_attr("default");
        a.is_for_compensation = self.bool_attr(&mut el, "isForCompensation");
        for c in self.base_children(el.children, &mut a.base) {
            match c.local {
                "incoming" => {
                    let r = self.reference(c);
                    a.incoming.push(r);
                }
                "outgoing" => {
                    let r = self.reference(c);
                    a.outgoing.push(r);
                }
                "dataInputAssociation" => {
                    let d = self.data_association(c);
                    a.data_input_associations.push(d);
                }
                "dataOutputAssociation" => {
                    let d = self.data_association(c);
                    a.data_output_associations.push(d);
                }
                "standardLoopCharacteristics" if a.loop_characteristics.is_none() => {
                    a.loop_characteristics =
                        Some(LoopCharacteristics::Standard(self.standard_loop(c)));
                }
                "multiInstanceLoopCharacteristics" if a.loop_characteristics.is_none() => {
                    a.loop_characteristics =
                        Some(LoopCharacteristics::MultiInstance(self.multi_instance(c)));
                }
                _ => {
                    let leftover = match &mut a.kind {
                        ActivityKind::ScriptTask { script, .. }
                            if c.local == "script" && script.is_none() =>
                        {
                            let mut unknown = Unknown::default();
                            let text = self.text_content(c.children, &mut unknown);
                            unknown.attributes = self.xml_attrs(c.attrs);
                            *script = Some(Script { text, unknown });
                            None
                        }
                        ActivityKind::AdHocSubProcess(s)
                            if c.local == "completionCondition"
                                && s.completion_condition.is_none() =>
                        {
                            s.completion_condition = Some(self.expression(c));
                            None
                        }
                        ActivityKind::SubProcess(s)
                        | ActivityKind::Transaction(s)
                        | ActivityKind::AdHocSubProcess(s) => self.container_child(
                            c,
                            &mut s.lane_sets,
                            &mut s.flow_elements,
                            &mut s.artifacts,
                        ),
                        _ => Some(c),
                    };
                    if let Some(c) = leftover {
                        self.unknown_child(&mut a.base, c);
                    }
                }
            }
        }
        self.keep_attrs(&mut a.base.unknown, el.attrs);
        a
    }

    fn standard_loop(&mut self, mut el: RawElement<'t>) -> StandardLoop {
        let base = self.base_start(&mut el, false);
        let mut l = StandardLoop {
            base,
            test_before: self.bool_attr(&mut el, "testBefore"),
            loop_condition: None,
        };
        for c in self.base_children(el.children, &mut l.base) {
            if c.local == "loopCondition" && l.loop_condition.is_none() {
                l.loop_condition = Some(self.expression(c));
            } else {
                self.unknown_child(&mut l.base, c);
            }
        }
        self.keep_attrs(&mut l.base.unknown, el.attrs);
        l
    }

    fn multi_instance(&mut self, mut el: RawElement<'t>) -> MultiInstance {
        let base = self.base_start(&mut el, false);
        let mut m = MultiInstance {
            base,
            is_sequential: self.bool_attr(&mut el, "isSequential"),
            behavior: el.take_attr("behavior"),
            ..Default::default()
        };
        for c in self.base_children(el.children, &mut m.base) {
            match c.local {
                "loopCardinality" if m.loop_cardinality.is_none() => {
                    m.loop_cardinality = Some(self.expression(c))
                }
                "loopDataInputRef" if m.loop_data_input_ref.is_none() => {
                    m.loop_data_input_ref = Some(self.reference(c));
                }
                "loopDataOutputRef" if m.loop_data_output_ref.is_none() => {
                    m.loop_data_output_ref = Some(self.reference(c));
                }
                "inputDataItem" if m.input_data_item.is_none() => {
                    m.input_data_item = Some(self.data_item(c))
                }
                "outputDataItem" if m.output_data_item.is_none() => {
                    m.output_data_item = Some(self.data_item(c))
                }
                "completionCondition" if m.completion_condition.is_none() => {
                    m.completion_condition = Some(self.expression(c));
                }
                _ => self.unknown_child(&mut m.base, c),
            }
        }
        self.keep_attrs(&mut m.base.unknown, el.attrs);
        m
    }

    fn data_item(&mut self, mut el: RawElement<'t>) -> DataItem {
        let base = self.base_start(&mut el, false);
        let mut d = DataItem {
            base,
            name: el.take_attr("name"),
            item_subject_ref: el.take_attr("itemSubjectRef"),
            is_collection: self.bool_attr(&mut el, "isCollection"),
        };
        self.base_finish(el, &mut d.base);
        d
    }

    fn collaboration(&mut self, mut el: RawElement<'t>) -> Collaboration {
        let base = self.base_start(&mut el, true);
        let mut col = Collaboration {
            base,
            name: el.take_attr("name"),
            ..Default::default()
        };
        for mut c in self.base_children(el.children, &mut col.base) {
            match c.local {
                "participant" => {
                    let base = self.base_start(&mut c, true);
                    let mut p = Participant {
                        base,
                        name: c.take_attr("name"),
                        process_ref: c.take_attr("processRef"),
                    };
                    self.base_finish(c, &mut p.base);
                    col.participants.push(p);
                }
                "messageFlow" => {
                    let base = self.base_start(&mut c, true);
                    let mut f = MessageFlow {
                        base,
                        name: c.take_attr("name"),
                        source_ref: self.required(&mut c, "sourceRef"),
                        target_ref: self.required(&mut c, "targetRef"),
                        message_ref: c.take_attr("messageRef"),
                    };
                    self.base_finish(c, &mut f.base);
                    col.message_flows.push(f);
                }
                "textAnnotation" | "association" | "group" => {
                    let a = self.artifact(c);
                    col.artifacts.push(a);
                }
                _ => self.unknown_child(&mut col.base, c),
            }
        }
        self.keep_attrs(&mut col.base.unknown, el.attrs);
        col
    }

    // ----- diagram interchange -----

    /// Splits DI children: non-element nodes go to `unknown`, elements are returned.
    fn di_children(
        &mut self,
        children: Vec<RawNode<'t>>,
        unknown: &mut Unknown,
    ) -> Vec<RawNode<'t>> {
        let mut rest = Vec::new();
        for child in children {
            match child {
                RawNode::Other(o) => self.stray(o, unknown),
                element => rest.push(element),
            }
        }
        rest
    }

    /// A DI child element to look at; generic ones go straight to `unknown`.
    fn di_raw(&mut self, child: RawNode<'t>, unknown: &mut Unknown) -> Option<RawElement<'t>> {
        match child {
            RawNode::Element(c) => Some(c),
            RawNode::Generic(g) => {
                let g = self.adopt(g);
                unknown.children.push(XmlNode::Element(g));
                None
            }
            RawNode::Other(o) => {
                self.stray(o, unknown);
                None
            }
        }
    }

    fn di_unknown(&mut self, unknown: &mut Unknown, el: RawElement<'t>) {
        let g = self.generic(el);
        unknown.children.push(XmlNode::Element(g));
    }

    fn diagram(&mut self, mut el: RawElement<'t>) -> Diagram {
        let mut d = Diagram {
            id: self.id(&mut el, false),
            name: el.take_attr("name"),
            documentation: el.take_attr("documentation"),
            ..Default::default()
        };
        let mut unknown = Unknown::default();
        for c in self.di_children(el.children, &mut unknown) {
            let Some(c) = self.di_raw(c, &mut unknown) else {
                continue;
            };
            if c.is(NS_BPMNDI, "BPMNPlane") && d.plane.is_none() {
                d.plane = Some(self.plane(c));
            } else if c.is(NS_BPMNDI, "BPMNLabelStyle") {
                let s = self.label_style(c);
                d.label_styles.push(s);
            } else {
                self.di_unknown(&mut unknown, c);
            }
        }
        unknown.attributes = self.xml_attrs(el.attrs);
        d.unknown = unknown;
        d
    }

    fn plane(&mut self, mut el: RawElement<'t>) -> Plane {
        let mut p = Plane {
            id: self.id(&mut el, false),
            bpmn_element: el.take_attr("bpmnElement"),
            ..Default::default()
        };
        let mut unknown = Unknown::default();
        for c in self.di_children(el.children, &mut unknown) {
            let Some(c) = self.di_raw(c, &mut unknown) else {
                continue;
            };
            if c.is(NS_BPMNDI, "BPMNShape") {
                let s = self.shape(c);
                p.elements.push(DiagramElement::Shape(s));
            } else if c.is(NS_BPMNDI, "BPMNEdge") {
                let e = self.edge(c);
                p.elements.push(DiagramElement::Edge(e));
            } else {
                self.di_unknown(&mut unknown, c);
            }
        }
        unknown.attributes = self.xml_attrs(el.attrs);
        p.unknown = unknown;
        p
    }

    fn bounds(&mut self, mut el: RawElement<'t>) -> Bounds {
        self.use_ns(NS_DC);
        Bounds {
            x: self.number(&mut el, "x"),
            y: self.number(&mut el, "y"),
            width: self.number(&mut el, "width"),
            height: self.number(&mut el, "height"),
        }
    }

    fn shape(&mut self, mut el: RawElement<'t>) -> Shape {
        let offset = el.offset;
        let mut s = Shape {
            id: self.id(&mut el, false),
            bpmn_element: el.take_attr("bpmnElement"),
            is_horizontal: self.bool_attr(&mut el, "isHorizontal"),
            is_expanded: self.bool_attr(&mut el, "isExpanded"),
            is_marker_visible: self.bool_attr(&mut el, "isMarkerVisible"),
            is_message_visible: self.bool_attr(&mut el, "isMessageVisible"),
            ..Default::default()
        };
        let mut unknown = Unknown::default();
        for c in self.di_children(el.children, &mut unknown) {
            let Some(c) = self.di_raw(c, &mut unknown) else {
                continue;
            };
            if c.is(NS_DC, "Bounds") && s.bounds.is_none() {
                s.bounds = Some(self.bounds(c));
            } else if c.is(NS_BPMNDI, "BPMNLabel") && s.label.is_none() {
                s.label = Some(self.label(c));
            } else {
                self.di_unknown(&mut unknown, c);
            }
        }
        if s.bounds.is_none() {
            let mut d = Diagnostic::error(
                "bpmn.missing-bounds",
                "a `BPMNShape` needs a `dc:Bounds` child",
            );
            if let Some(id) = &s.id {
                d = d.on(id.clone());
            }
            self.report(offset, d);
        }
        unknown.attributes = self.xml_attrs(el.attrs);
        s.unknown = unknown;
        s
    }

    fn edge(&mut self, mut el: RawElement<'t>) -> Edge {
        let mut e = Edge {
            id: self.id(&mut el, false),
            bpmn_element: el.take_attr("bpmnElement"),
            source_element: el.take_attr("sourceElement"),
            target_element: el.take_attr("targetElement"),
            ..Default::default()
        };
        let mut unknown = Unknown::default();
        for c in self.di_children(el.children, &mut unknown) {
            let Some(mut c) = self.di_raw(c, &mut unknown) else {
                continue;
            };
            if c.is(NS_DI, "waypoint") {
                self.use_ns(NS_DI);
                let p = Point {
                    x: self.number(&mut c, "x"),
                    y: self.number(&mut c, "y"),
                };
                e.waypoints.push(p);
            } else if c.is(NS_BPMNDI, "BPMNLabel") && e.label.is_none() {
                e.label = Some(self.label(c));
            } else {
                self.di_unknown(&mut unknown, c);
            }
        }
        unknown.attributes = self.xml_attrs(el.attrs);
        e.unknown = unknown;
        e
    }

    fn label(&mut self, mut el: RawElement<'t>) -> Label {
        let mut l = Label {
            id: self.id(&mut el, false),
            label_style: el.take_attr("labelStyle"),
            ..Default::default()
        };
        let mut unknown = Unknown::default();
        for c in self.di_children(el.children, &mut unknown) {
            let Some(c) = self.di_raw(c, &mut unknown) else {
                continue;
            };
            if c.is(NS_DC, "Bounds") && l.bounds.is_none() {
                l.bounds = Some(self.bounds(c));
            } else {
                self.di_unknown(&mut unknown, c);
            }
        }
        unknown.attributes = self.xml_attrs(el.attrs);
        l.unknown = unknown;
        l
    }

    fn label_style(&mut self, mut el: RawElement<'t>) -> LabelStyle {
        let mut s = LabelStyle {
            id: self.id(&mut el, false),
            ..Default::default()
        };
        let mut unknown = Unknown::default();
        for c in self.di_children(el.children, &mut unknown) {
            let Some(mut c) = self.di_raw(c, &mut unknown) else {
                continue;
            };
            if c.is(NS_DC, "Font") && s.font.is_none() {
                self.use_ns(NS_DC);
                let mut font = Font {
                    name: c.take_attr("name"),
                    is_bold: self.bool_attr(&mut c, "isBold"),
                    is_italic: self.bool_attr(&mut c, "isItalic"),
                    is_underline: self.bool_attr(&mut c, "isUnderline"),
                    is_strike_through: self.bool_attr(&mut c, "isStrikeThrough"),
                    ..Default::default()
                };
                if let Some(size) = c.take_attr("size") {
                    match size.trim().parse::<f64>() {
                        Ok(v) if v.is_finite() => font.size = Some(v),
                        _ => {
                            self.report(
                                c.offset,
                                Diagnostic::warning(
                                    "bpmn.invalid-number",
                                    format!("font size `{size}` is not a number"),
                                ),
                            );
                            c.restore_attr("size", size);
                        }
                    }
                }
                let mut fu = Unknown::default();
                for n in self.di_children(c.children, &mut fu) {
                    let Some(n) = self.di_raw(n, &mut fu) else {
                        continue;
                    };
                    self.di_unknown(&mut fu, n);
                }
                fu.attributes = self.xml_attrs(c.attrs);
                font.unknown = fu;
                s.font = Some(font);
            } else {
                self.di_unknown(&mut unknown, c);
            }
        }
        unknown.attributes = self.xml_attrs(el.attrs);
        s.unknown = unknown;
        s
    }
}
