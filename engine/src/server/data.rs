//! The data plane: HTTP trigger traffic, `/{vms}/{route…}`.
//!
//! A request is routed on the current routing table (one atomic load), authenticated,
//! turned into the function's input (see [`super::input`]), validated, run within the
//! deployment's concurrency limit and deadline, and answered:
//!
//! | outcome | status | body |
//! |---|---|---|
//! | output | the route's `status` (200) | the output object |
//! | invalid input | 400 | `{"error":"invalid_input","problems":[{"path","message"}]}` |
//! | error code in `error_statuses` | the mapped status | `{"error":code,"message"?,"trace_id"}` |
//! | other BPMN (business) error | 422 | `{"error":code,"message","trace_id"}` |
//! | a connector's coded error no flow caught or mapped | 502 (504 for `TIMEOUT`) | `{"error":code,"trace_id"}` — detail only in the logs |
//! | concurrency limit | 503, `Retry-After: 1` | `{"error":"overloaded"}` |
//! | deadline | 504 | `{"error":"deadline_exceeded","trace_id"}` |
//! | technical failure, panic | 500 | `{"error":"internal","trace_id"}` — detail only in the logs |
//!
//! Every response carries `x-starweave-trace-id` (taken from the request when it sends a
//! well-formed one, else generated); routed responses carry `x-starweave-version`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::Server;
use super::error::ApiError;
use super::input::{Problem, merge_input, query_object};
use super::registry::{Deployment, HttpRoute, InvokeError, LogLevel, Origin};
use super::routes::{percent_decode, split_path};
use crate::run::{ErrorKind, RunError};
use crate::script::{RunControl, ScriptError, ScriptErrorKind};

/// The header carrying the trace id, on requests and responses.
pub const TRACE_HEADER: &str = "x-starweave-trace-id";
/// The header naming the version that answered (and, on requests, the version wanted).
pub const VERSION_HEADER: &str = "x-starweave-version";
/// The largest request body accepted, in bytes.
pub const MAX_BODY_BYTES: usize = 8 << 20;

/// The data-plane router.
pub fn router(server: Arc<Server>) -> Router {
    Router::new().fallback(handle).with_state(server)
}

