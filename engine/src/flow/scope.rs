//! Variables of a run, by scope.
//!
//! The process has the root scope; each embedded sub-process and each multi-instance
//! instance gets a child scope. The rule:
//!
//! - **Reads** see every enclosing scope; the innermost value of a name wins.
//! - **Writes** go to the innermost scope that already has the name. A name no scope has yet
//!   is created in the innermost scope, so it stays local: it disappears when the
//!   sub-process (or instance) ends, unless an output mapping of the sub-process
//!   (`sw:output`, an expression over `result`, the map of its local variables) copies it out.
//!
//! Parallel branches share their scope; each read or write takes a short lock, never held
//! across an `await` nor while code runs.
//!
//! A scope keeps its map behind an `Arc` (copy on write): a Rhai script or expression over
//! the root scope borrows the map through a second reference taken under the lock, which is
//! released before the code runs. Parallel multi-instance instances run on other threads and
//! write to the root scope; they never wait for a script to end (their blocked writes would
//! hold a tokio worker thread). A write made while such a borrow is alive copies the map
//! once; otherwise (every run without parallel instances) the map is changed in place.

use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde_json::{Map, Value};

/// One scope of variables.
#[derive(Debug, Default)]
pub(crate) struct VarScope {
    vars: RwLock<Arc<Map<String, Value>>>,
    parent: Option<Arc<VarScope>>,
}

impl VarScope {
    /// The root scope of a process, holding its input.
    pub(crate) fn root(vars: Map<String, Value>) -> Arc<Self> {
        Arc::new(VarScope {
            vars: RwLock::new(Arc::new(vars)),
            parent: None,
        })
    }

    /// A child scope with `locals`.
    pub(crate) fn child(parent: &Arc<VarScope>, locals: Map<String, Value>) -> Arc<Self> {
        Arc::new(VarScope {
            vars: RwLock::new(Arc::new(locals)),
            parent: Some(parent.clone()),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Arc<Map<String, Value>>> {
        self.vars.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Arc<Map<String, Value>>> {
        self.vars.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `f` with every visible variable, as they were when it was called. The root
    /// scope lends its map without a copy and without holding its lock while `f` runs (see
    /// the module docs); a child scope gives a merged copy.
    pub(crate) fn with_visible<R>(&self, f: impl FnOnce(&Map<String, Value>) -> R) -> R {
        match &self.parent {
            None => {
                let vars = Arc::clone(&self.read());
                f(&vars)
            }
            Some(_) => f(&self.visible()),
        }
    }

    /// A copy of every visible variable.
    pub(crate) fn visible(&self) -> Map<String, Value> {
        let mut out = match &self.parent {
            Some(parent) => parent.visible(),
            None => Map::new(),
        };
        for (name, value) in self.read().iter() {
            out.insert(name.clone(), value.clone());
        }
        out
    }

    /// A copy of this scope's own variables.
    pub(crate) fn locals(&self) -> Map<String, Value> {
        Map::clone(&self.read())
    }

    /// This scope's own variables, moved out: for the end of a run, when nothing reads the
    /// scope any more (the answer is built from them without copying each value).
    pub(crate) fn take_locals(&self) -> Map<String, Value> {
        let vars = std::mem::take(&mut *self.write());
        Arc::try_unwrap(vars).unwrap_or_else(|shared| Map::clone(&shared))
    }

    fn has(&self, name: &str) -> bool {
        self.read().contains_key(name) || self.parent.as_ref().is_some_and(|p| p.has(name))
    }

    /// Sets a variable following the scoping rule of the module docs.
    pub(crate) fn set(&self, name: &str, value: Value) {
        if let Some(parent) = &self.parent
            && !self.read().contains_key(name)
            && parent.has(name)
        {
            parent.set(name, value);
            return;
        }
        // One hash of the name: `insert` replaces an existing value in its place. The map
        // is copied only while a script still reads the previous one (`with_visible`).
        Arc::make_mut(&mut self.write()).insert(name.to_owned(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn writes_go_to_the_owner_and_new_names_stay_local() {
        let root = VarScope::root(json!({"a": 1}).as_object().cloned().unwrap_or_default());
        let child = VarScope::child(&root, Map::new());
        child.set("a", json!(2));
        child.set("b", json!(3));
        assert_eq!(Value::Object(root.locals()), json!({"a": 2}));
        assert_eq!(Value::Object(child.locals()), json!({"b": 3}));
        assert_eq!(Value::Object(child.visible()), json!({"a": 2, "b": 3}));
    }

    #[test]
    fn a_write_does_not_wait_for_code_reading_the_root_scope() {
        let root = VarScope::root(json!({"a": 1}).as_object().cloned().unwrap_or_default());
        let seen = root.with_visible(|vars| {
            // Another thread (a parallel instance) writes while the code still runs: the
            // lock must be free, and the code keeps the variables it started with.
            let (done, finished) = std::sync::mpsc::channel();
            let writer = {
                let root = root.clone();
                std::thread::spawn(move || {
                    root.set("a", json!(2));
                    let _ = done.send(());
                })
            };
            let wrote = finished.recv_timeout(std::time::Duration::from_secs(10));
            let seen = vars.get("a").cloned();
            // On failure the writer is still blocked: returning releases it, then join.
            (wrote.is_ok(), seen, writer)
        });
        let (wrote, seen, writer) = seen;
        let _ = writer.join();
        assert!(wrote, "the write waited for the code to end");
        assert_eq!(seen, Some(json!(1)));
        assert_eq!(Value::Object(root.locals()), json!({"a": 2}));
    }

    #[test]
    fn take_locals_moves_the_variables_out() {
        let root = VarScope::root(
            json!({"a": [1, 2]})
                .as_object()
                .cloned()
                .unwrap_or_default(),
        );
        root.set("b", json!("x"));
        assert_eq!(
            Value::Object(root.take_locals()),
            json!({"a": [1, 2], "b": "x"})
        );
        assert_eq!(Value::Object(root.locals()), json!({}));
    }
}
