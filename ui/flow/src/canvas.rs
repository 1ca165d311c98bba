//! The `FlowCanvas` component: renders a [`FlowStore`] as SVG and turns pointer, wheel and
//! keyboard input into viewport changes, live previews and [`FlowEvent`]s for the owner.
//!
//! Rendering is keyed per node and per edge, and each row reads only its own signal, so a drag
//! frame re-renders the dragged nodes and their edges and nothing else. Interaction state lives
//! in a plain `RefCell` (it never needs to re-render anything by itself); what must be drawn
//! (guides, the selection box, the rubber band) goes through small signals.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;
use web_sys::{Element, KeyboardEvent, MouseEvent, PointerEvent, WheelEvent};

use crate::geom::{GuideLine, Point, Rect, Side, path_data, snap, waypoints_attr};
use crate::model::{
    FlowEdge, FlowNode, KeyCommand, Viewport, autopan_speed, container_grab, drag_delta,
    drag_roots, key_command, minimap_to_diagram, minimap_view, move_segment, nearest_segment,
    node_at, nodes_in_box, toggle,
};
use crate::store::{DragPlan, FlowStore, Pending};

/// What the user did, for the owner to apply to its model (and then call `set_graph`).
#[derive(Debug, Clone, PartialEq)]
pub enum FlowEvent {
    /// A drag ended (snapped); the canvas already shows the move. `ids` are the dragged roots.
    Moved {
        ids: Vec<String>,
        dx: f64,
        dy: f64,
    },
    Resized {
        id: String,
        rect: Rect,
    },
    /// Emitted only when `can_connect` allowed it.
    Connect {
        source: String,
        target: String,
    },
    Reconnect {
        edge: String,
        source_end: bool,
        node: String,
    },
    /// The user dragged a bendpoint of an edge.
    WaypointsChanged {
        edge: String,
        waypoints: Vec<Point>,
    },
    Delete {
        ids: Vec<String>,
    },
    Copy {
        ids: Vec<String>,
    },
    Cut {
        ids: Vec<String>,
    },
    Paste {
        at: Point,
    },
    Undo,
    Redo,
    SelectionChanged(Vec<String>),
    NodeDoubleClick {
        id: String,
    },
    EdgeDoubleClick {
        id: String,
    },
    CanvasClick {
        at: Point,
    },
    /// An external drag or an armed placement ended on the canvas.
    Drop {
        payload: String,
        at: Point,
    },
    ContextMenu {
        id: Option<String>,
        at: Point,
    },
}

/// Pointer travel (screen pixels) before a press becomes a drag.
const DRAG_THRESHOLD: f64 = 3.0;
/// How long the wheel must rest before a wheel scroll commits its viewport to the drawing.
const WHEEL_REST_MS: u64 = 150;
/// Radius of ports and handles in screen pixels (hit areas of at least 12 px).
const HANDLE_RADIUS: f64 = 7.0;
/// Alignment tolerance in screen pixels.
const ALIGN_TOLERANCE: f64 = 6.0;
/// Smallest size a resize leaves.
const MIN_SIZE: f64 = 20.0;
const MINIMAP_W: f64 = 150.0;
const MINIMAP_H: f64 = 100.0;

#[derive(Debug)]
struct DragState {
    pointer: i32,
    start: Point,
    start_client: (f64, f64),
    roots: Vec<String>,
    /// Selection to apply if the press ends without moving (click on an already selected node).
    click_select: Option<Vec<String>>,
    plan: Option<DragPlan>,
    primary: Rect,
    others: Vec<Rect>,
    delta: (f64, f64),
}

#[derive(Debug, Default)]
enum Gesture {
    #[default]
    Idle,
    Pan {
        pointer: i32,
        start: (f64, f64),
        last: (f64, f64),
        moved: bool,
    },
    BoxSelect {
        pointer: i32,
        start: Point,
        base: Vec<String>,
    },
    Drag(Box<DragState>),
    Connect {
        pointer: i32,
        source: String,
        from: Point,
        targets: Vec<FlowNode>,
        target: Option<(String, bool)>,
    },
    Reconnect {
        pointer: i32,
        edge: FlowEdge,
        source_end: bool,
        targets: Vec<FlowNode>,
        target: Option<(String, bool)>,
    },
    Bend {
        pointer: i32,
        edge: String,
        index: usize,
        original: Vec<Point>,
        current: Vec<Point>,
    },
    Resize {
        pointer: i32,
        node: String,
        original: Rect,
        current: Rect,
    },
    Segment {
        pointer: i32,
        edge: String,
        index: usize,
        original: Vec<Point>,
        current: Vec<Point>,
    },
    Pinch {
        a: i32,
        b: i32,
    },
}

#[derive(Debug, Default)]
struct Interaction {
    gesture: Gesture,
    /// Active pointers (for two-finger pinch): id -> client position.
    pointers: HashMap<i32, (f64, f64)>,
    /// Last pointer position over the canvas, in diagram coordinates (paste target).
    last_pointer: Option<Point>,
    /// Whether the auto-pan frame loop is running.
    autopan: bool,
}

type Advance = Rc<dyn Fn(Option<&web_sys::Event>, i32, f64, f64)>;

/// The pointer of a gesture that auto-pans near the canvas border.
fn autopan_pointer(st: &Interaction) -> Option<i32> {
    match &st.gesture {
        Gesture::Drag(d) => d.plan.is_some().then_some(d.pointer),
        Gesture::Connect { pointer, .. }
        | Gesture::Reconnect { pointer, .. }
        | Gesture::BoxSelect { pointer, .. }
        | Gesture::Bend { pointer, .. }
        | Gesture::Segment { pointer, .. }
        | Gesture::Resize { pointer, .. } => Some(*pointer),
        _ => None,
    }
}

/// One auto-pan frame: pans while the gesture's pointer stays near the border, and moves the
/// gesture along so the dragged thing stays under the pointer.
fn autopan(ui: Rc<RefCell<Interaction>>, store: FlowStore, advance: Advance) {
    let next = {
        let st = ui.borrow();
        autopan_pointer(&st).and_then(|p| st.pointers.get(&p).map(|c| (p, *c)))
    };
    let speed = next.map(|(_, (cx, cy))| autopan_speed(store.bounds.get_untracked(), cx, cy));
    match (next, speed) {
        (Some((pointer, (cx, cy))), Some((vx, vy))) if (vx, vy) != (0.0, 0.0) => {
            store.pan_by(vx, vy);
            advance(None, pointer, cx, cy);
            request_animation_frame(move || autopan(ui, store, advance));
        }
        _ => ui.borrow_mut().autopan = false,
    }
}

