//! `dead_letters`: messages that can never succeed, kept with why, and what an operator does
//! with them (list, show, replay's bookkeeping, purge).

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_postgres::types::ToSql;

use super::{
    error::DbError,
    prepared::run_prepared,
    storable::{storable_json, storable_text, DeliveryKey},
    Database,
};

/// A message that can never succeed, kept with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// As for [`super::NewUser::delivery_key`]: the same message is kept once.
    pub delivery_key: DeliveryKey,
    /// The message's id, as Pub/Sub (or the event) gave it.
    pub message_id: String,
    /// When Pub/Sub accepted it, when known.
    pub publish_time: Option<DateTime<Utc>>,
    /// The Pub/Sub message's data; for an event that was not a Pub/Sub message, the event's
    /// whole data (and `event_type` says so).
    pub payload: Vec<u8>,
    /// The message's attributes, as a JSON object.
    pub attributes: serde_json::Value,
    /// Why it can never succeed, for the operator.
    pub reason: String,
    /// `Some(type)` when the payload is the whole data of an event of that type, which was not
    /// a Pub/Sub message; `None` for a Pub/Sub message's data.
    pub event_type: Option<String>,
}

/// A dead letter as kept, with what the operator names it by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeptLetter {
    /// The short number the operator names it by.
    pub id: i64,
    /// When ingest kept it.
    pub received_at: DateTime<Utc>,
    /// When a replay last failed; the reason is then that replay's.
    pub replay_failed_at: Option<DateTime<Utc>>,
    /// The message as kept.
    pub letter: DeadLetter,
}

/// One line of a listing: everything but the payload, which may be megabytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LetterSummary {
    /// As [`KeptLetter::id`].
    pub id: i64,
    /// As [`DeadLetter::message_id`].
    pub message_id: String,
    /// As [`DeadLetter::publish_time`].
    pub publish_time: Option<DateTime<Utc>>,
    /// As [`KeptLetter::received_at`].
    pub received_at: DateTime<Utc>,
    /// As [`KeptLetter::replay_failed_at`].
    pub replay_failed_at: Option<DateTime<Utc>>,
    /// The payload's size, in bytes.
    pub payload_bytes: i64,
    /// As [`DeadLetter::reason`].
    pub reason: String,
}

/// Which letters: every condition given must hold; none given selects every letter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LetterSelection {
    /// Only these ids (none: any id).
    pub ids: Vec<i64>,
    /// The reason contains this text, ignoring case.
    pub reason_contains: Option<String>,
    /// Kept longer ago than this.
    pub older_than: Option<Duration>,
    /// Kept more recently than this.
    pub newer_than: Option<Duration>,
}

impl LetterSelection {
    /// True when nothing narrows the selection: every letter.
    pub fn is_everything(&self) -> bool {
        *self == Self::default()
    }
}

/// Keeps a letter; the same delivery key again is a no-op.
const RECORD_DEAD_LETTER: &str = "INSERT INTO dead_letters
         (delivery_key, message_id, publish_time, payload, attributes, reason, event_type)
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (delivery_key) DO NOTHING";

/// The selection as a WHERE clause on `$1..$4`; see [`selection_params`].
const SELECTED: &str = "(cardinality($1::int8[]) = 0 OR id = ANY ($1))
    AND ($2::text IS NULL OR strpos(lower(reason), lower($2)) > 0)
    AND ($3::float8 IS NULL OR received_at < now() - make_interval(secs => $3))
    AND ($4::float8 IS NULL OR received_at > now() - make_interval(secs => $4))";

struct SelectionParams {
    ids: Vec<i64>,
    reason: Option<String>,
    older_than: Option<f64>,
    newer_than: Option<f64>,
}

impl SelectionParams {
    fn new(selection: &LetterSelection) -> Self {
        Self {
            ids: selection.ids.clone(),
            reason: selection.reason_contains.clone(),
            older_than: selection.older_than.map(|d| d.as_secs_f64()),
            newer_than: selection.newer_than.map(|d| d.as_secs_f64()),
        }
    }

