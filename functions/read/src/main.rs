fn main() -> std::process::ExitCode {
    shared::serve("read", read::function)
}
