//! Typed payloads of the events Google Cloud sends most, following the schemas of
//! googleapis/google-cloudevents (`jsonschema/google/events/cloud/...`): read one with
//! [`EventExt::data_as`](crate::EventExt::data_as). Feature `google-events`.
//!
//! ```
//! use functions_framework::{events::storage::StorageObjectData, prelude::*};
//!
//! let on_upload = Function::cloudevent(|event: Event| async move {
//!     let object: StorageObjectData = event.data_as()?;
//!     log::info!("{}/{}: {:?} bytes", object.bucket, object.name, object.size);
//!     Ok(())
//! });
//! ```
//!
//! Every field the schema marks optional is an `Option` or defaults to empty, and fields this
//! crate does not name are ignored, so a payload with more (a newer schema) still reads.
//! Google's 64-bit integers come as JSON strings (`"size": "352"`), as protobuf's JSON
//! mapping writes them, or as numbers: both are read.

pub mod audit;
pub mod firestore;
pub mod storage;

/// The Pub/Sub payload, `google.cloud.pubsub.topic.v1.messagePublished`: see
/// [`crate::pubsub`], always available.
pub use crate::pubsub::MessagePublishedData;

/// A protobuf `int64`/`uint64` as JSON carries it: a string of digits, or a number.
pub(crate) mod int64 {
    use serde::{de::Error, Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Wire {
        Number(i64),
        Text(String),
    }

    fn read<E: Error>(wire: Wire) -> Result<i64, E> {
        match wire {
            Wire::Number(n) => Ok(n),
            Wire::Text(text) => text
                .trim()
                .parse()
                .map_err(|_| E::custom(format!("{text:?} is not a 64-bit integer"))),
        }
    }

    pub(crate) fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<Wire>::deserialize(d)?.map(read).transpose()
    }

    pub(crate) fn required<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        read(Wire::deserialize(d)?)
    }
}
