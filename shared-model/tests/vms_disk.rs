//! Data-driven tests of the on-disk VMS format: every directory under `testdata/vms/` is a
//! case. Directories named `broken*` must report their problems (snapshotted with
//! file:line:col); every other directory must load cleanly and save byte for byte as it is.
//!
//! `STARWEAVE_BLESS=1 cargo test --test vms_disk` rewrites clean directories in canonical
//! form (review the Git diff before committing).

use std::path::Path;

use starweave_model::vms::{VmsFiles, read_vms, write_vms};

fn load_dir(root: &Path) -> VmsFiles {
    fn walk(root: &Path, dir: &Path, files: &mut VmsFiles) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(root, &path, files);
            } else {
                let rel = path.strip_prefix(root).unwrap();
                let rel: Vec<String> = rel
                    .iter()
                    .map(|c| c.to_string_lossy().into_owned())
                    .collect();
                files.insert(rel.join("/"), std::fs::read(&path).unwrap());
            }
        }
    }
    let mut files = VmsFiles::new();
    walk(root, root, &mut files);
    files
}

fn cases() -> Vec<(String, std::path::PathBuf)> {
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/vms");
    let mut cases: Vec<_> = std::fs::read_dir(&base)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .collect();
    cases.sort();
    assert!(
        cases.len() >= 2,
        "expected the clean and broken test VMS in {base:?}"
    );
    cases
}

#[test]
fn clean_vms_load_without_diagnostics_and_save_byte_for_byte() {
    for (name, dir) in cases()
        .into_iter()
        .filter(|(n, _)| !n.starts_with("broken"))
    {
        let files = load_dir(&dir);
        let doc = read_vms(&files);
        let shown: Vec<String> = doc.diagnostics.iter().map(ToString::to_string).collect();
        assert!(shown.is_empty(), "{name}: {shown:#?}");
        let saved = write_vms(&doc.vms);
        if std::env::var_os("STARWEAVE_BLESS").is_some() {
            for (path, bytes) in &saved {
                let target = dir.join(path);
                std::fs::create_dir_all(target.parent().unwrap()).unwrap();
                std::fs::write(target, bytes).unwrap();
            }
            continue;
        }
        for (path, bytes) in &files {
            let again = saved
                .get(path)
                .unwrap_or_else(|| panic!("{name}: {path} not saved"));
            assert_eq!(
                String::from_utf8_lossy(again),
                String::from_utf8_lossy(bytes),
                "{name}: {path} changed on save"
            );
        }
        assert_eq!(
            saved.keys().collect::<Vec<_>>(),
            files.keys().collect::<Vec<_>>(),
            "{name}"
        );
        // And the saved files load to the same model.
        assert_eq!(read_vms(&saved).vms, doc.vms, "{name}");
    }
}

#[test]
fn clean_vms_model_summary() {
    let (_, dir) = cases().into_iter().find(|(n, _)| n == "shop").unwrap();
    let doc = read_vms(&load_dir(&dir));
    let vms = &doc.vms;
    let summary = serde_json::json!({
        "name": vms.name,
        "env": vms.env.iter().map(|e| &e.name).collect::<Vec<_>>(),
        "functions": vms.functions.iter().map(|(n, f)| format!("{n}.{}", f.extension())).collect::<Vec<_>>(),
        "connectors": vms.connectors.iter().map(|(n, c)| {
            let methods: Vec<&str> = c.methods().iter().map(|m| m.name).collect();
            format!("{n} ({}): {}", c.kind().as_str(), methods.join(", "))
        }).collect::<Vec<_>>(),
        "triggers": vms.triggers.iter().map(|t| format!("{} → {}", t.kind().as_str(), t.function())).collect::<Vec<_>>(),
        "tests": vms.tests.iter().map(|(f, cases)| format!("{f}: {}", cases.keys().cloned().collect::<Vec<_>>().join(", "))).collect::<Vec<_>>(),
        "other_files": vms.other_files.keys().collect::<Vec<_>>(),
    });
    insta::assert_json_snapshot!(summary);
    // The source map points at items and their fields.
    let at = |loc: starweave_model::vms::disk::Location| {
        let pos = loc.pos.unwrap();
        format!("{}:{}:{}", loc.file, pos.line, pos.column)
    };
    assert_eq!(at(doc.source_map.trigger(2, None)), "triggers.yaml:17:1");
    assert_eq!(
        at(doc.source_map.trigger(2, Some("connector"))),
        "triggers.yaml:19:3"
    );
    assert_eq!(
        at(doc
            .source_map
            .connector("users", "methods[1].input[1].name")),
        "connectors/users.yaml:43:5"
    );
    assert_eq!(
        at(doc
            .source_map
            .function(vms, "get_user", "output[0].fields[1]")),
        "functions/get_user.yaml:15:3"
    );
    assert_eq!(
        at(doc.source_map.bpmn_element("nightly_report", "load")),
        "functions/nightly_report.bpmn:5:5"
    );
}

#[test]
fn broken_vms_report_every_problem_with_positions() {
    for (name, dir) in cases().into_iter().filter(|(n, _)| n.starts_with("broken")) {
        let files = load_dir(&dir);
        let doc = read_vms(&files);
        let shown: Vec<String> = doc.diagnostics.iter().map(ToString::to_string).collect();
        insta::assert_snapshot!(format!("{name}_diagnostics"), shown.join("\n"));
        // What could be read was read, and nothing is lost on save.
        let saved = write_vms(&doc.vms);
        for (path, bytes) in &files {
            assert!(
                saved.contains_key(path),
                "{name}: {path} would be lost on save"
            );
            if doc
                .diagnostics
                .iter()
                .any(|d| d.file.as_deref() == Some(path) && d.is_error())
            {
                assert_eq!(
                    &saved[path], bytes,
                    "{name}: broken {path} must be kept verbatim"
                );
            }
        }
        assert_eq!(read_vms(&saved).vms, doc.vms, "{name}: load → save → load");
        insta::assert_json_snapshot!(
            format!("{name}_loaded"),
            serde_json::json!({
                "functions": doc.vms.functions.keys().collect::<Vec<_>>(),
                "connectors": doc.vms.connectors.keys().collect::<Vec<_>>(),
                "triggers": doc.vms.triggers.iter().map(|t| t.function()).collect::<Vec<_>>(),
                "tests": doc.vms.tests.keys().collect::<Vec<_>>(),
                "kept_verbatim": doc.vms.other_files.keys().collect::<Vec<_>>(),
            })
        );
    }
}
