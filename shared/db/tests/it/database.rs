//! The database layer against real PostgreSQL: migrations under concurrency, and TLS over
//! TCP honouring sslmode.

use std::{path::Path, process::Command};

use pipeline_db::{
    testing::{OwnCluster, TestDatabase},
    Database, DbConfig,
};

#[tokio::test]
async fn migrations_apply_once_when_many_instances_start_together() {
    let test = TestDatabase::create_unmigrated().await;
    let starts: Vec<_> = (0..8)
        .map(|_| {
            let database = Database::new(test.config.clone()).unwrap();
            tokio::spawn(async move { database.check().await })
        })
        .collect();
    for start in starts {
        start.await.unwrap().expect("every instance starts");
    }
    let embedded = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations"))
        .unwrap()
        .count() as i64;
    let recorded = "SELECT count(*) FROM schema_migrations";
    assert_eq!(test.count(recorded).await, embedded);
    assert_eq!(
        test.count("SELECT count(DISTINCT version) FROM schema_migrations")
            .await,
        embedded
    );
    // And once more, on an up-to-date schema, is a no-op.
    Database::new(test.config.clone())
        .unwrap()
        .check()
        .await
        .unwrap();
    assert_eq!(test.count(recorded).await, embedded);
}

#[tokio::test]
async fn a_current_schema_starts_without_waiting_for_the_migration_lock() {
    let mut test = TestDatabase::create().await;
    // Another instance is migrating (or stuck doing so): it holds the migration lock.
    let other = test.client.transaction().await.unwrap();
    other
        .execute(
            "SELECT pg_advisory_xact_lock($1)",
            &[&0x7573_6572_735f_6d67_i64],
        )
        .await
        .unwrap();
    let start = Database::new(test.config.clone()).unwrap();
    let checked = tokio::time::timeout(std::time::Duration::from_secs(5), start.check()).await;
    assert!(
        matches!(checked, Ok(Ok(()))),
        "a start with nothing to migrate waited on the lock: {checked:?}"
    );
    other.rollback().await.unwrap();
}

#[tokio::test]
async fn an_existing_users_table_of_the_original_system_is_adopted() {
    let test = TestDatabase::create_unmigrated().await;
    test.client
        .batch_execute(
            "CREATE TABLE users (user_id integer PRIMARY KEY, email VARCHAR(255) NOT NULL, name VARCHAR(255) NOT NULL);
             INSERT INTO users VALUES (41, 'old@example.com', 'Old User')",
        )
        .await
        .unwrap();
    test.database
        .check()
        .await
        .expect("migrations adopt the table");
    assert_eq!(test.count("SELECT count(*) FROM users").await, 1);
    // Generated ids start past the adopted rows.
    assert_eq!(
        test.count("SELECT nextval('users_generated_id_seq')").await,
        42
    );
}

#[tokio::test]
async fn a_sequence_an_explicit_id_used_up_is_repaired_by_the_migration() {
    // A database of the previous release, where a message with user_id 2147483647 moved the
    // generated ids to their end.
    let test = TestDatabase::create_unmigrated().await;
    let mut previous = String::from(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, name text NOT NULL,
                                         applied_at timestamptz NOT NULL DEFAULT now());",
    );
    for (version, sql) in [
        (1, include_str!("../../migrations/0001_users.sql")),
        (
            2,
            include_str!("../../migrations/0002_delivery_bookkeeping.sql"),
        ),
        (
            3,
            include_str!("../../migrations/0003_ingest_users_function.sql"),
        ),
        (
            4,
            include_str!("../../migrations/0004_store_user_messages.sql"),
        ),
    ] {
        previous.push_str(sql);
        previous.push_str(&format!(
            ";INSERT INTO schema_migrations VALUES ({version}, 'previous');"
        ));
    }
    test.client.batch_execute(&previous).await.unwrap();
    test.client
        .batch_execute(
            "SELECT store_user_messages('{a}', '{1}', '{a@example.com}', '{A}');
             SELECT store_user_messages('{max}', '{2147483647}', '{m@example.com}', '{Max}');",
        )
        .await
        .unwrap();
    assert_eq!(
        test.count("SELECT last_value FROM users_generated_id_seq")
            .await,
        2147483647
    );

    test.database
        .check()
        .await
        .expect("the new migrations apply");
    let stored = test
        .database
        .write_users(&[pipeline_db::NewUser {
            delivery_key: "after".into(),
            user_id: None,
            email: "new@example.com".into(),
            name: "New".into(),
            published_at: chrono::Utc::now(),
        }])
        .await
        .expect("generated ids are back");
    // The first free id: 1 is taken, 2 is not.
    assert_eq!(
        stored,
        vec![pipeline_db::WriteOutcome::Stored { user_id: 2 }]
    );
}

