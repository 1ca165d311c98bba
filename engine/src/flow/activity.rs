//! One activity: its body (script, call, sub-process), its loop or multi-instance marker,
//! its interrupting timer boundary and its error boundaries.
//!
//! Results and variables:
//! - A **script task** in Rhai sees the variables in its scope; what it declares or changes
//!   at top level becomes variables. In JavaScript it reads and writes `vars`; changed and new
//!   keys become variables.
//! - A **call** (service task, bound task, call activity) builds its input from its
//!   `sw:input` mappings, or — without mappings — passes every visible variable. With
//!   `sw:output` mappings each one sets a variable from an expression over `result` (and the
//!   variables). Without them an object result is merged into the variables (its keys become
//!   variables) and any other non-null result is stored in a variable named after the
//!   activity's id.
//! - A **sub-process** runs in a child scope (see [`super::scope`]); its result is the map of
//!   its local variables, which its `sw:output` mappings can read as `result`.
//! - A caught error is available to the boundary path as the variable `error`
//!   (`{code, message}`).

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tokio::task::JoinSet;

use super::region::run_region;
use super::{Frame, Runtime, VarScope, call_function};
use crate::compile::graph::{
    CallSpec, Callee, Expr, Looping, MultiInstanceSpec, NodeIx, NodeKind, Region, ScriptCode,
};
use crate::connectors::TransactionId;
use crate::run::{ErrorKind, RunError};

/// How an activity was left.
#[derive(Debug)]
pub(crate) enum Exit {
    /// Completed: follow its outgoing flows.
    Normal,
    /// A boundary event fired: follow the boundary event's outgoing flows.
    Boundary(NodeIx),
}

/// Runs activity `node` of `region`; returns its trace step (when tracing) and how it ended.
pub(crate) async fn run_activity(
    rt: Arc<Runtime>,
    region: Arc<Region>,
    node: NodeIx,
    frame: Frame,
) -> (Option<usize>, Result<Exit, RunError>) {
    let n = &region.nodes[node];
    let step = rt
        .trace
        .as_ref()
        .map(|t| t.begin(n, frame.parent_step, None));
    let body = run_looped(&rt, &region, node, &frame, step);
    let result = match n.timer {
        None => body.await,
        Some((boundary, duration)) => match tokio::time::timeout(duration, body).await {
            Ok(result) => result,
            Err(_) => {
                if let (Some(trace), Some(step)) = (&rt.trace, step) {
                    let error = RunError::new(
                        ErrorKind::Timeout,
                        "INTERRUPTED",
                        format!(
                            "interrupted by the timer boundary event `{}`",
                            region.nodes[boundary].id
                        ),
                    );
                    trace.end(step, None, Some(&error));
                }
                return (step, Ok(Exit::Boundary(boundary)));
            }
        },
    };
    match result {
        Ok(output) => {
            if let (Some(trace), Some(step)) = (&rt.trace, step) {
                trace.end(step, Some(output), None);
            }
            (step, Ok(Exit::Normal))
        }
        Err(error) => {
            let error = error.at(&n.id);
            if let (Some(trace), Some(step)) = (&rt.trace, step) {
                trace.end(step, None, Some(&error));
            }
            if error.is_catchable() {
                let exact = n
                    .error_boundaries
                    .iter()
                    .find(|(_, code)| code.as_deref() == Some(error.code.as_str()));
                let catch_all = n.error_boundaries.iter().find(|(_, code)| code.is_none());
                if let Some(&(boundary, _)) = exact.or(catch_all) {
                    frame.scope.set(
                        "error",
                        json!({"code": error.code, "message": error.message}),
                    );
                    return (step, Ok(Exit::Boundary(boundary)));
                }
            }
            (step, Err(error))
        }
    }
}

async fn run_looped(
    rt: &Arc<Runtime>,
    region: &Arc<Region>,
    node: NodeIx,
    frame: &Frame,
    step: Option<usize>,
) -> Result<Value, RunError> {
    match region.nodes[node].looping.as_deref() {
        None => execute(rt, region, node, frame, step).await,
        Some(Looping::Standard {
            test_before,
            condition,
            maximum,
        }) => {
            let mut last = Value::Null;
            let mut rounds = 0;
            while rounds < *maximum {
                if (*test_before || rounds > 0) && !rt.condition(condition, &frame.scope).await? {
                    break;
                }
                rt.check()?;
                let round = rt
                    .trace
                    .as_ref()
                    .map(|t| t.begin(&region.nodes[node], step, Some(rounds)));
                let result = execute(rt, region, node, frame, round).await;
                end_step(rt, round, &result);
                last = result?;
                rounds += 1;
            }
            Ok(last)
        }
        Some(Looping::MultiInstance(mi)) => multi_instance(rt, region, node, frame, step, mi).await,
    }
}

