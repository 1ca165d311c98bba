//! Rhai: expressions, BPMN script tasks and code functions, with the built-in library and budgets.
//!
//! - **Expressions** (`conditionExpression`, input/output mappings): [`RhaiEngine::compile_expression`]
//!   once, [`RhaiEngine::eval_expression`] many times with the variables as a scope.
//! - **Script tasks**: [`RhaiEngine::compile_script`] and [`RhaiEngine::run_script`]; the variables
//!   are in scope and whatever the script declares (`let total = …`) or assigns (`count += 1`)
//!   comes back as changed variables. Rhai requires `let` before the first assignment of a new
//!   variable; assigning an unknown name is an error.
//! - **Code functions**: a script defining `fn main(input, ctx)`, run by
//!   [`RhaiEngine::call_function`]. `ctx.env` is a map of strings, `ctx.log.info/warn/error(…)`
//!   log, `ctx.connectors.<c>.<m>(args)` calls a connector method listed by
//!   [`ConnectorCall::catalog`] and `ctx.invoke(c, m, args)` calls any. Connector calls block
//!   the script (it runs on tokio's blocking pool and waits with `Handle::block_on`); the
//!   script's deadline and cancellation end the wait, and so does the caller dropping the
//!   function's future (which stops the script too: a blocking thread cannot be taken back).
//!   `ctx.log` keeps at most [`MAX_LOG_LINES`](super::MAX_LOG_LINES) lines and
//!   [`MAX_LOG_BYTES`](super::MAX_LOG_BYTES) bytes per call; the lines past them are counted
//!   in one last warning.
//!
//! `throw_bpmn_error(code, message)` raises [`ScriptErrorKind::BpmnError`]. The engine has no
//! file, module, `eval`, `sleep` or `exit` functions: only Rhai's operators, comparisons,
//! iteration, string conversion and `push`/`pop` on arrays, plus the library.

use std::any::TypeId;
use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rhai::packages::{
    ArithmeticPackage, BasicIteratorPackage, BasicStringPackage, LogicPackage, Package,
};
use rhai::{AST, Dynamic, EvalAltResult, FnPtr, ImmutableString, Scope};
use serde_json::{Map, Value};

mod condition;

use super::library::{self, Library};
use super::{
    AbortOnDrop, ConnectorCall, FunctionContext, FunctionOutput, LogLevel, RunControl, RunLogs,
    ScriptError, ScriptErrorKind, check_output_size, log_message,
};

/// Budgets applied to every Rhai run of an engine (time and cancellation come per run from
/// [`RunControl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RhaiLimits {
    /// Operations per run (roughly: evaluated nodes).
    pub max_operations: u64,
    /// Nested function calls.
    pub max_call_levels: usize,
    /// Nesting of expressions at the top level and inside functions.
    pub max_expr_depth: usize,
    /// Bytes in one string (and in all the strings of one array or map).
    pub max_string_size: usize,
    /// Items in one array (nested arrays included). Rhai re-measures an array after each change,
    /// so growing one item at a time costs time quadratic in this limit: keep it modest.
    pub max_array_size: usize,
    /// Entries in one map (nested maps included).
    pub max_map_size: usize,
    /// Bytes of a run's result serialised as JSON.
    pub max_output_bytes: usize,
}

impl Default for RhaiLimits {
    fn default() -> Self {
        Self {
            max_operations: 10_000_000,
            max_call_levels: 64,
            max_expr_depth: 64,
            max_string_size: 16 << 20,
            max_array_size: 100_000,
            max_map_size: 100_000,
            max_output_bytes: 8 << 20,
        }
    }
}

/// A compiled Rhai expression or script, shared by all its runs.
#[derive(Debug, Clone)]
pub struct RhaiAst {
    ast: Arc<AST>,
    /// Every identifier-like word in the source, sorted: a superset of the variables the
    /// code can read. Only those are converted into the scope, so a run with large
    /// variables pays for the ones an expression names, not for all of them.
    names: Arc<[String]>,
    /// The variables every use of which reads a property (`summary.count`, never `summary`
    /// alone, `summary[…]` or `summary.keys()`; in a script also never followed by an
    /// assignment, an index or a further property, which could change the variable), with
    /// those properties, sorted by variable name. Such a variable's object goes into the
    /// scope with only those members: a condition that reads two fields of a large object
    /// converts two fields, and a script task does not report it back (it cannot change).
    properties: Arc<[(String, Box<[String]>)]>,
    /// Set for expressions that need no interpreter: see [`Shortcut`].
    shortcut: Option<Arc<Shortcut>>,
}

/// What a compiled expression can read of one variable: [`RhaiAst::use_of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VariableUse<'a> {
    /// The source does not name it.
    None,
    /// Only these properties of it, each read as `name.property`.
    Properties(&'a [String]),
    /// Any of it.
    Whole,
}

/// An expression simple enough to answer without Rhai. Most IO mappings and connector
/// templates are of this kind (`id`, `result.orders`, `input.limit`, `true`), and building a
/// Rhai scope for them cost more than everything else the mapping does.
#[derive(Debug)]
enum Shortcut {
    /// A variable and properties, `result.orders`: the value is copied as it is, numbers
    /// included (Rhai would turn a whole float such as `2.0` into `2`; a path does not).
    /// Whatever a path cannot answer the way Rhai would (an unknown variable, a property of
    /// something that is not a map, a missing property followed further) is left to Rhai, so
    /// those errors read exactly as before.
    Path(Box<[Box<str>]>),
    /// `true`, `false`, a whole number or a string without escapes.
    Literal(Value),
    /// Comparisons of paths and literals joined by `&&` and `||`: see [`condition`].
    Condition(condition::Condition),
}
// A shortcut does no work worth a deadline check and makes no new data, so neither the
// run's time budget nor the output size limit applies to it.

/// Words that read like a variable but are not one in Rhai.
const RHAI_RESERVED: &[&str] = &[
    "true",
    "false",
    "this",
    "let",
    "const",
    "if",
    "else",
    "switch",
    "do",
    "while",
    "loop",
    "until",
    "for",
    "in",
    "continue",
    "break",
    "return",
    "throw",
    "try",
    "catch",
    "fn",
    "private",
    "import",
    "export",
    "as",
    "global",
    "Fn",
    "call",
    "curry",
    "print",
    "debug",
    "type_of",
    "eval",
    "is_def_var",
    "is_def_fn",
    "is_shared",
    "_",
];

/// Whether `word` can name a variable or a property in a shortcut: an identifier that is not
/// one of Rhai's reserved words.
fn is_variable_name(word: &str) -> bool {
    let mut bytes = word.bytes();
    bytes
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !RHAI_RESERVED.contains(&word)
}

impl Shortcut {
    /// The shortcut for `source`, an expression Rhai compiled, if it has one.
    fn of(source: &str) -> Option<Self> {
        match source {
            "true" => return Some(Shortcut::Literal(Value::Bool(true))),
            "false" => return Some(Shortcut::Literal(Value::Bool(false))),
            _ => {}
        }
        let digits = source.strip_prefix('-').unwrap_or(source);
        if !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'))
        {
            return source
                .parse::<i64>()
                .ok()
                .map(|n| Shortcut::Literal(Value::from(n)));
        }
        if let Some(text) = source
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            && !text.contains(['"', '\\', '\n', '\r'])
        {
            return Some(Shortcut::Literal(Value::String(text.to_owned())));
        }
        if source.split('.').all(is_variable_name) {
            return Some(Shortcut::Path(source.split('.').map(Box::from).collect()));
        }
        condition::Condition::parse(source).map(Shortcut::Condition)
    }

