//! The Deploy panel: where the current VMS goes (its compute engines' admin URLs, an admin
//! token kept per engine, the env values of the deployment), a Deploy button that checks,
//! packs and rolls it out engine by engine exactly as `starweave deploy` does, and the
//! versions the engines hold with Activate (roll back without re-sending) and Undeploy.
//!
//! Non-secret env values are kept with the target in the workspace; a secret's value is typed
//! for each deployment and never kept by the IDE.

use std::collections::BTreeMap;

use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api::{self, DeployAnswer, DeployTarget, Deployments};
use crate::state::{AppState, BottomPanel, SaveState};

/// The Deploy panel.
#[component]
pub fn DeployPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    let target = RwSignal::new(None::<DeployTarget>);
    let engines_text = RwSignal::new(String::new());
    let values = RwSignal::new(BTreeMap::<String, String>::new());
    let version = RwSignal::new(String::new());
    let result = RwSignal::new(None::<DeployAnswer>);
    let listed = RwSignal::new(None::<Deployments>);
    let feedback = RwSignal::new(None::<(bool, String)>);
    let busy = RwSignal::new(false);
    let token_drafts = RwSignal::new(BTreeMap::<String, String>::new());
    // What the user typed and has not saved yet: a target loaded meanwhile (the panel
    // opening, a file saved) leaves it alone; saving the target clears these.
    let engines_edited = RwSignal::new(false);
    let edited_values = RwSignal::new(Vec::<String>::new());
    // Each load and save takes the next number; an answer that is no longer the latest
    // (a load issued before a save) is dropped.
    let generation = StoredValue::new(0u64);
    let next_generation = move || {
        generation.update_value(|g| *g += 1);
        generation.get_value()
    };

    let show_target = move |t: DeployTarget, saved: bool| {
        if saved {
            engines_edited.set(false);
            edited_values.set(Vec::new());
        }
        if !engines_edited.get_untracked() {
            engines_text.set(
                t.engines
                    .iter()
                    .map(|e| e.url.clone())
                    .collect::<Vec<_>>()
                    .join("\n"),
            );
        }
        let edited = edited_values.get_untracked();
        values.update(|v| {
            // Kept values replace what was shown unless typed over; typed secrets stay
            // until the VMS changes.
            for var in t
                .env
                .iter()
                .filter(|var| !var.secret && !edited.contains(&var.name))
            {
                match &var.value {
                    Some(value) => v.insert(var.name.clone(), value.clone()),
                    None => v.remove(&var.name),
                };
            }
        });
        target.set(Some(t));
    };
    let list = move || {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        if target.with_untracked(|t| t.as_ref().is_none_or(|t| t.engines.is_empty())) {
            listed.set(None);
            return;
        }
        spawn_local(async move {
            match api::deployments(&vms).await {
                Ok(d) => listed.set(Some(d)),
                Err(e) => feedback.set(Some((false, e.message))),
            }
        });
    };
    let load = move || {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        let asked = next_generation();
        spawn_local(async move {
            match api::deploy_target(&vms).await {
                Ok(_) if generation.get_value() != asked => {}
                Ok(t) => {
                    show_target(t, false);
                    list();
                }
                Err(e) => feedback.set(Some((false, e.message))),
            }
        });
    };
    // Another VMS: nothing of the previous one stays, typed secrets included.
    Effect::new(move |_| {
        state.current.track();
        target.set(None);
        result.set(None);
        listed.set(None);
        feedback.set(None);
        values.set(BTreeMap::new());
        version.set(String::new());
        engines_edited.set(false);
        edited_values.set(Vec::new());
    });
    // Load when the panel opens or the VMS changes, and after saves (the version Git gives
    // follows commits).
    Effect::new(move |_| {
        state.current.track();
        state.outside_changes.track();
        if state.bottom.get() == BottomPanel::Deploy && state.overall_status() == SaveState::Saved {
            load();
        }
    });

    let engines_of = move || {
        engines_text.with_untracked(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
    };
    // The kept part of the target: engines and the values of vars that are not secret.
    let kept_values = move || {
        let secret: Vec<String> = target.with_untracked(|t| {
            t.iter()
                .flat_map(|t| t.env.iter())
                .filter(|v| v.secret)
                .map(|v| v.name.clone())
                .collect()
        });
        values.with_untracked(|v| {
            v.iter()
                .filter(|(name, value)| !secret.contains(name) && !value.is_empty())
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        })
    };
    let save = move |then_deploy: bool| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let engines = engines_of();
        let kept = kept_values();
        let sent: BTreeMap<String, String> = values.with_untracked(|v| {
            v.iter()
                .filter(|(_, value)| !value.is_empty())
                .map(|(n, v)| (n.clone(), v.clone()))
                .collect()
        });
        let named = version.get_untracked();
        next_generation();
        spawn_local(async move {
            match api::set_deploy_target(&vms, &engines, &kept).await {
                Ok(t) => show_target(t, true),
                Err(e) => {
                    feedback.set(Some((false, e.message)));
                    busy.set(false);
                    return;
                }
            }
            if !then_deploy {
                feedback.set(Some((true, "Saved the deploy target.".to_owned())));
                busy.set(false);
                list();
                return;
            }
            feedback.set(None);
            let named = named.trim();
            match api::deploy(&vms, (!named.is_empty()).then_some(named), &sent).await {
                Ok(answer) => {
                    feedback.set(Some((
                        answer.ok,
                        if answer.ok {
                            format!("Deployed {} to every engine.", answer.version)
                        } else {
                            format!("{} did not reach every engine: see below.", answer.version)
                        },
                    )));
                    result.set(Some(answer));
                }
                Err(e) => {
                    result.set(None);
                    let problems = e
                        .details
                        .get("diagnostics")
                        .and_then(|d| d.as_array())
                        .map_or(0, Vec::len);
                    if problems > 0 {
                        state.bottom.set(BottomPanel::Problems);
                    }
                    feedback.set(Some((false, e.message)));
                }
            }
            busy.set(false);
            list();
        });
    };
    let on_pool = move |version: String, undeploy: bool| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        busy.set(true);
        spawn_local(async move {
            let answer = if undeploy {
                api::undeploy(&vms, &version).await
            } else {
                api::activate(&vms, &version).await
            };
            match answer {
                Ok(a) if a.ok => feedback.set(Some((
                    true,
                    if undeploy {
                        format!("Undeployed {version}.")
                    } else {
                        format!("{version} takes the traffic again.")
                    },
                ))),
                Ok(a) => feedback.set(Some((false, not_done(&a)))),
                Err(e) => feedback.set(Some((false, e.message))),
            }
            busy.set(false);
            list();
        });
    };
    let set_level = move |version: String, level: String| {
        let Some(vms) = state.current.get_untracked() else {
            return;
        };
        busy.set(true);
        spawn_local(async move {
            match api::set_log_level(&vms, &version, &level).await {
                Ok(a) if a.ok => feedback.set(Some((true, format!("{version} logs at {level}.")))),
                Ok(a) => feedback.set(Some((false, not_done(&a)))),
                Err(e) => feedback.set(Some((false, e.message))),
            }
            busy.set(false);
            list();
        });
    };
    let save_token = move |engine: String| {
        let token = token_drafts.with_untracked(|d| d.get(&engine).cloned().unwrap_or_default());
        if token.trim().is_empty() {
            return;
        }
        spawn_local(async move {
            match api::store_engine_token(&engine, &token).await {
                Ok(answer) => {
                    token_drafts.update(|d| {
                        d.remove(&engine);
                    });
                    let kept = if answer["store"]["persistent"] == true {
                        "kept in the system keyring"
                    } else {
                        "kept until Starweave stops (no system keyring)"
                    };
                    feedback.set(Some((true, format!("Admin token for {engine} {kept}."))));
                    load();
                }
                Err(e) => feedback.set(Some((false, e.message))),
            }
        });
    };

    view! {
        <div class="deploy" data-testid="deploy-panel">
            <div class="git-col">
                <div class="section-title">"Engines"</div>
                <label class="field">
                    <span class="small muted">"Admin API URLs of the compute engines, one per line (rolled out in this order)"</span>
                    <textarea rows="3" class="mono" data-testid="deploy-engines" spellcheck="false"
                        placeholder="http://127.0.0.1:8081"
                        prop:value=move || engines_text.get()
                        on:input=move |ev| {
                            engines_text.set(event_target_value(&ev));
                            engines_edited.set(true);
                        }></textarea>
                </label>
                <ul class="deploy-engines">
                    {move || target.with(|t| t.iter().flat_map(|t| t.engines.clone()).enumerate().map(|(i, engine)| {
                        let url = engine.url.clone();
                        let draft_url = engine.url.clone();
                        let save_url = engine.url.clone();
                        view! {
                            <li data-testid=format!("deploy-engine-{i}")>
                                <span class="mono small" title=engine.url.clone()>{engine.url.clone()}</span>
                                {engine.plain_http.then(|| view! { <span class="error-text small" title="The admin token and the env values cross the network unencrypted">"plain HTTP"</span> })}
                                {if engine.token_kept {
                                    view! { <span class="ok-text small" data-testid=format!("deploy-token-kept-{i}")>"token kept"</span> }.into_any()
                                } else {
                                    view! {
                                        <form class="inline-form" on:submit=move |ev| { ev.prevent_default(); save_token(save_url.clone()); }>
                                            <input type="password" autocomplete="off" placeholder="admin token" aria-label=format!("Admin token for {url}")
                                                data-testid=format!("deploy-token-{i}")
                                                on:input=move |ev| { let v = event_target_value(&ev); let u = draft_url.clone(); token_drafts.update(|d| { d.insert(u, v); }); } />
                                            <button type="submit" class="btn btn-small" data-testid=format!("deploy-token-save-{i}")>"Keep"</button>
                                        </form>
                                    }.into_any()
                                }}
                            </li>
                        }
                    }).collect_view())}
                </ul>
                <div class="section-title">"Env values"</div>
                <div class="deploy-env">
                    {move || target.with(|t| t.iter().flat_map(|t| t.env.clone()).map(|var| {
                        let name = var.name.clone();
                        let n = var.name.clone();
                        let placeholder = if var.secret {
                            "secret: typed for each deployment".to_owned()
                        } else {
                            match &var.default {
                                Some(serde_json::Value::String(s)) => format!("default: {s}"),
                                Some(other) => format!("default: {other}"),
                                None => "no default".to_owned(),
                            }
                        };
                        view! {
                            <label class="field">
                                <span class="mono small">{var.name.clone()}</span>
                                <input type=if var.secret { "password" } else { "text" } autocomplete="off"
                                    data-testid=format!("deploy-env-{}", var.name)
                                    placeholder=placeholder
                                    prop:value=move || values.with(|v| v.get(&n).cloned().unwrap_or_default())
                                    on:input=move |ev| {
                                        let v = event_target_value(&ev);
                                        let n = name.clone();
                                        edited_values.update(|e| if !e.contains(&n) { e.push(n.clone()) });
                                        values.update(|m| { m.insert(n, v); });
                                    } />
                            </label>
                        }
                    }).collect_view())}
                </div>
                <div class="inline-form">
                    <button class="btn btn-small" data-testid="deploy-save" disabled=move || busy.get() on:click=move |_| save(false)>"Save target"</button>
                </div>
            </div>
            <div class="git-col deploy-main">
                <div class="section-title">"Deploy"</div>
                <form class="inline-form" on:submit=move |ev| { ev.prevent_default(); save(true); }>
                    <input class="mono" data-testid="deploy-version" aria-label="Version"
                        placeholder=move || target.with(|t| t.as_ref().and_then(|t| t.version.clone()).map(|v| format!("version: {v} (from Git)")).unwrap_or_else(|| "version (no commit yet: name one)".to_owned()))
                        prop:value=move || version.get() on:input=move |ev| version.set(event_target_value(&ev)) />
                    <button type="submit" class="btn btn-primary btn-small" data-testid="deploy-button"
                        disabled=move || busy.get() || engines_text.with(|t| t.trim().is_empty())>
                        {move || if busy.get() { "Deploying…" } else { "Deploy" }}
                    </button>
                </form>
                <p class="muted small">"The files Git would commit (no .env.local, nothing ignored), checked first; the version defaults to the commit, with a content hash when there are uncommitted changes."</p>
                {move || feedback.get().map(|(ok, m)| view! { <p class={if ok { "ok-text small" } else { "error-text small" }} role="status" data-testid="deploy-feedback">{m}</p> })}
                {move || result.get().map(|r| view! {
                    <div data-testid="deploy-result">
                        <ul class="deploy-outcomes">
                            {r.engines.iter().enumerate().map(|(i, o)| view! {
                                <li data-testid=format!("deploy-outcome-{i}") class=format!("outcome-{}", o.status)>
                                    <span class="mono small">{o.engine.clone()}</span>
                                    <strong class="small">{o.status.clone()}</strong>
                                    <span class="small muted">{match o.load_ms { Some(ms) => format!("{} (loaded in {ms:.1} ms)", o.message), None => o.message.clone() }}</span>
                                </li>
                            }).collect_view()}
                        </ul>
                        {(!r.unset.is_empty()).then(|| view! { <p class="small error-text">{format!("No value and no default for {}: its runs see them unset.", r.unset.join(", "))}</p> })}
                        <div class="section-title">"Routes"</div>
                        <ul class="deploy-routes" data-testid="deploy-routes">
                            {r.routes.iter().map(|route| view! { <li class="mono small">{route.clone()}</li> }).collect_view()}
                        </ul>
                    </div>
                })}
            </div>
            <div class="git-col">
                <div class="section-title">"On the engines"
                    <button class="btn btn-small btn-ghost" data-testid="deployments-refresh" on:click=move |_| list()>"Refresh"</button>
                </div>
                <ul class="deployments" data-testid="deployments-list">
                    {move || by_version(&listed.get()).into_iter().map(|Listed { version, engines, active_on, in_flight, level }| {
                        let (v1, v2, v3) = (version.clone(), version.clone(), version.clone());
                        let active = active_on == engines.len();
                        let shown = match active_on {
                            0 => "loaded".to_owned(),
                            n if n == engines.len() => "active".to_owned(),
                            n => format!("active on {n} of {}", engines.len()),
                        };
                        view! {
                            <li data-testid=format!("deployment-{version}") class:active=active>
                                <span class="mono small" title=engines.join("\n")>{version.clone()}</span>
                                <span class="small muted" data-testid=format!("deployment-state-{version}")>{shown}</span>
                                <span class="small muted" title="Runs in flight on its engines" data-testid=format!("deployment-in-flight-{version}")>{format!("{in_flight} in flight")}</span>
                                <select aria-label=format!("Log level of {version}") data-testid=format!("deployment-level-{version}")
                                    disabled=move || busy.get()
                                    on:change=move |ev| set_level(v3.clone(), event_target_value(&ev))>
                                    {["error", "warn", "info", "debug", "trace"].into_iter().map(|l| {
                                        let selected = level == l;
                                        view! { <option value=l selected=selected>{format!("log: {l}")}</option> }
                                    }).collect_view()}
                                    {(level == "mixed").then(|| view! { <option value="" selected=true disabled=true>"log: differs"</option> })}
                                </select>
                                <button class="btn btn-small btn-ghost" disabled=move || busy.get() || active
                                    data-testid=format!("deployment-activate-{version}")
                                    on:click=move |_| on_pool(v1.clone(), false)>"Activate"</button>
                                <button class="btn btn-small btn-ghost"
                                    disabled=move || busy.get()
                                    data-testid=format!("deployment-undeploy-{version}")
                                    on:click=move |_| on_pool(v2.clone(), true)>"Undeploy"</button>
                            </li>
                        }
                    }).collect_view()}
                </ul>
                {move || listed.with(|l| l.iter().flat_map(|l| l.failed.clone()).map(|f| view! {
                    <p class="error-text small">{format!("{}: {}", f.engine, f.message)}</p>
                }).collect_view())}
            </div>
        </div>
    }
}

