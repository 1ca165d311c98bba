//! The parameter editor: one parameter list in three views (table, YAML, CSV) kept in sync
//! through `starweave-model`'s conversions, plus "infer from a JSON sample".

use leptos::prelude::*;
use starweave_model::Diagnostic;
use starweave_model::vms::params::{
    ParameterRow, params_from_csv, params_from_yaml, params_to_csv, params_to_rows, params_to_yaml,
    rows_to_params,
};
use starweave_model::vms::{ParamType, Parameter};

use super::{tid, tid_owned};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum View {
    Table,
    Yaml,
    Csv,
}

/// Edits `params`; every valid change is reported through `on_change`. The YAML and CSV views
/// are regenerated from the list when they are opened, and parsed on every keystroke (a text
/// that does not parse shows its diagnostics and changes nothing).
#[component]
pub fn ParamsEditor(
    /// The list edited.
    #[prop(into)]
    params: Signal<Vec<Parameter>>,
    /// Called with the new list.
    on_change: Callback<Vec<Parameter>>,
) -> impl IntoView {
    let view_mode = RwSignal::new(View::Table);
    let yaml = RwSignal::new(String::new());
    let csv = RwSignal::new(String::new());
    let problems = RwSignal::new(Vec::<Diagnostic>::new());
    let sample = RwSignal::new(String::new());
    let infer_open = RwSignal::new(false);

    let switch = move |v: View| {
        problems.set(Vec::new());
        match v {
            View::Yaml => yaml.set(params.with_untracked(|p| params_to_yaml(p))),
            View::Csv => csv.set(params.with_untracked(|p| params_to_csv(p))),
            View::Table => {}
        }
        view_mode.set(v);
    };
    let tab_button = move |v: View, label: &'static str, id: &'static str| {
        view! {
            <button
                class="seg"
                class:active=move || view_mode.get() == v
                role="tab"
                aria-selected=move || (view_mode.get() == v).to_string()
                data-testid=tid(id)
                on:click=move |_| switch(v)
            >
                {label}
            </button>
        }
    };
    let infer = move || match serde_json::from_str::<serde_json::Value>(&sample.get_untracked()) {
        Ok(v) => {
            let inferred = starweave_model::vms::params::infer_parameters(&v);
            on_change.run(inferred.clone());
            yaml.set(params_to_yaml(&inferred));
            csv.set(params_to_csv(&inferred));
            problems.set(Vec::new());
            infer_open.set(false);
        }
        Err(e) => problems.set(vec![Diagnostic::error(
            "params.sample-json",
            format!("the sample is not JSON: {e}"),
        )]),
    };

    view! {
        <div class="params-editor">
            <div class="params-toolbar">
                <div class="segmented" role="tablist" aria-label="Parameter view">
                    {tab_button(View::Table, "Table", "param-view-table")}
                    {tab_button(View::Yaml, "YAML", "param-view-yaml")}
                    {tab_button(View::Csv, "CSV", "param-view-csv")}
                </div>
                <button class="btn btn-small" data-testid=tid("param-infer-button") on:click=move |_| infer_open.update(|o| *o = !*o)>
                    "Infer from JSON sample"
                </button>
            </div>
            <Show when=move || infer_open.get()>
                <div class="infer">
                    <textarea
                        class="mono"
                        rows="4"
                        aria-label="JSON sample"
                        data-testid=tid("param-infer-sample")
                        placeholder="{\"id\": \"u1\", \"tags\": [\"a\"]}"
                        prop:value=move || sample.get()
                        on:input=move |ev| sample.set(event_target_value(&ev))
                    ></textarea>
                    <button class="btn btn-primary btn-small" data-testid=tid("param-infer-apply") on:click=move |_| infer()>
                        "Infer"
                    </button>
                </div>
            </Show>
            {move || match view_mode.get() {
                View::Table => view! { <ParamTable params=params on_change=on_change problems=problems /> }.into_any(),
                View::Yaml => view! {
                    <textarea
                        class="mono params-text"
                        spellcheck="false"
                        aria-label="Parameters as YAML"
                        data-testid=tid("param-yaml")
                        prop:value=move || yaml.get()
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            let (p, d) = params_from_yaml(&text);
                            yaml.set(text);
                            if d.is_empty() {
                                on_change.run(p);
                            }
                            problems.set(d);
                        }
                    ></textarea>
                }
                .into_any(),
                View::Csv => view! {
                    <textarea
                        class="mono params-text"
                        spellcheck="false"
                        aria-label="Parameters as CSV"
                        data-testid=tid("param-csv")
                        prop:value=move || csv.get()
                        on:input=move |ev| {
                            let text = event_target_value(&ev);
                            let (p, d) = params_from_csv(&text);
                            csv.set(text);
                            if d.is_empty() {
                                on_change.run(p);
                            }
                            problems.set(d);
                        }
                    ></textarea>
                }
                .into_any(),
            }}
            <ul class="inline-problems">
                <For
                    each=move || problems.get()
                    key=|d| format!("{}{:?}{}", d.code, d.pos, d.message)
                    children=|d| {
                        let at = d.pos.map(|p| format!("{}:{} ", p.line, p.column)).unwrap_or_default();
                        view! { <li class="sev-error">{at}{d.message}</li> }
                    }
                />
            </ul>
        </div>
    }
}

