//! Git on a VMS repository through libgit2 (`git2`): status, diff, commit, log, branches,
//! pull and push. Every function here is blocking; handlers call them on the blocking pool.
//!
//! Nothing here stashes. Switching branches and pulling use libgit2's *safe* checkout, told
//! not to overwrite ignored files, and a check of the files a merge would touch, so
//! uncommitted work and files Git ignores (this machine's `.env.local`) are never
//! overwritten: the operation is refused with the files in the way. A pull whose merge
//! conflicts leaves the conflict markers in the files and the repository in the merging
//! state; the next commit concludes the merge, and until then branches cannot be switched.
//! Pull and push need a branch: on a detached HEAD they are refused.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::path::Path;

use git2::{
    BranchType, CheckoutNotificationType, Cred, CredentialType, Delta, DiffOptions, ErrorClass,
    ErrorCode, FetchOptions, IndexAddOption, MergeOptions, Oid, PushOptions, RemoteCallbacks,
    Repository, RepositoryInitOptions, RepositoryState, Signature, Sort, Status, StatusOptions,
    build::{CheckoutBuilder, RepoBuilder},
};
use serde::{Deserialize, Serialize};

use starweave_model::vms::local_env::LOCAL_ENV_FILE;

use super::credentials::{self, Credential};
use super::error::{ApiError, ApiResult};
use super::ssh;

/// The author and committer when Git's configuration names none.
const DEFAULT_AUTHOR: (&str, &str) = ("Starweave IDE", "ide@localhost");

/// Turns a libgit2 error from a local operation into an API error.
fn local(err: git2::Error) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("git: {err}"))
}

/// Turns a libgit2 error from talking to a remote into an API error the user can act on.
fn remote_error(err: git2::Error) -> ApiError {
    ApiError::RemoteFailed(format!("the Git remote failed: {}", err.message()))
}

/// Opens the repository of a VMS.
pub fn open(dir: &Path) -> ApiResult<Repository> {
    Repository::open(dir).map_err(|err| {
        if err.code() == ErrorCode::NotFound {
            ApiError::InvalidRequest("this VMS folder is not a Git repository".into())
        } else {
            local(err)
        }
    })
}

fn signature(repo: &Repository) -> ApiResult<Signature<'static>> {
    repo.signature()
        .or_else(|_| Signature::now(DEFAULT_AUTHOR.0, DEFAULT_AUTHOR.1))
        .map_err(local)
}

/// `git init` on branch `main`, then one commit of every file.
pub fn init_with_commit(dir: &Path, message: &str) -> anyhow::Result<()> {
    let mut options = RepositoryInitOptions::new();
    options.initial_head("main");
    let repo = Repository::init_opts(dir, &options)?;
    let mut index = repo.index()?;
    index.add_all(
        ["*"],
        IndexAddOption::DEFAULT,
        Some(&mut skip_untracked_local_env(&index)),
    )?;
    index.write()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let sig = repo
        .signature()
        .or_else(|_| Signature::now(DEFAULT_AUTHOR.0, DEFAULT_AUTHOR.1))?;
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &[])?;
    Ok(())
}

/// An `add_all` filter that leaves out `.env.local` (this machine's env values) unless it is
/// tracked already: "commit all" never commits it, even where no ignore rule covers it.
fn skip_untracked_local_env(index: &git2::Index) -> impl FnMut(&Path, &[u8]) -> i32 + use<> {
    let tracked = index.get_path(Path::new(LOCAL_ENV_FILE), 0).is_some();
    move |path: &Path, _spec: &[u8]| i32::from(!tracked && path == Path::new(LOCAL_ENV_FILE))
}

/// The current branch's short name (`HEAD` when detached, the unborn branch's name before
/// the first commit).
pub fn current_branch(repo: &Repository) -> String {
    match repo.head() {
        Ok(head) if head.is_branch() => head.shorthand().unwrap_or("HEAD").to_owned(),
        Ok(_) => "HEAD".to_owned(),
        Err(_) => repo
            .find_reference("HEAD")
            .ok()
            .and_then(|r| r.symbolic_target().ok().flatten().map(str::to_owned))
            .and_then(|t| t.strip_prefix("refs/heads/").map(str::to_owned))
            .unwrap_or_else(|| "main".to_owned()),
    }
}

/// One changed file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileStatus {
    /// Relative path with `/`.
    pub path: String,
    /// `new`, `modified`, `deleted`, `renamed` or `conflicted`.
    pub status: String,
}

/// `GET /git/status`.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The current branch.
    pub branch: String,
    /// The commit HEAD points at (none before the first commit).
    pub head: Option<String>,
    /// The upstream branch, e.g. `origin/main`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
    /// Commits on this branch that the upstream does not have.
    pub ahead: usize,
    /// Commits on the upstream that this branch does not have.
    pub behind: usize,
    /// Changed files, working tree and index against HEAD.
    pub files: Vec<FileStatus>,
    /// A merge is in progress (a pull with conflicts): resolve the `conflicted` files, then
    /// commit to conclude it.
    pub merging: bool,
}

