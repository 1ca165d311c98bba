//! Sandbox faults fail their own run, with the right error, while healthy runs next to them
//! finish with correct results. No wall-clock assertions: only the kind of error.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use starweave_engine::script::js::{JsLimits, JsModule, JsPool, JsPoolConfig};
use starweave_engine::script::library::Library;
use starweave_engine::script::rhai::{RhaiEngine, RhaiLimits};
use starweave_engine::script::{FunctionContext, RunControl, ScriptError, ScriptErrorKind};

/// Recognises the expected error kind.
type Expect = fn(&ScriptError) -> bool;

fn is_timeout(err: &ScriptError) -> bool {
    matches!(err.kind, ScriptErrorKind::Timeout { .. })
}
fn is_memory(err: &ScriptError) -> bool {
    matches!(err.kind, ScriptErrorKind::Memory { .. })
}
fn is_stack(err: &ScriptError) -> bool {
    matches!(err.kind, ScriptErrorKind::StackOverflow { .. })
}
fn is_output(err: &ScriptError) -> bool {
    matches!(err.kind, ScriptErrorKind::OutputTooLarge { .. })
}

async fn js_healthy_runs(pool: &JsPool, module: &JsModule, rounds: i64) {
    for n in 0..rounds {
        let control = RunControl::with_timeout(Duration::from_secs(30));
        let out = pool
            .call(
                module,
                json!({ "n": n }),
                &FunctionContext::default(),
                &control,
            )
            .await;
        assert_eq!(
            out.expect("healthy JS run").value,
            json!({ "square": n * n, "hash": "2cf24dba5fb0a30e" })
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_faults_fail_their_run_while_healthy_runs_finish() {
    let pool = Arc::new(JsPool::new(JsPoolConfig {
        workers: 3,
        limits: JsLimits {
            memory_bytes: 32 << 20,
            stack_bytes: 256 << 10,
            max_output_bytes: 4 << 20,
        },
        library: Library::default(),
        inline_budget: JsPoolConfig::default().inline_budget,
    }));
    let modules = BTreeMap::new();
    let healthy = pool
        .compile_module(
            "healthy.js",
            "export default async (input) => ({ square: input.n * input.n, hash: sw.substring(sw.sha256('hello'), 0, 16) });",
            &modules,
        )
        .await
        .unwrap();
    let faults: [(&str, &str, u64, Expect); 6] = [
        (
            "loop.js",
            "export default () => { while (true) {} };",
            300,
            is_timeout,
        ),
        (
            "async_loop.js",
            "export default async () => { await null; for (;;) { Math.random(); } };",
            300,
            is_timeout,
        ),
        (
            "memory.js",
            "export default () => { const a = []; while (true) { a.push('x'.repeat(1024) + a.length); } };",
            30_000,
            is_memory,
        ),
        (
            "doubling.js",
            "export default () => { let s = 'x'; for (;;) { s = s + s; } };",
            30_000,
            is_memory,
        ),
        (
            "stack.js",
            "const f = (n) => f(n + 1) + 1; export default () => f(0);",
            30_000,
            is_stack,
        ),
        (
            "output.js",
            "export default () => new Array(1000000).fill('y'.repeat(100));",
            30_000,
            is_output,
        ),
    ];
    let mut tasks = Vec::new();
    for (name, source, timeout_ms, expected) in faults {
        let module = pool.compile_module(name, source, &modules).await.unwrap();
        let pool = pool.clone();
        tasks.push(tokio::spawn(async move {
            let control = RunControl::with_timeout(Duration::from_millis(timeout_ms));
            let err = pool
                .call(&module, Value::Null, &FunctionContext::default(), &control)
                .await
                .unwrap_err();
            assert!(expected(&err), "{name}: unexpected {err:?}");
            err.to_string()
        }));
    }
    js_healthy_runs(&pool, &healthy, 40).await;
    for task in tasks {
        let message = task.await.unwrap();
        assert!(!message.is_empty());
    }
    // The pool is still fine after every fault.
    js_healthy_runs(&pool, &healthy, 5).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn javascript_cancellation_stops_a_busy_loop() {
    let pool = JsPool::new(JsPoolConfig {
        workers: 1,
        ..JsPoolConfig::default()
    });
    let module = pool
        .compile_module(
            "spin.js",
            "export default () => { for (;;) {} };",
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    let control = RunControl::with_timeout(Duration::from_secs(60));
    let cancel = control.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let err = pool
        .call(&module, Value::Null, &FunctionContext::default(), &control)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ScriptErrorKind::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rhai_faults_fail_their_run_while_healthy_runs_finish() {
    let rhai = RhaiEngine::new(
        Library::default(),
        RhaiLimits {
            max_operations: 50_000_000,
            max_call_levels: 48,
            max_string_size: 4 << 20,
            max_array_size: 10_000,
            max_output_bytes: 1 << 20,
            ..RhaiLimits::default()
        },
    );
    let healthy = rhai
        .compile_expression("#{ square: n * n, hash: substring(sha256(\"hello\"), 0, 16) }")
        .unwrap();
    let faults: [(&str, u64, Expect); 6] = [
        ("loop { }", 300, is_timeout),
        ("let s = \"x\"; loop { s += s; }", 30_000, is_memory),
        ("let a = []; loop { a.push(1); }", 30_000, is_memory),
        ("let a = [1]; loop { a += a; }", 30_000, is_memory),
        ("fn f(n) { f(n + 1) + 1 } f(0)", 30_000, is_stack),
        (
            "let s = \"y\"; while s.len() < 2000000 { s += s; } s",
            30_000,
            is_output,
        ),
    ];
    let mut tasks = Vec::new();
    for (source, timeout_ms, expected) in faults {
        let rhai = rhai.clone();
        tasks.push(tokio::task::spawn_blocking(move || {
            let control = RunControl::with_timeout(Duration::from_millis(timeout_ms));
            let outcome = rhai
                .compile_script(source)
                .and_then(|ast| rhai.eval_expression(&ast, &Map::new(), &control));
            let err = outcome.unwrap_err();
            assert!(expected(&err), "{source}: unexpected {err:?}");
        }));
    }
    // An infinite loop in a code function, on the blocking pool, stopped by its deadline.
    let function = rhai
        .compile_script("fn main(input, ctx) { let i = 0; loop { i += 1; } }")
        .unwrap();
    let function_run = {
        let rhai = rhai.clone();
        tokio::spawn(async move {
            let control = RunControl::with_timeout(Duration::from_millis(300));
            rhai.call_function(
                &function,
                "main",
                Value::Null,
                &FunctionContext::default(),
                &control,
            )
            .await
        })
    };
    for n in 0..200_i64 {
        let mut vars = Map::new();
        vars.insert("n".into(), json!(n));
        let control = RunControl::with_timeout(Duration::from_secs(30));
        let value = rhai
            .eval_expression(&healthy, &vars, &control)
            .expect("healthy Rhai run");
        assert_eq!(
            value,
            json!({ "square": n * n, "hash": "2cf24dba5fb0a30e" })
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    for task in tasks {
        task.await.unwrap();
    }
    let err = function_run.await.unwrap().unwrap_err();
    assert!(is_timeout(&err), "{err:?}");
}

#[test]
fn rhai_operation_budget_and_cancellation() {
    let rhai = RhaiEngine::new(
        Library::default(),
        RhaiLimits {
            max_operations: 10_000,
            ..RhaiLimits::default()
        },
    );
    let ast = rhai
        .compile_script("let i = 0; while i < 1000000 { i += 1; } i")
        .unwrap();
    let err = rhai
        .eval_expression(
            &ast,
            &Map::new(),
            &RunControl::with_timeout(Duration::from_secs(30)),
        )
        .unwrap_err();
    assert!(is_timeout(&err), "{err:?}");

    let rhai = RhaiEngine::new(Library::default(), RhaiLimits::default());
    let ast = rhai.compile_script("loop {}").unwrap();
    let control = RunControl::with_timeout(Duration::from_secs(60));
    control
        .cancel
        .store(true, std::sync::atomic::Ordering::Relaxed);
    let err = rhai
        .eval_expression(&ast, &Map::new(), &control)
        .unwrap_err();
    assert_eq!(err.kind, ScriptErrorKind::Cancelled);
}

/// Records connector calls as they start and as they finish (each takes 100 ms).
#[derive(Debug, Default)]
struct Recorder {
    events: std::sync::Mutex<Vec<String>>,
}

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl starweave_engine::script::ConnectorCall for Recorder {
    fn call<'a>(
        &'a self,
        connector: &'a str,
        method: &'a str,
        _args: Value,
    ) -> starweave_engine::script::BoxFuture<'a, Result<Value, starweave_engine::script::CallError>>
    {
        Box::pin(async move {
            let name = format!("{connector}.{method}");
            self.events.lock().unwrap().push(format!("started {name}"));
            tokio::time::sleep(Duration::from_millis(100)).await;
            self.events.lock().unwrap().push(format!("finished {name}"));
            Ok(json!(name))
        })
    }
}

/// One worker, no inline calls: every job of a test runs in the same runtime, in order.
fn one_worker(max_output_bytes: usize) -> JsPool {
    JsPool::new(JsPoolConfig {
        workers: 1,
        limits: JsLimits {
            max_output_bytes,
            ..JsLimits::default()
        },
        library: Library::default(),
        inline_budget: None,
    })
}

/// `v = [v, v]` forty times: 2⁴⁰ leaves in a few hundred bytes of QuickJS memory.
const SHARED_PARTS: &str = r#"let v = "x"; for (let i = 0; i < 40; i++) v = [v, v];"#;

/// Values handed to `sw` built-ins and connectors are converted within the output budget,
/// and the script gets an exception it can catch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arguments_sharing_their_parts_fail_within_the_budget() {
    let pool = one_worker(JsLimits::default().max_output_bytes);
    let control = RunControl::with_timeout(Duration::from_secs(30));
    let err = pool
        .run_script(
            &format!("{SHARED_PARTS} vars.r = sw.upper(v);"),
            json!({}),
            &control,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err.kind, ScriptErrorKind::Runtime { message, .. }
            if message.contains("RangeError") && message.contains("sw.upper") && message.contains("larger than")),
        "{err:?}"
    );
    let out = pool
        .run_script(
            &format!("{SHARED_PARTS} try {{ sw.upper(v); }} catch (e) {{ vars.caught = e.name; }}"),
            json!({}),
            &control,
        )
        .await
        .unwrap();
    assert_eq!(out, json!({ "caught": "RangeError" }));

    let recorder = Arc::new(Recorder::default());
    let ctx = FunctionContext {
        connectors: recorder.clone(),
        ..FunctionContext::default()
    };
    let module = pool
        .compile_module(
            "send.js",
            &format!("export default async (input, ctx) => {{ {SHARED_PARTS} return ctx.connectors.crm.save(v); }};"),
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    let err = pool
        .call(&module, Value::Null, &ctx, &control)
        .await
        .unwrap_err();
    assert!(
        matches!(&err.kind, ScriptErrorKind::Runtime { message, .. }
            if message.contains("crm.save") && message.contains("larger than")),
        "{err:?}"
    );
    assert!(recorder.events().is_empty(), "{:?}", recorder.events());
}

/// With a budget too large to stop it, the conversion still ends at the run's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_argument_conversion_stops_at_the_deadline() {
    let pool = one_worker(usize::MAX);
    let control = RunControl::with_timeout(Duration::from_millis(100));
    let err = pool
        .run_script(
            &format!("{SHARED_PARTS} vars.r = sw.upper(v);"),
            json!({}),
            &control,
        )
        .await
        .unwrap_err();
    assert!(is_timeout(&err), "{err:?}");
    // The worker goes on.
    let control = RunControl::with_timeout(Duration::from_secs(30));
    let out = pool
        .eval_expression("sw.upper('ok')", json!({}), &control)
        .await;
    assert_eq!(out.unwrap(), json!("OK"));
}

/// Promise jobs a script task leaves queued never run, in particular not at the start of the
/// next job on the same worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_a_script_leaves_queued_do_not_run_in_the_next_job() {
    let pool = one_worker(JsLimits::default().max_output_bytes);
    // Compiled first: compiling drives the job queue too, and the next job must be the call.
    let module = pool
        .compile_module("next.js", "export default () => 42;", &BTreeMap::new())
        .await
        .unwrap();
    let control = RunControl::with_timeout(Duration::from_secs(5));
    let out = pool
        .run_script(
            "Promise.resolve().then(() => { for (;;) {} }); vars.done = true;",
            json!({}),
            &control,
        )
        .await
        .unwrap();
    assert_eq!(out, json!({ "done": true }));
    let out = pool
        .call(&module, Value::Null, &FunctionContext::default(), &control)
        .await
        .unwrap();
    assert_eq!(out.value, json!(42));
}

/// A function that throws before awaiting what it started leaves nothing behind: its queued
/// job does not run in the next call (where it would reach that call's connectors) and its
/// pending connector call is cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_throws_leaves_no_job_or_connector_call_behind() {
    let pool = one_worker(JsLimits::default().max_output_bytes);
    let control = RunControl::with_timeout(Duration::from_secs(30));
    // Both compiled first: compiling drives the job queue too, and the job after the
    // throwing call must be the other call.
    let other = pool
        .compile_module(
            "other.js",
            "export default async () => 1;",
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    let first = Arc::new(Recorder::default());
    let thrower = pool
        .compile_module(
            "thrower.js",
            r#"export default (input, ctx) => {
                Promise.resolve().then(() => ctx.connectors.leak.late({}));
                ctx.connectors.slow.record({});
                throw new Error("boom");
            };"#,
            &BTreeMap::new(),
        )
        .await
        .unwrap();
    let ctx = FunctionContext {
        connectors: first.clone(),
        ..FunctionContext::default()
    };
    let err = pool
        .call(&thrower, Value::Null, &ctx, &control)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");

    let second = Arc::new(Recorder::default());
    let ctx = FunctionContext {
        connectors: second.clone(),
        ..FunctionContext::default()
    };
    let out = pool
        .call(&other, Value::Null, &ctx, &control)
        .await
        .unwrap();
    assert_eq!(out.value, json!(1));
    // Long enough for a call left running to finish.
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(second.events().is_empty(), "{:?}", second.events());
    // Cancelled when the call failed: it may not even have started, it never finishes.
    let events = first.events();
    assert!(
        events.is_empty() || events == ["started slow.record"],
        "{events:?}"
    );
}

/// Script tasks and expressions share a context per worker: writes to its globals and
/// built-in objects throw, and later runs see the intrinsics as they were.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_tasks_cannot_change_what_later_scripts_see() {
    let pool = one_worker(JsLimits::default().max_output_bytes);
    let control = RunControl::with_timeout(Duration::from_secs(30));
    for attack in [
        r#"Object.prototype.toJSON = () => "x";"#,
        "Array.prototype.includes = () => true;",
        "globalThis.secret = vars.token;",
        r#"sw.upper = () => "hacked";"#,
        "JSON.stringify = () => '{}';",
        "Object.getPrototypeOf([][Symbol.iterator]()).next = () => ({ done: true });",
        "Object.prototype.toString = () => 'mine';",
        "Error.prototype.name = 'Changed';",
        "delete Array.prototype.map;",
    ] {
        let err = pool
            .run_script(attack, json!({ "token": "s3cret" }), &control)
            .await
            .unwrap_err();
        assert!(
            matches!(&err.kind, ScriptErrorKind::Runtime { message, .. } if message.contains("TypeError")),
            "{attack}: {err:?}"
        );
    }
    let out = pool
        .run_script(
            "vars.list = [1, 2]; vars.has = vars.list.includes(3); vars.secret = typeof globalThis.secret; \
             vars.upper = sw.upper('a'); vars.json = JSON.stringify({ a: 1 }); vars.spread = [...[3, 4]]; \
             vars.text = String({}); vars.error = String(new TypeError('t')); vars.mapped = [1].map((n) => n + 1);",
            json!({}),
            &control,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({ "list": [1, 2], "has": false, "secret": "undefined", "upper": "A",
                "json": "{\"a\":1}", "spread": [3, 4], "text": "[object Object]",
                "error": "TypeError: t", "mapped": [2] })
    );
    let seen = pool
        .eval_expression("[[1].includes(2), typeof secret]", json!({}), &control)
        .await
        .unwrap();
    assert_eq!(seen, json!([false, "undefined"]));
}

/// What code commonly sets on its own objects still works in the frozen context: an error's
/// name and message, an object's own `toString`, a `BpmnError`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn own_objects_can_still_override_inherited_members() {
    let pool = one_worker(JsLimits::default().max_output_bytes);
    let control = RunControl::with_timeout(Duration::from_secs(30));
    let out = pool
        .run_script(
            r#"const e = new Error(); e.name = "Custom"; e.message = "went wrong";
               const o = { n: 2 }; o.toString = function () { return "n=" + this.n; };
               o.valueOf = () => 40; o.constructor = "mine";
               class Money { toString() { return "5 EUR"; } }
               vars.error = String(e); vars.text = `${o}`; vars.sum = o + 2;
               vars.money = String(new Money()); vars.ctor = o.constructor;"#,
            json!({}),
            &control,
        )
        .await
        .unwrap();
    assert_eq!(
        out,
        json!({ "error": "Custom: went wrong", "text": "n=2", "sum": 42, "money": "5 EUR", "ctor": "mine" })
    );
    let err = pool
        .run_script("throw new BpmnError('E1', 'nope');", json!({}), &control)
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        ScriptErrorKind::BpmnError {
            code: "E1".into(),
            message: "nope".into()
        }
    );
}
