//! `starweave deploy`, `deployments`, `activate` and `undeploy`: a VMS from this machine onto a compute
//! engine (`starweave-engine`) through its admin API, the interface the control plane's
//! reconciler drives too.
//!
//! What goes out is what the engine would read from the directory: every file except hidden
//! ones (`.git`, `.env.local`…) and, in a Git clone, the files Git ignores. The VMS is checked
//! here first (the same checks as `starweave validate`) so that a VMS with errors never
//! reaches the engine, then sent inline as a gzip tarball. The version defaults to the commit:
//! the short hash when the files are exactly the commit's, else `<hash>-dirty-<content hash>`,
//! so every distinct content gets its own version and sending the same files again changes
//! nothing on the engine.
//!
//! Several engines (`--engine` repeated, or comma-separated in `STARWEAVE_ENGINE`) form a
//! pool that gets the same deployment, one engine after the other. An engine that refuses
//! to load the VMS (422) stops the rollout, since the others would refuse it too; an engine
//! that cannot be reached or answers otherwise is reported and the rollout goes on with the
//! rest, then exits 1 — running the same deploy again finishes it, as the engines that have
//! it reload nothing.
//!
//! Env values of the deployment come from `--env-file` (dotenv text, the same grammar as
//! `.env.local`) and `--env NAME=VALUE` / `--env NAME` (the value from this shell), never from
//! `.env.local`: that file holds this machine's values. Only names `vms.yaml` declares are
//! accepted — a misspelt name is an error rather than a value the VMS never reads.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use serde_json::{Value, json};
use starweave_engine::server::registry::LogLevel;
use starweave_engine::server::source;
use starweave_model::Diagnostic;
use starweave_model::vms::local_env::LocalEnv;
use starweave_model::vms::{self, VmsFiles};

/// The engine's admin API default address (`starweave-engine --admin-listen`).
pub const DEFAULT_ENGINE: &str = "http://127.0.0.1:8081";

/// How to reach the engines' admin APIs.
#[derive(Debug, Clone)]
pub struct EngineArgs {
    /// Each engine's admin API base URL (at least one).
    pub urls: Vec<String>,
    /// A file holding the bearer token; otherwise `STARWEAVE_ADMIN_TOKEN`.
    pub token_file: Option<PathBuf>,
}

/// `starweave deploy`.
#[derive(Debug, Clone)]
pub struct DeployArgs {
    /// The VMS directory.
    pub dir: PathBuf,
    /// The engine.
    pub engine: EngineArgs,
    /// The version; from Git when absent.
    pub version: Option<String>,
    /// `NAME=VALUE` or `NAME` (from the shell).
    pub env: Vec<String>,
    /// A dotenv file of values.
    pub env_file: Option<PathBuf>,
    /// Runs at once.
    pub concurrency: Option<u32>,
    /// Default deadline in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Log level.
    pub log_level: Option<String>,
    /// Only check and print what would be sent.
    pub dry_run: bool,
    /// JSON output.
    pub json: bool,
}

/// How a deployment runs on the engines, besides its files and env values.
#[derive(Debug, Clone, Copy, Default)]
pub struct Settings {
    /// Runs at once.
    pub concurrency: Option<u32>,
    /// Default deadline in milliseconds.
    pub timeout_ms: Option<u64>,
    /// Log level.
    pub log_level: Option<LogLevel>,
}

/// Reads a log level as written (`error`, `warn`, `info`, `debug`, `trace`).
pub fn parse_log_level(level: &str) -> Result<LogLevel> {
    serde_json::from_value::<LogLevel>(Value::String(level.to_owned())).map_err(|_| {
        anyhow::anyhow!("`{level}` is not a log level (error, warn, info, debug, trace)")
    })
}

/// A VMS checked and packed for the engines.
#[derive(Debug, Clone)]
pub struct Package {
    /// The VMS's name.
    pub vms: String,
    /// The version it is deployed as.
    pub version: String,
    /// What `POST /admin/deployments` gets.
    pub spec: Value,
    /// The files it carries.
    pub files: Vec<String>,
    /// The size of its gzip tarball.
    pub tarball_bytes: usize,
    /// The names of the env values it carries.
    pub env: Vec<String>,
    /// Declared env vars with neither a value nor a default: its runs see them unset.
    pub unset: Vec<String>,
}

