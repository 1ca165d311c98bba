//! The gRPC client connector against a real tonic server on loopback.
//!
//! `testdata/io/grpc/greeter.proto` is compiled with protox when the test runs (no `protoc`)
//! into the descriptor set the connector reads from the VMS files. The server answers with
//! the same [`DynamicCodec`] the connector uses, so the test needs no generated code. The TLS
//! test serves it over TLS with certificates from a CA the test makes, requiring a client
//! certificate.

mod tls_common;

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::path::Path;
use std::task::{Context, Poll};
use std::time::Duration;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MethodDescriptor, Value as ProtoValue};
use serde_json::{Value, json};
use starweave_engine::connectors::{ConnectorError, ConnectorRequest, Connectors};
use starweave_engine::io::grpc::DynamicCodec;
use starweave_engine::io::{LiveConnectors, LiveOptions};
use starweave_model::Diagnostic;
use starweave_model::vms::Connector;
use tonic::body::Body;
use tonic::codegen::{BoxFuture, http};
use tonic::server::{NamedService, UnaryService};
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

const SERVICE: &str = "starweave.test.v1.Greeter";
const DESCRIPTOR_PATH: &str = "protos/greeter.binpb";

/// `greeter.proto` compiled to an encoded `FileDescriptorSet`.
fn descriptor_set() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/io/grpc");
    protox::compile(["greeter.proto"], [&dir])
        .expect("greeter.proto compiles")
        .encode_to_vec()
}

/// The Greeter service, answering every method from its descriptor.
#[derive(Clone)]
struct Greeter {
    pool: DescriptorPool,
}

impl NamedService for Greeter {
    const NAME: &'static str = SERVICE;
}

impl tonic::codegen::Service<http::Request<Body>> for Greeter {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let name = request.uri().path().rsplit('/').next().unwrap_or_default();
        let method = self
            .pool
            .get_service_by_name(SERVICE)
            .and_then(|s| s.methods().find(|m| m.name() == name));
        Box::pin(async move {
            let Some(method) = method else {
                return Ok(Status::unimplemented("no such method").into_http());
            };
            let codec = DynamicCodec {
                decode_as: method.input(),
                malformed: tonic::Code::InvalidArgument,
            };
            let mut grpc = tonic::server::Grpc::new(codec);
            Ok(grpc.unary(Handler { method }, request).await)
        })
    }
}

struct Handler {
    method: MethodDescriptor,
}

impl UnaryService<DynamicMessage> for Handler {
    type Response = DynamicMessage;
    type Future = BoxFuture<Response<DynamicMessage>, Status>;

    fn call(&mut self, request: Request<DynamicMessage>) -> Self::Future {
        let method = self.method.clone();
        Box::pin(async move { answer(&method, request).await })
    }
}

