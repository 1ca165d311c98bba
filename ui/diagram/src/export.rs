//! Edge markers and standalone SVG export.

use std::fmt::Write as _;

use starweave_model::bpmn::{Definitions, Point};

use crate::notation::{self, Colors, escape, num};
use crate::scene::{SceneEdge, scene};

/// SVG `<marker>` definitions referenced by [`crate::SceneEdge`]'s `marker_start` and
/// `marker_end` ids: sequence flow arrow, default-flow slash, conditional-flow diamond,
/// message flow circle and open arrow, association and data association arrows.
pub const DEFS: &str = concat!(
    r##"<marker id="sw-seq-end" viewBox="0 0 20 20" refX="11" refY="10" markerWidth="20" markerHeight="20" markerUnits="userSpaceOnUse" orient="auto"><path d="M 1 5 L 11 10 L 1 15 Z" fill="#22242a" stroke="#22242a" stroke-width="1" stroke-linejoin="round"/></marker>"##,
    r##"<marker id="sw-default-start" viewBox="0 0 20 20" refX="0" refY="10" markerWidth="20" markerHeight="20" markerUnits="userSpaceOnUse" orient="auto"><path d="M 6 5 L 11 15" fill="none" stroke="#22242a" stroke-width="2"/></marker>"##,
    r##"<marker id="sw-cond-start" viewBox="0 0 20 20" refX="0" refY="10" markerWidth="20" markerHeight="20" markerUnits="userSpaceOnUse" orient="auto"><path d="M 0 10 L 8 6 L 16 10 L 8 14 Z" fill="#ffffff" stroke="#22242a" stroke-width="1"/></marker>"##,
    r##"<marker id="sw-msg-start" viewBox="0 0 20 20" refX="6" refY="6" markerWidth="20" markerHeight="20" markerUnits="userSpaceOnUse" orient="auto"><circle cx="6" cy="6" r="3.5" fill="#ffffff" stroke="#22242a" stroke-width="1"/></marker>"##,
    r##"<marker id="sw-msg-end" viewBox="0 0 20 20" refX="11" refY="10" markerWidth="20" markerHeight="20" markerUnits="userSpaceOnUse" orient="auto"><path d="M 1 5 L 11 10 L 1 15 Z" fill="#ffffff" stroke="#22242a" stroke-width="1" stroke-linejoin="round"/></marker>"##,
    r##"<marker id="sw-assoc-end" viewBox="0 0 20 20" refX="11" refY="10" markerWidth="20" markerHeight="20" markerUnits="userSpaceOnUse" orient="auto"><path d="M 1 5 L 11 10 L 1 15" fill="none" stroke="#22242a" stroke-width="1.5"/></marker>"##,
    r##"<marker id="sw-assoc-start" viewBox="0 0 20 20" refX="11" refY="10" markerWidth="20" markerHeight="20" markerUnits="userSpaceOnUse" orient="auto-start-reverse"><path d="M 1 5 L 11 10 L 1 15" fill="none" stroke="#22242a" stroke-width="1.5"/></marker>"##,
    r##"<marker id="sw-data-end" viewBox="0 0 20 20" refX="11" refY="10" markerWidth="20" markerHeight="20" markerUnits="userSpaceOnUse" orient="auto"><path d="M 1 5 L 11 10 L 1 15" fill="none" stroke="#22242a" stroke-width="1.5"/></marker>"##,
);

/// Inline stylesheet of exported files (the markup also carries explicit colours).
const STYLE: &str = ".bpmn-label{font-family:Arial,Helvetica,sans-serif;font-size:12px}";

/// The stroke style of an edge kind: (stroke-width, dash array).
pub(crate) fn edge_style(kind: &str) -> (&'static str, Option<&'static str>) {
    match kind {
        "messageFlow" => ("1.5", Some("10 6")),
        "association" | "dataInputAssociation" | "dataOutputAssociation" => ("1.5", Some("0.5 5")),
        _ => ("1.5", None),
    }
}

/// SVG path data of a polyline.
pub(crate) fn path_data(pts: &[Point]) -> String {
    let mut d = String::new();
    for (i, p) in pts.iter().enumerate() {
        let _ = write!(
            d,
            "{}{} {} ",
            if i == 0 { "M " } else { "L " },
            num(p.x),
            num(p.y)
        );
    }
    d.trim_end().to_owned()
}

