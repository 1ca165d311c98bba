//! Test cases: run a VMS's `tests/<function>/<case>.yaml` against its program.
//!
//! Each case runs its function with its input and mocks (and the connectors given, which
//! only unmocked calls reach). It passes when the run's output equals the expected
//! `output` — numbers compare by value, so `3` equals `3.0` — or when the run fails with
//! the expected error `code` (and `message`, when given).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use starweave_model::vms::TestCase;

use crate::compile::Program;
use crate::mocks::Mocks;
use crate::run::{RunConfig, RunError, run_function};

/// The result of one test case.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseReport {
    /// The function tested.
    pub function: String,
    /// The case's name (its file stem).
    pub case: String,
    /// What the run gave.
    pub actual: Result<Value, RunError>,
    /// Why it failed, with a line diff of expected against actual; `None` when it passed.
    pub failure: Option<String>,
}

impl CaseReport {
    /// Whether the case passed.
    pub fn passed(&self) -> bool {
        self.failure.is_none()
    }
}

/// Runs every case of `tests` (function → case name → case), one after the other, each with
/// a fresh copy of `config` carrying the case's mocks.
pub async fn run_tests(
    program: &Arc<Program>,
    tests: &BTreeMap<String, BTreeMap<String, TestCase>>,
    config: &RunConfig,
) -> Vec<CaseReport> {
    let mut reports = Vec::new();
    for (function, cases) in tests {
        for (name, case) in cases {
            let mut config = config.clone();
            config.mocks = Arc::new(Mocks::from_model(&case.mocks));
            config.trace = false;
            let outcome = run_function(program, function, case.input.clone(), config).await;
            let failure = judge(case, &outcome.output);
            reports.push(CaseReport {
                function: function.clone(),
                case: name.clone(),
                actual: outcome.output,
                failure,
            });
        }
    }
    reports
}

/// Why `actual` does not meet the case's expectation, or `None`.
pub fn judge(case: &TestCase, actual: &Result<Value, RunError>) -> Option<String> {
    match (&case.error, &case.output, actual) {
        (Some(expected), _, Err(error)) => {
            let message_ok = expected
                .message
                .as_ref()
                .is_none_or(|m| *m == error.message);
            if expected.code == error.code && message_ok {
                None
            } else {
                Some(format!(
                    "expected error {}{}, got error {}: {}",
                    expected.code,
                    expected
                        .message
                        .as_ref()
                        .map(|m| format!(": {m}"))
                        .unwrap_or_default(),
                    error.code,
                    error.message
                ))
            }
        }
        (Some(expected), _, Ok(output)) => Some(format!(
            "expected error {}, got output {}",
            expected.code,
            pretty(output)
        )),
        (None, Some(expected), Ok(output)) => {
            if json_equal(expected, output) {
                None
            } else {
                Some(format!(
                    "output differs (- expected, + actual):\n{}",
                    line_diff(&pretty(expected), &pretty(output))
                ))
            }
        }
        (None, _, Err(error)) => Some(format!(
            "expected an output, got error {}: {}",
            error.code, error.message
        )),
        (None, None, Ok(_)) => None,
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// JSON equality where numbers compare by value (`3` equals `3.0`).
pub fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_equal(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

/// A unified-style line diff (`-` expected, `+` actual, two spaces for common lines),
/// from the longest common subsequence of lines.
pub fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j) = (0, 0);
    let mut out = String::new();
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out.push_str(&format!("  {}\n", a[i]));
            i += 1;
            j += 1;
        } else if i < a.len() && (j == b.len() || lcs[i + 1][j] >= lcs[i][j + 1]) {
            out.push_str(&format!("- {}\n", a[i]));
            i += 1;
        } else {
            out.push_str(&format!("+ {}\n", b[j]));
            j += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_compare_by_value_and_diffs_mark_lines() {
        assert!(json_equal(&json!({"a": 3}), &json!({"a": 3.0})));
        assert!(!json_equal(&json!({"a": 3}), &json!({"a": 4})));
        assert_eq!(line_diff("a\nb\nc", "a\nx\nc"), "  a\n- b\n+ x\n  c\n");
    }
}
