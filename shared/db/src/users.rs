//! The pipeline's queries on `users` and `processed_messages`.

use chrono::{DateTime, Utc};
use deadpool_postgres::Object;

use super::{error::DbError, prepared::run_prepared, storable::DeliveryKey, Database};

/// A validated user carried by one Pub/Sub message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// What identifies the message across redeliveries: its id and its publish time.
    pub delivery_key: DeliveryKey,
    /// `None`: a new user with a generated id.
    pub user_id: Option<i32>,
    /// The user's email address, validated.
    pub email: String,
    /// The user's name, validated.
    pub name: String,
    /// What orders this update against the user's others: when the message was published
    /// (or received, without a publish time). The newest update of a user wins, whatever
    /// order the messages arrive in; at the same microsecond, the greater delivery key.
    pub published_at: DateTime<Utc>,
}

/// What writing one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The message took effect now; the user has this id.
    Stored {
        /// The stored user's id (the message's own, or a generated one).
        user_id: i32,
    },
    /// The message had taken effect before (a redelivery): nothing changed.
    AlreadyProcessed,
    /// The user's row holds a newer update (a message published later, or in the same
    /// batch): the message is processed, and changed nothing.
    Superseded {
        /// The user whose row is newer.
        user_id: i32,
    },
    /// Another session holds this user's row: nothing was written or claimed, so a
    /// redelivery will be. The rest of the batch did not wait.
    HeldElsewhere {
        /// The id whose row is held.
        user_id: i32,
    },
}

/// A row as the read API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserRow {
    /// The user's id.
    pub user_id: i32,
    /// The user's email address.
    pub email: String,
    /// The user's name.
    pub name: String,
}

const WRITE_USERS: &str = "SELECT write_newest_user_messages($1, $2, $3, $4, $5)";
/// The same, waiting at most $6 for a lock (this statement's transaction only; the CTE runs
/// first because the write reads from it).
const WRITE_USERS_WAITING_AT_MOST: &str =
    "WITH wait AS (SELECT set_config('lock_timeout', $6, true))
     SELECT write_newest_user_messages($1, $2, $3, $4, $5) FROM wait";
/// Every parameter and column has its type written out, so the statement keeps the types the
/// code sends and reads whatever a migration does to the columns (`user_id` made bigint and
/// back): a statement prepared while a column had another type would otherwise take its
/// parameter as that type, which the driver then refuses to send, before the server could
/// ask for it to be prepared again.
const USERS_AFTER: &str = "SELECT user_id::int4, email::text, name::text FROM users \
     WHERE user_id > $1::int4 ORDER BY user_id LIMIT $2::int8";

/// Prepares `statement` into `client`'s statement cache, where its first use will find it.
async fn prepare(client: &Object, statement: &str, what: &str) -> Result<(), DbError> {
    client
        .prepare_cached(statement)
        .await
        .map(drop)
        .map_err(|e| DbError::from_postgres(what, &e))
}

impl Database {
    /// Does now what the first write would wait for: opens a connection, brings the schema up
    /// to date, and prepares the write on that connection (which goes back to the pool).
    pub async fn prepare_writes(&self) -> Result<(), DbError> {
        prepare(&self.client().await?, WRITE_USERS, "preparing the write").await
    }

    /// Does now what the first read would wait for: opens the connection reads share, brings
    /// the schema up to date, and prepares the page query on it.
    pub async fn prepare_reads(&self) -> Result<(), DbError> {
        let shared = self.shared_client().await?;
        prepare(&shared, USERS_AFTER, "preparing the page query").await
    }

    /// Writes `users` (distinct delivery keys) in one round trip and one transaction, and says
    /// for each what happened. Messages seen before are skipped; the newest update of a user
    /// wins, in the batch and against the row's ([`NewUser::published_at`]); a message whose
    /// user row another session holds is skipped without waiting
    /// ([`WriteOutcome::HeldElsewhere`]). The work is the `write_newest_user_messages`
    /// function (migration 0011).
    pub async fn write_users(&self, users: &[NewUser]) -> Result<Vec<WriteOutcome>, DbError> {
        self.write_users_waiting(users, None).await
    }

