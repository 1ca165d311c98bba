//! One JavaScript worker thread: a QuickJS runtime, a context per compiled module, and the loop
//! that runs jobs, settles connector promises and enforces the run's budgets.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use rquickjs::function::Rest;
use rquickjs::promise::PromiseState;
use rquickjs::{
    CatchResultExt, CaughtError, Context, Ctx, Function, Module, Object, Persistent, Promise,
    Runtime, Value as JsValue,
};
use serde_json::Value;

use super::convert::{ConvertError, js_to_json, json_to_js};
use super::loader::{ModuleFiles, VendoredModules, module_name};
use super::{JsLimits, ModuleSource};
use crate::script::library::Library;
use crate::script::{
    CallError, ConnectorCall, Env, FunctionContext, FunctionOutput, LogLevel, RunControl, RunLogs,
    ScriptError, ScriptErrorKind, log_message,
};

/// What a job asks a worker to do.
pub(super) enum Task {
    /// Evaluate a module and keep it ready (reports compile errors).
    Compile(Arc<ModuleSource>),
    /// Call a module's default export with `(input, ctx)`.
    Call {
        module: Arc<ModuleSource>,
        input: Value,
        ctx: FunctionContext,
    },
    /// Run inline script-task code with a `vars` object; the answer is `vars` afterwards.
    Script { source: String, vars: Value },
    /// Evaluate an expression with a `vars` object.
    Expression { source: String, vars: Value },
}

/// A job for a worker, with the run's control and where to answer.
pub(super) struct Job {
    pub(super) task: Task,
    pub(super) control: RunControl,
    /// Set when the caller stopped waiting.
    pub(super) abort: Arc<AtomicBool>,
    /// The caller's tokio runtime, where connector calls run.
    pub(super) handle: Option<tokio::runtime::Handle>,
    pub(super) reply: tokio::sync::oneshot::Sender<Result<FunctionOutput, ScriptError>>,
}

/// A settled connector call on its way back to the worker.
type Completion = (u64, Result<Value, CallError>);

/// The job being run, as seen from native functions and the interrupt handler.
#[derive(Default)]
struct Active {
    control: RefCell<Option<(RunControl, Arc<AtomicBool>)>>,
    /// Why the interrupt handler stopped the script, if it did.
    stopped: Cell<Option<Stop>>,
    calls: RefCell<Option<Calls>>,
    logs: RefCell<RunLogs>,
    /// The job runs inline, on the caller's thread, where connectors are not available.
    inline: Cell<bool>,
    /// An inline run tried to call a connector: its result is void, the job goes to a worker.
    wanted_connector: Cell<bool>,
}

/// The outcome of [`Worker::call_inline`].
pub(super) enum Inline {
    /// The call ran to its end (or failed on its own account): this is its answer.
    Done(Result<FunctionOutput, ScriptError>),
    /// The call needs a worker thread (it ran out of the inline budget or wanted a
    /// connector); whatever it did inline is discarded.
    Declined,
}

/// An inline run may spend this many times its budget evaluating a module the first time.
const INLINE_LOAD_FACTOR: u32 = 16;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Deadline,
    Cancelled,
}

/// Connector calls of the job being run.
struct Calls {
    connectors: Arc<dyn ConnectorCall>,
    handle: tokio::runtime::Handle,
    sender: mpsc::Sender<Completion>,
    next_id: u64,
    pending: HashMap<u64, PendingCall>,
}

/// A connector call on its way: how to settle its promise, and its task on the caller's
/// runtime.
struct PendingCall {
    resolve: Persistent<Function<'static>>,
    reject: Persistent<Function<'static>>,
    task: tokio::task::AbortHandle,
}

impl Drop for Calls {
    /// The job is over: calls it started and did not await are cancelled, so none goes on
    /// working (or answers) after the run that made it.
    fn drop(&mut self) {
        for call in self.pending.values() {
            call.task.abort();
        }
    }
}

impl Active {
    /// Whether the run must stop now, recording why as the interrupt handler does (native
    /// code that gives up on a stopped run then fails it with the stop, not its own error).
    fn must_stop(&self) -> bool {
        if self.stopped.get().is_some() {
            return true;
        }
        match self.check() {
            Some(stop) => {
                self.stopped.set(Some(stop));
                true
            }
            None => false,
        }
    }

    fn check(&self) -> Option<Stop> {
        let control = self.control.borrow();
        let (control, abort) = control.as_ref()?;
        if abort.load(Ordering::Relaxed) || control.cancel.load(Ordering::Relaxed) {
            Some(Stop::Cancelled)
        } else if Instant::now() >= control.deadline {
            Some(Stop::Deadline)
        } else {
            None
        }
    }
}