/// The changed files of the working tree (and index) against HEAD.
pub fn changed_files(repo: &Repository) -> ApiResult<Vec<FileStatus>> {
    let mut options = StatusOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .include_ignored(false)
        .renames_head_to_index(true);
    let statuses = repo.statuses(Some(&mut options)).map_err(local)?;
    let mut out = Vec::new();
    for entry in statuses.iter() {
        let s = entry.status();
        let Ok(path) = entry.path() else { continue };
        let status = if s.is_conflicted() {
            "conflicted"
        } else if s.intersects(Status::INDEX_RENAMED | Status::WT_RENAMED) {
            "renamed"
        } else if s.intersects(Status::WT_NEW | Status::INDEX_NEW) {
            if s.intersects(Status::WT_DELETED) {
                continue; // added to the index, then removed from disk: nothing changed
            }
            if s == Status::WT_NEW && path == LOCAL_ENV_FILE {
                continue; // this machine's env values: never offered for a commit
            }
            "new"
        } else if s.intersects(Status::WT_DELETED | Status::INDEX_DELETED) {
            "deleted"
        } else if s.intersects(
            Status::WT_MODIFIED
                | Status::INDEX_MODIFIED
                | Status::WT_TYPECHANGE
                | Status::INDEX_TYPECHANGE,
        ) {
            "modified"
        } else {
            continue;
        };
        out.push(FileStatus {
            path: path.to_owned(),
            status: status.to_owned(),
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn upstream_of(repo: &Repository, branch: &str) -> Option<(String, Oid)> {
    let local = repo.find_branch(branch, BranchType::Local).ok()?;
    let upstream = local.upstream().ok()?;
    let name = upstream.name().ok()??.to_owned();
    let oid = upstream.get().target()?;
    Some((name, oid))
}

/// `GET /git/status`.
pub fn status(dir: &Path) -> ApiResult<StatusReport> {
    let repo = open(dir)?;
    let branch = current_branch(&repo);
    let head = repo.head().ok().and_then(|h| h.target());
    let upstream = upstream_of(&repo, &branch);
    let (ahead, behind) = match (head, &upstream) {
        (Some(h), Some((_, u))) => repo.graph_ahead_behind(h, *u).map_err(local)?,
        _ => (0, 0),
    };
    Ok(StatusReport {
        branch,
        head: head.map(|h| h.to_string()),
        upstream: upstream.map(|(name, _)| name),
        ahead,
        behind,
        files: changed_files(&repo)?,
        merging: repo.state() == RepositoryState::Merge,
    })
}

/// One line of a hunk.
#[derive(Debug, Clone, Serialize)]
pub struct DiffLine {
    /// `context`, `add` or `remove`.
    pub kind: &'static str,
    /// The line's text without its line break.
    pub text: String,
    /// Its number in the old file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_line: Option<u32>,
    /// Its number in the new file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_line: Option<u32>,
}

/// One hunk.
#[derive(Debug, Clone, Serialize)]
pub struct DiffHunk {
    /// `@@ -a,b +c,d @@`.
    pub header: String,
    /// Its lines.
    pub lines: Vec<DiffLine>,
}

/// One file's diff.
#[derive(Debug, Clone, Serialize)]
pub struct FileDiff {
    /// Relative path.
    pub path: String,
    /// As in [`FileStatus::status`].
    pub status: &'static str,
    /// Whether the file is binary (then it has no hunks).
    pub binary: bool,
    /// The hunks.
    pub hunks: Vec<DiffHunk>,
}

/// `GET /git/diff`: the working tree against HEAD, optionally for one path.
pub fn diff(dir: &Path, path: Option<&str>) -> ApiResult<Vec<FileDiff>> {
    let repo = open(dir)?;
    let head_tree = match repo.head() {
        Ok(head) => Some(head.peel_to_tree().map_err(local)?),
        Err(_) => None,
    };
    let mut options = DiffOptions::new();
    options
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true)
        .context_lines(3);
    if let Some(path) = path {
        options.pathspec(path).disable_pathspec_match(true);
    }
    let diff = repo
        .diff_tree_to_workdir_with_index(head_tree.as_ref(), Some(&mut options))
        .map_err(local)?;
    let mut files = Vec::new();
    for (index, delta) in diff.deltas().enumerate() {
        let status = match delta.status() {
            Delta::Added | Delta::Untracked | Delta::Copied => "new",
            Delta::Deleted => "deleted",
            Delta::Renamed => "renamed",
            Delta::Conflicted => "conflicted",
            Delta::Modified | Delta::Typechange => "modified",
            _ => continue,
        };
        let file_path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().replace('\\', "/"))
            .unwrap_or_default();
        let patch = git2::Patch::from_diff(&diff, index).map_err(local)?;
        let binary = delta.flags().is_binary() || patch.is_none();
        let mut hunks = Vec::new();
        if let Some(patch) = patch {
            for h in 0..patch.num_hunks() {
                let (hunk, line_count) = patch.hunk(h).map_err(local)?;
                let header = String::from_utf8_lossy(hunk.header()).trim_end().to_owned();
                let mut lines = Vec::with_capacity(line_count);
                for l in 0..line_count {
                    let line = patch.line_in_hunk(h, l).map_err(local)?;
                    let kind = match line.origin() {
                        '+' => "add",
                        '-' => "remove",
                        ' ' => "context",
                        _ => continue, // "no newline at end of file" markers
                    };
                    let text = String::from_utf8_lossy(line.content());
                    lines.push(DiffLine {
                        kind,
                        text: text.trim_end_matches(['\n', '\r']).to_owned(),
                        old_line: line.old_lineno(),
                        new_line: line.new_lineno(),
                    });
                }
                hunks.push(DiffHunk { header, lines });
            }
        }
        files.push(FileDiff {
            path: file_path,
            status,
            binary,
            hunks,
        });
    }
    Ok(files)
}

/// What a commit made.
#[derive(Debug, Clone, Serialize)]
pub struct CommitInfo {
    /// The commit id.
    pub id: String,
    /// Its first line.
    pub summary: String,
}

/// `POST /git/commit`: commits every change, or only `paths`. Concludes a merge in progress.
pub fn commit(dir: &Path, message: &str, paths: Option<&[String]>) -> ApiResult<CommitInfo> {
    if message.trim().is_empty() {
        return Err(ApiError::InvalidRequest(
            "a commit needs a message".to_owned(),
        ));
    }
    let repo = open(dir)?;
    let mut index = repo.index().map_err(local)?;
    // Staging a conflicted file resolves it with whatever the working tree holds: refuse
    // while that still has Git's conflict markers, so they never end up in a commit.
    let still_marked: Vec<String> = conflicted_paths(&index)
        .into_iter()
        .filter(|p| paths.is_none_or(|only| only.iter().any(|o| o == p)))
        .filter(|p| {
            std::fs::read(dir.join(p))
                .ok()
                .is_some_and(|text| conflict_marker_line(&text).is_some())
        })
        .collect();
    if !still_marked.is_empty() {
        return Err(ApiError::MergeConflict {
            message: "these files still have conflict markers: edit them away or take one side, then commit".to_owned(),
            files: still_marked,
        });
    }
    // Git writes no markers into a binary file, nor into one changed on one side and deleted
    // on the other: the working tree holds one side only, and staging everything would drop
    // the other without a word. Such conflicts are settled by taking a side
    // (`/git/resolve`), or by committing the file by name.
    if paths.is_none() {
        let unmarked = unmarked_conflicts(&repo, &index);
        if !unmarked.is_empty() {
            return Err(ApiError::MergeConflict {
                message: "Git could not mark these conflicts in the files (binary content, or changed on one side and deleted on the other): take a side for each, or commit them by name".to_owned(),
                files: unmarked,
            });
        }
    }
    match paths {
        None => {
            index
                .add_all(
                    ["*"],
                    IndexAddOption::DEFAULT,
                    Some(&mut skip_untracked_local_env(&index)),
                )
                .map_err(local)?;
            index.update_all(["*"], None).map_err(local)?;
        }
        Some(paths) => {
            if paths.is_empty() {
                return Err(ApiError::InvalidRequest(
                    "`paths` is empty; leave it out to commit every change".to_owned(),
                ));
            }
            let root = std::fs::canonicalize(dir)?;
            for path in paths {
                let segments = super::paths::check_relative_path(path)?;
                if path == LOCAL_ENV_FILE && index.get_path(Path::new(path), 0).is_none() {
                    return Err(ApiError::InvalidRequest(format!(
                        "`{LOCAL_ENV_FILE}` holds this machine's own env values and is never committed"
                    )));
                }
                // Git stages what is at the path as written, reading through any folder on
                // the way that is a symbolic link: such a path could stage a file from
                // outside the VMS, or `.git` itself, under another name.
                let entry = super::paths::resolve_entry_inside(dir, path)?;
                if entry != segments.iter().fold(root.clone(), |p, s| p.join(s)) {
                    return Err(ApiError::InvalidPath(format!(
                        "`{path}` goes through a symbolic link to a folder; commit the file by the path Git tracks"
                    )));
                }
                let on_disk = match std::fs::symlink_metadata(&entry) {
                    Ok(meta) if meta.is_dir() => {
                        return Err(ApiError::InvalidPath(format!(
                            "`{path}` is a folder; name the files in it"
                        )));
                    }
                    Ok(_) => true,
                    Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
                    Err(err) => return Err(err.into()),
                };
                // A file or a symbolic link (staged as a link, whatever it points at).
                if on_disk {
                    index.add_path(Path::new(path)).map_err(local)?;
                } else if index.get_path(Path::new(path), 0).is_some() || index.has_conflicts() {
                    index.remove_path(Path::new(path)).map_err(local)?;
                } else {
                    return Err(ApiError::InvalidRequest(format!(
                        "`{path}` has no changes to commit"
                    )));
                }
            }
        }
    }
    if index.has_conflicts() {
        let files = conflicted_paths(&index);
        return Err(ApiError::MergeConflict {
            message: "resolve the conflicts in these files before committing".to_owned(),
            files,
        });
    }
    index.write().map_err(local)?;
    let tree = repo
        .find_tree(index.write_tree().map_err(local)?)
        .map_err(local)?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let merging = repo.state() == RepositoryState::Merge;
    let merge_head = if merging {
        repo.find_reference("MERGE_HEAD")
            .ok()
            .and_then(|r| r.peel_to_commit().ok())
    } else {
        None
    };
    if let Some(parent) = &parent
        && parent.tree_id() == tree.id()
        && merge_head.is_none()
    {
        return Err(ApiError::InvalidRequest(
            "there is nothing to commit".to_owned(),
        ));
    }
    let sig = signature(&repo)?;
    let parents: Vec<&git2::Commit<'_>> = parent.iter().chain(merge_head.iter()).collect();
    let id = repo
        .commit(Some("HEAD"), &sig, &sig, message, &tree, &parents)
        .map_err(local)?;
    if merging {
        repo.cleanup_state().map_err(local)?;
    }
    Ok(CommitInfo {
        id: id.to_string(),
        summary: message.lines().next().unwrap_or("").to_owned(),
    })
}

/// The conflicted paths whose working file cannot show the conflict with markers: one side
/// deleted it, or a side's content is binary.
fn unmarked_conflicts(repo: &Repository, index: &git2::Index) -> Vec<String> {
    let mut out = BTreeSet::new();
    let Ok(conflicts) = index.conflicts() else {
        return Vec::new();
    };
    for conflict in conflicts.flatten() {
        let binary = [&conflict.our, &conflict.their, &conflict.ancestor]
            .into_iter()
            .flatten()
            .any(|entry| repo.find_blob(entry.id).is_ok_and(|b| b.is_binary()));
        if conflict.our.is_none() || conflict.their.is_none() || binary {
            let entry = conflict.our.or(conflict.their).or(conflict.ancestor);
            if let Some(entry) = entry {
                out.insert(String::from_utf8_lossy(&entry.path).into_owned());
            }
        }
    }
    out.into_iter().collect()
}

fn conflicted_paths(index: &git2::Index) -> Vec<String> {
    let mut out = BTreeSet::new();
    if let Ok(conflicts) = index.conflicts() {
        for conflict in conflicts.flatten() {
            let entry = conflict.our.or(conflict.their).or(conflict.ancestor);
            if let Some(entry) = entry {
                out.insert(String::from_utf8_lossy(&entry.path).into_owned());
            }
        }
    }
    out.into_iter().collect()
}

/// One commit of the log.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// The commit id.
    pub id: String,
    /// The first line of the message.
    pub summary: String,
    /// The whole message.
    pub message: String,
    /// `Name <email>`.
    pub author: String,
    /// When it was authored, RFC 3339 with the author's offset.
    pub time: String,
}

/// `GET /git/log`: the newest `limit` commits reachable from HEAD.
pub fn log(dir: &Path, limit: usize) -> ApiResult<Vec<LogEntry>> {
    let repo = open(dir)?;
    if repo.head().is_err() {
        return Ok(Vec::new());
    }
    let mut walk = repo.revwalk().map_err(local)?;
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)
        .map_err(local)?;
    walk.push_head().map_err(local)?;
    let mut out = Vec::new();
    for oid in walk.take(limit) {
        let commit = repo.find_commit(oid.map_err(local)?).map_err(local)?;
        let author = commit.author();
        let time = author.when();
        // A commit may carry any offset Git's parser took; one past a day is shown as UTC.
        let offset = chrono::FixedOffset::east_opt(time.offset_minutes().saturating_mul(60))
            .unwrap_or_else(|| chrono::FixedOffset::east_opt(0).expect("zero offset"));
        let at = chrono::DateTime::from_timestamp(time.seconds(), 0)
            .map(|t| t.with_timezone(&offset).to_rfc3339())
            .unwrap_or_default();
        out.push(LogEntry {
            id: commit.id().to_string(),
            summary: commit.summary().ok().flatten().unwrap_or("").to_owned(),
            message: commit.message().unwrap_or("").to_owned(),
            author: format!(
                "{} <{}>",
                author.name().unwrap_or(""),
                author.email().unwrap_or("")
            ),
            time: at,
        });
    }
    Ok(out)
}

