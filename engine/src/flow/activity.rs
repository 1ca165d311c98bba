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
use crate::run::{ErrorKind, RunError};

/// The most instances one multi-instance activity runs. Its `loopCardinality` or collection
/// comes from the run's input, so a count past this is refused with a `TOO_MANY_INSTANCES`
/// limit error before anything is allocated for the instances (a cardinality of 10^12 would
/// otherwise reserve terabytes and abort the engine). A flow that needs more iterates in
/// batches, or calls a function per batch.
pub(crate) const MAX_INSTANCES: u64 = 10_000;

/// The most instances of one parallel multi-instance activity that run at the same time;
/// the next one starts when one finishes. It bounds the tasks, variables and connector
/// calls in flight for one activity (and keeps a connector's pool for other runs).
pub(crate) const MAX_PARALLEL_INSTANCES: usize = 64;

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
            Value::Array(items) => {
                check_instance_count(items.len() as u64, "collection has")?;
                items
            }
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
            check_instance_count(count, "loop cardinality is")?;
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
        // At most `MAX_PARALLEL_INSTANCES` run at once: the next instance is spawned when
        // one finishes. Each task holds a token of the run (`task_started`) until it is
        // dropped, so the enclosing transaction settles only after it (see `Runtime`).
        let mut waiting = items.into_iter().enumerate();
        let mut set = JoinSet::new();
        let mut spawn_next = |set: &mut JoinSet<Joined>| -> Result<(), RunError> {
            if let Some((index, item)) = waiting.next() {
                rt.check()?;
                let instance = instance_frame(index, item);
                let token = rt.task_started(frame.transaction);
                let work = run_instance(rt.clone(), region.clone(), node, instance, step, index);
                set.spawn(async move {
                    let _token = token;
                    (index, work.await)
                });
            }
            Ok(())
        };
        for _ in 0..MAX_PARALLEL_INSTANCES {
            spawn_next(&mut set)?;
        }
        while let Some(joined) = set.join_next().await {
            // Instances finish in any order; each answers with its index.
            let (index, result) = joined.map_err(|err| {
                RunError::new(
                    ErrorKind::Flow,
                    "INTERNAL",
                    format!("an instance stopped unexpectedly: {err}"),
                )
            })?;
            let (value, done) = result?;
            if let Some(slot) = results.get_mut(index) {
                *slot = value;
            }
            if done {
                break;
            }
            spawn_next(&mut set)?;
        }
        // Dropping the set aborts the instances still running (after a completion condition
        // or a failed instance); the ones not started never start.
    }
    let results = Value::Array(results);
    if let Some(name) = &mi.output_collection {
        frame.scope.set(name, results.clone());
    }
    Ok(results)
}

/// A parallel instance's index and outcome.
type Joined = (usize, Result<(Value, bool), RunError>);

/// Refuses a multi-instance activity of more than [`MAX_INSTANCES`] instances.
fn check_instance_count(count: u64, what: &str) -> Result<(), RunError> {
    if count <= MAX_INSTANCES {
        return Ok(());
    }
    Err(RunError::new(
        ErrorKind::Limit,
        "TOO_MANY_INSTANCES",
        format!(
            "the multi-instance {what} {count} instances; at most {MAX_INSTANCES} run per activity"
        ),
    ))
}