struct ModuleEntry {
    source: Weak<ModuleSource>,
    context: Context,
    main: Persistent<Function<'static>>,
    /// The frozen `ctx` object of the last call and the env it was made for: calls of one
    /// deployment share their env, so the object is built once, not per call.
    js_ctx: Option<(Env, Persistent<JsValue<'static>>)>,
}

/// The context for inline scripts and expressions, with compiled wrappers by source.
///
/// One context serves every script task and expression the worker runs, whichever
/// deployment they belong to, so nothing one run does may reach the next: its intrinsics are
/// frozen when it is made ([`FREEZE_INTRINSICS`]) and each run's own values (`vars`, what the
/// code declares) live in the call of its wrapper function.
struct ScriptContext {
    context: Context,
    compiled: HashMap<String, Persistent<Function<'static>>>,
}

/// Compiled inline scripts kept per worker; the cache is emptied when it grows past this.
const SCRIPT_CACHE_ENTRIES: usize = 512;

/// JavaScript prepended to every context: `BpmnError` and the `ctx` factory.
const PRELUDE: &str = r#"
globalThis.BpmnError = class BpmnError extends Error {
  constructor(code, message) {
    super(message === undefined ? String(code) : String(message));
    this.name = "BpmnError";
    this.code = String(code);
  }
};
(() => {
  const host = globalThis.__sw_host;
  delete globalThis.__sw_host;
  const level = (name) => (...args) => host.log(name, ...args);
  const log = level("info");
  log.info = level("info");
  log.warn = level("warn");
  log.error = level("error");
  Object.freeze(log);
  const methods = (connector) => new Proxy({}, {
    get(_, method) {
      if (typeof method !== "string" || method === "then") return undefined;
      return (args) => host.call(connector, method, args === undefined ? null : args);
    },
  });
  const connectors = new Proxy({}, {
    get(_, connector) {
      if (typeof connector !== "string" || connector === "then") return undefined;
      return methods(connector);
    },
  });
  Object.defineProperty(globalThis, "__sw_ctx", {
    value: (env) => Object.freeze({ env: Object.freeze(env), log, connectors }),
  });
})();
"#;

/// JavaScript run once in the script context after the prelude: freezes `globalThis` and
/// every object reachable from it (constructors, prototypes, their methods and accessors,
/// `Math`, `JSON`, `Reflect`, `sw`, `BpmnError`…) and the intrinsics no global names (the
/// iterator, generator and async-function prototypes), so that a script task writing to any of
/// them (`Object.prototype.toJSON = …`, `Array.prototype.includes = …`,
/// `globalThis.x = …`) fails with a `TypeError` (scripts run in strict mode) instead of
/// changing what later scripts and expressions, of any deployment, see.
///
/// Freezing a prototype also makes its data properties read-only on every object that
/// inherits them, so `err.name = "…"` on an `Error` would throw (and so would `BpmnError`'s
/// own constructor). For the properties code commonly sets on its own objects — `name`,
/// `message`, `constructor` and `toString` of the error prototypes; `toString`, `valueOf`,
/// `toLocaleString` and `constructor` of `Object.prototype` — the property becomes an accessor
/// first: reading gives the intrinsic value, assigning on an inheriting object defines the
/// object's own property, assigning on the prototype itself throws.
///
/// Run once per context, when it is made (again only after the runtime is renewed), not per
/// run.
const FREEZE_INTRINSICS: &str = r#"
(() => {
  "use strict";
  const { defineProperty, freeze, getPrototypeOf } = Object;
  const { getOwnPropertyDescriptor, ownKeys } = Reflect;
  const overridable = (proto, key) => {
    const found = getOwnPropertyDescriptor(proto, key);
    if (!found || !("value" in found) || !found.configurable) return;
    const value = found.value;
    defineProperty(proto, key, {
      get() { return value; },
      set(next) {
        if (this === proto) throw new TypeError(`Cannot assign to read only property '${String(key)}'`);
        defineProperty(this, key, { value: next, writable: true, enumerable: true, configurable: true });
      },
      enumerable: found.enumerable,
      configurable: false,
    });
  };
  for (const key of ["toString", "valueOf", "toLocaleString", "constructor"]) {
    overridable(Object.prototype, key);
  }
  const errors = [Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError];
  for (const name of ["AggregateError", "InternalError", "SuppressedError"]) {
    if (typeof globalThis[name] === "function") errors.push(globalThis[name]);
  }
  for (const error of errors) {
    for (const key of ["name", "message", "constructor", "toString"]) {
      overridable(error.prototype, key);
    }
  }
  const seen = new Set();
  const queue = [];
  const add = (value) => {
    if ((typeof value === "object" && value !== null) || typeof value === "function") {
      if (!seen.has(value)) {
        seen.add(value);
        queue.push(value);
      }
    }
  };
  add(globalThis);
  // Intrinsics that no global names, reached through values that have them as prototype.
  add(getPrototypeOf([][Symbol.iterator]()));
  add(getPrototypeOf(new Map()[Symbol.iterator]()));
  add(getPrototypeOf(new Set()[Symbol.iterator]()));
  add(getPrototypeOf(""[Symbol.iterator]()));
  add(getPrototypeOf(/x/[Symbol.matchAll]("")));
  add(getPrototypeOf(function* () {}));
  add(getPrototypeOf(async function () {}));
  add(getPrototypeOf(async function* () {}));
  if (typeof Iterator === "function" && typeof Iterator.from === "function") {
    add(getPrototypeOf(Iterator.from({ next() { return { done: true }; } })));
    if (typeof Iterator.prototype.map === "function") {
      add(getPrototypeOf([].values().map((x) => x)));
    }
  }
  while (queue.length > 0) {
    const object = queue.pop();
    for (const key of ownKeys(object)) {
      const property = getOwnPropertyDescriptor(object, key);
      if (property) {
        add(property.value);
        add(property.get);
        add(property.set);
      }
    }
    add(getPrototypeOf(object));
    freeze(object);
  }
})();
"#;

/// Lines the script wrapper adds before user code (for line numbers).
const SCRIPT_WRAPPER_LINES: u32 = 1;

pub(super) struct Worker {
    // Field order is drop order: contexts and persistent values go before the runtime.
    modules: HashMap<u64, ModuleEntry>,
    scripts: Option<ScriptContext>,
    active: Rc<Active>,
    files: ModuleFiles,
    library: Library,
    limits: JsLimits,
    runtime: Runtime,
    jobs_since_sweep: u32,
}

impl Worker {
    pub(super) fn new(library: Library, limits: JsLimits) -> Result<Self, ScriptError> {
        let active = Rc::new(Active::default());
        let files = ModuleFiles::default();
        let runtime = new_runtime(&active, &files, &limits)?;
        Ok(Self {
            modules: HashMap::new(),
            scripts: None,
            active,
            files,
            library,
            limits,
            runtime,
            jobs_since_sweep: 0,
        })
    }

