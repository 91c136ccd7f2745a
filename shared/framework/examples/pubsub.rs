//! A Pub/Sub function: each `messagePublished` event's message, its data decoded from base64.
//! `?` on the message's own data (`json`, `text`) acknowledges a message that can never be
//! read as discarded (200, and an ERROR line), instead of Pub/Sub redelivering it until the
//! subscription gives up; an event that is not a Pub/Sub message is discarded the same way.
//!
//! ```sh
//! FUNCTION_SIGNATURE_TYPE=cloudevent cargo run -p functions-framework --example pubsub
//! curl -X POST http://127.0.0.1:8080/ -H 'content-type: application/json' \
//!   -d '{"message": {"data": "eyJuYW1lIjogIkFkYSJ9", "messageId": "1"}, "subscription": "projects/p/subscriptions/s"}'
//! ```

use std::process::ExitCode;

use functions_framework::Functions;
use serde::Deserialize;

#[derive(Deserialize)]
struct Signup {
    name: String,
}

fn main() -> ExitCode {
    Functions::new()
        .pubsub("on_signup", |message| async move {
            let signup: Signup = message.json()?;
            log::info!("message {}: {} signed up", message.message_id, signup.name);
            Ok(())
        })
        .run()
}