fn end_step(rt: &Runtime, step: Option<usize>, result: &Result<Value, RunError>) {
    if let (Some(trace), Some(step)) = (&rt.trace, step) {
        match result {
            Ok(value) => trace.end(step, Some(value.clone()), None),
            Err(error) => trace.end(step, None, Some(error)),
        }
    }
}

async fn multi_instance(
    rt: &Arc<Runtime>,
    region: &Arc<Region>,
    node: NodeIx,
    frame: &Frame,
    step: Option<usize>,
    mi: &MultiInstanceSpec,
) -> Result<Value, RunError> {
    let items = match (&mi.collection, &mi.cardinality) {
        (Some(collection), _) => match rt.eval(collection, &frame.scope, None).await? {
            Value::Array(items) => items,
            Value::Null => Vec::new(),
            other => {
                return Err(RunError::new(
                    ErrorKind::Flow,
                    "FLOW_ERROR",
                    format!("the multi-instance collection must be an array, not {other}"),
                ));
            }
        },
        (None, Some(cardinality)) => {
            let count = rt.eval(cardinality, &frame.scope, None).await?;
            let Some(count) = count.as_u64() else {
                return Err(RunError::new(
                    ErrorKind::Flow,
                    "FLOW_ERROR",
                    format!("the loop cardinality must be a whole number ≥ 0, not {count}"),
                ));
            };
            (0..count).map(Value::from).collect()
        }
        (None, None) => Vec::new(),
    };
    let instance_frame = |index: usize, item: Value| {
        let mut locals = Map::new();
        if let Some(name) = &mi.element_variable {
            locals.insert(name.to_string(), item);
        }
        locals.insert("loopCounter".to_owned(), Value::from(index));
        Frame {
            scope: VarScope::child(&frame.scope, locals),
            ..frame.clone()
        }
    };
    let mut results = vec![Value::Null; items.len()];
    if mi.sequential {
        for (index, item) in items.into_iter().enumerate() {
            rt.check()?;
            let instance = instance_frame(index, item);
            let (value, done) =
                run_instance(rt.clone(), region.clone(), node, instance, step, index).await?;
            results[index] = value;
            if done {
                break;
            }
        }
    } else {
        let mut set = JoinSet::new();
        for (index, item) in items.into_iter().enumerate() {
            let instance = instance_frame(index, item);
            set.spawn(run_instance(
                rt.clone(),
                region.clone(),
                node,
                instance,
                step,
                index,
            ));
        }
        let mut index = 0;
        while let Some(joined) = set.join_next().await {
            let (value, done) = joined.map_err(|err| {
                RunError::new(
                    ErrorKind::Flow,
                    "INTERNAL",
                    format!("an instance stopped unexpectedly: {err}"),
                )
            })??;
            // Instances finish in any order; `run_instance` tells which one this was.
            let Value::Array(mut pair) = value else {
                continue;
            };
            let value = pair.pop().unwrap_or(Value::Null);
            index = pair
                .pop()
                .and_then(|i| i.as_u64())
                .map_or(index, |i| i as usize);
            if let Some(slot) = results.get_mut(index) {
                *slot = value;
            }
            if done {
                break;
            }
        }
        // Dropping the set aborts the instances still running (after a completion condition).
    }
    let results = Value::Array(results);
    if let Some(name) = &mi.output_collection {
        frame.scope.set(name, results.clone());
    }
    Ok(results)
}

/// One instance: runs the activity's body in the instance frame, then its output element
/// and completion condition. Parallel instances answer `[index, value]` so the caller can
/// place the value; sequential ones the value itself.
async fn run_instance(
    rt: Arc<Runtime>,
    region: Arc<Region>,
    node: NodeIx,
    instance: Frame,
    step: Option<usize>,
    index: usize,
) -> Result<(Value, bool), RunError> {
    let Some(Looping::MultiInstance(mi)) = region.nodes[node].looping.as_deref() else {
        return Ok((Value::Null, false));
    };
    let own_step = rt
        .trace
        .as_ref()
        .map(|t| t.begin(&region.nodes[node], step, Some(index as u32)));
    let result = execute(&rt, &region, node, &instance, own_step).await;
    end_step(&rt, own_step, &result);
    let result = result?;
    let value = match &mi.output_element {
        Some(expr) => rt.eval(expr, &instance.scope, Some(&result)).await?,
        None => result,
    };
    let done = match &mi.completion {
        Some(expr) => rt.condition(expr, &instance.scope).await?,
        None => false,
    };
    if mi.sequential {
        Ok((value, done))
    } else {
        Ok((json!([index, value]), done))
    }
}

