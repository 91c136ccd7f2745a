//! A log reader that stalls (stderr on a pipe nobody drains) must not stall serving: the real
//! binary, against real PostgreSQL, with many dead-lettered messages (an ERROR line each).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use base64::Engine;
use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;
use shared::testing::{stderr_lines, FunctionProcess, TestDatabase};

const INGEST: &str = env!("CARGO_BIN_EXE_ingest");
/// Each request of a burst must be answered within this; with a stalled logger none was.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// A message id long enough that its ERROR line is about 400 bytes, whole (under the 300
/// characters a reason is clipped to).
fn message_id(test: &str, n: usize) -> String {
    format!("{test}-{n:05}-{}", "x".repeat(180))
}

/// Delivers, as Eventarc would, a message whose data is not JSON: it is dead-lettered and
/// logged at ERROR with its id.
async fn deliver(process: &FunctionProcess, id: &str, data: &[u8]) -> Result<StatusCode, String> {
    let time = "2024-05-06T07:08:09.123Z";
    let body = json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(data),
            "messageId": id,
            "publishTime": time,
        },
        "subscription": "projects/demo/subscriptions/eventarc-ingest"
    });
    let headers = [
        ("ce-specversion", "1.0"),
        ("ce-id", id),
        (
            "ce-source",
            "//pubsub.googleapis.com/projects/demo/topics/ingestion-topic",
        ),
        ("ce-type", "google.cloud.pubsub.topic.v1.messagePublished"),
        ("content-type", "application/json"),
    ];
    let sent = process.send(Method::POST, "/", &headers, Bytes::from(body.to_string()));
    match tokio::time::timeout(ANSWER_WITHIN, sent).await {
        Ok(answer) => answer,
        Err(_) => Err(format!("no answer within {} s", ANSWER_WITHIN.as_secs())),
    }
}

/// Dead-letters every id, 64 deliveries at a time; a 503 (the database busy) is delivered
/// again, as Pub/Sub would. Each must end in a 200.
async fn dead_letter_all(process: &Arc<FunctionProcess>, ids: &[String]) {
    let at_once = Arc::new(tokio::sync::Semaphore::new(64));
    let sends: Vec<_> = ids
        .iter()
        .map(|id| {
            let (process, id, at_once) = (process.clone(), id.clone(), at_once.clone());
            tokio::spawn(async move {
                let _turn = at_once.acquire().await.unwrap();
                loop {
                    match deliver(&process, &id, b"not json").await {
                        Ok(StatusCode::SERVICE_UNAVAILABLE) => {
                            tokio::time::sleep(Duration::from_millis(100)).await
                        }
                        answer => return answer,
                    }
                }
            })
        })
        .collect();
    for (send, id) in sends.into_iter().zip(ids) {
        assert_eq!(send.await.unwrap(), Ok(StatusCode::OK), "{}", &id[..12]);
    }
}

/// How long `GET /` (405: ingest takes events) takes to be answered.
async fn time_get(process: &FunctionProcess) -> Duration {
    let started = Instant::now();
    let answer = tokio::time::timeout(
        ANSWER_WITHIN,
        process.send(Method::GET, "/", &[], Bytes::new()),
    )
    .await;
    assert_eq!(
        answer.ok(),
        Some(Ok(StatusCode::METHOD_NOT_ALLOWED)),
        "GET / got no answer within {} s",
        ANSWER_WITHIN.as_secs()
    );
    started.elapsed()
}

/// N of a text line saying `N log lines were dropped`.
fn dropped_count(line: &str) -> Option<u64> {
    let (_, message) = line.split_once("] ")?;
    let (count, rest) = message.split_once(' ')?;
    if rest.starts_with("log lines were dropped") {
        count.parse().ok()
    } else {
        None
    }
}

