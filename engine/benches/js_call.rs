//! Calling an empty JavaScript code function through the pool — inline on the calling thread
//! (the default) and handed to a worker thread — against evaluating a trivial compiled Rhai
//! expression, in the same run.

use std::collections::BTreeMap;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use starweave_engine::script::js::{JsPool, JsPoolConfig};
use starweave_engine::script::rhai::{RhaiEngine, RhaiLimits};
use starweave_engine::script::{FunctionContext, RunControl};

fn js_call(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let pool = JsPool::new(JsPoolConfig {
        workers: 1,
        ..JsPoolConfig::default()
    });
    let on_workers = JsPool::new(JsPoolConfig {
        workers: 1,
        inline_budget: None,
        ..JsPoolConfig::default()
    });
    let worker_module = runtime
        .block_on(on_workers.compile_module(
            "empty.js",
            "export default function (input, ctx) {}",
            &BTreeMap::new(),
        ))
        .expect("compile");
    let module = runtime
        .block_on(pool.compile_module(
            "empty.js",
            "export default function (input, ctx) {}",
            &BTreeMap::new(),
        ))
        .expect("compile");
    let async_module = runtime
        .block_on(pool.compile_module(
            "empty_async.js",
            "export default async function (input, ctx) { return input; }",
            &BTreeMap::new(),
        ))
        .expect("compile");
    let ctx = FunctionContext::default();
    let control = RunControl::with_timeout(Duration::from_secs(3600));

    let rhai = RhaiEngine::new(Default::default(), RhaiLimits::default());
    let expression = rhai.compile_expression("x + 1").expect("compile");
    let mut vars = Map::new();
    vars.insert("x".into(), json!(41));

    let mut group = c.benchmark_group("script_call");
    group.bench_function("rhai_trivial_expression (baseline)", |b| {
        b.iter(|| {
            rhai.eval_expression(&expression, &vars, &control)
                .expect("rhai")
        })
    });
    group.bench_function("js_empty_function_on_a_worker", |b| {
        b.iter(|| {
            runtime
                .block_on(on_workers.call(&worker_module, Value::Null, &ctx, &control))
                .expect("js")
        })
    });
    group.bench_function("js_empty_function_inline", |b| {
        b.iter(|| {
            runtime
                .block_on(pool.call(&module, Value::Null, &ctx, &control))
                .expect("js")
        })
    });
    group.bench_function("js_empty_async_function_inline", |b| {
        b.iter(|| {
            runtime
                .block_on(pool.call(&async_module, json!({"a": 1}), &ctx, &control))
                .expect("js")
        })
    });
    group.finish();
}

criterion_group!(benches, js_call);
criterion_main!(benches);
