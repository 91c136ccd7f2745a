//! Removing delivery keys older than the retention, so `processed_messages` stays the size of
//! Pub/Sub's redelivery window without a cron job: every instance tries now and then, the
//! database lets one at a time do the work, in small batches off the hot path.

use std::{sync::OnceLock, time::Duration};

use shared::db::{Database, Pruned};

/// The first pass comes this soon after an instance starts (or after
/// `prune_every`, if sooner): instances that live minutes still do their share.
const FIRST_PASS_WITHIN: Duration = Duration::from_secs(10);

#[derive(Default)]
pub(crate) struct Housekeeping {
    started: OnceLock<()>,
}

impl Housekeeping {
    /// Starts the periodic pruning, once, inside the runtime that serves requests.
    pub(crate) fn start(&self, database: &Database, retention: Duration, every: Duration) {
        self.started.get_or_init(|| {
            let database = database.clone();
            tokio::spawn(async move {
                let first = tokio::time::Instant::now() + every.min(FIRST_PASS_WITHIN);
                let mut ticks = tokio::time::interval_at(first, every);
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticks.tick().await;
                    prune(&database, retention).await;
                }
            });
        });
    }
}

async fn prune(database: &Database, retention: Duration) {
    let days = retention.as_secs_f64() / 86_400.0;
    match database.prune_processed_messages(retention).await {
        Ok(Pruned::Removed(0)) => log::debug!("no delivery key is older than {days} days"),
        Ok(Pruned::Removed(n)) => {
            log::info!("removed {n} delivery keys older than {days} days")
        }
        Ok(Pruned::ElsewhereInProgress) => {
            log::debug!("another instance is removing old delivery keys")
        }
        Err(e) => log::warn!("removing old delivery keys failed, trying again later: {e}"),
    }
}
