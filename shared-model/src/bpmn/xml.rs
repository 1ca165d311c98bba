//! Generic XML: the lossless representation of everything the typed model does not cover.

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Text of generic XML kept verbatim — an element or attribute name, a namespace URI, an
/// attribute value: immutable and cheap to clone.
///
/// Vendor extensions repeat the same few names and values thousands of times (a 235 KB
/// reference model holds about 1,900 generic elements and 3,100 attributes), so the reader
/// gives every occurrence of a name, and of a short value, in a document one shared copy
/// instead of a string each. It reads like a `&str` (it derefs to one and compares with
/// `str`, `&str` and `String`) and is made from either with `.into()`.
#[derive(Clone)]
pub struct XmlStr(NameRepr);

#[derive(Clone)]
enum NameRepr {
    Static(&'static str),
    Shared(Arc<str>),
}

impl XmlStr {
    /// A name from static text, without allocating.
    pub const fn from_static(name: &'static str) -> Self {
        XmlStr(NameRepr::Static(name))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            NameRepr::Static(s) => s,
            NameRepr::Shared(s) => s,
        }
    }

    /// Whether the text is empty (no prefix, for example).
    pub fn is_empty(&self) -> bool {
        self.as_str().is_empty()
    }
}

impl Default for XmlStr {
    fn default() -> Self {
        XmlStr::from_static("")
    }
}

impl Deref for XmlStr {
    type Target = str;

    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for XmlStr {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl std::borrow::Borrow<str> for XmlStr {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl From<&str> for XmlStr {
    fn from(s: &str) -> Self {
        if s.is_empty() {
            XmlStr::default()
        } else {
            XmlStr(NameRepr::Shared(Arc::from(s)))
        }
    }
}

impl From<String> for XmlStr {
    fn from(s: String) -> Self {
        if s.is_empty() {
            XmlStr::default()
        } else {
            XmlStr(NameRepr::Shared(Arc::from(s)))
        }
    }
}

impl From<&String> for XmlStr {
    fn from(s: &String) -> Self {
        XmlStr::from(s.as_str())
    }
}

impl From<XmlStr> for String {
    fn from(name: XmlStr) -> Self {
        name.as_str().to_owned()
    }
}

impl PartialEq for XmlStr {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for XmlStr {}

impl PartialOrd for XmlStr {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for XmlStr {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for XmlStr {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl PartialEq<str> for XmlStr {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for XmlStr {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for XmlStr {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other.as_str()
    }
}

impl PartialEq<XmlStr> for str {
    fn eq(&self, other: &XmlStr) -> bool {
        self == other.as_str()
    }
}

impl PartialEq<XmlStr> for &str {
    fn eq(&self, other: &XmlStr) -> bool {
        *self == other.as_str()
    }
}

impl PartialEq<XmlStr> for String {
    fn eq(&self, other: &XmlStr) -> bool {
        self.as_str() == other.as_str()
    }
}

impl fmt::Debug for XmlStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for XmlStr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for XmlStr {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for XmlStr {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(XmlStr::from)
    }
}

/// An attribute kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmlAttribute {
    /// The resolved namespace URI; `None` for unprefixed attributes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<XmlStr>,
    /// The prefix as written (`""` for none), reused when writing.
    #[serde(default, skip_serializing_if = "XmlStr::is_empty")]
    pub prefix: XmlStr,
    /// The local name.
    pub local_name: XmlStr,
    /// The value, unescaped.
    pub value: XmlStr,
}

/// An element kept verbatim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct XmlElement {
    /// The resolved namespace URI; `None` when the element is in no namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<XmlStr>,
    /// The prefix as written (`""` for none), reused when writing.
    #[serde(default, skip_serializing_if = "XmlStr::is_empty")]
    pub prefix: XmlStr,
    /// The local name.
    pub local_name: XmlStr,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_read_and_compare_like_strings() {
        let attr = XmlAttribute {
            namespace: Some("urn:x".into()),
            prefix: XmlStr::default(),
            local_name: "loopMaximum".into(),
            value: "3".into(),
        };
        assert!(attr.local_name == "loopMaximum");
        assert!(attr.local_name == *"loopMaximum");
        // The way the engine reads a vendor attribute keeps compiling.
        let attributes = [attr.clone()];
        let maximum: u32 = attributes
            .iter()
            .find(|attr| attr.local_name == "loopMaximum")
            .and_then(|attr| attr.value.trim().parse().ok())
            .unwrap_or(0);
        assert_eq!(maximum, 3);
        let owned = String::from("loopMaximum");
        assert!(attr.local_name == owned);
        assert!("loopMaximum" == attr.local_name);
        assert!(attr.prefix.is_empty());
        assert_eq!(attr.local_name.len(), 11);
        assert_eq!(
            format!("{}:{:?}", attr.local_name, attr.local_name),
            "loopMaximum:\"loopMaximum\""
        );
        assert_eq!(String::from(attr.local_name.clone()), "loopMaximum");
        let json = serde_json::to_string(&attr).unwrap();
        assert_eq!(
            json,
            r#"{"namespace":"urn:x","local_name":"loopMaximum","value":"3"}"#
        );
        assert_eq!(serde_json::from_str::<XmlAttribute>(&json).unwrap(), attr);
    }
}
