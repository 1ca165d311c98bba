//! Scripting: the built-in expression library, Rhai expressions, scripts and functions, and
//! JavaScript functions on QuickJS — all under per-run budgets.
//!
//! # Shape
//!
//! - [`library`] holds every built-in once, in Rust, over `serde_json::Value`. [`rhai`] registers
//!   them as plain functions (`sha256("x")`), [`js`] as methods of the global `sw` object
//!   (`sw.sha256("x")`). [`reference`] renders their doc entries as the reference page and as the
//!   JSON the IDE's completion reads.
//! - Values cross into and out of both languages as JSON. Whole floating-point numbers within
//!   ±2⁵³ become JSON integers on the way out of either language, so Rhai's `3.0` and
//!   JavaScript's `3` are the same result.
//! - Every run carries a [`RunControl`] (deadline and cancellation flag). Rhai checks it from
//!   `on_progress`; QuickJS from its interrupt handler and while it waits for connector calls.
//!
//! # Threads
//!
//! Rhai is built with its `sync` feature: one [`rhai::RhaiEngine`] and its compiled ASTs are shared
//! by every run through `Arc`. Expressions are evaluated on the caller's thread (they are bounded
//! by the operation budget and the deadline); Rhai *functions*, which may call connectors, run
//! on tokio's blocking pool and wait for each connector call with `Handle::block_on`.
//!
//! QuickJS runtimes are not `Send`. Rather than enable rquickjs' `parallel` feature (which puts a
//! lock around every runtime access) the [`js::JsPool`] owns a fixed set of worker threads; each
//! owns one runtime and a cache of contexts — one per compiled module, with the module evaluated
//! and its default export ready — so a call pays for a context switch and a function call, not for
//! a runtime or a compile. Jobs reach the workers over a channel and answer on a oneshot channel,
//! so the public API is plain `async` and usable from any tokio task. Connector calls made by
//! JavaScript are spawned on the caller's tokio runtime and their results are sent back to the
//! worker, which settles the JavaScript promise and drives the job queue on.

pub mod js;
pub mod library;
pub mod reference;
pub mod rhai;

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A comparison operator, as the Rhai condition shortcut and the dynamic SQL `test`
/// expressions both parse it (`==`, `!=`, `<`, `<=`, `>`, `>=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `==` (`eq` in a `test` expression).
    Eq,
    /// `!=` (`neq`).
    Ne,
    /// `<` (`lt`).
    Lt,
    /// `<=` (`lte`).
    Le,
    /// `>` (`gt`).
    Gt,
    /// `>=` (`gte`).
    Ge,
}

impl CompareOp {
    /// Whether two values whose order is `ordering` satisfy the operator.
    pub fn holds(self, ordering: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        match self {
            Self::Eq => ordering == Equal,
            Self::Ne => ordering != Equal,
            Self::Lt => ordering == Less,
            Self::Le => ordering != Greater,
            Self::Gt => ordering == Greater,
            Self::Ge => ordering != Less,
        }
    }
}

/// What went wrong in a script run. Budget faults fail the run that caused them and nothing else.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ScriptError {
    /// The kind of failure, with its details.
    pub kind: ScriptErrorKind,
    /// What the code logged through `ctx.log` before it failed (kept for the run's logs:
    /// they are what explains the failure).
    pub logs: Vec<LogLine>,
}

/// The kinds of [`ScriptError`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScriptErrorKind {
    /// The run passed its deadline or its operation budget.
    Timeout {
        /// Which budget ran out.
        message: String,
    },
    /// The run passed its memory or data-size limit.
    Memory {
        /// Which limit was hit.
        message: String,
    },
    /// The run recursed past its stack or call-depth limit.
    StackOverflow {
        /// Which limit was hit.
        message: String,
    },
    /// The run's result, serialised as JSON, is larger than allowed.
    OutputTooLarge {
        /// The limit in bytes.
        limit_bytes: usize,
    },
    /// The run was cancelled from outside.
    Cancelled,
    /// The script raised a BPMN error (`throw_bpmn_error` in Rhai, `throw new BpmnError` in JS).
    BpmnError {
        /// The BPMN error code that boundary events catch.
        code: String,
        /// A human-readable message.
        message: String,
    },
    /// The source does not compile.
    Compile {
        /// The parser's message.
        message: String,
        /// 1-based line, when known.
        line: Option<u32>,
    },
    /// Any other failure raised while running the script.
    Runtime {
        /// The error message.
        message: String,
        /// 1-based line, when known.
        line: Option<u32>,
        /// The JavaScript stack, when there is one.
        stack: Option<String>,
    },
}

