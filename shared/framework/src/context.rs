//! What the platform says about the request being served, for any handler of any signature
//! type to ask, without taking it as an argument: [`Context::current`].

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher, Hasher},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc, Mutex, OnceLock,
    },
    time::{Duration, Instant},
};

use http::{HeaderMap, StatusCode};

tokio::task_local! {
    static CURRENT: Arc<Context>;
}

/// The request being served: its trace, its execution id, its deadline, and (for event
/// functions) its headers.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use functions_framework::{prelude::*, Context};
///
/// let on_event = Function::cloudevent(|event: Event| async move {
///     let context = Context::current().expect("inside a handler");
///     let trace = context.trace().map(|t| t.trace_id.clone()).unwrap_or_default();
///     log::info!("event {} in trace {trace}, execution {}", event.id(), context.execution_id());
///     if context.remaining().is_some_and(|left| left.as_secs() < 5) {
///         return Err(FunctionError::unavailable("too little time left", 1));
///     }
///     Ok(())
/// });
/// # let event = PubsubMessage::new("1", "").to_event("projects/p/topics/t").unwrap();
/// # assert_eq!(on_event.call_event(&event).await.status(), StatusCode::OK);
/// # }
/// ```
#[derive(Debug)]
pub struct Context {
    headers: HeaderMap,
    trace: Option<Trace>,
    given_execution_id: Option<String>,
    execution_id: OnceLock<String>,
    received: Instant,
    deadline: Option<Instant>,
    status: Mutex<Option<StatusCode>>,
}

/// A request's place in a distributed trace, from its `traceparent` (W3C) or
/// `X-Cloud-Trace-Context` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    /// The trace id: 32 lowercase hex digits.
    pub trace_id: String,
    /// The caller's span id, 16 lowercase hex digits (`X-Cloud-Trace-Context`'s decimal one
    /// converted), when given.
    pub span_id: Option<String>,
    /// Whether the caller sampled the trace.
    pub sampled: bool,
}

/// The header Cloud Functions sends an execution id in.
const EXECUTION_ID: &str = "function-execution-id";
/// The header Cloud Functions (1st gen) sends the time left in, in milliseconds.
const TIMEOUT_MS: &str = "x-appengine-timeout-ms";

impl Context {
    /// The context of the request this task serves; `None` outside a handler.
    pub fn current() -> Option<Arc<Context>> {
        CURRENT.try_with(Arc::clone).ok()
    }

    /// Reads what the request's headers say. `timeout` is the service's request timeout, when
    /// the configuration knows it (`REQUEST_TIMEOUT_SECS`); `keep_headers`, whether the
    /// handler would not see them otherwise (an event function).
    pub(crate) fn of(headers: &HeaderMap, timeout: Option<Duration>, keep_headers: bool) -> Self {
        let received = Instant::now();
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let told = text(TIMEOUT_MS)
            .and_then(|ms| ms.trim().parse().ok())
            .map(Duration::from_millis);
        Self {
            headers: if keep_headers {
                headers.clone()
            } else {
                HeaderMap::new()
            },
            trace: trace_of(headers),
            given_execution_id: text(EXECUTION_ID)
                .filter(|id| !id.is_empty() && id.len() <= 128)
                .map(str::to_owned),
            execution_id: OnceLock::new(),
            received,
            deadline: told.or(timeout).map(|left| received + left),
            status: Mutex::new(None),
        }
    }

    /// Runs `future` as the handling of the request this context describes.
    pub(crate) async fn scope<F: std::future::Future>(self: Arc<Self>, future: F) -> F::Output {
        CURRENT.scope(self, future).await
    }

    /// The request's headers, for CloudEvent, Pub/Sub and background functions, whose
    /// handlers get no request (the `ce-` attributes, `Authorization`, what a proxy added). An
    /// HTTP function has them in its request: empty here, so they are not copied for nothing.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The request's trace, when its headers name one.
    pub fn trace(&self) -> Option<&Trace> {
        self.trace.as_ref()
    }

    /// The execution id: Cloud Functions' `Function-Execution-Id` header, or one made up for
    /// this request (16 hex digits), as the official frameworks do. Every JSON log line
    /// written while serving the request carries it.
    pub fn execution_id(&self) -> &str {
        self.given_execution_id
            .as_deref()
            .unwrap_or_else(|| self.execution_id.get_or_init(new_execution_id))
    }

    /// When the request arrived.
    pub fn received(&self) -> Instant {
        self.received
    }

    /// When the platform stops waiting for the answer: from Cloud Functions' time-left header
    /// (`X-AppEngine-Timeout-Ms`), else the configured `REQUEST_TIMEOUT_SECS` (set it to the
    /// Cloud Run service's `timeout`, which Cloud Run does not tell the container). `None`
    /// when neither says.
    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// The time left until [`Context::deadline`], zero once past it.
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline
            .map(|deadline| deadline.saturating_duration_since(Instant::now()))
    }

    /// For a typed function: answer with `status` (201, 202, ...) instead of 200. Ignored by
    /// the other signature types, whose handlers answer with a status of their own or none.
    pub fn set_status(&self, status: StatusCode) {
        *self.status.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
    }

    pub(crate) fn status_set(&self) -> Option<StatusCode> {
        *self.status.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds the execution id and span to a Cloud Logging JSON entry, beside the trace.
    pub(crate) fn add_log_fields(&self, entry: &mut serde_json::Value) {
        entry["logging.googleapis.com/labels"] =
            serde_json::json!({ "execution_id": self.execution_id() });
        if let Some(trace) = &self.trace {
            if let Some(span) = &trace.span_id {
                entry["logging.googleapis.com/spanId"] = span.as_str().into();
            }
            entry["logging.googleapis.com/trace_sampled"] = trace.sampled.into();
        }
    }
}

