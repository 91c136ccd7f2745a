//! Group commit: what arrives while a write is in flight goes into the next single
//! transaction, so concurrent deliveries share one round of statements and one WAL flush.
//! A delivery arriving when the writer is idle is written at once, with no added delay.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
};

use futures_util::FutureExt;
use tokio::sync::{mpsc, oneshot};

use super::{
    error::{DbError, DbErrorKind},
    storable::DeliveryKey,
    users::{NewUser, WriteOutcome},
    Database,
};

/// Most deliveries a single transaction carries.
const MAX_BATCH: usize = 512;
/// Deliveries that may wait for the writer before senders themselves wait.
const QUEUE: usize = 4096;
type Reply = oneshot::Sender<Result<WriteOutcome, DbError>>;

/// Writes users through one background writer per process. Cheap to clone.
#[derive(Clone)]
pub struct UserWriter {
    database: Database,
    // Started on first use, inside the runtime that serves requests.
    queue: Arc<OnceLock<mpsc::Sender<(NewUser, Reply)>>>,
    batches: Arc<BatchCounts>,
}

/// Batches written and the messages they carried, since last taken.
#[derive(Default)]
struct BatchCounts {
    batches: AtomicU64,
    messages: AtomicU64,
}

impl UserWriter {
    pub fn new(database: Database) -> Self {
        Self {
            database,
            queue: Default::default(),
            batches: Default::default(),
        }
    }

    /// (batches written, messages they carried) since the last call, for a periodic summary.
    pub fn take_batch_counts(&self) -> (u64, u64) {
        (
            self.batches.batches.swap(0, Ordering::Relaxed),
            self.batches.messages.swap(0, Ordering::Relaxed),
        )
    }

    /// Writes one user; resolves once its transaction has committed (or failed).
    pub async fn write(&self, user: NewUser) -> Result<WriteOutcome, DbError> {
        let queue = self.queue.get_or_init(|| {
            let (sender, receiver) = mpsc::channel(QUEUE);
            tokio::spawn(run(self.database.clone(), receiver, self.batches.clone()));
            sender
        });
        let (reply, outcome) = oneshot::channel();
        let stopped = || DbError::internal("the database writer stopped");
        queue.send((user, reply)).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// One writer, one batch in flight: measured here, two concurrent writers halve the batches
/// and contend on the same index pages, and lose throughput.
async fn run(
    database: Database,
    mut queue: mpsc::Receiver<(NewUser, Reply)>,
    counts: Arc<BatchCounts>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        counts.batches.fetch_add(1, Ordering::Relaxed);
        counts
            .messages
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        // A bug in one batch must not stop every later write: its deliveries see their reply
        // dropped (500, so Pub/Sub retries them) and the writer goes on.
        let write = AssertUnwindSafe(write_batch(&database, std::mem::take(&mut batch)));
        if write.catch_unwind().await.is_err() {
            log::error!("the database writer panicked on a batch; its deliveries will be retried");
        }
    }
}

/// Writes a batch and answers every waiting delivery. Copies of one message share a result.
/// If the batch fails for a reason other than a transient one, or waited too long on another
/// session (lock_timeout), each message is written on its own, so one bad or blocked row
/// cannot fail its neighbours.
async fn write_batch(database: &Database, jobs: Vec<(NewUser, Reply)>) {
    let mut users: Vec<NewUser> = Vec::with_capacity(jobs.len());
    let mut waiting: Vec<Vec<Reply>> = Vec::with_capacity(jobs.len());
    let mut position: HashMap<DeliveryKey, usize> = HashMap::with_capacity(jobs.len());
    for (user, reply) in jobs {
        match position.get(&user.delivery_key) {
            Some(&i) => waiting[i].push(reply),
            None => {
                position.insert(user.delivery_key.clone(), users.len());
                users.push(user);
                waiting.push(vec![reply]);
            }
        }
    }
    let results: Vec<Result<WriteOutcome, DbError>> = match database.write_users(&users).await {
        Ok(outcomes) => outcomes.into_iter().map(Ok).collect(),
        Err(error)
            if (error.is_transient() && *error.kind() != DbErrorKind::Busy) || users.len() == 1 =>
        {
            users.iter().map(|_| Err(error.clone())).collect()
        }
        Err(error) => {
            log::warn!(
                "a batch of {} failed ({error}); writing its rows one by one",
                users.len()
            );
            let mut results = Vec::with_capacity(users.len());
            for user in &users {
                let one = database.write_users(std::slice::from_ref(user)).await;
                results.push(one.map(|mut outcomes| outcomes.remove(0)));
            }
            results
        }
    };
    for (result, replies) in results.into_iter().zip(waiting) {
        for reply in replies {
            let _ = reply.send(result.clone());
        }
    }
}
