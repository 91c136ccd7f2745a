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
mod tally;

use std::{sync::Arc, time::Duration};

use shared::{
    db::{Database, UserWriter},
    framework::{Function, FunctionError},
};

pub use message::{parse_user, UserMessage};
use tally::{Outcome, Tally};

/// What ingest is configured with besides the database.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `LOG_SUMMARY_SECS`, default 60: how often the INFO summary line (messages stored,
    /// redelivered, dead-lettered, retried; batches) is written when there was any work.
    pub summary_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            summary_every: Duration::from_secs(60),
        }
    }
}

impl Settings {
    pub fn from_env() -> Result<Self, String> {
        match std::env::var("LOG_SUMMARY_SECS") {
            Err(_) => Ok(Self::default()),
            Ok(value) => value
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .map(|n| Self {
                    summary_every: Duration::from_secs(n),
                })
                .ok_or_else(|| {
                    format!("LOG_SUMMARY_SECS must be a positive whole number, not {value:?}")
                }),
        }
    }
}

/// The function, writing through `database`.
pub fn function(database: Database, settings: Settings) -> Function {
    let writer = UserWriter::new(database.clone());
    let tally = Arc::new(Tally::default());
    Function::cloudevent(move |event| {
        let (writer, database, tally) = (writer.clone(), database.clone(), tally.clone());
        let every = settings.summary_every;
        async move {
            tally.summarize(&writer, every);
            let result = handler::ingest(event, &writer, &database).await;
            tally.count(match &result {
                Ok(outcome) => *outcome,
                Err(FunctionError::Discarded { .. }) => Outcome::DeadLettered,
                Err(_) => Outcome::Retried,
            });
            result.map(drop)
        }
    })
}
