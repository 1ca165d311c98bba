//! The deployments an engine hosts, and the routing table over them.
//!
//! A [`Deployment`] is one (VMS, version) loaded: the compiled [`Program`], the VMS model
//! (for parameters and triggers), the resolved HTTP routes, env values, connectors, a
//! concurrency limit and a log level. The [`Registry`] holds them in a [`RouteTable`], an
//! immutable value swapped atomically (`arc-swap`): a request loads the current table once
//! and keeps the [`Arc<Deployment>`] it routed to until it answers, so a swap never fails a
//! request in flight. Changes are serialised by one writer lock.
//!
//! Per VMS one version is *active* and receives the traffic; other loaded versions answer
//! when a request names them (`x-starweave-version`). Deploying a version makes it active.
//! Removing a version (or replacing one with a different build) takes it out of the table
//! first, then waits for its in-flight runs to finish ("draining"), cancelling those still
//! running after the drain timeout.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use axum::http::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use starweave_model::Diagnostic;
use starweave_model::trace::RunLog;
use starweave_model::vms::connector::HttpVerb;
use starweave_model::vms::disk::VmsSourceMap;
use starweave_model::vms::trigger::HttpTrigger;
use starweave_model::vms::{Trigger, Vms, read_vms};
use tokio::sync::{Notify, Semaphore};

use super::auth::Authenticator;
use super::input::InputSchema;
use super::metrics::FunctionMetrics;
use super::openapi::openapi_document;
use super::routes::Pattern;
use super::source::{Source, SourceError, read_source};
use super::state::StateDir;
use crate::compile::{Program, Scripting, compile_vms};
use crate::connectors::Connectors;
use crate::io::{LiveConnectors, LiveOptions};
use crate::run::{CancelToken, RunConfig, RunError, run_function};
use crate::script::js::JsPoolConfig;
use crate::script::library::{Library, SystemClock};
use crate::script::rhai::{RhaiAst, RhaiLimits};

/// Engine-wide settings of deployments (the server's flags).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Deadline of a run whose function declares no `timeout_ms` and whose deployment sets none.
    pub default_timeout: Duration,
    /// Runs of one deployment at once, when the deployment does not say.
    pub default_concurrency: u32,
    /// How long an HTTP request waits for a free run slot before a 503.
    pub queue_timeout: Duration,
    /// How long an unloaded deployment's runs may go on before they are cancelled.
    pub drain_timeout: Duration,
    /// How long an HTTP request's body may take to arrive before a 408.
    pub body_timeout: Duration,
    /// JavaScript worker threads of each deployment (started on its first JavaScript run), so
    /// one VMS's looping scripts cannot hold the workers of another.
    pub js_workers: usize,
    /// How long a JavaScript code function may run on the calling thread before its call
    /// moves to a worker; `None` sends every call to a worker (see the `script::js` docs).
    pub js_inline_budget: Option<Duration>,
    /// Whether a request may pick another loaded version than the active one with the
    /// `x-starweave-version` header (gRPC metadata alike). Off by default: a client could
    /// otherwise reach an earlier version that is still loaded — one whose route had no
    /// authentication yet, say. Turn it on only where a gateway in front of the engine sets
    /// the header and strips it from outside requests.
    pub version_header: bool,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            default_timeout: Duration::from_secs(30),
            default_concurrency: 64,
            queue_timeout: Duration::from_millis(200),
            drain_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(30),
            js_workers: std::thread::available_parallelism()
                .map_or(2, |n| n.get())
                .min(4),
            js_inline_budget: JsPoolConfig::default().inline_budget,
            version_header: false,
        }
    }
}

/// The log level of a deployment: its request and run events below it are not emitted.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Failures only.
    Error = 1,
    /// Failures and refusals (4xx, overload).
    Warn = 2,
    /// Every request.
    #[default]
    Info = 3,
    /// Every request with its input size and route details.
    Debug = 4,
    /// Everything.
    Trace = 5,
}

impl LogLevel {
    fn from_u8(value: u8) -> LogLevel {
        match value {
            1 => LogLevel::Error,
            2 => LogLevel::Warn,
            4 => LogLevel::Debug,
            5 => LogLevel::Trace,
            _ => LogLevel::Info,
        }
    }
}

/// What to deploy: the body of `POST /admin/deployments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentSpec {
    /// The VMS name: its traffic comes in under `/{vms}/…`.
    pub vms: String,
    /// The version (a build number, a commit, `v2`…).
    pub version: String,
    /// Where the VMS's files are.
    pub source: Source,
    /// Env var values (the VMS's declared defaults fill the gaps).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// Runs at once; the engine default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Deadline of runs whose function declares none, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The log level; `info` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_level: Option<LogLevel>,
}

/// Why a deployment did not load. The previous version, if any, keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The VMS or version name is not acceptable.
    #[error("{0}")]
    BadName(String),
    /// The source could not be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The VMS has errors; every diagnostic is listed (warnings too).
    #[error("the VMS does not load: {} error(s)", .0.iter().filter(|d| d.is_error()).count())]
    Invalid(Vec<Diagnostic>),
    /// The deployment loads but could not be recorded in the state directory, so it was not
    /// activated (a restart would have lost it).
    #[error("the deployment cannot be saved in the state directory, so it is not activated: {0}")]
    State(String),
}

