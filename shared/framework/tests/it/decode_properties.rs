//! Whatever arrives, decoding never panics and either yields an event or a 400.

use functions_framework::{event::decode, FunctionError};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys the decoders look at, so random JSON often takes the interesting paths.
const KEYS: &[&str] = &[
    "message",
    "context",
    "eventType",
    "eventId",
    "resource",
    "data",
    "timestamp",
    "domain",
    "subscription",
    "messageId",
    "message_id",
    "publishTime",
    "service",
    "name",
    "uid",
    "metadata",
    "userDim",
    "appInfo",
    "appId",
    "specversion",
    "id",
    "source",
    "type",
    "time",
    "datacontenttype",
    "data_base64",
];

const VALUES: &[&str] = &[
    "google.pubsub.topic.publish",
    "providers/cloud.pubsub/eventTypes/topic.publish",
    "google.storage.object.finalize",
    "providers/cloud.firestore/eventTypes/document.write",
    "providers/firebase.auth/eventTypes/user.create",
    "providers/google.firebase.database/eventTypes/ref.write",
    "providers/google.firebase.analytics/eventTypes/event.log",
    "projects/p/topics/t",
    "projects/_/buckets/b/objects/o#1",
    "projects/p/databases/d/documents/x",
    "projects/_/instances/i/refs/r",
    "projects/p/events/e",
    "firebaseio.com",
    "2024-01-01T00:00:00Z",
    "1.0",
    "0.3",
    "aGk=",
    "",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop::sample::select(VALUES).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..6).prop_map(|pairs| {
                Value::Object(
                    pairs
                        .into_iter()
                        .map(|(k, v)| (k.to_owned(), v))
                        .collect::<Map<_, _>>(),
                )
            }),
        ]
    })
}

fn headers() -> impl Strategy<Value = HeaderMap> {
    let name = prop::sample::select(
        &[
            "content-type",
            "ce-specversion",
            "ce-id",
            "ce-source",
            "ce-type",
            "ce-time",
            "ce-subject",
            "ce-dataschema",
            "ce-custom",
        ][..],
    );
    let value = prop_oneof![
        prop::sample::select(
            &[
                "application/json",
                "application/cloudevents+json",
                "application/cloudevents-batch+json",
                "text/plain",
                "1.0",
                "0.3",
                "2.0",
                "2024-01-01T00:00:00Z",
                "not a time",
                "x",
                "//pubsub.googleapis.com/projects/p/topics/t",
                "",
            ][..]
        )
        .prop_map(str::to_owned),
        "[ -~]{0,16}",
    ];
    prop::collection::vec((name, value), 0..8).prop_map(|pairs| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            if let Ok(value) = HeaderValue::from_str(&value) {
                map.append(HeaderName::from_static(name), value);
            }
        }
        map
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        json_value().prop_map(|v| v.to_string().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..64),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn decoding_never_panics_and_only_rejects_with_400(
        headers in headers(),
        path in prop::sample::select(&["/", "/projects/p/topics/t", "/x/y"][..]),
        body in body(),
    ) {
        match decode(&headers, path, body) {
            Ok(_) | Err(FunctionError::BadRequest(_)) => {}
            Err(other) => prop_assert!(false, "unexpected error {other:?}"),
        }
    }
}
