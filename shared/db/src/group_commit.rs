//! Group commit: what arrives while a write is in flight goes into the next single
//! transaction, so concurrent deliveries share one round of statements and one WAL flush.
//! A delivery arriving when the writer is idle is written at once, with no added delay.
//!
//! A user id another session holds (an operator's open transaction inserting or updating
//! it) costs only its own messages: a batch waits for a lock only briefly, then its rows are
//! written one by one and answered as each is done; an id found held is remembered for a
//! moment, and its messages are answered "busy" (Pub/Sub redelivers them) without touching
//! the database until then.

use std::{
    collections::HashMap,
    panic::AssertUnwindSafe,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use tokio::time::Instant;

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
/// The longest a batch, or one of its rows, waits for a lock another session holds. Our own
/// batches hold rows for milliseconds; anything longer is someone else's transaction.
const BATCH_LOCK_WAIT: Duration = Duration::from_millis(100);
/// How long an id found held is answered "busy" without asking the database again.
const HELD_FOR: Duration = Duration::from_secs(1);

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
    /// A writer on `database`; its background task starts with the first write.
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
    let mut held = HeldIds::default();
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        counts.batches.fetch_add(1, Ordering::Relaxed);
        counts
            .messages
            .fetch_add(batch.len() as u64, Ordering::Relaxed);
        // A bug in one batch must not stop every later write: its deliveries see their reply
        // dropped (500, so Pub/Sub retries them) and the writer goes on.
        let write = AssertUnwindSafe(write_batch(
            &database,
            std::mem::take(&mut batch),
            &mut held,
        ));
        if write.catch_unwind().await.is_err() {
            log::error!("the database writer panicked on a batch; its deliveries will be retried");
        }
    }
}

/// User ids found held by another session, until when they are answered "busy" at once.
#[derive(Default)]
struct HeldIds(HashMap<i32, Instant>);

impl HeldIds {
    fn is_held(&mut self, user_id: Option<i32>, now: Instant) -> bool {
        self.0.retain(|_, until| *until > now);
        user_id.is_some_and(|id| self.0.contains_key(&id))
    }

    fn hold(&mut self, user_id: i32) {
        self.0.insert(user_id, Instant::now() + HELD_FOR);
    }
}

fn held_error(user_id: i32) -> DbError {
    DbError::busy(format!(
        "user {user_id}'s row is held by another session (an open transaction); try again"
    ))
}

/// Writes a batch and answers every waiting delivery. Copies of one message share a result.
/// If the batch fails for a reason other than a transient one, or waited too long on another
/// session, each message is written on its own and answered at once, so one bad or blocked
/// row cannot fail or hold up its neighbours.
async fn write_batch(database: &Database, jobs: Vec<(NewUser, Reply)>, held: &mut HeldIds) {
    let mut users: Vec<NewUser> = Vec::with_capacity(jobs.len());
    let mut waiting: Vec<Vec<Reply>> = Vec::with_capacity(jobs.len());
    let mut position: HashMap<DeliveryKey, usize> = HashMap::with_capacity(jobs.len());
    let now = Instant::now();
    for (user, reply) in jobs {
        if held.is_held(user.user_id, now) {
            let _ = reply.send(Err(held_error(user.user_id.unwrap_or_default())));
            continue;
        }
        match position.get(&user.delivery_key) {
            Some(&i) => waiting[i].push(reply),
            None => {
                position.insert(user.delivery_key.clone(), users.len());
                users.push(user);
                waiting.push(vec![reply]);
            }
        }
    }
    if users.is_empty() {
        return;
    }
    let answer = |result: Result<WriteOutcome, DbError>, replies: Vec<Reply>| {
        for reply in replies {
            let _ = reply.send(result.clone());
        }
    };
    let wait = Some(BATCH_LOCK_WAIT.min(database.lock_timeout()));
    match database.write_users_waiting(&users, wait).await {
        Ok(outcomes) => {
            // A row held by SKIP LOCKED cost nothing to find: it is not remembered.
            for (outcome, replies) in outcomes.into_iter().zip(waiting) {
                answer(Ok(outcome), replies);
            }
        }
        Err(error)
            if (error.is_transient() && *error.kind() != DbErrorKind::Busy) || users.len() == 1 =>
        {
            if *error.kind() == DbErrorKind::Busy {
                if let Some(user_id) = users[0].user_id {
                    held.hold(user_id);
                }
            }
            for replies in waiting {
                answer(Err(error.clone()), replies);
            }
        }
        Err(error) => {
            log::warn!(
                "a batch of {} failed ({error}); writing its rows one by one",
                users.len()
            );
            for (user, replies) in users.iter().zip(waiting) {
                if held.is_held(user.user_id, Instant::now()) {
                    answer(Err(held_error(user.user_id.unwrap_or_default())), replies);
                    continue;
                }
                let one = database
                    .write_users_waiting(std::slice::from_ref(user), wait)
                    .await
                    .map(|mut outcomes| outcomes.remove(0));
                if let (Err(e), Some(user_id)) = (&one, user.user_id) {
                    if *e.kind() == DbErrorKind::Busy {
                        held.hold(user_id);
                    }
                }
                answer(one, replies);
            }
        }
    }
}
