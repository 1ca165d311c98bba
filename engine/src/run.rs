//! Running a function: [`run_function`] with a [`RunConfig`] gives a [`RunOutcome`].
//!
//! A run takes the function's input (a JSON object), its own deadline and cancellation
//! token, the connectors and mocks to use, and whether to record a trace. It validates the
//! input against the function's declared parameters, runs the body — a BPMN flow, a Rhai or
//! a JavaScript function — and validates the output. Runs of one [`Program`] share nothing
//! but the program, so any number may run at once.
//!
//! The output of a BPMN function is an object of its declared output parameters, taken from
//! the variables of the same names at the end of the flow; a function that declares no
//! output (such as a bare `.bpmn` file) returns all its variables.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use starweave_model::trace::{RunLog, Trace};
use tokio::sync::Notify;

use crate::compile::Program;
use crate::connectors::{Connectors, NoConnectorConfigured};
use crate::flow;
use crate::mocks::Mocks;

/// How long a run may take when neither the config nor the function says.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The longest a run may take: a function's `timeout_ms`, a deployment's and an IDE run's
/// are refused (or, where nothing can refuse them, cut) above it. A day is far beyond any
/// request-serving function and keeps deadline arithmetic clear of overflow.
pub const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// Checks a `timeout_ms` value against `1..=MAX_TIMEOUT`; the problem, for a diagnostic.
pub fn check_timeout_ms(timeout_ms: u64) -> Result<Duration, String> {
    let timeout = Duration::from_millis(timeout_ms);
    if timeout_ms == 0 || timeout > MAX_TIMEOUT {
        return Err(format!(
            "timeout_ms {timeout_ms} is outside 1..={} (a day)",
            MAX_TIMEOUT.as_millis()
        ));
    }
    Ok(timeout)
}

/// How deeply functions may call functions (call activities, service tasks bound to a
/// function) before the run fails.
pub const DEFAULT_MAX_CALL_DEPTH: u32 = 32;

/// Everything a run needs besides the program, function and input.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The run's time budget; the function's `timeout_ms`, then [`DEFAULT_TIMEOUT`], when absent.
    pub timeout: Option<Duration>,
    /// Record a [`Trace`].
    pub trace: bool,
    /// Answers replacing connector methods and functions.
    pub mocks: Arc<Mocks>,
    /// Where connector calls go.
    pub connectors: Arc<dyn Connectors>,
    /// Cancels the run from outside.
    pub cancel: CancelToken,
    /// The deployment's env vars, `ctx.env` in code functions.
    pub env: BTreeMap<String, String>,
    /// How deeply functions may call functions.
    pub max_call_depth: u32,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            timeout: None,
            trace: false,
            mocks: Arc::new(Mocks::new()),
            connectors: Arc::new(NoConnectorConfigured),
            cancel: CancelToken::new(),
            env: BTreeMap::new(),
            max_call_depth: DEFAULT_MAX_CALL_DEPTH,
        }
    }
}

/// A cancellation token: clone it, hand one clone to the run, call [`CancelToken::cancel`]
/// on another. Scripts see it as the cancellation flag of their
/// [`RunControl`](crate::script::RunControl).
#[derive(Debug, Clone, Default)]
pub struct CancelToken {
    pub(crate) flag: Arc<AtomicBool>,
    notify: Arc<Notify>,
}

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels every run holding this token.
    pub fn cancel(&self) {
        self.flag.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether [`CancelToken::cancel`] was called.
    pub fn is_cancelled(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Completes once the token is cancelled.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// What kind of failure a [`RunError`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// A BPMN error (error end event, `throw_bpmn_error`, `BpmnError`, a connector or mock
    /// error with a code): boundary events can catch it.
    Bpmn,
    /// The input does not match the function's declared input.
    Input,
    /// The output does not match the function's declared output.
    Output,
    /// A script failed (syntax, runtime error, or one of its budgets).
    Script,
    /// A connector call failed without a business error code.
    Connector,
    /// The flow could not go on (no outgoing condition held, a join that can never fire).
    Flow,
    /// The run passed its deadline.
    Timeout,
    /// The run was cancelled.
    Cancelled,
    /// A bound of the run was passed: functions called functions too deeply, or a
    /// multi-instance activity asked for more than `flow::activity::MAX_INSTANCES` instances.
    Limit,
    /// The function (or one it calls) does not exist or does not compile.
    Compile,
}

/// Why a run failed. Serialised as the error JSON of `starweave run`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunError {
    /// What kind of failure.
    pub kind: ErrorKind,
    /// The code: the BPMN error code, or an engine code such as `DEADLINE_EXCEEDED`.
    pub code: String,
    /// What went wrong.
    pub message: String,
    /// The BPMN element where it happened, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub element: Option<String>,
    /// A connector's error with a code (a BPMN error a flow may catch) that no flow threw
    /// itself: its message is about the system behind the connector (a constraint name, an
    /// internal URL) and is not shown to a trigger's client.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_connector: bool,
}

impl RunError {
    /// A failure of `kind` with an engine code.
    pub fn new(kind: ErrorKind, code: &str, message: impl Into<String>) -> Self {
        RunError {
            kind,
            code: code.to_owned(),
            message: message.into(),
            element: None,
            from_connector: false,
        }
    }

    /// Whether a trigger's client may read its message: a BPMN error a flow or a script
    /// threw (not a connector's).
    pub fn is_business(&self) -> bool {
        self.kind == ErrorKind::Bpmn && !self.from_connector
    }

    /// A BPMN error with a code boundary events can catch.
    pub fn bpmn(code: &str, message: &str) -> Self {
        Self::new(ErrorKind::Bpmn, code, message)
    }

    /// The run passed its deadline.
    pub fn deadline() -> Self {
        Self::new(
            ErrorKind::Timeout,
            "DEADLINE_EXCEEDED",
            "the run passed its deadline",
        )
    }

    /// The run was cancelled.
    pub fn cancelled() -> Self {
        Self::new(ErrorKind::Cancelled, "CANCELLED", "the run was cancelled")
    }

    /// Whether a BPMN error boundary event can catch it.
    pub fn is_catchable(&self) -> bool {
        self.kind == ErrorKind::Bpmn
    }

    /// The same error, placed on `element` unless it already has a place.
    pub fn at(mut self, element: &str) -> Self {
        if self.element.is_none() {
            self.element = Some(element.to_owned());
        }
        self
    }
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)?;
        if let Some(element) = &self.element {
            write!(f, " (at {element})")?;
        }
        Ok(())
    }
}

impl std::error::Error for RunError {}

/// What a run produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The output, or why there is none.
    pub output: Result<Value, RunError>,
    /// The trace, when [`RunConfig::trace`] was set.
    pub trace: Option<Trace>,
    /// What its code functions logged through `ctx.log` (always collected: a run that logs
    /// nothing allocates nothing for it).
    pub logs: Vec<RunLog>,
}

/// Runs the function `function` of `program` with `input`.
pub async fn run_function(
    program: &Arc<Program>,
    function: &str,
    input: Value,
    config: RunConfig,
) -> RunOutcome {
    let Some(&index) = program.by_name.get(function) else {
        let message = format!(
            "there is no function `{function}` (the program has: {})",
            program.function_names().join(", ")
        );
        return RunOutcome {
            output: Err(RunError::new(
                ErrorKind::Compile,
                "UNKNOWN_FUNCTION",
                message,
            )),
            trace: None,
            logs: Vec::new(),
        };
    };
    flow::run(program, index, input, config).await
}
