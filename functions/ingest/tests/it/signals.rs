//! How the real binary takes the signals a process is sent: each of SIGTERM, SIGINT and
//! SIGHUP drains, in-flight requests first.

use std::{sync::mpsc::Receiver, time::Duration};

use base64::Engine;
use serde_json::json;
use shared::testing::{stderr_lines, FunctionProcess, TestDatabase};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

/// The first line `wanted` accepts, waiting up to 20 s for it.
fn wait_for_line(lines: &Receiver<String>, wanted: impl Fn(&str) -> bool) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.checked_duration_since(std::time::Instant::now())?;
        let line = lines.recv_timeout(left).ok()?;
        if wanted(&line) {
            return Some(line);
        }
    }
}

/// Reads one HTTP/1.1 response with a `content-length` whole, within 20 s.
async fn read_one_response(stream: &mut TcpStream) {
    let mut seen = Vec::new();
    let mut chunk = [0; 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let text = String::from_utf8_lossy(&seen).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|line| {
                    let (name, value) = line.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse::<usize>().ok())?
                })
                .expect("a content-length");
            if seen.len() >= end + 4 + length {
                return;
            }
        }
        let read = tokio::time::timeout_at(deadline, stream.read(&mut chunk))
            .await
            .expect("a whole response within 20 s")
            .unwrap();
        assert!(read > 0, "closed mid-response: {text}");
        seen.extend_from_slice(&chunk[..read]);
    }
}

#[tokio::test]
async fn sighup_drains_like_sigterm_and_the_message_in_flight_is_stored() {
    let db = TestDatabase::create().await;
    let (mut process, stderr) = FunctionProcess::start_logging_to_pipe(
        env!("CARGO_BIN_EXE_ingest"),
        &db.config,
        &[("RUST_LOG", "info")],
    );
    let lines = stderr_lines(stderr);

    // A delivery in flight: its headers and half its body sent.
    let user = json!({"user_id": 77, "email": "hup@example.com", "name": "Hup"}).to_string();
    let body = json!({
        "message": {
            "data": base64::engine::general_purpose::STANDARD.encode(user),
            "messageId": "hup-1",
            "publishTime": "2024-05-06T07:08:09.123Z",
        },
        "subscription": "projects/demo/subscriptions/eventarc-ingest"
    })
    .to_string();
    let head = format!(
        "POST / HTTP/1.1\r\nhost: ingest\r\nce-specversion: 1.0\r\nce-id: hup-1\r\n\
         ce-source: //pubsub.googleapis.com/projects/demo/topics/ingestion-topic\r\n\
         ce-type: google.cloud.pubsub.topic.v1.messagePublished\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    let mut delivery = TcpStream::connect(process.addr()).await.unwrap();
    // One whole exchange first, so the server has taken this connection out of the listen
    // queue (a connection still queued when serving stops is reset, rightly) and the
    // delivery below is a request in flight, not a connection waiting to be accepted.
    delivery
        .write_all(b"GET / HTTP/1.1\r\nhost: ingest\r\n\r\n")
        .await
        .unwrap();
    read_one_response(&mut delivery).await;
    delivery
        .write_all(format!("{head}{first}").as_bytes())
        .await
        .unwrap();
    // Time for the server to read the head, so the connection is busy, not idle, when the
    // signal comes (an idle keep-alive connection is closed by a drain, rightly).
    tokio::time::sleep(Duration::from_millis(300)).await;

    // Before, SIGHUP's default action ended the process at once (exit 129, nothing logged).
    process.signal("HUP");
    assert!(wait_for_line(&lines, |l| l.ends_with("received SIGHUP")).is_some());
    assert!(wait_for_line(&lines, |l| l.contains("shutting down")).is_some());
    assert!(
        TcpStream::connect(process.addr()).await.is_err(),
        "still accepting connections while draining"
    );

    // The delivery in flight finishes and is stored; then the process exits 0.
    delivery.write_all(rest.as_bytes()).await.unwrap();
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(Duration::from_secs(20), delivery.read(&mut answer))
        .await
        .expect("an answer to the delivery in flight")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(wait_for_line(&lines, |l| l.ends_with("all in-flight requests finished")).is_some());
    let status = process.wait_for_exit(Duration::from_secs(20));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    let stored: Option<String> = db
        .client
        .query_opt("SELECT name FROM users WHERE user_id = 77", &[])
        .await
        .unwrap()
        .map(|row| row.get(0));
    assert_eq!(stored.as_deref(), Some("Hup"));
}
