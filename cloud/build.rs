//! Embeds files into the `starweave` binary so it works from any directory:
//!
//! - the example VMS of `assets/examples/` (the IDE workspace starts with them), always;
//! - the built IDE UI, when the env var `STARWEAVE_UI_DIST` names its folder at compile time.
//!
//! Both become tables of `(path, bytes)` (`include_bytes!` of absolute paths) in
//! `$OUT_DIR/embedded.rs`, which `src/ide/embedded.rs` includes.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::{env, fs};

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("set by cargo"));
    let examples = manifest_dir.join("../assets/examples");
    println!("cargo:rerun-if-changed={}", examples.display());
    println!("cargo:rerun-if-env-changed=STARWEAVE_UI_DIST");

    let mut out = String::new();
    out.push_str("/// The example VMS: (example name, path in the VMS, content).\n");
    out.push_str("pub static EXAMPLE_FILES: &[(&str, &str, &[u8])] = &[\n");
    let mut example_files = Vec::new();
    if examples.is_dir() {
        list(&examples, &examples, &mut example_files);
    }
    for (relative, absolute) in &example_files {
        // `bff-aggregation/functions/x.js` → ("bff-aggregation", "functions/x.js").
        let Some((example, path)) = relative.split_once('/') else {
            continue;
        };
        println!("cargo:rerun-if-changed={}", absolute.display());
        let _ = writeln!(
            out,
            "    ({example:?}, {path:?}, include_bytes!({:?})),",
            absolute.display().to_string()
        );
    }
    out.push_str("];\n\n");

    out.push_str(
        "/// The built UI: (path, content type, content). Empty when the UI is not built in.\n",
    );
    out.push_str("pub static UI_FILES: &[(&str, &str, &[u8])] = &[\n");
    if let Some(dist) = env::var_os("STARWEAVE_UI_DIST").filter(|d| !d.is_empty()) {
        let dist = PathBuf::from(dist);
        let dist = fs::canonicalize(&dist).unwrap_or_else(|err| {
            panic!("STARWEAVE_UI_DIST={}: {err}", dist.display());
        });
        assert!(
            dist.join("index.html").is_file(),
            "STARWEAVE_UI_DIST={} has no index.html: build the UI first",
            dist.display()
        );
        println!("cargo:rerun-if-changed={}", dist.display());
        let mut ui_files = Vec::new();
        list(&dist, &dist, &mut ui_files);
        for (relative, absolute) in &ui_files {
            println!("cargo:rerun-if-changed={}", absolute.display());
            let _ = writeln!(
                out,
                "    ({relative:?}, {:?}, include_bytes!({:?})),",
                content_type(relative),
                absolute.display().to_string()
            );
        }
    }
    out.push_str("];\n");
    fs::write(out_dir.join("embedded.rs"), out).expect("OUT_DIR is writable");
}

/// Every file below `dir`, as (path relative to `root` with `/`, absolute path), sorted.
fn list(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .filter_map(Result::ok)
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            list(root, &path, files);
        } else if path.is_file() {
            let relative = path
                .strip_prefix(root)
                .expect("listed below root")
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            files.push((relative, path));
        }
    }
}

/// The content type served for a UI file, by extension.
fn content_type(path: &str) -> &'static str {
    let extension = path.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
    match extension.to_ascii_lowercase().as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "ico" => "image/x-icon",
        "webp" => "image/webp",
        "woff" => "font/woff",
        "woff2" => "font/woff2",
        "ttf" => "font/ttf",
        "otf" => "font/otf",
        "txt" => "text/plain; charset=utf-8",
        "xml" => "application/xml",
        _ => "application/octet-stream",
    }
}
