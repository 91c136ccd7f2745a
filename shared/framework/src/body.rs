//! The response body type every handler returns: boxed, so a function can answer with a
//! buffer or stream rows as they come.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full};

/// What a streamed body may fail with: any error, sent between threads.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A response body: a whole buffer or a stream of chunks.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A body that is one buffer.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}
