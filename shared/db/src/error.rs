//! The one error type of the database layer. It says whether trying again may help, so the
//! functions can ask for a redelivery or give up; it never carries a password.

use std::fmt;

use deadpool_postgres::PoolError;
use tokio_postgres::error::SqlState;

/// What the caller should do about a failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbErrorKind {
    /// Not now: the database is unreachable, restarting, overloaded, read-only (a standby
    /// during a failover), or the transaction lost a race (serialization failure, deadlock):
    /// try again later.
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
    /// The session refused a write as read-only (25006); see [`DbError::is_read_only`].
    read_only: bool,
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
            read_only: false,
        }
    }

    /// Wrong settings.
    pub fn config(message: impl Into<String>) -> Self {
        Self {
            kind: DbErrorKind::Config,
            message: message.into(),
            no_reply: false,
            read_only: false,
        }
    }

    /// Held up by another session; see [`DbErrorKind::Busy`].
    pub fn busy(message: impl Into<String>) -> Self {
        Self {
            kind: DbErrorKind::Busy,
            message: message.into(),
            no_reply: false,
            read_only: false,
        }
    }

    /// True when trying again later may succeed (unavailable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self.kind, DbErrorKind::Unavailable | DbErrorKind::Busy)
    }

    pub(crate) fn from_postgres(context: &str, error: &tokio_postgres::Error) -> Self {
        Self::from_postgres_advised(
            context,
            error,
            "; the role lacks a grant: run the migrations as the schema's owner (the migrate job, \
             or the migrate binary), and check that PGUSER is the function's own role",
        )
    }

    /// As [`DbError::from_postgres`], with `privilege_advice` for a missing privilege (42501)
    /// instead of the functions' (what the role that met it should check).
    pub(crate) fn from_postgres_advised(
        context: &str,
        error: &tokio_postgres::Error,
        privilege_advice: &str,
    ) -> Self {
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
                privilege_advice
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
            read_only: error.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION),
        }
    }

    /// True when the session refused a write because it is read-only (25006): the server is
    /// a standby (a failover under way), or `default_transaction_read_only` is on. The
    /// connection must not be used again: a session keeps the setting it started with, and
    /// a fresh one finds the writable primary (or the setting turned off).
    pub fn is_read_only(&self) -> bool {
        self.read_only
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
        // invalid_authorization_specification (no such role), invalid_password, no such
        // database, the database dropped under the session (57P04): wrong settings, said once
        "28000" | "28P01" | "3D000" | "57P04" => DbErrorKind::Config,
        // insufficient_privilege: the role lacks a grant (a function's role meeting a schema
        // its owner has not migrated yet, or a role set up by hand)
        INSUFFICIENT_PRIVILEGE => DbErrorKind::Config,
        // lock_not_available (lock_timeout), query_canceled (statement_timeout)
        "55P03" | "57014" => DbErrorKind::Busy,
        // "Not now" (the same request will succeed once the database is itself again):
        // read_only_sql_transaction (a standby during a failover, or
        // default_transaction_read_only on); serialization_failure, deadlock_detected,
        // statement_completion_unknown (our writes are idempotent by delivery key, so
        // repeating one whose commit went unconfirmed is safe); admin_shutdown,
        // crash_shutdown, cannot_connect_now, idle_session_timeout; snapshot_too_old.
        "25006" | "40001" | "40P01" | "40003" => DbErrorKind::Unavailable,
        "57P01" | "57P02" | "57P03" | "57P05" | "72000" => DbErrorKind::Unavailable,
        // connection exceptions (08), insufficient resources (53: disk full, out of memory,
        // too many connections)
        s if s.starts_with("08") || s.starts_with("53") => DbErrorKind::Unavailable,
        // Refused for what the row holds, so refused again on every retry: data exceptions
        // (22), integrity constraint violations (23: CHECK, NOT NULL, foreign keys), an
        // operator's trigger or rule raising an error (P0001 raise_exception, P0004
        // assert_failure), a value past a limit of the server's (54000: an index row too
        // large). Kept as a dead letter, replayable once the rule or the data is fixed.
        s if s.starts_with("22") || s.starts_with("23") => DbErrorKind::Rejected,
        "P0001" | "P0004" | "54000" => DbErrorKind::Rejected,
        // Anything else is about the database, not the row (a missing table or function, a
        // server bug, the server's own I/O errors, 58): retried (500, logged at ERROR each
        // time: someone must look) until it is fixed.
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
            read_only: false,
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
            read_only: false,
        }
    }

    pub(crate) fn from_pool(error: PoolError, target: &str) -> Self {
        match error {
            PoolError::Backend(e) => {
                let mut error =
                    Self::from_postgres(&format!("cannot connect to the database at {target}"), &e);
                // Refused while connecting (a setting the server rejects, FATAL 22023): never
                // about a row, always about how we connect.
                if matches!(error.kind, DbErrorKind::Rejected | DbErrorKind::Internal) {
                    error.kind = DbErrorKind::Config;
                }
                error
            }
            PoolError::Timeout(_) => Self::no_connection_in_time(),
            other => Self {
                kind: DbErrorKind::Unavailable,
                message: format!("database pool: {other}"),
                no_reply: false,
                read_only: false,
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
            "25006", "40001", "40P01", "40003", "57P01", "57P02", "57P03", "57P05", "72000",
            "08006", "08001", "53100", "53200", "53300", "2200H",
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
        for config in ["28000", "28P01", "3D000", "57P04", "42501"] {
            assert_eq!(classify(config), DbErrorKind::Config, "{config}");
        }
        for internal in ["42P01", "42883", "XX000", "58030", "0A000"] {
            assert_eq!(classify(internal), DbErrorKind::Internal, "{internal}");
        }
    }
}