    /// The value, or `None` to let Rhai evaluate.
    fn eval(&self, vars: &Map<String, Value>, extra: Option<(&str, &Value)>) -> Option<Value> {
        match self {
            Shortcut::Literal(value) => Some(value.clone()),
            Shortcut::Path(path) => {
                let (name, properties) = path.split_first()?;
                let root = match extra {
                    Some((extra_name, value)) if extra_name == &**name => value,
                    _ => vars.get(&**name)?,
                };
                walk(root, properties)
            }
            Shortcut::Condition(condition) => condition.eval(vars, extra).map(Value::Bool),
        }
    }
}

impl RhaiAst {
    /// For an expression that is a plain path starting at variable `root` (`result.user`,
    /// or `result` itself), the properties after it.
    pub(crate) fn path_from(&self, root: &str) -> Option<&[Box<str>]> {
        match self.shortcut.as_deref()? {
            Shortcut::Path(path) => match path.split_first() {
                Some((first, properties)) if &**first == root => Some(properties),
                _ => None,
            },
            Shortcut::Literal(_) | Shortcut::Condition(_) => None,
        }
    }

    /// What of variable `name` the code can read: nothing, only some of its properties
    /// (`env.TOKEN`), or anything (see [`RhaiAst::properties`]).
    pub(crate) fn use_of(&self, name: &str) -> VariableUse<'_> {
        if !self.mentions(name) {
            return VariableUse::None;
        }
        match self
            .properties
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
        {
            Ok(i) => VariableUse::Properties(&self.properties[i].1),
            Err(_) => VariableUse::Whole,
        }
    }

    /// Whether the source may read variable `name` (any identifier-like word of the source
    /// counts, so `false` only when it certainly does not).
    pub(crate) fn mentions(&self, name: &str) -> bool {
        self.names
            .binary_search_by(|n| n.as_str().cmp(name))
            .is_ok()
    }
}

/// Follows `properties` from `value` as a Rhai property access does: a property a map lacks
/// is `null` when it is the last one. `None` when a step is not a map or a missing property
/// is followed further (Rhai decides those).
fn walk(value: &Value, properties: &[Box<str>]) -> Option<Value> {
    let mut current = value;
    for (i, property) in properties.iter().enumerate() {
        let Value::Object(map) = current else {
            return None;
        };
        match map.get(&**property) {
            Some(next) => current = next,
            None if i + 1 == properties.len() => return Some(Value::Null),
            None => return None,
        }
    }
    Some(current.clone())
}

/// The identifier-like words of `source`, sorted and deduplicated: a superset of the
/// variables the code can read.
///
/// The words inside double-quoted strings and comments are left out: no code runs there
/// (`eval` is disabled), so `"Live tracking for your open orders"` does not put a large
/// `orders` variable into the scope. Everything else counts, including words of backtick
/// strings (their `${…}` is code) and the text around them. When the source has anything
/// the skipping could misread — a backtick string, a character literal it does not
/// recognise, `is_def_var` (which names a variable in a string) — every word counts.
fn identifiers(source: &str) -> Arc<[String]> {
    let mut names = code_words(source).unwrap_or_else(|| all_words(source));
    names.sort_unstable();
    names.dedup();
    names.into()
}

/// Where the run of letters, digits and `_` starting at `i` ends.
fn word_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    i
}

/// Every identifier-like word, wherever it is.
fn all_words(source: &str) -> Vec<String> {
    let bytes = source.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
            let start = i;
            i = word_end(bytes, i);
            names.push(source[start..i].to_owned());
        } else {
            i += 1;
        }
    }
    names
}

/// The identifier-like words outside double-quoted strings and comments, or `None` when
/// the source has something that makes that unsafe to judge (see [`identifiers`]).
fn code_words(source: &str) -> Option<Vec<String>> {
    let bytes = source.as_bytes();
    let mut names = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                let start = i;
                i = word_end(bytes, i);
                let word = &source[start..i];
                if word == "is_def_var" {
                    return None;
                }
                names.push(word.to_owned());
            }
            b'`' => return None,
            b'"' => {
                // To the closing quote; a backslash escapes the byte after it (`\"`, `\\`,
                // a line continuation). Unterminated: to the end (Rhai refuses it anyway).
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'\'' => {
                // A character literal: `'x'`, or an escape (`'\n'`, `'\''`, `'\u0041'`)
                // running to the next quote. Anything else is not understood here.
                let rest = &source[i + 1..];
                let len = if let Some(escape) = rest.strip_prefix('\\') {
                    let close = escape.get(1..)?.find('\'')?;
                    2 + close + 1
                } else {
                    let c = rest.chars().next()?;
                    if !rest[c.len_utf8()..].starts_with('\'') {
                        return None;
                    }
                    c.len_utf8() + 1
                };
                i += 1 + len;
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                // Block comments nest in Rhai.
                let mut depth = 0usize;
                while i < bytes.len() {
                    if bytes[i] == b'/' && bytes.get(i + 1) == Some(&b'*') {
                        depth += 1;
                        i += 2;
                    } else if bytes[i] == b'*' && bytes.get(i + 1) == Some(&b'/') {
                        depth -= 1;
                        i += 2;
                        if depth == 0 {
                            break;
                        }
                    } else {
                        i += 1;
                    }
                }
            }
            // A number's digits and letters (`0x1f`, `1e5`, `1_000`) are not words.
            b'0'..=b'9' => {
                i = word_end(bytes, i);
            }
            _ => i += 1,
        }
    }
    Some(names)
}

/// The Rhai engine with the library registered and the budgets set; one per process is enough.
#[derive(Debug, Clone)]
pub struct RhaiEngine {
    engine: Arc<rhai::Engine>,
    limits: RhaiLimits,
}

/// What stops a run: its control (deadline, cancellation) and, for a code function, the
/// abort flag its caller's future sets when it is dropped.
#[derive(Debug, Clone)]
struct RunStops {
    control: RunControl,
    abort: Option<Arc<AtomicBool>>,
}

impl RunStops {
    /// The fault to stop with, if the run must stop now (an abort stops it as cancelled:
    /// nobody waits for its answer).
    fn check(&self) -> Option<ScriptErrorKind> {
        if self
            .abort
            .as_ref()
            .is_some_and(|abort| abort.load(Ordering::Relaxed))
        {
            return Some(ScriptErrorKind::Cancelled);
        }
        self.control.check()
    }
}

thread_local! {
    /// The run being evaluated on this thread, for `on_progress` to check.
    static CURRENT_RUN: RefCell<Option<RunStops>> = const { RefCell::new(None) };
}

/// Installs a run's stops on this thread for the duration of an evaluation.
struct CurrentRun {
    previous: Option<RunStops>,
}

impl CurrentRun {
    fn enter(control: &RunControl) -> Self {
        Self::enter_stops(RunStops {
            control: control.clone(),
            abort: None,
        })
    }

    fn enter_stops(stops: RunStops) -> Self {
        let previous = CURRENT_RUN.with(|current| current.replace(Some(stops)));
        Self { previous }
    }
}

impl Drop for CurrentRun {
    fn drop(&mut self) {
        CURRENT_RUN.with(|current| *current.borrow_mut() = self.previous.take());
    }
}

