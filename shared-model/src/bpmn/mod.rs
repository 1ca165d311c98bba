//! BPMN 2.0 interchange: read and write `.bpmn` files, with diagram interchange (DI).
//!
//! [`read_bpmn`] turns XML text into a typed [`Definitions`] plus a [`SourceMap`] and
//! diagnostics; it never panics and never fails. [`write_bpmn`] writes a model back in a
//! canonical, deterministic layout. The executable subset (events, tasks, gateways, flows,
//! sub-processes, loops, DI) is typed; everything else — unknown BPMN elements such as
//! `ioSpecification`, vendor extensions (camunda:, zeebe:, signavio: …), unknown attributes,
//! comments, CDATA — is kept as generic XML ([`XmlNode`]) on the nearest owning element, so a
//! round trip through Starweave loses nothing another tool wrote.
//!
//! # Starweave bindings
//!
//! What a task calls lives in its `extensionElements`, in the namespace
//! `https://starweave.dev/schema/bpmn/1.0` (prefix `sw` by convention), and is read into
//! [`StarweaveTask`]:
//!
//! ```xml
//! <bpmn:serviceTask id="load_user" name="Load user">
//!   <bpmn:extensionElements>
//!     <sw:task connector="users" method="get" timeout="5s" retries="2" retryBackoff="200ms">
//!       <sw:input name="id" expr="user_id"/>
//!       <sw:output name="user" expr="result.body"/>
//!     </sw:task>
//!   </bpmn:extensionElements>
//! </bpmn:serviceTask>
//! ```
//!
//! The target is one of `connector` + `method` (a connector method), `function` (a code
//! function), `bpmnFunction` (a BPMN function, on call activities) or `component` (a library
//! component). `timeout` and `retryBackoff` are duration text (`250ms`, `5s`, `1m30s`);
//! `retries` is a count. `sw:input` maps a parameter of the callee to a Rhai expression over
//! process variables; `sw:output` sets a process variable from a Rhai expression over
//! `result`. A multi-instance activity adds
//! `<sw:multiInstance collection="order.items" elementVariable="item"
//! outputCollection="prices" outputElement="result.price"/>` inside `sw:task`.

mod model;
mod parse;
mod read;
mod starweave;
mod write;
mod xml;

use std::collections::HashMap;

pub use model::*;
pub use starweave::{
    Mapping, StarweaveMultiInstance, StarweaveTarget, StarweaveTask, parse_duration_ms,
};
pub use xml::{XmlAttribute, XmlElement, XmlNode, XmlStr};

use crate::{Diagnostic, SourcePos};

/// The BPMN 2.0 model namespace.
pub const BPMN_NS: &str = "http://www.omg.org/spec/BPMN/20100524/MODEL";
/// The BPMN diagram interchange namespace (`BPMNDiagram`, `BPMNShape` …).
pub const BPMNDI_NS: &str = "http://www.omg.org/spec/BPMN/20100524/DI";
/// The OMG diagram common namespace (`Bounds`, `Font`).
pub const DC_NS: &str = "http://www.omg.org/spec/DD/20100524/DC";
/// The OMG diagram interchange namespace (`waypoint`).
pub const DI_NS: &str = "http://www.omg.org/spec/DD/20100524/DI";
/// XML Schema instance, for `xsi:type`.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// Starweave's extension namespace.
pub const STARWEAVE_NS: &str = "https://starweave.dev/schema/bpmn/1.0";
/// The reserved namespace of `xmlns` declarations.
pub const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Elements nested deeper than this are skipped with a diagnostic, which bounds every
/// recursive walk of the model.
pub const MAX_DEPTH: usize = 256;

/// What [`read_bpmn`] returns: the model, where its elements were, and what was wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct BpmnDocument {
    /// The model; as complete as the input allowed.
    pub definitions: Definitions,
    /// Element id → position of its start tag.
    pub source_map: SourceMap,
    /// Structural problems found while reading, in document order.
    pub diagnostics: Vec<Diagnostic>,
}

impl BpmnDocument {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Where each element of a read file started, keyed by element id. Kept outside the model
/// so that models compare equal regardless of formatting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceMap {
    positions: HashMap<String, SourcePos>,
}

impl SourceMap {
    /// The line and column of the start tag of the element with this id (the first one,
    /// when the id is duplicated).
    pub fn pos(&self, id: &str) -> Option<SourcePos> {
        self.positions.get(id).copied()
    }

    /// How many ids are mapped.
    pub fn len(&self) -> usize {
        self.positions.len()
    }

    /// Whether no id is mapped.
    pub fn is_empty(&self) -> bool {
        self.positions.is_empty()
    }

    /// Every id and its position, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, SourcePos)> {
        self.positions.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Records the first position of `id`; returns `false` when it was already known.
    fn insert(&mut self, id: &str, pos: SourcePos) -> bool {
        // One hash per id; duplicates (rare) pay for a key copy they do not keep.
        match self.positions.entry(id.to_owned()) {
            std::collections::hash_map::Entry::Occupied(_) => false,
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(pos);
                true
            }
        }
    }
}

/// Reads BPMN 2.0 XML. Never panics and never fails: problems become diagnostics and the
/// model holds everything that could be read (up to the first XML syntax error).
pub fn read_bpmn(text: &str) -> BpmnDocument {
    read::read(text, Vec::new())
}

/// Reads BPMN 2.0 XML from bytes. UTF-8 (with or without BOM) is read as is; UTF-16 with a
/// BOM and ISO-8859-1 / Windows-1252 declared in the XML declaration are decoded; anything
/// else is decoded lossily with a diagnostic at the first bad byte.
pub fn read_bpmn_bytes(bytes: &[u8]) -> BpmnDocument {
    let (text, diagnostics) = read::decode(bytes);
    read::read(&text, diagnostics)
}

/// Writes a model as canonical BPMN 2.0 XML: XML declaration, two-space indentation, fixed
/// attribute and child order. Writing what was read and reading it again gives an equal
/// model, and writing is idempotent.
pub fn write_bpmn(defs: &Definitions) -> String {
    write::write(defs)
}
