//! The response body type every handler returns: boxed, so a function can answer with a
//! buffer or stream rows as they come.

use bytes::Bytes;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt};

/// A body that is one buffer, as a service served by
/// [`Function::service`](crate::Function::service) gets its request's.
pub use http_body_util::Full;

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

/// The whole of `body`, read into one buffer: what a test reads a response with.
pub async fn to_bytes(body: Body) -> Result<Bytes, BoxError> {
    Ok(body.collect().await?.to_bytes())
}

/// A 200 response with `value` as its JSON body (`application/json`). A value that cannot be
/// JSON (a map with non-string keys, say) is the function's bug: an internal error.
pub fn json_response<T: serde::Serialize + ?Sized>(
    value: &T,
) -> Result<http::Response<Body>, crate::FunctionError> {
    let bytes = serde_json::to_vec(value).map_err(|e| {
        crate::FunctionError::Internal(format!("the function's result is not JSON: {e}"))
    })?;
    Ok(json_bytes(http::StatusCode::OK, bytes))
}

/// A response of `status` whose body is `bytes`, already JSON.
pub(crate) fn json_bytes(status: http::StatusCode, bytes: Vec<u8>) -> http::Response<Body> {
    let mut response = http::Response::new(full(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    response
}
