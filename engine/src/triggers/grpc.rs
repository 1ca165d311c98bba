//! gRPC triggers: functions served as unary gRPC methods on the engine's gRPC port.
//!
//! # Routes
//!
//! A `grpc` trigger binds a function to `service`/`method` of a descriptor set in the VMS (a
//! `FileDescriptorSet`, as `protoc --descriptor_set_out` writes it; the same files the gRPC
//! connector reads). Routes are compiled when the deployment loads — a missing descriptor
//! set, an unknown service or method, a streaming method, an unknown status name or two
//! triggers on one method fail the load — and live in the [`Deployment`], so they swap with
//! the HTTP routes in the routing table: a hot swap never fails a call in flight, and the
//! next call reaches the new version.
//!
//! # Dispatch
//!
//! The gRPC port (`--grpc-listen`) serves HTTP/2 without TLS (prior knowledge, as gRPC
//! clients speak it on `http://`). A call's path `/package.Service/Method` selects the
//! route among the **active** versions of all VMS; the `x-starweave-vms` metadata picks a VMS
//! when several serve the same method (else the first VMS by name answers), and
//! `x-starweave-version` another loaded version when the engine runs with `--version-header`,
//! like on the HTTP port. Only unary methods
//! are served; unknown methods answer `UNIMPLEMENTED`.
//!
//! The request message becomes the function's input through the protobuf JSON mapping
//! (original field names, default values included, 64-bit integers as numbers); the output
//! object becomes the response message (fields the message does not declare are ignored).
//!
//! # Errors
//!
//! A failed run answers a status: the trigger's `error_statuses` (error code → status name)
//! first; else a business error whose code is itself a status name (`NOT_FOUND`,
//! `ALREADY_EXISTS`…) answers that status, other business errors `FAILED_PRECONDITION`;
//! invalid input `INVALID_ARGUMENT`, a deadline `DEADLINE_EXCEEDED`, a full deployment
//! `RESOURCE_EXHAUSTED`, a cancelled run `UNAVAILABLE`, anything else `INTERNAL` with a
//! trace id and no internal detail (the detail is logged). The error code travels in the
//! `starweave-error-code` trailer, the trace id in `starweave-trace-id`.

use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;
use indexmap::IndexMap;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, SerializeOptions,
};
use serde_json::Value;
use starweave_model::Diagnostic;
use starweave_model::vms::{Trigger, Vms};
use tonic::metadata::MetadataValue;
use tonic::{Code, Status};

use crate::io::grpc::{DynamicCodec, status_name};
use crate::run::ErrorKind;
use crate::server::Server;
use crate::server::registry::{Deployment, InvokeError, LogLevel, Origin};

/// The metadata key choosing a VMS when several serve a method.
pub const VMS_METADATA: &str = "x-starweave-vms";
/// The metadata key choosing a loaded version.
pub const VERSION_METADATA: &str = "x-starweave-version";

/// One gRPC method of a deployment.
#[derive(Debug, Clone)]
pub struct GrpcRoute {
    /// `/package.Service/Method`.
    pub path: String,
    /// The function called.
    pub function: String,
    /// The request message type.
    pub input: MessageDescriptor,
    /// The response message type.
    pub output: MessageDescriptor,
    /// Error code → status, from the trigger.
    pub error_statuses: IndexMap<String, Code>,
}

/// An error status code from its name (`NOT_FOUND`, case-insensitive); `OK` is not one.
pub fn code_from_name(name: &str) -> Option<Code> {
    (1..=16)
        .map(Code::from_i32)
        .find(|code| status_name(*code).eq_ignore_ascii_case(name.trim()))
}

