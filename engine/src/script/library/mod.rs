//! The built-in expression library, implemented once over `serde_json::Value` and exposed to
//! Rhai (plain functions) and JavaScript (methods of the global `sw` object).
//!
//! Each built-in is a [`Builtin`] doc entry with its implementation. Its example is a test: it
//! runs in both languages and must give the documented result (see `tests/script_library.rs`).
//! Timestamps are RFC 3339 strings; exact decimals are strings; everything else is plain JSON.

mod collections;
mod dates;
mod numbers;
mod text;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// A source of the current time, injected so that `now()` is deterministic in tests.
pub trait Clock: Send + Sync + fmt::Debug {
    /// The current instant.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that always reads the same instant.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// The instant the reference examples run at: 2024-03-10T12:00:00Z.
pub fn example_clock() -> FixedClock {
    FixedClock(DateTime::from_timestamp(1_710_072_000, 0).unwrap_or_default())
}

/// Category of a built-in, the sections of the reference page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    /// Text.
    Strings,
    /// Numbers and exact decimals.
    Numbers,
    /// Dates, times and time zones.
    Dates,
    /// Arrays and objects.
    Collections,
    /// JSON text.
    Json,
    /// Regular expressions.
    Regex,
    /// Hashes and encodings.
    Hashes,
    /// Identifiers.
    Ids,
}

impl Category {
    /// Every category, in reference order.
    pub const ALL: [Category; 8] = [
        Category::Strings,
        Category::Numbers,
        Category::Dates,
        Category::Collections,
        Category::Json,
        Category::Regex,
        Category::Hashes,
        Category::Ids,
    ];

    /// The section title.
    pub fn title(self) -> &'static str {
        match self {
            Category::Strings => "Strings",
            Category::Numbers => "Numbers and decimals",
            Category::Dates => "Dates and time zones",
            Category::Collections => "Collections",
            Category::Json => "JSON",
            Category::Regex => "Regular expressions",
            Category::Hashes => "Hashes and encodings",
            Category::Ids => "Identifiers",
        }
    }
}

/// The implementation of a built-in: JSON arguments (already checked against the arity) to a
/// JSON result or an error message.
pub type BuiltinFn = fn(&Library, &[Value]) -> Result<Value, String>;

/// One built-in: its doc entry and its implementation.
#[derive(Clone, Copy, Serialize)]
pub struct Builtin {
    /// The name, in Rhai `name(...)` and in JavaScript `sw.name(...)`.
    pub name: &'static str,
    /// Its section of the reference.
    pub category: Category,
    /// Parameters and result, e.g. `pad_start(text, width, fill?) -> string`.
    pub signature: &'static str,
    /// One sentence.
    pub description: &'static str,
    /// An expression in Rhai syntax using the built-in; the JavaScript form is derived from it.
    pub example: &'static str,
    /// The example's result as JSON text.
    pub example_result: &'static str,
    /// Fewest arguments.
    pub min_args: usize,
    /// Most arguments.
    pub max_args: usize,
    /// The implementation.
    #[serde(skip)]
    pub func: BuiltinFn,
}

impl fmt::Debug for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builtin")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The shared state of the built-ins: the clock and the compiled-regex cache.
#[derive(Debug, Clone)]
pub struct Library {
    clock: Arc<dyn Clock>,
    regexes: Arc<Mutex<HashMap<String, regex::Regex>>>,
}

/// Longest regex pattern accepted, in bytes.
const MAX_REGEX_PATTERN: usize = 4096;
/// Compiled-size limit of one regex.
const MAX_REGEX_SIZE: usize = 1 << 20;
/// Compiled regexes kept; the cache is emptied when it grows past this.
const REGEX_CACHE_ENTRIES: usize = 256;

impl Library {
    /// A library reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            regexes: Arc::default(),
        }
    }

    /// Calls the built-in `name` with `args`; errors name the built-in.
    pub fn call(&self, name: &str, args: &[Value]) -> Result<Value, String> {
        let builtin = find(name).ok_or_else(|| format!("unknown built-in `{name}`"))?;
        self.call_builtin(builtin, args)
    }

    /// Calls `builtin` with `args`, checking the arity first; errors name the built-in.
    pub fn call_builtin(&self, builtin: &Builtin, args: &[Value]) -> Result<Value, String> {
        if args.len() < builtin.min_args || args.len() > builtin.max_args {
            return Err(format!(
                "{}: expected {} argument(s), got {} — {}",
                builtin.name,
                arity_text(builtin),
                args.len(),
                builtin.signature
            ));
        }
        (builtin.func)(self, args).map_err(|message| format!("{}: {message}", builtin.name))
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn regex(&self, pattern: &str) -> Result<regex::Regex, String> {
        if pattern.len() > MAX_REGEX_PATTERN {
            return Err(format!("pattern longer than {MAX_REGEX_PATTERN} bytes"));
        }
        let mut cache = self
            .regexes
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(found) = cache.get(pattern) {
            return Ok(found.clone());
        }
        let compiled = regex::RegexBuilder::new(pattern)
            .size_limit(MAX_REGEX_SIZE)
            .dfa_size_limit(MAX_REGEX_SIZE)
            .build()
            .map_err(|err| format!("invalid pattern: {err}"))?;
        if cache.len() >= REGEX_CACHE_ENTRIES {
            cache.clear();
        }
        cache.insert(pattern.to_owned(), compiled.clone());
        Ok(compiled)
    }
}

