//! MyBatis-style dynamic SQL: parsed once into a [`SqlTemplate`], rendered per call into SQL
//! text with driver placeholders plus the values to bind.
//!
//! # Syntax
//!
//! | written | meaning |
//! |---|---|
//! | `#{name}`, `#{a.b}`, `#{item}` | a bound parameter: the SQL gets `$n` (PostgreSQL) or `?` (MySQL, SQLite) and the value travels separately. MyBatis options after a comma (`#{id,jdbcType=INTEGER}`) are accepted and ignored. |
//! | `${name}` | spliced into the SQL text, allowed only when the method declares `identifiers: {name: [...]}` and the value is one of those strings; anything else refuses the call |
//! | `<if test="expr">…</if>` | kept when `expr` is true (see [`test_expr`]) |
//! | `<choose><when test>…</when><otherwise>…</otherwise></choose>` | the first true `when`, else `otherwise` |
//! | `<where>…</where>` | `WHERE` + the body with a leading `AND`/`OR` removed; nothing when the body is blank |
//! | `<set>…</set>` | `SET` + the body with a leading/trailing comma removed |
//! | `<trim prefix suffix prefixOverrides suffixOverrides>` | the general form of the two above; overrides are `|`-separated and match case-insensitively |
//! | `<foreach collection item index open close separator>` | the body once per element of an array (index = position) or entry of an object (index = key); an empty collection renders nothing, not even `open` and `close`; a missing or `null` one refuses the call (see below) |
//! | `<![CDATA[ … ]]>` | literal text (placeholders inside still work) |
//! | `&lt;` `&gt;` `&amp;` `&quot;` `&apos;` | XML escapes, decoded in text and attributes |
//!
//! A `<` that does not start one of these tags is plain SQL (`a < b` works unescaped).
//!
//! A `<foreach>` whose collection is missing from the input or `null` refuses the call
//! rather than render nothing: a misspelt or forgotten key would otherwise turn
//! `DELETE FROM t <where><foreach collection="ids" open="id IN (" …>` into a `DELETE` of
//! every row. An optional collection is guarded, `<if test="ids != null"><foreach …></if>`:
//! a `<foreach>` in a branch not taken is never looked at.
//!
//! A `#{}` or `${}` inside an SQL string literal, a quoted identifier or a comment is refused
//! when the statement is parsed: the database sees no parameter there, and the values bound
//! after it would shift by one (SQLite would take them without a word). `LIKE '%#{q}%'` is
//! written `LIKE '%' || #{q} || '%'` (MySQL: `CONCAT('%', #{q}, '%')`). Quotes inside a
//! literal are doubled (`'it''s'`), as standard SQL writes them.
//!
//! # Safety
//!
//! A value reaches the SQL text only through `${}`, and only when it equals one of the
//! identifiers the method's author listed; everything else is bound. Error messages name the
//! parameter, never the SQL or the value.

pub mod test_expr;

use indexmap::IndexMap;
use serde_json::Value;
use starweave_model::{Diagnostic, SourcePos};

use test_expr::{Scope, TestExpr, eval_test, parse_test, truthy};

/// How a driver writes bound-parameter placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placeholder {
    /// `$1`, `$2`, … (PostgreSQL).
    Dollar,
    /// `?` (MySQL, MariaDB, SQLite).
    Question,
}

/// A parsed dynamic SQL statement.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SqlTemplate {
    /// The top-level nodes.
    pub nodes: Vec<SqlNode>,
}