/// What [`Registry::deploy`] did.
#[derive(Debug, Clone, Serialize)]
pub struct DeployReport {
    /// False when the same build with the same settings was already loaded (then only the
    /// log level and the active version may have changed).
    pub changed: bool,
    /// The deployment as it is now.
    pub deployment: DeploymentInfo,
}

/// One HTTP route of a deployment.
#[derive(Debug)]
pub struct HttpRoute {
    /// The verb.
    pub method: Method,
    /// The path pattern, relative to the VMS prefix.
    pub pattern: Pattern,
    /// The trigger as declared.
    pub trigger: HttpTrigger,
    /// Checks of the function's input.
    pub input: InputSchema,
    /// Explicit input mapping, compiled: input field → Rhai expression over `request`.
    pub mapping: Vec<(String, RhaiAst)>,
    /// Authentication, with its secrets resolved.
    pub auth: Option<Authenticator>,
    /// The success status.
    pub status: StatusCode,
    /// The function's deadline.
    pub timeout: Duration,
    /// Counters of the route's function.
    pub metrics: Arc<FunctionMetrics>,
}

/// Where a deployment's runs send connector calls.
#[derive(Debug, Clone)]
pub enum DeploymentConnectors {
    /// Real clients built from the VMS's connectors (the normal case).
    Live(LiveConnectors),
    /// The same connectors for every run (tests, embedders).
    Fixed(Arc<dyn Connectors>),
}

impl DeploymentConnectors {
    fn for_run(&self) -> Arc<dyn Connectors> {
        match self {
            DeploymentConnectors::Live(live) => Arc::new(live.for_run()),
            DeploymentConnectors::Fixed(fixed) => fixed.clone(),
        }
    }
}

/// One loaded (VMS, version).
#[derive(Debug)]
pub struct Deployment {
    /// The VMS name.
    pub vms: String,
    /// The version.
    pub version: String,
    /// The compiled program.
    pub program: Arc<Program>,
    /// The VMS as read.
    pub model: Vms,
    /// HTTP routes, most specific first.
    pub routes: Vec<HttpRoute>,
    /// gRPC methods served (see [`crate::triggers::grpc`]).
    pub grpc_routes: Vec<crate::triggers::grpc::GrpcRoute>,
    /// The OpenAPI 3.1 document of the HTTP routes, serialised.
    pub openapi: Vec<u8>,
    /// Env values (declared defaults included).
    pub env: BTreeMap<String, String>,
    /// Where connector calls go.
    pub connectors: DeploymentConnectors,
    /// Runs at once.
    pub concurrency: u32,
    /// Deadline of runs whose function declares none.
    pub default_timeout: Duration,
    /// How long an HTTP request waits for a run slot.
    pub queue_timeout: Duration,
    /// Counters by function name.
    pub metrics: BTreeMap<String, Arc<FunctionMetrics>>,
    /// When it was loaded, in Unix milliseconds.
    pub loaded_at_ms: u64,
    /// How long reading and compiling took.
    pub load_time: Duration,
    /// Warnings found while loading.
    pub warnings: Vec<Diagnostic>,
    permits: Arc<Semaphore>,
    log_level: AtomicU8,
    /// When it last became its VMS's active version, in the registry's count of
    /// activations (0: never): an undeploy of the active version falls back to the version
    /// active most recently before it.
    activated: AtomicU64,
    in_flight: Arc<Counter>,
    loops: Arc<Counter>,
    cancel: CancelToken,
    fingerprint: u64,
    spec: DeploymentSpec,
    background: Mutex<Vec<tokio::task::AbortHandle>>,
}

/// A public summary of a deployment (the admin API's view).
#[derive(Debug, Clone, Serialize)]
pub struct DeploymentInfo {
    /// The VMS name.
    pub vms: String,
    /// The version.
    pub version: String,
    /// Whether it receives the VMS's traffic.
    pub active: bool,
    /// Runs at once.
    pub concurrency: u32,
    /// Runs going on now.
    pub in_flight: usize,
    /// The log level.
    pub log_level: LogLevel,
    /// HTTP routes: `GET /users/{id} → get_user`.
    pub routes: Vec<String>,
    /// When it was loaded, in Unix milliseconds.
    pub loaded_at_ms: u64,
    /// How long loading took, in milliseconds.
    pub load_ms: f64,
    /// The build and settings fingerprint (hex): equal means the same deployment.
    pub fingerprint: String,
    /// Warnings found while loading.
    pub warnings: Vec<Diagnostic>,
}

/// Who started a run: named in the log lines of its code.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    /// `http`, `cron`, `mq` or `grpc`.
    pub trigger: &'static str,
    /// The run's trace id.
    pub trace_id: &'a str,
}

/// How many of something a deployment has going on, and a wake-up when none is left.
#[derive(Debug, Default)]
struct Counter {
    count: AtomicUsize,
    zero: Notify,
}

impl Counter {
    fn get(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    /// Counts one more until the guard drops.
    fn hold(self: &Arc<Self>) -> Counted {
        self.count.fetch_add(1, Ordering::AcqRel);
        Counted {
            counter: self.clone(),
        }
    }

    /// Waits until the count is zero, or false at `deadline`.
    async fn wait_zero(&self, deadline: Instant) -> bool {
        loop {
            let notified = self.zero.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.get() == 0 {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || tokio::time::timeout(left, notified).await.is_err() {
                return false;
            }
        }
    }
}

/// Counted in one of a deployment's counters until dropped; it does not keep the deployment
/// alive.
#[derive(Debug)]
pub struct Counted {
    counter: Arc<Counter>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        if self.counter.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.counter.zero.notify_waiters();
        }
    }
}