impl fmt::Display for ScriptErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout { message } => write!(f, "script timed out: {message}"),
            Self::Memory { message } => write!(f, "script ran out of memory: {message}"),
            Self::StackOverflow { message } => write!(f, "script overflowed its stack: {message}"),
            Self::OutputTooLarge { limit_bytes } => {
                write!(f, "script output is larger than {limit_bytes} bytes")
            }
            Self::Cancelled => f.write_str("script run was cancelled"),
            Self::BpmnError { code, message } => write!(f, "BPMN error {code}: {message}"),
            Self::Compile { message, line } => match line {
                Some(line) => write!(f, "script does not compile (line {line}): {message}"),
                None => write!(f, "script does not compile: {message}"),
            },
            Self::Runtime { message, line, .. } => match line {
                Some(line) => write!(f, "script failed (line {line}): {message}"),
                None => write!(f, "script failed: {message}"),
            },
        }
    }
}

impl ScriptError {
    /// A runtime error with a message and no position.
    pub fn runtime(message: impl Into<String>) -> Self {
        ScriptErrorKind::Runtime {
            message: message.into(),
            line: None,
            stack: None,
        }
        .into()
    }
}

impl From<ScriptErrorKind> for ScriptError {
    fn from(kind: ScriptErrorKind) -> Self {
        Self {
            kind,
            logs: Vec::new(),
        }
    }
}

/// Per-run control: a wall-clock deadline and a cancellation flag shared with whoever may cancel.
#[derive(Debug, Clone)]
pub struct RunControl {
    /// The instant after which the run fails with [`ScriptErrorKind::Timeout`].
    pub deadline: Instant,
    /// Set to `true` to cancel the run; it then fails with [`ScriptErrorKind::Cancelled`].
    pub cancel: Arc<AtomicBool>,
}

impl RunControl {
    /// A control that expires `timeout` from now, with a fresh cancellation flag.
    pub fn with_timeout(timeout: Duration) -> Self {
        Self {
            deadline: Instant::now() + timeout,
            cancel: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The fault to stop with, if the run must stop now.
    pub fn check(&self) -> Option<ScriptErrorKind> {
        if self.cancel.load(Ordering::Relaxed) {
            Some(ScriptErrorKind::Cancelled)
        } else if Instant::now() >= self.deadline {
            Some(ScriptErrorKind::Timeout {
                message: "the run passed its deadline".into(),
            })
        } else {
            None
        }
    }
}

/// Sets a run's abort flag when dropped: held by the future that waits for a run on another
/// thread (a JavaScript worker, Rhai's blocking pool), so that when the caller stops waiting —
/// the future is dropped — the run stops too instead of going on to its deadline.
#[derive(Debug)]
pub(crate) struct AbortOnDrop(pub(crate) Arc<AtomicBool>);

impl AbortOnDrop {
    /// A guard with a fresh, unset flag.
    pub(crate) fn new() -> Self {
        Self(Arc::new(AtomicBool::new(false)))
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Severity of a [`LogLine`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// `ctx.log.info(...)`.
    Info,
    /// `ctx.log.warn(...)`.
    Warn,
    /// `ctx.log.error(...)`.
    Error,
}

impl LogLevel {
    /// `info`, `warn` or `error`, as the level is written in logs.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// One line a script logged through `ctx.log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogLine {
    /// Its severity.
    pub level: LogLevel,
    /// The arguments, strings as they are and other values as JSON, joined by spaces.
    pub message: String,
}

/// A connector method call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{connector}.{method}: {message}")]
pub struct CallError {
    /// The connector's name.
    pub connector: String,
    /// The method's name.
    pub method: String,
    /// What went wrong.
    pub message: String,
}

/// A boxed, sendable future, the return type of [`ConnectorCall::call`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The way scripts reach connectors: `ctx.connectors.<connector>.<method>(args)`.
///
/// Real connectors implement it in the engine server; tests use an in-process fake.
pub trait ConnectorCall: Send + Sync + fmt::Debug {
    /// Calls `method` of `connector` with JSON arguments.
    fn call<'a>(
        &'a self,
        connector: &'a str,
        method: &'a str,
        args: Value,
    ) -> BoxFuture<'a, Result<Value, CallError>>;

    /// The connectors and their methods, by name. Rhai has no dynamic method lookup, so
    /// `ctx.connectors.<c>.<m>(args)` in Rhai works for the pairs listed here (and
    /// `ctx.invoke(c, m, args)` for any pair); JavaScript does not need it.
    fn catalog(&self) -> BTreeMap<String, Vec<String>> {
        BTreeMap::new()
    }
}

/// A [`ConnectorCall`] with no connectors: every call fails.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoConnectors;

impl ConnectorCall for NoConnectors {
    fn call<'a>(
        &'a self,
        connector: &'a str,
        method: &'a str,
        _args: Value,
    ) -> BoxFuture<'a, Result<Value, CallError>> {
        Box::pin(async move {
            Err(CallError {
                connector: connector.into(),
                method: method.into(),
                message: "no such connector".into(),
            })
        })
    }
}

/// A deployment's env var values by name, shared by every run and call that reads them.
pub type Env = Arc<BTreeMap<String, String>>;

/// What a code function's `ctx` gives it, in Rhai and JavaScript alike.
#[derive(Debug, Clone)]
pub struct FunctionContext {
    /// `ctx.env`: the VMS's environment variables for this deployment (shared: a run's
    /// calls all see the same map).
    pub env: Env,
    /// `ctx.connectors`: where connector calls go.
    pub connectors: Arc<dyn ConnectorCall>,
}

impl Default for FunctionContext {
    fn default() -> Self {
        Self {
            env: Arc::default(),
            connectors: Arc::new(NoConnectors),
        }
    }
}

/// The result of a code function run: its JSON output and what it logged.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionOutput {
    /// The returned value.
    pub value: Value,
    /// Lines logged through `ctx.log`, in order.
    pub logs: Vec<LogLine>,
}

