//! The interpreter: runs compiled functions on tokio.
//!
//! - [`region`] moves tokens through one level of a process: events and gateways are handled
//!   in place, activities are awaited in place while only one token is alive and polled
//!   together in the run's task when several are (they wait on their I/O at the same time);
//!   joins count arrivals per incoming flow.
//! - [`activity`] runs one activity: script, call, sub-process, with its loop or
//!   multi-instance marker, its timer boundary (an interrupting timeout) and its error
//!   boundaries.
//! - [`scope`] holds the variables, [`trace`] records steps when tracing is on.
//!
//! Every run has one [`Runtime`]: the program, connectors, mocks, deadline and cancellation.
//!
//! Transactions settle inside out. A transaction sub-process that is interrupted part-way
//! (a timer boundary, a terminate end event, a multi-instance completion condition, a
//! failed sibling) is dropped, and its [`OpenTransaction`] starts rolling back on a task of
//! its own. The enclosing transaction commits or rolls back only after every transaction
//! nested in it has settled, and after every parallel instance task running in it is gone
//! (an aborted task may still be finishing its current step on another thread): a nested
//! transaction's work is undone before its parent's commit, never made durable by it. The
//! run returns once everything has settled.

mod activity;
mod region;
mod scope;
mod trace;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use serde_json::{Map, Value};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::compile::graph::Expr;
use crate::compile::{Body, Program};
use crate::connectors::{ConnectorError, ConnectorRequest, Connectors, TransactionId};
use crate::mocks::Mocks;
use crate::run::{DEFAULT_TIMEOUT, ErrorKind, RunConfig, RunError, RunOutcome};
use crate::script::rhai::RhaiAst;
use crate::script::{
    BoxFuture, CallError, ConnectorCall, FunctionContext, FunctionOutput, RunControl, ScriptError,
    ScriptErrorKind,
};
pub(crate) use scope::VarScope;
use starweave_model::trace::RunLog;
use trace::TraceSink;

/// The state of one run, shared by all its branches.
#[derive(Debug)]
pub(crate) struct Runtime {
    pub(crate) program: Arc<Program>,
    pub(crate) control: RunControl,
    pub(crate) mocks: Arc<Mocks>,
    pub(crate) connectors: Arc<dyn Connectors>,
    pub(crate) env: crate::script::Env,
    pub(crate) trace: Option<TraceSink>,
    pub(crate) max_depth: u32,
    /// When the run started; log lines are stamped from it.
    started: Instant,
    /// What code functions logged through `ctx.log`, in order.
    logs: Mutex<Vec<RunLog>>,
    next_transaction: AtomicU64,
    /// What is still under way, by transaction (see the module docs).
    nesting: Mutex<Nesting>,
    /// Woken whenever a transaction settles or a parallel instance task is dropped.
    settled: Notify,
    /// Rollbacks started by transactions that were dropped mid-way (interrupted, or ended
    /// with the run); awaited before the run returns.
    rollbacks: Mutex<Vec<JoinHandle<()>>>,
}

/// What of a run is still under way, by the innermost transaction it runs in.
#[derive(Debug, Default)]
struct Nesting {
    /// Transactions begun and not yet settled, each with the transaction it is nested in.
    open: Vec<(TransactionId, Option<TransactionId>)>,
    /// Parallel multi-instance tasks not yet dropped, counted by the transaction they run in
    /// (no entry once none is left).
    tasks: Vec<(Option<TransactionId>, usize)>,
}

impl Nesting {
    /// Whether something nested in `transaction` has not settled yet.
    fn busy_in(&self, transaction: TransactionId) -> bool {
        self.open
            .iter()
            .any(|&(_, parent)| parent == Some(transaction))
            || self.tasks.iter().any(|&(t, _)| t == Some(transaction))
    }

    /// Whether nothing at all is under way.
    fn idle(&self) -> bool {
        self.open.is_empty() && self.tasks.is_empty()
    }
}

/// A transaction sub-process's transaction, from its begin until it settles. Dropped
/// unfinished (the sub-process was interrupted), it rolls back on a task of its own.
#[derive(Debug)]
pub(crate) struct OpenTransaction {
    rt: Arc<Runtime>,
    id: TransactionId,
    /// Past the point of no return: a drop now only records that it settled.
    finishing: bool,
}

impl OpenTransaction {
    /// The transaction's id, for the calls made in it and the transactions nested in it.
    pub(crate) fn id(&self) -> TransactionId {
        self.id
    }

