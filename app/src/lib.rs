//! The parts of the desktop app that do not need a window, so they are tested without one:
//! the in-process server with its workspace switching ([`server`]) and the launch options
//! ([`launch`]). `main.rs` puts them in a Tauri window.

pub mod launch;
pub mod server;
