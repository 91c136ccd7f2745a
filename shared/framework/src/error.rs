//! The one error type of the framework and its one mapping to an HTTP response.
//!
//! A handler says what the platform should do with a failed request by the variant it
//! returns. Pub/Sub push (and so Eventarc) acknowledges only a success (102, 200, 201, 202,
//! 204) and redelivers on anything else, 4xx included, until the subscription's dead-letter
//! policy takes the message: so input that can never succeed is `Discarded` (200, kept
//! elsewhere), never a 4xx that would loop.

use std::fmt;

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};

use super::body::{full, Body};

/// Why a request did not succeed, and so what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FunctionError {
    /// The request is wrong and retrying will not help (400). The message is shown to the caller.
    BadRequest(String),
    /// Nothing is served at this path (404).
    NotFound(String),
    /// The method is not served here (405); `allow` lists those that are.
    MethodNotAllowed {
        /// The methods that are served, for the `Allow` header.
        allow: &'static str,
    },
    /// The body is larger than the configured limit (413).
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The body did not arrive within the body-read timeout (408); the connection is closed.
    RequestTimeout {
        /// How long the body was waited for.
        after: std::time::Duration,
    },
    /// A dependency is down or overloaded: retry later (503 with `Retry-After`).
    /// The reason is logged, never shown.
    Unavailable {
        /// Why, for the log.
        reason: String,
        /// What `Retry-After` says.
        retry_after_secs: u32,
    },
    /// The input can never succeed and was recorded elsewhere: acknowledge it (200) so it is not
    /// redelivered. The reason is logged at ERROR and returned.
    Discarded {
        /// What is wrong with the input, for the caller and the log.
        reason: String,
    },
    /// A bug or an unexpected failure (500, `X-Google-Status: error`). Logged, never shown.
    Internal(String),
}

impl FunctionError {
    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Discarded { .. } => StatusCode::OK,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The text the caller may see: input problems are explained, internal ones are not.
    fn public_message(&self) -> String {
        match self {
            Self::BadRequest(m) | Self::NotFound(m) => m.clone(),
            Self::MethodNotAllowed { allow } => format!("method not allowed; use {allow}"),
            Self::PayloadTooLarge { limit } => format!("request body is larger than {limit} bytes"),
            Self::RequestTimeout { after } => {
                format!(
                    "the request body did not arrive within {} s",
                    after.as_secs()
                )
            }
            Self::Unavailable { .. } => "temporarily unavailable; retry later".into(),
            Self::Discarded { reason } => reason.clone(),
            Self::Internal(_) => "internal error".into(),
        }
    }

    /// Logs what the operator needs to know, at the level the failure deserves.
    pub fn log(&self) {
        match self {
            Self::Internal(m) => log::error!("function failed: {m}"),
            Self::Unavailable { reason, .. } => {
                log::warn!("unavailable, asking for a retry: {reason}")
            }
            Self::Discarded { reason } => {
                log::error!("discarded a message that can never succeed: {reason}")
            }
            Self::BadRequest(m) => log::info!("bad request: {m}"),
            Self::PayloadTooLarge { limit } => {
                log::info!("request body over the {limit}-byte limit")
            }
            Self::RequestTimeout { after } => {
                log::info!("request body not received within {} s", after.as_secs())
            }
            Self::NotFound(_) | Self::MethodNotAllowed { .. } => {}
        }
    }

    /// The response the platform sees: a short JSON body and the headers the status calls for.
    pub fn into_response(self) -> Response<Body> {
        let body = match &self {
            Self::Discarded { reason } => {
                serde_json::json!({ "status": "discarded", "reason": reason })
            }
            other => serde_json::json!({ "error": other.public_message() }),
        };
        let mut response = json_response(self.status(), &body);
        let headers = response.headers_mut();
        match &self {
            Self::MethodNotAllowed { allow } => {
                headers.insert(header::ALLOW, HeaderValue::from_static(allow));
            }
            Self::Unavailable {
                retry_after_secs, ..
            } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            Self::Internal(_) => {
                headers.insert(GOOGLE_STATUS, HeaderValue::from_static("error"));
            }
            // The rest of the body may still be on its way: this connection cannot be reused.
            Self::RequestTimeout { .. } => {
                headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        response
    }
}

/// The answer to a handler that panicked: a 500 like [`FunctionError::Internal`]'s, marked
/// `crash` instead of `error`, as the official frameworks mark it.
pub(crate) fn crash_response() -> Response<Body> {
    let mut response = FunctionError::Internal(String::new()).into_response();
    response
        .headers_mut()
        .insert(GOOGLE_STATUS, HeaderValue::from_static("crash"));
    response
}

/// Every error response is this: `status` and a small JSON body.
fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The header the Functions Framework uses to tell the platform a function failed or crashed.
const GOOGLE_STATUS: &str = "x-google-status";

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { reason, .. } => write!(f, "unavailable: {reason}"),
            Self::Internal(m) => write!(f, "internal error: {m}"),
            other => write!(f, "{} ({})", other.public_message(), other.status()),
        }
    }
}

impl std::error::Error for FunctionError {}
