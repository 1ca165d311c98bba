//! The problems panel: diagnostics of the whole VMS (refreshed by every write) and failed
//! writes. Clicking a problem opens its file at its line.

use leptos::prelude::*;
use starweave_model::Severity;

use super::icons::{Icon, Svg};
use crate::state::AppState;

/// The problems panel.
#[component]
pub fn ProblemsPanel() -> impl IntoView {
    let state = expect_context::<AppState>();
    view! {
        <div class="problems" data-testid="problems-panel" role="region" aria-label="Problems">
            <ul class="problem-list">
                {move || state.save_problems.get().into_iter().map(|p| {
                    let path = p.path.clone();
                    view! {
                        <li>
                            <button class="problem sev-error" data-testid="problem-item" on:click=move |_| state.reveal_at(&path, 1, 1)>
                                <Svg icon=Icon::Error />
                                <span class="msg">{p.message.clone()}</span>
                                <span class="muted mono small">{p.path.clone()}</span>
                            </button>
                        </li>
                    }
                }).collect_view()}
                {move || state.diagnostics.get().into_iter().map(|d| {
                    let file = d.file.clone();
                    let element = d.element.clone();
                    let (line, col) = d.pos.map(|p| (p.line, p.column)).unwrap_or((1, 1));
                    let sev = match d.severity { Severity::Error => "error", Severity::Warning => "warning", _ => "info" };
                    let location = format!("{}{}", d.file.clone().unwrap_or_default(), d.pos.map(|p| format!(":{}:{}", p.line, p.column)).unwrap_or_default());
                    view! {
                        <li>
                            <button class=format!("problem sev-{sev}") data-testid="problem-item"
                                on:click=move |_| match (&file, &element) {
                                    // A problem of a BPMN element selects its shape on the diagram.
                                    (Some(f), Some(e)) if f.ends_with(".bpmn") => state.reveal_element_in(f, e),
                                    (Some(f), _) => state.reveal_at(f, line, col),
                                    _ => {}
                                }>
                                {if sev == "error" { view! { <Svg icon=Icon::Error /> } } else { view! { <Svg icon=Icon::Warning /> } }}
                                <span class="msg">{d.message.clone()}</span>
                                <span class="muted mono small">{d.code.clone()}</span>
                                <span class="muted mono small">{location}</span>
                            </button>
                        </li>
                    }
                }).collect_view()}
            </ul>
            <Show when=move || state.diagnostics.with(Vec::is_empty) && state.save_problems.with(Vec::is_empty)>
                <p class="muted pad small">"No problems."</p>
            </Show>
        </div>
    }
}
