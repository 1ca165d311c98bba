//! gRPC client calls for `grpc` connectors, described by a protobuf descriptor set.
//!
//! # Where the descriptor set comes from
//!
//! A connector's `descriptor_set` is a path inside the VMS (`protos/inventory.binpb`, the
//! output of `protoc --descriptor_set_out` or any equivalent). The reader keeps such files
//! verbatim in `Vms::other_files`; whoever builds [`LiveConnectors`](super::LiveConnectors)
//! passes them in [`LiveOptions::files`](super::LiveOptions::files). No file system access
//! happens here, so a VMS loaded from a tarball or from memory works the same. A missing or
//! unreadable descriptor set, an unknown method or a streaming method is a diagnostic at
//! construction, and those methods then refuse calls.
//!
//! # A call
//!
//! The method's input (a JSON object) becomes the request message through the protobuf JSON
//! mapping (both `lowerCamelCase` and original field names are accepted; unknown fields are
//! an error). It is sent as a unary call over a tonic [`Channel`] with [`DynamicCodec`], with
//! the connector's and the method's metadata templates and a deadline (`grpc-timeout`) of the
//! connector's `timeout_ms`, else the engine's default. The response message comes back as
//! JSON with the original field names, default values included, 64-bit integers as numbers.
//!
//! Channels are per rendered endpoint, opened lazily, and reconnect by themselves. A non-OK
//! status becomes a [`ConnectorError`] whose code is the status name (`NOT_FOUND`,
//! `UNAVAILABLE`, `DEADLINE_EXCEEDED`, …) so flows can catch it; an unreachable endpoint is
//! `UNAVAILABLE`.
//!
//! # TLS
//!
//! An `https://` endpoint is called over TLS (HTTP/2 with ALPN), the server's certificate
//! checked against the system's roots. Query parameters of the endpoint, which the server
//! never sees, add to that, with the names the AMQP and NATS connectors use:
//! `cacertfile=/path/ca.pem` trusts the CA certificates in that file too (a private CA), and
//! `certfile=/path/cert.pem&keyfile=/path/key.pem` presents a client certificate (mutual
//! TLS). The files are read when the channel for the endpoint is made; they are refused on
//! an `http://` endpoint.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexmap::IndexMap;
use prost::Message;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, MessageDescriptor, MethodDescriptor,
    SerializeOptions,
};
use serde_json::Value;
use starweave_model::Diagnostic;
use starweave_model::vms::connector::{GrpcConnector, GrpcMethod};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::metadata::{AsciiMetadataValue, MetadataKey};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Status};

use super::template::Template;
use super::{ConnectionCheck, Context, error_chain, technical};
use crate::connectors::ConnectorError;

/// A tonic [`Codec`] for messages known only at run time: it encodes any
/// [`DynamicMessage`] and decodes into the message type it was made for.
///
/// The gRPC connector uses it on the client side (decoding responses); a gRPC server
/// trigger can use it the other way round (decoding requests).
#[derive(Debug, Clone)]
pub struct DynamicCodec {
    /// The type of the messages this codec decodes.
    pub decode_as: MessageDescriptor,
    /// The status of a message that does not decode: `INTERNAL` for a client (the server
    /// answered garbage), `INVALID_ARGUMENT` for a server (the caller sent it).
    pub malformed: Code,
}

impl Codec for DynamicCodec {
    type Encode = DynamicMessage;
    type Decode = DynamicMessage;
    type Encoder = DynamicEncoder;
    type Decoder = DynamicDecoder;

    fn encoder(&mut self) -> DynamicEncoder {
        DynamicEncoder
    }

    fn decoder(&mut self) -> DynamicDecoder {
        DynamicDecoder {
            decode_as: self.decode_as.clone(),
            malformed: self.malformed,
        }
    }
}

/// The encoding half of [`DynamicCodec`].
#[derive(Debug, Clone, Copy)]
pub struct DynamicEncoder;

impl Encoder for DynamicEncoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn encode(&mut self, item: DynamicMessage, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        // EncodeBuf grows on demand, so running out of room cannot happen in practice.
        item.encode(dst)
            .map_err(|e| Status::internal(format!("cannot encode the message: {e}")))
    }
}

/// The decoding half of [`DynamicCodec`].
#[derive(Debug, Clone)]
pub struct DynamicDecoder {
    decode_as: MessageDescriptor,
    malformed: Code,
}