fn target_element(ev: &web_sys::Event) -> Option<Element> {
    ev.target().and_then(|t| t.dyn_into::<Element>().ok())
}

fn closest(el: &Element, selector: &str) -> Option<Element> {
    el.closest(selector).ok().flatten()
}

fn closest_attr(el: &Element, selector: &str, attr: &str) -> Option<String> {
    closest(el, selector).and_then(|e| e.get_attribute(attr))
}

/// Node copies without markup, for hit testing during a gesture.
fn light_nodes(store: FlowStore) -> Vec<FlowNode> {
    store.light_nodes()
}

fn pinch_metrics(pointers: &HashMap<i32, (f64, f64)>, a: i32, b: i32) -> Option<(f64, (f64, f64))> {
    let pa = pointers.get(&a)?;
    let pb = pointers.get(&b)?;
    let dist = (pa.0 - pb.0).hypot(pa.1 - pb.1);
    Some((dist, ((pa.0 + pb.0) / 2.0, (pa.1 + pb.1) / 2.0)))
}

/// The flow canvas. See the crate docs and `FlowEvent` for what it does.
#[component]
pub fn FlowCanvas(
    store: FlowStore,
    #[prop(into)] on_event: Callback<FlowEvent>,
    /// (source node, target node) -> whether a connection is allowed; all are without it.
    #[prop(optional, into)]
    can_connect: Option<Callback<(String, String), bool>>,
    /// SVG `<defs>` inner markup (markers).
    #[prop(optional, into)]
    defs: String,
    /// Snap grid in diagram units; 0 turns snapping off.
    #[prop(default = 10.0)]
    grid: f64,
    #[prop(default = true)] minimap: bool,
    /// HTML overlay layer (context pad, label editor) positioned by the owner.
    #[prop(optional)]
    children: Option<Children>,
) -> impl IntoView {
    let root: NodeRef<leptos::html::Div> = NodeRef::new();
    // SVG ids are global to the document and hidden canvases stay mounted: one id per canvas.
    let grid_id = {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        format!("sw-flow-grid-{}", NEXT.fetch_add(1, Ordering::Relaxed))
    };
    let ui = Rc::new(RefCell::new(Interaction::default()));
    let box_rect = RwSignal::new(None::<Rect>);
    let rubber = RwSignal::new(None::<(Point, Point)>);
    let minimap_frozen = RwSignal::new(None::<Rect>);
    // Panning moves the drawing as one composited layer: while a pan gesture (pointer or wheel)
    // runs, the SVG keeps the viewport it had when the gesture began (`pan_anchor`) and a CSS
    // translate on the `<svg>` element makes up the difference. The browser then moves
    // already-rastered tiles instead of repainting every shape each frame; the viewport is
    // committed to the SVG when the gesture ends. The store's viewport stays the truth for
    // hit-testing, the minimap and overlays throughout.
    let pan_anchor = RwSignal::new(None::<Viewport>);
    let wheel_timer = Rc::new(RefCell::new(None::<TimeoutHandle>));

    let emit = move |e: FlowEvent| on_event.run(e);
    let allowed =
        move |s: &str, t: &str| can_connect.is_none_or(|cb| cb.run((s.to_owned(), t.to_owned())));
    let set_selection = move |ids: Vec<String>| {
        if store.selection().with_untracked(|s| *s != ids) {
            store.selection().set(ids.clone());
            emit(FlowEvent::SelectionChanged(ids));
        }
    };
    let measure = move || {
        if let Some(el) = root.get_untracked() {
            let r = el.get_bounding_client_rect();
            store.set_bounds(Rect::new(r.left(), r.top(), r.width(), r.height()));
        }
    };
    let capture = move |pointer: i32| {
        if let Some(el) = root.get_untracked() {
            let _ = el.set_pointer_capture(pointer);
        }
    };
    let focus = move || {
        if let Some(el) = root.get_untracked() {
            let opts = web_sys::FocusOptions::new();
            opts.set_prevent_scroll(true);
            let _ = el.focus_with_options(&opts);
        }
    };
    let step = if grid > 0.0 { grid } else { 1.0 };

    // Keep the canvas box up to date: on mount, on resize of the element and of the window.
    Effect::new(move |_| {
        let Some(el) = root.get() else { return };
        measure();
        let cb = Closure::<dyn FnMut(js_sys::Array)>::new(move |_entries: js_sys::Array| measure());
        if let Ok(observer) = web_sys::ResizeObserver::new(cb.as_ref().unchecked_ref()) {
            observer.observe(&el);
            let held = StoredValue::new_local(Some((observer, cb)));
            on_cleanup(move || {
                if let Some(Some((observer, _cb))) = held.try_update_value(Option::take) {
                    observer.disconnect();
                }
            });
        }
    });
    let resize = window_event_listener(leptos::ev::resize, move |_| measure());
    let scroll = window_event_listener(leptos::ev::scroll, move |_| measure());

    // External drags (palette): released over the canvas -> Drop; released elsewhere -> cancel.
    let inside = move |cx: f64, cy: f64| {
        measure();
        store
            .bounds
            .with_untracked(|b| b.contains(Point::new(cx, cy)))
    };
    let ext_move = window_event_listener(leptos::ev::pointermove, move |ev: PointerEvent| {
        if let Some(Pending::Drag { .. }) = store.pending.get_untracked() {
            let (cx, cy) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
            let b = store.bounds.get_untracked();
            let ghost = b.contains(Point::new(cx, cy)).then_some((cx, cy));
            if store.ghost.get_untracked() != ghost {
                store.ghost.set(ghost);
            }
        }
    });
    let ext_up = window_event_listener(leptos::ev::pointerup, move |ev: PointerEvent| {
        if let Some(Pending::Drag { payload }) = store.pending.get_untracked() {
            let (cx, cy) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
            let over = inside(cx, cy);
            store.cancel_external();
            if over {
                let at = store.to_diagram(cx, cy);
                emit(FlowEvent::Drop { payload, at });
                focus();
            }
        }
    });
    let ext_key = window_event_listener(leptos::ev::keydown, move |ev: KeyboardEvent| {
        if ev.key() == "Escape" && store.pending.with_untracked(Option::is_some) {
            store.cancel_external();
        }
    });
    on_cleanup(move || {
        resize.remove();
        scroll.remove();
        ext_move.remove();
        ext_up.remove();
        ext_key.remove();
    });

    // Undoes the live preview of an unfinished gesture.
    let revert = move |gesture: Gesture| {
        if pan_anchor.with_untracked(Option::is_some) {
            pan_anchor.set(None);
        }
        match gesture {
            Gesture::Drag(d) => {
                if let Some(plan) = d.plan {
                    store.cancel_drag(&plan);
                }
            }
            Gesture::Reconnect { edge, .. } => store.set_waypoints(&edge.id, edge.waypoints),
            Gesture::Bend { edge, original, .. } | Gesture::Segment { edge, original, .. } => {
                store.set_waypoints(&edge, original)
            }
            Gesture::Resize { node, original, .. } => store.set_rect(&node, original),
            _ => {}
        }
        if store.guides.with_untracked(|g| !g.is_empty()) {
            store.guides.set(Vec::new());
        }
        if store.connect_target.with_untracked(Option::is_some) {
            store.connect_target.set(None);
        }
        box_rect.set(None);
        rubber.set(None);
    };

    // ---- pointer input on the canvas ----
    let on_pointerdown = {
        let ui = ui.clone();
        move |ev: PointerEvent| {
            let Some(target) = target_element(&ev) else {
                return;
            };
            if closest(&target, ".flow-children, .flow-minimap").is_some() {
                return;
            }
            measure();
            focus();
            let (cx, cy) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
            let p = store.to_diagram(cx, cy);
            let pointer = ev.pointer_id();
            let mut st = ui.borrow_mut();
            st.pointers.insert(pointer, (cx, cy));
            st.last_pointer = Some(p);

            // A second finger: pinch zoom replaces whatever the first one started.
            if ev.pointer_type() == "touch" && st.pointers.len() == 2 {
                let other = st.pointers.keys().copied().find(|k| *k != pointer);
                if let Gesture::Drag(d) = std::mem::take(&mut st.gesture)
                    && let Some(plan) = &d.plan
                {
                    store.cancel_drag(plan);
                    store.guides.set(Vec::new());
                }
                box_rect.set(None);
                rubber.set(None);
                if let Some(a) = other {
                    st.gesture = Gesture::Pinch { a, b: pointer };
                    capture(pointer);
                    capture(a);
                }
                ev.prevent_default();
                return;
            }
            if !matches!(st.gesture, Gesture::Idle) {
                // A gesture whose release never arrived (released outside the window): drop it.
                let stale = std::mem::take(&mut st.gesture);
                st.pointers.retain(|k, _| *k == pointer);
                revert(stale);
            }
            let button = ev.button();
            if button == 2 {
                return; // the contextmenu event handles it
            }
            ev.prevent_default();
            if button == 1 {
                st.gesture = Gesture::Pan {
                    pointer,
                    start: (cx, cy),
                    last: (cx, cy),
                    moved: false,
                };
                capture(pointer);
                return;
            }

            if let Some(Pending::Placement { payload }) = store.pending.get_untracked() {
                store.cancel_external();
                drop(st);
                emit(FlowEvent::Drop { payload, at: p });
                return;
            }

            let zoom = store.viewport().get_untracked().zoom;
            if let Some(port) = closest(&target, ".flow-port") {
                let source = port.get_attribute("data-port-node").unwrap_or_default();
                let side = match port.get_attribute("data-port").as_deref() {
                    Some("n") => Side::N,
                    Some("s") => Side::S,
                    Some("w") => Side::W,
                    _ => Side::E,
                };
                if let Some(node) = store.node(&source) {
                    let from = node.rect.side_point(side);
                    st.gesture = Gesture::Connect {
                        pointer,
                        source,
                        from,
                        targets: light_nodes(store),
                        target: None,
                    };
                    rubber.set(Some((from, p)));
                    capture(pointer);
                }
                return;
            }
            if let Some(handle) = closest(&target, ".flow-edge-handle") {
                let id = handle.get_attribute("data-handle-edge").unwrap_or_default();
                let source_end = handle.get_attribute("data-end").as_deref() == Some("source");
                if let Some(edge) = store.edge(&id) {
                    st.gesture = Gesture::Reconnect {
                        pointer,
                        edge,
                        source_end,
                        targets: light_nodes(store),
                        target: None,
                    };
                    capture(pointer);
                }
                return;
            }
            if let Some(handle) = closest(&target, ".flow-bendpoint") {
                let id = handle.get_attribute("data-handle-edge").unwrap_or_default();
                let index = handle
                    .get_attribute("data-index")
                    .and_then(|i| i.parse::<usize>().ok());
                if let (Some(edge), Some(index)) = (store.edge(&id), index)
                    && index < edge.waypoints.len()
                {
                    st.gesture = Gesture::Bend {
                        pointer,
                        edge: id,
                        index,
                        original: edge.waypoints.clone(),
                        current: edge.waypoints,
                    };
                    capture(pointer);
                }
                return;
            }
            if let Some(handle) = closest(&target, ".flow-resize-handle") {
                let id = handle.get_attribute("data-resize-node").unwrap_or_default();
                if let Some(node) = store.node(&id) {
                    st.gesture = Gesture::Resize {
                        pointer,
                        node: id,
                        original: node.rect,
                        current: node.rect,
                    };
                    capture(pointer);
                }
                return;
            }

            let shift = ev.shift_key();
            let node = closest_attr(&target, "[data-node-id]", "data-node-id")
                .and_then(|id| store.node(&id))
                .filter(|n| !n.container || container_grab(n.rect, p, 8.0 / zoom));
            if let Some(node) = node {
                let selection = store.selection().get_untracked();
                let was_selected = selection.contains(&node.id);
                let (selection, click_select) = if shift {
                    (toggle(&selection, &node.id), None)
                } else if was_selected {
                    let only = vec![node.id.clone()];
                    let click = (selection.len() > 1).then_some(only);
                    (selection, click)
                } else {
                    (vec![node.id.clone()], None)
                };
                let now_selected = selection.contains(&node.id);
                drop(st);
                set_selection(selection.clone());
                if !now_selected || !node.draggable {
                    return;
                }
                let nodes = light_nodes(store);
                let roots = drag_roots(&nodes, &selection);
                ui.borrow_mut().gesture = Gesture::Drag(Box::new(DragState {
                    pointer,
                    start: p,
                    start_client: (cx, cy),
                    roots,
                    click_select,
                    plan: None,
                    primary: node.rect,
                    others: Vec::new(),
                    delta: (0.0, 0.0),
                }));
                return;
            }
            if let Some(edge_id) = closest_attr(&target, "[data-edge-id]", "data-edge-id") {
                let selection = store.selection().get_untracked();
                // Pressing a middle segment of an already selected edge drags that segment.
                if !shift
                    && selection.contains(&edge_id)
                    && let Some(edge) = store.edge(&edge_id)
                    && let Some(index) = nearest_segment(&edge.waypoints, p)
                    && move_segment(&edge.waypoints, index, p, 0.0).is_some()
                {
                    st.gesture = Gesture::Segment {
                        pointer,
                        edge: edge_id,
                        index,
                        original: edge.waypoints.clone(),
                        current: edge.waypoints,
                    };
                    capture(pointer);
                    return;
                }
                let next = if shift {
                    toggle(&selection, &edge_id)
                } else {
                    vec![edge_id]
                };
                drop(st);
                set_selection(next);
                return;
            }
            if shift {
                st.gesture = Gesture::BoxSelect {
                    pointer,
                    start: p,
                    base: store.selection().get_untracked(),
                };
                box_rect.set(Some(Rect::from_points(p, p)));
                capture(pointer);
            } else {
                st.gesture = Gesture::Pan {
                    pointer,
                    start: (cx, cy),
                    last: (cx, cy),
                    moved: false,
                };
            }
        }
    };

    // Advances the gesture of `pointer` to the client point (cx, cy); `ev` is the DOM event
    // when there is one (auto-pan frames have none).
    let advance: Advance = Rc::new({
        let ui = ui.clone();
        move |ev: Option<&web_sys::Event>, pointer: i32, cx: f64, cy: f64| {
            let p = store.to_diagram(cx, cy);
            let mut st = ui.borrow_mut();
            let prev = st.pointers.insert(pointer, (cx, cy));
            st.last_pointer = Some(p);
            let vp = store.viewport().get_untracked();
            match &mut st.gesture {
                Gesture::Idle => {
                    // Hover: which node shows its ports.
                    let Some(target) = ev.and_then(target_element) else {
                        return;
                    };
                    if closest(&target, ".flow-port").is_some() {
                        return;
                    }
                    let hovered =
                        closest_attr(&target, "[data-node-id]", "data-node-id").filter(|id| {
                            store
                                .node_signal(id)
                                .is_some_and(|s| s.with_untracked(|n| n.connectable))
                        });
                    if store.hover.get_untracked() != hovered {
                        store.hover.set(hovered);
                    }
                }
                Gesture::Pan {
                    pointer: id,
                    start,
                    last,
                    moved,
                } if *id == pointer => {
                    if !*moved && (cx - start.0).hypot(cy - start.1) >= DRAG_THRESHOLD {
                        *moved = true;
                        capture(pointer);
                        pan_anchor.set(Some(vp));
                    }
                    if *moved {
                        store.pan_by(cx - last.0, cy - last.1);
                    }
                    *last = (cx, cy);
                }
                Gesture::BoxSelect {
                    pointer: id, start, ..
                } if *id == pointer => {
                    box_rect.set(Some(Rect::from_points(*start, p)));
                }
                Gesture::Drag(d) if d.pointer == pointer => {
                    if d.plan.is_none() {
                        let (sx, sy) = d.start_client;
                        if (cx - sx).hypot(cy - sy) < DRAG_THRESHOLD || d.roots.is_empty() {
                            return;
                        }
                        let plan = store.plan_drag(d.roots.clone());
                        d.others = light_nodes(store)
                            .into_iter()
                            .filter(|n| !plan.is_moved(&n.id))
                            .map(|n| n.rect)
                            .collect();
                        d.plan = Some(plan);
                        d.click_select = None;
                        capture(pointer);
                    }
                    let (dx, dy) = (p.x - d.start.x, p.y - d.start.y);
                    let a = drag_delta(
                        d.primary,
                        dx,
                        dy,
                        grid,
                        &d.others,
                        ALIGN_TOLERANCE / vp.zoom,
                    );
                    if let Some(plan) = &d.plan {
                        store.apply_drag(plan, a.dx, a.dy);
                    }
                    d.delta = (a.dx, a.dy);
                    if store.guides.with_untracked(|g| *g != a.guides) {
                        store.guides.set(a.guides);
                    }
                }
                Gesture::Connect {
                    pointer: id,
                    source,
                    from,
                    targets,
                    target,
                } if *id == pointer => {
                    rubber.set(Some((*from, p)));
                    let hit = node_at(targets, p, true)
                        .filter(|n| n.id != *source)
                        .map(|n| n.id.clone());
                    if hit.as_ref() != target.as_ref().map(|(t, _)| t) {
                        *target = hit.map(|t| {
                            let ok = allowed(source, &t);
                            (t, ok)
                        });
                        store.connect_target.set(target.clone());
                    }
                }
                Gesture::Reconnect {
                    pointer: id,
                    edge,
                    source_end,
                    targets,
                    target,
                } if *id == pointer => {
                    let mut pts = edge.waypoints.clone();
                    let end = if *source_end {
                        pts.first_mut()
                    } else {
                        pts.last_mut()
                    };
                    if let Some(end) = end {
                        *end = p;
                    }
                    store.set_waypoints(&edge.id, pts);
                    let hit = node_at(targets, p, true).map(|n| n.id.clone());
                    if hit.as_ref() != target.as_ref().map(|(t, _)| t) {
                        *target = hit.map(|t| {
                            let ok = match (*source_end, &edge.source, &edge.target) {
                                (true, _, Some(other)) => allowed(&t, other),
                                (false, Some(other), _) => allowed(other, &t),
                                _ => true,
                            };
                            (t, ok)
                        });
                        store.connect_target.set(target.clone());
                    }
                }
                Gesture::Bend {
                    pointer: id,
                    edge,
                    index,
                    current,
                    ..
                } if *id == pointer => {
                    current[*index] = Point::new(snap(p.x, grid), snap(p.y, grid));
                    store.set_waypoints(edge, current.clone());
                }
                Gesture::Resize {
                    pointer: id,
                    node,
                    original,
                    current,
                } if *id == pointer => {
                    let w = (snap(p.x, grid) - original.x).max(MIN_SIZE);
                    let h = (snap(p.y, grid) - original.y).max(MIN_SIZE);
                    *current = Rect::new(original.x, original.y, w, h);
                    store.set_rect(node, *current);
                }
                Gesture::Segment {
                    pointer: id,
                    edge,
                    index,
                    original,
                    current,
                } if *id == pointer => {
                    if let Some(pts) = move_segment(original, *index, p, grid) {
                        *current = pts;
                        store.set_waypoints(edge, current.clone());
                    }
                }
                Gesture::Pinch { a, b } => {
                    let (a, b) = (*a, *b);
                    let mut before = st.pointers.clone();
                    if let Some(prev) = prev {
                        before.insert(pointer, prev);
                    }
                    if let (Some((d0, m0)), Some((d1, m1))) = (
                        pinch_metrics(&before, a, b),
                        pinch_metrics(&st.pointers, a, b),
                    ) && d0 > 0.0
                    {
                        store.pan_by(m1.0 - m0.0, m1.1 - m0.1);
                        store.zoom_at(m1.0, m1.1, d1 / d0);
                    }
                }
                _ => {}
            }
        }
    });

    let on_pointermove = {
        let ui = ui.clone();
        let advance = advance.clone();
        move |ev: PointerEvent| {
            let (cx, cy) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
            advance(Some(&ev), ev.pointer_id(), cx, cy);
            // Near the border during a drag-like gesture: scroll the view along.
            let start = {
                let st = ui.borrow();
                !st.autopan
                    && autopan_pointer(&st).is_some()
                    && autopan_speed(store.bounds.get_untracked(), cx, cy) != (0.0, 0.0)
            };
            if start {
                ui.borrow_mut().autopan = true;
                let (ui, advance) = (ui.clone(), advance.clone());
                request_animation_frame(move || autopan(ui, store, advance));
            }
        }
    };

    let finish = {
        let ui = ui.clone();
        move |ev: PointerEvent, cancelled: bool| {
            let pointer = ev.pointer_id();
            let (cx, cy) = (f64::from(ev.client_x()), f64::from(ev.client_y()));
            let p = store.to_diagram(cx, cy);
            let gesture = {
                let mut st = ui.borrow_mut();
                st.pointers.remove(&pointer);
                let ends = match &st.gesture {
                    Gesture::Idle => false,
                    Gesture::Pan { pointer: id, .. }
                    | Gesture::BoxSelect { pointer: id, .. }
                    | Gesture::Connect { pointer: id, .. }
                    | Gesture::Reconnect { pointer: id, .. }
                    | Gesture::Bend { pointer: id, .. }
                    | Gesture::Resize { pointer: id, .. }
                    | Gesture::Segment { pointer: id, .. } => *id == pointer,
                    Gesture::Drag(d) => d.pointer == pointer,
                    Gesture::Pinch { a, b } => *a == pointer || *b == pointer,
                };
                if !ends {
                    return;
                }
                std::mem::take(&mut st.gesture)
            };
            match gesture {
                Gesture::Idle | Gesture::Pinch { .. } => {}
                Gesture::Pan { moved, .. } => {
                    pan_anchor.set(None);
                    if !moved && !cancelled {
                        set_selection(Vec::new());
                        emit(FlowEvent::CanvasClick { at: p });
                    }
                }
                Gesture::BoxSelect { start, base, .. } => {
                    box_rect.set(None);
                    if !cancelled {
                        let area = Rect::from_points(start, p);
                        let mut ids = base;
                        for id in nodes_in_box(&light_nodes(store), area) {
                            if !ids.contains(&id) {
                                ids.push(id);
                            }
                        }
                        set_selection(ids);
                    }
                }
                Gesture::Drag(d) => {
                    store.guides.set(Vec::new());
                    match d.plan {
                        Some(plan) if cancelled => store.cancel_drag(&plan),
                        Some(_) => {
                            let (dx, dy) = d.delta;
                            if dx != 0.0 || dy != 0.0 {
                                store.refresh_extent();
                                emit(FlowEvent::Moved {
                                    ids: d.roots,
                                    dx,
                                    dy,
                                });
                            }
                        }
                        None => {
                            if let Some(only) = d.click_select {
                                set_selection(only);
                            }
                        }
                    }
                }
                Gesture::Connect { source, target, .. } => {
                    rubber.set(None);
                    store.connect_target.set(None);
                    if let Some((target, true)) = target
                        && !cancelled
                    {
                        emit(FlowEvent::Connect { source, target });
                    }
                }
                Gesture::Reconnect {
                    edge,
                    source_end,
                    target,
                    ..
                } => {
                    store.connect_target.set(None);
                    store.set_waypoints(&edge.id, edge.waypoints.clone());
                    let current = if source_end {
                        &edge.source
                    } else {
                        &edge.target
                    };
                    if let Some((node, true)) = target
                        && !cancelled
                        && current.as_deref() != Some(node.as_str())
                    {
                        emit(FlowEvent::Reconnect {
                            edge: edge.id,
                            source_end,
                            node,
                        });
                    }
                }
                Gesture::Bend {
                    edge,
                    original,
                    current,
                    ..
                }
                | Gesture::Segment {
                    edge,
                    original,
                    current,
                    ..
                } => {
                    if cancelled || current == original {
                        store.set_waypoints(&edge, original);
                    } else {
                        emit(FlowEvent::WaypointsChanged {
                            edge,
                            waypoints: current,
                        });
                    }
                }
                Gesture::Resize {
                    node,
                    original,
                    current,
                    ..
                } => {
                    if cancelled || current == original {
                        store.set_rect(&node, original);
                    } else {
                        store.refresh_extent();
                        emit(FlowEvent::Resized {
                            id: node,
                            rect: current,
                        });
                    }
                }
            }
        }
    };
    let on_pointerup = {
        let finish = finish.clone();
        move |ev: PointerEvent| finish(ev, false)
    };
    let on_pointercancel = move |ev: PointerEvent| finish(ev, true);

    let on_pointerleave = move |ev: PointerEvent| {
        if ev.pointer_type() == "mouse" && store.hover.with_untracked(Option::is_some) {
            store.hover.set(None);
        }
    };

    let on_wheel = move |ev: WheelEvent| {
        if let Some(t) = target_element(&ev)
            && closest(&t, ".flow-children").is_some()
        {
            return;
        }
        ev.prevent_default();
        // No re-measuring here: a forced layout per wheel event would cost more than the zoom.
        let scale = match ev.delta_mode() {
            1 => 16.0,
            2 => 400.0,
            _ => 1.0,
        };
        let (dx, dy) = (ev.delta_x() * scale, ev.delta_y() * scale);
        if ev.ctrl_key() || ev.meta_key() {
            // A zoom repaints anyway: the pan layer commits first.
            if let Some(h) = wheel_timer.borrow_mut().take() {
                h.clear();
            }
            pan_anchor.set(None);
            // Trackpad pinches arrive as many small ctrl+wheel deltas, mouse wheels as ~100 px
            // notches: both should feel like a steady zoom.
            let k = if dy.abs() < 50.0 { 0.01 } else { 0.002 };
            let factor = (-dy.clamp(-150.0, 150.0) * k).exp();
            store.zoom_at(f64::from(ev.client_x()), f64::from(ev.client_y()), factor);
        } else {
            // A wheel scroll has no end event: it is committed once the wheel rests.
            if pan_anchor.with_untracked(Option::is_none) {
                pan_anchor.set(Some(store.viewport().get_untracked()));
            }
            if ev.shift_key() && dx == 0.0 {
                store.pan_by(-dy, 0.0);
            } else {
                store.pan_by(-dx, -dy);
            }
            let mut timer = wheel_timer.borrow_mut();
            if let Some(h) = timer.take() {
                h.clear();
            }
            *timer = set_timeout_with_handle(
                move || pan_anchor.set(None),
                std::time::Duration::from_millis(WHEEL_REST_MS),
            )
            .ok();
        }
    };

    let on_keydown = {
        let ui = ui.clone();
        move |ev: KeyboardEvent| {
            if let Some(t) = target_element(&ev)
                && closest(&t, ".flow-children").is_some()
            {
                return;
            }
            let ctrl = ev.ctrl_key() || ev.meta_key();
            let Some(cmd) = key_command(&ev.key(), ctrl, ev.shift_key()) else {
                return;
            };
            ev.prevent_default();
            let selection = store.selection().get_untracked();
            match cmd {
                KeyCommand::Nudge { dx, dy } => {
                    let roots = drag_roots(&light_nodes(store), &selection);
                    if roots.is_empty() {
                        return;
                    }
                    let (dx, dy) = (dx * step, dy * step);
                    let plan = store.plan_drag(roots.clone());
                    store.apply_drag(&plan, dx, dy);
                    store.refresh_extent();
                    emit(FlowEvent::Moved { ids: roots, dx, dy });
                }
                KeyCommand::ZoomIn => store.zoom_by(1.2),
                KeyCommand::ZoomOut => store.zoom_by(1.0 / 1.2),
                KeyCommand::Fit => store.fit_view(),
                KeyCommand::SelectAll => {
                    let mut all = store.node_ids().get_untracked();
                    all.extend(store.edge_ids().get_untracked());
                    set_selection(all);
                }
                KeyCommand::Escape => {
                    let gesture = std::mem::take(&mut ui.borrow_mut().gesture);
                    revert(gesture);
                    store.cancel_external();
                    set_selection(Vec::new());
                }
                KeyCommand::Delete => {
                    if !selection.is_empty() {
                        emit(FlowEvent::Delete { ids: selection });
                    }
                }
                KeyCommand::Copy => {
                    if !selection.is_empty() {
                        emit(FlowEvent::Copy { ids: selection });
                    }
                }
                KeyCommand::Cut => {
                    if !selection.is_empty() {
                        emit(FlowEvent::Cut { ids: selection });
                    }
                }
                KeyCommand::Paste => {
                    let at = ui.borrow().last_pointer.unwrap_or_else(|| {
                        let (w, h) = store.bounds.with_untracked(|b| (b.w, b.h));
                        store
                            .viewport()
                            .get_untracked()
                            .to_diagram(Point::new(w / 2.0, h / 2.0))
                    });
                    emit(FlowEvent::Paste { at });
                }
                KeyCommand::Undo => emit(FlowEvent::Undo),
                KeyCommand::Redo => emit(FlowEvent::Redo),
            }
        }
    };

    let on_dblclick = move |ev: MouseEvent| {
        let Some(target) = target_element(&ev) else {
            return;
        };
        if closest(&target, ".flow-children, .flow-minimap").is_some() {
            return;
        }
        let at = store.to_diagram(f64::from(ev.client_x()), f64::from(ev.client_y()));
        let zoom = store.viewport().get_untracked().zoom;
        let node = closest_attr(&target, "[data-node-id]", "data-node-id").filter(|id| {
            store.node_signal(id).is_some_and(|s| {
                s.with_untracked(|n| !n.container || container_grab(n.rect, at, 8.0 / zoom))
            })
        });
        if let Some(id) = node {
            emit(FlowEvent::NodeDoubleClick { id });
        } else if let Some(id) = closest_attr(&target, "[data-edge-id]", "data-edge-id") {
            emit(FlowEvent::EdgeDoubleClick { id });
        }
    };

    let on_contextmenu = move |ev: MouseEvent| {
        let Some(target) = target_element(&ev) else {
            return;
        };
        if closest(&target, ".flow-children").is_some() {
            return;
        }
        ev.prevent_default();
        measure();
        let at = store.to_diagram(f64::from(ev.client_x()), f64::from(ev.client_y()));
        let id = closest_attr(&target, "[data-node-id]", "data-node-id")
            .or_else(|| closest_attr(&target, "[data-edge-id]", "data-edge-id"));
        emit(FlowEvent::ContextMenu { id, at });
    };

    // ---- rendering ----
    let viewport = store.viewport();
    let zoom = Memo::new(move |_| viewport.with(|v| v.zoom));
    // What the SVG draws: the anchored viewport during a pan (at the same zoom), else the live one.
    let painted = Memo::new(move |_| {
        let vp = viewport.get();
        match pan_anchor.get() {
            Some(a) if a.zoom == vp.zoom => a,
            _ => vp,
        }
    });
    let layer_shift = Memo::new(move |_| {
        let (vp, p) = (viewport.get(), painted.get());
        (vp.x - p.x, vp.y - p.y)
    });
    // The dot grid coarsens by factors of 5 when zoomed out so dots stay at least 8 px apart.
    let base_grid = if grid > 0.0 { grid } else { 10.0 };
    let grid_size = Memo::new(move |_| {
        let z = zoom.get();
        let mut size = base_grid;
        while size * z < 8.0 {
            size *= 5.0;
        }
        size
    });

    view! {
        <div
            class="flow-canvas"
            data-testid="flow-canvas"
            tabindex="0"
            node_ref=root
            class:flow-placing=move || store.pending.with(|p| matches!(p, Some(Pending::Placement { .. })))
            on:pointerdown=on_pointerdown
            on:pointermove=on_pointermove
            on:pointerup=on_pointerup
            on:pointercancel=on_pointercancel
            on:pointerleave=on_pointerleave
            on:wheel=on_wheel
            on:keydown=on_keydown
            on:dblclick=on_dblclick
            on:contextmenu=on_contextmenu
        >
            <svg
                class="flow-svg"
                width="100%"
                height="100%"
                class:flow-panning=move || pan_anchor.with(Option::is_some)
                style:transform=move || {
                    let (x, y) = layer_shift.get();
                    if x == 0.0 && y == 0.0 { String::new() } else { format!("translate({x}px, {y}px)") }
                }
            >
                <defs>
                    <pattern
                        id=grid_id.clone()
                        width=move || grid_size.get()
                        height=move || grid_size.get()
                        patternUnits="userSpaceOnUse"
                        patternTransform=move || painted.with(|v| v.transform())
                    >
                        <circle class="flow-grid-dot" cx="0.75" cy="0.75" r="0.75"></circle>
                    </pattern>
                </defs>
                <defs inner_html=defs></defs>
                // The grid reaches past the canvas on every side so a pan layer never shows its edge.
                <rect
                    class="flow-grid"
                    x="-400%"
                    y="-400%"
                    width="900%"
                    height="900%"
                    fill=format!("url(#{grid_id})")
                ></rect>
                <g
                    class="flow-viewport"
                    transform=move || painted.with(|v| v.transform())
                    data-zoom=move || zoom.get().to_string()
                >
                    <g class="flow-nodes flow-containers">
                        <For
                            each=move || store.container_ids().get()
                            key=|id| id.clone()
                            children=move |id| node_view(store, id)
                        />
                    </g>
                    <g class="flow-edges">
                        <For
                            each=move || store.edge_ids().get()
                            key=|id| id.clone()
                            children=move |id| edge_view(store, id)
                        />
                    </g>
                    <g class="flow-nodes">
                        <For
                            each=move || store.plain_ids().get()
                            key=|id| id.clone()
                            children=move |id| node_view(store, id)
                        />
                    </g>
                    <g class="flow-overlay">
                        {move || {
                            store
                                .guides
                                .get()
                                .into_iter()
                                .map(|g: GuideLine| {
                                    view! {
                                        <line
                                            class="flow-guide"
                                            x1=g.from.x
                                            y1=g.from.y
                                            x2=g.to.x
                                            y2=g.to.y
                                        ></line>
                                    }
                                })
                                .collect_view()
                        }}
                        {move || {
                            box_rect
                                .get()
                                .map(|r| {
                                    view! {
                                        <rect
                                            class="flow-selection-box"
                                            x=r.x
                                            y=r.y
                                            width=r.w
                                            height=r.h
                                        ></rect>
                                    }
                                })
                        }}
                        {move || {
                            rubber
                                .get()
                                .map(|(a, b)| {
                                    view! {
                                        <line class="flow-rubber-band" x1=a.x y1=a.y x2=b.x y2=b.y></line>
                                    }
                                })
                        }}
                        {move || edge_handles(store, zoom.get())}
                        {move || resize_handle(store, zoom.get())}
                        {move || ports(store, zoom.get())}
                        {move || {
                            store
                                .ghost
                                .get()
                                .map(|(cx, cy)| {
                                    let p = store.to_diagram(cx, cy);
                                    let r = 10.0 / zoom.get();
                                    view! {
                                        <circle class="flow-drop-ghost" cx=p.x cy=p.y r=r></circle>
                                    }
                                })
                        }}
                    </g>
                </g>
            </svg>
            {minimap
                .then(|| {
                    view! {
                        <Minimap store=store frozen=minimap_frozen />
                    }
                })}
            <div class="flow-children">{children.map(|c| c())}</div>
        </div>
    }
}

