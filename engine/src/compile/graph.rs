//! The graph IR of a BPMN function: nodes and flows by index, compiled once.
//!
//! A [`Region`] is one level of a process: the process itself, or the inside of a
//! sub-process (which has its own region, shared through `Arc` so branches running on
//! other tokio tasks can hold it). Nodes refer to flows and flows to nodes by index; the
//! interpreter never looks up a string.

use std::sync::Arc;
use std::time::Duration;

use crate::script::rhai::RhaiAst;

/// Index of a node in its region.
pub(crate) type NodeIx = usize;
/// Index of a flow in its region.
pub(crate) type FlowIx = usize;

/// One level of a process.
#[derive(Debug)]
pub(crate) struct Region {
    /// The flow nodes: events, activities, gateways, boundary events.
    pub(crate) nodes: Vec<Node>,
    /// The sequence flows.
    pub(crate) flows: Vec<Flow>,
    /// Where tokens start: the none start events, or the one typed start event of a region
    /// without a none start event (the compile step refuses several typed ones there).
    pub(crate) starts: Vec<NodeIx>,
    /// `reach[a * nodes.len() + b]`: a token at `a` may still arrive at `b` (not through
    /// `b`); only filled when the region has an inclusive join, empty otherwise.
    pub(crate) reach: Vec<bool>,
}

impl Region {
    /// Whether a token at `from` may still arrive at `join`.
    pub(crate) fn can_reach(&self, from: NodeIx, join: NodeIx) -> bool {
        self.reach
            .get(from * self.nodes.len() + join)
            .copied()
            .unwrap_or(true)
    }
}

/// A flow node.
#[derive(Debug)]
pub(crate) struct Node {
    /// The BPMN id.
    pub(crate) id: Arc<str>,
    /// The BPMN name.
    pub(crate) name: Option<Arc<str>>,
    /// What it does.
    pub(crate) kind: NodeKind,
    /// Outgoing flows in evaluation order.
    pub(crate) outgoing: Vec<FlowIx>,
    /// The default outgoing flow.
    pub(crate) default_flow: Option<FlowIx>,
    /// How many flows enter the node (joins wait on them by slot).
    pub(crate) incoming: usize,
    /// Error boundary events attached to this activity.
    pub(crate) error_boundaries: Vec<(NodeIx, Option<Arc<str>>)>,
    /// The interrupting timer boundary event that fires first, with its duration.
    pub(crate) timer: Option<(NodeIx, Duration)>,
    /// Whether any outgoing flow has a condition.
    pub(crate) conditional_out: bool,
    /// Loop or multi-instance marker.
    pub(crate) looping: Option<Box<Looping>>,
}

/// A sequence flow.
#[derive(Debug)]
pub(crate) struct Flow {
    /// The BPMN id.
    pub(crate) id: Arc<str>,
    /// The node it enters.
    pub(crate) target: NodeIx,
    /// Its index among the target's incoming flows.
    pub(crate) slot: usize,
    /// The guard.
    pub(crate) condition: Option<Expr>,
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    /// Rhai, evaluated on the caller's thread.
    Rhai(RhaiAst),
    /// JavaScript, evaluated on the QuickJS pool.
    JavaScript(Arc<str>),
}

/// A compiled script-task script.
#[derive(Debug, Clone)]
pub(crate) enum ScriptCode {
    /// Rhai: variables in scope; top-level `let` and assignments become variables.
    Rhai(RhaiAst),
    /// JavaScript: variables read and written through the `vars` object.
    JavaScript(Arc<str>),
}

/// What a node does.
#[derive(Debug)]
pub(crate) enum NodeKind {
    /// A start event; [`Region::starts`] says which ones tokens start at.
    Start,
    /// A none end event: the token ends.
    End,
    /// An error end event: raises a BPMN error.
    ErrorEnd {
        /// The error code.
        code: Arc<str>,
        /// The message (the error's name, or the event's).
        message: Arc<str>,
    },
    /// A terminate end event: ends every token of the region.
    TerminateEnd,
    /// A none intermediate throw event: passes the token on.
    Throw,
    /// A boundary event (the token continues here after it fired).
    Boundary,
    /// A task without a binding.
    Noop,
    /// A script task.
    Script(ScriptCode),
    /// A service task, a bound task or a call activity.
    Call(Box<CallSpec>),
    /// An embedded or transaction sub-process.
    SubProcess {
        /// Its inside.
        region: Arc<Region>,
        /// A transaction sub-process.
        transaction: bool,
        /// Output mappings (expressions over `result`, the sub-process's local variables).
        outputs: Vec<(Arc<str>, Expr)>,
    },
    /// An exclusive gateway.
    Exclusive,
    /// A parallel gateway.
    Parallel,
    /// An inclusive gateway.
    Inclusive,
}

impl NodeKind {
    /// Whether the node runs as an activity (it may take time, fail, have boundaries).
    pub(crate) fn is_activity(&self) -> bool {
        matches!(
            self,
            NodeKind::Noop | NodeKind::Script(_) | NodeKind::Call(_) | NodeKind::SubProcess { .. }
        )
    }
}

/// What a call goes to.
#[derive(Debug, Clone)]
pub(crate) enum Callee {
    /// A connector method; `key` is `connector.method`, the mock key.
    Connector {
        /// Connector name.
        connector: Arc<str>,
        /// Method name.
        method: Arc<str>,
        /// `connector.method`.
        key: Arc<str>,
    },
    /// A function of the program (code or BPMN), by index.
    Function {
        /// Index in the program.
        index: usize,
        /// Its name, the mock key.
        name: Arc<str>,
    },
    /// A library component: only runs when mocked, for now.
    Component(Arc<str>),
}

/// A call: target, mappings and policy.
#[derive(Debug)]
pub(crate) struct CallSpec {
    /// What is called.
    pub(crate) callee: Callee,
    /// Whether the node is a call activity (for traces).
    pub(crate) call_activity: bool,
    /// Input mappings: parameter ← expression over variables.
    pub(crate) inputs: Vec<(Arc<str>, Expr)>,
    /// Output mappings: variable ← expression over `result` and the variables.
    pub(crate) outputs: Vec<(Arc<str>, Expr)>,
    /// Time budget of one attempt.
    pub(crate) timeout: Option<Duration>,
    /// Retries after a failed attempt.
    pub(crate) retries: u32,
    /// Wait between attempts.
    pub(crate) backoff: Duration,
}

/// A loop marker.
#[derive(Debug)]
pub(crate) enum Looping {
    /// A standard loop: repeat while the condition holds.
    Standard {
        /// Check before the first round.
        test_before: bool,
        /// The loop condition.
        condition: Expr,
        /// At most this many rounds.
        maximum: u32,
    },
    /// One instance per item (or `loopCardinality` instances).
    MultiInstance(MultiInstanceSpec),
}

/// A multi-instance marker.
#[derive(Debug)]
pub(crate) struct MultiInstanceSpec {
    /// One after the other.
    pub(crate) sequential: bool,
    /// The collection iterated.
    pub(crate) collection: Option<Expr>,
    /// The number of instances, when there is no collection.
    pub(crate) cardinality: Option<Expr>,
    /// The per-instance item variable.
    pub(crate) element_variable: Option<Arc<str>>,
    /// The variable receiving the results.
    pub(crate) output_collection: Option<Arc<str>>,
    /// The per-instance result expression (over `result` and the instance's variables).
    pub(crate) output_element: Option<Expr>,
    /// Stop early when true (sequential only checks between instances).
    pub(crate) completion: Option<Expr>,
}