impl Decoder for DynamicDecoder {
    type Item = DynamicMessage;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<DynamicMessage>, Status> {
        DynamicMessage::decode(self.decode_as.clone(), src)
            .map(Some)
            .map_err(|e| {
                Status::new(
                    self.malformed,
                    format!("cannot decode a {}: {e}", self.decode_as.full_name()),
                )
            })
    }
}

/// The upper-case name of a status code, as used in error codes (`NOT_FOUND`).
pub fn status_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// The error code of a failed call. tonic reports the client's own expired deadline as
/// `CANCELLED` with the text of [`tonic::TimeoutExpired`]; that is `DEADLINE_EXCEEDED` to
/// the flow, as gRPC specifies.
fn error_code(status: &Status) -> &'static str {
    let timed_out = status.message() == tonic::TimeoutExpired(()).to_string()
        || std::error::Error::source(status)
            .is_some_and(|source| source.downcast_ref::<tonic::TimeoutExpired>().is_some());
    if status.code() == Code::Cancelled && timed_out {
        "DEADLINE_EXCEEDED"
    } else {
        status_name(status.code())
    }
}

/// A status's message followed by its causes (a transport error says why: a refused
/// handshake, a reset connection), each once.
fn status_text(status: &Status) -> String {
    let mut text = status.message().to_owned();
    let mut cause = std::error::Error::source(status);
    while let Some(error) = cause {
        let line = error.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        cause = error.source();
    }
    text
}

/// The methods of one gRPC connector and its channels.
#[derive(Debug)]
pub(crate) struct GrpcClient {
    name: String,
    endpoint: Result<Template, String>,
    metadata: Vec<(MetadataKey<tonic::metadata::Ascii>, Template)>,
    timeout: Option<Duration>,
    methods: IndexMap<String, Result<Plan, String>>,
    channels: Mutex<HashMap<String, Channel>>,
    context: Arc<Context>,
}

#[derive(Debug)]
struct Plan {
    path: PathAndQuery,
    input: MessageDescriptor,
    output: MessageDescriptor,
    metadata: Vec<(MetadataKey<tonic::metadata::Ascii>, Template)>,
}

type MetadataTemplates = Vec<(MetadataKey<tonic::metadata::Ascii>, Template)>;

fn compile_metadata(
    context: &Context,
    metadata: &IndexMap<String, String>,
) -> Result<MetadataTemplates, String> {
    metadata
        .iter()
        .map(|(key, value)| {
            if key.ends_with("-bin") {
                return Err(format!(
                    "metadata `{key}`: binary metadata is not supported"
                ));
            }
            let parsed = MetadataKey::from_bytes(key.to_ascii_lowercase().as_bytes())
                .map_err(|_| format!("metadata `{key}` is not a valid header name"))?;
            let template = Template::compile(&context.rhai, value, false)
                .map_err(|e| format!("metadata `{key}`: {e}"))?;
            Ok((parsed, template))
        })
        .collect()
}

/// The unary method `package.Service/Method` of the descriptor set, or why it cannot be called.
pub(super) fn find_method(
    pool: &DescriptorPool,
    full_name: &str,
) -> Result<MethodDescriptor, String> {
    let Some((service, method)) = full_name.rsplit_once('/') else {
        return Err(format!(
            "`{full_name}` is not a full method name like `package.Service/Method`"
        ));
    };
    let service = pool
        .get_service_by_name(service.trim_start_matches('/'))
        .ok_or_else(|| format!("the descriptor set has no service `{service}`"))?;
    let found = service
        .methods()
        .find(|m| m.name() == method)
        .ok_or_else(|| format!("service `{}` has no method `{method}`", service.full_name()))?;
    if found.is_client_streaming() || found.is_server_streaming() {
        return Err(format!(
            "`{full_name}` is a streaming method; only unary methods can be called"
        ));
    }
    Ok(found)
}

fn compile_method(
    context: &Context,
    pool: &Result<DescriptorPool, String>,
    method: &GrpcMethod,
) -> Result<Plan, String> {
    let pool = pool.as_ref().map_err(Clone::clone)?;
    let descriptor = find_method(pool, &method.method)?;
    let path = format!(
        "/{}/{}",
        descriptor.parent_service().full_name(),
        descriptor.name()
    );
    Ok(Plan {
        path: PathAndQuery::try_from(path.as_str())
            .map_err(|e| format!("`{}`: {e}", method.method))?,
        input: descriptor.input(),
        output: descriptor.output(),
        metadata: compile_metadata(context, &method.metadata)?,
    })
}

