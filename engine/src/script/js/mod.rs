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
//! Values handed to `sw` built-ins and connector calls are converted to JSON within the
//! output budget and under the deadline too.
//!
//! A run ends when its answer is known; nothing it started goes on after it. Connector calls it
//! did not await are cancelled, and promise jobs still queued (a script task's
//! `Promise.resolve().then(…)`, or the jobs of a function that threw before awaiting them) are
//! dropped with the runtime, which is renewed as after a fault, so they never run in a later
//! job. Lines logged through `ctx.log` are kept within a per-run budget
//! ([`MAX_LOG_LINES`](super::MAX_LOG_LINES), [`MAX_LOG_BYTES`](super::MAX_LOG_BYTES)).
//!
//! Inline scripts and expressions share one context per worker (a pool's workers serve one
//! deployment): its globals and built-in objects are frozen, so a script cannot change what
//! another sees (`Object.prototype.toJSON = …` throws a `TypeError`).
//!
//! Module-level state lives as long as the worker's context for that module, as in a warm
//! serverless container: functions must not rely on it either way.
//!
//! # Inline calls
//!
//! Handing a call to a worker thread and its answer back costs two thread wake-ups, often more
//! than a short function itself. So a code function is first called *inline*, on the calling
//! thread, in a runtime of that thread kept for the pool, with a small time budget
//! ([`JsPoolConfig::inline_budget`]). When the call needs more — it runs past the budget, or it
//! calls a connector (connector calls are awaited only by workers) — the inline attempt is
//! discarded, the same call runs on a worker from the start, and that module is called on the
//! workers only from then on. A function therefore may be started twice, which is invisible to
//! it except through module-level state (see above); its logs are those of the run that
//! answered.

mod convert;
mod loader;
mod worker;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak, mpsc};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::library::Library;
use super::{AbortOnDrop, FunctionContext, FunctionOutput, RunControl, ScriptError};
use worker::{Inline, Job, Task, Worker};

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
    /// How long a code function may run on the calling thread before its call moves to a
    /// worker (see [Inline calls](self#inline-calls)); `None` sends every call to a worker.
    pub inline_budget: Option<Duration>,
}

impl Default for JsPoolConfig {
    fn default() -> Self {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            workers,
            limits: JsLimits::default(),
            library: Library::default(),
            inline_budget: Some(Duration::from_millis(2)),
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
    /// Calls may be tried inline (cleared when one needed a worker).
    inline: AtomicBool,
}

/// A fixed set of worker threads running JavaScript; see the [module docs](self).
#[derive(Debug)]
pub struct JsPool {
    queue: Mutex<mpsc::Sender<Job>>,
    next_module: AtomicU64,
    /// Names this pool's inline runtimes in the threads that call it.
    id: u64,
    /// Lets those runtimes see that the pool is gone.
    alive: Arc<()>,
    library: Library,
    limits: JsLimits,
    inline_budget: Option<Duration>,
    inline_calls: AtomicU64,
    worker_calls: AtomicU64,
}

/// How a pool's code-function calls were answered (see [`JsPool::calls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JsCalls {
    /// Answered inline, on the calling thread.
    pub inline: u64,
    /// Answered by a worker thread (after an inline attempt or without one).
    pub workers: u64,
}

/// Pools get ids from here (module ids are per pool, so inline runtimes must be too).
static NEXT_POOL: AtomicU64 = AtomicU64::new(1);

/// Inline runtimes one thread keeps, one per pool that called on it.
const INLINE_RUNTIMES_PER_THREAD: usize = 16;

/// An inline runtime idle this long may give way to another pool's.
const INLINE_IDLE: Duration = Duration::from_secs(1);

/// A thread's runtime for one pool's inline calls.
struct InlineRuntime {
    pool: u64,
    alive: Weak<()>,
    last_used: Instant,
    worker: Worker,
}

thread_local! {
    static INLINE_RUNTIMES: RefCell<Vec<InlineRuntime>> = const { RefCell::new(Vec::new()) };
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
            id: NEXT_POOL.fetch_add(1, Ordering::Relaxed),
            alive: Arc::new(()),
            library: config.library,
            limits: config.limits,
            inline_budget: config.inline_budget,
            inline_calls: AtomicU64::new(0),
            worker_calls: AtomicU64::new(0),
        }
    }

    /// How the code-function calls so far were answered.
    pub fn calls(&self) -> JsCalls {
        JsCalls {
            inline: self.inline_calls.load(Ordering::Relaxed),
            workers: self.worker_calls.load(Ordering::Relaxed),
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
                inline: AtomicBool::new(true),
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
        if let Some(budget) = self.inline_budget
            && module.source.inline.load(Ordering::Relaxed)
            && let Some(answer) = self.call_inline(module, &input, ctx, control, budget)
        {
            self.inline_calls.fetch_add(1, Ordering::Relaxed);
            return answer;
        }
        self.worker_calls.fetch_add(1, Ordering::Relaxed);
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

    /// Tries the call on this thread's inline runtime for this pool; `None` when it has to go
    /// to a worker.
    fn call_inline(
        &self,
        module: &JsModule,
        input: &Value,
        ctx: &FunctionContext,
        control: &RunControl,
        budget: Duration,
    ) -> Option<Result<FunctionOutput, ScriptError>> {
        INLINE_RUNTIMES.with(|runtimes| {
            // Busy means a call from inside an inline run: that one goes to a worker.
            let mut runtimes = runtimes.try_borrow_mut().ok()?;
            runtimes.retain(|runtime| runtime.alive.strong_count() > 0);
            let index = match runtimes.iter().position(|r| r.pool == self.id) {
                Some(index) => index,
                None => {
                    if runtimes.len() >= INLINE_RUNTIMES_PER_THREAD {
                        let (oldest, runtime) = runtimes
                            .iter()
                            .enumerate()
                            .min_by_key(|(_, runtime)| runtime.last_used)?;
                        if runtime.last_used.elapsed() < INLINE_IDLE {
                            return None;
                        }
                        runtimes.swap_remove(oldest);
                    }
                    let worker = Worker::new(self.library.clone(), self.limits.clone()).ok()?;
                    runtimes.push(InlineRuntime {
                        pool: self.id,
                        alive: Arc::downgrade(&self.alive),
                        last_used: Instant::now(),
                        worker,
                    });
                    runtimes.len() - 1
                }
            };
            let runtime = &mut runtimes[index];
            runtime.last_used = Instant::now();
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runtime
                    .worker
                    .call_inline(&module.source, input, ctx, control, budget)
            }));
            match outcome {
                Ok(Inline::Done(answer)) => Some(answer),
                Ok(Inline::Declined) => {
                    module.source.inline.store(false, Ordering::Relaxed);
                    None
                }
                Err(_) => {
                    // The runtime may be half-way through anything: a worker retries afresh.
                    runtimes.swap_remove(index);
                    module.source.inline.store(false, Ordering::Relaxed);
                    None
                }
            }
        })
    }

    async fn submit(
        &self,
        task: Task,
        control: &RunControl,
    ) -> Result<FunctionOutput, ScriptError> {
        let abort = AbortOnDrop::new();
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
