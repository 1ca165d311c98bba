//! `starweave`: the command line of Starweave.
//!
//! The CLI owns the file system edge: it reads VMS directories and BPMN files into the model's
//! in-memory forms, asks `starweave-model` to read, validate or format them, and writes back what
//! the model produced. No formatting or validation rule lives here. The commands live in the
//! library (`src/lib.rs`), which the desktop app links too.

use std::process::ExitCode;

fn main() -> ExitCode {
    starweave_cloud::cli::main()
}
