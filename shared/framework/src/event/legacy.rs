//! Legacy Cloud Functions events ("GCF HTTP" form) to CloudEvents, by the mapping the official
//! frameworks share (functions-framework-conformance, docs/mapping.md).

use cloudevents::{Event, EventBuilder, EventBuilderV10};
use serde_json::{Map, Value};

use super::bad;
use crate::error::FunctionError;

/// Legacy event type to CloudEvent type, matched exactly.
const TYPES: &[(&str, &str)] = &[
    (
        "google.pubsub.topic.publish",
        "google.cloud.pubsub.topic.v1.messagePublished",
    ),
    (
        "providers/cloud.pubsub/eventTypes/topic.publish",
        "google.cloud.pubsub.topic.v1.messagePublished",
    ),
    (
        "google.storage.object.finalize",
        "google.cloud.storage.object.v1.finalized",
    ),
    (
        "google.storage.object.delete",
        "google.cloud.storage.object.v1.deleted",
    ),
    (
        "google.storage.object.archive",
        "google.cloud.storage.object.v1.archived",
    ),
    (
        "google.storage.object.metadataUpdate",
        "google.cloud.storage.object.v1.metadataUpdated",
    ),
    (
        "providers/cloud.firestore/eventTypes/document.write",
        "google.cloud.firestore.document.v1.written",
    ),
    (
        "providers/cloud.firestore/eventTypes/document.create",
        "google.cloud.firestore.document.v1.created",
    ),
    (
        "providers/cloud.firestore/eventTypes/document.update",
        "google.cloud.firestore.document.v1.updated",
    ),
    (
        "providers/cloud.firestore/eventTypes/document.delete",
        "google.cloud.firestore.document.v1.deleted",
    ),
    (
        "providers/firebase.auth/eventTypes/user.create",
        "google.firebase.auth.user.v1.created",
    ),
    (
        "providers/firebase.auth/eventTypes/user.delete",
        "google.firebase.auth.user.v1.deleted",
    ),
    (
        "providers/firebase.remoteConfig/remoteconfig.update",
        "google.firebase.remoteconfig.remoteConfig.v1.updated",
    ),
    (
        "providers/google.firebase.analytics/eventTypes/event.log",
        "google.firebase.analytics.log.v1.written",
    ),
    (
        "providers/google.firebase.database/eventTypes/ref.create",
        "google.firebase.database.ref.v1.created",
    ),
    (
        "providers/google.firebase.database/eventTypes/ref.write",
        "google.firebase.database.ref.v1.written",
    ),
    (
        "providers/google.firebase.database/eventTypes/ref.update",
        "google.firebase.database.ref.v1.updated",
    ),
    (
        "providers/google.firebase.database/eventTypes/ref.delete",
        "google.firebase.database.ref.v1.deleted",
    ),
];

/// The service, when the event does not name one, by prefix of the legacy event type.
const SERVICES_BY_PREFIX: &[(&str, &str)] = &[
    ("providers/cloud.firestore/", "firestore.googleapis.com"),
    (
        "providers/google.firebase.analytics/",
        "firebase.googleapis.com",
    ),
    ("providers/firebase.auth/", "firebase.googleapis.com"),
    (
        "providers/google.firebase.database/",
        "firebase.googleapis.com",
    ),
    ("providers/cloud.pubsub/", "pubsub.googleapis.com"),
    ("providers/cloud.storage/", "storage.googleapis.com"),
    ("google.pubsub", "pubsub.googleapis.com"),
    ("google.storage", "storage.googleapis.com"),
];

pub(super) fn is_legacy(body: &Map<String, Value>) -> bool {
    matches!(body.get("context"), Some(Value::Object(_))) || body.get("eventType").is_some()
}

/// What the legacy event says, wherever in the body it says it.
struct Legacy<'a> {
    event_type: &'a str,
    service: Option<&'a str>,
    resource: &'a str,
    id: &'a str,
    timestamp: Option<&'a str>,
}

impl<'a> Legacy<'a> {
    fn read(body: &'a Map<String, Value>) -> Result<Self, FunctionError> {
        let context = body.get("context").and_then(Value::as_object);
        // The context wins where both say something, as in the other frameworks.
        let field = |name: &str| context.and_then(|c| c.get(name)).or_else(|| body.get(name));
        let string = |name: &str| field(name).and_then(Value::as_str);
        let resource_value = field("resource");
        let resource = match resource_value {
            Some(Value::String(name)) => Some(name.as_str()),
            Some(Value::Object(r)) => r.get("name").and_then(Value::as_str),
            _ => None,
        };
        let service = match resource_value {
            Some(Value::Object(r)) => r.get("service").and_then(Value::as_str),
            _ => None,
        };
        Ok(Self {
            event_type: string("eventType")
                .ok_or_else(|| bad("legacy event: eventType is missing"))?,
            service,
            resource: resource.ok_or_else(|| bad("legacy event: resource is missing"))?,
            id: string("eventId").ok_or_else(|| bad("legacy event: eventId is missing"))?,
            timestamp: string("timestamp"),
        })
    }
}

