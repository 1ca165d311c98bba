//! The OpenAPI 3.1 document of a deployment's HTTP routes, served at
//! `GET /{vms}/openapi.json` (unless the VMS has a route of its own there).
//!
//! Paths are relative to the server URL `/{vms}`. Path parameters come first; for `GET`,
//! `DELETE`, `HEAD` and `OPTIONS` the other input fields are query parameters, for the other
//! verbs they form the JSON request body. Responses: the declared status with the output's
//! schema, 400 with the list of input problems, the declared error statuses, 422 for
//! undeclared business errors, 500 and 504. Schemas are the parameters' JSON Schemas
//! (draft 2020-12, which OpenAPI 3.1 uses).

use axum::http::Method;
use serde_json::{Map, Value, json};
use starweave_model::vms::Parameter;
use starweave_model::vms::Vms;
use starweave_model::vms::params::{parameter_to_json_schema, params_to_json_schema};
use starweave_model::vms::trigger::RouteAuth;

use super::registry::HttpRoute;

fn object_schema(params: &[&Parameter]) -> Value {
    let mut properties = Map::new();
    let mut required = Vec::new();
    for p in params {
        properties.insert(p.name.clone(), parameter_to_json_schema(p));
        if p.required {
            required.push(Value::String(p.name.clone()));
        }
    }
    let mut schema = Map::new();
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        schema.insert("required".into(), Value::Array(required));
    }
    Value::Object(schema)
}

fn error_schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "error": {"type": "string"},
            "message": {"type": "string"},
            "trace_id": {"type": "string"},
            "problems": {"type": "array", "items": {"type": "object", "properties": {
                "path": {"type": "string"}, "message": {"type": "string"}}}}
        },
        "required": ["error"]
    })
}

fn error_response(description: &str) -> Value {
    json!({"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}})
}

/// Builds the document.
pub fn openapi_document(vms_name: &str, version: &str, vms: &Vms, routes: &[HttpRoute]) -> Value {
    let mut paths: Map<String, Value> = Map::new();
    let mut schemes = Map::new();
    for route in routes {
        let function = vms.functions.get(&route.trigger.function);
        let inputs: Vec<&Parameter> = function
            .map(|f| f.spec.input.iter().collect())
            .unwrap_or_default();
        let path_params: Vec<&str> = route.pattern.params().collect();
        let mut parameters = Vec::new();
        for name in &path_params {
            let schema = inputs.iter().find(|p| p.name == *name).map_or_else(
                || json!({"type": "string"}),
                |p| parameter_to_json_schema(p),
            );
            parameters
                .push(json!({"name": name, "in": "path", "required": true, "schema": schema}));
        }
        let rest: Vec<&Parameter> = inputs
            .iter()
            .copied()
            .filter(|p| !path_params.contains(&p.name.as_str()))
            .collect();
        let body_verb = !matches!(
            route.method,
            Method::GET | Method::DELETE | Method::HEAD | Method::OPTIONS
        );
        let mut operation = Map::new();
        operation.insert("operationId".into(), route.trigger.function.clone().into());
        if let Some(summary) = route
            .trigger
            .description
            .as_ref()
            .or(function.and_then(|f| f.spec.description.as_ref()))
        {
            operation.insert("summary".into(), summary.clone().into());
        }
        if route.trigger.input.is_empty() {
            if body_verb {
                operation.insert(
                    "requestBody".into(),
                    json!({"required": rest.iter().any(|p| p.required),
                           "content": {"application/json": {"schema": object_schema(&rest)}}}),
                );
            } else {
                for p in &rest {
                    parameters.push(
                        json!({"name": p.name, "in": "query", "required": p.required,
                                           "schema": parameter_to_json_schema(p)}),
                    );
                }
            }
        }
        operation.insert("parameters".into(), Value::Array(parameters));
        let mut responses = Map::new();
        let output = function
            .map(|f| params_to_json_schema(&f.spec.output))
            .unwrap_or_else(|| json!({}));
        let mut output = output;
        if let Value::Object(map) = &mut output {
            map.remove("$schema");
        }
        responses.insert(
            route.status.as_u16().to_string(),
            json!({"description": "The function's output.", "content": {"application/json": {"schema": output}}}),
        );
        responses.insert(
            "400".into(),
            error_response("The input is not valid; `problems` lists why."),
        );
        for (code, status) in &route.trigger.error_statuses {
            let description = function
                .and_then(|f| f.spec.errors.iter().find(|e| &e.code == code))
                .and_then(|e| e.description.clone())
                .unwrap_or_else(|| format!("Error `{code}`."));
            responses.insert(status.to_string(), error_response(&description));
        }
        responses
            .entry("422")
            .or_insert_with(|| error_response("A business error the route does not map."));
        responses.insert(
            "500".into(),
            error_response("A technical failure; `trace_id` identifies it in the logs."),
        );
        responses.insert(
            "503".into(),
            error_response("The VMS is at its concurrency limit."),
        );
        responses.insert("504".into(), error_response("The run passed its deadline."));
        if let Some(auth) = &route.trigger.auth {
            let (name, scheme) = match auth {
                RouteAuth::ApiKey { header, .. } => (
                    format!("apiKey_{header}"),
                    json!({"type": "apiKey", "in": "header", "name": header}),
                ),
                RouteAuth::Basic { .. } => (
                    "basic".to_owned(),
                    json!({"type": "http", "scheme": "basic"}),
                ),
                RouteAuth::Jwt { .. } => (
                    "jwt".to_owned(),
                    json!({"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}),
                ),
            };
            responses.insert(
                "401".into(),
                error_response("Missing or wrong credentials."),
            );
            operation.insert("security".into(), json!([{ name.clone(): [] }]));
            schemes.insert(name, scheme);
        }
        operation.insert("responses".into(), Value::Object(responses));
        let item = paths
            .entry(route.trigger.path.clone())
            .or_insert_with(|| json!({}));
        if let Value::Object(item) = item {
            item.insert(
                route.method.as_str().to_ascii_lowercase(),
                Value::Object(operation),
            );
        }
    }
    let mut info = Map::new();
    info.insert("title".into(), vms_name.into());
    info.insert("version".into(), version.into());
    if let Some(description) = &vms.description {
        info.insert("description".into(), description.clone().into());
    }
    json!({
        "openapi": "3.1.0",
        "info": info,
        "servers": [{"url": format!("/{vms_name}")}],
        "paths": paths,
        "components": {"schemas": {"Error": error_schema()}, "securitySchemes": schemes},
    })
}