/// One local branch.
#[derive(Debug, Clone, Serialize)]
pub struct BranchInfo {
    /// Its short name.
    pub name: String,
    /// The commit it points at.
    pub head: String,
    /// Its upstream, e.g. `origin/main`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

/// `GET /git/branches`.
#[derive(Debug, Clone, Serialize)]
pub struct Branches {
    /// The current branch.
    pub current: String,
    /// Every local branch, by name.
    pub branches: Vec<BranchInfo>,
}

/// `GET /git/branches`.
pub fn branches(dir: &Path) -> ApiResult<Branches> {
    let repo = open(dir)?;
    let mut out = Vec::new();
    for item in repo.branches(Some(BranchType::Local)).map_err(local)? {
        let (branch, _) = item.map_err(local)?;
        let Some(name) = branch.name().map_err(local)?.map(str::to_owned) else {
            continue;
        };
        let head = branch
            .get()
            .target()
            .map(|o| o.to_string())
            .unwrap_or_default();
        let upstream = branch
            .upstream()
            .ok()
            .and_then(|u| u.name().ok().flatten().map(str::to_owned));
        out.push(BranchInfo {
            name,
            head,
            upstream,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Branches {
        current: current_branch(&repo),
        branches: out,
    })
}

fn check_branch_name(name: &str) -> ApiResult<()> {
    if git2::Branch::name_is_valid(name).unwrap_or(false) && !name.starts_with('-') {
        Ok(())
    } else {
        Err(ApiError::InvalidName(format!(
            "`{name}` is not a valid branch name"
        )))
    }
}

/// `POST /git/branches`: creates `name` at `from` (a branch or commit; HEAD by default).
pub fn create_branch(dir: &Path, name: &str, from: Option<&str>) -> ApiResult<()> {
    check_branch_name(name)?;
    let repo = open(dir)?;
    if repo.find_branch(name, BranchType::Local).is_ok() {
        return Err(ApiError::Conflict {
            message: format!("a branch named `{name}` already exists"),
            details: None,
        });
    }
    let commit = match from {
        Some(from) => repo
            .revparse_single(from)
            .and_then(|o| o.peel_to_commit())
            .map_err(|_| ApiError::NotFound(format!("no branch or commit `{from}`")))?,
        None => repo.head().and_then(|h| h.peel_to_commit()).map_err(|_| {
            ApiError::InvalidRequest("the repository has no commit to branch from yet".into())
        })?,
    };
    repo.branch(name, &commit, false).map_err(local)?;
    Ok(())
}

/// Checks out `target` safely: files with local changes, and files Git ignores, that the
/// checkout would overwrite stop it before anything is written, and come back as
/// `dirty_worktree`.
fn safe_checkout(repo: &Repository, target: &git2::Object<'_>, what: &str) -> ApiResult<()> {
    let conflicts = RefCell::new(Vec::<String>::new());
    let result = {
        let mut builder = CheckoutBuilder::new();
        builder
            .safe()
            .overwrite_ignored(false)
            .notify_on(CheckoutNotificationType::CONFLICT)
            .notify(|_, path, _, _, _| {
                if let Some(path) = path {
                    conflicts
                        .borrow_mut()
                        .push(path.to_string_lossy().into_owned());
                }
                true
            });
        repo.checkout_tree(target, Some(&mut builder))
    };
    match result {
        Ok(()) => Ok(()),
        Err(err) if err.code() == ErrorCode::Conflict || !conflicts.borrow().is_empty() => {
            let mut files = conflicts.into_inner();
            files.sort();
            files.dedup();
            Err(ApiError::DirtyWorktree {
                message: format!(
                    "{what} would overwrite uncommitted changes or files Git ignores here; \
                     commit, move or discard them first"
                ),
                files,
            })
        }
        Err(err) => Err(local(err)),
    }
}

/// `POST /git/checkout`: switches to the local branch `name` (creating it from
/// `origin/<name>` when only that exists).
pub fn checkout(dir: &Path, name: &str) -> ApiResult<()> {
    check_branch_name(name)?;
    let repo = open(dir)?;
    // The merge state (`MERGE_HEAD`) would survive the switch and make the other branch's
    // next commit a merge of what was being merged here.
    refuse_unless_clean(&repo, "switching branches")?;
    if repo.find_branch(name, BranchType::Local).is_err() {
        let remote = repo
            .find_branch(&format!("origin/{name}"), BranchType::Remote)
            .map_err(|_| ApiError::NotFound(format!("no branch named `{name}`")))?;
        let commit = remote.get().peel_to_commit().map_err(local)?;
        let mut created = repo.branch(name, &commit, false).map_err(local)?;
        created
            .set_upstream(Some(&format!("origin/{name}")))
            .map_err(local)?;
    }
    let refname = format!("refs/heads/{name}");
    let target = repo.revparse_single(&refname).map_err(local)?;
    safe_checkout(&repo, &target, &format!("switching to `{name}`"))?;
    repo.set_head(&refname).map_err(local)?;
    Ok(())
}

/// Where a remote operation's credentials come from: for HTTPS, the token store (through a
/// lookup by remote URL), then Git's credential helpers; for SSH, the keys of `ssh-agent`,
/// then the user's key files ([`ssh::key_files`]). It also remembers what the remote asked
/// for and what it was offered, to tell a refused credential or an unknown host key from
/// other failures.
pub struct RemoteAuth<'a> {
    tokens: &'a (dyn Fn(&str) -> Option<Credential> + 'a),
    attempts: Cell<u32>,
    /// The URL the remote asked a username and password for.
    asked: RefCell<Option<String>>,
    /// A credential was sent and the remote asked again: it was refused.
    refused: Cell<bool>,
    /// The remote asked for a password and there was none to give.
    gave_up: Cell<bool>,
    /// SSH: what was offered so far (`ssh-agent`, then key files), in order.
    ssh_offered: RefCell<Vec<String>>,
    /// SSH: every key was offered and the server wanted another.
    ssh_exhausted: Cell<bool>,
    /// SSH: the host key the server presented.
    host_key: RefCell<Option<ssh::HostKey>>,
}

impl std::fmt::Debug for RemoteAuth<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteAuth")
            .field("attempts", &self.attempts.get())
            .field("asked", &self.asked.borrow())
            .field("refused", &self.refused.get())
            .field("gave_up", &self.gave_up.get())
            .field("ssh_offered", &self.ssh_offered.borrow())
            .finish_non_exhaustive()
    }
}

