//! The top bar: VMS picker, new VMS dialog, theme toggle, save status, and in the desktop app
//! the workspace switcher.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::Modal;
use super::icons::{Icon, Svg};
use super::workspace::WorkspaceSwitcher;
use crate::api;
use crate::state::{AppState, SaveState};

/// The top bar.
#[component]
pub fn TopBar() -> impl IntoView {
    let state = expect_context::<AppState>();
    let menu_open = RwSignal::new(false);
    let dialog_open = RwSignal::new(false);
    let clone_open = RwSignal::new(false);
    let status = Memo::new(move |_| state.overall_status());

    view! {
        <header class="topbar">
            <div class="brand" aria-label="Starweave">
                <svg class="logo" viewBox="0 0 20 20" width="20" height="20" aria-hidden="true">
                    <path d="M10 1.5l2.2 5.3 5.8.5-4.4 3.8 1.3 5.6L10 13.8l-4.9 2.9 1.3-5.6L2 7.3l5.8-.5z" />
                </svg>
                <span>"Starweave"</span>
            </div>
            <div class="vms-picker">
                <button
                    class="btn btn-ghost picker-button"
                    data-testid="vms-picker"
                    aria-haspopup="listbox"
                    aria-expanded=move || menu_open.get().to_string()
                    on:click=move |_| menu_open.update(|o| *o = !*o)
                >
                    <span class="picker-label">
                        {move || state.current.get().unwrap_or_else(|| "Choose a VMS".into())}
                    </span>
                    <span class="muted small">
                        {move || state.detail.with(|d| d.as_ref().map(|d| d.branch.clone()).unwrap_or_default())}
                    </span>
                    <Svg icon=Icon::Chevron />
                </button>
                <Show when=move || menu_open.get()>
                    <ul class="menu" role="listbox" aria-label="VMS">
                        <For
                            each=move || state.vms_list.get()
                            key=|v| v.name.clone()
                            children=move |v| {
                                let name = v.name.clone();
                                let selected = {
                                    let name = name.clone();
                                    move || state.current.get().as_deref() == Some(name.as_str())
                                };
                                view! {
                                    <li role="option" aria-selected=move || selected().to_string()>
                                        <button
                                            class="menu-item"
                                            data-testid=format!("vms-item-{}", v.name)
                                            on:click=move |_| {
                                                menu_open.set(false);
                                                state.open_vms(name.clone());
                                            }
                                        >
                                            <span>{v.name.clone()}</span>
                                            <span class="muted small">{v.description.clone().unwrap_or_default()}</span>
                                        </button>
                                    </li>
                                }
                            }
                        />
                    </ul>
                </Show>
            </div>
            <button class="btn" data-testid="new-vms-button" on:click=move |_| dialog_open.set(true)>
                <Svg icon=Icon::Plus />
                <span>"New VMS"</span>
            </button>
            <button class="btn" data-testid="clone-vms-button" title="Clone a VMS from a Git remote" on:click=move |_| clone_open.set(true)>
                <Svg icon=Icon::Branch />
                <span>"Clone"</span>
            </button>
            <div class="spacer"></div>
            <WorkspaceSwitcher />
            <span
                class=move || format!("save-status save-{}", status.get().label().trim_end_matches('…').to_lowercase())
                data-testid="save-status"
                role="status"
                aria-live="polite"
            >
                {move || match status.get() {
                    SaveState::Saved => view! { <Svg icon=Icon::Check /> }.into_any(),
                    SaveState::Error => view! { <Svg icon=Icon::Error /> }.into_any(),
                    _ => view! { <span class="dot"></span> }.into_any(),
                }}
                <span class="save-text">{move || status.get().label()}</span>
            </span>
            <button
                class="btn btn-icon"
                data-testid="theme-toggle"
                aria-label=move || if state.dark.get() { "Switch to the light theme" } else { "Switch to the dark theme" }
                title="Toggle theme"
                on:click=move |_| state.dark.update(|d| *d = !*d)
            >
                {move || if state.dark.get() { view! { <Svg icon=Icon::Sun /> } } else { view! { <Svg icon=Icon::Moon /> } }}
            </button>
        </header>
        <Show when=move || dialog_open.get()>
            <NewVmsDialog open=dialog_open />
        </Show>
        <Show when=move || clone_open.get()>
            <CloneVmsDialog open=clone_open />
        </Show>
    }
}

