//! The BPMN editor of a function tab: the diagram on the flow canvas (`starweave-flow`), drawn
//! and edited through `starweave-diagram`, with the palette and the component library on the
//! left, the properties of the selection on the right, and the XML one click away.
//!
//! The file's buffer stays the truth: every edit is applied to the parsed model, written back
//! as canonical BPMN XML through live save, and the canvas is redrawn from the model (the
//! canvas store only touches the shapes that changed). Undo and redo keep whole models, so
//! undoing any number of steps gives back exactly the model that was there.
//!
//! The run shown in the run panel is painted on the diagram: completed nodes and taken flows
//! green, the failed node red; clicking a node shows what it received and returned.

mod library;
mod props;

use std::collections::{HashMap, HashSet};

use leptos::prelude::*;
use starweave_diagram::{self as diagram, Clipboard, PaletteKind};
use starweave_flow::{
    FlowCanvas, FlowEdge, FlowEvent, FlowNode, FlowStore, History, Point as FlowPoint, Rect,
};
use starweave_model::Severity;
use starweave_model::bpmn::{Definitions, FlowElement, Point, read_bpmn, write_bpmn};
use wasm_bindgen::JsCast;

use super::editor::CodeEditor;
use super::icons::{Icon, Svg};
use super::pretty;
use super::run::RunView;
use super::tid;
use crate::api::{RunResult, TraceStepInfo};
use crate::state::AppState;

pub(crate) use props::{element, element_mut};

/// How many edits can be undone.
const HISTORY_LIMIT: usize = 1000;

/// The editor's state, shared by its parts as copyable handles.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Editor {
    state: AppState,
    /// The `.bpmn` file.
    pub path: StoredValue<String>,
    /// The function edited (its name).
    pub function: StoredValue<String>,
    /// The parsed model; `None` until the file is read or while it cannot be read.
    pub defs: RwSignal<Option<Definitions>>,
    /// Which `BPMNDiagram` is shown.
    pub diagram: RwSignal<usize>,
    /// The canvas.
    pub store: FlowStore,
    history: StoredValue<History<Definitions>>,
    /// Key of the last edit, so typing in one field is one undo step.
    last_key: StoredValue<Option<String>>,
    last_written: StoredValue<String>,
    clipboard: StoredValue<Option<Clipboard>>,
    /// A refused edit or an export, shown in the toolbar.
    pub message: RwSignal<Option<String>>,
    /// Bumped on every change of the model (undo/redo buttons).
    pub revision: RwSignal<u64>,
    /// The node a "connect" from the context pad starts at.
    pub connecting_from: RwSignal<Option<String>>,
    /// The node or edge whose label is being edited.
    pub editing_label: RwSignal<Option<String>>,
}

impl Editor {
    /// Applies an edit to the model: one undo step, written back to the file.
    pub fn commit(&self, edit: impl FnOnce(&mut Definitions, usize) -> Result<(), String>) -> bool {
        self.commit_keyed(None, edit)
    }

    /// [`Editor::commit`] where consecutive edits with the same `key` (typing in one field)
    /// form a single undo step.
    pub fn commit_keyed(
        &self,
        key: Option<String>,
        edit: impl FnOnce(&mut Definitions, usize) -> Result<(), String>,
    ) -> bool {
        let Some(mut defs) = self.defs.get_untracked() else {
            return false;
        };
        let before = defs.clone();
        let d = self.diagram.get_untracked();
        match edit(&mut defs, d) {
            Err(message) => {
                self.message.set(Some(message));
                false
            }
            Ok(()) if defs == before => false,
            Ok(()) => {
                let same_field = key.is_some() && self.last_key.get_value() == key;
                if !same_field {
                    self.history.update_value(|h| h.push(before));
                }
                self.last_key.set_value(key);
                self.message.set(None);
                self.apply(defs);
                true
            }
        }
    }

    fn apply(&self, defs: Definitions) {
        let xml = write_bpmn(&defs);
        self.last_written.set_value(xml.clone());
        self.defs.set(Some(defs));
        self.revision.update(|r| *r += 1);
        self.state.edit(&self.path.get_value(), xml);
    }