    /// Throws away every context and the runtime; used after a fault that may have left the
    /// runtime in a bad state (interrupted module code, out of memory).
    fn reset(&mut self) -> Result<(), ScriptError> {
        self.modules.clear();
        self.scripts = None;
        self.files.borrow_mut().clear();
        self.runtime = new_runtime(&self.active, &self.files, &self.limits)?;
        Ok(())
    }

    pub(super) fn run(&mut self, job: Job) {
        let Job {
            task,
            control,
            abort,
            handle,
            reply,
        } = job;
        let result = self.execute(control, abort, |worker| match task {
            Task::Compile(module) => worker.module(&module).map(|_| Value::Null),
            Task::Call { module, input, ctx } => {
                worker.call(&module, &input, &ctx, handle.as_ref())
            }
            Task::Script { source, vars } => worker.script(&source, vars, true),
            Task::Expression { source, vars } => worker.script(&source, vars, false),
        });
        let _ = reply.send(result);
    }

    /// Calls a module's default export on this thread, giving up (without an answer) when the
    /// call would need what an inline run does not have: more than `budget` of time, or a
    /// connector. See [`super::JsPoolConfig::inline_budget`].
    pub(super) fn call_inline(
        &mut self,
        module: &Arc<ModuleSource>,
        input: &Value,
        fctx: &FunctionContext,
        control: &RunControl,
        budget: Duration,
    ) -> Inline {
        let cut = |budget: Duration| RunControl {
            deadline: (Instant::now() + budget).min(control.deadline),
            cancel: control.cancel.clone(),
        };
        let abort = Arc::new(AtomicBool::new(false));
        if !self.modules.contains_key(&module.id) {
            // Evaluating the module here the first time may take longer than a call.
            let load = cut(budget * INLINE_LOAD_FACTOR);
            if self
                .execute(load, abort.clone(), |worker| {
                    worker.module(module).map(|_| Value::Null)
                })
                .is_err()
            {
                return Inline::Declined;
            }
        }
        self.active.inline.set(true);
        let short = cut(budget);
        let result = self.execute(short, abort, |worker| {
            worker.call(module, input, fctx, None)
        });
        self.active.inline.set(false);
        if self.active.wanted_connector.replace(false) {
            return Inline::Declined;
        }
        match result {
            Err(ScriptError {
                kind: ScriptErrorKind::Timeout { .. },
                ..
            }) if Instant::now() < control.deadline => Inline::Declined,
            result => Inline::Done(result),
        }
    }

    /// Runs one job's work under its control: budgets set before; after, logs collected,
    /// connector calls still pending cancelled, and the runtime renewed after a fault or
    /// when the work left promise jobs queued.
    fn execute(
        &mut self,
        control: RunControl,
        abort: Arc<AtomicBool>,
        work: impl FnOnce(&mut Self) -> Result<Value, ScriptError>,
    ) -> Result<FunctionOutput, ScriptError> {
        self.sweep();
        *self.active.control.borrow_mut() = Some((control, abort));
        self.active.stopped.set(None);
        *self.active.logs.borrow_mut() = RunLogs::default();
        self.runtime.set_memory_limit(self.limits.memory_bytes);

        let result = work(self);
        let logs = std::mem::take(&mut *self.active.logs.borrow_mut()).finish();
        // Dropping the calls cancels those still pending (see `Calls`' `Drop`).
        *self.active.calls.borrow_mut() = None;
        *self.active.control.borrow_mut() = None;
        // Lift the memory limit between jobs so that freeing and the next job's setup cannot fail.
        self.runtime.set_memory_limit(0);
        let faulted = matches!(
            &result,
            Err(ScriptError {
                kind: ScriptErrorKind::Timeout { .. }
                    | ScriptErrorKind::Cancelled
                    | ScriptErrorKind::Memory { .. }
                    | ScriptErrorKind::StackOverflow { .. },
                ..
            })
        );
        // Promise jobs still queued belong to this run: left there they would run at the start
        // of the next job on this worker — any deployment's — under its deadline and with its
        // connectors (a script task's `Promise.resolve().then(…)`, or jobs of a function that
        // threw before its promise was awaited). QuickJS cannot drop queued jobs, so the
        // runtime is renewed as after a fault. Work that runs to its end leaves none (a call
        // drives the queue until it is empty), so this costs only runs that do.
        let leftover = self.runtime.is_job_pending();
        if (faulted || leftover)
            && let Err(mut err) = self.reset()
        {
            err.logs = logs;
            return Err(err);
        }
        match result {
            Ok(value) => Ok(FunctionOutput { value, logs }),
            Err(mut err) => {
                err.logs = logs;
                Err(err)
            }
        }
    }