/// A trace id: the caller's when it is a plain token of at most 64 characters, else a new
/// random one (32 hex digits).
fn trace_id(headers: &HeaderMap) -> String {
    headers
        .get(TRACE_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
        .map_or_else(|| uuid::Uuid::new_v4().simple().to_string(), str::to_owned)
}

async fn handle(State(server): State<Arc<Server>>, request: Request) -> Response {
    let trace_id = trace_id(request.headers());
    let mut response = match dispatch(&server, request, &trace_id).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    if let Ok(value) = HeaderValue::from_str(&trace_id) {
        response.headers_mut().insert(TRACE_HEADER, value);
    }
    response
}

async fn dispatch(server: &Server, request: Request, trace_id: &str) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let segments = split_path(parts.uri.path());
    let Some((vms, rest)) = segments.split_first() else {
        server.count_unrouted();
        return Err(ApiError::NoSuchVms);
    };
    let vms = percent_decode(vms);
    let deployment = {
        let table = server.registry.table();
        let Some(entry) = table.vms.get(&vms) else {
            server.count_unrouted();
            return Err(ApiError::NoSuchVms);
        };
        let asked = server
            .registry
            .options()
            .version_header
            .then(|| parts.headers.get(VERSION_HEADER))
            .flatten();
        match asked.and_then(|v| v.to_str().ok()) {
            Some(version) => entry
                .versions
                .get(version)
                .cloned()
                .ok_or(ApiError::NoSuchVersion)?,
            None => entry.active.clone(),
        }
    };
    // The most specific route with the request's method; a HEAD request without a HEAD
    // route of its own is served by the GET route (hyper leaves the body out).
    let mut allowed: Vec<Method> = Vec::new();
    let mut found = None;
    let mut get_for_head = None;
    for (index, route) in deployment.routes.iter().enumerate() {
        if let Some(params) = route.pattern.matches(rest) {
            if route.method == parts.method {
                found = Some((index, params));
                break;
            }
            if parts.method == Method::HEAD && route.method == Method::GET {
                get_for_head.get_or_insert((index, params));
                continue;
            }
            if !allowed.contains(&route.method) {
                allowed.push(route.method.clone());
            }
            if route.method == Method::GET && !allowed.contains(&Method::HEAD) {
                allowed.push(Method::HEAD);
            }
        }
    }
    let Some((index, path_params)) = found.or(get_for_head) else {
        if matches!(parts.method, Method::GET | Method::HEAD) && rest == ["openapi.json"] {
            return Ok(openapi_response(&deployment));
        }
        server.count_unrouted();
        if allowed.is_empty() {
            return Err(ApiError::NoSuchRoute);
        }
        return Err(ApiError::MethodNotAllowed(allowed));
    };
    let route = &deployment.routes[index];
    let started = Instant::now();
    let body_timeout = server.registry.options().body_timeout;
    let result = serve_route(
        &deployment,
        route,
        &parts.headers,
        parts.uri.query(),
        path_params,
        (body, body_timeout),
        trace_id,
    )
    .await;
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(response) => response.status(),
        Err(error) => error.status(),
    };
    // Requests refused before any run (credentials, body, input, no run slot) are counted
    // but add no duration: they would pull the run histogram towards zero (or a slow
    // upload's thirty seconds).
    let ran = !matches!(
        &result,
        Err(ApiError::Unauthorized(_)
            | ApiError::BodyTooLarge
            | ApiError::BodyTimeout
            | ApiError::InvalidInput(_)
            | ApiError::BadRequest(_)
            | ApiError::Overloaded)
    );
    route
        .metrics
        .record("http", status.as_str(), ran.then_some(elapsed));
    let level = if status.is_server_error() {
        LogLevel::Error
    } else if status.is_client_error() {
        LogLevel::Warn
    } else {
        LogLevel::Info
    };
    if deployment.logs(level) {
        let duration_ms = elapsed.as_secs_f64() * 1000.0;
        let (vms, version, function) = (
            &deployment.vms,
            &deployment.version,
            &route.trigger.function,
        );
        let (method, path, status) = (parts.method.as_str(), parts.uri.path(), status.as_u16());
        match level {
            LogLevel::Error => tracing::error!(
                vms,
                version,
                function,
                trigger = "http",
                trace_id,
                method,
                path,
                status,
                duration_ms,
                "request failed"
            ),
            LogLevel::Warn => tracing::warn!(
                vms,
                version,
                function,
                trigger = "http",
                trace_id,
                method,
                path,
                status,
                duration_ms,
                "request refused"
            ),
            _ => tracing::info!(
                vms,
                version,
                function,
                trigger = "http",
                trace_id,
                method,
                path,
                status,
                duration_ms,
                "request"
            ),
        }
    }
    // Errors of a matched route say which version answered too (a gray release's gateway
    // tells the versions' failures apart by it).
    let mut response = result.unwrap_or_else(IntoResponse::into_response);
    if let Ok(value) = HeaderValue::from_str(&deployment.version) {
        response.headers_mut().insert(VERSION_HEADER, value);
    }
    Ok(response)
}

fn openapi_response(deployment: &Deployment) -> Response {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        deployment.openapi.clone(),
    )
        .into_response()
}

