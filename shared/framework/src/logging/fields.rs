//! A record's key-values (a `tracing` event's fields, or `log`'s `key = value;`) as top-level
//! keys of its JSON line: Cloud Logging shows them in `jsonPayload`, where they can be
//! filtered on (`jsonPayload.user_id=7`).

use log::kv::{self, VisitSource};
use serde_json::{Map, Value};

/// Adds `source`'s pairs to `entry`. A name the line already uses (`severity`, `message`,
/// `time`, `target`, `serviceContext`, `logging.googleapis.com/…`) is written as `field.NAME`:
/// the line keeps its meaning to Cloud Logging and the field is not lost.
pub(super) fn add(entry: &mut Value, source: &dyn kv::Source) {
    let Value::Object(entry) = entry else { return };
    // A field's value cannot fail to become JSON; a visit error only stops at that pair.
    let _ = source.visit(&mut Adder(entry));
}

struct Adder<'a>(&'a mut Map<String, Value>);

impl<'kvs> VisitSource<'kvs> for Adder<'_> {
    fn visit_pair(&mut self, key: kv::Key<'_>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let name = key.as_str();
        let name = if self.0.contains_key(name) {
            format!("field.{name}")
        } else {
            name.to_owned()
        };
        self.0.insert(name, json(&value));
        Ok(())
    }
}

/// Numbers and booleans as JSON's own; anything else as its text.
fn json(value: &kv::Value<'_>) -> Value {
    if let Some(n) = value.to_i64() {
        n.into()
    } else if let Some(n) = value.to_u64() {
        n.into()
    } else if let Some(b) = value.to_bool() {
        b.into()
    } else if let Some(x) = value.to_f64() {
        // NaN and infinities have no JSON number: serde_json makes them null; keep their text.
        serde_json::Number::from_f64(x).map_or_else(|| x.to_string().into(), Value::Number)
    } else {
        value.to_string().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_become_keys_of_their_json_type_and_a_taken_name_is_prefixed() {
        let mut entry = serde_json::json!({ "severity": "INFO", "message": "stored" });
        let pairs: &[(&str, kv::Value<'_>)] = &[
            ("user_id", 7u64.into()),
            ("delta", (-2i64).into()),
            ("ratio", 0.5f64.into()),
            ("infinite", f64::INFINITY.into()),
            ("retried", true.into()),
            ("name", "Ada".into()),
            ("severity", "mine".into()),
        ];
        add(&mut entry, &pairs);
        assert_eq!(
            entry,
            serde_json::json!({
                "severity": "INFO",
                "message": "stored",
                "user_id": 7,
                "delta": -2,
                "ratio": 0.5,
                "infinite": "inf",
                "retried": true,
                "name": "Ada",
                "field.severity": "mine",
            })
        );
    }
}
