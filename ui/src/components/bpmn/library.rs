//! The left column of the BPMN editor: the palette of executable elements and the component
//! library (this VMS's connector methods and functions, and library components by reference),
//! plus diagram export.
//!
//! Items are dragged with pointer events (press on an item, release on the canvas) or placed
//! by a click on the item and a click on the canvas; both end in a `FlowEvent::Drop` whose
//! payload is the palette kind name or `lib:<kind>:<ref>`.

use leptos::prelude::*;
use starweave_diagram::{self as diagram, PaletteKind};
use starweave_model::bpmn::Mapping;
use starweave_model::bpmn::{
    ActivityKind, Definitions, ExtensionElements, FlowElement, Point, StarweaveTask,
};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::Closure;

use super::super::tid;
use super::{Editor, element_mut};
use crate::api::VmsDetail;
use crate::state::AppState;

/// Families of palette kinds: "change type" offers the kinds of the same family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Event,
    Activity,
    Gateway,
    Artifact,
}

/// The family of a palette kind.
pub(crate) fn family(kind: PaletteKind) -> Family {
    let name = kind.name();
    if name == "textAnnotation" {
        Family::Artifact
    } else if name.ends_with("Gateway") {
        Family::Gateway
    } else if name.ends_with("Event") {
        Family::Event
    } else {
        Family::Activity
    }
}

/// The canvas edge drawing a sequence flow or another connecting element.
pub(crate) fn edge_of_element(defs: &Definitions, d: usize, element: &str) -> Option<String> {
    diagram::scene(defs, d)
        .edges
        .into_iter()
        .find(|e| e.element_id.as_deref() == Some(element))
        .map(|e| e.id)
}

fn mappings(names: impl Iterator<Item = (String, String)>) -> Vec<Mapping> {
    names
        .map(|(name, expr)| Mapping {
            name,
            expr,
            ..Default::default()
        })
        .collect()
}

fn bind(defs: &mut Definitions, element: &str, task: StarweaveTask, name: &str) {
    if let Some(FlowElement::Activity(a)) = element_mut(defs, element) {
        a.name = Some(name.to_owned());
        a.base
            .extension_elements
            .get_or_insert_with(ExtensionElements::default)
            .starweave = Some(task);
        if let (Some(f), ActivityKind::CallActivity { called_element }) = (
            a.starweave().and_then(|t| t.bpmn_function.clone()),
            &mut a.kind,
        ) {
            *called_element = Some(f);
        }
    }
}

/// Creates what a palette or library item dropped at `at` stands for; returns the new node.
pub(crate) fn create_from_payload(
    defs: &mut Definitions,
    d: usize,
    payload: &str,
    at: Point,
    detail: Option<&VmsDetail>,
) -> Result<String, String> {
    let Some(rest) = payload.strip_prefix("lib:") else {
        let kind = PaletteKind::parse(payload)
            .ok_or_else(|| format!("unknown palette item `{payload}`"))?;
        return diagram::add_element(defs, d, kind, at).map_err(|e| e.to_string());
    };
    let (kind, reference) = rest
        .split_once(':')
        .ok_or_else(|| format!("unknown library item `{payload}`"))?;
    match kind {
        "connector" => {
            let (connector, method) = reference
                .split_once('.')
                .ok_or_else(|| format!("`{reference}` is not connector.method"))?;
            let info = detail
                .and_then(|d| d.connectors.iter().find(|c| c.name == connector))
                .and_then(|c| c.methods.iter().find(|m| m.name == method));
            let node = diagram::add_element(defs, d, PaletteKind::ServiceTask, at)
                .map_err(|e| e.to_string())?;
            let element = diagram::element_of_node(defs, d, &node).unwrap_or_default();
            let inputs = info
                .map(|m| mappings(m.input.iter().map(|p| (p.name.clone(), p.name.clone()))))
                .unwrap_or_default();
            let outputs = match info {
                Some(m) if !m.output.is_empty() => mappings(
                    m.output
                        .iter()
                        .map(|p| (p.name.clone(), format!("result.{}", p.name))),
                ),
                _ => mappings(std::iter::once((method.to_owned(), "result".to_owned()))),
            };
            let task = StarweaveTask {
                connector: Some(connector.to_owned()),
                method: Some(method.to_owned()),
                inputs,
                outputs,
                ..Default::default()
            };
            bind(defs, &element, task, method);
            Ok(node)
        }
        "function" => {
            let info = detail.and_then(|d| d.functions.iter().find(|f| f.name == reference));
            let is_bpmn = info.is_some_and(|f| f.kind == "bpmn");
            let palette = if is_bpmn {
                PaletteKind::CallActivity
            } else {
                PaletteKind::ServiceTask
            };
            let node = diagram::add_element(defs, d, palette, at).map_err(|e| e.to_string())?;
            let element = diagram::element_of_node(defs, d, &node).unwrap_or_default();
            let inputs = info
                .map(|f| mappings(f.input.iter().map(|p| (p.name.clone(), p.name.clone()))))
                .unwrap_or_default();
            let outputs = info
                .map(|f| {
                    mappings(
                        f.output
                            .iter()
                            .map(|p| (p.name.clone(), format!("result.{}", p.name))),
                    )
                })
                .unwrap_or_default();
            let task = StarweaveTask {
                function: (!is_bpmn).then(|| reference.to_owned()),
                bpmn_function: is_bpmn.then(|| reference.to_owned()),
                inputs,
                outputs,
                ..Default::default()
            };
            bind(defs, &element, task, reference);
            Ok(node)
        }
        "component" => {
            let node = diagram::add_element(defs, d, PaletteKind::ServiceTask, at)
                .map_err(|e| e.to_string())?;
            let element = diagram::element_of_node(defs, d, &node).unwrap_or_default();
            let task = StarweaveTask {
                component: Some(reference.to_owned()),
                outputs: mappings(std::iter::once(("result".to_owned(), "result".to_owned()))),
                ..Default::default()
            };
            let label = reference.split('@').next().unwrap_or(reference);
            let label = label.rsplit('/').next().unwrap_or(label);
            bind(defs, &element, task, label);
            Ok(node)
        }
        other => Err(format!("unknown library kind `{other}`")),
    }
}

