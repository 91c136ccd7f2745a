//! Typed functions (JSON in, JSON out, as the conformance client's `-declarative-type=typed`
//! checks), typed Pub/Sub functions, shared state, requests served concurrently (the client's
//! `-validate-concurrency`), and serving on a runtime the caller owns.

use std::{
    collections::BTreeMap,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use base64::Engine;
use functions_framework::testing::TestServer;
use functions_framework::{
    body::full, Config, Function, FunctionError, Functions, SignatureType, StartError,
};
use http::{header, Method, Response, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, Barrier};

/// An order in, its total out: a typed function with a shape of its own.
#[derive(Deserialize)]
struct Order {
    name: String,
    #[serde(default = "one")]
    count: u32,
}

fn one() -> u32 {
    1
}

#[derive(Serialize)]
struct Greeted {
    message: String,
    count: u32,
}

fn greeter() -> Function {
    Function::typed(|order: Order| async move {
        Ok(Greeted {
            message: format!("Hello, {}!", order.name),
            count: order.count,
        })
    })
}

#[tokio::test]
async fn a_typed_function_answers_its_output_as_json() {
    let server = TestServer::start(greeter()).await;
    let reply = server.post_json("/", &json!({"name": "Ada"})).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.headers[header::CONTENT_TYPE], "application/json");
    assert_eq!(reply.json(), json!({"message": "Hello, Ada!", "count": 1}));
    server.stop().await;
}

#[tokio::test]
async fn the_conformance_echo_returns_the_request_as_payload() {
    #[derive(Serialize)]
    struct Echo {
        payload: Value,
    }
    let server = TestServer::start(Function::typed(|payload: Value| async move {
        Ok(Echo { payload })
    }))
    .await;
    let request = json!({"message": "Hello world!"});
    let reply = server.post_json("/", &request).await;
    assert_eq!(reply.json(), json!({ "payload": request }));
    server.stop().await;
}

#[tokio::test]
async fn a_body_that_is_not_the_input_type_is_a_400_saying_why() {
    let server = TestServer::start(greeter()).await;
    for (body, says) in [
        ("{\"nom\": \"Ada\"}", "missing field `name`"),
        ("{\"name\": 7}", "invalid type"),
        ("not json", "expected"),
        ("", "invalid type: null"),
    ] {
        let reply = server.send(Method::POST, "/", &[], body).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{body:?}");
        let error = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(
            error.contains("not the JSON this function takes"),
            "{error}"
        );
        assert!(error.contains(says), "{body:?}: {error}");
    }
    server.stop().await;
}

#[tokio::test]
async fn an_empty_body_is_null_for_an_optional_input_and_errors_go_through_the_writer() {
    let server = TestServer::start(Function::typed(|input: Option<Order>| async move {
        match input {
            None => Ok(json!("nobody")),
            Some(g) if g.name.is_empty() => Err(FunctionError::BadRequest("name is empty".into())),
            Some(g) => Ok(json!(g.name)),
        }
    }))
    .await;
    assert_eq!(
        server.send(Method::POST, "/", &[], "").await.json(),
        json!("nobody")
    );
    let reply = server.post_json("/", &json!({"name": ""})).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json()["error"], "name is empty");
    server.stop().await;
}

