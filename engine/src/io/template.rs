//! Connector templates: text with `{{ expression }}` placeholders, as the model documents.
//!
//! The expression is Rhai over `input` (the method's input) and `env` (the deployment's env
//! vars), compiled once. A placeholder renders as the value's text: strings as they are,
//! `null` as nothing, numbers and booleans as written, arrays and objects as JSON. In an HTTP
//! `path`, `{name}` (single braces) is short for `{{ input.name }}` and its text is
//! percent-encoded as one path segment (a value of `.` or `..` is refused: URL parsing would
//! resolve it and call another path of the upstream); a `{{ … }}` in a path is inserted as
//! is.
//!
//! JSON bodies are JSON values whose strings are templates; a string that is exactly one
//! placeholder becomes the value itself (`"{{ input.items }}"` stays an array).

use serde_json::{Map, Value};

use crate::script::RunControl;
use crate::script::rhai::{RhaiAst, RhaiEngine};

/// A compiled template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone)]
enum Part {
    Text(String),
    Expr { ast: RhaiAst, encode_segment: bool },
}

impl Template {
    /// Compiles `text`; with `path_shorthand`, `{name}` is a path segment placeholder.
    pub(crate) fn compile(
        engine: &RhaiEngine,
        text: &str,
        path_shorthand: bool,
    ) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while !rest.is_empty() {
            if let Some(after) = rest.strip_prefix("{{") {
                let Some(end) = after.find("}}") else {
                    return Err(format!("`{{{{` in `{text}` is never closed by `}}}}`"));
                };
                let source = after[..end].trim();
                let ast = engine
                    .compile_expression(source)
                    .map_err(|err| format!("in `{{{{ {source} }}}}`: {err}"))?;
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Expr {
                    ast,
                    encode_segment: false,
                });
                rest = &after[end + 2..];
                continue;
            }
            if path_shorthand && let Some(after) = rest.strip_prefix('{') {
                let end = after
                    .find('}')
                    .ok_or_else(|| format!("`{{` in `{text}` is never closed"))?;
                let name = after[..end].trim();
                if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("`{{{name}}}` in `{text}` must name an input field"));
                }
                let ast = engine
                    .compile_expression(&format!("input.{name}"))
                    .map_err(|err| format!("in `{{{name}}}`: {err}"))?;
                if !literal.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut literal)));
                }
                parts.push(Part::Expr {
                    ast,
                    encode_segment: true,
                });
                rest = &after[end + 1..];
                continue;
            }
            let ch = rest.chars().next().unwrap_or(' ');
            literal.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Template { parts })
    }

    /// The template's expressions.
    pub(crate) fn asts(&self) -> impl Iterator<Item = &RhaiAst> {
        self.parts.iter().filter_map(|part| match part {
            Part::Expr { ast, .. } => Some(ast),
            Part::Text(_) => None,
        })
    }

    /// Whether the template is exactly one `{{ … }}` placeholder.
    fn single_expr(&self) -> Option<&RhaiAst> {
        match self.parts.as_slice() {
            [
                Part::Expr {
                    ast,
                    encode_segment: false,
                },
            ] => Some(ast),
            _ => None,
        }
    }

    /// Renders the template as text.
    pub(crate) fn render(
        &self,
        engine: &RhaiEngine,
        vars: &Map<String, Value>,
        control: &RunControl,
    ) -> Result<String, String> {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Expr {
                    ast,
                    encode_segment,
                } => {
                    let value = engine
                        .eval_expression(ast, vars, control)
                        .map_err(|err| err.to_string())?;
                    let text = value_text(&value);
                    if *encode_segment {
                        if text == "." || text == ".." {
                            // URL parsing resolves dot segments (also `%2E%2E`), so `..` would
                            // move the call to another path of the upstream.
                            return Err(format!(
                                "a path placeholder is `{text}`, which would change the URL's path; refused"
                            ));
                        }
                        out.push_str(&encode_path_segment(&text));
                    } else {
                        out.push_str(&text);
                    }
                }
            }
        }
        Ok(out)
    }
}

/// A JSON value whose strings are templates.
#[derive(Debug, Clone)]
pub(crate) enum JsonTemplate {
    /// A string template.
    Text(Template),
    /// An array of templates.
    Array(Vec<JsonTemplate>),
    /// An object of templates (keys are literal).
    Object(Vec<(String, JsonTemplate)>),
    /// Any other JSON value, as is.
    Literal(Value),
}

