//! The engine's state directory (`--state-dir`): the deployments accepted through the admin
//! API, kept on disk so that a restarted engine (a package upgrade, a reboot, a crash) serves
//! them again before it reports ready, without waiting for whoever deployed them to send them
//! again.
//!
//! ```text
//! <state-dir>/
//!   lock                              locked while an engine uses the directory
//!   deployments/<vms>/<version>/
//!     deployment.json                 {"activated": 12, "spec": {…, "source": {"path": "source-….tar.gz"}}}
//!     source-<fingerprint>.tar.gz     the files as loaded, as a deterministic tarball
//! ```
//!
//! * **Crash-safe**: a file is written under a temporary name, synced, then renamed over the
//!   old one, and the directory synced. The source is written before the record that names
//!   it, so `deployment.json` (the commit point) only ever names a complete source. Undeploying
//!   removes `deployment.json` first.
//! * **Order**: `activated` counts up on every accepted deployment. A restart re-applies the
//!   records oldest first, so each VMS's last activated version is its active version again.
//! * **Secrets**: records hold the deployments' env values; files are created with mode 0600
//!   and directories with 0700.
//! * **One engine per directory**: the `lock` file is locked while the engine runs; a second
//!   engine on the same directory refuses to start.
//!
//! Deployments loaded with `--load` are not recorded: the flag loads them again at start.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use super::registry::{DeploymentSpec, LogLevel};
use super::source::Source;

const DEPLOYMENTS: &str = "deployments";
const RECORD: &str = "deployment.json";
const LOCK: &str = "lock";

/// One saved deployment: `deployment.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Record {
    /// The activation counter when it was last deployed (higher is more recent).
    activated: u64,
    /// The spec, its source the name of the tarball beside the record.
    spec: DeploymentSpec,
}

/// A state directory in use by this engine; see the module docs.
#[derive(Debug)]
pub struct StateDir {
    root: PathBuf,
    next: AtomicU64,
    /// Held for the engine's lifetime: the lock goes with the file.
    _lock: File,
}

/// A saved deployment that could not be read back.
#[derive(Debug)]
pub struct Unreadable {
    /// Its record.
    pub path: PathBuf,
    /// Why.
    pub error: String,
}

