//! The ingest function against a real PostgreSQL, over real HTTP, with deliveries shaped as
//! Eventarc sends them.

use std::sync::Arc;

use base64::Engine;
use http::{Method, StatusCode};
use serde_json::json;

use ingest::testing::{deliver, deliver_published_at, deliver_raw};
use shared::{
    db::Database,
    testing::{OwnCluster, Reply, TestDatabase, TestServer},
};

/// Posts a binary-mode `messagePublished` CloudEvent carrying `data`, as Eventarc would.
/// Delivers and expects a 200.
async fn accept(server: &TestServer, message_id: &str, data: &[u8]) -> Reply {
    let reply = deliver(server, message_id, data).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{message_id}: {:?}",
        String::from_utf8_lossy(&reply.body)
    );
    reply
}

/// Delivers every (message id, data) at once and returns the answers in order.
async fn deliver_all(server: &Arc<TestServer>, messages: Vec<(String, Vec<u8>)>) -> Vec<Reply> {
    let sends: Vec<_> = messages
        .into_iter()
        .map(|(id, data)| {
            let server = server.clone();
            tokio::spawn(async move { deliver(&server, &id, &data).await })
        })
        .collect();
    let mut replies = Vec::with_capacity(sends.len());
    for send in sends {
        replies.push(send.await.unwrap());
    }
    replies
}

fn user(id: Option<i32>, email: &str, name: &str) -> Vec<u8> {
    let mut value = json!({"email": email, "name": name});
    if let Some(id) = id {
        value["user_id"] = id.into();
    }
    value.to_string().into_bytes()
}

async fn start(database: &Database) -> TestServer {
    TestServer::start(ingest::function(
        database.clone(),
        ingest::Settings::default(),
    ))
    .await
}

async fn stored(db: &TestDatabase, user_id: i32) -> Option<(String, String)> {
    db.client
        .query_opt(
            "SELECT email, name FROM users WHERE user_id = $1",
            &[&user_id],
        )
        .await
        .unwrap()
        .map(|row| (row.get(0), row.get(1)))
}

#[tokio::test]
async fn a_valid_message_is_stored_before_the_2xx() {
    let db = TestDatabase::with_sample_users().await;
    let server = start(&db.database).await;
    let reply = deliver(
        &server,
        "m-1",
        &user(Some(7), "linda.williams@example.com", "Linda Williams"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        stored(&db, 7).await,
        Some(("linda.williams@example.com".into(), "Linda Williams".into()))
    );
    assert_eq!(db.count("SELECT count(*) FROM users").await, 7);
    server.stop().await;
}

#[tokio::test]
async fn an_explicit_id_updates_the_user() {
    let db = TestDatabase::with_sample_users().await;
    let server = start(&db.database).await;
    accept(
        &server,
        "m-1",
        &user(Some(3), "alice@new.example", "Alice J."),
    )
    .await;
    assert_eq!(
        stored(&db, 3).await,
        Some(("alice@new.example".into(), "Alice J.".into()))
    );
    assert_eq!(db.count("SELECT count(*) FROM users").await, 6);
    server.stop().await;
}

#[tokio::test]
async fn redelivered_message_is_stored_once() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    accept(
        &server,
        "first",
        &user(Some(10), "a@example.com", "Version A"),
    )
    .await;
    accept(
        &server,
        "second",
        &user(Some(10), "b@example.com", "Version B"),
    )
    .await;
    // A late copy of the first message must not undo the second.
    for _ in 0..3 {
        accept(
            &server,
            "first",
            &user(Some(10), "a@example.com", "Version A"),
        )
        .await;
    }
    assert_eq!(
        stored(&db, 10).await,
        Some(("b@example.com".into(), "Version B".into()))
    );
    // A message without an id is a new user only once.
    for _ in 0..3 {
        accept(
            &server,
            "generated",
            &user(None, "g@example.com", "Generated"),
        )
        .await;
    }
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE name = 'Generated'")
            .await,
        1
    );
    server.stop().await;
}

