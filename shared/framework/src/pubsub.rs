//! The typed payload of `google.cloud.pubsub.topic.v1.messagePublished` CloudEvents.
//!
//! Eventarc sends some fields twice, camelCase and snake_case; both spellings are accepted,
//! alone or together.

use std::{collections::BTreeMap, fmt};

use base64::Engine;
use chrono::{DateTime, Utc};
use cloudevents::{event::Data, AttributesReader, Event, EventBuilder, EventBuilderV10};
use serde::{Deserialize, Deserializer};

pub use crate::event_types::MESSAGE_PUBLISHED;

/// A Pub/Sub message as delivered, its data decoded from base64.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(from = "WirePublished")]
pub struct MessagePublishedData {
    /// The message.
    pub message: PubsubMessage,
    /// The subscription that delivered it (`projects/P/subscriptions/S`), when given.
    pub subscription: Option<String>,
}

/// One Pub/Sub message. Field names are read in camelCase (Eventarc, push) and snake_case
/// (the conformance suite, legacy events) alike.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "WireMessage")]
pub struct PubsubMessage {
    /// The data, decoded from base64.
    pub data: Vec<u8>,
    /// The attributes, possibly none.
    pub attributes: BTreeMap<String, String>,
    /// The id Pub/Sub gave the message; a redelivery keeps it.
    pub message_id: String,
    /// When Pub/Sub accepted it; a redelivery keeps it. `None` when absent or unusable (empty,
    /// not a string, not RFC 3339): a sender's bad timestamp does not make the message bad.
    pub publish_time: Option<DateTime<Utc>>,
    /// The ordering key, for ordered delivery.
    pub ordering_key: Option<String>,
    /// How many times delivery was attempted, when the subscription has a dead-letter policy.
    pub delivery_attempt: Option<u32>,
}

/// Why an event's data is not a Pub/Sub message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayloadError {
    /// The event is of another type.
    WrongType(String),
    /// The event carries no data.
    Missing,
    /// The data is not the JSON shape of a Pub/Sub message (the reason says where).
    Malformed(String),
    /// The message's own data is not what the function takes (the reason says why).
    Undecodable(String),
}

impl std::fmt::Display for PayloadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::WrongType(t) => write!(f, "event type {t:?} is not {MESSAGE_PUBLISHED}"),
            Self::Missing => f.write_str("the event has no data"),
            Self::Malformed(why) => write!(f, "the event data is not a Pub/Sub message: {why}"),
            Self::Undecodable(why) => write!(f, "the message's data cannot be read: {why}"),
        }
    }
}

impl std::error::Error for PayloadError {}

impl PubsubMessage {
    /// A message of `data`, with no attributes, published now: what a test publishes.
    pub fn new(message_id: impl Into<String>, data: impl Into<Vec<u8>>) -> Self {
        Self {
            data: data.into(),
            attributes: BTreeMap::new(),
            message_id: message_id.into(),
            publish_time: Some(Utc::now()),
            ordering_key: None,
            delivery_attempt: None,
        }
    }

    /// The `messagePublished` CloudEvent Eventarc delivers for this message published to
    /// `topic` (`projects/P/topics/T`): what a test passes to
    /// [`Function::call_event`](crate::Function::call_event).
    pub fn to_event(&self, topic: &str) -> Result<Event, cloudevents::event::EventBuilderError> {
        let mut message = serde_json::json!({
            "data": base64::engine::general_purpose::STANDARD.encode(&self.data),
            "attributes": self.attributes,
            "messageId": self.message_id,
        });
        if let Some(time) = self.publish_time {
            message["publishTime"] = time.to_rfc3339().into();
        }
        if let Some(key) = &self.ordering_key {
            message["orderingKey"] = key.as_str().into();
        }
        let mut data = serde_json::json!({ "message": message });
        if let Some(attempt) = self.delivery_attempt {
            data["deliveryAttempt"] = attempt.into();
        }
        let mut event = EventBuilderV10::new()
            .id(&self.message_id)
            .source(format!("//pubsub.googleapis.com/{topic}"))
            .ty(MESSAGE_PUBLISHED);
        if let Some(time) = self.publish_time {
            event = event.time(time);
        }
        event.data("application/json", data).build()
    }

    /// The data as UTF-8 text.
    pub fn text(&self) -> Result<&str, PayloadError> {
        std::str::from_utf8(&self.data).map_err(|e| {
            PayloadError::Undecodable(format!("message {} is not UTF-8: {e}", self.message_id))
        })
    }

    /// The data as JSON of type `T`; data of more JSON values than the framework's budget
    /// ([`MAX_JSON_VALUES`](crate::event::MAX_JSON_VALUES)) is refused before it is parsed.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, PayloadError> {
        crate::json_budget::within_json_budget(&self.data)
            .map_err(|e| PayloadError::Undecodable(format!("message {}: {e}", self.message_id)))?;
        serde_json::from_slice(&self.data)
            .map_err(|e| PayloadError::Undecodable(format!("message {}: {e}", self.message_id)))
    }
}

