//! The one error type of the database layer. It says whether trying again may help, so the
//! functions can ask for a redelivery or give up; it never carries a password.

use std::fmt;

use deadpool_postgres::PoolError;

/// What the caller should do about a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbErrorKind {
    /// The database is unreachable, restarting, overloaded, or the transaction lost a race
    /// (serialization failure, deadlock): try again later.
    Unavailable,
    /// Held up by another session: a lock did not come free within `lock_timeout`, or a
    /// statement ran past `statement_timeout`. Try again later; the rest of the work may go on.
    Busy,
    /// The database refused this data (a constraint or a data exception): retrying the same
    /// data will fail the same way.
    Rejected,
    /// The settings are wrong.
    Config,
    /// Anything else: a bug or an unexpected state.
    Internal,
}

/// A database failure: what kind (so what to do about it), and what happened. Built only by
/// its constructors, so every message says where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbError {
    kind: DbErrorKind,
    message: String,
    /// The connection that met this did not answer: it must not be used again.
    no_reply: bool,
}

impl DbError {
    /// What kind of failure this is.
    pub fn kind(&self) -> &DbErrorKind {
        &self.kind
    }

    /// What happened, for a log line; never a password.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The message, for an error of another layer.
    pub fn into_message(self) -> String {
        self.message
    }

    /// A bug or an unexpected state.
    pub fn internal(message: impl Into<String>) -> Self {
        Self {
            kind: DbErrorKind::Internal,
            message: message.into(),

            no_reply: false,
        }
    }

    /// Wrong settings.
    pub fn config(message: impl Into<String>) -> Self {
        Self {
            kind: DbErrorKind::Config,
            message: message.into(),

            no_reply: false,
        }
    }

    /// Held up by another session; see [`DbErrorKind::Busy`].
    pub fn busy(message: impl Into<String>) -> Self {
        Self {
            kind: DbErrorKind::Busy,
            message: message.into(),

            no_reply: false,
        }
    }

    /// True when trying again later may succeed (unavailable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, DbErrorKind::Unavailable | DbErrorKind::Busy)
    }

    pub(crate) fn from_postgres(context: &str, error: &tokio_postgres::Error) -> Self {
        let kind = match error.code() {
            // Met again right after it was prepared afresh: a schema change is racing this
            // statement. The next try prepares it again.
            Some(_) if crate::prepared::must_prepare_again(error) => DbErrorKind::Unavailable,
            Some(code) => classify(code.code()),
            // Not a server error: the connection broke, timed out or was refused, or (a bug)
            // a value could not be encoded.
            None if error.is_closed() || is_io(error) => DbErrorKind::Unavailable,
            None => DbErrorKind::Internal,
        };
        let detail = match error.as_db_error() {
            Some(db) if db.code().code() == SEQUENCE_EXHAUSTED => format!(
                "no generated user id is left, every id the sequence can draw is used: {} ({})",
                db.message(),
                db.code().code()
            ),
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            // The causes say why ("certificate verify failed", "No such file or directory").
            None => {
                let mut text = error.to_string();
                let mut source = std::error::Error::source(error);
                while let Some(cause) = source {
                    text = format!("{text}: {cause}");
                    source = cause.source();
                }
                text
            }
        };
        let advice = match (&kind, error.code()) {
            (DbErrorKind::Config, Some(code)) if code.code() == INSUFFICIENT_PRIVILEGE => {
                "; the role lacks a grant: run the migrations as the schema's owner (the migrate job, \
                 or the migrate binary), and check that PGUSER is the function's own role"
            }
            (DbErrorKind::Config, _) => {
                "; a configuration error: check PGUSER, PGPASSWORD (or PGPASSWORD_FILE) and PGDATABASE"
            }
            _ => "",
        };
        Self {
            kind,
            message: format!("{context}: {detail}{advice}"),
            no_reply: false,
        }
    }
}

fn is_io(error: &tokio_postgres::Error) -> bool {
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if cause.is::<std::io::Error>() {
            return true;
        }
        source = cause.source();
    }
    false
}

/// sequence_generator_limit_exceeded: the generated user ids are used up.
const SEQUENCE_EXHAUSTED: &str = "2200H";