/// Reads and checks the VMS at `dir` (the checks of `starweave validate`) and packs it with
/// `env` (only declared names) and `settings`. The diagnostics come first; the package is
/// `None` when one of them is an error. The version defaults to the one from Git.
pub fn package(
    dir: &Path,
    version: Option<&str>,
    env: BTreeMap<String, String>,
    settings: Settings,
) -> Result<(Vec<Diagnostic>, Option<Package>)> {
    if !dir.join(vms::disk::MANIFEST_FILE).is_file() {
        bail!("{} is not a VMS directory (no vms.yaml)", dir.display());
    }
    let files = deployable_files(dir)?;
    let doc = vms::read_vms(&files);
    let scripting = starweave_engine::compile::Scripting::default();
    let (diagnostics, _) = crate::cli::document_diagnostics(&doc, &files, &scripting);
    if diagnostics.iter().any(Diagnostic::is_error) {
        return Ok((diagnostics, None));
    }
    let model = doc.vms;
    check_declared(&model, &env)?;
    let unset = model
        .env
        .iter()
        .filter(|var| var.default.is_none() && !env.contains_key(&var.name))
        .map(|var| var.name.clone())
        .collect();
    let version = match version {
        Some(version) => version.to_owned(),
        None => version_from_git(dir, &files)?,
    };
    // What the engines would refuse, refused here (a dry run included).
    starweave_engine::server::registry::check_version(&version).map_err(anyhow::Error::msg)?;
    if settings.concurrency == Some(0) {
        bail!("the concurrency must be at least 1");
    }
    if let Some(timeout_ms) = settings.timeout_ms {
        starweave_engine::run::check_timeout_ms(timeout_ms)
            .map_err(|problem| anyhow::anyhow!("the deployment's {problem}"))?;
    }
    // (`deployable_files` already refused a VMS over the engine's size limit.)
    let tarball = source::write_tarball(&files);
    let mut spec = json!({
        "vms": model.name,
        "version": version,
        "source": {"tarball_base64": base64::engine::general_purpose::STANDARD.encode(&tarball)},
        "env": env,
    });
    if let Some(concurrency) = settings.concurrency {
        spec["concurrency"] = json!(concurrency);
    }
    if let Some(timeout_ms) = settings.timeout_ms {
        spec["timeout_ms"] = json!(timeout_ms);
    }
    if let Some(level) = settings.log_level {
        spec["log_level"] = json!(level);
    }
    let package = Package {
        vms: model.name,
        version,
        spec,
        files: files.keys().cloned().collect(),
        tarball_bytes: tarball.len(),
        env: env.keys().cloned().collect(),
        unset,
    };
    Ok((diagnostics, Some(package)))
}

/// What one engine did with a deployment.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Loaded and active: the engine's answer (`changed`, `deployment`).
    Deployed(Value),
    /// The engine could not load the VMS (422); the rollout stopped there.
    Refused {
        /// Why.
        message: String,
        /// The engine's diagnostics, paths relative to the VMS.
        diagnostics: Vec<Diagnostic>,
    },
    /// The engine could not be reached or answered otherwise; the rollout went on.
    Failed(String),
}

/// Sends `spec` to the engines one after the other. A refusal to load stops the rollout (the
/// others would refuse it too), so the engines after it are not in the answer; an engine
/// that cannot be reached is reported and the rest still get it.
pub fn roll_out<'a>(admins: &'a [Admin], spec: &Value) -> Vec<(&'a Admin, Outcome)> {
    let mut outcomes = Vec::new();
    for admin in admins {
        let outcome = match admin.call(
            reqwest::Method::POST,
            "/admin/deployments",
            Some(spec.clone()),
        ) {
            Ok((422, body)) => Outcome::Refused {
                message: message_of(&body),
                diagnostics: body
                    .get("diagnostics")
                    .cloned()
                    .and_then(|d| serde_json::from_value(d).ok())
                    .unwrap_or_default(),
            },
            Ok((status, body)) if (200..300).contains(&status) => Outcome::Deployed(body),
            Ok((status, body)) => Outcome::Failed(admin.refusal(status, &body)),
            Err(err) => Outcome::Failed(format!("{err:#}")),
        };
        let stop = matches!(outcome, Outcome::Refused { .. });
        outcomes.push((admin, outcome));
        if stop {
            break;
        }
    }
    outcomes
}

