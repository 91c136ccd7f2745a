//! Peak memory of the real ingest process (VmHWM) for hostile and large bodies, against real
//! PostgreSQL: bounded by the body limit, never amplified (Cloud Run gives it 256 MiB, and one
//! request over that kills every delivery in flight).

use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use shared::testing::{FunctionProcess, TestDatabase};

const MB: u64 = 1_000_000;
type Headers = &'static [(&'static str, &'static str)];
/// The default body limit.
const LIMIT: usize = 16 * 1024 * 1024;

fn ingest(db: &TestDatabase) -> FunctionProcess {
    FunctionProcess::start(env!("CARGO_BIN_EXE_ingest"), &db.config, &[])
}

/// `[[],[],...]`: three bytes a value, about 20 times that as a parsed tree.
fn tiny_values(bytes: usize) -> String {
    format!("[{}[]]", "[],".repeat(bytes / 3 - 2))
}

fn within(body: usize) -> u64 {
    3 * body as u64 + 20 * MB
}

#[tokio::test]
async fn bodies_of_tiny_json_values_are_refused_without_building_a_tree() {
    let db = TestDatabase::create().await;
    let values = tiny_values(LIMIT - 400);
    let forms: [(&str, String, Headers); 3] = [
        (
            "structured",
            format!(r#"{{"specversion":"1.0","id":"x","source":"s","type":"t","data":{values}}}"#),
            &[("content-type", "application/cloudevents+json")],
        ),
        (
            "legacy",
            format!(
                r#"{{"context":{{"eventId":"1","timestamp":"2024-01-01T00:00:00Z","eventType":"providers/cloud.pubsub/eventTypes/topic.publish","resource":"projects/p/topics/t"}},"data":{values}}}"#
            ),
            &[("content-type", "application/json")],
        ),
        (
            "push",
            format!(
                r#"{{"message":{{"data":"","messageId":"1"}},"subscription":"s","extra":{values}}}"#
            ),
            &[("content-type", "application/json")],
        ),
    ];
    for (form, body, headers) in forms {
        // Before: 709 MB (structured), 693 MB (legacy), 365 MB (push) for 30 MB bodies.
        let process = ingest(&db);
        let size = body.len();
        let status = process
            .send(Method::POST, "/", headers, Bytes::from(body))
            .await;
        assert_eq!(status, Ok(StatusCode::BAD_REQUEST), "{form}");
        let peak = process.peak_rss_bytes();
        assert!(
            peak < within(size),
            "{form}: peak {} MB for a {} MB body",
            peak / MB,
            size as u64 / MB
        );
    }
}

fn message_of(data_bytes: usize) -> Bytes {
    let data = base64::engine::general_purpose::STANDARD.encode(vec![0xA5u8; data_bytes]);
    let body = serde_json::json!({
        "message": {"data": data, "messageId": "big", "publishTime": "2024-01-01T00:00:00Z"},
        "subscription": "projects/p/subscriptions/s"
    });
    Bytes::from(body.to_string())
}

const BINARY_MODE: [(&str, &str); 5] = [
    ("content-type", "application/json"),
    ("ce-specversion", "1.0"),
    ("ce-id", "big"),
    ("ce-source", "//pubsub.googleapis.com/projects/p/topics/t"),
    ("ce-type", "google.cloud.pubsub.topic.v1.messagePublished"),
];

#[tokio::test]
async fn the_largest_pubsub_message_stays_within_three_times_its_size() {
    let db = TestDatabase::create().await;
    let process = ingest(&db);
    // 10 MB of data, Pub/Sub's maximum: 13.4 MB once base64-encoded.
    let body = message_of(10 * MB as usize);
    let size = body.len();
    assert!(size < LIMIT);
    // Not a user (binary data): kept as a dead letter, payload and all.
    let status = process.send(Method::POST, "/", &BINARY_MODE, body).await;
    assert_eq!(status, Ok(StatusCode::OK));
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 1);
    let peak = process.peak_rss_bytes();
    assert!(
        peak < within(size),
        "peak {} MB for a {} MB body",
        peak / MB,
        size as u64 / MB
    );
}

#[tokio::test]
async fn eight_bodies_at_the_limit_at_once_stay_inside_the_instance() {
    let db = TestDatabase::create().await;
    let process = std::sync::Arc::new(ingest(&db));
    let body = message_of(LIMIT / 4 * 3 - 4096);
    assert!(body.len() <= LIMIT);
    let sends: Vec<_> = (0..8)
        .map(|_| {
            let (process, body) = (process.clone(), body.clone());
            tokio::spawn(async move { process.send(Method::POST, "/", &BINARY_MODE, body).await })
        })
        .collect();
    for send in sends {
        assert_eq!(send.await.unwrap(), Ok(StatusCode::OK));
    }
    let peak = process.peak_rss_bytes();
    assert!(peak < 256 * 1024 * 1024, "peak {} MB", peak / MB);
}
