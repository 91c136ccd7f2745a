//! PostgreSQL access: configuration from the libpq environment, one lazily connecting pool
//! per process, embedded migrations, and the pipeline's queries. Nothing here knows of HTTP.

#![warn(missing_docs)]

mod bookkeeping;
pub mod config;
mod dead_letters;
pub mod error;
mod group_commit;
mod migrations;
mod prepared;
mod read_only;
mod roles;
mod storable;
#[cfg(feature = "test-support")]
pub mod testing;
mod tls;
mod users;

use std::{
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, RwLock,
    },
    time::Duration,
};

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::OnceCell;

pub use bookkeeping::Pruned;
pub use config::DbConfig;
pub use dead_letters::{DeadLetter, KeptLetter, LetterSelection, LetterSummary};
pub use error::{DbError, DbErrorKind};
pub use group_commit::UserWriter;
pub use roles::{FunctionRole, LoginSlot};
pub use storable::{DeliveryKey, NUL_STAND_IN};
pub use users::{NewUser, UserRow, WriteOutcome};

/// A handle on the database; cheap to clone, shared by every request of the process.
///
/// Creating it does no I/O: connections open on first use, the schema is migrated then, and a
/// connection broken by a database restart is dropped and replaced by the pool, so the
/// function recovers by itself.
#[derive(Clone)]
pub struct Database {
    inner: Arc<Inner>,
}

struct Inner {
    pool: Pool,
    acquire_timeout: Duration,
    /// The session's lock timeout, which the writer shortens for its batches.
    lock_timeout: Duration,
    /// Our own bound on a read or a schema check; a write gets `write_timeout`.
    reply_timeout: Duration,
    write_timeout: Duration,
    migrated: OnceCell<()>,
    /// The connection reads share; see [`Database::shared_client`].
    shared: RwLock<Option<Arc<SharedClient>>>,
    /// Held while the shared connection is being opened, so only one is.
    replacing_shared: tokio::sync::Mutex<()>,
    /// Wrong settings are said once, at ERROR; every request they fail then gets a 503.
    config_error_reported: AtomicBool,
    /// A read-only database is said when it starts refusing writes and when it stops.
    read_only: read_only::ReadOnlySpell,
    /// Where connections go, named in connection errors.
    target: String,
}

impl Database {
    /// The database the process environment names (`PG*`, `DATABASE_URL`; see
    /// [`DbConfig::from_lookup`]).
    pub fn from_env() -> Result<Self, DbError> {
        Self::new(DbConfig::from_env()?)
    }

    /// A handle on the database `config` names. No I/O: connections open on first use.
    pub fn new(config: DbConfig) -> Result<Self, DbError> {
        let mut postgres = config.postgres.clone();
        // A restart closes every connection; `Fast` sees that and replaces them.
        let recycling = || ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let manager = if config.is_unix_socket() {
            // No TLS over a local socket, and no loading of the system's CA store, which would
            // cost a cold start tens of milliseconds.
            postgres.ssl_mode(tokio_postgres::config::SslMode::Disable);
            Manager::from_config(postgres, tokio_postgres::NoTls, recycling())
        } else {
            postgres.ssl_mode(tls::postgres_ssl_mode(config.ssl_mode));
            let connector = tls::connector(config.ssl_mode, config.ssl_root_cert.as_deref())?;
            Manager::from_config(postgres, connector, recycling())
        };
        let pool = Pool::builder(manager)
            .max_size(config.pool_size)
            .wait_timeout(Some(config.acquire_timeout))
            .create_timeout(Some(config.acquire_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| DbError::config(format!("cannot build the connection pool: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                acquire_timeout: config.acquire_timeout,
                lock_timeout: config.lock_timeout,
                reply_timeout: config.reply_timeout,
                write_timeout: config.statement_timeout + config.reply_timeout,
                migrated: OnceCell::new(),
                shared: RwLock::new(None),
                replacing_shared: tokio::sync::Mutex::new(()),
                config_error_reported: AtomicBool::new(false),
                read_only: Default::default(),
                target: config.target(),
            }),
        })
    }

