//! Settings from the environment, read one way everywhere: every crate of the pipeline (the
//! framework, the database layer, each function) reads its variables through a [`Reader`],
//! with one rule and one error.
//!
//! The rule: a value is trimmed; empty or only whitespace counts as unset, and so takes the
//! default; a number must be a whole number, and zero is refused wherever a count, a size, a
//! duration or a port is asked for (a zero there is a mistake, never a wish). A bad value does
//! not stop the reading: the reader notes it, takes the default, and goes on, so that
//! [`Reader::finish`] can report every bad setting at once.
//!
//! ```
//! use std::time::Duration;
//! use settings_reader::Reader;
//!
//! let env = [("PORT", " 9090 "), ("IDLE_TIMEOUT_SECS", "0"), ("LOG_FORMAT", "")];
//! let mut reader = Reader::new(|name| env.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()));
//! assert_eq!(reader.port("PORT", 8080), 9090);
//! assert_eq!(reader.seconds("IDLE_TIMEOUT_SECS", Duration::from_secs(90)), Duration::from_secs(90));
//! assert_eq!(reader.text("LOG_FORMAT"), None);
//! let problems = reader.finish().unwrap_err();
//! assert_eq!(
//!     problems.to_string(),
//!     "IDLE_TIMEOUT_SECS=\"0\": expected a positive whole number of seconds"
//! );
//! ```

#![warn(missing_docs)]

use std::{fmt, str::FromStr, time::Duration};

/// Answers a variable's value, or `None` when it is unset.
type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

/// Reads settings through a lookup (the process environment, or a test's table) and keeps
/// every problem it meets for [`Reader::finish`].
pub struct Reader<'a> {
    lookup: Box<Lookup<'a>>,
    problems: Vec<SettingError>,
}

impl Reader<'static> {
    /// Reads the process environment.
    pub fn from_env() -> Self {
        Reader::new(|name| std::env::var(name).ok())
    }
}

impl<'a> Reader<'a> {
    /// Reads through `lookup`, which answers a variable's value, or `None` when it is unset.
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
            problems: Vec::new(),
        }
    }

    /// The value of `name`, trimmed; `None` when unset, empty or only whitespace.
    pub fn text(&mut self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The value of `name` exactly as set (a password may begin or end with a space); `None`
    /// when unset or empty.
    pub fn raw(&mut self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|value| !value.is_empty())
    }

    /// Notes that `name` holds `value`, which is not what was `expected`.
    pub fn refuse(&mut self, name: &str, value: &str, expected: impl Into<String>) {
        self.problems.push(SettingError {
            variable: name.to_owned(),
            value: value.to_owned(),
            expected: expected.into(),
        });
    }

    /// A whole number from 1 up to `most`, or `default` when unset (or wrong, noted).
    fn positive(&mut self, name: &str, default: u64, most: u64, expected: &str) -> u64 {
        self.whole_number_in(name, default, 1..=most, expected)
    }

    /// A whole number within `range` (what the setting's consumer accepts: a limit of
    /// PostgreSQL's, say), or `default` when unset (or wrong, noted with `expected`, which
    /// should name the range and why it is that).
    ///
    /// ```
    /// # use settings_reader::Reader;
    /// let mut reader = Reader::new(|_| Some("2147483648".to_string()));
    /// let most = i32::MAX as u64;
    /// assert_eq!(reader.whole_number_in("DB_LOCK_TIMEOUT_MS", 2000, 1..=most, "at most 2147483647"), 2000);
    /// assert!(reader.finish().is_err());
    /// ```
    pub fn whole_number_in(
        &mut self,
        name: &str,
        default: u64,
        range: std::ops::RangeInclusive<u64>,
        expected: &str,
    ) -> u64 {
        let Some(value) = self.text(name) else {
            return default;
        };
        match value.parse::<u64>() {
            Ok(n) if range.contains(&n) => n,
            _ => {
                self.refuse(name, &value, expected);
                default
            }
        }
    }

    /// A TCP port (1 to 65535).
    pub fn port(&mut self, name: &str, default: u16) -> u16 {
        self.positive(
            name,
            default.into(),
            u16::MAX.into(),
            "a port number (1 to 65535)",
        ) as u16
    }

    /// A positive whole number of seconds.
    pub fn seconds(&mut self, name: &str, default: Duration) -> Duration {
        let most = u64::MAX / 1_000;
        Duration::from_secs(self.positive(
            name,
            default.as_secs(),
            most,
            "a positive whole number of seconds",
        ))
    }

    /// A positive whole number of milliseconds.
    pub fn millis(&mut self, name: &str, default: Duration) -> Duration {
        let expected = "a positive whole number of milliseconds";
        Duration::from_millis(self.positive(name, default.as_millis() as u64, u64::MAX, expected))
    }

    /// A positive whole number of days.
    pub fn days(&mut self, name: &str, default: Duration) -> Duration {
        const DAY: u64 = 24 * 60 * 60;
        let days = self.positive(
            name,
            default.as_secs() / DAY,
            u64::MAX / DAY / 1_000,
            "a positive whole number of days",
        );
        Duration::from_secs(days * DAY)
    }

    /// A positive whole number of bytes.
    pub fn bytes(&mut self, name: &str, default: usize) -> usize {
        self.positive(
            name,
            default as u64,
            usize::MAX as u64,
            "a positive whole number of bytes",
        ) as usize
    }

    /// A positive whole number of things (connections, say).
    pub fn count(&mut self, name: &str, default: usize) -> usize {
        self.positive(
            name,
            default as u64,
            usize::MAX as u64,
            "a positive whole number",
        ) as usize
    }

    /// One of `choices` (compared as written), or `None` when unset (or wrong, noted).
    pub fn choice<T: Clone>(&mut self, name: &str, choices: &[(&str, T)]) -> Option<T> {
        let value = self.text(name)?;
        match choices.iter().find(|(word, _)| *word == value) {
            Some((_, chosen)) => Some(chosen.clone()),
            None => {
                let words: Vec<&str> = choices.iter().map(|(word, _)| *word).collect();
                self.refuse(name, &value, format!("one of {}", words.join(", ")));
                None
            }
        }
    }

    /// A value of a type that parses itself (a URL, say), or `None` when unset (or wrong,
    /// noted with `expected`).
    pub fn parsed<T: FromStr>(&mut self, name: &str, expected: &str) -> Option<T> {
        let value = self.text(name)?;
        match value.parse() {
            Ok(parsed) => Some(parsed),
            Err(_) => {
                self.refuse(name, &value, expected);
                None
            }
        }
    }

    /// Every problem met, or `Ok` when there was none.
    pub fn finish(self) -> Result<(), SettingErrors> {
        match self.problems.is_empty() {
            true => Ok(()),
            false => Err(SettingErrors(self.problems)),
        }
    }
}