/// Rolls a transaction back if its sub-process is dropped before it finished.
struct TransactionGuard {
    rt: Arc<Runtime>,
    transaction: TransactionId,
    open: bool,
}

impl Drop for TransactionGuard {
    fn drop(&mut self) {
        if self.open {
            self.rt.rollback_later(self.transaction);
        }
    }
}

/// The body of an activity, once; returns its result (see the module docs).
async fn execute(
    rt: &Arc<Runtime>,
    region: &Arc<Region>,
    node: NodeIx,
    frame: &Frame,
    step: Option<usize>,
) -> Result<Value, RunError> {
    let n = &region.nodes[node];
    // A trace records the activity's result and a loop collects it; otherwise nothing reads
    // it after its variables are set, which may then move values out of it.
    let keep_result = rt.trace.is_some() || n.looping.is_some();
    match &n.kind {
        NodeKind::Script(ScriptCode::Rhai(ast)) => {
            if let (Some(trace), Some(step)) = (&rt.trace, step) {
                trace.input(step, Value::Object(frame.scope.visible()));
            }
            let rhai = &rt.program.scripting.rhai;
            let changed = frame
                .scope
                .with_visible(|vars| rhai.run_script(ast, vars, &rt.control))
                .map_err(|e| rt.script_error(e))?;
            if !keep_result {
                for (name, value) in changed {
                    frame.scope.set(&name, value);
                }
                return Ok(Value::Null);
            }
            for (name, value) in &changed {
                frame.scope.set(name, value.clone());
            }
            Ok(Value::Object(changed))
        }
        NodeKind::Script(ScriptCode::JavaScript(source)) => {
            let before = frame.scope.visible();
            if let (Some(trace), Some(step)) = (&rt.trace, step) {
                trace.input(step, Value::Object(before.clone()));
            }
            let js = rt.program.scripting.js();
            let after = js
                .run_script(source, Value::Object(before.clone()), &rt.control)
                .await
                .map_err(|e| rt.script_error(e))?;
            let mut changed = Map::new();
            if let Value::Object(after) = after {
                for (name, value) in after {
                    if before.get(&name) != Some(&value) {
                        frame.scope.set(&name, value.clone());
                        changed.insert(name, value);
                    }
                }
            }
            Ok(Value::Object(changed))
        }
        NodeKind::Call(spec) => call(rt, spec, &n.id, frame, step, keep_result).await,
        NodeKind::SubProcess {
            region: inner,
            transaction,
            outputs,
        } => {
            let child = VarScope::child(&frame.scope, Map::new());
            let mut guard = None;
            let mut current = frame.transaction;
            if *transaction {
                let id = rt.begin_transaction(frame.transaction).await?;
                guard = Some(TransactionGuard {
                    rt: rt.clone(),
                    transaction: id,
                    open: true,
                });
                current = Some(id);
            }
            let inner_frame = Frame {
                scope: child.clone(),
                transaction: current,
                depth: frame.depth,
                parent_step: step,
            };
            let result = run_region(rt.clone(), inner.clone(), inner_frame).await;
            if let Some(mut guard) = guard {
                guard.open = false;
                let connectors = &rt.connectors;
                let finished = match &result {
                    Ok(_) => connectors.commit_transaction(guard.transaction).await,
                    Err(_) => connectors.rollback_transaction(guard.transaction).await,
                };
                if let (Ok(_), Err(err)) = (&result, finished) {
                    return Err(RunError::new(
                        ErrorKind::Connector,
                        "TRANSACTION_FAILED",
                        err.to_string(),
                    ));
                }
            }
            result?;
            let locals = Value::Object(child.locals());
            for (name, expr) in outputs {
                let value = rt.eval(expr, &frame.scope, Some(&locals)).await?;
                frame.scope.set(name, value);
            }
            Ok(locals)
        }
        _ => Ok(Value::Null),
    }
}

