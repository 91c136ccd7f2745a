//! What ingest is configured with besides the database, from the environment.

use std::time::Duration;

use shared::settings::Reader;

const DAY: u64 = 24 * 60 * 60;

/// What ingest is configured with besides the database.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `LOG_SUMMARY_SECS`, default 60: how often the INFO summary line (messages stored,
    /// redelivered, dead-lettered, retried; batches) is written when there was any work.
    pub summary_every: Duration,
    /// `PROCESSED_RETENTION_DAYS`, default 8: how long a processed message's key is kept to
    /// recognise a redelivery. Pub/Sub redelivers, or replays by seek, only within a
    /// subscription's message retention (7 days at most; what the Pulumi program sets), plus
    /// a day's margin. Raise it if a topic's retention lets you seek further back.
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
            retention: reader.days("PROCESSED_RETENTION_DAYS", defaults.retention),
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
        assert_eq!(s.prune_every, Duration::from_secs(5));
        assert_eq!(s.summary_every, Duration::from_secs(1));
    }

    #[test]
    fn refuses_what_is_not_a_positive_whole_number() {
        for (name, value) in [
            ("PROCESSED_RETENTION_DAYS", "0"),
            ("PROCESSED_RETENTION_DAYS", "7.5"),
            ("PROCESSED_RETENTION_DAYS", "99999999999999999"),
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