    fn with<'a>(&'a self, more: &[&'a (dyn ToSql + Sync)]) -> Vec<&'a (dyn ToSql + Sync)> {
        let mut params: Vec<&(dyn ToSql + Sync)> =
            vec![&self.ids, &self.reason, &self.older_than, &self.newer_than];
        params.extend_from_slice(more);
        params
    }
}

impl Database {
    /// Keeps a message that can never succeed. Recording the same message again is a no-op.
    pub async fn record_dead_letter(&self, letter: &DeadLetter) -> Result<(), DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("recording a dead letter", &e);
        self.writing("recording a dead letter", async |client| {
            // The payload is bytea, kept byte for byte; the text fields lose only their NULs.
            let (message_id, attributes, reason) = (
                storable_text(&letter.message_id),
                storable_json(&letter.attributes),
                storable_text(&letter.reason),
            );
            let event_type = letter.event_type.as_deref().map(storable_text);
            let (message_id, attributes, reason, event_type) =
                (&message_id, &attributes, &reason, &event_type);
            run_prepared(client, RECORD_DEAD_LETTER, |statement| async move {
                client
                    .execute(
                        &statement,
                        &[
                            &letter.delivery_key.as_str(),
                            message_id,
                            &letter.publish_time,
                            &letter.payload,
                            attributes,
                            reason,
                            event_type,
                        ],
                    )
                    .await
            })
            .await
            .map_err(fail)
        })
        .await?;
        Ok(())
    }

    /// The selected letters, oldest first, at most `limit`, without their payloads.
    pub async fn dead_letter_summaries(
        &self,
        selection: &LetterSelection,
        limit: i64,
    ) -> Result<Vec<LetterSummary>, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("listing dead letters", &e);
        let client = self.client().await?;
        let params = SelectionParams::new(selection);
        let rows = client
            .query(
                &format!(
                    "SELECT id, message_id, publish_time, received_at, replay_failed_at,
                            octet_length(payload)::int8, reason
                     FROM dead_letters WHERE {SELECTED} ORDER BY id LIMIT $5"
                ),
                &params.with(&[&limit]),
            )
            .await
            .map_err(fail)?;
        Ok(rows
            .iter()
            .map(|row| LetterSummary {
                id: row.get(0),
                message_id: row.get(1),
                publish_time: row.get(2),
                received_at: row.get(3),
                replay_failed_at: row.get(4),
                payload_bytes: row.get(5),
                reason: row.get(6),
            })
            .collect())
    }

    /// The ids of the selected letters, oldest first.
    pub async fn dead_letter_ids(&self, selection: &LetterSelection) -> Result<Vec<i64>, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("listing dead letters", &e);
        let client = self.client().await?;
        let params = SelectionParams::new(selection);
        let rows = client
            .query(
                &format!("SELECT id FROM dead_letters WHERE {SELECTED} ORDER BY id"),
                &params.with(&[]),
            )
            .await
            .map_err(fail)?;
        Ok(rows.iter().map(|row| row.get(0)).collect())
    }

    /// One letter, payload and all; `None` if there is no letter `id` (any more).
    pub async fn dead_letter(&self, id: i64) -> Result<Option<KeptLetter>, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("reading a dead letter", &e);
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT id, received_at, replay_failed_at, delivery_key, message_id,
                        publish_time, payload, attributes, reason, event_type
                 FROM dead_letters WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(fail)?;
        Ok(row.map(|row| KeptLetter {
            id: row.get(0),
            received_at: row.get(1),
            replay_failed_at: row.get(2),
            letter: DeadLetter {
                delivery_key: DeliveryKey::kept(row.get(3)),
                message_id: row.get(4),
                publish_time: row.get(5),
                payload: row.get(6),
                attributes: row.get(7),
                reason: row.get(8),
                event_type: row.get(9),
            },
        }))
    }

    /// Removes letter `id` (its message has now taken effect); false if it was gone already.
    pub async fn remove_dead_letter(&self, id: i64) -> Result<bool, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("removing a dead letter", &e);
        let client = self.client().await?;
        let removed = client
            .execute("DELETE FROM dead_letters WHERE id = $1", &[&id])
            .await
            .map_err(fail)?;
        Ok(removed == 1)
    }

    /// Records that replaying letter `id` failed again, and why.
    pub async fn mark_replay_failed(&self, id: i64, reason: &str) -> Result<(), DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("updating a dead letter", &e);
        let client = self.client().await?;
        client
            .execute(
                "UPDATE dead_letters SET reason = $2, replay_failed_at = now() WHERE id = $1",
                &[&id, &storable_text(reason)],
            )
            .await
            .map_err(fail)?;
        Ok(())
    }

    /// Removes the selected letters for good, and says how many.
    pub async fn purge_dead_letters(&self, selection: &LetterSelection) -> Result<u64, DbError> {
        let fail = |e: tokio_postgres::Error| DbError::from_postgres("purging dead letters", &e);
        let client = self.client().await?;
        let params = SelectionParams::new(selection);
        client
            .execute(
                &format!("DELETE FROM dead_letters WHERE {SELECTED}"),
                &params.with(&[]),
            )
            .await
            .map_err(fail)
    }
}
