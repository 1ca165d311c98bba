//! Rhai expressions, script tasks and code functions.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use starweave_engine::script::library::{Library, example_clock};
use starweave_engine::script::rhai::{RhaiEngine, RhaiLimits};
use starweave_engine::script::{
    BoxFuture, CallError, ConnectorCall, FunctionContext, LogLevel, LogLine, RunControl,
    ScriptErrorKind,
};

fn engine() -> RhaiEngine {
    RhaiEngine::new(
        Library::new(Arc::new(example_clock())),
        RhaiLimits::default(),
    )
}

fn control() -> RunControl {
    RunControl::with_timeout(Duration::from_secs(20))
}

fn vars(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

#[test]
fn expressions_compile_once_and_run_with_variables() {
    let rhai = engine();
    let ast = rhai
        .compile_expression("amount > 100 && upper(customer.name) == \"ADA\"")
        .unwrap();
    for (amount, expected) in [(150, true), (50, false)] {
        let value = rhai
            .eval_expression(
                &ast,
                &vars(json!({ "amount": amount, "customer": { "name": "ada" } })),
                &control(),
            )
            .unwrap();
        assert_eq!(value, json!(expected));
    }
    let ast = rhai
        .compile_expression("#{ total: price * qty, at: now(), tags: [\"x\", ()] }")
        .unwrap();
    let value = rhai.eval_expression(&ast, &vars(json!({ "price": 2.5, "qty": 4 })), &control());
    assert_eq!(
        value.unwrap(),
        json!({ "total": 10, "at": "2024-03-10T12:00:00Z", "tags": ["x", null] })
    );
}

#[test]
fn compile_errors_carry_the_line() {
    let err = engine()
        .compile_script("let a = 1;\nlet b = ;")
        .unwrap_err();
    assert!(
        matches!(err.kind, ScriptErrorKind::Compile { line: Some(2), .. }),
        "{err:?}"
    );
    let err = engine().compile_expression("let x = 1").unwrap_err();
    assert!(matches!(err.kind, ScriptErrorKind::Compile { .. }));
}

#[test]
fn script_tasks_return_new_and_changed_variables() {
    let rhai = engine();
    let ast = rhai
        .compile_script(
            "let total = 0;\nfor item in items { total += item.price; }\ncount += 1;\nlet label = `n=${count}`;",
        )
        .unwrap();
    let input =
        vars(json!({ "items": [{ "price": 2 }, { "price": 3.5 }], "count": 1, "untouched": "x" }));
    let changed = rhai.run_script(&ast, &input, &control()).unwrap();
    assert_eq!(
        Value::Object(changed),
        json!({ "total": 5.5, "count": 2, "label": "n=2" })
    );
}

/// Changes deep inside a value are changes; writing back what was there is not; a shadowing
/// `let` reports its last value; new variables come back in the order they were declared.
#[test]
fn script_tasks_see_deep_changes_and_ignore_rewritten_equal_values() {
    let rhai = engine();
    let ast = rhai
        .compile_script(
            "profile.address.city = \"Lyon\";\nitems.push(#{ id: 3 });\nsame = #{ a: [1, 2.5, \"x\", ()], b: true };\nlet zeta = 1;\nlet alpha = 2;\nlet zeta = zeta + 10;\nratio = 1.0;",
        )
        .unwrap();
    let input = vars(json!({
        "profile": { "name": "Ana", "address": { "city": "Paris" } },
        "items": [{ "id": 1 }, { "id": 2 }],
        "same": { "b": true, "a": [1, 2.5, "x", null] },
        "ratio": 1,
        "untouched": { "deep": [1, 2, 3] },
    }));
    let changed = rhai.run_script(&ast, &input, &control()).unwrap();
    assert_eq!(
        Value::Object(changed.clone()),
        json!({
            "profile": { "name": "Ana", "address": { "city": "Lyon" } },
            "items": [{ "id": 1 }, { "id": 2 }, { "id": 3 }],
            "zeta": 11,
            "alpha": 2,
        })
    );
    let order: Vec<&str> = changed.keys().map(String::as_str).collect();
    assert_eq!(order, ["profile", "items", "zeta", "alpha"]);
}

#[test]
fn throw_bpmn_error_is_typed_and_runtime_errors_have_lines() {
    let rhai = engine();
    let ast = rhai
        .compile_script(
            "if amount > 10 {\n  throw_bpmn_error(\"TOO_MUCH\", `amount ${amount}`);\n}",
        )
        .unwrap();
    let err = rhai
        .run_script(&ast, &vars(json!({ "amount": 11 })), &control())
        .unwrap_err();
    assert_eq!(
        err.kind,
        ScriptErrorKind::BpmnError {
            code: "TOO_MUCH".into(),
            message: "amount 11".into()
        }
    );

    let ast = rhai
        .compile_script("let a = 1;\nlet b = a + missing;")
        .unwrap();
    let err = rhai.run_script(&ast, &Map::new(), &control()).unwrap_err();
    match err.kind {
        ScriptErrorKind::Runtime { message, line, .. } => {
            assert!(message.contains("missing"), "{message}");
            assert_eq!(line, Some(2));
        }
        other => panic!("expected a runtime error, got {other:?}"),
    }
    // A library error inside a function names the built-in.
    let ast = rhai
        .compile_script("fn f(x) { decimal_div(x, \"0\") }\nf(\"1\")")
        .unwrap();
    let err = rhai
        .eval_expression(&ast, &Map::new(), &control())
        .unwrap_err();
    assert!(
        err.to_string().contains("decimal_div: division by zero"),
        "{err}"
    );
}

#[test]
fn sleep_exit_eval_and_modules_are_absent() {
    let rhai = engine();
    for source in ["sleep(10)", "exit()", "eval(\"1\")", "import \"x\" as x; 1"] {
        let outcome = rhai
            .compile_script(source)
            .and_then(|ast| rhai.eval_expression(&ast, &Map::new(), &control()));
        assert!(outcome.is_err(), "{source} should fail, got {outcome:?}");
    }
}

#[derive(Debug)]
struct Echo;

impl ConnectorCall for Echo {
    fn call<'a>(
        &'a self,
        connector: &'a str,
        method: &'a str,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
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

    fn catalog(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::from([(
            "crm".to_owned(),
            vec!["get_customer".to_owned(), "fail".to_owned()],
        )])
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn functions_get_the_same_ctx_as_javascript() {
    let rhai = engine();
    let ast = rhai
        .compile_script(
            r#"
            fn main(input, ctx) {
                ctx.log.info("start", input.id);
                let customer = ctx.connectors.crm.get_customer(#{ id: input.id });
                let other = ctx.invoke("erp", "list_orders", #{ customer: input.id });
                ctx.log.warn("region", ctx.env.REGION);
                let refused = "no";
                try { ctx.connectors.crm.fail(#{}); } catch (err) { refused = err; }
                #{ customer: customer, other: other, region: ctx.env.REGION, refused: refused }
            }
            "#,
        )
        .unwrap();
    let ctx = FunctionContext {
        env: Arc::new(BTreeMap::from([("REGION".to_owned(), "eu".to_owned())])),
        connectors: Arc::new(Echo),
    };
    let out = rhai
        .call_function(&ast, "main", json!({ "id": 3 }), &ctx, &control())
        .await
        .unwrap();
    assert_eq!(
        out.value,
        json!({
            "customer": { "connector": "crm", "method": "get_customer", "args": { "id": 3 } },
            "other": { "connector": "erp", "method": "list_orders", "args": { "customer": 3 } },
            "region": "eu",
            "refused": "crm.fail: refused",
        })
    );
    assert_eq!(
        out.logs,
        vec![
            LogLine {
                level: LogLevel::Info,
                message: "start 3".into()
            },
            LogLine {
                level: LogLevel::Warn,
                message: "region eu".into()
            },
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_bpmn_errors_come_through_calls() {
    let rhai = engine();
    let ast = rhai
        .compile_script("fn check(x) { if x < 0 { throw_bpmn_error(\"NEG\", \"negative\") } x }\nfn main(input, ctx) { check(input) }")
        .unwrap();
    let err = rhai
        .call_function(
            &ast,
            "main",
            json!(-1),
            &FunctionContext::default(),
            &control(),
        )
        .await
        .unwrap_err();
    assert_eq!(
        err.kind,
        ScriptErrorKind::BpmnError {
            code: "NEG".into(),
            message: "negative".into()
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_logged_before_a_failure_come_back_with_the_error() {
    let rhai = engine();
    let ast = rhai
        .compile_script(
            r#"
            fn main(input, ctx) {
                ctx.log.info("checking", input.id);
                if input.id > 2 { throw "too big"; }
                #{ ok: true }
            }
            "#,
        )
        .unwrap();
    let ctx = FunctionContext {
        env: Arc::new(BTreeMap::new()),
        connectors: Arc::new(Echo),
    };
    let err = rhai
        .call_function(&ast, "main", json!({ "id": 3 }), &ctx, &control())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("too big"), "{err}");
    assert_eq!(
        err.logs,
        vec![LogLine {
            level: LogLevel::Info,
            message: "checking 3".into()
        }]
    );
    // A call that succeeds keeps its own lines only.
    let out = rhai
        .call_function(&ast, "main", json!({ "id": 1 }), &ctx, &control())
        .await
        .unwrap();
    assert_eq!(out.logs.len(), 1, "{:?}", out.logs);
}

/// A run keeps at most `MAX_LOG_LINES` lines of log; the rest are counted in one last line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_keeps_a_bounded_log() {
    use starweave_engine::script::MAX_LOG_LINES;
    let rhai = engine();
    let ast = rhai
        .compile_script(
            "fn main(input, ctx) { for i in 0..input { ctx.log.info(\"line\", i); } \"done\" }",
        )
        .unwrap();
    let out = rhai
        .call_function(
            &ast,
            "main",
            json!(3000),
            &FunctionContext::default(),
            &control(),
        )
        .await
        .unwrap();
    assert_eq!(out.value, json!("done"));
    assert_eq!(out.logs.len(), MAX_LOG_LINES + 1);
    assert_eq!(out.logs[0].message, "line 0");
    let last = &out.logs[MAX_LOG_LINES];
    assert_eq!(last.level, LogLevel::Warn);
    assert!(
        last.message.starts_with("2000 more log lines dropped"),
        "{}",
        last.message
    );
}

/// Counts calls (each takes 5 ms); a call that never answers records when its wait is
/// abandoned (its future dropped).
#[derive(Debug, Default)]
struct Meter {
    calls: std::sync::atomic::AtomicUsize,
    abandoned: Arc<std::sync::atomic::AtomicBool>,
}

/// Sets its flag when dropped.
struct SetOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

impl ConnectorCall for Meter {
    fn call<'a>(
        &'a self,
        _connector: &'a str,
        method: &'a str,
        _args: Value,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        self.calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let guard = SetOnDrop(self.abandoned.clone());
        let never = method == "never";
        Box::pin(async move {
            if never {
                std::future::pending::<()>().await;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            std::mem::forget(guard);
            Ok(Value::Null)
        })
    }
}

/// Dropping a function's future stops the script on its blocking thread: it makes no more
/// connector calls, and a connector wait in progress is abandoned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_functions_future_stops_it() {
    use std::sync::atomic::Ordering;
    let rhai = engine();
    let ast = rhai
        .compile_script("fn main(input, ctx) { loop { ctx.invoke(\"meter\", input, #{}); } }")
        .unwrap();
    let meter = Arc::new(Meter::default());
    let ctx = FunctionContext {
        connectors: meter.clone(),
        ..Default::default()
    };
    let run = RunControl::with_timeout(Duration::from_secs(10));
    let call = rhai.call_function(&ast, "main", json!("tick"), &ctx, &run);
    assert!(
        tokio::time::timeout(Duration::from_millis(150), call)
            .await
            .is_err()
    );
    // At most the call in progress when the future was dropped finishes after it.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let after_drop = meter.calls.load(Ordering::SeqCst);
    assert!(after_drop > 0);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(meter.calls.load(Ordering::SeqCst), after_drop);

    // A wait that would last until the deadline ends when the future is dropped.
    let meter = Arc::new(Meter::default());
    let ctx = FunctionContext {
        connectors: meter.clone(),
        ..Default::default()
    };
    let call = rhai.call_function(&ast, "main", json!("never"), &ctx, &run);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), call)
            .await
            .is_err()
    );
    let mut waited = Duration::ZERO;
    while !meter.abandoned.load(Ordering::SeqCst) && waited < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        waited += Duration::from_millis(10);
    }
    assert!(meter.abandoned.load(Ordering::SeqCst), "the wait went on");
    assert_eq!(meter.calls.load(Ordering::SeqCst), 1);
}

/// Cancelling the run ends a connector wait with `Cancelled`, not at the deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancellation_ends_a_connector_wait() {
    let rhai = engine();
    let ast = rhai
        .compile_script("fn main(input, ctx) { ctx.invoke(\"meter\", \"never\", #{}) }")
        .unwrap();
    let ctx = FunctionContext {
        connectors: Arc::new(Meter::default()),
        ..Default::default()
    };
    let run = RunControl::with_timeout(Duration::from_secs(5));
    let cancel = run.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        cancel.store(true, std::sync::atomic::Ordering::Relaxed);
    });
    let err = rhai
        .call_function(&ast, "main", Value::Null, &ctx, &run)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ScriptErrorKind::Cancelled);
}
