//! The pipeline's queries on `users`, `processed_messages` and `dead_letters`.

use std::collections::{BTreeMap, HashSet};

use deadpool_postgres::Transaction;
use futures_util::{Stream, StreamExt, TryStreamExt};

use super::{error::DbError, Database};

/// A validated user carried by one Pub/Sub message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// What identifies the message across redeliveries (its id, with its publish time).
    pub message_id: String,
    /// `None`: a new user with a generated id.
    pub user_id: Option<i32>,
    pub email: String,
    pub name: String,
}

/// What writing one message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The message took effect now; the user has this id.
    Stored { user_id: i32 },
    /// The message had taken effect before (a redelivery): nothing changed.
    AlreadyProcessed,
}

/// A message that can never succeed, kept with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    pub message_id: String,
    pub payload: Vec<u8>,
    pub attributes: serde_json::Value,
    pub reason: String,
}

/// A row as the read API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserRow {
    pub user_id: i32,
    pub email: String,
    pub name: String,
}

/// Generated ids that collide with a concurrent explicit id are drawn again; this bounds it.
const GENERATED_ID_ATTEMPTS: usize = 8;

impl Database {
    /// Writes `users` (distinct message ids) in one transaction and says, for each, what
    /// happened. Messages seen before are skipped; later messages for the same user win.
    pub async fn write_users(&self, users: &[NewUser]) -> Result<Vec<WriteOutcome>, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("writing users", &e);
        let mut client = self.client().await?;
        let transaction = client.transaction().await.map_err(fail)?;

        let claimed = claim(&transaction, users).await.map_err(fail)?;
        let mut outcomes = vec![WriteOutcome::AlreadyProcessed; users.len()];
        let mut explicit: BTreeMap<i32, &NewUser> = BTreeMap::new();
        let mut generated = Vec::new();
        for (index, user) in users.iter().enumerate() {
            if !claimed.contains(user.message_id.as_str()) {
                continue;
            }
            match user.user_id {
                Some(id) => {
                    // One statement cannot update a row twice: the last message for a user wins.
                    explicit.insert(id, user);
                    outcomes[index] = WriteOutcome::Stored { user_id: id };
                }
                None => generated.push(index),
            }
        }
        upsert_explicit(&transaction, &explicit)
            .await
            .map_err(fail)?;
        for (index, user_id) in insert_generated(&transaction, users, &generated).await? {
            outcomes[index] = WriteOutcome::Stored { user_id };
        }
        transaction.commit().await.map_err(fail)?;
        Ok(outcomes)
    }

    /// Users with ids above `after`, in id order, at most `limit`, streamed as the database
    /// sends them. Fails before the first row if the database cannot be reached.
    pub async fn users_after(
        &self,
        after: i32,
        limit: i64,
    ) -> Result<impl Stream<Item = Result<UserRow, DbError>> + Send + 'static, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("reading users", &e);
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT user_id, email, name FROM users WHERE user_id > $1 ORDER BY user_id LIMIT $2",
            )
            .await
            .map_err(fail)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&after, &limit];
        let rows = client.query_raw(&statement, params).await.map_err(fail)?;
        // The pooled connection goes back to the pool only when the stream is done or dropped.
        Ok(rows
            .map_ok(|row| UserRow {
                user_id: row.get(0),
                email: row.get(1),
                name: row.get(2),
            })
            .map_err(move |e| DbError::from_postgres("reading users", &e))
            .map(move |row| {
                let _held = &client;
                row
            }))
    }

    /// Keeps a message that can never succeed. Recording the same message again is a no-op.
    pub async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("recording a dead letter", &e);
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO dead_letters (message_id, payload, attributes, reason)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO NOTHING",
            )
            .await
            .map_err(fail)?;
        client
            .execute(
                &statement,
                &[
                    &letter.message_id,
                    &letter.payload,
                    &letter.attributes,
                    &letter.reason,
                ],
            )
            .await
            .map_err(fail)?;
        Ok(())
    }
}

