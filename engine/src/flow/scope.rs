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
//! across an `await`.

use std::sync::{Arc, RwLock, RwLockReadGuard};

use serde_json::{Map, Value};

/// One scope of variables.
#[derive(Debug, Default)]
pub(crate) struct VarScope {
    vars: RwLock<Map<String, Value>>,
    parent: Option<Arc<VarScope>>,
}

impl VarScope {
    /// The root scope of a process, holding its input.
    pub(crate) fn root(vars: Map<String, Value>) -> Arc<Self> {
        Arc::new(VarScope {
            vars: RwLock::new(vars),
            parent: None,
        })
    }

    /// A child scope with `locals`.
    pub(crate) fn child(parent: &Arc<VarScope>, locals: Map<String, Value>) -> Arc<Self> {
        Arc::new(VarScope {
            vars: RwLock::new(locals),
            parent: Some(parent.clone()),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Map<String, Value>> {
        self.vars.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Calls `f` with every visible variable. The root scope lends its map without a copy.
    pub(crate) fn with_visible<R>(&self, f: impl FnOnce(&Map<String, Value>) -> R) -> R {
        match &self.parent {
            None => f(&self.read()),
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
        self.read().clone()
    }

    /// This scope's own variables, moved out: for the end of a run, when nothing reads the
    /// scope any more (the answer is built from them without copying each value).
    pub(crate) fn take_locals(&self) -> Map<String, Value> {
        std::mem::take(&mut *self.vars.write().unwrap_or_else(|p| p.into_inner()))
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
        // One hash of the name: `insert` replaces an existing value in its place.
        self.vars
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(name.to_owned(), value);
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
