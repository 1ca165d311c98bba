//! Automatic layout for models without diagram interchange: layered, left to right.
//!
//! Per process or sub-process body: layers by longest path over the sequence flows (back
//! edges of cycles found by a depth-first search are ignored for layering), order inside a
//! layer by the barycentre of the predecessors (a few sweeps down and up), then a grid of
//! layer columns and rows (each row as tall as its tallest member) so that a main path is a
//! straight line and branches of a gateway sit on the rows below. Edges are orthogonal.
//! Sub-processes with contents are laid out first (recursively) and drawn expanded around
//! them. Boundary events sit on their host's bottom border; data elements and annotations
//! go in a row below the flow. Pools of a collaboration are stacked vertically.

use std::collections::{HashMap, HashSet};

use starweave_model::bpmn::{
    Artifact, Bounds, Definitions, Diagram, DiagramElement, Edge, EventKind, FlowElement, Label,
    LaneSet, Plane, Point, RootElement, Shape,
};

use crate::edit::{route, route_vertical};

/// Whether the model has any diagram with at least one shape or edge.
pub fn has_di(defs: &Definitions) -> bool {
    defs.diagrams
        .iter()
        .any(|d| d.plane.as_ref().is_some_and(|p| !p.elements.is_empty()))
}

const GAP_X: f64 = 60.0;
const GAP_Y: f64 = 40.0;
const PAD: f64 = 25.0;
const PAD_TOP: f64 = 35.0;
const LANE_PAD: f64 = 20.0;

/// A laid-out body, in coordinates relative to its own top-left.
#[derive(Debug, Default)]
struct Laid {
    /// Element id, bounds, drawn expanded.
    shapes: Vec<(String, Bounds, Option<bool>)>,
    /// Connection element id and waypoints.
    edges: Vec<(String, Vec<Point>)>,
    /// Label boxes of named flows.
    labels: HashMap<String, Bounds>,
    /// Leaf lanes: index into [`Lanes::leaves`], top and bottom of the band of its rows.
    bands: Vec<(usize, f64, f64)>,
    w: f64,
    h: f64,
}

/// The lanes of a process, flattened: leaves in document order with their depth, every
/// lane with its leaves, and the leaf each flow node goes in.
#[derive(Debug, Default)]
struct Lanes {
    /// Leaf lane ids and depth (1 = top level).
    leaves: Vec<(String, usize)>,
    /// Every lane (parents included), its depth and the range of its leaves.
    all: Vec<(String, usize, usize, usize)>,
    /// Flow node id → leaf index.
    node_leaf: HashMap<String, usize>,
}

impl Lanes {
    fn of(sets: &[LaneSet]) -> Lanes {
        fn walk(sets: &[LaneSet], depth: usize, out: &mut Lanes) {
            for set in sets {
                for lane in &set.lanes {
                    let first = out.leaves.len();
                    match lane.child_lane_set.as_ref().filter(|c| !c.lanes.is_empty()) {
                        Some(child) => walk(std::slice::from_ref(child), depth + 1, out),
                        None => out.leaves.push((lane.base.id().to_owned(), depth)),
                    }
                    let last = out.leaves.len().max(first + 1) - 1;
                    // Nodes listed here and not in a deeper lane go in its first leaf.
                    for n in &lane.flow_node_refs {
                        out.node_leaf.entry(n.clone()).or_insert(first);
                    }
                    out.all
                        .push((lane.base.id().to_owned(), depth, first, last));
                }
            }
        }
        let mut lanes = Lanes::default();
        walk(sets, 1, &mut lanes);
        // Deeper lanes were visited first and claimed their nodes; parents only fill gaps.
        lanes
    }

    fn max_depth(&self) -> usize {
        self.leaves.iter().map(|(_, d)| *d).max().unwrap_or(0)
    }
}