/// A standalone SVG document of diagram `diagram`: `xmlns`, a `viewBox` around everything
/// drawn (plus a margin), the marker definitions, an inline stylesheet, then every node's
/// markup and every edge.
pub fn export_svg(defs: &Definitions, diagram: usize) -> String {
    let scene = scene(defs, diagram);
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    let mut grow = |x: f64, y: f64| {
        if x.is_finite() && y.is_finite() {
            x0 = x0.min(x);
            y0 = y0.min(y);
            x1 = x1.max(x);
            y1 = y1.max(y);
        }
    };
    for n in &scene.nodes {
        let b = n.bounds;
        grow(b.x, b.y);
        grow(b.x + b.width, b.y + b.height);
        if n.kind.ends_with("Event") || n.kind.ends_with("Gateway") || n.kind.starts_with("data") {
            // External labels hang below the shape.
            grow(b.x - 30.0, b.y + b.height + 40.0);
            grow(b.x + b.width + 30.0, b.y);
        }
    }
    for e in &scene.edges {
        for p in &e.waypoints {
            grow(p.x, p.y);
        }
        if let Some((_, b)) = &e.label {
            grow(b.x, b.y);
            grow(b.x + b.width, b.y + b.height);
        }
    }
    if x0 > x1 {
        (x0, y0, x1, y1) = (0.0, 0.0, 100.0, 100.0);
    }
    let margin = 20.0;
    let (vx, vy, vw, vh) = (
        x0 - margin,
        y0 - margin,
        x1 - x0 + 2.0 * margin,
        y1 - y0 + 2.0 * margin,
    );
    let mut out = String::new();
    let _ = write!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="{}" height="{}" viewBox="{} {} {} {}"><defs>{DEFS}</defs><style>{STYLE}</style><rect x="{}" y="{}" width="{}" height="{}" fill="#ffffff"/>"##,
        num(vw),
        num(vh),
        num(vx),
        num(vy),
        num(vw),
        num(vh),
        num(vx),
        num(vy),
        num(vw),
        num(vh),
    );
    // Containers first, then edges, then the other shapes, so that flows inside pools and
    // sub-processes are visible and shapes cover the ends of their edges.
    for n in scene.nodes.iter().filter(|n| n.container) {
        node_group(&mut out, n);
    }
    for e in &scene.edges {
        edge_markup(&mut out, e);
    }
    for n in scene.nodes.iter().filter(|n| !n.container) {
        node_group(&mut out, n);
    }
    out.push_str("</svg>");
    out
}

fn node_group(out: &mut String, n: &crate::SceneNode) {
    let _ = write!(
        out,
        r#"<g class="bpmn-node kind-{}" data-element-id="{}" transform="translate({} {})">{}</g>"#,
        escape(&n.kind),
        escape(n.element_id.as_deref().unwrap_or("")),
        num(n.bounds.x),
        num(n.bounds.y),
        n.markup
    );
}

/// One edge as SVG: the polyline with its markers, then its label.
pub(crate) fn edge_markup(out: &mut String, e: &SceneEdge) {
    let (width, dash) = edge_style(&e.kind);
    let _ = write!(
        out,
        r##"<g class="bpmn-edge kind-{}" data-element-id="{}"><path d="{}" fill="none" stroke="#22242a" stroke-width="{width}" stroke-linejoin="round""##,
        escape(&e.kind),
        escape(e.element_id.as_deref().unwrap_or("")),
        path_data(&e.waypoints)
    );
    if let Some(d) = dash {
        let _ = write!(out, r#" stroke-dasharray="{d}" stroke-linecap="round""#);
    }
    if let Some(m) = &e.marker_start {
        let _ = write!(out, r#" marker-start="url(#{})""#, escape(m));
    }
    if let Some(m) = &e.marker_end {
        let _ = write!(out, r#" marker-end="url(#{})""#, escape(m));
    }
    out.push_str("/>");
    if let Some((text, b)) = &e.label {
        let lines = notation::wrap(text, b.width.max(60.0) * 1.2 + 6.0);
        notation::text_lines(
            out,
            &lines,
            b.x + b.width / 2.0,
            b.y,
            "middle",
            &Colors::default(),
        );
    }
    out.push_str("</g>");
}
