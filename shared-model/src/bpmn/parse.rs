//! Stage one of reading: XML text → a namespace-resolved element tree with byte offsets.
//!
//! The tree builder is iterative (an explicit stack), so hostile nesting cannot overflow the
//! call stack; subtrees deeper than [`super::MAX_DEPTH`] are skipped with a diagnostic, which
//! bounds every later recursive walk.

use quick_xml::XmlVersion;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::xml::{XmlAttribute, XmlNode};
use super::{MAX_DEPTH, XMLNS_NS};
use crate::{Diagnostic, SourcePos};

/// An element of the raw tree.
#[derive(Debug)]
pub(crate) struct RawElement {
    pub ns: Option<String>,
    pub prefix: String,
    pub local: String,
    pub attrs: Vec<XmlAttribute>,
    pub children: Vec<RawNode>,
    /// Byte offset of the `<` of the start tag.
    pub offset: usize,
    /// Whitespace-only text between children, not yet copied: (child index it precedes,
    /// byte range in the input). Most of it is indentation that [`finish`] drops, so it is
    /// only turned into text when the element turns out to have text content.
    blanks: Vec<(usize, std::ops::Range<usize>)>,
}

/// A node of the raw tree: elements keep their offsets, everything else is final.
#[derive(Debug)]
pub(crate) enum RawNode {
    Element(RawElement),
    Other(XmlNode),
}

/// A diagnostic whose position is still a byte offset.
pub(crate) type PendingDiagnostic = (Option<usize>, Diagnostic);

impl RawElement {
    /// Whether this element is `local` in namespace `ns`.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.local == local
    }

    /// Removes and returns the unprefixed attribute `name`.
    pub fn take_attr(&mut self, name: &str) -> Option<String> {
        let i = self
            .attrs
            .iter()
            .position(|a| a.namespace.is_none() && a.local_name == name)?;
        Some(self.attrs.remove(i).value)
    }

    /// Removes and returns the attribute `name` in namespace `ns`.
    pub fn take_attr_ns(&mut self, ns: &str, name: &str) -> Option<String> {
        let i = self
            .attrs
            .iter()
            .position(|a| a.namespace.as_deref() == Some(ns) && a.local_name == name)?;
        Some(self.attrs.remove(i).value)
    }

    /// Puts an attribute back (when its value could not be typed), so it is kept verbatim.
    pub fn restore_attr(&mut self, name: &str, value: String) {
        self.attrs.push(XmlAttribute {
            namespace: None,
            prefix: String::new(),
            local_name: name.to_owned(),
            value,
        });
    }
}

/// Converts byte offsets to line/column positions in linear total time when offsets come
/// in increasing order (the common case); other lookups fall back to a line table.
#[derive(Debug)]
pub(crate) struct Locator<'t> {
    text: &'t str,
    line_starts: Vec<usize>,
    last_offset: usize,
    last_line: u32,
    last_column: u32,
}

impl<'t> Locator<'t> {
    pub fn new(text: &'t str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        Locator {
            text,
            line_starts,
            last_offset: 0,
            last_line: 1,
            last_column: 1,
        }
    }

    pub fn pos(&mut self, offset: usize) -> SourcePos {
        let mut offset = offset.min(self.text.len());
        while offset > 0 && !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line_index = self.line_starts.partition_point(|s| *s <= offset) - 1;
        let line_start = self.line_starts[line_index];
        let (from, mut column) = if offset >= self.last_offset
            && self.last_offset >= line_start
            && self.last_line as usize == line_index + 1
        {
            (self.last_offset, self.last_column)
        } else {
            (line_start, 1)
        };
        column += self.text[from..offset].chars().count() as u32;
        self.last_offset = offset;
        self.last_line = line_index as u32 + 1;
        self.last_column = column;
        SourcePos {
            line: self.last_line,
            column,
        }
    }
}

/// The resolver reports namespace URIs as written in the `xmlns` attribute; normalise them
/// like every other attribute value so declarations and resolved names agree.
fn normalize_namespace(raw: &str) -> String {
    if !raw.contains(['&', '\t', '\n', '\r']) {
        return raw.to_owned();
    }
    let spaced = raw.replace("\r\n", " ").replace(['\t', '\n', '\r'], " ");
    match quick_xml::escape::unescape(&spaced) {
        Ok(v) => v.into_owned(),
        Err(_) => spaced,
    }
}

fn lossy(s: &str) -> String {
    s.to_owned()
}

fn push_text(children: &mut Vec<RawNode>, text: &str) {
    if let Some(RawNode::Other(XmlNode::Text(last))) = children.last_mut() {
        last.push_str(text);
    } else {
        children.push(RawNode::Other(XmlNode::Text(text.to_owned())));
    }
}

