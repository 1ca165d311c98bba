//! Import an HTTP connector's methods from an OpenAPI 3 document (JSON or YAML).
//!
//! - `servers[0].url` (server variables replaced by their defaults) becomes `base_url`.
//! - Each operation becomes a method named by its `operationId` (made a plain identifier),
//!   else by verb and path (`get_pets_petId`); clashing names get a numeric suffix.
//! - Path, query and header parameters become input fields; the path keeps its `{name}`
//!   placeholders, query and header values are `{{ input.name }}` templates. A JSON request
//!   body with an object schema contributes its properties as input fields and a body built
//!   from them; any other JSON body is the input field `body`.
//! - The first 2xx response with a JSON schema gives the output fields: an object's
//!   properties, or for an array the single field `items` (the method's `response`
//!   expression wraps the body). Documented 4xx/5xx statuses get error codes (`404` →
//!   `NOT_FOUND`, …).
//! - Local `$ref`s (`#/components/...`) are resolved; a reference cycle stops at the second
//!   visit with an `any` field and a warning. Remote references are not followed.
//!
//! Like every import, a bad document never fails it: problems are diagnostics next to
//! whatever could be read.

use std::collections::BTreeSet;

use indexmap::IndexMap;
use serde_json::{Value, json};
use starweave_model::Diagnostic;
use starweave_model::vms::connector::{HttpConnector, HttpMethod, HttpVerb};
use starweave_model::vms::params::{ParamType, Parameter};

/// The result of [`import_openapi`].
#[derive(Debug, Clone, PartialEq)]
pub struct OpenApiImport {
    /// The connector: base URL and one method per operation.
    pub connector: HttpConnector,
    /// What could not be imported, or was imported approximately.
    pub diagnostics: Vec<Diagnostic>,
}

const VERBS: [(&str, HttpVerb); 7] = [
    ("get", HttpVerb::Get),
    ("put", HttpVerb::Put),
    ("post", HttpVerb::Post),
    ("delete", HttpVerb::Delete),
    ("options", HttpVerb::Options),
    ("head", HttpVerb::Head),
    ("patch", HttpVerb::Patch),
];

/// Reads an OpenAPI 3 document and builds an HTTP connector from it.
pub fn import_openapi(doc_text: &str) -> OpenApiImport {
    let mut importer = Importer {
        doc: Value::Null,
        diagnostics: Vec::new(),
        resolving: Vec::new(),
    };
    let doc: Value = match serde_json::from_str(doc_text) {
        Ok(doc) => doc,
        Err(_) => match serde_yaml_ng::from_str(doc_text) {
            Ok(doc) => doc,
            Err(err) => {
                importer.error(
                    "openapi.parse",
                    format!("the document is neither JSON nor YAML: {err}"),
                );
                return OpenApiImport {
                    connector: HttpConnector::default(),
                    diagnostics: importer.diagnostics,
                };
            }
        },
    };
    importer.doc = doc;
    let connector = importer.connector();
    OpenApiImport {
        connector,
        diagnostics: importer.diagnostics,
    }
}

struct Importer {
    doc: Value,
    diagnostics: Vec<Diagnostic>,
    /// `$ref`s being resolved, to stop cycles.
    resolving: Vec<String>,
}

impl Importer {
    fn error(&mut self, code: &str, message: String) {
        self.diagnostics.push(Diagnostic::error(code, message));
    }

    fn warn(&mut self, element: Option<&str>, message: String) {
        let mut d = Diagnostic::warning("openapi.approximated", message);
        d.element = element.map(str::to_owned);
        self.diagnostics.push(d);
    }