/// The "New VMS" dialog: a name and a template.
#[component]
fn NewVmsDialog(open: RwSignal<bool>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let name = RwSignal::new(String::new());
    let template = RwSignal::new("empty".to_owned());
    let templates = RwSignal::new(Vec::<api::TemplateInfo>::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    spawn_local(async move {
        match api::templates().await {
            Ok(t) => {
                templates.try_set(t);
            }
            Err(e) => {
                error.try_set(Some(e.to_string()));
            }
        }
    });
    let valid = move || starweave_model::vms::disk::is_valid_name(&name.get());
    let create = move || {
        if !valid() || busy.get_untracked() {
            return;
        }
        busy.set(true);
        let n = name.get_untracked();
        let t = template.get_untracked();
        spawn_local(async move {
            match api::create_vms(&n, &t).await {
                Ok(summary) => {
                    state.vms_list.update(|l| {
                        l.retain(|v| v.name != summary.name);
                        l.push(summary.clone());
                        l.sort_by(|a, b| a.name.cmp(&b.name));
                    });
                    open.set(false);
                    state.open_vms(summary.name);
                }
                Err(e) => {
                    error.try_set(Some(e.message));
                    busy.try_set(false);
                }
            }
        });
    };
    view! {
        <Modal open=open id="new-vms" title="New VMS">
            <form on:submit=move |ev| {
                ev.prevent_default();
                create();
            }>
                <label class="field">
                    <span>"Name"</span>
                    <input
                        data-testid="new-vms-name"
                        autofocus
                        placeholder="shop-bff"
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                    <span class="hint">"Lower-case letters, digits, - and _."</span>
                </label>
                <label class="field">
                    <span>"Template"</span>
                    <select
                        data-testid="new-vms-template"
                        prop:value=move || template.get()
                        on:change=move |ev| template.set(event_target_value(&ev))
                    >
                        <option value="empty">"empty"</option>
                        <For
                            each=move || templates.get().into_iter().filter(|t| t.name != "empty")
                            key=|t| t.name.clone()
                            children=move |t| view! { <option value=t.name.clone()>{format!("{} — {}", t.name, t.description)}</option> }
                        />
                    </select>
                </label>
                <Show when=move || error.get().is_some()>
                    <p class="error-text">{move || error.get().unwrap_or_default()}</p>
                </Show>
                <div class="dialog-actions">
                    <button type="button" class="btn" on:click=move |_| open.set(false)>"Cancel"</button>
                    <button
                        type="submit"
                        class="btn btn-primary"
                        data-testid="new-vms-create"
                        disabled=move || !valid() || busy.get()
                    >
                        "Create"
                    </button>
                </div>
            </form>
        </Modal>
    }
}

/// The name a clone URL suggests: its last segment without `.git` (what the server picks
/// when no name is given).
fn name_from_url(url: &str) -> String {
    url.trim()
        .trim_end_matches('/')
        .rsplit(['/', ':'])
        .next()
        .unwrap_or("")
        .trim_end_matches(".git")
        .to_owned()
}

/// The "Clone" dialog: a Git URL, an optional name, and for HTTPS remotes an access token
/// (kept in the system keyring when the clone works, if the user wants).
#[component]
fn CloneVmsDialog(open: RwSignal<bool>) -> impl IntoView {
    let state = expect_context::<AppState>();
    let url = RwSignal::new(String::new());
    let name = RwSignal::new(String::new());
    let username = RwSignal::new(String::new());
    let token = RwSignal::new(String::new());
    let remember = RwSignal::new(true);
    let show_token = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let host_key = RwSignal::new(None::<serde_json::Value>);
    let busy = RwSignal::new(false);
    let https = move || {
        url.with(|u| {
            u.trim_start().starts_with("https://") || u.trim_start().starts_with("http://")
        })
    };
    let clone = move || {
        if url.with_untracked(|u| u.trim().is_empty()) || busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        let (u, n, user, t, keep) = (
            url.get_untracked(),
            name.get_untracked(),
            username.get_untracked(),
            token.get_untracked(),
            remember.get_untracked(),
        );
        spawn_local(async move {
            let name = if n.trim().is_empty() {
                None
            } else {
                Some(n.trim())
            };
            match api::clone_vms(u.trim(), name, &user, &t, keep).await {
                Ok(answer) => {
                    if let Ok(summary) = serde_json::from_value::<api::VmsSummary>(answer.clone()) {
                        state.vms_list.update(|l| {
                            l.retain(|v| v.name != summary.name);
                            l.push(summary.clone());
                            l.sort_by(|a, b| a.name.cmp(&b.name));
                        });
                        if answer["token"]["stored"] == false {
                            let why = answer["token"]["message"].as_str().unwrap_or("");
                            state
                                .banner
                                .set(Some(format!("Cloned, but the token was not kept: {why}")));
                        }
                        open.set(false);
                        state.open_vms(summary.name);
                    }
                }
                Err(e) => {
                    if e.code == "remote_auth_failed" {
                        show_token.try_set(true);
                    }
                    if e.code == "unknown_host_key" {
                        host_key.try_set(Some(e.details.clone()));
                    }
                    error.try_set(Some(e.message));
                    busy.try_set(false);
                }
            }
        });
    };
    view! {
        <Modal open=open id="clone-vms" title="Clone a VMS">
            <form on:submit=move |ev| {
                ev.prevent_default();
                clone();
            }>
                <label class="field">
                    <span>"Git URL"</span>
                    <input
                        data-testid="clone-url"
                        autofocus
                        placeholder="https://git.example.com/team/shop-bff.git"
                        prop:value=move || url.get()
                        on:input=move |ev| url.set(event_target_value(&ev))
                    />
                    <span class="hint">"HTTPS with an access token, or SSH with your ssh-agent's keys or ~/.ssh/id_ed25519."</span>
                </label>
                <label class="field">
                    <span>"Name in the workspace"</span>
                    <input
                        data-testid="clone-name"
                        placeholder=move || name_from_url(&url.get())
                        prop:value=move || name.get()
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </label>
                <Show when=move || https() && !show_token.get()>
                    <button type="button" class="btn btn-small btn-ghost" data-testid="clone-add-token" on:click=move |_| show_token.set(true)>
                        "Add an access token…"
                    </button>
                </Show>
                <Show when=move || https() && show_token.get()>
                    <TokenFields username=username token=token />
                    <label class="field check-row">
                        <input type="checkbox" data-testid="clone-remember"
                            prop:checked=move || remember.get()
                            on:change=move |ev| remember.set(event_target_checked(&ev)) />
                        <span>"Remember the token for this server (system keyring)"</span>
                    </label>
                </Show>
                <Show when=move || error.get().is_some() && host_key.with(Option::is_none)>
                    <p class="error-text" data-testid="clone-error">{move || error.get().unwrap_or_default()}</p>
                </Show>
                {move || host_key.get().map(|key| view! {
                    <HostKeyPrompt key=key action="clone"
                        on_trusted=Callback::new(move |()| { host_key.set(None); error.set(None); clone(); })
                        on_cancel=Callback::new(move |()| host_key.set(None)) />
                })}
                <div class="dialog-actions">
                    <button type="button" class="btn" on:click=move |_| open.set(false)>"Cancel"</button>
                    <button
                        type="submit"
                        class="btn btn-primary"
                        data-testid="clone-submit"
                        disabled=move || url.with(|u| u.trim().is_empty()) || busy.get()
                    >
                        {move || if busy.get() { "Cloning…" } else { "Clone" }}
                    </button>
                </div>
            </form>
        </Modal>
    }
}

/// The question `ssh` asks on first contact with a host, as a form: the host key's type and
/// fingerprint (from an `unknown_host_key` error's details), trusted with one click. A key
/// that replaces a known one is shown as a warning, not as a routine question.
#[component]
pub fn HostKeyPrompt(
    /// The error's details: `host`, `port`, `key_type`, `key`, `fingerprint`, `changed`.
    key: serde_json::Value,
    /// What runs again once the key is trusted (`clone`, `push`…), for the button.
    action: &'static str,
    on_trusted: Callback<()>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let text = |name: &str| key[name].as_str().unwrap_or_default().to_owned();
    let host = match key["port"].as_u64() {
        Some(port) => format!("[{}]:{port}", text("host")),
        None => text("host"),
    };
    let changed = key["changed"] == true;
    let (key_type, fingerprint) = (text("key_type"), text("fingerprint"));
    let trust = move || {
        if busy.get_untracked() {
            return;
        }
        busy.set(true);
        let key = key.clone();
        spawn_local(async move {
            match api::trust_host_key(&key).await {
                Ok(_) => on_trusted.run(()),
                Err(e) => {
                    error.try_set(Some(e.message));
                    busy.try_set(false);
                }
            }
        });
    };
    view! {
        // Not a form: the prompt sits inside the clone dialog's form, and a nested form's
        // submit would bubble up and start the clone before the key is trusted.
        <div class="host-key-prompt" class:warning=changed data-testid="host-key-prompt" role="group" aria-label="SSH host key">
            {if changed {
                view! { <p class="small error-text">{format!("The host key of {host} has CHANGED. The server may have been reinstalled, or someone may be in between. Trust the new key only if the server's owner confirms it.")}</p> }.into_any()
            } else {
                view! { <p class="small">{format!("{host} is not a known SSH host. Compare its key with what the server's owner publishes:")}</p> }.into_any()
            }}
            <p class="small mono" data-testid="host-key-fingerprint">{format!("{key_type} {fingerprint}")}</p>
            <Show when=move || error.get().is_some()>
                <p class="error-text small">{move || error.get().unwrap_or_default()}</p>
            </Show>
            <div class="dialog-actions">
                <button type="button" class="btn btn-small" on:click=move |_| on_cancel.run(())>"Cancel"</button>
                <button type="button" class="btn btn-small btn-primary" data-testid="host-key-trust"
                    disabled=move || busy.get() on:click=move |_| trust()>{format!("Trust and {action}")}</button>
            </div>
        </div>
    }
}

/// Username and access token inputs (the token masked), shared by the clone dialog and the
/// Git panel's token prompt.
#[component]
pub fn TokenFields(username: RwSignal<String>, token: RwSignal<String>) -> impl IntoView {
    view! {
        <div class="field-row token-fields">
            <label class="field narrow">
                <span>"Username"</span>
                <input
                    data-testid="token-username"
                    placeholder="git"
                    autocomplete="username"
                    prop:value=move || username.get()
                    on:input=move |ev| username.set(event_target_value(&ev))
                />
            </label>
            <label class="field">
                <span>"Access token"</span>
                <input
                    type="password"
                    data-testid="token-value"
                    autocomplete="off"
                    placeholder="personal access token"
                    prop:value=move || token.get()
                    on:input=move |ev| token.set(event_target_value(&ev))
                />
            </label>
        </div>
    }
}