/// Maps a SQLSTATE to what the caller should do.
const INSUFFICIENT_PRIVILEGE: &str = "42501";

fn classify(sqlstate: &str) -> DbErrorKind {
    match sqlstate {
        // Not this message's fault: no generated id is left for anyone. Keep the message
        // (Pub/Sub redelivers) until an operator frees ids; never dead-letter it.
        SEQUENCE_EXHAUSTED => DbErrorKind::Unavailable,
        // invalid_authorization_specification (no such role), invalid_password, no such database
        "28000" | "28P01" | "3D000" => DbErrorKind::Config,
        // insufficient_privilege: the role lacks a grant (a function's role meeting a schema
        // its owner has not migrated yet, or a role set up by hand)
        INSUFFICIENT_PRIVILEGE => DbErrorKind::Config,
        // lock_not_available (lock_timeout), query_canceled (statement_timeout)
        "55P03" | "57014" => DbErrorKind::Busy,
        // serialization_failure, deadlock_detected
        "40001" | "40P01" => DbErrorKind::Unavailable,
        // admin_shutdown, crash_shutdown, cannot_connect_now, database_dropped
        "57P01" | "57P02" | "57P03" => DbErrorKind::Unavailable,
        // connection exceptions, insufficient resources, operator intervention (canceled)
        s if s.starts_with("08") || s.starts_with("53") => DbErrorKind::Unavailable,
        // Refused for what the row holds, so refused again on every retry: data exceptions
        // (22), integrity constraint violations (23: CHECK, NOT NULL, foreign keys), an
        // operator's trigger or rule raising an error (P0001 raise_exception, P0004
        // assert_failure), a value past a limit of the server's (54000: an index row too
        // large). Kept as a dead letter, replayable once the rule or the data is fixed.
        s if s.starts_with("22") || s.starts_with("23") => DbErrorKind::Rejected,
        "P0001" | "P0004" | "54000" => DbErrorKind::Rejected,
        // Anything else is about the database, not the row (a missing table or function, a
        // server bug): retried (500) until it is fixed.
        _ => DbErrorKind::Internal,
    }
}

impl DbError {
    /// The database did not answer `what` within `limit` on our own clock.
    pub(crate) fn no_reply(what: &str, limit: std::time::Duration) -> Self {
        Self {
            kind: DbErrorKind::Unavailable,
            message: format!(
                "{what}: the database did not answer within {} ms (frozen, or the path to it is \
                 gone); the connection was dropped",
                limit.as_millis()
            ),
            no_reply: true,
        }
    }

    /// True for [`DbError::no_reply`]: the connection that met it must not be used again.
    pub(crate) fn is_no_reply(&self) -> bool {
        self.no_reply
    }

    /// A failure to get a connection to `target` (where the pool connects, for the message).
    pub(crate) fn no_connection_in_time() -> Self {
        Self {
            kind: DbErrorKind::Unavailable,
            message: "no database connection became free in time (pool exhausted or database unreachable)".into(),

            no_reply: false,
        }
    }

    pub(crate) fn from_pool(error: PoolError, target: &str) -> Self {
        match error {
            PoolError::Backend(e) => {
                Self::from_postgres(&format!("cannot connect to the database at {target}"), &e)
            }
            PoolError::Timeout(_) => Self::no_connection_in_time(),
            other => Self {
                kind: DbErrorKind::Unavailable,
                message: format!("database pool: {other}"),

                no_reply: false,
            },
        }
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DbError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlstates_map_to_what_the_caller_should_do() {
        for transient in [
            "40001", "40P01", "57P01", "57P03", "08006", "53300", "2200H",
        ] {
            assert_eq!(classify(transient), DbErrorKind::Unavailable, "{transient}");
        }
        for busy in ["55P03", "57014"] {
            assert_eq!(classify(busy), DbErrorKind::Busy, "{busy}");
        }
        for rejected in [
            "22001", "23505", "23502", "23514", "P0001", "P0004", "54000",
        ] {
            assert_eq!(classify(rejected), DbErrorKind::Rejected, "{rejected}");
        }
        for config in ["28000", "28P01", "3D000"] {
            assert_eq!(classify(config), DbErrorKind::Config, "{config}");
        }
        assert_eq!(classify("42P01"), DbErrorKind::Internal);
    }
}