/// One instance: runs the activity's body in the instance frame, then its output element
/// and completion condition; its value and whether the completion condition holds.
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
    Ok((value, done))
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
            // Dropped before it is finished (the sub-process was interrupted), the
            // transaction rolls back on its own.
            let mut open = None;
            if *transaction {
                open = Some(rt.begin_transaction(frame.transaction).await?);
            }
            let inner_frame = Frame {
                scope: child.clone(),
                transaction: open.as_ref().map(|t| t.id()).or(frame.transaction),
                depth: frame.depth,
                parent_step: step,
            };
            let result = run_region(rt.clone(), inner.clone(), inner_frame).await;
            if let Some(open) = open {
                let finished = open.finish(result.is_ok()).await;
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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;
    use crate::compile::{Scripting, compile_bpmn};
    use crate::connectors::{BoxFuture, ConnectorError, ConnectorRequest, Connectors};
    use crate::run::{RunConfig, run_function};
    use starweave_model::bpmn::read_bpmn;

    /// Connectors whose calls take 10 ms and count how many are in flight at once.
    #[derive(Debug, Default)]
    struct InFlight {
        now: AtomicUsize,
        most: AtomicUsize,
    }

    impl Connectors for InFlight {
        fn call<'a>(
            &'a self,
            _request: ConnectorRequest<'a>,
        ) -> BoxFuture<'a, Result<Value, ConnectorError>> {
            Box::pin(async move {
                let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
                self.most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(10)).await;
                self.now.fetch_sub(1, Ordering::SeqCst);
                Ok(Value::Null)
            })
        }
    }

    /// Runs a process whose one activity is `activity` (id `each`) on `connectors`.
    async fn run_each(
        activity: &str,
        input: Value,
        connectors: Arc<dyn Connectors>,
    ) -> Result<Value, RunError> {
        let bpmn = format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:sw="https://starweave.dev/schema/bpmn/1.0" id="d" targetNamespace="t">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"/>{activity}<bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="each"/>
    <bpmn:sequenceFlow id="f1" sourceRef="each" targetRef="e"/>
  </bpmn:process>
</bpmn:definitions>"#
        );
        let document = read_bpmn(&bpmn);
        let compiled = compile_bpmn(&document.definitions, None, &Scripting::default());
        assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
        let config = RunConfig {
            connectors,
            ..RunConfig::default()
        };
        run_function(&compiled.program, "p", input, config)
            .await
            .output
    }

    #[tokio::test(start_paused = true)]
    async fn parallel_instances_run_at_most_the_cap_at_once_and_keep_their_order() {
        let connectors = Arc::new(InFlight::default());
        let output = run_each(
            r#"<bpmn:serviceTask id="each">
              <bpmn:extensionElements><sw:task connector="x" method="work">
                <sw:multiInstance outputCollection="done" outputElement="loopCounter"/>
              </sw:task></bpmn:extensionElements>
              <bpmn:multiInstanceLoopCharacteristics>
                <bpmn:loopCardinality xsi:type="bpmn:tFormalExpression">n</bpmn:loopCardinality>
              </bpmn:multiInstanceLoopCharacteristics>
            </bpmn:serviceTask>"#,
            json!({"n": 200}),
            connectors.clone(),
        )
        .await;
        let output = output.unwrap_or_else(|e| panic!("the run failed: {e}"));
        let expected: Vec<usize> = (0..200).collect();
        assert_eq!(output["done"], json!(expected));
        assert_eq!(
            connectors.most.load(Ordering::SeqCst),
            MAX_PARALLEL_INSTANCES
        );
    }

    #[tokio::test]
    async fn instance_counts_past_the_limit_are_refused_before_they_run() {
        let activity = |sequential: bool| {
            format!(
                r#"<bpmn:task id="each">
                  <bpmn:extensionElements><sw:task><sw:multiInstance collection="items"/></sw:task></bpmn:extensionElements>
                  <bpmn:multiInstanceLoopCharacteristics isSequential="{sequential}"/>
                </bpmn:task>"#
            )
        };
        let items = |count: u64| json!({"items": vec![0; count as usize]});
        for sequential in [false, true] {
            let connectors = Arc::new(InFlight::default());
            let refused = run_each(
                &activity(sequential),
                items(MAX_INSTANCES + 1),
                connectors.clone(),
            )
            .await;
            let error = refused.err().map(|e| (e.kind, e.code));
            assert_eq!(
                error,
                Some((ErrorKind::Limit, "TOO_MANY_INSTANCES".to_owned()))
            );
            let at_the_limit = run_each(&activity(sequential), items(MAX_INSTANCES), connectors)
                .await
                .map(|_| ());
            assert_eq!(at_the_limit, Ok(()));
        }
    }
}
