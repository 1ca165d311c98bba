//! `/vms/{vms}/local-env`: this machine's own env values for a VMS, in its `.env.local`
//! (`starweave_model::vms::local_env`). Run, Try it, Test connection and test runs use them
//! over the declared defaults; they are never committed and never deployed.
//!
//! Editing one value rewrites only its entry, so a file also edited by hand keeps its
//! comments and order. A file that does not parse is never overwritten: edits are refused
//! with the line and column of the problem until it is fixed (by hand, or by deleting it).
//! Every write makes sure Git ignores the file: when neither a `.gitignore` nor the
//! repository's `.git/info/exclude` does, `/.env.local` is added to the latter, which is
//! local to the clone and changes no tracked file.

use std::path::Path as FsPath;
use std::sync::Mutex;

use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use starweave_model::vms::local_env::{LOCAL_ENV_FILE, LocalEnv, LocalEnvError, check_name};

use super::error::{ApiError, ApiResult};
use super::{ApiRoutes, AppState, Json, Path, blocking};

pub(super) fn routes(routes: ApiRoutes) -> ApiRoutes {
    routes
        .route("/vms/{vms}/local-env", &["get"], get(read))
        .route(
            "/vms/{vms}/local-env/{name}",
            &["put", "delete"],
            axum::routing::put(set).delete(remove),
        )
}

/// Edits are read-modify-write on one small file: one at a time, across all VMS.
static EDITS: Mutex<()> = Mutex::new(());

/// What `.env.local` holds, as the IDE shows it.
#[derive(Debug, Serialize)]
pub(super) struct LocalEnvAnswer {
    /// Always `.env.local`.
    file: &'static str,
    /// Whether the file exists.
    exists: bool,
    /// Its values by name (empty when it does not parse).
    values: std::collections::BTreeMap<String, String>,
    /// Why it does not parse, when it does not.
    error: Option<ParseError>,
    /// Names set in the file that `vms.yaml` does not declare.
    undeclared: Vec<String>,
    /// `ignored` (Git ignores it), `tracked` (it is committed: its values are in the
    /// history), `not_ignored` (Git would offer to commit it) or `no_repository`.
    git: &'static str,
}

#[derive(Debug, Serialize)]
struct ParseError {
    line: u32,
    column: u32,
    message: String,
}

impl From<LocalEnvError> for ParseError {
    fn from(e: LocalEnvError) -> Self {
        ParseError {
            line: e.pos.line,
            column: e.pos.column,
            message: e.message,
        }
    }
}

/// Reads `.env.local` of the VMS at `dir`: `None` when there is none.
pub(super) fn read_file(dir: &FsPath) -> ApiResult<Option<Result<LocalEnv, LocalEnvError>>> {
    match std::fs::read(dir.join(LOCAL_ENV_FILE)) {
        Ok(bytes) => Ok(Some(LocalEnv::from_bytes(&bytes))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ApiError::Internal(anyhow::anyhow!(
            "cannot read {LOCAL_ENV_FILE}: {e}"
        ))),
    }
}

fn git_state(dir: &FsPath) -> &'static str {
    let Ok(repo) = git2::Repository::open(dir) else {
        return "no_repository";
    };
    let path = FsPath::new(LOCAL_ENV_FILE);
    let tracked = repo
        .index()
        .is_ok_and(|index| index.get_path(path, 0).is_some());
    if tracked {
        "tracked"
    } else if repo.status_should_ignore(path).unwrap_or(false) {
        "ignored"
    } else {
        "not_ignored"
    }
}

/// Adds `/.env.local` to `.git/info/exclude` unless Git ignores the file already.
fn keep_out_of_git(dir: &FsPath) -> ApiResult<()> {
    let Ok(repo) = git2::Repository::open(dir) else {
        return Ok(());
    };
    if repo
        .status_should_ignore(FsPath::new(LOCAL_ENV_FILE))
        .unwrap_or(false)
    {
        return Ok(());
    }
    let exclude = repo.path().join("info").join("exclude");
    let mut text = std::fs::read_to_string(&exclude).unwrap_or_default();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(&format!(
        "# this machine's own env values (Starweave IDE)\n/{LOCAL_ENV_FILE}\n"
    ));
    super::files::write_atomically(&exclude, text.as_bytes(), false)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("cannot write {}: {e}", exclude.display())))
}