    /// Commits the transaction (`commit`) or rolls it back, once everything nested in it
    /// has settled.
    pub(crate) async fn finish(mut self, commit: bool) -> Result<(), ConnectorError> {
        self.rt.nested_settled(self.id).await;
        self.finishing = true;
        let connectors = &self.rt.connectors;
        if commit {
            connectors.commit_transaction(self.id).await
        } else {
            connectors.rollback_transaction(self.id).await
        }
    }
}

impl Drop for OpenTransaction {
    fn drop(&mut self) {
        if self.finishing {
            self.rt.settle(self.id);
        } else {
            self.rt.rollback_later(self.id);
        }
    }
}

/// Held by a parallel multi-instance task until it is dropped (see [`Runtime::task_started`]).
#[derive(Debug)]
pub(crate) struct TaskToken {
    rt: Arc<Runtime>,
    transaction: Option<TransactionId>,
}

impl Drop for TaskToken {
    fn drop(&mut self) {
        let mut nesting = self.rt.nesting();
        if let Some(i) = nesting
            .tasks
            .iter()
            .position(|(t, _)| *t == self.transaction)
        {
            nesting.tasks[i].1 -= 1;
            if nesting.tasks[i].1 == 0 {
                nesting.tasks.swap_remove(i);
            }
        }
        drop(nesting);
        self.rt.settled.notify_waiters();
    }
}

/// Where an activity runs: its variables, transaction, call depth and parent trace step.
#[derive(Debug, Clone)]
pub(crate) struct Frame {
    pub(crate) scope: Arc<VarScope>,
    pub(crate) transaction: Option<TransactionId>,
    pub(crate) depth: u32,
    pub(crate) parent_step: Option<usize>,
}

/// Runs function `index` of `program`: the body of [`crate::run::run_function`].
pub(crate) async fn run(
    program: &Arc<Program>,
    index: usize,
    input: Value,
    config: RunConfig,
) -> RunOutcome {
    let function = &program.functions[index];
    let timeout = config
        .timeout
        .or(function.timeout)
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(crate::run::MAX_TIMEOUT);
    let rt = Arc::new(Runtime {
        program: program.clone(),
        control: RunControl {
            deadline: Instant::now() + timeout,
            cancel: config.cancel.flag.clone(),
        },
        mocks: config.mocks,
        connectors: config.connectors,
        env: Arc::new(config.env),
        trace: config.trace.then(TraceSink::new),
        max_depth: config.max_call_depth,
        started: Instant::now(),
        logs: Mutex::new(Vec::new()),
        next_transaction: AtomicU64::new(1),
        nesting: Mutex::new(Nesting::default()),
        settled: Notify::new(),
        rollbacks: Mutex::new(Vec::new()),
    });
    let frame = Frame {
        scope: VarScope::root(Map::new()),
        transaction: None,
        depth: 0,
        parent_step: None,
    };
    let output = {
        let work = call_function(rt.clone(), index, input, frame);
        tokio::select! {
            biased;
            output = work => output,
            _ = tokio::time::sleep(timeout) => Err(RunError::deadline()),
            _ = config.cancel.cancelled() => Err(RunError::cancelled()),
        }
    };
    // The work future is gone: transactions it left open have started rolling back (or
    // will, once the instance tasks it aborted are dropped). The run ends when they are done.
    rt.until(Nesting::idle).await;
    let pending = std::mem::take(&mut *rt.rollbacks.lock().unwrap_or_else(|p| p.into_inner()));
    for handle in pending {
        let _ = handle.await;
    }
    let trace = rt.trace.as_ref().map(|t| t.finish(&function.name));
    let logs = std::mem::take(&mut *rt.logs.lock().unwrap_or_else(|p| p.into_inner()));
    RunOutcome {
        output,
        trace,
        logs,
    }
}