#[component]
fn ParamTable(
    params: Signal<Vec<Parameter>>,
    on_change: Callback<Vec<Parameter>>,
    problems: RwSignal<Vec<Diagnostic>>,
) -> impl IntoView {
    let rows = Memo::new(move |_| params.with(|p| params_to_rows(p)));
    let commit = move |rows: Vec<ParameterRow>| {
        let (p, d) = rows_to_params(&rows);
        if d.is_empty() {
            on_change.run(p);
        }
        problems.set(d);
    };
    let edit = move |i: usize, f: Box<dyn FnOnce(&mut ParameterRow)>| {
        let mut all = rows.get_untracked();
        if let Some(r) = all.get_mut(i) {
            f(r);
        }
        commit(all);
    };
    view! {
        <table class="grid" data-testid=tid("param-table")>
            <thead>
                <tr>
                    <th scope="col">"Path"</th>
                    <th scope="col">"Type"</th>
                    <th scope="col" class="narrow">"Req."</th>
                    <th scope="col">"Description"</th>
                    <th scope="col" class="narrow"><span class="sr-only">"Remove"</span></th>
                </tr>
            </thead>
            <tbody>
                {move || {
                    rows.get()
                        .into_iter()
                        .enumerate()
                        .map(|(i, row)| {
                            let ty = row.param.ty;
                            view! {
                                <tr data-testid=tid_owned(format!("param-row-{}", row.path))>
                                    <td>
                                        <input
                                            class="mono cell"
                                            aria-label="Path"
                                            value=row.path.clone()
                                            on:change=move |ev| {
                                                let v = event_target_value(&ev);
                                                edit(i, Box::new(move |r| {
                                                    r.param.name = v.rsplit(['.', ']']).next().unwrap_or_default().trim_start_matches('[').to_owned();
                                                    r.path = v;
                                                }))
                                            }
                                        />
                                    </td>
                                    <td>
                                        <select
                                            class="cell"
                                            aria-label="Type"
                                            on:change=move |ev| {
                                                let v = event_target_value(&ev);
                                                edit(i, Box::new(move |r| r.param.ty = ParamType::parse(&v).unwrap_or_default()))
                                            }
                                        >
                                            {ParamType::ALL
                                                .iter()
                                                .map(|t| view! { <option value=t.as_str() selected={*t == ty}>{t.as_str()}</option> })
                                                .collect_view()}
                                        </select>
                                    </td>
                                    <td class="narrow">
                                        <input
                                            type="checkbox"
                                            aria-label="Required"
                                            checked=row.param.required
                                            on:change=move |ev| {
                                                let v = event_target_checked(&ev);
                                                edit(i, Box::new(move |r| r.param.required = v))
                                            }
                                        />
                                    </td>
                                    <td>
                                        <input
                                            class="cell"
                                            aria-label="Description"
                                            value=row.param.description.clone().unwrap_or_default()
                                            on:change=move |ev| {
                                                let v = event_target_value(&ev);
                                                edit(i, Box::new(move |r| r.param.description = (!v.is_empty()).then_some(v)))
                                            }
                                        />
                                    </td>
                                    <td class="narrow">
                                        <button
                                            class="btn btn-icon btn-small"
                                            aria-label=format!("Remove {}", row.path)
                                            on:click=move |_| {
                                                let mut all = rows.get_untracked();
                                                let removed = all.remove(i).path;
                                                all.retain(|r| !r.path.starts_with(&format!("{removed}.")) && !r.path.starts_with(&format!("{removed}[]")));
                                                commit(all);
                                            }
                                        >
                                            "×"
                                        </button>
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()
                }}
            </tbody>
            <tfoot>
                <tr>
                    <td colspan="5">
                        <button
                            class="btn btn-small btn-ghost"
                            data-testid=tid("param-add-row")
                            on:click=move |_| {
                                let mut all = rows.get_untracked();
                                let mut n = all.len() + 1;
                                while all.iter().any(|r| r.path == format!("param{n}")) {
                                    n += 1;
                                }
                                let name = format!("param{n}");
                                all.push(ParameterRow { path: name.clone(), param: Parameter::new(name, ParamType::String) });
                                commit(all);
                            }
                        >
                            "+ Add parameter"
                        </button>
                    </td>
                </tr>
            </tfoot>
        </table>
    }
}
