//! `google.events.cloud.storage.v1.StorageObjectData`: the object of a Cloud Storage event
//! (`google.cloud.storage.object.v1.finalized`, `.archived`, `.deleted`, `.metadataUpdated`).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Deserialize;

/// The CloudEvent types whose data is a [`StorageObjectData`].
pub const OBJECT_EVENT_TYPES: [&str; 4] = [
    "google.cloud.storage.object.v1.finalized",
    "google.cloud.storage.object.v1.archived",
    "google.cloud.storage.object.v1.deleted",
    "google.cloud.storage.object.v1.metadataUpdated",
];

/// An object within Cloud Storage, as its events carry it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct StorageObjectData {
    /// The bucket holding the object.
    pub bucket: String,
    /// The object's name (its path in the bucket).
    pub name: String,
    /// `bucket/name/generation`.
    #[serde(default)]
    pub id: Option<String>,
    /// Always `storage#object`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Its length in bytes.
    #[serde(default, deserialize_with = "super::int64::optional")]
    pub size: Option<i64>,
    /// Its `Content-Type`; served as `application/octet-stream` when absent.
    #[serde(default)]
    pub content_type: Option<String>,
    /// The content generation: a new one for every write of the object.
    #[serde(default, deserialize_with = "super::int64::optional")]
    pub generation: Option<i64>,
    /// The metadata's version within the generation.
    #[serde(default, deserialize_with = "super::int64::optional")]
    pub metageneration: Option<i64>,
    /// The user-provided metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// When it was created.
    #[serde(default)]
    pub time_created: Option<DateTime<Utc>>,
    /// When its metadata last changed.
    #[serde(default)]
    pub updated: Option<DateTime<Utc>>,
    /// When this version was deleted, for a deleted or archived one.
    #[serde(default)]
    pub time_deleted: Option<DateTime<Utc>>,
    /// Its storage class (`STANDARD`, `NEARLINE`, ...).
    #[serde(default)]
    pub storage_class: Option<String>,
    /// MD5 of the data, base64.
    #[serde(default)]
    pub md5_hash: Option<String>,
    /// CRC32C of the data, base64.
    #[serde(default)]
    pub crc32c: Option<String>,
    /// Its HTTP entity tag.
    #[serde(default)]
    pub etag: Option<String>,
    /// Its `Content-Encoding`.
    #[serde(default)]
    pub content_encoding: Option<String>,
    /// The link to download its data.
    #[serde(default)]
    pub media_link: Option<String>,
    /// The Cloud KMS key encrypting it, if one does.
    #[serde(default)]
    pub kms_key_name: Option<String>,
    /// Whether an event-based hold is on it.
    #[serde(default)]
    pub event_based_hold: Option<bool>,
    /// Whether a temporary hold is on it.
    #[serde(default)]
    pub temporary_hold: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_an_object_with_integers_as_strings_or_numbers() {
        let object: StorageObjectData = serde_json::from_value(json!({
            "bucket": "uploads", "name": "in/a.csv", "kind": "storage#object",
            "size": "352", "generation": 1_700_000_000_000_001_i64, "metageneration": "1",
            "contentType": "text/csv", "metadata": {"origin": "batch"},
            "timeCreated": "2024-05-06T15:14:15.917Z", "storageClass": "STANDARD",
            "someFieldOfANewerSchema": {"x": 1}
        }))
        .unwrap();
        assert_eq!(
            (object.bucket.as_str(), object.name.as_str()),
            ("uploads", "in/a.csv")
        );
        assert_eq!(object.size, Some(352));
        assert_eq!(object.generation, Some(1_700_000_000_000_001));
        assert_eq!(object.metageneration, Some(1));
        assert_eq!(object.metadata["origin"], "batch");
        assert_eq!(
            object.time_created.unwrap().to_rfc3339(),
            "2024-05-06T15:14:15.917+00:00"
        );
        let error = serde_json::from_value::<StorageObjectData>(
            json!({"bucket": "b", "name": "n", "size": "big"}),
        )
        .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("\"big\" is not a 64-bit integer"),
            "{error}"
        );
    }
}
