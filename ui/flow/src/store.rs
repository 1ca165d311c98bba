//! The canvas's reactive state: one signal per node and per edge (so changing one node
//! re-renders that node only), the ordered id lists the canvas iterates, the viewport, the
//! selection and the transient interaction state. [`FlowStore`] is a `Copy` handle the owner
//! keeps and hands to [`crate::FlowCanvas`].

use std::collections::{HashMap, HashSet};

use leptos::prelude::*;

use crate::geom::{GuideLine, Point, Rect, bounds_of};
use crate::model::{FlowEdge, FlowNode, Viewport, follow_edge, with_descendants};

/// Padding around the diagram when fitting it into the canvas, in screen pixels.
const FIT_PADDING: f64 = 40.0;

/// An external item (palette entry) on its way to the canvas.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// Pressed on the item: the next pointer release over the canvas drops it.
    Drag { payload: String },
    /// Clicked the item: the next click on the canvas drops it.
    Placement { payload: String },
}

impl Pending {
    pub fn payload(&self) -> &str {
        match self {
            Pending::Drag { payload } | Pending::Placement { payload } => payload,
        }
    }
}

/// A `Copy` handle on the canvas state. Create it once (in the owner's component) with
/// [`FlowStore::new`]; feed it with [`FlowStore::set_graph`] whenever the owner's model changes.
#[derive(Clone, Copy, Debug)]
pub struct FlowStore {
    node_ids: RwSignal<Vec<String>>,
    /// The two drawing layers of `node_ids`: containers, then everything else.
    container_ids: RwSignal<Vec<String>>,
    plain_ids: RwSignal<Vec<String>>,
    nodes: StoredValue<HashMap<String, RwSignal<FlowNode>>>,
    edge_ids: RwSignal<Vec<String>>,
    edges: StoredValue<HashMap<String, RwSignal<FlowEdge>>>,
    /// Signals of removed items, disposed at the next `set_graph` (by then the views that read
    /// them are gone).
    graveyard: StoredValue<Vec<Grave>>,
    viewport: RwSignal<Viewport>,
    selection: RwSignal<Vec<String>>,
    /// The selection as a set, so each row's "am I selected" check is O(1).
    selected_set: Memo<HashSet<String>>,
    /// The canvas element's box in client coordinates (set by the canvas).
    pub(crate) bounds: RwSignal<Rect>,
    /// Union of all node rects, recomputed by `set_graph` and after drags (minimap, fit).
    extent: RwSignal<Option<Rect>>,
    fit_pending: StoredValue<bool>,
    pub(crate) pending: RwSignal<Option<Pending>>,
    /// Client position of an external drag, for the drop ghost.
    pub(crate) ghost: RwSignal<Option<(f64, f64)>>,
    pub(crate) guides: RwSignal<Vec<GuideLine>>,
    pub(crate) hover: RwSignal<Option<String>>,
    /// The node under the pointer while connecting, and whether it is a valid target.
    pub(crate) connect_target: RwSignal<Option<(String, bool)>>,
    /// Signals are created under this owner so they outlive the effect that calls `set_graph`.
    owner: StoredValue<Owner>,
}

#[derive(Debug, Clone, Copy)]
enum Grave {
    Node(RwSignal<FlowNode>),
    Edge(RwSignal<FlowEdge>),
}

impl Default for FlowStore {
    fn default() -> Self {
        Self::new()
    }
}

/// What a drag moves, captured at its start so each frame only touches the moved nodes and
/// their edges.
#[derive(Debug, Clone, Default)]
pub struct DragPlan {
    /// The nodes the user dragged (the roots), as reported in `FlowEvent::Moved`.
    pub roots: Vec<String>,
    /// Every moved node (roots and descendants) with its rect at the start.
    pub moved: Vec<(String, Rect)>,
    /// Edges touching a moved node, as they were at the start.
    edges: Vec<FlowEdge>,
    /// Start rects of the edges' end nodes that do not move.
    fixed_ends: HashMap<String, Rect>,
}