/// An SSH credential to offer: the agent's keys or one key file.
enum SshOffer {
    Agent,
    File(std::path::PathBuf),
}

impl<'a> RemoteAuth<'a> {
    /// Credentials from `tokens` (by remote URL) first, then Git's credential helpers.
    pub fn new(tokens: &'a (dyn Fn(&str) -> Option<Credential> + 'a)) -> Self {
        RemoteAuth {
            tokens,
            attempts: Cell::new(0),
            asked: RefCell::new(None),
            refused: Cell::new(false),
            gave_up: Cell::new(false),
            ssh_offered: RefCell::new(Vec::new()),
            ssh_exhausted: Cell::new(false),
            host_key: RefCell::new(None),
        }
    }

    /// The callbacks of one operation on the remote at `url`.
    fn callbacks(&'a self, url: &str) -> RemoteCallbacks<'a> {
        let mut callbacks = RemoteCallbacks::new();
        let mut token_sent = false;
        callbacks.credentials(move |url, username, allowed| {
            if allowed.contains(CredentialType::SSH_KEY) {
                return self.next_ssh_key(username.unwrap_or("git"));
            }
            if allowed.contains(CredentialType::USERNAME) {
                // An SSH URL without a user: Git servers take `git`.
                return Cred::username(username.unwrap_or("git"));
            }
            let attempt = self.attempts.get() + 1;
            self.attempts.set(attempt);
            if attempt > 1 {
                self.refused.set(true);
            }
            if attempt > 3 {
                return Err(git2::Error::from_str("authentication failed"));
            }
            if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                *self.asked.borrow_mut() = Some(url.to_owned());
                if !token_sent {
                    token_sent = true;
                    if let Some(credential) = (self.tokens)(url) {
                        return Cred::userpass_plaintext(&credential.username, &credential.token);
                    }
                }
                let helped = git2::Config::open_default()
                    .and_then(|config| Cred::credential_helper(&config, url, username));
                if helped.is_err() {
                    // Nothing left to offer: the operation fails for want of a credential.
                    self.gave_up.set(true);
                }
                return helped;
            }
            Cred::default()
        });
        let port = ssh_port(url);
        callbacks.certificate_check(move |cert, host| {
            // libgit2 has already checked the key against `~/.ssh/known_hosts` and decides
            // (passthrough); the key is kept to tell the user what to compare.
            if let Some(blob) = cert.as_hostkey().and_then(|k| k.hostkey()) {
                *self.host_key.borrow_mut() = ssh::HostKey::from_blob(host, port, blob);
            }
            Ok(git2::CertificateCheckStatus::CertificatePassthrough)
        });
        callbacks
    }

    /// The next SSH credential: the agent (when one runs), then each key file; an error once
    /// all were refused.
    fn next_ssh_key(&self, username: &str) -> Result<Cred, git2::Error> {
        let mut offers = Vec::new();
        if std::env::var_os("SSH_AUTH_SOCK").is_some_and(|s| !s.is_empty()) {
            offers.push(SshOffer::Agent);
        }
        offers.extend(ssh::key_files().into_iter().map(SshOffer::File));
        let mut offered = self.ssh_offered.borrow_mut();
        let Some(offer) = offers.into_iter().nth(offered.len()) else {
            self.ssh_exhausted.set(true);
            return Err(git2::Error::from_str("no SSH key left to offer"));
        };
        match offer {
            SshOffer::Agent => {
                offered.push("ssh-agent".to_owned());
                Cred::ssh_key_from_agent(username)
            }
            SshOffer::File(path) => {
                offered.push(path.display().to_string());
                Cred::ssh_key(username, None, &path, None)
            }
        }
    }

    /// The API error for a failed remote operation: `unknown_host_key` when an SSH server's
    /// key is not in `known_hosts`; `remote_auth_failed` when the remote wanted a password
    /// and got none or refused the one sent (with the origin a token would be kept under),
    /// or refused every SSH key; `remote_failed` otherwise.
    fn error(&self, err: git2::Error) -> ApiError {
        if err.code() == ErrorCode::Certificate
            && let Some(key) = self.host_key.borrow_mut().take()
        {
            let key = key.with_known_hosts();
            tracing::info!(
                host = key.pattern(),
                fingerprint = key.fingerprint,
                changed = key.changed,
                "SSH host key not trusted"
            );
            return ApiError::UnknownHostKey(Box::new(key));
        }
        let offered = self.ssh_offered.borrow();
        if !offered.is_empty() && (self.ssh_exhausted.get() || err.code() == ErrorCode::Auth) {
            let message = format!(
                "the SSH server refused the keys offered ({}); add your public key to your \
                 account there, load the right key into ssh-agent, or name its file in \
                 STARWEAVE_SSH_KEY",
                offered.join(", ")
            );
            tracing::info!(detail = err.message(), "SSH remote refused the keys");
            return ApiError::RemoteAuth {
                message,
                origin: None,
            };
        }
        if self.ssh_exhausted.get() {
            return ApiError::RemoteAuth {
                message: "the SSH server wants a key and there is none: no ssh-agent runs and \
                          ~/.ssh has no id_ed25519, id_ecdsa or id_rsa (STARWEAVE_SSH_KEY \
                          names another file)"
                    .to_owned(),
                origin: None,
            };
        }
        let asked = self.asked.borrow().clone();
        let auth = err.code() == ErrorCode::Auth
            || (asked.is_some() && (self.refused.get() || self.gave_up.get()));
        match asked {
            Some(url) if auth => {
                let origin = credentials::origin(&url);
                let server = origin.as_deref().unwrap_or("the remote");
                let message = if self.refused.get() {
                    format!("{server} refused the credentials sent; update its access token")
                } else {
                    format!("{server} asks for a username and password; add an access token for it")
                };
                tracing::info!(
                    server,
                    detail = err.message(),
                    "Git remote wants credentials"
                );
                ApiError::RemoteAuth { message, origin }
            }
            _ => remote_error(err),
        }
    }
}