/// Refuses an `--env-file` that is one of the files the deployment carries: its values
/// (secrets, often) would travel to every engine as a file of the VMS and stay in their state.
fn refuse_shipped_env_file(dir: &Path, env_file: &Path, files: &[String]) -> Result<()> {
    let (Ok(dir), Ok(env_file)) = (dir.canonicalize(), env_file.canonicalize()) else {
        return Ok(());
    };
    let Ok(inside) = env_file.strip_prefix(&dir) else {
        return Ok(());
    };
    let relative = inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/");
    if files.contains(&relative) {
        bail!(
            "the env file {relative} is in the VMS folder, so the deployment would carry it (its values with it) to every engine: move it out, start its name with `.`, or have Git ignore it"
        );
    }
    Ok(())
}

/// Runs `starweave deploy`.
pub fn cmd_deploy(args: DeployArgs) -> Result<ExitCode> {
    let dir = args.dir.as_path();
    let settings = Settings {
        concurrency: args.concurrency,
        timeout_ms: args.timeout_ms,
        log_level: args.log_level.as_deref().map(parse_log_level).transpose()?,
    };
    let env = deployment_env(args.env_file.as_deref(), &args.env)?;
    let (diagnostics, package) = package(dir, args.version.as_deref(), env, settings)?;
    for d in &diagnostics {
        eprintln!("{}", shown_in(d, dir));
    }
    let Some(package) = package else {
        let errors = diagnostics.iter().filter(|d| d.is_error()).count();
        eprintln!(
            "starweave: {} has {errors} error{}; not deployed",
            dir.display(),
            if errors == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::FAILURE);
    };
    if let Some(env_file) = &args.env_file {
        refuse_shipped_env_file(dir, env_file, &package.files)?;
    }
    if !package.unset.is_empty() {
        eprintln!(
            "warning: no value and no default for {}: the deployment's runs see {} unset",
            package.unset.join(", "),
            if package.unset.len() == 1 {
                "it"
            } else {
                "them"
            }
        );
    }
    let Package {
        vms: name, version, ..
    } = &package;
    if args.dry_run {
        let summary = json!({
            "vms": name,
            "version": version,
            "engines": args.engine.urls,
            "files": package.files,
            "tarball_bytes": package.tarball_bytes,
            "env": package.env,
        });
        if args.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            println!(
                "would deploy {name} version {version} to {}: {} files, {} KiB gzip tarball, env {}",
                args.engine.urls.join(", "),
                package.files.len(),
                package.tarball_bytes.div_ceil(1024),
                if package.env.is_empty() {
                    "none".to_owned()
                } else {
                    package.env.join(", ")
                }
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let admins = Admin::all(&args.engine)?;
    let mut deployed: Vec<(&Admin, Value)> = Vec::new();
    let mut failed: Vec<(&Admin, String)> = Vec::new();
    for (admin, outcome) in roll_out(&admins, &package.spec) {
        match outcome {
            Outcome::Deployed(body) => deployed.push((admin, body)),
            Outcome::Failed(why) => failed.push((admin, why)),
            Outcome::Refused {
                message,
                diagnostics,
            } => {
                for d in &diagnostics {
                    eprintln!("{}", shown_in(d, dir));
                }
                eprintln!(
                    "starweave: the engine at {} did not load {name} {version}, so it is not deployed: {message}",
                    admin.name
                );
                if !deployed.is_empty() {
                    eprintln!(
                        "starweave: {name} {version} is already active on {}",
                        deployed
                            .iter()
                            .map(|(a, _)| a.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                return Ok(ExitCode::FAILURE);
            }
        }
    }
    if deployed.is_empty() {
        let reasons: Vec<&str> = failed.iter().map(|(_, why)| why.as_str()).collect();
        bail!("{}", reasons.join("; "));
    }
    if args.json {
        let answers: Vec<Value> = admins
            .iter()
            .map(|admin| {
                if let Some((_, body)) = deployed.iter().find(|(a, _)| std::ptr::eq(*a, admin)) {
                    let mut body = body.clone();
                    body["engine"] = json!(admin.name.as_str());
                    body
                } else {
                    let why = failed
                        .iter()
                        .find(|(a, _)| std::ptr::eq(*a, admin))
                        .map_or("", |(_, why)| why.as_str());
                    json!({"engine": admin.name.as_str(), "error": why})
                }
            })
            .collect();
        let shown = match <[Value; 1]>::try_from(answers) {
            Ok([one]) => one,
            Err(all) => Value::Array(all),
        };
        println!("{}", serde_json::to_string_pretty(&shown)?);
    } else {
        let mut out = std::io::stdout().lock();
        for (admin, body) in &deployed {
            if body["changed"] == Value::Bool(true) {
                writeln!(
                    out,
                    "deployed {name} {version} to {} (loaded in {:.1} ms); it now takes the VMS's traffic",
                    admin.name,
                    body["deployment"]["load_ms"].as_f64().unwrap_or_default()
                )?;
            } else {
                writeln!(
                    out,
                    "{name} {version} was already loaded on {} with these files and settings; it now takes the VMS's traffic",
                    admin.name
                )?;
            }
        }
        let routes = &deployed[0].1["deployment"]["routes"];
        for route in routes.as_array().into_iter().flatten() {
            writeln!(out, "  {}", route.as_str().unwrap_or_default())?;
        }
    }
    if failed.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    for (_, why) in &failed {
        eprintln!("starweave: {why}");
    }
    eprintln!(
        "starweave: deployed to {} of {} engines; run the same deploy again to finish (the engines that have it reload nothing)",
        deployed.len(),
        admins.len()
    );
    Ok(ExitCode::FAILURE)
}

/// Runs `starweave deployments`: what the engines host (each entry with its engine's URL).
pub fn cmd_deployments(engine: &EngineArgs, json_out: bool) -> Result<ExitCode> {
    let admins = Admin::all(engine)?;
    let pool = ask_pool(&admins, reqwest::Method::GET, "/admin/deployments", false).reported()?;
    let mut list = Vec::new();
    for (admin, body) in &pool.answered {
        let list_of = body.as_ref().and_then(Value::as_array);
        for mut deployment in list_of.cloned().unwrap_or_default() {
            deployment["engine"] = json!(admin.name.as_str());
            list.push(deployment);
        }
    }
    let code = pool.code_unless_unreachable(ExitCode::SUCCESS);
    if json_out {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(code);
    }
    let mut out = std::io::stdout().lock();
    if list.is_empty() {
        let asked: Vec<&str> = pool.answered.iter().map(|(a, _)| a.name.as_str()).collect();
        writeln!(out, "no deployments on {}", asked.join(", "))?;
        return Ok(code);
    }
    // The engine column only when there is more than one to tell apart.
    let pool = admins.len() > 1;
    let engine_column = |text: &str| {
        if pool {
            format!("{text:<28} ")
        } else {
            String::new()
        }
    };
    writeln!(
        out,
        "{}{:<24} {:<28} {:<7} {:>8} {:>7}  routes",
        engine_column("ENGINE"),
        "VMS",
        "VERSION",
        "ACTIVE",
        "IN FLIGHT",
        "LOG"
    )?;
    for d in &list {
        writeln!(
            out,
            "{}{:<24} {:<28} {:<7} {:>8} {:>7}  {}",
            engine_column(d["engine"].as_str().unwrap_or_default()),
            d["vms"].as_str().unwrap_or_default(),
            d["version"].as_str().unwrap_or_default(),
            if d["active"] == Value::Bool(true) {
                "yes"
            } else {
                "no"
            },
            d["in_flight"].as_u64().unwrap_or_default(),
            d["log_level"].as_str().unwrap_or_default(),
            d["routes"].as_array().map_or(0, Vec::len)
        )?;
    }
    Ok(code)
}

/// Runs `starweave undeploy`: unloads one version from every engine given (its runs in
/// flight finish first). Fails when no engine hosted it, or when an engine could not be asked
/// (the others still are; running it again finishes the job).
pub fn cmd_undeploy(engine: &EngineArgs, vms: &str, version: &str) -> Result<ExitCode> {
    let admins = Admin::all(engine)?;
    let path = format!("/admin/deployments/{vms}/{version}");
    let pool = ask_pool(&admins, reqwest::Method::DELETE, &path, true).reported()?;
    let mut hosted = 0;
    for (admin, body) in &pool.answered {
        if body.is_none() {
            eprintln!(
                "starweave: {} hosts no deployment {vms} {version}",
                admin.name
            );
        } else {
            hosted += 1;
            println!("undeployed {vms} {version} from {}", admin.name);
        }
    }
    Ok(pool.code_unless_unreachable(if hosted > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }))
}

/// Runs `starweave activate`: the version takes its VMS's traffic again on every engine
/// given. Every engine is asked; fails when one of them does not have the version loaded (it
/// keeps serving its current version, so the pool would serve two) or could not be asked.
pub fn cmd_activate(engine: &EngineArgs, vms: &str, version: &str) -> Result<ExitCode> {
    let admins = Admin::all(engine)?;
    let path = format!("/admin/deployments/{vms}/{version}/activate");
    let pool = ask_pool(&admins, reqwest::Method::POST, &path, true).reported()?;
    let mut missing = false;
    for (admin, body) in &pool.answered {
        if body.is_none() {
            eprintln!(
                "starweave: {} has no {vms} {version} loaded; `starweave deploy` it there",
                admin.name
            );
            missing = true;
        } else {
            println!(
                "{vms} {version} takes the VMS's traffic on {} again",
                admin.name
            );
        }
    }
    Ok(pool.code_unless_unreachable(if missing {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }))
}

/// What the engines of a pool answered to one call.
#[derive(Debug)]
pub struct PoolAnswers<'a> {
    /// The engines that answered, in the order given, each with its answer's body (`None`
    /// for a 404 when the caller accepts those).
    pub answered: Vec<(&'a Admin, Option<Value>)>,
    /// The engines that could not be reached or refused the call, with why.
    pub failed: Vec<(&'a Admin, String)>,
}

impl PoolAnswers<'_> {
    /// For the CLI: an error when no engine answered, else the failures on stderr.
    fn reported(self) -> Result<Self> {
        if self.answered.is_empty() {
            let reasons: Vec<&str> = self.failed.iter().map(|(_, why)| why.as_str()).collect();
            bail!("{}", reasons.join("; "));
        }
        for (_, why) in &self.failed {
            eprintln!("starweave: {why}");
        }
        Ok(self)
    }

    /// `code`, unless an engine could not be asked: then a failure, with how far it got.
    fn code_unless_unreachable(&self, code: ExitCode) -> ExitCode {
        if self.failed.is_empty() {
            return code;
        }
        eprintln!(
            "starweave: {} of {} engines answered; run the same command again once the others are back",
            self.answered.len(),
            self.answered.len() + self.failed.len()
        );
        ExitCode::FAILURE
    }
}

/// Makes the same call on every engine of the pool, one after the other; an engine that
/// cannot be reached or answers with an error does not stop the others. With
/// `not_found_is_answer`, a 404 is an answer (the engine has no such deployment), given as no
/// body.
pub fn ask_pool<'a>(
    admins: &'a [Admin],
    method: reqwest::Method,
    path: &str,
    not_found_is_answer: bool,
) -> PoolAnswers<'a> {
    ask_pool_with(admins, method, path, None, not_found_is_answer)
}

/// [`ask_pool`] sending `body` (JSON) with every call.
pub fn ask_pool_with<'a>(
    admins: &'a [Admin],
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
    not_found_is_answer: bool,
) -> PoolAnswers<'a> {
    let mut answers = PoolAnswers {
        answered: Vec::new(),
        failed: Vec::new(),
    };
    let calls = each_admin(admins, |admin| {
        admin.call(method.clone(), path, body.clone())
    });
    for (admin, call) in calls {
        match call {
            Ok((404, _)) if not_found_is_answer => answers.answered.push((admin, None)),
            Ok((status, body)) if (200..300).contains(&status) => {
                answers.answered.push((admin, Some(body)));
            }
            Ok((status, body)) => answers.failed.push((admin, admin.refusal(status, &body))),
            Err(err) => answers.failed.push((admin, format!("{err:#}"))),
        }
    }
    answers
}

