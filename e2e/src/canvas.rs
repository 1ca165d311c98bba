//! Helpers for the BPMN canvas tests (`tests/canvas.rs`) and benchmark (`bench-canvas`).
//!
//! - [`canvas_state`] reads every node and edge of the visible flow canvas in one script call,
//!   through the canvas's DOM contract (`data-node-id`, `data-x` … `data-waypoints`);
//! - [`di_of`] reads what a BPMN file's diagram interchange says the canvas must show, and
//!   [`compare_with_di`] lists the differences;
//! - pointer and keyboard gestures go through WebDriver actions ([`drag`], [`click_at`],
//!   [`press_keys`]), so the browser sees real input events;
//! - [`generated_process`] gives a large process with a diagram for the benchmark.
//!
//! Inactive tabs stay in the DOM (hidden), so every script picks the canvas that is displayed.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, anyhow, bail, ensure};
use fantoccini::{
    Client, Locator,
    actions::{InputSource, KeyAction, KeyActions, MOUSE_BUTTON_LEFT, MouseActions, PointerAction},
    elements::Element,
};
use serde_json::{Value, json};
use starweave_model::bpmn::{Bounds, Definitions, DiagramElement, Point};

use crate::{Ide, WAIT, testid};

/// JavaScript that binds `canvas` to the displayed `[data-testid=flow-canvas]` (or `null`).
pub const CANVAS_JS: &str = "const canvas = Array.from(document.querySelectorAll('[data-testid=\"flow-canvas\"]')) \
       .find(c => c.getClientRects().length > 0 && c.offsetParent !== null) || null;";

/// One `[data-node-id]` of the canvas.
#[derive(Debug, Clone, PartialEq)]
pub struct CanvasNode {
    /// `data-node-id`.
    pub id: String,
    /// `data-key` (for BPMN: the `bpmnElement`).
    pub key: Option<String>,
    /// `data-x`, `data-y`, `data-w`, `data-h`.
    pub bounds: Bounds,
    /// The `class` attribute.
    pub class: String,
}

impl CanvasNode {
    /// Whether the class list holds `class`.
    pub fn has_class(&self, class: &str) -> bool {
        self.class.split_whitespace().any(|c| c == class)
    }

    /// The centre in diagram coordinates.
    pub fn center(&self) -> Point {
        Point {
            x: self.bounds.x + self.bounds.width / 2.0,
            y: self.bounds.y + self.bounds.height / 2.0,
        }
    }
}

/// One `[data-edge-id]` of the canvas.
#[derive(Debug, Clone, PartialEq)]
pub struct CanvasEdge {
    /// `data-edge-id`.
    pub id: String,
    /// `data-key` (for BPMN: the `bpmnElement`).
    pub key: Option<String>,
    /// `data-waypoints`.
    pub waypoints: Vec<Point>,
    /// The `class` attribute.
    pub class: String,
}

impl CanvasEdge {
    /// Whether the class list holds `class`.
    pub fn has_class(&self, class: &str) -> bool {
        self.class.split_whitespace().any(|c| c == class)
    }
}

/// What the displayed canvas shows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CanvasState {
    /// Nodes in DOM order.
    pub nodes: Vec<CanvasNode>,
    /// Edges in DOM order.
    pub edges: Vec<CanvasEdge>,
    /// The viewport group's `transform`.
    pub transform: String,
}

impl CanvasState {
    /// The node with this id.
    pub fn node(&self, id: &str) -> Option<&CanvasNode> {
        self.nodes.iter().find(|n| n.id == id)
    }

    /// The node whose `data-key` is `key`.
    pub fn node_by_key(&self, key: &str) -> Option<&CanvasNode> {
        self.nodes.iter().find(|n| n.key.as_deref() == Some(key))
    }

    /// The edge with this id.
    pub fn edge(&self, id: &str) -> Option<&CanvasEdge> {
        self.edges.iter().find(|e| e.id == id)
    }

    /// The node ids.
    pub fn node_ids(&self) -> BTreeSet<String> {
        self.nodes.iter().map(|n| n.id.clone()).collect()
    }

    /// The edge ids.
    pub fn edge_ids(&self) -> BTreeSet<String> {
        self.edges.iter().map(|e| e.id.clone()).collect()
    }
}

fn number(value: &Value, what: &str) -> Result<f64> {
    let text = value
        .as_str()
        .ok_or_else(|| anyhow!("{what} is missing ({value})"))?;
    text.trim()
        .parse::<f64>()
        .with_context(|| format!("{what} = {text:?} is not a number"))
}

