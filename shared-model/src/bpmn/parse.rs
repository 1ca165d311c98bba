//! Stage one of reading: XML text → a namespace-resolved element tree with byte offsets.
//!
//! The tree builder is iterative (an explicit stack), so hostile nesting cannot overflow the
//! call stack; subtrees deeper than [`super::MAX_DEPTH`] are skipped with a diagnostic, which
//! bounds every later recursive walk.
//!
//! The raw tree borrows from the input: element and attribute names are slices of the text,
//! attribute values are borrowed unless normalisation changed them, and namespaces are small
//! ids into a per-document table ([`Namespaces`]). Only what the typed model keeps is copied,
//! when stage two moves it there. Elements outside the namespaces stage two types (vendor
//! extensions, most of a typical file) can only end up as generic XML, so they are built in
//! that final form right away ([`GenericElement`]). Children of open elements wait on one
//! shared stack and move into an exactly sized vector when their parent closes.
//!
//! Namespace scoping is quick-xml's own resolver (so binding rules and their errors are
//! exactly quick-xml's); resolved prefixes are cached until the bindings in scope change,
//! because a prefix lookup walks every binding in scope.

use std::borrow::Cow;
use std::collections::HashMap;

use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::events::attributes::{Attribute, Attributes};
use quick_xml::name::{NamespaceError, NamespaceResolver, QName, ResolveResult};
use quick_xml::reader::Reader;

use super::xml::{XmlAttribute, XmlElement, XmlNode, XmlStr};
use super::{BPMN_NS, BPMNDI_NS, DC_NS, DI_NS, MAX_DEPTH, STARWEAVE_NS, XMLNS_NS, XSI_NS};
use crate::{Diagnostic, SourcePos};

/// A namespace URI of the document being read, as an index into its [`Namespaces`].
pub(crate) type NsId = u32;

/// The BPMN model namespace.
pub(crate) const NS_BPMN: NsId = 0;
/// The BPMN DI namespace.
pub(crate) const NS_BPMNDI: NsId = 1;
/// The OMG DC namespace.
pub(crate) const NS_DC: NsId = 2;
/// The OMG DI namespace.
pub(crate) const NS_DI: NsId = 3;
/// XML Schema instance.
pub(crate) const NS_XSI: NsId = 4;
/// Starweave's extension namespace.
pub(crate) const NS_STARWEAVE: NsId = 5;
/// The namespace of `xmlns` declarations.
pub(crate) const NS_XMLNS: NsId = 6;

/// Ids below this are the namespaces whose elements stage two types; elements in any other
/// namespace (or none) are always kept as generic XML.
const TYPED_NAMESPACES: NsId = NS_STARWEAVE + 1;

/// The namespaces stage two looks for, at the ids above.
pub(crate) const WELL_KNOWN: [&str; 7] = [
    BPMN_NS,
    BPMNDI_NS,
    DC_NS,
    DI_NS,
    XSI_NS,
    STARWEAVE_NS,
    XMLNS_NS,
];

/// The namespace URIs of one document: the well-known ones at fixed ids, then every other
/// URI once, in order of first use. Also shares the names of generic XML ([`Names`]).
#[derive(Debug, Default)]
pub(crate) struct Namespaces {
    others: Vec<XmlStr>,
    index: HashMap<String, NsId>,
    names: Names,
    values: Names,
}

/// Attribute values up to this many bytes go through the [`Names`] cache.
const MAX_SHARED_VALUE: usize = 24;

impl Namespaces {
    /// The URI of `id`.
    pub fn uri(&self, id: NsId) -> &str {
        let i = id as usize;
        match WELL_KNOWN.get(i) {
            Some(known) => known,
            None => self
                .others
                .get(i - WELL_KNOWN.len())
                .map_or("", XmlStr::as_str),
        }
    }

    /// The URI of `id`, shared.
    pub fn uri_name(&self, id: NsId) -> XmlStr {
        let i = id as usize;
        match WELL_KNOWN.get(i) {
            Some(known) => XmlStr::from_static(known),
            None => self
                .others
                .get(i - WELL_KNOWN.len())
                .cloned()
                .unwrap_or_default(),
        }
    }

    /// `name` as a shared name.
    pub fn name(&mut self, name: &str) -> XmlStr {
        self.names.get(name)
    }

    /// An attribute value as shared text: short values (codes, flags, numbers) are shared
    /// like names, longer ones (ids, prose) get their own copy.
    pub fn value(&mut self, value: Cow<'_, str>) -> XmlStr {
        if value.len() <= MAX_SHARED_VALUE {
            self.values.get(&value)
        } else {
            XmlStr::from(value.as_ref())
        }
    }

