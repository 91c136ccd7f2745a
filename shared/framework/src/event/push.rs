//! Raw Pub/Sub push bodies (`{"message": {...}, "subscription": "..."}`, no `ce-` headers), as
//! the Pub/Sub emulator and plain push subscriptions send them, become the
//! `messagePublished` CloudEvent that Eventarc would have delivered.

use chrono::Utc;
use cloudevents::{Event, EventBuilder, EventBuilderV10};
use serde_json::{Map, Value};

use super::bad;
use crate::error::FunctionError;
use crate::{event_types::MESSAGE_PUBLISHED, pubsub::MessageIdentity};

pub(super) fn is_push(body: &Map<String, Value>) -> bool {
    matches!(body.get("message"), Some(Value::Object(_)))
}

pub(super) fn to_cloudevent(body: Map<String, Value>, path: &str) -> Result<Event, FunctionError> {
    let message = body.get("message").ok_or_else(|| bad("missing message"))?;
    let identity =
        MessageIdentity::read(message).map_err(|e| bad(format!("Pub/Sub push body: {e}")))?;
    let source = match topic_in_path(path) {
        Some(topic) => format!("//pubsub.googleapis.com/{topic}"),
        None => match body.get("subscription").and_then(Value::as_str) {
            Some(subscription) => format!("//pubsub.googleapis.com/{subscription}"),
            None => "//pubsub.googleapis.com/".to_owned(),
        },
    };
    EventBuilderV10::new()
        .id(identity.message_id)
        .ty(MESSAGE_PUBLISHED)
        .source(source)
        .time(identity.publish_time.unwrap_or_else(Utc::now))
        .data("application/json", Value::Object(body))
        .build()
        .map_err(|e| bad(format!("Pub/Sub push body: {e}")))
}

/// `projects/P/topics/T` when the push endpoint's path ends with it.
fn topic_in_path(path: &str) -> Option<&str> {
    let start = path.find("projects/")?;
    let rest = &path[start..];
    let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
    match parts.as_slice() {
        ["projects", project, "topics", topic] if !project.is_empty() && !topic.is_empty() => {
            Some(rest.trim_end_matches('/'))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::topic_in_path;

    #[test]
    fn finds_the_topic_in_a_push_path() {
        assert_eq!(
            topic_in_path("/projects/p/topics/t"),
            Some("projects/p/topics/t")
        );
        assert_eq!(
            topic_in_path("/projects/p/topics/t/"),
            Some("projects/p/topics/t")
        );
        assert_eq!(topic_in_path("/"), None);
        assert_eq!(topic_in_path("/projects/p/subscriptions/s"), None);
        assert_eq!(topic_in_path("/projects//topics/t"), None);
    }
}