    /// Drops contexts of modules nobody holds any more.
    fn sweep(&mut self) {
        self.jobs_since_sweep += 1;
        if self.jobs_since_sweep < 256 {
            return;
        }
        self.jobs_since_sweep = 0;
        let dead: Vec<u64> = self
            .modules
            .iter()
            .filter(|(_, e)| e.source.strong_count() == 0)
            .map(|(id, _)| *id)
            .collect();
        for id in dead {
            self.modules.remove(&id);
            self.files.borrow_mut().remove(&id);
        }
    }

    fn new_context(&self) -> Result<Context, ScriptError> {
        let context = Context::full(&self.runtime).map_err(|err| setup_error(&err))?;
        let installed = context.with(|ctx| {
            install_globals(
                &ctx,
                &self.library,
                &self.active,
                self.limits.max_output_bytes,
            )
        });
        installed
            .map_err(|err| ScriptError::runtime(format!("cannot set up JavaScript: {err}")))?;
        Ok(context)
    }

    /// The module's context and default export, evaluating the module on first use.
    fn module(
        &mut self,
        module: &Arc<ModuleSource>,
    ) -> Result<(Context, Persistent<Function<'static>>), ScriptError> {
        if let Some(entry) = self.modules.get(&module.id) {
            return Ok((entry.context.clone(), entry.main.clone()));
        }
        self.files
            .borrow_mut()
            .insert(module.id, module.files.clone());
        let context = self.new_context()?;
        let name = module_name(module.id, &module.path);
        let source = module.files.get(&module.path).cloned().unwrap_or_default();
        let (promise, namespace) = context.with(
            |ctx| -> Result<
                (Persistent<JsValue<'static>>, Persistent<Object<'static>>),
                ScriptError,
            > {
                let declared = Module::declare(ctx.clone(), name.as_str(), source)
                    .catch(&ctx)
                    .map_err(|err| self.caught(err, true))?;
                let (evaluated, promise) = declared
                    .eval()
                    .catch(&ctx)
                    .map_err(|err| self.caught(err, true))?;
                let namespace = evaluated
                    .namespace()
                    .catch(&ctx)
                    .map_err(|err| self.caught(err, true))?;
                Ok((
                    Persistent::save(&ctx, promise.into_value()),
                    Persistent::save(&ctx, namespace),
                ))
            },
        )?;
        // Top-level await may still be pending: drive the evaluation like a call.
        let (_sender, receiver) = mpsc::channel();
        self.drive_with(&context, promise, &receiver)?;
        let main = context.with(
            |ctx| -> Result<Persistent<Function<'static>>, ScriptError> {
                let namespace = namespace
                    .restore(&ctx)
                    .map_err(|err| ScriptError::runtime(err.to_string()))?;
                let main = namespace.get::<_, Function>("default").map_err(|_| {
                    ScriptError::runtime("the module's default export is not a function")
                })?;
                Ok(Persistent::save(&ctx, main))
            },
        )?;
        self.modules.insert(
            module.id,
            ModuleEntry {
                source: Arc::downgrade(module),
                context: context.clone(),
                main: main.clone(),
                js_ctx: None,
            },
        );
        Ok((context, main))
    }

