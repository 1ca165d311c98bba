//! Starweave's IDE in the browser: a Leptos (client-side rendered) application compiled to
//! wasm32, talking to the IDE API (`docs/ide-api.md`) and editing code in Monaco.
//!
//! Modules by channel and area: [`api`] is the typed HTTP client, [`monaco`] the editor
//! binding, [`state`] the shared signals and the live-save machinery, [`components`] one
//! file per area of the screen.

pub mod api;
pub mod components;
pub mod diff;
pub mod monaco;
pub mod state;

use wasm_bindgen::prelude::*;

/// Mounts the IDE on `<body>` (called by the generated JS glue on load).
#[wasm_bindgen(start)]
pub fn start() {
    // A panic stops the app: say why in the console instead of a bare `unreachable`.
    std::panic::set_hook(Box::new(|info| {
        web_sys::console::error_1(&format!("starweave-ui panicked: {info}").into());
    }));
    leptos::mount::mount_to_body(components::app::App);
}
