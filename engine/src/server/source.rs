//! Where a deployment's VMS comes from: a directory, a `.tar`/`.tar.gz` file, or a tarball
//! sent inline (base64) — all read into [`VmsFiles`] with a fingerprint of their content.

use std::hash::{Hash, Hasher};
use std::io::Read;
use std::path::{Component, Path};

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use starweave_model::vms::VmsFiles;

/// The largest VMS the engine reads, in bytes of file content (directories and tarballs).
pub const MAX_VMS_BYTES: u64 = 64 << 20;

/// The most a tarball may hold in all, skipped entries (hidden files, links) included, in
/// bytes of content after decompression: skipping an entry still decompresses it.
const MAX_TARBALL_CONTENT: u64 = 2 * MAX_VMS_BYTES;

/// The most entries a tarball or a directory tree may have.
pub const MAX_ENTRIES: usize = 20_000;

/// Where to read a VMS from. In JSON: `{"path": "/srv/vms/shop"}` (a directory or a
/// `.tar`/`.tar.gz` file on the engine's machine) or `{"tarball_base64": "H4sI…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Source {
    /// A directory or a tarball (gzip-compressed or not) on the engine's file system.
    Path(String),
    /// A tarball (gzip-compressed or not), base64-encoded.
    TarballBase64(String),
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The file or directory could not be read.
    #[error("cannot read {path}: {error}")]
    Io {
        /// What was being read.
        path: String,
        /// The error.
        error: std::io::Error,
    },
    /// The tarball is not a valid (gzip) tar archive.
    #[error("not a valid tarball: {0}")]
    Tarball(String),
    /// The base64 text does not decode.
    #[error("the tarball is not valid base64: {0}")]
    Base64(String),
    /// The VMS is larger than [`MAX_VMS_BYTES`] (or its tarball holds more than twice that).
    #[error("the VMS is larger than {MAX_VMS_BYTES} bytes")]
    TooLarge,
    /// The tarball or directory has more than [`MAX_ENTRIES`] entries.
    #[error("the VMS has more than {MAX_ENTRIES} files and folders")]
    TooManyEntries,
}

/// A VMS's files and a fingerprint of their names and content.
#[derive(Debug, Clone)]
pub struct SourceFiles {
    /// The files, by path relative to the VMS root, `/`-separated.
    pub files: VmsFiles,
    /// A hash of every path and byte: equal fingerprints mean the same VMS.
    pub fingerprint: u64,
}

/// Reads a source. Blocking: call it from a blocking task.
pub fn read_source(source: &Source) -> Result<SourceFiles, SourceError> {
    let files = match source {
        Source::Path(path) => {
            let path = Path::new(path);
            let metadata = std::fs::metadata(path).map_err(|error| io_error(path, error))?;
            if metadata.is_dir() {
                read_dir(path)?
            } else if !metadata.is_file() {
                // A device or a pipe (`/dev/zero`) could be read forever.
                return Err(io_error(
                    path,
                    std::io::Error::other("not a directory or a regular file"),
                ));
            } else if metadata.len() > MAX_TARBALL_CONTENT {
                return Err(SourceError::TooLarge);
            } else {
                let bytes = std::fs::read(path).map_err(|error| io_error(path, error))?;
                read_tarball(&bytes)?
            }
        }
        Source::TarballBase64(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|err| SourceError::Base64(err.to_string()))?;
            read_tarball(&bytes)?
        }
    };
    Ok(SourceFiles {
        fingerprint: fingerprint(&files),
        files,
    })
}

/// A hash of every path and byte of `files`.
pub fn fingerprint(files: &VmsFiles) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    files.hash(&mut hasher);
    hasher.finish()
}

fn io_error(path: &Path, error: std::io::Error) -> SourceError {
    SourceError::Io {
        path: path.display().to_string(),
        error,
    }
}

