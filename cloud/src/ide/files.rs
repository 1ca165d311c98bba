//! `/vms/{vms}/files/{path}`: read, write and delete the text files of a VMS.
//!
//! Paths are checked before the file system is touched ([`super::paths`]). A write is saved
//! even when its content is invalid, and answered with the diagnostics of the whole VMS.
//! With an `etag` (a hash of the content the client last read), a write over a file that
//! changed on disk since is refused with `409 conflict` and the current content, so neither
//! side is lost. Writes go to a temporary file renamed over the old one: a crash never
//! leaves half a file.

use std::io::Write as _;
use std::path::PathBuf;

use axum::extract::State;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use starweave_model::Diagnostic;

use super::error::{ApiError, ApiResult};
use super::paths::{resolve_entry_inside, resolve_inside};
use super::{AppState, Json, Path, blocking};

/// The etag of a content: the first 128 bits of its SHA-256, in hex.
pub fn etag(content: &[u8]) -> String {
    hex::encode(&Sha256::digest(content)[..16])
}

#[derive(Debug, Serialize)]
pub(super) struct FileContent {
    path: String,
    content: String,
    etag: String,
}

fn resolve(state: &AppState, vms: &str, path: &str) -> ApiResult<(PathBuf, PathBuf)> {
    let dir = state.workspace().vms_dir(vms)?;
    let file = resolve_inside(&dir, path)?;
    Ok((dir, file))
}

/// Like [`resolve`], for acting on the entry itself: a symbolic link is not followed.
fn resolve_entry(state: &AppState, vms: &str, path: &str) -> ApiResult<(PathBuf, PathBuf)> {
    let dir = state.workspace().vms_dir(vms)?;
    let file = resolve_entry_inside(&dir, path)?;
    Ok((dir, file))
}

pub(super) async fn read(
    State(state): State<AppState>,
    Path((vms, path)): Path<(String, String)>,
) -> ApiResult<Json<FileContent>> {
    super::paths::check_relative_path(&path)?;
    let (_, file) = resolve(&state, &vms, &path)?;
    blocking(move || {
        // A file larger than a save may write is not loaded (nor its JSON answer built).
        if std::fs::metadata(&file).is_ok_and(|m| m.is_file() && m.len() > super::BODY_LIMIT as u64)
        {
            return Err(ApiError::TooLarge);
        }
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                return Err(ApiError::NotFound(format!("no file `{path}` in `{vms}`")));
            }
            Err(err) if file.is_dir() => {
                let _ = err;
                return Err(ApiError::InvalidPath(format!("`{path}` is a folder")));
            }
            Err(err) => return Err(err.into()),
        };
        let etag = etag(&bytes);
        let content = String::from_utf8(bytes).map_err(|_| {
            ApiError::InvalidRequest(format!(
                "`{path}` is not UTF-8 text; the IDE edits text files only"
            ))
        })?;
        Ok(Json(FileContent {
            path,
            content,
            etag,
        }))
    })
    .await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct WriteRequest {
    content: String,
    #[serde(default)]
    etag: Option<String>,
}

#[derive(Debug, Serialize)]
pub(super) struct WriteAnswer {
    path: String,
    etag: String,
    diagnostics: Vec<Diagnostic>,
}

pub(super) async fn write(
    State(state): State<AppState>,
    Path((vms, path)): Path<(String, String)>,
    Json(request): Json<WriteRequest>,
) -> ApiResult<Json<WriteAnswer>> {
    super::paths::check_relative_path(&path)?;
    if request.content.len() > super::BODY_LIMIT {
        return Err(ApiError::TooLarge);
    }
    state.workspace().vms_dir(&vms)?;
    let guard = state.lock(&vms).await;
    // Resolved under the lock: a pull or checkout it waited for may have changed the
    // folders on the way (into links, say).
    let (dir, file) = resolve(&state, &vms, &path)?;
    let new_etag = {
        let path = path.clone();
        let vms = vms.clone();
        let state = state.clone();
        blocking(move || {
            if file.is_dir() {
                return Err(ApiError::InvalidPath(format!("`{path}` is a folder")));
            }
            if let Some(expected) = &request.etag {
                let current = match std::fs::read(&file) {
                    Ok(bytes) => Some(bytes),
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
                    Err(err) => return Err(err.into()),
                };
                let current_etag = current.as_deref().map(etag);
                if current_etag.as_deref() != Some(expected.as_str()) {
                    return Err(ApiError::Conflict {
                        message: format!(
                            "`{path}` changed on disk since it was read; the current content is in `details.current`"
                        ),
                        details: Some(json!({
                            "current": current.map(|b| String::from_utf8_lossy(&b).into_owned()),
                            "etag": current_etag,
                        })),
                    });
                }
            }
            // The watcher learns the new version together with the write, so it does not
            // report the IDE's own save as a change made outside.
            let bytes = request.content.as_bytes();
            state
                .watch()
                .own_write(&vms, &path, bytes, || write_atomically(&file, bytes, false))?;
            Ok(etag(bytes))
        })
        .await?
    };
    drop(guard);
    let diagnostics = diagnostics_after(dir, &state).await;
    Ok(Json(WriteAnswer {
        path,
        etag: new_etag,
        diagnostics,
    }))
}

