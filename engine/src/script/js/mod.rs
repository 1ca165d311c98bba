//! JavaScript on QuickJS: code functions as ES modules, inline script tasks and expressions,
//! run by a [`JsPool`] of worker threads.
//!
//! # Code functions
//!
//! A module's default export is called as `await main(input, ctx)`:
//!
//! ```js
//! import dayjs from "dayjs";               // from the VMS's vendored node_modules
//! export default async function (input, ctx) {
//!   const [a, b] = await Promise.all([
//!     ctx.connectors.crm.getCustomer({ id: input.id }),
//!     ctx.connectors.erp.getOrders({ id: input.id }),
//!   ]);
//!   ctx.log.info("loaded", a.name);         // also ctx.log.warn, ctx.log.error
//!   if (!a) throw new BpmnError("NOT_FOUND", "no such customer");
//!   return { name: a.name, orders: b.length, region: ctx.env.REGION };
//! }
//! ```
//!
//! Input and output are JSON. `throw new BpmnError(code, message)` becomes
//! [`ScriptErrorKind::BpmnError`](crate::script::ScriptErrorKind::BpmnError); any other exception
//! a runtime error with its message, line and stack. The built-ins are methods of the global `sw`.
//!
//! # Inline scripts and expressions
//!
//! [`JsPool::run_script`] runs a BPMN `scriptTask` body in strict mode with the variables as a
//! `vars` object and returns `vars` afterwards; [`JsPool::eval_expression`] evaluates an
//! expression over `vars` (e.g. `vars.amount > 100`).
//!
//! # Sandbox
//!
//! No file system, network or process: QuickJS' `std` and `os` modules are not part of the
//! runtime and the module loader knows only the VMS's files. Per run: the deadline and
//! cancellation (interrupt handler, and while waiting for connector calls), the memory limit
//! of the worker's runtime, its stack limit, and the size of the JSON result. After a timeout,
//! cancellation, memory or stack fault the worker throws its runtime away and starts a new one.
//!
//! Module-level state lives as long as the worker's context for that module, as in a warm
//! serverless container: functions must not rely on it either way.

mod convert;
mod loader;
mod worker;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use serde_json::Value;

use super::library::Library;
use super::{FunctionContext, FunctionOutput, RunControl, ScriptError};
use worker::{Job, Task};

/// Budgets of every JavaScript run in a pool (time and cancellation come per run from
/// [`RunControl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsLimits {
    /// Memory of a worker's runtime during a run, in bytes (its cached contexts included).
    pub memory_bytes: usize,
    /// Stack a run may use, in bytes.
    pub stack_bytes: usize,
    /// Bytes of a run's result serialised as JSON.
    pub max_output_bytes: usize,
}

impl Default for JsLimits {
    fn default() -> Self {
        Self {
            memory_bytes: 64 << 20,
            stack_bytes: 512 << 10,
            max_output_bytes: 8 << 20,
        }
    }
}

/// How to build a [`JsPool`].
#[derive(Debug, Clone)]
pub struct JsPoolConfig {
    /// Worker threads, each with one QuickJS runtime.
    pub workers: usize,
    /// Budgets for every run.
    pub limits: JsLimits,
    /// The built-in library (and its clock) exposed as `sw`.
    pub library: Library,
}

impl Default for JsPoolConfig {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            workers,
            limits: JsLimits::default(),
            library: Library::default(),
        }
    }
}

/// A compiled JavaScript module: its files and an id naming its contexts in the workers.
/// Cheap to clone; workers drop their contexts for it some time after the last clone goes.
#[derive(Debug, Clone)]
pub struct JsModule {
    source: Arc<ModuleSource>,
}

#[derive(Debug)]
struct ModuleSource {
    id: u64,
    /// The module's own path among `files`.
    path: String,
    files: Arc<BTreeMap<String, String>>,
}

/// A fixed set of worker threads running JavaScript; see the [module docs](self).
#[derive(Debug)]
pub struct JsPool {
    queue: Mutex<mpsc::Sender<Job>>,
    next_module: AtomicU64,
}

