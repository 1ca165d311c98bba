//! Test cases: an input, mocks for what the function calls, and the expected outcome.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::serde_util::present;

/// One test case, in `tests/<function>/<case>.yaml`. Its name is the file stem.
///
/// ```yaml
/// description: An unknown user gives NOT_FOUND.
/// input:
///   id: u-404
/// mocks:
///   users.get_user:
///     error:
///       code: NOT_FOUND
///   audit.log:
///     calls:
///     - result: { ok: true }
///     - error: { code: TIMEOUT, message: slow }
/// error:
///   code: NOT_FOUND
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCase {
    /// What the case checks, for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The function's input.
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub input: Value,
    /// Replacements for connector methods (`connector.method`) and functions (`name`).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub mocks: IndexMap<String, Mock>,
    /// The exact output expected (`output: null` expects `null`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<Value>,
    /// The error expected instead of an output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExpectedError>,
}

/// What a mocked method or function answers.
///
/// Either one answer for every call (`result` or `error`), or `calls`: one answer per
/// successive call, the last repeating.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mock {
    /// The value returned.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub result: Option<Value>,
    /// The error raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<MockError>,
    /// Answers for successive calls.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<MockReply>,
}

/// One answer of a mock in a sequence.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockReply {
    /// The value returned.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub result: Option<Value>,
    /// The error raised.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<MockError>,
}

/// An error a mock raises.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MockError {
    /// The error code.
    pub code: String,
    /// The message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// The error a test expects.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedError {
    /// The error code that must be raised.
    pub code: String,
    /// The message that must come with it, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}