#[tokio::test]
async fn a_reused_message_id_with_another_publish_time_is_a_new_message() {
    // The Pub/Sub emulator numbers messages from 1 again after a restart.
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    let first = deliver_published_at(
        &server,
        "1",
        "2024-01-01T00:00:00Z",
        &user(Some(1), "a@x.y", "First"),
    )
    .await;
    assert_eq!(first.status, StatusCode::OK);
    let again = deliver_published_at(
        &server,
        "1",
        "2024-01-01T00:00:00Z",
        &user(Some(1), "a@x.y", "Again"),
    )
    .await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(stored(&db, 1).await, Some(("a@x.y".into(), "First".into())));
    let later = deliver_published_at(
        &server,
        "1",
        "2024-06-01T00:00:00Z",
        &user(Some(1), "a@x.y", "Later"),
    )
    .await;
    assert_eq!(later.status, StatusCode::OK);
    assert_eq!(stored(&db, 1).await, Some(("a@x.y".into(), "Later".into())));
    server.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_copies_change_the_table_once() {
    let db = TestDatabase::create().await;
    let server = Arc::new(start(&db.database).await);
    let copies = (0..50)
        .map(|_| {
            (
                "same-message".to_owned(),
                user(None, "copy@example.com", "Copy"),
            )
        })
        .collect();
    for reply in deliver_all(&server, copies).await {
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(db.count("SELECT count(*) FROM users").await, 1);
    assert_eq!(db.count("SELECT count(*) FROM processed_messages").await, 1);
}

#[tokio::test]
async fn each_poison_kind_is_acknowledged_and_kept_with_its_reason() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    let not_base64 = json!({"message": {"data": "***", "messageId": "p-base64"}}).to_string();
    let reply = deliver_raw(
        &server,
        "p-base64",
        "google.cloud.pubsub.topic.v1.messagePublished",
        not_base64,
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "discarded");
    let cases: [(&str, &[u8], &str); 4] = [
        ("p-utf8", b"\xff\xfe\xfd", "not UTF-8"),
        ("p-json", b"{\"email\": ", "not JSON"),
        (
            "p-fields",
            br#"{"email": "no-at-sign", "name": "X"}"#,
            "exactly one @",
        ),
        (
            "p-id",
            br#"{"email": "a@b", "name": "X", "user_id": -1}"#,
            "positive 32-bit",
        ),
    ];
    for (id, data, _) in &cases {
        let reply = deliver(&server, id, data).await;
        assert_eq!(reply.status, StatusCode::OK, "{id}");
        assert_eq!(reply.json()["status"], "discarded", "{id}");
    }
    let other = deliver_raw(
        &server,
        "p-type",
        "google.cloud.storage.object.v1.finalized",
        "{}".into(),
    )
    .await;
    assert_eq!(other.status, StatusCode::OK);

    let rows = db
        .client
        .query(
            "SELECT message_id, payload, attributes, reason FROM dead_letters ORDER BY message_id",
            &[],
        )
        .await
        .unwrap();
    let reason = |id: &str| -> String {
        rows.iter()
            .find(|r| r.get::<_, String>(0) == id)
            .map(|r| r.get(3))
            .unwrap_or_else(|| panic!("no dead letter for {id}"))
    };
    assert!(
        reason("p-base64").contains("not base64"),
        "{}",
        reason("p-base64")
    );
    assert!(reason("p-type").contains("google.cloud.storage.object.v1.finalized"));
    for (id, data, why) in &cases {
        assert!(reason(id).contains(why), "{id}: {}", reason(id));
        let row = rows.iter().find(|r| r.get::<_, String>(0) == *id).unwrap();
        assert_eq!(
            row.get::<_, Vec<u8>>(1),
            data.to_vec(),
            "{id} payload kept as sent"
        );
        assert_eq!(
            row.get::<_, serde_json::Value>(2),
            json!({"origin": "test"})
        );
    }
    assert_eq!(rows.len(), 6);
    assert_eq!(db.count("SELECT count(*) FROM users").await, 0);
    // A redelivered poison message is not recorded twice.
    accept(&server, "p-json", b"{\"email\": ").await;
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 6);
    server.stop().await;
}

