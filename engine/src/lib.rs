//! Starweave's engine: compile a VMS into an immutable program and run its functions in
//! memory — BPMN flows, Rhai and JavaScript code, expressions — with budgets, traces and mocks.

pub mod script;
pub mod compile;
pub mod connectors;
pub mod io;
mod flow;
pub mod mocks;
pub mod run;
pub mod testing;
pub mod server;
pub mod triggers;