impl GrpcClient {
    /// Loads the descriptor set from `files` and resolves every method; what is wrong
    /// becomes a diagnostic and the affected methods refuse calls.
    pub(crate) fn new(
        name: &str,
        config: &GrpcConnector,
        files: &BTreeMap<String, Vec<u8>>,
        context: Arc<Context>,
        diagnostics: &mut Vec<Diagnostic>,
    ) -> Self {
        let mut report = |code: &str, element: Option<String>, message: String| {
            let mut d = Diagnostic::error(code, message);
            d.element = element;
            diagnostics.push(d);
        };
        let path = config.descriptor_set.trim_start_matches("./");
        let pool = match files.get(path) {
            Some(bytes) => DescriptorPool::decode(bytes.as_slice()).map_err(|e| {
                format!(
                    "descriptor set `{}` is not a valid FileDescriptorSet: {e}",
                    config.descriptor_set
                )
            }),
            None => Err(format!(
                "descriptor set `{}` is not in the VMS",
                config.descriptor_set
            )),
        };
        if let Err(e) = &pool {
            report("connector.descriptor_set", None, format!("{name}: {e}"));
        }
        let endpoint = Template::compile(&context.rhai, &config.endpoint, false)
            .map_err(|e| format!("endpoint: {e}"));
        if let Err(e) = &endpoint {
            report("connector.template", None, format!("{name}: {e}"));
        }
        let metadata = compile_metadata(&context, &config.metadata).unwrap_or_else(|e| {
            report("connector.template", None, format!("{name}: {e}"));
            Vec::new()
        });
        let mut methods = IndexMap::new();
        for method in &config.methods {
            let plan = if pool.is_err() {
                Err(format!(
                    "descriptor set `{}` is unusable",
                    config.descriptor_set
                ))
            } else {
                let plan = compile_method(&context, &pool, method);
                if let Err(e) = &plan {
                    report(
                        "connector.grpc_method",
                        Some(format!("{name}.{}", method.name)),
                        e.clone(),
                    );
                }
                plan
            };
            methods.insert(method.name.clone(), plan);
        }
        GrpcClient {
            name: name.to_owned(),
            endpoint,
            metadata,
            timeout: config.timeout_ms.map(Duration::from_millis),
            methods,
            channels: Mutex::new(HashMap::new()),
            context,
        }
    }

    pub(crate) fn method_names(&self) -> Vec<String> {
        self.methods.keys().cloned().collect()
    }

    /// The call's deadline: the connector's `timeout_ms`, else the engine's default.
    fn deadline(&self) -> Duration {
        self.timeout.unwrap_or(self.context.default_timeout)
    }

    /// The engine's outer bound on a call: the deadline plus a little, so that an expired
    /// deadline is reported as `DEADLINE_EXCEEDED` by the call itself.
    pub(crate) fn timeout(&self) -> Duration {
        self.deadline() + Duration::from_millis(500)
    }

    fn fail(&self, what: &str, err: impl std::fmt::Display) -> ConnectorError {
        technical(
            self.context
                .secrets
                .redact(&format!("grpc connector `{}`: {what}: {err}", self.name)),
        )
    }

    fn channel(&self, endpoint: &str) -> Result<Channel, ConnectorError> {
        let mut channels = self
            .channels
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(channel) = channels.get(endpoint) {
            return Ok(channel.clone());
        }
        let channel = self.endpoint_settings(endpoint)?.0.connect_lazy();
        channels.insert(endpoint.to_owned(), channel.clone());
        Ok(channel)
    }

    /// The rendered endpoint for `vars` under the caller's `control` (a call renders its
    /// other templates under the same one); `what` names the caller in an invalid
    /// endpoint's error (made only then).
    fn render_endpoint(
        &self,
        vars: &serde_json::Map<String, Value>,
        control: &crate::script::RunControl,
        what: impl FnOnce() -> String,
    ) -> Result<String, ConnectorError> {
        let endpoint = self
            .endpoint
            .as_ref()
            .map_err(|e| technical(format!("{}: {e}", what())))?
            .render(&self.context.rhai, vars, control)
            .map_err(|e| self.fail("endpoint", e))?;
        if endpoint.is_empty() {
            return Err(technical(format!(
                "grpc connector `{}`: the endpoint is empty",
                self.name
            )));
        }
        Ok(endpoint)
    }

