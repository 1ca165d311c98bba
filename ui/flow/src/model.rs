//! What the canvas draws (nodes, edges), the viewport, and the pure graph logic behind the
//! interactions: which nodes a drag moves, how connected edges follow, hit testing, box
//! selection, the minimap's mapping and the keyboard map. No Leptos, no DOM.

use std::collections::{HashMap, HashSet};

use crate::geom::{Alignment, Point, Rect, align, distance_to_polyline, route_orthogonal, snap};

/// A node: a box at absolute diagram coordinates with owner-provided SVG markup.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlowNode {
    /// Stable and unique among nodes and edges.
    pub id: String,
    /// The owner's key, rendered as `data-key`.
    pub key: Option<String>,
    /// Absolute diagram coordinates.
    pub rect: Rect,
    /// Rendered as the class `kind-{kind}`.
    pub kind: String,
    /// Extra CSS classes.
    pub class: String,
    /// Inner SVG markup in local coordinates (0,0 = the rect's top-left corner).
    pub markup: String,
    /// Moving a node moves every node whose parent chain reaches it.
    pub parent: Option<String>,
    /// Drawn before non-containers; selected by clicking near its border or header only.
    pub container: bool,
    /// Shows ports and accepts connections.
    pub connectable: bool,
    pub draggable: bool,
    pub resizable: bool,
}

/// An edge: a polyline between two nodes (or free ends).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FlowEdge {
    pub id: String,
    pub key: Option<String>,
    /// Node id at the start (`None`: a free end).
    pub source: Option<String>,
    /// Node id at the end (`None`: a free end).
    pub target: Option<String>,
    /// Absolute diagram coordinates, at least two.
    pub waypoints: Vec<Point>,
    pub kind: String,
    pub class: String,
    /// Id of an SVG `<marker>` in the owner's defs.
    pub marker_start: Option<String>,
    pub marker_end: Option<String>,
    /// Label text and its absolute box.
    pub label: Option<(String, Rect)>,
}

/// Smallest and largest zoom the canvas allows.
pub const MIN_ZOOM: f64 = 0.1;
pub const MAX_ZOOM: f64 = 4.0;

/// Maps diagram to screen coordinates: `screen = diagram * zoom + (x, y)`, where screen
/// coordinates are relative to the canvas element's top-left corner.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Viewport {
    pub x: f64,
    pub y: f64,
    pub zoom: f64,
}

impl Default for Viewport {
    fn default() -> Self {
        Self {
            x: 0.0,
            y: 0.0,
            zoom: 1.0,
        }
    }
}

impl Viewport {
    pub fn to_screen(&self, p: Point) -> Point {
        Point::new(p.x * self.zoom + self.x, p.y * self.zoom + self.y)
    }

    pub fn to_diagram(&self, s: Point) -> Point {
        Point::new((s.x - self.x) / self.zoom, (s.y - self.y) / self.zoom)
    }

    /// Multiplies the zoom by `factor` (clamped to [`MIN_ZOOM`], [`MAX_ZOOM`]) keeping the
    /// diagram point under the screen point `at` in place.
    pub fn zoom_around(&self, at: Point, factor: f64) -> Viewport {
        let zoom = (self.zoom * factor).clamp(MIN_ZOOM, MAX_ZOOM);
        let d = self.to_diagram(at);
        Viewport {
            x: at.x - d.x * zoom,
            y: at.y - d.y * zoom,
            zoom,
        }
    }

    /// The viewport showing `bounds` centred in a `width`×`height` canvas with `padding`
    /// screen pixels around it, zoomed out as needed but never in beyond 1.
    pub fn fit(bounds: Rect, width: f64, height: f64, padding: f64) -> Viewport {
        let avail_w = (width - 2.0 * padding).max(1.0);
        let avail_h = (height - 2.0 * padding).max(1.0);
        let zx = if bounds.w > 0.0 {
            avail_w / bounds.w
        } else {
            1.0
        };
        let zy = if bounds.h > 0.0 {
            avail_h / bounds.h
        } else {
            1.0
        };
        let zoom = zx.min(zy).clamp(MIN_ZOOM, 1.0);
        let c = bounds.center();
        Viewport {
            x: width / 2.0 - c.x * zoom,
            y: height / 2.0 - c.y * zoom,
            zoom,
        }
    }

