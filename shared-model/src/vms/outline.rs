//! Where things are in a YAML file: a light scan of block-style YAML that records the line
//! and column of every mapping key and sequence item, addressed by paths such as
//! `methods[2].input[0].name`.
//!
//! serde does not report positions of values it read successfully, yet validators must point
//! at the trigger or method they complain about. The scan understands the block style
//! Starweave writes and people type (indentation, `- ` items, `key: value`, block scalars,
//! comments); inside flow collections (`{…}`, `[…]`) and other rare constructs it records
//! nothing, and lookups fall back to the nearest enclosing item.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::diagnostic::SourcePos;

/// The positions of the keys and items of one YAML file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct YamlOutline {
    /// Path → position of the key (`name` in `name: x`) or of the item's `-`.
    /// The root is the empty path. Paths join keys with `.` and add `[i]` for items.
    pub positions: BTreeMap<String, SourcePos>,
}

impl YamlOutline {
    /// Scans a YAML text.
    pub fn scan(text: &str) -> Self {
        scan(text)
    }

    /// The position recorded for exactly this path.
    pub fn get(&self, path: &str) -> Option<SourcePos> {
        self.positions.get(path).copied()
    }

    /// The position of this path, or of its nearest recorded ancestor (`a.b[2].c`, then
    /// `a.b[2]`, `a.b`, `a`, the root).
    pub fn locate(&self, path: &str) -> Option<SourcePos> {
        let mut path = path;
        loop {
            if let Some(pos) = self.get(path) {
                return Some(pos);
            }
            if path.is_empty() {
                return None;
            }
            path = parent_path(path);
        }
    }
}

/// `a.b[2].c` → `a.b[2]` → `a.b` → `a` → ``.
pub(crate) fn parent_path(path: &str) -> &str {
    if path.ends_with(']')
        && let Some(i) = path.rfind('[')
    {
        return &path[..i];
    }
    match path.rfind('.') {
        Some(i) => &path[..i],
        None => "",
    }
}

#[derive(Debug)]
enum FrameKind {
    Map,
    Seq { next: usize },
}

#[derive(Debug)]
struct Frame {
    col: usize,
    path: String,
    kind: FrameKind,
}

fn join_key(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

fn scan(text: &str) -> YamlOutline {
    let mut positions = BTreeMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut pending = String::new();
    // Lines indented deeper than this belong to a block scalar (`|`, `>`).
    let mut block_scalar: Option<usize> = None;
    let mut root_seen = false;
    for (index, line) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        let indent = line.len() - line.trim_start_matches(' ').len();
        let content = &line[indent..];
        if let Some(limit) = block_scalar {
            if content.trim().is_empty() || indent > limit {
                continue;
            }
            block_scalar = None;
        }
        let trimmed = content.trim_end();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if indent == 0 && (trimmed == "---" || trimmed.starts_with("--- ") || trimmed == "...") {
            stack.clear();
            pending.clear();
            continue;
        }
        if !root_seen {
            root_seen = true;
            positions.insert(
                String::new(),
                SourcePos {
                    line: line_no,
                    column: 1,
                },
            );
        }
        let mut col = indent;
        let mut rest = trimmed;
        loop {
            let column = |col: usize| SourcePos {
                line: line_no,
                column: u32::try_from(line[..col].chars().count() + 1).unwrap_or(u32::MAX),
            };
            if rest == "-" || rest.starts_with("- ") || rest.starts_with("-\t") {
                while stack.last().is_some_and(|f| f.col > col) {
                    stack.pop();
                }
                let path = match stack.last_mut() {
                    Some(Frame {
                        col: c,
                        path,
                        kind: FrameKind::Seq { next },
                    }) if *c == col => {
                        let p = format!("{path}[{next}]");
                        *next += 1;
                        p
                    }
                    _ => {
                        stack.push(Frame {
                            col,
                            path: pending.clone(),
                            kind: FrameKind::Seq { next: 1 },
                        });
                        format!("{pending}[0]")
                    }
                };
                positions.entry(path.clone()).or_insert(column(col));
                pending = path;
                let dash_col = col;
                let after = &rest[1..];
                let value = after.trim_start();
                col += 1 + (after.len() - value.len());
                rest = value;
                if rest.is_empty() || rest.starts_with('#') {
                    break;
                }
                if rest.starts_with('|') || rest.starts_with('>') {
                    block_scalar = Some(dash_col);
                    break;
                }
                continue;
            }
            if let Some((key, value)) = split_key(rest) {
                while stack.last().is_some_and(|f| {
                    f.col > col || (f.col == col && matches!(f.kind, FrameKind::Seq { .. }))
                }) {
                    stack.pop();
                }
                let in_map = stack
                    .last()
                    .is_some_and(|f| f.col == col && matches!(f.kind, FrameKind::Map));
                if !in_map {
                    stack.push(Frame {
                        col,
                        path: pending.clone(),
                        kind: FrameKind::Map,
                    });
                }
                let parent = &stack.last().expect("a frame was just ensured").path;
                let path = join_key(parent, &key);
                positions.entry(path.clone()).or_insert(column(col));
                pending = path;
                let value = value.trim_start();
                if value.starts_with('|') || value.starts_with('>') {
                    block_scalar = Some(col);
                }
            }
            break;
        }
    }
    YamlOutline { positions }
}

