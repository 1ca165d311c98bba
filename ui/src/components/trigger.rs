//! A trigger tab: HTTP route, cron schedule (with a description and the next runs, computed
//! here with the same cron parser the engine uses), MQ subscription; raw YAML for the rest.
//! All triggers live in `triggers.yaml`; a form edit rewrites that file canonically.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use croner::Cron;
use leptos::prelude::*;
use serde_json::Value;
use starweave_model::Diagnostic;
use starweave_model::vms::Trigger;
use starweave_model::vms::connector::HttpVerb;
use starweave_model::vms::disk::{parse_triggers, triggers_to_yaml};

use super::editor::CodeEditor;
use super::{tid, yaml_model};
use crate::state::AppState;

const TRIGGERS_FILE: &str = "triggers.yaml";

fn parse_all(path: &str, text: &str) -> (Option<Vec<Trigger>>, Vec<Diagnostic>) {
    let (t, d) = parse_triggers(path, text);
    (Some(t), d)
}

/// A cron schedule in words and its next `count` run times after `now` (in the schedule's
/// time zone, UTC when absent), or why it does not parse.
pub fn cron_preview(
    schedule: &str,
    timezone: Option<&str>,
    now: DateTime<Utc>,
    count: usize,
) -> Result<(String, Vec<String>), String> {
    let cron: Cron = schedule.parse().map_err(|e| format!("{e}"))?;
    let tz: Tz = match timezone {
        Some(t) if !t.trim().is_empty() => {
            t.parse().map_err(|_| format!("unknown time zone `{t}`"))?
        }
        _ => Tz::UTC,
    };
    let mut times = Vec::new();
    let mut at = now.with_timezone(&tz);
    for _ in 0..count {
        match cron.find_next_occurrence(&at, false) {
            Ok(next) => {
                times.push(next.format("%a %Y-%m-%d %H:%M:%S %Z").to_string());
                at = next;
            }
            Err(_) => break,
        }
    }
    Ok((cron.describe(), times))
}

fn now() -> DateTime<Utc> {
    DateTime::from_timestamp_millis(js_sys::Date::now() as i64).unwrap_or_default()
}

