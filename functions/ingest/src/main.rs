fn main() -> std::process::ExitCode {
    match ingest::Settings::from_env() {
        Ok(settings) => {
            shared::serve_with_database("ingest", |database| ingest::function(database, settings))
        }
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
