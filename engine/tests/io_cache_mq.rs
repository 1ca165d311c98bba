//! The cache connector against a real Redis and the MQ connector against a real NATS
//! JetStream (and Redis Streams). Each test uses its own key prefix / stream and subject and
//! removes them afterwards.

mod io_common;

use io_common::{NATS, REDIS, call, live, live_with_diagnostics, unique};
use redis::AsyncCommands;
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_operations_with_ttl_and_prefix() {
    let url = REDIS.url();
    let prefix = unique("sw-test-");
    let yaml = format!(
        r#"
kind: cache
url_env: REDIS_URL
key_prefix: "{prefix}:"
methods:
- {{ name: get, op: get, key: "profile:{{{{ input.id }}}}" }}
- {{ name: put, op: set, key: "profile:{{{{ input.id }}}}", value: input.profile, ttl_seconds: 300 }}
- {{ name: put_forever, op: set, key: "plain:{{{{ input.id }}}}" }}
- {{ name: get_plain, op: get, key: "plain:{{{{ input.id }}}}" }}
- {{ name: drop, op: del, key: "profile:{{{{ input.id }}}}" }}
- {{ name: bump, op: incr, key: "counter" }}
- {{ name: bump_by, op: incr, key: "counter", value: input.by }}
- {{ name: hput, op: hset, key: "h", field: "{{{{ input.f }}}}" }}
- {{ name: hread, op: hget, key: "h", field: "{{{{ input.f }}}}" }}
- {{ name: hall, op: hgetall, key: "h" }}
- {{ name: expire_h, op: expire, key: "h", ttl_seconds: 60 }}
"#
    );
    let cache = live(&[("cache", &yaml)], &[("REDIS_URL", &url)]);
    let mut redis = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");

    assert_eq!(
        call(&cache, "cache", "get", json!({"id": 1}))
            .await
            .expect("get"),
        json!(null)
    );
    let profile = json!({"name": "Ann", "tags": ["a"]});
    call(&cache, "cache", "put", json!({"id": 1, "profile": profile}))
        .await
        .expect("set");
    assert_eq!(
        call(&cache, "cache", "get", json!({"id": 1}))
            .await
            .expect("get"),
        profile
    );
    // The key carries the prefix and a TTL.
    let key = format!("{prefix}:profile:1");
    let ttl: i64 = redis.ttl(&key).await.expect("ttl");
    assert!((1..=300).contains(&ttl), "ttl {ttl}");
    let stored: String = redis.get(&key).await.expect("raw get");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&stored).expect("JSON"),
        profile
    );

    // Strings are stored as they are; no TTL without ttl_seconds.
    call(
        &cache,
        "cache",
        "put_forever",
        json!({"id": 2, "value": "plain text"}),
    )
    .await
    .expect("set");
    let raw: String = redis.get(format!("{prefix}:plain:2")).await.expect("raw");
    assert_eq!(raw, "plain text");
    let ttl: i64 = redis.ttl(format!("{prefix}:plain:2")).await.expect("ttl");
    assert_eq!(ttl, -1);
    assert_eq!(
        call(&cache, "cache", "get_plain", json!({"id": 2}))
            .await
            .expect("get"),
        "plain text"
    );

    assert_eq!(
        call(&cache, "cache", "drop", json!({"id": 1}))
            .await
            .expect("del"),
        1
    );
    assert_eq!(
        call(&cache, "cache", "drop", json!({"id": 1}))
            .await
            .expect("del"),
        0
    );

    assert_eq!(
        call(&cache, "cache", "bump", json!({}))
            .await
            .expect("incr"),
        1
    );
    assert_eq!(
        call(&cache, "cache", "bump", json!({}))
            .await
            .expect("incr"),
        2
    );
    assert_eq!(
        call(&cache, "cache", "bump_by", json!({"by": 40}))
            .await
            .expect("incr"),
        42
    );
    let err = call(&cache, "cache", "bump_by", json!({"by": "x"}))
        .await
        .expect_err("not a number");
    assert!(err.message.contains("whole number"), "{err:?}");

    call(&cache, "cache", "hput", json!({"f": "a", "value": 1}))
        .await
        .expect("hset");
    call(
        &cache,
        "cache",
        "hput",
        json!({"f": "b", "value": {"x": true}}),
    )
    .await
    .expect("hset");
    assert_eq!(
        call(&cache, "cache", "hread", json!({"f": "b"}))
            .await
            .expect("hget"),
        json!({"x": true})
    );
    assert_eq!(
        call(&cache, "cache", "hread", json!({"f": "zz"}))
            .await
            .expect("hget"),
        json!(null)
    );
    assert_eq!(
        call(&cache, "cache", "hall", json!({}))
            .await
            .expect("hgetall"),
        json!({"a": 1, "b": {"x": true}})
    );
    assert_eq!(
        call(&cache, "cache", "expire_h", json!({}))
            .await
            .expect("expire"),
        true
    );
    let ttl: i64 = redis.ttl(format!("{prefix}:h")).await.expect("ttl");
    assert!((1..=60).contains(&ttl), "ttl {ttl}");

    // Clean up every key of this test.
    let keys: Vec<String> = redis.keys(format!("{prefix}:*")).await.expect("keys");
    if !keys.is_empty() {
        let _: i64 = redis.del(keys).await.expect("cleanup");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nats_jetstream_publish_is_acknowledged_and_lands_in_the_stream() {
    let url = NATS.url();
    let id = unique("");
    let stream_name = format!("SW_TEST_{id}");
    let client = async_nats::connect(url.as_str())
        .await
        .expect("connect to NATS");
    let jetstream = async_nats::jetstream::new(client);
    let stream = jetstream
        .create_stream(async_nats::jetstream::stream::Config {
            name: stream_name.clone(),
            subjects: vec![format!("sw.test.{id}.>")],
            ..Default::default()
        })
        .await
        .expect("create stream (NATS 2.9 JetStream)");

    let yaml = format!(
        r##"
kind: mq
broker: nats
url_env: NATS_URL
stream: {stream_name}
methods:
- name: order_created
  subject: "sw.test.{id}.orders.{{{{ input.region }}}}"
  headers:
    Nats-Msg-Id: "{{{{ input.id }}}}"
  payload: "#{{ id: input.id, total: input.total }}"
- name: raw
  subject: "sw.test.{id}.raw"
- name: elsewhere
  subject: "sw.other.{id}"
"##
    );
    let mq = live(&[("mq", &yaml)], &[("NATS_URL", &url)]);
    let ack = call(
        &mq,
        "mq",
        "order_created",
        json!({"id": "o-1", "region": "eu", "total": 12.5, "secret": "x"}),
    )
    .await
    .expect("publish");
    assert_eq!(
        ack,
        json!({"stream": stream_name, "sequence": 1, "duplicate": false})
    );
    // The same Nats-Msg-Id again is recognised as a duplicate.
    let ack = call(
        &mq,
        "mq",
        "order_created",
        json!({"id": "o-1", "region": "eu", "total": 12.5}),
    )
    .await
    .expect("publish");
    assert_eq!(ack["duplicate"], true);
    let ack = call(&mq, "mq", "raw", json!({"n": [1, 2]}))
        .await
        .expect("publish");
    assert_eq!(ack["sequence"], 2);

    let message = stream.get_raw_message(1).await.expect("read back");
    assert_eq!(message.subject.as_str(), format!("sw.test.{id}.orders.eu"));
    let payload: serde_json::Value = serde_json::from_slice(&message.payload).expect("JSON");
    assert_eq!(payload, json!({"id": "o-1", "total": 12.5}));
    assert_eq!(
        message.headers.get("Nats-Msg-Id").map(|v| v.as_str()),
        Some("o-1")
    );
    let message = stream.get_raw_message(2).await.expect("read back");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&message.payload).expect("JSON"),
        json!({"n": [1, 2]})
    );

    // A header value from input with a line break is refused, not sent (nor a panic).
    let err = call(
        &mq,
        "mq",
        "order_created",
        json!({"id": "o-2\r\nX-Evil: 1", "region": "eu", "total": 1}),
    )
    .await
    .expect_err("a line break in a header");
    assert!(err.message.contains("line break"), "{err:?}");

    // A subject no stream listens to gets no acknowledgement: an error, not a silent loss.
    let err = call(&mq, "mq", "elsewhere", json!({}))
        .await
        .expect_err("no stream");
    assert!(err.message.contains("elsewhere"), "{err:?}");

    jetstream
        .delete_stream(&stream_name)
        .await
        .expect("delete stream");

    // A declared stream that does not exist is reported on first use.
    let missing = yaml.replace(
        &format!("stream: {stream_name}"),
        "stream: SW_TEST_NO_SUCH_STREAM",
    );
    let mq = live(&[("mq", &missing)], &[("NATS_URL", &url)]);
    let err = call(&mq, "mq", "raw", json!({}))
        .await
        .expect_err("missing stream");
    assert!(err.message.contains("SW_TEST_NO_SUCH_STREAM"), "{err:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_streams_publish() {
    let url = REDIS.url();
    let key = unique("sw-test-stream-");
    let yaml = format!(
        "kind: mq\nbroker: redis-streams\nurl_env: REDIS_URL\nmethods:\n- name: event\n  subject: \"{key}\"\n  headers:\n    kind: \"{{{{ input.kind }}}}\"\n"
    );
    let mq = live(&[("mq", &yaml)], &[("REDIS_URL", &url)]);
    let out = call(&mq, "mq", "event", json!({"kind": "created", "n": 1}))
        .await
        .expect("xadd");
    assert!(
        out["id"].as_str().is_some_and(|id| id.contains('-')),
        "{out}"
    );
    let mut redis = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let len: i64 = redis::cmd("XLEN")
        .arg(&key)
        .query_async(&mut redis)
        .await
        .expect("xlen");
    assert_eq!(len, 1);
    let _: i64 = redis.del(&key).await.expect("cleanup");
}