const TERMINATED_CANCELLED: &str = "cancelled";
const TERMINATED_DEADLINE: &str = "deadline";
const BPMN_ERROR_MARKER: &str = "__bpmn_error";
const RUN_KEY: &str = "__run";
const CONNECTOR_KEY: &str = "__connector";

/// Per-run state reachable from `ctx`'s native functions.
#[derive(Debug)]
struct RunShared {
    connectors: Arc<dyn ConnectorCall>,
    logs: Mutex<RunLogs>,
    handle: tokio::runtime::Handle,
    stops: RunStops,
}

/// How often a connector wait looks at the run's cancellation and abort flags (the deadline
/// ends it on the spot).
const CONNECTOR_WAIT_POLL: Duration = Duration::from_millis(10);

/// The handle a `ctx` map carries to its run.
#[derive(Debug, Clone)]
struct RunHandle(Arc<RunShared>);

impl RhaiEngine {
    /// An engine with `library` registered and `limits` applied.
    pub fn new(library: Library, limits: RhaiLimits) -> Self {
        let mut engine = rhai::Engine::new_raw();
        engine.register_global_module(ArithmeticPackage::new().as_shared_module());
        engine.register_global_module(LogicPackage::new().as_shared_module());
        engine.register_global_module(BasicStringPackage::new().as_shared_module());
        engine.register_global_module(BasicIteratorPackage::new().as_shared_module());
        engine.register_iterator::<rhai::Array>();
        engine.set_module_resolver(rhai::module_resolvers::DummyModuleResolver::new());
        engine.disable_symbol("eval");
        engine.on_print(|_| {});
        engine.on_debug(|_, _, _| {});

        engine.set_max_operations(limits.max_operations);
        engine.set_max_call_levels(limits.max_call_levels);
        engine.set_max_expr_depths(limits.max_expr_depth, limits.max_expr_depth);
        engine.set_max_string_size(limits.max_string_size);
        engine.set_max_array_size(limits.max_array_size);
        engine.set_max_map_size(limits.max_map_size);
        engine.set_max_modules(0);
        engine.on_progress(|operations| {
            // Reading the clock every 256 operations keeps the check cheap and prompt.
            if operations % 256 != 0 {
                return None;
            }
            CURRENT_RUN.with(|current| {
                current
                    .borrow()
                    .as_ref()
                    .and_then(RunStops::check)
                    .map(|kind| match kind {
                        ScriptErrorKind::Cancelled => Dynamic::from(TERMINATED_CANCELLED),
                        _ => Dynamic::from(TERMINATED_DEADLINE),
                    })
            })
        });

        // Rhai-only array mutators, so scripts can build lists without the full array package
        // (whose `len`, `sort`, `contains`… would shadow the library's).
        // Rhai checks sizes on assignment, not inside native methods: `push` checks its own.
        let max_array_size = limits.max_array_size;
        engine.register_fn(
            "push",
            move |array: &mut rhai::Array, item: Dynamic| -> Result<(), Box<EvalAltResult>> {
                if array.len() >= max_array_size {
                    return Err(EvalAltResult::ErrorDataTooLarge(
                        "Size of array".into(),
                        rhai::Position::NONE,
                    )
                    .into());
                }
                array.push(item);
                Ok(())
            },
        );
        engine.register_fn("pop", |array: &mut rhai::Array| {
            array.pop().unwrap_or(Dynamic::UNIT)
        });
        register_library(&mut engine, library);
        register_bpmn_error(&mut engine);
        register_ctx_functions(&mut engine);
        Self {
            engine: Arc::new(engine),
            limits,
        }
    }

    /// The budgets of this engine.
    pub fn limits(&self) -> &RhaiLimits {
        &self.limits
    }

    /// Compiles a single expression (no statements).
    pub fn compile_expression(&self, source: &str) -> Result<RhaiAst, ScriptError> {
        self.engine
            .compile_expression(source)
            .map(|ast| RhaiAst {
                ast: Arc::new(ast),
                names: identifiers(source),
                properties: property_uses(source, false),
                shortcut: Shortcut::of(source.trim()).map(Arc::new),
            })
            .map_err(|err| compile_error(err.into()))
    }

    /// Compiles a script: statements and `fn` definitions.
    pub fn compile_script(&self, source: &str) -> Result<RhaiAst, ScriptError> {
        self.engine
            .compile(source)
            .map(|ast| RhaiAst {
                ast: Arc::new(ast),
                names: identifiers(source),
                // A script can change a variable: only those it reads properties of and never
                // writes through are cut down.
                properties: property_uses(source, true),
                shortcut: None,
            })
            .map_err(|err| compile_error(err.into()))
    }

    /// Evaluates a compiled expression (or script) with `vars` in scope; returns its value.
    pub fn eval_expression(
        &self,
        ast: &RhaiAst,
        vars: &Map<String, Value>,
        control: &RunControl,
    ) -> Result<Value, ScriptError> {
        self.eval_expression_with(ast, vars, None, control)
    }

    /// [`Self::eval_expression`] with one more variable, `extra`, shadowing any variable of
    /// `vars` with its name (output mappings see the call's `result` this way, without a
    /// copy of every variable).
    pub fn eval_expression_with(
        &self,
        ast: &RhaiAst,
        vars: &Map<String, Value>,
        extra: Option<(&str, &Value)>,
        control: &RunControl,
    ) -> Result<Value, ScriptError> {
        if let Some(value) = ast.shortcut.as_ref().and_then(|s| s.eval(vars, extra)) {
            return Ok(value);
        }
        let _run = CurrentRun::enter(control);
        let mut scope = scope_from(vars, &ast.names, &ast.properties);
        if let Some((name, value)) = extra
            && ast.mentions(name)
        {
            // Rhai looks variables up from the newest: this one shadows any older `name`.
            scope.push_dynamic(name.to_owned(), json_to_dynamic(value));
        }
        let result = self
            .engine
            .eval_ast_with_scope::<Dynamic>(&mut scope, &ast.ast)
            .map_err(|err| runtime_error(*err))?;
        self.output(result)
    }

    /// Runs a script-task script with `vars` in scope; returns the variables it declared or
    /// changed (top-level `let` and assignments), by name.
    pub fn run_script(
        &self,
        ast: &RhaiAst,
        vars: &Map<String, Value>,
        control: &RunControl,
    ) -> Result<Map<String, Value>, ScriptError> {
        let _run = CurrentRun::enter(control);
        let mut scope = scope_from(vars, &ast.names, &ast.properties);
        self.engine
            .run_ast_with_scope(&mut scope, &ast.ast)
            .map_err(|err| runtime_error(*err))?;
        let mut changed = Map::new();
        // `iter_raw` lends the values (`iter` would deep-copy each) but walks the scope
        // backwards; a later entry of a name (shadowing) must win, as in the scope.
        let entries: Vec<(&str, &Dynamic)> = scope
            .iter_raw()
            .map(|(name, _, value)| (name, value))
            .collect();
        for (name, value) in entries.into_iter().rev() {
            // Given with only the properties read, and nothing writes through it (a `let`
            // of the name would have used it alone): unchanged by construction.
            if ast
                .properties
                .binary_search_by(|(n, _)| n.as_str().cmp(name))
                .is_ok()
            {
                continue;
            }
            let before = vars.get(name);
            if before.is_some_and(|before| same_as_json(value, before)) {
                changed.remove(name);
                continue;
            }
            let value = dynamic_to_json(value)?;
            if before != Some(&value) {
                changed.insert(name.to_owned(), value);
            } else {
                changed.remove(name);
            }
        }
        let changed = Value::Object(changed);
        check_output_size(&changed, self.limits.max_output_bytes)?;
        match changed {
            Value::Object(map) => Ok(map),
            _ => Ok(Map::new()),
        }
    }

