//! The ingest function: a CloudEvent function for Pub/Sub's `messagePublished` events that
//! stores the user each message carries.
//!
//! - Pub/Sub delivers at least once; a message id already processed changes nothing.
//! - A message that can never succeed is answered 2xx (so it is not redelivered forever),
//!   kept in `dead_letters` with the reason, and logged at ERROR.
//! - A transient failure is answered 503, so Pub/Sub redelivers it later.
//! - A 2xx is sent only once the row is committed.

mod handler;
mod message;

use shared::{
    db::{Database, UserWriter},
    framework::Function,
};

pub use message::{parse_user, UserMessage};

/// The function, writing through `database`.
pub fn function(database: Database) -> Function {
    let writer = UserWriter::new(database.clone());
    Function::cloudevent(move |event| {
        let (writer, database) = (writer.clone(), database.clone());
        async move { handler::ingest(event, &writer, &database).await }
    })
}
