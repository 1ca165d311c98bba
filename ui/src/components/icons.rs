//! Inline SVG icons (16×16, stroke-based, drawn for Starweave).

use leptos::prelude::*;

/// The icons of the UI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icon {
    /// A function (ƒ in a box).
    Function,
    /// A connector (plug).
    Connector,
    /// A trigger (lightning).
    Trigger,
    /// An env var (key).
    Env,
    /// A test (flask).
    Test,
    /// A file.
    File,
    /// Plus.
    Plus,
    /// Close (×).
    Close,
    /// Run (triangle).
    Run,
    /// Sun (light theme).
    Sun,
    /// Moon (dark theme).
    Moon,
    /// Git branch.
    Branch,
    /// Check mark.
    Check,
    /// Warning (triangle with !).
    Warning,
    /// Error (circle with ×).
    Error,
    /// Eye (reveal).
    Eye,
    /// Chevron down.
    Chevron,
    /// Cloud upload (import).
    Import,
    /// Trash can (delete).
    Trash,
    /// Arrow to the right (connect).
    Arrow,
}

fn path(icon: Icon) -> &'static str {
    match icon {
        Icon::Function => {
            "M2.5 2.5h11v11h-11z M10 4.5c-1.5-.5-2.5.2-2.7 1.6L6.5 11c-.2 1.2-1 1.6-2 1.2 M5.5 7.5h4"
        }
        Icon::Connector => "M6 1.5v3 M10 1.5v3 M4 4.5h8v3a4 4 0 0 1-8 0z M8 11.5v3",
        Icon::Trigger => "M9 1.5 3.5 9H8l-1 5.5L12.5 7H8z",
        Icon::Env => {
            "M10.5 2a3.5 3.5 0 1 1-3.2 4.9L2 12.2V14h2.2v-1.5h1.5V11h1.5l.9-.9A3.5 3.5 0 0 1 10.5 2z M11 4.5h.01"
        }
        Icon::Test => {
            "M6 1.5h4 M6.5 1.5v4.5L2.8 12.6a1.2 1.2 0 0 0 1 1.9h8.4a1.2 1.2 0 0 0 1-1.9L9.5 6V1.5 M4.5 10h7"
        }
        Icon::File => "M3.5 1.5h6l3 3v10h-9z M9.5 1.5v3h3",
        Icon::Plus => "M8 3v10 M3 8h10",
        Icon::Close => "M4 4l8 8 M12 4l-8 8",
        Icon::Run => "M4.5 2.5v11l9-5.5z",
        Icon::Sun => {
            "M8 5a3 3 0 1 0 0 6 3 3 0 0 0 0-6z M8 1v1.5 M8 13.5V15 M1 8h1.5 M13.5 8H15 M3 3l1 1 M12 12l1 1 M3 13l1-1 M12 4l1-1"
        }
        Icon::Moon => "M13.5 9.5A5.5 5.5 0 0 1 6.5 2.5a5.5 5.5 0 1 0 7 7z",
        Icon::Branch => {
            "M4.5 2v8 M4.5 12.5a1.5 1.5 0 1 0 0 .01 M11.5 3.5a1.5 1.5 0 1 0 0 .01 M11.5 5c0 3-7 2-7 5"
        }
        Icon::Check => "M3 8.5l3 3 7-7",
        Icon::Warning => "M8 1.8l6.5 11.7h-13z M8 6v3.5 M8 11.5v.5",
        Icon::Error => {
            "M8 1.5a6.5 6.5 0 1 0 0 13 6.5 6.5 0 0 0 0-13z M5.7 5.7l4.6 4.6 M10.3 5.7l-4.6 4.6"
        }
        Icon::Eye => {
            "M1.5 8S4 3.5 8 3.5 14.5 8 14.5 8 12 12.5 8 12.5 1.5 8 1.5 8z M8 6a2 2 0 1 0 0 4 2 2 0 0 0 0-4z"
        }
        Icon::Chevron => "M4 6l4 4 4-4",
        Icon::Import => "M8 10V2 M5 5l3-3 3 3 M2.5 10v3.5h11V10",
        Icon::Trash => "M2.5 4h11 M6 4V2.5h4V4 M4 4l.8 9.5h6.4L12 4 M6.8 6.5v4.5 M9.2 6.5v4.5",
        Icon::Arrow => "M2 8h11 M9.5 4.5 13 8l-3.5 3.5",
    }
}

/// An icon as inline SVG, hidden from assistive technology (the control carries the label).
#[component]
pub fn Svg(icon: Icon) -> impl IntoView {
    view! {
        <svg class="icon" viewBox="0 0 16 16" width="16" height="16" aria-hidden="true" focusable="false">
            <path d=path(icon) />
        </svg>
    }
}
