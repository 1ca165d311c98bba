//! Parameter validators: a function's declared input and output checked against JSON values.
//!
//! Built once from the model's [`Parameter`]s (patterns compiled at compile time) and run on
//! every call: type, `required`, `nullable`, `enum`, bounds, lengths, `pattern`, item counts,
//! nested fields and array items. Unknown keys are allowed (objects are open). Missing
//! optional input fields with a `default` get it.

use regex::Regex;
use serde_json::{Map, Value};
use starweave_model::Diagnostic;
use starweave_model::vms::{ParamType, Parameter};

/// A compiled check of one parameter.
#[derive(Debug, Clone)]
pub(crate) struct ParamCheck {
    name: String,
    ty: ParamType,
    required: bool,
    nullable: bool,
    default: Option<Value>,
    enum_values: Vec<Value>,
    minimum: Option<f64>,
    maximum: Option<f64>,
    min_length: Option<u64>,
    max_length: Option<u64>,
    pattern: Option<Regex>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    fields: Vec<ParamCheck>,
    items: Option<Box<ParamCheck>>,
}

/// The checks of an object's fields (a function's input or output).
#[derive(Debug, Clone, Default)]
pub(crate) struct ObjectCheck {
    pub(crate) fields: Vec<ParamCheck>,
}

impl ObjectCheck {
    /// Compiles `params`; a bad `pattern` becomes a diagnostic and is not checked.
    pub(crate) fn new(params: &[Parameter], diagnostics: &mut Vec<Diagnostic>, what: &str) -> Self {
        ObjectCheck {
            fields: params
                .iter()
                .map(|p| ParamCheck::new(p, diagnostics, what))
                .collect(),
        }
    }

    /// Whether there is nothing to check.
    pub(crate) fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// Fills in defaults, then checks; the message names the first failing path.
    pub(crate) fn apply(&self, value: &mut Value) -> Result<(), String> {
        let Value::Object(map) = value else {
            return Err(format!("expected an object, got {}", type_name(value)));
        };
        check_fields(&self.fields, map, Path::Root)
    }
}

/// Where a checked value sits, for error messages: built as the check descends (no
/// allocation) and written out only when a value fails.
#[derive(Debug, Clone, Copy)]
enum Path<'a> {
    Root,
    Field(&'a Path<'a>, &'a str),
    Index(&'a Path<'a>, usize),
}

impl std::fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Path::Root => Ok(()),
            Path::Field(Path::Root, name) => f.write_str(name),
            Path::Field(parent, name) => write!(f, "{parent}.{name}"),
            Path::Index(parent, index) => write!(f, "{parent}[{index}]"),
        }
    }
}

impl ParamCheck {
    fn new(p: &Parameter, diagnostics: &mut Vec<Diagnostic>, what: &str) -> Self {
        let pattern = p.pattern.as_deref().and_then(|source| match Regex::new(source) {
            Ok(regex) => Some(regex),
            Err(err) => {
                diagnostics.push(
                    Diagnostic::error(
                        "engine.param-pattern",
                        format!("{what}: the pattern of `{}` is not a valid regular expression: {err}", p.name),
                    )
                    .on(p.name.clone()),
                );
                None
            }
        });
        ParamCheck {
            name: p.name.clone(),
            ty: p.ty,
            required: p.required,
            nullable: p.nullable,
            default: p.default.clone(),
            enum_values: p.enum_values.clone(),
            minimum: p.minimum,
            maximum: p.maximum,
            min_length: p.min_length,
            max_length: p.max_length,
            pattern,
            min_items: p.min_items,
            max_items: p.max_items,
            fields: p
                .fields
                .iter()
                .map(|f| ParamCheck::new(f, diagnostics, what))
                .collect(),
            items: p
                .items
                .as_ref()
                .map(|i| Box::new(ParamCheck::new(i, diagnostics, what))),
        }
    }