impl Laid {
    fn translate(&mut self, dx: f64, dy: f64) {
        for (_, top, bottom) in &mut self.bands {
            *top += dy;
            *bottom += dy;
        }
        for (_, b, _) in &mut self.shapes {
            b.x += dx;
            b.y += dy;
        }
        for b in self.labels.values_mut() {
            b.x += dx;
            b.y += dy;
        }
        for (_, pts) in &mut self.edges {
            for p in pts {
                p.x += dx;
                p.y += dy;
            }
        }
    }
}

fn node_size(el: &FlowElement) -> (f64, f64) {
    match el {
        FlowElement::Event(_) => (36.0, 36.0),
        FlowElement::Gateway(_) => (50.0, 50.0),
        FlowElement::DataObjectReference(_) | FlowElement::DataObject(_) => (36.0, 50.0),
        FlowElement::DataStoreReference(_) => (50.0, 50.0),
        _ => (100.0, 80.0),
    }
}

/// Lays out one process or sub-process body.
fn layout_body(
    elements: &[FlowElement],
    artifacts: &[Artifact],
    depth: usize,
    lanes: Option<&Lanes>,
) -> Laid {
    let mut laid = Laid::default();
    // Nodes that take part in layering: flow nodes except boundary events.
    let mut nodes: Vec<&FlowElement> = Vec::new();
    let mut boundary: Vec<&FlowElement> = Vec::new();
    let mut extras: Vec<(String, (f64, f64))> = Vec::new();
    for el in elements {
        match el {
            FlowElement::Event(e) if e.kind == EventKind::Boundary => boundary.push(el),
            _ if el.is_flow_node() => nodes.push(el),
            FlowElement::DataObjectReference(_) | FlowElement::DataStoreReference(_) => {
                extras.push((el.id().to_owned(), node_size(el)));
            }
            _ => {}
        }
    }
    for a in artifacts {
        if let Artifact::TextAnnotation(t) = a {
            extras.push((t.base.id().to_owned(), (100.0, 30.0)));
        }
    }
    let index: HashMap<&str, usize> = nodes.iter().enumerate().map(|(i, n)| (n.id(), i)).collect();
    // Boundary events count as their host for layering.
    let host_of: HashMap<&str, &str> = boundary
        .iter()
        .filter_map(|b| match b {
            FlowElement::Event(e) => e.attached_to_ref.as_deref().map(|h| (b.id(), h)),
            _ => None,
        })
        .collect();
    let resolve = |id: &str| -> Option<usize> {
        index
            .get(id)
            .or_else(|| host_of.get(id).and_then(|h| index.get(h)))
            .copied()
    };
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); nodes.len()];
    let mut flows: Vec<(&str, &str, &str)> = Vec::new();
    let mut names: HashMap<&str, &str> = HashMap::new();
    for el in elements {
        if let FlowElement::SequenceFlow(f) = el {
            flows.push((f.base.id(), f.source_ref.as_str(), f.target_ref.as_str()));
            if let Some(n) = f.name.as_deref().filter(|n| !n.trim().is_empty()) {
                names.insert(f.base.id(), n);
            }
            if let (Some(s), Some(t)) = (resolve(&f.source_ref), resolve(&f.target_ref))
                && s != t
            {
                succ[s].push(t);
            }
        }
    }
    // Sub-process contents first: their size decides the node's size.
    let mut inner: HashMap<usize, Laid> = HashMap::new();
    let mut sizes: Vec<(f64, f64)> = nodes.iter().map(|n| node_size(n)).collect();
    if depth < 64 {
        for (i, n) in nodes.iter().enumerate() {
            if let Some(sp) = n.sub_process()
                && (sp.flow_elements.iter().any(FlowElement::is_flow_node))
            {
                let l = layout_body(&sp.flow_elements, &sp.artifacts, depth + 1, None);
                sizes[i] = (
                    (l.w + 2.0 * PAD).max(200.0),
                    (l.h + PAD_TOP + PAD).max(120.0),
                );
                inner.insert(i, l);
            }
        }
    }
    let layers = assign_layers(nodes.len(), &succ);
    let mut order = order_layers(&layers, &succ, nodes.len());
    // Lanes: each lane gets its own rows, in lane order; inside a lane, barycentre order.
    let n_lanes = lanes.map_or(1, |l| l.leaves.len().max(1));
    let lane_of: Vec<usize> = nodes
        .iter()
        .map(|n| {
            lanes
                .and_then(|l| l.node_leaf.get(n.id()))
                .copied()
                .unwrap_or(0)
                .min(n_lanes - 1)
        })
        .collect();
    for layer in order.iter_mut() {
        layer.sort_by_key(|&n| lane_of[n]);
    }
    let mut rows_in_lane = vec![1usize; n_lanes];
    let mut row_of = vec![0usize; nodes.len()];
    for layer in &order {
        let mut count = vec![0usize; n_lanes];
        for &n in layer {
            row_of[n] = count[lane_of[n]];
            count[lane_of[n]] += 1;
        }
        for (l, c) in count.into_iter().enumerate() {
            rows_in_lane[l] = rows_in_lane[l].max(c);
        }
    }
    let mut lane_row0 = Vec::with_capacity(n_lanes);
    let mut total_rows = 0;
    for r in &rows_in_lane {
        lane_row0.push(total_rows);
        total_rows += r;
    }
    for (n, row) in row_of.iter_mut().enumerate() {
        *row += lane_row0[lane_of[n]];
    }
    // Grid: column widths per layer, row heights per row.
    let n_layers = order.len();
    let mut col_w = vec![0.0f64; n_layers];
    // An empty lane still gets some height.
    let mut row_h: Vec<f64> = vec![if lanes.is_some() { 40.0 } else { 0.0 }; total_rows];
    let has_boundary: HashSet<usize> = host_of
        .values()
        .filter_map(|h| index.get(h).copied())
        .collect();
    for (l, layer) in order.iter().enumerate() {
        for &n in layer {
            col_w[l] = col_w[l].max(sizes[n].0);
            let extra = if has_boundary.contains(&n) { 20.0 } else { 0.0 };
            row_h[row_of[n]] = row_h[row_of[n]].max(sizes[n].1 + extra);
        }
    }
    let mut col_x = Vec::with_capacity(n_layers);
    let mut x = 0.0;
    for w in &col_w {
        col_x.push(x);
        x += w + GAP_X;
    }
    let mut row_y = Vec::with_capacity(row_h.len());
    let mut y = 0.0;
    for (lane, (&first, &count)) in lane_row0.iter().zip(&rows_in_lane).enumerate() {
        if lanes.is_some() && lane > 0 {
            y += 2.0 * LANE_PAD;
        }
        let top = y;
        for h in &row_h[first..first + count] {
            row_y.push(y);
            y += h + GAP_Y;
        }
        if lanes.is_some() {
            laid.bands
                .push((lane, top - LANE_PAD, y - GAP_Y + LANE_PAD));
        }
    }
    let mut bounds: HashMap<&str, Bounds> = HashMap::new();
    for (l, layer) in order.iter().enumerate() {
        for &n in layer {
            let r = row_of[n];
            let (w, h) = sizes[n];
            let b = Bounds {
                x: (col_x[l] + (col_w[l] - w) / 2.0).round(),
                y: (row_y[r] + (row_h[r] - h) / 2.0).round(),
                width: w,
                height: h,
            };
            bounds.insert(nodes[n].id(), b);
            let expanded = nodes[n].sub_process().map(|_| inner.contains_key(&n));
            laid.shapes.push((nodes[n].id().to_owned(), b, expanded));
            if let Some(mut l) = inner.remove(&n) {
                l.translate(b.x + PAD, b.y + PAD_TOP);
                laid.shapes.append(&mut l.shapes);
                laid.edges.append(&mut l.edges);
            }
        }
    }
    // Boundary events along the bottom border of their host.
    let mut per_host: HashMap<&str, usize> = HashMap::new();
    for b in &boundary {
        let Some(host) = host_of.get(b.id()) else {
            continue;
        };
        let Some(hb) = bounds.get(host).copied() else {
            continue;
        };
        let k = per_host.entry(host).or_insert(0);
        let bb = Bounds {
            x: hb.x + 10.0 + *k as f64 * 44.0,
            y: hb.y + hb.height - 18.0,
            width: 36.0,
            height: 36.0,
        };
        *k += 1;
        bounds.insert(b.id(), bb);
        laid.shapes.push((b.id().to_owned(), bb, None));
    }
    let mut bottom = y.max(0.0);
    let right = x.max(0.0);
    // Data elements and annotations in a row below.
    let mut ex = 0.0;
    let mut row_max: f64 = 0.0;
    for (id, (w, h)) in &extras {
        let b = Bounds {
            x: ex,
            y: bottom,
            width: *w,
            height: *h,
        };
        ex += w + GAP_X;
        row_max = row_max.max(*h + 20.0);
        if let Some(id) = elements.iter().find(|e| e.id() == id).map(FlowElement::id) {
            bounds.insert(id, b);
        } else if let Some(a) = artifacts.iter().find(|a| a.base().id() == id) {
            bounds.insert(a.base().id(), b);
        }
        laid.shapes.push((id.clone(), b, None));
    }
    if !extras.is_empty() {
        bottom += row_max + GAP_Y;
        // Data and annotations sit in the last lane's band.
        if let Some(last) = laid.bands.last_mut() {
            last.2 = last.2.max(bottom - GAP_Y + LANE_PAD);
        }
    }
    // Edges.
    let obstacles: Vec<Bounds> = bounds.values().copied().collect();
    let mut back_edges = 0;
    for (id, s, t) in flows {
        if let (Some(sb), Some(tb)) = (bounds.get(s), bounds.get(t)) {
            let from_gateway = index
                .get(s)
                .is_some_and(|&i| matches!(nodes[i], FlowElement::Gateway(_)));
            let route = if host_of.contains_key(s) {
                boundary_route(sb, tb)
            } else if from_gateway {
                gateway_branch_route(sb, tb, &obstacles)
            } else {
                None
            };
            let route = route.unwrap_or_else(|| flow_route(sb, tb, &obstacles, &mut back_edges));
            if let Some(name) = names.get(id) {
                laid.labels
                    .insert(id.to_owned(), label_on_last_segment(&route, name));
            }
            laid.edges.push((id.to_owned(), route));
        } else {
            // An end is missing (an invalid model): still draw something at the origin.
            laid.edges.push((
                id.to_owned(),
                vec![Point::default(), Point { x: 1.0, y: 0.0 }],
            ));
        }
    }
    for el in elements {
        let (ins, outs) = match el {
            FlowElement::Activity(a) => (&a.data_input_associations, &a.data_output_associations),
            FlowElement::Event(e) => (&e.data_input_associations, &e.data_output_associations),
            _ => continue,
        };
        let Some(ob) = bounds.get(el.id()) else {
            continue;
        };
        for a in ins {
            if let Some(sb) = a.source_refs.first().and_then(|s| bounds.get(s.as_str())) {
                laid.edges.push((a.base.id().to_owned(), route(sb, ob)));
            }
        }
        for a in outs {
            if let Some(tb) = a.target_ref.as_deref().and_then(|t| bounds.get(t)) {
                laid.edges.push((a.base.id().to_owned(), route(ob, tb)));
            }
        }
    }
    for a in artifacts {
        if let Artifact::Association(x) = a
            && let (Some(sb), Some(tb)) = (
                bounds.get(x.source_ref.as_str()),
                bounds.get(x.target_ref.as_str()),
            )
        {
            laid.edges.push((x.base.id().to_owned(), route(sb, tb)));
        }
    }
    let mut w = right - GAP_X;
    let mut h = bottom - GAP_Y;
    for (_, b, _) in &laid.shapes {
        w = w.max(b.x + b.width);
        h = h.max(b.y + b.height);
    }
    for (_, pts) in &laid.edges {
        for p in pts {
            w = w.max(p.x);
            h = h.max(p.y);
        }
    }
    laid.w = w.max(0.0);
    laid.h = h.max(0.0);
    laid
}