#[tokio::test]
async fn database_down_gives_503_and_recovers_without_a_restart() {
    let cluster = OwnCluster::start("ingest-outage").await;
    let database = Database::new(cluster.config.clone()).unwrap();
    let server = start(&database).await;
    accept(&server, "before", &user(Some(1), "a@b.c", "Before")).await;

    cluster.crash().await;
    let reply = deliver(&server, "during", &user(Some(2), "a@b.c", "During")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.headers.contains_key("retry-after"));
    let poison = deliver(&server, "poison-during", b"not json").await;
    assert_eq!(
        poison.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "a dead letter that cannot be kept must be retried"
    );

    cluster.restart().await;
    let reply = deliver(&server, "during", &user(Some(2), "a@b.c", "During")).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    accept(&server, "poison-during", b"not json").await;
    let client = cluster.client().await;
    let users: i64 = client
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap()
        .get(0);
    let letters: i64 = client
        .query_one("SELECT count(*) FROM dead_letters", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!((users, letters), (2, 1));
    server.stop().await;
}

#[tokio::test]
async fn generated_ids_never_take_an_id_in_use() {
    let db = TestDatabase::with_sample_users().await;
    let server = start(&db.database).await;
    accept(
        &server,
        "explicit-100",
        &user(Some(100), "e@x.y", "Explicit"),
    )
    .await;
    for i in 0..3 {
        let id = format!("generated-{i}");
        accept(&server, &id, &user(None, "g@x.y", "Generated")).await;
    }
    let ids: Vec<i32> = db
        .client
        .query(
            "SELECT user_id FROM users WHERE name = 'Generated' ORDER BY user_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    // Free ids, none of the sample users' (1-6) nor the explicit 100; a large explicit id no
    // longer moves the generated ones past it.
    assert_eq!(ids, vec![7, 8, 9]);
    assert_eq!(
        stored(&db, 100).await,
        Some(("e@x.y".into(), "Explicit".into()))
    );
    // The sample users (1-6) were loaded explicitly too.
    assert_eq!(db.count("SELECT count(*) FROM users").await, 10);
    server.stop().await;
}

#[tokio::test]
async fn generated_ids_stay_clear_of_explicit_ids_under_concurrency() {
    let db = TestDatabase::create().await;
    let server = Arc::new(start(&db.database).await);
    let send_all = |messages: Vec<(String, Vec<u8>)>| {
        let server = server.clone();
        async move {
            for reply in deliver_all(&server, messages).await {
                assert_eq!(reply.status, StatusCode::OK);
            }
        }
    };
    // Explicit ids 1000-1099, all at once.
    send_all(
        (1000..1100)
            .map(|i| (format!("explicit-{i}"), user(Some(i), "e@x.y", "Explicit")))
            .collect(),
    )
    .await;
    // Then new users and updates of those ids, interleaved.
    let mut mixed: Vec<_> = (0..100)
        .map(|i| (format!("generated-{i}"), user(None, "g@x.y", "Generated")))
        .collect();
    mixed.extend((1000..1100).map(|i| (format!("update-{i}"), user(Some(i), "e@x.y", "Updated"))));
    send_all(mixed).await;

    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE name = 'Updated'")
            .await,
        100
    );
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE name = 'Generated' AND user_id NOT BETWEEN 1000 AND 1099")
            .await,
        100
    );
    assert_eq!(db.count("SELECT count(*) FROM users").await, 200);
}