/// Runs `call` for every engine at once, one thread each, so that an engine that does not
/// answer (a connect timeout is ten seconds) holds up none of the others; the results come
/// in the order of `admins`.
pub fn each_admin<'a, T: Send>(
    admins: &'a [Admin],
    call: impl Fn(&'a Admin) -> T + Sync,
) -> Vec<(&'a Admin, T)> {
    if let [admin] = admins {
        return vec![(admin, call(admin))];
    }
    std::thread::scope(|scope| {
        let call = &call;
        let running: Vec<_> = admins
            .iter()
            .map(|admin| (admin, scope.spawn(move || call(admin))))
            .collect();
        running
            .into_iter()
            .map(|(admin, thread)| {
                let result = thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
                (admin, result)
            })
            .collect()
    })
}

/// The files of `dir` a deployment carries: what the engine reads from a directory (no hidden
/// files), without those Git ignores when `dir` is in a Git work tree.
pub fn deployable_files(dir: &Path) -> Result<VmsFiles> {
    let mut files =
        source::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let repo = match git2::Repository::discover(dir) {
        Ok(repo) => repo,
        Err(err) if err.code() == git2::ErrorCode::NotFound => return Ok(files),
        // A work tree whose repository cannot be opened (owned by another user, say) would
        // otherwise send what its `.gitignore` keeps out: secrets, build output.
        Err(err) => bail!(
            "{} is in a Git work tree whose repository cannot be opened, so what Git ignores \
             cannot be left out: {}",
            dir.display(),
            err.message()
        ),
    };
    let Some(workdir) = repo.workdir() else {
        return Ok(files);
    };
    let dir = dir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", dir.display()))?;
    let workdir = workdir
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", workdir.display()))?;
    let Ok(within) = dir.strip_prefix(&workdir) else {
        return Ok(files);
    };
    let index = repo.index().context("cannot read the Git index")?;
    let mut ignored = Vec::new();
    for path in files.keys() {
        let path_in_repo = within.join(path);
        // Git never ignores a tracked file, whatever the rules say (`git add -f`).
        let tracked = index.get_path(&path_in_repo, 0).is_some();
        if !tracked && repo.is_path_ignored(&path_in_repo).unwrap_or(false) {
            ignored.push(path.clone());
        }
    }
    for path in ignored {
        files.remove(&path);
    }
    Ok(files)
}

