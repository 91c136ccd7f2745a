//! Deliveries shaped as Eventarc sends them, for the tests of ingest and of the tools built on
//! it (feature `test-support`).

use base64::Engine;
use http::Method;
use serde_json::json;
use shared::testing::{Reply, TestServer};

/// Posts a binary-mode `messagePublished` CloudEvent carrying `data`, as Eventarc would.
pub async fn deliver(server: &TestServer, message_id: &str, data: &[u8]) -> Reply {
    deliver_published_at(server, message_id, "2024-05-06T07:08:09.123Z", data).await
}

/// [`deliver`], with the message published at `time` (RFC 3339, or whatever a test needs).
pub async fn deliver_published_at(
    server: &TestServer,
    message_id: &str,
    time: &str,
    data: &[u8],
) -> Reply {
    let body = json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "attributes": {"origin": "test"},
            "messageId": message_id,
            "message_id": message_id,
            "publishTime": time,
            "publish_time": time
        },
        "subscription": "projects/demo/subscriptions/eventarc-ingest"
    });
    deliver_raw(
        server,
        message_id,
        "google.cloud.pubsub.topic.v1.messagePublished",
        body.to_string(),
    )
    .await
}

/// Posts a binary-mode CloudEvent of type `ty` with `body` as its data, whatever it holds.
pub async fn deliver_raw(server: &TestServer, id: &str, ty: &str, body: String) -> Reply {
    server
        .send(
            Method::POST,
            "/",
            &[
                ("ce-specversion", "1.0"),
                ("ce-id", id),
                (
                    "ce-source",
                    "//pubsub.googleapis.com/projects/demo/topics/ingestion-topic",
                ),
                ("ce-type", ty),
                ("content-type", "application/json; charset=utf-8"),
            ],
            body,
        )
        .await
}
