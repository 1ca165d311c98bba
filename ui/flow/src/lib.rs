//! Starweave's generic flow canvas: nodes and edges drawn as SVG in Leptos (CSR), with pan and
//! zoom, selection, dragging with grid snapping and alignment guides, connecting and
//! reconnecting, a minimap and keyboard shortcuts. It knows nothing of BPMN: the owner hands it
//! [`FlowNode`]s and [`FlowEdge`]s with ready-made SVG markup and reacts to [`FlowEvent`]s.
//!
//! The pure parts (`geom`, `model`, `history`) have no Leptos and are tested natively; `store`
//! holds the reactive state with one signal per node and per edge; `canvas` renders it.

pub mod canvas;
pub mod geom;
pub mod history;
pub mod model;
pub mod store;

pub use canvas::{FlowCanvas, FlowEvent};
pub use geom::{Point, Rect};
pub use history::History;
pub use model::{FlowEdge, FlowNode, Viewport};
pub use store::FlowStore;

/// The stylesheet the canvas needs; the owner injects it once (e.g. in a `<style>` element).
pub const FLOW_CSS: &str = include_str!("../flow.css");
