//! Route patterns of HTTP triggers: `/users/{id}/orders` matched against request paths.
//!
//! A pattern is a list of segments, each literal or a `{name}` parameter matching one
//! non-empty segment. When several routes of a deployment match a path, the most specific
//! wins: segment by segment, a literal beats a parameter (`/users/me` before `/users/{id}`).
//! A trailing slash is ignored. Parameters are percent-decoded.

use std::collections::BTreeMap;

/// One segment of a route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// Matches exactly this text.
    Literal(String),
    /// Matches any one segment and binds it to this name.
    Param(String),
}

/// A parsed route pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The segments, without the leading slash.
    pub segments: Vec<Segment>,
}

impl Pattern {
    /// Parses `/a/{b}/c`; an error says what is wrong with the pattern.
    pub fn parse(path: &str) -> Result<Pattern, String> {
        if !path.starts_with('/') {
            return Err(format!("the route path `{path}` must start with `/`"));
        }
        let mut segments = Vec::new();
        for part in split_path(path) {
            if let Some(inner) = part.strip_prefix('{') {
                let Some(name) = inner.strip_suffix('}') else {
                    return Err(format!(
                        "the route path `{path}` has an unclosed `{{` in `{part}`"
                    ));
                };
                if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                {
                    return Err(format!(
                        "the route path `{path}` has a bad parameter name `{part}`"
                    ));
                }
                if segments
                    .iter()
                    .any(|s| matches!(s, Segment::Param(n) if n == name))
                {
                    return Err(format!(
                        "the route path `{path}` repeats the parameter `{name}`"
                    ));
                }
                segments.push(Segment::Param(name.to_owned()));
            } else if part.contains(['{', '}']) {
                return Err(format!(
                    "the route path `{path}`: a parameter must be a whole segment, not `{part}`"
                ));
            } else {
                segments.push(Segment::Literal(part.to_owned()));
            }
        }
        Ok(Pattern { segments })
    }

    /// The parameters' names, in order.
    pub fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// Sort key: literals (0) before parameters (1), segment by segment.
    pub fn specificity(&self) -> Vec<u8> {
        self.segments
            .iter()
            .map(|s| matches!(s, Segment::Param(_)) as u8)
            .collect()
    }

    /// Whether two patterns match exactly the same paths.
    pub fn same_shape(&self, other: &Pattern) -> bool {
        self.segments.len() == other.segments.len()
            && self
                .segments
                .iter()
                .zip(&other.segments)
                .all(|pair| match pair {
                    (Segment::Literal(a), Segment::Literal(b)) => a == b,
                    (Segment::Param(_), Segment::Param(_)) => true,
                    _ => false,
                })
    }

    /// Matches the (still percent-encoded) path segments; the bound parameters, decoded.
    pub fn matches(&self, parts: &[&str]) -> Option<BTreeMap<String, String>> {
        if parts.len() != self.segments.len() {
            return None;
        }
        let mut params = BTreeMap::new();
        for (segment, part) in self.segments.iter().zip(parts) {
            match segment {
                Segment::Literal(text) => {
                    if percent_decode(part) != *text {
                        return None;
                    }
                }
                Segment::Param(name) => {
                    params.insert(name.clone(), percent_decode(part));
                }
            }
        }
        Some(params)
    }
}

/// The non-empty segments of a path.
pub fn split_path(path: &str) -> Vec<&str> {
    path.split('/').filter(|s| !s.is_empty()).collect()
}

/// Decodes `%XX` escapes (and keeps malformed ones as they are); invalid UTF-8 is replaced.
pub fn percent_decode(text: &str) -> String {
    if !text.contains('%') {
        return text.to_owned();
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_value(bytes[i + 1]), hex_value(bytes[i + 2]))
        {
            out.push(h * 16 + l);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_value(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_bind_and_decode() {
        let pattern = Pattern::parse("/users/{id}/orders").expect("parse");
        let params = pattern
            .matches(&split_path("/users/a%20b/orders/"))
            .expect("match");
        assert_eq!(params["id"], "a b");
        assert!(pattern.matches(&split_path("/users/a")).is_none());
    }

    #[test]
    fn bad_patterns_are_refused() {
        assert!(Pattern::parse("users").is_err());
        assert!(Pattern::parse("/u/{id").is_err());
        assert!(Pattern::parse("/u/x{id}").is_err());
        assert!(Pattern::parse("/u/{id}/{id}").is_err());
    }

    #[test]
    fn literals_are_more_specific() {
        let me = Pattern::parse("/users/me").expect("parse");
        let id = Pattern::parse("/users/{id}").expect("parse");
        assert!(me.specificity() < id.specificity());
        assert!(!me.same_shape(&id));
        assert!(id.same_shape(&Pattern::parse("/users/{other}").expect("parse")));
    }

    #[test]
    fn malformed_escapes_stay() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }
}
