//! The workspace watcher: edits made outside the IDE (another editor, `git checkout`,
//! `git pull` in a terminal) become change events the UI picks up through
//! `GET /api/v1/events` (a long poll, see [`events`]).
//!
//! How it works:
//! - One recursive `notify` watch on the workspace root (inotify on Linux). Symbolic links
//!   are not followed, so a link to a folder outside the workspace is never watched.
//! - Raw notifications are filtered at once: anything outside a folder with a VMS name (the
//!   workspace's own `.starweave/` database among them), the IDE's own temporary files
//!   (`*.swtmp`), reads (`inotify` reports every open), and everything under `.git/` except
//!   `HEAD`, `MERGE_HEAD`, `packed-refs` and `refs/` (what says the branch or HEAD moved).
//! - What remains is debounced: a batch closes after [`QUIET`] without a notification, or
//!   [`MAX_DELAY`] after its first one during a longer burst.
//! - A batch is compared with a snapshot of every file's version (the same etag the file API
//!   uses for optimistic concurrency). Only real changes are published, one event per VMS,
//!   with each file's new etag; a Git change carries the new branch and HEAD. Writes and
//!   deletions made by the IDE itself update the snapshot under the same lock as the file
//!   operation ([`Watch::own_write`]), so they are never reported as changes "under" the UI.
//! - A queue overflow of the kernel (a burst larger than `max_queued_events`) makes the
//!   watcher rescan the whole workspace against the snapshot, so the final state is right
//!   even when single notifications were lost.
//!
//! Hostile content: a file larger than [`LARGEST_HASHED`] is not read; its event says
//! `too_large` with its size. A symbolic link that leads outside its VMS is reported as
//! `link_outside` and never read (the file API refuses it too).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::io::Read as _;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use notify::{EventKind, RecommendedWatcher, RecursiveMode, Watcher as _};
use serde::Serialize;
use tokio::sync::{mpsc, watch};

use super::paths::check_vms_name;

/// A batch closes after this long without a notification.
pub const QUIET: Duration = Duration::from_millis(150);
/// ... or this long after its first notification, whatever keeps coming.
pub const MAX_DELAY: Duration = Duration::from_millis(1000);
/// Files larger than this are not hashed (the IDE does not edit them either).
pub const LARGEST_HASHED: u64 = super::BODY_LIMIT as u64;
/// How many events the server keeps for clients that poll late.
const RETAINED: usize = 1024;

/// The version of one file, as the snapshot remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Version {
    /// A readable file with this etag.
    Content(String),
    /// Too large to hash: its size.
    TooLarge(u64),
    /// A symbolic link out of the VMS (or a broken one).
    LinkOutside,
}

/// Branch and HEAD of a VMS repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitHead {
    /// The current branch (`HEAD` when detached).
    pub branch: String,
    /// The commit HEAD points at.
    pub head: Option<String>,
    /// The commit the upstream branch points at (moves with a fetch).
    pub upstream: Option<String>,
    /// Whether a merge is in progress (after a conflicting pull).
    pub merging: bool,
}

/// One changed file of an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// Relative to the VMS, `/`-separated.
    pub path: String,
    /// `created`, `modified` or `deleted`.
    pub change: &'static str,
    /// The new etag (as in `GET /files`), for readable files.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// `too_large` (then `size` is set) or `link_outside`: the file was not read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<&'static str>,
    /// The size of a file too large to read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

/// What changed in one VMS.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeEvent {
    /// Increases by one per event, from 1.
    pub seq: u64,
    /// The VMS (the folder name).
    pub vms: String,
    /// Changed files, sorted by path.
    pub files: Vec<FileChange>,
    /// Set when the branch, HEAD, the upstream's commit or the merge state changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git: Option<GitHead>,
}

/// The answer of `GET /events`.
#[derive(Debug, Clone, Serialize)]
pub struct EventsAnswer {
    /// Identifies this run of the server; a client that sees it change starts over.
    pub stream: String,
    /// The newest event's sequence number (0 before the first); poll with `after=seq`.
    pub seq: u64,
    /// True when events the client asked for are gone (too old, or another server run): it
    /// should reload everything it shows.
    pub reset: bool,
    /// Events newer than `after`, oldest first.
    pub events: Vec<ChangeEvent>,
}

