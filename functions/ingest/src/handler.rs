//! One delivery: decode, validate, write, or keep as a dead letter.

use chrono::{DateTime, SecondsFormat, Utc};
use cloudevents::{event::Data, AttributesReader, Event};
use shared::{
    db::{
        Database, DbError, DbErrorKind, DeadLetter, DeliveryKey, NewUser, UserWriter, WriteOutcome,
        NUL_STAND_IN,
    },
    framework::FunctionError,
    pubsub::{MessagePublishedData, PubsubMessage},
};

use crate::{message::parse_user, tally::Outcome};

/// Handles one delivery; on success, says whether it stored the message or had before.
pub(crate) async fn ingest(
    event: Event,
    writer: &UserWriter,
    database: &Database,
) -> Result<Outcome, FunctionError> {
    match process(event, None, writer).await {
        Ok(outcome) => Ok(outcome),
        Err(Failure::Retry(error)) => Err(error),
        Err(Failure::Permanent { letter, reply }) => {
            store_dead_letter(database, &letter, &reply).await
        }
    }
}

/// Why a delivery did not take effect.
pub(crate) enum Failure {
    /// It never can: store `letter` as a dead letter; the reply and the log say `reply`.
    Permanent { letter: DeadLetter, reply: String },
    /// Not now: ask for a redelivery.
    Retry(FunctionError),
}

impl From<DbError> for Failure {
    fn from(error: DbError) -> Self {
        Self::Retry(shared::function_error(error))
    }
}

/// Decodes, validates and writes one delivery, keeping nothing: what a delivery from Pub/Sub
/// and a replayed dead letter both go through. `kept_key`: the key a replayed letter was kept
/// under, which its replay claims (a publish time kept to the microsecond might not make the
/// same key again).
pub(crate) async fn process(
    event: Event,
    kept_key: Option<DeliveryKey>,
    writer: &UserWriter,
) -> Result<Outcome, Failure> {
    let permanent = |letter: DeadLetter| Failure::Permanent {
        reply: letter.reason.clone(),
        letter,
    };
    let message = match MessagePublishedData::from_event(&event) {
        Ok(published) => published.message,
        Err(e) => {
            return Err(permanent(dead_letter_for_event(
                &event,
                kept_key,
                e.to_string(),
            )))
        }
    };
    // The event's own copy of the data (up to ~14 MB) is not needed past this point.
    drop(event);
    let key = kept_key.unwrap_or_else(|| delivery_key(&message.message_id, message.publish_time));
    let user = match parse_user(&message.data) {
        Ok(user) => user,
        Err(invalid) => {
            return Err(permanent(dead_letter_for(
                key,
                message,
                invalid.to_string(),
            )))
        }
    };
    let new_user = NewUser {
        delivery_key: key.clone(),
        user_id: user.user_id,
        email: user.email,
        name: user.name,
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

/// What makes a message the same message: its id and its publish time. Pub/Sub ids are
/// unique per topic, but the emulator numbers them from 1 again after every restart; the
/// publish time, which a redelivery keeps, tells a reused id apart.
fn delivery_key(message_id: &str, publish_time: Option<DateTime<Utc>>) -> DeliveryKey {
    let raw = match publish_time {
        Some(time) => format!(
            "{message_id}@{}",
            time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ),
        None => message_id.to_owned(),
    };
    DeliveryKey::new(&raw)
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
fn dead_letter_for_event(
    event: &Event,
    kept_key: Option<DeliveryKey>,
    reason: String,
) -> DeadLetter {
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
    DeadLetter {
        delivery_key: kept_key.unwrap_or_else(|| delivery_key(event.id(), time)),
        message_id: event.id().to_owned(),
        publish_time: time,
        payload,
        attributes,
        reason,
        event_type: Some(event.ty().to_owned()),
    }
}
