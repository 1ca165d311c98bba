//! `starweave-engine`: the compute-engine process. See [`starweave_engine::server`].

use std::process::ExitCode;

use clap::Parser;
use std::time::Duration;

use starweave_engine::server::{ServerConfig, init_logging, logbuf, run, shutdown_signal};

/// The engine allocates many small, short-lived JSON values per request (inputs, connector
/// answers, variables, script results) across threads; mimalloc's per-thread free lists serve
/// them with less work than the system allocator (see BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let config = ServerConfig::parse();
    init_logging(
        &config.log,
        config.log_format,
        Duration::from_millis(config.log_flush_ms),
    );
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("starweave-engine: cannot start the runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the engine stopped on an error");
            ExitCode::FAILURE
        }
    };
    logbuf::flush();
    code
}
