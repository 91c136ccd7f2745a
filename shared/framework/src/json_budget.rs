//! A bound on what parsing a JSON body may build, for every decoder of the crate (events,
//! typed bodies, Pub/Sub data): a leaf module, depending on nothing else here. A `serde_json::Value` costs 32 bytes and
//! more per value, so a body of tiny values (`[[],[],...]`: 3 bytes each) becomes a tree 20
//! times its size: one 30 MB request took the process to 700 MB. The values are counted
//! first, with no allocation, and a body with too many is refused before it is parsed.

/// More values than any event the framework decodes carries (a Pub/Sub message has at most
/// 100 attributes); a tree this large costs about 10 MB.
pub const MAX_JSON_VALUES: usize = 100_000;

/// Refuses a body of more than [`MAX_JSON_VALUES`] JSON values before it is parsed: a parsed
/// tree costs 32 bytes and more a value, so a small body of `[[],[],...]` would grow twentyfold.
pub(crate) fn within_json_budget(body: &[u8]) -> Result<(), TooManyJsonValues> {
    if json_values_at_most(body, MAX_JSON_VALUES) > MAX_JSON_VALUES {
        return Err(TooManyJsonValues);
    }
    Ok(())
}

/// A JSON text of more values than [`MAX_JSON_VALUES`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyJsonValues;

impl std::fmt::Display for TooManyJsonValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the JSON holds more than {MAX_JSON_VALUES} values; nothing this function accepts \
             is shaped like that"
        )
    }
}

impl std::error::Error for TooManyJsonValues {}

/// An upper bound on the values (keys included) in a JSON text, counted without parsing it:
/// every value but the first opens a container or follows a `,` or `:` outside a string.
/// Stops counting past `cap`.
pub(crate) fn json_values_at_most(text: &[u8], cap: usize) -> usize {
    let mut count = 1;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in text {
        if in_string {
            // Multi-byte UTF-8 sequences never contain these ASCII bytes.
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' | b',' | b':' => {
                count += 1;
                if count > cap {
                    return count;
                }
            }
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_values_outside_strings_only() {
        assert_eq!(json_values_at_most(br#"{"a": 1, "b": [2, 3]}"#, 100), 7);
        assert_eq!(json_values_at_most(br#"{"a,[{:": "x\"],{,:"}"#, 100), 3);
        assert_eq!(json_values_at_most(b"[[],[],[]]", 100), 7);
        assert_eq!(json_values_at_most(b"\"just a string\"", 100), 1);
    }

    #[test]
    fn stops_past_the_cap() {
        let many = format!("[{}]", vec!["[]"; 1000].join(","));
        assert_eq!(json_values_at_most(many.as_bytes(), 10), 11);
    }

    #[test]
    fn bounds_what_serde_json_builds() {
        // The count is never below the real number of values and keys.
        fn real(value: &serde_json::Value) -> usize {
            match value {
                serde_json::Value::Array(items) => 1 + items.iter().map(real).sum::<usize>(),
                serde_json::Value::Object(map) => {
                    1 + map.values().map(|v| 1 + real(v)).sum::<usize>()
                }
                _ => 1,
            }
        }
        for text in [
            r#"{"message": {"data": "aGk=", "attributes": {"k": "v", "l": "w"}}, "subscription": "s"}"#,
            r#"[1, [2, [3, {"x": [4, 5]}]], "a\"b", {}]"#,
            r#"{"a": {"b": {"c": {"d": []}}}}"#,
        ] {
            let value: serde_json::Value = serde_json::from_str(text).unwrap();
            assert!(
                json_values_at_most(text.as_bytes(), usize::MAX) >= real(&value),
                "{text}"
            );
        }
    }
}
