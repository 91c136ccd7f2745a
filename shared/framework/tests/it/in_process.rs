//! Every signature type called in-process, with no socket: `Functions::get` and
//! `Function::call` / `Function::call_event`, answered as the server answers.

use std::sync::{Arc, Mutex};

use functions_framework::{
    cloudevents::{EventBuilder, EventBuilderV10},
    http,
    prelude::*,
    testing::Reply,
};
use serde_json::{json, Value};

/// Four functions under their names, each keeping what it got in `seen`.
fn functions(seen: &Arc<Mutex<Vec<String>>>) -> Functions {
    let (on_event, on_message, on_legacy) = (seen.clone(), seen.clone(), seen.clone());
    Functions::new()
        .http("hello", |request: Request| async move {
            Ok(Response::new(full(format!(
                "Hello from {}",
                request.uri().path()
            ))))
        })
        .typed("double", |n: i64| async move { Ok(n * 2) })
        .cloudevent("on_upload", move |event: Event| {
            let seen = on_event.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(format!("{} {}", event.ty(), event.id()));
                Ok(())
            }
        })
        .pubsub("on_message", move |message: PubsubMessage| {
            let seen = on_message.clone();
            async move {
                seen.lock().unwrap().push(message.text()?.to_owned());
                Ok(())
            }
        })
        .event("on_legacy", move |data: Value, context: EventContext| {
            let seen = on_legacy.clone();
            async move {
                seen.lock()
                    .unwrap()
                    .push(format!("{} {}", context.event_type, data["name"]));
                Ok(())
            }
        })
}

fn upload() -> Event {
    EventBuilderV10::new()
        .id("upload-1")
        .source("//storage.googleapis.com/projects/_/buckets/b")
        .subject("objects/a.txt")
        .ty("google.cloud.storage.object.v1.finalized")
        .data("application/json", json!({"name": "a.txt", "bucket": "b"}))
        .build()
        .unwrap()
}

#[tokio::test]
async fn every_signature_type_answers_a_call_without_a_socket() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let functions = functions(&seen);
    let get = |name| functions.get(name).unwrap();

    let request = http::Request::builder()
        .uri("/greet")
        .body("".into())
        .unwrap();
    let hello = Reply::read(get("hello").call(request).await).await;
    assert_eq!(
        (hello.status, &hello.body[..]),
        (StatusCode::OK, &b"Hello from /greet"[..])
    );

    let request = http::Request::builder()
        .method("POST")
        .body("21".into())
        .unwrap();
    let double = Reply::read(get("double").call(request).await).await;
    assert_eq!((double.status, double.json()), (StatusCode::OK, json!(42)));

    for name in ["on_upload", "on_legacy"] {
        let answer = get(name).call_event(&upload()).await;
        assert_eq!(answer.status(), StatusCode::OK, "{name}");
    }
    let message = PubsubMessage::new("m-1", "hi")
        .to_event("projects/p/topics/t")
        .unwrap();
    assert_eq!(
        get("on_message").call_event(&message).await.status(),
        StatusCode::OK
    );

    assert_eq!(
        *seen.lock().unwrap(),
        [
            "google.cloud.storage.object.v1.finalized upload-1",
            // The background function gets the legacy event the CloudEvent stands for.
            "google.storage.object.finalize \"a.txt\"",
            "hi",
        ]
    );
    assert!(functions.get("missing").is_none());
}

#[tokio::test]
async fn a_call_is_answered_as_the_server_answers_it() {
    let function = Function::http(|request: Request| async move {
        if request.uri().path() == "/panic" {
            panic!("a bug");
        }
        Ok(Response::new(empty()))
    });
    let call =
        |path: &str| function.call(http::Request::builder().uri(path).body("".into()).unwrap());
    // The framework's own answers, a panic's, and a body over the limit, as over HTTP.
    assert_eq!(call("/favicon.ico").await.status(), StatusCode::NOT_FOUND);
    let crashed = call("/panic").await;
    assert_eq!(crashed.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(crashed.headers()["x-google-status"], "crash");
    assert_eq!(call("/").await.status(), StatusCode::OK);
    let huge = vec![b'x'; 17 << 20];
    let answer = function.call(Request::new(huge.into())).await;
    assert_eq!(answer.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // An event function refuses what is not an event, as it would over HTTP.
    let on_event = Function::cloudevent(|_event| async { Ok(()) });
    let answer = Reply::read(on_event.call(Request::new("{}".into())).await).await;
    assert_eq!(answer.status, StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn every_handler_sees_its_requests_context() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let kept = seen.clone();
    let on_event = Function::cloudevent(move |_event: Event| {
        let seen = kept.clone();
        async move {
            let context = Context::current().unwrap();
            seen.lock().unwrap().push(format!(
                "{} {} {:?} {}",
                context.execution_id(),
                context.trace().unwrap().trace_id,
                context.trace().unwrap().span_id,
                context.headers()["authorization"].to_str().unwrap(),
            ));
            Ok(())
        }
    });
    let event = upload();
    let mut request = http::Request::builder()
        .method("POST")
        .header("content-type", "application/cloudevents+json")
        .header("function-execution-id", "exec-1")
        .header("authorization", "Bearer t")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .body(serde_json::to_vec(&event).unwrap().into())
        .unwrap();
    assert_eq!(on_event.call(request).await.status(), StatusCode::OK);
    assert_eq!(
        *seen.lock().unwrap(),
        ["exec-1 4bf92f3577b34da6a3ce929d0e0e4736 Some(\"00f067aa0ba902b7\") Bearer t"]
    );
    assert!(Context::current().is_none(), "only inside a handler");

    // A typed function chooses its status through the context.
    let create = Function::typed(|name: String| async move {
        Context::current().unwrap().set_status(StatusCode::CREATED);
        Ok(format!("created {name}"))
    });
    request = http::Request::builder()
        .method("POST")
        .body("\"ada\"".into())
        .unwrap();
    let created = Reply::read(create.call(request).await).await;
    assert_eq!(
        (created.status, created.json()),
        (StatusCode::CREATED, json!("created ada"))
    );
}