/// Whether an axis-parallel segment passes through the inside of a box.
fn crosses(a: Point, b: Point, r: &Bounds) -> bool {
    let (x0, x1) = (a.x.min(b.x), a.x.max(b.x));
    let (y0, y1) = (a.y.min(b.y), a.y.max(b.y));
    x1 > r.x + 1.0 && x0 < r.x + r.width - 1.0 && y1 > r.y + 1.0 && y0 < r.y + r.height - 1.0
}

fn blocked(path: &[Point], obstacles: &[Bounds], ends: [&Bounds; 2]) -> bool {
    path.windows(2).any(|w| {
        obstacles
            .iter()
            .filter(|o| !ends.contains(o))
            .any(|o| crosses(w[0], w[1], o))
    })
}

/// A label box above the last segment of a route (the one entering the target), so that the
/// branches of a gateway get labels on their own rows.
fn label_on_last_segment(route: &[Point], text: &str) -> Bounds {
    let lines = crate::notation::wrap(text, 90.0);
    let width = lines
        .iter()
        .map(|l| crate::notation::text_width(l))
        .fold(10.0, f64::max)
        .round();
    let height = (lines.len().max(1) as f64 * crate::notation::LINE_HEIGHT).round();
    let (a, b) = match route {
        [.., a, b] => (*a, *b),
        [a] => (*a, *a),
        [] => (Point::default(), Point::default()),
    };
    if (a.y - b.y).abs() < 0.5 {
        // Horizontal: above the line, just after the bend.
        Bounds {
            x: a.x + 6.0,
            y: a.y - height - 2.0,
            width,
            height,
        }
    } else {
        // Vertical: right of the line.
        let y = if b.y > a.y {
            a.y + 4.0
        } else {
            a.y - height - 4.0
        };
        Bounds {
            x: a.x + 5.0,
            y,
            width,
            height,
        }
    }
}

