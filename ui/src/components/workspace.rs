//! The workspace switcher of the desktop app: the current workspace folder, the recent ones,
//! and a path field to open another folder.
//!
//! It talks to the desktop app's own endpoints (`GET/POST /api/v1/desktop/workspace`), which
//! only the desktop app serves: under `starweave up` in a browser the GET answers 404 and the
//! switcher renders nothing. Opening a folder swaps the workspace behind the same server, so
//! the page reloads to start over on the new one.

use leptos::prelude::*;
use leptos::task::spawn_local;
use serde::Deserialize;
use serde_json::{Value, json};

use super::Modal;

/// The desktop endpoint, under the API's base path.
const ENDPOINT: &str = "/desktop/workspace";

/// What the endpoint answers.
#[derive(Debug, Clone, PartialEq, Deserialize)]
struct WorkspaceInfo {
    root: String,
    #[serde(default)]
    recent: Vec<String>,
}

/// The top bar's workspace button and its dialog; nothing outside the desktop app.
#[component]
pub fn WorkspaceSwitcher() -> impl IntoView {
    let info = RwSignal::new(None::<WorkspaceInfo>);
    let open = RwSignal::new(false);
    spawn_local(async move {
        // A 404 (the browser's `starweave up`) or any failure: no switcher.
        if let Ok((200, body)) = call("GET", None).await
            && let Ok(found) = serde_json::from_str::<WorkspaceInfo>(&body)
        {
            info.try_set(Some(found));
        }
    });
    view! {
        <Show when=move || info.with(Option::is_some)>
            <button
                class="btn btn-ghost workspace-button"
                data-testid="workspace-button"
                title=move || info.with(|i| i.as_ref().map(|i| i.root.clone()).unwrap_or_default())
                on:click=move |_| open.set(true)
            >
                <svg class="icon" viewBox="0 0 20 20" width="16" height="16" aria-hidden="true">
                    <path d="M2.5 5.5a1 1 0 0 1 1-1h4l1.5 1.5h7.5a1 1 0 0 1 1 1v8a1 1 0 0 1-1 1h-13a1 1 0 0 1-1-1z"
                        fill="none" stroke="currentColor" stroke-width="1.5" stroke-linejoin="round" />
                </svg>
                <span class="workspace-name">
                    {move || info.with(|i| i.as_ref().map(|i| folder_name(&i.root)).unwrap_or_default())}
                </span>
            </button>
        </Show>
        <Show when=move || open.get()>
            <WorkspaceDialog open=open info=info />
        </Show>
    }
}

/// The dialog: current folder, recent folders, and a path to open.
#[component]
fn WorkspaceDialog(open: RwSignal<bool>, info: RwSignal<Option<WorkspaceInfo>>) -> impl IntoView {
    let path = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);
    let open_path = move |target: String| {
        if target.trim().is_empty() || busy.get_untracked() {
            return;
        }
        busy.set(true);
        error.set(None);
        spawn_local(async move {
            match call("POST", Some(&json!({ "path": target }))).await {
                Ok((200, _)) => {
                    // Everything shown belongs to the old workspace: start over.
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().reload();
                    }
                }
                Ok((_, body)) => {
                    error.try_set(Some(error_message(&body)));
                    busy.try_set(false);
                }
                Err(message) => {
                    error.try_set(Some(message));
                    busy.try_set(false);
                }
            }
        });
    };
    let current = move || info.with(|i| i.as_ref().map(|i| i.root.clone()).unwrap_or_default());
    let recent = move || {
        info.with(|i| {
            i.as_ref()
                .map(|i| {
                    i.recent
                        .iter()
                        .filter(|p| **p != i.root)
                        .cloned()
                        .enumerate()
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    view! {
        <Modal open=open id="workspace" title="Workspace" class="workspace-dialog" testid="workspace-dialog">
            <p class="workspace-current">
                <span class="muted small">"Current folder"</span>
                <code data-testid="workspace-current">{current}</code>
            </p>
            <Show when=move || !recent().is_empty()>
                <div class="workspace-recent">
                    <span class="muted small">"Recent"</span>
                    <ul>
                        <For
                            each=recent
                            key=|(_, p)| p.clone()
                            children=move |(i, p)| {
                                let target = p.clone();
                                view! {
                                    <li>
                                        <button
                                            class="menu-item"
                                            data-testid=format!("workspace-recent-{i}")
                                            title=p.clone()
                                            disabled=move || busy.get()
                                            on:click=move |_| open_path(target.clone())
                                        >
                                            <span>{folder_name(&p)}</span>
                                            <span class="muted small">{p.clone()}</span>
                                        </button>
                                    </li>
                                }
                            }
                        />
                    </ul>
                </div>
            </Show>
            <form on:submit=move |ev| {
                ev.prevent_default();
                open_path(path.get_untracked());
            }>
                <label class="field">
                    <span>"Open a folder"</span>
                    <input
                        data-testid="workspace-path"
                        autofocus
                        placeholder="/home/me/starweave-work"
                        prop:value=move || path.get()
                        on:input=move |ev| path.set(event_target_value(&ev))
                    />
                    <span class="hint">
                        "An existing folder; its VMS are the Git repositories directly inside it. "
                        "File › Open Folder as Workspace… picks one with the system dialog."
                    </span>
                </label>
                <Show when=move || error.get().is_some()>
                    <p class="error-text" data-testid="workspace-error">{move || error.get().unwrap_or_default()}</p>
                </Show>
                <div class="dialog-actions">
                    <button type="button" class="btn" on:click=move |_| open.set(false)>"Cancel"</button>
                    <button
                        type="submit"
                        class="btn btn-primary"
                        data-testid="workspace-open"
                        disabled=move || path.get().trim().is_empty() || busy.get()
                    >
                        "Open"
                    </button>
                </div>
            </form>
        </Modal>
    }
}

/// The last component of a path, for a short label.
fn folder_name(path: &str) -> String {
    path.trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .filter(|n| !n.is_empty())
        .unwrap_or(path)
        .to_owned()
}

/// The `message` of an error body `{ "error": { "message" } }`, else the body itself.
fn error_message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| body.chars().take(300).collect())
}

/// Sends one request to the desktop endpoint through the API client (same token and
/// headers); the status and body text, or a transport error.
async fn call(method: &str, body: Option<&Value>) -> Result<(u16, String), String> {
    crate::api::send(method, ENDPOINT, body)
        .await
        .map_err(|e| e.message)
}