    fn intern(&mut self, uri: Cow<'_, str>) -> NsId {
        if let Some(i) = WELL_KNOWN.iter().position(|known| *known == uri) {
            return i as NsId;
        }
        if let Some(id) = self.index.get(uri.as_ref()) {
            return *id;
        }
        let id = (WELL_KNOWN.len() + self.others.len()) as NsId;
        let uri = uri.into_owned();
        self.others.push(XmlStr::from(uri.as_str()));
        self.index.insert(uri, id);
        id
    }
}

/// Slots of the [`Names`] cache; a power of two.
const NAME_SLOTS: usize = 1024;

/// A small direct-mapped cache of shared names (or short values): a name hashes to one slot, and the slot
/// keeps the last name that hashed there. Lookups cost a short hash and one comparison, far
/// less than the allocation (and later free) of a string, and a document's vendor
/// extensions use few distinct names. A miss only costs the allocation it replaces.
#[derive(Debug)]
pub(crate) struct Names {
    slots: Vec<XmlStr>,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            slots: vec![XmlStr::default(); NAME_SLOTS],
        }
    }
}

impl Names {
    fn get(&mut self, name: &str) -> XmlStr {
        if name.is_empty() {
            return XmlStr::default();
        }
        let slot = &mut self.slots[name_hash(name.as_bytes()) & (NAME_SLOTS - 1)];
        if slot.as_str() != name {
            *slot = XmlStr::from(name);
        }
        slot.clone()
    }
}

/// A fast, non-cryptographic hash of a short name (multiply-rotate over 8-byte words).
fn name_hash(bytes: &[u8]) -> usize {
    const K: u64 = 0x517c_c1b7_2722_0a95;
    let mut h = bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_le_bytes([
            word[0], word[1], word[2], word[3], word[4], word[5], word[6], word[7],
        ]);
        h = (h.rotate_left(5) ^ w).wrapping_mul(K);
    }
    for b in words.remainder() {
        h = (h.rotate_left(5) ^ u64::from(*b)).wrapping_mul(K);
    }
    (h ^ (h >> 29)) as usize
}

/// An attribute of the raw tree.
#[derive(Debug)]
pub(crate) struct RawAttr<'t> {
    /// The resolved namespace; `None` for unprefixed attributes.
    pub ns: Option<NsId>,
    /// The prefix as written (`""` for none).
    pub prefix: &'t str,
    pub local: &'t str,
    /// The normalised value.
    pub value: Cow<'t, str>,
}

/// An element of the raw tree.
#[derive(Debug)]
pub(crate) struct RawElement<'t> {
    pub ns: Option<NsId>,
    /// The prefix as written (`""` for none).
    pub prefix: &'t str,
    pub local: &'t str,
    pub attrs: Vec<RawAttr<'t>>,
    pub children: Vec<RawNode<'t>>,
    /// Byte offset of the `<` of the start tag.
    pub offset: usize,
}

/// An element outside the typed namespaces, with its subtree, already in final form.
#[derive(Debug)]
pub(crate) struct GenericElement<'t> {
    pub element: XmlElement,
    /// The `id` attributes in this subtree with the offsets of their elements, in document
    /// order. Stage two records them when it adopts the subtree, so the source map is
    /// filled in the same order as for every other element.
    pub ids: Vec<(usize, Cow<'t, str>)>,
}

/// A node of the raw tree: elements keep their offsets, everything else is final.
#[derive(Debug)]
pub(crate) enum RawNode<'t> {
    Element(RawElement<'t>),
    Generic(GenericElement<'t>),
    Other(XmlNode),
}

/// A diagnostic whose position is still a byte offset.
pub(crate) type PendingDiagnostic = (Option<usize>, Diagnostic);

impl<'t> RawElement<'t> {
    /// Whether this element is `local` in namespace `ns`.
    pub fn is(&self, ns: NsId, local: &str) -> bool {
        self.ns == Some(ns) && self.local == local
    }

    /// The value of the unprefixed attribute `name`, left in place.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.local == name)
            .map(|a| a.value.as_ref())
    }

    /// Removes and returns the unprefixed attribute `name`.
    pub fn take_attr(&mut self, name: &str) -> Option<String> {
        let i = self
            .attrs
            .iter()
            .position(|a| a.ns.is_none() && a.local == name)?;
        Some(self.attrs.remove(i).value.into_owned())
    }

    /// Removes and returns the attribute `name` in namespace `ns`.
    pub fn take_attr_ns(&mut self, ns: NsId, name: &str) -> Option<String> {
        let i = self
            .attrs
            .iter()
            .position(|a| a.ns == Some(ns) && a.local == name)?;
        Some(self.attrs.remove(i).value.into_owned())
    }

    /// Puts an attribute back (when its value could not be typed), so it is kept verbatim.
    pub fn restore_attr(&mut self, name: &'t str, value: String) {
        self.attrs.push(RawAttr {
            ns: None,
            prefix: "",
            local: name,
            value: Cow::Owned(value),
        });
    }
}