/// Reads a row's signal, tolerating its disposal: a row can outlive its item by one update
/// when the owner replaces the graph twice before the list re-renders.
fn read<V: Send + Sync + 'static, T: Default>(sig: RwSignal<V>, f: impl FnOnce(&V) -> T) -> T {
    sig.try_with(f).unwrap_or_default()
}

/// One node row. Containers and other nodes live in two layers (the store keeps the two id
/// lists) so containers are always below the edges and the other nodes.
fn node_view(store: FlowStore, id: String) -> AnyView {
    let Some(sig) = store.node_signal(&id) else {
        return ().into_any();
    };
    let selected = Memo::new({
        let id = id.clone();
        move |_| store.is_selected(&id)
    });
    let connect_state = Memo::new({
        let id = id.clone();
        move |_| {
            store.connect_target.with(|t| match t {
                Some((t, ok)) if *t == id => Some(*ok),
                _ => None,
            })
        }
    });
    let rect = Memo::new(move |_| read(sig, |n| n.rect));
    let size = Memo::new(move |_| rect.with(|r| (r.w, r.h)));
    let markup = Memo::new(move |_| read(sig, |n| n.markup.clone()));
    let key = Memo::new(move |_| read(sig, |n| n.key.clone()));
    let class = Memo::new(move |_| {
        read(sig, |n| {
            let mut c = format!("flow-node kind-{}", n.kind);
            if !n.class.is_empty() {
                c.push(' ');
                c.push_str(&n.class);
            }
            if n.container {
                c.push_str(" flow-container");
            }
            c
        })
    });
    view! {
        <g
            class=move || {
                let mut c = class.get();
                if selected.get() {
                    c.push_str(" selected");
                }
                match connect_state.get() {
                    Some(true) => c.push_str(" connect-valid"),
                    Some(false) => c.push_str(" connect-invalid"),
                    None => {}
                }
                c
            }
            data-node-id=id
            data-key=move || key.get()
            data-x=move || rect.get().x.to_string()
            data-y=move || rect.get().y.to_string()
            data-w=move || rect.get().w.to_string()
            data-h=move || rect.get().h.to_string()
            transform=move || {
                let r = rect.get();
                format!("translate({} {})", r.x, r.y)
            }
        >
            <g class="flow-node-body" inner_html=move || markup.get()></g>
            {move || {
                (selected.get() || connect_state.get().is_some())
                    .then(|| {
                        view! {
                            <rect
                                class="flow-selection-outline"
                                x="-4"
                                y="-4"
                                width=move || size.get().0 + 8.0
                                height=move || size.get().1 + 8.0
                            ></rect>
                        }
                    })
            }}
        </g>
    }
    .into_any()
}

