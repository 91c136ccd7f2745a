//! Connection-level behaviour: concurrency, body limit, header-read timeout, graceful stop.

use std::{sync::Arc, time::Duration};

use functions_framework::testing::TestServer;
use functions_framework::{body::full, Function, ServerOptions};
use http::{Method, Response, StatusCode};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::{Barrier, Notify},
};

#[tokio::test]
async fn serves_many_requests_at_once() {
    // Each request waits until all of them are in flight: this only completes if the server
    // runs them concurrently.
    const AT_ONCE: usize = 64;
    let barrier = Arc::new(Barrier::new(AT_ONCE));
    let server = Arc::new(
        TestServer::start(Function::http(move |_| {
            let barrier = barrier.clone();
            async move {
                barrier.wait().await;
                Ok(Response::new(full("done")))
            }
        }))
        .await,
    );
    let requests: Vec<_> = (0..AT_ONCE)
        .map(|_| {
            let server = server.clone();
            tokio::spawn(async move { server.send(Method::GET, "/", &[], "").await.status })
        })
        .collect();
    for request in requests {
        assert_eq!(request.await.unwrap(), StatusCode::OK);
    }
}

#[tokio::test]
async fn a_body_over_the_limit_gets_413() {
    let options = ServerOptions {
        max_body_bytes: 1024,
        ..ServerOptions::default()
    };
    let server = TestServer::start_with(
        Function::http(|request| async move {
            Ok(Response::new(full(request.body().len().to_string())))
        }),
        options,
    )
    .await;
    let at_limit = server.send(Method::POST, "/", &[], vec![b'x'; 1024]).await;
    assert_eq!(at_limit.status, StatusCode::OK);
    assert_eq!(at_limit.body, "1024");
    let over = server.send(Method::POST, "/", &[], vec![b'x'; 1025]).await;
    assert_eq!(over.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(over.json()["error"].as_str().unwrap().contains("1024"));

    // A chunked body declares no length: it is cut off while being read.
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let chunk = "x".repeat(800);
    let request = format!(
        "POST / HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n320\r\n{chunk}\r\n320\r\n{chunk}\r\n0\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = vec![0; 1024];
    let n = stream.read(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let options = ServerOptions {
        header_read_timeout: Duration::from_secs(1),
        ..ServerOptions::default()
    };
    let server = TestServer::start_with(
        Function::http(|_| async { Ok(Response::new(full("ok"))) }),
        options,
    )
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: slow\r\n")
        .await
        .unwrap();
    let mut buffer = [0u8; 256];
    // The server closes the connection (possibly after a 408) well before this generous bound.
    let read = tokio::time::timeout(Duration::from_secs(20), async {
        let mut all = Vec::new();
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break all,
                Ok(n) => all.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .expect("the server kept a half-sent request open");
    let text = String::from_utf8_lossy(&read);
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
    server.stop().await;
}

#[tokio::test]
async fn shutdown_lets_in_flight_requests_finish_and_refuses_new_ones() {
    let started = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    let (s, r) = (started.clone(), release.clone());
    let mut server = TestServer::start(Function::http(move |_| {
        let (started, release) = (s.clone(), r.clone());
        async move {
            started.notify_one();
            release.notified().await;
            Ok(Response::new(full("finished")))
        }
    }))
    .await;
    let addr = server.addr;
    let url = server.url("/");
    let in_flight = tokio::spawn(async move {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        let response = client.get(url.parse().unwrap()).await.unwrap();
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, body)
    });
    started.notified().await;
    server.begin_stop();
    // Give the accept loop a moment to see the stop, then check it no longer accepts.
    let refused = async {
        for _ in 0..100 {
            if TcpStream::connect(addr).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    };
    assert!(
        refused.await,
        "still accepting connections after the stop signal"
    );
    release.notify_one();
    let (status, body) = in_flight.await.unwrap();
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, "finished");
    server.finished().await;
}

/// Reads until the server closes the connection; what it sent before, or None if it did not
/// close within `within`.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut all = Vec::new();
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(within, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await
    .ok()?;
    Some(String::from_utf8_lossy(&all).into_owned())
}

fn quick(options: ServerOptions) -> ServerOptions {
    ServerOptions {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(1),
        body_read_timeout: Duration::from_secs(1),
        ..options
    }
}

async fn ok_server() -> TestServer {
    TestServer::start_with(
        Function::http(|_| async { Ok(Response::new(full("ok"))) }),
        quick(ServerOptions::default()),
    )
    .await
}

#[tokio::test]
async fn a_client_that_never_sends_a_byte_is_disconnected() {
    let server = ok_server().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    let sent = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("a silent connection was held open");
    assert!(
        sent.is_empty() || sent.starts_with("HTTP/1.1 408"),
        "{sent}"
    );
    server.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    // The idle timeout closes it, not hyper's header-read timer (which would, much later).
    let server = TestServer::start_with(
        Function::http(|_| async { Ok(Response::new(full("ok"))) }),
        ServerOptions {
            header_read_timeout: Duration::from_secs(60),
            ..quick(ServerOptions::default())
        },
    )
    .await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: t\r\n\r\n")
        .await
        .unwrap();
    let sent = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("an idle keep-alive connection was held open");
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent}");
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_stops_arriving_gets_408_and_the_connection_closes() {
    let server = ok_server().await;
    let mut stream = TcpStream::connect(server.addr).await.unwrap();
    stream
        .write_all(b"POST / HTTP/1.1\r\nhost: t\r\ncontent-length: 100\r\n\r\nonly ten..")
        .await
        .unwrap();
    let sent = read_until_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("a stalled body was waited for forever");
    assert!(sent.starts_with("HTTP/1.1 408"), "{sent}");
    assert!(sent.contains("did not arrive within 1 s"), "{sent}");
    server.stop().await;
}

#[tokio::test]
async fn a_long_request_is_not_cut_by_the_idle_timeout() {
    let server = TestServer::start_with(
        Function::http(|_| async {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            Ok(Response::new(full("slow but fine")))
        }),
        quick(ServerOptions::default()),
    )
    .await;
    let reply = server.send(Method::GET, "/", &[], "").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body, "slow but fine");
    server.stop().await;
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() {
    let server = ok_server().await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .unwrap();
    let connection = tokio::spawn(connection);
    let request = http::Request::get(server.url("/"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    drop(response);
    tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("an idle HTTP/2 connection was held open")
        .unwrap()
        .ok();
    server.stop().await;
}

#[tokio::test]
async fn a_warm_up_starts_with_the_server_and_requests_do_not_wait_for_it() {
    let started = Arc::new(Notify::new());
    let never_done = Arc::new(Notify::new());
    let (signal, hold) = (started.clone(), never_done.clone());
    let function =
        Function::http(|_| async { Ok(Response::new(full("served"))) }).warm_up(move || {
            let (signal, hold) = (signal.clone(), hold.clone());
            async move {
                signal.notify_one();
                hold.notified().await;
            }
        });
    let server = TestServer::start(function).await;
    tokio::time::timeout(Duration::from_secs(5), started.notified())
        .await
        .expect("the warm-up starts before any request");
    let reply = tokio::time::timeout(
        Duration::from_secs(5),
        server.send(Method::GET, "/", &[], ""),
    )
    .await
    .expect("a request is served while the warm-up is still running");
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test]
async fn an_http2_client_that_never_reads_its_responses_is_disconnected() {
    // A 100 KB answer each: with a stream window of 0, not a byte of it can be sent.
    let server = TestServer::start_with(
        Function::http(|_| async { Ok(Response::new(full(vec![b'x'; 100_000]))) }),
        quick(ServerOptions::default()),
    )
    .await;
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
            .initial_stream_window_size(0)
            .handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    let connection = tokio::spawn(connection);
    // 200 streams asked for; the server lets 100 be open at once, and answers them all.
    let requests: Vec<_> = (0..200)
        .map(|_| {
            let mut sender = sender.clone();
            let request = http::Request::get(server.url("/"))
                .body(http_body_util::Empty::<bytes::Bytes>::new())
                .unwrap();
            // Each response is kept, its body never read, until the test ends.
            tokio::spawn(async move {
                let _response = sender.send_request(request).await;
                std::future::pending::<()>().await;
            })
        })
        .collect();
    // The answers' bodies sit unread: the server counts that as idle and closes the
    // connection after its idle timeout (1 s here), instead of holding it for ever.
    tokio::time::timeout(Duration::from_secs(10), connection)
        .await
        .expect("a connection whose client reads nothing was held open")
        .unwrap()
        .ok();
    requests.iter().for_each(|r| r.abort());
    server.stop().await;
}

#[tokio::test]
async fn http_1_1_needs_exactly_one_host_that_is_a_host_and_refused_requests_reach_no_function() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let server = TestServer::start(Function::http(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok(Response::new(full("ok"))) }
    }))
    .await;
    let cases = [
        // Before, each of the first four reached the function and got 200.
        ("GET / HTTP/1.1\r\n", "400", "must have a Host header"),
        (
            "GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n",
            "400",
            "more than one Host",
        ),
        ("GET / HTTP/1.1\r\nhost: user@a\r\n", "400", "not a host"),
        (
            "GET / HTTP/1.0\r\nhost: a\r\nhost: a\r\n",
            "400",
            "more than one Host",
        ),
        ("GET / HTTP/1.1\r\nhost: example.com:8080\r\n", "200", "ok"),
        ("GET / HTTP/1.1\r\nhost:\r\n", "200", "ok"),
        ("GET / HTTP/1.0\r\n", "200", "ok"),
    ];
    for (head, status, says) in cases {
        let mut stream = TcpStream::connect(server.addr).await.unwrap();
        stream
            .write_all(format!("{head}connection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(10))
            .await
            .expect("an answer, then the connection closed");
        assert_eq!(answer.split(' ').nth(1), Some(status), "{head:?}: {answer}");
        assert!(answer.contains(says), "{head:?}: {answer}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    server.stop().await;
}
