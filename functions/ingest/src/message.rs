//! The user a message carries: UTF-8 JSON `{"email": ..., "name": ..., "user_id": 7}`, with
//! `user_id` optional and unknown fields ignored, checked against the rules below.
//!
//! Read deliberately where JSON leaves room: a field ingest reads must be given once (JSON
//! parsers disagree on which of two values counts; serde_json keeps the last), while the
//! fields it ignores are skipped unread, repeated or not; one leading byte order mark is
//! ignored, as RFC 8259 §8.1 lets a parser do (Windows tools write one), and a mark anywhere
//! else is not JSON.

use std::fmt;

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;

const MAX_CHARS: usize = 255;

/// A valid user, as a message carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserMessage {
    /// `None`: a new user, who gets a generated id.
    pub user_id: Option<i32>,
    pub email: String,
    /// Trimmed.
    pub name: String,
}

/// Why message data is not a valid user; its text is the reason kept with the dead letter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvalidUser {
    NotUtf8(std::str::Utf8Error),
    /// What the JSON parser said.
    NotJson(String),
    NotAnObject,
    /// A field ingest reads is given more than once.
    Repeated(&'static str),
    Missing(&'static str),
    NotAString(&'static str),
    /// `user_id` is not a positive 32-bit integer; the number when it was one.
    BadUserId(Option<String>),
    EmailTooLong,
    EmailHasHiddenCharacters,
    /// Not exactly one `@` with text on both sides.
    EmailShape(String),
    NameEmpty,
    NameTooLong,
    NameHasDisruptiveCharacters,
    NameInvisible,
}

impl fmt::Display for InvalidUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotUtf8(e) => write!(f, "message data is not UTF-8: {e}"),
            Self::NotJson(e) => write!(f, "message data is not JSON: {e}"),
            Self::NotAnObject => f.write_str("message data must be a JSON object"),
            Self::Repeated(field) => write!(
                f,
                "{field} is given more than once: which value is meant is ambiguous"
            ),
            Self::Missing(field) => write!(f, "{field} is missing"),
            Self::NotAString(field) => write!(f, "{field} must be a string"),
            Self::BadUserId(Some(n)) => {
                write!(f, "user_id must be a positive 32-bit integer, not {n}")
            }
            Self::BadUserId(None) => f.write_str("user_id must be a positive 32-bit integer"),
            Self::EmailTooLong => write!(f, "email is longer than {MAX_CHARS} characters"),
            Self::EmailHasHiddenCharacters => {
                f.write_str("email must not contain whitespace, control or invisible characters")
            }
            Self::EmailShape(email) => write!(
                f,
                "email {email:?} must have exactly one @ with text on both sides"
            ),
            Self::NameEmpty => f.write_str("name is empty"),
            Self::NameTooLong => write!(f, "name is longer than {MAX_CHARS} characters"),
            Self::NameHasDisruptiveCharacters => f.write_str(
                "name must not contain control characters, line separators or direction overrides",
            ),
            Self::NameInvisible => f.write_str("name has no visible character"),
        }
    }
}

impl std::error::Error for InvalidUser {}

/// Parses and validates message data; the error says exactly what is wrong.
pub fn parse_user(data: &[u8]) -> Result<UserMessage, InvalidUser> {
    let text = std::str::from_utf8(data).map_err(InvalidUser::NotUtf8)?;
    let fields = user_fields(text.strip_prefix('\u{FEFF}').unwrap_or(text))?;
    if let Some(field) = fields.repeated {
        return Err(InvalidUser::Repeated(field));
    }
    Ok(UserMessage {
        user_id: user_id(fields.user_id.as_ref())?,
        email: email(text_field(fields.email.as_ref(), "email")?)?,
        name: name(text_field(fields.name.as_ref(), "name")?)?,
    })
}

fn text_field<'a>(value: Option<&'a Value>, name: &'static str) -> Result<&'a str, InvalidUser> {
    match value {
        None | Some(Value::Null) => Err(InvalidUser::Missing(name)),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(InvalidUser::NotAString(name)),
    }
}

/// The fields of a JSON object that ingest reads, and the first of them given twice.
#[derive(Default)]
struct UserFields {
    user_id: Option<Value>,
    email: Option<Value>,
    name: Option<Value>,
    repeated: Option<&'static str>,
}

/// Reads `text` as a JSON object's fields, or says why it is none.
fn user_fields(text: &str) -> Result<UserFields, InvalidUser> {
    let not_json = |e: serde_json::Error| InvalidUser::NotJson(e.to_string());
    // JSON's whitespace is these four; an object is the one value that opens with `{`.
    if text
        .trim_start_matches([' ', '\t', '\n', '\r'])
        .starts_with('{')
    {
        serde_json::from_str(text).map_err(not_json)
    } else {
        serde_json::from_str::<IgnoredAny>(text).map_err(not_json)?;
        Err(InvalidUser::NotAnObject)
    }
}

