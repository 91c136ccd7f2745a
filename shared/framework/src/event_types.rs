//! The CloudEvent types of Google Cloud's events that this crate names: a leaf module, so the
//! decoders (`event`) and the typed payloads (`pubsub`, `events`) share them without
//! depending on each other.

/// A message published to a Pub/Sub topic (Eventarc, and raw push bodies converted).
pub const MESSAGE_PUBLISHED: &str = "google.cloud.pubsub.topic.v1.messagePublished";
