//! The components of the IDE, one file per area of the screen.

pub mod app;
pub mod bpmn;
pub mod completion;
pub mod connector;
pub mod deploy;
pub mod editor;
pub mod env;
pub mod explorer;
pub mod function;
pub mod git;
pub mod icons;
pub mod logs;
pub mod params;
pub mod problems;
pub mod run;
pub mod tabs;
pub mod topbar;
pub mod trigger;
pub mod workspace;

use leptos::prelude::*;
use starweave_model::Diagnostic;

use crate::state::AppState;

/// Provided by each tab panel: whether that tab is the active one.
///
/// Test hooks (`data-testid`) inside a tab carry their contract name only while the tab is
/// active (`run-button`), and a `-inactive` suffix otherwise, so a test finds exactly one.
#[derive(Debug, Clone, Copy)]
pub struct TabCtx {
    /// Whether the tab is shown.
    pub active: Memo<bool>,
}

/// A `data-testid` value that is `name` in the active tab (or outside tabs).
pub fn tid(name: &'static str) -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let ctx = use_context::<TabCtx>();
    move || match ctx {
        Some(c) if !c.active.get() => format!("{name}-inactive"),
        _ => name.to_owned(),
    }
}

/// [`tid`] for a computed name.
pub fn tid_owned(name: String) -> impl Fn() -> String + Clone + Send + Sync + 'static {
    let ctx = use_context::<TabCtx>();
    move || match ctx {
        Some(c) if !c.active.get() => format!("{name}-inactive"),
        _ => name.clone(),
    }
}

/// A reader of one YAML file kind from `starweave-model` (`parse_connector`…).
pub type ParseFn<T> = fn(&str, &str) -> (Option<T>, Vec<Diagnostic>);

/// A YAML-backed item: the file's buffer read through a `parse` function of
/// `starweave-model`, and written back with its canonical writer.
pub fn yaml_model<T>(state: AppState, path: &str, parse: ParseFn<T>) -> Memo<Option<T>>
where
    T: PartialEq + Send + Sync + 'static,
{
    let doc = state.doc(path);
    let path = path.to_owned();
    Memo::new(move |_| {
        if !doc.loaded.get() {
            return None;
        }
        doc.text.with(|t| parse(&path, t).0)
    })
}

/// A modal dialog: its title as the heading that labels it, closed by Escape or a click on
/// the backdrop around it.
#[component]
pub fn Modal(
    /// Cleared to close the dialog.
    open: RwSignal<bool>,
    /// The dialog's id; its heading is `<id>-title`.
    id: &'static str,
    /// The heading.
    title: &'static str,
    /// Extra classes besides `dialog`.
    #[prop(optional)]
    class: &'static str,
    /// The `data-testid` of the dialog, if tests look for it.
    #[prop(optional)]
    testid: Option<&'static str>,
    children: Children,
) -> impl IntoView {
    let title_id = format!("{id}-title");
    let labelled_by = title_id.clone();
    view! {
        <div class="dialog-backdrop" on:click=move |_| open.set(false)>
            <div
                class=format!("dialog {class}")
                role="dialog"
                aria-modal="true"
                aria-labelledby=labelled_by
                data-testid=testid
                on:click=|ev| ev.stop_propagation()
                on:keydown=move |ev| {
                    if ev.key() == "Escape" {
                        open.set(false);
                    }
                }
            >
                <h2 id=title_id>{title}</h2>
                {children()}
            </div>
        </div>
    }
}

/// Pretty JSON for display.
pub fn pretty(v: &serde_json::Value) -> String {
    serde_json::to_string_pretty(v).unwrap_or_default()
}
