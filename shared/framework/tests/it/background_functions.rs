//! The `event` signature, as the official conformance client checks it (`-type=legacyevent`):
//! a legacy event reaches the function as it was sent; a CloudEvent of each service reaches it
//! as the legacy event it stands for (type, resource and data as first-generation Cloud
//! Functions had them). Our own events, built from docs/mapping.md and the conformance
//! suite's rules.

use functions_framework::testing::TestServer;
use functions_framework::{EventContext, Function};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const ID: &str = "evt-7";
const TIME: &str = "2024-05-06T07:08:09.123Z";

/// A background function that hands what it gets to the test.
async fn recorder() -> (TestServer, mpsc::UnboundedReceiver<(Value, EventContext)>) {
    let (sender, received) = mpsc::unbounded_channel();
    let server = TestServer::start(Function::event(move |data, context| {
        let sender = sender.clone();
        async move {
            sender.send((data, context)).unwrap();
            Ok(())
        }
    }))
    .await;
    (server, received)
}

/// Posts `body` with `headers`; what the function got, as `{"data", "context"}`.
async fn received(headers: &[(&str, &str)], body: Value) -> Value {
    let (server, mut received) = recorder().await;
    let reply = server
        .send(Method::POST, "/", headers, body.to_string())
        .await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&reply.body)
    );
    let (data, context) = received.recv().await.unwrap();
    server.stop().await;
    json!({"data": data, "context": context})
}

/// What the function gets for a structured-mode CloudEvent.
async fn from_cloudevent(ty: &str, source: &str, subject: Option<&str>, data: Value) -> Value {
    let mut event = json!({
        "specversion": "1.0", "id": ID, "time": TIME, "type": ty, "source": source,
        "datacontenttype": "application/json", "data": data,
    });
    if let Some(subject) = subject {
        event["subject"] = json!(subject);
    }
    received(&[("content-type", "application/cloudevents+json")], event).await
}

fn context(event_type: &str, resource: Value) -> Value {
    json!({"eventId": ID, "timestamp": TIME, "eventType": event_type, "resource": resource})
}

#[tokio::test]
async fn a_legacy_event_arrives_as_sent_context_nested_or_at_the_top() {
    let data = json!({"name": "folder/a.txt", "bucket": "b"});
    let resource = json!({"service": "storage.googleapis.com",
        "name": "projects/_/buckets/b/objects/folder/a.txt", "type": "storage#object"});
    let nested = json!({"context": context("google.storage.object.finalize", resource.clone()),
        "data": data});
    let expected =
        json!({"data": data, "context": context("google.storage.object.finalize", resource)});
    assert_eq!(
        received(&[("content-type", "application/json")], nested).await,
        expected
    );

    let top = json!({"eventId": ID, "timestamp": TIME, "resource": "projects/_/instances/i/refs/x",
        "eventType": "providers/google.firebase.database/eventTypes/ref.write",
        "domain": "firebaseio.com", "data": {"delta": 1}});
    assert_eq!(
        received(&[("content-type", "application/json")], top).await,
        json!({"data": {"delta": 1}, "context": context(
            "providers/google.firebase.database/eventTypes/ref.write",
            json!("projects/_/instances/i/refs/x"))})
    );
}

#[tokio::test]
async fn a_pubsub_cloudevent_becomes_the_message_with_the_topic_as_resource() {
    let got = from_cloudevent(
        "google.cloud.pubsub.topic.v1.messagePublished",
        "//pubsub.googleapis.com/projects/p/topics/t",
        None,
        json!({"subscription": "projects/p/subscriptions/s", "message": {
            "@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage",
            "messageId": ID, "publishTime": TIME, "attributes": {"a": "1"}, "data": "aGk="}}),
    )
    .await;
    assert_eq!(
        got,
        json!({
            "data": {"@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage",
                     "attributes": {"a": "1"}, "data": "aGk="},
            "context": context("google.pubsub.topic.publish", json!({
                "service": "pubsub.googleapis.com", "name": "projects/p/topics/t",
                "type": "type.googleapis.com/google.pubsub.v1.PubsubMessage"})),
        })
    );
}

#[tokio::test]
async fn a_pubsub_push_body_becomes_the_same_legacy_event() {
    let got = received(
        &[("content-type", "application/json")],
        json!({"message": {"data": "aGk=", "messageId": ID, "publishTime": TIME},
               "subscription": "projects/p/subscriptions/s"}),
    )
    .await;
    assert_eq!(got["data"], json!({"data": "aGk="}));
    assert_eq!(got["context"]["eventType"], "google.pubsub.topic.publish");
    assert_eq!(got["context"]["eventId"], ID);
}

#[tokio::test]
async fn a_storage_cloudevent_joins_bucket_and_object_into_the_resource() {
    let data = json!({"kind": "storage#object", "bucket": "b", "name": "folder/a.txt"});
    let got = from_cloudevent(
        "google.cloud.storage.object.v1.finalized",
        "//storage.googleapis.com/projects/_/buckets/b",
        Some("objects/folder/a.txt"),
        data.clone(),
    )
    .await;
    assert_eq!(
        got,
        json!({"data": data, "context": context("google.storage.object.finalize", json!({
            "service": "storage.googleapis.com",
            "name": "projects/_/buckets/b/objects/folder/a.txt", "type": "storage#object"}))})
    );
}