    /// Follows a local `$ref` (once); `None` when it is missing or remote.
    fn deref(&mut self, value: &Value, element: Option<&str>) -> Option<(Value, Option<String>)> {
        let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
            return Some((value.clone(), None));
        };
        let Some(pointer) = reference.strip_prefix('#') else {
            self.warn(
                element,
                format!("remote reference `{reference}` is not followed"),
            );
            return None;
        };
        match self.doc.pointer(pointer) {
            Some(target) => Some((target.clone(), Some(reference.to_owned()))),
            None => {
                self.warn(element, format!("reference `{reference}` points nowhere"));
                None
            }
        }
    }

    fn connector(&mut self) -> HttpConnector {
        let version = self
            .doc
            .get("openapi")
            .and_then(Value::as_str)
            .unwrap_or("");
        if !version.starts_with('3') {
            self.error(
                "openapi.version",
                format!("expected an OpenAPI 3 document (`openapi: 3.x`), found `{version}`"),
            );
        }
        let base_url = self.base_url();
        let mut methods = Vec::new();
        let mut names = BTreeSet::new();
        let paths = self
            .doc
            .get("paths")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        for (path, item) in &paths {
            let Some((item, _)) = self.deref(item, Some(path)) else {
                continue;
            };
            let shared_params = item
                .get("parameters")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for (verb_name, verb) in VERBS {
                let Some(operation) = item.get(verb_name) else {
                    continue;
                };
                let method =
                    self.method(path, verb_name, verb, operation, &shared_params, &mut names);
                methods.push(method);
            }
        }
        HttpConnector {
            description: self
                .doc
                .pointer("/info/title")
                .and_then(Value::as_str)
                .map(str::to_owned),
            base_url,
            methods,
            ..HttpConnector::default()
        }
    }

    fn base_url(&mut self) -> String {
        let Some(server) = self.doc.pointer("/servers/0").cloned() else {
            self.warn(
                None,
                "the document lists no servers; set base_url by hand".into(),
            );
            return String::new();
        };
        let mut url = server
            .get("url")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        if let Some(variables) = server.get("variables").and_then(Value::as_object) {
            for (name, variable) in variables {
                let default = variable.get("default").map(value_text).unwrap_or_default();
                url = url.replace(&format!("{{{name}}}"), &default);
            }
        }
        if !url.contains("://") {
            self.warn(
                None,
                format!("servers[0] is the relative URL `{url}`; prefix it with the API's origin"),
            );
        }
        url
    }

    fn method(
        &mut self,
        path: &str,
        verb_name: &str,
        verb: HttpVerb,
        operation: &Value,
        shared_params: &[Value],
        names: &mut BTreeSet<String>,
    ) -> HttpMethod {
        let base_name = match operation.get("operationId").and_then(Value::as_str) {
            Some(id) => identifier(id),
            None => identifier(&format!("{verb_name}_{path}")),
        };
        let mut name = base_name.clone();
        let mut n = 2;
        while !names.insert(name.clone()) {
            name = format!("{base_name}_{n}");
            n += 1;
        }
        let element = name.clone();
        let mut method = HttpMethod {
            name,
            description: operation
                .get("summary")
                .or_else(|| operation.get("description"))
                .and_then(Value::as_str)
                .map(str::to_owned),
            method: verb,
            path: path.to_owned(),
            ..HttpMethod::default()
        };

        // Operation parameters override path-item ones with the same name and location.
        let mut params: IndexMap<(String, String), Value> = IndexMap::new();
        let own = operation
            .get("parameters")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for raw in shared_params.iter().chain(&own) {
            let Some((param, _)) = self.deref(raw, Some(&element)) else {
                continue;
            };
            let name = param
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            let location = param
                .get("in")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned();
            params.insert((name, location), param);
        }
        for ((original, location), param) in params {
            let field = identifier(&original);
            let mut parameter = match param.get("schema") {
                Some(schema) => self.parameter(&field, schema, &element),
                None => Parameter::new(field.clone(), ParamType::String),
            };
            parameter.required = location == "path"
                || param
                    .get("required")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
            if parameter.description.is_none() {
                parameter.description = param
                    .get("description")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            let template = format!("{{{{ input.{field} }}}}");
            match location.as_str() {
                "path" => {
                    method.path = method
                        .path
                        .replace(&format!("{{{original}}}"), &format!("{{{field}}}"))
                }
                "query" => {
                    method.query.insert(original.clone(), template);
                }
                "header" => {
                    method.headers.insert(original.clone(), template);
                }
                other => {
                    self.warn(
                        Some(&element),
                        format!("parameter `{original}` in `{other}` is not imported"),
                    );
                    continue;
                }
            }
            method.input.push(parameter);
        }

        if let Some(body) = operation.get("requestBody")
            && let Some((body, _)) = self.deref(body, Some(&element))
        {
            match json_schema(&body) {
                Some(schema) => {
                    let parameter = self.parameter("body", &schema, &element);
                    let required = body
                        .get("required")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if parameter.ty == ParamType::Object && !parameter.fields.is_empty() {
                        let mut object = serde_json::Map::new();
                        for field in &parameter.fields {
                            object.insert(
                                field.name.clone(),
                                json!(format!("{{{{ input.{} }}}}", identifier(&field.name))),
                            );
                        }
                        method.body = Some(Value::Object(object));
                        for mut field in parameter.fields {
                            field.required = field.required && required;
                            field.name = identifier(&field.name);
                            method.input.push(field);
                        }
                    } else {
                        method.body = Some(json!("{{ input.body }}"));
                        let mut parameter = parameter;
                        parameter.required = required;
                        method.input.push(parameter);
                    }
                }
                None => self.warn(
                    Some(&element),
                    "the request body is not JSON; it is not imported".into(),
                ),
            }
        }

        let responses = operation
            .get("responses")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let mut success: Vec<(&String, &Value)> = responses
            .iter()
            .filter(|(status, _)| status.starts_with('2'))
            .collect();
        success.sort_by_key(|(status, _)| status.to_string());
        if let Some((_, response)) = success.first()
            && let Some((response, _)) = self.deref(response, Some(&element))
            && let Some(schema) = json_schema(&response)
        {
            let output = self.parameter("items", &schema, &element);
            match output.ty {
                ParamType::Object => method.output = output.fields,
                ParamType::Array => {
                    method.response = Some("#{ items: response.body }".into());
                    method.output = vec![output];
                }
                _ => {
                    method.response = Some("#{ value: response.body }".into());
                    let mut output = output;
                    output.name = "value".into();
                    method.output = vec![output];
                }
            }
        }
        for status in responses.keys() {
            if let Some(code) = status.parse::<u16>().ok().and_then(error_code_for) {
                method
                    .error_statuses
                    .insert(status.clone(), code.to_owned());
            }
        }
        method
    }

    /// A JSON Schema as a parameter named `name`.
    fn parameter(&mut self, name: &str, schema: &Value, element: &str) -> Parameter {
        let reference = schema
            .get("$ref")
            .and_then(Value::as_str)
            .map(str::to_owned);
        if let Some(reference) = &reference
            && self.resolving.contains(reference)
        {
            self.warn(
                Some(element),
                format!("`{reference}` refers to itself; `{name}` is imported as `any` at the second level"),
            );
            return Parameter::new(name, ParamType::Any);
        }
        let Some((schema, followed)) = self.deref(schema, Some(element)) else {
            return Parameter::new(name, ParamType::Any);
        };
        if let Some(followed) = &followed {
            self.resolving.push(followed.clone());
        }
        let parameter = self.parameter_of(name, &schema, element);
        if followed.is_some() {
            self.resolving.pop();
        }
        parameter
    }

    fn parameter_of(&mut self, name: &str, schema: &Value, element: &str) -> Parameter {
        // allOf: merge the parts' properties.
        if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
            let mut merged = Parameter::new(name, ParamType::Object);
            for part in parts {
                let part = self.parameter(name, part, element);
                merged.fields.extend(part.fields);
                merged.description = merged.description.or(part.description);
            }
            return merged;
        }
        let ty_name = match schema.get("type") {
            Some(Value::String(t)) => t.clone(),
            // OpenAPI 3.1 allows `type: [string, "null"]`.
            Some(Value::Array(types)) => types
                .iter()
                .filter_map(Value::as_str)
                .find(|t| *t != "null")
                .unwrap_or("")
                .to_owned(),
            _ if schema.get("properties").is_some() => "object".into(),
            _ => String::new(),
        };
        let ty = match ty_name.as_str() {
            "string" => ParamType::String,
            "integer" => ParamType::Integer,
            "number" => ParamType::Number,
            "boolean" => ParamType::Boolean,
            "object" => ParamType::Object,
            "array" => ParamType::Array,
            _ => ParamType::Any,
        };
        let mut parameter = Parameter::new(name, ty);
        parameter.description = schema
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_owned);
        parameter.format = schema
            .get("format")
            .and_then(Value::as_str)
            .map(str::to_owned);
        parameter.nullable = schema
            .get("nullable")
            .and_then(Value::as_bool)
            .unwrap_or(false)
            || matches!(schema.get("type"), Some(Value::Array(t)) if t.iter().any(|t| t == "null"));
        parameter.enum_values = schema
            .get("enum")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        parameter.example = schema.get("example").cloned();
        parameter.minimum = schema.get("minimum").and_then(Value::as_f64);
        parameter.maximum = schema.get("maximum").and_then(Value::as_f64);
        parameter.min_length = schema.get("minLength").and_then(Value::as_u64);
        parameter.max_length = schema.get("maxLength").and_then(Value::as_u64);
        parameter.pattern = schema
            .get("pattern")
            .and_then(Value::as_str)
            .map(str::to_owned);
        parameter.min_items = schema.get("minItems").and_then(Value::as_u64);
        parameter.max_items = schema.get("maxItems").and_then(Value::as_u64);
        match ty {
            ParamType::Object => {
                let required: Vec<&str> = schema
                    .get("required")
                    .and_then(Value::as_array)
                    .map(|r| r.iter().filter_map(Value::as_str).collect())
                    .unwrap_or_default();
                if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                    for (key, property) in properties {
                        let mut field = self.parameter(key, property, element);
                        field.required = required.contains(&key.as_str());
                        parameter.fields.push(field);
                    }
                }
            }
            ParamType::Array => {
                if let Some(items) = schema.get("items") {
                    parameter.items = Some(Box::new(self.parameter("", items, element)));
                }
            }
            _ => {}
        }
        parameter
    }
}

/// The JSON schema of a request body or response (`application/json` or `+json`).
fn json_schema(body: &Value) -> Option<Value> {
    let content = body.get("content")?.as_object()?;
    content
        .iter()
        .find(|(media, _)| media.starts_with("application/json") || media.contains("+json"))
        .and_then(|(_, media)| media.get("schema").cloned())
}

fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A plain identifier: letters, digits and `_`, not starting with a digit.
fn identifier(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches('_').to_owned();
    if out.is_empty() {
        "operation".into()
    } else if out.starts_with(|c: char| c.is_ascii_digit()) {
        format!("_{out}")
    } else {
        out
    }
}

fn error_code_for(status: u16) -> Option<&'static str> {
    Some(match status {
        400 => "BAD_REQUEST",
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        422 => "UNPROCESSABLE",
        429 => "RATE_LIMITED",
        500..=599 => "UPSTREAM",
        _ => return None,
    })
}
