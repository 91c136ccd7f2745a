//! Turns a delivery into a CloudEvent, whatever form it came in: binary or structured
//! CloudEvents (decoded by the CloudEvents SDK), legacy Cloud Functions events, or raw Pub/Sub
//! push bodies; or, for a background function, into the legacy `(data, context)`.

mod background;
mod json_keys;
mod legacy;
mod percent;
mod push;

use cloudevents::{binding::http::to_event, Event};
use http::{header, HeaderMap};
use serde_json::{Map, Value};

use super::error::FunctionError;

pub use crate::json_budget::MAX_JSON_VALUES;
pub use background::EventContext;

const SPEC_VERSION_HEADER: &str = "ce-specversion";

/// Decodes one request into the event it carries. `path` is the request path, which for a
/// Pub/Sub push names the topic.
pub fn decode(headers: &HeaderMap, path: &str, body: Vec<u8>) -> Result<Event, FunctionError> {
    match read(headers, path, body)? {
        Delivery::CloudEvent(event) => Ok(event),
        Delivery::Legacy(object) => legacy::to_cloudevent(object),
    }
}

/// Decodes one request into what a background (`event`) function gets: a legacy event as it
/// came, anything else converted from its CloudEvent.
pub fn decode_background(
    headers: &HeaderMap,
    path: &str,
    body: Vec<u8>,
) -> Result<(Value, EventContext), FunctionError> {
    match read(headers, path, body)? {
        Delivery::CloudEvent(event) => background::from_cloudevent(event),
        Delivery::Legacy(object) => background::from_legacy(object),
    }
}

/// A delivery, before it is converted to what the function takes. It lives for one call and
/// moves once: boxing the event would cost an allocation per delivery for nothing.
#[allow(clippy::large_enum_variant)]
enum Delivery {
    CloudEvent(Event),
    Legacy(Map<String, Value>),
}

fn read(headers: &HeaderMap, path: &str, body: Vec<u8>) -> Result<Delivery, FunctionError> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if content_type.starts_with("application/cloudevents-batch+json") {
        return Err(bad(
            "batched CloudEvents are not supported; send one event per request",
        ));
    }
    if content_type.starts_with("application/cloudevents+json") {
        within_json_budget(&body)?;
        each_key_once(&body)?;
        return sdk_decode(headers, body, "structured-mode CloudEvent").map(Delivery::CloudEvent);
    }
    if headers.contains_key(SPEC_VERSION_HEADER) {
        single_valued_attributes(headers)?;
        // The SDK parses JSON data into a tree; other data stays bytes.
        if content_type.is_empty() || content_type.contains("json") {
            within_json_budget(&body)?;
        }
        let event = sdk_decode(headers, body, "binary-mode CloudEvent")?;
        return percent::decode_attributes(headers, event)
            .map(Delivery::CloudEvent)
            .map_err(|e| bad(format!("invalid binary-mode CloudEvent: {e}")));
    }
    within_json_budget(&body)?;
    each_key_once(&body)?;
    let object = parse_object(&body)?;
    if legacy::is_legacy(&object) {
        Ok(Delivery::Legacy(object))
    } else if push::is_push(&object) {
        push::to_cloudevent(object, path).map(Delivery::CloudEvent)
    } else {
        Err(bad(
            "not a CloudEvent: expected ce-* headers, a structured CloudEvent \
             (application/cloudevents+json), a legacy event or a Pub/Sub push body",
        ))
    }
}

/// The HTTP binding gives each attribute one header. With two, which one counts would be an
/// accident of the decoder (the SDK keeps the last), so a sender could make a proxy and this
/// function read different events from the same request: refuse instead.
fn single_valued_attributes(headers: &HeaderMap) -> Result<(), FunctionError> {
    match headers.keys().find(|name| {
        name.as_str().starts_with("ce-") && headers.get_all(*name).iter().nth(1).is_some()
    }) {
        Some(name) => Err(bad(format!(
            "header {name} appears more than once; a CloudEvent attribute has one value"
        ))),
        None => Ok(()),
    }
}

/// Refuses a body of more than [`MAX_JSON_VALUES`] JSON values before it is parsed.
pub(crate) fn within_json_budget(body: &[u8]) -> Result<(), FunctionError> {
    crate::json_budget::within_json_budget(body).map_err(|e| bad(e.to_string()))
}

/// Refuses a body that the tree it is parsed into would read one way among several: an
/// object that gives a key twice (see [`json_keys`]). Binary-mode data is not parsed into a
/// tree here; the typed payloads that read it refuse a repeated field themselves.
fn each_key_once(body: &[u8]) -> Result<(), FunctionError> {
    match json_keys::repeated_key(body) {
        Some(why) => Err(bad(format!(
            "the JSON body is ambiguous: {why}; send each key of an object once"
        ))),
        None => Ok(()),
    }
}

fn sdk_decode(headers: &HeaderMap, body: Vec<u8>, form: &str) -> Result<Event, FunctionError> {
    to_event(headers, body).map_err(|e| bad(format!("invalid {form}: {e}")))
}

fn parse_object(body: &[u8]) -> Result<Map<String, Value>, FunctionError> {
    match serde_json::from_slice(body) {
        Ok(Value::Object(object)) => Ok(object),
        Ok(_) => Err(bad("the body must be a JSON object")),
        Err(e) => Err(bad(format!("the body is not valid JSON: {e}"))),
    }
}

fn bad(message: impl Into<String>) -> FunctionError {
    FunctionError::BadRequest(message.into())
}
