//! The batch write (`Database::write_users`) against real PostgreSQL, on the paths a batch of
//! only new messages for new users does not take: a redelivery in the batch, explicit ids
//! mixed in, and ids a concurrent writer took behind the sequence's back.

use pipeline_db::{testing::TestDatabase, NewUser, WriteOutcome};

fn new_user(key: &str, user_id: Option<i32>, name: &str) -> NewUser {
    NewUser {
        delivery_key: key.into(),
        user_id,
        email: format!("{}@example.com", name.to_lowercase()),
        name: name.into(),
        published_at: chrono::Utc::now(),
    }
}

/// An update of user `user_id` by message `key`, published at `at` seconds past an hour.
fn update_at(key: &str, user_id: Option<i32>, name: &str, at: i64) -> NewUser {
    let hour = chrono::DateTime::parse_from_rfc3339("2024-05-06T12:00:00Z").unwrap();
    NewUser {
        published_at: (hour + chrono::TimeDelta::seconds(at)).to_utc(),
        ..new_user(key, user_id, name)
    }
}

async fn name_of(test: &TestDatabase, user_id: i32) -> Option<String> {
    test.client
        .query_opt("SELECT name FROM users WHERE user_id = $1", &[&user_id])
        .await
        .unwrap()
        .map(|row| row.get(0))
}

fn stored_id(outcome: WriteOutcome) -> i32 {
    match outcome {
        WriteOutcome::Stored { user_id } => user_id,
        other => panic!("expected the message to be stored, not {other:?}"),
    }
}

#[tokio::test]
async fn a_redelivery_in_a_batch_changes_nothing_and_its_neighbours_are_stored() {
    let test = TestDatabase::create().await;
    let first = test
        .database
        .write_users(&[new_user("m1", None, "Ada")])
        .await
        .unwrap();
    let ada = stored_id(first[0]);

    let outcomes = test
        .database
        .write_users(&[
            new_user("m2", None, "Grace"),
            new_user("m1", None, "Ada"),
            new_user("m3", None, "Edsger"),
        ])
        .await
        .unwrap();

    assert_eq!(outcomes[1], WriteOutcome::AlreadyProcessed);
    let (grace, edsger) = (stored_id(outcomes[0]), stored_id(outcomes[2]));
    assert_eq!(name_of(&test, grace).await.as_deref(), Some("Grace"));
    assert_eq!(name_of(&test, edsger).await.as_deref(), Some("Edsger"));
    assert_eq!(name_of(&test, ada).await.as_deref(), Some("Ada"));
    assert_eq!(test.count("SELECT count(*) FROM users").await, 3);
    assert_eq!(
        test.count("SELECT count(*) FROM processed_messages").await,
        3
    );

    // A batch of nothing but redeliveries.
    let again = test
        .database
        .write_users(&[
            new_user("m3", None, "Edsger"),
            new_user("m2", None, "Grace"),
        ])
        .await
        .unwrap();
    assert_eq!(again, vec![WriteOutcome::AlreadyProcessed; 2]);
    assert_eq!(test.count("SELECT count(*) FROM users").await, 3);
}

#[tokio::test]
async fn generated_ids_skip_ids_taken_behind_the_sequences_back() {
    let test = TestDatabase::create().await;
    // As concurrent writers would between storing explicit ids and moving the sequence on:
    // the next six values are taken, more than one draw for each of the three messages.
    test.client
        .batch_execute(
            "INSERT INTO users SELECT i, 'taken' || i || '@example.com', 'Taken ' || i
             FROM generate_series(1, 6) i",
        )
        .await
        .unwrap();

    let outcomes = test
        .database
        .write_users(&[
            new_user("g1", None, "Ada"),
            new_user("g2", None, "Grace"),
            new_user("g3", None, "Edsger"),
        ])
        .await
        .unwrap();

    let ids: Vec<i32> = outcomes.into_iter().map(stored_id).collect();
    for (id, name) in ids.iter().zip(["Ada", "Grace", "Edsger"]) {
        assert!(*id > 6, "{name} got a taken id {id}");
        assert_eq!(name_of(&test, *id).await.as_deref(), Some(name));
    }
    assert_eq!(
        test.count("SELECT count(*) FROM users WHERE name LIKE 'Taken %'")
            .await,
        6
    );
    assert_eq!(
        test.count("SELECT count(DISTINCT user_id) FROM users")
            .await,
        9
    );
}