/// Converts byte offsets to line/column positions. Lookups walk from the previous position,
/// so offsets in increasing order (the common case) cost linear time in total and need no
/// table of lines; going back also walks, until the walking back adds up to the length of
/// the text, after which a table of line starts answers every lookup (so hostile orders of
/// lookups cannot make it quadratic).
#[derive(Debug)]
pub(crate) struct Locator<'t> {
    text: &'t str,
    last_offset: usize,
    last_line: u32,
    last_column: u32,
    /// Bytes walked over backwards so far.
    walked_back: usize,
    /// Offsets where lines start, once walking back became too expensive.
    line_starts: Option<Vec<usize>>,
}

impl<'t> Locator<'t> {
    pub fn new(text: &'t str) -> Self {
        Locator {
            text,
            last_offset: 0,
            last_line: 1,
            last_column: 1,
            walked_back: 0,
            line_starts: None,
        }
    }

    pub fn pos(&mut self, offset: usize) -> SourcePos {
        let mut offset = offset.min(self.text.len());
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let bytes = self.text.as_bytes();
        if self.line_starts.is_none() && offset < self.last_offset {
            let line_start = memchr::memrchr(b'\n', &bytes[..offset]).map_or(0, |i| i + 1);
            self.walked_back += (self.last_offset - offset) + (offset - line_start);
            if self.walked_back <= self.text.len() {
                let newlines = count_newlines(&bytes[offset..self.last_offset]);
                self.last_line -= newlines as u32;
                self.last_column = 1 + self.text[line_start..offset].chars().count() as u32;
                self.last_offset = offset;
                return self.last();
            }
            let mut line_starts = vec![0];
            line_starts.extend(memchr::memchr_iter(b'\n', bytes).map(|i| i + 1));
            self.line_starts = Some(line_starts);
        }
        if let Some(line_starts) = &self.line_starts {
            let line_index = line_starts.partition_point(|s| *s <= offset) - 1;
            let line_start = line_starts[line_index];
            let (from, mut column) = if offset >= self.last_offset
                && self.last_offset >= line_start
                && self.last_line as usize == line_index + 1
            {
                (self.last_offset, self.last_column)
            } else {
                (line_start, 1)
            };
            column += self.text[from..offset].chars().count() as u32;
            self.last_line = line_index as u32 + 1;
            self.last_column = column;
        } else {
            let walked = &bytes[self.last_offset..offset];
            match memchr::memrchr(b'\n', walked) {
                Some(i) => {
                    let line_start = self.last_offset + i + 1;
                    self.last_line += count_newlines(walked) as u32;
                    self.last_column = 1 + self.text[line_start..offset].chars().count() as u32;
                }
                None => {
                    self.last_column += self.text[self.last_offset..offset].chars().count() as u32;
                }
            }
        }
        self.last_offset = offset;
        self.last()
    }

    fn last(&self) -> SourcePos {
        SourcePos {
            line: self.last_line,
            column: self.last_column,
        }
    }
}

fn count_newlines(bytes: &[u8]) -> usize {
    // The memchr iterator counts with vector instructions.
    memchr::memchr_iter(b'\n', bytes).count()
}

/// The resolver reports namespace URIs as written in the `xmlns` attribute; normalise them
/// like every other attribute value so declarations and resolved names agree.
fn normalize_namespace(raw: &str) -> Cow<'_, str> {
    if !raw.contains(['&', '\t', '\n', '\r']) {
        return Cow::Borrowed(raw);
    }
    let spaced = raw.replace("\r\n", " ").replace(['\t', '\n', '\r'], " ");
    match quick_xml::escape::unescape(&spaced) {
        Ok(v) => Cow::Owned(v.into_owned()),
        Err(_) => Cow::Owned(spaced),
    }
}

/// What a prefix resolved to: a namespace, none, or `Err` for an undeclared prefix.
type Resolved = Result<Option<NsId>, ()>;

/// Namespace scoping with quick-xml's resolver, driven element by element as quick-xml's
/// namespace-aware reader drives it, plus a cache of resolved prefixes.
struct Scopes<'t> {
    resolver: NamespaceResolver,
    /// One entry per open element (skipped ones included): whether it declared bindings.
    open: Vec<bool>,
    /// Prefixes resolved under the current bindings (`None` = the default namespace).
    cache: Vec<(Option<&'t str>, Resolved)>,
    namespaces: Namespaces,
}

impl<'t> Scopes<'t> {
    fn new() -> Self {
        Scopes {
            resolver: NamespaceResolver::default(),
            open: Vec::new(),
            cache: Vec::new(),
            namespaces: Namespaces::default(),
        }
    }

