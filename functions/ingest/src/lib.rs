//! The ingest function: a CloudEvent function for Pub/Sub's `messagePublished` events that
//! stores the user each message carries.
//!
//! - Pub/Sub delivers at least once; a message id already processed changes nothing.
//! - A message that can never succeed is answered 2xx (so it is not redelivered forever),
//!   kept in `dead_letters` with the reason, and logged at ERROR.
//! - A transient failure is answered 503, so Pub/Sub redelivers it later.
//! - A 2xx is sent only once the row is committed.

mod delivery_key;
mod handler;
mod housekeeping;
mod message;
mod replay;
mod settings;
mod tally;
#[cfg(feature = "test-support")]
pub mod testing;

use std::sync::Arc;

use shared::{
    db::{Database, UserWriter},
    framework::{Function, FunctionError},
};

use housekeeping::Housekeeping;
pub use message::{parse_user, InvalidUser, UserMessage};
pub use replay::{replay, Replayed};
pub use settings::Settings;
use tally::{Outcome, Tally};

/// What every delivery shares.
struct Ingest {
    writer: UserWriter,
    database: Database,
    tally: Arc<Tally>,
}

/// The function, writing through `database`.
pub fn function(database: Database, settings: Settings) -> Function {
    let stateful = Function::with_state(Ingest {
        writer: UserWriter::new(database.clone()),
        database,
        tally: Arc::new(Tally::default()),
    });
    let ingest = stateful.state();
    let housekeeping = Arc::new(Housekeeping::default());
    stateful
        .cloudevent(|ingest, event| async move {
            let result = handler::ingest(event, &ingest.writer, &ingest.database).await;
            ingest.tally.count(match &result {
                Ok(outcome) => *outcome,
                Err(FunctionError::Discarded { .. }) => Outcome::DeadLettered,
                Err(_) => Outcome::Retried,
            });
            result.map(drop)
        })
        .warm_up(move || {
            // The periodic summary line and the pruning of old delivery keys run beside serving.
            ingest
                .tally
                .summarize(&ingest.writer, settings.summary_every);
            housekeeping.start(&ingest.database, settings.retention, settings.prune_every);
            // What the first delivery would wait for (a connection, the schema check, the
            // prepared statement), done at start instead.
            let database = ingest.database.clone();
            shared::warn_if_not_ready(async move { database.prepare_writes().await })
        })
}