    /// Undoes the last edit.
    pub fn undo(&self) {
        let Some(current) = self.defs.get_untracked() else {
            return;
        };
        let previous = self.history.try_update_value(|h| h.undo(current)).flatten();
        if let Some(previous) = previous {
            self.last_key.set_value(None);
            self.apply(previous);
        }
    }

    /// Redoes the last undone edit.
    pub fn redo(&self) {
        let Some(current) = self.defs.get_untracked() else {
            return;
        };
        let next = self.history.try_update_value(|h| h.redo(current)).flatten();
        if let Some(next) = next {
            self.last_key.set_value(None);
            self.apply(next);
        }
    }

    fn can_undo(&self) -> bool {
        self.revision.track();
        self.history.with_value(|h| h.can_undo())
    }

    fn can_redo(&self) -> bool {
        self.revision.track();
        self.history.with_value(|h| h.can_redo())
    }

    /// The BPMN element drawn by a canvas node or edge.
    pub fn element_of(&self, id: &str) -> Option<String> {
        self.store
            .node(id)
            .and_then(|n| n.key)
            .or_else(|| self.store.edge(id).and_then(|e| e.key))
    }

    /// The element selected alone, if any.
    pub fn selected_element(&self) -> Option<String> {
        let selection = self.store.selection().get();
        match selection.as_slice() {
            [one] => self.element_of(one),
            _ => None,
        }
    }

    /// Selects the shape of an element, switching diagrams when it is drawn on another one.
    pub fn reveal(&self, element: &str) {
        let found = self.defs.with_untracked(|defs| {
            let defs = defs.as_ref()?;
            let current = self.diagram.get_untracked();
            let count = defs.diagrams.len().max(1);
            std::iter::once(current)
                .chain((0..count).filter(|d| *d != current))
                .find_map(|d| {
                    diagram::node_of_element(defs, d, element)
                        .or_else(|| library::edge_of_element(defs, d, element))
                        .map(|n| (d, n))
                })
        });
        if let Some((d, node)) = found {
            if d != self.diagram.get_untracked() {
                self.diagram.set(d);
            }
            self.store.select(vec![node]);
        }
    }
}

/// What the shown run did, by element id.
#[derive(Debug, Clone, Default, PartialEq)]
struct Paint {
    completed: HashSet<String>,
    failed: HashSet<String>,
}

impl Paint {
    fn of(run: Option<&RunResult>) -> Paint {
        let mut paint = Paint::default();
        for step in run.iter().flat_map(|r| &r.trace) {
            if step.error.is_some() {
                paint.failed.insert(step.element_id.clone());
            } else {
                paint.completed.insert(step.element_id.clone());
            }
        }
        // A node that failed once and completed later (a retry) counts as completed.
        let completed = &paint.completed;
        paint.failed.retain(|id| !completed.contains(id));
        paint
    }

    fn node_class(&self, element: Option<&str>) -> &'static str {
        match element {
            Some(e) if self.failed.contains(e) => "trace-failed",
            Some(e) if self.completed.contains(e) => "trace-completed",
            _ => "",
        }
    }
}

/// Sequence flows the run took: both ends ran (the target may have failed).
fn taken_flows(defs: &Definitions, paint: &Paint) -> HashSet<String> {
    let mut out = HashSet::new();
    if paint.completed.is_empty() {
        return out;
    }
    for process in defs.processes() {
        for el in process.all_flow_elements() {
            if let FlowElement::SequenceFlow(f) = el
                && paint.completed.contains(&f.source_ref)
                && (paint.completed.contains(&f.target_ref) || paint.failed.contains(&f.target_ref))
            {
                out.insert(f.base.id().to_owned());
            }
        }
    }
    out
}

fn rect(b: &starweave_model::bpmn::Bounds) -> Rect {
    Rect {
        x: b.x,
        y: b.y,
        w: b.width,
        h: b.height,
    }
}

fn point(p: &Point) -> FlowPoint {
    FlowPoint { x: p.x, y: p.y }
}

/// Edge markers are looked up by id in the whole document, and hidden tabs keep their canvas:
/// each editor gets its own marker ids (`sw-…` becomes `sw<n>-…`).
fn marker_prefix() -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(1);
    format!("sw{}-", NEXT.fetch_add(1, Ordering::Relaxed))
}

