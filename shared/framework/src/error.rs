//! The one error type of the framework and its one mapping to an HTTP response.
//!
//! A handler says what the platform should do with a failed request by the variant it
//! returns, or by `?` on any other error: that is a bug or an unexpected failure, answered
//! 500 and logged with its whole source chain. Pub/Sub push (and so Eventarc) acknowledges only a success (102, 200, 201, 202,
//! 204) and redelivers on anything else, 4xx included, until the subscription's dead-letter
//! policy takes the message: so input that can never succeed is `Discarded` (200, kept
//! elsewhere), never a 4xx that would loop.

use std::{
    fmt,
    sync::Mutex,
    time::{Duration, Instant},
};

use http::{header, HeaderValue, Response, StatusCode};

use super::body::{json_bytes, Body, BoxError};

/// Why a request did not succeed, and so what the caller should do about it.
///
/// `?` turns any error into one: the framework's own input errors keep their meaning (a
/// [`PayloadError`](crate::pubsub::PayloadError) is `Discarded`, a
/// [`DataError`](crate::DataError) a `BadRequest`), anything else is `Internal`, its source
/// chain kept for the log. The short constructors say the rest:
///
/// ```
/// use functions_framework::{FunctionError, http::StatusCode};
///
/// fn parse(body: &[u8]) -> Result<serde_json::Value, FunctionError> {
///     Ok(serde_json::from_slice(body)?) // a 500 if it fails: the caller did nothing wrong
/// }
/// assert_eq!(parse(b"{").unwrap_err().status(), StatusCode::INTERNAL_SERVER_ERROR);
///
/// let refused = FunctionError::with_status(StatusCode::CONFLICT, "user 7 exists");
/// assert_eq!(refused.status(), StatusCode::CONFLICT);
/// assert_eq!(FunctionError::bad_request("no name").status(), StatusCode::BAD_REQUEST);
/// assert_eq!(FunctionError::not_found("no user 7").status(), StatusCode::NOT_FOUND);
/// ```
///
/// It is not a [`std::error::Error`] itself, so that `?` can take every error that is (as
/// `anyhow::Error` is not one, for the same reason).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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
    /// Any other error status a handler chose ([`FunctionError::with_status`]: 401, 403, 409,
    /// 429, 502, ...). A 4xx's message is shown to the caller; a 5xx's is logged, never shown.
    Status {
        /// The status, 400 to 599.
        status: StatusCode,
        /// What went wrong.
        message: String,
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
    /// A 400: the request is wrong, and `message` (shown to the caller) says how.
    /// `.map_err(FunctionError::bad_request)` makes one of any error.
    pub fn bad_request(message: impl fmt::Display) -> Self {
        Self::BadRequest(message.to_string())
    }

    /// A 404: nothing here by that name; `message` is shown to the caller.
    pub fn not_found(message: impl fmt::Display) -> Self {
        Self::NotFound(message.to_string())
    }

    /// A 500: a bug or an unexpected failure; `message` is logged, never shown.
    pub fn internal(message: impl fmt::Display) -> Self {
        Self::Internal(message.to_string())
    }

    /// Input that can never succeed, acknowledged (200) so it is not redelivered; logged at
    /// ERROR with `reason`.
    pub fn discarded(reason: impl fmt::Display) -> Self {
        Self::Discarded {
            reason: reason.to_string(),
        }
    }

    /// A 503 with `Retry-After: retry_after_secs`: try again later; `reason` is logged.
    pub fn unavailable(reason: impl fmt::Display, retry_after_secs: u32) -> Self {
        Self::Unavailable {
            reason: reason.to_string(),
            retry_after_secs,
        }
    }

    /// An error answered with `status`: a 4xx's `message` is shown to the caller, a 5xx's only
    /// logged. 400, 404 and 500 are the variants of their own; a status that is not an error
    /// (below 400) is the function's bug, answered 500.
    pub fn with_status(status: StatusCode, message: impl fmt::Display) -> Self {
        match status {
            StatusCode::BAD_REQUEST => Self::bad_request(message),
            StatusCode::NOT_FOUND => Self::not_found(message),
            StatusCode::INTERNAL_SERVER_ERROR => Self::internal(message),
            status if status.is_client_error() || status.is_server_error() => Self::Status {
                status,
                message: message.to_string(),
            },
            status => Self::Internal(format!("{status} is not an error status: {message}")),
        }
    }

    /// Any error, as `?` converts it: see the type's documentation.
    fn from_any(error: BoxError) -> Self {
        // A Pub/Sub payload that can never be read never will be: acknowledged as discarded
        // (200, logged at ERROR), so Pub/Sub does not redeliver it until the subscription
        // gives up.
        let error = match error.downcast::<crate::pubsub::PayloadError>() {
            Ok(payload) => return Self::discarded(payload),
            Err(other) => other,
        };
        let error = match error.downcast::<crate::DataError>() {
            Ok(data) => return Self::BadRequest(data.to_string()),
            Err(other) => other,
        };
        Self::Internal(chain(&*error))
    }

    /// Whether the caller was at fault (a 4xx): what a Pub/Sub function discards.
    pub fn is_client_error(&self) -> bool {
        self.status().is_client_error()
    }

    /// The status code this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Status { status, .. } => *status,
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

    /// The text the caller may see: input problems are explained, internal ones are not. What
    /// a sender sent is repeated at most [`SHOWN_CHARS`] characters.
    fn public_message(&self) -> String {
        match self {
            Self::BadRequest(m) | Self::NotFound(m) => clipped(m),
            Self::MethodNotAllowed { allow } => format!("method not allowed; use {allow}"),
            Self::PayloadTooLarge { limit } => format!("request body is larger than {limit} bytes"),
            Self::RequestTimeout { after } => {
                format!(
                    "the request body did not arrive within {} s",
                    after.as_secs()
                )
            }
            Self::Unavailable { .. } => "temporarily unavailable; retry later".into(),
            Self::Status { status, message } if status.is_client_error() => clipped(message),
            Self::Status { status, .. } => status
                .canonical_reason()
                .unwrap_or("server error")
                .to_ascii_lowercase(),
            Self::Discarded { reason } => clipped(reason),
            Self::Internal(_) => "internal error".into(),
        }
    }

    /// Logs what the operator needs to know, at the level the failure deserves. A client's
    /// mistakes (400, 408, 413) are logged at INFO at most [`CLIENT_ERRORS_LOGGED`] times a
    /// minute, and the next line says how many were left out: a flood of bad requests
    /// cannot become a flood of log lines. A 503 is logged at WARN when its reason is new,
    /// then at most once a minute for the same reason, saying how many were not: an outage
    /// is a line when it starts, not a line per request.
    pub fn log(&self) {
        match self {
            Self::Internal(m) => log::error!("function failed: {}", clipped(m)),
            Self::Status { status, message } if status.is_server_error() => {
                log::error!("function failed with {status}: {}", clipped(message))
            }
            Self::Unavailable { reason, .. } => {
                let reason = clipped(reason);
                if let Some(repeats) = unavailable_log_allowed(&reason, Instant::now()) {
                    let more = match repeats {
                        0 => String::new(),
                        n => format!(" ({n} more 503s for this reason since it was last logged)"),
                    };
                    log::warn!("unavailable, asking for a retry: {reason}{more}")
                }
            }
            Self::Discarded { reason } => {
                log::error!(
                    "discarded a message that can never succeed: {}",
                    clipped(reason)
                )
            }
            Self::BadRequest(_)
            | Self::Status { .. }
            | Self::PayloadTooLarge { .. }
            | Self::RequestTimeout { .. } => {
                if let Some(left_out) = client_error_log_allowed(Instant::now()) {
                    let more = match left_out {
                        0 => String::new(),
                        n => format!(" ({n} more client errors in the last minute not logged)"),
                    };
                    log::info!("{}{more}", self.client_error_line());
                }
            }
            Self::NotFound(_) | Self::MethodNotAllowed { .. } => {}
        }
    }

    fn client_error_line(&self) -> String {
        match self {
            Self::BadRequest(m) => format!("bad request: {}", clipped(m)),
            Self::Status { status, message } => format!("{status}: {}", clipped(message)),
            Self::PayloadTooLarge { limit } => format!("request body over the {limit}-byte limit"),
            Self::RequestTimeout { after } => {
                format!("request body not received within {} s", after.as_secs())
            }
            other => other.to_string(),
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
        let mut response = json_bytes(self.status(), body.to_string().into_bytes());
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
            Self::Status { status, .. } if status.is_server_error() => {
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

/// Most characters of a message that a response or a log line repeats: what a sender sent
/// (a 60 KB query parameter, a 300 KB event type) is not echoed whole.
pub const SHOWN_CHARS: usize = 300;

/// `text`, cut after [`SHOWN_CHARS`] characters with a note of its whole length.
pub fn clipped(text: &str) -> String {
    match text.char_indices().nth(SHOWN_CHARS) {
        Some((end, _)) => format!("{}… ({} bytes in all)", &text[..end], text.len()),
        None => text.to_owned(),
    }
}

/// Client errors logged a minute, at most.
pub const CLIENT_ERRORS_LOGGED: u32 = 10;

/// One budget per process: `Some(left out since the last logged line)` when this one may be
/// logged.
fn client_error_log_allowed(now: Instant) -> Option<u64> {
    static BUDGET: Mutex<Option<LogBudget>> = Mutex::new(None);
    let mut budget = BUDGET.lock().unwrap_or_else(|e| e.into_inner());
    budget.get_or_insert_with(|| LogBudget::new(now)).allow(now)
}

/// Reasons of 503s remembered, at most: past it the one logged longest ago is forgotten.
const UNAVAILABLE_REASONS_KEPT: usize = 16;

/// One memory per process: `Some(repeats not logged since it last was)` when a 503 with
/// `reason` may be logged now.
fn unavailable_log_allowed(reason: &str, now: Instant) -> Option<u64> {
    static SEEN: Mutex<Vec<SeenReason>> = Mutex::new(Vec::new());
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    allow_reason(&mut seen, reason, now)
}

/// A 503 reason, when it was last logged, and how many times it came since.
#[derive(Debug)]
struct SeenReason {
    reason: String,
    logged_at: Instant,
    repeats: u64,
}

fn allow_reason(seen: &mut Vec<SeenReason>, reason: &str, now: Instant) -> Option<u64> {
    if let Some(entry) = seen.iter_mut().find(|entry| entry.reason == reason) {
        if now.duration_since(entry.logged_at) < LogBudget::WINDOW {
            entry.repeats += 1;
            return None;
        }
        entry.logged_at = now;
        return Some(std::mem::take(&mut entry.repeats));
    }
    if seen.len() >= UNAVAILABLE_REASONS_KEPT {
        if let Some(oldest) = (0..seen.len()).min_by_key(|&i| seen[i].logged_at) {
            seen.swap_remove(oldest);
        }
    }
    seen.push(SeenReason {
        reason: reason.to_owned(),
        logged_at: now,
        repeats: 0,
    });
    Some(0)
}

/// At most [`CLIENT_ERRORS_LOGGED`] lines in each minute, counting what is left out.
#[derive(Debug)]
struct LogBudget {
    window_start: Instant,
    logged: u32,
    left_out: u64,
}

impl LogBudget {
    const WINDOW: Duration = Duration::from_secs(60);

    fn new(now: Instant) -> Self {
        Self {
            window_start: now,
            logged: 0,
            left_out: 0,
        }
    }

    fn allow(&mut self, now: Instant) -> Option<u64> {
        if now.duration_since(self.window_start) >= Self::WINDOW {
            self.window_start = now;
            self.logged = 0;
        }
        if self.logged < CLIENT_ERRORS_LOGGED {
            self.logged += 1;
            Some(std::mem::take(&mut self.left_out))
        } else {
            self.left_out += 1;
            None
        }
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
/// The header the Functions Framework uses to tell the platform a function failed or crashed.
const GOOGLE_STATUS: &str = "x-google-status";

impl fmt::Display for FunctionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unavailable { reason, .. } => write!(f, "unavailable: {reason}"),
            Self::Internal(m) => write!(f, "internal error: {m}"),
            Self::Status { status, message } => write!(f, "{message} ({status})"),
            other => write!(f, "{} ({})", other.public_message(), other.status()),
        }
    }
}

/// `?` on any error: see [`FunctionError`]'s documentation for what each becomes.
impl<E: Into<BoxError>> From<E> for FunctionError {
    fn from(error: E) -> Self {
        Self::from_any(error.into())
    }
}

/// `error` and each of its sources, `: `-separated, as `anyhow`'s `{:#}` shows them.
fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        // Some errors repeat their source's text in their own; say it once.
        if !text.ends_with(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_a_sender_sent_is_repeated_clipped() {
        let long = "x".repeat(60_000);
        let error = FunctionError::BadRequest(format!("limit must be a number, not {long:?}"));
        let shown = error.public_message();
        assert!(shown.len() < SHOWN_CHARS * 2, "{} bytes", shown.len());
        assert!(shown.ends_with("(60030 bytes in all)"), "{shown}");
        assert_eq!(clipped("short"), "short");
        // Cut on a character, not inside one.
        assert!(clipped(&"é".repeat(400)).starts_with(&"é".repeat(SHOWN_CHARS)));
    }

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn any_error_is_internal_with_its_source_chain() {
        let nested = Layer(
            "saving user 7",
            Some(Box::new(Layer(
                "connection reset",
                Some(Box::new(Layer("os error 104", None))),
            ))),
        );
        let error = FunctionError::from(nested);
        assert_eq!(
            error,
            FunctionError::Internal("saving user 7: connection reset: os error 104".into())
        );
        assert_eq!(error.public_message(), "internal error");
        // Strings too, as `Box<dyn Error>` takes them.
        assert_eq!(
            FunctionError::from("plain"),
            FunctionError::Internal("plain".into())
        );
    }

    #[test]
    fn the_frameworks_own_input_errors_keep_their_meaning() {
        let unreadable = crate::pubsub::PayloadError::Missing;
        assert_eq!(
            FunctionError::from(unreadable),
            FunctionError::discarded("the event has no data")
        );
        assert_eq!(
            FunctionError::with_status(StatusCode::CREATED, "made").status(),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            FunctionError::with_status(StatusCode::BAD_REQUEST, "x"),
            FunctionError::BadRequest("x".into())
        );
    }

    #[test]
    fn client_errors_are_logged_ten_a_minute_and_the_rest_counted() {
        let start = Instant::now();
        let mut budget = LogBudget::new(start);
        let allowed: Vec<_> = (0..1000).filter_map(|_| budget.allow(start)).collect();
        assert_eq!(allowed, vec![0; CLIENT_ERRORS_LOGGED as usize]);
        // The next minute's first line says how many were left out.
        assert_eq!(budget.allow(start + Duration::from_secs(61)), Some(990));
        assert_eq!(budget.allow(start + Duration::from_secs(61)), Some(0));
    }

    #[test]
    fn a_503_reason_is_logged_when_new_then_once_a_minute_with_its_repeats() {
        let start = Instant::now();
        let mut seen = Vec::new();
        let read_only = "writing users: read-only (25006)";
        let allowed: Vec<_> = (0..500)
            .filter_map(|_| allow_reason(&mut seen, read_only, start))
            .collect();
        assert_eq!(allowed, [0], "one line, not one per request");
        // Another reason meanwhile is a change: said at once.
        assert_eq!(allow_reason(&mut seen, "pool exhausted", start), Some(0));
        assert_eq!(
            allow_reason(&mut seen, read_only, start + Duration::from_secs(61)),
            Some(499)
        );
        // What it remembers is bounded: the reason logged longest ago is forgotten first.
        for i in 0..100 {
            let later = start + Duration::from_secs(62 + i);
            assert_eq!(
                allow_reason(&mut seen, &format!("reason {i}"), later),
                Some(0)
            );
        }
        assert_eq!(seen.len(), UNAVAILABLE_REASONS_KEPT);
    }
}
