//! `starweave run` and `starweave test`: run functions of a VMS or a bare BPMN file in memory.
//!
//! - `run` prints the function's output as pretty JSON on standard output and exits 0; on
//!   failure it prints the error as JSON (`{"kind", "code", "message", "element"}`) on
//!   standard output and exits 1. With `--trace` the trace goes to standard error as a step
//!   list (one line per executed element: offset, duration, kind, id, flows taken, error),
//!   so standard output stays the output JSON for pipes. What code functions log through
//!   `ctx.log` goes to standard error too, one `level [function] message` line each (before
//!   the trace; lines logged before a failure included).
//! - `test` runs every case in `tests/<function>/*.yaml`, prints `PASS`/`FAIL` per case (with
//!   a line diff for a wrong output) and a summary, and exits 1 when any case fails.
//!
//! Connector calls that are not mocked fail with "no connector is configured": real
//! connectors run in the engine server. Code functions see as `ctx.env` the env vars the
//! VMS declares: their defaults, then this machine's `.env.local`, then this process's
//! environment (`crate::env`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use serde_json::Value;
use starweave_engine::compile::{Compiled, Scripting, compile_bpmn, compile_vms};
use starweave_engine::mocks::Mocks;
use starweave_engine::run::{RunConfig, run_function};
use starweave_engine::testing::run_tests;
use starweave_model::trace::Trace;
use starweave_model::vms::{self, Vms};
use starweave_model::{Diagnostic, bpmn};

use crate::files::{self, Target};

/// The arguments of `starweave run`.
#[derive(Debug)]
pub struct RunArgs {
    /// A VMS directory, a function file inside one, or a bare `.bpmn` file.
    pub path: PathBuf,
    /// The function (or, for a bare BPMN file, the process id) to run.
    pub function: Option<String>,
    /// The input, as JSON text.
    pub input: String,
    /// Print the trace to standard error.
    pub trace: bool,
    /// A YAML or JSON file of mocks.
    pub mocks: Option<PathBuf>,
    /// The run's time budget in milliseconds.
    pub timeout_ms: Option<u64>,
}

struct Loaded {
    compiled: Compiled,
    vms: Option<Vms>,
    /// Errors found reading the VMS's files (reported already): a test case file that does
    /// not parse is one, and is not among the cases.
    read_errors: usize,
    /// The function to run when none is named.
    default_function: Option<String>,
}

fn load(path: &Path) -> Result<Loaded> {
    let scripting = Scripting::default();
    Ok(match files::classify(path)? {
        Target::Vms(root) => load_vms(&root, None, &scripting)?,
        Target::FileInVms { root, relative } => {
            let stem = relative
                .strip_prefix("functions/")
                .and_then(|f| f.rsplit_once('.').map(|(stem, _)| stem.to_owned()));
            load_vms(&root, stem, &scripting)?
        }
        Target::Bpmn(file) => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let document = bpmn::read_bpmn_bytes(&bytes);
            let shown = file.display().to_string();
            report(&document.diagnostics, Some(&shown));
            let compiled = compile_bpmn(&document.definitions, Some(&shown), &scripting);
            let default_function = document
                .definitions
                .processes()
                .find(|p| p.is_executable == Some(true))
                .or_else(|| document.definitions.processes().next())
                .map(|p| p.base.id().to_owned());
            Loaded {
                compiled,
                vms: None,
                read_errors: 0,
                default_function,
            }
        }
    })
}

fn load_vms(
    root: &Path,
    default_function: Option<String>,
    scripting: &Scripting,
) -> Result<Loaded> {
    let files = files::read_vms_dir(root)?;
    let document = vms::read_vms(&files);
    report(&document.diagnostics, None);
    let compiled = compile_vms(&document.vms, scripting);
    let default_function = default_function.or_else(|| {
        (document.vms.functions.len() == 1)
            .then(|| document.vms.functions.keys().next().cloned())
            .flatten()
    });
    Ok(Loaded {
        compiled,
        vms: Some(document.vms),
        read_errors: document.diagnostics.iter().filter(|d| d.is_error()).count(),
        default_function,
    })
}

