fn main() -> std::process::ExitCode {
    shared::serve_with_database("read", |database| {
        read::function(database, read::Settings::from_env())
    })
}