    /// Calls the function `name` (normally `main`) of a compiled script with `input` and a
    /// `ctx`; runs on tokio's blocking pool so connector calls can wait. Dropping the future
    /// stops the script at its next progress check or connector call (or during its wait).
    pub async fn call_function(
        &self,
        ast: &RhaiAst,
        name: &str,
        input: Value,
        ctx: &FunctionContext,
        control: &RunControl,
    ) -> Result<FunctionOutput, ScriptError> {
        let abort = AbortOnDrop::new();
        let stops = RunStops {
            control: control.clone(),
            abort: Some(abort.0.clone()),
        };
        let shared = Arc::new(RunShared {
            connectors: ctx.connectors.clone(),
            logs: Mutex::new(RunLogs::default()),
            handle: tokio::runtime::Handle::current(),
            stops: stops.clone(),
        });
        let ctx_value = ctx_map(&ctx.env, &RunHandle(shared.clone()));
        let engine = self.clone();
        let ast = ast.clone();
        let name = name.to_owned();
        let result = tokio::task::spawn_blocking(move || {
            let _run = CurrentRun::enter_stops(stops);
            let mut scope = Scope::new();
            let result = engine
                .engine
                .call_fn::<Dynamic>(
                    &mut scope,
                    &ast.ast,
                    &name,
                    (json_to_dynamic(&input), ctx_value),
                )
                .map_err(|err| runtime_error(*err))?;
            engine.output(result)
        })
        .await
        .map_err(|err| ScriptError::runtime(format!("Rhai function did not finish: {err}")))
        .and_then(|result| result);
        drop(abort);
        let logs =
            std::mem::take(&mut *shared.logs.lock().unwrap_or_else(|p| p.into_inner())).finish();
        match result {
            Ok(value) => Ok(FunctionOutput { value, logs }),
            Err(mut err) => {
                err.logs = logs;
                Err(err)
            }
        }
    }

    fn output(&self, result: Dynamic) -> Result<Value, ScriptError> {
        let value = dynamic_to_json(&result)?;
        check_output_size(&value, self.limits.max_output_bytes)?;
        Ok(value)
    }
}

/// The scope of one evaluation: the variables among `names` (see [`RhaiAst::names`]), an
/// object among `properties` with only the members read.
fn scope_from(
    vars: &Map<String, Value>,
    names: &[String],
    properties: &[(String, Box<[String]>)],
) -> Scope<'static> {
    // In the variables' own order, so what a script task reports back keeps that order.
    let mut scope = Scope::with_capacity(names.len().min(vars.len()));
    for (name, value) in vars {
        if names.binary_search(name).is_err() {
            continue;
        }
        let read = properties
            .binary_search_by(|(n, _)| n.as_str().cmp(name))
            .ok()
            .map(|i| &properties[i].1);
        let dynamic = match (read, value) {
            (Some(read), Value::Object(map)) => Dynamic::from_map(
                read.iter()
                    .filter_map(|key| Some((key.as_str().into(), json_to_dynamic(map.get(key)?))))
                    .collect(),
            ),
            _ => json_to_dynamic(value),
        };
        scope.push_dynamic(name.as_str(), dynamic);
    }
    scope
}

/// The variables of an expression every use of which is a property read, `name.property`
/// (spaces allowed around the dot) not followed by `(`, with the properties read; see
/// [`RhaiAst::properties`]. Judged on the text, like [`identifiers`]: a word in a string or
/// a comment, `name` alone, `name[…]`, `name?.…` or a method call disqualifies the name,
/// which only costs converting the whole value. A word after a dot is itself a property,
/// not a use of a variable. In a `script`, a property followed by `.`, `[`, `?` or an
/// assignment operator disqualifies its variable too: the script could change it.
fn property_uses(source: &str, script: bool) -> Arc<[(String, Box<[String]>)]> {
    let bytes = source.as_bytes();
    let is_start = |b: u8| b.is_ascii_alphabetic() || b == b'_';
    let is_part = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let skip_space = |mut i: usize| {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut uses: BTreeMap<&str, Option<BTreeSet<&str>>> = BTreeMap::new();
    let mut i = 0;
    while i < bytes.len() {
        if !is_start(bytes[i]) || (i > 0 && is_part(bytes[i - 1])) {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && is_part(bytes[i]) {
            i += 1;
        }
        let name = &source[start..i];
        let before = source[..start].trim_end().as_bytes().last().copied();
        if before == Some(b'.') {
            continue;
        }
        // `name` `.` `property`, and no call after it.
        let dot = skip_space(i);
        let property = if bytes.get(dot) == Some(&b'.') {
            let from = skip_space(dot + 1);
            let mut to = from;
            if bytes.get(from).copied().is_some_and(is_start) {
                while to < bytes.len() && is_part(bytes[to]) {
                    to += 1;
                }
            }
            let next = skip_space(to);
            let writes = script && may_write(&bytes[next.min(bytes.len())..]);
            (to > from && bytes.get(next) != Some(&b'(') && !writes).then(|| &source[from..to])
        } else {
            None
        };
        let entry = uses.entry(name).or_insert_with(|| Some(BTreeSet::new()));
        match (property, entry.as_mut()) {
            (Some(property), Some(read)) => {
                read.insert(property);
            }
            _ => *entry = None,
        }
    }
    uses.into_iter()
        .filter_map(|(name, read)| {
            let read: Box<[String]> = read?.into_iter().map(str::to_owned).collect();
            Some((name.to_owned(), read))
        })
        .collect()
}

/// Whether what follows a property (`rest`, spaces skipped) could write through it: an
/// assignment (`=` but not `==`, or a compound `+=`, `<<=`…), an index, a further property
/// or an optional chain.
fn may_write(rest: &[u8]) -> bool {
    const COMPOUND: [&[u8]; 11] = [
        b"+=", b"-=", b"*=", b"/=", b"%=", b"&=", b"|=", b"^=", b"**=", b"<<=", b">>=",
    ];
    match rest.first() {
        Some(b'.' | b'[' | b'?') => true,
        Some(b'=') => rest.get(1) != Some(&b'='),
        _ => COMPOUND.iter().any(|op| rest.starts_with(op)),
    }
}

fn register_library(engine: &mut rhai::Engine, library: Library) {
    for builtin in library::builtins() {
        for arity in builtin.min_args..=builtin.max_args {
            let library = library.clone();
            let types = vec![TypeId::of::<Dynamic>(); arity];
            engine.register_raw_fn(builtin.name, types, move |_, args| {
                let values = args
                    .iter()
                    .map(|arg| dynamic_to_json(arg))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|err| Box::<EvalAltResult>::from(err.to_string()))?;
                library
                    .call_builtin(builtin, &values)
                    .map(|value| json_to_dynamic(&value))
                    .map_err(Into::into)
            });
        }
    }
}

fn register_bpmn_error(engine: &mut rhai::Engine) {
    engine.register_fn(
        "throw_bpmn_error",
        |code: ImmutableString, message: ImmutableString| -> Result<(), Box<EvalAltResult>> {
            let mut error = rhai::Map::new();
            error.insert(BPMN_ERROR_MARKER.into(), Dynamic::TRUE);
            error.insert("code".into(), code.into());
            error.insert("message".into(), message.into());
            Err(EvalAltResult::ErrorRuntime(error.into(), rhai::Position::NONE).into())
        },
    );
}

/// The run handle inside a `ctx` map (or one of its sub-maps).
fn run_of(this: &Dynamic) -> Result<RunHandle, Box<EvalAltResult>> {
    this.read_lock::<rhai::Map>()
        .and_then(|map| {
            map.get(RUN_KEY)
                .and_then(|run| run.read_lock::<RunHandle>().map(|r| r.clone()))
        })
        .ok_or_else(|| "ctx functions must be called as methods of ctx".into())
}

fn register_ctx_functions(engine: &mut rhai::Engine) {
    for (name, level) in [
        ("__sw_log_info", LogLevel::Info),
        ("__sw_log_warn", LogLevel::Warn),
        ("__sw_log_error", LogLevel::Error),
    ] {
        for arity in 1..=6 {
            let types = vec![TypeId::of::<Dynamic>(); arity];
            engine.register_raw_fn(name, types, move |_, args| {
                let run = run_of(args[0])?;
                let logs = || run.0.logs.lock().unwrap_or_else(|p| p.into_inner());
                // Past the run's log budget a line is only counted, not even formatted.
                if logs().is_full() {
                    logs().drop_line();
                    return Ok(());
                }
                let values = args[1..]
                    .iter()
                    .map(|arg| dynamic_to_json(arg))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|err| Box::<EvalAltResult>::from(err.to_string()))?;
                logs().push(level, log_message(&values));
                Ok(())
            });
        }
    }
    // ctx.connectors.<c>.<m>(args): `this` is the connector's map, the method name is curried.
    engine.register_raw_fn(
        "__sw_connector_call",
        [TypeId::of::<Dynamic>(); 3],
        |_, args| {
            let run = run_of(args[0])?;
            let connector = args[0]
                .read_lock::<rhai::Map>()
                .and_then(|map| map.get(CONNECTOR_KEY).map(ToString::to_string))
                .unwrap_or_default();
            let method = args[1].to_string();
            call_connector(&run, &connector, &method, args[2])
        },
    );
    engine.register_raw_fn(
        "__sw_connector_call",
        [TypeId::of::<Dynamic>(); 2],
        |_, args| {
            let run = run_of(args[0])?;
            let connector = args[0]
                .read_lock::<rhai::Map>()
                .and_then(|map| map.get(CONNECTOR_KEY).map(ToString::to_string))
                .unwrap_or_default();
            call_connector(&run, &connector, &args[1].to_string(), &Dynamic::UNIT)
        },
    );
    // ctx.invoke(connector, method, args)
    engine.register_raw_fn("__sw_invoke", [TypeId::of::<Dynamic>(); 4], |_, args| {
        let run = run_of(args[0])?;
        call_connector(&run, &args[1].to_string(), &args[2].to_string(), args[3])
    });
}

