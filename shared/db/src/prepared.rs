//! Statements prepared once per connection and kept in its cache, and prepared again when the
//! server no longer accepts the prepared one.
//!
//! A prepared statement fixes the shape of its result. When a migration changes a table it
//! reads (`ALTER TABLE users ALTER COLUMN email TYPE varchar(320)`), PostgreSQL refuses to
//! run it again (`cached plan must not change result type`, 0A000); a pooler or an operator's
//! `DISCARD ALL` can also drop it from the session (26000). Neither is a fault of the data or
//! a bug: the statement is prepared again and run once more, so a schema change needs no
//! restart of any instance. The failed run did nothing (the server refused it before
//! executing), so running it again is safe, writes included.

use std::future::Future;

use deadpool_postgres::ClientWrapper;
use tokio_postgres::{error::SqlState, Error, Statement};

/// Runs `run` with `sql` prepared on `client`, preparing it again and running once more if
/// the server no longer accepts the cached statement. (`run` takes the statement by value,
/// a cheap handle, so its future borrows nothing of ours and stays `Send`.)
pub(crate) async fn run_prepared<T, F, Fut>(
    client: &ClientWrapper,
    sql: &str,
    run: F,
) -> Result<T, Error>
where
    F: Fn(Statement) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let statement = client.prepare_cached(sql).await?;
    match run(statement).await {
        Err(e) if must_prepare_again(&e) => {
            // Concurrent callers that met the same refusal each replace the cached statement:
            // a few extra prepares, once per schema change.
            client.statement_cache.remove(sql, &[]);
            let statement = client.prepare_cached(sql).await?;
            run(statement).await
        }
        other => other,
    }
}

/// True when `error` says the statement must be prepared again: its result type changed
/// under it (0A000 with that message; 0A000 is otherwise a feature PostgreSQL lacks), or the
/// session no longer has it (26000).
pub(crate) fn must_prepare_again(error: &Error) -> bool {
    error.as_db_error().is_some_and(|db| {
        (*db.code() == SqlState::FEATURE_NOT_SUPPORTED
            && db
                .message()
                .starts_with("cached plan must not change result type"))
            || *db.code() == SqlState::INVALID_SQL_STATEMENT_NAME
    })
}
