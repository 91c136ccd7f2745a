//! How letters are written for an operator: a table or JSON lines for a listing, a readable
//! page or one JSON object for one letter. Everything in a letter came from a sender, so text
//! shown on a terminal has its control characters escaped: a reason cannot move the cursor,
//! clear the screen or fake a line of output.

use std::io::{self, Write};

use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::json;
use shared::db::{KeptLetter, LetterSummary};

pub(super) fn list(out: &mut impl Write, letters: &[LetterSummary], json: bool) -> io::Result<()> {
    if json {
        for letter in letters {
            let line = json!({
                "id": letter.id,
                "message_id": letter.message_id,
                "publish_time": letter.publish_time,
                "received_at": letter.received_at,
                "replay_failed_at": letter.replay_failed_at,
                "payload_bytes": letter.payload_bytes,
                "reason": letter.reason,
            });
            writeln!(out, "{line}")?;
        }
        return Ok(());
    }
    if letters.is_empty() {
        return writeln!(out, "no dead letters");
    }
    writeln!(
        out,
        "{:>6}  {:<20}  {:>9}  {:<20}  REASON",
        "ID", "KEPT (UTC)", "BYTES", "MESSAGE ID"
    )?;
    for letter in letters {
        let replayed = match letter.replay_failed_at {
            Some(_) => "[replay failed] ",
            None => "",
        };
        writeln!(
            out,
            "{:>6}  {:<20}  {:>9}  {:<20}  {replayed}{}",
            letter.id,
            time(letter.received_at),
            letter.payload_bytes,
            one_line(&letter.message_id, 20),
            one_line(&letter.reason, 100),
        )?;
    }
    Ok(())
}

pub(super) fn show(out: &mut impl Write, kept: &KeptLetter, json: bool) -> io::Result<()> {
    let letter = &kept.letter;
    let text = std::str::from_utf8(&letter.payload).ok();
    if json {
        let object = json!({
            "id": kept.id,
            "delivery_key": letter.delivery_key.as_str(),
            "message_id": letter.message_id,
            "publish_time": letter.publish_time,
            "received_at": kept.received_at,
            "replay_failed_at": kept.replay_failed_at,
            "event_type": letter.event_type,
            "reason": letter.reason,
            "attributes": letter.attributes,
            "payload_base64": base64::engine::general_purpose::STANDARD.encode(&letter.payload),
            "payload_text": text,
        });
        return writeln!(out, "{}", terminal_safe_json(object.to_string()));
    }
    let never = || "never".to_owned();
    let rows = [
        ("id", kept.id.to_string()),
        ("delivery key", one_line(letter.delivery_key.as_str(), 300)),
        ("message id", one_line(&letter.message_id, 300)),
        (
            "published",
            letter
                .publish_time
                .map(time)
                .unwrap_or_else(|| "unknown".into()),
        ),
        ("kept", time(kept.received_at)),
        (
            "replay failed",
            kept.replay_failed_at.map(time).unwrap_or_else(never),
        ),
        ("reason", one_line(&letter.reason, 2_000)),
        (
            "attributes",
            terminal_safe_json(letter.attributes.to_string()),
        ),
    ];
    for (name, value) in rows {
        writeln!(out, "{:<14} {value}", format!("{name}:"))?;
    }
    if let Some(ty) = &letter.event_type {
        writeln!(
            out,
            "{:<14} {} (not a Pub/Sub message: the payload is the event's whole data)",
            "event type:",
            one_line(ty, 300)
        )?;
    }
    let size = letter.payload.len();
    match text {
        _ if size == 0 => writeln!(out, "payload:       empty"),
        Some(text) => match serde_json::from_str::<serde_json::Value>(text) {
            Ok(value) => writeln!(
                out,
                "payload ({size} bytes, JSON):\n{}",
                terminal_safe_json(serde_json::to_string_pretty(&value).unwrap_or_default())
            ),
            Err(_) => writeln!(
                out,
                "payload ({size} bytes, text):\n{}",
                escaped(text, true)
            ),
        },
        None => writeln!(
            out,
            "payload ({size} bytes, not UTF-8; base64):\n{}",
            base64::engine::general_purpose::STANDARD.encode(&letter.payload)
        ),
    }
}

pub(super) fn ids(ids: &[i64]) -> String {
    match ids.len() {
        0 => "none".into(),
        _ => ids.iter().map(i64::to_string).collect::<Vec<_>>().join(" "),
    }
}

/// `text` on one line, control characters escaped, at most `most` characters.
pub(super) fn one_line(text: &str, most: usize) -> String {
    let line = escaped(text, false);
    match line.char_indices().nth(most) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

/// Characters a terminal acts on instead of showing: C0 and C1 controls (U+009B is CSI, as
/// ESC [ is), and the marks and overrides that reorder the text around them.
fn hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{2028}' | '\u{2029}'
                | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

/// Serialized JSON with every [`hidden`] character as a `\uXXXX` escape: still valid JSON
/// with the same values (serde_json escapes only C0 controls; these all lie in the BMP).
fn terminal_safe_json(json: String) -> String {
    if !json.chars().any(hidden) {
        return json;
    }
    let mut shown = String::with_capacity(json.len() + 16);
    for c in json.chars() {
        if hidden(c) && c != '\n' {
            shown.push_str(&format!("\\u{:04x}", c as u32));
        } else {
            shown.push(c);
        }
    }
    shown
}

/// `text` with [`hidden`] characters as `\u{..}` escapes; line breaks and tabs kept when
/// `multiline`.
fn escaped(text: &str, multiline: bool) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        let kept = multiline && (c == '\n' || c == '\t');
        if hidden(c) && !kept {
            shown.extend(c.escape_unicode());
        } else {
            shown.push(c);
        }
    }
    shown
}

fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_from_a_sender_cannot_reach_the_terminal() {
        let hostile = "bad\x1b[2J\nFAKE OUTPUT\r\u{202E}txt";
        let line = one_line(hostile, 100);
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
        assert_eq!(line, "bad\\u{1b}[2J\\u{a}FAKE OUTPUT\\u{d}\\u{202e}txt");
        assert_eq!(escaped("a\nb\tc\x07", true), "a\nb\tc\\u{7}");
        assert_eq!(one_line("abcdef", 3), "abc…");
    }

    #[test]
    fn c1_controls_and_bidi_overrides_in_json_are_escaped_in_every_mode() {
        use shared::db::{DeadLetter, DeliveryKey};
        let hostile = "\u{9b}2J\u{202e}gpj.exe\u{200f}";
        let kept = KeptLetter {
            id: 7,
            received_at: Utc::now(),
            replay_failed_at: None,
            letter: DeadLetter {
                delivery_key: DeliveryKey::new("m1"),
                message_id: "m1".into(),
                publish_time: None,
                payload: serde_json::json!({ "name": hostile })
                    .to_string()
                    .into_bytes(),
                attributes: serde_json::json!({ hostile: hostile }),
                reason: format!("invalid name {hostile}"),
                event_type: None,
            },
        };
        for json in [false, true] {
            let mut out = Vec::new();
            show(&mut out, &kept, json).unwrap();
            let shown = String::from_utf8(out).unwrap();
            assert!(
                !shown.chars().any(|c| hidden(c) && c != '\n'),
                "json={json}: {shown:?}"
            );
            if json {
                let parsed: serde_json::Value = serde_json::from_str(&shown).unwrap();
                assert_eq!(parsed["attributes"][hostile], hostile, "the same values");
            }
        }
    }
}
