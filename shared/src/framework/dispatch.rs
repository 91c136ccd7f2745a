//! One request, start to finish: the paths the framework answers itself, the body limit,
//! event decoding, the call, and turning errors and panics into responses.

use std::{panic::AssertUnwindSafe, sync::Arc};

use bytes::Bytes;
use futures_util::FutureExt;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::body::Incoming;

use super::{
    body::{empty, full, Body},
    config::ServerOptions,
    error::{FunctionError, GOOGLE_STATUS},
    event,
    function::Function,
};
use crate::logging;

/// Answers one request; never fails, never panics.
pub(crate) async fn respond(
    request: Request<Incoming>,
    function: Function,
    options: Arc<ServerOptions>,
) -> Response<Body> {
    let trace = logging::request_trace(request.headers());
    logging::in_trace(trace, async move {
        match AssertUnwindSafe(handle(request, function, &options))
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
        }
    })
    .await
}

async fn handle(
    request: Request<Incoming>,
    function: Function,
    options: &ServerOptions,
) -> Result<Response<Body>, FunctionError> {
    // Browsers and crawlers ask for these; they must not reach (or bill) the function.
    if matches!(request.uri().path(), "/favicon.ico" | "/robots.txt") {
        return Err(FunctionError::NotFound("not found".into()));
    }
    match function {
        Function::Http(handler) => handler(collect(request, options).await?).await,
        Function::CloudEvent(handler) => {
            if request.method() != Method::POST {
                return Err(FunctionError::MethodNotAllowed { allow: "POST" });
            }
            let (parts, body) = collect(request, options).await?.into_parts();
            let event = event::decode(&parts.headers, parts.uri.path(), body.into())?;
            handler(event).await?;
            Ok(Response::new(empty()))
        }
    }
}

/// Reads the whole body, refusing one over the limit before reading it where possible, and
/// one that does not arrive within the body-read timeout.
async fn collect(
    request: Request<Incoming>,
    options: &ServerOptions,
) -> Result<Request<Bytes>, FunctionError> {
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
    let read = tokio::time::timeout(
        options.body_read_timeout,
        Limited::new(body, limit).collect(),
    );
    let bytes = read
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
        })?
        .to_bytes();
    Ok(Request::from_parts(parts, bytes))
}

fn crash_response() -> Response<Body> {
    let mut response = Response::new(full(r#"{"error":"internal error"}"#));
    *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    headers.insert(GOOGLE_STATUS, HeaderValue::from_static("crash"));
    response
}
