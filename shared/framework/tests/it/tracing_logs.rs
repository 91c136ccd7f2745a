//! With feature `tracing`, a handler's `tracing` events are the framework's log lines, read
//! from the stderr of a process of their own (logging is set up once a process): one that
//! serves a request in-process with `serve_a_request_that_emits_tracing_events`.

use std::process::{Command, Output};

use functions_framework::prelude::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const SPAN_ID: &str = "00f067aa0ba902b7";

/// What the process under test runs: logging as `Functions::run` starts it, then one request
/// whose handler emits an event below the level, one in a span and one beside it.
#[tokio::test]
#[ignore = "run by the tests below, in a process of its own"]
async fn serve_a_request_that_emits_tracing_events() {
    functions_framework::logging::init();
    let store = Function::http(|_request: Request| async {
        tracing::debug!(cache = "cold", "below RUST_LOG's level");
        let span = tracing::info_span!("save", table = "users", user_id = 0);
        span.in_scope(|| tracing::warn!(user_id = 7, retried = true, "slow"));
        tracing::info!(user_id = 7, ratio = 0.5, name = "Ada", "stored");
        Ok(Response::new(full("stored")))
    });
    let mut request = Request::new("".into());
    let traceparent = format!("00-{TRACE_ID}-{SPAN_ID}-01");
    request
        .headers_mut()
        .insert("traceparent", traceparent.parse().unwrap());
    request
        .headers_mut()
        .insert("function-execution-id", "exec-1".parse().unwrap());
    assert_eq!(store.call(request).await.status(), StatusCode::OK);
}

/// Runs that test in a new process of this binary with `env`; its stderr.
fn serve_in_a_process(env: &[(&str, &str)]) -> String {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args([
            "--exact",
            "tracing_logs::serve_a_request_that_emits_tracing_events",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("K_SERVICE")
        .env_remove("LOG_FORMAT")
        .env("RUST_LOG", "info")
        .env("RUST_LOG_STYLE", "never")
        .env("GOOGLE_CLOUD_PROJECT", "test-project");
    for (name, value) in env {
        command.env(name, value);
    }
    let Output { status, stderr, .. } = command.output().unwrap();
    let stderr = String::from_utf8(stderr).unwrap();
    assert!(status.success(), "the process failed: {stderr}");
    stderr
}

#[test]
fn a_tracing_event_is_one_json_line_with_its_fields_as_keys_and_the_requests_trace() {
    let stderr = serve_in_a_process(&[("LOG_FORMAT", "json")]);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let with_message = |message: &str| -> Vec<&serde_json::Value> {
        lines.iter().filter(|l| l["message"] == message).collect()
    };

    let stored = with_message("stored");
    assert_eq!(stored.len(), 1, "{stderr}");
    let stored = stored[0];
    assert_eq!(stored["user_id"], 7);
    assert_eq!(stored["ratio"], 0.5);
    assert_eq!(stored["name"], "Ada");
    assert_eq!(stored["severity"], "INFO");
    assert_eq!(
        stored["logging.googleapis.com/trace"],
        format!("projects/test-project/traces/{TRACE_ID}")
    );
    assert_eq!(stored["logging.googleapis.com/spanId"], SPAN_ID);
    assert_eq!(
        stored["logging.googleapis.com/labels"]["execution_id"],
        "exec-1"
    );
    assert_eq!(stored["target"], "it::tracing_logs");

    // In a span: the span's fields too, the event's own winning a name they share.
    let slow = with_message("slow");
    assert_eq!(slow.len(), 1, "{stderr}");
    assert_eq!(slow[0]["severity"], "WARNING");
    assert_eq!(slow[0]["table"], "users");
    assert_eq!(slow[0]["user_id"], 7);
    assert_eq!(slow[0]["retried"], true);

    assert!(
        with_message("below RUST_LOG's level").is_empty(),
        "{stderr}"
    );
}

#[test]
fn a_tracing_event_in_text_is_its_message_then_its_fields() {
    let stderr = serve_in_a_process(&[]);
    let stored: Vec<&str> = stderr.lines().filter(|l| l.contains("stored")).collect();
    assert_eq!(stored.len(), 1, "{stderr}");
    assert!(
        stored[0].ends_with("stored user_id=7 ratio=0.5 name=Ada"),
        "{}",
        stored[0]
    );
    assert!(stored[0].contains(" INFO "), "{}", stored[0]);
    assert!(!stderr.contains("below RUST_LOG's level"), "{stderr}");
}
