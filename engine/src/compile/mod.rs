//! Compile: a VMS (or a single BPMN file) into an immutable [`Program`].
//!
//! Compiling resolves every reference once — call activities and service tasks to function
//! indices, connector methods to their names, error codes of error events — builds the graph
//! IR of each BPMN function ([`graph`]), compiles every Rhai expression and script to an AST,
//! and builds parameter validators from each function's declared input and output. Runs then
//! share the program through `Arc` and never look anything up by string.
//!
//! Problems are [`Diagnostic`]s, the same type validation reports. A function with an error
//! is kept in the program as broken: running it fails with the diagnostics' summary, while
//! the other functions run normally.

mod bpmn;
pub(crate) mod graph;
pub(crate) mod params;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use starweave_model::Diagnostic;
use starweave_model::bpmn::Definitions;
use starweave_model::vms::function::CodeLanguage;
use starweave_model::vms::{FunctionBody, Vms};

use crate::script::ScriptError;
use crate::script::js::{JsModule, JsPool, JsPoolConfig};
use crate::script::library::{Library, SystemClock};
use crate::script::rhai::{RhaiAst, RhaiEngine, RhaiLimits};
use graph::Region;
use params::ObjectCheck;

/// The script engines a program compiles for and runs on. Create one per process and share
/// it: every program compiled with it reuses its Rhai engine.
#[derive(Debug, Clone)]
pub struct Scripting {
    /// The Rhai engine with the built-in library registered and the budgets set.
    pub rhai: RhaiEngine,
    /// The JavaScript pool, started on first use so Rhai-only programs start no threads.
    js: Arc<OnceLock<JsPool>>,
    js_config: JsPoolConfig,
}

impl Default for Scripting {
    /// The built-in library on the system clock, with the default budgets.
    fn default() -> Self {
        Scripting::new(
            Library::new(Arc::new(SystemClock)),
            RhaiLimits::default(),
            JsPoolConfig::default(),
        )
    }
}

impl Scripting {
    /// Script engines with this library (and its clock) and these budgets.
    pub fn new(library: Library, rhai_limits: RhaiLimits, mut js_config: JsPoolConfig) -> Self {
        js_config.library = library.clone();
        Scripting {
            rhai: RhaiEngine::new(library, rhai_limits),
            js: Arc::new(OnceLock::new()),
            js_config,
        }
    }

    /// The JavaScript pool (started now if it was not yet).
    pub fn js(&self) -> &JsPool {
        self.js.get_or_init(|| JsPool::new(self.js_config.clone()))
    }

    /// The compiled module of a JavaScript function, compiled on first use.
    pub(crate) async fn js_module(&self, code: &JsCode) -> Result<JsModule, ScriptError> {
        code.module
            .get_or_try_init(|| {
                self.js()
                    .compile_module(&code.path, &code.source, &code.node_modules)
            })
            .await
            .cloned()
    }
}

/// A JavaScript function's source, compiled into a module on first use (QuickJS compiles on
/// its worker threads, asynchronously); [`Program::prepare`] compiles them all up front.
#[derive(Debug)]
pub(crate) struct JsCode {
    path: String,
    source: String,
    node_modules: BTreeMap<String, String>,
    module: tokio::sync::OnceCell<JsModule>,
}

/// A compiled VMS or BPMN file: functions by name, ready to run many times concurrently.
#[derive(Debug)]
pub struct Program {
    pub(crate) functions: Vec<CompiledFunction>,
    pub(crate) by_name: HashMap<String, usize>,
    pub(crate) scripting: Scripting,
    /// Connector name → method names, for `ctx.connectors` in Rhai functions.
    pub(crate) connector_methods: BTreeMap<String, Vec<String>>,
}

/// What [`compile_vms`] and [`compile_bpmn`] return: the program (always, with broken
/// functions marked) and every problem found.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The program, shared by runs.
    pub program: Arc<Program>,
    /// Compile problems, in function order.
    pub diagnostics: Vec<Diagnostic>,
}