/// Held while a run of a deployment goes on; the deployment drains when none is left.
pub type InFlight = Counted;

/// Held by a trigger's loop (an MQ subscription) until it has stopped and cleaned up after
/// itself (closed its channel, left its consumer group): draining the deployment waits for it,
/// so an unload or a shutdown does not cut that short.
pub type LoopRunning = Counted;

/// Why an invocation did not produce the function's result.
#[derive(Debug)]
pub enum InvokeError {
    /// The run failed (a BPMN error, a timeout, a script failure…).
    Run(RunError),
    /// No run slot became free within the queue timeout.
    Overloaded,
    /// The run panicked; the panic is contained to it.
    Panicked(String),
    /// The run did not stop at its deadline and was abandoned.
    Abandoned,
}

impl Deployment {
    /// The current log level.
    pub fn log_level(&self) -> LogLevel {
        LogLevel::from_u8(self.log_level.load(Ordering::Relaxed))
    }

    /// Sets the log level; takes effect for the next event.
    pub fn set_log_level(&self, level: LogLevel) {
        self.log_level.store(level as u8, Ordering::Relaxed);
    }

    /// Whether events at `level` are emitted for this deployment.
    pub fn logs(&self, level: LogLevel) -> bool {
        level <= self.log_level()
    }

    /// Runs going on now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.get()
    }

    /// Counts a run as in flight until the guard drops.
    pub fn enter(&self) -> InFlight {
        self.in_flight.hold()
    }

    /// Counts a trigger loop as running until the guard drops (see [`LoopRunning`]).
    pub fn loop_running(&self) -> LoopRunning {
        self.loops.hold()
    }

    /// The deadline of runs of `function`.
    pub fn timeout_of(&self, function: &str) -> Duration {
        self.model
            .functions
            .get(function)
            .and_then(|f| f.spec.timeout_ms)
            .map_or(self.default_timeout, Duration::from_millis)
            .min(crate::run::MAX_TIMEOUT)
    }

    /// Keeps a background task (a trigger's loop) alive as long as the deployment is loaded.
    pub fn add_background(&self, handle: tokio::task::AbortHandle) {
        self.background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(handle);
    }

    fn stop_background(&self) {
        for handle in self
            .background
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain(..)
        {
            handle.abort();
        }
    }

    /// Runs `function` with `input`: waits for a run slot (up to `queue_wait`, forever when
    /// `None`), runs on its own task with the function's deadline, and contains panics.
    pub async fn invoke(
        self: &Arc<Self>,
        function: &str,
        input: Value,
        queue_wait: Option<Duration>,
        origin: Origin<'_>,
    ) -> Result<Value, InvokeError> {
        let permit = match queue_wait {
            Some(wait) => match self.permits.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => tokio::time::timeout(wait, self.permits.clone().acquire_owned())
                    .await
                    .map_err(|_| InvokeError::Overloaded)?
                    .map_err(|_| InvokeError::Overloaded)?,
            },
            None => self
                .permits
                .clone()
                .acquire_owned()
                .await
                .map_err(|_| InvokeError::Overloaded)?,
        };
        // Counted by the task, not by this future: a client that goes away drops this future
        // while the run goes on, and a drain must still wait for (or cancel) that run.
        let in_flight = self.enter();
        let timeout = self.timeout_of(function);
        let config = RunConfig {
            timeout: Some(timeout),
            connectors: self.connectors.for_run(),
            cancel: self.cancel.clone(),
            env: self.env.clone(),
            ..RunConfig::default()
        };
        let program = self.program.clone();
        let name = function.to_owned();
        let task = tokio::spawn(async move {
            let outcome = run_function(&program, &name, input, config).await;
            drop(permit);
            drop(in_flight);
            outcome
        });
        let abort = task.abort_handle();
        // The run enforces its own deadline; this outer one only catches a run that does not
        // stop (a native call that never yields), so the request still gets an answer.
        match tokio::time::timeout(timeout + Duration::from_secs(2), task).await {
            Ok(Ok(outcome)) => {
                self.log_lines(&outcome.logs, origin);
                outcome.output.map_err(InvokeError::Run)
            }
            Ok(Err(join_error)) => {
                let message = match join_error.try_into_panic() {
                    Ok(payload) => panic_message(payload.as_ref()),
                    Err(err) => err.to_string(),
                };
                Err(InvokeError::Panicked(message))
            }
            Err(_) => {
                abort.abort();
                Err(InvokeError::Abandoned)
            }
        }
    }

    /// Logs what a run's code functions logged through `ctx.log`, each line at its level
    /// when the deployment's log level lets it through.
    fn log_lines(&self, lines: &[RunLog], origin: Origin<'_>) {
        for line in lines {
            let level = match line.level.as_str() {
                "error" => LogLevel::Error,
                "warn" => LogLevel::Warn,
                _ => LogLevel::Info,
            };
            if !self.logs(level) {
                continue;
            }
            let (vms, version, function, text) =
                (&self.vms, &self.version, &line.function, &line.message);
            let (trigger, trace_id) = (origin.trigger, origin.trace_id);
            match level {
                LogLevel::Error => tracing::error!(
                    target: super::DEPLOYMENT_TARGET,
                    vms,
                    version,
                    function,
                    trigger,
                    trace_id,
                    source = "ctx.log",
                    "{text}"
                ),
                LogLevel::Warn => tracing::warn!(
                    target: super::DEPLOYMENT_TARGET,
                    vms,
                    version,
                    function,
                    trigger,
                    trace_id,
                    source = "ctx.log",
                    "{text}"
                ),
                _ => tracing::info!(
                    target: super::DEPLOYMENT_TARGET,
                    vms,
                    version,
                    function,
                    trigger,
                    trace_id,
                    source = "ctx.log",
                    "{text}"
                ),
            }
        }
    }

    /// The admin API's view.
    pub fn info(&self, active: bool) -> DeploymentInfo {
        DeploymentInfo {
            vms: self.vms.clone(),
            version: self.version.clone(),
            active,
            concurrency: self.concurrency,
            in_flight: self.in_flight(),
            log_level: self.log_level(),
            routes: self
                .routes
                .iter()
                .map(|r| format!("{} {} → {}", r.method, r.trigger.path, r.trigger.function))
                .collect(),
            loaded_at_ms: self.loaded_at_ms,
            load_ms: self.load_time.as_secs_f64() * 1000.0,
            fingerprint: format!("{:016x}", self.fingerprint),
            warnings: self.warnings.clone(),
        }
    }

    /// Stops the triggers and waits until no run is in flight and every trigger loop has
    /// ended, or `timeout` passed (then cancels the runs left and returns false).
    pub async fn drain(&self, timeout: Duration) -> bool {
        self.stop_background();
        let deadline = Instant::now() + timeout;
        let drained =
            self.in_flight.wait_zero(deadline).await && self.loops.wait_zero(deadline).await;
        if !drained {
            self.cancel.cancel();
        }
        drained
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic without a message".to_owned()
    }
}

