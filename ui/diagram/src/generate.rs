//! Generated processes for benchmarks and tests.

use starweave_model::bpmn::{
    Activity, ActivityKind, BaseElement, Definitions, Event, EventKind, Expression, FlowElement,
    Gateway, GatewayKind, RootElement, SequenceFlow,
};

use crate::edit::{new_definitions, normalise};
use crate::layout::auto_layout;

/// Builds a process body with sequential blocks, exclusive and parallel splits.
struct Builder {
    elements: Vec<FlowElement>,
    nodes: usize,
    flows: usize,
    seed: u64,
}

impl Builder {
    fn next(&mut self) -> u64 {
        // A fixed linear congruential generator: the same `n` always gives the same process.
        self.seed = self
            .seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.seed >> 33
    }

    fn node(&mut self, el: FlowElement) -> String {
        let id = el.id().to_owned();
        self.elements.push(el);
        self.nodes += 1;
        id
    }

    fn task(&mut self) -> String {
        let i = self.nodes;
        let mut a = Activity::new(ActivityKind::ServiceTask, format!("Task_{i}"));
        a.name = Some(format!("Step {i}"));
        self.node(FlowElement::Activity(a))
    }

    fn gateway(&mut self, kind: GatewayKind) -> String {
        let i = self.nodes;
        self.node(FlowElement::Gateway(Gateway::new(
            kind,
            format!("Gateway_{i}"),
        )))
    }

    fn flow(&mut self, from: &str, to: &str, condition: Option<&str>) -> String {
        self.flows += 1;
        let id = format!("Flow_{}", self.flows);
        self.elements.push(FlowElement::SequenceFlow(SequenceFlow {
            base: BaseElement::with_id(&id),
            source_ref: from.to_owned(),
            target_ref: to.to_owned(),
            condition_expression: condition.map(|c| Expression::formal(c, None)),
            ..Default::default()
        }));
        id
    }

    /// Wires incoming/outgoing lists and gateway defaults from the flows.
    fn finish(mut self, defaults: Vec<(String, String)>) -> Vec<FlowElement> {
        let flows: Vec<(String, String, String)> = self
            .elements
            .iter()
            .filter_map(|e| match e {
                FlowElement::SequenceFlow(f) => Some((
                    f.base.id().to_owned(),
                    f.source_ref.clone(),
                    f.target_ref.clone(),
                )),
                _ => None,
            })
            .collect();
        for el in self.elements.iter_mut() {
            let id = el.id().to_owned();
            let (inc, out) = match el {
                FlowElement::Event(e) => (&mut e.incoming, &mut e.outgoing),
                FlowElement::Activity(a) => (&mut a.incoming, &mut a.outgoing),
                FlowElement::Gateway(g) => (&mut g.incoming, &mut g.outgoing),
                _ => continue,
            };
            for (f, s, t) in &flows {
                if *s == id {
                    out.push(f.clone());
                }
                if *t == id {
                    inc.push(f.clone());
                }
            }
            if let FlowElement::Gateway(g) = el
                && let Some((_, f)) = defaults.iter().find(|(gw, _)| *gw == id)
            {
                g.default = Some(f.clone());
            }
        }
        self.elements
    }
}

/// A connected, executable, laid-out process of about `n` flow nodes: a start event, then
/// blocks of service tasks, exclusive splits (conditions on all branches but the default)
/// and parallel splits with their joins, then an end event. The same `n` always gives the
/// same model.
pub fn generate_process(n: usize) -> Definitions {
    let mut b = Builder {
        elements: Vec::new(),
        nodes: 0,
        flows: 0,
        seed: n as u64 ^ 0x5eed,
    };
    let mut defaults = Vec::new();
    let start = b.node(FlowElement::Event(Event::new(
        EventKind::Start,
        "StartEvent_1",
    )));
    let mut last = start;
    let target = n.max(3);
    while b.nodes + 1 < target {
        let room = target - b.nodes - 1;
        let pick = b.next() % 4;
        if room >= 6 && pick >= 2 {
            let branches = 2 + (b.next() % 2) as usize;
            let exclusive = pick == 2;
            let kind = if exclusive {
                GatewayKind::Exclusive
            } else {
                GatewayKind::Parallel
            };
            let split = b.gateway(kind);
            b.flow(&last, &split, None);
            let mut ends = Vec::new();
            for k in 0..branches {
                if b.nodes + 2 >= target {
                    break;
                }
                let t = b.task();
                let condition = (exclusive && k > 0).then(|| format!("amount > {}", k * 100));
                let f = b.flow(&split, &t, condition.as_deref());
                if exclusive && k == 0 {
                    defaults.push((split.clone(), f));
                }
                let mut tail = t;
                if b.next().is_multiple_of(2) && b.nodes + 2 < target {
                    let t2 = b.task();
                    b.flow(&tail, &t2, None);
                    tail = t2;
                }
                ends.push(tail);
            }
            let join = b.gateway(kind);
            for e in ends {
                b.flow(&e, &join, None);
            }
            last = join;
        } else {
            let t = b.task();
            b.flow(&last, &t, None);
            last = t;
        }
    }
    let end = b.node(FlowElement::Event(Event::new(EventKind::End, "EndEvent_1")));
    b.flow(&last, &end, None);
    let elements = b.finish(defaults);

    let mut defs = new_definitions("Process_generated", "Generated");
    for root in defs.root_elements.iter_mut() {
        if let RootElement::Process(p) = root {
            p.flow_elements = elements.clone();
        }
    }
    defs.diagrams.clear();
    auto_layout(&mut defs);
    normalise(defs)
}
