//! What a function binary's `main` does: connect the framework to the database.

use std::process::ExitCode;

use crate::{
    db::{Database, DbError, DbErrorKind},
    framework::{Function, Functions},
};

/// Serves the function `make` builds on the database the environment names; bad database
/// settings end the process at once with a message.
pub fn serve_with_database(name: &str, make: impl FnOnce(Database) -> Function) -> ExitCode {
    crate::logging::init();
    match Database::from_env() {
        Ok(database) => Functions::new().register(name, make(database)).run(),
        Err(e) => {
            log::error!("database settings: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Awaits a function's warm-up; if it fails, says so: the first request tries again anyway.
pub async fn warn_if_not_ready(warm_up: impl std::future::Future<Output = Result<(), DbError>>) {
    match warm_up.await {
        // Wrong settings have been said once, at ERROR, where they were found.
        Err(e) if *e.kind() == DbErrorKind::Config => {}
        Err(e) => {
            log::warn!("could not prepare the database at start ({e}); requests will try again")
        }
        Ok(()) => {}
    }
}