/// Compiles the gRPC triggers of a VMS; problems come back as load errors.
pub fn compile_routes(vms: &Vms) -> (Vec<GrpcRoute>, Vec<Diagnostic>) {
    let mut routes: Vec<GrpcRoute> = Vec::new();
    let mut diagnostics = Vec::new();
    let mut pools: IndexMap<String, Result<DescriptorPool, String>> = IndexMap::new();
    for (index, trigger) in vms.triggers.iter().enumerate() {
        let Trigger::Grpc(grpc) = trigger else {
            continue;
        };
        let mut fail = |code: &str, message: String| {
            diagnostics.push(
                Diagnostic::error(
                    code,
                    format!(
                        "trigger {} ({}/{}): {message}",
                        index + 1,
                        grpc.service,
                        grpc.method
                    ),
                )
                .in_file("triggers.yaml"),
            );
        };
        if !vms.functions.contains_key(&grpc.function) {
            // The model's validator reports this too; its own code lets a check skip it.
            fail(
                "engine.unknown-function",
                format!("there is no function `{}`", grpc.function),
            );
            continue;
        }
        let file = grpc.descriptor_set.trim_start_matches("./").to_owned();
        let pool = pools
            .entry(file.clone())
            .or_insert_with(|| match vms.other_files.get(&file) {
                Some(bytes) => DescriptorPool::decode(bytes.as_slice()).map_err(|e| {
                    format!("descriptor set `{file}` is not a valid FileDescriptorSet: {e}")
                }),
                None => Err(format!("descriptor set `{file}` is not in the VMS")),
            });
        let pool = match pool {
            Ok(pool) => pool,
            Err(message) => {
                fail("engine.grpc-route", message.clone());
                continue;
            }
        };
        let Some(service) = pool.get_service_by_name(&grpc.service) else {
            fail(
                "engine.grpc-route",
                format!("the descriptor set has no service `{}`", grpc.service),
            );
            continue;
        };
        let Some(method) = service.methods().find(|m| m.name() == grpc.method) else {
            fail(
                "engine.grpc-route",
                format!("service `{}` has no method `{}`", grpc.service, grpc.method),
            );
            continue;
        };
        if method.is_client_streaming() || method.is_server_streaming() {
            fail(
                "engine.grpc-route",
                "a streaming method; only unary methods are served".into(),
            );
            continue;
        }
        let mut error_statuses = IndexMap::new();
        let mut bad = Vec::new();
        for (code, status) in &grpc.error_statuses {
            match code_from_name(status) {
                Some(found) => {
                    error_statuses.insert(code.clone(), found);
                }
                None => bad.push(format!(
                    "`{status}` (for {code}) is not a gRPC error status name such as NOT_FOUND"
                )),
            }
        }
        if !bad.is_empty() {
            fail("engine.grpc-route", bad.join("; "));
            continue;
        }
        let path = format!("/{}/{}", service.full_name(), method.name());
        if routes.iter().any(|r| r.path == path) {
            fail(
                "engine.grpc-route",
                format!("another trigger already serves {path}"),
            );
            continue;
        }
        routes.push(GrpcRoute {
            path,
            function: grpc.function.clone(),
            input: method.input(),
            output: method.output(),
            error_statuses,
        });
    }
    (routes, diagnostics)
}

/// The router of the gRPC port: every path goes to [`dispatch`].
pub fn router(server: Arc<Server>) -> axum::Router {
    axum::Router::new().fallback(dispatch).with_state(server)
}

fn metadata_text<'a>(request: &'a Request, key: &str) -> Option<&'a str> {
    request.headers().get(key).and_then(|v| v.to_str().ok())
}

/// Finds the deployment and route for a call.
fn find_route(
    server: &Server,
    path: &str,
    vms: Option<&str>,
    version: Option<&str>,
) -> Option<(Arc<Deployment>, GrpcRoute)> {
    let table = server.registry.table();
    let pick = |deployment: &Arc<Deployment>| {
        deployment
            .grpc_routes
            .iter()
            .find(|r| r.path == path)
            .map(|r| (deployment.clone(), r.clone()))
    };
    let versioned = |entry: &crate::server::registry::VmsEntry| match version {
        Some(version) => entry.versions.get(version).cloned(),
        None => Some(entry.active.clone()),
    };
    match vms {
        Some(name) => {
            let entry = table.vms.get(name)?;
            pick(&versioned(entry)?)
        }
        None => table
            .vms
            .values()
            .filter_map(versioned)
            .filter_map(|d| pick(&d))
            .min_by(|(a, _), (b, _)| a.vms.cmp(&b.vms)),
    }
}

