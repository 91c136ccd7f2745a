//! Replaying a dead letter after a fix: the kept message is delivered again through the very
//! path a Pub/Sub delivery takes (decode, validate, exactly-once write), under the key it was
//! kept with, so a replay and any late redelivery of the original count as one message.

use base64::Engine;
use cloudevents::{EventBuilder, EventBuilderV10};
use serde_json::json;
use shared::{
    db::{Database, KeptLetter, UserWriter},
    framework::FunctionError,
    function_error,
    pubsub::MESSAGE_PUBLISHED,
};

use crate::{
    handler::{process, Failure},
    tally::Outcome,
};

/// What replaying one letter did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Replayed {
    /// The message took effect now; the letter is removed.
    Stored,
    /// It had taken effect before (an earlier replay, say): the letter is removed.
    AlreadyStored,
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
) -> Result<Replayed, FunctionError> {
    let Some(kept) = database.dead_letter(id).await.map_err(function_error)? else {
        return Ok(Replayed::NotFound);
    };
    let key = kept.letter.delivery_key.clone();
    match process(delivery(&kept)?, Some(key), writer).await {
        Ok(outcome) => {
            database
                .remove_dead_letter(id)
                .await
                .map_err(function_error)?;
            Ok(match outcome {
                Outcome::Redelivered => Replayed::AlreadyStored,
                _ => Replayed::Stored,
            })
        }
        Err(Failure::Permanent { letter, .. }) => {
            database
                .mark_replay_failed(id, &letter.reason)
                .await
                .map_err(function_error)?;
            Ok(Replayed::FailedAgain {
                reason: letter.reason,
            })
        }
        Err(Failure::Retry(error)) => Err(error),
    }
}

/// The event Eventarc would deliver for the kept message; for a letter kept from an event that
/// was not a Pub/Sub message, that event again.
fn delivery(kept: &KeptLetter) -> Result<cloudevents::Event, FunctionError> {
    let letter = &kept.letter;
    let data: cloudevents::Data = match &letter.event_type {
        Some(_) => cloudevents::Data::Binary(letter.payload.clone()),
        None => cloudevents::Data::Json(json!({
            "message": {
                "data": base64::engine::general_purpose::STANDARD.encode(&letter.payload),
                "attributes": letter.attributes,
                "messageId": letter.message_id,
                "publishTime": letter.publish_time,
            },
            "subscription": "dead-letters-replay",
        })),
    };
    let mut event = EventBuilderV10::new()
        .id(letter.message_id.as_str())
        .source("urn:pipeline:dead-letters:replay")
        .ty(letter.event_type.as_deref().unwrap_or(MESSAGE_PUBLISHED))
        .data("application/json", data);
    if let Some(time) = letter.publish_time {
        event = event.time(time);
    }
    event.build().map_err(|e| {
        FunctionError::Internal(format!("cannot rebuild dead letter {}: {e}", kept.id))
    })
}
