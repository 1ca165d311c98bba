//! An env var tab: the declaration in `vms.yaml` (type, secret, default, description), and
//! this machine's own value in `.env.local`, which Run, Try it and Test connection use over
//! the default and which is never committed. A secret's values are masked until revealed.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde_json::Value;
use starweave_model::vms::disk::{manifest_to_yaml, parse_manifest};
use starweave_model::vms::env::{EnvVar, EnvVarType};

use super::icons::{Icon, Svg};
use super::{tid, yaml_model};
use crate::api;
use crate::state::AppState;

const MANIFEST: &str = "vms.yaml";

/// An env var tab.
#[component]
pub fn EnvTab(name: String, tab_id: String) -> impl IntoView {
    let state = expect_context::<AppState>();
    let _ = tab_id;
    let manifest = yaml_model(state, MANIFEST, parse_manifest);
    let n = name.clone();
    let var = Memo::new(move |_| {
        manifest.with(|m| {
            m.as_ref()
                .and_then(|m| m.env.iter().find(|e| e.name == n).cloned())
        })
    });
    let revealed = RwSignal::new(false);
    let n = name.clone();
    let update = Callback::new(move |f: Box<dyn FnOnce(&mut EnvVar) + Send + Sync>| {
        if let Some(mut m) = manifest.get_untracked()
            && let Some(e) = m.env.iter_mut().find(|e| e.name == n)
        {
            f(e);
            state.edit(MANIFEST, manifest_to_yaml(&m));
        }
    });
    let secret = move || var.with(|v| v.as_ref().is_some_and(|v| v.secret));
    let default_text = move || {
        var.with(|v| match v.as_ref().and_then(|v| v.default.as_ref()) {
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        })
    };
    view! {
        <div class="pane-column">
            <div class="pane-header">
                <span class="badge">"env"</span>
                <strong class="mono">{name.clone()}</strong>
                <span class="muted mono small">{MANIFEST}</span>
            </div>
            <Show when=move || var.with(|v| v.is_some()) fallback=|| view! { <p class="notice pad">"This env var is not declared in vms.yaml (or vms.yaml does not parse)."</p> }>
                <div class="form pad">
                    <div class="form-row">
                        <label class="field narrow">
                            <span>"Type"</span>
                            <select data-testid=tid("env-type")
                                prop:value=move || var.with(|v| v.as_ref().map(|v| serde_json::to_value(v.ty).ok().and_then(|t| t.as_str().map(str::to_owned)).unwrap_or_default()).unwrap_or_default())
                                on:change=move |ev| {
                                    if let Ok(ty) = serde_json::from_value::<EnvVarType>(Value::String(event_target_value(&ev))) {
                                        update.run(Box::new(move |e| e.ty = ty))
                                    }
                                }>
                                <option value="string">"string"</option>
                                <option value="number">"number"</option>
                                <option value="bool">"bool"</option>
                                <option value="json">"json"</option>
                            </select>
                        </label>
                        <label class="check">
                            <input type="checkbox" data-testid=tid("env-secret") prop:checked=secret
                                on:change=move |ev| { let v = event_target_checked(&ev); update.run(Box::new(move |e| e.secret = v)) } />
                            <span>"Secret (never shown in logs or errors)"</span>
                        </label>
                    </div>
                    <label class="field">
                        <span>"Default value"</span>
                        <div class="input-with-button">
                            <input
                                data-testid=tid("env-default")
                                type=move || if secret() && !revealed.get() { "password" } else { "text" }
                                autocomplete="off"
                                prop:value=default_text
                                on:input=move |ev| {
                                    let v = event_target_value(&ev);
                                    update.run(Box::new(move |e| e.default = (!v.is_empty()).then_some(Value::String(v))))
                                }
                            />
                            <Show when=secret>
                                <button class="btn btn-icon" data-testid=tid("env-reveal")
                                    aria-label=move || if revealed.get() { "Hide value" } else { "Reveal value" }
                                    aria-pressed=move || revealed.get().to_string()
                                    on:click=move |_| revealed.update(|r| *r = !*r)>
                                    <Svg icon=Icon::Eye />
                                </button>
                            </Show>
                        </div>
                    </label>
                    <LocalValue name=name.clone() secret=Signal::derive(secret) revealed=revealed default_text=Signal::derive(default_text) />
                    <label class="field">
                        <span>"Description"</span>
                        <input data-testid=tid("env-description")
                            prop:value=move || var.with(|v| v.as_ref().and_then(|v| v.description.clone()).unwrap_or_default())
                            on:input=move |ev| {
                                let v = event_target_value(&ev);
                                update.run(Box::new(move |e| e.description = (!v.is_empty()).then_some(v)))
                            } />
                    </label>
                </div>
            </Show>
        </div>
    }
}