impl DragPlan {
    /// The union of the moved roots' rects at the start (what snapping and guides act on).
    pub fn root_bounds(&self) -> Option<Rect> {
        let roots: HashSet<&str> = self.roots.iter().map(String::as_str).collect();
        bounds_of(
            self.moved
                .iter()
                .filter(|(id, _)| roots.contains(id.as_str()))
                .map(|(_, r)| *r),
        )
    }

    pub fn is_moved(&self, id: &str) -> bool {
        self.moved.iter().any(|(m, _)| m == id)
    }
}

impl FlowStore {
    pub fn new() -> Self {
        let selection = RwSignal::new(Vec::<String>::new());
        Self {
            node_ids: RwSignal::new(Vec::new()),
            container_ids: RwSignal::new(Vec::new()),
            plain_ids: RwSignal::new(Vec::new()),
            nodes: StoredValue::new(HashMap::new()),
            edge_ids: RwSignal::new(Vec::new()),
            edges: StoredValue::new(HashMap::new()),
            graveyard: StoredValue::new(Vec::new()),
            viewport: RwSignal::new(Viewport::default()),
            selection,
            selected_set: Memo::new(move |_| selection.with(|s| s.iter().cloned().collect())),
            bounds: RwSignal::new(Rect::default()),
            extent: RwSignal::new(None),
            fit_pending: StoredValue::new(false),
            pending: RwSignal::new(None),
            ghost: RwSignal::new(None),
            guides: RwSignal::new(Vec::new()),
            hover: RwSignal::new(None),
            connect_target: RwSignal::new(None),
            owner: StoredValue::new(Owner::new()),
        }
    }

    /// Replaces the graph, diffing by id: items whose value did not change are not touched (no
    /// re-render), changed ones are updated in place, new ones get a signal, missing ones go.
    /// Nodes are drawn in the given order, containers first; edges in the given order. Ids of
    /// removed items are dropped from the selection.
    pub fn set_graph(&self, nodes: Vec<FlowNode>, edges: Vec<FlowEdge>) {
        for grave in self
            .graveyard
            .try_update_value(std::mem::take)
            .unwrap_or_default()
        {
            match grave {
                Grave::Node(s) => s.dispose(),
                Grave::Edge(s) => s.dispose(),
            }
        }
        let owner = self.owner.get_value();
        let extent = bounds_of(nodes.iter().map(|n| n.rect));

        let mut seen = HashSet::new();
        let mut containers = Vec::new();
        let mut others = Vec::new();
        let mut new_nodes = Vec::new();
        for node in nodes {
            if !seen.insert(node.id.clone()) {
                continue;
            }
            if node.container {
                containers.push(node.id.clone());
            } else {
                others.push(node.id.clone());
            }
            match self.node_signal(&node.id) {
                Some(sig) => {
                    if sig.with_untracked(|cur| *cur != node) {
                        sig.set(node);
                    }
                }
                None => {
                    let id = node.id.clone();
                    new_nodes.push((id, owner.with(|| RwSignal::new(node))));
                }
            }
        }
        let node_ids: Vec<String> = containers.iter().chain(&others).cloned().collect();

        let mut edge_ids = Vec::new();
        let mut new_edges = Vec::new();
        for edge in edges {
            if !seen.insert(edge.id.clone()) {
                continue;
            }
            edge_ids.push(edge.id.clone());
            match self.edge_signal(&edge.id) {
                Some(sig) => {
                    if sig.with_untracked(|cur| *cur != edge) {
                        sig.set(edge);
                    }
                }
                None => {
                    let id = edge.id.clone();
                    new_edges.push((id, owner.with(|| RwSignal::new(edge))));
                }
            }
        }

        let mut graves = Vec::new();
        self.nodes.update_value(|map| {
            map.extend(new_nodes);
            map.retain(|id, sig| {
                let keep = seen.contains(id);
                if !keep {
                    graves.push(Grave::Node(*sig));
                }
                keep
            });
        });
        self.edges.update_value(|map| {
            map.extend(new_edges);
            map.retain(|id, sig| {
                let keep = seen.contains(id);
                if !keep {
                    graves.push(Grave::Edge(*sig));
                }
                keep
            });
        });
        self.graveyard.set_value(graves);

        if self.container_ids.with_untracked(|cur| *cur != containers) {
            self.container_ids.set(containers);
        }
        if self.plain_ids.with_untracked(|cur| *cur != others) {
            self.plain_ids.set(others);
        }
        if self.node_ids.with_untracked(|cur| *cur != node_ids) {
            self.node_ids.set(node_ids);
        }
        if self.edge_ids.with_untracked(|cur| *cur != edge_ids) {
            self.edge_ids.set(edge_ids);
        }
        if self.extent.get_untracked() != extent {
            self.extent.set(extent);
        }
        let stale = self
            .selection
            .with_untracked(|sel| sel.iter().any(|id| !seen.contains(id)));
        if stale {
            self.selection
                .update(|sel| sel.retain(|id| seen.contains(id)));
        }
        if self.fit_pending.get_value() {
            self.fit_view();
        }
    }

