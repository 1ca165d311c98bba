//! Generic XML: the lossless representation of everything the typed model does not cover.

use serde::{Deserialize, Serialize};

/// An attribute kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmlAttribute {
    /// The resolved namespace URI; `None` for unprefixed attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The prefix as written (`""` for none), reused when writing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// The local name.
    pub local_name: String,
    /// The value, unescaped.
    pub value: String,
}

/// An element kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmlElement {
    /// The resolved namespace URI; `None` when the element is in no namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The prefix as written (`""` for none), reused when writing.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// The local name.
    pub local_name: String,
    /// Attributes in document order, `xmlns` declarations included.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attributes: Vec<XmlAttribute>,
    /// Children in document order. Whitespace between child elements is formatting and is
    /// dropped; text of elements with text content (or mixed content) is kept exactly.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<XmlNode>,
}

/// A node kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum XmlNode {
    /// An element.
    Element(XmlElement),
    /// Character data, unescaped.
    Text(String),
    /// A CDATA section's content.
    CData(String),
    /// A comment's content.
    Comment(String),
    /// A processing instruction's content (target and data).
    ProcessingInstruction(String),
}
