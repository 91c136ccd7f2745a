//! One request, start to finish: the paths the framework answers itself, the body limit,
//! event decoding, the call, and turning errors and panics into responses.

use std::{panic::AssertUnwindSafe, sync::Arc};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{header, request::Parts, Method, Request, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{
    body::{empty, Body, BoxError},
    budget::{BodyBudget, Reservation},
    config::ServerOptions,
    error::{crash_response, FunctionError},
    event,
    function::{Function, Handler},
    server,
};
use crate::{logging, Context};

/// What a request's body may be: hyper's, from a connection, or a buffer, for a call made
/// in-process ([`Function::call`]).
pub(crate) trait RequestBody:
    hyper::body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static
{
}

impl<B> RequestBody for B where
    B: hyper::body::Body<Data = Bytes, Error: Into<BoxError>> + Send + Unpin + 'static
{
}

/// Answers one request; never fails, never panics.
pub(crate) async fn respond(
    request: Request<impl RequestBody>,
    function: Function,
    options: Arc<ServerOptions>,
    budget: BodyBudget,
) -> Response<Body> {
    let trace = logging::request_trace(request.headers());
    let context = Arc::new(Context::of(
        request.headers(),
        options.request_timeout,
        !matches!(function.handler, Handler::Http(_)),
    ));
    // What the function adds to every response needs the request's headers afterwards.
    let hook = function.response_hook();
    let request_headers = hook.as_ref().map(|_| request.headers().clone());
    let in_context = context.scope(async move {
        let mut response = match AssertUnwindSafe(handle(request, function, &options, &budget))
            .catch_unwind()
            .await
        {
            Ok(Ok(response)) => response,
            Ok(Err(error)) => {
                error.log();
                error.into_response()
            }
            // The panic hook has logged it; the process keeps serving.
            Err(_) => crash_response(),
        };
        if let (Some(hook), Some(request_headers)) = (hook, request_headers) {
            hook(&request_headers, response.headers_mut());
        }
        response
    });
    logging::in_trace(trace, in_context).await
}

async fn handle(
    request: Request<impl RequestBody>,
    function: Function,
    options: &ServerOptions,
    budget: &BodyBudget,
) -> Result<Response<Body>, FunctionError> {
    server::host::check(request.version(), request.headers())?;
    // Browsers and crawlers ask for these; they must not reach (or bill) the function.
    if matches!(request.uri().path(), "/favicon.ico" | "/robots.txt") {
        return Err(FunctionError::NotFound("not found".into()));
    }
    match function.handler {
        Handler::Http(function) if !function.reads_body => {
            // Never read: dropping it lets hyper discard it or close the connection.
            let (parts, _unread) = request.into_parts();
            (function.handler)(Request::from_parts(parts, Bytes::new())).await
        }
        Handler::Http(function) => {
            // The reservation lasts until the handler is done with the body.
            let (parts, body, _reservation) = collect(request, options, budget).await?;
            (function.handler)(Request::from_parts(parts, Bytes::from(body))).await
        }
        Handler::CloudEvent(handler) => {
            let (parts, body, _reservation) = event_body(request, options, budget).await?;
            handler(event::decode(&parts.headers, parts.uri.path(), body)?).await?;
            Ok(Response::new(empty()))
        }
        Handler::Background(handler) => {
            let (parts, body, _reservation) = event_body(request, options, budget).await?;
            let (data, context) = event::decode_background(&parts.headers, parts.uri.path(), body)?;
            handler(data, context).await?;
            Ok(Response::new(empty()))
        }
    }
}

/// An event's request: POST only, its body read as [`collect`] reads it.
async fn event_body(
    request: Request<impl RequestBody>,
    options: &ServerOptions,
    budget: &BodyBudget,
) -> Result<(Parts, Vec<u8>, Reservation), FunctionError> {
    if request.method() != Method::POST {
        return Err(FunctionError::MethodNotAllowed { allow: "POST" });
    }
    collect(request, options, budget).await
}

/// Reads the whole body into one buffer sized from its declared length (so it is held once,
/// never as chunks and a copy), after reserving room for it in the process's body budget.
/// Refuses a body over the limit, before reading it where the length is declared, and one
/// that does not arrive within the body-read timeout.
async fn collect(
    request: Request<impl RequestBody>,
    options: &ServerOptions,
    budget: &BodyBudget,
) -> Result<(Parts, Vec<u8>, Reservation), FunctionError> {
    let limit = options.max_body_bytes;
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > limit as u64) {
        return Err(FunctionError::PayloadTooLarge { limit });
    }
    // Without a declared length (chunked), the body may be as large as the limit; a request
    // with no body at all (most GETs) takes nothing from the budget.
    let hint = hyper::body::Body::size_hint(&body);
    let expected = match (declared, hint.exact()) {
        (Some(length), _) | (None, Some(length)) => (length as usize).min(limit),
        (None, None) => limit,
    };
    let reservation = budget
        .reserve(expected, options.body_read_timeout)
        .await
        .ok_or_else(|| FunctionError::Unavailable {
            reason: format!(
                "no room for a {expected}-byte body within {} s: too many large requests at once",
                options.body_read_timeout.as_secs()
            ),
            retry_after_secs: 2,
        })?;
    let mut buffer = Vec::with_capacity(declared.map_or(0, |length| length as usize));
    let mut body = Limited::new(body, limit);
    let read = async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                buffer.extend_from_slice(&data);
            }
        }
        Ok::<_, BoxError>(())
    };
    tokio::time::timeout(options.body_read_timeout, read)
        .await
        .map_err(|_| FunctionError::RequestTimeout {
            after: options.body_read_timeout,
        })?
        .map_err(|e| {
            if e.is::<LengthLimitError>() {
                FunctionError::PayloadTooLarge { limit }
            } else {
                FunctionError::BadRequest(format!("could not read the request body: {e}"))
            }
        })?;
    Ok((parts, buffer, reservation))
}