    /// Node ids in draw order (tracked).
    pub fn node_ids(&self) -> RwSignal<Vec<String>> {
        self.node_ids
    }

    /// Container node ids in draw order (tracked): the lower drawing layer.
    pub fn container_ids(&self) -> RwSignal<Vec<String>> {
        self.container_ids
    }

    /// Non-container node ids in draw order (tracked): the layer above the edges.
    pub fn plain_ids(&self) -> RwSignal<Vec<String>> {
        self.plain_ids
    }

    /// Edge ids in draw order (tracked).
    pub fn edge_ids(&self) -> RwSignal<Vec<String>> {
        self.edge_ids
    }

    /// The signal of one node, for views that follow it.
    pub fn node_signal(&self, id: &str) -> Option<RwSignal<FlowNode>> {
        self.nodes.with_value(|m| m.get(id).copied())
    }

    pub fn edge_signal(&self, id: &str) -> Option<RwSignal<FlowEdge>> {
        self.edges.with_value(|m| m.get(id).copied())
    }

    pub fn viewport(&self) -> RwSignal<Viewport> {
        self.viewport
    }

    /// Selected node and edge ids.
    pub fn selection(&self) -> RwSignal<Vec<String>> {
        self.selection
    }

    /// Whether an item is selected (tracked; cheap for many callers).
    pub fn is_selected(&self, id: &str) -> bool {
        self.selected_set.with(|s| s.contains(id))
    }

    /// Replaces the selection (no event: the caller knows).
    pub fn select(&self, ids: Vec<String>) {
        if self.selection.with_untracked(|cur| *cur != ids) {
            self.selection.set(ids);
        }
    }

    /// Union of all node rects (tracked).
    pub fn extent(&self) -> Option<Rect> {
        self.extent.get()
    }

    /// The canvas element's size in pixels (tracked; zero before the canvas is mounted).
    pub fn canvas_size(&self) -> (f64, f64) {
        self.bounds.with(|b| (b.w, b.h))
    }

    /// Fits all nodes into the canvas with some padding. Before the canvas knows its size
    /// this is remembered and done as soon as it does.
    pub fn fit_view(&self) {
        let (w, h) = self.bounds.with_untracked(|b| (b.w, b.h));
        let extent = self.extent.get_untracked();
        if w <= 0.0 || h <= 0.0 {
            self.fit_pending.set_value(true);
            return;
        }
        self.fit_pending.set_value(false);
        if let Some(extent) = extent {
            self.viewport.set(Viewport::fit(extent, w, h, FIT_PADDING));
        }
    }

    /// Zooms by `factor` around the canvas centre.
    pub fn zoom_by(&self, factor: f64) {
        let (w, h) = self.bounds.with_untracked(|b| (b.w, b.h));
        self.viewport
            .update(|vp| *vp = vp.zoom_around(Point::new(w / 2.0, h / 2.0), factor));
    }

    /// Zooms by `factor` keeping the diagram point under the client point in place.
    pub fn zoom_at(&self, client_x: f64, client_y: f64, factor: f64) {
        let local = self.to_local(client_x, client_y);
        self.viewport
            .update(|vp| *vp = vp.zoom_around(local, factor));
    }

    /// Pans by a screen distance.
    pub fn pan_by(&self, dx: f64, dy: f64) {
        self.viewport.update(|vp| {
            vp.x += dx;
            vp.y += dy;
        });
    }