#[tokio::test]
async fn explicit_and_generated_ids_in_one_batch() {
    let test = TestDatabase::create().await;
    let outcomes = test
        .database
        .write_users(&[
            new_user("e1", Some(10), "First"),
            new_user("n1", None, "Ada"),
            new_user("e2", Some(10), "Second"),
            new_user("e3", Some(3), "Three"),
        ])
        .await
        .unwrap();

    // The newer update of user 10 (made later, so published later) wins; the older is
    // processed and changes nothing. The generated id is one no one else holds.
    assert_eq!(outcomes[0], WriteOutcome::Superseded { user_id: 10 });
    assert_eq!(stored_id(outcomes[2]), 10);
    assert_eq!(stored_id(outcomes[3]), 3);
    assert_eq!(name_of(&test, 10).await.as_deref(), Some("Second"));
    let ada = stored_id(outcomes[1]);
    assert!(
        ![3, 10].contains(&ada),
        "generated id {ada} took an explicit one"
    );
    assert_eq!(name_of(&test, ada).await.as_deref(), Some("Ada"));
    assert_eq!(test.count("SELECT count(*) FROM users").await, 3);
}

#[tokio::test]
async fn the_newest_update_wins_in_a_batch_and_against_the_row() {
    let test = TestDatabase::create().await;
    let write = |batch: Vec<NewUser>| {
        let database = test.database.clone();
        async move { database.write_users(&batch).await.unwrap() }
    };
    // In one batch, the older update second or first: the newer is written either way.
    let outcomes = write(vec![
        update_at("k-new", Some(1), "New", 5),
        update_at("k-old", Some(1), "Old", 0),
        update_at("k-old-2", Some(2), "Old", 0),
        update_at("k-new-2", Some(2), "New", 5),
    ])
    .await;
    assert_eq!(
        outcomes,
        [
            WriteOutcome::Stored { user_id: 1 },
            WriteOutcome::Superseded { user_id: 1 },
            WriteOutcome::Superseded { user_id: 2 },
            WriteOutcome::Stored { user_id: 2 },
        ]
    );
    assert_eq!(name_of(&test, 1).await.as_deref(), Some("New"));
    assert_eq!(name_of(&test, 2).await.as_deref(), Some("New"));

    // Against the row: an older update arriving later changes nothing, in a batch of
    // explicit ids alone and in one with a new user beside it; a newer one is written.
    let outcomes = write(vec![update_at("late", Some(1), "Late", 4)]).await;
    assert_eq!(outcomes, [WriteOutcome::Superseded { user_id: 1 }]);
    let outcomes = write(vec![
        update_at("late-2", Some(2), "Late", 4),
        update_at("generated", None, "Generated", 0),
    ])
    .await;
    assert_eq!(outcomes[0], WriteOutcome::Superseded { user_id: 2 });
    let generated = stored_id(outcomes[1]);
    assert_eq!(
        name_of(&test, generated).await.as_deref(),
        Some("Generated")
    );
    assert_eq!(name_of(&test, 1).await.as_deref(), Some("New"));
    assert_eq!(name_of(&test, 2).await.as_deref(), Some("New"));
    let outcomes = write(vec![update_at("newest", Some(1), "Newest", 6)]).await;
    assert_eq!(outcomes, [WriteOutcome::Stored { user_id: 1 }]);
    assert_eq!(name_of(&test, 1).await.as_deref(), Some("Newest"));

    // A tie in publish time goes to the greater delivery key, in either order.
    write(vec![
        update_at("t-b", Some(3), "B", 0),
        update_at("t-a", Some(3), "A", 0),
    ])
    .await;
    write(vec![update_at("u-a", Some(4), "A", 0)]).await;
    write(vec![update_at("u-b", Some(4), "B", 0)]).await;
    write(vec![update_at("v-b", Some(5), "B", 0)]).await;
    write(vec![update_at("v-a", Some(5), "A", 0)]).await;
    for user in [3, 4, 5] {
        assert_eq!(
            name_of(&test, user).await.as_deref(),
            Some("B"),
            "user {user}"
        );
    }
    // Every message was processed: a redelivery of any of them changes nothing.
    assert_eq!(
        test.count("SELECT count(*) FROM processed_messages").await,
        14
    );
}