/// The port of an `ssh://` URL, when it names one (`git@host:path` has none).
fn ssh_port(url: &str) -> Option<u16> {
    let rest = url
        .strip_prefix("ssh://")
        .or_else(|| url.strip_prefix("git+ssh://"))
        .or_else(|| url.strip_prefix("ssh+git://"))?;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit('@').next()?;
    let port = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split_once("]:")?.1
    } else {
        host_port.rsplit_once(':')?.1
    };
    port.parse().ok()
}

fn remote_name(remote: Option<&str>) -> ApiResult<String> {
    let name = remote.unwrap_or("origin");
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
    {
        return Err(ApiError::InvalidName(format!(
            "`{name}` is not a remote name"
        )));
    }
    Ok(name.to_owned())
}

/// `POST /vms/clone`: clones `url` into `dir`.
pub fn clone(url: &str, dir: &Path, auth: &RemoteAuth) -> ApiResult<()> {
    let mut fetch = FetchOptions::new();
    fetch.remote_callbacks(auth.callbacks(url));
    let result = RepoBuilder::new().fetch_options(fetch).clone(url, dir);
    result.map_err(|err| auth.error(err))?;
    Ok(())
}

/// What a pull did.
#[derive(Debug, Clone, Serialize)]
pub struct PullReport {
    /// `up_to_date`, `fast_forward`, `merged` or `conflicts`.
    pub result: &'static str,
    /// Files left with conflict markers.
    pub conflicts: Vec<String>,
}