pub(super) fn to_cloudevent(mut body: Map<String, Value>) -> Result<Event, FunctionError> {
    let mut data = body.remove("data").unwrap_or(Value::Null);
    let legacy = Legacy::read(&body)?;
    let ce_type = TYPES
        .iter()
        .find(|(from, _)| *from == legacy.event_type)
        .map(|(_, to)| *to)
        .ok_or_else(|| {
            bad(format!(
                "legacy event: unsupported eventType {:?}",
                legacy.event_type
            ))
        })?;
    let service = legacy
        .service
        .or_else(|| {
            SERVICES_BY_PREFIX
                .iter()
                .find(|(prefix, _)| legacy.event_type.starts_with(prefix))
                .map(|(_, service)| *service)
        })
        .ok_or_else(|| {
            bad(format!(
                "legacy event: no service known for {:?}",
                legacy.event_type
            ))
        })?;

    let (source, subject) = match service {
        "pubsub.googleapis.com" => {
            data = pubsub_data(data, legacy.id, legacy.timestamp)?;
            (format!("//{service}/{}", legacy.resource), None)
        }
        "storage.googleapis.com" => {
            let (bucket, object) = split(legacy.resource, "objects")?;
            let object = object.split('#').next().unwrap_or_default();
            (
                format!("//{service}/{bucket}"),
                Some(format!("objects/{object}")),
            )
        }
        "firestore.googleapis.com" => {
            let (database, document) = split(legacy.resource, "documents")?;
            (
                format!("//{service}/{database}"),
                Some(format!("documents/{document}")),
            )
        }
        _ if legacy
            .event_type
            .starts_with("providers/google.firebase.database/") =>
        {
            let location = rtdb_location(&body)?;
            let (instance, reference) = split(legacy.resource, "refs")?;
            let instance = instance.trim_start_matches("projects/_/");
            (
                format!(
                    "//firebasedatabase.googleapis.com/projects/_/locations/{location}/{instance}"
                ),
                Some(format!("refs/{reference}")),
            )
        }
        _ if legacy.event_type.starts_with("providers/firebase.auth/") => {
            rename_auth_metadata(&mut data);
            let uid = data.get("uid").and_then(Value::as_str);
            (
                format!("//firebaseauth.googleapis.com/{}", legacy.resource),
                uid.map(|uid| format!("users/{uid}")),
            )
        }
        _ if legacy
            .event_type
            .starts_with("providers/google.firebase.analytics/") =>
        {
            let (project, event) = split(legacy.resource, "events")?;
            let app = data
                .pointer("/userDim/appInfo/appId")
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    bad("legacy analytics event: data.userDim.appInfo.appId is missing")
                })?;
            (
                format!("//firebaseanalytics.googleapis.com/{project}/apps/{app}"),
                Some(format!("events/{event}")),
            )
        }
        _ if legacy
            .event_type
            .starts_with("providers/firebase.remoteConfig/") =>
        {
            (
                format!("//firebaseremoteconfig.googleapis.com/{}", legacy.resource),
                None,
            )
        }
        _ => (format!("//{service}/{}", legacy.resource), None),
    };

    let mut builder = EventBuilderV10::new()
        .id(legacy.id)
        .ty(ce_type)
        .source(source)
        .data("application/json", data);
    if let Some(time) = legacy.timestamp {
        builder = builder.time(time);
    }
    if let Some(subject) = subject {
        builder = builder.subject(subject);
    }
    builder
        .build()
        .map_err(|e| bad(format!("legacy event: {e}")))
}

/// Pub/Sub's CloudEvent data wraps the message and adds its id and publish time.
fn pubsub_data(data: Value, id: &str, timestamp: Option<&str>) -> Result<Value, FunctionError> {
    let Value::Object(mut message) = data else {
        return Err(bad("legacy Pub/Sub event: data must be the message object"));
    };
    message.insert("messageId".into(), Value::from(id));
    if let Some(timestamp) = timestamp {
        message.insert("publishTime".into(), Value::from(timestamp));
    }
    Ok(serde_json::json!({ "message": message }))
}

/// Splits `head/marker/tail` into `head` and `tail`.
fn split<'r>(resource: &'r str, marker: &str) -> Result<(&'r str, &'r str), FunctionError> {
    resource.split_once(&format!("/{marker}/")).ok_or_else(|| {
        bad(format!(
            "legacy event: resource {resource:?} has no /{marker}/"
        ))
    })
}

/// The Realtime Database's location, from the event's `domain`.
fn rtdb_location(body: &Map<String, Value>) -> Result<&str, FunctionError> {
    let domain = body
        .get("domain")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("legacy Realtime Database event: domain is missing"))?;
    Ok(if domain == "firebaseio.com" {
        "us-central1"
    } else {
        domain.split('.').next().unwrap_or(domain)
    })
}

/// Firebase Auth's CloudEvent names two metadata timestamps differently.
fn rename_auth_metadata(data: &mut Value) {
    if let Some(metadata) = data.get_mut("metadata").and_then(Value::as_object_mut) {
        for (from, to) in [
            ("createdAt", "createTime"),
            ("lastSignedInAt", "lastSignInTime"),
        ] {
            if let Some(value) = metadata.remove(from) {
                metadata.insert(to.into(), value);
            }
        }
    }
}