impl Compiled {
    /// Whether any diagnostic is an error.
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// What kind of function a compiled function is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionKind {
    /// A BPMN process.
    Bpmn,
    /// A Rhai code function.
    Rhai,
    /// A JavaScript code function.
    JavaScript,
}

#[derive(Debug)]
pub(crate) struct CompiledFunction {
    pub(crate) name: Arc<str>,
    pub(crate) input: ObjectCheck,
    pub(crate) output: ObjectCheck,
    /// Declared outputs: the output object is built from these variables; none means all.
    pub(crate) declared_outputs: Vec<String>,
    pub(crate) timeout: Option<Duration>,
    pub(crate) body: Body,
}

#[derive(Debug)]
pub(crate) enum Body {
    Bpmn(Arc<Region>),
    Rhai(RhaiAst),
    JavaScript(JsCode),
    /// Did not compile; the message summarises why.
    Broken(String),
}

impl Program {
    /// The names of the functions, sorted.
    pub fn function_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.by_name.keys().map(String::as_str).collect();
        names.sort_unstable();
        names
    }

    /// Whether the program has a function with this name.
    pub fn has_function(&self, name: &str) -> bool {
        self.by_name.contains_key(name)
    }

    /// The kind of the function `name`, when it exists.
    pub fn function_kind(&self, name: &str) -> Option<FunctionKind> {
        let function = &self.functions[*self.by_name.get(name)?];
        Some(match &function.body {
            Body::Bpmn(_) => FunctionKind::Bpmn,
            Body::Rhai(_) => FunctionKind::Rhai,
            Body::JavaScript(_) => FunctionKind::JavaScript,
            Body::Broken(_) => FunctionKind::Bpmn,
        })
    }

    /// The script engines the program runs on.
    pub fn scripting(&self) -> &Scripting {
        &self.scripting
    }

    /// Compiles every JavaScript function now (otherwise each compiles on its first call)
    /// and returns the problems found, as diagnostics on the functions' files.
    pub async fn prepare(&self) -> Vec<Diagnostic> {
        let mut diagnostics = Vec::new();
        for function in &self.functions {
            if let Body::JavaScript(code) = &function.body
                && let Err(err) = self.scripting.js_module(code).await
            {
                diagnostics.push(
                    Diagnostic::error("engine.js-compile", err.to_string())
                        .in_file(code.path.clone()),
                );
            }
        }
        diagnostics
    }
}