/// Claims the message ids not processed before; returns those claimed now.
async fn claim(
    transaction: &Transaction<'_>,
    users: &[NewUser],
) -> Result<HashSet<String>, tokio_postgres::Error> {
    let ids: Vec<&str> = users.iter().map(|u| u.message_id.as_str()).collect();
    let statement = transaction
        .prepare_cached(
            "INSERT INTO processed_messages (message_id) SELECT unnest($1::text[])
             ON CONFLICT (message_id) DO NOTHING RETURNING message_id",
        )
        .await?;
    let rows = transaction.query(&statement, &[&ids]).await?;
    Ok(rows.iter().map(|row| row.get(0)).collect())
}

/// Inserts or updates users with given ids (in id order, so concurrent writers cannot
/// deadlock), then moves the id sequence past them.
async fn upsert_explicit(
    transaction: &Transaction<'_>,
    users: &BTreeMap<i32, &NewUser>,
) -> Result<(), tokio_postgres::Error> {
    let Some(highest) = users.keys().next_back().copied() else {
        return Ok(());
    };
    let ids: Vec<i32> = users.keys().copied().collect();
    let emails: Vec<&str> = users.values().map(|u| u.email.as_str()).collect();
    let names: Vec<&str> = users.values().map(|u| u.name.as_str()).collect();
    let upsert = transaction
        .prepare_cached(
            "INSERT INTO users (user_id, email, name)
             SELECT * FROM unnest($1::int4[], $2::text[], $3::text[])
             ON CONFLICT (user_id) DO UPDATE SET email = EXCLUDED.email, name = EXCLUDED.name",
        )
        .await?;
    transaction
        .execute(&upsert, &[&ids, &emails, &names])
        .await?;
    let advance = transaction
        .prepare_cached(
            "SELECT setval('users_generated_id_seq', $1::int4)
             WHERE $1::int4 >= (SELECT last_value FROM users_generated_id_seq)",
        )
        .await?;
    transaction.execute(&advance, &[&highest]).await?;
    Ok(())
}

/// Inserts users without ids under fresh sequence values. A value a concurrent writer took
/// explicitly meanwhile is skipped and drawn again. Returns (index in `users`, id).
async fn insert_generated(
    transaction: &Transaction<'_>,
    users: &[NewUser],
    indexes: &[usize],
) -> Result<Vec<(usize, i32)>, DbError> {
    let fail = |e: tokio_postgres::Error| DbError::from_postgres("writing new users", &e);
    let draw = transaction
        .prepare_cached(
            "SELECT nextval('users_generated_id_seq')::int4 FROM generate_series(1, $1)",
        )
        .await
        .map_err(fail)?;
    let insert = transaction
        .prepare_cached(
            "INSERT INTO users (user_id, email, name)
             SELECT * FROM unnest($1::int4[], $2::text[], $3::text[])
             ON CONFLICT (user_id) DO NOTHING RETURNING user_id",
        )
        .await
        .map_err(fail)?;
    let mut stored = Vec::with_capacity(indexes.len());
    let mut pending = indexes.to_vec();
    for _ in 0..GENERATED_ID_ATTEMPTS {
        if pending.is_empty() {
            return Ok(stored);
        }
        let count = pending.len() as i32;
        let ids: Vec<i32> = transaction
            .query(&draw, &[&count])
            .await
            .map_err(fail)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let emails: Vec<&str> = pending.iter().map(|&i| users[i].email.as_str()).collect();
        let names: Vec<&str> = pending.iter().map(|&i| users[i].name.as_str()).collect();
        let inserted: HashSet<i32> = transaction
            .query(&insert, &[&ids, &emails, &names])
            .await
            .map_err(fail)?
            .iter()
            .map(|row| row.get(0))
            .collect();
        let mut retry = Vec::new();
        for (index, id) in pending.into_iter().zip(ids) {
            if inserted.contains(&id) {
                stored.push((index, id));
            } else {
                retry.push(index);
            }
        }
        pending = retry;
    }
    if pending.is_empty() {
        Ok(stored)
    } else {
        Err(DbError {
            kind: super::DbErrorKind::Unavailable,
            message: "could not find free generated user ids; retry".into(),
        })
    }
}
