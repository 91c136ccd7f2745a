//! One delivery: decode, validate, write, or keep as a dead letter.

use chrono::{DateTime, SecondsFormat, Utc};
use cloudevents::{event::Data, AttributesReader, Event};
use shared::{
    db::{
        storable_key, Database, DbError, DbErrorKind, DeadLetter, NewUser, UserWriter,
        WriteOutcome, NUL_STAND_IN,
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
    let message = match MessagePublishedData::from_event(&event) {
        Ok(published) => published.message,
        Err(e) => return dead_letter(database, unreadable(&event, e.to_string())).await,
    };
    // The event's own copy of the data (up to ~14 MB) is not needed past this point.
    drop(event);
    let key = delivery_key(&message.message_id, message.publish_time);
    let user = match parse_user(&message.data) {
        Ok(user) => user,
        Err(reason) => return dead_letter(database, kept(key, message, reason)).await,
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
            log::debug!("message {}: stored user {user_id}", storable_key(&key));
            Ok(Outcome::Stored)
        }
        Ok(WriteOutcome::AlreadyProcessed) => {
            log::debug!(
                "message {}: processed before, nothing to do",
                storable_key(&key)
            );
            Ok(Outcome::Redelivered)
        }
        Ok(WriteOutcome::HeldElsewhere { user_id }) => Err(DbError::busy(format!(
            "message {}: user {user_id} is held by another database session; asking for a redelivery",
            storable_key(&key)
        ))
        .into()),
        Err(e) if e.kind == DbErrorKind::Rejected => {
            // The details (constraint, SQLSTATE) are for the operator: the log and the dead
            // letter keep them; the reply only says what happened.
            log::error!(
                "message {}: the database refused the row: {e}",
                storable_key(&key)
            );
            let letter = kept(key, message, format!("the database refused the row: {e}"));
            keep(
                database,
                &letter,
                "the database refused the row; the log and the dead letter say why",
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

/// What makes a message the same message: its id and its publish time. Pub/Sub ids are
/// unique per topic, but the emulator numbers them from 1 again after every restart; the
/// publish time, which a redelivery keeps, tells a reused id apart.
fn delivery_key(message_id: &str, publish_time: Option<DateTime<Utc>>) -> String {
    match publish_time {
        Some(time) => format!(
            "{message_id}@{}",
            time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ),
        None => message_id.to_owned(),
    }
}

/// Keeps the message and acknowledges it; if it cannot be kept now, asks for a redelivery so
/// that nothing is lost.
async fn dead_letter(database: &Database, letter: DeadLetter) -> Result<Outcome, FunctionError> {
    keep(database, &letter, &letter.reason).await
}

/// Keeps the letter, and answers with `shown` as the reason.
async fn keep(
    database: &Database,
    letter: &DeadLetter,
    shown: &str,
) -> Result<Outcome, FunctionError> {
    database.record_dead_letter(letter).await?;
    Err(FunctionError::Discarded {
        reason: format!(
            "message {}: {}",
            storable_key(&letter.delivery_key),
            clipped(shown)
        ),
    })
}

/// Most characters of a reason that a reply or a log line repeats: a sender's 300 KB event
/// type is kept whole in the dead letter, not echoed.
const REASON_SHOWN: usize = 300;

fn clipped(reason: &str) -> String {
    match reason.char_indices().nth(REASON_SHOWN) {
        Some((end, _)) => format!("{}… ({} bytes in all)", &reason[..end], reason.len()),
        None => reason.to_owned(),
    }
    .replace('\0', &NUL_STAND_IN.to_string())
}

/// A dead letter for a Pub/Sub message whose data cannot be stored.
fn kept(delivery_key: String, message: PubsubMessage, reason: String) -> DeadLetter {
    DeadLetter {
        delivery_key,
        attributes: serde_json::to_value(&message.attributes).unwrap_or_default(),
        message_id: message.message_id,
        publish_time: message.publish_time,
        payload: message.data,
        reason,
    }
}

/// A dead letter for an event whose data is not a Pub/Sub message at all: keep all of it.
fn unreadable(event: &Event, reason: String) -> DeadLetter {
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
        delivery_key: delivery_key(event.id(), time),
        message_id: event.id().to_owned(),
        publish_time: time,
        payload,
        attributes,
        reason,
    }
}
