//! Recording a run's trace. The interpreter holds an `Option<TraceSink>`: with tracing off
//! every recording site is one `None` check and nothing is built.

use std::sync::Mutex;

use serde_json::Value;
use starweave_model::trace::{ElementKind, Trace, TraceError, TraceStep};
use tokio::time::Instant;

use crate::compile::graph::{Node, NodeKind};
use crate::run::RunError;

/// Collects the steps of one run.
#[derive(Debug)]
pub(crate) struct TraceSink {
    start: Instant,
    steps: Mutex<Vec<TraceStep>>,
}

impl TraceSink {
    pub(crate) fn new() -> Self {
        TraceSink {
            start: Instant::now(),
            steps: Mutex::new(Vec::new()),
        }
    }

    fn offset_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<TraceStep>> {
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
        steps.push(step);
        steps.len() - 1
    }

    /// Sets a step's input.
    pub(crate) fn input(&self, step: usize, input: Value) {
        if let Some(s) = self.lock().get_mut(step) {
            s.input = Some(input);
        }
    }

    /// Ends a step with its output or error.
    pub(crate) fn end(&self, step: usize, output: Option<Value>, error: Option<&RunError>) {
        let now = self.offset_us();
        if let Some(s) = self.lock().get_mut(step) {
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
        if let Some(s) = self.lock().get_mut(step) {
            s.taken_flows.push(flow.to_owned());
        }
    }

    /// The finished trace.
    pub(crate) fn finish(&self, function: &str) -> Trace {
        Trace {
            function: function.to_owned(),
            steps: std::mem::take(&mut *self.lock()),
            duration_us: self.offset_us(),
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
