//! The read function against a real PostgreSQL, over real HTTP.

use http::{Method, StatusCode};
use serde_json::{json, Value};
use shared::{
    db::Database,
    testing::{plain_client, OwnCluster, TestDatabase, TestServer},
};

async fn start(database: &Database) -> TestServer {
    TestServer::start(read::function(database.clone(), read::Settings::default())).await
}

async fn get(server: &TestServer, path: &str) -> shared::testing::Reply {
    server.send(Method::GET, path, &[], "").await
}

#[tokio::test]
async fn root_says_hello() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    let reply = get(&server, "/").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "Hello, World!");
    assert!(reply.headers["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    server.stop().await;
}

#[tokio::test]
async fn data_with_the_sample_users_is_the_original_answer() {
    let db = TestDatabase::with_sample_users().await;
    let server = start(&db.database).await;
    let reply = get(&server, "/data").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(
        reply.json(),
        json!({"data": [
            {"user_id": 1, "email": "john.doe@example.com", "name": "John Doe"},
            {"user_id": 2, "email": "jane.smith@example.com", "name": "Jane Smith"},
            {"user_id": 3, "email": "alice.johnson@example.com", "name": "Alice Johnson"},
            {"user_id": 4, "email": "bob.miller@example.com", "name": "Bob Miller"},
            {"user_id": 5, "email": "charlie.brown@example.com", "name": "Charlie Brown"},
            {"user_id": 6, "email": "diana.prince@example.com", "name": "Diana Prince"}
        ]})
    );
    // Only the three public fields, never anything else a row may hold.
    for user in reply.json()["data"].as_array().unwrap() {
        let mut keys: Vec<&String> = user.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["email", "name", "user_id"]);
    }
    server.stop().await;
}

#[tokio::test]
async fn pages_cover_ten_thousand_rows_exactly_once_in_order() {
    let db = TestDatabase::create().await;
    db.client
        .batch_execute(
            "INSERT INTO users (user_id, email, name)
             SELECT i * 3, 'u' || i || '@example.com', 'User ' || i FROM generate_series(1, 10000) i",
        )
        .await
        .unwrap();
    let server = start(&db.database).await;
    for limit in [1000, 333] {
        let mut seen = Vec::new();
        let mut path = format!("/data?limit={limit}");
        let mut pages = 0;
        loop {
            let reply = get(&server, &path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}");
            let page = reply.json();
            let rows = page["data"].as_array().unwrap();
            assert!(rows.len() <= limit);
            seen.extend(rows.iter().map(|r| r["user_id"].as_i64().unwrap()));
            pages += 1;
            match page.get("next") {
                Some(Value::String(next)) => path = next.clone(),
                None => break,
                other => panic!("next is {other:?}"),
            }
        }
        let expected: Vec<i64> = (1..=10000).map(|i| i * 3).collect();
        assert_eq!(seen, expected, "limit {limit}");
        assert_eq!(pages, 10000usize.div_ceil(limit), "limit {limit}");
    }
    // The default page is 100 rows and says where the next one starts.
    let first = get(&server, "/data").await.json();
    assert_eq!(first["data"].as_array().unwrap().len(), 100);
    assert_eq!(first["next"], "/data?limit=100&after=300");
    let last = get(&server, "/data?after=29997").await.json();
    assert_eq!(
        last,
        json!({"data": [{"user_id": 30000, "email": "u10000@example.com", "name": "User 10000"}]})
    );
    assert_eq!(
        get(&server, "/data?after=30000").await.json(),
        json!({"data": []})
    );
    server.stop().await;
}

