//! A tower `Service` (an axum `Router`, say) served as an HTTP function, so a team keeps the
//! routing and extractors it knows and the framework keeps the contract, limits and logs.

use std::future::poll_fn;

use bytes::Bytes;
use http_body_util::BodyExt;
use tower_service::Service;

use crate::{
    body::{BoxError, Full},
    Function, FunctionError, HttpResult, Request,
};

impl Function {
    /// An HTTP function that hands every request to `service`: an axum `Router`, a tower
    /// stack, any `Service` from an `http::Request<Full<Bytes>>` to an `http::Response`.
    /// The framework reads the body first (its limit, its budget, its timeout, as for
    /// [`Function::http`]) and passes it on whole ([`Full`]); a service error is a 500, a
    /// panic in it a crash (500), as a handler's would be.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::{convert::Infallible, future::{ready, Ready}, task::{Context, Poll}};
    /// use functions_framework::{body::Full, bytes::Bytes, prelude::*, tower_service::Service};
    ///
    /// /// A service of its own; an axum `Router` is one too (see `examples/axum.rs`).
    /// #[derive(Clone)]
    /// struct Hello;
    ///
    /// impl Service<http::Request<Full<Bytes>>> for Hello {
    ///     type Response = Response;
    ///     type Error = Infallible;
    ///     type Future = Ready<Result<Response, Infallible>>;
    ///
    ///     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
    ///         Poll::Ready(Ok(()))
    ///     }
    ///
    ///     fn call(&mut self, request: http::Request<Full<Bytes>>) -> Self::Future {
    ///         ready(Ok(Response::new(full(format!("Hello from {}", request.uri().path())))))
    ///     }
    /// }
    ///
    /// let hello = Function::service(Hello);
    /// let answer = hello.call(http::Request::get("/there").body("".into()).unwrap()).await;
    /// let body = functions_framework::body::to_bytes(answer.into_body()).await.unwrap();
    /// assert_eq!(body, "Hello from /there");
    /// # }
    /// # use functions_framework::http;
    /// ```
    pub fn service<S, ResponseBody>(service: S) -> Self
    where
        S: Service<http::Request<Full<Bytes>>, Response = http::Response<ResponseBody>>
            + Clone
            + Send
            + Sync
            + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        ResponseBody: hyper::body::Body<Data = Bytes> + Send + 'static,
        ResponseBody::Error: Into<BoxError>,
    {
        Self::http(move |request: Request| answer(service.clone(), request))
    }
}

/// One request through `service`: ready, then called.
async fn answer<S, ResponseBody>(mut service: S, request: Request) -> HttpResult
where
    S: Service<http::Request<Full<Bytes>>, Response = http::Response<ResponseBody>>,
    S::Error: Into<BoxError>,
    ResponseBody: hyper::body::Body<Data = Bytes> + Send + 'static,
    ResponseBody::Error: Into<BoxError>,
{
    poll_fn(|cx| service.poll_ready(cx))
        .await
        .map_err(FunctionError::from)?;
    let response = service
        .call(request.map(Full::new))
        .await
        .map_err(FunctionError::from)?;
    Ok(response.map(|body| body.map_err(Into::into).boxed_unsync()))
}
