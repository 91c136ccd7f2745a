//! Whatever a sender puts in a key or a kept field must fit PostgreSQL: text cannot hold a
//! NUL, and a btree key has a size limit (about 2.7 KB). A message that breaks either would be
//! answered 5xx on every redelivery, forever.

use std::borrow::Cow;

use sha2::{Digest, Sha256};

/// Longest key kept as it is; anything longer is hashed. Far below the btree limit, and short
/// enough for a log line.
const MAX_KEY_BYTES: usize = 256;

/// What stands in a kept text field for a NUL, which PostgreSQL text cannot hold: U+2400
/// SYMBOL FOR NULL. The payload itself is kept byte for byte.
pub const NUL_STAND_IN: char = '\u{2400}';

/// Marks a hashed key. A raw key that starts with it is hashed too, so no sender can choose
/// a key equal to another message's hash.
const HASHED: &str = "sha256:";

/// What identifies a message across redeliveries (its id and publish time), in a form that
/// fits a primary key and a log line. Made once from what the sender sent, or read back as
/// kept (a replayed dead letter claims the very key it was kept under).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DeliveryKey(String);

impl DeliveryKey {
    /// The key for `raw`: `raw` itself when it is at most 256 bytes with no NUL (and does not
    /// start with `sha256:`), else `sha256:` and the SHA-256 of `raw` in hex.
    pub fn new(raw: &str) -> Self {
        Self(storable_key(raw).into_owned())
    }

    /// A key as the database keeps it, already in its storable form.
    pub(crate) fn kept(key: String) -> Self {
        Self(key)
    }

    /// The key as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for DeliveryKey {
    fn from(raw: &str) -> Self {
        Self::new(raw)
    }
}

impl std::fmt::Display for DeliveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn storable_key(raw: &str) -> Cow<'_, str> {
    if raw.len() <= MAX_KEY_BYTES && !raw.contains('\0') && !raw.starts_with(HASHED) {
        return Cow::Borrowed(raw);
    }
    let digest = Sha256::digest(raw.as_bytes());
    let mut key = String::with_capacity(7 + 64);
    key.push_str(HASHED);
    for byte in digest {
        key.push_str(&format!("{byte:02x}"));
    }
    Cow::Owned(key)
}

/// `text` with every NUL replaced by [`NUL_STAND_IN`].
pub(crate) fn storable_text(text: &str) -> Cow<'_, str> {
    if text.contains('\0') {
        Cow::Owned(text.replace('\0', &NUL_STAND_IN.to_string()))
    } else {
        Cow::Borrowed(text)
    }
}

/// `value` with every NUL in its strings and keys replaced, as jsonb requires.
pub(crate) fn storable_json(value: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(s) => Value::String(storable_text(s).into_owned()),
        Value::Array(items) => Value::Array(items.iter().map(storable_json).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (storable_text(k).into_owned(), storable_json(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_keys_stay_long_or_odd_ones_are_hashed_the_same_way_each_time() {
        assert_eq!(
            storable_key("42@2024-05-06T07:08:09Z"),
            "42@2024-05-06T07:08:09Z"
        );
        let long = "x".repeat(6000);
        let hashed = storable_key(&long);
        assert!(
            hashed.starts_with("sha256:") && hashed.len() == 71,
            "{hashed}"
        );
        assert_eq!(hashed, storable_key(&long));
        assert_ne!(storable_key("a\0b"), storable_key("a\0c"));
        assert!(!storable_key("a\0b").contains('\0'));
        // A sender cannot pick a key that is another message's hash.
        assert_ne!(storable_key(&hashed), hashed);
    }

    #[test]
    fn nuls_are_replaced_in_text_and_json() {
        assert_eq!(storable_text("a\0b"), "a\u{2400}b");
        let json = serde_json::json!({"k\0": ["v\0", 1, {"n": "x\0"}]});
        assert_eq!(
            storable_json(&json),
            serde_json::json!({"k\u{2400}": ["v\u{2400}", 1, {"n": "x\u{2400}"}]})
        );
    }
}
