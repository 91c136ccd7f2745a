//! A background function (signature type `event`): the data and context of each event, as
//! first-generation Cloud Functions had them. Legacy events arrive as sent; CloudEvents are
//! converted back to the legacy event they stand for.
//!
//! ```sh
//! FUNCTION_SIGNATURE_TYPE=event cargo run -p functions-framework --example event
//! curl -X POST http://127.0.0.1:8080/ -H 'content-type: application/json' -d '{"eventId": "1",
//!   "eventType": "google.pubsub.topic.publish", "resource": "projects/p/topics/t",
//!   "timestamp": "2024-05-06T07:08:09Z", "data": {"data": "aGVsbG8="}}'
//! ```

use std::process::ExitCode;

use functions_framework::Functions;

fn main() -> ExitCode {
    Functions::new()
        .event("on_event", |data, context| async move {
            log::info!(
                "event {} of type {} on {}: {data}",
                context.event_id,
                context.event_type,
                context.resource
            );
            Ok(())
        })
        .run()
}
