//! Property tests: any VMS the model can express survives write → read unchanged, with no
//! error diagnostics, and writing is stable.

use indexmap::IndexMap;
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;
use serde_json::Value;
use starweave_model::vms::connector::*;
use starweave_model::vms::env::{EnvVar, EnvVarType};
use starweave_model::vms::function::{CodeLanguage, ErrorDecl, Function, FunctionSpec};
use starweave_model::vms::params::{
    ParamType, Parameter, params_from_csv, params_from_yaml, params_to_csv, params_to_rows,
    params_to_yaml, rows_to_params,
};
use starweave_model::vms::test_case::{ExpectedError, Mock, MockError, MockReply, TestCase};
use starweave_model::vms::trigger::*;
use starweave_model::vms::{Vms, read_vms, write_vms};

fn name() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_-]{0,8}"
}

/// Any text, control characters and odd Unicode included.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "(?s).{0,24}",
        "[ -~]{0,24}",
        Just("yes".to_owned()),
        Just("123".to_owned()),
        Just("- a: b #c".to_owned()),
        Just("line 1\nline 2\n".to_owned()),
        Just("  indented\n\ttab\r\n".to_owned()),
    ]
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    option::of(text())
}

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::Array),
            btree_map(text(), inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn string_map() -> impl Strategy<Value = IndexMap<String, String>> {
    vec((text(), text()), 0..3).prop_map(|v| v.into_iter().collect())
}

fn param_type() -> impl Strategy<Value = ParamType> {
    proptest::sample::select(ParamType::ALL.to_vec())
}

fn finite() -> impl Strategy<Value = f64> {
    any::<f64>().prop_filter("finite", |f| f.is_finite())
}

/// A parameter's own attributes (no children); `name` empty for array items.
fn leaf_param(named: bool) -> impl Strategy<Value = Parameter> {
    (
        (if named {
            name().boxed()
        } else {
            Just(String::new()).boxed()
        }),
        param_type(),
        any::<(bool, bool)>(),
        (opt_text(), option::of("[a-z-]{1,10}")),
        (option::of(json()), option::of(json())),
        vec(json(), 0..3),
        (option::of(finite()), option::of(finite())),
        (option::of(0u64..1000), option::of(0u64..1000), opt_text()),
        (option::of(0u64..10), option::of(0u64..10)),
    )
        .prop_map(
            |(
                name,
                ty,
                (required, nullable),
                (description, format),
                (default, example),
                enum_values,
                (minimum, maximum),
                (min_length, max_length, pattern),
                (min_items, max_items),
            )| {
                Parameter {
                    name,
                    ty,
                    required,
                    nullable,
                    description,
                    format,
                    default,
                    example,
                    enum_values,
                    minimum,
                    maximum,
                    min_length,
                    max_length,
                    pattern,
                    min_items,
                    max_items,
                    fields: Vec::new(),
                    items: None,
                }
            },
        )
}

/// A parameter tree: objects get fields, arrays an item, nested a few levels.
fn param_tree(named: bool, depth: u32) -> BoxedStrategy<Parameter> {
    if depth == 0 {
        return leaf_param(named).boxed();
    }
    (
        leaf_param(named),
        vec(param_tree(true, depth - 1), 0..3),
        option::of(param_tree(false, depth - 1)),
    )
        .prop_map(|(mut p, fields, item)| {
            match p.ty {
                ParamType::Object => {
                    // Field names must be unique within an object.
                    let mut seen = std::collections::HashSet::new();
                    p.fields = fields
                        .into_iter()
                        .filter(|f| seen.insert(f.name.clone()))
                        .collect();
                }
                ParamType::Array => p.items = item.map(Box::new),
                _ => {}
            }
            p
        })
        .boxed()
}

fn params() -> impl Strategy<Value = Vec<Parameter>> {
    vec(param_tree(true, 2), 0..4).prop_map(|v| {
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            .filter(|p| seen.insert(p.name.clone()))
            .collect()
    })
}

fn backoff() -> impl Strategy<Value = Backoff> {
    (any::<u32>(), option::of(any::<u32>()), option::of(finite())).prop_map(|(i, m, x)| Backoff {
        initial_ms: i.into(),
        max_ms: m.map(u64::from),
        multiplier: x,
    })
}

fn verb() -> impl Strategy<Value = HttpVerb> {
    proptest::sample::select(vec![
        HttpVerb::Get,
        HttpVerb::Post,
        HttpVerb::Put,
        HttpVerb::Patch,
        HttpVerb::Delete,
        HttpVerb::Head,
        HttpVerb::Options,
    ])
}

fn http_connector() -> impl Strategy<Value = Connector> {
    let auth = prop_oneof![
        name().prop_map(|t| HttpAuth::Bearer { token_env: t }),
        (name(), name()).prop_map(|(u, p)| HttpAuth::Basic {
            username_env: u,
            password_env: p
        }),
        (text(), name(), any::<bool>()).prop_map(|(n, v, q)| HttpAuth::ApiKey {
            name: n,
            value_env: v,
            in_query: q
        }),
        (text(), name(), name(), vec(text(), 0..2)).prop_map(|(u, i, s, sc)| {
            HttpAuth::OAuth2ClientCredentials {
                token_url: u,
                client_id_env: i,
                client_secret_env: s,
                scopes: sc,
            }
        }),
    ];
    let method = (
        (name(), opt_text(), verb(), text()),
        (string_map(), string_map(), option::of(json())),
        (params(), params(), opt_text()),
        (string_map(), option::of(any::<u32>())),
    )
        .prop_map(
            |(
                (name, description, method, path),
                (query, headers, body),
                (input, output, response),
                (error_statuses, timeout),
            )| HttpMethod {
                name,
                description,
                method,
                path,
                query,
                headers,
                body,
                input,
                output,
                response,
                error_statuses,
                timeout_ms: timeout.map(u64::from),
            },
        );
    (
        (opt_text(), text(), string_map(), option::of(auth)),
        (
            option::of(any::<u32>()),
            option::of((1u32..5, option::of(backoff()))),
            opt_text(),
            option::of(tls()),
        ),
        vec(method, 0..3),
    )
        .prop_map(
            |(
                (description, base_url, headers, auth),
                (timeout, retry, openapi_source, tls),
                methods,
            )| {
                Connector::Http(HttpConnector {
                    description,
                    base_url,
                    headers,
                    auth,
                    timeout_ms: timeout.map(u64::from),
                    retry: retry.map(|(max_attempts, backoff)| RetryPolicy {
                        max_attempts,
                        backoff,
                    }),
                    tls,
                    openapi_source,
                    methods,
                })
            },
        )
}

fn tls() -> impl Strategy<Value = HttpTls> {
    (option::of(name()), option::of(name()), option::of(name())).prop_map(
        |(ca_env, client_cert_env, client_key_env)| HttpTls {
            ca_env,
            client_cert_env,
            client_key_env,
        },
    )
}

fn database_connector() -> impl Strategy<Value = Connector> {
    let method = (
        (name(), opt_text(), text()),
        vec((name(), vec(text(), 0..3)), 0..2),
        proptest::sample::select(vec![
            SqlReturns::Rows,
            SqlReturns::One,
            SqlReturns::Affected,
            SqlReturns::GeneratedKey,
        ]),
        (params(), params()),
    )
        .prop_map(
            |((name, description, sql), ids, returns, (input, output))| SqlMethod {
                name,
                description,
                sql,
                identifiers: ids.into_iter().collect(),
                returns,
                input,
                output,
            },
        );
    (
        opt_text(),
        proptest::sample::select(vec![DbDriver::Postgres, DbDriver::Mysql, DbDriver::Sqlite]),
        name(),
        option::of(any::<u32>()),
        option::of(any::<u32>()),
        vec(method, 0..3),
    )
        .prop_map(
            |(description, driver, url_env, pool_size, timeout, methods)| {
                Connector::Database(DatabaseConnector {
                    description,
                    driver,
                    url_env,
                    pool_size,
                    timeout_ms: timeout.map(u64::from),
                    methods,
                })
            },
        )
}

fn cache_connector() -> impl Strategy<Value = Connector> {
    let op = proptest::sample::select(vec![
        CacheOp::Get,
        CacheOp::Set,
        CacheOp::Del,
        CacheOp::Incr,
        CacheOp::Hget,
        CacheOp::Hset,
        CacheOp::Hgetall,
        CacheOp::Expire,
    ]);
    let method = (
        (name(), opt_text(), op, text()),
        (opt_text(), opt_text(), option::of(any::<u32>())),
        (params(), params()),
    )
        .prop_map(
            |((name, description, op, key), (field, value, ttl), (input, output))| CacheMethod {
                name,
                description,
                op,
                key,
                field,
                value,
                ttl_seconds: ttl.map(u64::from),
                input,
                output,
            },
        );
    (opt_text(), name(), opt_text(), vec(method, 0..3)).prop_map(
        |(description, url_env, key_prefix, methods)| {
            Connector::Cache(CacheConnector {
                description,
                url_env,
                key_prefix,
                methods,
            })
        },
    )
}

fn mq_connector() -> impl Strategy<Value = Connector> {
    let method = (
        (name(), opt_text(), opt_text()),
        (opt_text(), opt_text(), string_map(), opt_text()),
        (params(), params()),
    )
        .prop_map(
            |(
                (name, description, subject),
                (exchange, routing_key, headers, payload),
                (input, output),
            )| MqMethod {
                name,
                description,
                subject,
                exchange,
                routing_key,
                headers,
                payload,
                input,
                output,
            },
        );
    (
        opt_text(),
        proptest::sample::select(vec![MqBroker::Nats, MqBroker::Amqp, MqBroker::RedisStreams]),
        name(),
        opt_text(),
        vec(method, 0..3),
    )
        .prop_map(|(description, broker, url_env, stream, methods)| {
            Connector::Mq(MqConnector {
                description,
                broker,
                url_env,
                stream,
                methods,
            })
        })
}

fn grpc_connector() -> impl Strategy<Value = Connector> {
    let method = (name(), opt_text(), text(), string_map(), params(), params()).prop_map(
        |(name, description, method, metadata, input, output)| GrpcMethod {
            name,
            description,
            method,
            metadata,
            input,
            output,
        },
    );
    (
        opt_text(),
        text(),
        text(),
        string_map(),
        option::of(any::<u32>()),
        vec(method, 0..3),
    )
        .prop_map(
            |(description, endpoint, descriptor_set, metadata, timeout, methods)| {
                Connector::Grpc(GrpcConnector {
                    description,
                    endpoint,
                    descriptor_set,
                    metadata,
                    timeout_ms: timeout.map(u64::from),
                    methods,
                })
            },
        )
}

fn config_connector() -> impl Strategy<Value = Connector> {
    let value = (name(), opt_text(), name(), option::of(json())).prop_map(
        |(name, description, env, default)| ConfigValue {
            name,
            description,
            env,
            default,
        },
    );
    (opt_text(), vec(value, 0..3)).prop_map(|(description, values)| {
        Connector::Config(ConfigConnector {
            description,
            values,
        })
    })
}

fn connector() -> impl Strategy<Value = Connector> {
    prop_oneof![
        http_connector(),
        database_connector(),
        cache_connector(),
        mq_connector(),
        grpc_connector(),
        config_connector(),
    ]
}

fn trigger() -> impl Strategy<Value = Trigger> {
    let route_auth = prop_oneof![
        (text(), name()).prop_map(|(header, value_env)| RouteAuth::ApiKey { header, value_env }),
        (option::of(name()), opt_text(), opt_text(), opt_text()).prop_map(
            |(secret_env, jwks_url, issuer, audience)| {
                RouteAuth::Jwt {
                    secret_env,
                    jwks_url,
                    issuer,
                    audience,
                }
            }
        ),
        (name(), name()).prop_map(|(username_env, password_env)| RouteAuth::Basic {
            username_env,
            password_env
        }),
    ];
    let http = (
        (name(), opt_text(), verb(), text()),
        (string_map(), option::of(any::<u16>())),
        vec((text(), any::<u16>()), 0..3),
        option::of(route_auth),
    )
        .prop_map(
            |((function, description, method, path), (input, status), errors, auth)| {
                Trigger::Http(HttpTrigger {
                    function,
                    description,
                    method,
                    path,
                    input,
                    status,
                    error_statuses: errors.into_iter().collect(),
                    auth,
                })
            },
        );
    let cron = (
        name(),
        opt_text(),
        text(),
        opt_text(),
        any::<bool>(),
        proptest::sample::select(vec![
            MissedRunPolicy::Skip,
            MissedRunPolicy::RunOnce,
            MissedRunPolicy::CatchUp,
        ]),
        option::of(json()),
    )
        .prop_map(
            |(function, description, schedule, timezone, allow_overlap, missed_runs, input)| {
                Trigger::Cron(CronTrigger {
                    function,
                    description,
                    schedule,
                    timezone,
                    allow_overlap,
                    missed_runs,
                    input,
                })
            },
        );
    let mq = (
        (name(), opt_text(), name(), text()),
        (opt_text(), option::of(any::<u32>()), option::of(backoff())),
        (opt_text(), option::of(any::<u32>())),
        (opt_text(), any::<bool>(), opt_text()),
    )
        .prop_map(
            |(
                (function, description, connector, subject),
                (durable, max_deliveries, backoff),
                (dead_letter, max_concurrency),
                (stream, create_stream, metadata_field),
            )| {
                Trigger::Mq(MqTrigger {
                    function,
                    description,
                    connector,
                    subject,
                    durable,
                    max_deliveries,
                    backoff,
                    dead_letter,
                    max_concurrency,
                    stream,
                    create_stream,
                    metadata_field,
                })
            },
        );
    let grpc = (name(), opt_text(), text(), text(), text(), string_map()).prop_map(
        |(function, description, service, method, descriptor_set, error_statuses)| {
            Trigger::Grpc(GrpcTrigger {
                function,
                description,
                service,
                method,
                descriptor_set,
                error_statuses,
            })
        },
    );
    prop_oneof![http, cron, mq, grpc]
}

fn mock_error() -> impl Strategy<Value = MockError> {
    (text(), text()).prop_map(|(code, message)| MockError { code, message })
}

fn test_case() -> impl Strategy<Value = TestCase> {
    let reply = (option::of(json()), option::of(mock_error()))
        .prop_map(|(result, error)| MockReply { result, error });
    let mock = (
        option::of(json()),
        option::of(mock_error()),
        vec(reply, 0..3),
    )
        .prop_map(|(result, error, calls)| Mock {
            result,
            error,
            calls,
        });
    (
        opt_text(),
        json(),
        vec(("[a-z_]{1,6}(\\.[a-z_]{1,6})?", mock), 0..3),
        option::of(json()),
        option::of((text(), opt_text())),
    )
        .prop_map(|(description, input, mocks, output, error)| TestCase {
            description,
            input,
            mocks: mocks.into_iter().collect(),
            output,
            error: error.map(|(code, message)| ExpectedError { code, message }),
        })
}

fn env_var() -> impl Strategy<Value = EnvVar> {
    (
        "[A-Z][A-Z0-9_]{0,10}",
        proptest::sample::select(vec![
            EnvVarType::String,
            EnvVarType::Number,
            EnvVarType::Bool,
            EnvVarType::Json,
        ]),
        any::<bool>(),
        option::of(json()),
        opt_text(),
    )
        .prop_map(|(name, ty, secret, default, description)| EnvVar {
            name,
            ty,
            secret,
            default,
            description,
        })
}

fn function() -> impl Strategy<Value = Function> {
    let errors = vec(
        (text(), opt_text()).prop_map(|(code, description)| ErrorDecl { code, description }),
        0..2,
    );
    (
        proptest::sample::select(vec![CodeLanguage::JavaScript, CodeLanguage::Rhai]),
        "(?s).{0,64}",
        (
            opt_text(),
            option::of(any::<u32>()),
            params(),
            params(),
            errors,
            any::<bool>(),
        ),
    )
        .prop_map(
            |(language, source, (description, timeout, input, output, errors, public))| Function {
                spec: FunctionSpec {
                    description,
                    timeout_ms: timeout.map(u64::from),
                    input,
                    output,
                    errors,
                    public,
                },
                ..Function::code(language, source)
            },
        )
}

fn vms() -> impl Strategy<Value = Vms> {
    (
        (
            text(),
            opt_text(),
            vec(env_var(), 0..3),
            vec((name(), "[0-9.^~]{1,8}"), 0..3),
        ),
        btree_map(name(), function(), 0..3),
        btree_map(name(), connector(), 0..3),
        vec(trigger(), 0..4),
        btree_map(name(), btree_map(name(), test_case(), 1..3), 0..2),
        btree_map("docs/[a-z]{1,6}\\.(md|bin)", vec(any::<u8>(), 0..32), 0..2),
    )
        .prop_map(
            |(
                (name, description, env, deps),
                functions,
                connectors,
                triggers,
                tests,
                other_files,
            )| Vms {
                name,
                description,
                env,
                dependencies: deps.into_iter().collect(),
                functions,
                connectors,
                triggers,
                tests,
                other_files,
            },
        )
}

/// The generated `Vms` strategy nests deeply, and proptest walks its value trees
/// recursively; in unoptimised builds that needs more than a test thread's default stack.
fn with_big_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap_or_else(|e| std::panic::resume_unwind(e));
}