fn prefixed(marker: Option<String>, prefix: &str) -> Option<String> {
    marker.map(|m| match m.strip_prefix("sw-") {
        Some(rest) => format!("{prefix}{rest}"),
        None => m,
    })
}

/// The canvas graph of a diagram, with the run and the problems painted on it.
fn graph(
    defs: &Definitions,
    d: usize,
    paint: &Paint,
    problems: &HashMap<String, Severity>,
    markers: &str,
) -> (Vec<FlowNode>, Vec<FlowEdge>) {
    let scene = diagram::scene(defs, d);
    let taken = taken_flows(defs, paint);
    let problem_class = |element: Option<&str>| match element.and_then(|e| problems.get(e)) {
        Some(Severity::Error) => " has-error",
        Some(_) => " has-warning",
        None => "",
    };
    let nodes = scene
        .nodes
        .into_iter()
        .map(|n| {
            let element = n.element_id.as_deref();
            let class = format!("{}{}", paint.node_class(element), problem_class(element));
            FlowNode {
                id: n.id,
                rect: rect(&n.bounds),
                class: class.trim().to_owned(),
                resizable: n.container,
                draggable: true,
                connectable: n.connectable,
                container: n.container,
                parent: n.parent,
                markup: n.markup,
                kind: n.kind,
                key: n.element_id,
            }
        })
        .collect();
    let edges = scene
        .edges
        .into_iter()
        .map(|e| {
            let element = e.element_id.as_deref();
            let painted = if element.is_some_and(|e| taken.contains(e)) {
                "trace-completed"
            } else {
                ""
            };
            FlowEdge {
                id: e.id,
                source: e.source,
                target: e.target,
                waypoints: e.waypoints.iter().map(point).collect(),
                class: format!("{painted}{}", problem_class(element))
                    .trim()
                    .to_owned(),
                marker_start: prefixed(e.marker_start, markers),
                marker_end: prefixed(e.marker_end, markers),
                label: e.label.map(|(text, b)| (text, rect(&b))),
                kind: e.kind,
                key: e.element_id,
            }
        })
        .collect();
    (nodes, edges)
}

/// Counts the drawn nodes after the browser rendered, then marks the diagram as rendered
/// (`performance.mark("bpmn-rendered")`, `window.__bpmnRendered`) for tests and benchmarks.
fn mark_rendered(expected: usize, store: FlowStore, fit: bool, tries: u32) {
    request_animation_frame(move || {
        let drawn = document()
            .query_selector_all("[data-testid=flow-canvas] [data-node-id]")
            .map(|l| l.length() as usize)
            .unwrap_or(0);
        if drawn < expected && tries > 0 {
            mark_rendered(expected, store, fit, tries - 1);
            return;
        }
        if fit {
            store.fit_view();
        }
        let window = window();
        if let Ok(perf) = js_sys::Reflect::get(&window, &"performance".into())
            && let Ok(mark) = js_sys::Reflect::get(&perf, &"mark".into())
            && let Some(mark) = mark.dyn_ref::<js_sys::Function>()
        {
            let _ = mark.call1(&perf, &"bpmn-rendered".into());
        }
        let _ = js_sys::Reflect::set(&window, &"__bpmnRendered".into(), &(drawn as f64).into());
    });
}

