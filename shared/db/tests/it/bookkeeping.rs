//! Pruning `processed_messages` against real PostgreSQL: keys older than the retention go,
//! keys inside it stay and still recognise a redelivery, and one session at a time does it.

use std::time::Duration;

use pipeline_db::{testing::TestDatabase, NewUser, Pruned, WriteOutcome};

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn message(key: &str) -> NewUser {
    NewUser {
        delivery_key: key.into(),
        user_id: None,
        email: format!("{key}@example.com"),
        name: key.into(),
        published_at: chrono::Utc::now(),
    }
}

async fn age_keys(test: &TestDatabase, keys: &[&str], days: i32) {
    test.client
        .execute(
            "UPDATE processed_messages SET processed_at = now() - make_interval(days => $2)
             WHERE delivery_key = ANY ($1)",
            &[&keys, &days],
        )
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_past_the_retention_go_and_a_redelivery_inside_it_is_still_stored_once() {
    let test = TestDatabase::create().await;
    let written = ["old-1", "old-2", "recent"].map(message);
    test.database.write_users(&written).await.unwrap();
    age_keys(&test, &["old-1", "old-2"], 9).await;
    age_keys(&test, &["recent"], 7).await;

    let pruned = test.database.prune_processed_messages(8 * DAY).await;

    assert_eq!(pruned, Ok(Pruned::Removed(2)));
    assert_eq!(
        test.count("SELECT count(*) FROM processed_messages").await,
        1
    );
    // Seven days after it was processed, a redelivery is still recognised.
    let again = test.database.write_users(&[message("recent")]).await;
    assert_eq!(again, Ok(vec![WriteOutcome::AlreadyProcessed]));
    assert_eq!(test.count("SELECT count(*) FROM users").await, 3);
    // Nothing more to do: the pass removes nothing.
    let pruned = test.database.prune_processed_messages(8 * DAY).await;
    assert_eq!(pruned, Ok(Pruned::Removed(0)));
}

#[tokio::test]
async fn a_backlog_larger_than_a_batch_is_removed_in_one_pass() {
    let test = TestDatabase::create().await;
    test.client
        .execute(
            "INSERT INTO processed_messages (delivery_key, processed_at)
             SELECT 'k' || i, now() - interval '30 days' + i * interval '1 ms'
             FROM generate_series(1, 4500) i",
            &[],
        )
        .await
        .unwrap();
    test.database.write_users(&[message("new")]).await.unwrap();

    let pruned = test.database.prune_processed_messages(8 * DAY).await;

    assert_eq!(pruned, Ok(Pruned::Removed(4500)));
    let left: Vec<String> = test
        .client
        .query("SELECT delivery_key FROM processed_messages", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    assert_eq!(left, ["new"]);
}

#[tokio::test]
async fn one_session_prunes_at_a_time() {
    let mut test = TestDatabase::create().await;
    test.database.write_users(&[message("old")]).await.unwrap();
    age_keys(&test, &["old"], 9).await;
    let other = test.client.transaction().await.unwrap();
    // The turn prune_processed_messages takes (migration 0010), held by another session.
    other
        .execute("SELECT FROM prune_turn FOR UPDATE", &[])
        .await
        .unwrap();

    let pruned = test.database.prune_processed_messages(8 * DAY).await;
    assert_eq!(pruned, Ok(Pruned::ElsewhereInProgress));

    other.rollback().await.unwrap();
    let pruned = test.database.prune_processed_messages(8 * DAY).await;
    assert_eq!(pruned, Ok(Pruned::Removed(1)));
}

#[tokio::test]
async fn pruning_finds_old_keys_through_the_index_not_a_scan() {
    let test = TestDatabase::create().await;
    test.client
        .batch_execute(
            "INSERT INTO processed_messages (delivery_key, processed_at)
             SELECT 'k' || i, now() - i * interval '1 s' FROM generate_series(1, 20000) i;
             ANALYZE processed_messages",
        )
        .await
        .unwrap();
    let plan: Vec<String> = test
        .client
        .query(
            "EXPLAIN SELECT ctid FROM processed_messages
             WHERE processed_at < now() - interval '8 days' ORDER BY processed_at LIMIT 2000",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect();
    let plan = plan.join("\n");
    assert!(plan.contains("processed_messages_processed_at"), "{plan}");
}
