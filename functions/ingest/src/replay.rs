//! Replaying a dead letter after a fix: the kept message is delivered again through the very
//! path a Pub/Sub delivery takes (decode, validate, exactly-once write), under the key it was
//! kept with, so a replay and any late redelivery of the original count as one message.

use shared::{
    db::{Database, DbError, DeadLetter, UserWriter},
    pubsub::{MessagePublishedData, PayloadError, PubsubMessage, MESSAGE_PUBLISHED},
};

use crate::{
    handler::{store, Failure},
    tally::Outcome,
};

/// What replaying one letter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// The message took effect now; the letter is removed.
    Stored,
    /// It had taken effect before (an earlier replay, say): the letter is removed.
    AlreadyStored,
    /// Its user holds a newer update (published after it): nothing changed, as a late
    /// delivery of it would change nothing; the letter is removed.
    Superseded,
    /// It still cannot succeed: the letter stays, with this new reason.
    FailedAgain { reason: String },
    /// There is no such letter (any more).
    NotFound,
}

/// Replays letter `id`. An error means nothing changed and trying again later may help
/// (the database is busy or unreachable).
pub async fn replay(
    id: i64,
    writer: &UserWriter,
    database: &Database,
) -> Result<Replayed, DbError> {
    let Some(kept) = database.dead_letter(id).await? else {
        return Ok(Replayed::NotFound);
    };
    let letter = kept.letter;
    let key = letter.delivery_key.clone();
    let stored = match kept_message(&letter) {
        Ok(message) => store(message, key, kept.received_at, writer).await,
        Err(reason) => {
            database.mark_replay_failed(id, &reason).await?;
            return Ok(Replayed::FailedAgain { reason });
        }
    };
    match stored {
        Ok(outcome) => {
            database.remove_dead_letter(id).await?;
            Ok(match outcome {
                Outcome::Redelivered => Replayed::AlreadyStored,
                Outcome::Superseded => Replayed::Superseded,
                _ => Replayed::Stored,
            })
        }
        Err(Failure::Permanent { letter, .. }) => {
            database.mark_replay_failed(id, &letter.reason).await?;
            Ok(Replayed::FailedAgain {
                reason: letter.reason,
            })
        }
        Err(Failure::Retry(error)) => Err(error),
    }
}

/// The Pub/Sub message a letter holds, or why it holds none: a letter of a Pub/Sub message
/// keeps its data and attributes as they came; a letter kept from an event that was not one
/// keeps the event's whole data, which is a message only if the event was a
/// `messagePublished` whose data now decodes.
fn kept_message(letter: &DeadLetter) -> Result<PubsubMessage, String> {
    match letter.event_type.as_deref() {
        None => Ok(PubsubMessage {
            data: letter.payload.clone(),
            attributes: serde_json::from_value(letter.attributes.clone()).unwrap_or_default(),
            message_id: letter.message_id.clone(),
            publish_time: letter.publish_time,
            ordering_key: None,
            delivery_attempt: None,
        }),
        Some(MESSAGE_PUBLISHED) => serde_json::from_slice::<MessagePublishedData>(&letter.payload)
            .map(|published| published.message)
            .map_err(|e| format!("the event's data is not a Pub/Sub message: {e}")),
        Some(other) => Err(PayloadError::WrongType(other.to_owned()).to_string()),
    }
}
