//! The VMS (visual microservice): its vocabulary and its on-disk format.
//!
//! A VMS is a directory kept in Git:
//!
//! ```text
//! vms.yaml                 name, description, env var declarations, vendored npm dependencies
//! functions/<name>.js      code function (JavaScript), or .rhai (Rhai), or .bpmn (BPMN process)
//! functions/<name>.yaml    the function's parameters, errors and settings
//! connectors/<name>.yaml   a connector and its methods
//! triggers.yaml            the triggers, each naming one function
//! tests/<function>/<case>.yaml   test cases
//! .env.local               this machine's own env values, never committed ([`local_env`])
//! ```
//!
//! [`Vms`] is the whole of it in memory; [`disk`] turns files into a `Vms` plus diagnostics
//! and back, byte for byte stable. [`params`] holds the parameter model shared by functions
//! and connector methods.

pub mod connector;
pub mod disk;
pub mod env;
pub mod function;
pub mod local_env;
pub mod outline;
pub mod params;
pub mod template;
pub mod test_case;
pub mod trigger;

#[cfg(test)]
mod doc_examples;

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

pub use connector::Connector;
pub use disk::{VmsDocument, VmsFiles, read_vms, write_vms};
pub use env::EnvVar;
pub use function::{Function, FunctionBody, FunctionSpec};
pub use params::{ParamType, Parameter};
pub use template::{Template, template_vms};
pub use test_case::TestCase;
pub use trigger::Trigger;

/// A whole VMS in memory.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Vms {
    /// The VMS's name (`vms.yaml`), unique within its team.
    pub name: String,
    /// What the service does, for people (`vms.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The env vars its deployments must provide (`vms.yaml`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// Vendored npm packages for JavaScript functions, name → version (`vms.yaml`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub dependencies: IndexMap<String, String>,
    /// Functions by name (`functions/`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub functions: BTreeMap<String, Function>,
    /// Connectors by name (`connectors/`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub connectors: BTreeMap<String, Connector>,
    /// Triggers, in file order (`triggers.yaml`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<Trigger>,
    /// Test cases: function name → case name → case (`tests/`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tests: BTreeMap<String, BTreeMap<String, TestCase>>,
    /// Files kept verbatim: those Starweave does not model (README, vendored packages,
    /// descriptor sets…) and model files that failed to load, so that saving never loses them.
    /// Paths are relative with `/`. When a path here is also produced from the model,
    /// this copy is what gets written; remove it to regenerate the file.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub other_files: BTreeMap<String, Vec<u8>>,
}

/// The contents of `vms.yaml`.
///
/// ```yaml
/// name: shop-bff
/// description: Backend for the shop front end.
/// env:
/// - name: USERS_API_URL
/// - name: USERS_API_TOKEN
///   secret: true
/// dependencies:
///   dayjs: 1.11.13
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VmsManifest {
    /// See [`Vms::name`].
    pub name: String,
    /// See [`Vms::description`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// See [`Vms::env`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<EnvVar>,
    /// See [`Vms::dependencies`].
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub dependencies: IndexMap<String, String>,
}

impl Vms {
    /// The `vms.yaml` part of the VMS.
    pub fn manifest(&self) -> VmsManifest {
        VmsManifest {
            name: self.name.clone(),
            description: self.description.clone(),
            env: self.env.clone(),
            dependencies: self.dependencies.clone(),
        }
    }

    /// Replaces the `vms.yaml` part of the VMS.
    pub fn set_manifest(&mut self, manifest: VmsManifest) {
        self.name = manifest.name;
        self.description = manifest.description;
        self.env = manifest.env;
        self.dependencies = manifest.dependencies;
    }

    /// The env var declared with this name.
    pub fn env_var(&self, name: &str) -> Option<&EnvVar> {
        self.env.iter().find(|e| e.name == name)
    }
}

/// Serde helpers shared by the VMS types.
mod serde_util {
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    /// For `skip_serializing_if`.
    pub(crate) fn is_false(b: &bool) -> bool {
        !*b
    }

    /// Deserializes an optional JSON value so that an explicit `null` is `Some(Null)`, not
    /// `None`: with `#[serde(default)]`, a missing key stays `None`.
    pub(crate) fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
        Value::deserialize(d).map(Some)
    }
}
