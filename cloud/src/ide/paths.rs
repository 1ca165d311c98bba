//! Names and paths from requests, checked before the file system is touched.
//!
//! A VMS name is `^[a-z0-9][a-z0-9_-]{0,62}$`. A file path is relative to the VMS root with
//! `/` separators: absolute paths, `..`, `.`, empty segments, backslashes, NUL, control
//! characters and anything under `.git/` are refused. After the syntax check, the resolved
//! location is canonicalized (the deepest part that exists) and must stay inside the
//! canonical VMS directory, so a symbolic link cannot lead out of it. Reads and writes follow
//! a link in the last segment to its target; deleting or replacing a file does not
//! ([`resolve_entry_inside`]), so they act on the link itself.

use std::path::{Path, PathBuf};

use super::error::ApiError;

/// Checks a VMS name.
pub fn check_vms_name(name: &str) -> Result<(), ApiError> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if first_ok && rest_ok && name.len() <= 63 {
        Ok(())
    } else {
        Err(ApiError::InvalidName(format!(
            "`{}` is not a VMS name: use 1 to 63 lowercase letters, digits, `-` and `_`, starting with a letter or digit",
            shown(name)
        )))
    }
}

/// Checks the syntax of a file path relative to a VMS root and returns its segments.
pub fn check_relative_path(path: &str) -> Result<Vec<&str>, ApiError> {
    let refuse = |why: &str| Err(ApiError::InvalidPath(format!("`{}` {why}", shown(path))));
    if path.is_empty() {
        return refuse("is empty");
    }
    if path.contains('\0') || path.chars().any(char::is_control) {
        return refuse("contains a control character");
    }
    if path.contains('\\') {
        return refuse("contains a backslash; separate folders with `/`");
    }
    if path.starts_with('/') {
        return refuse("is absolute; give a path relative to the VMS");
    }
    if path.len() > 1024 {
        return refuse("is longer than 1024 bytes");
    }
    let segments: Vec<&str> = path.split('/').collect();
    for segment in &segments {
        match *segment {
            "" => return refuse("has an empty segment"),
            "." | ".." => return refuse("has a `.` or `..` segment"),
            s if s.eq_ignore_ascii_case(".git") => {
                return refuse("is inside `.git`, which the IDE does not edit");
            }
            // `C:` and similar would be absolute on Windows.
            s if s.contains(':') => return refuse("contains `:`"),
            _ => {}
        }
    }
    Ok(segments)
}

/// Resolves a checked relative path under `root` and makes sure that, following symbolic
/// links, it stays inside `root`. The file itself need not exist. A symbolic link as the last
/// segment is followed too: reading and writing through a link inside the VMS reach its target.
pub fn resolve_inside(root: &Path, path: &str) -> Result<PathBuf, ApiError> {
    let segments = check_relative_path(path)?;
    let canonical_root = std::fs::canonicalize(root)?;
    let out = follow(&canonical_root, &segments, path)?;
    refuse_git_dir(&canonical_root, &out, path)?;
    Ok(out)
}

/// Resolves a checked relative path under `root` for an operation on the directory entry
/// itself (deleting it, replacing it with another version): the folders on the way are
/// resolved and checked like [`resolve_inside`], the last segment is kept as given. A
/// symbolic link is then acted on as a link, never through to its target.
pub fn resolve_entry_inside(root: &Path, path: &str) -> Result<PathBuf, ApiError> {
    let segments = check_relative_path(path)?;
    let canonical_root = std::fs::canonicalize(root)?;
    let Some((name, folders)) = segments.split_last() else {
        return Err(ApiError::InvalidPath("the path is empty".into()));
    };
    let mut out = follow(&canonical_root, folders, path)?;
    if out.exists() && !out.is_dir() {
        return Err(ApiError::InvalidPath(format!(
            "`{}` goes below a file, which cannot hold files",
            shown(path)
        )));
    }
    out.push(name);
    refuse_git_dir(&canonical_root, &out, path)?;
    Ok(out)
}

/// `segments` under `canonical_root`, with the deepest part that exists canonicalized (every
/// symbolic link on the way followed); refused when that leads outside the root or through a
/// broken link.
fn follow(canonical_root: &Path, segments: &[&str], path: &str) -> Result<PathBuf, ApiError> {
    let mut resolved = canonical_root.to_path_buf();
    for segment in segments {
        resolved.push(segment);
    }
    // Canonicalize the deepest ancestor that exists (the path itself when it exists).
    let mut existing = resolved.as_path();
    let mut rest = Vec::new();
    loop {
        match std::fs::symlink_metadata(existing) {
            Ok(_) => break,
            Err(_) => {
                rest.push(existing.file_name().unwrap_or_default().to_owned());
                existing = existing.parent().unwrap_or(canonical_root);
            }
        }
    }
    let canonical = match std::fs::canonicalize(existing) {
        Ok(c) => c,
        // A dangling symbolic link: refuse rather than write through it.
        Err(_) => {
            return Err(ApiError::InvalidPath(format!(
                "`{}` goes through a broken symbolic link",
                shown(path)
            )));
        }
    };
    if !canonical.starts_with(canonical_root) {
        return Err(ApiError::InvalidPath(format!(
            "`{}` leads outside the VMS through a symbolic link",
            shown(path)
        )));
    }
    // What is left to create must go below a folder, not below a file.
    if !rest.is_empty() && !canonical.is_dir() {
        return Err(ApiError::InvalidPath(format!(
            "`{}` goes below a file, which cannot hold files",
            shown(path)
        )));
    }
    let mut out = canonical;
    for part in rest.iter().rev() {
        out.push(part);
    }
    Ok(out)
}

