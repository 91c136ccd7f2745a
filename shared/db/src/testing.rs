//! For tests: a fresh database of their own in the throwaway cluster that `scripts/test`
//! starts (found through the `PG*` variables), and a plain connection to inspect it.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Database, DbConfig};

/// The original system's six sample users.
pub const SAMPLE_USERS_SQL: &str = include_str!("../sql/sample_users.sql");

/// A connection outside any pool, over the Unix socket (no TLS), to set up or inspect.
pub async fn plain_client(config: &DbConfig) -> tokio_postgres::Client {
    let (client, connection) = config
        .postgres()
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to the test cluster");
    tokio::spawn(connection);
    client
}

/// The cluster's bootstrap superuser, which `scripts/lib/postgres.sh` names in
/// `PG_SUPERUSER`: for what a test does with more power than Cloud SQL gives anyone.
pub fn superuser() -> String {
    std::env::var("PG_SUPERUSER").unwrap_or_else(|_| "postgres".into())
}

/// A connection as the cluster's superuser to the database `config` names.
pub async fn superuser_client(config: &DbConfig) -> tokio_postgres::Client {
    plain_client(&config.with_user(&superuser())).await
}

/// A database of the test's own, dropped with the cluster.
pub struct TestDatabase {
    /// Its name in the cluster.
    pub name: String,
    /// How to reach it, as its owner: `admin`, shaped like the user the Cloud SQL API makes
    /// (no superuser; CREATEROLE, CREATEDB, a member of `cloudsqlsuperuser`).
    pub config: DbConfig,
    /// A handle on it, as the functions have one.
    pub database: Database,
    /// A direct connection, outside the pool, to check what was stored.
    pub client: tokio_postgres::Client,
}

impl TestDatabase {
    /// Creates an empty database, migrated.
    pub async fn create() -> Self {
        let test = Self::create_unmigrated().await;
        test.database
            .check()
            .await
            .expect("migrate the test database");
        test
    }

    /// Creates an empty database and leaves the migrations to the test.
    pub async fn create_unmigrated() -> Self {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        assert!(
            std::env::var_os("PGHOST").is_some() || std::env::var_os("DATABASE_URL").is_some(),
            "these tests need PostgreSQL: run them through scripts/test, which starts a throwaway cluster"
        );
        let admin = DbConfig::from_env().expect("database settings");
        let admin_client = plain_client(&admin).await;
        let superuser: bool = admin_client
            .query_one(
                "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
                &[],
            )
            .await
            .expect("the test role")
            .get(0);
        // A superuser passes what fails on Cloud SQL, whose users never are one.
        assert!(
            !superuser,
            "the tests must run as a Cloud SQL-shaped admin, not a superuser: run them through \
             scripts/test (see scripts/lib/postgres.sh)"
        );
        let name = format!(
            "test_{}_{}_{}",
            std::process::id(),
            COUNT.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        admin_client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create the test database");
        let config = admin.with_database(&name);
        let database = Database::new(config.clone()).expect("pool");
        let client = plain_client(&config).await;
        Self {
            name,
            config,
            database,
            client,
        }
    }

    /// A migrated database with the original system's six sample users.
    pub async fn with_sample_users() -> Self {
        let test = Self::create().await;
        test.client
            .batch_execute(SAMPLE_USERS_SQL)
            .await
            .expect("load the sample users");
        test
    }

    /// Makes the database read-only, as a failover onto a standby does: every new session
    /// starts read-only (`default_transaction_read_only`), and every session but this
    /// test's own connection is ended.
    pub async fn make_read_only(&self) {
        self.client
            .batch_execute(&format!(
                "ALTER DATABASE {} SET default_transaction_read_only = on;
                 SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                  WHERE datname = current_database() AND pid <> pg_backend_pid()",
                self.name
            ))
            .await
            .expect("make the database read-only");
    }

    /// Makes the database writable again for new sessions; sessions that started read-only
    /// are left as they are, for the function to replace.
    pub async fn make_writable(&self) {
        self.client
            .batch_execute(&format!(
                "ALTER DATABASE {} RESET default_transaction_read_only",
                self.name
            ))
            .await
            .expect("make the database writable");
    }

    /// The one number `sql` (a `SELECT count(*) ...`) answers.
    pub async fn count(&self, sql: &str) -> i64 {
        self.client.query_one(sql, &[]).await.expect(sql).get(0)
    }
}

/// A PostgreSQL cluster of a test's own, which the test may crash and restart; started with
/// `scripts/pg-cluster` next to the shared one.
pub struct OwnCluster {
    dir: std::path::PathBuf,
    options: String,
    /// How to reach it, as the Cloud SQL-shaped admin (see [`TestDatabase::config`]).
    pub config: DbConfig,
}

impl OwnCluster {
    /// Starts a cluster named `name` (its folder, beside the shared one's).
    pub async fn start(name: &str) -> Self {
        Self::start_with(name, "", |_| {}).await
    }

