//! ES module resolution from a VMS's vendored files, held in memory.
//!
//! Module names are `sw<id>:/<path>`: `<id>` picks the compiled module's file map, `<path>` is a
//! path in it. Relative imports resolve against the importing file; bare imports (`"dayjs"`,
//! `"@scope/pkg/sub"`) look in `node_modules/` folders from the importing file's folder up to the
//! root, and a package's entry is `exports["."]` (or a string `exports`), then `module`, then
//! `main`, then `index.js`. Nothing else resolves: there is no `std`, `os` or file system.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::rc::Rc;
use std::sync::Arc;

use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::{Ctx, Module};
use serde_json::Value;

/// The files of compiled modules, by module id, shared by a worker's resolver and loader.
pub(super) type ModuleFiles = Rc<RefCell<HashMap<u64, Arc<BTreeMap<String, String>>>>>;

/// The module name of `path` in module `id`'s files.
pub(super) fn module_name(id: u64, path: &str) -> String {
    format!("sw{id}:/{path}")
}

fn split_name(name: &str) -> Option<(u64, &str)> {
    let rest = name.strip_prefix("sw")?;
    let (id, path) = rest.split_once(":/")?;
    Some((id.parse().ok()?, path))
}

/// Resolves and loads modules from [`ModuleFiles`].
#[derive(Debug, Clone)]
pub(super) struct VendoredModules {
    pub(super) files: ModuleFiles,
}

fn normalize(path: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    Some(parts.join("/"))
}

fn parent(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn join(dir: &str, rest: &str) -> String {
    if dir.is_empty() {
        rest.to_owned()
    } else {
        format!("{dir}/{rest}")
    }
}

fn find_file(files: &BTreeMap<String, String>, path: &str) -> Option<String> {
    let candidates = [
        path.to_owned(),
        format!("{path}.js"),
        format!("{path}.mjs"),
        format!("{path}/index.js"),
        format!("{path}/index.mjs"),
    ];
    candidates
        .into_iter()
        .find(|candidate| files.contains_key(candidate))
}

/// The entry file named by a package.json, relative to the package folder.
fn package_entry(package_json: &str) -> Option<String> {
    let manifest: Value = serde_json::from_str(package_json).ok()?;
    let from_exports = |exports: &Value| -> Option<String> {
        match exports {
            Value::String(path) => Some(path.clone()),
            Value::Object(map) => {
                let dot = map.get(".").unwrap_or(exports);
                match dot {
                    Value::String(path) => Some(path.clone()),
                    Value::Object(conditions) => ["import", "module", "default"]
                        .iter()
                        .find_map(|key| conditions.get(*key).and_then(Value::as_str))
                        .map(str::to_owned),
                    _ => None,
                }
            }
            _ => None,
        }
    };
    manifest
        .get("exports")
        .and_then(from_exports)
        .or_else(|| {
            manifest
                .get("module")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .or_else(|| {
            manifest
                .get("main")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
}

fn resolve_bare(
    files: &BTreeMap<String, String>,
    from_dir: &str,
    specifier: &str,
) -> Option<String> {
    let segments: Vec<&str> = specifier.splitn(3, '/').collect();
    let (package, subpath) = if specifier.starts_with('@') && segments.len() >= 2 {
        let package = format!("{}/{}", segments[0], segments[1]);
        let subpath = segments.get(2).map(|s| (*s).to_owned());
        (package, subpath)
    } else {
        let (package, subpath) = specifier
            .split_once('/')
            .map_or((specifier, None), |(p, s)| (p, Some(s.to_owned())));
        (package.to_owned(), subpath)
    };
    let mut dir = from_dir.to_owned();
    loop {
        let package_dir = join(&dir, &format!("node_modules/{package}"));
        let manifest = files.get(&format!("{package_dir}/package.json"));
        if manifest.is_some()
            || files
                .keys()
                .any(|key| key.starts_with(&format!("{package_dir}/")))
        {
            let target = match &subpath {
                Some(sub) => join(&package_dir, sub),
                None => {
                    let entry = manifest
                        .and_then(|m| package_entry(m))
                        .unwrap_or_else(|| "index.js".into());
                    normalize(&join(&package_dir, &entry))?
                }
            };
            return find_file(files, &target);
        }
        if dir.is_empty() {
            return None;
        }
        dir = parent(&dir).to_owned();
    }
}

impl Resolver for VendoredModules {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        let not_found = || {
            rquickjs::Error::new_resolving_message(base, name, "no such module in the VMS's files")
        };
        let (id, base_path) = split_name(base).ok_or_else(not_found)?;
        let all = self.files.borrow();
        let files = all.get(&id).ok_or_else(not_found)?;
        let from_dir = parent(base_path);
        let found = if name.starts_with("./") || name.starts_with("../") {
            normalize(&join(from_dir, name)).and_then(|path| find_file(files, &path))
        } else if let Some(absolute) = name.strip_prefix('/') {
            normalize(absolute).and_then(|path| find_file(files, &path))
        } else {
            resolve_bare(files, from_dir, name)
        };
        found
            .map(|path| module_name(id, &path))
            .ok_or_else(not_found)
    }
}

impl Loader for VendoredModules {
    fn load<'js>(
        &mut self,
        ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, rquickjs::module::Declared>> {
        let source = split_name(name).and_then(|(id, path)| {
            self.files
                .borrow()
                .get(&id)
                .and_then(|files| files.get(path).cloned())
        });
        let source = source.ok_or_else(|| rquickjs::Error::new_loading(name))?;
        Module::declare(ctx.clone(), name, source)
    }
}
