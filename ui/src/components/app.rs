//! The page: top bar, explorer, tabs, bottom panels, conflict prompt; global keys and theme.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::deploy::DeployPanel;
use super::explorer::Explorer;
use super::git::GitPanel;
use super::logs::LogsPanel;
use super::problems::ProblemsPanel;
use super::tabs::{TabPanels, TabStrip};
use super::topbar::TopBar;
use crate::api;
use crate::monaco;
use crate::state::{AppState, BottomPanel, load_local, mark_ready, store_local};

/// The IDE.
#[component]
pub fn App() -> impl IntoView {
    let state = AppState::new();
    provide_context(state);
    // Monaco itself loads when the first editor is shown (see `monaco::load`).
    monaco::init();

    Effect::new(move |_| {
        let dark = state.dark.get();
        if let Some(root) = web_sys::window()
            .and_then(|w| w.document())
            .and_then(|d| d.document_element())
        {
            let _ = root.set_attribute("data-theme", if dark { "dark" } else { "light" });
        }
        store_local("starweave.theme", if dark { "dark" } else { "light" });
        monaco::set_theme(dark);
    });

    spawn_local(async move {
        if let Ok(b) = api::expressions().await {
            state.builtins.set(b);
        }
        match api::list_vms().await {
            Ok(list) => {
                let remembered =
                    load_local("starweave.vms").filter(|n| list.iter().any(|v| &v.name == n));
                let pick = remembered.or_else(|| list.first().map(|v| v.name.clone()));
                state.vms_list.set(list);
                match pick {
                    Some(name) => state.open_vms(name),
                    None => mark_ready(),
                }
                state.follow_outside_changes();
            }
            Err(e) => {
                state
                    .banner
                    .set(Some(format!("Cannot reach the IDE API: {e}")));
                mark_ready();
            }
        }
    });

    // Ctrl+S, Ctrl+Enter, Ctrl+W outside Monaco (Monaco forwards the first two itself).
    let _keys = window_event_listener(leptos::ev::keydown, move |ev| {
        if !(ev.ctrl_key() || ev.meta_key()) {
            return;
        }
        let in_monaco = ev
            .target()
            .and_then(|t| wasm_bindgen::JsCast::dyn_into::<web_sys::Element>(t).ok())
            .and_then(|el| el.closest(".monaco-editor").ok().flatten())
            .is_some();
        match ev.key().as_str() {
            "s" | "S" => {
                ev.prevent_default();
                if !in_monaco {
                    state.flush_all();
                }
            }
            "Enter" if !in_monaco => {
                ev.prevent_default();
                state.run_request.update(|n| *n += 1);
            }
            "w" | "W" => {
                if let Some(id) = state.active.get_untracked() {
                    ev.prevent_default();
                    state.close_tab(&id);
                }
            }
            _ => {}
        }
    });
    let _save = window_event_listener_untyped("starweave-save", move |_| state.flush_all());
    let _run = window_event_listener_untyped("starweave-run", move |_| {
        state.run_request.update(|n| *n += 1)
    });
    let _unload = window_event_listener_untyped("beforeunload", move |_| state.flush_all());

    view! {
        <div class="app">
            <TopBar />
            <Show when=move || state.banner.get().is_some()>
                <div class="banner" role="alert">{move || state.banner.get().unwrap_or_default()}</div>
            </Show>
            <div class="workbench">
                <Explorer />
                <main class="center">
                    <TabStrip />
                    <TabPanels />
                </main>
            </div>
            <section class="bottom">
                <div class="bottom-tabs" role="tablist">
                    <button class="panel-tab" role="tab" class:active=move || state.bottom.get() == BottomPanel::Problems
                        aria-selected=move || (state.bottom.get() == BottomPanel::Problems).to_string()
                        on:click=move |_| state.bottom.set(BottomPanel::Problems)>
                        "Problems"
                        <span class="count">{move || state.diagnostics.with(Vec::len) + state.save_problems.with(Vec::len)}</span>
                    </button>
                    <button class="panel-tab" role="tab" data-testid="git-tab" class:active=move || state.bottom.get() == BottomPanel::Git
                        aria-selected=move || (state.bottom.get() == BottomPanel::Git).to_string()
                        on:click=move |_| state.bottom.set(BottomPanel::Git)>
                        "Git"
                        <span class="count">{move || state.detail.with(|d| if d.as_ref().is_some_and(|d| d.dirty) { "●" } else { "" })}</span>
                    </button>
                    <button class="panel-tab" role="tab" data-testid="deploy-tab" class:active=move || state.bottom.get() == BottomPanel::Deploy
                        aria-selected=move || (state.bottom.get() == BottomPanel::Deploy).to_string()
                        on:click=move |_| state.bottom.set(BottomPanel::Deploy)>
                        "Deploy"
                    </button>
                    <button class="panel-tab" role="tab" data-testid="logs-tab" class:active=move || state.bottom.get() == BottomPanel::Logs
                        aria-selected=move || (state.bottom.get() == BottomPanel::Logs).to_string()
                        on:click=move |_| state.bottom.set(BottomPanel::Logs)>
                        "Logs"
                    </button>
                </div>
                <div class="bottom-body">
                    <div class="bottom-pane" class:hidden=move || state.bottom.get() != BottomPanel::Problems><ProblemsPanel /></div>
                    <div class="bottom-pane" class:hidden=move || state.bottom.get() != BottomPanel::Git><GitPanel /></div>
                    <div class="bottom-pane" class:hidden=move || state.bottom.get() != BottomPanel::Deploy><DeployPanel /></div>
                    <div class="bottom-pane" class:hidden=move || state.bottom.get() != BottomPanel::Logs><LogsPanel /></div>
                </div>
            </section>
            <ConflictDialog />
        </div>
    }
}