/// The engines of a pool answer that did not do it, with why.
fn not_done(answer: &api::PoolAnswer) -> String {
    answer
        .engines
        .iter()
        .filter(|o| o.status != "done")
        .map(|o| format!("{}: {}", o.engine, o.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// One version as the list shows it, over the engines that have it.
#[derive(Debug, Default)]
struct Listed {
    version: String,
    engines: Vec<String>,
    /// On how many of them it is the active version.
    active_on: usize,
    /// Its runs in flight, all engines together.
    in_flight: u64,
    /// Its log level, or `mixed` when the engines disagree.
    level: String,
}

/// The listed versions, each once.
fn by_version(listed: &Option<Deployments>) -> Vec<Listed> {
    let mut versions: BTreeMap<String, Listed> = BTreeMap::new();
    for d in listed.iter().flat_map(|l| l.deployments.iter()) {
        let entry = versions.entry(d.version.clone()).or_insert_with(|| Listed {
            version: d.version.clone(),
            level: d.log_level.clone(),
            ..Listed::default()
        });
        entry.engines.push(d.engine.clone());
        entry.active_on += usize::from(d.active);
        entry.in_flight += d.in_flight;
        if entry.level != d.log_level {
            entry.level = "mixed".to_owned();
        }
    }
    versions.into_values().collect()
}
