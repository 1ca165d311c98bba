//! Run & debug: input JSON, mocks per connector method, run, output or error, logs, the trace
//! as a step list, and the run history of the function.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::{Map, Value, json};
use starweave_model::vms::{ParamType, Parameter};

use super::icons::{Icon, Svg};
use super::{TabCtx, pretty, tid, tid_owned};
use crate::api::{self, RunRecord, RunResult, TraceStepInfo};
use crate::state::AppState;

/// The run a function tab shows, provided by the tab so that the BPMN diagram paints the same
/// run as the run panel (including one picked from the history).
#[derive(Debug, Clone, Copy)]
pub struct RunView {
    /// The run shown, if any.
    pub result: RwSignal<Option<RunResult>>,
}

/// A placeholder value for a parameter list: examples and defaults when given, else a value
/// of the right type.
pub fn sample_input(params: &[Parameter]) -> Value {
    let mut map = Map::new();
    for p in params {
        map.insert(p.name.clone(), sample_value(p));
    }
    Value::Object(map)
}

fn sample_value(p: &Parameter) -> Value {
    if let Some(v) = p.example.as_ref().or(p.default.as_ref()) {
        return v.clone();
    }
    if let Some(v) = p.enum_values.first() {
        return v.clone();
    }
    match p.ty {
        ParamType::String => json!(""),
        ParamType::Integer | ParamType::Number => json!(0),
        ParamType::Boolean => json!(false),
        ParamType::Object => sample_input(&p.fields),
        ParamType::Array => json!(
            p.items
                .as_deref()
                .map(sample_value)
                .into_iter()
                .collect::<Vec<_>>()
        ),
        ParamType::Any => Value::Null,
    }
}

#[derive(Debug, Clone, PartialEq)]
struct MockRow {
    key: String,
    enabled: RwSignal<bool>,
    error: RwSignal<bool>,
    text: RwSignal<String>,
}

