//! `starweave-cloud` as a library: what the `starweave` binary is made of, for the hosts that
//! embed it.
//!
//! The command line ([`cli::main`]) is the `starweave` binary. The desktop app
//! (`starweave-app`) links this library to serve the IDE in process: it opens a
//! [`ide::workspace::Workspace`], builds the IDE's router with [`up::ide_router`] and serves it
//! on its own loopback listener with [`up::serve_on`], so the browser's `starweave up` and the
//! desktop window run exactly the same server code.

pub mod cli;
mod connections;
mod deploy;
mod dev;
mod env;
mod files;
pub mod ide;
mod logs;
mod run;
pub mod up;