/// The versions of one VMS in the routing table.
#[derive(Debug, Clone)]
pub struct VmsEntry {
    /// The version receiving the traffic.
    pub active: Arc<Deployment>,
    /// Every loaded version.
    pub versions: BTreeMap<String, Arc<Deployment>>,
}

/// The immutable routing table: VMS name → its versions.
#[derive(Debug, Clone, Default)]
pub struct RouteTable {
    /// By VMS name.
    pub vms: HashMap<String, VmsEntry>,
}

impl RouteTable {
    /// Every deployment with whether it is active, by VMS then version.
    pub fn deployments(&self) -> Vec<(Arc<Deployment>, bool)> {
        let mut all: Vec<_> = self
            .vms
            .values()
            .flat_map(|entry| {
                entry
                    .versions
                    .values()
                    .map(|d| (d.clone(), Arc::ptr_eq(d, &entry.active)))
            })
            .collect();
        all.sort_by(|(a, _), (b, _)| (&a.vms, &a.version).cmp(&(&b.vms, &b.version)));
        all
    }

    /// The deployment (vms, version).
    pub fn get(&self, vms: &str, version: &str) -> Option<(&Arc<Deployment>, bool)> {
        let entry = self.vms.get(vms)?;
        let deployment = entry.versions.get(version)?;
        Some((deployment, Arc::ptr_eq(deployment, &entry.active)))
    }
}

/// Called with each deployment when it becomes active, to start its non-HTTP triggers.
pub type ActivationHook = Arc<dyn Fn(&Arc<Deployment>) + Send + Sync>;

/// The deployments of an engine; see the module docs.
pub struct Registry {
    table: ArcSwap<RouteTable>,
    writer: tokio::sync::Mutex<()>,
    options: EngineOptions,
    scripting: Scripting,
    on_activate: Mutex<Option<ActivationHook>>,
    state: OnceLock<Arc<StateDir>>,
    activations: AtomicU64,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new(options: EngineOptions) -> Self {
        Registry {
            table: ArcSwap::from_pointee(RouteTable::default()),
            writer: tokio::sync::Mutex::new(()),
            options,
            scripting: Scripting::default(),
            on_activate: Mutex::new(None),
            state: OnceLock::new(),
            activations: AtomicU64::new(0),
        }
    }

    /// Records every later [`Registry::deploy`], undeploy and log level change in `state`,
    /// for [`Registry::restore`] after a restart. Only the first call has an effect.
    pub fn set_state_dir(&self, state: StateDir) {
        let _ = self.state.set(Arc::new(state));
    }

    /// Loads the deployments saved in the state directory (none without one), oldest
    /// activation first, so each VMS's last active version is active again. Deployments
    /// that no longer load are logged and kept on disk (an operator can fix or undeploy
    /// them); the others load regardless. Returns how many loaded and how many did not.
    pub async fn restore(&self) -> (usize, usize) {
        let Some(state) = self.state.get().cloned() else {
            return (0, 0);
        };
        let (specs, unreadable) = match tokio::task::spawn_blocking(move || state.saved()).await {
            Ok(saved) => saved,
            Err(err) => {
                tracing::error!(error = %err, "cannot read the state directory");
                return (0, 1);
            }
        };
        for problem in &unreadable {
            tracing::error!(record = %problem.path.display(), error = problem.error, "a saved deployment cannot be read; it is not loaded");
        }
        let (mut loaded, mut failed) = (0, unreadable.len());
        for spec in specs {
            let (vms, version) = (spec.vms.clone(), spec.version.clone());
            match self.apply(spec, None, false).await {
                Ok(report) => {
                    loaded += 1;
                    tracing::info!(
                        vms,
                        version,
                        load_ms = report.deployment.load_ms,
                        "saved deployment loaded"
                    );
                }
                Err(err) => {
                    failed += 1;
                    let errors: Vec<String> = match &err {
                        DeployError::Invalid(diagnostics) => diagnostics
                            .iter()
                            .filter(|d| d.is_error())
                            .map(|d| format!("{}: {}", d.file.as_deref().unwrap_or(""), d.message))
                            .collect(),
                        other => vec![other.to_string()],
                    };
                    tracing::error!(vms, version, errors = ?errors, "a saved deployment does not load");
                }
            }
        }
        (loaded, failed)
    }