/// Answers one gRPC call.
pub async fn dispatch(State(server): State<Arc<Server>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let vms = metadata_text(&request, VMS_METADATA).map(str::to_owned);
    let version = server
        .registry
        .options()
        .version_header
        .then(|| metadata_text(&request, VERSION_METADATA))
        .flatten()
        .map(str::to_owned);
    let Some((deployment, route)) = find_route(&server, &path, vms.as_deref(), version.as_deref())
    else {
        let mut status = Status::unimplemented(format!("no VMS serves {path}"));
        if let Some(vms) = &vms {
            status = Status::unimplemented(format!("VMS `{vms}` does not serve {path}"));
        }
        return status.into_http::<Body>();
    };
    let codec = DynamicCodec {
        decode_as: route.input.clone(),
        malformed: Code::InvalidArgument,
    };
    let method = Method {
        deployment,
        route: Arc::new(route),
    };
    let mut grpc = tonic::server::Grpc::new(codec);
    grpc.unary(method, request).await.map(Body::new)
}

/// The unary service of one routed call.
struct Method {
    deployment: Arc<Deployment>,
    route: Arc<GrpcRoute>,
}

type CallFuture =
    Pin<Box<dyn Future<Output = Result<tonic::Response<DynamicMessage>, Status>> + Send>>;

impl tonic::server::UnaryService<DynamicMessage> for Method {
    type Response = DynamicMessage;
    type Future = CallFuture;

    fn call(&mut self, request: tonic::Request<DynamicMessage>) -> CallFuture {
        let deployment = self.deployment.clone();
        let route = self.route.clone();
        Box::pin(async move { call(deployment, &route, request.into_inner()).await })
    }
}

async fn call(
    deployment: Arc<Deployment>,
    route: &GrpcRoute,
    message: DynamicMessage,
) -> Result<tonic::Response<DynamicMessage>, Status> {
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let started = Instant::now();
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(false)
        .stringify_64_bit_integers(false);
    let input = message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| Status::invalid_argument(format!("the request does not convert: {e}")))?;
    let result = deployment
        .invoke(
            &route.function,
            input,
            Some(deployment.queue_timeout),
            Origin {
                trigger: "grpc",
                trace_id: &trace_id,
            },
        )
        .await;
    let outcome = match result {
        Ok(output) => response_message(&route.output, output).map_err(|detail| {
            tracing::error!(
                vms = deployment.vms,
                version = deployment.version,
                function = route.function,
                trigger = "grpc",
                trace_id,
                error = detail,
                "the output is not a valid response message"
            );
            with_trace(
                Status::internal(format!("internal error (trace id {trace_id})")),
                &trace_id,
                None,
            )
        }),
        Err(error) => Err(error_status(&deployment, route, error, &trace_id)),
    };
    let elapsed = started.elapsed();
    let status_text = match &outcome {
        Ok(_) => "OK",
        Err(status) => status_name(status.code()),
    };
    if let Some(metrics) = deployment.metrics.get(&route.function) {
        metrics.record("grpc", status_text, Some(elapsed));
    }
    if deployment.logs(LogLevel::Info) {
        tracing::info!(
            vms = deployment.vms,
            version = deployment.version,
            function = route.function,
            trigger = "grpc",
            trace_id,
            path = route.path,
            status = status_text,
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            "call"
        );
    }
    let mut response = tonic::Response::new(outcome?);
    if let Ok(value) = MetadataValue::from_str(&deployment.version) {
        response.metadata_mut().insert(VERSION_METADATA, value);
    }
    Ok(response)
}

