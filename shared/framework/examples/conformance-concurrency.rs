//! The functions the official conformance client's concurrency check drives
//! (`-validate-concurrency`): each waits a second before answering, so ten requests at once
//! end in about one second only if they are served concurrently. `FUNCTION_SIGNATURE_TYPE`
//! (`http`, `cloudevent`, `event`) picks one, as for `conformance`.
//!
//! ```sh
//! cargo build --release -p functions-framework --example conformance-concurrency
//! FUNCTION_SIGNATURE_TYPE=http target/release/examples/conformance-concurrency
//! ```

use std::{process::ExitCode, time::Duration};

use functions_framework::{body::empty, Functions};
use http::Response;

const WAIT: Duration = Duration::from_secs(1);

fn main() -> ExitCode {
    Functions::new()
        .http("http", |_request| async {
            tokio::time::sleep(WAIT).await;
            Ok(Response::new(empty()))
        })
        .cloudevent("cloudevent", |_event| async {
            tokio::time::sleep(WAIT).await;
            Ok(())
        })
        .event("event", |_data, _context| async {
            tokio::time::sleep(WAIT).await;
            Ok(())
        })
        .run()
}