    /// The diagram area visible in a `width`×`height` canvas.
    pub fn visible(&self, width: f64, height: f64) -> Rect {
        let tl = self.to_diagram(Point::new(0.0, 0.0));
        Rect::new(tl.x, tl.y, width / self.zoom, height / self.zoom)
    }

    /// Moves the viewport so that the diagram point `p` is in the middle of the canvas.
    pub fn centered_on(&self, p: Point, width: f64, height: f64) -> Viewport {
        Viewport {
            x: width / 2.0 - p.x * self.zoom,
            y: height / 2.0 - p.y * self.zoom,
            zoom: self.zoom,
        }
    }

    /// The `transform` attribute of the viewport group.
    pub fn transform(&self) -> String {
        format!("translate({} {}) scale({})", self.x, self.y, self.zoom)
    }
}

/// The area the minimap shows: everything drawn plus the visible area, with a margin.
pub fn minimap_view(extent: Option<Rect>, visible: Rect) -> Rect {
    let all = extent.map_or(visible, |e| e.union(&visible));
    all.inflate(20.0_f64.max(all.w.max(all.h) * 0.05))
}

/// Maps a point in a `width`×`height` minimap element (local pixels) to diagram coordinates,
/// for an SVG with `viewBox = view` and the default `preserveAspectRatio="xMidYMid meet"`.
pub fn minimap_to_diagram(view: Rect, width: f64, height: f64, local: Point) -> Point {
    let scale = (width / view.w).min(height / view.h);
    let off_x = (width - view.w * scale) / 2.0;
    let off_y = (height - view.h * scale) / 2.0;
    Point::new(
        view.x + (local.x - off_x) / scale,
        view.y + (local.y - off_y) / scale,
    )
}

/// Node ids in `ids` that a drag moves directly: draggable nodes none of whose ancestors is
/// also in `ids` (an ancestor carries its descendants anyway). Edge ids are dropped.
pub fn drag_roots(nodes: &[FlowNode], ids: &[String]) -> Vec<String> {
    let by_id: HashMap<&str, &FlowNode> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let chosen: HashSet<&str> = ids.iter().map(String::as_str).collect();
    ids.iter()
        .filter(|id| {
            let Some(node) = by_id.get(id.as_str()) else {
                return false;
            };
            if !node.draggable {
                return false;
            }
            let mut seen = HashSet::new();
            let mut parent = node.parent.as_deref();
            while let Some(p) = parent {
                if p == id.as_str() {
                    break; // a parent cycle back to the node itself
                }
                if chosen.contains(p) {
                    return false;
                }
                if !seen.insert(p) {
                    break; // a parent cycle: stop climbing
                }
                parent = by_id.get(p).and_then(|n| n.parent.as_deref());
            }
            true
        })
        .cloned()
        .collect()
}

/// The roots plus every node whose parent chain reaches one of them, in draw order.
pub fn with_descendants(nodes: &[FlowNode], roots: &[String]) -> Vec<String> {
    let by_id: HashMap<&str, &FlowNode> = nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    let roots: HashSet<&str> = roots.iter().map(String::as_str).collect();
    nodes
        .iter()
        .filter(|n| {
            let mut seen = HashSet::new();
            let mut cur = Some(n.id.as_str());
            while let Some(id) = cur {
                if roots.contains(id) {
                    return true;
                }
                if !seen.insert(id) {
                    return false;
                }
                cur = by_id.get(id).and_then(|n| n.parent.as_deref());
            }
            false
        })
        .map(|n| n.id.clone())
        .collect()
}

/// The waypoints of an edge while its end nodes are dragged by (dx, dy): an edge between two
/// moved nodes translates as a whole; an edge with one moved end is re-routed orthogonally
/// between the (current) rects; a free end stays where it is.
pub fn follow_edge(
    edge: &FlowEdge,
    source: Option<(Rect, bool)>,
    target: Option<(Rect, bool)>,
    dx: f64,
    dy: f64,
) -> Vec<Point> {
    let src_moved = source.is_some_and(|(_, m)| m);
    let tgt_moved = target.is_some_and(|(_, m)| m);
    match (source, target) {
        _ if !src_moved && !tgt_moved => edge.waypoints.clone(),
        (Some(_), Some(_)) if src_moved && tgt_moved => {
            edge.waypoints.iter().map(|p| p.translate(dx, dy)).collect()
        }
        (Some((s, _)), Some((t, _))) => route_orthogonal(s, t),
        _ => {
            // One attached end moved, the other is free: move only the attached end point.
            let mut pts = edge.waypoints.clone();
            if src_moved && let Some(first) = pts.first_mut() {
                *first = first.translate(dx, dy);
            }
            if tgt_moved && let Some(last) = pts.last_mut() {
                *last = last.translate(dx, dy);
            }
            pts
        }
    }
}

