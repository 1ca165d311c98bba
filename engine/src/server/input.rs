//! The boundary of an HTTP trigger: request → function input, and the input's validation.
//!
//! Without an explicit mapping the input object is the JSON body (when an object), then the
//! query parameters, then the path parameters, later sources winning. Values from the path
//! and the query are text; when the function declares a top-level field as `integer`,
//! `number` or `boolean` (or an array of those) the text is converted, so `/users/42` gives
//! `{"id": 42}` for an integer `id`. A repeated query key gives an array.
//!
//! With an explicit mapping (`input:` in the trigger) each field is a Rhai expression over
//! `request` — `request.path`, `request.query`, `request.headers` (lower-case names),
//! `request.body` — and string results are converted the same way.
//!
//! Validation collects *every* problem, each with a JSON pointer (`/items/0/name`), using the
//! same rules the engine applies when a run starts (type, `required`, `nullable`, `enum`,
//! bounds, lengths, `pattern`, item counts, nested fields).

use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};
use starweave_model::vms::{ParamType, Parameter};

/// One problem with a request's input.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A JSON pointer into the input (`/id`), empty for the whole input.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

/// The compiled checks of a function's declared input.
#[derive(Debug, Clone, Default)]
pub struct InputSchema {
    fields: Vec<Check>,
}

#[derive(Debug, Clone)]
struct Check {
    param: Parameter,
    pattern: Option<Regex>,
    fields: Vec<Check>,
    items: Option<Box<Check>>,
}

impl Check {
    fn new(param: &Parameter) -> Self {
        Check {
            pattern: param.pattern.as_deref().and_then(|p| Regex::new(p).ok()),
            fields: param.fields.iter().map(Check::new).collect(),
            items: param.items.as_deref().map(|i| Box::new(Check::new(i))),
            param: Parameter {
                fields: Vec::new(),
                items: None,
                ..param.clone()
            },
        }
    }
}

impl InputSchema {
    /// Compiles the checks of `params` (bad patterns are reported by the compiler and not
    /// checked here).
    pub fn new(params: &[Parameter]) -> Self {
        InputSchema {
            fields: params.iter().map(Check::new).collect(),
        }
    }

    /// Every problem of `input`; empty when it is valid.
    pub fn problems(&self, input: &Value) -> Vec<Problem> {
        let mut problems = Vec::new();
        match input {
            Value::Object(map) => check_fields(&self.fields, map, "", &mut problems),
            other => problems.push(Problem {
                path: String::new(),
                message: format!("the input must be an object, got {}", type_name(other)),
            }),
        }
        problems
    }

    /// Converts text values of declared scalar fields (see the module docs); values that do
    /// not convert stay text and fail validation with a clear message.
    pub fn coerce_text_fields(&self, input: &mut Map<String, Value>, keys: &[String]) {
        for key in keys {
            let Some(check) = self.fields.iter().find(|c| &c.param.name == key) else {
                continue;
            };
            if let Some(value) = input.get_mut(key) {
                coerce(check, value);
            }
        }
    }
}

fn coerce(check: &Check, value: &mut Value) {
    match (check.param.ty, &*value) {
        (ParamType::Array, Value::String(_)) => {
            let mut items = vec![value.take()];
            if let Some(item) = &check.items {
                items.iter_mut().for_each(|v| coerce(item, v));
            }
            *value = Value::Array(items);
        }
        (ParamType::Array, Value::Array(_)) => {
            if let (Some(item), Value::Array(items)) = (&check.items, value) {
                items.iter_mut().for_each(|v| coerce(item, v));
            }
        }
        (ty, Value::String(text)) => {
            if let Some(converted) = convert_text(ty, text) {
                *value = converted;
            }
        }
        _ => {}
    }
}

fn convert_text(ty: ParamType, text: &str) -> Option<Value> {
    let text = text.trim();
    match ty {
        ParamType::Integer => text
            .parse::<i64>()
            .map(Value::from)
            .ok()
            .or_else(|| text.parse::<u64>().ok().map(Value::from)),
        ParamType::Number => text.parse::<i64>().map(Value::from).ok().or_else(|| {
            text.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Value::from)
        }),
        ParamType::Boolean => match text {
            "true" | "1" => Some(Value::Bool(true)),
            "false" | "0" => Some(Value::Bool(false)),
            _ => None,
        },
        _ => None,
    }
}

/// The path and query of a request as JSON objects (a repeated query key → an array).
pub fn query_object(query: Option<&str>) -> Map<String, Value> {
    let mut map = Map::new();
    let Some(query) = query else { return map };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key = decode_query_part(key);
        let value = Value::String(decode_query_part(value));
        match map.get_mut(&key) {
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
            None => {
                map.insert(key, value);
            }
        }
    }
    map
}

fn decode_query_part(text: &str) -> String {
    super::routes::percent_decode(&text.replace('+', " "))
}