/// The version `starweave deploy` gives the VMS at `dir` when none is named (see
/// [`version_from_git`]).
pub fn default_version(dir: &Path) -> Result<String> {
    version_from_git(dir, &deployable_files(dir)?)
}

/// The version of a deployment from Git: the commit's short hash when `files` are exactly the
/// deployable files of that commit, else `<hash>-dirty-<content hash>`.
fn version_from_git(dir: &Path, files: &VmsFiles) -> Result<String> {
    let no_git = || {
        anyhow::anyhow!(
            "{} is not in a Git repository with a commit; name the version with --version",
            dir.display()
        )
    };
    let repo = git2::Repository::discover(dir).map_err(|_| no_git())?;
    let commit = repo
        .head()
        .and_then(|head| head.peel_to_commit())
        .map_err(|_| no_git())?;
    let short: String = commit.id().to_string().chars().take(12).collect();
    let workdir = repo.workdir().ok_or_else(no_git)?.canonicalize()?;
    let within = dir
        .canonicalize()?
        .strip_prefix(&workdir)
        .map(Path::to_path_buf)
        .map_err(|_| no_git())?;
    let tree = commit.tree()?;
    let tree = if within.as_os_str().is_empty() {
        tree
    } else {
        match tree.get_path(&within) {
            Ok(entry) => entry.to_object(&repo)?.peel_to_tree()?,
            // The VMS is not in the commit at all.
            Err(_) => return Ok(dirty(&short, files)),
        }
    };
    let mut committed = VmsFiles::new();
    let mut failed = None;
    tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
        let name = entry.name().unwrap_or_default();
        if name.starts_with('.') {
            return git2::TreeWalkResult::Skip;
        }
        if entry.kind() == Some(git2::ObjectType::Blob) {
            match repo.find_blob(entry.id()) {
                Ok(blob) => {
                    committed.insert(format!("{parent}{name}"), blob.content().to_vec());
                }
                Err(e) => {
                    failed = Some(e);
                    return git2::TreeWalkResult::Abort;
                }
            }
        }
        git2::TreeWalkResult::Ok
    })?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    Ok(if &committed == files {
        short
    } else {
        dirty(&short, files)
    })
}