/// Drops whitespace-only text between child elements: it is formatting, and the writer
/// re-indents. Text of text-only or mixed-content elements is kept exactly.
fn finish(el: &mut RawElement, text: &str) {
    let structured = el.children.iter().any(|c| {
        matches!(
            c,
            RawNode::Element(_)
                | RawNode::Other(XmlNode::Comment(_) | XmlNode::ProcessingInstruction(_))
        )
    });
    let significant = el.children.iter().any(|c| match c {
        RawNode::Other(XmlNode::Text(t)) => !t.trim().is_empty(),
        RawNode::Other(XmlNode::CData(_)) => true,
        _ => false,
    });
    let blanks = std::mem::take(&mut el.blanks);
    if structured && !significant {
        el.children
            .retain(|c| !matches!(c, RawNode::Other(XmlNode::Text(_))));
    } else {
        // Put the deferred whitespace back where it was, last first so indices hold.
        for (index, range) in blanks.into_iter().rev() {
            let blank = normalize_newlines(&text[range]);
            el.children
                .insert(index, RawNode::Other(XmlNode::Text(blank)));
        }
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

fn syntax_error(offset: usize, message: String) -> PendingDiagnostic {
    (Some(offset), Diagnostic::error("bpmn.xml-syntax", message))
}

/// Parses `text` into the raw tree of its root element; `None` when there is no root.
/// Stops at the first XML syntax error and returns what was read so far.
pub(crate) fn parse(text: &str, diags: &mut Vec<PendingDiagnostic>) -> Option<RawElement> {
    let mut reader = NsReader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    config.trim_text(false);

    let mut stack: Vec<RawElement> = Vec::new();
    let mut root: Option<RawElement> = None;
    // Depth of the subtree being skipped (too deep, or a second root element); 0 when reading.
    let mut skipping = 0usize;

    loop {
        let offset = reader.buffer_position() as usize;
        let event = match reader.read_resolved_event() {
            Ok((resolved, event)) => {
                let ns = match resolved {
                    ResolveResult::Bound(ns) => Ok(Some(normalize_namespace(ns.0))),
                    ResolveResult::Unbound => Ok(None),
                    ResolveResult::Unknown(prefix) => Err(prefix),
                };
                (ns, event)
            }
            Err(e) => {
                diags.push(syntax_error(
                    reader.error_position() as usize,
                    format!("malformed XML: {e}"),
                ));
                break;
            }
        };
        let empty = matches!(event.1, Event::Empty(_));
        match event {
            (ns, Event::Start(start)) | (ns, Event::Empty(start)) => {
                if skipping > 0 || root.is_some() || stack.len() >= MAX_DEPTH {
                    if skipping == 0 {
                        let message = if stack.len() >= MAX_DEPTH {
                            diags.push((
                                Some(offset),
                                Diagnostic::error(
                                    "bpmn.too-deep",
                                    format!("elements are nested deeper than {MAX_DEPTH} levels; this subtree is skipped"),
                                ),
                            ));
                            None
                        } else {
                            Some("a second root element is not allowed; it is skipped".to_owned())
                        };
                        if let Some(message) = message {
                            diags.push(syntax_error(offset, message));
                        }
                    }
                    if !empty {
                        skipping += 1;
                    }
                    continue;
                }
                let name = start.name();
                let prefix = name.prefix().map(|p| lossy(p.as_ref())).unwrap_or_default();
                let local = lossy(name.local_name().as_ref());
                let ns = ns.unwrap_or_else(|unknown_prefix| {
                    diags.push((
                        Some(offset),
                        Diagnostic::error(
                            "bpmn.unbound-prefix",
                            format!("the prefix `{unknown_prefix}` of `{prefix}:{local}` is not declared"),
                        ),
                    ));
                    None
                });
                let mut attrs = Vec::new();
                for attr in start.attributes() {
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
                        Ok(v) => v.into_owned(),
                        Err(e) => {
                            diags.push((
                                Some(offset),
                                Diagnostic::warning(
                                    "bpmn.xml-entity",
                                    format!("attribute value kept as written: {e}"),
                                ),
                            ));
                            lossy(&attr.value)
                        }
                    };
                    let key = attr.key;
                    if key.as_namespace_binding().is_some() {
                        let (prefix, local) = match key.prefix() {
                            Some(_) => ("xmlns".to_owned(), lossy(key.local_name().as_ref())),
                            None => (String::new(), "xmlns".to_owned()),
                        };
                        attrs.push(XmlAttribute {
                            namespace: Some(XMLNS_NS.to_owned()),
                            prefix,
                            local_name: local,
                            value,
                        });
                        continue;
                    }
                    let (resolved, local_name) = reader.resolver().resolve_attribute(key);
                    let prefix = key.prefix().map(|p| lossy(p.as_ref())).unwrap_or_default();
                    let local_name = lossy(local_name.as_ref());
                    let namespace = match resolved {
                        ResolveResult::Bound(ns) => Some(normalize_namespace(ns.0)),
                        ResolveResult::Unbound => None,
                        ResolveResult::Unknown(p) => {
                            diags.push((
                                Some(offset),
                                Diagnostic::error(
                                    "bpmn.unbound-prefix",
                                    format!("the prefix `{p}` of attribute `{p}:{local_name}` is not declared"),
                                ),
                            ));
                            None
                        }
                    };
                    attrs.push(XmlAttribute {
                        namespace,
                        prefix,
                        local_name,
                        value,
                    });
                }
                let element = RawElement {
                    ns,
                    prefix,
                    local,
                    attrs,
                    children: Vec::new(),
                    offset,
                    blanks: Vec::new(),
                };
                if empty {
                    close(element, &mut stack, &mut root, text);
                } else {
                    stack.push(element);
                }
            }
            (_, Event::End(_)) => {
                if skipping > 0 {
                    skipping -= 1;
                    continue;
                }
                if let Some(element) = stack.pop() {
                    close(element, &mut stack, &mut root, text);
                }
            }
            (_, Event::Text(t)) => {
                let end = reader.buffer_position() as usize;
                let raw = text.get(offset..end).unwrap_or("");
                let blank =
                    !raw.is_empty() && raw.bytes().all(|b| b.is_ascii_whitespace() && b != b'\x0c');
                match stack.last_mut() {
                    // Indentation between elements: remember where, copy nothing yet.
                    Some(parent)
                        if blank
                            && skipping == 0
                            && !matches!(
                                parent.children.last(),
                                Some(RawNode::Other(XmlNode::Text(_)))
                            ) =>
                    {
                        parent.blanks.push((parent.children.len(), offset..end));
                    }
                    _ => {
                        let content = t.xml10_content();
                        append_text(text, &mut stack, skipping, &content, offset, diags);
                    }
                }
            }
            (_, Event::GeneralRef(r)) => {
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
                append_text(text, &mut stack, skipping, &resolved, offset, diags);
            }
            (_, Event::CData(c)) => {
                let content = c.xml10_content().into_owned();
                if skipping == 0 {
                    match stack.last_mut() {
                        Some(parent) => parent
                            .children
                            .push(RawNode::Other(XmlNode::CData(content))),
                        None => diags.push(syntax_error(
                            offset,
                            "CDATA outside the root element".to_owned(),
                        )),
                    }
                }
            }
            (_, Event::Comment(c)) => {
                if let (0, Some(parent)) = (skipping, stack.last_mut()) {
                    parent.children.push(RawNode::Other(XmlNode::Comment(
                        c.xml10_content().into_owned(),
                    )));
                }
            }
            (_, Event::PI(pi)) => {
                if let (0, Some(parent)) = (skipping, stack.last_mut()) {
                    let content = lossy(pi.as_ref());
                    parent
                        .children
                        .push(RawNode::Other(XmlNode::ProcessingInstruction(content)));
                }
            }
            (_, Event::Decl(_)) => {}
            (_, Event::DocType(_)) => {
                diags.push((
                    Some(offset),
                    Diagnostic::warning(
                        "bpmn.doctype",
                        "the DOCTYPE declaration is ignored; entities it declares are not expanded",
                    ),
                ));
            }
            (_, Event::Eof) => {
                if let Some(open) = stack.last() {
                    diags.push(syntax_error(
                        text.len(),
                        format!(
                            "unexpected end of input: element `{}` is not closed",
                            qualified(open)
                        ),
                    ));
                } else if root.is_none() {
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
    while let Some(element) = stack.pop() {
        close(element, &mut stack, &mut root, text);
    }
    root
}

fn qualified(el: &RawElement) -> String {
    if el.prefix.is_empty() {
        el.local.clone()
    } else {
        format!("{}:{}", el.prefix, el.local)
    }
}

fn close(
    mut element: RawElement,
    stack: &mut [RawElement],
    root: &mut Option<RawElement>,
    text: &str,
) {
    finish(&mut element, text);
    match stack.last_mut() {
        Some(parent) => parent.children.push(RawNode::Element(element)),
        None => *root = Some(element),
    }
}

fn append_text(
    text: &str,
    stack: &mut [RawElement],
    skipping: usize,
    content: &str,
    offset: usize,
    diags: &mut Vec<PendingDiagnostic>,
) {
    if skipping > 0 {
        return;
    }
    match stack.last_mut() {
        Some(parent) => {
            if let Some((index, _)) = parent.blanks.last()
                && *index == parent.children.len()
            {
                // Text continues the whitespace just before it: materialise that first.
                if let Some((_, range)) = parent.blanks.pop() {
                    let blank = normalize_newlines(text.get(range).unwrap_or(""));
                    push_text(&mut parent.children, &blank);
                }
            }
            push_text(&mut parent.children, content)
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
        let root = parse(xml, &mut diags).expect("a root");
        assert!(diags.is_empty(), "{diags:?}");
        root.children
            .iter()
            .map(|c| match c {
                RawNode::Element(e) => format!("<{}>", e.local),
                RawNode::Other(XmlNode::Text(t)) => format!("text {t:?}"),
                RawNode::Other(XmlNode::Comment(t)) => format!("comment {t:?}"),
                RawNode::Other(other) => format!("{other:?}"),
            })
            .collect()
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
