//! One delivery: decode, validate, write, or keep as a dead letter.

use chrono::{DateTime, TimeDelta, Utc};
use cloudevents::{event::Data, AttributesReader, Event};
use shared::{
    db::{
        Database, DbError, DbErrorKind, DeadLetter, DeliveryKey, NewUser, UserWriter, WriteOutcome,
        NUL_STAND_IN,
    },
    framework::FunctionError,
    pubsub::{MessagePublishedData, PubsubMessage},
};

use crate::{
    delivery_key::{blank_event_key, blank_id_key, delivery_key, is_blank},
    message::parse_user,
    tally::Outcome,
};

/// Handles one delivery; on success, says whether it stored the message or had before.
pub(crate) async fn ingest(
    event: Event,
    writer: &UserWriter,
    database: &Database,
) -> Result<Outcome, FunctionError> {
    match process(event, writer).await {
        Ok(outcome) => Ok(outcome),
        Err(Failure::Retry(error)) => Err(shared::function_error(error)),
        Err(Failure::Permanent { letter, reply }) => {
            store_dead_letter(database, &letter, &reply).await
        }
    }
}

/// Why a delivery did not take effect.
pub(crate) enum Failure {
    /// It never can: store `letter` as a dead letter; the reply and the log say `reply`.
    Permanent { letter: DeadLetter, reply: String },
    /// Not now (the database is unreachable, busy, or holds the row): ask for a redelivery.
    Retry(DbError),
}

impl From<DbError> for Failure {
    fn from(error: DbError) -> Self {
        Self::Retry(error)
    }
}

impl Failure {
    fn permanent(letter: DeadLetter) -> Self {
        Self::Permanent {
            reply: letter.reason.clone(),
            letter,
        }
    }
}

/// Decodes one delivery and stores its message: what Pub/Sub's deliveries go through.
async fn process(event: Event, writer: &UserWriter) -> Result<Outcome, Failure> {
    let received_at = Utc::now();
    let message = match MessagePublishedData::from_event(&event) {
        Ok(published) => published.message,
        Err(e) => {
            let letter = dead_letter_for_event(&event, e.to_string());
            return Err(Failure::permanent(letter));
        }
    };
    // The event's own copy of the data (up to ~14 MB) is not needed past this point.
    drop(event);
    let key = match is_blank(&message.message_id) {
        true => blank_id_key(&message),
        false => delivery_key(&message.message_id, message.publish_time),
    };
    store(message, key, received_at, writer).await
}

/// Validates and writes one decoded message under `key`, keeping nothing: the one entry that
/// a Pub/Sub delivery and a replayed dead letter (under the key it was kept with, so that a
/// replay and a late redelivery are one message) both go through. `received_at` is when
/// ingest first received it (for a letter, when it was kept).
pub(crate) async fn store(
    message: PubsubMessage,
    key: DeliveryKey,
    received_at: DateTime<Utc>,
    writer: &UserWriter,
) -> Result<Outcome, Failure> {
    if is_blank(&message.message_id) {
        let reason = "message.messageId is blank (empty or only whitespace): a redelivery of it \
                      could not be told from another message";
        let letter = dead_letter_for(key, message, reason.to_owned());
        return Err(Failure::permanent(letter));
    }
    let user = match parse_user(&message.data) {
        Ok(user) => user,
        Err(invalid) => {
            let letter = dead_letter_for(key, message, invalid.to_string());
            return Err(Failure::permanent(letter));
        }
    };
    let new_user = NewUser {
        delivery_key: key.clone(),
        user_id: user.user_id,
        email: user.email,
        name: user.name,
        published_at: update_time(message.publish_time, received_at),
    };
    match writer.write(new_user).await {
        // Counted, and summed up at INFO by the tally; one line each only at DEBUG.
        Ok(WriteOutcome::Stored { user_id }) => {
            log::debug!("message {key}: stored user {user_id}");
            Ok(Outcome::Stored)
        }
        Ok(WriteOutcome::AlreadyProcessed) => {
            log::debug!("message {key}: processed before, nothing to do");
            Ok(Outcome::Redelivered)
        }
        Ok(WriteOutcome::Superseded { user_id }) => {
            log::debug!("message {key}: user {user_id} holds a newer update; nothing changed");
            Ok(Outcome::Superseded)
        }
        Ok(WriteOutcome::HeldElsewhere { user_id }) => Err(DbError::busy(format!(
            "message {key}: user {user_id} is held by another database session; asking for a redelivery"
        ))
        .into()),
        Err(e) if *e.kind() == DbErrorKind::Rejected => {
            // The details (constraint, SQLSTATE) are for the operator: the log and the dead
            // letter keep them; the reply only says what happened.
            log::error!("message {key}: the database refused the row: {e}");
            Err(Failure::Permanent {
                letter: dead_letter_for(key, message, format!("the database refused the row: {e}")),
                reply: "the database refused the row; the log and the dead letter say why".into(),
            })
        }
        Err(e) => Err(e.into()),
    }
}

