//! The properties panel of the BPMN editor: what the selected element is and does — its name,
//! its binding to a connector method, function or component with input and output mappings,
//! conditions and the default flow, scripts, error codes, timers and multi-instance — and the
//! process itself when nothing is selected. Expressions are edited in compact Monaco editors.

use leptos::prelude::*;
use starweave_diagram as diagram;
use starweave_model::bpmn::{
    Activity, ActivityKind, BaseElement, Definitions, ErrorDeclaration, Event, EventDefinitionKind,
    EventKind, Expression, ExtensionElements, FlowElement, GatewayKind, LoopCharacteristics,
    Mapping, MultiInstance, RootElement, Script, StarweaveMultiInstance, StarweaveTask,
};

use super::super::tid;
use super::Editor;
use crate::monaco::{self, EditorHandle};
use crate::state::AppState;

fn find<'a>(elements: &'a [FlowElement], id: &str) -> Option<&'a FlowElement> {
    for el in elements {
        if el.id() == id {
            return Some(el);
        }
        if let Some(sub) = el.sub_process()
            && let Some(found) = find(&sub.flow_elements, id)
        {
            return Some(found);
        }
    }
    None
}

fn find_mut<'a>(elements: &'a mut [FlowElement], id: &str) -> Option<&'a mut FlowElement> {
    for el in elements.iter_mut() {
        if el.id() == id {
            return Some(el);
        }
        if let FlowElement::Activity(a) = el
            && let ActivityKind::SubProcess(s)
            | ActivityKind::Transaction(s)
            | ActivityKind::AdHocSubProcess(s) = &mut a.kind
            && let Some(found) = find_mut(&mut s.flow_elements, id)
        {
            return Some(found);
        }
    }
    None
}

/// The flow element with this id, in any process or sub-process.
pub(crate) fn element<'a>(defs: &'a Definitions, id: &str) -> Option<&'a FlowElement> {
    defs.processes().find_map(|p| find(&p.flow_elements, id))
}

/// [`element`], mutable.
pub(crate) fn element_mut<'a>(defs: &'a mut Definitions, id: &str) -> Option<&'a mut FlowElement> {
    defs.root_elements.iter_mut().find_map(|r| match r {
        RootElement::Process(p) => find_mut(&mut p.flow_elements, id),
        _ => None,
    })
}

/// Edits the activity `id` as one undo step per `key`.
fn edit_activity(ed: Editor, id: &str, key: Option<String>, f: impl FnOnce(&mut Activity)) {
    ed.commit_keyed(key, |defs, _| match element_mut(defs, id) {
        Some(FlowElement::Activity(a)) => {
            f(a);
            Ok(())
        }
        _ => Err(format!("`{id}` is not an activity")),
    });
}

/// Edits the event `id`.
fn edit_event(ed: Editor, id: &str, key: Option<String>, f: impl FnOnce(&mut Event)) {
    ed.commit_keyed(key, |defs, _| match element_mut(defs, id) {
        Some(FlowElement::Event(e)) => {
            f(e);
            Ok(())
        }
        _ => Err(format!("`{id}` is not an event")),
    });
}

/// The `sw:task` binding of an activity, created on first use.
fn task_mut(a: &mut Activity) -> &mut StarweaveTask {
    a.base
        .extension_elements
        .get_or_insert_with(ExtensionElements::default)
        .starweave
        .get_or_insert_with(StarweaveTask::default)
}