fn call_connector(
    run: &RunHandle,
    connector: &str,
    method: &str,
    args: &Dynamic,
) -> Result<Dynamic, Box<EvalAltResult>> {
    let shared = &run.0;
    // A loop of connector calls may do too few operations between them for `on_progress`.
    if let Some(kind) = shared.stops.check() {
        return Err(terminated(&kind));
    }
    let args = dynamic_to_json(args).map_err(|err| Box::<EvalAltResult>::from(err.to_string()))?;
    let deadline = tokio::time::Instant::from_std(shared.stops.control.deadline);
    let result = shared.handle.block_on(async {
        let call = shared.connectors.call(connector, method, args);
        tokio::pin!(call);
        let expiry = tokio::time::sleep_until(deadline);
        tokio::pin!(expiry);
        loop {
            tokio::select! {
                result = &mut call => return Ok(result),
                () = &mut expiry => {
                    return Err(ScriptErrorKind::Timeout {
                        message: "the run passed its deadline".into(),
                    });
                }
                () = tokio::time::sleep(CONNECTOR_WAIT_POLL) => {
                    if let Some(kind) = shared.stops.check() {
                        return Err(kind);
                    }
                }
            }
        }
    });
    match result {
        Ok(Ok(value)) => Ok(json_to_dynamic(&value)),
        Ok(Err(err)) => Err(err.to_string().into()),
        Err(kind) => Err(terminated(&kind)),
    }
}

/// The error that ends a Rhai run for a stop (Rhai's `try` cannot catch it).
fn terminated(kind: &ScriptErrorKind) -> Box<EvalAltResult> {
    let token = match kind {
        ScriptErrorKind::Cancelled => TERMINATED_CANCELLED,
        _ => TERMINATED_DEADLINE,
    };
    EvalAltResult::ErrorTerminated(Dynamic::from(token), rhai::Position::NONE).into()
}

fn fn_ptr(name: &str, curry: Option<&str>) -> Dynamic {
    match FnPtr::new(name) {
        Ok(mut ptr) => {
            if let Some(arg) = curry {
                ptr.add_curry(arg.into());
            }
            Dynamic::from(ptr)
        }
        Err(_) => Dynamic::UNIT,
    }
}

fn ctx_map(env: &std::collections::BTreeMap<String, String>, run: &RunHandle) -> Dynamic {
    let run_value = Dynamic::from(run.clone());
    let env: rhai::Map = env
        .iter()
        .map(|(k, v)| (k.as_str().into(), Dynamic::from(v.clone())))
        .collect();

    let mut log = rhai::Map::new();
    log.insert("info".into(), fn_ptr("__sw_log_info", None));
    log.insert("warn".into(), fn_ptr("__sw_log_warn", None));
    log.insert("error".into(), fn_ptr("__sw_log_error", None));
    log.insert(RUN_KEY.into(), run_value.clone());

    let mut connectors = rhai::Map::new();
    for (connector, methods) in run.0.connectors.catalog() {
        let mut entry = rhai::Map::new();
        entry.insert(RUN_KEY.into(), run_value.clone());
        entry.insert(CONNECTOR_KEY.into(), connector.clone().into());
        for method in methods {
            let ptr = fn_ptr("__sw_connector_call", Some(&method));
            entry.insert(method.into(), ptr);
        }
        connectors.insert(connector.into(), entry.into());
    }

    let mut ctx = rhai::Map::new();
    ctx.insert("env".into(), env.into());
    ctx.insert("log".into(), log.into());
    ctx.insert("connectors".into(), connectors.into());
    ctx.insert("invoke".into(), fn_ptr("__sw_invoke", None));
    ctx.insert(RUN_KEY.into(), run_value);
    ctx.into()
}

/// Converts JSON to a Rhai value: integers to `INT`, other numbers to `FLOAT`, `null` to `()`.
pub fn json_to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(s.clone()),
        Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        Value::Object(map) => Dynamic::from_map(
            map.iter()
                .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
                .collect(),
        ),
    }
}