    /// Opens the scope of a start tag; `attributes` is the tag after its name.
    fn push(
        &mut self,
        start: &quick_xml::events::BytesStart<'_>,
        attributes: &str,
    ) -> Result<(), NamespaceError> {
        // Only `xmlns` attributes add bindings; without one, the new scope adds none.
        let declares = memchr::memmem::find(attributes.as_bytes(), b"xmlns").is_some();
        if declares {
            self.resolver.push(start)?;
            self.cache.clear();
        } else {
            let level = u16::try_from(self.open.len() + 1)
                .map_err(|_| NamespaceError::TooDeeplyNested(u16::MAX as usize))?;
            self.resolver.set_level(level);
        }
        self.open.push(declares);
        Ok(())
    }

    /// Closes the innermost scope.
    fn pop(&mut self) {
        if let Some(declared) = self.open.pop() {
            self.resolver.set_level(self.open.len() as u16);
            if declared {
                self.cache.clear();
            }
        }
    }

    /// Resolves the prefix of an element name (`element`) or attribute name; `prefix` is
    /// the name's prefix as [`split_name`] found it.
    fn resolve(&mut self, name: &'t str, prefix: Option<&'t str>, element: bool) -> Resolved {
        if prefix.is_none() && !element {
            return Ok(None);
        }
        if let Some((_, resolved)) = self.cache.iter().find(|(p, _)| *p == prefix) {
            return *resolved;
        }
        let resolved = match self.resolver.resolve(QName(name), element).0 {
            ResolveResult::Bound(ns) => Ok(Some(self.namespaces.intern(normalize_namespace(ns.0)))),
            ResolveResult::Unbound => Ok(None),
            ResolveResult::Unknown(_) => Err(()),
        };
        if self.cache.len() >= 16 {
            self.cache.clear();
        }
        self.cache.push((prefix, resolved));
        resolved
    }
}

/// XML end-of-line handling for a whitespace slice taken straight from the input.
fn normalize_newlines(raw: &str) -> String {
    if raw.contains('\r') {
        raw.replace("\r\n", "\n").replace('\r', "\n")
    } else {
        raw.to_owned()
    }
}

/// The kept attribute for a raw one.
pub(crate) fn xml_attribute(a: RawAttr<'_>, namespaces: &mut Namespaces) -> XmlAttribute {
    XmlAttribute {
        namespace: a.ns.map(|id| namespaces.uri_name(id)),
        prefix: namespaces.name(a.prefix),
        local_name: namespaces.name(a.local),
        value: namespaces.value(a.value),
    }
}

/// A raw element as generic XML, for the (structurally impossible) case of a raw element
/// inside a generic one; recursion is bounded by [`MAX_DEPTH`].
fn to_generic<'t>(raw: RawElement<'t>, namespaces: &mut Namespaces) -> GenericElement<'t> {
    let mut ids = Vec::new();
    if let Some(id) = raw.attr("id") {
        ids.push((raw.offset, Cow::Owned(id.to_owned())));
    }
    let mut children = Vec::with_capacity(raw.children.len());
    for child in raw.children {
        children.push(match child {
            RawNode::Element(e) => {
                let g = to_generic(e, namespaces);
                ids.extend(g.ids);
                XmlNode::Element(g.element)
            }
            RawNode::Generic(g) => {
                ids.extend(g.ids);
                XmlNode::Element(g.element)
            }
            RawNode::Other(o) => o,
        });
    }
    GenericElement {
        element: XmlElement {
            namespace: raw.ns.map(|id| namespaces.uri_name(id)),
            prefix: namespaces.name(raw.prefix),
            local_name: namespaces.name(raw.local),
            attributes: raw
                .attrs
                .into_iter()
                .map(|a| xml_attribute(a, namespaces))
                .collect(),
            children,
        },
        ids,
    }
}

fn is_text(node: &RawNode<'_>) -> bool {
    matches!(node, RawNode::Other(XmlNode::Text(_)))
}

/// An element whose end tag has not been read yet.
struct Open<'t> {
    /// `Element` or `Generic`, without children yet.
    node: RawNode<'t>,
    /// Where its children start on [`Tree::nodes`].
    first_child: usize,
    /// Where its deferred whitespace starts on [`Tree::blanks`].
    first_blank: usize,
}

/// The tree being built.
struct Tree<'t> {
    text: &'t str,
    open: Vec<Open<'t>>,
    /// The children read so far of every open element, innermost element's last.
    nodes: Vec<RawNode<'t>>,
    /// Whitespace-only text between children, not yet copied: (index among its parent's
    /// children that it precedes, byte range in the input). Most of it is indentation that
    /// [`Tree::close`] drops, so it is only turned into text when the element turns out to
    /// have text content.
    blanks: Vec<(usize, std::ops::Range<usize>)>,
    root: Option<RawElement<'t>>,
}