    fn call(
        &mut self,
        module: &Arc<ModuleSource>,
        input: &Value,
        fctx: &FunctionContext,
        handle: Option<&tokio::runtime::Handle>,
    ) -> Result<Value, ScriptError> {
        let (context, main) = self.module(module)?;
        let (sender, receiver) = mpsc::channel();
        if let Some(handle) = handle {
            *self.active.calls.borrow_mut() = Some(Calls {
                connectors: fctx.connectors.clone(),
                handle: handle.clone(),
                sender,
                next_id: 0,
                pending: HashMap::new(),
            });
        }
        // `ctx` is frozen (and so is its `env`): one object serves every call with this env.
        let cached = self
            .modules
            .get(&module.id)
            .and_then(|entry| entry.js_ctx.as_ref())
            .filter(|(env, _)| Arc::ptr_eq(env, &fctx.env) || **env == *fctx.env)
            .map(|(_, js_ctx)| js_ctx.clone());
        let mut made = None;
        let returned =
            context.with(|ctx| -> Result<Persistent<JsValue<'static>>, ScriptError> {
                let run = || -> rquickjs::Result<JsValue<'_>> {
                    let main = main.clone().restore(&ctx)?;
                    let input = json_to_js(&ctx, input)?;
                    let js_ctx = match cached {
                        Some(js_ctx) => js_ctx.restore(&ctx)?,
                        None => {
                            let env = Object::new(ctx.clone())?;
                            for (key, value) in fctx.env.iter() {
                                env.set(key.as_str(), value.as_str())?;
                            }
                            let make_ctx: Function = ctx.globals().get("__sw_ctx")?;
                            let js_ctx: JsValue = make_ctx.call((env,))?;
                            made = Some(Persistent::save(&ctx, js_ctx.clone()));
                            js_ctx
                        }
                    };
                    main.call((input, js_ctx))
                };
                let value = run().catch(&ctx).map_err(|err| self.caught(err, false))?;
                Ok(Persistent::save(&ctx, value))
            })?;
        if let Some(js_ctx) = made
            && let Some(entry) = self.modules.get_mut(&module.id)
        {
            entry.js_ctx = Some((fctx.env.clone(), js_ctx));
        }
        self.drive_with(&context, returned, &receiver)
    }

    fn script(&mut self, source: &str, vars: Value, is_script: bool) -> Result<Value, ScriptError> {
        if self.scripts.is_none() {
            let context = self.new_context()?;
            context
                .with(|ctx| ctx.eval::<(), _>(FREEZE_INTRINSICS))
                .map_err(|err| ScriptError::runtime(format!("cannot set up JavaScript: {err}")))?;
            self.scripts = Some(ScriptContext {
                context,
                compiled: HashMap::new(),
            });
        }
        let Some(scripts) = self.scripts.as_mut() else {
            return Err(ScriptError::runtime("no script context"));
        };
        let context = scripts.context.clone();
        let key = format!("{}{source}", if is_script { 's' } else { 'e' });
        let compiled = match scripts.compiled.get(&key) {
            Some(found) => found.clone(),
            None => {
                let wrapper = if is_script {
                    format!("(function (vars) {{ \"use strict\";\n{source}\n}})")
                } else {
                    format!("(function (vars) {{ \"use strict\"; return (\n{source}\n); }})")
                };
                let active = self.active.clone();
                let compiled = context.with(|ctx| {
                    ctx.eval::<Function, _>(wrapper)
                        .catch(&ctx)
                        .map(|f| Persistent::save(&ctx, f))
                        .map_err(|err| caught_error(&active, err, true, SCRIPT_WRAPPER_LINES))
                })?;
                if scripts.compiled.len() >= SCRIPT_CACHE_ENTRIES {
                    scripts.compiled.clear();
                }
                scripts.compiled.insert(key, compiled.clone());
                compiled
            }
        };
        let active = self.active.clone();
        let budget = self.limits.max_output_bytes;
        context.with(|ctx| {
            let run = || -> rquickjs::Result<(JsValue<'_>, JsValue<'_>)> {
                let function = compiled.restore(&ctx)?;
                let vars = json_to_js(&ctx, &vars)?;
                let result: JsValue = function.call((vars.clone(),))?;
                Ok((vars, result))
            };
            let (vars, result) = run()
                .catch(&ctx)
                .map_err(|err| caught_error(&active, err, false, SCRIPT_WRAPPER_LINES))?;
            let out = if is_script { vars } else { result };
            to_output(&ctx, &active, &out, budget)
        })
    }

    fn caught(&self, err: CaughtError<'_>, compiling: bool) -> ScriptError {
        caught_error(&self.active, err, compiling, 0)
    }

    /// Runs the job queue and settles connector calls until the returned value (a promise or a
    /// plain value) is settled, then converts it.
    fn drive_with(
        &self,
        context: &Context,
        returned: Persistent<JsValue<'static>>,
        completions: &mpsc::Receiver<Completion>,
    ) -> Result<Value, ScriptError> {
        let budget = self.limits.max_output_bytes;
        loop {
            while self.runtime.is_job_pending() {
                // An exception in a job rejects the promise it belongs to; it is read below.
                let _ = self.runtime.execute_pending_job();
                if let Some(stop) = self.active.stopped.get().or_else(|| self.active.check()) {
                    return Err(stop_error(stop));
                }
            }
            let active = self.active.clone();
            let settled = context.with(|ctx| -> Option<Result<Value, ScriptError>> {
                let value = match returned.clone().restore(&ctx) {
                    Ok(value) => value,
                    Err(err) => return Some(Err(ScriptError::runtime(err.to_string()))),
                };
                let Some(promise) = value.as_promise() else {
                    return Some(to_output(&ctx, &active, &value, budget));
                };
                match promise.state() {
                    PromiseState::Pending => None,
                    PromiseState::Resolved => {
                        let result = promise.result::<JsValue>()?;
                        Some(match result {
                            Ok(value) => to_output(&ctx, &active, &value, budget),
                            Err(err) => Err(ScriptError::runtime(err.to_string())),
                        })
                    }
                    PromiseState::Rejected => {
                        let result = promise.result::<JsValue>()?;
                        Some(Err(result
                            .catch(&ctx)
                            .err()
                            .map(|err| caught_error(&active, err, false, 0))
                            .unwrap_or_else(|| {
                                ScriptError::runtime("the promise was rejected")
                            })))
                    }
                }
            });
            if let Some(result) = settled {
                return result;
            }
            if let Some(stop) = self.active.stopped.get().or_else(|| self.active.check()) {
                return Err(stop_error(stop));
            }
            let waiting = self
                .active
                .calls
                .borrow()
                .as_ref()
                .is_some_and(|calls| !calls.pending.is_empty());
            if !waiting && !self.runtime.is_job_pending() {
                return Err(ScriptError::runtime(
                    "the function's promise can never settle (it awaits nothing that will finish)",
                ));
            }
            match completions.recv_timeout(Duration::from_millis(20)) {
                Ok((id, result)) => self.settle(context, id, result),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(ScriptError::runtime("connector calls were lost"));
                }
            }
        }
    }

    fn settle(&self, context: &Context, id: u64, result: Result<Value, CallError>) {
        let Some(PendingCall {
            resolve, reject, ..
        }) = self
            .active
            .calls
            .borrow_mut()
            .as_mut()
            .and_then(|calls| calls.pending.remove(&id))
        else {
            return;
        };
        context.with(|ctx| {
            let settle = || -> rquickjs::Result<()> {
                match result {
                    Ok(value) => {
                        let resolve = resolve.restore(&ctx)?;
                        resolve.call::<_, ()>((json_to_js(&ctx, &value)?,))
                    }
                    Err(err) => {
                        let reject = reject.restore(&ctx)?;
                        let error =
                            rquickjs::Exception::from_message(ctx.clone(), &err.to_string())?;
                        reject.call::<_, ()>((error,))
                    }
                }
            };
            let _ = settle().catch(&ctx);
        });
    }
}

