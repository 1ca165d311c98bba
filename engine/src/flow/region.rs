//! The token scheduler of one region (a process level or the inside of a sub-process).
//!
//! Tokens wait in a FIFO queue. Events and gateways are handled in place. An activity is
//! awaited in place when it is the only live token, and otherwise joins the region's set of
//! running branches, which the scheduler polls together in the run's own task: parallel
//! branches wait on their connectors at the same time, without a task spawned per branch
//! or a wake-up crossing to another worker thread. Work that needs a core of its own gets
//! one where it is done (a JavaScript call over its inline budget moves to the pool's
//! worker threads). Dropping the scheduler (the region failed, was terminated or was
//! interrupted) drops every running branch at once. A branch that panics unwinds its run like
//! any other code of the run; the engine server contains that per run (`registry`, which
//! runs each on a task of its own and answers a panic as a failed run).
//!
//! Joins count arrivals per incoming flow. A parallel join fires when every incoming flow
//! has a token. An inclusive join fires when at least one incoming flow has a token and no
//! live token elsewhere in the region can still arrive at it (the compile step precomputed
//! which nodes can reach which inclusive joins). Any other node merges: each arriving token
//! passes on.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;

use super::activity::{Exit, run_activity};
use super::{Frame, Runtime};
use crate::compile::graph::{FlowIx, NodeIx, NodeKind, Region};
use crate::run::{ErrorKind, RunError};
use crate::script::BoxFuture;

/// How a region ended normally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RegionEnd {
    /// Every token reached an end.
    Completed,
    /// A terminate end event ended it.
    Terminated,
}

/// Check the deadline every this many handled tokens.
const CHECK_EVERY: u32 = 64;

type Finished = (NodeIx, Option<usize>, Result<Exit, RunError>);

struct JoinState {
    node: NodeIx,
    arrivals: Vec<u32>,
}

struct Scheduler {
    rt: Arc<Runtime>,
    region: Arc<Region>,
    frame: Frame,
    /// Tokens about to enter a node: (node, incoming slot).
    ready: VecDeque<(NodeIx, usize)>,
    /// The branches running besides the scheduler. Only ever reached through `&mut self`
    /// (`Mutex::get_mut`, no locking): the mutex is what makes the scheduler `Sync`, which
    /// its future needs to be `Send` while `&self` methods await.
    running: Mutex<FuturesUnordered<BoxFuture<'static, Finished>>>,
    running_nodes: Vec<NodeIx>,
    joins: Vec<JoinState>,
    handled: u32,
}

/// Runs a region to its end.
pub(crate) fn run_region(
    rt: Arc<Runtime>,
    region: Arc<Region>,
    frame: Frame,
) -> BoxFuture<'static, Result<RegionEnd, RunError>> {
    Box::pin(async move {
        let mut scheduler = Scheduler {
            ready: region.starts.iter().map(|&s| (s, 0)).collect(),
            rt,
            region,
            frame,
            running: Mutex::new(FuturesUnordered::new()),
            running_nodes: Vec::new(),
            joins: Vec::new(),
            handled: 0,
        };
        scheduler.run().await
    })
}

impl Scheduler {
    async fn run(&mut self) -> Result<RegionEnd, RunError> {
        loop {
            while let Some((node, slot)) = self.ready.pop_front() {
                self.handled += 1;
                if self.handled.is_multiple_of(CHECK_EVERY) {
                    self.rt.check()?;
                    // Give other tasks (and the run's deadline timer) a chance on long
                    // gateway-only loops.
                    tokio::task::yield_now().await;
                }
                if let Some(end) = self.enter(node, slot).await? {
                    return Ok(end);
                }
            }
            if self.fire_inclusive_joins().await? {
                continue;
            }
            let Some((node, step, result)) = self.running().next().await else {
                break;
            };
            if let Some(i) = self.running_nodes.iter().position(|&n| n == node) {
                self.running_nodes.swap_remove(i);
            }
            self.finish_activity(node, step, result).await?;
        }
        if let Some(join) = self
            .joins
            .iter()
            .find(|j| j.arrivals.iter().any(|&a| a > 0))
        {
            let id = &self.region.nodes[join.node].id;
            return Err(RunError::new(
                ErrorKind::Flow,
                "FLOW_STUCK",
                format!("the gateway `{id}` waits for branches that can no longer arrive"),
            )
            .at(id));
        }
        Ok(RegionEnd::Completed)
    }