/// The delta a drag applies, given the raw pointer delta (dx, dy) and the start rect of the
/// pressed node. On each axis, alignment with `others` (within `tolerance`) wins; otherwise the
/// node keeps whatever grid alignment it had: its centre snaps to the grid if it was on the grid,
/// else its top-left edge if that was, else the delta itself is rounded to the grid (so an
/// off-grid node does not jump on the axis the user did not move along). The guides are the
/// alignments found. Results are rounded to 1e-6 so float noise does not reach the model.
pub fn drag_delta(
    primary: Rect,
    dx: f64,
    dy: f64,
    grid: f64,
    others: &[Rect],
    tolerance: f64,
) -> Alignment {
    let a = align(primary.translate(dx, dy), others, tolerance);
    let x_aligned = a.guides.iter().any(|g| g.from.x == g.to.x);
    let y_aligned = a.guides.iter().any(|g| g.from.y == g.to.y);
    let on_grid = |v: f64| grid > 0.0 && (v - snap(v, grid)).abs() < 1e-6;
    let snap_axis = |start: f64, size: f64, d: f64| {
        let centre = start + size / 2.0;
        if on_grid(centre) {
            snap(centre + d, grid) - centre
        } else if on_grid(start) {
            snap(start + d, grid) - start
        } else {
            snap(d, grid)
        }
    };
    let clean = |v: f64| (v * 1e6).round() / 1e6;
    Alignment {
        dx: clean(if x_aligned {
            dx + a.dx
        } else {
            snap_axis(primary.x, primary.w, dx)
        }),
        dy: clean(if y_aligned {
            dy + a.dy
        } else {
            snap_axis(primary.y, primary.h, dy)
        }),
        guides: a.guides,
    }
}

