//! Keeping `processed_messages` the size of Pub/Sub's redelivery window: keys older than the
//! retention are removed in small batches, by one instance at a time (migration 0007).

use std::time::Duration;

use super::{error::DbError, prepared::run_prepared, Database};

/// Removes at most $2 keys processed more than $1 seconds ago (NULL: another session prunes).
const PRUNE: &str = "SELECT prune_processed_messages(make_interval(secs => $1), $2)::int8";

/// Keys removed per transaction: small enough that a batch takes milliseconds and never holds
/// up the writer, large enough to keep pace with thousands of messages a second.
const PRUNE_BATCH: i32 = 2_000;
/// Rest between batches, leaving the database to the hot path.
const PRUNE_PAUSE: Duration = Duration::from_millis(20);

/// What a pruning pass did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pruned {
    /// This many keys were removed (possibly none).
    Removed(u64),
    /// Another session was pruning; this pass did nothing.
    ElsewhereInProgress,
}

impl Database {
    /// Removes every delivery key processed more than `retention` ago, a batch at a time,
    /// until none is left or another session takes over.
    pub async fn prune_processed_messages(&self, retention: Duration) -> Result<Pruned, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("pruning delivery keys", &e);
        let mut total = 0u64;
        loop {
            // A connection per batch: the pool's connections go back to the writer between them.
            let removed: Option<i64> = self
                .writing("pruning delivery keys", async |client| {
                    let row = run_prepared(client, PRUNE, |statement| async move {
                        client
                            .query_one(&statement, &[&retention.as_secs_f64(), &PRUNE_BATCH])
                            .await
                    })
                    .await
                    .map_err(fail)?;
                    Ok(row.get(0))
                })
                .await?;
            match removed {
                None if total == 0 => return Ok(Pruned::ElsewhereInProgress),
                None => return Ok(Pruned::Removed(total)),
                Some(n) => total += n as u64,
            }
            if removed < Some(PRUNE_BATCH.into()) {
                return Ok(Pruned::Removed(total));
            }
            tokio::time::sleep(PRUNE_PAUSE).await;
        }
    }
}