/// A compact Monaco editor for an expression (a `<textarea>` when Monaco is not loaded).
#[component]
fn ExprEditor(
    /// The text when the editor opens.
    value: String,
    /// Monaco language id.
    #[prop(default = "rhai")]
    language: &'static str,
    /// The `data-prop` hook.
    prop: String,
    /// A multi-line script rather than one expression.
    #[prop(optional)]
    tall: bool,
    /// Every change, with the whole text.
    on_change: Callback<String>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let status = monaco::load();
    let node = NodeRef::<leptos::html::Div>::new();
    let handle: StoredValue<Option<EditorHandle>, LocalStorage> = StoredValue::new_local(None);
    let initial = value.clone();
    Effect::new(move |_| {
        if status.get() != monaco::Status::Ready {
            return;
        }
        let Some(el) = node.get() else { return };
        if handle.with_value(|h| h.is_some()) {
            return;
        }
        let h = monaco::create_compact(
            &el,
            &initial,
            language,
            state.dark.get_untracked(),
            move |v| on_change.run(v),
        );
        handle.set_value(Some(h));
    });
    let fallback_prop = prop.clone();
    let fallback = move || {
        view! {
            <textarea class="input mono small expr-fallback" data-prop=fallback_prop.clone() rows=if tall { "8" } else { "2" }
                spellcheck="false" prop:value=value.clone()
                on:input=move |ev| on_change.run(event_target_value(&ev))></textarea>
        }
    };
    view! {
        <Show when=move || status.get() != monaco::Status::Missing fallback=fallback>
            <div class="expr-editor" class:tall=tall data-prop=prop.clone() node_ref=node></div>
        </Show>
    }
}

/// The properties of the selection, or of the process when nothing is selected.
#[component]
pub(crate) fn Properties() -> impl IntoView {
    let ed = expect_context::<Editor>();
    let selected = Memo::new(move |_| {
        let selection = ed.store.selection().get();
        match selection.as_slice() {
            [] => Some(None),
            [one] => Some(ed.element_of(one)),
            _ => None,
        }
    });
    view! {
        <section class="bpmn-properties" data-testid=tid("bpmn-properties") aria-label="Properties">
            {move || match selected.get() {
                None => view! { <p class="muted small pad">"Several elements selected."</p> }.into_any(),
                Some(None) => view! { <ProcessProps /> }.into_any(),
                Some(Some(id)) => view! { <ElementProps id=id /> }.into_any(),
            }}
        </section>
    }
}

#[component]
fn ProcessProps() -> impl IntoView {
    let ed = expect_context::<Editor>();
    let info = Memo::new(move |_| {
        ed.defs.with(|d| {
            let p = d.as_ref()?.processes().next()?;
            Some((p.base.id().to_owned(), p.name.clone().unwrap_or_default()))
        })
    });
    view! {
        {move || info.get().map(|(id, name)| {
            let pid = id.clone();
            view! {
                <div class="section-title">"Process"</div>
                <label class="field"><span>"Id"</span><input class="input small mono" readonly prop:value=id.clone() /></label>
                <label class="field"><span>"Name"</span>
                    <input class="input small" data-prop="name" prop:value=name
                        on:change=move |ev| {
                            let v = event_target_value(&ev);
                            let pid = pid.clone();
                            ed.commit(move |defs, _| {
                                diagram::rename(defs, &pid, (!v.trim().is_empty()).then_some(v));
                                Ok(())
                            });
                        } />
                </label>
                <p class="muted small">"Select a shape to edit it; drag from the palette or the library to add one."</p>
            }
        })}
    }
}

/// What the panel needs to know about the selected element.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Flow {
        condition: Option<String>,
        source_gateway: Option<(String, bool)>,
    },
    Gateway {
        default: Option<String>,
        outgoing: Vec<(String, String)>,
        has_default: bool,
    },
    Activity(Box<Activity>),
    Event(Box<Event>),
    Other,
}

fn kind_of(defs: &Definitions, id: &str) -> Option<(String, Kind)> {
    let el = element(defs, id)?;
    let name = el.name().unwrap_or_default().to_owned();
    let kind = match el {
        FlowElement::SequenceFlow(f) => {
            let source_gateway = match element(defs, &f.source_ref) {
                Some(FlowElement::Gateway(g))
                    if matches!(g.kind, GatewayKind::Exclusive | GatewayKind::Inclusive) =>
                {
                    Some((g.base.id().to_owned(), g.default.as_deref() == Some(id)))
                }
                _ => None,
            };
            Kind::Flow {
                condition: f.condition_expression.as_ref().map(|c| c.body.clone()),
                source_gateway,
            }
        }
        FlowElement::Gateway(g) => {
            let outgoing = defs
                .processes()
                .flat_map(|p| p.all_flow_elements())
                .filter_map(|e| match e {
                    FlowElement::SequenceFlow(f) if f.source_ref == id => Some((
                        f.base.id().to_owned(),
                        f.name
                            .clone()
                            .unwrap_or_else(|| format!("→ {}", f.target_ref)),
                    )),
                    _ => None,
                })
                .collect();
            Kind::Gateway {
                default: g.default.clone(),
                outgoing,
                has_default: matches!(
                    g.kind,
                    GatewayKind::Exclusive | GatewayKind::Inclusive | GatewayKind::Complex
                ),
            }
        }
        FlowElement::Activity(a) => Kind::Activity(Box::new(a.clone())),
        FlowElement::Event(e) => Kind::Event(Box::new(e.clone())),
        _ => Kind::Other,
    };
    Some((name, kind))
}