/// Reads every regular file under `root`, skipping hidden files and folders (`.git`…).
pub fn read_dir(root: &Path) -> Result<VmsFiles, SourceError> {
    let mut files = VmsFiles::new();
    let mut total = 0u64;
    let mut seen = 0usize;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir).map_err(|error| io_error(&dir, error))?;
        for entry in entries {
            let entry = entry.map_err(|error| io_error(&dir, error))?;
            seen += 1;
            if seen > MAX_ENTRIES {
                return Err(SourceError::TooManyEntries);
            }
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') {
                continue;
            }
            let path = entry.path();
            let kind = entry.file_type().map_err(|error| io_error(&path, error))?;
            if kind.is_dir() {
                pending.push(path);
            } else if kind.is_file() {
                // The size first: a huge file is refused without being read.
                let size = entry
                    .metadata()
                    .map_err(|error| io_error(&path, error))?
                    .len();
                if total + size > MAX_VMS_BYTES {
                    return Err(SourceError::TooLarge);
                }
                let bytes = std::fs::read(&path).map_err(|error| io_error(&path, error))?;
                total += bytes.len() as u64;
                if total > MAX_VMS_BYTES {
                    return Err(SourceError::TooLarge);
                }
                let relative = path.strip_prefix(root).unwrap_or(&path);
                files.insert(slash_path(relative), bytes);
            }
        }
    }
    Ok(files)
}

fn slash_path(path: &Path) -> String {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(part) => Some(part.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads a tarball (gzip-compressed when it starts with the gzip magic bytes). When the VMS
/// sits in one top-level folder (`shop/vms.yaml`), that folder becomes the root.
pub fn read_tarball(bytes: &[u8]) -> Result<VmsFiles, SourceError> {
    let reader: Box<dyn Read + '_> = if bytes.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::GzDecoder::new(bytes))
    } else {
        Box::new(bytes)
    };
    let mut archive = tar::Archive::new(reader);
    let mut files = VmsFiles::new();
    let mut total = 0u64;
    // Every entry's declared size, skipped ones too, counted before its data is read: the
    // archive decompresses an entry's data even to skip it.
    let mut content = 0u64;
    let entries = archive
        .entries()
        .map_err(|err| SourceError::Tarball(err.to_string()))?;
    for (index, entry) in entries.enumerate() {
        if index >= MAX_ENTRIES {
            return Err(SourceError::TooManyEntries);
        }
        let mut entry = entry.map_err(|err| SourceError::Tarball(err.to_string()))?;
        content = content.saturating_add(entry.size());
        if content > MAX_TARBALL_CONTENT {
            return Err(SourceError::TooLarge);
        }
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|err| SourceError::Tarball(err.to_string()))?
            .into_owned();
        // Only plain relative paths: no `..`, no absolute paths, no hidden parts.
        let safe = path.components().all(|c| match c {
            Component::Normal(part) => !part.to_string_lossy().starts_with('.'),
            Component::CurDir => true,
            _ => false,
        });
        if !safe {
            continue;
        }
        total += entry.size();
        if total > MAX_VMS_BYTES {
            return Err(SourceError::TooLarge);
        }
        let mut content = Vec::with_capacity(entry.size() as usize);
        entry
            .read_to_end(&mut content)
            .map_err(|err| SourceError::Tarball(err.to_string()))?;
        files.insert(slash_path(&path), content);
    }
    Ok(strip_single_root(files))
}

/// Writes `files` as a gzip-compressed tarball that [`read_tarball`] reads back unchanged.
/// The same files always give the same bytes: entries in path order, mode 0644, no owner,
/// time 0 — so a build's tarball depends on its content alone.
pub fn write_tarball(files: &VmsFiles) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    builder.mode(tar::HeaderMode::Deterministic);
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(content.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        // Writing into memory cannot fail; a path tar cannot hold (over its long-name
        // extension's limits) is the one error left, and VMS paths are short.
        builder
            .append_data(&mut header, path, content.as_slice())
            .expect("a tarball in memory takes every VMS path");
    }
    let encoder = builder.into_inner().expect("a tarball in memory finishes");
    encoder.finish().expect("gzip into memory finishes")
}

