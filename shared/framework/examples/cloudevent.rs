//! A CloudEvent function: logs the id, type and source of every event it gets, in whatever
//! form it arrives (binary or structured mode, a legacy event, a raw Pub/Sub push body).
//!
//! ```sh
//! FUNCTION_SIGNATURE_TYPE=cloudevent cargo run -p functions-framework --example cloudevent
//! curl -X POST http://127.0.0.1:8080/ -H 'ce-specversion: 1.0' -H 'ce-id: 1' \
//!   -H 'ce-type: com.example.ping' -H 'ce-source: //example' -d ''
//! ```

use std::process::ExitCode;

use cloudevents::AttributesReader;
use functions_framework::Functions;

fn main() -> ExitCode {
    Functions::new()
        .cloudevent("ping", |event| async move {
            log::info!(
                "event {} of type {} from {}",
                event.id(),
                event.ty(),
                event.source()
            );
            Ok(())
        })
        .run()
}
