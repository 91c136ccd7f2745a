//! The `dead-letters` tool against real PostgreSQL, with letters kept by the real function:
//! list and filter, show, replay after a fix (exactly once with any late redelivery), a
//! replay that fails again, purge, and the binary itself.

use clap::Parser;
use dead_letters::{execute, Cli, Failed};
use http::StatusCode;
use serde_json::json;
use shared::testing::{TestDatabase, TestServer};

use ingest::testing::{deliver, deliver_published_at, deliver_raw};

/// Runs a command line against the test database; its output, and how it ended.
async fn run(db: &TestDatabase, line: &str) -> (String, Result<(), Failed>) {
    let cli = Cli::try_parse_from(std::iter::once("dead-letters").chain(line.split(' ')))
        .unwrap_or_else(|e| panic!("{line}: {e}"));
    let mut out = Vec::new();
    let result = execute(cli.command, &db.database, &mut out).await;
    (String::from_utf8(out).unwrap(), result)
}

async fn letter_ids(db: &TestDatabase) -> Vec<i64> {
    db.client
        .query("SELECT id FROM dead_letters ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|row| row.get(0))
        .collect()
}

/// A server whose database refuses the rows of one email domain, as an operator's rule might.
async fn refusing_blocked_domain() -> (TestDatabase, TestServer) {
    let db = TestDatabase::create().await;
    db.client
        .batch_execute(
            "ALTER TABLE users ADD CONSTRAINT no_blocked_domain
             CHECK (email NOT LIKE '%@blocked.example')",
        )
        .await
        .unwrap();
    let server = TestServer::start(ingest::function(
        db.database.clone(),
        ingest::Settings::default(),
    ))
    .await;
    (db, server)
}

/// That server, and three letters: a refused row (1), data that is not JSON (2), an event of
/// another type (3).
async fn three_letters() -> (TestDatabase, TestServer) {
    let (db, server) = refusing_blocked_domain().await;
    let refused = json!({"email": "ada@blocked.example", "name": "Ada"}).to_string();
    for (id, data) in [("m-refused", refused.as_bytes()), ("m-not-json", b"{oops")] {
        let reply = deliver(&server, id, data).await;
        assert_eq!(reply.status, StatusCode::OK, "{id}");
    }
    let reply = deliver_raw(&server, "e-other", "com.example.other", "{\"a\":1}".into()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(letter_ids(&db).await.len(), 3);
    (db, server)
}

#[tokio::test]
async fn lists_filters_and_shows_letters() {
    let (db, _server) = three_letters().await;
    let ids = letter_ids(&db).await;

    let (table, result) = run(&db, "list").await;
    assert!(result.is_ok());
    assert_eq!(table.lines().count(), 4, "{table}");
    assert!(table.contains("the database refused the row"), "{table}");
    assert!(table.contains("m-not-json"), "{table}");

    let (refused, _) = run(&db, "list --reason REFUSED --json").await;
    let lines: Vec<serde_json::Value> = refused
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{refused}");
    assert_eq!(lines[0]["id"], ids[0]);
    assert_eq!(lines[0]["message_id"], "m-refused");
    assert!(lines[0]["reason"]
        .as_str()
        .unwrap()
        .contains("no_blocked_domain"));

    let (none, _) = run(&db, "list --older-than 1h").await;
    assert_eq!(none.trim(), "no dead letters");

    let (page, _) = run(&db, &format!("show {}", ids[0])).await;
    assert!(page.contains("payload (44 bytes, JSON):"), "{page}");
    assert!(
        page.contains("\"email\": \"ada@blocked.example\""),
        "{page}"
    );
    assert!(
        page.contains("attributes:    {\"origin\":\"test\"}"),
        "{page}"
    );
    let (page, _) = run(&db, &format!("show {}", ids[2])).await;
    assert!(page.contains("event type:    com.example.other"), "{page}");

    let (_, missing) = run(&db, "show 999999").await;
    assert!(matches!(missing, Err(Failed::Partly(m)) if m.contains("999999")));
}

#[tokio::test]
async fn a_replay_after_the_fix_stores_once_and_one_that_fails_again_stays() {
    let (db, server) = three_letters().await;
    let ids = letter_ids(&db).await;

    // Before the fix: the refused row fails again, and says so.
    let (out, result) = run(&db, &format!("replay {}", ids[0])).await;
    assert!(
        out.contains("failed again: the database refused the row"),
        "{out}"
    );
    assert!(matches!(result, Err(Failed::Partly(_))));
    let failed_at: Option<chrono::DateTime<chrono::Utc>> = db
        .client
        .query_one(
            "SELECT replay_failed_at FROM dead_letters WHERE id = $1",
            &[&ids[0]],
        )
        .await
        .unwrap()
        .get(0);
    assert!(failed_at.is_some());

    // The operator's fix, then a replay of every letter.
    db.client
        .batch_execute("ALTER TABLE users DROP CONSTRAINT no_blocked_domain")
        .await
        .unwrap();
    let (out, result) = run(&db, "replay --all").await;
    assert!(
        out.contains(&format!("{}: stored; letter removed", ids[0])),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: failed again: ", ids[1])),
        "{out}"
    );
    assert!(
        out.contains(&format!("{}: failed again: event type", ids[2])),
        "{out}"
    );
    assert!(
        out.ends_with(
            "replayed 3: 1 stored, 0 superseded, 0 stored before, 2 failed again, 0 already gone\n"
        ),
        "{out}"
    );
    match result {
        Err(Failed::Partly(error)) => assert_eq!(
            error,
            "2 of 3 dead letters failed again; they stay, with their new reason"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(letter_ids(&db).await, ids[1..]);
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE email = 'ada@blocked.example'")
            .await,
        1
    );

    // A late redelivery of the original message is the same message: nothing changes.
    let refused = json!({"email": "ada@blocked.example", "name": "Ada"}).to_string();
    let reply = deliver(&server, "m-refused", refused.as_bytes()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE email = 'ada@blocked.example'")
            .await,
        1
    );
    assert_eq!(letter_ids(&db).await, ids[1..]);
}

async fn name_of_user_7(db: &TestDatabase) -> String {
    db.client
        .query_one("SELECT name FROM users WHERE user_id = 7", &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn a_replayed_letter_older_than_its_users_latest_update_changes_nothing() {
    let (db, server) = refusing_blocked_domain().await;
    let send = |id: &'static str, time: &'static str, email: &'static str| {
        let data = json!({"user_id": 7, "email": email, "name": id}).to_string();
        let server = &server;
        async move {
            let reply = deliver_published_at(server, id, time, data.as_bytes()).await;
            assert_eq!(reply.status, StatusCode::OK, "{id}");
        }
    };
    // Published at 12:00:00 and refused (a letter), then at 12:00:05 and stored; a third
    // letter, newer than both, refused too.
    send("older", "2024-05-06T12:00:00Z", "ada@blocked.example").await;
    send("newer", "2024-05-06T12:00:05Z", "ada@example.com").await;
    send("newest", "2024-05-06T12:00:09Z", "ada@blocked.example").await;
    let ids = letter_ids(&db).await;
    assert_eq!(ids.len(), 2);

    db.client
        .batch_execute("ALTER TABLE users DROP CONSTRAINT no_blocked_domain")
        .await
        .unwrap();
    let (out, result) = run(&db, &format!("replay {}", ids[0])).await;
    assert!(result.is_ok(), "{out}");
    assert!(
        out.contains(&format!(
            "{}: older than its user's latest update, nothing changed; letter removed",
            ids[0]
        )),
        "{out}"
    );
    assert_eq!(name_of_user_7(&db).await, "newer");
    // The newest letter is newer than the row: its replay is written.
    let (out, result) = run(&db, &format!("replay {}", ids[1])).await;
    assert!(result.is_ok(), "{out}");
    assert!(out.contains("1 stored, 0 superseded"), "{out}");
    assert_eq!(name_of_user_7(&db).await, "newest");
    assert!(letter_ids(&db).await.is_empty());
}

#[tokio::test]
async fn purge_and_replay_need_a_selection_and_purge_takes_only_what_it_selects() {
    let (db, _server) = three_letters().await;
    let ids = letter_ids(&db).await;
    db.client
        .execute(
            "UPDATE dead_letters SET received_at = now() - interval '40 days' WHERE id = $1",
            &[&ids[1]],
        )
        .await
        .unwrap();

    for verb in ["replay", "purge"] {
        let (_, result) = run(&db, verb).await;
        assert!(matches!(result, Err(Failed::Usage(m)) if m.contains("--all")));
    }
    let (out, _) = run(&db, "purge --older-than 30days --dry-run").await;
    assert_eq!(out.trim(), format!("would remove 1: {}", ids[1]));
    assert_eq!(letter_ids(&db).await.len(), 3);

    let (out, _) = run(&db, "purge --older-than 30days").await;
    assert_eq!(out.trim(), "removed 1 dead letter");
    assert_eq!(letter_ids(&db).await, [ids[0], ids[2]]);

    let (out, _) = run(&db, &format!("purge {} --reason refused", ids[2])).await;
    assert_eq!(out.trim(), "removed 0 dead letters");
    let (out, _) = run(&db, "purge --all").await;
    assert_eq!(out.trim(), "removed 2 dead letters");
    assert!(letter_ids(&db).await.is_empty());
}

/// `text` with each number in it replaced by the next of `names`: what a runbook writes as
/// `replayed N: S stored, ...`.
fn with_names(text: &str, names: &[&str]) -> String {
    let mut names = names.iter();
    text.split(' ')
        .map(|word| {
            let digits = word.trim_end_matches([':', ',']);
            match digits.parse::<u64>() {
                Ok(_) => word.replacen(digits, names.next().expect("enough names"), 1),
                Err(_) => word.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test]
async fn the_runbook_says_what_replay_and_purge_print() {
    let runbook = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../docs/operations.md"
    ))
    .unwrap();
    let runbook = runbook.split_whitespace().collect::<Vec<_>>().join(" ");
    let (db, _server) = three_letters().await;

    let (out, result) = run(&db, "replay --all").await;
    let summary = with_names(out.lines().last().unwrap(), &["N", "S", "U", "B", "F", "M"]);
    assert!(runbook.contains(&format!("`{summary}`")), "{summary}");
    let Err(Failed::Partly(error)) = result else {
        panic!("{result:?}")
    };
    let error = with_names(&format!("error: {error}"), &["F", "N"]);
    assert!(runbook.contains(&format!("`{error}`")), "{error}");

    // A selection that matches nothing is no error; a command line without one is.
    let (out, result) = run(&db, "purge --reason matches-no-letter").await;
    assert!(result.is_ok());
    assert!(
        runbook.contains(&format!("`{}`, exit status 0", out.trim())),
        "{out}"
    );
    let (_, result) = run(&db, "purge").await;
    assert!(matches!(result, Err(Failed::Usage(_))));
    assert!(runbook.contains("with none of them is refused (exit status 2)"));
}

#[tokio::test]
async fn the_binary_answers_help_without_a_database_and_lists_with_one() {
    let binary = env!("CARGO_BIN_EXE_dead-letters");
    let help = std::process::Command::new(binary)
        .arg("--help")
        .env("PGHOST", "/nonexistent")
        .output()
        .unwrap();
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for word in ["list", "show", "replay", "purge", "PGPASSWORD_FILE"] {
        assert!(text.contains(word), "{text}");
    }

    let (db, _server) = three_letters().await;
    let name = db.name.clone();
    let list = tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary)
            .args(["list", "--reason", "refused"])
            .env("PGDATABASE", name)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let table = String::from_utf8_lossy(&list.stdout);
    assert_eq!(table.lines().count(), 2, "{table}");

    let usage = std::process::Command::new(binary)
        .arg("replay")
        .env("PGDATABASE", &db.name)
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("say which letters to replay"));
}

#[tokio::test]
async fn two_replays_at_once_both_succeed_and_store_each_letter_once() {
    let (db, server) = refusing_blocked_domain().await;
    for n in 0..40 {
        let data = json!({"email": format!("u{n}@blocked.example"), "name": "U"}).to_string();
        let reply = deliver(&server, &format!("m-{n}"), data.as_bytes()).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    db.client
        .batch_execute("ALTER TABLE users DROP CONSTRAINT no_blocked_domain")
        .await
        .unwrap();

    let ((first, a), (second, b)) =
        tokio::join!(run(&db, "replay --all"), run(&db, "replay --all"));

    assert!(a.is_ok(), "{a:?}\n{first}");
    assert!(b.is_ok(), "{b:?}\n{second}");
    assert!(letter_ids(&db).await.is_empty());
    assert_eq!(
        db.count("SELECT count(*) FROM users WHERE email LIKE '%@blocked.example'")
            .await,
        40
    );
}
