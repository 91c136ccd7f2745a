//! The operator's tool for ingest's dead letters; see `dead-letters --help`.

use std::process::ExitCode;

use clap::Parser;
use dead_letters::{execute, Cli, Failed};

fn main() -> ExitCode {
    let cli = Cli::parse();
    shared::logging::init_with_default_level("warn");
    let result = shared::db::Database::from_env()
        .map_err(Failed::from)
        .and_then(|database| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| Failed::Database(format!("cannot start the runtime: {e}")))?;
            runtime.block_on(execute(
                cli.command,
                &database,
                &mut std::io::stdout().lock(),
            ))
        });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failed::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failed::Database(message) | Failed::Partly(message)) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