    /// Scrolls so that the diagram point `p` is in the middle of the canvas.
    pub fn center_on(&self, p: Point) {
        let (w, h) = self.bounds.with_untracked(|b| (b.w, b.h));
        self.viewport.update(|vp| *vp = vp.centered_on(p, w, h));
    }

    /// Untracked read of one node.
    pub fn node(&self, id: &str) -> Option<FlowNode> {
        self.node_signal(id).map(|s| s.get_untracked())
    }

    /// Untracked read of one edge.
    pub fn edge(&self, id: &str) -> Option<FlowEdge> {
        self.edge_signal(id).map(|s| s.get_untracked())
    }

    /// Untracked read of all nodes in draw order.
    pub fn nodes(&self) -> Vec<FlowNode> {
        self.node_ids
            .with_untracked(|ids| ids.iter().filter_map(|id| self.node(id)).collect())
    }

    /// Untracked read of all nodes in draw order without their markup, for geometry.
    pub fn light_nodes(&self) -> Vec<FlowNode> {
        self.node_ids
            .with_untracked(|ids| {
                ids.iter()
                    .filter_map(|id| self.node_signal(id))
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .map(|sig| {
                sig.with_untracked(|n| FlowNode {
                    id: n.id.clone(),
                    rect: n.rect,
                    parent: n.parent.clone(),
                    container: n.container,
                    connectable: n.connectable,
                    draggable: n.draggable,
                    resizable: n.resizable,
                    ..FlowNode::default()
                })
            })
            .collect()
    }

    /// Untracked read of all edges in draw order.
    pub fn edges(&self) -> Vec<FlowEdge> {
        self.edge_ids
            .with_untracked(|ids| ids.iter().filter_map(|id| self.edge(id)).collect())
    }

    /// Client coordinates to canvas-local screen coordinates (untracked).
    pub(crate) fn to_local(self, client_x: f64, client_y: f64) -> Point {
        let b = self.bounds.get_untracked();
        Point::new(client_x - b.x, client_y - b.y)
    }

    /// Client (screen) coordinates to diagram coordinates (untracked).
    pub fn to_diagram(self, client_x: f64, client_y: f64) -> Point {
        let local = self.to_local(client_x, client_y);
        self.viewport.get_untracked().to_diagram(local)
    }

    /// Diagram coordinates to client coordinates. Tracks the viewport and the canvas position,
    /// so an overlay positioned with it follows pans and zooms.
    pub fn to_client(self, p: Point) -> (f64, f64) {
        let s = self.viewport.get().to_screen(p);
        let b = self.bounds.get();
        (s.x + b.x, s.y + b.y)
    }

    /// Diagram coordinates to coordinates relative to the canvas element's top-left corner
    /// (tracked), for overlays placed inside the canvas's children layer.
    pub fn to_canvas(self, p: Point) -> (f64, f64) {
        let s = self.viewport.get().to_screen(p);
        (s.x, s.y)
    }

    /// A palette item was pressed: the next pointer release over the canvas emits
    /// `FlowEvent::Drop` with this payload; a release elsewhere cancels.
    pub fn begin_external_drag(&self, payload: String) {
        self.pending.set(Some(Pending::Drag { payload }));
    }

    /// A palette item was clicked: the next click on the canvas emits `FlowEvent::Drop` there.
    /// Escape cancels.
    pub fn arm_placement(&self, payload: String) {
        self.pending.set(Some(Pending::Placement { payload }));
    }

    /// The external drag or placement in progress, if any (tracked).
    pub fn pending(&self) -> Option<Pending> {
        self.pending.get()
    }

    pub fn cancel_external(&self) {
        if self.pending.with_untracked(Option::is_some) {
            self.pending.set(None);
        }
        if self.ghost.with_untracked(Option::is_some) {
            self.ghost.set(None);
        }
    }

    /// Captures what dragging `roots` moves: the roots and their descendants, and the edges
    /// touching any of them.
    pub fn plan_drag(&self, roots: Vec<String>) -> DragPlan {
        let nodes = self.light_nodes();
        let moved_ids = with_descendants(&nodes, &roots);
        let rects: HashMap<&str, Rect> = nodes.iter().map(|n| (n.id.as_str(), n.rect)).collect();
        let moved_set: HashSet<&str> = moved_ids.iter().map(String::as_str).collect();
        let moved = moved_ids
            .iter()
            .filter_map(|id| rects.get(id.as_str()).map(|r| (id.clone(), *r)))
            .collect();
        let touches =
            |end: &Option<String>| end.as_deref().is_some_and(|id| moved_set.contains(id));
        let edges: Vec<FlowEdge> = self
            .edge_ids
            .with_untracked(|ids| {
                ids.iter()
                    .filter_map(|id| self.edge_signal(id))
                    .collect::<Vec<_>>()
            })
            .into_iter()
            .filter(|sig| sig.with_untracked(|e| touches(&e.source) || touches(&e.target)))
            .map(|sig| sig.get_untracked())
            .collect();
        let mut fixed_ends = HashMap::new();
        for e in &edges {
            for end in [&e.source, &e.target].into_iter().flatten() {
                if !moved_set.contains(end.as_str())
                    && let Some(r) = rects.get(end.as_str())
                {
                    fixed_ends.insert(end.clone(), *r);
                }
            }
        }
        DragPlan {
            roots,
            moved,
            edges,
            fixed_ends,
        }
    }

    /// Shows the planned nodes moved by (dx, dy) from their start positions, with their edges
    /// following. Touches only the planned nodes and edges.
    pub fn apply_drag(&self, plan: &DragPlan, dx: f64, dy: f64) {
        let moved: HashMap<&str, Rect> = plan
            .moved
            .iter()
            .map(|(id, r)| (id.as_str(), r.translate(dx, dy)))
            .collect();
        for (id, rect) in &moved {
            if let Some(sig) = self.node_signal(id)
                && sig.with_untracked(|n| n.rect != *rect)
            {
                sig.update(|n| n.rect = *rect);
            }
        }
        for edge in &plan.edges {
            let end = |id: &Option<String>| {
                id.as_deref().and_then(|id| {
                    moved
                        .get(id)
                        .map(|r| (*r, true))
                        .or_else(|| plan.fixed_ends.get(id).map(|r| (*r, false)))
                })
            };
            let pts = follow_edge(edge, end(&edge.source), end(&edge.target), dx, dy);
            self.set_waypoints(&edge.id, pts);
        }
    }

    /// Puts the planned nodes and edges back where they were.
    pub fn cancel_drag(&self, plan: &DragPlan) {
        self.apply_drag(plan, 0.0, 0.0);
        for edge in &plan.edges {
            self.set_waypoints(&edge.id, edge.waypoints.clone());
        }
    }

    /// Recomputes the extent after the canvas moved nodes itself.
    pub(crate) fn refresh_extent(&self) {
        let extent = bounds_of(self.nodes().iter().map(|n| n.rect));
        if self.extent.get_untracked() != extent {
            self.extent.set(extent);
        }
    }

    pub(crate) fn set_waypoints(&self, id: &str, pts: Vec<Point>) {
        if let Some(sig) = self.edge_signal(id)
            && sig.with_untracked(|e| e.waypoints != pts)
        {
            sig.update(|e| e.waypoints = pts);
        }
    }

    pub(crate) fn set_rect(&self, id: &str, rect: Rect) {
        if let Some(sig) = self.node_signal(id)
            && sig.with_untracked(|n| n.rect != rect)
        {
            sig.update(|n| n.rect = rect);
        }
    }

    /// Records the canvas element's client box (called by the canvas); runs a fit that was
    /// asked for before the size was known.
    pub(crate) fn set_bounds(&self, rect: Rect) {
        if self.bounds.get_untracked() != rect {
            self.bounds.set(rect);
        }
        if rect.w > 0.0 && rect.h > 0.0 && self.fit_pending.get_value() {
            self.fit_view();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn node(id: &str, x: f64, y: f64) -> FlowNode {
        FlowNode {
            id: id.into(),
            key: Some(format!("el_{id}")),
            rect: Rect::new(x, y, 100.0, 80.0),
            kind: "task".into(),
            draggable: true,
            connectable: true,
            ..FlowNode::default()
        }
    }

    fn edge(id: &str, s: &str, t: &str, pts: &[(f64, f64)]) -> FlowEdge {
        FlowEdge {
            id: id.into(),
            source: Some(s.into()),
            target: Some(t.into()),
            waypoints: pts.iter().map(|(x, y)| Point::new(*x, *y)).collect(),
            kind: "flow".into(),
            ..FlowEdge::default()
        }
    }

    /// A memo over one node's signal counting how often it recomputes: memos are pulled, so
    /// this works natively without an executor.
    fn watch(sig: RwSignal<FlowNode>) -> (Memo<Rect>, Arc<AtomicUsize>) {
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let memo = Memo::new(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            sig.with(|n| n.rect)
        });
        (memo, runs)
    }

    fn graph() -> (Vec<FlowNode>, Vec<FlowEdge>) {
        let nodes = vec![
            node("a", 0.0, 0.0),
            node("b", 200.0, 0.0),
            node("c", 0.0, 200.0),
        ];
        let edges = vec![
            edge("ab", "a", "b", &[(100.0, 40.0), (200.0, 40.0)]),
            edge("ac", "a", "c", &[(50.0, 80.0), (50.0, 200.0)]),
        ];
        (nodes, edges)
    }

    #[test]
    fn set_graph_diffs_by_id() {
        let owner = Owner::new();
        owner.set();
        let store = FlowStore::new();
        let (nodes, edges) = graph();
        store.set_graph(nodes.clone(), edges.clone());
        assert_eq!(store.node_ids().get_untracked(), vec!["a", "b", "c"]);
        assert_eq!(store.edge_ids().get_untracked(), vec!["ab", "ac"]);
        assert_eq!(store.node("b"), Some(nodes[1].clone()));
        assert_eq!(store.edge("ac"), Some(edges[1].clone()));
        assert_eq!(
            store.extent.get_untracked(),
            Some(Rect::new(0.0, 0.0, 300.0, 280.0))
        );

        let sig_a = store.node_signal("a").unwrap();
        let sig_b = store.node_signal("b").unwrap();
        let (memo_a, runs_a) = watch(sig_a);
        let (memo_b, runs_b) = watch(sig_b);
        assert_eq!(memo_a.get_untracked(), nodes[0].rect);
        memo_b.get_untracked();
        assert_eq!(
            (runs_a.load(Ordering::SeqCst), runs_b.load(Ordering::SeqCst)),
            (1, 1)
        );

        // Same graph again: nothing touched.
        store.set_graph(nodes.clone(), edges.clone());
        memo_a.get_untracked();
        memo_b.get_untracked();
        assert_eq!(
            (runs_a.load(Ordering::SeqCst), runs_b.load(Ordering::SeqCst)),
            (1, 1)
        );

        // Move b only: b's signal changes in place, a's is untouched.
        let mut changed = nodes.clone();
        changed[1].rect.x = 250.0;
        store.set_graph(changed.clone(), edges.clone());
        assert_eq!(memo_a.get_untracked(), nodes[0].rect);
        assert_eq!(memo_b.get_untracked().x, 250.0);
        assert_eq!(
            (runs_a.load(Ordering::SeqCst), runs_b.load(Ordering::SeqCst)),
            (1, 2)
        );
        assert_eq!(
            store.node_signal("b"),
            Some(sig_b),
            "same signal, updated in place"
        );

        // Remove a and its edges, add d; the selection forgets a.
        store.select(vec!["a".into(), "b".into(), "ab".into()]);
        let mut next = changed[1..].to_vec();
        next.push(node("d", 500.0, 500.0));
        store.set_graph(next, vec![]);
        assert_eq!(store.node_ids().get_untracked(), vec!["b", "c", "d"]);
        assert!(store.node("a").is_none());
        assert!(store.edge("ab").is_none());
        assert_eq!(store.selection().get_untracked(), vec!["b"]);
        assert!(store.is_selected("b") && !store.is_selected("a"));
        // The removed signal is still readable until the next set_graph...
        assert!(sig_a.try_get_untracked().is_some());
        store.set_graph(store.nodes(), vec![]);
        // ...and disposed after it.
        assert!(sig_a.try_get_untracked().is_none());
    }

    #[test]
    fn containers_are_drawn_first_and_duplicates_dropped() {
        let owner = Owner::new();
        owner.set();
        let store = FlowStore::new();
        let mut pool = node("pool", -50.0, -50.0);
        pool.container = true;
        store.set_graph(
            vec![
                node("a", 0.0, 0.0),
                pool,
                node("a", 9.0, 9.0),
                node("b", 1.0, 1.0),
            ],
            vec![],
        );
        assert_eq!(store.node_ids().get_untracked(), vec!["pool", "a", "b"]);
        assert_eq!(store.container_ids().get_untracked(), vec!["pool"]);
        assert_eq!(store.plain_ids().get_untracked(), vec!["a", "b"]);
        assert_eq!(store.node("a").unwrap().rect.x, 0.0);
    }

    #[test]
    fn signals_survive_the_owner_that_called_set_graph() {
        let owner = Owner::new();
        owner.set();
        let store = FlowStore::new();
        // An effect-like child owner calls set_graph and is then cleaned up.
        let child = Owner::new();
        child.with(|| {
            let (nodes, edges) = graph();
            store.set_graph(nodes, edges);
        });
        child.cleanup();
        drop(child);
        assert!(
            store
                .node_signal("a")
                .unwrap()
                .try_get_untracked()
                .is_some()
        );
    }

    #[test]
    fn viewport_math_against_the_canvas_box() {
        let owner = Owner::new();
        owner.set();
        let store = FlowStore::new();
        let (nodes, edges) = graph();
        store.set_graph(nodes, edges);
        // Fit before the canvas knows its size: deferred until it does.
        store.fit_view();
        assert_eq!(store.viewport().get_untracked(), Viewport::default());
        store.set_bounds(Rect::new(100.0, 50.0, 380.0, 360.0));
        let vp = store.viewport().get_untracked();
        assert_eq!(vp.zoom, 1.0);
        // Extent (0,0)-(300,280) centred in the canvas.
        assert_eq!(
            vp.to_screen(Point::new(150.0, 140.0)),
            Point::new(190.0, 180.0)
        );
        assert_eq!(store.to_client(Point::new(150.0, 140.0)), (290.0, 230.0));
        assert_eq!(store.to_diagram(290.0, 230.0), Point::new(150.0, 140.0));

        store.zoom_by(2.0);
        let vp2 = store.viewport().get_untracked();
        assert_eq!(vp2.zoom, 2.0);
        // The canvas centre stays on the same diagram point.
        assert_eq!(store.to_diagram(290.0, 230.0), Point::new(150.0, 140.0));

        store.zoom_at(100.0, 50.0, 0.5);
        assert_eq!(store.viewport().get_untracked().zoom, 1.0);
        assert_eq!(
            store.to_diagram(100.0, 50.0),
            vp2.to_diagram(Point::new(0.0, 0.0))
        );

        store.pan_by(10.0, -5.0);
        let before = store.to_diagram(300.0, 300.0);
        store.pan_by(-10.0, 5.0);
        assert_eq!(store.to_diagram(290.0, 305.0), before);

        store.center_on(Point::new(0.0, 0.0));
        assert_eq!(store.to_client(Point::new(0.0, 0.0)), (290.0, 230.0));
    }

    #[test]
    fn drags_touch_only_moved_nodes_and_their_edges() {
        let owner = Owner::new();
        owner.set();
        let store = FlowStore::new();
        let (mut nodes, mut edges) = graph();
        let mut child = node("a_child", 10.0, 10.0);
        child.parent = Some("a".into());
        nodes.push(child);
        edges.push(edge("bc", "b", "c", &[(250.0, 80.0), (50.0, 200.0)]));
        store.set_graph(nodes, edges);
        let (memo_b, runs_b) = watch(store.node_signal("b").unwrap());
        memo_b.get_untracked();

        let plan = store.plan_drag(vec!["a".into()]);
        assert_eq!(plan.roots, vec!["a"]);
        assert!(plan.is_moved("a") && plan.is_moved("a_child") && !plan.is_moved("b"));
        assert_eq!(plan.root_bounds(), Some(Rect::new(0.0, 0.0, 100.0, 80.0)));

        store.apply_drag(&plan, 0.0, 300.0);
        assert_eq!(
            store.node("a").unwrap().rect,
            Rect::new(0.0, 300.0, 100.0, 80.0)
        );
        assert_eq!(store.node("a_child").unwrap().rect.y, 310.0);
        // a now sits below c: a→c is re-routed upward, a→b diagonally.
        assert_eq!(
            store.edge("ac").unwrap().waypoints,
            vec![Point::new(50.0, 300.0), Point::new(50.0, 280.0)]
        );
        assert_eq!(
            store.edge("ab").unwrap().waypoints,
            vec![
                Point::new(100.0, 340.0),
                Point::new(250.0, 340.0),
                Point::new(250.0, 80.0)
            ]
        );
        // b and the b→c edge were not touched.
        memo_b.get_untracked();
        assert_eq!(runs_b.load(Ordering::SeqCst), 1);
        assert_eq!(
            store.edge("bc").unwrap().waypoints,
            vec![Point::new(250.0, 80.0), Point::new(50.0, 200.0)]
        );

        store.cancel_drag(&plan);
        let (nodes, edges) = graph();
        assert_eq!(store.node("a"), Some(nodes[0].clone()));
        assert_eq!(store.edge("ab"), Some(edges[0].clone()));
        assert_eq!(store.edge("ac"), Some(edges[1].clone()));
    }

    #[test]
    fn edges_are_diffed_like_nodes() {
        let owner = Owner::new();
        owner.set();
        let store = FlowStore::new();
        let (nodes, edges) = graph();
        store.set_graph(nodes.clone(), edges.clone());
        let ab = store.edge_signal("ab").unwrap();
        let ac = store.edge_signal("ac").unwrap();
        let runs = Arc::new(AtomicUsize::new(0));
        let r = runs.clone();
        let memo = Memo::new(move |_| {
            r.fetch_add(1, Ordering::SeqCst);
            ab.with(|e| e.waypoints.len())
        });
        memo.get_untracked();
        let mut changed = edges.clone();
        changed[1].label = Some(("yes".into(), Rect::new(0.0, 0.0, 20.0, 10.0)));
        store.set_graph(nodes.clone(), changed.clone());
        memo.get_untracked();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "ab untouched");
        assert_eq!(ac.get_untracked().label.unwrap().0, "yes");
        // Reordering edges changes the id list only.
        changed.reverse();
        store.set_graph(nodes, changed);
        assert_eq!(store.edge_ids().get_untracked(), vec!["ac", "ab"]);
        memo.get_untracked();
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn free_edge_ends_stay_put_while_the_other_end_moves() {
        let owner = Owner::new();
        owner.set();
        let store = FlowStore::new();
        let mut dangling = edge(
            "free",
            "a",
            "x",
            &[(100.0, 40.0), (150.0, 40.0), (150.0, 500.0)],
        );
        dangling.target = None;
        store.set_graph(vec![node("a", 0.0, 0.0)], vec![dangling]);
        let plan = store.plan_drag(vec!["a".into()]);
        store.apply_drag(&plan, 10.0, 20.0);
        assert_eq!(
            store.edge("free").unwrap().waypoints,
            vec![
                Point::new(110.0, 60.0),
                Point::new(150.0, 40.0),
                Point::new(150.0, 500.0)
            ]
        );
    }

    #[test]
    fn external_drag_and_placement() {
        let owner = Owner::new();
        owner.set();
        let store = FlowStore::new();
        store.begin_external_drag("serviceTask".into());
        assert_eq!(
            store.pending.get_untracked(),
            Some(Pending::Drag {
                payload: "serviceTask".into()
            })
        );
        store.arm_placement("endEvent".into());
        assert_eq!(store.pending.get_untracked().unwrap().payload(), "endEvent");
        store.cancel_external();
        assert_eq!(store.pending.get_untracked(), None);
    }
}
