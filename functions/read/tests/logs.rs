//! What read logs at its default level: no line per request, a summary of `/data` instead that
//! counts every answer and the queries they shared. A test binary of its own: it installs a
//! process-wide logger that keeps what is logged.

use std::time::Duration;

use futures_util::future::join_all;
use http::{Method, StatusCode};
use log::Level;
use shared::testing::{captured_logs, TestDatabase, TestServer};

/// (answers, queries) of a summary line, `last 1 s: N /data answers from M queries ...`.
fn counts(line: &str) -> Option<(u64, u64)> {
    let (_, rest) = line.split_once(": ")?;
    let (answers, rest) = rest.split_once(" /data answers from ")?;
    let (queries, _) = rest.split_once(' ')?;
    Some((answers.parse().ok()?, queries.parse().ok()?))
}

#[tokio::test]
async fn data_answers_are_summed_up_with_the_queries_they_shared() {
    let logs = captured_logs();
    let db = TestDatabase::with_sample_users().await;
    let settings = read::Settings {
        summary_every: Duration::from_secs(1),
        ..read::Settings::default()
    };
    let server = TestServer::start(read::function(db.database.clone(), settings)).await;
    let replies = join_all((0..20).map(|_| server.send(Method::GET, "/data", &[], ""))).await;
    assert!(replies.iter().all(|reply| reply.status == StatusCode::OK));
    assert_eq!(
        server.send(Method::GET, "/", &[], "").await.status,
        StatusCode::OK
    );

    // The 20 answers may fall in two intervals; every one is counted, once.
    let summed = async {
        loop {
            let (answers, queries) = logs
                .lines()
                .iter()
                .filter(|(level, line)| *level == Level::Info && line.starts_with("last 1 s:"))
                .filter_map(|(_, line)| counts(line))
                .fold((0, 0), |(a, q), (answers, queries)| {
                    (a + answers, q + queries)
                });
            if answers >= 20 {
                return (answers, queries);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    let (answers, queries) = tokio::time::timeout(Duration::from_secs(10), summed)
        .await
        .unwrap_or_else(|_| panic!("no summary of 20 answers: {:#?}", logs.lines()));
    assert_eq!(answers, 20, "{:#?}", logs.lines());
    assert!((1..=20).contains(&queries), "{queries} queries");
    let line = logs
        .wait_for(Level::Info, Duration::ZERO, |line| {
            line.contains("/data answers")
        })
        .await
        .unwrap();
    for part in [
        "before its round",
        "in it",
        "after it",
        "a round: query",
        "JSON",
    ] {
        assert!(line.contains(part), "{line}");
    }
    assert!(
        !logs.lines().iter().any(|(_, line)| line.contains("GET")),
        "a line per request: {:#?}",
        logs.lines()
    );
    server.stop().await;
}

#[test]
fn a_summary_lines_counts_are_read_back() {
    assert_eq!(
        counts("last 1 s: 50667 /data answers from 6321 queries (8.0 a query); ..."),
        Some((50667, 6321))
    );
    assert_eq!(counts("last 1 s: 3 stored, 1 redelivered"), None);
}