impl JsonTemplate {
    /// Compiles every string of `value`.
    pub(crate) fn compile(engine: &RhaiEngine, value: &Value) -> Result<Self, String> {
        Ok(match value {
            Value::String(s) => JsonTemplate::Text(Template::compile(engine, s, false)?),
            Value::Array(items) => JsonTemplate::Array(
                items
                    .iter()
                    .map(|v| Self::compile(engine, v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => JsonTemplate::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), Self::compile(engine, v)?)))
                    .collect::<Result<_, String>>()?,
            ),
            other => JsonTemplate::Literal(other.clone()),
        })
    }

    /// Every expression of the template, in order.
    pub(crate) fn asts(&self) -> Vec<&RhaiAst> {
        let mut out = Vec::new();
        self.collect_asts(&mut out);
        out
    }

    fn collect_asts<'a>(&'a self, out: &mut Vec<&'a RhaiAst>) {
        match self {
            JsonTemplate::Text(template) => out.extend(template.asts()),
            JsonTemplate::Array(items) => items.iter().for_each(|t| t.collect_asts(out)),
            JsonTemplate::Object(entries) => entries.iter().for_each(|(_, t)| t.collect_asts(out)),
            JsonTemplate::Literal(_) => {}
        }
    }

    /// Renders the JSON value.
    pub(crate) fn render(
        &self,
        engine: &RhaiEngine,
        vars: &Map<String, Value>,
        control: &RunControl,
    ) -> Result<Value, String> {
        Ok(match self {
            JsonTemplate::Text(template) => match template.single_expr() {
                Some(ast) => engine
                    .eval_expression(ast, vars, control)
                    .map_err(|err| err.to_string())?,
                None => Value::String(template.render(engine, vars, control)?),
            },
            JsonTemplate::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|t| t.render(engine, vars, control))
                    .collect::<Result<_, _>>()?,
            ),
            JsonTemplate::Object(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, t)| Ok((k.clone(), t.render(engine, vars, control)?)))
                    .collect::<Result<_, String>>()?,
            ),
            JsonTemplate::Literal(value) => value.clone(),
        })
    }
}

/// The text a value renders as inside a template.
pub(crate) fn value_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub(crate) fn encode_path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::script::library::{Library, SystemClock};
    use crate::script::rhai::RhaiLimits;

    fn engine() -> RhaiEngine {
        RhaiEngine::new(Library::new(Arc::new(SystemClock)), RhaiLimits::default())
    }

    fn vars() -> Map<String, Value> {
        let mut vars = Map::new();
        vars.insert(
            "input".into(),
            json!({"id": "a/b c", "n": 3, "tags": ["x"], "none": null}),
        );
        vars.insert("env".into(), json!({"BASE": "http://h"}));
        vars
    }

    #[test]
    fn placeholders_and_path_shorthand() {
        let engine = engine();
        let control = RunControl::with_timeout(Duration::from_secs(5));
        let t = Template::compile(
            &engine,
            "{{ env.BASE }}/users/{id}/n/{{ input.n + 1 }}{{input.none}}",
            true,
        )
        .unwrap();
        assert_eq!(
            t.render(&engine, &vars(), &control).unwrap(),
            "http://h/users/a%2Fb%20c/n/4"
        );
        let t = Template::compile(&engine, "{id}", false).unwrap();
        assert_eq!(t.render(&engine, &vars(), &control).unwrap(), "{id}");
        assert!(Template::compile(&engine, "{{ input.", false).is_err());
        assert!(Template::compile(&engine, "/x/{a-b}", true).is_err());
    }

    /// A path segment from input cannot climb the upstream's path: `..` and `.` are refused,
    /// dots inside a segment are fine.
    #[test]
    fn dot_segments_from_input_are_refused() {
        let engine = engine();
        let control = RunControl::with_timeout(Duration::from_secs(5));
        let t = Template::compile(&engine, "/v1/orders/{id}/items", true).unwrap();
        for bad in ["..", "."] {
            let mut vars = vars();
            vars.insert("input".into(), json!({ "id": bad }));
            let err = t.render(&engine, &vars, &control).unwrap_err();
            assert!(err.contains("would change the URL's path"), "{bad}: {err}");
        }
        for fine in ["...", "a..b", ".hidden", "../x"] {
            let mut vars = vars();
            vars.insert("input".into(), json!({ "id": fine }));
            let rendered = t.render(&engine, &vars, &control).unwrap();
            let url = reqwest::Url::parse(&format!("http://h{rendered}")).unwrap();
            assert!(
                url.path().starts_with("/v1/orders/") && url.path().ends_with("/items"),
                "{fine} → {}",
                url.path()
            );
        }
    }

    #[test]
    fn json_bodies_keep_single_placeholder_values() {
        let engine = engine();
        let control = RunControl::with_timeout(Duration::from_secs(5));
        let body = json!({"tags": "{{ input.tags }}", "label": "n={{ input.n }}", "fixed": 1});
        let t = JsonTemplate::compile(&engine, &body).unwrap();
        assert_eq!(
            t.render(&engine, &vars(), &control).unwrap(),
            json!({"tags": ["x"], "label": "n=3", "fixed": 1})
        );
    }
}
