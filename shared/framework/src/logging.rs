//! Logs through `log` + `env_logger`: one JSON object a line in Cloud Logging's structured
//! format on Cloud Run (or with `LOG_FORMAT=json`), readable text elsewhere.
//!
//! Logging never makes a request wait for stderr: lines go through a bounded queue to a
//! thread that writes them (see `writer`); a reader that stalls costs dropped lines, counted
//! and said once it reads again, not a stalled server.
//!
//! The trace of the request being served is kept in a task-local, so every line logged while
//! serving it carries `logging.googleapis.com/trace` and Cloud Logging groups them.

use std::{future::Future, io::Write};

use env_logger::{Target, WriteStyle};
use http::HeaderMap;
use log::Level;

#[cfg(feature = "tracing")]
mod fields;
#[cfg(feature = "tracing")]
mod from_tracing;
mod writer;

tokio::task_local! {
    static TRACE: Option<String>;
}

/// Sets up logging once per process; later calls do nothing. `RUST_LOG` is honoured (default
/// `info`). Panics are logged too, so a crash shows up as an ERROR entry. Lines are written
/// by a thread of their own, in order; at most 256 KiB of them wait, and the process writes
/// them before it exits (for up to 2 s).
pub fn init() {
    init_with_default_level("info")
}

/// As [`init`], with `level` when `RUST_LOG` is unset (a command-line tool's "warn", say).
pub fn init_with_default_level(level: &str) {
    let json = std::env::var_os("K_SERVICE").is_some()
        || std::env::var("LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or(level));
    if json {
        let service = service_context();
        builder.format(move |out, record| {
            let line = json_line(record, service.as_ref());
            writeln!(out, "{line}")
        });
    } else if std::env::var("RUST_LOG_STYLE").map_or(true, |s| s == "auto") {
        // What env_logger would pick for stderr itself: it cannot tell through the queue.
        let style: WriteStyle = anstream::AutoStream::choice(&std::io::stderr()).into();
        builder.write_style(style);
    }
    let queue = writer::LineQueue::new(writer::CAPACITY);
    builder.target(Target::Pipe(Box::new(writer::QueueWriter(queue.clone()))));
    if builder.try_init().is_ok() {
        writer::start(queue);
        #[cfg(feature = "tracing")]
        from_tracing::install();
        std::panic::set_hook(Box::new(|info| {
            log::error!("panic: {info}");
        }));
    }
}

/// The Cloud Trace resource (`projects/P/traces/T`) a request's headers name, when the
/// project is known.
pub fn request_trace(headers: &HeaderMap) -> Option<String> {
    let trace_id = trace_id(headers)?;
    Some(format!("projects/{}/traces/{trace_id}", project_id()?))
}

/// Runs `future` with `trace` attached to every line it logs.
pub async fn in_trace<F: Future>(trace: Option<String>, future: F) -> F::Output {
    TRACE.scope(trace, future).await
}

fn json_line(record: &log::Record<'_>, service: Option<&serde_json::Value>) -> serde_json::Value {
    let mut entry = serde_json::json!({
        "severity": severity(record.level()),
        "message": record.args().to_string(),
        "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "target": record.target(),
    });
    if let Ok(Some(trace)) = TRACE.try_with(Clone::clone) {
        entry["logging.googleapis.com/trace"] = trace.into();
    }
    if let Some(context) = crate::Context::current() {
        context.add_log_fields(&mut entry);
    }
    if let Some(service) = service {
        entry["serviceContext"] = service.clone();
    }
    #[cfg(feature = "tracing")]
    fields::add(&mut entry, record.key_values());
    entry
}

fn severity(level: Level) -> &'static str {
    match level {
        Level::Error => "ERROR",
        Level::Warn => "WARNING",
        Level::Info => "INFO",
        Level::Debug | Level::Trace => "DEBUG",
    }
}

/// `K_SERVICE` and `K_REVISION` as Cloud Error Reporting expects them.
fn service_context() -> Option<serde_json::Value> {
    let service = std::env::var("K_SERVICE").ok()?;
    let mut context = serde_json::json!({ "service": service });
    if let Ok(revision) = std::env::var("K_REVISION") {
        context["version"] = revision.into();
    }
    Some(context)
}

/// The project whose traces the log lines point to.
/// Read once: on Cloud Run every request carries a trace header, so this is asked per request.
fn project_id() -> Option<&'static str> {
    static PROJECT: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    PROJECT
        .get_or_init(|| {
            ["GOOGLE_CLOUD_PROJECT", "GCP_PROJECT", "GCLOUD_PROJECT"]
                .iter()
                .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        })
        .as_deref()
}

/// The trace id of a W3C `traceparent` or an `X-Cloud-Trace-Context` header.
fn trace_id(headers: &HeaderMap) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let valid = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
    if let Some(parent) = header("traceparent") {
        // version-traceid-parentid-flags
        let id = parent.split('-').nth(1).unwrap_or_default();
        if valid(id) {
            return Some(id.to_ascii_lowercase());
        }
    }
    let id = header("x-cloud-trace-context")?.split('/').next()?;
    valid(id).then(|| id.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(name: &'static str, value: &'static str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_static(value));
        h
    }

    #[test]
    fn reads_trace_ids_from_either_header() {
        let w3c = headers(
            "traceparent",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
        );
        assert_eq!(
            trace_id(&w3c).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        let google = headers(
            "x-cloud-trace-context",
            "105445aa7843bc8bf206b12000100000/1;o=1",
        );
        assert_eq!(
            trace_id(&google).as_deref(),
            Some("105445aa7843bc8bf206b12000100000")
        );
        assert_eq!(trace_id(&headers("traceparent", "garbage")), None);
        assert_eq!(trace_id(&HeaderMap::new()), None);
    }

    #[tokio::test]
    async fn json_lines_carry_severity_message_and_trace() {
        let record = |level| {
            let args = format_args!("hello");
            let line = json_line(
                &log::Record::builder()
                    .level(level)
                    .args(args)
                    .target("t")
                    .build(),
                None,
            );
            line
        };
        let line = TRACE
            .scope(Some("projects/p/traces/abc".into()), async {
                record(Level::Warn)
            })
            .await;
        assert_eq!(line["severity"], "WARNING");
        assert_eq!(line["message"], "hello");
        assert_eq!(
            line["logging.googleapis.com/trace"],
            "projects/p/traces/abc"
        );
        let outside = record(Level::Error);
        assert_eq!(outside["severity"], "ERROR");
        assert!(outside.get("logging.googleapis.com/trace").is_none());
    }
}
