//! The newest update of a user wins, whatever order its messages arrive in (issue 31, item 7):
//! Pub/Sub without ordering keys delivers out of order, and a redelivery after a 503 arrives
//! late. Through the real handler, against a real PostgreSQL.

use chrono::{SecondsFormat, TimeDelta, Utc};
use http::StatusCode;
use serde_json::json;

use ingest::testing::deliver_published_at;
use shared::testing::{TestDatabase, TestServer};

async fn start(db: &TestDatabase) -> TestServer {
    TestServer::start(ingest::function(
        db.database.clone(),
        ingest::Settings::default(),
    ))
    .await
}

/// Delivers message `id`, published at `time`, updating user 1 to `name`; expects a 200.
async fn update(server: &TestServer, id: &str, time: &str, name: &str) {
    let data = json!({"user_id": 1, "email": "u@example.com", "name": name}).to_string();
    let reply = deliver_published_at(server, id, time, data.as_bytes()).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{id}: {}",
        String::from_utf8_lossy(&reply.body)
    );
    assert!(reply.body.is_empty(), "{id}: {:?}", reply.body);
}

async fn name_of_user_1(db: &TestDatabase) -> String {
    db.client
        .query_one("SELECT name FROM users WHERE user_id = 1", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_older_update_arriving_later_does_not_undo_a_newer_one() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    update(&server, "m-2", "2024-05-06T12:00:05Z", "Newer").await;
    // Published five seconds earlier, delivered after: processed (a redelivery of it changes
    // nothing either), but the row keeps the newer update.
    update(&server, "m-1", "2024-05-06T12:00:00Z", "Older").await;
    update(&server, "m-1", "2024-05-06T12:00:00Z", "Older").await;
    assert_eq!(name_of_user_1(&db).await, "Newer");
    assert_eq!(db.count("SELECT count(*) FROM processed_messages").await, 2);
    // A later one still wins, even by a millisecond.
    update(&server, "m-3", "2024-05-06T12:00:05.001Z", "Newest").await;
    assert_eq!(name_of_user_1(&db).await, "Newest");
    server.stop().await;
}

#[tokio::test]
async fn updates_published_at_the_same_time_end_the_same_in_either_order() {
    let mut ends = Vec::new();
    for order in [["m-a", "m-b"], ["m-b", "m-a"]] {
        let db = TestDatabase::create().await;
        let server = start(&db).await;
        for id in order {
            update(&server, id, "2024-05-06T12:00:00.5Z", id).await;
        }
        ends.push(name_of_user_1(&db).await);
        server.stop().await;
    }
    // The greater delivery key wins the tie: `m-b@...` over `m-a@...`.
    assert_eq!(ends, ["m-b", "m-b"]);
}

#[tokio::test]
async fn without_a_publish_time_a_message_counts_as_published_when_it_was_received() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    // No publish time ("" counts as none): received now.
    update(&server, "untimed", "", "Received now").await;
    // So a message published in 2024 and delivered after it is older.
    update(
        &server,
        "timed",
        "2024-05-06T12:00:00Z",
        "Published in 2024",
    )
    .await;
    assert_eq!(name_of_user_1(&db).await, "Received now");
    // And one published after it is newer.
    let later = (Utc::now() + TimeDelta::seconds(1)).to_rfc3339_opts(SecondsFormat::Millis, true);
    update(&server, "later", &later, "Published later").await;
    assert_eq!(name_of_user_1(&db).await, "Published later");
    server.stop().await;
}

/// A guard on the rule itself (the previous release, where the last to arrive won, had no
/// such hazard): a publish time far ahead would otherwise outrank every later update.
#[tokio::test]
async fn a_publish_time_in_the_future_cannot_hold_a_user_against_later_updates() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    update(&server, "future", "9999-12-31T23:59:59Z", "From 9999").await;
    assert_eq!(name_of_user_1(&db).await, "From 9999");
    // Two minutes ahead counts as a minute after it was received: after the first one's
    // minute, since it was received after it.
    let ahead = (Utc::now() + TimeDelta::minutes(2)).to_rfc3339_opts(SecondsFormat::Millis, true);
    update(&server, "ahead", &ahead, "Two minutes ahead").await;
    assert_eq!(name_of_user_1(&db).await, "Two minutes ahead");
    server.stop().await;
}
