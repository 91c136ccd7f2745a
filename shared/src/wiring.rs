//! What a function binary's `main` does: connect the framework to the database.

use std::process::ExitCode;

use settings_reader::Reader;

use crate::{
    db::{Database, DbConfig, DbError, DbErrorKind},
    framework::{Config, Function, Functions},
};

/// A function's own settings, read beside the framework's and the database's.
pub trait FunctionSettings: Sized {
    /// Reads them through `reader`, which keeps any bad one for the report.
    fn read(reader: &mut Reader) -> Self;
}

/// What a function binary's `main` is: reads every setting first (the framework's, the
/// database's, the function's own) and reports every bad one at once; then serves the
/// function `make` builds on the database the environment names.
pub fn serve<S: FunctionSettings>(
    name: &str,
    make: impl FnOnce(Database, S) -> Function,
) -> ExitCode {
    crate::logging::init();
    let mut reader = Reader::from_env();
    let framework = Config::read(&mut reader);
    let database = DbConfig::read(&mut reader);
    let own = S::read(&mut reader);
    if let Err(errors) = reader.finish() {
        for error in &errors.0 {
            log::error!("bad setting {error}");
        }
        return ExitCode::FAILURE;
    }
    match Database::new(database) {
        Ok(database) => Functions::new()
            .register(name, make(database, own))
            .run_with(framework),
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
