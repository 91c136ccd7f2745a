fn main() -> std::process::ExitCode {
    shared::serve("ingest", ingest::function)
}