impl MessagePublishedData {
    /// Reads the message out of a `messagePublished` event.
    pub fn from_event(event: &Event) -> Result<Self, PayloadError> {
        if event.ty() != MESSAGE_PUBLISHED {
            return Err(PayloadError::WrongType(event.ty().to_owned()));
        }
        let parsed = match event.data() {
            None => return Err(PayloadError::Missing),
            Some(Data::Json(value)) => Self::deserialize(value),
            Some(Data::Binary(bytes)) => serde_json::from_slice(bytes),
            Some(Data::String(text)) => serde_json::from_str(text),
        };
        parsed.map_err(|e| PayloadError::Malformed(e.to_string()))
    }
}

/// The event data as it is on the wire. Push deliveries put `deliveryAttempt` beside the
/// message, not in it; read in the same pass, it costs no second parse of the body.
#[derive(Deserialize)]
struct WirePublished {
    message: PubsubMessage,
    #[serde(default)]
    subscription: Option<String>,
    #[serde(default, rename = "deliveryAttempt")]
    delivery_attempt: Option<serde_json::Value>,
    #[serde(default, rename = "delivery_attempt")]
    delivery_attempt_snake: Option<serde_json::Value>,
}

impl From<WirePublished> for MessagePublishedData {
    fn from(wire: WirePublished) -> Self {
        // Only a count; anything else there is ignored rather than failing the message.
        let beside = wire
            .delivery_attempt
            .or(wire.delivery_attempt_snake)
            .and_then(|v| v.as_u64())
            .and_then(|n| u32::try_from(n).ok());
        let mut message = wire.message;
        message.delivery_attempt = message.delivery_attempt.or(beside);
        Self {
            message,
            subscription: wire.subscription,
        }
    }
}

/// The message as it is on the wire, both spellings side by side.
#[derive(Deserialize)]
struct WireMessage {
    #[serde(default)]
    data: Option<Base64Data>,
    #[serde(default)]
    attributes: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "messageId")]
    message_id: Option<String>,
    #[serde(default, rename = "message_id")]
    message_id_snake: Option<String>,
    #[serde(default, rename = "publishTime")]
    publish_time: Option<serde_json::Value>,
    #[serde(default, rename = "publish_time")]
    publish_time_snake: Option<serde_json::Value>,
    #[serde(default, rename = "orderingKey")]
    ordering_key: Option<String>,
    #[serde(default, rename = "ordering_key")]
    ordering_key_snake: Option<String>,
    #[serde(default, rename = "deliveryAttempt")]
    delivery_attempt: Option<u32>,
    #[serde(default, rename = "delivery_attempt")]
    delivery_attempt_snake: Option<u32>,
}

/// A message's id and publish time, read without decoding (or even looking at) its data: what
/// names a raw push body as a CloudEvent before any handler decides what the data is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageIdentity {
    /// `messageId` (or `message_id`), never empty.
    pub message_id: String,
    /// `publishTime` (or `publish_time`), when given and usable (see
    /// [`PubsubMessage::publish_time`]).
    pub publish_time: Option<DateTime<Utc>>,
}

/// Why a message's id cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityError {
    /// No non-empty string id.
    MissingId,
}

impl fmt::Display for IdentityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::MissingId => f.write_str("message.messageId is missing or not a string"),
        }
    }
}

/// The first of the two spellings that holds an RFC 3339 time; anything else (absent, empty,
/// a number, a malformed string) counts as no publish time.
fn usable_time(
    camel: Option<serde_json::Value>,
    snake: Option<serde_json::Value>,
) -> Option<DateTime<Utc>> {
    [camel, snake].into_iter().flatten().find_map(|value| {
        let text = value.as_str()?;
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| time.with_timezone(&Utc))
    })
}

impl std::error::Error for IdentityError {}

/// The identity fields as they are on the wire, both spellings side by side, any JSON type.
#[derive(Deserialize)]
struct WireIdentity {
    #[serde(default, rename = "messageId")]
    message_id: Option<serde_json::Value>,
    #[serde(default, rename = "message_id")]
    message_id_snake: Option<serde_json::Value>,
    #[serde(default, rename = "publishTime")]
    publish_time: Option<serde_json::Value>,
    #[serde(default, rename = "publish_time")]
    publish_time_snake: Option<serde_json::Value>,
}