async fn call(
    rt: &Arc<Runtime>,
    spec: &CallSpec,
    id: &str,
    frame: &Frame,
    step: Option<usize>,
    keep_result: bool,
) -> Result<Value, RunError> {
    let input = if spec.inputs.is_empty() {
        Value::Object(frame.scope.visible())
    } else {
        let mut input = Map::with_capacity(spec.inputs.len());
        for (name, expr) in &spec.inputs {
            input.insert(name.to_string(), rt.eval(expr, &frame.scope, None).await?);
        }
        Value::Object(input)
    };
    if let (Some(trace), Some(step)) = (&rt.trace, step) {
        trace.input(step, input.clone());
    }
    let mut input = input;
    let mut attempt = 0;
    let result = loop {
        // Only an attempt that may be retried needs the input afterwards.
        let input = if attempt < spec.retries {
            input.clone()
        } else {
            std::mem::take(&mut input)
        };
        let outcome = match spec.timeout {
            None => invoke(rt, &spec.callee, input, frame, step).await,
            Some(limit) => {
                tokio::time::timeout(limit, invoke(rt, &spec.callee, input, frame, step))
                    .await
                    .unwrap_or_else(|_| {
                        Err(RunError::bpmn(
                            "TIMEOUT",
                            &format!("the call took longer than {limit:?}"),
                        ))
                    })
            }
        };
        match outcome {
            Err(error)
                if attempt < spec.retries
                    && !matches!(error.kind, ErrorKind::Timeout | ErrorKind::Cancelled) =>
            {
                attempt += 1;
                if !spec.backoff.is_zero() {
                    tokio::time::sleep(spec.backoff).await;
                }
            }
            other => break other?,
        }
    };
    let mut result = result;
    let give = |value: &mut Value| {
        if keep_result {
            value.clone()
        } else {
            std::mem::take(value)
        }
    };
    if spec.outputs.is_empty() {
        match &mut result {
            Value::Object(fields) => {
                for (name, value) in fields.iter_mut() {
                    frame.scope.set(name, give(value));
                }
            }
            Value::Null => {}
            other => frame.scope.set(id, give(other)),
        }
    } else {
        for (index, (name, expr)) in spec.outputs.iter().enumerate() {
            let moved = if keep_result {
                None
            } else {
                take_result_path(&mut result, expr, &spec.outputs[index + 1..])
            };
            let value = match moved {
                Some(value) => value,
                None => rt.eval(expr, &frame.scope, Some(&result)).await?,
            };
            frame.scope.set(name, value);
        }
    }
    Ok(result)
}

/// Moves the value an output mapping reads out of `result`, when the mapping is a plain path
/// into it (`result.orders`) that exists and no later mapping can read that value again (each
/// later one that mentions `result` is a path into another part of it). `None` means: evaluate
/// the mapping as usual.
fn take_result_path(result: &mut Value, expr: &Expr, later: &[(Arc<str>, Expr)]) -> Option<Value> {
    let Expr::Rhai(ast) = expr else {
        return None;
    };
    let path = ast.path_from("result")?;
    let overlaps = |other: &[Box<str>]| {
        let shorter = path.len().min(other.len());
        path[..shorter] == other[..shorter]
    };
    let later_safe = later.iter().all(|(_, later)| match later {
        Expr::Rhai(later) if !later.mentions("result") => true,
        Expr::Rhai(later) => later
            .path_from("result")
            .is_some_and(|other| !overlaps(other)),
        Expr::JavaScript(_) => false,
    });
    if !later_safe {
        return None;
    }
    let mut current = result;
    for property in path {
        current = current.as_object_mut()?.get_mut(&**property)?;
    }
    Some(std::mem::take(current))
}

async fn invoke(
    rt: &Arc<Runtime>,
    callee: &Callee,
    input: Value,
    frame: &Frame,
    step: Option<usize>,
) -> Result<Value, RunError> {
    match callee {
        Callee::Connector {
            connector,
            method,
            key,
        } => {
            rt.call_connector(connector, method, key, input, frame.transaction)
                .await
        }
        Callee::Function { index, name } => {
            if !rt.mocks.is_empty()
                && let Some(answer) = rt.mocks.answer(name)
            {
                return answer;
            }
            if frame.depth + 1 > rt.max_depth {
                return Err(RunError::new(
                    ErrorKind::Limit,
                    "CALL_DEPTH_EXCEEDED",
                    format!(
                        "functions called functions more than {} levels deep",
                        rt.max_depth
                    ),
                ));
            }
            let callee_frame = Frame {
                depth: frame.depth + 1,
                parent_step: step,
                ..frame.clone()
            };
            call_function(rt.clone(), *index, input, callee_frame).await
        }
        Callee::Component(name) => {
            if let Some(answer) = rt.mocks.answer(name) {
                return answer;
            }
            Err(RunError::new(
                ErrorKind::Compile,
                "COMPONENT_UNAVAILABLE",
                format!(
                    "the library component `{name}` is not available in this engine (mock it to test the flow)"
                ),
            ))
        }
    }
}