impl StateDir {
    /// Opens (creating it when missing) and locks the state directory.
    pub fn open(root: &Path) -> io::Result<StateDir> {
        create_dir(&root.join(DEPLOYMENTS))?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(root.join(LOCK))
            .map_err(|err| in_context(err, "cannot open", &root.join(LOCK)))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::ResourceBusy,
                    format!(
                        "the state directory {} is in use by another engine",
                        root.display()
                    ),
                ));
            }
            Err(fs::TryLockError::Error(err)) => {
                return Err(in_context(err, "cannot lock", &root.join(LOCK)));
            }
        }
        let state = StateDir {
            root: root.to_path_buf(),
            next: AtomicU64::new(1),
            _lock: lock,
        };
        let (records, _) = state.records();
        let last = records.iter().map(|(_, r)| r.activated).max().unwrap_or(0);
        state.next.store(last + 1, Ordering::Relaxed);
        Ok(state)
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The saved deployments, oldest activation first, each with its source pointing at its
    /// saved tarball; and the records that could not be read.
    pub fn saved(&self) -> (Vec<DeploymentSpec>, Vec<Unreadable>) {
        let (records, unreadable) = self.records();
        let specs = records.into_iter().map(|(_, r)| r.spec).collect();
        (specs, unreadable)
    }

    /// Records `spec` as the most recently activated deployment of its VMS. `tarball` gives
    /// the files; it is only called when no source with this `fingerprint` is saved yet.
    pub fn save(
        &self,
        spec: &DeploymentSpec,
        fingerprint: u64,
        tarball: impl FnOnce() -> Vec<u8>,
    ) -> io::Result<()> {
        let dir = self.deployment_dir(&spec.vms, &spec.version);
        create_dir(&dir)?;
        let source_name = format!("source-{fingerprint:016x}.tar.gz");
        let source_path = dir.join(&source_name);
        if !source_path.is_file() {
            write_atomically(&source_path, &tarball())?;
        }
        let mut saved = spec.clone();
        saved.source = Source::Path(source_name.clone());
        let record = Record {
            activated: self.next.fetch_add(1, Ordering::Relaxed),
            spec: saved,
        };
        write_record(&dir, &record)?;
        // Earlier sources of this version and leftovers of interrupted writes.
        for entry in fs::read_dir(&dir)
            .map_err(|err| in_context(err, "cannot list", &dir))?
            .flatten()
        {
            let name = entry.file_name().to_string_lossy().into_owned();
            let stale =
                (name.starts_with("source-") && name != source_name) || name.starts_with(".tmp-");
            if stale {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(())
    }

    /// Records that a saved deployment became active again (without being sent again). A
    /// deployment that is not saved (loaded with `--load`) is left alone.
    pub fn reactivate(&self, vms: &str, version: &str) -> io::Result<()> {
        self.update(vms, version, |record| {
            record.activated = self.next.fetch_add(1, Ordering::Relaxed);
        })
    }

    /// Changes a saved deployment's log level. A deployment that is not saved (loaded with
    /// `--load`) is left alone.
    pub fn set_log_level(&self, vms: &str, version: &str, level: LogLevel) -> io::Result<()> {
        self.update(vms, version, |record| record.spec.log_level = Some(level))
    }

    /// Rewrites a saved record with `change`; nothing when it is not saved.
    fn update(&self, vms: &str, version: &str, change: impl FnOnce(&mut Record)) -> io::Result<()> {
        let dir = self.deployment_dir(vms, version);
        let mut record = match read_record(&dir.join(RECORD)) {
            Ok(record) => record,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        change(&mut record);
        write_record(&dir, &record)
    }

    /// Forgets a deployment: its record first (then a restart no longer loads it), then its
    /// files.
    pub fn remove(&self, vms: &str, version: &str) -> io::Result<()> {
        let dir = self.deployment_dir(vms, version);
        match fs::remove_file(dir.join(RECORD)) {
            Ok(()) => sync_dir(&dir)?,
            Err(err) if err.kind() == io::ErrorKind::NotFound => {}
            Err(err) => return Err(in_context(err, "cannot remove", &dir.join(RECORD))),
        }
        let _ = fs::remove_dir_all(&dir);
        // The VMS's folder goes with its last version (fails harmlessly when not empty).
        if let Some(parent) = dir.parent() {
            let _ = fs::remove_dir(parent);
        }
        Ok(())
    }

    fn deployment_dir(&self, vms: &str, version: &str) -> PathBuf {
        // Names are checked before anything is saved: VMS names are letters, digits, `_`
        // and `-`; versions add `.` and `+` but cannot be `.` or `..` alone (see
        // `is_plain_name`, which reading applies too).
        self.root.join(DEPLOYMENTS).join(vms).join(version)
    }

    fn records(&self) -> (Vec<(PathBuf, Record)>, Vec<Unreadable>) {
        let mut records = Vec::new();
        let mut unreadable = Vec::new();
        let base = self.root.join(DEPLOYMENTS);
        for vms in read_dirs(&base) {
            for version in read_dirs(&vms) {
                let path = version.join(RECORD);
                if !path.exists() {
                    continue;
                }
                match read_record(&path).and_then(|r| resolve(&version, r)) {
                    Ok(record) => records.push((path, record)),
                    Err(err) => unreadable.push(Unreadable {
                        path,
                        error: err.to_string(),
                    }),
                }
            }
        }
        records.sort_by_key(|(_, r)| r.activated);
        (records, unreadable)
    }
}

/// Whether `name` can be a path segment under the state directory as it is.
pub fn is_plain_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// Checks a read record against its place and points its source at the saved tarball.
fn resolve(dir: &Path, mut record: Record) -> io::Result<Record> {
    let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidData, message);
    let spec = &record.spec;
    let place = dir.strip_prefix(dir.parent().and_then(Path::parent).unwrap_or(dir));
    let expected = PathBuf::from(&spec.vms).join(&spec.version);
    if place.ok() != Some(expected.as_path()) {
        return Err(invalid(format!(
            "the record is for {}/{}, not for this folder",
            spec.vms, spec.version
        )));
    }
    let Source::Path(name) = &spec.source else {
        return Err(invalid("the record's source is not a saved tarball".into()));
    };
    if !is_plain_name(name) || !name.starts_with("source-") {
        return Err(invalid(format!("`{name}` is not a saved tarball's name")));
    }
    let source = dir.join(name);
    if !source.is_file() {
        return Err(invalid(format!(
            "its tarball {} is missing",
            source.display()
        )));
    }
    record.spec.source = Source::Path(source.display().to_string());
    Ok(record)
}

fn read_record(path: &Path) -> io::Result<Record> {
    let bytes = fs::read(path).map_err(|err| in_context(err, "cannot read", path))?;
    serde_json::from_slice(&bytes).map_err(|err| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a deployment record: {err}", path.display()),
        )
    })
}

