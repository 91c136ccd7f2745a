//! What ingest logs at its default level: no line per stored message (a Cloud Logging bill at
//! thousands a second), a periodic summary instead, and every dead letter on its own line.
//! A test binary of its own: it installs a process-wide logger that keeps what is logged.

mod common;
use ingest::testing::deliver;

use std::{sync::Arc, time::Duration};

use http::StatusCode;
use log::Level;
use serde_json::json;
use shared::testing::{captured_logs, TestDatabase, TestServer};

#[tokio::test]
async fn stored_messages_are_summed_up_and_dead_letters_logged_each() {
    let logs = captured_logs();
    let db = TestDatabase::create().await;
    let settings = ingest::Settings {
        summary_every: Duration::from_secs(1),
        ..ingest::Settings::default()
    };
    let server = Arc::new(TestServer::start(ingest::function(db.database.clone(), settings)).await);
    for i in 0..3 {
        let user = json!({"email": format!("u{i}@example.com"), "name": format!("User {i}")});
        assert_eq!(
            deliver(&server, &format!("ok-{i}"), user.to_string().as_bytes())
                .await
                .status,
            StatusCode::OK
        );
    }
    let again = json!({"email": "u0@example.com", "name": "User 0"}).to_string();
    assert_eq!(
        deliver(&server, "ok-0", again.as_bytes()).await.status,
        StatusCode::OK
    );
    assert_eq!(
        deliver(&server, "poison-1", b"not json").await.status,
        StatusCode::OK
    );

    let summary = logs
        .wait_for(Level::Info, Duration::from_secs(10), |line| {
            line.starts_with("last 1 s:")
        })
        .await
        .expect("no summary line");
    assert!(
        summary.contains(
            "3 stored, 0 older than their user's latest update (no change), 1 redelivered \
             (no change), 1 dead-lettered, 0 sent back for a retry"
        ),
        "{summary}"
    );
    assert!(summary.contains("batches written"), "{summary}");

    let lines = logs.lines();
    assert!(
        !lines.iter().any(|(_, line)| line.contains("stored user")),
        "a line per stored message: {lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(level, line)| *level == Level::Error && line.contains("poison-1")),
        "the dead letter was not logged on its own: {lines:?}"
    );
}

#[tokio::test]
async fn wrong_database_settings_are_said_once_at_error_warm_up_included() {
    let logs = captured_logs();
    let db = TestDatabase::create().await;
    let wrong = common::wrong_user(&db.name);
    let database = shared::db::Database::new(wrong).unwrap();
    // The start's warm-up fails on them too.
    let server = TestServer::start(ingest::function(database, ingest::Settings::default())).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    for i in 0..3 {
        let user = json!({"email": format!("w{i}@example.com"), "name": "Waits"});
        let reply = deliver(&server, &format!("w-{i}"), user.to_string().as_bytes()).await;
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let lines = logs.lines();
    // The 503s are one WARN retry line; what is wrong is said at ERROR once, not again by the
    // start's warm-up.
    let errors = lines
        .iter()
        .filter(|(level, line)| *level == Level::Error && line.contains("check PGUSER"))
        .count();
    assert_eq!(errors, 1, "{lines:#?}");
    assert!(
        !lines.iter().any(|(_, line)| line.contains("at start")),
        "{lines:#?}"
    );
}

#[test]
fn every_bad_setting_of_every_layer_is_said_at_once_and_nothing_starts() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .env("IDLE_TIMEOUT_SECS", "0") // the framework's
        .env("DB_POOL_SIZE", "many") // the database layer's
        .env("PRUNE_EVERY_SECS", "soon") // ingest's own
        .env("PORT", " 8089 ") // fine: trimmed
        .env("LOG_FORMAT", "text")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run ingest");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<&str> = said.lines().filter(|l| l.contains("bad setting")).collect();
    assert_eq!(lines.len(), 3, "{said}");
    for expected in [
        "IDLE_TIMEOUT_SECS=\"0\": expected a positive whole number of seconds",
        "DB_POOL_SIZE=\"many\": expected a whole number from 1 to 262143",
        "PRUNE_EVERY_SECS=\"soon\": expected a positive whole number of seconds",
    ] {
        assert!(said.contains(expected), "{expected} missing from: {said}");
    }
    assert!(!said.contains("serving"), "{said}");
}