fn dirty(short: &str, files: &VmsFiles) -> String {
    format!(
        "{short}-dirty-{:08x}",
        source::fingerprint(files) & 0xffff_ffff
    )
}

/// The deployment's env values: the file's, then the flags'.
fn deployment_env(env_file: Option<&Path>, flags: &[String]) -> Result<BTreeMap<String, String>> {
    let mut env = BTreeMap::new();
    if let Some(path) = env_file {
        let bytes =
            std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let parsed = LocalEnv::from_bytes(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{}:{}:{}: {}",
                path.display(),
                e.pos.line,
                e.pos.column,
                e.message
            )
        })?;
        env.extend(parsed.values());
    }
    for flag in flags {
        let (name, value) = match flag.split_once('=') {
            Some((name, value)) => (name.to_owned(), value.to_owned()),
            None => {
                let value = std::env::var(flag).map_err(|_| {
                    anyhow::anyhow!(
                        "--env {flag}: `{flag}` is not set in this shell (give a value with --env {flag}=VALUE)"
                    )
                })?;
                (flag.clone(), value)
            }
        };
        env.insert(name, value);
    }
    Ok(env)
}

/// Refuses env values for names `vms.yaml` does not declare: the VMS would never read them.
fn check_declared(model: &vms::Vms, env: &BTreeMap<String, String>) -> Result<()> {
    let undeclared: Vec<&str> = env
        .keys()
        .filter(|name| !model.env.iter().any(|var| &var.name == *name))
        .map(String::as_str)
        .collect();
    if !undeclared.is_empty() {
        let declared: Vec<&str> = model.env.iter().map(|v| v.name.as_str()).collect();
        bail!(
            "{} {} not declared in vms.yaml (declared: {}); the VMS would never read {}",
            undeclared.join(", "),
            if undeclared.len() == 1 { "is" } else { "are" },
            if declared.is_empty() {
                "none".to_owned()
            } else {
                declared.join(", ")
            },
            if undeclared.len() == 1 { "it" } else { "them" }
        );
    }
    Ok(())
}