/// The run & debug panel of a function tab.
#[component]
pub fn RunPanel(
    function: String,
    tab_id: String,
    input_params: Signal<Vec<Parameter>>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let tab_active = use_context::<TabCtx>().map(|c| c.active);
    let _ = tab_id;
    let input = RwSignal::new(String::new());
    let input_touched = RwSignal::new(false);
    // Shared with the diagram of a BPMN function, which paints the run shown here.
    let result = use_context::<RunView>()
        .map(|v| v.result)
        .unwrap_or_else(|| RwSignal::new(None::<RunResult>));
    let request_error = RwSignal::new(None::<String>);
    let running = RwSignal::new(false);
    let selected = RwSignal::new(None::<usize>);
    let history = RwSignal::new(Vec::<RunRecord>::new());
    let history_pos = RwSignal::new(None::<usize>);
    let mocks_open = RwSignal::new(false);

    // Pre-fill the input from the parameters until the user types.
    Effect::new(move |_| {
        let params = input_params.get();
        if !input_touched.get_untracked() {
            input.set(pretty(&sample_input(&params)));
        }
    });

    let mocks: Memo<Vec<(String, String)>> = Memo::new(move |_| {
        state.detail.with(|d| {
            d.iter()
                .flat_map(|d| &d.connectors)
                .flat_map(|c| {
                    c.methods
                        .iter()
                        .map(move |m| (format!("{}.{}", c.name, m.name), c.kind.clone()))
                })
                .collect()
        })
    });
    let mock_rows = StoredValue::new(Vec::<MockRow>::new());
    // Rows are kept across re-renders of the list: their signals belong to the panel.
    let panel_owner = StoredValue::new(Owner::current());
    let rows_for = move |keys: &[(String, String)]| -> Vec<MockRow> {
        let mut out = Vec::new();
        mock_rows.update_value(|rows| {
            for (k, _) in keys {
                if !rows.iter().any(|r| &r.key == k) {
                    let make = || MockRow {
                        key: k.clone(),
                        enabled: RwSignal::new(false),
                        error: RwSignal::new(false),
                        text: RwSignal::new("{}".into()),
                    };
                    let row = match panel_owner.get_value() {
                        Some(owner) => owner.with(make),
                        None => make(),
                    };
                    rows.push(row);
                }
            }
            out = rows
                .iter()
                .filter(|r| keys.iter().any(|(k, _)| k == &r.key))
                .cloned()
                .collect();
        });
        out
    };

    let f = function.clone();
    let load_history = move || {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let f = f.clone();
        spawn_local(async move {
            if let Ok(h) = api::runs(&vms, &f).await {
                history.try_set(h);
            }
        });
    };
    load_history();

    let f = function.clone();
    let lh = load_history.clone();
    let run = move || {
        if running.get_untracked() {
            return;
        }
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let parsed = match serde_json::from_str::<Value>(&input.get_untracked()) {
            Ok(v) => v,
            Err(e) => {
                request_error.set(Some(format!("The input is not JSON: {e}")));
                return;
            }
        };
        let mut mock_map = Map::new();
        for row in mock_rows.get_value() {
            if !row.enabled.get_untracked() {
                continue;
            }
            let value = match serde_json::from_str::<Value>(&row.text.get_untracked()) {
                Ok(v) => v,
                Err(e) => {
                    request_error.set(Some(format!("The mock of {} is not JSON: {e}", row.key)));
                    return;
                }
            };
            let entry = if row.error.get_untracked() {
                let code = value
                    .get("code")
                    .and_then(Value::as_str)
                    .unwrap_or("MOCK_ERROR")
                    .to_owned();
                let message = value
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("mocked error")
                    .to_owned();
                json!({ "error": { "code": code, "message": message } })
            } else {
                json!({ "output": value })
            };
            mock_map.insert(row.key.clone(), entry);
        }
        running.set(true);
        request_error.set(None);
        // Run what is on screen: send pending edits first.
        state.flush_all();
        let f = f.clone();
        let lh = lh.clone();
        spawn_local(async move {
            state.saves_landed().await;
            match api::run(&vms, &f, &parsed, &Value::Object(mock_map)).await {
                Ok(r) => {
                    selected.try_set(None);
                    history_pos.try_set(None);
                    result.try_set(Some(r));
                }
                Err(e) => {
                    let details = if e.details.is_null() {
                        String::new()
                    } else {
                        format!("\n{}", pretty(&e.details))
                    };
                    request_error.try_set(Some(format!("{}{details}", e.message)));
                    result.try_set(None);
                }
            }
            running.try_set(false);
            lh();
        });
    };

    let run2 = run.clone();
    Effect::new(move |prev: Option<u64>| {
        let n = state.run_request.get();
        if prev.is_some() && tab_active.map(|a| a.get_untracked()).unwrap_or(true) {
            run2();
        }
        n
    });

    let show_history = move |pos: usize| {
        if let Some(rec) = history.with_untracked(|h| h.get(pos).cloned()) {
            history_pos.set(Some(pos));
            selected.set(None);
            input_touched.set(true);
            input.set(pretty(&rec.input));
            result.set(Some(rec.result));
        }
    };

    view! {
        <aside class="run-panel" aria-label="Run and debug">
            <div class="pane-header">
                <strong>"Run & debug"</strong>
                <div class="spacer"></div>
                <button
                    class="btn btn-primary"
                    data-testid=tid("run-button")
                    disabled=move || running.get()
                    title="Run (Ctrl+Enter)"
                    on:click={
                        let run = run.clone();
                        move |_| run()
                    }
                >
                    <Svg icon=Icon::Run />
                    {move || if running.get() { "Running…" } else { "Run" }}
                </button>
            </div>
            <div class="run-scroll">
                <label class="field">
                    <span>"Input (JSON)"</span>
                    <textarea
                        class="mono"
                        rows="6"
                        spellcheck="false"
                        data-testid=tid("run-input")
                        prop:value=move || input.get()
                        on:input=move |ev| {
                            input_touched.set(true);
                            input.set(event_target_value(&ev));
                        }
                    ></textarea>
                </label>
                <section class="collapsible">
                    <button class="tree-toggle" aria-expanded=move || mocks_open.get().to_string() on:click=move |_| mocks_open.update(|o| *o = !*o)>
                        <span class="chev" class:closed=move || !mocks_open.get()><Svg icon=Icon::Chevron /></span>
                        "Mocks"
                        <span class="count">{move || mocks.with(Vec::len)}</span>
                    </button>
                    <Show when=move || mocks_open.get()>
                        <ul class="mocks">
                            {move || {
                                rows_for(&mocks.get())
                                    .into_iter()
                                    .map(|row| {
                                        let key = row.key.clone();
                                        view! {
                                            <li class="mock">
                                                <label class="check">
                                                    <input
                                                        type="checkbox"
                                                        data-testid=tid_owned(format!("mock-enable-{key}"))
                                                        prop:checked=move || row.enabled.get()
                                                        on:change=move |ev| row.enabled.set(event_target_checked(&ev))
                                                    />
                                                    <span class="mono">{key.clone()}</span>
                                                </label>
                                                <Show when=move || row.enabled.get()>
                                                    <div class="mock-body">
                                                        <div class="segmented small">
                                                            <button class="seg" class:active=move || !row.error.get() on:click=move |_| row.error.set(false)>"Output"</button>
                                                            <button class="seg" class:active=move || row.error.get() on:click=move |_| {
                                                                row.error.set(true);
                                                                if row.text.get_untracked().trim() == "{}" {
                                                                    row.text.set("{\"code\": \"UNAVAILABLE\", \"message\": \"mocked failure\"}".into());
                                                                }
                                                            }>"Error"</button>
                                                        </div>
                                                        <textarea
                                                            class="mono"
                                                            rows="3"
                                                            spellcheck="false"
                                                            data-testid=tid_owned(format!("mock-{}", row.key))
                                                            prop:value=move || row.text.get()
                                                            on:input=move |ev| row.text.set(event_target_value(&ev))
                                                        ></textarea>
                                                    </div>
                                                </Show>
                                            </li>
                                        }
                                    })
                                    .collect_view()
                            }}
                        </ul>
                    </Show>
                </section>
                <Show when=move || request_error.get().is_some()>
                    <pre class="result error" role="alert">{move || request_error.get().unwrap_or_default()}</pre>
                </Show>
                <section class="result-section">
                    <div class="section-title">
                        "Result"
                        {move || result.with(|r| r.as_ref().map(|r| view! {
                            <span class={if r.ok { "pill ok" } else { "pill fail" }}>{if r.ok { "ok" } else { "failed" }}</span>
                            <span class="muted small">{format!("{:.1} ms", r.duration_ms)}</span>
                        }))}
                    </div>
                    <pre class="result mono" data-testid=tid("run-output") class:error=move || result.with(|r| r.as_ref().is_some_and(|r| !r.ok))>
                        {move || result.with(|r| match r {
                            None => "Run the function to see its output.".to_owned(),
                            Some(r) if r.ok => pretty(r.output.as_ref().unwrap_or(&Value::Null)),
                            Some(r) => r.error.as_ref().map(|e| format!("{}: {}", e.code, e.message)).unwrap_or_else(|| "failed".into()),
                        })}
                    </pre>
                </section>
                <section class="result-section">
                    <div class="section-title">"Logs"</div>
                    <ul class="logs mono" data-testid=tid("run-logs")>
                        {move || result.with(|r| {
                            r.iter()
                                .flat_map(|r| r.logs.clone())
                                .map(|l| view! { <li class=format!("log-{}", l.level)><span class="lvl">{l.level.clone()}</span><span class="muted">{format!("[{}] ", l.function)}</span>{l.message}</li> })
                                .collect_view()
                        })}
                    </ul>
                </section>
                <section class="result-section">
                    <div class="section-title">"Trace"</div>
                    <ol class="trace" data-testid=tid("run-trace")>
                        {move || result.with(|r| {
                            r.iter()
                                .flat_map(|r| r.trace.clone().into_iter().enumerate())
                                .map(|(i, step)| view! { <TraceRow index=i step=step selected=selected /> })
                                .collect_view()
                        })}
                    </ol>
                    {move || {
                        let dropped = result.with(|r| r.as_ref().map_or(0, |r| r.trace_dropped_steps));
                        (dropped > 0).then(|| view! {
                            <p class="muted" data-testid=tid("run-trace-dropped")>
                                {format!("{dropped} more steps ran after the trace was full and are not shown.")}
                            </p>
                        })
                    }}
                    {move || {
                        let i = selected.get()?;
                        let step = result.with(|r| r.as_ref().and_then(|r| r.trace.get(i).cloned()))?;
                        Some(view! { <StepDetail step=step /> })
                    }}
                </section>
                <section class="result-section">
                    <div class="section-title">
                        "History"
                        <div class="spacer"></div>
                        <button
                            class="btn btn-icon btn-small"
                            aria-label="Older run"
                            disabled=move || history.with(|h| history_pos.get().map(|p| p + 1 >= h.len()).unwrap_or(h.is_empty()))
                            on:click=move |_| show_history(history_pos.get_untracked().map(|p| p + 1).unwrap_or(0))
                        >
                            "‹"
                        </button>
                        <button
                            class="btn btn-icon btn-small"
                            aria-label="Newer run"
                            disabled=move || history_pos.get().is_none_or(|p| p == 0)
                            on:click=move |_| show_history(history_pos.get_untracked().unwrap_or(1).saturating_sub(1))
                        >
                            "›"
                        </button>
                    </div>
                    <ul class="history" data-testid=tid("run-history")>
                        {move || history.with(|h| {
                            h.iter()
                                .enumerate()
                                .take(20)
                                .map(|(i, rec)| {
                                    let ok = rec.result.ok;
                                    view! {
                                        <li>
                                            <button class="history-item" class:active=move || history_pos.get() == Some(i) on:click=move |_| show_history(i)>
                                                <span class={if ok { "dot ok" } else { "dot fail" }}></span>
                                                <span class="small">{rec.at.clone()}</span>
                                                <span class="muted small">{format!("{:.1} ms", rec.result.duration_ms)}</span>
                                            </button>
                                        </li>
                                    }
                                })
                                .collect_view()
                        })}
                    </ul>
                </section>
            </div>
        </aside>
    }
}