#[derive(Debug, Default)]
struct Snapshot {
    /// (VMS, path) → version.
    files: HashMap<String, HashMap<String, Version>>,
    git: HashMap<String, GitHead>,
}

#[derive(Debug)]
struct Log {
    events: VecDeque<ChangeEvent>,
    seq: u64,
}

/// What the watcher task and the handlers share.
#[derive(Debug)]
struct Shared {
    root: PathBuf,
    stream: String,
    snapshot: Mutex<Snapshot>,
    log: Mutex<Log>,
    seq: watch::Sender<u64>,
    /// True once the first snapshot is taken: changes are noticed from then on.
    ready: watch::Sender<bool>,
}

/// The watcher of a workspace. Dropping it stops the watching.
pub struct Watch {
    shared: Arc<Shared>,
    _watcher: Option<RecommendedWatcher>,
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watch")
            .field("root", &self.shared.root)
            .field("watching", &self._watcher.is_some())
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A batch of notifications, reduced to what must be looked at.
#[derive(Debug, Default)]
struct Batch {
    /// VMS → paths (files or folders) that may have changed.
    paths: BTreeMap<String, BTreeSet<String>>,
    /// VMS whose `.git` HEAD or refs changed.
    git: BTreeSet<String>,
    /// VMS folders created or removed as a whole.
    whole: BTreeSet<String>,
    /// Notifications were lost: compare everything.
    rescan: bool,
}

impl Batch {
    fn is_empty(&self) -> bool {
        self.paths.is_empty() && self.git.is_empty() && self.whole.is_empty() && !self.rescan
    }

    fn add(&mut self, root: &Path, event: notify::Result<notify::Event>) {
        let event = match event {
            Ok(event) => event,
            Err(err) => {
                tracing::warn!("file watcher: {err}; rescanning the workspace");
                self.rescan = true;
                return;
            }
        };
        if event.need_rescan() {
            self.rescan = true;
            return;
        }
        match event.kind {
            // inotify reports every open and close; only a close after writing matters.
            EventKind::Access(notify::event::AccessKind::Close(
                notify::event::AccessMode::Write,
            )) => {}
            EventKind::Access(_) | EventKind::Modify(notify::event::ModifyKind::Metadata(_)) => {
                return;
            }
            _ => {}
        }
        for path in &event.paths {
            self.add_path(root, path);
        }
    }