/// Sets the job's abort flag when the caller stops waiting (its future was dropped).
struct AbortOnDrop(Arc<AtomicBool>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Native stack of a worker thread: well above the QuickJS stack limit.
const WORKER_THREAD_STACK: usize = 16 << 20;

impl JsPool {
    /// Starts the worker threads.
    pub fn new(config: JsPoolConfig) -> Self {
        let (sender, receiver) = mpsc::channel::<Job>();
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..config.workers.max(1) {
            let receiver = receiver.clone();
            let library = config.library.clone();
            let limits = config.limits.clone();
            // A worker that cannot start leaves the others to serve the queue.
            let _ = std::thread::Builder::new()
                .name(format!("starweave-js-{index}"))
                .stack_size(WORKER_THREAD_STACK)
                .spawn(move || worker::worker_loop(receiver, library, limits));
        }
        Self {
            queue: Mutex::new(sender),
            next_module: AtomicU64::new(1),
        }
    }

    /// Compiles an ES module whose default export is the function; `path` names it among the
    /// VMS's files (e.g. `functions/quote.js`) and `node_modules` maps vendored file paths
    /// (`dayjs/package.json` or `node_modules/dayjs/package.json`) to their source. Syntax and
    /// import errors are reported here.
    pub async fn compile_module(
        &self,
        path: &str,
        source: &str,
        node_modules: &BTreeMap<String, String>,
    ) -> Result<JsModule, ScriptError> {
        let module = JsModule {
            source: Arc::new(ModuleSource {
                id: self.next_module.fetch_add(1, Ordering::Relaxed),
                path: path.to_owned(),
                files: Arc::new(worker::module_files(path, source, node_modules)),
            }),
        };
        let control = RunControl::with_timeout(std::time::Duration::from_secs(10));
        self.submit(Task::Compile(module.source.clone()), &control)
            .await?;
        Ok(module)
    }

    /// Calls the module's default export with `input` and `ctx`.
    pub async fn call(
        &self,
        module: &JsModule,
        input: Value,
        ctx: &FunctionContext,
        control: &RunControl,
    ) -> Result<FunctionOutput, ScriptError> {
        let task = Task::Call {
            module: module.source.clone(),
            input,
            ctx: ctx.clone(),
        };
        self.submit(task, control).await
    }

    /// Runs inline script-task code with the variables as `vars`; returns `vars` afterwards.
    pub async fn run_script(
        &self,
        source: &str,
        vars: Value,
        control: &RunControl,
    ) -> Result<Value, ScriptError> {
        let task = Task::Script {
            source: source.to_owned(),
            vars,
        };
        Ok(self.submit(task, control).await?.value)
    }

    /// Evaluates an expression over `vars`.
    pub async fn eval_expression(
        &self,
        expression: &str,
        vars: Value,
        control: &RunControl,
    ) -> Result<Value, ScriptError> {
        let task = Task::Expression {
            source: expression.to_owned(),
            vars,
        };
        Ok(self.submit(task, control).await?.value)
    }

    async fn submit(
        &self,
        task: Task,
        control: &RunControl,
    ) -> Result<FunctionOutput, ScriptError> {
        let abort = AbortOnDrop(Arc::new(AtomicBool::new(false)));
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = Job {
            task,
            control: control.clone(),
            abort: abort.0.clone(),
            handle: tokio::runtime::Handle::try_current().ok(),
            reply,
        };
        let sent = self
            .queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .send(job);
        sent.map_err(|_| ScriptError::runtime("the JavaScript workers have stopped"))?;
        let result = answer.await;
        drop(abort);
        result.map_err(|_| ScriptError::runtime("the JavaScript worker stopped during the run"))?
    }
}

/// Runs a BPMN `scriptTask`'s JavaScript on a one-off pool of one worker: reads and writes
/// `vars`, returns them. For repeated runs keep a [`JsPool`] and call [`JsPool::run_script`].
pub async fn run_js_script(
    source: &str,
    vars: Value,
    control: &RunControl,
) -> Result<Value, ScriptError> {
    let pool = JsPool::new(JsPoolConfig {
        workers: 1,
        ..JsPoolConfig::default()
    });
    pool.run_script(source, vars, control).await
}