fn new_runtime(
    active: &Rc<Active>,
    files: &ModuleFiles,
    limits: &JsLimits,
) -> Result<Runtime, ScriptError> {
    let runtime = Runtime::new().map_err(|err| setup_error(&err))?;
    runtime.set_max_stack_size(limits.stack_bytes);
    let checker = active.clone();
    runtime.set_interrupt_handler(Some(Box::new(move || match checker.check() {
        Some(stop) => {
            checker.stopped.set(Some(stop));
            true
        }
        None => false,
    })));
    let modules = VendoredModules {
        files: files.clone(),
    };
    runtime.set_loader(modules.clone(), modules);
    Ok(runtime)
}

fn setup_error(err: &rquickjs::Error) -> ScriptError {
    ScriptError::runtime(format!("cannot start JavaScript: {err}"))
}

fn stop_error(stop: Stop) -> ScriptError {
    match stop {
        Stop::Cancelled => ScriptErrorKind::Cancelled.into(),
        Stop::Deadline => ScriptErrorKind::Timeout {
            message: "the run passed its deadline".into(),
        }
        .into(),
    }
}

fn to_output<'js>(
    ctx: &Ctx<'js>,
    active: &Active,
    value: &JsValue<'js>,
    limit: usize,
) -> Result<Value, ScriptError> {
    let mut budget = limit;
    match js_to_json(value, &mut budget, &|| active.must_stop()) {
        Ok(json) => Ok(json),
        Err(ConvertError::TooLarge) => {
            Err(ScriptErrorKind::OutputTooLarge { limit_bytes: limit }.into())
        }
        Err(ConvertError::TooDeep) => Err(ScriptError::runtime(
            "the result is nested too deeply (or contains a cycle)",
        )),
        Err(ConvertError::Stopped) => {
            Err(stop_error(active.stopped.get().unwrap_or(Stop::Deadline)))
        }
        Err(ConvertError::Js(err)) => Err(match Err::<(), _>(err).catch(ctx) {
            Err(caught) => caught_error(active, caught, false, 0),
            Ok(()) => ScriptError::runtime("the result cannot become JSON"),
        }),
    }
}

/// The message QuickJS gives the `RangeError` it throws when a run passes its stack limit.
const QUICKJS_STACK_OVERFLOW: &str = "Maximum call stack size exceeded";