/// Prints error diagnostics to standard error.
fn report(diagnostics: &[Diagnostic], file: Option<&str>) {
    for d in diagnostics.iter().filter(|d| d.is_error()) {
        let mut d = d.clone();
        if d.file.is_none() {
            d.file = file.map(str::to_owned);
        }
        eprintln!("{d}");
    }
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

/// `starweave run`.
pub fn cmd_run(args: RunArgs) -> Result<ExitCode> {
    let loaded = load(&args.path)?;
    report(&loaded.compiled.diagnostics, None);
    let program = loaded.compiled.program.clone();
    let function = match args.function.or(loaded.default_function) {
        Some(f) => f,
        None => bail!(
            "name the function to run; {} has: {}",
            args.path.display(),
            program.function_names().join(", ")
        ),
    };
    let input: Value = serde_json::from_str(&args.input).context("--input is not valid JSON")?;
    let mocks = match &args.mocks {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            Mocks::parse(&text).map_err(anyhow::Error::msg)?
        }
        None => Mocks::new(),
    };
    let timeout = args
        .timeout_ms
        .map(starweave_engine::run::check_timeout_ms)
        .transpose()
        .map_err(|problem| anyhow::anyhow!("--timeout-ms: {problem}"))?;
    let config = RunConfig {
        timeout,
        trace: args.trace,
        mocks: Arc::new(mocks),
        env: match loaded.vms.as_ref() {
            Some(vms) => crate::env::vms_env(vms)?,
            None => BTreeMap::new(),
        },
        ..RunConfig::default()
    };
    let outcome = runtime()?.block_on(run_function(&program, &function, input, config));
    for line in &outcome.logs {
        eprintln!("{} [{}] {}", line.level, line.function, line.message);
    }
    if let Some(trace) = &outcome.trace {
        print_trace(trace);
    }
    let mut out = std::io::stdout().lock();
    match outcome.output {
        Ok(output) => {
            serde_json::to_writer_pretty(&mut out, &output)?;
            writeln!(out)?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            serde_json::to_writer_pretty(&mut out, &error)?;
            writeln!(out)?;
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The trace as one line per step on standard error, indented by nesting.
fn print_trace(trace: &Trace) {
    eprintln!("trace of {} ({} µs):", trace.function, trace.duration_us);
    let mut depth = vec![0usize; trace.steps.len()];
    for (i, step) in trace.steps.iter().enumerate() {
        depth[i] = step
            .parent
            .map_or(0, |p| depth.get(p).copied().unwrap_or(0) + 1);
        let indent = "  ".repeat(depth[i]);
        let iteration = step.iteration.map(|n| format!(" #{n}")).unwrap_or_default();
        let flows = if step.taken_flows.is_empty() {
            String::new()
        } else {
            format!(" → {}", step.taken_flows.join(", "))
        };
        let error = step
            .error
            .as_ref()
            .map(|e| format!("  ✗ {}: {}", e.code, e.message))
            .unwrap_or_default();
        let kind = serde_json::to_value(step.element_kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        eprintln!(
            "{:>8} µs {:>7} µs  {indent}{kind} {}{iteration}{flows}{error}",
            step.start_offset_us, step.duration_us, step.element_id
        );
    }
}

/// `starweave test`.
pub fn cmd_test(dir: &Path) -> Result<ExitCode> {
    let root = match files::classify(dir)? {
        Target::Vms(root) => root,
        _ => bail!("{} is not a VMS directory", dir.display()),
    };
    let loaded = load_vms(&root, None, &Scripting::default())?;
    report(&loaded.compiled.diagnostics, None);
    // A case file that does not parse, or a function that does not compile, is a failure
    // even when every case that ran passed: CI must not go green on a broken VMS.
    let mut errors = loaded.read_errors
        + loaded
            .compiled
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .count();
    let vms = loaded.vms.unwrap_or_default();
    let program = loaded.compiled.program.clone();
    let config = RunConfig {
        env: crate::env::vms_env(&vms)?,
        ..RunConfig::default()
    };
    let reports = runtime()?.block_on(async {
        for d in program.prepare().await {
            errors += usize::from(d.is_error());
            eprintln!("{d}");
        }
        run_tests(&program, &vms.tests, &config).await
    });
    let mut out = std::io::stdout().lock();
    let failed = reports.iter().filter(|r| !r.passed()).count();
    for report in &reports {
        if let Some(failure) = &report.failure {
            writeln!(out, "FAIL {}/{}", report.function, report.case)?;
            for line in failure.lines() {
                writeln!(out, "    {line}")?;
            }
        } else {
            writeln!(out, "PASS {}/{}", report.function, report.case)?;
        }
    }
    writeln!(
        out,
        "{} passed, {failed} failed in {}",
        reports.len() - failed,
        root.display()
    )?;
    if errors > 0 {
        writeln!(
            out,
            "{errors} error{} in the VMS (above): not every case could run",
            if errors == 1 { "" } else { "s" }
        )?;
    }
    Ok(if failed > 0 || errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