/// Splits `key: value` (or `key:`) into the key and the text after the colon.
fn split_key(rest: &str) -> Option<(String, &str)> {
    let first = rest.chars().next()?;
    if first == '"' || first == '\'' {
        let mut key = String::new();
        let mut chars = rest.char_indices().skip(1).peekable();
        while let Some((i, c)) = chars.next() {
            if c == first {
                if first == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                    key.push('\'');
                    continue;
                }
                let after = &rest[i + 1..];
                let after = after.trim_start_matches(' ');
                let value = after.strip_prefix(':')?;
                if value.is_empty() || value.starts_with([' ', '\t']) {
                    return Some((key, value));
                }
                return None;
            }
            if first == '"' && c == '\\' {
                if let Some((_, escaped)) = chars.next() {
                    key.push(escaped);
                }
                continue;
            }
            key.push(c);
        }
        return None;
    }
    if "[{!&*|>%@`?#".contains(first) {
        return None;
    }
    let bytes = rest.as_bytes();
    for (i, b) in bytes.iter().enumerate() {
        match b {
            b':' if i + 1 == bytes.len() || bytes[i + 1] == b' ' || bytes[i + 1] == b'\t' => {
                let key = rest[..i].trim_end();
                if key.is_empty() {
                    return None;
                }
                return Some((key.to_owned(), &rest[i + 1..]));
            }
            b'#' if i > 0 && (bytes[i - 1] == b' ' || bytes[i - 1] == b'\t') => return None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(line: u32, column: u32) -> Option<SourcePos> {
        Some(SourcePos { line, column })
    }

    #[test]
    fn records_keys_and_items_of_block_yaml() {
        let text = "\
# triggers
- kind: http
  function: a
  error_statuses:
    NOT_FOUND: 404
- kind: cron
  description: |
    - not: an item
    key: not a key
  function: b
";
        let o = YamlOutline::scan(text);
        assert_eq!(o.get(""), pos(2, 1));
        assert_eq!(o.get("[0]"), pos(2, 1));
        assert_eq!(o.get("[0].function"), pos(3, 3));
        assert_eq!(o.get("[0].error_statuses.NOT_FOUND"), pos(5, 5));
        assert_eq!(o.get("[1]"), pos(6, 1));
        assert_eq!(o.get("[1].function"), pos(10, 3));
        assert_eq!(o.get("[2]"), None, "block scalar lines are not items");
        assert_eq!(o.locate("[1].schedule"), pos(6, 1));

        let text = "\
kind: http
methods:
- name: m
  input:
  - name: x
    fields:
      - name: y
\"quoted.key\": 1
";
        let o = YamlOutline::scan(text);
        assert_eq!(o.get("kind"), pos(1, 1));
        assert_eq!(o.get("methods[0].name"), pos(3, 3));
        assert_eq!(o.get("methods[0].input[0].name"), pos(5, 5));
        assert_eq!(o.get("methods[0].input[0].fields[0].name"), pos(7, 9));
        assert_eq!(o.get("quoted.key"), pos(8, 1));
        assert_eq!(o.locate("methods[0].input[0].fields[3].type"), pos(6, 5));
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent_path("a.b[2].c"), "a.b[2]");
        assert_eq!(parent_path("a.b[2]"), "a.b");
        assert_eq!(parent_path("[3]"), "");
        assert_eq!(parent_path("a"), "");
    }
}
