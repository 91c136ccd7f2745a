//! The function the official conformance client (functions-framework-conformance) drives:
//! it writes what it received to `function_output.json` in the working directory.
//!
//! ```sh
//! cargo build --release -p functions-framework --example conformance
//! FUNCTION_SIGNATURE_TYPE=cloudevent target/release/examples/conformance
//! ```

use std::process::ExitCode;

use cloudevents::{event::Data, AttributesReader, Event};
use functions_framework::{body::empty, FunctionError, Functions};
use http::Response;

const OUTPUT: &str = "function_output.json";

fn main() -> ExitCode {
    Functions::new()
        .http("http", |request| async move {
            write(request.body()).await?;
            Ok(Response::new(empty()))
        })
        .cloudevent("cloudevent", |event| async move {
            let json = serde_json::to_vec(&with_json_data(event))
                .map_err(|e| FunctionError::Internal(format!("cannot serialize the event: {e}")))?;
            write(&json).await
        })
        .run()
}

/// The client compares `data` as JSON when the event says it is JSON.
fn with_json_data(mut event: Event) -> Event {
    let is_json = event
        .datacontenttype()
        .is_some_and(|t| t.starts_with("application/json") || t.contains("+json"));
    if let (true, Some(Data::Binary(bytes))) = (is_json, event.data()) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) {
            event.set_data_unchecked(value);
        }
    }
    event
}

async fn write(bytes: &[u8]) -> Result<(), FunctionError> {
    // A small file, written once per request: not worth a blocking-pool hop.
    std::fs::write(OUTPUT, bytes)
        .map_err(|e| FunctionError::Internal(format!("cannot write {OUTPUT}: {e}")))
}
