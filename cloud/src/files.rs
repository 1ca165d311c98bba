//! Reading VMS directories and single files from disk, and writing formatted files back.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context, Result};
use starweave_model::vms::VmsFiles;

/// The largest file the CLI reads into a VMS; bigger files are reported, not loaded.
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// What a command-line path names.
#[derive(Debug)]
pub enum Target {
    /// A VMS directory (it has a `vms.yaml`).
    Vms(PathBuf),
    /// A file inside a VMS: the VMS root and the file's path relative to it, with `/`.
    FileInVms { root: PathBuf, relative: String },
    /// A BPMN file that belongs to no VMS.
    Bpmn(PathBuf),
}

/// Works out what `path` is: a VMS directory, a file in a VMS, or a standalone BPMN file.
pub fn classify(path: &Path) -> Result<Target> {
    let meta = fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.is_dir() {
        if path.join("vms.yaml").is_file() {
            return Ok(Target::Vms(path.to_path_buf()));
        }
        anyhow::bail!(
            "{} is not a VMS directory: it has no vms.yaml (create one with `starweave new`)",
            path.display()
        );
    }
    let absolute = fs::canonicalize(path)?;
    let mut dir = absolute.parent();
    while let Some(d) = dir {
        if d.join("vms.yaml").is_file() {
            let relative = absolute
                .strip_prefix(d)
                .expect("a parent is a prefix")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            // Report paths the way the user typed the VMS root, when the file was given
            // relatively and that way leads to the same folder (not through a link to the
            // file from elsewhere).
            let root = relative_root(path, &relative)
                .filter(|typed| fs::canonicalize(typed).is_ok_and(|typed| typed == d))
                .unwrap_or_else(|| d.to_path_buf());
            return Ok(Target::FileInVms { root, relative });
        }
        dir = d.parent();
    }
    if path.extension().is_some_and(|e| e == "bpmn" || e == "xml") {
        return Ok(Target::Bpmn(path.to_path_buf()));
    }
    anyhow::bail!(
        "{} is neither a VMS directory, a file inside a VMS, nor a .bpmn file",
        path.display()
    )
}

/// For `path` = `a/b/functions/f.bpmn` and `relative` = `functions/f.bpmn`, the root `a/b`.
fn relative_root(path: &Path, relative: &str) -> Option<PathBuf> {
    let mut root = path.to_path_buf();
    for _ in relative.split('/') {
        root = root.parent()?.to_path_buf();
    }
    Some(if root.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        root
    })
}

/// Reads every file of a VMS directory, except Git's own `.git` folder.
pub fn read_vms_dir(root: &Path) -> Result<VmsFiles> {
    let mut files = VmsFiles::new();
    walk(root, root, &mut files)?;
    Ok(files)
}

fn walk(root: &Path, dir: &Path, files: &mut VmsFiles) -> Result<()> {
    let mut entries = fs::read_dir(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?
        .collect::<Result<Vec<_>, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        // The IDE's saves write a hidden `.name.<id>.swtmp` and rename it into place: one
        // seen half-way is not part of the VMS.
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') && name.ends_with(".swtmp") {
            continue;
        }
        let file_type = match entry.file_type() {
            Ok(file_type) => file_type,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => return Err(err.into()),
        };
        if file_type.is_dir() {
            if entry.file_name() == ".git" {
                continue;
            }
            walk(root, &path, files)?;
        } else if file_type.is_file() {
            // A file removed between the listing and the reading is not there any more.
            let len = match entry.metadata() {
                Ok(meta) => meta.len(),
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err.into()),
            };
            if len > MAX_FILE_BYTES {
                anyhow::bail!(
                    "{} is {} MB; files in a VMS are limited to {} MB",
                    path.display(),
                    len / (1024 * 1024),
                    MAX_FILE_BYTES / (1024 * 1024)
                );
            }
            let relative = path
                .strip_prefix(root)
                .expect("walked below root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let bytes = match fs::read(&path) {
                Ok(bytes) => bytes,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => {
                    return Err(err).with_context(|| format!("cannot read {}", path.display()));
                }
            };
            files.insert(relative, bytes);
        }
    }
    Ok(())
}

/// Writes `files` under `root`, creating folders; returns the paths it wrote.
pub fn write_files(root: &Path, files: &VmsFiles) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (relative, bytes) in files {
        let path = root.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link to a file of a VMS, from a folder outside it, names the VMS the file is in.
    #[test]
    fn a_link_to_a_vms_file_names_that_vms() {
        let tmp = tempfile::tempdir().unwrap();
        let svc = tmp.path().join("svc");
        fs::create_dir_all(svc.join("functions")).unwrap();
        fs::write(svc.join("vms.yaml"), "name: svc\n").unwrap();
        fs::write(svc.join("functions/order.bpmn"), "<x/>").unwrap();
        fs::create_dir(tmp.path().join("links")).unwrap();
        let link = tmp.path().join("links/order.bpmn");
        std::os::unix::fs::symlink(svc.join("functions/order.bpmn"), &link).unwrap();
        let Target::FileInVms { root, relative } = classify(&link).unwrap() else {
            panic!("not a file in a VMS");
        };
        assert_eq!(relative, "functions/order.bpmn");
        assert_eq!(
            fs::canonicalize(root).unwrap(),
            fs::canonicalize(&svc).unwrap()
        );
        // Typed the plain way, the root is kept as typed.
        let Target::FileInVms { root, .. } = classify(&svc.join("functions/order.bpmn")).unwrap()
        else {
            panic!("not a file in a VMS");
        };
        assert_eq!(root, svc);
    }
}
