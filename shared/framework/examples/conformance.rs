//! The functions the official conformance client (functions-framework-conformance) drives:
//! each writes what it received to `function_output.json` in the working directory;
//! `FUNCTION_SIGNATURE_TYPE` (`http`, `cloudevent`, `event`) picks one, as the client sets it.
//! The client checks `http` and `typed` functions both with `http`, so the HTTP function is a
//! typed one: it writes the request and answers `{"payload": <the request>}`, which passes
//! either. The concurrency checks have an example of their own (`conformance-concurrency`).
//!
//! ```sh
//! cargo build --release -p functions-framework --example conformance
//! FUNCTION_SIGNATURE_TYPE=cloudevent target/release/examples/conformance
//! ```

use std::process::ExitCode;

use cloudevents::{event::Data, AttributesReader, Event};
use functions_framework::{EventContext, FunctionError, Functions};
use serde::Serialize;
use serde_json::{json, Value};

const OUTPUT: &str = "function_output.json";

fn main() -> ExitCode {
    Functions::new()
        .typed("http", |payload: Value| async move {
            write(&to_json(&payload)?).await?;
            Ok(Echo { payload })
        })
        .cloudevent("cloudevent", |event| async move {
            write(&to_json(&with_json_data(event))?).await
        })
        .event("event", |data, context: EventContext| async move {
            // A background event as the client expects it back.
            write(&to_json(&json!({"data": data, "context": context}))?).await
        })
        .run()
}

/// What the typed check expects back.
#[derive(Serialize)]
struct Echo {
    payload: Value,
}

fn to_json(value: &impl Serialize) -> Result<Vec<u8>, FunctionError> {
    serde_json::to_vec(value)
        .map_err(|e| FunctionError::Internal(format!("cannot serialize what was received: {e}")))
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
