//! A typed Pub/Sub function: the `messagePublished` event's data read as
//! [`MessagePublishedData`], the message's data already decoded from base64. A message that is
//! not UTF-8 is acknowledged as discarded (200) rather than retried forever; an event of
//! another type is a 400.
//!
//! ```sh
//! FUNCTION_SIGNATURE_TYPE=cloudevent cargo run -p functions-framework --example pubsub
//! curl -X POST http://127.0.0.1:8080/ -H 'content-type: application/json' \
//!   -d '{"message": {"data": "aGVsbG8=", "messageId": "1"}, "subscription": "projects/p/subscriptions/s"}'
//! ```

use std::process::ExitCode;

use functions_framework::{pubsub::MessagePublishedData, FunctionError, Functions};

fn main() -> ExitCode {
    Functions::new()
        .cloudevent("on_message", |event| async move {
            let published = MessagePublishedData::from_event(&event)
                .map_err(|e| FunctionError::BadRequest(e.to_string()))?;
            let message = published.message;
            let text = String::from_utf8(message.data).map_err(|_| FunctionError::Discarded {
                reason: format!("message {} is not UTF-8", message.message_id),
            })?;
            log::info!("message {}: {text}", message.message_id);
            Ok(())
        })
        .run()
}