/// A key of the data object: one of the fields ingest reads, or another.
enum FieldName {
    Read(&'static str),
    Other,
}

impl<'de> Deserialize<'de> for FieldName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NameVisitor;
        impl Visitor<'_> for NameVisitor {
            type Value = FieldName;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            // The name as written, escapes resolved: `user\u005fid` is `user_id`.
            fn visit_str<E: serde::de::Error>(self, name: &str) -> Result<FieldName, E> {
                Ok(match name {
                    "user_id" => FieldName::Read("user_id"),
                    "email" => FieldName::Read("email"),
                    "name" => FieldName::Read("name"),
                    _ => FieldName::Other,
                })
            }
        }
        deserializer.deserialize_identifier(NameVisitor)
    }
}

impl<'de> Deserialize<'de> for UserFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldsVisitor;
        impl<'de> Visitor<'de> for FieldsVisitor {
            type Value = UserFields;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }

            // Reads to the end even past a repeated field, so that data that is not JSON
            // says so first.
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UserFields, A::Error> {
                let mut fields = UserFields::default();
                while let Some(key) = map.next_key::<FieldName>()? {
                    let FieldName::Read(name) = key else {
                        map.next_value::<IgnoredAny>()?;
                        continue;
                    };
                    let slot = match name {
                        "user_id" => &mut fields.user_id,
                        "email" => &mut fields.email,
                        _ => &mut fields.name,
                    };
                    let value = map.next_value::<Value>()?;
                    if slot.replace(value).is_some() {
                        fields.repeated.get_or_insert(name);
                    }
                }
                Ok(fields)
            }
        }
        deserializer.deserialize_map(FieldsVisitor)
    }
}

fn user_id(value: Option<&Value>) -> Result<Option<i32>, InvalidUser> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| InvalidUser::BadUserId(Some(n.to_string()))),
        Some(_) => Err(InvalidUser::BadUserId(None)),
    }
}

/// Characters that show nothing: zero-width spaces and joiners, soft hyphens, fillers, tags,
/// byte-order marks, and the format characters that steer text direction.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{115F}' | '\u{1160}' | '\u{17B4}' | '\u{17B5}'
        | '\u{180B}'..='\u{180F}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{206F}' | '\u{3164}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}' | '\u{FFA0}'
        | '\u{FFF9}'..='\u{FFFB}' | '\u{1D173}'..='\u{1D17A}' | '\u{E0000}'..='\u{E0FFF}')
}