    /// A token enters `node` through incoming `slot`.
    async fn enter(&mut self, node: NodeIx, slot: usize) -> Result<Option<RegionEnd>, RunError> {
        let region = self.region.clone();
        let n = &region.nodes[node];
        match &n.kind {
            NodeKind::Start | NodeKind::Throw | NodeKind::Boundary => {
                let step = self.instant_step(node);
                self.leave(node, step).await?;
            }
            NodeKind::End => {
                self.instant_step(node);
            }
            NodeKind::TerminateEnd => {
                self.instant_step(node);
                return Ok(Some(RegionEnd::Terminated));
            }
            NodeKind::ErrorEnd { code, message } => {
                let error = RunError::bpmn(code, message).at(&n.id);
                if let Some(trace) = &self.rt.trace {
                    let step = trace.begin(n, self.frame.parent_step, None);
                    trace.end(step, None, Some(&error));
                }
                return Err(error);
            }
            NodeKind::Parallel if n.incoming > 1 => {
                let state = self.join_state(node);
                state.arrivals[slot] += 1;
                if state.arrivals.iter().all(|&a| a > 0) {
                    state.arrivals.iter_mut().for_each(|a| *a -= 1);
                    let step = self.instant_step(node);
                    self.leave(node, step).await?;
                }
            }
            NodeKind::Inclusive if n.incoming > 1 => {
                // Fires from `fire_inclusive_joins` once no live token can still arrive.
                self.join_state(node).arrivals[slot] += 1;
            }
            NodeKind::Exclusive | NodeKind::Parallel | NodeKind::Inclusive => {
                let step = self.instant_step(node);
                self.leave(node, step).await?;
            }
            NodeKind::Noop
            | NodeKind::Script(_)
            | NodeKind::Call(_)
            | NodeKind::SubProcess { .. } => {
                // Boxed: an activity's future holds its whole body (connector call, script
                // run…), so the scheduler's own future stays small.
                if self.ready.is_empty() && self.running().is_empty() {
                    let (step, result) = Box::pin(run_activity(
                        self.rt.clone(),
                        self.region.clone(),
                        node,
                        self.frame.clone(),
                    ))
                    .await;
                    self.finish_activity(node, step, result).await?;
                } else {
                    let (rt, region, frame) =
                        (self.rt.clone(), self.region.clone(), self.frame.clone());
                    self.running_nodes.push(node);
                    self.running().push(Box::pin(async move {
                        let (step, result) = run_activity(rt, region, node, frame).await;
                        (node, step, result)
                    }));
                }
            }
        }
        Ok(None)
    }

    fn running(&mut self) -> &mut FuturesUnordered<BoxFuture<'static, Finished>> {
        self.running
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn join_state(&mut self, node: NodeIx) -> &mut JoinState {
        let index = match self.joins.iter().position(|j| j.node == node) {
            Some(i) => i,
            None => {
                let incoming = self.region.nodes[node].incoming;
                self.joins.push(JoinState {
                    node,
                    arrivals: vec![0; incoming],
                });
                self.joins.len() - 1
            }
        };
        &mut self.joins[index]
    }

