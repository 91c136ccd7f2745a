//! What ingest is configured with besides the database, from the environment.

use std::time::Duration;

use shared::settings::Reader;

const DAY: u64 = 24 * 60 * 60;
/// The subscription keeps a message 7 days (the Pulumi program's, and Pub/Sub's default): a
/// key kept a whole day longer outlives every redelivery, whatever the pruning's cadence.
const LEAST_RETENTION_DAYS: u64 = 8;
/// A century: far past any retention Pub/Sub offers (31 days), and well inside what
/// PostgreSQL's timestamps can count back from now (4713 BC), which pruning computes.
const MOST_RETENTION_DAYS: u64 = 36_500;

/// What ingest is configured with besides the database.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `LOG_SUMMARY_SECS`, default 60: how often the INFO summary line (messages stored,
    /// redelivered, dead-lettered, retried; batches) is written when there was any work.
    pub summary_every: Duration,
    /// `PROCESSED_RETENTION_DAYS`, default and least 8: how long a processed message's key is
    /// kept to recognise a redelivery. Pub/Sub redelivers, or replays by seek, only within
    /// the subscription's message retention (7 days in the Pulumi program, Pub/Sub's
    /// default), plus a day's margin. Raise it past a longer retention (a subscription or
    /// topic may keep messages up to 31 days).
    pub retention: Duration,
    /// `PRUNE_EVERY_SECS`, default 600: how often an instance removes older keys (the first
    /// time within 10 s of its start; one instance at a time does the work).
    pub prune_every: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            summary_every: Duration::from_secs(60),
            retention: Duration::from_secs(8 * DAY),
            prune_every: Duration::from_secs(600),
        }
    }
}

impl shared::FunctionSettings for Settings {
    fn read(reader: &mut Reader) -> Self {
        let defaults = Self::default();
        Self {
            summary_every: reader.seconds("LOG_SUMMARY_SECS", defaults.summary_every),
            retention: Duration::from_secs(
                DAY * reader.whole_number_in(
                    "PROCESSED_RETENTION_DAYS",
                    defaults.retention.as_secs() / DAY,
                    LEAST_RETENTION_DAYS..=MOST_RETENTION_DAYS,
                    &format!(
                        "a whole number of days from {LEAST_RETENTION_DAYS} (more than the \
                         subscription's 7-day message retention: a redelivery within it must \
                         find its key) to {MOST_RETENTION_DAYS}"
                    ),
                ),
            ),
            prune_every: reader.seconds("PRUNE_EVERY_SECS", defaults.prune_every),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use shared::FunctionSettings;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let mut reader = Reader::new(|name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        });
        let settings = Settings::read(&mut reader);
        reader
            .finish()
            .map(|()| settings)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_overrides() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.retention, Duration::from_secs(8 * DAY));
        assert_eq!(s.prune_every, Duration::from_secs(600));
        let s = settings(&[
            ("PROCESSED_RETENTION_DAYS", "32"),
            ("PRUNE_EVERY_SECS", " 5 "),
            ("LOG_SUMMARY_SECS", "1"),
        ])
        .unwrap();
        assert_eq!(s.retention, Duration::from_secs(32 * DAY));
        for (days, expected) in [("8", 8), ("36500", 36_500)] {
            let s = settings(&[("PROCESSED_RETENTION_DAYS", days)]).unwrap();
            assert_eq!(s.retention, Duration::from_secs(expected * DAY));
        }
        assert_eq!(s.prune_every, Duration::from_secs(5));
        assert_eq!(s.summary_every, Duration::from_secs(1));
    }

    #[test]
    fn refuses_what_is_not_a_positive_whole_number() {
        for (name, value) in [
            ("PROCESSED_RETENTION_DAYS", "0"),
            ("PROCESSED_RETENTION_DAYS", "7.5"),
            ("PROCESSED_RETENTION_DAYS", "99999999999999999"),
            // A redelivery within the subscription's 7 days would be stored twice.
            ("PROCESSED_RETENTION_DAYS", "1"),
            ("PROCESSED_RETENTION_DAYS", "7"),
            ("PROCESSED_RETENTION_DAYS", "36501"),
            ("PRUNE_EVERY_SECS", "-1"),
            ("LOG_SUMMARY_SECS", "0"),
        ] {
            let error = settings(&[(name, value)]).unwrap_err();
            assert!(error.starts_with(name), "{error}");
        }
        // The one rule for every setting: empty is unset, and takes the default.
        assert_eq!(
            settings(&[("LOG_SUMMARY_SECS", " ")])
                .unwrap()
                .summary_every,
            Duration::from_secs(60)
        );
    }
}