fn edge_view(store: FlowStore, id: String) -> AnyView {
    let Some(sig) = store.edge_signal(&id) else {
        return ().into_any();
    };
    let selected = Memo::new({
        let id = id.clone();
        move |_| store.is_selected(&id)
    });
    let points = Memo::new(move |_| read(sig, |e| e.waypoints.clone()));
    let d = Memo::new(move |_| points.with(|p| path_data(p)));
    let key = Memo::new(move |_| read(sig, |e| e.key.clone()));
    let class = Memo::new(move |_| {
        read(sig, |e| {
            let mut c = format!("flow-edge kind-{}", e.kind);
            if !e.class.is_empty() {
                c.push(' ');
                c.push_str(&e.class);
            }
            c
        })
    });
    let marker = move |end: bool| {
        read(sig, |e| {
            let m = if end { &e.marker_end } else { &e.marker_start };
            m.as_ref().map(|m| format!("url(#{m})"))
        })
    };
    let label = Memo::new(move |_| read(sig, |e| e.label.clone()));
    view! {
        <g
            class=move || {
                let mut c = class.get();
                if selected.get() {
                    c.push_str(" selected");
                }
                c
            }
            data-edge-id=id
            data-key=move || key.get()
            data-waypoints=move || points.with(|p| waypoints_attr(p))
        >
            <path class="flow-edge-hit" d=move || d.get()></path>
            <path
                class="flow-edge-line"
                d=move || d.get()
                marker-start=move || marker(false)
                marker-end=move || marker(true)
            ></path>
            {move || {
                label
                    .get()
                    .map(|(text, r)| {
                        let c = r.center();
                        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
                        let n = lines.len().max(1) as f64;
                        let top = c.y - (n - 1.0) * 7.0;
                        view! {
                            <text class="flow-edge-label" x=c.x y=top text-anchor="middle" dominant-baseline="middle">
                                {lines
                                    .into_iter()
                                    .enumerate()
                                    .map(|(i, line)| {
                                        view! {
                                            <tspan x=c.x y=top + i as f64 * 14.0>{line}</tspan>
                                        }
                                    })
                                    .collect_view()}
                            </text>
                        }
                    })
            }}
        </g>
    }
    .into_any()
}