/// One draggable item: press and release on the canvas, or click then click on the canvas.
#[component]
fn DragItem(payload: String, children: Children) -> impl IntoView {
    let ed = expect_context::<Editor>();
    let p1 = payload.clone();
    let p2 = payload;
    view! {
        <div class="drag-item" role="button" tabindex="0"
            on:pointerdown=move |ev| {
                if ev.button() == 0 {
                    ev.prevent_default();
                    ed.store.begin_external_drag(p1.clone());
                }
            }
            on:click=move |_| ed.store.arm_placement(p2.clone())>
            {children()}
        </div>
    }
}

/// The palette and the component library.
#[component]
pub(crate) fn Palette() -> impl IntoView {
    let state = expect_context::<AppState>();
    let ed = expect_context::<Editor>();
    let component_ref = RwSignal::new(String::new());
    let me = ed.function.get_value();
    view! {
        <aside class="bpmn-left">
            <section class="bpmn-palette" data-testid=tid("bpmn-palette") aria-label="Palette">
                {PaletteKind::all().iter().map(|k| {
                    let k = *k;
                    view! {
                        <div class="palette-item" data-palette=k.name() title=k.label()>
                            <DragItem payload=k.name().to_owned()>
                                <span class="palette-icon" inner_html=k.icon_svg()></span>
                                <span class="palette-label small">{k.label()}</span>
                            </DragItem>
                        </div>
                    }
                }).collect_view()}
            </section>
            <section class="bpmn-library" data-testid=tid("bpmn-library") aria-label="Component library">
                <div class="section-title">"Connector methods"</div>
                {move || state.detail.with(|d| {
                    let items: Vec<(String, String, String)> = d.iter().flat_map(|d| &d.connectors).flat_map(|c| {
                        c.methods.iter().map(move |m| (format!("{}.{}", c.name, m.name), c.kind.clone(), m.name.clone()))
                    }).collect();
                    if items.is_empty() {
                        return view! { <p class="muted small">"No connector methods yet."</p> }.into_any();
                    }
                    items.into_iter().map(|(reference, kind, method)| {
                        let payload = format!("lib:connector:{reference}");
                        let connector = reference.split('.').next().unwrap_or_default().to_owned();
                        let title = reference.clone();
                        view! {
                            <div class="library-item" data-library-kind="connector" data-library-ref=reference title=title>
                                <DragItem payload=payload>
                                    <span class="lib-text"><strong class="small">{method}</strong><span class="muted small">{connector}" · "{kind}</span></span>
                                </DragItem>
                            </div>
                        }
                    }).collect_view().into_any()
                })}
                <div class="section-title">"Functions"</div>
                {move || state.detail.with(|d| {
                    let items: Vec<(String, String)> = d.iter().flat_map(|d| &d.functions)
                        .filter(|f| f.name != me)
                        .map(|f| (f.name.clone(), f.kind.clone()))
                        .collect();
                    if items.is_empty() {
                        return view! { <p class="muted small">"No other functions."</p> }.into_any();
                    }
                    items.into_iter().map(|(name, kind)| {
                        let payload = format!("lib:function:{name}");
                        let (r, title) = (name.clone(), name.clone());
                        view! {
                            <div class="library-item" data-library-kind="function" data-library-ref=r title=title>
                                <DragItem payload=payload>
                                    <span class="lib-text"><strong class="small">{name}</strong><span class="muted small">{kind}</span></span>
                                </DragItem>
                            </div>
                        }
                    }).collect_view().into_any()
                })}
                <div class="section-title">"Library component"</div>
                <div class="library-component">
                    <input class="input small mono" placeholder="team/name@1.0.0" aria-label="Component reference"
                        data-testid=tid("bpmn-component-ref")
                        prop:value=move || component_ref.get()
                        on:input=move |ev| component_ref.set(event_target_value(&ev)) />
                    {move || {
                        let reference = component_ref.get();
                        let valid = reference.contains('/') && !reference.trim().is_empty();
                        valid.then(|| {
                            let payload = format!("lib:component:{}", reference.trim());
                            let r = reference.trim().to_owned();
                            view! {
                                <div class="library-item" data-library-kind="component" data-library-ref=r>
                                    <DragItem payload=payload>
                                        <span class="badge">"component"</span>
                                        <span class="small ellipsis">{reference}</span>
                                    </DragItem>
                                </div>
                            }
                        })
                    }}
                </div>
            </section>
        </aside>
    }
}