#[tokio::test]
async fn a_log_reader_that_stalls_does_not_stall_serving_and_is_told_what_was_dropped() {
    let db = TestDatabase::create().await;
    // ERROR only: every line is a dead letter's, or a count of dropped lines.
    let (process, stderr) =
        FunctionProcess::start_logging_to_pipe(INGEST, &db.config, &[("RUST_LOG", "error")]);
    let mut process = Arc::new(process);

    // Unstalled: the pipe still has room.
    let mut unstalled = Duration::ZERO;
    for _ in 0..5 {
        unstalled = unstalled.max(time_get(&process).await);
    }
    let warm: Vec<_> = (0..20).map(|n| message_id("warm", n)).collect();
    dead_letter_all(&process, &warm).await;

    // About 480 KB of lines: more than the pipe (64 KiB) and the log queue (256 KiB) hold.
    // Before, serving stopped once the pipe was full: no answer at all.
    let burst: Vec<_> = (0..1200).map(|n| message_id("burst", n)).collect();
    dead_letter_all(&process, &burst).await;

    // Still stalled: GET / and a valid message are answered about as fast as before it.
    let bound = (unstalled * 50).max(Duration::from_secs(1));
    let stalled = time_get(&process).await;
    assert!(
        stalled <= bound,
        "GET / took {stalled:?} with stderr stalled, {unstalled:?} before"
    );
    let user = json!({"user_id": 42, "email": "ada@example.com", "name": "Ada"}).to_string();
    assert_eq!(
        deliver(&process, "a-valid-one", user.as_bytes()).await,
        Ok(StatusCode::OK)
    );
    let stored: Option<String> = db
        .client
        .query_opt("SELECT name FROM users WHERE user_id = 42", &[])
        .await
        .unwrap()
        .map(|row| row.get(0));
    assert_eq!(stored.as_deref(), Some("Ada"));

    // The reader comes back: what was kept is written, then how many lines were dropped.
    let lines = stderr_lines(stderr);
    let mut seen = Vec::new();
    let counted = loop {
        match lines.recv_timeout(Duration::from_secs(30)) {
            Ok(line) => {
                let count = dropped_count(&line);
                seen.push(line);
                if count.is_some() {
                    break count;
                }
            }
            Err(_) => break None,
        }
    };
    assert!(
        counted.is_some_and(|n| n > 0),
        "no count of dropped lines after {} lines",
        seen.len()
    );

    // Every line was either written or counted as dropped.
    process.signal("TERM");
    let status = Arc::get_mut(&mut process)
        .unwrap()
        .wait_for_exit(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    seen.extend(lines.iter());
    let written = seen
        .iter()
        .filter(|line| line.contains("discarded a message that can never succeed"))
        .count() as u64;
    let dropped: u64 = seen.iter().filter_map(|line| dropped_count(line)).sum();
    let others: Vec<_> = seen
        .iter()
        .filter(|line| {
            !line.contains("discarded a message that can never succeed")
                && dropped_count(line).is_none()
        })
        .collect();
    assert!(others.is_empty(), "{others:?}");
    println!(
        "GET / in {unstalled:?} unstalled, {stalled:?} stalled; {written} lines written, {dropped} dropped"
    );
    assert_eq!(written + dropped, (warm.len() + burst.len()) as u64);
    // What the pipe and the queue hold together was kept: about 800 of these lines.
    assert!(written >= 600, "only {written} lines written");
}

#[tokio::test]
async fn lines_queued_when_the_process_is_stopped_are_written_before_it_exits() {
    let db = TestDatabase::create().await;
    let (process, stderr) = FunctionProcess::start_logging_to_pipe(
        INGEST,
        &db.config,
        &[("RUST_LOG", "info"), ("LOG_FORMAT", "json")],
    );
    let mut process = Arc::new(process);
    // About 160 KB of JSON lines: more than the pipe holds, less than the pipe and the queue.
    let ids: Vec<_> = (0..300).map(|n| message_id("stop", n)).collect();
    dead_letter_all(&process, &ids).await;

    // Stopped while its log reader is still stalled; the reader comes back only once the
    // process has stopped serving and is on its way out.
    process.signal("TERM");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lines: Vec<String> = stderr_lines(stderr).iter().collect();
    let status = Arc::get_mut(&mut process)
        .unwrap()
        .wait_for_exit(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");

    let entries: Vec<serde_json::Value> = lines
        .iter()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    let message = |entry: &serde_json::Value| entry["message"].as_str().unwrap_or("").to_owned();
    for id in &ids {
        let logged = entries
            .iter()
            .filter(|e| e["severity"] == "ERROR" && message(e).contains(id.as_str()))
            .count();
        assert_eq!(logged, 1, "{}", &id[..10]);
    }
    assert!(!entries.iter().any(|e| message(e).contains("were dropped")));
    // The shutdown's lines come after every dead letter's, in the order they were logged.
    let at = |wanted: &str| {
        entries
            .iter()
            .position(|e| message(e).starts_with(wanted))
            .unwrap_or_else(|| panic!("no {wanted:?} line"))
    };
    let last_dead_letter = entries
        .iter()
        .rposition(|e| e["severity"] == "ERROR")
        .unwrap();
    assert!(last_dead_letter < at("received SIGTERM"));
    assert!(at("received SIGTERM") < at("shutting down"));
    assert!(at("shutting down") < at("all in-flight requests finished"));
}