    fn add_path(&mut self, root: &Path, path: &Path) {
        let Ok(relative) = path.strip_prefix(root) else {
            return;
        };
        let mut parts = Vec::new();
        for component in relative.components() {
            match component {
                Component::Normal(part) => match part.to_str() {
                    Some(part) => parts.push(part),
                    // The IDE names files with UTF-8 only; others cannot be opened anyway.
                    None => return,
                },
                _ => return,
            }
        }
        let Some((vms, rest)) = parts.split_first() else {
            return;
        };
        if check_vms_name(vms).is_err() {
            return; // `.starweave/` (the database) and anything that is not a VMS folder
        }
        match rest {
            [] => {
                self.whole.insert((*vms).to_owned());
            }
            [".git", inside @ ..] => {
                if matches!(inside, ["HEAD"] | ["MERGE_HEAD"] | ["packed-refs"])
                    || (inside.first() == Some(&"refs")
                        && !inside.last().is_some_and(|l| l.ends_with(".lock")))
                {
                    self.git.insert((*vms).to_owned());
                }
            }
            _ => {
                if rest.last().is_some_and(|name| name.ends_with(".swtmp")) {
                    return; // the IDE's own temporary file of an atomic write
                }
                self.paths
                    .entry((*vms).to_owned())
                    .or_default()
                    .insert(rest.join("/"));
            }
        }
    }
}

impl Watch {
    /// Starts watching `root`. When the operating system refuses (no inotify, too many
    /// watches) the server still runs: the failure is logged and no event ever comes.
    pub fn start(root: &Path) -> Watch {
        let (seq, _) = watch::channel(0);
        let (ready, _) = watch::channel(false);
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            stream: uuid::Uuid::new_v4().simple().to_string(),
            snapshot: Mutex::new(Snapshot::default()),
            log: Mutex::new(Log {
                events: VecDeque::new(),
                seq: 0,
            }),
            seq,
            ready,
        });
        let (sender, receiver) = mpsc::unbounded_channel();
        let config = notify::Config::default().with_follow_symlinks(false);
        let watcher = RecommendedWatcher::new(
            move |event: notify::Result<notify::Event>| {
                let _ = sender.send(event);
            },
            config,
        )
        .and_then(|mut watcher| {
            watcher.watch(root, RecursiveMode::Recursive)?;
            Ok(watcher)
        });
        let watcher = match watcher {
            Ok(watcher) => Some(watcher),
            Err(err) => {
                tracing::warn!(
                    "cannot watch the workspace for outside changes ({err}); the IDE will not notice edits made with other tools"
                );
                None
            }
        };
        if watcher.is_some() {
            tokio::spawn(run(shared.clone(), receiver));
        } else {
            shared.ready.send_replace(true);
        }
        Watch {
            shared,
            _watcher: watcher,
        }
    }

    /// Runs `write` (which writes `path` of `vms`) with the snapshot locked, and records the
    /// etag of `content` as the file's version when it succeeds, so the watcher does not
    /// report the IDE's own write.
    pub fn own_write<T>(
        &self,
        vms: &str,
        path: &str,
        content: &[u8],
        write: impl FnOnce() -> std::io::Result<T>,
    ) -> std::io::Result<T> {
        let mut snapshot = lock(&self.shared.snapshot);
        let result = write();
        let files = snapshot.files.entry(vms.to_owned()).or_default();
        match &result {
            Ok(_) => {
                files.insert(
                    path.to_owned(),
                    Version::Content(super::files::etag(content)),
                );
            }
            // Unknown state: let the next notification report whatever is there.
            Err(_) => {
                files.remove(path);
            }
        }
        result
    }

    /// Runs `delete` (which removes `path` of `vms`) with the snapshot locked, and forgets the
    /// file when it succeeds.
    pub fn own_delete<T>(&self, vms: &str, path: &str, delete: impl FnOnce() -> T) -> T {
        let mut snapshot = lock(&self.shared.snapshot);
        let result = delete();
        if let Some(files) = snapshot.files.get_mut(vms) {
            files.remove(path);
        }
        result
    }

    /// The answer to a poll for events after `after` (none: only the current position).
    pub fn since(&self, after: Option<u64>, stream: Option<&str>) -> EventsAnswer {
        let log = lock(&self.shared.log);
        let mut answer = EventsAnswer {
            stream: self.shared.stream.clone(),
            seq: log.seq,
            reset: false,
            events: Vec::new(),
        };
        let Some(after) = after else {
            return answer;
        };
        let oldest = log.events.front().map_or(log.seq + 1, |e| e.seq);
        if stream.is_some_and(|s| s != self.shared.stream) || after > log.seq || after + 1 < oldest
        {
            answer.reset = true;
            return answer;
        }
        answer.events = log
            .events
            .iter()
            .filter(|e| e.seq > after)
            .cloned()
            .collect();
        answer
    }

    /// Waits (at most `wait`) until the first snapshot is taken, so that a client that
    /// asks for its starting position sees every change made after the answer.
    pub async fn wait_ready(&self, wait: Duration) {
        let mut ready = self.shared.ready.subscribe();
        let _ = tokio::time::timeout(wait, ready.wait_for(|r| *r)).await;
    }

    /// Changes whenever an event is published.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.seq.subscribe()
    }
}

/// The watcher task: snapshot, then debounce and compare until the watcher is dropped.
async fn run(
    shared: Arc<Shared>,
    mut receiver: mpsc::UnboundedReceiver<notify::Result<notify::Event>>,
) {
    {
        let shared = shared.clone();
        let _ = tokio::task::spawn_blocking(move || shared.initial_snapshot()).await;
    }
    shared.ready.send_replace(true);
    while let Some(first) = receiver.recv().await {
        let mut batch = Batch::default();
        batch.add(&shared.root, first);
        let deadline = tokio::time::Instant::now() + MAX_DELAY;
        loop {
            let quiet = tokio::time::sleep(QUIET);
            tokio::select! {
                next = receiver.recv() => match next {
                    Some(event) => batch.add(&shared.root, event),
                    None => break,
                },
                () = quiet => break,
                () = tokio::time::sleep_until(deadline) => break,
            }
        }
        if batch.is_empty() {
            continue;
        }
        let shared = shared.clone();
        if let Err(err) = tokio::task::spawn_blocking(move || shared.process(batch)).await {
            tracing::error!("file watcher: processing a batch failed: {err}");
        }
    }
}