/// Calls function `index` with `input`: validates, runs the body, validates the output.
/// `frame` gives the transaction, depth and parent step; its scope is not used.
pub(crate) fn call_function(
    rt: Arc<Runtime>,
    index: usize,
    input: Value,
    frame: Frame,
) -> BoxFuture<'static, Result<Value, RunError>> {
    Box::pin(async move {
        let program = rt.program.clone();
        let function = &program.functions[index];
        let mut input = match input {
            Value::Null => Value::Object(Map::new()),
            other => other,
        };
        // Input that does not fit is the caller's fault: the client's at the top, where a
        // trigger answers it as bad input (400, INVALID_ARGUMENT), and the calling flow's in a
        // nested call, which its client can do nothing about (a failed run, 500).
        let (input_kind, input_code) = if frame.depth == 0 {
            (ErrorKind::Input, "INVALID_INPUT")
        } else {
            (ErrorKind::Flow, "INVALID_CALL_INPUT")
        };
        if !function.input.is_empty() {
            function.input.apply(&mut input).map_err(|message| {
                RunError::new(
                    input_kind,
                    input_code,
                    format!("{}: invalid input: {message}", function.name),
                )
            })?;
        }
        let mut output = match &function.body {
            Body::Bpmn(region) => {
                let Value::Object(vars) = input else {
                    return Err(RunError::new(
                        input_kind,
                        input_code,
                        format!(
                            "{}: the input of a BPMN function must be an object",
                            function.name
                        ),
                    ));
                };
                let scope = VarScope::root(vars);
                let frame = Frame {
                    scope: scope.clone(),
                    ..frame
                };
                region::run_region(rt.clone(), region.clone(), frame).await?;
                // The region has ended: its variables become the answer.
                let mut vars = scope.take_locals();
                if function.declared_outputs.is_empty() {
                    Value::Object(vars)
                } else {
                    let mut out = Map::new();
                    for name in &function.declared_outputs {
                        if let Some(value) = vars.remove(name) {
                            out.insert(name.clone(), value);
                        }
                    }
                    Value::Object(out)
                }
            }
            Body::Rhai(ast) => {
                let ctx = rt.function_context(frame.transaction);
                let rhai = &program.scripting.rhai;
                let out = rhai
                    .call_function(ast, "main", input, &ctx, &rt.control)
                    .await;
                rt.code_finished(&function.name, out)?
            }
            Body::JavaScript(code) => {
                let module = program
                    .scripting
                    .js_module(code)
                    .await
                    .map_err(|e| rt.script_error(e))?;
                let ctx = rt.function_context(frame.transaction);
                let out = program
                    .scripting
                    .js()
                    .call(&module, input, &ctx, &rt.control)
                    .await;
                rt.code_finished(&function.name, out)?
            }
            Body::Broken(message) => {
                return Err(RunError::new(
                    ErrorKind::Compile,
                    "COMPILE_ERROR",
                    format!("{}: {message}", function.name),
                ));
            }
        };
        if !function.output.is_empty() {
            function.output.apply(&mut output).map_err(|message| {
                RunError::new(
                    ErrorKind::Output,
                    "INVALID_OUTPUT",
                    format!("{}: invalid output: {message}", function.name),
                )
            })?;
        }
        Ok(output)
    })
}

impl Runtime {
    /// Stops the run when its deadline passed or it was cancelled (checked between steps, so
    /// a flow looping through gateways alone still stops).
    pub(crate) fn check(&self) -> Result<(), RunError> {
        match self.control.check() {
            None => Ok(()),
            Some(ScriptErrorKind::Cancelled) => Err(RunError::cancelled()),
            Some(_) => Err(RunError::deadline()),
        }
    }

    /// A script failure as a run error.
    pub(crate) fn script_error(&self, err: ScriptError) -> RunError {
        match err.kind {
            ScriptErrorKind::BpmnError { code, message } => RunError::bpmn(&code, &message),
            ScriptErrorKind::Cancelled => RunError::cancelled(),
            ScriptErrorKind::Timeout { message } => match self.control.check() {
                Some(ScriptErrorKind::Cancelled) => RunError::cancelled(),
                Some(_) => RunError::deadline(),
                None => RunError::new(ErrorKind::Script, "SCRIPT_LIMIT", message),
            },
            kind @ (ScriptErrorKind::Memory { .. }
            | ScriptErrorKind::StackOverflow { .. }
            | ScriptErrorKind::OutputTooLarge { .. }) => {
                RunError::new(ErrorKind::Script, "SCRIPT_LIMIT", kind.to_string())
            }
            kind => RunError::new(ErrorKind::Script, "SCRIPT_ERROR", kind.to_string()),
        }
    }

