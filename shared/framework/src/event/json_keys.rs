//! A JSON object that gives a key twice means whatever its parser makes of it: serde_json's
//! tree keeps the last value, other parsers the first, so a proxy and this function could
//! read different events from one body (`{"message": {"data": A, "data": B}}`). The bodies
//! the framework parses into a tree (structured-mode CloudEvents, raw Pub/Sub push bodies,
//! legacy events) are checked first, at every depth; a body that is not JSON is left to the
//! parser that follows, which says so in its own words.

use std::{collections::HashSet, fmt};

use serde::de::{Deserialize, Deserializer, Error, MapAccess, SeqAccess, Visitor};

/// The first key some object in `body` gives twice, if any. Cost: one pass, no tree; the
/// keys of one object at a time (the body is within the value budget already).
pub fn repeated_key(body: &[u8]) -> Option<String> {
    match serde_json::from_slice::<UniqueKeys>(body) {
        Err(e) if e.is_data() => Some(e.to_string()),
        _ => None,
    }
}

/// Any JSON value, every object in it with distinct keys; its error names the repeated key.
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeys)
    }
}

impl<'de> Visitor<'de> for UniqueKeys {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
        let mut seen = HashSet::new();
        // Keys as written, escapes resolved: `d\u0061ta` is `data`. The value is read
        // first, so that a body cut short after a repeated key is left to the parser.
        while let Some(key) = map.next_key::<String>()? {
            map.next_value::<UniqueKeys>()?;
            if seen.contains(&key) {
                return Err(A::Error::custom(format_args!(
                    "the key {key:?} is given twice"
                )));
            }
            seen.insert(key);
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E: Error>(self, _: bool) -> Result<Self, E> {
        Ok(UniqueKeys)
    }

    fn visit_i64<E: Error>(self, _: i64) -> Result<Self, E> {
        Ok(UniqueKeys)
    }

    fn visit_u64<E: Error>(self, _: u64) -> Result<Self, E> {
        Ok(UniqueKeys)
    }

    fn visit_f64<E: Error>(self, _: f64) -> Result<Self, E> {
        Ok(UniqueKeys)
    }

    fn visit_str<E: Error>(self, _: &str) -> Result<Self, E> {
        Ok(UniqueKeys)
    }

    fn visit_unit<E: Error>(self) -> Result<Self, E> {
        Ok(UniqueKeys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_a_key_given_twice_at_any_depth() {
        for (body, key) in [
            (r#"{"a": 1, "a": 2}"#, "a"),
            (
                r#"{"message": {"data": "x", "messageId": "1", "data": "y"}}"#,
                "data",
            ),
            (r#"{"m": [{"k": 1}, {"k": 1, "k": 1}]}"#, "k"),
            (r#"{"data": 1, "d\u0061ta": 2}"#, "data"),
        ] {
            let said = repeated_key(body.as_bytes()).unwrap_or_else(|| panic!("{body}"));
            assert!(
                said.contains(&format!("{key:?} is given twice")),
                "{body}: {said}"
            );
        }
    }

    #[test]
    fn leaves_distinct_keys_and_broken_json_alone() {
        for body in [
            r#"{"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}], "c": null}"#,
            r#"[1, "x", true, 2.5, -3, {}]"#,
            r#"{"a": 1, "a""#,
            "not json",
            "",
        ] {
            assert_eq!(repeated_key(body.as_bytes()), None, "{body}");
        }
    }
}