/// The BPMN editor of a `.bpmn` function.
#[component]
pub fn BpmnEditor(
    /// The `.bpmn` file.
    path: String,
    /// The tab it lives in.
    tab_id: String,
    /// The function's name (an empty file becomes a process with this id).
    function: String,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let doc = state.doc(&path);
    let run = use_context::<RunView>();
    let ed = Editor {
        state,
        path: StoredValue::new(path.clone()),
        function: StoredValue::new(function.clone()),
        defs: RwSignal::new(None),
        diagram: RwSignal::new(0),
        store: FlowStore::new(),
        history: StoredValue::new(History::new(HISTORY_LIMIT)),
        last_key: StoredValue::new(None),
        last_written: StoredValue::new(String::new()),
        clipboard: StoredValue::new(None),
        message: RwSignal::new(None),
        revision: RwSignal::new(0),
        connecting_from: RwSignal::new(None),
        editing_label: RwSignal::new(None),
    };
    provide_context(ed);
    let show_xml = RwSignal::new(false);
    let read_error = RwSignal::new(None::<String>);
    let laid_out = RwSignal::new(false);

    // The buffer changed (loaded, edited as XML, reloaded from disk): read it again.
    Effect::new(move |_| {
        if !doc.loaded.get() {
            return;
        }
        let text = doc.text.get();
        if ed.last_written.with_value(|w| *w == text) && ed.defs.with_untracked(Option::is_some) {
            return;
        }
        if text.trim().is_empty() {
            let name = ed.function.get_value();
            ed.defs.set(Some(diagram::new_definitions(&name, &name)));
            read_error.set(None);
            return;
        }
        let read = read_bpmn(&text);
        let fatal = read.has_errors() && read.definitions.root_elements.is_empty();
        if fatal {
            let first = read
                .diagnostics
                .iter()
                .find(|d| d.is_error())
                .map(|d| d.message.clone())
                .unwrap_or_default();
            read_error.set(Some(first));
            show_xml.set(true);
            return;
        }
        read_error.set(None);
        let mut defs = read.definitions;
        if !diagram::has_di(&defs) {
            let drawn_before = write_bpmn(&defs);
            diagram::auto_layout(&mut defs);
            // An empty process gains an empty diagram: nothing worth a notice.
            let has_nodes = defs
                .processes()
                .any(|p| p.flow_elements.iter().any(FlowElement::is_flow_node));
            laid_out.set(has_nodes && write_bpmn(&defs) != drawn_before);
        }
        ed.last_written.set_value(text);
        ed.history.update_value(|h| h.clear());
        ed.last_key.set_value(None);
        let count = defs.diagrams.len().max(1);
        if ed.diagram.get_untracked() >= count {
            ed.diagram.set(0);
        }
        ed.defs.set(Some(defs));
        ed.revision.update(|r| *r += 1);
    });

    let paint = Memo::new(move |_| match run {
        Some(run) => run.result.with(|r| Paint::of(r.as_ref())),
        None => Paint::default(),
    });
    let file = path.clone();
    let problems = Memo::new(move |_| {
        state.diagnostics.with(|ds| {
            let mut out = HashMap::new();
            for d in ds
                .iter()
                .filter(|d| d.file.as_deref() == Some(file.as_str()))
            {
                if let Some(e) = &d.element {
                    let worst = match (out.get(e), d.severity) {
                        (Some(Severity::Error), _) => Severity::Error,
                        (_, s) => s,
                    };
                    out.insert(e.clone(), worst);
                }
            }
            out
        })
    });

    // Redraw the canvas from the model; the store re-renders only what changed.
    let shown = StoredValue::new(None::<usize>);
    let markers = marker_prefix();
    let marker_defs = diagram::DEFS.replace("id=\"sw-", &format!("id=\"{markers}"));
    Effect::new(move |_| {
        let d = ed.diagram.get();
        let paint = paint.get();
        let problems = problems.get();
        ed.defs.with(|defs| {
            let Some(defs) = defs else { return };
            let (nodes, edges) = graph(defs, d, &paint, &problems, &markers);
            let count = nodes.len();
            ed.store.set_graph(nodes, edges);
            let first = shown.get_value() != Some(d);
            shown.set_value(Some(d));
            if first {
                mark_rendered(count, ed.store, true, 120);
            }
        });
    });

    // A problem clicked in the problems panel selects its shape.
    let file = path.clone();
    Effect::new(move |_| {
        let Some((p, element, _)) = state.reveal_element.get() else {
            return;
        };
        if p != file || !ed.defs.with(Option::is_some) {
            return;
        }
        ed.reveal(&element);
    });

    // Finish a "connect" started from the context pad with a click on the target.
    Effect::new(move |_| {
        let selection = ed.store.selection().get();
        let Some(from) = ed.connecting_from.get_untracked() else {
            return;
        };
        if let [to] = selection.as_slice()
            && *to != from
        {
            ed.connecting_from.set(None);
            let to = to.clone();
            let mut created = None;
            ed.commit(|defs, d| {
                created = Some(diagram::connect(defs, d, &from, &to).map_err(|e| e.to_string())?);
                Ok(())
            });
            if let Some(edge) = created {
                ed.store.select(vec![edge]);
            }
        }
    });

    let can_connect = Callback::new(move |(source, target): (String, String)| {
        ed.defs.with_untracked(|defs| {
            defs.as_ref().is_some_and(|defs| {
                diagram::can_connect(defs, ed.diagram.get_untracked(), &source, &target).is_ok()
            })
        })
    });
    let on_event = Callback::new(move |event: FlowEvent| on_canvas_event(ed, event));

    let diagram_names = Memo::new(move |_| {
        ed.defs
            .with(|d| d.as_ref().map(diagram::diagram_names).unwrap_or_default())
    });

    let xml_path = path.clone();
    let xml_tab = tab_id.clone();
    view! {
        <div class="bpmn-editor" data-testid=tid("bpmn-editor")>
            <style>{starweave_flow::FLOW_CSS}</style>
            <div class="bpmn-toolbar pane-header sub">
                <div class="segmented" role="tablist" aria-label="View">
                    <button class="seg" class:active=move || !show_xml.get() data-testid=tid("bpmn-view-diagram")
                        disabled=move || read_error.with(Option::is_some)
                        on:click=move |_| show_xml.set(false)>"Diagram"</button>
                    <button class="seg" class:active=move || show_xml.get() data-testid=tid("bpmn-view-xml")
                        on:click=move |_| show_xml.set(true)>"XML"</button>
                </div>
                <Show when=move || { diagram_names.with(|n| n.len() > 1) }>
                    <select class="input small" data-testid=tid("bpmn-diagram-select") aria-label="Diagram"
                        on:change=move |ev| {
                            if let Ok(i) = event_target_value(&ev).parse::<usize>() {
                                ed.store.select(Vec::new());
                                ed.diagram.set(i);
                            }
                        }>
                        {move || diagram_names.get().into_iter().enumerate().map(|(i, n)| view! {
                            <option value=i.to_string() selected=move || ed.diagram.get() == i>{n}</option>
                        }).collect_view()}
                    </select>
                </Show>
                <div class="spacer"></div>
                <Show when=move || !show_xml.get()>
                    <button class="btn btn-small" data-testid=tid("bpmn-undo") title="Undo (Ctrl+Z)"
                        disabled=move || !ed.can_undo() on:click=move |_| ed.undo()>"Undo"</button>
                    <button class="btn btn-small" data-testid=tid("bpmn-redo") title="Redo (Ctrl+Shift+Z)"
                        disabled=move || !ed.can_redo() on:click=move |_| ed.redo()>"Redo"</button>
                    <button class="btn btn-small" data-testid=tid("bpmn-fit") title="Fit the diagram (0)"
                        on:click=move |_| ed.store.fit_view()>"Fit"</button>
                    <button class="btn btn-small" title="Zoom out (-)" aria-label="Zoom out"
                        on:click=move |_| ed.store.zoom_by(1.0 / 1.25)>"−"</button>
                    <span class="muted small zoom-level" data-testid=tid("bpmn-zoom")>
                        {move || format!("{:.0} %", ed.store.viewport().get().zoom * 100.0)}
                    </span>
                    <button class="btn btn-small" title="Zoom in (+)" aria-label="Zoom in"
                        on:click=move |_| ed.store.zoom_by(1.25)>"+"</button>
                    <library::ExportButtons />
                </Show>
            </div>
            <Show when=move || laid_out.get()>
                <div class="notice small">"This diagram had no layout; it was laid out automatically and is saved with the next edit."</div>
            </Show>
            <Show when=move || ed.message.with(Option::is_some)>
                <div class="notice small bpmn-message" data-testid=tid("bpmn-message") role="status">
                    {move || ed.message.get().unwrap_or_default()}
                    <button class="btn btn-icon btn-small" aria-label="Dismiss" on:click=move |_| ed.message.set(None)>"×"</button>
                </div>
            </Show>
            <Show when=move || read_error.with(Option::is_some)>
                <div class="notice small error" role="alert">
                    "The file cannot be drawn: " {move || read_error.get().unwrap_or_default()}
                </div>
            </Show>
            {move || if show_xml.get() {
                view! {
                    <div class="bpmn-xml">
                        <CodeEditor path=xml_path.clone() tab_id=xml_tab.clone() primary=true language="xml" />
                    </div>
                }.into_any()
            } else {
                view! {
                    <div class="bpmn-body">
                        <library::Palette />
                        <div class="bpmn-canvas-wrap">
                            <FlowCanvas store=ed.store on_event=on_event can_connect=can_connect defs=marker_defs.clone()>
                                <ContextPad />
                                <LabelEditor />
                            </FlowCanvas>
                        </div>
                        <aside class="bpmn-side">
                            <TraceDetail />
                            <props::Properties />
                        </aside>
                    </div>
                }.into_any()
            }}
        </div>
    }
}