/// `POST /git/pull`: fetches `remote` and brings its branch in, by fast-forward or a merge
/// commit; conflicts are left in the files. Refuses when a file it would change has local
/// changes.
pub fn pull(dir: &Path, remote: Option<&str>, auth: &RemoteAuth) -> ApiResult<PullReport> {
    let remote_name = remote_name(remote)?;
    let repo = open(dir)?;
    refuse_unless_clean(&repo, "pulling")?;
    refuse_detached(&repo, "pull into")?;
    let branch = current_branch(&repo);
    let mut remote = repo
        .find_remote(&remote_name)
        .map_err(|_| ApiError::NotFound(format!("no remote named `{remote_name}`")))?;
    {
        let mut fetch = FetchOptions::new();
        fetch.remote_callbacks(auth.callbacks(remote.url().unwrap_or_default()));
        remote
            .fetch::<&str>(&[], Some(&mut fetch), None)
            .map_err(|err| auth.error(err))?;
    }
    let upstream_ref = upstream_of(&repo, &branch)
        .filter(|(name, _)| name.starts_with(&format!("{remote_name}/")))
        .map(|(name, _)| format!("refs/remotes/{name}"))
        .unwrap_or_else(|| format!("refs/remotes/{remote_name}/{branch}"));
    let Ok(their_ref) = repo.find_reference(&upstream_ref) else {
        return Err(ApiError::NotFound(format!(
            "the remote `{remote_name}` has no branch `{branch}`"
        )));
    };
    let theirs = repo
        .reference_to_annotated_commit(&their_ref)
        .map_err(local)?;
    let (analysis, _) = repo.merge_analysis(&[&theirs]).map_err(local)?;
    if analysis.is_up_to_date() {
        return Ok(PullReport {
            result: "up_to_date",
            conflicts: Vec::new(),
        });
    }
    let their_commit = repo.find_commit(theirs.id()).map_err(local)?;
    let head = repo.head().and_then(|h| h.peel_to_commit()).ok();

    // Files the merge changes = files changed between the merge base and theirs.
    let base_tree = match &head {
        Some(ours) => repo
            .merge_base(ours.id(), their_commit.id())
            .ok()
            .and_then(|b| repo.find_commit(b).ok())
            .and_then(|c| c.tree().ok()),
        None => None,
    };
    let their_tree = their_commit.tree().map_err(local)?;
    let touched: BTreeSet<String> = {
        let diff = repo
            .diff_tree_to_tree(base_tree.as_ref(), Some(&their_tree), None)
            .map_err(local)?;
        diff.deltas()
            .flat_map(|d| [d.old_file().path(), d.new_file().path()])
            .flatten()
            .map(|p| p.to_string_lossy().into_owned())
            .collect()
    };
    let dirty: Vec<String> = changed_files(&repo)?
        .into_iter()
        .filter(|f| touched.contains(&f.path))
        .map(|f| f.path)
        .collect();
    let ignored = ignored_in_the_way(&repo, &touched);
    if !dirty.is_empty() || !ignored.is_empty() {
        let message = if ignored.is_empty() {
            "the pull would change files with uncommitted changes; commit them first".to_owned()
        } else {
            format!(
                "the pull would overwrite files Git ignores here ({}), such as this machine's \
                 own `{LOCAL_ENV_FILE}`; move them aside{} first",
                ignored.join(", "),
                if dirty.is_empty() {
                    ""
                } else {
                    " and commit the files with uncommitted changes"
                }
            )
        };
        let mut files: Vec<String> = dirty.into_iter().chain(ignored).collect();
        files.sort();
        files.dedup();
        return Err(ApiError::DirtyWorktree { message, files });
    }

    if analysis.is_fast_forward() || analysis.is_unborn() {
        let target = repo.find_object(theirs.id(), None).map_err(local)?;
        safe_checkout(&repo, &target, "the pull")?;
        let refname = format!("refs/heads/{branch}");
        repo.reference(&refname, theirs.id(), true, "pull: fast-forward")
            .map_err(local)?;
        if repo.head().is_err() {
            repo.set_head(&refname).map_err(local)?;
        }
        set_upstream_if_missing(&repo, &branch, &remote_name);
        return Ok(PullReport {
            result: "fast_forward",
            conflicts: Vec::new(),
        });
    }

    let Some(ours) = head else {
        return Err(ApiError::Internal(anyhow::anyhow!("merge without HEAD")));
    };
    let mut checkout = CheckoutBuilder::new();
    checkout
        .safe()
        .overwrite_ignored(false)
        .allow_conflicts(true)
        .conflict_style_merge(true);
    if let Err(err) = repo.merge(
        &[&theirs],
        Some(&mut MergeOptions::new()),
        Some(&mut checkout),
    ) {
        let _ = repo.cleanup_state();
        return Err(if err.code() == ErrorCode::Conflict {
            ApiError::DirtyWorktree {
                message: "the pull would overwrite uncommitted changes or files Git ignores \
                          here; commit or move them first"
                    .into(),
                files: Vec::new(),
            }
        } else {
            local(err)
        });
    }
    let mut index = repo.index().map_err(local)?;
    if index.has_conflicts() {
        set_upstream_if_missing(&repo, &branch, &remote_name);
        return Ok(PullReport {
            result: "conflicts",
            conflicts: conflicted_paths(&index),
        });
    }
    let tree = repo
        .find_tree(index.write_tree().map_err(local)?)
        .map_err(local)?;
    let sig = signature(&repo)?;
    let message = format!(
        "Merge {} into {branch}",
        upstream_ref.trim_start_matches("refs/remotes/")
    );
    repo.commit(
        Some("HEAD"),
        &sig,
        &sig,
        &message,
        &tree,
        &[&ours, &their_commit],
    )
    .map_err(local)?;
    repo.cleanup_state().map_err(local)?;
    set_upstream_if_missing(&repo, &branch, &remote_name);
    Ok(PullReport {
        result: "merged",
        conflicts: Vec::new(),
    })
}