/// A branch leaving a gateway for another row: out of the diamond's bottom or top corner,
/// then straight into the target, when that path is clear.
fn gateway_branch_route(sb: &Bounds, tb: &Bounds, obstacles: &[Bounds]) -> Option<Vec<Point>> {
    let cx = sb.x + sb.width / 2.0;
    let sy = sb.y + sb.height / 2.0;
    let ty = tb.y + tb.height / 2.0;
    if tb.x < sb.x + sb.width + 10.0 || (ty - sy).abs() < 0.5 {
        return None;
    }
    let start = if ty > sy { sb.y + sb.height } else { sb.y };
    let route = vec![
        Point { x: cx, y: start },
        Point { x: cx, y: ty },
        Point { x: tb.x, y: ty },
    ];
    (!blocked(&route, obstacles, [sb, tb])).then_some(route)
}

/// A flow leaving a boundary event: down from the event, then right into the target, when
/// the target is below and to the right.
fn boundary_route(sb: &Bounds, tb: &Bounds) -> Option<Vec<Point>> {
    let cx = sb.x + sb.width / 2.0;
    let bottom = sb.y + sb.height;
    let ty = tb.y + tb.height / 2.0;
    (ty > bottom + 5.0 && tb.x > cx + 5.0).then(|| {
        vec![
            Point { x: cx, y: bottom },
            Point { x: cx, y: ty },
            Point { x: tb.x, y: ty },
        ]
    })
}

