//! A CloudEvent's data as the type a function takes, in one call whatever form it came in.

use cloudevents::{event::Data, AttributesReader, Event};
use serde::de::DeserializeOwned;

/// Reads a CloudEvent's data as a typed value.
///
/// ```
/// use functions_framework::{prelude::*, cloudevents::{EventBuilder, EventBuilderV10}};
///
/// #[derive(serde::Deserialize)]
/// struct Upload { name: String }
///
/// let event = EventBuilderV10::new()
///     .id("1").source("//storage.googleapis.com/projects/_/buckets/b")
///     .ty("google.cloud.storage.object.v1.finalized")
///     .data("application/json", serde_json::json!({"name": "a.txt"}))
///     .build()?;
/// let upload: Upload = event.data_as()?;
/// assert_eq!(upload.name, "a.txt");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait EventExt {
    /// The data as a `T`, whether the SDK holds it as JSON, text or bytes; no data is read
    /// as JSON `null` (so an `Option` takes it). Bytes or text of more JSON values than the
    /// framework's budget ([`MAX_JSON_VALUES`](crate::event::MAX_JSON_VALUES)) are refused
    /// before they are parsed. `?` on the error answers 400 (see
    /// [`FunctionError`](crate::FunctionError)).
    fn data_as<T: DeserializeOwned>(&self) -> Result<T, DataError>;
}

impl EventExt for Event {
    fn data_as<T: DeserializeOwned>(&self) -> Result<T, DataError> {
        let parsed = match self.data() {
            None => T::deserialize(serde_json::Value::Null).map_err(|e| e.to_string()),
            Some(Data::Json(value)) => T::deserialize(value).map_err(|e| e.to_string()),
            Some(Data::String(text)) => parse(text.as_bytes()),
            Some(Data::Binary(bytes)) => parse(bytes),
        };
        parsed.map_err(|reason| DataError {
            event_id: self.id().to_owned(),
            event_type: self.ty().to_owned(),
            reason,
        })
    }
}

fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    crate::json_budget::within_json_budget(bytes).map_err(|e| e.to_string())?;
    serde_json::from_slice(bytes).map_err(|e| e.to_string())
}

/// A CloudEvent whose data is not the type asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError {
    /// The event's id.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// What serde said, or that the data holds too many values.
    pub reason: String,
}

impl std::fmt::Display for DataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "event {} ({}): its data is not what this function takes: {}",
            crate::error::clipped(&self.event_id),
            crate::error::clipped(&self.event_type),
            self.reason
        )
    }
}

impl std::error::Error for DataError {}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudevents::{EventBuilder, EventBuilderV10};
    use serde_json::json;

    #[derive(Debug, PartialEq, serde::Deserialize)]
    struct Named {
        name: String,
    }

    fn event(data: Option<Data>) -> Event {
        let mut event = EventBuilderV10::new()
            .id("e1")
            .source("s")
            .ty("t")
            .build()
            .unwrap();
        if let Some(data) = data {
            event.set_data("application/json", data);
        }
        event
    }

    #[test]
    fn every_form_of_data_reads_the_same() {
        let named = Named { name: "a".into() };
        let json = event(Some(Data::Json(json!({"name": "a"}))));
        let text = event(Some(Data::String(r#"{"name": "a"}"#.into())));
        let bytes = event(Some(Data::Binary(br#"{"name": "a"}"#.to_vec())));
        for event in [json, text, bytes] {
            assert_eq!(event.data_as::<Named>().unwrap(), named);
        }
        assert_eq!(event(None).data_as::<Option<Named>>().unwrap(), None);
    }

    #[test]
    fn says_which_event_and_why() {
        let error = event(Some(Data::Json(json!({"nom": "a"}))))
            .data_as::<Named>()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "event e1 (t): its data is not what this function takes: missing field `name`"
        );
        let many = format!("[{}]", vec!["[]"; 200_000].join(","));
        let error = event(Some(Data::Binary(many.into_bytes())))
            .data_as::<serde_json::Value>()
            .unwrap_err();
        assert!(error.reason.contains("more than 100000 values"), "{error}");
    }
}