/// A trigger tab.
#[component]
pub fn TriggerTab(index: usize, tab_id: String) -> impl IntoView {
    let state = expect_context::<AppState>();
    let all = yaml_model(state, TRIGGERS_FILE, parse_all);
    let trigger = Memo::new(move |_| all.with(|a| a.as_ref().and_then(|a| a.get(index).cloned())));
    let raw = RwSignal::new(false);
    let update = move |f: Box<dyn FnOnce(&mut Trigger)>| {
        if let Some(mut list) = all.get_untracked()
            && let Some(t) = list.get_mut(index)
        {
            f(t);
            state.edit(TRIGGERS_FILE, triggers_to_yaml(&list));
        }
    };
    let kind = Memo::new(move |_| trigger.with(|t| t.as_ref().map(|t| t.kind().as_str())));
    let functions = move || {
        state.detail.with(|d| {
            d.iter()
                .flat_map(|d| d.functions.iter().map(|f| f.name.clone()))
                .collect::<Vec<_>>()
        })
    };
    let field = move |label: &'static str,
                      id: &'static str,
                      get: fn(&Trigger) -> String,
                      set: fn(&mut Trigger, String)| {
        view! {
            <label class="field">
                <span>{label}</span>
                <input data-testid=tid(id)
                    prop:value=move || trigger.with(|t| t.as_ref().map(get).unwrap_or_default())
                    on:input=move |ev| { let v = event_target_value(&ev); update(Box::new(move |t| set(t, v))) } />
            </label>
        }
    };
    view! {
        <div class="pane-column">
            <div class="pane-header">
                <span class="badge">{move || kind.get().unwrap_or("trigger")}</span>
                <strong>{format!("Trigger #{index}")}</strong>
                <span class="muted mono small">{TRIGGERS_FILE}</span>
                <div class="spacer"></div>
                <div class="segmented">
                    <button class="seg" class:active=move || !raw.get() on:click=move |_| raw.set(false)>"Form"</button>
                    <button class="seg" class:active=move || raw.get() data-testid=tid("raw-yaml-toggle") on:click=move |_| raw.set(true)>"YAML"</button>
                </div>
            </div>
            {move || {
                if raw.get() || matches!(kind.get(), Some("grpc")) {
                    return view! { <CodeEditor path=TRIGGERS_FILE.to_owned() tab_id=tab_id.clone() primary=true /> }.into_any();
                }
                let Some(k) = kind.get() else {
                    return view! { <p class="notice pad">"No trigger at this position (or triggers.yaml does not parse; use the YAML view)."</p> }.into_any();
                };
                let common = view! {
                    <label class="field">
                        <span>"Function"</span>
                        <select data-testid=tid("trigger-function")
                            prop:value=move || trigger.with(|t| t.as_ref().map(|t| t.function().to_owned()).unwrap_or_default())
                            on:change=move |ev| {
                                let v = event_target_value(&ev);
                                update(Box::new(move |t| match t {
                                    Trigger::Http(h) => h.function = v,
                                    Trigger::Cron(c) => c.function = v,
                                    Trigger::Mq(m) => m.function = v,
                                    Trigger::Grpc(g) => g.function = v,
                                }))
                            }>
                            {move || functions().into_iter().map(|f| view! { <option value=f.clone()>{f.clone()}</option> }).collect_view()}
                        </select>
                    </label>
                };
                let body = match k {
                    "http" => view! {
                        <div class="form-row">
                            <label class="field narrow">
                                <span>"Method"</span>
                                <select data-testid=tid("trigger-http-method")
                                    prop:value=move || trigger.with(|t| match t { Some(Trigger::Http(h)) => format!("{:?}", h.method).to_uppercase(), _ => String::new() })
                                    on:change=move |ev| {
                                        if let Ok(verb) = serde_json::from_value::<HttpVerb>(Value::String(event_target_value(&ev))) {
                                            update(Box::new(move |t| if let Trigger::Http(h) = t { h.method = verb }))
                                        }
                                    }>
                                    {["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"].map(|v| view! { <option value=v>{v}</option> }).collect_view()}
                                </select>
                            </label>
                            {field("Path", "trigger-http-path", |t| match t { Trigger::Http(h) => h.path.clone(), _ => String::new() },
                                |t, v| if let Trigger::Http(h) = t { h.path = v })}
                        </div>
                    }.into_any(),
                    "cron" => view! {
                        <div class="form-row">
                            {field("Schedule", "trigger-cron-schedule", |t| match t { Trigger::Cron(c) => c.schedule.clone(), _ => String::new() },
                                |t, v| if let Trigger::Cron(c) = t { c.schedule = v })}
                            {field("Time zone", "trigger-cron-timezone", |t| match t { Trigger::Cron(c) => c.timezone.clone().unwrap_or_default(), _ => String::new() },
                                |t, v| if let Trigger::Cron(c) = t { c.timezone = (!v.is_empty()).then_some(v) })}
                        </div>
                        <div class="cron-preview" data-testid=tid("cron-preview")>
                            {move || trigger.with(|t| match t {
                                Some(Trigger::Cron(c)) => match cron_preview(&c.schedule, c.timezone.as_deref(), now(), 5) {
                                    Ok((words, times)) => view! {
                                        <p class="cron-words">{words}</p>
                                        <div class="muted small">"Next runs"</div>
                                        <ol class="mono small">{times.into_iter().map(|t| view! { <li>{t}</li> }).collect_view()}</ol>
                                    }.into_any(),
                                    Err(e) => view! { <p class="error-text">{e}</p> }.into_any(),
                                },
                                _ => ().into_any(),
                            })}
                        </div>
                    }.into_any(),
                    _ => view! {
                        <div class="form-row">
                            {field("Connector", "trigger-mq-connector", |t| match t { Trigger::Mq(m) => m.connector.clone(), _ => String::new() },
                                |t, v| if let Trigger::Mq(m) = t { m.connector = v })}
                            {field("Subject / queue", "trigger-mq-subject", |t| match t { Trigger::Mq(m) => m.subject.clone(), _ => String::new() },
                                |t, v| if let Trigger::Mq(m) = t { m.subject = v })}
                        </div>
                        <div class="form-row">
                            {field("Durable consumer", "trigger-mq-durable", |t| match t { Trigger::Mq(m) => m.durable.clone().unwrap_or_default(), _ => String::new() },
                                |t, v| if let Trigger::Mq(m) = t { m.durable = (!v.is_empty()).then_some(v) })}
                            {field("Dead letter", "trigger-mq-dead-letter", |t| match t { Trigger::Mq(m) => m.dead_letter.clone().unwrap_or_default(), _ => String::new() },
                                |t, v| if let Trigger::Mq(m) = t { m.dead_letter = (!v.is_empty()).then_some(v) })}
                        </div>
                    }.into_any(),
                };
                view! {
                    <div class="form pad">
                        {common}
                        {field("Description", "trigger-description", |t| t.description().unwrap_or_default().to_owned(),
                            |t, v| {
                                let v = (!v.is_empty()).then_some(v);
                                match t {
                                    Trigger::Http(h) => h.description = v,
                                    Trigger::Cron(c) => c.description = v,
                                    Trigger::Mq(m) => m.description = v,
                                    Trigger::Grpc(g) => g.description = v,
                                }
                            })}
                        {body}
                    </div>
                }.into_any()
            }}
        </div>
    }
}
