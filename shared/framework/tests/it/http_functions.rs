//! The HTTP side of the Functions Framework contract, over real HTTP.

use std::sync::{
    atomic::{AtomicUsize, Ordering},
    Arc,
};

use functions_framework::testing::TestServer;
use functions_framework::{body::full, Function, FunctionError};
use http::{Method, Response, StatusCode};

/// Answers with everything it was given, so a test can see the request arrived unmodified.
fn echo() -> Function {
    Function::http(|request| async move {
        let headers: serde_json::Map<String, serde_json::Value> = request
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").into()))
            .collect();
        let seen = serde_json::json!({
            "method": request.method().as_str(),
            "path": request.uri().path(),
            "query": request.uri().query(),
            "headers": headers,
            "body": String::from_utf8_lossy(request.body()),
        });
        Ok(Response::new(full(seen.to_string())))
    })
}

#[tokio::test]
async fn http_function_gets_the_request_unmodified() {
    let server = TestServer::start(echo()).await;
    for method in [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
    ] {
        let reply = server
            .send(
                method.clone(),
                "/some/path?a=1&b=two",
                &[("x-custom", "yes")],
                "payload",
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK);
        let seen = reply.json();
        assert_eq!(seen["method"], method.as_str());
        assert_eq!(seen["path"], "/some/path");
        assert_eq!(seen["query"], "a=1&b=two");
        assert_eq!(seen["headers"]["x-custom"], "yes");
        assert_eq!(seen["body"], "payload");
    }
    server.stop().await;
}

#[tokio::test]
async fn favicon_and_robots_get_404_without_calling_the_function() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let server = TestServer::start(Function::http(move |_| {
        counted.fetch_add(1, Ordering::SeqCst);
        async { Ok(Response::new(full("called"))) }
    }))
    .await;
    for path in ["/favicon.ico", "/robots.txt"] {
        let reply = server.send(Method::GET, path, &[], "").await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0);
    assert_eq!(
        server
            .send(Method::GET, "/favicon.icon", &[], "")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    server.stop().await;
}

#[tokio::test]
async fn each_error_kind_has_its_documented_status() {
    let cases: Vec<(FunctionError, StatusCode)> = vec![
        (
            FunctionError::BadRequest("bad".into()),
            StatusCode::BAD_REQUEST,
        ),
        (
            FunctionError::NotFound("none".into()),
            StatusCode::NOT_FOUND,
        ),
        (
            FunctionError::MethodNotAllowed { allow: "GET, HEAD" },
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            FunctionError::PayloadTooLarge { limit: 1 },
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
        (
            FunctionError::Unavailable {
                reason: "db down: secret-detail".into(),
                retry_after_secs: 5,
            },
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            FunctionError::Discarded {
                reason: "poison".into(),
            },
            StatusCode::OK,
        ),
        (
            FunctionError::Internal("secret-detail".into()),
            StatusCode::INTERNAL_SERVER_ERROR,
        ),
    ];
    for (error, status) in cases {
        let returned = error.clone();
        let server = TestServer::start(Function::http(move |_| {
            let e = returned.clone();
            async move { Err(e) }
        }))
        .await;
        let reply = server.send(Method::GET, "/", &[], "").await;
        assert_eq!(reply.status, status, "{error:?}");
        assert_eq!(reply.headers["content-type"], "application/json");
        let body = String::from_utf8_lossy(&reply.body).to_string();
        assert!(
            !body.contains("secret-detail"),
            "internal detail leaked: {body}"
        );
        match error {
            FunctionError::Internal(_) => assert_eq!(reply.headers["x-google-status"], "error"),
            FunctionError::Unavailable { .. } => assert_eq!(reply.headers["retry-after"], "5"),
            FunctionError::MethodNotAllowed { .. } => {
                assert_eq!(reply.headers["allow"], "GET, HEAD")
            }
            FunctionError::BadRequest(_) => assert_eq!(reply.json()["error"], "bad"),
            _ => {}
        }
        server.stop().await;
    }
}

#[tokio::test]
async fn a_panic_gives_500_crash_and_the_server_keeps_serving() {
    let server = TestServer::start(Function::http(|request| async move {
        if request.uri().path() == "/panic" {
            panic!("handler bug");
        }
        Ok(Response::new(full("fine")))
    }))
    .await;
    let reply = server.send(Method::GET, "/panic", &[], "").await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.headers["x-google-status"], "crash");
    let after = server.send(Method::GET, "/", &[], "").await;
    assert_eq!(after.status, StatusCode::OK);
    assert_eq!(after.body, "fine");
    server.stop().await;
}

#[tokio::test]
async fn the_response_hook_marks_every_answer_errors_and_crashes_included() {
    let function = Function::http(|request| async move {
        match request.uri().path() {
            "/ok" => Ok(Response::new(full("fine"))),
            "/gone" => Err(FunctionError::NotFound("no such thing".into())),
            _ => panic!("a bug"),
        }
    })
    .on_every_response(|request, response| {
        let origin = request.get("origin").cloned();
        if let Some(origin) = origin {
            response.insert("access-control-allow-origin", origin);
        }
    });
    let server = TestServer::start(function).await;
    let origin = [("origin", "https://app.example")];
    for (path, status) in [
        ("/ok", StatusCode::OK),
        ("/gone", StatusCode::NOT_FOUND),
        ("/panics", StatusCode::INTERNAL_SERVER_ERROR),
        ("/favicon.ico", StatusCode::NOT_FOUND),
    ] {
        let reply = server.send(Method::GET, path, &origin, "").await;
        assert_eq!(reply.status, status, "{path}");
        assert_eq!(
            reply.headers["access-control-allow-origin"], "https://app.example",
            "{path}"
        );
    }
    let crash = server.send(Method::GET, "/panics", &origin, "").await;
    assert_eq!(crash.headers["x-google-status"], "crash");
    assert_eq!(crash.json(), serde_json::json!({"error": "internal error"}));
    server.stop().await;
}
