//! Parameter tools, connector tools and references for the editors:
//! `/params/infer`, `/params/convert`, `/vms/{vms}/connectors/{name}/import-openapi`,
//! `/vms/{vms}/connectors/{name}/methods/{method}/try`, `/vms/{vms}/connectors/{name}/test`,
//! `/vms/{vms}/connectors/{name}/grpc-methods`, `/vms/{vms}/connectors/{name}/import-grpc`,
//! `/reference/expressions`,
//! `/reference/ctx`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Instant;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use starweave_engine::connectors::{ConnectorRequest, Connectors};
use starweave_engine::io::grpc_import::{self, DescriptorPool};
use starweave_engine::io::openapi::import_openapi;
use starweave_engine::io::{LiveConnectors, LiveOptions};
use starweave_model::vms::connector::{Connector, GrpcConnector};
use starweave_model::vms::params::{self, ParamType, Parameter};
use starweave_model::vms::{self, Vms};

use super::error::{ApiError, ApiResult};
use super::paths::check_vms_name;
use super::{ApiRoutes, AppState, Json, Path, Query, blocking};

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .route("/params/infer", &["post"], post(infer))
        .route("/params/convert", &["post"], post(convert))
        .route(
            "/vms/{vms}/connectors/{name}/import-openapi",
            &["post"],
            post(import),
        )
        .route(
            "/vms/{vms}/connectors/{name}/methods/{method}/try",
            &["post"],
            post(try_method),
        )
        .route(
            "/vms/{vms}/connectors/{name}/test",
            &["post"],
            post(test_connection),
        )
        .route(
            "/vms/{vms}/connectors/{name}/grpc-methods",
            &["get"],
            get(grpc_methods),
        )
        .route(
            "/vms/{vms}/connectors/{name}/import-grpc",
            &["post"],
            post(import_grpc),
        )
        .route("/reference/expressions", &["get"], get(expressions))
        .route("/reference/ctx", &["get"], get(ctx_declaration))
}

