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

/// Runs `starweave deploy`.
pub fn cmd_deploy(args: DeployArgs) -> Result<ExitCode> {
    let dir = args.dir.as_path();
    if !dir.join(vms::disk::MANIFEST_FILE).is_file() {
        bail!("{} is not a VMS directory (no vms.yaml)", dir.display());
    }
    let files = deployable_files(dir)?;
    let doc = vms::read_vms(&files);
    let diagnostics = crate::cli::document_diagnostics(&doc);
    let errors = diagnostics.iter().filter(|d| d.is_error()).count();
    for d in &diagnostics {
        eprintln!("{}", shown_in(d, dir));
    }
    if errors > 0 {
        eprintln!(
            "starweave: {} has {errors} error{}; not deployed",
            dir.display(),
            if errors == 1 { "" } else { "s" }
        );
        return Ok(ExitCode::FAILURE);
    }
    let model = doc.vms;
    let env = deployment_env(&model, args.env_file.as_deref(), &args.env)?;
    let unset: Vec<&str> = model
        .env
        .iter()
        .filter(|var| var.default.is_none() && !env.contains_key(&var.name))
        .map(|var| var.name.as_str())
        .collect();
    if !unset.is_empty() {
        eprintln!(
            "warning: no value and no default for {}: the deployment's runs see {} unset",
            unset.join(", "),
            if unset.len() == 1 { "it" } else { "them" }
        );
    }
    let version = match &args.version {
        Some(version) => version.clone(),
        None => version_from_git(dir, &files)?,
    };
    let log_level = args
        .log_level
        .as_deref()
        .map(|level| {
            serde_json::from_value::<LogLevel>(Value::String(level.to_owned())).map_err(|_| {
                anyhow::anyhow!("`{level}` is not a log level (error, warn, info, debug, trace)")
            })
        })
        .transpose()?;
    // (`deployable_files` already refused a VMS over the engine's size limit.)
    let tarball = source::write_tarball(&files);
    let mut spec = json!({
        "vms": model.name,
        "version": version,
        "source": {"tarball_base64": base64::engine::general_purpose::STANDARD.encode(&tarball)},
        "env": env,
    });
    if let Some(concurrency) = args.concurrency {
        spec["concurrency"] = json!(concurrency);
    }
    if let Some(timeout_ms) = args.timeout_ms {
        spec["timeout_ms"] = json!(timeout_ms);
    }
    if let Some(level) = log_level {
        spec["log_level"] = json!(level);
    }
    if args.dry_run {
        let summary = json!({
            "vms": model.name,
            "version": version,
            "engines": args.engine.urls,
            "files": files.keys().collect::<Vec<_>>(),
            "tarball_bytes": tarball.len(),
            "env": env.keys().collect::<Vec<_>>(),
        });
        if args.json {
            println!("{}", serde_json::to_string_pretty(&summary)?);
        } else {
            println!(
                "would deploy {} version {version} to {}: {} files, {} KiB gzip tarball, env {}",
                model.name,
                args.engine.urls.join(", "),
                files.len(),
                tarball.len().div_ceil(1024),
                if env.is_empty() {
                    "none".to_owned()
                } else {
                    env.keys().cloned().collect::<Vec<_>>().join(", ")
                }
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let admins = Admin::all(&args.engine)?;
    let mut deployed: Vec<(&Admin, Value)> = Vec::new();
    let mut failed: Vec<(&Admin, String)> = Vec::new();
    for admin in &admins {
        match admin.call(
            reqwest::Method::POST,
            "/admin/deployments",
            Some(spec.clone()),
        ) {
            Ok((422, body)) => {
                let diagnostics: Vec<Diagnostic> = body
                    .get("diagnostics")
                    .cloned()
                    .and_then(|d| serde_json::from_value(d).ok())
                    .unwrap_or_default();
                for d in &diagnostics {
                    eprintln!("{}", shown_in(d, dir));
                }
                eprintln!(
                    "starweave: the engine at {} did not load {} {version}, so it is not deployed: {}",
                    admin.name,
                    model.name,
                    message_of(&body)
                );
                if !deployed.is_empty() {
                    eprintln!(
                        "starweave: {} {version} is already active on {}",
                        model.name,
                        deployed
                            .iter()
                            .map(|(a, _)| a.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    );
                }
                return Ok(ExitCode::FAILURE);
            }
            Ok((status, body)) if (200..300).contains(&status) => deployed.push((admin, body)),
            Ok((status, body)) => failed.push((admin, admin.refusal(status, &body))),
            Err(err) => failed.push((admin, format!("{err:#}"))),
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
                    "deployed {} {version} to {} (loaded in {:.1} ms); it now takes the VMS's traffic",
                    model.name,
                    admin.name,
                    body["deployment"]["load_ms"].as_f64().unwrap_or_default()
                )?;
            } else {
                writeln!(
                    out,
                    "{} {version} was already loaded on {} with these files and settings; it now takes the VMS's traffic",
                    model.name, admin.name
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
    let mut list = Vec::new();
    for admin in &admins {
        let (status, body) = admin.call(reqwest::Method::GET, "/admin/deployments", None)?;
        if !(200..300).contains(&status) {
            bail!("{}", admin.refusal(status, &body));
        }
        for mut deployment in body.as_array().cloned().unwrap_or_default() {
            deployment["engine"] = json!(admin.name.as_str());
            list.push(deployment);
        }
    }
    if json_out {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = std::io::stdout().lock();
    if list.is_empty() {
        writeln!(out, "no deployments on {}", engine.urls.join(", "))?;
        return Ok(ExitCode::SUCCESS);
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
    Ok(ExitCode::SUCCESS)
}

/// Runs `starweave undeploy`: unloads one version from every engine given (its runs in
/// flight finish first). Fails when no engine hosted it.
pub fn cmd_undeploy(engine: &EngineArgs, vms: &str, version: &str) -> Result<ExitCode> {
    let admins = Admin::all(engine)?;
    let path = format!("/admin/deployments/{vms}/{version}");
    let mut hosted = 0;
    for admin in &admins {
        let (status, body) = admin.call(reqwest::Method::DELETE, &path, None)?;
        if status == 404 {
            eprintln!(
                "starweave: {} hosts no deployment {vms} {version}",
                admin.name
            );
            continue;
        }
        if !(200..300).contains(&status) {
            bail!("{}", admin.refusal(status, &body));
        }
        hosted += 1;
        println!("undeployed {vms} {version} from {}", admin.name);
    }
    Ok(if hosted > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs `starweave activate`: the version takes its VMS's traffic again on every engine
/// given. Every engine is asked; fails when one of them does not have the version loaded (it
/// keeps serving its current version, so the pool would serve two).
pub fn cmd_activate(engine: &EngineArgs, vms: &str, version: &str) -> Result<ExitCode> {
    let admins = Admin::all(engine)?;
    let path = format!("/admin/deployments/{vms}/{version}/activate");
    let mut missing = Vec::new();
    for admin in &admins {
        let (status, body) = admin.call(reqwest::Method::POST, &path, None)?;
        if status == 404 {
            eprintln!(
                "starweave: {} has no {vms} {version} loaded; `starweave deploy` it there",
                admin.name
            );
            missing.push(admin.name.as_str());
            continue;
        }
        if !(200..300).contains(&status) {
            bail!("{}", admin.refusal(status, &body));
        }
        println!(
            "{vms} {version} takes the VMS's traffic on {} again",
            admin.name
        );
    }
    if missing.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::FAILURE)
    }
}

/// The files of `dir` a deployment carries: what the engine reads from a directory (no hidden
/// files), without those Git ignores when `dir` is in a Git work tree.
pub fn deployable_files(dir: &Path) -> Result<VmsFiles> {
    let mut files =
        source::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let Ok(repo) = git2::Repository::discover(dir) else {
        return Ok(files);
    };
    let (Some(workdir), Ok(dir)) = (repo.workdir(), dir.canonicalize()) else {
        return Ok(files);
    };
    let Ok(within) = dir.strip_prefix(workdir.canonicalize()?) else {
        return Ok(files);
    };
    let mut ignored = Vec::new();
    for path in files.keys() {
        if repo.is_path_ignored(within.join(path)).unwrap_or(false) {
            ignored.push(path.clone());
        }
    }
    for path in ignored {
        files.remove(&path);
    }
    Ok(files)
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

/// The deployment's env values: the file's, then the flags'; only declared names.
fn deployment_env(
    model: &vms::Vms,
    env_file: Option<&Path>,
    flags: &[String],
) -> Result<BTreeMap<String, String>> {
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
    Ok(env)
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

/// A client of one engine's admin API.
struct Admin {
    /// The URL as given, for messages.
    name: String,
    base: url::Url,
    token: String,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
}

impl Admin {
    /// A client for each engine (each named once), all with the one admin token.
    fn all(engines: &EngineArgs) -> Result<Vec<Admin>> {
        let token = Self::token(engines)?;
        let mut admins: Vec<Admin> = Vec::new();
        for url in &engines.urls {
            let admin = Admin::new(url.trim(), &token)?;
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

    fn new(url: &str, token: &str) -> Result<Self> {
        let base = url::Url::parse(url)
            .with_context(|| format!("`{url}` is not a URL (e.g. {DEFAULT_ENGINE})"))?;
        if !matches!(base.scheme(), "http" | "https") {
            bail!("`{url}`: the engine's admin API is http:// or https://");
        }
        let loopback = match base.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name == "localhost",
            None => false,
        };
        if base.scheme() == "http" && !loopback {
            eprintln!(
                "warning: {url} is plain HTTP to another machine: the admin token and the env values travel unencrypted"
            );
        }
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
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

    /// One call: the status and the JSON body (`null` when there is none).
    fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        let url = self.base.join(path)?;
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
            let bytes = response.bytes().await?;
            let body = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes)
                    .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
            };
            Ok((status, body))
        })
    }

    fn refusal(&self, status: u16, body: &Value) -> String {
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
