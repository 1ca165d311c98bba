//! Execution traces: what each BPMN element of a run did, for the IDE to paint on the canvas
//! (green for completed steps, red for failed ones) and for tests to snapshot.
//!
//! The engine records one [`TraceStep`] per executed element, in the order the elements
//! started. Steps inside a sub-process, call activity or multi-instance activity point at
//! the step of that activity through [`TraceStep::parent`]. Times are offsets from the start
//! of the run, in microseconds, so two traces of the same flow compare step by step.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The trace of one function run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Trace {
    /// The function that ran.
    pub function: String,
    /// The steps, in the order they started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<TraceStep>,
    /// How long the whole run took, in microseconds.
    pub duration_us: u64,
    /// Steps that ran after the trace was full and were not recorded (the engine keeps the
    /// first ten thousand of a run).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub dropped_steps: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// What kind of element a step ran; the IDE picks the shape to paint by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ElementKind {
    /// A start event.
    StartEvent,
    /// An end event without a definition.
    EndEvent,
    /// An end event that throws a BPMN error.
    ErrorEndEvent,
    /// An end event that ends every token of its scope.
    TerminateEndEvent,
    /// An intermediate throw event without a definition (a milestone).
    IntermediateThrowEvent,
    /// A boundary event that caught an error or fired on a timer.
    BoundaryEvent,
    /// A task without a binding: it does nothing.
    Task,
    /// A script task (Rhai or JavaScript).
    ScriptTask,
    /// A service task (connector method, code function or component).
    ServiceTask,
    /// A call activity (BPMN calling BPMN).
    CallActivity,
    /// An embedded sub-process.
    SubProcess,
    /// A transaction sub-process.
    Transaction,
    /// An exclusive gateway.
    ExclusiveGateway,
    /// A parallel gateway.
    ParallelGateway,
    /// An inclusive gateway.
    InclusiveGateway,
}

/// One executed element.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraceStep {
    /// The BPMN element id.
    pub element_id: String,
    /// What kind of element it is.
    pub element_kind: ElementKind,
    /// The element's name, when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Index in [`Trace::steps`] of the enclosing activity's step (sub-process, call
    /// activity, multi-instance activity), when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<usize>,
    /// For one instance of a multi-instance activity or one round of a loop: which one,
    /// from 0 (the activity as a whole has a step without it, the parent of its instances).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iteration: Option<u32>,
    /// When the element started, in microseconds from the start of the run.
    pub start_offset_us: u64,
    /// How long it ran, in microseconds.
    pub duration_us: u64,
    /// What went in: a task's call arguments, a script task's variables, a call's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// What came out: a call's result, the variables a script task set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The error the element raised, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<TraceError>,
    /// The ids of the sequence flows the token(s) took when leaving the element.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub taken_flows: Vec<String>,
}

/// An error recorded on a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TraceError {
    /// The error code (a BPMN error code, or an engine code such as `SCRIPT_ERROR`).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

impl TraceStep {
    /// Whether the step failed (the IDE paints it red).
    pub fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// A line a code function logged through `ctx.log` during a run, in the order logged.
///
/// Lines logged before a function failed are kept: they are what explains the failure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunLog {
    /// `info`, `warn` or `error`.
    pub level: String,
    /// The arguments, strings as they are and other values as JSON, joined by spaces.
    pub message: String,
    /// The code function that logged it (a BPMN function's call activities run others).
    pub function: String,
    /// When the function returned (or failed), in microseconds from the start of the run;
    /// lines of one call share it.
    pub offset_us: u64,
}
