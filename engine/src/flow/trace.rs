//! Recording a run's trace. The interpreter holds an `Option<TraceSink>`: with tracing off
//! every recording site is one `None` check and nothing is built.

use std::sync::Mutex;

use serde_json::Value;
use starweave_model::trace::{ElementKind, Trace, TraceError, TraceStep};
use tokio::time::Instant;

use crate::compile::graph::{Node, NodeKind};
use crate::run::RunError;

/// Most steps a trace records; the steps of a run past them are counted, not kept.
pub const MAX_TRACE_STEPS: usize = 10_000;

/// Largest input or output value a step keeps, in bytes of JSON; a larger one is replaced
/// by a note saying so.
pub const MAX_TRACE_VALUE_BYTES: usize = 256 << 10;

/// Most bytes of JSON all the values of one trace keep; values past it are replaced by a
/// note, so that a loop over a large scope cannot fill the memory of the process tracing it.
pub const MAX_TRACE_BYTES: usize = 32 << 20;

/// The index [`TraceSink::begin`] gives a step it did not record: nothing is found there.
const NOT_RECORDED: usize = usize::MAX;

/// Collects the steps of one run.
#[derive(Debug)]
pub(crate) struct TraceSink {
    start: Instant,
    steps: Mutex<Steps>,
}

#[derive(Debug, Default)]
struct Steps {
    list: Vec<TraceStep>,
    dropped: u64,
    value_bytes: usize,
}

impl Steps {
    /// `value`, or a note in its place when it is larger than a step may keep or than what
    /// is left of the trace's budget.
    fn keep(&mut self, value: Value) -> Value {
        let room = MAX_TRACE_VALUE_BYTES.min(MAX_TRACE_BYTES - self.value_bytes);
        match crate::script::json_size(&value, room) {
            Some(size) => {
                self.value_bytes += size;
                value
            }
            None if room < MAX_TRACE_VALUE_BYTES => Value::String(format!(
                "(left out: the trace already holds {} MiB of values)",
                MAX_TRACE_BYTES >> 20
            )),
            None => Value::String(format!(
                "(left out: more than {} KiB of JSON)",
                MAX_TRACE_VALUE_BYTES >> 10
            )),
        }
    }
}

impl TraceSink {
    pub(crate) fn new() -> Self {
        TraceSink {
            start: Instant::now(),
            steps: Mutex::new(Steps::default()),
        }
    }

    fn offset_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Steps> {
        self.steps.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a step; returns its index for [`TraceSink::end`].
    pub(crate) fn begin(
        &self,
        node: &Node,
        parent: Option<usize>,
        iteration: Option<u32>,
    ) -> usize {
        let step = TraceStep {
            element_id: node.id.to_string(),
            element_kind: element_kind(&node.kind),
            name: node.name.as_deref().map(str::to_owned),
            parent,
            iteration,
            start_offset_us: self.offset_us(),
            duration_us: 0,
            input: None,
            output: None,
            error: None,
            taken_flows: Vec::new(),
        };
        let mut steps = self.lock();
        if steps.list.len() >= MAX_TRACE_STEPS {
            steps.dropped += 1;
            return NOT_RECORDED;
        }
        steps.list.push(step);
        steps.list.len() - 1
    }

    /// Sets a step's input.
    pub(crate) fn input(&self, step: usize, input: Value) {
        let mut steps = self.lock();
        if step < steps.list.len() {
            let input = steps.keep(input);
            steps.list[step].input = Some(input);
        }
    }

    /// Ends a step with its output or error.
    pub(crate) fn end(&self, step: usize, output: Option<Value>, error: Option<&RunError>) {
        let now = self.offset_us();
        let mut steps = self.lock();
        if step < steps.list.len() {
            let output = output.map(|v| steps.keep(v));
            let s = &mut steps.list[step];
            s.duration_us = now.saturating_sub(s.start_offset_us);
            s.output = output;
            s.error = error.map(|e| TraceError {
                code: e.code.clone(),
                message: e.message.clone(),
            });
        }
    }

    /// Records a flow taken when leaving the step's element.
    pub(crate) fn taken(&self, step: usize, flow: &str) {
        if let Some(s) = self.lock().list.get_mut(step) {
            s.taken_flows.push(flow.to_owned());
        }
    }

    /// The finished trace.
    pub(crate) fn finish(&self, function: &str) -> Trace {
        let steps = std::mem::take(&mut *self.lock());
        Trace {
            function: function.to_owned(),
            steps: steps.list,
            duration_us: self.offset_us(),
            dropped_steps: steps.dropped,
        }
    }
}

fn element_kind(kind: &NodeKind) -> ElementKind {
    match kind {
        NodeKind::Start => ElementKind::StartEvent,
        NodeKind::End => ElementKind::EndEvent,
        NodeKind::ErrorEnd { .. } => ElementKind::ErrorEndEvent,
        NodeKind::TerminateEnd => ElementKind::TerminateEndEvent,
        NodeKind::Throw => ElementKind::IntermediateThrowEvent,
        NodeKind::Boundary => ElementKind::BoundaryEvent,
        NodeKind::Noop => ElementKind::Task,
        NodeKind::Script(_) => ElementKind::ScriptTask,
        NodeKind::Call(spec) if spec.call_activity => ElementKind::CallActivity,
        NodeKind::Call(_) => ElementKind::ServiceTask,
        NodeKind::SubProcess {
            transaction: true, ..
        } => ElementKind::Transaction,
        NodeKind::SubProcess { .. } => ElementKind::SubProcess,
        NodeKind::Exclusive => ElementKind::ExclusiveGateway,
        NodeKind::Parallel => ElementKind::ParallelGateway,
        NodeKind::Inclusive => ElementKind::InclusiveGateway,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_value_over_the_step_limit_is_replaced_by_a_note() {
        let mut steps = Steps::default();
        let small = json!({"a": [1, 2, 3]});
        assert_eq!(steps.keep(small.clone()), small);
        assert_eq!(steps.value_bytes, small.to_string().len());
        let big = Value::String("x".repeat(MAX_TRACE_VALUE_BYTES));
        let kept = steps.keep(big);
        assert_eq!(kept, json!("(left out: more than 256 KiB of JSON)"));
        assert_eq!(steps.value_bytes, small.to_string().len());
    }

    #[test]
    fn values_past_the_trace_budget_are_replaced_by_a_note() {
        let mut steps = Steps::default();
        // Just under the step limit once quoted.
        let value = Value::String("y".repeat(MAX_TRACE_VALUE_BYTES - 2));
        let fit = MAX_TRACE_BYTES / MAX_TRACE_VALUE_BYTES;
        for _ in 0..fit {
            assert_eq!(steps.keep(value.clone()), value);
        }
        assert_eq!(steps.value_bytes, MAX_TRACE_BYTES);
        assert_eq!(
            steps.keep(value),
            json!("(left out: the trace already holds 32 MiB of values)")
        );
        // Even a small value: the budget is spent.
        assert_eq!(
            steps.keep(json!(1)),
            json!("(left out: the trace already holds 32 MiB of values)")
        );
    }
}
