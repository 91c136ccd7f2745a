//! What ingest makes of inputs a sender could mean two ways (issue 31, items 3 and 10): message
//! ids that name no message or look like another message's key, JSON with a repeated field,
//! a leading byte order mark. Through the real handler, against a real PostgreSQL.

use base64::Engine;
use http::{Method, StatusCode};
use serde_json::json;

use ingest::testing::{deliver, deliver_published_at, deliver_raw};
use shared::testing::{Reply, TestDatabase, TestServer};

async fn start(db: &TestDatabase) -> TestServer {
    TestServer::start(ingest::function(
        db.database.clone(),
        ingest::Settings::default(),
    ))
    .await
}

fn body(reply: &Reply) -> String {
    String::from_utf8_lossy(&reply.body).into_owned()
}

/// A binary-mode delivery whose event id is `ce_id` and whose Pub/Sub message id is `message_id`.
async fn deliver_with_message_id(
    server: &TestServer,
    ce_id: &str,
    message_id: &str,
    data: &str,
) -> Reply {
    let published = json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "messageId": message_id,
            "publishTime": "2024-05-06T07:08:09.123Z"
        },
        "subscription": "projects/demo/subscriptions/eventarc-ingest"
    });
    deliver_raw(
        server,
        ce_id,
        "google.cloud.pubsub.topic.v1.messagePublished",
        published.to_string(),
    )
    .await
}

#[tokio::test]
async fn a_blank_message_id_is_a_dead_letter_never_taken_for_another_message() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    let messages = [
        (
            "ce-1",
            "",
            r#"{"user_id": 1, "email": "a@example.com", "name": "A"}"#,
        ),
        (
            "ce-2",
            "",
            r#"{"user_id": 2, "email": "b@example.com", "name": "B"}"#,
        ),
        (
            "ce-3",
            " ",
            r#"{"user_id": 3, "email": "c@example.com", "name": "C"}"#,
        ),
        (
            "ce-4",
            " ",
            r#"{"user_id": 4, "email": "d@example.com", "name": "D"}"#,
        ),
    ];
    for (ce_id, message_id, data) in messages {
        let reply = deliver_with_message_id(&server, ce_id, message_id, data).await;
        assert_eq!(reply.status, StatusCode::OK, "{ce_id}: {}", body(&reply));
        // Not an empty 200, the answer to a redelivery.
        assert!(
            body(&reply).contains("discarded") && body(&reply).contains("messageId is blank"),
            "{ce_id}: {}",
            body(&reply)
        );
    }
    // Not one taken for a redelivery of another: each is kept, none stored, nothing claimed.
    assert_eq!(db.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM processed_messages").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 4);
    // A redelivery of one of them is the same letter, kept once.
    let (ce_id, message_id, data) = messages[1];
    deliver_with_message_id(&server, ce_id, message_id, data).await;
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 4);
    let kept: Vec<Vec<u8>> = db
        .client
        .query("SELECT payload FROM dead_letters ORDER BY payload", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let sent: Vec<Vec<u8>> = messages.iter().map(|m| m.2.as_bytes().to_vec()).collect();
    assert_eq!(kept, sent);
    server.stop().await;
}

#[tokio::test]
async fn events_of_another_type_with_blank_ids_are_each_kept() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    // The last is a copy of the first: kept once.
    for (id, data) in [
        ("", r#"{"a":1}"#),
        ("", r#"{"a":2}"#),
        (" ", r#"{"a":3}"#),
        ("", r#"{"a":1}"#),
    ] {
        let reply = deliver_raw(&server, id, "com.example.other", data.into()).await;
        assert_eq!(reply.status, StatusCode::OK, "{id:?}: {}", body(&reply));
    }
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 3);
    server.stop().await;
}

#[tokio::test]
async fn an_id_that_spells_another_messages_key_is_a_message_of_its_own() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    let user = |id: i32| json!({"user_id": id, "email": "k@example.com", "name": "K"}).to_string();
    // Id `k` published at midnight, and id `k@<midnight>` with no publish time ("" counts as
    // none): two messages, in either order.
    let pairs = [
        (
            ("k", "2024-01-01T00:00:00Z"),
            ("k@2024-01-01T00:00:00Z", ""),
        ),
        (
            ("j@2024-01-01T00:00:00Z", ""),
            ("j", "2024-01-01T00:00:00Z"),
        ),
        // An id ending in `@` without a time, and the same id without the `@`.
        (("h@", ""), ("h", "")),
    ];
    let mut user_id = 0;
    for (first, second) in pairs {
        for (message_id, time) in [first, second] {
            user_id += 1;
            let reply =
                deliver_published_at(&server, message_id, time, user(user_id).as_bytes()).await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{message_id}: {}",
                body(&reply)
            );
            assert!(reply.body.is_empty(), "{message_id}: {}", body(&reply));
        }
    }
    assert_eq!(db.count("SELECT count(*) FROM users").await, 6);
    assert_eq!(db.count("SELECT count(*) FROM processed_messages").await, 6);
    server.stop().await;
}