fn encode_uri_component(text: &str) -> String {
    js_sys::encode_uri_component(text).into()
}

/// A file name for exports: the function's name.
fn export_name(ed: Editor, ext: &str) -> String {
    format!("{}.{ext}", ed.function.get_value())
}

/// Export to SVG and PNG: the file is offered as a download link (and downloaded at once).
#[component]
pub(crate) fn ExportButtons() -> impl IntoView {
    let ed = expect_context::<Editor>();
    let link = RwSignal::new(None::<(String, String)>);
    let svg_text = move || {
        ed.defs.with_untracked(|d| {
            d.as_ref()
                .map(|d| diagram::export_svg(d, ed.diagram.get_untracked()))
        })
    };
    let export_svg = move |_| {
        let Some(svg) = svg_text() else { return };
        let href = format!(
            "data:image/svg+xml;charset=utf-8,{}",
            encode_uri_component(&svg)
        );
        link.set(Some((export_name(ed, "svg"), href)));
    };
    let export_png = move |_| {
        let Some(svg) = svg_text() else { return };
        render_png(svg, move |href| match href {
            Ok(href) => link.set(Some((export_name(ed, "png"), href))),
            Err(message) => ed.message.set(Some(message)),
        });
    };
    // Download as soon as the link exists; the link stays for another click.
    let anchor = NodeRef::<leptos::html::A>::new();
    Effect::new(move |_| {
        if link.with(Option::is_some)
            && let Some(a) = anchor.get()
        {
            a.click();
        }
    });
    view! {
        <button class="btn btn-small" data-testid=tid("bpmn-export-svg") title="Export the diagram as SVG" on:click=export_svg>"SVG"</button>
        <button class="btn btn-small" data-testid=tid("bpmn-export-png") title="Export the diagram as PNG" on:click=export_png>"PNG"</button>
        {move || link.get().map(|(name, href)| view! {
            <a node_ref=anchor class="small" data-testid=tid("bpmn-export-link") href=href download=name.clone()>{format!("↓ {name}")}</a>
        })}
    }
}

/// Draws an SVG document on a canvas at twice its size and gives back a PNG data URL.
fn render_png(svg: String, done: impl FnOnce(Result<String, String>) + 'static) {
    let Ok(image) = web_sys::HtmlImageElement::new() else {
        done(Err("cannot create an image".into()));
        return;
    };
    let done = std::rc::Rc::new(std::cell::RefCell::new(Some(done)));
    let img = image.clone();
    let ok = done.clone();
    let onload = Closure::once(move || {
        let result = (|| -> Result<String, String> {
            let scale = 2.0;
            let (w, h) = (img.natural_width().max(1), img.natural_height().max(1));
            let canvas: web_sys::HtmlCanvasElement = document()
                .create_element("canvas")
                .map_err(|_| "no canvas")?
                .unchecked_into();
            canvas.set_width((f64::from(w) * scale) as u32);
            canvas.set_height((f64::from(h) * scale) as u32);
            let ctx: web_sys::CanvasRenderingContext2d = canvas
                .get_context("2d")
                .ok()
                .flatten()
                .ok_or("no 2d context")?
                .unchecked_into();
            ctx.set_fill_style_str("#ffffff");
            ctx.fill_rect(0.0, 0.0, f64::from(w) * scale, f64::from(h) * scale);
            ctx.scale(scale, scale).map_err(|_| "cannot scale")?;
            ctx.draw_image_with_html_image_element(&img, 0.0, 0.0)
                .map_err(|_| "cannot draw the diagram")?;
            canvas
                .to_data_url_with_type("image/png")
                .map_err(|_| "cannot encode PNG".to_owned())
        })();
        if let Some(done) = ok.borrow_mut().take() {
            done(result);
        }
    });
    let failed = done.clone();
    let onerror = Closure::once(move || {
        if let Some(done) = failed.borrow_mut().take() {
            done(Err("the browser could not read the exported SVG".into()));
        }
    });
    image.set_onload(Some(onload.as_ref().unchecked_ref()));
    image.set_onerror(Some(onerror.as_ref().unchecked_ref()));
    onload.forget();
    onerror.forget();
    image.set_src(&format!(
        "data:image/svg+xml;charset=utf-8,{}",
        encode_uri_component(&svg)
    ));
}
