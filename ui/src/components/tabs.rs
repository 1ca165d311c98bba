//! The tab strip and the tab panels. Every open tab stays mounted (hidden when inactive), so
//! each keeps its editor, undo history and run & debug state while another is shown.

use leptos::prelude::*;

use super::TabCtx;
use super::connector::ConnectorTab;
use super::editor::CodeEditor;
use super::env::EnvTab;
use super::function::FunctionTab;
use super::icons::{Icon, Svg};
use super::trigger::TriggerTab;
use crate::state::{AppState, Tab, TabKind};

/// The row of open tabs.
#[component]
pub fn TabStrip() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <div class="tabstrip" role="tablist" aria-label="Open items">
            <For
                each=move || state.tabs.get()
                key=|t| t.id.clone()
                children=move |tab: Tab| {
                    let id = tab.id.clone();
                    let id2 = id.clone();
                    let id3 = id.clone();
                    let active = Memo::new(move |_| state.active.get().as_deref() == Some(id.as_str()));
                    let icon = match tab.kind {
                        TabKind::Function(_) => Icon::Function,
                        TabKind::Connector(_) => Icon::Connector,
                        TabKind::Trigger(_) => Icon::Trigger,
                        TabKind::Env(_) => Icon::Env,
                        TabKind::Test(..) => Icon::Test,
                        TabKind::File(_) => Icon::File,
                    };
                    view! {
                        <div class="tab" class:active=move || active.get() data-testid=format!("tab-{}", tab.id)>
                            <button
                                class="tab-label"
                                role="tab"
                                aria-selected=move || active.get().to_string()
                                on:click=move |_| state.active.set(Some(id2.clone()))
                            >
                                <Svg icon=icon />
                                <span>{tab.title.clone()}</span>
                            </button>
                            <button
                                class="tab-close"
                                aria-label=format!("Close {}", tab.title)
                                title="Close (Ctrl+W)"
                                on:click=move |_| state.close_tab(&id3)
                            >
                                <Svg icon=Icon::Close />
                            </button>
                        </div>
                    }
                }
            />
        </div>
    }
}

/// The content of every open tab; only the active one is visible.
#[component]
pub fn TabPanels() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <div class="tabpanels">
            <Show when=move || state.tabs.with(Vec::is_empty)>
                <Welcome />
            </Show>
            <For
                each=move || state.tabs.get()
                key=|t| t.id.clone()
                children=move |tab: Tab| view! { <TabPanel tab=tab /> }
            />
        </div>
    }
}

#[component]
fn TabPanel(tab: Tab) -> impl IntoView {
    let state = expect_context::<AppState>();
    let id = tab.id.clone();
    let active = Memo::new(move |_| state.active.get().as_deref() == Some(id.as_str()));
    provide_context(TabCtx { active });
    view! {
        <div class="tabpanel" role="tabpanel" class:hidden=move || !active.get()>
            {tab_content(state, tab)}
        </div>
    }
}

fn tab_content(state: AppState, tab: Tab) -> AnyView {
    let id = tab.id.clone();
    match tab.kind {
        TabKind::Function(name) => view! { <FunctionTab name=name tab_id=id /> }.into_any(),
        TabKind::Connector(name) => view! { <ConnectorTab name=name tab_id=id /> }.into_any(),
        TabKind::Trigger(index) => view! { <TriggerTab index=index tab_id=id /> }.into_any(),
        TabKind::Env(name) => view! { <EnvTab name=name tab_id=id /> }.into_any(),
        TabKind::Test(function, name) => {
            let path = state
                .detail
                .with_untracked(|d| {
                    d.as_ref()?
                        .tests
                        .iter()
                        .find(|t| t.function == function && t.name == name)
                        .map(|t| t.file.clone())
                })
                .unwrap_or_else(|| format!("tests/{function}/{name}.yaml"));
            view! { <FileTab path=path tab_id=id /> }.into_any()
        }
        TabKind::File(path) => view! { <FileTab path=path tab_id=id /> }.into_any(),
    }
}

/// A file in a plain editor.
#[component]
pub fn FileTab(path: String, tab_id: String) -> impl IntoView {
    view! {
        <div class="pane-column">
            <div class="pane-header">
                <Svg icon=Icon::File />
                <span class="mono">{path.clone()}</span>
            </div>
            <CodeEditor path=path tab_id=tab_id primary=true />
        </div>
    }
}

#[component]
fn Welcome() -> impl IntoView {
    view! {
        <div class="welcome">
            <h1>"Open an item from the explorer"</h1>
            <p class="muted">"Functions, connectors, triggers and env vars each open in their own tab."</p>
            <dl class="shortcuts">
                <dt><kbd>"Ctrl"</kbd>" "<kbd>"S"</kbd></dt>
                <dd>"Save now (changes also save as you type)"</dd>
                <dt><kbd>"Ctrl"</kbd>" "<kbd>"Enter"</kbd></dt>
                <dd>"Run the function of the active tab"</dd>
                <dt><kbd>"Ctrl"</kbd>" "<kbd>"W"</kbd></dt>
                <dd>"Close the active tab"</dd>
            </dl>
        </div>
    }
}
