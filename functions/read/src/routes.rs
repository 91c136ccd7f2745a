//! Which path does what.

use bytes::Bytes;
use http::{header, HeaderValue, Method, Request, Response, StatusCode};
use shared::framework::{
    body::{empty, full},
    FunctionError, HttpResult,
};
use tokio::time::Instant;

use crate::{coalesce::Overloaded, page, Reads, Settings, OPENAPI};

const ALLOW: &str = "GET, HEAD";

/// Every path this API serves; anything else is a 404 that lists them.
const PATHS: [&str; 3] = ["/", "/data", "/openapi.yaml"];

/// Answers one request; the CORS headers are added to every answer, errors included, by the
/// function's response hook (see `crate::function`).
pub(crate) async fn route(
    request: Request<Bytes>,
    reads: &Reads,
    settings: &Settings,
) -> HttpResult {
    let path = request.uri().path();
    if !PATHS.contains(&path) {
        return Err(not_found());
    }
    match request.method() {
        &Method::GET | &Method::HEAD => get(path, request.uri().query(), reads).await,
        &Method::OPTIONS if settings.cors.is_on() => preflight(),
        _ => Err(FunctionError::MethodNotAllowed { allow: ALLOW }),
    }
}

async fn get(path: &str, query: Option<&str>, reads: &Reads) -> HttpResult {
    match path {
        "/" => Ok(with_type(
            Response::new(full("Hello, World!")),
            "text/plain; charset=utf-8",
        )),
        "/openapi.yaml" => Ok(with_type(Response::new(full(OPENAPI)), "application/yaml")),
        "/data" => {
            let query = page::PageQuery::parse(query)?;
            let arrived = Instant::now();
            // From the request's arrival: a page read that waits behind others still answers
            // within the reply timeout.
            let answer =
                tokio::time::timeout_at(arrived + reads.wait, reads.pages.get(query, arrived))
                    .await
                    .map_err(|_| {
                        unavailable(format!(
                            "the database did not answer within {} ms",
                            reads.wait.as_millis()
                        ))
                    })?
                    .map_err(|Overloaded| {
                        unavailable("too many distinct pages are being read".into())
                    })?
                    .ok_or_else(|| FunctionError::Internal("reading the page panicked".into()))?;
            reads.timings.answered(arrived.elapsed(), &answer);
            let page = answer.value.map_err(shared::function_error)?;
            let mut response = with_type(Response::new(full(page)), "application/json");
            response
                .headers_mut()
                .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
            Ok(response)
        }
        _ => Err(not_found()),
    }
}

/// 503: the client should try again in a second or two.
fn unavailable(reason: String) -> FunctionError {
    FunctionError::Unavailable {
        reason,
        retry_after_secs: 1,
    }
}

fn preflight() -> HttpResult {
    let mut response = Response::new(empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

fn not_found() -> FunctionError {
    FunctionError::NotFound(format!("not found; this API serves {}", PATHS.join(", ")))
}

fn with_type<B>(mut response: Response<B>, content_type: &'static str) -> Response<B> {
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}
