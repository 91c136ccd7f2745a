//! The typed function the official conformance client checks (`-declarative-type=typed`):
//! it answers `{"payload": <the request>}`.
//!
//! ```sh
//! cargo build --release -p functions-framework --example conformance-typed
//! FUNCTION_SIGNATURE_TYPE=http target/release/examples/conformance-typed
//! ```

use std::process::ExitCode;

use functions_framework::Functions;
use serde::Serialize;
use serde_json::Value;

#[derive(Serialize)]
struct Echo {
    payload: Value,
}

fn main() -> ExitCode {
    Functions::new()
        .typed(
            "typed",
            |payload: Value| async move { Ok(Echo { payload }) },
        )
        .run()
}
