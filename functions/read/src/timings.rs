//! Where `/data`'s time goes, summed rather than logged per request: every interval with any
//! page answered, one INFO line says how many answers the queries served and how an answer's
//! time in the function divided: waiting for its round, the round itself (the query's round
//! trip, then the JSON), and after the round until the answer was ready (the wake-up).

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use crate::coalesce::Answer;

/// Sums since the last summary, in nanoseconds. Cheap to share.
#[derive(Default)]
pub(crate) struct Timings {
    answers: AtomicU64,
    in_function_ns: AtomicU64,
    before_round_ns: AtomicU64,
    round_ns: AtomicU64,
    rounds: AtomicU64,
    query_ns: AtomicU64,
    json_ns: AtomicU64,
    summaries: OnceLock<()>,
}

/// One interval's sums.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Sums {
    answers: u64,
    in_function_ns: u64,
    before_round_ns: u64,
    round_ns: u64,
    rounds: u64,
    query_ns: u64,
    json_ns: u64,
}

fn nanos(duration: Duration) -> u64 {
    duration.as_nanos().try_into().unwrap_or(u64::MAX)
}

impl Timings {
    /// A page answered `in_function` after its request arrived, from `answer`'s round.
    pub(crate) fn answered<V>(&self, in_function: Duration, answer: &Answer<V>) {
        self.answers.fetch_add(1, Ordering::Relaxed);
        self.in_function_ns
            .fetch_add(nanos(in_function), Ordering::Relaxed);
        self.before_round_ns
            .fetch_add(nanos(answer.before_round), Ordering::Relaxed);
        self.round_ns
            .fetch_add(nanos(answer.round), Ordering::Relaxed);
    }

    /// A round's query took `query` (sent to every row received), its JSON `json`.
    pub(crate) fn fetched(&self, query: Duration, json: Duration) {
        self.rounds.fetch_add(1, Ordering::Relaxed);
        self.query_ns.fetch_add(nanos(query), Ordering::Relaxed);
        self.json_ns.fetch_add(nanos(json), Ordering::Relaxed);
    }

    /// The sums so far, starting the next interval from zero.
    pub(crate) fn take(&self) -> Sums {
        let take = |sum: &AtomicU64| sum.swap(0, Ordering::Relaxed);
        Sums {
            answers: take(&self.answers),
            in_function_ns: take(&self.in_function_ns),
            before_round_ns: take(&self.before_round_ns),
            round_ns: take(&self.round_ns),
            rounds: take(&self.rounds),
            query_ns: take(&self.query_ns),
            json_ns: take(&self.json_ns),
        }
    }

    /// Starts the summary line every `every`, once, inside the runtime serving requests.
    pub(crate) fn summarize(self: &Arc<Self>, every: Duration) {
        self.summaries.get_or_init(|| {
            let timings = self.clone();
            shared::summary::log_every(module_path!(), every, move || {
                let sums = timings.take();
                (sums.answers > 0).then(|| sums.to_string())
            });
        });
    }
}

impl fmt::Display for Sums {
    /// Means in microseconds: an answer's per answer, a round's per round.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per = |sum: u64, count: u64| sum as f64 / count.max(1) as f64 / 1000.0;
        let (answers, rounds) = (self.answers, self.rounds);
        let after_round = self
            .in_function_ns
            .saturating_sub(self.before_round_ns.saturating_add(self.round_ns));
        write!(
            f,
            "{answers} /data answers from {rounds} queries ({:.1} a query); an answer took \
             {:.1} µs in read: {:.1} before its round, {:.1} in it, {:.1} after it \
             (woken, behind the round's other answers); a round: query {:.1} µs, JSON {:.1} µs",
            answers as f64 / rounds.max(1) as f64,
            per(self.in_function_ns, answers),
            per(self.before_round_ns, answers),
            per(self.round_ns, answers),
            per(after_round, answers),
            per(self.query_ns, rounds),
            per(self.json_ns, rounds),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_answers_and_rounds_and_starts_over_when_taken() {
        let timings = Timings::default();
        let ms = Duration::from_millis;
        for before_round in [ms(1), ms(3)] {
            let answer = Answer {
                value: (),
                before_round,
                round: ms(4),
            };
            timings.answered(before_round + ms(4) + ms(1), &answer);
        }
        timings.fetched(ms(3), ms(1));
        let sums = timings.take();
        assert_eq!(
            sums.to_string(),
            "2 /data answers from 1 queries (2.0 a query); an answer took 7000.0 µs in read: \
             2000.0 before its round, 4000.0 in it, 1000.0 after it (woken, behind the round's \
             other answers); a round: query 3000.0 µs, JSON 1000.0 µs"
        );
        assert_eq!(timings.take(), Sums::default());
    }
}