/// The function's output as the response message.
fn response_message(
    output_type: &MessageDescriptor,
    output: Value,
) -> Result<DynamicMessage, String> {
    let output = match output {
        Value::Null => Value::Object(Default::default()),
        other => other,
    };
    DynamicMessage::deserialize_with_options(
        output_type.clone(),
        output,
        &DeserializeOptions::new().deny_unknown_fields(false),
    )
    .map_err(|e| format!("not a {}: {e}", output_type.full_name()))
}

fn with_trace(mut status: Status, trace_id: &str, code: Option<&str>) -> Status {
    if let Ok(value) = MetadataValue::from_str(trace_id) {
        status.metadata_mut().insert("starweave-trace-id", value);
    }
    if let Some(code) = code
        && let Ok(value) = MetadataValue::from_str(code)
    {
        status.metadata_mut().insert("starweave-error-code", value);
    }
    status
}

/// The status of a failed run; see the module docs.
fn error_status(
    deployment: &Deployment,
    route: &GrpcRoute,
    error: InvokeError,
    trace_id: &str,
) -> Status {
    let internal = |what: &str, detail: &str| {
        tracing::error!(
            vms = deployment.vms,
            version = deployment.version,
            function = route.function,
            trigger = "grpc",
            trace_id,
            error = detail,
            "{what}"
        );
        with_trace(
            Status::internal(format!("internal error (trace id {trace_id})")),
            trace_id,
            None,
        )
    };
    let error = match error {
        InvokeError::Run(error) => error,
        InvokeError::Overloaded => {
            return with_trace(
                Status::resource_exhausted("the VMS is at its concurrency limit; try again"),
                trace_id,
                None,
            );
        }
        InvokeError::Panicked(message) => return internal("the run panicked", &message),
        InvokeError::Abandoned => {
            return with_trace(
                Status::deadline_exceeded("the run passed its deadline"),
                trace_id,
                Some("DEADLINE_EXCEEDED"),
            );
        }
    };
    let business = error.is_business();
    let code = route
        .error_statuses
        .get(&error.code)
        .copied()
        .or_else(|| business.then(|| code_from_name(&error.code)).flatten());
    let code = match (code, error.kind) {
        (Some(code), _) => code,
        // A connector's coded error no flow caught: the system behind it failed the call.
        (None, ErrorKind::Bpmn) if error.from_connector && error.code == "TIMEOUT" => {
            Code::DeadlineExceeded
        }
        (None, ErrorKind::Bpmn) if error.from_connector => Code::Unavailable,
        (None, ErrorKind::Bpmn) => Code::FailedPrecondition,
        (None, ErrorKind::Input) => Code::InvalidArgument,
        (None, ErrorKind::Timeout) => Code::DeadlineExceeded,
        (None, ErrorKind::Cancelled) => Code::Unavailable,
        (None, _) => {
            return internal(
                "the run failed",
                &format!("{:?} {}: {}", error.kind, error.code, error.message),
            );
        }
    };
    // Business and input messages are meant for callers; other detail stays in the log.
    let message = if business || error.kind == ErrorKind::Input {
        format!("{}: {}", error.code, error.message)
    } else {
        tracing::warn!(
            vms = deployment.vms,
            version = deployment.version,
            function = route.function,
            trigger = "grpc",
            trace_id,
            code = error.code,
            error = error.message,
            "the run failed"
        );
        error.code.clone()
    };
    with_trace(Status::new(code, message), trace_id, Some(&error.code))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_read_back_to_their_codes() {
        assert_eq!(code_from_name("NOT_FOUND"), Some(Code::NotFound));
        assert_eq!(
            code_from_name("invalid_argument"),
            Some(Code::InvalidArgument)
        );
        assert_eq!(
            code_from_name("UNAUTHENTICATED"),
            Some(Code::Unauthenticated)
        );
        assert_eq!(code_from_name("TEAPOT"), None);
        // `OK` would send a failure as a success without its message.
        assert_eq!(code_from_name("ok"), None);
    }
}