impl<'t> Tree<'t> {
    /// How many children the innermost open element has so far.
    fn child_count(&self) -> usize {
        self.open
            .last()
            .map_or(0, |o| self.nodes.len() - o.first_child)
    }

    fn last_child_is_text(&self) -> bool {
        self.child_count() > 0 && self.nodes.last().is_some_and(is_text)
    }

    fn in_generic(&self) -> bool {
        matches!(
            self.open.last(),
            Some(Open {
                node: RawNode::Generic(_),
                ..
            })
        )
    }

    fn push_open(&mut self, node: RawNode<'t>) {
        self.open.push(Open {
            node,
            first_child: self.nodes.len(),
            first_blank: self.blanks.len(),
        });
    }

    /// Adds a finished element to the innermost open element, or makes it the root.
    fn attach(&mut self, node: RawNode<'t>) {
        if !self.open.is_empty() {
            self.nodes.push(node);
        } else if let RawNode::Element(element) = node {
            self.root = Some(element);
        }
    }

    /// Appends text to the innermost open element, joining it to text just before it.
    fn push_text(&mut self, text: &str) {
        if self.last_child_is_text()
            && let Some(RawNode::Other(XmlNode::Text(last))) = self.nodes.last_mut()
        {
            last.push_str(text);
        } else {
            self.nodes
                .push(RawNode::Other(XmlNode::Text(text.to_owned())));
        }
    }

    /// Closes the innermost open element. Whitespace-only text between child elements is
    /// dropped: it is formatting, and the writer re-indents. Text of text-only or
    /// mixed-content elements is kept exactly.
    fn close(&mut self, namespaces: &mut Namespaces) {
        let Some(open) = self.open.pop() else {
            return;
        };
        let children = &self.nodes[open.first_child..];
        let structured = children.iter().any(|c| {
            matches!(
                c,
                RawNode::Element(_)
                    | RawNode::Generic(_)
                    | RawNode::Other(XmlNode::Comment(_) | XmlNode::ProcessingInstruction(_))
            )
        });
        let significant = children.iter().any(|c| match c {
            RawNode::Other(XmlNode::Text(t)) => !t.trim().is_empty(),
            RawNode::Other(XmlNode::CData(_)) => true,
            _ => false,
        });
        let drop_text = structured && !significant;
        let count = if drop_text {
            self.blanks.truncate(open.first_blank);
            children.iter().filter(|c| !is_text(c)).count()
        } else {
            children.len() + self.blanks.len() - open.first_blank
        };
        let text = self.text;
        let node = {
            let mut blanks = self.blanks.drain(open.first_blank..).peekable();
            let children = self
                .nodes
                .drain(open.first_child..)
                .enumerate()
                .filter(|(_, c)| !(drop_text && is_text(c)));
            match open.node {
                RawNode::Element(mut element) => {
                    let mut out = Vec::with_capacity(count);
                    for (i, child) in children {
                        // Deferred whitespace goes back before the child it preceded.
                        while let Some((_, range)) = blanks.next_if(|(at, _)| *at <= i) {
                            out.push(RawNode::Other(XmlNode::Text(normalize_newlines(
                                &text[range],
                            ))));
                        }
                        out.push(child);
                    }
                    for (_, range) in blanks {
                        out.push(RawNode::Other(XmlNode::Text(normalize_newlines(
                            &text[range],
                        ))));
                    }
                    element.children = out;
                    RawNode::Element(element)
                }
                RawNode::Generic(mut generic) => {
                    let mut out = Vec::with_capacity(count);
                    for (i, child) in children {
                        while let Some((_, range)) = blanks.next_if(|(at, _)| *at <= i) {
                            out.push(XmlNode::Text(normalize_newlines(&text[range])));
                        }
                        out.push(match child {
                            RawNode::Generic(g) => {
                                generic.ids.extend(g.ids);
                                XmlNode::Element(g.element)
                            }
                            RawNode::Element(e) => {
                                let g = to_generic(e, namespaces);
                                generic.ids.extend(g.ids);
                                XmlNode::Element(g.element)
                            }
                            RawNode::Other(o) => o,
                        });
                    }
                    for (_, range) in blanks {
                        out.push(XmlNode::Text(normalize_newlines(&text[range])));
                    }
                    generic.element.children = out;
                    RawNode::Generic(generic)
                }
                other => other,
            }
        };
        self.attach(node);
    }
}

fn syntax_error(offset: usize, message: String) -> PendingDiagnostic {
    (Some(offset), Diagnostic::error("bpmn.xml-syntax", message))
}