/// Writes `bytes` to a temporary file next to `file`, then renames it over `file`. A
/// `private` file is readable by its owner only (on Unix), from its first byte on; otherwise
/// a file that exists keeps its permissions (an owner-only file stays so, a script stays
/// executable), also set before the first byte is written.
pub(super) fn write_atomically(
    file: &std::path::Path,
    bytes: &[u8],
    private: bool,
) -> std::io::Result<()> {
    let parent = file.parent().expect("a file inside the VMS has a parent");
    std::fs::create_dir_all(parent)?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temporary = parent.join(format!(".{name}.{}.swtmp", uuid::Uuid::new_v4().simple()));
    // The rename replaces the file, permissions included: the new one takes the old one's.
    let kept = match std::fs::metadata(file) {
        Ok(meta) => Some(meta.permissions()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err),
    };
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
            // Created no more open than it will be; the umask may narrow it further, which
            // `set_permissions` below undoes for a kept mode.
            match (&kept, private) {
                (_, true) => {
                    options.mode(0o600);
                }
                (Some(permissions), false) => {
                    options.mode(permissions.mode() & 0o777);
                }
                (None, false) => {}
            }
        }
        let mut out = options.open(&temporary)?;
        if let Some(permissions) = kept.filter(|_| !private) {
            out.set_permissions(permissions)?;
        }
        out.write_all(bytes)?;
        out.sync_all()?;
        std::fs::rename(&temporary, file)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temporary);
    }
    result
}

#[derive(Debug, Serialize)]
pub(super) struct DeleteAnswer {
    diagnostics: Vec<Diagnostic>,
}

pub(super) async fn delete(
    State(state): State<AppState>,
    Path((vms, path)): Path<(String, String)>,
) -> ApiResult<Json<DeleteAnswer>> {
    super::paths::check_relative_path(&path)?;
    // The link itself is deleted, never its target; and `vms.yaml` is recognised however
    // the folders on the way were named (a link to the VMS's root, say).
    state.workspace().vms_dir(&vms)?;
    let guard = state.lock(&vms).await;
    let (dir, file) = resolve_entry(&state, &vms, &path)?;
    if file == std::fs::canonicalize(&dir)?.join("vms.yaml") {
        return Err(ApiError::InvalidRequest(
            "vms.yaml cannot be deleted: it makes the folder a VMS".into(),
        ));
    }
    {
        let dir = dir.clone();
        let state = state.clone();
        blocking(move || {
            match std::fs::symlink_metadata(&file) {
                Ok(meta) if meta.is_dir() => {
                    return Err(ApiError::InvalidPath(format!("`{path}` is a folder")));
                }
                Ok(_) => state
                    .watch()
                    .own_delete(&vms, &path, || std::fs::remove_file(&file))?,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Err(ApiError::NotFound(format!("no file `{path}` in `{vms}`")));
                }
                Err(err) => return Err(err.into()),
            }
            // Remove folders the deletion left empty, up to the VMS root.
            let root = std::fs::canonicalize(&dir)?;
            let mut parent = file.parent();
            while let Some(p) = parent {
                if p == root || !p.starts_with(&root) || std::fs::remove_dir(p).is_err() {
                    break;
                }
                parent = p.parent();
            }
            Ok(())
        })
        .await?;
    }
    drop(guard);
    let diagnostics = diagnostics_after(dir, &state).await;
    Ok(Json(DeleteAnswer { diagnostics }))
}

/// The diagnostics of the whole VMS after a change that has been made: a failure to check
/// (a file over the size limit, an unreadable one) is one more diagnostic, never an error
/// answer, which would tell the client the change it made did not happen.
async fn diagnostics_after(dir: PathBuf, state: &AppState) -> Vec<Diagnostic> {
    match super::vms::vms_diagnostics(dir, state.scripting()).await {
        Ok((_, diagnostics)) => diagnostics,
        Err(err) => {
            let why = match err {
                ApiError::Internal(err) => format!("{err:#}"),
                other => format!("{other:?}"),
            };
            vec![Diagnostic::warning(
                "ide.check",
                format!("the change is saved, but the VMS could not be checked: {why}"),
            )]
        }
    }
}
