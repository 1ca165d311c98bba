//! gRPC triggers: a VMS serving `shop.inventory.v1.Inventory/Reserve` on the engine's gRPC
//! port, called with a real tonic client over HTTP/2. `testdata/grpc_trigger/inventory.proto`
//! is compiled with protox when the tests run (no `protoc` needed) into the descriptor set the
//! VMS carries.

mod server_common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, SerializeOptions};
use serde_json::{Value, json};
use server_common::{TestEngine, start_engine, write_vms};
use starweave_engine::io::grpc::DynamicCodec;
use starweave_engine::server::registry::EngineOptions;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{Code, Status};

const RESERVE: &str = "/shop.inventory.v1.Inventory/Reserve";

fn descriptor_set() -> Vec<u8> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/grpc_trigger");
    protox::compile(["inventory.proto"], [&dir])
        .expect("compile inventory.proto")
        .encode_to_vec()
}

fn pool() -> DescriptorPool {
    DescriptorPool::decode(descriptor_set().as_slice()).expect("descriptor pool")
}

/// The inventory VMS, answering with its version in every reply.
fn inventory(root: &Path, dir_name: &str, version: &str, triggers: &str) -> PathBuf {
    let reserve = format!(
        r#"fn main(input, ctx) {{
    if input.sku == "missing" {{ throw_bpmn_error("NOT_FOUND", "no such sku"); }}
    if input.quantity > 100 {{ throw_bpmn_error("TOO_MANY", "at most 100 at once"); }}
    if input.sku == "crash" {{ let zero = 0; return 1 / zero; }}
    #{{ sku: input.sku, reserved: input.quantity, order_id: input.order_id, version: "{version}", tags: input.tags, note: "not in the reply" }}
}}
"#
    );
    let dir = write_vms(
        root,
        dir_name,
        &[
            ("vms.yaml", "name: inventory\n"),
            ("functions/reserve.rhai", &reserve),
            ("triggers.yaml", triggers),
        ],
    );
    std::fs::create_dir_all(dir.join("protos")).expect("mkdir");
    std::fs::write(dir.join("protos/inventory.binpb"), descriptor_set()).expect("write");
    dir
}

const TRIGGERS: &str = "- kind: grpc\n  function: reserve\n  service: shop.inventory.v1.Inventory\n  method: Reserve\n  descriptor_set: protos/inventory.binpb\n  error_statuses:\n    TOO_MANY: INVALID_ARGUMENT\n";

/// An engine with a gRPC port (honouring `x-starweave-version`, as behind a gateway);
/// returns it with the port's URL.
async fn engine_with_grpc() -> (TestEngine, String) {
    let engine = start_engine(EngineOptions {
        version_header: true,
        ..EngineOptions::default()
    })
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind grpc");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let router = starweave_engine::triggers::grpc::router(engine.server.clone());
    tokio::spawn(async move {
        let _ = starweave_engine::server::serve(listener, router, std::future::pending()).await;
    });
    (engine, url)
}

struct Client {
    channel: Channel,
    request: MessageDescriptor,
    reply: MessageDescriptor,
}

impl Client {
    async fn new(url: &str) -> Self {
        let pool = pool();
        Client {
            channel: Channel::from_shared(url.to_owned())
                .expect("url")
                .connect()
                .await
                .expect("connect to the gRPC port"),
            request: pool
                .get_message_by_name("shop.inventory.v1.ReserveRequest")
                .expect("request type"),
            reply: pool
                .get_message_by_name("shop.inventory.v1.ReserveReply")
                .expect("reply type"),
        }
    }