/// Compiles every function of a VMS.
pub fn compile_vms(vms: &Vms, scripting: &Scripting) -> Compiled {
    let by_name: HashMap<String, usize> = vms
        .functions
        .keys()
        .enumerate()
        .map(|(i, name)| (name.clone(), i))
        .collect();
    let mut diagnostics = Vec::new();
    let mut functions = Vec::with_capacity(vms.functions.len());
    // Vendored npm packages, for JavaScript imports.
    let node_modules: BTreeMap<String, String> = vms
        .other_files
        .iter()
        .filter(|(path, _)| path.starts_with("node_modules/"))
        .filter_map(|(path, bytes)| Some((path.clone(), String::from_utf8(bytes.clone()).ok()?)))
        .collect();
    let connector_methods = vms
        .connectors
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                c.methods().iter().map(|m| m.name.to_owned()).collect(),
            )
        })
        .collect();
    for (name, function) in &vms.functions {
        let file = starweave_model::vms::disk::function_body_file(name, function.extension());
        let spec_file = starweave_model::vms::disk::function_spec_file(name);
        let mut own = Vec::new();
        let input = ObjectCheck::new(&function.spec.input, &mut own, "input");
        let output = ObjectCheck::new(&function.spec.output, &mut own, "output");
        for d in &mut own {
            d.file = Some(spec_file.clone());
        }
        let body = match &function.body {
            FunctionBody::Bpmn { definitions } => {
                let mut cx = bpmn::Cx::new(
                    scripting,
                    &by_name,
                    definitions,
                    Some(vms),
                    Some(&file),
                    &mut own,
                );
                match cx.main_process() {
                    Some(region) => Body::Bpmn(Arc::new(region)),
                    None => Body::Broken("the BPMN file has no process".into()),
                }
            }
            FunctionBody::Code {
                language: CodeLanguage::Rhai,
                source,
            } => match scripting.rhai.compile_script(source) {
                Ok(ast) => Body::Rhai(ast),
                Err(err) => {
                    own.push(
                        Diagnostic::error("engine.rhai-compile", err.to_string())
                            .in_file(file.clone()),
                    );
                    Body::Broken(err.to_string())
                }
            },
            FunctionBody::Code {
                language: CodeLanguage::JavaScript,
                source,
            } => Body::JavaScript(JsCode {
                path: file.clone(),
                source: source.clone(),
                node_modules: node_modules.clone(),
                module: tokio::sync::OnceCell::new(),
            }),
        };
        if let Some(Err(problem)) = function.spec.timeout_ms.map(crate::run::check_timeout_ms) {
            own.push(Diagnostic::error("engine.timeout", problem).in_file(spec_file.clone()));
        }
        let body = broken_if_errors(body, &own);
        diagnostics.append(&mut own);
        functions.push(CompiledFunction {
            name: Arc::from(name.as_str()),
            input,
            output,
            declared_outputs: function
                .spec
                .output
                .iter()
                .map(|p| p.name.clone())
                .collect(),
            timeout: function.spec.timeout_ms.map(Duration::from_millis),
            body,
        });
    }
    Compiled {
        program: Arc::new(Program {
            functions,
            by_name,
            scripting: scripting.clone(),
            connector_methods,
        }),
        diagnostics,
    }
}

/// Compiles a single BPMN file: each process becomes a function named by its id, with no
/// declared input or output (so its output is every variable at its end). Call activities
/// may call the other processes of the file by id.
pub fn compile_bpmn(
    definitions: &Definitions,
    file: Option<&str>,
    scripting: &Scripting,
) -> Compiled {
    let processes: Vec<_> = definitions.processes().collect();
    let by_name: HashMap<String, usize> = processes
        .iter()
        .enumerate()
        .map(|(i, p)| (p.base.id().to_owned(), i))
        .collect();
    let mut diagnostics = Vec::new();
    let mut functions = Vec::new();
    for process in &processes {
        let mut own = Vec::new();
        let mut cx = bpmn::Cx::new(scripting, &by_name, definitions, None, file, &mut own);
        let region = cx.process(process);
        let body = broken_if_errors(Body::Bpmn(Arc::new(region)), &own);
        diagnostics.append(&mut own);
        functions.push(CompiledFunction {
            name: Arc::from(process.base.id()),
            input: ObjectCheck::default(),
            output: ObjectCheck::default(),
            declared_outputs: Vec::new(),
            timeout: None,
            body,
        });
    }
    if processes.is_empty() {
        let mut d = Diagnostic::error("engine.no-process", "the BPMN file has no process to run");
        if let Some(file) = file {
            d = d.in_file(file);
        }
        diagnostics.push(d);
    }
    Compiled {
        program: Arc::new(Program {
            functions,
            by_name,
            scripting: scripting.clone(),
            connector_methods: BTreeMap::new(),
        }),
        diagnostics,
    }
}

fn broken_if_errors(body: Body, diagnostics: &[Diagnostic]) -> Body {
    match diagnostics.iter().find(|d| d.is_error()) {
        Some(first) => {
            let count = diagnostics.iter().filter(|d| d.is_error()).count();
            let more = if count > 1 {
                format!(" (and {} more errors)", count - 1)
            } else {
                String::new()
            };
            Body::Broken(format!("the function does not compile: {first}{more}"))
        }
        None => body,
    }
}