    /// A code function's answer: its log lines go to the run's logs (those of a failed
    /// call too), then its value or error.
    fn code_finished(
        &self,
        function: &str,
        out: Result<FunctionOutput, ScriptError>,
    ) -> Result<Value, RunError> {
        let (value, lines) = match out {
            Ok(output) => (Ok(output.value), output.logs),
            Err(mut err) => {
                let lines = std::mem::take(&mut err.logs);
                (Err(err), lines)
            }
        };
        if !lines.is_empty() {
            let offset_us = self.started.elapsed().as_micros() as u64;
            let mut logs = self.logs.lock().unwrap_or_else(|p| p.into_inner());
            logs.extend(lines.into_iter().map(|line| RunLog {
                level: line.level.as_str().to_owned(),
                message: line.message,
                function: function.to_owned(),
                offset_us,
            }));
        }
        value.map_err(|e| self.script_error(e))
    }

    fn function_context(self: &Arc<Self>, transaction: Option<TransactionId>) -> FunctionContext {
        FunctionContext {
            env: self.env.clone(),
            connectors: Arc::new(ScriptConnectors {
                rt: self.clone(),
                transaction,
            }),
        }
    }

    /// Evaluates an expression over the visible variables, plus `result` when given.
    pub(crate) async fn eval(
        &self,
        expr: &Expr,
        scope: &VarScope,
        result: Option<&Value>,
    ) -> Result<Value, RunError> {
        match expr {
            Expr::Rhai(ast) => self.eval_rhai(ast, scope, result),
            Expr::JavaScript(source) => {
                let mut vars = scope.visible();
                if let Some(result) = result {
                    vars.insert("result".to_owned(), result.clone());
                }
                let js = self.program.scripting.js();
                js.eval_expression(source, Value::Object(vars), &self.control)
                    .await
                    .map_err(|e| self.script_error(e))
            }
        }
    }

    fn eval_rhai(
        &self,
        ast: &RhaiAst,
        scope: &VarScope,
        result: Option<&Value>,
    ) -> Result<Value, RunError> {
        let rhai = &self.program.scripting.rhai;
        let extra = result.map(|result| ("result", result));
        scope
            .with_visible(|vars| rhai.eval_expression_with(ast, vars, extra, &self.control))
            .map_err(|e| self.script_error(e))
    }

    /// Evaluates a condition: `true`, or `false`/`null`; anything else is an error.
    pub(crate) async fn condition(&self, expr: &Expr, scope: &VarScope) -> Result<bool, RunError> {
        match self.eval(expr, scope, None).await? {
            Value::Bool(b) => Ok(b),
            Value::Null => Ok(false),
            other => Err(RunError::new(
                ErrorKind::Flow,
                "FLOW_ERROR",
                format!("a condition must give true or false, not {other}"),
            )),
        }
    }

    /// A connector call, through the mocks first.
    pub(crate) async fn call_connector(
        &self,
        connector: &str,
        method: &str,
        key: &str,
        args: Value,
        transaction: Option<TransactionId>,
    ) -> Result<Value, RunError> {
        if !self.mocks.is_empty()
            && let Some(answer) = self.mocks.answer(key)
        {
            return answer;
        }
        let request = ConnectorRequest {
            connector,
            method,
            args,
            transaction,
        };
        self.connectors
            .call(request)
            .await
            .map_err(|err| connector_error(key, err))
    }

    /// Begins a transaction nested in `parent`.
    pub(crate) async fn begin_transaction(
        self: &Arc<Self>,
        parent: Option<TransactionId>,
    ) -> Result<OpenTransaction, RunError> {
        let id = TransactionId(self.next_transaction.fetch_add(1, Ordering::Relaxed));
        self.connectors
            .begin_transaction(id, parent)
            .await
            .map_err(|e| connector_error("transaction", e))?;
        // No await from here until the guard exists: it is open exactly while recorded.
        self.nesting().open.push((id, parent));
        Ok(OpenTransaction {
            rt: self.clone(),
            id,
            finishing: false,
        })
    }

    /// Records a parallel multi-instance task running in `transaction`; the task holds the
    /// token until it is dropped, and the transaction does not settle before that.
    pub(crate) fn task_started(self: &Arc<Self>, transaction: Option<TransactionId>) -> TaskToken {
        let mut nesting = self.nesting();
        match nesting.tasks.iter_mut().find(|(t, _)| *t == transaction) {
            Some(entry) => entry.1 += 1,
            None => nesting.tasks.push((transaction, 1)),
        }
        TaskToken {
            rt: self.clone(),
            transaction,
        }
    }

    fn nesting(&self) -> MutexGuard<'_, Nesting> {
        self.nesting.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `transaction` committed or rolled back.
    fn settle(&self, transaction: TransactionId) {
        self.nesting().open.retain(|&(id, _)| id != transaction);
        self.settled.notify_waiters();
    }