/// The original system's own pre-population: no ids.
const ORIGINAL_SEED: &str = "INSERT INTO users (email, name) VALUES
    ('john.doe@example.com', 'John Doe'),
    ('jane.smith@example.com', 'Jane Smith'),
    ('alice.johnson@example.com', 'Alice Johnson'),
    ('bob.miller@example.com', 'Bob Miller'),
    ('charlie.brown@example.com', 'Charlie Brown'),
    ('diana.prince@example.com', 'Diana Prince')";

/// Ingest's next generated id, through the batch write.
async fn generated_id(test: &TestDatabase, key: &str) -> i32 {
    let outcome = test
        .database
        .write_users(&[pipeline_db::NewUser {
            delivery_key: key.into(),
            user_id: None,
            email: "g@example.com".into(),
            name: "Generated".into(),
            published_at: chrono::Utc::now(),
        }])
        .await
        .unwrap();
    match outcome[0] {
        pipeline_db::WriteOutcome::Stored { user_id } => user_id,
        other => panic!("not stored: {other:?}"),
    }
}

#[tokio::test]
async fn the_original_seed_statement_works_on_a_fresh_database() {
    let test = TestDatabase::create().await;
    // Before: "null value in column user_id".
    test.client.batch_execute(ORIGINAL_SEED).await.unwrap();
    assert_eq!(
        test.count("SELECT count(DISTINCT user_id) FROM users")
            .await,
        6
    );
    // Ingest's generated ids and the database's default share one source.
    let next = generated_id(&test, "after-seed").await;
    assert_eq!(
        test.count("SELECT count(DISTINCT user_id) FROM users")
            .await,
        7
    );
    assert!(next > 0);
    test.client.batch_execute(ORIGINAL_SEED).await.unwrap();
    assert_eq!(
        test.count("SELECT count(DISTINCT user_id) FROM users")
            .await,
        13
    );
}

#[tokio::test]
async fn the_original_seed_statement_works_on_an_adopted_table() {
    let test = TestDatabase::create_unmigrated().await;
    // The original system's table, already holding ids a default would otherwise reach.
    test.client
        .batch_execute(
            "CREATE TABLE users (user_id integer PRIMARY KEY, email VARCHAR(255) NOT NULL, name VARCHAR(255) NOT NULL);
             INSERT INTO users VALUES (1, 'old1@example.com', 'Old 1'), (3, 'old3@example.com', 'Old 3')",
        )
        .await
        .unwrap();
    test.database
        .check()
        .await
        .expect("migrations adopt the table");
    // An explicit id ahead of the sequence, as ingest may store.
    test.client
        .batch_execute("INSERT INTO users VALUES (5, 'five@example.com', 'Five')")
        .await
        .unwrap();
    test.client.batch_execute(ORIGINAL_SEED).await.unwrap();
    assert_eq!(test.count("SELECT count(*) FROM users").await, 9);
    assert_eq!(
        test.count("SELECT count(*) FROM users WHERE name LIKE 'Old %' OR name = 'Five'")
            .await,
        3
    );
    let next = generated_id(&test, "after-seed").await;
    assert_eq!(
        test.count("SELECT count(DISTINCT user_id) FROM users")
            .await,
        10
    );
    assert_ne!(next, 5);
}