/// Builds the default input (see the module docs): body, then query, then path.
pub fn merge_input(
    schema: &InputSchema,
    body: Value,
    query: &Map<String, Value>,
    path: &BTreeMap<String, String>,
) -> Result<Value, Problem> {
    let mut input = match body {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            return Err(Problem {
                path: String::new(),
                message: format!(
                    "the request body must be a JSON object, got {}",
                    type_name(&other)
                ),
            });
        }
    };
    let mut text_keys = Vec::with_capacity(query.len() + path.len());
    for (key, value) in query {
        input.insert(key.clone(), value.clone());
        text_keys.push(key.clone());
    }
    for (key, value) in path {
        input.insert(key.clone(), Value::String(value.clone()));
        text_keys.push(key.clone());
    }
    schema.coerce_text_fields(&mut input, &text_keys);
    Ok(Value::Object(input))
}

fn pointer(parent: &str, key: &str) -> String {
    format!("{parent}/{}", key.replace('~', "~0").replace('/', "~1"))
}

fn check_fields(
    fields: &[Check],
    map: &Map<String, Value>,
    path: &str,
    problems: &mut Vec<Problem>,
) {
    for field in fields {
        let field_path = pointer(path, &field.param.name);
        match map.get(&field.param.name) {
            Some(value) => check_value(field, value, &field_path, problems),
            None => {
                if field.param.required && field.param.default.is_none() {
                    problems.push(Problem {
                        path: field_path,
                        message: "is required".into(),
                    });
                }
            }
        }
    }
}

fn check_value(check: &Check, value: &Value, path: &str, problems: &mut Vec<Problem>) {
    let p = &check.param;
    let mut problem = |message: String| {
        problems.push(Problem {
            path: path.to_owned(),
            message,
        })
    };
    if value.is_null() {
        if !(p.nullable || !p.required || p.ty == ParamType::Any) {
            problem("must not be null".into());
        }
        return;
    }
    let type_ok = match p.ty {
        ParamType::Any => true,
        ParamType::String => value.is_string(),
        ParamType::Integer => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        ParamType::Number => value.is_number(),
        ParamType::Boolean => value.is_boolean(),
        ParamType::Object => value.is_object(),
        ParamType::Array => value.is_array(),
    };
    if !type_ok {
        problem(format!(
            "must be of type {}, got {}",
            p.ty.as_str(),
            type_name(value)
        ));
        return;
    }
    if !p.enum_values.is_empty() && !p.enum_values.contains(value) {
        problem(format!(
            "must be one of {}",
            Value::Array(p.enum_values.clone())
        ));
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = p.minimum.filter(|m| n < *m) {
            problem(format!("must be at least {min}"));
        }
        if let Some(max) = p.maximum.filter(|m| n > *m) {
            problem(format!("must be at most {max}"));
        }
    }
    if let Value::String(s) = value {
        let len = s.chars().count() as u64;
        if let Some(min) = p.min_length.filter(|m| len < *m) {
            problem(format!("must be at least {min} characters long"));
        }
        if let Some(max) = p.max_length.filter(|m| len > *m) {
            problem(format!("must be at most {max} characters long"));
        }
        if let Some(regex) = &check.pattern
            && !regex.is_match(s)
        {
            problem(format!("must match the pattern {}", regex.as_str()));
        }
    }
    match value {
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = p.min_items.filter(|m| len < *m) {
                problem(format!("must have at least {min} items"));
            }
            if let Some(max) = p.max_items.filter(|m| len > *m) {
                problem(format!("must have at most {max} items"));
            }
            if let Some(item) = &check.items {
                for (i, v) in items.iter().enumerate() {
                    check_value(item, v, &format!("{path}/{i}"), problems);
                }
            }
        }
        Value::Object(map) => check_fields(&check.fields, map, path, problems),
        _ => {}
    }
}

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_f64() => "number",
        Value::Number(_) => "integer",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> InputSchema {
        InputSchema::new(&[
            Parameter::new("id", ParamType::Integer).required(),
            Parameter {
                max_length: Some(3),
                ..Parameter::new("tag", ParamType::String)
            },
            Parameter::new("flags", ParamType::Array)
                .with_items(Parameter::new("", ParamType::Boolean)),
            Parameter::new("item", ParamType::Object)
                .with_fields(vec![Parameter::new("name", ParamType::String).required()]),
        ])
    }

    #[test]
    fn path_and_query_text_is_converted_to_declared_types() {
        let query = query_object(Some("flags=true&flags=0&tag=a%20b"));
        let path = BTreeMap::from([("id".to_owned(), "42".to_owned())]);
        let input = merge_input(&schema(), json!({"tag": "zz"}), &query, &path).expect("merge");
        assert_eq!(
            input,
            json!({"tag": "a b", "flags": [true, false], "id": 42})
        );
        assert!(schema().problems(&input).is_empty());
    }

    #[test]
    fn every_problem_is_listed_with_its_pointer() {
        let problems = schema().problems(&json!({"tag": "long", "flags": [1], "item": {}}));
        let listed: Vec<_> = problems
            .iter()
            .map(|p| (p.path.as_str(), p.message.as_str()))
            .collect();
        assert_eq!(
            listed,
            [
                ("/id", "is required"),
                ("/tag", "must be at most 3 characters long"),
                ("/flags/0", "must be of type boolean, got integer"),
                ("/item/name", "is required"),
            ]
        );
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_problem() {
        let err =
            merge_input(&schema(), json!([1]), &Map::new(), &BTreeMap::new()).expect_err("array");
        assert_eq!(err.path, "");
    }
}
