//! The `event` signature: legacy background functions get `(data, context)`. A legacy body is
//! taken as it is; a CloudEvent is converted back, by the reverse of the mapping in
//! [`super::legacy`] (functions-framework-conformance, docs/mapping.md, and its test data for
//! what that document leaves open).

use chrono::SecondsFormat;
use cloudevents::{event::Data, AttributesReader, Event};
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::{bad, legacy};
use crate::{error::FunctionError, event_types::MESSAGE_PUBLISHED};

/// What a background function learns about the event beside its data, as Cloud Functions'
/// `event` signature gives it. Serializes to the contract's camelCase names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventContext {
    /// A unique id; a redelivery keeps it.
    pub event_id: String,
    /// When the event happened (RFC 3339), when the sender said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<String>,
    /// The legacy event type, such as `google.pubsub.topic.publish`.
    pub event_type: String,
    /// What emitted it: a resource name (`projects/_/buckets/b/objects/o`), or for Pub/Sub
    /// and Cloud Storage an object with `service`, `name` and `type`, as the legacy events of
    /// each service have it.
    pub resource: Value,
}

const PUBSUB_MESSAGE_TYPE: &str = "type.googleapis.com/google.pubsub.v1.PubsubMessage";

/// A legacy body's data and context, as sent (the context may be nested or at the top).
pub(super) fn from_legacy(
    mut body: Map<String, Value>,
) -> Result<(Value, EventContext), FunctionError> {
    let data = body.remove("data").unwrap_or(Value::Null);
    let mut context = match body.remove("context") {
        Some(Value::Object(context)) => context,
        _ => Map::new(),
    };
    let mut field = |name: &str| context.remove(name).or_else(|| body.remove(name));
    let string = |value: Option<Value>, name: &str| match value {
        Some(Value::String(text)) => Ok(text),
        Some(_) => Err(bad(format!("legacy event: {name} must be a string"))),
        None => Err(bad(format!("legacy event: {name} is missing"))),
    };
    let event_id = string(field("eventId"), "eventId")?;
    let event_type = string(field("eventType"), "eventType")?;
    let timestamp = field("timestamp")
        .map(|t| string(Some(t), "timestamp"))
        .transpose()?;
    let resource = field("resource").ok_or_else(|| bad("legacy event: resource is missing"))?;
    Ok((
        data,
        EventContext {
            event_id,
            timestamp,
            event_type,
            resource,
        },
    ))
}

/// A CloudEvent's data and context as a background function would have had them.
pub(super) fn from_cloudevent(event: Event) -> Result<(Value, EventContext), FunctionError> {
    let (service, path) = event
        .source()
        .as_str()
        .strip_prefix("//")
        .and_then(|rest| rest.split_once('/'))
        .map(|(service, path)| (service.to_owned(), path.to_owned()))
        .unwrap_or_else(|| (String::new(), event.source().to_string()));
    let subject = event.subject().map(str::to_owned);
    let event_type = legacy::legacy_type(event.ty())
        .unwrap_or(event.ty())
        .to_owned();
    let context = |resource| EventContext {
        event_id: event.id().to_owned(),
        timestamp: event
            .time()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
        event_type: event_type.clone(),
        resource,
    };
    let joined = |path: &str| match &subject {
        Some(subject) => format!("{path}/{subject}"),
        None => path.to_owned(),
    };
    let data = data_of(&event)?;
    Ok(match service.as_str() {
        "pubsub.googleapis.com" => (
            pubsub_message(data, event.ty())?,
            context(json!({"service": service, "name": path, "type": PUBSUB_MESSAGE_TYPE})),
        ),
        "storage.googleapis.com" => {
            let kind = data
                .get("kind")
                .and_then(Value::as_str)
                .unwrap_or("storage#object")
                .to_owned();
            let resource = json!({"service": service, "name": joined(&path), "type": kind});
            (data, context(resource))
        }
        "firebasedatabase.googleapis.com" => {
            // The legacy name has no location: projects/_/instances/I/refs/...
            let without_location = match path.split('/').collect::<Vec<_>>().as_slice() {
                ["projects", project, "locations", _, rest @ ..] => {
                    format!("projects/{project}/{}", rest.join("/"))
                }
                _ => path.clone(),
            };
            (data, context(Value::String(joined(&without_location))))
        }
        "firebaseauth.googleapis.com" => (
            legacy_auth_metadata(data),
            context(Value::String(path.clone())),
        ),
        "firebaseanalytics.googleapis.com" => {
            // projects/P/apps/A with subject events/E was projects/P/events/E.
            let project = path.split("/apps/").next().unwrap_or(&path).to_owned();
            (data, context(Value::String(joined(&project))))
        }
        _ => (data, context(Value::String(joined(&path)))),
    })
}

/// The event's data as JSON: JSON data as it is, text as a string, other bytes as base64. Data
/// said to be JSON must parse; data of no stated type is JSON when it parses.
fn data_of(event: &Event) -> Result<Value, FunctionError> {
    let stated = event.datacontenttype();
    let json = stated.is_some_and(|t| t.starts_with("application/json") || t.contains("+json"));
    let bytes: &[u8] = match event.data() {
        None => return Ok(Value::Null),
        Some(Data::Json(value)) => return Ok(value.clone()),
        Some(Data::String(text)) => text.as_bytes(),
        Some(Data::Binary(bytes)) => bytes,
    };
    match serde_json::from_slice(bytes) {
        Ok(value) if json || stated.is_none() => Ok(value),
        Err(e) if json => Err(bad(format!("the event's JSON data does not parse: {e}"))),
        _ => Ok(match std::str::from_utf8(bytes) {
            Ok(text) if is_text(event) => Value::String(text.to_owned()),
            _ => {
                use base64::Engine;
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes))
            }
        }),
    }
}

fn is_text(event: &Event) -> bool {
    matches!(event.data(), Some(Data::String(_)))
        || event
            .datacontenttype()
            .is_some_and(|t| t.starts_with("text/"))
}

/// A background Pub/Sub function gets the message itself, without the id and publish time
/// its context already holds.
fn pubsub_message(data: Value, ce_type: &str) -> Result<Value, FunctionError> {
    match data {
        Value::Object(mut published) if ce_type == MESSAGE_PUBLISHED => {
            let Some(Value::Object(mut message)) = published.remove("message") else {
                return Err(bad(
                    "a messagePublished event's data must hold a message object",
                ));
            };
            for name in ["messageId", "message_id", "publishTime", "publish_time"] {
                message.remove(name);
            }
            Ok(Value::Object(message))
        }
        other => Ok(other),
    }
}

/// Firebase Auth's legacy events name two metadata timestamps as they were before CloudEvents.
fn legacy_auth_metadata(mut data: Value) -> Value {
    if let Some(metadata) = data.get_mut("metadata").and_then(Value::as_object_mut) {
        for (from, to) in [
            ("createTime", "createdAt"),
            ("lastSignInTime", "lastSignedInAt"),
        ] {
            if let Some(value) = metadata.remove(from) {
                metadata.insert(to.into(), value);
            }
        }
    }
    data
}