fn strip_single_root(files: VmsFiles) -> VmsFiles {
    if files.is_empty() || files.contains_key(starweave_model::vms::disk::MANIFEST_FILE) {
        return files;
    }
    let first = files
        .keys()
        .next()
        .and_then(|k| k.split_once('/'))
        .map(|(root, _)| root.to_owned());
    let Some(root) = first else { return files };
    let prefix = format!("{root}/");
    if !files.keys().all(|k| k.starts_with(&prefix)) {
        return files;
    }
    files
        .into_iter()
        .map(|(k, v)| (k[prefix.len()..].to_owned(), v))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(entries: &[(&str, &str)], gzip: bool) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (path, content) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder
                .append_data(&mut header, path, content.as_bytes())
                .expect("append");
        }
        let tar = builder.into_inner().expect("tar");
        if !gzip {
            return tar;
        }
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut encoder, &tar).expect("gzip");
        encoder.finish().expect("gzip")
    }

    #[test]
    fn tarballs_with_one_root_folder_are_rooted_there() {
        let bytes = tarball(
            &[
                ("shop/vms.yaml", "name: shop\n"),
                ("shop/functions/a.rhai", "1"),
            ],
            true,
        );
        let files = read_tarball(&bytes).expect("read");
        assert_eq!(
            files.keys().collect::<Vec<_>>(),
            ["functions/a.rhai", "vms.yaml"]
        );
    }

    #[test]
    fn plain_tarballs_keep_their_paths_and_skip_hidden_files() {
        let bytes = tarball(&[("vms.yaml", "name: shop\n"), (".git/config", "x")], false);
        let files = read_tarball(&bytes).expect("read");
        assert_eq!(files.keys().collect::<Vec<_>>(), ["vms.yaml"]);
    }

    #[test]
    fn written_tarballs_read_back_the_same_files_and_bytes() {
        let mut files = VmsFiles::new();
        files.insert("vms.yaml".into(), b"name: shop\n".to_vec());
        files.insert("functions/a.rhai".into(), b"1".to_vec());
        files.insert(
            format!("functions/{}.js", "n".repeat(180)),
            vec![0u8, 255, 10, 13],
        );
        files.insert("tests/a/empty.yaml".into(), Vec::new());
        let bytes = write_tarball(&files);
        assert!(bytes.starts_with(&[0x1f, 0x8b]), "gzip");
        assert_eq!(read_tarball(&bytes).expect("read"), files);
        assert_eq!(write_tarball(&files), bytes, "same files, same bytes");
        assert_eq!(
            read_tarball(&write_tarball(&VmsFiles::new())).expect("empty"),
            VmsFiles::new()
        );
    }

    /// A hidden entry is skipped, but skipping decompresses it: its declared size counts,
    /// and a huge one is refused from its header, before any of its data is read.
    #[test]
    fn huge_skipped_entries_are_refused_before_their_data() {
        let mut header = tar::Header::new_gnu();
        header.set_path(".big").expect("path");
        header.set_size(1 << 40);
        header.set_mode(0o644);
        header.set_cksum();
        // The header alone: the terabyte it announces is not there.
        let mut raw = tarball(&[("vms.yaml", "name: shop\n")], false);
        raw.truncate(raw.len() - 1024); // the end-of-archive blocks
        raw.extend_from_slice(header.as_bytes());
        let err = read_tarball(&raw).expect_err("too large");
        assert!(matches!(err, SourceError::TooLarge), "{err}");
    }

    /// A path source that is neither a directory nor a regular file is refused unread.
    #[test]
    fn devices_are_not_sources() {
        let err = read_source(&Source::Path("/dev/zero".into())).expect_err("a device");
        assert!(matches!(err, SourceError::Io { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("not a directory or a regular file"),
            "{err}"
        );
    }

    #[test]
    fn garbage_is_an_error() {
        let err = read_tarball(&[0x1f, 0x8b, 1, 2, 3]).expect_err("garbage");
        assert!(matches!(err, SourceError::Tarball(_)), "{err}");
    }
}