/// The VMS folders of the workspace (folders with a VMS name, with or without `vms.yaml`
/// yet: a `git clone` in progress counts).
fn vms_folders(root: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    let mut out: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter(|name| check_vms_name(name).is_ok())
        .collect();
    out.sort();
    out
}

/// Every file under `dir` (relative, `/`-separated), skipping `.git` and not following links.
fn walk(dir: &Path, prefix: &str, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        let relative = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}/{name}")
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() => {
                if !(prefix.is_empty() && name == ".git") {
                    walk(&entry.path(), &relative, out);
                }
            }
            Ok(_) if name.ends_with(".swtmp") => {}
            Ok(_) => out.push(relative),
            Err(_) => {}
        }
    }
}

/// The version of a file on disk, `None` when it does not exist (or is a folder).
fn version_of(vms_dir: &Path, path: &str) -> Option<Version> {
    let file = vms_dir.join(path);
    let meta = std::fs::symlink_metadata(&file).ok()?;
    if meta.is_dir() {
        return None;
    }
    if meta.file_type().is_symlink() {
        let inside = std::fs::canonicalize(vms_dir)
            .ok()
            .zip(std::fs::canonicalize(&file).ok())
            .is_some_and(|(root, target)| {
                target.starts_with(&root) && !target.starts_with(root.join(".git"))
            });
        if !inside {
            return Some(Version::LinkOutside);
        }
        // A link inside the VMS: the version of what it points at.
        let target = std::fs::metadata(&file).ok()?;
        if target.is_dir() {
            return None;
        }
        return Some(hash_file(&file, target.len()));
    }
    Some(hash_file(&file, meta.len()))
}

fn hash_file(file: &Path, size: u64) -> Version {
    if size > LARGEST_HASHED {
        return Version::TooLarge(size);
    }
    let mut bytes = Vec::with_capacity(size as usize);
    match std::fs::File::open(file).and_then(|f| f.take(LARGEST_HASHED + 1).read_to_end(&mut bytes))
    {
        Ok(_) if bytes.len() as u64 > LARGEST_HASHED => Version::TooLarge(bytes.len() as u64),
        Ok(_) => Version::Content(super::files::etag(&bytes)),
        // Unreadable (permissions, gone meanwhile): a version no content can have.
        Err(err) => Version::Content(format!("unreadable:{}", err.kind())),
    }
}

fn git_head(vms_dir: &Path) -> Option<GitHead> {
    let repo = git2::Repository::open(vms_dir).ok()?;
    let branch = super::git::current_branch(&repo);
    let head = repo.head().ok().and_then(|h| h.target());
    let upstream = repo
        .find_branch(&branch, git2::BranchType::Local)
        .ok()
        .and_then(|b| b.upstream().ok())
        .and_then(|u| u.get().target());
    Some(GitHead {
        branch,
        head: head.map(|h| h.to_string()),
        upstream: upstream.map(|u| u.to_string()),
        merging: repo.state() == git2::RepositoryState::Merge,
    })
}

impl Shared {
    fn initial_snapshot(&self) {
        for vms in vms_folders(&self.root) {
            let dir = self.root.join(&vms);
            let mut paths = Vec::new();
            walk(&dir, "", &mut paths);
            for path in paths {
                let mut snapshot = lock(&self.snapshot);
                let files = snapshot.files.entry(vms.clone()).or_default();
                // An IDE write that came first knows better.
                if !files.contains_key(&path)
                    && let Some(version) = version_of(&dir, &path)
                {
                    files.insert(path, version);
                }
            }
            if let Some(head) = git_head(&dir) {
                lock(&self.snapshot).git.insert(vms, head);
            }
        }
    }