/// Checks that `value` serialises to at most `limit` bytes of JSON.
///
/// Most values are far below the limit: a walk that bounds their size from above (every
/// string as if each byte needed a six-byte escape) settles those without writing anything;
/// only a value whose bound passes the limit is serialised and counted exactly.
pub(crate) fn check_output_size(value: &Value, limit: usize) -> Result<(), ScriptError> {
    if json_size_bound(value, limit).is_some() {
        return Ok(());
    }
    json_size(value, limit)
        .map(|_| ())
        .ok_or_else(|| ScriptErrorKind::OutputTooLarge { limit_bytes: limit }.into())
}

/// The exact size of `value`'s JSON, or `None` once it passes `limit` (it stops writing
/// there, so a huge value costs no more than `limit` bytes of counting).
pub(crate) fn json_size(value: &Value, limit: usize) -> Option<usize> {
    struct Counter {
        written: usize,
        limit: usize,
    }
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.written += buf.len();
            if self.written > self.limit {
                return Err(std::io::Error::other("output limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter { written: 0, limit };
    serde_json::to_writer(&mut counter, value).ok()?;
    Some(counter.written)
}

/// An upper bound of `value`'s JSON size, or `None` once it passes `limit`.
fn json_size_bound(value: &Value, limit: usize) -> Option<usize> {
    fn walk(value: &Value, total: &mut usize, limit: usize) -> Option<()> {
        let size = match value {
            Value::Null | Value::Bool(_) => 5,
            // The widest number serde_json writes (`-1.7976931348623157e308`).
            Value::Number(_) => 24,
            Value::String(s) => s.len().saturating_mul(6).saturating_add(2),
            Value::Array(items) => {
                *total = total.saturating_add(items.len() + 2);
                for item in items {
                    walk(item, total, limit)?;
                }
                0
            }
            Value::Object(map) => {
                *total = total.saturating_add(2);
                for (key, item) in map {
                    *total = total.saturating_add(key.len().saturating_mul(6).saturating_add(4));
                    walk(item, total, limit)?;
                }
                0
            }
        };
        *total = total.saturating_add(size);
        (*total <= limit).then_some(())
    }
    let mut total = 0;
    walk(value, &mut total, limit).map(|()| total)
}

/// Most lines one run (a code function call, a script task) keeps from `ctx.log`. The lines
/// past this budget, or past [`MAX_LOG_BYTES`], are dropped and counted in one last warning.
pub const MAX_LOG_LINES: usize = 1_000;

/// Most bytes of messages one run keeps from `ctx.log` (see [`MAX_LOG_LINES`]): with the line
/// budget, a log of at most about a megabyte per run, however the code loops.
pub const MAX_LOG_BYTES: usize = 1 << 20;

/// The lines one run logs through `ctx.log`, within a budget of [`MAX_LOG_LINES`] lines and
/// [`MAX_LOG_BYTES`] bytes of messages.
///
/// Every line goes into the run's logs (the flow appends them whatever their number), so a
/// script logging in a loop would otherwise grow them without bound. Lines are kept in order
/// until the first one that does not fit; that line and every later one are dropped, and
/// [`RunLogs::finish`] ends the logs with one warning saying how many were. Dropping
/// everything after the first line that did not fit, rather than only the lines that are too
/// large, keeps the kept lines a true prefix of what the code logged.
#[derive(Debug, Default)]
pub(crate) struct RunLogs {
    lines: Vec<LogLine>,
    bytes: usize,
    dropped: usize,
}

impl RunLogs {
    /// Whether every further line is dropped (the caller can skip formatting it).
    pub(crate) fn is_full(&self) -> bool {
        self.dropped > 0 || self.lines.len() >= MAX_LOG_LINES
    }

    /// Bytes of message a further line may still have.
    pub(crate) fn room(&self) -> usize {
        if self.is_full() {
            0
        } else {
            MAX_LOG_BYTES - self.bytes
        }
    }

    /// Keeps the line if it fits in the budget, drops (and counts) it otherwise.
    pub(crate) fn push(&mut self, level: LogLevel, message: String) {
        if self.is_full() || message.len() > self.room() {
            self.drop_line();
            return;
        }
        self.bytes += message.len();
        self.lines.push(LogLine { level, message });
    }

    /// Counts a line dropped without being formatted (it could not fit).
    pub(crate) fn drop_line(&mut self) {
        self.dropped += 1;
    }

    /// The lines kept, followed by a warning with the number dropped, if any were.
    pub(crate) fn finish(self) -> Vec<LogLine> {
        let mut lines = self.lines;
        if self.dropped > 0 {
            let s = if self.dropped == 1 { "" } else { "s" };
            lines.push(LogLine {
                level: LogLevel::Warn,
                message: format!(
                    "{} more log line{s} dropped: a run keeps at most {MAX_LOG_LINES} lines and \
                     {MAX_LOG_BYTES} bytes of log",
                    self.dropped
                ),
            });
        }
        lines
    }
}

/// Formats `ctx.log` arguments: strings as they are, other values as JSON, joined by spaces.
pub(crate) fn log_message(args: &[Value]) -> String {
    args.iter()
        .map(|arg| match arg {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod log_tests {
    use super::*;

    #[test]
    fn lines_past_the_budget_are_dropped_and_counted_once() {
        let mut logs = RunLogs::default();
        for n in 0..MAX_LOG_LINES + 5 {
            logs.push(LogLevel::Info, n.to_string());
        }
        let lines = logs.finish();
        assert_eq!(lines.len(), MAX_LOG_LINES + 1);
        assert_eq!(
            lines[MAX_LOG_LINES - 1].message,
            (MAX_LOG_LINES - 1).to_string()
        );
        let last = &lines[MAX_LOG_LINES];
        assert_eq!(last.level, LogLevel::Warn);
        assert!(
            last.message.starts_with("5 more log lines dropped"),
            "{}",
            last.message
        );
    }

    #[test]
    fn the_byte_budget_drops_the_line_that_does_not_fit_and_all_later_ones() {
        let mut logs = RunLogs::default();
        logs.push(LogLevel::Info, "a".repeat(MAX_LOG_BYTES - 10));
        logs.push(LogLevel::Info, "b".repeat(10));
        logs.push(LogLevel::Info, "c".repeat(11));
        // It would fit, but it comes after a dropped line.
        logs.push(LogLevel::Info, String::new());
        assert!(logs.is_full());
        let lines = logs.finish();
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1].message, "b".repeat(10));
        assert!(lines[2].message.starts_with("2 more log lines dropped"));
        // Nothing dropped: no notice.
        let mut logs = RunLogs::default();
        logs.push(LogLevel::Warn, "one".into());
        assert_eq!(logs.finish().len(), 1);
    }
}

#[cfg(test)]
mod size_tests {
    use super::*;
    use serde_json::json;

    fn exact(value: &Value) -> usize {
        serde_json::to_vec(value).unwrap().len()
    }

    #[test]
    fn the_size_bound_never_undercounts() {
        let values = [
            json!(null),
            json!(-1.7976931348623157e308),
            json!(u64::MAX),
            json!("\u{0}\u{1f}\"\\ plain é ✓"),
            json!({ "a\n": [1, "x", { "": null }], "b": true }),
            json!([[], {}, [[]], ""]),
        ];
        for value in &values {
            let bound = json_size_bound(value, usize::MAX).unwrap();
            assert!(bound >= exact(value), "{value}: {bound} < {}", exact(value));
        }
    }

    #[test]
    fn the_limit_is_exact_at_its_edge() {
        // Escapes make the bound pass the limit; the exact count decides.
        let value = json!({ "text": "\n".repeat(100) });
        let size = exact(&value);
        assert!(check_output_size(&value, size).is_ok());
        assert!(check_output_size(&value, size - 1).is_err());
        let plain = json!(["a".repeat(1000)]);
        let size = exact(&plain);
        assert!(check_output_size(&plain, size).is_ok());
        assert!(check_output_size(&plain, size - 1).is_err());
        assert!(check_output_size(&plain, 10 * size).is_ok());
    }
}