#[test]
fn amqp_connects_lazily_and_a_missing_descriptor_set_is_a_diagnostic() {
    let amqp = "kind: mq\nbroker: amqp\nurl_env: AMQP_URL\nmethods:\n- { name: send, exchange: x, routing_key: k }\n";
    let grpc = "kind: grpc\nendpoint: http://127.0.0.1:1\ndescriptor_set: d.binpb\nmethods:\n- { name: m, method: a.B/C }\n";
    let (_, diagnostics) = live_with_diagnostics(&[("amqp", amqp), ("grpc", grpc)], &[]);
    let codes: Vec<&str> = diagnostics.iter().map(|d| d.code.as_str()).collect();
    // AMQP opens its connection on the first publish, so building it reports nothing; the
    // gRPC connector needs its descriptor set from the VMS's files, which are not given here.
    assert_eq!(codes, ["connector.descriptor_set"], "{diagnostics:#?}");
}

#[tokio::test]
async fn config_values_come_from_env_with_defaults() {
    let yaml = "kind: config\nvalues:\n- { name: page_size, env: PAGE_SIZE, default: 20 }\n- { name: region, env: REGION, default: eu }\n- { name: flags, env: FLAGS }\n";
    let config = live(
        &[("cfg", yaml)],
        &[("PAGE_SIZE", "50"), ("FLAGS", "{\"beta\": true}")],
    );
    assert_eq!(
        call(&config, "cfg", "page_size", json!({}))
            .await
            .expect("value"),
        50
    );
    assert_eq!(
        call(&config, "cfg", "region", json!({}))
            .await
            .expect("value"),
        "eu"
    );
    assert_eq!(
        call(&config, "cfg", "flags", json!({}))
            .await
            .expect("value"),
        json!({"beta": true})
    );
    let err = call(&config, "cfg", "nope", json!({}))
        .await
        .expect_err("unknown");
    assert!(err.message.contains("nope"));
}