    /// The settings.
    pub fn options(&self) -> &EngineOptions {
        &self.options
    }

    /// The current routing table (a snapshot; later changes do not affect it).
    pub fn table(&self) -> Arc<RouteTable> {
        self.table.load_full()
    }

    /// Sets the hook that starts a deployment's cron and MQ triggers when it becomes active.
    pub fn set_activation_hook(&self, hook: ActivationHook) {
        *self.on_activate.lock().unwrap_or_else(|p| p.into_inner()) = Some(hook);
    }

    /// Loads (or re-applies) a deployment and makes it the active version of its VMS.
    /// Idempotent: the same build with the same settings is not compiled again. With
    /// `connectors`, runs use them instead of live connectors built from the VMS. With a
    /// state directory, the deployment is recorded there before it is activated.
    pub async fn deploy(
        &self,
        spec: DeploymentSpec,
        connectors: Option<Arc<dyn Connectors>>,
    ) -> Result<DeployReport, DeployError> {
        self.apply(spec, connectors, true).await
    }

    /// [`Registry::deploy`] without recording it in the state directory: for `--load`
    /// paths, which the engine loads again at every start anyway.
    pub async fn deploy_transient(
        &self,
        spec: DeploymentSpec,
    ) -> Result<DeployReport, DeployError> {
        self.apply(spec, None, false).await
    }

    async fn apply(
        &self,
        spec: DeploymentSpec,
        connectors: Option<Arc<dyn Connectors>>,
        record: bool,
    ) -> Result<DeployReport, DeployError> {
        check_names(&spec)?;
        let started = Instant::now();
        let source = spec.source.clone();
        let files = tokio::task::spawn_blocking(move || read_source(&source))
            .await
            .map_err(|err| {
                DeployError::Invalid(vec![Diagnostic::error("engine.load", err.to_string())])
            })??;
        let fingerprint = settings_fingerprint(files.fingerprint, &spec);
        let state = self.state.get().filter(|_| record).cloned();
        // The files as a tarball for the state directory, before the build takes them.
        let saved_files = state.as_ref().map(|_| files.files.clone());
        let content = files.fingerprint;
        let save = |spec: DeploymentSpec| async move {
            let (Some(state), Some(files)) = (state, saved_files) else {
                return Ok(());
            };
            tokio::task::spawn_blocking(move || {
                state.save(&spec, content, || super::source::write_tarball(&files))
            })
            .await
            .map_err(|err| DeployError::State(err.to_string()))?
            .map_err(|err| DeployError::State(err.to_string()))
        };
        let _writer = self.writer.lock().await;
        let table = self.table.load_full();
        if let Some((existing, _)) = table.get(&spec.vms, &spec.version)
            && existing.fingerprint == fingerprint
            && connectors.is_none()
        {
            let existing = existing.clone();
            save(spec.clone()).await?;
            existing.set_log_level(spec.log_level.unwrap_or_default());
            self.activate(&table, existing.clone());
            return Ok(DeployReport {
                changed: false,
                deployment: existing.info(true),
            });
        }
        let scripting = self.deployment_scripting();
        let options = self.options.clone();
        let build_spec = spec.clone();
        let mut deployment = tokio::task::spawn_blocking(move || {
            build(
                build_spec,
                files.files,
                fingerprint,
                &scripting,
                &options,
                connectors,
            )
        })
        .await
        .map_err(|err| {
            DeployError::Invalid(vec![Diagnostic::error("engine.load", err.to_string())])
        })??;
        // JavaScript compiles on the JS workers; do it now so syntax errors fail the load.
        let js_problems = deployment.program.prepare().await;
        if js_problems.iter().any(Diagnostic::is_error) {
            let mut all = deployment.warnings.clone();
            all.extend(js_problems);
            return Err(DeployError::Invalid(all));
        }
        save(spec.clone()).await?;
        deployment.load_time = started.elapsed();
        let deployment = Arc::new(deployment);
        let replaced = table.get(&spec.vms, &spec.version).map(|(d, _)| d.clone());
        self.activate(&table, deployment.clone());
        if let Some(old) = replaced {
            let drain_timeout = self.options.drain_timeout;
            tokio::spawn(async move {
                old.drain(drain_timeout).await;
            });
        }
        Ok(DeployReport {
            changed: true,
            deployment: deployment.info(true),
        })
    }