#[component]
fn ElementProps(id: String) -> impl IntoView {
    let ed = expect_context::<Editor>();
    let eid = id.clone();
    // Read once per selection: the fields own their text while the element stays selected.
    let info = ed
        .defs
        .with_untracked(|d| d.as_ref().and_then(|d| kind_of(d, &eid)));
    let Some((name, kind)) = info else {
        return view! {
            <div class="section-title">"Element"</div>
            <p class="muted small mono">{id}</p>
        }
        .into_any();
    };
    let rid = id.clone();
    let body = match kind {
        Kind::Flow {
            condition,
            source_gateway,
        } => flow_fields(ed, id.clone(), condition, source_gateway).into_any(),
        Kind::Gateway {
            default,
            outgoing,
            has_default,
        } => gateway_fields(ed, id.clone(), default, outgoing, has_default).into_any(),
        Kind::Activity(a) => view! { <ActivityFields id=id.clone() activity=*a /> }.into_any(),
        Kind::Event(e) => event_fields(ed, id.clone(), *e).into_any(),
        Kind::Other => ().into_any(),
    };
    view! {
        <div class="section-title">"Element"</div>
        <label class="field"><span>"Id"</span><input class="input small mono" readonly prop:value=id.clone() /></label>
        <label class="field"><span>"Name"</span>
            <input class="input small" data-prop="name" prop:value=name
                on:change=move |ev| {
                    let v = event_target_value(&ev);
                    let rid = rid.clone();
                    ed.commit(move |defs, _| {
                        diagram::rename(defs, &rid, (!v.trim().is_empty()).then_some(v));
                        Ok(())
                    });
                } />
        </label>
        {body}
    }
    .into_any()
}

fn flow_fields(
    ed: Editor,
    id: String,
    condition: Option<String>,
    source_gateway: Option<(String, bool)>,
) -> impl IntoView {
    let cid = id.clone();
    let on_condition = Callback::new(move |text: String| {
        let cid = cid.clone();
        let body = (!text.trim().is_empty()).then_some(text);
        ed.commit_keyed(Some(format!("{cid}/condition")), move |defs, _| {
            diagram::set_condition(defs, &cid, body);
            Ok(())
        });
    });
    view! {
        <label class="field"><span>"Condition (Rhai)"</span></label>
        <ExprEditor value=condition.unwrap_or_default() prop="condition".to_owned() on_change=on_condition />
        {source_gateway.map(|(gateway, is_default)| {
            let fid = id.clone();
            view! {
                <label class="field check">
                    <input type="checkbox" data-prop="default" prop:checked=is_default
                        on:change=move |ev| {
                            let on = event_target_checked(&ev);
                            let gateway = gateway.clone();
                            let fid = fid.clone();
                            ed.commit(move |defs, _| {
                                diagram::set_default_flow(defs, &gateway, on.then_some(fid.as_str()));
                                Ok(())
                            });
                        } />
                    <span>"Default flow (taken when no condition holds)"</span>
                </label>
            }
        })}
    }
}

