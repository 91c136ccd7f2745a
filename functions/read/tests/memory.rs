//! read never reads a request body: a client cannot make the process hold one. Measured on the
//! real binary (VmHWM), against real PostgreSQL.

use bytes::Bytes;
use http::{Method, StatusCode};
use shared::testing::{FunctionProcess, TestDatabase};

#[tokio::test]
async fn request_bodies_are_never_read_or_held() {
    let db = TestDatabase::with_sample_users().await;
    let process = std::sync::Arc::new(FunctionProcess::start(
        env!("CARGO_BIN_EXE_read"),
        &db.config,
        &[],
    ));
    // Before: eight GETs with 30 MB bodies took the process to 355 MB.
    let body = Bytes::from(vec![b'x'; 30_000_000]);
    let sends: Vec<_> = (0..8)
        .map(|_| {
            let (process, body) = (process.clone(), body.clone());
            tokio::spawn(async move { process.send(Method::GET, "/data", &[], body).await })
        })
        .collect();
    for send in sends {
        // Answered, or cut off while sending the body nobody reads: either way, not held.
        match send.await.unwrap() {
            Ok(status) => assert_eq!(status, StatusCode::OK),
            Err(e) => assert!(!e.contains("within 120 s"), "{e}"),
        }
    }
    let peak = process.peak_rss_bytes();
    assert!(peak < 40_000_000, "peak {} MB", peak / 1_000_000);
    // And it still serves.
    assert_eq!(
        process.send(Method::GET, "/data", &[], Bytes::new()).await,
        Ok(StatusCode::OK)
    );
}