/// Maps a caught JavaScript error (or thrown value) to a [`ScriptError`].
///
/// A budget fault is recognised only from what neither the script nor a connector can
/// produce by accident: the run's own stop flag (set by the interrupt handler, or by native
/// code that found the run stopped), rquickjs' allocation error, and the errors QuickJS itself
/// throws — an `InternalError` whose whole message is `out of memory` or `string too long`,
/// a `RangeError` whose whole message is QuickJS' stack-overflow message. A message that
/// merely contains such words (a connector's error, an `Error` the script makes) is a runtime
/// error like any other, and so is a thrown `undefined` (`Promise.reject()`, `reject()`,
/// `throw undefined`), which QuickJS never throws itself.
///
/// A thrown `null` stays a memory fault: it is what QuickJS throws when it has run so close to
/// the memory limit that it cannot make its `out of memory` error, which is how most runs that
/// fill their memory with small values end (59 of 60 such runs in a probe of two loops; a
/// string doubling until it fails got the `InternalError` every time). Nothing left after the
/// throw tells that apart from a script's own `throw null`: the frames that held the memory
/// are gone by then.
fn caught_error(
    active: &Active,
    err: CaughtError<'_>,
    compiling: bool,
    line_offset: u32,
) -> ScriptError {
    if let Some(stop) = active.stopped.get() {
        return stop_error(stop);
    }
    let (message, stack, name, code) = match &err {
        CaughtError::Exception(exception) => {
            let object = exception.as_object();
            (
                exception.message().unwrap_or_default(),
                exception.stack(),
                object.get::<_, String>("name").ok(),
                object
                    .get::<_, rquickjs::Coerced<String>>("code")
                    .ok()
                    .map(|c| c.0),
            )
        }
        CaughtError::Value(value) if value.is_null() => {
            return ScriptErrorKind::Memory {
                message: "the run passed its memory limit (or threw null)".into(),
            }
            .into();
        }
        CaughtError::Value(value) if value.type_of().is_void() => {
            return ScriptError::runtime(
                "the script threw undefined (or rejected a promise without a reason) instead of \
                 an error",
            );
        }
        CaughtError::Value(value) => {
            let object = value.as_object();
            let name = object.and_then(|o| o.get::<_, String>("name").ok());
            let code = object
                .and_then(|o| o.get::<_, rquickjs::Coerced<String>>("code").ok())
                .map(|c| c.0);
            let message = object
                .and_then(|o| o.get::<_, String>("message").ok())
                .or_else(|| value.get::<rquickjs::Coerced<String>>().ok().map(|c| c.0))
                .unwrap_or_default();
            (message, None, name, code)
        }
        CaughtError::Error(rquickjs::Error::Allocation) => {
            return ScriptErrorKind::Memory {
                message: "the run passed its memory limit".into(),
            }
            .into();
        }
        CaughtError::Error(other) => (other.to_string(), None, None, None),
    };
    if name.as_deref() == Some("BpmnError") {
        return ScriptErrorKind::BpmnError {
            code: code.unwrap_or_default(),
            message,
        }
        .into();
    }
    if matches!(err, CaughtError::Exception(_)) {
        match (name.as_deref(), message.as_str()) {
            (Some("InternalError"), "out of memory" | "string too long") => {
                return ScriptErrorKind::Memory {
                    message: "the run passed its memory limit".into(),
                }
                .into();
            }
            (Some("RangeError"), QUICKJS_STACK_OVERFLOW) => {
                return ScriptErrorKind::StackOverflow {
                    message: "the run passed its stack limit".into(),
                }
                .into();
            }
            _ => {}
        }
    }
    let line = stack
        .as_deref()
        .and_then(first_line_number)
        .map(|line| line.saturating_sub(line_offset));
    let message = match name {
        Some(name) if !name.is_empty() && name != "Error" => format!("{name}: {message}"),
        _ => message,
    };
    if compiling && (message.to_lowercase().contains("syntax") || name_is_syntax(&message)) {
        return ScriptErrorKind::Compile { message, line }.into();
    }
    ScriptErrorKind::Runtime {
        message,
        line,
        stack,
    }
    .into()
}

fn name_is_syntax(message: &str) -> bool {
    message.starts_with("SyntaxError")
}

/// The line of the first `file:line:column` in a QuickJS stack.
fn first_line_number(stack: &str) -> Option<u32> {
    for frame in stack.lines() {
        let frame = frame.trim().trim_end_matches(')');
        let mut parts = frame.rsplitn(3, ':');
        let _column = parts.next()?;
        if let Some(line) = parts.next().and_then(|l| l.parse().ok()) {
            return Some(line);
        }
    }
    None
}

/// Why a value a script hands to native code (a built-in's or a connector call's arguments)
/// did not become JSON, as the exception the script gets; `limit` is the conversion's budget.
fn argument_error(ctx: &Ctx<'_>, err: ConvertError, what: &str, limit: usize) -> rquickjs::Error {
    match err {
        ConvertError::Js(err) => err,
        ConvertError::TooLarge => rquickjs::Exception::throw_range(
            ctx,
            &format!("the arguments of {what} are larger than {limit} bytes as JSON"),
        ),
        ConvertError::TooDeep => rquickjs::Exception::throw_type(
            ctx,
            &format!("an argument of {what} is nested too deeply (or contains a cycle)"),
        ),
        // The run's stop flag is set: whatever is thrown, the run fails with the stop.
        ConvertError::Stopped => rquickjs::Exception::throw_internal(ctx, "interrupted"),
    }
}

