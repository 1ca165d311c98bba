//! `starweave-engine`: the compute-engine process. See [`starweave_engine::server`].

use std::process::ExitCode;

use clap::Parser;
use starweave_engine::server::{ServerConfig, init_logging, run, shutdown_signal};

fn main() -> ExitCode {
    let config = ServerConfig::parse();
    init_logging(&config.log, config.log_format);
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
    match runtime.block_on(run(config, shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "the engine stopped on an error");
            ExitCode::FAILURE
        }
    }
}