/// The `.git` check again, on what the links resolved to.
fn refuse_git_dir(canonical_root: &Path, resolved: &Path, path: &str) -> Result<(), ApiError> {
    let inside = resolved
        .strip_prefix(canonical_root)
        .unwrap_or(Path::new(""));
    if inside
        .components()
        .next()
        .is_some_and(|c| c.as_os_str().eq_ignore_ascii_case(".git"))
    {
        return Err(ApiError::InvalidPath(format!(
            "`{}` leads into `.git`",
            shown(path)
        )));
    }
    Ok(())
}

/// A name or path as shown in messages: at most 100 characters, control characters escaped.
fn shown(text: &str) -> String {
    let mut out: String = text
        .chars()
        .take(100)
        .flat_map(char::escape_debug)
        .collect();
    if text.chars().count() > 100 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for good in ["a", "bff-aggregation", "x_1", "0abc"] {
            assert!(check_vms_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "A", "a/b", "a.b", "..", &"a".repeat(64), "é"] {
            assert!(check_vms_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relative_paths() {
        for good in [
            "vms.yaml",
            "functions/a.js",
            "tests/f/case.yaml",
            ".gitignore",
        ] {
            assert!(check_relative_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/",
            "./a",
            "a\\b",
            "a\0b",
            ".git/config",
            ".GIT/config",
            "c:/x",
        ] {
            assert!(check_relative_path(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn symlinks_out_of_the_root_are_refused() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
        std::os::unix::fs::symlink(root.path().join("functions"), root.path().join("fn")).unwrap();
        std::fs::create_dir(root.path().join("functions")).unwrap();
        assert!(matches!(
            resolve_inside(root.path(), "out/secret"),
            Err(ApiError::InvalidPath(_))
        ));
        assert!(matches!(
            resolve_inside(root.path(), "out/new/file"),
            Err(ApiError::InvalidPath(_))
        ));
        let inside = resolve_inside(root.path(), "fn/a.js").unwrap();
        assert!(inside.ends_with("functions/a.js"));
        let new = resolve_inside(root.path(), "connectors/new.yaml").unwrap();
        assert!(new.ends_with("connectors/new.yaml"));
    }

    #[test]
    fn a_path_below_a_file_is_refused() {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("vms.yaml"), "name: x\n").unwrap();
        std::os::unix::fs::symlink("vms.yaml", root.path().join("link.yaml")).unwrap();
        for path in ["vms.yaml/x", "vms.yaml/a/b", "link.yaml/x"] {
            let Err(ApiError::InvalidPath(message)) = resolve_inside(root.path(), path) else {
                panic!("{path} is not refused");
            };
            assert!(message.contains("below a file"), "{message}");
            assert!(matches!(
                resolve_entry_inside(root.path(), path),
                Err(ApiError::InvalidPath(_))
            ));
        }
    }

    #[test]
    fn an_entry_is_resolved_without_following_its_last_link() {
        let outside = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let canonical = std::fs::canonicalize(root.path()).unwrap();
        std::fs::write(root.path().join("vms.yaml"), "name: x\n").unwrap();
        std::os::unix::fs::symlink("vms.yaml", root.path().join("current.yaml")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.path().join("out")).unwrap();
        std::os::unix::fs::symlink(".", root.path().join("here")).unwrap();
        std::os::unix::fs::symlink("gone", root.path().join("dangling")).unwrap();
        std::os::unix::fs::symlink(".git", root.path().join("git")).unwrap();
        std::fs::create_dir(root.path().join(".git")).unwrap();

        assert_eq!(
            resolve_entry_inside(root.path(), "current.yaml").unwrap(),
            canonical.join("current.yaml")
        );
        assert_eq!(
            resolve_inside(root.path(), "current.yaml").unwrap(),
            canonical.join("vms.yaml")
        );
        assert_eq!(
            resolve_entry_inside(root.path(), "here/vms.yaml").unwrap(),
            canonical.join("vms.yaml")
        );
        assert_eq!(
            resolve_entry_inside(root.path(), "dangling").unwrap(),
            canonical.join("dangling")
        );
        assert_eq!(
            resolve_entry_inside(root.path(), "out").unwrap(),
            canonical.join("out")
        );
        for refused in ["out/secret", "dangling/x", "git/config"] {
            assert!(
                matches!(
                    resolve_entry_inside(root.path(), refused),
                    Err(ApiError::InvalidPath(_))
                ),
                "{refused}"
            );
        }
    }
}