async fn serve_route(
    deployment: &Arc<Deployment>,
    route: &HttpRoute,
    headers: &HeaderMap,
    query: Option<&str>,
    path_params: BTreeMap<String, String>,
    (body, body_timeout): (Body, std::time::Duration),
    trace_id: &str,
) -> Result<Response, ApiError> {
    if let Some(auth) = &route.auth
        && let Err(failure) = auth.check(headers)
    {
        if deployment.logs(LogLevel::Debug) {
            tracing::debug!(
                target: super::DEPLOYMENT_TARGET,
                vms = deployment.vms,
                version = deployment.version,
                trace_id,
                reason = failure.0,
                "authentication failed"
            );
        }
        return Err(ApiError::Unauthorized(auth.challenge(&deployment.vms)));
    }
    // A body declared over the limit is refused before any of it is read.
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES as u64) {
        return Err(ApiError::BodyTooLarge);
    }
    // A client sending its body slowly holds a connection, not a run slot; it gets the
    // body timeout to finish. Only a body over the limit is a 413: a broken one (an upload
    // cut short, bad chunked encoding) is the client's 400.
    let bytes = match tokio::time::timeout(body_timeout, axum::body::to_bytes(body, MAX_BODY_BYTES))
        .await
    {
        Err(_) => return Err(ApiError::BodyTimeout),
        Ok(Err(err)) if is_length_limit(&err) => return Err(ApiError::BodyTooLarge),
        Ok(Err(err)) => {
            return Err(ApiError::InvalidInput(vec![Problem {
                path: String::new(),
                message: format!("the request body could not be read: {err}"),
            }]));
        }
        Ok(Ok(bytes)) => bytes,
    };
    let body = if bytes.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice::<Value>(&bytes).map_err(|err| {
            ApiError::InvalidInput(vec![Problem {
                path: String::new(),
                message: format!("the request body is not valid JSON: {err}"),
            }])
        })?
    };
    let query = query_object(query);
    let input = if route.mapping.is_empty() {
        merge_input(&route.input, body, &query, &path_params)
            .map_err(|p| ApiError::InvalidInput(vec![p]))?
    } else {
        mapped_input(
            deployment,
            route,
            headers,
            query,
            path_params,
            body,
            trace_id,
        )?
    };
    let problems = route.input.problems(&input);
    if !problems.is_empty() {
        return Err(ApiError::InvalidInput(problems));
    }
    let queue_wait = Some(deployment.queue_timeout);
    match deployment
        .invoke(
            &route.trigger.function,
            input,
            queue_wait,
            Origin {
                trigger: "http",
                trace_id,
            },
        )
        .await
    {
        Ok(output) => Ok((route.status, axum::Json(output)).into_response()),
        Err(InvokeError::Run(error)) => Err(run_error(deployment, route, error, trace_id)),
        Err(InvokeError::Overloaded) => Err(ApiError::Overloaded),
        Err(InvokeError::Panicked(message)) => {
            tracing::error!(
                vms = deployment.vms,
                version = deployment.version,
                function = route.trigger.function,
                trigger = "http",
                trace_id,
                panic = message,
                "the run panicked"
            );
            Err(ApiError::Internal {
                trace_id: trace_id.to_owned(),
            })
        }
        Err(InvokeError::Abandoned) => {
            tracing::error!(
                vms = deployment.vms,
                version = deployment.version,
                function = route.trigger.function,
                trigger = "http",
                trace_id,
                "the run did not stop at its deadline and was abandoned"
            );
            Err(ApiError::Deadline {
                trace_id: trace_id.to_owned(),
            })
        }
    }
}