    fn process(&self, batch: Batch) {
        let mut candidates: BTreeMap<String, BTreeSet<String>> = batch.paths;
        let mut git: BTreeSet<String> = batch.git;
        let mut full: BTreeSet<String> = batch.whole;
        if batch.rescan {
            full.extend(vms_folders(&self.root));
            full.extend(lock(&self.snapshot).files.keys().cloned());
        }
        for vms in &full {
            git.insert(vms.clone());
            candidates
                .entry(vms.clone())
                .or_default()
                .insert(String::new());
        }
        let mut events: BTreeMap<String, (Vec<FileChange>, Option<GitHead>)> = BTreeMap::new();
        for (vms, paths) in candidates {
            let dir = self.root.join(&vms);
            let mut changes = BTreeMap::new();
            for path in paths {
                self.compare(&vms, &dir, &path, &mut changes);
            }
            if !changes.is_empty() {
                events.entry(vms).or_default().0 = changes.into_values().collect();
            }
        }
        for vms in git {
            let dir = self.root.join(&vms);
            let head = git_head(&dir);
            let mut snapshot = lock(&self.snapshot);
            let changed = snapshot.git.get(&vms) != head.as_ref();
            match head {
                Some(head) if changed => {
                    snapshot.git.insert(vms.clone(), head.clone());
                    events.entry(vms).or_default().1 = Some(head);
                }
                None => {
                    snapshot.git.remove(&vms);
                }
                Some(_) => {}
            }
        }
        if events.is_empty() {
            return;
        }
        let mut log = lock(&self.log);
        for (vms, (files, git)) in events {
            log.seq += 1;
            let event = ChangeEvent {
                seq: log.seq,
                vms,
                files,
                git,
            };
            log.events.push_back(event);
            if log.events.len() > RETAINED {
                log.events.pop_front();
            }
        }
        let seq = log.seq;
        drop(log);
        self.seq.send_replace(seq);
    }

    /// Compares `path` (a file, a folder, or `""` for the whole VMS) with the snapshot and
    /// records the differences in `changes`.
    fn compare(
        &self,
        vms: &str,
        dir: &Path,
        path: &str,
        changes: &mut BTreeMap<String, FileChange>,
    ) {
        let absolute = if path.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(path)
        };
        let meta = std::fs::symlink_metadata(&absolute);
        let on_disk: Vec<String> = match &meta {
            Ok(m) if m.is_dir() => {
                let mut files = Vec::new();
                walk(&absolute, path, &mut files);
                files
            }
            Ok(_) => vec![path.to_owned()],
            Err(_) => Vec::new(),
        };
        // Files the snapshot has at or under `path` that are no longer there.
        let known: Vec<String> = {
            let snapshot = lock(&self.snapshot);
            snapshot
                .files
                .get(vms)
                .map(|files| {
                    files
                        .keys()
                        .filter(|k| {
                            path.is_empty()
                                || *k == path
                                || k.strip_prefix(path).is_some_and(|r| r.starts_with('/'))
                        })
                        .cloned()
                        .collect()
                })
                .unwrap_or_default()
        };
        let present: BTreeSet<&String> = on_disk.iter().collect();
        for gone in known.iter().filter(|k| !present.contains(k)) {
            let mut snapshot = lock(&self.snapshot);
            // Checked again under the lock: an IDE write may have just created it.
            if std::fs::symlink_metadata(dir.join(gone)).is_ok() {
                continue;
            }
            if let Some(files) = snapshot.files.get_mut(vms)
                && files.remove(gone).is_some()
            {
                changes.insert(
                    gone.clone(),
                    FileChange {
                        path: gone.clone(),
                        change: "deleted",
                        etag: None,
                        note: None,
                        size: None,
                    },
                );
            }
        }
        for file in on_disk {
            // Read and compare under the lock, so an IDE write cannot slip in between.
            let mut snapshot = lock(&self.snapshot);
            let version = version_of(dir, &file);
            let files = snapshot.files.entry(vms.to_owned()).or_default();
            let old = files.get(&file).cloned();
            if old == version {
                continue;
            }
            let change = match (&old, &version) {
                (_, None) => "deleted",
                (None, Some(_)) => "created",
                (Some(_), Some(_)) => "modified",
            };
            match &version {
                Some(v) => files.insert(file.clone(), v.clone()),
                None => files.remove(&file),
            };
            let (etag, note, size) = match version {
                Some(Version::Content(etag)) => (Some(etag), None, None),
                Some(Version::TooLarge(size)) => (None, Some("too_large"), Some(size)),
                Some(Version::LinkOutside) => (None, Some("link_outside"), None),
                None => (None, None, None),
            };
            changes.insert(
                file.clone(),
                FileChange {
                    path: file,
                    change,
                    etag,
                    note,
                    size,
                },
            );
        }
    }
}

