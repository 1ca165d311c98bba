//! A function tab: its source (or, for BPMN, the diagram editor), its parameters, and the run &
//! debug panel.

use leptos::prelude::*;
use starweave_model::vms::disk::{function_spec_to_yaml, parse_function_spec};
use starweave_model::vms::{FunctionSpec, Parameter};

use super::bpmn::BpmnEditor;
use super::editor::CodeEditor;
use super::params::ParamsEditor;
use super::run::{RunPanel, RunView};
use super::{tid, yaml_model};
use crate::state::AppState;

#[derive(Debug, Clone, PartialEq)]
struct FunctionFiles {
    file: String,
    kind: String,
    params_file: String,
}

/// A function tab.
#[component]
pub fn FunctionTab(name: String, tab_id: String) -> impl IntoView {
    let state = expect_context::<AppState>();
    let n = name.clone();
    let files = Memo::new(move |_| {
        state.detail.with(|d| {
            let f = d.as_ref()?.functions.iter().find(|f| f.name == n)?;
            Some(FunctionFiles {
                file: f.file.clone(),
                kind: f.kind.clone(),
                params_file: f
                    .params_file
                    .clone()
                    .unwrap_or_else(|| format!("functions/{}.yaml", f.name)),
            })
        })
    });
    view! {
        {move || match files.get() {
            None => view! {
                <div class="skeleton-block pad" aria-busy="true"><span></span><span></span><span></span></div>
            }
            .into_any(),
            Some(f) => view! { <FunctionBody name=name.clone() tab_id=tab_id.clone() files=f /> }.into_any(),
        }}
    }
}

#[component]
fn FunctionBody(name: String, tab_id: String, files: FunctionFiles) -> impl IntoView {
    let state = expect_context::<AppState>();
    provide_context(RunView {
        result: RwSignal::new(None),
    });
    let spec = yaml_model(state, &files.params_file, parse_function_spec);
    let which = RwSignal::new(true);
    let params_file = files.params_file.clone();
    let params = Signal::derive(move || {
        spec.with(|s| {
            let s = s.as_ref();
            if which.get() {
                s.map(|s| s.input.clone()).unwrap_or_default()
            } else {
                s.map(|s| s.output.clone()).unwrap_or_default()
            }
        })
    });
    let input_params = Signal::derive(move || {
        spec.with(|s| s.as_ref().map(|s| s.input.clone()).unwrap_or_default())
    });
    let spec_path = files.params_file.clone();
    let on_change = Callback::new(move |p: Vec<Parameter>| {
        // A spec that does not parse (or is not read yet) is not replaced by one holding
        // only this list: its description, timeout and errors would be lost.
        let Some(mut s): Option<FunctionSpec> = spec.get_untracked() else {
            state.banner.set(Some(format!(
                "{spec_path} is not read yet, or does not parse: fix it in its text (Files) before editing the parameters here"
            )));
            return;
        };
        if which.get_untracked() {
            s.input = p;
        } else {
            s.output = p;
        }
        state.edit(&params_file, function_spec_to_yaml(&s));
    });
    let description = move || {
        spec.with(|s| {
            s.as_ref()
                .and_then(|s| s.description.clone())
                .unwrap_or_default()
        })
    };
    let is_bpmn = files.kind == "bpmn";
    // The diagram needs the room: a BPMN function's parameters start folded.
    let params_open = RwSignal::new(!is_bpmn);
    let source = if is_bpmn {
        view! { <BpmnEditor path=files.file.clone() tab_id=tab_id.clone() function=name.clone() /> }
            .into_any()
    } else {
        view! { <CodeEditor path=files.file.clone() tab_id=tab_id.clone() primary=true /> }
            .into_any()
    };
    view! {
        <div class="function-tab" class:is-bpmn=is_bpmn>
            <div class="pane-column">
                <div class="pane-header">
                    <span class="badge">{files.kind.clone()}</span>
                    <strong>{name.clone()}</strong>
                    <span class="muted mono small">{files.file.clone()}</span>
                    <span class="muted small ellipsis">{description}</span>
                </div>
                <div class="source-area">{source}</div>
                <section class="params-area" class:collapsed=move || !params_open.get() aria-label="Parameters">
                    <div class="pane-header sub">
                        <div class="segmented" role="tablist" aria-label="Parameter list">
                            <button class="seg" class:active=move || which.get() && params_open.get() data-testid=tid("params-input")
                                on:click=move |_| { which.set(true); params_open.set(true); }>"Input"</button>
                            <button class="seg" class:active=move || !which.get() && params_open.get() data-testid=tid("params-output")
                                on:click=move |_| { which.set(false); params_open.set(true); }>"Output"</button>
                        </div>
                        <span class="muted mono small">{files.params_file.clone()}</span>
                        <div class="spacer"></div>
                        <button class="btn btn-icon btn-small" data-testid=tid("params-toggle")
                            aria-label=move || if params_open.get() { "Hide parameters" } else { "Show parameters" }
                            aria-expanded=move || params_open.get().to_string()
                            on:click=move |_| params_open.update(|o| *o = !*o)>
                            {move || if params_open.get() { "▾" } else { "▸" }}
                        </button>
                    </div>
                    // Re-created when switching between input and output, so each view starts fresh.
                    {move || {
                        which.track();
                        params_open.get().then(|| view! { <ParamsEditor params=params on_change=on_change /> })
                    }}
                </section>
            </div>
            <RunPanel function=name tab_id=tab_id input_params=input_params />
        </div>
    }
}
