//! Identical page requests share one database query, and every answer is still as fresh as a
//! query of its own.
//!
//! Requests for a key register as waiters. A round takes all the waiters registered so far,
//! sends the query, and answers them all with its result. Whoever arrives after a round was
//! sent is owed a query sent after they arrived: a new round takes them at once, beside the
//! rounds still in flight (up to `most_rounds` a key; past it they wait for one to finish).
//! So each answer reflects every write committed before its request (linearizable), a herd of
//! N identical requests costs the database a query per arrival wave, not N, and no request
//! waits out the rest of a round it missed: a network away (Cloud SQL's 0.5-2 ms), that wait
//! was most of an answer's time (measured in docs/performance.md).
//!
//! A round starts once the runtime has run what was already ready and polled the sockets once:
//! under load, requests whose bytes arrived with the last answers register first and share the
//! round (measured at 16 connections: 8.0 requests a query instead of 4.7, 41% fewer queries,
//! for about 4% more time per request in read; a second yield reached 9.0 for twice that);
//! when idle, it costs microseconds. The database is what a serverless deployment cannot
//! scale out, so its queries are what is saved. On one shared connection overlapping rounds
//! are pipelined, so they cost round trips nothing more, only the queries themselves.
//!
//! What waits is bounded: a round whose waiters have all gone (their clients left) sends no
//! query, and past `most_keys` distinct keys in flight a request for another key is turned
//! away at once ([`Overloaded`]) instead of queueing work the database cannot keep up with.

use std::{
    collections::HashMap,
    future::Future,
    hash::Hash,
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures_util::{future::BoxFuture, FutureExt};
use tokio::{sync::oneshot, time::Instant};

type Fetch<K, V> = dyn Fn(K) -> BoxFuture<'static, V> + Send + Sync;

/// Shares fetches of the same key among the requests waiting for one.
pub(crate) struct Coalescer<K, V> {
    fetch: Box<Fetch<K, V>>,
    keys: Mutex<HashMap<K, Key<V>>>,
    most_keys: usize,
    most_rounds: usize,
}

/// Too many distinct keys are being fetched already: try again shortly.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Overloaded;

/// A key being served: who waits for its next round, and its rounds under way. The entry
/// exists while either is not empty, or a round is about to start.
struct Key<V> {
    waiters: Vec<Waiter<V>>,
    /// Rounds sent and not yet answered.
    in_flight: usize,
    /// A task is about to take the waiters (it yielded first): no other need start.
    starting: bool,
}

impl<V> Key<V> {
    /// Whether a new round should start for the waiters now queued.
    fn wants_a_round(&self, most_rounds: usize) -> bool {
        !self.starting && !self.waiters.is_empty() && self.in_flight < most_rounds
    }
}

struct Waiter<V> {
    answer: oneshot::Sender<Answer<V>>,
    since: Instant,
}

/// A fetch's result, and how one request's wait for it divided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer<V> {
    pub value: V,
    /// From the request's arrival until its round's fetch was sent.
    pub before_round: Duration,
    /// The round's fetch, sent to done.
    pub round: Duration,
}