/// Parses `text` into the raw tree of its root element (`None` when there is no root) and
/// the table of the namespaces it uses. Stops at the first XML syntax error and returns what
/// was read so far.
pub(crate) fn parse<'t>(
    text: &'t str,
    diags: &mut Vec<PendingDiagnostic>,
) -> (Option<RawElement<'t>>, Namespaces) {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    config.trim_text(false);

    let mut scopes = Scopes::new();
    let mut tree = Tree {
        text,
        open: Vec::new(),
        nodes: Vec::new(),
        blanks: Vec::new(),
        root: None,
    };
    // Depth of the subtree being skipped (too deep, or a second root element); 0 when reading.
    let mut skipping = 0usize;
    let mut attrs: Vec<RawAttr<'t>> = Vec::new();
    let mut plain: Vec<Attribute<'t>> = Vec::new();

    loop {
        let offset = reader.buffer_position() as usize;
        let event = match reader.read_event() {
            Ok(event) => event,
            Err(e) => {
                diags.push(syntax_error(
                    reader.error_position() as usize,
                    format!("malformed XML: {e}"),
                ));
                break;
            }
        };
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                // The tag as a slice of the input (from after `<` to before `>` or `/>`),
                // so names and values can borrow from the input.
                let tag: &'t str = match text.get(offset + 1..offset + 1 + start.len()) {
                    Some(tag) if std::ptr::eq(tag.as_ptr(), start.as_ptr()) || tag == &*start => {
                        tag
                    }
                    _ => {
                        diags.push(syntax_error(
                            offset,
                            "internal error: a start tag is not where the reader said".to_owned(),
                        ));
                        break;
                    }
                };
                let name_len = start.name().0.len();
                if let Err(e) = scopes.push(&start, &tag[name_len..]) {
                    diags.push(syntax_error(
                        reader.error_position() as usize,
                        format!("malformed XML: {}", quick_xml::Error::from(e)),
                    ));
                    break;
                }
                let depth = tree.open.len();
                if skipping > 0 || tree.root.is_some() || depth >= MAX_DEPTH {
                    if skipping == 0 {
                        if depth >= MAX_DEPTH {
                            diags.push((
                                Some(offset),
                                Diagnostic::error(
                                    "bpmn.too-deep",
                                    format!("elements are nested deeper than {MAX_DEPTH} levels; this subtree is skipped"),
                                ),
                            ));
                        } else {
                            diags.push(syntax_error(
                                offset,
                                "a second root element is not allowed; it is skipped".to_owned(),
                            ));
                        }
                    }
                    if empty {
                        scopes.pop();
                    } else {
                        skipping += 1;
                    }
                    continue;
                }
                let name = &tag[..name_len];
                let (written_prefix, local) = split_name(name);
                let prefix = written_prefix.unwrap_or("");
                let ns =
                    scopes
                        .resolve(name, written_prefix, true)
                        .unwrap_or_else(|()| {
                            diags.push((
                        Some(offset),
                        Diagnostic::error(
                            "bpmn.unbound-prefix",
                            format!("the prefix `{prefix}` of `{prefix}:{local}` is not declared"),
                        ),
                    ));
                            None
                        });
                // quick-xml's duplicate check allocates per tag; a first pass without it
                // finds the common case of well-formed, distinct attributes, and only other
                // tags are read again with quick-xml's checks (so errors stay exactly its).
                let checked = !unchecked_attributes(tag, name_len, &mut plain);
                let mut from_plain = plain.drain(..);
                let mut from_checked = Attributes::new(tag, name_len);
                let mut next_attr = || {
                    if checked {
                        from_checked.next()
                    } else {
                        from_plain.next().map(Ok)
                    }
                };
                while let Some(attr) = next_attr() {
                    let attr = match attr {
                        Ok(a) => a,
                        Err(e) => {
                            diags.push(syntax_error(
                                offset,
                                format!("malformed attribute in `{local}`: {e}"),
                            ));
                            continue;
                        }
                    };
                    let value = match attr.normalized_value(XmlVersion::Implicit1_0) {
                        Ok(v) => v,
                        Err(e) => {
                            diags.push((
                                Some(offset),
                                Diagnostic::warning(
                                    "bpmn.xml-entity",
                                    format!("attribute value kept as written: {e}"),
                                ),
                            ));
                            attr.value
                        }
                    };
                    let key = attr.key;
                    if key.as_namespace_binding().is_some() {
                        let (prefix, local) = match key.prefix() {
                            Some(_) => ("xmlns", key.local_name().into_inner()),
                            None => ("", "xmlns"),
                        };
                        attrs.push(RawAttr {
                            ns: Some(NS_XMLNS),
                            prefix,
                            local,
                            value,
                        });
                        continue;
                    }
                    let (written_prefix, local_name) = split_name(key.0);
                    let prefix = written_prefix.unwrap_or("");
                    let ns = scopes.resolve(key.0, written_prefix, false).unwrap_or_else(|()| {
                        diags.push((
                            Some(offset),
                            Diagnostic::error(
                                "bpmn.unbound-prefix",
                                format!("the prefix `{prefix}` of attribute `{prefix}:{local_name}` is not declared"),
                            ),
                        ));
                        None
                    });
                    attrs.push(RawAttr {
                        ns,
                        prefix,
                        local: local_name,
                        value,
                    });
                }
                // Below the root, an element outside the typed namespaces, and everything
                // inside one, can only be kept as generic XML: build it in that form.
                let generic =
                    depth > 0 && (tree.in_generic() || ns.is_none_or(|id| id >= TYPED_NAMESPACES));
                let node = if generic {
                    let namespaces = &mut scopes.namespaces;
                    let ids = attrs
                        .iter()
                        .find(|a| a.ns.is_none() && a.local == "id")
                        .map(|a| (offset, a.value.clone()))
                        .into_iter()
                        .collect();
                    RawNode::Generic(GenericElement {
                        element: XmlElement {
                            namespace: ns.map(|id| namespaces.uri_name(id)),
                            prefix: namespaces.name(prefix),
                            local_name: namespaces.name(local),
                            attributes: attrs
                                .drain(..)
                                .map(|a| xml_attribute(a, namespaces))
                                .collect(),
                            children: Vec::new(),
                        },
                        ids,
                    })
                } else {
                    // Exactly sized; the scratch vector keeps its capacity.
                    let mut exact = Vec::with_capacity(attrs.len());
                    exact.append(&mut attrs);
                    RawNode::Element(RawElement {
                        ns,
                        prefix,
                        local,
                        attrs: exact,
                        children: Vec::new(),
                        offset,
                    })
                };
                if empty {
                    scopes.pop();
                    tree.attach(node);
                } else {
                    tree.push_open(node);
                }
            }
            Event::End(_) => {
                scopes.pop();
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                tree.close(&mut scopes.namespaces);
            }
            Event::Text(t) => {
                let end = reader.buffer_position() as usize;
                let raw = text.get(offset..end).unwrap_or("");
                let blank =
                    !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_whitespace() && b != b'\x0c');
                if blank && skipping == 0 && !tree.open.is_empty() && !tree.last_child_is_text() {
                    // Indentation between elements: remember where, copy nothing yet.
                    let at = tree.child_count();
                    tree.blanks.push((at, offset..end));
                } else {
                    let content = t.xml10_content();
                    append_text(&mut tree, skipping, &content, offset, diags);
                }
            }
            Event::GeneralRef(r) => {
                let resolved = if r.is_char_ref() {
                    match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => {
                            diags.push(syntax_error(
                                offset,
                                format!("invalid character reference `&{};`", r.xml10_content()),
                            ));
                            break;
                        }
                    }
                } else {
                    let name = r.xml10_content();
                    match name.as_ref() {
                        "lt" => "<".to_owned(),
                        "gt" => ">".to_owned(),
                        "amp" => "&".to_owned(),
                        "apos" => "'".to_owned(),
                        "quot" => "\"".to_owned(),
                        other => {
                            diags.push((
                                Some(offset),
                                Diagnostic::warning(
                                    "bpmn.xml-entity",
                                    format!("unknown entity `&{other};` is kept as literal text (entities are never expanded)"),
                                ),
                            ));
                            format!("&{other};")
                        }
                    }
                };
                append_text(&mut tree, skipping, &resolved, offset, diags);
            }
            Event::CData(c) => {
                let content = c.xml10_content().into_owned();
                if skipping == 0 {
                    if tree.open.is_empty() {
                        diags.push(syntax_error(
                            offset,
                            "CDATA outside the root element".to_owned(),
                        ));
                    } else {
                        tree.nodes.push(RawNode::Other(XmlNode::CData(content)));
                    }
                }
            }
            Event::Comment(c) => {
                if skipping == 0 && !tree.open.is_empty() {
                    tree.nodes.push(RawNode::Other(XmlNode::Comment(
                        c.xml10_content().into_owned(),
                    )));
                }
            }
            Event::PI(pi) => {
                if skipping == 0 && !tree.open.is_empty() {
                    let content = pi.as_ref().to_owned();
                    tree.nodes
                        .push(RawNode::Other(XmlNode::ProcessingInstruction(content)));
                }
            }
            Event::Decl(_) => {}
            Event::DocType(_) => {
                diags.push((
                    Some(offset),
                    Diagnostic::warning(
                        "bpmn.doctype",
                        "the DOCTYPE declaration is ignored; entities it declares are not expanded",
                    ),
                ));
            }
            Event::Eof => {
                if let Some(open) = tree.open.last() {
                    diags.push(syntax_error(
                        text.len(),
                        format!(
                            "unexpected end of input: element `{}` is not closed",
                            qualified(&open.node)
                        ),
                    ));
                } else if tree.root.is_none() {
                    diags.push((
                        Some(text.len()),
                        Diagnostic::error("bpmn.empty", "the input has no root element"),
                    ));
                }
                break;
            }
        }
    }
    // Return everything read so far: close every element still open.
    while !tree.open.is_empty() {
        tree.close(&mut scopes.namespaces);
    }
    (tree.root, scopes.namespaces)
}