    /// Calls `path` with `request` (JSON) and `metadata`; the reply as JSON and its version
    /// metadata, or the status.
    async fn call(
        &self,
        path: &str,
        request: Value,
        metadata: &[(&'static str, &str)],
    ) -> Result<(Value, String), Status> {
        let message =
            DynamicMessage::deserialize(self.request.clone(), request).expect("request JSON");
        let mut request = tonic::Request::new(message);
        for (key, value) in metadata {
            request
                .metadata_mut()
                .insert(*key, value.parse().expect("metadata"));
        }
        let mut client = tonic::client::Grpc::new(self.channel.clone());
        client.ready().await.expect("ready");
        let codec = DynamicCodec {
            decode_as: self.reply.clone(),
            malformed: Code::Internal,
        };
        let response = client
            .unary(request, PathAndQuery::try_from(path).expect("path"), codec)
            .await?;
        let version = response
            .metadata()
            .get("x-starweave-version")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let options = SerializeOptions::new()
            .use_proto_field_name(true)
            .skip_default_fields(false)
            .stringify_64_bit_integers(false);
        let json = response
            .into_inner()
            .serialize_with_options(serde_json::value::Serializer, &options)
            .expect("reply JSON");
        Ok((json, version))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_unary_call_reaches_the_function_and_answers_its_output() {
    let root = tempfile::tempdir().expect("tempdir");
    let (engine, url) = engine_with_grpc().await;
    let dir = inventory(root.path(), "v1", "v1", TRIGGERS);
    let (status, body) = engine.deploy("inventory", "v1", &dir, json!({})).await;
    assert_eq!(status, 201, "{body}");
    let client = Client::new(&url).await;
    let (reply, version) = client
        .call(
            RESERVE,
            json!({"sku": "A-1", "quantity": 3, "orderId": 9_000_000_001_i64, "tags": ["gift"]}),
            &[],
        )
        .await
        .expect("call");
    assert_eq!(
        reply,
        json!({"sku": "A-1", "reserved": 3, "order_id": 9_000_000_001_i64, "version": "v1", "tags": ["gift"]})
    );
    assert_eq!(version, "v1");
    // Fields left at their defaults still reach the function (as zero values).
    let (reply, _) = client
        .call(RESERVE, json!({"sku": "B-2"}), &[])
        .await
        .expect("call");
    assert_eq!(reply["reserved"], 0);
    assert_eq!(reply["order_id"], 0);
    let table = engine.server.registry.table();
    let metrics = &table.get("inventory", "v1").expect("loaded").0.metrics["reserve"];
    assert_eq!(metrics.count("grpc", "OK"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_answer_grpc_status_codes() {
    let root = tempfile::tempdir().expect("tempdir");
    let (engine, url) = engine_with_grpc().await;
    let dir = inventory(root.path(), "v1", "v1", TRIGGERS);
    assert_eq!(
        engine.deploy("inventory", "v1", &dir, json!({})).await.0,
        201
    );
    let client = Client::new(&url).await;
    let code_of = |status: &Status| {
        status
            .metadata()
            .get("starweave-error-code")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };

    // A business error named like a status answers that status.
    let status = client
        .call(RESERVE, json!({"sku": "missing", "quantity": 1}), &[])
        .await
        .expect_err("not found");
    assert_eq!(status.code(), Code::NotFound, "{status:?}");
    assert!(status.message().contains("no such sku"), "{status:?}");
    assert_eq!(code_of(&status), "NOT_FOUND");

    // A business error mapped by the trigger.
    let status = client
        .call(RESERVE, json!({"sku": "A-1", "quantity": 500}), &[])
        .await
        .expect_err("too many");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(code_of(&status), "TOO_MANY");

    // A script failure is INTERNAL with a trace id and nothing internal.
    let status = client
        .call(RESERVE, json!({"sku": "crash", "quantity": 1}), &[])
        .await
        .expect_err("crash");
    assert_eq!(status.code(), Code::Internal, "{status:?}");
    assert!(status.message().contains("trace id"), "{status:?}");
    assert!(!status.message().contains("zero"), "{status:?}");

    // Methods nobody serves, and a VMS that does not serve the method.
    let status = client
        .call("/shop.inventory.v1.Inventory/Restock", json!({}), &[])
        .await
        .expect_err("unknown method");
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    let status = client
        .call(
            RESERVE,
            json!({"sku": "A-1"}),
            &[("x-starweave-vms", "billing")],
        )
        .await
        .expect_err("other VMS");
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    // The VMS named explicitly answers.
    let (reply, _) = client
        .call(
            RESERVE,
            json!({"sku": "A-1", "quantity": 1}),
            &[("x-starweave-vms", "inventory")],
        )
        .await
        .expect("named VMS");
    assert_eq!(reply["reserved"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_grpc_triggers_fail_the_load_with_diagnostics() {
    let root = tempfile::tempdir().expect("tempdir");
    let (engine, _url) = engine_with_grpc().await;
    let cases = [
        (
            "Restock",
            "protos/inventory.binpb",
            "NOT_FOUND",
            "has no method",
        ),
        ("Watch", "protos/inventory.binpb", "NOT_FOUND", "streaming"),
        (
            "Reserve",
            "protos/missing.binpb",
            "NOT_FOUND",
            "not in the VMS",
        ),
        (
            "Reserve",
            "protos/inventory.binpb",
            "TEAPOT",
            "not a gRPC error status",
        ),
        // OK would answer a failure as a success.
        (
            "Reserve",
            "protos/inventory.binpb",
            "OK",
            "not a gRPC error status",
        ),
    ];
    for (index, (method, file, status_name, expected)) in cases.into_iter().enumerate() {
        let triggers = format!(
            "- kind: grpc\n  function: reserve\n  service: shop.inventory.v1.Inventory\n  method: {method}\n  descriptor_set: {file}\n  error_statuses:\n    OOPS: {status_name}\n"
        );
        let dir = inventory(root.path(), &format!("bad{index}"), "v1", &triggers);
        let (status, body) = engine.deploy("inventory", "v1", &dir, json!({})).await;
        assert_eq!(status, 422, "{method} {file}: {body}");
        assert!(body.to_string().contains(expected), "{expected}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_swaps_move_grpc_calls_to_the_new_version_without_failures() {
    let root = tempfile::tempdir().expect("tempdir");
    let (engine, url) = engine_with_grpc().await;
    let v1 = inventory(root.path(), "v1", "v1", TRIGGERS);
    let v2 = inventory(root.path(), "v2", "v2", TRIGGERS);
    assert_eq!(
        engine.deploy("inventory", "v1", &v1, json!({})).await.0,
        201
    );
    let client = Arc::new(Client::new(&url).await);

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let mut callers = Vec::new();
    for _ in 0..4 {
        let (client, stop, ok, failed) = (client.clone(), stop.clone(), ok.clone(), failed.clone());
        callers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match client
                    .call(RESERVE, json!({"sku": "A-1", "quantity": 1}), &[])
                    .await
                {
                    Ok(_) => ok.fetch_add(1, Ordering::Relaxed),
                    Err(status) => {
                        eprintln!("failed call: {status:?}");
                        failed.fetch_add(1, Ordering::Relaxed)
                    }
                };
            }
        }));
    }
    for round in 0..10 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (version, dir) = if round % 2 == 0 {
            ("v2", &v2)
        } else {
            ("v1", &v1)
        };
        let (status, body) = engine.deploy("inventory", version, dir, json!({})).await;
        assert!(status == 200 || status == 201, "{status} {body}");
        // The next call after the admin call answers from the new version.
        let (reply, header) = client
            .call(RESERVE, json!({"sku": "A-1", "quantity": 1}), &[])
            .await
            .expect("call after the swap");
        assert_eq!(
            (reply["version"].as_str(), header.as_str()),
            (Some(version), version)
        );
    }
    stop.store(true, Ordering::Relaxed);
    for caller in callers {
        caller.await.expect("caller");
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!("10 swaps under gRPC load: {ok} calls answered, {failed} failed");
    assert_eq!(failed, 0);
    assert!(ok > 0);
    // An older version answers when asked by name.
    let (reply, _) = client
        .call(
            RESERVE,
            json!({"sku": "A-1", "quantity": 1}),
            &[("x-starweave-version", "v2")],
        )
        .await
        .expect("named version");
    assert_eq!(reply["version"], "v2");
}

/// Sends bytes as they are (whatever they decode to) and decodes the reply dynamically.
struct RawCodec(DynamicCodec);

struct RawEncoder;

impl tonic::codec::Encoder for RawEncoder {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(
        &mut self,
        item: Vec<u8>,
        dst: &mut tonic::codec::EncodeBuf<'_>,
    ) -> Result<(), Status> {
        use bytes::BufMut;
        dst.put_slice(&item);
        Ok(())
    }
}

impl tonic::codec::Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = DynamicMessage;
    type Encoder = RawEncoder;
    type Decoder = starweave_engine::io::grpc::DynamicDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> Self::Decoder {
        tonic::codec::Codec::decoder(&mut self.0)
    }
}

/// A request that is not a valid message is the caller's error: `INVALID_ARGUMENT`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_request_is_an_invalid_argument() {
    let root = tempfile::tempdir().expect("tempdir");
    let (engine, url) = engine_with_grpc().await;
    let dir = inventory(root.path(), "v1", "v1", TRIGGERS);
    assert_eq!(
        engine.deploy("inventory", "v1", &dir, json!({})).await.0,
        201
    );
    let client = Client::new(&url).await;
    let mut grpc = tonic::client::Grpc::new(client.channel.clone());
    grpc.ready().await.expect("ready");
    let codec = RawCodec(DynamicCodec {
        decode_as: client.reply.clone(),
        malformed: Code::Internal,
    });
    // Field 1 (`sku`, a string) announcing 127 bytes and giving one.
    let status = grpc
        .unary(
            tonic::Request::new(vec![0x0a, 0x7f, b'A']),
            PathAndQuery::try_from(RESERVE).expect("path"),
            codec,
        )
        .await
        .expect_err("malformed");
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert!(
        status
            .message()
            .contains("cannot decode a shop.inventory.v1.ReserveRequest"),
        "{status:?}"
    );
}