/// One setting whose value is not what it must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingError {
    /// The variable.
    pub variable: String,
    /// What it was set to (trimmed).
    pub value: String,
    /// What it must be.
    pub expected: String,
}

impl fmt::Display for SettingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}={:?}: expected {}",
            self.variable, self.value, self.expected
        )
    }
}

/// Every bad setting a [`Reader`] met, in the order it met them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingErrors(pub Vec<SettingError>);

impl fmt::Display for SettingErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.0.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("; "))
    }
}

impl std::error::Error for SettingErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(pairs: &'static [(&'static str, &'static str)]) -> Reader<'static> {
        Reader::new(move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| v.to_string())
        })
    }

    #[test]
    fn unset_empty_and_whitespace_take_the_default_and_values_are_trimmed() {
        let mut r = reader(&[("A", ""), ("B", "   "), ("C", " 42\n")]);
        assert_eq!(r.count("A", 7), 7);
        assert_eq!(r.count("B", 7), 7);
        assert_eq!(r.count("C", 7), 42);
        assert_eq!(r.count("UNSET", 7), 7);
        assert!(r.finish().is_ok());
    }

    #[test]
    fn zero_negatives_fractions_and_words_are_refused_every_one_said() {
        let mut r = reader(&[
            ("PORT", "0"),
            ("SECS", "-1"),
            ("MS", "1.5"),
            ("BYTES", "lots"),
            ("DAYS", "0"),
        ]);
        assert_eq!(r.port("PORT", 8080), 8080);
        assert_eq!(
            r.seconds("SECS", Duration::from_secs(3)),
            Duration::from_secs(3)
        );
        assert_eq!(
            r.millis("MS", Duration::from_millis(5)),
            Duration::from_millis(5)
        );
        assert_eq!(r.bytes("BYTES", 10), 10);
        assert_eq!(
            r.days("DAYS", Duration::from_secs(86_400)),
            Duration::from_secs(86_400)
        );
        let problems = r.finish().unwrap_err().0;
        let variables: Vec<&str> = problems.iter().map(|p| p.variable.as_str()).collect();
        assert_eq!(variables, ["PORT", "SECS", "MS", "BYTES", "DAYS"]);
        assert_eq!(
            problems[0].to_string(),
            "PORT=\"0\": expected a port number (1 to 65535)"
        );
    }

    #[test]
    fn a_port_past_65535_and_a_choice_not_offered_are_refused() {
        let mut r = reader(&[("PORT", "70000"), ("MODE", "Json")]);
        assert_eq!(r.port("PORT", 8080), 8080);
        assert_eq!(r.choice("MODE", &[("text", 1), ("json", 2)]), None);
        let problems = r.finish().unwrap_err().to_string();
        assert!(problems.contains("PORT=\"70000\""), "{problems}");
        assert!(
            problems.contains("MODE=\"Json\": expected one of text, json"),
            "{problems}"
        );
    }

    #[test]
    fn days_are_whole_days() {
        let mut r = reader(&[("DAYS", "8")]);
        assert_eq!(
            r.days("DAYS", Duration::ZERO),
            Duration::from_secs(8 * 86_400)
        );
    }
}

/// The README's example, compiled as a doc test so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeExamples;