/// The segment of a polyline nearest to `p`: its index `i` (from `pts[i]` to `pts[i + 1]`).
pub fn nearest_segment(pts: &[Point], p: Point) -> Option<usize> {
    pts.windows(2)
        .enumerate()
        .map(|(i, w)| (i, crate::geom::distance_to_segment(p, w[0], w[1])))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// Drags segment `i` of an orthogonal polyline so it passes through `p`: a horizontal segment
/// moves vertically, a vertical one horizontally, snapped to the grid. The first and last
/// segments stay (they are attached to the nodes), as do slanted ones: `None` then.
pub fn move_segment(pts: &[Point], i: usize, p: Point, grid: f64) -> Option<Vec<Point>> {
    if i == 0 || i + 2 >= pts.len() {
        return None;
    }
    let (a, b) = (pts[i], pts[i + 1]);
    let mut out = pts.to_vec();
    if a.y == b.y {
        let y = snap(p.y, grid);
        out[i].y = y;
        out[i + 1].y = y;
    } else if a.x == b.x {
        let x = snap(p.x, grid);
        out[i].x = x;
        out[i + 1].x = x;
    } else {
        return None;
    }
    Some(out)
}

/// Width of the border band (screen pixels) where drags scroll the view.
pub const AUTOPAN_BAND: f64 = 24.0;
/// Fastest auto-pan, in screen pixels per frame.
pub const AUTOPAN_MAX: f64 = 12.0;

/// How far to pan the view this frame (screen pixels, as for `pan_by`) while dragging at the
/// client point (cx, cy) in a canvas whose client box is `bounds`: faster the deeper into the
/// border band (or beyond it), zero in the middle.
pub fn autopan_speed(bounds: Rect, cx: f64, cy: f64) -> (f64, f64) {
    if bounds.w <= 2.0 * AUTOPAN_BAND || bounds.h <= 2.0 * AUTOPAN_BAND {
        return (0.0, 0.0);
    }
    let axis = |near: f64, far: f64| {
        if near < AUTOPAN_BAND {
            AUTOPAN_MAX * ((AUTOPAN_BAND - near) / AUTOPAN_BAND).min(1.0)
        } else if far < AUTOPAN_BAND {
            -AUTOPAN_MAX * ((AUTOPAN_BAND - far) / AUTOPAN_BAND).min(1.0)
        } else {
            0.0
        }
    };
    (
        axis(cx - bounds.x, bounds.right() - cx),
        axis(cy - bounds.y, bounds.bottom() - cy),
    )
}

/// The topmost node under `p` (the last in draw order), optionally only connectable ones.
pub fn node_at(nodes: &[FlowNode], p: Point, connectable_only: bool) -> Option<&FlowNode> {
    nodes
        .iter()
        .rev()
        .find(|n| (!connectable_only || n.connectable) && n.rect.contains(p))
}

/// The topmost edge within `tolerance` of `p`.
pub fn edge_at(edges: &[FlowEdge], p: Point, tolerance: f64) -> Option<&FlowEdge> {
    edges
        .iter()
        .rev()
        .find(|e| distance_to_polyline(p, &e.waypoints) <= tolerance)
}

/// Whether a press at `p` on a container counts as a press on the container itself: within
/// `band` of its border, or in its header (the left 30 or the top 24 diagram units, where
/// pools, lanes and sub-processes put their names). Elsewhere it is empty background.
pub fn container_grab(rect: Rect, p: Point, band: f64) -> bool {
    if !rect.inflate(band).contains(p) {
        return false;
    }
    let inner = Rect::new(
        rect.x + band.max(30.0),
        rect.y + band.max(24.0),
        rect.w - band - band.max(30.0),
        rect.h - band - band.max(24.0),
    );
    inner.w <= 0.0 || inner.h <= 0.0 || !inner.contains(p)
}

/// Ids of the nodes lying entirely inside `area`, in draw order.
pub fn nodes_in_box(nodes: &[FlowNode], area: Rect) -> Vec<String> {
    nodes
        .iter()
        .filter(|n| area.contains_rect(&n.rect))
        .map(|n| n.id.clone())
        .collect()
}

/// Toggles `id` in a selection (Shift+click).
pub fn toggle(selection: &[String], id: &str) -> Vec<String> {
    if selection.iter().any(|s| s == id) {
        selection.iter().filter(|s| *s != id).cloned().collect()
    } else {
        let mut out = selection.to_vec();
        out.push(id.to_owned());
        out
    }
}

/// What a key press on the focused canvas does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyCommand {
    /// Move the selection by this many grid steps.
    Nudge {
        dx: f64,
        dy: f64,
    },
    ZoomIn,
    ZoomOut,
    Fit,
    SelectAll,
    Escape,
    Delete,
    Copy,
    Cut,
    Paste,
    Undo,
    Redo,
}

