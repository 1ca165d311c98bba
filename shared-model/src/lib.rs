//! The shared model of Starweave.
//!
//! Everything a VMS (visual microservice) is made of, as plain serde types: functions,
//! parameters, connectors, triggers, env var declarations and test cases; the BPMN 2.0
//! interchange format (import and export with diagram interchange, lossless for what
//! Starweave does not execute); the on-disk VMS layout; and validation that returns
//! diagnostics a user can act on.
//!
//! Invariants: this crate does no I/O beyond turning text into values and back. It knows
//! nothing of web frameworks, databases or runtimes, and it compiles to `wasm32` so the UI
//! can use it. Reading user input never panics and never stops at the first problem: readers
//! return the model together with every [`Diagnostic`] they found.

pub mod diagnostic;

pub use diagnostic::{Diagnostic, Severity, SourcePos};
pub mod bpmn;
pub mod trace;
pub mod validate;
pub mod vms;