    /// Starts a cluster with extra server `options` (`-c name=value ...`), after `prepare`
    /// has had the chance to put files (certificates, say) in its folder.
    pub async fn start_with(
        name: &str,
        options: &str,
        prepare: impl FnOnce(&std::path::Path),
    ) -> Self {
        let base = std::env::var_os("PIPELINE_TEST_STATE")
            .expect("PIPELINE_TEST_STATE is unset: run the tests through scripts/test");
        let dir = std::path::Path::new(&base).join(format!("{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("cluster folder");
        prepare(&dir);
        let output = Self::script("start", dir.clone(), options.to_owned()).await;
        let lookup = |key: &str| {
            output
                .lines()
                .find_map(|line| line.strip_prefix(&format!("{key}=")).map(str::to_owned))
        };
        let config = DbConfig::from_lookup(|key| match key {
            "PGHOST" | "PGPORT" | "PGUSER" | "PGDATABASE" => lookup(key),
            _ => None,
        })
        .expect("cluster settings");
        // Outage tests wait for the 503: keep the ride-through short.
        let config = DbConfig {
            acquire_timeout: std::time::Duration::from_secs(1),
            ..config
        };
        Self {
            dir,
            options: options.to_owned(),
            config,
        }
    }

    /// A direct connection over the Unix socket, to check what was stored.
    pub async fn client(&self) -> tokio_postgres::Client {
        plain_client(&self.config).await
    }

    /// A direct connection as the cluster's superuser.
    pub async fn superuser_client(&self) -> tokio_postgres::Client {
        superuser_client(&self.config).await
    }

    /// Stops the server at once, as a crash would.
    pub async fn crash(&self) {
        Self::script("crash", self.dir.clone(), String::new()).await;
    }

    /// Stops every process of the server where it stands (SIGSTOP), as a frozen VM or a path
    /// that silently drops packets would: sockets stay open, nothing answers.
    pub async fn freeze(&self) {
        self.signal_all("STOP").await;
    }

    /// Lets a frozen server go on (SIGCONT).
    pub async fn thaw(&self) {
        self.signal_all("CONT").await;
    }

    async fn signal_all(&self, signal: &'static str) {
        let dir = self.dir.clone();
        let sent = tokio::task::spawn_blocking(move || signal_server(&dir, signal))
            .await
            .unwrap();
        assert!(
            sent,
            "could not send SIG{signal} to the server in {}",
            self.dir.display()
        );
    }

    /// Starts it again on the same socket and port.
    pub async fn restart(&self) {
        Self::script("start", self.dir.clone(), self.options.clone()).await;
    }

    /// The cluster's folder.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    async fn script(command: &'static str, dir: std::path::PathBuf, options: String) -> String {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-cluster");
        tokio::task::spawn_blocking(move || {
            let output = std::process::Command::new(script)
                .arg(command)
                .arg(&dir)
                .env("PG_OPTIONS", options)
                .output()
                .expect("run scripts/pg-cluster");
            assert!(
                output.status.success(),
                "scripts/pg-cluster {command} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            String::from_utf8(output.stdout).unwrap()
        })
        .await
        .unwrap()
    }
}

/// Sends `signal` to the postmaster of the server in `dir` and to its children.
fn signal_server(dir: &std::path::Path, signal: &str) -> bool {
    let Ok(text) = std::fs::read_to_string(dir.join("data/postmaster.pid")) else {
        return false;
    };
    let Some(postmaster) = text.lines().next().map(|l| l.trim().to_owned()) else {
        return false;
    };
    let children = std::process::Command::new("pgrep")
        .args(["-P", &postmaster])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    let mut pids = vec![postmaster];
    pids.extend(children.split_whitespace().map(str::to_owned));
    std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .args(&pids)
        .status()
        .is_ok_and(|s| s.success())
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        // A test that failed while the server was frozen must not leave it so.
        signal_server(&self.dir, "CONT");
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-cluster");
        let _ = std::process::Command::new(script)
            .arg("stop")
            .arg(&self.dir)
            .output();
    }
}
