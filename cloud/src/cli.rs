//! Command-line parsing and the commands themselves.

use std::{
    io::{self, Write},
    path::{Path, PathBuf},
    process::ExitCode,
    sync::Arc,
};

use anyhow::{Context, Result};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use starweave_engine::compile::{Program, Scripting};
use starweave_model::{
    Diagnostic, Severity, bpmn, validate,
    vms::{self, VmsFiles},
};

use crate::files::{self, Target};

/// Starweave: build visual microservices from BPMN flows, code functions, connectors and triggers.
#[derive(Debug, Parser)]
#[command(name = "starweave", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check VMS directories or BPMN files and list every problem with file:line:col.
    ///
    /// Exits with status 1 when any error is found.
    Validate {
        /// VMS directories, files inside a VMS, or standalone .bpmn files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format: `human` (file:line:col: error[code]: message) or `json` for tools.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Rewrite VMS files and BPMN files in Starweave's canonical format.
    ///
    /// BPMN is re-serialised losslessly: elements and attributes Starweave does not understand are
    /// kept. Files with errors are left alone.
    Fmt {
        /// VMS directories, files inside a VMS, or standalone .bpmn files.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Do not write; list the files that are not formatted and exit with 1 if there are any.
        #[arg(long)]
        check: bool,
        /// Do not write; print the formatted content to standard output.
        #[arg(long, conflicts_with = "check")]
        stdout: bool,
    },
    /// Create a new VMS directory from a template.
    New {
        /// The directory to create; its last component becomes the VMS name.
        dir: PathBuf,
        /// The template to start from.
        #[arg(long, value_enum, default_value_t = TemplateArg::HttpJs)]
        template: TemplateArg,
    },
    /// Run a function in memory and print its output JSON (exit 1 with the error JSON).
    ///
    /// With --trace, the trace goes to standard error as one line per executed element.
    /// Connector calls must be mocked (--mocks); real connectors run in the engine server.
    Run {
        /// A VMS directory, a function file inside one, or a bare .bpmn file.
        path: PathBuf,
        /// The function to run (for a bare .bpmn file: a process id); optional when there is one.
        function: Option<String>,
        /// The input object, as JSON.
        #[arg(long, default_value = "{}")]
        input: String,
        /// Print the trace (each element's start, duration, flows taken, error) to standard error.
        #[arg(long)]
        trace: bool,
        /// A YAML or JSON file mapping `connector.method` or function names to mocks.
        #[arg(long)]
        mocks: Option<PathBuf>,
        /// The run's time budget in milliseconds (default: the function's, else 30 s).
        #[arg(long)]
        timeout_ms: Option<u64>,
    },
    /// Run a VMS's test cases (tests/<function>/*.yaml); exit 1 when any fails.
    Test {
        /// The VMS directory.
        dir: PathBuf,
    },
    /// Test the connections of a VMS's connectors from this machine; exit 1 when any fails.
    ///
    /// Each connector connects the way its calls would (URL, TLS files, credentials) and runs
    /// one harmless command: HEAD on an HTTP base URL, the database's version, Redis PING, the
    /// NATS server's JetStream and the connector's stream, an AMQP channel, a gRPC
    /// connection, every value of a config connector. Env values: the variables the VMS
    /// declares, from this process's environment, else their defaults.
    Connections {
        /// The VMS directory.
        dir: PathBuf,
        /// Only this connector (repeatable); all of them by default.
        #[arg(long = "connector", value_name = "NAME")]
        connectors: Vec<String>,
        /// Output format: `human` (one line per connector) or `json`.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Serve a VMS on an embedded engine at 127.0.0.1 and reload it when its files change.
    ///
    /// Routes are under `/<vms>/…`; an edit that does not load prints its diagnostics and the
    /// last good version keeps serving. Env values: the VMS's declared variables from this
    /// process's environment.
    Dev {
        /// The VMS directory.
        dir: PathBuf,
        /// The port (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
    },
    /// Deploy a VMS to a compute engine (`starweave-engine`) through its admin API.
    ///
    /// Checks the VMS first (as `validate`; errors stop it), then sends its files — without
    /// hidden files such as `.env.local` and without what Git ignores — as one tarball. The
    /// new version takes the VMS's traffic once it has loaded; the previous one drains. The
    /// version defaults to the commit's short hash, or `<hash>-dirty-<content hash>` when the
    /// files differ from the commit. Env values come from --env-file and --env only, never
    /// from `.env.local`. The token: STARWEAVE_ADMIN_TOKEN or --token-file.
    Deploy {
        /// The VMS directory.
        dir: PathBuf,
        #[command(flatten)]
        engine: EngineFlags,
        /// The version to deploy as (letters, digits, `.`, `_`, `-`, `+`).
        #[arg(long)]
        version: Option<String>,
        /// An env value, `NAME=VALUE`, or `NAME` to take it from this shell (repeatable).
        #[arg(long = "env", value_name = "NAME[=VALUE]")]
        env: Vec<String>,
        /// A file of env values (`NAME=value` lines, as in `.env.local`).
        #[arg(long, value_name = "FILE")]
        env_file: Option<PathBuf>,
        /// Runs of this deployment at once (the engine's default when absent).
        #[arg(long)]
        concurrency: Option<u32>,
        /// Deadline of runs whose function declares none, in milliseconds.
        #[arg(long)]
        timeout_ms: Option<u64>,
        /// The deployment's log level: error, warn, info, debug or trace.
        #[arg(long)]
        log_level: Option<String>,
        /// Check and show what would be sent, without sending it.
        #[arg(long)]
        dry_run: bool,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// List the deployments a compute engine hosts.
    Deployments {
        #[command(flatten)]
        engine: EngineFlags,
        /// Output format.
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Unload one version of a VMS from a compute engine (its runs in flight finish first).
    Undeploy {
        /// The VMS name.
        vms: String,
        /// The version.
        version: String,
        #[command(flatten)]
        engine: EngineFlags,
    },
    /// Give the traffic back to a version still loaded on the engines (a rollback: nothing is
    /// sent or compiled).
    Activate {
        /// The VMS name.
        vms: String,
        /// The version.
        version: String,
        #[command(flatten)]
        engine: EngineFlags,
    },
    /// Show a VMS's recent log lines on the engines (merged by time): requests, trigger
    /// runs, what its code logged through `ctx.log`, failures.
    ///
    /// Each engine keeps the newest lines of each VMS it hosts (`--recent-log-kib`); this
    /// reads them through the admin API. With --follow, new lines are printed as they come
    /// (every second) until interrupted.
    Logs {
        /// The VMS name.
        vms: String,
        #[command(flatten)]
        engine: EngineFlags,
        /// Only this version's lines.
        #[arg(long)]
        version: Option<String>,
        /// Only lines at this level or worse: error, warn, info, debug, trace.
        #[arg(long)]
        level: Option<String>,
        /// Only lines containing this text (ignoring case).
        #[arg(long, value_name = "TEXT")]
        grep: Option<String>,
        /// Only the lines of this trace id (an HTTP answer's `x-starweave-trace-id` header,
        /// the `trace_id` of an error body or of another line).
        #[arg(long, value_name = "ID")]
        trace: Option<String>,
        /// Only lines logged since this time: RFC 3339 (2026-12-07T10:00:00Z) or a span back
        /// from now (30s, 15m, 2h, 1d, 1h30m).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only lines logged until this time (same forms as --since).
        #[arg(long, value_name = "TIME")]
        until: Option<String>,
        /// At most this many lines per engine (1–2000).
        #[arg(long, default_value_t = 200)]
        limit: usize,
        /// Keep printing new lines until interrupted.
        #[arg(long, short)]
        follow: bool,
        /// Output format: `human` (one line per entry) or `json` (the engine's JSON lines).
        #[arg(long, value_enum, default_value_t = Format::Human)]
        format: Format,
    },
    /// Set a deployment's log level on the engines, while it runs: error, warn, info, debug
    /// or trace (it stays across engine restarts with a state directory).
    LogLevel {
        /// The VMS name.
        vms: String,
        /// The version.
        version: String,
        /// The level.
        level: String,
        #[command(flatten)]
        engine: EngineFlags,
    },
    /// Start the IDE: the web UI and the IDE API over a workspace of VMS Git repositories.
    ///
    /// Prints the URL to open. The workspace starts with the example VMS. Stops on Ctrl-C.
    Up {
        /// The address to listen on (loopback by default; port 0 picks a free one).
        #[arg(long, default_value = "127.0.0.1:7070")]
        listen: std::net::SocketAddr,
        /// The workspace folder [default: $XDG_DATA_HOME/starweave/workspace].
        #[arg(long, env = "STARWEAVE_WORKSPACE")]
        workspace: Option<PathBuf>,
        /// Serve the UI from this built folder instead of the one embedded in the binary.
        #[arg(long)]
        ui_dir: Option<PathBuf>,
        /// Require `Authorization: Bearer <TOKEN>` on every API call.
        #[arg(long, env = "STARWEAVE_TOKEN", hide_env_values = true)]
        token: Option<String>,
        /// Open the IDE in the default browser.
        #[arg(long)]
        open: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

/// Where a compute engine's admin API is.
#[derive(Debug, clap::Args)]
struct EngineFlags {
    /// An engine's admin API; repeat it (or separate URLs with commas) for a pool of engines.
    #[arg(
        long,
        env = "STARWEAVE_ENGINE",
        value_delimiter = ',',
        default_value = crate::deploy::DEFAULT_ENGINE
    )]
    engine: Vec<String>,
    /// A file holding the admin token (otherwise STARWEAVE_ADMIN_TOKEN).
    #[arg(long, value_name = "FILE")]
    token_file: Option<PathBuf>,
}

impl From<EngineFlags> for crate::deploy::EngineArgs {
    fn from(flags: EngineFlags) -> Self {
        crate::deploy::EngineArgs {
            urls: flags.engine,
            token_file: flags.token_file,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Human,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TemplateArg {
    /// Only a vms.yaml.
    Empty,
    /// An HTTP route served by a JavaScript function, with a test case.
    HttpJs,
    /// A Rhai function with a test case.
    Rhai,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { paths, format } => cmd_validate(&paths, format),
        Command::Fmt {
            paths,
            check,
            stdout,
        } => cmd_fmt(&paths, check, stdout),
        Command::New { dir, template } => cmd_new(&dir, template),
        Command::Run {
            path,
            function,
            input,
            trace,
            mocks,
            timeout_ms,
        } => crate::run::cmd_run(crate::run::RunArgs {
            path,
            function,
            input,
            trace,
            mocks,
            timeout_ms,
        }),
        Command::Test { dir } => crate::run::cmd_test(&dir),
        Command::Connections {
            dir,
            connectors,
            format,
        } => crate::connections::cmd_connections(crate::connections::ConnectionsArgs {
            dir,
            only: connectors,
            json: format == Format::Json,
        }),
        Command::Dev { dir, port } => crate::dev::cmd_dev(crate::dev::DevArgs { dir, port }),
        Command::Deploy {
            dir,
            engine,
            version,
            env,
            env_file,
            concurrency,
            timeout_ms,
            log_level,
            dry_run,
            format,
        } => crate::deploy::cmd_deploy(crate::deploy::DeployArgs {
            dir,
            engine: engine.into(),
            version,
            env,
            env_file,
            concurrency,
            timeout_ms,
            log_level,
            dry_run,
            json: format == Format::Json,
        }),
        Command::Deployments { engine, format } => {
            crate::deploy::cmd_deployments(&engine.into(), format == Format::Json)
        }
        Command::Undeploy {
            vms,
            version,
            engine,
        } => crate::deploy::cmd_undeploy(&engine.into(), &vms, &version),
        Command::Activate {
            vms,
            version,
            engine,
        } => crate::deploy::cmd_activate(&engine.into(), &vms, &version),
        Command::Logs {
            vms,
            engine,
            version,
            level,
            grep,
            trace,
            since,
            until,
            limit,
            follow,
            format,
        } => crate::logs::cmd_logs(
            &engine.into(),
            &crate::logs::LogsArgs {
                vms,
                filters: crate::logs::Filters {
                    version,
                    level,
                    text: grep,
                    trace,
                    since,
                    until,
                    limit: Some(limit),
                },
                follow,
                json: format == Format::Json,
            },
        ),
        Command::LogLevel {
            vms,
            version,
            level,
            engine,
        } => crate::logs::cmd_log_level(&engine.into(), &vms, &version, &level),
        Command::Up {
            listen,
            workspace,
            ui_dir,
            token,
            open,
        } => crate::up::cmd_up(crate::up::UpArgs {
            listen,
            workspace,
            ui_dir,
            token,
            open,
        }),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut Cli::command(), "starweave", &mut io::stdout());
            Ok(ExitCode::SUCCESS)
        }
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("starweave: {err:#}");
            ExitCode::from(2)
        }
    }
}

/// The diagnostics of one command-line path, with files shown relative to where the user is.
fn diagnostics_for(path: &Path) -> Result<Vec<Diagnostic>> {
    Ok(match files::classify(path)? {
        Target::Vms(root) => {
            let files = files::read_vms_dir(&root)?;
            prefix(vms_diagnostics(&files), &root)
        }
        Target::FileInVms { root, relative } => {
            let files = files::read_vms_dir(&root)?;
            let all = vms_diagnostics(&files);
            let mine = all
                .into_iter()
                .filter(|d| d.file.as_deref() == Some(relative.as_str()))
                .collect();
            prefix(mine, &root)
        }
        Target::Bpmn(file) => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("cannot read {}", file.display()))?;
            let shown = file.display().to_string();
            let doc = bpmn::read_bpmn_bytes(&bytes);
            let mut diags: Vec<Diagnostic> = doc.diagnostics.clone();
            diags.extend(validate::validate_bpmn(&doc));
            for d in &mut diags {
                d.file = Some(shown.clone());
            }
            diags
        }
    })
}