#[tokio::test]
async fn two_thousand_concurrent_distinct_events_give_two_thousand_rows() {
    let db = TestDatabase::create().await;
    let server = Arc::new(start(&db.database).await);
    let events = (0..2000)
        .map(|i| {
            let data = user(None, &format!("user{i}@example.com"), &format!("User {i}"));
            (format!("distinct-{i}"), data)
        })
        .collect();
    for reply in deliver_all(&server, events).await {
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(db.count("SELECT count(*) FROM users").await, 2000);
    assert_eq!(
        db.count("SELECT count(DISTINCT email) FROM users").await,
        2000
    );
}

#[tokio::test]
async fn concurrent_deliveries_are_written_together() {
    let db = TestDatabase::create().await;
    let server = Arc::new(start(&db.database).await);
    let events = (0..200)
        .map(|i| {
            let data = user(None, &format!("batch{i}@example.com"), "Batched");
            (format!("batch-{i}"), data)
        })
        .collect();
    for reply in deliver_all(&server, events).await {
        assert_eq!(reply.status, StatusCode::OK);
    }
    assert_eq!(db.count("SELECT count(*) FROM users").await, 200);
    // processed_at is the transaction's start time: one value per transaction.
    let transactions = db
        .count("SELECT count(DISTINCT processed_at) FROM processed_messages")
        .await;
    assert!(
        transactions <= 100,
        "200 concurrent deliveries took {transactions} transactions; group commit should share them"
    );
}

/// `count` messages `row-0`, `row-1`, ... of new users called "Neighbour N", except that
/// `row-{mallory}` is Mallory's, whom the test's database refuses.
fn neighbours_and_mallory(count: usize, mallory: usize) -> Vec<(String, Vec<u8>)> {
    (0..count)
        .map(|i| {
            let name = match i == mallory {
                true => "Mallory".to_owned(),
                false => format!("Neighbour {i}"),
            };
            (format!("row-{i}"), user(None, "n@example.com", &name))
        })
        .collect()
}

#[tokio::test]
async fn a_row_the_database_refuses_does_not_fail_its_batch() {
    let db = TestDatabase::create().await;
    // A rule only the database knows, so the row passes validation and fails in the batch.
    db.client
        .batch_execute("ALTER TABLE users ADD CONSTRAINT no_mallory CHECK (name <> 'Mallory')")
        .await
        .unwrap();
    let server = Arc::new(start(&db.database).await);
    let replies = deliver_all(&server, neighbours_and_mallory(100, 50)).await;
    for reply in &replies {
        assert_eq!(reply.status, StatusCode::OK);
    }
    // The sender learns that the database refused the row, not the database's internals;
    // the log and the dead letter keep them.
    let told = String::from_utf8_lossy(&replies[50].body).into_owned();
    assert!(told.contains("the database refused the row"), "{told}");
    assert!(
        !told.contains("no_mallory") && !told.contains("23514"),
        "{told}"
    );
    assert_eq!(db.count("SELECT count(*) FROM users").await, 99);
    let reason: String = db
        .client
        .query_one(
            "SELECT reason FROM dead_letters WHERE message_id = 'row-50'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(reason.contains("no_mallory"), "{reason}");
}

#[tokio::test]
async fn a_row_an_operators_trigger_refuses_is_kept_not_retried_for_ever() {
    let db = TestDatabase::create().await;
    // RAISE EXCEPTION in a trigger is SQLSTATE P0001: the same row is refused every time.
    db.client
        .batch_execute(
            "CREATE FUNCTION refuse_mallory() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.name = 'Mallory' THEN RAISE EXCEPTION 'no Mallory here'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_mallory BEFORE INSERT OR UPDATE ON users
                 FOR EACH ROW EXECUTE FUNCTION refuse_mallory()",
        )
        .await
        .unwrap();
    let server = Arc::new(start(&db.database).await);
    let replies = deliver_all(&server, neighbours_and_mallory(20, 10)).await;

    for reply in &replies {
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&reply.body)
        );
    }
    assert_eq!(db.count("SELECT count(*) FROM users").await, 19);
    let reason: String = db
        .client
        .query_one(
            "SELECT reason FROM dead_letters WHERE message_id = 'row-10'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(
        reason.contains("no Mallory here") && reason.contains("P0001"),
        "{reason}"
    );
}

/// Posts a structured-mode CloudEvent: its attributes travel in the JSON body, where a sender
/// can put what no header could carry (a NUL, 300 KB).
async fn deliver_structured(
    server: &TestServer,
    id: &str,
    ty: &str,
    data: serde_json::Value,
) -> Reply {
    let event = json!({
        "specversion": "1.0",
        "id": id,
        "source": "//pubsub.googleapis.com/projects/demo/topics/ingestion-topic",
        "type": ty,
        "datacontenttype": "application/json",
        "data": data,
    });
    server
        .send(
            Method::POST,
            "/",
            &[("content-type", "application/cloudevents+json")],
            event.to_string(),
        )
        .await
}

