//! What a handler's errors are answered with: `?` on any error, the short constructors for
//! the statuses a handler means, and what a Pub/Sub function's client errors mean to Pub/Sub.

use functions_framework::{prelude::*, testing::Reply};
use http::header;

#[derive(Debug, serde::Deserialize)]
struct Signup {
    #[allow(dead_code)]
    name: String,
}

async fn reply(function: &Function, body: &str) -> Reply {
    let mut request = Request::new(body.to_owned().into());
    *request.method_mut() = http::Method::POST;
    Reply::read(function.call(request).await).await
}

#[tokio::test]
async fn question_mark_on_any_error_is_a_500_that_shows_nothing() {
    let parse = Function::http(|request: Request| async move {
        let signup: Signup = serde_json::from_slice(request.body())?;
        Ok(Response::new(full(format!("{signup:?}"))))
    });
    let answer = reply(&parse, "{not json").await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(answer.headers["x-google-status"], "error");
    assert_eq!(
        answer.json(),
        serde_json::json!({"error": "internal error"})
    );
    assert_eq!(
        reply(&parse, r#"{"name": "Ada"}"#).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_handler_answers_the_client_error_it_means() {
    let refuse = Function::http(|request: Request| async move {
        Err(match request.body().as_ref() {
            b"bad" => FunctionError::bad_request("name is missing"),
            b"missing" => FunctionError::not_found("no user 7"),
            b"taken" => FunctionError::with_status(StatusCode::CONFLICT, "user 7 exists"),
            b"slow down" => FunctionError::with_status(StatusCode::TOO_MANY_REQUESTS, "later"),
            _ => FunctionError::with_status(StatusCode::BAD_GATEWAY, "upstream said secret-42"),
        })
    });
    for (body, status, shown) in [
        ("bad", StatusCode::BAD_REQUEST, "name is missing"),
        ("missing", StatusCode::NOT_FOUND, "no user 7"),
        ("taken", StatusCode::CONFLICT, "user 7 exists"),
        ("slow down", StatusCode::TOO_MANY_REQUESTS, "later"),
        // A 5xx's message is the operator's: the caller sees only the status's name.
        ("upstream", StatusCode::BAD_GATEWAY, "bad gateway"),
    ] {
        let answer = reply(&refuse, body).await;
        assert_eq!(answer.status, status, "{body}");
        assert_eq!(answer.json()["error"], shown, "{body}");
        assert_eq!(answer.headers[header::CONTENT_TYPE], "application/json");
    }
    let answer = reply(&refuse, "upstream").await;
    assert_eq!(answer.headers["x-google-status"], "error");
}

/// A Pub/Sub function of `handler`'s answer, and what Pub/Sub is told.
async fn pubsub_answer(error: fn() -> FunctionError) -> Reply {
    let function = Function::pubsub(move |_message| async move { Err(error()) });
    let event = PubsubMessage::new("m-7", "{}")
        .to_event("projects/p/topics/t")
        .unwrap();
    Reply::read(function.call_event(&event).await).await
}

#[tokio::test]
async fn a_pubsub_handlers_client_error_is_discarded_not_redelivered() {
    for (error, reason) in [
        (
            (|| FunctionError::bad_request("no name")) as fn() -> FunctionError,
            "no name",
        ),
        (|| FunctionError::not_found("no user 7"), "no user 7"),
        (
            || FunctionError::with_status(StatusCode::CONFLICT, "user 7 exists"),
            "user 7 exists (409 Conflict)",
        ),
    ] {
        let answer = pubsub_answer(error).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{reason}: a 2xx, or Pub/Sub redelivers"
        );
        assert_eq!(
            answer.json(),
            serde_json::json!({"status": "discarded", "reason": reason})
        );
    }
    // Anything else still asks for a redelivery.
    let answer = pubsub_answer(|| FunctionError::unavailable("database down", 5)).await;
    assert_eq!(answer.status, StatusCode::SERVICE_UNAVAILABLE);
    let answer = pubsub_answer(|| FunctionError::internal("bug")).await;
    assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn a_cloudevent_function_whose_data_is_not_its_type_is_a_400_saying_why() {
    let function = Function::cloudevent(|event: Event| async move {
        let _signup: Signup = event.data_as()?;
        Ok(())
    });
    let event = PubsubMessage::new("m-1", "x")
        .to_event("projects/p/topics/t")
        .unwrap();
    let answer = Reply::read(function.call_event(&event).await).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST);
    let error = answer.json()["error"].as_str().unwrap().to_owned();
    assert!(
        error.starts_with("event m-1 (google.cloud.pubsub.topic.v1.messagePublished): its data is not what this function takes: missing field `name`"),
        "{error}"
    );
}
