//! Env var declarations: what a VMS expects its deployments to provide.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::serde_util::{is_false, present};

/// One env var a VMS reads. Values are set per environment at deployment; secrets are
/// encrypted at rest and never shown again.
///
/// ```yaml
/// - name: USERS_API_URL
///   description: Base URL of the users service.
///   default: http://localhost:8081
/// - name: USERS_API_TOKEN
///   secret: true
/// - name: PAGE_SIZE
///   type: number
///   default: 20
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    /// The variable's name, e.g. `USERS_API_URL`.
    pub name: String,
    /// How the text value is read.
    #[serde(
        rename = "type",
        default,
        skip_serializing_if = "EnvVarType::is_default"
    )]
    pub ty: EnvVarType,
    /// The value is a secret.
    #[serde(default, skip_serializing_if = "is_false")]
    pub secret: bool,
    /// The value when a deployment sets none; required otherwise.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub default: Option<Value>,
    /// What it is for, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How an env var's text is turned into a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvVarType {
    /// Text as is.
    #[default]
    String,
    /// A number.
    Number,
    /// `true` or `false`.
    Bool,
    /// A JSON document.
    Json,
}

impl EnvVarType {
    fn is_default(&self) -> bool {
        *self == EnvVarType::String
    }
}
