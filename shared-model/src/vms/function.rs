//! Functions: typed input → typed output, written as code (JavaScript, Rhai) or as a BPMN process.

use serde::{Deserialize, Serialize};

use super::params::Parameter;
use super::serde_util::is_false;
use crate::bpmn::Definitions;

/// A function of a VMS. Its name is its key in [`Vms::functions`](super::Vms::functions)
/// and the stem of its files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Function {
    /// The signature and settings kept in `functions/<name>.yaml`.
    pub spec: FunctionSpec,
    /// What runs: source code or a BPMN process.
    pub body: FunctionBody,
}

/// The contents of `functions/<name>.yaml`: everything about a function except its body.
///
/// ```yaml
/// description: Returns a user with their open orders.
/// timeout_ms: 5000
/// input:
/// - name: id
///   type: string
///   required: true
/// output:
/// - name: user
///   type: object
///   fields:
///   - name: name
///     type: string
/// errors:
/// - code: NOT_FOUND
///   description: No user has this id.
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FunctionSpec {
    /// What the function does, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Longest a run may take, in milliseconds; the engine's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// The fields of the input object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<Parameter>,
    /// The fields of the output object.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<Parameter>,
    /// The error codes the function may raise, so triggers can map them and tests expect them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorDecl>,
    /// Whether the function may be called as a component from other VMS of the team.
    #[serde(default, skip_serializing_if = "is_false")]
    pub public: bool,
}

/// An error code a function declares it may raise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorDecl {
    /// The code, e.g. `NOT_FOUND`; BPMN error events and script errors use the same codes.
    pub code: String,
    /// When it happens, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// What a function runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FunctionBody {
    /// Source code in `functions/<name>.js` or `functions/<name>.rhai`, kept verbatim.
    Code {
        /// The language, which decides the file extension.
        language: CodeLanguage,
        /// The source text exactly as in the file.
        source: String,
    },
    /// A BPMN 2.0 process in `functions/<name>.bpmn`, parsed; saved in canonical form.
    Bpmn {
        /// The parsed BPMN definitions.
        definitions: Box<Definitions>,
    },
}

/// A language for code functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeLanguage {
    /// An ES2023 module exporting `default async function (input, ctx)`; file `.js`.
    JavaScript,
    /// A Rhai script; file `.rhai`.
    Rhai,
}

impl CodeLanguage {
    /// The file extension, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            CodeLanguage::JavaScript => "js",
            CodeLanguage::Rhai => "rhai",
        }
    }
}

impl Function {
    /// A code function with a default spec.
    pub fn code(language: CodeLanguage, source: impl Into<String>) -> Self {
        Function {
            spec: FunctionSpec::default(),
            body: FunctionBody::Code {
                language,
                source: source.into(),
            },
        }
    }

    /// The file extension of the body, without the dot: `js`, `rhai` or `bpmn`.
    pub fn extension(&self) -> &'static str {
        match &self.body {
            FunctionBody::Code { language, .. } => language.extension(),
            FunctionBody::Bpmn { .. } => "bpmn",
        }
    }
}