fn gateway_fields(
    ed: Editor,
    id: String,
    default: Option<String>,
    outgoing: Vec<(String, String)>,
    has_default: bool,
) -> impl IntoView {
    has_default.then(|| {
        view! {
            <label class="field"><span>"Default flow"</span>
                <select class="input small" data-prop="default"
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        let id = id.clone();
                        ed.commit(move |defs, _| {
                            diagram::set_default_flow(defs, &id, (!v.is_empty()).then_some(v.as_str()));
                            Ok(())
                        });
                    }>
                    <option value="" selected=default.is_none()>"(none)"</option>
                    {outgoing.into_iter().map(|(fid, label)| {
                        let selected = default.as_deref() == Some(fid.as_str());
                        view! { <option value=fid.clone() selected=selected>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    })
}

/// The binding options: `connector:c.m`, `function:f`, `bpmn:f`.
fn binding_options(state: AppState, me: &str) -> Vec<(String, String)> {
    state.detail.with_untracked(|d| {
        let mut out = Vec::new();
        for d in d.iter() {
            for c in &d.connectors {
                for m in &c.methods {
                    out.push((
                        format!("connector:{}.{}", c.name, m.name),
                        format!("{}.{} ({})", c.name, m.name, c.kind),
                    ));
                }
            }
            for f in d.functions.iter().filter(|f| f.name != me) {
                let prefix = if f.kind == "bpmn" { "bpmn" } else { "function" };
                out.push((
                    format!("{prefix}:{}", f.name),
                    format!("{} ({})", f.name, f.kind),
                ));
            }
        }
        out
    })
}

fn binding_value(task: Option<&StarweaveTask>) -> String {
    let Some(t) = task else {
        return String::new();
    };
    if let Some(c) = &t.connector {
        return format!("connector:{c}.{}", t.method.as_deref().unwrap_or_default());
    }
    if let Some(f) = &t.function {
        return format!("function:{f}");
    }
    if let Some(f) = &t.bpmn_function {
        return format!("bpmn:{f}");
    }
    if let Some(c) = &t.component {
        return format!("component:{c}");
    }
    String::new()
}

fn set_binding(task: &mut StarweaveTask, value: &str) {
    task.connector = None;
    task.method = None;
    task.function = None;
    task.bpmn_function = None;
    task.component = None;
    let Some((kind, reference)) = value.split_once(':') else {
        return;
    };
    match kind {
        "connector" => {
            let (c, m) = reference.split_once('.').unwrap_or((reference, ""));
            task.connector = Some(c.to_owned());
            task.method = Some(m.to_owned());
        }
        "function" => task.function = Some(reference.to_owned()),
        "bpmn" => task.bpmn_function = Some(reference.to_owned()),
        "component" => task.component = Some(reference.to_owned()),
        _ => {}
    }
}

#[component]
fn ActivityFields(id: String, activity: Activity) -> impl IntoView {
    let ed = expect_context::<Editor>();
    let state = expect_context::<AppState>();
    let task = activity.starweave().cloned();
    let bindable = matches!(
        activity.kind,
        ActivityKind::ServiceTask | ActivityKind::Task | ActivityKind::CallActivity { .. }
    );
    let script = match &activity.kind {
        ActivityKind::ScriptTask {
            script_format,
            script,
        } => Some((
            script_format.clone().unwrap_or_else(|| "rhai".into()),
            script.as_ref().map(|s| s.text.clone()).unwrap_or_default(),
        )),
        _ => None,
    };
    let current = binding_value(task.as_ref());
    let mut options = binding_options(state, &ed.function.get_value());
    if !current.is_empty() && !options.iter().any(|(v, _)| *v == current) {
        options.push((current.clone(), format!("{current} (missing)")));
    }
    let inputs = RwSignal::new(task.as_ref().map(|t| t.inputs.clone()).unwrap_or_default());
    let outputs = RwSignal::new(task.as_ref().map(|t| t.outputs.clone()).unwrap_or_default());
    let mi = match &activity.loop_characteristics {
        Some(LoopCharacteristics::MultiInstance(m)) => {
            if m.is_sequential == Some(true) {
                "sequential"
            } else {
                "parallel"
            }
        }
        _ => "none",
    };
    let mi_mode = RwSignal::new(mi);
    let mi_binding = task
        .as_ref()
        .and_then(|t| t.multi_instance.clone())
        .unwrap_or_default();

    let bid = id.clone();
    let binding_field = bindable.then(move || {
        let selected = current.clone();
        view! {
            <label class="field"><span>"Calls"</span>
                <select class="input small" data-prop="binding"
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        let info = binding_params(state, &v);
                        edit_activity(ed, &bid, None, |a| {
                            let t = task_mut(a);
                            set_binding(t, &v);
                            // Fill in the mappings of the new callee's parameters the first time.
                            if let Some((ins, outs)) = info {
                                if t.inputs.is_empty() {
                                    t.inputs = ins.into_iter().map(|n| Mapping { expr: n.clone(), name: n, ..Default::default() }).collect();
                                }
                                if t.outputs.is_empty() {
                                    t.outputs = outs.into_iter().map(|n| Mapping { expr: format!("result.{n}"), name: n, ..Default::default() }).collect();
                                }
                            }
                            let bpmn = t.bpmn_function.clone();
                            if let ActivityKind::CallActivity { called_element } = &mut a.kind {
                                *called_element = bpmn;
                            }
                        });
                        // Show the mappings just filled in.
                        let fresh = ed.defs.with_untracked(|d| d.as_ref().and_then(|d| match element(d, &bid) {
                            Some(FlowElement::Activity(a)) => a.starweave().cloned(),
                            _ => None,
                        }));
                        if let Some(t) = fresh {
                            inputs.set(t.inputs);
                            outputs.set(t.outputs);
                        }
                    }>
                    <option value="" selected=selected.is_empty()>"(nothing)"</option>
                    {options.into_iter().map(|(v, label)| {
                        let is = v == selected;
                        view! { <option value=v selected=is>{label}</option> }
                    }).collect_view()}
                </select>
            </label>
        }
    });

    let tid_ = id.clone();
    let timeout = task
        .as_ref()
        .and_then(|t| t.timeout.clone())
        .unwrap_or_default();
    let retries = task
        .as_ref()
        .and_then(|t| t.retries)
        .map(|r| r.to_string())
        .unwrap_or_default();
    let rid = id.clone();
    let policy = bindable.then(move || view! {
        <div class="field-row">
            <label class="field"><span>"Timeout"</span>
                <input class="input small mono" data-prop="timeout" placeholder="5s" prop:value=timeout
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        edit_activity(ed, &tid_, None, |a| task_mut(a).timeout = (!v.trim().is_empty()).then(|| v.trim().to_owned()));
                    } />
            </label>
            <label class="field"><span>"Retries"</span>
                <input class="input small mono" data-prop="retries" type="number" min="0" prop:value=retries
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        edit_activity(ed, &rid, None, |a| task_mut(a).retries = v.trim().parse().ok());
                    } />
            </label>
        </div>
    });

    let mappings = bindable.then(|| {
        view! {
            <MappingList id=id.clone() outputs=false rows=inputs />
            <MappingList id=id.clone() outputs=true rows=outputs />
        }
    });

    let sid = id.clone();
    let script_fields = script.map(move |(format, text)| {
        let fid = sid.clone();
        let lang: &'static str = if format == "javascript" { "javascript" } else { "rhai" };
        let on_script = Callback::new(move |text: String| {
            edit_activity(ed, &sid, Some(format!("{sid}/script")), |a| {
                if let ActivityKind::ScriptTask { script, .. } = &mut a.kind {
                    script.get_or_insert_with(Script::default).text = text;
                }
            });
        });
        view! {
            <label class="field"><span>"Script format"</span>
                <select class="input small" data-prop="script-format"
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        edit_activity(ed, &fid, None, |a| {
                            if let ActivityKind::ScriptTask { script_format, .. } = &mut a.kind {
                                *script_format = Some(v);
                            }
                        });
                    }>
                    <option value="rhai" selected=format == "rhai">"Rhai"</option>
                    <option value="javascript" selected=format == "javascript">"JavaScript"</option>
                </select>
            </label>
            <ExprEditor value=text language=lang prop="script".to_owned() tall=true on_change=on_script />
        }
    });

    let mid = id.clone();
    let mid2 = id.clone();
    let collection = mi_binding.collection.clone().unwrap_or_default();
    let element_var = mi_binding.element_variable.clone().unwrap_or_default();
    let output_collection = mi_binding.output_collection.clone().unwrap_or_default();
    let on_collection = Callback::new(move |text: String| {
        edit_activity(ed, &mid2, Some(format!("{mid2}/collection")), |a| {
            task_mut(a)
                .multi_instance
                .get_or_insert_with(StarweaveMultiInstance::default)
                .collection = (!text.trim().is_empty()).then_some(text);
        });
    });
    let mid3 = id.clone();
    let mid4 = id.clone();
    view! {
        {binding_field}
        {policy}
        {mappings}
        {script_fields}
        <div class="section-title">"Multi-instance"</div>
        <select class="input small" data-prop="multi-instance"
            on:change=move |ev| {
                let v = event_target_value(&ev);
                mi_mode.set(match v.as_str() { "parallel" => "parallel", "sequential" => "sequential", _ => "none" });
                edit_activity(ed, &mid, None, |a| {
                    a.loop_characteristics = match v.as_str() {
                        "none" => None,
                        mode => {
                            let mut m = match a.loop_characteristics.take() {
                                Some(LoopCharacteristics::MultiInstance(m)) => m,
                                _ => MultiInstance { base: BaseElement::default(), ..Default::default() },
                            };
                            m.is_sequential = Some(mode == "sequential");
                            Some(LoopCharacteristics::MultiInstance(m))
                        }
                    };
                });
            }>
            <option value="none" selected=mi == "none">"None"</option>
            <option value="parallel" selected=mi == "parallel">"Parallel (one instance per item)"</option>
            <option value="sequential" selected=mi == "sequential">"Sequential"</option>
        </select>
        <Show when=move || mi_mode.get() != "none">
            <label class="field"><span>"Collection (Rhai)"</span></label>
            <ExprEditor value=collection.clone() prop="mi-collection".to_owned() on_change=on_collection />
            <div class="field-row">
                <label class="field"><span>"Item variable"</span>
                    <input class="input small mono" data-prop="mi-element" prop:value=element_var.clone()
                        on:change={
                            let id = mid3.clone();
                            move |ev| {
                                let v = event_target_value(&ev);
                                edit_activity(ed, &id, None, |a| task_mut(a).multi_instance.get_or_insert_with(StarweaveMultiInstance::default).element_variable = (!v.trim().is_empty()).then(|| v.trim().to_owned()));
                            }
                        } />
                </label>
                <label class="field"><span>"Results into"</span>
                    <input class="input small mono" data-prop="mi-output" prop:value=output_collection.clone()
                        on:change={
                            let id = mid4.clone();
                            move |ev| {
                                let v = event_target_value(&ev);
                                edit_activity(ed, &id, None, |a| task_mut(a).multi_instance.get_or_insert_with(StarweaveMultiInstance::default).output_collection = (!v.trim().is_empty()).then(|| v.trim().to_owned()));
                            }
                        } />
                </label>
            </div>
        </Show>
    }
}