/// Keys are kept as they were for every message Pub/Sub can send (a message id of digits
/// with a publish time), so a message stored before an upgrade and redelivered after it is
/// still a redelivery. A guard on the upgrade, not a fix: it passes before and after.
#[tokio::test]
async fn keys_stored_before_the_upgrade_still_name_their_messages() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    // As the previous release stored them: `id@time`, and the id alone without a time.
    db.client
        .batch_execute(
            "INSERT INTO processed_messages (delivery_key)
             VALUES ('4711@2024-05-06T07:08:09.123Z'), ('4712')",
        )
        .await
        .unwrap();
    let data = json!({"user_id": 9, "email": "late@example.com", "name": "Late"}).to_string();
    let reply =
        deliver_published_at(&server, "4711", "2024-05-06T07:08:09.123Z", data.as_bytes()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", body(&reply));
    let reply = deliver_published_at(&server, "4712", "", data.as_bytes()).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", body(&reply));
    assert_eq!(db.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM processed_messages").await, 2);
    server.stop().await;
}

#[tokio::test]
async fn a_field_given_twice_is_a_dead_letter_that_names_it() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    let cases = [
        (
            "twice-user-id",
            r#"{"user_id": 1, "email": "a@example.com", "name": "A", "user_id": 2}"#,
            "user_id",
        ),
        // The same name, escaped: still the same field.
        (
            "escaped-twice",
            r#"{"user_id": 1, "email": "a@example.com", "name": "A", "user\u005fid": 2}"#,
            "user_id",
        ),
        (
            "twice-name",
            r#"{"email": "a@example.com", "name": "A", "name": "B"}"#,
            "name",
        ),
    ];
    for (id, data, field) in cases {
        let reply = deliver(&server, id, data.as_bytes()).await;
        assert_eq!(reply.status, StatusCode::OK, "{id}");
        let told = body(&reply);
        assert!(
            told.contains("discarded")
                && told.contains(&format!("{field} is given more than once")),
            "{id}: {told}"
        );
    }
    assert_eq!(db.count("SELECT count(*) FROM users").await, 0);
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 3);
    // A field ingest does not read is ignored, however often it comes.
    let ignored = r#"{"email": "n@example.com", "name": "N", "note": 1, "note": 2}"#;
    let reply = deliver(&server, "twice-ignored", ignored.as_bytes()).await;
    assert!(reply.body.is_empty(), "{}", body(&reply));
    assert_eq!(db.count("SELECT count(*) FROM users").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn a_leading_byte_order_mark_is_ignored_and_one_anywhere_else_is_not_json() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    let json = r#"{"user_id": 5, "email": "bom@example.com", "name": "Bom"}"#;
    let reply = deliver(&server, "bom", format!("\u{FEFF}{json}").as_bytes()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty(), "{}", body(&reply));
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE user_id = 5")
            .await,
        1
    );
    for (id, data) in [
        ("two-boms", format!("\u{FEFF}\u{FEFF}{json}")),
        ("bom-after-space", format!(" \u{FEFF}{json}")),
    ] {
        let reply = deliver(&server, id, data.as_bytes()).await;
        assert!(body(&reply).contains("not JSON"), "{id}: {}", body(&reply));
    }
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 2);
    server.stop().await;
}

/// The envelope too: a delivery whose Pub/Sub message gives `data` (or its id) twice is
/// never read one way among several. In binary mode (Eventarc's) the typed payload refuses
/// it and it is a dead letter; a structured-mode event or a raw push body, which the
/// framework parses into a tree, is refused with 400 before it is read.
#[tokio::test]
async fn a_message_that_gives_its_data_twice_is_never_read_one_way() {
    let db = TestDatabase::create().await;
    let server = start(&db).await;
    let encode = |name: &str| {
        let user = json!({"user_id": 1, "email": "a@example.com", "name": name});
        base64::engine::general_purpose::STANDARD.encode(user.to_string())
    };
    let (a, b) = (encode("A"), encode("B"));
    let message = |id: &str| format!(r#"{{"data": "{a}", "messageId": "{id}", "data": "{b}"}}"#);

    let binary = format!(r#"{{"message": {}}}"#, message("binary"));
    let reply = deliver_raw(&server, "binary", PUBLISHED, binary).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        body(&reply).contains("duplicate field `data`"),
        "{}",
        body(&reply)
    );

    let structured = format!(
        r#"{{"specversion": "1.0", "id": "s", "source": "//pubsub", "type": "{PUBLISHED}",
            "datacontenttype": "application/json", "data": {{"message": {}}}}}"#,
        message("structured")
    );
    let push = format!(
        r#"{{"message": {}, "subscription": "projects/p/subscriptions/s"}}"#,
        message("push")
    );
    for (form, content_type, body_sent) in [
        ("structured", "application/cloudevents+json", structured),
        ("push", "application/json", push),
    ] {
        let reply = server
            .send(
                Method::POST,
                "/",
                &[("content-type", content_type)],
                body_sent,
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{form}: {}",
            body(&reply)
        );
        assert!(
            body(&reply).contains("\\\"data\\\" is given twice"),
            "{form}: {}",
            body(&reply)
        );
    }
    assert_eq!(db.count("SELECT count(*) FROM users").await, 0);
    server.stop().await;
}

const PUBLISHED: &str = "google.cloud.pubsub.topic.v1.messagePublished";