/// The longest a poll waits for an event.
pub const LONGEST_POLL: Duration = Duration::from_secs(25);

pub(super) fn routes(routes: super::ApiRoutes) -> super::ApiRoutes {
    routes.route("/events", &["get"], axum::routing::get(events))
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    #[serde(default)]
    after: Option<u64>,
    #[serde(default)]
    stream: Option<String>,
    /// Seconds to wait at most (default and maximum 25).
    #[serde(default)]
    timeout: Option<u64>,
}

/// `GET /events?after=<seq>&stream=<id>&timeout=<s>`: a long poll. Without `after` it answers
/// at once with the current position. With it, it answers as soon as there are events newer
/// than `after`, or with none after `timeout` seconds (25 at most). Long polling rather than
/// `EventSource`, because the UI's requests carry `Authorization: Bearer`, which an
/// `EventSource` cannot send.
async fn events(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    super::Query(query): super::Query<EventsQuery>,
) -> super::Json<EventsAnswer> {
    let watch = state.watch();
    let mut changed = watch.subscribe();
    let wait = query
        .timeout
        .map_or(LONGEST_POLL, Duration::from_secs)
        .min(LONGEST_POLL);
    let deadline = tokio::time::Instant::now() + wait;
    watch.wait_ready(wait).await;
    loop {
        // Mark the current value seen before looking, so an event published in between
        // wakes the wait below.
        changed.borrow_and_update();
        let answer = watch.since(query.after, query.stream.as_deref());
        if query.after.is_none() || answer.reset || !answer.events.is_empty() {
            return super::Json(answer);
        }
        tokio::select! {
            result = tokio::time::timeout_at(deadline, changed.changed()) => match result {
                Ok(Ok(())) => continue,
                // Timed out, or the watcher is gone: answer "nothing new".
                _ => return super::Json(answer),
            },
            // A pending poll must not hold up a graceful shutdown for 25 s.
            () = shutting_down() => return super::Json(answer),
        }
    }
}

/// Set once the server is shutting down: pending polls answer at once.
static POLLS_ENDED: std::sync::OnceLock<watch::Sender<bool>> = std::sync::OnceLock::new();

fn polls_ended() -> &'static watch::Sender<bool> {
    POLLS_ENDED.get_or_init(|| watch::channel(false).0)
}

/// Makes every pending and future `GET /events` poll of this process answer at once. Call it
/// from the shutdown future given to `axum::serve(…).with_graceful_shutdown`, so an open IDE's
/// pending poll does not hold a graceful shutdown for up to [`LONGEST_POLL`]. (The handler does
/// not listen to signals itself: registering a SIGTERM handler would stop a process that
/// relies on SIGTERM's default action, like the desktop app, from terminating.)
pub fn end_long_polls() {
    polls_ended().send_replace(true);
}

async fn shutting_down() {
    let mut ended = polls_ended().subscribe();
    let _ = ended.wait_for(|ended| *ended).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch_of(root: &Path, paths: &[&str]) -> Batch {
        let mut batch = Batch::default();
        for p in paths {
            batch.add_path(root, &root.join(p));
        }
        batch
    }

    #[test]
    fn notifications_are_filtered_to_what_matters() {
        let root = Path::new("/w");
        let batch = batch_of(
            root,
            &[
                ".starweave/ide.db-wal",
                "g/.git/objects/ab/cdef",
                "g/.git/index",
                "g/.git/logs/HEAD",
                "g/.git/refs/heads/main.lock",
                "g/functions/.a.js.0123.swtmp",
                "Not-A-Vms/x",
            ],
        );
        assert!(batch.is_empty(), "{batch:?}");
        let batch = batch_of(
            root,
            &[
                "g/functions/a.js",
                "g/.git/HEAD",
                "h/.git/refs/heads/feature",
                "k",
            ],
        );
        assert_eq!(
            batch.paths.get("g").unwrap().iter().collect::<Vec<_>>(),
            ["functions/a.js"]
        );
        assert_eq!(batch.git.iter().collect::<Vec<_>>(), ["g", "h"]);
        assert_eq!(batch.whole.iter().collect::<Vec<_>>(), ["k"]);
    }
}