/// How far ahead of the moment a message was received its publish time may be, for clocks
/// that disagree by that much.
const CLOCK_SKEW: TimeDelta = TimeDelta::minutes(1);

/// What orders a message against the other updates of its user (the newest wins): its
/// publish time, or without one when it was received. A publish time past that moment (and
/// the clock skew) counts as that moment: a message cannot claim the future and so stand
/// against every later update.
fn update_time(publish_time: Option<DateTime<Utc>>, received_at: DateTime<Utc>) -> DateTime<Utc> {
    publish_time.map_or(received_at, |published| {
        published.min(received_at + CLOCK_SKEW)
    })
}

/// Stores the letter, and answers with `reply` as the reason.
async fn store_dead_letter(
    database: &Database,
    letter: &DeadLetter,
    reply: &str,
) -> Result<Outcome, FunctionError> {
    database
        .record_dead_letter(letter)
        .await
        .map_err(shared::function_error)?;
    Err(FunctionError::Discarded {
        reason: format!("message {}: {}", letter.delivery_key, clipped(reply)),
    })
}

/// What a reply or a log line repeats of a reason: a sender's 300 KB event type is kept whole
/// in the dead letter, not echoed.
fn clipped(reason: &str) -> String {
    shared::framework::error::clipped(reason).replace('\0', &NUL_STAND_IN.to_string())
}

/// A dead letter for a Pub/Sub message whose data cannot be stored.
fn dead_letter_for(
    delivery_key: DeliveryKey,
    message: PubsubMessage,
    reason: String,
) -> DeadLetter {
    DeadLetter {
        delivery_key,
        attributes: serde_json::to_value(&message.attributes).unwrap_or_default(),
        message_id: message.message_id,
        publish_time: message.publish_time,
        payload: message.data,
        reason,
        event_type: None,
    }
}

/// A dead letter for an event whose data is not a Pub/Sub message at all: keep all of it.
fn dead_letter_for_event(event: &Event, reason: String) -> DeadLetter {
    let payload = match event.data() {
        Some(Data::Binary(bytes)) => bytes.clone(),
        Some(Data::String(text)) => text.clone().into_bytes(),
        Some(Data::Json(value)) => value.to_string().into_bytes(),
        None => Vec::new(),
    };
    let attributes = serde_json::from_slice::<serde_json::Value>(&payload)
        .ok()
        .and_then(|v| v.pointer("/message/attributes").cloned())
        .filter(serde_json::Value::is_object)
        .unwrap_or_else(|| serde_json::json!({}));
    let time = event.time().copied();
    let delivery_key = match is_blank(event.id()) {
        true => blank_event_key(event.ty(), time, &payload),
        false => delivery_key(event.id(), time),
    };
    DeadLetter {
        delivery_key,
        message_id: event.id().to_owned(),
        publish_time: time,
        payload,
        attributes,
        reason,
        event_type: Some(event.ty().to_owned()),
    }
}