#[component]
fn TraceRow(index: usize, step: TraceStepInfo, selected: RwSignal<Option<usize>>) -> impl IntoView {
    let failed = step.error.is_some();
    let label = step.name.clone().unwrap_or_else(|| step.element_id.clone());
    view! {
        <li>
            <button
                class="trace-step"
                class:failed=failed
                class:active=move || selected.get() == Some(index)
                data-testid=tid_owned(format!("trace-step-{}", step.element_id))
                aria-pressed=move || (selected.get() == Some(index)).to_string()
                on:click=move |_| selected.update(|s| *s = if *s == Some(index) { None } else { Some(index) })
            >
                <span class={if failed { "dot fail" } else { "dot ok" }}></span>
                <span class="label">{label}</span>
                <span class="muted small">{step.element_kind.replace('_', " ")}</span>
                <span class="muted small num">{format!("{:.2} ms", step.duration_us as f64 / 1000.0)}</span>
            </button>
        </li>
    }
}

#[component]
fn StepDetail(step: TraceStepInfo) -> impl IntoView {
    let block = |title: &'static str, v: Option<String>| {
        v.map(|v| view! { <div class="step-block"><div class="muted small">{title}</div><pre class="mono">{v}</pre></div> })
    };
    view! {
        <div class="step-detail" data-testid=tid("trace-step-detail")>
            <div class="small"><strong>{step.element_id.clone()}</strong>" · "{step.element_kind.clone()}</div>
            {block("Input", step.input.as_ref().map(pretty))}
            {block("Output", step.output.as_ref().map(pretty))}
            {block("Error", step.error.as_ref().map(|e| format!("{}: {}", e.code, e.message)))}
        </div>
    }
}