/// Every diagnostic of a VMS: reading, validation, and what only compiling it and building
/// it as a deployment find.
pub(crate) fn vms_diagnostics(files: &VmsFiles) -> Vec<Diagnostic> {
    let scripting = Scripting::default();
    document_diagnostics(&vms::read_vms(files), files, &scripting).0
}

/// [`vms_diagnostics`] of a VMS already read from `files`, with the program compiled on the
/// way (whose JavaScript the IDE's `prepare` compiles next).
pub(crate) fn document_diagnostics(
    doc: &vms::VmsDocument,
    files: &VmsFiles,
    scripting: &Scripting,
) -> (Vec<Diagnostic>, Arc<Program>) {
    let mut diags = doc.diagnostics.clone();
    diags.extend(validate::validate_vms(doc));
    let (found, program) = compile_diagnostics(doc, scripting);
    diags.extend(found);
    diags.extend(load_diagnostics(doc, files, scripting));
    (diags, program)
}

/// What only building a deployment finds (`starweave_engine::server::check`): connector
/// templates and SQL, gRPC descriptor sets and methods, input mappings and authentication
/// of routes. Rules the validator already checks (unknown functions, route paths and
/// statuses, routes matching the same requests, `${}` without an allow-list) are not
/// repeated.
fn load_diagnostics(
    doc: &vms::VmsDocument,
    files: &VmsFiles,
    scripting: &Scripting,
) -> Vec<Diagnostic> {
    const ONLY_LOADING_FINDS: &[&str] = &[
        "connector.template",
        "connector.descriptor_set",
        "connector.grpc_method",
        "connector.unsupported",
        "sql.syntax",
        "sql.bad-identifier",
        "engine.route-input",
        "engine.route-auth",
        "engine.grpc-route",
    ];
    starweave_engine::server::check::load_diagnostics(doc, files, scripting)
        .into_iter()
        .filter(|d| ONLY_LOADING_FINDS.contains(&d.code.as_str()))
        .collect()
}