/// Whether `value` is certainly what [`dynamic_to_json`] makes of it equal to `json`, found
/// without building that JSON. `false` means "convert and compare" (shared values, floats).
fn same_as_json(value: &Dynamic, json: &Value) -> bool {
    if value.is_shared() {
        return false;
    }
    match json {
        Value::Null => value.is_unit(),
        Value::Bool(b) => value.as_bool().is_ok_and(|v| v == *b),
        Value::Number(n) => matches!((value.as_int(), n.as_i64()), (Ok(a), Some(b)) if a == b),
        Value::String(s) => value
            .read_lock::<ImmutableString>()
            .is_some_and(|v| v.as_str() == s),
        Value::Array(items) => value.read_lock::<rhai::Array>().is_some_and(|array| {
            array.len() == items.len()
                && array
                    .iter()
                    .zip(items)
                    .all(|(item, json)| same_as_json(item, json))
        }),
        Value::Object(fields) => value.read_lock::<rhai::Map>().is_some_and(|map| {
            map.len() == fields.len()
                && fields.iter().all(|(key, json)| {
                    map.get(key.as_str())
                        .is_some_and(|item| same_as_json(item, json))
                })
        }),
    }
}

/// Converts a Rhai value to JSON: `()` to `null`, characters to strings, whole floats to
/// integers (see [`library::number`]). Function pointers and custom types are an error.
pub fn dynamic_to_json(value: &Dynamic) -> Result<Value, ScriptError> {
    if value.is_shared() {
        return dynamic_to_json(&value.clone().flatten());
    }
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::from(i));
    }
    if let Ok(f) = value.as_float() {
        return Ok(library::number(f));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Some(s) = value.read_lock::<ImmutableString>() {
        return Ok(Value::String(s.to_string()));
    }
    if let Some(items) = value.read_lock::<rhai::Array>() {
        return items
            .iter()
            .map(dynamic_to_json)
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array);
    }
    if let Some(map) = value.read_lock::<rhai::Map>() {
        let mut out = Map::with_capacity(map.len());
        for (key, item) in map.iter() {
            out.insert(key.to_string(), dynamic_to_json(item)?);
        }
        return Ok(Value::Object(out));
    }
    Err(ScriptError::runtime(format!(
        "a Rhai {} cannot become JSON",
        value.type_name()
    )))
}

fn line_of(position: rhai::Position) -> Option<u32> {
    position.line().map(|line| line as u32)
}

fn compile_error(err: EvalAltResult) -> ScriptError {
    let line = line_of(err.position());
    let message = match &err {
        EvalAltResult::ErrorParsing(kind, _) => kind.to_string(),
        other => other.to_string(),
    };
    ScriptErrorKind::Compile { message, line }.into()
}

/// Maps a Rhai error to a [`ScriptError`], looking through function-call wrappers.
fn runtime_error(err: EvalAltResult) -> ScriptError {
    let outer_line = line_of(err.position());
    let mut err = err;
    while let EvalAltResult::ErrorInFunctionCall(_, _, inner, _)
    | EvalAltResult::ErrorInModule(_, inner, _) = err
    {
        err = *inner;
    }
    let line = line_of(err.position()).or(outer_line);
    let kind = match err {
        EvalAltResult::ErrorTerminated(token, _) => {
            if token.to_string() == TERMINATED_CANCELLED {
                ScriptErrorKind::Cancelled
            } else {
                ScriptErrorKind::Timeout {
                    message: "the run passed its deadline".into(),
                }
            }
        }
        EvalAltResult::ErrorTooManyOperations(_) => ScriptErrorKind::Timeout {
            message: "the run used up its operation budget".into(),
        },
        EvalAltResult::ErrorDataTooLarge(what, _) => ScriptErrorKind::Memory {
            message: format!("{what} is larger than allowed"),
        },
        EvalAltResult::ErrorStackOverflow(_) => ScriptErrorKind::StackOverflow {
            message: "too many nested function calls".into(),
        },
        EvalAltResult::ErrorParsing(kind, _) => ScriptErrorKind::Compile {
            message: kind.to_string(),
            line,
        },
        EvalAltResult::ErrorRuntime(value, _) if is_bpmn_error(&value) => {
            let field = |name: &str| {
                value
                    .read_lock::<rhai::Map>()
                    .and_then(|map| map.get(name).map(ToString::to_string))
                    .unwrap_or_default()
            };
            ScriptErrorKind::BpmnError {
                code: field("code"),
                message: field("message"),
            }
        }
        EvalAltResult::ErrorRuntime(value, _) => {
            let message = match dynamic_to_json(&value) {
                Ok(Value::String(text)) => text,
                Ok(other) => other.to_string(),
                Err(_) => value.to_string(),
            };
            ScriptErrorKind::Runtime {
                message,
                line,
                stack: None,
            }
        }
        other => {
            let mut message = other.to_string();
            // Rhai appends " (line L, position P)"; the line is reported separately.
            if let Some(cut) = message.rfind(" (line ") {
                message.truncate(cut);
            }
            ScriptErrorKind::Runtime {
                message,
                line,
                stack: None,
            }
        }
    };
    kind.into()
}