/// The migrate job runs where Cloud Run sets no `K_SERVICE`, so the deploy sets
/// `LOG_FORMAT=json`: then its failure is a JSON line at ERROR, which Cloud Logging files
/// with that severity, instead of a text line it cannot grade.
#[test]
fn migrate_logs_json_lines_with_log_format_json_outside_cloud_run() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_migrate"))
        .env("LOG_FORMAT", "json")
        .env_remove("K_SERVICE")
        .env_remove("DATABASE_URL")
        .env("PGHOST", "/nonexistent/cloudsql/project:region:instance")
        .env("DB_ACQUIRE_TIMEOUT_SECS", "1")
        .output()
        .expect("run migrate");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<serde_json::Value> = said
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}")))
        .collect();
    assert!(
        lines.iter().any(|l| l["severity"] == "ERROR"
            && l["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("migrating failed"))),
        "{said}"
    );
}

/// A read-only database (a failover onto a standby) is said when it starts and when it ends,
/// not once per refused delivery, and no failed batch is re-run row by row.
#[tokio::test]
async fn a_read_only_spell_is_said_when_it_starts_and_ends_not_per_delivery() {
    let logs = captured_logs();
    let db = TestDatabase::create().await;
    let server = Arc::new(
        TestServer::start(ingest::function(
            db.database.clone(),
            ingest::Settings::default(),
        ))
        .await,
    );
    let send = |round: usize| {
        let server = server.clone();
        async move {
            let sends: Vec<_> = (0..40)
                .map(|i| {
                    let server = server.clone();
                    tokio::spawn(async move {
                        let user =
                            json!({"email": format!("ro{i}@example.com"), "name": "Read Only"});
                        deliver(&server, &format!("ro-{i}"), user.to_string().as_bytes())
                            .await
                            .status
                    })
                })
                .collect();
            let mut refused = 0;
            for send in sends {
                if send.await.unwrap() == StatusCode::SERVICE_UNAVAILABLE {
                    refused += 1;
                }
            }
            (round, refused)
        }
    };
    let before = logs.lines().len();
    db.make_read_only().await;
    for round in 0..3 {
        assert_eq!(
            send(round).await,
            (round, 40),
            "every delivery is sent back"
        );
    }
    db.make_writable().await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while send(9).await.1 > 0 {
        assert!(tokio::time::Instant::now() < deadline, "still refused");
    }

    let lines: Vec<(Level, String)> = logs.lines().split_off(before);
    let loud: Vec<&(Level, String)> = lines
        .iter()
        .filter(|(level, _)| *level <= Level::Warn)
        .collect();
    // 120 refused deliveries: the spell's start and the first 503 of its reason (and of a
    // connection the failover ended, if a write met one).
    assert!(loud.len() <= 3, "{loud:#?}");
    assert!(
        !loud.iter().any(|(level, _)| *level == Level::Error),
        "{loud:#?}"
    );
    let started = loud
        .iter()
        .filter(|(_, line)| line.starts_with("the database refuses writes as read-only"))
        .count();
    assert_eq!(started, 1, "{loud:#?}");
    assert!(
        !lines.iter().any(|(_, line)| line.contains("one by one")),
        "a failed batch was re-run row by row: {lines:#?}"
    );
    let ended: Vec<&(Level, String)> = lines
        .iter()
        .filter(|(_, line)| line.starts_with("the database accepts writes again"))
        .collect();
    assert_eq!(ended.len(), 1, "{lines:#?}");
    assert_eq!(ended[0].0, Level::Info);
}

#[test]
fn settings_past_what_their_consumer_takes_stop_the_start() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_ingest"))
        .env("DB_STATEMENT_TIMEOUT_SECS", "2147484") // past PostgreSQL's int of ms
        .env("DB_LOCK_TIMEOUT_MS", "2147483648")
        .env("PROCESSED_RETENTION_DAYS", "1") // inside the subscription's 7 days
        .env("LOG_FORMAT", "text")
        .env_remove("DATABASE_URL")
        .output()
        .expect("run ingest");
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    for expected in [
        "DB_STATEMENT_TIMEOUT_SECS=\"2147484\": expected a whole number of seconds from 1 to 2147483",
        "DB_LOCK_TIMEOUT_MS=\"2147483648\": expected a whole number of milliseconds from 1 to 2147483647",
        "PROCESSED_RETENTION_DAYS=\"1\": expected a whole number of days from 8",
    ] {
        assert!(said.contains(expected), "{expected} missing from: {said}");
    }
    assert!(!said.contains("serving"), "{said}");
}