#[tokio::test]
async fn the_previous_releases_write_counts_its_messages_as_published_when_written() {
    let test = TestDatabase::create().await;
    test.database
        .write_users(&[
            update_at("in-2024", Some(1), "2024", 0),
            NewUser {
                published_at: chrono::DateTime::parse_from_rfc3339("2999-01-01T00:00:00Z")
                    .unwrap()
                    .to_utc(),
                ..new_user("in-2999", Some(2), "2999")
            },
        ])
        .await
        .unwrap();
    // What an instance of the previous release calls during a rollout: no publish times.
    let stored: Vec<Option<i32>> = test
        .client
        .query_one(
            "SELECT write_user_messages('{old-1, old-2}', '{1, 2}', '{a@b, a@b}', '{Old, Old}')",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    // Written now: newer than 2024, older than 2999; both answered as stored, the only
    // answers that release knows.
    assert_eq!(stored, [Some(1), Some(2)]);
    assert_eq!(name_of(&test, 1).await.as_deref(), Some("Old"));
    assert_eq!(name_of(&test, 2).await.as_deref(), Some("2999"));
}

#[tokio::test]
async fn the_largest_explicit_id_does_not_use_up_the_generated_ids() {
    let test = TestDatabase::create().await;
    let max = test
        .database
        .write_users(&[new_user("max", Some(i32::MAX), "Max")])
        .await
        .unwrap();
    assert_eq!(stored_id(max[0]), i32::MAX);

    // Until now this was "reached maximum value of sequence", a dead letter for every later
    // message without an id.
    let later = test
        .database
        .write_users(&[
            new_user("after-1", None, "Ada"),
            new_user("after-2", None, "Grace"),
        ])
        .await
        .expect("generated ids are still there");
    let (ada, grace) = (stored_id(later[0]), stored_id(later[1]));
    assert!(ada != grace && ada != i32::MAX && grace != i32::MAX);
    assert_eq!(name_of(&test, ada).await.as_deref(), Some("Ada"));
    assert_eq!(name_of(&test, grace).await.as_deref(), Some("Grace"));
    assert_eq!(name_of(&test, i32::MAX).await.as_deref(), Some("Max"));
}

#[tokio::test]
async fn a_run_of_taken_ids_ahead_is_skipped_in_one_jump() {
    let test = TestDatabase::create().await;
    // Explicit ids 1 to 20,000 and 20,002: where the sequence would draw next.
    test.database
        .write_users(&[new_user("far", Some(20_002), "Far")])
        .await
        .unwrap();
    test.client
        .batch_execute(
            "INSERT INTO users SELECT i, 'taken' || i || '@example.com', 'Taken ' || i
             FROM generate_series(1, 20000) i",
        )
        .await
        .unwrap();

    let outcomes = test
        .database
        .write_users(&[new_user("g1", None, "Ada"), new_user("g2", None, "Grace")])
        .await
        .unwrap();

    let ids: Vec<i32> = outcomes.into_iter().map(stored_id).collect();
    // The first free ids: 20,001, then past 20,002.
    assert_eq!(ids, vec![20_001, 20_003]);
    // Skipping 20,000 taken ids cost a jump, not 20,000 draws of the sequence.
    assert!(
        test.count("SELECT last_value FROM users_generated_id_seq")
            .await
            <= 20_003,
        "the sequence moved further than the ids it handed out"
    );
}

#[tokio::test]
async fn no_generated_id_left_is_transient_not_a_rejection() {
    let test = TestDatabase::create().await;
    test.client
        .batch_execute("SELECT setval('users_generated_id_seq', 2147483647)")
        .await
        .unwrap();

    let error = test
        .database
        .write_users(&[new_user("late", None, "Late")])
        .await
        .expect_err("there is no id to give");

    assert!(error.is_transient(), "{error:?}");
    assert!(
        error.message().contains("no generated user id is left"),
        "{}",
        error.message()
    );
    // Nothing was claimed: the redelivery will be written once ids are freed.
    assert_eq!(
        test.count("SELECT count(*) FROM processed_messages").await,
        0
    );
}

#[tokio::test]
async fn writers_claiming_copies_in_opposite_orders_do_not_deadlock() {
    // Two instances can each hold a batch of copies of the same messages (a redelivery after
    // an ack deadline), in any order. Each claims its keys in key order, so neither can hold
    // a key the other waits for while waiting for one the other holds.
    let test = TestDatabase::create().await;
    let other = pipeline_db::Database::new(test.config.clone()).unwrap();
    for round in 0..10 {
        let batch: Vec<NewUser> = (0..64)
            .map(|i| new_user(&format!("r{round}-m{i:02}"), None, "Copy"))
            .collect();
        let reversed: Vec<NewUser> = batch.iter().rev().cloned().collect();
        let (a, b) = tokio::join!(
            test.database.write_users(&batch),
            other.write_users(&reversed)
        );
        let (a, b) = (a.expect("first writer"), b.expect("second writer"));
        // Each message took effect once, through one writer or the other.
        for (x, y) in a.iter().zip(b.iter().rev()) {
            let stored = |o: &WriteOutcome| matches!(o, WriteOutcome::Stored { .. });
            assert!(stored(x) != stored(y), "{x:?} and {y:?}");
        }
    }
    assert_eq!(test.count("SELECT count(*) FROM users").await, 640);
}

#[tokio::test]
async fn a_row_held_elsewhere_stalls_only_its_own_message() {
    let test = TestDatabase::create().await;
    test.database
        .write_users(&[new_user("first", Some(5), "Before")])
        .await
        .unwrap();
    // Another session holds user 5's row and keeps it.
    let holder = pipeline_db::testing::plain_client(&test.config).await;
    holder
        .batch_execute("BEGIN; UPDATE users SET name = 'Held' WHERE user_id = 5")
        .await
        .unwrap();

    // Before, the whole batch waited for as long as the other session held the row.
    let outcomes = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        test.database.write_users(&[
            new_user("blocked", Some(5), "Blocked"),
            new_user("free", Some(6), "Free"),
            new_user("generated", None, "Generated"),
        ]),
    )
    .await
    .expect("the batch does not wait for the held row")
    .unwrap();

    assert_eq!(outcomes[0], WriteOutcome::HeldElsewhere { user_id: 5 });
    assert_eq!(outcomes[1], WriteOutcome::Stored { user_id: 6 });
    let generated = stored_id(outcomes[2]);
    assert_eq!(
        name_of(&test, generated).await.as_deref(),
        Some("Generated")
    );
    // The held message was not claimed: once the row is free, its redelivery is written.
    holder.batch_execute("ROLLBACK").await.unwrap();
    let again = test
        .database
        .write_users(&[new_user("blocked", Some(5), "Blocked")])
        .await
        .unwrap();
    assert_eq!(again, vec![WriteOutcome::Stored { user_id: 5 }]);
    assert_eq!(name_of(&test, 5).await.as_deref(), Some("Blocked"));
}