/// Parses `data-waypoints` (`"x1,y1 x2,y2 …"`).
pub fn parse_waypoints(text: &str) -> Result<Vec<Point>> {
    text.split_whitespace()
        .map(|pair| {
            let (x, y) = pair
                .split_once(',')
                .ok_or_else(|| anyhow!("waypoint {pair:?} is not `x,y`"))?;
            Ok(Point {
                x: x.parse().with_context(|| format!("waypoint x {x:?}"))?,
                y: y.parse().with_context(|| format!("waypoint y {y:?}"))?,
            })
        })
        .collect()
}

/// Reads every node and edge of the displayed canvas in one script call (the minimap's
/// copies are left out). Fails when no canvas is displayed.
pub async fn canvas_state(client: &Client) -> Result<CanvasState> {
    let script = format!(
        "{CANVAS_JS}
         if (!canvas) return null;
         const vp = canvas.querySelector('.flow-viewport');
         const own = e => !e.closest('.flow-minimap');
         const nodes = Array.from(canvas.querySelectorAll('[data-node-id]')).filter(own).map(n => ({{
           id: n.getAttribute('data-node-id'), key: n.getAttribute('data-key'),
           x: n.getAttribute('data-x'), y: n.getAttribute('data-y'),
           w: n.getAttribute('data-w'), h: n.getAttribute('data-h'),
           cls: n.getAttribute('class') || '' }}));
         const edges = Array.from(canvas.querySelectorAll('[data-edge-id]')).filter(own).map(e => ({{
           id: e.getAttribute('data-edge-id'), key: e.getAttribute('data-key'),
           wp: e.getAttribute('data-waypoints') || '', cls: e.getAttribute('class') || '' }}));
         return {{ nodes, edges, transform: vp ? (vp.getAttribute('transform') || '') : '' }};"
    );
    let value = client.execute(&script, vec![]).await?;
    if value.is_null() {
        bail!("no flow canvas ([data-testid=flow-canvas]) is displayed");
    }
    let key = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let mut state = CanvasState {
        transform: value["transform"].as_str().unwrap_or_default().to_owned(),
        ..Default::default()
    };
    for n in value["nodes"].as_array().into_iter().flatten() {
        let id = n["id"].as_str().unwrap_or_default().to_owned();
        state.nodes.push(CanvasNode {
            bounds: Bounds {
                x: number(&n["x"], &format!("data-x of node {id}"))?,
                y: number(&n["y"], &format!("data-y of node {id}"))?,
                width: number(&n["w"], &format!("data-w of node {id}"))?,
                height: number(&n["h"], &format!("data-h of node {id}"))?,
            },
            key: key(&n["key"]),
            class: n["cls"].as_str().unwrap_or_default().to_owned(),
            id,
        });
    }
    for e in value["edges"].as_array().into_iter().flatten() {
        let id = e["id"].as_str().unwrap_or_default().to_owned();
        state.edges.push(CanvasEdge {
            waypoints: parse_waypoints(e["wp"].as_str().unwrap_or_default())
                .with_context(|| format!("data-waypoints of edge {id}"))?,
            key: key(&e["key"]),
            class: e["cls"].as_str().unwrap_or_default().to_owned(),
            id,
        });
    }
    Ok(state)
}