/// The route of a sequence flow in a layered layout. Forward flows bend in the gap before
/// the target's column (or after the source's, when that is clear of other shapes); flows
/// going back leave right, run below every shape in between and enter from the left.
fn flow_route(
    sb: &Bounds,
    tb: &Bounds,
    obstacles: &[Bounds],
    back_edges: &mut usize,
) -> Vec<Point> {
    let p = |x: f64, y: f64| Point { x, y };
    let sy = sb.y + sb.height / 2.0;
    let ty = tb.y + tb.height / 2.0;
    let (sr, tl) = (sb.x + sb.width, tb.x);
    if tl >= sr + 10.0 {
        if (sy - ty).abs() < 0.5 {
            return vec![p(sr, sy), p(tl, ty)];
        }
        let xa = (tl - GAP_X / 2.0).max(sr + 5.0).round();
        let a = vec![p(sr, sy), p(xa, sy), p(xa, ty), p(tl, ty)];
        if !blocked(&a, obstacles, [sb, tb]) {
            return a;
        }
        let xb = (sr + GAP_X / 2.0).min(tl - 5.0).round();
        let b = vec![p(sr, sy), p(xb, sy), p(xb, ty), p(tl, ty)];
        if !blocked(&b, obstacles, [sb, tb]) {
            return b;
        }
        return a;
    }
    let x1 = (sr + GAP_X / 2.0 - 8.0).round();
    let x2 = (tl - GAP_X / 2.0 + 8.0).round();
    let (lo, hi) = (x1.min(x2), x1.max(x2));
    let mut low = (sb.y + sb.height).max(tb.y + tb.height);
    for o in obstacles {
        if o.x < hi && o.x + o.width > lo {
            low = low.max(o.y + o.height);
        }
    }
    let low = low + 20.0 + (*back_edges % 4) as f64 * 8.0;
    *back_edges += 1;
    vec![
        p(sr, sy),
        p(x1, sy),
        p(x1, low),
        p(x2, low),
        p(x2, ty),
        p(tl, ty),
    ]
}