fn write_record(dir: &Path, record: &Record) -> io::Result<()> {
    let json = serde_json::to_vec_pretty(record).map_err(io::Error::other)?;
    write_atomically(&dir.join(RECORD), &json)
}

/// Subdirectories of `dir` whose names can be VMS names or versions; none when it is missing.
fn read_dirs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| is_plain_name(&e.file_name().to_string_lossy()))
        .map(|e| e.path())
        .collect()
}

fn create_dir(dir: &Path) -> io::Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|err| in_context(err, "cannot create", dir))
}

/// Writes `bytes` to `path` so that a crash leaves either the old file or the new one.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path.file_name().unwrap_or_default().to_string_lossy();
    let temporary = dir.join(format!(".tmp-{}-{name}", std::process::id()));
    let result = (|| {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    result.map_err(|err| in_context(err, "cannot write", path))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn in_context(err: io::Error, doing: &str, path: &Path) -> io::Error {
    io::Error::new(err.kind(), format!("{doing} {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(vms: &str, version: &str) -> DeploymentSpec {
        DeploymentSpec {
            vms: vms.into(),
            version: version.into(),
            source: Source::TarballBase64(String::new()),
            env: [("TOKEN".to_owned(), "secret".to_owned())].into(),
            concurrency: Some(3),
            timeout_ms: None,
            log_level: None,
        }
    }

    #[test]
    fn saved_deployments_come_back_in_activation_order_with_their_tarballs() {
        let dir = tempfile::tempdir().unwrap();
        {
            let state = StateDir::open(dir.path()).unwrap();
            state
                .save(&spec("shop", "v1"), 1, || b"one".to_vec())
                .unwrap();
            state
                .save(&spec("blog", "7"), 2, || b"two".to_vec())
                .unwrap();
            state
                .save(&spec("shop", "v2"), 3, || b"three".to_vec())
                .unwrap();
            // Re-activating v1 with the same files makes it the most recent, without
            // asking for the tarball again.
            state
                .save(&spec("shop", "v1"), 1, || panic!("already saved"))
                .unwrap();
            state.set_log_level("blog", "7", LogLevel::Debug).unwrap();
            // Made active again without being sent: now the most recent of all.
            state
                .save(&spec("late", "1"), 4, || b"four".to_vec())
                .unwrap();
            state.reactivate("late", "1").unwrap();
            state.reactivate("blog", "7").unwrap();
            state.remove("late", "1").unwrap();
            state.reactivate("late", "1").unwrap();
        }
        let state = StateDir::open(dir.path()).unwrap();
        let (specs, unreadable) = state.saved();
        assert!(unreadable.is_empty(), "{unreadable:?}");
        let order: Vec<_> = specs
            .iter()
            .map(|s| format!("{}/{}", s.vms, s.version))
            .collect();
        assert_eq!(order, ["shop/v2", "shop/v1", "blog/7"]);
        assert_eq!(specs[2].log_level, Some(LogLevel::Debug));
        assert_eq!(specs[1].env["TOKEN"], "secret");
        assert_eq!(specs[1].concurrency, Some(3));
        let Source::Path(path) = &specs[1].source else {
            panic!("{:?}", specs[1].source)
        };
        assert_eq!(fs::read(path).unwrap(), b"one");
        // New activations continue after the saved ones.
        state.reactivate("shop", "v2").unwrap();
        let (specs, _) = state.saved();
        assert_eq!(specs.last().map(|s| s.version.as_str()), Some("v2"));
    }

    #[test]
    fn a_new_source_replaces_the_old_one_and_records_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        state
            .save(&spec("shop", "v1"), 1, || b"old".to_vec())
            .unwrap();
        state
            .save(&spec("shop", "v1"), 9, || b"new".to_vec())
            .unwrap();
        let version_dir = dir.path().join("deployments/shop/v1");
        let mut names: Vec<_> = fs::read_dir(&version_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["deployment.json", "source-0000000000000009.tar.gz"]);
        use std::os::unix::fs::PermissionsExt;
        for name in names {
            let mode = fs::metadata(version_dir.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mode = fs::metadata(&version_dir).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
    }

    #[test]
    fn removed_deployments_stay_removed_and_unknown_ones_are_no_error() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        state
            .save(&spec("shop", "v1"), 1, || b"x".to_vec())
            .unwrap();
        state
            .save(&spec("shop", "v2"), 2, || b"y".to_vec())
            .unwrap();
        state.remove("shop", "v1").unwrap();
        state.remove("shop", "v1").unwrap();
        state.remove("nothing", "here").unwrap();
        // A log level for a deployment that is not saved changes nothing.
        state.set_log_level("shop", "v1", LogLevel::Warn).unwrap();
        let (specs, _) = state.saved();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].version, "v2");
        assert!(!dir.path().join("deployments/shop/v1").exists());
        state.remove("shop", "v2").unwrap();
        assert!(!dir.path().join("deployments/shop").exists());
    }

    #[test]
    fn a_second_engine_cannot_use_the_same_directory() {
        let dir = tempfile::tempdir().unwrap();
        let _first = StateDir::open(dir.path()).unwrap();
        let err = StateDir::open(dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ResourceBusy);
        assert!(
            err.to_string().contains("in use by another engine"),
            "{err}"
        );
    }

    #[test]
    fn damaged_or_misplaced_records_are_reported_not_loaded() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::open(dir.path()).unwrap();
        state.save(&spec("good", "1"), 1, || b"g".to_vec()).unwrap();
        state
            .save(&spec("moved", "1"), 2, || b"m".to_vec())
            .unwrap();
        state.save(&spec("lost", "1"), 3, || b"l".to_vec()).unwrap();
        let base = dir.path().join("deployments");
        // Truncated JSON.
        fs::create_dir_all(base.join("broken/1")).unwrap();
        fs::write(
            base.join("broken/1/deployment.json"),
            b"{\"activated\": 4, \"sp",
        )
        .unwrap();
        // A record copied under another name.
        fs::rename(base.join("moved/1"), base.join("moved/2")).unwrap();
        // Its tarball deleted.
        fs::remove_file(base.join("lost/1/source-0000000000000003.tar.gz")).unwrap();
        // A source escaping its folder.
        fs::create_dir_all(base.join("escape/1")).unwrap();
        let mut hostile = spec("escape", "1");
        hostile.source = Source::Path("../../good/1/source-0000000000000001.tar.gz".into());
        let record = Record {
            activated: 5,
            spec: hostile,
        };
        fs::write(
            base.join("escape/1/deployment.json"),
            serde_json::to_vec(&record).unwrap(),
        )
        .unwrap();
        let (specs, unreadable) = state.saved();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].vms, "good");
        let mut problems: Vec<_> = unreadable.iter().map(|u| u.error.clone()).collect();
        problems.sort();
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems
                .iter()
                .any(|p| p.contains("not a deployment record"))
        );
        assert!(problems.iter().any(|p| p.contains("not for this folder")));
        assert!(problems.iter().any(|p| p.contains("is missing")));
        assert!(
            problems
                .iter()
                .any(|p| p.contains("not a saved tarball's name"))
        );
    }
}
