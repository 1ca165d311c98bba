//! The Logs panel: the current VMS's recent log lines on the engines of its deploy target —
//! requests, trigger runs, what its code logged through `ctx.log`, failures — newest at the
//! bottom, filtered by level, text, version, trace id and time, and followed live (a read
//! every two seconds that asks each engine only for what came after the last line it gave).
//! A line's trace id is a button: it narrows the panel to that request's lines.
//!
//! Each engine keeps a window of each VMS's newest lines; when more came between two reads
//! than the window holds, the panel says how many it missed.

use std::collections::BTreeMap;
use std::time::Duration;

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;

use crate::api;
use crate::state::{AppState, BottomPanel};

/// The most lines the panel keeps; older ones leave the top.
const MAX_LINES: usize = 2000;
/// How often a followed log is read.
const FOLLOW_EVERY: Duration = Duration::from_secs(2);
/// How long typing in the search box pauses before the search is read.
const SEARCH_PAUSE: Duration = Duration::from_millis(300);

/// The Logs panel.
#[component]
pub fn LogsPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let lines = RwSignal::new(Vec::<Value>::new());
    let level = RwSignal::new(String::new());
    let text = RwSignal::new(String::new());
    let version = RwSignal::new(String::new());
    let trace = RwSignal::new(String::new());
    let since = RwSignal::new(String::new());
    let follow = RwSignal::new(true);
    let feedback = RwSignal::new(None::<(bool, String)>);
    let engines = RwSignal::new(0usize);
    let cursors = StoredValue::new(Value::Null);
    // One read at a time; a read answered after the filters or the VMS changed is dropped.
    let reading = StoredValue::new(false);
    let generation = StoredValue::new(0u64);
    // Keystrokes in the search box; a read goes out once typing pauses.
    let typed = StoredValue::new(0u64);

    let read = move |fresh: bool| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        if fresh {
            generation.update_value(|g| *g += 1);
            cursors.set_value(Value::Null);
        } else if reading.get_value() {
            return;
        }
        reading.set_value(true);
        let asked = generation.get_value();
        let from = cursors.get_value();
        let filters = api::LogFilters {
            level: level.get_untracked(),
            text: text.get_untracked(),
            version: version.get_untracked(),
            trace: trace.get_untracked(),
            since: since.get_untracked(),
        };
        spawn_local(async move {
            let answer = api::read_logs(&vms, &filters, &from).await;
            // A read overtaken by a fresh one neither counts nor frees the way for the next
            // follow read (that one would ask again from the cursors the fresh read resets).
            if generation.get_value() != asked {
                return;
            }
            reading.set_value(false);
            match answer {
                Ok(answer) => {
                    let count = answer.cursors.as_object().map_or(0, |c| c.len());
                    engines.set(count + answer.failed.len());
                    cursors.set_value(answer.cursors);
                    lines.update(|all| {
                        if fresh {
                            all.clear();
                        }
                        all.extend(answer.lines);
                        let over = all.len().saturating_sub(MAX_LINES);
                        all.drain(..over);
                    });
                    let mut notes: Vec<String> = answer
                        .failed
                        .iter()
                        .map(|f| format!("{}: {}", f.engine, f.message))
                        .collect();
                    if !fresh {
                        notes.extend(answer.missed.iter().map(|(engine, n)| {
                            format!("{engine} dropped {n} lines before they were read")
                        }));
                    }
                    if count == 0 && answer.failed.is_empty() {
                        notes.push(
                            "No engine of the deploy target has a version of this VMS loaded."
                                .to_owned(),
                        );
                    }
                    feedback.set((!notes.is_empty()).then(|| (false, notes.join("; "))));
                }
                Err(e) => feedback.set(Some((false, e.message))),
            }
        });
    };

    // A fresh read when the panel opens, the VMS changes or a filter changes.
    Effect::new(move |_| {
        state.current.track();
        level.track();
        version.track();
        trace.track();
        since.track();
        if state.bottom.get() == BottomPanel::Logs {
            read(true);
        }
    });
    // Following: a read every two seconds while the panel is open.
    let timer = StoredValue::new(None::<IntervalHandle>);
    Effect::new(move |_| {
        let on = follow.get() && state.bottom.get() == BottomPanel::Logs;
        if let Some(old) = timer.get_value() {
            old.clear();
            timer.set_value(None);
        }
        if on {
            timer.set_value(set_interval_with_handle(move || read(false), FOLLOW_EVERY).ok());
        }
    });

    // While following, the newest line stays in view.
    let list = NodeRef::<leptos::html::Ol>::new();
    Effect::new(move |_| {
        lines.track();
        if follow.get_untracked() {
            request_animation_frame(move || {
                if let Some(list) = list.get_untracked() {
                    list.set_scroll_top(list.scroll_height());
                }
            });
        }
    });

    view! {
        <div class="logs-panel" data-testid="logs-panel">
            <form class="inline-form logs-toolbar" on:submit=move |ev| { ev.prevent_default(); read(true); }>
                <select aria-label="Level" data-testid="logs-level"
                    prop:value=move || level.get()
                    on:change=move |ev| level.set(event_target_value(&ev))>
                    <option value="">"All levels"</option>
                    <option value="error">"Errors"</option>
                    <option value="warn">"Warnings and errors"</option>
                    <option value="info">"Info and worse"</option>
                    <option value="debug">"Debug and worse"</option>
                </select>
                <input type="search" class="mono" placeholder="Search" aria-label="Search" data-testid="logs-text"
                    prop:value=move || text.get()
                    on:input=move |ev| {
                        text.set(event_target_value(&ev));
                        typed.update_value(|n| *n += 1);
                        let mine = typed.get_value();
                        set_timeout(
                            move || {
                                if typed.get_value() == mine {
                                    read(true);
                                }
                            },
                            SEARCH_PAUSE,
                        );
                    } />
                <input class="mono" placeholder="all versions" aria-label="Version" data-testid="logs-version"
                    prop:value=move || version.get() on:change=move |ev| version.set(event_target_value(&ev)) />
                <select aria-label="Since" data-testid="logs-since"
                    prop:value=move || since.get()
                    on:change=move |ev| since.set(event_target_value(&ev))>
                    <option value="">"Any time"</option>
                    <option value="5m">"Last 5 minutes"</option>
                    <option value="15m">"Last 15 minutes"</option>
                    <option value="1h">"Last hour"</option>
                    <option value="1d">"Last day"</option>
                </select>
                {move || (!trace.get().is_empty()).then(|| view! {
                    <button type="button" class="chip mono" data-testid="logs-trace" title="Show every request again"
                        on:click=move |_| trace.set(String::new())>
                        {format!("trace {} ✕", trace.get())}
                    </button>
                })}
                <label class="small">
                    <input type="checkbox" data-testid="logs-follow" prop:checked=move || follow.get()
                        on:change=move |ev| follow.set(event_target_checked(&ev)) />
                    " Follow"
                </label>
                <button type="submit" class="btn btn-small" data-testid="logs-refresh">"Refresh"</button>
                <button type="button" class="btn btn-small btn-ghost" data-testid="logs-clear" on:click=move |_| lines.set(Vec::new())>"Clear"</button>
                <span class="small muted">{move || format!("{} lines", lines.with(Vec::len))}</span>
            </form>
            {move || feedback.get().map(|(ok, m)| view! { <p class={if ok { "ok-text small" } else { "error-text small" }} role="status" data-testid="logs-feedback">{m}</p> })}
            <ol class="log-lines mono" data-testid="logs-list" node_ref=list>
                {move || {
                    let pool = engines.get() > 1;
                    let on_trace = Callback::new(move |id: String| trace.set(id));
                    lines.with(|all| all.iter().map(|line| view! { <LogRow line=line.clone() pool=pool on_trace=on_trace /> }).collect_view())
                }}
            </ol>
        </div>
    }
}