impl<K, V> Coalescer<K, V>
where
    K: Hash + Eq + Clone + Send + 'static,
    V: Clone + Send + 'static,
{
    /// At most `most_keys` distinct keys in flight, and `most_rounds` rounds of one key (at
    /// least one).
    pub(crate) fn new<F, Fut>(most_keys: usize, most_rounds: usize, fetch: F) -> Arc<Self>
    where
        F: Fn(K) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = V> + Send + 'static,
    {
        Arc::new(Self {
            fetch: Box::new(move |key| fetch(key).boxed()),
            keys: Mutex::new(HashMap::new()),
            most_keys,
            most_rounds: most_rounds.max(1),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Key<V>>> {
        self.keys.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The result of a fetch of `key` sent after this call began; `Ok(None)` if the fetch
    /// panicked, `Err(Overloaded)` when `most_keys` other keys are in flight. `arrived`: when
    /// the request arrived (now, or the caller's reading of it), what its wait is counted from.
    pub(crate) async fn get(
        self: &Arc<Self>,
        key: K,
        arrived: Instant,
    ) -> Result<Option<Answer<V>>, Overloaded> {
        let (answer, receiver) = oneshot::channel();
        let waiter = Waiter {
            answer,
            since: arrived,
        };
        let start = {
            let mut keys = self.lock();
            let in_flight = keys.len();
            let entry = match keys.get_mut(&key) {
                Some(entry) => entry,
                None if in_flight >= self.most_keys => return Err(Overloaded),
                None => keys.entry(key.clone()).or_insert(Key {
                    waiters: Vec::new(),
                    in_flight: 0,
                    starting: false,
                }),
            };
            entry.waiters.push(waiter);
            let start = entry.wants_a_round(self.most_rounds);
            entry.starting |= start;
            start
        };
        if start {
            // A task of its own: a waiter that gives up (its client left) stops no one else.
            tokio::spawn(self.clone().serve(key));
        }
        Ok(receiver.await.ok())
    }

    /// Runs rounds for `key` while waiters are left for it and no other task takes them.
    async fn serve(self: Arc<Self>, key: K) {
        loop {
            // Lets the runtime run what is ready and poll the sockets once first (tokio wakes a
            // yielded task after that): see the module's note.
            tokio::task::yield_now().await;
            let waiters = {
                let mut keys = self.lock();
                let Some(entry) = keys.get_mut(&key) else {
                    return;
                };
                entry.starting = false;
                // Whoever gave up (the client left) is owed nothing.
                entry.waiters.retain(|waiter| !waiter.answer.is_closed());
                if entry.waiters.is_empty() {
                    if entry.in_flight == 0 {
                        keys.remove(&key);
                    }
                    return;
                }
                entry.in_flight += 1;
                std::mem::take(&mut entry.waiters)
            };
            // Sent now: after every waiter just taken had registered.
            let sent = Instant::now();
            // The fetch is made inside the guard too: a panic while building it must still
            // reach the bookkeeping below, or the key would keep a round in flight for good.
            let (fetch, this_key) = (&self.fetch, key.clone());
            let fetched = AssertUnwindSafe(async move { fetch(this_key).await })
                .catch_unwind()
                .await;
            let round = sent.elapsed();
            // A panic (a bug) answers this round's waiters with nothing: their senders drop.
            if let Ok(value) = fetched {
                for waiter in waiters {
                    let _ = waiter.answer.send(Answer {
                        value: value.clone(),
                        before_round: sent - waiter.since,
                        round,
                    });
                }
            }
            let mut keys = self.lock();
            let Some(entry) = keys.get_mut(&key) else {
                return;
            };
            entry.in_flight -= 1;
            // Whoever queued while every round was taken is served by the first round done.
            if entry.wants_a_round(self.most_rounds) {
                entry.starting = true;
            } else {
                if entry.in_flight == 0 && entry.waiters.is_empty() && !entry.starting {
                    keys.remove(&key);
                }
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::{
        sync::atomic::{AtomicU64, Ordering},
        time::Duration,
    };

    use super::*;

    /// The value alone, for tests about sharing.
    async fn value<V: Clone + Send + 'static>(
        coalescer: &Arc<Coalescer<u8, V>>,
        key: u8,
    ) -> Result<Option<V>, Overloaded> {
        Ok(coalescer
            .get(key, Instant::now())
            .await?
            .map(|answer| answer.value))
    }

    /// A fetch that takes 20 ms and says which fetch it was (1, 2, ...), counting them; at
    /// most `most_rounds` of a key at once.
    fn counting(most_rounds: usize) -> (Arc<Coalescer<u8, u64>>, Arc<AtomicU64>) {
        let fetches = Arc::new(AtomicU64::new(0));
        let counter = fetches.clone();
        let coalescer = Coalescer::new(64, most_rounds, move |_key: u8| {
            let counter = counter.clone();
            async move {
                let number = counter.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
                number
            }
        });
        (coalescer, fetches)
    }

    /// Two requests for one key, the second 5 ms after the first: their answers, and when the
    /// second arrived.
    async fn one_then_another_5_ms_later(
        coalescer: &Arc<Coalescer<u8, u64>>,
    ) -> (Answer<u64>, Answer<u64>, Instant) {
        let first = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { coalescer.get(1, Instant::now()).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let arrived = Instant::now();
        let second = coalescer.get(1, arrived).await.unwrap().unwrap();
        let first = first.await.unwrap().unwrap().unwrap();
        (first, second, arrived)
    }

    #[tokio::test]
    async fn a_herd_shares_queries_and_each_answer_comes_from_a_fetch_started_after_it() {
        let (coalescer, fetches) = counting(4);
        let mut tasks = Vec::new();
        for _ in 0..200 {
            let coalescer = coalescer.clone();
            let fetches = fetches.clone();
            tasks.push(tokio::spawn(async move {
                // Every fetch numbered at or below this one had started before we arrived.
                let started_before = fetches.load(Ordering::SeqCst);
                let answer = value(&coalescer, 7).await.unwrap().unwrap();
                assert!(answer > started_before, "{answer} <= {started_before}");
            }));
            if tasks.len() % 20 == 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
        let used = fetches.load(Ordering::SeqCst);
        assert!(used < 20, "200 requests took {used} fetches");
    }

    #[tokio::test]
    async fn keys_do_not_share_and_a_panicking_fetch_frees_its_key() {
        let coalescer = Coalescer::new(64, 4, |key: u8| async move {
            assert!(key != 0, "a bug");
            key
        });
        assert_eq!(value(&coalescer, 1).await, Ok(Some(1)));
        assert_eq!(value(&coalescer, 2).await, Ok(Some(2)));
        assert_eq!(value(&coalescer, 0).await, Ok(None));
        assert_eq!(
            value(&coalescer, 0).await,
            Ok(None),
            "the key is free again"
        );
        assert!(coalescer.lock().is_empty());
    }

    #[tokio::test]
    async fn a_fetch_that_panics_before_its_future_exists_frees_its_round() {
        let coalescer = Coalescer::new(64, 1, |key: u8| {
            assert!(key != 0, "a bug, before any future exists");
            async move { key }
        });
        for _ in 0..3 {
            let answer = tokio::time::timeout(Duration::from_secs(5), value(&coalescer, 0)).await;
            assert_eq!(answer, Ok(Ok(None)), "answered, not stranded");
        }
        assert_eq!(value(&coalescer, 1).await, Ok(Some(1)));
        assert!(coalescer.lock().is_empty());
    }

    #[tokio::test]
    async fn waiters_that_left_cost_no_fetch_and_keys_in_flight_are_bounded() {
        let (coalescer, fetches) = counting(1);
        // A fetch of key 1 is under way; 50 requests arrive for its next round and give up.
        let first = tokio::spawn({
            let coalescer = coalescer.clone();
            async move { value(&coalescer, 1).await }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let abandoned: Vec<_> = (0..50)
            .map(|_| {
                let coalescer = coalescer.clone();
                tokio::spawn(async move { value(&coalescer, 1).await })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(2)).await;
        abandoned.iter().for_each(|task| task.abort());
        first.await.unwrap().unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "no fetch for requests that left"
        );

        let bounded = Coalescer::new(2, 4, |key: u8| async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            key
        });
        let (a, b) = (bounded.clone(), bounded.clone());
        let busy = tokio::spawn(async move { tokio::join!(value(&a, 1), value(&b, 2)) });
        tokio::time::sleep(Duration::from_millis(5)).await;
        assert_eq!(
            value(&bounded, 3).await,
            Err(Overloaded),
            "a third key is turned away"
        );
        assert_eq!(
            value(&bounded, 1).await,
            Ok(Some(1)),
            "a key in flight still shares"
        );
        let (a, b) = busy.await.unwrap();
        assert_eq!((a, b), (Ok(Some(1)), Ok(Some(2))));
        assert_eq!(
            value(&bounded, 3).await,
            Ok(Some(3)),
            "room again once they are done"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_that_missed_a_round_gets_one_of_its_own_at_once() {
        let (coalescer, fetches) = counting(4);
        // The second arrives 5 ms into the first round's 20 ms fetch: a round of its own is
        // sent at once, instead of after the first one's last 15 ms.
        let (first, second, arrived) = one_then_another_5_ms_later(&coalescer).await;
        assert_eq!((first.value, second.value), (1, 2), "a fetch each");
        assert_eq!(second.before_round, Duration::ZERO, "{second:?}");
        assert_eq!(second.round, Duration::from_millis(20), "{second:?}");
        assert_eq!(arrived.elapsed(), Duration::from_millis(20));
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
        assert!(coalescer.lock().is_empty(), "the key is let go");
    }

    #[tokio::test(start_paused = true)]
    async fn past_the_most_rounds_a_request_waits_for_the_first_round_done() {
        let (coalescer, _) = counting(2);
        let began = Instant::now();
        let mut answers = Vec::new();
        // Waves 5 ms apart: the first two start rounds, the next two share the third round,
        // sent when the first is done (20 ms in).
        for _ in 0..4 {
            let coalescer = coalescer.clone();
            answers.push(tokio::spawn(async move {
                let arrived = Instant::now();
                let answer = coalescer.get(1, arrived).await.unwrap().unwrap();
                (arrived - began, answer)
            }));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut seen = Vec::new();
        for answer in answers {
            let (arrived, answer) = answer.await.unwrap();
            seen.push((
                arrived.as_millis(),
                answer.value,
                answer.before_round.as_millis(),
            ));
        }
        assert_eq!(seen, [(0, 1, 0), (5, 2, 0), (10, 3, 10), (15, 3, 5)]);
        assert!(coalescer.lock().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn with_one_round_at_a_time_a_late_request_waits_out_the_round_it_missed() {
        let (coalescer, _) = counting(1);
        let (first, second, _) = one_then_another_5_ms_later(&coalescer).await;
        assert_eq!((first.value, second.value), (1, 2));
        assert_eq!(first.before_round, Duration::ZERO);
        assert_eq!(second.before_round, Duration::from_millis(15), "{second:?}");
        assert_eq!(second.round, Duration::from_millis(20));
    }
}