/// Ports on the hovered node and on a single selected node, when connectable.
fn ports(store: FlowStore, zoom: f64) -> impl IntoView {
    let mut ids: Vec<String> = store.hover.get().into_iter().collect();
    let selection = store.selection().get();
    if let [only] = selection.as_slice()
        && !ids.contains(only)
    {
        ids.push(only.clone());
    }
    let r = HANDLE_RADIUS / zoom;
    ids.into_iter()
        .filter_map(|id| store.node_signal(&id))
        .filter_map(|sig| sig.with(|n| n.connectable.then(|| (n.id.clone(), n.rect))))
        // A node smaller on screen than its ports would be covered by them: no ports (zoom in
        // to connect), so a press selects or drags it.
        .filter(|(_, rect)| rect.w.min(rect.h) * zoom >= 3.0 * HANDLE_RADIUS)
        .flat_map(|(id, rect)| {
            Side::ALL.into_iter().map(move |side| {
                let p = rect.side_point(side);
                view! {
                    <circle
                        class="flow-port"
                        data-port=side.as_str()
                        data-port-node=id.clone()
                        cx=p.x
                        cy=p.y
                        r=r
                    ></circle>
                }
            })
        })
        .collect_view()
}

/// End handles (reconnect) and bendpoint handles of the selected edge.
fn edge_handles(store: FlowStore, zoom: f64) -> impl IntoView {
    let r = HANDLE_RADIUS / zoom;
    // Handles for one selected edge only: a select-all would otherwise draw thousands.
    let selection = store.selection().get();
    let single = match selection.as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    };
    single
        .into_iter()
        .filter_map(|id| store.edge_signal(&id))
        .map(|sig| {
            let (id, pts) = sig.with(|e| (e.id.clone(), e.waypoints.clone()));
            let last = pts.len().saturating_sub(1);
            pts.into_iter()
                .enumerate()
                .map(|(i, p)| {
                    let (class, end) = if i == 0 {
                        ("flow-edge-handle", Some("source"))
                    } else if i == last {
                        ("flow-edge-handle", Some("target"))
                    } else {
                        ("flow-bendpoint", None)
                    };
                    view! {
                        <circle
                            class=class
                            data-handle-edge=id.clone()
                            data-end=end
                            data-index=i.to_string()
                            cx=p.x
                            cy=p.y
                            r=r
                        ></circle>
                    }
                })
                .collect_view()
        })
        .collect_view()
}