fn shown_in(d: &Diagnostic, dir: &Path) -> Diagnostic {
    let mut d = d.clone();
    let file = d.file.take().unwrap_or_else(|| "vms.yaml".into());
    d.file = Some(dir.join(file).display().to_string());
    d
}

fn message_of(body: &Value) -> String {
    body["message"]
        .as_str()
        .or_else(|| body["error"].as_str())
        .unwrap_or("no message")
        .to_owned()
}

/// Reads an engine's admin API URL (`http://` or `https://`).
pub fn engine_url(url: &str) -> Result<url::Url> {
    let mut base = url::Url::parse(url)
        .with_context(|| format!("`{url}` is not a URL (e.g. {DEFAULT_ENGINE})"))?;
    if !matches!(base.scheme(), "http" | "https") || base.host().is_none() {
        bail!("`{url}`: the engine's admin API is http:// or https://");
    }
    if base.query().is_some() || base.fragment().is_some() {
        bail!("`{url}`: the engine's URL takes no query or fragment");
    }
    // A path (an engine behind a gateway at `https://gw/eng1`) is kept: calls go below it.
    if !base.path().ends_with('/') {
        let path = format!("{}/", base.path());
        base.set_path(&path);
    }
    Ok(base)
}

/// Whether `base` is plain HTTP to another machine: the admin token and the env values
/// travel readable on the way.
pub fn plain_http_to_remote(base: &url::Url) -> bool {
    let loopback = match base.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    };
    base.scheme() == "http" && !loopback
}

/// A client of one engine's admin API.
#[derive(Debug)]
pub struct Admin {
    /// The URL as given, for messages.
    name: String,
    base: url::Url,
    token: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

/// The largest admin answer read: a deployment list of a full engine is far below it.
const MAX_ADMIN_ANSWER: usize = 16 << 20;

/// The start of `text`, on one line, for a message.
fn excerpt(text: &str) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match line.char_indices().nth(200) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

impl Admin {
    /// A client for each engine (each named once), all with the one admin token.
    pub(crate) fn all(engines: &EngineArgs) -> Result<Vec<Admin>> {
        let token = Self::token(engines)?;
        let mut admins: Vec<Admin> = Vec::new();
        for url in &engines.urls {
            let admin = Admin::new(url.trim(), &token)?;
            if admin.plain_http_to_remote() {
                eprintln!(
                    "warning: {url} is plain HTTP to another machine: the admin token and the env values travel unencrypted"
                );
            }
            if !admins.iter().any(|a| a.base == admin.base) {
                admins.push(admin);
            }
        }
        if admins.is_empty() {
            bail!("no engine given (--engine or STARWEAVE_ENGINE)");
        }
        Ok(admins)
    }