    /// As [`Database::write_users`], waiting at most `lock_wait` (instead of the session's
    /// lock timeout) for a key or id another transaction holds: the group-commit writer tries
    /// a batch briefly, so one held row cannot hold up every message behind it.
    pub(crate) async fn write_users_waiting(
        &self,
        users: &[NewUser],
        lock_wait: Option<std::time::Duration>,
    ) -> Result<Vec<WriteOutcome>, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("writing users", &e);
        let wait = lock_wait.map(|w| format!("{}ms", w.as_millis().max(1)));
        let keys: Vec<_> = users.iter().map(|u| u.delivery_key.as_str()).collect();
        let user_ids: Vec<Option<i32>> = users.iter().map(|u| u.user_id).collect();
        let emails: Vec<&str> = users.iter().map(|u| u.email.as_str()).collect();
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        let published: Vec<DateTime<Utc>> = users.iter().map(|u| u.published_at).collect();
        let row = self
            .writing("writing users", async |client| {
                let (keys, user_ids, emails, names, published) =
                    (&keys, &user_ids, &emails, &names, &published);
                let run = match &wait {
                    None => {
                        run_prepared(client, WRITE_USERS, |statement| async move {
                            client
                                .query_one(&statement, &[keys, user_ids, emails, names, published])
                                .await
                        })
                        .await
                    }
                    Some(wait) => {
                        run_prepared(
                            client,
                            WRITE_USERS_WAITING_AT_MOST,
                            |statement| async move {
                                client
                                    .query_one(
                                        &statement,
                                        &[keys, user_ids, emails, names, published, wait],
                                    )
                                    .await
                            },
                        )
                        .await
                    }
                };
                run.map_err(fail)
            })
            .await?;
        // Per message, aligned with `users`: the id it stored, NULL if seen before, 0 if its
        // row is held elsewhere, minus the id if the row holds a newer update.
        let stored: Vec<Option<i32>> = row.try_get(0).map_err(fail)?;
        if stored.len() != users.len() {
            return Err(DbError::internal(format!(
                "write_newest_user_messages answered {} results for {} messages",
                stored.len(),
                users.len()
            )));
        }
        Ok(stored
            .into_iter()
            .zip(users)
            .map(|(stored, user)| match (stored, user.user_id) {
                (Some(0), Some(user_id)) => WriteOutcome::HeldElsewhere { user_id },
                (Some(newer), _) if newer < 0 => WriteOutcome::Superseded { user_id: -newer },
                (Some(user_id), _) => WriteOutcome::Stored { user_id },
                (None, _) => WriteOutcome::AlreadyProcessed,
            })
            .collect())
    }

    /// Users with ids above `after`, in id order, at most `limit`, read whole on the
    /// connection reads share, within the reply timeout on our own clock. A connection that
    /// does not answer in time is abandoned: the next read opens a fresh one instead of
    /// queueing behind a frozen or blocked one.
    pub async fn users_after(&self, after: i32, limit: i64) -> Result<Vec<UserRow>, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("reading users", &e);
        let within = self.reply_timeout();
        let started = tokio::time::Instant::now();
        let client = tokio::time::timeout(within, self.shared_client())
            .await
            .map_err(|_| DbError::no_connection_in_time())??;
        let read = async {
            let client = &client;
            let rows = run_prepared(client, USERS_AFTER, |statement| async move {
                client.query(&statement, &[&after, &limit]).await
            })
            .await
            .map_err(fail)?;
            Ok(rows
                .iter()
                .map(|row| UserRow {
                    user_id: row.get(0),
                    email: row.get(1),
                    name: row.get(2),
                })
                .collect())
        };
        match tokio::time::timeout_at(started + within, read).await {
            Ok(rows) => rows,
            Err(_) => {
                self.abandon_shared(&client);
                Err(DbError::no_reply("reading users", within))
            }
        }
    }
}