/// The keyboard map. `key` is `KeyboardEvent.key`; `ctrl` is Ctrl or Cmd.
pub fn key_command(key: &str, ctrl: bool, shift: bool) -> Option<KeyCommand> {
    let step = if shift { 10.0 } else { 1.0 };
    let lower = key.to_ascii_lowercase();
    Some(match (lower.as_str(), ctrl) {
        ("arrowleft", false) => KeyCommand::Nudge { dx: -step, dy: 0.0 },
        ("arrowright", false) => KeyCommand::Nudge { dx: step, dy: 0.0 },
        ("arrowup", false) => KeyCommand::Nudge { dx: 0.0, dy: -step },
        ("arrowdown", false) => KeyCommand::Nudge { dx: 0.0, dy: step },
        ("+" | "=", false) => KeyCommand::ZoomIn,
        ("-" | "_", false) => KeyCommand::ZoomOut,
        ("0", false) => KeyCommand::Fit,
        // Shift+1 arrives as "!" on US layouts.
        ("!", false) if shift => KeyCommand::Fit,
        ("1", false) if shift => KeyCommand::Fit,
        ("escape", _) => KeyCommand::Escape,
        ("delete" | "backspace", false) => KeyCommand::Delete,
        ("a", true) => KeyCommand::SelectAll,
        ("c", true) => KeyCommand::Copy,
        ("x", true) => KeyCommand::Cut,
        ("v", true) => KeyCommand::Paste,
        ("z", true) if shift => KeyCommand::Redo,
        ("z", true) => KeyCommand::Undo,
        ("y", true) => KeyCommand::Redo,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(id: &str, rect: Rect, parent: Option<&str>) -> FlowNode {
        FlowNode {
            id: id.into(),
            rect,
            parent: parent.map(Into::into),
            draggable: true,
            connectable: true,
            ..FlowNode::default()
        }
    }

    fn ids(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn viewport_round_trips_and_zooms_around_a_point() {
        let vp = Viewport {
            x: 30.0,
            y: -20.0,
            zoom: 2.0,
        };
        let d = Point::new(10.0, 15.0);
        assert_eq!(vp.to_screen(d), Point::new(50.0, 10.0));
        assert_eq!(vp.to_diagram(vp.to_screen(d)), d);

        let at = Point::new(200.0, 100.0);
        let under = vp.to_diagram(at);
        let z = vp.zoom_around(at, 1.5);
        assert_eq!(z.zoom, 3.0);
        let after = z.to_diagram(at);
        assert!((after.x - under.x).abs() < 1e-9 && (after.y - under.y).abs() < 1e-9);

        // Clamped at both ends, still keeping the point fixed.
        let far_in = vp.zoom_around(at, 100.0);
        assert_eq!(far_in.zoom, MAX_ZOOM);
        let p = far_in.to_diagram(at);
        assert!((p.x - under.x).abs() < 1e-9 && (p.y - under.y).abs() < 1e-9);
        assert_eq!(vp.zoom_around(at, 0.0001).zoom, MIN_ZOOM);
        assert_eq!(vp.transform(), "translate(30 -20) scale(2)");
    }

    #[test]
    fn fit_centres_and_never_zooms_past_one() {
        let bounds = Rect::new(100.0, 100.0, 2000.0, 500.0);
        let vp = Viewport::fit(bounds, 1040.0, 800.0, 20.0);
        assert_eq!(vp.zoom, 0.5);
        let c = vp.to_screen(bounds.center());
        assert_eq!(c, Point::new(520.0, 400.0));
        // Everything inside the padded canvas.
        let tl = vp.to_screen(Point::new(bounds.x, bounds.y));
        let br = vp.to_screen(Point::new(bounds.right(), bounds.bottom()));
        assert!(tl.x >= 20.0 - 1e-9 && tl.y >= 20.0 && br.x <= 1020.0 + 1e-9 && br.y <= 780.0);

        let small = Viewport::fit(Rect::new(0.0, 0.0, 100.0, 50.0), 1000.0, 800.0, 20.0);
        assert_eq!(small.zoom, 1.0);
        assert_eq!(
            small.to_screen(Point::new(50.0, 25.0)),
            Point::new(500.0, 400.0)
        );

        let vis = vp.visible(1040.0, 800.0);
        assert_eq!(vis.w, 2080.0);
        assert_eq!(vis.h, 1600.0);
        assert_eq!(vis.center(), bounds.center());

        let moved = vp.centered_on(Point::new(0.0, 0.0), 1040.0, 800.0);
        assert_eq!(
            moved.to_screen(Point::new(0.0, 0.0)),
            Point::new(520.0, 400.0)
        );
    }

    #[test]
    fn minimap_maps_local_points_to_the_diagram() {
        let view = Rect::new(-100.0, 0.0, 400.0, 100.0);
        // 200x100 element: scale = min(0.5, 1) = 0.5; content 200x50 centred vertically (+25).
        assert_eq!(
            minimap_to_diagram(view, 200.0, 100.0, Point::new(0.0, 25.0)),
            Point::new(-100.0, 0.0)
        );
        assert_eq!(
            minimap_to_diagram(view, 200.0, 100.0, Point::new(100.0, 50.0)),
            Point::new(100.0, 50.0)
        );
        let mv = minimap_view(
            Some(Rect::new(0.0, 0.0, 1000.0, 100.0)),
            Rect::new(0.0, 0.0, 10.0, 10.0),
        );
        assert_eq!(mv, Rect::new(-50.0, -50.0, 1100.0, 200.0));
    }

    #[test]
    fn drag_roots_drop_descendants_and_fixed_nodes() {
        let mut fixed = node("fixed", Rect::default(), None);
        fixed.draggable = false;
        let nodes = vec![
            node("pool", Rect::default(), None),
            node("lane", Rect::default(), Some("pool")),
            node("task", Rect::default(), Some("lane")),
            node("other", Rect::default(), None),
            fixed,
        ];
        assert_eq!(
            drag_roots(&nodes, &ids(&["task", "pool", "other", "fixed", "edge1"])),
            ids(&["pool", "other"])
        );
        assert_eq!(drag_roots(&nodes, &ids(&["task"])), ids(&["task"]));
        assert_eq!(
            with_descendants(&nodes, &ids(&["lane", "other"])),
            ids(&["lane", "task", "other"])
        );
        assert_eq!(
            with_descendants(&nodes, &ids(&["pool"])),
            ids(&["pool", "lane", "task"])
        );
    }

    #[test]
    fn parent_cycles_do_not_hang() {
        let nodes = vec![
            node("a", Rect::default(), Some("b")),
            node("b", Rect::default(), Some("a")),
        ];
        assert_eq!(with_descendants(&nodes, &ids(&["c"])), Vec::<String>::new());
        assert_eq!(drag_roots(&nodes, &ids(&["a"])), ids(&["a"]));
    }

    #[test]
    fn edges_follow_dragged_nodes() {
        let edge = FlowEdge {
            id: "e".into(),
            source: Some("a".into()),
            target: Some("b".into()),
            waypoints: vec![
                Point::new(100.0, 40.0),
                Point::new(150.0, 40.0),
                Point::new(150.0, 300.0),
                Point::new(200.0, 300.0),
            ],
            ..FlowEdge::default()
        };
        let a = Rect::new(0.0, 0.0, 100.0, 80.0);
        let b = Rect::new(200.0, 260.0, 100.0, 80.0);
        // Nothing moved: unchanged.
        assert_eq!(
            follow_edge(&edge, Some((a, false)), Some((b, false)), 5.0, 5.0),
            edge.waypoints
        );
        // Both moved: translated, bends kept.
        let both = follow_edge(
            &edge,
            Some((a.translate(10.0, 20.0), true)),
            Some((b.translate(10.0, 20.0), true)),
            10.0,
            20.0,
        );
        assert_eq!(both[1], Point::new(160.0, 60.0));
        assert_eq!(both.len(), 4);
        // One moved: re-routed between the current rects.
        let a2 = a.translate(0.0, 260.0);
        assert_eq!(
            follow_edge(&edge, Some((a2, true)), Some((b, false)), 0.0, 260.0),
            vec![Point::new(100.0, 300.0), Point::new(200.0, 300.0)]
        );
        // Free target end: only the attached end moves.
        let free = FlowEdge {
            target: None,
            ..edge.clone()
        };
        let pts = follow_edge(&free, Some((a2, true)), None, 0.0, 260.0);
        assert_eq!(pts[0], Point::new(100.0, 300.0));
        assert_eq!(pts[3], Point::new(200.0, 300.0));
        assert_eq!(pts[1], Point::new(150.0, 40.0));
    }

    #[test]
    fn drag_delta_snaps_centres_unless_aligned() {
        // Centre on the grid (a 100x80 task at 0,0: centre 50,40): the centre snaps.
        let task = Rect::new(0.0, 0.0, 100.0, 80.0);
        let a = drag_delta(task, 23.0, 47.0, 10.0, &[], 5.0);
        assert_eq!((a.dx, a.dy), (20.0, 50.0));
        assert!(a.guides.is_empty());
        // Centre on the grid but not the corner (a 36x36 event centred at 170,120).
        let event = Rect::new(152.0, 102.0, 36.0, 36.0);
        let b = drag_delta(event, 14.0, -6.0, 10.0, &[], 5.0);
        assert_eq!((b.dx, b.dy), (10.0, -10.0));
        assert_eq!(
            event.translate(b.dx, b.dy).center(),
            Point::new(180.0, 110.0)
        );
        // Corner on the grid, centre not (a 600x250 pool): the corner snaps; a horizontal drag
        // does not move it vertically.
        let pool = Rect::new(50.0, 550.0, 600.0, 250.0);
        let c = drag_delta(pool, 83.0, 2.0, 10.0, &[], 5.0);
        assert_eq!((c.dx, c.dy), (80.0, 0.0));
        // Neither: the delta is rounded.
        let odd = Rect::new(3.0, 7.0, 33.0, 33.0);
        let d = drag_delta(odd, 26.0, 4.0, 10.0, &[], 5.0);
        assert_eq!((d.dx, d.dy), (30.0, 0.0));
        // Grid off: raw delta.
        let e = drag_delta(task, 23.5, 47.25, 0.0, &[], 5.0);
        assert_eq!((e.dx, e.dy), (23.5, 47.25));
        // A neighbour whose centre row is 2 px away: y aligns, x still snaps to the grid.
        let other = Rect::new(300.0, 60.0, 100.0, 80.0); // centre y 100
        let f = drag_delta(task, 23.0, 62.0, 10.0, &[other], 5.0);
        assert_eq!(f.dx, 20.0);
        assert_eq!(f.dy, 60.0);
        assert_eq!(task.translate(f.dx, f.dy).center().y, 100.0);
        assert_eq!(
            f.guides.len(),
            3,
            "top, centre and bottom rows all coincide"
        );
        // Float noise is rounded away.
        let g = drag_delta(Rect::new(0.1, 0.2, 10.0, 10.0), 0.7, 0.0, 0.0, &[], 0.0);
        assert_eq!(g.dx, 0.7);
    }

    #[test]
    fn segments_move_perpendicular_and_ends_stay() {
        let pts = vec![
            Point::new(100.0, 40.0),
            Point::new(150.0, 40.0),
            Point::new(150.0, 300.0),
            Point::new(200.0, 300.0),
        ];
        assert_eq!(nearest_segment(&pts, Point::new(153.0, 170.0)), Some(1));
        assert_eq!(nearest_segment(&pts, Point::new(120.0, 35.0)), Some(0));
        assert_eq!(nearest_segment(&[], Point::new(0.0, 0.0)), None);
        // The vertical middle segment moves horizontally, snapped.
        assert_eq!(
            move_segment(&pts, 1, Point::new(176.0, 999.0), 10.0),
            Some(vec![
                Point::new(100.0, 40.0),
                Point::new(180.0, 40.0),
                Point::new(180.0, 300.0),
                Point::new(200.0, 300.0),
            ])
        );
        // End segments are attached to the nodes.
        assert_eq!(move_segment(&pts, 0, Point::new(0.0, 0.0), 10.0), None);
        assert_eq!(move_segment(&pts, 2, Point::new(0.0, 0.0), 10.0), None);
        // A horizontal middle segment moves vertically.
        let z = vec![
            Point::new(0.0, 0.0),
            Point::new(0.0, 50.0),
            Point::new(100.0, 50.0),
            Point::new(100.0, 100.0),
        ];
        let moved = move_segment(&z, 1, Point::new(40.0, 73.0), 0.0).unwrap();
        assert_eq!(moved[1], Point::new(0.0, 73.0));
        assert_eq!(moved[2], Point::new(100.0, 73.0));
        // Slanted: not movable.
        let slanted = vec![
            Point::new(0.0, 0.0),
            Point::new(5.0, 5.0),
            Point::new(9.0, 20.0),
            Point::new(9.0, 30.0),
        ];
        assert_eq!(move_segment(&slanted, 1, Point::new(0.0, 0.0), 0.0), None);
    }

    #[test]
    fn autopan_only_near_the_border() {
        let b = Rect::new(100.0, 50.0, 800.0, 600.0);
        assert_eq!(autopan_speed(b, 500.0, 350.0), (0.0, 0.0));
        // Halfway into the left band: half speed to the right (revealing the left).
        assert_eq!(autopan_speed(b, 112.0, 350.0), (AUTOPAN_MAX / 2.0, 0.0));
        // Beyond the bottom-right corner: full speed up and left.
        assert_eq!(autopan_speed(b, 950.0, 700.0), (-AUTOPAN_MAX, -AUTOPAN_MAX));
        assert_eq!(autopan_speed(b, 500.0, 50.0), (0.0, AUTOPAN_MAX));
        // No canvas yet: never.
        assert_eq!(autopan_speed(Rect::default(), 0.0, 0.0), (0.0, 0.0));
    }

    #[test]
    fn hit_testing_prefers_the_topmost() {
        let mut pool = node("pool", Rect::new(0.0, 0.0, 500.0, 300.0), None);
        pool.container = true;
        let mut label = node("label", Rect::new(60.0, 60.0, 20.0, 20.0), None);
        label.connectable = false;
        let nodes = vec![
            pool,
            node("task", Rect::new(50.0, 50.0, 100.0, 80.0), Some("pool")),
            label,
        ];
        assert_eq!(
            node_at(&nodes, Point::new(70.0, 70.0), false).unwrap().id,
            "label"
        );
        assert_eq!(
            node_at(&nodes, Point::new(70.0, 70.0), true).unwrap().id,
            "task"
        );
        assert_eq!(
            node_at(&nodes, Point::new(300.0, 200.0), true).unwrap().id,
            "pool"
        );
        assert!(node_at(&nodes, Point::new(600.0, 200.0), false).is_none());

        let edges = vec![
            FlowEdge {
                id: "e1".into(),
                waypoints: vec![Point::new(0.0, 0.0), Point::new(100.0, 0.0)],
                ..FlowEdge::default()
            },
            FlowEdge {
                id: "e2".into(),
                waypoints: vec![Point::new(50.0, -50.0), Point::new(50.0, 50.0)],
                ..FlowEdge::default()
            },
        ];
        assert_eq!(
            edge_at(&edges, Point::new(52.0, 1.0), 6.0).unwrap().id,
            "e2"
        );
        assert_eq!(
            edge_at(&edges, Point::new(90.0, 5.0), 6.0).unwrap().id,
            "e1"
        );
        assert!(edge_at(&edges, Point::new(90.0, 7.0), 6.0).is_none());
    }

    #[test]
    fn containers_are_grabbed_at_border_and_header_only() {
        let r = Rect::new(0.0, 0.0, 600.0, 300.0);
        assert!(
            container_grab(r, Point::new(15.0, 150.0), 8.0),
            "left header band"
        );
        assert!(container_grab(r, Point::new(300.0, 10.0), 8.0), "top band");
        assert!(
            container_grab(r, Point::new(596.0, 150.0), 8.0),
            "right border"
        );
        assert!(
            container_grab(r, Point::new(300.0, 296.0), 8.0),
            "bottom border"
        );
        assert!(
            container_grab(r, Point::new(-4.0, 150.0), 8.0),
            "just outside"
        );
        assert!(
            !container_grab(r, Point::new(300.0, 150.0), 8.0),
            "inside is background"
        );
        assert!(!container_grab(r, Point::new(700.0, 150.0), 8.0));
        // Too small for an inside: all of it grabs.
        assert!(container_grab(
            Rect::new(0.0, 0.0, 40.0, 40.0),
            Point::new(20.0, 20.0),
            8.0
        ));
    }

    #[test]
    fn box_selection_and_toggle() {
        let nodes = vec![
            node("a", Rect::new(0.0, 0.0, 10.0, 10.0), None),
            node("b", Rect::new(20.0, 0.0, 10.0, 10.0), None),
            node("c", Rect::new(5.0, 5.0, 100.0, 100.0), None),
        ];
        assert_eq!(
            nodes_in_box(&nodes, Rect::new(-1.0, -1.0, 32.0, 12.0)),
            ids(&["a", "b"])
        );
        assert_eq!(toggle(&ids(&["a", "b"]), "a"), ids(&["b"]));
        assert_eq!(toggle(&ids(&["b"]), "a"), ids(&["b", "a"]));
    }

    #[test]
    fn keyboard_map() {
        use KeyCommand::*;
        assert_eq!(
            key_command("ArrowLeft", false, false),
            Some(Nudge { dx: -1.0, dy: 0.0 })
        );
        assert_eq!(
            key_command("ArrowDown", false, true),
            Some(Nudge { dx: 0.0, dy: 10.0 })
        );
        assert_eq!(key_command("+", false, false), Some(ZoomIn));
        assert_eq!(key_command("=", false, false), Some(ZoomIn));
        assert_eq!(key_command("-", false, false), Some(ZoomOut));
        assert_eq!(key_command("0", false, false), Some(Fit));
        assert_eq!(key_command("!", false, true), Some(Fit));
        assert_eq!(key_command("1", false, false), None);
        assert_eq!(key_command("a", true, false), Some(SelectAll));
        assert_eq!(key_command("A", true, false), Some(SelectAll));
        assert_eq!(key_command("a", false, false), None);
        assert_eq!(key_command("Escape", false, false), Some(Escape));
        assert_eq!(key_command("Delete", false, false), Some(Delete));
        assert_eq!(key_command("Backspace", false, false), Some(Delete));
        assert_eq!(key_command("c", true, false), Some(Copy));
        assert_eq!(key_command("x", true, false), Some(Cut));
        assert_eq!(key_command("v", true, false), Some(Paste));
        assert_eq!(key_command("z", true, false), Some(Undo));
        assert_eq!(key_command("Z", true, true), Some(Redo));
        assert_eq!(key_command("y", true, false), Some(Redo));
    }
}