    /// A pooled connection to a migrated schema. The first call migrates; if that fails (the
    /// database is down), a later call tries again.
    pub(crate) async fn client(&self) -> Result<Object, DbError> {
        let mut client = self.pooled().await?;
        let checked = self
            .inner
            .migrated
            .get_or_try_init(|| migrations::migrate(&mut client, self.inner.reply_timeout))
            .await;
        match checked {
            Ok(()) => Ok(client),
            Err(e) if e.is_no_reply() => {
                drop(Object::take(client));
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    /// The longest a statement waits for a lock (`DB_LOCK_TIMEOUT_MS`).
    pub fn lock_timeout(&self) -> Duration {
        self.inner.lock_timeout
    }

    /// The longest a read waits for the database, on our own clock (`DB_REPLY_TIMEOUT_SECS`).
    pub fn reply_timeout(&self) -> Duration {
        self.inner.reply_timeout
    }

    /// The most connections this process opens (`DB_POOL_SIZE`): what it may ask of the
    /// database at once.
    pub fn pool_size(&self) -> usize {
        self.inner.pool.status().max_size
    }

    /// Runs `call` on a pooled connection within `limit`, on our own clock. The server
    /// enforces its own timeouts only while it runs; a call that outlives `limit` means the
    /// database, or the path to it, is frozen: the connection is taken out of the pool and
    /// dropped, so no later call waits behind it, and the call fails as unavailable.
    pub(crate) async fn on_pooled<T>(
        &self,
        what: &str,
        limit: Duration,
        call: impl AsyncFnOnce(&Object) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let client = self.client().await?;
        match tokio::time::timeout(limit, call(&client)).await {
            Ok(Err(e)) if e.is_read_only() => {
                // The session keeps the read-only setting it started with: a fresh one will
                // find the primary (or the setting turned off).
                drop(Object::take(client));
                Err(e)
            }
            Ok(result) => result,
            Err(_) => {
                drop(Object::take(client));
                Err(DbError::no_reply(what, limit))
            }
        }
    }

    /// As [`Database::on_pooled`], for a write: its limit is the statement timeout and the
    /// reply timeout together.
    pub(crate) async fn writing<T>(
        &self,
        what: &str,
        call: impl AsyncFnOnce(&Object) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        let result = self.on_pooled(what, self.inner.write_timeout, call).await;
        match &result {
            Ok(_) => self.inner.read_only.accepted(),
            Err(e) if e.is_read_only() => self.inner.read_only.refused(e),
            Err(_) => {}
        }
        result
    }

    /// A pooled connection, as it is.
    ///
    /// A database that cannot be reached is tried again until the acquire timeout: a restart
    /// or a Cloud SQL failover takes seconds, and riding it out beats a 503 (after a run of
    /// failed pushes, Pub/Sub backs off for much longer than the outage lasted).
    async fn pooled(&self) -> Result<Object, DbError> {
        let deadline = tokio::time::Instant::now() + self.inner.acquire_timeout;
        let mut pause = Duration::from_millis(25);
        loop {
            let got = self.inner.pool.get().await;
            match got.map_err(|e| DbError::from_pool(e, &self.inner.target)) {
                Ok(client) => return Ok(client),
                Err(e) if e.is_transient() && tokio::time::Instant::now() + pause < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(500));
                }
                Err(e) => {
                    if *e.kind() == DbErrorKind::Config
                        && !self
                            .inner
                            .config_error_reported
                            .swap(true, Ordering::Relaxed)
                    {
                        log::error!("{e}");
                    }
                    return Err(e);
                }
            }
        }
    }

    /// A connection that concurrent reads share. tokio-postgres pipelines their queries, so a
    /// burst of reads costs the database and the kernel a fraction of the round trips that a
    /// connection each would. A connection that has closed (a database restart) is replaced,
    /// by one caller while the others wait for it.
    pub(crate) async fn shared_client(&self) -> Result<Arc<SharedClient>, DbError> {
        if let Some(client) = self.current_shared() {
            return Ok(client);
        }
        // Bounded: the caller replacing it may itself wait up to the acquire timeout.
        let _replacing = tokio::time::timeout(
            self.inner.acquire_timeout,
            self.inner.replacing_shared.lock(),
        )
        .await
        .map_err(|_| DbError::no_connection_in_time())?;
        if let Some(client) = self.current_shared() {
            return Ok(client);
        }
        let fresh = Arc::new(SharedClient::new(self.client().await?));
        *self.inner.shared.write().unwrap_or_else(|e| e.into_inner()) = Some(fresh.clone());
        Ok(fresh)
    }

    fn current_shared(&self) -> Option<Arc<SharedClient>> {
        let slot = self.inner.shared.read().unwrap_or_else(|e| e.into_inner());
        slot.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// Gives up on `client`, which did not answer in time: no new read is sent on it, and
    /// the reads queued on it fail as soon as the last of them lets go.
    pub(crate) fn abandon_shared(&self, client: &Arc<SharedClient>) {
        client.poison();
        let mut slot = self.inner.shared.write().unwrap_or_else(|e| e.into_inner());
        if slot
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, client))
        {
            *slot = None;
        }
    }

    /// Opens a connection and applies the migrations now, to fail fast at start-up.
    pub async fn check(&self) -> Result<(), DbError> {
        self.client().await.map(drop)
    }
}

/// The pooled connection reads share. Abandoned (it did not answer in time), it leaves the
/// pool for good when the last read holding it is done: a frozen connection must not be
/// handed to the next caller.
pub(crate) struct SharedClient {
    client: Option<Object>,
    abandoned: AtomicBool,
}

impl SharedClient {
    fn new(client: Object) -> Self {
        Self {
            client: Some(client),
            abandoned: AtomicBool::new(false),
        }
    }

    fn poison(&self) {
        self.abandoned.store(true, Ordering::Relaxed);
    }
}

impl std::ops::Deref for SharedClient {
    type Target = Object;

    fn deref(&self) -> &Object {
        self.client.as_ref().expect("present until dropped")
    }
}

impl Drop for SharedClient {
    fn drop(&mut self) {
        if self.abandoned.load(Ordering::Relaxed) {
            if let Some(client) = self.client.take() {
                drop(Object::take(client));
            }
        }
    }
}