    /// Waits until `done` holds of what is under way.
    async fn until(&self, done: impl Fn(&Nesting) -> bool) {
        loop {
            // Registered before the check: a change made after it wakes this wait.
            let changed = self.settled.notified();
            let finished = done(&self.nesting());
            if finished {
                return;
            }
            changed.await;
        }
    }

    /// Waits until every transaction nested in `transaction` has settled and every
    /// parallel instance task running in it is gone.
    async fn nested_settled(&self, transaction: TransactionId) {
        self.until(|nesting| !nesting.busy_in(transaction)).await;
    }

    /// Starts rolling back a transaction whose sub-process was dropped mid-way: after the
    /// transactions nested in it have settled, like a commit.
    fn rollback_later(self: &Arc<Self>, transaction: TransactionId) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            // No runtime left to roll back on (it is shutting down): nothing waits either.
            self.settle(transaction);
            return;
        };
        let rt = self.clone();
        let task = handle.spawn(async move {
            rt.nested_settled(transaction).await;
            let _ = rt.connectors.rollback_transaction(transaction).await;
            rt.settle(transaction);
        });
        self.rollbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }
}

fn connector_error(key: &str, err: ConnectorError) -> RunError {
    match err.code {
        Some(code) => RunError {
            from_connector: true,
            ..RunError::bpmn(&code, &err.message)
        },
        None => RunError::new(
            ErrorKind::Connector,
            "CONNECTOR_ERROR",
            format!("{key}: {}", err.message),
        ),
    }
}

/// The bridge from code functions' `ctx.connectors` to the run's mocks and connectors.
#[derive(Debug)]
struct ScriptConnectors {
    rt: Arc<Runtime>,
    transaction: Option<TransactionId>,
}

