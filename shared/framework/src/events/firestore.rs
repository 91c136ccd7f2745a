//! `google.events.cloud.firestore.v1.DocumentEventData`: the document of a Firestore event
//! (`google.cloud.firestore.document.v1.created`, `.updated`, `.deleted`, `.written`).
//!
//! Firestore sends its events as protobuf unless the trigger asks for JSON
//! (`--event-data-content-type=application/json`): these types read the JSON form.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The CloudEvent types whose data is a [`DocumentEventData`].
pub const DOCUMENT_EVENT_TYPES: [&str; 4] = [
    "google.cloud.firestore.document.v1.created",
    "google.cloud.firestore.document.v1.updated",
    "google.cloud.firestore.document.v1.deleted",
    "google.cloud.firestore.document.v1.written",
];

/// A document before and after a change.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct DocumentEventData {
    /// The document after the change; absent when it was deleted.
    #[serde(default)]
    pub value: Option<Document>,
    /// The document before the change; absent when it was created.
    #[serde(default)]
    pub old_value: Option<Document>,
    /// The fields an update changed.
    #[serde(default)]
    pub update_mask: Option<DocumentMask>,
}

/// A Firestore document.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct Document {
    /// Its resource name: `projects/P/databases/D/documents/collection/id`.
    pub name: String,
    /// Its fields.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
    /// When it was created.
    #[serde(default)]
    pub create_time: Option<DateTime<Utc>>,
    /// When it last changed.
    #[serde(default)]
    pub update_time: Option<DateTime<Utc>>,
}

/// The field paths an update changed.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DocumentMask {
    /// The paths, such as `address.city`.
    #[serde(default)]
    pub field_paths: Vec<String>,
}

/// A field's value, one of Firestore's types.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub enum Value {
    /// `null`.
    NullValue(Option<()>),
    /// A boolean.
    BooleanValue(bool),
    /// A 64-bit integer (a string on the wire).
    IntegerValue(#[serde(deserialize_with = "super::int64::required")] i64),
    /// A double.
    DoubleValue(f64),
    /// A time.
    TimestampValue(DateTime<Utc>),
    /// A string.
    StringValue(String),
    /// Bytes, base64.
    BytesValue(String),
    /// Another document's resource name.
    ReferenceValue(String),
    /// A point on the globe.
    GeoPointValue(GeoPoint),
    /// An array.
    ArrayValue(ArrayValue),
    /// A map.
    MapValue(MapValue),
}

/// A latitude and longitude, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
pub struct GeoPoint {
    /// Degrees north.
    #[serde(default)]
    pub latitude: f64,
    /// Degrees east.
    #[serde(default)]
    pub longitude: f64,
}

/// An array's values.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ArrayValue {
    /// The values, in order.
    #[serde(default)]
    pub values: Vec<Value>,
}

/// A map's fields.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MapValue {
    /// The fields.
    #[serde(default)]
    pub fields: BTreeMap<String, Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_a_change_with_every_kind_of_value() {
        let change: DocumentEventData = serde_json::from_value(json!({
            "value": {
                "name": "projects/p/databases/(default)/documents/users/7",
                "fields": {
                    "name": {"stringValue": "Ada"},
                    "age": {"integerValue": "36"},
                    "admin": {"booleanValue": true},
                    "score": {"doubleValue": 9.5},
                    "nothing": {"nullValue": null},
                    "tags": {"arrayValue": {"values": [{"stringValue": "a"}]}},
                    "home": {"mapValue": {"fields": {"city": {"stringValue": "London"}}}},
                    "at": {"geoPointValue": {"latitude": 51.5, "longitude": -0.1}},
                    "seen": {"timestampValue": "2024-05-06T15:14:15Z"}
                },
                "createTime": "2024-05-06T15:14:15.917Z",
                "updateTime": "2024-05-07T15:14:15.917Z"
            },
            "oldValue": {"name": "projects/p/databases/(default)/documents/users/7"},
            "updateMask": {"fieldPaths": ["age"]}
        }))
        .unwrap();
        let fields = change.value.unwrap().fields;
        assert_eq!(fields["name"], Value::StringValue("Ada".into()));
        assert_eq!(fields["age"], Value::IntegerValue(36));
        assert_eq!(fields["nothing"], Value::NullValue(None));
        let Value::MapValue(home) = &fields["home"] else {
            panic!("{:?}", fields["home"])
        };
        assert_eq!(home.fields["city"], Value::StringValue("London".into()));
        assert_eq!(change.update_mask.unwrap().field_paths, ["age"]);
        assert!(change.old_value.unwrap().fields.is_empty());
    }
}
