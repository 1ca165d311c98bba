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

/// The most cells of the longest-common-subsequence table [`line_diff`] fills (a `usize`
/// each: 32 MiB); a larger difference is shown as its expected lines, then its actual ones.
const MAX_DIFF_CELLS: usize = 4 << 20;

/// A unified-style line diff (`-` expected, `+` actual, two spaces for common lines): the
/// common first and last lines as they are, the middle from the longest common subsequence
/// of its lines when that fits [`MAX_DIFF_CELLS`] (its table grows with the product of the
/// two line counts, and test outputs can be large).
pub fn line_diff(expected: &str, actual: &str) -> String {
    let a: Vec<&str> = expected.lines().collect();
    let b: Vec<&str> = actual.lines().collect();
    let head = a.iter().zip(&b).take_while(|(x, y)| x == y).count();
    let tail = a[head..]
        .iter()
        .rev()
        .zip(b[head..].iter().rev())
        .take_while(|(x, y)| x == y)
        .count();
    let (a_mid, b_mid) = (&a[head..a.len() - tail], &b[head..b.len() - tail]);
    let mut out = String::new();
    let mut line = |mark: &str, text: &str| {
        out.push_str(mark);
        out.push_str(text);
        out.push('\n');
    };
    for text in &a[..head] {
        line("  ", text);
    }
    let cells = (a_mid.len() + 1).saturating_mul(b_mid.len() + 1);
    if cells > MAX_DIFF_CELLS {
        for text in a_mid {
            line("- ", text);
        }
        for text in b_mid {
            line("+ ", text);
        }
    } else {
        let width = b_mid.len() + 1;
        let mut lcs = vec![0usize; cells];
        for i in (0..a_mid.len()).rev() {
            for j in (0..b_mid.len()).rev() {
                lcs[i * width + j] = if a_mid[i] == b_mid[j] {
                    lcs[(i + 1) * width + j + 1] + 1
                } else {
                    lcs[(i + 1) * width + j].max(lcs[i * width + j + 1])
                };
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < a_mid.len() || j < b_mid.len() {
            if i < a_mid.len() && j < b_mid.len() && a_mid[i] == b_mid[j] {
                line("  ", a_mid[i]);
                i += 1;
                j += 1;
            } else if i < a_mid.len()
                && (j == b_mid.len() || lcs[(i + 1) * width + j] >= lcs[i * width + j + 1])
            {
                line("- ", a_mid[i]);
                i += 1;
            } else {
                line("+ ", b_mid[j]);
                j += 1;
            }
        }
    }
    for text in &a[a.len() - tail..] {
        line("  ", text);
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
        assert_eq!(line_diff("a\nb", "a\nb"), "  a\n  b\n");
        assert_eq!(line_diff("", "x"), "+ x\n");
        assert_eq!(
            line_diff("a\nb\nc\nd", "b\nc\nx"),
            "- a\n  b\n  c\n- d\n+ x\n"
        );
    }

    #[test]
    fn a_large_difference_is_diffed_without_a_quadratic_table() {
        // 30,000 lines each, all different in the middle: a full table would be 7 GB.
        let expected: String = (0..30_000).map(|i| format!("e{i}\n")).collect();
        let actual: String = (0..30_000).map(|i| format!("a{i}\n")).collect();
        let diff = line_diff(
            &format!("head\n{expected}tail"),
            &format!("head\n{actual}tail"),
        );
        let lines: Vec<&str> = diff.lines().collect();
        assert_eq!(lines.len(), 60_002);
        assert_eq!(lines[0], "  head");
        assert_eq!(lines[1], "- e0");
        assert_eq!(lines[30_001], "+ a0");
        assert_eq!(lines[60_001], "  tail");
    }
}