fn answer(dir: &FsPath) -> ApiResult<LocalEnvAnswer> {
    let parsed = read_file(dir)?;
    let declared: Vec<String> = std::fs::read_to_string(dir.join("vms.yaml"))
        .ok()
        .and_then(|text| starweave_model::vms::disk::parse_manifest("vms.yaml", &text).0)
        .map(|m| m.env.into_iter().map(|v| v.name).collect())
        .unwrap_or_default();
    let (exists, values, error) = match parsed {
        None => (false, Default::default(), None),
        Some(Ok(local)) => (true, local.values(), None),
        Some(Err(e)) => (true, Default::default(), Some(e.into())),
    };
    let undeclared = values
        .keys()
        .filter(|name| !declared.contains(name))
        .cloned()
        .collect();
    Ok(LocalEnvAnswer {
        file: LOCAL_ENV_FILE,
        exists,
        values,
        error,
        undeclared,
        git: git_state(dir),
    })
}

async fn read(
    State(state): State<AppState>,
    Path(vms): Path<String>,
) -> ApiResult<Json<LocalEnvAnswer>> {
    let dir = state.workspace().vms_dir(&vms)?;
    Ok(Json(blocking(move || answer(&dir)).await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetRequest {
    value: String,
}

/// Applies `change` to the parsed file (an empty one when there is none) and writes it back.
fn edit(
    dir: &FsPath,
    change: impl FnOnce(&mut LocalEnv) -> Result<bool, String>,
) -> ApiResult<LocalEnvAnswer> {
    let _one_at_a_time = EDITS.lock().unwrap_or_else(|e| e.into_inner());
    let mut local = match read_file(dir)? {
        None => LocalEnv::default(),
        Some(Ok(local)) => local,
        Some(Err(e)) => {
            return Err(ApiError::Conflict {
                message: format!(
                    "{e}; the file is kept as it is until that is fixed (edit it, or delete it to start over)"
                ),
                details: None,
            });
        }
    };
    let changed = change(&mut local).map_err(ApiError::InvalidRequest)?;
    if changed {
        // Only this user may read it: it holds secrets.
        super::files::write_atomically(&dir.join(LOCAL_ENV_FILE), local.text().as_bytes(), true)
            .map_err(|e| {
                ApiError::Internal(anyhow::anyhow!("cannot write {LOCAL_ENV_FILE}: {e}"))
            })?;
        keep_out_of_git(dir)?;
    }
    answer(dir)
}

/// `PUT /vms/{vms}/local-env/{name}` `{ "value": "…" }`.
async fn set(
    State(state): State<AppState>,
    Path((vms, name)): Path<(String, String)>,
    Json(request): Json<SetRequest>,
) -> ApiResult<Json<LocalEnvAnswer>> {
    check_name(&name).map_err(ApiError::InvalidName)?;
    let dir = state.workspace().vms_dir(&vms)?;
    Ok(Json(
        blocking(move || {
            edit(&dir, |local| {
                local.set(&name, &request.value)?;
                Ok(true)
            })
        })
        .await?,
    ))
}

/// `DELETE /vms/{vms}/local-env/{name}`: the value is no longer set on this machine.
async fn remove(
    State(state): State<AppState>,
    Path((vms, name)): Path<(String, String)>,
) -> ApiResult<Json<LocalEnvAnswer>> {
    check_name(&name).map_err(ApiError::InvalidName)?;
    let dir = state.workspace().vms_dir(&vms)?;
    Ok(Json(
        blocking(move || {
            if !dir.join(LOCAL_ENV_FILE).exists() {
                return answer(&dir);
            }
            edit(&dir, |local| local.remove(&name))
        })
        .await?,
    ))
}
