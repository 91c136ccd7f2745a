//! The user a message carries: UTF-8 JSON `{"email": ..., "name": ..., "user_id": 7}`, with
//! `user_id` optional and unknown fields ignored, checked against the rules below.

use std::fmt;

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
    let value: Value =
        serde_json::from_str(text).map_err(|e| InvalidUser::NotJson(e.to_string()))?;
    let Value::Object(fields) = value else {
        return Err(InvalidUser::NotAnObject);
    };
    let text_field = |name: &'static str| match fields.get(name) {
        None | Some(Value::Null) => Err(InvalidUser::Missing(name)),
        Some(Value::String(s)) => Ok(s.as_str()),
        Some(_) => Err(InvalidUser::NotAString(name)),
    };
    Ok(UserMessage {
        user_id: user_id(fields.get("user_id"))?,
        email: email(text_field("email")?)?,
        name: name(text_field("name")?)?,
    })
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
}
