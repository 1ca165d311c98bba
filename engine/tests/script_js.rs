//! JavaScript code functions, inline scripts and expressions on the QuickJS pool.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use starweave_engine::script::js::{JsPool, JsPoolConfig, run_js_script};
use starweave_engine::script::{
    BoxFuture, CallError, ConnectorCall, FunctionContext, FunctionOutput, LogLevel, LogLine,
    RunControl, ScriptError, ScriptErrorKind,
};

/// Answers every call with what it was asked, after a short delay; records the calls.
#[derive(Debug, Default)]
struct EchoConnectors {
    calls: Mutex<Vec<String>>,
}

impl ConnectorCall for EchoConnectors {
    fn call<'a>(
        &'a self,
        connector: &'a str,
        method: &'a str,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async move {
            self.calls
                .lock()
                .unwrap()
                .push(format!("{connector}.{method}"));
            tokio::time::sleep(Duration::from_millis(20)).await;
            if method == "fail" {
                return Err(CallError {
                    connector: connector.into(),
                    method: method.into(),
                    message: "refused".into(),
                });
            }
            Ok(json!({ "connector": connector, "method": method, "args": args }))
        })
    }
}

fn control() -> RunControl {
    RunControl::with_timeout(Duration::from_secs(20))
}

fn pool() -> JsPool {
    JsPool::new(JsPoolConfig {
        workers: 2,
        ..JsPoolConfig::default()
    })
}

/// Compiles `source` as `f.js` on `pool` and calls it once with `input`.
async fn call_once(
    pool: &JsPool,
    source: &str,
    input: Value,
    ctx: &FunctionContext,
) -> Result<FunctionOutput, ScriptError> {
    let module = pool
        .compile_module("f.js", source, &BTreeMap::new())
        .await?;
    pool.call(&module, input, ctx, &control()).await
}

