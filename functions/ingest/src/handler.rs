//! One delivery: decode, validate, write, or keep as a dead letter.

use chrono::SecondsFormat;
use cloudevents::{event::Data, AttributesReader, Event};
use shared::{
    db::{Database, DbErrorKind, DeadLetter, NewUser, UserWriter, WriteOutcome},
    framework::FunctionError,
    pubsub::{MessagePublishedData, PubsubMessage},
};

use crate::message::parse_user;

pub(crate) async fn ingest(
    event: Event,
    writer: &UserWriter,
    database: &Database,
) -> Result<(), FunctionError> {
    let published = match MessagePublishedData::from_event(&event) {
        Ok(published) => published,
        Err(e) => return dead_letter(database, unreadable(&event, e.to_string())).await,
    };
    let message = published.message;
    let user = match parse_user(&message.data) {
        Ok(user) => user,
        Err(reason) => {
            let letter = DeadLetter {
                attributes: serde_json::to_value(&message.attributes).unwrap_or_default(),
                message_id: message.message_id,
                payload: message.data,
                reason,
            };
            return dead_letter(database, letter).await;
        }
    };
    let new_user = NewUser {
        message_id: delivery_key(&message),
        user_id: user.user_id,
        email: user.email,
        name: user.name,
    };
    match writer.write(new_user).await {
        Ok(WriteOutcome::Stored { user_id }) => {
            log::info!("message {}: stored user {user_id}", message.message_id);
            Ok(())
        }
        Ok(WriteOutcome::AlreadyProcessed) => {
            log::info!(
                "message {}: processed before, nothing to do",
                message.message_id
            );
            Ok(())
        }
        Err(e) if e.kind == DbErrorKind::Rejected => {
            let letter = DeadLetter {
                attributes: serde_json::to_value(&message.attributes).unwrap_or_default(),
                message_id: message.message_id,
                payload: message.data,
                reason: format!("the database refused the row: {e}"),
            };
            dead_letter(database, letter).await
        }
        Err(e) => Err(e.into()),
    }
}

/// What makes a message the same message. Pub/Sub message ids are unique per topic, but the
/// emulator numbers them from 1 again after every restart: the publish time, which a
/// redelivery keeps, tells a reused id apart.
fn delivery_key(message: &PubsubMessage) -> String {
    match message.publish_time {
        Some(time) => format!(
            "{}@{}",
            message.message_id,
            time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ),
        None => message.message_id.clone(),
    }
}

/// Keeps the message and acknowledges it; if it cannot be kept now, asks for a redelivery so
/// that nothing is lost.
async fn dead_letter(database: &Database, letter: DeadLetter) -> Result<(), FunctionError> {
    database.record_dead_letter(&letter).await?;
    Err(FunctionError::Discarded {
        reason: format!("message {}: {}", letter.message_id, letter.reason),
    })
}

/// A dead letter for an event whose data is not a Pub/Sub message at all: keep all of it.
fn unreadable(event: &Event, reason: String) -> DeadLetter {
    let payload = match event.data() {
        Some(Data::Binary(bytes)) => bytes.clone(),
        Some(Data::String(text)) => text.clone().into_bytes(),
        Some(Data::Json(value)) => value.to_string().into_bytes(),
        None => Vec::new(),
    };
    let attributes = match event.data() {
        Some(Data::Json(value)) => value.pointer("/message/attributes").cloned(),
        Some(Data::Binary(bytes)) => serde_json::from_slice::<serde_json::Value>(bytes)
            .ok()
            .and_then(|v| v.pointer("/message/attributes").cloned()),
        _ => None,
    }
    .filter(serde_json::Value::is_object)
    .unwrap_or_else(|| serde_json::json!({}));
    DeadLetter {
        message_id: event.id().to_owned(),
        payload,
        attributes,
        reason,
    }
}