#[tokio::test]
async fn bad_parameters_get_400_naming_the_parameter() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    for (query, name) in [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=abc", "limit"),
        ("after=-5", "after"),
        ("after=x", "after"),
        ("limit=1&limit=2", "limit"),
        ("page=2", "page"),
    ] {
        let reply = get(&server, &format!("/data?{query}")).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert!(
            reply.json()["error"].as_str().unwrap().contains(name),
            "{query}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn unknown_paths_and_methods() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    let reply = get(&server, "/users").await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert!(reply.json()["error"].is_string());
    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        let reply = server.send(method.clone(), "/data", &[], "").await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
        assert_eq!(reply.headers["allow"], "GET, HEAD");
    }
    let head = server.send(Method::HEAD, "/data", &[], "").await;
    assert_eq!(head.status, StatusCode::OK);
    assert!(head.body.is_empty());
    assert_eq!(
        get(&server, "/favicon.ico").await.status,
        StatusCode::NOT_FOUND
    );
    // CORS is off by default: no preflight, no allow-origin.
    let reply = server
        .send(
            Method::GET,
            "/data",
            &[("origin", "https://evil.example")],
            "",
        )
        .await;
    assert!(!reply.headers.contains_key("access-control-allow-origin"));
    assert_eq!(
        server.send(Method::OPTIONS, "/data", &[], "").await.status,
        StatusCode::METHOD_NOT_ALLOWED
    );
    server.stop().await;
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let db = TestDatabase::create().await;
    let settings = read::Settings {
        cors: read::Cors::new(Some("https://app.example")),
        ..Default::default()
    };
    let server = TestServer::start(read::function(db.database.clone(), settings)).await;
    let allowed = server
        .send(
            Method::GET,
            "/data",
            &[("origin", "https://app.example")],
            "",
        )
        .await;
    assert_eq!(
        allowed.headers["access-control-allow-origin"],
        "https://app.example"
    );
    let other = server
        .send(
            Method::GET,
            "/data",
            &[("origin", "https://other.example")],
            "",
        )
        .await;
    assert!(!other.headers.contains_key("access-control-allow-origin"));
    let preflight = server
        .send(
            Method::OPTIONS,
            "/data",
            &[
                ("origin", "https://app.example"),
                ("access-control-request-method", "GET"),
            ],
            "",
        )
        .await;
    assert_eq!(preflight.status, StatusCode::NO_CONTENT);
    assert_eq!(
        preflight.headers["access-control-allow-origin"],
        "https://app.example"
    );
    // Errors carry them too, so a browser can read why a request failed.
    for (method, path, status) in [
        (Method::GET, "/nope", StatusCode::NOT_FOUND),
        (Method::DELETE, "/data", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/data?limit=0", StatusCode::BAD_REQUEST),
    ] {
        let reply = server
            .send(method, path, &[("origin", "https://app.example")], "")
            .await;
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(
            reply.headers["access-control-allow-origin"], "https://app.example",
            "{path}"
        );
    }
    let lost = server.send(Method::GET, "/nope", &[], "").await;
    assert_eq!(
        lost.json()["error"],
        "not found; this API serves /, /data, /openapi.yaml"
    );
    server.stop().await;
}

#[tokio::test]
async fn serves_its_openapi_document() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    let reply = get(&server, "/openapi.yaml").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, include_str!("../../openapi.yaml"));
    assert!(String::from_utf8_lossy(&reply.body).starts_with("openapi: 3.1"));
    server.stop().await;
}

#[tokio::test]
async fn database_down_gives_503_and_recovers_without_a_restart() {
    let cluster = OwnCluster::start("read-outage").await;
    let database = Database::new(cluster.config.clone()).unwrap();
    let server = start(&database).await;
    assert_eq!(get(&server, "/data").await.json(), json!({"data": []}));

    cluster.crash().await;
    let reply = get(&server, "/data").await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.headers.contains_key("retry-after"));
    let body = String::from_utf8_lossy(&reply.body).to_lowercase();
    for leak in ["select", "users", "postgres", "socket", "connection"] {
        assert!(!body.contains(leak), "503 body leaks {leak:?}: {body}");
    }
    assert_eq!(
        get(&server, "/").await.status,
        StatusCode::OK,
        "/ does not need the database"
    );

    cluster.restart().await;
    let reply = get(&server, "/data").await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    server.stop().await;
}