fn text(message: &DynamicMessage, field: &str) -> String {
    message
        .get_field_by_name(field)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

async fn answer(
    method: &MethodDescriptor,
    request: Request<DynamicMessage>,
) -> Result<Response<DynamicMessage>, Status> {
    let header = |name: &str| {
        request
            .metadata()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (tenant, request_name) = (header("x-tenant"), header("x-request-name"));
    let input = request.into_inner();
    let mut reply = DynamicMessage::new(method.output());
    match method.name() {
        "SayHello" => {
            let times = input
                .get_field_by_name("times")
                .and_then(|v| v.as_i64())
                .unwrap_or(1);
            let greeting = format!("Hello, {}!", text(&input, "name"));
            let tags = input
                .get_field_by_name("tags")
                .and_then(|v| v.as_list().map(<[ProtoValue]>::len))
                .unwrap_or(0);
            let mood = input.get_field_by_name("mood").map(|v| v.into_owned());
            reply.set_field_by_name(
                "message",
                ProtoValue::String(vec![greeting; times.max(1) as usize].join(" ")),
            );
            reply.set_field_by_name("total_tags", ProtoValue::I64(tags as i64));
            reply.set_field_by_name("tenant", ProtoValue::String(tenant));
            reply.set_field_by_name("request_name", ProtoValue::String(request_name));
            if let Some(mood) = mood {
                reply.set_field_by_name("mood", mood);
            }
            Ok(Response::new(reply))
        }
        "Fail" => {
            let code = input
                .get_field_by_name("code")
                .and_then(|v| v.as_i32())
                .unwrap_or(2);
            Err(Status::new(Code::from(code), text(&input, "reason")))
        }
        "Slow" => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(Response::new(reply))
        }
        other => Err(Status::unimplemented(format!("{other} is not served"))),
    }
}

/// Starts the Greeter on 127.0.0.1:0; returns its `http://` address.
async fn start_greeter() -> String {
    let pool = DescriptorPool::decode(descriptor_set().as_slice()).expect("descriptor pool");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let address = listener.local_addr().expect("local address");
    tokio::spawn(
        Server::builder()
            .add_service(Greeter { pool })
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    format!("http://{address}")
}

/// Starts the Greeter over TLS on 127.0.0.1:0 with `pki`'s server certificate, requiring a
/// client certificate its CA signed; returns the `https://localhost:<port>` address.
async fn start_greeter_tls(pki: &tls_common::TestPki) -> String {
    use tonic::transport::{Certificate, Identity, ServerTlsConfig};
    // tonic's server takes rustls' process-wide provider, which this test program must pick.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let pool = DescriptorPool::decode(descriptor_set().as_slice()).expect("descriptor pool");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind loopback");
    let port = listener.local_addr().expect("local address").port();
    let (cert, key) = pki.server_files();
    let identity = Identity::from_pem(
        std::fs::read(cert).expect("server cert"),
        std::fs::read(key).expect("server key"),
    );
    let client_ca = Certificate::from_pem(std::fs::read(&pki.ca_file).expect("ca"));
    let tls = ServerTlsConfig::new()
        .identity(identity)
        .client_ca_root(client_ca);
    tokio::spawn(
        Server::builder()
            .tls_config(tls)
            .expect("server TLS")
            .add_service(Greeter { pool })
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    format!("https://localhost:{port}")
}

const CONNECTOR: &str = r#"
kind: grpc
endpoint: "{{ env.GREETER_URL }}"
descriptor_set: protos/greeter.binpb
metadata:
  x-tenant: "{{ env.TENANT }}"
timeout_ms: 5000
methods:
- name: hello
  method: starweave.test.v1.Greeter/SayHello
  metadata:
    x-request-name: "{{ input.name }}"
- name: fail
  method: starweave.test.v1.Greeter/Fail
"#;

fn connectors(
    yaml: &[(&str, &str)],
    env: &[(&str, &str)],
    files: BTreeMap<String, Vec<u8>>,
) -> (LiveConnectors, Vec<Diagnostic>) {
    let connectors: BTreeMap<String, Connector> = yaml
        .iter()
        .map(|(name, text)| {
            let connector = serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
            ((*name).to_owned(), connector)
        })
        .collect();
    let env = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let options = LiveOptions {
        files,
        ..LiveOptions::default()
    };
    LiveConnectors::new(&connectors, env, options)
}

fn with_descriptor() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(DESCRIPTOR_PATH.to_owned(), descriptor_set())])
}

async fn call(
    live: &LiveConnectors,
    connector: &str,
    method: &str,
    args: Value,
) -> Result<Value, ConnectorError> {
    live.call(ConnectorRequest {
        connector,
        method,
        args,
        transaction: None,
    })
    .await
}