/// Characters refused anywhere, like control characters: line and paragraph separators, and
/// the bidirectional embeddings, overrides and isolates, which make a name display as
/// something else (U+202E turns "user" into "resu").
fn is_disruptive(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn email(email: &str) -> Result<String, InvalidUser> {
    if email.chars().count() > MAX_CHARS {
        return Err(InvalidUser::EmailTooLong);
    }
    if email
        .chars()
        .any(|c| c.is_whitespace() || is_disruptive(c) || is_invisible(c))
    {
        return Err(InvalidUser::EmailHasHiddenCharacters);
    }
    match email.split_once('@') {
        Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@') =>
        {
            Ok(email.to_owned())
        }
        _ => Err(InvalidUser::EmailShape(email.to_owned())),
    }
}

fn name(name: &str) -> Result<String, InvalidUser> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(InvalidUser::NameEmpty);
    }
    if trimmed.chars().count() > MAX_CHARS {
        return Err(InvalidUser::NameTooLong);
    }
    if trimmed.chars().any(is_disruptive) {
        return Err(InvalidUser::NameHasDisruptiveCharacters);
    }
    if trimmed
        .chars()
        .all(|c| c.is_whitespace() || is_invisible(c))
    {
        return Err(InvalidUser::NameInvisible);
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(json: &str) -> Result<UserMessage, InvalidUser> {
        parse_user(json.as_bytes())
    }

    #[test]
    fn accepts_valid_messages() {
        let cases: &[(&str, Option<i32>, &str, &str)] = &[
            (
                r#"{"user_id": 7, "email": "linda.williams@example.com", "name": "Linda Williams"}"#,
                Some(7),
                "linda.williams@example.com",
                "Linda Williams",
            ),
            (r#"{"email": "a@b", "name": "A"}"#, None, "a@b", "A"),
            (
                r#"{"user_id": null, "email": "a@b", "name": "  Padded  "}"#,
                None,
                "a@b",
                "Padded",
            ),
            (
                r#"{"user_id": 2147483647, "email": "a@b", "name": "Max", "extra": [1]}"#,
                Some(i32::MAX),
                "a@b",
                "Max",
            ),
            (
                r#"{"user_id": 1, "email": "ü@例え.jp", "name": "Zoë 李"}"#,
                Some(1),
                "ü@例え.jp",
                "Zoë 李",
            ),
            // A zero-width joiner inside an emoji sequence is part of a visible name.
            (
                r#"{"email": "a@b", "name": "Dev 👩\u200d💻"}"#,
                None,
                "a@b",
                "Dev 👩\u{200d}💻",
            ),
        ];
        for (json, id, email, name) in cases {
            let parsed = user(json).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(
                parsed,
                UserMessage {
                    user_id: *id,
                    email: email.to_string(),
                    name: name.to_string()
                },
                "{json}"
            );
        }
        let longest = format!(
            r#"{{"email": "{}@b", "name": "{}"}}"#,
            "a".repeat(253),
            "n".repeat(255)
        );
        assert!(user(&longest).is_ok());
    }

    #[test]
    fn each_rule_has_its_own_error() {
        assert_eq!(parse_user(b"[1]"), Err(InvalidUser::NotAnObject));
        assert_eq!(user(r#"{"name": "n"}"#), Err(InvalidUser::Missing("email")));
        assert_eq!(
            user(r#"{"email": "a@b", "name": 1}"#),
            Err(InvalidUser::NotAString("name"))
        );
        assert_eq!(
            user(r#"{"email": "a@b", "name": "n", "user_id": 0}"#),
            Err(InvalidUser::BadUserId(Some("0".into())))
        );
        assert_eq!(
            user(r#"{"email": "a@b", "name": "\u200b"}"#),
            Err(InvalidUser::NameInvisible)
        );
    }

    #[test]
    fn rejects_invalid_messages_with_a_specific_reason() {
        let long_email = format!(r#"{{"email": "{}@b", "name": "n"}}"#, "a".repeat(254));
        let long_name = format!(r#"{{"email": "a@b", "name": "{}"}}"#, "n".repeat(256));
        let cases: Vec<(&[u8], &str)> = vec![
            (b"\xff\xfe", "not UTF-8"),
            (b"{not json", "not JSON"),
            (b"[1, 2]", "JSON object"),
            (br#"{"name": "n"}"#, "email is missing"),
            (br#"{"email": 5, "name": "n"}"#, "email must be a string"),
            (br#"{"email": "a@b"}"#, "name is missing"),
            (br#"{"email": "ab", "name": "n"}"#, "exactly one @"),
            (br#"{"email": "a@b@c", "name": "n"}"#, "exactly one @"),
            (br#"{"email": "@b", "name": "n"}"#, "exactly one @"),
            (br#"{"email": "a@", "name": "n"}"#, "exactly one @"),
            (br#"{"email": "a b@c", "name": "n"}"#, "whitespace"),
            (br#"{"email": "a\u0007@c", "name": "n"}"#, "control"),
            (long_email.as_bytes(), "longer than 255"),
            (br#"{"email": "a@b", "name": "   "}"#, "name is empty"),
            (long_name.as_bytes(), "longer than 255"),
            (br#"{"email": "a@b", "name": "a\u0000b"}"#, "control"),
            (
                br#"{"email": "a@b", "name": "\u200b"}"#,
                "no visible character",
            ),
            (
                br#"{"email": "a@b", "name": "\u200b \ufeff\u2060"}"#,
                "no visible character",
            ),
            (
                br#"{"email": "a@b", "name": "\u202e"}"#,
                "direction overrides",
            ),
            (
                br#"{"email": "a@b", "name": "ad\u202enimda"}"#,
                "direction overrides",
            ),
            (br#"{"email": "a@b", "name": "\u2028"}"#, "name is empty"),
            (
                br#"{"email": "a@b", "name": "line\u2028break"}"#,
                "line separators",
            ),
            (br#"{"email": "a\u200b@b", "name": "n"}"#, "invisible"),
            (
                br#"{"email": "a@b", "name": "n", "user_id": 0}"#,
                "positive 32-bit",
            ),
            (
                br#"{"email": "a@b", "name": "n", "user_id": -3}"#,
                "positive 32-bit",
            ),
            (
                br#"{"email": "a@b", "name": "n", "user_id": 2147483648}"#,
                "positive 32-bit",
            ),
            (
                br#"{"email": "a@b", "name": "n", "user_id": 1.5}"#,
                "positive 32-bit",
            ),
            (
                br#"{"email": "a@b", "name": "n", "user_id": "7"}"#,
                "positive 32-bit",
            ),
        ];
        for (data, expected) in cases {
            let error = parse_user(data)
                .expect_err(&String::from_utf8_lossy(data))
                .to_string();
            assert!(
                error.contains(expected),
                "{:?}: {error:?} lacks {expected:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn a_field_ingest_reads_may_be_given_once_and_others_are_not_looked_at() {
        for (json, field) in [
            (r#"{"email": "a@b", "name": "n", "email": "c@d"}"#, "email"),
            (
                r#"{"user_id": null, "email": "a@b", "name": "n", "user_id": 3}"#,
                "user_id",
            ),
            (r#"{"name": "n", "email": "a@b", "na\u006de": "m"}"#, "name"),
            // The first field repeated is named, whatever else is wrong.
            (r#"{"name": 1, "name": 2, "email": 3, "email": 4}"#, "name"),
        ] {
            assert_eq!(user(json), Err(InvalidUser::Repeated(field)), "{json}");
        }
        let ignored = r#"{"email": "a@b", "name": "n", "x": 1, "x": {"y": 1, "y": 2}}"#;
        assert!(user(ignored).is_ok());
        // Data that is not JSON says so before anything else.
        let broken = r#"{"email": "a@b", "email": "c@d", "name": "#;
        assert!(matches!(user(broken), Err(InvalidUser::NotJson(_))));
    }

    #[test]
    fn one_leading_byte_order_mark_is_ignored() {
        let json = r#"{"email": "a@b", "name": "n"}"#;
        assert!(user(&format!("\u{FEFF}{json}")).is_ok());
        assert_eq!(user("\u{FEFF}[1]"), Err(InvalidUser::NotAnObject));
        for text in [
            "\u{FEFF}",
            "\u{FEFF}\u{FEFF}{}",
            " \u{FEFF}{}",
            "{}\u{FEFF}",
        ] {
            assert!(
                matches!(user(text), Err(InvalidUser::NotJson(_))),
                "{text:?}"
            );
        }
    }

    #[test]
    fn only_an_object_is_a_user_and_only_json_is_json() {
        for text in ["null", "1", "-0.5e3", "\"s\"", "true", "[]", " [1, {}]\n"] {
            assert_eq!(user(text), Err(InvalidUser::NotAnObject), "{text:?}");
        }
        for text in ["", " ", "[1, 2", "{", "{} x", "nul", "{\"email\" 1}"] {
            assert!(
                matches!(user(text), Err(InvalidUser::NotJson(_))),
                "{text:?}"
            );
        }
    }

    mod against_the_previous_decoder {
        use super::super::*;
        use proptest::prelude::*;

        /// The decoder before issue 31 (item 10): a whole `Value`, the last of a repeated
        /// field winning. On data without one, the two must agree exactly.
        fn previous(text: &str) -> Result<UserMessage, InvalidUser> {
            let value: Value =
                serde_json::from_str(text).map_err(|e| InvalidUser::NotJson(e.to_string()))?;
            let Value::Object(fields) = value else {
                return Err(InvalidUser::NotAnObject);
            };
            Ok(UserMessage {
                user_id: user_id(fields.get("user_id"))?,
                email: email(text_field(fields.get("email"), "email")?)?,
                name: name(text_field(fields.get("name"), "name")?)?,
            })
        }

        fn any_value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
                "[a-z@. \u{200b}]{0,8}".prop_map(Value::from),
            ];
            leaf.prop_recursive(3, 16, 4, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::btree_map("[a-z_]{1,7}", inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn any_field() -> impl Strategy<Value = Option<Value>> {
            proptest::option::of(prop_oneof![
                any_value(),
                (1..=i32::MAX).prop_map(Value::from),
                "[a-z]{1,5}@[a-z]{1,5}".prop_map(Value::from),
            ])
        }

        proptest! {
            #[test]
            fn agrees_where_no_field_is_repeated(
                user_id in any_field(),
                email in any_field(),
                name in any_field(),
                others in any_value(),
            ) {
                let mut object = match others {
                    Value::Object(map) => map,
                    other => [("other".to_owned(), other)].into_iter().collect(),
                };
                for (key, value) in [("user_id", user_id), ("email", email), ("name", name)] {
                    match value {
                        Some(value) => object.insert(key.to_owned(), value),
                        None => object.remove(key),
                    };
                }
                let text = Value::Object(object).to_string();
                prop_assert_eq!(parse_user(text.as_bytes()), previous(&text), "{}", text);
            }

            #[test]
            fn agrees_on_any_value(value in any_value()) {
                let text = value.to_string();
                prop_assert_eq!(parse_user(text.as_bytes()), previous(&text), "{}", text);
            }
        }
    }
}
