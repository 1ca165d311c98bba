//! The code editor: Monaco on a file's buffer (loaded on first use), or a `<textarea>` when
//! the build has no Monaco.

use leptos::prelude::*;

use crate::monaco::{self, EditorHandle};
use crate::state::AppState;

/// An editor bound to the buffer of `path`: edits go to live save, the file's diagnostics
/// become markers, and a problem clicked elsewhere moves the cursor here.
///
/// `primary` marks the main editor of its tab: it carries `data-testid="editor"` while its
/// tab is active, and the window helpers of the e2e tests act on it.
#[component]
pub fn CodeEditor(
    /// The file edited.
    path: String,
    /// The tab the editor lives in.
    tab_id: String,
    /// Main editor of the tab?
    #[prop(optional)]
    primary: bool,
    /// Language id; from the file extension when absent.
    #[prop(optional)]
    language: Option<&'static str>,
) -> impl IntoView {
    let state = expect_context::<AppState>();
    let doc = state.doc(&path);
    let node = NodeRef::<leptos::html::Div>::new();
    let handle: StoredValue<Option<EditorHandle>, LocalStorage> = StoredValue::new_local(None);
    let status = monaco::load();
    let language = language.unwrap_or_else(|| monaco::language_for(&path));
    let tab = tab_id.clone();
    let is_active = Memo::new(move |_| state.active.with(|a| a.as_deref() == Some(tab.as_str())));

    let p = path.clone();
    Effect::new(move |_| {
        if status.get() != monaco::Status::Ready || !doc.loaded.get() {
            return;
        }
        let Some(el) = node.get() else { return };
        if handle.with_value(|h| h.is_some()) {
            return;
        }
        let p = p.clone();
        let text = doc.text.get_untracked();
        let h = monaco::create(
            &el,
            &text,
            language,
            state.dark.get_untracked(),
            move |value| state.edit(&p, value),
        );
        if primary && is_active.get_untracked() {
            h.set_active();
        }
        handle.set_value(Some(h));
    });

    // The buffer changed outside this editor (a form, "take theirs", a restored buffer).
    Effect::new(move |_| {
        let text = doc.text.get();
        handle.with_value(|h| {
            if let Some(h) = h
                && h.value() != text
            {
                h.set_value(&text);
            }
        });
    });

    let p = path.clone();
    Effect::new(move |_| {
        let diagnostics: Vec<_> = state.diagnostics.with(|d| {
            d.iter()
                .filter(|d| d.file.as_deref() == Some(p.as_str()))
                .cloned()
                .collect()
        });
        doc.loaded.track();
        handle.with_value(|h| {
            if let Some(h) = h {
                h.set_markers(&diagnostics);
            }
        });
    });

    Effect::new(move |_| {
        if primary && is_active.get() {
            handle.with_value(|h| {
                if let Some(h) = h {
                    h.set_active();
                }
            });
        }
    });

    let p = path.clone();
    Effect::new(move |_| {
        let Some((file, line, column, _)) = state.reveal.get() else {
            return;
        };
        if file != p {
            return;
        }
        // Let the tab become visible before Monaco measures it.
        set_timeout(
            move || {
                handle.with_value(|h| {
                    if let Some(h) = h {
                        h.reveal(line, column);
                    }
                })
            },
            std::time::Duration::from_millis(60),
        );
    });

    let testid = move || {
        if primary && is_active.get() {
            "editor"
        } else {
            "editor-inactive"
        }
    };
    let p = path.clone();
    let fallback = move || {
        let p = p.clone();
        view! {
            <textarea
                class="code-fallback"
                spellcheck="false"
                aria-label=format!("Source of {p}")
                prop:value=move || doc.text.get()
                on:input=move |ev| state.edit(&p, event_target_value(&ev))
            ></textarea>
        }
    };
    let body = view! {
        <Show when=move || status.get() != monaco::Status::Missing fallback=fallback>
            <div class="monaco-host" node_ref=node></div>
        </Show>
    };
    view! {
        <div class="editor-host" data-testid=testid>
            <Show when=move || !doc.loaded.get() || status.get() == monaco::Status::Loading>
                <div class="skeleton-block" aria-hidden="true">
                    <span></span><span></span><span></span><span></span>
                </div>
            </Show>
            {body}
        </div>
    }
}