    /// Swaps in a table where `deployment` is loaded and active. Holds the writer lock.
    fn activate(&self, table: &RouteTable, deployment: Arc<Deployment>) {
        let order = self.activations.fetch_add(1, Ordering::Relaxed) + 1;
        deployment.activated.store(order, Ordering::Relaxed);
        let mut next = table.clone();
        let (was_active, previous) = match next.vms.get_mut(&deployment.vms) {
            Some(entry) => {
                let was_active = Arc::ptr_eq(&entry.active, &deployment);
                let previous = std::mem::replace(&mut entry.active, deployment.clone());
                entry
                    .versions
                    .insert(deployment.version.clone(), deployment.clone());
                (was_active, Some(previous))
            }
            None => {
                let versions = BTreeMap::from([(deployment.version.clone(), deployment.clone())]);
                let entry = VmsEntry {
                    active: deployment.clone(),
                    versions,
                };
                next.vms.insert(deployment.vms.clone(), entry);
                super::recent::open(&deployment.vms);
                (false, None)
            }
        };
        self.table.store(Arc::new(next));
        if !was_active {
            // Only the active version runs cron and MQ triggers.
            if let Some(previous) = previous {
                previous.stop_background();
            }
            let hook = self
                .on_activate
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone();
            if let Some(hook) = hook {
                hook(&deployment);
            }
        }
    }

    /// Unloads a deployment: out of the table at once, then drained. When it was the active
    /// version, the other version active most recently before it (if any) becomes active,
    /// and the state directory records that, so a restart agrees. Returns
    /// `None` when it is not loaded, else whether it drained in time.
    pub async fn undeploy(&self, vms: &str, version: &str) -> Option<bool> {
        let removed = {
            let _writer = self.writer.lock().await;
            let table = self.table.load_full();
            let mut next = (*table).clone();
            let entry = next.vms.get_mut(vms)?;
            let removed = entry.versions.remove(version)?;
            if let Some(state) = self.state.get().cloned() {
                let (v, n) = (vms.to_owned(), version.to_owned());
                let forgotten = tokio::task::spawn_blocking(move || state.remove(&v, &n)).await;
                // The engine stops serving it either way; a record left behind would load it
                // again at the next start, which the operator must know about.
                if let Ok(Err(err)) | Err(err) = forgotten.map_err(std::io::Error::other) {
                    tracing::error!(vms, version, error = %err, "the undeployed version stays in the state directory and would load again after a restart");
                }
            }
            let mut newly_active = None;
            if entry.versions.is_empty() {
                next.vms.remove(vms);
                super::recent::close(vms);
            } else if Arc::ptr_eq(&entry.active, &removed) {
                // Loaded but never active (a version loaded inactive) counts as 0: then
                // the most recently loaded one.
                let latest = entry
                    .versions
                    .values()
                    .max_by_key(|d| (d.activated.load(Ordering::Relaxed), d.loaded_at_ms))
                    .cloned();
                if let Some(latest) = latest {
                    let order = self.activations.fetch_add(1, Ordering::Relaxed) + 1;
                    latest.activated.store(order, Ordering::Relaxed);
                    entry.active = latest.clone();
                    newly_active = Some(latest);
                }
            }
            if let (Some(active), Some(state)) = (&newly_active, self.state.get().cloned()) {
                let (v, n) = (vms.to_owned(), active.version.clone());
                let saved = tokio::task::spawn_blocking(move || state.reactivate(&v, &n)).await;
                if let Ok(Err(err)) | Err(err) = saved.map_err(std::io::Error::other) {
                    tracing::error!(vms, version = active.version, error = %err, "the version active again is not recorded as such; a restart may activate another");
                }
            }
            self.table.store(Arc::new(next));
            if let Some(active) = newly_active {
                let hook = self
                    .on_activate
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .clone();
                if let Some(hook) = hook {
                    hook(&active);
                }
            }
            removed
        };
        Some(removed.drain(self.options.drain_timeout).await)
    }

    /// Makes a loaded version the active one of its VMS again — a rollback with no upload
    /// and no compile — and records that in the state directory. `Ok(None)` when it is not
    /// loaded; an error (and no change) when the state directory cannot record it.
    pub async fn reactivate(
        &self,
        vms: &str,
        version: &str,
    ) -> Result<Option<DeploymentInfo>, DeployError> {
        let _writer = self.writer.lock().await;
        let table = self.table.load_full();
        let Some((deployment, _)) = table.get(vms, version) else {
            return Ok(None);
        };
        let deployment = deployment.clone();
        if let Some(state) = self.state.get().cloned() {
            let (v, n) = (vms.to_owned(), version.to_owned());
            tokio::task::spawn_blocking(move || state.reactivate(&v, &n))
                .await
                .map_err(|err| DeployError::State(err.to_string()))?
                .map_err(|err| DeployError::State(err.to_string()))?;
        }
        self.activate(&table, deployment.clone());
        Ok(Some(deployment.info(true)))
    }

    /// Sets a deployment's log level (and records it in the state directory). `None` when it
    /// is not loaded.
    pub async fn set_log_level(
        &self,
        vms: &str,
        version: &str,
        level: LogLevel,
    ) -> Option<DeploymentInfo> {
        let _writer = self.writer.lock().await;
        let table = self.table.load_full();
        let (deployment, active) = table.get(vms, version)?;
        deployment.set_log_level(level);
        if let Some(state) = self.state.get().cloned() {
            let (v, n) = (vms.to_owned(), version.to_owned());
            let saved =
                tokio::task::spawn_blocking(move || state.set_log_level(&v, &n, level)).await;
            if let Ok(Err(err)) | Err(err) = saved.map_err(std::io::Error::other) {
                tracing::error!(vms, version, error = %err, "the log level is set but not saved; a restart goes back to the saved one");
            }
        }
        Some(deployment.info(active))
    }