/// Polls [`canvas_state`] until `check` accepts it (up to [`WAIT`]); returns that state.
pub async fn wait_canvas(
    client: &Client,
    what: &str,
    mut check: impl FnMut(&CanvasState) -> bool,
) -> Result<CanvasState> {
    let deadline = Instant::now() + WAIT;
    loop {
        let last = match canvas_state(client).await {
            Ok(state) if check(&state) => return Ok(state),
            other => other,
        };
        if Instant::now() > deadline {
            let shown = match last {
                Ok(s) => format!(
                    "{} nodes {:?}, {} edges",
                    s.nodes.len(),
                    s.nodes.iter().map(|n| &n.id).collect::<Vec<_>>(),
                    s.edges.len()
                ),
                Err(e) => format!("{e:#}"),
            };
            bail!("timed out waiting for {what}; the canvas showed {shown}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A `BPMNShape` as the canvas must show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DiShape {
    /// The shape's id, or `{bpmnElement}_di` when it has none.
    pub id: String,
    /// `bpmnElement`.
    pub element: Option<String>,
    /// `dc:Bounds`.
    pub bounds: Bounds,
}

/// A `BPMNEdge` as the canvas must show it.
#[derive(Debug, Clone, PartialEq)]
pub struct DiEdge {
    /// The edge's id, or `{bpmnElement}_di` when it has none.
    pub id: String,
    /// `bpmnElement`.
    pub element: Option<String>,
    /// `di:waypoint`s.
    pub waypoints: Vec<Point>,
}

fn di_id(id: &Option<String>, element: &Option<String>) -> String {
    id.clone()
        .unwrap_or_else(|| format!("{}_di", element.as_deref().unwrap_or_default()))
}

/// The shapes (with bounds) and edges of diagram `diagram` of `defs`.
pub fn di_of(defs: &Definitions, diagram: usize) -> (Vec<DiShape>, Vec<DiEdge>) {
    let mut shapes = Vec::new();
    let mut edges = Vec::new();
    let elements = defs
        .diagrams
        .get(diagram)
        .and_then(|d| d.plane.as_ref())
        .map(|p| p.elements.as_slice())
        .unwrap_or_default();
    for element in elements {
        match element {
            DiagramElement::Shape(s) => {
                if let Some(bounds) = s.bounds {
                    shapes.push(DiShape {
                        id: di_id(&s.id, &s.bpmn_element),
                        element: s.bpmn_element.clone(),
                        bounds,
                    });
                }
            }
            DiagramElement::Edge(e) => edges.push(DiEdge {
                id: di_id(&e.id, &e.bpmn_element),
                element: e.bpmn_element.clone(),
                waypoints: e.waypoints.clone(),
            }),
        }
    }
    (shapes, edges)
}

/// Coordinates written by the canvas with `{}` and read back agree to this.
pub const TOLERANCE: f64 = 0.01;

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= TOLERANCE
}

fn bounds_text(b: &Bounds) -> String {
    format!("({}, {}, {}×{})", b.x, b.y, b.width, b.height)
}

fn points_text(points: &[Point]) -> String {
    points
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Every difference between the canvas and the DI: a missing or extra node or edge, a node
/// off its bounds or with another `data-key`, an edge with other waypoints. Empty when the
/// canvas shows exactly the DI.
pub fn compare_with_di(state: &CanvasState, shapes: &[DiShape], edges: &[DiEdge]) -> Vec<String> {
    let mut problems = Vec::new();
    let nodes: BTreeMap<&str, &CanvasNode> =
        state.nodes.iter().map(|n| (n.id.as_str(), n)).collect();
    for shape in shapes {
        let Some(node) = nodes.get(shape.id.as_str()) else {
            problems.push(format!(
                "shape {} ({}) has no node",
                shape.id,
                shape.element.as_deref().unwrap_or("-")
            ));
            continue;
        };
        let (a, b) = (&node.bounds, &shape.bounds);
        if !(close(a.x, b.x)
            && close(a.y, b.y)
            && close(a.width, b.width)
            && close(a.height, b.height))
        {
            problems.push(format!(
                "node {} is at {}, its DI bounds are {}",
                shape.id,
                bounds_text(a),
                bounds_text(b)
            ));
        }
        if node.key != shape.element {
            problems.push(format!(
                "node {} has data-key {:?}, its bpmnElement is {:?}",
                shape.id, node.key, shape.element
            ));
        }
    }
    let shape_ids: BTreeSet<&str> = shapes.iter().map(|s| s.id.as_str()).collect();
    for node in &state.nodes {
        if !shape_ids.contains(node.id.as_str()) {
            problems.push(format!("node {} has no BPMNShape", node.id));
        }
    }
    if state.nodes.len() != nodes.len() {
        problems.push(format!(
            "{} nodes but {} distinct ids",
            state.nodes.len(),
            nodes.len()
        ));
    }
    let canvas_edges: BTreeMap<&str, &CanvasEdge> =
        state.edges.iter().map(|e| (e.id.as_str(), e)).collect();
    for edge in edges {
        let Some(drawn) = canvas_edges.get(edge.id.as_str()) else {
            problems.push(format!(
                "BPMNEdge {} ({}) has no edge",
                edge.id,
                edge.element.as_deref().unwrap_or("-")
            ));
            continue;
        };
        let same = drawn.waypoints.len() == edge.waypoints.len()
            && drawn
                .waypoints
                .iter()
                .zip(&edge.waypoints)
                .all(|(a, b)| close(a.x, b.x) && close(a.y, b.y));
        if !same {
            problems.push(format!(
                "edge {} runs through {}, its DI waypoints are {}",
                edge.id,
                points_text(&drawn.waypoints),
                points_text(&edge.waypoints)
            ));
        }
        if drawn.key != edge.element {
            problems.push(format!(
                "edge {} has data-key {:?}, its bpmnElement is {:?}",
                edge.id, drawn.key, edge.element
            ));
        }
    }
    let edge_ids: BTreeSet<&str> = edges.iter().map(|e| e.id.as_str()).collect();
    for edge in &state.edges {
        if !edge_ids.contains(edge.id.as_str()) {
            problems.push(format!("edge {} has no BPMNEdge", edge.id));
        }
    }
    problems
}

/// Diagram coordinates → client (viewport) pixels, through the viewport group's screen CTM.
pub async fn to_client(client: &Client, points: &[Point]) -> Result<Vec<(f64, f64)>> {
    let script = format!(
        "{CANVAS_JS}
         if (!canvas) return null;
         const vp = canvas.querySelector('.flow-viewport');
         if (!vp) return null;
         const m = vp.getScreenCTM();
         return arguments[0].map(([x, y]) => [m.a * x + m.c * y + m.e, m.b * x + m.d * y + m.f]);"
    );
    let pts: Vec<Value> = points.iter().map(|p| json!([p.x, p.y])).collect();
    let value = client.execute(&script, vec![Value::Array(pts)]).await?;
    let list = value
        .as_array()
        .ok_or_else(|| anyhow!("no displayed canvas with a .flow-viewport group"))?;
    list.iter()
        .map(|p| {
            Ok((
                p[0].as_f64().context("client x")?,
                p[1].as_f64().context("client y")?,
            ))
        })
        .collect()
}

/// The canvas element's client rectangle: `(left, top, width, height)`.
pub async fn canvas_rect(client: &Client) -> Result<(f64, f64, f64, f64)> {
    let script = format!(
        "{CANVAS_JS}
         if (!canvas) return null;
         const r = canvas.getBoundingClientRect();
         return [r.left, r.top, r.width, r.height];"
    );
    let v = client.execute(&script, vec![]).await?;
    let n = |i: usize| {
        v[i].as_f64()
            .ok_or_else(|| anyhow!("no displayed flow canvas"))
    };
    Ok((n(0)?, n(1)?, n(2)?, n(3)?))
}

/// The client centre of an element (scrolled into view first).
pub async fn element_center(client: &Client, element: &Element) -> Result<(f64, f64)> {
    let v = client
        .execute(
            "const e = arguments[0]; e.scrollIntoView({ block: 'center', inline: 'center' }); \
             const r = e.getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2];",
            vec![serde_json::to_value(element)?],
        )
        .await?;
    Ok((
        v[0].as_f64().context("element centre x")?,
        v[1].as_f64().context("element centre y")?,
    ))
}

/// The client centre of the canvas node `id`.
pub async fn node_center(client: &Client, id: &str) -> Result<(f64, f64)> {
    let state = canvas_state(client).await?;
    let node = state
        .node(id)
        .ok_or_else(|| anyhow!("the canvas has no node {id}"))?;
    Ok(to_client(client, &[node.center()]).await?[0])
}

fn move_to(x: f64, y: f64, ms: u64) -> PointerAction {
    PointerAction::MoveTo {
        duration: Some(Duration::from_millis(ms)),
        x: x.round(),
        y: y.round(),
    }
}

/// Pointer actions that press the left button at `from` and move to `to` in steps.
fn press_and_move_actions(from: (f64, f64), to: (f64, f64)) -> MouseActions {
    const STEPS: u32 = 8;
    let mut mouse = MouseActions::new("mouse".into())
        .then(move_to(from.0, from.1, 0))
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .pause(Duration::from_millis(60));
    for i in 1..=STEPS {
        let t = f64::from(i) / f64::from(STEPS);
        mouse = mouse.then(move_to(
            from.0 + (to.0 - from.0) * t,
            from.1 + (to.1 - from.1) * t,
            25,
        ));
    }
    mouse
}

/// A left-button drag with real pointer events: press at `from`, move in steps, release at `to`.
pub async fn drag(client: &Client, from: (f64, f64), to: (f64, f64)) -> Result<()> {
    let mouse = press_and_move_actions(from, to)
        .pause(Duration::from_millis(60))
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    client
        .perform_actions(mouse)
        .await
        .with_context(|| format!("dragging from {from:?} to {to:?}"))?;
    client.release_actions().await?;
    Ok(())
}

/// The first half of a drag: press at `from` and move to `to` in steps, holding the button
/// (finish it with [`release_button`]), so a test can look at the page mid-gesture.
pub async fn press_and_move(client: &Client, from: (f64, f64), to: (f64, f64)) -> Result<()> {
    client
        .perform_actions(press_and_move_actions(from, to))
        .await
        .with_context(|| format!("pressing at {from:?} and moving to {to:?}"))
}

/// Releases the left button pressed by [`press_and_move`].
pub async fn release_button(client: &Client) -> Result<()> {
    let mouse = MouseActions::new("mouse".into()).then(PointerAction::Up {
        button: MOUSE_BUTTON_LEFT,
    });
    client
        .perform_actions(mouse)
        .await
        .context("releasing the mouse button")?;
    client.release_actions().await?;
    Ok(())
}

/// Drags an element (from its centre) to a client point.
pub async fn drag_element(client: &Client, element: &Element, to: (f64, f64)) -> Result<()> {
    let from = element_center(client, element).await?;
    drag(client, from, to).await
}

/// A left click at a client point, with real pointer events.
pub async fn click_at(client: &Client, at: (f64, f64)) -> Result<()> {
    let mouse = MouseActions::new("mouse".into())
        .then(move_to(at.0, at.1, 0))
        .then(PointerAction::Down {
            button: MOUSE_BUTTON_LEFT,
        })
        .pause(Duration::from_millis(30))
        .then(PointerAction::Up {
            button: MOUSE_BUTTON_LEFT,
        });
    client
        .perform_actions(mouse)
        .await
        .with_context(|| format!("clicking at {at:?}"))?;
    client.release_actions().await?;
    Ok(())
}

/// Presses `key` `times` times on the focused element, each press with `modifiers` held
/// (e.g. `&[Key::Control.into()]` for Ctrl+Z); real key events.
pub async fn press_keys(
    client: &Client,
    key: char,
    times: usize,
    modifiers: &[char],
) -> Result<()> {
    let mut keys = KeyActions::new("keyboard".into());
    for _ in 0..times {
        for &m in modifiers {
            keys = keys.then(KeyAction::Down { value: m });
        }
        keys = keys
            .then(KeyAction::Down { value: key })
            .then(KeyAction::Up { value: key });
        for &m in modifiers.iter().rev() {
            keys = keys.then(KeyAction::Up { value: m });
        }
    }
    client
        .perform_actions(keys)
        .await
        .context("pressing keys")?;
    client.release_actions().await?;
    Ok(())
}

/// Whether the keyboard focus is on the displayed canvas or inside it.
pub async fn canvas_has_focus(client: &Client) -> Result<bool> {
    let script = format!(
        "{CANVAS_JS}
         return !!canvas && !!document.activeElement && canvas.contains(document.activeElement);"
    );
    Ok(client.execute(&script, vec![]).await?.as_bool() == Some(true))
}

/// The displayed canvas as a WebDriver element (marked with `data-e2e-canvas` to find it).
pub async fn canvas_element(client: &Client) -> Result<Element> {
    let script = format!(
        "{CANVAS_JS}
         document.querySelectorAll('[data-e2e-canvas]').forEach(c => c.removeAttribute('data-e2e-canvas'));
         if (!canvas) return false;
         canvas.setAttribute('data-e2e-canvas', '1');
         return true;"
    );
    ensure!(
        client.execute(&script, vec![]).await?.as_bool() == Some(true),
        "no flow canvas is displayed"
    );
    Ok(client.find(Locator::Css("[data-e2e-canvas]")).await?)
}

/// Saves a screenshot of the displayed canvas element at `path`.
pub async fn screenshot_canvas(client: &Client, path: &Path) -> Result<()> {
    let png = canvas_element(client).await?.screenshot().await?;
    std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))
}

/// Opens the VMS `name` through the picker and waits until the explorer lists `function`.
pub async fn open_vms(ide: &Ide, name: &str, function: &str) -> Result<()> {
    ide.click("vms-picker").await?;
    ide.click(&format!("vms-item-{name}")).await?;
    ide.find(&format!("explorer-item-function-{function}"))
        .await
        .map(|_| ())
}

/// Creates a VMS through the "New VMS" dialog and waits until the picker shows it.
pub async fn new_vms(ide: &Ide, name: &str, template: &str) -> Result<()> {
    ide.click("new-vms-button").await?;
    ide.fill("new-vms-name", name).await?;
    ide.find_css(&format!(
        "{} option[value=\"{template}\"]",
        testid("new-vms-template")
    ))
    .await?;
    ide.set_value("new-vms-template", template).await?;
    ide.click("new-vms-create").await?;
    ide.wait_js(
        &format!(
            "const p = document.querySelector('[data-testid=vms-picker]'); \
             return !!p && p.textContent.includes('{name}')"
        ),
        &format!("the VMS picker to show `{name}`"),
    )
    .await
}

/// Opens a BPMN function's tab from the explorer and waits for its editor and canvas.
pub async fn open_bpmn_function(ide: &Ide, name: &str) -> Result<()> {
    ide.click(&format!("explorer-item-function-{name}")).await?;
    ide.find("bpmn-editor").await?;
    ide.wait_js(
        &format!("{CANVAS_JS} return !!canvas && !!canvas.querySelector('.flow-viewport');"),
        &format!("the flow canvas of `{name}`"),
    )
    .await
}

/// Polls `check` every 100 ms until it holds, for up to [`WAIT`].
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) -> Result<()> {
    let deadline = Instant::now() + WAIT;
    while !check() {
        if Instant::now() > deadline {
            bail!("timed out waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

/// Installs, once per page, a recorder of what the page hands to the browser as a download
/// or a new window: `a.click()` on a link (typically `download` + a blob or data URL),
/// `window.open`. Each is kept in `window.__swDownloads` instead of leaving the page.
pub async fn record_downloads(client: &Client) -> Result<()> {
    client
        .execute(
            "if (!window.__swDownloadsInstalled) { \
               window.__swDownloadsInstalled = true; \
               window.__swDownloads = []; window.__swBlobs = {}; \
               const create = URL.createObjectURL.bind(URL); \
               URL.createObjectURL = obj => { const url = create(obj); window.__swBlobs[url] = obj; return url; }; \
               HTMLAnchorElement.prototype.click = function () { \
                 window.__swDownloads.push({ href: this.href, download: this.getAttribute('download') }); }; \
               window.open = url => { window.__swDownloads.push({ href: String(url), download: null }); return null; }; \
             } \
             window.__swDownloads = []; return true;",
            vec![],
        )
        .await?;
    Ok(())
}

/// A download the page started, with its content read back as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Download {
    /// The URL handed over (`blob:…`, `data:…`).
    pub href: String,
    /// The `download` attribute (the file name), when a link was clicked.
    pub file_name: Option<String>,
    /// The MIME type of the blob or data URL.
    pub mime: String,
    /// The content as text.
    pub text: String,
}

/// Waits for the next download recorded by [`record_downloads`] and reads its content.
pub async fn next_download(client: &Client) -> Result<Download> {
    let deadline = Instant::now() + WAIT;
    loop {
        let value = client
            .execute_async(
                "const done = arguments[arguments.length - 1]; \
                 const d = (window.__swDownloads || [])[0]; \
                 if (!d) { done(null); return; } \
                 const blob = window.__swBlobs[d.href]; \
                 const read = blob ? Promise.resolve(blob) : fetch(d.href).then(r => r.blob()); \
                 read.then(b => b.text().then(text => done({ href: d.href, download: d.download, mime: b.type, text }))) \
                     .catch(e => done({ href: d.href, download: d.download, mime: '', text: '', error: String(e) }));",
                vec![],
            )
            .await?;
        if !value.is_null() {
            if let Some(err) = value["error"].as_str() {
                bail!("the download {} could not be read: {err}", value["href"]);
            }
            return Ok(Download {
                href: value["href"].as_str().unwrap_or_default().to_owned(),
                file_name: value["download"].as_str().map(str::to_owned),
                mime: value["mime"].as_str().unwrap_or_default().to_owned(),
                text: value["text"].as_str().unwrap_or_default().to_owned(),
            });
        }
        if Instant::now() > deadline {
            bail!("the page started no download (link click or window.open) within {WAIT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Writes `functions/<name>.bpmn` and its spec `functions/<name>.yaml` into a VMS folder.
pub fn write_bpmn_function(
    vms_dir: &Path,
    name: &str,
    bpmn: &str,
    description: &str,
) -> Result<()> {
    let functions = vms_dir.join("functions");
    std::fs::create_dir_all(&functions)?;
    std::fs::write(functions.join(format!("{name}.bpmn")), bpmn)?;
    let spec = format!("description: {}\n", serde_json::to_string(description)?);
    std::fs::write(functions.join(format!("{name}.yaml")), spec)?;
    Ok(())
}

/// A generated executable process of about `n` flow nodes with its diagram
/// ([`starweave_diagram::generate_process`]), as canonical BPMN XML.
pub fn generated_process(n: usize) -> String {
    starweave_model::bpmn::write_bpmn(&starweave_diagram::generate_process(n))
}

/// `text` in Starweave's canonical BPMN form (read, then written), which is what the editor
/// writes for an unchanged model.
pub fn canonical_bpmn(text: &str) -> Result<String> {
    let doc = starweave_model::bpmn::read_bpmn(text);
    ensure!(
        !doc.has_errors(),
        "the BPMN does not read cleanly: {:?}",
        doc.diagnostics
    );
    Ok(starweave_model::bpmn::write_bpmn(&doc.definitions))
}

/// A short description of where two texts first differ, for failure messages.
pub fn first_difference(a: &str, b: &str) -> String {
    for (i, (la, lb)) in a.lines().zip(b.lines()).enumerate() {
        if la != lb {
            return format!("line {}: {la:?} vs {lb:?}", i + 1);
        }
    }
    format!(
        "one is a prefix of the other ({} vs {} lines)",
        a.lines().count(),
        b.lines().count()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_process_reads_cleanly_with_one_shape_per_node() {
        let text = generated_process(300);
        let doc = starweave_model::bpmn::read_bpmn(&text);
        assert!(!doc.has_errors(), "{:?}", doc.diagnostics);
        let (shapes, edges) = di_of(&doc.definitions, 0);
        assert!(
            (290..=310).contains(&shapes.len()),
            "{} shapes",
            shapes.len()
        );
        assert!(edges.len() >= shapes.len() - 1);
        assert!(edges.iter().all(|e| e.waypoints.len() >= 2));
        let canonical = canonical_bpmn(&text).unwrap();
        assert_eq!(canonical_bpmn(&canonical).unwrap(), canonical);
    }

    #[test]
    fn waypoints_parse_and_bad_ones_are_errors() {
        let points = parse_waypoints("10,20 30.5,-4").unwrap();
        assert_eq!(
            points,
            vec![Point { x: 10.0, y: 20.0 }, Point { x: 30.5, y: -4.0 }]
        );
        assert!(parse_waypoints("10;20").is_err());
        assert!(parse_waypoints("a,1").is_err());
    }

    fn node(id: &str, key: &str, b: (f64, f64, f64, f64)) -> CanvasNode {
        CanvasNode {
            id: id.into(),
            key: Some(key.into()),
            bounds: Bounds {
                x: b.0,
                y: b.1,
                width: b.2,
                height: b.3,
            },
            class: "flow-node".into(),
        }
    }

    #[test]
    fn comparison_finds_every_kind_of_difference() {
        let doc = starweave_model::bpmn::read_bpmn(&generated_process(10));
        let (shapes, edges) = di_of(&doc.definitions, 0);
        let mut state = CanvasState {
            nodes: shapes
                .iter()
                .map(|s| {
                    let b = s.bounds;
                    node(
                        &s.id,
                        s.element.as_deref().unwrap(),
                        (b.x, b.y, b.width, b.height),
                    )
                })
                .collect(),
            edges: edges
                .iter()
                .map(|e| CanvasEdge {
                    id: e.id.clone(),
                    key: e.element.clone(),
                    waypoints: e.waypoints.clone(),
                    class: String::new(),
                })
                .collect(),
            transform: String::new(),
        };
        assert!(compare_with_di(&state, &shapes, &edges).is_empty());
        state.nodes[0].bounds.x += 0.005;
        assert!(compare_with_di(&state, &shapes, &edges).is_empty());
        state.nodes[0].bounds.x += 1.0;
        state.nodes[1].key = Some("other".into());
        state.edges[0].waypoints.pop();
        state.nodes.push(node("extra", "x", (0.0, 0.0, 1.0, 1.0)));
        state.edges.remove(1);
        let problems = compare_with_di(&state, &shapes, &edges);
        assert_eq!(problems.len(), 5, "{problems:#?}");
    }
}