impl ConnectorCall for ScriptConnectors {
    fn call<'a>(
        &'a self,
        connector: &'a str,
        method: &'a str,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async move {
            let key = format!("{connector}.{method}");
            self.rt
                .call_connector(connector, method, &key, args, self.transaction)
                .await
                .map_err(|err| CallError {
                    connector: connector.to_owned(),
                    method: method.to_owned(),
                    message: err.to_string(),
                })
        })
    }

    fn catalog(&self) -> std::collections::BTreeMap<String, Vec<String>> {
        let mut catalog = self.rt.connectors.catalog();
        for (connector, methods) in self.rt.program.connector_methods.iter() {
            let entry = catalog.entry(connector.clone()).or_default();
            for method in methods {
                if !entry.contains(method) {
                    entry.push(method.clone());
                }
            }
        }
        catalog
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compile::{Scripting, compile_bpmn};
    use crate::connectors::{FakeConnectors, FakeEvent, FakeReply};
    use serde_json::json;
    use starweave_model::bpmn::read_bpmn;

    /// The transaction events of a run of `bpmn` on fake connectors answering `replies`.
    async fn transaction_events(
        bpmn: &str,
        input: Value,
        replies: &[(&str, Vec<FakeReply>)],
    ) -> Vec<FakeEvent> {
        let document = read_bpmn(bpmn);
        let compiled = compile_bpmn(&document.definitions, None, &Scripting::default());
        assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
        let mut fake = FakeConnectors::new();
        for (method, replies) in replies {
            fake = fake.with(method, replies.clone());
        }
        let fake = Arc::new(fake);
        let config = RunConfig {
            connectors: fake.clone(),
            ..RunConfig::default()
        };
        let outcome = crate::run::run_function(&compiled.program, "p", input, config).await;
        assert!(outcome.output.is_ok(), "{:?}", outcome.output);
        fake.events()
            .into_iter()
            .filter(|e| !matches!(e, FakeEvent::Call { .. }))
            .collect()
    }

    fn begin(transaction: u64, parent: Option<u64>) -> FakeEvent {
        FakeEvent::Begin {
            transaction: TransactionId(transaction),
            parent: parent.map(TransactionId),
        }
    }

    fn commit(transaction: u64) -> FakeEvent {
        FakeEvent::Commit {
            transaction: TransactionId(transaction),
        }
    }

    fn rollback(transaction: u64) -> FakeEvent {
        FakeEvent::Rollback {
            transaction: TransactionId(transaction),
        }
    }

    /// A run longer than the trace keeps: the first steps are recorded, the rest counted.
    #[tokio::test]
    async fn a_long_loop_keeps_the_first_steps_of_its_trace_and_counts_the_rest() {
        let bpmn = r#"<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" id="d" targetNamespace="https://starweave.dev/test">
  <bpmn:process id="p" isExecutable="true">
    <bpmn:startEvent id="s"/>
    <bpmn:scriptTask id="inc" scriptFormat="rhai"><bpmn:script>let i = i + 1;</bpmn:script></bpmn:scriptTask>
    <bpmn:exclusiveGateway id="g" default="back"/>
    <bpmn:endEvent id="e"/>
    <bpmn:sequenceFlow id="f0" sourceRef="s" targetRef="inc"/>
    <bpmn:sequenceFlow id="f1" sourceRef="inc" targetRef="g"/>
    <bpmn:sequenceFlow id="back" sourceRef="g" targetRef="inc"/>
    <bpmn:sequenceFlow id="done" sourceRef="g" targetRef="e">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression">i &gt;= 6000</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
  </bpmn:process>
</bpmn:definitions>"#;
        let document = read_bpmn(bpmn);
        let compiled = compile_bpmn(&document.definitions, None, &Scripting::default());
        assert!(!compiled.has_errors(), "{:?}", compiled.diagnostics);
        let config = RunConfig {
            trace: true,
            ..RunConfig::default()
        };
        let outcome =
            crate::run::run_function(&compiled.program, "p", json!({"i": 0}), config).await;
        assert_eq!(outcome.output.expect("runs")["i"], json!(6000));
        let trace = outcome.trace.expect("a trace");
        // start, 6,000 × (inc, g), end
        assert_eq!(trace.steps.len(), trace::MAX_TRACE_STEPS);
        assert_eq!(
            trace.dropped_steps,
            (2 + 2 * 6000 - trace::MAX_TRACE_STEPS) as u64
        );
        assert_eq!(trace.steps[0].element_id, "s");
        assert_eq!(
            trace.steps[1].output.as_ref().map(|o| &o["i"]),
            Some(&json!(1))
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_nested_transaction_cut_by_a_timer_rolls_back_before_its_parent_commits() {
        let events = transaction_events(
            include_str!("../../testdata/flows/transaction_nested_interrupted_by_timer/flow.bpmn"),
            json!({"order_id": "o1", "status": "pending"}),
            &[
                ("db.insert_order", vec![FakeReply::ok(json!({"ok": true}))]),
                (
                    "db.reserve_stock",
                    vec![FakeReply::ok(json!({"ok": true})).after_ms(5000)],
                ),
            ],
        )
        .await;
        assert_eq!(
            events,
            [begin(1, None), begin(2, Some(1)), rollback(2), commit(1)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn instances_cut_by_a_completion_condition_roll_back_before_the_parent_commits() {
        instances_cut_by_a_completion_condition().await;
    }

    /// The same on worker threads, where an aborted instance may still be in the middle of
    /// a step on another thread while the parent finishes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn instances_cut_on_worker_threads_roll_back_before_the_parent_commits() {
        instances_cut_by_a_completion_condition().await;
    }

    async fn instances_cut_by_a_completion_condition() {
        let slow = FakeReply::ok(json!({"ok": true})).after_ms(1000);
        let events = transaction_events(
            include_str!("../../testdata/flows/transaction_instances_cut_by_completion/flow.bpmn"),
            json!({"items": ["a", "b", "c"]}),
            &[(
                "db.reserve",
                vec![
                    FakeReply::ok(json!({"ok": true})).after_ms(10),
                    slow.clone(),
                    slow,
                ],
            )],
        )
        .await;
        let position = |event: &FakeEvent| events.iter().position(|e| e == event);
        let parent_commit = position(&commit(1)).expect("the outer transaction commits");
        assert_eq!(parent_commit, events.len() - 1, "{events:?}");
        // Which instance gets the quick reply depends on the order the instances call in,
        // which worker threads do not fix: the one that completes commits, the other two
        // are cut and roll back before the outer commit.
        let instances = [2, 3, 4];
        let committed: Vec<u64> = instances
            .into_iter()
            .filter(|&i| position(&commit(i)).is_some())
            .collect();
        assert_eq!(committed.len(), 1, "{events:?}");
        for instance in instances.into_iter().filter(|i| !committed.contains(i)) {
            let undone = position(&rollback(instance));
            assert!(
                undone.is_some_and(|at| at < parent_commit),
                "instance transaction {instance} is not rolled back before the commit: {events:?}"
            );
        }
    }
}
