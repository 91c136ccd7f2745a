//! A function called in-process, as the server would call it for a request, with no socket:
//! what a unit test of a function needs.

use std::sync::Arc;

use cloudevents::Event;
use http::{header, HeaderValue, Method};
use http_body_util::Full;

use crate::{
    budget::BodyBudget, dispatch, Function, FunctionError, Request, Response, ServerOptions,
};

impl Function {
    /// Answers `request` as the server would, with no socket: the same decoding, body limit,
    /// error mapping and panic handling, and the response a client would get. Every
    /// signature type takes a request; an event function, the event as the platform sends
    /// it (see [`Function::call_event`] for the short way). A request without `Host` gets the
    /// one a client would send (its URI's authority, else `localhost`). The warm-up is not
    /// started.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use functions_framework::{body, prelude::*};
    ///
    /// let hello = Function::http(|_request| async { Ok(Response::new(full("Hello"))) });
    /// let response = hello.call(Request::new("".into())).await;
    /// assert_eq!(response.status(), StatusCode::OK);
    /// assert_eq!(body::to_bytes(response.into_body()).await.unwrap(), "Hello");
    /// # }
    /// ```
    pub async fn call(&self, mut request: Request) -> Response {
        if !request.headers().contains_key(header::HOST) {
            let host = match request.uri().authority() {
                Some(authority) => HeaderValue::from_str(authority.as_str()),
                None => Ok(HeaderValue::from_static("localhost")),
            };
            if let Ok(host) = host {
                request.headers_mut().insert(header::HOST, host);
            }
        }
        let options = ServerOptions::default();
        let budget = BodyBudget::new(options.max_inflight_body_bytes);
        dispatch::respond(
            request.map(Full::new),
            self.clone(),
            Arc::new(options),
            budget,
        )
        .await
    }

    /// Answers `event`, POSTed as a structured-mode CloudEvent, as the server would: 200 when
    /// the handler succeeded (or discarded it), the error's status when not. For CloudEvent,
    /// Pub/Sub and background functions (which get the legacy event it stands for).
    pub async fn call_event(&self, event: &Event) -> Response {
        let body = match serde_json::to_vec(event) {
            Ok(body) => body,
            Err(e) => {
                return FunctionError::internal(format!("the event is not JSON: {e}"))
                    .into_response()
            }
        };
        let mut request = Request::new(body.into());
        *request.method_mut() = Method::POST;
        request.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/cloudevents+json"),
        );
        self.call(request).await
    }
}