/// Input and output parameter names of a binding value, from the VMS detail.
fn binding_params(state: AppState, value: &str) -> Option<(Vec<String>, Vec<String>)> {
    let (kind, reference) = value.split_once(':')?;
    state.detail.with_untracked(|d| {
        let d = d.as_ref()?;
        let names = |ps: &[starweave_model::vms::Parameter]| {
            ps.iter().map(|p| p.name.clone()).collect::<Vec<_>>()
        };
        match kind {
            "connector" => {
                let (c, m) = reference.split_once('.')?;
                let m = d
                    .connectors
                    .iter()
                    .find(|x| x.name == c)?
                    .methods
                    .iter()
                    .find(|x| x.name == m)?;
                Some((names(&m.input), names(&m.output)))
            }
            "function" | "bpmn" => {
                let f = d.functions.iter().find(|f| f.name == reference)?;
                Some((names(&f.input), names(&f.output)))
            }
            _ => None,
        }
    })
}

/// Input (parameter ← expression over variables) or output (variable ← expression over
/// `result`) mappings of a bound activity.
#[component]
fn MappingList(id: String, outputs: bool, rows: RwSignal<Vec<Mapping>>) -> impl IntoView {
    let ed = expect_context::<Editor>();
    let which = if outputs { "output" } else { "input" };
    let save = {
        let id = id.clone();
        move |key: Option<String>| {
            let list = rows.get_untracked();
            edit_activity(ed, &id, key, |a| {
                let t = task_mut(a);
                if outputs {
                    t.outputs = list;
                } else {
                    t.inputs = list;
                }
            });
        }
    };
    let save_add = save.clone();
    // Rows are re-created when one is added or removed; typing only edits the list.
    let count = Memo::new(move |_| rows.with(Vec::len));
    view! {
        <div class="section-title">
            {if outputs { "Outputs: variable ← expression over result" } else { "Inputs: parameter ← expression" }}
            <div class="spacer"></div>
            <button class="btn btn-small" data-prop=format!("{which}-add")
                on:click=move |_| {
                    rows.update(|r| r.push(Mapping::default()));
                    save_add(None);
                }>"+"</button>
        </div>
        <ul class="mapping-list">
            {move || {
                count.track();
                rows.get_untracked().into_iter().enumerate().map(|(i, m)| {
                    let save_name = save.clone();
                    let save_expr = save.clone();
                    let save_remove = save.clone();
                    let key = format!("{id}/{which}/{i}");
                    let on_expr = Callback::new(move |text: String| {
                        rows.update(|r| if let Some(m) = r.get_mut(i) { m.expr = text });
                        save_expr(Some(key.clone()));
                    });
                    view! {
                        <li class="mapping-row">
                            <input class="input small mono" data-prop=format!("{which}-{i}-name") placeholder="name" prop:value=m.name.clone()
                                on:change=move |ev| {
                                    let v = event_target_value(&ev);
                                    rows.update(|r| if let Some(m) = r.get_mut(i) { m.name = v });
                                    save_name(None);
                                } />
                            <span class="muted">"←"</span>
                            <ExprEditor value=m.expr.clone() prop=format!("{which}-{i}-expr") on_change=on_expr />
                            <button class="btn btn-icon btn-small" aria-label="Remove mapping"
                                on:click=move |_| {
                                    rows.update(|r| if i < r.len() { r.remove(i); });
                                    save_remove(None);
                                }>"×"</button>
                        </li>
                    }
                }).collect_view()
            }}
        </ul>
    }
}