/// What only compiling finds: Rhai and JavaScript that do not parse, expressions in unknown
/// languages, elements the engine cannot run. Rules the validator already checks are not
/// repeated. Positions come from the reader's source map.
fn compile_diagnostics(
    doc: &vms::VmsDocument,
    scripting: &Scripting,
) -> (Vec<Diagnostic>, Arc<Program>) {
    const ONLY_COMPILE_FINDS: &[&str] = &[
        "engine.expression",
        "engine.expression-language",
        "engine.script",
        "engine.rhai-compile",
        "engine.js-compile",
        "engine.unsupported",
        "engine.timer",
    ];
    let compiled = starweave_engine::compile::compile_vms(&doc.vms, scripting);
    let found = compiled
        .diagnostics
        .into_iter()
        .filter(|d| ONLY_COMPILE_FINDS.contains(&d.code.as_str()))
        .map(|mut d| {
            if d.pos.is_none()
                && let (Some(file), Some(element)) = (&d.file, &d.element)
            {
                d.pos = doc.source_map.bpmn.get(file).and_then(|m| m.pos(element));
            }
            d
        })
        .collect();
    (found, compiled.program)
}

fn prefix(mut diags: Vec<Diagnostic>, root: &Path) -> Vec<Diagnostic> {
    for d in &mut diags {
        let file = d.file.take().unwrap_or_else(|| "vms.yaml".into());
        d.file = Some(root.join(file).display().to_string());
    }
    diags
}