/// A counter with a TTL is a fixed window: the increment that creates it sets the expiry,
/// later ones keep it (a rate limit hit every few seconds still resets). A hash written
/// with a TTL gets it with the write, in one transaction.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counter_with_a_ttl_keeps_the_expiry_of_its_window() {
    let url = REDIS.url();
    let prefix = unique("sw-test-");
    let yaml = format!(
        r#"
kind: cache
url_env: REDIS_URL
key_prefix: "{prefix}:"
methods:
- {{ name: hit, op: incr, key: "window", ttl_seconds: 60 }}
- {{ name: plain, op: incr, key: "window" }}
- {{ name: hput, op: hset, key: "h", field: "{{{{ input.f }}}}", ttl_seconds: 30 }}
"#
    );
    let cache = live(&[("cache", &yaml)], &[("REDIS_URL", &url)]);
    let mut redis = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect to Redis");
    let window = format!("{prefix}:window");
    assert_eq!(
        call(&cache, "cache", "hit", json!({})).await.expect("incr"),
        1
    );
    let ttl: i64 = redis.ttl(&window).await.expect("ttl");
    assert!((1..=60).contains(&ttl), "ttl {ttl}");
    // The window is nearly over; another hit does not push it back.
    let _: bool = redis.expire(&window, 5).await.expect("expire");
    assert_eq!(
        call(&cache, "cache", "hit", json!({})).await.expect("incr"),
        2
    );
    let ttl: i64 = redis.ttl(&window).await.expect("ttl");
    assert!((1..=5).contains(&ttl), "the window moved: ttl {ttl}");
    // A counter without an expiry (made by another method) gets one.
    let _: bool = redis.persist(&window).await.expect("persist");
    assert_eq!(
        call(&cache, "cache", "plain", json!({}))
            .await
            .expect("incr"),
        3
    );
    assert_eq!(
        call(&cache, "cache", "hit", json!({})).await.expect("incr"),
        4
    );
    let ttl: i64 = redis.ttl(&window).await.expect("ttl");
    assert!((1..=60).contains(&ttl), "ttl {ttl}");

    call(&cache, "cache", "hput", json!({"f": "a", "value": 1}))
        .await
        .expect("hset");
    let ttl: i64 = redis.ttl(format!("{prefix}:h")).await.expect("ttl");
    assert!((1..=30).contains(&ttl), "ttl {ttl}");

    let keys: Vec<String> = redis.keys(format!("{prefix}:*")).await.expect("keys");
    let _: i64 = redis.del(keys).await.expect("cleanup");
}

#[test]
fn a_ttl_of_zero_or_beyond_ten_years_is_refused_at_load() {
    for ttl in ["0", "18446744073709551615"] {
        let yaml = format!(
            "kind: cache\nurl_env: REDIS_URL\nmethods:\n- {{ name: put, op: set, key: k, ttl_seconds: {ttl} }}\n"
        );
        let (_, diagnostics) = io_common::live_with_diagnostics(
            &[("cache", &yaml)],
            &[("REDIS_URL", "redis://127.0.0.1:1")],
        );
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert!(
            diagnostics[0].message.contains("from 1 s to 315360000 s"),
            "{diagnostics:?}"
        );
    }
}