/// What the canvas reports, turned into model edits.
fn on_canvas_event(ed: Editor, event: FlowEvent) {
    match event {
        FlowEvent::Moved { ids, dx, dy } => {
            ed.commit(|defs, d| {
                diagram::move_nodes(defs, d, &ids, dx, dy);
                Ok(())
            });
        }
        FlowEvent::Resized { id, rect } => {
            ed.commit(|defs, d| {
                let bounds = starweave_model::bpmn::Bounds {
                    x: rect.x,
                    y: rect.y,
                    width: rect.w,
                    height: rect.h,
                };
                diagram::resize_node(defs, d, &id, bounds);
                Ok(())
            });
        }
        FlowEvent::Connect { source, target } => {
            let mut created = None;
            ed.commit(|defs, d| {
                created =
                    Some(diagram::connect(defs, d, &source, &target).map_err(|e| e.to_string())?);
                Ok(())
            });
            if let Some(edge) = created {
                ed.store.select(vec![edge]);
            }
        }
        FlowEvent::Reconnect {
            edge,
            source_end,
            node,
        } => {
            ed.commit(|defs, d| {
                diagram::reconnect(defs, d, &edge, source_end, &node).map_err(|e| e.to_string())
            });
        }
        FlowEvent::WaypointsChanged { edge, waypoints } => {
            ed.commit(|defs, d| {
                let points = waypoints.iter().map(|p| Point { x: p.x, y: p.y }).collect();
                diagram::set_waypoints(defs, d, &edge, points);
                Ok(())
            });
        }
        FlowEvent::Delete { ids } => {
            ed.commit(|defs, d| {
                diagram::delete(defs, d, &ids);
                Ok(())
            });
            ed.store.select(Vec::new());
        }
        FlowEvent::Copy { ids } => copy(ed, &ids),
        FlowEvent::Cut { ids } => {
            copy(ed, &ids);
            ed.commit(|defs, d| {
                diagram::delete(defs, d, &ids);
                Ok(())
            });
            ed.store.select(Vec::new());
        }
        FlowEvent::Paste { at } => {
            let Some(clip) = ed.clipboard.get_value() else {
                return;
            };
            let mut pasted = Vec::new();
            ed.commit(|defs, d| {
                pasted = diagram::paste(defs, d, &clip, Point { x: at.x, y: at.y });
                Ok(())
            });
            ed.store.select(pasted);
        }
        FlowEvent::Undo => ed.undo(),
        FlowEvent::Redo => ed.redo(),
        FlowEvent::NodeDoubleClick { id } | FlowEvent::EdgeDoubleClick { id } => {
            ed.editing_label.set(Some(id));
        }
        FlowEvent::CanvasClick { .. } => {
            ed.connecting_from.set(None);
            ed.editing_label.set(None);
        }
        FlowEvent::Drop { payload, at } => {
            let at = Point { x: at.x, y: at.y };
            let mut created = None;
            let detail = ed.state.detail.get_untracked();
            ed.commit(|defs, d| {
                created = Some(library::create_from_payload(
                    defs,
                    d,
                    &payload,
                    at,
                    detail.as_ref(),
                )?);
                Ok(())
            });
            if let Some(node) = created {
                ed.store.select(vec![node]);
            }
        }
        FlowEvent::SelectionChanged(_) | FlowEvent::ContextMenu { .. } => {}
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

fn copy(ed: Editor, ids: &[String]) {
    let clip = ed.defs.with_untracked(|defs| {
        defs.as_ref()
            .map(|defs| diagram::copy(defs, ed.diagram.get_untracked(), ids))
    });
    ed.clipboard.set_value(clip);
}

/// Screen position (client pixels) of a diagram point.
fn client(ed: Editor, x: f64, y: f64) -> (f64, f64) {
    ed.store.to_client(FlowPoint { x, y })
}

/// The context pad beside the one selected node: append the next element, connect, change
/// the type, delete.
#[component]
fn ContextPad() -> impl IntoView {
    let ed = expect_context::<Editor>();
    let target = Memo::new(move |_| {
        ed.revision.track();
        ed.store.viewport().track();
        let selection = ed.store.selection().get();
        let [id] = selection.as_slice() else {
            return None;
        };
        // Tracked, so the pad follows the node while it is dragged.
        let node = ed.store.node_signal(id)?.get();
        if !node.connectable {
            return None;
        }
        let (x, y) = client(ed, node.rect.x + node.rect.w, node.rect.y);
        Some((node.id, node.key, node.kind, x, y))
    });
    view! {
        {move || target.get().map(|(id, element, kind, x, y)| {
            let family = PaletteKind::parse(&kind).map(library::family);
            let append = [
                PaletteKind::ServiceTask,
                PaletteKind::ScriptTask,
                PaletteKind::ExclusiveGateway,
                PaletteKind::ParallelGateway,
                PaletteKind::IntermediateTimerEvent,
                PaletteKind::EndEvent,
            ];
            let is_end = kind == "endEvent";
            let id_append = id.clone();
            let id_connect = id.clone();
            let id_delete = id.clone();
            let element_change = element.clone();
            view! {
                <div class="bpmn-context-pad" data-testid=tid("bpmn-context-pad")
                    style=format!("left:{:.0}px;top:{:.0}px", x + 8.0, y)>
                    <Show when=move || !is_end>
                        <div class="pad-row">
                            {append.iter().map(|k| {
                                let k = *k;
                                let from = id_append.clone();
                                view! {
                                    <button class="pad-btn" data-pad=format!("append-{}", k.name()) title=format!("Append {}", k.label())
                                        on:click=move |_| {
                                            let mut created = None;
                                            ed.commit(|defs, d| {
                                                created = Some(diagram::append(defs, d, &from, k).map_err(|e| e.to_string())?);
                                                Ok(())
                                            });
                                            if let Some(n) = created { ed.store.select(vec![n]); }
                                        }
                                        inner_html=k.icon_svg()>
                                    </button>
                                }
                            }).collect_view()}
                        </div>
                    </Show>
                    <div class="pad-row">
                        <button class="pad-btn" data-pad="connect" title="Connect to another element"
                            class:active=move || ed.connecting_from.get().is_some()
                            on:click={
                                let id = id_connect.clone();
                                move |_| ed.connecting_from.set(Some(id.clone()))
                            }><Svg icon=Icon::Arrow /></button>
                        <button class="pad-btn" data-pad="delete" title="Delete (Del)"
                            on:click=move |_| {
                                let ids = vec![id_delete.clone()];
                                ed.commit(|defs, d| { diagram::delete(defs, d, &ids); Ok(()) });
                                ed.store.select(Vec::new());
                            }><Svg icon=Icon::Trash /></button>
                        {family.map(|family| {
                            let element = element_change.clone();
                            view! {
                                <select class="pad-select" data-pad="change-type" aria-label="Change type"
                                    on:change=move |ev| {
                                        let Some(k) = PaletteKind::parse(&event_target_value(&ev)) else { return };
                                        let Some(element) = element.clone() else { return };
                                        ed.commit(|defs, d| diagram::change_type(defs, d, &element, k).map_err(|e| e.to_string()));
                                    }>
                                    <option value="" selected=true>"Change type…"</option>
                                    {PaletteKind::all().iter().filter(|k| library::family(**k) == family).map(|k| view! {
                                        <option value=k.name()>{k.label()}</option>
                                    }).collect_view()}
                                </select>
                            }
                        })}
                    </div>
                </div>
            }
        })}
    }
}

/// In-place label editing (double click on a shape or a flow).
#[component]
fn LabelEditor() -> impl IntoView {
    let ed = expect_context::<Editor>();
    let node_ref = NodeRef::<leptos::html::Textarea>::new();
    let target = Memo::new(move |_| {
        let id = ed.editing_label.get()?;
        ed.store.viewport().track();
        let element = ed.element_of(&id)?;
        let (x, y, w) = match ed.store.node(&id) {
            Some(n) => {
                let (x, y) = client(ed, n.rect.x, n.rect.y + n.rect.h / 2.0 - 14.0);
                let (x2, _) = client(ed, n.rect.x + n.rect.w, 0.0);
                (x, y, (x2 - x).max(120.0))
            }
            None => {
                let e = ed.store.edge(&id)?;
                let mid = e.waypoints.get(e.waypoints.len() / 2).copied()?;
                let (x, y) = client(ed, mid.x - 60.0, mid.y - 14.0);
                (x, y, 120.0)
            }
        };
        let name = ed.defs.with_untracked(|d| {
            d.as_ref()
                .and_then(|d| element_name(d, &element))
                .unwrap_or_default()
        });
        Some((element, name, x, y, w))
    });
    Effect::new(move |_| {
        if target.with(Option::is_some)
            && let Some(el) = node_ref.get()
        {
            let _ = el.focus();
            el.select();
        }
    });
    let finish = move |save: bool| {
        let Some((element, _, _, _, _)) = target.get_untracked() else {
            return;
        };
        if save && let Some(el) = node_ref.get_untracked() {
            let text = el.value();
            let name = if text.trim().is_empty() {
                None
            } else {
                Some(text)
            };
            ed.commit(|defs, _| {
                diagram::rename(defs, &element, name);
                Ok(())
            });
        }
        ed.editing_label.set(None);
    };
    view! {
        {move || target.get().map(|(_, name, x, y, w)| view! {
            <textarea node_ref=node_ref class="bpmn-label-editor" data-testid=tid("bpmn-label-editor")
                style=format!("left:{x:.0}px;top:{y:.0}px;width:{w:.0}px")
                prop:value=name
                on:keydown=move |ev| {
                    if ev.key() == "Enter" && !ev.shift_key() { ev.prevent_default(); finish(true); }
                    if ev.key() == "Escape" { ev.prevent_default(); finish(false); }
                    ev.stop_propagation();
                }
                on:blur=move |_| finish(true)
            ></textarea>
        })}
    }
}

/// The name of a flow element, participant or lane.
fn element_name(defs: &Definitions, id: &str) -> Option<String> {
    element(defs, id).and_then(|e| e.name().map(str::to_owned))
}

/// What the run did at the selected node: input, output or error.
#[component]
fn TraceDetail() -> impl IntoView {
    let ed = expect_context::<Editor>();
    let Some(run) = use_context::<RunView>() else {
        return ().into_any();
    };
    let steps = Memo::new(move |_| {
        let element = ed.selected_element()?;
        run.result.with(|r| {
            let steps: Vec<TraceStepInfo> = r
                .iter()
                .flat_map(|r| &r.trace)
                .filter(|s| s.element_id == element)
                .cloned()
                .collect();
            (!steps.is_empty()).then_some((element, steps))
        })
    });
    view! {
        {move || steps.get().map(|(element, steps)| view! {
            <section class="bpmn-trace-detail" data-testid=tid("bpmn-trace-detail")>
                <div class="section-title">"Last run · " <span class="mono">{element}</span></div>
                {steps.into_iter().map(|s| {
                    let failed = s.error.is_some();
                    view! {
                        <div class="trace-box" class:error=failed>
                            <div class="muted small">{format!("{:.2} ms", s.duration_us as f64 / 1000.0)}</div>
                            {s.input.as_ref().map(|v| view! { <div class="small">"Input"</div><pre class="mono small">{pretty(v)}</pre> })}
                            {s.output.as_ref().map(|v| view! { <div class="small">"Output"</div><pre class="mono small" data-testid="bpmn-trace-output">{pretty(v)}</pre> })}
                            {s.error.as_ref().map(|e| view! { <div class="small">"Error"</div><pre class="mono small error">{format!("{}: {}", e.code, e.message)}</pre> })}
                        </div>
                    }
                }).collect_view()}
            </section>
        })}
    }
    .into_any()
}