/// The data of a `messagePublished` event.
fn published(message_id: &str, attributes: serde_json::Value, data: &[u8]) -> serde_json::Value {
    json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "attributes": attributes,
            "messageId": message_id,
            "publishTime": "2024-05-06T07:08:09.123Z"
        },
        "subscription": "projects/demo/subscriptions/eventarc-ingest"
    })
}

const PUBLISHED: &str = "google.cloud.pubsub.topic.v1.messagePublished";

/// Delivers a `messagePublished` event and its redelivery; both must be acknowledged.
async fn deliver_twice_expecting_200(server: &TestServer, id: &str, data: serde_json::Value) {
    for _ in 0..2 {
        let reply = deliver_structured(server, id, PUBLISHED, data.clone()).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{:?}",
            String::from_utf8_lossy(&reply.body)
        );
    }
}

#[tokio::test]
async fn a_message_id_longer_than_an_index_key_is_stored_once() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    // 6,000 random characters: more than a btree key may hold (about 2.7 KB, and random text
    // does not compress), which got a 500 on every redelivery.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    let long_id: String = (0..6000)
        .map(|_| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            char::from(ALPHABET[(state >> 33) as usize % ALPHABET.len()])
        })
        .collect();
    let data = published(&long_id, json!({}), &user(None, "long@example.com", "Long"));
    deliver_twice_expecting_200(&server, "ce-long", data).await;
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE name = 'Long'")
            .await,
        1
    );
    assert_eq!(db.count("SELECT count(*) FROM processed_messages").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn nuls_in_ids_and_attributes_are_kept_not_retried_forever() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;

    // A NUL in the Pub/Sub message id of a valid message: stored, once.
    let data = published("nul\0id", json!({}), &user(None, "nul@example.com", "Nul"));
    deliver_twice_expecting_200(&server, "ce-nul", data).await;
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE name = 'Nul'")
            .await,
        1
    );

    // A NUL in ce-id, on an event of another type: acknowledged and kept.
    let reply = deliver_structured(&server, "ce\0id", "com.example.other", json!({"x": 1})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&reply.body).contains("discarded"));

    // A NUL in an attribute of a poison message: acknowledged and kept, NUL and all.
    let data = published("poison", json!({"k\0ey": "va\0lue"}), b"not json");
    let reply = deliver_structured(&server, "ce-poison", PUBLISHED, data).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&reply.body).contains("discarded"));

    let kept: Vec<(String, serde_json::Value)> = db
        .client
        .query(
            "SELECT message_id, attributes FROM dead_letters ORDER BY message_id",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), row.get(1)))
        .collect();
    assert_eq!(
        kept,
        vec![
            ("ce\u{2400}id".to_owned(), json!({})),
            ("poison".to_owned(), json!({"k\u{2400}ey": "va\u{2400}lue"})),
        ]
    );
    server.stop().await;
}

#[tokio::test]
async fn a_300_kb_event_id_is_kept_and_not_echoed() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    let huge = "i".repeat(300_000);
    let reply = deliver_structured(&server, &huge, "com.example.other", json!({"x": 1})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply.body.len() < 2_000,
        "the reply echoed {} bytes",
        reply.body.len()
    );
    assert_eq!(
        db.count("SELECT length(message_id)::bigint FROM dead_letters")
            .await,
        300_000
    );
    // And a redelivery is the same dead letter, kept once.
    let again = deliver_structured(&server, &huge, "com.example.other", json!({"x": 1})).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 1);
    server.stop().await;
}