fn event_fields(ed: Editor, id: String, event: Event) -> impl IntoView {
    let timer = event.event_definitions.iter().find_map(|d| match &d.kind {
        EventDefinitionKind::Timer {
            time_date,
            time_duration,
            time_cycle,
        } => Some(if let Some(e) = time_duration {
            ("duration", e.body.clone())
        } else if let Some(e) = time_cycle {
            ("cycle", e.body.clone())
        } else {
            (
                "date",
                time_date
                    .as_ref()
                    .map(|e| e.body.clone())
                    .unwrap_or_default(),
            )
        }),
        _ => None,
    });
    let has_error = event
        .event_definitions
        .iter()
        .any(|d| matches!(d.kind, EventDefinitionKind::Error { .. }));
    let error_code = ed.defs.with_untracked(|d| {
        let d = d.as_ref()?;
        let error_ref = event.event_definitions.iter().find_map(|x| match &x.kind {
            EventDefinitionKind::Error { error_ref } => error_ref.clone(),
            _ => None,
        })?;
        d.root_elements.iter().find_map(|r| match r {
            RootElement::Error(e) if e.base.id() == error_ref => e.error_code.clone(),
            _ => None,
        })
    });
    let tid_ = id.clone();
    let timer_kind = RwSignal::new(timer.as_ref().map(|t| t.0).unwrap_or("duration"));
    let timer_field = timer.map(move |(_, value)| {
        let id = tid_.clone();
        let id2 = tid_.clone();
        view! {
            <div class="section-title">"Timer"</div>
            <div class="field-row">
                <select class="input small" data-prop="timer-kind"
                    on:change=move |ev| timer_kind.set(match event_target_value(&ev).as_str() { "date" => "date", "cycle" => "cycle", _ => "duration" })>
                    <option value="duration" selected=timer_kind.get_untracked() == "duration">"Duration (PT5M)"</option>
                    <option value="date" selected=timer_kind.get_untracked() == "date">"Date (ISO 8601)"</option>
                    <option value="cycle" selected=timer_kind.get_untracked() == "cycle">"Cycle (R3/PT1H or cron)"</option>
                </select>
                <input class="input small mono" data-prop="timer" prop:value=value
                    on:change=move |ev| {
                        let v = event_target_value(&ev);
                        let which = timer_kind.get_untracked();
                        let _ = &id2;
                        edit_event(ed, &id, None, |e| {
                            for d in &mut e.event_definitions {
                                if let EventDefinitionKind::Timer { time_date, time_duration, time_cycle } = &mut d.kind {
                                    let expr = Some(Expression::formal(v.trim(), None));
                                    *time_date = None;
                                    *time_duration = None;
                                    *time_cycle = None;
                                    match which {
                                        "date" => *time_date = expr,
                                        "cycle" => *time_cycle = expr,
                                        _ => *time_duration = expr,
                                    }
                                }
                            }
                        });
                    } />
            </div>
        }
    });
    let eid = id.clone();
    let error_field = has_error.then(move || view! {
        <label class="field"><span>{if event.kind == EventKind::Boundary { "Catches error code (empty: any)" } else { "Throws error code" }}</span>
            <input class="input small mono" data-prop="error-code" prop:value=error_code.unwrap_or_default()
                on:change=move |ev| {
                    let code = event_target_value(&ev).trim().to_owned();
                    let eid = eid.clone();
                    ed.commit(move |defs, _| {
                        set_error_code(defs, &eid, &code);
                        Ok(())
                    });
                } />
        </label>
    });
    let bid = id.clone();
    let interrupting = (event.kind == EventKind::Boundary).then(move || {
        let on = event.cancel_activity != Some(false);
        view! {
            <label class="field check">
                <input type="checkbox" data-prop="interrupting" prop:checked=on
                    on:change=move |ev| {
                        let on = event_target_checked(&ev);
                        edit_event(ed, &bid, None, |e| e.cancel_activity = if on { None } else { Some(false) });
                    } />
                <span>"Interrupting (cancels the activity)"</span>
            </label>
        }
    });
    view! { {timer_field} {error_field} {interrupting} }
}