/// Another session inserting user 77 without committing: an insert of the same id must wait
/// for it, with no row to skip. Roll back through the returned connection.
async fn inserting_user_77(test: &TestDatabase) -> tokio_postgres::Client {
    let holder = pipeline_db::testing::plain_client(&test.config).await;
    holder
        .batch_execute("BEGIN; INSERT INTO users VALUES (77, 'a@example.com', 'Uncommitted')")
        .await
        .unwrap();
    holder
}

/// The test database, with a 200 ms lock timeout instead of 2 s.
fn with_short_lock_timeout(test: &TestDatabase) -> pipeline_db::Database {
    let quick = pipeline_db::DbConfig::from_lookup(|name| match name {
        "DB_LOCK_TIMEOUT_MS" => Some("200".into()),
        _ => std::env::var(name).ok(),
    })
    .unwrap()
    .with_database(&test.name);
    pipeline_db::Database::new(quick).unwrap()
}

#[tokio::test]
async fn a_wait_that_cannot_be_skipped_ends_at_the_lock_timeout() {
    let test = TestDatabase::create().await;
    let holder = inserting_user_77(&test).await;
    let database = with_short_lock_timeout(&test);

    let error = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        database.write_users(&[new_user("waits", Some(77), "Waits")]),
    )
    .await
    .expect("the lock timeout ends the wait")
    .expect_err("the row cannot be written yet");

    assert_eq!(*error.kind(), pipeline_db::DbErrorKind::Busy, "{error}");
    assert!(error.is_transient());
    holder.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn a_batch_that_meets_the_lock_timeout_is_written_row_by_row() {
    let test = TestDatabase::create().await;
    let holder = inserting_user_77(&test).await;
    let writer = pipeline_db::UserWriter::new(with_short_lock_timeout(&test));

    // The first write waits on user 77 alone; the two behind it become one batch.
    let first = tokio::spawn({
        let writer = writer.clone();
        async move { writer.write(new_user("first", Some(77), "First")).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (blocked, free) = tokio::join!(
        writer.write(new_user("blocked", Some(77), "Blocked")),
        writer.write(new_user("free", None, "Free")),
    );

    let busy = |result: Result<WriteOutcome, pipeline_db::DbError>| matches!(result, Err(e) if *e.kind() == pipeline_db::DbErrorKind::Busy);
    assert!(busy(first.await.unwrap()));
    assert!(
        busy(blocked),
        "the blocked message is sent back for a retry"
    );
    // Its neighbour did not wait for it: written on its own after the batch timed out.
    let Ok(WriteOutcome::Stored { user_id }) = free else {
        panic!("the free message was not stored: {free:?}");
    };
    assert_eq!(name_of(&test, user_id).await.as_deref(), Some("Free"));
    assert_eq!(
        test.count("SELECT count(*) FROM processed_messages WHERE delivery_key = 'blocked'")
            .await,
        0,
        "a message sent back is not claimed"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
}

#[tokio::test]
async fn an_open_transaction_inserting_one_id_costs_only_that_ids_messages() {
    use pipeline_db::{testing::plain_client, Database, DbErrorKind, UserWriter};
    use std::time::{Duration, Instant};
    let test = TestDatabase::create().await;
    // The default lock timeout (2 s): what each held message used to cost every neighbour.
    let writer = UserWriter::new(Database::new(test.config.clone()).unwrap());
    let operator = plain_client(&test.config).await;
    operator
        .batch_execute("BEGIN; INSERT INTO users VALUES (777777, 'held@example.com', 'Held')")
        .await
        .unwrap();

    // For 3 s: 16 senders of ordinary messages, and a message for 777777 every 100 ms.
    let until = Instant::now() + Duration::from_secs(3);
    let senders: Vec<_> = (0..16)
        .map(|sender| {
            let writer = writer.clone();
            tokio::spawn(async move {
                let (mut slowest, mut stored) = (Duration::ZERO, 0);
                while Instant::now() < until {
                    let started = Instant::now();
                    let key = format!("s{sender}-{stored}");
                    let outcome = writer.write(new_user(&key, None, "Ada")).await;
                    assert!(
                        matches!(outcome, Ok(WriteOutcome::Stored { .. })),
                        "{outcome:?}"
                    );
                    slowest = slowest.max(started.elapsed());
                    stored += 1;
                }
                (slowest, stored)
            })
        })
        .collect();
    let held = tokio::spawn({
        let writer = writer.clone();
        async move {
            let mut answers = Vec::new();
            for n in 0.. {
                if Instant::now() >= until {
                    break;
                }
                let key = format!("held-{n}");
                answers.push(writer.write(new_user(&key, Some(777777), "Held")).await);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            answers
        }
    });
    let mut slowest = Duration::ZERO;
    for sender in senders {
        let (sender_slowest, stored) = sender.await.unwrap();
        assert!(stored > 0);
        slowest = slowest.max(sender_slowest);
    }
    let answers = held.await.unwrap();

    assert!(
        slowest < Duration::from_secs(1),
        "an ordinary message waited {slowest:?} behind the held id (the lock timeout is 2 s)"
    );
    assert!(!answers.is_empty());
    for answer in &answers {
        let error = answer.as_ref().expect_err("a held id is not stored");
        assert_eq!(*error.kind(), DbErrorKind::Busy, "{error}");
    }
    // Released, the id's next message is stored (once it is no longer remembered as held).
    operator.batch_execute("ROLLBACK").await.unwrap();
    let mut outcome = writer.write(new_user("after", Some(777777), "Held")).await;
    for _ in 0..30 {
        if outcome.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        outcome = writer.write(new_user("after", Some(777777), "Held")).await;
    }
    assert_eq!(outcome.unwrap(), WriteOutcome::Stored { user_id: 777777 });
    assert_eq!(name_of(&test, 777777).await.as_deref(), Some("Held"));
}