#[tokio::test]
async fn unary_call_maps_json_metadata_and_response() {
    let url = start_greeter().await;
    let (live, diagnostics) = connectors(
        &[("greeter", CONNECTOR)],
        &[("GREETER_URL", &url), ("TENANT", "acme")],
        with_descriptor(),
    );
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(
        live.catalog()["greeter"],
        vec!["hello".to_owned(), "fail".to_owned()]
    );

    // Protobuf JSON: 64-bit integers may come as strings, enums by name.
    let out = call(
        &live,
        "greeter",
        "hello",
        json!({ "name": "Ada", "times": "2", "tags": ["a", "b", "c"], "mood": "HAPPY" }),
    )
    .await
    .expect("SayHello");
    assert_eq!(
        out,
        json!({
            "message": "Hello, Ada! Hello, Ada!",
            "total_tags": 3,
            "tenant": "acme",
            "request_name": "Ada",
            "mood": "HAPPY",
            "shouted": false,
        })
    );

    // Absent fields take their defaults; the output still lists every field.
    let out = call(&live, "greeter", "hello", json!({}))
        .await
        .expect("SayHello with no input");
    assert_eq!(out["message"], "Hello, !");
    assert_eq!(out["mood"], "MOOD_UNSPECIFIED");
    assert_eq!(out["total_tags"], 0);
}

#[tokio::test]
async fn status_codes_become_error_codes() {
    let url = start_greeter().await;
    let (live, _) = connectors(
        &[("greeter", CONNECTOR)],
        &[("GREETER_URL", &url), ("TENANT", "acme")],
        with_descriptor(),
    );
    for (code, name) in [
        (Code::NotFound, "NOT_FOUND"),
        (Code::PermissionDenied, "PERMISSION_DENIED"),
        (Code::Unavailable, "UNAVAILABLE"),
        (Code::FailedPrecondition, "FAILED_PRECONDITION"),
        (Code::Internal, "INTERNAL"),
    ] {
        let err = call(
            &live,
            "greeter",
            "fail",
            json!({ "code": code as i32, "reason": "order 17 is gone" }),
        )
        .await
        .expect_err("Fail answers with an error status");
        assert_eq!(err.code.as_deref(), Some(name), "{err:?}");
        assert!(
            err.message.contains("greeter.fail") && err.message.contains("order 17 is gone"),
            "{}",
            err.message
        );
    }

    // Input that does not fit the request message is refused before any call.
    let err = call(&live, "greeter", "hello", json!({ "nmae": "typo" }))
        .await
        .expect_err("unknown field");
    assert_eq!(err.code.as_deref(), Some("INVALID_ARGUMENT"), "{err:?}");
    assert!(err.message.contains("HelloRequest"), "{}", err.message);
}

#[tokio::test]
async fn deadline_and_unreachable_endpoint() {
    let url = start_greeter().await;
    let slow = r#"
kind: grpc
endpoint: "{{ env.GREETER_URL }}"
descriptor_set: protos/greeter.binpb
timeout_ms: 200
methods:
- name: slow
  method: starweave.test.v1.Greeter/Slow
"#;
    let (live, diagnostics) = connectors(
        &[("slow", slow), ("greeter", CONNECTOR)],
        &[("GREETER_URL", &url), ("TENANT", "t")],
        with_descriptor(),
    );
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    let err = call(&live, "slow", "slow", json!({}))
        .await
        .expect_err("Slow outlives the deadline");
    assert_eq!(err.code.as_deref(), Some("DEADLINE_EXCEEDED"), "{err:?}");

    // Port 1 on loopback: nothing listens there.
    let (live, _) = connectors(
        &[("greeter", CONNECTOR)],
        &[("GREETER_URL", "http://127.0.0.1:1"), ("TENANT", "t")],
        with_descriptor(),
    );
    let err = call(&live, "greeter", "hello", json!({ "name": "x" }))
        .await
        .expect_err("nothing listens on port 1");
    assert_eq!(err.code.as_deref(), Some("UNAVAILABLE"), "{err:?}");
    assert!(err.message.contains("greeter.hello"), "{}", err.message);
}