/// Points the error definition of event `id` at an `error` declaration with `code`, creating
/// it when no declaration has that code; an empty code clears the reference.
fn set_error_code(defs: &mut Definitions, id: &str, code: &str) {
    let error_ref = if code.is_empty() {
        None
    } else {
        let existing = defs.root_elements.iter().find_map(|r| match r {
            RootElement::Error(e) if e.error_code.as_deref() == Some(code) => {
                Some(e.base.id().to_owned())
            }
            _ => None,
        });
        Some(existing.unwrap_or_else(|| {
            let safe: String = code
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let mut new_id = format!("Error_{safe}");
            let mut n = 1;
            while defs.root_elements.iter().any(|r| r.id() == new_id) {
                n += 1;
                new_id = format!("Error_{safe}_{n}");
            }
            let declaration = ErrorDeclaration {
                base: BaseElement::with_id(new_id.clone()),
                name: Some(code.to_owned()),
                error_code: Some(code.to_owned()),
                structure_ref: None,
            };
            // Declarations go before the processes, as modelers write them.
            let at = defs
                .root_elements
                .iter()
                .position(|r| matches!(r, RootElement::Process(_) | RootElement::Collaboration(_)))
                .unwrap_or(defs.root_elements.len());
            defs.root_elements
                .insert(at, RootElement::Error(declaration));
            new_id
        }))
    };
    if let Some(FlowElement::Event(e)) = element_mut(defs, id) {
        for d in &mut e.event_definitions {
            if let EventDefinitionKind::Error { error_ref: r } = &mut d.kind {
                *r = error_ref.clone();
            }
        }
    }
}