    /// The tonic endpoint for a rendered endpoint: its address without the TLS parameters,
    /// the TLS settings they give, the connect timeout; and whether it uses TLS.
    fn endpoint_settings(&self, endpoint: &str) -> Result<(Endpoint, bool), ConnectorError> {
        let (address, tls) = tls_settings(endpoint).map_err(|e| self.fail("endpoint", e))?;
        let mut builder = Endpoint::from_shared(address)
            .map_err(|e| self.fail("bad endpoint", e))?
            .connect_timeout(self.deadline());
        let secure = tls.is_some();
        if let Some(tls) = tls {
            builder = builder
                .tls_config(tls)
                .map_err(|e| self.fail("TLS settings", e))?;
        }
        Ok((builder, secure))
    }

    /// The connection test: a new HTTP/2 connection (with TLS when the endpoint has it) to
    /// the endpoint, and the count of methods the descriptor set resolved.
    pub(crate) async fn check(&self) -> Result<ConnectionCheck, ConnectorError> {
        let vars = self.context.vars(&Value::Null);
        let control = self.context.control(self.context.default_timeout);
        let endpoint = self.render_endpoint(&vars, &control, || {
            format!("grpc connector `{}`", self.name)
        })?;
        let (builder, secure) = self.endpoint_settings(&endpoint)?;
        // Host and port only: the endpoint, an env value, would be redacted whole.
        let uri = builder.uri();
        let shown = format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or("http"),
            uri.host().unwrap_or_default(),
            uri.port_u16().map(|p| format!(":{p}")).unwrap_or_default()
        );
        builder.connect().await.map_err(|e| {
            technical(format!(
                "grpc connector `{}`: cannot connect to {shown}: {}",
                self.name,
                self.context.secrets.redact(&error_chain(&e))
            ))
        })?;
        let mut check = ConnectionCheck::new(format!(
            "{} connection to {shown} made",
            if secure { "HTTP/2 over TLS" } else { "HTTP/2" }
        ));
        let broken: Vec<&str> = self
            .methods
            .iter()
            .filter(|(_, plan)| plan.is_err())
            .map(|(name, _)| name.as_str())
            .collect();
        if !broken.is_empty() {
            check = check.note(format!(
                "these methods cannot run (see the problems): {}",
                broken.join(", ")
            ));
        }
        Ok(check)
    }

    pub(crate) async fn call(&self, method: &str, args: &Value) -> Result<Value, ConnectorError> {
        let plan = match self.methods.get(method) {
            Some(Ok(plan)) => plan,
            Some(Err(e)) => {
                return Err(technical(format!("{}.{method} cannot run: {e}", self.name)));
            }
            None => {
                return Err(technical(format!(
                    "grpc connector `{}` has no method `{method}`",
                    self.name
                )));
            }
        };
        let rhai = &self.context.rhai;
        let vars = self.context.vars(args);
        let control = self.context.control(self.context.default_timeout);
        let endpoint = self.render_endpoint(&vars, &control, || {
            format!("{}.{method} cannot run", self.name)
        })?;

        let input = if args.is_null() {
            Value::Object(Default::default())
        } else {
            args.clone()
        };
        let message = DynamicMessage::deserialize_with_options(
            plan.input.clone(),
            input,
            &DeserializeOptions::new().deny_unknown_fields(true),
        )
        .map_err(|e| ConnectorError {
            code: Some("INVALID_ARGUMENT".into()),
            message: format!(
                "{}.{method}: the input is not a valid {}: {e}",
                self.name,
                plan.input.full_name()
            ),
        })?;

        let mut request = tonic::Request::new(message);
        request.set_timeout(self.deadline());
        for (key, template) in self.metadata.iter().chain(&plan.metadata) {
            let text = template
                .render(rhai, &vars, &control)
                .map_err(|e| self.fail(&format!("{method}: metadata {key}"), e))?;
            let value = AsciiMetadataValue::try_from(text.as_str()).map_err(|_| {
                technical(format!(
                    "{}.{method}: metadata `{key}` is not valid header text",
                    self.name
                ))
            })?;
            request.metadata_mut().insert(key.clone(), value);
        }

        let mut client = tonic::client::Grpc::new(self.channel(&endpoint)?);
        let codec = DynamicCodec {
            decode_as: plan.output.clone(),
            malformed: Code::Internal,
        };
        let response = async {
            client
                .ready()
                .await
                .map_err(|e| Status::unavailable(format!("the endpoint is not reachable: {e}")))?;
            client.unary(request, plan.path.clone(), codec).await
        }
        .await;
        let response = response.map_err(|status| {
            let code = error_code(&status);
            ConnectorError {
                code: Some(code.to_owned()),
                message: self.context.secrets.redact(&format!(
                    "{}.{method}: {code}: {}",
                    self.name,
                    status_text(&status)
                )),
            }
        })?;

        let options = SerializeOptions::new()
            .use_proto_field_name(true)
            .skip_default_fields(false)
            .stringify_64_bit_integers(false);
        response
            .into_inner()
            .serialize_with_options(serde_json::value::Serializer, &options)
            .map_err(|e| self.fail(&format!("{method}: response"), e))
    }
}