fn params_answer(
    params: &[Parameter],
    diagnostics: Option<Vec<starweave_model::Diagnostic>>,
) -> Value {
    let mut answer = json!({
        "params": params,
        "yaml": params::params_to_yaml(params),
        "csv": params::params_to_csv(params),
    });
    if let Some(diagnostics) = diagnostics {
        answer["diagnostics"] = json!(diagnostics);
    }
    answer
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct InferRequest {
    sample: Value,
}

async fn infer(Json(request): Json<InferRequest>) -> Json<Value> {
    Json(params_answer(
        &params::infer_parameters(&request.sample),
        None,
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ConvertRequest {
    from: String,
    content: String,
}

async fn convert(Json(request): Json<ConvertRequest>) -> ApiResult<Json<Value>> {
    let (params, diagnostics) = match request.from.as_str() {
        "yaml" => params::params_from_yaml(&request.content),
        "csv" => params::params_from_csv(&request.content),
        other => {
            return Err(ApiError::InvalidRequest(format!(
                "`from` is `yaml` or `csv`, not `{other}`"
            )));
        }
    };
    Ok(Json(params_answer(&params, Some(diagnostics))))
}

fn check_connector_name(name: &str) -> ApiResult<()> {
    if vms::disk::is_valid_name(name) && name.len() <= 100 {
        Ok(())
    } else {
        Err(ApiError::InvalidName(format!(
            "`{}` is not a connector name: use letters, digits, `_` and `-`",
            name.chars().take(100).collect::<String>()
        )))
    }
}

/// Writes a connector file of the VMS at `dir` (the caller holds the VMS's lock).
async fn write_connector_file(dir: &std::path::Path, file: &str, yaml: String) -> ApiResult<()> {
    let path = super::paths::resolve_inside(dir, file)?;
    blocking(move || {
        Ok(super::files::write_atomically(
            &path,
            yaml.as_bytes(),
            false,
        )?)
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRequest {
    document: String,
    #[serde(default)]
    base_url_env: Option<String>,
}

async fn import(
    State(state): State<AppState>,
    Path((vms_name, name)): Path<(String, String)>,
    Json(request): Json<ImportRequest>,
) -> ApiResult<Json<Value>> {
    let dir = state.workspace().vms_dir(&vms_name)?;
    check_connector_name(&name)?;
    let mut imported = import_openapi(&request.document);
    if let Some(env) = &request.base_url_env {
        if !env.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || env.is_empty() {
            return Err(ApiError::InvalidName(format!(
                "`{env}` is not an env var name"
            )));
        }
        imported.connector.base_url = format!("{{{{ env.{env} }}}}");
    }
    let file = vms::disk::connector_file(&name);
    let methods: Vec<String> = imported
        .connector
        .methods
        .iter()
        .map(|m| m.name.clone())
        .collect();
    let yaml = vms::disk::connector_to_yaml(&Connector::Http(imported.connector));
    let diagnostics: Vec<_> = imported
        .diagnostics
        .into_iter()
        .map(|d| {
            if d.file.is_none() {
                d.in_file(file.clone())
            } else {
                d
            }
        })
        .collect();
    let guard = state.lock(&vms_name).await;
    write_connector_file(&dir, &file, yaml).await?;
    drop(guard);
    Ok(Json(
        json!({ "file": file, "methods": methods, "diagnostics": diagnostics }),
    ))
}

/// The gRPC connector `name` of the VMS and its descriptor set, decoded.
fn grpc_connector(
    vms_name: &str,
    model: &Vms,
    name: &str,
) -> ApiResult<(GrpcConnector, DescriptorPool)> {
    let connector = match model.connectors.get(name) {
        None => {
            return Err(ApiError::NotFound(format!(
                "`{vms_name}` has no connector `{name}` (or its file does not load; see the diagnostics)"
            )));
        }
        Some(Connector::Grpc(g)) => g.clone(),
        Some(other) => {
            return Err(ApiError::InvalidRequest(format!(
                "`{name}` is a {} connector, not a gRPC one",
                other.kind().as_str()
            )));
        }
    };
    let path = connector.descriptor_set.trim_start_matches("./");
    if path.is_empty() {
        return Err(ApiError::InvalidRequest(
            "the connector names no `descriptor_set` yet: add the compiled descriptor set \
             (`protoc --descriptor_set_out=…` or `buf build -o …`) to the VMS and name it"
                .into(),
        ));
    }
    let Some(bytes) = model.other_files.get(path) else {
        return Err(ApiError::InvalidRequest(format!(
            "the descriptor set `{path}` is not in the VMS"
        )));
    };
    let pool = grpc_import::decode(bytes)
        .map_err(|e| ApiError::InvalidRequest(format!("`{path}`: {e}")))?;
    Ok((connector, pool))
}

/// `GET …/grpc-methods`: the services and methods of the connector's descriptor set, and
/// which connector method calls each.
async fn grpc_methods(
    State(state): State<AppState>,
    Path((vms_name, name)): Path<(String, String)>,
) -> ApiResult<Json<Value>> {
    let model = load_vms(&state, &vms_name).await?;
    let (connector, pool) = grpc_connector(&vms_name, &model, &name)?;
    let services: Vec<Value> = grpc_import::list_services(&pool)
        .into_iter()
        .map(|service| {
            let methods: Vec<Value> = service
                .methods
                .iter()
                .map(|m| {
                    let imported_as = connector
                        .methods
                        .iter()
                        .find(|c| c.method.trim_start_matches('/') == m.method)
                        .map(|c| c.name.clone());
                    json!({
                        "method": m.method,
                        "input_type": m.input_type,
                        "output_type": m.output_type,
                        "streaming": m.streaming,
                        "imported_as": imported_as,
                    })
                })
                .collect();
            json!({ "name": service.name, "methods": methods })
        })
        .collect();
    Ok(Json(
        json!({ "descriptor_set": connector.descriptor_set, "services": services }),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrpcImportRequest {
    #[serde(default)]
    methods: Option<Vec<String>>,
}

/// `POST …/import-grpc`: methods (or every unary one) from the descriptor set, with their
/// parameters from the messages' fields; methods already there get fresh parameters.
async fn import_grpc(
    State(state): State<AppState>,
    Path((vms_name, name)): Path<(String, String)>,
    Json(request): Json<GrpcImportRequest>,
) -> ApiResult<Json<Value>> {
    let dir = state.workspace().vms_dir(&vms_name)?;
    check_connector_name(&name)?;
    let guard = state.lock(&vms_name).await;
    let model = load_vms(&state, &vms_name).await?;
    let (mut connector, pool) = grpc_connector(&vms_name, &model, &name)?;
    let report = grpc_import::import_methods(&mut connector, &pool, request.methods.as_deref())
        .map_err(ApiError::InvalidRequest)?;
    let file = vms::disk::connector_file(&name);
    let yaml = vms::disk::connector_to_yaml(&Connector::Grpc(connector));
    let (_, diagnostics) = vms::disk::parse_connector(&file, &yaml);
    write_connector_file(&dir, &file, yaml).await?;
    drop(guard);
    Ok(Json(json!({
        "file": file,
        "added": report.added,
        "updated": report.updated,
        "diagnostics": diagnostics,
    })))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TryRequest {
    #[serde(default)]
    input: Value,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

async fn load_vms(state: &AppState, name: &str) -> ApiResult<Vms> {
    let dir = state.workspace().vms_dir(name)?;
    blocking(move || {
        let files = crate::files::read_vms_dir(&dir)?;
        Ok(vms::read_vms(&files).vms)
    })
    .await
}

/// The connector `name` of the VMS, alone, live with the VMS's env values (the declared
/// defaults, then `.env.local`, then `env`).
fn live_connector(
    vms_name: &str,
    model: &Vms,
    name: &str,
    env: &BTreeMap<String, String>,
) -> ApiResult<LiveConnectors> {
    let Some(connector) = model.connectors.get(name) else {
        return Err(ApiError::NotFound(format!(
            "`{vms_name}` has no connector `{name}` (or its file does not load; see the diagnostics)"
        )));
    };
    let env = super::run::env_values(model, env)?;
    let only: BTreeMap<String, Connector> = [(name.to_owned(), connector.clone())].into();
    let (connectors, _) = LiveConnectors::new(
        &only,
        env,
        LiveOptions {
            files: model.other_files.clone(),
            ..LiveOptions::default()
        },
    );
    Ok(connectors)
}

async fn try_method(
    State(state): State<AppState>,
    Path((vms_name, name, method)): Path<(String, String, String)>,
    Json(request): Json<TryRequest>,
) -> ApiResult<Json<Value>> {
    let model = load_vms(&state, &vms_name).await?;
    let connectors = live_connector(&vms_name, &model, &name, &request.env)?;
    if model
        .connectors
        .get(&name)
        .and_then(|c| c.method(&method))
        .is_none()
    {
        return Err(ApiError::NotFound(format!(
            "the connector `{name}` has no method `{method}`"
        )));
    }
    let started = Instant::now();
    let result = connectors
        .call(ConnectorRequest {
            connector: &name,
            method: &method,
            args: request.input,
            transaction: None,
        })
        .await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Json(match result {
        Ok(output) => json!({ "ok": true, "output": output, "duration_ms": duration_ms }),
        Err(error) => json!({
            "ok": false,
            "error": { "code": error.code, "message": error.message },
            "duration_ms": duration_ms,
        }),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    #[serde(default)]
    env: BTreeMap<String, String>,
}

/// Tests a connector's connection (see `LiveConnectors::check`). A connection that fails
/// is an answer (`ok: false` with the reason), not an API error.
async fn test_connection(
    State(state): State<AppState>,
    Path((vms_name, name)): Path<(String, String)>,
    Json(request): Json<TestRequest>,
) -> ApiResult<Json<Value>> {
    let model = load_vms(&state, &vms_name).await?;
    let connectors = live_connector(&vms_name, &model, &name, &request.env)?;
    let started = Instant::now();
    let result = connectors.check(&name).await;
    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    Ok(Json(match result {
        Ok(check) => json!({
            "ok": true,
            "summary": check.summary,
            "notes": check.notes,
            "duration_ms": duration_ms,
        }),
        Err(error) => json!({
            "ok": false,
            "error": { "code": error.code, "message": error.message },
            "duration_ms": duration_ms,
        }),
    }))
}

async fn expressions() -> Json<Value> {
    Json(starweave_engine::script::reference::json())
}

#[derive(Debug, Deserialize)]
struct CtxQuery {
    #[serde(default)]
    vms: Option<String>,
}

async fn ctx_declaration(
    State(state): State<AppState>,
    Query(query): Query<CtxQuery>,
) -> ApiResult<impl IntoResponse> {
    let model = match query.vms.as_deref().filter(|v| !v.is_empty()) {
        Some(name) => {
            check_vms_name(name)?;
            Some(load_vms(&state, name).await?)
        }
        None => None,
    };
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/typescript; charset=utf-8",
        )],
        ctx_typescript(model.as_ref()),
    ))
}

/// A TypeScript declaration of what JavaScript functions see: `ctx` (env, log, the VMS's
/// connectors with typed inputs and outputs), the `sw` built-ins and `BpmnError`.
pub(super) fn ctx_typescript(model: Option<&Vms>) -> String {
    let mut out = String::new();
    out.push_str("// Generated by the Starweave IDE API for editor completion.\n");
    out.push_str(
        "declare class BpmnError extends Error {\n  constructor(code: string, message?: string);\n  readonly code: string;\n}\n\n",
    );
    out.push_str("interface StarweaveLog {\n  (...args: unknown[]): void;\n  info(...args: unknown[]): void;\n  warn(...args: unknown[]): void;\n  error(...args: unknown[]): void;\n}\n\n");
    out.push_str("interface StarweaveEnv {\n");
    if let Some(model) = model {
        for var in &model.env {
            if let Some(description) = &var.description {
                let _ = writeln!(out, "  /** {} */", doc(description));
            }
            let _ = writeln!(out, "  readonly {}: string;", ts_key(&var.name));
        }
    }
    out.push_str("  readonly [name: string]: string | undefined;\n}\n\n");
    out.push_str("interface StarweaveConnectors {\n");
    if let Some(model) = model {
        for (name, connector) in &model.connectors {
            if let Some(description) = connector.description() {
                let _ = writeln!(out, "  /** {} */", doc(description));
            }
            let _ = writeln!(out, "  readonly {}: {{", ts_key(name));
            for method in connector.methods() {
                if let Some(description) = method.description {
                    let _ = writeln!(out, "    /** {} */", doc(description));
                }
                let _ = writeln!(
                    out,
                    "    {}(input{}: {}): Promise<{}>;",
                    ts_key(method.name),
                    if method.input.iter().any(|p| p.required) {
                        ""
                    } else {
                        "?"
                    },
                    object_type(method.input, 4),
                    object_type(method.output, 4)
                );
            }
            out.push_str("  };\n");
        }
    }
    out.push_str("}\n\n");
    out.push_str("interface StarweaveCtx {\n  readonly env: StarweaveEnv;\n  readonly log: StarweaveLog;\n  readonly connectors: StarweaveConnectors;\n}\n\n");
    out.push_str("declare const sw: {\n");
    for builtin in builtins() {
        let _ = writeln!(
            out,
            "  /** `{}` — {} */\n  {}(...args: any[]): any;",
            doc(&builtin.1),
            doc(&builtin.2),
            ts_key(&builtin.0)
        );
    }
    out.push_str("};\n");
    out
}

/// (name, signature, description) of each built-in.
fn builtins() -> Vec<(String, String, String)> {
    let reference = starweave_engine::script::reference::json();
    let mut out: Vec<(String, String, String)> = reference
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|b| {
                    Some((
                        b.get("name")?.as_str()?.to_owned(),
                        b.get("signature")?.as_str().unwrap_or("").to_owned(),
                        b.get("description")?.as_str().unwrap_or("").to_owned(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// Text safe inside a `/** */` comment, on one line.
fn doc(text: &str) -> String {
    text.replace("*/", "* /").replace('\n', " ")
}

/// A property name: bare when it is an identifier, quoted otherwise.
fn ts_key(name: &str) -> String {
    let identifier = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
    if identifier {
        name.to_owned()
    } else {
        serde_json::to_string(name).unwrap_or_default()
    }
}

fn object_type(fields: &[Parameter], indent: usize) -> String {
    if fields.is_empty() {
        return "Record<string, unknown>".to_owned();
    }
    let pad = " ".repeat(indent + 2);
    let mut out = String::from("{\n");
    for field in fields {
        let _ = writeln!(
            out,
            "{pad}{}{}: {};",
            ts_key(&field.name),
            if field.required { "" } else { "?" },
            value_type(field, indent + 2)
        );
    }
    out.push_str(&" ".repeat(indent));
    out.push('}');
    out
}

fn value_type(p: &Parameter, indent: usize) -> String {
    let base = match p.ty {
        ParamType::String => "string".to_owned(),
        ParamType::Integer | ParamType::Number => "number".to_owned(),
        ParamType::Boolean => "boolean".to_owned(),
        ParamType::Object => object_type(&p.fields, indent),
        ParamType::Array => match &p.items {
            Some(item) => format!("Array<{}>", value_type(item, indent)),
            None => "unknown[]".to_owned(),
        },
        _ => "unknown".to_owned(),
    };
    if p.nullable {
        format!("{base} | null")
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn ctx_declares_connectors_with_their_types() {
        let files: starweave_model::vms::VmsFiles =
            super::super::embedded::example_files("bff-aggregation").unwrap();
        let model = starweave_model::vms::read_vms(&files).vms;
        let ts = super::ctx_typescript(Some(&model));
        assert!(ts.contains("readonly orders: {"), "{ts}");
        assert!(ts.contains("readonly PROFILE_API_URL: string;"), "{ts}");
        assert!(ts.contains("declare const sw"), "{ts}");
        assert!(ts.contains("sha256(...args: any[]): any;"), "{ts}");
    }
}