/// Reads the attributes of `tag` without quick-xml's duplicate check into `out`; `false`
/// (and `out` empty) when the tag has a malformed or duplicated attribute or too many to
/// compare pairwise, which the caller then reads with the check.
fn unchecked_attributes<'t>(tag: &'t str, name_len: usize, out: &mut Vec<Attribute<'t>>) -> bool {
    /// quick-xml itself compares pairwise up to this many attributes.
    const MAX_PAIRWISE: usize = 32;
    out.clear();
    let mut attributes = Attributes::new(tag, name_len);
    attributes.with_checks(false);
    for attr in attributes {
        match attr {
            Ok(attr) if out.len() < MAX_PAIRWISE && !out.iter().any(|a| a.key.0 == attr.key.0) => {
                out.push(attr)
            }
            _ => {
                out.clear();
                return false;
            }
        }
    }
    true
}

/// Splits a qualified name at its first `:` into prefix and local name, as quick-xml does.
fn split_name(name: &str) -> (Option<&str>, &str) {
    match memchr::memchr(b':', name.as_bytes()) {
        Some(i) => (Some(&name[..i]), &name[i + 1..]),
        None => (None, name),
    }
}

fn qualified(node: &RawNode<'_>) -> String {
    let (prefix, local) = match node {
        RawNode::Element(e) => (e.prefix, e.local),
        RawNode::Generic(g) => (g.element.prefix.as_str(), g.element.local_name.as_str()),
        RawNode::Other(_) => ("", ""),
    };
    if prefix.is_empty() {
        local.to_owned()
    } else {
        format!("{prefix}:{local}")
    }
}