/// One piece of a [`SqlTemplate`].
#[derive(Debug, Clone, PartialEq)]
pub enum SqlNode {
    /// Literal SQL text (escapes already decoded).
    Text(String),
    /// `#{path}`: a bound parameter.
    Bind(Vec<String>),
    /// `${name}`: an allow-listed identifier; `name` is the text between the braces.
    Identifier(String),
    /// `<if test>`.
    If {
        /// The condition.
        test: TestExpr,
        /// Kept when the condition holds.
        body: Vec<SqlNode>,
    },
    /// `<choose>`.
    Choose {
        /// Each `<when>`: condition and body.
        whens: Vec<(TestExpr, Vec<SqlNode>)>,
        /// The `<otherwise>` body.
        otherwise: Option<Vec<SqlNode>>,
    },
    /// `<trim>`, and `<where>`/`<set>` which are trims with fixed settings.
    Trim {
        /// Added before a non-blank body.
        prefix: String,
        /// Added after a non-blank body.
        suffix: String,
        /// Removed from the start of the body (case-insensitive).
        prefix_overrides: Vec<String>,
        /// Removed from the end of the body (case-insensitive).
        suffix_overrides: Vec<String>,
        /// The body.
        body: Vec<SqlNode>,
    },
    /// `<foreach>`. Rendering refuses a missing or `null` collection
    /// ([`RenderError::MissingCollection`]).
    Foreach {
        /// The dotted name of the collection.
        collection: Vec<String>,
        /// The name each element is bound to.
        item: Option<String>,
        /// The name each position (or key) is bound to.
        index: Option<String>,
        /// Text before the first element.
        open: String,
        /// Text after the last element.
        close: String,
        /// Text between elements.
        separator: String,
        /// Rendered per element.
        body: Vec<SqlNode>,
    },
}

/// The output of [`SqlTemplate::render`].
#[derive(Debug, Clone, PartialEq)]
pub struct RenderedSql {
    /// The statement, with placeholders.
    pub sql: String,
    /// The values to bind, in placeholder order.
    pub binds: Vec<Value>,
}

/// A call the template refused to render.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// `${name}` got a value outside its allow-list (or has no allow-list).
    #[error(
        "refused: the value given for `${{{0}}}` is not one of the identifiers the method allows"
    )]
    IdentifierNotAllowed(String),
    /// `<foreach collection>` is not an array or object.
    #[error("`<foreach collection=\"{0}\">` needs an array or an object")]
    NotACollection(String),
    /// `<foreach collection>` is missing from the input, or `null`.
    #[error(
        "refused: `<foreach collection=\"{0}\">` has no `{0}` in the input (or it is null); pass an array (an empty one renders nothing), or if it is optional guard the loop with `<if test=\"{0} != null\">`"
    )]
    MissingCollection(String),
}

const TAGS: [&str; 9] = [
    "if",
    "where",
    "set",
    "trim",
    "foreach",
    "choose",
    "when",
    "otherwise",
    "bind",
];

struct Parser<'a> {
    text: &'a str,
    pos: usize,
    diagnostics: Vec<Diagnostic>,
    /// The tags enclosing the current position, innermost last.
    parents: Vec<String>,
}

/// The parse of a tag's opening: name, attributes (with the offsets of their values and of
/// their names), self-closing.
struct OpenTag {
    name: String,
    start: usize,
    attrs: Vec<(String, String, usize, usize)>,
    self_closing: bool,
}

impl SqlTemplate {
    /// Parses dynamic SQL. Errors (with line and column inside `sql`) come back as
    /// diagnostics next to the best-effort template; a method with errors must not run.
    pub fn parse(sql: &str) -> (SqlTemplate, Vec<Diagnostic>) {
        let mut parser = Parser {
            text: sql,
            pos: 0,
            diagnostics: Vec::new(),
            parents: Vec::new(),
        };
        let nodes = parser.nodes(None);
        parser.diagnostics.extend(placeholders_in_literals(sql));
        (SqlTemplate { nodes }, parser.diagnostics)
    }

