//! An env var tab: the declaration in `vms.yaml` (type, secret, default, description). A
//! secret's default is masked until revealed.

use leptos::prelude::*;
use serde_json::Value;
use starweave_model::vms::disk::{manifest_to_yaml, parse_manifest};
use starweave_model::vms::env::{EnvVar, EnvVarType};

use super::icons::{Icon, Svg};
use super::{tid, yaml_model};
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