/// Evaluates the route's explicit input mapping over `request`.
fn mapped_input(
    deployment: &Deployment,
    route: &HttpRoute,
    headers: &HeaderMap,
    query: Map<String, Value>,
    path: BTreeMap<String, String>,
    body: Value,
    trace_id: &str,
) -> Result<Value, ApiError> {
    let header_map: Map<String, Value> = headers
        .iter()
        .filter_map(|(name, value)| {
            Some((
                name.as_str().to_owned(),
                Value::String(value.to_str().ok()?.to_owned()),
            ))
        })
        .collect();
    let request = serde_json::json!({
        "path": path,
        "query": query,
        "headers": header_map,
        "body": body,
    });
    let mut vars = Map::new();
    vars.insert("request".into(), request);
    let control = RunControl::with_timeout(std::time::Duration::from_secs(1));
    let mut input = Map::new();
    let mut problems = Vec::new();
    for (field, ast) in &route.mapping {
        // Run on the request's own task: a built-in that panics must not take the
        // connection down without an answer (a run's panics are contained by its task).
        let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            deployment
                .program
                .scripting()
                .rhai
                .eval_expression(ast, &vars, &control)
        }));
        // The engine's fault, explained in the log only.
        let engine_fault = |why: &dyn std::fmt::Display| {
            tracing::error!(
                vms = deployment.vms,
                version = deployment.version,
                function = route.trigger.function,
                trigger = "http",
                trace_id,
                field,
                error = %why,
                "the input mapping failed"
            );
            ApiError::Internal {
                trace_id: trace_id.to_owned(),
            }
        };
        let Ok(evaluated) = evaluated else {
            return Err(engine_fault(&"a built-in function panicked"));
        };
        match evaluated {
            Ok(Value::Null) => {}
            Ok(value) => {
                input.insert(field.clone(), value);
            }
            // The request's data did not fit the expression (a missing property, a wrong
            // type): the client's 400.
            Err(ScriptError {
                kind: kind @ ScriptErrorKind::Runtime { .. },
                ..
            }) => problems.push(Problem {
                path: format!("/{field}"),
                message: format!("the input mapping failed: {kind}"),
            }),
            // A budget ran out (a huge body, say) or the expression itself is broken.
            Err(err) => return Err(engine_fault(&err.kind)),
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::InvalidInput(problems));
    }
    let keys: Vec<String> = input.keys().cloned().collect();
    route.input.coerce_text_fields(&mut input, &keys);
    Ok(Value::Object(input))
}

/// Whether reading a body failed on [`MAX_BODY_BYTES`].
fn is_length_limit(err: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Maps a failed run to its answer; technical detail goes to the log only.
fn run_error(
    deployment: &Deployment,
    route: &HttpRoute,
    error: RunError,
    trace_id: &str,
) -> ApiError {
    let trace_id = trace_id.to_owned();
    let business = error.is_business();
    let log = |error: &RunError| {
        tracing::error!(
            vms = deployment.vms,
            version = deployment.version,
            function = route.trigger.function,
            trigger = "http",
            trace_id,
            kind = ?error.kind,
            code = error.code,
            element = error.element,
            error = error.message,
            "the run failed"
        );
    };
    if let Some(status) = route.trigger.error_statuses.get(&error.code)
        && let Ok(status) = StatusCode::from_u16(*status)
    {
        if error.from_connector {
            log(&error);
        }
        return ApiError::Business {
            status,
            code: error.code,
            message: business.then_some(error.message),
            trace_id,
        };
    }
    // A connector's coded error no flow caught or mapped: the system behind it failed the
    // request (504 for its timeout); its detail stays in the log.
    if error.from_connector {
        log(&error);
        let status = if error.code == "TIMEOUT" {
            StatusCode::GATEWAY_TIMEOUT
        } else {
            StatusCode::BAD_GATEWAY
        };
        return ApiError::Business {
            status,
            code: error.code,
            message: None,
            trace_id,
        };
    }
    match error.kind {
        ErrorKind::Bpmn => ApiError::Business {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            code: error.code,
            message: Some(error.message),
            trace_id,
        },
        ErrorKind::Input => ApiError::InvalidInput(vec![Problem {
            path: String::new(),
            message: error.message,
        }]),
        ErrorKind::Timeout => ApiError::Deadline { trace_id },
        ErrorKind::Cancelled => ApiError::Unavailable { trace_id },
        _ => {
            log(&error);
            ApiError::Internal { trace_id }
        }
    }
}
