//! Starweave's engine: compile a VMS into an immutable program and run its functions in
//! memory — BPMN flows, Rhai and JavaScript code, expressions — with budgets, traces and mocks.

pub mod compile;
pub mod connectors;
mod flow;
pub mod io;
pub mod mocks;
pub mod run;
pub mod script;
pub mod server;
pub mod testing;
pub mod triggers;
