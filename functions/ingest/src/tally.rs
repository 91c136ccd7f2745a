//! What ingest did, counted instead of logged line by line: at thousands of messages a second
//! an INFO line each is a Cloud Logging bill. Every interval with any work, one INFO line says
//! how many messages were stored, found older than their user's latest update, redelivered,
//! dead-lettered and sent back for a retry, and how the writer batched them. Each dead letter
//! and each failure is still logged on its own, at ERROR or WARN, with its delivery key and
//! trace; a stored message is a DEBUG line.

use std::{
    fmt,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, OnceLock,
    },
    time::Duration,
};

use shared::db::UserWriter;

/// Counts since the last summary. Cheap to share.
#[derive(Default)]
pub(crate) struct Tally {
    stored: AtomicU64,
    superseded: AtomicU64,
    redelivered: AtomicU64,
    dead_lettered: AtomicU64,
    retried: AtomicU64,
    summaries: OnceLock<()>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counts {
    pub stored: u64,
    pub superseded: u64,
    pub redelivered: u64,
    pub dead_lettered: u64,
    pub retried: u64,
}

/// What happened to one delivery.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Outcome {
    Stored,
    /// Processed, but its user holds a newer update: nothing changed.
    Superseded,
    Redelivered,
    DeadLettered,
    Retried,
}

impl Tally {
    pub(crate) fn count(&self, outcome: Outcome) {
        let counter = match outcome {
            Outcome::Stored => &self.stored,
            Outcome::Superseded => &self.superseded,
            Outcome::Redelivered => &self.redelivered,
            Outcome::DeadLettered => &self.dead_lettered,
            Outcome::Retried => &self.retried,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The counts so far, starting the next interval from zero.
    pub(crate) fn take(&self) -> Counts {
        Counts {
            stored: self.stored.swap(0, Ordering::Relaxed),
            superseded: self.superseded.swap(0, Ordering::Relaxed),
            redelivered: self.redelivered.swap(0, Ordering::Relaxed),
            dead_lettered: self.dead_lettered.swap(0, Ordering::Relaxed),
            retried: self.retried.swap(0, Ordering::Relaxed),
        }
    }

    /// Starts the summary line every `every`, once, inside the runtime serving requests.
    pub(crate) fn summarize(self: &Arc<Self>, writer: &UserWriter, every: Duration) {
        self.summaries.get_or_init(|| {
            let (tally, writer) = (self.clone(), writer.clone());
            shared::summary::log_every(module_path!(), every, move || {
                let counts = tally.take();
                let (batches, written) = writer.take_batch_counts();
                (counts != Counts::default())
                    .then(|| format!("{counts}; {}", batching(batches, written)))
            });
        });
    }
}

fn batching(batches: u64, written: u64) -> String {
    match batches {
        0 => "no batch written".into(),
        _ => format!(
            "{batches} batches written, {:.1} messages each on average",
            written as f64 / batches as f64
        ),
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} stored, {} older than their user's latest update (no change), {} redelivered \
             (no change), {} dead-lettered, {} sent back for a retry",
            self.stored, self.superseded, self.redelivered, self.dead_lettered, self.retried
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_outcome_and_starts_over_when_taken() {
        let tally = Tally::default();
        for outcome in [
            Outcome::Stored,
            Outcome::Stored,
            Outcome::Superseded,
            Outcome::Redelivered,
            Outcome::DeadLettered,
            Outcome::Retried,
        ] {
            tally.count(outcome);
        }
        let counts = tally.take();
        assert_eq!(
            counts.to_string(),
            "2 stored, 1 older than their user's latest update (no change), 1 redelivered \
             (no change), 1 dead-lettered, 1 sent back for a retry"
        );
        assert_eq!(tally.take(), Counts::default());
        assert_eq!(
            batching(4, 10),
            "4 batches written, 2.5 messages each on average"
        );
    }
}
