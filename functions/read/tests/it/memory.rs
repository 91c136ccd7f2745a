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

#[tokio::test]
async fn memory_held_by_a_burst_of_large_pages_comes_back() {
    let db = TestDatabase::create().await;
    db.client
        .batch_execute(
            "INSERT INTO users (user_id, email, name)
             SELECT i, 'someone.with.a.long.address.' || i || '@example.com', 'Someone Called ' || i
             FROM generate_series(1, 4000) i",
        )
        .await
        .unwrap();
    let process = std::sync::Arc::new(FunctionProcess::start(
        env!("CARGO_BIN_EXE_read"),
        &db.config,
        &[],
    ));
    // Warm: the connection, its statement and buffers, a few pages served one at a time.
    for after in 0..20 {
        let path = format!("/data?limit=1000&after={after}");
        let status = process.send(Method::GET, &path, &[], Bytes::new()).await;
        assert_eq!(status, Ok(StatusCode::OK));
    }
    let at_start = process.rss_bytes();

    // 3,000 distinct 1,000-row pages (about 100 KB each), 300 at a time.
    for wave in 0..10 {
        let sends: Vec<_> = (0..300)
            .map(|i| {
                let process = process.clone();
                let path = format!("/data?limit=1000&after={}", wave * 300 + i);
                tokio::spawn(
                    async move { process.send(Method::GET, &path, &[], Bytes::new()).await },
                )
            })
            .collect();
        for send in sends {
            let status = send.await.unwrap().unwrap();
            assert!(status == StatusCode::OK || status == StatusCode::SERVICE_UNAVAILABLE);
        }
    }
    let peak = process.peak_rss_bytes();

    // Quiet again: what the burst took is given back within seconds.
    let mut now = process.rss_bytes();
    for _ in 0..50 {
        if now < 2 * at_start {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        now = process.rss_bytes();
    }
    println!(
        "read: {} KB at start, {} KB peak, {} KB after the burst",
        at_start / 1024,
        peak / 1024,
        now / 1024
    );
    assert!(
        now < 2 * at_start,
        "{} KB held after the burst ({} KB at start, {} KB peak)",
        now / 1024,
        at_start / 1024,
        peak / 1024
    );
}
