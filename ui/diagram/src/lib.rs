//! Starweave's BPMN diagram logic, in pure Rust: what to draw for a BPMN diagram (a
//! [`Scene`] of nodes and edges with SVG markup drawn to the BPMN 2.0 notation), editing
//! operations that keep the semantic model and its diagram interchange (DI) in sync,
//! connect rules, automatic layout and standalone SVG export.
//!
//! Invariants: no UI framework, no browser API, no threads, no file system, no randomness
//! source; everything works on [`starweave_model::bpmn::Definitions`] values, so it runs
//! natively in tests and in the browser (wasm32) alike. The canvas that shows a scene lives
//! elsewhere and knows nothing of BPMN.

mod edit;
mod export;
mod generate;
mod index;
mod layout;
pub mod notation;
mod scene;

pub use edit::{
    Clipboard, EditError, PaletteKind, add_element, append, can_connect, change_type, connect,
    copy, delete, element_of_node, move_nodes, new_definitions, node_of_element, paste, reconnect,
    rename, resize_node, set_condition, set_default_flow, set_waypoints,
};
pub use export::{DEFS, export_svg};
pub use generate::generate_process;
pub use layout::{auto_layout, has_di};
pub use scene::{Scene, SceneEdge, SceneNode, diagram_names, scene};