/// The address tonic connects to and, for `https://`, its TLS settings: the system's roots,
/// plus the CA file and the client certificate the query parameters name (see the module
/// docs). The parameters are taken off the address.
fn tls_settings(endpoint: &str) -> Result<(String, Option<ClientTlsConfig>), String> {
    let Ok(mut url) = reqwest::Url::parse(endpoint) else {
        // Not a URL tonic could use either: its own parse says why.
        return Ok((endpoint.to_owned(), None));
    };
    let (mut ca, mut cert, mut key) = (None, None, None);
    let mut others = Vec::new();
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "cacertfile" => ca = Some(value.into_owned()),
            "certfile" => cert = Some(value.into_owned()),
            "keyfile" => key = Some(value.into_owned()),
            _ => others.push((name.into_owned(), value.into_owned())),
        }
    }
    let named_files = ca.is_some() || cert.is_some() || key.is_some();
    if named_files {
        if others.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(others);
        }
    }
    let address = if named_files {
        url.to_string()
    } else {
        endpoint.to_owned()
    };
    if url.scheme() != "https" {
        if named_files {
            return Err("cacertfile, certfile and keyfile need an https:// endpoint".to_owned());
        }
        return Ok((address, None));
    }
    let read = |path: &str, what: &str| {
        std::fs::read(path).map_err(|e| format!("cannot read the {what} file `{path}`: {e}"))
    };
    let mut tls = ClientTlsConfig::new().with_native_roots();
    if let Some(path) = ca {
        tls = tls.ca_certificate(Certificate::from_pem(read(&path, "CA")?));
    }
    match (cert, key) {
        (Some(cert), Some(key)) => {
            tls = tls.identity(Identity::from_pem(
                read(&cert, "client certificate")?,
                read(&key, "client key")?,
            ));
        }
        (None, None) => {}
        _ => return Err("certfile and keyfile go together".to_owned()),
    }
    Ok((address, Some(tls)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_endpoints_pass_through_and_https_gets_tls() {
        let (address, tls) = tls_settings("http://127.0.0.1:50051").expect("plain");
        assert_eq!(address, "http://127.0.0.1:50051");
        assert!(tls.is_none());
        let (address, tls) = tls_settings("https://inventory.example:443").expect("https");
        assert_eq!(address, "https://inventory.example:443");
        assert!(tls.is_some());
    }

    #[test]
    fn tls_parameters_leave_the_address_and_are_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = dir.path().join("ca.pem");
        std::fs::write(
            &ca,
            "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let (address, tls) =
            tls_settings(&format!("https://h:8443/?cacertfile={}&x=1", ca.display()))
                .expect("with a CA");
        assert_eq!(address, "https://h:8443/?x=1");
        assert!(tls.is_some());
        for (endpoint, expected) in [
            (
                "http://h:80?cacertfile=/tmp/ca.pem",
                "need an https:// endpoint",
            ),
            ("https://h:443?certfile=/tmp/c.pem", "go together"),
            (
                "https://h:443?cacertfile=/nonexistent/ca.pem",
                "`/nonexistent/ca.pem`",
            ),
        ] {
            let error = tls_settings(endpoint).expect_err(endpoint);
            assert!(error.contains(expected), "{endpoint}: {error}");
        }
    }
}
