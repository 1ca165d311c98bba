//! Starweave's engine: compile a VMS into an immutable program and run its functions in
//! memory — BPMN flows, Rhai and JavaScript code, expressions — with budgets, traces and mocks.

pub mod script;
pub mod compile;
pub mod connectors;
mod flow;
pub mod mocks;
pub mod run;
pub mod testing;
