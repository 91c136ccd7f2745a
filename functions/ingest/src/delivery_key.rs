//! What names a message across redeliveries: its delivery key, made from its id and publish
//! time. Two different messages must never share a key (the second would be answered 200 and
//! dropped as a redelivery), so the key is injective in (id, publish time), and an id that
//! names nothing (empty or blank) is never made into one.
//!
//! The forms, for an id that is not blank and T the publish time in RFC 3339 (UTC, `Z`, as
//! many fractional digits as it needs):
//!
//! | publish time | id          | key      |
//! |--------------|-------------|----------|
//! | known        | any         | `id@T`   |
//! | none         | without `@` | `id`     |
//! | none         | with `@`    | `id@`    |
//!
//! Each form is told from the others by its last `@`: what follows it is a time, nothing, or
//! there is no `@` at all; and T never holds an `@`, so the last one is where the id ends. So
//! the key gives back the id and the time it was made from ([`tests`] decodes it).
//!
//! The first two forms are the keys of the previous release, unchanged: a message stored
//! before an upgrade and redelivered after it is still a redelivery. Only an id with an `@`
//! and no publish time changed form (it was the bare id, which `k@T` without a time shared
//! with `k` published at T); Pub/Sub gives every message a publish time and ids of digits,
//! so none of its messages has such a key.

use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};
use shared::{db::DeliveryKey, pubsub::PubsubMessage};

/// Ends the key of a message whose id is blank: after its last `@`, neither a time nor
/// nothing, so no message with an id has it.
const BLANK_ID: &str = "@blank-message-id";

/// The key of a message with id `message_id` (not blank: see [`is_blank`]) published at
/// `publish_time`.
pub(crate) fn delivery_key(message_id: &str, publish_time: Option<DateTime<Utc>>) -> DeliveryKey {
    DeliveryKey::new(&raw_key(message_id, publish_time))
}

/// The key before [`DeliveryKey::new`] fits it to the database (which hashes a long one).
fn raw_key(message_id: &str, publish_time: Option<DateTime<Utc>>) -> String {
    match publish_time {
        Some(time) => format!(
            "{message_id}@{}",
            time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
        ),
        None if message_id.contains('@') => format!("{message_id}@"),
        None => message_id.to_owned(),
    }
}

/// An id that cannot tell a message from another: empty, or only whitespace.
pub(crate) fn is_blank(message_id: &str) -> bool {
    message_id.trim().is_empty()
}

/// The key a message with a blank id is kept under as a dead letter: its content's SHA-256,
/// so a redelivery of it is kept once and another message with a blank id is kept too.
pub(crate) fn blank_id_key(message: &PubsubMessage) -> DeliveryKey {
    let time = message
        .publish_time
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    let attributes = serde_json::to_vec(&message.attributes).unwrap_or_default();
    let parts: [&[u8]; 4] = [
        message.message_id.as_bytes(),
        time.as_deref().unwrap_or_default().as_bytes(),
        &attributes,
        &message.data,
    ];
    content_key(&parts)
}

/// The key of a non-Pub/Sub event with a blank id, kept as a dead letter: as
/// [`blank_id_key`], over the event's type, time and data.
pub(crate) fn blank_event_key(
    event_type: &str,
    time: Option<DateTime<Utc>>,
    payload: &[u8],
) -> DeliveryKey {
    let time = time.map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
    content_key(&[
        event_type.as_bytes(),
        time.as_deref().unwrap_or_default().as_bytes(),
        payload,
    ])
}

/// `parts`, each preceded by its length (so no two lists of parts hash alike but by a
/// SHA-256 collision), hashed, in hex, then [`BLANK_ID`].
fn content_key(parts: &[&[u8]]) -> DeliveryKey {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    let hex: String = hash
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect();
    DeliveryKey::new(&format!("{hex}{BLANK_ID}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The id and publish time a raw key was made from: the inverse that makes the key
    /// injective.
    fn decode(raw: &str) -> (String, Option<DateTime<Utc>>) {
        match raw.rsplit_once('@') {
            None => (raw.to_owned(), None),
            Some((id, "")) => (id.to_owned(), None),
            Some((id, time)) => (
                id.to_owned(),
                Some(DateTime::parse_from_rfc3339(time).unwrap().to_utc()),
            ),
        }
    }

    fn any_time() -> impl Strategy<Value = Option<DateTime<Utc>>> {
        // Year 1 to 9999 (what RFC 3339 writes), to the nanosecond.
        let seconds = -62_135_596_800i64..253_402_300_799;
        proptest::option::of(
            (seconds, 0u32..1_000_000_000)
                .prop_map(|(s, ns)| DateTime::from_timestamp(s, ns).unwrap()),
        )
    }

    /// Ids made of the characters a key is built from, so near misses are likely.
    fn any_id() -> impl Strategy<Value = String> {
        "[@0-9TZ:.+ -]{0,12}[a-z0-9@]{0,3}".prop_filter("not blank", |id| !is_blank(id))
    }

    proptest! {
        #[test]
        fn a_key_gives_back_the_id_and_time_it_was_made_from(id in any_id(), time in any_time()) {
            prop_assert_eq!(decode(&raw_key(&id, time)), (id, time));
        }

        /// The collision of issue 31: id `k` at time T against id `k@T` with no time, and
        /// against `k@` with no time.
        #[test]
        fn an_id_spelling_another_key_gets_a_key_of_its_own(id in any_id(), time in any_time()) {
            let spelt = raw_key(&id, time);
            prop_assume!(!is_blank(&spelt));
            if time.is_some() {
                prop_assert_ne!(raw_key(&spelt, None), spelt.clone());
            }
            prop_assert_ne!(raw_key(&format!("{id}@"), None), raw_key(&id, None));
        }

        #[test]
        fn no_message_with_an_id_has_a_blank_id_key(
            id in any_id(), time in any_time(), data in proptest::collection::vec(any::<u8>(), 0..8)
        ) {
            let message = PubsubMessage {
                data,
                attributes: Default::default(),
                message_id: " ".into(),
                publish_time: time,
                ordering_key: None,
                delivery_attempt: None,
            };
            prop_assert_ne!(blank_id_key(&message), delivery_key(&id, time));
        }
    }

    #[test]
    fn pubsub_keys_are_those_of_the_previous_release() {
        let time = DateTime::parse_from_rfc3339("2024-05-06T07:08:09.123Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            delivery_key("4711", Some(time)).as_str(),
            "4711@2024-05-06T07:08:09.123Z"
        );
        assert_eq!(delivery_key("4711", None).as_str(), "4711");
    }

    #[test]
    fn messages_with_blank_ids_differ_by_content_and_a_copy_shares_the_key() {
        let message = |id: &str, data: &[u8]| PubsubMessage {
            data: data.to_vec(),
            attributes: Default::default(),
            message_id: id.into(),
            publish_time: None,
            ordering_key: None,
            delivery_attempt: None,
        };
        assert!(is_blank("") && is_blank(" \t") && !is_blank(" 1"));
        let a = blank_id_key(&message("", b"a"));
        assert_eq!(a, blank_id_key(&message("", b"a")));
        assert_ne!(a, blank_id_key(&message("", b"b")));
        assert_ne!(a, blank_id_key(&message(" ", b"a")));
        assert!(a.as_str().ends_with(BLANK_ID), "{a}");
    }
}
