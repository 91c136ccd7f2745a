use std::process::ExitCode;

use shared::{db::Database, framework::Functions};

fn main() -> ExitCode {
    shared::logging::init();
    let database = match Database::from_env() {
        Ok(database) => database,
        Err(e) => {
            log::error!("database settings: {e}");
            return ExitCode::FAILURE;
        }
    };
    let function = read::function(database, read::Settings::from_env());
    Functions::new().register("read", function).run()
}
