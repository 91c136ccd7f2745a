//! PostgreSQL access: configuration from the libpq environment, one lazily connecting pool
//! per process, embedded migrations, and the pipeline's queries. Nothing here knows of HTTP.

pub mod config;
pub mod error;
mod group_commit;
mod migrations;
mod tls;
mod users;

use std::sync::Arc;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, RecyclingMethod, Runtime};
use tokio::sync::OnceCell;

pub use config::DbConfig;
pub use error::{DbError, DbErrorKind};
pub use group_commit::UserWriter;
pub use users::{DeadLetter, NewUser, UserRow, WriteOutcome};

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
    migrated: OnceCell<()>,
}

impl Database {
    pub fn from_env() -> Result<Self, DbError> {
        Self::new(DbConfig::from_env()?)
    }

    pub fn new(config: DbConfig) -> Result<Self, DbError> {
        let mut postgres = config.postgres.clone();
        postgres.ssl_mode(if config.is_unix_socket() {
            tokio_postgres::config::SslMode::Disable
        } else {
            tls::postgres_ssl_mode(config.ssl_mode)
        });
        let manager = Manager::from_config(
            postgres,
            tls::connector(config.ssl_mode, config.ssl_root_cert.as_deref())?,
            // A restart closes every connection; `Fast` sees that and replaces them.
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
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
                migrated: OnceCell::new(),
            }),
        })
    }

    /// A pooled connection to a migrated schema. The first call migrates; if that fails (the
    /// database is down), a later call tries again.
    pub(crate) async fn client(&self) -> Result<Object, DbError> {
        let mut client = self.inner.pool.get().await?;
        self.inner
            .migrated
            .get_or_try_init(|| migrations::migrate(&mut client))
            .await?;
        Ok(client)
    }

    /// Opens a connection and applies the migrations now, to fail fast at start-up.
    pub async fn check(&self) -> Result<(), DbError> {
        self.client().await.map(drop)
    }
}