    /// Fires every inclusive join no live token can still reach; whether any fired.
    async fn fire_inclusive_joins(&mut self) -> Result<bool, RunError> {
        let mut fired = false;
        let mut i = 0;
        while i < self.joins.len() {
            let join = self.joins[i].node;
            let waiting = self.joins[i].arrivals.iter().any(|&a| a > 0);
            if waiting
                && matches!(self.region.nodes[join].kind, NodeKind::Inclusive)
                && !self.may_still_arrive(join)
            {
                self.joins[i]
                    .arrivals
                    .iter_mut()
                    .for_each(|a| *a = a.saturating_sub(1));
                let step = self.instant_step(join);
                self.leave(join, step).await?;
                fired = true;
            }
            i += 1;
        }
        Ok(fired)
    }

    /// Whether a live token (queued, running, or waiting at another join) may reach `join`.
    fn may_still_arrive(&self, join: NodeIx) -> bool {
        let region = &self.region;
        self.ready
            .iter()
            .any(|&(n, _)| n == join || region.can_reach(n, join))
            || self
                .running_nodes
                .iter()
                .any(|&n| region.can_reach(n, join))
            || self.joins.iter().any(|j| {
                j.node != join
                    && j.arrivals.iter().any(|&a| a > 0)
                    && region.can_reach(j.node, join)
            })
    }

    async fn finish_activity(
        &mut self,
        node: NodeIx,
        step: Option<usize>,
        result: Result<Exit, RunError>,
    ) -> Result<(), RunError> {
        match result? {
            Exit::Normal => self.leave(node, step).await,
            Exit::Boundary(boundary) => {
                let step = self.instant_step(boundary);
                self.leave(boundary, step).await
            }
        }
    }

    fn instant_step(&self, node: NodeIx) -> Option<usize> {
        let trace = self.rt.trace.as_ref()?;
        let step = trace.begin(&self.region.nodes[node], self.frame.parent_step, None);
        trace.end(step, None, None);
        Some(step)
    }

    /// Sends the token(s) leaving `node` down its outgoing flows.
    async fn leave(&mut self, node: NodeIx, step: Option<usize>) -> Result<(), RunError> {
        let region = self.region.clone();
        let n = &region.nodes[node];
        match n.kind {
            NodeKind::Parallel => {
                for &flow in &n.outgoing {
                    self.take(flow, step);
                }
            }
            NodeKind::Exclusive => {
                let mut chosen = None;
                for &flow in &n.outgoing {
                    if self.holds(flow).await? {
                        chosen = Some(flow);
                        break;
                    }
                }
                match chosen.or(n.default_flow) {
                    Some(flow) => self.take(flow, step),
                    None => return Err(no_flow(&n.id)),
                }
            }
            _ if n.conditional_out || matches!(n.kind, NodeKind::Inclusive) => {
                let mut any = false;
                for &flow in &n.outgoing {
                    if self.holds(flow).await? {
                        self.take(flow, step);
                        any = true;
                    }
                }
                if !any {
                    match n.default_flow {
                        Some(flow) => self.take(flow, step),
                        None => return Err(no_flow(&n.id)),
                    }
                }
            }
            _ => {
                for &flow in n.outgoing.iter().chain(n.default_flow.iter()) {
                    self.take(flow, step);
                }
            }
        }
        Ok(())
    }

    async fn holds(&self, flow: FlowIx) -> Result<bool, RunError> {
        match &self.region.flows[flow].condition {
            None => Ok(true),
            Some(expr) => self
                .rt
                .condition(expr, &self.frame.scope)
                .await
                .map_err(|e| e.at(&self.region.flows[flow].id)),
        }
    }

    fn take(&mut self, flow: FlowIx, step: Option<usize>) {
        let f = &self.region.flows[flow];
        if let (Some(trace), Some(step)) = (&self.rt.trace, step) {
            trace.taken(step, &f.id);
        }
        self.ready.push_back((f.target, f.slot));
    }
}

fn no_flow(id: &str) -> RunError {
    RunError::new(
        ErrorKind::Flow,
        "NO_MATCHING_FLOW",
        format!(
            "no outgoing flow of `{id}` has a condition that holds, and there is no default flow"
        ),
    )
    .at(id)
}