fn fixtures() -> BTreeMap<String, String> {
    fn walk(dir: &Path, root: &Path, files: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, root, files);
            } else {
                let key = path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                files.insert(key, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut files = BTreeMap::new();
    walk(&root.join("node_modules"), &root, &mut files);
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_function_calls_two_connectors_in_parallel_and_uses_env_and_log() {
    let pool = pool();
    let source = r#"
        export default async function (input, ctx) {
            ctx.log.info("start", { id: input.id });
            const [customer, orders] = await Promise.all([
                ctx.connectors.crm.getCustomer({ id: input.id }),
                ctx.connectors.erp.listOrders({ customer: input.id }),
            ]);
            ctx.log.warn("region is", ctx.env.REGION);
            ctx.log.error(42);
            return { customer, orders, region: ctx.env.REGION, sum: sw.sum([1, 2, 3.5]) };
        }
    "#;
    let module = pool
        .compile_module("functions/load.js", source, &BTreeMap::new())
        .await
        .unwrap();
    let connectors = Arc::new(EchoConnectors::default());
    let ctx = FunctionContext {
        env: Arc::new(BTreeMap::from([(
            "REGION".to_owned(),
            "eu-west".to_owned(),
        )])),
        connectors: connectors.clone(),
    };
    let output = pool
        .call(&module, json!({ "id": 7 }), &ctx, &control())
        .await
        .unwrap();
    assert_eq!(
        output.value,
        json!({
            "customer": { "connector": "crm", "method": "getCustomer", "args": { "id": 7 } },
            "orders": { "connector": "erp", "method": "listOrders", "args": { "customer": 7 } },
            "region": "eu-west",
            "sum": 6.5,
        })
    );
    assert_eq!(
        output.logs,
        vec![
            LogLine {
                level: LogLevel::Info,
                message: r#"start {"id":7}"#.into()
            },
            LogLine {
                level: LogLevel::Warn,
                message: "region is eu-west".into()
            },
            LogLine {
                level: LogLevel::Error,
                message: "42".into()
            },
        ]
    );
    let mut calls = connectors.calls.lock().unwrap().clone();
    calls.sort();
    assert_eq!(calls, ["crm.getCustomer", "erp.listOrders"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_is_compiled_once_and_called_many_times() {
    let pool = pool();
    let source = "let calls = 0; export default (input) => ({ doubled: input * 2 });";
    let module = pool
        .compile_module("f.js", source, &BTreeMap::new())
        .await
        .unwrap();
    for n in 0..50 {
        let out = pool
            .call(&module, json!(n), &FunctionContext::default(), &control())
            .await;
        assert_eq!(out.unwrap().value, json!({ "doubled": n * 2 }));
    }
}

/// Input members are defined, not assigned: setters a module puts on `Object.prototype` or
/// `Array.prototype` do not see (or change) the values a call receives.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn input_members_are_defined_past_prototype_setters() {
    let pool = pool();
    let source = r#"
        let seen = [];
        Object.defineProperty(Object.prototype, "secret", {
            set(v) { seen.push(v); }, get() { return "from the prototype"; }, configurable: true });
        Object.defineProperty(Array.prototype, "0", {
            set(v) { seen.push(v); }, get() { return "from the prototype"; }, configurable: true });
        export default function (input) {
            return { secret: input.secret, first: input.list[0], own: Object.keys(input),
                     length: input.list.length, seen };
        }
    "#;
    let input = json!({ "secret": "s3", "list": ["a", "b"] });
    let out = call_once(&pool, source, input, &FunctionContext::default())
        .await
        .unwrap()
        .value;
    assert_eq!(
        out,
        json!({ "secret": "s3", "first": "a", "own": ["secret", "list"], "length": 2, "seen": [] })
    );
}

/// Input and output cross between JSON and QuickJS with `JSON.parse`/`JSON.stringify`
/// meaning, and what JSON text cannot carry is still answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn values_cross_as_json_with_its_rules() {
    let pool = pool();
    let source = r#"
        export default function (input) {
            switch (input.case) {
                case "echo": return { input, proto: Object.getPrototypeOf(input.obj) === Object.prototype,
                                      own: Object.keys(input.obj) };
                case "rules": return { a: undefined, f() {}, list: [undefined, () => 1, NaN, 1.5, 2 ** 40],
                                       when: { toJSON() { return "converted"; } }, big: 10n,
                                       boxed: [new String("s"), new Number(2), Object(2.5),
                                               new Boolean(false), Object(true)],
                                       notBoxed: Object.create(Number.prototype) };
                case "cycle": { const a = {}; a.self = a; return a; }
                case "deep": { let v = []; for (let i = 0; i < 200; i++) v = [v]; return v; }
                case "tojson-throws": return { x: { toJSON() { throw new Error("no JSON for you"); } } };
                case "big": return { text: "x".repeat(2000) };
            }
        }
    "#;
    let module = pool
        .compile_module("f.js", source, &BTreeMap::new())
        .await
        .unwrap();
    let ctx = FunctionContext::default();
    let run = control();
    let call = |input: Value| pool.call(&module, input, &ctx, &run);

    let input = json!({ "case": "echo", "obj": { "__proto__": { "polluted": true }, "n": 1 },
                        "nested": [1, "two", null, { "three": [3.5] }] });
    let out = call(input.clone()).await.unwrap().value;
    assert_eq!(out["input"], input);
    assert_eq!(
        out["proto"],
        json!(true),
        "a __proto__ key is an own property"
    );
    assert_eq!(out["own"], json!(["__proto__", "n"]));

    // BigInt has no JSON text: the member-by-member converter answers it as a string.
    let out = call(json!({ "case": "rules" })).await.unwrap().value;
    assert_eq!(
        out,
        json!({ "list": [null, null, null, 1.5, 1099511627776_i64], "when": "converted", "big": "10",
                "boxed": ["s", 2, 2.5, false, true], "notBoxed": {} })
    );

    let err = call(json!({ "case": "cycle" })).await.unwrap_err();
    assert!(err.to_string().contains("cycle"), "{err}");
    // Deeper than serde's parser goes, within the converter's limit: still converted.
    let out = call(json!({ "case": "deep" })).await.unwrap().value;
    let mut depth = 0;
    let mut v = &out;
    while let Some(inner) = v.as_array().and_then(|a| a.first()) {
        depth += 1;
        v = inner;
    }
    assert_eq!(depth, 200);
    let err = call(json!({ "case": "tojson-throws" })).await.unwrap_err();
    assert!(err.to_string().contains("no JSON for you"), "{err}");

    let small = JsPool::new(JsPoolConfig {
        workers: 1,
        limits: starweave_engine::script::js::JsLimits {
            max_output_bytes: 1000,
            ..Default::default()
        },
        ..JsPoolConfig::default()
    });
    let module = small
        .compile_module("f.js", source, &BTreeMap::new())
        .await
        .unwrap();
    let err = small
        .call(&module, json!({ "case": "big" }), &ctx, &control())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind,
            ScriptErrorKind::OutputTooLarge { limit_bytes: 1000 }
        ),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connector_failures_reject_the_promise_and_can_be_caught() {
    let pool = pool();
    let source = r#"
        export default async function (input, ctx) {
            try { await ctx.connectors.crm.fail({}); return "no"; }
            catch (err) { return "caught: " + err.message; }
        }
    "#;
    let ctx = FunctionContext {
        connectors: Arc::new(EchoConnectors::default()),
        ..Default::default()
    };
    let out = call_once(&pool, source, Value::Null, &ctx).await.unwrap();
    assert_eq!(out.value, json!("caught: crm.fail: refused"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bpmn_error_is_typed_and_other_exceptions_carry_message_and_line() {
    let pool = pool();
    let source = "export default async function (input) {\n  if (input.bad) {\n    throw new BpmnError(\"CREDIT_LIMIT\", \"limit exceeded\");\n  }\n  null.boom;\n}\n";
    let module = pool
        .compile_module("f.js", source, &BTreeMap::new())
        .await
        .unwrap();
    let ctx = FunctionContext::default();
    let err = pool
        .call(&module, json!({ "bad": true }), &ctx, &control())
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        ScriptErrorKind::BpmnError {
            code: "CREDIT_LIMIT".into(),
            message: "limit exceeded".into()
        }
    );
    let err = pool
        .call(&module, json!({}), &ctx, &control())
        .await
        .unwrap_err();
    match err.kind {
        ScriptErrorKind::Runtime {
            message,
            line,
            stack,
        } => {
            assert!(message.contains("TypeError"), "{message}");
            assert_eq!(line, Some(5));
            assert!(stack.is_some());
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syntax_errors_are_reported_at_compile_time() {
    let pool = pool();
    let err = pool
        .compile_module("f.js", "export default function ( {", &BTreeMap::new())
        .await;
    assert!(matches!(
        err.unwrap_err().kind,
        ScriptErrorKind::Compile { .. }
    ));
    let err = pool
        .compile_module("f.js", "export const x = 1;", &BTreeMap::new())
        .await;
    assert!(err.unwrap_err().to_string().contains("default export"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendored_packages_resolve_from_node_modules() {
    let pool = pool();
    let source = r#"
        import tinydate from "tinydate";
        import { greet } from "@acme/greet";
        export default function (input) {
            return { date: tinydate(input.at).format("YYYY/MM/DD"), greeting: greet(input.name, input.at) };
        }
    "#;
    let module = pool
        .compile_module("functions/greet.js", source, &fixtures())
        .await
        .unwrap();
    let input = json!({ "at": "2024-03-05T10:00:00Z", "name": "Ada" });
    let out = pool
        .call(&module, input, &FunctionContext::default(), &control())
        .await
        .unwrap();
    assert_eq!(
        out.value,
        json!({ "date": "2024/03/05", "greeting": "Hello Ada, today is 05.03.2024" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn there_are_no_os_std_or_file_modules() {
    let pool = pool();
    for import in [
        r#"import * as os from "os";"#,
        r#"import * as std from "std";"#,
        r#"import fs from "fs";"#,
        r#"import x from "/etc/passwd";"#,
        r#"import x from "../../outside.js";"#,
    ] {
        let source = format!("{import}\nexport default () => 1;");
        let err = pool
            .compile_module("f.js", &source, &fixtures())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err.kind,
                ScriptErrorKind::Compile { .. } | ScriptErrorKind::Runtime { .. }
            ),
            "{import}: {err}"
        );
    }
    // Dynamic import fails the same way, at run time.
    let source = r#"export default async () => { try { await import("os"); return "loaded"; } catch (e) { return "refused"; } };"#;
    let out = call_once(&pool, source, Value::Null, &FunctionContext::default())
        .await
        .unwrap();
    assert_eq!(out.value, json!("refused"));
    let source = "export default () => [typeof require, typeof process, typeof std, typeof os, typeof fetch];";
    let out = call_once(&pool, source, Value::Null, &FunctionContext::default())
        .await
        .unwrap();
    assert_eq!(
        out.value,
        json!([
            "undefined",
            "undefined",
            "undefined",
            "undefined",
            "undefined"
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inline_scripts_read_and_write_vars() {
    let vars = json!({ "amount": 120, "items": ["a", "b"] });
    let source =
        "vars.total = vars.amount * 1.2;\nvars.count = vars.items.length;\ndelete vars.items;";
    let out = run_js_script(source, vars, &control()).await.unwrap();
    assert_eq!(out, json!({ "amount": 120, "total": 144, "count": 2 }));

    let pool = pool();
    let err = pool
        .run_script("throw new BpmnError('E1', 'nope');", json!({}), &control())
        .await;
    assert_eq!(
        err.unwrap_err().kind,
        ScriptErrorKind::BpmnError {
            code: "E1".into(),
            message: "nope".into()
        }
    );
    let err = pool
        .run_script("undeclared = 1;", json!({}), &control())
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind, ScriptErrorKind::Runtime { line: Some(1), .. }),
        "{err:?}"
    );
    let value = pool
        .eval_expression(
            "vars.amount > 100 && sw.upper(vars.name) === 'ADA'",
            json!({ "amount": 120, "name": "ada" }),
            &control(),
        )
        .await;
    assert_eq!(value.unwrap(), json!(true));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_stops_a_waiting_function() {
    let pool = pool();
    let source =
        "export default async (input, ctx) => { await ctx.connectors.slow.wait({}); return 1; };";
    let module = pool
        .compile_module("f.js", source, &BTreeMap::new())
        .await
        .unwrap();

    #[derive(Debug)]
    struct Never;
    impl ConnectorCall for Never {
        fn call<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
            _: Value,
        ) -> BoxFuture<'a, Result<Value, CallError>> {
            Box::pin(std::future::pending())
        }
    }
    let ctx = FunctionContext {
        connectors: Arc::new(Never),
        ..Default::default()
    };
    let control = control();
    let cancel = control.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let err = pool
        .call(&module, Value::Null, &ctx, &control)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ScriptErrorKind::Cancelled);

    let short = RunControl::with_timeout(Duration::from_millis(50));
    let err = pool
        .call(&module, Value::Null, &ctx, &short)
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind, ScriptErrorKind::Timeout { .. }),
        "{err:?}"
    );
}

/// Short functions answer on the calling thread; a function that runs past the inline budget
/// or calls a connector is answered by a worker, with the logs and result of that run only,
/// and its later calls go straight to the workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_calls_run_inline_and_the_others_move_to_workers() {
    let pool = JsPool::new(JsPoolConfig {
        workers: 1,
        inline_budget: Some(Duration::from_millis(5)),
        ..JsPoolConfig::default()
    });
    let ctx = FunctionContext {
        connectors: Arc::new(EchoConnectors::default()),
        ..Default::default()
    };
    let short = pool
        .compile_module("short.js", "export default (n) => n + 1;", &BTreeMap::new())
        .await
        .unwrap();
    for n in 0..10 {
        let out = pool.call(&short, json!(n), &ctx, &control()).await.unwrap();
        assert_eq!(out.value, json!(n + 1));
    }
    assert_eq!(pool.calls().inline, 10);
    assert_eq!(pool.calls().workers, 0);

    // Busy for 60 ms: well past the budget, well within the deadline.
    let busy = r#"
        export default (input) => {
            const start = Date.now();
            let spins = 0;
            while (Date.now() - start < 60) spins++;
            return { done: input.tag, spun: spins > 0 };
        };
    "#;
    let busy = pool
        .compile_module("busy.js", busy, &BTreeMap::new())
        .await
        .unwrap();
    for _ in 0..2 {
        let out = pool
            .call(&busy, json!({ "tag": "b" }), &ctx, &control())
            .await
            .unwrap();
        assert_eq!(out.value, json!({ "done": "b", "spun": true }));
    }
    assert_eq!(pool.calls().inline, 10);
    assert_eq!(pool.calls().workers, 2);

    // The inline attempt meets the connector, catches its refusal and logs: none of that may
    // leak into the answer, which is the worker's run with the connector's result.
    let uses_connector = r#"
        export default async (input, ctx) => {
            ctx.log.info("asking");
            try {
                const answer = await ctx.connectors.crm.get({ id: input });
                return { from: answer.connector, id: answer.args.id };
            } catch (err) {
                return { failed: err.message };
            }
        };
    "#;
    let uses_connector = pool
        .compile_module("conn.js", uses_connector, &BTreeMap::new())
        .await
        .unwrap();
    for id in [1, 2] {
        let out = pool
            .call(&uses_connector, json!(id), &ctx, &control())
            .await
            .unwrap();
        assert_eq!(out.value, json!({ "from": "crm", "id": id }));
        assert_eq!(out.logs.len(), 1, "{:?}", out.logs);
    }
    assert_eq!(pool.calls().workers, 4);

    // The short function is still answered inline.
    let out = pool
        .call(&short, json!(41), &ctx, &control())
        .await
        .unwrap();
    assert_eq!(out.value, json!(42));
    assert_eq!(pool.calls().inline, 11);
}

/// Without an inline budget every call goes to a worker, and the answers are the same.
#[tokio::test(flavor = "current_thread")]
async fn without_an_inline_budget_every_call_goes_to_a_worker() {
    let pool = JsPool::new(JsPoolConfig {
        workers: 1,
        inline_budget: None,
        ..JsPoolConfig::default()
    });
    let module = pool
        .compile_module(
            "f.js",
            "export default (s) => s.toUpperCase();",
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    let out = pool
        .call(
            &module,
            json!("abc"),
            &FunctionContext::default(),
            &control(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!("ABC"));
    assert_eq!(
        pool.calls(),
        starweave_engine::script::js::JsCalls {
            inline: 0,
            workers: 1
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_logged_before_a_failure_come_back_with_the_error() {
    let pool = pool();
    let ctx = FunctionContext::default();
    let err = call_once(
        &pool,
        r#"export default function (input, ctx) {
            ctx.log.info("checking", input.id);
            ctx.log.warn("about to fail");
            throw new Error("too big");
        }"#,
        json!({ "id": 3 }),
        &ctx,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("too big"), "{err}");
    assert_eq!(
        err.logs,
        vec![
            LogLine {
                level: LogLevel::Info,
                message: "checking 3".into()
            },
            LogLine {
                level: LogLevel::Warn,
                message: "about to fail".into()
            },
        ]
    );
    // A run stopped at its deadline (its runtime is renewed afterwards) keeps what it logged.
    let module = pool
        .compile_module(
            "loop.js",
            r#"export default function (input, ctx) {
                ctx.log.info("looping");
                for (;;) {}
            }"#,
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    let err = pool
        .call(
            &module,
            json!({}),
            &ctx,
            &RunControl::with_timeout(Duration::from_millis(300)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ScriptErrorKind::Timeout { .. }), "{err}");
    assert_eq!(err.logs.len(), 1, "{:?}", err.logs);
    assert_eq!(err.logs[0].message, "looping");
}

/// Fails every call with the method's name as its message.
#[derive(Debug)]
struct FailingConnectors;

impl ConnectorCall for FailingConnectors {
    fn call<'a>(
        &'a self,
        connector: &'a str,
        method: &'a str,
        _args: Value,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async move {
            Err(CallError {
                connector: connector.into(),
                method: method.into(),
                message: method.replace('_', " "),
            })
        })
    }
}

/// Only the run's stop flag, allocation failures and QuickJS' own errors are budget faults:
/// errors whose text merely reads like one, from the script or a connector, and a thrown or
/// rejected `undefined` are runtime errors, and the worker keeps its module (no reset).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_are_classified_by_their_origin_not_their_text() {
    let pool = JsPool::new(JsPoolConfig {
        workers: 1,
        inline_budget: None,
        ..JsPoolConfig::default()
    });
    let source = r#"
        let calls = 0;
        export default async (input, ctx) => {
            calls += 1;
            switch (input) {
                case "count": return calls;
                case "memory": throw new Error("out of memory");
                case "internal": throw new InternalError("out of memory, says the script");
                case "stack": throw new Error("stack overflow");
                case "range": throw new RangeError("call stack size exceeded somewhere");
                case "interrupted": throw new Error("interrupted");
                case "connector": return await ctx.connectors.db.out_of_memory({});
                case "connector-stack": return await ctx.connectors.db.stack_overflow({});
                case "reject": return Promise.reject();
                case "undefined": throw undefined;
            }
        };
    "#;
    let module = pool
        .compile_module("f.js", source, &BTreeMap::new())
        .await
        .unwrap();
    let ctx = FunctionContext {
        connectors: Arc::new(FailingConnectors),
        ..Default::default()
    };
    let count = pool.call(&module, json!("count"), &ctx, &control()).await;
    assert_eq!(count.unwrap().value, json!(1));
    let cases = [
        "memory",
        "internal",
        "stack",
        "range",
        "interrupted",
        "connector",
        "connector-stack",
        "reject",
        "undefined",
    ];
    let mut misread = Vec::new();
    for case in cases {
        let err = pool
            .call(&module, json!(case), &ctx, &control())
            .await
            .unwrap_err();
        if !matches!(err.kind, ScriptErrorKind::Runtime { .. }) {
            misread.push(format!("{case}: {err}"));
        }
    }
    assert!(misread.is_empty(), "{misread:#?}");
    // Every call ran in the same module context: none of them reset the worker.
    let count = pool.call(&module, json!("count"), &ctx, &control()).await;
    assert_eq!(count.unwrap().value, json!(cases.len() + 2));
}

/// A run keeps at most `MAX_LOG_LINES` lines and `MAX_LOG_BYTES` bytes of log; what is
/// dropped is counted in one last line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_keeps_a_bounded_log() {
    use starweave_engine::script::{MAX_LOG_BYTES, MAX_LOG_LINES};
    let pool = pool();
    let module = pool
        .compile_module(
            "f.js",
            r#"export default (input, ctx) => {
                for (let i = 0; i < input.lines; i++) ctx.log.info("x".repeat(input.size), i);
                return "done";
            };"#,
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    let ctx = FunctionContext::default();
    let out = pool
        .call(
            &module,
            json!({ "lines": 5000, "size": 1 }),
            &ctx,
            &control(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!("done"));
    assert_eq!(out.logs.len(), MAX_LOG_LINES + 1);
    assert_eq!(
        out.logs[MAX_LOG_LINES - 1].message,
        format!("x {}", MAX_LOG_LINES - 1)
    );
    let last = &out.logs[MAX_LOG_LINES];
    assert_eq!(last.level, LogLevel::Warn);
    assert!(
        last.message.starts_with("4000 more log lines dropped"),
        "{}",
        last.message
    );

    // By bytes: two lines of 40 % of the budget fit, the third does not.
    let size = MAX_LOG_BYTES * 2 / 5;
    let out = pool
        .call(
            &module,
            json!({ "lines": 5, "size": size }),
            &ctx,
            &control(),
        )
        .await
        .unwrap();
    let lengths: Vec<usize> = out.logs.iter().map(|line| line.message.len()).collect();
    assert_eq!(lengths.len(), 3, "{lengths:?}");
    assert_eq!(&lengths[..2], [size + 2, size + 2]);
    assert!(out.logs[2].message.starts_with("3 more log lines dropped"));
}