#[tokio::test]
async fn a_body_of_too_many_json_values_is_refused_before_it_is_parsed() {
    let server = TestServer::start(Function::typed(|input: Value| async move { Ok(input) })).await;
    let values = functions_framework::event::MAX_JSON_VALUES;
    let body = format!("[{}]", vec!["[]"; values].join(","));
    let reply = server.send(Method::POST, "/", &[], body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert!(reply.json()["error"]
        .as_str()
        .unwrap()
        .contains("more than"));
    let fits = format!("[{}]", ["[]"; 10].join(","));
    assert_eq!(
        server.send(Method::POST, "/", &[], fits).await.status,
        StatusCode::OK
    );
    server.stop().await;
}

#[tokio::test]
async fn a_typed_function_is_served_as_signature_type_http() {
    assert_eq!(greeter().signature_type(), SignatureType::Http);
    let functions = Functions::new().register("greet", greeter());
    let (name, _) = functions.select(None, Some(SignatureType::Http)).unwrap();
    assert_eq!(name, "greet");
}

#[derive(Debug, Deserialize, PartialEq)]
struct Signup {
    name: String,
}

/// A Pub/Sub function that reads each message as a `Signup` and hands it to the test.
async fn signups() -> (
    TestServer,
    mpsc::UnboundedReceiver<(String, Signup, BTreeMap<String, String>)>,
) {
    let (sender, received) = mpsc::unbounded_channel();
    let server = TestServer::start(Function::pubsub(move |message| {
        let sender = sender.clone();
        async move {
            let signup: Signup = message.json()?;
            sender
                .send((message.message_id, signup, message.attributes))
                .unwrap();
            Ok(())
        }
    }))
    .await;
    (server, received)
}

fn push_body(data: &[u8]) -> Value {
    json!({"message": {"data": base64::engine::general_purpose::STANDARD.encode(data),
        "messageId": "m-1", "attributes": {"origin": "test"}, "orderingKey": "k"},
        "subscription": "projects/p/subscriptions/s"})
}

#[tokio::test]
async fn a_pubsub_function_gets_the_decoded_message() {
    let (server, mut received) = signups().await;
    let reply = server
        .post_json("/", &push_body(br#"{"name": "Ada"}"#))
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    let (id, signup, attributes) = received.recv().await.unwrap();
    assert_eq!(id, "m-1");
    assert_eq!(signup, Signup { name: "Ada".into() });
    assert_eq!(attributes["origin"], "test");
    server.stop().await;
}

#[tokio::test]
async fn data_that_can_never_decode_is_acknowledged_as_discarded_not_retried() {
    let (server, mut received) = signups().await;
    let reply = server.post_json("/", &push_body(b"not json")).await;
    assert_eq!(
        reply.status,
        StatusCode::OK,
        "a 2xx: Pub/Sub must not redeliver it"
    );
    assert_eq!(reply.json()["status"], "discarded");
    let reason = reply.json()["reason"].as_str().unwrap().to_owned();
    assert!(reason.contains("message m-1"), "{reason}");

    // An event that holds no Pub/Sub message at all (structured mode, another type): the same.
    let other = json!({"specversion": "1.0", "id": "1", "source": "//x", "type": "com.example.other",
                       "datacontenttype": "application/json", "data": {}});
    let reply = server
        .send(
            Method::POST,
            "/",
            &[("content-type", "application/cloudevents+json")],
            other.to_string(),
        )
        .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.json()["reason"]
        .as_str()
        .unwrap()
        .contains("com.example.other"));
    server.stop().await;
    assert!(received.try_recv().is_err(), "nothing reached the handler");
}

#[tokio::test]
async fn message_data_of_too_many_json_values_is_discarded_before_it_is_parsed() {
    let server = TestServer::start(Function::pubsub(|message| async move {
        let _tree: Value = message.json()?;
        Ok(())
    }))
    .await;
    let values = functions_framework::event::MAX_JSON_VALUES;
    let data = format!("[{}]", vec!["[]"; values].join(","));
    let reply = server.post_json("/", &push_body(data.as_bytes())).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["status"], "discarded");
    let reason = reply.json()["reason"].as_str().unwrap().to_owned();
    assert!(
        reason.contains("more than") && reason.contains("message m-1"),
        "{reason}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_pubsub_handler_can_still_ask_for_a_retry() {
    let server = TestServer::start(Function::pubsub(|_message| async {
        Err(FunctionError::Unavailable {
            reason: "the database is down".into(),
            retry_after_secs: 5,
        })
    }))
    .await;
    let reply = server.post_json("/", &push_body(b"{}")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    server.stop().await;
}

#[tokio::test]
async fn state_is_shared_by_every_request_without_clones_by_hand() {
    struct Counter {
        served: AtomicUsize,
    }
    let function = Function::with_state(Counter {
        served: AtomicUsize::new(0),
    })
    .http(|counter, _request| async move {
        let n = counter.served.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Response::new(full(n.to_string())))
    });
    let server = TestServer::start(function).await;
    for expected in ["1", "2", "3"] {
        let reply = server.send(Method::GET, "/", &[], "").await;
        assert_eq!(reply.body, expected);
    }
    server.stop().await;
}

/// Ten requests that each wait until all ten have arrived: they finish only if they are
/// served at the same time (no clock involved; the bound only stops a hang).
async fn served_together(
    function: Function,
    send: impl Fn(&TestServer) -> futures_util::future::BoxFuture<'_, StatusCode>,
) {
    let server = TestServer::start(function).await;
    let statuses = tokio::time::timeout(
        Duration::from_secs(30),
        futures_util::future::join_all((0..10).map(|_| send(&server))),
    )
    .await
    .expect("ten requests were not all in flight at once");
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn http_cloudevent_and_background_requests_are_served_concurrently() {
    // Each handler waits until ten are waiting: a barrier of ten as the function's state.
    let meeting = || Function::with_state(Barrier::new(10));
    served_together(
        meeting().http(|barrier, _request| async move {
            barrier.wait().await;
            Ok(Response::new(full("")))
        }),
        |server| Box::pin(async move { server.send(Method::GET, "/", &[], "").await.status }),
    )
    .await;
    served_together(
        meeting().cloudevent(|barrier, _event| async move {
            barrier.wait().await;
            Ok(())
        }),
        |server| {
            let headers = [
                ("ce-specversion", "1.0"),
                ("ce-id", "1"),
                ("ce-source", "//x"),
                ("ce-type", "t"),
            ];
            Box::pin(async move { server.send(Method::POST, "/", &headers, "").await.status })
        },
    )
    .await;
    served_together(
        meeting().event(|barrier, _data, _context| async move {
            barrier.wait().await;
            Ok(())
        }),
        |server| {
            let body = json!({"eventId": "1", "eventType": "t", "resource": "r", "data": {}});
            Box::pin(async move { server.post_json("/", &body).await.status })
        },
    )
    .await;
}

fn config(port: u16, target: Option<&str>) -> Config {
    let mut config = Config::from_lookup(|name| match name {
        "PORT" => Some(port.to_string()),
        _ => None,
    })
    .unwrap();
    config.target = target.map(str::to_owned);
    config
}

#[tokio::test]
async fn serve_runs_on_the_callers_runtime_and_says_why_it_cannot_start() {
    let functions = Functions::new().register("greet", greeter());

    // A target that is not registered.
    let error = functions
        .clone()
        .serve(config(8080, Some("nope")))
        .await
        .unwrap_err();
    assert!(matches!(error, StartError::Selection(_)), "{error}");
    assert!(error.to_string().contains("nope"), "{error}");

    // A port already taken.
    let taken = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let error = functions
        .clone()
        .serve(config(port, None))
        .await
        .unwrap_err();
    assert!(matches!(error, StartError::Listen { .. }), "{error}");
    assert!(error.to_string().contains(&port.to_string()), "{error}");
    drop(taken);

    // Served: a request on the port gets the function's answer.
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = free.local_addr().unwrap().port();
    drop(free);
    let serving = tokio::spawn(functions.serve(config(port, None)));
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let request = || {
        http::Request::post(format!("http://127.0.0.1:{port}/"))
            .body(http_body_util::Full::new(bytes::Bytes::from(
                r#"{"name":"Ada"}"#,
            )))
            .unwrap()
    };
    let mut answer = None;
    for _ in 0..200 {
        if let Ok(response) = client.request(request()).await {
            answer = Some(response);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let response = answer.expect("serve() never answered");
    use http_body_util::BodyExt;
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, r#"{"message":"Hello, Ada!","count":1}"#);
    serving.abort();
}