/// Asked when a file with unsaved edits changed on disk too (a write refused with 409, or
/// a change the file watcher reported): keep mine (overwrite on save), take the disk version,
/// or compare the two first. Nothing is written until the user chooses.
#[component]
fn ConflictDialog() -> impl IntoView {
    let state = expect_context::<AppState>();
    let comparing = RwSignal::new(false);
    Effect::new(move |_| {
        state.conflict.track();
        comparing.set(false);
    });
    view! {
        {move || state.conflict.get().map(|c| {
            let p1 = c.path.clone();
            let p2 = c.path.clone();
            let theirs = c.theirs.clone();
            let compare_path = c.path.clone();
            let compare_theirs = c.theirs.clone();
            let what = if c.deleted {
                " was deleted on disk (by another program or a Git command) while it has edits here. Nothing is lost: choose which version to keep."
            } else {
                " changed on disk (by another program or a Git command) while it has edits here. Nothing is lost: choose which version to keep."
            };
            view! {
                <div class="dialog-backdrop">
                    <div class="dialog conflict-dialog" role="alertdialog" aria-modal="true" aria-labelledby="conflict-title" data-testid="conflict-dialog">
                        <h2 id="conflict-title">{if c.deleted { "The file was deleted on disk" } else { "The file changed on disk" }}</h2>
                        <p><span class="mono">{c.path.clone()}</span>{what}</p>
                        <Show when=move || comparing.get()>
                            {
                                let lines = crate::diff::line_diff(
                                    &compare_theirs,
                                    &state.doc(&compare_path).text.get_untracked(),
                                );
                                view! {
                                    <p class="muted small">"− on disk, + yours"</p>
                                    <div class="conflict-diff mono small" data-testid="conflict-diff" aria-label="Differences between the disk and your version">
                                        {lines.into_iter().map(|l| view! {
                                            <div class=format!("diff-line {}", l.kind)>
                                                <span class="ln">{l.old_line.map(|n| n.to_string()).unwrap_or_default()}</span>
                                                <span class="ln">{l.new_line.map(|n| n.to_string()).unwrap_or_default()}</span>
                                                <span class="sign">{match l.kind.as_str() { "add" => "+", "remove" => "-", _ => " " }}</span>
                                                <span class="code">{l.text}</span>
                                            </div>
                                        }).collect_view()}
                                    </div>
                                }
                            }
                        </Show>
                        <div class="dialog-actions">
                            <button class="btn btn-ghost" data-testid="conflict-compare" aria-pressed=move || comparing.get().to_string()
                                on:click=move |_| comparing.update(|c| *c = !*c)>
                                {move || if comparing.get() { "Hide comparison" } else { "Compare" }}
                            </button>
                            <button class="btn" data-testid="conflict-take-theirs" on:click=move |_| state.take_theirs(&p2, theirs.clone())>
                                {if c.deleted { "Delete mine" } else { "Take the disk version" }}
                            </button>
                            <button class="btn btn-primary" data-testid="conflict-keep-mine" on:click=move |_| state.keep_mine(&p1)>"Keep mine"</button>
                        </div>
                    </div>
                </div>
            }
        })}
    }
}