fn set_upstream_if_missing(repo: &Repository, branch: &str, remote: &str) {
    if let Ok(mut local) = repo.find_branch(branch, BranchType::Local)
        && local.upstream().is_err()
        && repo
            .find_reference(&format!("refs/remotes/{remote}/{branch}"))
            .is_ok()
    {
        let _ = local.set_upstream(Some(&format!("{remote}/{branch}")));
    }
}

/// Of the `paths` an incoming change writes, those that exist here as files Git ignores
/// (this machine's `.env.local`, build output): a checkout would replace them, and the status
/// never lists them as changed.
fn ignored_in_the_way(repo: &Repository, paths: &BTreeSet<String>) -> Vec<String> {
    let Some(workdir) = repo.workdir() else {
        return Vec::new();
    };
    paths
        .iter()
        .filter(|path| std::fs::symlink_metadata(workdir.join(path)).is_ok())
        .filter(|path| {
            repo.status_file(Path::new(path.as_str()))
                .is_ok_and(|s| s.is_ignored())
        })
        .cloned()
        .collect()
}

/// Refuses `what` while the repository is in the middle of a merge (or of a rebase,
/// cherry-pick, revert… begun with the `git` command), which it would carry along.
fn refuse_unless_clean(repo: &Repository, what: &str) -> ApiResult<()> {
    let operation = match repo.state() {
        RepositoryState::Clean => return Ok(()),
        RepositoryState::Merge => {
            let files = repo
                .index()
                .map(|i| conflicted_paths(&i))
                .unwrap_or_default();
            let message = if files.is_empty() {
                format!(
                    "a merge is in progress: commit or abort the merge (`git merge --abort`) \
                     before {what}"
                )
            } else {
                format!(
                    "a merge is in progress: resolve its conflicts and commit it, or abort the \
                     merge (`git merge --abort`), before {what}"
                )
            };
            return Err(ApiError::MergeConflict { message, files });
        }
        RepositoryState::Revert | RepositoryState::RevertSequence => "a revert",
        RepositoryState::CherryPick | RepositoryState::CherryPickSequence => "a cherry-pick",
        RepositoryState::Bisect => "a bisect",
        RepositoryState::Rebase
        | RepositoryState::RebaseInteractive
        | RepositoryState::RebaseMerge => "a rebase",
        RepositoryState::ApplyMailbox | RepositoryState::ApplyMailboxOrRebase => "`git am`",
    };
    Err(ApiError::Conflict {
        message: format!(
            "the repository is in the middle of {operation}; finish or abort it with `git` \
             before {what}"
        ),
        details: None,
    })
}

/// Refuses a pull or push on a detached HEAD: there is no branch to bring commits into or to
/// name the remote branch after.
fn refuse_detached(repo: &Repository, what: &str) -> ApiResult<()> {
    if repo.head_detached().unwrap_or(false) {
        return Err(ApiError::Conflict {
            message: format!(
                "HEAD is detached (on a commit, not a branch), so there is no branch to {what}; \
                 check out a branch first"
            ),
            details: None,
        });
    }
    Ok(())
}