fn append_text(
    tree: &mut Tree<'_>,
    skipping: usize,
    content: &str,
    offset: usize,
    diags: &mut Vec<PendingDiagnostic>,
) {
    if skipping > 0 {
        return;
    }
    match tree.open.last() {
        Some(open) => {
            let at = tree.child_count();
            if tree.blanks.len() > open.first_blank
                && tree.blanks.last().is_some_and(|(index, _)| *index == at)
            {
                // Text continues the whitespace just before it: materialise that first.
                if let Some((_, range)) = tree.blanks.pop() {
                    let blank = normalize_newlines(tree.text.get(range).unwrap_or(""));
                    tree.push_text(&blank);
                }
            }
            tree.push_text(content)
        }
        None if content.trim().is_empty() => {}
        None => diags.push(syntax_error(
            offset,
            "text outside the root element".to_owned(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn children(xml: &str) -> Vec<String> {
        let mut diags = Vec::new();
        let root = parse(xml, &mut diags).0.expect("a root");
        assert!(diags.is_empty(), "{diags:?}");
        root.children
            .iter()
            .map(|c| match c {
                RawNode::Element(e) => format!("<{}>", e.local),
                RawNode::Generic(g) => format!("<{}>", g.element.local_name),
                RawNode::Other(XmlNode::Text(t)) => format!("text {t:?}"),
                RawNode::Other(XmlNode::Comment(t)) => format!("comment {t:?}"),
                RawNode::Other(other) => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn locator_agrees_with_a_scan_from_the_start_in_any_order() {
        let text = "ab\ncé\n\n€ x\r\nyz\nlast line without newline";
        let mut offsets: Vec<usize> = (0..=text.len() + 2).collect();
        // Forward, then backward, then jumping around (the walk-back budget runs out and
        // the line table takes over).
        offsets.extend((0..=text.len()).rev());
        offsets.extend((0..200).map(|i| (i * 37) % (text.len() + 1)));
        let mut locator = Locator::new(text);
        for offset in offsets {
            let mut boundary = offset.min(text.len());
            while !text.is_char_boundary(boundary) {
                boundary -= 1;
            }
            assert_eq!(
                locator.pos(offset),
                SourcePos::from_offset(text, boundary),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn indentation_between_elements_is_dropped() {
        assert_eq!(children("<r>\n  <x/>\n  <y/>\n</r>"), ["<x>", "<y>"]);
    }

    #[test]
    fn whitespace_of_mixed_content_is_kept_in_place() {
        assert_eq!(
            children("<r>  <x/>  tail</r>"),
            ["text \"  \"", "<x>", "text \"  tail\""]
        );
        assert_eq!(children("<r>  &amp;<x/></r>"), ["text \"  &\"", "<x>"]);
        assert_eq!(
            children("<r>\r\n <!--c--> y</r>"),
            ["text \"\\n \"", "comment \"c\"", "text \" y\""]
        );
        assert_eq!(children("<r>   </r>"), ["text \"   \""]);
    }
}