/// Installs `sw`, runs the prelude (`BpmnError`, the `ctx` factory). Values scripts pass to
/// native code are converted to JSON within `argument_budget` bytes per call (the run's
/// output budget: no value leaves JavaScript larger than a result may be) and under the run's
/// stop check, so a value sharing its parts cannot make a conversion run away.
fn install_globals<'js>(
    ctx: &Ctx<'js>,
    library: &Library,
    active: &Rc<Active>,
    argument_budget: usize,
) -> rquickjs::Result<()> {
    let sw = Object::new(ctx.clone())?;
    for builtin in crate::script::library::builtins() {
        let library = library.clone();
        let active = active.clone();
        let function = Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, args: Rest<JsValue<'js>>| {
                let mut values = Vec::with_capacity(args.0.len());
                let mut budget = argument_budget;
                let stop = || active.must_stop();
                for arg in &args.0 {
                    match js_to_json(arg, &mut budget, &stop) {
                        Ok(value) => values.push(value),
                        Err(err) => {
                            let what = format!("sw.{}", builtin.name);
                            return Err(argument_error(&ctx, err, &what, argument_budget));
                        }
                    }
                }
                match library.call_builtin(builtin, &values) {
                    Ok(result) => json_to_js(&ctx, &result),
                    Err(message) => Err(rquickjs::Exception::throw_message(&ctx, &message)),
                }
            },
        )?
        .with_name(builtin.name)?;
        sw.set(builtin.name, function)?;
    }
    ctx.globals().set("sw", sw)?;

    let host = Object::new(ctx.clone())?;
    let log_active = active.clone();
    host.set(
        "log",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, level: String, args: Rest<JsValue<'js>>| {
                // Past the run's log budget a line is only counted, not even formatted.
                let room = log_active.logs.borrow().room();
                if room == 0 {
                    log_active.logs.borrow_mut().drop_line();
                    return Ok(());
                }
                // A string's quotes count in the conversion, not in the message.
                let mut budget = room.saturating_add(2 * args.0.len());
                let stop = || log_active.must_stop();
                let mut values = Vec::with_capacity(args.0.len());
                for arg in &args.0 {
                    match js_to_json(arg, &mut budget, &stop) {
                        Ok(value) => values.push(value),
                        Err(ConvertError::TooLarge) => {
                            log_active.logs.borrow_mut().drop_line();
                            return Ok(());
                        }
                        Err(ConvertError::Stopped) => {
                            return Err(rquickjs::Exception::throw_internal(&ctx, "interrupted"));
                        }
                        Err(ConvertError::TooDeep) => values.push(Value::Null),
                        // A `toJSON` that throws logs `null`, unless the run was stopped in it.
                        Err(ConvertError::Js(err)) => {
                            if log_active.must_stop() {
                                return Err(err);
                            }
                            let _ = ctx.catch();
                            values.push(Value::Null);
                        }
                    }
                }
                let level = match level.as_str() {
                    "warn" => LogLevel::Warn,
                    "error" => LogLevel::Error,
                    _ => LogLevel::Info,
                };
                log_active
                    .logs
                    .borrow_mut()
                    .push(level, log_message(&values));
                Ok::<(), rquickjs::Error>(())
            },
        )?,
    )?;
    let call_active = active.clone();
    host.set(
        "call",
        Function::new(
            ctx.clone(),
            move |ctx: Ctx<'js>, connector: String, method: String, args: JsValue<'js>| {
                let mut budget = argument_budget;
                let stop = || call_active.must_stop();
                let args = match js_to_json(&args, &mut budget, &stop) {
                    Ok(args) => args,
                    Err(err) => {
                        let what = format!("{connector}.{method}");
                        return Err(argument_error(&ctx, err, &what, argument_budget));
                    }
                };
                let (promise, resolve, reject) = ctx.promise()?;
                let mut calls = call_active.calls.borrow_mut();
                let Some(calls) = calls.as_mut() else {
                    if call_active.inline.get() {
                        call_active.wanted_connector.set(true);
                    }
                    return Err(rquickjs::Exception::throw_message(
                        &ctx,
                        "connectors are not available here",
                    ));
                };
                let id = calls.next_id;
                calls.next_id += 1;
                let connectors = calls.connectors.clone();
                let sender = calls.sender.clone();
                let task = calls.handle.spawn(async move {
                    let result = connectors.call(&connector, &method, args).await;
                    let _ = sender.send((id, result));
                });
                calls.pending.insert(
                    id,
                    PendingCall {
                        resolve: Persistent::save(&ctx, resolve),
                        reject: Persistent::save(&ctx, reject),
                        task: task.abort_handle(),
                    },
                );
                Ok::<Promise<'js>, rquickjs::Error>(promise)
            },
        )?,
    )?;
    ctx.globals().set("__sw_host", host)?;
    ctx.eval::<(), _>(PRELUDE)?;
    Ok(())
}

/// Files of a module: the module's own path and the vendored packages.
pub(super) fn module_files(
    path: &str,
    source: &str,
    node_modules: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    for (file, text) in node_modules {
        let file = file.trim_start_matches("./");
        let file = if file.starts_with("node_modules/") {
            file.to_owned()
        } else {
            format!("node_modules/{file}")
        };
        files.insert(file, text.clone());
    }
    files.insert(path.to_owned(), source.to_owned());
    files
}

/// Runs jobs from the shared queue until it closes.
pub(super) fn worker_loop(
    queue: Arc<Mutex<mpsc::Receiver<Job>>>,
    library: Library,
    limits: JsLimits,
) {
    let Ok(mut worker) = Worker::new(library.clone(), limits.clone()) else {
        return;
    };
    loop {
        let job = {
            let queue = queue.lock().unwrap_or_else(|p| p.into_inner());
            queue.recv()
        };
        let Ok(job) = job else { return };
        // A panic fails only its job (its reply channel closes); the worker starts afresh.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| worker.run(job)));
        if outcome.is_err() {
            match Worker::new(library.clone(), limits.clone()) {
                Ok(fresh) => worker = fresh,
                Err(_) => return,
            }
        }
    }
}