/// Longest-path layers over the graph minus the back edges of a depth-first search.
fn assign_layers(n: usize, succ: &[Vec<usize>]) -> Vec<usize> {
    let mut indeg = vec![0usize; n];
    for s in succ {
        for &t in s {
            indeg[t] += 1;
        }
    }
    // Iterative DFS from sources (then anything left), marking back edges.
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    let mut back: HashSet<(usize, usize)> = HashSet::new();
    let mut topo: Vec<usize> = Vec::with_capacity(n);
    let roots: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).chain(0..n).collect();
    for r in roots {
        if state[r] != 0 {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(r, 0)];
        state[r] = 1;
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            if *k < succ[v].len() {
                let t = succ[v][*k];
                *k += 1;
                match state[t] {
                    0 => {
                        state[t] = 1;
                        stack.push((t, 0));
                    }
                    1 => {
                        back.insert((v, t));
                    }
                    _ => {}
                }
            } else {
                state[v] = 2;
                topo.push(v);
                stack.pop();
            }
        }
    }
    topo.reverse();
    let mut layer = vec![0usize; n];
    for &v in &topo {
        for &t in &succ[v] {
            if !back.contains(&(v, t)) {
                layer[t] = layer[t].max(layer[v] + 1);
            }
        }
    }
    layer
}

