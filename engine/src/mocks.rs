//! Mocks: configured answers that replace connector methods and functions during a run.
//!
//! A mock is keyed by `connector.method` (a connector method) or by a function's name (a
//! code function, a BPMN function or a component). When a run reaches a mocked target it
//! does not call it: it takes the mock's next answer — a result or an error — and goes on
//! as if the call had returned it. A mock with `calls` answers each call in turn and
//! repeats its last answer. Test cases (`tests/<function>/<case>.yaml`) carry their mocks in
//! the same shape, see [`starweave_model::vms::test_case::Mock`].

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use indexmap::IndexMap;
use serde_json::Value;
use starweave_model::vms::test_case::{Mock, MockError};

use crate::run::RunError;

/// One answer of a mock.
#[derive(Debug, Clone, PartialEq)]
pub enum MockAnswer {
    /// The call returns this value.
    Result(Value),
    /// The call raises this BPMN error.
    Error {
        /// The error code boundary events match.
        code: String,
        /// The message.
        message: String,
    },
}

#[derive(Debug)]
struct MockEntry {
    answers: Vec<MockAnswer>,
    next: AtomicUsize,
}

/// The mocks of a run, by key. Each run should get its own (the answer sequence advances).
#[derive(Debug, Default)]
pub struct Mocks {
    entries: HashMap<String, MockEntry>,
}

impl Mocks {
    /// No mocks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) the answers for `key`.
    pub fn insert(&mut self, key: impl Into<String>, answers: Vec<MockAnswer>) {
        self.entries.insert(
            key.into(),
            MockEntry {
                answers,
                next: AtomicUsize::new(0),
            },
        );
    }

    /// The mocks of a test case (or of a mocks file, which has the same shape).
    pub fn from_model(mocks: &IndexMap<String, Mock>) -> Self {
        let mut out = Mocks::new();
        for (key, mock) in mocks {
            let answers = if mock.calls.is_empty() {
                vec![answer(mock.result.as_ref(), mock.error.as_ref())]
            } else {
                mock.calls
                    .iter()
                    .map(|c| answer(c.result.as_ref(), c.error.as_ref()))
                    .collect()
            };
            out.insert(key.clone(), answers);
        }
        out
    }

    /// Reads a mocks file: YAML or JSON mapping each key to a mock
    /// (`{result: …}`, `{error: {code, message}}` or `{calls: [...]}`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let model: IndexMap<String, Mock> =
            serde_yaml_ng::from_str(text).map_err(|err| format!("invalid mocks: {err}"))?;
        Ok(Self::from_model(&model))
    }

    /// Whether there are no mocks at all (the run then skips every lookup).
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The next answer for `key`, when it is mocked.
    pub(crate) fn answer(&self, key: &str) -> Option<Result<Value, RunError>> {
        let entry = self.entries.get(key)?;
        let index = entry.next.fetch_add(1, Ordering::Relaxed);
        let answer = entry
            .answers
            .get(index.min(entry.answers.len().saturating_sub(1)));
        Some(match answer {
            None => Ok(Value::Null),
            Some(MockAnswer::Result(value)) => Ok(value.clone()),
            Some(MockAnswer::Error { code, message }) => Err(RunError::bpmn(code, message)),
        })
    }
}

fn answer(result: Option<&Value>, error: Option<&MockError>) -> MockAnswer {
    match error {
        Some(error) => MockAnswer::Error {
            code: error.code.clone(),
            message: error.message.clone(),
        },
        None => MockAnswer::Result(result.cloned().unwrap_or(Value::Null)),
    }
}