#[tokio::test]
async fn a_row_held_elsewhere_gets_503_while_other_messages_flow() {
    let db = TestDatabase::with_sample_users().await;
    let server = Arc::new(start(&db.database).await);
    // An operator's open transaction holds user 1, and keeps it for the whole test.
    let holder = shared::testing::plain_client(&db.config).await;
    holder
        .batch_execute("BEGIN; UPDATE users SET name = 'Held' WHERE user_id = 1")
        .await
        .unwrap();

    let blocked = deliver(&server, "blocked", &user(Some(1), "j@example.com", "John")).await;
    assert_eq!(blocked.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(blocked.headers.contains_key("retry-after"));

    // Before, every one of these waited behind the held row (50 took 13.6 s for a 15 s hold).
    let others = (0..50)
        .map(|i| {
            (
                format!("other-{i}"),
                user(None, &format!("o{i}@example.com"), "Other"),
            )
        })
        .collect();
    let replies = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        deliver_all(&server, others),
    )
    .await
    .expect("unrelated messages do not wait for the held row");
    assert!(replies.iter().all(|r| r.status == StatusCode::OK));
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE name = 'Other'")
            .await,
        50
    );

    // Released, the redelivery goes through.
    holder.batch_execute("ROLLBACK").await.unwrap();
    accept(&server, "blocked", &user(Some(1), "j@example.com", "John")).await;
    assert_eq!(
        stored(&db, 1).await,
        Some(("j@example.com".into(), "John".into()))
    );
}

#[tokio::test]
async fn wrong_database_settings_keep_messages_waiting_with_503() {
    let db = TestDatabase::create().await;
    let wrong = crate::common::wrong_user(&db.name);
    let database = Database::new(wrong).unwrap();
    let error = database.check().await.expect_err("the role does not exist");
    assert_eq!(*error.kind(), shared::db::DbErrorKind::Config);
    assert!(
        error.message().contains("check PGUSER"),
        "{}",
        error.message()
    );
    let socket = format!(
        "cannot connect to the database at {}/.s.PGSQL.{}",
        std::env::var("PGHOST").unwrap(),
        std::env::var("PGPORT").unwrap()
    );
    assert!(error.message().starts_with(&socket), "{}", error.message());

    // Not a bug (500) and not the message's fault (dead letter): it waits in Pub/Sub.
    let server = start(&database).await;
    for attempt in 0..2 {
        let reply = deliver(&server, "waits", &user(None, "w@example.com", "Waits")).await;
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "attempt {attempt}"
        );
        assert!(reply.headers.contains_key("retry-after"));
    }
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 0);
    server.stop().await;
}

#[tokio::test]
async fn the_function_removes_keys_past_the_retention_by_itself_and_still_stores_once() {
    let db = TestDatabase::create().await;
    let settings = ingest::Settings {
        prune_every: std::time::Duration::from_secs(1),
        ..ingest::Settings::default()
    };
    let server = TestServer::start(ingest::function(db.database.clone(), settings)).await;
    accept(&server, "old", &user(None, "old@example.com", "Old")).await;
    db.client
        .execute(
            "UPDATE processed_messages SET processed_at = now() - interval '9 days'",
            &[],
        )
        .await
        .unwrap();
    accept(&server, "recent", &user(None, "new@example.com", "New")).await;

    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while db.count("SELECT count(*) FROM processed_messages").await > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the key past the retention was not removed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    accept(&server, "recent", &user(None, "new@example.com", "New")).await;
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE name = 'New'")
            .await,
        1
    );
    let left: String = db
        .client
        .query_one("SELECT delivery_key FROM processed_messages", &[])
        .await
        .unwrap()
        .get(0);
    assert!(left.starts_with("recent@"), "{left}");
}

