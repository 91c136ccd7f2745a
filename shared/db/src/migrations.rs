//! Schema migrations: SQL files embedded in the binary, applied once per process on first
//! database use, under an advisory lock so that many instances starting together apply each
//! one exactly once.

use std::time::Duration;

use super::error::DbError;

/// (version, name, SQL), in order. Never edit an applied one; add the next.
const MIGRATIONS: &[(i32, &str, &str)] = &[
    (1, "users", include_str!("../migrations/0001_users.sql")),
    (
        2,
        "delivery_bookkeeping",
        include_str!("../migrations/0002_delivery_bookkeeping.sql"),
    ),
    (
        3,
        "ingest_users_function",
        include_str!("../migrations/0003_ingest_users_function.sql"),
    ),
    (
        4,
        "store_user_messages",
        include_str!("../migrations/0004_store_user_messages.sql"),
    ),
    (
        5,
        "batch_write_v2",
        include_str!("../migrations/0005_batch_write_v2.sql"),
    ),
    (
        6,
        "user_id_default",
        include_str!("../migrations/0006_user_id_default.sql"),
    ),
    (
        7,
        "prune_processed_messages",
        include_str!("../migrations/0007_prune_processed_messages.sql"),
    ),
    (
        8,
        "dead_letter_operations",
        include_str!("../migrations/0008_dead_letter_operations.sql"),
    ),
    (
        9,
        "function_roles",
        include_str!("../migrations/0009_function_roles.sql"),
    ),
    (
        10,
        "function_role_limits",
        include_str!("../migrations/0010_function_role_limits.sql"),
    ),
    (
        11,
        "newest_update_wins",
        include_str!("../migrations/0011_newest_update_wins.sql"),
    ),
];

/// An arbitrary constant that names this schema's migration lock.
const MIGRATION_LOCK: i64 = 0x7573_6572_735f_6d67;

/// Longest the server lets a migration wait for locks or run (`SET LOCAL` below); our own
/// clock allows that and the reply timeout on top.
const MIGRATION_LIMIT: Duration = Duration::from_secs(300);

/// Applies what is missing. `reply_timeout` bounds, on our own clock, the check every start
/// makes; the migration itself gets the server's 5 minutes and `reply_timeout` on top.
pub(crate) async fn migrate(
    client: &mut tokio_postgres::Client,
    reply_timeout: Duration,
) -> Result<(), DbError> {
    // The usual start: every migration is in. One query says so, with no transaction and no
    // lock: a cold start does not wait for, or on, other instances.
    match tokio::time::timeout(reply_timeout, all_applied(client)).await {
        Ok(true) => return Ok(()),
        Ok(false) => {}
        Err(_) => return Err(DbError::no_reply("checking the schema", reply_timeout)),
    }
    let limit = MIGRATION_LIMIT + reply_timeout;
    tokio::time::timeout(limit, apply(client))
        .await
        .unwrap_or_else(|_| Err(DbError::no_reply("migrating the schema", limit)))
}

async fn apply(client: &mut tokio_postgres::Client) -> Result<(), DbError> {
    // Missing a privilege here is either a function's role meeting a schema the migrate job
    // has not brought up to date, or the migrate job's role lacking what a migration says.
    let fail = |e: tokio_postgres::Error| {
        DbError::from_postgres_advised(
            "migrating the schema",
            &e,
            "; only the schema's owner migrates (the migrate job, or the migrate binary): a \
             function's own role (its PGUSER) never can, so run the migrate job first",
        )
    };
    let transaction = client.transaction().await.map_err(fail)?;
    // Instances that start together wait here while one migrates: longer than the lock and
    // statement timeouts that bound the pipeline's own work.
    // client_min_messages: "relation schema_migrations already exists" on every start is
    // not news.
    transaction
        .batch_execute(
            "SET LOCAL lock_timeout = '5min'; SET LOCAL statement_timeout = '5min';
             SET LOCAL client_min_messages = warning",
        )
        .await
        .map_err(fail)?;
    transaction
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(fail)?;
    transaction
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                 version    integer PRIMARY KEY,
                 name       text NOT NULL,
                 applied_at timestamptz NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(fail)?;
    let applied: Vec<i32> = transaction
        .query("SELECT version FROM schema_migrations", &[])
        .await
        .map_err(fail)?
        .iter()
        .map(|row| row.get(0))
        .collect();
    for (version, name, sql) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        transaction.batch_execute(sql).await.map_err(fail)?;
        transaction
            .execute(
                "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
                &[version, name],
            )
            .await
            .map_err(fail)?;
        log::info!("applied migration {version:04} {name}");
    }
    transaction.commit().await.map_err(fail)
}

/// Are all of this binary's migrations applied? False too when it cannot tell (no table yet).
/// One round trip: the simple query protocol, with our own version numbers in the text.
async fn all_applied(client: &tokio_postgres::Client) -> bool {
    let versions: Vec<String> = MIGRATIONS.iter().map(|(v, _, _)| v.to_string()).collect();
    let check = format!(
        "SELECT count(*) FROM schema_migrations WHERE version IN ({})",
        versions.join(",")
    );
    let Ok(messages) = client.simple_query(&check).await else {
        return false;
    };
    messages.iter().any(|message| match message {
        tokio_postgres::SimpleQueryMessage::Row(row) => {
            row.get(0) == Some(versions.len().to_string().as_str())
        }
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;

    #[test]
    fn every_migration_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/migrations");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|(version, name, _)| format!("{version:04}_{name}.sql"))
            .collect();
        assert_eq!(files, listed);
    }
}
