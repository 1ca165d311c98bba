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
