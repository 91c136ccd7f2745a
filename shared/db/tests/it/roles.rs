//! The functions' least-privilege roles (migration 0009, `Database::provision_login`) against
//! real PostgreSQL: each function's own path works as its role, and nothing else does.

use pipeline_db::{
    testing::{plain_client, superuser, superuser_client, OwnCluster, TestDatabase},
    Database, DbErrorKind, DeadLetter, DeliveryKey, FunctionRole, LoginSlot, NewUser, Pruned,
};

/// Provisions every login (both slots of both functions) in the test cluster, and closes its
/// maintenance databases to them, as the migrate job does. Tests in other processes may do the
/// same at the same moment; a collision of their first catalog updates is tried again.
async fn provision(database: &Database) {
    for role in FunctionRole::ALL {
        for slot in LoginSlot::ALL {
            let mut attempt = 0;
            while let Err(e) = database.provision_login(role, slot, None).await {
                attempt += 1;
                assert!(attempt < 5, "provisioning {}: {e}", role.login(slot));
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
    let mut attempt = 0;
    loop {
        match database.close_maintenance_databases().await {
            Ok(left) => {
                assert_eq!(left, [], "the Cloud SQL-shaped admin closes them all");
                break;
            }
            Err(e) => {
                attempt += 1;
                assert!(attempt < 5, "closing the maintenance databases: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// Both slots of both functions.
fn every_login() -> impl Iterator<Item = (FunctionRole, LoginSlot)> {
    FunctionRole::ALL
        .into_iter()
        .flat_map(|role| LoginSlot::ALL.map(|slot| (role, slot)))
}

/// A direct connection to the test's database as `role`'s login in slot A.
async fn connect_as(test: &TestDatabase, role: FunctionRole) -> tokio_postgres::Client {
    plain_client(&test.config.with_user(role.login(LoginSlot::A))).await
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
    let read = Database::new(
        test.config
            .with_user(FunctionRole::Read.login(LoginSlot::A)),
    )
    .unwrap();

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
        "SELECT next_generated_user_id()",
        "SELECT prune_processed_messages('8 days', 10)",
        "CREATE ROLE intruder",
        "CREATE DATABASE intruder",
        "CREATE TEMP TABLE mine (x int)",
        "CREATE FUNCTION pg_temp.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
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
    let ingest = Database::new(
        test.config
            .with_user(FunctionRole::Ingest.login(LoginSlot::A)),
    )
    .unwrap();

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
    // Pruning removes what is past Pub/Sub's redelivery window, and nothing younger than
    // 7 days however little ingest asks to keep.
    test.client
        .batch_execute(
            "UPDATE processed_messages SET processed_at = now() - interval '9 days'
             WHERE delivery_key = 'm1';
             UPDATE processed_messages SET processed_at = now() - interval '6 days'
             WHERE delivery_key <> 'm1'",
        )
        .await
        .unwrap();
    let pruned = ingest
        .prune_processed_messages(std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(matches!(pruned, Pruned::Removed(1)), "{pruned:?}");
    assert_eq!(
        test.count("SELECT count(*) FROM processed_messages").await,
        2
    );
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
        // Its rows, and its turn to prune, are the owner's functions' only.
        "DELETE FROM processed_messages",
        "SELECT FROM prune_turn FOR UPDATE",
        // Drawing ids is its job; moving the sequence to its end is not.
        "SELECT setval('users_generated_id_seq', 2147483647)",
        "ALTER SEQUENCE users_generated_id_seq RESTART WITH 2147483647",
        "CREATE TEMP TABLE mine (x int)",
        "CREATE FUNCTION pg_temp.mine() RETURNS int LANGUAGE sql AS 'SELECT 1'",
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
    let ingest = Database::new(
        fresh
            .config
            .with_user(FunctionRole::Ingest.login(LoginSlot::A)),
    )
    .unwrap();

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
            "local all postgres,admin trust\nlocal all all scram-sha-256\n\
             host all postgres,admin 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n",
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
        .provision_login(
            FunctionRole::Read,
            LoginSlot::A,
            Some("correct horse battery staple"),
        )
        .await
        .unwrap();

    for (role, slot) in every_login() {
        let login = role.login(slot);
        let row = client
            .query_one(
                "SELECT rolsuper OR rolcreatedb OR rolcreaterole OR rolreplication OR rolbypassrls,
                        rolcanlogin,
                        ARRAY(SELECT g.rolname::text FROM pg_auth_members m
                              JOIN pg_roles g ON g.oid = m.roleid WHERE m.member = r.oid)
                 FROM pg_roles r WHERE rolname = $1",
                &[&login],
            )
            .await
            .unwrap();
        assert!(!row.get::<_, bool>(0), "{login} has a power");
        assert!(row.get::<_, bool>(1), "{login} cannot log in");
        assert_eq!(row.get::<_, Vec<String>>(2), vec![role.group().to_owned()]);
    }
    // pg_authid: only a superuser may read the stored verifier.
    let stored: String = cluster
        .superuser_client()
        .await
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
        .provision_login(FunctionRole::Read, LoginSlot::A, None)
        .await
        .unwrap();
    assert_eq!(
        log_in(&cluster, "pipeline_read", "correct horse battery staple").await,
        Ok(())
    );
}

/// The migrate job as the deploy runs it: every login provisioned, each with the password of
/// its slot's secret.
async fn run_the_job(owner: &Database, passwords: &[(FunctionRole, LoginSlot, &str)]) {
    for (role, slot, password) in passwords {
        owner
            .provision_login(*role, *slot, Some(password))
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn a_login_in_use_keeps_its_password_while_the_other_slot_rotates_and_after_the_flip() {
    let cluster = cluster_with_passwords().await;
    let owner = Database::new(cluster.config.clone()).unwrap();
    owner.check().await.unwrap();
    // The deploy before the rotation: the services use slot A.
    let (read_a, read_b, ingest_a, ingest_b) = ("read-a-1", "read-b-1", "ingest-a-1", "ingest-b-1");
    run_the_job(
        &owner,
        &[
            (FunctionRole::Read, LoginSlot::A, read_a),
            (FunctionRole::Read, LoginSlot::B, read_b),
            (FunctionRole::Ingest, LoginSlot::A, ingest_a),
            (FunctionRole::Ingest, LoginSlot::B, ingest_b),
        ],
    )
    .await;
    // A running revision's pool, open before the rotation.
    let mut running = cluster.config.with_user("pipeline_read").postgres().clone();
    running.password(read_a);
    let (open, connection) = running.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);

    // Step 1: slot B's secrets get new versions; the job runs with them.
    let (read_b, ingest_b) = ("read-b-2", "ingest-b-2");
    run_the_job(
        &owner,
        &[
            (FunctionRole::Read, LoginSlot::A, read_a),
            (FunctionRole::Read, LoginSlot::B, read_b),
            (FunctionRole::Ingest, LoginSlot::A, ingest_a),
            (FunctionRole::Ingest, LoginSlot::B, ingest_b),
        ],
    )
    .await;
    // The running revision's open connection, and a new instance of it, still log in.
    open.query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap();
    assert_eq!(log_in(&cluster, "pipeline_read", read_a).await, Ok(()));
    assert_eq!(log_in(&cluster, "pipeline_ingest", ingest_a).await, Ok(()));
    assert_eq!(log_in(&cluster, "pipeline_read_b", read_b).await, Ok(()));
    assert_eq!(
        log_in(&cluster, "pipeline_ingest_b", ingest_b).await,
        Ok(())
    );
    assert_eq!(
        log_in(&cluster, "pipeline_read_b", "read-b-1").await,
        Err("28P01".into()),
        "slot B's old password is gone"
    );

    // Step 2: the services flip to slot B; nothing changed, so the job changes nothing, and
    // the old revision (slot A) still starts instances until it is gone.
    run_the_job(
        &owner,
        &[
            (FunctionRole::Read, LoginSlot::A, read_a),
            (FunctionRole::Read, LoginSlot::B, read_b),
            (FunctionRole::Ingest, LoginSlot::A, ingest_a),
            (FunctionRole::Ingest, LoginSlot::B, ingest_b),
        ],
    )
    .await;
    open.query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap();
    assert_eq!(log_in(&cluster, "pipeline_read", read_a).await, Ok(()));
    assert_eq!(log_in(&cluster, "pipeline_ingest", ingest_a).await, Ok(()));
    // The new revision, as slot B, reads what slot A's may.
    let mut flipped = cluster
        .config
        .with_user("pipeline_read_b")
        .postgres()
        .clone();
    flipped.password(read_b);
    let (client, connection) = flipped.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    client
        .query_one("SELECT count(*) FROM users", &[])
        .await
        .unwrap();
    assert_eq!(
        outcome(&client, "DELETE FROM users").await,
        INSUFFICIENT_PRIVILEGE
    );
}

/// What a role is, as `pg_roles` says: attributes (LOGIN first), connection limit, expiry,
/// and the roles it belongs to (`+` when with ADMIN OPTION).
async fn role_shape(client: &tokio_postgres::Client, name: &str) -> String {
    client
        .query_one(
            "SELECT concat_ws(' ',
                        CASE WHEN rolcanlogin THEN 'LOGIN' ELSE 'NOLOGIN' END,
                        CASE WHEN rolsuper THEN 'SUPERUSER' END,
                        CASE WHEN rolcreatedb THEN 'CREATEDB' END,
                        CASE WHEN rolcreaterole THEN 'CREATEROLE' END,
                        CASE WHEN NOT rolinherit THEN 'NOINHERIT' END,
                        CASE WHEN rolreplication THEN 'REPLICATION' END,
                        CASE WHEN rolbypassrls THEN 'BYPASSRLS' END,
                        CASE WHEN rolconnlimit <> -1 THEN 'LIMIT ' || rolconnlimit END,
                        CASE WHEN rolvaliduntil <> 'infinity' THEN 'EXPIRES' END,
                        'in {' || array_to_string(ARRAY(
                            SELECT g.rolname || CASE WHEN m.admin_option THEN '+' ELSE '' END
                            FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
                            WHERE m.member = r.oid ORDER BY 1), ',') || '}')
             FROM pg_roles r WHERE rolname = $1",
            &[&name],
        )
        .await
        .unwrap()
        .get(0)
}

/// The cluster's migrating role (the Cloud SQL-shaped admin: no superuser).
async fn assert_no_superuser(client: &tokio_postgres::Client) {
    let row = client
        .query_one(
            "SELECT rolsuper, pg_has_role(current_user, 'cloudsqlsuperuser', 'MEMBER')
             FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .unwrap();
    assert!(!row.get::<_, bool>(0), "the owner must not be a superuser");
    assert!(
        row.get::<_, bool>(1),
        "the owner belongs to cloudsqlsuperuser"
    );
}

#[tokio::test]
async fn roles_changed_by_hand_are_set_right_by_the_next_deploy_without_a_superuser() {
    // A cluster of the test's own: the roles are the cluster's, and other tests use them.
    let cluster = OwnCluster::start("drift").await;
    let owner = Database::new(cluster.config.clone()).unwrap();
    owner.check().await.unwrap();
    provision(&owner).await;
    let client = cluster.client().await;
    assert_no_superuser(&client).await;
    // What an operator debugging as admin (no superuser either) can do to them.
    client
        .batch_execute(
            "ALTER ROLE pipeline_read CREATEDB CREATEROLE NOINHERIT CONNECTION LIMIT 0
                 VALID UNTIL '2001-01-01';
             GRANT pipeline_writer, pg_read_all_data, admin TO pipeline_read;
             GRANT pipeline_reader TO pipeline_read WITH ADMIN OPTION;
             ALTER ROLE pipeline_writer LOGIN CREATEDB;
             GRANT admin TO pipeline_writer;",
        )
        .await
        .unwrap();

    // The next deploy, as the same admin.
    owner.check().await.unwrap();
    provision(&owner).await;

    assert_eq!(
        role_shape(&client, "pipeline_read").await,
        "LOGIN in {pipeline_reader}"
    );
    assert_eq!(
        role_shape(&client, "pipeline_writer").await,
        "NOLOGIN in {}"
    );
    assert_eq!(
        role_shape(&client, "pipeline_ingest").await,
        "LOGIN in {pipeline_writer}"
    );
    // And the functions work again as their roles.
    let read = Database::new(
        cluster
            .config
            .with_user(FunctionRole::Read.login(LoginSlot::A)),
    )
    .unwrap();
    read.users_after(0, 10).await.unwrap();
}

#[tokio::test]
async fn a_power_only_a_superuser_gives_is_named_with_the_way_out_and_the_rest_is_provisioned() {
    let cluster = OwnCluster::start("superuser-drift").await;
    let owner = Database::new(cluster.config.clone()).unwrap();
    owner.check().await.unwrap();
    provision(&owner).await;
    // Only a superuser can do this (on Cloud SQL nobody is one).
    cluster
        .superuser_client()
        .await
        .batch_execute("ALTER ROLE pipeline_read REPLICATION CREATEDB")
        .await
        .unwrap();

    let error = owner
        .provision_login(FunctionRole::Read, LoginSlot::A, None)
        .await
        .unwrap_err();

    assert_eq!(*error.kind(), DbErrorKind::Config, "{error}");
    let message = error.to_string();
    for part in [
        "pipeline_read",
        "REPLICATION",
        "only a superuser",
        "admin is not one",
        "DROP ROLE pipeline_read",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert!(!message.contains("PGUSER is the function's"), "{message}");
    // The other function's role is still provisioned, and the advice works: as admin, the
    // login is dropped and the next deploy makes it afresh.
    owner
        .provision_login(FunctionRole::Ingest, LoginSlot::A, None)
        .await
        .unwrap();
    let client = cluster.client().await;
    client
        .batch_execute("DROP ROLE pipeline_read")
        .await
        .unwrap();
    owner
        .provision_login(FunctionRole::Read, LoginSlot::A, None)
        .await
        .unwrap();
    assert_eq!(
        role_shape(&client, "pipeline_read").await,
        "LOGIN in {pipeline_reader}"
    );
}

#[tokio::test]
async fn an_owner_that_cannot_create_roles_is_told_what_it_needs() {
    let cluster = OwnCluster::start("weak-owner").await;
    Database::new(cluster.config.clone())
        .unwrap()
        .check()
        .await
        .unwrap();
    // A role that finds the schema current but may not create roles.
    cluster
        .client()
        .await
        .batch_execute(
            "CREATE ROLE weak_owner LOGIN; GRANT SELECT ON schema_migrations TO weak_owner",
        )
        .await
        .unwrap();
    let weak = Database::new(cluster.config.with_user("weak_owner")).unwrap();

    let error = weak
        .provision_login(FunctionRole::Read, LoginSlot::A, None)
        .await
        .unwrap_err();

    assert_eq!(*error.kind(), DbErrorKind::Config, "{error}");
    let message = error.to_string();
    assert!(message.contains("42501"), "{message}");
    assert!(message.contains("needs CREATEROLE"), "{message}");
    assert!(!message.contains("PGUSER is the function's"), "{message}");
}

/// Connects as `config` says: Ok, or the SQLSTATE of the refusal.
async fn try_connect(config: &pipeline_db::DbConfig) -> Result<(), String> {
    match config.postgres().connect(tokio_postgres::NoTls).await {
        Ok(_) => Ok(()),
        Err(e) => Err(e
            .code()
            .map_or_else(|| e.to_string(), |c| c.code().to_owned())),
    }
}

#[tokio::test]
async fn a_function_role_reaches_no_database_but_its_own() {
    let test = TestDatabase::create().await;
    provision(&test.database).await;

    for (role, slot) in every_login() {
        let login = role.login(slot);
        let config = test.config.with_user(login);
        assert_eq!(try_connect(&config).await, Ok(()), "{login}");
        for other in ["postgres", "template1"] {
            assert_eq!(
                try_connect(&config.with_database(other)).await,
                Err(INSUFFICIENT_PRIVILEGE.into()),
                "{login} must not connect to {other}"
            );
        }
    }
    // The owner, as Cloud SQL's admin, still does.
    assert_eq!(
        try_connect(&test.config.with_database("postgres")).await,
        Ok(())
    );
}

#[tokio::test]
async fn no_lock_a_function_role_can_take_stops_pruning() {
    let test = TestDatabase::create().await;
    provision(&test.database).await;
    let ingest = Database::new(
        test.config
            .with_user(FunctionRole::Ingest.login(LoginSlot::A)),
    )
    .unwrap();
    ingest
        .write_users(&[NewUser {
            delivery_key: DeliveryKey::new("old"),
            user_id: None,
            email: "old@example.com".into(),
            name: "Old".into(),
            published_at: chrono::Utc::now(),
        }])
        .await
        .unwrap();
    test.client
        .batch_execute("UPDATE processed_messages SET processed_at = now() - interval '9 days'")
        .await
        .unwrap();
    // read's role takes the advisory lock pruning used to take (any role may take any key),
    // and tries for the turn pruning takes now.
    let read = connect_as(&test, FunctionRole::Read).await;
    read.batch_execute("SELECT pg_advisory_lock(482956635749)")
        .await
        .unwrap();
    assert_eq!(
        outcome(&read, "SELECT FROM prune_turn FOR UPDATE").await,
        INSUFFICIENT_PRIVILEGE
    );

    let pruned = ingest
        .prune_processed_messages(std::time::Duration::from_secs(8 * 24 * 60 * 60))
        .await
        .unwrap();

    assert_eq!(pruned, Pruned::Removed(1));
}

/// Whether PUBLIC may create in the public schema of the test's database.
async fn public_may_create(test: &TestDatabase) -> bool {
    test.client
        .query_one(
            "SELECT EXISTS (SELECT FROM pg_namespace n, aclexplode(n.nspacl) a
                            WHERE n.nspname = 'public' AND a.grantee = 0
                              AND a.privilege_type = 'CREATE')",
            &[],
        )
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn an_adopted_database_whose_public_schema_is_open_to_all_is_closed_by_the_owner() {
    // A database made before PostgreSQL 15: PUBLIC may create in the public schema. Its
    // owner (the Cloud SQL-shaped admin) grants that, as initdb used to.
    let test = TestDatabase::create_unmigrated().await;
    test.client
        .batch_execute("GRANT CREATE ON SCHEMA public TO PUBLIC")
        .await
        .unwrap();
    assert!(public_may_create(&test).await);

    test.database.check().await.unwrap();
    provision(&test.database).await;

    assert!(!public_may_create(&test).await);
    let read = connect_as(&test, FunctionRole::Read).await;
    assert_eq!(
        outcome(&read, "CREATE TABLE public.mine (x int)").await,
        INSUFFICIENT_PRIVILEGE
    );
}

#[tokio::test]
async fn a_public_schema_the_owner_cannot_close_stops_the_migration_with_the_way_out() {
    // The schema belongs to a superuser that opened it to all, as in a database made by one
    // before PostgreSQL 15; the owner (admin) could create in it, but cannot close it.
    let test = TestDatabase::create_unmigrated().await;
    superuser_client(&test.config)
        .await
        .batch_execute(&format!(
            "ALTER SCHEMA public OWNER TO {}; GRANT CREATE ON SCHEMA public TO PUBLIC",
            superuser()
        ))
        .await
        .unwrap();

    let error = test.database.check().await.unwrap_err();

    assert_eq!(*error.kind(), DbErrorKind::Config, "{error}");
    let message = error.to_string();
    for part in [
        "every role may still create objects in the public schema",
        "admin cannot take that back",
        "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    ] {
        assert!(message.contains(part), "{part:?} missing from: {message}");
    }
    assert!(public_may_create(&test).await, "nothing changed");
}