#[tokio::test]
async fn a_row_committed_before_a_request_is_in_its_answer_while_a_herd_shares_queries() {
    let db = TestDatabase::create().await;
    let server = std::sync::Arc::new(start(&db.database).await);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // A herd asking for the very page the checks ask for, so the checks share its queries.
    let herd: Vec<_> = (0..16)
        .map(|_| {
            let (server, stop) = (server.clone(), stop.clone());
            tokio::spawn(async move {
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    let reply = get(&server, "/data?limit=1000").await;
                    assert_eq!(reply.status, StatusCode::OK);
                }
            })
        })
        .collect();
    for id in 1..=40 {
        db.client
            .batch_execute(&format!(
                "INSERT INTO users VALUES ({id}, 'u{id}@example.com', 'User {id}')"
            ))
            .await
            .unwrap();
        // Committed; a request that starts now must see it.
        let page = get(&server, "/data?limit=1000").await.json();
        let ids: Vec<i64> = page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|row| row["user_id"].as_i64().unwrap())
            .collect();
        assert_eq!(
            ids,
            (1..=i64::from(id)).collect::<Vec<_>>(),
            "after row {id}"
        );
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for task in herd {
        task.await.unwrap();
    }
}

/// At start the function opens its connection, checks the schema and prepares the page
/// query, before any request; a request arriving meanwhile waits for that connection instead
/// of opening one of its own.
#[tokio::test]
async fn start_opens_the_one_connection_the_first_request_uses() {
    let db = TestDatabase::with_sample_users().await;
    // Stalls the start's schema check (well inside the 2 s lock timeout).
    let holder = plain_client(&db.config).await;
    holder
        .batch_execute("BEGIN; LOCK schema_migrations IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    let backends = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()";
    let before = db.count(backends).await;
    let database = Database::new(db.config.clone()).unwrap();
    let server = std::sync::Arc::new(start(&database).await);

    let mut waited = std::time::Duration::ZERO;
    while db.count(backends).await == before {
        assert!(
            waited < std::time::Duration::from_secs(5),
            "no connection opened at start"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        waited += std::time::Duration::from_millis(10);
    }
    let first = tokio::spawn({
        let server = server.clone();
        async move { get(&server, "/data").await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    holder.batch_execute("COMMIT").await.unwrap();

    let reply = first.await.unwrap();
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["data"].as_array().unwrap().len(), 6);
    assert_eq!(
        db.count(backends).await,
        before + 1,
        "the first request used the connection opened at start"
    );
}

/// Short timeouts: a lock waits 300 ms at most, the reply 1 s, a statement 1 s.
fn short_timeouts(config: shared::db::DbConfig) -> shared::db::DbConfig {
    use std::time::Duration;
    config.with_timeouts(
        Duration::from_millis(300),
        Duration::from_secs(1),
        Duration::from_secs(1),
    )
}

#[tokio::test]
async fn a_locked_table_costs_each_read_its_own_wait_not_the_sum_of_the_queue() {
    let db = TestDatabase::with_sample_users().await;
    let database = Database::new(short_timeouts(db.config.clone())).unwrap();
    let server = start(&database).await;
    assert_eq!(get(&server, "/data").await.status, StatusCode::OK);
    let holder = plain_client(&db.config).await;
    holder
        .batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();

    // 20 distinct pages at once, each its own query on the shared connection. Queued behind
    // each other, the last would wait 20 x 300 ms = 6 s.
    let started = std::time::Instant::now();
    let paths: Vec<String> = (1..=20).map(|i| format!("/data?after={i}")).collect();
    let replies = futures_util::future::join_all(paths.iter().map(|p| get(&server, p))).await;
    let slowest = started.elapsed();

    for reply in &replies {
        assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(reply.headers.contains_key("retry-after"));
    }
    assert!(
        slowest < std::time::Duration::from_secs(3),
        "the last of 20 reads was answered after {slowest:?}: each waited behind the others"
    );
    holder.batch_execute("ROLLBACK").await.unwrap();
    assert_eq!(get(&server, "/data").await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_frozen_database_gets_503_on_our_own_clock_and_a_fresh_connection_after() {
    use std::time::{Duration, Instant};
    let cluster = OwnCluster::start("read-frozen").await;
    let database = Database::new(short_timeouts(cluster.config.clone())).unwrap();
    let server = start(&database).await;
    assert_eq!(get(&server, "/data").await.status, StatusCode::OK);

    cluster.freeze().await;
    let started = Instant::now();
    let reply = tokio::time::timeout(Duration::from_secs(10), get(&server, "/data?limit=5"))
        .await
        .expect("a read of a frozen database was never answered");
    let waited = started.elapsed();
    cluster.thaw().await;

    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(waited < Duration::from_secs(3), "answered after {waited:?}");
    // Thawed, the next reads are served (on a fresh connection: the frozen one was dropped).
    let mut status = StatusCode::SERVICE_UNAVAILABLE;
    for _ in 0..20 {
        status = get(&server, "/data").await.status;
        if status == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn a_huge_parameter_is_refused_without_being_echoed_whole() {
    let db = TestDatabase::create().await;
    let server = start(&db.database).await;
    let huge = "9".repeat(60_000);
    let reply = get(&server, &format!("/data?limit={huge}")).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(
        reply.body.len() < 1_000,
        "a {}-byte answer",
        reply.body.len()
    );
    let message = reply.json()["error"].as_str().unwrap().to_owned();
    assert!(
        message.starts_with("query parameter \"limit\" must be a whole number"),
        "{message}"
    );
    assert!(message.ends_with("bytes in all)"), "{message}");
    server.stop().await;
}

/// What a later migration widening `email` does while read runs: the page query, prepared on
/// the shared connection before, no longer matches the table. It is prepared again, and the
/// next request is answered from the new table, with no restart.
#[tokio::test]
async fn a_column_widened_while_read_runs_is_served_at_once_without_a_restart() {
    let db = TestDatabase::with_sample_users().await;
    let server = start(&db.database).await;
    assert_eq!(get(&server, "/data").await.status, StatusCode::OK);

    db.client
        .batch_execute(
            "ALTER TABLE users ALTER COLUMN email TYPE varchar(320);
             INSERT INTO users VALUES (7, 'l' || repeat('o', 300) || '@example.com', 'Long Email')",
        )
        .await
        .unwrap();
    let reply = get(&server, "/data").await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "{:?}",
        String::from_utf8_lossy(&reply.body)
    );
    let rows = reply.json()["data"].as_array().unwrap().clone();
    assert_eq!(rows.len(), 7);
    assert_eq!(rows[6]["email"].as_str().unwrap().len(), 313);

    // And again: a type changed back is met the same way.
    db.client
        .batch_execute(
            "DELETE FROM users WHERE user_id = 7; ALTER TABLE users ALTER COLUMN email TYPE text",
        )
        .await
        .unwrap();
    assert_eq!(get(&server, "/data").await.status, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn the_id_column_made_bigint_and_back_is_served_throughout_without_a_restart() {
    let db = TestDatabase::with_sample_users().await;
    let server = start(&db.database).await;
    assert_eq!(get(&server, "/data").await.status, StatusCode::OK);
    for column_type in ["bigint", "integer", "bigint", "integer"] {
        db.client
            .batch_execute(&format!(
                "ALTER TABLE users ALTER COLUMN user_id TYPE {column_type}"
            ))
            .await
            .unwrap();
        for path in ["/data", "/data?after=2&limit=2"] {
            let reply = get(&server, path).await;
            assert_eq!(
                reply.status,
                StatusCode::OK,
                "{path} with user_id {column_type}: {:?}",
                String::from_utf8_lossy(&reply.body)
            );
        }
    }
    let rows = get(&server, "/data").await.json()["data"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(rows, 6);
    server.stop().await;
}