#[tokio::test]
async fn the_connection_test_connects_and_names_the_methods_that_cannot_run() {
    let url = start_greeter().await;
    let with_broken =
        format!("{CONNECTOR}- name: gone\n  method: starweave.test.v1.Greeter/NoSuchMethod\n");
    let (live, _) = connectors(
        &[("greeter", &with_broken)],
        &[("GREETER_URL", &url), ("TENANT", "t")],
        with_descriptor(),
    );
    let ok = live.check("greeter").await.expect("connected");
    assert_eq!(
        ok.summary,
        format!("HTTP/2 connection to {url} made"),
        "{ok:?}"
    );
    assert_eq!(
        ok.notes,
        ["these methods cannot run (see the problems): gone"]
    );

    let (live, _) = connectors(
        &[("greeter", CONNECTOR)],
        &[("GREETER_URL", "http://127.0.0.1:1"), ("TENANT", "t")],
        with_descriptor(),
    );
    let err = live.check("greeter").await.expect_err("nothing listens");
    assert!(
        err.message.contains("cannot connect to http://127.0.0.1:1")
            && err.message.to_lowercase().contains("refused"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn descriptor_problems_are_diagnostics_and_refuse_calls() {
    let bad = r#"
kind: grpc
endpoint: http://127.0.0.1:1
descriptor_set: protos/greeter.binpb
methods:
- name: missing_method
  method: starweave.test.v1.Greeter/Nope
- name: missing_service
  method: starweave.test.v1.Nobody/SayHello
- name: streaming
  method: starweave.test.v1.Greeter/Watch
- name: no_slash
  method: SayHello
- name: fine
  method: starweave.test.v1.Greeter/SayHello
"#;
    let (live, diagnostics) = connectors(&[("bad", bad)], &[], with_descriptor());
    let mut found: Vec<(String, String)> = diagnostics
        .iter()
        .map(|d| (d.code.clone(), d.element.clone().unwrap_or_default()))
        .collect();
    found.sort();
    assert_eq!(
        found,
        [
            "bad.missing_method",
            "bad.missing_service",
            "bad.no_slash",
            "bad.streaming"
        ]
        .map(|e| ("connector.grpc_method".to_owned(), e.to_owned()))
    );
    assert!(
        diagnostics
            .iter()
            .all(|d| d.file.as_deref() == Some("connectors/bad.yaml"))
    );
    let err = call(&live, "bad", "streaming", json!({}))
        .await
        .expect_err("refused");
    assert!(err.message.contains("streaming"), "{}", err.message);

    // Without the descriptor set in the VMS files, every method refuses.
    let (live, diagnostics) = connectors(&[("bad", bad)], &[], BTreeMap::new());
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert_eq!(diagnostics[0].code, "connector.descriptor_set");
    assert!(diagnostics[0].message.contains("protos/greeter.binpb"));
    let err = call(&live, "bad", "fine", json!({}))
        .await
        .expect_err("no descriptor set");
    assert!(err.message.contains("cannot run"), "{}", err.message);

    // Bytes that are not a descriptor set.
    let files = BTreeMap::from([(DESCRIPTOR_PATH.to_owned(), b"not protobuf".to_vec())]);
    let (_, diagnostics) = connectors(&[("bad", bad)], &[], files);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert_eq!(diagnostics[0].code, "connector.descriptor_set");
}

#[tokio::test]
async fn https_endpoints_verify_the_server_and_present_the_client_certificate() {
    let pki = tls_common::pki("grpc");
    let url = start_greeter_tls(&pki).await;
    let (cert, key) = pki.client_files("engine");
    let ca = pki.ca_file.display();
    let hello = async |endpoint: String| {
        let (live, diagnostics) = connectors(
            &[("greeter", CONNECTOR)],
            &[("GREETER_URL", &endpoint), ("TENANT", "acme")],
            with_descriptor(),
        );
        assert!(diagnostics.is_empty(), "{diagnostics:#?}");
        call(&live, "greeter", "hello", json!({ "name": "Ada" })).await
    };

    // The system's roots do not know the test's CA.
    let refused = hello(url.clone())
        .await
        .expect_err("an unverifiable server was accepted");
    assert_eq!(refused.code.as_deref(), Some("UNAVAILABLE"), "{refused:?}");
    println!("system roots: {}", refused.message);
    // The CA, but no client certificate: the server ends the handshake.
    let refused = hello(format!("{url}?cacertfile={ca}"))
        .await
        .expect_err("the server accepted a client without a certificate");
    assert!(
        refused.message.to_lowercase().contains("certificate"),
        "the error should say the certificate is missing: {}",
        refused.message
    );
    println!("no client certificate: {}", refused.message);
    // Both: the call goes through.
    let out = hello(format!(
        "{url}?cacertfile={ca}&certfile={}&keyfile={}",
        cert.display(),
        key.display()
    ))
    .await
    .expect("SayHello over mutual TLS");
    assert_eq!(out["message"], "Hello, Ada!");
    assert_eq!(out["tenant"], "acme");
    // The connection test makes the same handshake: refused with the system's roots, made
    // with the files.
    let check = |endpoint: String| {
        let (live, _) = connectors(
            &[("greeter", CONNECTOR)],
            &[("GREETER_URL", &endpoint), ("TENANT", "acme")],
            with_descriptor(),
        );
        async move { live.check("greeter").await }
    };
    let refused = check(url.clone()).await.expect_err("unverifiable server");
    assert!(
        refused.message.contains("UnknownIssuer"),
        "{}",
        refused.message
    );
    let ok = check(format!(
        "{url}?cacertfile={ca}&certfile={}&keyfile={}",
        cert.display(),
        key.display()
    ))
    .await
    .expect("connected over mutual TLS");
    assert_eq!(
        ok.summary,
        format!("HTTP/2 over TLS connection to {url} made")
    );
    // TLS files on a plain endpoint are a mistake, said as such.
    let refused = hello(format!(
        "{}?cacertfile={ca}",
        url.replacen("https://", "http://", 1)
    ))
    .await
    .expect_err("TLS files on http://");
    assert!(refused.message.contains("https://"), "{}", refused.message);
}

#[test]
fn methods_are_imported_from_the_descriptor_set() {
    use starweave_engine::io::grpc_import;
    use starweave_model::vms::connector::GrpcConnector;
    use starweave_model::vms::params::{ParamType, Parameter};

    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/io/grpc");
    let bytes = protox::compile(["catalog.proto"], [&dir])
        .expect("catalog.proto compiles")
        .encode_to_vec();
    let pool = grpc_import::decode(&bytes).expect("decodes");
    let services = grpc_import::list_services(&pool);
    assert_eq!(services.len(), 1, "{services:?}");
    assert_eq!(services[0].name, "starweave.test.catalog.Catalog");
    let methods: Vec<(&str, bool)> = services[0]
        .methods
        .iter()
        .map(|m| (m.method.as_str(), m.streaming))
        .collect();
    assert_eq!(
        methods,
        [
            ("starweave.test.catalog.Catalog/GetItem", false),
            ("starweave.test.catalog.Catalog/WatchItems", true),
        ]
    );
    assert_eq!(
        services[0].methods[0].output_type,
        "starweave.test.catalog.Item"
    );

    // Every unary method: one, named in lower camel case, with the messages' fields.
    let mut connector = GrpcConnector::default();
    let report = grpc_import::import_methods(&mut connector, &pool, None).expect("imports");
    assert_eq!(report.added, ["getItem"]);
    let method = &connector.methods[0];
    assert_eq!(method.method, "starweave.test.catalog.Catalog/GetItem");
    let find = |params: &[Parameter], name: &str| -> Parameter {
        params
            .iter()
            .find(|p| p.name == name)
            .unwrap_or_else(|| panic!("no `{name}` in {params:?}"))
            .clone()
    };
    let locale = find(&method.input, "locale");
    assert_eq!((locale.ty, locale.nullable), (ParamType::String, true));
    assert_eq!(find(&method.input, "id").ty, ParamType::String);
    let out = &method.output;
    assert_eq!(find(out, "price").ty, ParamType::Number);
    let thumbnail = find(out, "thumbnail");
    assert_eq!(
        (thumbnail.ty, thumbnail.format.as_deref()),
        (ParamType::String, Some("byte"))
    );
    let tags = find(out, "tags");
    assert_eq!(tags.ty, ParamType::Array);
    assert_eq!(tags.items.as_ref().map(|i| i.ty), Some(ParamType::String));
    assert_eq!(find(out, "stock").ty, ParamType::Object);
    let updated = find(out, "updated_at");
    assert_eq!(updated.format.as_deref(), Some("date-time"));
    assert_eq!(find(out, "attributes").ty, ParamType::Object);
    let availability = find(out, "availability");
    assert_eq!(
        availability.enum_values,
        [
            json!("AVAILABILITY_UNSPECIFIED"),
            json!("IN_STOCK"),
            json!("SOLD_OUT")
        ]
    );
    assert_eq!(find(out, "percent").ty, ParamType::Integer);
    assert_eq!(find(out, "cents").ty, ParamType::Integer);
    assert!(
        out.iter().all(|p| !p.required),
        "proto3 has no required fields"
    );
    // A message inside itself is described once; where it recurs, an object without fields.
    let category = find(out, "category");
    assert!(category.nullable, "an unset message field is null");
    assert_eq!(find(&category.fields, "name").ty, ParamType::String);
    let parent = find(&category.fields, "parent");
    assert_eq!((parent.ty, parent.fields.len()), (ParamType::Object, 0));
    let variants = find(out, "variants");
    let variant = variants.items.as_deref().expect("items");
    assert_eq!((variant.ty, variant.fields.len()), (ParamType::Object, 0));

    // Importing again refreshes the parameters and keeps what the user gave the method.
    connector.methods[0].name = "fetchItem".into();
    connector.methods[0].description = Some("Mine.".into());
    connector.methods[0].output.clear();
    let report = grpc_import::import_methods(
        &mut connector,
        &pool,
        Some(&["starweave.test.catalog.Catalog/GetItem".to_owned()]),
    )
    .expect("imports again");
    assert_eq!(report.updated, ["fetchItem"]);
    assert!(report.added.is_empty());
    assert_eq!(connector.methods.len(), 1);
    assert_eq!(connector.methods[0].description.as_deref(), Some("Mine."));
    assert!(!connector.methods[0].output.is_empty());

    // The connector file that results reads back without errors.
    let yaml = starweave_model::vms::disk::connector_to_yaml(&Connector::Grpc(connector.clone()));
    let (read, diagnostics) = starweave_model::vms::disk::parse_connector("c.yaml", &yaml);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    assert_eq!(read, Some(Connector::Grpc(connector.clone())));

    // Streaming, unknown and malformed names are refused with the reason.
    for (name, reason) in [
        ("starweave.test.catalog.Catalog/WatchItems", "streaming"),
        (
            "starweave.test.catalog.Catalog/Nope",
            "has no method `Nope`",
        ),
        ("nope.Service/X", "no service `nope.Service`"),
        ("GetItem", "not a full method name"),
    ] {
        let err = grpc_import::import_methods(&mut connector, &pool, Some(&[name.to_owned()]))
            .expect_err(name);
        assert!(err.contains(reason), "{name}: {err}");
    }
    assert!(grpc_import::decode(b"\xff\xff not protobuf").is_err());
    // The greeter's descriptor set imports its three unary methods (not Watch).
    let greeter = grpc_import::decode(&descriptor_set()).expect("greeter");
    let mut other = GrpcConnector::default();
    let report = grpc_import::import_methods(&mut other, &greeter, None).expect("imports");
    assert_eq!(report.added, ["sayHello", "fail", "slow"]);
}