    /// Every `${name}` in the template, in order of appearance.
    pub fn identifiers(&self) -> Vec<&str> {
        fn walk<'a>(nodes: &'a [SqlNode], out: &mut Vec<&'a str>) {
            for node in nodes {
                match node {
                    SqlNode::Identifier(name) => out.push(name),
                    SqlNode::If { body, .. }
                    | SqlNode::Trim { body, .. }
                    | SqlNode::Foreach { body, .. } => walk(body, out),
                    SqlNode::Choose { whens, otherwise } => {
                        for (_, body) in whens {
                            walk(body, out);
                        }
                        if let Some(body) = otherwise {
                            walk(body, out);
                        }
                    }
                    SqlNode::Text(_) | SqlNode::Bind(_) => {}
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.nodes, &mut out);
        out
    }

    /// Renders the statement for one call's input.
    pub fn render(
        &self,
        input: &Value,
        placeholder: Placeholder,
        identifiers: &IndexMap<String, Vec<String>>,
    ) -> Result<RenderedSql, RenderError> {
        let mut renderer = Renderer {
            input,
            placeholder,
            identifiers,
            vars: Vec::new(),
            binds: Vec::new(),
        };
        let mut sql = String::new();
        renderer.nodes(&self.nodes, &mut sql)?;
        Ok(RenderedSql {
            sql: sql.trim().to_owned(),
            binds: renderer.binds,
        })
    }
}

impl<'a> Parser<'a> {
    fn error(&mut self, offset: usize, message: impl Into<String>) {
        let mut diagnostic = Diagnostic::error("sql.syntax", message);
        diagnostic.pos = Some(SourcePos::from_offset(self.text, offset));
        self.diagnostics.push(diagnostic);
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    /// Parses nodes until `</until>` (consumed) or the end.
    fn nodes(&mut self, until: Option<(&str, usize)>) -> Vec<SqlNode> {
        let mut nodes = Vec::new();
        let mut text = String::new();
        while self.pos < self.text.len() {
            let rest = self.rest();
            if rest.starts_with("<![CDATA[") {
                let start = self.pos;
                self.pos += "<![CDATA[".len();
                let end = self.rest().find("]]>");
                let inner_end = end.map_or(self.text.len(), |e| self.pos + e);
                let inner = self.text[self.pos..inner_end].to_owned();
                self.placeholders(&inner, self.pos, false, &mut text, &mut nodes);
                match end {
                    Some(_) => self.pos = inner_end + 3,
                    None => {
                        self.error(start, "`<![CDATA[` is never closed by `]]>`");
                        self.pos = self.text.len();
                    }
                }
                continue;
            }
            if let Some(name) = closing_tag(rest) {
                let start = self.pos;
                flush(&mut text, &mut nodes);
                match until {
                    Some((open, _)) if open == name => {
                        self.pos += rest.find('>').map_or(rest.len(), |i| i + 1);
                        return nodes;
                    }
                    _ => {
                        self.error(start, format!("`</{name}>` closes nothing"));
                        self.pos += rest.find('>').map_or(rest.len(), |i| i + 1);
                        continue;
                    }
                }
            }
            if opening_tag_name(rest).is_some() {
                flush(&mut text, &mut nodes);
                if let Some(node) = self.element() {
                    nodes.push(node);
                }
                continue;
            }
            if rest.starts_with("#{") || rest.starts_with("${") {
                let start = self.pos;
                let end = rest.find('}');
                let Some(end) = end else {
                    self.error(start, format!("`{}` is never closed by `}}`", &rest[..2]));
                    self.pos = self.text.len();
                    break;
                };
                let chunk = rest[..=end].to_owned();
                self.pos += end + 1;
                self.placeholders(&chunk, start, false, &mut text, &mut nodes);
                continue;
            }
            if rest.starts_with('&') {
                let (decoded, used) = decode_entity(rest);
                text.push_str(&decoded);
                self.pos += used;
                continue;
            }
            let ch = rest.chars().next().unwrap_or(' ');
            text.push(ch);
            self.pos += ch.len_utf8();
        }
        flush(&mut text, &mut nodes);
        if let Some((open, start)) = until {
            self.error(start, format!("`<{open}>` is never closed by `</{open}>`"));
        }
        nodes
    }

    /// Splits `chunk` (which starts at `offset`) into text and `#{}`/`${}` nodes.
    fn placeholders(
        &mut self,
        chunk: &str,
        offset: usize,
        decode: bool,
        text: &mut String,
        nodes: &mut Vec<SqlNode>,
    ) {
        let mut i = 0;
        while i < chunk.len() {
            let rest = &chunk[i..];
            if (rest.starts_with("#{") || rest.starts_with("${")) && rest.contains('}') {
                let end = rest.find('}').unwrap_or(rest.len() - 1);
                let inner = rest[2..end].trim();
                let at = offset + i;
                let name = inner.split(',').next().unwrap_or("").trim();
                if name.is_empty() || !valid_path(name) {
                    self.error(
                        at,
                        format!("`{}` needs a name like `a` or `a.b`", &rest[..=end]),
                    );
                } else {
                    flush(text, nodes);
                    if rest.starts_with('#') {
                        nodes.push(SqlNode::Bind(name.split('.').map(str::to_owned).collect()));
                    } else {
                        if inner.contains(',') {
                            self.error(at, "`${…}` takes no options");
                        }
                        nodes.push(SqlNode::Identifier(name.to_owned()));
                    }
                }
                i += end + 1;
                continue;
            }
            if decode && rest.starts_with('&') {
                let (decoded, used) = decode_entity(rest);
                text.push_str(&decoded);
                i += used;
                continue;
            }
            let ch = rest.chars().next().unwrap_or(' ');
            text.push(ch);
            i += ch.len_utf8();
        }
    }

    fn open_tag(&mut self) -> Option<OpenTag> {
        let start = self.pos;
        let rest = self.rest();
        let name = opening_tag_name(rest)?.to_owned();
        self.pos += 1 + name.len();
        let mut attrs = Vec::new();
        loop {
            let rest = self.rest();
            let trimmed = rest.trim_start();
            self.pos += rest.len() - trimmed.len();
            if trimmed.starts_with("/>") {
                self.pos += 2;
                return Some(OpenTag {
                    name,
                    start,
                    attrs,
                    self_closing: true,
                });
            }
            if trimmed.starts_with('>') {
                self.pos += 1;
                return Some(OpenTag {
                    name,
                    start,
                    attrs,
                    self_closing: false,
                });
            }
            let key_len = trimmed
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(trimmed.len());
            if key_len == 0 {
                self.error(self.pos, format!("unexpected text in `<{name}>`"));
                self.pos = self.text.len();
                return None;
            }
            let key = trimmed[..key_len].to_owned();
            let key_offset = self.pos;
            self.pos += key_len;
            let rest = self.rest();
            let after_eq = rest.trim_start().strip_prefix('=').map(str::trim_start);
            let Some(after_eq) = after_eq else {
                self.error(
                    self.pos,
                    format!("attribute `{key}` needs a value (`{key}=\"…\"`)"),
                );
                self.pos = self.text.len();
                return None;
            };
            self.pos += rest.len() - after_eq.len();
            let quote = after_eq.chars().next().filter(|c| *c == '"' || *c == '\'');
            let Some(quote) = quote else {
                self.error(self.pos, format!("the value of `{key}` must be quoted"));
                self.pos = self.text.len();
                return None;
            };
            let Some(end) = after_eq[1..].find(quote) else {
                self.error(self.pos, format!("the value of `{key}` is never closed"));
                self.pos = self.text.len();
                return None;
            };
            let raw = &after_eq[1..=end];
            let value_offset = self.pos + 1;
            attrs.push((key, decode_entities(raw), value_offset, key_offset));
            self.pos += end + 2;
        }
    }

    fn element(&mut self) -> Option<SqlNode> {
        let tag = self.open_tag()?;
        let OpenTag {
            name,
            start,
            attrs,
            self_closing,
        } = tag;
        if name == "bind" {
            self.error(
                start,
                "`<bind>` is not supported; compute the value in the flow and pass it in",
            );
            if !self_closing {
                self.nodes(Some((&name, start)));
            }
            return None;
        }
        let known: &[&str] = match name.as_str() {
            "if" | "when" => &["test"],
            "trim" => &["prefix", "suffix", "prefixOverrides", "suffixOverrides"],
            "foreach" => &["collection", "item", "index", "open", "close", "separator"],
            _ => &[],
        };
        for (key, _, _, key_offset) in &attrs {
            if !known.contains(&key.as_str()) {
                self.error(*key_offset, format!("`<{name}>` has no attribute `{key}`"));
            }
        }
        let attr = |key: &str| {
            attrs
                .iter()
                .find(|(k, ..)| k == key)
                .map(|(_, v, o, _)| (v.clone(), *o))
        };
        if matches!(name.as_str(), "when" | "otherwise")
            && self.parents.last().map(String::as_str) != Some("choose")
        {
            self.error(start, format!("`<{name}>` belongs inside `<choose>`"));
        }
        let body = if self_closing {
            Vec::new()
        } else {
            self.parents.push(name.clone());
            let body = self.nodes(Some((&name, start)));
            self.parents.pop();
            body
        };
        let test = |parser: &mut Self| -> TestExpr {
            match attr("test") {
                Some((text, offset)) => match parse_test(&text) {
                    Ok(expr) => expr,
                    Err(err) => {
                        parser.error(
                            offset + err.offset,
                            format!("in test=\"{text}\": {}", err.message),
                        );
                        TestExpr::Literal(Value::Bool(false))
                    }
                },
                None => {
                    parser.error(start, format!("`<{name}>` needs a `test` attribute"));
                    TestExpr::Literal(Value::Bool(false))
                }
            }
        };
        Some(match name.as_str() {
            "if" => SqlNode::If {
                test: test(self),
                body,
            },
            "where" => SqlNode::Trim {
                prefix: "WHERE".into(),
                suffix: String::new(),
                prefix_overrides: vec!["AND".into(), "OR".into()],
                suffix_overrides: Vec::new(),
                body,
            },
            "set" => SqlNode::Trim {
                prefix: "SET".into(),
                suffix: String::new(),
                prefix_overrides: vec![",".into()],
                suffix_overrides: vec![",".into()],
                body,
            },
            "trim" => {
                let list = |key: &str| {
                    attr(key).map_or_else(Vec::new, |(v, _)| {
                        v.split('|')
                            .map(str::trim)
                            .filter(|s| !s.is_empty())
                            .map(str::to_owned)
                            .collect()
                    })
                };
                SqlNode::Trim {
                    prefix: attr("prefix").map(|a| a.0).unwrap_or_default(),
                    suffix: attr("suffix").map(|a| a.0).unwrap_or_default(),
                    prefix_overrides: list("prefixOverrides"),
                    suffix_overrides: list("suffixOverrides"),
                    body,
                }
            }
            "foreach" => {
                let collection = match attr("collection") {
                    Some((c, offset)) if valid_path(c.trim()) => {
                        let _ = offset;
                        c.trim().split('.').map(str::to_owned).collect()
                    }
                    Some((c, offset)) => {
                        self.error(
                            offset,
                            format!("collection=\"{c}\" must be a name like `ids` or `a.ids`"),
                        );
                        Vec::new()
                    }
                    None => {
                        self.error(start, "`<foreach>` needs a `collection` attribute");
                        Vec::new()
                    }
                };
                SqlNode::Foreach {
                    collection,
                    item: attr("item").map(|a| a.0),
                    index: attr("index").map(|a| a.0),
                    open: attr("open").map(|a| a.0).unwrap_or_default(),
                    close: attr("close").map(|a| a.0).unwrap_or_default(),
                    separator: attr("separator").map(|a| a.0).unwrap_or_default(),
                    body,
                }
            }
            "choose" => {
                let mut whens = Vec::new();
                let mut otherwise = None;
                for node in body {
                    match node {
                        SqlNode::If { test, body } => {
                            if otherwise.is_some() {
                                self.error(start, "`<when>` after `<otherwise>` is never reached");
                            }
                            whens.push((test, body));
                        }
                        SqlNode::Text(t) if t.trim().is_empty() => {}
                        SqlNode::Trim { prefix, body, .. } if prefix == OTHERWISE_MARK => {
                            otherwise = Some(body);
                        }
                        _ => {
                            self.error(start, "`<choose>` may only hold `<when>` and `<otherwise>`")
                        }
                    }
                }
                SqlNode::Choose { whens, otherwise }
            }
            // Inside <choose> these become markers the "choose" arm above takes apart.
            "when" => SqlNode::If {
                test: test(self),
                body,
            },
            "otherwise" => SqlNode::Trim {
                prefix: OTHERWISE_MARK.into(),
                suffix: String::new(),
                prefix_overrides: Vec::new(),
                suffix_overrides: Vec::new(),
                body,
            },
            _ => {
                self.error(start, format!("`<{name}>` is not supported"));
                return None;
            }
        })
    }
}

/// Marks an `<otherwise>` until its `<choose>` takes it.
const OTHERWISE_MARK: &str = "\u{0}otherwise";

fn flush(text: &mut String, nodes: &mut Vec<SqlNode>) {
    if !text.is_empty() {
        nodes.push(SqlNode::Text(std::mem::take(text)));
    }
}

/// A `#{…}` or `${…}` written inside an SQL string literal (`'…'`), a quoted identifier
/// (`"…"`) or a comment (`--`, `/* */`): the database sees no parameter there, so the values
/// bound after it would shift by one (SQLite takes them without a word). Tags and their
/// attributes, CDATA markers and the text between tags are told apart as the parser does;
/// quotes are doubled to escape them (`''`), as standard SQL does.
fn placeholders_in_literals(sql: &str) -> Vec<Diagnostic> {
    #[derive(PartialEq)]
    enum State {
        Code,
        Single,
        Double,
        Line,
        Block,
    }
    let mut state = State::Code;
    let mut out = Vec::new();
    let mut i = 0;
    while i < sql.len() {
        let rest = &sql[i..];
        match state {
            State::Code => {
                if rest.starts_with("<![CDATA[") {
                    i += "<![CDATA[".len();
                    continue;
                }
                if rest.starts_with("]]>") {
                    i += "]]>".len();
                    continue;
                }
                if opening_tag_name(rest).is_some() || closing_tag(rest).is_some() {
                    i += tag_length(rest);
                    continue;
                }
                if rest.starts_with("--") {
                    state = State::Line;
                    i += 2;
                    continue;
                }
                if rest.starts_with("/*") {
                    state = State::Block;
                    i += 2;
                    continue;
                }
                if rest.starts_with('\'') {
                    state = State::Single;
                } else if rest.starts_with('"') {
                    state = State::Double;
                }
            }
            State::Single | State::Double => {
                let quote = if state == State::Single { '\'' } else { '"' };
                if rest.starts_with(quote) {
                    if rest[1..].starts_with(quote) {
                        i += 2;
                        continue;
                    }
                    state = State::Code;
                }
            }
            State::Line => {
                if rest.starts_with('\n') {
                    state = State::Code;
                }
            }
            State::Block => {
                if rest.starts_with("*/") {
                    state = State::Code;
                    i += 2;
                    continue;
                }
            }
        }
        if state != State::Code && (rest.starts_with("#{") || rest.starts_with("${")) {
            let end = rest.find('}').map_or(rest.len(), |e| e + 1);
            // At most 60 bytes, cut on a character boundary.
            let written = &rest[..rest.floor_char_boundary(end.min(60))];
            let place = match state {
                State::Line | State::Block => "a comment",
                State::Double => "a quoted identifier",
                _ => "a string literal",
            };
            let mut diagnostic = Diagnostic::error(
                "sql.syntax",
                format!(
                    "`{written}` is inside {place}, where the database sees no parameter (the values bound after it would shift); move it out of the quotes, e.g. `LIKE '%' || #{{q}} || '%'` (MySQL: `CONCAT('%', #{{q}}, '%')`)"
                ),
            );
            diagnostic.pos = Some(SourcePos::from_offset(sql, i));
            out.push(diagnostic);
            i += end;
            continue;
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// The length of the tag at the start of `rest`, up to its `>` outside attribute quotes (all
/// of `rest` when it is never closed).
fn tag_length(rest: &str) -> usize {
    let mut quote = None;
    for (at, ch) in rest.char_indices() {
        match (quote, ch) {
            (None, '"' | '\'') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, '>') => return at + 1,
            _ => {}
        }
    }
    rest.len()
}

fn opening_tag_name(rest: &str) -> Option<&str> {
    let after = rest.strip_prefix('<')?;
    TAGS.into_iter().find(|tag| {
        after.starts_with(tag)
            && after[tag.len()..].starts_with(|c: char| c.is_whitespace() || c == '>' || c == '/')
    })
}

fn closing_tag(rest: &str) -> Option<&'static str> {
    let after = rest.strip_prefix("</")?;
    TAGS.into_iter()
        .find(|tag| after.starts_with(tag) && after[tag.len()..].trim_start().starts_with('>'))
}

fn valid_path(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
}

fn decode_entity(rest: &str) -> (String, usize) {
    for (entity, ch) in [
        ("&lt;", "<"),
        ("&gt;", ">"),
        ("&amp;", "&"),
        ("&quot;", "\""),
        ("&apos;", "'"),
    ] {
        if rest.starts_with(entity) {
            return (ch.to_owned(), entity.len());
        }
    }
    ("&".to_owned(), 1)
}

fn decode_entities(text: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with('&') {
            let (decoded, used) = decode_entity(&text[i..]);
            out.push_str(&decoded);
            i += used;
        } else {
            let ch = text[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

struct Renderer<'a> {
    input: &'a Value,
    placeholder: Placeholder,
    identifiers: &'a IndexMap<String, Vec<String>>,
    /// `<foreach>` variables, innermost last.
    vars: Vec<(String, Value)>,
    binds: Vec<Value>,
}

impl Scope for Renderer<'_> {
    fn lookup(&self, path: &[String]) -> Value {
        let Some((first, rest)) = path.split_first() else {
            return Value::Null;
        };
        let root = self
            .vars
            .iter()
            .rev()
            .find(|(name, _)| name == first)
            .map(|(_, v)| v)
            .or_else(|| self.input.get(first));
        let mut value = match root {
            Some(v) => v,
            None => return Value::Null,
        };
        for key in rest {
            value = match value {
                Value::Object(map) => match map.get(key) {
                    Some(v) => v,
                    None => return Value::Null,
                },
                Value::Array(items) => match key.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(v) => v,
                    None => return Value::Null,
                },
                _ => return Value::Null,
            };
        }
        value.clone()
    }
}

impl Renderer<'_> {
    fn nodes(&mut self, nodes: &[SqlNode], out: &mut String) -> Result<(), RenderError> {
        for node in nodes {
            self.node(node, out)?;
        }
        Ok(())
    }

    fn node(&mut self, node: &SqlNode, out: &mut String) -> Result<(), RenderError> {
        match node {
            SqlNode::Text(text) => out.push_str(text),
            SqlNode::Bind(path) => {
                let value = self.lookup(path);
                self.binds.push(value);
                match self.placeholder {
                    Placeholder::Dollar => {
                        out.push('$');
                        out.push_str(&self.binds.len().to_string());
                    }
                    Placeholder::Question => out.push('?'),
                }
            }
            SqlNode::Identifier(name) => {
                let path: Vec<String> = name.split('.').map(str::to_owned).collect();
                let value = self.lookup(&path);
                let allowed = self.identifiers.get(name).and_then(|list| {
                    let text = value.as_str()?;
                    list.iter().find(|allowed| allowed.as_str() == text)
                });
                match allowed {
                    // The allow-list's own copy goes into the SQL, not the caller's value.
                    Some(identifier) => out.push_str(identifier),
                    None => return Err(RenderError::IdentifierNotAllowed(name.clone())),
                }
            }
            SqlNode::If { test, body } => {
                if truthy(&eval_test(test, self)) {
                    self.nodes(body, out)?;
                }
            }
            SqlNode::Choose { whens, otherwise } => {
                let chosen = whens
                    .iter()
                    .find(|(test, _)| truthy(&eval_test(test, self)))
                    .map(|(_, body)| body)
                    .or(otherwise.as_ref());
                if let Some(body) = chosen {
                    self.nodes(body, out)?;
                }
            }
            SqlNode::Trim {
                prefix,
                suffix,
                prefix_overrides,
                suffix_overrides,
                body,
            } => {
                let mut inner = String::new();
                self.nodes(body, &mut inner)?;
                let mut inner = inner.trim();
                if inner.is_empty() {
                    return Ok(());
                }
                for token in prefix_overrides {
                    if let Some(stripped) = strip_prefix_token(inner, token) {
                        inner = stripped.trim_start();
                        break;
                    }
                }
                for token in suffix_overrides {
                    if let Some(stripped) = strip_suffix_token(inner, token) {
                        inner = stripped.trim_end();
                        break;
                    }
                }
                out.push(' ');
                if !prefix.is_empty() {
                    out.push_str(prefix);
                    out.push(' ');
                }
                out.push_str(inner);
                if !suffix.is_empty() {
                    out.push(' ');
                    out.push_str(suffix);
                }
                out.push(' ');
            }
            SqlNode::Foreach {
                collection,
                item,
                index,
                open,
                close,
                separator,
                body,
            } => {
                let value = self.lookup(collection);
                let entries: Vec<(Value, Value)> = match value {
                    // Rendering nothing here could drop a statement's only filter.
                    Value::Null => {
                        return Err(RenderError::MissingCollection(collection.join(".")));
                    }
                    Value::Array(items) => items
                        .into_iter()
                        .enumerate()
                        .map(|(i, v)| (Value::from(i), v))
                        .collect(),
                    Value::Object(map) => map
                        .into_iter()
                        .map(|(k, v)| (Value::String(k), v))
                        .collect(),
                    _ => return Err(RenderError::NotACollection(collection.join("."))),
                };
                if entries.is_empty() {
                    return Ok(());
                }
                out.push_str(open);
                for (n, (key, element)) in entries.into_iter().enumerate() {
                    if n > 0 {
                        out.push_str(separator);
                    }
                    let pushed = usize::from(item.is_some()) + usize::from(index.is_some());
                    if let Some(item) = item {
                        self.vars.push((item.clone(), element));
                    }
                    if let Some(index) = index {
                        self.vars.push((index.clone(), key));
                    }
                    let result = self.nodes(body, out);
                    self.vars.truncate(self.vars.len() - pushed);
                    result?;
                }
                out.push_str(close);
            }
        }
        Ok(())
    }
}

fn strip_prefix_token<'a>(text: &'a str, token: &str) -> Option<&'a str> {
    let head = text.get(..token.len())?;
    if !head.eq_ignore_ascii_case(token) {
        return None;
    }
    let rest = &text[token.len()..];
    // A word token (`AND`) must end at a word boundary: `ANDROID = 1` keeps its name.
    let word = token.ends_with(|c: char| c.is_ascii_alphanumeric());
    if word && rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(rest)
}

fn strip_suffix_token<'a>(text: &'a str, token: &str) -> Option<&'a str> {
    let cut = text.len().checked_sub(token.len())?;
    let tail = text.get(cut..)?;
    if !tail.eq_ignore_ascii_case(token) {
        return None;
    }
    let rest = &text[..cut];
    let word = token.starts_with(|c: char| c.is_ascii_alphanumeric());
    if word && rest.ends_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some(rest)
}

#[cfg(test)]
mod tests;