/// A CA and a server certificate for localhost and 127.0.0.1, made with the openssl CLI.
fn make_certificates(dir: &Path) {
    let tls = dir.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let run = |args: &[&str]| {
        let status = Command::new("openssl")
            .args(args)
            .current_dir(&tls)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("these tests need the openssl command");
        assert!(status.success(), "openssl {args:?} failed");
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=test-ca",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=localhost",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        tls.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        tls.join("server.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
}

fn tcp_config(cluster: &OwnCluster, host: &str, mode: &str, root: Option<&Path>) -> DbConfig {
    let port = cluster.config.postgres().get_ports()[0].to_string();
    let root = root.map(|p| p.to_str().unwrap().to_owned());
    let user = cluster.config.postgres().get_user().unwrap().to_owned();
    DbConfig::from_lookup(|key| match key {
        "PGHOST" => Some(host.to_owned()),
        "PGPORT" => Some(port.clone()),
        "PGUSER" => Some(user.clone()),
        "PGDATABASE" => Some("postgres".into()),
        "PGSSLMODE" => Some(mode.to_owned()),
        "PGSSLROOTCERT" => root.clone(),
        "DB_ACQUIRE_TIMEOUT_SECS" => Some("2".into()),
        _ => None,
    })
    .unwrap()
}

/// How many of the pipeline's connections use TLS, asked over the Unix socket.
async fn tls_connections(cluster: &OwnCluster) -> i64 {
    let client = cluster.client().await;
    client
        .query_one(
            "SELECT count(*) FROM pg_stat_ssl JOIN pg_stat_activity USING (pid)
             WHERE ssl AND application_name = 'rust-pubsub-pipeline'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn tcp_connections_use_tls_as_sslmode_says() {
    // Paths are relative to the data folder, inside the cluster folder.
    let options = "-c ssl=on -c ssl_cert_file=../tls/server.pem -c ssl_key_file=../tls/server.key";
    let cluster = OwnCluster::start_with("tls", options, make_certificates).await;
    let ca = cluster.dir().join("tls/ca.pem");

    // require: encrypted, certificate not checked (libpq's meaning without a root certificate).
    let required = Database::new(tcp_config(&cluster, "127.0.0.1", "require", None)).unwrap();
    required.check().await.expect("sslmode=require connects");
    assert_eq!(tls_connections(&cluster).await, 1);

    // verify-full: the chain and the host name are checked against the given CA.
    let verified =
        Database::new(tcp_config(&cluster, "localhost", "verify-full", Some(&ca))).unwrap();
    verified
        .check()
        .await
        .expect("sslmode=verify-full with the right CA connects");
    assert_eq!(tls_connections(&cluster).await, 2);

    // verify-full against the system store: our test CA is not trusted there.
    let untrusted = Database::new(tcp_config(&cluster, "localhost", "verify-full", None)).unwrap();
    let error = untrusted
        .check()
        .await
        .expect_err("an untrusted certificate is refused");
    assert!(error.to_string().contains("certificate"), "{error}");

    // disable: plain TCP.
    let plain = Database::new(tcp_config(&cluster, "127.0.0.1", "disable", None)).unwrap();
    plain.check().await.expect("sslmode=disable connects");
    assert_eq!(tls_connections(&cluster).await, 2);
}

#[tokio::test]
async fn a_write_to_a_frozen_database_fails_on_our_own_clock_and_its_connection_is_replaced() {
    use pipeline_db::{DbErrorKind, DeliveryKey, NewUser};
    use std::time::{Duration, Instant};
    let cluster = OwnCluster::start("write-frozen").await;
    let config = cluster.config.clone().with_timeouts(
        Duration::from_millis(300),
        Duration::from_secs(1),
        Duration::from_secs(1),
    );
    let database = Database::new(config).unwrap();
    let user = |key: &str| NewUser {
        delivery_key: DeliveryKey::new(key),
        user_id: None,
        email: "ada@example.com".into(),
        name: "Ada".into(),
        published_at: chrono::Utc::now(),
    };
    // The pool now holds an open connection, which the next write takes.
    database.write_users(&[user("m1")]).await.unwrap();

    cluster.freeze().await;
    let started = Instant::now();
    let written =
        tokio::time::timeout(Duration::from_secs(10), database.write_users(&[user("m2")]))
            .await
            .expect("a write to a frozen database never returned");
    let waited = started.elapsed();
    cluster.thaw().await;

    let error = written.unwrap_err();
    assert_eq!(*error.kind(), DbErrorKind::Unavailable, "{error}");
    assert!(waited < Duration::from_secs(4), "failed after {waited:?}");
    // The frozen connection was dropped, not handed back: the next write works at once.
    database.write_users(&[user("m3")]).await.unwrap();
}

/// The largest lock and statement timeouts the settings accept are ones PostgreSQL accepts
/// (its limit is an `int` of milliseconds); one past either is refused at start, where it
/// used to pass and then make the server refuse every connection (FATAL 22023).
#[tokio::test]
async fn the_largest_timeouts_the_settings_accept_are_ones_postgresql_accepts() {
    let test = TestDatabase::create().await;
    let settings = |lock: &'static str, statement: &'static str| {
        let name = test.name.clone();
        DbConfig::from_lookup(move |key| match key {
            "DB_LOCK_TIMEOUT_MS" => Some(lock.into()),
            "DB_STATEMENT_TIMEOUT_SECS" => Some(statement.into()),
            // Must exceed the lock timeout.
            "DB_REPLY_TIMEOUT_SECS" => Some("2147484".into()),
            "PGDATABASE" => Some(name.clone()),
            _ => std::env::var(key).ok(),
        })
    };
    let largest = settings("2147483647", "2147483").expect("the largest are accepted");
    let database = Database::new(largest).unwrap();
    // A connection opened with them in its startup packet, and the schema checked on it.
    database.check().await.expect("PostgreSQL takes them");

    // One millisecond more, set past the settings' check: the server refuses the connection.
    let past = test.config.clone().with_timeouts(
        std::time::Duration::from_millis(2_147_483_648),
        std::time::Duration::from_secs(20),
        std::time::Duration::from_secs(2_147_484),
    );
    let refused = Database::new(past).unwrap().check().await.unwrap_err();
    assert!(refused.message().contains("22023"), "{refused}");
    assert_eq!(
        *refused.kind(),
        pipeline_db::DbErrorKind::Config,
        "{refused}"
    );

    for (lock, statement, named) in [
        ("2147483648", "20", "DB_LOCK_TIMEOUT_MS"),
        ("2000", "2147484", "DB_STATEMENT_TIMEOUT_SECS"),
    ] {
        let refused = settings(lock, statement).unwrap_err().to_string();
        assert!(refused.starts_with(named), "{refused}");
        assert!(refused.contains("PostgreSQL"), "{refused}");
    }
}

/// A `?` in the password used to split DATABASE_URL there: `sslmode=require` was lost and the
/// connection went out in plaintext. Against a server without TLS (the test cluster's TCP
/// port): the raw `?` is refused at start without a word of the password, and the same
/// password percent-encoded keeps `sslmode=require`, so the server's lack of TLS refuses it.
#[tokio::test]
async fn a_question_mark_in_the_password_never_loses_sslmode() {
    let test = TestDatabase::create().await;
    let port = std::env::var("PGPORT").expect("PGPORT");
    let url = |password: &str| {
        let url = format!(
            "postgres://postgres:{password}@127.0.0.1:{port}/{}?sslmode=require",
            test.name
        );
        DbConfig::from_lookup(move |key| (key == "DATABASE_URL").then(|| url.clone()))
    };
    let refused = url("Secret?Part").unwrap_err().to_string();
    assert!(refused.contains("percent-encode"), "{refused}");
    assert!(
        !refused.contains("Secret") && !refused.contains("Part"),
        "{refused}"
    );

    let encoded = url("Secret%3FPart").expect("a percent-encoded password is read");
    let error = Database::new(encoded).unwrap().check().await.unwrap_err();
    assert!(
        error.message().to_lowercase().contains("tls") || error.message().contains("SSL"),
        "sslmode=require must refuse a server without TLS: {error}"
    );
}
