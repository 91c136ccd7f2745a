//! The CloudEvent side of the Functions Framework contract: every delivery form becomes the
//! same CloudEvent. Vectors follow the Functions Framework README and the legacy-event
//! mapping (functions-framework-conformance, docs/mapping.md).

use base64::Engine;
use cloudevents::{event::Data, AttributesReader, Event};
use functions_framework::testing::{Reply, TestServer};
use functions_framework::{pubsub::MessagePublishedData, Function};
use http::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::sync::mpsc;

const TIME: &str = "2024-05-06T07:08:09.123Z";

/// A function that hands every event it gets to the test.
async fn recorder() -> (TestServer, mpsc::UnboundedReceiver<Event>) {
    let (sender, received) = mpsc::unbounded_channel();
    let server = TestServer::start(Function::cloudevent(move |event| {
        let sender = sender.clone();
        async move {
            sender.send(event).unwrap();
            Ok(())
        }
    }))
    .await;
    (server, received)
}

fn data_json(event: &Event) -> Value {
    match event.data().expect("event has data") {
        Data::Json(v) => v.clone(),
        Data::Binary(b) => serde_json::from_slice(b).unwrap(),
        Data::String(s) => serde_json::from_str(s).unwrap(),
    }
}

fn time(event: &Event) -> String {
    event
        .time()
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Posts a legacy event and returns the CloudEvent the function received.
async fn convert(body: Value) -> Event {
    let (server, mut received) = recorder().await;
    let reply = server.post_json("/", &body).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let event = received.recv().await.unwrap();
    server.stop().await;
    event
}

fn assert_error(reply: &Reply, status: StatusCode, mentions: &str) {
    assert_eq!(
        reply.status,
        status,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let error = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.contains(mentions),
        "error {error:?} does not mention {mentions:?}"
    );
}

#[tokio::test]
async fn binary_mode_with_and_without_charset() {
    let (server, mut received) = recorder().await;
    for content_type in ["application/json", "application/json; charset=utf-8"] {
        let reply = server
            .send(
                Method::POST,
                "/",
                &[
                    ("ce-specversion", "1.0"),
                    ("ce-id", "binary-1"),
                    ("ce-source", "//pubsub.googleapis.com/projects/p/topics/t"),
                    ("ce-type", "google.cloud.pubsub.topic.v1.messagePublished"),
                    ("ce-time", TIME),
                    ("ce-subject", "s"),
                    (
                        "ce-traceparent",
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    ),
                    ("content-type", content_type),
                ],
                json!({"message": {"messageId": "binary-1", "data": "aGk="}}).to_string(),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let event = received.recv().await.unwrap();
        assert_eq!(event.id(), "binary-1");
        assert_eq!(
            event.source().to_string(),
            "//pubsub.googleapis.com/projects/p/topics/t"
        );
        assert_eq!(event.ty(), "google.cloud.pubsub.topic.v1.messagePublished");
        assert_eq!(event.subject(), Some("s"));
        assert_eq!(time(&event), TIME);
        assert_eq!(event.datacontenttype(), Some(content_type));
        assert!(event.extension("traceparent").is_some());
        assert_eq!(
            MessagePublishedData::from_event(&event)
                .unwrap()
                .message
                .data,
            b"hi"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn structured_mode() {
    let (server, mut received) = recorder().await;
    let body = json!({
        "specversion": "1.0",
        "id": "structured-1",
        "source": "//storage.googleapis.com/projects/_/buckets/b",
        "type": "google.cloud.storage.object.v1.finalized",
        "time": TIME,
        "datacontenttype": "application/json",
        "data": {"name": "folder/file.txt"}
    });
    let reply = server
        .send(
            Method::POST,
            "/",
            &[(
                "content-type",
                "application/cloudevents+json; charset=utf-8",
            )],
            body.to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let event = received.recv().await.unwrap();
    assert_eq!(event.id(), "structured-1");
    assert_eq!(event.ty(), "google.cloud.storage.object.v1.finalized");
    assert_eq!(data_json(&event), json!({"name": "folder/file.txt"}));
    server.stop().await;
}

#[tokio::test]
async fn legacy_pubsub_events_in_both_forms_become_message_published() {
    let message = json!({
        "@type": "type.googleapis.com/google.pubsub.v1.PubsubMessage",
        "attributes": {"origin": "legacy"},
        "data": base64::engine::general_purpose::STANDARD.encode(r#"{"name":"x"}"#)
    });
    let wrapped = json!({
        "context": {
            "eventId": "legacy-7",
            "timestamp": TIME,
            "eventType": "google.pubsub.topic.publish",
            "resource": {
                "service": "pubsub.googleapis.com",
                "name": "projects/demo/topics/ingestion-topic",
                "type": "type.googleapis.com/google.pubsub.v1.PubsubMessage"
            }
        },
        "data": message
    });
    let flat = json!({
        "eventId": "legacy-7",
        "timestamp": TIME,
        "eventType": "providers/cloud.pubsub/eventTypes/topic.publish",
        "resource": "projects/demo/topics/ingestion-topic",
        "data": message
    });
    for body in [wrapped, flat] {
        let event = convert(body).await;
        assert_eq!(event.id(), "legacy-7");
        assert_eq!(event.ty(), "google.cloud.pubsub.topic.v1.messagePublished");
        assert_eq!(
            event.source().to_string(),
            "//pubsub.googleapis.com/projects/demo/topics/ingestion-topic"
        );
        assert_eq!(time(&event), TIME);
        assert_eq!(event.datacontenttype(), Some("application/json"));
        assert_eq!(event.subject(), None);
        let mut expected = message.clone();
        expected["messageId"] = "legacy-7".into();
        expected["publishTime"] = TIME.into();
        assert_eq!(data_json(&event), json!({ "message": expected }));
    }
}

#[tokio::test]
async fn legacy_storage_event_splits_bucket_and_object_and_drops_the_generation() {
    let event = convert(json!({
        "context": {
            "eventId": "s-1", "timestamp": TIME, "eventType": "google.storage.object.finalize",
            "resource": {"service": "storage.googleapis.com",
                         "name": "projects/_/buckets/my-bucket/objects/a/b/c.txt#1700000000000000",
                         "type": "storage#object"}
        },
        "data": {"bucket": "my-bucket", "name": "a/b/c.txt"}
    }))
    .await;
    assert_eq!(event.ty(), "google.cloud.storage.object.v1.finalized");
    assert_eq!(
        event.source().to_string(),
        "//storage.googleapis.com/projects/_/buckets/my-bucket"
    );
    assert_eq!(event.subject(), Some("objects/a/b/c.txt"));
    assert_eq!(
        data_json(&event),
        json!({"bucket": "my-bucket", "name": "a/b/c.txt"})
    );
}

#[tokio::test]
async fn legacy_firestore_event_splits_database_and_document() {
    let event = convert(json!({
        "eventId": "f-1", "timestamp": TIME,
        "eventType": "providers/cloud.firestore/eventTypes/document.update",
        "resource": "projects/proj/databases/(default)/documents/users/alice",
        "data": {"value": {"fields": {}}}
    }))
    .await;
    assert_eq!(event.ty(), "google.cloud.firestore.document.v1.updated");
    assert_eq!(
        event.source().to_string(),
        "//firestore.googleapis.com/projects/proj/databases/(default)"
    );
    assert_eq!(event.subject(), Some("documents/users/alice"));
}

#[tokio::test]
async fn legacy_firebase_events() {
    let auth = convert(json!({
        "eventId": "a-1", "timestamp": TIME,
        "eventType": "providers/firebase.auth/eventTypes/user.create",
        "resource": "projects/proj",
        "data": {"uid": "u123", "metadata": {"createdAt": TIME, "lastSignedInAt": TIME}}
    }))
    .await;
    assert_eq!(auth.ty(), "google.firebase.auth.user.v1.created");
    assert_eq!(
        auth.source().to_string(),
        "//firebaseauth.googleapis.com/projects/proj"
    );
    assert_eq!(auth.subject(), Some("users/u123"));
    assert_eq!(
        data_json(&auth),
        json!({"uid": "u123", "metadata": {"createTime": TIME, "lastSignInTime": TIME}})
    );

    for (domain, location) in [
        ("firebaseio.com", "us-central1"),
        ("europe-west1.firebasedatabase.app", "europe-west1"),
    ] {
        let db = convert(json!({
            "eventId": "d-1", "timestamp": TIME, "domain": domain,
            "eventType": "providers/google.firebase.database/eventTypes/ref.write",
            "resource": "projects/_/instances/my-db/refs/a/b",
            "data": {"data": null, "delta": {"c": 1}}
        }))
        .await;
        assert_eq!(db.ty(), "google.firebase.database.ref.v1.written");
        assert_eq!(
            db.source().to_string(),
            format!(
                "//firebasedatabase.googleapis.com/projects/_/locations/{location}/instances/my-db"
            )
        );
        assert_eq!(db.subject(), Some("refs/a/b"));
    }

    let analytics = convert(json!({
        "eventId": "an-1", "timestamp": TIME,
        "eventType": "providers/google.firebase.analytics/eventTypes/event.log",
        "resource": "projects/proj/events/session_start",
        "data": {"userDim": {"appInfo": {"appId": "com.example.app"}}}
    }))
    .await;
    assert_eq!(analytics.ty(), "google.firebase.analytics.log.v1.written");
    assert_eq!(
        analytics.source().to_string(),
        "//firebaseanalytics.googleapis.com/projects/proj/apps/com.example.app"
    );
    assert_eq!(analytics.subject(), Some("events/session_start"));
}

#[tokio::test]
async fn raw_pubsub_push_takes_its_source_from_the_topic_in_the_path() {
    let (server, mut received) = recorder().await;
    let push = json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode("hello"),
            "attributes": {"k": "v"},
            "messageId": "push-1",
            "publishTime": TIME
        },
        "subscription": "projects/demo/subscriptions/ingest-push"
    });
    let reply = server
        .post_json("/projects/demo/topics/ingestion-topic", &push)
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let event = received.recv().await.unwrap();
    assert_eq!(event.id(), "push-1");
    assert_eq!(event.ty(), "google.cloud.pubsub.topic.v1.messagePublished");
    assert_eq!(
        event.source().to_string(),
        "//pubsub.googleapis.com/projects/demo/topics/ingestion-topic"
    );
    assert_eq!(time(&event), TIME);
    let data = MessagePublishedData::from_event(&event).unwrap();
    assert_eq!(data.message.data, b"hello");
    assert_eq!(
        data.subscription.as_deref(),
        Some("projects/demo/subscriptions/ingest-push")
    );

    // No topic in the path and no publish time: the subscription names the source, now is the time.
    let mut bare = push.clone();
    bare["message"]
        .as_object_mut()
        .unwrap()
        .remove("publishTime");
    let before = chrono::Utc::now();
    assert_eq!(server.post_json("/", &bare).await.status, StatusCode::OK);
    let event = received.recv().await.unwrap();
    assert_eq!(
        event.source().to_string(),
        "//pubsub.googleapis.com/projects/demo/subscriptions/ingest-push"
    );
    assert!(event.time().unwrap() >= &before);
    server.stop().await;
}

#[tokio::test]
async fn bad_deliveries_get_400_that_says_what_is_wrong() {
    let (server, _received) = recorder().await;
    let ce = |extra: &[(&'static str, &'static str)]| {
        let mut headers = vec![
            ("ce-specversion", "1.0"),
            ("ce-id", "1"),
            ("ce-source", "s"),
            ("ce-type", "t"),
            ("content-type", "application/json"),
        ];
        for (name, value) in extra {
            headers.retain(|(n, _)| n != name);
            headers.push((name, value));
        }
        headers.retain(|(_, v)| !v.is_empty());
        headers
    };
    let send = |headers: Vec<(&'static str, &'static str)>, body: &'static str| {
        let server = &server;
        async move { server.send(Method::POST, "/", &headers, body).await }
    };
    assert_error(
        &send(ce(&[("ce-specversion", "0.1")]), "{}").await,
        StatusCode::BAD_REQUEST,
        "0.1",
    );
    assert_error(
        &send(ce(&[("ce-id", "")]), "{}").await,
        StatusCode::BAD_REQUEST,
        "id",
    );
    assert_error(
        &send(ce(&[("ce-type", "")]), "{}").await,
        StatusCode::BAD_REQUEST,
        "type",
    );
    assert_error(
        &send(
            vec![("content-type", "application/cloudevents+json")],
            "{\"specversion\":\"1.0\"}",
        )
        .await,
        StatusCode::BAD_REQUEST,
        "structured",
    );
    assert_error(
        &send(vec![("content-type", "application/json")], "{not json").await,
        StatusCode::BAD_REQUEST,
        "JSON",
    );
    assert_error(
        &send(vec![("content-type", "application/json")], "[1]").await,
        StatusCode::BAD_REQUEST,
        "object",
    );
    assert_error(
        &send(vec![("content-type", "application/json")], "{\"a\":1}").await,
        StatusCode::BAD_REQUEST,
        "not a CloudEvent",
    );
    assert_error(
        &send(
            vec![],
            r#"{"eventType":"google.pubsub.topic.publish","resource":"r"}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "eventId",
    );
    assert_error(
        &send(
            vec![],
            r#"{"eventId":"1","eventType":"unknown.type","resource":"r"}"#,
        )
        .await,
        StatusCode::BAD_REQUEST,
        "unknown.type",
    );
    assert_error(
        &send(vec![], r#"{"message":{"data":"aGk="}}"#).await,
        StatusCode::BAD_REQUEST,
        "messageId",
    );
    server.stop().await;
}

#[tokio::test]
async fn an_unusable_publish_time_counts_as_none_and_the_message_is_still_served() {
    let (server, mut received) = recorder().await;
    for time in [
        r#""yesterday""#,
        r#""""#,
        "1700000000",
        "null",
        r#"{"s":1}"#,
    ] {
        let body =
            format!(r#"{{"message":{{"messageId":"7","data":"aGk=","publishTime":{time}}}}}"#);
        let before = chrono::Utc::now();
        let reply = server.send(Method::POST, "/", &[], body).await;
        assert_eq!(reply.status, StatusCode::OK, "publishTime {time}");
        let event = received.recv().await.unwrap();
        assert!(
            event.time().unwrap() >= &before,
            "publishTime {time}: the time of arrival"
        );
        let data = MessagePublishedData::from_event(&event).unwrap();
        assert_eq!(data.message.publish_time, None, "publishTime {time}");
        assert_eq!(data.message.data, b"hi");
    }
    server.stop().await;
}

#[tokio::test]
async fn get_is_405_but_favicon_and_robots_stay_404() {
    let (server, _received) = recorder().await;
    let reply = server.send(Method::GET, "/", &[], "").await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.headers["allow"], "POST");
    for path in ["/favicon.ico", "/robots.txt"] {
        assert_eq!(
            server.send(Method::GET, path, &[], "").await.status,
            StatusCode::NOT_FOUND
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn a_repeated_attribute_header_is_refused_not_last_wins() {
    let (server, _received) = recorder().await;
    let reply = server
        .send(
            Method::POST,
            "/",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "first"),
                ("ce-id", "second"),
                ("ce-source", "//test"),
                ("ce-type", "com.example.test"),
                ("content-type", "application/json"),
            ],
            "{}",
        )
        .await;
    assert_error(
        &reply,
        StatusCode::BAD_REQUEST,
        "ce-id appears more than once",
    );
    server.stop().await;
}

#[tokio::test]
async fn binary_mode_attribute_values_are_percent_decoded() {
    let (server, mut received) = recorder().await;
    let reply = server
        .send(
            Method::POST,
            "/",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "id%201"),
                ("ce-source", "//example/caf%C3%A9"),
                ("ce-type", "com.example.%22quoted%22"),
                ("ce-subject", "50%25%20off"),
                ("ce-ext", "caf%C3%A9%2050%25"),
                ("ce-plain", "no escapes here"),
                ("content-type", "text/plain"),
            ],
            "hello",
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let event = received.recv().await.unwrap();
    assert_eq!(event.id(), "id 1");
    assert_eq!(event.source(), "//example/café");
    assert_eq!(event.ty(), "com.example.\"quoted\"");
    assert_eq!(event.subject(), Some("50% off"));
    assert_eq!(
        event.extension("ext").map(|v| v.to_string()).as_deref(),
        Some("café 50%")
    );
    assert_eq!(
        event.extension("plain").map(|v| v.to_string()).as_deref(),
        Some("no escapes here")
    );

    let reply = server
        .send(
            Method::POST,
            "/",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "//example"),
                ("ce-type", "t"),
                ("ce-ext", "%FF%FE"),
            ],
            "",
        )
        .await;
    assert_error(&reply, StatusCode::BAD_REQUEST, "header ce-ext");
    server.stop().await;
}
