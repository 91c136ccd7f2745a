//! The functions the official conformance client (functions-framework-conformance) drives:
//! each writes what it received to `function_output.json` in the working directory;
//! `FUNCTION_SIGNATURE_TYPE` (`http`, `cloudevent`, `event`) picks one, as the client sets it.
//! The typed and concurrency checks have examples of their own (`conformance-typed`,
//! `conformance-concurrency`).
//!
//! ```sh
//! cargo build --release -p functions-framework --example conformance
//! FUNCTION_SIGNATURE_TYPE=cloudevent target/release/examples/conformance
//! ```

use std::process::ExitCode;

use cloudevents::{event::Data, AttributesReader, Event};
use functions_framework::{body::empty, EventContext, FunctionError, Functions};
use http::Response;
use serde_json::{json, Value};

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
        .event("event", |data, context| async move {
            write(&legacy_output(data, context)?).await
        })
        .run()
}

/// A background event as the client expects it back: `{"data": ..., "context": {...}}`.
fn legacy_output(data: Value, context: EventContext) -> Result<Vec<u8>, FunctionError> {
    serde_json::to_vec(&json!({"data": data, "context": context}))
        .map_err(|e| FunctionError::Internal(format!("cannot serialize the event: {e}")))
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