/// A fresh database is migrated at start, before the first delivery, which then finds the
/// schema and its connection ready.
#[tokio::test]
async fn start_migrates_and_connects_before_the_first_delivery() {
    let db = TestDatabase::create_unmigrated().await;
    let database = Database::new(db.config.clone()).unwrap();
    let server = TestServer::start(ingest::function(database, ingest::Settings::default())).await;
    let migrated = "SELECT count(*) FROM pg_tables WHERE tablename = 'processed_messages'";
    let mut waited = std::time::Duration::ZERO;
    while db.count(migrated).await == 0 {
        assert!(
            waited < std::time::Duration::from_secs(10),
            "not migrated at start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        waited += std::time::Duration::from_millis(20);
    }
    accept(
        &server,
        "first-after-start",
        br#"{"email": "a@example.com", "name": "A"}"#,
    )
    .await;
    assert_eq!(db.count("SELECT count(*) FROM users").await, 1);
}

#[tokio::test]
async fn an_unusable_publish_time_counts_as_none_and_the_message_is_stored_once() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    for (n, time) in ["", "yesterday", "2024-13-45T99:00:00Z"].iter().enumerate() {
        let id = format!("bad-time-{n}");
        let data = json!({"email": format!("t{n}@example.com"), "name": "T"}).to_string();
        let reply = deliver_published_at(&server, &id, time, data.as_bytes()).await;
        assert_eq!(reply.status, StatusCode::OK, "publishTime {time:?}");
        // The delivery key is the message id alone: a redelivery is recognised.
        let again = deliver_published_at(&server, &id, time, data.as_bytes()).await;
        assert_eq!(again.status, StatusCode::OK);
    }
    assert_eq!(db.count("SELECT count(*) FROM users").await, 3);
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 0);
    assert_eq!(
        db.count("SELECT count(*) FROM processed_messages WHERE delivery_key LIKE 'bad-time-_'")
            .await,
        3
    );
}

/// A later migration widening `email` while ingest runs: the write prepared before still
/// works (prepared again if the server asks), with no restart.
#[tokio::test]
async fn a_column_widened_while_ingest_runs_is_written_at_once_without_a_restart() {
    let db = TestDatabase::with_sample_users().await;
    let server = start(&db.database).await;
    accept(
        &server,
        "w-1",
        &user(Some(7), "before@example.com", "Before"),
    )
    .await;

    db.client
        .batch_execute(
            "ALTER TABLE users ALTER COLUMN email TYPE varchar(320);
             ALTER TABLE users ALTER COLUMN name TYPE text",
        )
        .await
        .unwrap();
    accept(&server, "w-2", &user(Some(8), "after@example.com", "After")).await;
    assert_eq!(
        stored(&db, 8).await,
        Some(("after@example.com".into(), "After".into()))
    );
    server.stop().await;
}

/// A failover onto a standby (the database read-only, every session ended): every delivery
/// is asked to come back (503 with Retry-After), nothing is half-written, and once the
/// database is writable again the same deliveries are stored, with no restart.
#[tokio::test]
async fn a_read_only_database_gets_503_with_retry_after_and_recovers_by_itself() {
    let db = TestDatabase::with_sample_users().await;
    let server = Arc::new(start(&db.database).await);
    accept(
        &server,
        "ro-0",
        &user(Some(10), "first@example.com", "First"),
    )
    .await;

    db.make_read_only().await;
    let messages: Vec<(String, Vec<u8>)> = (1..=40)
        .map(|i| {
            let email = format!("ro{i}@example.com");
            (format!("ro-{i}"), user(Some(100 + i), &email, "Read Only"))
        })
        .collect();
    for reply in deliver_all(&server, messages.clone()).await {
        assert_eq!(
            reply.status,
            StatusCode::SERVICE_UNAVAILABLE,
            "{:?}",
            String::from_utf8_lossy(&reply.body)
        );
        assert!(reply.headers.contains_key("retry-after"));
    }
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE user_id > 100")
            .await,
        0
    );
    assert_eq!(db.count("SELECT count(*) FROM dead_letters").await, 0);

    // Writable again for new sessions only: the function replaces its read-only ones.
    db.make_writable().await;
    let mut waiting = messages;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while !waiting.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} deliveries still refused 5 s after the database became writable",
            waiting.len()
        );
        let replies = deliver_all(&server, waiting.clone()).await;
        waiting = waiting
            .into_iter()
            .zip(replies)
            .filter(|(_, reply)| reply.status != StatusCode::OK)
            .map(|(message, _)| message)
            .collect();
    }
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE user_id > 100")
            .await,
        40
    );
}
