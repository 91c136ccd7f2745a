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

/// The legacy event type of a CloudEvent type (the first, for Pub/Sub's two), if it has one.
pub(super) fn legacy_type(ce_type: &str) -> Option<&'static str> {
    TYPES
        .iter()
        .find(|(_, to)| *to == ce_type)
        .map(|(from, _)| *from)
}

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
    let data = body.remove("data").unwrap_or(Value::Null);
    let legacy = Legacy::read(&body)?;
    let ce_type = cloudevent_type(legacy.event_type)?;
    let service = service_of(&legacy)?;
    let mapped = map_by_service(service, &legacy, &body, data)?;
    let mut builder = EventBuilderV10::new()
        .id(legacy.id)
        .ty(ce_type)
        .source(mapped.source)
        .data("application/json", mapped.data);
    if let Some(time) = legacy.timestamp {
        builder = builder.time(time);
    }
    if let Some(subject) = mapped.subject {
        builder = builder.subject(subject);
    }
    builder
        .build()
        .map_err(|e| bad(format!("legacy event: {e}")))
}

fn cloudevent_type(event_type: &str) -> Result<&'static str, FunctionError> {
    TYPES
        .iter()
        .find(|(from, _)| *from == event_type)
        .map(|(_, to)| *to)
        .ok_or_else(|| {
            bad(format!(
                "legacy event: unsupported eventType {event_type:?}"
            ))
        })
}

/// The service the event names, or the one its type implies.
fn service_of<'a>(legacy: &Legacy<'a>) -> Result<&'a str, FunctionError> {
    legacy
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
        })
}

/// A CloudEvent's source, subject and data, as one service's mapping makes them.
struct Mapped {
    source: String,
    subject: Option<String>,
    data: Value,
}

fn map_by_service(
    service: &str,
    legacy: &Legacy<'_>,
    body: &Map<String, Value>,
    data: Value,
) -> Result<Mapped, FunctionError> {
    let family = |prefix: &str| legacy.event_type.starts_with(prefix);
    match service {
        "pubsub.googleapis.com" => pubsub(legacy, data),
        "storage.googleapis.com" => storage(legacy, data),
        "firestore.googleapis.com" => firestore(legacy, data),
        _ if family("providers/google.firebase.database/") => realtime_database(legacy, body, data),
        _ if family("providers/firebase.auth/") => firebase_auth(legacy, data),
        _ if family("providers/google.firebase.analytics/") => analytics(legacy, data),
        _ if family("providers/firebase.remoteConfig/") => Ok(Mapped {
            source: format!("//firebaseremoteconfig.googleapis.com/{}", legacy.resource),
            subject: None,
            data,
        }),
        _ => Ok(Mapped {
            source: format!("//{service}/{}", legacy.resource),
            subject: None,
            data,
        }),
    }
}

fn pubsub(legacy: &Legacy<'_>, data: Value) -> Result<Mapped, FunctionError> {
    Ok(Mapped {
        source: format!("//pubsub.googleapis.com/{}", legacy.resource),
        subject: None,
        data: pubsub_data(data, legacy.id, legacy.timestamp)?,
    })
}

/// The object's generation (`#1234`) is not part of the subject.
fn storage(legacy: &Legacy<'_>, data: Value) -> Result<Mapped, FunctionError> {
    let (bucket, object) = split(legacy.resource, "objects")?;
    let object = object.split('#').next().unwrap_or_default();
    Ok(Mapped {
        source: format!("//storage.googleapis.com/{bucket}"),
        subject: Some(format!("objects/{object}")),
        data,
    })
}

fn firestore(legacy: &Legacy<'_>, data: Value) -> Result<Mapped, FunctionError> {
    let (database, document) = split(legacy.resource, "documents")?;
    Ok(Mapped {
        source: format!("//firestore.googleapis.com/{database}"),
        subject: Some(format!("documents/{document}")),
        data,
    })
}

fn realtime_database(
    legacy: &Legacy<'_>,
    body: &Map<String, Value>,
    data: Value,
) -> Result<Mapped, FunctionError> {
    let location = rtdb_location(body)?;
    let (instance, reference) = split(legacy.resource, "refs")?;
    let instance = instance.trim_start_matches("projects/_/");
    Ok(Mapped {
        source: format!(
            "//firebasedatabase.googleapis.com/projects/_/locations/{location}/{instance}"
        ),
        subject: Some(format!("refs/{reference}")),
        data,
    })
}

fn firebase_auth(legacy: &Legacy<'_>, mut data: Value) -> Result<Mapped, FunctionError> {
    rename_metadata(&mut data, AUTH_METADATA_NAMES);
    let subject = data
        .get("uid")
        .and_then(Value::as_str)
        .map(|uid| format!("users/{uid}"));
    Ok(Mapped {
        source: format!("//firebaseauth.googleapis.com/{}", legacy.resource),
        subject,
        data,
    })
}

fn analytics(legacy: &Legacy<'_>, data: Value) -> Result<Mapped, FunctionError> {
    let (project, event) = split(legacy.resource, "events")?;
    let app = data
        .pointer("/userDim/appInfo/appId")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("legacy analytics event: data.userDim.appInfo.appId is missing"))?;
    Ok(Mapped {
        source: format!("//firebaseanalytics.googleapis.com/{project}/apps/{app}"),
        subject: Some(format!("events/{event}")),
        data,
    })
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

/// Firebase Auth's two metadata timestamps: the legacy name, the CloudEvent name.
pub(super) const AUTH_METADATA_NAMES: [(&str, &str); 2] = [
    ("createdAt", "createTime"),
    ("lastSignedInAt", "lastSignInTime"),
];

/// Renames the keys of `data.metadata`, each `(from, to)`.
pub(super) fn rename_metadata<'a>(
    data: &mut Value,
    names: impl IntoIterator<Item = (&'a str, &'a str)>,
) {
    if let Some(metadata) = data.get_mut("metadata").and_then(Value::as_object_mut) {
        for (from, to) in names {
            if let Some(value) = metadata.remove(from) {
                metadata.insert(to.into(), value);
            }
        }
    }
}