impl Default for Library {
    fn default() -> Self {
        Self::new(Arc::new(SystemClock))
    }
}

fn arity_text(builtin: &Builtin) -> String {
    if builtin.min_args == builtin.max_args {
        builtin.min_args.to_string()
    } else {
        format!("{} to {}", builtin.min_args, builtin.max_args)
    }
}

/// Every built-in, grouped by category.
pub fn builtins() -> impl Iterator<Item = &'static Builtin> {
    text::STRINGS
        .iter()
        .chain(numbers::NUMBERS)
        .chain(dates::DATES)
        .chain(collections::COLLECTIONS)
        .chain(text::JSON)
        .chain(text::REGEX)
        .chain(text::HASHES)
        .chain(text::IDS)
}

/// The built-in called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    builtins().find(|builtin| builtin.name == name)
}

// Argument helpers shared by the category modules. Messages are completed with the built-in's
// name by `Library::call_builtin`.

fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn arg(args: &[Value], index: usize) -> Option<&Value> {
    args.get(index).filter(|value| !value.is_null())
}

fn str_arg(args: &[Value], index: usize) -> Result<&str, String> {
    match args.get(index) {
        Some(Value::String(text)) => Ok(text),
        Some(other) => Err(format!(
            "argument {} must be a string, got {}",
            index + 1,
            type_name(other)
        )),
        None => Err(format!("argument {} is missing", index + 1)),
    }
}

fn opt_str_arg(args: &[Value], index: usize) -> Result<Option<&str>, String> {
    match arg(args, index) {
        None => Ok(None),
        Some(_) => str_arg(args, index).map(Some),
    }
}

fn f64_arg(args: &[Value], index: usize) -> Result<f64, String> {
    match args.get(index) {
        Some(Value::Number(number)) => number
            .as_f64()
            .ok_or_else(|| format!("argument {} is not a finite number", index + 1)),
        Some(other) => Err(format!(
            "argument {} must be a number, got {}",
            index + 1,
            type_name(other)
        )),
        None => Err(format!("argument {} is missing", index + 1)),
    }
}

fn int_arg(args: &[Value], index: usize) -> Result<i64, String> {
    let number = f64_arg(args, index)?;
    if number.fract() != 0.0 || number.abs() > MAX_SAFE_INTEGER {
        return Err(format!(
            "argument {} must be a whole number, got {number}",
            index + 1
        ));
    }
    Ok(number as i64)
}

fn array_arg(args: &[Value], index: usize) -> Result<&Vec<Value>, String> {
    match args.get(index) {
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(format!(
            "argument {} must be an array, got {}",
            index + 1,
            type_name(other)
        )),
        None => Err(format!("argument {} is missing", index + 1)),
    }
}

fn object_arg(args: &[Value], index: usize) -> Result<&serde_json::Map<String, Value>, String> {
    match args.get(index) {
        Some(Value::Object(map)) => Ok(map),
        Some(other) => Err(format!(
            "argument {} must be an object, got {}",
            index + 1,
            type_name(other)
        )),
        None => Err(format!("argument {} is missing", index + 1)),
    }
}

/// 2⁵³ − 1: the largest integer both languages hold exactly.
pub(crate) const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// The JSON number for `value`: whole numbers within ±2⁵³ become integers, so results agree
/// between Rhai (which has integers and floats) and JavaScript (which has only doubles).
/// NaN and infinities become `null`, as in `JSON.stringify`.
pub fn number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() <= MAX_SAFE_INTEGER {
        Value::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
    }
}

/// `value` with every number normalised as [`number`] does.
pub fn normalize(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() && !n.is_u64() => n.as_f64().map_or(Value::Null, number),
        Value::Array(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(key, value)| (key, normalize(value)))
                .collect(),
        ),
        other => other,
    }
}