/// Nodes per layer, ordered by the barycentre of their neighbours in the previous layer.
fn order_layers(layer: &[usize], succ: &[Vec<usize>], n: usize) -> Vec<Vec<usize>> {
    let count = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); count];
    for v in 0..n {
        order[layer[v]].push(v);
    }
    let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (v, s) in succ.iter().enumerate() {
        for &t in s {
            pred[t].push(v);
        }
    }
    let mut pos = vec![0.0f64; n];
    let set_pos = |order: &Vec<Vec<usize>>, pos: &mut Vec<f64>| {
        for l in order {
            for (i, &v) in l.iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    };
    set_pos(&order, &mut pos);
    for sweep in 0..4 {
        let down = sweep % 2 == 0;
        let layers: Vec<usize> = if down {
            (1..count).collect()
        } else {
            (0..count.saturating_sub(1)).rev().collect()
        };
        for l in layers {
            let mut keyed: Vec<(f64, usize)> = order[l]
                .iter()
                .map(|&v| {
                    let neigh: Vec<usize> = if down {
                        pred[v]
                            .iter()
                            .copied()
                            .filter(|&p| layer[p] + 1 == l || layer[p] < l)
                            .collect()
                    } else {
                        succ[v].iter().copied().filter(|&s| layer[s] > l).collect()
                    };
                    let key = if neigh.is_empty() {
                        pos[v]
                    } else {
                        neigh.iter().map(|&u| pos[u]).sum::<f64>() / neigh.len() as f64
                    };
                    (key, v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
            order[l] = keyed.into_iter().map(|(_, v)| v).collect();
            for (i, &v) in order[l].iter().enumerate() {
                pos[v] = i as f64;
            }
        }
    }
    order
}

/// Lane shapes tiling a pool: leaves split the height at the middle between their bands,
/// parents span their leaves; each level is indented by a name band.
fn lane_shapes(
    elements: &mut Vec<DiagramElement>,
    lanes: &Lanes,
    bands: &[(usize, f64, f64)],
    pool: &Bounds,
) {
    if lanes.leaves.is_empty() || bands.len() != lanes.leaves.len() {
        return;
    }
    let mut cuts = vec![pool.y];
    for w in bands.windows(2) {
        cuts.push(((w[0].2 + w[1].1) / 2.0).round());
    }
    cuts.push(pool.y + pool.height);
    let band = crate::notation::BAND;
    // Parents first so that they are drawn below their children.
    let mut all: Vec<&(String, usize, usize, usize)> = lanes.all.iter().collect();
    all.sort_by_key(|(_, depth, _, _)| *depth);
    for (id, depth, first, last) in all {
        let x = pool.x + band * *depth as f64;
        let b = Bounds {
            x,
            y: cuts[*first],
            width: pool.x + pool.width - x,
            height: cuts[*last + 1] - cuts[*first],
        };
        elements.push(DiagramElement::Shape(Shape {
            id: Some(format!("{id}_di")),
            bpmn_element: Some(id.clone()),
            is_horizontal: Some(true),
            bounds: Some(b),
            ..Default::default()
        }));
    }
}

fn push_laid(elements: &mut Vec<DiagramElement>, laid: Laid) {
    for (id, b, expanded) in laid.shapes {
        elements.push(DiagramElement::Shape(Shape {
            id: Some(format!("{id}_di")),
            bpmn_element: Some(id),
            is_expanded: expanded,
            bounds: Some(b),
            ..Default::default()
        }));
    }
    for (id, pts) in laid.edges {
        let label = laid.labels.get(&id).map(|b| Label {
            bounds: Some(*b),
            ..Default::default()
        });
        elements.push(DiagramElement::Edge(Edge {
            id: Some(format!("{id}_di")),
            bpmn_element: Some(id),
            waypoints: pts,
            label,
            ..Default::default()
        }));
    }
}

/// Gives every process that no diagram draws a diagram of its own, laid out left to right;
/// when a collaboration exists and none of its pools is drawn, one diagram of the whole
/// collaboration with the pools stacked. Processes already drawn are left alone.
pub fn auto_layout(defs: &mut Definitions) {
    let mut drawn: HashSet<String> = HashSet::new();
    for d in &defs.diagrams {
        if let Some(p) = &d.plane {
            drawn.extend(p.bpmn_element.clone());
            for el in &p.elements {
                if let DiagramElement::Shape(s) = el {
                    drawn.extend(s.bpmn_element.clone());
                }
            }
        }
    }
    let process_drawn = |defs: &Definitions, pid: &str, drawn: &HashSet<String>| {
        drawn.contains(pid)
            || defs
                .process(pid)
                .is_some_and(|p| p.all_flow_elements().iter().any(|e| drawn.contains(e.id())))
    };
    let mut new_diagrams = Vec::new();
    let mut covered: HashSet<String> = HashSet::new();
    for c in defs.collaborations() {
        let cid = c.base.id();
        if drawn.contains(cid) || c.participants.iter().any(|p| drawn.contains(p.base.id())) {
            continue;
        }
        if c.participants.iter().any(|p| {
            p.process_ref
                .as_deref()
                .is_some_and(|pr| process_drawn(defs, pr, &drawn))
        }) {
            continue;
        }
        let mut elements = Vec::new();
        let mut y = 80.0;
        let mut pool_bounds: HashMap<String, Bounds> = HashMap::new();
        let mut node_bounds: HashMap<String, Bounds> = HashMap::new();
        let mut laids = Vec::new();
        for part in &c.participants {
            let laid = part
                .process_ref
                .as_deref()
                .and_then(|pr| defs.process(pr))
                .map(|p| {
                    let lanes = Lanes::of(&p.lane_sets);
                    let laid = layout_body(
                        &p.flow_elements,
                        &p.artifacts,
                        0,
                        (!lanes.leaves.is_empty()).then_some(&lanes),
                    );
                    (laid, lanes)
                });
            laids.push((part, laid));
        }
        let band = crate::notation::BAND;
        let indent = |l: &Lanes| band * (1 + l.max_depth()) as f64 + 30.0;
        let width = laids
            .iter()
            .filter_map(|(_, l)| l.as_ref().map(|(l, lanes)| l.w + indent(lanes)))
            .fold(400.0f64, f64::max)
            + 40.0;
        for (part, laid) in laids {
            let h = laid.as_ref().map_or(80.0, |(l, _)| (l.h + 80.0).max(160.0));
            let b = Bounds {
                x: 120.0,
                y,
                width,
                height: h,
            };
            elements.push(DiagramElement::Shape(Shape {
                id: Some(format!("{}_di", part.base.id())),
                bpmn_element: Some(part.base.id().to_owned()),
                is_horizontal: Some(true),
                bounds: Some(b),
                ..Default::default()
            }));
            pool_bounds.insert(part.base.id().to_owned(), b);
            if let Some((mut laid, lanes)) = laid {
                laid.translate(b.x + indent(&lanes), y + 40.0);
                lane_shapes(&mut elements, &lanes, &laid.bands, &b);
                for (id, b, _) in &laid.shapes {
                    node_bounds.insert(id.clone(), *b);
                }
                push_laid(&mut elements, laid);
                covered.extend(part.process_ref.clone());
            }
            y += h + 40.0;
        }
        for mf in &c.message_flows {
            let find = |id: &str| node_bounds.get(id).or_else(|| pool_bounds.get(id)).copied();
            if let (Some(sb), Some(tb)) = (find(&mf.source_ref), find(&mf.target_ref)) {
                elements.push(DiagramElement::Edge(Edge {
                    id: Some(format!("{}_di", mf.base.id())),
                    bpmn_element: Some(mf.base.id().to_owned()),
                    waypoints: route_vertical(&sb, &tb),
                    ..Default::default()
                }));
            }
        }
        new_diagrams.push(Diagram {
            id: Some(format!("{cid}_diagram")),
            plane: Some(Plane {
                id: Some(format!("{cid}_plane")),
                bpmn_element: Some(cid.to_owned()),
                elements,
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    for root in &defs.root_elements {
        let RootElement::Process(p) = root else {
            continue;
        };
        let pid = p.base.id();
        if covered.contains(pid) || process_drawn(defs, pid, &drawn) {
            continue;
        }
        let mut laid = layout_body(&p.flow_elements, &p.artifacts, 0, None);
        laid.translate(160.0, 80.0);
        let mut elements = Vec::new();
        push_laid(&mut elements, laid);
        new_diagrams.push(Diagram {
            id: Some(format!("{pid}_diagram")),
            plane: Some(Plane {
                id: Some(format!("{pid}_plane")),
                bpmn_element: Some(pid.to_owned()),
                elements,
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    // Replace empty diagrams of the same plane rather than adding a second one.
    for nd in new_diagrams {
        let target = nd.plane.as_ref().and_then(|p| p.bpmn_element.clone());
        let slot = defs.diagrams.iter_mut().find(|d| {
            d.plane
                .as_ref()
                .is_some_and(|p| p.elements.is_empty() && p.bpmn_element == target)
        });
        match slot {
            Some(d) => {
                if let (Some(p), Some(np)) = (d.plane.as_mut(), nd.plane) {
                    p.elements = np.elements;
                }
            }
            None => defs.diagrams.push(nd),
        }
    }
}