fn is_bpmn_error(value: &Dynamic) -> bool {
    value
        .read_lock::<rhai::Map>()
        .is_some_and(|map| map.contains_key(BPMN_ERROR_MARKER))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn engine() -> RhaiEngine {
        RhaiEngine::new(Library::default(), RhaiLimits::default())
    }

    #[test]
    fn identifiers_cover_every_word_a_script_can_name() {
        let names = identifiers("let t = `${user.name}!`; if amount_2 > 10 { x } // note");
        for name in ["let", "t", "user", "name", "amount_2", "x", "note"] {
            assert!(names.binary_search(&name.to_owned()).is_ok(), "{name}");
        }
        assert!(names.binary_search(&"10".to_owned()).is_err());
    }

    #[test]
    fn words_in_strings_and_comments_name_no_variable() {
        let has = |source: &str, name: &str| identifiers(source).iter().any(|n| n == name);
        let source = r#"let offers = ["open orders", "a \" quoted \\"]; // orders
            /* outer /* nested orders */ still orders */ if summary.open > 0 { offers += "x" }"#;
        for name in ["let", "offers", "summary", "open"] {
            assert!(has(source, name), "{name}");
        }
        for name in ["orders", "quoted", "nested", "still", "outer", "x"] {
            assert!(!has(source, name), "{name}");
        }
        // A character literal holding a quote does not open a string.
        assert!(has(
            r#"let q = '"'; let n = orders.len(); let t = "x";"#,
            "orders"
        ));
        assert!(has(r#"let q = '\''; let n = orders.len();"#, "orders"));
        assert!(has(r#"let q = '\u0022'; let n = orders.len();"#, "orders"));
        // Whatever the skipping could misjudge counts every word, strings included.
        for source in [
            "let t = `open orders: ${n}`;",
            r#"if is_def_var("orders") { 1 }"#,
            r#"let q = 'ab'; "orders""#,
        ] {
            assert!(has(source, "orders"), "{source}");
        }
        // Hex and exponent digits are not words.
        assert!(!has("0x1f + 1e5", "x1f"));

        // The scripts run as they did: a variable named only in code is in scope.
        let rhai = engine();
        let vars: Map<String, Value> = serde_json::from_value(json!({
            "orders": [1, 2, 3],
            "summary": { "open": 2 },
        }))
        .unwrap();
        let control = RunControl::with_timeout(Duration::from_secs(5));
        for (script, expected) in [
            (
                r#"let q = '"'; let n = orders.len(); let t = "orders";"#,
                json!(3),
            ),
            (r#"let n = /* "orders */ orders.len(); // "x"#, json!(3)),
            (
                r#"let s = "\" orders"; let n = orders.len() + summary.open;"#,
                json!(5),
            ),
        ] {
            let ast = rhai.compile_script(script).unwrap();
            let changed = rhai.run_script(&ast, &vars, &control).unwrap();
            assert_eq!(changed.get("n"), Some(&expected), "{script}");
        }
    }

    fn shortcut_kind(source: &str) -> String {
        match Shortcut::of(source) {
            None => "rhai".into(),
            Some(Shortcut::Path(path)) => format!("path {}", path.join("/")),
            Some(Shortcut::Literal(value)) => format!("literal {value}"),
            Some(Shortcut::Condition(_)) => "condition".into(),
        }
    }

    #[test]
    fn plain_paths_and_literals_have_a_shortcut_and_nothing_else_does() {
        assert_eq!(shortcut_kind("id"), "path id");
        assert_eq!(shortcut_kind("result.orders"), "path result/orders");
        assert_eq!(shortcut_kind("a_1._b.c"), "path a_1/_b/c");
        assert_eq!(shortcut_kind("true"), "literal true");
        assert_eq!(shortcut_kind("-42"), "literal -42");
        assert_eq!(shortcut_kind("0"), "literal 0");
        assert_eq!(shortcut_kind("\"gold\""), "literal \"gold\"");
        for rhai in [
            "a + 1",
            "a.len()",
            "a[0]",
            "1_000",
            "007",
            "1.5",
            "\"a\\nb\"",
            "\"a\" + \"b\"",
            "this",
            "type_of",
            "99999999999999999999",
            "a - 1 == b",
            "a == b == c",
            "a.len() > 1",
            "!a",
            "a = 1",
            "a === b",
            "a >= 1.5",
            "a == 'x'",
            "(a == 1",
            "`x${a}`",
            "a..b",
            "a.",
        ] {
            assert_eq!(shortcut_kind(rhai), "rhai", "{rhai}");
        }
        for condition in [
            "a == b",
            r#"user.tier == "gold" || summary.recentSpendCents >= 100000"#,
            "(a.x < -3 && b)",
            "a != false && (b > 0 || c <= 1)",
        ] {
            assert_eq!(shortcut_kind(condition), "condition", "{condition}");
        }
    }

    #[test]
    fn a_gateway_condition_is_answered_without_rhai() {
        let engine = engine();
        let source = r#"user.tier == "gold" || summary.recentSpendCents >= 100000"#;
        let ast = engine.compile_expression(source).expect("compiles");
        let control = RunControl::with_timeout(Duration::from_secs(5));
        for (tier, spend, expected) in [
            ("gold", 0, true),
            ("standard", 100_000, true),
            ("standard", 99_999, false),
        ] {
            let vars = json!({"user": {"tier": tier}, "summary": {"recentSpendCents": spend}})
                .as_object()
                .cloned()
                .unwrap_or_default();
            let shortcut = ast.shortcut.as_deref().expect("a shortcut");
            assert_eq!(shortcut.eval(&vars, None), Some(json!(expected)));
            let mut slow = ast.clone();
            slow.shortcut = None;
            assert_eq!(
                engine
                    .eval_expression(&slow, &vars, &control)
                    .expect("rhai"),
                json!(expected)
            );
        }
        // A float, a missing property and a type mismatch are Rhai's to answer.
        for vars in [
            json!({"user": {"tier": "standard"}, "summary": {"recentSpendCents": 1.5}}),
            json!({"user": {}, "summary": {"recentSpendCents": 1}}),
            json!({"user": {"tier": 7}, "summary": {"recentSpendCents": 1}}),
        ] {
            let vars = vars.as_object().cloned().unwrap_or_default();
            let shortcut = ast.shortcut.as_deref().expect("a shortcut");
            assert_eq!(shortcut.eval(&vars, None), None, "{vars:?}");
        }
    }

    #[test]
    fn a_shortcut_sees_the_extra_variable_over_one_of_the_same_name() {
        let engine = engine();
        let ast = engine.compile_expression("result.x").expect("compiles");
        let vars = json!({"result": {"x": 1}})
            .as_object()
            .cloned()
            .unwrap_or_default();
        let extra = json!({"x": 2});
        let control = RunControl::with_timeout(Duration::from_secs(5));
        let value = engine
            .eval_expression_with(&ast, &vars, Some(("result", &extra)), &control)
            .expect("evaluates");
        assert_eq!(value, json!(2));
        let mut slow = ast.clone();
        slow.shortcut = None;
        let value = engine
            .eval_expression_with(&slow, &vars, Some(("result", &extra)), &control)
            .expect("evaluates");
        assert_eq!(value, json!(2));
    }

    #[test]
    fn scripts_cut_down_only_variables_they_cannot_change() {
        let cut = |source: &str| -> Vec<String> {
            property_uses(source, true)
                .iter()
                .map(|(name, _)| name.clone())
                .collect()
        };
        assert_eq!(cut("let n = summary.count > 0;"), ["summary"]);
        assert_eq!(
            cut("if s.a == 1 && s.b <= 2 && s.c != 3 { x = s.d; }"),
            ["s"]
        );
        for source in [
            "summary.count = 1;",
            "summary.count += 1;",
            "summary.count <<= 1;",
            "summary.count **= 2;",
            "summary.items[0] = 1;",
            "summary.items.push(1);",
            "summary.inner.count = 2;",
            "summary?.count",
            "let summary = summary.count;",
        ] {
            assert!(!cut(source).contains(&"summary".to_owned()), "{source}");
        }
        // Cut down or not, a script reports the same variables.
        let engine = engine();
        let vars: Map<String, Value> = serde_json::from_value(json!({
            "summary": { "count": 2, "total": 7, "big": [1, 2, 3] },
            "other": { "count": 1 }
        }))
        .unwrap();
        let control = RunControl::with_timeout(Duration::from_secs(5));
        for source in [
            "let many = summary.count > 1; let t = summary.total + other.count;",
            "summary.count += 1; let t = summary.total;",
            "other.count = summary.count;",
            "let seen = `${summary.count}/${summary.total}`;",
            "if summary.count > 1 { let x = 1; other = #{ count: summary.total }; }",
        ] {
            let fast = engine.compile_script(source).unwrap();
            let mut slow = fast.clone();
            slow.properties = Arc::new([]);
            assert_eq!(
                engine.run_script(&fast, &vars, &control).unwrap(),
                engine.run_script(&slow, &vars, &control).unwrap(),
                "{source}"
            );
        }
    }

    #[test]
    fn properties_read_are_found_and_anything_else_reads_the_whole_value() {
        let uses = |source: &str| -> Vec<(String, Vec<String>)> {
            property_uses(source, false)
                .iter()
                .map(|(name, read)| (name.clone(), read.to_vec()))
                .collect()
        };
        let pair = |name: &str, read: &[&str]| {
            (
                name.to_owned(),
                read.iter().map(|r| (*r).to_owned()).collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            uses(
                r#"user.tier == "gold" || summary . recentSpendCents >= 10 && user.tier != x.user"#
            ),
            [
                pair("summary", &["recentSpendCents"]),
                pair("user", &["tier"]),
                pair("x", &["user"])
            ],
            "`.user` after a dot is a property of `x`, not a use of `user`; `gold` (in a string) \
             is a word used alone"
        );
        assert_eq!(uses("a.b.c + a.d"), [pair("a", &["b", "d"])]);
        for source in [
            "summary",
            "summary.keys()",
            "summary.len ()",
            r#"summary["a"]"#,
            "summary?.a",
            "`${summary}`",
            "summary.a + summary",
            r#""summary" + summary.a"#,
            "summary.a // summary",
            "summary..a",
        ] {
            assert!(
                uses(source).iter().all(|(name, _)| name != "summary"),
                "{source}: {:?}",
                uses(source)
            );
        }
    }

    mod shortcuts_agree_with_rhai {
        use super::*;
        use proptest::prelude::*;

        /// Pieces of expressions over `a` and `b`: property reads and other uses.
        const ATOMS: [&str; 12] = [
            "a.a",
            "a.b",
            "b.a",
            "a.a.c",
            "a",
            "b",
            "a.keys()",
            r#"a["b"]"#,
            "type_of(b.c)",
            r#"`${a.b}`"#,
            "a.c.len()",
            "b.b.a",
        ];
        const JOINS: [&str; 3] = [" == ", " + ", " != "];

        /// JSON without floats: Rhai turns whole floats into integers and a path copies
        /// numbers as they are (documented on [`Shortcut::Path`]).
        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                "[a-z ]{0,6}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 32, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
                    proptest::collection::btree_map("[abc]", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        const OPERANDS: [&str; 13] = [
            "a", "b", "a.a", "a.b", "b.a.c", "1", "-2", "0", "\"x\"", "\"\"", "true", "false",
            "a.c",
        ];
        const COMPARE: [&str; 6] = [" == ", " != ", " < ", " <= ", " > ", " >= "];

        /// Values conditions compare: few distinct ones, so equalities happen, and floats and
        /// `()` among them, which the shortcut must leave to Rhai.
        fn condition_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                (-2i64..3).prop_map(Value::from),
                Just(serde_json::json!(1.0)),
                Just(serde_json::json!(-2.5)),
                Just(serde_json::json!(u64::MAX)),
                prop_oneof![Just("x"), Just("")].prop_map(|s| Value::String(s.to_owned())),
            ];
            leaf.prop_recursive(3, 16, 3, |inner| {
                proptest::collection::btree_map("[abc]", inner, 0..3)
                    .prop_map(|m| Value::Object(m.into_iter().collect()))
            })
        }

        proptest! {
            #[test]
            fn words_of_code_are_some_of_all_words(
                source in r#"([a-z_ ]|"|'|`|\\|/|\*|\n|[0-9]|é|\{|\}|\$){0,40}"#,
            ) {
                let all = all_words(&source);
                for word in identifiers(&source).iter() {
                    prop_assert!(all.contains(word), "{word} of {source:?}");
                }
            }

            #[test]
            fn a_path_with_a_shortcut_reads_what_rhai_reads(
                vars in proptest::collection::btree_map("[ab]", value(), 0..3),
                path in proptest::collection::vec("[abc]", 1..4),
            ) {
                let vars: Map<String, Value> = vars.into_iter().collect();
                let engine = engine();
                let source = path.join(".");
                let fast = engine.compile_expression(&source).expect("a path compiles");
                prop_assert!(fast.shortcut.is_some());
                let mut slow = fast.clone();
                slow.shortcut = None;
                let control = RunControl::with_timeout(Duration::from_secs(5));
                let fast_value = engine.eval_expression(&fast, &vars, &control);
                let slow_value = engine.eval_expression(&slow, &vars, &control);
                match (fast_value, slow_value) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => prop_assert!(false, "{source} over {vars:?}: {a:?} vs {b:?}"),
                }
            }

            /// An expression gets the same answer (or the same error) with the objects it
            /// reads only properties of cut down to those properties as with the whole ones.
            #[test]
            fn reading_only_the_properties_used_changes_no_answer(
                vars in proptest::collection::btree_map("[ab]", value(), 0..3),
                atoms in proptest::collection::vec(0..ATOMS.len(), 1..4),
                joins in proptest::collection::vec(0..JOINS.len(), 3),
            ) {
                let vars: Map<String, Value> = vars.into_iter().collect();
                let mut source = String::new();
                for (i, atom) in atoms.iter().enumerate() {
                    if i > 0 {
                        source.push_str(JOINS[joins[i - 1]]);
                    }
                    source.push_str(ATOMS[*atom]);
                }
                let engine = engine();
                let Ok(cut) = engine.compile_expression(&source) else {
                    return Ok(());
                };
                let mut whole = cut.clone();
                whole.properties = Arc::new([]);
                let control = RunControl::with_timeout(Duration::from_secs(5));
                match (
                    engine.eval_expression(&cut, &vars, &control),
                    engine.eval_expression(&whole, &vars, &control),
                ) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", source),
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => prop_assert!(false, "{source} over {vars:?}: {a:?} vs {b:?}"),
                }
            }

            /// A condition gets the same answer, or the same error, with its shortcut as
            /// from Rhai alone, over values of every type (floats, `()`, nested maps).
            #[test]
            fn a_condition_with_a_shortcut_answers_as_rhai_does(
                vars in proptest::collection::btree_map("[ab]", condition_value(), 0..3),
                parts in proptest::collection::vec(
                    (0..OPERANDS.len(), 0..COMPARE.len(), 0..OPERANDS.len(), any::<bool>()),
                    1..4,
                ),
                joins in proptest::collection::vec(any::<bool>(), 3),
                group in any::<bool>(),
            ) {
                // One operand alone is a path or a literal, not a condition: those have their
                // own test (and a path copies numbers as they are, documented on `Path`).
                if parts.len() == 1 && parts[0].3 {
                    return Ok(());
                }
                let vars: Map<String, Value> = vars.into_iter().collect();
                let mut source = String::new();
                for (i, (left, op, right, alone)) in parts.iter().enumerate() {
                    if i > 0 {
                        source.push_str(if joins[i - 1] { " && " } else { " || " });
                    }
                    if group && i == 1 {
                        source.push('(');
                    }
                    source.push_str(OPERANDS[*left]);
                    if !alone {
                        source.push_str(COMPARE[*op]);
                        source.push_str(OPERANDS[*right]);
                    }
                }
                if group && parts.len() > 1 {
                    source.push(')');
                }
                let engine = engine();
                let Ok(fast) = engine.compile_expression(&source) else {
                    return Ok(());
                };
                let mut slow = fast.clone();
                slow.shortcut = None;
                let control = RunControl::with_timeout(Duration::from_secs(5));
                match (
                    engine.eval_expression(&fast, &vars, &control),
                    engine.eval_expression(&slow, &vars, &control),
                ) {
                    (Ok(a), Ok(b)) => prop_assert_eq!(a, b, "{}", source),
                    (Err(a), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => prop_assert!(false, "{source} over {vars:?}: {a:?} vs {b:?}"),
                }
            }

            #[test]
            fn a_literal_with_a_shortcut_is_what_rhai_makes_of_it(n in any::<i64>(), text in "[a-z A-Z0-9_%-]{0,12}") {
                let engine = engine();
                let control = RunControl::with_timeout(Duration::from_secs(5));
                for source in [n.to_string(), format!("\"{text}\"")] {
                    let fast = engine.compile_expression(&source).expect("compiles");
                    prop_assert!(fast.shortcut.is_some(), "{source}");
                    let mut slow = fast.clone();
                    slow.shortcut = None;
                    let empty = Map::new();
                    prop_assert_eq!(
                        engine.eval_expression(&fast, &empty, &control).ok(),
                        engine.eval_expression(&slow, &empty, &control).ok()
                    );
                }
            }
        }
    }
}