    fn check(&self, value: &mut Value, path: Path<'_>) -> Result<(), String> {
        if value.is_null() {
            // A null for a required field is only fine when the field is nullable; an
            // optional field may be null (JSON clients send null for "absent").
            if self.nullable || !self.required || self.ty == ParamType::Any {
                return Ok(());
            }
            return Err(format!("{path} must not be null"));
        }
        let ok = match self.ty {
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
        if !ok {
            return Err(format!(
                "{path} must be of type {}, got {}",
                self.ty.as_str(),
                type_name(value)
            ));
        }
        if !self.enum_values.is_empty() && !self.enum_values.contains(value) {
            return Err(format!(
                "{path} must be one of {}",
                Value::Array(self.enum_values.clone())
            ));
        }
        if let Some(n) = value.as_f64()
            && (self.minimum.is_some_and(|m| n < m) || self.maximum.is_some_and(|m| n > m))
        {
            return Err(format!("{path} is out of range"));
        }
        if let Value::String(s) = value {
            if self.min_length.is_some() || self.max_length.is_some() {
                let len = s.chars().count() as u64;
                if self.min_length.is_some_and(|m| len < m)
                    || self.max_length.is_some_and(|m| len > m)
                {
                    return Err(format!("{path} has a length out of range"));
                }
            }
            if let Some(regex) = &self.pattern
                && !regex.is_match(s)
            {
                return Err(format!(
                    "{path} does not match the pattern {}",
                    regex.as_str()
                ));
            }
        }
        match value {
            Value::Array(items) => {
                let len = items.len() as u64;
                if self.min_items.is_some_and(|m| len < m)
                    || self.max_items.is_some_and(|m| len > m)
                {
                    return Err(format!("{path} has a number of items out of range"));
                }
                if let Some(item) = &self.items {
                    for (i, v) in items.iter_mut().enumerate() {
                        item.check(v, Path::Index(&path, i))?;
                    }
                }
            }
            Value::Object(map) if !self.fields.is_empty() => {
                check_fields(&self.fields, map, path)?;
            }
            _ => {}
        }
        Ok(())
    }
}

/// Objects with at most this many members are searched by key comparison in [`check_fields`].
const SCAN_KEYS: usize = 12;

fn check_fields(
    fields: &[ParamCheck],
    map: &mut Map<String, Value>,
    path: Path<'_>,
) -> Result<(), String> {
    for field in fields {
        let field_path = Path::Field(&path, &field.name);
        // Small objects (most are) are searched by comparing keys, which costs less than
        // hashing the name (serde_json's map hashes with SipHash).
        let value = if map.len() <= SCAN_KEYS {
            map.iter_mut()
                .find(|(key, _)| **key == field.name)
                .map(|(_, v)| v)
        } else {
            map.get_mut(&field.name)
        };
        match value {
            Some(v) => field.check(v, field_path)?,
            None => {
                if let Some(default) = &field.default {
                    map.insert(field.name.clone(), default.clone());
                } else if field.required {
                    return Err(format!("{field_path} is required"));
                }
            }
        }
    }
    Ok(())
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

    #[test]
    fn checks_types_required_defaults_and_patterns() {
        let mut diags = Vec::new();
        let params = vec![
            Parameter::new("id", ParamType::String).required(),
            Parameter {
                default: Some(json!(10)),
                ..Parameter::new("limit", ParamType::Integer)
            },
            Parameter {
                pattern: Some("^[a-z]+$".into()),
                ..Parameter::new("tag", ParamType::String)
            },
        ];
        let check = ObjectCheck::new(&params, &mut diags, "input");
        assert!(diags.is_empty());
        let mut ok = json!({"id": "a"});
        assert_eq!(check.apply(&mut ok), Ok(()));
        assert_eq!(ok, json!({"id": "a", "limit": 10}));
        assert_eq!(check.apply(&mut json!({})), Err("id is required".into()));
        assert_eq!(
            check.apply(&mut json!({"id": 3})),
            Err("id must be of type string, got integer".into())
        );
        assert!(check.apply(&mut json!({"id": "a", "tag": "A1"})).is_err());
    }

    #[test]
    fn errors_name_the_path_of_the_value() {
        let mut diags = Vec::new();
        let order = Parameter {
            fields: vec![
                Parameter::new("id", ParamType::String).required(),
                Parameter {
                    enum_values: vec![json!("PLACED"), json!("SHIPPED")],
                    ..Parameter::new("status", ParamType::String)
                },
            ],
            ..Parameter::new("order", ParamType::Object)
        };
        let params = vec![Parameter {
            fields: vec![Parameter {
                items: Some(Box::new(order)),
                ..Parameter::new("orders", ParamType::Array)
            }],
            ..Parameter::new("result", ParamType::Object)
        }];
        let check = ObjectCheck::new(&params, &mut diags, "output");
        assert!(diags.is_empty());
        let mut bad =
            json!({"result": {"orders": [{"id": "a", "status": "PLACED"}, {"status": "LOST"}]}});
        assert_eq!(
            check.apply(&mut bad),
            Err(r#"result.orders[1].id is required"#.into())
        );
        let mut bad = json!({"result": {"orders": [{"id": "a", "status": "LOST"}]}});
        assert_eq!(
            check.apply(&mut bad),
            Err(r#"result.orders[0].status must be one of ["PLACED","SHIPPED"]"#.into())
        );
        let mut good = json!({"result": {"orders": [{"id": "a", "status": "SHIPPED"}]}});
        assert_eq!(check.apply(&mut good), Ok(()));
    }
}