/// A request's trace: `traceparent` first, as Cloud Run forwards both.
fn trace_of(headers: &HeaderMap) -> Option<Trace> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    text("traceparent")
        .and_then(w3c_trace)
        .or_else(|| text("x-cloud-trace-context").and_then(google_trace))
}

fn hex_id(id: &str, len: usize) -> Option<String> {
    (id.len() == len && id.bytes().all(|b| b.is_ascii_hexdigit()) && id.bytes().any(|b| b != b'0'))
        .then(|| id.to_ascii_lowercase())
}

/// `version-traceid-parentid-flags`.
fn w3c_trace(header: &str) -> Option<Trace> {
    let mut parts = header.trim().split('-');
    let (_version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    Some(Trace {
        trace_id: hex_id(trace, 32)?,
        span_id: Some(hex_id(span, 16)?),
        sampled: u8::from_str_radix(flags, 16).is_ok_and(|f| f & 1 == 1),
    })
}

/// `TRACE_ID/SPAN_ID;o=OPTIONS`, the span id decimal and both after the trace optional.
fn google_trace(header: &str) -> Option<Trace> {
    let (ids, options) = header.trim().split_once(';').unwrap_or((header.trim(), ""));
    let (trace, span) = ids.split_once('/').unwrap_or((ids, ""));
    Some(Trace {
        trace_id: hex_id(trace, 32)?,
        span_id: span
            .parse::<u64>()
            .ok()
            .filter(|&s| s != 0)
            .map(|s| format!("{s:016x}")),
        sampled: options.trim() == "o=1",
    })
}

/// 16 hex digits no other request of this process gets: a counter, hashed with this
/// process's random keys so two instances do not count alike.
fn new_execution_id() -> String {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    static COUNT: AtomicU64 = AtomicU64::new(0);
    let mut hasher = KEYS.get_or_init(RandomState::new).build_hasher();
    hasher.write_u64(COUNT.fetch_add(1, Ordering::Relaxed));
    format!("{:016x}", hasher.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn context(pairs: &[(&'static str, &'static str)]) -> Context {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        Context::of(&headers, None, true)
    }

    #[test]
    fn reads_trace_and_span_from_either_header() {
        let w3c = context(&[(
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
        )]);
        assert_eq!(
            w3c.trace(),
            Some(&Trace {
                trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".into(),
                span_id: Some("00f067aa0ba902b7".into()),
                sampled: true,
            })
        );
        let google = context(&[(
            "x-cloud-trace-context",
            "105445aa7843bc8bf206b12000100000/12345;o=1",
        )]);
        let trace = google.trace().unwrap();
        assert_eq!(trace.trace_id, "105445aa7843bc8bf206b12000100000");
        assert_eq!(trace.span_id.as_deref(), Some("0000000000003039"));
        assert!(trace.sampled);
        let unsampled = context(&[("x-cloud-trace-context", "105445aa7843bc8bf206b12000100000")]);
        assert_eq!(unsampled.trace().unwrap().span_id, None);
        assert!(!unsampled.trace().unwrap().sampled);
        for garbage in [
            "garbage",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        ] {
            assert_eq!(
                context(&[("traceparent", garbage)]).trace(),
                None,
                "{garbage}"
            );
        }
    }

    #[test]
    fn execution_id_is_the_platforms_or_one_of_its_own() {
        let given = context(&[("function-execution-id", "pnxne66hamug")]);
        assert_eq!(given.execution_id(), "pnxne66hamug");
        let (a, b) = (context(&[]), context(&[]));
        assert_eq!(a.execution_id().len(), 16);
        assert_eq!(a.execution_id(), a.execution_id(), "one id a request");
        assert_ne!(a.execution_id(), b.execution_id());
    }

    #[test]
    fn the_deadline_is_what_the_platform_says_is_left_or_the_configured_timeout() {
        let told = context(&[("x-appengine-timeout-ms", "60000")]);
        let left = told.remaining().unwrap();
        assert!(left > Duration::from_secs(59) && left <= Duration::from_secs(60));
        assert_eq!(context(&[]).deadline(), None);
        let configured = Context::of(&HeaderMap::new(), Some(Duration::from_secs(300)), false);
        assert_eq!(
            configured.deadline(),
            Some(configured.received() + Duration::from_secs(300))
        );
    }

    #[test]
    fn log_entries_get_the_execution_id_and_span() {
        let context = context(&[
            ("function-execution-id", "e-1"),
            (
                "traceparent",
                "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
            ),
        ]);
        let mut entry = serde_json::json!({});
        context.add_log_fields(&mut entry);
        assert_eq!(
            entry,
            serde_json::json!({
                "logging.googleapis.com/labels": {"execution_id": "e-1"},
                "logging.googleapis.com/spanId": "00f067aa0ba902b7",
                "logging.googleapis.com/trace_sampled": false,
            })
        );
    }
}