    /// Unloads everything, draining all deployments (at shutdown).
    pub async fn undeploy_all(&self) {
        let deployments = {
            let _writer = self.writer.lock().await;
            let table = self.table.swap(Arc::new(RouteTable::default()));
            table.deployments()
        };
        let drain_timeout = self.options.drain_timeout;
        futures_util::future::join_all(deployments.iter().map(|(d, _)| d.drain(drain_timeout)))
            .await;
    }

    /// Script engines for a new deployment: the shared Rhai engine, its own JavaScript pool.
    fn deployment_scripting(&self) -> Scripting {
        let library = Library::new(Arc::new(SystemClock));
        let js = JsPoolConfig {
            workers: self.options.js_workers,
            inline_budget: self.options.js_inline_budget,
            ..JsPoolConfig::default()
        };
        let mut scripting = Scripting::new(library, RhaiLimits::default(), js);
        scripting.rhai = self.scripting.rhai.clone();
        scripting
    }
}

/// Checks a deployment's version: letters, digits, `.`, `_`, `-`, `+`, at most 128, not
/// starting with `.` (a version names a folder in the state directory, and `..` must not
/// climb out of it).
pub fn check_version(version: &str) -> Result<(), String> {
    let ok = !version.is_empty()
        && version.len() <= 128
        && !version.starts_with('.')
        && version
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{version}` is not a valid version (letters, digits, `.`, `_`, `-`, `+`, not starting with `.`)"
        ))
    }
}

fn check_names(spec: &DeploymentSpec) -> Result<(), DeployError> {
    if !starweave_model::vms::disk::is_valid_name(&spec.vms) {
        return Err(DeployError::BadName(format!(
            "`{}` is not a valid VMS name (letters, digits, `_` and `-`)",
            spec.vms
        )));
    }
    check_version(&spec.version).map_err(DeployError::BadName)?;
    if spec.concurrency == Some(0) {
        return Err(DeployError::BadName(
            "the concurrency must be at least 1".into(),
        ));
    }
    Ok(())
}

fn settings_fingerprint(files: u64, spec: &DeploymentSpec) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    (files, &spec.env, spec.concurrency, spec.timeout_ms).hash(&mut hasher);
    hasher.finish()
}

/// The deployment's env: declared defaults, then the given values.
pub(super) fn resolve_env(vms: &Vms, given: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    for var in &vms.env {
        if let Some(default) = &var.default {
            let text = match default {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            env.insert(var.name.clone(), text);
        }
    }
    env.extend(given.iter().map(|(k, v)| (k.clone(), v.clone())));
    env
}

/// Reads, validates and compiles a VMS into a deployment. Blocking (CPU-bound).
fn build(
    spec: DeploymentSpec,
    files: starweave_model::vms::VmsFiles,
    fingerprint: u64,
    scripting: &Scripting,
    options: &EngineOptions,
    connectors: Option<Arc<dyn Connectors>>,
) -> Result<Deployment, DeployError> {
    let document = read_vms(&files);
    let mut diagnostics = document.diagnostics.clone();
    diagnostics.extend(starweave_model::validate::validate_vms(&document));
    let map = document.source_map;
    let vms = document.vms;
    let compiled = compile_vms(&vms, scripting);
    diagnostics.extend(compiled.diagnostics);
    let env = resolve_env(&vms, &spec.env);
    let connectors = match connectors {
        Some(fixed) => DeploymentConnectors::Fixed(fixed),
        None => {
            let options = LiveOptions {
                rhai: Some(scripting.rhai.clone()),
                // gRPC connectors read their descriptor sets from the VMS's own files.
                files: vms.other_files.clone(),
                ..LiveOptions::default()
            };
            let (live, mut found) = LiveConnectors::new(&vms.connectors, env.clone(), options);
            super::check::place_connector_diagnostics(&mut found, &vms, &map, &files);
            diagnostics.extend(found);
            DeploymentConnectors::Live(live)
        }
    };
    let default_timeout = match spec.timeout_ms.map(crate::run::check_timeout_ms) {
        Some(Ok(timeout)) => timeout,
        Some(Err(problem)) => {
            diagnostics.push(Diagnostic::error(
                "engine.timeout",
                format!("the deployment's {problem}"),
            ));
            options.default_timeout
        }
        None => options.default_timeout,
    };
    let metrics: BTreeMap<String, Arc<FunctionMetrics>> = vms
        .functions
        .keys()
        .map(|name| (name.clone(), Arc::new(FunctionMetrics::default())))
        .collect();
    let (mut routes, route_problems) =
        http_routes(&vms, &map, &env, scripting, &metrics, default_timeout);
    diagnostics.extend(route_problems);
    let (grpc_routes, grpc_problems) = crate::triggers::grpc::compile_routes(&vms);
    diagnostics.extend(grpc_problems);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Err(DeployError::Invalid(diagnostics));
    }
    routes.sort_by_key(|r| r.pattern.specificity());
    let openapi = serde_json::to_vec(&openapi_document(&spec.vms, &spec.version, &vms, &routes))
        .unwrap_or_default();
    let concurrency = spec
        .concurrency
        .unwrap_or(options.default_concurrency)
        .max(1);
    Ok(Deployment {
        vms: spec.vms.clone(),
        version: spec.version.clone(),
        program: compiled.program,
        model: vms,
        routes,
        grpc_routes,
        openapi,
        env,
        connectors,
        concurrency,
        default_timeout,
        queue_timeout: options.queue_timeout,
        metrics,
        loaded_at_ms: SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64),
        load_time: Duration::ZERO,
        warnings: diagnostics,
        permits: Arc::new(Semaphore::new(concurrency as usize)),
        log_level: AtomicU8::new(spec.log_level.unwrap_or_default() as u8),
        activated: AtomicU64::new(0),
        in_flight: Arc::default(),
        loops: Arc::default(),
        cancel: CancelToken::new(),
        fingerprint,
        spec,
        background: Mutex::new(Vec::new()),
    })
}

/// The axum method of a model verb.
pub fn http_method(verb: HttpVerb) -> Method {
    match verb {
        HttpVerb::Get => Method::GET,
        HttpVerb::Post => Method::POST,
        HttpVerb::Put => Method::PUT,
        HttpVerb::Patch => Method::PATCH,
        HttpVerb::Delete => Method::DELETE,
        HttpVerb::Head => Method::HEAD,
        HttpVerb::Options => Method::OPTIONS,
    }
}

/// The HTTP routes of a VMS's triggers, and what is wrong with those that do not resolve or
/// that match the same requests as an earlier one.
pub(super) fn http_routes(
    vms: &Vms,
    map: &VmsSourceMap,
    env: &BTreeMap<String, String>,
    scripting: &Scripting,
    metrics: &BTreeMap<String, Arc<FunctionMetrics>>,
    default_timeout: Duration,
) -> (Vec<HttpRoute>, Vec<Diagnostic>) {
    let mut routes: Vec<HttpRoute> = Vec::new();
    let mut diagnostics = Vec::new();
    for (index, trigger) in vms.triggers.iter().enumerate() {
        let Trigger::Http(http) = trigger else {
            continue;
        };
        match http_route(http, vms, env, scripting, metrics, default_timeout) {
            Ok(route) => {
                if let Some(other) = routes
                    .iter()
                    .find(|r| r.method == route.method && r.pattern.same_shape(&route.pattern))
                {
                    diagnostics.push(map.trigger(index, Some("path")).attach(Diagnostic::error(
                        "engine.route-conflict",
                        format!(
                            "trigger {}: {} {} matches the same requests as {} {}",
                            index + 1,
                            route.method,
                            http.path,
                            other.method,
                            other.trigger.path
                        ),
                    )));
                }
                routes.push(route);
            }
            Err(RouteError {
                code,
                field,
                message,
            }) => diagnostics.push(
                map.trigger(index, field.as_deref())
                    .attach(Diagnostic::error(
                        code,
                        format!(
                            "trigger {} ({} {}): {message}",
                            index + 1,
                            http_method(http.method),
                            http.path
                        ),
                    )),
            ),
        }
    }
    (routes, diagnostics)
}

/// Why a trigger did not become a route: `engine.route` for what the model's validator
/// reports too (an unknown function, a bad path or status), a code of its own otherwise.
struct RouteError {
    code: &'static str,
    /// The trigger's field at fault (`auth`, `input.id`), when it is one.
    field: Option<String>,
    message: String,
}

impl From<String> for RouteError {
    fn from(message: String) -> Self {
        Self {
            code: "engine.route",
            field: None,
            message,
        }
    }
}

fn http_route(
    http: &HttpTrigger,
    vms: &Vms,
    env: &BTreeMap<String, String>,
    scripting: &Scripting,
    metrics: &BTreeMap<String, Arc<FunctionMetrics>>,
    default_timeout: Duration,
) -> Result<HttpRoute, RouteError> {
    let function = vms
        .functions
        .get(&http.function)
        .ok_or_else(|| format!("there is no function `{}`", http.function))?;
    let method = http_method(http.method);
    let pattern = Pattern::parse(&http.path)?;
    let mut mapping = Vec::new();
    for (field, expression) in &http.input {
        let ast = scripting
            .rhai
            .compile_expression(expression)
            .map_err(|err| RouteError {
                code: "engine.route-input",
                field: Some(format!("input.{field}")),
                message: format!("the input mapping of `{field}` does not compile: {err}"),
            })?;
        mapping.push((field.clone(), ast));
    }
    let auth = http
        .auth
        .as_ref()
        .map(|auth| Authenticator::new(auth, env))
        .transpose()
        .map_err(|message| RouteError {
            code: "engine.route-auth",
            field: Some("auth".to_owned()),
            message,
        })?;
    let status = StatusCode::from_u16(http.status.unwrap_or(200))
        .map_err(|_| format!("{} is not an HTTP status", http.status.unwrap_or(200)))?;
    for status in http.error_statuses.values() {
        StatusCode::from_u16(*status).map_err(|_| format!("{status} is not an HTTP status"))?;
    }
    Ok(HttpRoute {
        method,
        pattern,
        trigger: http.clone(),
        input: InputSchema::new(&function.spec.input),
        mapping,
        auth,
        status,
        timeout: function
            .spec
            .timeout_ms
            .map_or(default_timeout, Duration::from_millis),
        metrics: metrics.get(&http.function).cloned().unwrap_or_default(),
    })
}

impl Deployment {
    /// The spec it was deployed with.
    pub fn spec(&self) -> &DeploymentSpec {
        &self.spec
    }
}