/// `POST /git/push`: pushes the current branch to the branch of the same name on `remote`.
pub fn push(dir: &Path, remote: Option<&str>, auth: &RemoteAuth) -> ApiResult<()> {
    let remote_name = remote_name(remote)?;
    let repo = open(dir)?;
    refuse_detached(&repo, "push")?;
    let branch = current_branch(&repo);
    let head = repo
        .head()
        .ok()
        .and_then(|h| h.target())
        .ok_or_else(|| ApiError::InvalidRequest("there is no commit to push yet".into()))?;
    let mut remote = repo
        .find_remote(&remote_name)
        .map_err(|_| ApiError::NotFound(format!("no remote named `{remote_name}`")))?;
    let rejected = RefCell::new(None::<String>);
    let result = {
        let url = remote.url().unwrap_or_default().to_owned();
        let mut callbacks = auth.callbacks(&url);
        callbacks.push_update_reference(|_, status| {
            if let Some(status) = status {
                *rejected.borrow_mut() = Some(status.to_owned());
            }
            Ok(())
        });
        let mut options = PushOptions::new();
        options.remote_callbacks(callbacks);
        let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
        remote.push(&[refspec.as_str()], Some(&mut options))
    };
    let non_ff = |message: &str| {
        ApiError::NonFastForward(format!(
            "the remote's `{branch}` has commits this branch does not ({message}); pull first"
        ))
    };
    match result {
        Err(err)
            if err.code() == ErrorCode::NotFastForward
                || (err.class() == ErrorClass::Reference && err.message().contains("fast")) =>
        {
            return Err(non_ff(err.message()));
        }
        Err(err) => return Err(auth.error(err)),
        Ok(()) => {}
    }
    if let Some(status) = rejected.into_inner() {
        return Err(
            if status.contains("fast") || status.contains("fetch first") {
                non_ff(&status)
            } else {
                ApiError::RemoteFailed(format!("the remote refused the push: {status}"))
            },
        );
    }
    repo.reference(
        &format!("refs/remotes/{remote_name}/{branch}"),
        head,
        true,
        "push",
    )
    .map_err(local)?;
    set_upstream_if_missing(&repo, &branch, &remote_name);
    Ok(())
}

/// `POST /git/fetch`: fetches `remote` (updating its remote-tracking branches only; the
/// working tree is not touched) and answers the status, whose `ahead`/`behind` then compare
/// with what the remote has now.
pub fn fetch(dir: &Path, remote: Option<&str>, auth: &RemoteAuth) -> ApiResult<StatusReport> {
    let remote_name = remote_name(remote)?;
    {
        let repo = open(dir)?;
        let mut remote = repo
            .find_remote(&remote_name)
            .map_err(|_| ApiError::NotFound(format!("no remote named `{remote_name}`")))?;
        let mut fetch = FetchOptions::new();
        fetch.remote_callbacks(auth.callbacks(remote.url().unwrap_or_default()));
        remote
            .fetch::<&str>(&[], Some(&mut fetch), None)
            .map_err(|err| auth.error(err))?;
        let branch = current_branch(&repo);
        set_upstream_if_missing(&repo, &branch, &remote_name);
    }
    status(dir)
}

/// How a conflicted file is resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    /// This branch's version (index stage 2).
    Ours,
    /// The merged-in version (index stage 3).
    Theirs,
    /// The file as it is now in the working tree, conflict markers edited away by hand.
    File,
}

/// `POST /git/resolve`: resolves the conflict of `path` and stages the result. When every
/// conflict is resolved, `POST /git/commit` concludes the merge.
pub fn resolve(dir: &Path, path: &str, how: Resolution) -> ApiResult<()> {
    super::paths::check_relative_path(path)?;
    // The entry itself: a symbolic link in the working tree is replaced or removed as a link,
    // never written or deleted through to its target.
    let file = super::paths::resolve_entry_inside(dir, path)?;
    let repo = open(dir)?;
    let mut index = repo.index().map_err(local)?;
    let conflict = index
        .conflicts()
        .map_err(local)?
        .flatten()
        .find(|c| {
            [&c.our, &c.their, &c.ancestor]
                .into_iter()
                .flatten()
                .any(|e| e.path == path.as_bytes())
        })
        .ok_or_else(|| ApiError::InvalidRequest(format!("`{path}` has no merge conflict")))?;
    let chosen = match how {
        Resolution::Ours => Some(conflict.our),
        Resolution::Theirs => Some(conflict.their),
        Resolution::File => None,
    };
    match chosen {
        // The chosen side's blob becomes the file (or its deletion, when that side deleted it).
        Some(Some(entry)) => {
            let blob = repo.find_blob(entry.id).map_err(local)?;
            write_entry(&file, entry.mode, blob.content())?;
            index.add_path(Path::new(path)).map_err(local)?;
        }
        Some(None) => {
            match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                Err(err) => return Err(err.into()),
            }
            index.remove_path(Path::new(path)).map_err(local)?;
        }
        None => {
            let kind = std::fs::symlink_metadata(&file).map(|m| m.file_type());
            if kind.as_ref().is_ok_and(|k| k.is_symlink()) {
                // A link has no conflict markers: it is taken as it is.
                index.add_path(Path::new(path)).map_err(local)?;
            } else if kind.is_ok_and(|k| k.is_file()) {
                let text = std::fs::read(&file)?;
                if let Some(line) = conflict_marker_line(&text) {
                    return Err(ApiError::InvalidRequest(format!(
                        "`{path}` still has a conflict marker on line {line}; edit it away, or take one side"
                    )));
                }
                index.add_path(Path::new(path)).map_err(local)?;
            } else {
                index.remove_path(Path::new(path)).map_err(local)?;
            }
        }
    }
    index.write().map_err(local)?;
    Ok(())
}

/// Puts one side of a conflict at `file`: the blob's content, or for a symbolic link (Git's
/// mode `120000`, the blob being its target) a link, replacing whatever entry is there.
fn write_entry(file: &Path, mode: u32, content: &[u8]) -> ApiResult<()> {
    let is_link = std::fs::symlink_metadata(file).is_ok_and(|m| m.file_type().is_symlink());
    #[cfg(unix)]
    if mode == 0o120000 {
        use std::os::unix::ffi::OsStrExt as _;
        let target = std::ffi::OsStr::from_bytes(content);
        match std::fs::remove_file(file) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err.into()),
        }
        std::os::unix::fs::symlink(target, file)?;
        return Ok(());
    }
    #[cfg(not(unix))]
    let _ = mode;
    if is_link {
        // Renaming over a link replaces the link; its target keeps its content.
        std::fs::remove_file(file)?;
    }
    super::files::write_atomically(file, content, false)?;
    Ok(())
}

/// The first line (from 1) that is a conflict marker Git writes (`<<<<<<< `, `=======`,
/// `>>>>>>> `).
fn conflict_marker_line(text: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(text)
        .lines()
        .position(|l| l.starts_with("<<<<<<< ") || l == "=======" || l.starts_with(">>>>>>> "))
        .map(|i| i + 1)
}