/// One line: time, level, (engine), version, function, message, then its other fields; its
/// trace id, when it has one, calls `on_trace`.
#[component]
fn LogRow(line: Value, pool: bool, on_trace: Callback<String>) -> impl IntoView {
    let text = |key: &str| line[key].as_str().unwrap_or_default().to_owned();
    let level = text("level").to_lowercase();
    let time = text("timestamp");
    let clock = time.get(11..23).unwrap_or(&time).to_owned();
    let function = text("function");
    let trace_id = text("trace_id");
    let mut rest = BTreeMap::new();
    if let Value::Object(fields) = &line {
        for (key, value) in fields {
            if !matches!(
                key.as_str(),
                "seq"
                    | "timestamp"
                    | "level"
                    | "engine"
                    | "vms"
                    | "version"
                    | "function"
                    | "message"
                    | "target"
                    | "trace_id"
            ) {
                let shown = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                rest.insert(key.clone(), shown);
            }
        }
    }
    view! {
        <li class=format!("log-line log-{level}") data-testid="log-line" title=time>
            <span class="log-time">{clock}</span>
            <span class="lvl">{level.clone()}</span>
            {pool.then(|| view! { <span class="muted">{text("engine")}</span> })}
            <span class="muted">{text("version")}</span>
            {(!function.is_empty()).then(|| view! { <span class="log-fn">{format!("{function}:")}</span> })}
            <span class="log-message" data-testid="log-message">{text("message")}</span>
            {rest.into_iter().map(|(k, v)| view! { <span class="log-field small muted">{format!("{k}={v}")}</span> }).collect_view()}
            {(!trace_id.is_empty()).then(|| {
                let id = trace_id.clone();
                view! {
                    <button type="button" class="log-trace small" data-testid="log-trace" title="Only this request's lines"
                        on:click=move |_| on_trace.run(id.clone())>
                        {format!("trace_id={trace_id}")}
                    </button>
                }
            })}
        </li>
    }
}
