//! The in-memory engine's cost per run (`cargo xtask bench engine`).
//!
//! - `flow_10_nodes/engine`: a 10-node BPMN function — start, three Rhai script tasks, two
//!   exclusive gateways with Rhai conditions, a merge, a fourth script, two end events — run
//!   on a current-thread tokio runtime (one core), tracing off.
//! - `flow_10_nodes/rust_floor`: the same logic hand-written in Rust over the same JSON
//!   input and output, the floor the engine is compared against in the same run.
//! - `flow_10_nodes/engine_traced`: the engine with tracing on (trace built and returned).

use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Map, Value, json};
use starweave_engine::compile::{Program, Scripting, compile_bpmn};
use starweave_engine::run::{RunConfig, run_function};
use starweave_model::bpmn::read_bpmn;

const FLOW: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="t">
  <bpmn:process id="quote" isExecutable="true">
    <bpmn:startEvent id="start"/>
    <bpmn:scriptTask id="subtotal" scriptFormat="rhai"><bpmn:script>let total = price * qty;</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="big_order" default="no_discount_flow"/>
    <bpmn:scriptTask id="discount" scriptFormat="rhai"><bpmn:script>total = total * 9 / 10; let discounted = true;</bpmn:script></bpmn:scriptTask>
    <bpmn:scriptTask id="no_discount" scriptFormat="rhai"><bpmn:script>let discounted = false;</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="merge"/>
    <bpmn:scriptTask id="tax" scriptFormat="rhai"><bpmn:script>let tax = total / 5;</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="review" default="auto_flow"/>
    <bpmn:endEvent id="needs_review"/>
    <bpmn:endEvent id="auto_approved"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="subtotal"/>
    <bpmn:sequenceFlow id="f2" sourceRef="subtotal" targetRef="big_order"/>
    <bpmn:sequenceFlow id="discount_flow" sourceRef="big_order" targetRef="discount"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">total &gt; 100</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="no_discount_flow" sourceRef="big_order" targetRef="no_discount"/>
    <bpmn:sequenceFlow id="f3" sourceRef="discount" targetRef="merge"/>
    <bpmn:sequenceFlow id="f4" sourceRef="no_discount" targetRef="merge"/>
    <bpmn:sequenceFlow id="f5" sourceRef="merge" targetRef="tax"/>
    <bpmn:sequenceFlow id="f6" sourceRef="tax" targetRef="review"/>
    <bpmn:sequenceFlow id="review_flow" sourceRef="review" targetRef="needs_review"><bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">tax &gt; 1000</bpmn:conditionExpression></bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="auto_flow" sourceRef="review" targetRef="auto_approved"/>
  </bpmn:process>
</bpmn:definitions>"#;

/// The same logic in plain Rust: JSON in, JSON out.
fn rust_floor(input: &Value) -> Value {
    let price = input["price"].as_i64().unwrap_or(0);
    let qty = input["qty"].as_i64().unwrap_or(0);
    let mut total = price * qty;
    let discounted = if total > 100 {
        total = total * 9 / 10;
        true
    } else {
        false
    };
    let tax = total / 5;
    let mut out = Map::new();
    out.insert("price".into(), Value::from(price));
    out.insert("qty".into(), Value::from(qty));
    out.insert("total".into(), Value::from(total));
    out.insert("discounted".into(), Value::from(discounted));
    out.insert("tax".into(), Value::from(tax));
    out.insert("review".into(), Value::from(tax > 1000));
    Value::Object(out)
}

fn program() -> Arc<Program> {
    let document = read_bpmn(FLOW);
    assert!(!document.has_errors(), "{:?}", document.diagnostics);
    let compiled = compile_bpmn(&document.definitions, None, &Scripting::default());
    assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
    compiled.program
}

fn bench(c: &mut Criterion) {
    let program = program();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let input = json!({"price": 30, "qty": 5});

    // Both paths must agree before they are timed.
    let engine_output = runtime
        .block_on(run_function(
            &program,
            "quote",
            input.clone(),
            RunConfig::default(),
        ))
        .output
        .expect("the flow runs");
    assert_eq!(engine_output["total"], rust_floor(&input)["total"]);
    assert_eq!(engine_output["tax"], rust_floor(&input)["tax"]);

    let mut group = c.benchmark_group("flow_10_nodes");
    group.bench_function("engine", |b| {
        b.iter(|| {
            let outcome = runtime.block_on(run_function(
                &program,
                "quote",
                black_box(input.clone()),
                RunConfig::default(),
            ));
            black_box(outcome)
        })
    });
    group.bench_function("rust_floor", |b| {
        b.iter(|| black_box(rust_floor(black_box(&input.clone()))))
    });
    group.bench_function("engine_traced", |b| {
        b.iter(|| {
            let config = RunConfig {
                trace: true,
                ..RunConfig::default()
            };
            let outcome = runtime.block_on(run_function(
                &program,
                "quote",
                black_box(input.clone()),
                config,
            ));
            black_box(outcome)
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
