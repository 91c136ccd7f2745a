fn main() -> std::process::ExitCode {
    shared::serve_with_database("ingest", ingest::function)
}