#[test]
fn vms_survives_write_then_read() {
    with_big_stack(|| {
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
            cases: 192,
            ..ProptestConfig::default()
        });
        let result = runner.run(&vms(), |v| {
            let files = write_vms(&v);
            let doc = read_vms(&files);
            let errors: Vec<String> = doc
                .diagnostics
                .iter()
                .filter(|d| d.is_error())
                .map(ToString::to_string)
                .collect();
            prop_assert!(errors.is_empty(), "{errors:#?}");
            prop_assert_eq!(&doc.vms, &v);
            // Writing what was read changes no byte.
            prop_assert_eq!(write_vms(&doc.vms), files);
            Ok(())
        });
        if let Err(e) = result {
            panic!("{e}");
        }
    });
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parameters_survive_every_view(p in params()) {
        let (from_yaml, d1) = params_from_yaml(&params_to_yaml(&p));
        prop_assert!(d1.is_empty(), "{d1:?}");
        prop_assert_eq!(&from_yaml, &p);
        let (from_table, d2) = rows_to_params(&params_to_rows(&p));
        prop_assert!(d2.is_empty(), "{d2:?}");
        prop_assert_eq!(&from_table, &p);
        let csv = params_to_csv(&p);
        let (from_csv, d3) = params_from_csv(&csv);
        prop_assert!(d3.is_empty(), "{d3:?}\n{csv}");
        prop_assert_eq!(&from_csv, &normalize_for_csv(&p));
    }
}

/// CSV has no way to tell an empty text from no text: empty descriptions, formats and
/// patterns read back as absent.
fn normalize_for_csv(params: &[Parameter]) -> Vec<Parameter> {
    params
        .iter()
        .map(|p| {
            let empty_none = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
            Parameter {
                description: empty_none(&p.description),
                format: empty_none(&p.format),
                pattern: empty_none(&p.pattern),
                fields: normalize_for_csv(&p.fields),
                items: p
                    .items
                    .as_ref()
                    .map(|i| Box::new(normalize_for_csv(std::slice::from_ref(i)).remove(0))),
                ..p.clone()
            }
        })
        .collect()
}