/// This machine's value of the env var `name` (`.env.local`): shown, set and cleared here;
/// reloaded when the file changes outside the IDE.
#[component]
fn LocalValue(
    name: String,
    secret: Signal<bool>,
    revealed: RwSignal<bool>,
    default_text: Signal<String>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let local = RwSignal::new(None::<api::LocalEnv>);
    let draft = RwSignal::new(String::new());
    let edited = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let feedback = RwSignal::new(None::<(bool, String)>);
    let n = name.clone();
    let current = move || local.with(|l| l.as_ref().and_then(|l| l.values.get(&n).cloned()));
    let n = name.clone();
    let show = move |answer: api::LocalEnv, keep_draft: bool| {
        if !keep_draft {
            draft.set(answer.values.get(&n).cloned().unwrap_or_default());
            edited.set(false);
        }
        local.set(Some(answer));
    };
    let show_load = show.clone();
    // Load when the tab opens, the VMS changes, or files changed outside the IDE (someone
    // edited `.env.local` in an editor); a value being typed is left alone.
    Effect::new(move |_| {
        state.outside_changes.track();
        let Some(vms) = state.current.get() else {
            return;
        };
        let show = show_load.clone();
        spawn_local(async move {
            match api::local_env(&vms).await {
                Ok(answer) => show(answer, edited.get_untracked()),
                Err(e) => {
                    feedback.try_set(Some((false, e.to_string())));
                }
            }
        });
    });
    let n = name.clone();
    let apply = move |clear: bool| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let name = n.clone();
        let value = draft.get_untracked();
        let show = show.clone();
        spawn_local(async move {
            let answer = if clear {
                api::remove_local_env(&vms, &name).await
            } else {
                api::set_local_env(&vms, &name, &value).await
            };
            match answer {
                Ok(answer) => {
                    show(answer, false);
                    feedback.try_set(Some((
                        true,
                        if clear {
                            "Cleared: runs on this machine use the default again.".to_owned()
                        } else {
                            "Saved in .env.local.".to_owned()
                        },
                    )));
                }
                Err(e) => {
                    feedback.try_set(Some((false, e.message)));
                }
            }
            busy.try_set(false);
        });
    };
    let save = apply.clone();
    let save_on_enter = apply.clone();
    let is_set = {
        let current = current.clone();
        move || current().is_some()
    };
    let status = {
        let current = current.clone();
        move || match (current(), default_text.get()) {
            (Some(_), _) => {
                "Set on this machine: Run, Try it and Test connection use this value.".to_owned()
            }
            (None, d) if d.is_empty() => {
                "Not set on this machine, and there is no default: runs see it unset.".to_owned()
            }
            (None, _) => "Not set on this machine: runs use the default.".to_owned(),
        }
    };
    let file_error = move || {
        local.with(|l| {
            l.as_ref().and_then(|l| l.error.as_ref()).map(|e| {
                format!(
                    ".env.local, line {}, column {}: {}. Fix it in the file (or delete the file); values cannot be saved here until it reads.",
                    e.line, e.column, e.message
                )
            })
        })
    };
    let tracked = move || local.with(|l| l.as_ref().is_some_and(|l| l.git == "tracked"));
    view! {
        <section class="local-value" data-testid=tid("env-local")>
            <div class="field">
                <span>"On this machine"</span>
                <div class="input-with-button">
                    <input
                        data-testid=tid("env-local-value")
                        type=move || if secret.get() && !revealed.get() { "password" } else { "text" }
                        autocomplete="off"
                        placeholder=move || if default_text.with(String::is_empty) { "not set".to_owned() } else { "not set: the default applies".to_owned() }
                        prop:value=move || draft.get()
                        on:input=move |ev| {
                            draft.set(event_target_value(&ev));
                            edited.set(true);
                        }
                        on:keydown=move |ev: leptos::ev::KeyboardEvent| {
                            if ev.key() == "Enter" {
                                save_on_enter(false);
                            }
                        }
                    />
                    <button class="btn" data-testid=tid("env-local-save")
                        disabled=move || busy.get() || !edited.get()
                        on:click=move |_| save(false)>"Save"</button>
                    <button class="btn" data-testid=tid("env-local-clear")
                        disabled=move || busy.get() || !is_set()
                        on:click=move |_| apply(true)>"Clear"</button>
                </div>
            </div>
            <p class="muted small" data-testid=tid("env-local-status")>{status}</p>
            <p class="muted small">"Kept in .env.local at the VMS's root, which Git ignores; never committed, never deployed. Use it for passwords, tokens and your own database URLs."</p>
            {move || file_error().map(|m| view! { <p class="notice error" role="alert" data-testid=tid("env-local-error")>{m}</p> })}
            <Show when=tracked>
                <p class="notice error" role="alert">".env.local is committed to this repository, so its values are in Git's history: remove it from Git (git rm --cached .env.local) and change the secrets it held."</p>
            </Show>
            {move || feedback.get().map(|(ok, m)| view! { <p class={if ok { "ok-text small" } else { "error-text small" }} data-testid=tid("env-local-feedback")>{m}</p> })}
        </section>
    }
}
