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

mod activity;
mod region;
mod scope;
mod trace;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Map, Value};
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
    /// Rollbacks started by transactions that were dropped mid-way (interrupted by a timer,
    /// or by the end of the run); awaited before the run returns.
    rollbacks: Mutex<Vec<JoinHandle<()>>>,
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
        .unwrap_or(DEFAULT_TIMEOUT);
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
    // The work future is gone: transactions it left open have started rolling back.
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
        if !function.input.is_empty() {
            function.input.apply(&mut input).map_err(|message| {
                RunError::new(
                    ErrorKind::Input,
                    "INVALID_INPUT",
                    format!("{}: invalid input: {message}", function.name),
                )
            })?;
        }
        let mut output = match &function.body {
            Body::Bpmn(region) => {
                let Value::Object(vars) = input else {
                    return Err(RunError::new(
                        ErrorKind::Input,
                        "INVALID_INPUT",
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
        &self,
        parent: Option<TransactionId>,
    ) -> Result<TransactionId, RunError> {
        let id = TransactionId(self.next_transaction.fetch_add(1, Ordering::Relaxed));
        self.connectors
            .begin_transaction(id, parent)
            .await
            .map_err(|e| connector_error("transaction", e))?;
        Ok(id)
    }

    /// Starts rolling back a transaction whose sub-process was dropped mid-way.
    pub(crate) fn rollback_later(self: &Arc<Self>, transaction: TransactionId) {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let connectors = self.connectors.clone();
        let task = handle.spawn(async move {
            let _ = connectors.rollback_transaction(transaction).await;
        });
        self.rollbacks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(task);
    }
}

fn connector_error(key: &str, err: ConnectorError) -> RunError {
    match err.code {
        Some(code) => RunError::bpmn(&code, &err.message),
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
