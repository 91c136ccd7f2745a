//! The functions' least-privilege roles (migration 0009, `Database::provision_login`) against
//! real PostgreSQL: each function's own path works as its role, and nothing else does.

use pipeline_db::{
    testing::{plain_client, OwnCluster, TestDatabase},
    Database, DbErrorKind, DeadLetter, DeliveryKey, FunctionRole, NewUser, Pruned,
};

/// Provisions both logins in the test cluster. Tests in other processes may do the same at
/// the same moment; a collision of their first catalog updates is tried again.
async fn provision(database: &Database) {
    for role in FunctionRole::ALL {
        let mut attempt = 0;
        while let Err(e) = database.provision_login(role, None).await {
            attempt += 1;
            assert!(attempt < 5, "provisioning {}: {e}", role.login());
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// A direct connection to the test's database as `role`.
async fn connect_as(test: &TestDatabase, role: FunctionRole) -> tokio_postgres::Client {
    plain_client(&test.config.with_user(role.login())).await
}

/// The SQLSTATE a statement fails with, or "ok".
async fn outcome(client: &tokio_postgres::Client, sql: &str) -> String {
    match client.batch_execute(sql).await {
        Ok(()) => "ok".into(),
        Err(e) => e
            .code()
            .map_or_else(|| e.to_string(), |c| c.code().to_owned()),
    }
}

const INSUFFICIENT_PRIVILEGE: &str = "42501";

#[tokio::test]
async fn read_may_select_users_and_nothing_else() {
    let test = TestDatabase::with_sample_users().await;
    provision(&test.database).await;
    let read = Database::new(test.config.with_user(FunctionRole::Read.login())).unwrap();

    let rows = read.users_after(0, 100).await.unwrap();
    assert_eq!(rows.len(), 6, "read's own query works as its role");

    let client = connect_as(&test, FunctionRole::Read).await;
    for sql in [
        "INSERT INTO users VALUES (100, 'a@example.com', 'A')",
        "UPDATE users SET name = 'x'",
        "DELETE FROM users",
        "TRUNCATE users",
        "DROP TABLE users",
        "ALTER TABLE users ADD COLUMN extra int",
        "CREATE TABLE mine (x int)",
        "SELECT * FROM dead_letters",
        "SELECT * FROM processed_messages",
        "SELECT nextval('users_generated_id_seq')",
        "CREATE ROLE intruder",
        "CREATE DATABASE intruder",
    ] {
        assert_eq!(
            outcome(&client, sql).await,
            INSUFFICIENT_PRIVILEGE,
            "read's role must not run: {sql}"
        );
    }
    assert_eq!(test.count("SELECT count(*) FROM users").await, 6);
}

#[tokio::test]
async fn ingest_writes_through_every_path_of_its_own_and_cannot_drop_or_create() {
    let test = TestDatabase::create().await;
    provision(&test.database).await;
    let ingest = Database::new(test.config.with_user(FunctionRole::Ingest.login())).unwrap();

    let user = |key: &str, user_id: Option<i32>| NewUser {
        delivery_key: DeliveryKey::new(key),
        user_id,
        email: "ada@example.com".into(),
        name: "Ada".into(),
        published_at: chrono::Utc::now(),
    };
    // New users, an explicit id, the same id again (an update), a redelivery.
    ingest
        .write_users(&[user("m1", None), user("m2", Some(42))])
        .await
        .unwrap();
    ingest
        .write_users(&[user("m3", Some(42)), user("m1", None)])
        .await
        .unwrap();
    ingest
        .record_dead_letter(&DeadLetter {
            delivery_key: DeliveryKey::new("m4"),
            message_id: "m4".into(),
            publish_time: None,
            payload: b"not json".to_vec(),
            attributes: serde_json::json!({}),
            reason: "not JSON".into(),
            event_type: None,
        })
        .await
        .unwrap();
    let pruned = ingest
        .prune_processed_messages(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(matches!(pruned, Pruned::Removed(3)), "{pruned:?}");
    assert_eq!(test.count("SELECT count(*) FROM users").await, 2);
    assert_eq!(test.count("SELECT count(*) FROM dead_letters").await, 1);

    let client = connect_as(&test, FunctionRole::Ingest).await;
    for sql in [
        "DROP TABLE users",
        "DROP TABLE processed_messages",
        "TRUNCATE users",
        "DELETE FROM users",
        "ALTER TABLE users ADD COLUMN extra int",
        "CREATE TABLE mine (x int)",
        "DELETE FROM dead_letters",
        "SELECT payload FROM dead_letters",
        "CREATE ROLE intruder",
        "DROP FUNCTION prune_processed_messages(interval, int)",
    ] {
        assert_eq!(
            outcome(&client, sql).await,
            INSUFFICIENT_PRIVILEGE,
            "ingest's role must not run: {sql}"
        );
    }
}

#[tokio::test]
async fn a_function_role_cannot_migrate_and_that_is_a_configuration_error() {
    // The groups exist once any database of the cluster is migrated.
    let migrated = TestDatabase::create().await;
    provision(&migrated.database).await;
    let fresh = TestDatabase::create_unmigrated().await;
    let ingest = Database::new(fresh.config.with_user(FunctionRole::Ingest.login())).unwrap();

    let error = ingest.check().await.unwrap_err();

    assert_eq!(*error.kind(), DbErrorKind::Config, "{error}");
    assert!(error.to_string().contains("permission denied"), "{error}");
    assert_eq!(
        fresh
            .count("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
            .await,
        0
    );
}

/// A cluster of the test's own that asks every role but its owner for a password, over the
/// socket and TCP alike (the shared one trusts everyone).
async fn cluster_with_passwords() -> OwnCluster {
    let hba = |dir: &std::path::Path| {
        std::fs::write(
            dir.join("hba.conf"),
            "local all postgres trust\nlocal all all scram-sha-256\n\
             host all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
        )
        .unwrap();
    };
    let base = std::env::var_os("PIPELINE_TEST_STATE").expect("run the tests through scripts/test");
    let dir = std::path::Path::new(&base).join(format!("passwords-{}", std::process::id()));
    let options = format!("-c hba_file={}", dir.join("hba.conf").display());
    OwnCluster::start_with("passwords", &options, hba).await
}

async fn log_in(cluster: &OwnCluster, login: &str, password: &str) -> Result<(), String> {
    let mut config = cluster.config.postgres().clone();
    config.user(login).password(password);
    match config.connect(tokio_postgres::NoTls).await {
        Ok(_) => Ok(()),
        Err(e) => Err(e
            .code()
            .map_or_else(|| e.to_string(), |c| c.code().to_owned())),
    }
}

#[tokio::test]
async fn logins_have_no_power_but_their_group_and_log_in_with_their_password_only() {
    let cluster = cluster_with_passwords().await;
    let owner = Database::new(cluster.config.clone()).unwrap();
    owner.check().await.unwrap();
    provision(&owner).await;
    let client = cluster.client().await;
    // A login someone made too powerful by hand is brought back.
    client
        .batch_execute(
            "ALTER ROLE pipeline_read CREATEDB CREATEROLE; GRANT pipeline_writer TO pipeline_read",
        )
        .await
        .unwrap();
    owner
        .provision_login(FunctionRole::Read, Some("correct horse battery staple"))
        .await
        .unwrap();

    for role in FunctionRole::ALL {
        let row = client
            .query_one(
                "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls,
                        rolcanlogin,
                        ARRAY(SELECT g.rolname::text FROM pg_auth_members m
                              JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid)
                 FROM pg_roles r WHERE rolname = $1",
                &[&role.login()],
            )
            .await
            .unwrap();
        assert!(!row.get::<_, bool>(0), "{} has a power", role.login());
        assert!(row.get::<_, bool>(1), "{} cannot log in", role.login());
        assert_eq!(row.get::<_, Vec<String>>(2), vec![role.group().to_owned()]);
    }
    let stored: String = client
        .query_one(
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'pipeline_read'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(stored.starts_with("SCRAM-SHA-256$4096:"), "{stored}");
    assert!(!stored.contains("correct horse"));

    assert_eq!(
        log_in(&cluster, "pipeline_read", "correct horse battery staple").await,
        Ok(())
    );
    assert_eq!(
        log_in(&cluster, "pipeline_read", "wrong").await,
        Err("28P01".into())
    );
    // Provisioning again without a password leaves the password as it is.
    owner
        .provision_login(FunctionRole::Read, None)
        .await
        .unwrap();
    assert_eq!(
        log_in(&cluster, "pipeline_read", "correct horse battery staple").await,
        Ok(())
    );
}