impl MessageIdentity {
    /// Reads the id and publish time of `message`, a Pub/Sub message object.
    pub fn read(message: &serde_json::Value) -> Result<Self, IdentityError> {
        let wire = WireIdentity::deserialize(message).map_err(|_| IdentityError::MissingId)?;
        let text = |camel: Option<serde_json::Value>, snake: Option<serde_json::Value>| {
            [camel, snake]
                .into_iter()
                .flatten()
                .find_map(|v| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned))
        };
        let message_id =
            text(wire.message_id, wire.message_id_snake).ok_or(IdentityError::MissingId)?;
        Ok(Self {
            message_id,
            publish_time: usable_time(wire.publish_time, wire.publish_time_snake),
        })
    }
}

/// A Pub/Sub message without its id, which every delivery must carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingMessageId;

impl fmt::Display for MissingMessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("message.messageId is missing")
    }
}

impl std::error::Error for MissingMessageId {}

impl TryFrom<WireMessage> for PubsubMessage {
    type Error = MissingMessageId;

    fn try_from(wire: WireMessage) -> Result<Self, Self::Error> {
        Ok(Self {
            data: wire.data.map(|d| d.0).unwrap_or_default(),
            attributes: wire.attributes.unwrap_or_default(),
            message_id: wire
                .message_id
                .or(wire.message_id_snake)
                .ok_or(MissingMessageId)?,
            publish_time: usable_time(wire.publish_time, wire.publish_time_snake),
            ordering_key: wire
                .ordering_key
                .or(wire.ordering_key_snake)
                .filter(|k| !k.is_empty()),
            delivery_attempt: wire.delivery_attempt.or(wire.delivery_attempt_snake),
        })
    }
}

/// Bytes carried as standard base64 text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Base64Data(pub Vec<u8>);

impl<'de> Deserialize<'de> for Base64Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(Base64Data)
            .map_err(|e| serde::de::Error::custom(format!("message.data is not base64: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};
    use serde_json::json;

    fn event(data: serde_json::Value) -> Event {
        EventBuilderV10::new()
            .id("1")
            .source("//pubsub.googleapis.com/projects/p/topics/t")
            .ty(MESSAGE_PUBLISHED)
            .data("application/json", data)
            .build()
            .unwrap()
    }

    #[test]
    fn decodes_eventarc_payload_with_both_spellings() {
        let e = event(json!({
            "message": {
                "data": "aGVsbG8=",
                "attributes": {"k": "v"},
                "messageId": "42", "message_id": "42",
                "publishTime": "2024-01-02T03:04:05.678Z", "publish_time": "2024-01-02T03:04:05.678Z",
                "orderingKey": "o"
            },
            "subscription": "projects/p/subscriptions/s"
        }));
        let d = MessagePublishedData::from_event(&e).unwrap();
        assert_eq!(d.message.data, b"hello");
        assert_eq!(d.message.attributes["k"], "v");
        assert_eq!(d.message.message_id, "42");
        assert_eq!(
            d.message.publish_time.unwrap().to_rfc3339(),
            "2024-01-02T03:04:05.678+00:00"
        );
        assert_eq!(d.message.ordering_key.as_deref(), Some("o"));
        assert_eq!(
            d.subscription.as_deref(),
            Some("projects/p/subscriptions/s")
        );
    }

    #[test]
    fn decodes_snake_case_only_and_delivery_attempt_beside_the_message() {
        let e = event(json!({"message": {"message_id": "7", "data": ""}, "deliveryAttempt": 3}));
        let d = MessagePublishedData::from_event(&e).unwrap();
        assert_eq!(d.message.message_id, "7");
        assert!(d.message.data.is_empty());
        assert_eq!(d.message.delivery_attempt, Some(3));
        // The message's own count wins; one that is not a count is ignored, not fatal.
        let e = event(
            json!({"message": {"messageId": "8", "deliveryAttempt": 2}, "delivery_attempt": 5}),
        );
        let d = MessagePublishedData::from_event(&e).unwrap();
        assert_eq!(d.message.delivery_attempt, Some(2));
        let e = event(json!({"message": {"messageId": "9"}, "deliveryAttempt": "soon"}));
        let d = MessagePublishedData::from_event(&e).unwrap();
        assert_eq!(d.message.delivery_attempt, None);
    }

    #[test]
    fn explains_what_is_wrong() {
        let not_base64 = event(json!({"message": {"messageId": "1", "data": "%%%"}}));
        let e = MessagePublishedData::from_event(&not_base64).unwrap_err();
        assert!(e.to_string().contains("not base64"), "{e}");
        let no_id = event(json!({"message": {"data": "aGk="}}));
        let e = MessagePublishedData::from_event(&no_id).unwrap_err();
        assert!(e.to_string().contains("messageId"), "{e}");
        let other = EventBuilderV10::new()
            .id("1")
            .source("s")
            .ty("other")
            .build()
            .unwrap();
        assert_eq!(
            MessagePublishedData::from_event(&other),
            Err(PayloadError::WrongType("other".into()))
        );
    }
}