    fn token(engine: &EngineArgs) -> Result<String> {
        let token = match &engine.token_file {
            Some(path) => std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the token file {}", path.display()))?
                .trim()
                .to_owned(),
            None => std::env::var("STARWEAVE_ADMIN_TOKEN")
                .map(|t| t.trim().to_owned())
                .map_err(|_| {
                    anyhow::anyhow!(
                        "the engine's admin token: set STARWEAVE_ADMIN_TOKEN or pass --token-file"
                    )
                })?,
        };
        if token.is_empty() {
            bail!("the engine's admin token is empty");
        }
        Ok(token)
    }

    /// A client of the engine whose admin API is at `url`, sending `token`.
    pub fn new(url: &str, token: &str) -> Result<Self> {
        let base = engine_url(url)?;
        // No redirects: the admin API never sends one, and following one (a gateway's login
        // page, say) would read another page's 200 as the engine's answer.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        Ok(Admin {
            name: url.trim_end_matches('/').to_owned(),
            base,
            token: token.to_owned(),
            client,
            runtime,
        })
    }

    /// The engine's URL as given (without a trailing `/`), for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether calls go over plain HTTP to another machine.
    pub fn plain_http_to_remote(&self) -> bool {
        plain_http_to_remote(&self.base)
    }

    /// The URL of an admin `path` (`/admin/deployments`): relative to the base, so that a
    /// base path (an engine behind a gateway at `https://gw/eng1/`) is kept.
    fn url(&self, path: &str) -> Result<url::Url> {
        Ok(self.base.join(path.trim_start_matches('/'))?)
    }

    /// One call: the status and the JSON body (`null` when there is none).
    pub fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let url = self.url(path)?;
        let mut request = self
            .client
            .request(method, url.clone())
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.runtime.block_on(async {
            let response = request
                .send()
                .await
                .with_context(|| format!("cannot reach the engine's admin API at {}", self.base))?;
            let status = response.status().as_u16();
            let bytes = match starweave_engine::io::http::read_body(response, MAX_ADMIN_ANSWER)
                .await
            {
                Ok(bytes) => bytes,
                Err(Some(err)) => return Err(err.into()),
                Err(None) => bail!(
                    "the answer of {} is larger than {} MiB: that is not the engine's admin API",
                    self.base,
                    MAX_ADMIN_ANSWER >> 20
                ),
            };
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                match serde_json::from_slice::<Value>(&bytes) {
                    Ok(body) => body,
                    // What a proxy or a web server answers for the engine: shown in part.
                    Err(_) => Value::String(excerpt(&String::from_utf8_lossy(&bytes))),
                }
            };
            if (200..300).contains(&status) && !matches!(body, Value::Object(_) | Value::Array(_) | Value::Null) {
                bail!(
                    "{} answered {status} with something other than the admin API's JSON (is it the engine's admin port?): {}",
                    self.base,
                    match &body {
                        Value::String(text) => text.clone(),
                        other => excerpt(&other.to_string()),
                    }
                );
            }
            Ok((status, body))
        })
    }

    pub(crate) fn refusal(&self, status: u16, body: &Value) -> String {
        match status {
            401 => format!("the engine at {} refused the admin token (401)", self.base),
            _ => format!(
                "the engine at {} answered {status}: {}",
                self.base,
                match body {
                    Value::String(text) => text.clone(),
                    _ => message_of(body),
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_calls_go_below_the_engines_url() {
        for (given, expected) in [
            (
                "http://127.0.0.1:8081",
                "http://127.0.0.1:8081/admin/deployments",
            ),
            (
                "http://127.0.0.1:8081/",
                "http://127.0.0.1:8081/admin/deployments",
            ),
            (
                "https://gw.example/eng1",
                "https://gw.example/eng1/admin/deployments",
            ),
            (
                "https://gw.example/eng1/",
                "https://gw.example/eng1/admin/deployments",
            ),
        ] {
            let admin = Admin::new(given, "token").expect("admin");
            assert_eq!(
                admin.url("/admin/deployments").expect("url").as_str(),
                expected
            );
        }
        assert!(engine_url("http://127.0.0.1:8081/?x=1").is_err());
        assert!(engine_url("ftp://127.0.0.1").is_err());
    }
}