fn sort(diags: &mut [Diagnostic]) {
    diags.sort_by(|a, b| {
        (&a.file, a.pos, a.severity, &a.code).cmp(&(&b.file, b.pos, b.severity, &b.code))
    });
}

fn cmd_validate(paths: &[PathBuf], format: Format) -> Result<ExitCode> {
    let mut all = Vec::new();
    for path in paths {
        all.extend(diagnostics_for(path)?);
    }
    sort(&mut all);
    let errors = all.iter().filter(|d| d.severity == Severity::Error).count();
    let warnings = all
        .iter()
        .filter(|d| d.severity == Severity::Warning)
        .count();
    let mut out = io::stdout().lock();
    match format {
        Format::Json => {
            let report = serde_json::json!({
                "errors": errors,
                "warnings": warnings,
                "diagnostics": all,
            });
            serde_json::to_writer_pretty(&mut out, &report)?;
            writeln!(out)?;
        }
        Format::Human => {
            for d in &all {
                writeln!(out, "{d}")?;
            }
            let checked = paths.len();
            writeln!(
                out,
                "{errors} error{}, {warnings} warning{} in {checked} path{}",
                plural(errors),
                plural(warnings),
                plural(checked)
            )?;
        }
    }
    Ok(if errors > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// One file's formatted content next to what is on disk.
struct Formatted {
    path: PathBuf,
    before: Option<Vec<u8>>,
    after: Vec<u8>,
}

fn cmd_fmt(paths: &[PathBuf], check: bool, stdout: bool) -> Result<ExitCode> {
    let mut unformatted = 0usize;
    let mut refused = 0usize;
    for path in paths {
        let (results, errors) = format_target(path)?;
        if !errors.is_empty() {
            refused += 1;
            for d in &errors {
                eprintln!("{d}");
            }
            eprintln!("starweave: {} has errors; not formatted", path.display());
            continue;
        }
        for f in results {
            let changed = f.before.as_deref() != Some(f.after.as_slice());
            if stdout {
                io::stdout().lock().write_all(&f.after)?;
            } else if check {
                if changed {
                    unformatted += 1;
                    println!("{} is not formatted", f.path.display());
                }
            } else if changed {
                if let Some(parent) = f.path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                std::fs::write(&f.path, &f.after)
                    .with_context(|| format!("cannot write {}", f.path.display()))?;
                println!("formatted {}", f.path.display());
            }
        }
    }
    Ok(if refused > 0 || unformatted > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Formats what `path` names; returns the formatted files, or the errors that prevent it.
fn format_target(path: &Path) -> Result<(Vec<Formatted>, Vec<Diagnostic>)> {
    match files::classify(path)? {
        Target::Bpmn(file) => {
            let bytes = std::fs::read(&file)?;
            let doc = bpmn::read_bpmn_bytes(&bytes);
            let errors = errors_of(doc.diagnostics.clone(), &file.display().to_string());
            if !errors.is_empty() {
                return Ok((Vec::new(), errors));
            }
            let after = bpmn::write_bpmn(&doc.definitions).into_bytes();
            Ok((
                vec![Formatted {
                    path: file,
                    before: Some(bytes),
                    after,
                }],
                Vec::new(),
            ))
        }
        Target::Vms(root) => format_vms(&root, None),
        Target::FileInVms { root, relative } => format_vms(&root, Some(&relative)),
    }
}

fn format_vms(root: &Path, only: Option<&str>) -> Result<(Vec<Formatted>, Vec<Diagnostic>)> {
    let files = files::read_vms_dir(root)?;
    let doc = vms::read_vms(&files);
    let errors: Vec<Diagnostic> = prefix(
        doc.diagnostics
            .iter()
            .filter(|d| d.is_error())
            .cloned()
            .collect(),
        root,
    );
    if !errors.is_empty() {
        return Ok((Vec::new(), errors));
    }
    let formatted = vms::write_vms(&doc.vms);
    let out = formatted
        .into_iter()
        .filter(|(rel, _)| only.is_none_or(|o| o == rel))
        .map(|(rel, after)| {
            let before = files.get(&rel).cloned();
            // Canonical YAML is written from the model, which has no place for comments:
            // a file with comments is kept as written rather than silently losing them.
            let after = match &before {
                Some(text)
                    if rel.ends_with(".yaml") && has_yaml_comment(text) && *text != after =>
                {
                    eprintln!(
                        "starweave: kept {} as written: formatting would drop its comments",
                        root.join(&rel).display()
                    );
                    text.clone()
                }
                _ => after,
            };
            Formatted {
                path: root.join(&rel),
                before,
                after,
            }
        })
        .collect();
    Ok((out, Vec::new()))
}

/// Whether YAML text has a comment: a line starting with `#`, or ` #` after a value. Strings
/// containing ` #` count too; the only cost of that is a file left as written.
fn has_yaml_comment(text: &[u8]) -> bool {
    String::from_utf8_lossy(text)
        .lines()
        .any(|line| line.trim_start().starts_with('#') || line.contains(" #"))
}

fn errors_of(diags: Vec<Diagnostic>, file: &str) -> Vec<Diagnostic> {
    diags
        .into_iter()
        .filter(Diagnostic::is_error)
        .map(|d| d.in_file(file))
        .collect()
}

fn cmd_new(dir: &Path, template: TemplateArg) -> Result<ExitCode> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!("{} exists and is not empty", dir.display());
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .filter(|n| !n.is_empty())
        .context("the directory needs a name, e.g. `starweave new my-service`")?;
    if !vms::disk::is_valid_name(&name) {
        anyhow::bail!(
            "`{name}` cannot name a VMS: use only letters, digits, `_` and `-` (it appears in the engine's URLs)"
        );
    }
    let template = match template {
        TemplateArg::Empty => vms::Template::Empty,
        TemplateArg::HttpJs => vms::Template::HttpJs,
        TemplateArg::Rhai => vms::Template::Rhai,
    };
    let model = vms::template_vms(&name, template);
    let written = files::write_files(dir, &vms::write_vms(&model))?;
    for path in &written {
        println!("created {}", path.display());
    }
    println!(
        "VMS `{name}` is ready. Check it with `starweave validate {}`.",
        dir.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