/// A resize handle at the bottom-right corner of a single selected resizable node.
fn resize_handle(store: FlowStore, zoom: f64) -> impl IntoView {
    let selection = store.selection().get();
    let [only] = selection.as_slice() else {
        return None;
    };
    let sig = store.node_signal(only)?;
    let (id, rect, resizable) = sig.with(|n| (n.id.clone(), n.rect, n.resizable));
    if !resizable {
        return None;
    }
    let s = 2.0 * HANDLE_RADIUS / zoom;
    Some(view! {
        <rect
            class="flow-resize-handle"
            data-resize-node=id
            x=rect.right() - s / 2.0
            y=rect.bottom() - s / 2.0
            width=s
            height=s
        ></rect>
    })
}

/// The minimap: every node as a rect, the visible area as a frame; pressing or dragging in it
/// centres the view there.
#[component]
fn Minimap(store: FlowStore, frozen: RwSignal<Option<Rect>>) -> impl IntoView {
    let svg_ref: NodeRef<leptos::svg::Svg> = NodeRef::new();
    let visible = Memo::new(move |_| {
        let (w, h) = store.canvas_size();
        store.viewport().get().visible(w, h)
    });
    let view_box = Memo::new(move |_| {
        frozen
            .get()
            .unwrap_or_else(|| minimap_view(store.extent(), visible.get()))
    });
    let pan_to = move |ev: &PointerEvent| {
        let Some(el) = svg_ref.get_untracked() else {
            return;
        };
        let b = el.get_bounding_client_rect();
        let local = Point::new(
            f64::from(ev.client_x()) - b.left(),
            f64::from(ev.client_y()) - b.top(),
        );
        let p = minimap_to_diagram(view_box.get_untracked(), b.width(), b.height(), local);
        store.center_on(p);
    };
    let on_down = move |ev: PointerEvent| {
        ev.stop_propagation();
        ev.prevent_default();
        frozen.set(Some(view_box.get_untracked()));
        if let Some(el) = svg_ref.get_untracked() {
            let _ = el.set_pointer_capture(ev.pointer_id());
        }
        pan_to(&ev);
    };
    let on_move = move |ev: PointerEvent| {
        ev.stop_propagation();
        if frozen.with_untracked(Option::is_some) {
            pan_to(&ev);
        }
    };
    let on_up = move |ev: PointerEvent| {
        ev.stop_propagation();
        frozen.set(None);
    };
    view! {
        <svg
            class="flow-minimap"
            data-testid="flow-minimap"
            node_ref=svg_ref
            width=MINIMAP_W
            height=MINIMAP_H
            viewBox=move || {
                let v = view_box.get();
                format!("{} {} {} {}", v.x, v.y, v.w, v.h)
            }
            on:pointerdown=on_down
            on:pointermove=on_move
            on:pointerup=on_up
            on:pointercancel=on_up
        >
            <For
                each=move || store.node_ids().get()
                key=|id| id.clone()
                children=move |id| {
                    let rect = store
                        .node_signal(&id)
                        .map(|sig| Memo::new(move |_| read(sig, |n| (n.rect, n.container))));
                    rect.map(|rect| {
                        view! {
                            <rect
                                class=move || {
                                    if rect.get().1 {
                                        "flow-minimap-node flow-minimap-container"
                                    } else {
                                        "flow-minimap-node"
                                    }
                                }
                                x=move || rect.get().0.x
                                y=move || rect.get().0.y
                                width=move || rect.get().0.w
                                height=move || rect.get().0.h
                            ></rect>
                        }
                    })
                }
            />
            <rect
                class="flow-minimap-viewport"
                x=move || visible.get().x
                y=move || visible.get().y
                width=move || visible.get().w
                height=move || visible.get().h
            ></rect>
        </svg>
    }
}