#[tokio::test]
async fn firestore_database_auth_and_analytics_resources_are_names() {
    let cases = [
        (
            "google.cloud.firestore.document.v1.written",
            "//firestore.googleapis.com/projects/p/databases/(default)",
            Some("documents/users/ada"),
            json!({"value": {}}),
            "providers/cloud.firestore/eventTypes/document.write",
            "projects/p/databases/(default)/documents/users/ada",
            json!({"value": {}}),
        ),
        (
            "google.firebase.database.ref.v1.deleted",
            "//firebasedatabase.googleapis.com/projects/_/locations/europe-west1/instances/i",
            Some("refs/a/b"),
            json!({"data": null}),
            "providers/google.firebase.database/eventTypes/ref.delete",
            "projects/_/instances/i/refs/a/b",
            json!({"data": null}),
        ),
        (
            "google.firebase.auth.user.v1.created",
            "//firebaseauth.googleapis.com/projects/p",
            Some("users/u1"),
            json!({"uid": "u1", "metadata": {"createTime": "t1", "lastSignInTime": "t2"}}),
            "providers/firebase.auth/eventTypes/user.create",
            "projects/p",
            json!({"uid": "u1", "metadata": {"createdAt": "t1", "lastSignedInAt": "t2"}}),
        ),
        (
            "google.firebase.analytics.log.v1.written",
            "//firebaseanalytics.googleapis.com/projects/p/apps/app-1",
            Some("events/session_start"),
            json!({"eventDim": []}),
            "providers/google.firebase.analytics/eventTypes/event.log",
            "projects/p/events/session_start",
            json!({"eventDim": []}),
        ),
    ];
    for (ty, source, subject, data, legacy_type, resource, legacy_data) in cases {
        assert_eq!(
            from_cloudevent(ty, source, subject, data).await,
            json!({"data": legacy_data, "context": context(legacy_type, json!(resource))}),
            "{ty}"
        );
    }
}

#[tokio::test]
async fn a_cloudevent_with_no_legacy_type_keeps_its_own_type_and_source() {
    let got = from_cloudevent(
        "com.example.ping",
        "//example.com/things/1",
        None,
        json!({"n": 1}),
    )
    .await;
    assert_eq!(
        got,
        json!({"data": {"n": 1}, "context": context("com.example.ping", json!("things/1"))})
    );
}

#[tokio::test]
async fn a_binary_mode_cloudevent_reaches_a_background_function_too() {
    let got = received(
        &[
            ("ce-specversion", "1.0"),
            ("ce-id", ID),
            ("ce-time", TIME),
            ("ce-type", "google.cloud.storage.object.v1.deleted"),
            ("ce-source", "//storage.googleapis.com/projects/_/buckets/b"),
            ("ce-subject", "objects/x"),
            ("content-type", "application/json"),
        ],
        json!({"kind": "storage#object", "name": "x"}),
    )
    .await;
    assert_eq!(got["context"]["eventType"], "google.storage.object.delete");
    assert_eq!(
        got["context"]["resource"]["name"],
        "projects/_/buckets/b/objects/x"
    );
    assert_eq!(got["context"]["timestamp"], TIME);
}

#[tokio::test]
async fn a_legacy_event_without_its_id_type_or_resource_is_a_400_naming_it() {
    let (server, mut received) = recorder().await;
    for (missing, body) in [
        (
            "eventId",
            json!({"eventType": "t", "resource": "r", "data": {}}),
        ),
        (
            "eventType",
            json!({"context": {"eventId": "1", "resource": "r"}, "data": {}}),
        ),
        (
            "resource",
            json!({"eventId": "1", "eventType": "t", "data": {}}),
        ),
    ] {
        let reply = server.post_json("/", &body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{missing}");
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(error.contains(missing), "{error:?} does not name {missing}");
    }
    let reply = server.send(Method::GET, "/", &[], "").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    server.stop().await;
    assert!(received.try_recv().is_err(), "nothing reached the function");
}

#[tokio::test]
async fn data_that_is_not_json_reaches_the_function_as_text_or_base64() {
    let binary = |content_type: &'static str| {
        [
            ("ce-specversion", "1.0"),
            ("ce-id", ID),
            ("ce-type", "com.example.blob"),
            ("ce-source", "//example.com/blobs"),
            ("content-type", content_type),
        ]
    };
    let (server, mut received) = recorder().await;
    for (headers, body, expected) in [
        (binary("text/plain"), "héllo", json!("héllo")),
        (
            binary("application/octet-stream"),
            "\u{1}\u{2}",
            json!("AQI="),
        ),
    ] {
        let reply = server.send(Method::POST, "/", &headers, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{body:?}");
        assert_eq!(received.recv().await.unwrap().0, expected);
    }
    let reply = server
        .send(Method::POST, "/", &binary("application/json"), "{not json")
        .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    server.stop().await;
}
